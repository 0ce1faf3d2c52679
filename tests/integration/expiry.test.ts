import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, leftovers, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

let backend: TestBackend;

beforeAll(async () => {
  backend = await startBackend({ BERTH_SESSION_TTL: '4s', BERTH_POOL_IDLE: '0' });
});

afterAll(async () => {
  await backend?.stop();
});

it('destroys a session at its expiry, with its sandbox and volume, and tells the terminal', async () => {
  const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
  expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(4000);
  const during = await leftovers(backend.engine, backend.namespace);
  expect(during.containers).toHaveLength(1);
  expect(during.volumes).toHaveLength(1);

  const terminal = await TerminalClient.open(backend.url, session.id);
  await terminal.waitForControl('session');
  await terminal.waitForControl('expired', 15_000);
  expect(await terminal.waitForClose()).toBe(4000);

  expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).status).toBe(404);
  const after = await waitFor('the sandbox and its volume to be removed', async () => {
    const left = await leftovers(backend.engine, backend.namespace);
    return left.containers.length === 0 && left.volumes.length === 0 ? left : undefined;
  });
  expect(after).toEqual({ containers: [], volumes: [] });
});

it('ends a session nobody uses when an idle timeout is set, and keeps one in use', async () => {
  const idle = await startBackend({ BERTH_SESSION_IDLE_TIMEOUT: '3s', BERTH_POOL_IDLE: '0' });
  try {
    const { json: forgotten } = await api(idle.url, 'POST', '/api/sessions', {});
    const { json: busy } = await api(idle.url, 'POST', '/api/sessions', {});
    const terminal = await TerminalClient.open(idle.url, busy.id);
    await terminal.waitForText('root@node1:~#');
    // Keep typing in one session until the other has been ended for idleness.
    await waitFor('the unused session to end', async () => {
      terminal.type(' ');
      return (await api(idle.url, 'GET', `/api/sessions/${forgotten.id}`)).status === 404;
    });
    expect((await api(idle.url, 'GET', `/api/sessions/${busy.id}`)).status).toBe(200);
    terminal.close();
    expect(await (await fetch(`${idle.url}/metrics`)).text()).toMatch(/^berth_sessions_ended_total\{reason="idle"\} 1$/m);
  } finally {
    await idle.stop();
  }
});
