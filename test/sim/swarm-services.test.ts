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
import { runSeed } from './run-seed';
import { type SwarmPlan, chunkCases, seedChunks, seedFailure } from './swarm-plan';

const TOLERATE_OPEN_CPG_FINDINGS = false;
const FIRST_SEED = 0x5e7c0000;
const PLAN: SwarmPlan = [[2, 35], [3, 40], [4, 40], [5, 40], [6, 30], [7, 25]];

describe('VOPR swarm, services mode', () => {
  const all = seedChunks(FIRST_SEED, PLAN);
  expect(all.reduce((n, c) => n + c.seeds.length, 0)).toBeGreaterThanOrEqual(200);

  test.each(chunkCases(all))(
    '%i nodes, seeds %s', (nodes, _range, seeds) => {
      const failures: string[] = [];
      for (const seed of seeds) {
        const r = runSeed(seed, { nodes, services: true });
        expect(r.swarm.services).not.toBeNull();
        const found = [...r.violations, ...r.livenessFailures]
          .filter((v) => !(TOLERATE_OPEN_CPG_FINDINGS && v.message.includes(DEPARTING_TAG)));
        if (found.length === 0) continue;
        failures.push(seedFailure(seed, nodes, '--services', found));
      }
      expect(failures).toEqual([]);
    });
});
