/**
 * Wires the backend together, in the direction data flows:
 * handlers -> session service -> pool -> driver -> engine. Used by main.ts and by the tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Config } from './config.ts';
import { connectEngine, pingEngine, type Engine } from './engine/docker.ts';
import { createHttpHandler, type Health } from './handlers/http.ts';
import { createStaticHandler } from './handlers/static.ts';
import { createPortProxy } from './handlers/port-proxy.ts';
import { createTerminalServer } from './handlers/terminal.ts';
import { lessonDirectory } from './lessons.ts';
import { backendMetrics, Gauge } from './metrics.ts';
import type { Logger } from './log.ts';
import { SandboxDriver, statusOf } from './provisioning/driver.ts';
import { LeaseHeldError, takeLease, type Lease } from './provisioning/lease.ts';
import { WarmPool } from './scheduling/pool.ts';
import { SessionService } from './sessions/service.ts';
import { SessionStore } from './storage/sessions-store.ts';

export interface App {
  server: http.Server;
  sessions: SessionService;
  pool: WarmPool;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export async function createApp(config: Config, log: Logger): Promise<App> {
  const engine = connectEngine(config.dockerHost);
  const engineVersion = await pingEngine(engine, config.dockerHost).catch((error: Error) => {
    throw new StartupError(error.message);
  });
  await engine
    .getImage(config.sandbox.image)
    .inspect()
    .catch((error: unknown) => {
      if (statusOf(error) !== 404) throw error;
      throw new StartupError(`The sandbox image ${config.sandbox.image} is not on the engine. "npm start" builds it (or run "npm run images").`);
    });
  if (config.sandbox.registryMirror && config.sandbox.registryContainer) {
    const registry = await engine
      .getContainer(config.sandbox.registryContainer)
      .inspect()
      .catch((error: unknown) => {
        if (statusOf(error) !== 404) throw error;
        return undefined;
      });
    if (!registry?.State.Running) {
      throw new StartupError(`The registry mirror container ${config.sandbox.registryContainer} is not running. "npm start" starts it (or run "npm run images"); BERTH_REGISTRY_MIRROR= (empty) runs without a mirror.`);
    }
  }
  log.info('engine ready', { dockerHost: config.dockerHost, engineVersion });

  // Before anything touches the namespace: recovery below removes every sandbox of it this
  // backend does not own, which would be another live backend's learners.
  let onLeaseLost = (_reason: string) => {};
  const lease = await takeLease(
    engine,
    {
      namespace: config.namespace,
      image: config.sandbox.image,
      dataPath: path.resolve(config.dbPath),
      onLost: (holder) =>
        onLeaseLost(`This Berth lost namespace "${config.namespace}" to another one (pid ${holder.pid} on host ${holder.host}, data in ${holder.dataPath}) and starts no new sessions; stop one of the two.`),
    },
    log.child({ component: 'lease' }),
  ).catch((error: unknown) => {
    if (error instanceof LeaseHeldError) throw new StartupError(error.message);
    throw error;
  });
  try {
    return await assemble(config, log, engine, lease, (fence) => (onLeaseLost = fence));
  } catch (error) {
    await lease.release().catch(() => {});
    throw error;
  }
}

async function assemble(
  config: Config,
  log: Logger,
  engine: Engine,
  lease: Lease,
  whenLeaseLost: (fence: (reason: string) => void) => void,
): Promise<App> {
  const store = new SessionStore(config.dbPath);
  const metrics = backendMetrics();
  const driver = new SandboxDriver(engine, { namespace: config.namespace, ...config.sandbox }, log.child({ component: 'driver' }));
  const pool = new WarmPool(driver, { ...config.pool, refillDelayMs: 1_500 }, log.child({ component: 'pool' }));
  const sessions = new SessionService(
    store,
    pool,
    driver,
    lessonDirectory(config.lessonsDir),
    { ttlMs: config.session.ttlMs, idleTimeoutMs: config.session.idleTimeoutMs, execTimeoutMs: config.execTimeoutMs, metrics, limits: config.limits, maxSandboxes: config.pool.max, portDomain: config.http.portDomain },
    log.child({ component: 'sessions' }),
  );
  let leaseLost: string | undefined;
  whenLeaseLost((reason) => {
    leaseLost = reason;
    sessions.fence(reason);
  });
  await sessions.recover();
  sessions.followSandboxes();
  pool.refill();

  const health = async (): Promise<Health> => {
    try {
      await engine.ping();
    } catch (error) {
      return { ok: false, reason: `engine at ${config.dockerHost} does not answer: ${(error as Error).message}` };
    }
    if (leaseLost) return { ok: false, reason: leaseLost };
    const stats = pool.stats();
    if (pool.refillError && stats.idle === 0) return { ok: false, reason: `no sandbox can be started: ${pool.refillError.message}` };
    return { ok: true };
  };

  metrics.registry.add(new Gauge('berth_sessions', 'Live sessions.', () => sessions.list().length));
  metrics.registry.add(
    new Gauge('berth_pool_sandboxes', 'Sandboxes of this backend by state.', () => {
      const stats = pool.stats();
      return [
        [{ state: 'idle' }, stats.idle],
        [{ state: 'starting' }, stats.starting],
        [{ state: 'in_use' }, stats.inUse],
      ];
    }),
  );
  metrics.registry.add(new Gauge('berth_pool_max', 'Most sandboxes this backend runs at once.', () => pool.stats().max));
  metrics.registry.add(new Gauge('berth_queue_length', 'Learners waiting for a sandbox.', () => sessions.queueLength));
  metrics.registry.add(new Gauge('berth_draining', '1 while new sessions are refused for maintenance.', () => (sessions.draining ? 1 : 0)));

  const proxy = createPortProxy(sessions, log.child({ component: 'proxy' }), config.http.portDomain);
  const server = http.createServer(
    createHttpHandler({
      sessions,
      health,
      proxy,
      metrics: () => metrics.registry.render(),
      adminToken: config.adminToken,
      poolStats: () => pool.stats(),
      serveStatic: createStaticHandler(config.staticDir),
      log: log.child({ component: 'http' }),
    }),
  );
  const terminals = createTerminalServer(sessions, log.child({ component: 'terminal' }));
  server.on('upgrade', (req, socket, head) => (proxy.handles(req) ? proxy : terminals).upgrade(req, socket, head));

  return {
    server,
    sessions,
    pool,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.http.port, config.http.host, () => {
          const { port } = server.address() as AddressInfo;
          resolve(`http://${config.http.host === '0.0.0.0' ? 'localhost' : config.http.host}:${port}`);
        });
      }),
    close: async () => {
      terminals.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sessions.close();
      await pool.close();
      store.close();
      // Last: the next backend of this namespace may start (and recover) once it is free.
      await lease.release();
    },
  };
}
