// TotemNode: the Totem single-ring protocol (membership, ordering, extended virtual
// synchrony) as a pure, deterministic state machine, behaving on the wire like corosync
// 3.1.7 exec/totemsrp.c (corosync-wire.md §3; Amir, Moser, Melliar-Smith, Agarwal,
// Ciarfella, "The Totem single-ring ordering and membership protocol", ACM TOCS 1995).
//
// Driven by exactly three inputs — tick() (or advance(n), n ticks at once), receive() and
// local calls (start, submit, transAck, leave) — it returns one ordered batch of effects
// from takeEffects():
// the ring seq to persist (first), datagrams to send, then deliveries and
// configuration changes in the order corosync produces them. Time is ticks; there is
// no I/O, no clock and no randomness of its own here.

import { assert } from '../../base/assert';
import { BoundedQueue } from '../../base/bounded-queue';
import type { Prng } from '../../base/prng';
import { seqLt, seqLte } from '../../base/seq';
import type { TotemConfig } from '../config';
import { decodeMessage, encodeMessage } from '../wire/codec';
import {
  Encapsulation,
  ringIdEquals,
  type CommitMembEntry,
  type CommitToken,
  type Join,
  type Mcast,
  type MergeDetect,
  type OrfToken,
  type RingId,
  type RtrItem,
  type TokenHoldCancel,
  type TotemMessage,
} from '../wire/messages';
import { contains, isSubset, normalize, setEquals, subtract, union, type NodeList } from './node-set';
import { SortQueue } from './sort-queue';
import {
  MembState,
  noTrace,
  type MembStateName,
  type SendEffect,
  type TotemEffects,
  type TotemEvent,
  type TotemStats,
  type TotemStatus,
  type TraceSink,
} from './types';

export interface TotemNodeOptions {
  readonly nodeId: number;
  /** Every configured node id (udpu sends "multicasts" to each of them, self included). */
  readonly nodelist: readonly number[];
  readonly config: TotemConfig;
  /** Ring seq loaded from the ring-id store (0n when there is none). */
  readonly restoredRingSeq: bigint;
  readonly prng: Prng;
  readonly trace?: TraceSink;
  /**
   * First message seq of every ring minus one (corosync's SEQNO_START_MSG, always 0 on the
   * wire). Tests set it near 0x7ffff000 or 0xfffff000 to exercise sequence rollover
   * without first sending two billion messages; production never sets it.
   */
  readonly initialSeq?: number;
}

/** Why GATHER was entered (corosync's gather_state_from, for traces and stats). */
type GatherReason =
  | 'interface-change'
  | 'token-lost-operational'
  | 'consensus-timeout'
  | 'token-lost-commit'
  | 'token-lost-recovery'
  | 'foreign-message-operational'
  | 'foreign-message-gather'
  | 'merge-operational'
  | 'merge-gather'
  | 'merge-during-join'
  | 'join-operational'
  | 'join-commit'
  | 'join-recovery'
  | 'failed-to-receive';

/** An ORF token being processed: a mutable copy of the received one. */
interface WorkToken {
  seq: number;
  tokenSeq: number;
  aru: number;
  aruAddr: number;
  ringId: RingId;
  backlog: number;
  fcc: number;
  retransFlg: number;
  rtrList: RtrItem[];
}

interface WorkCommitToken {
  tokenSeq: number;
  ringId: RingId;
  retransFlg: number;
  membIndex: number;
  addr: number[];
  membList: CommitMembEntry[];
}

/** The last token this node sent, kept for retransmission (orf_token_retransmit). */
type SavedToken = { readonly to: number; readonly message: OrfToken | CommitToken };

const SEQNO_START_MSG = 0;
const SEQNO_START_TOKEN = 0;
const NO_RING: RingId = { rep: 0, seq: 0n };

function emptyStats(): TotemStats {
  return {
    orfTokenTx: 0, orfTokenRx: 0, mcastTx: 0, mcastRx: 0, mcastRetx: 0,
    membJoinTx: 0, membJoinRx: 0, membCommitTokenTx: 0, membCommitTokenRx: 0,
    membMergeDetectTx: 0, membMergeDetectRx: 0, tokenHoldCancelTx: 0, tokenHoldCancelRx: 0,
    operationalEntered: 0, operationalTokenLost: 0, gatherEntered: 0, gatherTokenLost: 0,
    commitEntered: 0, commitTokenLost: 0, recoveryEntered: 0, recoveryTokenLost: 0,
    consensusTimeouts: 0, rxMsgDropped: 0, continuousGatherCount: 0, failedToRecv: 0, tokenHeld: 0,
  };
}

export class TotemNode {
  private readonly myId: number;
  private readonly nodelist: readonly number[];
  private readonly config: TotemConfig;
  private readonly trace: TraceSink;

  private started = false;
  private stopped = false;
  private now = 0;

  private state: MembStateName = MembState.operational;
  private myRingId: RingId = NO_RING;
  private myOldRingId: RingId = NO_RING;
  private tokenRingIdSeq = 0n;

  private myProcList: number[] = [];
  private myFailedList: number[] = [];
  private myMembList: number[] = [];
  private myNewMembList: number[] = [];
  private myTransMembList: number[] = [];
  private myDeliverMembList: number[] = [];
  private myLeftMembList: number[] = [];
  /** Nodes that announced an orderly leave since the last ring was installed (logging only). */
  private myLeaveMembList: number[] = [];
  private consensusSet = new Set<number>();

  private regularSortQueue: SortQueue;
  /** The ring whose messages the regular queue holds (the last installed ring). */
  private regularQueueRingId: RingId = NO_RING;
  private recoverySortQueue: SortQueue;
  private readonly newMessageQueue: BoundedQueue<Mcast>;
  private readonly newMessageQueueTrans: BoundedQueue<Mcast>;
  private retransMessageQueue: Mcast[] = [];
  private waitingTransAck = true;

  private readonly seqStart: number;
  private myAru: number;
  private myHighSeqReceived: number;
  private myHighDelivered: number;
  private myLastAru: number;
  private lastReleased: number;
  private myTokenSeq = (SEQNO_START_TOKEN - 1) >>> 0;
  private myLastSeq = 0;
  private mySeqUnchanged = 0;
  private myAruCount = 0;
  private failedToRecv = false;
  private myTrc = 0;
  private myPbl = 0;
  private myCbl = 0;
  private globalSeqno = 0;

  private oldRingStateSaved = false;
  private oldRingStateAru = 0;
  private oldRingStateHighSeqReceived = 0;

  private mySetRetransFlg = false;
  private myRetransFlgCount = 0;
  private myInstallSeq = 0;
  private myRotationCounter = 0;
  private myReceivedFlg = true;
  private originatedOrfToken = false;
  private orfTokenDiscard = false;
  private myHighRingDelivered = 0;
  private myTokenHeld = false;

  private commitToken: WorkCommitToken | null = null;
  /** Until this tick a freshly started node does not install a ring of itself alone. */
  private singletonHoldUntil: number | null = null;
  private savedToken: SavedToken | null = null;
  private tokenTarget = 0;

  // Timers as absolute tick deadlines; null = not running.
  private tokenLossAt: number | null = null;
  private tokenRetransmitAt: number | null = null;
  private tokenHoldRetransmitAt: number | null = null;
  private joinAt: number | null = null;
  private consensusAt: number | null = null;
  private mergeDetectAt: number | null = null;

