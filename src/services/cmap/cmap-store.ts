// The cmap key/value store (architecture.md §2.6), with the semantics of corosync
// 3.1.7's exec/icmap.c and the limits of include/corosync/cmap.h:
//
// - typed values (cmap_value_types_t 1..12); 64-bit integers as bigint; float values are
//   stored as float32 (what the C float holds);
// - set() on an existing key may change its type (icmap replaces the item); setting a
//   value identical to the stored one (same type, same bytes) changes nothing and
//   notifies nobody, as icmap_set_r compares before replacing;
// - key names: 3..255 characters of [a-zA-Z0-9._/:-], checked when a key is created;
// - values at most 16 KiB (ICMAP_MAX_VALUE_LEN); strings may not contain NUL (the C
//   string would end there);
// - tracks (icmap_track_add): ADD / MODIFY / DELETE, on one key or, with PREFIX, on every
//   key that starts with the given text, including keys created later. Every change
//   calls every matching track exactly once, in the order the tracks were added, with
//   the old and new values (absent on add / delete);
// - read-only access (icmap_set_ro_access): keys or prefixes the shell marks read-only
//   reject writes made on behalf of clients (CS_ERR_ACCESS); internal writers may still
//   set them;
// - iteration in key order (qb_map's trie order = byte order of the ASCII key names).
//
// Beyond icmap: a bound on the number of keys (icmap has none), so a client cannot grow
// the map without limit.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';

/** cmap value type names, in cmap_value_types_t order. */
export const CmapValueTypes = [
  'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float', 'double', 'string', 'binary',
] as const;
export type CmapValueType = (typeof CmapValueTypes)[number];

/** The wire / API codes of the value types (cmap.h cmap_value_types_t); 0 = does not exist. */
export const CmapValueTypeCode: Readonly<Record<CmapValueType, number>> = {
  int8: 1, uint8: 2, int16: 3, uint16: 4, int32: 5, uint32: 6, int64: 7, uint64: 8, float: 9, double: 10, string: 11, binary: 12,
};
/** cmap.c's ICMAP_VALUETYPE_NOT_EXIST. */
export const CMAP_VALUETYPE_NOT_EXIST = 0;

export type CmapSmallIntType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32';
export type CmapValue =
  | { readonly type: CmapSmallIntType | 'float' | 'double'; readonly value: number }
  | { readonly type: 'int64' | 'uint64'; readonly value: bigint }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'binary'; readonly value: Uint8Array };

/** CMAP_KEYNAME_MINLEN / CMAP_KEYNAME_MAXLEN. */
export const CMAP_KEYNAME_MINLEN = 3;
export const CMAP_KEYNAME_MAXLEN = 255;
/** ICMAP_MAX_VALUE_LEN: the largest value (string bytes without the NUL, binary bytes). */
export const CMAP_VALUE_MAX_BYTES = 16 * 1024;
/** Default bound on the number of keys (our addition; icmap has none). */
export const CMAP_DEFAULT_MAX_KEYS = 65536;

/** CMAP_TRACK_* (cmap.h). */
export const CmapTrackMask = { delete: 1, modify: 2, add: 4, prefix: 8 } as const;

/** cs_error_t values (corotypes.h) the cmap errors map to. */
export const CsError = {
  ok: 1,
  invalidParam: 7,
  access: 11,
  notExist: 12,
  nameTooLong: 13,
  noSpace: 15,
} as const;

export const CmapErrorCode = {
  /** Key name too short, too long or with a character outside [a-zA-Z0-9._/:-]. */
  invalidKey: 'CMAP_ERR_INVALID_KEY',
  /** The value does not fit its type (range, JS type, NUL in a string, unknown type). */
  type: 'CMAP_ERR_TYPE',
  /** A client wrote a key marked read-only. */
  readOnly: 'CMAP_ERR_READ_ONLY',
  notExist: 'CMAP_ERR_NOT_EXIST',
  /** The value is larger than 16 KiB. */
  tooBig: 'CMAP_ERR_TOO_BIG',
  /** The store already holds its maximum number of keys. */
  tooManyKeys: 'CMAP_ERR_TOO_MANY_KEYS',
  /** Bad track flags. */
  invalidParam: 'CMAP_ERR_INVALID_PARAM',
} as const;
export type CmapErrorCodeName = (typeof CmapErrorCode)[keyof typeof CmapErrorCode];

