// The pool's bookkeeping with a stand-in driver: pure logic, no engine.
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../sandbox-backend/log.ts';
import type { Sandbox, SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import { CapacityError, WarmPool } from '../../sandbox-backend/scheduling/pool.ts';

class StandInDriver {
  created = 0;
  destroyed: string[] = [];
  failNext = false;
  private pending: Array<() => void> = [];

  async create(): Promise<Sandbox> {
    if (this.failNext) {
      this.failNext = false;
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

  it('reports a failed refill and recovers on the next success', async () => {
    const { driver, pool: p } = pool({ idle: 1, max: 4 });
    driver.failNext = true;
    p.refill();
    await expect(p.whenFilled()).rejects.toThrow('engine said no');
    expect(p.refillError?.message).toBe('engine said no');
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    expect(p.refillError).toBeUndefined();
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
    driver.failNext = true;
    const acquiring = p.acquire();
    await flush();
    driver.finishBoots();
    expect(await acquiring).toEqual({ sandboxId: 'sbx-1', containerId: 'c-1' });
    expect(p.stats()).toEqual({ idle: 0, starting: 0, inUse: 1, max: 4 });
  });

  it('never hands out a waiting sandbox that vanished, and replaces it', async () => {
    const { driver, pool: p } = pool({ idle: 1, max: 4 });
    p.refill();
    driver.finishBoots();
    await p.whenFilled();
    expect(p.discard('c-1')).toBe(true);
    expect(p.discard('c-unknown')).toBe(false);
    expect(driver.destroyed).toEqual(['sbx-1']);
    driver.finishBoots();
    await p.whenFilled();
    expect((await p.acquire()).containerId).toBe('c-2');
  });
});

describe('the refill after a hand-out', () => {
  it('waits the configured delay, so the replacement boot does not slow the first prompt', async () => {
    vi.useFakeTimers();
    try {
      const driver = new StandInDriver();
      const p = new WarmPool(driver as unknown as SandboxDriver, { idle: 1, max: 4, refillDelayMs: 1500 }, quiet);
      p.refill();
      driver.finishBoots();
      await vi.waitFor(() => expect(p.stats().idle).toBe(1));
      await p.acquire();
      expect(p.stats().starting).toBe(0);
      vi.advanceTimersByTime(1500);
      expect(p.stats().starting).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
