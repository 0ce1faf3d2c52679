import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { lessonsPlugin } from './src/lib/lesson-format/vite-plugin.ts';
import { precompress } from './src/lib/precompress.ts';

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

// The API server `npm run dev` starts beside Vite (scripts/dev.ts sets BERTH_DEV_API).
const api = process.env.BERTH_DEV_API ?? 'http://127.0.0.1:8081';

export default defineConfig({
  // index.html lives in src/ because the repository's top level is reserved.
  root: here('src'),
  publicDir: here('public'),
  plugins: [
    svelte({ configFile: false }),
    lessonsPlugin({ dir: process.env.BERTH_LESSONS_DIR ?? here('lessons') }),
    precompress(here('dist')),
  ],
  server: {
    port: 8080,
    strictPort: true,
    proxy: {
      '/api': { target: api, ws: true },
      '/healthz': { target: api },
    },
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    // The lesson page's chunk is mostly xterm; its size is checked by hand against the budget.
    chunkSizeWarningLimit: 600,
  },
  test: {
    // Tests live outside src/, so they resolve from the repository, not from Vite's root.
    root: here('.'),
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/security/**/*.test.ts', 'tests/adversarial/**/*.test.ts'],
          environment: 'node',
          // Real sandboxes on a 2-core machine: one file at a time keeps timings honest.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'lessons',
          include: ['tests/lessons/**/*.test.ts'],
          environment: 'node',
          // Each lesson replays in real sandboxes; tests/lessons/lessons.test.ts runs
          // LESSONS_CONCURRENCY (default 2) of them at once within its one file.
          fileParallelism: false,
          maxConcurrency: Math.max(1, Number(process.env.LESSONS_CONCURRENCY ?? 2) || 2),
          testTimeout: 15 * 60_000,
          hookTimeout: 5 * 60_000,
        },
      },
    ],
  },
});
