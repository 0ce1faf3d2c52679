/**
 * Who is really asking, when a reverse proxy may stand between the visitor and Berth. Headers
 * such as X-Forwarded-For are written by whoever sends the request, so they are believed only
 * from peers the operator named in BERTH_TRUST_PROXY. Pure functions of the request.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';

/** Whether an address is a proxy whose forwarded headers are believed. */
export type TrustProxy = (address: string) => boolean;

/** Names BERTH_TRUST_PROXY accepts besides addresses and CIDR ranges. */
const NAMED: Record<string, [string, number][]> = {
  loopback: [
    ['127.0.0.0', 8],
    ['::1', 128],
  ],
};

/** Whether one entry of BERTH_TRUST_PROXY is valid: `loopback`, an address, or address/prefix. */
export function validTrustEntry(entry: string): boolean {
  if (entry in NAMED) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = net.isIP(address ?? '');
  if (!family || rest.length) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** Compiles BERTH_TRUST_PROXY's entries (validated by the config) into a predicate; none trusts nobody. */
export function compileTrust(entries: readonly string[]): TrustProxy {
  if (entries.length === 0) return () => false;
  // node:net's BlockList does the CIDR arithmetic for both families.
  const list = new net.BlockList();
  for (const entry of entries) {
    const ranges = NAMED[entry] ?? [rangeOf(entry)];
    for (const [address, prefix] of ranges) list.addSubnet(address, prefix, net.isIPv6(address) ? 'ipv6' : 'ipv4');
  }
  return (address) => {
    const plain = unmapped(address);
    const family = net.isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function rangeOf(entry: string): [string, number] {
  const [address = '', prefix] = entry.split('/');
  return [address, prefix === undefined ? (net.isIPv6(address) ? 128 : 32) : Number(prefix)];
}

/** An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d. */
function unmapped(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The X-Forwarded-For chain as sent, leftmost (the original client) first. */
export function forwardedChain(req: IncomingMessage): string[] {
  return (header(req, 'x-forwarded-for') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/**
 * The visitor's address: the connection's peer, or, while that peer is a trusted proxy, the
 * next address to its left in X-Forwarded-For (the first one no trusted proxy vouches for).
 */
export function clientAddress(req: IncomingMessage, trust: TrustProxy): string {
  let address = unmapped(req.socket.remoteAddress ?? '');
  const chain = forwardedChain(req);
  while (trust(address) && chain.length) address = unmapped(chain.pop()!);
  return address;
}

/** The scheme the visitor used: TLS on this socket, else what a trusted proxy says, else http. */
export function forwardedProto(req: IncomingMessage, trust: TrustProxy): 'http' | 'https' {
  if ((req.socket as TLSSocket).encrypted) return 'https';
  if (!trust(req.socket.remoteAddress ?? '')) return 'http';
  // Each proxy that appends adds its own; the leftmost is the one the visitor's connection had.
  const first = header(req, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return first === 'https' ? 'https' : 'http';
}

/**
 * X-Forwarded-For for a request passed on upstream: a trusted proxy's chain gets the peer
 * appended; from anyone else a chain is a claim nobody vouches for, so it is replaced.
 */
export function forwardedFor(req: IncomingMessage, trust: TrustProxy): string {
  const peer = unmapped(req.socket.remoteAddress ?? '');
  const chain = forwardedChain(req);
  return trust(peer) && chain.length ? [...chain, peer].join(', ') : peer;
}
