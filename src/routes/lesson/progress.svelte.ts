import { readProgress, summarizeProgress, writeProgress, type QuizAnswer } from '../../lib/lesson-format/progress.ts';

function storage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined;
  }
}

/** One lesson's progress as the page shows it; every change is saved at once. */
export class ProgressState {
  steps = $state<string[]>([]);
  quizzes = $state<Record<string, QuizAnswer>>({});

  constructor(readonly lesson: string) {
    const saved = readProgress(storage(), lesson);
    this.steps = saved.steps;
    this.quizzes = saved.quizzes;
  }

  isDone(step: string): boolean {
    return this.steps.includes(step);
  }

  markDone(step: string): void {
    if (this.isDone(step)) return;
    this.steps = [...this.steps, step];
    this.save();
  }

  answer(quiz: string, answer: QuizAnswer): void {
    this.quizzes = { ...this.quizzes, [quiz]: answer };
    this.save();
  }

  summary(checkedSteps: readonly string[]) {
    return summarizeProgress({ steps: this.steps, quizzes: this.quizzes }, checkedSteps);
  }

  private save(): void {
    writeProgress(storage(), this.lesson, { steps: $state.snapshot(this.steps), quizzes: $state.snapshot(this.quizzes) });
  }
}