  private pendingPersist: bigint | null = null;
  private pendingSends: SendEffect[] = [];
  private pendingEvents: TotemEvent[] = [];
  private readonly stats: TotemStats = emptyStats();

  constructor(options: TotemNodeOptions) {
    assert(options.nodeId > 0 && options.nodeId <= 0xffffffff, 'nodeId must be a non-zero u32');
    this.myId = options.nodeId;
    this.nodelist = normalize(options.nodelist);
    assert(contains(this.nodelist, this.myId), 'the local node must be in the nodelist');
    this.config = options.config;
    this.trace = options.trace ?? noTrace;
    this.seqStart = (options.initialSeq ?? SEQNO_START_MSG) >>> 0;
    this.myAru = this.seqStart;
    this.myHighSeqReceived = this.seqStart;
    this.myHighDelivered = this.seqStart;
    this.myLastAru = this.seqStart;
    this.lastReleased = this.seqStart;
    this.regularSortQueue = new SortQueue(options.config.sortQueueSize);
    this.recoverySortQueue = new SortQueue(options.config.sortQueueSize);
    // Room for both queues' worth: transAck() may move trans-queue leftovers into the
    // normal queue. submit() still reports 'full' at sendQueueMax per queue.
    this.newMessageQueue = new BoundedQueue<Mcast>(2 * options.config.sendQueueMax);
    this.newMessageQueueTrans = new BoundedQueue<Mcast>(options.config.sendQueueMax);
    // As corosync: the loaded ring seq + 1 makes a restarted node's singleton ring unique.
    this.myRingId = { rep: this.myId, seq: options.restoredRingSeq + 1n };
    this.tokenRingIdSeq = this.myRingId.seq;
    // The PRNG is reserved for send_join jitter; corosync's default of 0 needs none.
    void options.prng;
  }

  // ---------------------------------------------------------------- public API

  /** The network interface is up: enter GATHER (corosync main_iface_change_fn). */
  start(): void {
    assert(!this.started, 'TotemNode.start called twice');
    this.started = true;
    this.singletonHoldUntil = this.now + this.config.joinTicks;
    this.gatherEnter('interface-change');
  }

  tick(): void {
    if (!this.started || this.stopped) return;
    this.now += 1;
    this.fireTimers();
  }

  /**
   * `ticks` ticks at once: exactly what as many tick() calls in a row would do (every timer
   * fires at its own tick, in the same order), in time proportional to the timers that
   * fire, not to the ticks. The driver sleeps until ticksToNextTimer() and then advances.
   */
  advance(ticks: number): void {
    assert(Number.isInteger(ticks) && ticks >= 0, 'advance takes a whole number of ticks');
    if (!this.started || this.stopped) return;
    let left = ticks;
    while (left > 0) {
      const gap = this.ticksToNextTimer();
      if (gap === null || gap > left) {
        this.now += left;
        return;
      }
      this.now += gap;
      left -= gap;
      this.fireTimers();
    }
  }

  /**
   * Ticks until the earliest running timer fires (>= 1: after any input or tick every due
   * timer has fired); null when none runs (not started, left). A later input can only
   * change it through one of the node's own calls, so the caller asks again after each.
   */
  ticksToNextTimer(): number | null {
    if (!this.started || this.stopped) return null;
    const next = Math.min(
      this.tokenLossAt ?? Infinity, this.tokenRetransmitAt ?? Infinity, this.tokenHoldRetransmitAt ?? Infinity,
      this.joinAt ?? Infinity, this.consensusAt ?? Infinity, this.mergeDetectAt ?? Infinity,
    );
    return next === Infinity ? null : Math.max(1, next - this.now);
  }

  receive(message: TotemMessage): void {
    if (!this.started || this.stopped) return;
    switch (message.type) {
      case 'orf-token':
        this.stats.orfTokenRx += 1;
        this.handleOrfToken(message);
        break;
      case 'mcast':
        this.stats.mcastRx += 1;
        this.handleMcast(message);
        break;
      case 'merge-detect':
        this.stats.membMergeDetectRx += 1;
        this.handleMergeDetect(message);
        break;
      case 'join':
        this.stats.membJoinRx += 1;
        this.handleJoin(message);
        break;
      case 'commit-token':
        this.stats.membCommitTokenRx += 1;
        this.handleCommitToken(message);
        break;
      case 'token-hold-cancel':
        this.stats.tokenHoldCancelRx += 1;
        this.handleTokenHoldCancel(message);
        break;
    }
  }

  /**
   * Queues a message for the next token visit (totemsrp_mcast). While the sync protocol
   * runs after a configuration change, messages go to the separate "trans" queue, which
   * is the only one sent from until transAck().
   */
  submit(payload: Uint8Array, guarantee = 0): 'queued' | 'full' {
    assert(!this.stopped, 'submit after leave');
    assert(payload.length <= this.config.netMtu, `payload of ${payload.length} bytes exceeds net_mtu`);
    if (!this.inTokenHook) this.tokenHoldCancelSend();
    const queue = this.waitingTransAck ? this.newMessageQueueTrans : this.newMessageQueue;
    if (queue.length >= this.config.sendQueueMax) return 'full';
    queue.push({
      type: 'mcast', nodeId: this.myId, targetNodeId: 0, encapsulated: Encapsulation.notEncapsulated,
      systemFrom: this.myId, seq: 0, thisSeqno: 0, ringId: NO_RING, nodeIdField: 0, guarantee, payload,
    });
    this.stats.mcastTx += 1;
    return 'queued';
  }

  /**
   * totemsrp_event_signal: the layer above is about to queue a message (totempg calls it
   * for every application message, also when it only buffers it for the next token).
   */
  signalNewMessage(): void {
    if (!this.started || this.stopped || this.inTokenHook) return;
    this.tokenHoldCancelSend();
  }

  /** Free slots in the active send queue (totemsrp_avail). */
  available(): number {
    const queue = this.waitingTransAck ? this.newMessageQueueTrans : this.newMessageQueue;
    return Math.max(0, this.config.sendQueueMax - queue.length);
  }

  /**
   * The sync protocol has completed: back to the normal send queue (totemsrp_trans_ack).
   * Deviation: corosync leaves whatever is still in the trans queue there until the next
   * configuration change (its services never leave anything behind). We send it first,
   * ahead of the normal queue, so nothing submitted during a transition is stranded.
   */
  transAck(): void {
    this.waitingTransAck = false;
    if (this.newMessageQueueTrans.length === 0) return;
    const ordered = [...this.newMessageQueueTrans, ...this.newMessageQueue];
    this.newMessageQueueTrans.clear();
    this.newMessageQueue.clear();
    for (const message of ordered) this.newMessageQueue.push(message);
  }

  /** Orderly shutdown: multicast a LEAVE so the others reform without a token timeout. */
  leave(): void {
    if (!this.started || this.stopped) return;
    this.leaveMessageSend();
    this.stopped = true;
  }

  takeEffects(): TotemEffects | null {
    if (this.pendingPersist === null && this.pendingSends.length === 0 && this.pendingEvents.length === 0) {
      return null;
    }
    const effects: TotemEffects = {
      persistRingSeq: this.pendingPersist,
      sends: this.pendingSends,
      events: this.pendingEvents,
    };
    this.pendingPersist = null;
    this.pendingSends = [];
    this.pendingEvents = [];
    return effects;
  }

