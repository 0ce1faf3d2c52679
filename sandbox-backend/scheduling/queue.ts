/**
 * Learners waiting for a sandbox when every slot is taken. First come, first served; a ticket
 * nobody asks about any more (the tab was closed) is dropped, so the queue never waits on ghosts.
 */
import { randomBytes } from 'node:crypto';

export interface Ticket<T> {
  id: string;
  request: T;
  queuedAt: number;
  lastSeen: number;
}

export interface QueueOptions {
  /** A ticket not polled for this long is abandoned. */
  abandonAfterMs: number;
  now?: () => number;
}

export class WaitQueue<T> {
  private readonly tickets: Ticket<T>[] = [];
  /** When recent sessions ended: the rate at which the queue moves. */
  private readonly departures: number[] = [];
  private readonly now: () => number;

  constructor(private readonly options: QueueOptions) {
    this.now = options.now ?? Date.now;
  }

  get length(): number {
    this.dropAbandoned();
    return this.tickets.length;
  }

  enqueue(request: T): Ticket<T> {
    const now = this.now();
    const ticket = { id: randomBytes(12).toString('base64url'), request, queuedAt: now, lastSeen: now };
    this.tickets.push(ticket);
    return ticket;
  }

  /** 1-based position, refreshing the ticket; undefined when unknown or abandoned. */
  position(id: string): number | undefined {
    this.dropAbandoned();
    const index = this.tickets.findIndex((t) => t.id === id);
    if (index === -1) return undefined;
    this.tickets[index]!.lastSeen = this.now();
    return index + 1;
  }

  peek(): Ticket<T> | undefined {
    this.dropAbandoned();
    return this.tickets[0];
  }

  remove(id: string): void {
    const index = this.tickets.findIndex((t) => t.id === id);
    if (index !== -1) this.tickets.splice(index, 1);
  }

  /** Records that a sandbox slot freed up (for the estimate). */
  departed(): void {
    this.departures.push(this.now());
    if (this.departures.length > 20) this.departures.shift();
  }

  /**
   * Seconds until the ticket at `position` is likely served: from the rate at which recent
   * sessions ended, or, before any did, from the session lifetime spread over the slots.
   */
  estimateSeconds(position: number, fallbackSecondsPerSlot: number): number {
    const recent = this.departures.filter((t) => this.now() - t < 30 * 60_000);
    if (recent.length >= 2) {
      const span = (this.now() - recent[0]!) / 1000;
      const perSecond = recent.length / Math.max(span, 1);
      return Math.ceil(position / perSecond);
    }
    return Math.ceil(position * fallbackSecondsPerSlot);
  }

  private dropAbandoned(): void {
    const cutoff = this.now() - this.options.abandonAfterMs;
    for (let i = this.tickets.length - 1; i >= 0; i--) if (this.tickets[i]!.lastSeen < cutoff) this.tickets.splice(i, 1);
  }
}

/**
 * Per-client limits: sessions at once, and session starts per minute. One instance counts one
 * kind of key (a browser's id, or a network address); `who` names it in the messages.
 */
export class ClientLimits {
  private readonly starts = new Map<string, number[]>();

  constructor(
    private readonly options: { maxSessions: number; perMinute: number; who?: { held: string; started: string } },
    private readonly now: () => number = Date.now,
  ) {}

  /** Says which limit a new start would exceed, without recording anything. */
  check(client: string, liveSessions: number): { ok: true } | { ok: false; message: string; retryAfterSeconds: number } {
    const who = this.options.who ?? { held: 'You already have', started: 'from you' };
    if (liveSessions >= this.options.maxSessions) {
      return {
        ok: false,
        message: `${who.held} ${liveSessions} sessions running (the limit is ${this.options.maxSessions}); end one (End session) before starting another.`,
        retryAfterSeconds: 60,
      };
    }
    const now = this.now();
    const recent = this.recent(client, now);
    if (recent.length >= this.options.perMinute) {
      const retry = Math.ceil((60_000 - (now - recent[0]!)) / 1000);
      return { ok: false, message: `Too many new sessions ${who.started} in a minute (the limit is ${this.options.perMinute}); try again in ${retry} s.`, retryAfterSeconds: retry };
    }
    return { ok: true };
  }

  /** Counts a start against the per-minute limit. */
  record(client: string): void {
    const now = this.now();
    const recent = this.recent(client, now);
    recent.push(now);
    this.starts.set(client, recent);
  }

  /** check, then record when admitted. */
  admit(client: string, liveSessions: number): { ok: true } | { ok: false; message: string; retryAfterSeconds: number } {
    const verdict = this.check(client, liveSessions);
    if (verdict.ok) this.record(client);
    return verdict;
  }

  private recent(client: string, now: number): number[] {
    const recent = (this.starts.get(client) ?? []).filter((t) => now - t < 60_000);
    // Forget quiet clients, so a script cycling through ids cannot grow the map without bound.
    if (recent.length) this.starts.set(client, recent);
    else this.starts.delete(client);
    return recent;
  }
}
