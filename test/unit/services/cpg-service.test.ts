// Goal: the CPG service (src/services/cpg/cpg-service.ts) gives clients exactly the
// events corosync 3.1.7 + libcpg give (exec/cpg.c, lib/cpg.c; corosync-wire.md §8) and
// keeps the CPG invariants of testing.md: C1 identical per-group event sequences on all
// nodes, C2 no ghosts after sync (a node that joins and dies during sync), C3 join/leave
// semantics and reasons, C4 the paused node learns that the others left, C5 merge
// convergence; plus the "known node" rule, PARTIAL_MCAST reassembly, try-again during
// sync, the atomic size limit, bounds and never throwing on bad input.
// Method: test/unit/services/cpg-fake-cluster.ts, several CpgServices behind fake
// ServiceApis whose multicasts are delivered in one total order to every ring member,
// with confchg + sync rounds driven step by step.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  CpgFn,
  CpgPartialType,
  decodeCpgMessage,
  encodeMcast,
  encodePartialMcastSegments,
  encodeProcJoin,
  encodeProcLeave,
  type CpgPartialTypeCode,
} from '../../../src/services/cpg/cpg-messages';
import { CPG_ATOMIC_MESSAGE_MAX, CpgService, type CpgHandle } from '../../../src/services/cpg/cpg-service';
import { ServiceId, serviceRetryTicks } from '../../../src/services/service-api';
import { bytes, FakeCluster, record } from './cpg-fake-cluster';

const G = bytes('g');

function cluster3(): FakeCluster {
  const c = new FakeCluster([1, 2, 3]);
  c.reform([[1, 2, 3]]);
  return c;
}

/** Connects a handle on a node, joins `group` and delivers. */
function joined(c: FakeCluster, node: number, group = 'g', pid?: number): CpgHandle {
  const h = c.cpg(node).connect(pid === undefined ? {} : { pid });
  expect(h.join(group)).toBe('queued');
  c.run();
  expect(h.state(group)).toBe('joined');
  return h;
}

function sentBy(c: FakeCluster, node: number, fn: number) {
  return c.sent.filter((s) => s.sender === node && s.fn === fn).map((s) => {
    const d = decodeCpgMessage(s.message);
    if (!d.ok) throw d.error;
    return d.value;
  });
}

function partial(group: Uint8Array, pid: number, msgLen: number, partType: CpgPartialTypeCode, payload: string, source = 2): Uint8Array {
  const [h, p] = encodePartialMcastSegments({ group, pid, msgLen, partType, sourceNodeId: source, payload: bytes(payload) });
  const out = new Uint8Array(h.length + p.length);
  out.set(h);
  out.set(p, h.length);
  return out;
}

