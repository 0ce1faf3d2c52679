import { describe, expect, it } from 'vitest';
import { checkOrigin, normaliseOrigin } from '../../sandbox-backend/handlers/origin-policy.ts';

const none = new Set<string>();

describe('origin policy for state-changing requests', () => {
  it('lets tools that say nothing of their origin through (curl, scripts)', () => {
    expect(checkOrigin('POST', { host: 'berth.test' }, none)).toEqual({ ok: true });
  });

  it("accepts the page's own origin, whatever the scheme in front of the proxy", () => {
    expect(checkOrigin('POST', { host: 'berth.test:8080', origin: 'http://berth.test:8080', 'sec-fetch-site': 'same-origin' }, none)).toEqual({ ok: true });
    expect(checkOrigin('DELETE', { host: 'Berth.Test', origin: 'https://berth.test' }, none)).toEqual({ ok: true });
  });

  it('refuses another origin, a null origin and cross-site fetches, saying how to allow an origin', () => {
    for (const headers of [
      { host: 'berth.test', origin: 'https://evil.test' },
      { host: 'berth.test', origin: 'null' },
      { host: 'berth.test', origin: 'http://berth.test.evil.test' },
      { host: 'berth.test', origin: 'http://berth.test:9999' },
      { host: 'berth.test', 'sec-fetch-site': 'cross-site' },
      { origin: 'http://berth.test' },
    ]) {
      const verdict = checkOrigin('POST', headers, none);
      expect(verdict, JSON.stringify(headers)).toMatchObject({ ok: false, message: expect.stringMatching(/BERTH_ALLOWED_ORIGINS/) });
    }
  });

  it('a published port on its own host (same site, other origin) cannot spend capacity either', () => {
    expect(checkOrigin('POST', { host: 'berth.test', origin: 'http://8080-node1-abc.berth.test', 'sec-fetch-site': 'same-site' }, none).ok).toBe(false);
  });

  it('accepts an origin listed in BERTH_ALLOWED_ORIGINS', () => {
    const allowed = new Set([normaliseOrigin('https://lab.example.com')!]);
    expect(checkOrigin('POST', { host: 'berth.test', origin: 'https://lab.example.com', 'sec-fetch-site': 'cross-site' }, allowed)).toEqual({ ok: true });
    expect(checkOrigin('POST', { host: 'berth.test', origin: 'http://lab.example.com' }, allowed).ok).toBe(false);
  });

  it('leaves reads alone', () => {
    expect(checkOrigin('GET', { host: 'berth.test', origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' }, none)).toEqual({ ok: true });
  });

  it('normalises origins for comparison', () => {
    expect(normaliseOrigin('HTTPS://Lab.Example.com:443')).toBe('https://lab.example.com');
    expect(normaliseOrigin('null')).toBeUndefined();
    expect(normaliseOrigin('file:///etc/passwd')).toBeUndefined();
  });
});
