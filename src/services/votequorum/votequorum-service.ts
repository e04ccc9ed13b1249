// votequorum (service 5) with corosync 3.1.7's semantics (exec/votequorum.c, votequorum(5),
// corosync-wire.md §9.1). Pure: it reacts to delivered NODEINFO / RECONFIGURE / QDEVICE_*
// messages, the sync hooks and ticks, and acts only through ServiceApi.
//
// The model, as in corosync:
// * A record per node ever heard of (state member / dead / leaving, votes, expected
//   votes, flags), plus one record for the quorum device (node id 0). A node becomes a
//   member when its NODEINFO is delivered and dead when a sync starts without it.
// * quorum = max((highest_expected + 2) / 2, (total_votes + 2) / 2), integer division,
//   where highest_expected is the largest expected-votes value among members (or the
//   member count under last_man_standing) and total_votes the members' votes. Quorum never
//   decreases except where a calculation is allowed to lower it: a NODEINFO from a quorate
//   sender while we are not quorate, a LEAVING node, RECONFIGURE, the last_man_standing
//   timer. two_node forces quorum 1 while at most two nodes are members.
// * Our own expected votes rise to the total votes seen; a quorate sender's expected votes
//   are adopted when we are not quorate; otherwise a sender's expected votes are replaced
//   by ours in its record (unless expected_votes_tracking).
// * wait_for_all: not quorate until the total votes equal our expected votes once (all
//   nodes seen), or until a quorate sender that is not itself waiting clears it.
// * Sync: init marks the nodes that left dead (and arms the last_man_standing timer);
//   process multicasts NODEINFO(self), NODEINFO(0) and, when a qdevice name is known,
//   QDEVICE_REG; activate recalculates and reports quorum to the quorum service.
//   Quorum changes during sync are not reported until activate.
// * A node's NODEINFO carries the flags it had when it was sent: its quorate bit is that
//   of its last calculation, which in a new ring's sync is the previous ring's result.
//
// The quorum device API (qdevice register/poll/master_wins) is not implemented: the
// qdevice record and name are kept and sent in sync as corosync does, but this node never
// registers a device, so its qdevice flags stay clear.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import type { RingId } from '../../totem/wire/messages';
import type { QuorumChange } from '../quorum/quorum-service';
import type { Service, ServiceApi, ServiceConfChange, SyncHooks } from '../service-api';
import { ServiceId, serviceRetryTicks } from '../service-api';
import {
  decodeVotequorumMessage,
  encodeNodeInfo,
  encodeQdeviceReg,
  encodeReconfigure,
  NodeFlags,
  nodeFlagsText,
  QDEVICE_NODEID,
  QdeviceOperation,
  ReconfigureParam,
  VotequorumFn,
  type NodeInfoMessage,
  type QdeviceReconfigureMessage,
  type QdeviceRegMessage,
  type ReconfigureMessage,
} from './votequorum-messages';

// ---------------------------------------------------------------------------------------
// Settings

/** One nodelist entry as votequorum reads it (nodelist.node.N.*). */
export interface VotequorumNode {
  readonly nodeId: number;
  /** nodelist.node.N.quorum_votes; default 1. */
  readonly votes?: number;
  /** nodelist.node.N.name, for status output. */
  readonly name?: string;
}

/** The quorum {} section and the nodelist, as plain data (the shell parses corosync.conf). */
export interface VotequorumSettings {
  /** The nodelist; votequorum uses it only if it lists the local node. */
  readonly nodelist?: readonly VotequorumNode[];
  /** quorum.expected_votes; overrides the nodelist's sum of votes. */
  readonly expectedVotes?: number;
  /** quorum.votes (deprecated): this node's votes when there is no nodelist; default 1. */
  readonly votes?: number;
  /** quorum.two_node. */
  readonly twoNode?: boolean;
  /** quorum.wait_for_all; when omitted it follows two_node. */
  readonly waitForAll?: boolean;
  /** quorum.last_man_standing. */
  readonly lastManStanding?: boolean;
  /** quorum.last_man_standing_window in ms; default 10000. */
  readonly lastManStandingWindowMs?: number;
  /** quorum.auto_tie_breaker. */
  readonly autoTieBreaker?: boolean;
  /** quorum.auto_tie_breaker_node: lowest (default), highest, or a list of node ids. */
  readonly autoTieBreakerNode?: 'lowest' | 'highest' | readonly number[];
  /** quorum.allow_downscale (implies expected_votes_tracking). */
  readonly allowDownscale?: boolean;
  /** quorum.expected_votes_tracking. */
  readonly expectedVotesTracking?: boolean;
  /** The stored ev_tracking value (state_dir/ev_tracking), loaded by the shell; default 0. */
  readonly evTrackingBarrier?: number;
}

export const DEFAULT_LAST_MAN_STANDING_WINDOW_MS = 10000;

/** Auto tie breaker mode (ATB_NONE / LOWEST / HIGHEST / LIST). */
export type AutoTieBreakerMode = 'none' | 'lowest' | 'highest' | 'list';

/** The settings after votequorum's startup checks (votequorum_readconfig at startup). */
export interface VotequorumConfig {
  readonly twoNode: boolean;
  readonly waitForAll: boolean;
  /** wait_for_all was not set and follows two_node (also on reload). */
  readonly waitForAllAutoset: boolean;
  readonly lastManStanding: boolean;
  readonly lastManStandingWindowMs: number;
  readonly autoTieBreaker: AutoTieBreakerMode;
  readonly autoTieBreakerList: readonly number[];
  /** ATB as configured, before it is disabled for an odd-sized cluster without WFA. */
  readonly initialAutoTieBreaker: AutoTieBreakerMode;
  readonly allowDownscale: boolean;
  readonly expectedVotesTracking: boolean;
  readonly evTrackingBarrier: number;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly names: ReadonlyMap<number, string>;
  /** Warnings and critical messages corosync logs while reading this configuration. */
  readonly notes: readonly { readonly level: 'warning' | 'error'; readonly message: string }[];
}

