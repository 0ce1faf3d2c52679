/**
 * The soak: a class at work for several minutes. Each simulated learner has a session and a
 * terminal WebSocket of its own and types commands at a person's pace, reading every byte of
 * their output; meanwhile the backend's memory is sampled. What it proves: memory stays flat,
 * keystrokes stay responsive next to other learners' floods, and nothing is lost (every `seq`
 * arrives whole and in order) or disconnected.
 */
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { BackendProcess, ChildMemory } from './backend-process.ts';
import { PROMPT } from './floors.ts';
import { closeSessions } from './measure-burst.ts';
import { sessionToPrompt, type OpenedSession } from './sessions.ts';
import { checkSeq, outputLines, pickWeighted, type SeqCheck, type TimedSample } from './soak-stats.ts';
import { waitForOutput } from './tty.ts';

type CommandKind = 'ls' | 'docker-ps' | 'seq' | 'seq-burst' | 'docker-run';

interface Command {
  kind: CommandKind;
  text: string;
  /** `seq 1 <seqN>`: checked line by line. */
  seqN?: number;
  /** Otherwise a line the output must contain. */
  expect?: RegExp;
}

/** What a learner in a Docker lesson types, and how often: mostly short output, now and then a flood or a container. */
const MIX: { weight: number; item: Command }[] = [
  { weight: 30, item: { kind: 'ls', text: 'ls -la /', expect: /^total \d+$/m } },
  { weight: 20, item: { kind: 'docker-ps', text: 'docker ps', expect: /^CONTAINER ID/m } },
  { weight: 35, item: { kind: 'seq', text: 'seq 1 2000', seqN: 2000 } },
  { weight: 7, item: { kind: 'seq-burst', text: 'seq 1 200000', seqN: 200_000 } },
  { weight: 8, item: { kind: 'docker-run', text: 'docker run --rm busybox echo x', expect: /^x$/m } },
];
/** The idle floor types the same way, with only the light commands, so it times the same keystrokes. */
const IDLE_MIX = MIX.filter((m) => m.item.kind === 'ls' || m.item.kind === 'seq');

const KEY_GAP_MS = [100, 200] as const;
const THINK_MS = [500, 2000] as const;
const ECHO_TIMEOUT_MS = 10_000;
// Generous: on a machine loaded far beyond its cores a `docker run` has taken over a minute, and
// a slow prompt is a figure for the commands table, not a lost one.
const COMMAND_TIMEOUT_MS = 180_000;
const MEMORY_EVERY_MS = 5_000;
const IDLE_KEYSTROKES = 120;

const between = ([lo, hi]: readonly [number, number]) => lo + Math.random() * (hi - lo);

export type Phase = 'idle-before' | 'soak' | 'idle-after';

export interface CommandRecord {
  learner: number;
  phase: Phase;
  kind: CommandKind;
  /** Since the soak started (the idle floor before it: since that started). */
  atMs: number;
  /** Enter until the prompt came back. */
  ms: number;
  bytes: number;
  ok: boolean;
  problem?: string;
  seq?: SeqCheck;
}

export interface MemorySample extends ChildMemory {
  atMs: number;
  /** The machine's 1-minute load average then: the soak shares it with whatever else runs. */
  load1: number;
}

export interface SoakEvent {
  learner: number;
  atMs: number;
  message: string;
}

export interface SoakResult {
  learners: number;
  seconds: number;
  warmupSeconds: number;
  /** The pause before each keystroke, drawn evenly from this range. */
  keyGapMs: readonly [number, number];
  /** Learners who got a session and a prompt; the others' reasons. */
  opened: number;
  openFailures: string[];
  /** Echo of one learner typing alone, before the soak and after it (the others connected and idle). */
  idleBefore: number[];
  idleAfter: number[];
  echo: (TimedSample & { learner: number })[];
  commands: CommandRecord[];
  /** Backend memory every few seconds without a collection (a forced one would stall the terminals timed). */
  timeline: MemorySample[];
  /** After a full collection: before the soak, at the end of warm-up, halfway, at the end, and once the sessions are ended. */
  checkpoints: Partial<Record<'start' | 'warm' | 'middle' | 'end' | 'afterClose', MemorySample>>;
  disconnects: SoakEvent[];
  errors: SoakEvent[];
  /** The warm pool failing to refill: the machine's or the engine's trouble, reported beside the verdicts. */
  poolProblems: SoakEvent[];
  bytesReceived: number;
}

