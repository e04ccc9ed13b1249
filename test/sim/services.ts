// Services mode of the simulator: every node incarnation runs a ServiceHost over its
// TotemNode with corosync's services in corosync's order — cmap (0), cfg (1), cpg (2),
// quorum (3), votequorum (5) — and fake CPG clients that join, leave, multicast and
// finalize at random. The SimCluster drives it through a NodeAttachment: the host gets
// the node's events in order and ticks with the node (a paused node's host does not
// tick), the host (not the harness) acknowledges each transition when sync completes,
// and a crash or restart drops the whole stack; the next incarnation builds a new one.
//
// Everything the checkers need is recorded in a ServicesHistory (services-history.ts):
// client requests and events, queued CPG payloads, a snapshot at every sync completion,
// quorum notifications, and the digest of every totempg packet queued. Some checks need
// live state and run online (C2, C3, C4, M1, Q1, Q2, Q4); the rest run over the records
// at the end of the run (C1, CPG-M, Q3), see checkers/cpg.ts and checkers/quorum.ts.

import type { Prng } from '../../src/base/prng';
import { CfgService } from '../../src/services/cfg-service';
import { CmapService } from '../../src/services/cmap/cmap-service';
import type { CmapValue } from '../../src/services/cmap/cmap-store';
import { CpgService, type CpgConfchgEvent, type CpgDeliverEvent, type CpgHandle } from '../../src/services/cpg/cpg-service';
import { QuorumService, TrackFlags } from '../../src/services/quorum/quorum-service';
import type { LogLevel } from '../../src/services/service-api';
import { ServiceHost } from '../../src/services/service-host';
import { VotequorumService } from '../../src/services/votequorum/votequorum-service';
import type { TotemConfig } from '../../src/totem/config';
import type { TotemPgNode } from '../../src/totem/pg/totem-pg';
import type { TotemEvent } from '../../src/totem/srp/types';
import { ringIdKey } from '../../src/totem/wire/messages';
import { type HandleContext, HandleMonitor, checkCpgAtSync, groupsText, handleName } from './checkers/cpg';
import { type QuorumClaimView, type QuorumRules, WaitForAllMonitor, checkQuorumAtSync, checkQuorumPartitions, singlePartitionRule } from './checkers/quorum';
import { type Violation, violation } from './checkers/violation';
import type { NodeAttachment, NodeInit, SimCluster, SimNode } from './cluster';
import { decodePayload, encodePayload, msgKey, payloadDigest } from './payload';
import {
  type CpgConfchgRecord, type CpgDeliverRecord, type HandleLog, type ProcKey, type ServicesHistory, type SyncPoint,
  newServicesHistory, procKey, requestKey,
} from './services-history';
import type { ServicesOptions } from './swarm';

export interface ServicesStats {
  clients: number;
  joins: number;
  leaves: number;
  finalizes: number;
  mcasts: number;
  /** Requests answered try-again / full (retried later). */
  retries: number;
  deliveries: number;
  confchgs: number;
  syncs: number;
  quorumNotifications: number;
  cmapWrites: number;
  throwAways: number;
  /** Left notifications for processes the client never saw (a corosync quirk, counted). */
  leftUnknown: number;
}

export interface ServicesWorldOptions {
  readonly nodeIds: readonly number[];
  readonly config: TotemConfig;
  readonly services: ServicesOptions;
  readonly trace?: (record: Record<string, unknown>) => void;
}

/** The group every probe client joins in the liveness phase. */
export const PROBE_GROUP = 'sim-probe';

type PendingOp =
  | { readonly k: 'join' | 'leave'; readonly group: string }
  | { readonly k: 'mcast'; readonly group: string; readonly payload: Uint8Array; readonly msg: string; readonly digest: string };

/** One fake CPG client (one handle) on one node incarnation. */
export class SimCpgClient {
  readonly handle: CpgHandle;
  readonly log: HandleLog;
  readonly monitor: HandleMonitor;
  pending: PendingOp | null = null;
  /** Probe payloads (msg keys) this client received, in the liveness phase. */
  readonly received = new Set<string>();

  constructor(handle: CpgHandle, log: HandleLog, monitor: HandleMonitor) {
    this.handle = handle;
    this.log = log;
    this.monitor = monitor;
  }

  get name(): string {
    return handleName(this.log);
  }
}

