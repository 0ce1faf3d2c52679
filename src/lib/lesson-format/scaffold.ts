/**
 * Creates a new lesson folder with a complete, commented example (what `npm run lessons:new`
 * does). Node only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isSlug } from './schema.ts';

export class ScaffoldError extends Error {
  override name = 'ScaffoldError';
}

export interface Scaffolded {
  /** `<module>/<slug>`. */
  id: string;
  lessonFile: string;
  /** Set when the module folder was created too. */
  moduleFile?: string;
}

const NUMBERED = /^(\d+)-(.+)$/;

function numbered(dir: string): { order: number; slug: string; name: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const match = NUMBERED.exec(entry.name);
      return match ? [{ order: Number(match[1]), slug: match[2]!, name: entry.name }] : [];
    });
}

function nextName(existing: { order: number }[], slug: string): string {
  const order = existing.reduce((max, entry) => Math.max(max, entry.order), 0) + 1;
  return `${String(order).padStart(2, '0')}-${slug}`;
}

function slugProblem(what: string, value: string): string | undefined {
  if (isSlug(value)) return undefined;
  const suggestion = value
    .toLowerCase()
    .replace(/^\d+-/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `"${value}" is not a valid ${what} name: use lower-case letters, digits and single dashes${suggestion && suggestion !== value ? `, e.g. "${suggestion}"` : ''}`;
}

function titleOf(slug: string): string {
  const words = slug.split('-').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * Adds `lessons/<NN-module>/<NN-slug>/lesson.md`, numbered after the module's last lesson; makes
 * the module (with its module.yml) when there is none with that name. `module` may be given with
 * or without its number prefix.
 */
export function scaffoldLesson(lessonsDir: string, module: string, slug: string): Scaffolded {
  const moduleSlug = NUMBERED.exec(module)?.[2] ?? module;
  const moduleProblem = slugProblem('module', moduleSlug);
  if (moduleProblem) throw new ScaffoldError(moduleProblem);
  const lessonProblem = slugProblem('lesson', slug);
  if (lessonProblem) throw new ScaffoldError(lessonProblem);

  fs.mkdirSync(lessonsDir, { recursive: true });
  const modules = numbered(lessonsDir);
  const existingModule = modules.find((entry) => entry.slug === moduleSlug);
  const moduleDir = path.join(lessonsDir, existingModule?.name ?? nextName(modules, moduleSlug));
  const lessons = numbered(moduleDir);
  const taken = lessons.find((entry) => entry.slug === slug);
  if (taken) {
    throw new ScaffoldError(`lesson ${moduleSlug}/${slug} already exists in ${path.join(moduleDir, taken.name)}; pick another name or edit that lesson`);
  }

  let moduleFile: string | undefined;
  if (!existingModule) {
    fs.mkdirSync(moduleDir, { recursive: true });
    moduleFile = path.join(moduleDir, 'module.yml');
    fs.writeFileSync(moduleFile, moduleTemplate(moduleSlug));
  }
  const lessonDir = path.join(moduleDir, nextName(lessons, slug));
  fs.mkdirSync(lessonDir);
  const lessonFile = path.join(lessonDir, 'lesson.md');
  fs.writeFileSync(lessonFile, lessonTemplate(slug));
  return { id: `${moduleSlug}/${slug}`, lessonFile, ...(moduleFile ? { moduleFile } : {}) };
}

function moduleTemplate(slug: string): string {
  return `# The module's card in the catalogue. Its place comes from the folder's number.
title: ${titleOf(slug)}
summary: One sentence on what learners can do after this module.
`;
}

function lessonTemplate(slug: string): string {
  return `---
# Shown in the catalogue and at the top of the lesson. docs/authoring.md lists every field.
title: ${titleOf(slug)}
summary: One sentence on what the learner does in this lesson.
minutes: 10
level: beginner
# Lesson ids (<module>/<lesson>) to do first, e.g. [containers/first-container].
prerequisites: []
# Machines in the session: node1 to node5.
nodes: 1
# Every image the commands pull; the registry mirror must serve each (npm run lessons:lint checks).
images:
  - busybox
# Commands run in node1 before the learner starts, after files/ was copied to /root/.
setup: []
---

<!--
  A lesson is markdown. Text before the first "## " heading is the introduction; each "## "
  heading starts a step, and progress counts steps whose checks passed.
  npm run dev previews this file as you save it; npm run lessons:lint and
  npm run lessons:test ${'<module>/<lesson>'} tell you whether it works.
-->

One or two sentences on what the learner is about to do, and why it matters.

## Start a container in the background

Explain the idea first, then give the command. A block marked \`run\` gets a **Run** button that
types it into node1's terminal; the lesson test types it too, in document order.

\`\`\`sh run
docker run -d --name sleeper busybox sleep 3600
\`\`\`

<!--
  The check runs with bash in node1 when the learner presses Check: exit 0 passes. On failure
  the learner sees the last line it printed, so end each failure path with a helpful sentence.
  It must fail on a fresh sandbox, before the step is done: the lesson test proves that too.
-->

\`\`\`sh check
docker ps --filter name='^sleeper$' --filter status=running -q | grep -q . ||
  { echo "No running container named sleeper yet: start it with docker run -d --name sleeper busybox sleep 3600."; exit 1; }
\`\`\`

<!-- Hints are revealed one at a time; add as many as help. -->

\`\`\`hint
\`-d\` starts the container in the background, and \`--name\` gives it the name the check looks for.
\`\`\`

> [!TIP]
> Callouts are block quotes that start with [!NOTE], [!TIP] or [!WARNING].
`;
}
