// carillond's Prometheus metrics (architecture.md §3.3, "Prometheus metrics"), served by
// `GET /metrics` (src/runtime/http-server.ts). A dedicated prom-client Registry — never
// the global one, so a process embedding two daemons (tests) or another library's
// metrics cannot collide — whose collect() callbacks read live state at scrape time:
// Daemon.status() (Totem state, ring, members, the stats.srp counters), the services
// (quorum status, CPG groups and counters), IpcServer.stats() and, when the Asterisk
// bridge runs, BridgeRunner.status(). One snapshot of every source is taken per scrape,
// so the families of one scrape agree with each other.
//
// Counters are derived from the daemon's own monotonically increasing counters. A
// prom-client Counter can only be incremented, so each scrape adds the difference since
// the previous one; a source that went backwards (it was recreated) is treated as
// Prometheus treats a counter reset: its new value is added. Exported counters therefore
// never decrease, whatever the sources do.
//
// Two histograms need an observation point outside the sources: the token rotation
// (wall time between two consecutive ORF tokens received by this node; the Totem core
// reports each token through TotemNode.onTokenReceived and this module reads the
// monotonic clock — the core has none) and scheduling misses (Driver.onSchedMiss: how
// late the tick loop ran).
//
// Families (carillon_ prefix; corosync's stats.srp.* names mirrored as carillon_srp_*):
//   carillon_info{version,cluster_name,node_id,transport}    1
//   carillon_totem_ring_seq, carillon_totem_members, carillon_totem_state{state}
//   carillon_totem_token_rotation_seconds (histogram), carillon_schedmiss_seconds (histogram)
//   carillon_totem_mcast_retransmits_total, carillon_totem_token_lost_total{state}
//   carillon_membership_changes_total, carillon_sync_in_progress
//   carillon_srp_<stats.srp name>_total, carillon_srp_continuous_gather
//   carillon_quorum_quorate, carillon_quorum_votes, carillon_quorum_expected_votes,
//   carillon_quorum_needed_votes
//   carillon_cpg_groups, carillon_cpg_delivered_total, carillon_cpg_deliveries_total
//   carillon_ipc_clients, carillon_ipc_requests_total, carillon_ipc_errors_total{code}
//   carillon_bridge_running, carillon_bridge_joined, carillon_asterisk_ami_connected
//   carillon_bridge_events_total{type,direction[,reason]}, carillon_asterisk_writes_total{result}
//   carillon_http_requests_total{path,code}
//   nodejs_* and process_* (prom-client default metrics, nodejs_eventloop_lag_seconds among them)

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BridgeStatusJson, DaemonStatus, QuorumStatusJson } from '../ipc/daemon-api';
import type { TotemStats } from '../totem/srp/types';
import { type MonotonicClock, systemClock } from './driver';
import type { IpcServerStats } from './ipc-server';

/** The CPG figures the metrics read (CpgService.counters() and its group count). */
export interface CpgMetricsInput {
  readonly groups: number;
  /** Messages delivered to at least one local process. */
  readonly delivered: number;
  /** Deliver callbacks (one per receiving local process). */
  readonly deliveries: number;
}

/** What BridgeRunner.status() returns that the metrics read. */
export type BridgeMetricsInput = Pick<BridgeStatusJson, 'ami' | 'joined' | 'stats'>;

export interface MetricsSources {
  status(): DaemonStatus;
  quorum(): Pick<QuorumStatusJson, 'quorate' | 'totalVotes' | 'expectedVotes' | 'quorum'>;
  cpg(): CpgMetricsInput;
  ipc(): Pick<IpcServerStats, 'clients' | 'requests' | 'errors'>;
  /** null when no bridge is configured. */
  bridge(): BridgeMetricsInput | null;
}

export interface DaemonMetricsOptions {
  readonly sources: MetricsSources;
  readonly clock?: MonotonicClock;
  /** prom-client's nodejs_* and process_* metrics (default true). */
  readonly defaultMetrics?: boolean;
}

/** Token rotations: sub-millisecond on an idle LAN ring up to a token timeout and beyond. */
const TOKEN_ROTATION_BUCKETS_SEC = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Scheduling misses: multiples of the 10 ms tick up to stalls longer than a token timeout. */
const SCHEDMISS_BUCKETS_SEC = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

