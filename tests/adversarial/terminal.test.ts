/**
 * The terminal WebSocket against hostile and careless clients, on the real backend with real
 * sandboxes: malformed frames and paths, floods both ways, readers that never read, reconnect
 * loops, crowds of sockets. After each: the server answers, the attacked session's shell works,
 * and another learner's terminal echoes a keystroke within a bound.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

/**
 * How long another learner's keystroke may take to echo while one learner misbehaves: 2 cores
 * shared with other test runs (measured 0.4-2.6 s at load averages of 25-70).
 */
const ECHO_BOUND_MS = 3_000;
const STALL_MS = 3_000;

let backend: TestBackend;
/** The session under attack, and a bystander whose terminal must stay responsive. */
let target: string;
let bystander: string;
let witness: TerminalClient;
const open: Array<{ close(): void }> = [];
let marks = 0;

beforeAll(async () => {
  backend = await startBackend({ BERTH_TERMINAL_STALL_TIMEOUT: `${STALL_MS}ms`, BERTH_TERMINAL_VIEWERS: '4', BERTH_TERMINAL_SOCKETS_PER_SESSION: '6', BERTH_POOL_IDLE: '2', BERTH_SANDBOX_READY_TIMEOUT: '120s' });
  [target, bystander] = await Promise.all([newSession(), newSession()]);
  witness = await TerminalClient.open(backend.url, bystander, 'node1', { cols: 100, rows: 30 });
  await witness.waitForText('root@node1:~#');
});

afterEach(() => {
  for (const client of open.splice(0)) client.close();
});

afterAll(async () => {
  witness?.close();
  await backend?.stop();
});

async function newSession(): Promise<string> {
  const created = await api(backend.url, 'POST', '/api/sessions', {});
  expect(created.status).toBe(201);
  return created.json.id as string;
}

function wsUrl(session: string, instance = 'node1', size = { cols: 100, rows: 30 }): string {
  return `${backend.url.replace(/^http/, 'ws')}/api/sessions/${session}/instances/${instance}/terminal?cols=${size.cols}&rows=${size.rows}`;
}

async function connect(session = target, size = { cols: 100, rows: 30 }, instance = 'node1'): Promise<TerminalClient> {
  const client = await TerminalClient.open(backend.url, session, instance, size);
  open.push(client);
  return client;
}

async function exec(session: string, script: string): Promise<string> {
  const result = await api(backend.url, 'POST', `/api/sessions/${session}/instances/node1/exec`, { cmd: ['sh', '-c', script] });
  expect(result.status).toBe(200);
  return result.json.output.trim();
}

/** Types a fresh marker into the bystander's terminal; resolves with how long its echo took. */
async function bystanderEcho(): Promise<number> {
  const mark = `alive-${++marks}-${Date.now().toString(36)}`;
  const started = Date.now();
  witness.type(`echo ${mark.replace('-', '-""')}\r`);
  await witness.waitForText(new RegExp(`^${mark}$`, 'm'), 20_000);
  return Date.now() - started;
}

/** The server answers, the target's shell runs what is typed, and the bystander stays responsive. */
async function stillServing(): Promise<void> {
  expect((await api(backend.url, 'GET', '/healthz')).status).toBe(200);
  expect((await api(backend.url, 'GET', `/api/sessions/${target}`)).status).toBe(200);
  const term = await connect();
  const mark = `ok-${++marks}`;
  term.type(`echo ${mark.replace('-', '-""')}\r`);
  await term.waitForText(new RegExp(`^${mark}$`, 'm'), 30_000);
  term.close();
  expect(await bystanderEcho()).toBeLessThan(ECHO_BOUND_MS);
}

/** Samples echo latency of the bystander until `done` settles; returns the worst seen. */
async function echoWhile<T>(done: Promise<T>): Promise<{ result: T; worstEchoMs: number; samples: number }> {
  let settled = false;
  const finished = done.finally(() => (settled = true));
  let worst = 0;
  let samples = 0;
  while (!settled) {
    worst = Math.max(worst, await bystanderEcho());
    samples++;
  }
  return { result: await finished, worstEchoMs: worst, samples };
}

