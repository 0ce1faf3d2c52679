/**
 * Two deployments on one engine, and machines that vanish under a live session. A second Berth
 * started on the same namespace would remove the first one's learners' machines at its start-up
 * recovery; it must refuse to start instead, naming the holder, and the lease must free itself
 * however its holder ended. A session whose machine vanished must say so (410 session_gone, close 4003), never 500.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseName } from '../../sandbox-backend/provisioning/lease.ts';
import { LOST_DIED_MESSAGE } from '../../sandbox-backend/sessions/service.ts';
import { api, engine, removeNamespace, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { answering, spawnBackend, type BackendProcess } from '../support/process.ts';
import { TerminalClient } from '../support/terminal.ts';

const docker = engine();
const namespace = `dep-${randomBytes(4).toString('hex')}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dep-'));
const otherDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dep-other-'));
const spawned: BackendProcess[] = [];
const inProcess: TestBackend[] = [];

/** The holder of the namespace: a real `npm start`-style process. */
let holder: BackendProcess;
let session: { id: string; expiresAt: string };

async function start(env: Record<string, string> = {}): Promise<BackendProcess> {
  const backend = await spawnBackend({ BERTH_NAMESPACE: namespace, BERTH_DATA_DIR: dataDir, ...env });
  spawned.push(backend);
  return backend;
}

/** The live session's shell answers, with the mark set before whatever the test did. */
async function shellStillWorks(url: string): Promise<void> {
  const terminal = await TerminalClient.open(url, session.id);
  const token = randomBytes(3).toString('hex');
  terminal.type(`echo "mark=$DEP_MARK ${token}-$((1+1))"\r`);
  await terminal.waitForText(`mark=kept ${token}-2`, 60_000);
  terminal.close();
  const ran = await api(url, 'POST', `/api/sessions/${session.id}/instances/node1/exec`, { cmd: ['sh', '-c', 'docker ps --format "{{.Names}}"'] });
  expect(ran.json).toEqual({ exitCode: 0, output: 'survivor\n' });
}

beforeAll(async () => {
  holder = await start();
  const url = await answering(holder);
  ({ json: session } = await api(url, 'POST', '/api/sessions', {}));
  const terminal = await TerminalClient.open(url, session.id);
  await terminal.waitForText('root@node1:~#');
  terminal.type('docker run -d --name survivor busybox sleep 3600 >/dev/null && export DEP_MARK=kept && echo set-up\r');
  await terminal.waitForText(/^set-up$/m, 90_000);
  terminal.close();
});

afterAll(async () => {
  for (const backend of spawned) backend.child.kill('SIGKILL');
  await Promise.all(spawned.map((backend) => backend.exited));
  for (const backend of inProcess) await backend.stop().catch(() => {});
  await removeNamespace(docker, namespace);
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(otherDataDir, { recursive: true, force: true });
});

