// The hub's bookkeeping with a stand-in terminal: pure logic, no engine.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../sandbox-backend/log.ts';
import type { Terminal } from '../../sandbox-backend/provisioning/driver.ts';
import { TerminalHub, type TerminalSubscriber } from '../../sandbox-backend/sessions/terminal-hub.ts';

const quiet = createLogger('error', {}, () => {});

function standIn() {
  const output = new PassThrough();
  const written: string[] = [];
  const resizes: Array<{ cols: number; rows: number }> = [];
  /** Keystrokes and resizes as the shell would receive them, in one sequence. */
  const sequence: string[] = [];
  output.on('data', () => {});
  const terminal: Terminal = {
    output,
    write: (data) => {
      written.push(Buffer.from(data).toString());
      sequence.push(`keys:${Buffer.from(data).toString()}`);
    },
    resize: (cols, rows) => {
      resizes.push({ cols, rows });
      sequence.push(`size:${cols}x${rows}`);
    },
    close: async () => {},
  };
  return {
    terminal,
    written,
    resizes,
    sequence,
    /** Output from the "shell". */
    emit: (text: string) => output.emit('data', Buffer.from(text)),
  };
}

function viewer(flushAutomatically = true) {
  const received: string[] = [];
  const pending: Array<() => void> = [];
  let ended = false;
  const subscriber: TerminalSubscriber = {
    send: (chunk, flushed) => {
      received.push(chunk.toString());
      if (flushAutomatically) flushed();
      else pending.push(flushed);
    },
    ended: () => (ended = true),
  };
  return { subscriber, received, flushAll: () => pending.splice(0).forEach((f) => f()), ended: () => ended };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the terminal hub', () => {
  it('attaches once and fans output out to every viewer', async () => {
    const fake = standIn();
    let opens = 0;
    const hub = new TerminalHub(async () => (opens++, fake.terminal), quiet);
    const a = viewer();
    const b = viewer();
    await hub.subscribe(a.subscriber, { cols: 80, rows: 24 });
    await hub.subscribe(b.subscriber, { cols: 100, rows: 30 });
    fake.emit('hello\r\n');
    expect(opens).toBe(1);
    expect(a.received.join('')).toBe('hello\r\n');
    expect(b.received.join('')).toBe('hello\r\n');
    await flush();
    // The newest viewer's size wins.
    expect(fake.resizes.at(-1)).toEqual({ cols: 100, rows: 30 });
  });

  it('replays recent output to a new viewer, from a line boundary once the buffer wrapped', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet, { replayBytes: 32 });
    await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    fake.emit('first line\r\n');
    let late = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(late.replay.toString()).toBe('first line\r\n');
    fake.emit('a much longer second line that overflows\r\nthird\r\n');
    late = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(late.replay.toString()).toBe('third\r\n');
  });

  it('pauses the shell while a viewer is far behind and resumes when it catches up', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet, { highWater: 10, lowWater: 4 });
    const slow = viewer(false);
    await hub.subscribe(slow.subscriber, { cols: 80, rows: 24 });
    fake.emit('0123456789ABC');
    expect(fake.terminal.output.isPaused()).toBe(true);
    slow.flushAll();
    expect(fake.terminal.output.isPaused()).toBe(false);
  });

  it('hands resizes and keystrokes to the terminal in the order the viewer sent them', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    const sub = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    sub.write(Buffer.from('a'));
    sub.resize(132, 41);
    sub.write(Buffer.from('stty size\r'));
    expect(fake.sequence).toEqual(['size:80x24', 'keys:a', 'size:132x41', 'keys:stty size\r']);
  });

  it('tells viewers when the shell exits, and starts a fresh one for the next viewer', async () => {
    const shells = [standIn(), standIn()];
    let opened = 0;
    const hub = new TerminalHub(async () => shells[opened++]!.terminal, quiet);
    const first = viewer();
    await hub.subscribe(first.subscriber, { cols: 80, rows: 24 });
    shells[0]!.emit('old output\r\n');
    shells[0]!.terminal.output.emit('end');
    expect(first.ended()).toBe(true);
    const next = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(opened).toBe(2);
    expect(next.replay.toString()).toBe('');
  });
});

describe('browser-side flow control', () => {
  it('pauses the shell while any viewer says its screen is behind, and resumes when none is', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    const a = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    const b = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    a.flow(true);
    expect(fake.terminal.output.isPaused()).toBe(true);
    b.flow(true);
    a.flow(false);
    expect(fake.terminal.output.isPaused()).toBe(true);
    b.flow(false);
    expect(fake.terminal.output.isPaused()).toBe(false);
    // A viewer that leaves while paused does not hold the shell.
    a.flow(true);
    a.unsubscribe();
    expect(fake.terminal.output.isPaused()).toBe(false);
  });
});
