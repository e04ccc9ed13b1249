// The service host: totempg, the sync engine and the registered services over one
// TotemNode, in the roles corosync 3.1.7's exec/main.c gives them (corosync-wire.md §6,
// §7; architecture.md §2.6). It implements ServiceApi for the services.
//
// Order of operations, as main.c / sync.c / totempg.c do it:
// - Events are taken strictly in the node's order (processTotemEvents). totempg turns a
//   delivered packet into zero or more group messages; group "a" goes to exec dispatch,
//   group "sync" to the sync engine; nothing else is joined here (counted).
// - Exec dispatch (main.c deliver_fn): service = id >> 16, fn = id & 0xffff; a service
//   that is not registered is ignored silently (counted). Exec messages are dispatched
//   whether or not sync is running (votequorum's start-up NODEINFO can precede the
//   SERVICE_BUILDs).
// - Every confchg (main.c confchg_fn): totempg first drops the unfinished messages of the
//   nodes that left; then sync is marked in progress (remembering whether it already
//   was), the ring id recorded, every service's confchg hook called in ascending id
//   order, and — only if sync was already in progress — the sync engine aborted. Then a
//   TRANSITIONAL confchg saves its member list in the engine; a REGULAR one starts sync
//   (SERVICE_BUILD, then every local service's init). So services see both confchgs of a
//   ring before their sync init for it.
// - The sync engine's deferred work (process hooks, the barrier after them) runs on every
//   token, right after totempg flushed its packing buffer: corosync runs it as a
//   TOKEN_SENT callback (schedwrk), so what a process hook multicasts waits for the next
//   token in both. tick() does not run it.
// - Time: tick() is one tick; advance(n) is n of them at once, running the services' tick
//   hooks only at the ticks ticksToNextTimer() names, so the driver can sleep in between.
// - Sync complete (main.c corosync_sync_completed): sync is no longer in progress,
//   totempg_trans_ack (the node returns to its normal send queue, totempg to its normal
//   reassembly table), then the onSyncComplete listeners.
//
// Exec messages whose `size` disagrees with their length: corosync never looks at the
// real length and its handlers trust `size`. Here a message with size < 16 or size larger
// than what arrived is dropped and counted (a handler would read past the end); a message
// with size smaller than what arrived is delivered cut to `size` bytes (counted), because
// `size` bytes are all a corosync handler can ever read. So a service always gets a
// message whose length equals its header's size.

import { assert } from '../base/assert';
import { FragmenterLimits } from '../totem/pg/fragmenter';
import { GROUP_A, GROUP_SYNC, groupHeaderLength, includesGroup } from '../totem/pg/groups';
import { TotemPg, type PgEvent, type TotemPgCounters, type TotemPgNode } from '../totem/pg/totem-pg';
import type { ConfChangeEvent, TotemEvent } from '../totem/srp/types';
import type { RingId } from '../totem/wire/messages';
import { EXEC_HEADER_BYTES, readExecHeader } from './exec-header';
import type { LogLevel, Service, ServiceApi, ServiceConfChange } from './service-api';
import { SyncEngine, type SyncParticipant, type SyncStatus } from './sync';

/** Largest exec message a service may multicast (totempg's bound minus the group "a" header). */
export const SERVICE_MESSAGE_BYTES_MAX = FragmenterLimits.messageBytesMax - groupHeaderLength([GROUP_A]);

/** Where log lines go; the same shape as the runtime Logger's log(). */
export type ServiceLogSink = (level: LogLevel, subsys: string, message: string, fields?: Readonly<Record<string, unknown>>) => void;

export type SyncCompleteListener = (ringId: RingId, members: readonly number[]) => void;

export interface ServiceHostOptions {
  readonly node: TotemPgNode;
  readonly localNodeId: number;
  /** Length of one tick in ms (ServiceApi.tickMs). */
  readonly tickMs: number;
  /** totempg net_mtu: the node's TotemConfig.netMtu. */
  readonly netMtu?: number;
  /** Services to register now; more can be registered until the first event. */
  readonly services?: readonly Service[];
  readonly log?: ServiceLogSink;
}

export interface ServiceHostCounters {
  confchgs: number;
  syncsCompleted: number;
  /** Exec messages handed to a service. */
  execDelivered: number;
  /** Shorter than the 16-byte header: dropped. */
  execMalformed: number;
  /** size < 16 or size > the bytes that arrived: dropped. */
  execBadSize: number;
  /** size < the bytes that arrived: delivered cut to size. */
  execTrailingBytes: number;
  /** No registered service with that id: ignored (as corosync does). */
  execUnknownService: number;
  syncMessages: number;
  /** Group messages naming neither "a" nor "sync": ignored. */
  otherGroups: number;
  mcastQueued: number;
  mcastFull: number;
}

export interface ServiceHostStatus {
  readonly localNodeId: number;
  /** main.c's sync_in_process: from every confchg until sync completes. */
  readonly syncing: boolean;
  readonly ringId: RingId;
  readonly members: readonly number[];
  readonly ticks: number;
  readonly services: ReadonlyArray<{ readonly id: number; readonly name: string; readonly syncParticipant: boolean }>;
  readonly sync: SyncStatus;
  readonly counters: Readonly<ServiceHostCounters>;
  readonly pg: Readonly<TotemPgCounters>;
}

