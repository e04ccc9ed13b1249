// Extended virtual synchrony checkers T1–T11 (testing.md §4.3) over per-incarnation logs.
//
// EVS event order at one node (corosync-wire.md §3.6, architecture.md §2.1.2), for a
// change from regular ring r to regular ring r′:
//
//   … deliver(r) …  conf(transitional, r′)  … deliver(r) …  conf(regular, r′)  … deliver(r′) …
//   └ regular part of r ┘                    └ transitional part of r ┘
//
// The transitional confchg carries the NEW ring id r′, but the messages delivered
// between it and the regular confchg were ordered in the OLD ring r (their ringId is r).
// The regular part is a contiguous prefix of r's sequence; the transitional part may
// skip holes. A node's first regular configuration after start-up is also preceded by
// a transitional one (of its own start-up ring).
//
// Deviations from the wording in testing.md §4.3, each deliberate:
// - T4 ("same for transitional configurations of the same ring"): two nodes installing
//   the same new ring from DIFFERENT old rings legitimately get different transitional
//   sets (each gets the members that come from its own old ring). Agreement is
//   required per (new ring, old ring) pair, which is what corosync guarantees.
// - T3: the transitional configuration before an incarnation's first regular one is
//   empty in corosync (nothing carries over from before start-up), so T3 exempts it.
// - T6: q's "previous regular ring at install time" is only known for members q that
//   themselves install the new ring; a member that crashed in RECOVERY may or may not
//   be listed, so it is not judged.
// - T8: the new ring's sequence starts with the recovery traffic (encapsulated old-ring
//   messages, never delivered as messages of the new ring), so "a contiguous prefix of
//   r's global sequence" means: contiguous from the first seq anyone delivered in r.
// - T10: corosync gives no bound in configurations (a queued message waits for a token
//   visit in an OPERATIONAL ring, and a ring may break before this node's turn), so
//   self-delivery is required only of incarnations the caller names, e.g. liveness-core
//   nodes after a quiescent end of run.
// - T12 (safe delivery) is not checked: this layer delivers with the agreed guarantee
//   only.

import { seqInc, seqLt } from '../../../src/base/seq';
import { type RingId, ringIdKey } from '../../../src/totem/wire/messages';
import { type ConfEntry, type DeliverEntry, type History, type IncarnationLog, incName } from '../history';
import { parseMsgKey } from '../payload';
import { type Violation, violation } from './violation';

/** One regular configuration as one incarnation lived it. */
export interface RingVisit {
  readonly log: IncarnationLog;
  readonly conf: ConfEntry;
  /** The transitional confchg that immediately preceded this regular one. */
  readonly trans: ConfEntry | null;
  /** The previous regular configuration of the same incarnation. */
  readonly prev: RingVisit | null;
  /** Deliveries in this ring before the transitional confchg that ends it. */
  readonly regular: DeliverEntry[];
  /** Deliveries of this ring's messages after that transitional confchg. */
  readonly transitional: DeliverEntry[];
  /** The transitional confchg that ended this ring (null if the log stops first). */
  endTrans: ConfEntry | null;
  /** The next regular configuration (null if the log stops first). */
  next: RingVisit | null;
}

export interface Analysis {
  readonly visits: readonly RingVisit[];
  readonly byInc: ReadonlyMap<IncarnationLog, readonly RingVisit[]>;
  readonly byRing: ReadonlyMap<string, readonly RingVisit[]>;
  /** Structural violations found while walking the logs (T6 shape, T8 placement). */
  readonly structural: readonly Violation[];
}

export interface EvsCheckOptions {
  /** Incarnations that must have delivered every message they submitted (T10). */
  readonly requireSelfDelivery?: (log: IncarnationLog) => boolean;
  /** Skip T5, e.g. to look past an injected "lost last write" storage fault. */
  readonly skipMonotonicRings?: boolean;
  /**
   * Deliveries that are not workload payloads (msg null) are not T2 findings: services
   * mode delivers totempg packets, which run-services.ts checks against the packets queued.
   */
  readonly opaquePayloads?: boolean;
}

const MAX_REPORTS_PER_CHECK = 20;

