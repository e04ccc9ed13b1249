// The services of a running carillond (architecture.md §2.6, §2.8): a ServiceHost over
// the daemon's TotemNode with corosync 3.1.7's services, and the DaemonServicesApi the
// IPC server serves. The Driver feeds the host (events in order, one tick per tick);
// this module owns everything above Totem.
//
// Services, as corosync loads them (main.c / service.c): cmap (0), cfg (1), cpg (2),
// [pload (4), mon (6), wd (7): not part of Carillon; their messages are ignored as
// corosync ignores unknown services], quorum (3) and, with `quorum { provider:
// corosync_votequorum }`, votequorum (5). Sync participants are therefore [0, 2, 3, 5]
// (or [0, 2, 3] without votequorum), as a corosync node advertises in SERVICE_BUILD.
// The quorum service is created before votequorum, whose constructor may already report
// quorum through it, and is the host's quorum provider.
//
// cmap holds the configuration file as coroparse files it, runtime.config.totem.*,
// nodelist.local_node_pos, runtime.votequorum.* (what votequorum exposes: this_node_id,
// two_node, atb_type, ev_barrier, and lowest/highest_node_id with auto_tie_breaker),
// runtime.members.N.* (the cmap service; ip as `r(0) ip(ADDR) `), and the statistics
// publishStats() refreshes: stats.srp.*, stats.pg.*, stats.ipcs.global.*. Writing
// quorum.cancel_wait_for_all = 1 cancels wait_for_all, as in corosync.
//
// Every API call that may multicast ends with `flush()` (the driver pumps the node's
// effects), so a token-hold cancel or a large message goes out at once.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CarillonConfig } from '../config/load';
import type { ConfDocument } from '../config/corosync-conf';
import { cmapValueFromJson, cmapValueToJson } from '../ipc/cmap-json';
import {
  type CmapEntryJson,
  type CmapTrackEventJson,
  type CmapTrackFlagsJson,
  type CmapValueTypeName,
  type CpgGroupJson,
  type CpgHandleEvent,
  type CpgMemberChangeJson,
  type CpgMemberJson,
  type DaemonCpgHandle,
  type DaemonServicesApi,
  type QuorumEventJson,
  type QuorumStatusJson,
  type RingIdJson,
  DaemonApiError,
  cpgReasonNames,
} from '../ipc/daemon-api';
import { IpcErrorCode } from '../ipc/protocol';
import { CfgService } from '../services/cfg-service';
import { CmapService } from '../services/cmap/cmap-service';
import { CmapErrorCode, type CmapValue } from '../services/cmap/cmap-store';
import type { CpgHandle, CpgMemberChange } from '../services/cpg/cpg-service';
import { CpgService } from '../services/cpg/cpg-service';
import { QuorumService, TrackFlags } from '../services/quorum/quorum-service';
import { ServiceHost } from '../services/service-host';
import { resolveVotequorumConfig, VotequorumService } from '../services/votequorum/votequorum-service';
import type { TotemNode } from '../totem/srp/totem-node';
import type { RingId } from '../totem/wire/messages';
import type { Logger } from './logger';
import { cmapConfigEntries, cmapDerivedEntries, memberAddressText, srpStats, votequorumSettings } from './service-config';

/** How many token inter-arrival times mtt_rx_token averages (TOTEM_TOKEN_STATS_MAX). */
const TOKEN_STATS_MAX = 100;
const EV_TRACKING_FILE = 'ev_tracking';
const ATB_TYPE = { none: 0, lowest: 1, highest: 2, list: 3 } as const;

export interface DaemonServicesOptions {
  readonly config: CarillonConfig;
  /** The parsed configuration file, for cmap (null: only the derived keys). */
  readonly document: ConfDocument | null;
  readonly nodeId: number;
  readonly node: TotemNode;
  /** totempg net_mtu: the node's TotemConfig.netMtu. */
  readonly netMtu: number;
  readonly tickMs: number;
  readonly logger: Logger;
  /** Pumps the node's effects after an API call (Driver.flush). */
  readonly flush: () => void;
  /** cfg KILLNODE named this node: the daemon must exit. */
  readonly onKill: (reason: string, fromNodeId: number) => void;
}

