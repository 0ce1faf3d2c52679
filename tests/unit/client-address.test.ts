import { describe, expect, it } from 'vitest';
import { addressKey, clientAddress, compileTrust, forwardedFor, forwardedProto, trustNobody } from '../../sandbox-backend/handlers/client-address.ts';

const request = (remoteAddress: string | undefined, headers: Record<string, string> = {}, encrypted = false) =>
  ({ socket: { remoteAddress, encrypted }, headers }) as unknown as Parameters<typeof clientAddress>[0];

describe('client address', () => {
  it('is the socket peer when nobody is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress(request('203.0.113.9', { 'x-forwarded-for': '198.51.100.1' }), trustNobody)).toBe('203.0.113.9');
    expect(clientAddress(request('::ffff:203.0.113.9'), trustNobody)).toBe('203.0.113.9');
    expect(clientAddress(request(undefined), trustNobody)).toBe('unknown');
  });

  it('behind a trusted proxy, is the right-most entry that no trusted proxy added', () => {
    const trust = compileTrust('loopback, 10.0.0.0/8');
    expect(clientAddress(request('127.0.0.1', { 'x-forwarded-for': '198.51.100.1' }), trust)).toBe('198.51.100.1');
    // A client that writes its own X-Forwarded-For only adds entries on the left.
    expect(clientAddress(request('127.0.0.1', { 'x-forwarded-for': '1.2.3.4, 198.51.100.1' }), trust)).toBe('198.51.100.1');
    // Two trusted hops: the entry the outer proxy added is the client.
    expect(clientAddress(request('127.0.0.1', { 'x-forwarded-for': '1.2.3.4, 198.51.100.1, 10.1.2.3' }), trust)).toBe('198.51.100.1');
    // A proxy that did not say: the proxy itself.
    expect(clientAddress(request('10.0.0.5'), trust)).toBe('10.0.0.5');
  });

  it('does not believe X-Forwarded-For from a peer that is not a listed proxy', () => {
    const trust = compileTrust('10.0.0.5');
    expect(clientAddress(request('10.0.0.6', { 'x-forwarded-for': '198.51.100.1' }), trust)).toBe('10.0.0.6');
  });

  it('refuses a trust list it cannot read', () => {
    expect(() => compileTrust('not-an-address')).toThrow();
    expect(compileTrust('')).toBe(trustNobody);
  });
});

describe('forwarded scheme', () => {
  const trust = compileTrust('loopback');
  it('is what the nearest trusted proxy said', () => {
    expect(forwardedProto(request('127.0.0.1', { 'x-forwarded-proto': 'https' }), trust)).toBe('https');
    expect(forwardedProto(request('127.0.0.1', { 'x-forwarded-proto': 'http, https' }), trust)).toBe('https');
  });

  it("is the socket's own from anyone else, or when the header is nonsense", () => {
    expect(forwardedProto(request('198.51.100.1', { 'x-forwarded-proto': 'https' }), trust)).toBe('http');
    expect(forwardedProto(request('198.51.100.1', {}, true), trust)).toBe('https');
    expect(forwardedProto(request('127.0.0.1', { 'x-forwarded-proto': 'gopher' }), trust)).toBe('http');
  });
});

describe('forwarded chain for the port proxy', () => {
  const proxies = compileTrust('10.0.0.0/8');
  it("appends to a trusted proxy's chain and replaces anyone else's", () => {
    expect(forwardedFor(request('10.0.0.5', { 'x-forwarded-for': '1.2.3.4' }), proxies)).toBe('1.2.3.4, 10.0.0.5');
    expect(forwardedFor(request('10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(forwardedFor(request('203.0.113.9', { 'x-forwarded-for': '1.2.3.4' }), proxies)).toBe('203.0.113.9');
    expect(forwardedFor(request('::ffff:203.0.113.9'), trustNobody)).toBe('203.0.113.9');
  });
});

describe('address key for limits', () => {
  it('is the IPv4 address, and the /64 of an IPv6 one', () => {
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb::2'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('unknown')).toBe('unknown');
  });
});