/** Backend memory (this process): buffers live outside the heap, so both are watched. */
function memory(): { heap: number; buffers: number; rss: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.external + m.arrayBuffers, rss: m.rss };
}

function watchMemory(): { stop(): { heap: number; buffers: number; rss: number } } {
  const base = memory();
  const peak = { ...base };
  const timer = setInterval(() => {
    const now = memory();
    peak.heap = Math.max(peak.heap, now.heap);
    peak.buffers = Math.max(peak.buffers, now.buffers);
    peak.rss = Math.max(peak.rss, now.rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return { heap: peak.heap - base.heap, buffers: peak.buffers - base.buffers, rss: peak.rss - base.rss };
    },
  };
}

const MB = 1024 * 1024;

/** Resolves with the close code (and reason) of a socket, or the HTTP status of a refused upgrade (or 101). */
function outcome(ws: WebSocket, { openIsEnough = false } = {}): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    if (openIsEnough) ws.once('open', () => resolve({ code: 101, reason: 'open' }));
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.once('unexpected-response', (_req, res) => resolve({ code: res.statusCode ?? 0, reason: 'http' }));
    ws.once('error', () => {});
  });
}

async function opened(ws: WebSocket): Promise<WebSocket> {
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

describe('the screen on (re)connecting', () => {
  it('shows the prompt at once to a terminal opened at the size the shell already has', async () => {
    const first = await connect(target, { cols: 90, rows: 25 });
    await first.waitForText('root@node1:~#');
    first.close();
    const again = await connect(target, { cols: 90, rows: 25 });
    // Nothing typed: the replay and the repaint put the prompt, the unfinished last line, on screen.
    await again.waitForText(/root@node1:~# *$/);
    again.close();

    // A restarted backend has no replay at all: only the program's repaint can fill the screen.
    backend = await backend.restart();
    const afterRestart = await connect(target, { cols: 90, rows: 25 });
    await afterRestart.waitForText(/root@node1:~# *$/);
    afterRestart.type('echo back-$((20+1))\r');
    await afterRestart.waitForText(/^back-21$/m);
    // The bystander's socket was closed by the restart: a new one, as its browser would open.
    witness.close();
    witness = await TerminalClient.open(backend.url, bystander, 'node1', { cols: 100, rows: 30 });
    await witness.waitForText('root@node1:~#');
    await stillServing();
  });

  it('restores a full-screen program (less, on the alternate screen) on reconnecting, also after a backend restart', async () => {
    const term = await connect(target, { cols: 90, rows: 25 });
    await term.waitForText('root@node1:~#');
    term.type('clear; seq -f "row-%03g" 1 200 > /tmp/rows; less /tmp/rows\r');
    await term.waitForText(/^row-024$/m);
    term.close();

    const back = await connect(target, { cols: 90, rows: 25 });
    await back.waitForText(/^row-001\n(row-\d+\n){22}row-024\n:$/);
    back.close();

    backend = await backend.restart();
    const restarted = await connect(target, { cols: 90, rows: 25 });
    // Fresh hub, nothing to replay: less repaints its page when made to.
    await restarted.waitForText(/^row-001\n(row-\d+\n){22}row-024\n:$/);
    restarted.type('q');
    // This screen never saw less enter the alternate screen (that was before the restart), so
    // less's page stays behind on the main one when it leaves: cleared, as a learner would.
    restarted.type('clear; echo left-less-$((1+1))\r');
    await restarted.waitForText(/^left-less-2$/m);
    witness.close();
    witness = await TerminalClient.open(backend.url, bystander, 'node1', { cols: 100, rows: 30 });
    await witness.waitForText('root@node1:~#');
    await stillServing();
  });
});

describe('keystrokes into a shell that does not read', () => {
  it('are held at the client (backend memory stays bounded), then arrive whole and in order once it reads', async () => {
    const bytes = 32 * MB;
    const reader = await connect();
    await reader.waitForText('root@node1:~#');
    // The shell reads nothing while sleep runs, then the whole paste: no line editing, and no
    // echo (bash echoing megabytes back can wedge dtach's master, which blocks writing into the
    // full pty while the shell blocks on output the master does not read).
    reader.type(`clear; stty -icanon -echo -ixon -iexten; sleep 600; head -c ${bytes} | sha256sum; stty sane\r`);
    await waitFor('sleep to run', async () => (await exec(target, 'pgrep -x sleep >/dev/null && echo yes || echo no')) === 'yes');

    // The flood comes from another process, so that what that client holds is not counted here.
    const watch = watchMemory();
    const flood = floodInput(wsUrl(target), bytes);
    const { result: stuck, worstEchoMs } = await echoWhile(flood.stalled());
    const grown = watch.stop();
    console.log(
      `input flood of ${bytes / MB} MB into a shell that does not read: backend +${(grown.heap / MB).toFixed(1)} MB heap, ` +
        `+${(grown.buffers / MB).toFixed(1)} MB buffers, +${(grown.rss / MB).toFixed(1)} MB rss; ` +
        `${(stuck.held / MB).toFixed(1)} MB held by the client; bystander echo worst ${worstEchoMs} ms`,
    );
    // Most of the paste waits in the client; the backend holds a bounded amount.
    expect(stuck.held).toBeGreaterThan(bytes / 2);
    expect(grown.buffers).toBeLessThan(8 * MB);
    expect(grown.heap).toBeLessThan(16 * MB);
    expect(worstEchoMs).toBeLessThan(ECHO_BOUND_MS);

    // The shell reads again: every byte arrives, in order. Slowly: dtach's master passes 8 bytes
    // per read (about 3.5 MB/s here when quiet, 0.12 MB/s at a load average of 40).
    const started = Date.now();
    await exec(target, 'pkill -x sleep');
    const digest = await waitFor('the digest of the paste', () => /^([0-9a-f]{64})\s+-$/m.exec(reader.text())?.[1], 540_000);
    console.log(`the ${bytes / MB} MB paste reached the shell in ${((Date.now() - started) / 1000).toFixed(1)} s once it read`);
    expect(digest).toBe(await flood.digest);
    flood.stop();
    await stillServing();
  }, 660_000);
});

describe('hostile frames and paths', () => {
  it('closes a socket that sends a frame over 64 KiB, binary or text (1009), and one with invalid UTF-8 in a text frame (1007)', async () => {
    for (const [frame, binary, code] of [
      [Buffer.alloc(65 * 1024, 0x61), true, 1009],
      [Buffer.alloc(65 * 1024, 0x61), false, 1009],
      [Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0xfe, 0x7d]), false, 1007],
    ] as const) {
      const ws = await opened(new WebSocket(wsUrl(target)));
      const closed = outcome(ws);
      ws.send(frame, { binary });
      expect((await closed).code).toBe(code);
    }
    await stillServing();
  });

  it('answers control messages of every wrong shape with an error, and the socket keeps working', async () => {
    const term = await connect();
    await term.waitForText('root@node1:~#');
    const wrong = [
      '', ' ', 'null', 'true', '42', '"resize"', '[]', '[{"type":"resize"}]', '{}', '{"type":null}', '{"type":"nope"}',
      '{"type":"resize"}', '{"type":"resize","cols":80}', '{"type":"resize","cols":-80,"rows":24}', '{"type":"resize","cols":80,"rows":-1}',
      '{"type":"resize","cols":0,"rows":0}', '{"type":"resize","cols":1e9,"rows":1e9}', '{"type":"resize","cols":65536,"rows":65536}',
      '{"type":"resize","cols":80.5,"rows":24}', '{"type":"resize","cols":"80","rows":"24"}', '{"type":"resize","cols":NaN,"rows":24}',
      '{"type":"resize","cols":1e400,"rows":24}', '{"type":"flow"}', '{"type":"flow","paused":"yes"}', '{"type":"flow","paused":1}',
      '{"__proto__":{"type":"resize"},"cols":80,"rows":24}', '{"type":"resize","cols":80,"rows":24', '\u0000\u0001\u0002',
      // Big, and cut inside its string: not JSON.
      JSON.stringify({ type: 'resize', cols: 80, rows: 24, extra: 'x'.repeat(60_000) }).slice(0, 60_020),
      '['.repeat(30_000) + ']'.repeat(30_000),
    ];
    for (const text of wrong) term.sendControl(text);
    await waitFor('an error for each', () => term.controls.filter((c) => c.type === 'error').length >= wrong.length);
    // The shell's size never followed a wrong one.
    term.type('clear; stty size\r');
    await term.waitForText(/^30 100$/m);
    await stillServing();
  });

  it('keeps up with thousands of control messages a second, and keystrokes after them still run', async () => {
    const term = await connect();
    await term.waitForText('root@node1:~#');
    const started = Date.now();
    for (let i = 0; i < 5_000; i++) {
      term.sendControl(JSON.stringify({ type: 'resize', cols: 40 + (i % 200), rows: 10 + (i % 100) }));
      term.sendControl('{"type":"flow","paused":false}');
      if (i % 10 === 0) term.sendControl('{"type":"bogus"}');
    }
    term.resize(100, 30);
    term.type('clear; stty size\r');
    await term.waitForText(/^30 100$/m, 60_000);
    console.log(`10 500 control messages handled, and a command after them answered, in ${Date.now() - started} ms`);
    await stillServing();
  });

  it('ends a socket that floods pings without reading the pongs; a reading one is answered', async () => {
    const reading = await opened(new WebSocket(wsUrl(target)));
    let pongs = 0;
    reading.on('pong', () => pongs++);
    // In bursts of 20: ws ends even a reading client with 60 pongs waiting to be written.
    for (let burst = 1; burst <= 50; burst++) {
      for (let i = 0; i < 20; i++) reading.ping();
      await waitFor('the pongs', () => pongs === burst * 20);
    }
    reading.close();
    await waitFor('the reading socket to be gone', () => backend.app.sessions.terminalStats(target).viewers === 0);

    const socket = await rawUpgrade(wsUrl(target));
    socket.pause(); // never reads again
    await waitFor('the socket to be attached', () => backend.app.sessions.terminalStats(target).viewers === 1);
    // 13 MB of pongs to answer: more than the kernel's buffers between us hold.
    const ping = maskedFrame(0x9, Buffer.alloc(125, 0x70));
    for (let i = 0; i < 100; i++) socket.write(Buffer.concat(Array.from({ length: 1_000 }, () => ping)));
    await waitFor('the server to end it', () => backend.app.sessions.terminalStats(target).viewers === 0, 60_000);
    await stillServing();
  });

  it('survives half-open connections that send part of an upgrade and stop', async () => {
    const sockets: net.Socket[] = [];
    const port = Number(new URL(backend.url).port);
    for (let i = 0; i < 200; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`GET /api/sessions/${target}/instances/node1/terminal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Up`);
      sockets.push(socket);
    }
    open.push({ close: () => sockets.forEach((s) => s.destroy()) });
    await stillServing();
  });

  it('answers malformed and hostile upgrade paths with an error, never an exception', async () => {
    const paths = [
      '/api/sessions/%E0/instances/node1/terminal',
      `/api/sessions/${target}/instances/%E0%A4%A/terminal`,
      '/api/sessions/%/instances/%ZZ/terminal',
      '/api/sessions//instances/node1/terminal',
      `/api/sessions/${target}/instances/node1/terminal/..`,
      `/api/sessions/${'x'.repeat(6000)}/instances/node1/terminal`,
      `/api/sessions/${target}/instances/node1/terminal?cols=-5&rows=99999999999`,
    ];
    const statuses: number[] = [];
    for (const path of paths) {
      const ws = new WebSocket(backend.url.replace(/^http/, 'ws') + path);
      // The last one is a valid terminal whose size parameters fall back to the default.
      statuses.push((await outcome(ws, { openIsEnough: true })).code);
      ws.terminate();
    }
    expect(statuses).toEqual([400, 400, 400, 404, 404, 404, 101]);
    await stillServing();
  });
});

