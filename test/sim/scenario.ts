// Small helpers for hand-written simulator scenarios (regression tests): a cluster of
// real TotemNodes on a quiet network with fast timers, "run until", convergence and
// one call that runs every safety checker.

import { TotemNode } from '../../src/totem/srp/totem-node';
import { type TotemConfig, deriveTotemConfigMs, toTotemConfig } from '../../src/totem/config';
import { checkEvs, type EvsCheckOptions } from './checkers/evs';
import { notConvergedReason } from './checkers/liveness';
import type { Violation } from './checkers/violation';
import { SimCluster } from './cluster';
import { type SimNetworkOptions, quietNetworkOptions } from './network';
import { totemNodeFactory } from './real-node';

export interface ScenarioOptions {
  readonly nodes?: number;
  readonly seed?: number;
  readonly tokenMs?: number;
  readonly network?: Partial<SimNetworkOptions>;
  readonly trace?: (record: Record<string, unknown>) => void;
  /** First seq of every ring minus one (TotemNode `initialSeq`), for rollover scenarios. */
  readonly initialSeq?: number;
}

export function fastConfig(nodes: number, tokenMs = 300): TotemConfig {
  return toTotemConfig(deriveTotemConfigMs({ token: tokenMs, tokenCoefficient: 0 }, nodes));
}

export function scenarioCluster(o: ScenarioOptions = {}): SimCluster {
  const n = o.nodes ?? 3;
  return new SimCluster({
    nodeIds: Array.from({ length: n }, (_, i) => i + 1),
    config: fastConfig(n, o.tokenMs),
    network: { ...quietNetworkOptions, ...o.network },
    seed: o.seed ?? 1,
    nodeFactory: o.initialSeq === undefined ? totemNodeFactory : (init) => new TotemNode({ ...init, initialSeq: o.initialSeq as number }),
    ...(o.trace === undefined ? {} : { trace: o.trace }),
  });
}

/** Steps until `done()` holds; returns the tick, or throws after `maxTicks`. */
export function runUntil(c: SimCluster, done: () => boolean, maxTicks: number, what = 'condition'): number {
  for (let i = 0; i < maxTicks; i++) {
    if (done()) return c.now;
    c.step();
  }
  if (done()) return c.now;
  throw new Error(`${what} not reached within ${maxTicks} ticks (tick ${c.now})`);
}

/** Null when `ids` are all OPERATIONAL in one ring whose members are exactly `ids`. */
export function convergence(c: SimCluster, ids: readonly number[]): string | null {
  return notConvergedReason(ids, (id) => {
    const status = c.status(id);
    return status === null ? null : { status, lastRegular: c.lastRegular(id) };
  });
}

export function converged(c: SimCluster, ids: readonly number[]): boolean {
  return convergence(c, ids) === null;
}

/** Online (harness, wire, status) plus T1–T11 over the logs. */
export function safetyViolations(c: SimCluster, options: EvsCheckOptions = {}): Violation[] {
  return [...c.allOnlineViolations(), ...checkEvs(c.history, options)];
}

/** Regular configurations each node installed so far (all incarnations). */
export function regularConfigurationCount(c: SimCluster, id: number): number {
  let n = 0;
  for (const log of c.history.incarnations) {
    if (log.node !== id) continue;
    for (const e of log.entries) if (e.k === 'conf' && e.type === 'regular') n++;
  }
  return n;
}
