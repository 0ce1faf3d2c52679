/**
 * `npm run dev`: the API server (restarted on change by tsx watch) on port 8081 and Vite (hot
 * reload, proxying /api and /healthz to it) on port 8080. Ctrl-C stops both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
const apiPort = process.env.BERTH_DEV_API_PORT ?? '8081';
const color = process.stdout.isTTY ? { FORCE_COLOR: '1' } : {};

interface Service {
  name: string;
  child: ChildProcess;
  exited: Promise<number>;
}

function start(name: string, tint: string, command: string, args: string[], env: Record<string, string>): Service {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...color, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, so stopping it also stops what it started (tsx watch runs a
    // node child), and so Ctrl-C reaches only this script, which then stops both in order.
    detached: true,
  });
  const prefix = process.stdout.isTTY ? `\x1b[${tint}m${name.padEnd(4)}\x1b[0m│ ` : `${name.padEnd(4)}| `;
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const) {
    if (!stream) continue;
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix}${line}\n`));
  }
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.on('error', (error) => {
      process.stderr.write(`${prefix}could not start: ${error.message}\n`);
      resolve(1);
    });
  });
  return { name, child, exited };
}

function signalGroup(service: Service, signal: NodeJS.Signals): void {
  if (service.child.pid === undefined || service.child.exitCode !== null) return;
  try {
    process.kill(-service.child.pid, signal);
  } catch {
    // Already gone.
  }
}

const services = [
  // Vite proxies only /api and /healthz, so port links go to the API server's own port hosts.
  start('api', '36', bin('tsx'), ['watch', '--clear-screen=false', 'sandbox-backend/main.ts'], { PORT: apiPort, BERTH_PORT_DOMAIN: process.env.BERTH_PORT_DOMAIN ?? `localhost:${apiPort}` }),
  start('web', '35', bin('vite'), ['--port', '8080', '--strictPort'], { BERTH_DEV_API: `http://127.0.0.1:${apiPort}` }),
];

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const service of services) signalGroup(service, 'SIGTERM');
    const timer = setTimeout(() => {
      process.stderr.write('dev: still running after 10 s, killing\n');
      for (const service of services) signalGroup(service, 'SIGKILL');
    }, 10_000);
    await Promise.all(services.map((service) => service.exited));
    clearTimeout(timer);
    process.exit(code);
  }
  return new Promise<never>(() => undefined);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
process.on('SIGHUP', () => void stop(0));

// If either one dies on its own, the other is of no use: stop it too and pass the failure on.
for (const service of services) {
  void service.exited.then((code) => {
    if (stopping) return;
    process.stderr.write(`dev: ${service.name} exited with code ${code}; stopping\n`);
    void stop(code === 0 ? 1 : code);
  });
}

process.stdout.write(`\nBerth dev: open http://localhost:8080 (API on port ${apiPort})\n\n`);