interface NodelistFacts {
  readonly localVotes: number;
  readonly expected: number;
  readonly count: number;
}

function nodelistFacts(settings: VotequorumSettings, localNodeId: number): NodelistFacts | null {
  const list = settings.nodelist ?? [];
  const local = list.find((n) => n.nodeId === localNodeId);
  if (!local) return null;
  return {
    localVotes: local.votes ?? 1,
    expected: list.reduce((sum, n) => sum + (n.votes ?? 1), 0),
    count: list.length,
  };
}

function parseAutoTieBreaker(
  node: VotequorumSettings['autoTieBreakerNode'],
  notes: { level: 'warning' | 'error'; message: string }[],
): { mode: AutoTieBreakerMode; list: number[] } {
  let mode: AutoTieBreakerMode = 'none';
  let list: number[] = [];
  if (node === 'lowest') mode = 'lowest';
  else if (node === 'highest') mode = 'highest';
  else if (node !== undefined) {
    // corosync reads numbers until the first 0 (strtol's "nothing read").
    const end = node.indexOf(0);
    list = (end < 0 ? [...node] : node.slice(0, end)).map((n) => n >>> 0);
    if (list.length > 0) mode = 'list';
  }
  if (mode === 'none') {
    notes.push({
      level: 'warning',
      message: "auto_tie_breaker_nodes is not valid. It must be 'lowest', 'highest' or a space-separated list of node IDs. auto_tie_breaker is disabled",
    });
  }
  return { mode, list };
}

/**
 * votequorum's startup configuration checks (votequorum_readconfig at startup): the
 * error corosync refuses to start with, or the effective settings.
 */
export function resolveVotequorumConfig(settings: VotequorumSettings, localNodeId: number): Result<VotequorumConfig, string> {
  const notes: { level: 'warning' | 'error'; message: string }[] = [];
  let expected = settings.expectedVotes ?? 0;
  const nodelist = nodelistFacts(settings, localNodeId);
  let twoNode = settings.twoNode ?? false;
  if (!nodelist && !expected) return err('configuration error: nodelist or quorum.expected_votes must be configured!');

  const allowDownscale = settings.allowDownscale ?? false;
  const waitForAllAutoset = settings.waitForAll === undefined;
  let waitForAll = settings.waitForAll ?? false;
  const lastManStanding = settings.lastManStanding ?? false;
  const lastManStandingWindowMs = settings.lastManStandingWindowMs ?? DEFAULT_LAST_MAN_STANDING_WINDOW_MS;
  let expectedVotesTracking = settings.expectedVotesTracking ?? false;

  let autoTieBreaker: AutoTieBreakerMode = 'none';
  let autoTieBreakerList: number[] = [];
  if (settings.autoTieBreaker) {
    autoTieBreaker = 'lowest';
    if (settings.autoTieBreakerNode !== undefined) {
      const parsed = parseAutoTieBreaker(settings.autoTieBreakerNode, notes);
      autoTieBreaker = parsed.mode;
      autoTieBreakerList = parsed.list;
    }
  } else if (settings.autoTieBreakerNode !== undefined) {
    notes.push({ level: 'warning', message: 'auto_tie_breaker_node: is meaningless if auto_tie_breaker is set to 0' });
  }
  const initialAutoTieBreaker = autoTieBreaker;
  if (allowDownscale) expectedVotesTracking = true;
  const evTrackingBarrier = settings.evTrackingBarrier ?? 0;

  if (waitForAllAutoset) waitForAll = twoNode;
  if (twoNode && autoTieBreaker !== 'none') {
    notes.push({ level: 'error', message: 'two_node and auto_tie_breaker are both specified but are not compatible.' });
    notes.push({ level: 'error', message: 'two_node has been disabled, please fix your corosync.conf' });
    twoNode = false;
  }
  const nodelistExpected = nodelist?.expected ?? 0;
  if (autoTieBreaker !== 'none' && nodelistExpected % 2 === 1 && !waitForAll) {
    if (lastManStanding) return err('configuration error: auto_tie_breaker & last_man_standing not available in odd sized cluster');
    notes.push({ level: 'error', message: 'auto_tie_breaker is set and the cluster has an odd number of nodes.' });
    notes.push({ level: 'error', message: 'wait_for_all needs to be set for this configuration but it is missing' });
    notes.push({ level: 'error', message: 'Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf' });
    autoTieBreaker = 'none';
  }

  // With expected_votes_tracking the stored value replaces quorum.expected_votes, even 0.
  if (expectedVotesTracking) expected = evTrackingBarrier;
  let votes: number;
  let expectedVotes = 0;
  if (nodelist) {
    votes = nodelist.localVotes;
    expectedVotes = nodelist.expected;
  } else {
    votes = settings.votes ?? 1;
  }
  if (expected) expectedVotes = expected;

  const names = new Map<number, string>();
  for (const n of settings.nodelist ?? []) if (n.name !== undefined) names.set(n.nodeId, n.name);
  return ok({
    twoNode,
    waitForAll,
    waitForAllAutoset,
    lastManStanding,
    lastManStandingWindowMs,
    autoTieBreaker,
    autoTieBreakerList,
    initialAutoTieBreaker,
    allowDownscale,
    expectedVotesTracking,
    evTrackingBarrier,
    votes,
    expectedVotes,
    names,
    notes,
  });
}

// ---------------------------------------------------------------------------------------
// Public shapes

/** VOTEQUORUM_NODESTATE_* */
export const VotequorumNodeStateCode = { member: 1, dead: 2, leaving: 3 } as const;
export type VotequorumNodeState = keyof typeof VotequorumNodeStateCode;

/** VOTEQUORUM_INFO_* flags of votequorum_getinfo. */
export const VotequorumInfoFlags = {
  twoNode: 1,
  quorate: 2,
  waitForAll: 4,
  lastManStanding: 8,
  autoTieBreaker: 16,
  allowDownscale: 32,
  qdeviceRegistered: 64,
  qdeviceAlive: 128,
  qdeviceCastVote: 256,
  qdeviceMasterWins: 512,
} as const;

