/**
 * The JSON API, on fastify. A maintained framework rather than a hand-written router because it
 * rejects malformed input by construction: invalid percent-encodings, bodies over the limit
 * (streamed or not), unparseable JSON and unknown content types are answered 400/413/415 before
 * any handler runs; every request gets an id; an exception in a handler becomes a 500 for that
 * request only. Bodies and parameters are checked with the zod schemas below (a validator
 * compiler over safeParse), and every error keeps the `{error:{code,message}}` contract.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError, type ErrorCode } from '../errors.ts';
import { sessionTag, type Logger } from '../log.ts';
import type { SessionService } from '../sessions/service.ts';
import { addressKey, clientAddress, type TrustProxy } from './client-address.ts';
import { checkOrigin } from './origin-policy.ts';

export const MAX_BODY_BYTES = 64 * 1024;

const createSessionBody = z.strictObject({ lesson: z.string().max(200).optional() });
const drainBody = z.strictObject({ draining: z.boolean() });
const execBody = z.strictObject({
  cmd: z.array(z.string().max(64 * 1024)).min(1, 'give at least the program to run, e.g. ["sh","-c","docker ps"]').max(1000),
});
const emptyBody = z.strictObject({});
const segment = z.string().min(1).max(200);
const sessionParams = z.strictObject({ id: segment });
const instanceParams = z.strictObject({ id: segment, name: segment });
const ticketParams = z.strictObject({ ticket: segment });

export interface Health {
  ok: boolean;
  reason?: string;
}

export interface HttpDeps {
  sessions: SessionService;
  /** Prometheus text for /metrics. */
  metrics: () => string;
  /** Admin API bearer token; undefined turns the admin API off. */
  adminToken: string | undefined;
  /** Pool figures for the admin status. */
  poolStats: () => unknown;
  /** Whether the backend can serve learners now (engine, pool): /readyz and /healthz. */
  readiness: () => Promise<Health>;
  /** Serves the built UI; called for GET/HEAD requests no API route claims. */
  serveStatic: (req: IncomingMessage, res: ServerResponse) => void;
  /** Other origins allowed to call the state-changing API (normalised). */
  allowedOrigins: readonly string[];
  /** Which peers are proxies whose X-Forwarded-For is believed. */
  trustProxy: TrustProxy;
  log: Logger;
}

/**
 * Who is asking, for per-client limits: the browser's own random id (the UI sends one, so a
 * classroom behind one NAT address is not one client), else the connection's address. The id is
 * the client's choice, so the address has limits of its own (see the session service).
 */
export function clientKey(req: IncomingMessage, address: string): string {
  const header = req.headers['x-berth-client'];
  if (typeof header === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(header)) return `id:${header}`;
  return `ip:${address}`;
}

/** Used by the port proxy, which answers outside fastify. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

const isApiPath = (path: string) => path === '/api' || path.startsWith('/api/') || path === '/healthz' || path === '/livez' || path === '/readyz' || path === '/metrics';

/** The path of a request target, absolute-form ("http://host/path", valid HTTP/1.1) included. */
const pathOf = (url: string) => url.split('?')[0]!.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');

/** A path for the log: session ids (credentials) replaced by their tag, and cut to a sane length. */
export function redactPath(url: string): string {
  const path = pathOf(url).replace(/^(\/api(?:\/admin)?\/sessions\/|\/s\/)([^/]+)/, (_, prefix: string, id: string) => `${prefix}<${sessionTag(id)}>`);
  return path.length > 200 ? `${path.slice(0, 200)}...` : path;
}

type Method = 'GET' | 'POST' | 'DELETE';
interface RouteDef {
  method: Method;
  url: string;
}

