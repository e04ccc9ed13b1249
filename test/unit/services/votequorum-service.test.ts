// votequorum with corosync 3.1.7's semantics (exec/votequorum.c, votequorum(5),
// corosync-wire.md §9.1, testing.md Q1–Q4), driven vqsim-style: nodes on a fake
// total-order bus (votequorum-fake-cluster.ts), rings formed by the test, the sync protocol run to
// completion after each change. Each scenario names the votequorum(5) sentence it checks.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Prng } from '../../../src/base/prng';
import { QuorumService, TrackFlags, type QuorumNodeListNotification, type QuorumNotification } from '../../../src/services/quorum/quorum-service';
import {
  decodeVotequorumMessage,
  encodeNodeInfo,
  encodeQdeviceReconfigure,
  encodeQdeviceReg,
  encodeReconfigure,
  NodeFlags,
  QdeviceOperation,
  ReconfigureParam,
  type VotequorumMessage,
} from '../../../src/services/votequorum/votequorum-messages';
import {
  resolveVotequorumConfig,
  VotequorumInfoFlags,
  VotequorumService,
  type VotequorumQuorumEvent,
  type VotequorumSettings,
} from '../../../src/services/votequorum/votequorum-service';
import { ringIdKey } from '../../../src/totem/wire/messages';
import { FakeCluster, nodelist, quorumOf, startVotequorumNode, vq } from './votequorum-fake-cluster';

function startAll(c: FakeCluster, ids: readonly number[], settings: VotequorumSettings): void {
  for (const id of ids) startVotequorumNode(c, id, settings);
}

interface Snapshot {
  quorate: boolean;
  expected: number;
  total: number;
  quorum: number;
}

function snapshot(c: FakeCluster, id: number): Snapshot {
  const info = vq(c, id).getInfo(id)!;
  return { quorate: vq(c, id).isQuorate(), expected: info.expectedVotes, total: info.totalVotes, quorum: info.quorum };
}

function quorateOf(c: FakeCluster, ids: readonly number[]): boolean[] {
  return ids.map((id) => quorumOf(c, id).getQuorate());
}

/** The votequorum messages each node sent, as delivered, with ring keys. */
function sent(c: FakeCluster): { ring: string; sender: number; m: VotequorumMessage }[] {
  return c.delivered.flatMap((d) => {
    const m = decodeVotequorumMessage(d.bytes);
    return m.ok ? [{ ring: ringIdKey(d.ringId), sender: d.sender, m: m.value }] : [];
  });
}

describe('a 3-node cluster (quorum = 2 of 3 votes)', () => {
  const settings: VotequorumSettings = { nodelist: nodelist(3) };

  it('is quorate with 3 and with 2 members, inquorate with 1, quorate again when the others return', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], settings);
    c.form([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
    expect(quorateOf(c, [1, 2, 3])).toEqual([true, true, true]);

    c.crash(3);
    c.form([1, 2]);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 2, quorum: 2 });
    expect(vq(c, 1).getInfo(3)).toMatchObject({ nodeId: 3, state: 'dead', votes: 1 });

    c.crash(2);
    c.form([1]);
    expect(snapshot(c, 1)).toEqual({ quorate: false, expected: 3, total: 1, quorum: 2 });
    expect(quorateOf(c, [1])).toEqual([false]);

    startAll(c, [2, 3], settings);
    c.form([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
    expect(quorateOf(c, [1, 2, 3])).toEqual([true, true, true]);
  });

  it('reports what corosync-quorumtool -s prints', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], settings);
    c.form([1, 2, 3]);
    c.crash(2);
    c.form([1, 3]);
    expect(vq(c, 3).status()).toEqual({
      quorate: true,
      nodeId: 3,
      ringId: expect.objectContaining({ rep: 1 }),
      expectedVotes: 3,
      highestExpected: 3,
      totalVotes: 2,
      quorum: 2,
      flags: ['Quorate'],
      members: [
        { nodeId: 1, votes: 1, name: 'node1', local: false },
        { nodeId: 3, votes: 1, name: 'node3', local: true },
      ],
    });
    expect(vq(c, 3).status().ringId).toEqual(c.node(3).api.ringId());
  });

  it('getInfo: node 0 means the local node, unknown nodes have no info', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], settings);
    c.form([1, 2]);
    expect(vq(c, 2).getInfo(0)).toEqual(vq(c, 2).getInfo(2));
    expect(vq(c, 2).getInfo(0)).toMatchObject({ nodeId: 2, state: 'member', votes: 1, flags: VotequorumInfoFlags.quorate, qdeviceVotes: 0, qdeviceName: '' });
    expect(vq(c, 2).getInfo(3)).toBeNull();
  });

  it('never lowers quorum when members leave (5 nodes: quorum stays 3 with 3 members)', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4, 5], { nodelist: nodelist(5) });
    c.form([1, 2, 3, 4, 5]);
    c.crash(4);
    c.crash(5);
    c.form([1, 2, 3]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 5, total: 3, quorum: 3 });
    c.crash(3);
    c.form([1, 2]);
    expect(snapshot(c, 1)).toEqual({ quorate: false, expected: 5, total: 2, quorum: 3 });
  });

  it('notifies the quorum service (and its trackers) at every sync and quorum change', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], settings);
    const seen: QuorumNotification[] = [];
    const lists: QuorumNodeListNotification[] = [];
    quorumOf(c, 1).trackStart((n) => seen.push(n), { onNodeList: (n) => lists.push(n) });
    expect(seen).toEqual([{ quorate: false, ringId: { rep: 0, seq: 0n }, members: [] }]);
    c.form([1, 2, 3]);
    c.crash(2);
    c.crash(3);
    c.form([1]);
    expect(seen.slice(1).map((n) => [n.quorate, n.members])).toEqual([
      [true, [1, 2, 3]],
      [false, [1]],
    ]);
    expect(lists.map((n) => [n.members, n.joined, n.left])).toEqual([
      [[], [], []],
      [[1, 2, 3], [1, 2, 3], []],
      [[1], [], [2, 3]],
    ]);
    expect(c.node(1).logs.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        'This node is within the primary component and will provide service.',
        'This node is within the non-primary component and will NOT provide any services.',
        'Members[3]: 1 2 3',
      ]),
    );
  });
});

