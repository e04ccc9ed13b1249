// What the simulator records at the core-to-service boundary (testing.md §4.3), one log
// per node incarnation. The checkers are plain functions over a History, so the same
// library can later run over logs pulled from real daemons (§4.6).

import type { RingId } from '../../src/totem/wire/messages';

export interface ConfEntry {
  readonly k: 'conf';
  readonly tick: number;
  readonly type: 'transitional' | 'regular';
  readonly ring: RingId;
  readonly members: readonly number[];
  readonly left: readonly number[];
  readonly joined: readonly number[];
}

export interface DeliverEntry {
  readonly k: 'deliver';
  readonly tick: number;
  /** Ring in which the message was ordered (the old ring in a transitional part). */
  readonly ring: RingId;
  readonly seq: number;
  /** DeliverEvent.sender (MCAST header nodeid of the originator). */
  readonly sender: number;
  /** msgKey of the payload, or null if the payload is not a workload payload at all. */
  readonly msg: string | null;
  readonly digest: string;
  /** False if the payload failed its own integrity check. */
  readonly intact: boolean;
}

export interface SubmitEntry {
  readonly k: 'submit';
  readonly tick: number;
  readonly msg: string;
  readonly digest: string;
}

export interface PauseEntry {
  readonly k: 'pause';
  readonly tick: number;
  readonly ticks: number;
}

export type LogEntry = ConfEntry | DeliverEntry | SubmitEntry | PauseEntry;

export interface IncarnationLog {
  readonly node: number;
  /** 0 for the first start of a node, +1 per restart. */
  readonly inc: number;
  readonly startTick: number;
  readonly restoredRingSeq: bigint;
  end: { readonly kind: 'crash' | 'leave'; readonly tick: number } | null;
  readonly entries: LogEntry[];
}

export interface History {
  /** Every incarnation of every node, in start order. */
  readonly incarnations: IncarnationLog[];
}

export function incName(log: Pick<IncarnationLog, 'node' | 'inc'>): string {
  return `node ${log.node}#${log.inc}`;
}