/** The methods the API routes allow on a path (for 405 and its Allow header); empty when no route has it. */
export function allowedMethods(routes: readonly RouteDef[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    const pattern = new RegExp(`^${route.url.replace(/:[a-z]+/g, '[^/]+')}$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}

/** "Invalid "cmd": ..." from a zod failure, naming the field and the unknown keys. */
function describeIssue(error: z.ZodError, part: string): string {
  const issue = error.issues[0]!;
  const field = issue.path.length ? `"${issue.path.join('.')}"` : part === 'params' ? 'path' : 'body';
  const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => `"${k}"`).join(', ')})` : '';
  return `Invalid ${field}: ${issue.message}${keys}.`;
}

/** fastify's own 4xx errors, in the API's words. */
function frameworkError(error: FastifyError): ApiError | undefined {
  const status = error.statusCode ?? 500;
  if (status < 400 || status >= 500) return undefined;
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'This route takes a JSON body: send "Content-Type: application/json" (or no body at all where none is needed).');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('bad_request', 'The request body is not valid JSON.');
    case 'FST_ERR_BAD_URL':
      return new ApiError('bad_request', 'The request path is not valid: it has a malformed percent-encoding.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError('bad_request', 'A part of the request path is too long.');
    default: {
      const code: ErrorCode = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status === 404 ? 'not_found' : 'bad_request';
      return new ApiError(code, `The request could not be read: ${error.message}.`);
    }
  }
}

/** Serves the UI a Content-Security-Policy it works under; `self` alone does not cover ws: in every browser. */
function connectSources(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  // The Host header ends up inside a header we send; only a plain host[:port] may.
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return "'self'";
  return `'self' ws://${host} wss://${host}`;
}

export async function createHttpServer(deps: HttpDeps, beforeApi: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<FastifyInstance> {
  const { sessions, log } = deps;
  const allowedOrigins = new Set(deps.allowedOrigins);

  const app = Fastify({
    // Requests that belong elsewhere (the port proxy) are taken off before fastify sees them.
    serverFactory: (handler) =>
      http.createServer((req, res) => {
        // node's parser takes any single-digit version ("HTTP/2.0") and would answer it as 1.1.
        if (req.httpVersionMajor !== 1) {
          res.setHeader('connection', 'close');
          return sendJson(res, 505, { error: { code: 'bad_request', message: `This server speaks HTTP/1.1, not HTTP/${req.httpVersion}.` } });
        }
        if (!beforeApi(req, res)) handler(req, res);
      }),
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    // fastify's default is no limit: a client trickling a request in would hold its socket
    // forever. Generous, as uploads to a published port pass through this server too.
    requestTimeout: 120_000,
    genReqId: () => randomBytes(8).toString('hex'),
    // The client's own X-Request-Id is not trusted: ids in our log are ours.
    requestIdHeader: false,
    // Keeps `request.ip` consistent with the limits' notion of the client's address.
    trustProxy: (address: string, hop: number) => deps.trustProxy(address, hop),
    // A malformed path (invalid %-encoding, an overlong parameter) is a 400 in our shape.
    frameworkErrors: (error, request, reply) => {
      const mapped = frameworkError(error) ?? new ApiError('bad_request', 'The request could not be read.');
      void (reply as FastifyReply).code(mapped.status).headers({ 'x-request-id': request.id, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' }).send(mapped.toJSON());
    },
    // What node's parser refuses before any request exists: answer in our shape, then hang up.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, reason, code, message] =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'bad_request', 'The request headers are too large.']
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'bad_request', 'The request took too long to arrive.']
            : [400, 'Bad Request', 'bad_request', 'The request is not valid HTTP/1.1.'];
      const body = JSON.stringify({ error: { code, message } });
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
      log.debug('malformed request', { reason: error.code ?? error.message });
    },
  });

  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // Svelte transitions and xterm.js set inline styles.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: [(req) => connectSources(req as IncomingMessage)],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    // HSTS is the TLS proxy's to send: this backend speaks plain HTTP.
    strictTransportSecurity: false,
  });

  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // An empty JSON body is an empty object (bodyless POSTs may still say JSON); anything else is
  // parsed by fastify's parser, which refuses __proto__ and constructor keys.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') return done(null, {});
    parseJson(request, body as string, done);
  });

  app.setValidatorCompiler(({ schema, httpPart }) => (data: unknown) => {
    const parsed = (schema as z.ZodType).safeParse(data);
    return parsed.success ? { value: parsed.data } : { error: new ApiError('bad_request', describeIssue(parsed.error, httpPart ?? 'body')) };
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    const verdict = checkOrigin(request.method, request.headers, allowedOrigins);
    if (!verdict.ok) throw new ApiError('forbidden', verdict.message);
  });
  // No body at all (no Content-Type, no length) means an empty object to the schemas.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined) request.body = {};
  });
  app.addHook('onResponse', async (request, reply) => {
    log.debug('request', {
      reqId: request.id,
      method: request.method,
      path: redactPath(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    });
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    const known = error instanceof ApiError ? error : frameworkError(error);
    if (known) {
      if (known.retryAfterSeconds !== undefined) reply.header('retry-after', String(known.retryAfterSeconds));
      return reply.code(known.status).send(known.toJSON());
    }
    log.error('request failed', { reqId: request.id, method: request.method, path: redactPath(request.url), error });
    return reply.code(500).send({ error: { code: 'internal', message: `Internal error; the server log has the details (request ${request.id}).` } });
  });

  const requireAdmin = (req: FastifyRequest) => {
    if (!deps.adminToken) throw new ApiError('forbidden', 'The admin API is off: set BERTH_ADMIN_TOKEN to turn it on.');
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(deps.adminToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new ApiError('unauthorized', 'The admin API needs the header "Authorization: Bearer <BERTH_ADMIN_TOKEN>".');
    }
  };

  const routes: RouteDef[] = [];
  const add = <P extends z.ZodType, B extends z.ZodType>(
    method: Method,
    url: string,
    schema: { params?: P; body?: B },
    handler: (request: FastifyRequest & { params: z.infer<P>; body: z.infer<B> }, reply: FastifyReply) => Promise<unknown>,
    preValidation?: (request: FastifyRequest) => void,
  ) => {
    routes.push({ method, url });
    app.route({
      method,
      url,
      schema,
      ...(preValidation ? { preValidation: async (request: FastifyRequest) => preValidation(request) } : {}),
      handler: (request, reply) => handler(request as never, reply),
    });
  };

  add('GET', '/metrics', {}, async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(deps.metrics()));
  // Liveness: this process answers requests. An orchestrator restarts the backend only on this.
  add('GET', '/livez', {}, async () => ({ ok: true }));
  const ready = async (_request: FastifyRequest, reply: FastifyReply) => {
    const health = await deps.readiness();
    return reply.code(health.ok ? 200 : 503).send(health);
  };
  add('GET', '/readyz', {}, ready);
  // The name older setups probe; the same answer as /readyz.
  add('GET', '/healthz', {}, ready);

  add('GET', '/api/admin/status', {}, async (request) => {
    requireAdmin(request);
    return { draining: sessions.draining, sessions: sessions.list().length, pool: deps.poolStats() };
  });
  add('GET', '/api/admin/sessions', {}, async (request) => {
    requireAdmin(request);
    return { sessions: sessions.list(request.headers.host) };
  });
  add('DELETE', '/api/admin/sessions/:id', { params: sessionParams }, async (request, reply) => {
    requireAdmin(request);
    await sessions.end(request.params.id, 'admin');
    return reply.code(204).send();
  });
  add(
    'POST',
    '/api/admin/drain',
    { body: drainBody },
    async (request) => {
      sessions.draining = request.body.draining;
      return { draining: request.body.draining };
    },
    requireAdmin,
  );

  add('POST', '/api/sessions', { body: createSessionBody }, async (request, reply) => {
    const address = clientAddress(request.raw, deps.trustProxy);
    const outcome = await sessions.request({ lesson: request.body.lesson, client: clientKey(request.raw, address), address: addressKey(address) }, request.headers.host);
    return reply.code('session' in outcome ? 201 : 202).send('session' in outcome ? outcome.session : outcome);
  });
  add('GET', '/api/queue/:ticket', { params: ticketParams }, async (request) => sessions.queueStatus(request.params.ticket, request.headers.host));
  add('GET', '/api/sessions/:id', { params: sessionParams }, async (request) => sessions.get(request.params.id, request.headers.host));
  // New port links: the old ones stop working at once (docs/api.md).
  add('POST', '/api/sessions/:id/port-token', { params: sessionParams, body: emptyBody }, async (request) =>
    sessions.rotatePortToken(request.params.id, request.headers.host),
  );
  add('DELETE', '/api/sessions/:id', { params: sessionParams }, async (request, reply) => {
    await sessions.end(request.params.id);
    return reply.code(204).send();
  });
  add('POST', '/api/sessions/:id/instances', { params: sessionParams, body: emptyBody }, async (request, reply) =>
    reply.code(201).send(await sessions.addInstance(request.params.id)),
  );
  add('DELETE', '/api/sessions/:id/instances/:name', { params: instanceParams }, async (request, reply) => {
    await sessions.removeInstance(request.params.id, request.params.name);
    return reply.code(204).send();
  });
  add(
    'POST',
    '/api/sessions/:id/instances/:name/exec',
    { params: instanceParams, body: execBody },
    async (request) => sessions.exec(request.params.id, request.params.name, request.body.cmd),
    // Unknown session or instance is a 404 whatever the body says.
    (request) => {
      const { id, name } = request.params as { id: string; name: string };
      sessions.instance(id, name);
    },
  );

  app.setNotFoundHandler(async (request, reply) => {
    const path = pathOf(request.url);
    const method = request.method;
    if (!isApiPath(path) && (method === 'GET' || method === 'HEAD')) {
      // sirv writes the response itself; it carries the headers set so far (security headers, request id).
      reply.hijack();
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined && name !== 'cache-control') reply.raw.setHeader(name, value);
      }
      deps.serveStatic(request.raw, reply.raw);
      return;
    }
    const allowed = allowedMethods(routes, path);
    if (allowed.length) {
      reply.header('allow', allowed.join(', '));
      return reply.code(405).send(new ApiError('method_not_allowed', `${method} is not allowed on ${redactPath(path)}; use ${allowed.join(' or ')}.`).toJSON());
    }
    return reply.code(404).send(new ApiError('not_found', `No API route ${method} ${redactPath(path)}. See docs/api.md.`).toJSON());
  });

  return app;
}
