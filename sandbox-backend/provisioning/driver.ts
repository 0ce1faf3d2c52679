/**
 * The sandbox driver: creates, inspects, enters and destroys sandbox containers through the
 * Engine API. It knows nothing of sessions or pools; callers above it decide when.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, type Duplex } from 'node:stream';
import type { Engine } from '../engine/docker.ts';
import type { Logger } from '../log.ts';
import {
  LABEL_NAMESPACE,
  LABEL_ROLE,
  LABEL_SANDBOX,
  containerName,
  sandboxContainerOptions,
  sandboxLabels,
  volumeName,
} from './recipe.ts';

export interface DriverOptions {
  namespace: string;
  image: string;
  network: string;
  registryMirror: string;
  memoryBytes: number;
  cpus: number;
  pids: number;
  readyTimeoutMs: number;
}

export interface Sandbox {
  sandboxId: string;
  containerId: string;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

export interface Terminal {
  /** Raw TTY bytes both ways. */
  stream: Duplex;
  resize(cols: number, rows: number): Promise<void>;
  /** Detaches this client; the shell and everything in it keep running in the sandbox. */
  close(): Promise<void>;
}

export interface SandboxListing extends Sandbox {
  running: boolean;
}

export class SandboxError extends Error {
  override name = 'SandboxError';
}

/** Exec output kept for the API: the tail, so the end of a long build log survives. */
const EXEC_OUTPUT_LIMIT = 1024 * 1024;
/** The persistent terminal session inside each sandbox. */
const TMUX_SESSION = 'berth';

export class SandboxDriver {
  constructor(
    private readonly engine: Engine,
    private readonly options: DriverOptions,
    private readonly log: Logger,
  ) {}

  /** Starts a sandbox and resolves once its inner dockerd answers. */
  async create(hostname = 'node1'): Promise<Sandbox> {
    const sandboxId = `sbx-${randomBytes(6).toString('hex')}`;
    const { namespace } = this.options;
    const started = performance.now();
    let containerId: string | undefined;
    try {
      await this.engine.createVolume({ Name: volumeName(namespace, sandboxId), Labels: sandboxLabels(namespace, sandboxId) });
      const container = await this.engine.createContainer(
        sandboxContainerOptions({ ...this.options, sandboxId, hostname }),
      );
      containerId = container.id;
      // Follow the log before starting so the readiness line cannot be missed.
      const ready = this.waitReady(containerId, sandboxId);
      await container.start();
      await ready;
      this.log.info('sandbox ready', { sandboxId, containerId, ms: Math.round(performance.now() - started) });
      return { sandboxId, containerId };
    } catch (error) {
      const postMortem = containerId ? await this.postMortem(containerId) : '';
      await this.destroy({ sandboxId, containerId: containerId ?? containerName(namespace, sandboxId) }).catch(() => {});
      throw new SandboxError(`Could not start a sandbox from image ${this.options.image}: ${(error as Error).message}${postMortem}`, {
        cause: error,
      });
    }
  }

