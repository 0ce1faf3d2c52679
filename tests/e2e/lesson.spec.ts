import { expect, test } from '@playwright/test';
import { watchPolicy } from './csp.ts';
import { countInTerminal, expectTerminal, terminalSize, typeLine } from './terminal.ts';

const PROMPT = 'root@node1:~#';

test('a learner runs the first lesson in a real sandbox', async ({ page }) => {
  const policyProblems = watchPolicy(page);
  await test.step('open the lesson from the catalogue', async () => {
    await page.goto('/');
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await page.getByRole('link', { name: /Your first container/ }).click();
    await expect(page).toHaveURL(/\/lessons\/containers\/first-container$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Your first container' })).toBeVisible();
  });

  const portLink = page.locator('a.port-link').first();
  await test.step('port links wait for the session', async () => {
    await expect(portLink).toHaveAttribute('aria-disabled', 'true');
    await expect(portLink).not.toHaveAttribute('href', /./);
  });

  await test.step('start a session and get a prompt', async () => {
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await expectTerminal(page, PROMPT);
    await expect(page.getByRole('status').filter({ hasText: 'Ready' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'End session' })).toBeVisible();
  });

  await test.step('run a lesson block with its Run button', async () => {
    const block = page.locator('.code-block').filter({ has: page.locator('code', { hasText: /^docker run hello-world$/ }) });
    await block.getByRole('button', { name: 'Run' }).click();
    await expectTerminal(page, 'Hello from Docker!');
  });

  await test.step('the step checks out, and port links lead through the session', async () => {
    // A lesson's port link is the port's own host (a visitor at localhost gets the host form), by its port token.
    await expect(portLink).toHaveAttribute('href', /^http:\/\/8080-node1-[0-9a-f]{32}\.localhost:\d+\/$/);
    await expect(portLink).toHaveAttribute('target', '_blank');
    const step = page.locator('section[data-step="hello-world"]');
    await step.getByRole('button', { name: 'Check', exact: true }).click();
    await expect(step.getByRole('status').filter({ hasText: 'Done' })).toBeVisible();
    await expect(step.getByRole('button', { name: 'Check again' })).toBeVisible();
  });

  await test.step('a step not done yet fails its check with a hint of what to do', async () => {
    const step = page.locator('section[data-step="running-in-the-background"]');
    await step.getByRole('button', { name: 'Check', exact: true }).click();
    await expect(step.getByRole('status').filter({ hasText: 'No running container named web yet' })).toBeVisible();
    await step.getByRole('button', { name: 'Show a hint' }).click();
    await expect(step.locator('.hint.revealed')).toContainText('The name goes before the image');
  });

  await test.step('type a command with the keyboard', async () => {
    await typeLine(page, 'echo typed-$((6*7))');
    await expectTerminal(page, /^typed-42$/m);
  });

  await test.step('the remote terminal follows the window size', async () => {
    const before = await terminalSize(page);
    expect(before).toBeDefined();
    await typeLine(page, 'stty size');
    await expectTerminal(page, new RegExp(`^${before!.rows} ${before!.cols}$`, 'm'));

    await page.setViewportSize({ width: 960, height: 560 });
    await expect.poll(async () => (await terminalSize(page))?.cols).toBeLessThan(before!.cols);
    const after = (await terminalSize(page))!;
    expect(after.rows).toBeLessThan(before!.rows);
    await typeLine(page, 'stty size');
    await expectTerminal(page, new RegExp(`^${after.rows} ${after.cols}$`, 'm'));
  });

  await test.step('end the session', async () => {
    await page.getByRole('button', { name: 'End session' }).click();
    await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeVisible();
    await expect(page.locator('.xterm')).toHaveCount(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  await test.step('progress survives a reload and shows in the catalogue', async () => {
    await page.reload();
    await expect(page.locator('section[data-step="hello-world"]').getByRole('button', { name: 'Check again' })).toBeVisible();
    await page.getByRole('link', { name: 'Lessons', exact: true }).click();
    await expect(page.getByRole('link', { name: /Your first container/ })).toContainText(/1\/\d+ steps/);
  });

  // The whole walk, terminal included, ran under the backend's Content-Security-Policy.
  expect(policyProblems).toEqual([]);
});

test('a reload re-attaches to the same session and shell', async ({ page }) => {
  await page.goto('/lessons/containers/first-container');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expectTerminal(page, PROMPT);
  await typeLine(page, 'export BERTH_MARK=kept-$((40+2))');
  const key = 'berth:session:containers/first-container';
  const id = await page.evaluate((k) => sessionStorage.getItem(k), key);
  expect(id).toBeTruthy();

  await page.reload();
  await expect(page.getByRole('button', { name: 'End session' })).toBeVisible();
  expect(await page.evaluate((k) => sessionStorage.getItem(k), key)).toBe(id);
  // The same shell: a variable set before the reload is still there.
  const seen = await countInTerminal(page, 'mark-kept-42');
  await typeLine(page, 'echo mark-$BERTH_MARK');
  await expect.poll(() => countInTerminal(page, 'mark-kept-42')).toBeGreaterThan(seen);

  await page.getByRole('button', { name: 'End session' }).click();
  await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeVisible();
});

test('an unknown session in storage falls back to Start', async ({ page }) => {
  await page.goto('/');
  await page.evaluate(() => sessionStorage.setItem('berth:session:containers/first-container', 'no-such-session'));
  await page.goto('/lessons/containers/first-container');
  await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeVisible();
  await expect(page.getByText('Your previous session has ended')).toBeVisible();
});
