// Goal: CmapStore (src/services/cmap/cmap-store.ts) follows corosync 3.1.7's icmap.c:
// typed values with range checks, key-name rules, the 16 KiB value limit, type changes on
// set, no notification for an identical value, tracks (ADD / MODIFY / DELETE / PREFIX)
// with old and new values, read-only access for clients, adjust with wrap-around,
// iteration in key order; and formatCmapEntry prints what corosync-cmapctl prints.
// Method: example-based tests; the model-based property test is
// test/property/cmap.property.test.ts.

import { describe, expect, it } from '@jest/globals';
import {
  CMAP_VALUE_MAX_BYTES,
  CmapError,
  CmapErrorCode,
  CmapStore,
  type CmapTrackEvent,
  type CmapValue,
  CsError,
  cmapTrackEventCode,
  cmapTrackFlagsFromMask,
  cmapTrackMask,
  cmapValueBytes,
  cmapValueFromBytes,
  cmapValueTypeOfCode,
  cmapValuesEqual,
  formatCmapEntry,
  formatPrintfFixed6,
  isValidCmapKey,
  toValidCmapKey,
  validateCmapValue,
} from '../../../src/services/cmap/cmap-store';

function code(r: { ok: true } | { ok: false; error: CmapError }): string {
  return r.ok ? 'ok' : r.error.code;
}

function recorder(store: CmapStore, key: string, flags: Parameters<CmapStore['track']>[1]) {
  const events: CmapTrackEvent[] = [];
  const handle = store.track(key, flags, (e) => events.push(e));
  return { events, handle };
}

const all = { add: true, modify: true, delete: true } as const;

