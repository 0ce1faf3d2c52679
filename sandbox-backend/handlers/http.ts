/** The JSON API over node:http. Parses and validates input, calls the session service, maps errors. */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SessionService } from '../sessions/service.ts';

const MAX_BODY_BYTES = 64 * 1024;

const createSessionBody = z.strictObject({ lesson: z.string().max(200).optional() });
const drainBody = z.strictObject({ draining: z.boolean() });
const execBody = z.strictObject({
  cmd: z.array(z.string().max(64 * 1024)).min(1, 'give at least the program to run, e.g. ["sh","-c","docker ps"]').max(1000),
});

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
  health: () => Promise<Health>;
  /** Published ports of instances under /s/. */
  proxy: { handles(req: IncomingMessage): boolean; http(req: IncomingMessage, res: ServerResponse): void };
  /** Serves the built UI; called for GET/HEAD requests no API route claims. */
  serveStatic: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
}

type Params = Record<string, string>;
type Route = {
  method: string;
  pattern: RegExp;
  keys: string[];
  run: (req: IncomingMessage, res: ServerResponse, params: Params) => Promise<void>;
};

/** "/api/sessions/:id" -> a RegExp with named parts. */
export function route(method: string, path: string, run: Route['run']): Route {
  const keys: string[] = [];
  const source = path.replace(/:([a-z]+)/g, (_, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { method, pattern: new RegExp(`^${source}$`), keys, run };
}

export function matchRoute(routes: Route[], method: string, pathname: string): { route: Route; params: Params } | 'method' | undefined {
  let pathMatched = false;
  for (const r of routes) {
    const match = r.pattern.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (r.method !== method) continue;
    const params: Params = {};
    r.keys.forEach((key, i) => (params[key] = decodeURIComponent(match[i + 1]!)));
    return { route: r, params };
  }
  return pathMatched ? 'method' : undefined;
}

/**
 * Who is asking, for per-client limits: the browser's own random id (the UI sends one, so a
 * classroom behind one NAT address is not one client), else the connection's address.
 */
export function clientKey(req: IncomingMessage): string {
  const header = req.headers['x-berth-client'];
  if (typeof header === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(header)) return `id:${header}`;
  return `ip:${req.socket.remoteAddress ?? 'unknown'}`;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError('payload_too_large', `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  let value: unknown = {};
  if (text) {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError('bad_request', 'The request body is not valid JSON.');
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? `"${issue.path.join('.')}"` : 'body';
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => `"${k}"`).join(', ')})` : '';
    throw new ApiError('bad_request', `Invalid ${field}: ${issue.message}${keys}.`);
  }
  return parsed.data;
}

export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { sessions } = deps;
  const requireAdmin = (req: IncomingMessage) => {
    if (!deps.adminToken) throw new ApiError('forbidden', 'The admin API is off: set BERTH_ADMIN_TOKEN to turn it on.');
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(deps.adminToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new ApiError('unauthorized', 'The admin API needs the header "Authorization: Bearer <BERTH_ADMIN_TOKEN>".');
    }
  };
  const routes: Route[] = [
    route('GET', '/metrics', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(deps.metrics());
    }),
    route('GET', '/api/admin/status', async (req, res) => {
      requireAdmin(req);
      sendJson(res, 200, { draining: sessions.draining, sessions: sessions.list().length, pool: deps.poolStats() });
    }),
    route('GET', '/api/admin/sessions', async (req, res) => {
      requireAdmin(req);
      sendJson(res, 200, { sessions: sessions.list() });
    }),
    route('DELETE', '/api/admin/sessions/:id', async (req, res, { id }) => {
      requireAdmin(req);
      await sessions.end(id!, 'admin');
      res.writeHead(204).end();
    }),
    route('POST', '/api/admin/drain', async (req, res) => {
      requireAdmin(req);
      const { draining } = await readJson(req, drainBody);
      sessions.draining = draining;
      sendJson(res, 200, { draining });
    }),
    route('GET', '/healthz', async (_req, res) => {
      const health = await deps.health();
      sendJson(res, health.ok ? 200 : 503, health);
    }),
    // Readiness: the engine answers, the mirror runs, sandboxes can start (see health() in app.ts).
    route('GET', '/readyz', async (_req, res) => {
      const health = await deps.health();
      sendJson(res, health.ok ? 200 : 503, health);
    }),
    route('POST', '/api/sessions', async (req, res) => {
      const body = await readJson(req, createSessionBody);
      const outcome = await sessions.request({ lesson: body.lesson, client: clientKey(req) });
      if ('session' in outcome) sendJson(res, 201, outcome.session);
      else sendJson(res, 202, outcome);
    }),
    route('GET', '/api/queue/:ticket', async (_req, res, { ticket }) => {
      sendJson(res, 200, sessions.queueStatus(ticket!));
    }),
    route('GET', '/api/sessions/:id', async (_req, res, { id }) => {
      sendJson(res, 200, sessions.get(id!));
    }),
    route('DELETE', '/api/sessions/:id', async (_req, res, { id }) => {
      await sessions.end(id!);
      res.writeHead(204).end();
    }),
    route('POST', '/api/sessions/:id/instances', async (req, res, { id }) => {
      await readJson(req, z.strictObject({}));
      sendJson(res, 201, await sessions.addInstance(id!));
    }),
    route('DELETE', '/api/sessions/:id/instances/:name', async (_req, res, { id, name }) => {
      await sessions.removeInstance(id!, name!);
      res.writeHead(204).end();
    }),
    route('POST', '/api/sessions/:id/instances/:name/exec', async (req, res, { id, name }) => {
      // Unknown session or instance is a 404 whatever the body says.
      sessions.instance(id!, name!);
      const { cmd } = await readJson(req, execBody);
      sendJson(res, 200, await sessions.exec(id!, name!, cmd));
    }),
  ];

  return (req, res) => {
    if (deps.proxy.handles(req)) return deps.proxy.http(req, res);
    const started = performance.now();
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const matched = matchRoute(routes, method, pathname);
    const done = () =>
      deps.log.debug('request', { method, path: pathname, status: res.statusCode, ms: Math.round(performance.now() - started) });
    res.on('finish', done);

    if (matched === undefined || matched === 'method') {
      const isApi = pathname.startsWith('/api/') || pathname === '/api' || pathname === '/healthz' || pathname === '/readyz' || pathname === '/metrics';
      if (!isApi && (method === 'GET' || method === 'HEAD')) return deps.serveStatic(req, res);
      if (matched === 'method') return sendJson(res, 405, { error: { code: 'bad_request', message: `${method} is not allowed on ${pathname}.` } });
      return sendJson(res, 404, new ApiError('not_found', `No API route ${method} ${pathname}. See docs/api.md.`).toJSON());
    }
    matched.route.run(req, res, matched.params).catch((error: unknown) => {
      if (error instanceof ApiError) {
        if (error.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(error.retryAfterSeconds));
        return sendJson(res, error.status, error.toJSON());
      }
      deps.log.error('request failed', { method, path: pathname, error });
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'Internal error; the server log has the details.' } });
      else res.destroy();
    });
  };
}
