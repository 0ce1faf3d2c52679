// The soak's verdicts rest on these: "nothing lost" on checkSeq and seqOutputBytes, the echo
// over time on bucketed, "memory is flat" on slopePerMinute. A change of meaning here would
// make a leak or a lost line pass unnoticed.
import { describe, expect, it } from 'vitest';
import type { SoakResult } from '../bench/measure-soak.ts';
import { loadBenchOptions } from '../bench/options.ts';
import { derive, evaluateTargets, type BenchResults } from '../bench/report.ts';
import { bucketed, checkSeq, outputLines, pickWeighted, seqOutputBytes, slopePerMinute } from '../bench/soak-stats.ts';

const PROMPT = 'root@node1:~#';
const seqLines = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));
/** What the terminal sends after Enter: the echoed line end, bash's bracketed-paste switch, the output, the prompt. */
const terminalBytes = (lines: string[]) => `\x1b[?2004l\r\r\n${lines.map((l) => `${l}\r\n`).join('')}\x1b[?2004h${PROMPT} `;

describe('seqOutputBytes', () => {
  it('counts each number with the CR LF a pty sends', () => {
    expect(seqOutputBytes(1)).toBe(3);
    expect(seqOutputBytes(9)).toBe(27);
    expect(seqOutputBytes(10)).toBe(27 + 4);
    expect(seqOutputBytes(2000)).toBe(seqLines(2000).reduce((a, l) => a + l.length + 2, 0));
    expect(seqOutputBytes(200_000)).toBe(seqLines(200_000).reduce((a, l) => a + l.length + 2, 0));
  });
});

describe('outputLines', () => {
  it('drops the echoed line end and the prompt, and removes escapes and CRs', () => {
    expect(outputLines(terminalBytes(['total 64', 'drwxr-xr-x   1 root root 4096 .']), PROMPT)).toEqual(['total 64', 'drwxr-xr-x   1 root root 4096 .']);
  });

  it('keeps a last line that is not the prompt (output cut short)', () => {
    expect(outputLines('\r\n1\r\n2', PROMPT)).toEqual(['1', '2']);
  });
});

describe('checkSeq', () => {
  it('accepts exactly seq 1 n as the terminal delivers it', () => {
    const check = checkSeq(outputLines(terminalBytes(seqLines(2000)), PROMPT), 2000);
    expect(check).toMatchObject({ lines: 2000, last: 2000, sum: 2001000, expectedSum: 2001000, outOfOrder: 0, foreign: 0, complete: true });
    expect(check.receivedBytes).toBe(check.expectedBytes);
  });

  it('finds a missing line in the middle, with the bytes it took', () => {
    const lines = seqLines(100).filter((l) => l !== '57');
    const check = checkSeq(lines, 100);
    expect(check).toMatchObject({ lines: 99, last: 100, outOfOrder: 1, complete: false });
    expect(check.expectedBytes - check.receivedBytes).toBe(4);
  });

  it('finds a missing tail even though what arrived is in order', () => {
    expect(checkSeq(seqLines(1999), 2000)).toMatchObject({ last: 1999, outOfOrder: 0, complete: false });
  });

  it('finds lines swapped or repeated, which count and last alone would miss', () => {
    const swapped = seqLines(10);
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expect(checkSeq(swapped, 10)).toMatchObject({ lines: 10, last: 10, sum: 55, complete: false });
    expect(checkSeq(swapped, 10).outOfOrder).toBeGreaterThan(0);
    expect(checkSeq(['1', '2', '2', '3'], 3)).toMatchObject({ outOfOrder: 1, complete: false });
  });

  it('finds a line torn apart or something else in between', () => {
    expect(checkSeq(['1', '2', '3x', '4'], 4)).toMatchObject({ foreign: 1, complete: false });
    expect(checkSeq(['1', '2', 'bash: oops', '3'], 3)).toMatchObject({ foreign: 1, lines: 3, complete: false });
  });

  it('requires the first number to be 1', () => {
    expect(checkSeq(['2', '3'], 3).outOfOrder).toBe(1);
  });
});

