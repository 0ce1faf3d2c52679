/**
 * The raw floors: what the engine alone needs for the same result, measured in the same run as
 * the backend figures so the ratios survive a noisy or slower machine.
 */
import { spawn } from 'node:child_process';
import type Docker from 'dockerode';
import { execText } from './engine.ts';
import type { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import { driverChannel, openDirectTerminal, waitForOutput } from './tty.ts';

export const PROMPT = 'root@node1:~#';

export interface ExecPromptSample {
  /** Exec create, exec start (the hijacked attach), start to first output byte, start to prompt. */
  createMs: number;
  startMs: number;
  firstByteMs: number;
  totalMs: number;
}

/**
 * `docker exec -it <sandbox> bash -l` through the Engine API, until the prompt: the least any
 * server can do to put a shell prompt in front of someone, since the backend also goes this way.
 */
export async function execPromptViaApi(engine: Docker, containerId: string, timeoutMs = 30_000): Promise<ExecPromptSample> {
  const t0 = performance.now();
  const term = await openDirectTerminal(engine, containerId, ['bash', '-l']);
  try {
    const prompt = waitForOutput(term, PROMPT, timeoutMs);
    const at = await prompt;
    return {
      createMs: term.createMs,
      startMs: term.startMs,
      firstByteMs: (term.firstByteAt ?? at) - t0,
      totalMs: at - t0,
    };
  } finally {
    term.write('exit\r');
    await term.close();
  }
}

/**
 * The same as the docker CLI does it, through a pty (util-linux `script`), which is what a
 * person timing `docker exec -it` by hand experiences: CLI start-up included.
 */
export async function execPromptViaCli(containerId: string, timeoutMs = 30_000): Promise<number> {
  const t0 = performance.now();
  const child = spawn('script', ['-q', '-f', '-e', '-c', `docker exec -it ${containerId} bash -l`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`docker exec CLI: no prompt within ${timeoutMs} ms; output: ${JSON.stringify(seen.slice(-300))}`)), timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        seen = (seen + chunk.toString('latin1')).slice(-4096);
        if (seen.includes(PROMPT)) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`docker exec CLI exited (code ${code}) before a prompt; output: ${JSON.stringify(seen.slice(-300))}`));
      });
    });
  } finally {
    const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    child.stdin.write('exit\r');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Ends the sandbox's persistent shell so that the next attach starts one, as in a new session's
 * sandbox. Covers both mechanisms the backend has used (tmux, then dtach): the bench must not
 * silently measure a reattach instead of a start.
 */
export async function resetPersistentShell(engine: Docker, containerId: string): Promise<void> {
  await execText(engine, containerId, ['sh', '-c', 'pkill -KILL -x dtach; pkill -KILL -x tmux; rm -rf /run/berth /tmp/tmux-0; true']);
}

/**
 * What the backend's terminal does inside the sandbox, without the backend: the driver's own
 * openTerminal (the same exec, the same persistent shell start) until the prompt. Against the
 * bash floor this is the cost of the persistent shell; against the backend, the backend's own
 * (HTTP, pool, WebSocket, Node).
 */
export async function shellPromptDirect(engine: Docker, driver: SandboxDriver, containerId: string, size: { cols: number; rows: number }, timeoutMs = 30_000) {
  await resetPersistentShell(engine, containerId);
  const t0 = performance.now();
  const term = driverChannel(await driver.openTerminal(containerId, size));
  const attachedAt = performance.now();
  try {
    const at = await waitForOutput(term, PROMPT, timeoutMs);
    return { attachMs: attachedAt - t0, firstByteMs: (term.firstByteAt ?? at) - t0, totalMs: at - t0 };
  } finally {
    await term.close();
    await resetPersistentShell(engine, containerId);
  }
}
