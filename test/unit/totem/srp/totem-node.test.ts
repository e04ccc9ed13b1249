// TotemNode behaviour, claim by claim: each test states a fact of the Totem paper
// (Amir et al., ACM TOCS 1995) or of corosync 3.1.7 as corosync-wire.md §3 records it from
// real captures, drives a small lock-step network (harness.ts, real codec on every
// datagram) and checks the observable effects. Swarm testing with faults is in test/sim.

import { describe, expect, test } from '@jest/globals';
import { Prng } from '../../../../src/base/prng';
import { defaultTotemConfig, deriveTotemConfigMs, toTotemConfig } from '../../../../src/totem/config';
import { TotemNode } from '../../../../src/totem/srp/totem-node';
import type { TotemEvent } from '../../../../src/totem/srp/types';
import type { CommitToken, Join, OrfToken } from '../../../../src/totem/wire/messages';
import { Harness } from './harness';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function confchgs(events: readonly TotemEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'confchg' ? [`${e.type} ${e.ringId.rep}.${e.ringId.seq} m=${e.members} l=${e.left} j=${e.joined}`] : []));
}

function formed(ids: number[], config = defaultTotemConfig(ids.length)): Harness {
  const h = new Harness(ids, config);
  for (const id of ids) h.startNode(id);
  expect(h.runUntil(() => h.allOperationalWith(ids), 5000)).toBe(true);
  return h;
}

describe('TotemNode: singleton formation (corosync-wire.md §2.6, §3.3, §3.5)', () => {
  test('on start a node multicasts a join with its loaded ring seq + 1 and only itself', () => {
    const node = new TotemNode({ nodeId: 2, nodelist: [1, 2, 3], config: defaultTotemConfig(3), restoredRingSeq: 0x145n, prng: new Prng(1) });
    node.start();
    const effects = node.takeEffects();
    expect(effects?.persistRingSeq).toBeNull();
    expect(effects?.sends).toHaveLength(1);
    expect(effects?.sends[0]?.to).toBe('all');
    expect(effects?.sends[0]?.message).toMatchObject({ type: 'join', nodeId: 2, systemFrom: 2, ringSeq: 0x146n, procList: [2], failedList: [] });
    expect(node.status().state).toBe('gather');
  });

  test('the commit token carries ring seq = highest seen + 4 and the old ring of each member', () => {
    const h = new Harness([2]);
    const commits: CommitToken[] = [];
    const tokens: OrfToken[] = [];
    h.filter = (_from, _to, m) => {
      if (m.type === 'commit-token') commits.push(m);
      if (m.type === 'orf-token') tokens.push(m);
      return true;
    };
    h.ringSeqs.set(2, 0x139n);
    h.startNode(2);
    expect(h.runUntil(() => h.allOperationalWith([2]), 100)).toBe(true);
    expect(commits).toHaveLength(2);
    expect(commits[0]).toMatchObject({ tokenSeq: 1, membIndex: 1, ringId: { rep: 2, seq: 0x13an + 4n }, addr: [2] });
    expect(commits[0]?.membList[0]).toEqual({ ringId: { rep: 2, seq: 0x13an }, aru: 0, highDelivered: 0, receivedFlg: 1 });
    expect(commits[1]).toMatchObject({ tokenSeq: 2, membIndex: 1 });
    expect(tokens[0]).toMatchObject({ seq: 0, tokenSeq: 0, aru: 0xffffffff, aruAddr: 2, backlog: 0, fcc: 0, retransFlg: 0, rtrList: [] });
    expect(h.ringSeqs.get(2)).toBe(0x13an + 4n);
  });
});

