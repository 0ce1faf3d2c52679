import { describe, expect, it } from 'vitest';
import { allowedMethods, redactPath } from '../../sandbox-backend/handlers/http.ts';
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
  const routes = [
    { method: 'GET', url: '/api/sessions/:id' },
    { method: 'DELETE', url: '/api/sessions/:id' },
    { method: 'POST', url: '/api/sessions/:id/instances/:name/exec' },
  ] as const;

  it('names the methods a path allows, for 405 and its Allow header', () => {
    expect(allowedMethods(routes, '/api/sessions/abc')).toEqual(['GET', 'DELETE', 'HEAD']);
    expect(allowedMethods(routes, '/api/sessions/abc/instances/node1/exec')).toEqual(['POST']);
    expect(allowedMethods(routes, '/api/sessions/abc/extra')).toEqual([]);
    expect(allowedMethods(routes, '/api/sessions/')).toEqual([]);
  });

  it('writes no session id into a logged path', () => {
    const id = 'Xq3abcdefghijklmnopqrstu';
    for (const path of [`/api/sessions/${id}/instances/node1/exec`, `/api/admin/sessions/${id}`, `/s/${id}/node1/8080/x?y=${id}`, `http://elsewhere.test/api/sessions/${id}`]) {
      expect(redactPath(path)).not.toContain(id);
      expect(redactPath(path)).toMatch(/<[0-9a-f]{6}>/);
    }
    expect(redactPath('/api/sessions')).toBe('/api/sessions');
    expect(redactPath('/' + 'a'.repeat(100_000)).length).toBeLessThan(210);
  });
});

describe('session ids', () => {
  it('are 144-bit url-safe and unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });
});
