// SimNetwork fault knobs and SimCluster's driving contract, with a tiny fake node.

import { describe, expect, test } from '@jest/globals';
import { Prng } from '../../src/base/prng';
import { defaultTotemConfig } from '../../src/totem/config';
import type { TotemEffects, TotemEvent, TotemStatus, TotemStats } from '../../src/totem/srp/types';
import type { MergeDetect, RingId, TotemMessage } from '../../src/totem/wire/messages';
import { type NodeInit, SimCluster, type SimNode } from './cluster';
import { type Delivery, SimNetwork, type SimNetworkOptions, quietNetworkOptions } from './network';

const R: RingId = { rep: 1, seq: 4n };
const md = (from: number): MergeDetect => ({ type: 'merge-detect', nodeId: from, targetNodeId: 0, systemFrom: from, ringId: R });

function net(patch: Partial<SimNetworkOptions> = {}, seed = 1, ids = [1, 2, 3]): SimNetwork {
  return new SimNetwork(ids, { ...quietNetworkOptions, ...patch }, new Prng(seed));
}

function drain(n: SimNetwork, ticks: number, from = 1): Delivery[] {
  const out: Delivery[] = [];
  for (let t = from; t < from + ticks; t++) {
    n.tick(t);
    out.push(...n.takeDue(t, () => 'receive'));
  }
  return out;
}

