// Goal (testing.md M1, cmap against a model): CmapStore behaves like a plain Map of typed
// values under any sequence of set / delete / adjust / get / iterate / track / stop:
// every change calls every matching live track exactly once — in the order the tracks
// were added — with the right event type (add / modify / delete) and old / new values;
// prefix tracks fire for keys created after the track; an identical set changes nothing
// and notifies nobody; invalid keys and values are refused with their error code and
// change nothing; get and iterate (key order, by prefix) agree with the model.
// Method: fast-check `fc.commands` against a model of a Map plus a list of tracks; each
// command computes the expected callbacks from the model and compares them with the
// callbacks the real store made during the command.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CmapErrorCode,
  type CmapErrorCodeName,
  CmapStore,
  type CmapTrackEvent,
  type CmapTrackEventType,
  type CmapTrackFlags,
  type CmapTrackHandle,
  type CmapValue,
} from '../../src/services/cmap/cmap-store';

interface ModelTrack {
  readonly id: number;
  readonly key: string;
  readonly flags: Required<CmapTrackFlags>;
  live: boolean;
}

interface Model {
  map: Map<string, CmapValue>;
  tracks: ModelTrack[];
}

interface Real {
  store: CmapStore;
  handles: CmapTrackHandle[];
  /** Callbacks made during the current command: [track id, event]. */
  calls: Array<[number, CmapTrackEvent]>;
}

type Expected = Array<[number, CmapTrackEvent]>;

/** The value as the store keeps it: float rounded to float32. */
function normalised(v: CmapValue): CmapValue {
  return v.type === 'float' ? { type: 'float', value: Math.fround(v.value) } : v;
}

/** icmap's "identical": same type and same bytes (for numbers: Object.is after normalising). */
function same(a: CmapValue, b: CmapValue): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'binary' && b.type === 'binary') return a.value.length === b.value.length && a.value.every((x, i) => x === b.value[i]);
  return Object.is(a.value, b.value);
}

function expectedCalls(model: Model, type: CmapTrackEventType, key: string, newValue: CmapValue | undefined, oldValue: CmapValue | undefined): Expected {
  return model.tracks
    .filter((t) => t.live && t.flags[type] && (t.flags.prefix ? key.startsWith(t.key) : key === t.key))
    .map((t) => [t.id, { type, key, newValue, oldValue }]);
}

function run(r: Real, action: () => { ok: boolean; error?: { code: CmapErrorCodeName } }): { code: string; calls: Expected } {
  r.calls = [];
  const result = action();
  return { code: result.ok ? 'ok' : (result.error?.code ?? '?'), calls: r.calls };
}

function show(v: CmapValue): string {
  if (v.type === 'binary') return `bin[${Array.from(v.value).join(',')}]`;
  return `${v.type}:${typeof v.value === 'bigint' ? `${v.value}n` : JSON.stringify(v.value) ?? String(v.value)}`;
}

class SetCommand implements fc.Command<Model, Real> {
  readonly key: string;
  readonly keyValid: boolean;
  readonly value: CmapValue;
  readonly valueValid: boolean;
  constructor(key: string, keyValid: boolean, value: CmapValue, valueValid: boolean) {
    this.key = key;
    this.keyValid = keyValid;
    this.value = value;
    this.valueValid = valueValid;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const got = run(r, () => r.store.set(this.key, this.value));
    const old = m.map.get(this.key);
    if (!this.valueValid) {
      expect(got).toEqual({ code: CmapErrorCode.type, calls: [] });
      return;
    }
    const value = normalised(this.value);
    if (old !== undefined && same(old, value)) {
      expect(got).toEqual({ code: 'ok', calls: [] });
      return;
    }
    if (old === undefined && !this.keyValid) {
      expect(got).toEqual({ code: CmapErrorCode.invalidKey, calls: [] });
      return;
    }
    m.map.set(this.key, value);
    expect(got).toEqual({ code: 'ok', calls: expectedCalls(m, old === undefined ? 'add' : 'modify', this.key, value, old) });
  }
  toString(): string {
    return `set(${JSON.stringify(this.key)}, ${show(this.value)})`;
  }
}

/** Sets an existing key (picked at run time) again: to its own value, or to `value`. */
class SetExistingCommand implements fc.Command<Model, Real> {
  readonly pick: number;
  readonly value: CmapValue | undefined;
  constructor(pick: number, value: CmapValue | undefined) {
    this.pick = pick;
    this.value = value;
  }
  check(m: Readonly<Model>): boolean {
    return m.map.size > 0;
  }
  run(m: Model, r: Real): void {
    const keys = [...m.map.keys()].sort();
    const key = keys[this.pick % keys.length] as string;
    const current = m.map.get(key) as CmapValue;
    const value = this.value ?? (current.type === 'binary' ? { type: 'binary', value: current.value.slice() } : current);
    new SetCommand(key, true, value, true).run(m, r);
  }
  toString(): string {
    return `setExisting(#${this.pick}, ${this.value === undefined ? 'same' : show(this.value)})`;
  }
}

