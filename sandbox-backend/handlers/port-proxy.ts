/**
 * Reaches a port published inside an instance: `<port>-<instance>-<token hex>.<domain>/<path>` or
 * `/s/<token>/<instance>/<port>/<path>` (routing/port-routes.ts) is passed to
 * <instance address>:<port>/<path>, WebSocket upgrades included. The sandbox addresses are on
 * private networks that only the engine host reaches, so this proxy is the one way in.
 *
 * What the learner's server sends is hostile by assumption: a page anyone with the link opens.
 * - The path form shares Berth's origin, so every answer there is forced into an opaque origin
 *   (CSP sandbox without allow-same-origin, which the upstream cannot take back: a second policy
 *   only tightens) and loses every header that acts on the origin rather than on the document.
 * - Nothing of the visitor's credentials for Berth crosses into the sandbox, and forwarded headers
 *   are believed only from a trusted proxy (client-address.ts).
 * The link carries the session's port token, never its id; the proxy asks the session service
 * what a token opens, and drops open connections when the token is revoked.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PortTarget } from '../sessions/service.ts';
import { isPortHost, parsePortHost, parsePortPath, type PortRoute as Target } from '../routing/port-routes.ts';
import { forwardedFor, forwardedProto, type TrustProxy } from './client-address.ts';
import { sendJson } from './http.ts';

const CONNECT_TIMEOUT_MS = 10_000;

/** Every path-form answer runs as an opaque origin: scripts yes, Berth's storage, cookies and service workers no. */
export const PATH_FORM_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads allow-popups-to-escape-sandbox';

/**
 * Response headers whose effect reaches past the document to its whole origin (or host), which on
 * the path form is Berth's: cookies, service worker scope, wiping Berth's storage, origin-keyed
 * agent clusters, HSTS, alternative services, network error logging and reporting endpoints,
 * persisted client hints, the FedCM login status.
 */
const ORIGIN_WIDE = [
  'set-cookie',
  'set-cookie2',
  'service-worker-allowed',
  'clear-site-data',
  'origin-agent-cluster',
  'strict-transport-security',
  'alt-svc',
  'nel',
  'report-to',
  'accept-ch',
  'critical-ch',
  'set-login',
];

/** Request headers that speak for a proxy hop; from an untrusted peer they are claims nobody vouches for. */
const HOP_CLAIMS = ['forwarded', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-ssl'];

/** The sessions side of the proxy: a port token and instance in, an address out. */
export interface PortTargets {
  portTarget(token: string, instance: string): Promise<PortTarget>;
}

export interface PortProxyOptions {
  /** BERTH_PORT_DOMAIN; subdomains of localhost are port hosts in any case. */
  domain?: string | undefined;
  trust: TrustProxy;
}

export function upstreamHeaders(req: IncomingMessage, target: Target, trust: TrustProxy): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...req.headers };
  for (const name of Object.keys(headers)) if (name.startsWith('x-berth-')) delete headers[name];
  delete headers['proxy-authorization'];
  if (target.form === 'path') {
    // On the path form these are the visitor's credentials for Berth's own origin. On the host
    // form the browser scopes them to the port's own host, so they are the app's (its login).
    delete headers.authorization;
    delete headers.cookie;
  }
  const trusted = req.socket.remoteAddress !== undefined && trust(req.socket.remoteAddress, 0);
  if (!trusted) for (const name of HOP_CLAIMS) delete headers[name];
  headers['x-forwarded-for'] = forwardedFor(req, trust);
  headers['x-forwarded-proto'] = forwardedProto(req, trust);
  headers['x-forwarded-host'] = (trusted ? req.headers['x-forwarded-host'] : undefined) ?? req.headers.host ?? '';
  if (target.prefix) headers['x-forwarded-prefix'] = target.prefix;
  return headers;
}

export function answerHeaders(upstream: IncomingHttpHeaders, target: Target): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...upstream };
  if (target.form === 'host') {
    // A cookie for the parent domain would reach every other learner's port host, and
    // Clear-Site-Data wipes cookies of the whole registrable domain, theirs (and Berth's) included.
    if (upstream['set-cookie']) headers['set-cookie'] = upstream['set-cookie'].map(hostOnlyCookie);
    delete headers['clear-site-data'];
    return headers;
  }
  for (const name of ORIGIN_WIDE) delete headers[name];
  // The learner's own policy stays (a lesson about CSP still works); ours is added beside it. A
  // comma separates policies, each enforced: the sandbox holds whatever the learner's says.
  const own = upstream['content-security-policy'];
  headers['content-security-policy'] = own ? `${own}, ${PATH_FORM_CSP}` : PATH_FORM_CSP;
  // A redirect to an absolute path means a path below this instance's port.
  if (typeof headers.location === 'string' && headers.location.startsWith('/')) headers.location = target.prefix + headers.location;
  return headers;
}

export function hostOnlyCookie(cookie: string): string {
  return cookie.replace(/;\s*domain\s*=[^;]*/gi, '');
}