describe('two_node (votequorum(5): quorum is set artificially to 1; enabling two_node enables wait_for_all)', () => {
  const settings: VotequorumSettings = { nodelist: nodelist(2), twoNode: true };

  it('cold start: not quorate alone until both nodes were seen; then each survives the other', () => {
    const c = new FakeCluster();
    startVotequorumNode(c, 1, settings);
    c.form([1]);
    expect(snapshot(c, 1)).toEqual({ quorate: false, expected: 2, total: 1, quorum: 1 });
    expect(vq(c, 1).status().flags).toEqual(['2Node', 'WaitForAll']);

    startVotequorumNode(c, 2, settings);
    c.form([1, 2]);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 2, total: 2, quorum: 1 });
    expect(vq(c, 1).status().flags).toEqual(['2Node', 'Quorate', 'WaitForAll']);

    c.crash(2);
    c.form([1]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 2, total: 1, quorum: 1 });

    // A restarted node waits for all again, until it sees the quorate peer.
    startVotequorumNode(c, 2, settings);
    c.form([2]);
    expect(snapshot(c, 2).quorate).toBe(false);
    c.form([1, 2]);
    expect([snapshot(c, 1).quorate, snapshot(c, 2).quorate]).toEqual([true, true]);
  });

  it('sends FIRST|WFASTATUS, WFASTATUS and QUORATE, the flags of the two-node capture', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], settings);
    c.form([1], [2]);
    c.form([1, 2]);
    c.form([1, 2]);
    const flags = sent(c).flatMap(({ m }) => (m.type === 'nodeinfo' && m.nodeId !== 0 ? [m.flags] : []));
    // Start-up and singleton syncs: FIRST|WFASTATUS; first sync together: WFASTATUS (the
    // wait ends only when the other's NODEINFO arrives); then QUORATE.
    expect(flags).toEqual([12, 12, 12, 12, 4, 4, 1, 1]);
    expect(new Set(flags)).toEqual(new Set([NodeFlags.first | NodeFlags.wfaStatus, NodeFlags.wfaStatus, NodeFlags.quorate]));
    for (const { m } of sent(c)) if (m.type === 'nodeinfo' && m.nodeId !== 0) expect(m.expectedVotes).toBe(2);
  });

  it('wait_for_all: 0 overrides the implied wait: a lone node is quorate at cold start', () => {
    const c = new FakeCluster();
    startVotequorumNode(c, 1, { ...settings, waitForAll: false });
    c.form([1]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 2, total: 1, quorum: 1 });
    expect(vq(c, 1).status().flags).toEqual(['2Node', 'Quorate']);
  });

  it('with more than two members the normal calculation applies', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3), twoNode: true, waitForAll: false });
    c.form([1, 2, 3]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
  });
});

