import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

let backend: TestBackend;
let sessionId: string;
const open: TerminalClient[] = [];

afterEach(() => {
  // A failed assertion must not leave its connection attached to the next test's shell.
  for (const client of open.splice(0)) client.close();
});

async function connect(size?: { cols: number; rows: number }): Promise<TerminalClient> {
  const client = await TerminalClient.open(backend.url, sessionId, 'node1', size);
  open.push(client);
  return client;
}

beforeAll(async () => {
  backend = await startBackend();
  sessionId = (await api(backend.url, 'POST', '/api/sessions', {})).json.id;
});

afterAll(async () => {
  await backend?.stop();
});

describe('the terminal WebSocket', () => {
  it('gives a login bash prompt in the sandbox and runs what is typed', async () => {
    const term = await connect();
    const hello = await term.waitForControl('session');
    expect(hello.expiresAt).toEqual((await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.expiresAt);
    await term.waitForText('root@node1:~#');
    term.type('echo answer=$((6*7)); shopt -q login_shell && echo login-shell\r');
    await term.waitForText('answer=42');
    await term.waitForText('login-shell');
    term.close();
  });

  it('follows resizes, and survives a malformed control message', async () => {
    const term = await connect({ cols: 100, rows: 30 });
    await term.waitForText('root@node1:~#');
    term.type('clear; stty size\r');
    await term.waitForText(/^30 100$/m);
    term.sendControl('{"type":"resize","cols":"wide"}');
    const error = await term.waitForControl('error');
    expect(error.message).toMatch(/cols/);
    term.sendControl('not json');
    term.resize(132, 41);
    // No waiting: keystrokes sent after a resize reach the shell after it.
    term.type('clear; stty size\r');
    await term.waitForText(/^41 132$/m);
    expect(term.controls.filter((c) => c.type === 'error')).toHaveLength(2);
    term.close();
  });

  it('keeps the shell and its state when the connection drops, and repaints the screen on return', async () => {
    const first = await connect();
    await first.waitForText('root@node1:~#');
    first.type('export BERTH_MARK=kept-$((40+2)); cd /tmp; echo painted-$((2+2))\r');
    await first.waitForText('painted-4');
    first.close();

    const second = await connect();
    // Nothing typed yet: what shows is the replay of the earlier output.
    await second.waitForText('painted-4');
    second.type('echo mark=$BERTH_MARK in $PWD\r');
    await second.waitForText('mark=kept-42 in /tmp');
    // One attachment to the shell per instance, whatever the number of (re)connections.
    const clients = await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, {
      cmd: ['sh', '-c', 'pgrep -xc berth-relay; pgrep -fc "^berth-shell "'],
    });
    expect(clients.json.output.trim().split('\n')).toEqual(['1', '1']);
  });

  it('delivers every line of long output, so the scrollback is complete', async () => {
    const term = await connect({ cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    term.type('clear; seq 1 3000 | sed s/^/line-/\r');
    await term.waitForText(/^line-3000$/m);
    const numbered = term.text().split('\n').filter((line) => /^line-\d+$/.test(line));
    expect(numbered).toHaveLength(3000);
    expect(numbered[0]).toBe('line-1');
  });

  it('delivers megabytes of output intact and in order', async () => {
    const term = await connect({ cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    const raw: Buffer[] = [];
    let tail = '';
    term.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      raw.push(Buffer.from(data));
      tail = (tail + data.toString('latin1')).slice(-200);
    });
    // Random bytes as base64 lines: a lost, doubled or reordered piece changes the digest.
    term.type('head -c 4000000 /dev/urandom > /tmp/blob; echo BEGIN-$((1+1)); base64 /tmp/blob; echo END-$((2+2)) $(sha256sum < /tmp/blob); rm /tmp/blob\r');
    const digest = (await waitFor('the end marker', () => /END-4 ([0-9a-f]{64})/.exec(tail)?.[1], 120_000)) as string;
    const text = Buffer.concat(raw).toString('latin1');
    const begin = text.indexOf('BEGIN-2\r\n');
    expect(begin).toBeGreaterThan(-1);
    const body = text.slice(begin + 'BEGIN-2\r\n'.length, text.indexOf('END-4', begin));
    const decoded = Buffer.from(body.replace(/\r\n/g, ''), 'base64');
    expect(decoded.length).toBe(4_000_000);
    expect(createHash('sha256').update(decoded).digest('hex')).toBe(digest);
  });

  it('holds a flooding command at the source while the client says its screen is behind, losing nothing', async () => {
    const term = await connect({ cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    const running = async () =>
      (await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['sh', '-c', 'pgrep -x seq >/dev/null && echo yes || echo no'] })).json.output.trim();
    term.sendControl(JSON.stringify({ type: 'flow', paused: true }));
    term.type('clear; seq 1 300000 | sed s/^/n-/; echo flood-done\r');
    await waitFor('seq to start', async () => (await running()) === 'yes');
    // 2 MB cannot fit in the buffers between the shell and us: while paused, seq stays blocked.
    for (let i = 0; i < 5; i++) expect(await running()).toBe('yes');
    expect(term.text()).not.toContain('flood-done');
    term.sendControl(JSON.stringify({ type: 'flow', paused: false }));
    await term.waitForText(/^flood-done$/m, 60_000);
    expect(term.text()).toMatch(/^n-300000$/m);
  });

  it('shows the same shell in two tabs at once', async () => {
    const left = await connect();
    const right = await connect();
    await left.waitForText('root@node1:');
    left.type('echo from-left-$((3*3))\r');
    await left.waitForText('from-left-9');
    await right.waitForText('from-left-9');
    right.type('echo from-right-$((4*4))\r');
    await left.waitForText('from-right-16');
  });

  it('gives the shell the sandbox started, and the containers started from it, a working Ctrl-C', async () => {
    const exec = async (script: string) =>
      (await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['sh', '-c', script] })).json.output.trim();
    const term = await connect({ cols: 80, rows: 24 });
    await term.waitForText('root@node1:');
    term.type('sleep 300\r');
    await waitFor('sleep to run', async () => (await exec('pgrep -x sleep >/dev/null && echo yes || echo no')) === 'yes');
    term.type('\x03');
    term.type('echo back-$((3+4))\r');
    await term.waitForText(/^back-7$/m, 15_000);
    // A background start leaves SIGINT and SIGQUIT ignored, and exec keeps them so: nothing the
    // learner runs may inherit that (bits 2 and 3 of SigIgn), in the shell or in a container.
    const masks = (await exec('for p in $(pgrep -f "^berth-shell "); do grep SigIgn /proc/$p/status; done; docker pull -q busybox >/dev/null 2>&1; docker run --rm busybox grep SigIgn /proc/self/status'))
      .split('\n')
      .map((line: string) => BigInt(`0x${line.split(/\s+/)[1]}`));
    expect(masks).toHaveLength(2);
    for (const mask of masks) expect(mask & 0b110n).toBe(0n);
  });

  it('starts a shell when the sandbox has none, one in which Ctrl-C interrupts a command', async () => {
    const other = (await api(backend.url, 'POST', '/api/sessions', {})).json.id as string;
    const exec = async (script: string) =>
      (await api(backend.url, 'POST', `/api/sessions/${other}/instances/node1/exec`, { cmd: ['sh', '-c', script] })).json.output.trim();
    try {
      await exec('pkill -f "^berth-shell "; while pgrep -f "^berth-shell " >/dev/null; do sleep 0.05; done');
      const term = await TerminalClient.open(backend.url, other, 'node1', { cols: 90, rows: 20 });
      open.push(term);
      await term.waitForText('root@node1:~#');
      term.type('stty size; sleep 60\r');
      await term.waitForText(/^20 90$/m);
      await waitFor('sleep to run', async () => (await exec('pgrep -x sleep >/dev/null && echo yes || echo no')) === 'yes');
      term.type('\x03');
      term.type('echo after-$((5+5))\r');
      await term.waitForText(/^after-10$/m, 15_000);
    } finally {
      await api(backend.url, 'DELETE', `/api/sessions/${other}`);
    }
  });

  it('refuses to open a terminal for an unknown session', async () => {
    const ws = new WebSocket(`${backend.url.replace('http', 'ws')}/api/sessions/nope/instances/node1/terminal`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
  });
});
