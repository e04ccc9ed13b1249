// CPG exec messages (service 2) of corosync 3.1.7 (corosync-wire.md §8): PROCJOIN and
// PROCLEAVE (168 bytes), MCAST (184 + n), JOINLIST (24 + 144·k, qb response header),
// DOWNLIST (1568), DOWNLIST_OLD (1560, decode only) and PARTIAL_MCAST (200 + n).
// Little-endian senders only (§1.3: the layers below reject foreign-endian packets).
//
// Every struct member is 8-aligned (`aligned(8)` in exec/cpg.c), so each u32 is followed
// by 4 pad bytes. `mar_cpg_name_t` is `length` (u32) + pad + 128 value bytes; only the
// first `length` bytes mean anything (real nodes leave client junk after them, §8.1).
//
// Junk that decoding drops and encoding writes as zeros (so a decoded capture message
// re-encodes to the same bytes once these are masked): every pad; name bytes after
// `length`; `source.conn` (a daemon pointer on real nodes) in MCAST and PARTIAL_MCAST;
// DOWNLIST `nodeids` after the first `left_nodes` (a real node's static buffer keeps
// entries of earlier downlists there, §8.4).
//
// Trust nothing: corosync hands the message to its handler trusting the header's
// `size` (JOINLIST iterates up to it, MCAST delivers `msglen` bytes). Here decoding
// never reads past the bytes it was given and rejects, as a DecodeError, any message
// whose `size` differs from its real length, whose fixed size is wrong, whose
// `msglen`/`fraglen` disagrees with `size`, whose JOINLIST body is not whole entries,
// whose name is longer than 128 bytes, or whose `left_nodes` exceeds 384. Real nodes
// always set `size` exactly (every message of both captures), so nothing a corosync
// node sends is rejected; a message corosync would over-read is dropped instead.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../../totem/wire/decode-error';
import { EXEC_RESPONSE_HEADER_BYTES, execId, readExecHeader } from '../exec-header';
import { ServiceId } from '../service-api';

/** Exec function ids of the CPG service (`enum cpg_message_req_types`). */
export const CpgFn = {
  procJoin: 0,
  procLeave: 1,
  joinList: 2,
  mcast: 3,
  downListOld: 4,
  downList: 5,
  partialMcast: 6,
} as const;
export type CpgFnCode = (typeof CpgFn)[keyof typeof CpgFn];

/** `lib_cpg_confchg_reason` / CPG_REASON_* (cpg.h). */
export const CpgReason = {
  undefined: 0,
  join: 1,
  leave: 2,
  nodeDown: 3,
  nodeUp: 4,
  procDown: 5,
} as const;
export type CpgReasonCode = (typeof CpgReason)[keyof typeof CpgReason];

/** LIBCPG_PARTIAL_* (ipc_cpg.h): the `type` of a PARTIAL_MCAST fragment. */
export const CpgPartialType = { first: 1, continued: 2, last: 3 } as const;
export type CpgPartialTypeCode = (typeof CpgPartialType)[keyof typeof CpgPartialType];

/** CPG_MAX_NAME_LENGTH: the most meaningful bytes of a group name. */
export const CPG_NAME_MAX = 128;
/** sizeof(mar_cpg_name_t). */
export const CPG_NAME_BYTES = 136;
/** PROCESSOR_COUNT_MAX: the size of the DOWNLIST nodeids array. */
export const CPG_PROCESSOR_COUNT_MAX = 384;

export const CpgSize = {
  procJoin: 168,
  mcastHeader: 184,
  partialMcastHeader: 200,
  downList: 16 + 16 + 4 * CPG_PROCESSOR_COUNT_MAX,
  downListOld: 16 + 8 + 4 * CPG_PROCESSOR_COUNT_MAX,
  joinListHeader: EXEC_RESPONSE_HEADER_BYTES,
  joinListEntry: 8 + CPG_NAME_BYTES,
} as const;

/** The largest exec message size an i32 `size` can state (encoders assert below it). */
const SIZE_MAX = 0x7fffffff;

export interface CpgProcJoin {
  readonly type: 'procjoin';
  /** The group name's meaningful bytes (1..128 of them from our senders; 0..128 decoded). */
  readonly group: Uint8Array;
  readonly pid: number;
  /** JOIN (1) from corosync; receivers ignore it. */
  readonly reason: number;
}

