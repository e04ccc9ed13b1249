// One VOPR run (testing.md §4.2 "Runs, as in VOPR"): draw swarm options from the seed,
// run the safety phase with faults and workload, then the liveness phase: pick a core,
// heal its links, restart and unpause its members, zero every fault probability, and
// require convergence within `convergenceTicksMax`. Safety checkers run online (wire,
// status, harness) and over the complete logs at the end.

import { Prng } from '../../src/base/prng';
import { type RingId, ringIdKey } from '../../src/totem/wire/messages';
import { checkEvs } from './checkers/evs';
import { type CoreNodeView, checkCoreDelivery, checkTokenRotation, notConvergedReason } from './checkers/liveness';
import { type Violation, violation } from './checkers/violation';
import { type AttachFactory, type NodeFactory, SimCluster } from './cluster';
import type { IncarnationLog } from './history';
import { runServicesSeed } from './run-services';
import type { ServicesStats, ServicesWorld } from './services';
import { totemNodeFactory } from './real-node';
import { shuffle } from './network';
import { type SwarmOptions, type SwarmOverrides, swarmOptions } from './swarm';

export interface RunOptions extends SwarmOverrides {
  /** NDJSON-ready trace records. */
  readonly trace?: (record: Record<string, unknown>) => void;
  readonly digest?: boolean;
  readonly nodeFactory?: NodeFactory;
  /** Stop the safety phase at the first online violation (default true). */
  readonly stopEarly?: boolean;
  /** Compare encode(decode(bytes)) with bytes for every packet (default: one seed in eight). */
  readonly verifyReencode?: boolean;
  /** Services mode: called once with the cluster and the services before the run (debugging, scenarios). */
  readonly observe?: (cluster: SimCluster, world: ServicesWorld) => void;
}

export interface SeedStats {
  ticks: number;
  submitted: number;
  full: number;
  deliveries: number;
  regularConfigurations: number;
  crashes: number;
  restarts: number;
  pauses: number;
  leaves: number;
  packetsSent: number;
  convergenceTicks: number | null;
  core: readonly number[];
  /** The safety phase was cut short by a sustained join storm. */
  stormEnded: boolean;
  /** Services mode only. */
  services?: ServicesStats;
}

export interface SeedResult {
  readonly seed: number;
  readonly swarm: SwarmOptions;
  readonly violations: readonly Violation[];
  readonly livenessFailures: readonly Violation[];
  readonly stats: SeedStats;
  readonly digest: string | null;
}

export function runSeed(seed: number, options: RunOptions = {}): SeedResult {
  const swarm = swarmOptions(seed, options);
  if (swarm.services !== null) return runServicesSeed(seed, swarm, options);
  const prng = new Prng(seed ^ 0x5eed5eed);
  const cluster = seedCluster(seed, swarm, options, prng);
  const faults = prng.fork();
  const workload = prng.fork();
  const stats = initialStats();
  options.trace?.({ t: 0, ev: 'swarm', seed, nodes: swarm.nodeIds, profile: swarm.profile, token: swarm.config.ms.token });
  cluster.startAll();

  // Safety phase. A join storm past its budget (FINDINGS.md F3) ends it early: the
  // storm is bounded by the path capacity, but it would dominate the run time.
  const storm = new JoinStormMeter(cluster, swarm, SAFETY_JOIN_BUDGET);
  for (let i = 0; i < swarm.safetyTicks; i++) {
    injectNodeFaults(cluster, swarm, faults, stats);
    submitWorkload(cluster, swarm, workload, stats, swarm.nodeIds);
    cluster.step();
    if (options.stopEarly !== false && cluster.allOnlineViolations().length > 0) break;
    if (storm.tripped()) {
      stats.stormEnded = true;
      break;
    }
  }

  const livenessFailures: Violation[] = [];
  let selfDelivery: (log: IncarnationLog) => boolean = () => false;
  if (cluster.allOnlineViolations().length === 0) {
    const result = livenessPhase(cluster, swarm, prng.fork(), workload, stats);
    livenessFailures.push(...result.failures);
    const finalLogs = new Set(result.core.map((id) => cluster.currentLog(id)));
    if (result.failures.length === 0) selfDelivery = (log) => finalLogs.has(log);
  }

  stats.ticks = cluster.now;
  stats.packetsSent = cluster.network.stats.sent;
  for (const log of cluster.history.incarnations) {
    for (const e of log.entries) {
      if (e.k === 'deliver') stats.deliveries++;
      else if (e.k === 'conf' && e.type === 'regular') stats.regularConfigurations++;
    }
  }
  const violations = [
    ...cluster.allOnlineViolations(),
    // With --lost-writes every checker stays on: the point of that mode is to see T5
    // (and T14, a reused ring id) catch the storage fault.
    ...checkEvs(cluster.history, { requireSelfDelivery: selfDelivery }),
  ];
  return { seed, swarm, violations, livenessFailures, stats, digest: options.digest === true ? cluster.digest() : null };
}

