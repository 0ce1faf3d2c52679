import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';

let backend: TestBackend;

beforeAll(async () => {
  // Room for exactly one sandbox, so the second learner must wait.
  backend = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_POOL_MAX: '1' });
});

afterAll(async () => {
  await backend?.stop();
});

describe('a full Berth', () => {
  it('queues learners in order, tells them where they stand, and serves them as slots free', async () => {
    const first = await api(backend.url, 'POST', '/api/sessions', {});
    expect(first.status).toBe(201);

    const second = await api(backend.url, 'POST', '/api/sessions', {});
    expect(second.status).toBe(202);
    expect(second.json.queued).toMatchObject({ position: 1, estimatedWaitSeconds: expect.any(Number) });
    const third = await api(backend.url, 'POST', '/api/sessions', {});
    expect(third.json.queued.position).toBe(2);
    expect(await (await fetch(`${backend.url}/metrics`)).text()).toMatch(/^berth_queue_length 2$/m);

    expect((await api(backend.url, 'GET', `/api/queue/${second.json.queued.ticket}`)).json.queued.position).toBe(1);

    await api(backend.url, 'DELETE', `/api/sessions/${first.json.id}`);
    const served = await waitFor('the first in line to get a session', async () => {
      const status = await api(backend.url, 'GET', `/api/queue/${second.json.queued.ticket}`);
      // Keep the third learner's place alive while waiting.
      await api(backend.url, 'GET', `/api/queue/${third.json.queued.ticket}`);
      return status.json.session;
    });
    expect(served.instances.map((i: { name: string }) => i.name)).toEqual(['node1']);
    expect((await api(backend.url, 'POST', `/api/sessions/${served.id}/instances/node1/exec`, { cmd: ['hostname'] })).json.output).toBe('node1\n');
    expect((await api(backend.url, 'GET', `/api/queue/${third.json.queued.ticket}`)).json.queued.position).toBe(1);
    // A picked-up ticket is gone.
    expect((await api(backend.url, 'GET', `/api/queue/${second.json.queued.ticket}`)).status).toBe(404);

    await api(backend.url, 'DELETE', `/api/sessions/${served.id}`);
    const last = await waitFor('the next in line', async () => (await api(backend.url, 'GET', `/api/queue/${third.json.queued.ticket}`)).json.session);
    await api(backend.url, 'DELETE', `/api/sessions/${last.id}`);
  });
});

describe('per-client limits', () => {
  it('refuses a client over its limits with the reason and when to retry, others unaffected', async () => {
    const limited = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_CLIENT_MAX_SESSIONS: '1', BERTH_CLIENT_SESSIONS_PER_MINUTE: '10' });
    try {
      const as = (client: string) =>
        fetch(`${limited.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-berth-client': client }, body: '{}' });
      const mine = await as('browser-aaaaaaaa');
      expect(mine.status).toBe(201);
      const again = await as('browser-aaaaaaaa');
      expect(again.status).toBe(429);
      expect(again.headers.get('retry-after')).toBe('60');
      expect((await again.json()).error.message).toMatch(/already have 1 sessions running/);
      const theirs = await as('browser-bbbbbbbb');
      expect(theirs.status).toBe(201);
    } finally {
      await limited.stop();
    }
  });
});
