import { expect, type Page } from '@playwright/test';
// Brings in the type of window.__berthTerminals, the hook the page exposes.
import type {} from '../../src/routes/lesson/terminal-probe.ts';

/** Everything the node's terminal holds, read from xterm's buffer through the page's test hook. */
export function terminalText(page: Page, node = 'node1'): Promise<string> {
  return page.evaluate((name) => window.__berthTerminals?.[name]?.text() ?? '', node);
}

export function terminalSize(page: Page, node = 'node1'): Promise<{ cols: number; rows: number } | undefined> {
  return page.evaluate((name) => {
    const probe = window.__berthTerminals?.[name];
    return probe ? { cols: probe.cols, rows: probe.rows } : undefined;
  }, node);
}

export async function expectTerminal(page: Page, pattern: string | RegExp, node = 'node1'): Promise<void> {
  await expect
    .poll(() => terminalText(page, node), { message: `terminal ${node} shows ${String(pattern)}` })
    .toMatch(typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern);
}

/** How often `text` occurs in the terminal; for waiting on the next occurrence of a repeated output. */
export async function countInTerminal(page: Page, text: string, node = 'node1'): Promise<number> {
  return (await terminalText(page, node)).split(text).length - 1;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Focuses the terminal and types a line into it, as a person would. */
export async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('.xterm').first().click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}