function ringJson(ring: RingId): RingIdJson {
  return { rep: ring.rep, seq: ring.seq.toString() };
}

function changeJson(c: CpgMemberChange): CpgMemberChangeJson {
  return { nodeId: c.nodeId, pid: c.pid, reason: c.reason, reasonName: cpgReasonNames[c.reason] ?? 'undefined' };
}

export class DaemonServices implements DaemonServicesApi {
  readonly host: ServiceHost;
  readonly cmap: CmapService;
  readonly cfg: CfgService;
  readonly cpg: CpgService;
  readonly quorum: QuorumService;
  readonly votequorum: VotequorumService | null;
  private readonly options: DaemonServicesOptions;
  private readonly handles = new Set<CpgHandle>();
  private readonly tokenIntervals: number[] = [];
  private lastTokenAtMs: number | null = null;

  constructor(options: DaemonServicesOptions) {
    this.options = options;
    const { config, nodeId, logger } = options;
    this.host = new ServiceHost({
      node: options.node,
      localNodeId: nodeId,
      tickMs: options.tickMs,
      netMtu: options.netMtu,
      log: (level, subsys, message, fields) => logger.log(level, subsys, message, fields),
    });
    options.node.onTokenReceived(() => this.tokenReceived());

    const cmapConfig = [...(options.document === null ? [] : cmapConfigEntries(options.document)), ...cmapDerivedEntries(config, nodeId)];
    this.cmap = new CmapService(this.host.apiFor('CMAP'), { config: cmapConfig });
    for (const node of config.nodelist) this.cmap.setMemberAddress(node.nodeid, memberAddressText(node));
    this.cfg = new CfgService({ api: this.host.apiFor('CFG'), onKillRequest: (reason, from) => options.onKill(reason, from) });
    this.cpg = new CpgService(this.host.apiFor('CPG'));
    this.quorum = new QuorumService(this.host.apiFor('QUORUM'), { provider: config.quorum !== null });
    this.host.setQuorumProvider(() => this.quorum.getQuorate());
    this.votequorum = this.createVotequorum();
    for (const service of [this.cmap, this.cfg, this.cpg, this.quorum, ...(this.votequorum === null ? [] : [this.votequorum])]) this.host.register(service);
    this.cmap.store.track('quorum.cancel_wait_for_all', { add: true, modify: true }, (event) => this.cancelWaitForAll(event.newValue));
  }

  // -------------------------------------------------------------------------------------
  // For the daemon

  /** The quorum service's verdict (api->quorum_is_quorate). */
  isQuorate(): boolean {
    return this.quorum.getQuorate();
  }

  isSyncing(): boolean {
    return this.host.isSyncing();
  }

  /** Refreshes stats.srp.*, stats.pg.* and (given the IPC counters) stats.ipcs.global.*. */
  publishStats(ipc: { active: number; closed: number } | null): void {
    const totem = this.options.node.status();
    const now = performance.now();
    const mtt = this.tokenIntervals.length === 0 ? 0 : this.tokenIntervals.reduce((a, b) => a + b, 0) / this.tokenIntervals.length;
    const problems = [
      ...this.cmap.setRuntimeStats('stats.srp', srpStats(totem.stats, {
        timeSinceTokenLastReceivedMs: this.lastTokenAtMs === null ? 0 : now - this.lastTokenAtMs,
        mttRxTokenMs: mtt,
      })),
      ...this.cmap.setRuntimeStats('stats.pg', { msg_queue_avail: this.options.node.available(), msg_reserved: 0 }),
      ...(ipc === null ? [] : this.cmap.setRuntimeStats('stats.ipcs.global', { active: ipc.active, closed: ipc.closed })),
    ];
    for (const p of problems) this.options.logger.log('debug', 'STATS', `cannot publish ${p.key}: ${p.error.message}`);
  }

  /**
   * SIGHUP with changed quorum settings: votequorum re-reads what it reads at runtime
   * (votequorum_refresh_config: two_node, expected_votes, votes, the nodelist) and tells
   * the others. Adding or removing the quorum provider needs a restart, as in corosync.
   */
  reloadQuorum(config: CarillonConfig): 'reloaded' | 'restart' | { error: string } {
    if ((config.quorum === null) !== (this.votequorum === null)) return 'restart';
    const vq = this.votequorum;
    const settings = votequorumSettings(config);
    if (vq === null || settings === null) return 'reloaded';
    const result = this.run(() => vq.reloadConfig(settings));
    return result.ok ? 'reloaded' : { error: result.error };
  }