/** The cluster of a seed's run; draws its network seed from `prng`. `attach`: services mode. */
export function seedCluster(seed: number, swarm: SwarmOptions, options: RunOptions, prng: Prng, attach?: AttachFactory): SimCluster {
  return new SimCluster({
    nodeIds: swarm.nodeIds,
    config: swarm.config,
    network: swarm.network,
    seed: prng.nextU32(),
    nodeFactory: options.nodeFactory ?? totemNodeFactory,
    clockRates: swarm.clockRates,
    statusEvery: 2,
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    digest: options.digest === true,
    // Re-encoding every decoded packet doubles the codec cost; one seed in eight does it.
    verifyReencode: options.verifyReencode ?? seed % 8 === 0,
    ...(attach === undefined ? {} : { attach }),
  });
}

/** All counters at zero. */
export function initialStats(): SeedStats {
  return {
    ticks: 0, submitted: 0, full: 0, deliveries: 0, regularConfigurations: 0, crashes: 0, restarts: 0,
    pauses: 0, leaves: 0, packetsSent: 0, convergenceTicks: null, core: [], stormEnded: false,
  };
}

export function injectNodeFaults(cluster: SimCluster, swarm: SwarmOptions, prng: Prng, stats: SeedStats): void {
  const f = swarm.nodeFaults;
  for (const id of swarm.nodeIds) {
    if (!cluster.isRunning(id)) {
      if (prng.chance(f.restartRatio)) {
        cluster.start(id);
        stats.restarts++;
      }
      continue;
    }
    if (prng.chance(f.crashRatio)) {
      cluster.crash(id, prng.chance(f.lostWriteRatio));
      stats.crashes++;
    } else if (prng.chance(f.leaveRatio)) {
      cluster.leave(id);
      stats.leaves++;
    } else if (!cluster.isPaused(id) && prng.chance(f.pauseRatio)) {
      cluster.pause(id, prng.range(1, f.pauseTicksMax));
      stats.pauses++;
    }
  }
}

function submitWorkload(cluster: SimCluster, swarm: SwarmOptions, prng: Prng, stats: SeedStats,
  nodes: readonly number[]): void {
  const w = swarm.workload;
  for (const id of nodes) {
    // Submits may come at any time, also before an incarnation's first configuration
    // (FINDINGS.md F1, fixed in 783b6e2: the trans queue is drained at transAck()).
    if (!cluster.isActive(id) || !prng.chance(w.submitRatio)) continue;
    const burst = prng.range(1, w.burstMax);
    for (let i = 0; i < burst; i++) {
      const body = prng.chance(w.largeRatio) ? prng.range(0, w.bodyBytesMax) : prng.range(0, 64);
      const r = cluster.submit(id, body);
      if (r === 'queued') stats.submitted++;
      else if (r === 'full') {
        stats.full++;
        break;
      }
    }
  }
}

interface LivenessResult {
  readonly core: readonly number[];
  readonly failures: Violation[];
}