class DeleteCommand implements fc.Command<Model, Real> {
  readonly key: string;
  constructor(key: string) {
    this.key = key;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const got = run(r, () => r.store.delete(this.key));
    const old = m.map.get(this.key);
    if (old === undefined) {
      expect(got).toEqual({ code: CmapErrorCode.notExist, calls: [] });
      return;
    }
    m.map.delete(this.key);
    expect(got).toEqual({ code: 'ok', calls: expectedCalls(m, 'delete', this.key, undefined, old) });
  }
  toString(): string {
    return `delete(${JSON.stringify(this.key)})`;
  }
}

const widths: Partial<Record<CmapValue['type'], [number, boolean]>> = {
  int8: [8, true], uint8: [8, false], int16: [16, true], uint16: [16, false], int32: [32, true], uint32: [32, false], int64: [64, true], uint64: [64, false],
};

class AdjustCommand implements fc.Command<Model, Real> {
  readonly key: string;
  readonly step: number;
  constructor(key: string, step: number) {
    this.key = key;
    this.step = step;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const got = run(r, () => r.store.adjust(this.key, this.step));
    const old = m.map.get(this.key);
    if (old === undefined) {
      expect(got).toEqual({ code: CmapErrorCode.notExist, calls: [] });
      return;
    }
    const width = widths[old.type];
    if (width === undefined || (typeof old.value !== 'number' && typeof old.value !== 'bigint')) {
      expect(got).toEqual({ code: CmapErrorCode.type, calls: [] });
      return;
    }
    const [bits, signed] = width;
    const sum = BigInt(old.value) + BigInt(this.step);
    const wrapped = signed ? BigInt.asIntN(bits, sum) : BigInt.asUintN(bits, sum);
    const value = { type: old.type, value: bits === 64 ? wrapped : Number(wrapped) } as CmapValue;
    if (same(old, value)) {
      expect(got).toEqual({ code: 'ok', calls: [] });
      return;
    }
    m.map.set(this.key, value);
    expect(got).toEqual({ code: 'ok', calls: expectedCalls(m, 'modify', this.key, value, old) });
  }
  toString(): string {
    return `adjust(${JSON.stringify(this.key)}, ${this.step})`;
  }
}

class GetCommand implements fc.Command<Model, Real> {
  readonly key: string;
  constructor(key: string) {
    this.key = key;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    expect(r.store.get(this.key)).toEqual(m.map.get(this.key));
    expect(r.store.has(this.key)).toBe(m.map.has(this.key));
  }
  toString(): string {
    return `get(${JSON.stringify(this.key)})`;
  }
}

class IterateCommand implements fc.Command<Model, Real> {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const expected = [...m.map.keys()]
      .filter((k) => k.startsWith(this.prefix))
      .sort()
      .map((key) => ({ key, value: m.map.get(key) }));
    expect(r.store.iterate(this.prefix)).toEqual(expected);
    expect(r.store.size).toBe(m.map.size);
  }
  toString(): string {
    return `iterate(${JSON.stringify(this.prefix)})`;
  }
}

class TrackCommand implements fc.Command<Model, Real> {
  readonly key: string;
  readonly flags: Required<CmapTrackFlags>;
  constructor(key: string, flags: Required<CmapTrackFlags>) {
    this.key = key;
    this.flags = flags;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const id = m.tracks.length;
    m.tracks.push({ id, key: this.key, flags: this.flags, live: true });
    r.handles.push(r.store.track(this.key, this.flags, (event) => r.calls.push([id, event])));
    expect(r.store.trackCount).toBe(m.tracks.filter((t) => t.live).length);
  }
  toString(): string {
    const f = this.flags;
    return `track(${JSON.stringify(this.key)}, ${[f.add && 'add', f.modify && 'modify', f.delete && 'delete', f.prefix && 'prefix'].filter(Boolean).join('|')})`;
  }
}

class StopCommand implements fc.Command<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check(m: Readonly<Model>): boolean {
    return m.tracks.length > 0;
  }
  run(m: Model, r: Real): void {
    const at = this.pick % m.tracks.length;
    (m.tracks[at] as ModelTrack).live = false;
    r.handles[at]?.stop();
    expect(r.handles[at]?.stopped).toBe(true);
    expect(r.store.trackCount).toBe(m.tracks.filter((t) => t.live).length);
  }
  toString(): string {
    return `stop(#${this.pick})`;
  }
}

// Keys share prefixes often: top.part(.part)* over a tiny alphabet.
const validKey = fc
  .tuple(fc.constantFrom('k', 'kk', 'q'), fc.array(fc.constantFrom('a', 'b', 'ab'), { minLength: 1, maxLength: 2 }))
  .map(([top, parts]) => [top, ...parts].join('.'));
