import type { Exec } from '../../lib/lesson-format/provision.ts';
import {
  RuntimeError,
  type ChannelStatus,
  type ExecResult,
  type QueuePlace,
  type Runtime,
  type RuntimeSession,
  type TerminalChannel,
} from '../../lib/runtime/types.ts';

export type Phase =
  /** No session: the learner has not pressed Start (or ended it). */
  | 'idle'
  /** Looking up a session remembered from before a reload. */
  | 'resuming'
  | 'starting'
  | 'ready'
  | 'reconnecting'
  | 'expired'
  | 'error';

const SOON_MS = 10 * 60_000;
const storageKey = (lesson: string) => `berth:session:${lesson}`;
const preparedKey = (session: string) => `berth:prepared:${session}`;

/**
 * Gets a new session ready for the lesson (its files and setup) before the learner gets the
 * terminal. `progress` reports what it is doing.
 */
export type Prepare = (exec: Exec, progress: (message: string) => void) => Promise<void>;

/**
 * One lesson's sandbox session as the page sees it: its phase, its terminals and its time left.
 * The session id lives in sessionStorage per lesson, so a reload re-attaches instead of
 * starting (and paying for) a new sandbox.
 */
export class LessonSession {
  phase = $state<Phase>('idle');
  /** Message for the error phase, or a notice for idle (e.g. why a session was ended). */
  message = $state<string>();
  session = $state.raw<RuntimeSession>();
  channels = $state.raw<TerminalChannel[]>([]);
  expiresAt = $state<number>();
  now = $state(Date.now());
  /** Set while every sandbox is taken and the learner waits in line. */
  queue = $state<QueuePlace>();
  /** Listening ports by machine, as the server reports them. */
  ports = $state<Record<string, number[]>>({});
  /** A node being added or removed (the buttons wait for it). */
  changingNodes = $state(false);
  /** Counts renewals of the port links, so that links on the page follow. */
  private portLinks = $state(0);

  readonly remainingMs = $derived(this.expiresAt === undefined ? undefined : Math.max(0, this.expiresAt - this.now));
  readonly expiringSoon = $derived(this.remainingMs !== undefined && this.remainingMs < SOON_MS && this.phase !== 'expired');

  private ticker: ReturnType<typeof setInterval> | undefined;
  private pending: { node: string; command: string; interrupt: boolean }[] = [];
  private retry: () => Promise<void> = () => this.start();
  private disposed = false;
  private stopWaiting: () => void = () => {};
  /** The server said the session ended for idleness; the notice says so. */
  private idleEnded = false;
  /** Why the server ended the session when its machine was lost, to show instead of a generic line. */
  private lostReason: string | undefined;

  constructor(
    readonly lesson: string,
    private readonly runtime: Runtime,
    private readonly prepare?: Prepare,
  ) {}

  /** Where a port of a machine opens in the browser; undefined until the session is ready. */
  portUrl(node: string, port: number, path = '/'): string | undefined {
    const session = this.session;
    if (!session || this.phase !== 'ready') return undefined;
    // Read so that the links on the page follow a renewal.
    void this.portLinks;
    return this.runtime.portUrl(session.id, node, port) + path.replace(/^\//, '');
  }

  /** New port links for the session: for a learner who shared one too widely. */
  async renewPortLinks(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      await this.runtime.renewPortLinks(session.id);
      this.portLinks++;
    } catch (error) {
      this.message = describe(error);
    }
  }

  /** Runs a command in one of the session's machines (for checks); fails without a session. */
  exec(node: string, cmd: string[]): Promise<ExecResult> {
    const session = this.session;
    if (!session) return Promise.reject(new RuntimeError('no_session', 'Start the sandbox first.'));
    return this.runtime.exec(session.id, node, cmd);
  }

  /** Called once when the page opens: re-attach to the session this tab had, if it still exists. */
  async resume(): Promise<void> {
    const id = sessionStorage.getItem(storageKey(this.lesson));
    if (!id) return;
    this.retry = () => this.resume();
    this.phase = 'resuming';
    this.message = undefined;
    try {
      const session = await this.runtime.getSession(id);
      if (this.disposed) return;
      if (!session) {
        sessionStorage.removeItem(storageKey(this.lesson));
        sessionStorage.removeItem(preparedKey(id));
        this.phase = 'idle';
        this.message = 'Your previous session has ended. Start a new one when you are ready.';
        return;
      }
      // A reload during preparation left it unfinished: do it again (files are rewritten whole).
      if (!sessionStorage.getItem(preparedKey(session.id))) {
        this.phase = 'starting';
        await this.prepareSession(session);
        if (this.disposed) return;
      }
      this.attach(session);
    } catch (error) {
      this.fail(error);
    }
  }

  async start(): Promise<void> {
    if (this.phase === 'starting' || this.phase === 'ready' || this.phase === 'reconnecting') return;
    this.retry = () => this.start();
    this.phase = 'starting';
    this.message = undefined;
    try {
      const waiting = new AbortController();
      this.stopWaiting = () => waiting.abort();
      const session = await this.runtime.startSession(this.lesson, (place) => (this.queue = place), waiting.signal);
      this.queue = undefined;
      if (this.disposed) {
        void this.runtime.endSession(session.id).catch(() => undefined);
        return;
      }
      sessionStorage.setItem(storageKey(this.lesson), session.id);
      try {
        await this.prepareSession(session);
      } catch (error) {
        // A half-prepared sandbox would mislead the learner; a fresh one is cheap.
        sessionStorage.removeItem(storageKey(this.lesson));
        void this.runtime.endSession(session.id).catch(() => undefined);
        throw error;
      }
      if (this.disposed) return;
      this.attach(session);
    } catch (error) {
      this.fail(error);
    }
  }

