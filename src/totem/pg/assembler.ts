// The totempg receiver (corosync-wire.md §5.3): turns each sender's agreed-order totempg
// packets back into whole messages, delivering exactly the messages corosync 3.1.7
// delivers, in the same order, including the ones it loses.
//
// State per sender ("assembly"): a byte buffer, `index` (bytes of the unfinished
// message kept at the buffer start), `lastFragNum` and a throw-away flag. An assembly
// lives from its sender's first packet until a packet with fragmented = 0; the next
// packet then starts from a fresh state (corosync releases the assembly and re-zeroes
// index, lastFragNum and the flag when it takes one again).
//
// Two tables: corosync keeps the normal assemblies aside while the new ring's sync runs
// (§3.6 step 8 → §7.3 step 6) and assembles new-ring traffic in a separate table, so a
// message cut across the ring change can still complete afterwards. At every confchg
// the assemblies of the nodes that left are dropped from both tables.
//
// The throw-away quirk, reproduced on purpose (compatibility means identical
// deliveries): a packet whose continuation differs from lastFragNum delivers nothing and
// switches the assembly to throw-away. While throwing away, a packet with fragmented
// 0 or 1 ends the mode but delivers nothing either: corosync skips the first block and
// never runs the delivery loop for that packet. lastFragNum is not updated by either
// packet, and the index arithmetic of those packets is corosync's too, so a later
// packet may deliver a message that starts with bytes of the broken one, exactly as
// corosync does. Where corosync would read bytes it never wrote (stale buffer content
// from an earlier message, possibly another node's), the bytes here are stale bytes of
// this sender's earlier messages or zeros: same message boundaries, unspecified bytes.
// When msg_count is 0 corosync reads an uninitialised length; it is taken as 0 here.
//
// Limits: corosync asserts when index + packet length reaches 1 MiB + 64 KiB. Here that
// point drops the sender's unfinished bytes instead, enters throw-away (counted as an
// overflow), and continues; before it, behaviour is corosync's byte for byte.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../wire/decode-error';
import { decodePgPacket, PG_HEADER_BYTES, type PgPacket } from './packet';

export const AssemblerLimits = {
  /** MESSAGE_SIZE_MAX + KNET_MAX_PACKET_SIZE: the size of corosync's assembly buffer. */
  bufferBytes: 1024 * 1024 + 64 * 1024,
  /** A released assembly keeps a buffer up to this size for the sender's next message. */
  retainedBufferBytes: 64 * 1024,
  initialBufferBytes: 4096,
  /**
   * PROCESSOR_COUNT_MAX: beyond this many senders in a table, released assemblies are
   * forgotten instead of kept for reuse, so odd sender ids cannot grow the table.
   */
  sendersRetainedMax: 384,
} as const;

export const AssemblyTable = { normal: 'normal', transitional: 'transitional' } as const;
export type AssemblyTableName = (typeof AssemblyTable)[keyof typeof AssemblyTable];

/** A complete totempg message; `message` still starts with its group header (§5.4). */
export interface AssembledMessage {
  readonly sender: number;
  readonly message: Uint8Array;
}

export interface AssemblerCounters {
  /** Packets that decoded and were processed. */
  packets: number;
  /** Packets corosync would ignore (bad lengths) — nothing changed for them. */
  decodeErrors: number;
  messagesDelivered: number;
  /** Times an assembly entered throw-away because of a continuation mismatch. */
  throwAways: number;
  /** Times an assembly reached the buffer bound and dropped its unfinished bytes. */
  overflows: number;
  /** Packets processed in throw-away mode (including the one that started it); none delivered anything. */
  packetsThrownAway: number;
  /** Assemblies dropped at a confchg because their node left. */
  assembliesDiscarded: number;
}