/** votequorum_getinfo's answer (struct votequorum_info). */
export interface VotequorumInfo {
  readonly nodeId: number;
  readonly state: VotequorumNodeState;
  readonly votes: number;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  /** VotequorumInfoFlags bits. */
  readonly flags: number;
  readonly qdeviceVotes: number;
  readonly qdeviceName: string;
}

/** What `corosync-quorumtool -s` prints from votequorum. */
export interface VotequorumStatus {
  readonly quorate: boolean;
  readonly nodeId: number;
  readonly ringId: RingId;
  readonly expectedVotes: number;
  readonly highestExpected: number;
  readonly totalVotes: number;
  readonly quorum: number;
  /** In quorumtool's order: 2Node Quorate WaitForAll LastManStanding AutoTieBreaker AllowDownscale Qdevice. */
  readonly flags: readonly string[];
  /** The members of the last synced ring, in ring order; votes null = no record ("Unable to get node info"). */
  readonly members: readonly { readonly nodeId: number; readonly votes: number | null; readonly name?: string; readonly local: boolean }[];
}

/** votequorum's quorum callback plus its library quorum notification (all known nodes). */
export interface VotequorumQuorumEvent extends QuorumChange {
  readonly nodes: readonly { readonly nodeId: number; readonly state: VotequorumNodeState }[];
}

/** votequorum's library node-list notification, sent in every sync. */
export interface VotequorumNodeListEvent {
  readonly ringId: RingId;
  readonly members: readonly number[];
}

/** cs_error_t results of the library calls that can fail. */
export type VotequorumCallResult = 'ok' | 'err-invalid-param' | 'err-name-not-found';

export interface VotequorumOptions {
  /** The quorum service's set-quorum callback (vsf_quorum's quorum_api_set_quorum). */
  readonly quorumCallback?: (change: QuorumChange) => void;
  /**
   * expected_votes_tracking: the new highest expected votes, to be stored in
   * state_dir/ev_tracking by the shell (it may be called during construction).
   */
  readonly onEvTrackingBarrier?: (value: number) => void;
}

// ---------------------------------------------------------------------------------------
// Service

interface NodeRecord {
  readonly nodeId: number;
  state: VotequorumNodeState;
  votes: number;
  expectedVotes: number;
  flags: number;
}

interface QdeviceRecord {
  votes: number;
  expectedVotes: number;
  flags: number;
}

/** PROCESSOR_COUNT_MAX + 1 node records (plus the qdevice's) before dead ones are reused. */
const NODE_RECORDS_MAX = 385;

const ZERO_RING: RingId = { rep: 0, seq: 0n };

type Listener<T> = (event: T) => void;

function subscribe<T>(set: Set<Listener<T>>, listener: Listener<T>): () => void {
  set.add(listener);
  return () => void set.delete(listener);
}

function emit<T>(set: Set<Listener<T>>, event: T): void {
  for (const listener of [...set]) listener(event);
}

export class VotequorumService implements Service {
  readonly id = ServiceId.votequorum;
  readonly name = 'corosync vote quorum service v1.0';
  readonly sync: SyncHooks;

  private readonly api: ServiceApi;
  private readonly quorumCallback: ((change: QuorumChange) => void) | undefined;
  private readonly onEvTrackingBarrier: ((value: number) => void) | undefined;
  private readonly names: ReadonlyMap<number, string>;

  // configuration (some of it changes at runtime)
  private twoNode: boolean;
  private waitForAll: boolean;
  private readonly waitForAllAutoset: boolean;
  private lastManStanding: boolean;
  private readonly lastManStandingWindowTicks: number;
  private autoTieBreaker: AutoTieBreakerMode;
  private readonly autoTieBreakerList: readonly number[];
  private readonly initialAutoTieBreaker: AutoTieBreakerMode;
  private readonly allowDownscale: boolean;
  private readonly evTracking: boolean;
  private evTrackingBarrier: number;

  // state
  private readonly us: NodeRecord;
  private readonly records = new Map<number, NodeRecord>();
  private readonly qdevice: QdeviceRecord = { votes: 0, expectedVotes: 0, flags: 0 };
  private qdeviceName = '';
  /** A uint8_t in corosync: it wraps at 256 (only with 510 or more votes). */
  private quorum = 0;
  private clusterIsQuorate = false;
  private waitForAllStatus = false;
  private evBarrier = 0;
  private lowestNodeId = -1;
  private highestNodeId = -1;
  private quorumMembers: readonly number[] = [];
  private previousQuorumMembers: readonly number[] = [];
  private quorumRingId: RingId = ZERO_RING;
  private syncInProgress = false;
  private syncNodeinfoSent = false;
  private lastManStandingDeadline: number | null = null;
  private readonly outbox: Uint8Array[] = [];
  private malformed = 0;

  private readonly quorumListeners = new Set<Listener<VotequorumQuorumEvent>>();
  private readonly nodeListListeners = new Set<Listener<VotequorumNodeListEvent>>();
  private readonly expectedVotesListeners = new Set<Listener<number>>();

  /** Checks the settings as corosync does at startup, then starts the service. */
  static create(api: ServiceApi, settings: VotequorumSettings, options: VotequorumOptions = {}): Result<VotequorumService, string> {
    const config = resolveVotequorumConfig(settings, api.localNodeId);
    if (!config.ok) return config;
    return ok(new VotequorumService(api, config.value, options));
  }

