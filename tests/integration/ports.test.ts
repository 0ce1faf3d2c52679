import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { startUpgradeEcho, tokenOf } from '../support/hostile-page.ts';
import { TerminalClient } from '../support/terminal.ts';

const PORT_DOMAIN = 'ports.localhost';

let backend: TestBackend;
let sessionId: string;
/** The session's port token: what port links carry instead of the session id. */
let token: string;

beforeAll(async () => {
  // Both forms of port URL at once: the path form always, the host form under this domain.
  backend = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_PORT_DOMAIN: PORT_DOMAIN });
  const session = (await api(backend.url, 'POST', '/api/sessions', {})).json;
  sessionId = session.id;
  token = tokenOf(session.portUrlTemplate);
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

  // Docker's proxy listens (and the port is announced) a moment before nginx itself answers.
  const page = await waitFor('nginx to answer through the proxy', async () => {
    const answer = await fetch(`${backend.url}/s/${token}/node1/8080/`);
    return answer.status === 200 && answer;
  });
  expect(await page.text()).toMatch(/nginx/i);

  const bare = await fetch(`${backend.url}/s/${token}/node1/8080`, { redirect: 'manual' });
  expect(bare.status).toBe(302);
  expect(bare.headers.get('location')).toBe(`/s/${token}/node1/8080/`);
});

it('explains a port where nothing listens, and hides other sessions', async () => {
  const closed = await fetch(`${backend.url}/s/${token}/node1/9999/`);
  expect(closed.status).toBe(502);
  expect((await closed.json()).error.message).toMatch(/Nothing answers on port 9999 of node1/);
  expect((await fetch(`${backend.url}/s/not-a-session/node1/8080/`)).status).toBe(404);
  expect((await fetch(`${backend.url}/s/${token}/node7/8080/`)).status).toBe(404);
  // The session id is the credential for exec, terminals and deletion: it opens no port.
  const byId = await fetch(`${backend.url}/s/${sessionId}/node1/8080/`);
  expect(byId.status).toBe(404);
  expect((await byId.json()).error.code).toBe('not_found');
  expect((await get('/', `8080-node1-${hex(sessionId)}.${PORT_DOMAIN}`)).status).toBe(404);
});

it('passes a WebSocket-style upgrade through, byte for byte', async () => {
  // One port per form of URL below: each server takes one connection at a time.
  const start = await exec(startUpgradeEcho([9000, 9001]));
  expect(start.json.exitCode).toBe(0);
  await waitFor('the echo servers to listen', async () => {
    const { ports } = (await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.instances[0];
    return ports.includes(9000) && ports.includes(9001);
  });

  // The path form: the upstream sees the path below the prefix.
  expect(await upgradeThrough(`/s/${token}/node1/9000/echo`, 'berth')).toContain('GET /echo HTTP/1.1');
  // The host form: the path as it is, and the Host the browser sent.
  const host = `9001-node1-${hex(token)}.${PORT_DOMAIN}`;
  const echoed = await upgradeThrough('/echo?x=1', host);
  expect(echoed).toContain('GET /echo?x=1 HTTP/1.1');
  expect(echoed.toLowerCase()).toContain(`host: ${host}`);
});

it('serves a port on a host of its own under BERTH_PORT_DOMAIN, and tells the browser so', async () => {
  const view = (await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json;
  const host = `8080-node1-${hex(token)}.${PORT_DOMAIN}`;
  expect(view.portUrlTemplate).toBe(`//{port}-{instance}-${hex(token)}.${PORT_DOMAIN}/`);

  const page = await get('/', host);
  expect(page.status).toBe(200);
  expect(page.body).toMatch(/nginx/i);
  // Host names are case-insensitive; the token's bytes in hex survive that.
  expect((await get('/', host.toUpperCase())).status).toBe(200);
  // nginx's redirect for a directory stays as the app wrote it: no prefix to add.
  expect((await exec('docker exec web mkdir -p /usr/share/nginx/html/docs')).json.exitCode).toBe(0);
  const redirect = await get('/docs', host);
  expect(redirect.status).toBe(301);
  expect(redirect.location).toMatch(/^(http:\/\/[^/]+)?\/docs\/$/);

  // Another token, or none, reaches nothing, and no port host is ever Berth itself; a host
  // outside the domain is.
  const stranger = Buffer.alloc(16, 7).toString('hex');
  expect((await get('/', `8080-node1-${stranger}.${PORT_DOMAIN}`)).status).toBe(404);
  expect((await get('/', `8080-node7-${hex(token)}.${PORT_DOMAIN}`)).status).toBe(404);
  expect((await get('/healthz', `anything.${PORT_DOMAIN}`)).status).toBe(404);
  expect((await get('/healthz', `8080-node1-${hex(token)}.elsewhere.test`)).status).toBe(200);
});

it('renews a session\'s port link on request: the old one stops at once, the new one works', async () => {
  const before = (await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.portUrlTemplate;
  const renewed = await api(backend.url, 'POST', `/api/sessions/${sessionId}/port-token`, {});
  expect(renewed.status).toBe(200);
  expect(renewed.json.id).toBe(sessionId);
  expect(renewed.json.portUrlTemplate).not.toBe(before);
  const fresh = tokenOf(renewed.json.portUrlTemplate);
  expect((await fetch(`${backend.url}/s/${token}/node1/8080/`)).status).toBe(404);
  expect((await get('/', `8080-node1-${hex(token)}.${PORT_DOMAIN}`)).status).toBe(404);
  expect((await fetch(`${backend.url}/s/${fresh}/node1/8080/`)).status).toBe(200);
  expect((await get('/', `8080-node1-${hex(fresh)}.${PORT_DOMAIN}`)).status).toBe(200);
  expect((await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.portUrlTemplate).toBe(renewed.json.portUrlTemplate);
  // Only the session's owner can renew it; a port token is no session id.
  expect((await api(backend.url, 'POST', `/api/sessions/${fresh}/port-token`, {})).status).toBe(404);
  token = fresh;
});

it('keeps port links across a backend restart', async () => {
  backend = await backend.restart();
  const page = await fetch(`${backend.url}/s/${token}/node1/8080/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/nginx/i);
  expect((await get('/', `8080-node1-${hex(token)}.${PORT_DOMAIN}`)).status).toBe(200);
});

const hex = (id: string) => Buffer.from(id, 'base64url').toString('hex');

/** A GET with a Host header of our choosing, which fetch does not allow. */
function get(path: string, host: string): Promise<{ status: number; body: string; location?: string }> {
  const { port } = new URL(backend.url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: Number(port), path, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
      })
      .on('error', reject);
  });
}

/** Upgrades through the proxy and sends a line; returns all the echo server answered. */
async function upgradeThrough(path: string, host: string): Promise<string> {
  const { port } = new URL(backend.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
  try {
    await waitFor('the upgrade answer', () => received.includes('101 Switching Protocols'));
    socket.write('ping-through-proxy');
    await waitFor('the echo', () => received.includes('ping-through-proxy'));
    return received;
  } finally {
    socket.destroy();
  }
}
