/**
 * The client side of dtach's socket protocol, which the backend speaks itself so that no dtach
 * client (and no second pseudo-terminal) sits between the shell and the engine.
 *
 * dtach 0.9 (the sandbox image's): a client sends fixed-size packets of 10 bytes, a type, a length
 * and 8 bytes of payload that are either keystrokes or a `struct winsize`; the master answers
 * with the shell's raw output and nothing else. The master reads one packet per read() from a
 * stream socket, so packets must reach it whole and back to back (see shell-relay.ts).
 */

export const PACKET_BYTES = 10;
/** Payload bytes of one packet: sizeof(struct winsize), four unsigned shorts. */
export const PAYLOAD_BYTES = 8;

export const MessageType = {
  /** Keystrokes for the shell's pty, `len` of them. */
  push: 0,
  /** Start receiving the shell's output. */
  attach: 1,
  detach: 2,
  /** Set the pty's window size, nothing else. */
  winch: 3,
  /** Set the window size and make the program redraw, by the method in `len`. */
  redraw: 4,
} as const;

export const RedrawMethod = {
  /** The master's own default (`-r` when it was started; Ctrl-L if none). */
  unspecified: 0,
  none: 1,
  ctrlL: 2,
  /** SIGWINCH to the shell's foreground process: bash and full-screen programs repaint. */
  winch: 3,
} as const;

export interface WindowSize {
  cols: number;
  rows: number;
}

function packet(type: number, len: number): Buffer {
  const buffer = Buffer.alloc(PACKET_BYTES);
  buffer[0] = type;
  buffer[1] = len;
  return buffer;
}

/**
 * `struct winsize` is { ws_row, ws_col, ws_xpixel, ws_ypixel } in the master's byte order:
 * little-endian, as on every architecture the sandbox image is built for (amd64, arm64).
 */
function withSize(buffer: Buffer, size: WindowSize): Buffer {
  buffer.writeUInt16LE(clampDimension(size.rows), 2);
  buffer.writeUInt16LE(clampDimension(size.cols), 4);
  return buffer;
}

function clampDimension(n: number): number {
  return Math.min(0xffff, Math.max(1, Math.trunc(n) || 1));
}

/** Keystrokes as PUSH packets, 8 bytes each, in one buffer (one write for the whole run). */
export function pushPackets(data: Uint8Array): Buffer {
  const count = Math.ceil(data.length / PAYLOAD_BYTES);
  const out = Buffer.alloc(count * PACKET_BYTES);
  for (let i = 0; i < count; i++) {
    const from = i * PAYLOAD_BYTES;
    const len = Math.min(PAYLOAD_BYTES, data.length - from);
    const at = i * PACKET_BYTES;
    out[at] = MessageType.push;
    out[at + 1] = len;
    out.set(data.subarray(from, from + len), at + 2);
  }
  return out;
}

export function winchPacket(size: WindowSize): Buffer {
  return withSize(packet(MessageType.winch, 0), size);
}

/**
 * What a client sends on connecting: ATTACH, then a REDRAW at its window size, so the shell (or
 * a full-screen program) repaints for this terminal instead of leaving a blank screen.
 */
export function attachPackets(size: WindowSize, method: number = RedrawMethod.winch): Buffer {
  return Buffer.concat([packet(MessageType.attach, 0), withSize(packet(MessageType.redraw, method), size)]);
}

export interface DecodedPacket {
  type: number;
  /** PUSH: the keystrokes. */
  data?: Buffer;
  /** WINCH and REDRAW: the window size; REDRAW: the method too. */
  size?: WindowSize;
  method?: number;
}

/** Reads packets back (tests, and anyone checking what went to a master); a partial tail is an error. */
export function decodePackets(buffer: Buffer): DecodedPacket[] {
  if (buffer.length % PACKET_BYTES !== 0) throw new Error(`${buffer.length} bytes is not a whole number of ${PACKET_BYTES}-byte packets`);
  const out: DecodedPacket[] = [];
  for (let at = 0; at < buffer.length; at += PACKET_BYTES) {
    const type = buffer[at]!;
    const len = buffer[at + 1]!;
    if (type === MessageType.push) {
      out.push({ type, data: Buffer.from(buffer.subarray(at + 2, at + 2 + Math.min(len, PAYLOAD_BYTES))) });
    } else if (type === MessageType.winch || type === MessageType.redraw) {
      const size = { rows: buffer.readUInt16LE(at + 2), cols: buffer.readUInt16LE(at + 4) };
      out.push(type === MessageType.redraw ? { type, size, method: len } : { type, size });
    } else out.push({ type });
  }
  return out;
}
