// SimNetwork: the simulator's Transport (testing.md §4.2). Options follow TigerBeetle's
// PacketSimulatorOptions (src/testing/packet_simulator.zig), renamed in our style. All
// randomness comes from one injected Prng and all time is the caller's tick counter, so
// a seed reproduces every loss, delay, duplicate and partition exactly.
//
// A packet is encoded with the real codec when it is sent and decoded when it arrives;
// each destination gets its own copy of the bytes, so no node ever sees another node's
// objects (the codec's MCAST payload is a view into the datagram).
//
// Everything is bounded: at most `pathCapacityMax` packets in flight per directed path
// (a full path drops, like a UDP socket buffer), so at most N²·pathCapacityMax overall.

import type { Prng } from '../../src/base/prng';
import type { TotemMessage } from '../../src/totem/wire/messages';
import { realCodec, type SimCodec } from './wire';

export const partitionModes = ['none', 'uniformSize', 'uniformPartition', 'isolateSingle'] as const;
export type PartitionMode = (typeof partitionModes)[number];
export type PartitionSymmetry = 'symmetric' | 'asymmetric';
export type MessageTypeName = TotemMessage['type'];

export interface SimNetworkOptions {
  /** Mean of the exponential part of the one-way delay, in ticks. */
  delayTicksMean: number;
  /** Fixed part of the one-way delay, in ticks (a packet never arrives before the next tick). */
  delayTicksMin: number;
  lossRatio: number;
  /** Chance that a delivered packet is delivered again later (a duplicate). */
  replayRatio: number;
  partitionMode: PartitionMode;
  partitionSymmetry: PartitionSymmetry;
  /** Per-tick chance of partitioning while whole (after `unpartitionStabilityTicks`). */
  partitionRatio: number;
  /** Per-tick chance of healing while partitioned (after `partitionStabilityTicks`). */
  unpartitionRatio: number;
  partitionStabilityTicks: number;
  unpartitionStabilityTicks: number;
  /** Packets in flight per directed path; a full path drops new packets. */
  pathCapacityMax: number;
  /** Per-tick, per-path chance that the path clogs (holds its packets). */
  clogRatio: number;
  clogTicksMean: number;
  /** Whether loss, replay, clogging and partitions also hit a node's copy to itself. */
  loopbackFaults: boolean;
}

export const quietNetworkOptions: SimNetworkOptions = Object.freeze({
  delayTicksMean: 1,
  delayTicksMin: 0,
  lossRatio: 0,
  replayRatio: 0,
  partitionMode: 'none',
  partitionSymmetry: 'symmetric',
  partitionRatio: 0,
  unpartitionRatio: 0,
  partitionStabilityTicks: 0,
  unpartitionStabilityTicks: 0,
  pathCapacityMax: 256,
  clogRatio: 0,
  clogTicksMean: 0,
  loopbackFaults: false,
});

/** Drops every packet matching all given fields ("drop every commit token 3→1"). */
export interface LinkFilter {
  readonly from?: number;
  readonly to?: number;
  readonly types?: readonly MessageTypeName[];
}

/** What the cluster wants done with a due packet for a node. */
export type Disposition = 'receive' | 'hold' | 'drop';

export interface Delivery {
  readonly from: number;
  readonly to: number;
  readonly sentTick: number;
  readonly message: TotemMessage;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  replayed: number;
  droppedLoss: number;
  droppedPartition: number;
  droppedCapacity: number;
  droppedFilter: number;
  droppedDown: number;
}

export type NetworkTraceEvent =
  | { readonly ev: 'partition'; readonly tick: number; readonly blocked: readonly string[] }
  | { readonly ev: 'unpartition'; readonly tick: number }
  | { readonly ev: 'clog'; readonly tick: number; readonly from: number; readonly to: number; readonly until: number };

interface Packet {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly type: MessageTypeName;
  readonly sentTick: number;
  readonly arriveTick: number;
  readonly bytes: Uint8Array;
}

interface Path {
  readonly from: number;
  readonly to: number;
  /** Sorted by (arriveTick, id). */
  readonly packets: Packet[];
  clogUntil: number;
  autoBlocked: boolean;
  manualBlocked: boolean;
}

export class SimNetwork {
  readonly nodeIds: readonly number[];
  readonly stats: NetworkStats = {
    sent: 0, delivered: 0, replayed: 0, droppedLoss: 0, droppedPartition: 0,
    droppedCapacity: 0, droppedFilter: 0, droppedDown: 0,
  };
  /** Datagrams the codec could not decode or did not re-encode identically. */
  readonly codecErrors: string[] = [];
  onTrace: ((event: NetworkTraceEvent) => void) | null = null;

  private options: SimNetworkOptions;
  private readonly prng: Prng;
  private readonly codec: SimCodec;
  private readonly paths: Path[] = [];
  private readonly pathIndex = new Map<string, Path>();
  private readonly filters = new Map<number, LinkFilter>();
  private nextFilterId = 1;
  private nextPacketId = 1;
  private partitioned = false;
  private partitionChangedTick = 0;
  private readonly verifyReencode: boolean;

