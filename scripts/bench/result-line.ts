// The RESULT and LAT lines of ../shared/tools/cpgload (see cpgload.c's printf calls) and
// of its Carillon-side twin scripts/bench/cpgload.ts: one format, one parser. A line is
// `RESULT <label>node=… sender=… …` or `LAT <label><name> size=… n=… min_us=… …`; the
// label is free `key=value ` text the runner passes with -L (for LAT it ends in `kind=`,
// so that the name completes it: `kind=self`). Fields are `key=value` with no blanks in
// the value; `NA` stands for a figure a client cannot know. Pure functions.

import { latencyFigures } from './stats';

export type BenchLineKind = 'RESULT' | 'LAT';

export interface BenchLine {
  readonly kind: BenchLineKind;
  /** Every key=value of the line, label fields included. */
  readonly fields: Readonly<Record<string, string>>;
  readonly line: string;
}

const FIELD = /(\w+)=(\S+)/g;

/** One line → its kind and fields; null for any other line (logs, CONFCHG, blank). */
export function parseBenchLine(line: string): BenchLine | null {
  const trimmed = line.trim();
  const kind = trimmed.startsWith('RESULT ') ? 'RESULT' : trimmed.startsWith('LAT ') ? 'LAT' : null;
  if (kind === null) return null;
  const fields: Record<string, string> = {};
  for (const m of trimmed.matchAll(FIELD)) {
    if (m[1] !== undefined && m[2] !== undefined) fields[m[1]] = m[2];
  }
  return { kind, fields, line: trimmed };
}

/** Every RESULT / LAT line of a client's output. */
export function parseBenchOutput(text: string): BenchLine[] {
  return text.split('\n').flatMap((l) => parseBenchLine(l) ?? []);
}

/** A numeric field; null when missing, NA or not a number. */
export function numField(line: BenchLine, key: string): number | null {
  const text = line.fields[key];
  if (text === undefined || text === 'NA') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** What a tput run counted, in cpgload's RESULT terms. */
export interface TputCounts {
  readonly nodeId: number;
  readonly sender: boolean;
  readonly size: number;
  readonly rxMsgs: number;
  readonly rxBytes: number;
  /** First to last DATA delivery, seconds. */
  readonly windowS: number;
  readonly gaps: number;
  readonly sources: number;
  readonly endsSeen: number;
  readonly endsExpected: number;
  readonly sent: number;
  readonly sendS: number;
  /** try-again answers seen by the sender; null when the client cannot observe them. */
  readonly tryAgain: number | null;
}

/** cpgload's RESULT line for `counts` (same fields, same precision). */
export function formatResultLine(label: string, c: TputCounts): string {
  const rate = c.windowS > 0 ? c.rxMsgs / c.windowS : 0;
  const mbps = c.windowS > 0 ? c.rxBytes / c.windowS / 1e6 : 0;
  const tx = c.sendS > 0 ? c.sent / c.sendS : 0;
  return (
    `RESULT ${label}node=${c.nodeId} sender=${c.sender ? 1 : 0} size=${c.size} rx_msgs=${c.rxMsgs} rx_bytes=${c.rxBytes}` +
    ` window_s=${c.windowS.toFixed(3)} rx_msgs_per_s=${rate.toFixed(0)} rx_MBps=${mbps.toFixed(3)} gaps=${c.gaps} srcs=${c.sources}` +
    ` ends=${c.endsSeen}/${c.endsExpected} sent=${c.sent} send_s=${c.sendS.toFixed(3)} tx_msgs_per_s=${tx.toFixed(0)}` +
    ` try_again=${c.tryAgain === null ? 'NA' : c.tryAgain}`
  );
}

/** cpgload's LAT line for latency samples in µs (`LAT <label><name> n=0` when there are none). */
export function formatLatLine(label: string, name: string, size: number, samplesUs: readonly number[]): string {
  const f = latencyFigures(samplesUs);
  if (f === null) return `LAT ${label}${name} n=0`;
  const us = (v: number): string => v.toFixed(1);
  return (
    `LAT ${label}${name} size=${size} n=${samplesUs.length} min_us=${us(f.min)} p50_us=${us(f.p50)} p90_us=${us(f.p90)}` +
    ` p99_us=${us(f.p99)} max_us=${us(f.max)} mean_us=${us(f.mean)}`
  );
}
