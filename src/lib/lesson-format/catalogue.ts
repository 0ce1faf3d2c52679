import fs from 'node:fs';
import path from 'node:path';
import { resolveReferences } from './markdown.ts';
import { parseLesson, type ParsedLesson } from './parse.ts';
import { isSlug, moduleKeys, moduleSchema } from './schema.ts';
import type { Reference } from './markdown.ts';
import type { LessonContent, LessonError, LessonFile, LessonSummary, ModuleSummary } from './types.ts';
import { parseYamlFields } from './yaml-fields.ts';

export interface CatalogueLesson extends ParsedLesson {
  /** `<module-slug>/<lesson-slug>`. */
  id: string;
  module: string;
  slug: string;
  /** Absolute path of lesson.md. */
  path: string;
  /** The lesson's folder, where its optional extra files live. */
  dir: string;
  /** Where each of `references` leads, by index. */
  targets: ReferenceTarget[];
  /** The `files/` folder's files, to place under /root/ in node1. */
  files: LessonFile[];
  /** Entries of `files/` that cannot be placed (links, special files), relative to the lesson folder. */
  unplaceable: string[];
}

/** What a relative link or image of a lesson points at. */
export type ReferenceTarget =
  | { kind: 'asset'; file: string }
  | { kind: 'lesson'; id: string }
  | { kind: 'broken'; reference: Reference; message: string };

export const IMAGE_EXTENSIONS = ['.svg', '.png', '.jpg', '.jpeg', '.gif', '.webp'];

export interface CatalogueModule {
  id: string;
  title: string;
  summary: string;
  dir: string;
  lessons: CatalogueLesson[];
}

export interface Catalogue {
  modules: CatalogueModule[];
  /** Every valid lesson by id. */
  lessons: Map<string, CatalogueLesson>;
  /** Every problem found; lessons and modules with errors are left out of `modules`. */
  errors: LessonError[];
}

export interface CatalogueOptions {
  /** Error paths are shown relative to this folder (default: the working directory). */
  displayRoot?: string;
}

const NUMBERED = /^(\d+)-(.+)$/;

/**
 * Reads a lessons folder laid out as `<NN-module>/module.yml` and `<NN-module>/<NN-lesson>/lesson.md`.
 * Order comes from the number prefixes; ids from the names without them. Folders whose names
 * start with `.` or `_` are skipped, so drafts and shared assets can sit alongside.
 */
export function loadCatalogue(lessonsDir: string, options: CatalogueOptions = {}): Catalogue {
  const root = path.resolve(lessonsDir);
  const displayRoot = path.resolve(options.displayRoot ?? process.cwd());
  const show = (file: string) => {
    const relative = path.relative(displayRoot, file);
    return (relative.startsWith('..') || path.isAbsolute(relative) ? file : relative).split(path.sep).join('/');
  };
  const errors: LessonError[] = [];
  const modules: CatalogueModule[] = [];
  const lessons = new Map<string, CatalogueLesson>();

  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    errors.push({ file: show(root), line: 1, message: 'the lessons folder does not exist; create it or point to the right one' });
    return { modules, lessons, errors };
  }

  for (const moduleEntry of numberedFolders(root, show, errors, 'module', '01-containers')) {
    const moduleFile = path.join(moduleEntry.dir, 'module.yml');
    if (!fs.existsSync(moduleFile)) {
      errors.push({ file: show(moduleFile), line: 1, message: 'missing: every module folder needs a module.yml with a title and a summary' });
      continue;
    }
    const meta = parseYamlFields(fs.readFileSync(moduleFile, 'utf8'), moduleSchema, moduleKeys, show(moduleFile));
    if (!meta.ok) {
      errors.push(...meta.errors);
      continue;
    }
    const module: CatalogueModule = { id: moduleEntry.slug, ...meta.data, dir: moduleEntry.dir, lessons: [] };
    for (const lessonEntry of numberedFolders(moduleEntry.dir, show, errors, 'lesson', '01-first-container')) {
      const lessonFile = path.join(lessonEntry.dir, 'lesson.md');
      if (!fs.existsSync(lessonFile)) {
        errors.push({ file: show(lessonFile), line: 1, message: 'missing: every lesson folder needs a lesson.md' });
        continue;
      }
      const parsed = parseLesson(fs.readFileSync(lessonFile, 'utf8'), show(lessonFile));
      if (!parsed.ok) {
        errors.push(...parsed.errors);
        continue;
      }
      const files = readFilesFolder(lessonEntry.dir);
      const lesson: CatalogueLesson = {
        ...parsed.lesson,
        id: `${module.id}/${lessonEntry.slug}`,
        module: module.id,
        slug: lessonEntry.slug,
        path: lessonFile,
        dir: lessonEntry.dir,
        targets: [],
        files: files.files,
        unplaceable: files.unplaceable,
      };
      module.lessons.push(lesson);
      lessons.set(lesson.id, lesson);
    }
    modules.push(module);
  }

  const byDir = new Map([...lessons.values()].map((lesson) => [lesson.dir, lesson.id]));
  for (const lesson of lessons.values()) {
    lesson.targets = lesson.references.map((reference) => resolveReference(root, lesson, reference, byDir));
  }

  for (const lesson of lessons.values()) {
    for (const prerequisite of lesson.frontMatter.prerequisites) {
      const problem =
        prerequisite === lesson.id ? 'a lesson cannot be its own prerequisite' : lessons.has(prerequisite) ? undefined : 'no lesson has this id';
      if (!problem) continue;
      errors.push({
        file: show(lesson.path),
        line: lineContaining(lesson.path, prerequisite),
        field: 'prerequisites',
        message: `"${prerequisite}": ${problem}; ids are <module>/<lesson> without number prefixes, e.g. ${lessons.keys().next().value ?? 'containers/first-container'}`,
      });
    }
  }
  return { modules, lessons, errors };
}

