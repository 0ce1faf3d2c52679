/**
 * Optional (BENCH_DIAGNOSE=1): the experiments behind the causes docs/bench.md gives for a slow
 * warm time to prompt, kept runnable so that a fix can be checked against them.
 *  1. The pool's refill boot competes with the learner's shell start: the same warm session,
 *     with the refill held back (pool max = idle target, so nothing boots during the sample).
 *  2. The shell start is on the learner's path: attaching to a shell started ahead of time (as a
 *     pool could do when a sandbox becomes ready) against starting one at the first attach.
 */
import type Docker from 'dockerode';
import type { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import type { BackendProcess } from './backend-process.ts';
import { execText, until } from './engine.ts';
import { PROMPT, resetPersistentShell, shellPromptDirect } from './floors.ts';
import { SIZE, endSession, sessionToPrompt } from './sessions.ts';
import { driverChannel, waitForOutput } from './tty.ts';

export interface DiagnoseResult {
  /** POST to prompt on a warm pool that does not refill during the sample. */
  warmWithoutRefill: number[];
  /** driver.openTerminal to prompt, shell started by that attach / started ahead. */
  freshShell: number[];
  preStartedShell: number[];
}

export async function warmWithoutRefill(backend: BackendProcess, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    await backend.whenFilled();
    const opened = await sessionToPrompt(backend.url);
    await opened.terminal.close();
    await endSession(backend.url, opened.id);
    // The first pays for warming up the backend, as in the main warm series.
    if (i > 0) samples.push(opened.timing.totalMs);
  }
  return samples;
}

/**
 * Starts the persistent shell without attaching, and resolves once bash is blocked reading its
 * terminal, i.e. sits at its prompt (its kernel wait channel says so).
 */
async function preStartShell(engine: Docker, containerId: string): Promise<void> {
  await execText(engine, containerId, ['bash', '-c', 'mkdir -p /run/berth; cd /root && exec -a berth-shell dtach -n /run/berth/shell.sock -E -z bash -l']);
  await until(
    'the pre-started shell to wait at its prompt',
    async () => {
      const { output } = await execText(engine, containerId, ['sh', '-c', 'for p in $(pgrep -x bash); do cat /proc/$p/wchan; echo; done']);
      // readline waits in pselect (poll_schedule_timeout); a plain read would show n_tty_read.
      return /poll_schedule_timeout|do_select|n_tty_read|wait_woken/.test(output);
    },
    10_000,
  );
}

export async function shellStartCost(engine: Docker, driver: SandboxDriver, containerId: string, runs: number): Promise<Pick<DiagnoseResult, 'freshShell' | 'preStartedShell'>> {
  const freshShell: number[] = [];
  const preStartedShell: number[] = [];
  for (let i = 0; i < runs; i++) {
    freshShell.push((await shellPromptDirect(engine, driver, containerId, SIZE)).totalMs);
    await resetPersistentShell(engine, containerId);
    await preStartShell(engine, containerId);
    const t0 = performance.now();
    const term = driverChannel(await driver.openTerminal(containerId, SIZE));
    try {
      preStartedShell.push((await waitForOutput(term, PROMPT, 30_000)) - t0);
    } finally {
      await term.close();
      await resetPersistentShell(engine, containerId);
    }
  }
  return { freshShell, preStartedShell };
}
