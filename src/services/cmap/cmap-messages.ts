// cmap's one exec message, MCAST (service 0, fn 0), byte for byte as corosync 3.1.7's
// exec/cmap.c builds it (corosync-wire.md §9.2). All fields little-endian (the totem
// layer rejects foreign-endian senders before this point).
//
// Header block, 48 bytes: qb request header (id 0, size = whole message) @0, reason u8 @16,
// no_items u8 @24, reserved1 u8 @32, reserved2 u8 @40 — each u8 aligned(8), pads zero.
// Items follow, each round_up(280 + value_len, 8) bytes: mar_name_t key_name (length u16
// @0, value u8[256] @8, NUL-terminated) @0, value_type u8 @264, value_len u64 @272,
// value @280, zero padding. corosync sends the header and each item as separate iovecs.
//
// In 3.1.7 the only item ever sent is totem.config_version: reason SYNC during the sync
// process step, reason NEW_CONFIG_VERSION when the local key changes. A missing key goes
// out as value_type 0 (NOT_EXIST), value_len 0: a 328-byte message.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../../totem/wire/decode-error';
import { execId, readExecHeader, writeExecHeader } from '../exec-header';
import { CMAP_VALUETYPE_NOT_EXIST, CmapValueTypeCode, type CmapValue, cmapValueBytes, cmapValueFromBytes } from './cmap-store';

export const CMAP_MCAST_FN = 0;
/** execId(0, 0): corosync leaves it at its zero-initialised value, which is the right id. */
export const CMAP_MCAST_ID = execId(0, CMAP_MCAST_FN);
export const CMAP_MCAST_HEADER_BYTES = 48;
/** The fixed part of an item: key_name (264), value_type (8), value_len (8). */
export const CMAP_MCAST_ITEM_BYTES = 280;
/** MAX_REQ_EXEC_CMAP_MCAST_ITEMS: the most items a sender puts in one message. */
export const CMAP_MCAST_ITEMS_MAX = 32;
/** Size of mar_name_t's value array (key text plus its NUL). */
export const MAR_NAME_VALUE_BYTES = 256;
export const CMAP_CONFIG_VERSION_KEY = 'totem.config_version';

export const CmapMcastReason = { sync: 0, newConfigVersion: 1 } as const;
export type CmapMcastReasonCode = (typeof CmapMcastReason)[keyof typeof CmapMcastReason];

export interface CmapMcastItem {
  /** key_name.value up to its first NUL, one character per byte. */
  readonly key: string;
  /** key_name.length as sent; the encoder writes key.length when absent. */
  readonly keyLength?: number;
  /** cmap value type code, 0 = the key does not exist. */
  readonly valueType: number;
  /** value_len bytes. */
  readonly value: Uint8Array;
}

export interface CmapMcast {
  /** 0 SYNC, 1 NEW_CONFIG_VERSION; other values are carried (receivers ignore them). */
  readonly reason: number;
  readonly items: readonly CmapMcastItem[];
  /** Always 0 from corosync. */
  readonly reserved1?: number;
  readonly reserved2?: number;
}

