/**
 * Who is on the other end of a request, as far as the network says: the socket's peer, or,
 * only when that peer is a proxy the operator listed in BERTH_TRUST_PROXY, the right-most
 * X-Forwarded-For entry that no trusted proxy added. Entries left of it are whatever the client
 * wrote, so trusting them would let a script pick a fresh address per request.
 * Pure: no configuration read here, no I/O. Uses proxy-addr, the parser express and fastify use.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';

/** Decides whether an address is a trusted proxy; built once from BERTH_TRUST_PROXY. */
export type TrustProxy = (address: string, hop: number) => boolean;

export const trustNobody: TrustProxy = () => false;

/**
 * `loopback`, `linklocal`, `uniquelocal`, addresses and CIDR ranges, comma-separated; empty
 * trusts nobody. Throws (with proxy-addr's reason) on anything else, so config.ts can name it.
 */
export function compileTrust(list: string): TrustProxy {
  const entries = list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.length ? proxyaddr.compile(entries) : trustNobody;
}

type RequestLike = Pick<IncomingMessage, 'headers' | 'socket'>;

/** The client's address (IPv4-mapped IPv6 written as IPv4), or "unknown" for a closed socket. */
export function clientAddress(req: RequestLike, trust: TrustProxy): string {
  if (!req.socket.remoteAddress) return 'unknown';
  return canonical(proxyaddr(req as IncomingMessage, trust));
}

/**
 * The scheme the client used: X-Forwarded-Proto's last entry (the one the nearest proxy set) when
 * the peer is a trusted proxy, else whether this socket is TLS.
 */
export function forwardedProto(req: RequestLike, trust: TrustProxy): 'http' | 'https' {
  const own = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  const peer = req.socket.remoteAddress;
  const header = req.headers['x-forwarded-proto'];
  if (!peer || typeof header !== 'string' || !trust(peer, 0)) return own;
  const last = header.split(',').pop()!.trim().toLowerCase();
  return last === 'https' || last === 'http' ? last : own;
}

/**
 * The key per-address limits count by: the address itself for IPv4, its /64 for IPv6, since one
 * household or host usually gets a whole /64 and could otherwise rotate through it.
 */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${v6.parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64`;
}

function canonical(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) return (parsed as ipaddr.IPv6).toIPv4Address().toString();
  return parsed.toString();
}

/**
 * X-Forwarded-For for a request passed on upstream (the port proxy): a trusted proxy's chain gets
 * the peer appended; from anyone else a chain is a claim nobody vouches for, so it is replaced.
 */
export function forwardedFor(req: RequestLike, trust: TrustProxy): string {
  const peer = req.socket.remoteAddress ? canonical(req.socket.remoteAddress) : 'unknown';
  const value = req.headers['x-forwarded-for'];
  const chain = (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  return trust(peer, 0) && chain.length ? [...chain, peer].join(', ') : peer;
}
