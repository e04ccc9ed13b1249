// The synchronisation protocol that runs after every regular configuration
// (corosync-wire.md §7; corosync 3.1.7 exec/sync.c, restated, not copied).
//
// After a REGULAR confchg every member multicasts SERVICE_BUILD (its sync services,
// ascending) in group "sync" and calls every local service's init. When every member's
// SERVICE_BUILD has been delivered, the merged list (own services plus "dummy" entries
// for ids only peers have) is worked through in ascending order: the local node runs the
// service's process hook until it reports done (the service multicasts its sync data
// there), then multicasts one BARRIER; when every member's BARRIER of that round has been
// delivered the service is activated and the next round starts. After the last round the
// host is told (it calls totempg_trans_ack). Barriers carry no service index: they are
// counted in total order, one round per merged entry.
//
// The engine has sync.c's entry points; the host plays main.c's confchg_fn around them:
//   saveTransitional  ← sync_save_transitional (TRANSITIONAL confchg)
//   start             ← sync_start            (REGULAR confchg)
//   abort             ← sync_abort            (any confchg while sync_in_process)
//   deliver           ← sync_deliver_fn       (group "sync" messages)
//   poll              ← schedwrk_processor    (corosync runs it as a TOKEN_SENT callback
//                                               and again on the next token while the
//                                               service's process hook returns -1)
//
// Reproduced on purpose:
// - abort() calls the current service's abort hook in the process state (its process hook
//   has not yet reported done) and, unlike sync.c (fixed upstream by corosync PR #828),
//   also while waiting for that service's barriers.
//   main.c calls sync_abort at the TRANSITIONAL confchg and again at the REGULAR one and
//   sync_abort leaves the state alone, so a service caught in its process phase sees
//   abort() twice. Hooks must tolerate that (corosync's are idempotent).
// - The transitional list passed to init is the saved one intersected with the new
//   members, in the saved order, and that intersection replaces the saved list.
// - A SERVICE_BUILD from a node outside the member list marks nobody but still adds its
//   unknown service ids; a BARRIER from such a node marks nobody.
//
// Deviations (each keeps a malformed or hostile peer from doing what corosync's C would do
// with undefined behaviour):
// - After an abort the ring id is "none", which matches no message; corosync zeroes it, so
//   it would accept messages carrying ring 0.0.
// - Messages too short for what they claim (BARRIER < 28 bytes, SERVICE_BUILD < 40 + 4·n
//   bytes, n outside 0..128) are counted and dropped; corosync reads past them.
// - A barrier round completing when no service is left (after sync completed) is counted
//   and ignored; corosync indexes past its list.
// - The merged list is bounded by corosync's SERVICES_COUNT_MAX (64); further unknown
//   ids are counted and ignored (corosync would overrun its array).
// - A SERVICE_BUILD or BARRIER the send queue refuses is kept and retried on the next
//   poll(); corosync ignores the refusal (the trans queue is never full in practice).

import { assert } from '../base/assert';
import { err, ok, type Result } from '../base/result';
import { DecodeError, DecodeErrorCode } from '../totem/wire/decode-error';
import { ringIdEquals, type RingId } from '../totem/wire/messages';
import { EXEC_HEADER_BYTES, readExecHeader, writeExecHeader } from './exec-header';
import type { LogLevel, SyncHooks } from './service-api';

export const SyncMessageId = { barrier: 0, serviceBuild: 1 } as const;

export const SyncLimits = {
  barrierBytes: 32,
  serviceBuildBytes: 552,
  /** service_list[128] of the SERVICE_BUILD message. */
  serviceListEntriesMax: 128,
  /** SERVICES_COUNT_MAX (coroapi.h): the size of sync.c's merged service list. */
  servicesMax: 64,
  /** PROCESSOR_COUNT_MAX: members of one ring. */
  processorsMax: 384,
} as const;

const RING_ID_OFFSET = EXEC_HEADER_BYTES;
/** Bytes a receiver reads of a BARRIER: header + ring id. */
const BARRIER_BYTES_MIN = RING_ID_OFFSET + 12;
const SERVICE_LIST_ENTRIES_OFFSET = 32;
const SERVICE_LIST_OFFSET = 40;

