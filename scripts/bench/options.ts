// Command line and plan of `npm run bench` (scripts/bench/run.ts). Pure.
//
//   --quick             a short run (one repetition, 2 s per throughput run, 200 pings,
//                       3 s idle, one failover per timer setting, 2 s bridge ramp steps);
//                       under 10 minutes on a 2-core machine
//   --only a,b          sections: tput, latency, failover, resources, bridge (default all;
//                       resources under load come from the tput runs)
//   --sides a,b         corosync, carillon (default both; a ratio needs both)
//   --reps N            repetitions of every measurement (default 3, --quick 1)
//   --out FILE          the JSON results (default bench-results/<timestamp>.json)

import { parseArgs } from 'node:util';
import type { Side } from './bench-cluster';

export const SECTIONS = ['tput', 'latency', 'failover', 'resources', 'bridge'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchPlan {
  readonly quick: boolean;
  readonly sections: ReadonlySet<Section>;
  readonly sides: readonly Side[];
  readonly reps: number;
  readonly out: string | null;
  /** Seconds of sending per throughput run. */
  readonly tputSeconds: number;
  readonly sizes: readonly number[];
  readonly pings: number;
  readonly idleSeconds: number;
  readonly failoverReps: number;
  /** totem.token of the second failover series (the first uses the defaults). */
  readonly shortTokenMs: number;
  readonly bridgeLatencyRate: number;
  readonly bridgeLatencySeconds: number;
  readonly bridgeRampRates: readonly number[];
  readonly bridgeRampSeconds: number;
}

export const BENCH_USAGE = `usage: npm run bench -- [--quick] [--only ${SECTIONS.join(',')}] [--sides corosync,carillon] [--reps N] [--out FILE]`;

export class BenchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchUsageError';
  }
}

function list<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new BenchUsageError(`--${what} needs at least one of ${allowed.join(', ')}`);
  for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new BenchUsageError(`--${what}: unknown ${JSON.stringify(item)} (one of ${allowed.join(', ')})`);
  return items as T[];
}

/** argv (without node and the script) → the plan; BenchUsageError for bad arguments, null for --help. */
export function parseBenchArgs(argv: readonly string[]): BenchPlan | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean' },
        only: { type: 'string' },
        sides: { type: 'string' },
        reps: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new BenchUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return null;
  const quick = values.quick === true;
  let reps = quick ? 1 : 3;
  if (values.reps !== undefined) {
    if (!/^\d+$/.test(values.reps) || Number(values.reps) < 1 || Number(values.reps) > 100) throw new BenchUsageError(`--reps must be an integer in 1..100, not ${values.reps}`);
    reps = Number(values.reps);
  }
  if (values.out === '') throw new BenchUsageError('--out needs a file name');
  return {
    quick,
    sections: new Set(values.only === undefined ? SECTIONS : list(values.only, SECTIONS, 'only')),
    sides: values.sides === undefined ? ['corosync', 'carillon'] : list(values.sides, ['corosync', 'carillon'] as const, 'sides'),
    reps,
    out: values.out ?? null,
    tputSeconds: quick ? 2 : 5,
    sizes: [64, 1024, 8192, 65536],
    pings: quick ? 200 : 1000,
    idleSeconds: quick ? 3 : 10,
    failoverReps: reps,
    shortTokenMs: 1000,
    bridgeLatencyRate: 100,
    bridgeLatencySeconds: quick ? 3 : 10,
    bridgeRampRates: [250, 500, 1000, 2000, 4000, 8000, 16000, 32000],
    bridgeRampSeconds: quick ? 2 : 5,
  };
}
