/**
 * Shapes shared by the lesson tooling (Node) and the app (browser). Keep this file free of
 * imports so the app can depend on it without pulling in the parser.
 */

export type Level = 'beginner' | 'intermediate' | 'advanced';

/** One problem in a lesson or module file, precise enough for an author to fix it without guessing. */
export interface LessonError {
  /** Path as the author would type it, e.g. `lessons/01-containers/01-first-container/lesson.md`. */
  file: string;
  /** 1-based line in `file`. */
  line: number;
  /** Front matter key (dotted for nested values, e.g. `images.2`), when the problem is about one. */
  field?: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/** A code block the learner (or a lesson test) can send to a node's terminal. */
export interface RunnableBlock {
  /** `node1`..`node5`. */
  node: string;
  /** The block's text exactly as written, lines joined with `\n`, no trailing newline. */
  command: string;
  /** Send Ctrl-C before the command, to stop whatever is running in the foreground. */
  interrupt: boolean;
  /** 1-based line of the opening fence in lesson.md. */
  line: number;
}

export interface LessonSummary {
  /** `<module-slug>/<lesson-slug>`, e.g. `containers/first-container`. */
  id: string;
  module: string;
  slug: string;
  title: string;
  summary: string;
  minutes?: number;
  level: Level;
  nodes: number;
}

export interface ModuleSummary {
  id: string;
  title: string;
  summary: string;
  lessons: LessonSummary[];
}

/** What the lesson page needs to render one lesson. */
export interface LessonContent extends LessonSummary {
  html: string;
  blocks: RunnableBlock[];
  prerequisites: { id: string; title: string }[];
}

export function formatLessonError(error: LessonError): string {
  const where = `${error.file}:${error.line}`;
  return error.field === undefined ? `${where} ${error.message}` : `${where} field "${error.field}": ${error.message}`;
}
