// The message header of ../shared/tools/cpgload (cpgload.c `struct hdr`), so that the
// Carillon-side client (scripts/bench/cpgload.ts) sends and understands the same bytes as
// the C client on corosync: a mixed cluster of both interoperates, and both measure the
// same thing. Little-endian, 48 bytes, the C struct's natural alignment:
//
//   0 magic u32 (0x4c475043, "CPGL")   4 type u32 (1 DATA, 2 END, 3 PING, 4 PONG)
//   8 nodeid u32 (sender)             12 pid u32 (sender)
//  16 seq u64                         24 ts_ns u64 (send time, CLOCK_MONOTONIC)
//  32 ts2_ns u64 (PONG: the responder's delivery time of the PING)
//  40 dest_nodeid u32, 44 dest_pid u32 (PONG: who sent the PING)
//
// After the header the payload is padded with 'a'..'z' repeating (byte i = 'a' + i % 26),
// as cpgload fills its buffer. All nodes of a benchmark run on one host, so ts_ns values
// from different processes are comparable (Node's process.hrtime.bigint() is
// CLOCK_MONOTONIC too).

export const CPGLOAD_MAGIC = 0x4c475043;
export const CPGLOAD_HEADER_BYTES = 48;

export const CpgloadType = {
  data: 1,
  end: 2,
  ping: 3,
  pong: 4,
} as const;
export type CpgloadType = (typeof CpgloadType)[keyof typeof CpgloadType];

/** Byte offsets of the fields, for senders that rewrite only seq and ts_ns in a loop. */
export const CpgloadOffset = {
  magic: 0,
  type: 4,
  nodeId: 8,
  pid: 12,
  seq: 16,
  tsNs: 24,
  ts2Ns: 32,
  destNodeId: 40,
  destPid: 44,
} as const;

export interface CpgloadHeader {
  readonly type: number;
  readonly nodeId: number;
  readonly pid: number;
  readonly seq: bigint;
  readonly tsNs: bigint;
  readonly ts2Ns: bigint;
  readonly destNodeId: number;
  readonly destPid: number;
}

/** A message buffer of `size` bytes (at least the header): zero header, cpgload's padding after it. */
export function cpgloadBuffer(size: number): Buffer {
  const bytes = Buffer.alloc(Math.max(size, CPGLOAD_HEADER_BYTES));
  for (let i = CPGLOAD_HEADER_BYTES; i < bytes.length; i += 1) bytes[i] = 0x61 + (i % 26);
  return bytes;
}

/** Writes every header field (magic included) at the start of `bytes`. */
export function writeCpgloadHeader(bytes: Buffer, header: CpgloadHeader): void {
  if (bytes.length < CPGLOAD_HEADER_BYTES) throw new RangeError(`a cpgload message needs ${CPGLOAD_HEADER_BYTES} bytes, not ${bytes.length}`);
  bytes.writeUInt32LE(CPGLOAD_MAGIC, CpgloadOffset.magic);
  bytes.writeUInt32LE(header.type, CpgloadOffset.type);
  bytes.writeUInt32LE(header.nodeId, CpgloadOffset.nodeId);
  bytes.writeUInt32LE(header.pid, CpgloadOffset.pid);
  bytes.writeBigUInt64LE(header.seq, CpgloadOffset.seq);
  bytes.writeBigUInt64LE(header.tsNs, CpgloadOffset.tsNs);
  bytes.writeBigUInt64LE(header.ts2Ns, CpgloadOffset.ts2Ns);
  bytes.writeUInt32LE(header.destNodeId, CpgloadOffset.destNodeId);
  bytes.writeUInt32LE(header.destPid, CpgloadOffset.destPid);
}

/** The header of a delivered message; null when it is shorter than a header or the magic differs (cpgload's rx_other). */
export function readCpgloadHeader(bytes: Uint8Array): CpgloadHeader | null {
  if (bytes.length < CPGLOAD_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(CpgloadOffset.magic, true) !== CPGLOAD_MAGIC) return null;
  return {
    type: view.getUint32(CpgloadOffset.type, true),
    nodeId: view.getUint32(CpgloadOffset.nodeId, true),
    pid: view.getUint32(CpgloadOffset.pid, true),
    seq: view.getBigUint64(CpgloadOffset.seq, true),
    tsNs: view.getBigUint64(CpgloadOffset.tsNs, true),
    ts2Ns: view.getBigUint64(CpgloadOffset.ts2Ns, true),
    destNodeId: view.getUint32(CpgloadOffset.destNodeId, true),
    destPid: view.getUint32(CpgloadOffset.destPid, true),
  };
}
