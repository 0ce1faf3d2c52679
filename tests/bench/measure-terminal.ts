/**
 * The terminal once it is open: keystroke echo round trip and bulk output rate, in rotating
 * blocks, each path alone on the same shell (the others are detached), so none pays for feeding
 * another: through the backend's WebSocket; through the driver's own attach without the backend;
 * and, as the floor, a real dtach client in a TTY `docker exec` (attaching by hand).
 */
import xtermHeadless from '@xterm/headless';
import type Docker from 'dockerode';
import type { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import type { BackendProcess } from './backend-process.ts';
import { PROMPT } from './floors.ts';
import { SIZE, createSession, endSession } from './sessions.ts';
import type { Relay } from './relay.ts';
import { execText } from './engine.ts';
import { driverChannel, openBackendTerminal, openDirectTerminal, openDtachAttach, openWsTerminal, waitForOutput, type TtyChannel } from './tty.ts';

const { Terminal: HeadlessTerminal } = xtermHeadless as unknown as typeof import('@xterm/headless');

/** direct: the floor, a dtach client in a TTY exec; driver: driver.openTerminal, the backend's own attach. */
type Path = 'backend' | 'direct' | 'driver';
type EchoPath = Path | 'relay';

export interface BulkSample {
  /** exec: a plain TTY exec of the command; pty: the command through one pty inside the sandbox, nothing leaving it. */
  path: Path | 'exec' | 'pty' | 'backend+xterm';
  /** Bytes base64 wrote (the payload), and bytes that reached the client (payload plus echo and prompt). */
  payloadBytes: number;
  receivedBytes: number;
  ms: number;
  /** Payload MB (10^6 bytes) per second. */
  mbPerSecond: number;
  /** Set when the headless xterm refused input (more than it buffers unparsed): bytes received by then. */
  xtermDiscardedAfter?: number;
}

export interface TerminalResult {
  /** `relay`: a bare WebSocket relay process in front of the same exec (see relay-child.ts). */
  echo: Record<EchoPath, number[]>;
  bulk: BulkSample[];
  bulkBytes: number;
}

/** Output size of `base64` (76 columns and a newline per line) for `n` input bytes. */
export function base64OutputBytes(n: number): number {
  const chars = 4 * Math.ceil(n / 3);
  return chars + Math.ceil(chars / 76);
}

let syncCounter = 0;

/**
 * Brings a freshly attached channel to a known state: the bash prompt, with the attach's redraw
 * (and the backend's replay) already received. The shell computes the marker, so its echo of the
 * typed command cannot match it.
 */
async function syncAtPrompt(channel: TtyChannel): Promise<void> {
  const n = 70_000 + ++syncCounter;
  // Every block leaves the shell at its prompt (a failed block fails the section), so no Ctrl-C
  // here: bash would discard what is typed right behind one.
  const done = waitForOutput(channel, new RegExp(`SYNC-${n}[\\s\\S]*${PROMPT}`), 30_000);
  channel.write(`echo SYNC-$((${n - 1}+1))\r`);
  await done;
}

interface Target {
  engine: Docker;
  backend: BackendProcess;
  driver: SandboxDriver;
  relay: Relay | undefined;
  sessionId: string;
  containerId: string;
}

/**
 * dtach sends the shell's output to every attached client that can take it and skips, for good,
 * one that cannot at that moment; the backend keeps its attachment for the session's life. So
 * before another path attaches, the backend's is ended (its hub attaches anew for the next
 * backend block), and each path has the shell to itself, as the backend has in use.
 */
async function detachOthers(t: Target): Promise<void> {
  await execText(t.engine, t.containerId, ['sh', '-c', 'pkill -x berth-relay; while pgrep -x berth-relay >/dev/null; do sleep 0.01; done']);
}

async function attach(path: EchoPath, t: Target): Promise<TtyChannel> {
  if (path !== 'backend') await detachOthers(t);
  const channel =
    path === 'backend'
      ? await openBackendTerminal(t.backend.url, t.sessionId, SIZE)
      : path === 'relay'
        ? await openWsTerminal(t.relay!.terminalUrl(t.containerId), 'relay')
        : path === 'driver'
          ? driverChannel(await t.driver.openTerminal(t.containerId, SIZE))
          : await openDtachAttach(t.engine, t.containerId, SIZE);
  await syncAtPrompt(channel);
  return channel;
}

/** `count` keystrokes typed into `cat` (echoed by the pty's line discipline), each timed to its echo. */
async function echoBlock(channel: TtyChannel, count: number): Promise<number[]> {
  const ready = 50_000 + ++syncCounter;
  let wait = waitForOutput(channel, `READY-${ready}`, 30_000);
  // Once READY is printed, bash has handed the terminal back in cooked mode: every later
  // keystroke is echoed by the kernel, whether or not cat has started reading yet.
  channel.write(`echo READY-$((${ready - 1}+1)); cat >/dev/null\r`);
  await wait;
  const samples: number[] = [];
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % 60 === 0) {
      // A line a person would type; the newline's echo is not a sample.
      wait = waitForOutput(channel, '\n', 10_000);
      channel.write('\r');
      await wait;
    }
    const key = letters[i % letters.length]!;
    // The window is only what arrives after this keystroke, so the echo cannot be an older one.
    wait = waitForOutput(channel, key, 10_000, { window: 256 });
    const t0 = performance.now();
    channel.write(key);
    samples.push((await wait) - t0);
  }
  wait = waitForOutput(channel, PROMPT, 10_000);
  // End of input, not Ctrl-C: a shell that inherited SIGINT ignored would leave cat running.
  channel.write('\r\x04');
  await wait;
  return samples;
}

