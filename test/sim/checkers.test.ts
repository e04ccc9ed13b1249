// Each checker over hand-made logs: it passes a correct EVS history and fails one that
// breaks exactly its property (testing.md §4.3); likewise Q3 over hand-made sync points.

import { describe, expect, test } from '@jest/globals';
import type { TotemStats, TotemStatus } from '../../src/totem/srp/types';
import type { RingId, TotemMessage } from '../../src/totem/wire/messages';
import {
  analyze, checkAgreedOrder, checkConfigurationAgreement, checkEvs, checkFifoAndCausal, checkIntegrity,
  checkMonotonicRings, checkNoDuplication, checkNoGapsInRegular, checkSelfDelivery, checkSelfInclusion,
  checkTransitionalStructure, checkVirtualSynchrony,
} from './checkers/evs';
import { checkCoreDelivery, checkTokenRotation, notConvergedReason } from './checkers/liveness';
import { type QuorumRules, checkQuorumAgreement } from './checkers/quorum';
import type { Violation } from './checkers/violation';
import { StatusMonitor, WireMonitor } from './checkers/whitebox';
import type { ConfEntry, DeliverEntry, History, IncarnationLog, LogEntry, SubmitEntry } from './history';
import type { SyncPoint } from './services-history';
import { defaultTotemConfig } from '../../src/totem/config';

const ring = (rep: number, seq: number): RingId => ({ rep, seq: BigInt(seq) });
const A = ring(1, 4);
const B = ring(1, 8);

let clock = 0;
const conf = (type: 'transitional' | 'regular', r: RingId, members: number[], left: number[] = [],
  joined: number[] = []): ConfEntry => ({ k: 'conf', tick: ++clock, type, ring: r, members, left, joined });
const del = (r: RingId, seq: number, msg: string, sender = Number(msg.split(':')[0])): DeliverEntry =>
  ({ k: 'deliver', tick: ++clock, ring: r, seq, sender, msg, digest: `d${msg}`, intact: true });
// Submits carry tick 0 so that hand-made logs never deliver "before submission" (T2).
const sub = (msg: string): SubmitEntry => ({ k: 'submit', tick: 0, msg, digest: `d${msg}` });
const inc = (node: number, entries: LogEntry[], extra: Partial<IncarnationLog> = {}): IncarnationLog =>
  ({ node, inc: 0, startTick: 0, restoredRingSeq: 0n, end: null, entries, ...extra });

/**
 * Ring A = {1,2,3}; 1 and 2 submit; node 3 crashes; 1 and 2 form B = {1,2}. Node 1
 * delivers A/3 in A's transitional part (after the transitional confchg of B).
 */
function correctHistory(): History {
  clock = 0;
  const startA = (): LogEntry[] => [conf('transitional', A, []), conf('regular', A, [1, 2, 3], [], [1, 2, 3])];
  const toB = (): LogEntry[] => [conf('transitional', B, [1, 2], [3]), conf('regular', B, [1, 2], [], [])];
  const n1 = inc(1, [
    ...startA(), sub('1:0:0'), del(A, 1, '1:0:0'), del(A, 2, '2:0:0'), sub('1:0:1'),
    ...toB().slice(0, 1), del(A, 3, '1:0:1'), ...toB().slice(1), del(B, 5, '2:0:1'),
  ]);
  const n2 = inc(2, [
    ...startA(), sub('2:0:0'), del(A, 1, '1:0:0'), del(A, 2, '2:0:0'), del(A, 3, '1:0:1'),
    ...toB(), sub('2:0:1'), del(B, 5, '2:0:1'),
  ]);
  const n3 = inc(3, [...startA(), del(A, 1, '1:0:0')], { end: { kind: 'crash', tick: 50 } });
  return { incarnations: [n1, n2, n3] };
}

function log(h: History, node: number, incNo = 0): IncarnationLog {
  const l = h.incarnations.find((x) => x.node === node && x.inc === incNo);
  if (l === undefined) throw new Error(`no log ${node}#${incNo}`);
  return l;
}

function only(vs: Violation[], invariant: string): void {
  expect(vs.length).toBeGreaterThan(0);
  for (const v of vs) expect(v.invariant).toBe(invariant);
}

