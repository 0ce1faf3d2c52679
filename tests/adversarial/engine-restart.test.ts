/**
 * The Docker engine restarting under live sessions: the real dockerd the bootstrap started is
 * stopped and started again through scripts/engine.sh (the operators' path), and containers are
 * killed as a host reboot or an engine without live-restore would leave them.
 *
 * The backend here uses a registry mirror of its own (same image and storage as the shared one,
 * in this test's namespace), so killing it disturbs no one else; its revival runs the same code
 * as for the shared mirror. Only the shared push twin is stopped, for the bootstrap's part: it
 * serves `npm run images` only, and the bootstrap at the end of case 2 starts it again.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REGISTRY_IMAGE } from '../../sandbox-backend/images/recipes.ts';
import { REGISTRY_CONTAINER, REGISTRY_VOLUME, PUSH_CONTAINER_SUFFIX } from '../../sandbox-backend/images/registry.ts';
import { LOST_DIED_MESSAGE } from '../../sandbox-backend/sessions/service.ts';
import { api, engine, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const docker = engine();
const namespace = `t-eng-${Math.random().toString(16).slice(2, 8)}`;
const mirror = `${namespace}-registry`;
const mirrorHome = `${namespace}-registry-home`;
let backend: TestBackend;
/** Figures for the report, printed at the end. */
const measured: Record<string, number> = {};

/** Runs scripts/engine.sh, the one way Berth starts and stops its engine. */
async function engineSh(command: 'start' | 'stop' | 'status'): Promise<string> {
  const { stdout } = await run('bash', [path.join(root, 'scripts/engine.sh'), command], { cwd: root, timeout: 120_000 });
  return stdout.trim();
}

async function newSession(): Promise<{ id: string; portUrlTemplate: string }> {
  const { status, json } = await api(backend.url, 'POST', '/api/sessions', {});
  expect(status, JSON.stringify(json)).toBe(201);
  return json;
}

/** The pool holds its waiting sandbox and boots nothing. */
const poolSettled = () =>
  waitFor('the pool to hold its waiting sandbox', () => {
    const { idle, starting } = backend.app.pool.stats();
    return idle === 1 && starting === 0;
  }, 180_000);

const readyz = () => api(backend.url, 'GET', '/readyz');
const exec = (sessionId: string, script: string) =>
  api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['bash', '-c', script] });

/** Sandboxes of this namespace the engine created since `sinceMs`: what the pool started. */
async function sandboxCreations(sinceMs: number): Promise<number> {
  const stream = (await docker.getEvents({
    since: Math.floor(sinceMs / 1000),
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], event: ['create'], label: [`berth.namespace=${namespace}`, 'berth.role=sandbox'] },
  })) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  const events = text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as { timeNano: number });
  return events.filter((event) => event.timeNano / 1e6 >= sinceMs).length;
}

async function state(container: string): Promise<{ Running: boolean; Status: string }> {
  return (await docker.getContainer(container).inspect()).State;
}

/** A mirror like the shared one, left stopped on a network that no longer exists, as an engine restart leaves it. */
async function staleMirror(): Promise<void> {
  const labels = { 'berth.namespace': namespace };
  await docker.createNetwork({ Name: mirrorHome, Labels: labels });
  const container = await docker.createContainer({
    name: mirror,
    Image: REGISTRY_IMAGE,
    Cmd: ['serve', '/etc/docker/registry/mirror.yml'],
    Labels: labels,
    HostConfig: { Binds: [`${REGISTRY_VOLUME}:/var/lib/registry`], NetworkMode: mirrorHome },
    NetworkingConfig: { EndpointsConfig: { [mirrorHome]: { Aliases: ['berth-registry'] } } },
  });
  const doomed = await docker.createNetwork({ Name: `${namespace}-doomed`, Labels: labels });
  await doomed.connect({ Container: container.id });
  await doomed.remove();
}

beforeAll(async () => {
  const status = await engineSh('status');
  if (!/owner=berth live-restore=true/.test(status)) {
    throw new Error(
      `These tests restart the Docker engine, so it must be the dockerd Berth started with live-restore (scripts/engine.sh start); ` +
        `scripts/engine.sh status says "${status}" (DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset'}).`,
    );
  }
  await staleMirror();
  // Start-up finds its mirror stopped and still on a removed network: it must start it, not refuse.
  // The machine running the suite is busy (other sandboxes boot meanwhile): boots get longer to be ready.
  backend = await startBackend({ BERTH_POOL_IDLE: '1', BERTH_REGISTRY_CONTAINER: mirror, BERTH_SANDBOX_READY_TIMEOUT: '120s' }, { namespace });
  expect((await state(mirror)).Running).toBe(true);
});

afterAll(async () => {
  console.info(`engine-restart figures: ${JSON.stringify(measured)}`);
  if (backend) return backend.stop();
  // Start-up failed: what staleMirror() made is still there.
  await docker.getContainer(mirror).remove({ force: true }).catch(() => {});
  await docker.getNetwork(mirrorHome).remove().catch(() => {});
});

