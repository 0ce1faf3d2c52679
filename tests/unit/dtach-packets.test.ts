// dtach's client packets as the backend writes them: pure framing, no engine.
import { describe, expect, it } from 'vitest';
import {
  MessageType,
  PACKET_BYTES,
  RedrawMethod,
  attachPackets,
  decodePackets,
  pushPackets,
  winchPacket,
} from '../../sandbox-backend/provisioning/dtach-packets.ts';

describe('dtach packets', () => {
  it('are 10 bytes: type, length, and 8 bytes of payload', () => {
    expect([...pushPackets(Buffer.from('ls\r'))]).toEqual([MessageType.push, 3, 0x6c, 0x73, 0x0d, 0, 0, 0, 0, 0]);
  });

  it('split keystrokes into packets of at most 8, in order, in one buffer', () => {
    const text = 'echo hello, world\r';
    const packets = pushPackets(Buffer.from(text));
    expect(packets.length).toBe(3 * PACKET_BYTES);
    const decoded = decodePackets(packets);
    expect(decoded.map((p) => p.data?.length)).toEqual([8, 8, 2]);
    expect(Buffer.concat(decoded.map((p) => p.data!)).toString()).toBe(text);
  });

  it('carry every byte value unchanged, including NUL and bytes that look like packet types', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(Buffer.concat(decodePackets(pushPackets(all)).map((p) => p.data!))).toEqual(all);
    expect(pushPackets(Buffer.alloc(0)).length).toBe(0);
  });

  it('put the window size in struct winsize order (rows, then columns), little-endian', () => {
    const packet = winchPacket({ cols: 300, rows: 41 });
    expect([...packet]).toEqual([MessageType.winch, 0, 41, 0, 0x2c, 0x01, 0, 0, 0, 0]);
    expect(decodePackets(packet)).toEqual([{ type: MessageType.winch, size: { cols: 300, rows: 41 } }]);
  });

  it('keep impossible sizes inside what a winsize holds', () => {
    expect(decodePackets(winchPacket({ cols: 0, rows: 70_000 }))[0]!.size).toEqual({ cols: 1, rows: 0xffff });
  });

  it('attach, then ask for a SIGWINCH redraw at the new size', () => {
    expect(decodePackets(attachPackets({ cols: 100, rows: 30 }))).toEqual([
      { type: MessageType.attach },
      { type: MessageType.redraw, size: { cols: 100, rows: 30 }, method: RedrawMethod.winch },
    ]);
  });

  it('refuse to decode a partial packet', () => {
    expect(() => decodePackets(Buffer.alloc(15))).toThrow(/whole number/);
  });
});