describe('CpgService basics', () => {
  it('is service 2 named cpg with sync hooks', () => {
    const c = new FakeCluster([1]);
    const s = c.cpg(1);
    expect(s.id).toBe(ServiceId.cpg);
    expect(s.name).toBe('cpg');
    expect(s.sync).not.toBeNull();
  });

  it('hands out unique pids from the base, or the one given', () => {
    const c = new FakeCluster([1], { pidBase: 0x40000000 });
    const s = c.cpg(1);
    const a = s.connect();
    const b = s.connect();
    const d = s.connect({ pid: 7427 });
    expect([a.pid, b.pid, d.pid]).toEqual([0x40000000, 0x40000001, 7427]);
    expect(s.tryConnect({ pid: -1 })).toBe('bad-pid');
    expect(s.tryConnect({ pid: 2 ** 32 })).toBe('bad-pid');
  });

  it('joins take effect on delivery: no event before, then a confchg containing the joiner (C3)', () => {
    const c = cluster3();
    const a = c.cpg(1).connect();
    const events = record(a);
    expect(a.join('g')).toBe('queued');
    expect(a.state('g')).toBe('join-started');
    expect(a.membership('g')).toEqual([]);
    expect(events).toEqual([]);
    c.run();
    expect(a.state('g')).toBe('joined');
    expect(events).toEqual(['confchg g members=[1:1000] joined=[1:1000:1] left=[]']);
    for (const n of [1, 2, 3]) expect(c.cpg(n).membership('g')).toEqual([{ nodeId: 1, pid: 1000 }]);
  });

  it('sends a byte-exact PROCJOIN (168 bytes, reason JOIN, zero-filled name) and MCAST in two pieces', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const join = c.sent.find((s) => s.fn === CpgFn.procJoin);
    expect(join?.message).toEqual(encodeProcJoin({ group: G, pid: 1000 }));
    expect(join?.message.length).toBe(168);
    expect(a.mcast('g', bytes('hello'))).toBe('queued');
    const m = c.sent.at(-1);
    expect(m?.message).toEqual(encodeMcast({ group: G, pid: 1000, sourceNodeId: 1, payload: bytes('hello') }));
  });

  it('delivers MCAST in agreed order to every joined handle, the sender included', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const b = joined(c, 2);
    const ea = record(a);
    const eb = record(b);
    expect(a.mcast('g', bytes('one'))).toBe('queued');
    expect(b.mcast('g', bytes('two'))).toBe('queued');
    expect(a.mcast('g', bytes('three'))).toBe('queued');
    c.run();
    const want = ['deliver g 1:1000 one', 'deliver g 2:2000 two', 'deliver g 1:1000 three'];
    expect(ea).toEqual(want);
    expect(eb).toEqual(want);
    expect(c.cpg(1).counters()).toMatchObject({ mcasts: 3, delivered: 3, deliveries: 3 });
  });

  it('lets a joining (not yet joined) handle send, and refuses a handle that is not in the group', () => {
    const c = cluster3();
    const a = c.cpg(1).connect();
    expect(a.mcast('g', bytes('x'))).toBe('not-joined');
    expect(a.join('g')).toBe('queued');
    expect(a.mcast('g', bytes('early'))).toBe('queued');
    const b = joined(c, 2);
    expect(b.mcast('other', bytes('x'))).toBe('not-joined');
    expect(b.mcast('', bytes('x'))).toBe('not-joined');
    expect(c.delivered.filter((d) => d.fn === CpgFn.mcast)).toHaveLength(1);
  });

  it('validates names: 1..128 bytes', () => {
    const c = cluster3();
    const a = c.cpg(1).connect();
    expect(a.join('')).toBe('bad-name');
    expect(a.join('x'.repeat(129))).toBe('bad-name');
    expect(a.join('x'.repeat(128))).toBe('queued');
    expect(a.join(new Uint8Array([0, 0xff, 1]))).toBe('queued');
    c.run();
    expect(c.cpg(2).membership(new Uint8Array([0, 0xff, 1]))).toEqual([{ nodeId: 1, pid: 1000 }]);
  });

  it('refuses a second join of the same (pid, group) and a join while its leave is in flight', () => {
    const c = cluster3();
    const a = joined(c, 1);
    expect(a.join('g')).toBe('exists');
    const twin = c.cpg(1).connect({ pid: a.pid });
    expect(twin.join('g')).toBe('exists');
    expect(a.leave('g')).toBe('queued');
    expect(a.join('g')).toBe('busy');
    expect(twin.join('g')).toBe('exists');
    c.run();
    expect(twin.join('g')).toBe('queued');
  });

  it('lists groups and members for cpgtool, by name', () => {
    const c = cluster3();
    joined(c, 2, 'zeta');
    joined(c, 1, 'alpha');
    joined(c, 3, 'alpha');
    expect(c.cpg(2).groups().map((g) => [g.group, g.members])).toEqual([
      ['alpha', [{ nodeId: 1, pid: 1000 }, { nodeId: 3, pid: 3000 }]],
      ['zeta', [{ nodeId: 2, pid: 2000 }]],
    ]);
  });
});

