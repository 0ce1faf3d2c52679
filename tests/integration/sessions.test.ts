import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, leftovers, networksOf, startBackend, waitFor, type TestBackend } from '../support/backend.ts';

let backend: TestBackend;

beforeAll(async () => {
  backend = await startBackend();
  await backend.app.pool.whenFilled();
});

afterAll(async () => {
  await backend?.stop();
});

describe('sessions against the real engine', () => {
  it('creates a session on a ready sandbox, reads it back, and runs docker inside it', async () => {
    const created = await api(backend.url, 'POST', '/api/sessions', { lesson: 'containers/first-container' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ lesson: 'containers/first-container', instances: [{ name: 'node1' }] });
    expect(created.json.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const ttl = Date.parse(created.json.expiresAt) - Date.parse(created.json.createdAt);
    expect(ttl).toBe(4 * 3600_000);

    const read = await api(backend.url, 'GET', `/api/sessions/${created.json.id}`);
    expect(read).toEqual({ status: 200, json: created.json });

    const hello = await api(backend.url, 'POST', `/api/sessions/${created.json.id}/instances/node1/exec`, {
      cmd: ['docker', 'run', '--rm', 'hello-world'],
    });
    expect(hello.status).toBe(200);
    expect(hello.json.output).toContain('Hello from Docker!');
    expect(hello.json.exitCode).toBe(0);

    const failing = await api(backend.url, 'POST', `/api/sessions/${created.json.id}/instances/node1/exec`, {
      cmd: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 7'],
    });
    expect(failing.json.output).toBe('to-stdout\nto-stderr\n');
    expect(failing.json.exitCode).toBe(7);

    await api(backend.url, 'DELETE', `/api/sessions/${created.json.id}`);
  });

  it('removes the sandbox and its volume when the session is ended', async () => {
    await backend.app.pool.whenFilled();
    // The pool holds exactly one ready sandbox: the one the next session takes.
    const idle = await leftovers(backend.engine, backend.namespace);
    expect(idle.containers).toHaveLength(1);
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    const check = await api(backend.url, 'POST', `/api/sessions/${session.id}/instances/node1/exec`, { cmd: ['hostname'] });
    expect(check.json.output).toBe('node1\n');

    const ended = await api(backend.url, 'DELETE', `/api/sessions/${session.id}`);
    expect(ended.status).toBe(204);
    const after = await leftovers(backend.engine, backend.namespace);
    expect(after.containers).not.toContain(idle.containers[0]);
    expect(after.volumes).not.toContain(idle.volumes[0]);
    // What remains is the pool's replacement and nothing else.
    await backend.app.pool.whenFilled();
    const settled = await leftovers(backend.engine, backend.namespace);
    expect(settled.containers).toHaveLength(1);
    expect(settled.volumes).toHaveLength(1);
    expect(await networksOf(backend.engine, backend.namespace)).toHaveLength(1);
    expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).status).toBe(404);
    expect((await api(backend.url, 'DELETE', `/api/sessions/${session.id}`)).status).toBe(404);
  });

  it('refills the warm pool after a session takes a sandbox', async () => {
    await backend.app.pool.whenFilled();
    expect(backend.app.pool.stats().idle).toBe(1);
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    await waitFor('the pool to hold a ready sandbox again', () => backend.app.pool.stats().idle === 1);
    expect(backend.app.pool.stats()).toMatchObject({ idle: 1, inUse: 1 });
    await api(backend.url, 'DELETE', `/api/sessions/${session.id}`);
    expect(backend.app.pool.stats()).toMatchObject({ idle: 1, inUse: 0 });
  });

  it('answers 404 with a JSON error for unknown sessions and instances', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/sessions/no-such-session', undefined],
      ['DELETE', '/api/sessions/no-such-session', undefined],
      ['POST', '/api/sessions/no-such-session/instances/node1/exec', { cmd: ['true'] }],
    ] as const) {
      const res = await api(backend.url, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json.error.code).toBe('session_not_found');
    }
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    const wrongNode = await api(backend.url, 'POST', `/api/sessions/${session.id}/instances/node9/exec`, { cmd: ['true'] });
    expect(wrongNode.status).toBe(404);
    expect(wrongNode.json.error.code).toBe('instance_not_found');
    await api(backend.url, 'DELETE', `/api/sessions/${session.id}`);
  });

  it('rejects bad input with a message naming the problem, creating nothing', async () => {
    // Let the pool finish replacing sandboxes handed out earlier, so only this test's effects count.
    await backend.app.pool.whenFilled();
    const before = await leftovers(backend.engine, backend.namespace);
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/sessions', '{not json', /not valid JSON/],
      ['POST', '/api/sessions', { lesson: 42 }, /"lesson"/],
      ['POST', '/api/sessions', { lessson: 'typo' }, /lessson/],
      ['POST', '/api/sessions', { lesson: '../../etc/passwd' }, /lesson id/],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await api(backend.url, method, path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error.message).toMatch(message);
    }
    expect(await leftovers(backend.engine, backend.namespace)).toEqual(before);
    expect((await api(backend.url, 'GET', '/api/nothing-here')).json.error.code).toBe('not_found');
  });

  it('reports health', async () => {
    expect(await api(backend.url, 'GET', '/healthz')).toEqual({ status: 200, json: { ok: true } });
  });
});
