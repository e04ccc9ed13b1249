// Services-mode regression scenarios (testing.md §4.4), each with real TotemNodes running
// ServiceHost + cmap, cfg, cpg, quorum and votequorum on the simulator, fast timers (token
// 300 ms = 30 ticks) and every services checker at the end (T1–T11 with totempg packets,
// C1–C5, CPG-M, Q1–Q4, M1).
//
// F5 and F6 (FINDINGS.md) were open findings pinned with `test.failing`; both are fixed.

import { describe, expect, test } from '@jest/globals';
import { checkCpgConvergence, type CoreCpgView } from './checkers/cpg';
import { checkQuorumAgreement } from './checkers/quorum';
import type { Violation } from './checkers/violation';
import { runSeed } from './run-seed';
import { runUntil } from './scenario';
import type { SimCpgClient } from './services';
import { seedFailure } from './swarm-plan';
import {
  type ServicesScenario, connect, join, mcast, retryPending, servicesScenario, servicesViolations, stack, synced,
} from './services-scenario';

const G = 'g';

function formed(o: Parameters<typeof servicesScenario>[0] = {}, ids?: readonly number[]): ServicesScenario {
  const s = servicesScenario(o);
  const members = ids ?? s.ids;
  for (const id of members) s.cluster.start(id);
  runUntil(s.cluster, () => synced(s, members), 5000, `sync of ${members.join(',')}`);
  return s;
}

/** One client per node, joined to G; returns them once every client sees all of them. */
function clientsIn(s: ServicesScenario, ids: readonly number[], group = G): Map<number, SimCpgClient> {
  const clients = new Map(ids.map((id) => [id, connect(s, id)] as const));
  for (const [id, c] of clients) join(s, id, c, group);
  const keys = [...clients].map(([id, c]) => `${id}:${c.handle.pid}`).sort().join(' ');
  runUntil(s.cluster, () => {
    retryPending(s, [...clients]);
    return [...clients.values()].every((c) => [...(c.monitor.view(group) ?? [])].sort().join(' ') === keys);
  }, 3000, `clients of ${ids.join(',')} in ${group}`);
  return clients;
}

function coreViews(s: ServicesScenario, ids: readonly number[]): CoreCpgView[] {
  return ids.map((id) => {
    const sn = stack(s, id);
    return {
      node: id,
      groups: sn.groups(),
      clients: sn.clients.map((c) => ({
        name: c.name, views: new Map(c.monitor.groupsIn().map((g) => [g, c.monitor.view(g) ?? []] as const)), unsettled: c.monitor.unsettled(),
      })),
    };
  });
}