  private async prepareSession(session: RuntimeSession): Promise<void> {
    if (this.prepare) {
      const exec: Exec = (node, cmd) => this.runtime.exec(session.id, node, cmd);
      await this.prepare(exec, (message) => {
        if (!this.disposed) this.message = message;
      });
    }
    sessionStorage.setItem(preparedKey(session.id), '1');
    this.message = undefined;
  }

  /** Adds the next machine (up to node5) to the running session. */
  async addNode(): Promise<string | undefined> {
    const session = this.session;
    if (!session || this.changingNodes) return undefined;
    this.changingNodes = true;
    try {
      const name = await this.runtime.addInstance(session.id);
      this.session = { ...session, instances: [...session.instances, name].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) };
      this.channels = [...this.channels, this.openChannel(session.id, name)].sort((a, b) =>
        a.instance.localeCompare(b.instance, 'en', { numeric: true }),
      );
      return name;
    } catch (error) {
      this.message = describe(error);
      return undefined;
    } finally {
      this.changingNodes = false;
    }
  }

  async removeNode(name: string): Promise<void> {
    const session = this.session;
    if (!session || name === 'node1' || this.changingNodes) return;
    this.changingNodes = true;
    try {
      this.channels.find((c) => c.instance === name)?.close();
      this.channels = this.channels.filter((c) => c.instance !== name);
      this.session = { ...session, instances: session.instances.filter((i) => i !== name) };
      await this.runtime.removeInstance(session.id, name);
    } catch (error) {
      this.message = describe(error);
    } finally {
      this.changingNodes = false;
    }
  }

  async end(): Promise<void> {
    this.stopWaiting();
    const session = this.session;
    this.detach();
    sessionStorage.removeItem(storageKey(this.lesson));
    if (session) sessionStorage.removeItem(preparedKey(session.id));
    this.phase = 'idle';
    this.message = undefined;
    if (!session) return;
    try {
      await this.runtime.endSession(session.id);
    } catch (error) {
      // The sandbox expires on its own; say so rather than pretending it ended.
      this.message = `The session could not be ended right away (${describe(error)}). It will be removed when it expires.`;
    }
  }

  retryLast(): Promise<void> {
    return this.retry();
  }

  /**
   * Types a command into a node's terminal, pressing Enter after each line. Before a session
   * exists, it starts one and runs the command once the terminal is there.
   */
  run(node: string, command: string, interrupt: boolean): void {
    const channel = this.channels.find((c) => c.instance === node);
    if (!channel) {
      this.pending.push({ node, command, interrupt });
      if (this.phase === 'idle' || this.phase === 'expired' || this.phase === 'error') void this.start();
      return;
    }
    if (interrupt) channel.send('\x03');
    channel.send(command.replace(/\n/g, '\r') + '\r');
  }

  dispose(): void {
    this.disposed = true;
    this.stopWaiting();
    this.detach();
  }

  private attach(session: RuntimeSession): void {
    this.session = session;
    this.expiresAt = Date.parse(session.expiresAt);
    this.now = Date.now();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => {
      this.now = Date.now();
    }, 1000);
    this.channels = session.instances.map((name) => this.openChannel(session.id, name));
    const waiting = this.pending;
    this.pending = [];
    for (const run of waiting) this.run(run.node, run.command, run.interrupt);
    this.onChannelStatus();
  }

  private openChannel(sessionId: string, name: string): TerminalChannel {
    const channel = this.runtime.openTerminal(sessionId, name);
    channel.on('status', () => this.onChannelStatus());
    channel.on('control', (message) => {
      if (message.type === 'session') this.expiresAt = Date.parse(message.expiresAt);
      else if (message.type === 'expired') this.onExpired();
      else if (message.type === 'ports') this.ports = { ...this.ports, [name]: message.ports };
      else if (message.type === 'idle') this.idleEnded = true;
      else if (message.type === 'lost') this.lostReason = message.message;
    });
    return channel;
  }

  private onChannelStatus(): void {
    const statuses = new Set<ChannelStatus>(this.channels.map((channel) => channel.status));
    if (statuses.has('gone')) {
      void this.onGone();
      return;
    }
    if (statuses.has('reconnecting')) this.phase = 'reconnecting';
    else if (statuses.size > 0 && [...statuses].every((status) => status === 'open')) this.phase = 'ready';
  }

  private async onGone(): Promise<void> {
    if (this.expiresAt !== undefined && Date.now() >= this.expiresAt - 5_000) {
      this.onExpired();
      return;
    }
    // Gone before its time: ended elsewhere (another tab, an admin) or lost by the server.
    this.detach();
    sessionStorage.removeItem(storageKey(this.lesson));
    this.phase = 'idle';
    this.message =
      this.lostReason ??
      (this.idleEnded
        ? 'This session was ended because nobody used it for a while. Start a new one to continue.'
        : 'This session was ended. Start a new one to continue.');
    this.idleEnded = false;
    this.lostReason = undefined;
  }

  private onExpired(): void {
    this.detach();
    sessionStorage.removeItem(storageKey(this.lesson));
    this.phase = 'expired';
  }

  private fail(error: unknown): void {
    this.queue = undefined;
    if (this.disposed || (error instanceof RuntimeError && error.code === 'aborted')) return;
    this.detach();
    this.phase = 'error';
    this.message = describe(error);
  }

  private detach(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
    for (const channel of this.channels) channel.close();
    this.channels = [];
    this.session = undefined;
    this.expiresAt = undefined;
    this.ports = {};
  }
}

function describe(error: unknown): string {
  if (error instanceof RuntimeError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** "3 h 12 min", "42 min", then "9:05" in the last ten minutes, when seconds start to matter. */
export function formatRemaining(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (ms < SOON_MS) return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}