describe('TotemNode: membership (corosync-wire.md §3.2–§3.6)', () => {
  test('three nodes agree on one ring whose representative is the lowest nodeid', () => {
    const h = formed([1, 2, 3]);
    const rings = [1, 2, 3].map((id) => h.nodes.get(id)?.status().ringId);
    expect(new Set(rings.map((r) => `${r?.rep}.${r?.seq}`)).size).toBe(1);
    expect(rings[0]?.rep).toBe(1);
    for (const id of [1, 2, 3]) expect(confchgs(h.events.get(id) ?? []).at(-1)).toMatch(/^regular .* m=1,2,3 /);
  });

  test('a commit token makes two rotations: 2n datagrams for n members', () => {
    const h = formed([1, 2, 3]);
    const commits: CommitToken[] = [];
    h.filter = (_f, _t, m) => {
      if (m.type === 'commit-token') commits.push(m);
      return true;
    };
    h.crash(3);
    h.startNode(3);
    expect(h.runUntil(() => h.allOperationalWith([1, 2, 3]), 5000)).toBe(true);
    const lastRing = commits.at(-1)?.ringId;
    const forRing = commits.filter((c) => c.ringId.seq === lastRing?.seq);
    expect(forRing).toHaveLength(6);
    expect(forRing.map((c) => c.membIndex)).toEqual([1, 2, 3, 3, 3, 3]);
  });

  test('after a crash the survivors reform only after the token and consensus timeouts', () => {
    const config = defaultTotemConfig(3);
    const h = formed([1, 2, 3], config);
    const start = h.now;
    h.crash(3);
    expect(h.runUntil(() => h.allOperationalWith([1, 2]), 5000)).toBe(true);
    const elapsed = h.now - start;
    expect(elapsed).toBeGreaterThanOrEqual(config.consensusTicks);
    expect(elapsed).toBeLessThanOrEqual(config.tokenTicks + config.consensusTicks + 50);
    expect(confchgs(h.events.get(1) ?? []).slice(-2)).toEqual([
      expect.stringMatching(/^transitional .* m=1,2 l=3 j=$/),
      expect.stringMatching(/^regular .* m=1,2 l= j=$/),
    ]);
  });

  test('an orderly leave is a join with nodeid 0 and the survivors reform without a token timeout', () => {
    const config = defaultTotemConfig(3);
    const h = formed([1, 2, 3], config);
    const joins: Join[] = [];
    h.filter = (_f, _t, m) => {
      if (m.type === 'join') joins.push(m);
      return true;
    };
    const start = h.now;
    h.nodes.get(2)?.leave();
    h.drain(2);
    h.crash(2);
    expect(joins[0]).toMatchObject({ nodeId: 0, systemFrom: 2, procList: [1, 3], failedList: [2] });
    expect(h.runUntil(() => h.allOperationalWith([1, 3]), 5000)).toBe(true);
    expect(h.now - start).toBeLessThan(config.tokenTicks);
  });

  test('deviation: a node alone installs its singleton ring after one join period, not at once', () => {
    const config = defaultTotemConfig(3);
    const h = new Harness([1, 2, 3], config);
    h.startNode(2);
    expect(h.runUntil(() => h.nodes.get(2)?.status().state === 'operational', config.joinTicks - 1)).toBe(false);
    expect(h.runUntil(() => h.allOperationalWith([2]), config.joinTicks + 20)).toBe(true);
    expect(confchgs(h.events.get(2) ?? [])).toEqual([expect.stringMatching(/^transitional /), expect.stringMatching(/^regular .* m=2 l= j=2$/)]);
  });

  test('deviations: a restarted node joins the running ring at once, in one configuration, without a ring of itself', () => {
    const config = defaultTotemConfig(3);
    const h = formed([1, 2, 3], config);
    h.crash(3);
    expect(h.runUntil(() => h.allOperationalWith([1, 2]), 5000)).toBe(true);
    const start = h.now;
    const seen = h.events.get(3)?.length ?? 0;
    h.startNode(3);
    // The running ring's answer (a join listing 1, 2, 3) reaches node 3 while it still
    // gathers; merged, it also counts towards consensus, so nobody waits for a join timer.
    expect(h.runUntil(() => h.nodes.get(1)?.status().state === 'commit', 5000)).toBe(true);
    expect(h.now - start).toBeLessThan(config.joinTicks);
    expect(h.runUntil(() => h.allOperationalWith([1, 2, 3]), 5000)).toBe(true);
    expect(confchgs((h.events.get(3) ?? []).slice(seen)).filter((c) => c.startsWith('regular'))).toEqual([expect.stringMatching(/^regular .* m=1,2,3 l= j=1,2,3$/)]);
  });

  test('a restarted node rejoins with a higher ring seq than it had before', () => {
    const h = formed([1, 2, 3]);
    const before = h.nodes.get(3)?.status().ringId.seq ?? 0n;
    h.crash(3);
    h.startNode(3);
    expect(h.runUntil(() => h.allOperationalWith([1, 2, 3]), 5000)).toBe(true);
    expect(h.nodes.get(3)?.status().ringId.seq).toBeGreaterThan(before);
  });
});