export function analyze(history: History): Analysis {
  const visits: RingVisit[] = [];
  const byInc = new Map<IncarnationLog, RingVisit[]>();
  const byRing = new Map<string, RingVisit[]>();
  const structural: Violation[] = [];
  for (const log of history.incarnations) {
    const mine: RingVisit[] = [];
    let cur: RingVisit | null = null;
    let pendingTrans: ConfEntry | null = null;
    for (const e of log.entries) {
      if (e.k === 'conf' && e.type === 'transitional') {
        if (pendingTrans !== null) {
          structural.push(violation('T6', `${incName(log)} installed two transitional configurations `
            + `(${ringIdKey(pendingTrans.ring)}, ${ringIdKey(e.ring)}) without a regular one between`, log.node, e.tick));
        }
        pendingTrans = e;
        if (cur !== null) cur.endTrans = e;
      } else if (e.k === 'conf') {
        if (pendingTrans === null) {
          structural.push(violation('T6', `${incName(log)} installed regular ${ringIdKey(e.ring)} `
            + 'without a transitional configuration before it', log.node, e.tick));
        } else if (!sameRing(pendingTrans.ring, e.ring)) {
          structural.push(violation('T6', `${incName(log)} installed regular ${ringIdKey(e.ring)} after a `
            + `transitional configuration of ring ${ringIdKey(pendingTrans.ring)}`, log.node, e.tick));
        }
        const visit: RingVisit = {
          log, conf: e, trans: pendingTrans, prev: cur, regular: [], transitional: [], endTrans: null, next: null,
        };
        if (cur !== null) cur.next = visit;
        cur = visit;
        pendingTrans = null;
        mine.push(visit);
        visits.push(visit);
        const key = ringIdKey(e.ring);
        const list = byRing.get(key);
        if (list === undefined) byRing.set(key, [visit]);
        else list.push(visit);
      } else if (e.k === 'deliver') {
        if (cur === null) {
          structural.push(violation('T8', `${incName(log)} delivered ${describe(e)} before installing any `
            + 'regular configuration', log.node, e.tick));
        } else if (!sameRing(e.ring, cur.conf.ring)) {
          structural.push(violation('T8', `${incName(log)} delivered ${describe(e)} while its configuration `
            + `was ${ringIdKey(cur.conf.ring)}${pendingTrans === null ? '' : ' (transitional part)'}`, log.node, e.tick));
        } else if (pendingTrans === null) {
          cur.regular.push(e);
        } else {
          cur.transitional.push(e);
        }
      }
    }
    byInc.set(log, mine);
  }
  return { visits, byInc, byRing, structural };
}

/** T1: per incarnation, each msgId is delivered at most once. */
export function checkNoDuplication(history: History): Violation[] {
  const out: Violation[] = [];
  for (const log of history.incarnations) {
    const seen = new Set<string>();
    for (const e of log.entries) {
      if (e.k !== 'deliver' || e.msg === null) continue;
      if (seen.has(e.msg)) out.push(violation('T1', `${incName(log)} delivered ${describe(e)} twice`, log.node, e.tick));
      seen.add(e.msg);
    }
  }
  return cap(out);
}

/** T2: every delivered msgId was submitted by its origin; sender and digest match. */
export function checkIntegrity(history: History, opaquePayloads = false): Violation[] {
  const submitted = new Map<string, { digest: string; tick: number }>();
  for (const log of history.incarnations) {
    for (const e of log.entries) {
      if (e.k === 'submit') submitted.set(e.msg, { digest: e.digest, tick: e.tick });
    }
  }
  const out: Violation[] = [];
  for (const log of history.incarnations) {
    for (const e of log.entries) {
      if (e.k !== 'deliver' || (opaquePayloads && e.msg === null)) continue;
      const who = `${incName(log)} delivered ${describe(e)}`;
      if (e.msg === null || !e.intact) {
        out.push(violation('T2', `${who}: payload is corrupt or not from the workload (digest ${e.digest})`, log.node, e.tick));
        continue;
      }
      const sub = submitted.get(e.msg);
      if (sub === undefined) {
        out.push(violation('T2', `${who}, which was never submitted`, log.node, e.tick));
        continue;
      }
      if (sub.digest !== e.digest) out.push(violation('T2', `${who} with digest ${e.digest}, submitted ${sub.digest}`, log.node, e.tick));
      if (sub.tick > e.tick) out.push(violation('T2', `${who} before it was submitted (tick ${sub.tick})`, log.node, e.tick));
      const origin = parseMsgKey(e.msg).origin;
      if (origin !== e.sender) out.push(violation('T2', `${who} with sender ${e.sender}, origin is ${origin}`, log.node, e.tick));
    }
  }
  return cap(out);
}

