/**
 * The warm pool: keeps `idle` ready sandboxes so a learner gets a prompt without waiting for a
 * daemon to boot, and never lets the total number of sandboxes exceed `max`.
 * Sandboxes are single-use: a learner's sandbox is destroyed, never returned to the pool.
 */
import type { Logger } from '../log.ts';
import type { Sandbox, SandboxDriver } from '../provisioning/driver.ts';

export interface PoolOptions {
  /** Ready sandboxes to keep waiting. */
  idle: number;
  /** Hard cap on sandboxes of this backend: waiting, starting and in use. */
  max: number;
  /** Sandboxes started at once while refilling; boots compete for the same cores. */
  refillConcurrency?: number;
  /**
   * Wait before trying again after a failed start (a transient engine error should not empty the
   * pool for good); doubled after each further failure, up to retryDelayMaxMs, so a broken engine
   * or mirror is not met with a storm of doomed sandboxes.
   */
  retryDelayMs?: number;
  retryDelayMaxMs?: number;
  /**
   * Wait after handing out a sandbox before booting its replacement: a boot takes the CPU the
   * learner's first prompt needs (measured: warm time to prompt 110 ms without, 170-280 ms with).
   */
  refillDelayMs?: number;
  /** Sandboxes tried, one after another, for a learner when none is waiting (default 2). */
  createAttempts?: number;
}

export interface PoolStats {
  idle: number;
  starting: number;
  inUse: number;
  max: number;
}

export class CapacityError extends Error {
  override name = 'CapacityError';
}

export class WarmPool {
  private readonly idle: Sandbox[] = [];
  private starting = 0;
  private inUse = 0;
  private closed = false;
  private lastRefillError: Error | undefined;
  private failures = 0;
  /** Set while the engine is down: nothing is started until resume(). */
  private suspended: string | undefined;
  private readonly waiters: Array<() => void> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly booting = new Set<Promise<void>>();

  constructor(
    private readonly driver: SandboxDriver,
    private readonly options: PoolOptions,
    private readonly log: Logger,
  ) {}

  stats(): PoolStats {
    return { idle: this.idle.length, starting: this.starting, inUse: this.inUse, max: this.options.max };
  }

  /** The sandboxes waiting to be handed out. */
  waiting(): Sandbox[] {
    return [...this.idle];
  }

  /** Whether a sandbox's container is one of the pool's waiting ones. */
  holds(containerId: string): boolean {
    return this.idle.some((sandbox) => sandbox.containerId === containerId);
  }

  /** Whether acquire() can hand out a sandbox now (a waiting one, or room to start one). */
  hasCapacity(): boolean {
    return !this.closed && (this.idle.length > 0 || this.total() < this.options.max);
  }

  /** The last refill failure, cleared by the next success: health reports it. */
  get refillError(): Error | undefined {
    return this.lastRefillError;
  }

  /** Hands out a ready sandbox: a waiting one, or a fresh one when none waits. */
  async acquire(): Promise<Sandbox> {
    if (this.closed) throw new CapacityError('The backend is shutting down.');
    const ready = this.idle.shift();
    if (ready) {
      this.inUse++;
      const delay = this.options.refillDelayMs ?? 0;
      if (delay > 0) setTimeout(() => this.refill(), delay).unref();
      else this.refill();
      return ready;
    }
    if (this.total() >= this.options.max) {
      throw new CapacityError(`All ${this.options.max} sandboxes are in use; try again in a few minutes.`);
    }
    this.inUse++;
    // One slow or broken sandbox (a loaded host) must not fail a learner's start: try another.
    const attempts = Math.max(1, this.options.createAttempts ?? 2);
    for (let attempt = 1; ; attempt++) {
      try {
        const sandbox = await this.driver.create();
        this.refill();
        return sandbox;
      } catch (error) {
        if (attempt >= attempts || this.closed) {
          this.inUse--;
          throw error;
        }
        this.log.warn('a sandbox failed to start for a learner; trying another', { attempt, error });
      }
    }
  }

