/**
 * A real backend (createApp, the same wiring as main.ts) in a process of its own, so that its
 * RSS is its own and it does not share an event loop with the bench's clients, as in a
 * deployment. The parent (backend-process.ts) asks it over the IPC channel for what the HTTP API
 * does not expose: pool state, a session's container, and memory after a full GC.
 */
import { createApp } from '../../sandbox-backend/app.ts';
import { loadConfig } from '../../sandbox-backend/config.ts';
import { createLogger } from '../../sandbox-backend/log.ts';

export type ChildRequest =
  | { id: number; op: 'filled' }
  | { id: number; op: 'stats' }
  | { id: number; op: 'memory'; gc?: boolean }
  | { id: number; op: 'container'; sessionId: string }
  | { id: number; op: 'close' };

export type ChildMessage =
  | { op: 'ready'; url: string; pid: number }
  | { op: 'failed'; error: string }
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };

const send = (message: ChildMessage) => process.send?.(message);

async function main(): Promise<void> {
  if (!process.send) throw new Error('backend-child.ts is started by the bench (with an IPC channel), not by hand');
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, { service: 'berth-bench' });
  const app = await createApp(config, log);
  const url = await app.listen();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());

  const memory = (gc: boolean) => {
    // Both figures after a full collection: otherwise the delta per session measures when V8
    // last happened to collect rather than what sessions hold. The soak's timeline samples
    // without one, since a forced collection would stall the terminals it is timing.
    if (gc) (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
  };

  process.on('message', (request: ChildRequest) => {
    const answer = async (): Promise<unknown> => {
      switch (request.op) {
        case 'filled':
          await app.pool.whenFilled();
          return app.pool.stats();
        case 'stats':
          return app.pool.stats();
        case 'memory':
          return memory(request.gc ?? true);
        case 'container':
          return app.sessions.instance(request.sessionId, 'node1').containerId;
        case 'close':
          await close();
          return null;
      }
    };
    answer().then(
      (value) => send({ id: request.id, ok: true, value }),
      (error: unknown) => send({ id: request.id, ok: false, error: (error as Error).message }),
    );
  });
  // The bench died or let go: stop the pool rather than leave a backend (and sandboxes) behind.
  process.on('disconnect', () => {
    void close().finally(() => process.exit(0));
  });
  send({ op: 'ready', url, pid: process.pid });
}

main().catch((error: unknown) => {
  send({ op: 'failed', error: (error as Error).stack ?? String(error) });
  process.exitCode = 1;
  process.disconnect?.();
});