const TOTEM_STATES = ['operational', 'gather', 'commit', 'recovery'] as const;

/** corosync's stats.srp.* counters (monotonic ones) and the TotemStats field each mirrors. */
const SRP_COUNTERS: ReadonlyArray<readonly [string, keyof TotemStats]> = [
  ['orf_token_tx', 'orfTokenTx'],
  ['orf_token_rx', 'orfTokenRx'],
  ['memb_merge_detect_tx', 'membMergeDetectTx'],
  ['memb_merge_detect_rx', 'membMergeDetectRx'],
  ['memb_join_tx', 'membJoinTx'],
  ['memb_join_rx', 'membJoinRx'],
  ['mcast_tx', 'mcastTx'],
  ['mcast_retx', 'mcastRetx'],
  ['mcast_rx', 'mcastRx'],
  ['memb_commit_token_tx', 'membCommitTokenTx'],
  ['memb_commit_token_rx', 'membCommitTokenRx'],
  ['token_hold_cancel_tx', 'tokenHoldCancelTx'],
  ['token_hold_cancel_rx', 'tokenHoldCancelRx'],
  ['operational_entered', 'operationalEntered'],
  ['operational_token_lost', 'operationalTokenLost'],
  ['gather_entered', 'gatherEntered'],
  ['gather_token_lost', 'gatherTokenLost'],
  ['commit_entered', 'commitEntered'],
  ['commit_token_lost', 'commitTokenLost'],
  ['recovery_entered', 'recoveryEntered'],
  ['recovery_token_lost', 'recoveryTokenLost'],
  ['consensus_timeouts', 'consensusTimeouts'],
  ['rx_msg_dropped', 'rxMsgDropped'],
];

const TOKEN_LOST: ReadonlyArray<readonly [(typeof TOTEM_STATES)[number], keyof TotemStats]> = [
  ['operational', 'operationalTokenLost'],
  ['gather', 'gatherTokenLost'],
  ['commit', 'commitTokenLost'],
  ['recovery', 'recoveryTokenLost'],
];

/** ast_event types received, by the bridge core's counter. */
const BRIDGE_IN: ReadonlyArray<readonly [string, string]> = [
  ['device_state', 'receivedDeviceState'],
  ['mwi', 'receivedMwi'],
  ['presence_state', 'receivedPresence'],
  ['ping', 'receivedPing'],
  ['cluster_discovery', 'receivedDiscovery'],
];

/** ast_event types published (built for the cluster), by the bridge core's counter. */
const BRIDGE_OUT: ReadonlyArray<readonly [string, string]> = [
  ['device_state', 'publishedDeviceState'],
  ['mwi', 'publishedMwi'],
  ['presence_state', 'publishedPresence'],
];

/** Why the bridge dropped an event, by counter (type "any": the counters are not per type). */
const BRIDGE_DROPPED: ReadonlyArray<readonly [string, string, string]> = [
  ['own_eid', 'any', 'droppedOwnEid'],
  ['malformed', 'any', 'droppedMalformed'],
  ['missing_eid', 'any', 'droppedMissingEid'],
  ['aggregate', 'device_state', 'droppedAggregate'],
  ['unknown_type', 'any', 'droppedUnknownType'],
  ['unsubscribed', 'any', 'droppedUnsubscribed'],
  ['discovery_mismatch', 'cluster_discovery', 'droppedDiscoveryMismatch'],
  ['over_limit', 'any', 'droppedOverLimit'],
  ['local_invalid', 'any', 'droppedLocalInvalid'],
  ['cpg_queue_full', 'any', 'mcastDropped'],
  ['not_joined', 'any', 'mcastNotJoined'],
];

const ASTERISK_WRITES: ReadonlyArray<readonly [string, string]> = [
  ['sent', 'writesSent'],
  ['failed', 'writesFailed'],
  ['dropped', 'writesDropped'],
];

/** The HTTP paths counted by name; anything else is "other" (bounded label values). */
export const MetricsHttpPaths = ['/healthz', '/readyz', '/metrics'] as const;