  status(): TotemStatus {
    const queue = this.waitingTransAck ? this.newMessageQueueTrans : this.newMessageQueue;
    return {
      nodeId: this.myId,
      state: this.state,
      ringId: this.myRingId,
      members: [...this.myMembList],
      aru: this.myAru,
      highSeqReceived: this.myHighSeqReceived,
      highDelivered: this.myHighDelivered,
      sendQueueLength: queue.length,
      stats: { ...this.stats },
    };
  }

  // ---------------------------------------------------------------- effects helpers

  private send(to: number | 'all', message: TotemMessage): void {
    this.pendingSends.push({ to, message });
  }

  private emit(event: TotemEvent): void {
    this.pendingEvents.push(event);
  }

  private traceEvent(name: string, detail?: Record<string, unknown>): void {
    this.trace(detail === undefined ? { name, nodeId: this.myId } : { name, nodeId: this.myId, detail });
  }

  private activeSortQueue(): SortQueue {
    return this.state === MembState.recovery ? this.recoverySortQueue : this.regularSortQueue;
  }

  // ---------------------------------------------------------------- timers

  private fireTimers(): void {
    const due = (at: number | null): boolean => at !== null && at <= this.now;
    if (due(this.tokenRetransmitAt)) {
      this.tokenRetransmitAt = null;
      this.tokenRetransmitTimeout();
    }
    if (due(this.tokenHoldRetransmitAt)) {
      this.tokenHoldRetransmitAt = null;
      this.tokenHoldRetransmitTimeout();
    }
    if (due(this.mergeDetectAt)) {
      this.mergeDetectAt = null;
      this.mergeDetectTimeout();
    }
    if (due(this.joinAt)) {
      this.joinAt = null;
      this.joinTimeout();
    }
    if (due(this.consensusAt)) {
      this.consensusAt = null;
      this.consensusTimeoutExpired();
    }
    if (due(this.tokenLossAt)) {
      this.tokenLossAt = null;
      this.tokenLossTimeout();
    }
  }

  private resetTokenTimeout(): void {
    this.tokenLossAt = this.now + this.config.tokenTicks;
  }

  private resetTokenRetransmitTimeout(): void {
    this.tokenRetransmitAt = this.now + this.config.tokenRetransmitTicks;
  }

  private startMergeDetectTimeout(): void {
    if (this.mergeDetectAt === null) this.mergeDetectAt = this.now + this.config.mergeTicks;
  }

  private tokenLossTimeout(): void {
    switch (this.state) {
      case MembState.operational:
        this.traceEvent('TokenLost', { state: 'operational' });
        this.gatherEnter('token-lost-operational');
        this.stats.operationalTokenLost += 1;
        break;
      case MembState.gather:
        this.consensusTimeoutExpired();
        this.gatherEnter('consensus-timeout');
        this.stats.gatherTokenLost += 1;
        break;
      case MembState.commit:
        this.traceEvent('TokenLost', { state: 'commit' });
        this.forgetFailedOfAbandonedRing();
        this.gatherEnter('token-lost-commit');
        this.stats.commitTokenLost += 1;
        break;
      case MembState.recovery:
        this.traceEvent('TokenLost', { state: 'recovery' });
        this.forgetFailedOfAbandonedRing();
        this.recoveryStateTokenLoss();
        this.orfTokenDiscard = true;
        break;
    }
  }

  /** Re-send the last token (ORF or commit) unchanged; receivers drop duplicates. */
  private tokenRetransmitTimeout(): void {
    if (this.state === MembState.gather) return;
    this.tokenRetransmit();
    this.resetTokenRetransmitTimeout();
  }

  private tokenHoldRetransmitTimeout(): void {
    if (this.state === MembState.operational || this.state === MembState.recovery) this.tokenRetransmit();
  }

  private tokenRetransmit(): void {
    if (this.savedToken === null) return;
    this.send(this.savedToken.to, this.savedToken.message);
    if (this.savedToken.message.type === 'orf-token') this.stats.orfTokenTx += 1;
    else this.stats.membCommitTokenTx += 1;
  }

  private mergeDetectTimeout(): void {
    if (this.state === MembState.operational && this.myRingId.rep === this.myId) {
      this.mergeDetectTransmit();
    }
  }

  /** Join timer: keep re-multicasting our join while gathering. */
  private joinTimeout(): void {
    if (this.state !== MembState.gather && this.state !== MembState.commit) return;
    this.joinMessageSend();
    this.joinAt = this.now + this.config.joinTicks;
  }

  private consensusTimeoutExpired(): void {
    this.stats.consensusTimeouts += 1;
    if (this.consensusAgreed()) {
      this.consensusSet.clear();
      this.consensusSet.add(this.myId);
      this.resetTokenTimeout();
      return;
    }
    const notAgreed = this.myProcList.filter((n) => !this.consensusSet.has(n));
    this.myFailedList = union(this.myFailedList, notAgreed);
    this.traceEvent('ConsensusTimeout', { failed: this.myFailedList });
    this.gatherEnter('consensus-timeout');
  }

  /**
   * Deviation: corosync keeps my_failed_list when a ring it was forming (COMMIT or
   * RECOVERY) is abandoned, and clears it only at OPERATIONAL entry. A node that keeps
   * failing to install a ring then re-sends the same failed list forever; the nodes it
   * lists answer by failing it and everyone they are with, and two healed partitions can
   * keep splitting each other's formation (simulator, liveness: seed 0x1605 --nodes 7
   * --services). The failed list did its job when that ring was agreed; nodes that are
   * really gone are failed again by the next consensus timeout.
   */
  private forgetFailedOfAbandonedRing(): void {
    if (this.failedToRecv) return;
    this.myFailedList = [];
  }

  private recoveryStateTokenLoss(): void {
    this.myAru = this.oldRingStateAru;
    this.myHighSeqReceived = this.oldRingStateHighSeqReceived;
    this.gatherEnter('token-lost-recovery');
    this.stats.recoveryTokenLost += 1;
  }

  // ---------------------------------------------------------------- membership: GATHER

  private gatherEnter(reason: GatherReason): void {
    this.orfTokenDiscard = true;
    this.originatedOrfToken = false;
    this.myProcList = union(this.myProcList, [this.myId]);
    this.joinMessageSend();
    this.joinAt = this.now + this.config.joinTicks;
    this.consensusAt = this.now + this.config.consensusTicks;
    this.tokenRetransmitAt = null;
    this.tokenLossAt = null;
    this.mergeDetectAt = null;
    this.consensusSet.clear();
    this.consensusSet.add(this.myId);
    this.state = MembState.gather;
    this.stats.gatherEntered += 1;
    if (reason === 'consensus-timeout') this.stats.continuousGatherCount += 1;
    this.traceEvent('GatherEnter', { reason, proc: this.myProcList, failed: this.myFailedList });
  }

  private joinMessageSend(): void {
    const join: Join = {
      type: 'join', nodeId: this.myId, targetNodeId: 0, systemFrom: this.myId,
      ringSeq: this.myRingId.seq, procList: [...this.myProcList], failedList: [...this.myFailedList],
    };
    this.stats.membJoinTx += 1;
    this.send('all', join);
  }