const invalidKey = fc.constantFrom('ab', 'k.a b', 'k.é', 'k.a,b', `k.${'a'.repeat(254)}`);
const anyKey: fc.Arbitrary<[string, boolean]> = fc.oneof(
  { weight: 9, arbitrary: validKey.map((k): [string, boolean] => [k, true]) },
  { weight: 1, arbitrary: invalidKey.map((k): [string, boolean] => [k, false]) },
);
/** Prefixes: cut keys, whole keys, the empty prefix. */
const prefix = fc.oneof(
  fc.tuple(validKey, fc.nat()).map(([k, n]) => k.slice(0, n % (k.length + 1))),
  validKey,
  fc.constant(''),
);

const validValue: fc.Arbitrary<CmapValue> = fc.oneof(
  fc.integer({ min: -2, max: 2 }).map((value): CmapValue => ({ type: 'int8', value })),
  fc.constantFrom(0, 1, 254, 255).map((value): CmapValue => ({ type: 'uint8', value })),
  fc.integer({ min: -32768, max: 32767 }).map((value): CmapValue => ({ type: 'int16', value })),
  fc.constantFrom(0, 1, 65535).map((value): CmapValue => ({ type: 'uint16', value })),
  fc.constantFrom(-2147483648, 0, 2147483647).map((value): CmapValue => ({ type: 'int32', value })),
  fc.constantFrom(0, 1, 4294967295).map((value): CmapValue => ({ type: 'uint32', value })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((value): CmapValue => ({ type: 'int64', value })),
  fc.constantFrom(0n, 1n, (1n << 64n) - 1n).map((value): CmapValue => ({ type: 'uint64', value })),
  fc.oneof(fc.constantFrom(0, -0, 0.1, 1.5), fc.double({ noNaN: true })).map((value): CmapValue => ({ type: 'float', value })),
  fc.oneof(fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY), fc.double({ noNaN: true })).map((value): CmapValue => ({ type: 'double', value })),
  fc.constantFrom('', 'x', 'joined', 'left', 'r(0) ip(10.0.0.1) ').map((value): CmapValue => ({ type: 'string', value })),
  fc.uint8Array({ maxLength: 3 }).map((value): CmapValue => ({ type: 'binary', value })),
);
const invalidValue: fc.Arbitrary<CmapValue> = fc.constantFrom(
  { type: 'uint8', value: 256 },
  { type: 'int8', value: 1.5 },
  { type: 'uint64', value: -1n },
  { type: 'int64', value: 1n << 63n },
  { type: 'string', value: 'a\0b' },
  { type: 'uint32', value: 1n } as unknown as CmapValue,
);
const anyValue: fc.Arbitrary<[CmapValue, boolean]> = fc.oneof(
  { weight: 12, arbitrary: validValue.map((v): [CmapValue, boolean] => [v, true]) },
  { weight: 1, arbitrary: invalidValue.map((v): [CmapValue, boolean] => [v, false]) },
);
const flags = fc.record({ add: fc.boolean(), modify: fc.boolean(), delete: fc.boolean(), prefix: fc.boolean() });

const commands = fc.commands(
  [
    fc.tuple(anyKey, anyValue).map(([[key, keyValid], [value, valueValid]]) => new SetCommand(key, keyValid, value, valueValid)),
    fc.tuple(anyKey, anyValue).map(([[key, keyValid], [value, valueValid]]) => new SetCommand(key, keyValid, value, valueValid)),
    fc.tuple(fc.nat(), fc.option(validValue, { nil: undefined })).map(([pick, value]) => new SetExistingCommand(pick, value)),
    anyKey.map(([key]) => new DeleteCommand(key)),
    fc.tuple(validKey, fc.integer({ min: -3, max: 3 })).map(([key, step]) => new AdjustCommand(key, step)),
    anyKey.map(([key]) => new GetCommand(key)),
    prefix.map((p) => new IterateCommand(p)),
    fc.tuple(fc.oneof(validKey, prefix), flags).map(([key, f]) => new TrackCommand(key, f)),
    fc.nat().map((n) => new StopCommand(n)),
  ],
  { maxCommands: 80, size: 'max' },
);

describe('M1: cmap against a model', () => {
  it('every change calls each matching live track exactly once with the right type and values', () => {
    fc.assert(
      fc.property(commands, (cmds) => {
        fc.modelRun(() => ({ model: { map: new Map(), tracks: [] }, real: { store: new CmapStore(), handles: [], calls: [] } }), cmds);
      }),
      { numRuns: 300 },
    );
  });

  it('prefix tracks fire for keys created after the track (a fixed scenario of the same model)', () => {
    const store = new CmapStore();
    const calls: Array<[number, CmapTrackEvent]> = [];
    store.track('k.', { add: true, modify: true, delete: true, prefix: true }, (e) => calls.push([0, e]));
    store.track('k.a', { add: true }, (e) => calls.push([1, e]));
    store.set('k.a', { type: 'uint8', value: 1 });
    store.set('k.ab', { type: 'uint8', value: 2 });
    store.set('q.a', { type: 'uint8', value: 3 });
    expect(calls.map(([id, e]) => [id, e.type, e.key])).toEqual([
      [0, 'add', 'k.a'],
      [1, 'add', 'k.a'],
      [0, 'add', 'k.ab'],
    ]);
  });
});
