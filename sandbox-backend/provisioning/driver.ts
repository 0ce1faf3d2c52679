/**
 * The sandbox driver: creates, inspects, enters and destroys sandbox containers through the
 * Engine API. It knows nothing of sessions or pools; callers above it decide when.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import type { Engine } from '../engine/docker.ts';
import { ExecOutputDemux } from '../engine/exec-output.ts';
import type { Logger } from '../log.ts';
import {
  LABEL_NAMESPACE,
  LABEL_ROLE,
  LABEL_SANDBOX,
  SANDBOX_ENTER,
  containerName,
  networkName,
  sandboxContainerOptions,
  sandboxLabels,
  sandboxNetworkOptions,
  volumeName,
} from './recipe.ts';
import { attachPackets, pushPackets, winchPacket } from './dtach-packets.ts';
import { randomSubnet } from './subnets.ts';
import { PUSH_CONTAINER_SUFFIX } from '../images/registry.ts';
import { SHELL_SOCKET, relayCommand, shellStartCommand } from './shell-relay.ts';

export interface DriverOptions {
  namespace: string;
  image: string;
  registryMirror: string;
  registryContainer: string;
  subnets: string;
  internet: boolean;
  memoryBytes: number;
  cpus: number;
  pids: number;
  diskBytes: number;
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
  /** The shell's output, raw TTY bytes; ends when the shell exits. Pausing it holds the shell. */
  output: Readable;
  /**
   * Keystrokes, raw bytes. False once what the shell has not taken yet passed the input
   * high-water mark: the caller stops until `onDrain` (the bytes are kept, nothing is dropped).
   */
  write(data: Uint8Array): boolean;
  /** Sets the shell's window size, in order with the keystrokes written before and after it; returns as `write`. */
  resize(cols: number, rows: number): boolean;
  /** Called whenever input held back by a false `write` or `resize` has all gone towards the shell. */
  onDrain(listener: () => void): void;
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
/** The environment of every terminal attached to a sandbox (the benchmark's floor uses it too). */
export const TERMINAL_ENV = ['TERM=xterm-256color', 'SHELL=/bin/bash', 'LANG=C.UTF-8', 'HOME=/root'];

export class SandboxDriver {
  /** Sandboxes that could not be removed when asked (the engine did not answer), by sandbox id. */
  private readonly unremoved = new Map<string, Sandbox>();

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
      await this.createNetwork(sandboxId);
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
          () =>
            reject(
              new Error(
                `it was not ready (inner dockerd answering, registry mirror reachable) within ${this.options.readyTimeoutMs} ms; last output: ${err.trim() || '(none)'}`,
              ),
            ),
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