  /** Processes of this node in any CPG group (joined, or whose leave is not delivered yet). */
  localProcessCount(): number {
    let n = 0;
    for (const g of this.cpg.groups()) n += g.members.filter((m) => m.nodeId === this.options.nodeId).length;
    return n;
  }

  /**
   * Orderly shutdown, before the Totem LEAVE (corosync_service_unlink_all): every CPG
   * handle is finalized (PROCLEAVE, reason procdown) and votequorum announces LEAVING
   * when allow_downscale is set.
   */
  shutdown(): void {
    this.run(() => {
      for (const handle of [...this.handles]) handle.finalize();
      this.handles.clear();
      this.votequorum?.shutdown();
    });
  }

  // -------------------------------------------------------------------------------------
  // DaemonServicesApi: cpg

  cpgInitialize(options: { pid?: number }, listener: (event: CpgHandleEvent) => void): DaemonCpgHandle {
    const handle = this.cpg.tryConnect(options.pid === undefined ? {} : { pid: options.pid });
    if (handle === 'too-many-handles') throw new DaemonApiError(IpcErrorCode.cpgTooManyHandles, 'the daemon holds as many CPG handles as it may');
    if (handle === 'bad-pid') throw new DaemonApiError(IpcErrorCode.cpgBadPid, `pid ${String(options.pid)} is not a u32`);
    this.handles.add(handle);
    handle.onDeliver((e) => listener({ event: 'deliver', group: e.group, nodeId: e.nodeId, pid: e.pid, payload: e.payload }));
    handle.onConfchg((e) =>
      listener({
        event: 'confchg',
        group: e.group,
        members: e.members.map((m) => ({ nodeId: m.nodeId, pid: m.pid })),
        joined: e.joined.map(changeJson),
        left: e.left.map(changeJson),
      }),
    );
    handle.onTotemConfchg((e) => listener({ event: 'totem-confchg', ringId: ringJson(e.ringId), members: [...e.members] }));
    return {
      pid: handle.pid,
      join: (group) => this.run(() => handle.join(group)),
      leave: (group) => this.run(() => handle.leave(group)),
      mcast: (group, payload) => this.run(() => handle.mcast(group, payload)),
      finalize: () => {
        if (!this.handles.delete(handle)) return;
        this.run(() => handle.finalize());
      },
    };
  }

  cpgMembership(group: string): CpgMemberJson[] {
    return this.cpg.membership(group).map((m) => ({ nodeId: m.nodeId, pid: m.pid }));
  }

  cpgGroups(): CpgGroupJson[] {
    // corosync's iteration order: `carillon cpg list` and `show members` print what
    // corosync-cpgtool and res_corosync print for the same process list.
    return this.cpg.iteration().map((g) => ({ group: g.group, members: g.members.map((m) => ({ nodeId: m.nodeId, pid: m.pid })) }));
  }

  // -------------------------------------------------------------------------------------
  // DaemonServicesApi: quorum

  quorumStatus(): QuorumStatusJson {
    const quorate = this.quorum.getQuorate();
    const vq = this.votequorum;
    if (vq === null) {
      const host = this.host.status();
      return {
        provider: null,
        quorate,
        nodeId: this.options.nodeId,
        ringId: ringJson(host.ringId),
        expectedVotes: 0,
        highestExpected: 0,
        totalVotes: 0,
        quorum: 0,
        flags: [],
        members: host.members.map((nodeId) => ({ nodeId, votes: null, name: this.nameOf(nodeId), local: nodeId === this.options.nodeId })),
      };
    }
    const s = vq.status();
    return {
      provider: 'corosync_votequorum',
      quorate,
      nodeId: s.nodeId,
      ringId: ringJson(s.ringId),
      expectedVotes: s.expectedVotes,
      highestExpected: s.highestExpected,
      totalVotes: s.totalVotes,
      quorum: s.quorum,
      flags: [...s.flags],
      members: s.members.map((m) => ({ nodeId: m.nodeId, votes: m.votes, name: m.name ?? null, local: m.local })),
    };
  }