/** The service stack of one node incarnation. */
export class SimServiceNode implements NodeAttachment {
  readonly id: number;
  readonly inc: number;
  readonly host: ServiceHost;
  readonly cmap: CmapService;
  readonly cfg: CfgService;
  readonly cpg: CpgService;
  readonly quorum: QuorumService;
  readonly votequorum: VotequorumService;
  readonly clients: SimCpgClient[] = [];
  private readonly world: ServicesWorld;
  private transMembers: readonly number[] | null = null;
  private regularTick = 0;
  private throwAways = 0;
  private packetsThrownAway = 0;
  /** "ring|sender" pairs already recorded in history.throwAways (one record per ring is enough). */
  private readonly throwAwayRings = new Set<string>();
  private nextPid: number;
  private counter = 0;
  private queueSeq = 0;
  private stopped = false;
  private readonly context: HandleContext;
  private readonly decoded = new WeakMap<CpgDeliverEvent, { msg: string | null; intact: boolean; digest: string }>();

  constructor(world: ServicesWorld, node: SimNode, init: NodeInit, inc: number) {
    this.world = world;
    this.id = init.nodeId;
    this.inc = inc;
    this.nextPid = (inc + 1) * 100_000;
    const pgNode = asPgNode(node);
    const packets = world.history.packets;
    const id = this.id;
    const recorded: TotemPgNode = {
      submit: (payload) => {
        const r = pgNode.submit(payload);
        if (r === 'queued') packets.add(`${id}:${payloadDigest(payload)}`);
        return r;
      },
      available: () => pgNode.available(),
      transAck: () => pgNode.transAck(),
      onTokenReceived: (cb) => pgNode.onTokenReceived(cb),
    };
    const trace = world.trace;
    this.host = new ServiceHost({
      node: recorded, localNodeId: id, tickMs: init.config.tickMs, netMtu: init.config.netMtu,
      ...(trace === undefined ? {} : {
        log: (level: LogLevel, subsys: string, message: string) => {
          if (level === 'error' || level === 'warning' || level === 'notice') trace({ t: world.now(), ev: 'svc', node: id, level, subsys, message });
        },
      }),
    });
    const s = world.services;
    const configVersion: Array<readonly [string, CmapValue]> = world.configVersion(id) === null
      ? [] : [['totem.config_version', { type: 'uint64', value: world.configVersion(id) ?? 0n }]];
    this.cmap = new CmapService(this.host.apiFor('CMAP'), { config: configVersion });
    this.cfg = new CfgService({
      api: this.host.apiFor('CFG'),
      onKillRequest: (reason, from) => world.report(violation('CFG', `node ${id}#${inc} got a KILLNODE from ${from} (${reason}), which nobody sends here`, id, world.now())),
    });
    this.cpg = new CpgService(this.host.apiFor('CPG'));
    this.quorum = new QuorumService(this.host.apiFor('QUORUM'), { provider: true });
    const quorum = this.quorum;
    const vq = VotequorumService.create(this.host.apiFor('VOTEQ'), s.votequorum, { quorumCallback: (c) => quorum.setQuorum(c) });
    if (!vq.ok) throw new Error(`votequorum refused its settings: ${vq.error}`);
    this.votequorum = vq.value;
    this.host.setQuorumProvider(() => quorum.getQuorate());
    for (const service of [this.cmap, this.cfg, this.cpg, this.quorum, this.votequorum]) this.host.register(service);
    this.host.onSyncComplete((ring, members) => this.syncCompleted(ringIdKey(ring), members));
    this.quorum.trackStart((n) => this.quorumNotification(n.quorate, ringIdKey(n.ringId), n.members), { flags: TrackFlags.changes });
    this.context = {
      localNode: id,
      transMembers: () => this.transMembers,
      members: () => this.host.api.members(),
      joinRequested: (n, pid, g) => world.history.joins.has(requestKey(n, pid, g)),
      leaveRequested: (n, pid, g) => world.history.leaves.has(requestKey(n, pid, g)),
      procGone: (n, pid) => world.history.procEnds.has(procKey(n, pid)),
      leftUnknown: () => void world.history.leftUnknown++,
      report: (v) => world.report(v),
    };
  }

  // ---------------------------------------------------------------- NodeAttachment

