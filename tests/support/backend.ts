/**
 * Starts a real backend in-process against the real engine, in a namespace of its own so that
 * test runs never touch each other's sandboxes (or a developer's `npm start`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import { createApp, type App } from '../../sandbox-backend/app.ts';
import { loadConfig, type Config } from '../../sandbox-backend/config.ts';
import { createLogger } from '../../sandbox-backend/log.ts';

export interface TestBackend {
  app: App;
  url: string;
  config: Config;
  namespace: string;
  engine: Docker;
  /** Restarts the backend on the same database and namespace (a clean stop, then a new process state). */
  restart(): Promise<TestBackend>;
  /** Ends every session, stops the backend, and removes whatever of its namespace is left. */
  stop(): Promise<void>;
}

export function engine(): Docker {
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  return host.startsWith('unix://') ? new Docker({ socketPath: host.slice(7) }) : new Docker({ host: new URL(host.replace('tcp:', 'http:')).hostname, port: Number(new URL(host.replace('tcp:', 'http:')).port) });
}

/** `reuse` restarts on a namespace and data folder; a namespace alone names a fresh backend's (for objects a test makes before it starts). */
export async function startBackend(env: Record<string, string> = {}, reuse?: { namespace: string; dataDir?: string }): Promise<TestBackend> {
  const namespace = reuse?.namespace ?? `t-${randomBytes(4).toString('hex')}`;
  const dataDir = reuse?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  const config = loadConfig({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    BERTH_NAMESPACE: namespace,
    BERTH_DATA_DIR: dataDir,
    BERTH_POOL_IDLE: '1',
    // Tests start many sessions from one address; the limits have tests of their own.
    BERTH_CLIENT_MAX_SESSIONS: '100',
    BERTH_CLIENT_SESSIONS_PER_MINUTE: '10000',
    BERTH_ADDRESS_MAX_SESSIONS: '1000',
    BERTH_ADDRESS_SESSIONS_PER_MINUTE: '10000',
    BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG_LEVEL ?? 'warn',
    ...env,
  });
  const app = await createApp(config, createLogger(config.logLevel, { namespace }));
  const url = await app.listen();
  const docker = engine();
  const self: TestBackend = {
    app,
    url,
    config,
    namespace,
    engine: docker,
    restart: async () => {
      await app.close();
      return startBackend(env, { namespace, dataDir });
    },
    stop: async () => {
      await app.close();
      await removeNamespace(docker, namespace);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** Everything of a namespace the engine still has: what a test asserts is gone. */
export async function leftovers(docker: Docker, namespace: string): Promise<{ containers: string[]; volumes: string[] }> {
  const filter = { label: [`berth.namespace=${namespace}`] };
  const containers = await docker.listContainers({ all: true, filters: filter });
  const { Volumes } = await docker.listVolumes({ filters: filter });
  return { containers: containers.map((c) => c.Id), volumes: (Volumes ?? []).map((v) => v.Name) };
}

export async function networksOf(docker: Docker, namespace: string): Promise<string[]> {
  return (await docker.listNetworks({ filters: { label: [`berth.namespace=${namespace}`] } })).map((n) => n.Name);
}

/** Removes every container, volume and network of a namespace (test clean-up). */
export async function removeNamespace(docker: Docker, namespace: string): Promise<void> {
  const { containers, volumes } = await leftovers(docker, namespace);
  await Promise.all(containers.map((id) => docker.getContainer(id).remove({ force: true, v: true }).catch(() => {})));
  await Promise.all(volumes.map((name) => docker.getVolume(name).remove().catch(() => {})));
  for (const name of await networksOf(docker, namespace)) {
    const network = docker.getNetwork(name);
    const info = (await network.inspect().catch(() => ({}))) as { Containers?: Record<string, unknown> };
    for (const id of Object.keys(info.Containers ?? {})) await network.disconnect({ Container: id, Force: true }).catch(() => {});
    await network.remove().catch(() => {});
  }
}

/** Polls until `check` returns a value other than undefined/false, or fails with the last state. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await delay(50);
  }
}

export async function api(base: string, method: string, pathname: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + pathname, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