  private leaveMessageSend(): void {
    this.myFailedList = union(this.myFailedList, [this.myId]);
    // corosync lists the leaver last in the failed list; receivers read it from there.
    const failed = [...subtract(this.myFailedList, [this.myId]), this.myId];
    const join: Join = {
      type: 'join', nodeId: 0, targetNodeId: 0, systemFrom: this.myId,
      ringSeq: this.myRingId.seq, procList: subtract(this.myProcList, [this.myId]), failedList: failed,
    };
    this.stats.membJoinTx += 1;
    this.send('all', join);
  }

  private mergeDetectTransmit(): void {
    const message: MergeDetect = {
      type: 'merge-detect', nodeId: this.myId, targetNodeId: 0, systemFrom: this.myId, ringId: this.myRingId,
    };
    this.stats.membMergeDetectTx += 1;
    this.send('all', message);
  }

  private tokenHoldCancelSend(): void {
    if (!this.myTokenHeld) return;
    this.myTokenHeld = false;
    const message: TokenHoldCancel = {
      type: 'token-hold-cancel', nodeId: this.myId, targetNodeId: 0, ringId: this.myRingId,
    };
    this.stats.tokenHoldCancelTx += 1;
    this.send('all', message);
  }

  private consensusAgreed(): boolean {
    const expected = subtract(this.myProcList, this.myFailedList);
    const agreed = expected.every((n) => this.consensusSet.has(n));
    assert(this.failedToRecv || expected.length >= 1 || !agreed, 'consensus over an empty membership');
    return agreed;
  }

  private lowestInConfig(): boolean {
    const members = subtract(this.myProcList, this.myFailedList);
    assert(members.length > 0, 'no members in the configuration');
    return Math.min(...members) === this.myId;
  }

  private handleJoin(join: Join): void {
    if (join.ringSeq > this.tokenRingIdSeq) this.tokenRingIdSeq = join.ringSeq;
    const leaver = join.nodeId === 0 ? join.failedList.at(-1) : undefined;
    if (leaver !== undefined && this.myLeaveMembList.length < 384) this.myLeaveMembList = union(this.myLeaveMembList, [leaver]);
    switch (this.state) {
      case MembState.operational:
        if (!this.ignoreJoinUnderOperational(join)) this.joinProcess(join);
        break;
      case MembState.gather:
        this.joinProcess(join);
        break;
      case MembState.commit:
        if (contains(this.myNewMembList, join.systemFrom) && join.ringSeq >= this.myRingId.seq) {
          this.forgetFailedOfAbandonedRing();
          this.joinProcess(join);
          this.gatherEnter('join-commit');
        }
        break;
      case MembState.recovery:
        if (contains(this.myNewMembList, join.systemFrom) && join.ringSeq >= this.myRingId.seq) {
          this.forgetFailedOfAbandonedRing();
          this.joinProcess(join);
          this.recoveryStateTokenLoss();
          this.gatherEnter('join-recovery');
        }
        break;
    }
  }

  private ignoreJoinUnderOperational(join: Join): boolean {
    if (contains(join.failedList, this.myId)) return true;
    // Operational: my_proc_list equals my_memb_list; a member's join from an older ring is stale.
    return contains(this.myMembList, join.systemFrom) && join.ringSeq < this.myRingId.seq;
  }

  /** memb_join_process (corosync-wire.md §3.2 "Process a join"). */
  private joinProcess(join: Join): void {
    let gatherEntered = false;
    const from = join.systemFrom;
    if (setEquals(join.procList, this.myProcList) && setEquals(join.failedList, this.myFailedList)) {
      if (join.nodeId !== 0) this.consensusSet.add(from);
      if (this.consensusAgreed() && this.failedToRecv) {
        this.failedToRecv = false;
        this.myProcList = [this.myId];
        this.myFailedList = [];
        this.commitTokenCreate();
        this.commitEnter();
        return;
      }
      if (this.consensusAgreed() && this.lowestInConfig() && !this.holdingSingleton()) {
        this.commitTokenCreate();
        this.commitEnter();
      }
    } else if (isSubset(join.procList, this.myProcList) && isSubset(join.failedList, this.myFailedList)) {
      // Nothing new in this join.
    } else if (contains(this.myFailedList, from)) {
      // Joins from nodes we consider failed do not change our view.
    } else {
      const procBefore = this.myProcList;
      const failedBefore = this.myFailedList;
      this.myProcList = union(this.myProcList, join.procList);
      if (contains(join.failedList, this.myId)) {
        this.myFailedList = union(this.myFailedList, [from]);
      } else if (contains(this.myMembList, from)) {
        this.myFailedList = union(this.myFailedList, join.failedList);
      }
      // Deviation: corosync re-enters GATHER here even when nothing changed. Two nodes from
      // different old rings whose failed lists differ then answer every join with a join
      // and restart each other's consensus timer forever (a livelock the simulator found).
      // Our join timer re-sends the unchanged join anyway, and consensus can time out.
      if (this.myProcList.length !== procBefore.length || this.myFailedList.length !== failedBefore.length) {
        this.gatherEnter('merge-during-join');
        gatherEntered = true;
        this.countJoinThatMatches(join);
      }
    }
    if (!gatherEntered && this.state === MembState.operational) this.gatherEnter('join-operational');
  }

  /**
   * Deviation: a node that has just started does not install a ring of itself alone
   * during its first join period. corosync does at once (its own join comes back within
   * a millisecond), which makes it deaf to the running ring's answer: those joins arrive
   * while it is in COMMIT or RECOVERY of its singleton ring and are dropped, so it joins
   * only on their next join timer, and the whole ring goes through one more configuration.
   * Held back, it merges the answer and commits the full ring at once (about 50 ms
   * sooner). Alone, its own join sent again by the join timer installs the singleton.
   */
  private holdingSingleton(): boolean {
    if (this.singletonHoldUntil === null) return false;
    if (this.now >= this.singletonHoldUntil || this.state !== MembState.gather) {
      this.singletonHoldUntil = null;
      return false;
    }
    return subtract(this.myProcList, this.myFailedList).length === 1;
  }

  /**
   * Deviation: after merging a join's lists into ours, corosync starts consensus over with
   * only itself, although the join it just merged states exactly the new lists whenever
   * ours held nothing it lacked (the usual case: a restarted node merging a running ring's
   * join). Counting it spares a whole join period (50 ms): without it the merging node waits
   * for that sender's next join before it can agree, and a restarted node rejoins about
   * 100 ms after its own singleton ring instead of 50. Consensus keeps its meaning: every
   * counted member has sent a join with exactly our proc and failed lists.
   */
  private countJoinThatMatches(join: Join): void {
    if (join.nodeId === 0 || this.failedToRecv) return;
    if (!setEquals(join.procList, this.myProcList) || !setEquals(join.failedList, this.myFailedList)) return;
    this.consensusSet.add(join.systemFrom);
    if (this.consensusAgreed() && this.lowestInConfig()) {
      this.commitTokenCreate();
      this.commitEnter();
    }
  }

  private handleMergeDetect(message: MergeDetect): void {
    if (ringIdEquals(message.ringId, this.myRingId)) return;
    this.mergeInForeignNode(message.systemFrom, 'merge-operational', 'merge-gather');
  }

