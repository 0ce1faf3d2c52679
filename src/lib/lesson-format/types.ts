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
  /** `run` blocks are shown with a Run button; `solution` blocks only once the learner asks for them. */
  kind: 'run' | 'solution';
  /** Id of the step (`##` section) the block is in; absent before the first step. */
  step?: string;
}

/** A script that tells whether the learner did a step: exit 0 passes. */
export interface CheckBlock {
  step: string;
  node: string;
  script: string;
  /** Re-run in the background until it passes, instead of only when the learner asks. */
  watch: boolean;
  line: number;
}

export interface QuizOption {
  /** Inline HTML (sanitised). */
  html: string;
  correct: boolean;
  /** Why this option is right or wrong, shown after answering; inline HTML. */
  whyHtml?: string;
}

export interface Quiz {
  /** Unique in the lesson and stable while the lesson's steps keep their titles. */
  id: string;
  step?: string;
  line: number;
  questionHtml: string;
  options: QuizOption[];
  explanationHtml?: string;
  /** More than one option is correct: the learner picks all of them. */
  multiple: boolean;
}

/** A `##` section of a lesson: what progress counts. */
export interface LessonStep {
  /** From the heading's text, e.g. `running-in-the-background`; unique in the lesson. */
  id: string;
  title: string;
  line: number;
  /** `run` and `solution` blocks, in document order. */
  blocks: RunnableBlock[];
  checks: CheckBlock[];
  /** Sanitised HTML of each hint, in the order they are revealed. */
  hints: string[];
  solutions: RunnableBlock[];
  /** Ids of the step's quizzes. */
  quizzes: string[];
}

/** A file of the lesson's `files/` folder, placed under /root/ in node1 when a session starts. */
export interface LessonFile {
  /** Relative to /root/, with `/` separators, e.g. `app/Dockerfile`. */
  path: string;
  base64: string;
  executable: boolean;
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
  /** Ids of the steps that have a check: the lesson is done when all of them passed. */
  checkedSteps: string[];
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
  /** Every `run` and `solution` block in document order. */
  blocks: RunnableBlock[];
  steps: LessonStep[];
  quizzes: Quiz[];
  prerequisites: { id: string; title: string }[];
  /** Shell commands run in node1 (after `files` are placed) when a session starts. */
  setup: string[];
  files: LessonFile[];
}

export function formatLessonError(error: LessonError): string {
  const where = `${error.file}:${error.line}`;
  return error.field === undefined ? `${where} ${error.message}` : `${where} field "${error.field}": ${error.message}`;
}
