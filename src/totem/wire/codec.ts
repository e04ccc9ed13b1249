// Binary codec for the six totemsrp message types, byte-compatible with corosync 3.1.7
// on udp/udpu (corosync-wire.md §1 header and its validation §1.2, §2.2–§2.7 layouts,
// Appendix A/B sizes). Only little-endian is spoken: §1.3 explains why a compatible node
// must send LE, and in a homogeneous LE cluster a byte-swapped magic never occurs, so it
// is reported as DecodeError `foreignEndian` instead of being converted.
//
// Decoding takes untrusted network bytes and never throws: every failure is a
// DecodeError value. Encoding takes messages built by our own code, so a malformed
// message there is a programmer error and trips an assertion.
//
// Deliberate differences from corosync's receive path (all on the side of rejecting
// what corosync would mis-handle):
// - A MEMB_COMMIT_TOKEN shorter than 41 + 28·n is rejected (corosync's length check
//   returns "OK" by mistake and processes it, §2.6), as are `addr_entries` outside
//   0..384 and `memb_index` outside 0..addr_entries (corosync asserts on the latter).
// - A MEMB_JOIN with more than 384 proc or failed entries is rejected: corosync's
//   membership sets are 384 entries long.
// - An MCAST longer than FRAME_SIZE_MAX (65536) is rejected (corosync asserts, §4.1).
// - An MCAST whose `encapsulated` byte is neither 1 nor 2 is rejected (corosync treats
//   any value other than 1 as "not encapsulated" but never sends one).
// Like corosync, datagrams longer than their declared layout are accepted for every
// type; the surplus bytes are ignored (except MCAST, whose payload is everything after
// byte 45), so such a datagram re-encodes shorter. The `encapsulated` header byte of
// non-MCAST types is not read (corosync writes 0 there) and is re-encoded as 0.

import { assert } from '../../base/assert';
import { type Result, err, ok } from '../../base/result';
import { DecodeError, DecodeErrorCode } from './decode-error';
import {
  type CommitMembEntry,
  type CommitToken,
  Encapsulation,
  type EncapsulationCode,
  type Join,
  type Mcast,
  type MergeDetect,
  MessageType,
  type MessageTypeCode,
  type OrfToken,
  type RingId,
  type RtrItem,
  type TokenHoldCancel,
  type TotemMessage,
  WireLimits,
} from './messages';

const LE = true;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const RING_ID_BYTES = 12;
const MEMB_ENTRY_BYTES = 24;
const NODE_ID_BYTES = 4;
/** The magic as read little-endian from a big-endian sender's bytes `C0 70`. */
const MAGIC_SWAPPED = 0x70c0;

// Header offsets (§1.1).
const OFF_MAGIC = 0;
const OFF_VERSION = 2;
const OFF_TYPE = 3;
const OFF_ENCAPSULATED = 4;
const OFF_NODE_ID = 5;
const OFF_TARGET_NODE_ID = 9;

type DecodeResult<T> = Result<T, DecodeError>;

function fail(code: DecodeError['code'], message: string, offset?: number): { ok: false; error: DecodeError } {
  return err(new DecodeError(code, message, offset));
}

