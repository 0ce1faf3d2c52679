/**
 * A learner's progress, kept in the browser's localStorage (there are no accounts): the steps
 * whose checks passed and the quizzes answered, per lesson. Plain functions over a Storage, so
 * the lesson page and the catalogue read the same thing.
 */

export interface QuizAnswer {
  /** Indexes of the options chosen. */
  choice: number[];
  correct: boolean;
}

export interface LessonProgress {
  /** Ids of steps whose checks all passed. */
  steps: string[];
  quizzes: Record<string, QuizAnswer>;
}

/** The subset of Storage used here, so tests can pass a Map-backed fake. */
export type ProgressStorage = Pick<Storage, 'getItem' | 'setItem'>;

export const progressKey = (lesson: string) => `berth:progress:${lesson}`;

const empty = (): LessonProgress => ({ steps: [], quizzes: {} });

/** The stored progress, or none when there is none or it cannot be read (private mode, bad JSON). */
export function readProgress(storage: ProgressStorage | undefined, lesson: string): LessonProgress {
  let text: string | null = null;
  try {
    text = storage?.getItem(progressKey(lesson)) ?? null;
  } catch {
    return empty();
  }
  if (!text) return empty();
  try {
    const value = JSON.parse(text) as Partial<LessonProgress>;
    const steps = Array.isArray(value.steps) ? value.steps.filter((step): step is string => typeof step === 'string') : [];
    const quizzes: Record<string, QuizAnswer> = {};
    for (const [id, answer] of Object.entries(value.quizzes ?? {})) {
      if (answer && Array.isArray(answer.choice) && typeof answer.correct === 'boolean') {
        quizzes[id] = { choice: answer.choice.filter((n) => Number.isInteger(n)), correct: answer.correct };
      }
    }
    return { steps, quizzes };
  } catch {
    return empty();
  }
}

/** Saves progress; a full or unavailable storage only loses the progress, never breaks the page. */
export function writeProgress(storage: ProgressStorage | undefined, lesson: string, progress: LessonProgress): void {
  try {
    storage?.setItem(progressKey(lesson), JSON.stringify(progress));
  } catch {
    // Nothing to do: progress is a convenience.
  }
}

export interface ProgressSummary {
  /** Checked steps that passed (only steps the lesson still has count). */
  done: number;
  /** Steps with a check. */
  total: number;
  /** Every checked step passed. */
  complete: boolean;
  /** Anything recorded at all, including quizzes. */
  started: boolean;
}

export function summarizeProgress(progress: LessonProgress, checkedSteps: readonly string[]): ProgressSummary {
  const passed = new Set(progress.steps);
  const done = checkedSteps.filter((step) => passed.has(step)).length;
  return {
    done,
    total: checkedSteps.length,
    complete: checkedSteps.length > 0 && done === checkedSteps.length,
    started: done > 0 || Object.keys(progress.quizzes).length > 0,
  };
}
