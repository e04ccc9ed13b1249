// A checker finding. `invariant` names the row of testing.md §4.3 (T1…T14) or a
// simulator-level check (CODEC, CRASH, LIVENESS).

export interface Violation {
  readonly invariant: string;
  readonly message: string;
  readonly node?: number;
  readonly tick?: number;
}

export function violation(invariant: string, message: string, node?: number, tick?: number): Violation {
  const v: { invariant: string; message: string; node?: number; tick?: number } = { invariant, message };
  if (node !== undefined) v.node = node;
  if (tick !== undefined) v.tick = tick;
  return v;
}

export function formatViolation(v: Violation): string {
  const where = v.tick === undefined ? '' : ` @tick ${v.tick}`;
  return `[${v.invariant}]${where} ${v.message}`;
}
