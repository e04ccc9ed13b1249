// A fake of everything below the services, for votequorum/quorum tests: nodes with a
// ServiceApi each, rings formed by the test (vqsim-style: `form([1,2],[3])` = two
// partitions), exec messages delivered in one total order per ring, and the sync
// protocol of corosync-wire.md §7.3 (confchg, sync init on every member, then per sync
// service: every member's process() — whose messages go out before its barrier — and
// activate() on every member once all barriers are delivered).
//
// Timing follows real corosync where it matters to votequorum: mcast never delivers
// synchronously; a node that is in no ring yet (just started) keeps its messages until
// it is in one, and they are delivered in that ring right after the configuration
// change, before any sync data (as a starting node's NODEINFO in the captures); by
// default every member runs process() before any of that round's messages are delivered,
// so NODEINFOs carry the flags of the sender's previous calculation, as in the captures.
// A Prng can shuffle both the order of process() calls and the interleaving of senders.

import { Prng } from '../../../src/base/prng';
import { QuorumService } from '../../../src/services/quorum/quorum-service';
import type { LogLevel, Service, ServiceApi, ServiceConfChange } from '../../../src/services/service-api';
import { VotequorumService, type VotequorumNode, type VotequorumSettings } from '../../../src/services/votequorum/votequorum-service';
import type { RingId } from '../../../src/totem/wire/messages';

export interface Delivered {
  readonly ringId: RingId;
  /** Position in the ring's total order, from 1. */
  readonly seq: number;
  readonly sender: number;
  readonly bytes: Uint8Array;
}

type Outgoing = { readonly kind: 'exec'; readonly bytes: Uint8Array } | { readonly kind: 'barrier'; readonly ring: Ring };

interface Ring {
  readonly id: RingId;
  readonly members: readonly number[];
  seq: number;
  /** Sync service ids still to run (ascending); empty when sync is complete. */
  syncServices: number[];
  barriers: Set<number>;
}

export interface FakeLogLine {
  readonly level: LogLevel;
  readonly message: string;
}

export class FakeNode {
  readonly id: number;
  readonly api: ServiceApi;
  services: Service[] = [];
  ring: Ring | null = null;
  /** Messages multicast and not yet delivered (a node in no ring keeps them). */
  readonly out: Outgoing[] = [];
  readonly logs: FakeLogLine[] = [];
  /** When true, mcast answers 'full' (and drops nothing: the message is not taken). */
  sendQueueFull = false;
  quorumProvider: (() => boolean) | null = null;

  constructor(id: number, cluster: FakeCluster) {
    this.id = id;
    this.api = {
      localNodeId: id,
      tickMs: cluster.tickMs,
      mcast: (message) => {
        if (this.sendQueueFull) return 'full';
        const pieces = message instanceof Uint8Array ? [message] : message;
        const bytes = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of pieces) {
          bytes.set(p, at);
          at += p.length;
        }
        this.out.push({ kind: 'exec', bytes });
        return 'queued';
      },
      members: () => this.ring?.members ?? [],
      ringId: () => this.ring?.id ?? { rep: 0, seq: 0n },
      isQuorate: () => (this.quorumProvider ? this.quorumProvider() : true),
      isSyncing: () => this.ring !== null && this.ring.syncServices.length > 0,
      now: () => cluster.now,
      log: (level, message) => void this.logs.push({ level, message }),
    };
  }

  service<T extends Service>(id: number): T {
    const s = this.services.find((x) => x.id === id);
    if (!s) throw new Error(`node ${this.id} has no service ${id}`);
    return s as T;
  }
}

export interface FakeClusterOptions {
  readonly tickMs?: number;
  /** Shuffles process() order and sender interleaving; omitted: ascending node ids, round robin. */
  readonly prng?: Prng;
}

export class FakeCluster {
  readonly tickMs: number;
  now = 0;
  readonly nodes = new Map<number, FakeNode>();
  /** Every exec message delivered, once per ring, in delivery order. */
  readonly delivered: Delivered[] = [];
  private ringSeq = 0n;
  private readonly prng: Prng | undefined;

  constructor(options: FakeClusterOptions = {}) {
    this.tickMs = options.tickMs ?? 100;
    this.prng = options.prng;
  }