describe('values', () => {
  it('accepts each type within its range and rejects outside it', () => {
    const cases: Array<[CmapValue['type'], unknown, unknown]> = [
      ['int8', -128, 128],
      ['int8', 127, -129],
      ['uint8', 255, -1],
      ['int16', -32768, 32768],
      ['uint16', 65535, 65536],
      ['int32', -2147483648, 2147483648],
      ['uint32', 4294967295, 1.5],
      ['int64', -(1n << 63n), 1n << 63n],
      ['uint64', (1n << 64n) - 1n, -1n],
      ['uint64', 0n, 5],
      ['uint32', 0, 5n],
      ['double', Number.NaN, 1n],
      ['string', 'text', 'a\0b'],
      ['binary', new Uint8Array([0, 1]), [0, 1]],
    ];
    for (const [type, good, bad] of cases) {
      expect(validateCmapValue({ type, value: good }).ok).toBe(true);
      const r = validateCmapValue({ type, value: bad });
      expect(r.ok ? 'ok' : r.error.code).toBe(CmapErrorCode.type);
    }
    expect(code(validateCmapValue({ type: 'char', value: 1 }))).toBe(CmapErrorCode.type);
    expect(code(validateCmapValue({ type: 'string', value: 'x\uD800' }))).toBe(CmapErrorCode.type);
  });

  it('stores float as float32 and copies binary', () => {
    const store = new CmapStore();
    store.set('a.float', { type: 'float', value: 0.1 });
    expect(store.get('a.float')).toEqual({ type: 'float', value: Math.fround(0.1) });
    const bytes = new Uint8Array([1, 2, 3]);
    store.set('a.bin', { type: 'binary', value: bytes });
    bytes[0] = 9;
    const got = store.get('a.bin');
    expect(got).toEqual({ type: 'binary', value: new Uint8Array([1, 2, 3]) });
    if (got?.type === 'binary') got.value[1] = 9;
    expect(store.get('a.bin')).toEqual({ type: 'binary', value: new Uint8Array([1, 2, 3]) });
  });

  it('limits values to 16 KiB (strings counted in UTF-8 bytes)', () => {
    const store = new CmapStore();
    expect(code(store.set('a.s', { type: 'string', value: 'x'.repeat(CMAP_VALUE_MAX_BYTES) }))).toBe('ok');
    expect(code(store.set('a.s', { type: 'string', value: 'x'.repeat(CMAP_VALUE_MAX_BYTES + 1) }))).toBe(CmapErrorCode.tooBig);
    expect(code(store.set('a.u', { type: 'string', value: 'é'.repeat(CMAP_VALUE_MAX_BYTES / 2 + 1) }))).toBe(CmapErrorCode.tooBig);
    expect(code(store.set('a.b', { type: 'binary', value: new Uint8Array(CMAP_VALUE_MAX_BYTES + 1) }))).toBe(CmapErrorCode.tooBig);
    expect(store.get('a.s')).toEqual({ type: 'string', value: 'x'.repeat(CMAP_VALUE_MAX_BYTES) });
  });

  it('encodes values as icmap stores them (little-endian, strings with their NUL) and back', () => {
    expect(Array.from(cmapValueBytes({ type: 'uint64', value: 0x0102n }))).toEqual([2, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(cmapValueBytes({ type: 'int16', value: -2 }))).toEqual([0xfe, 0xff]);
    expect(Array.from(cmapValueBytes({ type: 'string', value: 'ab' }))).toEqual([0x61, 0x62, 0]);
    const values: CmapValue[] = [
      { type: 'int8', value: -5 }, { type: 'uint8', value: 200 }, { type: 'int16', value: -300 }, { type: 'uint16', value: 60000 },
      { type: 'int32', value: -7 }, { type: 'uint32', value: 4000000000 }, { type: 'int64', value: -9n }, { type: 'uint64', value: 1n << 63n },
      { type: 'float', value: 1.5 }, { type: 'double', value: Math.PI }, { type: 'string', value: 'héllo' }, { type: 'binary', value: new Uint8Array([0, 255]) },
    ];
    values.forEach((v, i) => {
      expect(cmapValueTypeOfCode(i + 1)).toBe(v.type);
      expect(cmapValueFromBytes(i + 1, cmapValueBytes(v))).toEqual(v);
    });
    expect(cmapValueFromBytes(0, new Uint8Array())).toBeUndefined();
    expect(cmapValueFromBytes(13, new Uint8Array())).toBeUndefined();
    expect(cmapValueFromBytes(8, new Uint8Array(4))).toBeUndefined();
    expect(cmapValueFromBytes(11, new Uint8Array([0x61, 0, 0x62]))).toEqual({ type: 'string', value: 'a' });
  });

  it('compares values as icmap does: same type and bytes', () => {
    expect(cmapValuesEqual({ type: 'double', value: Number.NaN }, { type: 'double', value: Number.NaN })).toBe(true);
    expect(cmapValuesEqual({ type: 'double', value: 0 }, { type: 'double', value: -0 })).toBe(false);
    expect(cmapValuesEqual({ type: 'uint8', value: 1 }, { type: 'int8', value: 1 })).toBe(false);
  });
});

describe('keys', () => {
  it('accepts 3..255 characters of [a-zA-Z0-9._/:-] for new keys', () => {
    expect(isValidCmapKey('abc')).toBe(true);
    expect(isValidCmapKey('a'.repeat(255))).toBe(true);
    expect(isValidCmapKey('Aa0._/:-')).toBe(true);
    for (const bad of ['ab', 'a'.repeat(256), 'a b', 'a.é', 'a,b', '']) expect(isValidCmapKey(bad)).toBe(false);
    const store = new CmapStore();
    const r = store.set('a b', { type: 'uint8', value: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(CmapError);
      expect(r.error.code).toBe(CmapErrorCode.invalidKey);
      expect(r.error.cs).toBe(CsError.nameTooLong);
      expect(r.error.key).toBe('a b');
    }
    expect(toValidCmapKey('node 1,é')).toBe('node_1__');
  });

  it('bounds the number of keys', () => {
    const store = new CmapStore({ maxKeys: 2 });
    expect(code(store.set('k.1', { type: 'uint8', value: 1 }))).toBe('ok');
    expect(code(store.set('k.2', { type: 'uint8', value: 1 }))).toBe('ok');
    const r = store.set('k.3', { type: 'uint8', value: 1 });
    expect(code(r)).toBe(CmapErrorCode.tooManyKeys);
    expect(code(store.set('k.2', { type: 'uint8', value: 2 }))).toBe('ok');
    store.delete('k.1');
    expect(code(store.set('k.3', { type: 'uint8', value: 1 }))).toBe('ok');
    expect(() => new CmapStore({ maxKeys: 0 })).toThrow();
  });
});

describe('set / get / delete', () => {
  it('creates, replaces (also with another type) and deletes', () => {
    const store = new CmapStore();
    expect(store.get('a.b')).toBeUndefined();
    expect(code(store.set('a.b', { type: 'uint32', value: 1 }))).toBe('ok');
    expect(code(store.set('a.b', { type: 'string', value: 'one' }))).toBe('ok');
    expect(store.get('a.b')).toEqual({ type: 'string', value: 'one' });
    expect(store.has('a.b')).toBe(true);
    expect(store.size).toBe(1);
    expect(code(store.delete('a.b'))).toBe('ok');
    expect(code(store.delete('a.b'))).toBe(CmapErrorCode.notExist);
    expect(store.size).toBe(0);
  });

  it('iterates in key order under a prefix', () => {
    const store = new CmapStore();
    for (const key of ['totem.token', 'totem.join', 'quorum.provider', 'totem.', 'totemx', 'a.b', 'totem.token_retransmit']) {
      store.set(key, { type: 'uint8', value: 1 });
    }
    expect(store.keys()).toEqual(['a.b', 'quorum.provider', 'totem.', 'totem.join', 'totem.token', 'totem.token_retransmit', 'totemx']);
    expect(store.keys('totem.')).toEqual(['totem.', 'totem.join', 'totem.token', 'totem.token_retransmit']);
    expect(store.keys('totem.token')).toEqual(['totem.token', 'totem.token_retransmit']);
    expect(store.keys('zzz')).toEqual([]);
    expect(store.iterate('quorum').map((e) => e.value)).toEqual([{ type: 'uint8', value: 1 }]);
  });

  it('adjust adds within the width, wrapping, keeping the type (icmap_adjust_int)', () => {
    const store = new CmapStore();
    store.set('n.i8', { type: 'int8', value: 127 });
    store.set('n.u8', { type: 'uint8', value: 0 });
    store.set('n.u32', { type: 'uint32', value: 0xffffffff });
    store.set('n.u64', { type: 'uint64', value: 0n });
    store.set('n.i64', { type: 'int64', value: (1n << 63n) - 1n });
    store.set('n.s', { type: 'string', value: 'x' });
    expect(code(store.adjust('n.i8', 1))).toBe('ok');
    expect(code(store.adjust('n.u8', -1))).toBe('ok');
    expect(code(store.adjust('n.u32', 2))).toBe('ok');
    expect(code(store.adjust('n.u64', -1))).toBe('ok');
    expect(code(store.adjust('n.i64', 1))).toBe('ok');
    expect(store.get('n.i8')).toEqual({ type: 'int8', value: -128 });
    expect(store.get('n.u8')).toEqual({ type: 'uint8', value: 255 });
    expect(store.get('n.u32')).toEqual({ type: 'uint32', value: 1 });
    expect(store.get('n.u64')).toEqual({ type: 'uint64', value: (1n << 64n) - 1n });
    expect(store.get('n.i64')).toEqual({ type: 'int64', value: -(1n << 63n) });
    expect(code(store.adjust('n.s', 1))).toBe(CmapErrorCode.type);
    expect(code(store.adjust('n.none', 1))).toBe(CmapErrorCode.notExist);
    expect(code(store.adjust('n.u8', 0.5))).toBe(CmapErrorCode.invalidParam);
  });
});

describe('tracks', () => {
  it('reports add, modify and delete with old and new values', () => {
    const store = new CmapStore();
    const { events } = recorder(store, 'a.b', all);
    store.set('a.b', { type: 'uint8', value: 1 });
    store.set('a.b', { type: 'uint16', value: 1 });
    store.delete('a.b');
    expect(events).toEqual([
      { type: 'add', key: 'a.b', newValue: { type: 'uint8', value: 1 }, oldValue: undefined },
      { type: 'modify', key: 'a.b', newValue: { type: 'uint16', value: 1 }, oldValue: { type: 'uint8', value: 1 } },
      { type: 'delete', key: 'a.b', newValue: undefined, oldValue: { type: 'uint16', value: 1 } },
    ]);
  });

  it('does not notify when the value is identical (type and bytes)', () => {
    const store = new CmapStore();
    const { events } = recorder(store, 'a.', { ...all, prefix: true });
    store.set('a.n', { type: 'double', value: Number.NaN });
    store.set('a.n', { type: 'double', value: Number.NaN });
    store.set('a.s', { type: 'string', value: 'x' });
    store.set('a.s', { type: 'string', value: 'x' });
    store.set('a.b', { type: 'binary', value: new Uint8Array([1]) });
    store.set('a.b', { type: 'binary', value: new Uint8Array([1]) });
    store.set('a.z', { type: 'double', value: 0 });
    store.set('a.z', { type: 'double', value: -0 });
    expect(events.map((e) => [e.type, e.key])).toEqual([['add', 'a.n'], ['add', 'a.s'], ['add', 'a.b'], ['add', 'a.z'], ['modify', 'a.z']]);
  });

  it('filters by event kind; an exact track ignores other keys; a prefix track sees keys created later', () => {
    const store = new CmapStore();
    store.set('totem.token', { type: 'uint32', value: 1 });
    const adds = recorder(store, 'totem.', { add: true, prefix: true });
    const mods = recorder(store, 'totem.token', { modify: true });
    const dels = recorder(store, 'totem.token', { delete: true, prefix: true });
    const exactPrefixText = recorder(store, 'totem.', all);
    store.set('totem.token', { type: 'uint32', value: 2 });
    store.set('totem.join', { type: 'uint32', value: 50 });
    store.set('totem.token_retransmit', { type: 'uint32', value: 5 });
    store.delete('totem.token_retransmit');
    store.delete('totem.token');
    store.set('quorum.x', { type: 'uint8', value: 1 });
    expect(adds.events.map((e) => e.key)).toEqual(['totem.join', 'totem.token_retransmit']);
    expect(mods.events.map((e) => [e.type, e.newValue?.value])).toEqual([['modify', 2]]);
    expect(dels.events.map((e) => e.key)).toEqual(['totem.token_retransmit', 'totem.token']);
    expect(exactPrefixText.events).toEqual([]);
  });

  it('a track with an empty prefix sees everything; tracks fire in the order they were added', () => {
    const store = new CmapStore();
    const order: number[] = [];
    store.track('a.b', { add: true }, () => order.push(1));
    store.track('', { add: true, prefix: true }, () => order.push(2));
    store.track('a.', { add: true, prefix: true }, () => order.push(3));
    store.track('a.b', { add: true }, () => order.push(4));
    store.set('a.b', { type: 'uint8', value: 1 });
    expect(order).toEqual([1, 2, 3, 4]);
    expect(store.trackCount).toBe(4);
  });

  it('stop() ends a track, is idempotent, and works from inside a callback', () => {
    const store = new CmapStore();
    const seen: string[] = [];
    const second = { stop: () => undefined } as { stop(): void };
    const first = store.track('k.', { add: true, modify: true, prefix: true }, (e) => {
      seen.push(`1:${e.type}`);
      second.stop();
    });
    const h2 = store.track('k.', { add: true, modify: true, prefix: true }, (e) => seen.push(`2:${e.type}`));
    second.stop = () => h2.stop();
    store.set('k.a', { type: 'uint8', value: 1 });
    expect(seen).toEqual(['1:add']);
    expect(h2.stopped).toBe(true);
    first.stop();
    first.stop();
    expect(first.stopped).toBe(true);
    store.set('k.a', { type: 'uint8', value: 2 });
    expect(seen).toEqual(['1:add']);
    expect(store.trackCount).toBe(0);
  });

  it('a listener may change the store; its changes notify in turn', () => {
    const store = new CmapStore();
    const seen: string[] = [];
    store.track('x.', { add: true, modify: true, prefix: true }, (e) => {
      seen.push(`${e.type} ${e.key}`);
      if (e.key === 'x.a') store.set('x.mirror', { type: 'uint8', value: (e.newValue?.value as number) + 1 });
    });
    store.set('x.a', { type: 'uint8', value: 1 });
    expect(seen).toEqual(['add x.a', 'add x.mirror']);
    expect(store.get('x.mirror')).toEqual({ type: 'uint8', value: 2 });
  });

  it('a throwing listener does not stop the others; the first error is rethrown after the change', () => {
    const store = new CmapStore();
    const seen: number[] = [];
    store.track('t.x', { add: true }, () => {
      throw new Error('boom');
    });
    store.track('t.x', { add: true }, () => seen.push(2));
    expect(() => store.set('t.x', { type: 'uint8', value: 1 })).toThrow('boom');
    expect(seen).toEqual([2]);
    expect(store.get('t.x')).toEqual({ type: 'uint8', value: 1 });
  });

  it('gives each listener its own copy of binary values', () => {
    const store = new CmapStore();
    store.track('b.x', { add: true }, (e) => {
      if (e.newValue?.type === 'binary') e.newValue.value[0] = 7;
    });
    const { events } = recorder(store, 'b.x', { add: true });
    store.set('b.x', { type: 'binary', value: new Uint8Array([1]) });
    expect(events[0]!.newValue).toEqual({ type: 'binary', value: new Uint8Array([1]) });
    expect(store.get('b.x')).toEqual({ type: 'binary', value: new Uint8Array([1]) });
  });

  it('converts CMAP_TRACK_* masks', () => {
    expect(cmapTrackFlagsFromMask(4 | 8)).toEqual({ ok: true, value: { add: true, modify: false, delete: false, prefix: true } });
    expect(cmapTrackFlagsFromMask(16).ok).toBe(false);
    expect(cmapTrackMask({ add: true, modify: true, delete: true, prefix: true })).toBe(15);
    expect([cmapTrackEventCode('add'), cmapTrackEventCode('modify'), cmapTrackEventCode('delete')]).toEqual([4, 2, 1]);
  });
});

describe('read-only access (icmap_set_ro_access)', () => {
  it('refuses client writes to marked keys and prefixes; internal writes pass', () => {
    const store = new CmapStore();
    store.setReadOnly('nodelist.', true);
    store.setReadOnly('totem.nodeid', false);
    expect(store.isReadOnly('nodelist.node.0.ring0_addr')).toBe(true);
    expect(store.isReadOnly('totem.nodeid')).toBe(true);
    expect(store.isReadOnly('totem.nodeid_x')).toBe(false);
    expect(code(store.set('totem.nodeid', { type: 'uint32', value: 1 }))).toBe('ok');
    const r = store.set('totem.nodeid', { type: 'uint32', value: 1 }, { client: true });
    expect(code(r)).toBe(CmapErrorCode.readOnly);
    if (!r.ok) expect(r.error.cs).toBe(CsError.access);
    expect(code(store.delete('totem.nodeid', { client: true }))).toBe(CmapErrorCode.readOnly);
    expect(code(store.adjust('totem.nodeid', 1, { client: true }))).toBe(CmapErrorCode.readOnly);
    expect(code(store.set('nodelist.x', { type: 'uint32', value: 1 }, { client: true }))).toBe(CmapErrorCode.readOnly);
    expect(code(store.set('totem.token', { type: 'uint32', value: 1 }, { client: true }))).toBe('ok');
    store.setReadOnly('totem.nodeid', false, false);
    expect(code(store.delete('totem.nodeid', { client: true }))).toBe('ok');
  });
});

describe('formatCmapEntry (corosync-cmapctl)', () => {
  it('prints `key (type) = value` for each type', () => {
    const lines: Array<[CmapValue, string]> = [
      [{ type: 'int8', value: -1 }, 'k.x (i8) = -1'],
      [{ type: 'uint8', value: 1 }, 'k.x (u8) = 1'],
      [{ type: 'int16', value: -2 }, 'k.x (i16) = -2'],
      [{ type: 'uint16', value: 2 }, 'k.x (u16) = 2'],
      [{ type: 'int32', value: -3 }, 'k.x (i32) = -3'],
      [{ type: 'uint32', value: 3000 }, 'k.x (u32) = 3000'],
      [{ type: 'int64', value: -(1n << 63n) }, 'k.x (i64) = -9223372036854775808'],
      [{ type: 'uint64', value: (1n << 64n) - 1n }, 'k.x (u64) = 18446744073709551615'],
      [{ type: 'float', value: 1.25 }, 'k.x (flt) = 1.250000'],
      [{ type: 'double', value: 0.1 }, 'k.x (dbl) = 0.100000'],
      [{ type: 'string', value: 'corosync_votequorum' }, 'k.x (str) = corosync_votequorum'],
      [{ type: 'string', value: '' }, 'k.x (str) = '],
      [{ type: 'binary', value: new Uint8Array([0x41, 0x5c, 0x0a, 0xe9]) }, 'k.x (bin)'],
    ];
    for (const [value, line] of lines) expect(formatCmapEntry('k.x', value)).toBe(line);
    expect(formatCmapEntry('runtime.members.1.ip', { type: 'string', value: 'r(0) ip(10.250.0.1) ' })).toBe('runtime.members.1.ip (str) = r(0) ip(10.250.0.1) ');
  });

  it('prints binary with -b as print_binary_key does', () => {
    expect(formatCmapEntry('k.b', { type: 'binary', value: new Uint8Array([0x41, 0x5c, 0x0a, 0xe9]) }, { showBinary: true })).toBe('k.b (bin) = A\\\\\\x0A\\xFFFFFFE9');
    expect(formatCmapEntry('k.b', { type: 'binary', value: new Uint8Array() }, { showBinary: true })).toBe('k.b (bin) = *empty*');
  });

  it('formats %f exactly, ties to even, like glibc', () => {
    expect(formatPrintfFixed6(0)).toBe('0.000000');
    expect(formatPrintfFixed6(-0)).toBe('-0.000000');
    expect(formatPrintfFixed6(-1e-9)).toBe('-0.000000');
    expect(formatPrintfFixed6(1 / 128)).toBe('0.007812'); // exact tie 0.0078125 → even
    expect(formatPrintfFixed6(3 / 128)).toBe('0.023438'); // exact tie 0.0234375 → even
    expect(formatPrintfFixed6(2.5e-7)).toBe('0.000000');
    expect(formatPrintfFixed6(123456.7890125)).toBe('123456.789012');
    expect(formatPrintfFixed6(1e21)).toBe('1000000000000000000000.000000');
    expect(formatPrintfFixed6(Number.MAX_VALUE).startsWith('179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.000000')).toBe(true);
    expect(formatPrintfFixed6(5e-324)).toBe('0.000000');
    expect(formatPrintfFixed6(Number.POSITIVE_INFINITY)).toBe('inf');
    expect(formatPrintfFixed6(Number.NEGATIVE_INFINITY)).toBe('-inf');
    expect(formatPrintfFixed6(Number.NaN)).toBe('nan');
    expect(formatPrintfFixed6(Math.fround(0.1))).toBe('0.100000');
    expect(formatPrintfFixed6(Math.fround(3.3))).toBe('3.300000');
  });
});
