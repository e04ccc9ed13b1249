// votequorum / quorum checkers (testing.md §4.3, Q1–Q4) and the cluster-level part of M1.
//
// "At any instant" (Q1). Quorate flags flip while a sync runs: votequorum recalculates on
// every NODEINFO, and a node's NODEINFO carries the quorate bit of its previous ring.
// What services and clients act on is the quorum service's flag, set by votequorum at the
// end of each sync and on changes outside sync. So the instants are the sync completion
// points and the quorum notifications outside sync, and a node's claim is: its host is not
// syncing and its quorum service says quorate, for the host's current ring. A claim only
// counts while its ring is live: every running member of the ring still has that ring as
// its current one (a member that moved on to a newer confchg, or restarted, broke it; a
// node that has not noticed yet holds a stale claim, which corosync allows). Q1: at each
// instant, at most one live ring carries a quorate claim. Checked only where the expected
// votes are constant: no two_node (quorum 1 with two nodes) and no last_man_standing
// (expected votes shrink over time); and not with auto_tie_breaker in an odd-sized cluster
// (see singlePartitionRule).
//
// Q2 (at every sync completion): votequorum's total votes equal the ring's size (one vote
// per node, no qdevice) and its member list is the ring's; quorate ⇒ total ≥ quorum, except
// an auto_tie_breaker "half" (total = ⌊expected/2⌋, which is 2 of 5 in an odd cluster with
// wait_for_all: corosync's integer division); quorum ≥ ⌊highest_expected/2⌋+1 except
// two_node; with constant expected votes, quorate ⇒ the ring holds a majority of the
// configured votes (or an auto_tie_breaker half); the quorum service and votequorum agree.
//
// Q3 (after sync): all nodes completing sync of one ring report the same quorate flag,
// expected votes and total votes. Not checked under wait_for_all: there a node's
// wait_for_all status depends on its own past (whether it saw all nodes, or a quorate
// sender that was not waiting), so corosync's nodes can disagree after sync. Under
// last_man_standing only the total votes are compared, and a quorate flag that differs
// must come with different expected votes or quorum (FINDINGS O2): each node lowers its
// expected votes on its own LMS timer and keeps them after losing quorum; it adopts a
// sender's only while not quorate itself and the sender's NODEINFO says quorate, and
// counts a non-quorate sender with its own value — so nodes with different histories (a
// restarted node starts from the configured value) disagree on expected votes and, from
// there, on quorum and the quorate flag. Under auto_tie_breaker the quorate flag of a ring
// holding exactly the "half" is not compared (see checkQuorumAgreement).
//
// Q4: two_node implies wait_for_all (the WaitForAll flag is on); wait_for_all: after a
// cold start (run start, or every node down at once) nobody is quorate until some node
// installed a regular configuration holding every node of the nodelist.
//
// M1 (cluster level): after sync, this node's cmap has runtime.members.N.config_version
// for every member N (cmap's SYNC message is part of every sync).

import type { Violation } from './violation';
import { violation } from './violation';
import type { SyncPoint } from '../services-history';

export interface QuorumRules {
  /** Nodes of the nodelist (one vote each): the configured expected votes. */
  readonly nodes: number;
  readonly twoNode: boolean;
  readonly waitForAll: boolean;
  readonly lastManStanding: boolean;
  readonly autoTieBreaker: boolean;
}

export function constantExpectedVotes(r: QuorumRules): boolean {
  return !r.twoNode && !r.lastManStanding;
}

/**
 * Where Q1 applies: constant expected votes, and not auto_tie_breaker in an odd-sized
 * cluster, where corosync's "half" (total_votes == expected_votes / 2, integer division)
 * lets the lowest node's minority side be quorate while the other side can later reach a
 * majority (FINDINGS.md S4).
 */
export function singlePartitionRule(r: QuorumRules): boolean {
  return constantExpectedVotes(r) && !(r.autoTieBreaker && r.nodes % 2 === 1);
}

/** Q2, Q4 (two_node ⇒ wait_for_all) and M1 at one sync completion. */
export function checkQuorumAtSync(p: SyncPoint, rules: QuorumRules): Violation[] {
  const out: Violation[] = [];
  const at = `node ${p.node}#${p.inc} at the sync completion of ${p.ring} (members [${p.members.join(',')}])`;
  const vq = p.votequorum;
  const q2 = (m: string): void => void out.push(violation('Q2', `${at}: ${m}`, p.node, p.tick));
  if (vq.totalVotes !== p.members.length) q2(`votequorum counts ${vq.totalVotes} votes for ${p.members.length} members`);
  if ([...vq.members].sort((a, b) => a - b).join(',') !== [...p.members].sort((a, b) => a - b).join(',')) {
    q2(`votequorum's members are [${vq.members.join(',')}]`);
  }
  if (vq.quorate !== p.quorate) q2(`votequorum says quorate=${vq.quorate}, the quorum service ${p.quorate}`);
  // are_we_quorate: total_votes == expected_votes / 2 (integer division: 2 of 5 too).
  const atbHalf = rules.autoTieBreaker && vq.totalVotes === Math.floor(vq.expectedVotes / 2);
  if (vq.quorate && vq.totalVotes < vq.quorum && !atbHalf) q2(`quorate with ${vq.totalVotes} votes below quorum ${vq.quorum}`);
  if (!rules.twoNode && vq.quorum < Math.floor(vq.highestExpected / 2) + 1) {
    q2(`quorum ${vq.quorum} below ⌊${vq.highestExpected}/2⌋+1`);
  }
  if (constantExpectedVotes(rules) && p.quorate) {
    const majority = 2 * p.members.length > rules.nodes;
    const half = rules.autoTieBreaker && p.members.length === Math.floor(rules.nodes / 2);
    if (!majority && !half) q2(`quorate with ${p.members.length} of ${rules.nodes} configured votes`);
  }
  if (rules.twoNode && !vq.flags.includes('WaitForAll')) {
    out.push(violation('Q4', `${at}: two_node without the WaitForAll flag (flags ${vq.flags.join(' ')})`, p.node, p.tick));
  }
  if (p.cmapMissing.length > 0) {
    out.push(violation('M1', `${at}: no runtime.members.N.config_version for [${p.cmapMissing.join(',')}]`, p.node, p.tick));
  }
  return out;
}

