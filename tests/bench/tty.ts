/**
 * Two ways into the same terminal, behind one interface so that every measurement treats them
 * identically: through the backend's WebSocket, and straight to the engine with a TTY exec.
 *
 * Matching is event-driven on each chunk as it arrives (no polling interval), because the test
 * harness's 50 ms poll would dwarf the millisecond latencies measured here. Only a short tail of
 * the stream is kept and scanned, so a 50 MB flood costs the client the same on both paths.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import WebSocket from 'ws';
import type { Terminal } from '../../sandbox-backend/provisioning/driver.ts';
import { TERMINAL_ENV } from '../../sandbox-backend/provisioning/driver.ts';
import { SHELL_SOCKET } from '../../sandbox-backend/provisioning/shell-relay.ts';
import { execText } from './engine.ts';

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/PM/APC strings, charset selection, and
// the remaining two-byte escapes. tmux emits all of these while redrawing.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[()*+][0-~]|\x1b[ -/]*[0-~]/g;

/** Terminal output with its escape sequences removed; an unterminated trailing escape is left. */
export function stripEscapes(text: string): string {
  return text.replace(ESCAPES, '');
}

export interface TtyChannel {
  readonly kind: 'backend' | 'direct' | 'driver' | 'relay';
  write(data: string | Buffer): void;
  /** Called for every chunk of terminal output; returns an unsubscribe. */
  onData(listener: (chunk: Buffer) => void): () => void;
  readonly bytesReceived: number;
  close(): Promise<void>;
}

/**
 * Resolves when `pattern` shows up in the output after this call (escape sequences ignored), or
 * rejects after `timeoutMs` with the tail of what was seen.
 */
export function waitForOutput(
  channel: TtyChannel,
  pattern: string | RegExp,
  timeoutMs: number,
  options: { window?: number; onChunk?: (chunk: Buffer) => void } = {},
): Promise<number> {
  const window = options.window ?? 4096;
  let tail = '';
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(pattern)} in the ${channel.kind} terminal within ${timeoutMs} ms; last output: ${JSON.stringify(stripEscapes(tail).slice(-300))}`));
    }, timeoutMs);
    const off = channel.onData((chunk) => {
      options.onChunk?.(chunk);
      // latin1 keeps one char per byte, so slicing can never split a character into garbage.
      tail = (tail + chunk.toString('latin1')).slice(-window);
      const text = stripEscapes(tail);
      if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) {
        const at = performance.now();
        clearTimeout(timer);
        off();
        resolve(at);
      }
    });
  });
}

class Listeners {
  private readonly set = new Set<(chunk: Buffer) => void>();
  received = 0;
  add(listener: (chunk: Buffer) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }
  emit(chunk: Buffer): void {
    this.received += chunk.length;
    for (const listener of [...this.set]) listener(chunk);
  }
}

export interface BackendTerminal extends TtyChannel {
  ws: WebSocket;
  /** performance.now() of the first binary frame, if one has arrived. */
  firstByteAt: number | undefined;
  /** performance.now() of the `session` control message. */
  sessionAt: number | undefined;
}

export function terminalUrl(base: string, sessionId: string, size: { cols: number; rows: number }): string {
  return `${base.replace(/^http/, 'ws')}/api/sessions/${encodeURIComponent(sessionId)}/instances/node1/terminal?cols=${size.cols}&rows=${size.rows}`;
}

/** Opens the backend's terminal WebSocket; resolves on the upgrade, before any output. */
export function openBackendTerminal(base: string, sessionId: string, size: { cols: number; rows: number }, timeoutMs = 30_000): Promise<BackendTerminal> {
  return openWsTerminal(terminalUrl(base, sessionId, size), 'backend', timeoutMs);
}

/** A terminal WebSocket speaking the backend's protocol (binary frames are TTY bytes), at any URL. */
export function openWsTerminal(url: string, kind: 'backend' | 'relay', timeoutMs = 30_000): Promise<BackendTerminal> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const listeners = new Listeners();
  const self: BackendTerminal = {
    kind,
    ws,
    firstByteAt: undefined,
    sessionAt: undefined,
    write: (data) => ws.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true }),
    onData: (listener) => listeners.add(listener),
    get bytesReceived() {
      return listeners.received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
        // A server that never completes the closing handshake must not hang the bench.
        setTimeout(() => ws.terminate(), 5_000).unref();
      }),
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      self.firstByteAt ??= performance.now();
      listeners.emit(data);
    } else {
      const message = JSON.parse(data.toString()) as { type: string };
      if (message.type === 'session') self.sessionAt ??= performance.now();
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`terminal WebSocket did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(self);
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`terminal upgrade refused with HTTP ${res.statusCode}`));
    });
  });
}