  /**
   * The sandbox's private network, with the registry mirror attached under the mirror's host name
   * so the inner dockerd finds it there. Subnet clashes (another network took it) are retried.
   */
  private async createNetwork(sandboxId: string): Promise<void> {
    const { namespace, subnets, internet, registryMirror, registryContainer } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.engine.createNetwork(sandboxNetworkOptions({ namespace, sandboxId, subnet: randomSubnet(subnets), internet }));
        break;
      } catch (error) {
        const clash = /overlap|in use|already/i.test((error as Error).message);
        if (!clash || attempt >= 8) throw new Error(`could not create the sandbox network: ${(error as Error).message}`, { cause: error });
      }
    }
    await this.attachRegistry(sandboxId);
  }

  /**
   * Puts the registry mirror on the sandbox's network under the mirror's host name. Idempotent:
   * recovery calls it for adopted sandboxes, since a re-created registry container has lost them.
   */
  async attachRegistry(sandboxId: string): Promise<void> {
    const { namespace, registryMirror, registryContainer } = this.options;
    if (!registryMirror || !registryContainer) return;
    const network = this.engine.getNetwork(networkName(namespace, sandboxId));
    try {
      await network.connect({ Container: registryContainer, EndpointConfig: { Aliases: [new URL(registryMirror).hostname] } });
    } catch (error) {
      if (/already exists|already attached/i.test((error as Error).message)) return;
      throw new Error(`could not attach the registry mirror (container ${registryContainer}) to the sandbox network: ${(error as Error).message}. "npm start" starts it.`, { cause: error });
    }
  }

  /**
   * Starts the registry mirror (and its push twin, when there is one) if it is not running: after
   * an engine restart without live-restore, a host reboot or a `docker kill`. A stopped container
   * keeps its place on networks removed meanwhile (sandbox networks of sessions that ended), and
   * the engine refuses to start it until it forgets them. Networks that still exist keep it, so
   * live sandboxes find it again under its alias.
   * Resolves to what it did; rejects with the engine's reason when the mirror cannot run.
   */
  async reviveRegistry(): Promise<'none' | 'running' | 'started'> {
    const { registryMirror, registryContainer } = this.options;
    if (!registryMirror || !registryContainer) return 'none';
    const started = await this.reviveContainer(registryContainer);
    if (started === 'missing') throw new Error(`the container ${registryContainer} does not exist; "npm start" (or npm run images) creates it`);
    // The twin only takes pushes (npm run images; a deployment may have none): no outage if it fails.
    await this.reviveContainer(`${registryContainer}${PUSH_CONTAINER_SUFFIX}`).catch((error: unknown) =>
      this.log.warn('could not start the registry for pushes', { error }),
    );
    return started ? 'started' : 'running';
  }

  /** Whether the registry mirror runs (true when none is configured). */
  async registryRunning(): Promise<{ running: boolean; state: string }> {
    const { registryMirror, registryContainer } = this.options;
    if (!registryMirror || !registryContainer) return { running: true, state: 'none configured' };
    const info = await unlessMissing(this.engine.getContainer(registryContainer).inspect());
    if (!info) return { running: false, state: 'missing' };
    return { running: info.State.Running && !info.State.Restarting, state: info.State.Status };
  }

  /** Starts a stopped container after dropping it from networks that are gone; false if it ran already. */
  private async reviveContainer(name: string): Promise<boolean | 'missing'> {
    const container = this.engine.getContainer(name);
    const info = await unlessMissing(container.inspect());
    if (!info) return 'missing';
    if (info.State.Running && !info.State.Restarting) return false;
    const networks = Object.entries(info.NetworkSettings.Networks ?? {});
    const gone: string[] = [];
    for (const [network, endpoint] of networks) {
      if (await unlessMissing(this.engine.getNetwork(endpoint.NetworkID || network).inspect())) continue;
      gone.push(network);
      // The engine forgets a missing network's endpoint only when forced.
      await ignoreMissing(this.engine.getNetwork(network).disconnect({ Container: name, Force: true }));
    }
    this.log.warn('starting a stopped registry container', { container: name, was: info.State.Status, goneNetworks: gone });
    try {
      await container.start();
    } catch (error) {
      // Someone else (a restart policy, another backend) started it meanwhile.
      if (statusOf(error) !== 304) throw new Error(`could not start ${name}: ${(error as Error).message}`, { cause: error });
    }
    return true;
  }

  /**
   * Moves a sandbox onto another sandbox's network (a session's first node holds the session's
   * network) as `name`, and gives it that identity: hostname, and an /etc/hosts entry for its new
   * address (Docker wrote the old one under the pool's default name).
   */
  async joinNetwork(sandbox: Sandbox, hostSandboxId: string, name: string): Promise<void> {
    const { namespace } = this.options;
    const target = this.engine.getNetwork(networkName(namespace, hostSandboxId));
    await target.connect({ Container: sandbox.containerId, EndpointConfig: { Aliases: [name] } });
    await this.engine.getNetwork(networkName(namespace, sandbox.sandboxId)).disconnect({ Container: sandbox.containerId, Force: true });
    await this.removeNetwork(networkName(namespace, sandbox.sandboxId));
    const info = await this.engine.getContainer(sandbox.containerId).inspect();
    const address = info.NetworkSettings.Networks[networkName(namespace, hostSandboxId)]?.IPAddress;
    if (!address) throw new Error(`${name} has no address on the session network`);
    const rename = [
      'hostname "$1"',
      // The shell started in the pool shows the old name in its prompt: start it afresh. The old
      // dtach master unlinks its socket path as it exits, so it must be gone before the new one
      // binds there, or it takes the new socket with it (seen: a blank terminal on a new node).
      'pkill -f "^berth-shell " 2>/dev/null',
      'for _ in $(seq 100); do pgrep -f "^berth-shell " >/dev/null || break; sleep 0.02; done',
      `pkill -KILL -f "^berth-shell " 2>/dev/null; rm -f ${SHELL_SOCKET}`,
      `(env TERM=xterm-256color HOME=/root SHELL=/bin/bash LANG=C.UTF-8 bash -c '${shellStartCommand()}')`,
      // /etc/hosts is Docker's bind mount: rewrite it in place, never replace the file.
      'hosts=$(grep -v -E "[[:space:]]node[0-9]+$" /etc/hosts); printf "%s\n%s\t%s\n" "$hosts" "$2" "$1" > /etc/hosts',
    ].join('; ');
    // Seconds normally; far more on an overloaded host, where giving up costs a whole new sandbox.
    const result = await this.exec(sandbox.containerId, ['bash', '-c', rename, 'berth-rename', name, address], 60_000);
    if (result.exitCode !== 0) throw new Error(`could not name the sandbox ${name} (exit code ${result.exitCode}${result.exitCode === 124 ? ': timed out' : ''}): ${result.output.trim() || '(no output)'}`);
  }

  /** Removes the container, its network and its volume. Already gone is fine. */
  async destroy(sandbox: Sandbox): Promise<void> {
    const { namespace } = this.options;
    const container = this.engine.getContainer(sandbox.containerId);
    try {
      await ignoreMissing(container.remove({ force: true, v: true })).catch(async (error: unknown) => {
        // Someone else is removing it already (by hand): its volume is free once that is done.
        if (!(statusOf(error) === 409 && /already in progress/.test((error as Error).message))) throw error;
        await ignoreMissing(container.wait({ condition: 'removed' }));
      });
      await this.removeNetwork(networkName(namespace, sandbox.sandboxId));
      await ignoreMissing(this.engine.getVolume(volumeName(namespace, sandbox.sandboxId)).remove());
    } catch (error) {
      // With live-restore a sandbox outlives the engine's absence: it is removed once it is back.
      this.unremoved.set(sandbox.sandboxId, sandbox);
      throw error;
    }
    this.unremoved.delete(sandbox.sandboxId);
    this.log.info('sandbox removed', { sandboxId: sandbox.sandboxId });
  }

  /** Removes sandboxes whose removal failed (the engine was away); resolves to how many are gone now. */
  async removeUnremoved(): Promise<number> {
    const pending = [...this.unremoved.values()];
    const results = await Promise.allSettled(pending.map((sandbox) => this.destroy(sandbox)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /** A network is removable only once nothing is attached: the registry leaves first. */
  private async removeNetwork(name: string): Promise<void> {
    const network = this.engine.getNetwork(name);
    const info = await unlessMissing(network.inspect());
    if (!info) return;
    const attached = Object.keys((info as { Containers?: Record<string, unknown> }).Containers ?? {});
    await Promise.all(attached.map((container) => ignoreMissing(network.disconnect({ Container: container, Force: true }))));
    await ignoreMissing(network.remove());
  }

  /**
   * Brings the sandbox's network plumbing up to date (berth-plumb, which berth-enter runs before
   * any command): after an engine restart its DNS forward still points at the old resolver.
   */
  async refreshNetwork(containerId: string): Promise<void> {
    const result = await this.exec(containerId, ['true'], 10_000);
    if (result.exitCode !== 0) throw new Error(`the sandbox's network could not be refreshed: ${result.output.trim() || `exit code ${result.exitCode}`}`);
  }

  /** Runs a command to completion; stdout and stderr interleaved, the tail kept. */
  async exec(containerId: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const exec = await this.engine.getContainer(containerId).exec({
      // Learner input runs only in the sandbox's inner world: SANDBOX_ENTER takes it there.
      // One pipe for both streams keeps them in the order written (the engine copies two pipes
      // concurrently); `timeout` exits 124 when it had to stop the command, as the API promises.
      Cmd: [SANDBOX_ENTER, 'sh', '-c', `exec timeout -k 5 ${seconds} "$@" 2>&1`, 'berth-exec', ...cmd],
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
   * Attaches to the sandbox's persistent shell, a login bash under dtach (started here if it is
   * missing). dtach relays the shell's bytes unchanged, so nothing that scrolls by is lost, and
   * the shell outlives this attachment and the backend.
   *
   * The exec has no TTY: a relay inside (shell-relay.ts) joins its stdio to dtach's socket, and
   * this side speaks dtach's packets (dtach-packets.ts). The shell's output crosses one pty, not
   * two, and a resize travels in the same byte stream as the keystrokes around it, so it cannot
   * overtake or trail them. One attachment per sandbox is the rule (the backend fans it out):
   * dtach hands output only to the clients that can take it at that moment, so beside a faster
   * client, one paused by flow control would miss output.
   */
  async openTerminal(containerId: string, size: { cols: number; rows: number }): Promise<Terminal> {
    const log = this.log.child({ containerId });
    const exec = await this.engine.getContainer(containerId).exec({
      Cmd: [SANDBOX_ENTER, ...relayCommand()],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Env: TERMINAL_ENV,
      WorkingDir: '/root',
    });
    const socket = (await exec.start({ hijack: true, stdin: true })) as unknown as Duplex & { setNoDelay?(noDelay: boolean): void };
    // Keystrokes are 10-byte writes: on a TCP engine connection, Nagle would hold each behind the last.
    socket.setNoDelay?.(true);
    // The relay's complaints (no shell, no socket) reach the screen, as a TTY would show them.
    const output = new ExecOutputDemux({
      mergeStderr: true,
      onStderr: (chunk) => log.warn('terminal relay said', { text: chunk.toString('utf8').trim().slice(0, 500) }),
    });
    let closed = false;
    socket.pipe(output);
    socket.on('error', (error: Error) => {
      log.debug('terminal connection failed', { error });
      output.end();
    });
    socket.on('end', () => log.debug('terminal exec ended', { closed }));
    // ATTACH, and a redraw at this size, before anything typed.
    socket.write(attachPackets(size));
    return {
      output,
      write: (data) => {
        if (!closed && data.length) socket.write(pushPackets(data));
        return closed || !socket.writableNeedDrain;
      },
      resize: (cols, rows) => {
        if (!closed) socket.write(winchPacket({ cols, rows }));
        return closed || !socket.writableNeedDrain;
      },
      // The socket's own high-water mark (16-64 KiB): a typing burst fits, a paste into a shell
      // that does not read waits in the browser instead of piling up here.
      onDrain: (listener) => socket.on('drain', listener),
      close: async () => {
        if (closed) return;
        closed = true;
        // Ending stdin makes the relay detach and exit; what it still sends is nobody's. Output
        // held by flow control would keep the relay from reading its end, hence the resume.
        socket.unpipe(output);
        output.end();
        socket.resume();
        socket.end();
        const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        const timer = setTimeout(() => socket.destroy(), 5_000);
        await ended;
        clearTimeout(timer);
      },
    };
  }

  /**
   * Follows the sandbox's listening ports, reported by its berth-ports watcher as
   * "BERTH-PORTS 80 8080" lines on the container's output. The history is read first, so the
   * current set is known at once. Returns a function that stops following.
   */
  async watchPorts(containerId: string, onPorts: (ports: number[]) => void): Promise<() => void> {
    const raw = (await this.engine
      .getContainer(containerId)
      .attach({ stream: true, stdout: true, stderr: false, logs: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
    const stdout = new PassThrough();
    this.engine.modem.demuxStream(raw, stdout, new PassThrough());
    let pending = '';
    stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^BERTH-PORTS ?(.*)$/.exec(line.trim());
        if (match) onPorts((match[1] ?? '').split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 0 && p < 65536));
      }
    });
    raw.on('error', (error: Error) => this.log.debug('port watch ended', { containerId, error }));
    return () => raw.destroy();
  }

  /** The sandbox's address on its (or its session's) network: where published ports are reached. */
  async address(containerId: string): Promise<string | undefined> {
    const info = await this.engine.getContainer(containerId).inspect();
    const networks = Object.values(info.NetworkSettings.Networks ?? {});
    return networks.find((n) => n.IPAddress)?.IPAddress;
  }

  /**
   * Whether a sandbox's container runs; false when it is gone or dying. Rejects when the engine
   * does not answer. Right after a kill the engine may still report the container running (it
   * has not processed the exit yet) while nothing in it can run: a trivial exec tells, and once
   * it fails the engine's own wait says when the container has stopped.
   */
  async running(containerId: string): Promise<boolean> {
    const container = this.engine.getContainer(containerId);
    const info = await unlessMissing(container.inspect());
    if (!info?.State.Running) return false;
    try {
      const probe = await container.exec({ Cmd: ['true'], AttachStdout: false, AttachStderr: false });
      await probe.start({ Detach: true });
      return true;
    } catch (error) {
      if (statusOf(error) === undefined) throw error;
      // An exec can also fail in a running sandbox (its process limit reached): then it runs on.
      const stopped = unlessMissing(container.wait({ condition: 'not-running' })).then(() => true);
      const timeout = new Promise<false>((resolve) => setTimeout(resolve, 10_000, false).unref());
      return !(await Promise.race([stopped, timeout]));
    }
  }

  /**
   * Waits until a node, from inside its inner world, reaches each of `peers` by name on its
   * session network and the registry mirror: what a learner's first `ping node1` or `docker pull`
   * needs. Polled in the sandbox (no round trip per try) and bounded; the error says what was not
   * reachable.
   */
  async waitReachable(containerId: string, peers: string[], timeoutMs: number): Promise<void> {
    const mirror = this.options.registryMirror ? `${this.options.registryMirror.replace(/\/$/, '')}/v2/` : '';
    const script = [
      'deadline=$(($(date +%s) + $1)); mirror=$2; shift 2',
      'while :; do',
      '  missing=""',
      '  for peer in "$@"; do ping -c1 -W1 "$peer" >/dev/null 2>&1 || missing="$missing $peer"; done',
      '  if [ -n "$mirror" ] && ! curl -sf -m 2 -o /dev/null "$mirror"; then missing="$missing registry-mirror"; fi',
      '  [ -z "$missing" ] && exit 0',
      '  [ "$(date +%s)" -lt "$deadline" ] || { echo "unreachable:$missing"; exit 1; }',
      '  sleep 0.1',
      'done',
    ].join('\n');
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const result = await this.exec(containerId, ['sh', '-c', script, 'berth-probe', String(seconds), mirror, ...peers], timeoutMs + 10_000);
    if (result.exitCode !== 0) {
      throw new SandboxError(`it could not reach its session within ${seconds} s (${result.output.trim() || `exit code ${result.exitCode}`})`);
    }
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

  /** Removes volumes and networks of this namespace whose sandbox is not live (left by a crash). */
  async removeOrphans(liveSandboxIds: Set<string>): Promise<{ volumes: number; networks: number }> {
    const filters = { label: [`${LABEL_NAMESPACE}=${this.options.namespace}`] };
    const orphan = (labels: Record<string, string> | undefined | null) => !liveSandboxIds.has(labels?.[LABEL_SANDBOX] ?? '');
    const { Volumes } = await this.engine.listVolumes({ filters });
    const volumes = (Volumes ?? []).filter((v) => orphan(v.Labels));
    await Promise.all(volumes.map((v) => ignoreMissing(this.engine.getVolume(v.Name).remove())));
    const networks = (await this.engine.listNetworks({ filters })).filter((n) => orphan(n.Labels));
    await Promise.all(networks.map((n) => this.removeNetwork(n.Name)));
    return { volumes: volumes.length, networks: networks.length };
  }
}

/** The engine's answer, or undefined when the object does not exist. */
async function unlessMissing<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

async function ignoreMissing(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
}

export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}