/** Q3 over all sync completions (skipped under wait_for_all, narrowed under last_man_standing: see the top). */
export function checkQuorumAgreement(syncs: readonly SyncPoint[], rules: QuorumRules): Violation[] {
  if (rules.waitForAll) return [];
  const out: Violation[] = [];
  const byRing = new Map<string, SyncPoint>();
  for (const p of syncs) {
    const first = byRing.get(p.ring);
    if (first === undefined) {
      byRing.set(p.ring, p);
      continue;
    }
    const a = first.votequorum;
    const b = p.votequorum;
    // An auto_tie_breaker half is decided from each node's own past (the lowest node of
    // the last quorate partition it was in, its previous member count): a restarted node
    // has none, so the nodes of such a ring may disagree on quorate.
    const atbHalf = rules.autoTieBreaker && b.totalVotes === Math.floor(b.expectedVotes / 2);
    // Under last_man_standing each node's expected votes (and so its quorum) is its own.
    const ownExpected = rules.lastManStanding && (a.expectedVotes !== b.expectedVotes || a.quorum !== b.quorum);
    const expectedDiffers = a.expectedVotes !== b.expectedVotes && !rules.lastManStanding;
    if ((first.quorate !== p.quorate && !atbHalf && !ownExpected) || expectedDiffers || a.totalVotes !== b.totalVotes) {
      out.push(violation('Q3', `sync completion of ${p.ring}: node ${p.node}#${p.inc} reports quorate=${p.quorate} `
        + `expected=${b.expectedVotes} quorum=${b.quorum} total=${b.totalVotes}, node ${first.node}#${first.inc} reported `
        + `quorate=${first.quorate} expected=${a.expectedVotes} quorum=${a.quorum} total=${a.totalVotes}`, p.node, p.tick));
    }
    if (out.length >= 20) break;
  }
  return out;
}

/** One running node's quorum claim, as Q1 sees it. */
export interface QuorumClaimView {
  readonly node: number;
  /** The host's current ring (ringIdKey), and that ring's members (empty before the first). */
  readonly ring: string;
  readonly members: readonly number[];
  readonly syncing: boolean;
  readonly quorate: boolean;
}

/** Q1 at one instant over every running node's claim (see the top). */
export function checkQuorumPartitions(nodes: readonly QuorumClaimView[], tick: number, why: string): Violation[] {
  const byNode = new Map(nodes.map((n) => [n.node, n]));
  const live = new Map<string, QuorumClaimView[]>();
  for (const n of nodes) {
    if (n.syncing || !n.quorate) continue;
    const ringLive = n.members.every((m) => {
      const other = byNode.get(m);
      return other === undefined || other.ring === n.ring;
    });
    if (!ringLive) continue;
    const list = live.get(n.ring) ?? [];
    list.push(n);
    live.set(n.ring, list);
  }
  if (live.size <= 1) return [];
  const text = [...live].map(([ring, claims]) => `${ring} [${claims[0]?.members.join(',') ?? ''}] claimed by `
    + `[${claims.map((c) => c.node).join(',')}]`).join('; ');
  return [violation('Q1', `${live.size} live quorate partitions at once (${why}): ${text}`, undefined, tick)];
}

/**
 * Q4 for wait_for_all: nobody is quorate after a cold start until some node installed a
 * regular configuration with every node in it.
 */
export class WaitForAllMonitor {
  private readonly all: readonly number[];
  private seenAll = false;
  readonly violations: Violation[] = [];

  constructor(nodeIds: readonly number[]) {
    this.all = [...nodeIds];
  }

  regularConfiguration(members: readonly number[]): void {
    if (this.all.every((id) => members.includes(id))) this.seenAll = true;
  }

  /** Every node is down: the next start is a cold start. */
  allDown(): void {
    this.seenAll = false;
  }

  quorate(node: number, inc: number, ring: string, tick: number): void {
    if (this.seenAll || this.violations.length >= 5) return;
    this.violations.push(violation('Q4', `wait_for_all: node ${node}#${inc} is quorate in ${ring} after a cold start, before all `
      + `nodes [${this.all.join(',')}] were ever in one configuration`, node, tick));
  }
}