describe('a second deployment on the same namespace', () => {
  it('refuses to start, naming the holder and what to do, while the first one serves its learners', async () => {
    const live = await TerminalClient.open(holder.url, session.id);
    await live.waitForText('root@node1:~#');

    // `npm start` from another checkout: same engine and namespace, another data folder.
    const second = await start({ BERTH_DATA_DIR: otherDataDir });
    expect(await second.exited).toBe(1);
    const message = second.log();
    expect(message).toContain(`Berth cannot start: another Berth is running in namespace "${namespace}"`);
    expect(message).toContain(`pid ${holder.child.pid} on host ${os.hostname()}`);
    expect(message).toContain(`data in ${path.resolve(dataDir, 'berth.sqlite')}`);
    expect(message).toMatch(/since \d{4}-\d\d-\d\dT/);
    expect(message).toMatch(/Stop that one first .* or give this one a namespace of its own: BERTH_NAMESPACE=/);

    // The same from a backend in this process: refused before it touched anything.
    await expect(startBackend({}, { namespace, dataDir: otherDataDir })).rejects.toThrow(/another Berth is running in namespace/);

    // The first one's learner noticed nothing: the open terminal, a new one, exec, the inner container.
    live.type('echo still-$((40+2))\r');
    await live.waitForText(/^still-42$/m);
    live.close();
    await shellStillWorks(holder.url);
    expect((await api(holder.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('starts and adopts the sessions once the holder stopped cleanly', async () => {
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toBe(0);
    // The lease went with the clean stop: nothing to wait for.
    await expect(docker.getContainer(leaseName(namespace)).inspect()).rejects.toMatchObject({ statusCode: 404 });

    holder = await start();
    const url = await answering(holder);
    expect((await api(url, 'GET', `/api/sessions/${session.id}`)).json).toMatchObject({ id: session.id, expiresAt: session.expiresAt });
    await shellStillWorks(url);
  });

  it('frees the lease without anyone stepping in when the holder is killed with SIGKILL', async () => {
    holder.child.kill('SIGKILL');
    expect(await holder.exited).toBe('SIGKILL');
    // The engine closes the dead process's attachment, so the lease container ends by itself.
    await waitFor('the lease container to go', () => docker.getContainer(leaseName(namespace)).inspect().then(() => false, () => true), 15_000);

    holder = await start();
    const url = await answering(holder);
    expect((await api(url, 'GET', `/api/sessions/${session.id}`)).json).toMatchObject({ id: session.id });
    await shellStillWorks(url);
  });

  it('lets a backend started right after the SIGKILL in, waiting for the lease to end rather than refusing', async () => {
    holder.child.kill('SIGKILL');
    await holder.exited;
    // No wait for the lease to go: the new backend sees the dead holder's lease still there.
    holder = await start();
    const url = await answering(holder);
    await shellStillWorks(url);
  });

  it('lets exactly one of two backends started at the same moment in', async () => {
    const contested = `dep-race-${randomBytes(3).toString('hex')}`;
    const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'berth-race-')));
    const outcomes = await Promise.allSettled(dirs.map((dir) => startBackend({ BERTH_POOL_IDLE: '0' }, { namespace: contested, dataDir: dir })));
    const won = outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<TestBackend>).value);
    const lost = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as Error);
    inProcess.push(...won);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.message).toMatch(new RegExp(`another Berth is running in namespace "${contested}"`));
    expect((await api(won[0]!.url, 'GET', '/healthz')).status).toBe(200);
    await won[0]!.stop();
    inProcess.length = 0;
    // Released on stop: the name is free again.
    await expect(docker.getContainer(leaseName(contested)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    await shellStillWorks(holder.url);
  });
});

