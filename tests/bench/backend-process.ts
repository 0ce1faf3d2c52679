/**
 * The bench's side of backend-child.ts: starts a backend in a child process with its own
 * namespace and data directory, and talks to it over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolStats } from '../../sandbox-backend/scheduling/pool.ts';
import type { ChildMessage, ChildRequest } from './backend-child.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const childEntry = fileURLToPath(new URL('./backend-child.ts', import.meta.url));

export interface ChildMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

export class BackendProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly pid: number,
    readonly namespace: string,
    private readonly dataDir: string,
  ) {
    child.on('message', (message: ChildMessage) => {
      if (!('id' in message)) return;
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(`backend: ${message.error}`));
    });
    this.exit = new Promise((resolve) => {
      const onExit = (code: number | null, signal: string | null) => {
        this.exited = true;
        for (const waiter of this.pending.values()) waiter.reject(new Error(`backend exited (code ${code}, signal ${signal})`));
        this.pending.clear();
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once('exit', onExit);
    });
  }

  /** Starts a backend; `env` are backend settings (BERTH_POOL_IDLE, ...) on top of the defaults. */
  static async start(namespace: string, env: Record<string, string>, logLevel: string, timeoutMs = 180_000): Promise<BackendProcess> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
    // node itself (not the tsx wrapper, which would be a second process) so the pid is the backend.
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', childEntry], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        BERTH_NAMESPACE: namespace,
        BERTH_DATA_DIR: dataDir,
        BERTH_LOG_LEVEL: logLevel,
        // Every simulated learner comes from this one address.
        BERTH_ADDRESS_MAX_SESSIONS: '100000',
        BERTH_ADDRESS_SESSIONS_PER_MINUTE: '100000',
        ...env,
      },
    });
    try {
      const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`backend did not start within ${timeoutMs} ms`)), timeoutMs);
        child.on('message', (message: ChildMessage) => {
          if ('op' in message && message.op === 'ready') {
            clearTimeout(timer);
            resolve(message);
          } else if ('op' in message && message.op === 'failed') {
            clearTimeout(timer);
            reject(new Error(`backend failed to start: ${message.error}`));
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`backend exited while starting (code ${code})`));
        });
      });
      return new BackendProcess(child, ready.url, ready.pid, namespace, dataDir);
    } catch (error) {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  private request<T>(message: Distribute<ChildRequest>, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error('backend is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`backend did not answer "${message.op}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ ...message, id } as ChildRequest);
    });
  }

  /** Resolves once the warm pool holds its idle target (nothing is booting in the background). */
  whenFilled(timeoutMs = 180_000): Promise<PoolStats> {
    return this.request({ op: 'filled' }, timeoutMs);
  }

  stats(): Promise<PoolStats> {
    return this.request({ op: 'stats' }, 10_000);
  }

  /** After a full GC unless `gc` is false (a collection pauses the backend's event loop). */
  memory(gc = true): Promise<ChildMemory> {
    return this.request({ op: 'memory', gc }, 30_000);
  }

  containerOf(sessionId: string): Promise<string> {
    return this.request({ op: 'container', sessionId }, 10_000);
  }

  /** Stops the backend (its idle sandboxes go with it); sandboxes of open sessions are the caller's to remove. */
  async stop(): Promise<void> {
    if (!this.exited) {
      await this.request({ op: 'close' }, 120_000).catch(() => {});
      // Letting go of the IPC channel is what makes the child exit (see backend-child.ts).
      if (this.child.connected) this.child.disconnect();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await this.exit;
      clearTimeout(timer);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Last resort on an interrupted run: no graceful close, the caller sweeps the namespace. */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