/** Read-only view of one sender's assembly, for tests and diagnostics. */
export interface AssemblyState {
  /**
   * corosync's `index`: normally the bytes kept of the unfinished message. After the
   * throw-away exit it can point past the bytes written (even past the bound, which the
   * next packet then treats as an overflow); it is an offset, not an allocation.
   */
  readonly index: number;
  readonly lastFragNum: number;
  readonly throwAway: boolean;
  /** Bytes allocated for this assembly; never more than the bound. */
  readonly bufferBytes: number;
}

interface Assembly {
  data: Uint8Array;
  index: number;
  lastFragNum: number;
  throwAway: boolean;
  /** False once released: the next packet starts from a fresh state. */
  inUse: boolean;
}

export interface AssemblerOptions {
  /** Reassembly bound per sender, at most (and by default) corosync's 1 MiB + 64 KiB. */
  readonly bufferBytes?: number;
}

export class Assembler {
  readonly bufferBytes: number;
  private readonly tables: Record<AssemblyTableName, Map<number, Assembly>> = {
    normal: new Map(),
    transitional: new Map(),
  };
  private active: AssemblyTableName = AssemblyTable.normal;
  private readonly stats: AssemblerCounters = {
    packets: 0,
    decodeErrors: 0,
    messagesDelivered: 0,
    throwAways: 0,
    overflows: 0,
    packetsThrownAway: 0,
    assembliesDiscarded: 0,
  };

  constructor(options: AssemblerOptions = {}) {
    this.bufferBytes = options.bufferBytes ?? AssemblerLimits.bufferBytes;
    assert(
      Number.isInteger(this.bufferBytes) && this.bufferBytes > 1024 && this.bufferBytes <= AssemblerLimits.bufferBytes,
      `bufferBytes ${this.bufferBytes} outside 1025..${AssemblerLimits.bufferBytes}`,
    );
  }

  /**
   * Takes the totempg packet (MCAST payload) `bytes` from `sender`, in agreed order, and
   * returns the messages it completes, in order. A packet corosync would ignore is a
   * DecodeError and changes nothing. Never throws for any input.
   */
  receive(sender: number, bytes: Uint8Array): Result<AssembledMessage[], DecodeError> {
    const decoded = decodePgPacket(bytes);
    if (!decoded.ok) {
      this.stats.decodeErrors += 1;
      return decoded;
    }
    return this.receivePacket(sender, decoded.value);
  }

  /** As receive(), for a packet already decoded by decodePgPacket (lengths consistent with data). */
  receivePacket(sender: number, packet: PgPacket): Result<AssembledMessage[], DecodeError> {
    const lens = packet.msgLens;
    const count = lens.length;
    assert(lens.reduce((sum, len) => sum + len, 0) === packet.data.length, 'packet lengths disagree with its data; decode it first');
    const packetBytes = PG_HEADER_BYTES + 2 * count + packet.data.length;
    if (packetBytes >= this.bufferBytes) {
      // No datagram can be this large; refuse before touching any assembly.
      this.stats.decodeErrors += 1;
      return err(new DecodeError(DecodeErrorCode.tooLarge, `totempg packet of ${packetBytes} bytes exceeds the reassembly bound`));
    }
    this.stats.packets += 1;
    const a = this.assemblyOf(sender);
    if (a.index + packetBytes >= this.bufferBytes) {
      // corosync asserts here; we give the unfinished message up and wait for the next start.
      this.stats.overflows += 1;
      a.index = 0;
      a.throwAway = true;
    }
    this.reserve(a, a.index + packet.data.length);
    a.data.set(packet.data, a.index);

    const fragmented = packet.fragmented;
    const complete = fragmented !== 0 ? count - 1 : count;
    const delivered: AssembledMessage[] = [];
    if (a.throwAway) {
      this.stats.packetsThrownAway += 1;
      if (fragmented === 0 || fragmented === 1) {
        // Ends throw-away, skips the first block and — the quirk — delivers nothing.
        a.throwAway = false;
        a.index += lens[0] ?? 0;
      }
    } else if (packet.continuation === a.lastFragNum) {
      a.lastFragNum = fragmented;
      // Message 0 spans the kept bytes of the unfinished message plus its first block.
      let start = 0;
      let length = a.index + (lens[0] ?? 0);
      for (let i = 0; i < complete; i += 1) {
        delivered.push({ sender, message: a.data.slice(start, start + length) });
        a.index += lens[i] ?? 0;
        start = a.index;
        length = lens[i + 1] ?? 0;
      }
      this.stats.messagesDelivered += delivered.length;
    } else {
      this.stats.throwAways += 1;
      this.stats.packetsThrownAway += 1;
      a.throwAway = true;
    }

    if (fragmented === 0) {
      this.release(sender, a);
    } else {
      // Keep the trailing partial message. With msg_count 0 corosync reads the length
      // array at index −1, which is msg_count itself: 0.
      const tail = count > 0 ? (lens[count - 1] ?? 0) : 0;
      if (count > 1) {
        a.data.copyWithin(0, a.index, a.index + tail);
        a.index = 0;
      }
      a.index += tail;
    }
    return ok(delivered);
  }