describe('wait_for_all (quorate for the first time only after all nodes have been visible at least once)', () => {
  const settings: VotequorumSettings = { nodelist: nodelist(3), waitForAll: true };

  it('2 of 3 are not enough at cold start; after all were seen, 2 of 3 are', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], settings);
    c.form([1, 2]);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: false, expected: 3, total: 2, quorum: 2 });
    expect(c.node(1).logs.map((l) => l.message)).toContain('Waiting for all cluster members. Current votes: 2 expected_votes: 3');
    startVotequorumNode(c, 3, settings);
    c.form([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(snapshot(c, id).quorate).toBe(true);
    c.crash(3);
    c.form([1, 2]);
    for (const id of [1, 2]) expect(snapshot(c, id).quorate).toBe(true);
  });

  it('a quorate peer that is not waiting ends a restarted node\'s wait (§9.1)', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4, 5], { nodelist: nodelist(5), waitForAll: true });
    c.form([1, 2, 3, 4, 5]);
    c.crash(4);
    c.crash(5);
    c.form([1, 2, 3]);
    startVotequorumNode(c, 5, { nodelist: nodelist(5), waitForAll: true });
    c.form([5]);
    expect(snapshot(c, 5).quorate).toBe(false);
    // 4 of 5 votes: without the peers' QUORATE, node 5 would wait for all 5.
    c.form([1, 2, 3, 5]);
    for (const id of [1, 2, 3, 5]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 5, total: 4, quorum: 3 });
  });

  it('is armed again whenever quorum is lost (votequorum.c; votequorum(5) speaks only of the first time)', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], settings);
    c.form([1, 2, 3]);
    c.form([1], [2], [3]);
    // 2 of 3 votes would do without wait_for_all, but both nodes wait for all again.
    c.form([1, 2], [3]);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: false, expected: 3, total: 2, quorum: 2 });
    c.form([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(snapshot(c, id).quorate).toBe(true);
  });

  it('RECONFIGURE(CANCEL_WFA) from one node ends the wait everywhere', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], settings);
    c.form([1, 2]);
    vq(c, 2).cancelWaitForAll();
    c.pumpAll();
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 2, quorum: 2 });
    expect(sent(c).filter(({ m }) => m.type === 'reconfigure')).toEqual([
      { ring: expect.any(String), sender: 2, m: { type: 'reconfigure', nodeId: 2, value: 0, param: ReconfigureParam.cancelWfa } },
    ]);
  });
});

describe('last_man_standing (expected votes recalculated after the window with a stable reduced membership)', () => {
  // tickMs 100: a 1000 ms window is 10 ticks.
  const settings: VotequorumSettings = { nodelist: nodelist(5), lastManStanding: true, lastManStandingWindowMs: 1000 };

  it('follows votequorum(5)\'s chain of events: 5 → 3 → 2 members stay quorate', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4, 5], settings);
    c.form([1, 2, 3, 4, 5]);
    c.crash(4);
    c.crash(5);
    c.form([1, 2, 3]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 5, total: 3, quorum: 3 });
    // The host may sleep until the window ends (ServiceHost.advance).
    expect(vq(c, 1).ticksToNextTimer()).toBe(10);
    c.tick(9);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 5, total: 3, quorum: 3 });
    expect(vq(c, 1).ticksToNextTimer()).toBe(1);
    c.tick(1);
    expect(vq(c, 1).ticksToNextTimer()).toBeNull();
    for (const id of [1, 2, 3]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
    expect(vq(c, 1).status().flags).toEqual(['Quorate', 'LastManStanding']);

    c.crash(3);
    c.form([1, 2]);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 2, quorum: 2 });
    c.tick(10);
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 2, total: 2, quorum: 2 });

    // Without auto_tie_breaker the last node alone is not quorate.
    c.crash(2);
    c.form([1]);
    c.tick(20);
    expect(snapshot(c, 1)).toEqual({ quorate: false, expected: 2, total: 1, quorum: 2 });
  });

  it('a further change within the window restarts it; failures faster than the window lose quorum', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4, 5], settings);
    c.form([1, 2, 3, 4, 5]);
    c.crash(5);
    c.form([1, 2, 3, 4]);
    c.tick(5);
    c.crash(4);
    c.form([1, 2, 3]);
    c.tick(5);
    expect(snapshot(c, 1).expected).toBe(5);
    c.tick(5);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });

    const d = new FakeCluster();
    startAll(d, [1, 2, 3, 4, 5], settings);
    d.form([1, 2, 3, 4, 5]);
    d.crash(4);
    d.crash(5);
    d.form([1, 2, 3]);
    d.crash(3);
    d.form([1, 2]);
    d.tick(20);
    expect(snapshot(d, 1)).toEqual({ quorate: false, expected: 5, total: 2, quorum: 3 });
  });

  it('is disabled when a node has more than one vote', () => {
    const c = new FakeCluster();
    const weighted = { ...settings, nodelist: nodelist(5, (id) => (id === 1 ? 2 : 1)) };
    startAll(c, [1, 2, 3, 4, 5], weighted);
    c.form([1, 2, 3, 4, 5]);
    expect(vq(c, 2).status().flags).toEqual(['Quorate']);
    expect(c.node(2).logs.some((l) => l.level === 'warning' && l.message.startsWith('Last Man Standing feature is supported only'))).toBe(true);
  });
});