function livenessPhase(cluster: SimCluster, swarm: SwarmOptions, prng: Prng, workload: Prng,
  stats: SeedStats): LivenessResult {
  const coreIds = healCore(cluster, swarm, prng, stats);
  const liveWorkload = { ...swarm, workload: { ...swarm.workload, submitRatio: Math.min(swarm.workload.submitRatio, 0.02), burstMax: 1 } };
  const check = driveLiveness(cluster, swarm, coreIds,
    () => submitWorkload(cluster, liveWorkload, workload, stats, coreIds));
  stats.convergenceTicks = check.convergedAfter;
  if (check.failures.length > 0) {
    cluster.options.trace?.({ t: cluster.now, ev: 'liveness-failure', core: coreIds,
      status: coreIds.map((id) => { const s = cluster.status(id); return s === null ? null : `${id}:${s.state}:${ringIdKey(s.ringId)}`; }) });
  }
  return { core: coreIds, failures: check.failures };
}

/**
 * The liveness phase's set-up: pick a core, heal its links (the rest stays cut off), make
 * the network sane, restart and unpause the core's nodes. Returns the core, ascending.
 */
export function healCore(cluster: SimCluster, swarm: SwarmOptions, prng: Prng, stats: SeedStats): number[] {
  const ids = swarm.nodeIds;
  const size = prng.chance(0.4) ? ids.length : prng.range(1, ids.length);
  const coreIds = shuffle([...ids], prng).slice(0, size).sort((a, b) => a - b);
  const chosen = new Set(coreIds);
  const rest = ids.filter((id) => !chosen.has(id));
  stats.core = coreIds;
  const healTick = cluster.now;
  cluster.network.healAll(healTick);
  cluster.network.splitManual(coreIds, rest);
  // Liveness is required of a sane network only: besides zeroing the fault ratios, the
  // one-way delay is brought well below the join timer (real LANs: sub-millisecond
  // against join = 50 ms). With delays longer than `join`, corosync's own membership
  // algorithm can livelock (FINDINGS.md F3), so that regime is left to the safety phase.
  const net = cluster.network.currentOptions;
  const saneMean = Math.max(0.25, swarm.config.joinTicks / 8);
  cluster.network.setOptions({
    lossRatio: 0, replayRatio: 0, partitionMode: 'none', partitionRatio: 0, unpartitionRatio: 0, clogRatio: 0,
    delayTicksMean: Math.min(net.delayTicksMean, saneMean), delayTicksMin: Math.min(net.delayTicksMin, 1),
  });
  for (const id of coreIds) {
    if (!cluster.isRunning(id)) {
      cluster.start(id);
      stats.restarts++;
    } else {
      cluster.unpause(id);
    }
  }
  return coreIds;
}

/**
 * Join-storm guard (FINDINGS.md F3). A node in GATHER sends about one join per join
 * period, plus one per join that changed its view; corosync's MERGE_DURING_JOIN rule
 * can make every received join trigger another, which the path capacity bounds but
 * which would dominate the run time. The guard trips when the joins sent since it was
 * created exceed a budget, or when the rate stayed above ten per node per join period
 * for longer than two consensus timeouts (a storm that long no longer resolves by
 * itself: every GATHER re-entry restarts the consensus timer).
 */
export class JoinStormMeter {
  private readonly cluster: SimCluster;
  private readonly nodes: readonly number[];
  private readonly window: number;
  private readonly limit: number;
  private readonly stormyWindowsMax: number;
  private readonly budget: number;
  private readonly joinsAtCreation: number;
  private windowStart: number;
  private joinsAtWindowStart: number;
  private stormyWindows = 0;
  private lastWindowJoins = 0;

  constructor(cluster: SimCluster, swarm: SwarmOptions, budget: number, nodes: readonly number[] = swarm.nodeIds) {
    this.cluster = cluster;
    this.nodes = nodes;
    this.window = 20 * swarm.config.joinTicks;
    this.limit = 10 * nodes.length * 20;
    this.stormyWindowsMax = Math.ceil((2 * swarm.config.consensusTicks) / this.window) + 1;
    this.budget = budget;
    this.joinsAtCreation = this.joins();
    this.windowStart = cluster.now;
    this.joinsAtWindowStart = this.joinsAtCreation;
  }