const csOf: Readonly<Record<CmapErrorCodeName, number>> = {
  CMAP_ERR_INVALID_KEY: CsError.nameTooLong,
  CMAP_ERR_TYPE: CsError.invalidParam,
  CMAP_ERR_READ_ONLY: CsError.access,
  CMAP_ERR_NOT_EXIST: CsError.notExist,
  CMAP_ERR_TOO_BIG: CsError.invalidParam,
  CMAP_ERR_TOO_MANY_KEYS: CsError.noSpace,
  CMAP_ERR_INVALID_PARAM: CsError.invalidParam,
};

export class CmapError extends Error {
  readonly code: CmapErrorCodeName;
  /** The cs_error_t corosync returns in the same situation. */
  readonly cs: number;
  readonly key: string | undefined;

  constructor(code: CmapErrorCodeName, message: string, key?: string) {
    super(message);
    this.name = 'CmapError';
    this.code = code;
    this.cs = csOf[code];
    this.key = key;
  }
}

export type CmapTrackEventType = 'add' | 'modify' | 'delete';

export interface CmapTrackEvent {
  readonly type: CmapTrackEventType;
  readonly key: string;
  /** Absent on delete. */
  readonly newValue: CmapValue | undefined;
  /** Absent on add. */
  readonly oldValue: CmapValue | undefined;
}

export interface CmapTrackFlags {
  readonly add?: boolean;
  readonly modify?: boolean;
  readonly delete?: boolean;
  /** Track every key starting with the given text, not only that key. */
  readonly prefix?: boolean;
}

export type CmapTrackListener = (event: CmapTrackEvent) => void;

export interface CmapTrackHandle {
  readonly id: number;
  readonly key: string;
  readonly flags: Required<CmapTrackFlags>;
  /** Whether stop() has been called. */
  readonly stopped: boolean;
  /** Ends the track; no callback runs after it returns. Idempotent. */
  stop(): void;
}

export interface CmapEntry {
  readonly key: string;
  readonly value: CmapValue;
}

export interface CmapWriteOptions {
  /** The write is made on behalf of a client: read-only keys reject it. */
  readonly client?: boolean;
}

export interface CmapStoreOptions {
  readonly maxKeys?: number;
}

// ---------------------------------------------------------------------------------------
// Values

