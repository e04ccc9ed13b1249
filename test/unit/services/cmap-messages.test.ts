// Goal: the cmap MCAST codec (src/services/cmap/cmap-messages.ts) writes corosync-wire.md
// §9.2's layout byte for byte (48-byte header block, items of 280 bytes + value padded to
// 8, mar_name_t keys), decodes what it writes, reads the config version as cmap.c does,
// and never throws on any input.
// Method: hand-computed offsets for the NOT_EXIST, UINT64, string and multi-item cases;
// fast-check round trips and random / damaged bytes.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CMAP_CONFIG_VERSION_KEY,
  CMAP_MCAST_HEADER_BYTES,
  CMAP_MCAST_ID,
  CMAP_MCAST_ITEM_BYTES,
  type CmapMcast,
  CmapMcastReason,
  cmapMcastConfigVersion,
  cmapMcastItem,
  cmapMcastItemSize,
  cmapMcastItemValue,
  decodeCmapMcast,
  encodeCmapMcast,
  encodeCmapMcastPieces,
  findCmapMcastItem,
} from '../../../src/services/cmap/cmap-messages';
import { DecodeError } from '../../../src/totem/wire/decode-error';

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decode(bytes: Uint8Array) {
  const d = decodeCmapMcast(bytes);
  if (!d.ok) throw d.error;
  return d.value;
}

describe('encode', () => {
  it('writes the 328-byte SYNC message of a node without totem.config_version', () => {
    const pieces = encodeCmapMcastPieces({ reason: CmapMcastReason.sync, items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, undefined)] });
    expect(pieces.map((p) => p.length)).toEqual([48, 280]);
    const bytes = encodeCmapMcast({ reason: CmapMcastReason.sync, items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, undefined)] });
    expect(bytes.length).toBe(328);
    const v = view(bytes);
    expect(CMAP_MCAST_ID).toBe(0);
    expect([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true), v.getInt32(12, true)]).toEqual([0, 0, 328, 0]);
    expect([bytes[16], bytes[24], bytes[32], bytes[40]]).toEqual([0, 1, 0, 0]);
    expect(v.getUint16(48, true)).toBe(20);
    expect(new TextDecoder().decode(bytes.subarray(56, 76))).toBe('totem.config_version');
    expect(bytes[48 + 264]).toBe(0);
    expect(v.getBigUint64(48 + 272, true)).toBe(0n);
    const nonZero = [...bytes.keys()].filter((i) => bytes[i] !== 0);
    // size @8..9, no_items @24, key length @48, key text @56..75.
    expect(nonZero).toEqual([8, 9, 24, 48, ...Array.from({ length: 20 }, (_, i) => 56 + i)]);
  });

  it('writes a UINT64 value: 336 bytes, NEW_CONFIG_VERSION', () => {
    const bytes = encodeCmapMcast({
      reason: CmapMcastReason.newConfigVersion,
      items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, { type: 'uint64', value: 0x0102030405060708n })],
    });
    expect(bytes.length).toBe(336);
    const v = view(bytes);
    expect(v.getInt32(8, true)).toBe(336);
    expect(bytes[16]).toBe(1);
    expect(bytes[48 + 264]).toBe(8);
    expect(v.getBigUint64(48 + 272, true)).toBe(8n);
    expect(v.getBigUint64(48 + 280, true)).toBe(0x0102030405060708n);
    expect(cmapMcastConfigVersion(decode(bytes))).toBe(0x0102030405060708n);
  });

  it('pads items to 8 bytes and chains several', () => {
    expect([0, 1, 7, 8, 9].map(cmapMcastItemSize)).toEqual([280, 288, 288, 288, 296]);
    const m: CmapMcast = {
      reason: 0,
      items: [cmapMcastItem('a.key', { type: 'string', value: 'hello' }), cmapMcastItem('b.key', { type: 'uint8', value: 9 })],
    };
    const bytes = encodeCmapMcast(m);
    expect(bytes.length).toBe(48 + 288 + 288);
    expect(bytes[48 + 264]).toBe(11);
    expect(view(bytes).getBigUint64(48 + 272, true)).toBe(6n);
    expect(Array.from(bytes.subarray(48 + 280, 48 + 288))).toEqual([0x68, 0x65, 0x6c, 0x6c, 0x6f, 0, 0, 0]);
    expect(view(bytes).getUint16(48 + 288, true)).toBe(5);
    const d = decode(bytes);
    expect(d.items.map((i) => [i.key, cmapMcastItemValue(i)])).toEqual([
      ['a.key', { type: 'string', value: 'hello' }],
      ['b.key', { type: 'uint8', value: 9 }],
    ]);
    expect(findCmapMcastItem(d, 'b.key')?.valueType).toBe(2);
    expect(findCmapMcastItem(d, 'c.key')).toBeUndefined();
  });

  it('refuses (asserts on) messages corosync would not send', () => {
    const item = cmapMcastItem('k.x', undefined);
    expect(() => encodeCmapMcast({ reason: 0, items: Array.from({ length: 33 }, () => item) })).toThrow();
    expect(() => encodeCmapMcast({ reason: 256, items: [] })).toThrow();
    expect(() => encodeCmapMcast({ reason: 0, items: [cmapMcastItem('k'.repeat(256), undefined)] })).toThrow();
  });
});