  private async waitReady(containerId: string, sandboxId: string): Promise<void> {
    const container = this.engine.getContainer(containerId);
    // Attaching (unlike following logs) works on a created, not yet started, container.
    const raw = (await container.attach({ stream: true, stdout: true, stderr: true, logs: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.engine.modem.demuxStream(raw, stdout, stderr);
    let out = '';
    let err = '';
    stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`its inner dockerd did not answer within ${this.options.readyTimeoutMs} ms; last output: ${err.trim() || '(none)'}`)),
          this.options.readyTimeoutMs,
        );
        stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('BERTH-READY')) {
            clearTimeout(timer);
            resolve();
          }
        });
        raw.on('end', () => {
          clearTimeout(timer);
          reject(new Error(`sandbox ${sandboxId} exited while starting: ${err.trim() || out.trim() || '(no output)'}`));
        });
        raw.on('error', (error: Error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    } finally {
      raw.destroy();
    }
  }

  /** The state and last log lines of a sandbox that failed to start, for the error message. */
  private async postMortem(containerId: string): Promise<string> {
    try {
      const container = this.engine.getContainer(containerId);
      const { State } = await container.inspect();
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 15 })) as unknown as Buffer;
      // Strip the 8-byte stream headers of the multiplexed log format.
      const text = logs.toString('utf8').replace(/[\x00-\x08][\x00-\x1f]{3}[\s\S]{4}/g, '').trim();
      return ` [container ${State.Status}, exit code ${State.ExitCode}${State.OOMKilled ? ', killed for memory' : ''}${State.Error ? `, ${State.Error}` : ''}; log: ${text || '(empty)'}]`;
    } catch {
      return '';
    }
  }

  /** Removes the container and its volume. Already gone is fine. */
  async destroy(sandbox: Sandbox): Promise<void> {
    const { namespace } = this.options;
    try {
      await this.engine.getContainer(sandbox.containerId).remove({ force: true, v: true });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    try {
      await this.engine.getVolume(volumeName(namespace, sandbox.sandboxId)).remove();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    this.log.info('sandbox removed', { sandboxId: sandbox.sandboxId });
  }

  /** Runs a command to completion; stdout and stderr interleaved, the tail kept. */
  async exec(containerId: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const exec = await this.engine.getContainer(containerId).exec({
      // One pipe for both streams keeps them in the order written (the engine copies two pipes
      // concurrently); `timeout` exits 124 when it had to stop the command, as the API promises.
      Cmd: ['sh', '-c', `exec timeout -k 5 ${seconds} "$@" 2>&1`, 'berth-exec', ...cmd],
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      WorkingDir: '/root',
    });
    const raw = (await exec.start({ hijack: true, stdin: false })) as unknown as NodeJS.ReadableStream;
    let output = '';
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > EXEC_OUTPUT_LIMIT * 2) output = output.slice(-EXEC_OUTPUT_LIMIT);
    });
    this.engine.modem.demuxStream(raw, sink, sink);
    await new Promise<void>((resolve, reject) => {
      raw.on('end', resolve);
      raw.on('error', reject);
    });
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: output.slice(-EXEC_OUTPUT_LIMIT) };
  }

  /**
   * Attaches a new client to the sandbox's persistent tmux session (creating it on first use).
   * The initial size is set inside the exec, before tmux reads it: a resize call right after
   * start can arrive before the process exists and be lost.
   */
  async openTerminal(containerId: string, size: { cols: number; rows: number }): Promise<Terminal> {
    const container = this.engine.getContainer(containerId);
    // Tags this client's process so that close() can end exactly it and not the shell.
    const clientTag = `berth-term-${randomBytes(6).toString('hex')}`;
    const script = [
      'stty rows "$1" cols "$2" 2>/dev/null',
      `tmux has-session -t ${TMUX_SESSION} 2>/dev/null || tmux new-session -d -s ${TMUX_SESSION} -c /root -x "$2" -y "$1"`,
      `exec -a "$3" tmux attach-session -t ${TMUX_SESSION}`,
    ].join('; ');
    const exec = await container.exec({
      Cmd: ['bash', '-c', script, 'berth-terminal', String(size.rows), String(size.cols), clientTag],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      Env: ['TERM=xterm-256color', 'SHELL=/bin/bash', 'LANG=C.UTF-8', 'HOME=/root'],
      WorkingDir: '/root',
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as unknown as Duplex;
    let closed = false;
    return {
      stream,
      resize: async (cols, rows) => {
        if (closed) return;
        await exec.resize({ w: cols, h: rows }).catch((error: unknown) => {
          this.log.debug('terminal resize failed', { containerId, error });
        });
      },
      close: async () => {
        if (closed) return;
        closed = true;
        stream.destroy();
        // Dropping the attach connection does not end the process inside; end it by its tag.
        await this.exec(containerId, ['pkill', '-HUP', '-f', `^${clientTag}`], 10_000).catch((error: unknown) => {
          this.log.debug('terminal client cleanup failed', { containerId, error });
        });
      },
    };
  }

  /** Every sandbox of this namespace the engine has, running or not. */
  async list(): Promise<SandboxListing[]> {
    const containers = await this.engine.listContainers({
      all: true,
      filters: { label: [`${LABEL_NAMESPACE}=${this.options.namespace}`, `${LABEL_ROLE}=sandbox`] },
    });
    return containers.map((c) => ({
      sandboxId: c.Labels[LABEL_SANDBOX] ?? '',
      containerId: c.Id,
      running: c.State === 'running',
    }));
  }

  /** Volumes of this namespace whose sandbox container is gone (left by a crash). */
  async orphanVolumes(liveSandboxIds: Set<string>): Promise<string[]> {
    const { Volumes } = await this.engine.listVolumes({
      filters: { label: [`${LABEL_NAMESPACE}=${this.options.namespace}`] },
    });
    return (Volumes ?? [])
      .filter((v) => !liveSandboxIds.has(v.Labels?.[LABEL_SANDBOX] ?? ''))
      .map((v) => v.Name);
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.engine.getVolume(name).remove();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}
