import { describe, expect, it } from 'vitest';
import { ClientLimits, WaitQueue } from '../../sandbox-backend/scheduling/queue.ts';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('the wait queue', () => {
  it('serves first come, first served, and reports positions', () => {
    const c = clock();
    const queue = new WaitQueue<string>({ abandonAfterMs: 30_000, now: c.now });
    const a = queue.enqueue('a');
    const b = queue.enqueue('b');
    expect(queue.position(a.id)).toBe(1);
    expect(queue.position(b.id)).toBe(2);
    expect(queue.peek()?.request).toBe('a');
    queue.remove(a.id);
    expect(queue.position(b.id)).toBe(1);
    expect(queue.position('unknown')).toBeUndefined();
  });

  it('drops tickets nobody asks about any more', () => {
    const c = clock();
    const queue = new WaitQueue<string>({ abandonAfterMs: 30_000, now: c.now });
    const gone = queue.enqueue('closed tab');
    const here = queue.enqueue('waiting');
    c.advance(20_000);
    queue.position(here.id);
    c.advance(20_000);
    expect(queue.position(gone.id)).toBeUndefined();
    expect(queue.position(here.id)).toBe(1);
    expect(queue.length).toBe(1);
  });

  it('estimates the wait from how fast slots free up', () => {
    const c = clock();
    const queue = new WaitQueue<string>({ abandonAfterMs: 30_000, now: c.now });
    expect(queue.estimateSeconds(3, 360)).toBe(1080);
    queue.departed();
    c.advance(60_000);
    queue.departed();
    c.advance(60_000);
    queue.departed();
    // Three departures over two minutes: one every 40 s.
    expect(queue.estimateSeconds(2, 360)).toBe(80);
  });
});

describe('client limits', () => {
  it('caps sessions at once and starts per minute, saying which and when to retry', () => {
    const c = clock();
    const limits = new ClientLimits({ maxSessions: 2, perMinute: 3 }, c.now);
    expect(limits.admit('x', 2)).toMatchObject({ ok: false, message: expect.stringMatching(/2 sessions running/) });
    expect(limits.admit('x', 0).ok).toBe(true);
    c.advance(10_000);
    expect(limits.admit('x', 0).ok).toBe(true);
    expect(limits.admit('x', 0).ok).toBe(true);
    const refused = limits.admit('x', 0);
    expect(refused).toMatchObject({ ok: false, retryAfterSeconds: 50, message: expect.stringMatching(/try again in 50 s/) });
    expect(limits.admit('someone-else', 0).ok).toBe(true);
    c.advance(50_000);
    expect(limits.admit('x', 0).ok).toBe(true);
  });

  it('checks without counting, so a start refused by another limit costs nothing', () => {
    const c = clock();
    const perAddress = new ClientLimits({ maxSessions: 5, perMinute: 1, who: { held: 'Your network address already has', started: 'from your network address' } }, c.now);
    expect(perAddress.check('203.0.113.9', 0).ok).toBe(true);
    expect(perAddress.check('203.0.113.9', 0).ok).toBe(true);
    perAddress.record('203.0.113.9');
    expect(perAddress.check('203.0.113.9', 0)).toMatchObject({ ok: false, message: expect.stringMatching(/from your network address/) });
    expect(perAddress.check('203.0.113.9', 5)).toMatchObject({ ok: false, message: expect.stringMatching(/Your network address already has 5 sessions/) });
  });
});