  constructor(nodeIds: readonly number[], options: SimNetworkOptions, prng: Prng,
    codec: SimCodec = realCodec, verifyReencode = true) {
    this.nodeIds = [...nodeIds];
    this.options = { ...options };
    this.prng = prng;
    this.codec = codec;
    this.verifyReencode = verifyReencode;
    for (const from of this.nodeIds) {
      for (const to of this.nodeIds) {
        const path: Path = { from, to, packets: [], clogUntil: 0, autoBlocked: false, manualBlocked: false };
        this.paths.push(path);
        this.pathIndex.set(pathKey(from, to), path);
      }
    }
  }

  get currentOptions(): Readonly<SimNetworkOptions> {
    return this.options;
  }

  setOptions(patch: Partial<SimNetworkOptions>): void {
    this.options = { ...this.options, ...patch };
  }

  /** Encodes once, then queues one copy per destination ('all' includes the sender). */
  send(from: number, to: number | 'all', message: TotemMessage, now: number): void {
    const bytes = this.codec.encode(message);
    if (to === 'all') {
      for (const target of this.nodeIds) this.enqueue(from, target, message.type, bytes, now, true);
    } else {
      this.enqueue(from, to, message.type, bytes, now, true);
    }
  }

  /** Advances partitions and clogs by one tick. */
  tick(now: number): void {
    this.tickPartitions(now);
    if (this.options.clogRatio > 0) {
      for (const path of this.paths) {
        if (path.from === path.to && !this.options.loopbackFaults) continue;
        if (path.clogUntil <= now && this.prng.chance(this.options.clogRatio)) {
          path.clogUntil = now + 1 + this.prng.exponential(this.options.clogTicksMean);
          this.onTrace?.({ ev: 'clog', tick: now, from: path.from, to: path.to, until: path.clogUntil });
        }
      }
    }
  }

  /**
   * Takes every packet due by `now` whose destination `disposition` says 'receive',
   * decoded, in (arrival tick, send order) order. 'hold' leaves packets queued (a
   * paused node: they arrive stale later); 'drop' discards them (a crashed node).
   */
  takeDue(now: number, disposition: (nodeId: number) => Disposition): Delivery[] {
    const due: Packet[] = [];
    for (const path of this.paths) {
      const packets = path.packets;
      if (packets.length === 0 || (packets[0] as Packet).arriveTick > now) continue;
      const action = disposition(path.to);
      if (action === 'hold') continue;
      if (path.clogUntil > now && this.faulty(path)) continue;
      let n = 0;
      while (n < packets.length && (packets[n] as Packet).arriveTick <= now) n++;
      const taken = packets.splice(0, n);
      if (action === 'drop') {
        this.stats.droppedDown += taken.length;
        continue;
      }
      for (const p of taken) {
        if (this.blocked(path)) this.stats.droppedPartition++;
        else due.push(p);
      }
    }
    due.sort((a, b) => a.arriveTick - b.arriveTick || a.id - b.id);
    const out: Delivery[] = [];
    for (const p of due) {
      const message = this.decode(p);
      if (message === null) continue;
      this.stats.delivered++;
      out.push({ from: p.from, to: p.to, sentTick: p.sentTick, message });
      const path = this.pathIndex.get(pathKey(p.from, p.to)) as Path;
      if (this.faulty(path) && this.prng.chance(this.options.replayRatio)) {
        this.stats.replayed++;
        this.enqueue(p.from, p.to, p.type, p.bytes, now, false);
      }
    }
    return out;
  }

  /** Cuts (or restores) the directed link from → to, independently of auto partitions. */
  setLink(from: number, to: number, up: boolean): void {
    this.path(from, to).manualBlocked = !up;
  }