describe('EVS checkers on a correct history', () => {
  test('no violation, self-delivery required of the survivors', () => {
    const h = correctHistory();
    expect(checkEvs(h, { requireSelfDelivery: (l) => l.end === null })).toEqual([]);
  });
});

describe('EVS checkers catch violations', () => {
  test('T1 duplicate delivery', () => {
    const h = correctHistory();
    log(h, 2).entries.push(del(B, 6, '1:0:0'));
    only(checkNoDuplication(h), 'T1');
  });

  test('T2 creation, corruption, wrong sender, delivery before submission', () => {
    const h = correctHistory();
    log(h, 2).entries.push({ ...sub('2:0:2'), tick: 1000 }, del(B, 10, '2:0:2'));
    log(h, 2).entries.push(del(B, 6, '9:0:0'));
    log(h, 2).entries.push({ ...del(B, 7, '1:0:1'), digest: 'other' });
    log(h, 2).entries.push({ ...del(B, 8, '2:0:1'), intact: false });
    log(h, 2).entries.push(del(B, 9, '1:0:0', 2));
    const vs = checkIntegrity(h);
    only(vs, 'T2');
    const text = vs.map((v) => v.message).join('\n');
    for (const want of ['never submitted', 'digest other', 'corrupt', 'sender 2, origin is 1', 'before it was submitted']) {
      expect(text).toContain(want);
    }
  });

  test('T3 configuration without self (the empty start-up transitional is allowed)', () => {
    const h = correctHistory();
    expect(checkSelfInclusion(h)).toEqual([]);
    log(h, 3).entries.push(conf('transitional', ring(1, 12), [1]));
    only(checkSelfInclusion(h), 'T3');
  });

  test('T4 member sets disagree, representative not the lowest, transitional sets disagree', () => {
    const h = correctHistory();
    const n2 = log(h, 2).entries;
    n2.splice(n2.findIndex((e) => e.k === 'conf' && e.type === 'regular'), 1, conf('regular', A, [1, 2], [], [1, 2]));
    only(checkConfigurationAgreement(analyze(h)), 'T4');

    const h2 = correctHistory();
    const e1 = log(h2, 1).entries;
    e1.splice(e1.findIndex((e) => e.k === 'conf' && e.type === 'transitional' && e.ring.seq === B.seq), 1,
      conf('transitional', B, [1], [2, 3]));
    expect(checkConfigurationAgreement(analyze(h2)).some((v) => /transitional/.test(v.message))).toBe(true);

    const h3: History = { incarnations: [inc(2, [conf('transitional', ring(2, 4), []), conf('regular', ring(2, 4), [1, 2], [], [1, 2])])] };
    expect(checkConfigurationAgreement(analyze(h3))[0]?.message).toMatch(/not the lowest member/);
  });

  test('T5 ring seq goes back, within an incarnation and across a restart', () => {
    const h = correctHistory();
    log(h, 1).entries.push(conf('transitional', ring(1, 6), [1], [2]), conf('regular', ring(1, 6), [1]));
    only(checkMonotonicRings(h), 'T5');

    const h2 = correctHistory();
    h2.incarnations.push(inc(3, [conf('transitional', ring(3, 3), []), conf('regular', ring(3, 3), [3], [], [3])],
      { inc: 1, restoredRingSeq: 2n }));
    const vs = checkMonotonicRings(h2);
    only(vs, 'T5');
    expect(vs[0]?.message).toMatch(/restarted with ring seq 2/);
    expect(checkEvs(h2, { skipMonotonicRings: true }).filter((v) => v.invariant === 'T5')).toEqual([]);
  });

  test('T6 missing transitional, wrong transitional members, wrong left/joined', () => {
    const h = correctHistory();
    const e2 = log(h, 2).entries;
    e2.splice(e2.findIndex((e) => e.k === 'conf' && e.type === 'transitional' && e.ring.seq === B.seq), 1);
    only(checkTransitionalStructure(analyze(h)), 'T6');

    const h2 = correctHistory();
    const e1 = log(h2, 1).entries;
    e1.splice(e1.findIndex((e) => e.k === 'conf' && e.type === 'transitional' && e.ring.seq === B.seq), 1,
      conf('transitional', B, [1], [2, 3]));
    const vs = checkTransitionalStructure(analyze(h2));
    only(vs, 'T6');
    expect(vs.map((v) => v.message).join('\n')).toMatch(/member 2 came from old ring 1\.4 but is not in the transitional/);

    const h3 = correctHistory();
    const e3 = log(h3, 2).entries;
    e3.splice(e3.findIndex((e) => e.k === 'conf' && e.type === 'regular' && e.ring.seq === B.seq), 1,
      conf('regular', B, [1, 2], [], [1]));
    expect(checkTransitionalStructure(analyze(h3))[0]?.message).toMatch(/regular joined \[1\]/);
  });

  test('T7 a seq slot with two messages, a message in two slots, seqs not increasing', () => {
    const h = correctHistory();
    const e2 = log(h, 2).entries;
    const i = e2.findIndex((e) => e.k === 'deliver' && e.seq === 2);
    e2[i] = del(A, 2, '1:0:1');
    e2[i + 1] = del(A, 3, '2:0:0');
    only(checkAgreedOrder(analyze(h)), 'T7');

    const h2 = correctHistory();
    const e = log(h2, 2).entries;
    const j = e.findIndex((x) => x.k === 'deliver' && x.seq === 2);
    [e[j], e[j + 1]] = [e[j + 1] as LogEntry, e[j] as LogEntry];
    expect(checkAgreedOrder(analyze(h2)).some((v) => /after seq 3/.test(v.message))).toBe(true);
  });

  test('T8 gap in the regular part, delivery outside the configuration', () => {
    const h = correctHistory();
    const e2 = log(h, 2).entries;
    e2.splice(e2.findIndex((e) => e.k === 'deliver' && e.seq === 2), 1);
    only(checkNoGapsInRegular(analyze(h)), 'T8');

    const h2 = correctHistory();
    log(h2, 2).entries.push(del(A, 4, '2:0:1'));
    expect(checkNoGapsInRegular(analyze(h2))[0]?.message).toMatch(/while its configuration was 1\.8/);
  });

  test('T9 same old and new ring, different message sets', () => {
    const h = correctHistory();
    const e2 = log(h, 2).entries;
    e2.splice(e2.findIndex((e) => e.k === 'deliver' && e.seq === 3), 1);
    only(checkVirtualSynchrony(analyze(h)), 'T9');
    expect(checkNoGapsInRegular(analyze(h))).toEqual([]);
  });

  test('T10 a survivor never delivers its own message', () => {
    const h = correctHistory();
    log(h, 1).entries.push(sub('1:0:2'));
    only(checkSelfDelivery(h, (l) => l.end === null), 'T10');
    expect(checkSelfDelivery(h, () => false)).toEqual([]);
  });

  test('T11 sender FIFO and causal order', () => {
    clock = 0;
    const fifo: History = {
      incarnations: [
        inc(1, [sub('1:0:0'), sub('1:0:1'), conf('transitional', A, []), conf('regular', A, [1], [], [1]),
          del(A, 1, '1:0:1'), del(A, 2, '1:0:0')]),
      ],
    };
    only(checkFifoAndCausal(fifo), 'T11');

    const causal: History = {
      incarnations: [
        inc(1, [del(A, 1, '2:0:0'), sub('1:0:0')]),
        inc(2, [sub('2:0:0')]),
        inc(3, [del(B, 1, '1:0:0'), del(B, 2, '2:0:0')]),
      ],
    };
    const vs = checkFifoAndCausal(causal);
    only(vs, 'T11');
    expect(vs[0]?.message).toMatch(/causal/);
  });
});