describe('auto_tie_breaker (on an even split the partition with the tie-breaker node stays quorate)', () => {
  function split(settings: VotequorumSettings): { left: boolean[]; right: boolean[] } {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4], settings);
    c.form([1, 2, 3, 4]);
    c.form([1, 2], [3, 4]);
    return { left: quorateOf(c, [1, 2]), right: quorateOf(c, [3, 4]) };
  }

  it('lowest (the default): {1,2} keeps quorum, {3,4} loses it', () => {
    expect(split({ nodelist: nodelist(4), autoTieBreaker: true })).toEqual({ left: [true, true], right: [false, false] });
    expect(split({ nodelist: nodelist(4), autoTieBreaker: true, autoTieBreakerNode: 'lowest' })).toEqual({
      left: [true, true],
      right: [false, false],
    });
  });

  it('without auto_tie_breaker neither half is quorate', () => {
    expect(split({ nodelist: nodelist(4) })).toEqual({ left: [false, false], right: [false, false] });
  });

  it('highest: {3,4} keeps quorum', () => {
    expect(split({ nodelist: nodelist(4), autoTieBreaker: true, autoTieBreakerNode: 'highest' })).toEqual({
      left: [false, false],
      right: [true, true],
    });
  });

  it('a list: the first listed node present decides, unless an earlier one was in the previous partition', () => {
    expect(split({ nodelist: nodelist(4), autoTieBreaker: true, autoTieBreakerNode: [3, 1] })).toEqual({
      left: [false, false],
      right: [true, true],
    });
  });

  it('a 3-node remainder of the 4 stays quorate, and a 1+3 split goes to the 3', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4], { nodelist: nodelist(4), autoTieBreaker: true });
    c.form([1, 2, 3, 4]);
    c.form([1], [2, 3, 4]);
    expect(quorateOf(c, [1, 2, 3, 4])).toEqual([false, true, true, true]);
  });

  it('is disabled in an odd-sized cluster without wait_for_all; with last_man_standing that is an error', () => {
    const odd = resolveVotequorumConfig({ nodelist: nodelist(3), autoTieBreaker: true }, 1);
    expect(odd.ok && odd.value.autoTieBreaker).toBe('none');
    const withWfa = resolveVotequorumConfig({ nodelist: nodelist(3), autoTieBreaker: true, waitForAll: true }, 1);
    expect(withWfa.ok && withWfa.value.autoTieBreaker).toBe('lowest');
    expect(resolveVotequorumConfig({ nodelist: nodelist(3), autoTieBreaker: true, lastManStanding: true }, 1)).toEqual({
      ok: false,
      error: 'configuration error: auto_tie_breaker & last_man_standing not available in odd sized cluster',
    });
  });

  it('disables two_node (but two_node has already implied wait_for_all)', () => {
    const r = resolveVotequorumConfig({ nodelist: nodelist(2), twoNode: true, autoTieBreaker: true }, 1);
    expect(r.ok && [r.value.twoNode, r.value.waitForAll, r.value.autoTieBreaker]).toEqual([false, true, 'lowest']);
  });
});

