// The seam between the services (cmap, cpg, quorum, votequorum) and the layers below,
// modelled on corosync's corosync_api_v1 / corosync_service_engine (coroapi.h) and the
// sync hooks of exec/sync.c (corosync-wire.md §6, §7; architecture.md §2.6).
//
// Everything here is pure and synchronous: a service reacts to delivered exec messages,
// configuration changes, sync phases and ticks, and acts only through ServiceApi. The
// service host (service-host.ts) implements ServiceApi on top of totempg; tests and the
// simulator implement it with fakes. Client-facing APIs (CPG handles, quorum
// notifications, cmap tracks) call listeners synchronously, which keeps runs
// deterministic: the order of callbacks is the order of delivery.

import type { RingId } from '../totem/wire/messages';

/** corosync service ids (corodefs.h). */
export const ServiceId = {
  cmap: 0,
  cfg: 1,
  cpg: 2,
  quorum: 3,
  pload: 4,
  votequorum: 5,
  mon: 6,
  wd: 7,
} as const;
export type ServiceIdCode = (typeof ServiceId)[keyof typeof ServiceId];

/** A configuration change as the services see it (a totem confchg). */
export interface ServiceConfChange {
  readonly type: 'transitional' | 'regular';
  readonly ringId: RingId;
  readonly members: readonly number[];
  readonly left: readonly number[];
  readonly joined: readonly number[];
}

export type LogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug' | 'trace';

export interface ServiceApi {
  readonly localNodeId: number;
  /**
   * Multicasts one exec message (16-byte qb header included, `size` set exactly) in
   * totempg group "a", in agreed order, to every member including this node. Pieces are
   * packed as corosync's iovecs are (they influence where totempg cuts packets).
   * 'full' = the send queue is full now: retry after the next token (call again later).
   */
  mcast(message: Uint8Array | readonly Uint8Array[]): 'queued' | 'full';
  /** Members of the current regular configuration, ascending (empty before the first). */
  members(): readonly number[];
  /** The current ring id (of the last regular configuration). */
  ringId(): RingId;
  /** Whether the cluster is quorate as the quorum provider says (true without provider). */
  isQuorate(): boolean;
  /** Whether the sync protocol is running (client requests are held back meanwhile). */
  isSyncing(): boolean;
  /** Virtual time in ticks since start, and the tick length in ms. */
  now(): number;
  readonly tickMs: number;
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** The per-service part of the sync protocol (exec/sync.c: init, process, activate, abort). */
export interface SyncHooks {
  /** A new regular configuration: `transMembers` = transitional ∩ members. */
  init(transMembers: readonly number[], members: readonly number[], ringId: RingId): void;
  /** Multicast this service's sync data; 'again' = call again later (send queue full). */
  process(): 'done' | 'again';
  /** Every member's data has been delivered: switch to the new state. */
  activate(): void;
  /** A configuration change interrupted this sync round. */
  abort(): void;
}

export interface Service {
  readonly id: ServiceIdCode;
  readonly name: string;
  /** null: the service takes no part in sync (cfg, pload). */
  readonly sync: SyncHooks | null;
  /**
   * An exec message of this service, delivered in agreed order. `fn` is the function id
   * (header id & 0xffff); `message` is the whole exec message, header included.
   * Malformed messages are counted and ignored, never thrown.
   */
  deliver(fn: number, sender: number, message: Uint8Array): void;
  /** Totem configuration changes, transitional then regular, before sync starts. */
  confchg(change: ServiceConfChange): void;
  /**
   * Timers in ticks, optional. The host may call it at any tick (it must then do nothing
   * that is not due yet) and calls it at least at every tick ticksToNextTimer() names.
   */
  tick?(): void;
  /**
   * How many ticks from now tick() must run at the latest (1: the next tick); null: not
   * until an input (a delivery, a confchg, a sync phase, a client call) gives it work. The
   * host asks again after every input, so the daemon can sleep until then instead of
   * ticking. Without it, a service with tick() is ticked on every tick.
   */
  ticksToNextTimer?(): number | null;
}

/** How often a service retries a multicast the send queue refused ('full'), in ms. */
export const SERVICE_RETRY_MS = 10;

/** SERVICE_RETRY_MS in ticks of `tickMs` (at least one tick). */
export function serviceRetryTicks(tickMs: number): number {
  return Math.max(1, Math.round(SERVICE_RETRY_MS / tickMs));
}
