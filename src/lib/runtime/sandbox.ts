import {
  RuntimeError,
  type ChannelEvents,
  type ChannelStatus,
  type ControlMessage,
  type ExecResult,
  type QueuePlace,
  type Runtime,
  type RuntimeSession,
  type TerminalChannel,
} from './types.ts';

interface ApiSession {
  id: string;
  lesson?: string;
  createdAt: string;
  expiresAt: string;
  instances: { name: string }[];
  /** `{instance}` and `{port}` to fill in; it carries the session's port token, never its id. */
  portUrlTemplate: string;
}

const encoder = new TextEncoder();

/** The Docker-in-Docker sandboxes of a Berth server, over its HTTP and WebSocket API (docs/api.md). */
export class SandboxRuntime implements Runtime {
  /** `origin` is where the API lives; the app is served by the same server, so it defaults to the page's. */
  constructor(private readonly origin: string = location.origin) {}

  /** Each session's port URL template, as its server gave it. */
  private readonly portTemplates = new Map<string, string>();

  private toSession(api: ApiSession): RuntimeSession {
    this.portTemplates.set(api.id, api.portUrlTemplate);
    return toSession(api);
  }

  async startSession(lesson: string, onQueued?: (place: QueuePlace) => void, signal?: AbortSignal): Promise<RuntimeSession> {
    const answer = await this.request<ApiSession | { queued: QueuePlace & { ticket: string } }>('POST', '/api/sessions', { lesson });
    if (!('queued' in answer)) return this.toSession(answer);
    // Every machine is taken: wait in line, asking every 2 s (the server gives a place up after 30 s of silence).
    let place = answer.queued;
    for (;;) {
      onQueued?.({ position: place.position, estimatedWaitSeconds: place.estimatedWaitSeconds });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, QUEUE_POLL_MS);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new RuntimeError('aborted', 'Stopped waiting for a machine.'));
        });
      });
      const status = await this.request<{ session: ApiSession } | { queued: QueuePlace & { ticket: string } }>(
        'GET',
        `/api/queue/${encodeURIComponent(place.ticket)}`,
      );
      if ('session' in status) return this.toSession(status.session);
      place = status.queued;
    }
  }

  async addInstance(sessionId: string): Promise<string> {
    return (await this.request<{ name: string }>('POST', `/api/sessions/${encodeURIComponent(sessionId)}/instances`, {})).name;
  }

  async removeInstance(sessionId: string, instance: string): Promise<void> {
    await this.request('DELETE', instancePath(sessionId, instance));
  }

  portUrl(sessionId: string, instance: string, port: number): string {
    const template = this.portTemplates.get(sessionId);
    // A link built from the session id would hand over the whole session; only the server's template will do.
    if (!template) throw new RuntimeError('no_session', 'This session has no port link yet.');
    return new URL(template.replace('{instance}', encodeURIComponent(instance)).replace('{port}', String(port)), this.origin).toString();
  }

  async renewPortLinks(sessionId: string): Promise<void> {
    this.toSession(await this.request<ApiSession>('POST', `/api/sessions/${encodeURIComponent(sessionId)}/port-token`, {}));
  }

  async getSession(id: string): Promise<RuntimeSession | undefined> {
    try {
      return this.toSession(await this.request<ApiSession>('GET', `/api/sessions/${encodeURIComponent(id)}`));
    } catch (error) {
      // A session whose machine was lost has ended too (410 session_gone).
      if (error instanceof RuntimeError && (error.code === 'session_not_found' || error.code === 'session_gone')) return undefined;
      throw error;
    }
  }

  async endSession(id: string): Promise<void> {
    try {
      await this.request('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
    } catch (error) {
      // Already gone is what the caller wanted.
      if (!(error instanceof RuntimeError && (error.code === 'session_not_found' || error.code === 'session_gone'))) throw error;
    }
  }

  exec(sessionId: string, instance: string, cmd: string[]): Promise<ExecResult> {
    return this.request<ExecResult>('POST', `${instancePath(sessionId, instance)}/exec`, { cmd });
  }

  openTerminal(sessionId: string, instance: string): TerminalChannel {
    const url = new URL(`${instancePath(sessionId, instance)}/terminal`, this.origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new SandboxChannel(instance, url.toString(), async () => (await this.getSession(sessionId)) !== undefined);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.origin), {
        method,
        headers: { 'x-berth-client': clientId(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new RuntimeError('network', 'Cannot reach the Berth server. Check your connection, then try again.');
    }
    if (response.status === 204) return undefined as T;
    const payload: unknown = await response.json().catch(() => undefined);
    if (response.ok) return payload as T;
    const error = (payload as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    throw new RuntimeError(
      typeof error?.code === 'string' ? error.code : 'http',
      typeof error?.message === 'string' ? error.message : `The server answered ${response.status} ${response.statusText}.`,
      response.status,
    );
  }
}

const QUEUE_POLL_MS = 2_000;
const CLIENT_KEY = 'berth:client';

/**
 * A random id for this browser, so the server's per-client limits count browsers, not the one
 * address a whole classroom shares behind its router.
 */
function clientId(): string {
  try {
    let id = localStorage.getItem(CLIENT_KEY);
    if (!id) {
      const bytes = crypto.getRandomValues(new Uint8Array(18));
      id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      localStorage.setItem(CLIENT_KEY, id);
    }
    return id;
  } catch {
    return 'no-storage-client';
  }
}

function instancePath(sessionId: string, instance: string): string {
  return `/api/sessions/${encodeURIComponent(sessionId)}/instances/${encodeURIComponent(instance)}`;
}

function toSession(api: ApiSession): RuntimeSession {
  return {
    id: api.id,
    ...(api.lesson === undefined ? {} : { lesson: api.lesson }),
    createdAt: api.createdAt,
    expiresAt: api.expiresAt,
    instances: api.instances.map((instance) => instance.name),
  };
}

/** Close codes the server uses: the session expired, was ended, the shell exited (a fresh one is ready), or the machine was lost. */
const CLOSE_EXPIRED = 4000;
const CLOSE_ENDED = 4001;
const CLOSE_SHELL_EXITED = 4002;
// 4005 (too many sockets on the terminal) and 4004 (this socket fell too far behind) are met like
// any drop: reconnect with backoff, and the replay repaints the screen.
const CLOSE_LOST = 4003;
const MAX_QUEUED_BYTES = 64 * 1024;
/**
 * A paste goes in frames of this size (the server refuses frames over 64 KiB). The browser keeps
 * whatever the server has not read yet (bufferedAmount): while the shell does not take input, the
 * server stops reading, so a paste of megabytes waits here, whole and in order, not in the server.
 */
const FRAME_BYTES = 16 * 1024;
/** Bytes xterm may have waiting to be drawn before the shell is paused, and the mark to resume at. */
const FLOW_HIGH = 2 * 1024 * 1024;
const FLOW_LOW = 256 * 1024;

function sendInFrames(socket: WebSocket, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; at += FRAME_BYTES) socket.send(bytes.subarray(at, at + FRAME_BYTES));
}

class SandboxChannel implements TerminalChannel {
  status: ChannelStatus = 'connecting';
  private socket: WebSocket | undefined;
  private size: { cols: number; rows: number } | undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private flowPaused = false;
  private attempt = 0;
  private lastShellExit = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners: { [E in keyof ChannelEvents]: Set<ChannelEvents[E]> } = {
    data: new Set(),
    status: new Set(),
    control: new Set(),
  };

  constructor(
    readonly instance: string,
    private readonly url: string,
    /** Whether the session still exists; asked before each reconnect so a dead session is not retried forever. */
    private readonly sessionExists: () => Promise<boolean>,
  ) {
    addEventListener('online', this.reconnectNow);
    this.connect();
  }

  on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  send(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    if (this.socket?.readyState === WebSocket.OPEN) {
      sendInFrames(this.socket, bytes);
      return;
    }
    if (this.status === 'gone' || this.status === 'closed') return;
    // Typing during a short drop should not be lost, but a long outage should not pile up input.
    if (this.queuedBytes + bytes.length > MAX_QUEUED_BYTES) return;
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
  }

  resize(cols: number, rows: number): void {
    if (cols < 1 || rows < 1 || (this.size?.cols === cols && this.size.rows === rows)) return;
    this.size = { cols, rows };
    this.sendSize();
  }

  backlog(bytes: number): void {
    const paused = this.flowPaused ? bytes > FLOW_LOW : bytes > FLOW_HIGH;
    if (paused === this.flowPaused) return;
    this.flowPaused = paused;
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'flow', paused }));
  }

  close(): void {
    this.setStatus('closed');
    this.stop();
  }

  private connect(): void {
    // Giving the size up front lets the shell draw its first screen at the right width.
    const url = new URL(this.url);
    if (this.size) {
      url.searchParams.set('cols', String(this.size.cols));
      url.searchParams.set('rows', String(this.size.rows));
    }
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.setStatus('open');
      this.sendSize();
      // A new connection starts unpaused on the server; say so if the screen is still behind.
      if (this.flowPaused) socket.send(JSON.stringify({ type: 'flow', paused: true }));
      for (const bytes of this.queue) sendInFrames(socket, bytes);
      this.queue = [];
      this.queuedBytes = 0;
    });
    socket.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data === 'string') {
        const message = parseControl(event.data);
        if (!message) return;
        if (message.type === 'expired') this.setStatus('gone');
        this.emit('control', message);
      } else {
        this.emit('data', new Uint8Array(event.data));
      }
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.status === 'closed') return;
      if (this.status === 'gone' || event.code === CLOSE_EXPIRED || event.code === CLOSE_ENDED || event.code === CLOSE_LOST) {
        this.setStatus('gone');
        this.stop();
        return;
      }
      if (event.code === CLOSE_SHELL_EXITED && Date.now() - this.lastShellExit > 5_000) {
        // Typing `exit` at the machine's own prompt is not an outage: attach to the new shell now
        // (but back off like any drop if shells keep exiting).
        this.lastShellExit = Date.now();
        this.connect();
        return;
      }
      this.setStatus('reconnecting');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    clearTimeout(this.timer);
    // 0.5 s, 1 s, 2 s ... up to 10 s, with jitter so a server restart is not met by every browser at once.
    const delay = Math.min(10_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    this.timer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.status !== 'reconnecting') return;
    let exists = true;
    try {
      exists = await this.sessionExists();
    } catch {
      // The server is unreachable: keep trying, it may come back.
    }
    if (this.status !== 'reconnecting') return;
    if (!exists) {
      this.setStatus('gone');
      this.stop();
      return;
    }
    this.connect();
  }

  private readonly reconnectNow = () => {
    if (this.status !== 'reconnecting' || this.socket) return;
    this.attempt = 0;
    clearTimeout(this.timer);
    void this.reconnect();
  };

  private sendSize(): void {
    if (this.size && this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'resize', ...this.size }));
    }
  }

  private stop(): void {
    clearTimeout(this.timer);
    removeEventListener('online', this.reconnectNow);
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000);
    this.queue = [];
    this.queuedBytes = 0;
  }

  private setStatus(status: ChannelStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', status);
  }

  private emit<E extends keyof ChannelEvents>(event: E, ...args: Parameters<ChannelEvents[E]>): void {
    for (const listener of this.listeners[event]) (listener as (...a: Parameters<ChannelEvents[E]>) => void)(...args);
  }
}

function parseControl(text: string): ControlMessage | undefined {
  try {
    const message = JSON.parse(text) as { type?: unknown };
    switch (message.type) {
      case 'session':
      case 'expiring':
      case 'expired':
      case 'idle':
      case 'lost':
      case 'ports':
      case 'error':
        return message as ControlMessage;
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}
