// CPG checkers (testing.md §4.3, C1–C5) over the services records (services-history.ts),
// plus CPG message integrity, no duplication and per-sender FIFO.
//
// What "after sync" and "the same ring" mean here. A client event carries the host's
// ring (the new ring from its transitional confchg on) and whether the host was still
// syncing. Events while syncing come from the transitional deliveries of the old ring
// (EVS allows gaps there) and from the sync protocol itself (DOWNLIST/JOINLIST, NODEDOWN,
// NODEUP, PROCDOWN of zombies), which each node computes from its own past (corosync's
// downlist is local, PR #347); they are judged by C2–C4, not by C1. Events after the
// node's sync completed and before its next confchg come from the ring's regular
// deliveries, which every member delivers in one order; those are what C1 compares.
//
// - C1a: at every node's sync completion of ring r the CPG process lists are identical
//   (every member completes sync at the same point of r's agreed order).
// - C1b: for two processes p and q in group G of ring r, the post-sync events p received
//   while q was a member (from q's join to q's leave, as p saw it) and those q received
//   while p was a member are the same sequence, up to where one of them stops (its node
//   leaves r). Events compare by confchg members/joined/left with reasons, and by the
//   sender and payload id of messages. Rings that C1a already found disagreeing are skipped.
// - C2: at every sync completion, every CPG member's node is a member of the ring (the
//   regression for corosync PR #828); and at the end of the liveness phase, every member
//   of every group on a core node is on a core node.
// - C3 (online, HandleMonitor): a joiner's first event in G is a confchg listing it as
//   joined (JOIN) and a member; it stays in every later member list until a confchg lists
//   it as left (LEAVE, its own leave); after that, and after finalize, nothing more for G.
//   Reasons match causes: JOIN only for a process that asked to join G, LEAVE only for one
//   that asked to leave G, PROCDOWN only for a finalized process, or in sync for one whose
//   node incarnation ended or that asked to leave G (a zombie), NODEDOWN and NODEUP only in sync, NODEDOWN only for a node outside
//   the transitional configuration. A process removed by a sync step (NODEDOWN, PROCDOWN
//   of a zombie) must have been in the view; a PROCLEAVE for a process the client never
//   saw is notified anyway, as corosync does, and only counted (leftUnknown).
// - C4: at every sync completion, every client's view of every group it is in equals the
//   node's process list for that group (so a paused node's clients learn that the others
//   left, corosync PR #347).
// - C5: after the liveness phase, every core node has the same process list, every core
//   client's view equals it, no request is left half done, and no member is off the core.
// - CPG-M: every delivered payload decodes, was queued by the process and in the group the
//   event names, with the same bytes; per receiving client and sending node incarnation,
//   payloads arrive in the order they were queued (no duplicate, sender FIFO).

import type { Violation } from './violation';
import { violation } from './violation';
import { parseMsgKey } from '../payload';
import {
  type CpgConfchgRecord, type CpgDeliverRecord, type HandleLog, type ProcKey, type ServicesHistory, type SyncPoint, procKey,
} from '../services-history';

export const CpgReasonCode = { join: 1, leave: 2, nodeDown: 3, nodeUp: 4, procDown: 5 } as const;

/**
 * Appended to C1, C2 and C5 findings whose disagreement is only about processes that were
 * already on their way out (a leave or finalize queued, or their node incarnation gone)
 * or that a stale JOINLIST brought back: the signature of the open FINDINGS.md F5 (the
 * JOINLIST omits a process whose PROCLEAVE is still queued) and F6 (joinlists that
 * survive an aborted sync round, corosync PR #828). The Jest swarm tolerates tagged
 * findings while F5/F6 are open; remove that allowance once they are fixed.
 */
export const DEPARTING_TAG = '[departing processes only: FINDINGS F5/F6]';

