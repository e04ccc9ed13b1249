// A fake of the layers below the CPG service for tests: several simulated nodes, each
// with its own CpgService behind a fake ServiceApi. Multicasts are appended to the
// sender's ring queue; run() delivers each queued message, in that one total order, to
// every live member of the ring, sender included (agreed order, self-delivery).
// form() installs new rings (transitional then regular confchg, transitional list =
// members that come from the same old ring), starts the sync (abort of a running one,
// init) and leaves the process / barrier / activate steps to the test, or to
// completeSync(), which runs them as exec/sync.c would for the CPG step.

import { CpgService, type CpgConfchgEvent, type CpgDeliverEvent, type CpgHandle, type CpgServiceOptions, type CpgTotemConfchgEvent } from '../../../src/services/cpg/cpg-service';
import { readExecHeader } from '../../../src/services/exec-header';
import type { LogLevel, ServiceApi } from '../../../src/services/service-api';
import type { RingId } from '../../../src/totem/wire/messages';

export interface FakeRing {
  readonly id: RingId;
  readonly members: readonly number[];
  readonly queue: Array<{ sender: number; message: Uint8Array }>;
  syncing: boolean;
}

export interface Delivered {
  readonly ring: RingId;
  readonly sender: number;
  readonly fn: number;
  readonly message: Uint8Array;
}

export class FakeNode implements ServiceApi {
  readonly localNodeId: number;
  readonly tickMs = 1;
  cpg: CpgService;
  ring: FakeRing | null = null;
  alive = true;
  /** While true, mcast() answers 'full'. */
  full = false;
  readonly logs: Array<{ level: LogLevel; message: string }> = [];
  private readonly cluster: FakeCluster;

  constructor(cluster: FakeCluster, nodeId: number, options: CpgServiceOptions) {
    this.cluster = cluster;
    this.localNodeId = nodeId;
    this.cpg = new CpgService(this, options);
  }

  mcast(message: Uint8Array | readonly Uint8Array[]): 'queued' | 'full' {
    if (this.full || !this.alive || this.ring === null) return 'full';
    const parts = message instanceof Uint8Array ? [message] : message;
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    this.ring.queue.push({ sender: this.localNodeId, message: bytes });
    this.cluster.sent.push({ ring: this.ring.id, sender: this.localNodeId, fn: fnOf(bytes), message: bytes });
    return 'queued';
  }

  members(): readonly number[] {
    return this.ring?.members ?? [];
  }

  ringId(): RingId {
    return this.ring?.id ?? { rep: 0, seq: 0n };
  }

  isQuorate(): boolean {
    return true;
  }

  isSyncing(): boolean {
    return this.ring?.syncing ?? false;
  }

  now(): number {
    return 0;
  }

  log(level: LogLevel, message: string): void {
    this.logs.push({ level, message });
  }
}

function fnOf(message: Uint8Array): number {
  const h = readExecHeader(message);
  return h.ok ? h.value.id & 0xffff : -1;
}

export class FakeCluster {
  readonly nodes = new Map<number, FakeNode>();
  /** Every message sent, in send order. */
  readonly sent: Delivered[] = [];
  /** Every message delivered (once per message, not per receiver). */
  readonly delivered: Delivered[] = [];
  private ringSeq = 0n;
  private readonly options: CpgServiceOptions;

  constructor(nodeIds: readonly number[], options: CpgServiceOptions = {}) {
    this.options = options;
    for (const id of nodeIds) this.nodes.set(id, new FakeNode(this, id, { pidBase: id * 1000, ...options }));
  }

  node(id: number): FakeNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  cpg(id: number): CpgService {
    return this.node(id).cpg;
  }

  /** A node crashes: it leaves its ring without delivering anything more. */
  kill(id: number): void {
    const n = this.node(id);
    n.alive = false;
  }

  /** A crashed node starts again with a fresh service and no ring. */
  restart(id: number): void {
    const n = this.node(id);
    n.alive = true;
    n.ring = null;
    n.cpg = new CpgService(n, { pidBase: id * 1000 + 500, ...this.options });
  }

  /** Appends a message to a node's ring queue as if that node had sent it (e.g. a corosync node). */
  inject(sender: number, message: Uint8Array): void {
    const n = this.node(sender);
    if (n.ring === null) throw new Error(`node ${sender} has no ring`);
    n.ring.queue.push({ sender, message });
  }

  private rings(): FakeRing[] {
    const out = new Set<FakeRing>();
    for (const n of this.nodes.values()) if (n.ring) out.add(n.ring);
    return [...out];
  }

