/**
 * The start of a class: everyone opens the lesson at once. Every session is requested in the
 * same instant; the figure is how long until the last learner has a prompt, and how many got none.
 */
import type { BackendProcess } from './backend-process.ts';
import { endSession, sessionToPrompt, type OpenedSession, type PromptTiming } from './sessions.ts';

export interface BurstRun {
  requested: number;
  /** Request until the last successful prompt. */
  allMs: number | undefined;
  /** Each successful learner's own wait, POST to prompt. */
  perSession: PromptTiming[];
  failures: string[];
  /** Learners who got their session through the queue (every sandbox was taken). */
  queued: number;
  poolBefore: { idle: number; max: number };
}

export interface BurstResult {
  runs: BurstRun[];
}

/** Runs one burst and leaves its sessions open (for the density measurement); the caller ends them. */
export async function burstOnce(backend: BackendProcess, n: number): Promise<{ run: BurstRun; open: OpenedSession[] }> {
  const pool = await backend.whenFilled();
  const t0 = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: n }, () => sessionToPrompt(backend.url, 120_000)));
  const open: OpenedSession[] = [];
  const failures: string[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') open.push(outcome.value);
    else failures.push((outcome.reason as Error).message);
  }
  const ends = open.map((s) => s.promptAt);
  return {
    run: {
      requested: n,
      allMs: ends.length ? Math.max(...ends) - t0 : undefined,
      perSession: open.map((s) => s.timing),
      failures,
      queued: open.filter((s) => s.queued).length,
      poolBefore: { idle: pool.idle, max: pool.max },
    },
    open,
  };
}

export async function closeSessions(base: string, sessions: OpenedSession[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.terminal.close().catch(() => {})));
  await Promise.all(sessions.map((s) => endSession(base, s.id).catch(() => {})));
}
