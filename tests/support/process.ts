/**
 * The real entry point in a child process, as `npm start` runs it: for tests that kill a backend
 * the hard way or watch it refuse to start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { waitFor } from './backend.ts';

export interface BackendProcess {
  child: ChildProcess;
  url: string;
  /** The tail of its stderr (JSON log lines and the start-up message). */
  log(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | NodeJS.Signals>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Spawns `sandbox-backend/main.ts`; does not wait for it to answer (see `answering`). */
export async function spawnBackend(env: Record<string, string>, port?: number): Promise<BackendProcess> {
  const listen = port ?? (await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox-backend/main.ts'], {
    env: { ...process.env, PORT: String(listen), HOST: '127.0.0.1', BERTH_POOL_IDLE: '0', BERTH_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000)));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  return { child, url: `http://127.0.0.1:${listen}`, log: () => log, exited };
}

/** Waits until the backend answers /healthz, or fails with its log if it exited first. */
export async function answering(backend: BackendProcess, timeoutMs = 60_000): Promise<string> {
  let ended = false;
  void backend.exited.then(() => (ended = true));
  const outcome = await waitFor(
    'the backend to answer',
    async () => (ended ? 'exited' : (await fetch(`${backend.url}/healthz`).catch(() => undefined))?.ok && 'answering'),
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- log ---\n${backend.log()}`);
  });
  if (outcome === 'exited') throw new Error(`the backend exited while starting:\n${backend.log()}`);
  return backend.url;
}
