// Public types of the Totem SRP core: its inputs, its ordered effects and its status
// (architecture.md §2.4, corosync-wire.md §3). The core is driven only by tick(),
// receive() and local calls; everything it wants done comes back from takeEffects().

import type { RingId, TotemMessage } from '../wire/messages';

export const MembState = {
  operational: 'operational',
  gather: 'gather',
  commit: 'commit',
  recovery: 'recovery',
} as const;
export type MembStateName = (typeof MembState)[keyof typeof MembState];

/** One datagram to send: to one node (tokens) or to every nodelist member incl. self. */
export interface SendEffect {
  readonly to: number | 'all';
  readonly message: TotemMessage;
}

export interface DeliverEvent {
  readonly kind: 'deliver';
  /** Ring in which the message was ordered (the old ring for transitional deliveries). */
  readonly ringId: RingId;
  readonly seq: number;
  /** Originating node (MCAST header nodeid). */
  readonly sender: number;
  /** The MCAST payload (a totempg packet in a corosync cluster). */
  readonly payload: Uint8Array;
}

export interface ConfChangeEvent {
  readonly kind: 'confchg';
  readonly type: 'transitional' | 'regular';
  /** The new ring's id, for both the transitional and the regular configuration. */
  readonly ringId: RingId;
  readonly members: readonly number[];
  readonly left: readonly number[];
  readonly joined: readonly number[];
}

export type TotemEvent = DeliverEvent | ConfChangeEvent;

export interface TotemEffects {
  /** Store this ring seq durably before sending anything of this batch. */
  readonly persistRingSeq: bigint | null;
  readonly sends: readonly SendEffect[];
  /** Deliveries and configuration changes, strictly in the order they happened. */
  readonly events: readonly TotemEvent[];
}

/** Counters mirroring corosync's stats.srp.* keys where they exist. */
export interface TotemStats {
  orfTokenTx: number;
  orfTokenRx: number;
  mcastTx: number;
  mcastRx: number;
  mcastRetx: number;
  membJoinTx: number;
  membJoinRx: number;
  membCommitTokenTx: number;
  membCommitTokenRx: number;
  membMergeDetectTx: number;
  membMergeDetectRx: number;
  tokenHoldCancelTx: number;
  tokenHoldCancelRx: number;
  operationalEntered: number;
  operationalTokenLost: number;
  gatherEntered: number;
  gatherTokenLost: number;
  commitEntered: number;
  commitTokenLost: number;
  recoveryEntered: number;
  recoveryTokenLost: number;
  consensusTimeouts: number;
  rxMsgDropped: number;
  continuousGatherCount: number;
  failedToRecv: number;
  tokenHeld: number;
}

export interface TotemStatus {
  readonly nodeId: number;
  readonly state: MembStateName;
  readonly ringId: RingId;
  /** Members of the last installed (regular) ring. */
  readonly members: readonly number[];
  readonly aru: number;
  readonly highSeqReceived: number;
  readonly highDelivered: number;
  readonly sendQueueLength: number;
  readonly stats: Readonly<TotemStats>;
}

/** Whitebox trace events (names after spec actions), a no-op sink in production. */
export interface TraceEvent {
  readonly name: string;
  readonly nodeId: number;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface TraceSink {
  (event: TraceEvent): void;
}

export const noTrace: TraceSink = () => undefined;