export interface DecodedCmapMcast extends CmapMcast {
  readonly items: readonly (CmapMcastItem & { readonly keyLength: number })[];
  /** The header id and size as sent (size is not checked against the length, as in corosync). */
  readonly id: number;
  readonly size: number;
  readonly reserved1: number;
  readonly reserved2: number;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** The total size of an item carrying `valueLength` value bytes. */
export function cmapMcastItemSize(valueLength: number): number {
  return align8(CMAP_MCAST_ITEM_BYTES + valueLength);
}

/** An item for `key` holding `value`, or NOT_EXIST when `value` is undefined (cmap_mcast_send). */
export function cmapMcastItem(key: string, value: CmapValue | undefined): CmapMcastItem {
  if (value === undefined) return { key, valueType: CMAP_VALUETYPE_NOT_EXIST, value: new Uint8Array(0) };
  return { key, valueType: CmapValueTypeCode[value.type], value: cmapValueBytes(value) };
}

/**
 * The message as corosync hands it to totempg: the 48-byte header block, then one piece
 * per item. Our own messages only: bad input is a programmer error (assertion).
 */
export function encodeCmapMcastPieces(m: CmapMcast): Uint8Array[] {
  assert(m.items.length <= CMAP_MCAST_ITEMS_MAX, `cmap MCAST with ${m.items.length} items (at most ${CMAP_MCAST_ITEMS_MAX})`);
  assert(Number.isInteger(m.reason) && m.reason >= 0 && m.reason <= 0xff, `cmap MCAST reason ${m.reason} is not a u8`);
  const items = m.items.map(encodeItem);
  const size = CMAP_MCAST_HEADER_BYTES + items.reduce((n, item) => n + item.length, 0);
  const header = new Uint8Array(CMAP_MCAST_HEADER_BYTES);
  writeExecHeader(header, CMAP_MCAST_ID, size);
  header[16] = m.reason;
  header[24] = m.items.length;
  header[32] = (m.reserved1 ?? 0) & 0xff;
  header[40] = (m.reserved2 ?? 0) & 0xff;
  return [header, ...items];
}

function encodeItem(item: CmapMcastItem): Uint8Array {
  assert(item.key.length < MAR_NAME_VALUE_BYTES, `cmap MCAST key of ${item.key.length} characters does not fit mar_name_t`);
  assert(Number.isInteger(item.valueType) && item.valueType >= 0 && item.valueType <= 0xff, `value type ${item.valueType} is not a u8`);
  const out = new Uint8Array(cmapMcastItemSize(item.value.length));
  const view = new DataView(out.buffer);
  view.setUint16(0, item.keyLength ?? item.key.length, true);
  for (let i = 0; i < item.key.length; i += 1) {
    const c = item.key.charCodeAt(i);
    assert(c > 0 && c <= 0xff, `cmap MCAST key character ${c} is not one non-NUL byte`);
    out[8 + i] = c;
  }
  out[264] = item.valueType;
  view.setBigUint64(272, BigInt(item.value.length), true);
  out.set(item.value, CMAP_MCAST_ITEM_BYTES);
  return out;
}

/** The whole message in one array (the pieces concatenated). */
export function encodeCmapMcast(m: CmapMcast): Uint8Array {
  const pieces = encodeCmapMcastPieces(m);
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Decodes a delivered cmap MCAST (header included). Every item must lie within the bytes
 * (corosync trusts no_items and value_len; we do not). Never throws.
 */
export function decodeCmapMcast(bytes: Uint8Array): Result<DecodedCmapMcast, DecodeError> {
  if (bytes.length < CMAP_MCAST_HEADER_BYTES) {
    return err(new DecodeError(DecodeErrorCode.truncated, `cmap MCAST of ${bytes.length} bytes is shorter than its ${CMAP_MCAST_HEADER_BYTES}-byte header`, bytes.length));
  }
  const header = readExecHeader(bytes);
  if (!header.ok) return header;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const noItems = view.getUint8(24);
  const items: (CmapMcastItem & { keyLength: number })[] = [];
  let at = CMAP_MCAST_HEADER_BYTES;
  for (let i = 0; i < noItems; i += 1) {
    if (at + CMAP_MCAST_ITEM_BYTES > bytes.length) {
      return err(new DecodeError(DecodeErrorCode.truncated, `cmap MCAST item ${i} of ${noItems} at ${at} runs past the end (${bytes.length} bytes)`, at));
    }
    const valueLen = view.getBigUint64(at + 272, true);
    if (valueLen > BigInt(bytes.length - at - CMAP_MCAST_ITEM_BYTES)) {
      return err(new DecodeError(DecodeErrorCode.badLength, `cmap MCAST item ${i}: value_len ${valueLen} runs past the end (${bytes.length} bytes)`, at + 272));
    }
    const length = Number(valueLen);
    let key = '';
    for (let k = 0; k < MAR_NAME_VALUE_BYTES; k += 1) {
      const c = bytes[at + 8 + k] as number;
      if (c === 0) break;
      key += String.fromCharCode(c);
    }
    const valueAt = at + CMAP_MCAST_ITEM_BYTES;
    items.push({
      key,
      keyLength: view.getUint16(at, true),
      valueType: view.getUint8(at + 264),
      value: bytes.slice(valueAt, valueAt + length),
    });
    at += cmapMcastItemSize(length);
  }
  return ok({
    id: header.value.id,
    size: header.value.size,
    reason: view.getUint8(16),
    items,
    reserved1: view.getUint8(32),
    reserved2: view.getUint8(40),
  });
}

/** cmap_mcast_item_find: the first item whose length field and text both equal `key`. */
export function findCmapMcastItem(m: CmapMcast, key: string): CmapMcastItem | undefined {
  return m.items.find((item) => (item.keyLength ?? item.key.length) === key.length && item.key === key);
}

/**
 * The config version a receiver reads from a SYNC or NEW_CONFIG_VERSION message
 * (message_handler_req_exec_cmap_mcast_reason_sync_nv): the totem.config_version item's
 * UINT64 value; 0 when the item is missing, NOT_EXIST or of another type. corosync copies
 * value_len bytes into a zeroed u64, so a short value fills the low bytes; we read at most
 * 8 (a longer one would overrun corosync's stack).
 */
export function cmapMcastConfigVersion(m: CmapMcast): bigint {
  const item = findCmapMcastItem(m, CMAP_CONFIG_VERSION_KEY);
  if (item === undefined || item.valueType !== CmapValueTypeCode.uint64) return 0n;
  let v = 0n;
  const n = Math.min(item.value.length, 8);
  for (let i = n - 1; i >= 0; i -= 1) v = (v << 8n) | BigInt(item.value[i] as number);
  return v;
}

/** The item's value as a typed cmap value; undefined for NOT_EXIST, unknown types or wrong widths. */
export function cmapMcastItemValue(item: CmapMcastItem): CmapValue | undefined {
  return cmapValueFromBytes(item.valueType, item.value);
}
