/**
 * Proves a lesson against a real sandbox: its commands, replayed through the terminal a learner
 * uses, leave every check passing; and on a fresh sandbox where nothing was done, every check
 * fails. Used by `npm run lessons:test` (scripts/lessons-test.ts) and by vitest
 * (tests/lessons/lessons.test.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalogue, type Catalogue, type CatalogueLesson } from '../../src/lib/lesson-format/catalogue.ts';
import { provisionLesson, runCheck, type Exec } from '../../src/lib/lesson-format/provision.ts';
import type { CheckBlock, RunnableBlock } from '../../src/lib/lesson-format/types.ts';
import { formatLessonError } from '../../src/lib/lesson-format/types.ts';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';
import { ScreenWatcher } from './screen.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** BERTH_LESSONS_DIR points the runner at another lessons folder, as it does the app. */
export const lessonsDir = process.env.BERTH_LESSONS_DIR ? path.resolve(process.env.BERTH_LESSONS_DIR) : path.join(repoRoot, 'lessons');

export interface RunnerOptions {
  /** How long one block may take before the replay gives up on it. */
  blockTimeoutMs?: number;
  /** How long a `watch` check is retried before it counts as failed. */
  watchTimeoutMs?: number;
  /** Progress lines (the CLI prints them; vitest stays quiet). */
  log?: (line: string) => void;
}

export interface LessonOutcome {
  id: string;
  ok: boolean;
  /** Why it failed: lesson, step, block or check, and the terminal's last lines. */
  failure?: string;
  ms: number;
  /** Blocks replayed and checks run, for the summary. */
  blocks: number;
  checks: number;
}

const TERMINAL_SIZE = { cols: 120, rows: 40 };
const TAIL_LINES = 40;

export const defaultBlockTimeoutMs = () => Number(process.env.LESSONS_BLOCK_TIMEOUT_MS ?? 120_000);
export const defaultConcurrency = () => Math.max(1, Number(process.env.LESSONS_CONCURRENCY ?? 2) || 2);

/**
 * Loads the catalogue. A broken lesson cannot be replayed, so problems fail the run; with `ids`,
 * only problems in those lessons' files do (others are being written while you test yours).
 */
export function loadLessons(ids: readonly string[] = [], dir = lessonsDir): { catalogue: Catalogue; ignored: number } {
  const catalogue = loadCatalogue(dir, { displayRoot: repoRoot });
  const files = new Set(ids.flatMap((id) => {
    const lesson = catalogue.lessons.get(id);
    return lesson ? [path.relative(repoRoot, lesson.path).split(path.sep).join('/')] : [];
  }));
  const fatal = ids.length === 0 ? catalogue.errors : catalogue.errors.filter((error) => files.has(error.file));
  if (fatal.length > 0) {
    throw new Error(`The lessons have errors (npm run lessons:lint lists them):\n${fatal.map((e) => `  ${formatLessonError(e)}`).join('\n')}`);
  }
  return { catalogue, ignored: catalogue.errors.length - fatal.length };
}

/** Picks lessons by id; no ids means all of them, in catalogue order. */
export function selectLessons(catalogue: Catalogue, ids: readonly string[]): CatalogueLesson[] {
  const all = catalogue.modules.flatMap((module) => module.lessons);
  if (ids.length === 0) return all;
  const unknown = ids.filter((id) => !catalogue.lessons.has(id));
  if (unknown.length > 0) {
    throw new Error(`No lesson ${unknown.map((id) => `"${id}"`).join(', ')}. Lesson ids are <module>/<lesson> without number prefixes, e.g. ${all[0]?.id ?? 'containers/first-container'}.`);
  }
  return ids.map((id) => catalogue.lessons.get(id)!);
}

/** One backend for a whole run; its warm pool is sized for the run's concurrency. */
export function startLessonBackend(concurrency: number): Promise<TestBackend> {
  return startBackend({ BERTH_POOL_IDLE: String(Math.min(concurrency, 4)) });
}

class LessonFailure extends Error {}

interface Session {
  id: string;
  instances: string[];
  exec: Exec;
  terminals: Map<string, { client: TerminalClient; watcher: ScreenWatcher }>;
}