  events(events: readonly TotemEvent[]): void {
    for (const ev of events) {
      if (ev.kind === 'confchg') {
        if (ev.type === 'transitional') this.transMembers = [...ev.members];
        else {
          this.regularTick = this.world.now();
          this.world.regularConfiguration(ev.members);
        }
        this.host.processTotemEvents([ev]);
        continue;
      }
      this.host.processTotemEvents([ev]);
      // A throw-away lasts until the sender's next packet with fragmented 0 or 1, which may
      // come rings later (the sender's assembly survives ring changes it takes part in): every
      // ring in which a packet was thrown away is recorded, so the checkers excuse the
      // sender there too (FINDINGS F7, F11).
      const { throwAways, packetsThrownAway } = this.host.pg.counters().assembler;
      if (packetsThrownAway !== this.packetsThrownAway) {
        this.packetsThrownAway = packetsThrownAway;
        const first = throwAways !== this.throwAways;
        this.throwAways = throwAways;
        const ring = this.ring();
        const key = `${ring}|${ev.sender}`;
        if (first || !this.throwAwayRings.has(key)) {
          this.throwAwayRings.add(key);
          const rec = { tick: this.world.now(), node: this.id, inc: this.inc, ring, sender: ev.sender, first };
          this.world.history.throwAways.push(rec);
          this.world.trace?.({ t: rec.tick, ev: first ? 'throw-away' : 'throw-away-continued', node: this.id, ring, sender: ev.sender });
        }
      }
    }
  }

  tick(): void {
    this.host.tick();
  }

