// The CPG service (service 2; corosync 3.1.7 exec/cpg.c and the client-visible parts of
// lib/cpg.c; corosync-wire.md §8). Pure and synchronous: it reacts to delivered exec
// messages and sync phases, acts only through ServiceApi, and calls client listeners
// synchronously, so the order of callbacks is the order of delivery.
//
// State, as corosync keeps it:
// - the process list: (nodeid, pid, group) for every process any node announced, by
//   PROCJOIN (JOIN) or, for other nodes' processes, by a JOINLIST during sync (NODEUP);
//   kept in corosync's order (nodeid, then pid, then insertion), which is the order of
//   every member list a client sees;
// - handles: each is one local "process" (a client connection with a u32 pid) joined
//   to any number of groups, each group in corosync's cpd states JOIN_STARTED, JOINED
//   (JOIN_COMPLETED), LEAVE_STARTED. corosync has one group per connection; a handle
//   here behaves like one connection per group sharing a pid.
//
// Joins and leaves are multicast and take effect when delivered, on every node in the
// same agreed order, including the sender: the joiner becomes JOINED at the delivery of
// its own PROCJOIN, just before the confchg that lists it (so its first event contains
// itself); a local leaver gets the confchg that lists it as left, then no more events
// for that group. Confchgs go to handles that are JOINED or LEAVE_STARTED in the group.
//
// MCAST is delivered to local members of its group only if some process of the sending
// node is known in that group (else "Unknown node -> we will not deliver message",
// counted). PARTIAL_MCAST fragments (from corosync nodes whose clients sent messages
// larger than libcpg's atomic limit) are reassembled here, per (sender nodeid, pid,
// group), as libcpg does in each client: FIRST starts over, CONTINUED/LAST without a
// FIRST are ignored, LAST delivers the whole message; a fragment that is not delivered
// (unknown node) or a left confchg for the sender drops the assembly. Handles receive
// the whole message only if they received every fragment.
//
// Sync (§8.7, cpg_sync_init/process/activate/abort): init remembers members and ring id
// and computes the downlist = previous members (at the last activate) not in the
// transitional list; process multicasts DOWNLIST, then JOINLIST when there are local
// processes; JOINLISTs are collected as delivered; activate (1) removes every process of
// a downlist node (one confchg per group, reason NODEDOWN, groups in name order),
// (2) adds every unknown process of other nodes' joinlists (one confchg per group,
// NODEUP, entries newest-delivered first as corosync's list prepends them), (3) removes
// every other-node process no other node's joinlist mentioned (one confchg each,
// PROCDOWN; NODEDOWN for a node outside the ring, below), (4) clears the joinlists and gives every handle the new totem membership.
//
// Deliberate differences from corosync 3.1.7 (none changes what others receive):
// - a process removed at activate because no joinlist mentions it (a zombie) leaves with
//   NODEDOWN, not PROCDOWN, when its node is not a member of the new ring. corosync's
//   downlist is "members at the last activate, minus the transitional list", so a node
//   that was a member only of rings whose sync was aborted is never in it; processes of
//   that node learned then (PROCJOINs delivered during the aborted sync) are removed as
//   zombies, and corosync tells the clients PROCDOWN — the process died — while its node
//   merely left (still alive in another partition, FINDINGS F10);
// - a handle's group is reset when its own leave is delivered. In 3.1.7 the reset loop
//   in notify_lib_joinlist runs over joined_list_entries (0 for a leave), so a client
//   that called cpg_leave stays LEAVE_STARTED: it keeps receiving the group's messages
//   and confchgs and cannot join again on that connection (CS_ERR_BUSY);
// - a joinlist entry whose PROCLEAVE was delivered since this round's init is not added
//   back with NODEUP. Our JOINLIST is built from the whole process list, as corosync's,
//   so a client that finalizes during sync, before the joinlist is sent, is still listed;
//   corosync removes it on the others by its PROCLEAVE and re-adds it with NODEUP from
//   the stale joinlist (a ghost until the next sync; FINDINGS F5);
// - a PROCLEAVE that ServiceApi refuses ('full') is kept and retried (tick, next send,
//   sync process) instead of being lost; later sends wait behind it;
// - join/leave/mcast return 'try-again' while sync runs (corosync holds IPC requests
//   back then: flow control), finalize does not (corosync's lib_exit_fn is not flow
//   controlled), mcast larger than libcpg's atomic limit is refused ('too-large')
//   instead of being sent as PARTIAL_MCAST;
// - everything is bounded (limits below); over a bound, remote input is counted and
//   dropped, local requests are refused.

import { assert } from '../../base/assert';
import type { RingId } from '../../totem/wire/messages';
import { ServiceId, serviceRetryTicks, type Service, type ServiceApi, type ServiceConfChange, type SyncHooks } from '../service-api';
import {
  CPG_PROCESSOR_COUNT_MAX,
  CpgPartialType,
  CpgReason,
  CpgSize,
  cpgFnOf,
  decodeCpgMessage,
  encodeDownList,
  encodeJoinList,
  encodeMcastSegments,
  encodeProcJoin,
  encodeProcLeave,
  isValidCpgName,
  type CpgJoinListEntry,
  type CpgMcast,
  type CpgPartialMcast,
  type CpgProcJoin,
  type CpgProcLeave,
} from './cpg-messages';

/** libcpg's atomic limit: IPC_REQUEST_SIZE (1 MiB) − 1024; larger messages go as PARTIAL_MCAST. */
export const CPG_ATOMIC_MESSAGE_MAX = 1024 * 1024 - 1024;

