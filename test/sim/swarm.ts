// Swarm options (TigerBeetle's VOPR idea, testing.md §4.2): every seed draws its own
// environment — node count and ids, timer profile, network faults, node faults and
// workload — so that many seeds together cover many regimes, some of them harsher than
// production. Each fault family is switched off entirely for a fraction of seeds, so
// that bugs needing "no X but lots of Y" are reachable too.

import { Prng } from '../../src/base/prng';
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
}

export interface SwarmOverrides {
  readonly nodes?: number;
  readonly ticks?: number;
  readonly lostWrites?: boolean;
}

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
  return {
    seed, nodeIds, profile, config, network, nodeFaults, workload, clockRates, safetyTicks,
    convergenceTicksMax: 1000 + 12 * config.consensusTicks,
    probeTicksMax: 500 + 20 * config.tokenTicks,
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
    `workload: submit=${w.submitRatio} burst=${w.burstMax} large=${w.largeRatio}; ticks=${o.safetyTicks} `
    + `convergenceMax=${o.convergenceTicksMax}`,
  ].join('\n');
}