export type SyncMessage =
  | { readonly type: 'barrier'; readonly ringId: RingId }
  | { readonly type: 'service-build'; readonly ringId: RingId; readonly services: readonly number[] };

function writeRingId(view: DataView, ringId: RingId): void {
  view.setUint32(RING_ID_OFFSET, ringId.rep, true);
  view.setBigUint64(RING_ID_OFFSET + 4, ringId.seq, true);
}

function readRingId(view: DataView): RingId {
  return { rep: view.getUint32(RING_ID_OFFSET, true), seq: view.getBigUint64(RING_ID_OFFSET + 4, true) };
}

/** BARRIER (§7.1): 32 bytes, header id 0, the ring id, pads zero. */
export function encodeSyncBarrier(ringId: RingId): Uint8Array {
  const bytes = new Uint8Array(SyncLimits.barrierBytes);
  writeExecHeader(bytes, SyncMessageId.barrier, SyncLimits.barrierBytes);
  writeRingId(new DataView(bytes.buffer), ringId);
  return bytes;
}

/** SERVICE_BUILD (§7.1): 552 bytes, header id 1, the ring id, the service ids, unused slots zero. */
export function encodeSyncServiceBuild(ringId: RingId, services: readonly number[]): Uint8Array {
  assert(services.length <= SyncLimits.serviceListEntriesMax, `a SERVICE_BUILD lists at most ${SyncLimits.serviceListEntriesMax} services`);
  const bytes = new Uint8Array(SyncLimits.serviceBuildBytes);
  writeExecHeader(bytes, SyncMessageId.serviceBuild, SyncLimits.serviceBuildBytes);
  const view = new DataView(bytes.buffer);
  writeRingId(view, ringId);
  view.setInt32(SERVICE_LIST_ENTRIES_OFFSET, services.length, true);
  services.forEach((id, i) => view.setInt32(SERVICE_LIST_OFFSET + 4 * i, id, true));
  return bytes;
}

/**
 * Decodes a group "sync" message. Only the bytes a receiver uses are required: header and
 * ring id, plus the entry count and the listed entries of a SERVICE_BUILD. An id other
 * than 0 or 1 is a badType error (corosync ignores such messages).
 */