export const CpgLimitDefaults = {
  /** Connected handles. */
  handles: 1024,
  /** Groups one handle may be in (any state). */
  groupsPerHandle: 64,
  /** (handle, group) memberships across all handles: bounds our JOINLIST. */
  localMemberships: 4096,
  /** Entries of the process list (all nodes); beyond it remote joins are dropped. */
  processes: 65536,
  /** Collected JOINLIST entries per sync. */
  joinListEntries: 65536,
  /** Largest MCAST payload we send (libcpg's atomic limit: corosync sends these as MCAST). */
  messageBytes: CPG_ATOMIC_MESSAGE_MAX,
  /** Pending PARTIAL_MCAST assemblies. */
  partialAssemblies: 64,
  /** Largest whole message a PARTIAL_MCAST assembly may announce. */
  partialMessageBytes: 16 * 1024 * 1024,
  /** Bytes held by all pending assemblies together. */
  partialBytes: 64 * 1024 * 1024,
  /** Listeners of each kind per handle. */
  listenersPerHandle: 64,
} as const;
export type CpgLimits = { readonly [K in keyof typeof CpgLimitDefaults]: number };

export interface CpgServiceOptions {
  /** First pid handed to handles connected without one (default 0x40000000, above any Linux pid). */
  readonly pidBase?: number;
  readonly limits?: Partial<CpgLimits>;
}

export interface CpgMember {
  readonly nodeId: number;
  readonly pid: number;
}

export interface CpgMemberChange extends CpgMember {
  /** CpgReason: JOIN 1, LEAVE 2, NODEDOWN 3, NODEUP 4, PROCDOWN 5 (a PROCLEAVE's reason as sent). */
  readonly reason: number;
}

export interface CpgDeliverEvent {
  /** The group name as text (UTF-8; invalid bytes become U+FFFD). */
  readonly group: string;
  /** The group name's bytes. */
  readonly groupName: Uint8Array;
  readonly nodeId: number;
  readonly pid: number;
  /** The whole application message (one copy, shared by the handles it is delivered to). */
  readonly payload: Uint8Array;
}

export interface CpgConfchgEvent {
  readonly group: string;
  readonly groupName: Uint8Array;
  /** Members after the change, in corosync's order (nodeid, pid). */
  readonly members: readonly CpgMember[];
  readonly joined: readonly CpgMemberChange[];
  readonly left: readonly CpgMemberChange[];
}

export interface CpgTotemConfchgEvent {
  readonly ringId: RingId;
  readonly members: readonly number[];
}

export interface CpgGroupView {
  readonly group: string;
  readonly groupName: Uint8Array;
  readonly members: readonly CpgMember[];
}

/** A group name as text (encoded as UTF-8) or as raw bytes. */
export type CpgGroupInput = string | Uint8Array;

export type CpgGroupState = 'unjoined' | 'join-started' | 'joined' | 'leave-started';
/** 'exists' = already joining/joined (by this or another handle with the same pid); 'busy' = still leaving. */
export type CpgJoinResult = 'queued' | 'full' | 'try-again' | 'exists' | 'busy' | 'bad-name' | 'too-many' | 'finalized';
/** 'busy' = the join is not delivered yet. */
export type CpgLeaveResult = 'queued' | 'full' | 'try-again' | 'not-joined' | 'busy' | 'finalized';
export type CpgMcastResult = 'queued' | 'full' | 'try-again' | 'not-joined' | 'too-large';

export interface CpgConnectOptions {
  /** The process id this handle announces (default: a fresh one from the pid counter). */
  readonly pid?: number;
  /**
   * CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF: after the first confchg notification of any
   * group, the handle gets the membership of the last completed sync once.
   */
  readonly initialTotemConf?: boolean;
}

export type CpgConnectError = 'too-many-handles' | 'bad-pid';

export interface CpgHandle {
  readonly pid: number;
  readonly finalized: boolean;
  /** Multicasts PROCJOIN; the join takes effect when delivered (first event: a confchg with this handle). */
  join(group: CpgGroupInput): CpgJoinResult;
  /** Multicasts PROCLEAVE (LEAVE); the handle gets the confchg listing it as left, then nothing more for the group. */
  leave(group: CpgGroupInput): CpgLeaveResult;
  /** Multicasts an MCAST to a group this handle is joining or joined. */
  mcast(group: CpgGroupInput, payload: Uint8Array): CpgMcastResult;
  /** Members of any group as this node knows them (cpg_membership_get). */
  membership(group: CpgGroupInput): CpgMember[];
  state(group: CpgGroupInput): CpgGroupState;
  /** Leaves every joining/joined group with PROCDOWN and closes the handle: no more events. */
  finalize(): void;
  onDeliver(listener: (event: CpgDeliverEvent) => void): () => void;
  onConfchg(listener: (event: CpgConfchgEvent) => void): () => void;
  onTotemConfchg(listener: (event: CpgTotemConfchgEvent) => void): () => void;
}