/** The process had a leave (of `group`, or of any group) queued, or was finalized or down, by `tick`. */
export function departing(h: ServicesHistory, proc: ProcKey, group: string | null, tick: number): boolean {
  const end = h.procEnds.get(proc);
  if (end !== undefined && end <= tick) return true;
  for (const [key, ticks] of h.leaves) {
    const matches = group === null ? key.startsWith(`${proc}:`) : key === `${proc}:${group}`;
    if (matches && ticks.some((t) => t <= tick)) return true;
  }
  return false;
}

function departingTag(h: ServicesHistory | null, diffs: ReadonlyArray<{ proc: ProcKey; group: string | null }>, tick: number): string {
  if (h === null || diffs.length === 0) return '';
  return diffs.every((d) => departing(h, d.proc, d.group, tick)) ? ` ${DEPARTING_TAG}` : '';
}

/** Processes in one list and not the other, per group. */
function listDiffs(a: ReadonlyMap<string, readonly ProcKey[]>, b: ReadonlyMap<string, readonly ProcKey[]>): Array<{ proc: ProcKey; group: string }> {
  const out: Array<{ proc: ProcKey; group: string }> = [];
  for (const group of new Set([...a.keys(), ...b.keys()])) {
    const x = new Set(a.get(group) ?? []);
    const y = new Set(b.get(group) ?? []);
    for (const p of x) if (!y.has(p)) out.push({ proc: p, group });
    for (const p of y) if (!x.has(p)) out.push({ proc: p, group });
  }
  return out;
}

/** Inverse of groupsText. */
export function parseGroupsText(text: string): Map<string, ProcKey[]> {
  const out = new Map<string, ProcKey[]>();
  if (text === '') return out;
  for (const part of text.split(';')) {
    const m = /^(.*)=\[(.*)\]$/.exec(part);
    if (m === null) continue;
    out.set(m[1] as string, (m[2] as string) === '' ? [] : (m[2] as string).split(' '));
  }
  return out;
}

const MAX_REPORTS = 20;

export function handleName(h: Pick<HandleLog, 'node' | 'inc' | 'pid'>): string {
  return `client ${h.node}:${h.pid} (node ${h.node}#${h.inc})`;
}

/** What a HandleMonitor asks of the world. */
export interface HandleContext {
  readonly localNode: number;
  /** Members of the last transitional configuration this node saw (null before the first). */
  transMembers(): readonly number[] | null;
  /** Members of the current regular configuration. */
  members(): readonly number[];
  joinRequested(nodeId: number, pid: number, group: string): boolean;
  leaveRequested(nodeId: number, pid: number, group: string): boolean;
  /** The process was finalized or its node incarnation ended. */
  procGone(nodeId: number, pid: number): boolean;
  /** A client was told that a process it never saw left (counted, not a finding; see checkLeftUnknown). */
  leftUnknown(): void;
  report(v: Violation): void;
}

type GroupState = 'joining' | 'member' | 'leaving';

/** C3 for one client handle, online; also keeps the client's view of each group (C4, C5). */
export class HandleMonitor {
  private readonly ctx: HandleContext;
  private readonly self: ProcKey;
  private readonly name: string;
  private readonly states = new Map<string, GroupState>();
  private readonly views = new Map<string, readonly ProcKey[]>();
  private finalized = false;
  private reports = 0;

  constructor(ctx: HandleContext, log: Pick<HandleLog, 'node' | 'inc' | 'pid'>) {
    this.ctx = ctx;
    this.self = procKey(log.node, log.pid);
    this.name = handleName(log);
  }

  joinQueued(group: string): void {
    this.states.set(group, 'joining');
  }

  leaveQueued(group: string): void {
    if (this.states.get(group) === 'member') this.states.set(group, 'leaving');
  }

  finalize(): void {
    this.finalized = true;
  }

  /** The members of the last confchg, for a group this client is in (member or leaving). */
  view(group: string): readonly ProcKey[] | null {
    const s = this.states.get(group);
    return s === 'member' || s === 'leaving' ? this.views.get(group) ?? [] : null;
  }

  /** Groups with a request in flight (joining or leaving). */
  unsettled(): string[] {
    return [...this.states].filter(([, s]) => s !== 'member').map(([g, s]) => `${g}:${s}`);
  }

