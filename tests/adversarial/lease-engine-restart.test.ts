/**
 * The namespace lease across restarts of the engine that holds it. A private dockerd (own socket,
 * data and exec roots, no networking) is restarted here, so the shared engine that other tests
 * and sandboxes use is never touched. Its only image is a static `cat`, which is all a lease runs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectEngine, type Engine } from '../../sandbox-backend/engine/docker.ts';
import { createLogger } from '../../sandbox-backend/log.ts';
import { leaseName, takeLease, type LeaseHolder } from '../../sandbox-backend/provisioning/lease.ts';
import { waitFor } from '../support/backend.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lease-engine-'));
const socket = path.join(root, 'docker.sock');
const image = 'berth-lease-test:latest';
const log = createLogger(process.env.BERTH_TEST_LOG_LEVEL as 'warn' | undefined ?? 'warn');
let dockerd: ChildProcess | undefined;
let engine: Engine;

async function startEngine(liveRestore: boolean): Promise<void> {
  const out = fs.openSync(path.join(root, 'dockerd.log'), 'a');
  dockerd = spawn(
    'dockerd',
    [
      '--data-root', path.join(root, 'data'), '--exec-root', path.join(root, 'exec'), '--pidfile', path.join(root, 'dockerd.pid'),
      '-H', `unix://${socket}`, '--bridge', 'none', '--iptables=false', '--ip-masq=false',
      ...(liveRestore ? ['--live-restore'] : []),
    ],
    { stdio: ['ignore', out, out] },
  );
  await waitFor('the private engine to answer', () => engine.ping().then(() => true), 60_000);
}

async function stopEngine(): Promise<void> {
  const running = dockerd;
  if (!running || running.exitCode !== null) return;
  const exited = new Promise((resolve) => running.once('exit', resolve));
  running.kill('SIGTERM');
  await exited;
}

const leaseState = async (namespace: string) =>
  engine
    .getContainer(leaseName(namespace))
    .inspect()
    .then((info) => ({ running: info.State.Running, data: info.Config.Labels['berth.lease.data'] }))
    .catch(() => undefined);

beforeAll(async () => {
  engine = connectEngine(`unix://${socket}`);
  // A lease needs only a process that reads stdin to its end.
  const rootfs = path.join(root, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(root, 'cat.c'), '#include <unistd.h>\nint main(void){char b[4096];while(read(0,b,sizeof b)>0);return 0;}\n');
  execFileSync('gcc', ['-static', '-O2', '-o', path.join(rootfs, 'bin', 'cat'), path.join(root, 'cat.c')]);
  await startEngine(false);
  execFileSync('sh', ['-c', `tar -C "${rootfs}" -c . | docker -H "unix://${socket}" import - ${image}`]);
});

afterAll(async () => {
  await stopEngine();
  // dockerd bind-mounts its data root on itself, and leaves that mount behind.
  try {
    execFileSync('umount', [path.join(root, 'data')], { stdio: 'ignore' });
  } catch {
    // Not mounted.
  }
  fs.rmSync(root, { recursive: true, force: true });
});

for (const liveRestore of [false, true]) {
  it(`is taken again by its holder after the engine restarts${liveRestore ? ' with live-restore' : ''}; if another took it meanwhile, exactly one holds it and the loser knows`, async () => {
    await stopEngine();
    await startEngine(liveRestore);
    const namespace = `restart-${liveRestore ? 'live' : 'plain'}`;
    const lost: LeaseHolder[] = [];
    const first = await takeLease(engine, { namespace, image, dataPath: '/first', onLost: (holder) => lost.push(holder) }, log);
    expect(await leaseState(namespace)).toEqual({ running: true, data: '/first' });

    // The engine goes away and comes back: the holder takes its lease again by itself.
    await stopEngine();
    await startEngine(liveRestore);
    await waitFor('the lease to be taken again', async () => (await leaseState(namespace))?.running === true, 30_000);
    expect(await leaseState(namespace)).toEqual({ running: true, data: '/first' });
    expect(first.held).toBe(true);
    // Still exclusive: another backend is refused.
    await expect(takeLease(engine, { namespace, image, dataPath: '/second', waitMs: 1_000 }, log)).rejects.toThrow(/another Berth is running/);

    // Again, with another backend starting the moment the engine is back: whoever gets there
    // first holds it, and the other knows it does not.
    await stopEngine();
    await startEngine(liveRestore);
    const second = await takeLease(engine, { namespace, image, dataPath: '/second', waitMs: 5_000 }, log).catch(() => undefined);
    if (second) {
      await waitFor('the first holder to learn it lost the lease', () => lost.length > 0, 30_000);
      expect(first.held).toBe(false);
      expect(lost[0]).toMatchObject({ dataPath: '/second', pid: process.pid });
      expect(await leaseState(namespace)).toEqual({ running: true, data: '/second' });
    } else {
      expect(first.held).toBe(true);
      expect(lost).toEqual([]);
      expect(await leaseState(namespace)).toEqual({ running: true, data: '/first' });
    }
    await second?.release();
    await first.release();
    // Released by whoever held it; a lost lease's release leaves the winner's alone, so nothing is left.
    expect(await leaseState(namespace)).toBeUndefined();
  });
}
