import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isPortToken } from '../../sandbox-backend/routing/port-routes.ts';
import { SessionStore } from '../../sandbox-backend/storage/sessions-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-'));
  dirs.push(dir);
  return path.join(dir, 'berth.sqlite');
}

describe('session store', () => {
  it('gives the sessions of a version 1 database a port token each, and keeps them', () => {
    const file = tempDb();
    // Exactly what version 1 created.
    const old = new Database(file);
    old.exec(`
      CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, lesson TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, instances TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
    `);
    old.pragma('user_version = 1');
    const insert = old.prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?)');
    insert.run('session-a', null, 1, 2, JSON.stringify([{ name: 'node1', sandboxId: 's1', containerId: 'c1' }]));
    insert.run('session-b', 'containers/first-container', 3, 4, '[]');
    old.close();

    const store = new SessionStore(file);
    const [a, b] = store.all();
    expect(a).toMatchObject({ id: 'session-a', lesson: null, createdAt: 1, expiresAt: 2, instances: [{ name: 'node1', sandboxId: 's1', containerId: 'c1' }] });
    expect(b?.id).toBe('session-b');
    expect(isPortToken(a!.portToken)).toBe(true);
    expect(isPortToken(b!.portToken)).toBe(true);
    expect(a!.portToken).not.toBe(b!.portToken);
    expect(store.byPortToken(a!.portToken)?.id).toBe('session-a');
    store.close();

    // Opening it again migrates nothing twice: the tokens stay.
    const again = new SessionStore(file);
    expect(again.get('session-a')?.portToken).toBe(a!.portToken);
    again.close();
  });

  it('finds a session by its port token only, and replaces the token', () => {
    const store = new SessionStore(tempDb());
    store.insert({ id: 'the-id', lesson: null, createdAt: 1, expiresAt: 2, instances: [], portToken: 'A'.repeat(22) });
    expect(store.byPortToken('A'.repeat(22))?.id).toBe('the-id');
    expect(store.byPortToken('the-id')).toBeUndefined();
    expect(store.updatePortToken('the-id', 'B'.repeat(22))).toBe(true);
    expect(store.byPortToken('A'.repeat(22))).toBeUndefined();
    expect(store.get('the-id')?.portToken).toBe('B'.repeat(22));
    expect(store.updatePortToken('no-such-id', 'C'.repeat(22))).toBe(false);
    // Two sessions never share a token.
    expect(() => store.insert({ id: 'other', lesson: null, createdAt: 1, expiresAt: 2, instances: [], portToken: 'B'.repeat(22) })).toThrow(/UNIQUE/);
    store.close();
  });
});