  quorumSetExpected(votes: number): void {
    const vq = this.requireVotequorum('quorum.setExpected');
    this.quorumResult(this.run(() => vq.setExpected(votes)), `expected votes ${votes}`);
  }

  quorumSetVotes(nodeId: number, votes: number): void {
    const vq = this.requireVotequorum('quorum.setVotes');
    this.quorumResult(this.run(() => vq.setVotes(nodeId, votes)), `${votes} votes for node ${nodeId}`);
  }

  subscribeQuorum(listener: (event: QuorumEventJson) => void): () => void {
    const tracker = this.quorum.trackStart(
      (n) => listener({ quorate: n.quorate, ringId: ringJson(n.ringId), members: [...n.members] }),
      { flags: TrackFlags.changes },
    );
    return () => tracker.stop();
  }

  // -------------------------------------------------------------------------------------
  // DaemonServicesApi: cmap

  cmapGet(key: string): CmapEntryJson {
    const value = this.cmap.store.get(key);
    if (value === undefined) throw new DaemonApiError(IpcErrorCode.cmapNotExist, `${key} does not exist`);
    return { key, ...cmapValueToJson(value) };
  }

  cmapSet(key: string, type: CmapValueTypeName, value: number | string): CmapEntryJson {
    const parsed = cmapValueFromJson(type, value);
    if (!parsed.ok) throw new DaemonApiError(parsed.error.code, `${key}: ${parsed.error.message}`);
    const result = this.run(() => this.cmap.store.set(key, parsed.value, { client: true }));
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
    return this.cmapGet(key);
  }

  cmapDelete(key: string): void {
    const result = this.run(() => this.cmap.store.delete(key, { client: true }));
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
  }

  cmapList(prefix: string): CmapEntryJson[] {
    return this.cmap.store.iterate(prefix).map((e) => ({ key: e.key, ...cmapValueToJson(e.value) }));
  }

  cmapTrack(key: string, flags: CmapTrackFlagsJson, listener: (event: Omit<CmapTrackEventJson, 'trackId'>) => void): () => void {
    if (!flags.add && !flags.modify && !flags.delete) {
      throw new DaemonApiError(CmapErrorCode.invalidParam, 'a track needs at least one of add, modify, delete');
    }
    const track = this.cmap.store.track(key, flags, (e) => {
      try {
        listener({
          type: e.type,
          key: e.key,
          newValue: e.newValue === undefined ? null : cmapValueToJson(e.newValue),
          oldValue: e.oldValue === undefined ? null : cmapValueToJson(e.oldValue),
        });
      } catch (error) {
        // The store rethrows listener errors into whoever wrote the key.
        this.options.logger.log('error', 'CMAP', `a track listener failed: ${String(error)}`);
      }
    });
    return () => track.stop();
  }

  // -------------------------------------------------------------------------------------

  private run<T>(action: () => T): T {
    try {
      return action();
    } finally {
      this.options.flush();
    }
  }

  private nameOf(nodeId: number): string | null {
    return this.options.config.nodelist.find((n) => n.nodeid === nodeId)?.name ?? null;
  }

  private requireVotequorum(method: string): VotequorumService {
    if (this.votequorum === null) throw new DaemonApiError(IpcErrorCode.unavailable, `${method}: no quorum provider is configured (quorum { provider: corosync_votequorum })`);
    return this.votequorum;
  }

  private quorumResult(result: 'ok' | 'err-invalid-param' | 'err-name-not-found', what: string): void {
    if (result === 'err-invalid-param') throw new DaemonApiError(IpcErrorCode.quorumInvalidParam, `votequorum refused ${what} (CS_ERR_INVALID_PARAM)`);
    if (result === 'err-name-not-found') throw new DaemonApiError(IpcErrorCode.quorumNameNotFound, `votequorum knows no such node (${what})`);
  }