  groupsIn(): string[] {
    return [...this.states].filter(([, s]) => s !== 'joining').map(([g]) => g);
  }

  confchg(e: CpgConfchgRecord): void {
    const g = e.group;
    const state = this.precheck(e, 'a confchg');
    if (state === null) return;
    const where = `${this.name} in ${g} @${e.ring}${e.syncing ? ' (sync)' : ''}`;
    const selfJoined = e.joined.some((c) => procKey(c.nodeId, c.pid) === this.self);
    const selfLeft = e.left.find((c) => procKey(c.nodeId, c.pid) === this.self);
    if (state === 'joining') {
      const join = e.joined.find((c) => procKey(c.nodeId, c.pid) === this.self);
      if (join === undefined || !e.members.includes(this.self) || join.reason !== CpgReasonCode.join) {
        this.report(`${where}: first event after its join is not a confchg listing it as joined (JOIN) and a member: `
          + describeConfchg(e), e.tick);
      }
      this.states.set(g, 'member');
    } else if (selfJoined) {
      this.report(`${where}: listed as joined again while already in the group: ${describeConfchg(e)}`, e.tick);
    }
    const before = this.views.get(g) ?? [];
    const afterSelfJoin = state === 'joining';
    for (const c of e.left) {
      const key = procKey(c.nodeId, c.pid);
      if (!afterSelfJoin && !before.includes(key)) {
        // corosync notifies a PROCLEAVE even for a process it does not know (cpg.c,
        // message_handler_req_exec_cpg_procleave); the sync steps only remove known ones.
        if (c.reason === CpgReasonCode.leave || c.reason === CpgReasonCode.procDown) this.ctx.leftUnknown();
        else this.report(`${where}: ${key} listed as left (reason ${c.reason}) but was not in the view [${before.join(' ')}]`, e.tick);
      }
      this.checkLeftReason(c, e, where);
    }
    for (const c of e.joined) this.checkJoinedReason(c, e, where);
    if (selfLeft !== undefined) {
      if (selfLeft.reason !== CpgReasonCode.leave || state !== 'leaving') {
        this.report(`${where}: listed as left with reason ${selfLeft.reason} in state ${state}`, e.tick);
      }
      this.states.delete(g);
      this.views.delete(g);
      return;
    }
    if (!e.members.includes(this.self)) {
      this.report(`${where}: not in the member list of a confchg that does not list it as left: ${describeConfchg(e)}`, e.tick);
    }
    this.views.set(g, e.members);
  }

  deliver(e: CpgDeliverRecord): void {
    const state = this.precheck(e, `message ${e.msg ?? e.digest}`);
    if (state === 'joining') {
      this.report(`${this.name} in ${e.group}: message ${e.msg ?? e.digest} from ${e.nodeId}:${e.pid} before its own join`, e.tick);
    }
  }

  private precheck(e: CpgConfchgRecord | CpgDeliverRecord, what: string): GroupState | null {
    if (this.finalized) {
      this.report(`${this.name}: ${what} in ${e.group} after finalize`, e.tick);
      return null;
    }
    const state = this.states.get(e.group);
    if (state === undefined) {
      this.report(`${this.name}: ${what} in ${e.group}, a group it is not in (never joined, or after its leave)`, e.tick);
      return null;
    }
    return state;
  }

  private checkJoinedReason(c: { nodeId: number; pid: number; reason: number }, e: CpgConfchgRecord, where: string): void {
    const key = procKey(c.nodeId, c.pid);
    if (c.reason === CpgReasonCode.join) {
      if (!this.ctx.joinRequested(c.nodeId, c.pid, e.group)) this.report(`${where}: ${key} joined (JOIN) but never asked to join`, e.tick);
    } else if (c.reason === CpgReasonCode.nodeUp) {
      if (!e.syncing || c.nodeId === this.ctx.localNode) this.report(`${where}: ${key} joined with NODEUP outside sync or from this node`, e.tick);
    } else {
      this.report(`${where}: ${key} joined with reason ${c.reason}`, e.tick);
    }
  }

