// One VOPR run in services mode (testing.md §4.2–§4.3): the same swarm, faults, safety
// phase and liveness phase as run-seed.ts, but every node runs a ServiceHost with cmap,
// cfg, cpg, quorum and votequorum (services.ts), and the workload is fake CPG clients plus
// occasional cmap writes instead of raw Totem submits.
//
// Liveness (after healing the core): the Totem ring must converge on the core as in
// Totem-only mode; then every core node's sync must complete in that ring within
// `convergenceTicksMax` (S13); then the client workload stops and one probe client per
// core node joins PROBE_GROUP, waits until it sees exactly the core's probe clients, and
// multicasts one message that every probe client must receive (S13); after two idle token
// timeouts the token must still rotate (T13) and the core's CPG state must have converged
// (C5, C2).
//
// Checkers: Totem T1–T11 over the logs (T2 on totempg packets: every delivered packet was
// queued by its sender with the same bytes), the online CPG/quorum/cmap monitors, and C1,
// CPG-M and Q3 over the services records.

import { Prng } from '../../src/base/prng';
import { ringIdKey } from '../../src/totem/wire/messages';
import { type CoreCpgView, checkCpgConvergence, checkCpgHistory } from './checkers/cpg';
import { checkEvs } from './checkers/evs';
import { notConvergedReason } from './checkers/liveness';
import { checkQuorumAgreement } from './checkers/quorum';
import { type Violation, violation } from './checkers/violation';
import { SimCluster } from './cluster';
import type { History } from './history';
import {
  JoinStormMeter, type RunOptions, SAFETY_JOIN_BUDGET, type SeedResult, type SeedStats, awaitConvergence, coreView, healCore,
  initialStats, injectNodeFaults, seedCluster, watchIdleRing,
} from './run-seed';
import { PROBE_GROUP, type SimCpgClient, ServicesWorld } from './services';
import { procKey } from './services-history';
import type { SwarmOptions } from './swarm';