const NO_RING: RingId = { rep: 0, seq: 0n };

export class ServiceHost {
  readonly localNodeId: number;
  readonly tickMs: number;
  readonly pg: TotemPg;
  /** A ServiceApi whose log lines carry the subsystem tag SERV; see apiFor(). */
  readonly api: ServiceApi;
  private readonly sync: SyncEngine;
  private readonly logSink: ServiceLogSink;
  /** Registered services, ascending by id (corosync_service[] order). */
  private services: Service[] = [];
  private readonly syncCompleteListeners: SyncCompleteListener[] = [];
  private quorumProvider: () => boolean = () => true;
  private syncInProcess = true;
  private currentRingId: RingId = NO_RING;
  private currentMembers: readonly number[] = [];
  private ticks = 0;
  private started = false;
  private readonly stats: ServiceHostCounters = {
    confchgs: 0,
    syncsCompleted: 0,
    execDelivered: 0,
    execMalformed: 0,
    execBadSize: 0,
    execTrailingBytes: 0,
    execUnknownService: 0,
    syncMessages: 0,
    otherGroups: 0,
    mcastQueued: 0,
    mcastFull: 0,
  };

  constructor(options: ServiceHostOptions) {
    assert(Number.isInteger(options.localNodeId) && options.localNodeId > 0, 'localNodeId must be a non-zero node id');
    assert(options.tickMs > 0, 'tickMs must be positive');
    this.localNodeId = options.localNodeId;
    this.tickMs = options.tickMs;
    this.logSink = options.log ?? (() => undefined);
    this.pg = new TotemPg(options.node, options.netMtu !== undefined ? { netMtu: options.netMtu } : {});
    this.sync = new SyncEngine({
      services: () => this.syncParticipants(),
      mcast: (message) => this.pg.mcast([GROUP_SYNC], message),
      onComplete: () => this.syncCompleted(),
      log: (level, message, fields) => this.logSink(level, 'SYNC', message, fields),
    });
    // Registered after totempg's own hook, so it runs after the packing buffer was flushed.
    this.pg.onTokenReceived(() => this.sync.poll());
    this.api = this.apiFor('SERV');
    for (const service of options.services ?? []) this.register(service);
  }

  /** A ServiceApi whose log lines carry `subsys` (e.g. 'CPG', 'QUORUM', 'CMAP'). */
  apiFor(subsys: string): ServiceApi {
    return {
      localNodeId: this.localNodeId,
      tickMs: this.tickMs,
      mcast: (message) => this.mcast(message),
      members: () => this.currentMembers,
      ringId: () => this.currentRingId,
      isQuorate: () => this.quorumProvider(),
      isSyncing: () => this.syncInProcess,
      now: () => this.ticks,
      log: (level, message, fields) => this.logSink(level, subsys, message, fields),
    };
  }

  /** Adds a service; only before the first event (corosync loads services before totem runs). */
  register(service: Service): void {
    assert(!this.started, `service ${service.name} registered after events were processed`);
    assert(!this.services.some((s) => s.id === service.id), `service id ${service.id} registered twice`);
    this.services = [...this.services, service].sort((a, b) => a.id - b.id);
  }

  /** The votequorum service registers itself here; without a provider the cluster counts as quorate. */
  setQuorumProvider(provider: () => boolean): void {
    this.quorumProvider = provider;
  }

  /** Called after every completed sync, after the transition was acknowledged. */
  onSyncComplete(listener: SyncCompleteListener): () => void {
    this.syncCompleteListeners.push(listener);
    return () => {
      const i = this.syncCompleteListeners.indexOf(listener);
      if (i >= 0) this.syncCompleteListeners.splice(i, 1);
    };
  }

  /** The node's events (TotemNode.takeEffects().events), strictly in order. */
  processTotemEvents(events: readonly TotemEvent[]): void {
    this.started = true;
    for (const event of events) {
      for (const pgEvent of this.pg.process(event)) this.handle(pgEvent);
    }
  }

  /** One tick of virtual time: every service's tick hook, ascending by id. */
  tick(): void {
    this.started = true;
    this.ticks += 1;
    for (const service of this.services) service.tick?.();
  }

  /**
   * `ticks` ticks at once. The services' tick hooks run (all of them, ascending by id) at
   * every tick some service named in ticksToNextTimer(), and not in between: what as many
   * tick() calls would do, since a tick hook does nothing before it is due.
   */
  advance(ticks: number): void {
    assert(Number.isInteger(ticks) && ticks >= 0, 'advance takes a whole number of ticks');
    this.started = true;
    let left = ticks;
    while (left > 0) {
      const gap = this.ticksToNextTimer();
      if (gap === null || gap > left) {
        this.ticks += left;
        return;
      }
      this.ticks += gap;
      left -= gap;
      for (const service of this.services) service.tick?.();
    }
  }