  /** A node outside our ring spoke: pull it into GATHER (operational) or our proc list. */
  private mergeInForeignNode(nodeId: number, fromOperational: GatherReason, fromGather: GatherReason): void {
    if (this.state === MembState.operational) {
      this.myProcList = union(this.myProcList, [nodeId]);
      this.gatherEnter(fromOperational);
    } else if (this.state === MembState.gather && !contains(this.myProcList, nodeId)) {
      this.myProcList = union(this.myProcList, [nodeId]);
      this.gatherEnter(fromGather);
    }
  }

  // ---------------------------------------------------------------- membership: COMMIT

  private commitTokenCreate(): void {
    const members = normalize(subtract(this.myProcList, this.myFailedList));
    this.commitToken = {
      tokenSeq: 0,
      ringId: { rep: this.myId, seq: this.tokenRingIdSeq + 4n },
      retransFlg: 0,
      membIndex: 0,
      addr: members,
      membList: members.map(() => ({ ringId: NO_RING, aru: 0, highDelivered: 0, receivedFlg: 0 })),
    };
    this.traceEvent('CommitTokenCreate', { ringId: this.commitToken.ringId, members });
  }

  private oldRingStateSave(): void {
    if (this.oldRingStateSaved) return;
    this.oldRingStateSaved = true;
    this.myOldRingId = this.myRingId;
    this.oldRingStateAru = this.myAru;
    this.oldRingStateHighSeqReceived = this.myHighSeqReceived;
  }

  private commitEnter(): void {
    const token = this.commitToken;
    assert(token !== null, 'COMMIT entered without a commit token');
    this.oldRingStateSave();
    this.commitTokenUpdate(token);
    this.tokenTarget = token.addr[token.membIndex % token.addr.length] ?? this.myId;
    this.myRingId = token.ringId;
    this.tokenRingIdSeq = token.ringId.seq;
    this.pendingPersist = token.ringId.seq;
    this.commitTokenSend(token);
    this.joinAt = null;
    this.consensusAt = null;
    this.state = MembState.commit;
    this.resetTokenRetransmitTimeout();
    this.resetTokenTimeout();
    this.stats.commitEntered += 1;
    this.stats.continuousGatherCount = 0;
    this.myTrc = 0;
    this.myPbl = 0;
    this.myCbl = 0;
    this.traceEvent('CommitEnter', { ringId: token.ringId, members: token.addr });
  }

  /** memb_state_commit_token_update: fill our entry, lower stale received flags. */
  private commitTokenUpdate(token: WorkCommitToken): void {
    const index = token.membIndex;
    assert(index < token.addr.length, 'commit token member index out of range');
    this.myNewMembList = [...token.addr];
    this.myReceivedFlg = this.myAru === this.myHighSeqReceived;
    token.membList[index] = {
      ringId: this.myOldRingId,
      aru: this.oldRingStateAru,
      highDelivered: this.myHighDelivered,
      receivedFlg: this.myReceivedFlg ? 1 : 0,
    };
    let highAru = this.oldRingStateAru;
    for (let i = 0; i <= index; i += 1) {
      const entry = token.membList[i] as CommitMembEntry;
      if (ringIdEquals(entry.ringId, this.myOldRingId) && seqLt(highAru, entry.aru)) highAru = entry.aru;
    }
    for (let i = 0; i <= index; i += 1) {
      const entry = token.membList[i] as CommitMembEntry;
      if (ringIdEquals(entry.ringId, this.myOldRingId) && seqLt(entry.aru, highAru)) {
        token.membList[i] = { ...entry, receivedFlg: 0 };
        if (i === index) this.myReceivedFlg = false;
      }
    }
    token.membIndex += 1;
  }

  private commitTokenSend(token: WorkCommitToken): void {
    token.tokenSeq = (token.tokenSeq + 1) >>> 0;
    const message: CommitToken = {
      type: 'commit-token', nodeId: this.myId, targetNodeId: 0, tokenSeq: token.tokenSeq,
      ringId: token.ringId, retransFlg: token.retransFlg, membIndex: token.membIndex,
      addr: [...token.addr], membList: [...token.membList],
    };
    this.savedToken = { to: this.tokenTarget, message };
    this.stats.membCommitTokenTx += 1;
    this.send(this.tokenTarget, message);
    this.resetTokenRetransmitTimeout();
  }

  private handleCommitToken(message: CommitToken): void {
    switch (this.state) {
      case MembState.operational:
        break;
      case MembState.gather: {
        const expected = subtract(this.myProcList, this.myFailedList);
        // corosync asserts on a member index past the end; a peer's bytes must not crash us.
        if (message.membIndex < 0 || message.membIndex >= message.addr.length) {
          this.stats.rxMsgDropped += 1;
          break;
        }
        if (setEquals(message.addr, expected) && message.ringId.seq > this.myRingId.seq) {
          this.commitToken = toWorkCommitToken(message);
          this.commitEnter();
        }
        break;
      }
      case MembState.commit:
        if (message.ringId.seq === this.myRingId.seq && message.membIndex === message.addr.length) {
          this.recoveryEnter(toWorkCommitToken(message));
        }
        break;
      case MembState.recovery:
        if (this.myId === this.myRingId.rep && !this.originatedOrfToken) {
          this.originatedOrfToken = true;
          this.orfTokenSendInitial();
          this.resetTokenTimeout();
          this.resetTokenRetransmitTimeout();
        }
        break;
    }
  }

  // ---------------------------------------------------------------- membership: RECOVERY

  private recoveryEnter(token: WorkCommitToken): void {
    this.orfTokenDiscard = false;
    this.myHighRingDelivered = 0;
    this.recoverySortQueue.reinit(this.seqStart);
    this.retransMessageQueue = [];
    this.commitTokenSend(token);
    this.myTokenSeq = (SEQNO_START_TOKEN - 1) >>> 0;
    this.myTransMembList = this.transitionalMembers(token);
    const someoneMissing = token.addr.some(
      (nodeId, i) => contains(this.myTransMembList, nodeId) && token.membList[i]?.receivedFlg === 0,
    );
    if (someoneMissing) {
      this.myDeliverMembList = [...this.myTransMembList];
      this.originateOldRingMessages(token);
    }
    this.myAru = this.seqStart;
    this.myAruCount = 0;
    this.mySeqUnchanged = 0;
    this.myHighSeqReceived = this.seqStart;
    this.myInstallSeq = this.seqStart;
    this.lastReleased = this.seqStart;
    // Deviation: corosync resets these only at OPERATIONAL entry, so counts left over from
    // an aborted RECOVERY could install this ring before its recovery traffic is complete
    // (found by the simulator: a member then missed old-ring messages the others delivered).
    this.myRetransFlgCount = 0;
    this.myRotationCounter = 0;
    this.resetTokenTimeout();
    this.resetTokenRetransmitTimeout();
    this.state = MembState.recovery;
    this.stats.recoveryEntered += 1;
    this.stats.continuousGatherCount = 0;
    this.traceEvent('RecoveryEnter', {
      ringId: this.myRingId, trans: this.myTransMembList, originated: this.retransMessageQueue.length,
    });
  }

  /** memb_set_and_with_ring_id: old-ring members that come into the new ring from our old ring. */
  private transitionalMembers(token: WorkCommitToken): number[] {
    return this.myMembList.filter((nodeId) => {
      const index = token.addr.indexOf(nodeId);
      const entry = index >= 0 ? token.membList[index] : undefined;
      return entry !== undefined && ringIdEquals(entry.ringId, this.myOldRingId);
    });
  }

