// Targeted regression scenarios (testing.md §4.4), each with real TotemNodes on the
// simulator, fast timers (token 300 ms = 30 ticks) and every safety checker at the end.

import { describe, expect, test } from '@jest/globals';
import type { SimCluster } from './cluster';
import {
  converged, convergence, regularConfigurationCount, runUntil, safetyViolations, scenarioCluster,
} from './scenario';

const ALL3 = [1, 2, 3];

function formed(ids: readonly number[], o: Parameters<typeof scenarioCluster>[0] = {}): SimCluster {
  const c = scenarioCluster({ nodes: ids.length, ...o });
  c.startAll();
  runUntil(c, () => converged(c, ids), 3000, `initial ring ${ids.join(',')}`);
  return c;
}

function submitEach(c: SimCluster, ids: readonly number[], n = 1): void {
  for (const id of ids) for (let i = 0; i < n; i++) c.submit(id, 16);
}

describe('regression scenarios (testing.md §4.4)', () => {
  test('pause a member past the token timeout, then resume (corosync PR #347)', () => {
    const c = formed(ALL3);
    submitEach(c, ALL3, 3);
    const token = c.options.config.tokenTicks;
    const pausedAt = c.now;
    c.pause(3, 4 * token);
    runUntil(c, () => converged(c, [1, 2]), 4 * token, 'survivors {1,2}');
    submitEach(c, [1, 2], 3);
    runUntil(c, () => !c.isPaused(3), 4 * token);
    runUntil(c, () => converged(c, ALL3), 40 * token, 'all three again');
    // The paused node learns that the others "left" its old ring (they moved on without
    // it): one of its transitional configurations after the pause names both as left.
    const trans3 = (c.currentLog(3)?.entries ?? []).filter((e) => e.k === 'conf' && e.type === 'transitional' && e.tick > pausedAt);
    expect(trans3.some((e) => e.k === 'conf' && e.left.includes(1) && e.left.includes(2))).toBe(true);
    expect(c.status(1)?.stats.operationalTokenLost).toBeGreaterThan(0);
    submitEach(c, ALL3);
    c.run(20 * token);
    expect(safetyViolations(c, { requireSelfDelivery: () => true })).toEqual([]);
  });

  test('join, then crash during the (re)formation: no ghost member (corosync PR #828)', () => {
    const c = scenarioCluster({ nodes: 4 });
    for (const id of ALL3) c.start(id);
    runUntil(c, () => converged(c, ALL3), 3000, 'ring {1,2,3}');
    submitEach(c, ALL3, 2);
    c.start(4);
    runUntil(c, () => {
      const state = c.status(4)?.state;
      return state === 'commit' || state === 'recovery';
    }, 3000, 'node 4 in COMMIT or RECOVERY');
    c.crash(4);
    const token = c.options.config.tokenTicks;
    runUntil(c, () => converged(c, ALL3), 60 * token, 'ring {1,2,3} without node 4');
    c.run(10 * token);
    expect(convergence(c, ALL3)).toBeNull();
    for (const id of ALL3) expect(c.status(id)?.members).toEqual(ALL3);
    expect(safetyViolations(c)).toEqual([]);
  });

  test('partition, then heal: one membership, no leftover disagreement (corosync issue #351)', () => {
    const ids = [1, 2, 3, 4, 5];
    const c = formed(ids);
    const token = c.options.config.tokenTicks;
    c.network.splitManual([1, 2], [3, 4, 5]);
    runUntil(c, () => converged(c, [1, 2]) && converged(c, [3, 4, 5]), 60 * token, 'two sides');
    submitEach(c, ids, 2);
    c.run(5 * token);
    c.network.healAll(c.now);
    runUntil(c, () => converged(c, ids), 80 * token, 'one ring of five');
    // Stable afterwards: nobody changes configuration again.
    const counts = ids.map((id) => regularConfigurationCount(c, id));
    submitEach(c, ids, 2);
    c.run(30 * token);
    expect(ids.map((id) => regularConfigurationCount(c, id))).toEqual(counts);
    expect(convergence(c, ids)).toBeNull();
    expect(safetyViolations(c, { requireSelfDelivery: () => true })).toEqual([]);
  });

  test('asymmetric connectivity A↔B, B↔C, A↔C dead: bounded rate of configuration changes (corosync issue #750)', () => {
    const c = formed(ALL3);
    const token = c.options.config.tokenTicks;
    const joinTicks = c.options.config.joinTicks;
    c.network.setLink(1, 3, false);
    c.network.setLink(3, 1, false);
    const before = ALL3.map((id) => regularConfigurationCount(c, id));
    const joinsBefore = c.joinSends;
    const ticks = 300 * token;
    for (let i = 0; i < ticks; i++) {
      if (i % 50 === 0) submitEach(c, ALL3);
      c.step();
    }
    // corosync flaps forever here (observed: about one new configuration per two token
    // timeouts); the requirement is a bounded rate and no storm, not convergence.
    for (const [i, id] of ALL3.entries()) {
      const changes = regularConfigurationCount(c, id) - (before[i] as number);
      expect(changes).toBeLessThanOrEqual(ticks / token);
    }
    expect(c.joinSends - joinsBefore).toBeLessThanOrEqual(3 * (ticks / joinTicks) * 3);
    expect(safetyViolations(c)).toEqual([]);
  });

  test('storage fault: a ring-id write lost in a crash is caught (T5), the default store is not', () => {
    const run = (loseLastWrite: boolean) => {
      const c = scenarioCluster({ nodes: 2 });
      c.start(1);
      runUntil(c, () => converged(c, [1]), 1000, 'singleton ring');
      c.start(2);
      runUntil(c, () => converged(c, [1, 2]), 3000, 'ring {1,2}');
      c.crash(1, loseLastWrite);
      c.crash(2, loseLastWrite);
      c.start(1);
      c.start(2);
      runUntil(c, () => converged(c, [1, 2]), 3000, 'ring {1,2} again');
      return safetyViolations(c).map((v) => v.invariant);
    };
    expect(run(false)).toEqual([]);
    expect(run(true)).toContain('T5');
  });

  // Every ring starts its seqs just below a point where corosync's sq.h arithmetic changes
  // (TotemNode `initialSeq`), then carries a few thousand messages across it under loss,
  // with a crash in the middle so that recovery and the transitional delivery also run
  // on wrapped seqs.
  test.each([0x7ffff000, 0xfffff000])('sequence rollover from %s under loss', (initialSeq) => {
    const c = scenarioCluster({ nodes: 3, initialSeq, network: { lossRatio: 0.05 } });
    c.startAll();
    runUntil(c, () => converged(c, ALL3), 6000, 'initial ring');
    const token = c.options.config.tokenTicks;
    for (let round = 0; round < 40; round++) {
      submitEach(c, ALL3, 40);
      c.run(token);
    }
    const before = c.status(1)?.highSeqReceived ?? 0;
    expect((before - initialSeq) >>> 0).toBeGreaterThan(0x1000);
    c.crash(3);
    submitEach(c, [1, 2], 20);
    runUntil(c, () => converged(c, [1, 2]), 100 * token, 'survivors {1,2}');
    c.start(3);
    runUntil(c, () => converged(c, ALL3), 100 * token, 'all three again');
    submitEach(c, ALL3, 5);
    c.run(20 * token);
    expect(safetyViolations(c)).toEqual([]);
  });

  describe('token loss in each state is counted in stats', () => {
    test('OPERATIONAL: tokens dropped after the ring formed', () => {
      const c = formed(ALL3);
      const f = c.network.addFilter({ types: ['orf-token'] });
      c.run(3 * c.options.config.tokenTicks);
      c.network.removeFilter(f);
      expect(ALL3.some((id) => (c.status(id)?.stats.operationalTokenLost ?? 0) > 0)).toBe(true);
      runUntil(c, () => converged(c, ALL3), 3000, 'reformed');
      expect(safetyViolations(c)).toEqual([]);
    });

    test('COMMIT: the commit token never completes its rotation', () => {
      const c = scenarioCluster();
      const f = c.network.addFilter({ from: 3, types: ['commit-token'] });
      c.startAll();
      c.run(20 * c.options.config.tokenTicks);
      expect(ALL3.some((id) => (c.status(id)?.stats.commitTokenLost ?? 0) > 0)).toBe(true);
      c.network.removeFilter(f);
      runUntil(c, () => converged(c, ALL3), 3000, 'formed after the filter');
      expect(safetyViolations(c)).toEqual([]);
    });

    test('GATHER: consensus reached but the commit token never arrives', () => {
      const c = scenarioCluster();
      const f = c.network.addFilter({ types: ['commit-token'] });
      c.startAll();
      c.run(20 * c.options.config.tokenTicks);
      expect(ALL3.some((id) => (c.status(id)?.stats.gatherTokenLost ?? 0) > 0)).toBe(true);
      c.network.removeFilter(f);
      runUntil(c, () => converged(c, ALL3), 3000, 'formed after the filter');
      expect(safetyViolations(c)).toEqual([]);
    });

    test('RECOVERY: the ORF token is lost before the ring is installed', () => {
      const c = scenarioCluster();
      const f = c.network.addFilter({ types: ['orf-token'] });
      c.startAll();
      c.run(20 * c.options.config.tokenTicks);
      expect(ALL3.some((id) => (c.status(id)?.stats.recoveryTokenLost ?? 0) > 0)).toBe(true);
      c.network.removeFilter(f);
      runUntil(c, () => converged(c, ALL3), 3000, 'formed after the filter');
      expect(safetyViolations(c)).toEqual([]);
    });
  });

  // At this layer a message is one MCAST payload (≤ net_mtu); fragmentation lives in
  // totempg, which the simulator does not drive yet.
  test.todo('large-message fragmentation across a configuration change (totempg two-table switch; not at this layer)');

  describe('findings', () => {
    // FINDINGS.md F1: a message queued before the first transAck() waited in the trans
    // queue until the next configuration change; transAck() now sends it first.
    test('F1: a message submitted before the first configuration is delivered', () => {
      const c = scenarioCluster();
      c.startAll();
      expect(c.submit(1, 16)).toBe('queued');
      runUntil(c, () => converged(c, ALL3), 3000, 'ring');
      c.run(20 * c.options.config.tokenTicks);
      expect(safetyViolations(c, { requireSelfDelivery: () => true })).toEqual([]);
    });
  });
});
