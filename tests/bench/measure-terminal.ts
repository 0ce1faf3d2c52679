/**
 * The terminal once it is open: keystroke echo round trip and bulk output rate, through the
 * backend's WebSocket and through the driver's own attach to the same shell, in alternating
 * blocks. Only one of the two is attached at a time (the driver ends other attach clients), so
 * neither path pays for feeding the other.
 */
import xtermHeadless from '@xterm/headless';
import type Docker from 'dockerode';
import type { SandboxDriver } from '../../sandbox-backend/provisioning/driver.ts';
import type { BackendProcess } from './backend-process.ts';
import { PROMPT } from './floors.ts';
import { SIZE, createSession, endSession } from './sessions.ts';
import type { Relay } from './relay.ts';
import { driverChannel, openBackendTerminal, openDirectTerminal, openWsTerminal, waitForOutput, type TtyChannel } from './tty.ts';

const { Terminal: HeadlessTerminal } = xtermHeadless as unknown as typeof import('@xterm/headless');

type Path = 'backend' | 'direct';
type EchoPath = Path | 'relay';

export interface BulkSample {
  path: Path | 'exec' | 'backend+xterm';
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
  backend: BackendProcess;
  driver: SandboxDriver;
  relay: Relay | undefined;
  sessionId: string;
  containerId: string;
}

async function attach(path: EchoPath, t: Target): Promise<TtyChannel> {
  const channel =
    path === 'backend'
      ? await openBackendTerminal(t.backend.url, t.sessionId, SIZE)
      : path === 'relay'
        ? await openWsTerminal(t.relay!.terminalUrl(t.containerId), 'relay')
        : driverChannel(await t.driver.openTerminal(t.containerId, SIZE));
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
  channel.write('\x03');
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
    const target: Target = { backend, driver, relay, sessionId, containerId };
    const result: TerminalResult = { echo: { backend: [], direct: [], relay: [] }, bulk: [], bulkBytes: options.bulkBytes };
    // A first attach starts the shell; its start-up is the time-to-prompt bench's business.
    const first = await openBackendTerminal(backend.url, sessionId, SIZE);
    await waitForOutput(first, PROMPT, 60_000);
    await syncAtPrompt(first);
    await first.close();

    const blocks = Math.max(2, Math.ceil(options.echoSamples / 100));
    const perBlock = Math.ceil(options.echoSamples / blocks);
    const echoPaths: EchoPath[] = relay ? ['backend', 'direct', 'relay'] : ['backend', 'direct'];
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
      for (const path of (r % 2 === 0 ? ['backend', 'direct'] : ['direct', 'backend']) as Path[]) {
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