/**
 * T3: a node is a member of every configuration it installs — except that the
 * transitional configuration before an incarnation's first regular one is empty, as in
 * corosync (my_memb_list is empty at start-up, so the node reports itself as joined).
 */
export function checkSelfInclusion(history: History): Violation[] {
  const out: Violation[] = [];
  for (const log of history.incarnations) {
    let seenRegular = false;
    for (const e of log.entries) {
      if (e.k !== 'conf') continue;
      if (e.type === 'regular') seenRegular = true;
      const startupTrans = e.type === 'transitional' && !seenRegular && e.members.length === 0;
      if (!startupTrans && !e.members.includes(log.node)) {
        out.push(violation('T3', `${incName(log)} installed ${e.type} ${ringIdKey(e.ring)} with members `
          + `[${e.members.join(',')}] not including itself`, log.node, e.tick));
      }
    }
  }
  return cap(out);
}

/** T4: agreement on regular member sets per ring, and on transitional sets per (new, old) ring. */
export function checkConfigurationAgreement(a: Analysis): Violation[] {
  const out: Violation[] = [];
  for (const [key, visits] of a.byRing) {
    const first = visits[0] as RingVisit;
    const want = setKey(first.conf.members);
    for (const v of visits) {
      const members = v.conf.members;
      if (setKey(members) !== want) {
        out.push(violation('T4', `ring ${key}: ${incName(v.log)} installed members [${members.join(',')}], `
          + `${incName(first.log)} installed [${first.conf.members.join(',')}]`, v.log.node, v.conf.tick));
      }
      if (!isAscending(members)) {
        out.push(violation('T4', `ring ${key}: ${incName(v.log)} regular members [${members.join(',')}] are not ascending`,
          v.log.node, v.conf.tick));
      }
      if (members.length > 0 && v.conf.ring.rep !== Math.min(...members)) {
        out.push(violation('T4', `ring ${key}: representative ${v.conf.ring.rep} is not the lowest member of `
          + `[${members.join(',')}]`, v.log.node, v.conf.tick));
      }
    }
  }
  const trans = new Map<string, RingVisit>();
  for (const v of a.visits) {
    if (v.trans === null || v.prev === null) continue;
    const key = `${ringIdKey(v.conf.ring)}<-${ringIdKey(v.prev.conf.ring)}`;
    const other = trans.get(key);
    if (other === undefined) {
      trans.set(key, v);
    } else if (other.trans !== null && setKey(other.trans.members) !== setKey(v.trans.members)) {
      out.push(violation('T4', `transitional ${key}: ${incName(v.log)} installed [${v.trans.members.join(',')}], `
        + `${incName(other.log)} installed [${other.trans.members.join(',')}]`, v.log.node, v.trans.tick));
    }
  }
  return cap(out);
}

/** T5: per node, regular ring seqs strictly increase, across restarts too. */
export function checkMonotonicRings(history: History): Violation[] {
  const out: Violation[] = [];
  const last = new Map<number, { seq: bigint; where: string }>();
  for (const log of history.incarnations) {
    const prior = last.get(log.node);
    if (prior !== undefined && log.restoredRingSeq < prior.seq) {
      out.push(violation('T5', `${incName(log)} restarted with ring seq ${log.restoredRingSeq} but ${prior.where} `
        + `had installed ring seq ${prior.seq}`, log.node, log.startTick));
    }
    let floor = prior !== undefined && prior.seq > log.restoredRingSeq
      ? prior
      : { seq: log.restoredRingSeq, where: `${incName(log)}'s restored ring seq` };
    for (const e of log.entries) {
      if (e.k !== 'conf' || e.type !== 'regular') continue;
      if (e.ring.seq <= floor.seq) {
        out.push(violation('T5', `${incName(log)} installed ring ${ringIdKey(e.ring)} after ${floor.where} `
          + `(seq ${floor.seq})`, log.node, e.tick));
      }
      floor = { seq: e.ring.seq, where: `${incName(log)}'s ring ${ringIdKey(e.ring)}` };
    }
    last.set(log.node, floor);
  }
  return cap(out);
}

