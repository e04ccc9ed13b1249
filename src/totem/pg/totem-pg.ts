// totempg over one TotemNode (corosync-wire.md §5, §3.6; corosync exec/totempg.c): the
// layer between Totem SRP and the corosync groups. Outgoing messages are packed and cut
// by the Fragmenter and the packing buffer is flushed on every token (totempg's
// TOTEM_CALLBACK_TOKEN_RECEIVED callback); incoming totempg packets are reassembled per
// sender by the Assembler and split into group messages.
//
// The two reassembly tables follow totemsrp's waiting_trans_ack flag, as corosync's
// totempg_waiting_trans_ack_cb does:
// - at start the flag is set (totemsrp_initialize calls the callback with 1), so the
//   first ring is assembled in the transitional table until its sync completes;
// - memb_state_operational_enter switches to the transitional table after the
//   transitional deliveries and before the REGULAR confchg (the "Switch totempg buffers"
//   comment there): an old-ring message cut across the change still completes in the
//   normal table, and the new ring starts in the transitional one;
// - totempg_trans_ack (sync complete) switches back to the normal table.
// At every confchg the assemblies of the nodes in its left list are dropped from both
// tables before the confchg is handed up (app_confchg_fn, assembly_deref_from_normal_and_trans).
//
// Everything here is synchronous and driven by the caller: process() takes the node's
// events in order and returns the group deliveries and confchgs in the same order.
// Malformed packets and group headers are counted and dropped, never thrown.

import type { ConfChangeEvent, TotemEvent } from '../srp/types';
import { Assembler, type AssemblerCounters, type AssemblyTableName } from './assembler';
import { Fragmenter, type FlushResult, type FragmenterCounters, type SubmitResult } from './fragmenter';
import { decodeGroupMessage } from './groups';

/** What TotemPg needs of a TotemNode (the real one, or a fake in tests). */
export interface TotemPgNode {
  submit(payload: Uint8Array): 'queued' | 'full';
  /** Free slots in the active send queue (totemsrp_avail). */
  available(): number;
  transAck(): void;
  onTokenReceived(callback: () => void): void;
  /**
   * totemsrp_event_signal: a message is about to be queued, so a held token must be
   * released (TOKEN_HOLD_CANCEL). Optional for test doubles.
   */
  signalNewMessage?(): void;
}

export interface TotemPgOptions {
  /** totempg net_mtu (TotemConfig.netMtu); must equal the node's. Default 1410. */
  readonly netMtu?: number;
  /** Largest accepted message, group header included (default 1 MiB). */
  readonly messageBytesMax?: number;
  /** Per-sender reassembly bound (default corosync's 1 MiB + 64 KiB). */
  readonly assemblerBufferBytes?: number;
}

/** One complete group message: the group names it lists and its payload (header stripped). */
export interface PgDeliverEvent {
  readonly kind: 'deliver';
  readonly sender: number;
  readonly groups: readonly Uint8Array[];
  readonly payload: Uint8Array;
}

export type PgEvent = PgDeliverEvent | ConfChangeEvent;

export interface TotemPgCounters {
  /** Totem deliveries (totempg packets) handed to process(). */
  packetsReceived: number;
  /** Packets the assembler refused (bad lengths, too large): dropped. */
  packetsMalformed: number;
  /** Complete group messages delivered. */
  messagesDelivered: number;
  /** Reassembled messages whose group header does not fit: dropped. */
  groupHeadersMalformed: number;
  confchgs: number;
  mcastQueued: number;
  mcastFull: number;
  mcastTooLarge: number;
  /** Token visits on which the packing buffer went out. */
  flushesSent: number;
  /** Token visits on which the packing buffer had to wait (send queue full). */
  flushesBlocked: number;
  tableSwitches: number;
  fragmenter: FragmenterCounters;
  assembler: AssemblerCounters;
}

type Counted = Omit<TotemPgCounters, 'fragmenter' | 'assembler'>;

export class TotemPg {
  readonly netMtu: number;
  private readonly node: TotemPgNode;
  private readonly fragmenter: Fragmenter;
  private readonly assembler: Assembler;
  private readonly tokenCallbacks: Array<() => void> = [];
  private readonly stats: Counted = {
    packetsReceived: 0,
    packetsMalformed: 0,
    messagesDelivered: 0,
    groupHeadersMalformed: 0,
    confchgs: 0,
    mcastQueued: 0,
    mcastFull: 0,
    mcastTooLarge: 0,
    flushesSent: 0,
    flushesBlocked: 0,
    tableSwitches: 0,
  };