interface Learner {
  index: number;
  session: OpenedSession;
  /** Rejects when the socket closes without the bench closing it, so no wait outlives it. */
  dropped: Promise<never>;
  gone: boolean;
}

export async function measureSoak(
  backend: BackendProcess,
  options: { learners: number; seconds: number; warmupSeconds: number },
  progress: (line: string) => void,
): Promise<SoakResult> {
  const result: SoakResult = {
    learners: options.learners,
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    keyGapMs: KEY_GAP_MS,
    opened: 0,
    openFailures: [],
    idleBefore: [],
    idleAfter: [],
    echo: [],
    commands: [],
    timeline: [],
    checkpoints: {},
    disconnects: [],
    errors: [],
    poolProblems: [],
    bytesReceived: 0,
  };
  let soakStart = performance.now();
  const now = () => performance.now() - soakStart;
  let closing = false;
  const learners: Learner[] = [];
  const memoryAt = async (gc: boolean): Promise<MemorySample> => ({ ...(await backend.memory(gc)), atMs: now(), load1: os.loadavg()[0]! });

  // A pool that cannot refill (sandboxes not ready in time on an overloaded machine, the engine
  // restarted under it) is noted, not fatal: sessions still open, waiting for a sandbox, and the
  // terminals that are open are what the soak is about.
  const refilled = (when: string) =>
    backend.whenFilled().then(
      () => {},
      (error: unknown) => result.poolProblems.push({ learner: -1, atMs: now(), message: `pool did not refill ${when}: ${(error as Error).message}` }),
    );

  await refilled('before the learners arrived');
  // One after another, as a class arriving over a minute would: the burst is another section's business.
  for (let i = 0; i < options.learners; i++) {
    try {
      const session = await sessionToPrompt(backend.url);
      const index = learners.length;
      const dropped = new Promise<never>((_, reject) => {
        session.terminal.ws.once('close', (code: number, reason: Buffer) => {
          if (closing) return;
          learner.gone = true;
          result.disconnects.push({ learner: index, atMs: now(), message: `closed with ${code} ${reason.toString()}`.trim() });
          reject(new Error(`terminal closed (${code})`));
        });
      });
      dropped.catch(() => {});
      const learner: Learner = { index, session, gone: false, dropped };
      // Without a listener an 'error' would end the bench; the close that follows is what counts.
      session.terminal.ws.on('error', (error) => result.errors.push({ learner: learner.index, atMs: now(), message: `terminal socket: ${error.message}` }));
      learners.push(learner);
    } catch (error) {
      result.openFailures.push((error as Error).message);
    }
  }
  result.opened = learners.length;
  progress(`soak: ${learners.length} of ${options.learners} learners at their prompt`);
  if (!learners.length) throw new Error(`no learner got a session: ${result.openFailures[0] ?? ''}`);

  const record = (list: SoakEvent[], learner: Learner, error: unknown) => list.push({ learner: learner.index, atMs: now(), message: (error as Error).message });

  /** Types `command` key by key, timing each echo, presses Enter and reads everything until the prompt. */
  async function run(learner: Learner, command: Command, phase: Phase, echoes: (ms: number, atMs: number) => void): Promise<void> {
    const channel = learner.session.terminal;
    for (const key of command.text) {
      await delay(between(KEY_GAP_MS));
      // Only what arrives after this keystroke counts, so an older echo cannot match.
      const echoed = waitForOutput(channel, key, ECHO_TIMEOUT_MS, { window: 256 });
      const t0 = performance.now();
      channel.write(key);
      try {
        const at = await Promise.race([echoed, learner.dropped]);
        echoes(at - t0, t0 - soakStart);
      } catch (error) {
        if (learner.gone) return;
        record(result.errors, learner, new Error(`no echo of ${JSON.stringify(key)} while typing "${command.text}": ${(error as Error).message}`));
      }
    }
    await delay(between(KEY_GAP_MS));
    const chunks: Buffer[] = [];
    const off = channel.onData((chunk) => chunks.push(chunk));
    const prompt = waitForOutput(channel, PROMPT, COMMAND_TIMEOUT_MS);
    const t0 = performance.now();
    channel.write('\r');
    let promptAt: number;
    try {
      promptAt = await Promise.race([prompt, learner.dropped]);
    } catch (error) {
      off();
      if (learner.gone) return;
      record(result.errors, learner, new Error(`"${command.text}": ${(error as Error).message}`));
      // Back to a prompt, as a person would, before the next command.
      const back = waitForOutput(channel, PROMPT, COMMAND_TIMEOUT_MS);
      channel.write('\x03');
      await Promise.race([back, learner.dropped]).catch(() => {});
      return;
    }
    off();
    const raw = Buffer.concat(chunks).toString('latin1');
    const lines = outputLines(raw, PROMPT);
    const entry: CommandRecord = { learner: learner.index, phase, kind: command.kind, atMs: t0 - soakStart, ms: promptAt - t0, bytes: raw.length, ok: true };
    if (command.seqN !== undefined) {
      entry.seq = checkSeq(lines, command.seqN);
      entry.ok = entry.seq.complete;
      if (!entry.ok) {
        const s = entry.seq;
        entry.problem = `${s.lines} of ${s.n} lines, last ${s.last}, ${s.outOfOrder} out of order, ${s.foreign} foreign, ${s.receivedBytes} of ${s.expectedBytes} bytes`;
      }
    } else if (command.expect && !command.expect.test(lines.join('\n'))) {
      entry.ok = false;
      entry.problem = `no line matching ${command.expect} in ${JSON.stringify(lines.join('\n').slice(-300))}`;
    }
    if (!entry.ok) record(result.errors, learner, new Error(`"${command.text}": ${entry.problem}`));
    result.commands.push(entry);
  }

  /** One learner alone, the others connected and idle: the echo floor of this run. */
  async function idleFloor(phase: Phase, into: number[]): Promise<void> {
    const learner = learners.find((l) => !l.gone);
    if (!learner) return;
    while (into.length < IDLE_KEYSTROKES && !learner.gone) {
      await run(learner, pickWeighted(IDLE_MIX, Math.random), phase, (ms) => into.push(ms));
      await delay(between(THINK_MS));
    }
  }

  // The sessions' replacements are booted before anything is timed.
  await refilled('before the soak');
  soakStart = performance.now();
  result.checkpoints.start = await memoryAt(true);
  await idleFloor('idle-before', result.idleBefore);
  progress(`soak: idle echo floor from ${result.idleBefore.length} keystrokes; ${learners.length} learners typing for ${options.seconds} s`);

  soakStart = performance.now();
  const until = soakStart + options.seconds * 1000;
  const sampler = setInterval(() => {
    memoryAt(false).then(
      (sample) => result.timeline.push(sample),
      (error: unknown) => result.errors.push({ learner: -1, atMs: now(), message: `memory sample: ${(error as Error).message}` }),
    );
  }, MEMORY_EVERY_MS);
  const warmAt = options.warmupSeconds * 1000;
  const checkpoint = (name: 'warm' | 'middle', atMs: number) =>
    delay(atMs).then(async () => {
      if (performance.now() < until) result.checkpoints[name] = await memoryAt(true);
    });
  const checkpoints = Promise.all([checkpoint('warm', warmAt), checkpoint('middle', (warmAt + options.seconds * 1000) / 2)]).catch((error: unknown) => {
    result.errors.push({ learner: -1, atMs: now(), message: `memory checkpoint: ${(error as Error).message}` });
  });
  let lastReport = 0;
  await Promise.all(
    learners.map(async (learner) => {
      // Spread over the first seconds so the class does not type in lockstep.
      await delay(Math.random() * THINK_MS[1]);
      while (performance.now() < until && !learner.gone) {
        await run(learner, pickWeighted(MIX, Math.random), 'soak', (ms, atMs) => {
          result.echo.push({ atMs, ms, learner: learner.index });
          if (atMs - lastReport >= 60_000) {
            lastReport = atMs;
            progress(`soak: ${(atMs / 60_000).toFixed(1)} min, ${result.commands.length} commands, ${result.errors.length} errors, ${result.disconnects.length} disconnects`);
          }
        });
        await delay(between(THINK_MS));
      }
    }),
  );
  clearInterval(sampler);
  await checkpoints;
  result.checkpoints.end = await memoryAt(true);
  await idleFloor('idle-after', result.idleAfter);

  result.bytesReceived = learners.reduce((a, l) => a + l.session.terminal.bytesReceived, 0);
  closing = true;
  await closeSessions(backend.url, learners.map((l) => l.session));
  await refilled('after the sessions ended');
  result.checkpoints.afterClose = await memoryAt(true);
  progress(
    `soak: ${result.commands.length} commands, ${result.echo.length} keystrokes, ${(result.bytesReceived / 1e6).toFixed(1)} MB received, ` +
      `${result.errors.length} errors, ${result.disconnects.length} disconnects`,
  );
  return result;
}