describe('TotemNode: ordering (Totem paper §3; corosync-wire.md §3.7–§3.9)', () => {
  test('every node delivers every message in one agreed order', () => {
    const h = formed([1, 2, 3]);
    for (let i = 0; i < 60; i += 1) expect(h.nodes.get(1 + (i % 3))?.submit(text(`m${i}`))).toBe('queued');
    h.run(300);
    const order = h.delivered(1);
    expect(order).toHaveLength(60);
    expect(h.delivered(2)).toEqual(order);
    expect(h.delivered(3)).toEqual(order);
    // Sender FIFO: each node's messages in submit order.
    for (const origin of [0, 1, 2]) {
      const mine = order.filter((m) => Number(m.slice(1)) % 3 === origin).map((m) => Number(m.slice(1)));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });

  test('a lost multicast is requested on the token and retransmitted', () => {
    const h = formed([1, 2, 3]);
    let dropped = 0;
    h.filter = (from, to, m) => {
      if (m.type === 'mcast' && from === 1 && to === 3 && dropped < 3) {
        dropped += 1;
        return false;
      }
      return true;
    };
    const rtrSeen: number[] = [];
    const base = h.filter;
    h.filter = (from, to, m) => {
      if (m.type === 'orf-token' && m.rtrList.length > 0) rtrSeen.push(...m.rtrList.map((r) => r.seq));
      return base(from, to, m);
    };
    for (let i = 0; i < 5; i += 1) h.nodes.get(1)?.submit(text(`x${i}`));
    h.run(400);
    expect(dropped).toBe(3);
    expect(rtrSeen.length).toBeGreaterThan(0);
    expect(h.delivered(3)).toEqual(h.delivered(1));
    expect(h.delivered(3)).toHaveLength(5);
    const retx = [1, 2].map((id) => h.nodes.get(id)?.status().stats.mcastRetx ?? 0);
    expect(retx[0]! + retx[1]!).toBeGreaterThan(0);
  });

  test('flow control: no node sends more than max_messages per token visit', () => {
    const h = formed([1, 2]);
    let perVisit = 0;
    let maxPerVisit = 0;
    h.filter = (from, _to, m) => {
      if (from !== 1) return true;
      if (m.type === 'mcast' && _to === 1) perVisit += 1;
      if (m.type === 'orf-token') {
        maxPerVisit = Math.max(maxPerVisit, perVisit);
        perVisit = 0;
      }
      return true;
    };
    for (let i = 0; i < 200; i += 1) h.nodes.get(1)?.submit(text(`f${i}`));
    h.run(400);
    expect(h.delivered(2)).toHaveLength(200);
    expect(maxPerVisit).toBeLessThanOrEqual(17);
    expect(maxPerVisit).toBeGreaterThan(1);
  });

  test('an idle ring: the representative holds the token, and a sender cancels the hold', () => {
    const h = formed([1, 2, 3]);
    h.run(3000);
    expect(h.nodes.get(1)?.status().stats.tokenHeld).toBeGreaterThan(0);
    let cancels = 0;
    h.filter = (_f, _t, m) => {
      if (m.type === 'token-hold-cancel') cancels += 1;
      return true;
    };
    h.nodes.get(3)?.submit(text('wake'));
    h.drain(3);
    h.run(20);
    expect(cancels).toBeGreaterThan(0);
    expect(h.delivered(1)).toContain('wake');
  });
});

describe('TotemNode: extended virtual synchrony (corosync-wire.md §3.5, §3.6)', () => {
  test('a message only one survivor received is recovered and delivered before the transitional configuration', () => {
    const h = formed([1, 2, 3]);
    // Node 3's next message reaches node 1 only, then node 3 dies before anyone retransmits.
    h.filter = (from, to, m) => !(from === 3 && to === 2 && m.type === 'mcast');
    h.nodes.get(3)?.submit(text('last-words'));
    h.drain(3);
    h.runUntil(() => h.delivered(1).includes('last-words'), 500);
    expect(h.delivered(2)).not.toContain('last-words');
    h.crash(3);
    let encapsulated = 0;
    h.filter = (_f, _t, m) => {
      if (m.type === 'mcast' && m.encapsulated === 1) encapsulated += 1;
      return true;
    };
    expect(h.runUntil(() => h.allOperationalWith([1, 2]), 5000)).toBe(true);
    expect(encapsulated).toBeGreaterThan(0);
    for (const id of [1, 2]) {
      const events = h.events.get(id) ?? [];
      const at = events.findIndex((e) => e.kind === 'deliver' && new TextDecoder().decode(e.payload) === 'last-words');
      const trans = events.findIndex((e, i) => i > at && e.kind === 'confchg' && e.type === 'transitional');
      expect(at).toBeGreaterThanOrEqual(0);
      expect(trans).toBeGreaterThan(at);
    }
  });

  test('configuration changes come as transitional then regular, both with the new ring id', () => {
    const h = formed([1, 2, 3]);
    h.crash(2);
    expect(h.runUntil(() => h.allOperationalWith([1, 3]), 5000)).toBe(true);
    const events = (h.events.get(3) ?? []).filter((e) => e.kind === 'confchg');
    const [trans, regular] = events.slice(-2);
    expect(trans).toMatchObject({ type: 'transitional', members: [1, 3], left: [2], joined: [] });
    expect(regular).toMatchObject({ type: 'regular', members: [1, 3], left: [], joined: [] });
    expect(trans?.ringId).toEqual(regular?.ringId);
    expect(trans?.ringId).toEqual(h.nodes.get(3)?.status().ringId);
  });
});

describe('TotemNode: determinism', () => {
  test('the same inputs produce the same effects', () => {
    const run = (): string => {
      const h = formed([1, 2, 3, 4]);
      for (let i = 0; i < 30; i += 1) h.nodes.get(1 + (i % 4))?.submit(text(`d${i}`));
      h.crash(2);
      h.run(2000);
      return JSON.stringify([1, 3, 4].map((id) => confchgs(h.events.get(id) ?? []).concat(h.delivered(id))));
    };
    expect(run()).toEqual(run());
  });
});

describe('TotemNode: timers follow corosync 3.1.7 (corosync-wire.md §3.13)', () => {
  test.each([
    [2, 3000, 714, 561, 3600],
    [3, 3650, 869, 685, 4380],
    [4, 4300, 1023, 808, 5160],
    [5, 4950, 1178, 932, 5940],
  ])('%i nodes: token %i, token_retransmit %i, hold %i, consensus %i', (n, token, retransmit, hold, consensus) => {
    const ms = deriveTotemConfigMs({}, n);
    expect([ms.token, ms.tokenRetransmit, ms.hold, ms.consensus]).toEqual([token, retransmit, hold, consensus]);
    const ticks = toTotemConfig(ms, 10);
    expect(ticks.tokenTicks).toBe(Math.ceil(token / 10));
    expect(ticks.netMtu).toBe(1410);
  });

  test('the token coefficient applies even to an explicit token; explicit derived values are kept', () => {
    const ms = deriveTotemConfigMs({ token: 1000, consensus: 5000 }, 4);
    expect(ms.token).toBe(2300);
    expect(ms.consensus).toBe(5000);
    expect(ms.tokenRetransmit).toBe(Math.trunc(2300 / 4.2));
  });
});
