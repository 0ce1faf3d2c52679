/**
 * Wires the backend together, in the direction data flows:
 * handlers -> session service -> pool -> driver -> engine. Used by main.ts and by the tests.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Config } from './config.ts';
import { connectEngine, pingEngine, type Engine } from './engine/docker.ts';
import { EngineMonitor } from './engine/monitor.ts';
import { createHttpServer, sendJson, type Health } from './handlers/http.ts';
import { createStaticHandler } from './handlers/static.ts';
import { createPortProxy } from './handlers/port-proxy.ts';
import { compileTrust } from './handlers/client-address.ts';
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
  /** The one follower of the engine's events (tests stop it to play an event stream that is down). */
  monitor: EngineMonitor;
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
  const driver = new SandboxDriver(engine, { namespace: config.namespace, ...config.sandbox }, log.child({ component: 'driver' }));
  // A mirror left stopped (a host reboot, an engine restart without live-restore) is started
  // again here rather than by a person.
  await driver.reviveRegistry().catch((error: Error) => {
    throw new StartupError(`The registry mirror container ${config.sandbox.registryContainer} is not running and could not be started: ${error.message}. "npm start" starts it (or run "npm run images"); BERTH_REGISTRY_MIRROR= (empty) runs without a mirror.`);
  });
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
    return await assemble(config, log, engine, driver, lease, (fence) => (onLeaseLost = fence));
  } catch (error) {
    await lease.release().catch(() => {});
    throw error;
  }
}

