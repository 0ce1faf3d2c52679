import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, leftovers, startBackend, type TestBackend } from '../support/backend.ts';

const TOKEN = 'test-admin-token-0123456789';
let backend: TestBackend;

beforeAll(async () => {
  backend = await startBackend({ BERTH_ADMIN_TOKEN: TOKEN, BERTH_POOL_IDLE: '1' });
  await backend.app.pool.whenFilled();
});

afterAll(async () => {
  await backend?.stop();
});

const admin = async (method: string, path: string, body?: unknown, token = TOKEN) => {
  const res = await fetch(backend.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
};

describe('operating a Berth', () => {
  it('exposes Prometheus metrics for sessions, the pool and start latency', async () => {
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    const res = await fetch(`${backend.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^berth_sessions 1$/m);
    expect(text).toMatch(/^berth_pool_sandboxes\{state="in_use"\} 1$/m);
    expect(text).toMatch(/^berth_session_start_seconds_count 1$/m);
    expect(text).toMatch(/^berth_sessions_created_total 1$/m);
    await api(backend.url, 'DELETE', `/api/sessions/${session.id}`);
    expect(await (await fetch(`${backend.url}/metrics`)).text()).toMatch(/^berth_sessions_ended_total\{reason="ended"\} 1$/m);
  });

  it('keeps the admin API behind its token', async () => {
    expect((await admin('GET', '/api/admin/sessions', undefined, 'wrong-token-wrong-token')).status).toBe(401);
    const none = await fetch(`${backend.url}/api/admin/sessions`);
    expect(none.status).toBe(401);
    expect((await none.json()).error.message).toMatch(/Authorization: Bearer/);
  });

  it('lists and ends sessions, and drains: no new sessions while running ones carry on', async () => {
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    const listed = await admin('GET', '/api/admin/sessions');
    expect(listed.json.sessions.map((s: { id: string }) => s.id)).toEqual([session.id]);

    expect((await admin('POST', '/api/admin/drain', { draining: true })).json).toEqual({ draining: true });
    const refused = await api(backend.url, 'POST', '/api/sessions', {});
    expect(refused.status).toBe(503);
    expect(refused.json.error.message).toMatch(/drained/);
    expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).status).toBe(200);
    expect((await admin('GET', '/api/admin/status')).json).toMatchObject({ draining: true, sessions: 1 });

    expect((await admin('DELETE', `/api/admin/sessions/${session.id}`)).status).toBe(204);
    expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).status).toBe(404);
    await admin('POST', '/api/admin/drain', { draining: false });
    const again = await api(backend.url, 'POST', '/api/sessions', {});
    expect(again.status).toBe(201);
    await api(backend.url, 'DELETE', `/api/sessions/${again.json.id}`);
  });

  it('says how to turn the admin API on when it is off', async () => {
    const off = await startBackend({ BERTH_POOL_IDLE: '0' });
    try {
      const res = await fetch(`${off.url}/api/admin/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(403);
      expect((await res.json()).error.message).toMatch(/BERTH_ADMIN_TOKEN/);
    } finally {
      await off.stop();
    }
  });
});

it('never hands out a sandbox that cannot reach the registry mirror, and says why', async () => {
  const broken = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_REGISTRY_MIRROR: 'http://berth-registry:5999' });
  try {
    const res = await api(broken.url, 'POST', '/api/sessions', {});
    expect(res.status).toBe(503);
    expect(res.json.error.message).toMatch(/registry mirror http:\/\/berth-registry:5999 does not answer/);
    expect((await leftovers(broken.engine, broken.namespace)).containers).toEqual([]);
  } finally {
    await broken.stop();
  }
});
