/**
 * The soak's pure parts: how a command's output is judged complete, how latencies are bucketed
 * over time and how memory growth is turned into a slope. Free of I/O so that
 * tests/unit/bench-soak.test.ts pins them down.
 */
import { percentile } from './stats.ts';
import { stripEscapes } from './tty.ts';

/** Bytes `seq 1 n` writes to a terminal: each number and its line end, which the pty turns into CR LF. */
export function seqOutputBytes(n: number): number {
  let total = 0;
  for (let digits = 1, from = 1; from <= n; digits++, from *= 10) {
    const to = Math.min(n, from * 10 - 1);
    total += (to - from + 1) * (digits + 2);
  }
  return total;
}

/**
 * The lines a command printed, from the raw terminal bytes that arrived between its Enter and
 * the prompt after it: escapes and carriage returns removed, without the rest of the echoed
 * command line (first) and the prompt (last).
 */
export function outputLines(raw: string, prompt: string): string[] {
  const lines = stripEscapes(raw).replace(/\r/g, '').split('\n');
  lines.shift();
  if (lines.length && lines[lines.length - 1]!.includes(prompt)) lines.pop();
  return lines;
}

export interface SeqCheck {
  n: number;
  /** Numeric lines received, the last of them, and their sum against 1 + ... + n. */
  lines: number;
  last: number | undefined;
  sum: number;
  expectedSum: number;
  /** Numeric lines that do not follow the one before by exactly one (the first must be 1). */
  outOfOrder: number;
  /** Non-empty lines that are not numbers: output of something else, or a number torn apart. */
  foreign: number;
  expectedBytes: number;
  /** Bytes of the numeric lines as the terminal sent them (with CR LF). */
  receivedBytes: number;
  complete: boolean;
}

/** Whether `lines` are exactly `seq 1 n`: all of them, once each, in order, nothing else. */
export function checkSeq(lines: readonly string[], n: number): SeqCheck {
  let count = 0;
  let sum = 0;
  let last: number | undefined;
  let outOfOrder = 0;
  let foreign = 0;
  let receivedBytes = 0;
  for (const line of lines) {
    if (!/^\d+$/.test(line)) {
      if (line.trim() !== '') foreign++;
      continue;
    }
    const value = Number(line);
    if (value !== (last ?? 0) + 1) outOfOrder++;
    last = value;
    count++;
    sum += value;
    receivedBytes += line.length + 2;
  }
  const expectedSum = (n * (n + 1)) / 2;
  return {
    n,
    lines: count,
    last,
    sum,
    expectedSum,
    outOfOrder,
    foreign,
    expectedBytes: seqOutputBytes(n),
    receivedBytes,
    complete: count === n && last === n && sum === expectedSum && outOfOrder === 0 && foreign === 0,
  };
}

export interface TimedSample {
  /** Milliseconds since the soak started. */
  atMs: number;
  ms: number;
}

export interface Bucket {
  /** 0 for the first minute (or bucket) of the soak. */
  index: number;
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Latency percentiles per consecutive bucket of time (a minute by default); empty buckets are
 * left out. Samples past `durationMs` (learners finishing the command they were typing when time
 * ran out) count in the last bucket rather than making a bucket of a few seconds of their own.
 */
export function bucketed(samples: readonly TimedSample[], durationMs = Number.POSITIVE_INFINITY, bucketMs = 60_000): Bucket[] {
  const lastIndex = Math.max(0, Math.ceil(durationMs / bucketMs) - 1);
  const groups = new Map<number, number[]>();
  for (const s of samples) {
    if (!Number.isFinite(s.ms) || s.atMs < 0) continue;
    const index = Math.min(lastIndex, Math.floor(s.atMs / bucketMs));
    let group = groups.get(index);
    if (!group) groups.set(index, (group = []));
    group.push(s.ms);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, ms]) => ({
      index,
      n: ms.length,
      p50: percentile(ms, 50),
      p95: percentile(ms, 95),
      p99: percentile(ms, 99),
      max: Math.max(...ms),
    }));
}

/**
 * Least-squares slope of `value` over time, per minute (values in, e.g., bytes: bytes per
 * minute). A fit over every sample rather than last minus first, so that one sample taken just
 * before or after a collection does not make the trend.
 */
export function slopePerMinute(points: readonly { atMs: number; value: number }[]): number | undefined {
  if (points.length < 2) return undefined;
  const xs = points.map((p) => p.atMs / 60_000);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = points.reduce((a, p) => a + p.value, 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < points.length; i++) {
    sxy += (xs[i]! - meanX) * (points[i]!.value - meanY);
    sxx += (xs[i]! - meanX) ** 2;
  }
  return sxx === 0 ? undefined : sxy / sxx;
}

/** Picks one item with probability proportional to its weight; `random` returns [0, 1). */
export function pickWeighted<T>(items: readonly { weight: number; item: T }[], random: () => number): T {
  const total = items.reduce((a, i) => a + i.weight, 0);
  if (!(total > 0)) throw new Error('pickWeighted: no positive weight');
  let r = random() * total;
  for (const i of items) {
    if (r < i.weight) return i.item;
    r -= i.weight;
  }
  return items[items.length - 1]!.item;
}