export function decodeSyncMessage(bytes: Uint8Array): Result<SyncMessage, DecodeError> {
  const header = readExecHeader(bytes);
  if (!header.ok) return header;
  const id = header.value.id;
  if (id !== SyncMessageId.barrier && id !== SyncMessageId.serviceBuild) {
    return err(new DecodeError(DecodeErrorCode.badType, `sync message id ${id} is neither BARRIER nor SERVICE_BUILD`, 0));
  }
  const need = id === SyncMessageId.barrier ? BARRIER_BYTES_MIN : SERVICE_LIST_OFFSET;
  if (bytes.length < need) {
    return err(new DecodeError(DecodeErrorCode.truncated, `sync message of ${bytes.length} bytes is shorter than ${need}`, bytes.length));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ringId = readRingId(view);
  if (id === SyncMessageId.barrier) return ok({ type: 'barrier', ringId });
  const entries = view.getInt32(SERVICE_LIST_ENTRIES_OFFSET, true);
  if (entries < 0 || entries > SyncLimits.serviceListEntriesMax) {
    return err(new DecodeError(DecodeErrorCode.badField, `SERVICE_BUILD lists ${entries} services`, SERVICE_LIST_ENTRIES_OFFSET));
  }
  if (bytes.length < SERVICE_LIST_OFFSET + 4 * entries) {
    return err(new DecodeError(DecodeErrorCode.truncated, `SERVICE_BUILD of ${bytes.length} bytes cannot hold ${entries} services`, bytes.length));
  }
  const services: number[] = [];
  for (let i = 0; i < entries; i += 1) services.push(view.getInt32(SERVICE_LIST_OFFSET + 4 * i, true));
  return ok({ type: 'service-build', ringId, services });
}

/** A local service that takes part in sync. */
export interface SyncParticipant {
  readonly id: number;
  readonly name: string;
  readonly hooks: SyncHooks;
}

export const SyncState = {
  /** Waiting for every member's SERVICE_BUILD. */
  serviceListBuild: 'service-list-build',
  /** The current service's process hook has not reported done yet. */
  process: 'process',
  /** Our BARRIER for the current service is sent; waiting for every member's. */
  barrier: 'barrier',
} as const;
export type SyncStateName = (typeof SyncState)[keyof typeof SyncState];

export interface SyncEngineOptions {
  /** The local sync services; read at every start() (sync.c asks for them per ring). */
  readonly services: () => readonly SyncParticipant[];
  /** Multicasts one message in group "sync" (agreed order). */
  readonly mcast: (message: Uint8Array) => 'queued' | 'full' | 'too-large';
  /** Every round done: the host acknowledges the transition (corosync_sync_completed). */
  readonly onComplete: () => void;
  readonly log?: (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;
}

export interface SyncCounters {
  syncsStarted: number;
  syncsCompleted: number;
  /** abort() calls that found a sync running (ring id set). */
  aborts: number;
  /** Service abort hooks called. */
  serviceAborts: number;
  serviceBuildsReceived: number;
  barriersReceived: number;
  /** SERVICE_BUILDs and BARRIERs of another ring (or after an abort), discarded. */
  staleDiscarded: number;
  /** Messages that did not decode (unknown id, too short, bad entry count), dropped. */
  malformed: number;
  /** Service ids learned from peers that this node does not run. */
  dummiesAdded: number;
  /** Unknown service ids beyond SERVICES_COUNT_MAX, ignored. */
  servicesOverflow: number;
  /** Barrier rounds completing with no service left, ignored. */
  unexpectedBarriers: number;
  processCalls: number;
  /** process() calls that answered 'again'. */
  processAgain: number;
  /** Sync messages the send queue refused, kept for the next poll(). */
  sendsDeferred: number;
}

export interface SyncServiceStatus {
  readonly id: number;
  readonly name: string;
  /** False for a dummy entry (a service only peers run). */
  readonly local: boolean;
  readonly activated: boolean;
}

export interface SyncStatus {
  readonly state: SyncStateName;
  /** The ring being synchronised; null before the first start() and after an abort. */
  readonly ringId: RingId | null;
  readonly members: readonly number[];
  /** Members whose SERVICE_BUILD (or BARRIER of the current round) has been delivered. */
  readonly received: readonly number[];
  readonly services: readonly SyncServiceStatus[];
  /** Index of the current service in `services`. */
  readonly processingIndex: number;
  /** The current service's process hook is due on the next poll(). */
  readonly processPending: boolean;
  readonly counters: Readonly<SyncCounters>;
}

interface ServiceEntry {
  readonly id: number;
  readonly name: string;
  /** null: a dummy entry, every hook a no-op. */
  readonly hooks: SyncHooks | null;
  activated: boolean;
}

interface ProcessorEntry {
  readonly nodeId: number;
  received: boolean;
}

export class SyncEngine {
  private readonly options: SyncEngineOptions;
  private state: SyncStateName = SyncState.barrier;
  private ringId: RingId | null = null;
  private processors: ProcessorEntry[] = [];
  private members: number[] = [];
  private transList: number[] = [];
  private services: ServiceEntry[] = [];
  private processingIndex = 0;
  /** schedwrk exists: the current service's process hook runs at the next poll(). */
  private processPending = false;
  /** Sync messages the send queue refused, oldest first. */
  private unsent: Uint8Array[] = [];
  private readonly stats: SyncCounters = {
    syncsStarted: 0,
    syncsCompleted: 0,
    aborts: 0,
    serviceAborts: 0,
    serviceBuildsReceived: 0,
    barriersReceived: 0,
    staleDiscarded: 0,
    malformed: 0,
    dummiesAdded: 0,
    servicesOverflow: 0,
    unexpectedBarriers: 0,
    processCalls: 0,
    processAgain: 0,
    sendsDeferred: 0,
  };

  constructor(options: SyncEngineOptions) {
    this.options = options;
  }

  /** TRANSITIONAL confchg (sync_save_transitional): remember its member list. */
  saveTransitional(members: readonly number[]): void {
    this.transList = [...members];
  }

  /** REGULAR confchg (sync_start): announce our services and initialise them. */
  start(members: readonly number[], ringId: RingId): void {
    assert(members.length <= SyncLimits.processorsMax, `a ring has at most ${SyncLimits.processorsMax} members`);
    this.stats.syncsStarted += 1;
    this.ringId = ringId;
    this.state = SyncState.serviceListBuild;
    this.processors = members.map((nodeId) => ({ nodeId, received: false }));
    this.members = [...members];
    this.processingIndex = 0;
    this.processPending = false;
    this.services = this.localServices();
    this.send(encodeSyncServiceBuild(ringId, this.services.map((s) => s.id)));
    this.log('debug', 'call init for locally known services', { ringId: ringText(ringId) });
    this.callInit(ringId);
  }

  /**
   * A confchg arrived while sync was in progress (sync_abort): the current service's
   * abort hook if it is still in its process phase, and forget the ring so that late
   * messages of the aborted sync are discarded.
   */
  abort(): void {
    if (this.ringId !== null) this.stats.aborts += 1;
    // Deviation (corosync PR #828): sync.c aborts the current service only in the process
    // state; a service whose data is out and that waits for barriers must drop it too, or
    // it activates stale data (CPG joinlists) in the next round.
    if (this.state === SyncState.process || (this.state === SyncState.barrier && this.ringId !== null)) {
      this.processPending = false;
      const entry = this.services[this.processingIndex];
      if (entry?.hooks) {
        this.stats.serviceAborts += 1;
        entry.hooks.abort();
      }
    }
    this.ringId = null;
    // What the send queue refused belongs to the aborted ring; receivers would discard it.
    this.unsent = [];
  }

  /** A group "sync" message from `sender`, in agreed order (sync_deliver_fn). */
  deliver(sender: number, payload: Uint8Array): void {
    const decoded = decodeSyncMessage(payload);
    if (!decoded.ok) {
      this.stats.malformed += 1;
      this.log('debug', 'dropped a malformed sync message', { sender, error: decoded.error.message });
      return;
    }
    const message = decoded.value;
    if (message.type === 'barrier') this.barrierReceived(sender, message.ringId);
    else this.serviceBuildReceived(sender, message.ringId, message.services);
  }

  /**
   * The deferred work (schedwrk_processor), to be called on every token: resend what the
   * send queue refused, then run the current service's process hook if it is due; when it
   * reports done, multicast our BARRIER. 'again' leaves it due for the next poll().
   */
  poll(): void {
    if (!this.flushUnsent()) return;
    if (!this.processPending) return;
    const entry = this.services[this.processingIndex];
    if (entry === undefined || entry.activated) {
      this.processPending = false;
      return;
    }
    this.stats.processCalls += 1;
    const result = entry.hooks === null ? 'done' : entry.hooks.process();
    if (result === 'again') {
      this.stats.processAgain += 1;
      return;
    }
    this.processPending = false;
    this.barrierEnter();
  }

  status(): SyncStatus {
    return {
      state: this.state,
      ringId: this.ringId,
      members: [...this.members],
      received: this.processors.filter((p) => p.received).map((p) => p.nodeId),
      services: this.services.map((s) => ({ id: s.id, name: s.name, local: s.hooks !== null, activated: s.activated })),
      processingIndex: this.processingIndex,
      processPending: this.processPending,
      counters: { ...this.stats },
    };
  }

  counters(): SyncCounters {
    return { ...this.stats };
  }

  private localServices(): ServiceEntry[] {
    const seen = new Set<number>();
    const list: ServiceEntry[] = [];
    for (const p of this.options.services()) {
      assert(Number.isInteger(p.id) && p.id >= 0 && p.id < SyncLimits.servicesMax, `sync service id ${p.id} outside 0..${SyncLimits.servicesMax - 1}`);
      assert(!seen.has(p.id), `sync service id ${p.id} registered twice`);
      seen.add(p.id);
      list.push({ id: p.id, name: p.name, hooks: p.hooks, activated: false });
    }
    return list.sort((a, b) => a.id - b.id);
  }

  /** sync_process_call_init: trans := trans ∩ members (saved order), then every local init. */
  private callInit(ringId: RingId): void {
    const members = new Set(this.members);
    this.transList = this.transList.filter((n) => members.has(n));
    const trans = [...this.transList];
    const all = [...this.members];
    for (const entry of this.services) entry.hooks?.init(trans, all, ringId);
  }

  private serviceBuildReceived(sender: number, ringId: RingId, ids: readonly number[]): void {
    this.stats.serviceBuildsReceived += 1;
    if (this.ringId === null || !ringIdEquals(this.ringId, ringId)) {
      this.stats.staleDiscarded += 1;
      this.log('debug', 'service build for old ring - discarding', { sender, ringId: ringText(ringId) });
      return;
    }
    let added = false;
    for (const id of ids) {
      if (this.services.some((s) => s.id === id)) continue;
      if (this.services.length >= SyncLimits.servicesMax) {
        this.stats.servicesOverflow += 1;
        continue;
      }
      this.services.push({ id, name: `Unknown External Service (id = ${id})`, hooks: null, activated: false });
      this.stats.dummiesAdded += 1;
      added = true;
    }
    if (added) this.services.sort((a, b) => a.id - b.id);
    if (this.markReceived(sender)) {
      this.log('debug', 'enter sync process', { ringId: ringText(ringId) });
      this.processEnter();
    }
  }

  private barrierReceived(sender: number, ringId: RingId): void {
    this.stats.barriersReceived += 1;
    if (this.ringId === null || !ringIdEquals(this.ringId, ringId)) {
      this.stats.staleDiscarded += 1;
      this.log('debug', 'barrier for old ring - discarding', { sender, ringId: ringText(ringId) });
      return;
    }
    if (!this.markReceived(sender)) return;
    const entry = this.services[this.processingIndex];
    if (entry === undefined) {
      this.stats.unexpectedBarriers += 1;
      return;
    }
    this.log('debug', `Committing synchronization for ${entry.name}`, { service: entry.id });
    entry.activated = true;
    entry.hooks?.activate();
    this.processingIndex += 1;
    if (this.processingIndex === this.services.length) this.complete();
    else this.processEnter();
  }

  /** Marks `sender` received; true when every member has been received. */
  private markReceived(sender: number): boolean {
    for (const p of this.processors) if (p.nodeId === sender) p.received = true;
    return this.processors.every((p) => p.received);
  }

  /** sync_process_enter: start the round of the current service (or finish when there is none). */
  private processEnter(): void {
    this.state = SyncState.process;
    if (this.services.length === 0) {
      this.state = SyncState.serviceListBuild;
      this.complete();
      return;
    }
    for (const p of this.processors) p.received = false;
    this.processPending = true;
  }

  private barrierEnter(): void {
    this.state = SyncState.barrier;
    assert(this.ringId !== null, 'a barrier is only sent for a running sync');
    this.send(encodeSyncBarrier(this.ringId));
  }

  private complete(): void {
    this.stats.syncsCompleted += 1;
    this.options.onComplete();
  }

  private send(message: Uint8Array): void {
    if (this.unsent.length === 0 && this.options.mcast(message) === 'queued') return;
    this.stats.sendsDeferred += 1;
    this.unsent.push(message);
  }

  /** Resends refused sync messages in order; true when none is left. */
  private flushUnsent(): boolean {
    while (this.unsent.length > 0) {
      const next = this.unsent[0];
      if (next === undefined || this.options.mcast(next) !== 'queued') return false;
      this.unsent.shift();
    }
    return true;
  }

  private log(level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.options.log?.(level, message, fields);
  }
}

function ringText(ringId: RingId): string {
  return `${ringId.rep.toString(16)}.${ringId.seq.toString(16)}`;
}
