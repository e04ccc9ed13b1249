// Determinism (architecture.md §2.10): the same seed run twice gives the same SHA-256
// over every effect (persist, send), event (deliver, confchg) and submit, in order.

import { describe, expect, test } from '@jest/globals';
import { runSeed } from './run-seed';

const SEEDS = [0x00000001, 0x0badc0de, 0x1234abcd, 0x7fffffff, 0xfeedf00d];

describe('determinism', () => {
  test.each(SEEDS.map((s) => [`0x${s.toString(16).padStart(8, '0')}`, s] as const))('seed %s: two runs, one digest', (_name, seed) => {
    const a = runSeed(seed, { digest: true, ticks: 1500, nodes: 4, verifyReencode: true });
    const b = runSeed(seed, { digest: true, ticks: 1500, nodes: 4, verifyReencode: true });
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(b.digest).toBe(a.digest);
    expect(b.stats).toEqual(a.stats);
    expect(a.stats.packetsSent).toBeGreaterThan(0);
  });

  test('different seeds differ', () => {
    const a = runSeed(SEEDS[0] as number, { digest: true, ticks: 500, nodes: 3 });
    const b = runSeed(SEEDS[1] as number, { digest: true, ticks: 500, nodes: 3 });
    expect(a.digest).not.toBe(b.digest);
  });
});
