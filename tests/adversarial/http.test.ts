/**
 * The HTTP front under attack, against the real backend and a real sandbox: malformed requests
 * over raw sockets, bodies of every wrong shape and size, wrong methods, cross-site requests and
 * per-address limits that a fresh client id cannot evade. After every group the server still
 * answers and the live session's shell still runs commands.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sessionTag } from '../../sandbox-backend/log.ts';
import { api, startBackend, type TestBackend } from '../support/backend.ts';

let backend: TestBackend;
let port: number;
let sessionId: string;
const logLines: string[] = [];
const realWrite = process.stderr.write.bind(process.stderr);

beforeAll(async () => {
  // Keep this file's backend's log to assert on it; show only warnings and errors.
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    logLines.push(...text.split('\n').filter(Boolean));
    if (!text.includes('"level":"debug"') && !text.includes('"level":"info"')) return (realWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
    return true;
  }) as typeof process.stderr.write;
  // A UI of its own: the built one (dist/) is made only for the e2e tier, after this one.
  const ui = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ui-'));
  fs.writeFileSync(path.join(ui, 'index.html'), '<!doctype html><title>Berth</title>');
  backend = await startBackend({
    BERTH_STATIC_DIR: ui,
    BERTH_LOG_LEVEL: 'debug',
    // The tests speak for other addresses through X-Forwarded-For from loopback, as a proxy would.
    BERTH_TRUST_PROXY: 'loopback',
    BERTH_ADDRESS_MAX_SESSIONS: '1',
    BERTH_ADDRESS_SESSIONS_PER_MINUTE: '1',
    // Sandboxes boot slowly on a busy shared machine; how fast is not what this file tests.
    BERTH_SANDBOX_READY_TIMEOUT: '120s',
  });
  port = Number(new URL(backend.url).port);
  const created = await api(backend.url, 'POST', '/api/sessions', {});
  expect(created.status).toBe(201);
  sessionId = created.json.id;
});

afterAll(async () => {
  await backend?.stop();
  process.stderr.write = realWrite;
});

/** After each group: the server answers, and the live session's shell runs a command. */
afterEach(async () => {
  const live = await fetch(`${backend.url}/livez`);
  expect(live.status).toBe(200);
  const shell = await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/node1/exec`, { cmd: ['sh', '-c', 'echo still-$((40+2))'] });
  expect(shell).toMatchObject({ status: 200, json: { exitCode: 0, output: 'still-42\n' } });
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes as they are (no client library tidies them up) and reads the answer until the
 * server closes. `Connection: close` is in every well-formed request, so the close is the end.
 */
function raw(request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => (chunks.length ? undefined : reject(error)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      let body = rest.join('\r\n\r\n');
      if (headers['transfer-encoding'] === 'chunked') body = body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body });
    });
    socket.write(request);
  });
}

const get = (target: string, extra = ''): Promise<RawAnswer> => raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);
const errorOf = (answer: RawAnswer) => (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;

/** POST over fetch with exactly these headers; the body is sent as given. */
async function post(path: string, body: string | undefined, headers: Record<string, string>, method = 'POST') {
  const res = await fetch(backend.url + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const execPath = () => `/api/sessions/${sessionId}/instances/node1/exec`;
const JSON_TYPE = { 'content-type': 'application/json' };

describe('malformed request targets and framing', () => {
  it('answers invalid percent-encodings with a 400 in the API shape, in the API, the port proxy and the terminal upgrade', async () => {
    for (const target of ['/api/sessions/%E0%A4%A', '/api/sessions/%E0%A4%A/instances/node1', '/api/queue/%E0', '/api/admin/sessions/%ZZ']) {
      const answer = await get(target);
      expect(answer.status, target).toBe(400);
      expect(errorOf(answer), target).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/percent-encoding/) });
      expect(answer.headers['x-request-id'], target).toMatch(/^[0-9a-f]{16}$/);
    }
    // The port proxy answers every link it cannot resolve alike (a malformed one included), so a
    // link reveals nothing about the sessions it does not open.
    const port = await get('/s/%E0%A4%A/node1/80/');
    expect(port.status).toBe(404);
    expect(errorOf(port).code).toBe('not_found');
    for (const [target, status, code] of [
      ['/api/sessions/%E0%A4%A/instances/node1/terminal', 400, 'bad_request'],
      ['/s/%E0%A4%A/node1/80/socket', 404, 'not_found'],
      ['//', 400, 'bad_request'],
    ] as const) {
      // A real upgrade: the server hands it to the terminal or the port proxy, not to fastify.
      const upgrade = await raw(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
      expect(upgrade.status, target).toBe(status);
      expect(errorOf(upgrade).code, target).toBe(code);
    }
  });

  it('treats odd but valid targets as ordinary paths', async () => {
    // An empty segment, a NUL, absolute-form and asterisk-form: none is a route, none is a crash.
    expect((await get('//')).status).toBe(200);
    const nul = await get('/api/sessions/%00');
    expect(nul.status).toBe(404);
    expect(errorOf(nul).code).toBe('session_not_found');
    const nulExec = await raw(`POST /api/sessions/%00/instances/node1/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(nulExec.status).toBe(404);
    // Absolute-form is valid HTTP/1.1 (RFC 9112): its path is what is routed.
    const absolute = await raw(`GET http://elsewhere.test/api/sessions/${sessionId} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(absolute.status).toBe(200);
    expect(JSON.parse(absolute.body).id).toBe(sessionId);
    const absoluteUnknown = await raw(`POST http://elsewhere.test/api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(absoluteUnknown.status).toBe(404);
    const asterisk = await raw('OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(asterisk.status).toBe(404);
    expect(errorOf(asterisk).code).toBe('not_found');
  });

  it('refuses an overlong target and a flood of headers before reading on', async () => {
    const long = await get(`/api/sessions/${'a'.repeat(100 * 1024)}`);
    expect(long.status).toBe(431);
    expect(errorOf(long).code).toBe('bad_request');
    const many = await get('/livez', Array.from({ length: 5000 }, (_, i) => `X-Flood-${i}: ${i}\r\n`).join(''));
    expect(many.status).toBe(431);
    const big = await get('/livez', `X-Big: ${'b'.repeat(64 * 1024)}\r\n`);
    expect(big.status).toBe(431);
  });

  it('answers broken HTTP with a 400 and hangs up', async () => {
    // Versions node's parser knows but Berth does not speak, and ones it does not know at all.
    for (const [version, status] of [['2.0', 505], ['0.9', 505], ['9.9', 400], ['1.2', 400]] as const) {
      const answer = await raw(`GET /livez HTTP/${version}\r\nHost: 127.0.0.1\r\n\r\n`);
      expect(answer.status, version).toBe(status);
      expect(errorOf(answer).code, version).toBe('bad_request');
    }
    const requests = [
      'GET / FOO/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      'GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n',
      'G\x00T / HTTP/1.1\r\n\r\n',
      // Two lengths that disagree, a length that is not a number, and both framings at once.
      `POST ${'/api/sessions'} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}`,
      'POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
      'POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
      // Chunk sizes that are not hex, that overflow, and a chunk longer than it said.
      'POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n',
      'POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n',
    ];
    for (const request of requests) {
      const answer = await raw(request);
      expect(answer.status, JSON.stringify(request)).toBe(400);
      expect(errorOf(answer).code, JSON.stringify(request)).toBe('bad_request');
    }
  });
});