describe('expected votes from peers (§9.1 receiver rules)', () => {
  it('a node that is not quorate adopts the expected votes of a quorate sender', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(4) });
    c.form([1, 2, 3]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 4, total: 3, quorum: 3 });
    // Node 4 is misconfigured with expected_votes 8: alone its quorum is 5.
    startVotequorumNode(c, 4, { nodelist: nodelist(4), expectedVotes: 8 });
    c.form([4]);
    expect(snapshot(c, 4)).toEqual({ quorate: false, expected: 8, total: 1, quorum: 5 });
    c.form([1, 2, 3, 4]);
    for (const id of [1, 2, 3, 4]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 4, total: 4, quorum: 3 });
    // The quorate nodes never took node 4's 8: its record holds their own value.
    expect(vq(c, 1).getInfo(4)?.expectedVotes).toBe(4);
  });

  it('expected votes rise to the total votes seen', () => {
    const c = new FakeCluster();
    const changes: number[] = [];
    startAll(c, [1, 2, 3], { expectedVotes: 2 });
    vq(c, 1).onExpectedVotesChange((n) => changes.push(n));
    c.form([1, 2, 3]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
    expect(changes).toContain(3);
  });

  it('setExpected: validated, multicast as RECONFIGURE and applied by all', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3, 4, 5], { nodelist: nodelist(5) });
    c.form([1, 2, 3, 4, 5]);
    c.crash(4);
    c.crash(5);
    c.form([1, 2, 3]);
    expect(vq(c, 2).setExpected(2)).toBe('err-invalid-param'); // below the total votes
    expect(vq(c, 2).setExpected(3)).toBe('ok');
    c.pumpAll();
    for (const id of [1, 2, 3]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 3, total: 3, quorum: 2 });
    c.crash(3);
    c.form([1, 2]);
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 3, total: 2, quorum: 2 });
  });

  it('setExpected refuses what would make a quorate cluster inquorate', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3) });
    c.form([1, 2, 3]);
    c.crash(3);
    c.form([1, 2]);
    expect(vq(c, 1).setExpected(5)).toBe('err-invalid-param'); // quorum (5+2)/2 = 3 > 2 votes
    expect(vq(c, 1).setExpected(4)).toBe('err-invalid-param'); // quorum (4+2)/2 = 3 > 2 votes
    expect(vq(c, 1).setExpected(2)).toBe('ok');
    c.pumpAll();
    for (const id of [1, 2]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 2, total: 2, quorum: 2 });
  });

  it('setVotes: validated, multicast as RECONFIGURE(NODE_VOTES); unknown nodes are not found', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3) });
    c.form([1, 2, 3]);
    expect(vq(c, 1).setVotes(9, 1)).toBe('err-name-not-found');
    expect(vq(c, 1).setVotes(2, 3)).toBe('ok');
    c.pumpAll();
    for (const id of [1, 2, 3]) {
      expect(vq(c, id).getInfo(2)?.votes).toBe(3);
      expect(snapshot(c, id)).toEqual({ quorate: true, expected: 5, total: 5, quorum: 3 });
    }
  });

  it('reloadConfig: changed expected votes go out as RECONFIGURE and every node takes them', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3) });
    c.form([1, 2, 3]);
    expect(vq(c, 1).reloadConfig({ nodelist: nodelist(3), expectedVotes: 5 })).toEqual({ ok: true, value: undefined });
    c.pumpAll();
    for (const id of [1, 2, 3]) expect(snapshot(c, id)).toEqual({ quorate: true, expected: 5, total: 3, quorum: 3 });
    expect(vq(c, 1).reloadConfig({})).toEqual({ ok: false, error: 'configuration error: nodelist or quorum.expected_votes must be configured!' });
  });
});

describe('allow_downscale and expected_votes_tracking', () => {
  it('a node shutting down with allow_downscale announces LEAVING and stops counting', () => {
    const c = new FakeCluster();
    const barrier: number[] = [];
    for (const id of [1, 2, 3, 4, 5]) {
      c.start(id, (n) => {
        const service = VotequorumService.create(n.api, { nodelist: nodelist(5), allowDownscale: true }, {
          onEvTrackingBarrier: (value) => void (id === 1 && barrier.push(value)),
        });
        if (!service.ok) throw new Error(service.error);
        return [service.value];
      });
    }
    c.form([1, 2, 3, 4, 5]);
    vq(c, 5).shutdown();
    c.pumpAll();
    expect(vq(c, 1).getInfo(5)?.state).toBe('leaving');
    expect(snapshot(c, 1)).toEqual({ quorate: true, expected: 4, total: 4, quorum: 3 });
    expect(vq(c, 1).status().flags).toEqual(['Quorate', 'AllowDownscale']);
    expect(barrier).toEqual([5]); // tracking was 0: the nodelist's 5 is stored
  });

  it('without allow_downscale shutdown sends nothing', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], { nodelist: nodelist(2) });
    c.form([1, 2]);
    const before = c.delivered.length;
    vq(c, 2).shutdown();
    c.pumpAll();
    expect(c.delivered.length).toBe(before);
  });

  it('the stored tracking value replaces quorum.expected_votes', () => {
    const r = resolveVotequorumConfig({ expectedVotes: 3, expectedVotesTracking: true, evTrackingBarrier: 7 }, 1);
    expect(r.ok && r.value.expectedVotes).toBe(7);
  });
});

