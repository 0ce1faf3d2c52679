import { expect, test } from '@playwright/test';
import { expectTerminal, typeLine } from './terminal.ts';

test('published ports show as links that reach the server, and nodes can be added and removed', async ({ page, context }) => {
  await page.goto('/lessons/containers/first-container');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expectTerminal(page, 'root@node1:~#');

  await test.step('a port published in the terminal appears as a link', async () => {
    await typeLine(page, 'docker run -d -p 8081:80 --name published nginx');
    const link = page.getByRole('navigation', { name: 'Published ports of node1' }).getByRole('link', { name: 'node1:8081' });
    await expect(link).toBeVisible();
    // Berth is at localhost, so the link is the port's own host, with no BERTH_PORT_DOMAIN.
    const { port } = new URL(page.url());
    await expect(link).toHaveAttribute('href', new RegExp(`^http://8081-node1-[0-9a-f]{32}\\.localhost:${port}/$`));
    const [tab] = await Promise.all([context.waitForEvent('page'), link.click()]);
    await expect(tab.locator('body')).toContainText(/nginx/i);
    // The path form reaches the same server, sandboxed on Berth's own origin.
    const hex = /8081-node1-([0-9a-f]{32})\./.exec((await link.getAttribute('href'))!)![1]!;
    await tab.goto(`/s/${Buffer.from(hex, 'hex').toString('base64url')}/node1/8081/`);
    await expect(tab.locator('body')).toContainText(/nginx/i);
    // New links: the shared one stops working, the new one works.
    const shared = (await link.getAttribute('href'))!;
    await page.getByRole('button', { name: 'New links' }).click();
    await expect(link).not.toHaveAttribute('href', shared);
    expect((await tab.goto(shared))?.status()).toBe(404);
    expect((await tab.goto((await link.getAttribute('href'))!))?.status()).toBe(200);
    await expect(tab.locator('body')).toContainText(/nginx/i);
    await tab.close();
  });

  await test.step('a second node joins with its own terminal, and can reach the first by name', async () => {
    await page.getByRole('button', { name: '+ Add node' }).click();
    const tab = page.getByRole('tab', { name: 'node2' });
    await expect(tab).toHaveAttribute('aria-selected', 'true');
    await expectTerminal(page, 'root@node2:~#', 'node2');
    await page.locator('#panel-node2 .xterm').click();
    await page.keyboard.type('curl -s node1:8081 | grep -o "<title>.*</title>"');
    await page.keyboard.press('Enter');
    await expectTerminal(page, /<title>.*nginx.*<\/title>/i, 'node2');
  });

  await test.step('removing it leaves node1', async () => {
    await page.getByRole('button', { name: 'Remove node2' }).click();
    await expect(page.getByRole('tab', { name: 'node2' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: '+ Add node' })).toBeVisible();
  });

  await page.getByRole('button', { name: 'End session' }).click();
  await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeVisible();
});

test('the UI arrives compressed and cacheable', async ({ page }) => {
  const scripts: { url: string; encoding: string | undefined; cache: string | undefined }[] = [];
  page.on('response', (response) => {
    if (response.url().endsWith('.js')) {
      const headers = response.headers();
      scripts.push({ url: response.url(), encoding: headers['content-encoding'], cache: headers['cache-control'] });
    }
  });
  await page.goto('/lessons/containers/first-container');
  await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeVisible();
  expect(scripts.length).toBeGreaterThan(0);
  for (const script of scripts) {
    expect(script.encoding, script.url).toMatch(/^(br|gzip)$/);
    expect(script.cache, script.url).toContain('immutable');
  }
});
