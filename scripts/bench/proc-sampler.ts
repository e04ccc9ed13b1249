// CPU and memory of the benchmarked processes, read from /proc as
// ../shared/tools/procsample.py does: every interval, for each pid, utime+stime (clock
// ticks, /proc/<pid>/stat fields 14 and 15) and VmRSS (kB, /proc/<pid>/status), each
// sample stamped right before it is read so that a late timer (a saturated host) only
// shifts a sample instead of skewing a window. cpuWindow() turns the samples of one pid
// into CPU % (100 % = one core) over a time window and the largest RSS seen, like
// cpg-bench.sh's window_stats. The sampler is the imperative part; cpuWindow is pure.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export interface ProcSample {
  /** performance.now() of the read, ms. */
  readonly atMs: number;
  readonly pid: number;
  /** utime + stime, clock ticks. */
  readonly ticks: number;
  readonly rssKb: number;
}

/** The kernel's clock ticks per second (getconf CLK_TCK; 100 when it cannot be asked). */
export function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const n = Number((r.stdout ?? '').trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}

/** One reading of pid; null once it is gone. */
export function readProc(pid: number): { ticks: number; rssKb: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold blanks and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return Number.isFinite(ticks) ? { ticks, rssKb: rss === undefined ? 0 : Number(rss) } : null;
  } catch {
    return null;
  }
}

/**
 * CPU % of `pid` between the first sample at or after fromMs and the last at or before
 * toMs (null with fewer than two such samples), and the largest RSS among the samples
 * in [fromMs, toMs] (0 when none).
 */
export function cpuWindow(samples: readonly ProcSample[], pid: number, fromMs: number, toMs: number, ticksPerSecond: number): { cpuPct: number | null; maxRssKb: number } {
  const inside = samples.filter((s) => s.pid === pid && s.atMs >= fromMs && s.atMs <= toMs);
  const maxRssKb = inside.reduce((m, s) => Math.max(m, s.rssKb), 0);
  const first = inside[0];
  const last = inside[inside.length - 1];
  if (first === undefined || last === undefined || last.atMs <= first.atMs) return { cpuPct: null, maxRssKb };
  const cpuPct = ((last.ticks - first.ticks) / ticksPerSecond / ((last.atMs - first.atMs) / 1000)) * 100;
  return { cpuPct, maxRssKb };
}

/** Samples a set of pids every intervalMs until stop(); at most maxSamples are kept. */
export class ProcSampler {
  private readonly samples: ProcSample[] = [];
  private readonly pids: readonly number[];
  private readonly maxSamples: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(pids: readonly number[], intervalMs = 200, maxSamples = 100_000) {
    this.pids = pids;
    this.maxSamples = maxSamples;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes a last sample, stops, and returns every sample. */
  stop(): ProcSample[] {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
      this.sample();
    }
    return this.samples;
  }

  private sample(): void {
    for (const pid of this.pids) {
      if (this.samples.length >= this.maxSamples) return;
      const atMs = performance.now();
      const r = readProc(pid);
      if (r !== null) this.samples.push({ atMs, pid, ...r });
    }
  }
}
