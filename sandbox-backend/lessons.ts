/**
 * What the backend needs to know of lessons: which exist and how many nodes each wants. Read with
 * the same loader the app and the lint tool use, and re-read when asked for a lesson it does not
 * know yet, so a lesson added while the backend runs (npm run dev) is found.
 */
import { loadCatalogue } from '../src/lib/lesson-format/index.ts';

export interface LessonInfo {
  nodes: number;
}

export interface LessonDirectory {
  find(id: string): LessonInfo | undefined;
}

export function lessonDirectory(dir: string): LessonDirectory {
  let known = new Map<string, LessonInfo>();
  const load = () => {
    known = new Map([...loadCatalogue(dir).lessons].map(([id, lesson]) => [id, { nodes: lesson.frontMatter.nodes }]));
  };
  load();
  return {
    find(id) {
      if (!known.has(id)) load();
      return known.get(id);
    },
  };
}
