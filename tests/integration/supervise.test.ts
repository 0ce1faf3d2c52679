/**
 * scripts/supervise.ts, which `npm start` runs the backend under: a backend that dies after it
 * served is started again with back-off; one that never started is not; SIGTERM stops both.
 * The child here is a stand-in that speaks the backend's one message ("listening"), so that the
 * restart policy is tested in seconds; the backend's own exit on an uncaught exception is main.ts's.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/backend.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-supervise-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A child that counts its runs in `runs`, and crashes on its first `crashes` runs after saying it listens. */
function child(name: string, body: string): string {
  const file = path.join(dir, `${name}.mjs`);
  fs.writeFileSync(
    file,
    `import fs from 'node:fs';
const runs = ${JSON.stringify(path.join(dir, `${name}.runs`))};
const n = Number(fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8') : 0) + 1;
fs.writeFileSync(runs, String(n));
${body}
`,
  );
  return file;
}

const runsOf = (name: string) => Number(fs.readFileSync(path.join(dir, `${name}.runs`), 'utf8'));

function supervise(script: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/supervise.ts', script], { cwd: process.cwd(), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited, log: () => log };
}

describe('the npm start supervisor', () => {
  it('restarts a backend that crashed after serving, with growing delays, and stops it on SIGTERM', async () => {
    const script = child(
      'crashy',
      `process.send('listening', () => {
  if (n <= 2) throw new Error('crash number ' + n);
  process.on('SIGTERM', () => { fs.writeFileSync(runs + '.stopped', 'clean'); process.exit(0); });
  setInterval(() => {}, 1000);
});`,
    );
    const run = supervise(script);
    await waitFor('the third run', () => fs.existsSync(path.join(dir, 'crashy.runs')) && runsOf('crashy') === 3, 30_000);
    const restarts = run.log().split('\n').filter((line) => line.includes('restarting')).map((line) => JSON.parse(line) as { restartInSeconds: number; code: number });
    expect(restarts.map((r) => r.restartInSeconds)).toEqual([1, 2]);
    expect(restarts.every((r) => r.code === 1)).toBe(true);

    run.proc.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'crashy.runs.stopped'), 'utf8')).toBe('clean');
    expect(runsOf('crashy')).toBe(3);
  });

  it('does not retry a backend that could not start, and exits with its code', async () => {
    const script = child('misconfigured', `process.stderr.write('Invalid configuration\\n'); process.exit(2);`);
    const run = supervise(script);
    expect(await run.exited).toBe(2);
    expect(runsOf('misconfigured')).toBe(1);
    expect(run.log()).not.toContain('restarting');
  });
});
