// The totempg sender (corosync-wire.md §5.2): packs small messages into one packet per
// token visit and cuts large ones into packets of at most net_mtu bytes, producing the
// same packets corosync 3.1.7 produces from the same sequence of submits and tokens.
//
// How corosync decides, restated (one packing buffer per node, shared by all groups):
// - A message reaches the packer as segments (corosync: iovecs): the group count and
//   lengths, each group name, then the caller's payload pieces. Empty segments are
//   dropped first. The cut decisions below are taken per segment, so the same bytes
//   split into different segments can be packed differently; callers that want
//   corosync's exact packets pass the payload as corosync's service would (e.g. CPG
//   MCAST: the 184-byte exec header, then the application data).
// - room = (net_mtu − 8) − 2·(entries already buffered + 1) while the message starts;
//   after any packet is sent, room = (net_mtu − 8) − 2.
// - A segment is buffered whole when `segment length + buffered bytes < room − 2`. The
//   test uses the segment's *whole* length even when its first part has already been
//   sent; that is why the last piece of a large message is sent at once instead of
//   waiting for the token (the 4189-byte capture: three packets queued together).
// - Otherwise as much as fits (room − buffered) is copied and a packet is queued at once.
//   If that did not finish the message, the packet carries fragmented = f and the next
//   packet continuation = f. f counts 1, 2, … and restarts at 1 whenever a segment was
//   buffered whole, which in practice means at every new message (its small group
//   header segment always fits); it skips 0 when it wraps past 255.
// - A packet that ends the message exactly is sent with fragmented = 0 and the next
//   packet starts with continuation = 0.
// - What stays buffered is sent by flush(), called from totemsrp's "token received"
//   hook (§3.7 step 6), with fragmented = 0 and the pending continuation value.
//
// Backpressure: submit() accepts the whole message or nothing. It first computes the
// exact number of packets the message would queue immediately and refuses with 'full'
// when the caller's capacity() (free slots in the totemsrp send queue) is smaller.
// corosync estimates that number instead (floor(bytes / (net_mtu − 24)) + 1) and
// asserts if the estimate was short; the exact count never over-promises, and it lets
// a message that is only buffered in through a full queue: the buffer then waits for a
// flush, which needs one free slot, and the next message that needs a slot is refused.

import { assert } from '../../base/assert';
import { GROUPS_PER_MESSAGE_MAX, groupHeaderSegments } from './groups';
import { encodePgPacket, PG_HEADER_BYTES } from './packet';

export const FragmenterLimits = {
  /** netmtu 1500 minus two MCAST headers (45 bytes each): room for one encapsulation. */
  netMtuDefault: 1410,
  /** Below this the packer would spend most of a packet on lengths; nothing real uses it. */
  netMtuMin: 64,
  /** An MCAST (45-byte header, possibly encapsulated once more) must fit FRAME_SIZE_MAX. */
  netMtuMax: 65536 - 2 * 45,
  /**
   * Largest message (group header + payload). corosync's receivers assert when a
   * reassembly reaches 1 MiB + 64 KiB, and its own IPC refuses messages of 1 MiB.
   */
  messageBytesMax: 1024 * 1024,
  /** totempg's MAX_IOVECS_FROM_APP. */
  payloadSegmentsMax: 32,
} as const;

export type EmitResult = 'queued' | 'full';
export type SubmitResult = 'queued' | 'full' | 'too-large';
export type FlushResult = 'sent' | 'empty' | 'full';

export interface FragmenterOptions {
  /** totempg net_mtu: corosync.conf netmtu − 2·45 (TotemConfig.netMtu). Default 1410. */
  readonly netMtu?: number;
  /** Largest accepted message, group header included. Default and maximum: 1 MiB. */
  readonly messageBytesMax?: number;
  /** Packets the totemsrp send queue can take right now (corosync: totemsrp_avail). */
  readonly capacity: () => number;
  /**
   * Takes one complete totempg packet; packets arrive in the order they must be sent.
   * During submit() it must return 'queued' (capacity() promised the room); from
   * flush() a 'full' keeps the buffer for the next token.
   */
  readonly emit: (packet: Uint8Array) => EmitResult;
}