export interface CpgCounters {
  readonly procJoins: number;
  readonly procLeaves: number;
  readonly mcasts: number;
  readonly partialFragments: number;
  readonly joinLists: number;
  readonly downLists: number;
  readonly downListsOld: number;
  /** Messages (MCAST or reassembled) delivered to at least one handle. */
  readonly delivered: number;
  /** Deliver callbacks (one per receiving handle). */
  readonly deliveries: number;
  readonly confchgs: number;
  readonly totemConfchgs: number;
  /** Messages not delivered because no process of the sender was known in the group. */
  readonly unknownNode: number;
  readonly decodeErrors: number;
  /** PROCJOINs for an already known process (ignored, as corosync does). */
  readonly duplicateJoins: number;
  /** PROCLEAVEs for an unknown process (corosync still notifies; so do we). */
  readonly leavesOfUnknown: number;
  readonly processOverflows: number;
  readonly joinListOverflows: number;
  readonly partialDelivered: number;
  /** Assemblies dropped: restarted, interrupted, inconsistent or over a limit. */
  readonly partialDropped: number;
  /** CONTINUED/LAST fragments without an assembly. */
  readonly partialOrphans: number;
  readonly listenerErrors: number;
  /** Sends refused by ServiceApi ('full'). */
  readonly sendFull: number;
  readonly syncs: number;
  readonly syncAborts: number;
}

type MutableCounters = { -readonly [K in keyof CpgCounters]: number };

interface ProcEntry {
  readonly nodeId: number;
  readonly pid: number;
  /** Insertion number: corosync inserts after equal (nodeid, pid) entries. */
  readonly seq: number;
}

interface GroupEntry {
  readonly key: string;
  readonly name: Uint8Array;
  readonly text: string;
  /** Sorted by (nodeId, pid); unique per (nodeId, pid). */
  readonly members: ProcEntry[];
  readonly perNode: Map<number, number>;
}

interface HandleGroup {
  readonly name: Uint8Array;
  state: 'join-started' | 'joined' | 'leave-started';
}

interface HandleState {
  readonly id: number;
  readonly pid: number;
  readonly groups: Map<string, HandleGroup>;
  readonly deliverListeners: Set<(event: CpgDeliverEvent) => void>;
  readonly confchgListeners: Set<(event: CpgConfchgEvent) => void>;
  readonly totemListeners: Set<(event: CpgTotemConfchgEvent) => void>;
  readonly initialTotemConf: boolean;
  initialTotemConfSent: boolean;
  finalized: boolean;
}

interface StoredJoin {
  readonly sender: number;
  readonly pid: number;
  readonly key: string;
  readonly name: Uint8Array;
}

