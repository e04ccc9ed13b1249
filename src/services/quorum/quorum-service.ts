// The quorum service (service 3, corosync's exec/vsf_quorum.c): the quorum library API
// (libquorum: getquorate, trackstart/trackstop, notifications) on top of an optional quorum
// provider. It takes part in sync with no messages of its own — only the barrier — and
// uses the sync hooks to work out which nodes joined and left.
//
// With a provider (votequorum), the provider's quorum callback (vsf_quorum's
// quorum_api_set_quorum, here setQuorum) is the only thing that changes the quorate state
// and the view list; votequorum calls it at the end of every sync and whenever quorum
// changes outside sync, so trackers hear about every membership and every quorum change.
// As in corosync, the callback is handed to the provider when it is created, because
// votequorum may call it from its own initialisation:
//
//   const quorum = new QuorumService(api, { provider: true });
//   const vq = VotequorumService.create(api, settings, { quorumCallback: (c) => quorum.setQuorum(c) });
//
// Without a provider the cluster is always quorate and — as in corosync — no quorum
// notification follows a membership change: trackers get the initial one (empty view,
// ring 0) and the node-list notifications of each sync.

import type { RingId } from '../../totem/wire/messages';
import type { Service, ServiceApi, ServiceConfChange, SyncHooks } from '../service-api';
import { ServiceId } from '../service-api';

/** What a quorum provider reports through vsf_quorum's set-quorum callback. */
export interface QuorumChange {
  readonly quorate: boolean;
  /** The provider's view: the members of the last synced ring, in ring order. */
  readonly members: readonly number[];
  readonly ringId: RingId;
}

/** libquorum's quorum notification (quorum_notify_fn / quorum_v1_quorum_notify_fn). */
export interface QuorumNotification {
  readonly quorate: boolean;
  readonly ringId: RingId;
  readonly members: readonly number[];
}

/** libquorum v1's node-list notification, sent when a sync completes. */
export interface QuorumNodeListNotification {
  readonly ringId: RingId;
  readonly members: readonly number[];
  /** Empty in the initial notification of trackStart. */
  readonly joined: readonly number[];
  readonly left: readonly number[];
}

/** CS_TRACK_* flags of trackstart (corotypes.h). */
export const TrackFlags = {
  current: 1,
  changes: 2,
  changesOnly: 4,
} as const;

export interface QuorumTrackOptions {
  /** TrackFlags bits; default `changes` (current state now, then every change). */
  readonly flags?: number;
  /** Node-list notifications (libquorum's v1 model); omitted: not wanted. */
  readonly onNodeList?: (n: QuorumNodeListNotification) => void;
}

export interface QuorumTracker {
  /** quorum_trackstop. */
  stop(): void;
}

export interface QuorumServiceOptions {
  /**
   * quorum.provider is configured (corosync_votequorum): quorate only once the provider
   * says so through setQuorum. Omitted or false: always quorate.
   */
  readonly provider?: boolean;
}

interface Tracker {
  readonly quorum: (n: QuorumNotification) => void;
  readonly nodeList: ((n: QuorumNodeListNotification) => void) | undefined;
}

const ZERO_RING: RingId = { rep: 0, seq: 0n };

export class QuorumService implements Service {
  readonly id = ServiceId.quorum;
  readonly name = 'corosync cluster quorum service v0.1';
  readonly sync: SyncHooks;

  private readonly api: ServiceApi;
  private readonly hasProvider: boolean;
  private primaryDesignated: boolean;
  private quorumRingId: RingId = ZERO_RING;
  private viewList: readonly number[] = [];
  private lastSyncRingId: RingId = ZERO_RING;
  private memberList: readonly number[] = [];
  private oldMemberList: readonly number[] = [];
  private joinedList: readonly number[] = [];
  private leftList: readonly number[] = [];
  private readonly trackers = new Set<Tracker>();
  private readonly internal = new Set<(quorate: boolean) => void>();
  private ignoredMessages = 0;

  constructor(api: ServiceApi, options: QuorumServiceOptions = {}) {
    this.api = api;
    this.hasProvider = options.provider === true;
    // corosync: with no provider loaded, primary_designated is set to 1 at init.
    this.primaryDesignated = !this.hasProvider;
    if (this.hasProvider) this.api.log('notice', 'Using quorum provider corosync_votequorum');
    this.sync = {
      init: (trans, members, ringId) => this.syncInit(trans, members, ringId),
      process: () => 'done',
      activate: () => this.syncActivate(),
      abort: () => undefined,
    };
  }