export interface CpgProcLeave {
  readonly type: 'procleave';
  readonly group: Uint8Array;
  readonly pid: number;
  /** LEAVE (2) after cpg_leave, PROCDOWN (5) when the client went away without leaving. */
  readonly reason: number;
}

export interface CpgMcast {
  readonly type: 'mcast';
  readonly group: Uint8Array;
  readonly pid: number;
  /** `source.nodeid`: real nodes write their own nodeid; receivers ignore it. */
  readonly sourceNodeId: number;
  /** The application message (`msglen` bytes); a view into the decoded bytes. */
  readonly payload: Uint8Array;
}

export interface CpgPartialMcast {
  readonly type: 'partial-mcast';
  readonly group: Uint8Array;
  readonly pid: number;
  /** Total size of the whole application message. */
  readonly msgLen: number;
  /** FIRST 1, CONTINUED 2, LAST 3. */
  readonly partType: CpgPartialTypeCode;
  readonly sourceNodeId: number;
  /** This fragment (`fraglen` bytes); a view into the decoded bytes. */
  readonly payload: Uint8Array;
}

export interface CpgDownList {
  readonly type: 'downlist';
  /** Size of the sender's previous member list. */
  readonly oldMembers: number;
  /** The first `left_nodes` entries of `nodeids`. */
  readonly leftNodes: readonly number[];
}

export interface CpgDownListOld {
  readonly type: 'downlist-old';
  readonly leftNodes: readonly number[];
}

export interface CpgJoinListEntry {
  readonly pid: number;
  readonly group: Uint8Array;
}

export interface CpgJoinList {
  readonly type: 'joinlist';
  /** The response header's `error` (i32, 0 from corosync). */
  readonly error: number;
  readonly entries: readonly CpgJoinListEntry[];
}

export type CpgMessage = CpgProcJoin | CpgProcLeave | CpgMcast | CpgPartialMcast | CpgDownList | CpgDownListOld | CpgJoinList;

// ---------------------------------------------------------------------------------------
// Names

/** Whether a name can be sent: 1..128 bytes (an empty name means "no group" to corosync). */
export function isValidCpgName(name: Uint8Array): boolean {
  return name.length >= 1 && name.length <= CPG_NAME_MAX;
}

/** Byte-wise equality, as corosync's mar_name_compare (length, then the first length bytes). */
export function cpgNamesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** Writes `mar_cpg_name_t` at `offset`: length, zero pad, name bytes, zero fill. */
function writeName(bytes: Uint8Array, view: DataView, offset: number, name: Uint8Array): void {
  assert(name.length <= CPG_NAME_MAX, `a CPG group name has at most ${CPG_NAME_MAX} bytes, not ${name.length}`);
  view.setUint32(offset, name.length, true);
  bytes.set(name, offset + 8);
}

function readName(bytes: Uint8Array, view: DataView, offset: number, what: string): Result<Uint8Array, DecodeError> {
  const length = view.getUint32(offset, true);
  if (length > CPG_NAME_MAX) {
    return err(new DecodeError(DecodeErrorCode.badField, `${what}: group name length ${length} exceeds ${CPG_NAME_MAX}`, offset));
  }
  return ok(bytes.slice(offset + 8, offset + 8 + length));
}

function assertU32(value: number, what: string): void {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `${what} must be a u32, not ${value}`);
}

// ---------------------------------------------------------------------------------------
// Encoders (our sends: pads, name fill and source.conn are zero)

function procJoinLeave(fn: number, group: Uint8Array, pid: number, reason: number): Uint8Array {
  assertU32(pid, 'pid');
  assertU32(reason, 'reason');
  const bytes = new Uint8Array(CpgSize.procJoin);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, execId(ServiceId.cpg, fn), true);
  view.setInt32(8, CpgSize.procJoin, true);
  writeName(bytes, view, 16, group);
  view.setUint32(152, pid, true);
  view.setUint32(160, reason, true);
  return bytes;
}

export function encodeProcJoin(m: { readonly group: Uint8Array; readonly pid: number; readonly reason?: number }): Uint8Array {
  return procJoinLeave(CpgFn.procJoin, m.group, m.pid, m.reason ?? CpgReason.join);
}

export function encodeProcLeave(m: { readonly group: Uint8Array; readonly pid: number; readonly reason: number }): Uint8Array {
  return procJoinLeave(CpgFn.procLeave, m.group, m.pid, m.reason);
}

/**
 * An MCAST as corosync hands it to totempg: two pieces, the 184-byte header and the
 * payload (the piece boundary influences where totempg cuts packets, §5.2).
 */