export interface DirectTerminal extends TtyChannel {
  /** Milliseconds spent in exec create and in exec start (the hijack). */
  createMs: number;
  startMs: number;
  firstByteAt: number | undefined;
}

/**
 * Runs `cmd` in the container with a TTY and attaches to it over the Engine API: the path the
 * backend itself takes to the engine, without the backend in between.
 */
export async function openDirectTerminal(
  engine: Docker,
  containerId: string,
  cmd: string[],
): Promise<DirectTerminal> {
  const container = engine.getContainer(containerId);
  const t0 = performance.now();
  const exec = await container.exec({
    Cmd: cmd,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    // The environment the backend gives its terminals, so the shells start the same way.
    Env: TERMINAL_ENV,
    WorkingDir: '/root',
  });
  const t1 = performance.now();
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as unknown as Duplex;
  const t2 = performance.now();
  const listeners = new Listeners();
  const self: DirectTerminal = {
    kind: 'direct',
    createMs: t1 - t0,
    startMs: t2 - t1,
    firstByteAt: undefined,
    write: (data) => void stream.write(data),
    onData: (listener) => listeners.add(listener),
    get bytesReceived() {
      return listeners.received;
    },
    close: async () => {
      stream.destroy();
    },
  };
  stream.on('data', (chunk: Buffer) => {
    self.firstByteAt ??= performance.now();
    listeners.emit(chunk);
  });
  stream.on('error', () => {});
  return self;
}

export interface DriverTerminal extends TtyChannel {
  firstByteAt: number | undefined;
}

/**
 * The backend driver's own terminal (SandboxDriver.openTerminal) as a channel: the exact exec the
 * backend makes, so that the direct path differs from the backend path by the backend hop only.
 */
export function driverChannel(terminal: Terminal): DriverTerminal {
  const listeners = new Listeners();
  const self: DriverTerminal = {
    kind: 'driver',
    firstByteAt: undefined,
    write: (data) => terminal.write(typeof data === 'string' ? Buffer.from(data) : data),
    onData: (listener) => listeners.add(listener),
    get bytesReceived() {
      return listeners.received;
    },
    close: () => terminal.close(),
  };
  terminal.output.on('data', (chunk: Buffer) => {
    self.firstByteAt ??= performance.now();
    listeners.emit(chunk);
  });
  terminal.output.on('error', () => {});
  return self;
}

/**
 * The floor for the persistent shell: `docker exec -it <sandbox> dtach -a <socket>` through the
 * Engine API, a real dtach client in a TTY exec, which is how a person would attach to the same
 * shell by hand (and how the backend itself attached until it spoke dtach's protocol). A TTY
 * exec's process outlives its connection, so closing ends the client by its tag.
 */
export async function openDtachAttach(engine: Docker, containerId: string, size: { cols: number; rows: number }): Promise<DirectTerminal> {
  const tag = `berth-bench-attach-${randomBytes(4).toString('hex')}`;
  const channel = await openDirectTerminal(engine, containerId, [
    'bash',
    '-c',
    `stty rows "$1" cols "$2"; exec -a "$3" dtach -a ${SHELL_SOCKET} -E -z -r winch`,
    'berth-bench',
    String(size.rows),
    String(size.cols),
    tag,
  ]);
  const close = channel.close;
  return Object.assign(channel, {
    close: async () => {
      await close();
      // Through sh, as the learner's shell is reached: pkill run as the container's own root
      // may not signal it.
      await execText(engine, containerId, ['sh', '-c', 'pkill -HUP -f "^$1"', 'sh', tag]).catch(() => {});
    },
  });
}
