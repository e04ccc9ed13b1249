// Goal: the CPG exec message codec (src/services/cpg/cpg-messages.ts) writes corosync
// 3.1.7's layouts byte for byte (corosync-wire.md §8, Appendix A/B), reads only the
// meaningful bytes (names up to `length`, DOWNLIST entries up to `left_nodes`, no pads,
// no source.conn), and turns every inconsistency between the header's `size`, the
// message's fields and its real length into a DecodeError instead of over-reading.

import { describe, expect, it } from '@jest/globals';
import {
  CPG_NAME_MAX,
  CpgFn,
  CpgPartialType,
  CpgReason,
  CpgSize,
  cpgFnOf,
  cpgNamesEqual,
  decodeCpgMessage,
  encodeCpgMessage,
  encodeDownList,
  encodeJoinList,
  encodeMcast,
  encodeMcastSegments,
  encodePartialMcastSegments,
  encodeProcJoin,
  encodeProcLeave,
  isValidCpgName,
  type CpgMessage,
} from '../../../src/services/cpg/cpg-messages';
import { DecodeErrorCode } from '../../../src/totem/wire/decode-error';

const enc = new TextEncoder();
const name = (s: string) => enc.encode(s);

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function decodeOk(bytes: Uint8Array): CpgMessage {
  const r = decodeCpgMessage(bytes);
  if (!r.ok) throw r.error;
  return r.value;
}

function decodeErr(bytes: Uint8Array): string {
  const r = decodeCpgMessage(bytes);
  if (r.ok) throw new Error(`decoded: ${JSON.stringify(r.value)}`);
  return r.error.code;
}

function u32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value, true);
  return bytes;
}