function expectClean(found: readonly Violation[]): void {
  expect(found.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
}

describe('services regression scenarios (testing.md §4.4)', () => {
  // corosync PR #828: a node joins the ring and its corosync exits during the same sync
  // round; its JOINLIST, already delivered, must not survive the aborted round (the next
  // round would replay it as a NODEUP for a node that is gone: a permanent ghost).
  test('a node joins and dies during sync: no permanent ghost, the per-service abort runs (corosync PR #828, F6)', () => {
    const s = formed({ nodes: 4 }, [1, 2, 4]);
    const token = s.cluster.options.config.tokenTicks;
    const survivors = [1, 2, 4];
    s.cluster.network.splitManual(survivors, [3]);
    const clients = clientsIn(s, [1, 2]);
    s.cluster.start(3);
    runUntil(s.cluster, () => synced(s, [3]), 3000, 'node 3 alone');
    clientsIn(s, [3]);
    const aborts = stack(s, 1).cpg.counters().syncAborts;
    // Heal once node 3's lone ring has settled: healed in the very tick its clients'
    // joins completed, node 3 happens to send the last CPG barrier of the next round, and
    // its death no longer interrupts a round that waits for barriers.
    const settled = s.cluster.now + token;
    runUntil(s.cluster, () => s.cluster.now >= settled, token + 1, 'node 3 idle');
    s.cluster.network.healAll(s.cluster.now);
    // Node 3 joins; in the CPG round of the sync of 1..4 its DOWNLIST, JOINLIST and
    // BARRIER wait in its packing buffer for its next token. On that visit they go out,
    // but the token it forwards is lost and then node 3 dies: the nodes after it never
    // send their barriers, so the round is aborted with node 3's JOINLIST delivered while
    // node 1 waits for barriers (sync.c calls no abort hook then).
    runUntil(s.cluster, () => {
      const st = stack(s, 3).host.status().sync;
      return st.members.length === 4 && st.services[st.processingIndex]?.id === 2 && st.state === 'barrier'
        && stack(s, 3).host.pg.pendingEntries > 0;
    }, 60 * token, 'node 3\'s CPG round messages buffered');
    const filter = s.cluster.network.addFilter({ from: 3, types: ['orf-token'] });
    runUntil(s.cluster, () => stack(s, 3).host.pg.pendingEntries === 0, 60 * token, 'node 3 sent its CPG round');
    s.cluster.crash(3);
    s.cluster.network.removeFilter(filter);
    runUntil(s.cluster, () => synced(s, survivors), 80 * token, 'ring 1,2,4 again');
    s.cluster.run(10 * token);
    for (const id of survivors) {
      for (const g of stack(s, id).cpg.groups()) expect([id, g.members.filter((m) => m.nodeId === 3)]).toEqual([id, []]);
    }
    for (const c of clients.values()) expect((c.monitor.view(G) ?? []).filter((p) => p.startsWith('3:'))).toEqual([]);
    expect(stack(s, 1).cpg.counters().syncAborts).toBeGreaterThan(aborts);
    expectClean(servicesViolations(s));
  });

  // FINDINGS F5: a client's leave sits in totemsrp's regular queue (behind a backlog) when
  // the ring changes; it goes out only after the new ring's sync. corosync's JOINLIST
  // still lists the process, so nothing changes until its PROCLEAVE arrives (LEAVE).
  test('a leave still queued across a configuration change: LEAVE everywhere, one process list at sync completion (F5)', () => {
    const s = formed({ nodes: 4, totem: { windowSize: 17, maxMessages: 1 } });
    const clients = clientsIn(s, [1, 2, 3, 4]);
    const token = s.cluster.options.config.tokenTicks;
    const c1 = clients.get(1) as SimCpgClient;
    const leaver = connect(s, 1);
    join(s, 1, leaver, G);
    runUntil(s.cluster, () => leaver.monitor.view(G) !== null, 1000, 'leaver joined');
    s.cluster.run(5 * token);
    mcast(s, 1, c1, G, 20_000);
    s.cluster.run(2);
    s.cluster.act(1, 'leave', () => stack(s, 1).leave(leaver, G));
    s.cluster.run(token);
    s.cluster.crash(4);
    runUntil(s.cluster, () => synced(s, [1, 2, 3]), 80 * token, 'ring 1,2,3');
    runUntil(s.cluster, () => leaver.monitor.view(G) === null, 80 * token, 'leave delivered');
    s.cluster.run(5 * token);
    const pid = leaver.handle.pid;
    const c2 = clients.get(2) as SimCpgClient;
    const reasons = c2.log.entries.flatMap((e) => (e.k === 'confchg' ? e.left.filter((l) => l.nodeId === 1 && l.pid === pid).map((l) => l.reason) : []));
    expect(reasons).toEqual([2]);
    expectClean(servicesViolations(s));
  });

  // corosync PR #347: node 1 (here 3) is paused past the token timeout; the others see it
  // fail and tell their clients; after the pause its own clients must learn that the
  // others "left" (its downlist is its own), then see them join again.
  test('pause past the token timeout: the paused node\'s clients learn that the others left (corosync PR #347)', () => {
    const s = formed({ nodes: 3 });
    const clients = clientsIn(s, [1, 2, 3]);
    const token = s.cluster.options.config.tokenTicks;
    const pausedAt = s.cluster.now;
    s.cluster.pause(3, 4 * token);
    runUntil(s.cluster, () => synced(s, [1, 2]), 6 * token, 'survivors 1,2');
    const c1 = clients.get(1) as SimCpgClient;
    const c3 = clients.get(3) as SimCpgClient;
    const pid = (id: number): number => (clients.get(id) as SimCpgClient).handle.pid;
    const leftAt = (c: SimCpgClient, id: number): boolean => c.log.entries.some((e) => e.k === 'confchg' && e.tick > pausedAt
      && e.left.some((l) => l.nodeId === id && l.pid === pid(id) && l.reason === 3));
    expect(leftAt(c1, 3)).toBe(true);
    runUntil(s.cluster, () => synced(s, [1, 2, 3]), 60 * token, 'all three again');
    expect(leftAt(c3, 1)).toBe(true);
    expect(leftAt(c3, 2)).toBe(true);
    const joinedAgain = c3.log.entries.some((e) => e.k === 'confchg' && e.tick > pausedAt && e.joined.some((j) => j.nodeId === 1 && j.reason === 4));
    expect(joinedAgain).toBe(true);
    s.cluster.run(10 * token);
    expectClean([...servicesViolations(s), ...checkCpgConvergence([1, 2, 3], coreViews(s, [1, 2, 3]), s.cluster.now)]);
  });

  // corosync issue #351 (fixed by PR #468): after a partition heals, each client gets one
  // confchg per group with every process of the other side, and no disagreement is left.
  test('partition, then heal: one NODEUP confchg per group, one process list everywhere (corosync issue #351)', () => {
    const ids = [1, 2, 3, 4, 5];
    const s = formed({ nodes: 5 });
    const clients = clientsIn(s, ids);
    const token = s.cluster.options.config.tokenTicks;
    s.cluster.network.splitManual([1, 2], [3, 4, 5]);
    runUntil(s.cluster, () => synced(s, [1, 2]) && synced(s, [3, 4, 5]), 60 * token, 'two sides');
    const healedAt = s.cluster.now;
    s.cluster.network.healAll(healedAt);
    runUntil(s.cluster, () => synced(s, ids), 80 * token, 'one ring of five');
    const ring = stack(s, 1).ring();
    for (const [id, c] of clients) {
      const ups = c.log.entries.filter((e) => e.k === 'confchg' && e.tick >= healedAt && e.ring === ring && e.joined.length > 0);
      expect(ups).toHaveLength(1);
      const other = id <= 2 ? [3, 4, 5] : [1, 2];
      const up = ups[0];
      expect(up?.k === 'confchg' ? up.joined.map((j) => `${j.nodeId}/${j.reason}`).sort() : []).toEqual(other.map((n) => `${n}/4`));
    }
    s.cluster.run(20 * token);
    expectClean([...servicesViolations(s), ...checkCpgConvergence(ids, coreViews(s, ids), s.cluster.now)]);
  });

  // totempg cuts a 20 kB CPG message into many packets; with one packet per token visit
  // (max_messages 1) a configuration change falls in the middle of it.
  describe('a 20 kB CPG message cut across a configuration change (corosync\'s rules)', () => {
    const slow = { totem: { windowSize: 17, maxMessages: 1 } } as const;

    function started(s: ServicesScenario, from: number): () => number {
      const packets = (): number => stack(s, from).host.pg.counters().packetsReceived;
      const at = packets();
      return () => packets() - at;
    }

    test('the sender survives: every survivor delivers it once, intact, after the new ring\'s sync', () => {
      const s = formed({ nodes: 3, ...slow });
      const clients = clientsIn(s, [1, 2, 3]);
      const received = started(s, 2);
      const ring = stack(s, 1).ring();
      const msg = mcast(s, 1, clients.get(1) as SimCpgClient, G, 20_000);
      runUntil(s.cluster, () => received() >= 3, 2000, 'first fragments at node 2');
      expect(clients.get(2)?.received.has(msg)).toBe(false);
      s.cluster.crash(3);
      runUntil(s.cluster, () => synced(s, [1, 2]) && [1, 2].every((id) => clients.get(id)?.received.has(msg) === true), 5000, 'delivered');
      for (const id of [1, 2]) {
        const got = (clients.get(id) as SimCpgClient).log.entries.filter((e) => e.k === 'deliver' && e.msg === msg);
        expect(got).toHaveLength(1);
        // Intact, after the new ring's sync (the rest went out of the normal queue then).
        expect(got[0]?.k === 'deliver' && got[0].intact && !got[0].syncing && got[0].ring !== ring).toBe(true);
      }
      expectClean(servicesViolations(s));
    });

    test('the sender dies mid-message: nobody delivers it, and later messages are fine', () => {
      const s = formed({ nodes: 3, ...slow });
      const clients = clientsIn(s, [1, 2, 3]);
      const received = started(s, 2);
      const msg = mcast(s, 1, clients.get(1) as SimCpgClient, G, 20_000);
      runUntil(s.cluster, () => received() >= 3, 2000, 'first fragments at node 2');
      expect(clients.get(2)?.received.has(msg)).toBe(false);
      s.cluster.crash(1);
      runUntil(s.cluster, () => synced(s, [2, 3]), 5000, 'ring 2,3');
      const later = mcast(s, 2, clients.get(2) as SimCpgClient, G, 100);
      runUntil(s.cluster, () => [2, 3].every((id) => clients.get(id)?.received.has(later) === true), 2000, 'a later message');
      for (const id of [2, 3]) expect(clients.get(id)?.received.has(msg)).toBe(false);
      expectClean(servicesViolations(s));
    });

    test('a node joins mid-message: the old members deliver it, the newcomer throws the rest away (FINDINGS F7)', () => {
      const s = formed({ nodes: 3, ...slow }, [1, 2]);
      s.cluster.network.splitManual([1, 2], [3]);
      s.cluster.start(3);
      runUntil(s.cluster, () => synced(s, [3]), 3000, 'node 3 alone');
      const clients = clientsIn(s, [1, 2]);
      const c3 = clientsIn(s, [3]).get(3) as SimCpgClient;
      const received = started(s, 2);
      const ring = stack(s, 1).ring();
      const msg = mcast(s, 1, clients.get(1) as SimCpgClient, G, 60_000);
      runUntil(s.cluster, () => received() >= 2, 2000, 'first fragments at node 2');
      expect(clients.get(2)?.received.has(msg)).toBe(false);
      s.cluster.network.healAll(s.cluster.now);
      runUntil(s.cluster, () => synced(s, [1, 2, 3]) && [1, 2].every((id) => clients.get(id)?.received.has(msg) === true), 8000, 'delivered');
      s.cluster.run(300);
      const at2 = (clients.get(2) as SimCpgClient).log.entries.find((e) => e.k === 'deliver' && e.msg === msg);
      expect(at2?.k === 'deliver' && at2.intact && at2.ring !== ring).toBe(true);
      expect(c3.received.has(msg)).toBe(false);
      expect(s.world.history.throwAways.some((t) => t.node === 3 && t.sender === 1)).toBe(true);
      expectClean(servicesViolations(s));
    });

    // FINDINGS F11 (seed 0x1081 --nodes 7): the newcomer's throw-away lasts until the
    // sender's next packet with fragmented 0 or 1, and the sender's assembly survives ring
    // changes it takes part in, so the message can finish — delivered by the old members,
    // thrown away by the newcomer — in a later ring than the one where the throw-away
    // started. The checkers must excuse the sender in that ring too.
    test('a node joins mid-message and the message finishes a ring later: the newcomer\'s throw-away spans both rings (FINDINGS F11)', () => {
      const s = formed({ nodes: 3, ...slow }, [1, 2]);
      const token = s.cluster.options.config.tokenTicks;
      s.cluster.network.splitManual([1, 2], [3]);
      s.cluster.start(3);
      runUntil(s.cluster, () => synced(s, [3]), 3000, 'node 3 alone');
      const clients = clientsIn(s, [1, 2]);
      const c3 = clientsIn(s, [3]).get(3) as SimCpgClient;
      const received = started(s, 2);
      const msg = mcast(s, 1, clients.get(1) as SimCpgClient, G, 60_000);
      runUntil(s.cluster, () => received() >= 2, 2000, 'first fragments at node 2');
      s.cluster.network.healAll(s.cluster.now);
      const first = (): boolean => s.world.history.throwAways.some((t) => t.node === 3 && t.sender === 1 && t.first);
      runUntil(s.cluster, () => synced(s, [1, 2, 3]) && first(), 8000, 'node 3 throws node 1\'s continuation away');
      const mergedRing = stack(s, 1).ring();
      expect([1, 2].some((id) => clients.get(id)?.received.has(msg) === true)).toBe(false);
      // Every token lost for a while: the same three nodes form the next ring, mid-message.
      const filter = s.cluster.network.addFilter({ types: ['orf-token'] });
      s.cluster.run(2 * token);
      s.cluster.network.removeFilter(filter);
      runUntil(s.cluster, () => stack(s, 1).ring() !== mergedRing, 20 * token, 'the next ring');
      runUntil(s.cluster, () => synced(s, [1, 2, 3]) && [1, 2].every((id) => clients.get(id)?.received.has(msg) === true), 8000, 'delivered');
      // A later message everybody delivers makes the streams of the final ring comparable (C1b).
      const later = mcast(s, 2, clients.get(2) as SimCpgClient, G, 100);
      runUntil(s.cluster, () => c3.received.has(later), 2000, 'a later message at node 3');
      s.cluster.run(300);
      const ringOf = (c: SimCpgClient, m: string): string | undefined => {
        const e = c.log.entries.find((x) => x.k === 'deliver' && x.msg === m);
        return e?.k === 'deliver' ? e.ring : undefined;
      };
      const finalRing = ringOf(clients.get(2) as SimCpgClient, msg);
      expect(ringOf(c3, later)).toBe(finalRing);
      expect(finalRing !== undefined && finalRing !== mergedRing).toBe(true);
      expect(c3.received.has(msg)).toBe(false);
      const at3 = s.world.history.throwAways.filter((t) => t.node === 3 && t.sender === 1);
      expect(at3.some((t) => t.ring === mergedRing && t.first)).toBe(true);
      expect(at3.some((t) => t.ring === finalRing && !t.first)).toBe(true);
      expectClean(servicesViolations(s));
    });
  });

  // FINDINGS F8 (corosync-faithful): auto_tie_breaker in an odd-sized cluster (allowed
  // only with wait_for_all) treats ⌊5/2⌋ = 2 votes as the "half", so the lowest node's
  // two-node side stays quorate; on the other side a node that was quorate a moment ago
  // clears the restarted nodes' wait_for_all, and three of five are a majority. The
  // checkers skip Q1 for this configuration; this test pins the behaviour down.
  test('odd-sized auto_tie_breaker + wait_for_all: two quorate partitions at once (FINDINGS F8, corosync-faithful)', () => {
    const ids = [1, 2, 3, 4, 5];
    const s = formed({ nodes: 5, votequorum: { nodelist: ids.map((nodeId) => ({ nodeId })), autoTieBreaker: true, waitForAll: true } });
    const token = s.cluster.options.config.tokenTicks;
    expect(stack(s, 1).quorum.getQuorate()).toBe(true);
    s.cluster.crash(3);
    s.cluster.crash(4);
    runUntil(s.cluster, () => synced(s, [1, 2, 5]), 80 * token, 'ring 1,2,5');
    expect(stack(s, 5).quorum.getQuorate()).toBe(true);
    // 3 and 4 restart on their own (waiting for all), then 5 moves straight from the
    // quorate ring 1,2,5 to them.
    s.cluster.network.splitManual([1, 2, 5], [3, 4]);
    // Each alone first, as corosync's restarted nodes install a ring of themselves at
    // once; started together unhindered, ours would form ring 3,4 directly.
    const apart = [s.cluster.network.addFilter({ from: 3, to: 4 }), s.cluster.network.addFilter({ from: 4, to: 3 })];
    s.cluster.start(3);
    s.cluster.start(4);
    runUntil(s.cluster, () => synced(s, [3]) && synced(s, [4]), 80 * token, 'nodes 3 and 4 alone');
    for (const f of apart) s.cluster.network.removeFilter(f);
    runUntil(s.cluster, () => synced(s, [3, 4]), 80 * token, 'ring 3,4');
    expect(stack(s, 3).quorum.getQuorate()).toBe(false);
    s.cluster.network.healAll(s.cluster.now);
    s.cluster.network.splitManual([1, 2], [3, 4, 5]);
    runUntil(s.cluster, () => synced(s, [1, 2]) && synced(s, [3, 4, 5]), 120 * token, 'two sides');
    s.cluster.run(5 * token);
    expect([1, 2, 3, 4, 5].map((id) => stack(s, id).quorum.getQuorate())).toEqual([true, true, true, true, true]);
    expect(stack(s, 1).votequorum.status().totalVotes).toBe(2);
    expect(stack(s, 3).votequorum.status().totalVotes).toBe(3);
  });

  // Swarm seeds of the 7-node findings (FINDINGS F10: a live node's processes, learned
  // during an aborted sync, removed with PROCDOWN; F11: a throw-away that ends a ring later).
  // Trajectories depend on the code, so a seed may stop reaching its finding after an
  // unrelated change; the scenarios above pin the behaviour down for good.
  test.each([['0x10a5', 'F10'], ['0x1241', 'F10'], ['0x1081', 'F11']])('swarm seed %s --nodes 7 (FINDINGS %s)', (hex) => {
    const seed = Number(hex);
    const r = runSeed(seed, { nodes: 7, services: true });
    const found = [...r.violations, ...r.livenessFailures];
    expect(found.length === 0 ? '' : seedFailure(seed, 7, '--services', found)).toBe('');
  });

  // FINDINGS O2 (corosync-faithful): under last_man_standing each node keeps the expected
  // votes its own LMS timer lowered, also after it lost quorum, and adopts a sender's only
  // while it is not quorate and the sender's NODEINFO says quorate. Node 4 lowered to 2 in
  // ring {1,4}; alone it is not quorate, but with restarted node 5 (expected 5, not
  // quorate) it counts 2 of 2 and is quorate while node 5 counts 2 of 5 (Q3 disagreement),
  // and on the other side restarted 2 and 3 with node 1 (expected 2) are quorate too: two
  // quorate partitions. votequorum.5: "It is essential to enable WFA when using LMS".
  test('last_man_standing without wait_for_all: nodes of one ring disagree on quorate, two quorate partitions (FINDINGS O2, corosync-faithful)', () => {
    const ids = [1, 2, 3, 4, 5];
    const s = formed({ nodes: 5, votequorum: { nodelist: ids.map((nodeId) => ({ nodeId })), lastManStanding: true, lastManStandingWindowMs: 1000 } });
    const token = s.cluster.options.config.tokenTicks;
    const vq = (id: number): { expectedVotes: number; quorate: boolean } => {
      const st = stack(s, id).votequorum.status();
      return { expectedVotes: st.expectedVotes, quorate: stack(s, id).quorum.getQuorate() };
    };
    // Lose 5, 3, 2 one at a time, each after the LMS window: expected votes 4, 3, 2.
    for (const [down, left, expected] of [[5, [1, 2, 3, 4], 4], [3, [1, 2, 4], 3], [2, [1, 4], 2]] as const) {
      s.cluster.crash(down);
      runUntil(s.cluster, () => synced(s, left), 80 * token, `ring ${left.join(',')}`);
      runUntil(s.cluster, () => left.every((id) => vq(id).expectedVotes === expected), 400 + 10 * token, `expected ${expected}`);
      for (const id of left) expect([id, vq(id)]).toEqual([id, { expectedVotes: expected, quorate: true }]);
    }
    // 1 and 4 lose each other: alone, neither is quorate, both keep expected votes 2.
    s.cluster.network.splitManual([1, 2, 3], [4, 5]);
    runUntil(s.cluster, () => synced(s, [1]) && synced(s, [4]), 80 * token, 'two singletons');
    expect([vq(1), vq(4)]).toEqual([{ expectedVotes: 2, quorate: false }, { expectedVotes: 2, quorate: false }]);
    // Node 5 restarts on its own first (its start-up NODEINFO goes to nobody else), then
    // meets node 4: both send their sync NODEINFO not quorate.
    const cut = [s.cluster.network.addFilter({ from: 5, to: 4 }), s.cluster.network.addFilter({ from: 4, to: 5 })];
    s.cluster.start(5);
    runUntil(s.cluster, () => synced(s, [5]), 80 * token, 'node 5 alone');
    // The outcome rests on an interleaving: each node multicasts its sync NODEINFO before
    // it has seen the other's. Healing the links while node 5's new ring still settles
    // lets node 5 start the sync of {4,5} first, node 4 then sends NODEINFO already
    // quorate and node 5 adopts its expected votes (no disagreement). Let it idle first.
    const settled = s.cluster.now + token;
    runUntil(s.cluster, () => s.cluster.now >= settled, token + 1, 'node 5 idle');
    for (const f of cut) s.cluster.network.removeFilter(f);
    runUntil(s.cluster, () => synced(s, [4, 5]), 80 * token, 'ring 4,5');
    expect([vq(4), vq(5)]).toEqual([{ expectedVotes: 2, quorate: true }, { expectedVotes: 5, quorate: false }]);
    s.cluster.start(2);
    s.cluster.start(3);
    runUntil(s.cluster, () => synced(s, [1, 2, 3]), 80 * token, 'ring 1,2,3');
    expect([1, 2, 3].map((id) => vq(id).quorate)).toEqual([true, true, true]);
    expect(vq(4).quorate).toBe(true);
    // Q3 allows the disagreement of ring {4,5} only because the expected votes differ.
    expect(checkQuorumAgreement(s.world.history.syncs, s.world.rules).map((v) => v.message)).toEqual([]);
  });

  test('quorum lost and regained: notifications in order on every node (Q1–Q4)', () => {
    const ids = [1, 2, 3, 4, 5];
    const s = formed({ nodes: 5 });
    const token = s.cluster.options.config.tokenTicks;
    s.cluster.network.splitManual([1, 2], [3, 4, 5]);
    runUntil(s.cluster, () => synced(s, [1, 2]) && synced(s, [3, 4, 5]), 60 * token, 'two sides');
    expect(stack(s, 1).quorum.getQuorate()).toBe(false);
    expect(stack(s, 3).quorum.getQuorate()).toBe(true);
    s.cluster.network.healAll(s.cluster.now);
    runUntil(s.cluster, () => synced(s, ids), 80 * token, 'one ring of five');
    for (const id of ids) {
      const notes = s.world.history.quorum.filter((q) => q.node === id);
      const flips = notes.map((q) => q.quorate).filter((q, i, all) => i === 0 || all[i - 1] !== q);
      expect([id, flips]).toEqual([id, id <= 2 ? [false, true, false, true] : [false, true]]);
      const seqs = notes.map((q) => BigInt(`0x${q.ring.split('.')[1] ?? '0'}`));
      for (let i = 1; i < seqs.length; i++) expect(seqs[i] as bigint >= (seqs[i - 1] as bigint)).toBe(true);
      for (const q of notes) if (q.ring !== '0.0') expect(q.members.length >= 3).toBe(q.quorate);
    }
    expectClean(servicesViolations(s));
  });
});
