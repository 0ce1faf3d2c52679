/**
 * Knows when a typed command has finished, by watching a terminal the way a person does: the
 * shell's prompt is back where the cursor is, and nothing has been printed for a moment.
 *
 * It follows the same WebSocket as the TerminalClient it wraps (tests/support/terminal.ts) and
 * renders into a headless xterm of its own, because deciding "prompt at the cursor" needs the
 * cursor position, which the client does not expose.
 */
import xtermHeadless from '@xterm/headless';
import { waitFor } from '../support/backend.ts';
import type { TerminalClient } from '../support/terminal.ts';

const { Terminal } = xtermHeadless as unknown as typeof import('@xterm/headless');

/**
 * Prompts a lesson's replay may end at: the node's own shell, a Debian-based container's shell
 * (its hostname is the container's short id), busybox's `/ # `, and, for any other root or
 * non-root shell, a line ending in `# ` or `$ `. Matched against the cursor's line up to the cursor.
 */
export const PROMPT_PATTERNS: readonly RegExp[] = [/root@node\d:[^#]*# $/, /root@[0-9a-f]{12}:[^#]*# $/, /\/ # $/, /# $/, /\$ $/];

/** How long output must have been quiet before a prompt at the cursor counts as the end of a command. */
export const QUIET_MS = 300;

export interface Settled {
  /** The cursor line that matched. */
  prompt: string;
}

export class ScreenWatcher {
  /** Bytes of terminal output received so far. */
  bytes = 0;
  /** Line feeds among them. */
  newlines = 0;
  private lastOutputAt = Date.now();
  private pendingWrites = 0;
  private readonly screen: InstanceType<typeof Terminal>;
  private readonly listener: (data: Buffer, isBinary: boolean) => void;

  constructor(
    readonly client: TerminalClient,
    size: { cols: number; rows: number },
  ) {
    this.screen = new Terminal({ cols: size.cols, rows: size.rows, scrollback: 5000, allowProposedApi: true });
    this.listener = (data, isBinary) => {
      if (!isBinary) return;
      this.bytes += data.length;
      for (const byte of data) if (byte === 0x0a) this.newlines++;
      this.lastOutputAt = Date.now();
      this.pendingWrites++;
      this.screen.write(new Uint8Array(data), () => this.pendingWrites--);
    };
    client.ws.on('message', this.listener);
  }

  /** The text of the cursor's line, from its start to the cursor. */
  cursorLine(): string {
    const buffer = this.screen.buffer.active;
    const line = buffer.getLine(buffer.baseY + buffer.cursorY);
    return line?.translateToString(false, 0, buffer.cursorX) ?? '';
  }

  /** The last `count` lines of the screen and scrollback, trailing blank lines dropped. */
  tail(count = 40): string {
    const buffer = this.screen.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines.slice(-count).join('\n');
  }

  /**
   * Resolves once output beyond `sinceBytes` has arrived, a prompt is at the cursor, and no output
   * came for QUIET_MS. With `orRunning`, also once `lines` line feeds arrived since
   * `sinceNewlines` and output paused: how a command that never ends (the next block interrupts
   * it) shows it is under way. Rejects after `timeoutMs` saying what was missing.
   */
  async settled(sinceBytes: number, timeoutMs: number, orRunning?: { sinceNewlines: number; lines: number }): Promise<Settled> {
    const state = () => {
      const line = this.cursorLine();
      return {
        line,
        output: this.bytes > sinceBytes,
        prompt: PROMPT_PATTERNS.some((pattern) => pattern.test(line)),
        quiet: this.pendingWrites === 0 && Date.now() - this.lastOutputAt >= QUIET_MS,
      };
    };
    try {
      return await waitFor(
        'the command to finish',
        () => {
          const now = state();
          if (now.output && now.prompt && now.quiet) return { prompt: now.line };
          // A command meant to be interrupted counts as running once it printed a line of its own.
          if (orRunning && now.quiet && this.newlines - orRunning.sinceNewlines >= orRunning.lines) return { prompt: '' };
          return undefined;
        },
        timeoutMs,
      );
    } catch {
      const now = state();
      const why = !now.output
        ? 'the terminal printed nothing, not even the echo of the command'
        : !now.prompt
          ? `no shell prompt came back (the cursor's line is ${JSON.stringify(now.line)}); is a command still running in the foreground?`
          : 'the output never went quiet';
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s: ${why}`);
    }
  }

  dispose(): void {
    this.client.ws.off('message', this.listener);
    this.screen.dispose();
  }
}
