// Helpers for hand-written services-mode scenarios (services-regressions.test.ts): a
// cluster of real TotemNodes, each with the service stack of services.ts, on a quiet
// network with fast timers; "synced" (Totem converged and every host's sync completed in
// that ring), clients, and one call that runs every checker of a services run.

import { Prng } from '../../src/base/prng';
import { resolveVotequorumConfig, type VotequorumSettings } from '../../src/services/votequorum/votequorum-service';
import { type TotemConfigMs, deriveTotemConfigMs, toTotemConfig } from '../../src/totem/config';
import { ringIdKey } from '../../src/totem/wire/messages';
import { checkCpgHistory } from './checkers/cpg';
import { checkEvs } from './checkers/evs';
import { checkQuorumAgreement } from './checkers/quorum';
import type { Violation } from './checkers/violation';
import { SimCluster } from './cluster';
import { type SimNetworkOptions, quietNetworkOptions } from './network';
import { totemNodeFactory } from './real-node';
import { checkPackets } from './run-services';
import { converged } from './scenario';
import { type SimCpgClient, type SimServiceNode, ServicesWorld } from './services';
import type { ServicesOptions } from './swarm';

export interface ServicesScenarioOptions {
  readonly nodes?: number;
  readonly seed?: number;
  readonly tokenMs?: number;
  /** Totem settings beyond the token (window_size, max_messages, …). */
  readonly totem?: Partial<TotemConfigMs>;
  readonly network?: Partial<SimNetworkOptions>;
  /** Default: a nodelist of every node, one vote each. */
  readonly votequorum?: VotequorumSettings;
  readonly trace?: (record: Record<string, unknown>) => void;
}

export interface ServicesScenario {
  readonly cluster: SimCluster;
  readonly world: ServicesWorld;
  readonly ids: readonly number[];
  /** Payload bodies. */
  readonly prng: Prng;
}

export function servicesScenario(o: ServicesScenarioOptions = {}): ServicesScenario {
  const n = o.nodes ?? 3;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const votequorum = o.votequorum ?? { nodelist: ids.map((nodeId) => ({ nodeId })) };
  const resolved = resolveVotequorumConfig(votequorum, 1);
  if (!resolved.ok) throw new Error(resolved.error);
  const c = resolved.value;
  const services: ServicesOptions = {
    mode: 'plain', votequorum,
    cpg: { actionRatio: 0, handlesMax: 0, groups: 0, largeRatio: 0, largeBytesMax: 0, cmapWriteRatio: 0 },
    twoNode: c.twoNode, waitForAll: c.waitForAll, lastManStanding: c.lastManStanding, autoTieBreaker: c.autoTieBreaker !== 'none',
  };
  const config = toTotemConfig(deriveTotemConfigMs({ token: o.tokenMs ?? 300, tokenCoefficient: 0, ...o.totem }, n));
  const world = new ServicesWorld({ nodeIds: ids, config, services, ...(o.trace === undefined ? {} : { trace: o.trace }) });
  const cluster = new SimCluster({
    nodeIds: ids, config, network: { ...quietNetworkOptions, ...o.network }, seed: o.seed ?? 1, nodeFactory: totemNodeFactory,
    attach: world.attach, ...(o.trace === undefined ? {} : { trace: o.trace }),
  });
  world.bind(cluster);
  return { cluster, world, ids, prng: new Prng((o.seed ?? 1) ^ 0x0b0d1e5) };
}

export function stack(s: ServicesScenario, id: number): SimServiceNode {
  const sn = s.world.node(id);
  if (sn === undefined) throw new Error(`node ${id} is down`);
  return sn;
}

/** Totem converged on exactly `ids`, and every one of them completed sync in that ring. */
export function synced(s: ServicesScenario, ids: readonly number[]): boolean {
  if (!converged(s.cluster, ids)) return false;
  const ring = s.cluster.status(ids[0] as number)?.ringId;
  if (ring === undefined) return false;
  return ids.every((id) => {
    const sn = s.world.node(id);
    return sn !== undefined && !sn.host.isSyncing() && sn.ring() === ringIdKey(ring);
  });
}

/** A new client on node `id`. */
export function connect(s: ServicesScenario, id: number): SimCpgClient {
  const c = s.cluster.act(id, 'connect', () => stack(s, id).connect());
  if (c === undefined) throw new Error(`node ${id} could not connect a client`);
  return c;
}

/** Queues a join (retrying try-again / full on later steps through `settle`). */
export function join(s: ServicesScenario, id: number, c: SimCpgClient, group: string): void {
  s.cluster.act(id, 'join', () => stack(s, id).join(c, group));
}

export function mcast(s: ServicesScenario, id: number, c: SimCpgClient, group: string, bytes: number): string {
  const sn = stack(s, id);
  const r = s.cluster.act(id, 'mcast', () => sn.mcast(c, group, bytes, s.prng));
  const last = c.log.entries.at(-1);
  if (r !== 'queued' || last?.k !== 'mcast' || last.msg === undefined) throw new Error(`mcast on node ${id}: ${String(r)}`);
  return last.msg;
}

/** Retries the pending requests of `clients` (each step), until none is pending. */
export function retryPending(s: ServicesScenario, clients: ReadonlyArray<readonly [number, SimCpgClient]>): void {
  for (const [id, c] of clients) {
    if (c.pending !== null && s.world.node(id) !== undefined) s.cluster.act(id, 'retry', () => stack(s, id).retry(c));
  }
}

/** Every checker of a services run over what happened so far. */
export function servicesViolations(s: ServicesScenario): Violation[] {
  s.world.finishStats();
  return [
    ...s.cluster.allOnlineViolations(),
    ...s.world.violations,
    ...checkEvs(s.cluster.history, { opaquePayloads: true }),
    ...checkPackets(s.cluster.history, s.world.history.packets),
    ...checkCpgHistory(s.world.history),
    ...checkQuorumAgreement(s.world.history.syncs, s.world.rules),
  ];
}