interface NumberedFolder {
  order: number;
  slug: string;
  dir: string;
}

function numberedFolders(
  parent: string,
  show: (file: string) => string,
  errors: LessonError[],
  what: string,
  example: string,
): NumberedFolder[] {
  const folders: NumberedFolder[] = [];
  for (const entry of fs.readdirSync(parent, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name.startsWith('_')) continue;
    const dir = path.join(parent, entry.name);
    const match = NUMBERED.exec(entry.name);
    if (!match || !isSlug(match[2]!)) {
      errors.push({
        file: show(dir),
        line: 1,
        message: `a ${what} folder is named <number>-<name> in lower case with dashes, e.g. ${example}; rename it (or start it with "_" to skip it)`,
      });
      continue;
    }
    folders.push({ order: Number(match[1]), slug: match[2]!, dir });
  }
  folders.sort((a, b) => a.order - b.order || a.slug.localeCompare(b.slug));
  for (let i = 1; i < folders.length; i++) {
    const previous = folders[i - 1]!;
    const current = folders[i]!;
    if (current.order === previous.order) {
      errors.push({
        file: show(current.dir),
        line: 1,
        message: `has the same number as ${path.basename(previous.dir)}, so their order is unclear; renumber one`,
      });
    }
    if (folders.some((other, j) => j < i && other.slug === current.slug)) {
      errors.push({
        file: show(current.dir),
        line: 1,
        message: `another ${what} is also named "${current.slug}", so both would get the same id; rename one`,
      });
    }
  }
  return folders;
}

function lineContaining(file: string, needle: string): number {
  const index = fs.readFileSync(file, 'utf8').split('\n').findIndex((line) => line.includes(needle));
  return index < 0 ? 1 : index + 1;
}

/**
 * Where a relative link or image leads: a file served with the lesson (anything under the lessons
 * folder, so modules can share diagrams from a `_shared` folder), or another lesson when it names
 * that lesson's folder or lesson.md.
 */