/**
 * T6: exactly one transitional configuration before each regular one (checked while
 * walking), and members(t) = {q ∈ members(c2) ∩ members(c1) : q's previous regular
 * ring is c1} (corosync's memb_set_and_with_ring_id rule); left and joined must match.
 */
export function checkTransitionalStructure(a: Analysis): Violation[] {
  const out: Violation[] = a.structural.filter((v) => v.invariant === 'T6');
  for (const v of a.visits) {
    const t = v.trans;
    if (t === null) continue;
    const who = `${incName(v.log)} ring ${ringIdKey(v.conf.ring)}`;
    const regularMembers = new Set(v.conf.members);
    for (const q of t.members) {
      if (!regularMembers.has(q)) out.push(violation('T6', `${who}: transitional member ${q} is not in the new ring`, v.log.node, t.tick));
    }
    if (t.joined.length > 0) out.push(violation('T6', `${who}: transitional joined list [${t.joined.join(',')}] is not empty`, v.log.node, t.tick));
    if (v.conf.left.length > 0) out.push(violation('T6', `${who}: regular left list [${v.conf.left.join(',')}] is not empty`, v.log.node, v.conf.tick));
    const wantJoined = v.conf.members.filter((q) => !t.members.includes(q));
    if (setKey(wantJoined) !== setKey(v.conf.joined)) {
      out.push(violation('T6', `${who}: regular joined [${v.conf.joined.join(',')}], expected members minus `
        + `transitional = [${wantJoined.join(',')}]`, v.log.node, v.conf.tick));
    }
    if (v.prev === null) {
      if (t.members.some((q) => q !== v.log.node)) {
        out.push(violation('T6', `${who}: first configuration of the incarnation has transitional members `
          + `[${t.members.join(',')}] other than itself`, v.log.node, t.tick));
      }
      continue;
    }
    const prevRing = v.prev.conf.ring;
    const prevMembers = v.prev.conf.members;
    const wantLeft = prevMembers.filter((q) => !t.members.includes(q));
    if (setKey(wantLeft) !== setKey(t.left)) {
      out.push(violation('T6', `${who}: transitional left [${t.left.join(',')}], expected old members minus `
        + `transitional = [${wantLeft.join(',')}]`, v.log.node, t.tick));
    }
    const peers = a.byRing.get(ringIdKey(v.conf.ring)) ?? [];
    for (const q of v.conf.members) {
      if (!prevMembers.includes(q)) {
        if (t.members.includes(q)) out.push(violation('T6', `${who}: ${q} is transitional but was not in old ring ${ringIdKey(prevRing)}`, v.log.node, t.tick));
        continue;
      }
      const qVisit = peers.find((p) => p.log.node === q);
      if (qVisit === undefined) continue; // q never installed the new ring: unknown
      const cameFromOld = qVisit.prev !== null && sameRing(qVisit.prev.conf.ring, prevRing);
      if (cameFromOld !== t.members.includes(q)) {
        out.push(violation('T6', `${who}: member ${q} ${cameFromOld ? 'came from' : 'did not come from'} old ring `
          + `${ringIdKey(prevRing)} but is ${t.members.includes(q) ? '' : 'not '}in the transitional configuration `
          + `[${t.members.join(',')}]`, v.log.node, t.tick));
      }
    }
  }
  return cap(out);
}

