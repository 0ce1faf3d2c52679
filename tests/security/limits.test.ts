/**
 * Issue 3, "Isolation and least privilege": a sandbox's limits hold for everything in it, inner
 * containers included, and what hits a limit fails inside the sandbox without harming the host,
 * the backend or another sandbox. The limits are small here so that each test is quick; the host
 * side of each limit (the sandbox's cgroup, its disk's backing file) is read from the host.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { cgroupCounters, endSession, hostCgroupFile, hostPidsOf, must, newSession, readHostCgroup, run, sandboxOf } from './support.ts';

const MEMORY = 256 * 1024 ** 2;
const PIDS = 300;
const CPUS = 0.5;
const DISK = 512 * 1024 ** 2;

let backend: TestBackend;
let sessionId: string;
let containerId: string;

beforeAll(async () => {
  backend = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_SANDBOX_MEMORY: '256m', BERTH_SANDBOX_PIDS: String(PIDS), BERTH_SANDBOX_CPUS: String(CPUS), BERTH_SANDBOX_DISK: String(DISK) });
  sessionId = await newSession(backend);
  containerId = (await sandboxOf(backend, sessionId)).Id;
  await must(backend, sessionId, 'docker pull -q busybox >/dev/null');
});

afterAll(async () => {
  await backend?.stop();
});

/** Host pid of the sandbox's inner dockerd. */
function innerDockerd(): number {
  const pid = hostPidsOf(containerId).find((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'dockerd');
  if (!pid) throw new Error('no dockerd in the sandbox');
  return pid;
}

async function stillServing(): Promise<void> {
  expect((await api(backend.url, 'GET', '/healthz')).status).toBe(200);
  expect((await backend.engine.getContainer(containerId).inspect()).State.Running).toBe(true);
  expect(await must(backend, sessionId, 'docker run --rm busybox echo inner-alive')).toContain('inner-alive');
}

describe('memory', () => {
  it("kills an inner container that outgrows the sandbox's limit, and nothing else", async () => {
    expect(Number(readHostCgroup(containerId, 'memory', 'memory.limit_in_bytes'))).toBe(MEMORY);
    const dockerd = innerDockerd();
    // The high-water mark of the sandbox's memory, from now on.
    fs.writeFileSync(hostCgroupFile(containerId, 'memory', 'memory.max_usage_in_bytes'), '0');
    // No limit of its own: only the sandbox's bounds it. dd fills a 400 MiB buffer.
    const hog = await run(backend, sessionId, 'docker run --rm busybox dd if=/dev/zero of=/dev/null bs=400M count=1; echo "exit=$?"');
    expect(hog.output, 'killed by SIGKILL, as the OOM killer does').toContain('exit=137');
    // The kernel's high-water mark may read a page above the limit (seen: +4096); what counts
    // is that usage got to the limit and no further.
    const peak = Number(readHostCgroup(containerId, 'memory', 'memory.max_usage_in_bytes'));
    expect(peak, 'the sandbox reached its limit').toBeGreaterThanOrEqual(MEMORY - 1024 ** 2);
    expect(peak, 'and went no further').toBeLessThanOrEqual(MEMORY + 64 * 1024);
    expect(innerDockerd(), 'the inner dockerd was spared').toBe(dockerd);
    await stillServing();
  });
});

describe('CPU', () => {
  it("holds every process inside to the sandbox's share", async () => {
    const quota = Number(readHostCgroup(containerId, 'cpu', 'cpu.cfs_quota_us'));
    const period = Number(readHostCgroup(containerId, 'cpu', 'cpu.cfs_period_us'));
    expect(quota / period).toBe(CPUS);
    // Two busy loops could use both of the host's cores.
    await must(backend, sessionId, "docker run -d --name spin busybox sh -c 'while :; do :; done & while :; do :; done' >/dev/null");
    try {
      const usage = () => Number(readHostCgroup(containerId, 'cpuacct', 'cpuacct.usage'));
      const start = usage();
      await waitFor('the busy loops to run', () => usage() - start > 0.1e9);
      // A measurement over a fixed stretch of wall time, not a wait for something to happen.
      const [u0, t0] = [usage(), process.hrtime.bigint()];
      await delay(3000);
      const share = (usage() - u0) / Number(process.hrtime.bigint() - t0);
      expect(share).toBeLessThanOrEqual(CPUS * 1.15);
      expect(share, 'the loops really ran').toBeGreaterThan(CPUS * 0.5);
    } finally {
      await run(backend, sessionId, 'docker rm -f spin');
    }
  });
});

describe('processes', () => {
  it('keeps a fork bomb inside the sandbox: the host, the backend and another sandbox carry on', async () => {
    const bombSession = await newSession(backend);
    const bomb = (await sandboxOf(backend, bombSession)).Id;
    expect(Number(readHostCgroup(bomb, 'pids', 'pids.max'))).toBe(PIDS);
    const refused = () => cgroupCounters(readHostCgroup(bomb, 'pids', 'pids.events')).max!;
    const count = () => Number(readHostCgroup(bomb, 'pids', 'pids.current'));
    // The shell stays, so that its container (and the bomb with it) lives until timeout ends it,
    // even if this test does not get to.
    await must(backend, bombSession, "docker run -d --name bomb busybox timeout 120 sh -c 'b() { b | b & }; b; sleep 130' >/dev/null");
    await waitFor('the fork bomb to fill the sandbox up to its process limit', () => count() === PIDS && refused() > 0, 60_000);

    execFileSync('true');
    expect((await api(backend.url, 'GET', '/healthz')).status).toBe(200);
    const started = Date.now();
    expect(await must(backend, sessionId, 'echo other-sandbox-alive')).toBe('other-sandbox-alive\n');
    expect(Date.now() - started).toBeLessThan(15_000);
    // Its processes come and go, but it was still pressing on the limit meanwhile.
    expect(count(), 'the bomb was still running').toBeGreaterThan(PIDS * 0.9);

    // The backend can still take the bombed sandbox down.
    await endSession(backend, bombSession);
    await waitFor('the bombed sandbox to be gone', async () => (await backend.engine.listContainers({ all: true, filters: { id: [bomb] } })).length === 0);
  });
});

describe('disk', () => {
  it('fills up inside the sandbox and nowhere else, and gives the space back when freed', async () => {
    const diskSession = await newSession(backend);
    const info = await sandboxOf(backend, diskSession);
    const exec = (script: string) => run(backend, diskSession, script);
    try {
      const size = Number((await exec('df -B1 --output=size /var/lib/docker | tail -n 1')).output);
      expect(size).toBeGreaterThan(DISK * 0.9);
      expect(size).toBeLessThanOrEqual(DISK);

      const volume = info.Mounts.find((m) => m.Destination === '/var/lib/docker');
      expect(volume?.Type).toBe('volume');
      const image = `${volume!.Source}/berth-disk.img`;
      const allocated = () => fs.statSync(image).blocks * 512;
      const upper = (info.GraphDriver.Data as unknown as { UpperDir: string }).UpperDir;

      await exec('docker pull -q busybox');
      const inContainer = await exec('docker run --rm busybox dd if=/dev/zero of=/fill bs=1M count=1024; echo "exit=$?"');
      expect(inContainer.output).toMatch(/No space left on device/);
      expect(inContainer.output).not.toContain('exit=0');
      const inShell = await exec('dd if=/dev/zero of=/root/fill bs=1M count=1024; echo "exit=$?"');
      expect(inShell.output).toMatch(/No space left on device/);
      expect(inShell.output).not.toContain('exit=0');

      // On the host, what the sandbox wrote is in the disk's file, which never outgrows the cap,
      // and not in the container's own layer.
      expect(allocated()).toBeGreaterThan(DISK * 0.8);
      expect(allocated()).toBeLessThanOrEqual(DISK);
      expect(Number(execFileSync('du', ['-sb', upper], { encoding: 'utf8' }).split('\t')[0])).toBeLessThan(16 * 1024 ** 2);

      // Another sandbox writes and runs containers as usual meanwhile.
      expect(await must(backend, sessionId, 'dd if=/dev/zero of=/root/other bs=1M count=64 2>/dev/null && rm /root/other && docker run --rm busybox echo fine')).toContain('fine');

      // Freed space is usable again inside, and returned to the host.
      expect((await exec('rm /root/fill && echo written > /root/after && cat /root/after')).output).toBe('written\n');
      await waitFor('the freed blocks to go back to the host', () => allocated() < 128 * 1024 ** 2);
    } finally {
      await endSession(backend, diskSession);
    }
  });
});
