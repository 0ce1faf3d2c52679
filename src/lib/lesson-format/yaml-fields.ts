import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { LessonError } from './types.ts';

/** On failure, `raw` is the parsed YAML (when it parsed), for callers that can still use parts of it. */
export type Validated<T> = { ok: true; data: T } | { ok: false; errors: LessonError[]; raw?: unknown };

/**
 * Parses YAML and validates it against a strict zod object schema, turning every problem into a
 * LessonError that points at the line of the offending key or value.
 *
 * `firstLine` is the line of the file on which `source` starts, so front matter embedded in a
 * markdown file still reports lines of the markdown file.
 */
export function parseYamlFields<T>(
  source: string,
  schema: z.ZodType<T>,
  knownKeys: readonly string[],
  file: string,
  firstLine = 1,
  /** The keys allowed in a nested map, by its path, for did-you-mean suggestions there. */
  nestedKeys?: (path: (string | number)[]) => readonly string[] | undefined,
): Validated<T> {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number) => lines.linePos(offset).line + firstLine - 1;

  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => ({
        file,
        line: lineOf(error.pos[0]),
        message: `${yamlProblem(error.code, error.message)}; check the indentation and quoting on this line`,
      })),
    };
  }
  if (!isMap(doc.contents)) {
    return {
      ok: false,
      errors: [{ file, line: firstLine, message: 'must be a set of "key: value" lines, e.g. title: Containers' }],
    };
  }

  const raw: unknown = doc.toJS();
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, data: result.data };

  const present = new Set(Object.keys(raw as Record<string, unknown>));
  const errors: LessonError[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const at = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
      const candidates = at.length === 0 ? knownKeys : (nestedKeys?.(at) ?? []);
      for (const key of issue.keys) {
        const guess = closest(key, candidates);
        errors.push({
          file,
          line: lineOf(keyOffset(doc, key, at) ?? 0),
          field: [...at, key].join('.'),
          message: guess
            ? `unknown key; did you mean "${guess}"?`
            : candidates.length > 0
              ? `unknown key; the keys are ${candidates.join(', ')}`
              : 'unknown key; remove it',
        });
      }
      continue;
    }
    const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
    const field = path.join('.');
    const top = path[0];
    if (path.length === 1 && typeof top === 'string' && !present.has(top)) {
      errors.push({ file, line: firstLine, field, message: `is required; add a "${top}:" line` });
      continue;
    }
    errors.push({ file, line: lineOf(valueOffset(doc, path) ?? 0), field: field || undefined, message: issue.message });
  }
  errors.sort((a, b) => a.line - b.line);
  return { ok: false, errors, raw };
}

function yamlProblem(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'a key appears twice; keep one';
  // The library's own messages are precise but start with a capital and may end with a period.
  return `invalid YAML: ${message.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())}`;
}

function keyOffset(doc: Document, key: string, at: (string | number)[] = []): number | undefined {
  const map: unknown = at.length === 0 ? doc.contents : doc.getIn(at, true);
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key) return pair.key.range?.[0];
  }
  return undefined;
}

function valueOffset(doc: Document, path: (string | number)[]): number | undefined {
  // Walk up until some ancestor exists: a missing list entry is best shown at its list.
  for (let depth = path.length; depth > 0; depth--) {
    const node: unknown = doc.getIn(path.slice(0, depth), true);
    if (node && typeof node === 'object' && 'range' in node) {
      const range = (node as { range?: [number, number, number] | null }).range;
      if (range) return range[0];
    }
    if (depth === 1) return keyOffset(doc, String(path[0]));
  }
  return undefined;
}

/** The known key a typo most likely meant, if any is close enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Optimal string alignment distance: like Levenshtein, but a swap of neighbours costs one. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}
