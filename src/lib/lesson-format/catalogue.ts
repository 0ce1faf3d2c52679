import fs from 'node:fs';
import path from 'node:path';
import { parseLesson, type ParsedLesson } from './parse.ts';
import { isSlug, moduleKeys, moduleSchema } from './schema.ts';
import type { LessonContent, LessonError, LessonSummary, ModuleSummary } from './types.ts';
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
}

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
      const lesson: CatalogueLesson = {
        ...parsed.lesson,
        id: `${module.id}/${lessonEntry.slug}`,
        module: module.id,
        slug: lessonEntry.slug,
        path: lessonFile,
        dir: lessonEntry.dir,
      };
      module.lessons.push(lesson);
      lessons.set(lesson.id, lesson);
    }
    modules.push(module);
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

export function lessonSummary(lesson: CatalogueLesson): LessonSummary {
  const { title, summary, minutes, level, nodes } = lesson.frontMatter;
  return { id: lesson.id, module: lesson.module, slug: lesson.slug, title, summary, ...(minutes === undefined ? {} : { minutes }), level, nodes };
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

export function lessonContent(catalogue: Catalogue, lesson: CatalogueLesson): LessonContent {
  return {
    ...lessonSummary(lesson),
    html: lesson.html,
    blocks: lesson.blocks,
    prerequisites: lesson.frontMatter.prerequisites.map((id) => ({ id, title: catalogue.lessons.get(id)?.frontMatter.title ?? id })),
  };
}
