import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { compileTrust } from '../../sandbox-backend/handlers/client-address.ts';
import { answerHeaders, hostOnlyCookie, PATH_FORM_CSP, upstreamHeaders } from '../../sandbox-backend/handlers/port-proxy.ts';
import type { PortRoute } from '../../sandbox-backend/routing/port-routes.ts';

const path: PortRoute = { form: 'path', prefix: '/s/tok/node1/80', token: 'tok', instance: 'node1', port: 80, path: '/' };
const host: PortRoute = { ...path, form: 'host', prefix: '' };
const request = (peer: string, headers: Record<string, string>) => ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;

const visitor = {
  host: 'berth.example.com',
  authorization: 'Bearer admin-token',
  cookie: 'berth=1',
  'proxy-authorization': 'Basic cHJveHk6cHc=',
  'x-berth-client': 'abcdefgh',
  forwarded: 'for=1.2.3.4',
  'x-forwarded-host': 'forged.example',
  'x-forwarded-for': '1.2.3.4',
  accept: 'text/html',
};

describe('port proxy headers', () => {
  it('keeps the visitor\'s Berth credentials and forged hop headers out of the path form', () => {
    const sent = upstreamHeaders(request('203.0.113.9', visitor), path, compileTrust(''));
    for (const name of ['authorization', 'cookie', 'proxy-authorization', 'x-berth-client', 'forwarded']) expect(sent, name).not.toHaveProperty(name);
    expect(sent).toMatchObject({ accept: 'text/html', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'berth.example.com', 'x-forwarded-prefix': '/s/tok/node1/80' });
  });

  it('passes the host form the app\'s own cookies and login, never a proxy\'s or Berth\'s headers', () => {
    const sent = upstreamHeaders(request('127.0.0.1', visitor), host, compileTrust('loopback'));
    expect(sent).toMatchObject({ authorization: 'Bearer admin-token', cookie: 'berth=1', 'x-forwarded-for': '1.2.3.4, 127.0.0.1', 'x-forwarded-host': 'forged.example', forwarded: 'for=1.2.3.4' });
    expect(sent).not.toHaveProperty('proxy-authorization');
    expect(sent).not.toHaveProperty('x-berth-client');
    expect(sent).not.toHaveProperty('x-forwarded-prefix');
  });

  it('forces path-form answers into an opaque origin and drops what acts on the whole origin', () => {
    const upstream = {
      'content-type': 'text/html',
      'set-cookie': ['stolen=1; Path=/'],
      'service-worker-allowed': '/',
      'clear-site-data': '"*"',
      'origin-agent-cluster': '?0',
      'strict-transport-security': 'max-age=0',
      'alt-svc': 'h2=":443"',
      nel: '{"report_to":"x","max_age":86400,"success_fraction":1}',
      'report-to': '{"group":"x"}',
      'content-security-policy': "default-src 'self'",
      location: '/next',
    };
    const answered = answerHeaders(upstream, path);
    expect(Object.keys(answered).sort()).toEqual(['content-security-policy', 'content-type', 'location']);
    expect(answered['content-security-policy']).toBe(`default-src 'self', ${PATH_FORM_CSP}`);
    expect(PATH_FORM_CSP).not.toContain('allow-same-origin');
    expect(answered.location).toBe('/s/tok/node1/80/next');
    expect(answerHeaders({}, path)['content-security-policy']).toBe(PATH_FORM_CSP);
  });

  it('leaves host-form answers their own origin, with cookies for that host only', () => {
    const answered = answerHeaders({ 'set-cookie': ['a=1; Domain=.ports.example.com; Path=/', 'b=2; path=/; domain=example.com; HttpOnly'], 'service-worker-allowed': '/', 'clear-site-data': '"cookies"' }, host);
    expect(answered['set-cookie']).toEqual(['a=1; Path=/', 'b=2; path=/; HttpOnly']);
    expect(answered['service-worker-allowed']).toBe('/');
    expect(answered).not.toHaveProperty('content-security-policy');
    expect(answered).not.toHaveProperty('clear-site-data');
    expect(hostOnlyCookie('c=3;Domain=x;Secure')).toBe('c=3;Secure');
  });
});