  constructor(node: TotemPgNode, options: TotemPgOptions = {}) {
    this.node = node;
    this.fragmenter = new Fragmenter({
      ...(options.netMtu !== undefined ? { netMtu: options.netMtu } : {}),
      ...(options.messageBytesMax !== undefined ? { messageBytesMax: options.messageBytesMax } : {}),
      capacity: () => node.available(),
      emit: (packet) => node.submit(packet),
    });
    this.netMtu = this.fragmenter.netMtu;
    this.assembler = new Assembler(options.assemblerBufferBytes !== undefined ? { bufferBytes: options.assemblerBufferBytes } : {});
    // totemsrp starts with waiting_trans_ack set and tells totempg so at initialisation.
    this.assembler.useTransitionalTable();
    node.onTokenReceived(() => this.tokenReceived());
  }

  /**
   * Offers one message (totempg_groups_mcast_joined) naming `groups`; the payload whole
   * or as segments (corosync's iovecs). Small messages wait in the packing buffer for
   * the next token; large ones are cut and queued at once. All or nothing.
   */
  mcast(groups: readonly Uint8Array[], payload: Uint8Array | readonly Uint8Array[]): SubmitResult {
    // As corosync's mcast_msg: cancel a token hold first, even when the message only goes
    // into the packing buffer, or it would wait for the hold timer on an idle ring.
    this.node.signalNewMessage?.();
    const result = this.fragmenter.submit(groups, payload);
    if (result === 'queued') this.stats.mcastQueued += 1;
    else if (result === 'full') this.stats.mcastFull += 1;
    else this.stats.mcastTooLarge += 1;
    return result;
  }

  /** Exactly how many send-queue slots mcast() would need now (0 when it only buffers). */
  packetsNeeded(groups: readonly Uint8Array[], payload: Uint8Array | readonly Uint8Array[]): number {
    return this.fragmenter.packetsNeeded(groups, payload);
  }

  /**
   * Registers a callback run on every token visit after the packing buffer was flushed
   * (the service host runs the sync protocol's deferred work there).
   */
  onTokenReceived(callback: () => void): void {
    this.tokenCallbacks.push(callback);
  }

  /**
   * Takes one event of the node, in the node's order, and returns what it means for the
   * groups, in order: the complete group messages a delivered packet finishes, or the
   * confchg itself.
   */
  process(event: TotemEvent): PgEvent[] {
    if (event.kind === 'confchg') return [this.confchg(event)];
    this.stats.packetsReceived += 1;
    const assembled = this.assembler.receive(event.sender, event.payload);
    if (!assembled.ok) {
      this.stats.packetsMalformed += 1;
      return [];
    }
    const out: PgEvent[] = [];
    for (const { sender, message } of assembled.value) {
      const decoded = decodeGroupMessage(message);
      if (!decoded.ok) {
        this.stats.groupHeadersMalformed += 1;
        continue;
      }
      this.stats.messagesDelivered += 1;
      out.push({ kind: 'deliver', sender, groups: decoded.value.groups, payload: decoded.value.payload });
    }
    return out;
  }

  /**
   * Sync has completed (totempg_trans_ack): totemsrp goes back to the normal send queue
   * and reassembly to the normal table.
   */
  transAck(): void {
    this.node.transAck();
    this.switchTable('normal');
  }

  /** Sends the packing buffer now (what the token hook does). */
  flush(): FlushResult {
    return this.fragmenter.flush();
  }

  get activeTable(): AssemblyTableName {
    return this.assembler.activeTable;
  }

  /** Entries waiting in the packing buffer for the next token. */
  get pendingEntries(): number {
    return this.fragmenter.pendingEntries;
  }

  counters(): TotemPgCounters {
    return { ...this.stats, fragmenter: this.fragmenter.counters(), assembler: this.assembler.counters() };
  }

  private confchg(event: ConfChangeEvent): ConfChangeEvent {
    this.stats.confchgs += 1;
    // totemsrp switches the tables just before it delivers the REGULAR configuration.
    if (event.type === 'regular') this.switchTable('transitional');
    this.assembler.discardSenders(event.left);
    return event;
  }

  private switchTable(table: AssemblyTableName): void {
    if (this.assembler.activeTable === table) return;
    this.stats.tableSwitches += 1;
    if (table === 'normal') this.assembler.useNormalTable();
    else this.assembler.useTransitionalTable();
  }

  private tokenReceived(): void {
    const flushed = this.fragmenter.flush();
    if (flushed === 'sent') this.stats.flushesSent += 1;
    else if (flushed === 'full') this.stats.flushesBlocked += 1;
    for (const callback of this.tokenCallbacks) callback();
  }
}