const intRanges: Readonly<Record<CmapSmallIntType, readonly [number, number]>> = {
  int8: [-0x80, 0x7f],
  uint8: [0, 0xff],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

const fixedWidth: Readonly<Record<CmapValueType, number>> = {
  int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float: 4, double: 8, string: 0, binary: 0,
};

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isCmapValueType(text: unknown): text is CmapValueType {
  return typeof text === 'string' && (CmapValueTypes as readonly string[]).includes(text);
}

/** The type name of a wire code 1..12, undefined for anything else. */
export function cmapValueTypeOfCode(code: number): CmapValueType | undefined {
  return Number.isInteger(code) && code >= 1 && code <= CmapValueTypes.length ? CmapValueTypes[code - 1] : undefined;
}

/**
 * Checks a value from anywhere (a client, a config file) and returns it normalised
 * (float rounded to float32, binary copied). Never throws.
 */
export function validateCmapValue(candidate: { readonly type: unknown; readonly value: unknown }): Result<CmapValue, CmapError> {
  const { type, value } = candidate;
  const bad = (why: string): { ok: false; error: CmapError } => err(new CmapError(CmapErrorCode.type, why));
  if (!isCmapValueType(type)) return bad(`unknown cmap value type ${String(type)}`);
  switch (type) {
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32': {
      const [min, max] = intRanges[type];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        return bad(`${type} value must be an integer in ${min}..${max}, not ${describe(value)}`);
      }
      return ok({ type, value: value === 0 ? 0 : value });
    }
    case 'int64':
    case 'uint64': {
      const [min, max] = type === 'int64' ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
      if (typeof value !== 'bigint' || value < min || value > max) return bad(`${type} value must be a bigint in ${min}..${max}, not ${describe(value)}`);
      return ok({ type, value });
    }
    case 'float':
    case 'double':
      if (typeof value !== 'number') return bad(`${type} value must be a number, not ${describe(value)}`);
      return ok({ type, value: type === 'float' ? Math.fround(value) : value });
    case 'string': {
      if (typeof value !== 'string') return bad(`string value must be a string, not ${describe(value)}`);
      if (value.includes('\0')) return bad('string value contains NUL');
      if (loneSurrogate.test(value)) return bad('string value is not well-formed UTF-16');
      if (utf8Length(value) > CMAP_VALUE_MAX_BYTES) {
        return err(new CmapError(CmapErrorCode.tooBig, `string value of ${utf8Length(value)} bytes exceeds ${CMAP_VALUE_MAX_BYTES}`));
      }
      return ok({ type, value });
    }
    case 'binary':
      if (!(value instanceof Uint8Array)) return bad(`binary value must be a Uint8Array, not ${describe(value)}`);
      if (value.length > CMAP_VALUE_MAX_BYTES) {
        return err(new CmapError(CmapErrorCode.tooBig, `binary value of ${value.length} bytes exceeds ${CMAP_VALUE_MAX_BYTES}`));
      }
      return ok({ type, value: value.slice() });
  }
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  return typeof value === 'number' ? String(value) : typeof value;
}

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i += 1;
    } else n += 3;
  }
  return n;
}

/**
 * The value's bytes as icmap stores them and cmap sends them (little-endian; strings as
 * UTF-8 with their terminating NUL, value_len = strlen + 1).
 */
export function cmapValueBytes(v: CmapValue): Uint8Array {
  if (v.type === 'string') {
    const text = new TextEncoder().encode(v.value);
    const out = new Uint8Array(text.length + 1);
    out.set(text);
    return out;
  }
  if (v.type === 'binary') return v.value.slice();
  const out = new Uint8Array(fixedWidth[v.type]);
  const view = new DataView(out.buffer);
  switch (v.type) {
    case 'int8': view.setInt8(0, v.value); break;
    case 'uint8': view.setUint8(0, v.value); break;
    case 'int16': view.setInt16(0, v.value, true); break;
    case 'uint16': view.setUint16(0, v.value, true); break;
    case 'int32': view.setInt32(0, v.value, true); break;
    case 'uint32': view.setUint32(0, v.value, true); break;
    case 'int64': view.setBigInt64(0, v.value, true); break;
    case 'uint64': view.setBigUint64(0, v.value, true); break;
    case 'float': view.setFloat32(0, v.value, true); break;
    case 'double': view.setFloat64(0, v.value, true); break;
  }
  return out;
}

/**
 * A value from its type code and bytes (the inverse of cmapValueBytes): numbers need
 * exactly their width, strings end at their first NUL (the C string), binary is copied.
 * Undefined for an unknown type or a wrong width. Never throws.
 */