describe('sync messages (§7.4)', () => {
  it('each member sends NODEINFO(self) then NODEINFO(0) in every sync; a new node announces itself first', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3) });
    c.form([1, 2, 3]);
    c.form([1, 2, 3]);
    const byRing = new Map<string, { sender: number; nodeId: number }[]>();
    for (const { ring, sender, m } of sent(c)) {
      if (m.type !== 'nodeinfo') continue;
      const list = byRing.get(ring) ?? [];
      list.push({ sender, nodeId: m.nodeId });
      byRing.set(ring, list);
    }
    const [first, second] = [...byRing.values()];
    // The start-up NODEINFOs come before any sync data of the first ring.
    expect(first!.slice(0, 3).map((e) => e.nodeId).sort()).toEqual([1, 2, 3]);
    for (const list of [first!.slice(3), second!]) {
      for (const sender of [1, 2, 3]) expect(list.filter((e) => e.sender === sender).map((e) => e.nodeId)).toEqual([sender, 0]);
    }
  });

  it('NODEINFO(0) carries the qdevice record, zeros without a device', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], { nodelist: nodelist(2) });
    c.form([1, 2]);
    for (const { m } of sent(c)) {
      if (m.type === 'nodeinfo' && m.nodeId === 0) expect(m).toEqual({ type: 'nodeinfo', nodeId: 0, votes: 0, expectedVotes: 0, flags: 0 });
    }
  });

  it('a qdevice name learnt from a peer is kept, renamed by QDEVICE_RECONFIGURE and sent as QDEVICE_REG in sync', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2], { nodelist: nodelist(2) });
    c.form([1, 2]);
    vq(c, 1).deliver(2, 2, encodeQdeviceReg({ operation: QdeviceOperation.register, name: 'Qdevice' }));
    expect(vq(c, 1).getInfo(1)?.qdeviceName).toBe('Qdevice');
    vq(c, 1).deliver(3, 2, encodeQdeviceReconfigure({ oldName: 'Qdevice', newName: 'Qnet' }));
    expect(vq(c, 1).getInfo(1)?.qdeviceName).toBe('Qnet');
    c.form([1, 2]);
    const mine = sent(c).filter((e) => e.sender === 1).slice(-3).map((e) => e.m);
    expect(mine).toEqual([
      expect.objectContaining({ type: 'nodeinfo', nodeId: 1 }),
      expect.objectContaining({ type: 'nodeinfo', nodeId: 0 }),
      { type: 'qdevice-reg', operation: QdeviceOperation.register, name: 'Qnet' },
    ]);
    // Unregistered while no member has a registered device: the name is forgotten.
    vq(c, 1).deliver(2, 2, encodeQdeviceReg({ operation: QdeviceOperation.unregister, name: 'Qnet' }));
    expect(vq(c, 1).getInfo(1)?.qdeviceName).toBe('');
  });

  it('process() waits while the send queue is full, so the data precedes the barrier', () => {
    const c = new FakeCluster();
    startAll(c, [1], { nodelist: nodelist(1) });
    c.form([1]);
    const node = c.node(1);
    const service = vq(c, 1);
    service.sync.init([1], [1], { rep: 1, seq: 100n });
    node.sendQueueFull = true;
    const before = node.out.length;
    expect(service.sync.process()).toBe('again');
    expect(service.counters().outbox).toBe(2);
    node.sendQueueFull = false;
    expect(service.sync.process()).toBe('done');
    expect(node.out.length - before).toBe(2);
    expect(service.counters().outbox).toBe(0);
  });

  it('malformed and foreign messages are counted and ignored', () => {
    const c = new FakeCluster();
    startAll(c, [1], { nodelist: nodelist(1) });
    c.form([1]);
    const before = snapshot(c, 1);
    vq(c, 1).deliver(0, 2, new Uint8Array(20));
    vq(c, 1).deliver(0, 2, encodeNodeInfo({ nodeId: 2, votes: 1, expectedVotes: 1, flags: 0 }).subarray(0, 31));
    vq(c, 1).deliver(7, 2, new Uint8Array(32));
    vq(c, 1).deliver(1, 2, encodeReconfigure({ nodeId: 1, value: 3, param: 9 }));
    expect(vq(c, 1).counters().malformed).toBe(2);
    expect(snapshot(c, 1)).toEqual(before);
  });

  it('a qdevice NODEINFO from a sender without a record does not crash (corosync asserts)', () => {
    const c = new FakeCluster();
    startAll(c, [1], { nodelist: nodelist(1) });
    c.form([1]);
    expect(() => vq(c, 1).deliver(0, 9, encodeNodeInfo({ nodeId: 0, votes: 1, expectedVotes: 0, flags: 0 }))).not.toThrow();
    expect(vq(c, 1).getInfo(1)?.qdeviceVotes).toBe(1);
  });
});

