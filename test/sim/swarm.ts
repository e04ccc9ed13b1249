// Swarm options (TigerBeetle's VOPR idea, testing.md §4.2): every seed draws its own
// environment — node count and ids, timer profile, network faults, node faults and
// workload — so that many seeds together cover many regimes, some of them harsher than
// production. Each fault family is switched off entirely for a fraction of seeds, so
// that bugs needing "no X but lots of Y" are reachable too.

import { Prng } from '../../src/base/prng';
import { resolveVotequorumConfig, type VotequorumSettings } from '../../src/services/votequorum/votequorum-service';
import { type TotemConfig, deriveTotemConfigMs, toTotemConfig } from '../../src/totem/config';
import { type SimNetworkOptions, partitionModes, shuffle } from './network';

export interface NodeFaultOptions {
  /** Per tick, per running node. */
  crashRatio: number;
  /** Per tick, per stopped node. */
  restartRatio: number;
  /** Chance that a crash also loses the node's last ring-id write (breaks T5: opt-in only). */
  lostWriteRatio: number;
  pauseRatio: number;
  pauseTicksMax: number;
  leaveRatio: number;
}

export interface WorkloadOptions {
  /** Per tick, per active node: chance to submit a burst. */
  submitRatio: number;
  burstMax: number;
  /** Most bodies are small; this fraction are up to `bodyBytesMax`. */
  largeRatio: number;
  bodyBytesMax: number;
}

export interface SwarmOptions {
  readonly seed: number;
  readonly nodeIds: readonly number[];
  readonly profile: 'fast' | 'corosync';
  readonly config: TotemConfig;
  readonly network: SimNetworkOptions;
  readonly nodeFaults: NodeFaultOptions;
  readonly workload: WorkloadOptions;
  /** Tick rate per node; absent = 1. */
  readonly clockRates: ReadonlyMap<number, number>;
  readonly safetyTicks: number;
  readonly convergenceTicksMax: number;
  /** After convergence: ticks allowed for the probe messages to reach the whole core. */
  readonly probeTicksMax: number;
  /** Services mode (ServiceHost + cmap, cfg, cpg, quorum, votequorum per node); null = Totem only. */
  readonly services: ServicesOptions | null;
}

/** Which votequorum features a seed runs (the settings are the same on every node). */
export type VotequorumMode = 'plain' | 'two_node' | 'wait_for_all' | 'last_man_standing' | 'auto_tie_breaker' | 'atb+wfa';

export interface CpgWorkloadOptions {
  /** Per tick, per active node: chance of one client action. */
  actionRatio: number;
  /** Connected handles per node (at least one stays connected). */
  handlesMax: number;
  /** Group names in use: g0..g{groups-1}. */
  groups: number;
  /** Share of mcasts with a large body (up to `largeBytesMax`, cut into many totempg packets). */
  largeRatio: number;
  largeBytesMax: number;
  /** Per tick, per active node: chance of a local cmap write. */
  cmapWriteRatio: number;
}

export interface ServicesOptions {
  readonly mode: VotequorumMode;
  readonly votequorum: VotequorumSettings;
  readonly cpg: CpgWorkloadOptions;
  /** Effective settings (after votequorum's startup checks), for the checkers. */
  readonly twoNode: boolean;
  readonly waitForAll: boolean;
  readonly lastManStanding: boolean;
  readonly autoTieBreaker: boolean;
}

export interface SwarmOverrides {
  readonly nodes?: number;
  readonly ticks?: number;
  readonly lostWrites?: boolean;
  /** Force services mode on or off (default: drawn per seed, on for most seeds). */
  readonly services?: boolean;
}

/** Share of seeds that run the services when `services` is not forced. */
export const SERVICES_RATIO = 0.8;

/** Payload bytes the workload adds around a body (payload.ts header and digest). */
const PAYLOAD_OVERHEAD = 24;