  /** Starts a node (in no ring yet): `build` creates its services on its api. */
  start(id: number, build: (node: FakeNode) => Service[]): FakeNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} is running`);
    const node = new FakeNode(id, this);
    this.nodes.set(id, node);
    node.services = build(node);
    return node;
  }

  /** kill -9: the node and its undelivered messages are gone. Call form() for the survivors. */
  crash(id: number): void {
    this.node(id);
    this.nodes.delete(id);
  }

  node(id: number): FakeNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`node ${id} is not running`);
    return n;
  }

  /**
   * New rings, one per partition (every running node must be in exactly one partition
   * listed or keep its ring): delivers what is pending in the old rings, then runs each
   * new ring's configuration change and sync to completion.
   */
  form(...partitions: number[][]): void {
    this.pumpAll();
    const rings: Ring[] = [];
    for (const members of partitions) {
      const sorted = [...members].sort((a, b) => a - b);
      this.ringSeq += 4n;
      const ring: Ring = { id: { rep: sorted[0]!, seq: this.ringSeq }, members: sorted, seq: 0, syncServices: [], barriers: new Set() };
      const syncIds = new Set<number>();
      for (const id of sorted) {
        const node = this.node(id);
        const oldMembers = node.ring ? node.ring.members : [id];
        if (node.ring && node.ring.syncServices.length > 0) {
          const current = node.services.find((s) => s.id === node.ring!.syncServices[0]);
          current?.sync?.abort();
        }
        const trans = oldMembers.filter((m) => sorted.includes(m));
        const transitional: ServiceConfChange = {
          type: 'transitional',
          ringId: ring.id,
          members: trans,
          left: oldMembers.filter((m) => !trans.includes(m)),
          joined: [],
        };
        const regular: ServiceConfChange = {
          type: 'regular',
          ringId: ring.id,
          members: sorted,
          left: [],
          joined: sorted.filter((m) => !trans.includes(m)),
        };
        node.ring = ring;
        for (const s of node.services) s.confchg(transitional);
        for (const s of node.services) s.confchg(regular);
        for (const s of [...node.services].sort((a, b) => a.id - b.id)) {
          if (!s.sync) continue;
          syncIds.add(s.id);
          s.sync.init(trans, sorted, ring.id);
        }
      }
      ring.syncServices = [...syncIds].sort((a, b) => a - b);
      rings.push(ring);
    }
    for (const ring of rings) {
      if (ring.syncServices.length > 0) this.processPhase(ring);
      this.pump(ring);
    }
  }

  /** Advances time by `ticks`, calling every node's services' tick() and delivering after each. */
  tick(ticks = 1): void {
    for (let i = 0; i < ticks; i += 1) {
      this.now += 1;
      for (const node of this.nodes.values()) for (const s of node.services) s.tick?.();
      this.pumpAll();
    }
  }

  /** Delivers everything pending in every ring. */
  pumpAll(): void {
    const rings = new Set<Ring>();
    for (const node of this.nodes.values()) if (node.ring) rings.add(node.ring);
    for (const ring of rings) this.pump(ring);
  }

  /** The running nodes grouped by ring. */
  partitions(): FakeNode[][] {
    const byRing = new Map<Ring, FakeNode[]>();
    for (const node of this.nodes.values()) {
      if (!node.ring) continue;
      const list = byRing.get(node.ring) ?? [];
      list.push(node);
      byRing.set(node.ring, list);
    }
    return [...byRing.values()];
  }

  private liveMembers(ring: Ring): FakeNode[] {
    return ring.members.map((id) => this.nodes.get(id)).filter((n): n is FakeNode => n !== undefined && n.ring === ring);
  }

  private order<T>(items: T[]): T[] {
    if (!this.prng) return items;
    const a = [...items];
    for (let i = a.length - 1; i > 0; i -= 1) {
      const j = this.prng.nextU32() % (i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  /** Every member runs process() for the ring's current sync service, then sends its barrier. */
  private processPhase(ring: Ring): void {
    const serviceId = ring.syncServices[0]!;
    ring.barriers = new Set();
    for (const node of this.order(this.liveMembers(ring))) {
      const s = node.services.find((x) => x.id === serviceId);
      let tries = 0;
      while (s?.sync && s.sync.process() === 'again') {
        tries += 1;
        if (tries > 1000) throw new Error(`node ${node.id}: service ${serviceId} never finishes sync process`);
      }
      node.out.push({ kind: 'barrier', ring });
    }
  }

  private pump(ring: Ring): void {
    let rr = 0;
    for (;;) {
      const members = this.liveMembers(ring);
      const ready = members.filter((n) => n.out.length > 0);
      if (ready.length === 0) return;
      const sender = this.prng ? ready[this.prng.nextU32() % ready.length]! : ready[rr++ % ready.length]!;
      // A token visit: the sender's queue goes out together (with a Prng, a random prefix).
      const burst = this.prng ? 1 + (this.prng.nextU32() % sender.out.length) : sender.out.length;
      for (let i = 0; i < burst; i += 1) this.deliverOne(ring, members, sender, sender.out.shift()!);
    }
  }

  private deliverOne(ring: Ring, members: FakeNode[], sender: FakeNode, item: Outgoing): void {
    if (item.kind === 'barrier') {
      if (item.ring !== ring) return; // a barrier for an older ring: discarded
      ring.barriers.add(sender.id);
      if (members.every((n) => ring.barriers.has(n.id))) {
        const serviceId = ring.syncServices.shift()!;
        for (const n of members) n.services.find((x) => x.id === serviceId)?.sync?.activate();
        if (ring.syncServices.length > 0) this.processPhase(ring);
      }
      return;
    }
    ring.seq += 1;
    this.delivered.push({ ringId: ring.id, seq: ring.seq, sender: sender.id, bytes: item.bytes });
    const view = new DataView(item.bytes.buffer, item.bytes.byteOffset, item.bytes.length);
    const id = view.getInt32(0, true);
    for (const n of members) n.services.find((x) => x.id === id >>> 16)?.deliver(id & 0xffff, sender.id, item.bytes);
  }
}

/** Starts a node with the quorum service and votequorum as corosync wires them. */
export function startVotequorumNode(cluster: FakeCluster, id: number, settings: VotequorumSettings): FakeNode {
  return cluster.start(id, (node) => {
    const quorum = new QuorumService(node.api, { provider: true });
    const vq = VotequorumService.create(node.api, settings, { quorumCallback: (c) => quorum.setQuorum(c) });
    if (!vq.ok) throw new Error(vq.error);
    node.quorumProvider = () => quorum.getQuorate();
    return [quorum, vq.value];
  });
}

export function vq(cluster: FakeCluster, id: number): VotequorumService {
  return cluster.node(id).service<VotequorumService>(5);
}

export function quorumOf(cluster: FakeCluster, id: number): QuorumService {
  return cluster.node(id).service<QuorumService>(3);
}

/** A nodelist of `n` nodes (ids 1..n), one vote each unless `votes` says otherwise. */
export function nodelist(n: number, votes: (id: number) => number = () => 1): readonly VotequorumNode[] {
  return Array.from({ length: n }, (_, i) => ({ nodeId: i + 1, votes: votes(i + 1), name: `node${i + 1}` }));
}