describe('many sockets, slow sockets, reconnect loops', () => {
  it('refuses a socket beyond the per-terminal and the per-session caps with 4005 and a reason', async () => {
    const viewers = await Promise.all(Array.from({ length: 4 }, () => connect()));
    await viewers[3]!.waitForText('root@node1:');
    const fifth = new WebSocket(wsUrl(target));
    const refused = await outcome(fifth);
    expect(refused.code).toBe(4005);
    expect(refused.reason).toMatch(/this terminal has 4/);
    // The four still share the shell.
    viewers[0]!.type('echo shared-$((2*21))\r');
    await viewers[3]!.waitForText(/^shared-42$/m);

    const added = await api(backend.url, 'POST', `/api/sessions/${target}/instances`, {});
    expect(added.status).toBe(201);
    const second = added.json.name as string;
    const more = await Promise.all(Array.from({ length: 2 }, () => connect(target, { cols: 100, rows: 30 }, second)));
    await more[1]!.waitForText(`root@${second}:`);
    const seventh = await outcome(new WebSocket(wsUrl(target, second)));
    expect(seventh.code).toBe(4005);
    expect(seventh.reason).toMatch(/this session has 6/);
    for (const client of [...viewers, ...more]) client.close();
    await api(backend.url, 'DELETE', `/api/sessions/${target}/instances/${second}`);
    // Closed sockets free their places.
    await waitFor('the places to free', () => backend.app.sessions.terminalStats(target).viewers === 0);
    await stillServing();
  });

  it('drops a socket that never reads, so a flood reaches the other viewer, with backend memory bounded', async () => {
    const term = await connect(target, { cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    term.close();
    // The other viewer only counts bytes and keeps a tail: no screen to fill in this process.
    const reader = await opened(new WebSocket(wsUrl(target, 'node1', { cols: 80, rows: 24 })));
    open.push({ close: () => reader.terminate() });
    let received = 0;
    let tail = '';
    reader.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      received += data.length;
      tail = (tail + data.toString('latin1')).slice(-200);
    });
    const stuck = await rawUpgrade(wsUrl(target, 'node1', { cols: 80, rows: 24 }));
    stuck.pause(); // reads nothing from now on; the kernel's buffers fill first (megabytes on loopback)
    await waitFor('both viewers to be attached', () => backend.app.sessions.terminalStats(target).viewers === 2);
    const watch = watchMemory();
    const started = Date.now();
    let droppedAfter: number | undefined;
    const dropped = waitFor('the socket to be dropped', () => backend.app.sessions.terminalStats(target).viewers === 1 && (droppedAfter = Date.now() - started), 240_000);
    // 54 MB of output: far more than the kernel holds for the reader that stopped.
    reader.send(Buffer.from('clear; head -c 40000000 /dev/zero | base64; echo flood-done-$((1+1))\r'));
    const { worstEchoMs } = await echoWhile(Promise.all([dropped, waitFor('the end of the flood', () => tail.includes('flood-done-2'), 240_000)]));
    const grown = watch.stop();
    console.log(
      `a socket that never reads was dropped ${droppedAfter} ms into a flood of ${(received / MB).toFixed(0)} MB, which the other viewer got whole; ` +
        `backend +${(grown.buffers / MB).toFixed(1)} MB buffers, +${(grown.heap / MB).toFixed(1)} MB heap; bystander echo worst ${worstEchoMs} ms`,
    );
    expect(received).toBeGreaterThan(54_000_000);
    expect(grown.buffers).toBeLessThan(16 * MB);
    expect(worstEchoMs).toBeLessThan(ECHO_BOUND_MS);
    stuck.destroy();
    await stillServing();
  }, 300_000);

  it('leaves no hub, viewer, relay or listener behind after hundreds of rapid reconnects', async () => {
    const settle = await connect();
    await settle.waitForText('root@node1:');
    settle.close();
    await waitFor('a quiet terminal', () => backend.app.sessions.terminalStats(target).viewers === 0);
    const before = backend.app.sessions.terminalStats(target);
    const runningExecs = async () => {
      const { containers } = await import('../support/backend.ts').then((m) => m.leftovers(backend.engine, backend.namespace));
      let running = 0;
      for (const id of containers) {
        const info = (await backend.engine.getContainer(id).inspect()) as { ExecIDs?: string[] | null };
        for (const execId of info.ExecIDs ?? []) if ((await backend.engine.getExec(execId).inspect()).Running) running++;
      }
      return running;
    };
    const execsBefore = await runningExecs();

    const loops = async () => {
      let opened = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 75; i++) {
            const ws = new WebSocket(wsUrl(target));
            ws.on('error', () => {});
            // Half are closed at once, half once the server said hello.
            if (i % 2) await new Promise((resolve) => ws.once('message', resolve).once('close', resolve));
            else await new Promise((resolve) => ws.once('open', resolve).once('close', resolve));
            ws.terminate();
            opened++;
          }
        }),
      );
      return opened;
    };
    const started = Date.now();
    const { result: cycles, worstEchoMs } = await echoWhile(loops());
    console.log(`${cycles} open/close cycles in ${Date.now() - started} ms; bystander echo worst ${worstEchoMs} ms`);
    expect(cycles).toBe(300);
    await waitFor('the server to see every close', () => backend.app.sessions.terminalStats(target).viewers === 0);
    expect(backend.app.sessions.terminalStats(target)).toEqual(before);
    expect(await exec(target, 'pgrep -xc berth-relay')).toBe('1');
    await waitFor('no exec left running', async () => (await runningExecs()) <= execsBefore);
    expect(worstEchoMs).toBeLessThan(ECHO_BOUND_MS);
    await stillServing();
  });

  it('keeps another learner responsive while one floods output with a slow browser', async () => {
    const term = await connect(target, { cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    term.type('clear; head -c 40000000 /dev/urandom | base64; echo out-done-$((3+3))\r');
    const { worstEchoMs, samples } = await echoWhile(term.waitForText(/^out-done-6$/m, 240_000));
    console.log(`output flood of 54 MB: bystander echo worst ${worstEchoMs} ms over ${samples} samples`);
    expect(worstEchoMs).toBeLessThan(ECHO_BOUND_MS);
    await stillServing();
  });
});