  /**
   * Re-originate every old-ring message we hold above the lowest aru of the members that
   * share our old ring, encapsulated in new-ring MCASTs, so that all of them can deliver
   * the same set before the transitional configuration ends.
   */
  private originateOldRingMessages(token: WorkCommitToken): void {
    let lowRingAru = this.oldRingStateHighSeqReceived;
    token.addr.forEach((nodeId, i) => {
      const entry = token.membList[i];
      if (entry === undefined || !contains(this.myDeliverMembList, nodeId)) return;
      if (!ringIdEquals(entry.ringId, this.myOldRingId)) return;
      if (seqLt(entry.aru, lowRingAru)) lowRingAru = entry.aru;
      if (seqLt(this.myHighRingDelivered, entry.highDelivered)) this.myHighRingDelivered = entry.highDelivered;
    });
    // Commit-token entries come from peers: never walk more than one window.
    const range = Math.min((this.oldRingStateHighSeqReceived - lowRingAru) >>> 0, this.config.sortQueueSize - 1);
    for (let i = 1; i <= range; i += 1) {
      const seq = (lowRingAru + i) >>> 0;
      const old = this.regularSortQueue.inRange(seq) ? this.regularSortQueue.get(seq) : undefined;
      if (old === undefined) continue;
      this.retransMessageQueue.push({
        type: 'mcast', nodeId: this.myId, targetNodeId: 0, encapsulated: Encapsulation.encapsulated,
        systemFrom: this.myId, seq: 0, thisSeqno: 0, ringId: this.myRingId, nodeIdField: 0,
        guarantee: 0, payload: encodeMessage(old),
      });
    }
  }

  private orfTokenSendInitial(): void {
    const retrans = this.retransMessageQueue.length > 0;
    this.mySetRetransFlg = retrans;
    const token: WorkToken = {
      seq: this.seqStart, tokenSeq: SEQNO_START_TOKEN, aru: (this.seqStart - 1) >>> 0,
      aruAddr: this.myId, ringId: this.myRingId, backlog: 0, fcc: 0, retransFlg: retrans ? 1 : 0, rtrList: [],
    };
    this.traceEvent('SendInitialOrfToken', { ringId: this.myRingId });
    this.tokenSend(token, true);
  }

  // ---------------------------------------------------------------- membership: OPERATIONAL

  /** memb_state_operational_enter: deliver the EVS configurations in corosync's order. */
  private operationalEnter(): void {
    this.originatedOrfToken = false;
    this.consensusSet.clear();
    this.oldRingStateSaved = false;
    this.deliverMessagesFromRecoveryToRegular();
    const aruSave = this.myAru;
    this.myAru = this.oldRingStateAru;
    this.messagesDeliverToApp(false, this.oldRingStateHighSeqReceived);
    this.myLeftMembList = subtract(this.myMembList, this.myTransMembList);
    const joined = subtract(this.myNewMembList, this.myTransMembList);
    this.myMembList = [...this.myNewMembList];
    this.lastReleased = this.seqStart;
    this.mySetRetransFlg = false;
    this.emit({
      kind: 'confchg', type: 'transitional', ringId: this.myRingId,
      members: [...this.myTransMembList], left: [...this.myLeftMembList], joined: [],
    });
    this.waitingTransAck = true;
    this.messagesDeliverToApp(true, this.oldRingStateHighSeqReceived);
    this.myAru = aruSave;
    this.emit({
      kind: 'confchg', type: 'regular', ringId: this.myRingId,
      members: [...this.myNewMembList], left: [], joined,
    });
    this.installRecoveryQueueAsRegular();
    this.regularQueueRingId = this.myRingId;
    this.myProcList = [...this.myNewMembList];
    this.myFailedList = [];
    this.state = MembState.operational;
    this.stats.operationalEntered += 1;
    this.stats.continuousGatherCount = 0;
    this.myReceivedFlg = true;
    this.myOldRingId = this.myRingId;
    const failed = this.myLeftMembList.filter((n) => !contains(this.myLeaveMembList, n));
    this.myLeaveMembList = [];
    this.traceEvent('OperationalEnter', { ringId: this.myRingId, members: this.myMembList, joined, left: this.myLeftMembList, failed });
  }

  /** Move re-originated old-ring messages (recovery queue) into the old regular queue. */
  private deliverMessagesFromRecoveryToRegular(): void {
    const range = (this.myAru - this.seqStart) >>> 0;
    const counts = { inserted: 0, present: 0, otherRing: 0, outOfWindow: 0, undecodable: 0 };
    for (let i = 1; i <= range; i += 1) {
      const outer = this.recoverySortQueue.get((this.seqStart + i) >>> 0);
      if (outer === undefined || outer.encapsulated !== Encapsulation.encapsulated) continue;
      const decoded = decodeMessage(outer.payload);
      if (!decoded.ok || decoded.value.type !== 'mcast') {
        counts.undecodable += 1;
        continue;
      }
      const inner = decoded.value;
      if (!ringIdEquals(inner.ringId, this.myOldRingId)) {
        counts.otherRing += 1;
        continue;
      }
      // corosync has no range check here; one keeps a corrupt inner seq from aliasing a slot.
      if (!this.regularSortQueue.inRange(inner.seq)) {
        counts.outOfWindow += 1;
        continue;
      }
      if (this.regularSortQueue.has(inner.seq)) {
        counts.present += 1;
        continue;
      }
      this.regularSortQueue.add(inner.seq, inner);
      counts.inserted += 1;
      if (seqLt(this.oldRingStateHighSeqReceived, inner.seq)) this.oldRingStateHighSeqReceived = inner.seq;
    }
    this.traceEvent('RecoveredToRegular', { ...counts, head: this.regularSortQueue.headSeq, oldAru: this.oldRingStateAru, oldHsr: this.oldRingStateHighSeqReceived });
  }

  /**
   * The recovery queue becomes the regular queue; everything in it (recovery traffic) counts
   * as delivered, so new-ring deliveries start after it (corosync's "not exactly to spec").
   */
  private installRecoveryQueueAsRegular(): void {
    const old = this.regularSortQueue;
    this.regularSortQueue = this.recoverySortQueue;
    this.recoverySortQueue = old;
    this.recoverySortQueue.reinit(this.seqStart);
    this.myLastAru = this.seqStart;
    let high = this.myHighSeqReceived;
    while (high !== this.seqStart && !(this.regularSortQueue.inRange(high) && this.regularSortQueue.has(high))) {
      high = (high - 1) >>> 0;
    }
    this.myHighDelivered = high;
    this.regularSortQueue.release(high);
    this.lastReleased = high;
  }

  /**
   * messages_deliver_to_app: deliver from the regular queue up to `endPoint`. Without
   * `skip` delivery stops at the first gap; with it (transitional part) holes are passed
   * over and only messages from the deliver-members are handed up.
   */
  private messagesDeliverToApp(skip: boolean, endPoint: number): void {
    const stored = this.myHighDelivered;
    // inRange() below bounds the walk to the window whatever endPoint a peer drove us to.
    const range = Math.min((endPoint - stored) >>> 0, this.config.sortQueueSize);
    for (let i = 1; i <= range; i += 1) {
      const seq = (stored + i) >>> 0;
      if (!this.regularSortQueue.inRange(seq)) break;
      const message = this.regularSortQueue.get(seq);
      if (message === undefined && !skip) break;
      this.myHighDelivered = seq;
      if (message === undefined) continue;
      if (skip && !contains(this.myDeliverMembList, message.systemFrom)) continue;
      this.emit({ kind: 'deliver', ringId: message.ringId, seq, sender: message.nodeId, payload: message.payload });
    }
  }