describe('whitebox monitors (T14)', () => {
  const token = (tokenSeq: number, rtr = 0, r: RingId = A): TotemMessage => ({
    type: 'orf-token', nodeId: 1, targetNodeId: 0, seq: 0, tokenSeq, aru: 0, aruAddr: 0, ringId: r, backlog: 0,
    fcc: 0, retransFlg: 0, rtrList: Array.from({ length: rtr }, (_, i) => ({ ringId: r, seq: i + 1 })),
  });
  const mcast = (seq: number, byte: number): TotemMessage => ({
    type: 'mcast', nodeId: 2, targetNodeId: 0, encapsulated: 2, systemFrom: 2, seq, thisSeqno: 0, ringId: A,
    nodeIdField: 0, guarantee: 0, payload: new Uint8Array([byte]),
  });
  const commit = (from: number, addr: number[], r: RingId = A): [number, TotemMessage] => [from, {
    type: 'commit-token', nodeId: from, targetNodeId: 0, tokenSeq: 1, ringId: r, retransFlg: 0, membIndex: 1, addr,
    membList: addr.map(() => ({ ringId: r, aru: 0, highDelivered: 0, receivedFlg: 0 })),
  }];

  test('a well-behaved sender passes', () => {
    const w = new WireMonitor(30);
    w.observeSend(1, token(1), 4n, 1);
    w.observeSend(1, token(1), 4n, 2); // retransmission
    w.observeSend(1, token(2, 30), 4n, 3);
    w.observeSend(2, mcast(1, 7), 4n, 3);
    w.observeSend(3, mcast(1, 7), 4n, 4); // retransmitted by another node: same bytes
    w.observeSend(...commit(1, [1, 2]), 4n, 5);
    expect(w.violations).toEqual([]);
  });

  test('token_seq regression, long rtr list, slot conflict, non-rep commit token, send before persist', () => {
    const cases: [string, (w: WireMonitor) => void][] = [
      ['token_seq 1 after 2', (w) => { w.observeSend(1, token(2), 4n, 1); w.observeSend(1, token(1), 4n, 2); }],
      ['31 rtr items', (w) => w.observeSend(1, token(1, 31), 4n, 1)],
      ['two different contents', (w) => { w.observeSend(2, mcast(1, 7), 4n, 1); w.observeSend(2, mcast(1, 8), 4n, 2); }],
      ['created the commit token', (w) => w.observeSend(...commit(2, [1, 2]), 4n, 1)],
      ['before persisting', (w) => w.observeSend(1, token(1), 3n, 1)],
      ['two commit tokens', (w) => { w.observeSend(...commit(1, [1, 2]), 4n, 1); w.observeSend(...commit(1, [1, 3]), 4n, 2); }],
    ];
    for (const [want, run] of cases) {
      const w = new WireMonitor(30);
      run(w);
      expect(w.violations.map((v) => v.message).join('\n')).toContain(want);
      only(w.violations, 'T14');
    }
  });

  const stats = (rx: number): TotemStats => ({
    orfTokenTx: 0, orfTokenRx: rx, mcastTx: 0, mcastRx: 0, mcastRetx: 0, membJoinTx: 0, membJoinRx: 0,
    membCommitTokenTx: 0, membCommitTokenRx: 0, membMergeDetectTx: 0, membMergeDetectRx: 0, tokenHoldCancelTx: 0,
    tokenHoldCancelRx: 0, operationalEntered: 0, operationalTokenLost: 0, gatherEntered: 0, gatherTokenLost: 0,
    commitEntered: 0, commitTokenLost: 0, recoveryEntered: 0, recoveryTokenLost: 0, consensusTimeouts: 0,
    rxMsgDropped: 0, continuousGatherCount: 0, failedToRecv: 0, tokenHeld: 0,
  });
  const status = (over: Partial<TotemStatus> = {}): TotemStatus => ({
    nodeId: 1, state: 'operational', ringId: A, members: [1, 2], aru: 5, highSeqReceived: 7, highDelivered: 5,
    sendQueueLength: 0, stats: stats(10), ...over,
  });

  test('status checks', () => {
    const m = new StatusMonitor(defaultTotemConfig(2));
    m.observe(1, 0, status(), { ring: A, members: [1, 2] }, 1);
    m.observe(1, 0, status({ stats: stats(11) }), { ring: A, members: [1, 2] }, 2);
    expect(m.violations).toEqual([]);
    m.observe(1, 0, status({ aru: 8 }), { ring: A, members: [1, 2] }, 3);
    m.observe(1, 0, status({ stats: stats(3) }), { ring: A, members: [1, 2] }, 4);
    m.observe(1, 0, status(), null, 5);
    m.observe(1, 0, status(), { ring: B, members: [1, 2] }, 6);
    m.observe(1, 0, status({ state: 'gather', ringId: ring(1, 1) }), null, 7);
    m.observe(1, 0, status({ state: 'recovery', aru: 0, highSeqReceived: 20000 }), null, 8);
    const text = m.violations.map((v) => v.message).join('\n');
    for (const want of ['aru 8 > highSeqReceived 7', 'counter orfTokenRx went back', 'without having installed',
      'but last installed 1.8', 'ring seq went back', 'sort-queue span 0..20000']) expect(text).toContain(want);
  });
});