  /**
   * Starts votequorum (votequorum_exec_init_fn): this node is a member with its configured
   * votes and the FIRST flag, quorum is calculated, and its NODEINFO is multicast.
   */
  constructor(api: ServiceApi, config: VotequorumConfig, options: VotequorumOptions = {}) {
    this.api = api;
    this.quorumCallback = options.quorumCallback;
    this.onEvTrackingBarrier = options.onEvTrackingBarrier;
    this.names = config.names;
    this.twoNode = config.twoNode;
    this.waitForAll = config.waitForAll;
    this.waitForAllAutoset = config.waitForAllAutoset;
    this.lastManStanding = config.lastManStanding;
    this.lastManStandingWindowTicks = Math.max(1, Math.ceil(config.lastManStandingWindowMs / api.tickMs));
    this.autoTieBreaker = config.autoTieBreaker;
    this.autoTieBreakerList = config.autoTieBreakerList;
    this.initialAutoTieBreaker = config.initialAutoTieBreaker;
    this.allowDownscale = config.allowDownscale;
    this.evTracking = config.expectedVotesTracking;
    this.evTrackingBarrier = config.evTrackingBarrier;
    for (const note of config.notes) api.log(note.level, note.message);

    this.us = { nodeId: api.localNodeId, state: 'member', votes: config.votes, expectedVotes: config.expectedVotes, flags: NodeFlags.first };
    this.records.set(this.us.nodeId, this.us);
    this.evBarrier = this.us.expectedVotes;
    if (this.waitForAll) this.setWaitForAllStatus(true);

    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => undefined,
    };

