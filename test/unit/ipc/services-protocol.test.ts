// Goal: the service methods of the IPC protocol (cpg.*, quorum.*, cmap.*) validate their
// params strictly (required members, types, ranges, nothing unknown) and cmap values
// survive the JSON form exactly (64-bit integers as decimal strings, binary as hex,
// non-finite floats as strings).
// Method: example tables, then a fast-check round trip of every cmap type.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { cmapValueFromJson, cmapValueToJson } from '../../../src/ipc/cmap-json';
import { IpcErrorCode, parseRequestLine } from '../../../src/ipc/protocol';
import { cmapValuesEqual, type CmapValue } from '../../../src/services/cmap/cmap-store';

function parse(method: string, params: object): ReturnType<typeof parseRequestLine> {
  return parseRequestLine(JSON.stringify({ id: 9, method, params }));
}

describe('service methods: accepted params', () => {
  it.each([
    ['cpg.initialize', {}],
    ['cpg.initialize', { pid: 4242 }],
    ['cpg.join', { handle: 1, group: 'asterisk' }],
    ['cpg.leave', { handle: 2, group: 'ü'.repeat(128) }],
    ['cpg.mcast', { handle: 1, group: 'g', payloadHex: '' }],
    ['cpg.mcast', { handle: 1, group: 'g', payloadHex: '00FFab' }],
    ['cpg.finalize', { handle: 3 }],
    ['cpg.membership', { group: 'g' }],
    ['cpg.groups', {}],
    ['quorum.status', {}],
    ['quorum.setExpected', { votes: 0 }],
    ['quorum.setVotes', { nodeId: 0, votes: 4294967295 }],
    ['cmap.get', { key: 'runtime.config.totem.token' }],
    ['cmap.set', { key: 'a.b', type: 'int8', value: -128 }],
    ['cmap.set', { key: 'a.b', type: 'uint64', value: '18446744073709551615' }],
    ['cmap.set', { key: 'a.b', type: 'binary', value: '' }],
    ['cmap.delete', { key: 'a.b' }],
    ['cmap.list', {}],
    ['cmap.list', { prefix: '' }],
    ['cmap.track', { key: '', prefix: true, add: true, modify: false, delete: true }],
    ['cmap.untrack', { trackId: 7 }],
  ])('%s %j', (method, params) => {
    expect(parse(method, params)).toEqual({ ok: true, value: { id: 9, method, params } });
  });
});

describe('service methods: rejected params carry IPC_BAD_PARAMS and the id', () => {
  it.each([
    ['cpg.initialize', { pid: -1 }, 'pid'],
    ['cpg.initialize', { pid: 2 ** 32 }, 'pid'],
    ['cpg.join', { handle: 1 }, 'group is required'],
    ['cpg.join', { group: 'g' }, 'handle is required'],
    ['cpg.join', { handle: 0, group: 'g' }, 'handle'],
    ['cpg.join', { handle: 1, group: '' }, 'group'],
    ['cpg.join', { handle: 1, group: 'x'.repeat(129) }, 'group'],
    ['cpg.join', { handle: 1, group: 'g', extra: 1 }, 'unknown param'],
    ['cpg.mcast', { handle: 1, group: 'g', payloadHex: 'abc' }, 'payloadHex'],
    ['cpg.mcast', { handle: 1, group: 'g' }, 'payloadHex is required'],
    ['cpg.groups', { group: 'g' }, 'unknown param'],
    ['quorum.setExpected', { votes: 1.5 }, 'votes'],
    ['quorum.setVotes', { votes: 1 }, 'nodeId is required'],
    ['cmap.get', { key: 1 }, 'key'],
    ['cmap.get', { key: 'k'.repeat(256) }, 'key'],
    ['cmap.set', { key: 'a.b', type: 'u8', value: 1 }, 'type'],
    ['cmap.set', { key: 'a.b', type: 'string', value: null }, 'value'],
    ['cmap.set', { key: 'a.b', type: 'string' }, 'value is required'],
    ['cmap.track', { key: 'a', prefix: 'yes' }, 'prefix'],
    ['cmap.untrack', {}, 'trackId is required'],
  ])('%s %j', (method, params, mention) => {
    const result = parse(method, params);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ id: 9, code: IpcErrorCode.badParams });
    expect(result.error.message).toContain(mention);
  });
});

describe('cmap values in JSON', () => {
  it.each([
    [{ type: 'uint64', value: 18446744073709551615n }, '18446744073709551615'],
    [{ type: 'int64', value: -9223372036854775808n }, '-9223372036854775808'],
    [{ type: 'uint32', value: 300 }, 300],
    [{ type: 'double', value: NaN }, 'NaN'],
    [{ type: 'float', value: -Infinity }, '-Infinity'],
    [{ type: 'binary', value: new Uint8Array([0, 255, 16]) }, '00ff10'],
    [{ type: 'string', value: 'r(0) ip(10.0.0.1) ' }, 'r(0) ip(10.0.0.1) '],
  ] as Array<[CmapValue, number | string]>)('%o as %j', (value, json) => {
    expect(cmapValueToJson(value)).toEqual({ type: value.type, value: json });
    const back = cmapValueFromJson(value.type, json);
    expect(back.ok && cmapValuesEqual(back.value, value)).toBe(true);
  });

  it.each([
    ['uint8', 256, 'CMAP_ERR_TYPE'],
    ['uint64', '-1', 'CMAP_ERR_TYPE'],
    ['uint64', 2 ** 53, 'CMAP_ERR_TYPE'],
    ['int32', '12x', 'CMAP_ERR_TYPE'],
    ['binary', 'zz', 'CMAP_ERR_TYPE'],
    ['string', 'a\u0000b', 'CMAP_ERR_TYPE'],
    ['string', 'x'.repeat(16 * 1024 + 1), 'CMAP_ERR_TOO_BIG'],
  ] as const)('%s %j is refused with %s', (type, value, code) => {
    const r = cmapValueFromJson(type, value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(code);
  });

  it('every value of every type survives the JSON form (through JSON.stringify)', () => {
    const value: fc.Arbitrary<CmapValue> = fc.oneof(
      fc.integer({ min: -128, max: 127 }).map((v) => ({ type: 'int8' as const, value: v })),
      fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ type: 'uint32' as const, value: v })),
      fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((v) => ({ type: 'int64' as const, value: v })),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ type: 'uint64' as const, value: v })),
      fc.double().map((v) => ({ type: 'double' as const, value: v })),
      fc.float().map((v) => ({ type: 'float' as const, value: v })),
      fc.string({ unit: 'grapheme', maxLength: 40 }).filter((t) => !t.includes('\u0000')).map((v) => ({ type: 'string' as const, value: v })),
      fc.uint8Array({ maxLength: 64 }).map((v) => ({ type: 'binary' as const, value: v })),
    );
    fc.assert(
      fc.property(value, (v) => {
        const json = JSON.parse(JSON.stringify(cmapValueToJson(v))) as ReturnType<typeof cmapValueToJson>;
        const back = cmapValueFromJson(json.type, json.value);
        // -0 becomes 0 in JSON: the only value that does not come back byte for byte.
        if (back.ok && !cmapValuesEqual(back.value, v)) expect(Object.is((v as { value: unknown }).value, -0)).toBe(true);
        expect(back.ok).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