/** A WebSocket handshake on a raw socket, so that a test can stop reading (or send raw frames). */
async function rawUpgrade(url: string): Promise<net.Socket> {
  const target = new URL(url);
  const socket = net.connect(Number(target.port), target.hostname);
  socket.on('error', () => {});
  open.push({ close: () => socket.destroy() });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
  });
  return socket;
}

/** One client frame (clients must mask), FIN set; payloads under 126 bytes. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/**
 * A client in a child process that sends `bytes` of text as fast as its socket takes them, in
 * 16 KiB frames as the UI does, and reports how much it still holds.
 */
function floodInput(url: string, bytes: number) {
  const script = `
    import WebSocket from 'ws';
    import { createHash } from 'node:crypto';
    const total = Number(process.env.FLOOD_BYTES);
    process.stdout.on('error', () => process.exit(0));
    const ws = new WebSocket(process.env.FLOOD_URL);
    const hash = createHash('sha256');
    ws.on('message', () => {});
    ws.on('open', () => {
      let line = 0;
      let pending = '';
      for (let sent = 0; sent < total; ) {
        while (pending.length < 16384) pending += String(line++).padStart(10, '0') + ' the quick brown fox jumps over the lazy dog 0123456789\\n';
        const frame = Buffer.from(pending.slice(0, Math.min(16384, total - sent)));
        pending = pending.slice(frame.length);
        hash.update(frame);
        ws.send(frame);
        sent += frame.length;
      }
      console.log(JSON.stringify({ digest: hash.digest('hex') }));
      setInterval(() => console.log(JSON.stringify({ held: ws.bufferedAmount })), 200);
    });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(),
    env: { ...process.env, FLOOD_URL: url, FLOOD_BYTES: String(bytes) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const reports: Array<{ held?: number; digest?: string }> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) reports.push(JSON.parse(line));
  });
  return {
    digest: waitFor('the flood to be sent', () => reports.find((r) => r.digest)?.digest, 120_000),
    /** Resolves once what the client holds stopped shrinking for a second: the backend stopped reading. */
    stalled: () =>
      waitFor(
        'the flood to stall',
        () => {
          const held = reports.filter((r) => r.held !== undefined).map((r) => r.held!);
          const last = held.slice(-6);
          return last.length === 6 && last.every((n) => n === last[0]) ? { held: last[0]! } : undefined;
        },
        120_000,
      ),
    stop: () => child.kill(),
  };
}