  /** Ticks until some service's tick hook is due (>= 1); null: none until the next input. */
  ticksToNextTimer(): number | null {
    let next: number | null = null;
    for (const service of this.services) {
      if (service.tick === undefined) continue;
      const gap = service.ticksToNextTimer === undefined ? 1 : service.ticksToNextTimer();
      if (gap !== null) next = Math.min(next ?? Infinity, Math.max(1, gap));
    }
    return next;
  }

  isSyncing(): boolean {
    return this.syncInProcess;
  }

  status(): ServiceHostStatus {
    return {
      localNodeId: this.localNodeId,
      syncing: this.syncInProcess,
      ringId: this.currentRingId,
      members: [...this.currentMembers],
      ticks: this.ticks,
      services: this.services.map((s) => ({ id: s.id, name: s.name, syncParticipant: s.sync !== null })),
      sync: this.sync.status(),
      counters: { ...this.stats },
      pg: this.pg.counters(),
    };
  }

  private mcast(message: Uint8Array | readonly Uint8Array[]): 'queued' | 'full' {
    const pieces: readonly Uint8Array[] = message instanceof Uint8Array ? [message] : message;
    const length = pieces.reduce((sum, p) => sum + p.length, 0);
    const first = pieces[0];
    assert(first !== undefined && first.length >= EXEC_HEADER_BYTES, 'an exec message starts with its whole 16-byte header');
    const header = readExecHeader(first);
    assert(header.ok && header.value.size === length, `exec message size field disagrees with its ${length} bytes`);
    assert(length <= SERVICE_MESSAGE_BYTES_MAX, `exec message of ${length} bytes exceeds ${SERVICE_MESSAGE_BYTES_MAX}`);
    const result = this.pg.mcast([GROUP_A], pieces);
    assert(result !== 'too-large', 'totempg refused an exec message within the size bound');
    if (result === 'queued') this.stats.mcastQueued += 1;
    else this.stats.mcastFull += 1;
    return result;
  }

  private handle(event: PgEvent): void {
    if (event.kind === 'confchg') {
      this.confchg(event);
      return;
    }
    let joined = false;
    if (includesGroup(event.groups, GROUP_A)) {
      joined = true;
      this.dispatchExec(event.sender, event.payload);
    }
    if (includesGroup(event.groups, GROUP_SYNC)) {
      joined = true;
      this.stats.syncMessages += 1;
      this.sync.deliver(event.sender, event.payload);
    }
    if (!joined) this.stats.otherGroups += 1;
  }

  private dispatchExec(sender: number, payload: Uint8Array): void {
    const header = readExecHeader(payload);
    if (!header.ok) {
      this.stats.execMalformed += 1;
      return;
    }
    const { id, size } = header.value;
    if (size < EXEC_HEADER_BYTES || size > payload.length) {
      this.stats.execBadSize += 1;
      this.logSink('debug', 'MAIN', `dropped exec message ${hex(id)} from node ${sender}: size ${size}, ${payload.length} bytes arrived`);
      return;
    }
    let message = payload;
    if (size < payload.length) {
      this.stats.execTrailingBytes += 1;
      message = payload.subarray(0, size);
    }
    const serviceId = id >>> 16;
    const service = this.services.find((s) => s.id === serviceId);
    if (service === undefined) {
      this.stats.execUnknownService += 1;
      return;
    }
    this.stats.execDelivered += 1;
    service.deliver(id & 0xffff, sender, message);
  }

  private confchg(event: ConfChangeEvent): void {
    this.stats.confchgs += 1;
    const abortActivate = this.syncInProcess;
    this.syncInProcess = true;
    this.currentRingId = event.ringId;
    if (event.type === 'regular') this.currentMembers = [...event.members].sort((a, b) => a - b);
    for (const node of event.left) this.logSink('debug', 'MAIN', `Member left: ${node}`);
    for (const node of event.joined) this.logSink('debug', 'MAIN', `Member joined: ${node}`);
    const change: ServiceConfChange = {
      type: event.type,
      ringId: event.ringId,
      members: [...event.members],
      left: [...event.left],
      joined: [...event.joined],
    };
    for (const service of this.services) service.confchg(change);
    if (abortActivate) this.sync.abort();
    if (event.type === 'transitional') this.sync.saveTransitional(event.members);
    else this.sync.start(event.members, event.ringId);
  }

  private syncCompleted(): void {
    this.stats.syncsCompleted += 1;
    this.logSink('notice', 'MAIN', 'Completed service synchronization, ready to provide service.');
    this.syncInProcess = false;
    this.pg.transAck();
    const ringId = this.currentRingId;
    const members = [...this.currentMembers];
    for (const listener of [...this.syncCompleteListeners]) listener(ringId, members);
  }

  private syncParticipants(): SyncParticipant[] {
    return this.services.flatMap((s) => (s.sync === null ? [] : [{ id: s.id, name: s.name, hooks: s.sync }]));
  }
}

function hex(id: number): string {
  return `0x${(id >>> 0).toString(16).padStart(8, '0')}`;
}