export function cmapValueFromBytes(typeCode: number, bytes: Uint8Array): CmapValue | undefined {
  const type = cmapValueTypeOfCode(typeCode);
  if (type === undefined) return undefined;
  if (type === 'binary') return { type, value: bytes.slice() };
  if (type === 'string') {
    const end = bytes.indexOf(0);
    return { type, value: new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end)) };
  }
  if (bytes.length !== fixedWidth[type]) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'int8': return { type, value: view.getInt8(0) };
    case 'uint8': return { type, value: view.getUint8(0) };
    case 'int16': return { type, value: view.getInt16(0, true) };
    case 'uint16': return { type, value: view.getUint16(0, true) };
    case 'int32': return { type, value: view.getInt32(0, true) };
    case 'uint32': return { type, value: view.getUint32(0, true) };
    case 'int64': return { type, value: view.getBigInt64(0, true) };
    case 'uint64': return { type, value: view.getBigUint64(0, true) };
    case 'float': return { type, value: view.getFloat32(0, true) };
    case 'double': return { type, value: view.getFloat64(0, true) };
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** icmap_item_eq: same type and the same bytes (so NaN equals NaN, 0 differs from -0). */
export function cmapValuesEqual(a: CmapValue, b: CmapValue): boolean {
  return a.type === b.type && bytesEqual(cmapValueBytes(a), cmapValueBytes(b));
}

function exposed(v: CmapValue): CmapValue {
  return v.type === 'binary' ? { type: 'binary', value: v.value.slice() } : v;
}

/** icmap_is_valid_name_char. */
function isValidKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2e || c === 0x5f || c === 0x2d || c === 0x2f || c === 0x3a
  );
}

/** icmap_check_key_name: 3..255 characters of [a-zA-Z0-9._/:-]. */
export function isValidCmapKey(key: string): boolean {
  if (key.length < CMAP_KEYNAME_MINLEN || key.length > CMAP_KEYNAME_MAXLEN) return false;
  for (let i = 0; i < key.length; i += 1) if (!isValidKeyChar(key.charCodeAt(i))) return false;
  return true;
}

/** icmap_convert_name_to_valid_name: every invalid character becomes '_'. */
export function toValidCmapKey(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += 1) out += isValidKeyChar(text.charCodeAt(i)) ? text[i] : '_';
  return out;
}

/** Track flags from a CMAP_TRACK_* bit mask; other bits are CMAP_ERR_INVALID_PARAM. */
export function cmapTrackFlagsFromMask(mask: number): Result<Required<CmapTrackFlags>, CmapError> {
  const all = CmapTrackMask.add | CmapTrackMask.delete | CmapTrackMask.modify | CmapTrackMask.prefix;
  if (!Number.isInteger(mask) || mask < 0 || (mask & ~all) !== 0) {
    return err(new CmapError(CmapErrorCode.invalidParam, `invalid track flags ${mask}`));
  }
  return ok({
    add: (mask & CmapTrackMask.add) !== 0,
    modify: (mask & CmapTrackMask.modify) !== 0,
    delete: (mask & CmapTrackMask.delete) !== 0,
    prefix: (mask & CmapTrackMask.prefix) !== 0,
  });
}

export function cmapTrackMask(flags: CmapTrackFlags): number {
  return (
    (flags.add === true ? CmapTrackMask.add : 0) |
    (flags.modify === true ? CmapTrackMask.modify : 0) |
    (flags.delete === true ? CmapTrackMask.delete : 0) |
    (flags.prefix === true ? CmapTrackMask.prefix : 0)
  );
}

/** The CMAP_TRACK_* code of an event type (what cmap_notify_fn_t receives). */
export function cmapTrackEventCode(type: CmapTrackEventType): number {
  return CmapTrackMask[type];
}

// ---------------------------------------------------------------------------------------
// corosync-cmapctl output

const typeLabel: Readonly<Record<CmapValueType, string>> = {
  int8: 'i8', uint8: 'u8', int16: 'i16', uint16: 'u16', int32: 'i32', uint32: 'u32', int64: 'i64', uint64: 'u64',
  float: 'flt', double: 'dbl', string: 'str', binary: 'bin',
};

/** corosync-cmapctl's short type name (i8, u64, flt, str, bin, …). */
export function cmapTypeLabel(type: CmapValueType): string {
  return typeLabel[type];
}

