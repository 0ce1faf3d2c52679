/**
 * Sessions in SQLite, so that expiry and ownership of sandboxes survive a backend restart.
 * Times are milliseconds since the epoch.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { newPortToken } from '../routing/port-routes.ts';

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
  /** Opens the session's published ports and nothing else (routing/port-routes.ts). */
  portToken: string;
}

interface Row {
  id: string;
  lesson: string | null;
  created_at: number;
  expires_at: number;
  instances: string;
  port_token: string;
}

/** 1: sessions; 2: each session's port token. */
const SCHEMA_VERSION = 2;

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
    this.db.transaction(() => {
      if (version < 1) {
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
      }
      if (version < 2) {
        // Sessions of version 1 had only their id in port links; they get a token of their own
        // (their old links stop working, which is the point).
        this.db.exec('ALTER TABLE sessions ADD COLUMN port_token TEXT');
        const give = this.db.prepare('UPDATE sessions SET port_token = ? WHERE id = ?');
        for (const { id } of this.db.prepare('SELECT id FROM sessions').all() as { id: string }[]) give.run(newPortToken(), id);
        this.db.exec('CREATE UNIQUE INDEX sessions_port_token ON sessions (port_token)');
      }
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  insert(session: SessionRecord): void {
    this.db
      .prepare('INSERT INTO sessions (id, lesson, created_at, expires_at, instances, port_token) VALUES (?, ?, ?, ?, ?, ?)')
      .run(session.id, session.lesson, session.createdAt, session.expiresAt, JSON.stringify(session.instances), session.portToken);
  }

  /** Replaces a session's port token; false when there is no such session. */
  updatePortToken(id: string, token: string): boolean {
    return this.db.prepare('UPDATE sessions SET port_token = ? WHERE id = ?').run(token, id).changes > 0;
  }

  byPortToken(token: string): SessionRecord | undefined {
    const row = this.db.prepare('SELECT * FROM sessions WHERE port_token = ?').get(token) as Row | undefined;
    return row && fromRow(row);
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
    portToken: row.port_token,
  };
}
