import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { TerminalClient } from '../support/terminal.ts';

let backend: TestBackend;
let sessionId: string;

beforeAll(async () => {
  backend = await startBackend({ BERTH_POOL_IDLE: '0' });
  sessionId = (await api(backend.url, 'POST', '/api/sessions', {})).json.id;
});

afterAll(async () => {
  await backend?.stop();
});

const exec = (script: string) => api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['bash', '-c', script] });

it('announces a published port to the terminal and the session, and proxies HTTP to it', async () => {
  const term = await TerminalClient.open(backend.url, sessionId);
  const initial = await term.waitForControl('ports');
  expect(initial.ports).toEqual([]);

  expect((await exec('docker run -d -p 8080:80 --name web nginx')).json.exitCode).toBe(0);
  await waitFor('the port to be announced', () => term.controls.some((c) => c.type === 'ports' && (c.ports as number[]).includes(8080)));
  expect((await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.instances).toEqual([{ name: 'node1', ports: [8080] }]);
  term.close();

  const page = await fetch(`${backend.url}/s/${sessionId}/node1/8080/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/nginx/i);

  const bare = await fetch(`${backend.url}/s/${sessionId}/node1/8080`, { redirect: 'manual' });
  expect(bare.status).toBe(302);
  expect(bare.headers.get('location')).toBe(`/s/${sessionId}/node1/8080/`);
});

it('explains a port where nothing listens, and hides other sessions', async () => {
  const closed = await fetch(`${backend.url}/s/${sessionId}/node1/9999/`);
  expect(closed.status).toBe(502);
  expect((await closed.json()).error.message).toMatch(/Nothing answers on port 9999 of node1/);
  expect((await fetch(`${backend.url}/s/not-a-session/node1/8080/`)).status).toBe(404);
  expect((await fetch(`${backend.url}/s/${sessionId}/node7/8080/`)).status).toBe(404);
});

it('passes a WebSocket-style upgrade through, byte for byte', async () => {
  // A server that accepts any upgrade and then echoes what it receives.
  const start = await exec(
    `printf '#!/bin/sh\\nprintf "HTTP/1.1 101 Switching Protocols\\\\r\\\\nUpgrade: websocket\\\\r\\\\nConnection: Upgrade\\\\r\\\\n\\\\r\\\\n"\\nexec cat\\n' > /root/upgrade.sh && chmod +x /root/upgrade.sh && ` +
      `docker run -d -p 9000:9000 -v /root/upgrade.sh:/upgrade.sh busybox sh -c 'while true; do nc -l -p 9000 -e /upgrade.sh; done'`,
  );
  expect(start.json.exitCode).toBe(0);
  await waitFor('the echo server to listen', async () => (await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.instances[0].ports.includes(9000));

  const { port } = new URL(backend.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  socket.write(`GET /s/${sessionId}/node1/9000/echo HTTP/1.1\r\nHost: berth\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
  await waitFor('the upgrade answer', () => received.includes('101 Switching Protocols'));
  socket.write('ping-through-proxy');
  await waitFor('the echo', () => received.includes('ping-through-proxy'));
  // The upstream saw the path below the prefix.
  expect(received).toContain('GET /echo HTTP/1.1');
  socket.destroy();
});
