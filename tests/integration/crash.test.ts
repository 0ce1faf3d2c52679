import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { api, engine, leftovers, waitFor } from '../support/backend.ts';
import { freePort } from '../support/process.ts';
import { TerminalClient } from '../support/terminal.ts';

const namespace = `crash-${randomBytes(4).toString('hex')}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-crash-'));
let child: ChildProcess | undefined;

/** The real entry point in its own process, as `npm start` runs it. */
async function startProcess(port: number): Promise<string> {
  const url = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'sandbox-backend/main.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', BERTH_NAMESPACE: namespace, BERTH_DATA_DIR: dataDir, BERTH_POOL_IDLE: '0', BERTH_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  await waitFor(`the backend to answer (log: ${log})`, async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok, 60_000);
  return url;
}

afterAll(async () => {
  child?.kill('SIGKILL');
  const docker = engine();
  const { containers, volumes } = await leftovers(docker, namespace);
  await Promise.all(containers.map((id) => docker.getContainer(id).remove({ force: true, v: true }).catch(() => {})));
  await Promise.all(volumes.map((name) => docker.getVolume(name).remove().catch(() => {})));
  for (const n of await docker.listNetworks({ filters: { label: [`berth.namespace=${namespace}`] } })) {
    const network = docker.getNetwork(n.Name);
    const info = (await network.inspect().catch(() => ({}))) as { Containers?: Record<string, unknown> };
    for (const id of Object.keys(info.Containers ?? {})) await network.disconnect({ Container: id, Force: true }).catch(() => {});
    await network.remove().catch(() => {});
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('survives SIGKILL mid-session: same session, same shell, inner container still running', async () => {
  const port = await freePort();
  let url = await startProcess(port);
  const { json: session } = await api(url, 'POST', '/api/sessions', {});
  const before = await TerminalClient.open(url, session.id);
  await before.waitForText('root@node1:~#');
  before.type('docker run -d --name survivor busybox sleep 3600 >/dev/null && export CRASH_MARK=kept-$((6*7)) && echo ready-for-crash\r');
  await before.waitForText(/^ready-for-crash$/m);

  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child!.kill('SIGKILL');
  await exited;
  expect(await before.waitForClose()).toBe(1006);

  url = await startProcess(port);
  expect((await api(url, 'GET', `/api/sessions/${session.id}`)).json).toMatchObject({ id: session.id, expiresAt: session.expiresAt });
  const after = await TerminalClient.open(url, session.id);
  after.type('echo mark=$CRASH_MARK; docker ps --format "{{.Names}} {{.Status}}"\r');
  await after.waitForText('mark=kept-42');
  await after.waitForText(/^survivor Up/m);
  // The dead backend's attachment went with its engine connection: one relay is left, the new one.
  const relays = async () =>
    (await api(url, 'POST', `/api/sessions/${session.id}/instances/node1/exec`, { cmd: ['sh', '-c', 'pgrep -xc berth-relay'] })).json.output.trim();
  await waitFor('the old attachment to end', async () => (await relays()) === '1', 10_000);
  after.close();
  await api(url, 'DELETE', `/api/sessions/${session.id}`);
  expect(await leftovers(engine(), namespace)).toEqual({ containers: [], volumes: [] });
});