  private tokenReceived(): void {
    const now = performance.now();
    if (this.lastTokenAtMs !== null) {
      this.tokenIntervals.push(now - this.lastTokenAtMs);
      if (this.tokenIntervals.length > TOKEN_STATS_MAX) this.tokenIntervals.shift();
    }
    this.lastTokenAtMs = now;
  }

  private cancelWaitForAll(value: CmapValue | undefined): void {
    if (this.votequorum === null || value === undefined || value.type !== 'uint8' || value.value !== 1) return;
    this.options.logger.log('notice', 'VOTEQ', 'quorum.cancel_wait_for_all set: cancelling wait_for_all');
    this.run(() => this.votequorum?.cancelWaitForAll());
    // corosync resets the key once it has acted on it.
    queueMicrotask(() => this.cmap.store.set('quorum.cancel_wait_for_all', { type: 'uint8', value: 0 }));
  }

  private createVotequorum(): VotequorumService | null {
    const { config, nodeId, logger } = this.options;
    const evFile = path.join(config.carillon.stateDir, EV_TRACKING_FILE);
    const tracking = config.quorum?.expectedVotesTracking === true;
    const settings = votequorumSettings(config, tracking ? readEvTracking(evFile, logger) : 0);
    if (settings === null) return null;
    const created = VotequorumService.create(this.host.apiFor('VOTEQ'), settings, {
      quorumCallback: (change) => this.quorum.setQuorum(change),
      ...(tracking ? { onEvTrackingBarrier: (value: number) => writeEvTracking(evFile, value, logger) } : {}),
    });
    // The loader's checks are votequorum's; an error here is a bug, not a bad file.
    if (!created.ok) throw new Error(`votequorum refused the configuration: ${created.error}`);
    const vq = created.value;
    const resolved = resolveVotequorumConfig(settings, nodeId);
    if (resolved.ok) {
      this.setRuntime('runtime.votequorum.this_node_id', { type: 'uint32', value: nodeId });
      this.setRuntime('runtime.votequorum.two_node', { type: 'uint8', value: resolved.value.twoNode ? 1 : 0 });
      this.setRuntime('runtime.votequorum.atb_type', { type: 'uint32', value: ATB_TYPE[resolved.value.autoTieBreaker] });
      this.setRuntime('runtime.votequorum.ev_barrier', { type: 'uint32', value: resolved.value.expectedVotes >>> 0 });
      if (resolved.value.autoTieBreaker !== 'none') vq.onQuorumChange((event) => this.publishNodeIdExtremes(event.members));
    }
    vq.onExpectedVotesChange((ev) => this.setRuntime('runtime.votequorum.ev_barrier', { type: 'uint32', value: ev >>> 0 }));
    logger.log('debug', 'VOTEQ', `votequorum started as node ${nodeId} of ${config.nodelist.length} listed`);
    return vq;
  }

  /** runtime.votequorum.lowest/highest_node_id: auto_tie_breaker's view of the members (us included). */
  private publishNodeIdExtremes(members: readonly number[]): void {
    const all = [this.options.nodeId, ...members];
    this.setRuntime('runtime.votequorum.lowest_node_id', { type: 'uint32', value: Math.min(...all) });
    this.setRuntime('runtime.votequorum.highest_node_id', { type: 'uint32', value: Math.max(...all) });
  }

  private setRuntime(key: string, value: CmapValue): void {
    const problems = this.cmap.setConfigKeys([[key, value]]);
    for (const p of problems) this.options.logger.log('debug', 'CMAP', `cannot set ${p.key}: ${p.error.message}`);
  }
}

/** The stored expected_votes_tracking value: a u32 (little-endian, as corosync writes it on x86); 0 when absent. */
function readEvTracking(file: string, logger: Logger): number {
  try {
    const bytes = fs.readFileSync(file);
    if (bytes.length >= 4) return bytes.readUInt32LE(0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.log('warning', 'VOTEQ', `cannot read ${file}: ${(e as Error).message}`);
  }
  return 0;
}

function writeEvTracking(file: string, value: number, logger: Logger): void {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0, 0);
  try {
    fs.writeFileSync(file, bytes, { mode: 0o600 });
  } catch (e) {
    logger.log('warning', 'VOTEQ', `Unable to update ev_tracking_barrier on disk data!!! (${file}: ${(e as Error).message})`);
  }
}
