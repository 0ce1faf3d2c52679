/**
 * Published ports against a hostile app in a sandbox (tests/support/hostile-page.ts): port links
 * open only ports, the path form cannot act on Berth's origin, the visitor's credentials stay out
 * of the sandbox, forwarded headers are believed only from a trusted proxy, and a renewed port
 * link closes the old one at once. The browser's side of the same attack is in
 * tests/e2e/ports-origin.spec.ts. Each case ends by checking the server and a live shell.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PATH_FORM_CSP } from '../../sandbox-backend/handlers/port-proxy.ts';
import { api, startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { HOSTILE_PORT, startHostileServer, startUpgradeEcho, tokenOf } from '../support/hostile-page.ts';
import { TerminalClient } from '../support/terminal.ts';

/** A second loopback address stands for a reverse proxy: Linux routes all of 127/8 to lo. */
const PROXY_ADDRESS = '127.0.0.2';
const ECHO_PORT = 9000;

let backend: TestBackend;
let sessionId: string;
let token: string;
let shell: TerminalClient;
let checks = 0;

beforeAll(async () => {
  // No BERTH_PORT_DOMAIN: the path form, plus the host form under localhost that needs no DNS.
  backend = await startBackend({ BERTH_POOL_IDLE: '0', BERTH_TRUST_PROXY: PROXY_ADDRESS });
  const session = (await api(backend.url, 'POST', '/api/sessions', {})).json;
  sessionId = session.id;
  token = tokenOf(session.portUrlTemplate);
  expect(session.portUrlTemplate).toBe(`/s/${token}/{instance}/{port}/`);
  for (const script of [startHostileServer, startUpgradeEcho([ECHO_PORT])]) {
    const started = await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['bash', '-c', script] });
    expect(started.json, started.json.stderr).toMatchObject({ exitCode: 0 });
  }
  await waitFor('the hostile servers to listen', async () => {
    const { ports } = (await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.instances[0];
    return ports.includes(HOSTILE_PORT) && ports.includes(ECHO_PORT);
  });
  // Docker's proxy listens (and the port is announced) a moment before nginx itself answers.
  await waitFor('the hostile page to answer', async () => (await fetch(`${backend.url}/s/${token}/node1/${HOSTILE_PORT}/`)).status === 200);
  shell = await TerminalClient.open(backend.url, sessionId);
});

afterAll(async () => {
  shell?.close();
  await backend?.stop();
});

/** Whatever the case did, Berth still answers and the session's shell still runs commands. */
async function stillServing(): Promise<void> {
  expect((await fetch(`${backend.url}/healthz`)).status).toBe(200);
  const n = ++checks;
  shell.type(`echo alive-${n}-$((6*7))\r`);
  await shell.waitForText(`alive-${n}-42`);
}

