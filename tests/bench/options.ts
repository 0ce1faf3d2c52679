/**
 * The bench's knobs, read once from the environment. Defaults keep a whole run under about five
 * minutes on a 2-core machine; raise the counts for tighter p95s on a quiet machine.
 */

export interface BenchOptions {
  /** Repetitions of each latency (warm and cold time to prompt, and their floors). */
  runs: number;
  /** Sessions requested at once in the burst. */
  burst: number;
  burstRuns: number;
  /** Keystrokes per path (through the backend, and directly) for the echo round trip. */
  echoSamples: number;
  /** Bytes fed to base64 for the bulk-output measurement, and how many times per path. */
  bulkBytes: number;
  bulkRuns: number;
  /** Sections to skip, e.g. "burst,ui" while iterating on another one (BENCH_SKIP, or all but BENCH_ONLY). */
  skip: Set<Section>;
  /** Simulated learners in the soak, each with a session and a terminal of its own. */
  soakLearners: number;
  /** How long the learners type, and the first part of it that the memory verdict leaves out. */
  soakSeconds: number;
  soakWarmupSeconds: number;
  /** Also run the experiments behind the documented causes of a slow warm start (measure-diagnose.ts). */
  diagnose: boolean;
  /** Rebuild the UI even when dist/ exists. */
  uiBuild: boolean;
  /** Backend log level in the child processes. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  resultsDir: string;
}

export const sections = ['warm', 'cold', 'burst', 'terminal', 'density', 'soak', 'ui'] as const;
export type Section = (typeof sections)[number];

function int(env: Record<string, string | undefined>, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${key}=${JSON.stringify(raw)}: use a whole number from ${min} to ${max}`);
  }
  return value;
}

function sectionList(env: Record<string, string | undefined>, key: string): Set<Section> {
  const list = new Set<Section>();
  for (const name of (env[key] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(sections as readonly string[]).includes(name)) {
      throw new Error(`${key}: unknown section "${name}" (known: ${sections.join(', ')})`);
    }
    list.add(name as Section);
  }
  return list;
}

export function loadBenchOptions(env: Record<string, string | undefined> = process.env): BenchOptions {
  const skip = sectionList(env, 'BENCH_SKIP');
  const only = sectionList(env, 'BENCH_ONLY');
  if (only.size) for (const name of sections) if (!only.has(name)) skip.add(name);
  const soakSeconds = int(env, 'BENCH_SOAK_SECONDS', 180, 10, 86_400);
  const level = env.BENCH_LOG_LEVEL ?? 'warn';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new Error(`BENCH_LOG_LEVEL: use debug, info, warn or error`);
  return {
    runs: int(env, 'BENCH_RUNS', 5, 1, 1000),
    burst: int(env, 'BENCH_BURST', 20, 1, 500),
    burstRuns: int(env, 'BENCH_BURST_RUNS', 1, 1, 100),
    echoSamples: int(env, 'BENCH_ECHO_SAMPLES', 300, 10, 100_000),
    bulkBytes: int(env, 'BENCH_BULK_BYTES', 50_000_000, 1_000, 10_000_000_000),
    bulkRuns: int(env, 'BENCH_BULK_RUNS', 2, 1, 100),
    skip,
    soakLearners: int(env, 'BENCH_SOAK_LEARNERS', 10, 1, 200),
    soakSeconds,
    // Below the duration, so that some of the soak is left to judge.
    soakWarmupSeconds: int(env, 'BENCH_SOAK_WARMUP_SECONDS', Math.min(30, Math.floor(soakSeconds / 3)), 0, soakSeconds - 5),
    uiBuild: env.BENCH_UI_BUILD === '1',
    diagnose: env.BENCH_DIAGNOSE === '1',
    logLevel: level as BenchOptions['logLevel'],
    resultsDir: env.BENCH_RESULTS_DIR ?? 'results',
  };
}