async function bulkOnce(channel: TtyChannel, path: BulkSample['path'], bytes: number, withXterm: boolean): Promise<BulkSample> {
  const n = 90_000 + ++syncCounter;
  const startBytes = channel.bytesReceived;
  const screen = withXterm ? new HeadlessTerminal({ cols: SIZE.cols, rows: SIZE.rows, scrollback: 1000, allowProposedApi: true }) : undefined;
  let discardedAfter: number | undefined;
  try {
    const marker = waitForOutput(channel, `BULK-${n}`, 600_000, {
      window: 512,
      // A browser's xterm parses every byte; here a headless one does, in the same loop, fed
      // exactly as the UI feeds it (every frame written at once, no flow control).
      onChunk: screen
        ? (chunk) => {
            if (discardedAfter !== undefined) return;
            try {
              screen.write(chunk);
            } catch {
              // xterm refuses more than 50 MB of unparsed input: the rest would be lost on screen.
              discardedAfter = channel.bytesReceived - startBytes;
            }
          }
        : undefined,
    });
    const t0 = performance.now();
    channel.write(`head -c ${bytes} /dev/zero | base64; echo BULK-$((${n - 1}+1))\r`);
    let at = await marker;
    if (screen && discardedAfter === undefined) at = await new Promise<number>((resolve) => screen.write('', () => resolve(performance.now())));
    const ms = at - t0;
    const payloadBytes = base64OutputBytes(bytes);
    const sample: BulkSample = { path, payloadBytes, receivedBytes: channel.bytesReceived - startBytes, ms, mbPerSecond: payloadBytes / 1e6 / (ms / 1000) };
    if (discardedAfter !== undefined) sample.xtermDiscardedAfter = discardedAfter;
    return sample;
  } finally {
    screen?.dispose();
  }
}

/**
 * The same output from a plain TTY exec with nothing in between (no persistent shell, no
 * backend): how fast the engine's TTY path alone carries it.
 */
async function bulkPlainExec(engine: Docker, containerId: string, bytes: number): Promise<BulkSample> {
  const n = 90_000 + ++syncCounter;
  const t0 = performance.now();
  const channel = await openDirectTerminal(engine, containerId, ['bash', '-c', `head -c ${bytes} /dev/zero | base64; echo BULK-$((${n - 1}+1))`]);
  try {
    const at = await waitForOutput(channel, `BULK-${n}`, 600_000, { window: 512 });
    const ms = at - t0;
    const payloadBytes = base64OutputBytes(bytes);
    return { path: 'exec', payloadBytes, receivedBytes: channel.bytesReceived, ms, mbPerSecond: payloadBytes / 1e6 / (ms / 1000) };
  } finally {
    await channel.close();
  }
}

/**
 * The same command through one pseudo-terminal inside the sandbox (`script`, output discarded
 * there), timed inside: the most any terminal path can carry for it, since the learner's shell
 * needs a pty. Its output goes to the tty a line per write (stdio is line-buffered on a tty),
 * which is what makes a pty slow here.
 */