describe('a session whose machine vanished', () => {
  let backend: TestBackend;
  /** Another learner's session on the same backend, which must carry on throughout. */
  let bystander: { id: string };
  // No warm pool: every sandbox here is one a test asked for (boots are slow on a loaded host).
  const env = { BERTH_POOL_IDLE: '0' };
  const bystanderShellWorks = async () => {
    const other = await TerminalClient.open(backend.url, bystander.id);
    const token = randomBytes(3).toString('hex');
    other.type(`echo ${token}-$((2*3))\r`);
    await other.waitForText(`${token}-6`, 60_000);
    other.close();
    expect((await api(backend.url, 'GET', '/healthz')).status).toBe(200);
  };
  beforeAll(async () => {
    backend = await startBackend(env);
    inProcess.push(backend);
    ({ json: bystander } = await api(backend.url, 'POST', '/api/sessions', {}));
    // Two nodes: the restart below must adopt a session whose node2 lives on node1's network.
    expect((await api(backend.url, 'POST', `/api/sessions/${bystander.id}/instances`, {})).status).toBe(201);
  });

  it('ends, frees its other machines and answers 410 session_gone on exec, terminal, port and add-node, never 500', async () => {
    const { json: doomed } = await api(backend.url, 'POST', '/api/sessions', {});
    expect((await api(backend.url, 'POST', `/api/sessions/${doomed.id}/instances`, {})).status).toBe(201);
    const terminal = await TerminalClient.open(backend.url, doomed.id);
    await terminal.waitForText('root@node1:~#', 60_000);
    const node1 = backend.app.sessions.instance(doomed.id, 'node1');
    const node2 = backend.app.sessions.instance(doomed.id, 'node2');

    // Removed by hand, as an operator cleaning up by mistake would.
    await docker.getContainer(node2.containerId).remove({ force: true, v: true });

    // The open terminal is told at once, from the engine's events, with the machine-lost close code.
    expect(await terminal.waitForClose()).toBe(4003);
    expect(terminal.controls.find((c) => c.type === 'lost')?.message).toBe(LOST_DIED_MESSAGE);
    terminal.close();
    // Its other machine went with it.
    await waitFor('node1 of the session to be removed', () => docker.getContainer(node1.containerId).inspect().then(() => false, () => true), 15_000);

    const paths: Array<[string, string, unknown?]> = [
      ['POST', `/api/sessions/${doomed.id}/instances/node1/exec`, { cmd: ['true'] }],
      ['POST', `/api/sessions/${doomed.id}/instances`, {}],
      ['GET', `/api/sessions/${doomed.id}`],
    ];
    for (const [method, pathname, body] of paths) {
      const answer = await api(backend.url, method, pathname, body);
      expect({ pathname, status: answer.status, code: answer.json?.error?.code }).toEqual({ pathname, status: 410, code: 'session_gone' });
      expect(answer.json.error.message).toBe(LOST_DIED_MESSAGE);
    }
    await expect(TerminalClient.open(backend.url, doomed.id)).rejects.toThrow(/HTTP 410/);
    // Its port links die with it, answered like any link that opens nothing (they reveal no session state).
    const link = (doomed.portUrlTemplate as string).replace('{instance}', 'node1').replace('{port}', '8080');
    const port = await api(backend.url, 'GET', link);
    expect({ status: port.status, code: port.json?.error?.code }).toEqual({ status: 404, code: 'not_found' });

    // The server and another learner's shell are fine.
    await bystanderShellWorks();
  }, 300_000);

  it('is found out on the next call too, when no event said so', async () => {
    const { json: doomed } = await api(backend.url, 'POST', '/api/sessions', {});
    const node1 = backend.app.sessions.instance(doomed.id, 'node1');
    // As if the engine's event stream were down: only the call itself can find out.
    backend.app.monitor.close();
    await docker.getContainer(node1.containerId).remove({ force: true, v: true });

    const ran = await api(backend.url, 'POST', `/api/sessions/${doomed.id}/instances/node1/exec`, { cmd: ['true'] });
    expect(ran.status).toBe(410);
    expect(ran.json.error).toEqual({ code: 'session_gone', message: LOST_DIED_MESSAGE });
    expect((await api(backend.url, 'GET', `/api/sessions/${doomed.id}`)).status).toBe(410);
    await bystanderShellWorks();
  }, 300_000);

  it('is told after a restart too, when the machine vanished while the backend was down', async () => {
    const { json: doomed } = await api(backend.url, 'POST', '/api/sessions', {});
    const node1 = backend.app.sessions.instance(doomed.id, 'node1');
    await backend.app.close();
    await docker.getContainer(node1.containerId).remove({ force: true, v: true });
    const restarted = await startBackend(env, { namespace: backend.namespace, dataDir: path.dirname(backend.config.dbPath) });
    inProcess.splice(inProcess.indexOf(backend), 1, restarted);
    backend = restarted;

    const answer = await api(backend.url, 'POST', `/api/sessions/${doomed.id}/instances/node1/exec`, { cmd: ['true'] });
    expect(answer.status).toBe(410);
    expect(answer.json.error).toEqual({ code: 'session_gone', message: LOST_DIED_MESSAGE });
    // The bystander's session was adopted as usual, both nodes.
    await bystanderShellWorks();
    expect((await api(backend.url, 'POST', `/api/sessions/${bystander.id}/instances/node2/exec`, { cmd: ['sh', '-c', 'ping -c1 -W2 node1 >/dev/null && hostname'] })).json).toEqual({ exitCode: 0, output: 'node2\n' });
  }, 300_000);
});
