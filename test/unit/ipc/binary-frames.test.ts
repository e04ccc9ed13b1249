// Binary CPG frames of the IPC protocol (src/ipc/binary-frames.ts): layouts, strict
// parsing, and the stream reader that mixes them with NDJSON lines.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CPG_MCAST_RESULTS,
  FRAME_HEADER_BYTES,
  FrameType,
  GroupNameCodec,
  IpcStreamReader,
  encodeCpgDeliverFrame,
  encodeCpgMcastFrame,
  encodeCpgMcastResultFrame,
  joinOutput,
  parseCpgDeliverFrame,
  parseCpgMcastFrame,
  parseCpgMcastResultFrame,
} from '../../../src/ipc/binary-frames';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const body = (frame: Buffer): Buffer => frame.subarray(FRAME_HEADER_BYTES);

type Item = { kind: 'line'; text: string } | { kind: 'frame'; type: number; hex: string } | { kind: 'tooLong'; bytes: number };

function read(chunks: Buffer[], options: { frames?: boolean; bytesMax?: number; stopAfter?: number } = {}): Item[] {
  const items: Item[] = [];
  const reader = new IpcStreamReader(options.bytesMax ?? 1024, () => options.frames ?? true);
  const more = (): boolean => options.stopAfter === undefined || items.length < options.stopAfter;
  const sink = {
    line: (bytes: Buffer): boolean => {
      items.push({ kind: 'line', text: bytes.toString('utf8') });
      return more();
    },
    frame: (type: number, b: Buffer): boolean => {
      items.push({ kind: 'frame', type, hex: b.toString('hex') });
      return more();
    },
    tooLong: (bytes: number): void => {
      items.push({ kind: 'tooLong', bytes });
    },
  };
  for (const chunk of chunks) reader.feed(chunk, sink);
  return items;
}

describe('binary CPG frames', () => {
  it('cpg-mcast: header, little-endian fields, seq flag, group and payload', () => {
    const frame = encodeCpgMcastFrame(0x01020304, 7, utf8('asterisk'), Buffer.from([0xaa, 0xbb]), 0xfffffffe);
    expect(frame.subarray(0, FRAME_HEADER_BYTES).toString('hex')).toBe(`00${'01'}${(14 + 8 + 2).toString(16).padStart(2, '0')}000000`);
    expect(body(frame).toString('hex')).toBe(`04030201${'07000000'}${'feffffff'}01${'08'}${utf8('asterisk').toString('hex')}aabb`);
    const parsed = parseCpgMcastFrame(body(frame));
    expect(parsed.ok && { ...parsed.value, groupBytes: Buffer.from(parsed.value.groupBytes).toString(), payload: Buffer.from(parsed.value.payload).toString('hex') }).toEqual({
      id: 0x01020304,
      handle: 7,
      seq: 0xfffffffe,
      groupBytes: 'asterisk',
      payload: 'aabb',
    });
    const noSeq = parseCpgMcastFrame(body(encodeCpgMcastFrame(1, 2, utf8('g'), new Uint8Array(0))));
    expect(noSeq.ok && [noSeq.value.seq, noSeq.value.payload.length]).toEqual([undefined, 0]);
  });

  it('cpg-mcast-result and cpg-deliver round-trip', () => {
    for (const result of CPG_MCAST_RESULTS) {
      expect(parseCpgMcastResultFrame(body(encodeCpgMcastResultFrame(99, result)))).toEqual({ ok: true, value: { id: 99, result } });
    }
    const deliver = parseCpgDeliverFrame(body(encodeCpgDeliverFrame(3, 0xffffffff, 4242, utf8('grüppe'), utf8('hello'))));
    expect(deliver.ok && { ...deliver.value, groupBytes: Buffer.from(deliver.value.groupBytes).toString(), payload: Buffer.from(deliver.value.payload).toString() }).toEqual({
      handle: 3,
      nodeId: 0xffffffff,
      pid: 4242,
      groupBytes: 'grüppe',
      payload: 'hello',
    });
  });

  it('encoders refuse fields a frame cannot carry (a caller bug)', () => {
    expect(() => encodeCpgMcastFrame(2 ** 32, 1, utf8('g'), new Uint8Array(0))).toThrow(RangeError);
    expect(() => encodeCpgMcastFrame(1, -1, utf8('g'), new Uint8Array(0))).toThrow(RangeError);
    expect(() => encodeCpgMcastFrame(1, 1, new Uint8Array(0), new Uint8Array(0))).toThrow(/1\.\.128 bytes/);
    expect(() => encodeCpgMcastFrame(1, 1, new Uint8Array(129), new Uint8Array(0))).toThrow(/1\.\.128 bytes/);
    expect(() => encodeCpgDeliverFrame(1, 1, 1.5, utf8('g'), new Uint8Array(0))).toThrow(/pid/);
    expect(() => encodeCpgMcastResultFrame(1, 'nonsense' as never)).toThrow(/unknown mcast result/);
  });

  it('parsers reject malformed bodies with a message, and keep the id when there is one', () => {
    const good = body(encodeCpgMcastFrame(5, 1, utf8('group'), utf8('x'), 1));
    const bad = (mutate: (b: Buffer) => Buffer): ReturnType<typeof parseCpgMcastFrame> => parseCpgMcastFrame(mutate(Buffer.from(good)));
    expect(bad((b) => b.subarray(0, 3))).toMatchObject({ ok: false, error: { id: null } });
    expect(bad((b) => b.subarray(0, 10))).toMatchObject({ ok: false, error: { id: 5 } });
    expect(bad((b) => ((b[12] = 0x03), b))).toMatchObject({ ok: false, error: { id: 5, message: expect.stringMatching(/unknown flags/) } });
    expect(bad((b) => (b.writeUInt32LE(0, 4), b))).toMatchObject({ ok: false, error: { message: expect.stringMatching(/handle/) } });
    expect(bad((b) => ((b[13] = 0), b))).toMatchObject({ ok: false, error: { message: expect.stringMatching(/1\.\.128 bytes, got 0/) } });
    expect(bad((b) => ((b[13] = 200), b))).toMatchObject({ ok: false, error: { message: expect.stringMatching(/got 200/) } });
    expect(bad((b) => ((b[13] = 100), b))).toMatchObject({ ok: false, error: { message: expect.stringMatching(/ends inside the group/) } });
    expect(parseCpgMcastResultFrame(Buffer.from('0100000009', 'hex'))).toEqual({ ok: false, error: 'cpg-mcast-result: unknown result code 9' });
    expect(parseCpgMcastResultFrame(Buffer.alloc(4)).ok).toBe(false);
    expect(parseCpgDeliverFrame(Buffer.alloc(12)).ok).toBe(false);
    const deliver = body(encodeCpgDeliverFrame(1, 1, 1, utf8('g'), new Uint8Array(0)));
    deliver[12] = 5;
    expect(parseCpgDeliverFrame(deliver)).toEqual({ ok: false, error: 'cpg-deliver: the body ends inside the group name (14 bytes)' });
  });
});

