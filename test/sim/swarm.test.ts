// VOPR swarm under Jest (testing.md §4.2, §4.7 "sim with 100–200 seeds"): 200 fixed
// seeds over 2–7 nodes, five seeds per test so a failure names its seeds and the exact
// `npm run sim` command that replays one. Long or unbounded runs belong to vopr.ts.
// These are Totem-only seeds (raw submits, `services: false`); services mode has its own
// 200 seeds in swarm-services.test.ts.

import { describe, expect, test } from '@jest/globals';
import { formatViolation } from './checkers/violation';
import { runSeed } from './run-seed';

const FIRST_SEED = 0xc0ffee00;
const PLAN: readonly (readonly [nodes: number, seeds: number])[] = [[2, 30], [3, 40], [4, 40], [5, 40], [6, 25], [7, 25]];
const CHUNK = 5;

function chunks(): { nodes: number; seeds: number[] }[] {
  const out: { nodes: number; seeds: number[] }[] = [];
  let next = FIRST_SEED;
  for (const [nodes, count] of PLAN) {
    for (let i = 0; i < count; i += CHUNK) {
      const seeds = Array.from({ length: Math.min(CHUNK, count - i) }, (_, k) => (next + k) >>> 0);
      next += seeds.length;
      out.push({ nodes, seeds });
    }
  }
  return out;
}

const hex = (s: number): string => `0x${s.toString(16).padStart(8, '0')}`;

describe('VOPR swarm', () => {
  const all = chunks();
  expect(all.reduce((n, c) => n + c.seeds.length, 0)).toBeGreaterThanOrEqual(200);

  test.each(all.map((c) => [c.nodes, `${hex(c.seeds[0] as number)}..${hex(c.seeds.at(-1) as number)}`, c.seeds] as const))(
    '%i nodes, seeds %s', (nodes, _range, seeds) => {
      const failures: string[] = [];
      for (const seed of seeds) {
        const r = runSeed(seed, { nodes, services: false });
        const found = [...r.violations, ...r.livenessFailures];
        if (found.length === 0) continue;
        failures.push(`seed ${hex(seed)}: npm run sim -- --seeds 1 --first-seed ${hex(seed)} --nodes ${nodes} --no-services --verbose\n`
          + found.slice(0, 5).map((v) => `    ${formatViolation(v)}`).join('\n'));
      }
      // See test/sim/FINDINGS.md for known protocol issues (F3: GATHER livelock).
      expect(failures).toEqual([]);
    });
});