  // ---------------------------------------------------------------- ordering: MCAST

  private handleMcast(message: Mcast): void {
    if (!ringIdEquals(message.ringId, this.myRingId)) {
      if (this.state === MembState.commit || this.state === MembState.recovery) {
        this.stats.rxMsgDropped += 1;
        return;
      }
      this.mergeInForeignNode(message.systemFrom, 'foreign-message-operational', 'foreign-message-gather');
      return;
    }
    const sortQueue = this.sortQueueFor(message);
    if (sortQueue === null) {
      this.stats.rxMsgDropped += 1;
      return;
    }
    if (sortQueue.inRange(message.seq) && !sortQueue.has(message.seq)) {
      sortQueue.add(message.seq, message);
      if (seqLt(this.myHighSeqReceived, message.seq)) this.myHighSeqReceived = message.seq;
    }
    this.updateAru();
    if (this.state === MembState.operational) this.messagesDeliverToApp(false, this.myHighSeqReceived);
  }

  /**
   * Which queue may hold a message of our current ring id. Deviation from corosync, which
   * files it by the encapsulated flag alone: after a failed COMMIT or RECOVERY our ring id
   * is already the new ring's while the regular queue still holds the old ring, and a
   * member that reached OPERATIONAL first may already multicast new-ring messages. corosync
   * would store those in the old ring's slots (and could deliver one in a hole of the
   * transitional configuration); we leave them to the retransmit list of the new ring.
   * Recovery copies only count while recovering: the recovery queue is rebuilt on entry.
   */
  private sortQueueFor(message: Mcast): SortQueue | null {
    if (message.encapsulated === Encapsulation.encapsulated) {
      return this.state === MembState.recovery ? this.recoverySortQueue : null;
    }
    return ringIdEquals(this.regularQueueRingId, message.ringId) ? this.regularSortQueue : null;
  }

  /** Advance my_aru over contiguous present seqs in the active queue. */
  private updateAru(): void {
    const queue = this.activeSortQueue();
    const range = (this.myHighSeqReceived - this.myAru) >>> 0;
    const saved = this.myAru;
    let i = 1;
    for (; i <= range; i += 1) {
      const seq = (saved + i) >>> 0;
      if (!queue.inRange(seq) || !queue.has(seq)) break;
    }
    this.myAru = (saved + i - 1) >>> 0;
  }

  /** messages_free: release what every member has and we delivered. */
  private messagesFree(tokenAru: number): void {
    let releaseTo = tokenAru;
    if (seqLt(this.myLastAru, releaseTo)) releaseTo = this.myLastAru;
    if (seqLt(this.myHighDelivered, releaseTo)) releaseTo = this.myHighDelivered;
    if (seqLt(releaseTo, this.lastReleased)) return;
    const range = (releaseTo - this.lastReleased) >>> 0;
    if (range === 0 || range >= this.config.sortQueueSize) return;
    this.regularSortQueue.release(releaseTo);
    this.lastReleased = releaseTo;
  }

  // ---------------------------------------------------------------- ordering: ORF token

  private handleOrfToken(message: OrfToken): void {
    if (this.orfTokenDiscard) return;
    const token = toWorkToken(message);
    if (token.seq === this.myLastSeq) {
      this.startMergeDetectTimeout();
      this.mySeqUnchanged += 1;
    } else {
      this.mergeDetectAt = null;
      this.tokenHoldRetransmitAt = null;
      this.mySeqUnchanged = 0;
    }
    this.myLastSeq = token.seq;
    const isRep = this.myRingId.rep === this.myId;
    this.myTokenHeld = isRep
      ? this.mySeqUnchanged > this.config.seqnoUnchangedConst
      : this.mySeqUnchanged >= this.config.seqnoUnchangedConst;
    let forward = !(isRep && this.myTokenHeld);
    if (this.state === MembState.commit) return;
    if (!ringIdEquals(token.ringId, this.myRingId)) return;
    if (seqLte(token.tokenSeq, this.myTokenSeq)) return;
    // Deviation: corosync frees before the two checks above, so a retransmitted copy of
    // the token we just processed counts as a second rotation and releases messages a
    // lagging member still needs (found by the simulator). Only a new token may free.
    if (this.state === MembState.operational) this.messagesFree(token.aru);
    // corosync asserts here; a token claiming seqs beyond our window is dropped instead.
    if (((token.seq - this.myAru) >>> 0) >= this.config.sortQueueSize) {
      this.stats.rxMsgDropped += 1;
      return;
    }
    this.tokenReceivedHooks();
    const lastAru = this.myLastAru;
    this.myLastAru = token.aru;
    let allowed = this.fccCalculate(token);
    const retransmitted = this.orfTokenRtr(token, allowed);
    allowed -= retransmitted;
    if (this.config.cancelTokenHoldOnRetransmit && this.myTokenHeld && (token.rtrList.length > 0 || retransmitted > 0)) {
      this.myTokenHeld = false;
      forward = true;
    }
    allowed = this.fccRtrLimit(token, allowed);
    const sent = this.orfTokenMcast(token, allowed);
    this.fccTokenUpdate(token, retransmitted + sent);
    this.tokenAruUpdate(token, lastAru);
    if (this.myAruCount > this.config.failRecvConst && token.aruAddr === this.myId) {
      this.traceEvent('FailedToReceive');
      this.stats.failedToRecv += 1;
      this.failedToRecv = true;
      this.myFailedList = union(this.myFailedList, [this.myId]);
      this.gatherEnter('failed-to-receive');
      return;
    }
    this.tokenForward(token, forward);
  }

  /** Hook point for the layer above (totempg flushes its packing buffer here). */
  private tokenReceivedHooks(): void {
    this.inTokenHook = true;
    try {
      for (const hook of this.tokenReceivedCallbacks) hook();
    } finally {
      this.inTokenHook = false;
    }
  }

  /** True while token-received hooks run: their flushes must not cancel a token hold. */
  private inTokenHook = false;

  private readonly tokenReceivedCallbacks: Array<() => void> = [];

  /** Registers a callback run on every valid token, before this node multicasts. */
  onTokenReceived(callback: () => void): void {
    this.tokenReceivedCallbacks.push(callback);
  }

  private tokenAruUpdate(token: WorkToken, lastAru: number): void {
    if (seqLt(this.myAru, token.aru) || token.aruAddr === this.myId || token.aruAddr === 0) {
      token.aru = this.myAru;
      token.aruAddr = token.aru === token.seq ? 0 : this.myId;
    }
    if (token.aru === lastAru && token.aruAddr !== 0) this.myAruCount += 1;
    else this.myAruCount = 0;
  }

  private tokenForward(token: WorkToken, forward: boolean): void {
    this.myTokenSeq = token.tokenSeq;
    token.tokenSeq = (token.tokenSeq + 1) >>> 0;
    if (this.state === MembState.recovery) this.recoveryTokenBookkeeping(token);
    this.tokenSend(token, forward);
    if (this.state === MembState.operational) this.messagesDeliverToApp(false, this.myHighSeqReceived);
    this.resetTokenTimeout();
    this.resetTokenRetransmitTimeout();
    if (this.myId === this.myRingId.rep && this.myTokenHeld) {
      this.stats.tokenHeld += 1;
      this.tokenHoldRetransmitAt = this.now + this.config.holdTicks;
    }
  }