  private checkLeftReason(c: { nodeId: number; pid: number; reason: number }, e: CpgConfchgRecord, where: string): void {
    const key = procKey(c.nodeId, c.pid);
    switch (c.reason) {
      case CpgReasonCode.leave:
        if (!this.ctx.leaveRequested(c.nodeId, c.pid, e.group)) this.report(`${where}: ${key} left (LEAVE) but never asked to leave`, e.tick);
        return;
      case CpgReasonCode.procDown:
        // Outside sync only a finalized process's PROCLEAVE says PROCDOWN. In sync, the
        // zombie step also removes, with PROCDOWN, a process whose own node no longer lists
        // it: finalized, its incarnation gone, or a leave this node never delivered (it
        // was in another partition when the others delivered the PROCLEAVE).
        if (this.ctx.procGone(c.nodeId, c.pid)) return;
        if (e.syncing && this.ctx.leaveRequested(c.nodeId, c.pid, e.group)) return;
        // A zombie of a node outside the ring: its processes leave with NODEDOWN, by the
        // downlist or, for a node known only from aborted syncs, by the zombie step (F10;
        // corosync 3.1.7 says PROCDOWN there). PROCDOWN means a stale joinlist entry (F6).
        this.report(`${where}: ${key} left with PROCDOWN but is neither finalized nor down${e.syncing ? ' nor leaving' : ''}`
          + `${e.syncing && !this.ctx.members().includes(c.nodeId) ? ` ${DEPARTING_TAG}` : ''}`, e.tick);
        return;
      case CpgReasonCode.nodeDown: {
        const trans = this.ctx.transMembers();
        if (!e.syncing || c.nodeId === this.ctx.localNode || trans === null || trans.includes(c.nodeId)) {
          this.report(`${where}: ${key} left with NODEDOWN but node ${c.nodeId} is not in the Totem left set `
            + `(transitional [${trans?.join(',') ?? '-'}], syncing ${e.syncing})`, e.tick);
        }
        return;
      }
      default:
        this.report(`${where}: ${key} left with reason ${c.reason}`, e.tick);
    }
  }

  private report(message: string, tick: number): void {
    if (this.reports >= MAX_REPORTS) return;
    this.reports++;
    this.ctx.report(violation('C3', message, this.ctx.localNode, tick));
  }
}

export function describeConfchg(e: CpgConfchgRecord): string {
  const ch = (l: readonly { nodeId: number; pid: number; reason: number }[]): string => l.map((c) => `${c.nodeId}:${c.pid}/${c.reason}`).join(' ');
  return `members [${e.members.join(' ')}] joined [${ch(e.joined)}] left [${ch(e.left)}]`;
}

/**
 * C2 and C4 at one node's sync completion. `procDown` gives the tick at which a process's
 * node incarnation ended: a process of an incarnation that was gone before this node
 * installed the ring is a ghost even when its node id is a member again (restarted).
 */
export function checkCpgAtSync(point: SyncPoint, groups: ReadonlyMap<string, readonly ProcKey[]>,
  views: ReadonlyArray<{ readonly client: string; readonly group: string; readonly view: readonly ProcKey[] }>,
  procDown: (p: ProcKey) => number | undefined = () => undefined): Violation[] {
  const out: Violation[] = [];
  const members = new Set(point.members);
  for (const [group, procs] of groups) {
    const ghosts = procs.filter((p) => !members.has(Number(p.split(':')[0])));
    // The zombie step removes every process its own node did not list in this round, so a
    // ghost at sync completion can only come from joinlist entries of an earlier round (F6).
    if (ghosts.length > 0) {
      out.push(violation('C2', `node ${point.node}#${point.inc} completed sync of ${point.ring} (members `
        + `[${point.members.join(',')}]) with ghost CPG members in ${group}: [${ghosts.join(' ')}] ${DEPARTING_TAG}`, point.node, point.tick));
    }
    const dead = procs.filter((p) => (procDown(p) ?? Infinity) < point.startTick);
    if (dead.length > 0) {
      out.push(violation('C2', `node ${point.node}#${point.inc} completed sync of ${point.ring} with CPG members in ${group} `
        + `whose node incarnation ended before the ring formed: [${dead.map((p) => `${p} (down @${procDown(p)})`).join(' ')}] ${DEPARTING_TAG}`,
      point.node, point.tick));
    }
  }
  for (const v of views) {
    const actual = groups.get(v.group) ?? [];
    if (actual.join(' ') !== v.view.join(' ')) {
      out.push(violation('C4', `${v.client} at the sync completion of ${point.ring}: its view of ${v.group} is `
        + `[${v.view.join(' ')}], the node's process list is [${actual.join(' ')}]`, point.node, point.tick));
    }
  }
  return out;
}