describe('leave and finalize (C3 reasons)', () => {
  it('an explicit leave: every member gets LEAVE (2), the leaver last of all its events, then nothing', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const b = joined(c, 2);
    const ea = record(a);
    const eb = record(b);
    expect(a.leave('g')).toBe('queued');
    expect(a.state('g')).toBe('leave-started');
    expect(a.leave('g')).toBe('not-joined');
    c.run();
    expect(a.state('g')).toBe('unjoined');
    expect(ea).toEqual(['confchg g members=[2:2000] joined=[] left=[1:1000:2]']);
    expect(eb).toEqual(['confchg g members=[2:2000] joined=[] left=[1:1000:2]']);
    b.mcast('g', bytes('after'));
    joined(c, 3);
    c.run();
    expect(ea).toHaveLength(1);
    // Unlike 3.1.7 (which leaves the connection LEAVE_STARTED), the handle can join again.
    expect(a.join('g')).toBe('queued');
    c.run();
    expect(ea.at(-1)).toBe('confchg g members=[1:1000,2:2000,3:3000] joined=[1:1000:1] left=[]');
  });

  it('a leave before the join is delivered is refused with busy', () => {
    const c = cluster3();
    const a = c.cpg(1).connect();
    a.join('g');
    expect(a.leave('g')).toBe('busy');
  });

  it('finalize leaves every group with PROCDOWN (5) and the handle gets no more events', () => {
    const c = cluster3();
    const a = joined(c, 1);
    expect(a.join('h')).toBe('queued');
    c.run();
    const b = joined(c, 2);
    expect(b.join('h')).toBe('queued');
    c.run();
    const ea = record(a);
    const eb = record(b);
    a.finalize();
    a.finalize();
    expect(a.finalized).toBe(true);
    expect(a.state('g')).toBe('unjoined');
    expect(a.join('g')).toBe('finalized');
    expect(a.mcast('g', bytes('x'))).toBe('not-joined');
    c.run();
    expect(ea).toEqual([]);
    expect(eb).toEqual(['confchg g members=[2:2000] joined=[] left=[1:1000:5]', 'confchg h members=[2:2000] joined=[] left=[1:1000:5]']);
    expect(sentBy(c, 1, CpgFn.procLeave)).toEqual([
      { type: 'procleave', group: G, pid: 1000, reason: 5 },
      { type: 'procleave', group: bytes('h'), pid: 1000, reason: 5 },
    ]);
    expect(c.cpg(1).handleCount).toBe(0);
  });

  it('finalize of a handle whose join is still in flight: others see the join, then PROCDOWN', () => {
    const c = cluster3();
    const b = joined(c, 2);
    const eb = record(b);
    const a = c.cpg(1).connect();
    a.join('g');
    a.finalize();
    c.run();
    expect(eb).toEqual(['confchg g members=[1:1000,2:2000] joined=[1:1000:1] left=[]', 'confchg g members=[2:2000] joined=[] left=[1:1000:5]']);
    expect(c.cpg(3).membership('g')).toEqual([{ nodeId: 2, pid: 2000 }]);
  });

  it('a PROCLEAVE for an unknown process still notifies the group, as corosync does', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const ea = record(a);
    c.inject(2, encodeProcLeave({ group: G, pid: 2999, reason: 2 }));
    c.run();
    expect(ea).toEqual(['confchg g members=[1:1000] joined=[] left=[2:2999:2]']);
    expect(c.cpg(1).counters().leavesOfUnknown).toBe(1);
  });

  it('ignores a PROCJOIN of a process already known (no confchg)', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 2);
    const ea = record(a);
    c.inject(2, encodeProcJoin({ group: G, pid: 2000 }));
    c.run();
    expect(ea).toEqual([]);
    expect(c.cpg(1).counters().duplicateJoins).toBe(1);
  });
});