export function swarmOptions(seed: number, overrides: SwarmOverrides = {}): SwarmOptions {
  const prng = new Prng(seed);
  // Always draw, so that `--nodes K` with K equal to the drawn count reproduces a seed
  // exactly (the reproduce line always names the count).
  const drawnNodes = prng.range(2, 7);
  const n = overrides.nodes ?? drawnNodes;
  const nodeIds = chooseNodeIds(prng, n);
  const profile = prng.chance(0.85) ? 'fast' : 'corosync';
  const msInput = profile === 'fast'
    ? {
      token: prng.range(20, 100) * 10,
      tokenCoefficient: prng.chance(0.7) ? 0 : prng.range(0, 20) * 10,
      ...(prng.chance(0.2) ? { join: prng.range(3, 10) * 10 } : {}),
      ...(prng.chance(0.2) ? { merge: prng.range(5, 30) * 10 } : {}),
      ...(prng.chance(0.15) ? { windowSize: prng.range(17, 60), maxMessages: prng.range(1, 17) } : {}),
    }
    : {};
  const config = toTotemConfig(deriveTotemConfigMs(msInput, n));
  const network = networkOptions(prng, n, config);
  const nodeFaults: NodeFaultOptions = {
    crashRatio: prng.chance(0.6) ? prng.range(1, 40) / 100_000 : 0,
    restartRatio: prng.range(1, 50) / 10_000,
    lostWriteRatio: overrides.lostWrites === true ? 0.5 : 0,
    pauseRatio: prng.chance(0.5) ? prng.range(1, 40) / 100_000 : 0,
    pauseTicksMax: Math.max(2, Math.round(config.tokenTicks * (0.5 + prng.nextFloat() * 3))),
    leaveRatio: prng.chance(0.3) ? prng.range(1, 10) / 100_000 : 0,
  };
  const workload: WorkloadOptions = {
    // Mostly well below the ring's capacity; one seed in ten saturates the send queues.
    submitRatio: prng.chance(0.1) ? 0.3 : prng.pick([0.002, 0.01, 0.03, 0.1]),
    burstMax: prng.pick([1, 1, 2, 5]),
    largeRatio: prng.chance(0.3) ? 0.05 : 0,
    bodyBytesMax: config.netMtu - PAYLOAD_OVERHEAD,
  };
  const clockRates = new Map<number, number>();
  if (prng.chance(0.3)) {
    for (const id of nodeIds) if (prng.chance(0.5)) clockRates.set(id, 1 + (prng.nextFloat() - 0.5) * 0.2);
  }
  const safetyTicks = overrides.ticks ?? Math.min(8000, Math.max(3000, 40 * config.tokenTicks));
  // Drawn last and always, so that the draws above do not depend on services mode and
  // `--services` / `--no-services` naming the drawn mode reproduces a seed exactly.
  const servicesDrawn = prng.chance(SERVICES_RATIO);
  const services = servicesOptions(prng, nodeIds, config);
  return {
    seed, nodeIds, profile, config, network, nodeFaults, workload, clockRates, safetyTicks,
    convergenceTicksMax: 1000 + 12 * config.consensusTicks,
    probeTicksMax: 500 + 20 * config.tokenTicks,
    services: (overrides.services ?? servicesDrawn) ? services : null,
  };
}

function servicesOptions(prng: Prng, nodeIds: readonly number[], config: TotemConfig): ServicesOptions {
  const n = nodeIds.length;
  const nodelist = nodeIds.map((nodeId) => ({ nodeId }));
  const windowMs = config.ms.token * prng.range(2, 12);
  const r = prng.nextFloat();
  let mode: VotequorumMode = 'plain';
  if (n === 2 && r < 0.5) mode = 'two_node';
  else if (r < 0.6) mode = 'plain';
  else if (r < 0.7) mode = 'wait_for_all';
  else if (r < 0.8) mode = 'last_man_standing';
  else if (r < 0.92) mode = 'auto_tie_breaker';
  else mode = 'atb+wfa';
  const settingsOf = (m: VotequorumMode): VotequorumSettings => {
    switch (m) {
      case 'plain': return { nodelist };
      case 'two_node': return { nodelist, twoNode: true };
      case 'wait_for_all': return { nodelist, waitForAll: true };
      case 'last_man_standing': return { nodelist, lastManStanding: true, lastManStandingWindowMs: windowMs };
      case 'auto_tie_breaker': return { nodelist, autoTieBreaker: true };
      case 'atb+wfa': return { nodelist, autoTieBreaker: true, waitForAll: true };
    }
  };
  let votequorum = settingsOf(mode);
  let resolved = resolveVotequorumConfig(votequorum, nodeIds[0] as number);
  if (!resolved.ok) {
    mode = 'plain';
    votequorum = settingsOf(mode);
    resolved = resolveVotequorumConfig(votequorum, nodeIds[0] as number);
  }
  if (!resolved.ok) throw new Error(`votequorum settings refused: ${resolved.error}`);
  const large = prng.chance(0.3);
  const cpg: CpgWorkloadOptions = {
    actionRatio: prng.pick([0.005, 0.01, 0.03, 0.08]),
    handlesMax: prng.range(1, 3),
    groups: prng.range(1, 3),
    largeRatio: large ? prng.pick([0.02, 0.1]) : 0,
    largeBytesMax: prng.pick([4000, 20000, 60000]),
    cmapWriteRatio: prng.chance(0.5) ? 0.001 : 0,
  };
  const c = resolved.value;
  return {
    mode, votequorum, cpg,
    twoNode: c.twoNode, waitForAll: c.waitForAll, lastManStanding: c.lastManStanding, autoTieBreaker: c.autoTieBreaker !== 'none',
  };
}