/** Canonical text of a process list. */
export function groupsText(groups: ReadonlyMap<string, readonly ProcKey[]>): string {
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([g, m]) => `${g}=[${m.join(' ')}]`).join(';');
}

/** C1a: every node that completed sync of a ring has the same process list there. */
export function checkSyncAgreement(syncs: readonly SyncPoint[], history: ServicesHistory | null = null): Violation[] {
  const out: Violation[] = [];
  const byRing = new Map<string, SyncPoint>();
  for (const p of syncs) {
    const first = byRing.get(p.ring);
    if (first === undefined) {
      byRing.set(p.ring, p);
      continue;
    }
    if (first.groups !== p.groups) {
      // Processes of non-members are C2's ghosts (F6): leave them out of the diagnosis.
      const diffs = listDiffs(parseGroupsText(first.groups), parseGroupsText(p.groups));
      const members = new Set(p.members);
      const tag = diffs.some((d) => !members.has(Number(d.proc.split(':')[0])))
        ? ` ${DEPARTING_TAG}` : departingTag(history, diffs, p.tick);
      out.push(violation('C1', `sync completion of ${p.ring}: node ${p.node}#${p.inc} has CPG process list {${p.groups}}, `
        + `node ${first.node}#${first.inc} had {${first.groups}}${throwAwayNote(first, p)}${tag}`, p.node, p.tick));
    }
  }
  return cap(out);
}

function throwAwayNote(a: SyncPoint, b: SyncPoint): string {
  return a.throwAways + b.throwAways > 0 ? ` (totempg throw-aways so far: ${a.node}=${a.throwAways} ${b.node}=${b.throwAways})` : '';
}

interface StreamEvent {
  readonly text: string;
  readonly tick: number;
  /** Processes that were members before or after the event (the window test). */
  readonly around: ReadonlySet<ProcKey>;
  /** The event without the processes of `senders` (null: nothing left). */
  readonly without: (senders: ReadonlySet<number>) => string | null;
  readonly rec: CpgConfchgRecord | CpgDeliverRecord;
}

/** Processes two differing events disagree about (for departingTag). */
function eventDiffs(a: CpgConfchgRecord | CpgDeliverRecord, b: CpgConfchgRecord | CpgDeliverRecord): Array<{ proc: ProcKey; group: string }> {
  const procs = (e: CpgConfchgRecord | CpgDeliverRecord): Set<ProcKey> => e.k === 'deliver'
    ? new Set()
    : new Set([...e.members, ...e.joined.map((c) => procKey(c.nodeId, c.pid)), ...e.left.map((c) => procKey(c.nodeId, c.pid))]);
  if (a.k === 'deliver' && b.k === 'deliver') return [];
  const x = procs(a);
  const y = procs(b);
  const changed = (e: CpgConfchgRecord | CpgDeliverRecord): ProcKey[] => e.k === 'deliver'
    ? [] : [...e.joined, ...e.left].map((c) => procKey(c.nodeId, c.pid));
  const out = new Set<ProcKey>([...x].filter((p) => !y.has(p)));
  for (const p of y) if (!x.has(p)) out.add(p);
  if (a.k !== b.k) for (const p of [...changed(a), ...changed(b)]) out.add(p);
  else if (out.size === 0) for (const p of [...changed(a), ...changed(b)]) out.add(p);
  return [...out].map((proc) => ({ proc, group: a.group }));
}

