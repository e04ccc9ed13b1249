// VOPR swarm in services mode under Jest (testing.md §4.2–§4.4): 210 fixed seeds over 2–7
// nodes, every node running ServiceHost + cmap, cfg, cpg, quorum, votequorum with fake CPG
// clients, checked against T1–T11 (T2 on totempg packets), C1–C5, CPG-M, Q1–Q4 and M1.
// Five seeds per test, so a failure names its seeds and the `npm run sim` command that
// replays one. Long or unbounded runs belong to vopr.ts (`npm run sim -- --services`).
//
// Open findings (FINDINGS.md F5, F6) show up as C1/C2/C5 findings about processes that were
// leaving, finalized or gone, tagged DEPARTING_TAG by the checkers; while they are open
// this test tolerates tagged findings and fails on everything else. Set
// TOLERATE_OPEN_CPG_FINDINGS to false once F5 and F6 are fixed.

import { describe, expect, test } from '@jest/globals';
import { DEPARTING_TAG } from './checkers/cpg';
import { formatViolation } from './checkers/violation';
import { runSeed } from './run-seed';

const TOLERATE_OPEN_CPG_FINDINGS = false;
const FIRST_SEED = 0x5e7c0000;
const PLAN: readonly (readonly [nodes: number, seeds: number])[] = [[2, 35], [3, 40], [4, 40], [5, 40], [6, 30], [7, 25]];
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

describe('VOPR swarm, services mode', () => {
  const all = chunks();
  expect(all.reduce((n, c) => n + c.seeds.length, 0)).toBeGreaterThanOrEqual(200);

  test.each(all.map((c) => [c.nodes, `${hex(c.seeds[0] as number)}..${hex(c.seeds.at(-1) as number)}`, c.seeds] as const))(
    '%i nodes, seeds %s', (nodes, _range, seeds) => {
      const failures: string[] = [];
      for (const seed of seeds) {
        const r = runSeed(seed, { nodes, services: true });
        expect(r.swarm.services).not.toBeNull();
        const found = [...r.violations, ...r.livenessFailures]
          .filter((v) => !(TOLERATE_OPEN_CPG_FINDINGS && v.message.includes(DEPARTING_TAG)));
        if (found.length === 0) continue;
        failures.push(`seed ${hex(seed)}: npm run sim -- --seeds 1 --first-seed ${hex(seed)} --nodes ${nodes} --services --verbose\n`
          + found.slice(0, 5).map((v) => `    ${formatViolation(v)}`).join('\n'));
      }
      expect(failures).toEqual([]);
    });
});
