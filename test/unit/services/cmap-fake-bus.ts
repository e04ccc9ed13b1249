// A fake service layer for the cmap tests: simulated nodes, each with a CmapService over
// a fake ServiceApi whose multicasts go into one bus and are delivered, in the order
// they were sent (a fixed total order), to every member of the sender's ring. Membership
// changes drive confchg (transitional, then regular) and one sync round of cmap as
// exec/sync.c would: init on every member, process until done on every member, every
// message delivered, then activate.

import type { LogLevel, ServiceApi, ServiceConfChange } from '../../../src/services/service-api';
import { CmapService, type CmapServiceOptions } from '../../../src/services/cmap/cmap-service';
import type { RingId } from '../../../src/totem/wire/messages';

export interface LogLine {
  level: LogLevel;
  message: string;
  fields: Readonly<Record<string, unknown>> | undefined;
}

export interface SentMessage {
  sender: number;
  message: Uint8Array;
  /** The pieces as handed to mcast. */
  pieces: Uint8Array[];
  /** The members it is delivered to. */
  to: readonly number[];
}

export class FakeNode {
  readonly id: number;
  readonly service: CmapService;
  readonly logs: LogLine[] = [];
  readonly api: ServiceApi;
  /** The members of this node's current ring (empty before its first). */
  view: number[] = [];
  ring: RingId = { rep: 0, seq: 0n };
  syncing = false;
  /** The next this many mcast calls answer 'full'. */
  fullFor = 0;

  constructor(bus: FakeBus, id: number, options: CmapServiceOptions) {
    this.id = id;
    this.api = {
      localNodeId: id,
      tickMs: 10,
      mcast: (message: Uint8Array | readonly Uint8Array[]): 'queued' | 'full' => {
        if (this.fullFor > 0) {
          this.fullFor -= 1;
          return 'full';
        }
        const pieces = message instanceof Uint8Array ? [message] : [...message];
        bus.sent.push({ sender: id, message: concat(pieces), pieces, to: [...this.view] });
        return 'queued';
      },
      members: () => this.view,
      ringId: () => this.ring,
      isQuorate: () => true,
      isSyncing: () => this.syncing,
      now: () => 0,
      log: (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>): void => {
        this.logs.push({ level, message, fields });
      },
    };
    this.service = new CmapService(this.api, options);
  }

  errors(): string[] {
    return this.logs.filter((l) => l.level === 'error').map((l) => l.message);
  }
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class FakeBus {
  readonly nodes = new Map<number, FakeNode>();
  /** Every message ever sent, in total order. */
  readonly sent: SentMessage[] = [];
  private delivered = 0;
  private seq = 0n;

  node(id: number): FakeNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Starts a node: it forms its singleton ring (with an empty transitional list). */
  start(id: number, options: CmapServiceOptions = {}): FakeNode {
    const node = new FakeNode(this, id, options);
    this.nodes.set(id, node);
    this.form([id]);
    return node;
  }

  /** Delivers every undelivered message, in send order, to the members it was sent to. */
  deliverAll(): number {
    let n = 0;
    while (this.delivered < this.sent.length) {
      const m = this.sent[this.delivered] as SentMessage;
      this.delivered += 1;
      n += 1;
      const id = new DataView(m.message.buffer, m.message.byteOffset).getInt32(0, true);
      for (const to of m.to) {
        if (id >> 16 === 0) this.nodes.get(to)?.service.deliver(id & 0xffff, m.sender, m.message);
      }
    }
    return n;
  }

  /**
   * A new ring of `members` (each of which must be started): every member gets the
   * transitional and regular confchg, then one cmap sync round runs to its end.
   */
  form(members: readonly number[]): RingId {
    const sorted = [...members].sort((a, b) => a - b);
    this.seq += 4n;
    const ringId: RingId = { rep: sorted[0] ?? 0, seq: this.seq };
    const nodes = sorted.map((id) => this.node(id));
    const trans = new Map<number, number[]>();
    for (const node of nodes) {
      const kept = node.view.filter((id) => sorted.includes(id));
      const left = node.view.filter((id) => !sorted.includes(id));
      const joined = sorted.filter((id) => !node.view.includes(id));
      trans.set(node.id, kept);
      const transitional: ServiceConfChange = { type: 'transitional', ringId, members: kept, left, joined: [] };
      const regular: ServiceConfChange = { type: 'regular', ringId, members: sorted, left: [], joined };
      node.service.confchg(transitional);
      node.service.confchg(regular);
      node.view = sorted;
      node.ring = ringId;
      node.syncing = true;
    }
    for (const node of nodes) node.service.sync?.init(trans.get(node.id) ?? [], sorted, ringId);
    for (const node of nodes) {
      let rounds = 0;
      while (node.service.sync?.process() === 'again') {
        rounds += 1;
        if (rounds > 100) throw new Error(`node ${node.id}: sync process never done`);
      }
    }
    this.deliverAll();
    for (const node of nodes) {
      node.service.sync?.activate();
      node.syncing = false;
    }
    return ringId;
  }
}
