import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';

const root = fileURLToPath(new URL('../..', import.meta.url));
const port = Number(process.env.BERTH_E2E_PORT ?? 18080);
// Set once in the runner; its workers inherit it instead of making folders of their own.
process.env.BERTH_E2E_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-'));

export default defineConfig({
  testDir: '.',
  outputDir: path.join(root, 'test-results', 'e2e'),
  // Each test drives a real sandbox; on a 2-core machine one at a time keeps them honest.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    // At localhost, as `npm start` prints it: port links then take their own hosts under
    // localhost:<port> by default (Chromium resolves every *.localhost to loopback).
    baseURL: `http://localhost:${port}`,
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: 'npx tsx sandbox-backend/main.ts',
    cwd: root,
    url: `http://127.0.0.1:${port}/healthz`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      // Two e2e runs on one engine (two checkouts) must not share a namespace.
      BERTH_NAMESPACE: process.env.BERTH_E2E_NAMESPACE ?? 'e2e',
      BERTH_POOL_IDLE: '1',
      BERTH_DATA_DIR: process.env.BERTH_E2E_DATA_DIR,
      BERTH_STATIC_DIR: path.join(root, 'dist'),
      BERTH_LESSONS_DIR: path.join(root, 'lessons'),
    },
  },
});
