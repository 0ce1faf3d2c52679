import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, leftovers, startBackend, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

let backend: TestBackend;

beforeAll(async () => {
  backend = await startBackend({ BERTH_POOL_IDLE: '0' });
});

afterAll(async () => {
  await backend?.stop();
});

it('adopts live sessions after a restart: same expiry, same shell, inner containers still running', async () => {
  const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
  const before = await TerminalClient.open(backend.url, session.id);
  await before.waitForText('root@node1:~#');
  before.type('docker run -d --name survivor busybox sleep 3600 && export SHELL_MARK=still-$((20+1)); echo started\r');
  await before.waitForText(/^started$/m);
  before.close();

  backend = await backend.restart();

  expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).json).toEqual(session);
  const after = await TerminalClient.open(backend.url, session.id);
  after.type('echo mark=$SHELL_MARK; docker ps --format "{{.Names}} {{.Status}}"\r');
  await after.waitForText('mark=still-21');
  await after.waitForText(/^survivor Up/m);
  after.close();

  // A sandbox no session owns (left by a crash) is removed by the restart, with its volume and network.
  const stray = await backend.app.pool.acquire();
  backend = await backend.restart();
  const left = await leftovers(backend.engine, backend.namespace);
  expect(left.containers).not.toContain(stray.containerId);
  expect(left.containers).toHaveLength(1);
  expect(left.volumes).toHaveLength(1);
  const networks = await backend.engine.listNetworks({ filters: { label: [`berth.namespace=${backend.namespace}`] } });
  expect(networks.map((n) => n.Name)).toEqual([`${backend.namespace}-${(await backend.app.sessions.instance(session.id, 'node1')).sandboxId}`]);
});