/**
 * printf("%f"): six decimals, rounded exactly from the binary value, ties to even (glibc);
 * infinities as inf / -inf and NaN as nan / -nan.
 */
export function formatPrintfFixed6(x: number): string {
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, x);
  const hi = bits.getUint32(0);
  const negative = hi >>> 31 === 1;
  const sign = negative ? '-' : '';
  if (Number.isNaN(x)) return `${sign}nan`;
  if (!Number.isFinite(x)) return `${sign}inf`;
  const exponentBits = (hi >>> 20) & 0x7ff;
  const fraction = bits.getBigUint64(0) & ((1n << 52n) - 1n);
  const mantissa = exponentBits === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (exponentBits === 0 ? 1 : exponentBits) - 1075;
  const scaled = mantissa * 1_000_000n;
  let q: bigint;
  if (exponent >= 0) q = scaled << BigInt(exponent);
  else {
    const den = 1n << BigInt(-exponent);
    q = scaled / den;
    const twice = (scaled % den) * 2n;
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  }
  const whole = q / 1_000_000n;
  const frac = (q % 1_000_000n).toString().padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

/** print_binary_key: printable ASCII as is, '\' doubled, other bytes as \xNN. */
function formatBinary(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else if (b === 0x5c) out += '\\\\';
    // corosync passes a (signed on x86) char to %02X: bytes ≥ 0x80 print sign-extended.
    else out += `\\x${(b >= 0x80 ? (0xffffff00 | b) >>> 0 : b).toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The value as corosync-cmapctl prints it after `= ` (and alone with -q). */
export function formatCmapValue(v: CmapValue): string {
  switch (v.type) {
    case 'float':
    case 'double':
      return formatPrintfFixed6(v.value);
    case 'string':
      return v.value;
    case 'binary':
      return v.value.length === 0 ? '*empty*' : formatBinary(v.value);
    default:
      return String(v.value);
  }
}

/**
 * One line of corosync-cmapctl output, without the newline: `key (type) = value`.
 * Binary values print as `key (bin)` unless `showBinary` (cmapctl -b).
 */
export function formatCmapEntry(key: string, v: CmapValue, options: { readonly showBinary?: boolean } = {}): string {
  if (v.type === 'binary' && options.showBinary !== true) return `${key} (bin)`;
  return `${key} (${typeLabel[v.type]}) = ${formatCmapValue(v)}`;
}

// ---------------------------------------------------------------------------------------
// The store

interface Item {
  value: CmapValue;
  bytes: Uint8Array;
}

interface Track {
  readonly id: number;
  readonly key: string;
  readonly flags: Required<CmapTrackFlags>;
  readonly listener: CmapTrackListener;
  stopped: boolean;
}

interface ReadOnlyRule {
  readonly key: string;
  readonly prefix: boolean;
}

/** Index of the first element of sorted `keys` that is ≥ `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class CmapStore {
  readonly maxKeys: number;
  private readonly items = new Map<string, Item>();
  /** The keys in ascending order (JS string order = byte order for valid key names). */
  private readonly sorted: string[] = [];
  private readonly exactTracks = new Map<string, Track[]>();
  private readonly prefixTracks: Track[] = [];
  private nextTrackId = 1;
  private readonly readOnly: ReadOnlyRule[] = [];

  constructor(options: CmapStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? CMAP_DEFAULT_MAX_KEYS;
    assert(Number.isInteger(maxKeys) && maxKeys >= 1, `maxKeys must be a positive integer, not ${maxKeys}`);
    this.maxKeys = maxKeys;
  }

  get size(): number {
    return this.items.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  get(key: string): CmapValue | undefined {
    const item = this.items.get(key);
    return item === undefined ? undefined : exposed(item.value);
  }

  /**
   * icmap_set (cmap_set for a client): creates or replaces `key`. An identical value
   * (same type and bytes) is a successful no-op that notifies nobody.
   */
  set(key: string, candidate: CmapValue, options: CmapWriteOptions = {}): Result<void, CmapError> {
    if (options.client === true && this.isReadOnly(key)) {
      return err(new CmapError(CmapErrorCode.readOnly, `${key} is read-only`, key));
    }
    const valid = validateCmapValue(candidate);
    if (!valid.ok) return err(new CmapError(valid.error.code, `${key}: ${valid.error.message}`, key));
    const value = valid.value;
    const bytes = cmapValueBytes(value);
    const old = this.items.get(key);
    if (old !== undefined) {
      if (old.value.type === value.type && bytesEqual(old.bytes, bytes)) return ok(undefined);
    } else {
      if (!isValidCmapKey(key)) {
        return err(new CmapError(CmapErrorCode.invalidKey, `invalid key name ${JSON.stringify(key)}: 3..255 characters of [a-zA-Z0-9._/:-]`, key));
      }
      if (this.items.size >= this.maxKeys) {
        return err(new CmapError(CmapErrorCode.tooManyKeys, `cannot add ${key}: the map holds its maximum of ${this.maxKeys} keys`, key));
      }
      this.sorted.splice(lowerBound(this.sorted, key), 0, key);
    }
    this.items.set(key, { value, bytes });
    this.notify(old === undefined ? 'add' : 'modify', key, value, old?.value);
    return ok(undefined);
  }

  /** icmap_delete (cmap_delete for a client). */
  delete(key: string, options: CmapWriteOptions = {}): Result<void, CmapError> {
    if (options.client === true && this.isReadOnly(key)) {
      return err(new CmapError(CmapErrorCode.readOnly, `${key} is read-only`, key));
    }
    const old = this.items.get(key);
    if (old === undefined) return err(new CmapError(CmapErrorCode.notExist, `${key} does not exist`, key));
    this.items.delete(key);
    this.sorted.splice(lowerBound(this.sorted, key), 1);
    this.notify('delete', key, undefined, old.value);
    return ok(undefined);
  }

  /**
   * icmap_adjust_int (cmap_adjust_int / inc / dec): adds `step` to an integer value,
   * wrapping within its width and keeping its type; other types are CMAP_ERR_TYPE.
   */
  adjust(key: string, step: number, options: CmapWriteOptions = {}): Result<void, CmapError> {
    if (options.client === true && this.isReadOnly(key)) {
      return err(new CmapError(CmapErrorCode.readOnly, `${key} is read-only`, key));
    }
    if (!Number.isInteger(step) || step < -0x80000000 || step > 0x7fffffff) {
      return err(new CmapError(CmapErrorCode.invalidParam, `adjust step must be an int32, not ${step}`, key));
    }
    const item = this.items.get(key);
    if (item === undefined) return err(new CmapError(CmapErrorCode.notExist, `${key} does not exist`, key));
    const v = item.value;
    switch (v.type) {
      case 'int8':
      case 'uint8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32': {
        const bits = fixedWidth[v.type] * 8;
        const sum = BigInt(v.value) + BigInt(step);
        const wrapped = v.type.startsWith('u') ? BigInt.asUintN(bits, sum) : BigInt.asIntN(bits, sum);
        return this.set(key, { type: v.type, value: Number(wrapped) });
      }
      case 'int64':
        return this.set(key, { type: v.type, value: BigInt.asIntN(64, v.value + BigInt(step)) });
      case 'uint64':
        return this.set(key, { type: v.type, value: BigInt.asUintN(64, v.value + BigInt(step)) });
      default:
        return err(new CmapError(CmapErrorCode.type, `${key} holds a ${v.type}, not an integer`, key));
    }
  }

  /** The entries whose key starts with `prefix` ('' = all), in key order. */
  iterate(prefix = ''): CmapEntry[] {
    const out: CmapEntry[] = [];
    for (let i = lowerBound(this.sorted, prefix); i < this.sorted.length; i += 1) {
      const key = this.sorted[i] as string;
      if (!key.startsWith(prefix)) break;
      const item = this.items.get(key);
      if (item !== undefined) out.push({ key, value: exposed(item.value) });
    }
    return out;
  }

  /** The keys starting with `prefix`, in key order. */
  keys(prefix = ''): string[] {
    return this.iterate(prefix).map((e) => e.key);
  }

  /**
   * icmap_track_add: calls `listener` for every change of `keyOrPrefix` (or, with
   * `prefix`, of any key starting with it, '' = all keys) of the kinds in `flags`.
   * Listeners run synchronously inside the change, in the order tracks were added; a
   * listener may change the store (its changes notify in turn). If listeners throw, the
   * others still run and the first error is rethrown once all have run.
   */
  track(keyOrPrefix: string, flags: CmapTrackFlags, listener: CmapTrackListener): CmapTrackHandle {
    const track: Track = {
      id: this.nextTrackId++,
      key: keyOrPrefix,
      flags: {
        add: flags.add === true,
        modify: flags.modify === true,
        delete: flags.delete === true,
        prefix: flags.prefix === true,
      },
      listener,
      stopped: false,
    };
    if (track.flags.prefix) this.prefixTracks.push(track);
    else {
      const list = this.exactTracks.get(keyOrPrefix) ?? [];
      list.push(track);
      this.exactTracks.set(keyOrPrefix, list);
    }
    const stop = (): void => this.removeTrack(track);
    return {
      id: track.id,
      key: track.key,
      flags: track.flags,
      get stopped(): boolean {
        return track.stopped;
      },
      stop,
    };
  }

  /** The number of live tracks. */
  get trackCount(): number {
    let n = this.prefixTracks.length;
    for (const list of this.exactTracks.values()) n += list.length;
    return n;
  }

  /**
   * icmap_set_ro_access: marks `keyOrPrefix` (a key, or with `prefix` every key starting
   * with it) read-only for clients, or removes that mark. Idempotent.
   */
  setReadOnly(keyOrPrefix: string, prefix: boolean, readOnly = true): void {
    const at = this.readOnly.findIndex((r) => r.key === keyOrPrefix && r.prefix === prefix);
    if (readOnly && at < 0) this.readOnly.push({ key: keyOrPrefix, prefix });
    if (!readOnly && at >= 0) this.readOnly.splice(at, 1);
  }

  /** icmap_is_key_ro. */
  isReadOnly(key: string): boolean {
    return this.readOnly.some((r) => (r.prefix ? key.startsWith(r.key) : key === r.key));
  }

  private removeTrack(track: Track): void {
    if (track.stopped) return;
    track.stopped = true;
    if (track.flags.prefix) {
      const at = this.prefixTracks.indexOf(track);
      if (at >= 0) this.prefixTracks.splice(at, 1);
      return;
    }
    const list = this.exactTracks.get(track.key);
    if (list === undefined) return;
    const at = list.indexOf(track);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.exactTracks.delete(track.key);
  }

  private notify(type: CmapTrackEventType, key: string, newValue: CmapValue | undefined, oldValue: CmapValue | undefined): void {
    const matching: Track[] = [];
    for (const t of this.exactTracks.get(key) ?? []) if (t.flags[type]) matching.push(t);
    for (const t of this.prefixTracks) if (t.flags[type] && key.startsWith(t.key)) matching.push(t);
    if (matching.length === 0) return;
    matching.sort((a, b) => a.id - b.id);
    let failure: { error: unknown } | undefined;
    for (const t of matching) {
      if (t.stopped) continue;
      const event: CmapTrackEvent = {
        type,
        key,
        newValue: newValue === undefined ? undefined : exposed(newValue),
        oldValue: oldValue === undefined ? undefined : exposed(oldValue),
      };
      try {
        t.listener(event);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}
