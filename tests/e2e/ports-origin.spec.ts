/**
 * The browser's side of tests/adversarial/ports.test.ts: a hostile page served from a sandbox,
 * opened in real Chromium through both forms of port link, cannot read or change anything of
 * Berth's origin. The same script on the port's own host is the control: there it may do all of
 * it, to its own origin only.
 */
import { expect, test, type Page } from '@playwright/test';
import { HOSTILE_PORT, portLink, startHostileServer, tokenOf, type AttackResult } from '../support/hostile-page.ts';

const attack = (page: Page) => page.evaluate(() => (window as unknown as { attack: Promise<AttackResult> }).attack);

test('a hostile page on a published port cannot act as Berth', async ({ page, context, request, baseURL }) => {
  const created = await request.post('/api/sessions', { data: {} });
  expect(created.status(), await created.text()).toBe(201);
  const session = (await created.json()) as { id: string; portUrlTemplate: string };
  try {
    const started = await request.post(`/api/sessions/${session.id}/instances/node1/exec`, { data: { cmd: ['bash', '-c', startHostileServer] } });
    expect(await started.json()).toMatchObject({ exitCode: 0 });
    await expect
      .poll(async () => ((await (await request.get(`/api/sessions/${session.id}`)).json()) as { instances: { ports: number[] }[] }).instances[0]!.ports)
      .toContain(HOSTILE_PORT);
    const token = tokenOf(session.portUrlTemplate);
    // Docker's proxy listens (and the port is announced) a moment before nginx itself answers.
    await expect.poll(async () => (await request.get(`/s/${token}/node1/${HOSTILE_PORT}/`)).status()).toBe(200);
    const hostLink = new URL(portLink(session.portUrlTemplate, 'node1', HOSTILE_PORT), baseURL).toString();
    expect(new URL(hostLink).hostname).toMatch(/^8090-node1-[0-9a-f]{32}\.localhost$/);

    // What a learner's Berth tab holds: storage and a cookie of Berth's origin.
    await page.goto('/');
    await page.evaluate(() => {
      localStorage.setItem('berth-secret', 's3cret');
      document.cookie = 'berth-cookie=1; path=/';
    });

    await test.step('through the path form, on Berth\'s origin, the page runs in an opaque origin', async () => {
      await page.goto(`/s/${token}/node1/${HOSTILE_PORT}/`);
      await expect(page.locator('h1')).toHaveText('hostile page');
      const result = await attack(page);
      expect(result.origin).toBe('null');
      expect(result.localStorage).toMatch(/^blocked: SecurityError/);
      expect(result.cookie).toMatch(/^blocked: SecurityError/);
      expect(result.plantCookie).toMatch(/^blocked: SecurityError/);
      expect(result.serviceWorker).toMatch(/^blocked/);
      // Berth's API does not answer it as Berth's origin: cross-origin, and no CORS grant.
      expect(result.api).toBe('blocked: TypeError');
    });

    await test.step('on the port\'s own host, the same script reaches only its own origin (the control)', async () => {
      await page.goto(hostLink);
      await expect(page.locator('h1')).toHaveText('hostile page');
      const result = await attack(page);
      expect(result.origin).toBe(new URL(hostLink).origin);
      expect(result.localStorage).toBeNull();
      expect(result.cookie).toContain('stolen=1');
      expect(result.plantCookie).toContain('planted=1');
      expect(result.serviceWorker).toBe('registered');
      // Its /healthz is the app's (nginx's 404), never Berth's.
      expect(result.api).not.toContain('"ok"');
    });

    await test.step('Berth\'s origin is untouched: storage, cookies, service workers, API', async () => {
      await page.goto('/');
      expect(await page.evaluate(() => localStorage.getItem('berth-secret'))).toBe('s3cret');
      expect((await context.cookies(baseURL)).map((c) => c.name)).toEqual(['berth-cookie']);
      expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length)).toBe(0);
      expect(await page.evaluate(async () => (await fetch('/healthz')).status)).toBe(200);
      // The port host's cookies stayed on that host: none was widened to localhost.
      const portCookies = await context.cookies(hostLink);
      const portHost = new URL(hostLink).hostname;
      expect(portCookies.map((c) => [c.name, c.domain]).sort()).toEqual([
        ['planted', portHost],
        ['shared', portHost],
        ['stolen', portHost],
      ]);
    });
  } finally {
    await request.delete(`/api/sessions/${session.id}`);
  }
});