  private joins(): number {
    let n = 0;
    for (const id of this.nodes) n += this.cluster.joinSendsOf(id);
    return n;
  }

  /** Call once per tick; true once the guard has tripped. */
  tripped(): boolean {
    const joins = this.joins();
    if (joins - this.joinsAtCreation > this.budget) return true;
    if (this.cluster.now - this.windowStart >= this.window) {
      this.lastWindowJoins = joins - this.joinsAtWindowStart;
      this.stormyWindows = this.lastWindowJoins > this.limit ? this.stormyWindows + 1 : 0;
      this.windowStart = this.cluster.now;
      this.joinsAtWindowStart = joins;
    }
    return this.stormyWindows >= this.stormyWindowsMax;
  }

  describe(): string {
    return `${this.joins() - this.joinsAtCreation} joins sent by [${this.nodes.join(',')}] since healing, ${this.lastWindowJoins} in the `
      + `last ${this.window} ticks (storm above ${this.limit}), stormy for ${this.stormyWindows} windows`;
  }
}

/** Joins the safety phase may send before it is cut short, and the liveness phase before it fails. */
export const SAFETY_JOIN_BUDGET = 100_000;
const LIVENESS_JOIN_BUDGET = 60_000;

function deliveredCount(cluster: SimCluster, core: readonly number[]): number {
  let n = 0;
  for (const id of core) n += cluster.currentLog(id)?.entries.length ?? 0;
  return n;
}

/** Heal → converge → probe → watch the token (T13). */
function driveLiveness(cluster: SimCluster, swarm: SwarmOptions, core: readonly number[],
  beforeConvergence: () => void): { convergedAfter: number | null; failures: Violation[] } {
  const converged = awaitConvergence(cluster, swarm, core, beforeConvergence);
  if (converged.convergedAfter === null) return { convergedAfter: null, failures: converged.failures };
  const ring = (cluster.status(core[0] as number) as NonNullable<ReturnType<SimCluster['status']>>).ringId;
  const probed = probeCore(cluster, swarm, core, ring);
  if (probed.aborted) return { convergedAfter: converged.convergedAfter, failures: probed.failures };
  const failures = [...probed.failures, ...watchIdleRing(cluster, swarm, core, ring)];
  const logs = core.map((id) => cluster.currentLog(id)).filter((l): l is IncarnationLog => l !== null);
  failures.push(...checkCoreDelivery(logs, ring, probed.probes));
  return { convergedAfter: converged.convergedAfter, failures };
}

export function coreView(cluster: SimCluster): (id: number) => CoreNodeView | null {
  return (id) => {
    const status = cluster.status(id);
    return status === null ? null : { status, lastRegular: cluster.lastRegular(id) };
  };
}

/**
 * Converged = the condition held for a whole token timeout plus a margin in a row, so a
 * ring that was about to break at heal time (a token stuck at a node whose pause just
 * ended) does not count. A safety violation ends the phase without a liveness verdict.
 */
export function awaitConvergence(cluster: SimCluster, swarm: SwarmOptions, core: readonly number[],
  beforeConvergence: () => void): { convergedAfter: number | null; failures: Violation[] } {
  const start = cluster.now;
  const view = coreView(cluster);
  const storm = new JoinStormMeter(cluster, swarm, LIVENESS_JOIN_BUDGET, core);
  const stableTicks = swarm.config.tokenTicks + 2 * swarm.config.tokenRetransmitTicks;
  let reason: string | null = 'not yet checked';
  let convergedSince: number | null = null;
  while (cluster.now - start < swarm.convergenceTicksMax) {
    beforeConvergence();
    cluster.step();
    if (cluster.allOnlineViolations().length > 0) return { convergedAfter: null, failures: [] };
    reason = notConvergedReason(core, view);
    if (reason !== null) convergedSince = null;
    else if (convergedSince === null) convergedSince = cluster.now;
    if (convergedSince !== null && cluster.now - convergedSince >= stableTicks) {
      return { convergedAfter: convergedSince - start, failures: [] };
    }
    if (storm.tripped()) {
      return { convergedAfter: null, failures: [violation('T13', `core [${core.join(',')}] is in a join storm after `
        + `healing (tick ${start}): ${storm.describe()}; not converged: ${reason}`, undefined, cluster.now)] };
    }
  }
  return { convergedAfter: null, failures: [violation('T13', `core [${core.join(',')}] did not converge within `
    + `${swarm.convergenceTicksMax} ticks after healing (tick ${start}): ${reason ?? 'not stable long enough'}`,
  undefined, cluster.now)] };
}

