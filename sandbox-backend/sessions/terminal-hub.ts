/**
 * One attachment to an instance's shell, shared by every browser tab that shows it.
 *
 * The hub stays attached while the session lives, so output produced while nobody watches (a
 * reload during `docker build`) still lands in its replay buffer, and a reconnecting tab gets
 * its screen back. Both directions are paced at the source, so nothing piles up in the backend:
 * output by the slowest connected tab (the shell is paused), keystrokes by the shell (while it
 * has not taken what was typed, the tabs' sockets are not read, and the browsers hold the rest).
 * A tab that stays behind past `stallMs` is dropped, so it cannot hold the others forever.
 */
import type { Logger } from '../log.ts';
import type { Terminal } from '../provisioning/driver.ts';

export interface TerminalSubscriber {
  /** Delivers output; `flushed` is called once the bytes have left for the client. */
  send(chunk: Buffer, flushed: () => void): void;
  /** The shell exited (the learner typed `exit`); the hub starts a new one on the next subscribe. */
  ended(): void;
  /** True while the shell has not taken the keystrokes already sent: stop reading more until false. */
  holdInput(held: boolean): void;
  /** This viewer was behind for too long and no longer receives output; `reason` says so. */
  dropped(reason: string): void;
}

export interface Subscription {
  /** Recent output to paint before live output, starting at a line boundary, up to now. */
  replay: Buffer;
  write(data: Buffer): void;
  resize(cols: number, rows: number): void;
  /** The viewer's own terminal is behind (true) or caught up (false): the shell waits for it. */
  flow(paused: boolean): void;
  unsubscribe(): void;
}

export interface HubOptions {
  replayBytes: number;
  highWater: number;
  lowWater: number;
  /** How long one viewer may hold the shell's output (far behind, or paused) before it is dropped. */
  stallMs: number;
}

const DEFAULTS: HubOptions = {
  replayBytes: 256 * 1024,
  highWater: 1024 * 1024,
  lowWater: 256 * 1024,
  stallMs: 30_000,
};

interface Member {
  subscriber: TerminalSubscriber;
  inflight: number;
  /** The viewer asked to pause (its screen cannot keep up). */
  blocked: boolean;
  /** Runs while this viewer holds the shell; dropping it when it fires. */
  stall: NodeJS.Timeout | undefined;
}

type Size = { cols: number; rows: number };

export class TerminalHub {
  private terminal: Terminal | undefined;
  private opening: Promise<Terminal> | undefined;
  private readonly members = new Set<Member>();
  private ring: Buffer[] = [];
  private ringBytes = 0;
  private paused = false;
  private inputHeld = false;
  private closed = false;
  /** The size last given to the shell (what the viewers see), and a repaint in progress. */
  private size: Size | undefined;
  private repainting: (() => void) | undefined;
  private readonly options: HubOptions;