export interface PortProxy {
  handles(req: IncomingMessage): boolean;
  http(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function createPortProxy(sessions: PortTargets, log: Logger, options: PortProxyOptions): PortProxy {
  const { domain, trust } = options;
  const onPortHost = (req: IncomingMessage) => isPortHost(req.headers.host, domain);
  // The host form wins: on a port's own host, every path (/s/... included) belongs to the app.
  const route = (req: IncomingMessage): Target | undefined =>
    onPortHost(req) ? parsePortHost(req.headers.host, req.url ?? '/', domain) : parsePortPath(req.url ?? '/');
  const usage = 'Use the link the session gives (its portUrlTemplate) to reach a published port.';

  const unreachable = (target: Target, error: Error) =>
    `Nothing answers on port ${target.port} of ${target.instance} (${(error as NodeJS.ErrnoException).code ?? error.message}). ` +
    `Is the server running, listening on all addresses, and its port published (docker run -p ${target.port}:...)?`;

  /** Resolves the target, or answers the error itself and resolves undefined. */
  const resolve = (target: Target, fail: (status: number, code: string, message: string) => void): Promise<PortTarget | undefined> =>
    sessions.portTarget(target.token, target.instance).then(
      (found) => {
        if (!found.revoked.aborted) return found;
        fail(404, 'not_found', 'This port link was just replaced by a new one.');
        return undefined;
      },
      (error: unknown) => {
        if (error instanceof ApiError) fail(error.status, error.code, error.message);
        else {
          log.error('port proxy failed', { error });
          fail(502, 'unavailable', 'The port could not be reached.');
        }
        return undefined;
      },
    );

  const ask = (req: IncomingMessage, target: Target, found: PortTarget) =>
    http.request({
      host: found.address,
      port: target.port,
      method: req.method,
      path: target.path,
      headers: upstreamHeaders(req, target, trust),
      timeout: CONNECT_TIMEOUT_MS,
      // An upgraded connection leaves the pool anyway; plain requests may reuse one.
      agent: req.headers.upgrade === undefined ? undefined : false,
    });

  return {
    handles: (req) => onPortHost(req) || (req.url ?? '').startsWith('/s/'),

    http(req, res) {
      const target = route(req);
      // Even Berth's own answers on the path form are documents of Berth's origin: sandbox them too.
      if (!target || target.form === 'path') res.setHeader('content-security-policy', PATH_FORM_CSP);
      const fail = (status: number, code: string, message: string) => sendJson(res, status, { error: { code, message } });
      if (!target) return fail(404, 'not_found', usage);
      if (target.form === 'path' && req.headers['service-worker'] !== undefined) {
        // Sandboxed pages cannot register one anyway; this makes it impossible by construction.
        return fail(403, 'forbidden', 'Service workers cannot be registered on a published port reached through /s/; use the port host form.');
      }
      // Relative links in the page only work below a trailing slash.
      if (target.path === undefined) {
        res.writeHead(302, { location: `${target.prefix}/` }).end();
        return;
      }
      void resolve(target, fail).then((found) => {
        if (!found) return;
        const upstream = ask(req, target, found);
        const revoke = () => {
          upstream.destroy();
          res.destroy();
        };
        found.revoked.addEventListener('abort', revoke, { once: true });
        res.on('close', () => found.revoked.removeEventListener('abort', revoke));
        upstream.on('response', (answer) => {
          res.writeHead(answer.statusCode ?? 502, answerHeaders(answer.headers, target));
          answer.pipe(res);
        });
        upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
        upstream.on('error', (error) => {
          if (res.headersSent) return void res.destroy();
          fail(502, 'unavailable', unreachable(target, error));
        });
        req.pipe(upstream);
      });
    },

    upgrade(req, socket, head) {
      const target = route(req);
      const fail = (status: number, code: string, message: string) => {
        const body = JSON.stringify({ error: { code, message } });
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
            `content-security-policy: ${PATH_FORM_CSP}\r\nconnection: close\r\n\r\n${body}`,
        );
      };
      if (!target || target.path === undefined) return fail(404, 'not_found', usage);
      void resolve(target, fail).then((found) => {
        if (!found) return;
        // Node's client parses the upstream's answer, so its headers are filtered like any other answer's.
        const upstream = ask(req, target, found);
        let tunnel: Socket | undefined;
        const revoke = () => {
          upstream.destroy();
          tunnel?.destroy();
          socket.destroy();
        };
        found.revoked.addEventListener('abort', revoke, { once: true });
        socket.on('close', () => {
          found.revoked.removeEventListener('abort', revoke);
          upstream.destroy();
          tunnel?.destroy();
        });
        socket.on('error', () => socket.destroy());
        upstream.on('upgrade', (answer, upstreamSocket, upstreamHead) => {
          tunnel = upstreamSocket;
          upstreamSocket.setTimeout(0);
          socket.write(statusAndHeaders(answer, answerHeaders(answer.headers, target)));
          if (upstreamHead.length) socket.write(upstreamHead);
          if (head.length) upstreamSocket.write(head);
          upstreamSocket.pipe(socket);
          socket.pipe(upstreamSocket);
          upstreamSocket.on('error', () => socket.destroy());
          upstreamSocket.on('close', () => socket.destroy());
        });
        // The server declined the upgrade: its answer goes back as a plain, final one.
        upstream.on('response', (answer) => {
          // The body goes out as it arrives, ended by closing the connection.
          const headers = { ...answerHeaders(answer.headers, target), connection: 'close' };
          delete headers['transfer-encoding'];
          socket.write(statusAndHeaders(answer, headers));
          answer.pipe(socket);
        });
        upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
        upstream.on('error', (error) => (tunnel ? socket.destroy() : fail(502, 'unavailable', unreachable(target, error))));
        upstream.end();
      });
    },
  };
}

function statusAndHeaders(answer: IncomingMessage, headers: OutgoingHttpHeaders): string {
  const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage ?? ''}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) lines.push(`${name}: ${item}`);
  }
  return lines.join('\r\n') + '\r\n\r\n';
}
