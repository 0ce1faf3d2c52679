/**
 * Every lesson as a test of its own: `vitest run --project lessons`. LESSONS=id,id picks lessons;
 * LESSONS_CONCURRENCY (default 2) sets how many replay at once.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { TestBackend } from '../support/backend.ts';
import { defaultConcurrency, loadLessons, selectLessons, startLessonBackend, testLesson } from './runner.ts';

const wanted = (process.env.LESSONS ?? '')
  .split(',')
  .map((id) => id.trim())
  .filter(Boolean);
const lessons = selectLessons(loadLessons(wanted).catalogue, wanted);

let backend: TestBackend;
beforeAll(async () => {
  backend = await startLessonBackend(defaultConcurrency());
});
afterAll(async () => {
  await backend?.stop();
});

describe.concurrent('lessons', () => {
  for (const lesson of lessons) {
    it(lesson.id, async () => {
      const outcome = await testLesson(backend, lesson);
      if (!outcome.ok) throw new Error(outcome.failure);
    });
  }
});
