// The benchmark's figures and their table (scripts/bench/run.ts prints it and README.md
// §Benchmarks shows one): one row per figure with, for corosync and for Carillon, the
// median [min–max] over the samples (repetitions, or nodes where the row says so), the
// ratio Carillon / corosync of the medians, and the direction that is good for Carillon
// (≥ 1 for throughput, ≤ 1 for latency, failover time, memory, CPU). A measurement that
// failed shows FAILED with a numbered note under the table, so one failure never hides
// the other figures. Pure functions.

import { ratio, summarize } from './stats';

export type Better = 'higher' | 'lower' | 'none';

export type Cell =
  | { readonly kind: 'ok'; readonly samples: readonly number[] }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'na'; readonly reason: string };

export interface FigureRow {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly corosync: Cell;
  readonly carillon: Cell;
  /** Said under the table (what a reference column means, how samples were taken), numbered †1, †2… */
  readonly notes?: readonly string[];
}

/** A number with 3 significant digits at most (at least 0 decimals), e.g. 41700, 27.9, 0.292. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(3);
}

/** Median of an ok cell, else null. */
export function cellMedian(cell: Cell): number | null {
  return cell.kind === 'ok' ? (summarize(cell.samples)?.median ?? null) : null;
}

/** Carillon / corosync of the medians (null when either is missing or the reference is 0). */
export function rowRatio(row: FigureRow): number | null {
  return ratio(cellMedian(row.carillon), cellMedian(row.corosync));
}

/** ✓ when the ratio is on the good side for Carillon, ✗ otherwise, ≈ within 2 %, '' without a direction. */
export function verdict(row: FigureRow, r: number | null): string {
  if (r === null || row.better === 'none') return '';
  if (Math.abs(r - 1) < 0.02) return '≈';
  const good = row.better === 'higher' ? r >= 1 : r <= 1;
  return good ? '✓' : '✗';
}

function cellText(cell: Cell, notes: string[]): string {
  if (cell.kind === 'na') return 'n/a';
  if (cell.kind === 'failed') {
    notes.push(cell.reason);
    return `FAILED [${notes.length}]`;
  }
  const s = summarize(cell.samples);
  if (s === null) return 'n/a';
  if (s.n === 1) return formatNumber(s.median);
  return `${formatNumber(s.median)} [${formatNumber(s.min)}–${formatNumber(s.max)}]`;
}

/** The markdown table, then the failure notes and the row notes. */
export function formatTable(rows: readonly FigureRow[]): string {
  const failures: string[] = [];
  const rowNotes = [...new Set(rows.flatMap((row) => row.notes ?? []))];
  const header = ['figure', 'unit', 'corosync 3.1.7', 'Carillon', 'ratio C/c', 'good when'];
  const body = rows.map((row) => {
    const r = rowRatio(row);
    const good = row.better === 'higher' ? '≥ 1' : row.better === 'lower' ? '≤ 1' : '';
    const ratioText = r === null ? 'n/a' : `${r.toFixed(r >= 10 ? 1 : 2)} ${verdict(row, r)}`.trim();
    const marks = (row.notes ?? []).map((n) => `†${rowNotes.indexOf(n) + 1}`).join(' ');
    return [marks === '' ? row.label : `${row.label} ${marks}`, row.unit, cellText(row.corosync, failures), cellText(row.carillon, failures), ratioText, good];
  });
  const widths = header.map((h, k) => Math.max(h.length, ...body.map((cells) => (cells[k] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, k) => c.padEnd(widths[k] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  if (rowNotes.length > 0) out.push('', ...rowNotes.map((n, k) => `†${k + 1} ${n}`));
  if (failures.length > 0) out.push('', ...failures.map((f, k) => `[${k + 1}] ${f.split('\n')[0]?.slice(0, 300) ?? ''}`));
  return out.join('\n');
}
