import { z } from 'zod';

export const LEVELS = ['beginner', 'intermediate', 'advanced'] as const;
export const MAX_NODES = 5;

const slug = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const lessonIdPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*\/[a-z0-9]+(?:-[a-z0-9]+)*$/;

// Loose on purpose: it catches typos such as spaces or upper case without re-implementing the
// reference grammar; a wrong but well-formed name fails when the lesson's tests pull it.
const imageRefPattern = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const text = (field: string, example: string) =>
  z
    .string({ error: `must be text, e.g. ${field}: ${example}` })
    .trim()
    .min(1, { error: `must not be empty, e.g. ${field}: ${example}` });

export const lessonFrontMatterSchema = z.strictObject({
  title: text('title', 'Your first container'),
  summary: text('summary', 'Run, list and remove a container'),
  minutes: z
    .number({ error: 'must be a whole number of minutes, e.g. minutes: 15' })
    .int({ error: 'must be a whole number of minutes, e.g. minutes: 15' })
    .positive({ error: 'must be greater than 0, e.g. minutes: 15' })
    .optional(),
  level: z.enum(LEVELS, { error: `must be one of ${LEVELS.join(', ')}` }).default('beginner'),
  prerequisites: z
    .array(
      z.string({ error: 'each prerequisite must be a lesson id' }).regex(lessonIdPattern, {
        error: 'must be a lesson id: the module and lesson folder names without their number prefixes, e.g. containers/first-container',
      }),
      { error: 'must be a list of lesson ids, e.g. prerequisites: [containers/first-container]' },
    )
    .default([]),
  runtime: z
    .literal('sandbox', {
      error: (issue) =>
        issue.input === 'browser'
          ? '"browser" is reserved for in-browser runtimes that Berth does not have yet; use "sandbox" or leave runtime out'
          : 'must be "sandbox" (the default; you can leave runtime out)',
    })
    .default('sandbox'),
  nodes: z
    .number({ error: `must be a whole number from 1 to ${MAX_NODES}` })
    .int({ error: `must be a whole number from 1 to ${MAX_NODES}` })
    .min(1, { error: `must be at least 1` })
    .max(MAX_NODES, { error: `must be at most ${MAX_NODES}: a session has node1..node${MAX_NODES}` })
    .default(1),
  images: z
    .array(
      z.string({ error: 'each image must be a reference such as nginx or debian:bookworm-slim' }).regex(imageRefPattern, {
        error: 'is not an image reference; write it as you would for docker pull, e.g. nginx or debian:bookworm-slim',
      }),
      { error: 'must be a list of images, e.g. images: [hello-world, nginx]' },
    )
    .default([]),
  setup: z
    .array(z.string({ error: 'each setup step must be a shell command' }).trim().min(1, { error: 'must not be empty' }), {
      error: 'must be a list of shell commands, e.g. setup: ["docker pull nginx"]',
    })
    .default([]),
});

export type LessonFrontMatter = z.output<typeof lessonFrontMatterSchema>;
export const lessonFrontMatterKeys = Object.keys(lessonFrontMatterSchema.shape);

export const moduleSchema = z.strictObject({
  title: text('title', 'Containers'),
  summary: text('summary', 'What a container is and how to run one'),
});

export type ModuleMeta = z.output<typeof moduleSchema>;
export const moduleKeys = Object.keys(moduleSchema.shape);

export function isSlug(value: string): boolean {
  return slug.test(value);
}
