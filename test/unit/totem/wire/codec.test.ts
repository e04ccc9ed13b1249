// Goal: the totemsrp codec produces and accepts exactly corosync 3.1.7's packed
// little-endian layouts (corosync-wire.md §1, §2.2–§2.7, Appendix A/B) and rejects
// malformed datagrams with the right DecodeError instead of throwing.
// Method: byte-level checks against the spec's worked examples and offset tables,
// size formulas per type, and one hand-made bad datagram per validation rule.

import { describe, expect, it } from '@jest/globals';
import { AssertionError } from '../../../../src/base/assert';
import { decodeMessage, encodedLength, encodeMessage, peekMessageType } from '../../../../src/totem/wire/codec';
import { DecodeError, DecodeErrorCode } from '../../../../src/totem/wire/decode-error';
import {
  type CommitToken,
  type Join,
  type Mcast,
  type MergeDetect,
  MessageType,
  type OrfToken,
  type TokenHoldCancel,
  type TotemMessage,
  WireLimits,
} from '../../../../src/totem/wire/messages';

function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function decodeOk(bytes: Uint8Array): TotemMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw new Error(`unexpected decode error: ${r.error.code} ${r.error.message}`);
  return r.value;
}

function decodeErr(bytes: Uint8Array): DecodeError {
  const r = decodeMessage(bytes);
  if (r.ok) throw new Error(`expected a decode error, got ${r.value.type}`);
  expect(r.error).toBeInstanceOf(DecodeError);
  return r.error;
}

function u32At(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}

function withU32(b: Uint8Array, off: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(off, v >>> 0, true);
  return c;
}

const ring = { rep: 1, seq: 0x141n };

const orf: OrfToken = {
  type: 'orf-token',
  nodeId: 2,
  targetNodeId: 0x01000000,
  seq: 0x11111111,
  tokenSeq: 0x22222222,
  aru: 0x33333333,
  aruAddr: 3,
  ringId: { rep: 0x44444444, seq: 0x5555555566666666n },
  backlog: 0x77777777,
  fcc: 0x08080808,
  retransFlg: 1,
  rtrList: [
    { ringId: { rep: 9, seq: 0x0a0b0c0d0e0f1011n }, seq: 0x12131415 },
    { ringId: ring, seq: 7 },
  ],
};

const mcast: Mcast = {
  type: 'mcast',
  nodeId: 3,
  targetNodeId: 0,
  encapsulated: 2,
  systemFrom: 3,
  seq: 0x0a,
  thisSeqno: -2,
  ringId: ring,
  nodeIdField: 0,
  guarantee: 1,
  payload: new Uint8Array([1, 2, 3]),
};

const mergeDetect: MergeDetect = {
  type: 'merge-detect',
  nodeId: 1,
  targetNodeId: 0xdeadbeef,
  systemFrom: 1,
  ringId: ring,
};

const join: Join = {
  type: 'join',
  nodeId: 2,
  targetNodeId: 0,
  systemFrom: 2,
  ringSeq: 0x145n,
  procList: [1, 2, 3],
  failedList: [3],
};

const commit: CommitToken = {
  type: 'commit-token',
  nodeId: 1,
  targetNodeId: 0,
  tokenSeq: 1,
  ringId: { rep: 1, seq: 0x145n },
  retransFlg: 0,
  membIndex: 1,
  addr: [1, 2],
  membList: [
    { ringId: ring, aru: 5, highDelivered: 6, receivedFlg: 1 },
    { ringId: { rep: 0, seq: 0n }, aru: 0, highDelivered: 0, receivedFlg: 0 },
  ],
};

const holdCancel: TokenHoldCancel = { type: 'token-hold-cancel', nodeId: 2, targetNodeId: 0, ringId: ring };

const samples: readonly TotemMessage[] = [orf, mcast, mergeDetect, join, commit, holdCancel];