interface Snapshot {
  readonly status: DaemonStatus;
  readonly quorum: ReturnType<MetricsSources['quorum']>;
  readonly cpg: CpgMetricsInput;
  readonly ipc: ReturnType<MetricsSources['ipc']>;
  readonly bridge: BridgeMetricsInput | null;
}

type Labels = Record<string, string>;

/**
 * A prom-client Counter fed with absolute values of a monotonic source: each set() adds
 * the difference since the last one (a decrease counts as a reset: the new value is added).
 */
class SourcedCounter {
  private readonly last = new Map<string, number>();
  private readonly counter: Counter<string>;

  constructor(counter: Counter<string>) {
    this.counter = counter;
  }

  set(labels: Labels, value: number | undefined): void {
    if (value === undefined || !Number.isFinite(value) || value < 0) return;
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const previous = this.last.get(key) ?? 0;
    this.counter.inc(labels, value >= previous ? value - previous : value);
    this.last.set(key, value);
  }
}

function srp(status: DaemonStatus, key: keyof TotemStats): number | undefined {
  return status.stats[`srp.${key}`];
}

/** A u64 decimal string as a number (exact below 2^53, which a ring seq does not reach in practice). */
function u64Number(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

export class DaemonMetrics {
  readonly registry: Registry;
  private readonly sources: MetricsSources;
  private readonly clock: MonotonicClock;
  private snapshot: Snapshot | null = null;
  private lastTokenAtMs: number | null = null;
  private readonly tokenRotation: Histogram<string>;
  private readonly schedMiss: Histogram<string>;
  private readonly httpRequests: Counter<string>;

  constructor(options: DaemonMetricsOptions) {
    this.sources = options.sources;
    this.clock = options.clock ?? systemClock;
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    const snap = (): Snapshot => this.current();

    new Gauge({
      name: 'carillon_info',
      help: 'Always 1; the labels say which carillond this is.',
      labelNames: ['version', 'cluster_name', 'node_id', 'transport'],
      registers,
      collect() {
        const s = snap().status;
        this.reset();
        this.set({ version: s.version, cluster_name: s.clusterName, node_id: String(s.nodeId), transport: s.transport }, 1);
      },
    });

    // ---- Totem
    new Gauge({
      name: 'carillon_totem_ring_seq',
      help: 'Sequence number of the current Totem ring id (corosync ring id rep.seq).',
      registers,
      collect() {
        const seq = u64Number(snap().status.ringId.seq);
        if (Number.isFinite(seq)) this.set(seq);
      },
    });
    new Gauge({
      name: 'carillon_totem_members',
      help: 'Members of the current Totem ring (this node included).',
      registers,
      collect() {
        this.set(snap().status.members.length);
      },
    });
    new Gauge({
      name: 'carillon_totem_state',
      help: 'Totem membership state: 1 for the current state, 0 for the others.',
      labelNames: ['state'],
      registers,
      collect() {
        const state = snap().status.state;
        for (const s of TOTEM_STATES) this.set({ state: s }, s === state ? 1 : 0);
      },
    });
    this.tokenRotation = new Histogram({
      name: 'carillon_totem_token_rotation_seconds',
      help: 'Wall time between two consecutive ORF tokens received by this node (a token loss shows as one long rotation).',
      buckets: TOKEN_ROTATION_BUCKETS_SEC,
      registers,
    });
    this.schedMiss = new Histogram({
      name: 'carillon_schedmiss_seconds',
      help: 'How late the Totem tick loop ran when it missed at least one tick (event loop stalls).',
      buckets: SCHEDMISS_BUCKETS_SEC,
      registers,
    });
    const retransmits = new SourcedCounter(new Counter({
      name: 'carillon_totem_mcast_retransmits_total',
      help: 'Multicast messages retransmitted by this node (stats.srp.mcast_retx).',
      registers,
      collect() {
        retransmits.set({}, srp(snap().status, 'mcastRetx'));
      },
    }));
    const tokenLost = new SourcedCounter(new Counter({
      name: 'carillon_totem_token_lost_total',
      help: 'Token timeouts, by the Totem state they happened in (stats.srp.<state>_token_lost).',
      labelNames: ['state'],
      registers,
      collect() {
        const status = snap().status;
        for (const [state, key] of TOKEN_LOST) tokenLost.set({ state }, srp(status, key));
      },
    }));
    const membershipChanges = new SourcedCounter(new Counter({
      name: 'carillon_membership_changes_total',
      help: 'New Totem memberships installed by this node (stats.srp.operational_entered).',
      registers,
      collect() {
        membershipChanges.set({}, srp(snap().status, 'operationalEntered'));
      },
    }));
    new Gauge({
      name: 'carillon_sync_in_progress',
      help: '1 while the services synchronise after a membership change.',
      registers,
      collect() {
        this.set(snap().status.syncing === true ? 1 : 0);
      },
    });
    for (const [name, key] of SRP_COUNTERS) {
      const counter: SourcedCounter = new SourcedCounter(new Counter({
        name: `carillon_srp_${name}_total`,
        help: `corosync stats.srp.${name}.`,
        registers,
        collect() {
          counter.set({}, srp(snap().status, key));
        },
      }));
    }
    new Gauge({
      name: 'carillon_srp_continuous_gather',
      help: 'Consecutive GATHER entries without a membership forming (stats.srp.continuous_gather).',
      registers,
      collect() {
        const value = srp(snap().status, 'continuousGatherCount');
        if (value !== undefined) this.set(value);
      },
    });

    // ---- Quorum
    new Gauge({
      name: 'carillon_quorum_quorate',
      help: '1 when this partition is quorate (always 1 without a quorum provider).',
      registers,
      collect() {
        this.set(snap().quorum.quorate ? 1 : 0);
      },
    });
    new Gauge({
      name: 'carillon_quorum_votes',
      help: 'Total votes of the current members (votequorum; 0 without a quorum provider).',
      registers,
      collect() {
        this.set(snap().quorum.totalVotes);
      },
    });
    new Gauge({
      name: 'carillon_quorum_expected_votes',
      help: 'Expected votes (votequorum; 0 without a quorum provider).',
      registers,
      collect() {
        this.set(snap().quorum.expectedVotes);
      },
    });
    new Gauge({
      name: 'carillon_quorum_needed_votes',
      help: 'Votes needed for quorum (corosync-quorumtool "Quorum:"; 0 without a quorum provider).',
      registers,
      collect() {
        this.set(snap().quorum.quorum);
      },
    });

    // ---- CPG
    new Gauge({
      name: 'carillon_cpg_groups',
      help: 'CPG groups with at least one member anywhere in the cluster.',
      registers,
      collect() {
        this.set(snap().cpg.groups);
      },
    });
    const cpgDelivered = new SourcedCounter(new Counter({
      name: 'carillon_cpg_delivered_total',
      help: 'CPG messages delivered to at least one local process.',
      registers,
      collect() {
        cpgDelivered.set({}, snap().cpg.delivered);
      },
    }));
    const cpgDeliveries = new SourcedCounter(new Counter({
      name: 'carillon_cpg_deliveries_total',
      help: 'CPG deliver callbacks to local processes (one per receiving process).',
      registers,
      collect() {
        cpgDeliveries.set({}, snap().cpg.deliveries);
      },
    }));

    // ---- IPC
    new Gauge({
      name: 'carillon_ipc_clients',
      help: 'Clients connected to the IPC socket.',
      registers,
      collect() {
        this.set(snap().ipc.clients);
      },
    });
    const ipcRequests = new SourcedCounter(new Counter({
      name: 'carillon_ipc_requests_total',
      help: 'Request lines received on the IPC socket.',
      registers,
      collect() {
        ipcRequests.set({}, snap().ipc.requests);
      },
    }));
    const ipcErrors = new SourcedCounter(new Counter({
      name: 'carillon_ipc_errors_total',
      help: 'Error answers sent on the IPC socket, by error code.',
      labelNames: ['code'],
      registers,
      collect() {
        for (const [code, n] of Object.entries(snap().ipc.errors)) ipcErrors.set({ code }, n);
      },
    }));

    // ---- Asterisk bridge
    new Gauge({
      name: 'carillon_bridge_running',
      help: '1 when the Asterisk bridge is configured (carillon { res_corosync_conf }).',
      registers,
      collect() {
        this.set(snap().bridge === null ? 0 : 1);
      },
    });
    new Gauge({
      name: 'carillon_bridge_joined',
      help: '1 when the bridge is a member of CPG group asterisk (0 without a bridge).',
      registers,
      collect() {
        this.set(snap().bridge?.joined === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'carillon_asterisk_ami_connected',
      help: "1 when the bridge's AMI session to the local Asterisk is up (0 without a bridge or without [ami]).",
      registers,
      collect() {
        this.set(snap().bridge?.ami?.connected === true ? 1 : 0);
      },
    });
    const bridgeEvents = new SourcedCounter(new Counter({
      name: 'carillon_bridge_events_total',
      help: 'ast_events of the Asterisk bridge: received from the cluster (in), published to it (out; type control = ping and cluster discovery), dropped (with a reason; own_eid, aggregate and unsubscribed are normal filtering).',
      labelNames: ['type', 'direction', 'reason'],
      registers,
      collect() {
        const bridge = snap().bridge;
        if (bridge === null) return;
        const stats = bridge.stats;
        for (const [type, key] of BRIDGE_IN) bridgeEvents.set({ type, direction: 'in' }, stats[key]);
        let typed = 0;
        for (const [type, key] of BRIDGE_OUT) {
          bridgeEvents.set({ type, direction: 'out' }, stats[key]);
          typed += stats[key] ?? 0;
        }
        // `published` counts successful encodings of every type, the typed counters every
        // attempt, droppedLocalInvalid the failed encodings of every type: the difference
        // is the control events (ping, cluster discovery) attempted.
        const published = stats['published'];
        const invalid = stats['droppedLocalInvalid'];
        if (published !== undefined && invalid !== undefined) bridgeEvents.set({ type: 'control', direction: 'out' }, published + invalid - typed);
        for (const [reason, type, key] of BRIDGE_DROPPED) bridgeEvents.set({ type, direction: 'dropped', reason }, stats[key]);
      },
    }));
    const asteriskWrites = new SourcedCounter(new Counter({
      name: 'carillon_asterisk_writes_total',
      help: 'Writes of remote states to the local Asterisk, by result (dropped ones are redone by the resync after an AMI reconnect).',
      labelNames: ['result'],
      registers,
      collect() {
        const bridge = snap().bridge;
        if (bridge === null) return;
        for (const [result, key] of ASTERISK_WRITES) asteriskWrites.set({ result }, bridge.stats[key]);
      },
    }));

    this.httpRequests = new Counter({
      name: 'carillon_http_requests_total',
      help: 'Requests to the health and metrics HTTP server, by path (other: unknown paths) and status code.',
      labelNames: ['path', 'code'],
      registers,
    });

    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** Called on every ORF token this node receives (TotemNode.onTokenReceived). */
  observeTokenReceived(): void {
    const now = this.clock.nowMs();
    if (this.lastTokenAtMs !== null) this.tokenRotation.observe(Math.max(0, now - this.lastTokenAtMs) / 1000);
    this.lastTokenAtMs = now;
  }

  /** Called when the tick loop ran `lagMs` late (Driver.onSchedMiss). */
  observeSchedMiss(lagMs: number): void {
    if (Number.isFinite(lagMs) && lagMs >= 0) this.schedMiss.observe(lagMs / 1000);
  }

  /** Counts one request of the HTTP server (unknown paths as "other"). */
  countHttpRequest(path: string, statusCode: number): void {
    const label = (MetricsHttpPaths as readonly string[]).includes(path) ? path : 'other';
    this.httpRequests.inc({ path: label, code: String(statusCode) });
  }

  /** The exposition text of one scrape (every source read once). */
  async render(): Promise<{ contentType: string; body: string }> {
    const body = await this.registry.metrics();
    return { contentType: this.registry.contentType, body };
  }

  /**
   * The sources, read once per scrape: prom-client runs every collect() synchronously
   * at the start of Registry.metrics(), so the snapshot is dropped in a microtask.
   */
  private current(): Snapshot {
    if (this.snapshot === null) {
      const s = this.sources;
      this.snapshot = { status: s.status(), quorum: s.quorum(), cpg: s.cpg(), ipc: s.ipc(), bridge: s.bridge() };
      queueMicrotask(() => {
        this.snapshot = null;
      });
    }
    return this.snapshot;
  }
}
