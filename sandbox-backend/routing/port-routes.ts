/**
 * Where a published port of an instance is reached from the browser, in one of two forms:
 *
 * - host: `<port>-<instance>-<token in hex>.<domain>/<path>`, an origin of its own per port, so
 *   nothing the learner's server sends can act on Berth's origin or another port's (the preferred
 *   form: BERTH_PORT_DOMAIN, or `localhost:<port>` for a Berth reached at localhost, since browsers
 *   resolve every `*.localhost` to loopback). Host names are case-insensitive and tokens are
 *   base64url, so the host carries the token's bytes in hex (32 characters; the label stays well
 *   under DNS's 63).
 * - path: `/s/<token>/<instance>/<port>/<path>` on Berth's own origin, for deployments without
 *   wildcard DNS; the proxy forces those answers into an opaque origin.
 *
 * Both carry the session's port token, which opens its published ports and nothing else; the
 * session id, the credential of everything else, never appears in a port URL.
 * Pure functions, shared by the proxy (parsing) and the session views (building).
 */
import { randomBytes } from 'node:crypto';

export interface PortRoute {
  form: 'path' | 'host';
  /** What the proxy strips from the path: the path form's prefix, empty for the host form. */
  prefix: string;
  /** The port token as the session service knows it (base64url). */
  token: string;
  instance: string;
  port: number;
  /** Path and query to ask the upstream for; undefined when the path form lacks its trailing slash. */
  path: string | undefined;
}

/** 128 random bits, base64url. */
export function newPortToken(): string {
  return randomBytes(16).toString('base64url');
}

const PATH = /^\/s\/([^/]+)\/([^/]+)\/(\d{1,5})(\/.*)?$/;
/** The first label of the host form; instance names have no dash (node1..node5). */
const LABEL = /^(\d{1,5})-([a-z0-9]+)-([0-9a-f]{32})$/;
/** Every subdomain of localhost is loopback to a browser, so a Berth there needs no DNS for the host form. */
const LOCALHOST = 'localhost';

const validPort = (port: number) => port >= 1 && port <= 65535;

/** Whether a token has the shape this version issues; anything else (a session id, say) opens nothing. */
export function isPortToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(token) && Buffer.from(token, 'base64url').toString('base64url') === token;
}

export function parsePortPath(url: string): PortRoute | undefined {
  const { pathname, search } = new URL(url, 'http://localhost');
  const match = PATH.exec(pathname);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (!validPort(port)) return undefined;
  let token: string;
  let instance: string;
  try {
    token = decodeURIComponent(match[1]!);
    instance = decodeURIComponent(match[2]!);
  } catch {
    return undefined;
  }
  return { form: 'path', prefix: `/s/${match[1]}/${match[2]}/${port}`, token, instance, port, path: match[4] === undefined ? undefined : match[4] + search };
}

/**
 * Whether a Host belongs to the port hosts: any subdomain of `domain` or of localhost. All of
 * them are the proxy's, a malformed one included, so no port host ever serves Berth itself.
 */
export function isPortHost(host: string | undefined, domain: string | undefined): boolean {
  if (!host) return false;
  const name = stripPort(host).toLowerCase();
  return [domain, LOCALHOST].some((d) => d !== undefined && name.endsWith(`.${stripPort(d).toLowerCase()}`));
}

/** `domain` may carry a port (`localhost:8080`); the host's port is not compared, the name is. */
export function parsePortHost(host: string | undefined, url: string, domain: string | undefined): PortRoute | undefined {
  if (!host || !isPortHost(host, domain)) return undefined;
  const match = LABEL.exec(stripPort(host).toLowerCase().split('.')[0]!);
  if (!match) return undefined;
  const port = Number(match[1]);
  if (!validPort(port)) return undefined;
  return { form: 'host', prefix: '', token: Buffer.from(match[3]!, 'hex').toString('base64url'), instance: match[2]!, port, path: url || '/' };
}

/**
 * The domain of the host form for a request that arrived with this Host: BERTH_PORT_DOMAIN, else
 * `localhost:<port>` when the visitor reached Berth at localhost (it costs nothing there), else
 * none: the path form.
 */
export function portDomainFor(host: string | undefined, configured: string | undefined): string | undefined {
  if (configured) return configured;
  const match = /^localhost(:\d{1,5})?$/i.exec(host ?? '');
  return match ? `${LOCALHOST}${match[1] ?? ''}` : undefined;
}

/**
 * The URL template a client fills in with `{instance}` and `{port}`: absolute-path for the path
 * form, scheme-relative for the host form (the page's scheme is the public one, which a backend
 * behind a TLS proxy cannot know).
 */
export function portUrlTemplate(token: string, domain: string | undefined): string {
  if (domain) return `//{port}-{instance}-${Buffer.from(token, 'base64url').toString('hex')}.${domain}/`;
  return `/s/${encodeURIComponent(token)}/{instance}/{port}/`;
}

function stripPort(host: string): string {
  return host.replace(/:\d+$/, '');
}
