import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePortHost, parsePortPath, portUrlTemplate } from '../../sandbox-backend/routing/port-routes.ts';

const id = randomBytes(18).toString('base64url');
const hex = Buffer.from(id, 'base64url').toString('hex');

describe('port routes', () => {
  it('reads the path form, keeping the query and noting a missing trailing slash', () => {
    expect(parsePortPath(`/s/${id}/node2/8080/a/b?c=1`)).toEqual({ prefix: `/s/${id}/node2/8080`, sessionId: id, instance: 'node2', port: 8080, path: '/a/b?c=1' });
    expect(parsePortPath(`/s/${id}/node1/80`)?.path).toBeUndefined();
    expect(parsePortPath(`/s/${id}/node1/70000/`)).toBeUndefined();
    expect(parsePortPath('/api/sessions')).toBeUndefined();
  });

  it('reads the host form case-insensitively, with or without a port, only under its domain', () => {
    const route = { prefix: '', sessionId: id, instance: 'node3', port: 3000, path: '/x?y=2' };
    expect(parsePortHost(`3000-node3-${hex}.ports.example.com`, '/x?y=2', 'ports.example.com')).toEqual(route);
    expect(parsePortHost(`3000-NODE3-${hex.toUpperCase()}.Ports.Example.com:8443`, '/x?y=2', 'ports.example.com')).toEqual(route);
    expect(parsePortHost(`3000-node3-${hex}.localhost:8080`, '/x?y=2', 'localhost:8080')).toEqual(route);
    expect(parsePortHost(`3000-node3-${hex}.evil.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(`3000-node3-${hex.slice(2)}.ports.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(`0-node3-${hex}.ports.example.com`, '/', 'ports.example.com')).toBeUndefined();
    expect(parsePortHost(undefined, '/', 'ports.example.com')).toBeUndefined();
  });

  it('builds templates that the parsers read back to the same session', () => {
    expect(portUrlTemplate(id, undefined)).toBe(`/s/${id}/{instance}/{port}/`);
    const template = portUrlTemplate(id, 'ports.example.com');
    const url = new URL(template.replace('{instance}', 'node1').replace('{port}', '8080'), 'https://berth.example.com');
    expect(url.protocol).toBe('https:');
    expect(parsePortHost(url.host, url.pathname, 'ports.example.com')?.sessionId).toBe(id);
    // An id that is not 18 bytes of base64url cannot be carried in hex: the path form stays.
    expect(portUrlTemplate('legacy-id', 'ports.example.com')).toBe('/s/legacy-id/{instance}/{port}/');
  });
});