  /** OPERATIONAL entry (§3.6 step 8): new-ring packets assemble in the transitional table. */
  useTransitionalTable(): void {
    this.active = AssemblyTable.transitional;
  }

  /** Sync complete (§7.3 step 6, totempg_trans_ack): back to the normal table. */
  useNormalTable(): void {
    this.active = AssemblyTable.normal;
  }

  get activeTable(): AssemblyTableName {
    return this.active;
  }

  /** At every confchg: forget the unfinished messages of the nodes in its left list, in both tables. */
  discardSenders(left: readonly number[]): void {
    for (const node of left) {
      for (const table of Object.values(this.tables)) {
        const a = table.get(node);
        if (a === undefined) continue;
        if (a.inUse) this.stats.assembliesDiscarded += 1;
        table.delete(node);
      }
    }
  }

  /** The sender's assembly in the active table, or undefined when it has none in use. */
  assemblyState(sender: number): AssemblyState | undefined {
    const a = this.tables[this.active].get(sender);
    if (a === undefined || !a.inUse) return undefined;
    return { index: a.index, lastFragNum: a.lastFragNum, throwAway: a.throwAway, bufferBytes: a.data.length };
  }

  counters(): AssemblerCounters {
    return { ...this.stats };
  }

  private assemblyOf(sender: number): Assembly {
    const table = this.tables[this.active];
    let a = table.get(sender);
    if (a === undefined) {
      a = { data: this.initialBuffer(), index: 0, lastFragNum: 0, throwAway: false, inUse: false };
      table.set(sender, a);
    }
    if (!a.inUse) {
      a.inUse = true;
      a.index = 0;
      a.lastFragNum = 0;
      a.throwAway = false;
    }
    return a;
  }

  private release(sender: number, a: Assembly): void {
    const table = this.tables[this.active];
    if (table.size > AssemblerLimits.sendersRetainedMax) {
      table.delete(sender);
      return;
    }
    a.inUse = false;
    a.index = 0;
    a.lastFragNum = 0;
    // A big message's buffer is not kept around for a sender that may never send another.
    if (a.data.length > AssemblerLimits.retainedBufferBytes) a.data = this.initialBuffer();
  }

  private initialBuffer(): Uint8Array {
    return new Uint8Array(Math.min(AssemblerLimits.initialBufferBytes, this.bufferBytes));
  }

  private reserve(a: Assembly, bytes: number): void {
    assert(bytes <= this.bufferBytes, 'assembly would exceed its bound');
    if (bytes <= a.data.length) return;
    const grown = new Uint8Array(Math.min(this.bufferBytes, Math.max(bytes, 2 * a.data.length)));
    grown.set(a.data);
    a.data = grown;
  }
}
