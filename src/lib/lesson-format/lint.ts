/**
 * The rules `npm run lessons:lint` adds to what parsing already enforces: things that make a
 * lesson parse but fail a learner (an image the mirror does not have, a broken link, a step
 * that cannot be checked). Node only; takes the catalogue and the images the mirror serves.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Catalogue, CatalogueLesson } from './catalogue.ts';
import type { LessonError } from './types.ts';
import { closest } from './yaml-fields.ts';

/** An image the registry mirror serves, as `sandbox-backend/images/recipes.ts` lists it. */
export interface ServedImage {
  name: string;
  tags: readonly string[];
}

export interface LintOptions {
  images: readonly ServedImage[];
  /** Paths in errors are shown relative to this folder. */
  displayRoot?: string;
}

/** More than this in `files/` slows every session start (the files travel through the exec API). */
export const MAX_FILES_BYTES = 1024 * 1024;

/** Every problem in the catalogue: the parser's, then the lint rules', sorted by file and line. */
export function lintCatalogue(catalogue: Catalogue, options: LintOptions): LessonError[] {
  const show = (file: string) => {
    const root = path.resolve(options.displayRoot ?? process.cwd());
    const relative = path.relative(root, file);
    return (relative.startsWith('..') || path.isAbsolute(relative) ? file : relative).split(path.sep).join('/');
  };
  const errors: LessonError[] = [...catalogue.errors];
  for (const lesson of catalogue.lessons.values()) errors.push(...lintLesson(lesson, options, show(lesson.path)));
  return errors.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

export function lintLesson(lesson: CatalogueLesson, options: LintOptions, file: string): LessonError[] {
  const errors: LessonError[] = [];
  const source = fs.readFileSync(lesson.path, 'utf8').split(/\r?\n/);

  lesson.frontMatter.images.forEach((image, index) => {
    const problem = imageProblem(image, options.images);
    if (problem) errors.push({ file, line: frontMatterLine(source, image), field: `images.${index}`, message: problem });
  });

  for (const [index, target] of lesson.targets.entries()) {
    if (target.kind !== 'broken') continue;
    const reference = lesson.references[index]!;
    errors.push({ file, line: reference.line, message: `broken ${reference.kind === 'image' ? 'image' : 'link'} ${target.message}` });
  }

  if (lesson.checks.length === 0) {
    const first = lesson.steps[0];
    errors.push({
      file,
      line: first?.line ?? 1,
      message: first
        ? 'the lesson has no check; add a ```sh check block to each step with a task, so learners (and npm run lessons:test) can tell it was done'
        : 'the lesson has no steps and no check; split it into "## " steps and give the ones with a task a ```sh check block',
    });
  }
  for (const step of lesson.steps) {
    if (step.solutions.length > 0 && step.checks.length === 0) {
      errors.push({
        file,
        line: step.solutions[0]!.line,
        message: `step "${step.title}" has a solution but no check; add a \`\`\`sh check block that passes once the exercise is done`,
      });
    }
  }

  for (const entry of lesson.unplaceable) {
    errors.push({ file: `${path.dirname(file)}/${entry}`, line: 1, message: 'cannot be copied into the sandbox: only plain files and folders can; replace the link with the file itself' });
  }
  const bytes = lesson.files.reduce((sum, f) => sum + Math.floor((f.base64.length * 3) / 4), 0);
  if (bytes > MAX_FILES_BYTES) {
    errors.push({
      file: `${path.dirname(file)}/files`,
      line: 1,
      message: `holds ${(bytes / 1024).toFixed(0)} KiB; keep it under ${MAX_FILES_BYTES / 1024} KiB, since it is copied into every session as it starts (generate big files in setup instead)`,
    });
  }
  return errors;
}

/**
 * What is wrong with an image reference the lesson pulls, or undefined if the mirror serves it.
 * `nginx`, `nginx:stable`, `library/nginx` and `docker.io/library/nginx:latest` all name the
 * same image; a digest pins content the mirror cannot promise, so only its name is checked.
 */
export function imageProblem(reference: string, images: readonly ServedImage[]): string | undefined {
  const withoutDigest = reference.split('@')[0]!;
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > withoutDigest.lastIndexOf('/');
  const repository = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
  const tag = hasTag ? withoutDigest.slice(colon + 1) : 'latest';
  const name = repository.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\//, '');
  const served = images.find((image) => image.name === name);
  const fix = 'or add a recipe for it in sandbox-backend/images/recipes.ts (see docs/images.md)';
  if (!served) {
    const guess = closest(name, images.map((image) => image.name));
    const list = images.map((image) => image.name).join(', ');
    return `"${reference}" is not served by the registry mirror, and sandboxes have no internet; ${guess ? `did you mean "${guess}"? ` : ''}the mirror serves ${list}; use one of them, ${fix}`;
  }
  if (!served.tags.includes(tag)) {
    return `"${reference}": the registry mirror serves ${name} only as ${served.tags.map((t) => `${name}:${t}`).join(', ')}; use one of those tags, ${fix}`;
  }
  return undefined;
}

/** The line of the front matter that mentions `text` (front matter lines come first in the file). */
function frontMatterLine(lines: string[], text: string): number {
  const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
  const limit = end < 0 ? lines.length : end;
  for (let i = 1; i < limit; i++) if (lines[i]!.includes(text)) return i + 1;
  return 1;
}