    this.recalculateQuorum(false, false);
    this.sendNodeInfo(this.us.nodeId);
  }

  // -------------------------------------------------------------------------------------
  // Library API

  /** votequorum_getinfo: null for an unknown node (CS_ERR_NOT_EXIST). Node 0 means this node. */
  getInfo(nodeId: number): VotequorumInfo | null {
    const node = nodeId === QDEVICE_NODEID ? this.us : this.records.get(nodeId);
    if (!node) return null;
    let highestExpected = 0;
    let totalVotes = 0;
    for (const n of this.records.values()) {
      if (n.state !== 'member') continue;
      highestExpected = Math.max(highestExpected, n.expectedVotes);
      totalVotes += n.votes;
    }
    if (node.flags & NodeFlags.qdeviceCastVote) totalVotes += this.qdevice.votes;
    let flags = 0;
    if (this.twoNode) flags |= VotequorumInfoFlags.twoNode;
    if (this.clusterIsQuorate) flags |= VotequorumInfoFlags.quorate;
    if (this.waitForAll) flags |= VotequorumInfoFlags.waitForAll;
    if (this.lastManStanding) flags |= VotequorumInfoFlags.lastManStanding;
    if (this.autoTieBreaker !== 'none') flags |= VotequorumInfoFlags.autoTieBreaker;
    if (this.allowDownscale) flags |= VotequorumInfoFlags.allowDownscale;
    if (node.flags & NodeFlags.qdeviceRegistered) flags |= VotequorumInfoFlags.qdeviceRegistered;
    if (node.flags & NodeFlags.qdeviceAlive) flags |= VotequorumInfoFlags.qdeviceAlive;
    if (node.flags & NodeFlags.qdeviceCastVote) flags |= VotequorumInfoFlags.qdeviceCastVote;
    if (node.flags & NodeFlags.qdeviceMasterWins) flags |= VotequorumInfoFlags.qdeviceMasterWins;
    return {
      nodeId: node.nodeId,
      state: node.state,
      votes: node.votes,
      expectedVotes: node.expectedVotes,
      highestExpected,
      totalVotes,
      quorum: this.quorum,
      flags,
      qdeviceVotes: this.qdevice.votes,
      qdeviceName: this.qdeviceName,
    };
  }

  /** What `corosync-quorumtool -s` shows from votequorum (its "Quorate:" line comes from the quorum service). */
  status(): VotequorumStatus {
    const info = this.getInfo(this.us.nodeId);
    assert(info !== null, 'the local node always has a record');
    const flags: string[] = [];
    if (info.flags & VotequorumInfoFlags.twoNode) flags.push('2Node');
    if (info.flags & VotequorumInfoFlags.quorate) flags.push('Quorate');
    if (info.flags & VotequorumInfoFlags.waitForAll) flags.push('WaitForAll');
    if (info.flags & VotequorumInfoFlags.lastManStanding) flags.push('LastManStanding');
    if (info.flags & VotequorumInfoFlags.autoTieBreaker) flags.push('AutoTieBreaker');
    if (info.flags & VotequorumInfoFlags.allowDownscale) flags.push('AllowDownscale');
    if (info.flags & VotequorumInfoFlags.qdeviceRegistered) flags.push('Qdevice');
    const members = this.quorumMembers.map((nodeId) => {
      const record = this.records.get(nodeId);
      const name = this.names.get(nodeId);
      return {
        nodeId,
        votes: record ? record.votes : null,
        ...(name !== undefined ? { name } : {}),
        local: nodeId === this.us.nodeId,
      };
    });
    return {
      quorate: this.clusterIsQuorate,
      nodeId: this.us.nodeId,
      ringId: this.quorumRingId,
      expectedVotes: info.expectedVotes,
      highestExpected: info.highestExpected,
      totalVotes: info.totalVotes,
      quorum: info.quorum,
      flags,
      members,
    };
  }

  /** Whether votequorum's own calculation says quorate (cluster_is_quorate). */
  isQuorate(): boolean {
    return this.clusterIsQuorate;
  }

  /**
   * votequorum_setexpected: refused when below the total votes or when it would make a
   * quorate cluster inquorate; otherwise applied to our records and multicast as
   * RECONFIGURE(EXPECTED_VOTES), which every node (this one included) then applies.
   */
  setExpected(expectedVotes: number): VotequorumCallResult {
    if (!Number.isInteger(expectedVotes) || expectedVotes < 0 || expectedVotes > 0xffffffff) return 'err-invalid-param';
    const { quorum: newQuorum, totalVotes } = this.calculateQuorum(true, expectedVotes, { ignoreDownscale: true });
    if (expectedVotes < totalVotes || (this.clusterIsQuorate && newQuorum > totalVotes)) return 'err-invalid-param';
    this.updateNodeExpectedVotes(expectedVotes);
    this.send(encodeReconfigure({ nodeId: this.us.nodeId, value: expectedVotes, param: ReconfigureParam.expectedVotes }));
    return 'ok';
  }

  /**
   * votequorum_setvotes: refused for an unknown node or when the new quorum would fall
   * below half the total votes or above them; otherwise multicast as
   * RECONFIGURE(NODE_VOTES). As in corosync the local record keeps the new votes at once.
   */
  setVotes(nodeId: number, votes: number): VotequorumCallResult {
    if (!Number.isInteger(votes) || votes < 0 || votes > 0xffffffff) return 'err-invalid-param';
    const target: { votes: number } | undefined = nodeId === QDEVICE_NODEID ? this.qdevice : this.records.get(nodeId);
    if (!target) return 'err-name-not-found';
    const saved = target.votes;
    target.votes = votes;
    const { quorum: newQuorum, totalVotes } = this.calculateQuorum(true, 0);
    if (newQuorum < Math.floor(totalVotes / 2) || newQuorum > totalVotes) {
      target.votes = saved;
      return 'err-invalid-param';
    }
    this.send(encodeReconfigure({ nodeId, value: votes, param: ReconfigureParam.nodeVotes }));
    return 'ok';
  }

  /** quorum.cancel_wait_for_all: multicasts RECONFIGURE(CANCEL_WFA); every node leaves wait_for_all. */
  cancelWaitForAll(): void {
    this.send(encodeReconfigure({ nodeId: this.us.nodeId, value: 0, param: ReconfigureParam.cancelWfa }));
  }

  /**
   * A configuration reload (votequorum_refresh_config): re-reads what may change at
   * runtime (two_node, expected_votes, votes, the nodelist), then multicasts NODEINFO(self),
   * NODEINFO(0) and RECONFIGURE for changed votes or expected votes. An invalid
   * configuration is reported and the running values are kept (except what corosync has
   * already changed by then).
   */
  reloadConfig(settings: VotequorumSettings): Result<void, string> {
    const oldVotes = this.us.votes;
    const oldExpected = this.us.expectedVotes;
    const error = this.readRuntimeConfig(settings);
    if (error !== null) return err(error);
    this.sendNodeInfo(this.us.nodeId);
    this.sendNodeInfo(QDEVICE_NODEID);
    if (this.us.votes !== oldVotes) {
      this.send(encodeReconfigure({ nodeId: this.us.nodeId, value: this.us.votes, param: ReconfigureParam.nodeVotes }));
    }
    if (this.us.expectedVotes !== oldExpected) {
      this.send(encodeReconfigure({ nodeId: this.us.nodeId, value: this.us.expectedVotes, param: ReconfigureParam.expectedVotes }));
    }
    return ok(undefined);
  }

  /** Orderly shutdown (votequorum_exec_exit_fn): with allow_downscale, announce LEAVING. */
  shutdown(): void {
    if (!this.allowDownscale) return;
    this.us.flags |= NodeFlags.leaving;
    this.sendNodeInfo(this.us.nodeId);
  }

  /** quorum callback + votequorum quorum notification: at every sync end and quorum change. */
  onQuorumChange(listener: Listener<VotequorumQuorumEvent>): () => void {
    return subscribe(this.quorumListeners, listener);
  }

  /** votequorum node-list notification: the new ring's members, in every sync. */
  onNodeListChange(listener: Listener<VotequorumNodeListEvent>): () => void {
    return subscribe(this.nodeListListeners, listener);
  }

  /** votequorum expected-votes notification. */
  onExpectedVotesChange(listener: Listener<number>): () => void {
    return subscribe(this.expectedVotesListeners, listener);
  }

  counters(): { malformed: number; outbox: number } {
    return { malformed: this.malformed, outbox: this.outbox.length };
  }

  // -------------------------------------------------------------------------------------
  // Service

  deliver(fn: number, sender: number, message: Uint8Array): void {
    if (fn > VotequorumFn.qdeviceReconfigure) {
      this.api.log('warning', `votequorum: exec function ${fn} from node ${sender} is out of range`);
      return;
    }
    const decoded = decodeVotequorumMessage(message);
    if (!decoded.ok) {
      this.malformed += 1;
      this.api.log('warning', `votequorum: malformed message from node ${sender}: ${decoded.error.message}`);
      return;
    }
    const m = decoded.value;
    switch (m.type) {
      case 'nodeinfo':
        this.receiveNodeInfo(m, sender);
        return;
      case 'reconfigure':
        this.receiveReconfigure(m, sender);
        return;
      case 'qdevice-reg':
        this.receiveQdeviceReg(m, sender);
        return;
      case 'qdevice-reconfigure':
        this.receiveQdeviceReconfigure(m, sender);
        return;
    }
  }

  confchg(_change: ServiceConfChange): void {
    // votequorum has no confchg handler: membership reaches it through the sync hooks.
  }

  tick(): void {
    this.flushOutbox();
    if (this.lastManStandingDeadline !== null && this.api.now() >= this.lastManStandingDeadline) {
      this.lastManStandingDeadline = null;
      if (this.clusterIsQuorate) this.recalculateQuorum(true, true);
    }
  }

  ticksToNextTimer(): number | null {
    const retry = this.outbox.length > 0 ? serviceRetryTicks(this.api.tickMs) : null;
    const window = this.lastManStandingDeadline === null ? null : Math.max(1, this.lastManStandingDeadline - this.api.now());
    return retry === null ? window : window === null ? retry : Math.min(retry, window);
  }

  // -------------------------------------------------------------------------------------
  // Sync

  private syncInit(_trans: readonly number[], members: readonly number[], ringId: RingId): void {
    this.syncInProgress = true;
    this.syncNodeinfoSent = false;
    if (members.length > 1) this.us.flags &= ~NodeFlags.first;

    const now = new Set(members);
    let leftNodes = false;
    for (const nodeId of this.quorumMembers) {
      if (now.has(nodeId)) continue;
      leftNodes = true;
      const node = this.findNode(nodeId);
      if (node) node.state = 'dead';
    }

    if (this.lastManStanding) {
      const shrunk = members.length >= this.quorum && leftNodes;
      const tieBreakerSide = members.length <= this.quorum && this.autoTieBreaker !== 'none' && this.lowNodeIdIsMember();
      if (shrunk || tieBreakerSide) {
        this.lastManStandingDeadline = this.api.now() + this.lastManStandingWindowTicks;
      }
    }

    this.previousQuorumMembers = this.quorumMembers;
    this.quorumMembers = [...members];
    this.quorumRingId = ringId;
  }

  private syncProcess(): 'done' | 'again' {
    if (!this.syncNodeinfoSent) {
      this.sendNodeInfo(this.us.nodeId);
      this.sendNodeInfo(QDEVICE_NODEID);
      if (this.qdeviceName.length > 0) {
        this.send(encodeQdeviceReg({ operation: QdeviceOperation.register, name: this.qdeviceName }));
      }
      emit(this.nodeListListeners, { ringId: this.quorumRingId, members: [...this.quorumMembers] });
      this.syncNodeinfoSent = true;
    }
    // Our sync data must be on its way before the barrier that follows 'done'.
    return this.flushOutbox() ? 'done' : 'again';
  }

  private syncActivate(): void {
    this.recalculateQuorum(false, false);
    this.notifyQuorum();
    this.syncInProgress = false;
  }

  // -------------------------------------------------------------------------------------
  // Receivers

  private receiveNodeInfo(m: NodeInfoMessage, sender: number): void {
    this.api.log('debug', `got nodeinfo message from cluster node ${sender}`);
    this.api.log('debug', `nodeinfo message[${m.nodeId}]: votes: ${m.votes}, expected: ${m.expectedVotes} flags: ${nodeFlagsText(m.flags)}`);

    if (m.nodeId === QDEVICE_NODEID) {
      // The qdevice record: only its votes are taken. corosync asserts that the sender
      // already has a record (it always sends its own NODEINFO first); a sender without
      // one counts as not quorate here.
      const senderNode = this.findNode(sender);
      if (!senderNode) this.api.log('warning', `votequorum: qdevice NODEINFO from node ${sender} before its own NODEINFO`);
      const oldVotes = this.qdevice.votes;
      if (!this.clusterIsQuorate && senderNode && senderNode.flags & NodeFlags.quorate) this.qdevice.votes = m.votes;
      else this.qdevice.votes = Math.max(this.qdevice.votes, m.votes);
      if (this.qdevice.flags & NodeFlags.first || oldVotes !== this.qdevice.votes) this.recalculateQuorum(false, false);
      return;
    }

    let node = this.findNode(m.nodeId);
    let isNew = false;
    if (!node) {
      node = this.allocateNode(m.nodeId);
      isNew = true;
      if (!node) return;
    }
    const old = isNew
      ? { votes: 0, expectedVotes: 0, state: 'dead' as VotequorumNodeState, flags: 0 }
      : { votes: node.votes, expectedVotes: node.expectedVotes, state: node.state, flags: node.flags };

    let allowDowngrade = false;
    let byNode = false;
    node.flags = m.flags;
    node.votes = m.votes;
    node.state = 'member';
    if (node.flags & NodeFlags.leaving) {
      node.state = 'leaving';
      allowDowngrade = true;
      byNode = true;
    }
    if (!this.clusterIsQuorate && node.flags & NodeFlags.quorate) {
      allowDowngrade = true;
      this.us.expectedVotes = m.expectedVotes;
    }
    node.expectedVotes = node.flags & NodeFlags.quorate || this.evTracking ? m.expectedVotes : this.us.expectedVotes;

    if (this.lastManStanding && node.votes > 1) {
      this.api.log('warning', 'Last Man Standing feature is supported only when all cluster nodes votes are set to 1. Disabling LMS.');
      this.lastManStanding = false;
      this.lastManStandingDeadline = null;
    }

    if (
      isNew ||
      m.nodeId === this.us.nodeId ||
      node.flags & NodeFlags.first ||
      old.votes !== node.votes ||
      old.expectedVotes !== node.expectedVotes ||
      old.flags !== node.flags ||
      old.state !== node.state
    ) {
      this.recalculateQuorum(allowDowngrade, byNode);
    }

    // A quorate sender that is not waiting for all ends our wait (it takes effect at the
    // next calculation).
    if (this.waitForAll && !(node.flags & NodeFlags.wfaStatus) && node.flags & NodeFlags.quorate) {
      this.setWaitForAllStatus(false);
    }
  }

  private receiveReconfigure(m: ReconfigureMessage, sender: number): void {
    this.api.log('debug', `got reconfigure message from cluster node ${sender} for ${m.nodeId}`);
    switch (m.param) {
      case ReconfigureParam.expectedVotes:
        this.updateNodeExpectedVotes(m.value);
        emit(this.expectedVotesListeners, this.us.expectedVotes);
        this.evBarrier = m.value;
        if (this.evTracking) this.us.expectedVotes = Math.max(this.us.expectedVotes, this.evTrackingBarrier);
        this.recalculateQuorum(true, false);
        return;
      case ReconfigureParam.nodeVotes: {
        const node = m.nodeId === QDEVICE_NODEID ? this.qdevice : this.findNode(m.nodeId);
        if (!node) return;
        node.votes = m.value;
        this.recalculateQuorum(true, false);
        return;
      }
      case ReconfigureParam.cancelWfa:
        this.setWaitForAllStatus(false);
        this.api.log('info', `wait_for_all_status reset by user on node ${m.nodeId}.`);
        this.recalculateQuorum(false, false);
        return;
      default:
        return;
    }
  }

  private receiveQdeviceReg(m: QdeviceRegMessage, sender: number): void {
    this.api.log('debug', `Received qdevice op ${m.operation} req from node ${sender} [${m.name}]`);
    if (m.operation === QdeviceOperation.register) {
      if (sender !== this.us.nodeId) {
        if (this.qdeviceName.length === 0) this.qdeviceName = m.name;
        return;
      }
      // Our own registration: this node has no qdevice API, so there is no request
      // waiting for it (corosync: "Unable to determine origin of the qdevice register call!").
      if (!(this.us.flags & NodeFlags.qdeviceRegistered)) {
        this.api.log('warning', 'Unable to determine origin of the qdevice register call!');
      }
      return;
    }
    if (m.operation === QdeviceOperation.unregister) {
      const stillRegistered = [...this.records.values()].some((n) => n.state === 'member' && n.flags & NodeFlags.qdeviceRegistered);
      if (!stillRegistered) this.qdeviceName = '';
    }
  }

  private receiveQdeviceReconfigure(m: QdeviceReconfigureMessage, sender: number): void {
    this.api.log('debug', `Received qdevice name change req from node ${sender} [from: ${m.oldName} to: ${m.newName}]`);
    if (m.oldName === this.qdeviceName) this.qdeviceName = m.newName;
  }

  // -------------------------------------------------------------------------------------
  // Quorum calculation

  /**
   * calculate_quorum: the quorum for the current members. `maxExpected` > 0 replaces the
   * highest expected votes (last_man_standing, setExpected); without `allowDecrease` the
   * result is never below the current quorum.
   */
  private calculateQuorum(
    allowDecrease: boolean,
    maxExpected: number,
    options: { ignoreDownscale?: boolean } = {},
  ): { quorum: number; totalVotes: number } {
    if (this.allowDownscale && !options.ignoreDownscale && allowDecrease && maxExpected) {
      maxExpected = Math.max(this.evBarrier, maxExpected);
    }
    let highestExpected = 0;
    let totalVotes = 0;
    let totalNodes = 0;
    for (const node of this.records.values()) {
      if (node.state !== 'member') continue;
      highestExpected = Math.max(highestExpected, node.expectedVotes);
      totalVotes += node.votes;
      totalNodes += 1;
    }
    if (this.us.flags & NodeFlags.qdeviceCastVote) {
      totalVotes += this.qdevice.votes;
      totalNodes += 1;
    }
    if (maxExpected > 0) highestExpected = maxExpected;
    let quorum = Math.max(Math.floor((highestExpected + 2) / 2), Math.floor((totalVotes + 2) / 2));
    if (!allowDecrease) quorum = Math.max(this.quorum, quorum);
    if (this.twoNode && totalNodes <= 2) quorum = 1;
    return { quorum, totalVotes };
  }

  /** recalculate_quorum. `byCurrentNodes`: expected votes become the member count (last_man_standing, LEAVING). */
  private recalculateQuorum(allowDecrease: boolean, byCurrentNodes: boolean): void {
    let totalVotes = 0;
    let clusterMembers = 0;
    for (const node of this.records.values()) {
      if (node.state !== 'member') continue;
      clusterMembers += 1;
      totalVotes += node.votes;
    }
    if (this.qdevice.votes) {
      totalVotes += this.qdevice.votes;
      clusterMembers += 1;
    }
    if (!byCurrentNodes) clusterMembers = 0;

    this.api.log('debug', `total_votes=${totalVotes}, expected_votes=${this.us.expectedVotes}`);
    if (totalVotes > this.us.expectedVotes) {
      this.us.expectedVotes = totalVotes;
      emit(this.expectedVotesListeners, this.us.expectedVotes);
    }
    if (this.evTracking && this.us.expectedVotes > this.evTrackingBarrier) {
      this.evTrackingBarrier = this.us.expectedVotes;
      this.onEvTrackingBarrier?.(this.evTrackingBarrier);
    }

    const calculated = this.calculateQuorum(allowDecrease, clusterMembers);
    this.quorum = calculated.quorum & 0xff;
    this.updateNodeExpectedVotes(clusterMembers);
    this.areWeQuorate(calculated.totalVotes);
  }

  /** are_we_quorate. */
  private areWeQuorate(totalVotes: number): void {
    if (this.waitForAll && this.waitForAllStatus) {
      if (totalVotes !== this.us.expectedVotes) {
        this.api.log('notice', `Waiting for all cluster members. Current votes: ${totalVotes} expected_votes: ${this.us.expectedVotes}`);
        assert(!this.clusterIsQuorate, 'wait_for_all: waiting while quorate');
        return;
      }
      this.setWaitForAllStatus(false);
    }

    let quorate = false;
    if (this.quorum <= totalVotes) {
      quorate = true;
      this.lowestNodeId = this.extremeMemberId(Math.min);
      this.highestNodeId = this.extremeMemberId(Math.max);
    }

    // Auto tie breaker: an exact half split (with 1 vote each) in which the other half
    // cannot have quorum is decided by the tie-breaker node.
    if (
      this.autoTieBreaker !== 'none' &&
      totalVotes === Math.floor(this.us.expectedVotes / 2) &&
      this.previousQuorumMembers.length - this.quorumMembers.length < this.quorum &&
      this.checkAutoTieBreaker()
    ) {
      quorate = true;
    }

    const changed = this.clusterIsQuorate !== quorate;
    if (changed) this.api.log('debug', quorate ? 'quorum regained, resuming activity' : 'quorum lost, blocking activity');
    this.clusterIsQuorate = quorate;
    if (quorate) this.us.flags |= NodeFlags.quorate;
    else this.us.flags &= ~NodeFlags.quorate;
    if (this.waitForAll) this.setWaitForAllStatus(!quorate);

    if (changed && !this.syncInProgress) this.notifyQuorum();
  }

  private updateNodeExpectedVotes(expectedVotes: number): void {
    if (!expectedVotes) return;
    for (const node of this.records.values()) if (node.state === 'member') node.expectedVotes = expectedVotes;
  }

  private setWaitForAllStatus(waiting: boolean): void {
    this.waitForAllStatus = waiting;
    if (waiting) this.us.flags |= NodeFlags.wfaStatus;
    else this.us.flags &= ~NodeFlags.wfaStatus;
  }

  /** The lowest or highest id among this node and the member records (get_lowest/highest_node_id). */
  private extremeMemberId(pick: (a: number, b: number) => number): number {
    let id = this.us.nodeId;
    for (const node of this.records.values()) if (node.state === 'member') id = pick(id, node.nodeId);
    return id;
  }

  private isMember(nodeId: number): boolean {
    return this.records.get(nodeId)?.state === 'member';
  }

  /** check_low_node_id_partition: the lowest node of the last quorate partition is a member. */
  private lowNodeIdIsMember(): boolean {
    return this.isMember(this.lowestNodeId);
  }

  /** check_auto_tie_breaker. */
  private checkAutoTieBreaker(): boolean {
    switch (this.autoTieBreaker) {
      case 'lowest':
        return this.lowNodeIdIsMember();
      case 'highest':
        return this.isMember(this.highestNodeId);
      case 'list': {
        // The first listed node in this partition wins, unless a node listed before it
        // was in the previous partition (it may be in the other half).
        const current = new Set(this.quorumMembers);
        const previous = new Set(this.previousQuorumMembers);
        for (let i = 0; i < this.autoTieBreakerList.length; i += 1) {
          if (!current.has(this.autoTieBreakerList[i]!)) continue;
          for (let j = 0; j < i; j += 1) if (previous.has(this.autoTieBreakerList[j]!)) return false;
          return true;
        }
        return false;
      }
      case 'none':
        return false;
    }
  }

  // -------------------------------------------------------------------------------------
  // Node records, sending, notifications

  private findNode(nodeId: number): NodeRecord | undefined {
    return this.records.get(nodeId);
  }

  /** allocate_node: a new record, reusing a dead one once PROCESSOR_COUNT_MAX + 1 exist. */
  private allocateNode(nodeId: number): NodeRecord | undefined {
    if (this.records.size >= NODE_RECORDS_MAX) {
      const dead = [...this.records.values()].find((n) => n.state === 'dead');
      if (!dead) {
        this.api.log('error', `Unable to find memory for node ${nodeId} data!!`);
        return undefined;
      }
      this.records.delete(dead.nodeId);
    }
    const node: NodeRecord = { nodeId, state: 'dead', votes: 0, expectedVotes: 0, flags: 0 };
    this.records.set(nodeId, node);
    return node;
  }

  private sendNodeInfo(nodeId: number): void {
    const node = nodeId === QDEVICE_NODEID ? this.qdevice : this.findNode(nodeId);
    if (!node) return;
    if (nodeId !== QDEVICE_NODEID) this.api.log('debug', `sending nodeinfo flags: ${nodeFlagsText(node.flags)}`);
    this.send(encodeNodeInfo({ nodeId, votes: node.votes, expectedVotes: node.expectedVotes, flags: node.flags }));
  }

  /** Multicasts in order; what the send queue refuses waits in the outbox for the next tick. */
  private send(message: Uint8Array): void {
    this.outbox.push(message);
    this.flushOutbox();
  }

  /** True when the outbox is empty. */
  private flushOutbox(): boolean {
    while (this.outbox.length > 0) {
      if (this.api.mcast(this.outbox[0]!) === 'full') return false;
      this.outbox.shift();
    }
    return true;
  }

  private notifyQuorum(): void {
    const change: QuorumChange = { quorate: this.clusterIsQuorate, members: [...this.quorumMembers], ringId: this.quorumRingId };
    this.quorumCallback?.(change);
    const nodes = [...this.records.values()]
      .sort((a, b) => a.nodeId - b.nodeId)
      .map((n) => ({ nodeId: n.nodeId, state: n.state }));
    emit(this.quorumListeners, { ...change, nodes });
  }

  // -------------------------------------------------------------------------------------
  // Runtime configuration

  /** votequorum_readconfig at runtime; returns the error corosync logs, or null. */
  private readRuntimeConfig(settings: VotequorumSettings): string | null {
    // corosync resets auto_tie_breaker and reads two_node before it checks anything, so
    // these two change even when the reload is refused.
    this.autoTieBreaker = this.initialAutoTieBreaker;
    this.twoNode = settings.twoNode ?? false;
    const expectedSetting = settings.expectedVotes ?? 0;
    const nodelist = nodelistFacts(settings, this.us.nodeId);
    if (!nodelist && !expectedSetting) {
      const message = 'configuration error: nodelist or quorum.expected_votes must be configured!';
      this.api.log('error', message);
      this.api.log('error', 'will continue with current runtime data');
      return message;
    }
    if (this.waitForAllAutoset) this.waitForAll = this.twoNode;
    if (this.twoNode && this.autoTieBreaker !== 'none') {
      this.api.log('error', 'two_node and auto_tie_breaker are both specified but are not compatible.');
      this.api.log('error', 'two_node has been disabled, please fix your corosync.conf');
      this.twoNode = false;
    }
    if (this.autoTieBreaker !== 'none' && (nodelist?.expected ?? 0) % 2 === 1 && !this.waitForAll) {
      if (this.lastManStanding) {
        const message = 'configuration error: auto_tie_breaker & last_man_standing not available in odd sized cluster';
        this.api.log('error', message);
        return message;
      }
      this.api.log('error', 'auto_tie_breaker is set and the cluster has an odd number of nodes.');
      this.api.log('error', 'Therefore auto_tie_breaker has been disabled. Please fix your corosync.conf');
      this.autoTieBreaker = 'none';
    }
    const expected = this.evTracking ? this.evTrackingBarrier : expectedSetting;
    if (nodelist) {
      this.us.votes = nodelist.localVotes;
      this.us.expectedVotes = nodelist.expected;
    } else {
      this.us.votes = settings.votes ?? 1;
    }
    if (expected) this.us.expectedVotes = expected;
    this.qdevice.votes = 0;
    this.evBarrier = this.us.expectedVotes;
    if (!this.waitForAll && this.waitForAllAutoset && this.waitForAllStatus) this.setWaitForAllStatus(false);
    return null;
  }
}
