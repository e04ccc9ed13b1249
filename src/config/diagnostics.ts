// Configuration diagnostics (architecture.md §2.9 "report all errors", §2.11 "operating
// errors are values or typed error classes with a stable code"). Every problem the
// corosync.conf parser or the semantic checks find becomes one Diagnostic with a
// 1-based line:col, printed in the compiler style editors and CI logs understand:
//
//   /etc/corosync/corosync.conf:5:9: error: token must be an integer, not "fast"
//     hint: ...

/** A 1-based position in a configuration file (col counts characters; a tab is one). */
export interface SourcePosition {
  readonly line: number;
  readonly col: number;
}

/**
 * Stable codes, one per kind of problem, for scripts and the --json output of
 * `carillon config check`. Text output does not show them.
 */
export const DiagnosticCode = {
  /** Not corosync.conf syntax: braces, `key: value` lines, names. */
  syntax: 'CONFIG_SYNTAX',
  /** A single value is malformed or out of range. */
  value: 'CONFIG_VALUE',
  /** Values that are fine alone but not together (join < consensus, unique nodeids...). */
  relation: 'CONFIG_RELATION',
  /** A required key or section is absent. */
  missing: 'CONFIG_MISSING',
  /** A key nobody knows: neither corosync 3.1.7 nor Carillon. */
  unknownKey: 'CONFIG_UNKNOWN_KEY',
  /** A corosync 1.x/2.x key that corosync 3 dropped; ignored. */
  obsoleteKey: 'CONFIG_OBSOLETE_KEY',
  /** A valid corosync 3 key that Carillon does not use (knet tuning, system {}...); ignored. */
  ignoredKey: 'CONFIG_IGNORED_KEY',
  /** The same key twice in one section: the last one wins, as in corosync. */
  duplicateKey: 'CONFIG_DUPLICATE_KEY',
  /** Valid for corosync but deliberately not supported by Carillon (knet, qdevice...). */
  unsupported: 'CONFIG_UNSUPPORTED',
  /** Carillon accepts it but real corosync 3.1.7 nodes would behave differently. */
  compat: 'CONFIG_COMPAT',
  /** The file loads but the daemon cannot run with it (no nodelist...). */
  notRunnable: 'CONFIG_NOT_RUNNABLE',
} as const;

export type DiagnosticCode = (typeof DiagnosticCode)[keyof typeof DiagnosticCode];

export type DiagnosticSeverity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: DiagnosticSeverity;
  readonly code: DiagnosticCode;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  readonly hint?: string;
}

/** `file:line:col: severity: message`, plus an indented `hint:` line when there is one. */
export function formatDiagnostic(d: Diagnostic): string {
  const head = `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
  return d.hint === undefined ? head : `${head}\n  hint: ${d.hint}`;
}

/** Orders diagnostics by position, errors before warnings at the same place. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.line !== b.line) return a.line - b.line;
  if (a.col !== b.col) return a.col - b.col;
  if (a.severity !== b.severity) return a.severity === 'error' ? -1 : 1;
  return 0;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/**
 * Collects diagnostics for one file. The parser and the loader share it so that every
 * problem carries the same file name and nothing stops at the first error.
 */
export class DiagnosticSink {
  readonly file: string;
  readonly items: Diagnostic[] = [];

  constructor(file: string) {
    this.file = file;
  }

  error(code: DiagnosticCode, at: SourcePosition, message: string, hint?: string): void {
    this.add('error', code, at, message, hint);
  }

  warning(code: DiagnosticCode, at: SourcePosition, message: string, hint?: string): void {
    this.add('warning', code, at, message, hint);
  }

  private add(severity: DiagnosticSeverity, code: DiagnosticCode, at: SourcePosition, message: string, hint?: string): void {
    const base = { severity, code, file: this.file, line: at.line, col: at.col, message };
    this.items.push(hint === undefined ? base : { ...base, hint });
  }
}

/**
 * Thrown by callers that prefer an exception (the daemon at start, SIGHUP reload) to a
 * diagnostics list. It carries every diagnostic, warnings included, in file order.
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const summary =
      first === undefined
        ? 'invalid configuration'
        : `${formatDiagnostic(first)}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ''}`;
    super(summary);
    this.name = 'ConfigError';
    this.diagnostics = Object.freeze([...diagnostics]);
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The known name nearest to `name` (small edit distance), for "did you mean" hints; null if none is close. */
export function closestName(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.min(3, Math.floor(name.length / 2) + 1);
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