describe('configuration', () => {
  it('needs a nodelist with this node or quorum.expected_votes', () => {
    expect(resolveVotequorumConfig({}, 1)).toEqual({ ok: false, error: 'configuration error: nodelist or quorum.expected_votes must be configured!' });
    expect(resolveVotequorumConfig({ nodelist: nodelist(2) }, 3).ok).toBe(false);
    expect(resolveVotequorumConfig({ expectedVotes: 2 }, 3).ok).toBe(true);
    const c = new FakeCluster();
    expect(VotequorumService.create(c.start(1, () => []).api, {}).ok).toBe(false);
  });

  it('takes votes from quorum_votes and expected votes as their sum, unless expected_votes is set', () => {
    const list = nodelist(3, (id) => id);
    const r = resolveVotequorumConfig({ nodelist: list }, 3);
    expect(r.ok && [r.value.votes, r.value.expectedVotes]).toEqual([3, 6]);
    const s = resolveVotequorumConfig({ nodelist: list, expectedVotes: 4 }, 2);
    expect(s.ok && [s.value.votes, s.value.expectedVotes]).toEqual([2, 4]);
    const t = resolveVotequorumConfig({ expectedVotes: 4, votes: 2 }, 9);
    expect(t.ok && [t.value.votes, t.value.expectedVotes]).toEqual([2, 4]);
  });

  it('a single-node cluster is quorate at start and tells the quorum service at once', () => {
    const c = new FakeCluster();
    const node = c.start(1, (n) => {
      const quorum = new QuorumService(n.api, { provider: true });
      const service = VotequorumService.create(n.api, { nodelist: nodelist(1) }, { quorumCallback: (ch) => quorum.setQuorum(ch) });
      if (!service.ok) throw new Error(service.error);
      return [quorum, service.value];
    });
    expect(node.service<QuorumService>(3).getQuorate()).toBe(true);
  });
});

describe('the quorum service without a provider', () => {
  it('is always quorate and reports node lists, not quorum changes, on membership changes', () => {
    const c = new FakeCluster();
    for (const id of [1, 2]) c.start(id, (n) => [new QuorumService(n.api)]);
    const quorum = quorumOf(c, 1);
    const seen: QuorumNotification[] = [];
    const lists: QuorumNodeListNotification[] = [];
    quorum.trackStart((n) => seen.push(n), { flags: TrackFlags.changesOnly, onNodeList: (n) => lists.push(n) });
    c.form([1, 2]);
    c.crash(2);
    c.form([1]);
    expect(quorum.getQuorate()).toBe(true);
    expect(quorum.quorumType()).toBe(0);
    expect(seen).toEqual([]);
    expect(lists.map((n) => [n.members, n.joined, n.left])).toEqual([
      [[1, 2], [1, 2], []],
      [[1], [], [2]],
    ]);
  });

  it('trackStart(current) answers once; stop() ends a tracker', () => {
    const c = new FakeCluster();
    c.start(1, (n) => [new QuorumService(n.api)]);
    const seen: QuorumNotification[] = [];
    quorumOf(c, 1).trackStart((n) => seen.push(n), { flags: TrackFlags.current });
    const tracker = quorumOf(c, 1).trackStart((n) => seen.push(n));
    tracker.stop();
    quorumOf(c, 1).setQuorum({ quorate: false, members: [1], ringId: { rep: 1, seq: 4n } });
    expect(seen).toHaveLength(2);
  });
});