  stop(): void {
    this.stopped = true;
    this.world.nodeStopped(this);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  // ---------------------------------------------------------------- state for checks

  ring(): string {
    return ringIdKey(this.host.api.ringId());
  }

  claim(): QuorumClaimView {
    return { node: this.id, ring: this.ring(), members: this.host.api.members(), syncing: this.host.isSyncing(), quorate: this.quorum.getQuorate() };
  }

  groups(): Map<string, ProcKey[]> {
    return new Map(this.cpg.groups().map((g) => [g.group, g.members.map((m) => procKey(m.nodeId, m.pid))]));
  }

  // ---------------------------------------------------------------- clients

  connect(): SimCpgClient {
    const pid = this.nextPid++;
    const handle = this.cpg.connect({ pid });
    const log: HandleLog = { node: this.id, inc: this.inc, pid, connectTick: this.world.now(), end: null, entries: [] };
    this.world.history.handles.push(log);
    const client = new SimCpgClient(handle, log, new HandleMonitor(this.context, log));
    handle.onConfchg((e) => this.onConfchg(client, e));
    handle.onDeliver((e) => this.onDeliver(client, e));
    this.clients.push(client);
    this.world.stats.clients++;
    return client;
  }

  join(c: SimCpgClient, group: string): string {
    const r = c.handle.join(group);
    this.action(c, 'join', group, r);
    if (r === 'queued') {
      c.monitor.joinQueued(group);
      addTick(this.world.history.joins, requestKey(this.id, c.handle.pid, group), this.world.now());
      this.world.stats.joins++;
    } else if (r === 'try-again' || r === 'full') {
      c.pending = { k: 'join', group };
    }
    return r;
  }

  leave(c: SimCpgClient, group: string): string {
    const r = c.handle.leave(group);
    this.action(c, 'leave', group, r);
    if (r === 'queued') {
      c.monitor.leaveQueued(group);
      addTick(this.world.history.leaves, requestKey(this.id, c.handle.pid, group), this.world.now());
      this.world.stats.leaves++;
    } else if (r === 'try-again' || r === 'full' || r === 'busy') {
      c.pending = { k: 'leave', group };
    }
    return r;
  }

  /** Multicasts a fresh payload of `bytes` body bytes (ids are unique per incarnation). */
  mcast(c: SimCpgClient, group: string, bytes: number, prng: Prng): string {
    const id = { origin: this.id, inc: this.inc, counter: this.counter++ };
    const payload = encodePayload(id, bodyBytes(bytes, prng), prng);
    return this.send(c, group, payload, msgKey(id), payloadDigest(payload));
  }

  /** Queues one payload; a retry sends the same bytes again. */
  private send(c: SimCpgClient, group: string, payload: Uint8Array, msg: string, digest: string): string {
    const r = c.handle.mcast(group, payload);
    this.action(c, 'mcast', group, r, r === 'queued' ? msg : undefined);
    if (r === 'queued') {
      this.world.history.sent.set(msg, {
        msg, node: this.id, inc: this.inc, pid: c.handle.pid, group, digest, bytes: payload.byteLength,
        tick: this.world.now(), ring: this.ring(), queueSeq: this.queueSeq++,
      });
      this.world.stats.mcasts++;
    } else if (r === 'try-again' || r === 'full') {
      c.pending = { k: 'mcast', group, payload, msg, digest };
    }
    return r;
  }

  finalize(c: SimCpgClient): void {
    c.handle.finalize();
    c.monitor.finalize();
    this.action(c, 'finalize', null, 'ok');
    c.log.end = { kind: 'finalize', tick: this.world.now() };
    this.world.history.procEnds.set(procKey(this.id, c.handle.pid), this.world.now());
    this.clients.splice(this.clients.indexOf(c), 1);
    this.world.stats.finalizes++;
  }

  /** Retries a request that got try-again / full (it may fail again and stay pending). */
  retry(c: SimCpgClient): void {
    const op = c.pending;
    if (op === null) return;
    c.pending = null;
    if (op.k === 'mcast') this.send(c, op.group, op.payload, op.msg, op.digest);
    else if (op.k === 'join') this.join(c, op.group);
    else this.leave(c, op.group);
  }

  /** One random client action (the safety-phase workload). */
  randomAction(prng: Prng): void {
    const o = this.world.services.cpg;
    if (this.clients.length === 0 || (this.clients.length < o.handlesMax && prng.chance(0.05))) {
      this.connect();
      return;
    }
    const c = prng.pick(this.clients);
    if (c.pending !== null) {
      this.retry(c);
      return;
    }
    const groups = Array.from({ length: o.groups }, (_, i) => `g${i}`);
    const state = (g: string): string => c.handle.state(g);
    const out = groups.filter((g) => state(g) === 'unjoined');
    const joined = groups.filter((g) => state(g) === 'joined');
    const sendable = groups.filter((g) => state(g) === 'joined' || state(g) === 'join-started');
    const r = prng.nextFloat();
    if (r < 0.02) {
      this.finalize(c);
    } else if (r < 0.25 && out.length > 0) {
      this.join(c, prng.pick(out));
    } else if (r < 0.35 && joined.length > 0) {
      this.leave(c, prng.pick(joined));
    } else if (sendable.length > 0) {
      const bytes = prng.chance(o.largeRatio) ? prng.range(1000, o.largeBytesMax) : prng.range(0, 64);
      this.mcast(c, prng.pick(sendable), bytes, prng);
    } else if (out.length > 0) {
      this.join(c, prng.pick(out));
    }
  }

  /** A local cmap write: a counter key, and now and then a new totem.config_version. */
  cmapWrite(prng: Prng): void {
    this.world.stats.cmapWrites++;
    if (prng.chance(0.1)) {
      const v = BigInt(prng.range(1, 3));
      this.world.setConfigVersion(this.id, v);
      this.cmap.setConfigKeys([['totem.config_version', { type: 'uint64', value: v }]]);
    } else {
      this.cmap.store.set(`sim.counter.${prng.range(0, 9)}`, { type: 'uint32', value: prng.range(0, 1000) });
    }
  }

  private action(c: SimCpgClient, k: 'join' | 'leave' | 'mcast' | 'finalize', group: string | null, result: string, msg?: string): void {
    const tick = this.world.now();
    c.log.entries.push({ k, tick, group, result, ...(msg === undefined ? {} : { msg }) });
    if (result === 'try-again' || result === 'full') this.world.stats.retries++;
    this.world.trace?.({ t: tick, ev: 'cpg-request', node: this.id, pid: c.handle.pid, op: k, group, result, ...(msg === undefined ? {} : { msg }) });
  }

  private onConfchg(c: SimCpgClient, e: CpgConfchgEvent): void {
    const rec: CpgConfchgRecord = {
      k: 'confchg', tick: this.world.now(), group: e.group, ring: this.ring(), syncing: this.host.isSyncing(),
      members: e.members.map((m) => procKey(m.nodeId, m.pid)),
      joined: e.joined.map((j) => ({ nodeId: j.nodeId, pid: j.pid, reason: j.reason })),
      left: e.left.map((l) => ({ nodeId: l.nodeId, pid: l.pid, reason: l.reason })),
    };
    c.log.entries.push(rec);
    this.world.stats.confchgs++;
    this.world.trace?.({ t: rec.tick, ev: 'cpg-confchg', node: this.id, pid: c.handle.pid, group: rec.group, ring: rec.ring,
      syncing: rec.syncing, members: rec.members, joined: rec.joined, left: rec.left });
    c.monitor.confchg(rec);
  }

  private onDeliver(c: SimCpgClient, e: CpgDeliverEvent): void {
    // One event object per message, shared by the node's receiving clients: decode once.
    let d = this.decoded.get(e);
    if (d === undefined) {
      const decoded = decodePayload(e.payload);
      d = { msg: decoded.id === null ? null : msgKey(decoded.id), intact: decoded.ok, digest: payloadDigest(e.payload) };
      this.decoded.set(e, d);
    }
    const msg = d.msg;
    const rec: CpgDeliverRecord = {
      k: 'deliver', tick: this.world.now(), group: e.group, ring: this.ring(), syncing: this.host.isSyncing(),
      nodeId: e.nodeId, pid: e.pid, msg, intact: d.intact, digest: d.digest,
    };
    c.log.entries.push(rec);
    if (msg !== null) c.received.add(msg);
    this.world.stats.deliveries++;
    if (this.world.trace !== undefined && e.payload.byteLength > 200) {
      this.world.trace({ t: rec.tick, ev: 'cpg-deliver', node: this.id, pid: c.handle.pid, group: rec.group, from: `${e.nodeId}:${e.pid}`, msg, bytes: e.payload.byteLength });
    }
    c.monitor.deliver(rec);
  }

  private syncCompleted(ring: string, members: readonly number[]): void {
    const tick = this.world.now();
    const groups = this.groups();
    const views: Array<{ client: string; group: string; view: readonly ProcKey[] }> = [];
    for (const c of this.clients) {
      for (const group of c.monitor.groupsIn()) {
        const view = c.monitor.view(group) ?? [];
        views.push({ client: c.name, group, view });
        c.log.entries.push({ k: 'view', tick, group, ring, members: view });
      }
    }
    const vq = this.votequorum.status();
    const status = this.host.status();
    const point: SyncPoint = {
      tick, node: this.id, inc: this.inc, ring, members: [...members],
      trans: this.transMembers ?? [],
      startTick: this.regularTick,
      groups: groupsText(groups),
      quorate: this.quorum.getQuorate(),
      votequorum: {
        quorate: vq.quorate, expectedVotes: vq.expectedVotes, highestExpected: vq.highestExpected, totalVotes: vq.totalVotes,
        quorum: vq.quorum, flags: vq.flags, members: vq.members.map((m) => m.nodeId),
      },
      cmapMissing: members.filter((m) => !this.cmap.store.has(`runtime.members.${m}.config_version`)),
      throwAways: status.pg.assembler.throwAways,
    };
    this.world.history.syncs.push(point);
    this.world.stats.syncs++;
    this.world.trace?.({ t: tick, ev: 'sync-complete', node: this.id, ring, members, quorate: point.quorate, groups: point.groups });
    const downs = this.world.history.procDowns;
    for (const v of checkCpgAtSync(point, groups, views, (p) => downs.get(p))) this.world.report(v);
    for (const v of checkQuorumAtSync(point, this.world.rules)) this.world.report(v);
    if (point.quorate) this.world.wfa?.quorate(this.id, this.inc, ring, tick);
    this.world.checkPartitions('sync completion');
  }

  private quorumNotification(quorate: boolean, ring: string, members: readonly number[]): void {
    const tick = this.world.now();
    this.world.history.quorum.push({ tick, node: this.id, inc: this.inc, quorate, ring, members: [...members] });
    this.world.stats.quorumNotifications++;
    this.world.trace?.({ t: tick, ev: 'quorum', node: this.id, quorate, ring, members });
    if (quorate) this.world.wfa?.quorate(this.id, this.inc, ring, tick);
    if (!this.host.isSyncing()) this.world.checkPartitions('quorum notification');
  }
}

/** Every node's service stack for one run, the records, and the online findings. */
export class ServicesWorld {
  readonly history: ServicesHistory = newServicesHistory();
  readonly stats: ServicesStats = {
    clients: 0, joins: 0, leaves: 0, finalizes: 0, mcasts: 0, retries: 0, deliveries: 0, confchgs: 0, syncs: 0,
    quorumNotifications: 0, cmapWrites: 0, throwAways: 0, leftUnknown: 0,
  };
  readonly services: ServicesOptions;
  readonly rules: QuorumRules;
  readonly wfa: WaitForAllMonitor | null;
  readonly trace: ((record: Record<string, unknown>) => void) | undefined;
  private readonly violationList: Violation[] = [];
  private readonly current = new Map<number, SimServiceNode>();
  private readonly configVersions = new Map<number, bigint | null>();
  private clock: () => number = () => 0;