export function encodeMcastSegments(m: { readonly group: Uint8Array; readonly pid: number; readonly sourceNodeId: number; readonly payload: Uint8Array }): [Uint8Array, Uint8Array] {
  assertU32(m.pid, 'pid');
  assertU32(m.sourceNodeId, 'source nodeid');
  assert(m.payload.length <= SIZE_MAX - CpgSize.mcastHeader, 'an MCAST payload must fit an i32 size');
  const header = new Uint8Array(CpgSize.mcastHeader);
  const view = new DataView(header.buffer);
  view.setInt32(0, execId(ServiceId.cpg, CpgFn.mcast), true);
  view.setInt32(8, CpgSize.mcastHeader + m.payload.length, true);
  writeName(header, view, 16, m.group);
  view.setUint32(152, m.payload.length, true);
  view.setUint32(160, m.pid, true);
  view.setUint32(168, m.sourceNodeId, true);
  return [header, m.payload];
}

export function encodeMcast(m: { readonly group: Uint8Array; readonly pid: number; readonly sourceNodeId: number; readonly payload: Uint8Array }): Uint8Array {
  return concat(encodeMcastSegments(m));
}

/** A PARTIAL_MCAST fragment as two pieces (200-byte header, fragment). */
export function encodePartialMcastSegments(m: {
  readonly group: Uint8Array;
  readonly pid: number;
  readonly msgLen: number;
  readonly partType: CpgPartialTypeCode;
  readonly sourceNodeId: number;
  readonly payload: Uint8Array;
}): [Uint8Array, Uint8Array] {
  assertU32(m.pid, 'pid');
  assertU32(m.msgLen, 'msglen');
  assertU32(m.sourceNodeId, 'source nodeid');
  assert(m.payload.length <= SIZE_MAX - CpgSize.partialMcastHeader, 'a PARTIAL_MCAST fragment must fit an i32 size');
  const header = new Uint8Array(CpgSize.partialMcastHeader);
  const view = new DataView(header.buffer);
  view.setInt32(0, execId(ServiceId.cpg, CpgFn.partialMcast), true);
  view.setInt32(8, CpgSize.partialMcastHeader + m.payload.length, true);
  writeName(header, view, 16, m.group);
  view.setUint32(152, m.msgLen, true);
  view.setUint32(160, m.payload.length, true);
  view.setUint32(168, m.pid, true);
  view.setUint32(176, m.partType, true);
  view.setUint32(184, m.sourceNodeId, true);
  return [header, m.payload];
}

export function encodeDownList(m: { readonly oldMembers: number; readonly leftNodes: readonly number[] }): Uint8Array {
  assertU32(m.oldMembers, 'old_members');
  assert(m.leftNodes.length <= CPG_PROCESSOR_COUNT_MAX, `a DOWNLIST names at most ${CPG_PROCESSOR_COUNT_MAX} nodes`);
  const bytes = new Uint8Array(CpgSize.downList);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, execId(ServiceId.cpg, CpgFn.downList), true);
  view.setInt32(8, CpgSize.downList, true);
  view.setUint32(16, m.oldMembers, true);
  view.setUint32(24, m.leftNodes.length, true);
  m.leftNodes.forEach((node, i) => {
    assertU32(node, 'left nodeid');
    view.setUint32(32 + 4 * i, node, true);
  });
  return bytes;
}

/** The most JOINLIST entries whose size still fits an i32. */
export const CPG_JOINLIST_ENTRIES_MAX = Math.floor((SIZE_MAX - CpgSize.joinListHeader) / CpgSize.joinListEntry);

export function encodeJoinList(entries: readonly CpgJoinListEntry[]): Uint8Array {
  assert(entries.length <= CPG_JOINLIST_ENTRIES_MAX, 'too many JOINLIST entries');
  const size = CpgSize.joinListHeader + CpgSize.joinListEntry * entries.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, execId(ServiceId.cpg, CpgFn.joinList), true);
  view.setInt32(8, size, true);
  entries.forEach((e, i) => {
    const at = CpgSize.joinListHeader + CpgSize.joinListEntry * i;
    assertU32(e.pid, 'pid');
    view.setUint32(at, e.pid, true);
    writeName(bytes, view, at + 8, e.group);
  });
  return bytes;
}

