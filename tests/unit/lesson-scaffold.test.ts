import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { learnerImages } from '../../sandbox-backend/images/recipes.ts';
import { loadCatalogue } from '../../src/lib/lesson-format/index.ts';
import { lintCatalogue } from '../../src/lib/lesson-format/lint.ts';
import { scaffoldLesson, ScaffoldError } from '../../src/lib/lesson-format/scaffold.ts';

describe('lessons:new', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fresh = () => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-new-')));

  it('creates the module and a lesson that parses and lints clean', () => {
    fresh();
    const created = scaffoldLesson(dir, 'networking', 'ports');
    expect(created.id).toBe('networking/ports');
    expect(path.relative(dir, created.lessonFile)).toBe('01-networking/01-ports/lesson.md');
    expect(fs.readFileSync(created.moduleFile!, 'utf8')).toMatch(/^title: Networking$/m);
    const catalogue = loadCatalogue(dir, { displayRoot: dir });
    expect(lintCatalogue(catalogue, { images: learnerImages, displayRoot: dir })).toEqual([]);
    const lesson = catalogue.lessons.get('networking/ports')!;
    expect(lesson.steps).toHaveLength(1);
    expect(lesson.steps[0]).toMatchObject({ blocks: [{ kind: 'run' }], checks: [{ node: 'node1' }], hints: [expect.any(String)] });
    // The explanations are comments: they do not reach learners.
    expect(lesson.html).not.toContain('A lesson is markdown');
  });

  it('numbers after the last lesson and module', () => {
    fresh();
    fs.mkdirSync(path.join(dir, '03-images/07-layers'), { recursive: true });
    fs.writeFileSync(path.join(dir, '03-images/module.yml'), 'title: Images\nsummary: S\n');
    expect(path.relative(dir, scaffoldLesson(dir, 'images', 'cache').lessonFile)).toBe('03-images/08-cache/lesson.md');
    expect(path.relative(dir, scaffoldLesson(dir, '03-images', 'tags').lessonFile)).toBe('03-images/09-tags/lesson.md');
    expect(path.relative(dir, scaffoldLesson(dir, 'compose', 'up').lessonFile)).toBe('04-compose/01-up/lesson.md');
  });

  it('refuses bad names and existing lessons with clear messages', () => {
    fresh();
    scaffoldLesson(dir, 'containers', 'first');
    expect(() => scaffoldLesson(dir, 'containers', 'first')).toThrow(/lesson containers\/first already exists in .*01-first; pick another name/);
    expect(() => scaffoldLesson(dir, 'containers', 'My Lesson')).toThrow(ScaffoldError);
    expect(() => scaffoldLesson(dir, 'containers', 'My Lesson')).toThrow('"My Lesson" is not a valid lesson name: use lower-case letters, digits and single dashes, e.g. "my-lesson"');
    expect(() => scaffoldLesson(dir, 'Bad_Module', 'x')).toThrow(/"Bad_Module" is not a valid module name/);
  });
});