function resolveReference(root: string, lesson: CatalogueLesson, reference: Reference, byDir: Map<string, string>): ReferenceTarget {
  const broken = (message: string): ReferenceTarget => ({ kind: 'broken', reference, message });
  let relative: string;
  try {
    relative = decodeURIComponent(reference.path.replace(/\?.*$/, ''));
  } catch {
    return broken(`"${reference.path}" is not a valid URL path; write spaces as %20 and nothing else escaped`);
  }
  if (relative === '') return broken(`"${reference.path}" names no file`);
  const target = path.resolve(lesson.dir, relative);
  if (target !== root && !target.startsWith(root + path.sep)) {
    return broken(`"${reference.path}" leads out of the lessons folder; only files under it are served with the lesson`);
  }
  const folder = path.basename(target) === 'lesson.md' ? path.dirname(target) : target;
  const lessonId = byDir.get(folder);
  if (lessonId !== undefined) {
    if (reference.kind === 'image') return broken(`"${reference.path}" is a lesson, not an image`);
    return { kind: 'lesson', id: lessonId };
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(target);
  } catch {
    stat = undefined;
  }
  if (!stat) {
    const shown = path.relative(lesson.dir, target).split(path.sep).join('/');
    return broken(`"${reference.path}": there is no file ${shown} in the lesson's folder; check the name (it is case-sensitive) or add the file`);
  }
  if (!stat.isFile()) return broken(`"${reference.path}" is a folder; link to a file or to a lesson's folder`);
  if (reference.kind === 'image' && !IMAGE_EXTENSIONS.includes(path.extname(target).toLowerCase())) {
    return broken(`"${reference.path}" is not an image the app can show; use ${IMAGE_EXTENSIONS.join(', ')}`);
  }
  return { kind: 'asset', file: target };
}

/** Reads `files/` of a lesson folder; file contents travel base64-encoded, as the exec API needs them. */
function readFilesFolder(lessonDir: string): { files: LessonFile[]; unplaceable: string[] } {
  const root = path.join(lessonDir, 'files');
  const files: LessonFile[] = [];
  const unplaceable: string[] = [];
  if (!fs.existsSync(root) || !fs.lstatSync(root).isDirectory()) return { files, unplaceable };
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      const relative = path.relative(root, full).split(path.sep).join('/');
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const stat = fs.statSync(full);
        files.push({ path: relative, base64: fs.readFileSync(full).toString('base64'), executable: (stat.mode & 0o111) !== 0 });
      } else unplaceable.push(`files/${relative}`);
    }
  };
  walk(root);
  return { files, unplaceable };
}

export function lessonSummary(lesson: CatalogueLesson): LessonSummary {
  const { title, summary, minutes, level, nodes } = lesson.frontMatter;
  return {
    id: lesson.id,
    module: lesson.module,
    slug: lesson.slug,
    title,
    summary,
    ...(minutes === undefined ? {} : { minutes }),
    level,
    nodes,
    checkedSteps: lesson.steps.filter((step) => step.checks.length > 0).map((step) => step.id),
  };
}

/** The catalogue as the catalogue page shows it: titles and summaries, no lesson bodies. */
export function catalogueSummary(catalogue: Catalogue): ModuleSummary[] {
  return catalogue.modules.map((module) => ({
    id: module.id,
    title: module.title,
    summary: module.summary,
    lessons: module.lessons.map(lessonSummary),
  }));
}

/**
 * The URL a relative reference gets when no bundler is involved: another lesson's page, or the
 * path as written. The Vite plugin replaces asset paths with the URLs of the files it serves.
 */
export function defaultReferenceUrl(lesson: CatalogueLesson, index: number): string {
  const target = lesson.targets[index];
  const reference = lesson.references[index]!;
  return target?.kind === 'lesson' ? `/lessons/${target.id}${reference.fragment}` : reference.path + reference.fragment;
}

/**
 * Everything the lesson page needs. With `keepPlaceholders`, relative links and images in `html`
 * stay `berth-ref:<n>` for the caller to resolve (the Vite plugin does, with asset URLs).
 */
export function lessonContent(catalogue: Catalogue, lesson: CatalogueLesson, options: { keepPlaceholders?: boolean } = {}): LessonContent {
  const urls = lesson.references.map((_, index) => defaultReferenceUrl(lesson, index));
  return {
    ...lessonSummary(lesson),
    html: options.keepPlaceholders ? lesson.html : resolveReferences(lesson.html, urls),
    blocks: lesson.blocks,
    steps: lesson.steps,
    quizzes: lesson.quizzes,
    prerequisites: lesson.frontMatter.prerequisites.map((id) => ({ id, title: catalogue.lessons.get(id)?.frontMatter.title ?? id })),
    setup: lesson.frontMatter.setup,
    files: lesson.files,
  };
}