const hex = (base64url: string) => Buffer.from(base64url, 'base64url').toString('hex');
const pathLink = (port: number, path = '', t = token) => `/s/${t}/node1/${port}/${path}`;
const hostOf = (port: number, t = token) => `${port}-node1-${hex(t)}.localhost`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request straight to the backend, with the Host, headers and source address we choose. */
function send(path: string, options: { host?: string; headers?: Record<string, string>; from?: string } = {}): Promise<Answer> {
  const { port } = new URL(backend.url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: Number(port), path, localAddress: options.from, headers: { host: options.host ?? `127.0.0.1:${port}`, ...options.headers } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** Starts an upgrade through the proxy; resolves with the open socket and what came back so far. */
async function upgrade(path: string, host = 'berth'): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const { port } = new URL(backend.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
  await waitFor('an answer to the upgrade', () => /\r\n\r\n/.test(received));
  return { socket, received: () => received, closed };
}

it('opens no port with the session id, in either form, over HTTP or an upgrade', async () => {
  // The control: the token opens the port.
  expect((await send(pathLink(HOSTILE_PORT))).status).toBe(200);
  const byId = await send(pathLink(HOSTILE_PORT, '', sessionId));
  expect(byId.status).toBe(404);
  expect(JSON.parse(byId.body).error.code).toBe('not_found');
  expect((await send('/', { host: hostOf(HOSTILE_PORT, sessionId) })).status).toBe(404);
  const viaUpgrade = await upgrade(pathLink(ECHO_PORT, 'x', sessionId));
  expect(viaUpgrade.received()).toMatch(/^HTTP\/1\.1 404/);
  await viaUpgrade.closed;
  // Nor does the token open anything but ports: it is no session id.
  expect((await api(backend.url, 'GET', `/api/sessions/${token}`)).status).toBe(404);
  expect((await api(backend.url, 'POST', `/api/sessions/${token}/instances/node1/exec`, { cmd: ['true'] })).status).toBe(404);
  await stillServing();
});

it('keeps the visitor\'s credentials for Berth out of the sandbox', async () => {
  const credentials = {
    authorization: 'Bearer the-admin-token-of-berth',
    cookie: 'berth-session=secret',
    'proxy-authorization': 'Basic dXNlcjpwYXNz',
    'x-berth-client': 'client-id-of-the-visitor',
  };
  const seen = JSON.parse((await send(pathLink(HOSTILE_PORT, 'headers'), { headers: credentials })).body);
  expect(seen).toMatchObject({ authorization: '', cookie: '', proxyAuthorization: '', berthClient: '' });
  // On its own host the app gets what the browser scopes to that host (its own login and
  // cookies), never a proxy's credentials or Berth's headers.
  const onHost = JSON.parse((await send('/headers', { host: hostOf(HOSTILE_PORT), headers: credentials })).body);
  expect(onHost).toMatchObject({ authorization: credentials.authorization, cookie: credentials.cookie, proxyAuthorization: '', berthClient: '' });
  await stillServing();
});

it('forces path-form answers into an opaque origin and drops every header that acts on Berth\'s origin', async () => {
  const page = await send(pathLink(HOSTILE_PORT));
  expect(page.body).toContain('hostile page');
  for (const name of ['set-cookie', 'service-worker-allowed', 'clear-site-data', 'origin-agent-cluster']) expect(page.headers, name).not.toHaveProperty(name);
  // The learner's own policy stays beside Berth's sandbox, which it cannot loosen.
  expect(page.headers['content-security-policy']).toBe(`default-src * 'unsafe-inline', ${PATH_FORM_CSP}`);
  expect(PATH_FORM_CSP).toMatch(/^sandbox /);
  expect(PATH_FORM_CSP).not.toContain('allow-same-origin');
  // Berth's own answers under /s/ are sandboxed too.
  expect((await send(pathLink(HOSTILE_PORT, '', 'A'.repeat(22)))).headers['content-security-policy']).toBe(PATH_FORM_CSP);
  // A service worker script is never served on Berth's origin, whatever the page tries.
  const worker = await send(pathLink(HOSTILE_PORT, 'sw.js'), { headers: { 'service-worker': 'script' } });
  expect(worker.status).toBe(403);
  expect(JSON.parse(worker.body).error.code).toBe('forbidden');
  // An upgrade the app declines comes back filtered the same way.
  const declined = await upgrade(pathLink(HOSTILE_PORT));
  await declined.closed;
  expect(declined.received()).toMatch(/^HTTP\/1\.1 200/);
  expect(declined.received().toLowerCase()).not.toContain('set-cookie');
  expect(declined.received()).toContain(PATH_FORM_CSP);
  await stillServing();
});

it('leaves the host form its own origin, with cookies for that host only', async () => {
  const page = await send('/', { host: hostOf(HOSTILE_PORT) });
  expect(page.status).toBe(200);
  expect(page.headers['set-cookie']).toEqual(['stolen=1; Path=/', 'shared=1; Path=/']);
  expect(page.headers['service-worker-allowed']).toBe('/');
  // Its cookie half reaches the whole registrable domain: every other port host, and Berth.
  expect(page.headers).not.toHaveProperty('clear-site-data');
  expect(page.headers['content-security-policy']).toBe("default-src * 'unsafe-inline'");
  // A port host that names nothing is still no door into Berth.
  expect((await send('/healthz', { host: 'anything.localhost' })).status).toBe(404);
  await stillServing();
});

it('offers host-form links to a visitor who reached Berth at localhost, the path form to anyone else', async () => {
  const { port } = new URL(backend.url);
  const atLocalhost = JSON.parse((await send(`/api/sessions/${sessionId}`, { host: `localhost:${port}` })).body);
  expect(atLocalhost.portUrlTemplate).toBe(`//{port}-{instance}-${hex(token)}.localhost:${port}/`);
  const atAddress = JSON.parse((await send(`/api/sessions/${sessionId}`)).body);
  expect(atAddress.portUrlTemplate).toBe(`/s/${token}/{instance}/{port}/`);
  await stillServing();
});

it('replaces forwarded headers from an untrusted peer and extends them from a trusted proxy', async () => {
  const claims = { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'berth.example.com', forwarded: 'for=198.51.100.7', 'x-real-ip': '198.51.100.7' };
  const direct = JSON.parse((await send(pathLink(HOSTILE_PORT, 'headers'), { headers: claims })).body);
  expect(direct).toMatchObject({ forwardedFor: '127.0.0.1', forwardedProto: 'http', forwardedHost: `127.0.0.1:${new URL(backend.url).port}`, forwarded: '', realIp: '' });
  const proxied = JSON.parse((await send(pathLink(HOSTILE_PORT, 'headers'), { headers: claims, from: PROXY_ADDRESS })).body);
  expect(proxied).toMatchObject({ forwardedFor: `198.51.100.7, ${PROXY_ADDRESS}`, forwardedProto: 'https', forwardedHost: 'berth.example.com', forwarded: 'for=198.51.100.7' });
  // Without a chain, the trusted proxy itself is the client.
  const bare = JSON.parse((await send(pathLink(HOSTILE_PORT, 'headers'), { from: PROXY_ADDRESS })).body);
  expect(bare).toMatchObject({ forwardedFor: PROXY_ADDRESS, forwardedProto: 'http' });
  await stillServing();
});

it('closes the old port link at once when the session renews it: requests, upgrades and open tunnels', async () => {
  const open = await upgrade(pathLink(ECHO_PORT, 'tunnel'));
  expect(open.received()).toContain('101 Switching Protocols');
  open.socket.write('before-renewal');
  await waitFor('the echo through the tunnel', () => open.received().includes('before-renewal'));

  const renewed = await api(backend.url, 'POST', `/api/sessions/${sessionId}/port-token`, {});
  expect(renewed.status).toBe(200);
  const old = token;
  token = tokenOf(renewed.json.portUrlTemplate);
  expect(token).not.toBe(old);
  await open.closed;

  expect((await send(pathLink(HOSTILE_PORT, '', old))).status).toBe(404);
  expect((await send('/', { host: hostOf(HOSTILE_PORT, old) })).status).toBe(404);
  const refused = await upgrade(pathLink(ECHO_PORT, 'again', old));
  expect(refused.received()).toMatch(/^HTTP\/1\.1 404/);
  await refused.closed;

  expect((await send(pathLink(HOSTILE_PORT))).status).toBe(200);
  // The echo server takes one connection at a time and listens again once the last one is gone.
  const reopened = await waitFor('the new link to open a tunnel', async () => {
    const attempt = await upgrade(pathLink(ECHO_PORT, 'again'));
    if (attempt.received().includes('101 Switching Protocols')) return attempt;
    expect(attempt.received()).toMatch(/^HTTP\/1\.1 502/);
    attempt.socket.destroy();
    return undefined;
  });
  reopened.socket.write('after-renewal');
  await waitFor('the echo through the new tunnel', () => reopened.received().includes('after-renewal'));
  reopened.socket.destroy();
  await stillServing();
});
