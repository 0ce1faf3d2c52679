import { runCheck } from '../../lib/lesson-format/provision.ts';
import type { LessonStep } from '../../lib/lesson-format/types.ts';
import type { ProgressState } from './progress.svelte.ts';
import type { LessonSession } from './session.svelte.ts';

export type CheckState =
  | { state: 'idle' }
  | { state: 'running' }
  | { state: 'passed' }
  | { state: 'failed'; feedback: string };

/** How often `watch` checks run while they have not passed. */
export const WATCH_INTERVAL_MS = 3000;

/**
 * Runs steps' checks in the learner's sandbox and records the ones that pass. A step passes when
 * all its checks do; the first failing one gives the feedback.
 */
export class StepChecks {
  results = $state<Record<string, CheckState>>({});
  private steps: LessonStep[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly session: LessonSession,
    private readonly progress: ProgressState,
  ) {}

  setSteps(steps: LessonStep[]): void {
    this.steps = steps;
  }

  result(step: string): CheckState {
    return this.results[step] ?? { state: 'idle' };
  }

  /** Runs the step's checks; `quietly` leaves a failure unreported (background watching). */
  async check(stepId: string, { quietly = false } = {}): Promise<void> {
    const step = this.steps.find((s) => s.id === stepId);
    if (!step || step.checks.length === 0 || this.inFlight.has(stepId)) return;
    if (this.session.phase !== 'ready') {
      if (!quietly) this.results[stepId] = { state: 'failed', feedback: 'Start the sandbox first, then do the step and check again.' };
      return;
    }
    this.inFlight.add(stepId);
    if (!quietly) this.results[stepId] = { state: 'running' };
    try {
      for (const check of step.checks) {
        const outcome = await runCheck(check, (node, cmd) => this.session.exec(node, cmd));
        if (!outcome.passed) {
          if (!quietly) this.results[stepId] = { state: 'failed', feedback: outcome.feedback };
          return;
        }
      }
      this.results[stepId] = { state: 'passed' };
      this.progress.markDone(stepId);
    } catch (error) {
      if (!quietly) this.results[stepId] = { state: 'failed', feedback: `The check could not run: ${(error as Error).message}` };
    } finally {
      this.inFlight.delete(stepId);
    }
  }

  /** Starts re-running `watch` checks of unfinished steps while the session is ready. */
  startWatching(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (this.session.phase !== 'ready') return;
      for (const step of this.steps) {
        if (!step.checks.some((check) => check.watch)) continue;
        if (this.progress.isDone(step.id) || this.result(step.id).state === 'passed') continue;
        void this.check(step.id, { quietly: true });
      }
    }, WATCH_INTERVAL_MS);
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
