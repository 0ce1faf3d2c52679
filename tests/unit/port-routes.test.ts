import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isPortHost, isPortToken, newPortToken, parsePortHost, parsePortPath, portDomainFor, portUrlTemplate } from '../../sandbox-backend/routing/port-routes.ts';

const token = newPortToken();
const hex = Buffer.from(token, 'base64url').toString('hex');

describe('port routes', () => {
  it('issues 128-bit tokens that fit a host label in hex', () => {
    expect(Buffer.from(token, 'base64url')).toHaveLength(16);
    expect(isPortToken(token)).toBe(true);
    expect(`65535-node5-${hex}`.length).toBeLessThan(63);
    // A session id (18 bytes) has another shape, so it can never be taken for a token.
    expect(isPortToken(randomBytes(18).toString('base64url'))).toBe(false);
    expect(isPortToken('../../api')).toBe(false);
  });

  it('reads the path form, keeping the query and noting a missing trailing slash', () => {
    expect(parsePortPath(`/s/${token}/node2/8080/a/b?c=1`)).toEqual({ form: 'path', prefix: `/s/${token}/node2/8080`, token, instance: 'node2', port: 8080, path: '/a/b?c=1' });
    expect(parsePortPath(`/s/${token}/node1/80`)?.path).toBeUndefined();
    expect(parsePortPath(`/s/${token}/node1/70000/`)).toBeUndefined();
    expect(parsePortPath('/s/%E0%A4%A/node1/80/')).toBeUndefined();
    expect(parsePortPath('/api/sessions')).toBeUndefined();
  });

  it('reads the host form case-insensitively, with or without a port, only under its domain', () => {
    const route = { form: 'host', prefix: '', token, instance: 'node3', port: 3000, path: '/x?y=2' };
    expect(parsePortHost(`3000-node3-${hex}.ports.example.com`, '/x?y=2', 'ports.example.com')).toEqual(route);
    expect(parsePortHost(`3000-NODE3-${hex.toUpperCase()}.Ports.Example.com:8443`, '/x?y=2', 'ports.example.com')).toEqual(route);
    expect(parsePortHost(`3000-node3-${hex}.localhost:8080`, '/x?y=2', 'localhost:8080')).toEqual(route);
    expect(parsePortHost(`3000-node3-${hex}.evil.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(`3000-node3-${hex.slice(2)}.ports.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(`0-node3-${hex}.ports.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(undefined, '/', 'ports.example.com')).toBeUndefined();
  });

  it('reads subdomains of localhost as port hosts whatever the configured domain', () => {
    expect(parsePortHost(`3000-node3-${hex}.localhost:9999`, '/', undefined)?.token).toBe(token);
    expect(parsePortHost(`3000-node3-${hex}.localhost`, '/', 'ports.example.com')?.token).toBe(token);
    // Every subdomain belongs to the proxy, a malformed one too: none of them is ever Berth itself.
    expect(isPortHost('whatever.localhost:8080', undefined)).toBe(true);
    expect(isPortHost('x.ports.example.com', 'ports.example.com')).toBe(true);
    expect(isPortHost('localhost:8080', undefined)).toBe(false);
    expect(isPortHost('ports.example.com', 'ports.example.com')).toBe(false);
    expect(isPortHost('berth.example.com', 'ports.example.com')).toBe(false);
  });

  it('offers the host form at localhost or under BERTH_PORT_DOMAIN, else the path form', () => {
    expect(portDomainFor('localhost:8080', undefined)).toBe('localhost:8080');
    expect(portDomainFor('LOCALHOST', undefined)).toBe('localhost');
    expect(portDomainFor('127.0.0.1:8080', undefined)).toBeUndefined();
    expect(portDomainFor('192.168.1.5:8080', undefined)).toBeUndefined();
    expect(portDomainFor('localhost.evil.test', undefined)).toBeUndefined();
    expect(portDomainFor('127.0.0.1:8080', 'ports.example.com')).toBe('ports.example.com');
  });

  it('builds templates that the parsers read back to the same token', () => {
    expect(portUrlTemplate(token, undefined)).toBe(`/s/${token}/{instance}/{port}/`);
    const template = portUrlTemplate(token, 'ports.example.com');
    const url = new URL(template.replace('{instance}', 'node1').replace('{port}', '8080'), 'https://berth.example.com');
    expect(url.protocol).toBe('https:');
    expect(parsePortHost(url.host, url.pathname, 'ports.example.com')?.token).toBe(token);
    const path = portUrlTemplate(token, undefined).replace('{instance}', 'node1').replace('{port}', '8080');
    expect(parsePortPath(path)?.token).toBe(token);
  });
});