function chooseNodeIds(prng: Prng, n: number): number[] {
  if (prng.chance(0.7)) return Array.from({ length: n }, (_, i) => i + 1);
  // Sparse, unordered ids: ring order is by nodeid, not by position in the nodelist.
  const pool = shuffle(Array.from({ length: 40 }, (_, i) => i + 1), prng);
  return pool.slice(0, n);
}

function networkOptions(prng: Prng, n: number, config: TotemConfig): SimNetworkOptions {
  // Keep one token rotation (n hops) well inside the token timeout on average, so the
  // liveness phase can converge; the exponential tail still loses tokens now and then.
  const delayMeanMax = Math.max(0.5, config.tokenTicks / (4 * n));
  const partitionMode = prng.chance(0.3) ? 'none' : prng.pick(partitionModes.filter((m) => m !== 'none'));
  return {
    delayTicksMean: 0.3 + prng.nextFloat() * (delayMeanMax - 0.3),
    delayTicksMin: prng.range(0, 1),
    lossRatio: prng.chance(0.7) ? prng.pick([0.001, 0.01, 0.02, 0.05, 0.1]) : 0,
    replayRatio: prng.chance(0.5) ? prng.pick([0.001, 0.01, 0.05]) : 0,
    partitionMode,
    partitionSymmetry: prng.chance(0.7) ? 'symmetric' : 'asymmetric',
    partitionRatio: prng.range(1, 20) / 10_000,
    unpartitionRatio: prng.range(1, 50) / 1_000,
    partitionStabilityTicks: prng.range(1, 10) * config.tokenTicks,
    unpartitionStabilityTicks: prng.range(1, 10) * config.tokenTicks,
    pathCapacityMax: prng.pick([32, 64, 128, 256]),
    clogRatio: prng.chance(0.3) ? prng.range(1, 20) / 100_000 : 0,
    clogTicksMean: prng.range(1, 3) * config.tokenTicks,
    loopbackFaults: false,
  };
}

export function describeSwarm(o: SwarmOptions): string {
  const net = o.network;
  const f = o.nodeFaults;
  const w = o.workload;
  return [
    `nodes=[${o.nodeIds.join(',')}] profile=${o.profile} token=${o.config.ms.token}ms(${o.config.tokenTicks}t) `
    + `consensus=${o.config.consensusTicks}t join=${o.config.joinTicks}t window=${o.config.windowSize}/${o.config.maxMessages}`,
    `net: delay=${net.delayTicksMin}+exp(${net.delayTicksMean.toFixed(2)})t loss=${net.lossRatio} replay=${net.replayRatio} `
    + `partition=${net.partitionMode}/${net.partitionSymmetry} p=${net.partitionRatio} up=${net.unpartitionRatio} `
    + `cap=${net.pathCapacityMax} clog=${net.clogRatio}/${net.clogTicksMean}t`,
    `faults: crash=${f.crashRatio} restart=${f.restartRatio} lostWrite=${f.lostWriteRatio} pause=${f.pauseRatio}`
    + `/${f.pauseTicksMax}t leave=${f.leaveRatio} skew=${o.clockRates.size}`,
    o.services === null
      ? `workload: submit=${w.submitRatio} burst=${w.burstMax} large=${w.largeRatio}; ticks=${o.safetyTicks} `
        + `convergenceMax=${o.convergenceTicksMax}`
      : `services: votequorum=${o.services.mode} (2node=${o.services.twoNode} wfa=${o.services.waitForAll} `
        + `lms=${o.services.lastManStanding} atb=${o.services.autoTieBreaker}) cpg: action=${o.services.cpg.actionRatio} `
        + `handles=${o.services.cpg.handlesMax} groups=${o.services.cpg.groups} large=${o.services.cpg.largeRatio}/`
        + `${o.services.cpg.largeBytesMax}B cmap=${o.services.cpg.cmapWriteRatio}; ticks=${o.safetyTicks} `
        + `convergenceMax=${o.convergenceTicksMax}`,
  ].join('\n');
}