async function openSession(backend: TestBackend, lesson: CatalogueLesson): Promise<Session> {
  const created = await api(backend.url, 'POST', '/api/sessions', { lesson: lesson.id });
  if (created.status !== 201) throw new LessonFailure(`could not create a session: HTTP ${created.status} ${JSON.stringify(created.json)}`);
  const id = created.json.id as string;
  const instances = (created.json.instances as { name: string }[]).map((instance) => instance.name);
  const session: Session = {
    id,
    instances,
    terminals: new Map(),
    exec: async (node, cmd) => {
      const result = await api(backend.url, 'POST', `/api/sessions/${encodeURIComponent(id)}/instances/${encodeURIComponent(node)}/exec`, { cmd });
      if (result.status !== 200) throw new LessonFailure(`exec in ${node} failed: HTTP ${result.status} ${JSON.stringify(result.json)}`);
      return result.json as { exitCode: number; output: string };
    },
  };
  const missing = Array.from({ length: lesson.frontMatter.nodes }, (_, i) => `node${i + 1}`).filter((node) => !instances.includes(node));
  if (missing.length > 0) {
    await closeSession(backend, session);
    throw new LessonFailure(
      `the lesson needs ${lesson.frontMatter.nodes} nodes but the backend's session has only ${instances.join(', ')} (missing ${missing.join(', ')}): multi-node sessions are not available in this backend yet`,
    );
  }
  return session;
}

async function closeSession(backend: TestBackend, session: Session): Promise<void> {
  for (const { client, watcher } of session.terminals.values()) {
    watcher.dispose();
    client.close();
  }
  session.terminals.clear();
  await api(backend.url, 'DELETE', `/api/sessions/${encodeURIComponent(session.id)}`).catch(() => undefined);
}

async function terminal(backend: TestBackend, session: Session, node: string, timeoutMs: number) {
  let open = session.terminals.get(node);
  if (open) return open;
  const client = await TerminalClient.open(backend.url, session.id, node, TERMINAL_SIZE);
  const watcher = new ScreenWatcher(client, TERMINAL_SIZE);
  open = { client, watcher };
  session.terminals.set(node, open);
  // The first prompt of a new shell, before anything is typed into it.
  await watcher.settled(0, timeoutMs).catch((error: Error) => {
    throw new LessonFailure(`${node}'s terminal never showed a prompt (${error.message})\n${screenDump(node, watcher)}`);
  });
  return open;
}

function screenDump(node: string, watcher: ScreenWatcher): string {
  return `--- ${node}: last ${TAIL_LINES} lines of the terminal ---\n${watcher.tail(TAIL_LINES)}\n--- end of ${node} ---`;
}

function describeBlock(lesson: CatalogueLesson, block: RunnableBlock): string {
  const first = block.command.split('\n')[0]!;
  const more = block.command.includes('\n') ? ' ...' : '';
  return `${block.kind} block at ${path.relative(repoRoot, lesson.path)}:${block.line} (${block.node}: ${first}${more})`;
}

function describeCheck(lesson: CatalogueLesson, check: CheckBlock): string {
  return `check at ${path.relative(repoRoot, lesson.path)}:${check.line} (${check.node}${check.watch ? ', watch' : ''})`;
}

function stepTitle(lesson: CatalogueLesson, stepId: string | undefined): string {
  if (stepId === undefined) return 'the introduction (before the first step)';
  const step = lesson.steps.find((s) => s.id === stepId);
  return step ? `step "${step.title}"` : `step ${stepId}`;
}

