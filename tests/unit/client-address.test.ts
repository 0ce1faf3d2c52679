import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress, compileTrust, forwardedFor, forwardedProto, validTrustEntry } from '../../sandbox-backend/handlers/client-address.ts';

/** Just what the functions read of a request: its peer, TLS, and headers. */
const request = (peer: string, headers: Record<string, string> = {}, encrypted = false) =>
  ({ socket: { remoteAddress: peer, encrypted }, headers }) as unknown as IncomingMessage;

const nobody = compileTrust([]);
const loopback = compileTrust(['loopback']);
const proxies = compileTrust(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);

describe('client address', () => {
  it('validates BERTH_TRUST_PROXY entries', () => {
    for (const entry of ['loopback', '10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']) expect(validTrustEntry(entry), entry).toBe(true);
    for (const entry of ['everyone', '10.0.0.0/33', '300.1.1.1', '10.0.0.0/8/1', 'fd00::/129', '']) expect(validTrustEntry(entry), entry).toBe(false);
  });

  it('trusts exactly the configured peers, IPv4-mapped ones included', () => {
    expect(loopback('127.0.0.2')).toBe(true);
    expect(loopback('::ffff:127.0.0.1')).toBe(true);
    expect(loopback('::1')).toBe(true);
    expect(loopback('10.1.2.3')).toBe(false);
    expect(proxies('10.200.0.1')).toBe(true);
    expect(proxies('192.168.1.7')).toBe(true);
    expect(proxies('192.168.1.8')).toBe(false);
    expect(proxies('fd12::1')).toBe(true);
    expect(nobody('127.0.0.1')).toBe(false);
    expect(nobody('not an address')).toBe(false);
  });

  it('believes X-Forwarded-For only as far as trusted proxies vouch for it', () => {
    const forged = request('203.0.113.9', { 'x-forwarded-for': '1.2.3.4' });
    expect(clientAddress(forged, proxies)).toBe('203.0.113.9');
    const viaProxy = request('10.0.0.5', { 'x-forwarded-for': '1.2.3.4, 198.51.100.2, 10.0.0.9' });
    // The rightmost address no trusted proxy vouches for: 1.2.3.4 could be made up by 198.51.100.2.
    expect(clientAddress(viaProxy, proxies)).toBe('198.51.100.2');
    expect(clientAddress(request('10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(clientAddress(request('::ffff:203.0.113.9'), nobody)).toBe('203.0.113.9');
  });

  it('appends to a trusted chain and replaces anyone else\'s', () => {
    expect(forwardedFor(request('10.0.0.5', { 'x-forwarded-for': '1.2.3.4' }), proxies)).toBe('1.2.3.4, 10.0.0.5');
    expect(forwardedFor(request('10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(forwardedFor(request('203.0.113.9', { 'x-forwarded-for': '1.2.3.4' }), proxies)).toBe('203.0.113.9');
  });

  it('says https for TLS, believes a trusted proxy about the scheme, and otherwise says http', () => {
    expect(forwardedProto(request('203.0.113.9', {}, true), nobody)).toBe('https');
    expect(forwardedProto(request('203.0.113.9', { 'x-forwarded-proto': 'https' }), proxies)).toBe('http');
    expect(forwardedProto(request('10.0.0.5', { 'x-forwarded-proto': 'https' }), proxies)).toBe('https');
    expect(forwardedProto(request('10.0.0.5', { 'x-forwarded-proto': 'HTTPS, http' }), proxies)).toBe('https');
    expect(forwardedProto(request('10.0.0.5', { 'x-forwarded-proto': 'gopher' }), proxies)).toBe('http');
    expect(forwardedProto(request('10.0.0.5'), proxies)).toBe('http');
  });
});
