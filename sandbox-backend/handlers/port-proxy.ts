/**
 * Reaches a port published inside an instance: /s/<session>/<instance>/<port>/<path>, or with
 * BERTH_PORT_DOMAIN set also the host form (routing/port-routes.ts), is passed to
 * <instance address>:<port>/<path>, WebSocket upgrades included. The session id in the URL is
 * the credential, as for the rest of the API. The sandbox addresses are on private networks that
 * only the engine host reaches, so this proxy is the one way in.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ApiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SessionService } from '../sessions/service.ts';
import { parsePortHost, parsePortPath, type PortRoute as Target } from '../routing/port-routes.ts';
import { sendJson } from './http.ts';

const CONNECT_TIMEOUT_MS = 10_000;

function forwardedHeaders(req: IncomingMessage, target: Target): http.OutgoingHttpHeaders {
  return {
    ...req.headers,
    ...(target.prefix ? { 'x-forwarded-prefix': target.prefix } : {}),
    'x-forwarded-host': req.headers.host ?? '',
    'x-forwarded-proto': 'http',
    'x-forwarded-for': req.socket.remoteAddress ?? '',
  };
}

export interface PortProxy {
  handles(req: IncomingMessage): boolean;
  http(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function createPortProxy(sessions: SessionService, log: Logger, domain?: string): PortProxy {
  // The host form wins: on a port's own host, every path (/s/... included) belongs to the app.
  const route = (req: IncomingMessage): Target | undefined =>
    (domain ? parsePortHost(req.headers.host, req.url ?? '/', domain) : undefined) ?? parsePortPath(req.url ?? '/');

  const unreachable = (target: Target, error: Error) =>
    `Nothing answers on port ${target.port} of ${target.instance} (${(error as NodeJS.ErrnoException).code ?? error.message}). ` +
    `Is the server running, listening on all addresses, and its port published (docker run -p ${target.port}:...)?`;

  return {
    handles: (req) => (domain !== undefined && parsePortHost(req.headers.host, req.url ?? '/', domain) !== undefined) || (req.url ?? '').startsWith('/s/'),

    http(req, res) {
      const target = route(req);
      if (!target) return sendJson(res, 404, new ApiError('not_found', 'Use /s/<session>/<instance>/<port>/ to reach a published port.').toJSON());
      // Relative links in the page only work below a trailing slash.
      if (target.path === undefined) {
        res.writeHead(302, { location: `${target.prefix}/` }).end();
        return;
      }
      sessions
        .portTarget(target.sessionId, target.instance)
        .then((address) => {
          const upstream = http.request({
            host: address,
            port: target.port,
            method: req.method,
            path: target.path,
            headers: forwardedHeaders(req, target),
            timeout: CONNECT_TIMEOUT_MS,
          });
          upstream.on('response', (answer) => {
            const headers = { ...answer.headers };
            // A redirect to an absolute path means a path below this instance's port.
            if (target.prefix && typeof headers.location === 'string' && headers.location.startsWith('/')) headers.location = target.prefix + headers.location;
            res.writeHead(answer.statusCode ?? 502, headers);
            answer.pipe(res);
          });
          upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
          upstream.on('error', (error) => {
            if (res.headersSent) return void res.destroy();
            sendJson(res, 502, { error: { code: 'unavailable', message: unreachable(target, error) } });
          });
          req.pipe(upstream);
        })
        .catch((error: unknown) => {
          if (error instanceof ApiError) return sendJson(res, error.status, error.toJSON());
          log.error('port proxy failed', { error });
          sendJson(res, 502, { error: { code: 'unavailable', message: 'The port could not be reached.' } });
        });
    },

    upgrade(req, socket, head) {
      const target = route(req);
      const refuse = (status: number, message: string) => {
        const body = JSON.stringify({ error: { code: status === 404 ? 'not_found' : 'unavailable', message } });
        socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Gateway'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      };
      if (!target || target.path === undefined) return refuse(404, 'Use /s/<session>/<instance>/<port>/<path> to reach a published port.');
      sessions
        .portTarget(target.sessionId, target.instance)
        .then((address) => {
          const upstream = net.connect({ host: address, port: target.port, timeout: CONNECT_TIMEOUT_MS });
          upstream.once('connect', () => {
            upstream.setTimeout(0);
            const headers = forwardedHeaders(req, target);
            const lines = [`${req.method} ${target.path} HTTP/1.1`];
            for (const [key, value] of Object.entries(headers)) {
              for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) lines.push(`${key}: ${item}`);
            }
            upstream.write(lines.join('\r\n') + '\r\n\r\n');
            if (head.length) upstream.write(head);
            upstream.pipe(socket);
            socket.pipe(upstream);
          });
          upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
          upstream.on('error', (error) => (upstream.readyState === 'opening' ? refuse(502, unreachable(target, error)) : socket.destroy()));
          socket.on('error', () => upstream.destroy());
          socket.on('close', () => upstream.destroy());
        })
        .catch((error: unknown) => {
          if (error instanceof ApiError) return refuse(error.status, error.message);
          refuse(502, 'The port could not be reached.');
        });
    },
  };
}
