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
    // The resize reaches the shell through the engine and tmux; wait until tmux has it.
    await waitFor('tmux to see the new size', async () => {
      const res = await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, {
        cmd: ['tmux', 'list-clients', '-F', '#{client_width}x#{client_height}'],
      });
      return res.json.output.trim() === '132x41';
    });
    term.type('clear; stty size\r');
    await term.waitForText(/^41 132$/m);
    expect(term.controls.filter((c) => c.type === 'error')).toHaveLength(2);
    term.close();
  });

  it('keeps the shell and its state when the connection drops and comes back', async () => {
    const first = await connect();
    await first.waitForText('root@node1:~#');
    first.type('export BERTH_MARK=kept-$((40+2)); cd /tmp\r');
    await first.waitForText('root@node1:/tmp#');
    first.close();

    const second = await connect();
    second.type('echo mark=$BERTH_MARK\r');
    await second.waitForText('mark=kept-42');
    // Only this client remains attached: the dropped one is ended (asynchronously), not leaked.
    const attached = async () =>
      (await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['tmux', 'list-clients'] })).json.output
        .trim()
        .split('\n').length;
    expect(await waitFor('the dropped client to be ended', async () => ((await attached()) === 1 ? 1 : undefined))).toBe(1);
    second.close();
  });

  it('refuses to open a terminal for an unknown session', async () => {
    const ws = new WebSocket(`${backend.url.replace('http', 'ws')}/api/sessions/nope/instances/node1/terminal`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
  });
});