describe('layouts (Appendix A / B)', () => {
  it('PROCJOIN for pid 1234, group "g" is the 168 bytes of the worked example', () => {
    const b = encodeProcJoin({ group: name('g'), pid: 1234 });
    expect(b.length).toBe(168);
    expect(hex(b.subarray(0, 16))).toBe('00 00 02 00 00 00 00 00 a8 00 00 00 00 00 00 00');
    expect(hex(b.subarray(16, 25))).toBe('01 00 00 00 00 00 00 00 67');
    expect(b.subarray(25, 152).every((x) => x === 0)).toBe(true);
    expect(hex(b.subarray(152, 168))).toBe('d2 04 00 00 00 00 00 00 01 00 00 00 00 00 00 00');
  });

  it('PROCLEAVE is id 0x00020001 with the given reason', () => {
    const b = encodeProcLeave({ group: name('capture-demo'), pid: 7427, reason: CpgReason.leave });
    const v = new DataView(b.buffer);
    expect([v.getInt32(0, true), v.getInt32(8, true), v.getUint32(16, true), v.getUint32(152, true), v.getUint32(160, true)]).toEqual([0x00020001, 168, 12, 7427, 2]);
    expect(decodeOk(b)).toEqual({ type: 'procleave', group: name('capture-demo'), pid: 7427, reason: 2 });
  });

  it('MCAST is 184 + n: msglen @152, pid @160, source nodeid @168, conn zero, payload @184; two pieces', () => {
    const payload = name('COROSYNC-UDPU-TESTVECTOR hello #0 from node 1');
    const [h, p] = encodeMcastSegments({ group: name('capture-demo'), pid: 7427, sourceNodeId: 1, payload });
    expect(h.length).toBe(CpgSize.mcastHeader);
    expect(p).toBe(payload);
    const b = encodeMcast({ group: name('capture-demo'), pid: 7427, sourceNodeId: 1, payload });
    expect(b.length).toBe(229);
    const v = new DataView(b.buffer);
    expect([v.getInt32(0, true), v.getInt32(8, true), v.getUint32(152, true), v.getUint32(160, true), v.getUint32(168, true)]).toEqual([0x00020003, 229, 45, 7427, 1]);
    expect(v.getBigUint64(176, true)).toBe(0n);
    expect(decodeOk(b)).toEqual({ type: 'mcast', group: name('capture-demo'), pid: 7427, sourceNodeId: 1, payload });
  });

  it('PARTIAL_MCAST is 200 + n: msglen @152, fraglen @160, pid @168, type @176, source @184', () => {
    const [h, p] = encodePartialMcastSegments({ group: name('g'), pid: 9, msgLen: 10, partType: CpgPartialType.continued, sourceNodeId: 4, payload: name('abc') });
    const b = new Uint8Array([...h, ...p]);
    const v = new DataView(b.buffer);
    expect(b.length).toBe(203);
    expect([v.getInt32(0, true), v.getInt32(8, true), v.getUint32(152, true), v.getUint32(160, true), v.getUint32(168, true), v.getUint32(176, true), v.getUint32(184, true)]).toEqual([
      0x00020006, 203, 10, 3, 9, 2, 4,
    ]);
    expect(decodeOk(b)).toEqual({ type: 'partial-mcast', group: name('g'), pid: 9, msgLen: 10, partType: 2, sourceNodeId: 4, payload: name('abc') });
  });

  it('DOWNLIST is 1568 bytes: old_members @16, left_nodes @24, nodeids @32, the rest zero', () => {
    const b = encodeDownList({ oldMembers: 3, leftNodes: [3] });
    const v = new DataView(b.buffer);
    expect(b.length).toBe(1568);
    expect([v.getInt32(0, true), v.getInt32(8, true), v.getUint32(16, true), v.getUint32(24, true), v.getUint32(32, true)]).toEqual([0x00020005, 1568, 3, 1, 3]);
    expect(b.subarray(36).every((x) => x === 0)).toBe(true);
    expect(decodeOk(b)).toEqual({ type: 'downlist', oldMembers: 3, leftNodes: [3] });
  });

  it('DOWNLIST reads only the first left_nodes entries (stale entries after them are junk)', () => {
    const b = encodeDownList({ oldMembers: 2, leftNodes: [] });
    u32(b, 32, 3);
    expect(decodeOk(b)).toEqual({ type: 'downlist', oldMembers: 2, leftNodes: [] });
  });

  it('DOWNLIST_OLD (1560: left_nodes @16, nodeids @24) decodes', () => {
    const b = new Uint8Array(CpgSize.downListOld);
    u32(b, 0, 0x00020004);
    u32(b, 8, 1560);
    u32(b, 16, 2);
    u32(b, 24, 5);
    u32(b, 28, 6);
    expect(decodeOk(b)).toEqual({ type: 'downlist-old', leftNodes: [5, 6] });
  });

  it('JOINLIST is a 24-byte response header plus 144-byte entries (pid @0, name @8)', () => {
    const b = encodeJoinList([
      { pid: 7421, group: name('capture-demo') },
      { pid: 7422, group: name('x') },
    ]);
    const v = new DataView(b.buffer);
    expect(b.length).toBe(24 + 2 * 144);
    expect([v.getInt32(0, true), v.getInt32(8, true), v.getInt32(16, true), v.getUint32(24, true), v.getUint32(32, true), v.getUint32(168, true)]).toEqual([
      0x00020002, 312, 0, 7421, 12, 7422,
    ]);
    expect(decodeOk(b)).toEqual({
      type: 'joinlist',
      error: 0,
      entries: [
        { pid: 7421, group: name('capture-demo') },
        { pid: 7422, group: name('x') },
      ],
    });
    expect(decodeOk(encodeJoinList([]))).toEqual({ type: 'joinlist', error: 0, entries: [] });
  });

  it('encodeCpgMessage and cpgFnOf agree with the per-type encoders', () => {
    const msgs: Array<Exclude<CpgMessage, { type: 'downlist-old' }>> = [
      { type: 'procjoin', group: name('a'), pid: 1, reason: 1 },
      { type: 'procleave', group: name('a'), pid: 1, reason: 5 },
      { type: 'mcast', group: name('a'), pid: 1, sourceNodeId: 2, payload: name('x') },
      { type: 'partial-mcast', group: name('a'), pid: 1, msgLen: 5, partType: 1, sourceNodeId: 2, payload: name('x') },
      { type: 'downlist', oldMembers: 0, leftNodes: [] },
      { type: 'joinlist', error: -6, entries: [{ pid: 1, group: name('a') }] },
    ];
    for (const m of msgs) {
      const b = encodeCpgMessage(m);
      expect(decodeOk(b)).toEqual(m);
      expect(new DataView(b.buffer).getInt32(0, true) & 0xffff).toBe(cpgFnOf(m));
    }
    expect(Object.values(CpgFn)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});

describe('names', () => {
  it('uses only `length` bytes: junk after the name and in pads is ignored', () => {
    const b = encodeProcJoin({ group: name('asterisk'), pid: 1 });
    b.fill(0xaa, 24 + 8, 152);
    b.fill(0x55, 20, 24);
    b.fill(0x77, 156, 160);
    b.fill(0x77, 4, 8);
    const m = decodeOk(b);
    expect(m).toEqual({ type: 'procjoin', group: name('asterisk'), pid: 1, reason: 1 });
  });

  it('accepts 0..128 bytes on receipt, rejects 129 or more', () => {
    expect(decodeOk(u32(encodeProcJoin({ group: name('g'), pid: 1 }), 16, 0))).toMatchObject({ group: new Uint8Array(0) });
    expect(decodeOk(encodeProcJoin({ group: new Uint8Array(CPG_NAME_MAX).fill(0x41), pid: 1 }))).toMatchObject({ group: new Uint8Array(128).fill(0x41) });
    expect(decodeErr(u32(encodeProcJoin({ group: name('g'), pid: 1 }), 16, 129))).toBe(DecodeErrorCode.badField);
    expect(decodeErr(u32(encodeMcast({ group: name('g'), pid: 1, sourceNodeId: 1, payload: name('x') }), 16, 0xffffffff))).toBe(DecodeErrorCode.badField);
    expect(decodeErr(u32(encodeJoinList([{ pid: 1, group: name('g') }]), 32, 200))).toBe(DecodeErrorCode.badField);
  });

  it('validates names for sending and compares them like mar_name_compare', () => {
    expect(isValidCpgName(new Uint8Array(0))).toBe(false);
    expect(isValidCpgName(new Uint8Array(128))).toBe(true);
    expect(isValidCpgName(new Uint8Array(129))).toBe(false);
    expect(cpgNamesEqual(name('ab'), name('ab'))).toBe(true);
    expect(cpgNamesEqual(name('ab'), name('abc'))).toBe(false);
    expect(() => encodeProcJoin({ group: new Uint8Array(129), pid: 1 })).toThrow();
  });
});

describe('trust nothing', () => {
  it('rejects a size that differs from the real length, in either direction', () => {
    const b = encodeProcJoin({ group: name('g'), pid: 1 });
    expect(decodeErr(u32(b.slice(), 8, 167))).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(u32(b.slice(), 8, 169))).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(u32(b.slice(), 8, 0x7fffffff))).toBe(DecodeErrorCode.badLength);
  });

  it('rejects fixed-size messages of another length even with a matching size', () => {
    const b = new Uint8Array(200);
    b.set(encodeProcJoin({ group: name('g'), pid: 1 }));
    u32(b, 8, 200);
    expect(decodeErr(b)).toBe(DecodeErrorCode.badLength);
    const d = new Uint8Array(1000);
    d.set(encodeDownList({ oldMembers: 0, leftNodes: [] }).subarray(0, 1000));
    u32(d, 8, 1000);
    expect(decodeErr(d)).toBe(DecodeErrorCode.truncated);
  });

  it('rejects an MCAST whose msglen disagrees with its size', () => {
    const b = encodeMcast({ group: name('g'), pid: 1, sourceNodeId: 1, payload: name('hello') });
    expect(decodeErr(u32(b.slice(), 152, 6))).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(u32(b.slice(), 152, 4))).toBe(DecodeErrorCode.badLength);
  });

  it('rejects PARTIAL_MCAST with a wrong fraglen, fraglen > msglen, or a type outside 1..3', () => {
    const [h, p] = encodePartialMcastSegments({ group: name('g'), pid: 1, msgLen: 10, partType: 1, sourceNodeId: 1, payload: name('abc') });
    const b = new Uint8Array([...h, ...p]);
    expect(decodeErr(u32(b.slice(), 160, 2))).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(u32(b.slice(), 152, 2))).toBe(DecodeErrorCode.badField);
    expect(decodeErr(u32(b.slice(), 176, 0))).toBe(DecodeErrorCode.badField);
    expect(decodeErr(u32(b.slice(), 176, 4))).toBe(DecodeErrorCode.badField);
  });

  it('rejects a JOINLIST body that is not whole entries and a left_nodes above 384', () => {
    const j = new Uint8Array(24 + 100);
    u32(j, 0, 0x00020002);
    u32(j, 8, 124);
    expect(decodeErr(j)).toBe(DecodeErrorCode.badLength);
    expect(decodeErr(u32(encodeDownList({ oldMembers: 0, leftNodes: [] }), 24, 385))).toBe(DecodeErrorCode.badField);
    const old = new Uint8Array(1560);
    u32(old, 0, 0x00020004);
    u32(old, 8, 1560);
    u32(old, 16, 385);
    expect(decodeErr(old)).toBe(DecodeErrorCode.badField);
  });

  it('rejects other services, unknown functions and short input', () => {
    expect(decodeErr(new Uint8Array(0))).toBe(DecodeErrorCode.truncated);
    expect(decodeErr(new Uint8Array(15))).toBe(DecodeErrorCode.truncated);
    const b = encodeProcJoin({ group: name('g'), pid: 1 });
    expect(decodeErr(u32(b.slice(), 0, 0x00050000))).toBe(DecodeErrorCode.badType);
    expect(decodeErr(u32(b.slice(), 0, 0x00020007))).toBe(DecodeErrorCode.badType);
    expect(decodeErr(u32(b.slice(), 0, 0xffff0000))).toBe(DecodeErrorCode.badType);
    const short = new Uint8Array(100);
    u32(short, 0, 0x00020003);
    u32(short, 8, 100);
    expect(decodeErr(short)).toBe(DecodeErrorCode.truncated);
  });

  it('decodes a message at a non-zero offset of a larger buffer', () => {
    const inner = encodeMcast({ group: name('g'), pid: 7, sourceNodeId: 1, payload: name('xyz') });
    const outer = new Uint8Array(inner.length + 13);
    outer.set(inner, 5);
    expect(decodeOk(outer.subarray(5, 5 + inner.length))).toMatchObject({ type: 'mcast', pid: 7, payload: name('xyz') });
  });
});