describe('liveness checkers (T13)', () => {
  const view = (state: TotemStatus['state'], r: RingId, members: number[]) => ({
    status: { nodeId: 1, state, ringId: r, members, aru: 0, highSeqReceived: 0, highDelivered: 0, sendQueueLength: 0,
      stats: {} as TotemStats },
    lastRegular: { ring: r, members },
  });

  test('convergence', () => {
    expect(notConvergedReason([1, 2], () => view('operational', A, [1, 2]))).toBeNull();
    expect(notConvergedReason([1, 2], (id) => (id === 2 ? null : view('operational', A, [1, 2])))).toMatch(/not running/);
    expect(notConvergedReason([1, 2], () => view('gather', A, [1, 2]))).toMatch(/gather/);
    expect(notConvergedReason([1, 2], (id) => view('operational', id === 1 ? A : B, [1, 2]))).toMatch(/another core node/);
    expect(notConvergedReason([1, 2], () => view('operational', A, [1, 2, 3]))).toMatch(/core is \[1,2\]/);
  });

  test('probes and final-ring agreement', () => {
    const h = correctHistory();
    expect(checkCoreDelivery([log(h, 1), log(h, 2)], B, ['2:0:1'])).toEqual([]);
    only(checkCoreDelivery([log(h, 1), log(h, 2)], B, ['1:0:9']), 'T13');
    log(h, 1).entries.push(del(B, 6, '1:0:1'));
    only(checkCoreDelivery([log(h, 1), log(h, 2)], B, []), 'T13');
  });

  test('token rotation', () => {
    expect(checkTokenRotation(new Map([[1, 5]]), new Map([[1, 6]]), 10)).toEqual([]);
    only(checkTokenRotation(new Map([[1, 5]]), new Map([[1, 5]]), 10), 'T13');
  });
});