describe('group view agreement (C1)', () => {
  it('every node sees the same per-group sequence of confchgs and messages', () => {
    type Op = { node: number; client: number; op: 'join' | 'leave' | 'mcast' | 'finalize' | 'run'; group: 'g' | 'h' };
    const op: fc.Arbitrary<Op> = fc.record({
      node: fc.integer({ min: 1, max: 3 }),
      client: fc.integer({ min: 0, max: 2 }),
      op: fc.constantFrom('join', 'join', 'leave', 'mcast', 'mcast', 'finalize', 'run'),
      group: fc.constantFrom('g', 'h'),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const c = cluster3();
        const watchers = [1, 2, 3].map((n) => {
          const w = c.cpg(n).connect({ pid: n * 100 });
          w.join('g');
          w.join('h');
          return { w, events: record(w) };
        });
        c.run();
        const clients = [1, 2, 3].map((n) => [0, 1, 2].map(() => c.cpg(n).connect()));
        let k = 0;
        for (const o of ops) {
          const h = clients[o.node - 1]?.[o.client];
          if (h === undefined) continue;
          if (o.op === 'join') h.join(o.group);
          else if (o.op === 'leave') h.leave(o.group);
          else if (o.op === 'mcast') h.mcast(o.group, bytes(`m${(k += 1)}`));
          else if (o.op === 'finalize') h.finalize();
          else c.run(2);
        }
        c.run();
        // After the last watcher's join, every watcher's events per group must agree.
        const perGroup = (events: string[], group: string) => {
          const mine = events.filter((e) => e.split(' ')[1] === group);
          const start = mine.findIndex((e) => e.includes('joined=[3:300:1]'));
          return mine.slice(start + 1);
        };
        for (const group of ['g', 'h']) {
          const seqs = watchers.map(({ events }) => perGroup(events, group));
          expect(seqs[1]).toEqual(seqs[0]);
          expect(seqs[2]).toEqual(seqs[0]);
        }
        const views = [1, 2, 3].map((n) => c.cpg(n).groups());
        expect(views[1]).toEqual(views[0]);
        expect(views[2]).toEqual(views[0]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('sync: NODEDOWN, NODEUP, PROCDOWN, try-again', () => {
  it('a killed node: DOWNLIST old 3 left [3], NODEDOWN (3) for its processes, one confchg per group in name order, then the totem confchg', () => {
    const c = cluster3();
    const a = joined(c, 1, 'b');
    a.join('a');
    c.run();
    const p3 = joined(c, 3, 'b');
    p3.join('a');
    c.run();
    const p3b = joined(c, 3, 'b');
    const ea = record(a);
    const idle = c.cpg(2).connect();
    const ei = record(idle);
    c.kill(3);
    const [ring] = c.form([[1, 2]]);
    if (!ring) throw new Error('no ring');
    expect(a.mcast('a', bytes('x'))).toBe('try-again');
    expect(a.join('c')).toBe('try-again');
    expect(a.leave('a')).toBe('try-again');
    c.completeSync(ring);
    expect(ea).toEqual([
      'confchg a members=[1:1000] joined=[] left=[3:3000:3]',
      `confchg b members=[1:1000] joined=[] left=[3:3000:3,3:${p3b.pid}:3]`,
      'totem 1.8 [1,2]',
    ]);
    expect(ei).toEqual(['totem 1.8 [1,2]']);
    expect(sentBy(c, 1, CpgFn.downList).at(-1)).toEqual({ type: 'downlist', oldMembers: 3, leftNodes: [3] });
    expect(sentBy(c, 2, CpgFn.downList).at(-1)).toEqual({ type: 'downlist', oldMembers: 3, leftNodes: [3] });
    // Node 2 has no local process: no JOINLIST; node 1 announces its two.
    expect(sentBy(c, 2, CpgFn.joinList)).toEqual([]);
    expect(sentBy(c, 1, CpgFn.joinList).at(-1)).toEqual({
      type: 'joinlist',
      error: 0,
      entries: [
        { pid: 1000, group: bytes('b') },
        { pid: 1000, group: bytes('a') },
      ],
    });
    expect(a.mcast('a', bytes('x'))).toBe('queued');
  });

  it('a merge: NODEUP (4) for the other side\'s processes, newest joinlist entry first; all nodes converge (C5)', () => {
    const c = new FakeCluster([1, 2, 3]);
    c.reform([[1, 2], [3]]);
    const a = joined(c, 1);
    const p = joined(c, 3);
    const q = joined(c, 3);
    const ea = record(a);
    const ep = record(p);
    c.reform([[1, 2, 3]]);
    expect(ea).toEqual(['confchg g members=[1:1000,3:3000,3:3001] joined=[3:3001:4,3:3000:4] left=[]', 'totem 1.12 [1,2,3]']);
    expect(ep).toEqual(['confchg g members=[1:1000,3:3000,3:3001] joined=[1:1000:4] left=[]', 'totem 1.12 [1,2,3]']);
    expect(q.membership('g')).toEqual(a.membership('g'));
    const views = [1, 2, 3].map((n) => c.cpg(n).groups());
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    expect(sentBy(c, 3, CpgFn.downList).at(-1)).toEqual({ type: 'downlist', oldMembers: 1, leftNodes: [] });
  });

  it('a paused node learns that the others left (C4), then rejoins and converges (C5)', () => {
    const c = cluster3();
    const h = [1, 2, 3].map((n) => joined(c, n));
    const events = h.map((x) => record(x));
    // Nodes 1 and 2 move on without node 3, which is paused and sees nothing.
    c.reform([[1, 2]]);
    expect(events[0]).toEqual(['confchg g members=[1:1000,2:2000] joined=[] left=[3:3000:3]', 'totem 1.8 [1,2]']);
    expect(events[2]).toEqual([]);
    // Node 3 wakes up alone: its downlist, chosen locally, is both others.
    c.reform([[3]]);
    expect(events[2]).toEqual(['confchg g members=[3:3000] joined=[] left=[1:1000:3,2:2000:3]', 'totem 3.12 [3]']);
    c.reform([[1, 2, 3]]);
    const views = [1, 2, 3].map((n) => c.cpg(n).membership('g'));
    expect(views).toEqual([views[0], views[0], views[0]]);
    expect(views[0]).toEqual([
      { nodeId: 1, pid: 1000 },
      { nodeId: 2, pid: 2000 },
      { nodeId: 3, pid: 3000 },
    ]);
    expect(events[2]?.at(-2)).toBe('confchg g members=[1:1000,2:2000,3:3000] joined=[2:2000:4,1:1000:4] left=[]');
  });

  it('a node restarted before anyone noticed is in the new ring but not the transitional list: NODEDOWN for its old processes', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 3);
    const ea = record(a);
    c.kill(3);
    c.restart(3);
    c.reform([[3]]);
    const fresh = joined(c, 3);
    c.reform([[1, 2, 3]]);
    expect(sentBy(c, 1, CpgFn.downList).at(-1)).toEqual({ type: 'downlist', oldMembers: 3, leftNodes: [3] });
    expect(ea).toEqual([
      'confchg g members=[1:1000] joined=[] left=[3:3000:3]',
      `confchg g members=[1:1000,3:${fresh.pid}] joined=[3:${fresh.pid}:4] left=[]`,
      'totem 1.12 [1,2,3]',
    ]);
  });

  it('no ghosts (C2): a node that joins and dies during sync leaves no member behind', () => {
    const c = new FakeCluster([1, 2, 3]);
    c.reform([[1, 2], [3]]);
    const a = joined(c, 1);
    joined(c, 3);
    const ea = record(a);
    const [merged] = c.form([[1, 2, 3]]);
    if (!merged) throw new Error('no ring');
    // Node 3 gets through its CPG sync step (DOWNLIST + JOINLIST) and a late PROCJOIN
    // of another of its processes is delivered, then it dies before the barrier.
    c.processSync(merged, [3]);
    c.inject(3, encodeProcJoin({ group: G, pid: 3999 }));
    c.run();
    expect(c.cpg(1).membership('g')).toEqual([
      { nodeId: 1, pid: 1000 },
      { nodeId: 3, pid: 3999 },
    ]);
    c.kill(3);
    c.reform([[1, 2]]);
    for (const n of [1, 2]) {
      const nodes = c.cpg(n).groups().flatMap((g) => g.members.map((m) => m.nodeId));
      expect(nodes.every((id) => id === 1 || id === 2)).toBe(true);
    }
    expect(c.cpg(1).membership('g')).toEqual([{ nodeId: 1, pid: 1000 }]);
    // NODEDOWN, not corosync's PROCDOWN: node 3 is outside the new ring (FINDINGS F10).
    expect(ea).toEqual([
      'confchg g members=[1:1000,3:3999] joined=[3:3999:1] left=[]',
      'confchg g members=[1:1000] joined=[] left=[3:3999:3]',
      'totem 1.16 [1,2]',
    ]);
    expect(c.cpg(1).counters()).toMatchObject({ syncAborts: 1 });
  });

  it('a node known only from an aborted sync leaves with NODEDOWN when the next ring is without it, though it is alive (FINDINGS F10)', () => {
    const c = new FakeCluster([1, 2, 3]);
    c.reform([[1, 2], [3]]);
    const a = joined(c, 1);
    joined(c, 3);
    const ea = record(a);
    const [merged] = c.form([[1, 2, 3]]);
    if (!merged) throw new Error('no ring');
    // A PROCJOIN node 3 queued before the merge is delivered during the merged ring's sync.
    c.inject(3, encodeProcJoin({ group: G, pid: 3999 }));
    c.run();
    expect(ea).toEqual(['confchg g members=[1:1000,3:3999] joined=[3:3999:1] left=[]']);
    // The sync is aborted and the old partitions form again: node 3 lives on in its own ring.
    c.reform([[1, 2], [3]]);
    // corosync's downlist is "members at the last activate ([1,2]) minus the transitional
    // list ([1,2])": empty. 3:3999 is then a zombie, which corosync 3.1.7 removes with
    // PROCDOWN (5), as if the process had died; its node merely left.
    expect(sentBy(c, 1, CpgFn.downList).at(-1)).toEqual({ type: 'downlist', oldMembers: 2, leftNodes: [] });
    expect(ea).toEqual([
      'confchg g members=[1:1000,3:3999] joined=[3:3999:1] left=[]',
      'confchg g members=[1:1000] joined=[] left=[3:3999:3]',
      'totem 1.16 [1,2]',
    ]);
    expect(c.cpg(1).membership('g')).toEqual([{ nodeId: 1, pid: 1000 }]);
    // Node 3 itself goes on with both of its processes.
    expect(c.cpg(3).membership('g')).toEqual([{ nodeId: 3, pid: 3000 }, { nodeId: 3, pid: 3999 }]);
  });

  it('removes remote processes that no joinlist mentions with PROCDOWN (5)', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 3);
    const ea = record(a);
    c.inject(3, encodeProcJoin({ group: G, pid: 3777 }));
    c.run();
    // Node 3 no longer has 3:3777 (its leave reached node 3 only), so its next joinlist
    // does not mention it and the others drop it at activate.
    c.node(3).cpg.deliver(CpgFn.procLeave, 3, encodeProcLeave({ group: G, pid: 3777, reason: 2 }));
    c.reform([[1, 2, 3]]);
    expect(ea).toContain('confchg g members=[1:1000,3:3000] joined=[] left=[3:3777:5]');
    expect(c.cpg(1).membership('g')).toEqual(c.cpg(3).membership('g'));
  });

  it('mcast/join/leave return try-again during sync and send nothing; finalize still leaves', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const b = joined(c, 2);
    const eb = record(b);
    const before = c.sent.length;
    const [ring] = c.form([[1, 2, 3]]);
    if (!ring) throw new Error('no ring');
    expect(a.mcast('g', bytes('x'))).toBe('try-again');
    expect(a.leave('g')).toBe('try-again');
    expect(c.cpg(1).connect().join('g')).toBe('try-again');
    expect(c.sent.length).toBe(before);
    a.finalize();
    expect(c.sent.length).toBe(before + 1);
    c.completeSync(ring);
    expect(eb).toEqual(['confchg g members=[2:2000] joined=[] left=[1:1000:5]', 'totem 1.8 [1,2,3]']);
  });

  it('a JOINLIST that still lists a process whose PROCLEAVE was delivered in the round brings no ghost back', () => {
    const c = cluster3();
    joined(c, 1);
    const a2 = joined(c, 1);
    const b = joined(c, 2);
    const eb = record(b);
    const [ring] = c.form([[1, 2, 3]]);
    if (!ring) throw new Error('no ring');
    a2.finalize();
    c.processSync(ring);
    // As corosync, the JOINLIST is built from the whole process list: the leave is still queued.
    expect(sentBy(c, 1, CpgFn.joinList).at(-1)).toEqual({ type: 'joinlist', error: 0, entries: [{ pid: 1000, group: G }, { pid: 1001, group: G }] });
    c.run();
    c.activateSync(ring);
    expect(eb).toEqual(['confchg g members=[1:1000,2:2000] joined=[] left=[1:1001:5]', 'totem 1.8 [1,2,3]']);
    for (const n of [1, 2, 3]) expect(c.cpg(n).membership('g')).toEqual([{ nodeId: 1, pid: 1000 }, { nodeId: 2, pid: 2000 }]);
  });

  it('a corosync node\'s joinlist that lists a process removed earlier in the round does not re-add it (no ghost, unlike corosync 3.1.7)', () => {
    const c = cluster3();
    const a = joined(c, 1);
    c.inject(2, encodeProcJoin({ group: G, pid: 2555 }));
    c.run();
    const ea = record(a);
    const [ring] = c.form([[1, 2, 3]]);
    if (!ring) throw new Error('no ring');
    c.processSync(ring, [1, 3]);
    // Node 2's client exits during sync: its PROCLEAVE is queued, then node 2 builds its
    // joinlist from a process list that still has the client (corosync 3.1.7's order).
    c.inject(2, encodeProcLeave({ group: G, pid: 2555, reason: 5 }));
    c.processSync(ring, [2]);
    c.run();
    c.activateSync(ring);
    expect(ea).toEqual([
      'confchg g members=[1:1000] joined=[] left=[2:2555:5]',
      'totem 1.8 [1,2,3]',
    ]);
    for (const n of [1, 2, 3]) expect(c.cpg(n).membership('g')).toEqual([{ nodeId: 1, pid: 1000 }]);
  });

  it('notifies every handle of the totem membership at activate, joined or not', () => {
    const c = new FakeCluster([1, 2]);
    c.reform([[1]]);
    const idle = c.cpg(1).connect();
    const e = record(idle);
    c.reform([[1, 2]]);
    expect(e).toEqual(['totem 1.8 [1,2]']);
  });

  it('initialTotemConf: the first confchg notification is followed once by the last sync\'s membership', () => {
    const c = cluster3();
    const a = c.cpg(1).connect({ initialTotemConf: true });
    const e = record(a);
    a.join('g');
    c.run();
    joined(c, 2);
    expect(e).toEqual([
      'confchg g members=[1:1000] joined=[1:1000:1] left=[]',
      'totem 1.4 [1,2,3]',
      'confchg g members=[1:1000,2:2000] joined=[2:2000:1] left=[]',
    ]);
  });
});

describe('the known-node rule', () => {
  it('drops an MCAST from a node with no process in the group, counting it', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const ea = record(a);
    joined(c, 2, 'other');
    c.inject(2, encodeMcast({ group: G, pid: 2000, sourceNodeId: 2, payload: bytes('nope') }));
    c.run();
    expect(ea).toEqual([]);
    expect(c.cpg(1).counters().unknownNode).toBe(1);
    expect(c.node(1).logs.some((l) => l.level === 'warning' && l.message === 'Unknown node -> we will not deliver message')).toBe(true);
    // Node 3 has no local member of g: nothing to deliver, nothing counted.
    expect(c.cpg(3).counters().unknownNode).toBe(0);
  });

  it('is per node, not per process: any pid of a known node is delivered', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 2);
    const ea = record(a);
    c.inject(2, encodeMcast({ group: G, pid: 2999, sourceNodeId: 2, payload: bytes('yes') }));
    c.run();
    expect(ea).toEqual(['deliver g 2:2999 yes']);
  });
});

