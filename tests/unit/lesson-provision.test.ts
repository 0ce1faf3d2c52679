import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileWrites, lastLine, provisionLesson, ProvisionError, runCheck, type Exec } from '../../src/lib/lesson-format/provision.ts';
import type { LessonFile } from '../../src/lib/lesson-format/types.ts';

const file = (filePath: string, content: Buffer | string, executable = false): LessonFile => ({
  path: filePath,
  base64: Buffer.from(content).toString('base64'),
  executable,
});

/** Runs a command on this machine, as the exec API would in a sandbox. */
const localExec: Exec = async (_node, cmd) => {
  try {
    return { exitCode: 0, output: execFileSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string };
    return { exitCode: failed.status, output: `${failed.stdout}${failed.stderr}` };
  }
};

describe('placing files/', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes every file byte for byte, with folders and the executable bit, within the request size', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-files-'));
    const big = Buffer.alloc(150_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 256;
    const files = [
      file('app/Dockerfile', 'FROM busybox\nCOPY . /app\n'),
      file('app/run.sh', '#!/bin/sh\necho "$1 and \'quotes\' $(not run)"\n', true),
      file('data/blob.bin', big),
      file('name with spaces.txt', ''),
    ];
    const calls = fileWrites(files, dir);
    expect(calls.length).toBeGreaterThan(1);
    for (const call of calls) expect(Buffer.byteLength(JSON.stringify({ cmd: call }))).toBeLessThan(64 * 1024);
    for (const call of calls) expect((await localExec('node1', call)).exitCode).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'app/Dockerfile'), 'utf8')).toBe('FROM busybox\nCOPY . /app\n');
    expect(fs.readFileSync(path.join(dir, 'app/run.sh'), 'utf8')).toContain("'quotes' $(not run)");
    expect(fs.statSync(path.join(dir, 'app/run.sh')).mode & 0o100).toBe(0o100);
    expect(fs.statSync(path.join(dir, 'app/Dockerfile')).mode & 0o100).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'data/blob.bin')).equals(big)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'name with spaces.txt'), 'utf8')).toBe('');
  });
});

describe('provisionLesson', () => {
  it('places files before running setup, each setup command with bash -c in node1', async () => {
    const calls: [string, string[]][] = [];
    const exec: Exec = async (node, cmd) => {
      calls.push([node, cmd]);
      return { exitCode: 0, output: '' };
    };
    await provisionLesson({ files: [file('a.txt', 'a')], setup: ['docker pull nginx', 'touch ready'] }, exec);
    expect(calls.map(([node, cmd]) => [node, cmd[0], cmd[1], cmd[3] ?? cmd[2]])).toEqual([
      ['node1', 'bash', '-c', 'berth-files'],
      ['node1', 'bash', '-c', 'docker pull nginx'],
      ['node1', 'bash', '-c', 'touch ready'],
    ]);
  });

  it('stops at the first failing setup command and says which, with its last output line', async () => {
    const exec: Exec = async (_node, cmd) => (cmd[2] === 'false-ish' ? { exitCode: 3, output: 'working\nno such image: alpine\n\n' } : { exitCode: 0, output: '' });
    const run = provisionLesson({ files: [], setup: ['true', 'false-ish', 'never'] }, exec);
    await expect(run).rejects.toBeInstanceOf(ProvisionError);
    await expect(run).rejects.toThrow('Setup step 2 (false-ish) failed with exit code 3: no such image: alpine');
  });
});

describe('checks', () => {
  it('pass on exit 0 and show the last non-empty line on failure', async () => {
    expect(await runCheck({ node: 'node1', script: 'echo fine' }, localExec)).toEqual({ passed: true, feedback: 'fine' });
    expect(await runCheck({ node: 'node1', script: 'echo first; echo "No container named web yet."; echo; exit 1' }, localExec)).toEqual({
      passed: false,
      feedback: 'No container named web yet.',
    });
    expect(await runCheck({ node: 'node1', script: 'exit 2' }, localExec)).toEqual({ passed: false, feedback: 'Not done yet (the check exited with code 2).' });
  });

  it('strips terminal colours from feedback', () => {
    expect(lastLine('\x1b[31mred\x1b[0m\r\n  \n')).toBe('red');
  });
});
