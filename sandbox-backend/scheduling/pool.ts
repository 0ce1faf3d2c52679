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
  /** Wait before trying again after a failed start (a transient engine error should not empty the pool for good). */
  retryDelayMs?: number;
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

  /**
   * Forgets a waiting sandbox that vanished (removed by hand, engine restart), so it is never
   * handed out; a replacement starts. Returns whether it was one of the waiting ones.
   */
  discard(containerId: string): boolean {
    const index = this.idle.findIndex((sandbox) => sandbox.containerId === containerId);
    if (index < 0) return false;
    const [sandbox] = this.idle.splice(index, 1);
    this.log.warn('a waiting sandbox vanished; replacing it', { sandboxId: sandbox!.sandboxId });
    // Its network and volume may be left behind.
    void this.driver.destroy(sandbox!).catch(() => {});
    this.refill();
    return true;
  }

  /** Containers of the waiting sandboxes, for a check against what the engine still runs. */
  idleContainers(): string[] {
    return this.idle.map((sandbox) => sandbox.containerId);
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
          if (this.closed) return this.driver.destroy(sandbox).catch(() => {});
          this.idle.push(sandbox);
          this.notify();
          this.refill();
        },
        (error: Error) => {
          this.starting--;
          // Retried after a delay, never in a tight loop against a failing engine.
          this.lastRefillError = error;
          this.log.error('pool refill failed', { error });
          this.notify();
          if (!this.retryTimer && !this.closed) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.refill();
            }, this.options.retryDelayMs ?? 5_000);
            this.retryTimer.unref();
          }
        },
      );
      this.booting.add(boot);
      void boot.finally(() => this.booting.delete(boot));
    }
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