async function bulkOnePty(engine: Docker, containerId: string, bytes: number): Promise<BulkSample> {
  const command = `head -c ${bytes} /dev/zero | base64`;
  const { output } = await execText(engine, containerId, [
    'bash',
    '-c',
    `t0=$EPOCHREALTIME; script -qfc '${command}' /dev/null >/dev/null; t1=$EPOCHREALTIME; echo "$t0 $t1"`,
  ]);
  const [t0, t1] = output.trim().split(/\s+/).slice(-2).map(Number) as [number, number];
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) throw new Error(`could not time the pty run: ${output.trim().slice(-200)}`);
  const ms = (t1 - t0) * 1000;
  const payloadBytes = base64OutputBytes(bytes);
  return { path: 'pty', payloadBytes, receivedBytes: 0, ms, mbPerSecond: payloadBytes / 1e6 / (ms / 1000) };
}

export async function measureTerminal(
  engine: Docker,
  backend: BackendProcess,
  driver: SandboxDriver,
  relay: Relay | undefined,
  options: { echoSamples: number; bulkBytes: number; bulkRuns: number; xtermRuns: number },
  progress: (line: string) => void,
): Promise<TerminalResult> {
  await backend.whenFilled();
  const sessionId = await createSession(backend.url);
  try {
    const containerId = await backend.containerOf(sessionId);
    const target: Target = { engine, backend, driver, relay, sessionId, containerId };
    const result: TerminalResult = { echo: { backend: [], direct: [], driver: [], relay: [] }, bulk: [], bulkBytes: options.bulkBytes };
    // A first attach starts the shell; its start-up is the time-to-prompt bench's business.
    const first = await openBackendTerminal(backend.url, sessionId, SIZE);
    await waitForOutput(first, PROMPT, 60_000);
    await syncAtPrompt(first);
    await first.close();

    const blocks = Math.max(2, Math.ceil(options.echoSamples / 100));
    const perBlock = Math.ceil(options.echoSamples / blocks);
    const echoPaths: EchoPath[] = relay ? ['backend', 'direct', 'driver', 'relay'] : ['backend', 'direct', 'driver'];
    for (let b = 0; b < blocks; b++) {
      // Rotating the order spreads any drift in the machine's load over every path.
      const order = echoPaths.map((_, i) => echoPaths[(i + b) % echoPaths.length]!);
      for (const path of order) {
        const channel = await attach(path, target);
        try {
          result.echo[path].push(...(await echoBlock(channel, perBlock)));
        } finally {
          await channel.close();
        }
      }
    }
    progress(`echo: ${result.echo.backend.length} keystrokes per path (${echoPaths.join(', ')})`);

    for (let r = 0; r < options.bulkRuns; r++) {
      const bulkPaths: Path[] = ['backend', 'direct', 'driver'];
      for (const path of bulkPaths.map((_, i) => bulkPaths[(i + r) % bulkPaths.length]!)) {
        const channel = await attach(path, target);
        try {
          const sample = await bulkOnce(channel, path, options.bulkBytes, false);
          result.bulk.push(sample);
          progress(`bulk ${path}: ${sample.mbPerSecond.toFixed(1)} MB/s`);
          await syncAtPrompt(channel);
        } finally {
          await channel.close();
        }
      }
      const plain = await bulkPlainExec(engine, containerId, options.bulkBytes);
      result.bulk.push(plain);
      progress(`bulk plain exec: ${plain.mbPerSecond.toFixed(1)} MB/s`);
      const pty = await bulkOnePty(engine, containerId, options.bulkBytes);
      result.bulk.push(pty);
      progress(`bulk through one pty inside the sandbox: ${pty.mbPerSecond.toFixed(1)} MB/s`);
    }
    for (let r = 0; r < options.xtermRuns; r++) {
      const channel = await attach('backend', target);
      try {
        const sample = await bulkOnce(channel, 'backend+xterm', options.bulkBytes, true);
        result.bulk.push(sample);
        progress(
          sample.xtermDiscardedAfter === undefined
            ? `bulk backend+xterm: ${sample.mbPerSecond.toFixed(1)} MB/s`
            : `bulk backend+xterm: xterm discarded input after ${(sample.xtermDiscardedAfter / 1e6).toFixed(1)} MB`,
        );
        await syncAtPrompt(channel);
      } finally {
        await channel.close();
      }
    }
    return result;
  } finally {
    await endSession(backend.url, sessionId).catch(() => {});
  }
}
