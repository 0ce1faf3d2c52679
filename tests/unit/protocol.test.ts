import { describe, expect, it } from 'vitest';
import { matchRoute, route } from '../../sandbox-backend/handlers/http.ts';
import { parseControl } from '../../sandbox-backend/handlers/terminal.ts';
import { newSessionId } from '../../sandbox-backend/sessions/service.ts';

describe('terminal control messages', () => {
  it('accepts a resize and flow control', () => {
    expect(parseControl('{"type":"resize","cols":120,"rows":40}')).toEqual({ ok: true, message: { type: 'resize', cols: 120, rows: 40 } });
    expect(parseControl('{"type":"flow","paused":true}')).toEqual({ ok: true, message: { type: 'flow', paused: true } });
    expect(parseControl('{"type":"flow","paused":"yes"}')).toMatchObject({ ok: false, error: expect.stringMatching(/"paused"/) });
  });

  it('explains what is wrong with a malformed one', () => {
    expect(parseControl('nope')).toMatchObject({ ok: false, error: expect.stringMatching(/must be JSON/) });
    expect(parseControl('{"type":"resize","cols":-1,"rows":40}')).toMatchObject({ ok: false, error: expect.stringMatching(/"cols"/) });
    expect(parseControl('{"type":"launch"}')).toMatchObject({ ok: false, error: expect.stringMatching(/resize/) });
  });
});

describe('routing', () => {
  const noop = async () => {};
  const routes = [route('GET', '/api/sessions/:id', noop), route('POST', '/api/sessions/:id/instances/:name/exec', noop)];

  it('extracts decoded parameters', () => {
    const found = matchRoute(routes, 'POST', '/api/sessions/abc/instances/node%31/exec');
    expect(found).toMatchObject({ params: { id: 'abc', name: 'node1' } });
  });

  it('tells a wrong method from a missing route', () => {
    expect(matchRoute(routes, 'PUT', '/api/sessions/abc')).toBe('method');
    expect(matchRoute(routes, 'GET', '/api/sessions/abc/extra')).toBeUndefined();
  });
});

describe('session ids', () => {
  it('are 144-bit url-safe and unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});