  /** Symmetric manual partition: every link between the two groups is cut. */
  splitManual(groupA: readonly number[], groupB: readonly number[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.setLink(a, b, false);
        this.setLink(b, a, false);
      }
    }
  }

  /** Restores every manual link and ends any automatic partition and clog. */
  healAll(now: number): void {
    for (const path of this.paths) {
      path.manualBlocked = false;
      path.autoBlocked = false;
      path.clogUntil = 0;
    }
    if (this.partitioned) this.onTrace?.({ ev: 'unpartition', tick: now });
    this.partitioned = false;
    this.partitionChangedTick = now;
  }

  addFilter(filter: LinkFilter): number {
    const id = this.nextFilterId++;
    this.filters.set(id, filter);
    return id;
  }

  removeFilter(id: number): void {
    this.filters.delete(id);
  }

  clearFilters(): void {
    this.filters.clear();
  }

  inFlight(): number {
    let n = 0;
    for (const path of this.paths) n += path.packets.length;
    return n;
  }

  isLinkUp(from: number, to: number): boolean {
    return !this.blocked(this.path(from, to));
  }

  private path(from: number, to: number): Path {
    const path = this.pathIndex.get(pathKey(from, to));
    if (path === undefined) throw new RangeError(`no path ${from}->${to}`);
    return path;
  }

  private faulty(path: Path): boolean {
    return path.from !== path.to || this.options.loopbackFaults;
  }

  private blocked(path: Path): boolean {
    return path.manualBlocked || (path.autoBlocked && this.faulty(path));
  }

  private enqueue(from: number, to: number, type: MessageTypeName, bytes: Uint8Array, now: number, fresh: boolean): void {
    const path = this.path(from, to);
    if (fresh) this.stats.sent++;
    if (this.filtered(from, to, type)) {
      this.stats.droppedFilter++;
      return;
    }
    if (this.blocked(path)) {
      this.stats.droppedPartition++;
      return;
    }
    const faulty = this.faulty(path);
    if (fresh && faulty && this.prng.chance(this.options.lossRatio)) {
      this.stats.droppedLoss++;
      return;
    }
    if (path.packets.length >= this.options.pathCapacityMax) {
      this.stats.droppedCapacity++;
      return;
    }
    const delay = faulty
      ? Math.max(1, this.options.delayTicksMin + this.prng.exponential(this.options.delayTicksMean))
      : 1;
    const packet: Packet = {
      id: this.nextPacketId++, from, to, type, sentTick: now, arriveTick: now + delay, bytes: bytes.slice(),
    };
    insertSorted(path.packets, packet);
  }

  private filtered(from: number, to: number, type: MessageTypeName): boolean {
    for (const f of this.filters.values()) {
      if (f.from !== undefined && f.from !== from) continue;
      if (f.to !== undefined && f.to !== to) continue;
      if (f.types !== undefined && !f.types.includes(type)) continue;
      return true;
    }
    return false;
  }

  private decode(p: Packet): TotemMessage | null {
    const result = this.codec.decode(p.bytes);
    if (!result.ok) {
      this.codecErrors.push(`packet ${p.from}->${p.to} (${p.type}) does not decode: ${result.error.message}`);
      return null;
    }
    if (this.verifyReencode) {
      const again = this.codec.encode(result.value);
      if (!bytesEqual(again, p.bytes)) {
        this.codecErrors.push(`packet ${p.from}->${p.to} (${p.type}) re-encodes to different bytes`);
      }
    }
    return result.value;
  }

  private tickPartitions(now: number): void {
    const o = this.options;
    const since = now - this.partitionChangedTick;
    if (this.partitioned) {
      if (since >= o.partitionStabilityTicks && this.prng.chance(o.unpartitionRatio)) {
        for (const path of this.paths) path.autoBlocked = false;
        this.partitioned = false;
        this.partitionChangedTick = now;
        this.onTrace?.({ ev: 'unpartition', tick: now });
      }
      return;
    }
    if (o.partitionMode === 'none' || this.nodeIds.length < 2) return;
    if (since < o.unpartitionStabilityTicks || !this.prng.chance(o.partitionRatio)) return;
    const side = this.chooseSides(o.partitionMode);
    const direction = this.prng.chance(0.5);
    const blockedList: string[] = [];
    for (const path of this.paths) {
      const a = side.get(path.from) as boolean;
      const b = side.get(path.to) as boolean;
      path.autoBlocked = a !== b && (o.partitionSymmetry === 'symmetric' || a === direction);
      if (path.autoBlocked) blockedList.push(`${path.from}->${path.to}`);
    }
    this.partitioned = true;
    this.partitionChangedTick = now;
    this.onTrace?.({ ev: 'partition', tick: now, blocked: blockedList });
  }

  /** One side flag per node, as packet_simulator.zig `partition_network` chooses them. */
  private chooseSides(mode: Exclude<PartitionMode, 'none'>): Map<number, boolean> {
    const ids = this.nodeIds;
    const n = ids.length;
    const side = new Map<number, boolean>();
    switch (mode) {
      case 'uniformSize': {
        const size = 1 + this.prng.nextInt(n - 1);
        const shuffled = shuffle([...ids], this.prng);
        shuffled.forEach((id, i) => side.set(id, i < size));
        break;
      }
      case 'uniformPartition': {
        for (const id of ids) side.set(id, this.prng.chance(0.5));
        const values = [...side.values()];
        if (values.every((v) => v === values[0])) {
          const k = this.prng.nextInt(n);
          side.set(ids[k] as number, true);
          side.set(ids[(k + 1) % n] as number, false);
        }
        break;
      }
      case 'isolateSingle': {
        const k = this.prng.nextInt(n);
        ids.forEach((id, i) => side.set(id, i === k));
        break;
      }
    }
    return side;
  }
}

function pathKey(from: number, to: number): string {
  return `${from}>${to}`;
}

function insertSorted(packets: Packet[], p: Packet): void {
  let i = packets.length;
  while (i > 0) {
    const prev = packets[i - 1] as Packet;
    if (prev.arriveTick < p.arriveTick || (prev.arriveTick === p.arriveTick && prev.id < p.id)) break;
    i--;
  }
  packets.splice(i, 0, p);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function shuffle<T>(items: T[], prng: Prng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
  return items;
}
