/**
 * One attachment to an instance's shell, shared by every browser tab that shows it.
 *
 * The hub stays attached while the session lives, so output produced while nobody watches (a
 * reload during `docker build`) still lands in its replay buffer, and a reconnecting tab gets
 * its screen back. Output is paced by the slowest connected tab: the shell is paused rather than
 * buffering without bound in the backend.
 */
import type { Logger } from '../log.ts';
import type { Terminal } from '../provisioning/driver.ts';

export interface TerminalSubscriber {
  /** Delivers output; `flushed` is called once the bytes have left for the client. */
  send(chunk: Buffer, flushed: () => void): void;
  /** The shell exited (the learner typed `exit`); the hub starts a new one on the next subscribe. */
  ended(): void;
}

export interface Subscription {
  /** Recent output to paint before live output, starting at a line boundary. */
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
}

const DEFAULTS: HubOptions = { replayBytes: 256 * 1024, highWater: 1024 * 1024, lowWater: 256 * 1024 };

interface Member {
  subscriber: TerminalSubscriber;
  inflight: number;
  /** The viewer asked to pause (its screen cannot keep up). */
  blocked: boolean;
}

export class TerminalHub {
  private terminal: Terminal | undefined;
  private opening: Promise<Terminal> | undefined;
  private readonly members = new Set<Member>();
  private ring: Buffer[] = [];
  private ringBytes = 0;
  private paused = false;
  private closed = false;
  private readonly options: HubOptions;

  constructor(
    private readonly open: (size: { cols: number; rows: number }) => Promise<Terminal>,
    private readonly log: Logger,
    options: Partial<HubOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  get subscribers(): number {
    return this.members.size;
  }

  async subscribe(subscriber: TerminalSubscriber, size: { cols: number; rows: number }): Promise<Subscription> {
    if (this.closed) throw new Error('The terminal is closed.');
    const terminal = await this.attach(size);
    const member: Member = { subscriber, inflight: 0, blocked: false };
    this.members.add(member);
    // The newest viewer's size wins, as when a terminal window is resized.
    terminal.resize(size.cols, size.rows);
    return {
      replay: this.replay(),
      // The terminal keeps keystrokes and resizes in the order given (one byte stream to the shell).
      write: (data) => this.terminal?.write(data),
      resize: (cols, rows) => this.terminal?.resize(cols, rows),
      flow: (paused) => {
        member.blocked = paused;
        this.pace();
      },
      unsubscribe: () => {
        this.members.delete(member);
        this.pace();
      },
    };
  }

  /** Detaches for good (the session ended). */
  async close(): Promise<void> {
    this.closed = true;
    // Viewers of a removed instance learn it now, rather than from a silent socket.
    for (const member of [...this.members]) member.subscriber.ended();
    this.members.clear();
    const terminal = this.terminal ?? (await this.opening?.catch(() => undefined));
    this.terminal = undefined;
    await terminal?.close();
  }

  private async attach(size: { cols: number; rows: number }): Promise<Terminal> {
    if (this.terminal) return this.terminal;
    if (!this.opening) {
      this.opening = this.open(size).then(
        (terminal) => {
          this.terminal = terminal;
          this.opening = undefined;
          terminal.output.on('data', (chunk: Buffer) => this.output(chunk));
          terminal.output.on('end', () => this.shellEnded(terminal));
          terminal.output.on('error', (error: Error) => this.log.debug('terminal stream error', { error }));
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

  /** Pause the shell while any viewer is far behind (or asked to pause); resume when all have caught up. */
  private pace(): void {
    const stream = this.terminal?.output;
    if (!stream) return;
    let worst = 0;
    let blocked = false;
    for (const member of this.members) {
      worst = Math.max(worst, member.inflight);
      blocked ||= member.blocked;
    }
    if (!this.paused && (blocked || worst > this.options.highWater)) {
      this.paused = true;
      stream.pause();
    } else if (this.paused && !blocked && worst < this.options.lowWater) {
      this.paused = false;
      stream.resume();
    }
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
    this.terminal = undefined;
    this.ring = [];
    this.ringBytes = 0;
    this.paused = false;
    void terminal.close();
    for (const member of [...this.members]) member.subscriber.ended();
    this.members.clear();
  }
}