export interface FragmenterCounters {
  messagesAccepted: number;
  messagesRefusedFull: number;
  messagesRefusedTooLarge: number;
  /** Packets queued by submit() because a message was cut or filled a packet. */
  packetsCut: number;
  /** Packets queued by flush(). */
  packetsFlushed: number;
}

export class Fragmenter {
  readonly netMtu: number;
  readonly messageBytesMax: number;
  private readonly capacity: () => number;
  private readonly emit: (packet: Uint8Array) => EmitResult;
  /** TOTEMPG_PACKET_SIZE: what follows the 8-byte header (lengths + data). */
  private readonly packetBodyMax: number;
  /** fragmentation_data: the packing buffer. */
  private readonly buffer: Uint8Array;
  /** Lengths of the entries in the buffer; an entry is a whole message or a message's tail. */
  private readonly lens: number[] = [];
  private fill = 0;
  /** The continuation value the next packet carries (fragment_continuation). */
  private continuation = 0;
  /** The next cut number (next_fragment, a u8 that skips 0). */
  private nextFragment = 1;
  private readonly stats: FragmenterCounters = {
    messagesAccepted: 0,
    messagesRefusedFull: 0,
    messagesRefusedTooLarge: 0,
    packetsCut: 0,
    packetsFlushed: 0,
  };

  constructor(options: FragmenterOptions) {
    this.netMtu = options.netMtu ?? FragmenterLimits.netMtuDefault;
    this.messageBytesMax = options.messageBytesMax ?? FragmenterLimits.messageBytesMax;
    assert(
      Number.isInteger(this.netMtu) && this.netMtu >= FragmenterLimits.netMtuMin && this.netMtu <= FragmenterLimits.netMtuMax,
      `netMtu ${this.netMtu} outside ${FragmenterLimits.netMtuMin}..${FragmenterLimits.netMtuMax}`,
    );
    assert(
      Number.isInteger(this.messageBytesMax) && this.messageBytesMax > 0 && this.messageBytesMax <= FragmenterLimits.messageBytesMax,
      `messageBytesMax ${this.messageBytesMax} outside 1..${FragmenterLimits.messageBytesMax}`,
    );
    this.capacity = options.capacity;
    this.emit = options.emit;
    this.packetBodyMax = this.netMtu - PG_HEADER_BYTES;
    this.buffer = new Uint8Array(this.packetBodyMax);
  }

  /**
   * Offers one message to the packer: `groups` (1..32 names) and the payload, whole or
   * as segments. Returns 'queued' when the message was taken (buffered and/or queued as
   * packets), 'full' when the send queue lacks room for the packets it would queue now,
   * 'too-large' when the message exceeds messageBytesMax. Refusals change nothing.
   */
  submit(groups: readonly Uint8Array[], payload: Uint8Array | readonly Uint8Array[]): SubmitResult {
    const segments = this.segmentsOf(groups, payload);
    const total = segments.reduce((sum, s) => sum + s.length, 0);
    if (total > this.messageBytesMax) {
      this.stats.messagesRefusedTooLarge += 1;
      return 'too-large';
    }
    if (this.pack(segments, false) > this.capacity()) {
      this.stats.messagesRefusedFull += 1;
      return 'full';
    }
    this.stats.packetsCut += this.pack(segments, true);
    this.stats.messagesAccepted += 1;
    return 'queued';
  }

  /**
   * Exactly how many packets submit() would queue right now for this message (0 when
   * it would only be buffered). Lets a caller reserve room before committing to send.
   */
  packetsNeeded(groups: readonly Uint8Array[], payload: Uint8Array | readonly Uint8Array[]): number {
    return this.pack(this.segmentsOf(groups, payload), false);
  }

  /**
   * The "token received" hook (§3.7 step 6): sends the buffered entries as one packet
   * with fragmented = 0. Like corosync, it does nothing when the send queue has no free
   * slot; the buffer then waits for the next token.
   */
  flush(): FlushResult {
    if (this.lens.length === 0) return 'empty';
    if (this.capacity() < 1) return 'full';
    assert(this.fill <= this.packetBodyMax - 2 * this.lens.length, 'packing buffer overran its packet');
    if (this.emit(this.packet(0, this.continuation)) === 'full') return 'full';
    this.stats.packetsFlushed += 1;
    this.continuation = 0;
    this.lens.length = 0;
    this.fill = 0;
    return 'sent';
  }