  /** quorum_getquorate; also what the host's isQuorate() should report (api->quorum_is_quorate). */
  getQuorate(): boolean {
    return this.primaryDesignated;
  }

  /** Whether a quorum provider is configured (quorum_gettype: 1 = votequorum, 0 = free). */
  quorumType(): 0 | 1 {
    return this.hasProvider ? 1 : 0;
  }

  /**
   * quorum_trackstart. With TrackFlags.current or .changes the listener is called at once
   * with the current state (and onNodeList with the current members, joined/left empty);
   * with .changes or .changesOnly it then hears of every change until stop().
   */
  trackStart(listener: (n: QuorumNotification) => void, options: QuorumTrackOptions = {}): QuorumTracker {
    const flags = options.flags ?? TrackFlags.changes;
    const tracker: Tracker = { quorum: listener, nodeList: options.onNodeList };
    if (flags & (TrackFlags.current | TrackFlags.changes)) {
      tracker.nodeList?.({ ringId: this.lastSyncRingId, members: [...this.memberList], joined: [], left: [] });
      tracker.quorum(this.notification());
    }
    if (flags & (TrackFlags.changes | TrackFlags.changesOnly)) this.trackers.add(tracker);
    return { stop: () => void this.trackers.delete(tracker) };
  }

  /** corosync's internal quorum callbacks (quorum_register_callback): quorate changes only. */
  onQuorateChange(listener: (quorate: boolean) => void): () => void {
    this.internal.add(listener);
    return () => void this.internal.delete(listener);
  }

  /** The provider's set-quorum callback (quorum_api_set_quorum); pass it to the provider. */
  setQuorum(change: QuorumChange): void {
    const old = this.primaryDesignated;
    this.primaryDesignated = change.quorate;
    if (this.primaryDesignated && !old) {
      this.api.log('notice', 'This node is within the primary component and will provide service.');
    } else if (!this.primaryDesignated && old) {
      this.api.log('notice', 'This node is within the non-primary component and will NOT provide any services.');
    }
    this.viewList = [...change.members];
    this.quorumRingId = change.ringId;
    this.api.log('notice', `Members[${this.viewList.length}]:${this.viewList.map((n) => ` ${n}`).join('')}`);
    for (const listener of [...this.internal]) listener(this.primaryDesignated);
    const n = this.notification();
    for (const t of [...this.trackers]) t.quorum(n);
  }

  deliver(_fn: number, _sender: number, _message: Uint8Array): void {
    // vsf_quorum has no exec messages.
    this.ignoredMessages += 1;
  }

  confchg(_change: ServiceConfChange): void {
    // vsf_quorum works from the sync hooks, not from confchg.
  }

  counters(): { ignoredMessages: number } {
    return { ignoredMessages: this.ignoredMessages };
  }

  private notification(): QuorumNotification {
    return { quorate: this.primaryDesignated, ringId: this.quorumRingId, members: [...this.viewList] };
  }

  private syncInit(trans: readonly number[], members: readonly number[], ringId: RingId): void {
    this.memberList = [...members];
    this.lastSyncRingId = ringId;
    const inTrans = new Set(trans);
    const inMembers = new Set(members);
    // Left: old members not in the transitional list, or (should not happen) in it but
    // not among the new members.
    this.leftList = this.oldMemberList.filter((n) => !inTrans.has(n) || !inMembers.has(n));
    const left = new Set(this.leftList);
    const old = new Set(this.oldMemberList);
    // Joined: new members that were not old members, or that left and came back.
    this.joinedList = this.memberList.filter((n) => !old.has(n) || left.has(n));
    this.logList('Sync members', this.memberList);
    if (this.joinedList.length > 0) this.logList('Sync joined', this.joinedList);
    if (this.leftList.length > 0) this.logList('Sync left', this.leftList);
  }

  private syncActivate(): void {
    this.oldMemberList = this.memberList;
    const n: QuorumNodeListNotification = {
      ringId: this.lastSyncRingId,
      members: [...this.memberList],
      joined: [...this.joinedList],
      left: [...this.leftList],
    };
    for (const t of [...this.trackers]) t.nodeList?.(n);
  }

  private logList(what: string, list: readonly number[]): void {
    this.api.log('notice', `${what}[${list.length}]:${list.map((n) => ` ${n}`).join('')}`);
  }
}
