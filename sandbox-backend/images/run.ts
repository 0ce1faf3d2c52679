/**
 * Running the command-line tools the image build needs (docker, mmdebstrap, gcc, apt-get).
 * A build script may use the CLIs; the backend itself talks to the Engine API instead.
 * Every failure names the command, shows the end of its output and, where we know it, what to do.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(message);
  }
}

/** What to tell a person when a tool is not installed at all. */
const installHints: Record<string, string> = {
  docker: 'install the Docker client (apt-get install docker.io) or run: bash scripts/bootstrap.sh',
  mmdebstrap: 'run: bash scripts/bootstrap.sh (or, as root: apt-get install mmdebstrap)',
  gcc: 'run: bash scripts/bootstrap.sh (or, as root: apt-get install gcc libc6-dev)',
  'apt-get': 'this step needs a Debian or Ubuntu host with apt',
  'dpkg-deb': 'this step needs a Debian or Ubuntu host with dpkg',
};

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's standard input. */
  input?: string | Buffer;
  /** Appended to the error message: what the person should do about a failure. */
  hint?: string;
  /** Resolve with the exit code instead of rejecting when the command fails. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function describe(command: string, args: readonly string[]): string {
  const quoted = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  const text = [command, ...quoted].join(' ');
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

function tail(text: string, lines = 25): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

function missingToolError(command: string, args: readonly string[]): CommandError {
  const hint = installHints[command] ?? `install ${command}`;
  return new CommandError(`"${command}" was not found on PATH: ${hint}`, describe(command, args), null, '');
}

/** Runs a command to completion, collecting its output. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env ?? process.env, stdio: 'pipe' };
    const child = spawn(command, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? missingToolError(command, args) : error);
    });
    child.on('close', (code, signal) => {
      const result = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (result.code === 0 || options.allowFailure) return resolve(result);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const output = tail(`${result.stdout}\n${result.stderr}`);
      const hint = options.hint ? `\n  What to do: ${options.hint}` : '';
      reject(new CommandError(`${describe(command, args)} ${how}:\n${indent(output)}${hint}`, describe(command, args), code, output));
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

export function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** Resolves with the exit code of a child that is already running; rejects if it could not start. */
export function exitOf(child: ChildProcess, command: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? missingToolError(command, args) : error);
    });
    child.on('close', (code) => resolve(code ?? 128));
  });
}

/** `docker ...`, inheriting DOCKER_HOST and friends from our environment. */
export function docker(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('docker', args, options);
}

/** Seconds since `start` (a performance.now() value), for progress lines. */
export function elapsed(start: number): string {
  return `${((performance.now() - start) / 1000).toFixed(1)} s`;
}
