// Base primitives: corosync's rollover-aware sequence compare (sq.h) at the start values
// corosync suggests testing (testing.md §4.1), the seeded PRNG's determinism, and the
// bounded queue's limits.

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { AssertionError } from '../../../src/base/assert';
import { BoundedQueue } from '../../../src/base/bounded-queue';
import { Prng } from '../../../src/base/prng';
import { seqLt, seqLte } from '../../../src/base/seq';

describe('seq compare (sq.h)', () => {
  test('initial token aru 0xFFFFFFFF compares below seq 0', () => {
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqLte(0, 0xffffffff)).toBe(false);
    expect(seqLt(0, 0xffffffff)).toBe(false);
  });

  test.each([0x7ffff000, 0xfffff000])('monotone over 8192 increments from %s', (start) => {
    const broken: number[] = [];
    for (let i = 0; i < 8192; i += 1) {
      const a = (start + i) >>> 0;
      const b = (a + 1) >>> 0;
      if (a === 0x80000000) continue; // the one point where sq.h switches formulas
      if (!seqLt(a, b) || !seqLte(a, a) || seqLt(b, a)) broken.push(a);
    }
    expect(broken).toEqual([]);
  });

  test('matches the C formula for arbitrary u32 pairs', () => {
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, b) => {
      const big = a > 0x80000000 || b > 0x80000000;
      const x = big ? (a - 0x10000) >>> 0 : a;
      const y = big ? (b - 0x10000) >>> 0 : b;
      return seqLt(a, b) === x < y && seqLte(a, b) === x <= y;
    }));
  });
});

describe('Prng', () => {
  test('the same seed gives the same stream, different seeds differ', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 100 }, () => c.nextU32())).not.toEqual(sa);
  });

  test('nextInt stays in range and covers it', () => {
    const p = new Prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i += 1) {
      const v = p.nextInt(10);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(10);
      seen.add(v);
    }
    expect(seen.size).toBe(10);
  });
});

describe('BoundedQueue', () => {
  test('FIFO order, capacity and assertion on overflow', () => {
    const q = new BoundedQueue<number>(3);
    expect(q.tryPush(1) && q.tryPush(2) && q.tryPush(3)).toBe(true);
    expect(q.tryPush(4)).toBe(false);
    expect(() => q.push(4)).toThrow(AssertionError);
    expect(q.shift()).toBe(1);
    q.push(5);
    expect([...q]).toEqual([2, 3, 5]);
    expect(q.length).toBe(3);
  });
});