describe('SimNetwork', () => {
  test("'all' reaches every node including the sender, each with its own decoded copy", () => {
    const n = net();
    const mcast: TotemMessage = {
      type: 'mcast', nodeId: 1, targetNodeId: 0, encapsulated: 2, systemFrom: 1, seq: 1, thisSeqno: 0, ringId: R,
      nodeIdField: 0, guarantee: 0, payload: new Uint8Array([1, 2, 3]),
    };
    n.send(1, 'all', mcast, 0);
    const got = drain(n, 20);
    expect(got.map((d) => d.to).sort()).toEqual([1, 2, 3]);
    const payloads = got.map((d) => (d.message.type === 'mcast' ? d.message.payload : null));
    (payloads[0] as Uint8Array)[0] = 99;
    expect(payloads[1]).toEqual(new Uint8Array([1, 2, 3]));
    expect(got[1]?.message).toEqual(mcast);
  });

  test('loss spares the loopback copy; the fixed delay is honoured', () => {
    const n = net({ lossRatio: 1 });
    n.send(1, 'all', md(1), 0);
    expect(drain(n, 20).map((d) => d.to)).toEqual([1]);
    const m = net({ delayTicksMin: 5, delayTicksMean: 0 });
    m.send(1, 2, md(1), 0);
    expect(drain(m, 4)).toEqual([]);
    expect(drain(m, 1, 5)).toHaveLength(1);
  });

  test('exponential delay reorders packets on one path', () => {
    const n = net({ delayTicksMean: 10 }, 7);
    for (let i = 0; i < 50; i++) n.send(1, 2, { ...md(1), nodeId: i + 1 }, 0);
    const order = drain(n, 200).map((d) => d.message.nodeId);
    expect(order).toHaveLength(50);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
  });

  test('path capacity drops, replay duplicates, filters drop by type and direction', () => {
    const cap = net({ pathCapacityMax: 2 });
    for (let i = 0; i < 3; i++) cap.send(1, 2, md(1), 0);
    expect(drain(cap, 5)).toHaveLength(2);
    expect(cap.stats.droppedCapacity).toBe(1);

    const rep = net({ replayRatio: 1, pathCapacityMax: 3 });
    rep.send(1, 2, md(1), 0);
    expect(drain(rep, 30).length).toBeGreaterThan(1);

    const f = net();
    f.addFilter({ from: 1, to: 2, types: ['merge-detect'] });
    f.send(1, 'all', md(1), 0);
    f.send(2, 1, md(2), 0);
    expect(drain(f, 5).map((d) => `${d.from}>${d.to}`).sort()).toEqual(['1>1', '1>3', '2>1']);
  });

  test('manual partition and heal', () => {
    const n = net();
    n.splitManual([1], [2, 3]);
    n.send(1, 'all', md(1), 0);
    n.send(2, 'all', md(2), 0);
    expect(drain(n, 5).map((d) => `${d.from}>${d.to}`).sort()).toEqual(['1>1', '2>2', '2>3']);
    n.healAll(5);
    n.send(1, 2, md(1), 5);
    expect(drain(n, 5, 6)).toHaveLength(1);
  });

  test('automatic partitions: symmetric isolates both ways, asymmetric one way', () => {
    const sym = net({ partitionMode: 'isolateSingle', partitionRatio: 1, unpartitionRatio: 0 }, 3);
    sym.tick(1);
    const cut = (n: SimNetwork) => [1, 2, 3].flatMap((a) => [1, 2, 3].filter((b) => a !== b && !n.isLinkUp(a, b)).map((b) => `${a}>${b}`));
    expect(cut(sym)).toHaveLength(4);
    const asym = net({ partitionMode: 'isolateSingle', partitionSymmetry: 'asymmetric', partitionRatio: 1 }, 3);
    asym.tick(1);
    expect(cut(asym)).toHaveLength(2);
  });

  test('a clogged path holds packets; hold keeps them for a paused node, drop discards them', () => {
    const c = net({ clogRatio: 1, clogTicksMean: 5 });
    c.send(1, 2, md(1), 0);
    c.tick(1);
    expect(c.takeDue(1, () => 'receive')).toEqual([]);
    c.setOptions({ clogRatio: 0 });
    expect(drain(c, 200, 2)).toHaveLength(1);

    const h = net();
    h.send(1, 2, md(1), 0);
    expect(h.takeDue(10, () => 'hold')).toEqual([]);
    expect(h.takeDue(11, () => 'receive')).toHaveLength(1);
    h.send(1, 2, md(1), 11);
    expect(h.takeDue(20, () => 'drop')).toEqual([]);
    expect(h.stats.droppedDown).toBe(1);
  });

  test('the same seed gives the same deliveries', () => {
    const run = (seed: number) => {
      const n = net({ delayTicksMean: 3, lossRatio: 0.2, replayRatio: 0.1, partitionMode: 'uniformSize', partitionRatio: 0.05,
        unpartitionRatio: 0.1, clogRatio: 0.01, clogTicksMean: 3 }, seed);
      const out: string[] = [];
      for (let t = 1; t < 300; t++) {
        n.send(1 + (t % 3), 'all', md(1 + (t % 3)), t);
        n.tick(t);
        for (const d of n.takeDue(t, () => 'receive')) out.push(`${t}:${d.from}>${d.to}`);
      }
      return out.join(' ');
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});

/** A fake node: joins at start, persists a ring on its first tick, then reports a regular configuration. */
class FakeNode implements SimNode {
  readonly init: NodeInit;
  ticks = 0;
  received: TotemMessage[] = [];
  transAcks = 0;
  private fx: { persistRingSeq: bigint | null; sends: { to: number | 'all'; message: TotemMessage }[]; events: TotemEvent[] } | null = null;

  constructor(init: NodeInit) {
    this.init = init;
  }

  private pending() {
    this.fx ??= { persistRingSeq: null, sends: [], events: [] };
    return this.fx;
  }

  start(): void {
    this.pending().sends.push({ to: 'all', message: md(this.init.nodeId) });
  }

  tick(): void {
    this.ticks++;
    if (this.ticks === 1) {
      const seq = this.init.restoredRingSeq + 4n;
      const ringId = { rep: this.init.nodeId, seq };
      const p = this.pending();
      p.persistRingSeq = seq;
      p.sends.push({ to: 'all', message: { ...md(this.init.nodeId), ringId } });
      p.events.push({ kind: 'confchg', type: 'transitional', ringId, members: [], left: [], joined: [] });
      p.events.push({ kind: 'confchg', type: 'regular', ringId, members: [this.init.nodeId], left: [], joined: [this.init.nodeId] });
    }
  }

  receive(message: TotemMessage): void {
    this.received.push(message);
    if (message.nodeId === 99) throw new Error('boom');
  }

  submit(): 'queued' | 'full' {
    return 'queued';
  }

  transAck(): void {
    this.transAcks++;
  }

  leave(): void {
    this.pending().sends.push({ to: 'all', message: { ...md(this.init.nodeId), nodeId: 0 } });
  }

  takeEffects(): TotemEffects | null {
    const fx = this.fx;
    this.fx = null;
    return fx;
  }

  status(): TotemStatus {
    return {
      nodeId: this.init.nodeId, state: 'gather', ringId: { rep: this.init.nodeId, seq: this.init.restoredRingSeq + 1n },
      members: [], aru: 0, highSeqReceived: 0, highDelivered: 0, sendQueueLength: 0, stats: {} as TotemStats,
    };
  }
}

describe('SimCluster with a fake node', () => {
  function cluster() {
    const nodes = new Map<number, FakeNode>();
    const c = new SimCluster({
      nodeIds: [1, 2], config: defaultTotemConfig(2), network: quietNetworkOptions, seed: 9, statusEvery: 0,
      nodeFactory: (init) => {
        const n = new FakeNode(init);
        nodes.set(init.nodeId, n);
        return n;
      },
    });
    return { c, nodes };
  }

  test('persist before send, transAck after the regular confchg, logs per incarnation', () => {
    const { c, nodes } = cluster();
    c.startAll();
    c.run(5);
    expect(c.allOnlineViolations()).toEqual([]); // the wire monitor saw no unpersisted ring
    expect(c.storedRingSeq(1)).toBe(4n);
    expect(nodes.get(1)?.transAcks).toBe(1);
    expect(nodes.get(2)?.received.length).toBeGreaterThanOrEqual(2);
    expect(c.currentLog(1)?.entries.filter((e) => e.k === 'conf')).toHaveLength(2);
  });

  test('crash keeps the ring seq, restart restores it, lost last write rolls it back', () => {
    const { c, nodes } = cluster();
    c.startAll();
    c.run(3);
    c.crash(1);
    expect(c.isRunning(1)).toBe(false);
    c.start(1);
    expect(nodes.get(1)?.init.restoredRingSeq).toBe(4n);
    c.run(3);
    expect(c.storedRingSeq(1)).toBe(8n);
    c.crash(1, true);
    expect(c.storedRingSeq(1)).toBe(4n);
    expect(c.history.incarnations.filter((l) => l.node === 1).map((l) => [l.inc, l.end?.kind])).toEqual([[0, 'crash'], [1, 'crash']]);
  });

  test('a paused node neither ticks nor receives; its packets wait and arrive after the pause', () => {
    const { c, nodes } = cluster();
    c.startAll();
    c.pause(2, 10);
    c.run(5);
    expect(nodes.get(2)?.ticks).toBe(0);
    expect(nodes.get(2)?.received).toEqual([]);
    c.run(10);
    expect(nodes.get(2)?.ticks).toBeGreaterThan(0);
    expect(nodes.get(2)?.received.length).toBeGreaterThanOrEqual(2);
  });

  test('a node that throws is recorded and stopped', () => {
    const { c } = cluster();
    c.startAll();
    c.network.send(1, 2, { ...md(1), nodeId: 99 }, c.now);
    c.run(3);
    expect(c.violations.map((v) => v.invariant)).toContain('THROW');
    expect(c.isRunning(2)).toBe(false);
  });

  test('clock skew: a fast node ticks more often', () => {
    const nodes = new Map<number, FakeNode>();
    const c = new SimCluster({
      nodeIds: [1, 2], config: defaultTotemConfig(2), network: quietNetworkOptions, seed: 9, statusEvery: 0,
      clockRates: new Map([[2, 1.5]]),
      nodeFactory: (init) => {
        const n = new FakeNode(init);
        nodes.set(init.nodeId, n);
        return n;
      },
    });
    c.startAll();
    c.run(100);
    expect(nodes.get(1)?.ticks).toBe(100);
    expect(nodes.get(2)?.ticks).toBe(150);
  });
});
