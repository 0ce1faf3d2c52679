// The pool's bookkeeping with a stand-in driver: pure logic, no engine.
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../sandbox-backend/log.ts';
import type { Sandbox, SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import { CapacityError, WarmPool } from '../../sandbox-backend/scheduling/pool.ts';

class StandInDriver {
  created = 0;
  destroyed: string[] = [];
  /** How many of the next starts fail. */
  failNext = 0;
  private pending: Array<() => void> = [];

  async create(): Promise<Sandbox> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('engine said no');
    }
    const n = ++this.created;
    await new Promise<void>((resolve) => this.pending.push(resolve));
    return { sandboxId: `sbx-${n}`, containerId: `c-${n}` };
  }

  /** Lets every sandbox that is "booting" finish. */
  finishBoots(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }

  get booting(): number {
    return this.pending.length;
  }

  async destroy(sandbox: Sandbox): Promise<void> {
    this.destroyed.push(sandbox.sandboxId);
  }
}

const quiet = createLogger('error', {}, () => {});
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A pool on fake timers: back-off and delays are checked to the millisecond without waiting. */
async function onFakeTimers(options: ConstructorParameters<typeof WarmPool>[1], test: (driver: StandInDriver, p: WarmPool) => Promise<void>) {
  vi.useFakeTimers();
  try {
    const driver = new StandInDriver();
    await test(driver, new WarmPool(driver as unknown as SandboxDriver, options, quiet));
  } finally {
    vi.useRealTimers();
  }
}

function pool(options: { idle: number; max: number; refillConcurrency?: number }) {
  const driver = new StandInDriver();
  return { driver, pool: new WarmPool(driver as unknown as SandboxDriver, options, quiet) };
}

describe('the warm pool', () => {
  it('fills to its idle target with bounded concurrency', async () => {
    const { driver, pool: p } = pool({ idle: 3, max: 10, refillConcurrency: 2 });
    p.refill();
    expect(driver.booting).toBe(2);
    driver.finishBoots();
    await flush();
    expect(driver.booting).toBe(1);
    driver.finishBoots();
    await p.whenFilled();
    expect(p.stats()).toEqual({ idle: 3, starting: 0, inUse: 0, max: 10 });
  });

  it('hands out a waiting sandbox at once and starts a replacement', async () => {
    const { driver, pool: p } = pool({ idle: 1, max: 10 });
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    const sandbox = await p.acquire();
    expect(sandbox.sandboxId).toBe('sbx-1');
    expect(p.stats()).toMatchObject({ idle: 0, starting: 1, inUse: 1 });
    await p.release(sandbox);
    expect(driver.destroyed).toEqual(['sbx-1']);
  });

  it('never exceeds its maximum, counting sandboxes in use and starting', async () => {
    const { driver, pool: p } = pool({ idle: 1, max: 2 });
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    const first = await p.acquire();
    driver.finishBoots();
    await p.whenFilled();
    const second = await p.acquire();
    expect(p.stats()).toMatchObject({ idle: 0, starting: 0, inUse: 2 });
    await expect(p.acquire()).rejects.toBeInstanceOf(CapacityError);
    await p.release(first);
    expect(p.stats().starting).toBe(1);
    await p.release(second);
  });

  it('reports a failed refill and recovers on the next success, after the retry delay', () =>
    onFakeTimers({ idle: 1, max: 4, retryDelayMs: 5_000 }, async (driver, p) => {
      driver.failNext = 1;
      p.refill();
      await expect(p.whenFilled()).rejects.toThrow('engine said no');
      expect(p.refillError?.message).toBe('engine said no');
      // A hand-out or release meanwhile does not cut the wait short.
      p.refill();
      expect(p.stats().starting).toBe(0);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(p.stats().starting).toBe(1);
      driver.finishBoots();
      await p.whenFilled();
      expect(p.refillError).toBeUndefined();
    }));

  it('backs off exponentially while starts keep failing, so a broken engine sees no storm', () =>
    onFakeTimers({ idle: 1, max: 4, refillConcurrency: 1, retryDelayMs: 1_000, retryDelayMaxMs: 4_000 }, async (driver, p) => {
      driver.failNext = 5;
      const attempts = () => 5 - driver.failNext;
      p.refill();
      await vi.advanceTimersByTimeAsync(0);
      expect(attempts()).toBe(1);
      // Waits of 1, 2, 4 and then 4 s (the cap): 11 s for five attempts.
      for (const [wait, expected] of [[999, 1], [1, 2], [2_000, 3], [4_000, 4], [3_999, 4], [1, 5]] as const) {
        await vi.advanceTimersByTimeAsync(wait);
        expect(attempts()).toBe(expected);
      }
      await vi.advanceTimersByTimeAsync(4_000);
      expect(driver.booting).toBe(1);
    }));

  it('starts nothing while suspended, and refills at once on resume', () =>
    onFakeTimers({ idle: 1, max: 4, retryDelayMs: 60_000 }, async (driver, p) => {
      driver.failNext = 1;
      p.refill();
      await vi.advanceTimersByTimeAsync(0);
      p.suspend('the engine is down');
      p.refill();
      await vi.advanceTimersByTimeAsync(120_000);
      expect(driver.booting).toBe(0);
      p.resume();
      expect(driver.booting).toBe(1);
      expect(p.refillError).toBeUndefined();
    }));

  it('drops waiting sandboxes whose container is gone, removes their remains and refills', async () => {
    const { driver, pool: p } = pool({ idle: 2, max: 4 });
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    expect(p.holds('c-1')).toBe(true);
    expect(await p.prune(new Set(['c-2']))).toBe(1);
    expect(driver.destroyed).toEqual(['sbx-1']);
    expect(p.holds('c-1')).toBe(false);
    expect(p.stats()).toMatchObject({ idle: 1, starting: 1 });
    expect(await p.prune(new Set(['c-2']))).toBe(0);
  });

  it('destroys waiting sandboxes on close', async () => {
    const { driver, pool: p } = pool({ idle: 2, max: 4 });
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    await p.close();
    expect(driver.destroyed.sort()).toEqual(['sbx-1', 'sbx-2']);
    await expect(p.acquire()).rejects.toBeInstanceOf(CapacityError);
  });

  it('tries another sandbox when the one started for a learner fails, and counts it once', async () => {
    const { driver, pool: p } = pool({ idle: 0, max: 4 });
    driver.failNext = 1;
    const acquiring = p.acquire();
    await flush();
    driver.finishBoots();
    expect(await acquiring).toEqual({ sandboxId: 'sbx-1', containerId: 'c-1' });
    expect(p.stats()).toEqual({ idle: 0, starting: 0, inUse: 1, max: 4 });
  });
});

describe('the refill after a hand-out', () => {
  it('waits the configured delay, so the replacement boot does not slow the first prompt', () =>
    onFakeTimers({ idle: 1, max: 4, refillDelayMs: 1500 }, async (driver, p) => {
      p.refill();
      driver.finishBoots();
      await vi.waitFor(() => expect(p.stats().idle).toBe(1));
      await p.acquire();
      expect(p.stats().starting).toBe(0);
      vi.advanceTimersByTime(1500);
      expect(p.stats().starting).toBe(1);
    }));
});