/**
 * One probe per core node, submitted after convergence, must reach every core node. The
 * probes queue behind whatever backlog the safety phase left (up to sendQueueMax per
 * node), so the deadline is progress-based: fail only if no core node delivers anything
 * for `probeTicksMax` ticks in a row, or after a generous hard cap.
 */
function probeCore(cluster: SimCluster, swarm: SwarmOptions, core: readonly number[], ring: RingId):
  { probes: string[]; failures: Violation[]; aborted: boolean } {
  const view = coreView(cluster);
  const probes: string[] = [];
  const pending = new Set(core);
  const seen = new Map(core.map((id) => [id, { scanned: 0, probes: new Set<string>() }]));
  const hardCap = cluster.now + 100 * swarm.probeTicksMax;
  let lastProgress = cluster.now;
  let lastDelivered = deliveredCount(cluster, core);
  const allProbesDelivered = (): boolean => probes.length === core.length && core.every((id) => {
    const log = cluster.currentLog(id);
    const mine = seen.get(id);
    if (log === null || mine === undefined) return false;
    for (; mine.scanned < log.entries.length; mine.scanned++) {
      const e = log.entries[mine.scanned];
      if (e?.k === 'deliver' && e.msg !== null && probes.includes(e.msg)) mine.probes.add(e.msg);
    }
    return mine.probes.size === probes.length;
  });
  while (cluster.now - lastProgress < swarm.probeTicksMax && cluster.now < hardCap && !allProbesDelivered()) {
    for (const id of [...pending]) {
      if (cluster.submit(id, 8) !== 'queued') continue;
      pending.delete(id);
      const last = cluster.currentLog(id)?.entries.at(-1);
      if (last?.k === 'submit') probes.push(last.msg);
    }
    cluster.step();
    if (cluster.allOnlineViolations().length > 0) return { probes, failures: [], aborted: true };
    const delivered = deliveredCount(cluster, core);
    if (delivered !== lastDelivered) {
      lastDelivered = delivered;
      lastProgress = cluster.now;
    }
    const r = notConvergedReason(core, view);
    if (r !== null) {
      return { probes, aborted: true, failures: [violation('T13', `configuration changed after convergence on `
        + `${ringIdKey(ring)}: ${r}`, undefined, cluster.now)] };
    }
  }
  const failures: Violation[] = [];
  if (pending.size > 0) {
    failures.push(violation('T13', `core nodes [${[...pending].join(',')}] could not queue a probe within `
      + `${swarm.probeTicksMax} ticks (send queue full)`, undefined, cluster.now));
  }
  return { probes, failures, aborted: false };
}

/** Idle for two token timeouts: the ring must stay and the token keep rotating. */
export function watchIdleRing(cluster: SimCluster, swarm: SwarmOptions, core: readonly number[], ring: RingId): Violation[] {
  const tokenRx = () => new Map(core.map((id) => [id, cluster.status(id)?.stats.orfTokenRx ?? -1] as const));
  const window = 2 * swarm.config.tokenTicks + 2;
  const before = tokenRx();
  for (let i = 0; i < window; i++) cluster.step();
  const failures: Violation[] = [];
  const reason = notConvergedReason(core, coreView(cluster));
  if (reason !== null) {
    failures.push(violation('T13', `configuration changed while idle after convergence on ${ringIdKey(ring)}: ${reason}`,
      undefined, cluster.now));
  }
  failures.push(...checkTokenRotation(before, tokenRx(), window));
  return failures;
}