  constructor(o: ServicesWorldOptions) {
    this.services = o.services;
    this.trace = o.trace;
    this.rules = {
      nodes: o.nodeIds.length, twoNode: o.services.twoNode, waitForAll: o.services.waitForAll,
      lastManStanding: o.services.lastManStanding, autoTieBreaker: o.services.autoTieBreaker,
    };
    this.wfa = o.services.waitForAll ? new WaitForAllMonitor(o.nodeIds) : null;
    for (const id of o.nodeIds) this.configVersions.set(id, null);
  }

  /** Pass as SimClusterOptions.attach. */
  readonly attach = (node: SimNode, init: NodeInit, inc: number): NodeAttachment => {
    const sn = new SimServiceNode(this, node, init, inc);
    this.current.set(init.nodeId, sn);
    return sn;
  };

  bind(cluster: SimCluster): void {
    this.clock = () => cluster.now;
  }

  now(): number {
    return this.clock();
  }

  get violations(): readonly Violation[] {
    return [...this.violationList, ...(this.wfa?.violations ?? [])];
  }

  report(v: Violation): void {
    if (this.violationList.length < 50) this.violationList.push(v);
  }

  /** The running incarnation's stack of node `id` (undefined when down). */
  node(id: number): SimServiceNode | undefined {
    return this.current.get(id);
  }