function confchgWithout(e: CpgConfchgRecord, senders: ReadonlySet<number>): string | null {
  const keep = (c: { nodeId: number }): boolean => !senders.has(c.nodeId);
  const joined = e.joined.filter(keep);
  const left = e.left.filter(keep);
  if (joined.length === 0 && left.length === 0) return null;
  return `confchg ${describeConfchg({ ...e, members: e.members.filter((m) => !senders.has(Number(m.split(':')[0]))), joined, left })}`;
}

/**
 * C1b: post-sync group views of the processes of one ring agree pairwise (see the top).
 *
 * totempg throw-away (corosync-faithful, assembler.ts): a node that did not receive the
 * start of a message another node cut across a ring change throws away the continuation
 * and the sender's next packet whole, so it misses messages of that sender which the
 * members of the sender's old ring deliver. For a pair involving a node that threw away
 * packets of sender s in ring r, events caused by s (its messages, its processes joining
 * or leaving, s's processes in member lists) are left out of the comparison, and pairs
 * with a process on s itself are skipped. Such seeds count throw_aways in the summary.
 * A throw-away lasts until s's next packet with fragmented 0 or 1, which can come rings
 * later (s's assembly survives the ring changes s takes part in), and the broken message
 * is then delivered by the others in that later ring: history.throwAways has a record for
 * every ring in which the node still threw s's packets away (FINDINGS F11).
 */
