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
  /** Whether the "shell" is taking input; when not, writes say so until `drain()`. */
  let taking = true;
  const drains: Array<() => void> = [];
  const terminal: Terminal = {
    output,
    write: (data) => {
      written.push(Buffer.from(data).toString());
      sequence.push(`keys:${Buffer.from(data).toString()}`);
      return taking;
    },
    resize: (cols, rows) => {
      resizes.push({ cols, rows });
      sequence.push(`size:${cols}x${rows}`);
      return taking;
    },
    onDrain: (listener) => drains.push(listener),
    close: async () => {},
  };
  return {
    terminal,
    written,
    resizes,
    sequence,
    /** Output from the "shell". */
    emit: (text: string) => output.emit('data', Buffer.from(text)),
    stopTaking: () => (taking = false),
    drain: () => {
      taking = true;
      drains.forEach((listener) => listener());
    },
  };
}

function viewer(flushAutomatically = true) {
  const received: string[] = [];
  const pending: Array<() => void> = [];
  let ended = false;
  const holds: boolean[] = [];
  const drops: string[] = [];
  const subscriber: TerminalSubscriber = {
    send: (chunk, flushed) => {
      received.push(chunk.toString());
      if (flushAutomatically) flushed();
      else pending.push(flushed);
    },
    ended: () => (ended = true),
    holdInput: (held) => holds.push(held),
    dropped: (reason) => drops.push(reason),
  };
  return { subscriber, received, holds, drops, flushAll: () => pending.splice(0).forEach((f) => f()), ended: () => ended };
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
    // 80x23 is the first viewer's repaint (see below); the viewer's own resize cancels its restore.
    expect(fake.sequence).toEqual(['size:80x23', 'keys:a', 'size:132x41', 'keys:stty size\r']);
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

describe('repainting for a viewer at the size the shell already has', () => {
  it('makes the program redraw with a size one row smaller, then restores it once the program answered', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    // The first viewer: the shell may have had this size before the hub attached.
    await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(fake.resizes).toEqual([{ cols: 80, rows: 23 }]);
    fake.emit('\r\x1b[Kroot@node1:~# ');
    expect(fake.resizes).toEqual([{ cols: 80, rows: 23 }, { cols: 80, rows: 24 }]);
    // A reconnect at the same size: the same again. At another size, the resize alone redraws.
    await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    fake.emit('\r\x1b[Kroot@node1:~# ');
    await hub.subscribe(viewer().subscriber, { cols: 100, rows: 30 });
    expect(fake.resizes.slice(2)).toEqual([{ cols: 80, rows: 23 }, { cols: 80, rows: 24 }, { cols: 100, rows: 30 }]);
  });

  it('keeps the smaller size until the program answers, and a viewer\'s resize meanwhile wins', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    const first = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    // A second viewer meanwhile shares the repaint under way rather than starting another.
    await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(fake.resizes).toEqual([{ cols: 80, rows: 23 }]);
    first.resize(120, 40);
    fake.emit('redrawn');
    expect(fake.resizes).toEqual([{ cols: 80, rows: 23 }, { cols: 120, rows: 40 }]);
  });

  it('includes the unfinished last line (the prompt) in the replay', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    fake.emit('done\r\nroot@node1:~# ');
    const late = await hub.subscribe(viewer().subscriber, { cols: 80, rows: 24 });
    expect(late.replay.toString()).toBe('done\r\nroot@node1:~# ');
  });
});

describe('keystroke back-pressure', () => {
  it('holds every viewer\'s input while the shell has not taken what was typed, and releases it on drain', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet);
    const a = viewer();
    const b = viewer();
    const sa = await hub.subscribe(a.subscriber, { cols: 80, rows: 24 });
    await hub.subscribe(b.subscriber, { cols: 90, rows: 24 });
    fake.stopTaking();
    sa.write(Buffer.from('x'.repeat(100)));
    sa.write(Buffer.from('y'));
    expect(a.holds).toEqual([true]);
    expect(b.holds).toEqual([true]);
    // A viewer joining while input is held starts held.
    const c = viewer();
    await hub.subscribe(c.subscriber, { cols: 90, rows: 24 });
    expect(c.holds).toEqual([true]);
    fake.drain();
    expect([a.holds, b.holds, c.holds]).toEqual([[true, false], [true, false], [true, false]]);
    // Nothing was dropped: the terminal got every write, in order.
    expect(fake.written.join('')).toBe('x'.repeat(100) + 'y');
  });
});

describe('a viewer that holds the shell for too long', () => {
  it('is dropped with a reason, and the others carry on', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet, { highWater: 10, lowWater: 4, stallMs: 30 });
    const stuck = viewer(false);
    const fine = viewer();
    await hub.subscribe(stuck.subscriber, { cols: 80, rows: 24 });
    await hub.subscribe(fine.subscriber, { cols: 80, rows: 24 });
    fake.emit('0123456789ABC');
    expect(fake.terminal.output.isPaused()).toBe(true);
    await waitFor(() => stuck.drops.length > 0);
    expect(stuck.drops[0]).toMatch(/did not read/);
    expect(hub.subscribers).toBe(1);
    expect(fake.terminal.output.isPaused()).toBe(false);
    fake.emit('more');
    expect(fine.received.join('')).toContain('more');
  });

  it('is not dropped when it catches up in time, and a paused one is dropped too', async () => {
    const fake = standIn();
    const hub = new TerminalHub(async () => fake.terminal, quiet, { highWater: 10, lowWater: 4, stallMs: 40 });
    const slow = viewer(false);
    const pauser = viewer();
    await hub.subscribe(slow.subscriber, { cols: 80, rows: 24 });
    const p = await hub.subscribe(pauser.subscriber, { cols: 80, rows: 24 });
    fake.emit('0123456789ABC');
    slow.flushAll();
    p.flow(true);
    await waitFor(() => pauser.drops.length > 0);
    expect(pauser.drops[0]).toMatch(/paused/);
    expect(slow.drops).toEqual([]);
    expect(hub.subscribers).toBe(1);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