export function runServicesSeed(seed: number, swarm: SwarmOptions, options: RunOptions = {}): SeedResult {
  const services = swarm.services;
  if (services === null) throw new Error('runServicesSeed needs services options');
  const prng = new Prng(seed ^ 0x5eed5eed);
  const world = new ServicesWorld({
    nodeIds: swarm.nodeIds, config: swarm.config, services, ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  const cluster = seedCluster(seed, swarm, options, prng, world.attach);
  world.bind(cluster);
  options.observe?.(cluster, world);
  const faults = prng.fork();
  const workload = prng.fork();
  const stats: SeedStats = { ...initialStats(), services: world.stats };
  options.trace?.({ t: 0, ev: 'swarm', seed, nodes: swarm.nodeIds, profile: swarm.profile, token: swarm.config.ms.token,
    services: services.mode });
  cluster.startAll();
  const online = (): boolean => cluster.allOnlineViolations().length > 0 || world.violations.length > 0;

  const storm = new JoinStormMeter(cluster, swarm, SAFETY_JOIN_BUDGET);
  for (let i = 0; i < swarm.safetyTicks; i++) {
    injectNodeFaults(cluster, swarm, faults, stats);
    world.workload(cluster, workload, swarm.nodeIds);
    cluster.step();
    if (options.stopEarly !== false && online()) break;
    if (storm.tripped()) {
      stats.stormEnded = true;
      break;
    }
  }

  const livenessFailures: Violation[] = [];
  if (!online()) livenessFailures.push(...servicesLiveness(cluster, world, swarm, prng.fork(), workload, stats));

  stats.ticks = cluster.now;
  stats.packetsSent = cluster.network.stats.sent;
  for (const log of cluster.history.incarnations) {
    for (const e of log.entries) {
      if (e.k === 'deliver') stats.deliveries++;
      else if (e.k === 'conf' && e.type === 'regular') stats.regularConfigurations++;
    }
  }
  world.finishStats();
  const violations = [
    ...cluster.allOnlineViolations(),
    ...world.violations,
    ...checkEvs(cluster.history, { opaquePayloads: true }),
    ...checkPackets(cluster.history, world.history.packets),
    ...checkCpgHistory(world.history),
    ...checkQuorumAgreement(world.history.syncs, world.rules),
  ];
  return { seed, swarm, violations, livenessFailures, stats, digest: options.digest === true ? cluster.digest() : null };
}

/** T2 for totempg packets: every delivered packet was queued by its sender with the same bytes. */
export function checkPackets(history: History, packets: ReadonlySet<string>): Violation[] {
  const out: Violation[] = [];
  for (const log of history.incarnations) {
    for (const e of log.entries) {
      if (e.k !== 'deliver' || e.msg !== null || packets.has(`${e.sender}:${e.digest}`)) continue;
      out.push(violation('T2', `node ${log.node}#${log.inc} delivered a packet (${ringIdKey(e.ring)}/${e.seq} from ${e.sender}, `
        + `digest ${e.digest}) that its sender never queued`, log.node, e.tick));
      if (out.length >= 20) return out;
    }
  }
  return out;
}

function servicesLiveness(cluster: SimCluster, world: ServicesWorld, swarm: SwarmOptions, prng: Prng, workload: Prng,
  stats: SeedStats): Violation[] {
  const core = healCore(cluster, swarm, prng, stats);
  stats.core = core;
  const services = world.services;
  const light = Math.min(services.cpg.actionRatio, 0.02);
  const converged = awaitConvergence(cluster, swarm, core, () => world.workload(cluster, workload, core, light));
  stats.convergenceTicks = converged.convergedAfter;
  if (converged.convergedAfter === null) return converged.failures;
  const status = cluster.status(core[0] as number);
  if (status === null) return [violation('T13', `node ${core[0]} is down after convergence`, undefined, cluster.now)];
  const ring = status.ringId;
  const ringKey = ringIdKey(ring);
  const view = coreView(cluster);

  // Every core node completes sync in the final ring.
  const syncStart = cluster.now;
  const unsynced = (): string | null => {
    for (const id of core) {
      const sn = world.node(id);
      if (sn === undefined) return `node ${id} has no services`;
      if (sn.ring() !== ringKey) return `node ${id}'s host is in ${sn.ring()}`;
      if (sn.host.isSyncing()) return `node ${id} is still syncing ${ringKey} (${JSON.stringify(sn.host.status().sync.state)})`;
    }
    return null;
  };
  for (;;) {
    const reason = unsynced();
    if (reason === null) break;
    if (cluster.now - syncStart >= swarm.convergenceTicksMax) {
      return [violation('S13', `sync of ${ringKey} did not complete on core [${core.join(',')}] within `
        + `${swarm.convergenceTicksMax} ticks after convergence: ${reason}`, undefined, cluster.now)];
    }
    cluster.step();
    if (online()) return [];
    const r = notConvergedReason(core, view);
    if (r !== null) return [violation('T13', `configuration changed after convergence on ${ringKey}: ${r}`, undefined, cluster.now)];
  }

  function online(): boolean {
    return cluster.allOnlineViolations().length > 0 || world.violations.length > 0;
  }

  // Probe clients: join, see each other, one message each, everyone gets everything.
  const probes = new Map<number, SimCpgClient>();
  for (const id of core) {
    const sn = world.node(id);
    const c = sn === undefined ? undefined : cluster.act(id, 'probe connect', () => sn.connect());
    if (c !== undefined) probes.set(id, c);
  }
  const probeKeys = [...probes].map(([id, c]) => procKey(id, c.handle.pid)).sort();
  const probeMsgs = new Map<number, string>();
  const progress = (): number => {
    let n = 0;
    for (const c of probes.values()) n += (c.monitor.view(PROBE_GROUP)?.length ?? 0) + c.received.size;
    return n;
  };
  const seesAll = (c: SimCpgClient): boolean => [...(c.monitor.view(PROBE_GROUP) ?? [])].sort().join(' ') === probeKeys.join(' ');
  const done = (): boolean => probeMsgs.size === probes.size
    && [...probes.values()].every((c) => [...probeMsgs.values()].every((m) => c.received.has(m)));
  const hardCap = cluster.now + 20 * swarm.probeTicksMax;
  let lastProgress = cluster.now;
  let lastCount = progress();
  while (!done()) {
    const allSee = [...probes.values()].every(seesAll);
    for (const [id, c] of probes) {
      const sn = world.node(id);
      if (sn === undefined) continue;
      if (c.pending !== null) {
        cluster.act(id, 'probe retry', () => sn.retry(c));
      } else if (c.handle.state(PROBE_GROUP) === 'unjoined' && !c.log.entries.some((e) => e.k === 'join' && e.result === 'queued')) {
        cluster.act(id, 'probe join', () => sn.join(c, PROBE_GROUP));
      } else if (allSee && !probeMsgs.has(id)) {
        const r = cluster.act(id, 'probe mcast', () => sn.mcast(c, PROBE_GROUP, 8, workload));
        const last = c.log.entries.at(-1);
        if (r === 'queued' && last?.k === 'mcast' && last.msg !== undefined) probeMsgs.set(id, last.msg);
      }
    }
    cluster.step();
    if (online()) return [];
    const r = notConvergedReason(core, view);
    if (r !== null) return [violation('T13', `configuration changed after convergence on ${ringKey}: ${r}`, undefined, cluster.now)];
    const count = progress();
    if (count !== lastCount) {
      lastCount = count;
      lastProgress = cluster.now;
    }
    if (cluster.now - lastProgress >= swarm.probeTicksMax || cluster.now >= hardCap) {
      const state = [...probes].map(([id, c]) => `${id}:${c.handle.state(PROBE_GROUP)} sees [${(c.monitor.view(PROBE_GROUP) ?? []).join(' ')}] `
        + `got ${[...probeMsgs.values()].filter((m) => c.received.has(m)).length}/${probeMsgs.size}`).join('; ');
      return [violation('S13', `CPG probes on ${ringKey} made no progress for ${swarm.probeTicksMax} ticks: ${state}`, undefined, cluster.now)];
    }
  }

  const failures = watchIdleRing(cluster, swarm, core, ring);
  if (failures.length > 0 || online()) return failures;
  const views: CoreCpgView[] = [];
  for (const id of core) {
    const sn = world.node(id);
    if (sn === undefined) continue;
    views.push({
      node: id,
      groups: sn.groups(),
      clients: sn.clients.map((c) => ({
        name: c.name,
        views: new Map(c.monitor.groupsIn().map((g) => [g, c.monitor.view(g) ?? []] as const)),
        unsettled: c.monitor.unsettled(),
      })),
    });
  }
  const excused = new Set(world.history.throwAways.filter((t) => t.ring === ringKey && core.includes(t.node)).map((t) => t.sender));
  return checkCpgConvergence(core, views, cluster.now, excused, world.history);
}