describe('bodies of every wrong shape and size', () => {
  it('answers unparseable or misshapen JSON with a 400 that names the problem', async () => {
    const cases: Array<[string, RegExp]> = [
      ['', /Invalid "cmd"/],
      ['   ', /Invalid "cmd"/],
      ['{not json', /not valid JSON/],
      ['[]', /Invalid body/],
      ['"sh -c reboot"', /Invalid body/],
      ['42', /Invalid body/],
      ['null', /Invalid body/],
      ['{"cmd":"true"}', /Invalid "cmd"/],
      ['{"cmd":[]}', /give at least the program/],
      ['{"cmd":["true"],"user":"root"}', /"user"/],
      ['{"cmd":["true"],"__proto__":{"admin":true}}', /not valid JSON/],
      ['['.repeat(30_000) + ']'.repeat(30_000), /Invalid body/],
      ['{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), /Invalid|not valid JSON/],
    ];
    for (const [body, message] of cases) {
      const answer = await post(execPath(), body, JSON_TYPE);
      expect(answer.status, body.slice(0, 40)).toBe(400);
      expect(answer.json.error, body.slice(0, 40)).toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    }
    const create = await post('/api/sessions', '{"lesson":5}', JSON_TYPE);
    expect(create.json.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/"lesson"/) });
    // A JSON content type with parameters is still JSON.
    const ok = await post(execPath(), '{"cmd":["true"]}', { 'content-type': 'application/json; charset=utf-8' });
    expect(ok.status).toBe(200);
  });

  it('answers a 10 MB chunked body with a 413 in the API shape, not a cut connection', async () => {
    const answer = await new Promise<RawAnswer>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let answered = false;
      socket.on('data', (chunk) => {
        answered = true;
        chunks.push(chunk);
      });
      // Writing may fail once the server has answered and hung up; the answer is what counts.
      socket.on('error', (error) => (answered ? undefined : reject(error)));
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), headers: {}, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
      socket.write(`POST ${execPath()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
      const piece = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      const pump = () => {
        while (!answered && sent < 10 * 1024 * 1024) {
          sent += piece.length;
          if (!socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`)) return void socket.once('drain', pump);
        }
        if (!answered) socket.end('0\r\n\r\n');
        else socket.end();
      };
      pump();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: 'payload_too_large', message: expect.stringMatching(/larger than 65536 bytes/) } });

    const declared = await post(execPath(), 'x'.repeat(10 * 1024 * 1024), JSON_TYPE);
    expect(declared.status).toBe(413);
    expect(declared.json.error.code).toBe('payload_too_large');
  });

  it('takes JSON only: other content types are 415, and a body with no type too', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'text/json']) {
      const answer = await post(execPath(), '{"cmd":["true"]}', { 'content-type': type });
      expect(answer.status, type).toBe(415);
      expect(answer.json.error, type).toMatchObject({ code: 'unsupported_media_type', message: expect.stringMatching(/application\/json/) });
    }
    const untyped = await raw(`POST ${execPath()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{"cmd":["true"]}`);
    expect(untyped.status).toBe(415);
  });

  it('accepts a bodyless POST with no content type, or an empty JSON one', async () => {
    // Both forms pass parsing and validation and reach the route, which looks the session up.
    // (A bodyless start that makes a session is in the per-address limits below.)
    const unknown = '/api/sessions/no-such-session/instances';
    const bare = await raw(`POST ${unknown} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(bare.status).toBe(404);
    expect(errorOf(bare).code).toBe('session_not_found');
    const typed = await post(unknown, '', JSON_TYPE);
    expect(typed.json.error.code).toBe('session_not_found');
    const emptyObject = await post(unknown, '{}', JSON_TYPE);
    expect(emptyObject.json.error.code).toBe('session_not_found');
    // With a body that is not an empty object, it is refused before that.
    const extra = await post(`/api/sessions/${sessionId}/instances`, '{"name":"node9"}', JSON_TYPE);
    expect(extra.json.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/"name"/) });
  });
});

describe('methods and routes', () => {
  it('answers a wrong method with 405 and the methods that work', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', '/api/sessions', 'POST'],
      ['PATCH', `/api/sessions/${sessionId}`, 'GET, DELETE, HEAD'],
      ['GET', execPath(), 'POST'],
      ['DELETE', '/livez', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await post(path, undefined, {}, method);
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(answer.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(answer.json.error.code).toBe('method_not_allowed');
      // The id in the path is a credential: it is not echoed.
      expect(answer.json.error.message).not.toContain(sessionId);
    }
  });

  it('answers unknown API routes with 404 and serves the UI for other pages', async () => {
    for (const [method, path] of [['GET', '/api/nope'], ['POST', '/api'], ['TRACE', '/'], ['DELETE', '/anything']] as const) {
      const answer = await raw(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(errorOf(answer).code).toBe('not_found');
    }
    expect((await get('/lessons/whatever')).status).toBe(200);
  });

  it('splits liveness from readiness, and keeps /healthz as readiness', async () => {
    expect(await api(backend.url, 'GET', '/livez')).toEqual({ status: 200, json: { ok: true } });
    expect(await api(backend.url, 'GET', '/readyz')).toEqual({ status: 200, json: { ok: true } });
    expect(await api(backend.url, 'GET', '/healthz')).toEqual({ status: 200, json: { ok: true } });
  });
});

describe('cross-site requests', () => {
  const origin = () => `http://127.0.0.1:${port}`;

  it('refuses state changes from another origin or site, saying how to allow one', async () => {
    const refused: Array<{ path: string; method: string; headers: Record<string, string>; body: string | undefined }> = [
      { path: '/api/sessions', method: 'POST', headers: { ...JSON_TYPE, origin: 'https://evil.test' }, body: '{}' },
      // A plain HTML form needs no preflight: text/plain from another site.
      { path: '/api/sessions', method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' }, body: '{}' },
      { path: '/api/sessions', method: 'POST', headers: { 'sec-fetch-site': 'cross-site' }, body: undefined },
      { path: execPath(), method: 'POST', headers: { ...JSON_TYPE, origin: 'null' }, body: '{"cmd":["true"]}' },
      { path: `/api/sessions/${sessionId}`, method: 'DELETE', headers: { origin: `http://127.0.0.1:${port + 1}` }, body: undefined },
      { path: `/api/sessions/${sessionId}/instances`, method: 'POST', headers: { origin: 'http://localhost.evil.test' }, body: undefined },
    ];
    for (const { path, method, headers, body } of refused) {
      const answer = await post(path, body, headers, method);
      expect(answer.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(403);
      expect(answer.json.error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/BERTH_ALLOWED_ORIGINS/) });
    }
    // None of them did anything: the session is there, with its one node.
    expect((await api(backend.url, 'GET', `/api/sessions/${sessionId}`)).json.instances).toEqual([{ name: 'node1', ports: expect.any(Array) }]);
  });

  it("accepts the UI's own origin, and reads from anywhere", async () => {
    const same = await post(execPath(), '{"cmd":["echo","same-origin"]}', { ...JSON_TYPE, origin: origin(), 'sec-fetch-site': 'same-origin' });
    expect(same).toMatchObject({ status: 200, json: { output: 'same-origin\n' } });
    const read = await fetch(`${backend.url}/api/sessions/${sessionId}`, { headers: { origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' } });
    expect(read.status).toBe(200);
    // No CORS grant: another site's script cannot read what it fetched.
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('sends the security headers on the UI and the API', async () => {
    for (const path of ['/', '/lessons/x', `/api/sessions/${sessionId}`, '/api/nope']) {
      const res = await fetch(backend.url + path);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain(`ws://127.0.0.1:${port}`);
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
      expect(res.headers.get('x-request-id'), path).toMatch(/^[0-9a-f]{16}$/);
    }
  });
});

describe('per-address limits', () => {
  const from = (address: string) => ({ ...JSON_TYPE, 'x-forwarded-for': address, 'x-berth-client': randomBytes(12).toString('base64url') });

  it('bound what one address holds and starts, whatever client id each request invents', async () => {
    const address = '203.0.113.5';
    // A bodyless start, as curl -X POST sends it.
    const first = await raw(`POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: ${address}\r\nX-Berth-Client: ${randomBytes(12).toString('base64url')}\r\nConnection: close\r\n\r\n`);
    expect(first.status).toBe(201);
    const firstId = (JSON.parse(first.body) as { id: string }).id;
    // A fresh id, and a forged hop on the left of the chain: still the same address.
    const held = await post('/api/sessions', '{}', from(`198.51.100.77, ${address}`));
    expect(held.status).toBe(429);
    expect(held.json.error).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/Your network address already has 1 sessions/) });
    expect(held.headers.get('retry-after')).toBe('60');

    // Ending it frees the slot, but this address has had its one start this minute.
    expect((await api(backend.url, 'DELETE', `/api/sessions/${firstId}`)).status).toBe(204);
    const again = await post('/api/sessions', '{}', from(address));
    expect(again.status).toBe(429);
    expect(again.json.error.message).toMatch(/Too many new sessions from your network address/);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);

    // Without X-Forwarded-For it is the socket's address, which holds the shared session.
    const direct = await post('/api/sessions', '{}', { ...JSON_TYPE, 'x-berth-client': randomBytes(12).toString('base64url') });
    expect(direct.status).toBe(429);
    expect(direct.json.error.message).toMatch(/Your network address already has 1 sessions/);
  });
});

describe('failures inside the server', () => {
  it('answers an unexpected exception with a 500 naming the request, logs it, and carries on', async () => {
    const sessions = backend.app.sessions;
    const original = sessions.get.bind(sessions);
    sessions.get = () => {
      throw new TypeError('injected fault');
    };
    try {
      const res = await fetch(`${backend.url}/api/sessions/${sessionId}`);
      const body = (await res.json()) as { error: { code: string; message: string } };
      const requestId = res.headers.get('x-request-id')!;
      expect(res.status).toBe(500);
      expect(body.error).toEqual({ code: 'internal', message: expect.stringContaining(requestId) });
      const logged = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'request failed' && entry.reqId === requestId);
      expect(logged).toMatchObject({ level: 'error', error: { message: 'injected fault' } });
    } finally {
      sessions.get = original;
    }
  });

  it('never writes a session id in clear to the log, only its tag', async () => {
    const mine = logLines.filter((line) => line.includes(backend.namespace));
    expect(mine.length).toBeGreaterThan(10);
    expect(mine.filter((line) => line.includes(sessionId))).toEqual([]);
    expect(mine.some((line) => line.includes(sessionTag(sessionId)))).toBe(true);
  });
});
