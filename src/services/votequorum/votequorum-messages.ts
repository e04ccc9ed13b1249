// votequorum's exec messages (service 5, corosync-wire.md §9.1), byte-exact with corosync
// 3.1.7's packed structs (exec/votequorum.c): each starts with the 8-aligned 16-byte qb
// request header, so every `sizeof` — and `header.size` — is rounded up to 8.
//
//   NODEINFO            fn 0, 32 bytes: nodeid @16, votes @20, expected_votes @24, flags @28
//   RECONFIGURE         fn 1, 32 bytes: nodeid @16, value @20, param (u8) @24, 3 pad, 4 tail pad
//   QDEVICE_REG         fn 2, 280 bytes: operation @16, qdevice_name char[255] @20, 5 tail pad
//   QDEVICE_RECONFIGURE fn 3, 528 bytes: oldname char[255] @16, newname char[255] @271, 2 tail pad
//
// Numbers are u32 little-endian (a big-endian sender is byte-swapped by the layer below).
// corosync zero-fills NODEINFO but not the other three, so their pads (and the bytes after
// a name's NUL) may hold garbage: the decoder ignores pads, the encoder writes zeros.
// Decoding never throws: short or foreign messages are a DecodeError.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../../totem/wire/decode-error';
import { execId, readExecHeader, writeExecHeader } from '../exec-header';
import { ServiceId } from '../service-api';

/** votequorum's exec function ids (MESSAGE_REQ_EXEC_VOTEQUORUM_*). */
export const VotequorumFn = {
  nodeinfo: 0,
  reconfigure: 1,
  qdeviceReg: 2,
  qdeviceReconfigure: 3,
} as const;
export type VotequorumFnCode = (typeof VotequorumFn)[keyof typeof VotequorumFn];

/** sizeof of each struct, which is also the `header.size` corosync writes. */
export const VotequorumMessageBytes = {
  nodeinfo: 32,
  reconfigure: 32,
  qdeviceReg: 280,
  qdeviceReconfigure: 528,
} as const;

/** Node flags carried in NODEINFO (NODE_FLAGS_*), a u32 bit mask. */
export const NodeFlags = {
  /** The sender considers the cluster quorate. */
  quorate: 1,
  /** The sender is shutting down with allow_downscale. */
  leaving: 2,
  /** The sender is still waiting for all nodes (wait_for_all). */
  wfaStatus: 4,
  /** The sender has not been in a multi-node membership since it started. */
  first: 8,
  qdeviceRegistered: 16,
  qdeviceAlive: 32,
  qdeviceCastVote: 64,
  qdeviceMasterWins: 128,
} as const;

/** RECONFIGURE `param` (VOTEQUORUM_RECONFIG_PARAM_*). */
export const ReconfigureParam = {
  expectedVotes: 1,
  nodeVotes: 2,
  cancelWfa: 3,
} as const;

/** QDEVICE_REG `operation` (VOTEQUORUM_QDEVICE_OPERATION_*). */
export const QdeviceOperation = {
  unregister: 0,
  register: 1,
} as const;

/** The node id NODEINFO uses for the quorum device record (VOTEQUORUM_QDEVICE_NODEID). */
export const QDEVICE_NODEID = 0;
/** VOTEQUORUM_QDEVICE_MAX_NAME_LEN: the name field size, NUL included. */
export const QDEVICE_NAME_BYTES = 255;

export interface NodeInfoMessage {
  readonly type: 'nodeinfo';
  /** The node described: the sender itself, or 0 for the quorum device. */
  readonly nodeId: number;
  readonly votes: number;
  readonly expectedVotes: number;
  /** NodeFlags bits. */
  readonly flags: number;
}

export interface ReconfigureMessage {
  readonly type: 'reconfigure';
  readonly nodeId: number;
  readonly value: number;
  /** ReconfigureParam; other values are carried as received (receivers ignore them). */
  readonly param: number;
}

