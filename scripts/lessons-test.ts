/**
 * npm run lessons:test [lesson-id...]
 *
 * Replays lessons against real sandboxes (tests/lessons/runner.ts) and proves every check fails
 * on a fresh sandbox. LESSONS_CONCURRENCY (default 2) lessons run at once; LESSONS_BLOCK_TIMEOUT_MS
 * bounds each block (default 120000). Exits 1 if any lesson fails.
 */
import {
  defaultConcurrency,
  loadLessons,
  selectLessons,
  startLessonBackend,
  testLessons,
  type LessonOutcome,
} from '../tests/lessons/runner.ts';

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  console.log(`Usage: npm run lessons:test [lesson-id...]

Replays each lesson's run and solution blocks in a real sandbox, runs its checks (all must pass),
then runs the checks on a fresh sandbox (all must fail). Without ids, tests every lesson.

  LESSONS_CONCURRENCY=2          lessons tested at once
  LESSONS_BLOCK_TIMEOUT_MS=120000  how long one block may take
  LESSONS_VERBOSE=1              print every block as it finishes`);
  process.exit(0);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<number> {
  let lessons;
  try {
    const { catalogue, ignored } = loadLessons(args);
    if (ignored > 0) console.warn(`[lessons:test] ignoring ${ignored} problem${ignored === 1 ? '' : 's'} in other lessons (npm run lessons:lint lists them)`);
    lessons = selectLessons(catalogue, args);
  } catch (error) {
    console.error(`[lessons:test] ${(error as Error).message}`);
    return 2;
  }
  if (lessons.length === 0) {
    console.error('[lessons:test] there are no lessons to test');
    return 2;
  }
  const concurrency = Math.min(defaultConcurrency(), lessons.length);
  const started = Date.now();
  console.log(`[lessons:test] ${lessons.length} lesson${lessons.length === 1 ? '' : 's'}, ${concurrency} at a time`);
  const backend = await startLessonBackend(concurrency);
  let outcomes: LessonOutcome[];
  const stop = async () => {
    await backend.stop().catch((error: unknown) => console.error(`[lessons:test] cleanup failed: ${String(error)}`));
  };
  // Ctrl-C must not leave sandboxes behind.
  const onSignal = () => {
    console.error('\n[lessons:test] interrupted; removing the sandboxes');
    void stop().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    outcomes = await testLessons(backend, lessons, concurrency, {
      log: process.env.LESSONS_VERBOSE ? (line) => console.log(line) : undefined,
      onDone: (outcome) => {
        const status = outcome.ok ? 'ok  ' : 'FAIL';
        const detail = outcome.ok ? ` (${outcome.blocks} blocks, ${outcome.checks} checks)` : '';
        console.log(`${status} ${outcome.id.padEnd(40)} ${seconds(outcome.ms).padStart(8)}${detail}`);
      },
    });
  } finally {
    await stop();
  }
  const failed = outcomes.filter((outcome) => !outcome.ok);
  for (const outcome of failed) console.error(`\n${outcome.failure}`);
  const passed = outcomes.length - failed.length;
  console.log(`\n[lessons:test] total ${seconds(Date.now() - started)}`);
  console.log(`${passed} passed, ${failed.length} failed`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[lessons:test] ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