describe('decode', () => {
  it('round-trips, keeping header fields', () => {
    const bytes = encodeCmapMcast({ reason: 1, items: [], reserved1: 3, reserved2: 4 });
    expect(decode(bytes)).toEqual({ id: 0, size: 48, reason: 1, items: [], reserved1: 3, reserved2: 4 });
  });

  it('rejects short headers and items or values past the end', () => {
    const good = encodeCmapMcast({ reason: 0, items: [cmapMcastItem('k.x', { type: 'uint64', value: 1n })] });
    for (const bytes of [good.subarray(0, 47), good.subarray(0, 48 + 279), good.subarray(0, 48 + 287)]) {
      const d = decodeCmapMcast(bytes);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error).toBeInstanceOf(DecodeError);
    }
    // The last item's padding may be missing: only the value must be there.
    expect(decodeCmapMcast(good.subarray(0, 48 + 288)).ok).toBe(true);
    const huge = good.slice();
    view(huge).setBigUint64(48 + 272, 1n << 63n, true);
    expect(decodeCmapMcast(huge).ok).toBe(false);
  });

  it('reads the key up to its NUL and keeps the length field', () => {
    const bytes = encodeCmapMcast({ reason: 0, items: [{ key: CMAP_CONFIG_VERSION_KEY, keyLength: 19, valueType: 8, value: new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0]) }] });
    const d = decode(bytes);
    expect(d.items[0]!.key).toBe(CMAP_CONFIG_VERSION_KEY);
    expect(d.items[0]!.keyLength).toBe(19);
    // cmap_mcast_item_find needs both the length and the text to match.
    expect(findCmapMcastItem(d, CMAP_CONFIG_VERSION_KEY)).toBeUndefined();
    expect(cmapMcastConfigVersion(d)).toBe(0n);
  });

  it('reads the config version as cmap.c does', () => {
    const withItem = (valueType: number, value: number[]) =>
      decode(encodeCmapMcast({ reason: 0, items: [{ key: CMAP_CONFIG_VERSION_KEY, valueType, value: new Uint8Array(value) }] }));
    expect(cmapMcastConfigVersion(withItem(0, []))).toBe(0n);
    expect(cmapMcastConfigVersion(withItem(8, [1, 2, 0, 0, 0, 0, 0, 0]))).toBe(0x0201n);
    expect(cmapMcastConfigVersion(withItem(8, [1, 2]))).toBe(0x0201n); // short: low bytes
    expect(cmapMcastConfigVersion(withItem(6, [9, 0, 0, 0]))).toBe(0n); // UINT32: ignored
    expect(cmapMcastConfigVersion(withItem(8, [1, 0, 0, 0, 0, 0, 0, 0, 7]))).toBe(1n); // long: first 8
    expect(cmapMcastConfigVersion({ reason: 0, items: [] })).toBe(0n);
  });

  it('round-trips any well-formed message', () => {
    const item = fc.record({
      key: fc.string({ unit: fc.constantFrom('a', 'b', '.', '_', 'Z', '9'), minLength: 1, maxLength: 255 }),
      valueType: fc.integer({ min: 0, max: 255 }),
      value: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.array(item, { maxLength: 32 }), (reason, items) => {
        const bytes = encodeCmapMcast({ reason, items });
        const d = decode(bytes);
        expect(d.size).toBe(bytes.length);
        expect(d.reason).toBe(reason);
        expect(d.items.map((i) => ({ key: i.key, valueType: i.valueType, value: i.value }))).toEqual(items);
        expect(encodeCmapMcast(d)).toEqual(bytes);
      }),
    );
  });

  it('never throws on random or damaged bytes', () => {
    const base = encodeCmapMcast({ reason: 0, items: [cmapMcastItem('k.a', { type: 'string', value: 'x' }), cmapMcastItem('k.b', undefined)] });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 700 }),
          fc.tuple(fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: base.length })).map(([at, b, cut]) => {
            const copy = base.slice(0, cut);
            if (at < copy.length) copy[at] = b;
            return copy;
          }),
        ),
        (bytes) => {
          const d = decodeCmapMcast(bytes);
          if (d.ok) cmapMcastConfigVersion(d.value);
          else expect(d.error).toBeInstanceOf(DecodeError);
        },
      ),
    );
  });
});

describe('layout constants', () => {
  it('match §9.2', () => {
    expect([CMAP_MCAST_HEADER_BYTES, CMAP_MCAST_ITEM_BYTES]).toEqual([48, 280]);
  });
});