describe('bucketed', () => {
  it('gives each minute its own nearest-rank percentiles, in time order, skipping empty minutes', () => {
    const samples = [
      ...Array.from({ length: 100 }, (_, i) => ({ atMs: 120_000 + i, ms: i + 1 })),
      ...Array.from({ length: 10 }, (_, i) => ({ atMs: 59_999 - i, ms: 10 * (i + 1) })),
    ];
    expect(bucketed(samples)).toEqual([
      { index: 0, n: 10, p50: 50, p95: 100, p99: 100, max: 100 },
      { index: 2, n: 100, p50: 50, p95: 95, p99: 99, max: 100 },
    ]);
  });

  it('counts samples past the duration in the last bucket', () => {
    const samples = [
      { atMs: 100_000, ms: 1 },
      { atMs: 179_000, ms: 2 },
      { atMs: 182_000, ms: 3 },
    ];
    expect(bucketed(samples, 180_000).map((b) => [b.index, b.n])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    // A duration that is not whole minutes keeps its partial last minute.
    expect(bucketed(samples, 150_000).map((b) => [b.index, b.n])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(bucketed(samples, 110_000).map((b) => [b.index, b.n])).toEqual([[1, 3]]);
  });

  it('ignores samples before the start and non-finite ones', () => {
    expect(bucketed([{ atMs: -5, ms: 1 }, { atMs: 5, ms: Number.NaN }, { atMs: 6, ms: 2 }])).toEqual([{ index: 0, n: 1, p50: 2, p95: 2, p99: 2, max: 2 }]);
  });
});

describe('slopePerMinute', () => {
  it('is the least-squares slope in units per minute', () => {
    const points = Array.from({ length: 13 }, (_, i) => ({ atMs: i * 5_000, value: 100 + 3 * (i * 5_000 / 60_000) }));
    expect(slopePerMinute(points)).toBeCloseTo(3, 9);
  });

  it('is not made by one outlier at the end the way last minus first would be', () => {
    const flat = Array.from({ length: 24 }, (_, i) => ({ atMs: i * 5_000, value: 50 }));
    flat.push({ atMs: 24 * 5_000, value: 60 });
    expect(slopePerMinute(flat)!).toBeLessThan(2);
  });

  it('has no slope from fewer than two samples or from one instant', () => {
    expect(slopePerMinute([{ atMs: 0, value: 1 }])).toBeUndefined();
    expect(slopePerMinute([{ atMs: 0, value: 1 }, { atMs: 0, value: 2 }])).toBeUndefined();
  });
});

describe('pickWeighted', () => {
  const items = [
    { weight: 1, item: 'a' },
    { weight: 3, item: 'b' },
    { weight: 0, item: 'never' },
  ];
  it('splits [0, 1) in proportion to the weights', () => {
    expect(pickWeighted(items, () => 0)).toBe('a');
    expect(pickWeighted(items, () => 0.2499)).toBe('a');
    expect(pickWeighted(items, () => 0.25)).toBe('b');
    expect(pickWeighted(items, () => 0.9999999)).toBe('b');
  });

  it('refuses a list with nothing to pick', () => {
    expect(() => pickWeighted([{ weight: 0, item: 'x' }], () => 0.5)).toThrow();
  });
});

describe('soak options', () => {
  it('runs by default with 10 learners for 3 minutes, 30 s of warm-up', () => {
    const o = loadBenchOptions({});
    expect(o.skip.has('soak')).toBe(false);
    expect([o.soakLearners, o.soakSeconds, o.soakWarmupSeconds]).toEqual([10, 180, 30]);
  });

  it('keeps the warm-up inside a short soak', () => {
    expect(loadBenchOptions({ BENCH_SOAK_SECONDS: '30' }).soakWarmupSeconds).toBe(10);
    expect(() => loadBenchOptions({ BENCH_SOAK_SECONDS: '30', BENCH_SOAK_WARMUP_SECONDS: '30' })).toThrow(/BENCH_SOAK_WARMUP_SECONDS/);
  });

  it('BENCH_ONLY runs the sections named and skips the rest; BENCH_SKIP still applies', () => {
    const only = loadBenchOptions({ BENCH_ONLY: 'soak' });
    expect([...only.skip].sort()).toEqual(['burst', 'cold', 'density', 'terminal', 'ui', 'warm']);
    expect(loadBenchOptions({ BENCH_SKIP: 'soak' }).skip).toEqual(new Set(['soak']));
    expect(() => loadBenchOptions({ BENCH_ONLY: 'soaks' })).toThrow(/BENCH_ONLY: unknown section "soaks"/);
  });
});

describe('soak verdicts', () => {
  const MiB = 1024 ** 2;
  const memory = (atMs: number, rssMiB: number) => ({ atMs, rss: rssMiB * MiB, heapUsed: 20 * MiB, external: 10 * MiB, arrayBuffers: MiB, load1: 1 });
  const soak = (over: Partial<SoakResult> = {}): SoakResult => ({
    learners: 2,
    seconds: 120,
    warmupSeconds: 30,
    keyGapMs: [100, 200],
    opened: 2,
    openFailures: [],
    idleBefore: Array.from({ length: 100 }, (_, i) => 1 + i / 100),
    idleAfter: [1, 1, 1],
    // Minute 1 at the floor, minute 2 with a p95 of 5 ms: 2.5x the floor's p95 of about 2 ms.
    echo: [...Array.from({ length: 100 }, (_, i) => ({ atMs: i * 100, ms: 1 + i / 100, learner: 0 })), ...Array.from({ length: 100 }, (_, i) => ({ atMs: 60_000 + i * 100, ms: i < 94 ? 1 : 5, learner: 1 }))],
    commands: [{ learner: 0, phase: 'soak', kind: 'seq', atMs: 1000, ms: 50, bytes: 8893, ok: true, seq: checkSeq(Array.from({ length: 2000 }, (_, i) => String(i + 1)), 2000) }],
    timeline: [memory(35_000, 100), memory(60_000, 101), memory(90_000, 102)],
    checkpoints: { start: memory(0, 100), warm: memory(30_000, 100), end: memory(120_000, 119) },
    disconnects: [],
    errors: [],
    poolProblems: [],
    bytesReceived: 10_000,
    ...over,
  });
  const verdicts = (s: SoakResult) => {
    const r = { meta: {} as BenchResults['meta'], errors: {}, soak: s } as BenchResults;
    const d = derive(r);
    return Object.fromEntries(evaluateTargets(r, d).filter((t) => t.name.startsWith('Soak')).map((t) => [t.name.replace('Soak: ', ''), t.pass]));
  };

  it('passes a flat, responsive soak with everything whole', () => {
    expect(verdicts(soak())).toEqual({ 'backend memory after warm-up': true, 'keystroke echo under load': true, 'nothing lost': true });
  });

  it('judges memory by the growth after warm-up, not from the start', () => {
    const grown = soak({ checkpoints: { start: memory(0, 50), warm: memory(30_000, 100), end: memory(120_000, 121) } });
    expect(verdicts(grown)['backend memory after warm-up']).toBe(false);
    expect(verdicts(soak({ checkpoints: { start: memory(0, 50) } }))['backend memory after warm-up']).toBeUndefined();
  });

  it('misses the echo target when one minute is more than 3x the floor', () => {
    const slow = soak();
    slow.echo = slow.echo.map((e) => (e.atMs >= 60_000 && e.ms === 5 ? { ...e, ms: 7 } : e));
    expect(verdicts(slow)['keystroke echo under load']).toBe(false);
  });

  it('counts a disconnect, a failed command, an error or a learner without a session as something lost', () => {
    const event = { learner: 0, atMs: 1, message: 'x' };
    expect(verdicts(soak({ disconnects: [event] }))['nothing lost']).toBe(false);
    expect(verdicts(soak({ errors: [event] }))['nothing lost']).toBe(false);
    expect(verdicts(soak({ opened: 1, openFailures: ['HTTP 503'] }))['nothing lost']).toBe(false);
    const cut = checkSeq(Array.from({ length: 1999 }, (_, i) => String(i + 1)), 2000);
    expect(verdicts(soak({ commands: [{ learner: 0, phase: 'soak', kind: 'seq', atMs: 1, ms: 1, bytes: 1, ok: false, seq: cut }] }))['nothing lost']).toBe(false);
  });

  it('reports a pool that could not refill without calling it lost output', () => {
    expect(verdicts(soak({ poolProblems: [{ learner: -1, atMs: 1, message: 'pool did not refill' }] }))['nothing lost']).toBe(true);
  });
});
