/**
 * Keeps the backend running under `npm start`: if it dies after it had started serving (an
 * uncaught exception exits it on purpose), it is started again, after 1 s, 2 s, 4 s ... up to
 * 30 s between tries, back to 1 s once a run lasted a minute. A backend that cannot start at all
 * (bad configuration, no engine, no image) is not retried: its message is what the operator
 * needs. SIGINT/SIGTERM stop the backend cleanly and then the supervisor.
 * Usage: tsx scripts/supervise.ts [script] (default sandbox-backend/main.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const script = process.argv[2] ?? 'sandbox-backend/main.ts';
const MIN_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;
const STABLE_MS = 60_000;

const say = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg, component: 'supervisor', ...fields }) + '\n');

let child: ChildProcess | undefined;
let stopping = false;
let delay = MIN_DELAY_MS;
let everServed = false;
let restartTimer: NodeJS.Timeout | undefined;

function start(): void {
  const startedAt = Date.now();
  let served = false;
  child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (message) => {
    if (message === 'listening') served = everServed = true;
  });
  child.on('exit', (code, signal) => {
    child = undefined;
    if (stopping) process.exit(code ?? 0);
    if (!served && !everServed) {
      // Never served: a restart would fail the same way; the backend already said why.
      process.exit(code ?? 1);
    }
    const ranMs = Date.now() - startedAt;
    if (ranMs >= STABLE_MS) delay = MIN_DELAY_MS;
    say('backend exited unexpectedly; restarting', { code, signal, ranSeconds: Math.round(ranMs / 1000), restartInSeconds: delay / 1000 });
    restartTimer = setTimeout(start, delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    clearTimeout(restartTimer);
    if (!child) process.exit(0);
    child.kill(signal);
  });
}

start();
