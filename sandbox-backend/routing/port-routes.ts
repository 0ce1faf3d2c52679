/**
 * Where a published port of an instance is reached from the browser, in one of two forms:
 *
 * - path: `/s/<session>/<instance>/<port>/<path>` on the backend's own origin (the default);
 * - host: `<port>-<instance>-<session in hex>.<domain>/<path>` (BERTH_PORT_DOMAIN), for apps that
 *   break below a sub-path (absolute links, cookies on `/`, service workers). Host names are
 *   case-insensitive, and session ids are case-sensitive base64url, so the host carries the id's
 *   bytes in hex (36 characters: the label stays under DNS's 63).
 *
 * Both carry the session id, the only credential: whoever can form the URL owns the session.
 * Pure functions, shared by the proxy (parsing) and the session views (building).
 */

export interface PortRoute {
  /** What the proxy strips from the path: the path form's prefix, empty for the host form. */
  prefix: string;
  sessionId: string;
  instance: string;
  port: number;
  /** Path and query to ask the upstream for; undefined when the path form lacks its trailing slash. */
  path: string | undefined;
}

const PATH = /^\/s\/([^/]+)\/([^/]+)\/(\d{1,5})(\/.*)?$/;
/** The first label of the host form; instance names have no dash (node1..node5). */
const LABEL = /^(\d{1,5})-([a-z0-9]+)-([0-9a-f]{36})$/;

const validPort = (port: number) => port >= 1 && port <= 65535;

export function parsePortPath(url: string): PortRoute | undefined {
  const { pathname, search } = new URL(url, 'http://localhost');
  const match = PATH.exec(pathname);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (!validPort(port)) return undefined;
  return {
    prefix: `/s/${match[1]}/${match[2]}/${port}`,
    sessionId: decodeURIComponent(match[1]!),
    instance: decodeURIComponent(match[2]!),
    port,
    path: match[4] === undefined ? undefined : match[4] + search,
  };
}

/** `domain` may carry a port (`localhost:8080`); the host's port is not compared, the name is. */
export function parsePortHost(host: string | undefined, url: string, domain: string): PortRoute | undefined {
  if (!host) return undefined;
  const name = stripPort(host).toLowerCase();
  const suffix = `.${stripPort(domain).toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const match = LABEL.exec(name.slice(0, -suffix.length));
  if (!match) return undefined;
  const port = Number(match[1]);
  if (!validPort(port)) return undefined;
  return { prefix: '', sessionId: Buffer.from(match[3]!, 'hex').toString('base64url'), instance: match[2]!, port, path: url || '/' };
}

/**
 * The URL template a client fills in with `{instance}` and `{port}`: absolute-path for the path
 * form, scheme-relative for the host form (the page's scheme is the public one, which a backend
 * behind a TLS proxy cannot know). undefined when the session id cannot appear in a host name.
 */
export function portUrlTemplate(sessionId: string, domain: string | undefined): string {
  if (domain) {
    const bytes = Buffer.from(sessionId, 'base64url');
    // Ids are 18 random bytes; anything else (ids of an older version) keeps the path form.
    if (bytes.length === 18 && bytes.toString('base64url') === sessionId) return `//{port}-{instance}-${bytes.toString('hex')}.${domain}/`;
  }
  return `/s/${encodeURIComponent(sessionId)}/{instance}/{port}/`;
}

function stripPort(host: string): string {
  return host.replace(/:\d+$/, '');
}