/** T7: one (ring, seq) per message everywhere, one message per (ring, seq), increasing seqs per node. */
export function checkAgreedOrder(a: Analysis): Violation[] {
  const out: Violation[] = [];
  const place = new Map<string, { ring: string; seq: number; who: string }>();
  const slot = new Map<string, { msg: string | null; digest: string; who: string }>();
  for (const v of a.visits) {
    const ring = ringIdKey(v.conf.ring);
    let last: DeliverEntry | null = null;
    for (const e of [...v.regular, ...v.transitional]) {
      const who = incName(v.log);
      if (last !== null && !seqLt(last.seq, e.seq)) {
        out.push(violation('T7', `${who} delivered seq ${e.seq} after seq ${last.seq} in ring ${ring}`, v.log.node, e.tick));
      }
      last = e;
      const slotKey = `${ring}/${e.seq}`;
      const s = slot.get(slotKey);
      if (s === undefined) slot.set(slotKey, { msg: e.msg, digest: e.digest, who });
      else if (s.msg !== e.msg || s.digest !== e.digest) {
        out.push(violation('T7', `ring ${ring} seq ${e.seq}: ${who} delivered ${e.msg ?? e.digest}, `
          + `${s.who} delivered ${s.msg ?? s.digest}`, v.log.node, e.tick));
      }
      if (e.msg === null) continue;
      const p = place.get(e.msg);
      if (p === undefined) place.set(e.msg, { ring, seq: e.seq, who });
      else if (p.ring !== ring || p.seq !== e.seq) {
        out.push(violation('T7', `msg ${e.msg}: ${who} delivered it as ${ring}/${e.seq}, ${p.who} as ${p.ring}/${p.seq}`,
          v.log.node, e.tick));
      }
    }
  }
  return cap(out);
}

/** T8: deliveries in the regular part of a ring are contiguous from the ring's first seq. */
export function checkNoGapsInRegular(a: Analysis): Violation[] {
  const out: Violation[] = a.structural.filter((v) => v.invariant === 'T8');
  for (const [key, visits] of a.byRing) {
    let first: number | null = null;
    for (const v of visits) {
      for (const e of [...v.regular, ...v.transitional]) {
        if (first === null || seqLt(e.seq, first)) first = e.seq;
      }
    }
    if (first === null) continue;
    for (const v of visits) {
      let want = first;
      for (const e of v.regular) {
        if (e.seq !== want) {
          out.push(violation('T8', `${incName(v.log)} ring ${key}: regular delivery of seq ${e.seq} where seq ${want} `
            + `was due (the ring's first delivered seq is ${first})`, v.log.node, e.tick));
          break;
        }
        want = seqInc(want);
      }
    }
  }
  return cap(out);
}