it('keeps sessions, shells, inner containers and published ports through an engine restart (live-restore), and is not ready meanwhile', async () => {
  const session = await newSession();
  const term = await TerminalClient.open(backend.url, session.id);
  await term.waitForText('root@node1:~#');
  term.type('echo kept > ~/marker && docker run -d --name survivor -p 8080:80 nginx >/dev/null && export SHELL_MARK=still-$((20+1)); echo started\r');
  await term.waitForText(/^started$/m, 120_000);
  // The session's own port link (its port token; the session id opens no port).
  const portLink = `${backend.url}${session.portUrlTemplate.replace('{instance}', 'node1').replace('{port}', '8080')}`;
  await waitFor('the published port', async () => (await fetch(portLink)).status === 200, 60_000);
  expect((await readyz()).status).toBe(200);

  let t = performance.now();
  await engineSh('stop');
  measured.stopMs = Math.round(performance.now() - t);
  try {
    // The terminal's connection went with the engine: the viewer is told to come back, not that the shell exited.
    expect(await term.waitForClose()).toBe(1013);
    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.json.reason).toMatch(/Docker engine .* does not answer/);
    // The session is still known; its commands wait for the engine rather than failing as a bug.
    expect((await api(backend.url, 'GET', `/api/sessions/${session.id}`)).status).toBe(200);
    const refused = await exec(session.id, 'true');
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('unavailable');
  } finally {
    t = performance.now();
    await engineSh('start');
    measured.startMs = Math.round(performance.now() - t);
  }

  t = performance.now();
  await waitFor('/readyz to be ready again', async () => (await readyz()).status === 200, 180_000);
  measured.readyAfterStartMs = Math.round(performance.now() - t);
  // A sandbox whose boot the stop cut short is not left running beside the pool.
  await waitFor('no sandbox left over', async () => {
    const listed = await docker.listContainers({ all: true, filters: { label: [`berth.namespace=${namespace}`, 'berth.role=sandbox'] } });
    const { idle, starting } = backend.app.pool.stats();
    return listed.length <= 1 + idle + starting;
  });
  const after = await exec(session.id, 'cat ~/marker; docker ps --format "{{.Names}} {{.Status}}"');
  expect(after.json.output).toMatch(/^kept$/m);
  // The mirror is still reached by name from the session's network.
  const pulledBefore = await exec(session.id, 'docker pull -q busybox');
  expect(pulledBefore.json.exitCode, pulledBefore.json.output).toBe(0);
  expect(after.json.output).toMatch(/^survivor Up/m);
  expect((await fetch(portLink)).status).toBe(200);
  // The same login shell (dtach kept it): its variable is still set.
  const again = await TerminalClient.open(backend.url, session.id);
  again.type('echo mark=$SHELL_MARK\r');
  await again.waitForText('mark=still-21');
  again.close();

  // New sessions start, and reach the mirror.
  const fresh = await newSession();
  const pulled = await exec(fresh.id, 'docker pull -q busybox');
  expect(pulled.json.exitCode, pulled.json.output).toBe(0);
  expect((await api(backend.url, 'DELETE', `/api/sessions/${fresh.id}`)).status).toBe(204);
}, 600_000);

it('ends sessions whose machine was killed with a clear reason, brings the mirror back, refills without churn; the bootstrap starts the push twin again', async () => {
  const session = await newSession();
  const term = await TerminalClient.open(backend.url, session.id);
  await term.waitForText('root@node1:~#');
  await poolSettled();
  const node1 = backend.app.sessions.instance(session.id, 'node1').containerId;
  const since = Date.now();

  // What a host reboot or an engine without live-restore leaves: the mirror and every sandbox dead.
  const sandboxes = await docker.listContainers({ filters: { label: [`berth.namespace=${namespace}`, 'berth.role=sandbox'] } });
  expect(sandboxes.map((c) => c.Id)).toContain(node1);
  await docker.getContainer(mirror).kill();
  const killed = performance.now();
  await Promise.all(sandboxes.map((c) => docker.getContainer(c.Id).kill()));

  const reason = await term.waitForControl('lost');
  measured.lostToldMs = Math.round(performance.now() - killed);
  expect(reason.message).toBe(LOST_DIED_MESSAGE);
  expect(await term.waitForClose()).toBe(4003);
  const gone = await api(backend.url, 'GET', `/api/sessions/${session.id}`);
  expect(gone.status).toBe(410);
  expect(gone.json.error).toEqual({ code: 'session_gone', message: LOST_DIED_MESSAGE });
  expect((await exec(session.id, 'true')).status).toBe(410);
  await waitFor('the mirror to run again', async () => (await state(mirror)).Running);
  measured.mirrorBackMs = Math.round(performance.now() - killed);

  await waitFor('/readyz to be ready again', async () => (await readyz()).status === 200, 180_000);
  const fresh = await newSession();
  const newTerm = await TerminalClient.open(backend.url, fresh.id);
  await newTerm.waitForText('root@node1:~#');
  newTerm.type('docker run --rm hello-world | grep -o "Hello from Docker"\r');
  await newTerm.waitForText(/^Hello from Docker$/m, 120_000);
  newTerm.close();
  await poolSettled();
  // One replacement for the killed waiting sandbox, one for the new session's: nothing failed and was retried.
  measured.sandboxesCreatedAfterKill = await sandboxCreations(since);
  expect(measured.sandboxesCreatedAfterKill).toBeLessThanOrEqual(2);
  expect(backend.app.pool.refillError).toBeUndefined();

  // The operator's path: the shared push twin, stopped while on a network since removed, comes back with the bootstrap.
  const twin = `${REGISTRY_CONTAINER}${PUSH_CONTAINER_SUFFIX}`;
  const doomed = await docker.createNetwork({ Name: `${namespace}-doomed-twin`, Labels: { 'berth.namespace': namespace } });
  await doomed.connect({ Container: twin });
  try {
    await docker.getContainer(twin).kill();
    await doomed.remove();
    expect((await state(twin)).Running).toBe(false);
  } finally {
    const { stdout } = await run('bash', [path.join(root, 'scripts/bootstrap.sh')], { cwd: root, timeout: 300_000 });
    expect(stdout).toMatch(/berth-registry-push is still on network .*-doomed-twin, which no longer exists: detaching it/);
  }
  expect((await state(twin)).Running).toBe(true);
}, 600_000);