export interface QdeviceRegMessage {
  readonly type: 'qdevice-reg';
  /** QdeviceOperation; other values are carried as received. */
  readonly operation: number;
  readonly name: string;
}

export interface QdeviceReconfigureMessage {
  readonly type: 'qdevice-reconfigure';
  readonly oldName: string;
  readonly newName: string;
}

export type VotequorumMessage = NodeInfoMessage | ReconfigureMessage | QdeviceRegMessage | QdeviceReconfigureMessage;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function u32(value: number, what: string): number {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `${what} must be a u32, got ${value}`);
  return value;
}

function begin(fn: VotequorumFnCode, size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  writeExecHeader(bytes, execId(ServiceId.votequorum, fn), size);
  return { bytes, view: new DataView(bytes.buffer) };
}

/** Writes `name` NUL-terminated into a char[255] field (the rest stays zero). */
function writeName(bytes: Uint8Array, offset: number, name: string): void {
  const encoded = textEncoder.encode(name);
  assert(encoded.length < QDEVICE_NAME_BYTES, `a qdevice name must be shorter than ${QDEVICE_NAME_BYTES} bytes`);
  assert(!encoded.includes(0), 'a qdevice name may not contain NUL');
  bytes.set(encoded, offset);
}

/** Reads a char[255] field up to its first NUL (or all 255 bytes when it has none). */
function readName(bytes: Uint8Array, offset: number): string {
  const field = bytes.subarray(offset, offset + QDEVICE_NAME_BYTES);
  const nul = field.indexOf(0);
  return textDecoder.decode(nul < 0 ? field : field.subarray(0, nul));
}

export function encodeNodeInfo(m: Omit<NodeInfoMessage, 'type'>): Uint8Array {
  const { bytes, view } = begin(VotequorumFn.nodeinfo, VotequorumMessageBytes.nodeinfo);
  view.setUint32(16, u32(m.nodeId, 'nodeid'), true);
  view.setUint32(20, u32(m.votes, 'votes'), true);
  view.setUint32(24, u32(m.expectedVotes, 'expected_votes'), true);
  view.setUint32(28, u32(m.flags, 'flags'), true);
  return bytes;
}

export function encodeReconfigure(m: Omit<ReconfigureMessage, 'type'>): Uint8Array {
  const { bytes, view } = begin(VotequorumFn.reconfigure, VotequorumMessageBytes.reconfigure);
  view.setUint32(16, u32(m.nodeId, 'nodeid'), true);
  view.setUint32(20, u32(m.value, 'value'), true);
  assert(Number.isInteger(m.param) && m.param >= 0 && m.param <= 0xff, 'param must be a u8');
  view.setUint8(24, m.param);
  return bytes;
}

export function encodeQdeviceReg(m: Omit<QdeviceRegMessage, 'type'>): Uint8Array {
  const { bytes, view } = begin(VotequorumFn.qdeviceReg, VotequorumMessageBytes.qdeviceReg);
  view.setUint32(16, u32(m.operation, 'operation'), true);
  writeName(bytes, 20, m.name);
  return bytes;
}

export function encodeQdeviceReconfigure(m: Omit<QdeviceReconfigureMessage, 'type'>): Uint8Array {
  const { bytes } = begin(VotequorumFn.qdeviceReconfigure, VotequorumMessageBytes.qdeviceReconfigure);
  writeName(bytes, 16, m.oldName);
  writeName(bytes, 16 + QDEVICE_NAME_BYTES, m.newName);
  return bytes;
}

export function encodeVotequorumMessage(m: VotequorumMessage): Uint8Array {
  switch (m.type) {
    case 'nodeinfo':
      return encodeNodeInfo(m);
    case 'reconfigure':
      return encodeReconfigure(m);
    case 'qdevice-reg':
      return encodeQdeviceReg(m);
    case 'qdevice-reconfigure':
      return encodeQdeviceReconfigure(m);
  }
}