describe('PARTIAL_MCAST reassembly', () => {
  it('delivers whole messages per (node, pid), interleaved, once', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 2);
    const ea = record(a);
    c.inject(2, partial(G, 2000, 12, CpgPartialType.first, 'hello'));
    c.inject(2, partial(G, 2001, 4, CpgPartialType.first, 'ab'));
    c.inject(2, partial(G, 2000, 12, CpgPartialType.continued, ' wor'));
    c.inject(2, partial(G, 2001, 4, CpgPartialType.last, 'cd'));
    c.inject(2, partial(G, 2000, 12, CpgPartialType.last, 'ld!'));
    c.run();
    expect(ea).toEqual(['deliver g 2:2001 abcd', 'deliver g 2:2000 hello world!']);
    expect(c.cpg(1).counters()).toMatchObject({ partialFragments: 5, partialDelivered: 2, partialDropped: 0 });
  });

  it('ignores fragments without a FIRST, drops inconsistent assemblies, restarts on a new FIRST', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 2);
    const ea = record(a);
    c.inject(2, partial(G, 2000, 4, CpgPartialType.last, 'zz'));
    c.inject(2, partial(G, 2000, 10, CpgPartialType.first, 'abc'));
    c.inject(2, partial(G, 2000, 10, CpgPartialType.last, 'de'));
    c.inject(2, partial(G, 2000, 4, CpgPartialType.first, 'xx'));
    c.inject(2, partial(G, 2000, 4, CpgPartialType.first, 'ok'));
    c.inject(2, partial(G, 2000, 4, CpgPartialType.last, '!!'));
    c.run();
    expect(ea).toEqual(['deliver g 2:2000 ok!!']);
    expect(c.cpg(1).counters()).toMatchObject({ partialOrphans: 1, partialDropped: 2, partialDelivered: 1 });
  });

  it('drops the assembly of a sender that left, and of an unknown node', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const s = joined(c, 2);
    joined(c, 2);
    const ea = record(a);
    c.inject(2, partial(G, s.pid, 4, CpgPartialType.first, 'ab'));
    c.run();
    s.leave('g');
    c.run();
    c.inject(2, partial(G, s.pid, 4, CpgPartialType.last, 'cd'));
    c.inject(3, partial(G, 3000, 2, CpgPartialType.first, 'x', 3));
    c.run();
    expect(ea).toEqual(['confchg g members=[1:1000,2:2001] joined=[] left=[2:2000:2]']);
    expect(c.cpg(1).counters()).toMatchObject({ partialOrphans: 1, unknownNode: 1, partialDelivered: 0 });
  });

  it('gives the whole message only to handles that got every fragment', () => {
    const c = cluster3();
    const a = joined(c, 1);
    joined(c, 2);
    const late = c.cpg(1).connect();
    const el = record(late);
    const ea = record(a);
    c.inject(2, partial(G, 2000, 4, CpgPartialType.first, 'ab'));
    c.run();
    late.join('g');
    c.run();
    c.inject(2, partial(G, 2000, 4, CpgPartialType.last, 'cd'));
    c.run();
    expect(ea.at(-1)).toBe('deliver g 2:2000 abcd');
    expect(el).toEqual(['confchg g members=[1:1000,1:1001,2:2000] joined=[1:1001:1] left=[]']);
  });

  it('bounds pending assemblies and their announced size', () => {
    const c = new FakeCluster([1, 2], { limits: { partialAssemblies: 1, partialMessageBytes: 8 } });
    c.reform([[1, 2]]);
    joined(c, 1);
    joined(c, 2);
    c.inject(2, partial(G, 2000, 9, CpgPartialType.first, 'a'));
    c.inject(2, partial(G, 2000, 4, CpgPartialType.first, 'a'));
    c.inject(2, partial(G, 2001, 4, CpgPartialType.first, 'a'));
    c.run();
    expect(c.cpg(1).counters().partialDropped).toBe(2);
  });
});

