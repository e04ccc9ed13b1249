// The benchmark's statistics (scripts/bench/stats.ts): median / min / max over
// repetitions, cpgload's nearest-rank percentiles (so that Carillon's client and the C
// client report the same p50/p99 of the same samples), the ratio, and the CPU % of a
// /proc sample window (scripts/bench/proc-sampler.ts cpuWindow).

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { cpuWindow, type ProcSample } from '../../scripts/bench/proc-sampler';
import { latencyFigures, median, percentile, ratio, summarize } from '../../scripts/bench/stats';

describe('median / summarize', () => {
  test('odd and even counts, unsorted input', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(summarize([5, 1, 9, 3])).toEqual({ median: 4, min: 1, max: 9, n: 4 });
  });

  test('non-finite samples are left out; nothing finite gives null', () => {
    expect(summarize([NaN, 2, Infinity, 4])).toEqual({ median: 3, min: 2, max: 4, n: 2 });
    expect(summarize([NaN])).toBeNull();
  });

  test('min <= median <= max for any samples', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 50 }), (values) => {
        const s = summarize(values);
        expect(s).not.toBeNull();
        if (s === null) return;
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(s.min).toBe(Math.min(...values));
        expect(s.max).toBe(Math.max(...values));
      }),
    );
  });
});

describe('percentile: cpgload\'s v[ceil(q * n) - 1]', () => {
  const hundred = Array.from({ length: 100 }, (_, k) => k + 1);

  test('of 1..100: p50 = 50, p90 = 90, p99 = 99, p100 = 100', () => {
    expect(percentile(hundred, 0.5)).toBe(50);
    expect(percentile(hundred, 0.9)).toBe(90);
    expect(percentile(hundred, 0.99)).toBe(99);
    expect(percentile(hundred, 1)).toBe(100);
  });

  test('small counts: p99 of 10 samples is the largest, p50 of 3 the middle one', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBe(10);
    expect(percentile([10, 20, 30], 0.5)).toBe(20);
    expect(percentile([], 0.5)).toBeNull();
  });

  test('q outside (0, 1] is a programming error', () => {
    expect(() => percentile(hundred, 0)).toThrow(RangeError);
    expect(() => percentile(hundred, 1.5)).toThrow(RangeError);
  });

  test('latencyFigures sorts and reports cpgload\'s LAT figures', () => {
    expect(latencyFigures([300, 100, 200, 400])).toEqual({ min: 100, p50: 200, p90: 400, p99: 400, max: 400, mean: 250 });
    expect(latencyFigures([])).toBeNull();
  });
});

describe('ratio', () => {
  test('carillon / corosync; null when a side is missing or the reference is 0', () => {
    expect(ratio(50, 200)).toBe(0.25);
    expect(ratio(null, 200)).toBeNull();
    expect(ratio(50, null)).toBeNull();
    expect(ratio(50, 0)).toBeNull();
    expect(ratio(NaN, 1)).toBeNull();
  });
});

describe('cpuWindow', () => {
  const s = (atMs: number, pid: number, ticks: number, rssKb: number): ProcSample => ({ atMs, pid, ticks, rssKb });
  const samples = [s(0, 7, 100, 1000), s(0, 8, 0, 50), s(1000, 7, 150, 3000), s(2000, 7, 200, 2000), s(3000, 7, 210, 9000)];

  test('ticks between the first and last sample inside the window, per second of that span, in % of a core', () => {
    // 100 ticks/s: 100 ticks over 2 s = 50 % of a core; RSS max inside [0, 2000]
    expect(cpuWindow(samples, 7, 0, 2000, 100)).toEqual({ cpuPct: 50, maxRssKb: 3000 });
    expect(cpuWindow(samples, 7, 500, 3000, 100)).toEqual({ cpuPct: 30, maxRssKb: 9000 });
  });

  test('fewer than two samples in the window: no CPU figure, the RSS still counts', () => {
    expect(cpuWindow(samples, 7, 900, 1100, 100)).toEqual({ cpuPct: null, maxRssKb: 3000 });
    expect(cpuWindow(samples, 9, 0, 3000, 100)).toEqual({ cpuPct: null, maxRssKb: 0 });
  });
});