function viewOf(bytes: Uint8Array): DataView {
  // Respect byteOffset: Node Buffers are often slices of a shared pool.
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Checks the 13-byte common header as corosync does on every received datagram
 * (§1.2) and returns the message type. Also enforces UDP_RECEIVE_FRAME_SIZE_MAX.
 */
function checkHeader(bytes: Uint8Array, view: DataView): DecodeResult<MessageTypeCode> {
  if (bytes.byteLength > WireLimits.datagramBytesMax) {
    return fail(
      DecodeErrorCode.tooLarge,
      `datagram of ${bytes.byteLength} bytes exceeds ${WireLimits.datagramBytesMax}`,
    );
  }
  if (bytes.byteLength < WireLimits.headerBytes) {
    return fail(DecodeErrorCode.truncated, `datagram of ${bytes.byteLength} bytes is shorter than the 13-byte header`, 0);
  }
  const magic = view.getUint16(OFF_MAGIC, LE);
  if (magic !== WireLimits.magic) {
    if (magic === MAGIC_SWAPPED) {
      return fail(DecodeErrorCode.foreignEndian, 'byte-swapped magic: big-endian sender, not supported', OFF_MAGIC);
    }
    return fail(DecodeErrorCode.badMagic, `bad magic 0x${magic.toString(16).padStart(4, '0')}`, OFF_MAGIC);
  }
  const version = view.getUint8(OFF_VERSION);
  if (version !== WireLimits.version) {
    return fail(DecodeErrorCode.badVersion, `unsupported version ${version}`, OFF_VERSION);
  }
  const type = view.getUint8(OFF_TYPE);
  if (type > MessageType.tokenHoldCancel) {
    return fail(DecodeErrorCode.badType, `unknown message type ${type}`, OFF_TYPE);
  }
  return ok(type as MessageTypeCode);
}

/**
 * Validates the common header and returns the totemsrp message type code without
 * decoding the body (cheap classification, e.g. for capture tools).
 */
export function peekMessageType(bytes: Uint8Array): Result<MessageTypeCode, DecodeError> {
  return checkHeader(bytes, viewOf(bytes));
}

function readRingId(view: DataView, off: number): RingId {
  return { rep: view.getUint32(off, LE), seq: view.getBigUint64(off + 4, LE) };
}

function needBytes(bytes: Uint8Array, need: number, what: string): DecodeError | undefined {
  if (bytes.byteLength >= need) return undefined;
  return new DecodeError(
    DecodeErrorCode.truncated,
    `${what}: ${bytes.byteLength} bytes, at least ${need} required`,
    bytes.byteLength,
  );
}

function needEntries(bytes: Uint8Array, need: number, what: string): DecodeError | undefined {
  if (bytes.byteLength >= need) return undefined;
  return new DecodeError(
    DecodeErrorCode.badLength,
    `${what}: ${bytes.byteLength} bytes, the entry counts require ${need}`,
    bytes.byteLength,
  );
}

function decodeOrfToken(bytes: Uint8Array, view: DataView): DecodeResult<OrfToken> {
  const short = needBytes(bytes, WireLimits.orfTokenBaseBytes, 'ORF token');
  if (short) return err(short);
  const entries = view.getInt32(53, LE);
  if (entries < 0 || entries > WireLimits.retransmitEntriesMax) {
    return fail(
      DecodeErrorCode.badField,
      `ORF token rtr_list_entries ${entries} outside 0..${WireLimits.retransmitEntriesMax}`,
      53,
    );
  }
  const mismatch = needEntries(bytes, WireLimits.orfTokenBaseBytes + WireLimits.rtrItemBytes * entries, 'ORF token');
  if (mismatch) return err(mismatch);
  const rtrList: RtrItem[] = new Array<RtrItem>(entries);
  let off = WireLimits.orfTokenBaseBytes;
  for (let i = 0; i < entries; i++) {
    rtrList[i] = { ringId: readRingId(view, off), seq: view.getUint32(off + RING_ID_BYTES, LE) };
    off += WireLimits.rtrItemBytes;
  }
  return ok({
    type: 'orf-token',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    seq: view.getUint32(13, LE),
    tokenSeq: view.getUint32(17, LE),
    aru: view.getUint32(21, LE),
    aruAddr: view.getUint32(25, LE),
    ringId: readRingId(view, 29),
    backlog: view.getUint32(41, LE),
    fcc: view.getUint32(45, LE),
    retransFlg: view.getInt32(49, LE),
    rtrList,
  });
}

function decodeMcast(bytes: Uint8Array, view: DataView): DecodeResult<Mcast> {
  const short = needBytes(bytes, WireLimits.mcastHeaderBytes, 'MCAST');
  if (short) return err(short);
  if (bytes.byteLength > WireLimits.frameBytesMax) {
    // corosync would accept the datagram and then assert when storing it (§4.1).
    return fail(
      DecodeErrorCode.tooLarge,
      `MCAST of ${bytes.byteLength} bytes exceeds FRAME_SIZE_MAX ${WireLimits.frameBytesMax}`,
    );
  }
  const encapsulated = view.getUint8(OFF_ENCAPSULATED);
  if (encapsulated !== Encapsulation.encapsulated && encapsulated !== Encapsulation.notEncapsulated) {
    return fail(DecodeErrorCode.badField, `MCAST encapsulated ${encapsulated} is neither 1 nor 2`, OFF_ENCAPSULATED);
  }
  return ok({
    type: 'mcast',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    encapsulated: encapsulated as EncapsulationCode,
    systemFrom: view.getUint32(13, LE),
    seq: view.getUint32(17, LE),
    thisSeqno: view.getInt32(21, LE),
    ringId: readRingId(view, 25),
    nodeIdField: view.getUint32(37, LE),
    guarantee: view.getInt32(41, LE),
    // A view, not a copy: decode stays allocation-light on the hot path. Callers that
    // reuse their receive buffer must copy what they keep.
    payload: bytes.subarray(WireLimits.mcastHeaderBytes),
  });
}

function decodeMergeDetect(bytes: Uint8Array, view: DataView): DecodeResult<MergeDetect> {
  const short = needBytes(bytes, WireLimits.mergeDetectBytes, 'MERGE_DETECT');
  if (short) return err(short);
  return ok({
    type: 'merge-detect',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    systemFrom: view.getUint32(13, LE),
    ringId: readRingId(view, 17),
  });
}

function readNodeIds(view: DataView, off: number, count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint32(off + NODE_ID_BYTES * i, LE);
  return out;
}

function decodeJoin(bytes: Uint8Array, view: DataView): DecodeResult<Join> {
  const short = needBytes(bytes, WireLimits.joinBaseBytes, 'MEMB_JOIN');
  if (short) return err(short);
  const procEntries = view.getUint32(17, LE);
  const failedEntries = view.getUint32(21, LE);
  if (procEntries > WireLimits.processorCountMax) {
    return fail(DecodeErrorCode.badField, `MEMB_JOIN proc_list_entries ${procEntries} > ${WireLimits.processorCountMax}`, 17);
  }
  if (failedEntries > WireLimits.processorCountMax) {
    return fail(
      DecodeErrorCode.badField,
      `MEMB_JOIN failed_list_entries ${failedEntries} > ${WireLimits.processorCountMax}`,
      21,
    );
  }
  const procOff = WireLimits.joinBaseBytes;
  const failedOff = procOff + NODE_ID_BYTES * procEntries;
  const mismatch = needEntries(bytes, failedOff + NODE_ID_BYTES * failedEntries, 'MEMB_JOIN');
  if (mismatch) return err(mismatch);
  return ok({
    type: 'join',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    systemFrom: view.getUint32(13, LE),
    ringSeq: view.getBigUint64(25, LE),
    procList: readNodeIds(view, procOff, procEntries),
    failedList: readNodeIds(view, failedOff, failedEntries),
  });
}

function decodeCommitToken(bytes: Uint8Array, view: DataView): DecodeResult<CommitToken> {
  const short = needBytes(bytes, WireLimits.commitTokenBaseBytes, 'MEMB_COMMIT_TOKEN');
  if (short) return err(short);
  const membIndex = view.getInt32(33, LE);
  const addrEntries = view.getInt32(37, LE);
  if (addrEntries < 0 || addrEntries > WireLimits.processorCountMax) {
    return fail(
      DecodeErrorCode.badField,
      `MEMB_COMMIT_TOKEN addr_entries ${addrEntries} outside 0..${WireLimits.processorCountMax}`,
      37,
    );
  }
  if (membIndex < 0 || membIndex > addrEntries) {
    return fail(DecodeErrorCode.badField, `MEMB_COMMIT_TOKEN memb_index ${membIndex} outside 0..${addrEntries}`, 33);
  }
  const mismatch = needEntries(
    bytes,
    WireLimits.commitTokenBaseBytes + WireLimits.commitEntryBytes * addrEntries,
    'MEMB_COMMIT_TOKEN',
  );
  if (mismatch) return err(mismatch);
  const addr = readNodeIds(view, WireLimits.commitTokenBaseBytes, addrEntries);
  const membList = new Array<CommitMembEntry>(addrEntries);
  let off = WireLimits.commitTokenBaseBytes + NODE_ID_BYTES * addrEntries;
  for (let i = 0; i < addrEntries; i++) {
    membList[i] = {
      ringId: readRingId(view, off),
      aru: view.getUint32(off + 12, LE),
      highDelivered: view.getUint32(off + 16, LE),
      receivedFlg: view.getUint32(off + 20, LE),
    };
    off += MEMB_ENTRY_BYTES;
  }
  return ok({
    type: 'commit-token',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    tokenSeq: view.getUint32(13, LE),
    ringId: readRingId(view, 17),
    retransFlg: view.getUint32(29, LE),
    membIndex,
    addr,
    membList,
  });
}

function decodeTokenHoldCancel(bytes: Uint8Array, view: DataView): DecodeResult<TokenHoldCancel> {
  const short = needBytes(bytes, WireLimits.tokenHoldCancelBytes, 'TOKEN_HOLD_CANCEL');
  if (short) return err(short);
  return ok({
    type: 'token-hold-cancel',
    nodeId: view.getUint32(OFF_NODE_ID, LE),
    targetNodeId: view.getUint32(OFF_TARGET_NODE_ID, LE),
    ringId: readRingId(view, 13),
  });
}

/**
 * Decodes one UDP payload into a totemsrp message. Never throws. For MCAST the
 * returned `payload` is a view into `bytes` (everything after byte 45); for an
 * encapsulated MCAST it is the complete inner MCAST datagram, which may be decoded
 * with this function again.
 */
export function decodeMessage(bytes: Uint8Array): Result<TotemMessage, DecodeError> {
  const view = viewOf(bytes);
  const header = checkHeader(bytes, view);
  if (!header.ok) return header;
  switch (header.value) {
    case MessageType.orfToken:
      return decodeOrfToken(bytes, view);
    case MessageType.mcast:
      return decodeMcast(bytes, view);
    case MessageType.mergeDetect:
      return decodeMergeDetect(bytes, view);
    case MessageType.join:
      return decodeJoin(bytes, view);
    case MessageType.commitToken:
      return decodeCommitToken(bytes, view);
    case MessageType.tokenHoldCancel:
      return decodeTokenHoldCancel(bytes, view);
  }
}

/** Exact encoded size in bytes (Appendix B). */
export function encodedLength(m: TotemMessage): number {
  switch (m.type) {
    case 'orf-token':
      return WireLimits.orfTokenBaseBytes + WireLimits.rtrItemBytes * m.rtrList.length;
    case 'mcast':
      return WireLimits.mcastHeaderBytes + m.payload.byteLength;
    case 'merge-detect':
      return WireLimits.mergeDetectBytes;
    case 'join':
      return WireLimits.joinBaseBytes + NODE_ID_BYTES * (m.procList.length + m.failedList.length);
    case 'commit-token':
      return WireLimits.commitTokenBaseBytes + WireLimits.commitEntryBytes * m.addr.length;
    case 'token-hold-cancel':
      return WireLimits.tokenHoldCancelBytes;
  }
}

// Encoders assert field ranges: DataView setters would otherwise wrap silently and put
// a different value on the wire than the one the core reasoned about. The checks are
// plain comparisons; the assertion message is only built when one fails (this is the
// hot path of every send and of every simulated packet).
function check(condition: boolean, message: () => string): void {
  if (!condition) assert(false, message());
}

function u32(view: DataView, off: number, v: number, field: string): void {
  if (v >>> 0 !== v) assert(false, `${field} ${v} is not a u32`);
  view.setUint32(off, v, LE);
}

function i32(view: DataView, off: number, v: number, field: string): void {
  if ((v | 0) !== v) assert(false, `${field} ${v} is not an i32`);
  view.setInt32(off, v, LE);
}

function u64(view: DataView, off: number, v: bigint, field: string): void {
  if (v < 0n || v > U64_MAX) assert(false, `${field} ${v} is not a u64`);
  view.setBigUint64(off, v, LE);
}

function ringId(view: DataView, off: number, r: RingId, field: string): void {
  u32(view, off, r.rep, field);
  u64(view, off + 4, r.seq, field);
}

function writeHeader(view: DataView, type: MessageTypeCode, encapsulated: number, m: TotemMessage): void {
  view.setUint16(OFF_MAGIC, WireLimits.magic, LE);
  view.setUint8(OFF_VERSION, WireLimits.version);
  view.setUint8(OFF_TYPE, type);
  view.setUint8(OFF_ENCAPSULATED, encapsulated);
  u32(view, OFF_NODE_ID, m.nodeId, 'nodeId');
  u32(view, OFF_TARGET_NODE_ID, m.targetNodeId, 'targetNodeId');
}

function writeNodeIds(view: DataView, off: number, ids: readonly number[], field: string): void {
  for (let i = 0; i < ids.length; i++) u32(view, off + NODE_ID_BYTES * i, ids[i] as number, field);
}

/**
 * Encodes a message into a fresh buffer, little-endian, pad bytes zero. Asserts the
 * protocol limits a real node enforces on receipt (≤ 30 rtr items, ≤ 384 members,
 * addr and membList of equal length) so we never put on the wire what corosync would
 * drop or crash on.
 */
export function encodeMessage(m: TotemMessage): Uint8Array {
  const bytes = new Uint8Array(encodedLength(m));
  const view = new DataView(bytes.buffer);
  switch (m.type) {
    case 'orf-token': {
      check(m.rtrList.length <= WireLimits.retransmitEntriesMax, () => `rtrList has ${m.rtrList.length} items`);
      writeHeader(view, MessageType.orfToken, 0, m);
      u32(view, 13, m.seq, 'seq');
      u32(view, 17, m.tokenSeq, 'tokenSeq');
      u32(view, 21, m.aru, 'aru');
      u32(view, 25, m.aruAddr, 'aruAddr');
      ringId(view, 29, m.ringId, 'ringId');
      u32(view, 41, m.backlog, 'backlog');
      u32(view, 45, m.fcc, 'fcc');
      i32(view, 49, m.retransFlg, 'retransFlg');
      view.setInt32(53, m.rtrList.length, LE);
      let off = WireLimits.orfTokenBaseBytes;
      for (const item of m.rtrList) {
        ringId(view, off, item.ringId, 'rtrList.ringId');
        u32(view, off + RING_ID_BYTES, item.seq, 'rtrList.seq');
        off += WireLimits.rtrItemBytes;
      }
      return bytes;
    }
    case 'mcast': {
      check(
        m.encapsulated === Encapsulation.encapsulated || m.encapsulated === Encapsulation.notEncapsulated,
        () => `encapsulated ${String(m.encapsulated)}`,
      );
      check(bytes.byteLength <= WireLimits.frameBytesMax, () => `MCAST of ${bytes.byteLength} bytes`);
      writeHeader(view, MessageType.mcast, m.encapsulated, m);
      u32(view, 13, m.systemFrom, 'systemFrom');
      u32(view, 17, m.seq, 'seq');
      i32(view, 21, m.thisSeqno, 'thisSeqno');
      ringId(view, 25, m.ringId, 'ringId');
      u32(view, 37, m.nodeIdField, 'nodeIdField');
      i32(view, 41, m.guarantee, 'guarantee');
      bytes.set(m.payload, WireLimits.mcastHeaderBytes);
      return bytes;
    }
    case 'merge-detect':
      writeHeader(view, MessageType.mergeDetect, 0, m);
      u32(view, 13, m.systemFrom, 'systemFrom');
      ringId(view, 17, m.ringId, 'ringId');
      return bytes;
    case 'join': {
      check(m.procList.length <= WireLimits.processorCountMax, () => `procList has ${m.procList.length} entries`);
      check(m.failedList.length <= WireLimits.processorCountMax, () => `failedList has ${m.failedList.length} entries`);
      writeHeader(view, MessageType.join, 0, m);
      u32(view, 13, m.systemFrom, 'systemFrom');
      view.setUint32(17, m.procList.length, LE);
      view.setUint32(21, m.failedList.length, LE);
      u64(view, 25, m.ringSeq, 'ringSeq');
      writeNodeIds(view, WireLimits.joinBaseBytes, m.procList, 'procList');
      writeNodeIds(view, WireLimits.joinBaseBytes + NODE_ID_BYTES * m.procList.length, m.failedList, 'failedList');
      return bytes;
    }
    case 'commit-token': {
      const n = m.addr.length;
      check(n <= WireLimits.processorCountMax, () => `addr has ${n} entries`);
      check(m.membList.length === n, () => `membList has ${m.membList.length} entries, addr ${n}`);
      check(m.membIndex >= 0 && m.membIndex <= n, () => `membIndex ${m.membIndex} outside 0..${n}`);
      writeHeader(view, MessageType.commitToken, 0, m);
      u32(view, 13, m.tokenSeq, 'tokenSeq');
      ringId(view, 17, m.ringId, 'ringId');
      u32(view, 29, m.retransFlg, 'retransFlg');
      i32(view, 33, m.membIndex, 'membIndex');
      view.setInt32(37, n, LE);
      writeNodeIds(view, WireLimits.commitTokenBaseBytes, m.addr, 'addr');
      let off = WireLimits.commitTokenBaseBytes + NODE_ID_BYTES * n;
      for (const e of m.membList) {
        ringId(view, off, e.ringId, 'membList.ringId');
        u32(view, off + 12, e.aru, 'membList.aru');
        u32(view, off + 16, e.highDelivered, 'membList.highDelivered');
        u32(view, off + 20, e.receivedFlg, 'membList.receivedFlg');
        off += MEMB_ENTRY_BYTES;
      }
      return bytes;
    }
    case 'token-hold-cancel':
      writeHeader(view, MessageType.tokenHoldCancel, 0, m);
      ringId(view, 13, m.ringId, 'ringId');
      return bytes;
  }
}