/** T9: members going from r to the same next regular r′ delivered the same messages of r. */
export function checkVirtualSynchrony(a: Analysis): Violation[] {
  const out: Violation[] = [];
  const groups = new Map<string, RingVisit[]>();
  for (const v of a.visits) {
    if (v.next === null) continue;
    const key = `${ringIdKey(v.conf.ring)}->${ringIdKey(v.next.conf.ring)}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [v]);
    else list.push(v);
  }
  for (const [key, visits] of groups) {
    const first = visits[0] as RingVisit;
    const want = deliveredSeqs(first);
    for (const v of visits.slice(1)) {
      const got = deliveredSeqs(v);
      const missing = [...want].filter((s) => !got.has(s));
      const extra = [...got].filter((s) => !want.has(s));
      if (missing.length === 0 && extra.length === 0) continue;
      out.push(violation('T9', `${key}: ${incName(v.log)} and ${incName(first.log)} delivered different messages of `
        + `the old ring: only ${incName(first.log)} has seqs [${missing.slice(0, 8).join(',')}], only `
        + `${incName(v.log)} has [${extra.slice(0, 8).join(',')}]`, v.log.node, v.next?.conf.tick));
    }
  }
  return cap(out);
}

/** T10: the named incarnations delivered everything they submitted. */
export function checkSelfDelivery(history: History, required: (log: IncarnationLog) => boolean): Violation[] {
  const out: Violation[] = [];
  for (const log of history.incarnations) {
    if (!required(log)) continue;
    const delivered = new Set<string>();
    for (const e of log.entries) if (e.k === 'deliver' && e.msg !== null) delivered.add(e.msg);
    for (const e of log.entries) {
      if (e.k === 'submit' && !delivered.has(e.msg)) {
        out.push(violation('T10', `${incName(log)} never delivered its own msg ${e.msg} (submitted at tick ${e.tick})`, log.node, e.tick));
      }
    }
  }
  return cap(out);
}

/** T11: per origin, deliveries follow submit order; causally earlier messages come first. */
export function checkFifoAndCausal(history: History): Violation[] {
  const out: Violation[] = [];
  const positions = new Map<IncarnationLog, Map<string, number>>();
  for (const log of history.incarnations) {
    const pos = new Map<string, number>();
    const lastCounter = new Map<string, number>();
    let i = 0;
    for (const e of log.entries) {
      if (e.k !== 'deliver' || e.msg === null) continue;
      pos.set(e.msg, i++);
      const id = parseMsgKey(e.msg);
      const origin = `${id.origin}:${id.inc}`;
      const prev = lastCounter.get(origin);
      if (prev !== undefined && id.counter <= prev) {
        out.push(violation('T11', `${incName(log)} delivered ${e.msg} after ${origin}:${prev} (sender FIFO)`, log.node, e.tick));
      }
      lastCounter.set(origin, id.counter);
    }
    positions.set(log, pos);
  }
  for (const p of history.incarnations) {
    if (!p.entries.some((e) => e.k === 'submit')) continue;
    for (const [q, pos] of positions) {
      // Highest position at q of any message p had delivered so far.
      let maxPos = -1;
      let maxMsg = '';
      for (const e of p.entries) {
        if (e.k === 'deliver' && e.msg !== null) {
          const at = pos.get(e.msg);
          if (at !== undefined && at > maxPos) {
            maxPos = at;
            maxMsg = e.msg;
          }
        } else if (e.k === 'submit') {
          const at = pos.get(e.msg);
          if (at !== undefined && at < maxPos) {
            out.push(violation('T11', `${incName(q)} delivered ${e.msg} before ${maxMsg}, which ${incName(p)} had `
              + 'delivered before submitting it (causal order)', q.node));
          }
        }
      }
    }
  }
  return cap(out);
}

/** Runs T1–T11 (T10 only if requested). */
export function checkEvs(history: History, options: EvsCheckOptions = {}): Violation[] {
  const a = analyze(history);
  const out = [
    ...checkNoDuplication(history),
    ...checkIntegrity(history, options.opaquePayloads === true),
    ...checkSelfInclusion(history),
    ...checkConfigurationAgreement(a),
    ...(options.skipMonotonicRings === true ? [] : checkMonotonicRings(history)),
    ...checkTransitionalStructure(a),
    ...checkAgreedOrder(a),
    ...checkNoGapsInRegular(a),
    ...checkVirtualSynchrony(a),
    ...checkFifoAndCausal(history),
  ];
  if (options.requireSelfDelivery !== undefined) out.push(...checkSelfDelivery(history, options.requireSelfDelivery));
  return out;
}

function deliveredSeqs(v: RingVisit): Set<number> {
  const s = new Set<number>();
  for (const e of v.regular) s.add(e.seq);
  for (const e of v.transitional) s.add(e.seq);
  return s;
}

function describe(e: DeliverEntry): string {
  return `${e.msg ?? `payload ${e.digest}`} (${ringIdKey(e.ring)}/${e.seq} from ${e.sender})`;
}

function sameRing(a: RingId, b: RingId): boolean {
  return a.rep === b.rep && a.seq === b.seq;
}

function setKey(ids: readonly number[]): string {
  return [...new Set(ids)].sort((x, y) => x - y).join(',');
}

function isAscending(ids: readonly number[]): boolean {
  for (let i = 1; i < ids.length; i++) if ((ids[i - 1] as number) >= (ids[i] as number)) return false;
  return true;
}

function cap(list: Violation[]): Violation[] {
  if (list.length <= MAX_REPORTS_PER_CHECK) return list;
  const first = list[0] as Violation;
  return [...list.slice(0, MAX_REPORTS_PER_CHECK),
    violation(first.invariant, `… and ${list.length - MAX_REPORTS_PER_CHECK} more ${first.invariant} violations`)];
}