/** Replays a lesson on a fresh session; every check must pass after its step. */
async function replay(backend: TestBackend, lesson: CatalogueLesson, options: Required<Omit<RunnerOptions, 'log'>>, log: (line: string) => void): Promise<{ blocks: number; checks: number }> {
  const session = await openSession(backend, lesson);
  let blocks = 0;
  let checks = 0;
  try {
    await provisionLesson({ setup: lesson.frontMatter.setup, files: lesson.files }, session.exec).catch((error: Error) => {
      throw new LessonFailure(`setup failed: ${error.message}`);
    });
    // Intro blocks first, then each step's blocks followed by its checks: a later step may undo
    // what an earlier step's check looks for.
    const groups: { step: string | undefined; blocks: RunnableBlock[]; checks: CheckBlock[] }[] = [
      { step: undefined, blocks: lesson.blocks.filter((block) => block.step === undefined), checks: [] },
      ...lesson.steps.map((step) => ({ step: step.id, blocks: step.blocks, checks: step.checks })),
    ];
    for (const group of groups) {
      for (const block of group.blocks) {
        const { client, watcher } = await terminal(backend, session, block.node, options.blockTimeoutMs);
        const before = watcher.bytes;
        const beforeLines = watcher.newlines;
        if (block.interrupt) client.type('\x03');
        // Exactly what the lesson page's Run button sends.
        client.type(block.command.replace(/\n/g, '\r') + '\r');
        const started = Date.now();
        // A command the next block interrupts may never end: it is enough that it got going, which
        // shows as a line of output beyond the echo of the command's own lines.
        const next = lesson.blocks[lesson.blocks.indexOf(block) + 1];
        const interrupted = next !== undefined && next.interrupt && next.node === block.node;
        const running = interrupted ? { sinceNewlines: beforeLines, lines: block.command.split('\n').length + 1 } : undefined;
        try {
          await watcher.settled(before, options.blockTimeoutMs, running);
        } catch (error) {
          throw new LessonFailure(`${stepTitle(lesson, group.step)}: ${describeBlock(lesson, block)} did not finish: ${(error as Error).message}\n${screenDump(block.node, watcher)}`);
        }
        blocks++;
        log(`  ${lesson.id}: ${block.kind} ${path.basename(lesson.path)}:${block.line} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
      for (const check of group.checks) {
        let outcome = await runCheck(check, session.exec);
        if (!outcome.passed && check.watch) {
          // A watch check waits for something that takes time (a service starting); the learner's
          // page re-runs it until it passes, so the replay does too.
          outcome = await waitFor(
            'the watch check to pass',
            async () => {
              const again = await runCheck(check, session.exec);
              outcome = again;
              return again.passed ? again : undefined;
            },
            options.watchTimeoutMs,
          ).catch(() => outcome);
        }
        checks++;
        if (!outcome.passed) {
          const screens = [...session.terminals.entries()].map(([node, { watcher }]) => screenDump(node, watcher)).join('\n');
          throw new LessonFailure(`${stepTitle(lesson, group.step)}: ${describeCheck(lesson, check)} failed after the step's commands ran: ${outcome.feedback}\n${screens}`);
        }
      }
    }
    return { blocks, checks };
  } finally {
    await closeSession(backend, session);
  }
}

/** On a fresh session with only setup and files, every check must fail: it really tests its step. */
async function negative(backend: TestBackend, lesson: CatalogueLesson): Promise<number> {
  const session = await openSession(backend, lesson);
  try {
    await provisionLesson({ setup: lesson.frontMatter.setup, files: lesson.files }, session.exec).catch((error: Error) => {
      throw new LessonFailure(`setup failed on the fresh session: ${error.message}`);
    });
    const passing: string[] = [];
    for (const check of lesson.checks) {
      const outcome = await runCheck(check, session.exec);
      if (outcome.passed) passing.push(`  ${stepTitle(lesson, check.step)}: ${describeCheck(lesson, check)}`);
    }
    if (passing.length > 0) {
      throw new LessonFailure(
        `${passing.length} check${passing.length === 1 ? '' : 's'} passed on a fresh sandbox where nothing was done, so they do not prove their step was done:\n${passing.join('\n')}`,
      );
    }
    return lesson.checks.length;
  } finally {
    await closeSession(backend, session);
  }
}

/** Runs one lesson: the replay, then the negative proof. Never throws; the outcome says what failed. */
export async function testLesson(backend: TestBackend, lesson: CatalogueLesson, options: RunnerOptions = {}): Promise<LessonOutcome> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const settings = { blockTimeoutMs: options.blockTimeoutMs ?? defaultBlockTimeoutMs(), watchTimeoutMs: options.watchTimeoutMs ?? 60_000 };
  try {
    if (lesson.checks.length === 0) throw new LessonFailure('the lesson has no check; every lesson needs at least one');
    const replayed = await replay(backend, lesson, settings, log);
    log(`  ${lesson.id}: replay passed (${replayed.blocks} blocks, ${replayed.checks} checks); checking that every check fails on a fresh sandbox`);
    await negative(backend, lesson);
    return { id: lesson.id, ok: true, ms: Date.now() - started, ...replayed };
  } catch (error) {
    const message = error instanceof LessonFailure ? error.message : `unexpected error: ${(error as Error).stack ?? String(error)}`;
    return { id: lesson.id, ok: false, failure: `lesson ${lesson.id} (${path.relative(repoRoot, lesson.path)}) failed:\n${message}`, ms: Date.now() - started, blocks: 0, checks: 0 };
  }
}

/** Runs lessons with at most `concurrency` at a time, reporting each as it ends. */
export async function testLessons(
  backend: TestBackend,
  lessons: readonly CatalogueLesson[],
  concurrency: number,
  options: RunnerOptions & { onDone?: (outcome: LessonOutcome) => void } = {},
): Promise<LessonOutcome[]> {
  const outcomes: LessonOutcome[] = new Array(lessons.length);
  let next = 0;
  const worker = async () => {
    while (next < lessons.length) {
      const index = next++;
      const outcome = await testLesson(backend, lessons[index]!, options);
      outcomes[index] = outcome;
      options.onDone?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, lessons.length) }, worker));
  return outcomes;
}
