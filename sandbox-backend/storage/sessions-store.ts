/**
 * Sessions in SQLite, so that expiry and ownership of sandboxes survive a backend restart.
 * Times are milliseconds since the epoch.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface InstanceRecord {
  name: string;
  sandboxId: string;
  containerId: string;
}

export interface SessionRecord {
  id: string;
  lesson: string | null;
  createdAt: number;
  expiresAt: number;
  instances: InstanceRecord[];
}

interface Row {
  id: string;
  lesson: string | null;
  created_at: number;
  expires_at: number;
  instances: string;
}

const SCHEMA_VERSION = 1;

export class SessionStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version >= SCHEMA_VERSION) return;
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        lesson TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        instances TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
    `);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  insert(session: SessionRecord): void {
    this.db
      .prepare('INSERT INTO sessions (id, lesson, created_at, expires_at, instances) VALUES (?, ?, ?, ?, ?)')
      .run(session.id, session.lesson, session.createdAt, session.expiresAt, JSON.stringify(session.instances));
  }

  /** Saves a session's instances (added or removed nodes). */
  updateInstances(id: string, instances: InstanceRecord[]): void {
    this.db.prepare('UPDATE sessions SET instances = ? WHERE id = ?').run(JSON.stringify(instances), id);
  }

  get(id: string): SessionRecord | undefined {
    const row = this.db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  all(): SessionRecord[] {
    return (this.db.prepare('SELECT * FROM sessions ORDER BY created_at').all() as Row[]).map(fromRow);
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM sessions WHERE id = ?').run(id).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}

function fromRow(row: Row): SessionRecord {
  return {
    id: row.id,
    lesson: row.lesson,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    instances: JSON.parse(row.instances) as InstanceRecord[],
  };
}