describe('Q3 quorum agreement at sync completion', () => {
  const rules = { nodes: 5, twoNode: false, waitForAll: false, lastManStanding: false, autoTieBreaker: false } as const;
  const point = (node: number, quorate: boolean, expectedVotes: number, quorum: number, totalVotes = 2): SyncPoint => ({
    tick: 10 + node, node, inc: 0, ring: '4.19', members: [4, 5], trans: [node], startTick: 1, groups: '', quorate,
    votequorum: { quorate, expectedVotes, highestExpected: expectedVotes, totalVotes, quorum, flags: [], members: [4, 5] },
    cmapMissing: [], throwAways: 0,
  });
  const q3 = (points: SyncPoint[], r: QuorumRules): string[] => checkQuorumAgreement(points, r).map((v) => v.invariant);

  test('constant expected votes: quorate flag and expected votes must agree', () => {
    expect(q3([point(4, true, 5, 3), point(5, true, 5, 3)], rules)).toEqual([]);
    expect(q3([point(4, true, 5, 3), point(5, false, 5, 3)], rules)).toEqual(['Q3']);
    expect(q3([point(4, true, 4, 3), point(5, true, 5, 3)], rules)).toEqual(['Q3']);
  });

  // FINDINGS O2: each node's LMS expected votes are its own (corosync 3.1.7's votequorum.c).
  test('last_man_standing: a quorate flag may differ only with the expected votes or quorum; totals must agree', () => {
    const lms = { ...rules, lastManStanding: true };
    expect(q3([point(4, true, 2, 2), point(5, false, 5, 3)], lms)).toEqual([]);
    expect(q3([point(4, true, 2, 2), point(5, true, 5, 2)], lms)).toEqual([]);
    expect(q3([point(4, true, 2, 2), point(5, false, 2, 2)], lms)).toEqual(['Q3']);
    expect(q3([point(4, true, 2, 2), point(5, true, 2, 2, 3)], lms)).toEqual(['Q3']);
  });

  test('wait_for_all: not checked', () => {
    expect(q3([point(4, true, 5, 3), point(5, false, 4, 3)], { ...rules, waitForAll: true })).toEqual([]);
  });
});