const sizeByFn: Readonly<Record<VotequorumFnCode, number>> = {
  [VotequorumFn.nodeinfo]: VotequorumMessageBytes.nodeinfo,
  [VotequorumFn.reconfigure]: VotequorumMessageBytes.reconfigure,
  [VotequorumFn.qdeviceReg]: VotequorumMessageBytes.qdeviceReg,
  [VotequorumFn.qdeviceReconfigure]: VotequorumMessageBytes.qdeviceReconfigure,
};

function isVotequorumFn(fn: number): fn is VotequorumFnCode {
  return fn === 0 || fn === 1 || fn === 2 || fn === 3;
}

/**
 * Decodes one votequorum exec message (header included). The header must name service 5
 * and a known function, and the message must hold the whole struct; like corosync, the
 * header's `size` is not compared with the real length and trailing bytes are ignored.
 */
export function decodeVotequorumMessage(bytes: Uint8Array): Result<VotequorumMessage, DecodeError> {
  const header = readExecHeader(bytes);
  if (!header.ok) return header;
  const service = header.value.id >>> 16;
  const fn = header.value.id & 0xffff;
  if (service !== ServiceId.votequorum) {
    return err(new DecodeError(DecodeErrorCode.badType, `exec id 0x${(header.value.id >>> 0).toString(16)} is not a votequorum message`, 0));
  }
  if (!isVotequorumFn(fn)) {
    return err(new DecodeError(DecodeErrorCode.badType, `votequorum has no exec function ${fn}`, 0));
  }
  const need = sizeByFn[fn];
  if (bytes.length < need) {
    return err(new DecodeError(DecodeErrorCode.truncated, `votequorum fn ${fn} needs ${need} bytes, got ${bytes.length}`, bytes.length));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  switch (fn) {
    case VotequorumFn.nodeinfo:
      return ok({
        type: 'nodeinfo',
        nodeId: view.getUint32(16, true),
        votes: view.getUint32(20, true),
        expectedVotes: view.getUint32(24, true),
        flags: view.getUint32(28, true),
      });
    case VotequorumFn.reconfigure:
      return ok({ type: 'reconfigure', nodeId: view.getUint32(16, true), value: view.getUint32(20, true), param: view.getUint8(24) });
    case VotequorumFn.qdeviceReg:
      return ok({ type: 'qdevice-reg', operation: view.getUint32(16, true), name: readName(bytes, 20) });
    case VotequorumFn.qdeviceReconfigure:
      return ok({ type: 'qdevice-reconfigure', oldName: readName(bytes, 16), newName: readName(bytes, 16 + QDEVICE_NAME_BYTES) });
  }
}

/** The exec function id of a votequorum message, for dispatch by the service host. */
export function votequorumFnOf(m: VotequorumMessage): VotequorumFnCode {
  switch (m.type) {
    case 'nodeinfo':
      return VotequorumFn.nodeinfo;
    case 'reconfigure':
      return VotequorumFn.reconfigure;
    case 'qdevice-reg':
      return VotequorumFn.qdeviceReg;
    case 'qdevice-reconfigure':
      return VotequorumFn.qdeviceReconfigure;
  }
}

/** NodeFlags as corosync's decode_flags names them, for logs and tests. */
export function nodeFlagsText(flags: number): string {
  const names: string[] = [];
  if (flags & NodeFlags.quorate) names.push('QUORATE');
  if (flags & NodeFlags.leaving) names.push('LEAVING');
  if (flags & NodeFlags.wfaStatus) names.push('WFASTATUS');
  if (flags & NodeFlags.first) names.push('FIRST');
  if (flags & NodeFlags.qdeviceRegistered) names.push('QDEVICE_REGISTERED');
  if (flags & NodeFlags.qdeviceAlive) names.push('QDEVICE_ALIVE');
  if (flags & NodeFlags.qdeviceCastVote) names.push('QDEVICE_CAST_VOTE');
  if (flags & NodeFlags.qdeviceMasterWins) names.push('QDEVICE_MASTER_WINS');
  return names.length === 0 ? '0' : names.join('|');
}
