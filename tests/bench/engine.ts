/**
 * Direct Engine API work for the floors: sandboxes started without the backend, from the very
 * container options the backend uses, and the sweep that removes whatever a run created.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Config } from '../../sandbox-backend/config.ts';
import {
  LABEL_NAMESPACE,
  networkName,
  sandboxContainerOptions,
  sandboxLabels,
  sandboxNetworkOptions,
  volumeName,
} from '../../sandbox-backend/provisioning/recipe.ts';
import { randomSubnet } from '../../sandbox-backend/provisioning/subnets.ts';

export interface FloorSandbox {
  sandboxId: string;
  containerId: string;
  /** Step timings of the start, in ms: what `docker run -d` plus waiting for the daemon costs. */
  timings: { network: number; registry: number; volume: number; create: number; start: number; ready: number; total: number };
}

/**
 * The sandbox's own network, which its container options name. A random /28 can clash with a
 * network that exists (the backend retries the same way); anything else is a real failure.
 */
async function createSandboxNetwork(engine: Docker, config: Config, namespace: string, sandboxId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await engine.createNetwork(
        sandboxNetworkOptions({ namespace, sandboxId, subnet: randomSubnet(config.sandbox.subnets), internet: config.sandbox.internet }),
      );
      return;
    } catch (error) {
      if (!/overlap|in use|already/i.test((error as Error).message) || attempt >= 8) throw error;
    }
  }
}

/**
 * Starts a sandbox exactly as the backend's driver would (same options from recipe.ts) and
 * resolves once its inner dockerd has printed BERTH-READY. The log is attached before the start,
 * like `docker run` without -d, so the readiness line is seen the moment it is written.
 */
export async function startFloorSandbox(
  engine: Docker,
  config: Config,
  namespace: string,
  options: { timeoutMs?: number } = {},
): Promise<FloorSandbox> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const sandboxId = `floor-${randomBytes(5).toString('hex')}`;
  const t0 = performance.now();
  await createSandboxNetwork(engine, config, namespace, sandboxId);
  const tn = performance.now();
  // The sandbox reports ready only once the mirror answers from inside it (berth-init), so the
  // mirror's attachment is part of getting this container ready, for the floor as for the backend.
  if (config.sandbox.registryMirror && config.sandbox.registryContainer) {
    await engine
      .getNetwork(networkName(namespace, sandboxId))
      .connect({ Container: config.sandbox.registryContainer, EndpointConfig: { Aliases: [new URL(config.sandbox.registryMirror).hostname] } });
  }
  const tr = performance.now();
  // The driver labels its volume; `docker run` would create it unlabelled. Labelled, the sweep finds it.
  await engine.createVolume({ Name: volumeName(namespace, sandboxId), Labels: sandboxLabels(namespace, sandboxId) });
  const t1 = performance.now();
  const container = await engine.createContainer(sandboxContainerOptions({ ...config.sandbox, namespace, sandboxId, hostname: 'node1' }));
  const t2 = performance.now();
  const raw = (await container.attach({ stream: true, stdout: true, stderr: true, logs: true })) as unknown as NodeJS.ReadableStream & {
    destroy(): void;
  };
  try {
    const stdout = new PassThrough();
    engine.modem.demuxStream(raw, stdout, new PassThrough());
    let seen = '';
    const ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`floor sandbox not ready within ${timeoutMs} ms`)), timeoutMs);
      stdout.on('data', (chunk: Buffer) => {
        seen = (seen + chunk.toString()).slice(-200);
        if (seen.includes('BERTH-READY')) {
          clearTimeout(timer);
          resolve(performance.now());
        }
      });
      raw.on('end', () => {
        clearTimeout(timer);
        reject(new Error(`floor sandbox exited while starting: ${seen.trim()}`));
      });
    });
    // Handled here so that a start failure below does not leave an unhandled rejection behind.
    ready.catch(() => {});
    await container.start();
    const t3 = performance.now();
    const t4 = await ready;
    return {
      sandboxId,
      containerId: container.id,
      timings: { network: tn - t0, registry: tr - tn, volume: t1 - tr, create: t2 - t1, start: t3 - t2, ready: t4 - t3, total: t4 - t0 },
    };
  } catch (error) {
    await removeSandbox(engine, namespace, { sandboxId, containerId: container.id });
    throw error;
  } finally {
    raw.destroy();
  }
}

export async function removeSandbox(engine: Docker, namespace: string, sandbox: { sandboxId: string; containerId: string }): Promise<void> {
  await engine.getContainer(sandbox.containerId).remove({ force: true, v: true }).catch(() => {});
  await removeNetwork(engine, networkName(namespace, sandbox.sandboxId));
  await engine.getVolume(volumeName(namespace, sandbox.sandboxId)).remove().catch(() => {});
}

/** A network goes only once nothing is attached (the backend attaches the registry mirror to its own). */
async function removeNetwork(engine: Docker, name: string): Promise<void> {
  const network = engine.getNetwork(name);
  const info = (await network.inspect().catch(() => undefined)) as { Containers?: Record<string, unknown> } | undefined;
  if (!info) return;
  await Promise.all(Object.keys(info.Containers ?? {}).map((id) => network.disconnect({ Container: id, Force: true }).catch(() => {})));
  await network.remove().catch(() => {});
}

/** Removes every container, network and volume labelled with one of `namespaces`; returns how many. */
export async function sweep(engine: Docker, namespaces: string[]): Promise<{ containers: number; networks: number; volumes: number }> {
  let containers = 0;
  let networks = 0;
  let volumes = 0;
  for (const namespace of namespaces) {
    const filters = { label: [`${LABEL_NAMESPACE}=${namespace}`] };
    const listed = await engine.listContainers({ all: true, filters });
    await Promise.all(listed.map((c) => engine.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
    containers += listed.length;
    const nets = await engine.listNetworks({ filters });
    await Promise.all(nets.map((n) => removeNetwork(engine, n.Name)));
    networks += nets.length;
    const { Volumes } = await engine.listVolumes({ filters });
    await Promise.all((Volumes ?? []).map((v) => engine.getVolume(v.Name).remove().catch(() => {})));
    volumes += (Volumes ?? []).length;
  }
  return { containers, networks, volumes };
}

/** Runs a command to completion without a TTY; stdout and stderr together. */
export async function execText(engine: Docker, containerId: string, cmd: string[]): Promise<{ exitCode: number; output: string }> {
  const exec = await engine.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
  const raw = (await exec.start({ hijack: true, stdin: false })) as unknown as NodeJS.ReadableStream;
  let output = '';
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => (output += chunk.toString()));
  engine.modem.demuxStream(raw, sink, sink);
  await new Promise<void>((resolve, reject) => {
    raw.on('end', resolve);
    raw.on('error', reject);
  });
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? -1, output };
}

/** Polls a condition (bounded); for engine-side state that has no event to wait on. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 20): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await delay(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
