// Totem timer and flow-control configuration: corosync 3.1.7 defaults and their
// derivation from the node count (corosync-wire.md §3.13, exec/totemconfig.c), converted
// once from milliseconds to ticks (architecture.md §0.2).

import { assert } from '../base/assert';

/** Timers and constants as a corosync.conf `totem {}` section states them (ms). */
export interface TotemConfigMs {
  token: number;
  tokenCoefficient: number;
  tokenRetransmitsBeforeLossConst: number;
  tokenRetransmit: number;
  hold: number;
  consensus: number;
  join: number;
  sendJoin: number;
  merge: number;
  downcheck: number;
  failRecvConst: number;
  seqnoUnchangedConst: number;
  windowSize: number;
  maxMessages: number;
  missCountConst: number;
  heartbeatFailuresAllowed: number;
  maxNetworkDelay: number;
  cancelTokenHoldOnRetransmit: boolean;
  netmtu: number;
}

/** The derived configuration the core runs on: every timeout in ticks. */
export interface TotemConfig {
  readonly tickMs: number;
  readonly ms: Readonly<TotemConfigMs>;
  readonly tokenTicks: number;
  readonly tokenRetransmitTicks: number;
  readonly holdTicks: number;
  readonly consensusTicks: number;
  readonly joinTicks: number;
  readonly sendJoinTicks: number;
  readonly mergeTicks: number;
  readonly failRecvConst: number;
  readonly seqnoUnchangedConst: number;
  readonly windowSize: number;
  readonly maxMessages: number;
  readonly missCountConst: number;
  readonly cancelTokenHoldOnRetransmit: boolean;
  /** netmtu minus room for two MCAST headers (one level of encapsulation). */
  readonly netMtu: number;
  /** Bound on locally queued messages waiting for the token (corosync: 4 MiB / net_mtu). */
  readonly sendQueueMax: number;
  /** Sort-queue window (QUEUE_RTR_ITEMS_SIZE_MAX). */
  readonly sortQueueSize: number;
  readonly retransmitEntriesMax: number;
}

export const TotemDefaults = {
  token: 3000,
  tokenCoefficient: 650,
  tokenRetransmitsBeforeLossConst: 4,
  join: 50,
  sendJoin: 0,
  merge: 200,
  downcheck: 1000,
  failRecvConst: 2500,
  seqnoUnchangedConst: 30,
  windowSize: 50,
  maxMessages: 17,
  missCountConst: 5,
  heartbeatFailuresAllowed: 0,
  maxNetworkDelay: 50,
  netmtu: 1500,
  tickMs: 10,
  sortQueueSize: 16384,
  retransmitEntriesMax: 30,
  messageQueueBytes: 4 * 1024 * 1024,
} as const;

/** Which timers the user set explicitly; the rest are derived as corosync derives them. */
export type TotemConfigInput = Partial<TotemConfigMs>;

/**
 * Computes the effective millisecond configuration exactly as totemconfig.c does:
 * the token coefficient is added for every node beyond two, even to an explicit token;
 * token_retransmit, hold and consensus are derived only when not given.
 */
export function deriveTotemConfigMs(input: TotemConfigInput, nodeCount: number): TotemConfigMs {
  const coefficient = input.tokenCoefficient ?? TotemDefaults.tokenCoefficient;
  const baseToken = input.token ?? TotemDefaults.token;
  const token = nodeCount > 2 ? baseToken + (nodeCount - 2) * coefficient : baseToken;
  const retransmits = input.tokenRetransmitsBeforeLossConst ?? TotemDefaults.tokenRetransmitsBeforeLossConst;
  const tokenRetransmit = input.tokenRetransmit ?? Math.trunc(token / (retransmits + 0.2));
  const hold = input.hold ?? Math.trunc(tokenRetransmit * 0.8 - 1000 / 100);
  const consensus = input.consensus ?? Math.trunc(1.2 * token);
  return {
    token,
    tokenCoefficient: coefficient,
    tokenRetransmitsBeforeLossConst: retransmits,
    tokenRetransmit,
    hold,
    consensus,
    join: input.join ?? TotemDefaults.join,
    sendJoin: input.sendJoin ?? TotemDefaults.sendJoin,
    merge: input.merge ?? TotemDefaults.merge,
    downcheck: input.downcheck ?? TotemDefaults.downcheck,
    failRecvConst: input.failRecvConst ?? TotemDefaults.failRecvConst,
    seqnoUnchangedConst: input.seqnoUnchangedConst ?? TotemDefaults.seqnoUnchangedConst,
    windowSize: input.windowSize ?? TotemDefaults.windowSize,
    maxMessages: input.maxMessages ?? TotemDefaults.maxMessages,
    missCountConst: input.missCountConst ?? TotemDefaults.missCountConst,
    heartbeatFailuresAllowed: input.heartbeatFailuresAllowed ?? TotemDefaults.heartbeatFailuresAllowed,
    maxNetworkDelay: input.maxNetworkDelay ?? TotemDefaults.maxNetworkDelay,
    cancelTokenHoldOnRetransmit: input.cancelTokenHoldOnRetransmit ?? false,
    netmtu: input.netmtu ?? TotemDefaults.netmtu,
  };
}

function toTicks(ms: number, tickMs: number): number {
  return Math.max(1, Math.ceil(ms / tickMs));
}

/** Converts an effective ms configuration to the tick-based core configuration. */
export function toTotemConfig(ms: TotemConfigMs, tickMs: number = TotemDefaults.tickMs): TotemConfig {
  assert(tickMs > 0, 'tickMs must be positive');
  assert(ms.maxMessages <= ms.windowSize, 'max_messages must not exceed window_size');
  const netMtu = ms.netmtu - 2 * 45;
  return Object.freeze({
    tickMs,
    ms: Object.freeze({ ...ms }),
    tokenTicks: toTicks(ms.token, tickMs),
    tokenRetransmitTicks: toTicks(ms.tokenRetransmit, tickMs),
    holdTicks: toTicks(ms.hold, tickMs),
    consensusTicks: toTicks(ms.consensus, tickMs),
    joinTicks: toTicks(ms.join, tickMs),
    sendJoinTicks: ms.sendJoin > 0 ? toTicks(ms.sendJoin, tickMs) : 0,
    mergeTicks: toTicks(ms.merge, tickMs),
    failRecvConst: ms.failRecvConst,
    seqnoUnchangedConst: ms.seqnoUnchangedConst,
    windowSize: ms.windowSize,
    maxMessages: ms.maxMessages,
    missCountConst: ms.missCountConst,
    cancelTokenHoldOnRetransmit: ms.cancelTokenHoldOnRetransmit,
    netMtu,
    sendQueueMax: Math.floor(TotemDefaults.messageQueueBytes / netMtu),
    sortQueueSize: TotemDefaults.sortQueueSize,
    retransmitEntriesMax: TotemDefaults.retransmitEntriesMax,
  });
}

/** Defaults for a cluster of `nodeCount` nodes, as corosync 3.1.7 would run it. */
export function defaultTotemConfig(nodeCount: number, tickMs: number = TotemDefaults.tickMs): TotemConfig {
  return toTotemConfig(deriveTotemConfigMs({}, nodeCount), tickMs);
}
