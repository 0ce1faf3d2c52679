/** Starts relay-child.ts (the bare WebSocket hop) in a process of its own. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const entry = fileURLToPath(new URL('./relay-child.ts', import.meta.url));

export interface Relay {
  url: string;
  terminalUrl(containerId: string): string;
  stop(): Promise<void>;
}

export async function startRelay(env: Record<string, string>, timeoutMs = 60_000): Promise<Relay> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay did not start within ${timeoutMs} ms`)), timeoutMs);
      child.on('message', (message: { op?: string; url?: string }) => {
        if (message.op === 'ready' && message.url) {
          clearTimeout(timer);
          resolve(message.url);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`relay exited while starting (code ${code})`));
      });
    });
    return {
      url,
      terminalUrl: (containerId) => `${url.replace(/^http/, 'ws')}/?container=${encodeURIComponent(containerId)}`,
      stop: async () => {
        if (child.connected) child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}