interface PartialAssembly {
  readonly msgLen: number;
  readonly chunks: Uint8Array[];
  bytes: number;
  /** Handles that received every fragment so far. */
  readonly receivers: Set<number>;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** A group name's bytes as a Map key (one char per byte). */
function keyOf(name: Uint8Array): string {
  return String.fromCharCode(...name);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function compareProc(a: { nodeId: number; pid: number }, b: { nodeId: number; pid: number }): number {
  return a.nodeId - b.nodeId || a.pid - b.pid;
}

function memberOf(e: ProcEntry): CpgMember {
  return { nodeId: e.nodeId, pid: e.pid };
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

export class CpgService implements Service {
  readonly id = ServiceId.cpg;
  readonly name = 'cpg';
  readonly sync: SyncHooks;

  private readonly api: ServiceApi;
  private readonly limits: CpgLimits;
  private readonly stats: MutableCounters = {
    procJoins: 0,
    procLeaves: 0,
    mcasts: 0,
    partialFragments: 0,
    joinLists: 0,
    downLists: 0,
    downListsOld: 0,
    delivered: 0,
    deliveries: 0,
    confchgs: 0,
    totemConfchgs: 0,
    unknownNode: 0,
    decodeErrors: 0,
    duplicateJoins: 0,
    leavesOfUnknown: 0,
    processOverflows: 0,
    joinListOverflows: 0,
    partialDelivered: 0,
    partialDropped: 0,
    partialOrphans: 0,
    listenerErrors: 0,
    sendFull: 0,
    syncs: 0,
    syncAborts: 0,
  };

  /** The process list, per group. */
  private readonly groupTable = new Map<string, GroupEntry>();
  private processCount = 0;
  private processSeq = 0;

  private readonly handles = new Map<number, HandleState>();
  private nextHandleId = 1;
  private readonly pidBase: number;
  private nextPid: number;
  private localMemberships = 0;

  /** my_old_member_list: the members at the last activate. */
  private oldMembers: readonly number[] = [];
  private syncMembers: readonly number[] = [];
  private syncRingId: RingId = { rep: 0, seq: 0n };
  private downlist: readonly number[] = [];
  private syncStep: 'downlist' | 'joinlist' | 'done' = 'done';
  /** Delivered JOINLIST entries of the running sync, in delivery order. */
  private joinLists: StoredJoin[] = [];
  /**
   * (sender:pid:group) of every PROCLEAVE delivered since this sync round's init. A JOINLIST
   * built before such a leave was delivered still lists the process; NODEUP must not bring
   * it back (corosync's ghost after a finalize during sync). Every member delivers the same
   * messages in the same order, so all skip the same entries.
   */
  private readonly leftThisRound = new Set<string>();
  /** From this service's sync init to its activate or abort. */
  private roundOpen = false;

  /** PROCLEAVEs from finalize that ServiceApi refused; sent before anything else. */
  private readonly pendingSends: Uint8Array[] = [];
  /** Our PROCJOIN/PROCLEAVE not yet delivered back, per `${pid}:${key}`. */
  private readonly inflight = new Map<string, { joins: number; leaves: number }>();

  private readonly partials = new Map<string, PartialAssembly>();
  private partialBytes = 0;

  constructor(api: ServiceApi, options: CpgServiceOptions = {}) {
    this.api = api;
    this.limits = { ...CpgLimitDefaults, ...options.limits };
    this.pidBase = options.pidBase ?? 0x40000000;
    assert(isU32(this.pidBase), 'pidBase must be a u32');
    this.nextPid = this.pidBase;
    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => this.syncAbort(),
    };
  }

  // -------------------------------------------------------------------------------------
  // Client side

  /** Connects a local process; throws when tryConnect would refuse. */
  connect(options: CpgConnectOptions = {}): CpgHandle {
    const h = this.tryConnect(options);
    if (typeof h === 'string') throw new RangeError(`cpg connect refused: ${h}`);
    return h;
  }

  tryConnect(options: CpgConnectOptions = {}): CpgHandle | CpgConnectError {
    if (this.handles.size >= this.limits.handles) return 'too-many-handles';
    if (options.pid !== undefined && !isU32(options.pid)) return 'bad-pid';
    const pid = options.pid ?? this.allocatePid();
    const state: HandleState = {
      id: this.nextHandleId,
      pid,
      groups: new Map(),
      deliverListeners: new Set(),
      confchgListeners: new Set(),
      totemListeners: new Set(),
      initialTotemConf: options.initialTotemConf ?? false,
      initialTotemConfSent: false,
      finalized: false,
    };
    this.nextHandleId += 1;
    this.handles.set(state.id, state);
    return this.handleFor(state);
  }

  /** Every group with members, by name, members in corosync's order (for cpgtool / show members). */
  groups(): CpgGroupView[] {
    return [...this.groupTable.values()]
      .sort((a, b) => compareBytes(a.name, b.name))
      .map((g) => ({ group: g.text, groupName: g.name.slice(), members: g.members.map(memberOf) }));
  }

  /**
   * cpg_iteration_initialize(CPG_ITERATION_ALL), in corosync's order, which is what
   * corosync-cpgtool and res_corosync's `corosync show members` print: walking the process
   * list, a process whose group is not listed yet starts a new group at the front; any
   * other is inserted right after its group's first entry. So groups come newest first
   * and, within a group, the first process is followed by the others in reverse order.
   */
  iteration(): CpgGroupView[] {
    const out: Array<{ group: GroupEntry; members: CpgMember[] }> = [];
    for (const e of this.processList()) {
      const at = out.find((g) => g.group === e.group);
      if (at === undefined) out.unshift({ group: e.group, members: [memberOf(e)] });
      else at.members.splice(1, 0, memberOf(e));
    }
    return out.map((g) => ({ group: g.group.text, groupName: g.group.name.slice(), members: g.members }));
  }

  membership(group: CpgGroupInput): CpgMember[] {
    const name = toName(group);
    return this.groupTable.get(keyOf(name))?.members.map(memberOf) ?? [];
  }

  counters(): CpgCounters {
    return { ...this.stats };
  }

  /** cpg_local_get. */
  get localNodeId(): number {
    return this.api.localNodeId;
  }

  get handleCount(): number {
    return this.handles.size;
  }

  get processListSize(): number {
    return this.processCount;
  }

  /** Sends waiting because ServiceApi was full. */
  get pendingSendCount(): number {
    return this.pendingSends.length;
  }

  private allocatePid(): number {
    const used = new Set([...this.handles.values()].map((h) => h.pid));
    for (;;) {
      const pid = this.nextPid;
      this.nextPid = pid >= 0xffffffff ? this.pidBase : pid + 1;
      if (!used.has(pid)) return pid;
    }
  }

  private handleFor(h: HandleState): CpgHandle {
    const listen = <T>(set: Set<(event: T) => void>, listener: (event: T) => void): (() => void) => {
      assert(set.size < this.limits.listenersPerHandle, 'too many listeners on one CPG handle');
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    };
    return {
      pid: h.pid,
      get finalized() {
        return h.finalized;
      },
      join: (group) => this.join(h, group),
      leave: (group) => this.leave(h, group),
      mcast: (group, payload) => this.mcast(h, group, payload),
      membership: (group) => this.membership(group),
      state: (group) => h.groups.get(keyOf(toName(group)))?.state ?? 'unjoined',
      finalize: () => this.finalize(h),
      onDeliver: (listener) => listen(h.deliverListeners, listener),
      onConfchg: (listener) => listen(h.confchgListeners, listener),
      onTotemConfchg: (listener) => listen(h.totemListeners, listener),
    };
  }

  private join(h: HandleState, group: CpgGroupInput): CpgJoinResult {
    if (h.finalized) return 'finalized';
    const name = toName(group);
    if (!isValidCpgName(name)) return 'bad-name';
    if (this.api.isSyncing()) return 'try-again';
    const key = keyOf(name);
    const own = h.groups.get(key);
    if (own) return own.state === 'leave-started' ? 'busy' : 'exists';
    for (const other of this.handles.values()) {
      if (other.pid === h.pid && other.groups.has(key)) return 'exists';
    }
    // A leave of the same (pid, group) not delivered yet (corosync: CS_ERR_TRY_AGAIN).
    if (this.findProcess(key, this.api.localNodeId, h.pid) >= 0 || this.inflight.has(`${h.pid}:${key}`)) return 'try-again';
    if (h.groups.size >= this.limits.groupsPerHandle || this.localMemberships >= this.limits.localMemberships) return 'too-many';
    if (this.send(encodeProcJoin({ group: name, pid: h.pid })) === 'full') return 'full';
    h.groups.set(key, { name, state: 'join-started' });
    this.localMemberships += 1;
    this.inflightAdd(h.pid, key, 'joins', 1);
    return 'queued';
  }

  private leave(h: HandleState, group: CpgGroupInput): CpgLeaveResult {
    if (h.finalized) return 'finalized';
    const name = toName(group);
    if (!isValidCpgName(name)) return 'not-joined';
    if (this.api.isSyncing()) return 'try-again';
    const key = keyOf(name);
    const g = h.groups.get(key);
    if (!g || g.state === 'leave-started') return 'not-joined';
    if (g.state === 'join-started') return 'busy';
    if (this.send(encodeProcLeave({ group: name, pid: h.pid, reason: CpgReason.leave })) === 'full') return 'full';
    g.state = 'leave-started';
    this.inflightAdd(h.pid, key, 'leaves', 1);
    return 'queued';
  }

  private mcast(h: HandleState, group: CpgGroupInput, payload: Uint8Array): CpgMcastResult {
    if (h.finalized) return 'not-joined';
    const name = toName(group);
    if (!isValidCpgName(name)) return 'not-joined';
    if (payload.length > this.limits.messageBytes) return 'too-large';
    if (this.api.isSyncing()) return 'try-again';
    const g = h.groups.get(keyOf(name));
    if (!g || g.state === 'leave-started') return 'not-joined';
    const segments = encodeMcastSegments({ group: name, pid: h.pid, sourceNodeId: this.api.localNodeId, payload: payload.slice() });
    return this.send(segments);
  }

  private finalize(h: HandleState): void {
    if (h.finalized) return;
    h.finalized = true;
    this.handles.delete(h.id);
    this.localMemberships -= h.groups.size;
    for (const [key, g] of h.groups) {
      if (g.state === 'leave-started') continue;
      // cpg_lib_exit_fn: PROCLEAVE with PROCDOWN, also for a join not delivered yet.
      const message = encodeProcLeave({ group: g.name, pid: h.pid, reason: CpgReason.procDown });
      if (this.send(message) === 'full') this.pendingSends.push(message);
      this.inflightAdd(h.pid, key, 'leaves', 1);
    }
    h.groups.clear();
  }

  /** Sends after anything still pending; 'full' leaves nothing sent. */
  private send(message: Uint8Array | readonly Uint8Array[]): 'queued' | 'full' {
    if (!this.flushPending()) {
      this.stats.sendFull += 1;
      return 'full';
    }
    const r = this.api.mcast(message);
    if (r === 'full') this.stats.sendFull += 1;
    return r;
  }

  /** Sends pending PROCLEAVEs in order; true when none is left. */
  private flushPending(): boolean {
    while (this.pendingSends.length > 0) {
      const next = this.pendingSends[0];
      if (next === undefined || this.api.mcast(next) === 'full') return false;
      this.pendingSends.shift();
    }
    return true;
  }

  private inflightAdd(pid: number, key: string, kind: 'joins' | 'leaves', delta: number): void {
    const k = `${pid}:${key}`;
    const entry = this.inflight.get(k) ?? { joins: 0, leaves: 0 };
    entry[kind] = Math.max(0, entry[kind] + delta);
    if (entry.joins === 0 && entry.leaves === 0) this.inflight.delete(k);
    else this.inflight.set(k, entry);
  }

  // -------------------------------------------------------------------------------------
  // Service

  tick(): void {
    this.flushPending();
  }

  ticksToNextTimer(): number | null {
    return this.pendingSends.length > 0 ? serviceRetryTicks(this.api.tickMs) : null;
  }

  confchg(change: ServiceConfChange): void {
    // corosync's CPG has no confchg hook: everything happens in sync.
    this.api.log('debug', `cpg: ${change.type} configuration`, { members: change.members, left: change.left, joined: change.joined });
  }

  deliver(fn: number, sender: number, message: Uint8Array): void {
    const decoded = decodeCpgMessage(message);
    if (!decoded.ok) {
      this.stats.decodeErrors += 1;
      this.api.log('debug', `cpg: dropped a malformed message from node ${sender}: ${decoded.error.message}`, { fn, code: decoded.error.code });
      return;
    }
    const m = decoded.value;
    if (cpgFnOf(m) !== fn) {
      this.stats.decodeErrors += 1;
      this.api.log('debug', `cpg: message from node ${sender} delivered as fn ${fn} but its header says ${cpgFnOf(m)}`);
      return;
    }
    switch (m.type) {
      case 'procjoin':
        this.onProcJoin(sender, m);
        return;
      case 'procleave':
        this.onProcLeave(sender, m);
        return;
      case 'mcast':
        this.onMcast(sender, m);
        return;
      case 'partial-mcast':
        this.onPartial(sender, m);
        return;
      case 'joinlist':
        this.stats.joinLists += 1;
        this.api.log('debug', `cpg: got joinlist message from node ${sender}`, { entries: m.entries.length });
        for (const e of m.entries) {
          if (this.joinLists.length >= this.limits.joinListEntries) {
            this.stats.joinListOverflows += 1;
            break;
          }
          this.joinLists.push({ sender, pid: e.pid, key: keyOf(e.group), name: e.group });
        }
        return;
      case 'downlist':
        this.stats.downLists += 1;
        // Each node sends DOWNLIST then JOINLIST in one process step: only its latest pair
        // counts. A JOINLIST queued in an aborted round and delivered in this ring is stale.
        this.joinLists = this.joinLists.filter((j) => j.sender !== sender);
        this.api.log('debug', `cpg: downlist left_list: ${m.leftNodes.length} received`, { sender, oldMembers: m.oldMembers });
        return;
      case 'downlist-old':
        this.stats.downListsOld += 1;
        this.api.log('debug', `cpg: downlist OLD from node ${sender}`);
        return;
    }
  }

  private onProcJoin(sender: number, m: CpgProcJoin): void {
    this.stats.procJoins += 1;
    const key = keyOf(m.group);
    const local = sender === this.api.localNodeId;
    if (local) this.inflightAdd(m.pid, key, 'joins', -1);
    this.api.log('debug', `cpg: got procjoin message from cluster node ${sender} for pid ${m.pid}`);
    if (this.findProcess(key, sender, m.pid) >= 0) {
      this.stats.duplicateJoins += 1;
      return;
    }
    if (!this.addProcess(key, m.group, sender, m.pid, local)) return;
    if (local) {
      for (const h of this.handles.values()) {
        const g = h.groups.get(key);
        if (h.pid === m.pid && g?.state === 'join-started') g.state = 'joined';
      }
    }
    this.notify(key, m.group, [{ nodeId: sender, pid: m.pid, reason: CpgReason.join }], []);
  }

  private onProcLeave(sender: number, m: CpgProcLeave): void {
    this.stats.procLeaves += 1;
    const key = keyOf(m.group);
    const local = sender === this.api.localNodeId;
    if (local) this.inflightAdd(m.pid, key, 'leaves', -1);
    this.api.log('debug', `cpg: got procleave message from cluster node ${sender} for pid ${m.pid}`, { reason: m.reason });
    if (this.findProcess(key, sender, m.pid) < 0) this.stats.leavesOfUnknown += 1;
    if (this.roundOpen) this.leftThisRound.add(`${sender}:${m.pid}:${key}`);
    this.procLeave(key, m.group, sender, m.pid, m.reason);
    if (local) {
      for (const h of this.handles.values()) {
        const g = h.groups.get(key);
        if (h.pid === m.pid && g !== undefined && g.state !== 'join-started') {
          h.groups.delete(key);
          this.localMemberships -= 1;
        }
      }
    }
  }

  /** do_proc_leave: notify (even for an unknown process, as corosync does), then remove. */
  private procLeave(key: string, name: Uint8Array, nodeId: number, pid: number, reason: number): void {
    this.notify(key, name, [], [{ nodeId, pid, reason }]);
    this.removeProcess(key, nodeId, pid);
  }

  /** Local handles that receive a group's events: JOINED or LEAVE_STARTED. */
  private receiversOf(key: string): HandleState[] {
    const out: HandleState[] = [];
    for (const h of this.handles.values()) {
      const g = h.groups.get(key);
      if (g !== undefined && g.state !== 'join-started') out.push(h);
    }
    return out;
  }

  private isNodeKnown(key: string, nodeId: number): boolean {
    return (this.groupTable.get(key)?.perNode.get(nodeId) ?? 0) > 0;
  }

  private onMcast(sender: number, m: CpgMcast): void {
    this.stats.mcasts += 1;
    const key = keyOf(m.group);
    const receivers = this.receiversOf(key);
    if (receivers.length === 0) return;
    if (!this.isNodeKnown(key, sender)) {
      this.stats.unknownNode += 1;
      this.api.log('warning', 'Unknown node -> we will not deliver message', { sender, pid: m.pid });
      return;
    }
    this.deliverTo(receivers, m.group, sender, m.pid, m.payload.slice());
  }

  private deliverTo(receivers: readonly HandleState[], name: Uint8Array, nodeId: number, pid: number, payload: Uint8Array): void {
    const event: CpgDeliverEvent = { group: textDecoder.decode(name), groupName: name, nodeId, pid, payload };
    this.stats.delivered += 1;
    for (const h of receivers) {
      if (h.finalized) continue;
      this.stats.deliveries += 1;
      this.emit(h.deliverListeners, event);
    }
  }

  private onPartial(sender: number, m: CpgPartialMcast): void {
    this.stats.partialFragments += 1;
    const key = keyOf(m.group);
    const akey = partialKey(sender, m.pid, key);
    const receivers = this.receiversOf(key);
    if (receivers.length === 0) {
      this.dropPartial(akey);
      return;
    }
    if (!this.isNodeKnown(key, sender)) {
      this.stats.unknownNode += 1;
      this.api.log('warning', 'Unknown node -> we will not deliver message', { sender, pid: m.pid });
      this.dropPartial(akey);
      return;
    }
    if (m.partType === CpgPartialType.first) {
      this.dropPartial(akey);
      if (this.partials.size >= this.limits.partialAssemblies || m.msgLen > this.limits.partialMessageBytes) {
        this.stats.partialDropped += 1;
        return;
      }
      this.partials.set(akey, { msgLen: m.msgLen, chunks: [], bytes: 0, receivers: new Set(receivers.map((h) => h.id)) });
    }
    const a = this.partials.get(akey);
    if (a === undefined) {
      this.stats.partialOrphans += 1;
      return;
    }
    // Only handles that got every fragment can get the whole message.
    const now = new Set(receivers.map((h) => h.id));
    for (const id of a.receivers) if (!now.has(id)) a.receivers.delete(id);
    const fits = a.bytes + m.payload.length <= a.msgLen && this.partialBytes + m.payload.length <= this.limits.partialBytes;
    if (!fits || m.msgLen !== a.msgLen || a.receivers.size === 0) {
      this.dropPartial(akey);
      return;
    }
    a.chunks.push(m.payload.slice());
    a.bytes += m.payload.length;
    this.partialBytes += m.payload.length;
    if (m.partType !== CpgPartialType.last) return;
    this.partials.delete(akey);
    this.partialBytes -= a.bytes;
    if (a.bytes !== a.msgLen) {
      this.stats.partialDropped += 1;
      return;
    }
    const whole = new Uint8Array(a.bytes);
    let at = 0;
    for (const c of a.chunks) {
      whole.set(c, at);
      at += c.length;
    }
    this.stats.partialDelivered += 1;
    this.deliverTo(
      receivers.filter((h) => a.receivers.has(h.id)),
      m.group,
      sender,
      m.pid,
      whole,
    );
  }

  private dropPartial(akey: string): void {
    const a = this.partials.get(akey);
    if (a === undefined) return;
    this.partials.delete(akey);
    this.partialBytes -= a.bytes;
    this.stats.partialDropped += 1;
  }

  // -------------------------------------------------------------------------------------
  // Process list

  /** Index of (nodeId, pid) in the group's member list, or -1. */
  private findProcess(key: string, nodeId: number, pid: number): number {
    const members = this.groupTable.get(key)?.members;
    if (members === undefined) return -1;
    const i = lowerBound(members, nodeId, pid);
    const e = members[i];
    return e !== undefined && e.nodeId === nodeId && e.pid === pid ? i : -1;
  }

  /**
   * do_proc_join's insertion; false when the process is known already or the list is
   * full (our own processes are bounded by localMemberships and always fit).
   */
  private addProcess(key: string, name: Uint8Array, nodeId: number, pid: number, local = false): boolean {
    if (this.findProcess(key, nodeId, pid) >= 0) return false;
    if (!local && this.processCount >= this.limits.processes) {
      this.stats.processOverflows += 1;
      this.api.log('warning', 'cpg: process list full, dropping a join', { nodeId, pid });
      return false;
    }
    let g = this.groupTable.get(key);
    if (g === undefined) {
      g = { key, name: name.slice(), text: textDecoder.decode(name), members: [], perNode: new Map() };
      this.groupTable.set(key, g);
    }
    g.members.splice(lowerBound(g.members, nodeId, pid), 0, { nodeId, pid, seq: this.processSeq });
    this.processSeq += 1;
    g.perNode.set(nodeId, (g.perNode.get(nodeId) ?? 0) + 1);
    this.processCount += 1;
    return true;
  }

  private removeProcess(key: string, nodeId: number, pid: number): void {
    const i = this.findProcess(key, nodeId, pid);
    const g = this.groupTable.get(key);
    if (i < 0 || g === undefined) return;
    g.members.splice(i, 1);
    const n = (g.perNode.get(nodeId) ?? 1) - 1;
    if (n > 0) g.perNode.set(nodeId, n);
    else g.perNode.delete(nodeId);
    this.processCount -= 1;
    if (g.members.length === 0) this.groupTable.delete(key);
  }

  /** The whole process list in corosync's order: nodeid, pid, insertion. */
  private processList(): Array<ProcEntry & { readonly group: GroupEntry }> {
    const all: Array<ProcEntry & { readonly group: GroupEntry }> = [];
    for (const g of this.groupTable.values()) for (const e of g.members) all.push({ ...e, group: g });
    return all.sort((a, b) => compareProc(a, b) || a.seq - b.seq);
  }

  // -------------------------------------------------------------------------------------
  // Notifications

  /** notify_lib_joinlist: one confchg to the group's JOINED / LEAVE_STARTED handles. */
  private notify(key: string, name: Uint8Array, joined: CpgMemberChange[], left: CpgMemberChange[]): void {
    const g = this.groupTable.get(key);
    const leaving = new Set(left.map((l) => `${l.nodeId}:${l.pid}`));
    const members = (g?.members ?? []).filter((e) => !leaving.has(`${e.nodeId}:${e.pid}`)).map(memberOf);
    const receivers = this.receiversOf(key);
    if (receivers.length > 0) {
      const event: CpgConfchgEvent = { group: g?.text ?? textDecoder.decode(name), groupName: (g?.name ?? name).slice(), members, joined, left };
      this.stats.confchgs += 1;
      for (const h of receivers) if (!h.finalized) this.emit(h.confchgListeners, event);
    }
    // libcpg forgets the assemblies of processes that left.
    for (const l of left) this.dropPartial(partialKey(l.nodeId, l.pid, key));
    for (const h of [...this.handles.values()]) {
      if (!h.initialTotemConf || h.initialTotemConfSent || h.finalized) continue;
      h.initialTotemConfSent = true;
      this.emitTotem(h, this.oldMembers);
    }
  }

  private emitTotem(h: HandleState, members: readonly number[]): void {
    this.stats.totemConfchgs += 1;
    this.emit(h.totemListeners, { ringId: this.syncRingId, members: [...members] });
  }

  private emit<T>(listeners: ReadonlySet<(event: T) => void>, event: T): void {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (e) {
        this.stats.listenerErrors += 1;
        this.api.log('error', 'cpg: a client listener threw', { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Sync (§8.7)

  private syncInit(trans: readonly number[], members: readonly number[], ringId: RingId): void {
    this.stats.syncs += 1;
    this.syncStep = 'downlist';
    this.syncMembers = [...members];
    this.syncRingId = ringId;
    const transSet = new Set(trans);
    this.downlist = this.oldMembers.filter((n) => !transSet.has(n));
    // corosync PR #828: joinlists of an aborted round must not survive into this one.
    this.joinLists = [];
    this.leftThisRound.clear();
    this.roundOpen = true;
  }

  private syncProcess(): 'done' | 'again' {
    if (!this.flushPending()) return 'again';
    if (this.syncStep === 'downlist') {
      const message = encodeDownList({ oldMembers: this.oldMembers.length, leftNodes: this.downlist.slice(0, CPG_PROCESSOR_COUNT_MAX) });
      if (this.api.mcast(message) === 'full') {
        this.stats.sendFull += 1;
        return 'again';
      }
      this.syncStep = 'joinlist';
    }
    if (this.syncStep === 'joinlist') {
      const entries = this.localJoinList();
      if (entries.length > 0 && this.api.mcast(encodeJoinList(entries)) === 'full') {
        this.stats.sendFull += 1;
        return 'again';
      }
      this.syncStep = 'done';
    }
    return 'done';
  }

  /**
   * Our processes for the JOINLIST, in process-list order — all of them, as corosync does:
   * a leave still queued behind the sync goes out after it and is a LEAVE everywhere; one
   * delivered during the round is caught on the receiving side (leftThisRound).
   */
  private localJoinList(): CpgJoinListEntry[] {
    const local = this.api.localNodeId;
    const max = Math.floor((this.limits.messageBytes - CpgSize.joinListHeader) / CpgSize.joinListEntry);
    const entries: CpgJoinListEntry[] = [];
    for (const e of this.processList()) {
      if (e.nodeId !== local) continue;
      if (entries.length >= max) {
        this.stats.joinListOverflows += 1;
        break;
      }
      entries.push({ pid: e.pid, group: e.group.name });
    }
    return entries;
  }

  private syncActivate(): void {
    this.oldMembers = this.syncMembers;
    this.downlistInform();
    this.joinlistInform();
    this.joinLists = [];
    this.leftThisRound.clear();
    this.roundOpen = false;
    this.syncStep = 'done';
    for (const h of [...this.handles.values()]) if (!h.finalized) this.emitTotem(h, this.syncMembers);
  }

  private syncAbort(): void {
    this.stats.syncAborts += 1;
    this.joinLists = [];
    this.leftThisRound.clear();
    this.roundOpen = false;
  }

  /** downlist_inform_clients: remove the downlist nodes' processes, one confchg per group. */
  private downlistInform(): void {
    if (this.downlist.length === 0) return;
    this.api.log('debug', 'cpg: my downlist', { oldMembers: this.oldMembers.length, left: this.downlist });
    const down = new Set(this.downlist);
    const perGroup = new Map<string, { name: Uint8Array; left: CpgMemberChange[] }>();
    for (const e of this.processList()) {
      if (!down.has(e.nodeId)) continue;
      const entry = perGroup.get(e.group.key) ?? { name: e.group.name, left: [] };
      perGroup.set(e.group.key, entry);
      entry.left.push({ nodeId: e.nodeId, pid: e.pid, reason: CpgReason.nodeDown });
      this.removeProcess(e.group.key, e.nodeId, e.pid);
    }
    for (const [key, { name, left }] of sortedByName(perGroup)) this.notify(key, name, [], left);
  }

  /** joinlist_inform_clients: NODEUP for unknown processes of others, then PROCDOWN for zombies. */
  private joinlistInform(): void {
    const local = this.api.localNodeId;
    const perGroup = new Map<string, { name: Uint8Array; joined: CpgMemberChange[] }>();
    // corosync prepends each stored entry to its list, so it walks them newest first.
    for (let i = this.joinLists.length - 1; i >= 0; i -= 1) {
      const s = this.joinLists[i];
      if (s === undefined || s.sender === local) continue;
      if (this.leftThisRound.has(`${s.sender}:${s.pid}:${s.key}`)) continue;
      if (!this.addProcess(s.key, s.name, s.sender, s.pid)) continue;
      const entry = perGroup.get(s.key) ?? { name: s.name, joined: [] };
      perGroup.set(s.key, entry);
      entry.joined.push({ nodeId: s.sender, pid: s.pid, reason: CpgReason.nodeUp });
    }
    for (const [key, { name, joined }] of sortedByName(perGroup)) this.notify(key, name, joined, []);

    // joinlist_remove_zombie_pi_entries. A zombie whose node is not in the new ring has not
    // died: its node went away (FINDINGS F10) — we say NODEDOWN where corosync says PROCDOWN.
    const mentioned = new Set<string>();
    for (const s of this.joinLists) if (s.sender !== local) mentioned.add(`${s.sender}:${s.pid}:${s.key}`);
    const members = new Set(this.syncMembers);
    for (const e of this.processList()) {
      if (e.nodeId === local || mentioned.has(`${e.nodeId}:${e.pid}:${e.group.key}`)) continue;
      const reason = members.has(e.nodeId) ? CpgReason.procDown : CpgReason.nodeDown;
      this.procLeave(e.group.key, e.group.name, e.nodeId, e.pid, reason);
    }
  }
}

function partialKey(nodeId: number, pid: number, key: string): string {
  return `${nodeId}:${pid}:${key}`;
}

/** First index whose (nodeId, pid) is ≥ the given one. */
function lowerBound(members: readonly ProcEntry[], nodeId: number, pid: number): number {
  let lo = 0;
  let hi = members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = members[mid];
    if (e !== undefined && compareProc(e, { nodeId, pid }) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** corosync collects per-group notifications in a skiplist keyed by the name: name order. */
function sortedByName<T extends { name: Uint8Array }>(map: Map<string, T>): Array<[string, T]> {
  return [...map.entries()].sort((a, b) => compareBytes(a[1].name, b[1].name));
}

function toName(group: CpgGroupInput): Uint8Array {
  return typeof group === 'string' ? textEncoder.encode(group) : group;
}