export function checkGroupViews(history: ServicesHistory): Violation[] {
  // Rings whose process lists already disagreed at sync completion are C1a's: comparing
  // their streams would only repeat that disagreement in many forms.
  const disagreeing = new Set<string>();
  const listAt = new Map<string, string>();
  for (const p of history.syncs) {
    const first = listAt.get(p.ring);
    if (first === undefined) listAt.set(p.ring, p.groups);
    else if (first !== p.groups) disagreeing.add(p.ring);
  }
  const thrown = new Map<string, Set<number>>();
  for (const t of history.throwAways) {
    const key = `${t.ring}|${t.node}`;
    const set = thrown.get(key) ?? new Set<number>();
    set.add(t.sender);
    thrown.set(key, set);
  }
  // (ring, group) → process → its post-sync stream
  const streams = new Map<string, Map<ProcKey, { log: HandleLog; events: StreamEvent[] }>>();
  for (const log of history.handles) {
    const self = procKey(log.node, log.pid);
    const current = new Map<string, Set<ProcKey>>();
    for (const e of log.entries) {
      if (e.k === 'view') {
        current.set(e.group, new Set(e.members));
        continue;
      }
      if (e.k !== 'confchg' && e.k !== 'deliver') continue;
      const view = current.get(e.group) ?? new Set<ProcKey>();
      let around: Set<ProcKey>;
      let text: string;
      let without: (senders: ReadonlySet<number>) => string | null;
      if (e.k === 'confchg') {
        around = new Set([...view, ...e.members]);
        text = `confchg ${describeConfchg(e)}`;
        const rec = e;
        without = (senders) => confchgWithout(rec, senders);
        const selfLeft = e.left.some((c) => procKey(c.nodeId, c.pid) === self);
        current.set(e.group, selfLeft ? new Set() : new Set(e.members));
      } else {
        around = view;
        text = `message ${e.msg ?? e.digest} from ${e.nodeId}:${e.pid}`;
        const from = e.nodeId;
        const t = text;
        without = (senders) => (senders.has(from) ? null : t);
      }
      if (e.syncing) continue;
      const key = `${e.ring}|${e.group}`;
      let perRing = streams.get(key);
      if (perRing === undefined) {
        perRing = new Map();
        streams.set(key, perRing);
      }
      let stream = perRing.get(self);
      if (stream === undefined) {
        stream = { log, events: [] };
        perRing.set(self, stream);
      }
      stream.events.push({ text, tick: e.tick, around, without, rec: e });
    }
  }
  const out: Violation[] = [];
  for (const [key, perRing] of streams) {
    if (disagreeing.has(key.split('|')[0] as string)) continue;
    const procs = [...perRing.keys()];
    for (let i = 0; i < procs.length; i++) {
      for (let j = i + 1; j < procs.length; j++) {
        const p = procs[i] as ProcKey;
        const q = procs[j] as ProcKey;
        const sp = perRing.get(p);
        const sq = perRing.get(q);
        if (sp === undefined || sq === undefined) continue;
        const [ring, group] = key.split('|') as [string, string];
        const senders = new Set([...(thrown.get(`${ring}|${sp.log.node}`) ?? []), ...(thrown.get(`${ring}|${sq.log.node}`) ?? [])]);
        if (senders.has(sp.log.node) || senders.has(sq.log.node)) continue;
        const texts = (events: readonly StreamEvent[], other: ProcKey): Array<{ text: string; tick: number; rec: StreamEvent['rec'] }> => events
          .filter((e) => e.around.has(other))
          .flatMap((e) => {
            const text = senders.size === 0 ? e.text : e.without(senders);
            return text === null ? [] : [{ text, tick: e.tick, rec: e.rec }];
          });
        const wp = texts(sp.events, q);
        const wq = texts(sq.events, p);
        const n = Math.min(wp.length, wq.length);
        for (let k = 0; k < n; k++) {
          const a = wp[k] as { text: string; tick: number; rec: StreamEvent['rec'] };
          const b = wq[k] as { text: string; tick: number; rec: StreamEvent['rec'] };
          if (a.text === b.text) continue;
          const tag = departingTag(history, eventDiffs(a.rec, b.rec), Math.max(a.tick, b.tick));
          out.push(violation('C1', `ring ${ring}, group ${group}: ${handleName(sp.log)} and ${handleName(sq.log)} disagree at `
            + `their ${k + 1}th common event: ${a.text} (tick ${a.tick}) vs ${b.text} (tick ${b.tick})${tag}`, sp.log.node, Math.max(a.tick, b.tick)));
          break;
        }
      }
    }
  }
  return cap(out);
}

/** CPG-M: payload integrity, no duplication, per-sender FIFO, at every receiving client. */
export function checkCpgMessages(history: ServicesHistory): Violation[] {
  const out: Violation[] = [];
  for (const log of history.handles) {
    const last = new Map<string, { seq: number; msg: string }>();
    for (const e of log.entries) {
      if (e.k !== 'deliver') continue;
      const who = `${handleName(log)} got ${e.msg ?? `payload ${e.digest}`} in ${e.group} from ${e.nodeId}:${e.pid}`;
      if (e.msg === null || !e.intact) {
        out.push(violation('CPG-M', `${who}: not an intact workload payload`, log.node, e.tick));
        continue;
      }
      const sent = history.sent.get(e.msg);
      if (sent === undefined) {
        out.push(violation('CPG-M', `${who}, which was never queued`, log.node, e.tick));
        continue;
      }
      if (sent.digest !== e.digest) out.push(violation('CPG-M', `${who} with digest ${e.digest}, queued ${sent.digest}`, log.node, e.tick));
      if (sent.group !== e.group || sent.node !== e.nodeId || sent.pid !== e.pid) {
        out.push(violation('CPG-M', `${who}, but it was queued by ${sent.node}:${sent.pid} in ${sent.group}`, log.node, e.tick));
      }
      const id = parseMsgKey(e.msg);
      const origin = `${id.origin}:${id.inc}`;
      const prev = last.get(origin);
      if (prev !== undefined && sent.queueSeq <= prev.seq) {
        out.push(violation('CPG-M', `${who} after ${prev.msg} (${sent.queueSeq === prev.seq ? 'duplicate' : 'sender FIFO broken'})`,
          log.node, e.tick));
      }
      last.set(origin, { seq: sent.queueSeq, msg: e.msg });
    }
  }
  return cap(out);
}