describe('Appendix A worked examples', () => {
  it('encodes MEMB_JOIN from node 1, alone, ring seq 5 as the exact 37 bytes', () => {
    const expected = hex(`
      70 C0 03 03 00  01 00 00 00  00 00 00 00
      01 00 00 00
      01 00 00 00  00 00 00 00
      05 00 00 00 00 00 00 00
      01 00 00 00`);
    const m: Join = {
      type: 'join',
      nodeId: 1,
      targetNodeId: 0,
      systemFrom: 1,
      ringSeq: 5n,
      procList: [1],
      failedList: [],
    };
    const bytes = encodeMessage(m);
    expect(bytes.byteLength).toBe(37);
    expect(toHex(bytes)).toBe(toHex(expected));
    expect(decodeOk(expected)).toEqual(m);
  });

  it('lays out the MCAST header of the CPG PROCJOIN datagram (228 bytes = 45 + 8 + 2 + 173)', () => {
    // totempg packet: version 0, type 0, fragmented 0, continuation 0, msg_count 1, msg_len 173.
    const totempg = hex('00 00 00 00 00 00 01 00 AD 00');
    const group = hex('01 00 01 00 61');
    const exec = new Uint8Array(168);
    const ev = new DataView(exec.buffer);
    ev.setUint32(0, 0x00020000, true); // id: cpg PROCJOIN
    ev.setUint32(8, 168, true); // size
    ev.setUint32(16, 1, true); // group name length
    exec[24] = 0x67; // "g"
    ev.setUint32(152, 1234, true); // pid
    ev.setUint32(160, 1, true); // reason JOIN
    const payload = new Uint8Array(totempg.length + group.length + exec.length);
    payload.set(totempg, 0);
    payload.set(group, totempg.length);
    payload.set(exec, totempg.length + group.length);
    const m: Mcast = {
      type: 'mcast',
      nodeId: 3,
      targetNodeId: 0,
      encapsulated: 2,
      systemFrom: 3,
      seq: 0x17,
      thisSeqno: 0x2a,
      ringId: { rep: 1, seq: 0x145n },
      nodeIdField: 0,
      guarantee: 0,
      payload,
    };
    const bytes = encodeMessage(m);
    expect(bytes.byteLength).toBe(228);
    expect(toHex(bytes.subarray(0, 45))).toBe(
      toHex(
        hex(`70 C0 03 01 02  03 00 00 00  00 00 00 00  03 00 00 00
             17 00 00 00  2A 00 00 00  01 00 00 00  45 01 00 00 00 00 00 00
             00 00 00 00  00 00 00 00`),
      ),
    );
    expect(toHex(bytes.subarray(45, 60))).toBe('00 00 00 00 00 00 01 00 ad 00 01 00 01 00 61');
    const back = decodeOk(bytes);
    expect(back).toEqual(m);
  });
});

describe('size formulas (Appendix B)', () => {
  it.each([0, 1, 2, 30])('ORF token with %i rtr items is 57 + 16·n bytes', (n) => {
    const m: OrfToken = { ...orf, rtrList: Array.from({ length: n }, (_, i) => ({ ringId: ring, seq: i })) };
    expect(encodeMessage(m).byteLength).toBe(57 + 16 * n);
    expect(encodedLength(m)).toBe(57 + 16 * n);
  });

  it.each([0, 1, 1410])('MCAST with a %i-byte payload is 45 + payload bytes', (n) => {
    const m: Mcast = { ...mcast, payload: new Uint8Array(n).fill(0xab) };
    expect(encodeMessage(m).byteLength).toBe(45 + n);
  });

  it('MERGE_DETECT is 29 bytes and TOKEN_HOLD_CANCEL 25', () => {
    expect(encodeMessage(mergeDetect).byteLength).toBe(29);
    expect(encodeMessage(holdCancel).byteLength).toBe(25);
  });

  it.each([
    [0, 0],
    [1, 0],
    [3, 1],
    [384, 384],
  ])('MEMB_JOIN with %i proc and %i failed entries is 33 + 4·(p+f) bytes', (p, f) => {
    const m: Join = {
      ...join,
      procList: Array.from({ length: p }, (_, i) => i + 1),
      failedList: Array.from({ length: f }, (_, i) => i + 100),
    };
    expect(encodeMessage(m).byteLength).toBe(33 + 4 * (p + f));
  });

  it.each([0, 1, 3, 384])('MEMB_COMMIT_TOKEN with %i members is 41 + 28·n bytes', (n) => {
    const m: CommitToken = {
      ...commit,
      membIndex: 0,
      addr: Array.from({ length: n }, (_, i) => i + 1),
      membList: Array.from({ length: n }, () => ({ ringId: ring, aru: 1, highDelivered: 2, receivedFlg: 1 })),
    };
    expect(encodeMessage(m).byteLength).toBe(41 + 28 * n);
  });
});

