/**
 * Which requests may change state (start or end sessions, run commands): a page on another site
 * can make a visitor's browser send a POST without asking (a form, or fetch in no-cors mode), and
 * browsers say where such a request comes from in Origin and Sec-Fetch-Site. Tools that send
 * neither (curl, scripts) are not browsers acting for someone else, so they pass.
 * Pure: the allowed list comes from BERTH_ALLOWED_ORIGINS through config.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type OriginVerdict = { ok: true } | { ok: false; message: string };

/** "https://Example.com:443/" -> "https://example.com"; undefined for anything that is not an http(s) origin. */
export function normaliseOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

export function checkOrigin(method: string, headers: IncomingHttpHeaders, allowed: ReadonlySet<string>): OriginVerdict {
  if (SAFE_METHODS.has(method.toUpperCase())) return { ok: true };
  const origin = headers.origin;
  const site = headers['sec-fetch-site'];
  const how = 'Open Berth from its own address, or add that origin to BERTH_ALLOWED_ORIGINS (comma-separated, e.g. https://lab.example.com).';
  if (origin !== undefined) {
    const normal = normaliseOrigin(origin);
    if (normal !== undefined && allowed.has(normal)) return { ok: true };
    // Same origin: the page's host is the one this request was sent to. The scheme is not
    // compared, as behind a TLS proxy the backend itself is reached over plain HTTP.
    const host = headers.host?.toLowerCase();
    if (normal === undefined || host === undefined || new URL(normal).host !== host) {
      return { ok: false, message: `Requests that change state are refused from the origin ${JSON.stringify(origin)}, which is not this Berth's. ${how}` };
    }
    return { ok: true };
  }
  if (site === 'cross-site') {
    return { ok: false, message: `Requests that change state are refused from another site (Sec-Fetch-Site: cross-site). ${how}` };
  }
  return { ok: true };
}