export function checkCpgHistory(history: ServicesHistory): Violation[] {
  return [...checkSyncAgreement(history.syncs, history), ...checkGroupViews(history), ...checkCpgMessages(history)];
}

export interface CoreCpgView {
  readonly node: number;
  readonly groups: ReadonlyMap<string, readonly ProcKey[]>;
  readonly clients: ReadonlyArray<{ readonly name: string; readonly views: ReadonlyMap<string, readonly ProcKey[]>; readonly unsettled: readonly string[] }>;
}

/**
 * C5 (and C2 at the end): after the liveness phase, one process list everywhere in the core.
 * `excused`: senders whose packets a core node threw away in the final ring (totempg's
 * throw-away, see checkGroupViews): a PROCJOIN or PROCLEAVE of theirs may be missing on
 * some nodes until the next sync, so their processes are left out of the comparison.
 */
export function checkCpgConvergence(core: readonly number[], views: readonly CoreCpgView[], tick: number,
  excused: ReadonlySet<number> = new Set(), history: ServicesHistory | null = null): Violation[] {
  const out: Violation[] = [];
  const coreSet = new Set(core);
  const strip = (groups: ReadonlyMap<string, readonly ProcKey[]>): Map<string, ProcKey[]> => new Map([...groups]
    .map(([g, procs]) => [g, procs.filter((p) => !excused.has(Number(p.split(':')[0])))] as [string, ProcKey[]])
    .filter(([, procs]) => procs.length > 0));
  views = views.map((v) => ({
    ...v,
    groups: strip(v.groups),
    clients: v.clients.map((c) => ({ ...c, views: excused.size === 0 ? c.views : new Map([...strip(c.views)]) })),
  }));
  let reference: CoreCpgView | null = null;
  for (const v of views) {
    const text = groupsText(v.groups);
    if (reference === null) reference = v;
    else if (groupsText(reference.groups) !== text) {
      const tag = departingTag(history, listDiffs(reference.groups, v.groups), tick);
      out.push(violation('C5', `after the liveness phase node ${v.node} has CPG process list {${text}}, node `
        + `${reference.node} has {${groupsText(reference.groups)}}${tag}`, v.node, tick));
    }
    for (const [group, procs] of v.groups) {
      const off = procs.filter((p) => !coreSet.has(Number(p.split(':')[0])));
      if (off.length > 0) {
        const tag = departingTag(history, off.map((proc) => ({ proc, group })), tick);
        out.push(violation('C2', `after the liveness phase node ${v.node} lists [${off.join(' ')}] in ${group}, outside the core `
          + `[${core.join(',')}]${tag}`, v.node, tick));
      }
    }
    for (const c of v.clients) {
      if (c.unsettled.length > 0) out.push(violation('C5', `${c.name} still has requests in flight: ${c.unsettled.join(' ')}`, v.node, tick));
      for (const [group, view] of c.views) {
        const actual = v.groups.get(group) ?? [];
        if (actual.join(' ') !== view.join(' ')) {
          const tag = departingTag(history, listDiffs(new Map([[group, view]]), new Map([[group, actual]])), tick);
          out.push(violation('C5', `${c.name} sees ${group} as [${view.join(' ')}], node ${v.node} has [${actual.join(' ')}]${tag}`, v.node, tick));
        }
      }
    }
  }
  return cap(out);
}

function cap(list: Violation[]): Violation[] {
  if (list.length <= MAX_REPORTS) return list;
  const first = list[0] as Violation;
  const rest = list.slice(MAX_REPORTS);
  const tag = rest.every((v) => v.message.includes(DEPARTING_TAG)) ? ` ${DEPARTING_TAG}` : '';
  return [...list.slice(0, MAX_REPORTS), violation(first.invariant, `… and ${rest.length} more ${first.invariant} violations${tag}`)];
}
