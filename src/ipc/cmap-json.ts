// Typed cmap values <-> their JSON form on the IPC socket (CmapValueJson in
// daemon-api.ts), shared by the daemon (src/runtime/daemon-services.ts) and the client
// library (src/client/cmap-client.ts):
//
//   int8 .. uint32   number                 42
//   int64, uint64    decimal string         "18446744073709551615"
//   float, double    number, or the string  "NaN" / "Infinity" / "-Infinity" (not JSON numbers)
//   string           string                 "pbx"
//   binary           lower-case hex string  "00ff" ("" = empty)
//
// Parsing is lenient where it cannot be ambiguous (a 64-bit integer may come as a safe
// integer number, a small integer or a float as a decimal string, hex in either case)
// and never throws: a value that does not fit its type is an error text.

import { err, ok, type Result } from '../base/result';
import { CmapError, CmapErrorCode, CmapValueTypes, validateCmapValue, type CmapValue, type CmapValueType } from '../services/cmap/cmap-store';
import type { CmapValueJson, CmapValueTypeName } from './daemon-api';

const DECIMAL = /^-?\d+$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function isCmapValueTypeName(text: unknown): text is CmapValueTypeName {
  return typeof text === 'string' && (CmapValueTypes as readonly string[]).includes(text);
}

function floatJson(x: number): number | string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return x;
}

/** The JSON form of a stored value. */
export function cmapValueToJson(v: CmapValue): CmapValueJson {
  switch (v.type) {
    case 'int64':
    case 'uint64':
      return { type: v.type, value: v.value.toString() };
    case 'float':
    case 'double':
      return { type: v.type, value: floatJson(v.value) };
    case 'binary':
      return { type: v.type, value: Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('hex') };
    default:
      return { type: v.type, value: v.value };
  }
}

function parseNumber(value: number | string): number | null {
  if (typeof value === 'number') return value;
  const text = value.trim();
  if (text === 'NaN' || text === 'nan') return NaN;
  if (text === 'Infinity' || text === 'inf') return Infinity;
  if (text === '-Infinity' || text === '-inf') return -Infinity;
  if (text === '') return null;
  const n = Number(text);
  return Number.isNaN(n) ? null : n;
}

/** A CmapValue from `type` and a JSON value; a CmapError (CMAP_ERR_TYPE / _TOO_BIG) says why it does not fit. */
export function cmapValueFromJson(type: CmapValueTypeName, value: number | string): Result<CmapValue, CmapError> {
  const r = parseCandidate(type, value);
  if (!r.ok) return err(new CmapError(CmapErrorCode.type, r.error));
  const checked = validateCmapValue({ type, value: r.value });
  return checked.ok ? ok(checked.value) : err(checked.error);
}

function parseCandidate(type: CmapValueTypeName, value: number | string): Result<unknown, string> {
  let candidate: unknown;
  switch (type as CmapValueType) {
    case 'int64':
    case 'uint64':
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) return err(`${type} value ${value} is not a safe integer; send it as a decimal string`);
        candidate = BigInt(value);
      } else {
        if (!DECIMAL.test(value.trim())) return err(`${type} value must be a decimal integer, not ${JSON.stringify(value)}`);
        candidate = BigInt(value.trim());
      }
      break;
    case 'string':
      if (typeof value !== 'string') return err(`string value must be a string, not ${value}`);
      candidate = value;
      break;
    case 'binary':
      if (typeof value !== 'string' || !HEX.test(value)) return err('binary value must be an even-length hex string');
      candidate = new Uint8Array(Buffer.from(value, 'hex'));
      break;
    case 'float':
    case 'double': {
      const n = parseNumber(value);
      if (n === null) return err(`${type} value must be a number, not ${JSON.stringify(value)}`);
      candidate = n;
      break;
    }
    default: {
      const n = typeof value === 'number' ? value : DECIMAL.test(value.trim()) ? Number(value.trim()) : null;
      if (n === null) return err(`${type} value must be an integer, not ${JSON.stringify(value)}`);
      candidate = n;
    }
  }
  return ok(candidate);
}