  /** Counts a sandbox that outlived a restart as in use, so the cap stays true. */
  adopt(): void {
    this.inUse++;
  }

  /** Destroys a sandbox handed out by acquire() or counted by adopt(). */
  async release(sandbox: Sandbox): Promise<void> {
    this.inUse = Math.max(0, this.inUse - 1);
    try {
      await this.driver.destroy(sandbox);
    } finally {
      this.refill();
    }
  }

  /** Starts sandboxes in the background until the idle target is met (or the cap is reached). */
  refill(): void {
    const concurrency = this.options.refillConcurrency ?? 2;
    while (
      !this.closed &&
      !this.suspended &&
      !this.retryTimer &&
      this.starting < concurrency &&
      this.idle.length + this.starting < this.options.idle &&
      this.total() < this.options.max
    ) {
      this.starting++;
      // Counters change in the same tick as the idle list, so stats() is never in between.
      const boot = this.driver.create().then(
        (sandbox) => {
          this.starting--;
          this.lastRefillError = undefined;
          this.failures = 0;
          if (this.closed) return this.driver.destroy(sandbox).catch(() => {});
          this.idle.push(sandbox);
          this.notify();
          this.refill();
        },
        (error: Error) => {
          this.starting--;
          // Retried after a delay, never in a tight loop against a failing engine.
          this.lastRefillError = error;
          this.failures++;
          this.notify();
          if (!this.retryTimer && !this.closed) {
            const base = this.options.retryDelayMs ?? 5_000;
            const delay = Math.min(this.options.retryDelayMaxMs ?? 60_000, base * 2 ** (this.failures - 1));
            this.log.error('pool refill failed', { error, failures: this.failures, retryInMs: delay });
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.refill();
            }, delay);
            this.retryTimer.unref();
          }
        },
      );
      this.booting.add(boot);
      void boot.finally(() => this.booting.delete(boot));
    }
  }

  /**
   * Stops starting sandboxes (the engine is down: every start would fail, and its failure would
   * hide the real reason). Waiting sandboxes stay; prune() decides about them once it is back.
   */
  suspend(reason: string): void {
    this.suspended = reason;
  }

  /** Starts refilling again, at once and with the back-off reset (the engine is back). */
  resume(): void {
    this.suspended = undefined;
    this.failures = 0;
    this.lastRefillError = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.refill();
  }

  /**
   * Drops waiting sandboxes whose container no longer runs (killed, or lost with the engine),
   * removing what is left of them, and refills. Resolves to how many were dropped.
   */
  async prune(running: Set<string>): Promise<number> {
    const dead = this.idle.filter((sandbox) => !running.has(sandbox.containerId));
    if (dead.length === 0) return 0;
    for (const sandbox of dead) this.idle.splice(this.idle.indexOf(sandbox), 1);
    this.log.warn('waiting sandboxes vanished', { sandboxes: dead.map((s) => s.sandboxId) });
    await Promise.allSettled(dead.map((sandbox) => this.driver.destroy(sandbox)));
    this.refill();
    return dead.length;
  }

  /** Resolves once the pool holds its idle target (or a refill has failed). For start-up and tests. */
  async whenFilled(): Promise<void> {
    while (!this.closed && this.idle.length < Math.min(this.options.idle, this.options.max - this.inUse)) {
      if (this.starting === 0) {
        if (this.lastRefillError) throw this.lastRefillError;
        this.refill();
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Destroys the waiting sandboxes; sandboxes in use belong to their sessions. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.notify();
    const waiting = this.idle.splice(0);
    await Promise.allSettled(waiting.map((sandbox) => this.driver.destroy(sandbox)));
    // Sandboxes still booting are destroyed as they come up (see refill), not left behind.
    await Promise.allSettled([...this.booting]);
  }

  private total(): number {
    return this.idle.length + this.starting + this.inUse;
  }

  private notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