describe('invariants over random partitions of 5 nodes (testing.md Q1–Q3)', () => {
  type Step = { kind: 'partition'; groups: number[] } | { kind: 'crash'; node: number } | { kind: 'restart'; node: number } | { kind: 'tick'; ticks: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('partition' as const), groups: fc.array(fc.nat(2), { minLength: 5, maxLength: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('restart' as const), node: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ticks: fc.integer({ min: 1, max: 30 }) }) },
  );

  const settings: VotequorumSettings = { nodelist: nodelist(5) };

  function run(steps: readonly Step[], seed: number): void {
    const c = new FakeCluster({ prng: new Prng(seed) });
    startAll(c, [1, 2, 3, 4, 5], settings);
    c.form([1, 2, 3, 4, 5]);
    check(c);
    for (const s of steps) {
      if (s.kind === 'tick') {
        c.tick(s.ticks);
        check(c);
        continue;
      }
      if (s.kind === 'crash') {
        if (!c.nodes.has(s.node) || c.nodes.size === 1) continue;
        c.crash(s.node);
      } else if (s.kind === 'restart') {
        if (c.nodes.has(s.node)) continue;
        startVotequorumNode(c, s.node, settings);
      }
      // Re-form: 'partition' draws new groups; crash/restart keep the others' groups.
      const groups = new Map<number, number[]>();
      const running = [...c.nodes.keys()].sort((a, b) => a - b);
      for (const id of running) {
        const g = s.kind === 'partition' ? s.groups[id - 1]! : (c.node(id).ring?.id.rep ?? id);
        groups.set(g, [...(groups.get(g) ?? []), id]);
      }
      c.form(...groups.values());
      check(c);
    }
  }

  function check(c: FakeCluster): void {
    const partitions = c.partitions();
    let quorateRings = 0;
    for (const p of partitions) {
      const ids = p.map((n) => n.id);
      const snaps = ids.map((id) => snapshot(c, id));
      // Q3: after sync, every member agrees on quorate, expected votes and total votes.
      for (const s of snaps) expect([s.quorate, s.expected, s.total]).toEqual([snaps[0]!.quorate, snaps[0]!.expected, snaps[0]!.total]);
      // The quorum service reports votequorum's verdict.
      expect(quorateOf(c, ids)).toEqual(snaps.map((s) => s.quorate));
      if (snaps[0]!.quorate) {
        quorateRings += 1;
        // Q2: quorate ⇒ votes(ring) ≥ ⌊ev/2⌋ + 1 with ev = 5.
        expect(ids.length).toBeGreaterThanOrEqual(3);
        expect(snaps[0]).toMatchObject({ total: ids.length, expected: 5, quorum: 3 });
      }
    }
    // Q1: at most one quorate partition.
    expect(quorateRings).toBeLessThanOrEqual(1);
  }

  it('Q1 at most one quorate partition, Q2 arithmetic, Q3 agreement after every sync', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), fc.integer(), (steps, seed) => {
        run(steps, seed);
      }),
      { numRuns: 200 },
    );
  });

  it('a scripted run through splits, kills and restarts', () => {
    run(
      [
        { kind: 'partition', groups: [0, 0, 1, 1, 1] },
        { kind: 'crash', node: 3 },
        { kind: 'restart', node: 3 },
        { kind: 'partition', groups: [0, 1, 2, 0, 1] },
        { kind: 'partition', groups: [0, 0, 0, 0, 0] },
        { kind: 'tick', ticks: 5 },
      ],
      1,
    );
  });
});

describe('listeners', () => {
  it('onQuorumChange carries every known node with its state; onNodeListChange the new members', () => {
    const c = new FakeCluster();
    startAll(c, [1, 2, 3], { nodelist: nodelist(3) });
    const events: VotequorumQuorumEvent[] = [];
    const lists: { members: readonly number[] }[] = [];
    vq(c, 1).onQuorumChange((e) => events.push(e));
    const stop = vq(c, 1).onNodeListChange((e) => lists.push(e));
    c.form([1, 2, 3]);
    c.crash(3);
    c.form([1, 2]);
    const ringId = c.node(1).api.ringId();
    stop();
    c.form([1, 2]);
    expect(lists.map((l) => l.members)).toEqual([
      [1, 2, 3],
      [1, 2],
    ]);
    expect(events[1]).toEqual({
      quorate: true,
      members: [1, 2],
      ringId,
      nodes: [
        { nodeId: 1, state: 'member' },
        { nodeId: 2, state: 'member' },
        { nodeId: 3, state: 'dead' },
      ],
    });
  });
});