describe('field offsets (§2.2–§2.7)', () => {
  it('writes the common header at offsets 0..12 and 0 in `encapsulated` for non-MCAST types', () => {
    for (const m of samples) {
      const b = encodeMessage(m);
      expect([b[0], b[1], b[2]]).toEqual([0x70, 0xc0, 3]);
      expect(b[3]).toBe(MessageType[({
        'orf-token': 'orfToken',
        mcast: 'mcast',
        'merge-detect': 'mergeDetect',
        join: 'join',
        'commit-token': 'commitToken',
        'token-hold-cancel': 'tokenHoldCancel',
      } as const)[m.type]]);
      expect(b[4]).toBe(m.type === 'mcast' ? m.encapsulated : 0);
      expect(u32At(b, 5)).toBe(m.nodeId);
      expect(u32At(b, 9)).toBe(m.targetNodeId);
    }
  });

  it('ORF token fields', () => {
    const b = encodeMessage(orf);
    expect(toHex(b.subarray(13))).toBe(
      toHex(
        hex(`11 11 11 11  22 22 22 22  33 33 33 33  03 00 00 00
             44 44 44 44  66 66 66 66 55 55 55 55
             77 77 77 77  08 08 08 08  01 00 00 00  02 00 00 00
             09 00 00 00  11 10 0f 0e 0d 0c 0b 0a  15 14 13 12
             01 00 00 00  41 01 00 00 00 00 00 00  07 00 00 00`),
      ),
    );
  });

  it('MCAST fields, i32 fields in two\'s complement', () => {
    const b = encodeMessage({ ...mcast, thisSeqno: -1, guarantee: -2, nodeIdField: 5 });
    expect(toHex(b.subarray(13, 45))).toBe(
      toHex(hex('03 00 00 00  0a 00 00 00  ff ff ff ff  01 00 00 00 41 01 00 00 00 00 00 00  05 00 00 00  fe ff ff ff')),
    );
    expect(toHex(b.subarray(45))).toBe('01 02 03');
  });

  it('MERGE_DETECT and TOKEN_HOLD_CANCEL fields', () => {
    expect(toHex(encodeMessage(mergeDetect).subarray(13))).toBe(toHex(hex('01 00 00 00  01 00 00 00 41 01 00 00 00 00 00 00')));
    expect(toHex(encodeMessage(holdCancel).subarray(13))).toBe(toHex(hex('01 00 00 00 41 01 00 00 00 00 00 00')));
  });

  it('MEMB_JOIN fields: counts, u64 ring seq, proc list then failed list', () => {
    expect(toHex(encodeMessage(join).subarray(13))).toBe(
      toHex(hex(`02 00 00 00  03 00 00 00  01 00 00 00  45 01 00 00 00 00 00 00
                 01 00 00 00  02 00 00 00  03 00 00 00  03 00 00 00`)),
    );
  });

  it('a LEAVE is a MEMB_JOIN with header nodeid 0 (§3.12)', () => {
    const leave: Join = { ...join, nodeId: 0, procList: [1, 3], failedList: [2] };
    const b = encodeMessage(leave);
    expect(u32At(b, 5)).toBe(0);
    expect(decodeOk(b)).toEqual(leave);
  });

  it('MEMB_COMMIT_TOKEN fields: addr array, then 24-byte member entries', () => {
    expect(toHex(encodeMessage(commit).subarray(13))).toBe(
      toHex(
        hex(`01 00 00 00  01 00 00 00 45 01 00 00 00 00 00 00  00 00 00 00  01 00 00 00  02 00 00 00
             01 00 00 00  02 00 00 00
             01 00 00 00 41 01 00 00 00 00 00 00  05 00 00 00  06 00 00 00  01 00 00 00
             00 00 00 00 00 00 00 00 00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`),
      ),
    );
  });
});

describe('round trip', () => {
  it.each(samples.map((m) => [m.type, m] as const))('%s decodes to the same message', (_name, m) => {
    const b = encodeMessage(m);
    expect(decodeOk(b)).toEqual(m);
    expect(toHex(encodeMessage(decodeOk(b)))).toBe(toHex(b));
  });

  it('reads from a view with a non-zero byteOffset (Node buffer pool slices)', () => {
    for (const m of samples) {
      const b = encodeMessage(m);
      const big = new Uint8Array(b.byteLength + 7);
      big.set(b, 3);
      expect(decodeOk(big.subarray(3, 3 + b.byteLength))).toEqual(m);
    }
  });

  it('an encapsulated MCAST carries a complete inner MCAST as payload (§2.3)', () => {
    const inner = encodeMessage(mcast);
    const outer: Mcast = { ...mcast, encapsulated: 1, nodeId: 1, systemFrom: 1, seq: 1, ringId: { rep: 1, seq: 0x149n }, payload: inner };
    const b = encodeMessage(outer);
    expect(b.byteLength).toBe(45 + 45 + 3);
    expect(b[4]).toBe(1);
    const back = decodeOk(b);
    expect(back.type === 'mcast' && back.encapsulated).toBe(1);
    if (back.type !== 'mcast') return;
    expect(decodeOk(back.payload)).toEqual(mcast);
  });

  it('the MCAST payload is everything after byte 45', () => {
    const b = encodeMessage(mcast);
    const longer = new Uint8Array(b.byteLength + 4);
    longer.set(b);
    const back = decodeOk(longer);
    expect(back.type === 'mcast' && Array.from(back.payload)).toEqual([1, 2, 3, 0, 0, 0, 0]);
  });

  it('accepts trailing bytes after the declared layout for the other types, as corosync does', () => {
    for (const m of samples.filter((s) => s.type !== 'mcast')) {
      const b = encodeMessage(m);
      const longer = new Uint8Array(b.byteLength + 5).fill(0xee);
      longer.set(b);
      expect(decodeOk(longer)).toEqual(m);
    }
  });

  it('ignores the `encapsulated` header byte of non-MCAST types (corosync never reads it)', () => {
    const b = encodeMessage(join);
    b[4] = 7;
    expect(decodeOk(b)).toEqual(join);
  });
});

