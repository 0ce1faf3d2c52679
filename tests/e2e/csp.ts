import type { Page } from '@playwright/test';

/**
 * Collects what the browser reports against the page's Content-Security-Policy (and any uncaught
 * page error), so a test can assert that the app works under the policy the backend sends.
 */
export function watchPolicy(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}
