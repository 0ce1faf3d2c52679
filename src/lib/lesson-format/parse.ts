import { renderMarkdown, type Reference } from './markdown.ts';
import { lessonFrontMatterKeys, lessonFrontMatterSchema, MAX_NODES, type LessonFrontMatter } from './schema.ts';
import type { CheckBlock, LessonError, LessonStep, Quiz, RunnableBlock } from './types.ts';
import { parseYamlFields } from './yaml-fields.ts';

export interface ParsedLesson {
  frontMatter: LessonFrontMatter;
  /** Sanitised; relative links and images are `berth-ref:<n>` placeholders (see `references`). */
  html: string;
  /** `run` and `solution` blocks in document order: what a replay types. */
  blocks: RunnableBlock[];
  steps: LessonStep[];
  checks: CheckBlock[];
  quizzes: Quiz[];
  references: Reference[];
}

export type ParseResult = { ok: true; lesson: ParsedLesson } | { ok: false; errors: LessonError[] };

interface SplitLesson {
  frontMatter: string;
  /** Line of the file on which the front matter's first line sits. */
  frontMatterLine: number;
  body: string;
  bodyLine: number;
}

/** Separates the `---` fenced YAML front matter from the markdown body. */
export function splitFrontMatter(text: string): SplitLesson | undefined {
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  if (lines[0]?.trimEnd() !== '---') return undefined;
  const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (end < 0) return undefined;
  return {
    frontMatter: lines.slice(1, end).join('\n'),
    frontMatterLine: 2,
    body: lines.slice(end + 1).join('\n'),
    bodyLine: end + 2,
  };
}

/**
 * Parses one lesson.md: validates the front matter, renders the body and extracts its steps,
 * runnable blocks, checks, hints, solutions and quizzes. Every problem found is reported, not just the first, so an author fixes them in one go.
 *
 * `file` is only used in error messages.
 */
export function parseLesson(text: string, file: string): ParseResult {
  const split = splitFrontMatter(text);
  if (!split) {
    return {
      ok: false,
      errors: [
        {
          file,
          line: 1,
          message: 'a lesson starts with front matter: a line "---", then "title: ..." and "summary: ...", then another "---"',
        },
      ],
    };
  }
  const meta = parseYamlFields(split.frontMatter, lessonFrontMatterSchema, lessonFrontMatterKeys, file, split.frontMatterLine);
  const nodes = meta.ok ? meta.data.nodes : nodesOf(meta.raw);
  const body = renderMarkdown(split.body, { file, firstLine: split.bodyLine, nodes });
  const errors = [...(meta.ok ? [] : meta.errors), ...body.errors];
  if (!meta.ok || errors.length > 0) return { ok: false, errors };
  const { html, blocks, steps, checks, quizzes, references } = body;
  return { ok: true, lesson: { frontMatter: meta.data, html, blocks, steps, checks, quizzes, references } };
}

/**
 * The node count of front matter that failed validation for other reasons, so the body is still
 * checked against it. When it cannot be told, assume the maximum rather than invent
 * "node out of range" errors.
 */
function nodesOf(raw: unknown): number {
  const nodes = raw && typeof raw === 'object' ? (raw as { nodes?: unknown }).nodes : undefined;
  if (nodes === undefined) return 1;
  return Number.isInteger(nodes) && (nodes as number) >= 1 && (nodes as number) <= MAX_NODES ? (nodes as number) : MAX_NODES;
}
