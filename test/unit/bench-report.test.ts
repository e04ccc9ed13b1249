// The benchmark's ratio table (scripts/bench/report.ts), the matching of the bridge
// benchmark's emitted and observed device states (scripts/bench/bridge-match.ts) and its
// command line (scripts/bench/options.ts).

import { describe, expect, test } from '@jest/globals';
import { matchDeviceEvents } from '../../scripts/bench/bridge-match';
import { BenchUsageError, parseBenchArgs } from '../../scripts/bench/options';
import { type FigureRow, formatNumber, formatTable, rowRatio, verdict } from '../../scripts/bench/report';

const row = (over: Partial<FigureRow>): FigureRow => ({
  key: 'k', label: 'figure', unit: 'u', better: 'higher',
  corosync: { kind: 'ok', samples: [100] }, carillon: { kind: 'ok', samples: [50] }, ...over,
});

describe('formatNumber', () => {
  test('three significant digits at most', () => {
    expect(formatNumber(41712.4)).toBe('41712');
    expect(formatNumber(27.94)).toBe('27.9');
    expect(formatNumber(7.6731)).toBe('7.67');
    expect(formatNumber(0.29234)).toBe('0.292');
    expect(formatNumber(0)).toBe('0');
  });
});

describe('ratio and verdict', () => {
  test('carillon / corosync of the medians; good side by direction; ≈ within 2 %', () => {
    const tput = row({ corosync: { kind: 'ok', samples: [100, 300, 200] }, carillon: { kind: 'ok', samples: [50, 150, 100] } });
    expect(rowRatio(tput)).toBe(0.5);
    expect(verdict(tput, 0.5)).toBe('✗');
    expect(verdict(row({ better: 'lower' }), 0.5)).toBe('✓');
    expect(verdict(row({}), 1.01)).toBe('≈');
    expect(verdict(row({ better: 'none' }), 3)).toBe('');
    expect(rowRatio(row({ carillon: { kind: 'failed', reason: 'x' } }))).toBeNull();
    expect(rowRatio(row({ corosync: { kind: 'ok', samples: [0] } }))).toBeNull();
  });
});

describe('formatTable', () => {
  test('median [min–max], ratio, direction; a failure is FAILED with a numbered reason; notes are numbered', () => {
    const text = formatTable([
      row({ label: 'CPG 64 B', unit: 'msgs/s', corosync: { kind: 'ok', samples: [40000, 42000, 41000] }, carillon: { kind: 'ok', samples: [20500] } }),
      row({ label: 'failover', unit: 's', better: 'lower', corosync: { kind: 'ok', samples: [7.7] }, carillon: { kind: 'failed', reason: 'failover rep 1: a survivor saw no confchg\nlog tail…' }, notes: ['the later survivor', 'per rep'] }),
      row({ label: 'bridge lost', unit: 'events', better: 'none', corosync: { kind: 'na', reason: 'not measured' }, carillon: { kind: 'ok', samples: [0] } }),
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\| figure +\| unit +\| corosync 3\.1\.7 +\| Carillon +\| ratio C\/c +\| good when \|$/);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+\|-+\|-+\|-+\|$/);
    expect(lines[2]).toMatch(/^\| CPG 64 B +\| msgs\/s +\| 41000 \[40000–42000\] +\| 20500 +\| 0\.50 ✗ +\| ≥ 1 +\|$/);
    expect(lines[3]).toMatch(/^\| failover †1 †2 +\| s +\| 7\.70 +\| FAILED \[1\] +\| n\/a +\| ≤ 1 +\|$/);
    expect(lines[4]).toMatch(/^\| bridge lost +\| events +\| n\/a +\| 0 +\| n\/a +\| +\|$/);
    expect(text).toContain('†1 the later survivor');
    expect(text).toContain('†2 per rep');
    expect(text).toContain('[1] failover rep 1: a survivor saw no confchg');
    expect(text).not.toContain('log tail');
    // Every row has the same width.
    expect(new Set(lines.slice(0, 5).map((l) => l.length)).size).toBe(1);
  });
});

describe('matchDeviceEvents', () => {
  test('every change written once: latencies, nothing lost', () => {
    const emitted = [['d0', 'INUSE', 10], ['d1', 'INUSE', 11], ['d0', 'NOT_INUSE', 20]] as const;
    const observed = [['d0', 'INUSE', 12.5], ['d1', 'INUSE', 12], ['d0', 'NOT_INUSE', 21]] as const;
    const m = matchDeviceEvents(emitted, observed);
    expect(m).toMatchObject({ matched: 3, lost: 0, unexpected: 0, finalMismatch: 0, firstWriteMs: 12.5, lastWriteMs: 21 });
    expect(m.latenciesMs).toEqual([2.5, 1, 1]);
  });

  test('latest wins: a skipped intermediate state is lost, the final state is right', () => {
    const emitted = [['d0', 'INUSE', 10], ['d0', 'NOT_INUSE', 11], ['d0', 'INUSE', 12]] as const;
    const m = matchDeviceEvents(emitted, [['d0', 'INUSE', 15]]);
    expect(m).toMatchObject({ matched: 1, lost: 2, unexpected: 0, finalMismatch: 0 });
    expect(m.latenciesMs).toEqual([3]);
  });

  test('a change never written is lost and leaves a wrong final state', () => {
    const emitted = [['d0', 'INUSE', 10], ['d0', 'NOT_INUSE', 20], ['d1', 'BUSY', 21]] as const;
    const m = matchDeviceEvents(emitted, [['d0', 'INUSE', 11]]);
    expect(m).toMatchObject({ matched: 1, lost: 2, unexpected: 0, finalMismatch: 2 });
  });

  test('a write of an unknown device, or seen before its change was made, is unexpected', () => {
    const emitted = [['d0', 'INUSE', 10], ['d0', 'NOT_INUSE', 20]] as const;
    const m = matchDeviceEvents(emitted, [['d0', 'INUSE', 11], ['d9', 'BUSY', 12], ['d0', 'NOT_INUSE', 19]]);
    expect(m).toMatchObject({ matched: 1, lost: 1, unexpected: 2, finalMismatch: 0 });
  });
});

describe('parseBenchArgs', () => {
  test('defaults, --quick, --only, --sides, --reps, --out', () => {
    const full = parseBenchArgs([]);
    expect(full).toMatchObject({ quick: false, reps: 3, tputSeconds: 5, out: null, sides: ['corosync', 'carillon'] });
    expect([...(full?.sections ?? [])]).toEqual(['tput', 'latency', 'failover', 'resources', 'bridge']);
    const quick = parseBenchArgs(['--quick', '--only', 'tput,bridge', '--sides', 'carillon', '--reps', '2', '--out', '/tmp/x.json']);
    expect(quick).toMatchObject({ quick: true, reps: 2, failoverReps: 2, tputSeconds: 2, out: '/tmp/x.json', sides: ['carillon'] });
    expect([...(quick?.sections ?? [])]).toEqual(['tput', 'bridge']);
    expect(parseBenchArgs(['--help'])).toBeNull();
  });

  test('bad arguments are BenchUsageError', () => {
    expect(() => parseBenchArgs(['--only', 'speed'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--reps', '0'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--reps', 'x'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--sides', 'knet'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--fast'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['extra'])).toThrow(BenchUsageError);
  });
});
