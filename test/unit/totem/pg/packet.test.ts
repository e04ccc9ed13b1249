// Goal: the totempg packet codec (src/totem/pg/packet.ts) reads and writes the layout of
// corosync-wire.md §5.1 and rejects exactly what corosync ignores: shorter than 8 bytes,
// shorter than 8 + 2c, or not exactly 8 + 2c + Σ len bytes.
// Method: a hand-built packet checked byte by byte, then one bad packet per rule.

import { describe, expect, it } from '@jest/globals';
import { AssertionError } from '../../../../src/base/assert';
import { decodePgPacket, encodePgPacket, type PgPacket } from '../../../../src/totem/pg/packet';
import { DecodeErrorCode } from '../../../../src/totem/wire/decode-error';

function decoded(bytes: Uint8Array): PgPacket {
  const r = decodePgPacket(bytes);
  if (!r.ok) throw new Error(`unexpected decode error: ${r.error.code} ${r.error.message}`);
  return r.value;
}

describe('totempg packet', () => {
  const sample: PgPacket = {
    version: 0,
    type: 0,
    fragmented: 2,
    continuation: 1,
    msgLens: [3, 2],
    data: Uint8Array.of(0xa1, 0xa2, 0xa3, 0xb1, 0xb2),
  };

  it('encodes the §5.1 layout little-endian', () => {
    expect(Array.from(encodePgPacket(sample))).toEqual([0, 0, 0, 0, 2, 1, 2, 0, 3, 0, 2, 0, 0xa1, 0xa2, 0xa3, 0xb1, 0xb2]);
  });

  it('decodes what it encodes, version and type as i16', () => {
    const p = decoded(encodePgPacket({ ...sample, version: -2, type: 0x1234 }));
    expect(p).toEqual({ ...sample, version: -2, type: 0x1234 });
  });

  it('accepts an empty packet with msg_count 0', () => {
    expect(decoded(new Uint8Array(8))).toEqual({ version: 0, type: 0, fragmented: 0, continuation: 0, msgLens: [], data: new Uint8Array(0) });
  });

  it('returns data as a view of the input', () => {
    const bytes = encodePgPacket(sample);
    const p = decoded(bytes);
    expect(p.data.buffer).toBe(bytes.buffer);
    expect(p.data.byteOffset).toBe(12);
  });

  it('rejects packets shorter than the header', () => {
    const r = decodePgPacket(new Uint8Array(7));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.truncated);
  });

  it('rejects packets too short for their length array', () => {
    const bytes = encodePgPacket(sample).subarray(0, 11);
    const r = decodePgPacket(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.truncated);
  });

  it('rejects packets whose lengths do not account for every byte exactly', () => {
    const full = encodePgPacket(sample);
    for (const bytes of [full.subarray(0, full.length - 1), Uint8Array.of(...full, 0)]) {
      const r = decodePgPacket(bytes);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.badLength);
    }
  });

  it('decodes from a view with a non-zero offset', () => {
    const inner = encodePgPacket(sample);
    const outer = new Uint8Array(inner.length + 5);
    outer.set(inner, 5);
    expect(decoded(outer.subarray(5))).toEqual(sample);
  });

  it('asserts on packets our own code must never build', () => {
    expect(() => encodePgPacket({ ...sample, msgLens: [3, 3] })).toThrow(AssertionError);
    expect(() => encodePgPacket({ ...sample, fragmented: 256 })).toThrow(AssertionError);
    expect(() => encodePgPacket({ ...sample, msgLens: [0x10000], data: new Uint8Array(0x10000) })).toThrow(AssertionError);
  });
});