async function assemble(
  config: Config,
  log: Logger,
  engine: Engine,
  driver: SandboxDriver,
  lease: Lease,
  whenLeaseLost: (fence: (reason: string) => void) => void,
): Promise<App> {
  const store = new SessionStore(config.dbPath);
  const metrics = backendMetrics();
  const pool = new WarmPool(driver, { ...config.pool, refillDelayMs: 1_500 }, log.child({ component: 'pool' }));
  const sessions = new SessionService(
    store,
    pool,
    driver,
    lessonDirectory(config.lessonsDir),
    {
      ttlMs: config.session.ttlMs,
      idleTimeoutMs: config.session.idleTimeoutMs,
      execTimeoutMs: config.execTimeoutMs,
      metrics,
      limits: config.limits,
      addressLimits: config.addressLimits,
      maxSandboxes: config.pool.max,
      portDomain: config.http.portDomain,
      terminalStallMs: config.terminal.stallMs,
    },
    log.child({ component: 'sessions' }),
  );
  let leaseLost: string | undefined;
  whenLeaseLost((reason) => {
    leaseLost = reason;
    sessions.fence(reason);
  });
  await sessions.recover();
  pool.refill();

  // The one follower of the engine (engine/monitor.ts): engine restarts and dying or removed
  // containers. What the engine still runs is reconciled with what the sessions and the pool
  // believe; sessions whose machine vanished end as lost (410 session_gone, close 4003). One
  // reconcile at a time; events meanwhile ask for one more.
  let reconciling: Promise<void> | undefined;
  let pendingCause: 'engine-restart' | 'container-died' | undefined;
  let runningCause: 'engine-restart' | 'container-died' | undefined;
  const reconcile = (cause: 'engine-restart' | 'container-died'): void => {
    if (reconciling) {
      if (pendingCause !== 'engine-restart') pendingCause = cause;
      return;
    }
    runningCause = cause;
    reconciling = (async () => {
      try {
        const registry = await driver.reviveRegistry().catch((error: Error) => {
          log.error('the registry mirror cannot run', { error });
          return 'failed' as const;
        });
        await sessions.reconcile(cause);
        if (cause === 'engine-restart') await driver.removeUnremoved();
        // Sandboxes boot only once the mirror they must reach runs again.
        if (cause === 'engine-restart' || registry === 'started') pool.resume();
      } catch (error) {
        log.error('could not reconcile with the engine', { cause, error });
      }
    })().finally(() => {
      reconciling = undefined;
      runningCause = undefined;
      const next = pendingCause;
      pendingCause = undefined;
      if (next) reconcile(next);
    });
  };
  const monitor = new EngineMonitor(
    engine,
    {
      down: (error) => pool.suspend(`the Docker engine does not answer: ${error.message}`),
      up: () => reconcile('engine-restart'),
      // Only deaths nobody here asked for: a sandbox of ours still counted, or the mirror.
      died: ({ id, name }) => {
        // A waiting sandbox leaves the pool at once (prune drops it before its first await), so
        // it is never handed out dead while the reconcile is still to come.
        const waiting = pool.holds(id);
        if (waiting) void pool.prune(new Set(pool.waiting().map((s) => s.containerId).filter((c) => c !== id)));
        if (sessions.ownsContainer(id) || waiting || name === config.sandbox.registryContainer) reconcile('container-died');
      },
    },
    log.child({ component: 'engine' }),
  );
  await monitor.start();

  const health = async (): Promise<Health> => {
    const reasons: string[] = [];
    const outage = monitor.outage;
    try {
      if (outage) throw outage.error ?? new Error('no answer');
      await engine.ping();
    } catch (error) {
      const since = outage ? ` since ${outage.since.toISOString()}` : '';
      return { ok: false, reason: `the Docker engine at ${config.dockerHost} does not answer${since}: ${(error as Error).message}` };
    }
    if (leaseLost) reasons.push(leaseLost);
    const registry = await driver.registryRunning().catch((error: Error) => ({ running: false, state: error.message }));
    if (!registry.running) reasons.push(`the registry mirror (container ${config.sandbox.registryContainer}) is not running (${registry.state})`);
    // Only after an engine restart: one learner's machine that died leaves the rest served.
    if (runningCause === 'engine-restart' || pendingCause === 'engine-restart') reasons.push('checking which sessions survived the engine restart');
    const stats = pool.stats();
    if (pool.refillError && stats.idle === 0) reasons.push(`no sandbox can be started: ${pool.refillError.message}`);
    return reasons.length ? { ok: false, reason: reasons.join('; ') } : { ok: true };
  };

  metrics.registry.add(new Gauge('berth_engine_up', '1 while the Docker engine answers.', () => (monitor.up ? 1 : 0)));
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

  const trustProxy = compileTrust(config.http.trustProxy);
  const proxy = createPortProxy(sessions, log.child({ component: 'proxy' }), { domain: config.http.portDomain, trust: trustProxy });
  const httpLog = log.child({ component: 'http' });
  const api = await createHttpServer(
    {
      sessions,
      readiness: health,
      metrics: () => metrics.registry.render(),
      adminToken: config.adminToken,
      poolStats: () => pool.stats(),
      serveStatic: createStaticHandler(config.staticDir),
      allowedOrigins: config.http.allowedOrigins,
      trustProxy,
      log: httpLog,
    },
    // Published ports are the learner's, not the API's: they pass before fastify, unchanged. The
    // proxy is not fastify's, so a throw in it (a path that does not decode) is caught here.
    (req, res) => {
      try {
        if (!proxy.handles(req)) return false;
        proxy.http(req, res);
      } catch (error) {
        httpLog.warn('port request refused', { error: (error as Error).message });
        if (res.headersSent) res.destroy();
        else sendJson(res, 400, { error: { code: 'bad_request', message: 'The request path could not be read (malformed percent-encoding?).' } });
      }
      return true;
    },
  );
  const server = api.server;
  const terminals = createTerminalServer(sessions, log.child({ component: 'terminal' }), config.terminal);
  server.on('upgrade', (req, socket, head) => {
    try {
      (proxy.handles(req) ? proxy : terminals).upgrade(req, socket, head);
    } catch (error) {
      // A malformed upgrade (e.g. a path that does not decode) must cost that socket, not the process.
      httpLog.warn('upgrade refused', { error: (error as Error).message });
      const body = JSON.stringify({ error: { code: 'bad_request', message: 'The WebSocket request could not be read (malformed path?).' } });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
  });
  await api.ready();

  return {
    server,
    sessions,
    pool,
    monitor,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.http.port, config.http.host, () => {
          const { port } = server.address() as AddressInfo;
          resolve(`http://${config.http.host === '0.0.0.0' ? 'localhost' : config.http.host}:${port}`);
        });
      }),
    close: async () => {
      monitor.close();
      terminals.close();
      await api.close();
      await sessions.close();
      await pool.close();
      store.close();
      // Last: the next backend of this namespace may start (and recover) once it is free.
      await lease.release();
    },
  };
}