  /** RECOVERY: the retrans flag handshake that decides when to install the new ring. */
  private recoveryTokenBookkeeping(token: WorkToken): void {
    if (this.retransMessageQueue.length > 0) {
      if (token.retransFlg === 0) {
        token.retransFlg = 1;
        this.mySetRetransFlg = true;
      }
    } else if (token.retransFlg === 1 && this.mySetRetransFlg) {
      token.retransFlg = 0;
      this.mySetRetransFlg = false;
    }
    this.myRetransFlgCount = token.retransFlg === 0 ? this.myRetransFlgCount + 1 : 0;
    if (this.myRetransFlgCount === 2) this.myInstallSeq = token.seq;
    if (this.myRetransFlgCount >= 2 && !this.myReceivedFlg && seqLte(this.myInstallSeq, this.myAru)) {
      this.myReceivedFlg = true;
      this.myDeliverMembList = [...this.myTransMembList];
    }
    if (this.myRetransFlgCount >= 3 && seqLte(this.myInstallSeq, token.aru)) this.myRotationCounter += 1;
    else this.myRotationCounter = 0;
    if (this.myRotationCounter === 2) {
      this.operationalEnter();
      this.myRotationCounter = 0;
      this.myRetransFlgCount = 0;
    }
  }

  private tokenSend(token: WorkToken, forward: boolean): void {
    const message: OrfToken = {
      type: 'orf-token', nodeId: this.myId, targetNodeId: 0, seq: token.seq, tokenSeq: token.tokenSeq,
      aru: token.aru, aruAddr: token.aruAddr, ringId: token.ringId, backlog: token.backlog, fcc: token.fcc,
      retransFlg: token.retransFlg, rtrList: [...token.rtrList],
    };
    this.savedToken = { to: this.tokenTarget, message };
    if (!forward) return;
    this.stats.orfTokenTx += 1;
    this.send(this.tokenTarget, message);
  }

  /** fcc_calculate: window and backlog based flow control (corosync-wire.md §3.8). */
  private fccCalculate(token: WorkToken): number {
    let allowed = this.config.maxMessages;
    const windowLeft = (this.config.windowSize - token.fcc) >>> 0;
    if (allowed > windowLeft) allowed = windowLeft;
    this.myCbl = this.backlogGet();
    const divisor = (token.backlog + this.myCbl - this.myPbl) >>> 0;
    if (divisor !== 0) {
      const backlogCalc = Math.floor(((this.config.windowSize * this.myPbl) >>> 0) / divisor);
      if (backlogCalc > 0 && allowed > backlogCalc) allowed = backlogCalc;
    }
    return allowed;
  }

  private backlogGet(): number {
    if (this.state === MembState.operational) {
      return (this.waitingTransAck ? this.newMessageQueueTrans : this.newMessageQueue).length;
    }
    if (this.state === MembState.recovery) return this.retransMessageQueue.length;
    return 0;
  }

  /** fcc_rtr_limit: never let the sort queue window overflow. */
  private fccRtrLimit(token: WorkToken, allowed: number): number {
    const size = this.config.sortQueueSize;
    const limit = (this.lastReleased + size - allowed - this.config.windowSize) >>> 0;
    return seqLt(limit, token.seq) ? 0 : allowed;
  }

  private fccTokenUpdate(token: WorkToken, transmitted: number): void {
    token.fcc = (token.fcc + transmitted - this.myTrc) >>> 0;
    token.backlog = (token.backlog + this.myCbl - this.myPbl) >>> 0;
    this.myTrc = transmitted;
    this.myPbl = this.myCbl;
  }

  /**
   * orf_token_rtr: serve retransmit requests we can (counting against `allowed`), then add
   * our own requests for seqs missed on `missCountConst` token visits.
   */
  private orfTokenRtr(token: WorkToken, allowed: number): number {
    const queue = this.activeSortQueue();
    let retransmitted = 0;
    let i = 0;
    while (retransmitted < allowed && i < token.rtrList.length) {
      const item = token.rtrList[i] as RtrItem;
      const stored = ringIdEquals(item.ringId, this.myRingId) && queue.inRange(item.seq) ? queue.get(item.seq) : undefined;
      if (stored === undefined) {
        i += 1;
        continue;
      }
      this.send('all', stored);
      token.rtrList.splice(i, 1);
      this.stats.mcastRetx += 1;
      retransmitted += 1;
    }
    const range = (token.seq - this.myAru) >>> 0;
    for (let k = 1; token.rtrList.length < this.config.retransmitEntriesMax && k <= range; k += 1) {
      const seq = (this.myAru + k) >>> 0;
      if (!queue.inRange(seq)) break;
      if (queue.has(seq)) continue;
      if (queue.bumpMissCount(seq) < this.config.missCountConst) continue;
      if (!token.rtrList.some((item) => item.seq === seq)) token.rtrList.push({ ringId: this.myRingId, seq });
    }
    return retransmitted;
  }

  /** orf_token_mcast: put up to `allowed` queued messages on the ring. */
  private orfTokenMcast(token: WorkToken, allowed: number): number {
    let queue: { length: number; shift(): Mcast | undefined };
    let sortQueue: SortQueue;
    if (this.state === MembState.recovery) {
      queue = this.retransMessageQueue;
      sortQueue = this.recoverySortQueue;
      this.resetTokenRetransmitTimeout();
    } else {
      queue = this.waitingTransAck ? this.newMessageQueueTrans : this.newMessageQueue;
      sortQueue = this.regularSortQueue;
    }
    let sent = 0;
    for (; sent < allowed && queue.length > 0; sent += 1) {
      const pending = queue.shift() as Mcast;
      token.seq = (token.seq + 1) >>> 0;
      const message: Mcast = { ...pending, seq: token.seq, thisSeqno: this.globalSeqno | 0, ringId: this.myRingId };
      this.globalSeqno = (this.globalSeqno + 1) | 0;
      sortQueue.add(token.seq, message);
      this.send('all', message);
      this.myHighSeqReceived = token.seq;
    }
    this.updateAru();
    return sent;
  }

  private handleTokenHoldCancel(message: TokenHoldCancel): void {
    if (!ringIdEquals(message.ringId, this.myRingId)) return;
    this.mySeqUnchanged = 0;
    if (this.myRingId.rep === this.myId) this.tokenRetransmitTimeout();
  }
}

function toWorkToken(message: OrfToken): WorkToken {
  return {
    seq: message.seq, tokenSeq: message.tokenSeq, aru: message.aru, aruAddr: message.aruAddr,
    ringId: message.ringId, backlog: message.backlog, fcc: message.fcc, retransFlg: message.retransFlg,
    rtrList: message.rtrList.slice(0, 30),
  };
}

function toWorkCommitToken(message: CommitToken): WorkCommitToken {
  return {
    tokenSeq: message.tokenSeq, ringId: message.ringId, retransFlg: message.retransFlg,
    membIndex: message.membIndex, addr: [...message.addr], membList: [...message.membList],
  };
}

export type { NodeList };
