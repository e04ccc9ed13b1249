// What services mode records (testing.md §4.3, CPG/votequorum/cmap rows), next to the
// Totem per-incarnation logs of history.ts: every fake CPG client's requests and the
// events it received, every CPG payload that was queued, and a snapshot of each node's
// services at every sync completion. The CPG and quorum checkers are plain functions over
// these records (plus a few online monitors that need the live state).

/** A CPG process as "nodeId:pid" (pids are unique per node over all incarnations here). */
export type ProcKey = string;

export function procKey(nodeId: number, pid: number): ProcKey {
  return `${nodeId}:${pid}`;
}

export interface CpgChangeRecord {
  readonly nodeId: number;
  readonly pid: number;
  /** CpgReason: JOIN 1, LEAVE 2, NODEDOWN 3, NODEUP 4, PROCDOWN 5. */
  readonly reason: number;
}

interface EventBase {
  readonly tick: number;
  readonly group: string;
  /** The host's ring (ringIdKey) when the event came: the new ring from its transitional confchg on. */
  readonly ring: string;
  /** The host was syncing (from a confchg until its sync completed). */
  readonly syncing: boolean;
}

export interface CpgConfchgRecord extends EventBase {
  readonly k: 'confchg';
  /** Members after the change, in corosync's order, as ProcKeys. */
  readonly members: readonly ProcKey[];
  readonly joined: readonly CpgChangeRecord[];
  readonly left: readonly CpgChangeRecord[];
}

export interface CpgDeliverRecord extends EventBase {
  readonly k: 'deliver';
  readonly nodeId: number;
  readonly pid: number;
  /** msgKey of a workload payload, or null if it does not decode as one. */
  readonly msg: string | null;
  readonly intact: boolean;
  readonly digest: string;
}

/** At a sync completion: the handle's view of a group it is in (JOINED or LEAVE_STARTED). */
export interface CpgViewRecord {
  readonly k: 'view';
  readonly tick: number;
  readonly group: string;
  readonly ring: string;
  readonly members: readonly ProcKey[];
}

export interface CpgActionRecord {
  readonly k: 'join' | 'leave' | 'mcast' | 'finalize';
  readonly tick: number;
  readonly group: string | null;
  /** The request's result ('queued', 'try-again', 'full', …). */
  readonly result: string;
  readonly msg?: string;
}

export type HandleEntry = CpgConfchgRecord | CpgDeliverRecord | CpgViewRecord | CpgActionRecord;

export interface HandleLog {
  readonly node: number;
  readonly inc: number;
  readonly pid: number;
  readonly connectTick: number;
  /** finalize(), or the end of the node incarnation (crash, leave, thrown assertion). */
  end: { readonly kind: 'finalize' | 'node-down'; readonly tick: number } | null;
  readonly entries: HandleEntry[];
}

export interface CpgSentRecord {
  readonly msg: string;
  readonly node: number;
  readonly inc: number;
  readonly pid: number;
  readonly group: string;
  readonly digest: string;
  readonly bytes: number;
  readonly tick: number;
  /** The sender's host ring when it was queued. */
  readonly ring: string;
  /** Order in which the sending incarnation queued its payloads (ids are taken before a retry). */
  readonly queueSeq: number;
}

export interface VotequorumSnapshot {
  readonly quorate: boolean;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  readonly flags: readonly string[];
  readonly members: readonly number[];
}

/** One node's services right after one of its syncs completed. */
export interface SyncPoint {
  readonly tick: number;
  readonly node: number;
  readonly inc: number;
  readonly ring: string;
  readonly members: readonly number[];
  /** The transitional members this node saw for the ring. */
  readonly trans: readonly number[];
  /** Tick of this node's regular confchg of the ring. */
  readonly startTick: number;
  /** The CPG process list, canonical text: "group=[n:pid,…];…". */
  readonly groups: string;
  /** The quorum service's quorate flag (what services and clients act on). */
  readonly quorate: boolean;
  readonly votequorum: VotequorumSnapshot;
  /** Ring members without runtime.members.N.config_version in this node's cmap. */
  readonly cmapMissing: readonly number[];
  /** totempg throw-aways at this node so far (continuations lost across a ring change). */
  readonly throwAways: number;
}

export interface QuorumRecord {
  readonly tick: number;
  readonly node: number;
  readonly inc: number;
  readonly quorate: boolean;
  readonly ring: string;
  readonly members: readonly number[];
}

export interface ServicesHistory {
  readonly handles: HandleLog[];
  readonly sent: Map<string, CpgSentRecord>;
  readonly syncs: SyncPoint[];
  /** Quorum notifications (quorum_trackstart, CS_TRACK_CHANGES) per incarnation, in order. */
  readonly quorum: QuorumRecord[];
  /** ProcKey → tick the process was finalized or its node incarnation ended. */
  readonly procEnds: Map<ProcKey, number>;
  /** ProcKey → tick its node incarnation ended (crash, leave, thrown assertion). */
  readonly procDowns: Map<ProcKey, number>;
  /**
   * totempg throw-aways (a continuation whose start this node never saw), by sender: one
   * record where each starts, and one for every later ring in which it still throws packets away.
   */
  readonly throwAways: ThrowAwayRecord[];
  /** Clients told that a process they never saw left (corosync notifies PROCLEAVEs of unknown processes). */
  leftUnknown: number;
  /** "nodeId:pid:group" → ticks of queued join requests. */
  readonly joins: Map<string, number[]>;
  /** "nodeId:pid:group" → ticks of queued leave requests. */
  readonly leaves: Map<string, number[]>;
  /** "nodeId:digest" of every totempg packet a node queued (packet-level integrity). */
  readonly packets: Set<string>;
}

export interface ThrowAwayRecord {
  readonly tick: number;
  readonly node: number;
  readonly inc: number;
  /** The host's ring (ringIdKey) at the time. */
  readonly ring: string;
  readonly sender: number;
  /**
   * True for the packet that started the throw-away; false for the first packet still
   * thrown away in a later ring (the sender's assembly stays in throw-away mode across ring
   * changes until its next packet with fragmented 0 or 1: FINDINGS F11).
   */
  readonly first: boolean;
}

export function newServicesHistory(): ServicesHistory {
  return {
    handles: [], sent: new Map(), syncs: [], quorum: [], procEnds: new Map(), procDowns: new Map(), throwAways: [], leftUnknown: 0,
    joins: new Map(), leaves: new Map(), packets: new Set(),
  };
}

export function requestKey(nodeId: number, pid: number, group: string): string {
  return `${nodeId}:${pid}:${group}`;
}