describe('IpcStreamReader', () => {
  const mcast = encodeCpgMcastFrame(1, 2, utf8('g'), utf8('payload\nwith a newline'), 3);
  const deliver = encodeCpgDeliverFrame(1, 2, 3, utf8('g'), Buffer.from([0, 0x0a, 0]));
  const stream = Buffer.concat([utf8('{"a":1}\n'), mcast, utf8('{"b":2}\r\n'), deliver, deliver, utf8('\n{"c":3}\n')]);
  const expected: Item[] = [
    { kind: 'line', text: '{"a":1}' },
    { kind: 'frame', type: FrameType.cpgMcast, hex: body(mcast).toString('hex') },
    { kind: 'line', text: '{"b":2}\r' },
    { kind: 'frame', type: FrameType.cpgDeliver, hex: body(deliver).toString('hex') },
    { kind: 'frame', type: FrameType.cpgDeliver, hex: body(deliver).toString('hex') },
    { kind: 'line', text: '' },
    { kind: 'line', text: '{"c":3}' },
  ];

  it('cuts lines and frames (newlines and NULs inside frames are data)', () => {
    expect(read([stream])).toEqual(expected);
  });

  it('gives the same items however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...[...cuts].sort((a, b) => a - b), stream.length];
        const chunks = points.slice(1).map((end, i) => stream.subarray(points[i] as number, end));
        expect(read(chunks)).toEqual(expected);
      }),
    );
    expect(read([...stream].map((byte) => Buffer.from([byte])))).toEqual(expected);
  });

  it('without frames a NUL is just the start of a line', () => {
    expect(read([Buffer.from([0, 0x41, 0x0a])], { frames: false })).toEqual([{ kind: 'line', text: '\u0000A' }]);
  });

  it('a NUL inside a line does not start a frame', () => {
    expect(read([Buffer.from([0x41, 0, 0x0a])])).toEqual([{ kind: 'line', text: 'A\u0000' }]);
  });

  it('stops at a line or frame body above bytesMax, and reads nothing after it', () => {
    expect(read([utf8('x'.repeat(11)), utf8('\n{}\n')], { bytesMax: 10 })).toEqual([{ kind: 'tooLong', bytes: 11 }]);
    const big = encodeCpgMcastFrame(1, 1, utf8('g'), new Uint8Array(100));
    expect(read([big.subarray(0, 7), big.subarray(7), utf8('{}\n')], { bytesMax: 64 })).toEqual([{ kind: 'tooLong', bytes: 115 }]);
  });

  it('stops when the sink says so', () => {
    expect(read([stream], { stopAfter: 2 })).toEqual(expected.slice(0, 2));
  });
});

describe('GroupNameCodec', () => {
  it('converts group names both ways, remembering the last, and refuses bytes that are not UTF-8', () => {
    const codec = new GroupNameCodec();
    const bytes = codec.encode('grüppe');
    expect(bytes.toString('hex')).toBe(Buffer.from('grüppe').toString('hex'));
    expect(codec.encode('grüppe')).toBe(bytes);
    expect(codec.decode(Buffer.from('grüppe'))).toBe('grüppe');
    expect(codec.decode(Buffer.from('other'))).toBe('other');
    expect(codec.decode(Buffer.from([0xff, 0xfe]))).toBeNull();
    expect(codec.decode(Buffer.from('other'))).toBe('other');
  });
});

describe('joinOutput', () => {
  it('one item as is, lines joined as text, lines and frames as one Buffer in order', () => {
    const frame = Buffer.from([0, 2, 5, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(joinOutput(['a\n'])).toBe('a\n');
    expect(joinOutput([frame])).toBe(frame);
    expect(joinOutput(['a\n', 'b\n'])).toBe('a\nb\n');
    expect(joinOutput(['a\n', frame, 'é\n'])).toEqual(Buffer.concat([Buffer.from('a\n'), frame, Buffer.from('é\n')]));
  });
});