  /** Entries (whole messages or tails) waiting for the next flush. */
  get pendingEntries(): number {
    return this.lens.length;
  }

  /** Bytes waiting for the next flush. */
  get pendingBytes(): number {
    return this.fill;
  }

  counters(): FragmenterCounters {
    return { ...this.stats };
  }

  private segmentsOf(groups: readonly Uint8Array[], payload: Uint8Array | readonly Uint8Array[]): Uint8Array[] {
    assert(groups.length >= 1 && groups.length <= GROUPS_PER_MESSAGE_MAX, `a message names 1..${GROUPS_PER_MESSAGE_MAX} groups`);
    const pieces: readonly Uint8Array[] = payload instanceof Uint8Array ? [payload] : payload;
    assert(pieces.length <= FragmenterLimits.payloadSegmentsMax, `a payload has at most ${FragmenterLimits.payloadSegmentsMax} segments`);
    // corosync drops empty iovecs before packing; they would otherwise change no byte
    // but could change where a cut falls.
    return [...groupHeaderSegments(groups), ...pieces].filter((s) => s.length > 0);
  }

  /**
   * Runs the packing decisions for one message. With `commit` false it only counts the
   * packets that would be queued and leaves every field untouched; with `commit` true it
   * copies bytes, queues the packets and updates the state. Both runs take the same
   * decisions, so the count is exact.
   */
  private pack(segments: readonly Uint8Array[], commit: boolean): number {
    let fill = this.fill;
    let entries = this.lens.length;
    let entry = 0;
    let continuation = this.continuation;
    let next = this.nextFragment;
    let room = this.packetBodyMax - 2 * (entries + 1);
    let packets = 0;
    const last = segments.length - 1;
    segments.forEach((segment, i) => {
      let base = 0;
      while (base < segment.length) {
        // The packet queued in this round carries the continuation pending before it.
        const packetContinuation = continuation;
        const remaining = segment.length - base;
        if (segment.length + fill < room - 2) {
          if (commit) this.buffer.set(segment.subarray(base), fill);
          fill += remaining;
          entry += remaining;
          next = 1;
          base = segment.length;
          continue;
        }
        // Invariant kept by the "< room − 2" test: a buffered message always leaves room
        // for its own length entry plus at least one byte of the next message.
        assert(room - fill >= 1, 'packing buffer has no room left for data');
        const take = Math.min(remaining, room - fill);
        if (commit) this.buffer.set(segment.subarray(base, base + take), fill);
        fill += take;
        entry += take;
        base += take;
        let fragmented = 0;
        if (i < last || base < segment.length) {
          if (next === 0) next = 1;
          fragmented = next;
          continuation = next;
          next = (next + 1) & 0xff;
        } else {
          continuation = 0;
        }
        if (commit) {
          this.lens.push(entry);
          this.fill = fill;
          const result = this.emit(this.packet(fragmented, packetContinuation));
          assert(result === 'queued', 'emit refused a packet that capacity() had room for');
          this.lens.length = 0;
        }
        packets += 1;
        entries = 0;
        entry = 0;
        fill = 0;
        room = this.packetBodyMax - 2;
      }
    });
    if (commit) {
      if (entry !== 0) this.lens.push(entry);
      this.fill = fill;
      this.continuation = continuation;
      this.nextFragment = next;
      assert(this.lens.length === entries + (entry !== 0 ? 1 : 0), 'entry count diverged from the packing run');
    }
    return packets;
  }

  private packet(fragmented: number, continuation: number): Uint8Array {
    const bytes = encodePgPacket({
      version: 0,
      type: 0,
      fragmented,
      continuation,
      msgLens: this.lens,
      data: this.buffer.subarray(0, this.fill),
    });
    assert(bytes.length <= this.netMtu, `totempg packet of ${bytes.length} bytes exceeds net_mtu ${this.netMtu}`);
    return bytes;
  }
}
