// The six totemsrp message types of corosync 3.1.7 as plain data (corosync-wire.md §1–§2).
// Field names follow corosync's structs in camelCase; numbers are u32 unless noted, ring
// seqs are u64 (bigint). Fields that corosync never reads but that real nodes fill with
// varying values (target nodeid, the mcast `node_id`, `this_seqno`) are kept so that a
// decoded datagram re-encodes to the same bytes.

export const MessageType = {
  orfToken: 0,
  mcast: 1,
  mergeDetect: 2,
  join: 3,
  commitToken: 4,
  tokenHoldCancel: 5,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

/** `memb_ring_id`: representative nodeid and ring sequence number. */
export interface RingId {
  readonly rep: number;
  readonly seq: bigint;
}

/** Header fields common to every message (the 13-byte `totem_message_header`). */
interface HeaderFields {
  /** Node that (last) sent this copy; 0 in a MEMB_JOIN marks a LEAVE. */
  readonly nodeId: number;
  /** Only used by knet; corosync leaves junk here on udp/udpu. Send 0, never read. */
  readonly targetNodeId: number;
}

/** `rtr_item`: a retransmit request carried on the ORF token. */
export interface RtrItem {
  readonly ringId: RingId;
  readonly seq: number;
}

export interface OrfToken extends HeaderFields {
  readonly type: 'orf-token';
  readonly seq: number;
  readonly tokenSeq: number;
  readonly aru: number;
  readonly aruAddr: number;
  readonly ringId: RingId;
  readonly backlog: number;
  readonly fcc: number;
  /** i32 on the wire. */
  readonly retransFlg: number;
  readonly rtrList: readonly RtrItem[];
}

export const Encapsulation = { encapsulated: 1, notEncapsulated: 2 } as const;
export type EncapsulationCode = (typeof Encapsulation)[keyof typeof Encapsulation];

export interface Mcast extends HeaderFields {
  readonly type: 'mcast';
  /** 1 = recovery re-origination carrying a complete old-ring MCAST, 2 = normal. */
  readonly encapsulated: EncapsulationCode;
  readonly systemFrom: number;
  readonly seq: number;
  /** i32 sender-local counter, never read by receivers. */
  readonly thisSeqno: number;
  readonly ringId: RingId;
  /** The struct's `node_id` field: always 0 from corosync, never read. */
  readonly nodeIdField: number;
  /** i32: 0 AGREED, 1 SAFE; never read by receivers. */
  readonly guarantee: number;
  /** totempg packet, or (encapsulated) a complete inner MCAST datagram. */
  readonly payload: Uint8Array;
}

export interface MergeDetect extends HeaderFields {
  readonly type: 'merge-detect';
  readonly systemFrom: number;
  readonly ringId: RingId;
}

export interface Join extends HeaderFields {
  readonly type: 'join';
  readonly systemFrom: number;
  readonly ringSeq: bigint;
  readonly procList: readonly number[];
  readonly failedList: readonly number[];
}

/** `memb_commit_token_memb_entry`: one member's old-ring state. */
export interface CommitMembEntry {
  readonly ringId: RingId;
  readonly aru: number;
  readonly highDelivered: number;
  readonly receivedFlg: number;
}

export interface CommitToken extends HeaderFields {
  readonly type: 'commit-token';
  readonly tokenSeq: number;
  readonly ringId: RingId;
  readonly retransFlg: number;
  /** i32: index of the next member to fill its entry. */
  readonly membIndex: number;
  /** Member nodeids, ascending; also the token-passing order. */
  readonly addr: readonly number[];
  /** Same length and index as `addr`. */
  readonly membList: readonly CommitMembEntry[];
}

export interface TokenHoldCancel extends HeaderFields {
  readonly type: 'token-hold-cancel';
  readonly ringId: RingId;
}

export type TotemMessage = OrfToken | Mcast | MergeDetect | Join | CommitToken | TokenHoldCancel;

/** Protocol limits from corosync 3.1.7 (corosync-wire.md §2.2, §2.6, §3.13). */
export const WireLimits = {
  headerBytes: 13,
  mcastHeaderBytes: 45,
  orfTokenBaseBytes: 57,
  rtrItemBytes: 16,
  retransmitEntriesMax: 30,
  joinBaseBytes: 33,
  commitTokenBaseBytes: 41,
  commitEntryBytes: 28,
  mergeDetectBytes: 29,
  tokenHoldCancelBytes: 25,
  processorCountMax: 384,
  /** UDP_RECEIVE_FRAME_SIZE_MAX: larger datagrams are dropped. */
  datagramBytesMax: 136192,
  /** FRAME_SIZE_MAX: stored messages are bounded by this. */
  frameBytesMax: 65536,
  magic: 0xc070,
  version: 3,
} as const;

export function ringIdEquals(a: RingId, b: RingId): boolean {
  return a.rep === b.rep && a.seq === b.seq;
}

export function ringIdKey(r: RingId): string {
  return `${r.rep}.${r.seq.toString(16)}`;
}
