// Splitting a non-TTY exec's multiplexed output: pure stream logic, no engine.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ExecOutputDemux } from '../../sandbox-backend/engine/exec-output.ts';

function frame(type: number, payload: string | Buffer): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

async function run(chunks: Buffer[], options?: ConstructorParameters<typeof ExecOutputDemux>[0]): Promise<string> {
  const demux = new ExecOutputDemux(options);
  Readable.from(chunks).pipe(demux);
  const out: Buffer[] = [];
  for await (const chunk of demux) out.push(chunk as Buffer);
  return Buffer.concat(out).toString();
}

describe('exec output demultiplexing', () => {
  it('passes stdout on and keeps stderr apart', async () => {
    const stderr: string[] = [];
    const out = await run([Buffer.concat([frame(1, 'out-1 '), frame(2, 'err'), frame(1, 'out-2')])], { onStderr: (c) => stderr.push(c.toString()) });
    expect(out).toBe('out-1 out-2');
    expect(stderr).toEqual(['err']);
  });

  it('can merge stderr in order, as a TTY would show it', async () => {
    expect(await run([Buffer.concat([frame(1, 'a'), frame(2, 'b'), frame(1, 'c')])], { mergeStderr: true })).toBe('abc');
  });

  it('reassembles headers and payloads split anywhere, one byte at a time included', async () => {
    const stream = Buffer.concat([frame(1, 'hello '), frame(1, ''), frame(2, 'ignored'), frame(1, 'world')]);
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(await run(bytes)).toBe('hello world');
    for (let cut = 1; cut < stream.length; cut++) {
      expect(await run([stream.subarray(0, cut), stream.subarray(cut)])).toBe('hello world');
    }
  });

  it('carries binary payloads and large frames unchanged', async () => {
    const big = Buffer.alloc(200_000, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const stream = frame(1, big);
    const pieces = [stream.subarray(0, 5), stream.subarray(5, 70_000), stream.subarray(70_000)];
    const demux = new ExecOutputDemux();
    Readable.from(pieces).pipe(demux);
    const out: Buffer[] = [];
    for await (const chunk of demux) out.push(chunk as Buffer);
    expect(Buffer.concat(out).equals(big)).toBe(true);
  });
});
