/**
 * The output of a non-TTY exec: the engine multiplexes stdout and stderr on one connection, each
 * frame an 8-byte header (stream type, three zero bytes, payload length big-endian) and its
 * payload. dockerode's demuxStream ignores backpressure and copies the unread rest on every
 * frame; this transform passes payloads on as views of the chunks the socket delivered, and when
 * its reader pauses, the engine connection is paused behind it (and so is the program inside).
 */
import { Transform, type TransformCallback } from 'node:stream';

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

export interface ExecOutputOptions {
  /** Also pass stderr on, in order with stdout (as a TTY would show it). */
  mergeStderr?: boolean;
  /** Sees every stderr payload (for logs), merged or not. */
  onStderr?: (chunk: Buffer) => void;
}

export class ExecOutputDemux extends Transform {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerBytes = 0;
  private frameType = 0;
  /** Payload bytes of the current frame not yet seen. */
  private remaining = 0;

  constructor(private readonly options: ExecOutputOptions = {}) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0) {
        // A header may be split across chunks: gather its 8 bytes first.
        const take = Math.min(HEADER_BYTES - this.headerBytes, chunk.length - at);
        chunk.copy(this.header, this.headerBytes, at, at + take);
        this.headerBytes += take;
        at += take;
        if (this.headerBytes < HEADER_BYTES) break;
        this.headerBytes = 0;
        this.frameType = this.header[0]!;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      const payload = chunk.subarray(at, at + take);
      at += take;
      this.remaining -= take;
      if (this.frameType === STDOUT) this.push(payload);
      else if (this.frameType === STDERR) {
        this.options.onStderr?.(payload);
        if (this.options.mergeStderr) this.push(payload);
      }
    }
    done();
  }
}