describe('header validation (§1.2)', () => {
  const good = encodeMessage(holdCancel);

  it.each([0, 1, 12])('rejects a %i-byte datagram as truncated', (n) => {
    const e = decodeErr(good.subarray(0, n));
    expect(e.code).toBe(DecodeErrorCode.truncated);
  });

  it('reports a byte-swapped magic as a foreign-endian sender', () => {
    const b = good.slice();
    b[0] = 0xc0;
    b[1] = 0x70;
    expect(decodeErr(b).code).toBe(DecodeErrorCode.foreignEndian);
  });

  it.each([
    [0xff, 0xff],
    [0xfe, 0xfe],
    [0x01, 0x00],
  ])('rejects other magics (%i, %i) as bad magic', (b0, b1) => {
    const b = good.slice();
    b[0] = b0;
    b[1] = b1;
    expect(decodeErr(b).code).toBe(DecodeErrorCode.badMagic);
  });

  it.each([0, 2, 4, 255])('rejects version %i', (v) => {
    const b = good.slice();
    b[2] = v;
    expect(decodeErr(b).code).toBe(DecodeErrorCode.badVersion);
  });

  it.each([6, 7, 255])('rejects type %i', (t) => {
    const b = good.slice();
    b[3] = t;
    expect(decodeErr(b).code).toBe(DecodeErrorCode.badType);
  });

  it('rejects datagrams larger than UDP_RECEIVE_FRAME_SIZE_MAX', () => {
    const b = new Uint8Array(WireLimits.datagramBytesMax + 1);
    b.set(encodeMessage(mcast));
    expect(decodeErr(b).code).toBe(DecodeErrorCode.tooLarge);
    // One byte less is a well-formed header but still too large for an MCAST frame.
    expect(decodeErr(b.subarray(0, WireLimits.datagramBytesMax)).code).toBe(DecodeErrorCode.tooLarge);
    const orfBig = new Uint8Array(WireLimits.datagramBytesMax);
    orfBig.set(encodeMessage(orf));
    expect(decodeOk(orfBig)).toEqual(orf);
  });

  it('peekMessageType returns the type code after header validation only', () => {
    expect(peekMessageType(encodeMessage(commit))).toEqual({ ok: true, value: 4 });
    expect(peekMessageType(encodeMessage(join).subarray(0, 13))).toEqual({ ok: true, value: 3 });
    const r = peekMessageType(new Uint8Array(5));
    expect(!r.ok && r.error.code).toBe(DecodeErrorCode.truncated);
  });
});