  constructor(
    private readonly open: (size: Size) => Promise<Terminal>,
    private readonly log: Logger,
    options: Partial<HubOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  get subscribers(): number {
    return this.members.size;
  }

  async subscribe(subscriber: TerminalSubscriber, size: Size): Promise<Subscription> {
    if (this.closed) throw new Error('The terminal is closed.');
    const terminal = await this.attach(size);
    const member: Member = { subscriber, inflight: 0, blocked: false, stall: undefined };
    this.members.add(member);
    if (this.inputHeld) subscriber.holdInput(true);
    const replay = this.replay();
    // The newest viewer's size wins, as when a terminal window is resized. At the size the shell
    // already has, nothing would redraw the screen: the program is made to repaint it.
    if (this.size?.cols === size.cols && this.size.rows === size.rows) this.repaint(terminal);
    else this.setSize(terminal, size);
    return {
      replay,
      // The terminal keeps keystrokes and resizes in the order given (one byte stream to the shell).
      write: (data) => {
        if (this.terminal && !this.terminal.write(data)) this.holdInput();
      },
      resize: (cols, rows) => {
        if (this.terminal) this.setSize(this.terminal, { cols, rows });
      },
      flow: (paused) => {
        member.blocked = paused;
        this.pace();
      },
      unsubscribe: () => this.leave(member),
    };
  }

  /** Detaches for good (the session ended). */
  async close(): Promise<void> {
    this.closed = true;
    this.repainting?.();
    // Viewers of a removed instance learn it now, rather than from a silent socket.
    for (const member of [...this.members]) {
      this.leave(member);
      member.subscriber.ended();
    }
    const terminal = this.terminal ?? (await this.opening?.catch(() => undefined));
    this.terminal = undefined;
    await terminal?.close();
  }

  private async attach(size: Size): Promise<Terminal> {
    if (this.terminal) return this.terminal;
    if (!this.opening) {
      this.opening = this.open(size).then(
        (terminal) => {
          this.terminal = terminal;
          this.opening = undefined;
          // The shell may have had this size before we attached (a pool sandbox's shell, a
          // backend restart): unknown, so the first subscriber's repaint is forced.
          this.size = size;
          terminal.output.on('data', (chunk: Buffer) => this.output(chunk));
          terminal.output.on('end', () => this.shellEnded(terminal));
          terminal.output.on('error', (error: Error) => this.log.debug('terminal stream error', { error }));
          terminal.onDrain(() => this.releaseInput(terminal));
          if (this.closed) void terminal.close();
          return terminal;
        },
        (error: unknown) => {
          this.opening = undefined;
          throw error;
        },
      );
    }
    return this.opening;
  }

  private setSize(terminal: Terminal, size: Size): void {
    // A repaint in progress would restore its own (now stale) size.
    this.repainting?.();
    this.size = { cols: size.cols, rows: size.rows };
    if (!terminal.resize(size.cols, size.rows)) this.holdInput();
  }

  /**
   * Makes the foreground program redraw the screen: bash's readline and full-screen programs
   * (vim, less, top) repaint on a change of size only. A size one row smaller, then the real one
   * once the program answered: two quick changes could both land before the program looks (on
   * a busy machine bash took 5 s), and it would see no change at all. A program that never
   * answers (`sleep`) keeps the smaller size until it writes anything or a viewer resizes.
   */
  private repaint(terminal: Terminal): void {
    // One repaint at a time: a viewer joining meanwhile gets the one under way.
    if (this.repainting || !this.size) return;
    const size = this.size;
    terminal.resize(size.cols, size.rows > 1 ? size.rows - 1 : size.rows + 1);
    const done = () => {
      terminal.output.off('data', answered);
      this.repainting = undefined;
    };
    const answered = () => {
      done();
      if (this.terminal === terminal && this.size === size) terminal.resize(size.cols, size.rows);
    };
    terminal.output.once('data', answered);
    this.repainting = done;
  }

  private holdInput(): void {
    if (this.inputHeld) return;
    this.inputHeld = true;
    for (const member of this.members) member.subscriber.holdInput(true);
  }

  private releaseInput(terminal: Terminal): void {
    if (!this.inputHeld || this.terminal !== terminal) return;
    this.inputHeld = false;
    for (const member of this.members) member.subscriber.holdInput(false);
  }

  private output(chunk: Buffer): void {
    this.ring.push(chunk);
    this.ringBytes += chunk.length;
    while (this.ringBytes - (this.ring[0]?.length ?? 0) >= this.options.replayBytes) {
      this.ringBytes -= this.ring.shift()!.length;
    }
    for (const member of this.members) {
      member.inflight += chunk.length;
      member.subscriber.send(chunk, () => {
        member.inflight -= chunk.length;
        if (this.paused) this.pace();
      });
    }
    this.pace();
  }

  /**
   * Pause the shell while any viewer is far behind (or asked to pause); resume when all have
   * caught up. A viewer that holds the shell for `stallMs` is dropped, and the others carry on.
   */
  private pace(): void {
    const stream = this.terminal?.output;
    if (!stream) return;
    let worst = 0;
    let blocked = false;
    for (const member of this.members) {
      worst = Math.max(worst, member.inflight);
      blocked ||= member.blocked;
      const holding = member.blocked || member.inflight > this.options.highWater;
      if (holding && !member.stall) member.stall = setTimeout(() => this.drop(member), this.options.stallMs);
      else if (member.stall && !member.blocked && member.inflight < this.options.lowWater) {
        clearTimeout(member.stall);
        member.stall = undefined;
      }
    }
    if (!this.paused && (blocked || worst > this.options.highWater)) {
      this.paused = true;
      stream.pause();
    } else if (this.paused && !blocked && worst < this.options.lowWater) {
      this.paused = false;
      stream.resume();
    }
  }

  private drop(member: Member): void {
    if (!this.members.has(member)) return;
    const seconds = Math.round(this.options.stallMs / 1000);
    this.log.info('terminal viewer dropped: behind for too long', { inflight: member.inflight, flowPaused: member.blocked, viewers: this.members.size });
    this.leave(member);
    member.subscriber.dropped(
      member.blocked ? `paused the terminal for more than ${seconds} s` : `did not read the terminal's output for more than ${seconds} s`,
    );
  }

  private leave(member: Member): void {
    clearTimeout(member.stall);
    member.stall = undefined;
    if (this.members.delete(member)) this.pace();
  }

  private replay(): Buffer {
    const buffered = Buffer.concat(this.ring);
    if (buffered.length < this.options.replayBytes) return buffered;
    // The buffer was cut somewhere mid-line (perhaps mid escape sequence): start at the next line.
    const newline = buffered.indexOf(0x0a);
    return newline === -1 ? Buffer.alloc(0) : buffered.subarray(newline + 1);
  }

  private shellEnded(terminal: Terminal): void {
    if (this.terminal !== terminal) return;
    this.log.info('shell exited', { viewers: this.members.size });
    this.repainting?.();
    this.terminal = undefined;
    this.size = undefined;
    this.ring = [];
    this.ringBytes = 0;
    this.paused = false;
    this.inputHeld = false;
    void terminal.close();
    for (const member of [...this.members]) {
      this.leave(member);
      member.subscriber.ended();
    }
  }
}
