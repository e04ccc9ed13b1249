// The fixed-seed plans of the Jest swarms (swarm.test.ts, swarm-services.test.ts): seeds
// numbered from a first seed, split per node count into chunks of five so that a failing
// test names its seeds, and the `npm run sim` command that replays one.

import { type Violation, formatViolation } from './checkers/violation';

/** How many seeds to run per node count. */
export type SwarmPlan = readonly (readonly [nodes: number, seeds: number])[];

const CHUNK = 5;

export function seedChunks(firstSeed: number, plan: SwarmPlan): { nodes: number; seeds: number[] }[] {
  const out: { nodes: number; seeds: number[] }[] = [];
  let next = firstSeed;
  for (const [nodes, count] of plan) {
    for (let i = 0; i < count; i += CHUNK) {
      const seeds = Array.from({ length: Math.min(CHUNK, count - i) }, (_, k) => (next + k) >>> 0);
      next += seeds.length;
      out.push({ nodes, seeds });
    }
  }
  return out;
}

export const hex = (s: number): string => `0x${s.toString(16).padStart(8, '0')}`;

/** test.each rows: [nodes, "first..last" seed range, seeds]. */
export function chunkCases(chunks: readonly { nodes: number; seeds: number[] }[]): (readonly [number, string, number[]])[] {
  return chunks.map((c) => [c.nodes, `${hex(c.seeds[0] as number)}..${hex(c.seeds.at(-1) as number)}`, c.seeds] as const);
}

/** A failing seed: the command that replays it (`mode` is --services or --no-services) and its first five findings. */
export function seedFailure(seed: number, nodes: number, mode: '--services' | '--no-services', found: readonly Violation[]): string {
  return `seed ${hex(seed)}: npm run sim -- --seeds 1 --first-seed ${hex(seed)} --nodes ${nodes} ${mode} --verbose\n`
    + found.slice(0, 5).map((v) => `    ${formatViolation(v)}`).join('\n');
}