  /** Delivers up to `limit` queued messages of every ring, in queue order. */
  run(limit = Infinity): number {
    let count = 0;
    for (const ring of this.rings()) {
      while (ring.queue.length > 0 && count < limit) {
        const next = ring.queue.shift();
        if (next === undefined) break;
        count += 1;
        const fn = fnOf(next.message);
        this.delivered.push({ ring: ring.id, sender: next.sender, fn, message: next.message });
        for (const id of ring.members) {
          const n = this.node(id);
          if (n.alive && n.ring === ring) n.cpg.deliver(fn, next.sender, next.message);
        }
      }
    }
    return count;
  }

  /**
   * Installs new rings. Queued messages of the old rings are delivered first unless
   * `drop` (then they are lost). Each member gets the transitional and regular confchg,
   * an abort if its previous sync was still running, and sync init.
   */
  form(groups: ReadonlyArray<readonly number[]>, options: { drop?: boolean } = {}): FakeRing[] {
    if (options.drop) for (const r of this.rings()) r.queue.length = 0;
    else this.run();
    const previous = new Map<number, FakeRing | null>();
    for (const n of this.nodes.values()) previous.set(n.localNodeId, n.ring);
    const made: FakeRing[] = [];
    for (const group of groups) {
      const members = [...group].sort((a, b) => a - b);
      this.ringSeq += 4n;
      const ring: FakeRing = { id: { rep: members[0] ?? 0, seq: this.ringSeq }, members, queue: [], syncing: true };
      made.push(ring);
      for (const id of members) {
        const n = this.node(id);
        const old = previous.get(id) ?? null;
        const oldMembers = old?.members ?? [id];
        const trans = members.filter((m) => previous.get(m) === old && (old !== null || m === id));
        if (old?.syncing) n.cpg.sync?.abort();
        n.ring = ring;
        n.cpg.confchg({ type: 'transitional', ringId: ring.id, members: trans, left: oldMembers.filter((m) => !trans.includes(m)), joined: [] });
        n.cpg.confchg({ type: 'regular', ringId: ring.id, members, left: [], joined: members.filter((m) => !trans.includes(m)) });
        n.cpg.sync?.init(trans, members, ring.id);
      }
    }
    for (const n of this.nodes.values()) if (!n.alive) n.ring = null;
    return made;
  }

  /** Calls sync process() on the given members of a ring (default all), until done. */
  processSync(ring: FakeRing, ids: readonly number[] = ring.members): void {
    for (const id of ids) {
      const n = this.node(id);
      if (!n.alive || n.ring !== ring) continue;
      for (let i = 0; i < 10; i += 1) if (n.cpg.sync?.process() === 'done') break;
    }
  }

  /** The barrier completed: activate on every live member and end the sync. */
  activateSync(ring: FakeRing): void {
    for (const id of ring.members) {
      const n = this.node(id);
      if (n.alive && n.ring === ring) n.cpg.sync?.activate();
    }
    ring.syncing = false;
  }

  /** process() on all, deliver, activate on all. */
  completeSync(ring: FakeRing): void {
    this.processSync(ring);
    this.run();
    this.activateSync(ring);
  }

  /** form() and complete the sync of every new ring. */
  reform(groups: ReadonlyArray<readonly number[]>, options: { drop?: boolean } = {}): FakeRing[] {
    const rings = this.form(groups, options);
    for (const r of rings) this.completeSync(r);
    return rings;
  }
}

export type RecordedEvent = string;

/** Records a handle's events as compact strings: confchg / deliver / totem. */
export function record(handle: CpgHandle): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  handle.onConfchg((e) => events.push(confchgText(e)));
  handle.onDeliver((e) => events.push(deliverText(e)));
  handle.onTotemConfchg((e) => events.push(totemText(e)));
  return events;
}

const text = new TextDecoder();

export function confchgText(e: CpgConfchgEvent): string {
  const m = e.members.map((x) => `${x.nodeId}:${x.pid}`).join(',');
  const j = e.joined.map((x) => `${x.nodeId}:${x.pid}:${x.reason}`).join(',');
  const l = e.left.map((x) => `${x.nodeId}:${x.pid}:${x.reason}`).join(',');
  return `confchg ${e.group} members=[${m}] joined=[${j}] left=[${l}]`;
}

export function deliverText(e: CpgDeliverEvent): string {
  return `deliver ${e.group} ${e.nodeId}:${e.pid} ${text.decode(e.payload)}`;
}

export function totemText(e: CpgTotemConfchgEvent): string {
  return `totem ${e.ringId.rep}.${e.ringId.seq} [${e.members.join(',')}]`;
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
