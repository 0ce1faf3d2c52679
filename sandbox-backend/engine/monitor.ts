/**
 * Watches the Docker engine itself: whether it answers, and which containers die or are removed.
 * Berth's one follower of the engine's events: everything that reacts to them goes through here. The engine's
 * event stream ends the moment dockerd stops, so a restart is seen at once; a ping every few
 * seconds catches an engine that hangs without closing the connection (a remote one). While the
 * engine is down it is asked again with back-off, and once it answers the owner is told, so it
 * can reconcile what it believed with what survived.
 */
import type { Readable } from 'node:stream';
import type { Engine } from './docker.ts';
import type { Logger } from '../log.ts';

export interface EngineMonitorHandlers {
  /** The engine stopped answering (its event stream ended, or a ping failed). */
  down(error: Error): void;
  /** The engine answers again after having been down. */
  up(downForMs: number): void;
  /** A container died or was removed (die, destroy); its labels say whose it was. */
  died(container: { id: string; name: string; labels: Record<string, string> }): void;
}

export interface EngineMonitorOptions {
  pingIntervalMs?: number;
  /** First and largest wait between attempts to reach an engine that is down. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

interface EngineEvent {
  Type?: string;
  Action?: string;
  id?: string;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export class EngineMonitor {
  private events: Readable | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private downSince: number | undefined;
  private lastError: Error | undefined;
  /** Seconds since the epoch of the last event seen: a re-subscription starts there, so no death is missed. */
  private since = Math.floor(Date.now() / 1000);
  private closed = false;
  private readonly options: Required<EngineMonitorOptions>;

  constructor(
    private readonly engine: Engine,
    private readonly handlers: EngineMonitorHandlers,
    private readonly log: Logger,
    options: EngineMonitorOptions = {},
  ) {
    this.options = { pingIntervalMs: 5_000, retryMinMs: 250, retryMaxMs: 5_000, ...options };
  }

  /** Whether the engine answered at the last look. */
  get up(): boolean {
    return this.downSince === undefined;
  }

  /** Why the engine is down, and since when; undefined while it is up. */
  get outage(): { since: Date; error: Error | undefined } | undefined {
    return this.downSince === undefined ? undefined : { since: new Date(this.downSince), error: this.lastError };
  }

  async start(): Promise<void> {
    await this.follow();
    this.pingTimer = setInterval(() => {
      if (this.up) this.engine.ping().catch((error: Error) => this.wentDown(error));
    }, this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    this.events?.destroy();
  }

  private async follow(): Promise<void> {
    const stream = (await this.engine.getEvents({
      since: this.since,
      filters: { type: ['container'], event: ['die', 'destroy'] },
    })) as unknown as Readable;
    if (this.closed) {
      stream.destroy();
      return;
    }
    this.events = stream;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.event(line);
    });
    const ended = (error?: Error) => {
      if (this.events !== stream) return;
      this.events = undefined;
      this.wentDown(error ?? new Error('the engine closed its event stream'));
    };
    stream.on('end', () => ended());
    stream.on('close', () => ended());
    stream.on('error', (error: Error) => ended(error));
  }

  private event(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    if (event.time) this.since = Math.max(this.since, event.time);
    if (event.Type !== 'container' || (event.Action !== 'die' && event.Action !== 'destroy')) return;
    // The engine puts the container's labels among the event's attributes.
    const attributes = event.Actor?.Attributes ?? {};
    this.handlers.died({ id: event.Actor?.ID ?? event.id ?? '', name: attributes.name ?? '', labels: attributes });
  }

  private wentDown(error: Error): void {
    if (this.closed || this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.lastError = error;
    this.events?.destroy();
    this.events = undefined;
    this.log.warn('engine down', { error });
    this.handlers.down(error);
    this.retry(this.options.retryMinMs);
  }

  private retry(delayMs: number): void {
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.engine
        .ping()
        .then(() => this.follow())
        .then(
          () => {
            if (this.closed) return;
            const downForMs = Date.now() - (this.downSince ?? Date.now());
            this.downSince = undefined;
            this.lastError = undefined;
            this.log.info('engine back', { downForMs });
            this.handlers.up(downForMs);
          },
          (error: Error) => {
            this.lastError = error;
            this.retry(Math.min(this.options.retryMaxMs, delayMs * 2));
          },
        );
    }, delayMs);
    this.retryTimer.unref();
  }
}
