/**
 * Gets a fresh session ready for a lesson: places the lesson's `files/` under /root/ in node1,
 * then runs its `setup` commands there. Plain TypeScript over an `exec` function, so the app
 * (through the exec API), the lesson test runner and, later, the backend share one behaviour.
 */
import type { LessonFile } from './types.ts';

export interface ExecOutcome {
  exitCode: number;
  output: string;
}

/** Runs a command in a node of the session, as `POST /api/sessions/:id/instances/:node/exec` does. */
export type Exec = (node: string, cmd: string[]) => Promise<ExecOutcome>;

export interface ProvisionPlan {
  setup: readonly string[];
  files: readonly LessonFile[];
}

/** The node that receives files and runs setup (see docs/authoring.md). */
export const PROVISION_NODE = 'node1';
/** Where `files/` lands. */
export const FILES_HOME = '/root';

export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

/** The exec API takes at most 64 KiB per request; keep each one well under it. */
const MAX_REQUEST_DATA = 40 * 1024;

// Arguments come in fours: path, mode (x or -), w to create or a to append, base64 data. Data
// travels as arguments rather than inside the script so no file content is ever parsed by a shell.
const WRITE_SCRIPT = [
  'set -e',
  'while [ "$#" -gt 0 ]; do',
  '  file=$1 mode=$2 op=$3 data=$4; shift 4',
  '  mkdir -p -- "$(dirname -- "$file")"',
  '  if [ "$op" = w ]; then printf %s "$data" | base64 -d > "$file"; else printf %s "$data" | base64 -d >> "$file"; fi',
  '  if [ "$mode" = x ]; then chmod +x -- "$file"; fi',
  'done',
].join('\n');

/** Splits the files into exec calls that each stay under the API's request size. */
export function fileWrites(files: readonly LessonFile[], home = FILES_HOME): string[][] {
  const calls: string[][] = [];
  let args: string[] = [];
  let size = 0;
  const flush = () => {
    if (args.length === 0) return;
    calls.push(['bash', '-c', WRITE_SCRIPT, 'berth-files', ...args]);
    args = [];
    size = 0;
  };
  for (const file of files) {
    const target = `${home}/${file.path}`;
    const mode = file.executable ? 'x' : '-';
    // A chunk boundary must fall on a multiple of 4 base64 characters to decode on its own.
    const chunk = MAX_REQUEST_DATA - (MAX_REQUEST_DATA % 4);
    let offset = 0;
    do {
      const data = file.base64.slice(offset, offset + chunk);
      const overhead = target.length + 8;
      if (size + data.length + overhead > MAX_REQUEST_DATA) flush();
      args.push(target, mode, offset === 0 ? 'w' : 'a', data);
      size += data.length + overhead;
      offset += chunk;
    } while (offset < file.base64.length);
  }
  flush();
  return calls;
}

/** The last non-empty line of a command's output: what a learner is shown when a check fails. */
export function lastLine(output: string): string {
  const lines = output
    // Colours and cursor movement would show as garbage outside a terminal.
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return lines.at(-1) ?? '';
}

export interface ProvisionProgress {
  (message: string): void;
}

/**
 * Places the files, then runs each setup command with `bash -c` in node1 (in /root). Throws a
 * ProvisionError naming the failing step and its last output line.
 */
export async function provisionLesson(plan: ProvisionPlan, exec: Exec, progress: ProvisionProgress = () => {}): Promise<void> {
  if (plan.files.length > 0) {
    progress(`Copying ${plan.files.length} file${plan.files.length === 1 ? '' : 's'} into ${FILES_HOME}`);
    for (const cmd of fileWrites(plan.files)) {
      const result = await exec(PROVISION_NODE, cmd);
      if (result.exitCode !== 0) {
        throw new ProvisionError(`Could not copy the lesson's files into ${PROVISION_NODE}: ${lastLine(result.output) || `exit code ${result.exitCode}`}`);
      }
    }
  }
  for (const [index, command] of plan.setup.entries()) {
    progress(`Setting up (${index + 1}/${plan.setup.length})`);
    const result = await exec(PROVISION_NODE, ['bash', '-c', command]);
    if (result.exitCode !== 0) {
      const first = command.split('\n')[0]!;
      throw new ProvisionError(
        `Setup step ${index + 1} (${first.length > 60 ? `${first.slice(0, 57)}...` : first}) failed with exit code ${result.exitCode}: ${lastLine(result.output) || 'no output'}`,
      );
    }
  }
}

export interface CheckOutcome {
  passed: boolean;
  /** On failure, the last non-empty line of the check's output (or a fallback naming the exit code). */
  feedback: string;
}

/** Runs one check script in its node; exit 0 passes. */
export async function runCheck(check: { node: string; script: string }, exec: Exec): Promise<CheckOutcome> {
  const result = await exec(check.node, ['bash', '-c', check.script]);
  if (result.exitCode === 0) return { passed: true, feedback: lastLine(result.output) };
  const line = lastLine(result.output);
  if (result.exitCode === 124 && !line) return { passed: false, feedback: 'The check took too long and was stopped. Try again in a moment.' };
  return { passed: false, feedback: line || `Not done yet (the check exited with code ${result.exitCode}).` };
}