describe('per-type length and field validation (§2)', () => {
  it.each([
    ['orf-token', 57, orf],
    ['mcast', 45, mcast],
    ['merge-detect', 29, mergeDetect],
    ['join', 33, join],
    ['commit-token', 41, commit],
    ['token-hold-cancel', 25, holdCancel],
  ] as const)('rejects a %s shorter than its %i-byte base as truncated', (_n, base, m) => {
    const b = encodeMessage(m);
    const e = decodeErr(b.subarray(0, base - 1));
    expect(e.code).toBe(DecodeErrorCode.truncated);
    expect(() => decodeMessage(b.subarray(0, base))).not.toThrow();
  });

  it('ORF token: rtr items must be present for rtr_list_entries', () => {
    const b = encodeMessage(orf);
    expect(decodeErr(b.subarray(0, 57 + 16)).code).toBe(DecodeErrorCode.badLength);
  });

  it.each([-1, 31, 0x7fffffff, -0x80000000])('ORF token: rtr_list_entries %i is rejected', (n) => {
    const b = new Uint8Array(57 + 16 * 31);
    b.set(encodeMessage(orf));
    const e = decodeErr(withU32(b, 53, n));
    expect(e.code).toBe(DecodeErrorCode.badField);
    expect(e.offset).toBe(53);
  });

  it('ORF token: 30 rtr items is the maximum accepted', () => {
    const m: OrfToken = { ...orf, rtrList: Array.from({ length: 30 }, (_, i) => ({ ringId: ring, seq: i })) };
    expect(decodeOk(encodeMessage(m))).toEqual(m);
  });

  it('MCAST: encapsulated must be 1 or 2', () => {
    for (const v of [0, 3, 255]) {
      const b = encodeMessage(mcast);
      b[4] = v;
      expect(decodeErr(b).code).toBe(DecodeErrorCode.badField);
    }
  });

  it('MCAST: a datagram above FRAME_SIZE_MAX is too large', () => {
    const b = new Uint8Array(WireLimits.frameBytesMax + 1);
    b.set(encodeMessage(mcast));
    expect(decodeErr(b).code).toBe(DecodeErrorCode.tooLarge);
    expect(decodeOk(b.subarray(0, WireLimits.frameBytesMax)).type).toBe('mcast');
  });

  it('MEMB_JOIN: lists must fit the datagram', () => {
    const b = encodeMessage(join);
    expect(decodeErr(b.subarray(0, b.byteLength - 1)).code).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(withU32(b, 21, 2)).code).toBe(DecodeErrorCode.badLength);
  });

  it.each([
    [17, 385],
    [21, 385],
    [17, 0xffffffff],
    [21, 0x80000000],
  ])('MEMB_JOIN: entry count at offset %i = %i is rejected', (off, n) => {
    const b = new Uint8Array(40000);
    b.set(encodeMessage(join));
    const e = decodeErr(withU32(b, off, n));
    expect(e.code).toBe(DecodeErrorCode.badField);
    expect(e.offset).toBe(off);
  });

  it('MEMB_COMMIT_TOKEN: member entries must fit the datagram', () => {
    const b = encodeMessage(commit);
    expect(decodeErr(b.subarray(0, b.byteLength - 1)).code).toBe(DecodeErrorCode.badLength);
  });

  it.each([-1, 385, 0x7fffffff])('MEMB_COMMIT_TOKEN: addr_entries %i is rejected', (n) => {
    const b = new Uint8Array(41 + 28 * 385);
    b.set(encodeMessage(commit));
    const e = decodeErr(withU32(b, 37, n));
    expect(e.code).toBe(DecodeErrorCode.badField);
    expect(e.offset).toBe(37);
  });

  it.each([-1, 3])('MEMB_COMMIT_TOKEN: memb_index %i outside 0..addr_entries is rejected', (n) => {
    const e = decodeErr(withU32(encodeMessage(commit), 33, n));
    expect(e.code).toBe(DecodeErrorCode.badField);
    expect(e.offset).toBe(33);
  });
});

describe('encoder preconditions (programmer errors)', () => {
  it.each<[string, TotemMessage]>([
    ['31 rtr items', { ...orf, rtrList: Array.from({ length: 31 }, () => ({ ringId: ring, seq: 1 })) }],
    ['a negative u32', { ...mergeDetect, systemFrom: -1 }],
    ['a fractional u32', { ...holdCancel, nodeId: 1.5 }],
    ['a u32 overflow', { ...orf, seq: 2 ** 32 }],
    ['an i32 overflow', { ...mcast, guarantee: 2 ** 31 }],
    ['a negative ring seq', { ...holdCancel, ringId: { rep: 1, seq: -1n } }],
    ['a ring seq beyond u64', { ...join, ringSeq: 1n << 64n }],
    ['membList shorter than addr', { ...commit, membList: commit.membList.slice(1) }],
    ['memb index beyond addr', { ...commit, membIndex: 3 }],
    ['385 commit members', { ...commit, membIndex: 0, addr: new Array<number>(385).fill(1), membList: new Array(385).fill(commit.membList[0]) }],
    ['385 proc entries', { ...join, procList: new Array<number>(385).fill(1) }],
    ['encapsulated 0', { ...mcast, encapsulated: 0 as 1 }],
    ['an MCAST above FRAME_SIZE_MAX', { ...mcast, payload: new Uint8Array(WireLimits.frameBytesMax - 44) }],
  ])('asserts on %s', (_name, m) => {
    expect(() => encodeMessage(m)).toThrow(AssertionError);
  });
});