  configVersion(id: number): bigint | null {
    return this.configVersions.get(id) ?? null;
  }

  setConfigVersion(id: number, v: bigint): void {
    this.configVersions.set(id, v);
  }

  regularConfiguration(members: readonly number[]): void {
    this.wfa?.regularConfiguration(members);
  }

  nodeStopped(sn: SimServiceNode): void {
    const tick = this.now();
    for (const c of sn.clients) {
      if (c.log.end === null) c.log.end = { kind: 'node-down', tick };
      this.history.procEnds.set(procKey(sn.id, c.handle.pid), tick);
      this.history.procDowns.set(procKey(sn.id, c.handle.pid), tick);
    }
    if (this.current.get(sn.id) === sn) this.current.delete(sn.id);
    if (this.current.size === 0) this.wfa?.allDown();
  }

  /** Q1 over every running node's claim (only with constant expected votes). */
  checkPartitions(why: string): void {
    if (!singlePartitionRule(this.rules)) return;
    const claims = [...this.current.values()].map((sn) => sn.claim());
    for (const v of checkQuorumPartitions(claims, this.now(), why)) this.report(v);
  }

  /** Totals that live in the records, copied into the stats at the end of a run. */
  finishStats(): void {
    this.stats.throwAways = this.history.throwAways.filter((t) => t.first).length;
    this.stats.leftUnknown = this.history.leftUnknown;
  }

  /**
   * The random client workload for one tick: per active node, maybe one client action,
   * maybe a cmap write, and retries of requests that got try-again / full.
   */
  workload(cluster: SimCluster, prng: Prng, nodes: readonly number[], actionRatio = this.services.cpg.actionRatio): void {
    for (const id of nodes) {
      if (!cluster.isActive(id)) continue;
      const sn = this.current.get(id);
      if (sn === undefined) continue;
      if (prng.chance(actionRatio)) cluster.act(id, 'cpg client', () => sn.randomAction(prng));
      if (prng.chance(this.services.cpg.cmapWriteRatio)) cluster.act(id, 'cmap write', () => sn.cmapWrite(prng));
    }
  }
}

const imul = Math.imul;

/** `n` pseudo-random bytes from one draw of `prng` (a per-byte draw is slow for 60 kB bodies). */
function bodyBytes(n: number, prng: Prng): Uint8Array {
  const out = new Uint8Array(n);
  let x = prng.nextU32() | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = imul(x, 0x9e3779b1) >>> 24;
  }
  return out;
}

function addTick(map: Map<string, number[]>, key: string, tick: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [tick]);
  else list.push(tick);
}

function asPgNode(node: SimNode): TotemPgNode {
  const n = node as SimNode & Partial<TotemPgNode>;
  if (typeof n.available !== 'function' || typeof n.onTokenReceived !== 'function') {
    throw new Error('services mode needs a node with available() and onTokenReceived() (a TotemNode)');
  }
  return n as SimNode & TotemPgNode;
}