describe('limits and flow', () => {
  it('sends messages up to libcpg\'s atomic limit (1 MiB − 1 KiB) as MCAST and refuses larger ones', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const b = joined(c, 2);
    let got = -1;
    b.onDeliver((e) => (got = e.payload.length));
    expect(a.mcast('g', new Uint8Array(CPG_ATOMIC_MESSAGE_MAX + 1))).toBe('too-large');
    expect(a.mcast('g', new Uint8Array(CPG_ATOMIC_MESSAGE_MAX).fill(7))).toBe('queued');
    c.run();
    expect(got).toBe(CPG_ATOMIC_MESSAGE_MAX);
    expect(c.sent.at(-1)?.message.length).toBe(184 + CPG_ATOMIC_MESSAGE_MAX);
  });

  it('a full send queue: join/leave/mcast say full; a finalize\'s leaves wait and go first', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const eb = record(joined(c, 2));
    const n1 = c.node(1);
    n1.full = true;
    const other = c.cpg(1).connect();
    expect(other.join('g')).toBe('full');
    expect(other.state('g')).toBe('unjoined');
    expect(a.mcast('g', bytes('x'))).toBe('full');
    expect(c.cpg(1).ticksToNextTimer()).toBeNull();
    a.finalize();
    expect(c.cpg(1).pendingSendCount).toBe(1);
    expect(c.cpg(1).ticksToNextTimer()).toBe(serviceRetryTicks(c.node(1).tickMs));
    n1.full = false;
    // Anything new waits behind the pending leave: it goes out first.
    expect(other.join('g')).toBe('queued');
    expect(c.cpg(1).pendingSendCount).toBe(0);
    c.run();
    expect(eb).toEqual(['confchg g members=[2:2000] joined=[] left=[1:1000:5]', `confchg g members=[1:${other.pid},2:2000] joined=[1:${other.pid}:1] left=[]`]);
    n1.full = true;
    other.finalize();
    n1.full = false;
    c.cpg(1).tick();
    expect(c.cpg(1).pendingSendCount).toBe(0);
    expect(c.cpg(1).ticksToNextTimer()).toBeNull();
  });

  it('sync process says again while the queue is full, and resumes where it stopped', () => {
    const c = cluster3();
    joined(c, 1);
    const [ring] = c.form([[1, 2, 3]]);
    if (!ring) throw new Error('no ring');
    const n1 = c.node(1);
    n1.full = true;
    expect(n1.cpg.sync?.process()).toBe('again');
    n1.full = false;
    expect(n1.cpg.sync?.process()).toBe('done');
    expect(c.sent.filter((s) => s.sender === 1 && s.ring === ring.id).map((s) => s.fn)).toEqual([CpgFn.downList, CpgFn.joinList]);
  });

  it('bounds handles and groups per handle', () => {
    const c = new FakeCluster([1], { limits: { handles: 2, groupsPerHandle: 2, localMemberships: 3 } });
    c.reform([[1]]);
    const s = c.cpg(1);
    const a = s.connect();
    const b = s.connect();
    expect(s.tryConnect()).toBe('too-many-handles');
    expect(() => s.connect()).toThrow(RangeError);
    expect([a.join('x'), a.join('y'), a.join('z')]).toEqual(['queued', 'queued', 'too-many']);
    expect([b.join('x'), b.join('y')]).toEqual(['queued', 'too-many']);
    b.finalize();
    expect(s.connect().join('q')).toBe('queued');
  });

  it('never throws on malformed messages: counts them', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const s = c.cpg(1);
    s.deliver(3, 2, new Uint8Array(10));
    s.deliver(3, 2, new Uint8Array(300));
    s.deliver(CpgFn.procJoin, 2, encodeMcast({ group: G, pid: 1, sourceNodeId: 2, payload: bytes('x') }));
    const longName = encodeProcJoin({ group: G, pid: 5 });
    new DataView(longName.buffer).setUint32(16, 129, true);
    s.deliver(CpgFn.procJoin, 2, longName);
    expect(s.counters().decodeErrors).toBe(4);
    expect(a.membership('g')).toEqual([{ nodeId: 1, pid: 1000 }]);
  });

  it('a throwing listener is counted and does not disturb others', () => {
    const c = cluster3();
    const a = joined(c, 1);
    const b = joined(c, 2);
    a.onDeliver(() => {
      throw new Error('client bug');
    });
    const ea = record(a);
    const off = a.onDeliver(() => undefined);
    off();
    b.mcast('g', bytes('x'));
    c.run();
    expect(ea).toEqual(['deliver g 2:2000 x']);
    expect(c.cpg(1).counters().listenerErrors).toBe(1);
  });

  it('keeps working when constructed standalone (no ring yet)', () => {
    const c = new FakeCluster([1]);
    const s: CpgService = c.cpg(1);
    const h = s.connect();
    expect(h.join('g')).toBe('full');
    expect(s.groups()).toEqual([]);
  });
});

describe('CpgService.iteration (cpg_iteration_initialize order)', () => {
  it('lists groups newest first: first member, then the rest in reverse process-list order', () => {
    const c = cluster3();
    joined(c, 1, 'alpha', 100);
    joined(c, 2, 'alpha', 200);
    joined(c, 3, 'alpha', 300);
    joined(c, 2, 'beta', 50);
    const view = c.cpg(1).iteration().map((g) => `${g.group}:${g.members.map((m) => `${m.nodeId}/${m.pid}`).join(',')}`);
    // Process list order (nodeid, pid): 1/100 alpha, 2/50 beta, 2/200 alpha, 3/300 alpha.
    expect(view).toEqual(['beta:2/50', 'alpha:1/100,3/300,2/200']);
    // groups() keeps its own order: by name, members by (nodeid, pid).
    expect(c.cpg(1).groups().map((g) => g.group)).toEqual(['alpha', 'beta']);
  });
});