/** Encodes any CPG message a node may send (DOWNLIST_OLD is obsolete: decode only). */
export function encodeCpgMessage(m: Exclude<CpgMessage, CpgDownListOld>): Uint8Array {
  switch (m.type) {
    case 'procjoin':
      return encodeProcJoin(m);
    case 'procleave':
      return encodeProcLeave(m);
    case 'mcast':
      return encodeMcast(m);
    case 'partial-mcast':
      return concat(encodePartialMcastSegments(m));
    case 'downlist':
      return encodeDownList(m);
    case 'joinlist': {
      const bytes = encodeJoinList(m.entries);
      new DataView(bytes.buffer).setInt32(16, m.error, true);
      return bytes;
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Decoders

function exactSize(bytes: Uint8Array, expected: number, what: string): DecodeError | null {
  if (bytes.length === expected) return null;
  const code = bytes.length < expected ? DecodeErrorCode.truncated : DecodeErrorCode.badLength;
  return new DecodeError(code, `${what} has ${bytes.length} bytes, not ${expected}`, Math.min(bytes.length, expected));
}

function minSize(bytes: Uint8Array, min: number, what: string): DecodeError | null {
  if (bytes.length >= min) return null;
  return new DecodeError(DecodeErrorCode.truncated, `${what} of ${bytes.length} bytes is shorter than its ${min}-byte header`, bytes.length);
}

function decodeProcJoinLeave(bytes: Uint8Array, view: DataView, type: 'procjoin' | 'procleave'): Result<CpgProcJoin | CpgProcLeave, DecodeError> {
  const bad = exactSize(bytes, CpgSize.procJoin, type.toUpperCase());
  if (bad) return err(bad);
  const group = readName(bytes, view, 16, type.toUpperCase());
  if (!group.ok) return group;
  return ok({ type, group: group.value, pid: view.getUint32(152, true), reason: view.getUint32(160, true) });
}

function decodeMcastBody(bytes: Uint8Array, view: DataView): Result<CpgMcast, DecodeError> {
  const bad = minSize(bytes, CpgSize.mcastHeader, 'MCAST');
  if (bad) return err(bad);
  const msgLen = view.getUint32(152, true);
  if (msgLen !== bytes.length - CpgSize.mcastHeader) {
    return err(new DecodeError(DecodeErrorCode.badLength, `MCAST msglen ${msgLen} disagrees with its ${bytes.length - CpgSize.mcastHeader} payload bytes`, 152));
  }
  const group = readName(bytes, view, 16, 'MCAST');
  if (!group.ok) return group;
  return ok({
    type: 'mcast',
    group: group.value,
    pid: view.getUint32(160, true),
    sourceNodeId: view.getUint32(168, true),
    payload: bytes.subarray(CpgSize.mcastHeader),
  });
}

function decodePartialBody(bytes: Uint8Array, view: DataView): Result<CpgPartialMcast, DecodeError> {
  const bad = minSize(bytes, CpgSize.partialMcastHeader, 'PARTIAL_MCAST');
  if (bad) return err(bad);
  const msgLen = view.getUint32(152, true);
  const fragLen = view.getUint32(160, true);
  if (fragLen !== bytes.length - CpgSize.partialMcastHeader) {
    return err(new DecodeError(DecodeErrorCode.badLength, `PARTIAL_MCAST fraglen ${fragLen} disagrees with its ${bytes.length - CpgSize.partialMcastHeader} fragment bytes`, 160));
  }
  if (fragLen > msgLen) {
    return err(new DecodeError(DecodeErrorCode.badField, `PARTIAL_MCAST fraglen ${fragLen} exceeds msglen ${msgLen}`, 152));
  }
  const partType = view.getUint32(176, true);
  if (partType !== CpgPartialType.first && partType !== CpgPartialType.continued && partType !== CpgPartialType.last) {
    return err(new DecodeError(DecodeErrorCode.badField, `PARTIAL_MCAST type ${partType} is not 1, 2 or 3`, 176));
  }
  const group = readName(bytes, view, 16, 'PARTIAL_MCAST');
  if (!group.ok) return group;
  return ok({
    type: 'partial-mcast',
    group: group.value,
    pid: view.getUint32(168, true),
    msgLen,
    partType,
    sourceNodeId: view.getUint32(184, true),
    payload: bytes.subarray(CpgSize.partialMcastHeader),
  });
}

function readLeftNodes(view: DataView, countAt: number, listAt: number, what: string): Result<number[], DecodeError> {
  const count = view.getUint32(countAt, true);
  if (count > CPG_PROCESSOR_COUNT_MAX) {
    return err(new DecodeError(DecodeErrorCode.badField, `${what} left_nodes ${count} exceeds ${CPG_PROCESSOR_COUNT_MAX}`, countAt));
  }
  const nodes: number[] = [];
  for (let i = 0; i < count; i += 1) nodes.push(view.getUint32(listAt + 4 * i, true));
  return ok(nodes);
}

function decodeDownListBody(bytes: Uint8Array, view: DataView): Result<CpgDownList, DecodeError> {
  const bad = exactSize(bytes, CpgSize.downList, 'DOWNLIST');
  if (bad) return err(bad);
  const left = readLeftNodes(view, 24, 32, 'DOWNLIST');
  if (!left.ok) return left;
  return ok({ type: 'downlist', oldMembers: view.getUint32(16, true), leftNodes: left.value });
}

function decodeDownListOldBody(bytes: Uint8Array, view: DataView): Result<CpgDownListOld, DecodeError> {
  const bad = exactSize(bytes, CpgSize.downListOld, 'DOWNLIST_OLD');
  if (bad) return err(bad);
  const left = readLeftNodes(view, 16, 24, 'DOWNLIST_OLD');
  if (!left.ok) return left;
  return ok({ type: 'downlist-old', leftNodes: left.value });
}

function decodeJoinListBody(bytes: Uint8Array, view: DataView): Result<CpgJoinList, DecodeError> {
  const bad = minSize(bytes, CpgSize.joinListHeader, 'JOINLIST');
  if (bad) return err(bad);
  const body = bytes.length - CpgSize.joinListHeader;
  if (body % CpgSize.joinListEntry !== 0) {
    return err(new DecodeError(DecodeErrorCode.badLength, `JOINLIST body of ${body} bytes is not a whole number of ${CpgSize.joinListEntry}-byte entries`, CpgSize.joinListHeader));
  }
  const entries: CpgJoinListEntry[] = [];
  for (let at = CpgSize.joinListHeader; at < bytes.length; at += CpgSize.joinListEntry) {
    const group = readName(bytes, view, at + 8, 'JOINLIST entry');
    if (!group.ok) return group;
    entries.push({ pid: view.getUint32(at, true), group: group.value });
  }
  return ok({ type: 'joinlist', error: view.getInt32(16, true), entries });
}

/**
 * Decodes one CPG exec message (header included). The header must name service 2 and a
 * known function, and its `size` must equal `bytes.length`. Never throws.
 */
export function decodeCpgMessage(bytes: Uint8Array): Result<CpgMessage, DecodeError> {
  const header = readExecHeader(bytes);
  if (!header.ok) return header;
  const { id, size } = header.value;
  if (id >>> 16 !== ServiceId.cpg) {
    return err(new DecodeError(DecodeErrorCode.badType, `exec id 0x${(id >>> 0).toString(16)} is not a CPG message`, 0));
  }
  if (size !== bytes.length) {
    return err(new DecodeError(DecodeErrorCode.badLength, `exec header size ${size} differs from the message's ${bytes.length} bytes`, 8));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fn = id & 0xffff;
  switch (fn) {
    case CpgFn.procJoin:
      return decodeProcJoinLeave(bytes, view, 'procjoin');
    case CpgFn.procLeave:
      return decodeProcJoinLeave(bytes, view, 'procleave');
    case CpgFn.joinList:
      return decodeJoinListBody(bytes, view);
    case CpgFn.mcast:
      return decodeMcastBody(bytes, view);
    case CpgFn.downListOld:
      return decodeDownListOldBody(bytes, view);
    case CpgFn.downList:
      return decodeDownListBody(bytes, view);
    case CpgFn.partialMcast:
      return decodePartialBody(bytes, view);
    default:
      return err(new DecodeError(DecodeErrorCode.badType, `CPG function ${fn} is out of range (0..6)`, 0));
  }
}

/** The function id a decoded message travels with. */
export function cpgFnOf(m: CpgMessage): CpgFnCode {
  switch (m.type) {
    case 'procjoin':
      return CpgFn.procJoin;
    case 'procleave':
      return CpgFn.procLeave;
    case 'joinlist':
      return CpgFn.joinList;
    case 'mcast':
      return CpgFn.mcast;
    case 'downlist-old':
      return CpgFn.downListOld;
    case 'downlist':
      return CpgFn.downList;
    case 'partial-mcast':
      return CpgFn.partialMcast;
  }
}
