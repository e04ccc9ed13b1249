// Sequence-number comparison exactly as corosync include/corosync/sq.h
// (corosync-wire.md §2.1). It is not a plain unsigned compare: when either side is
// above 0x80000000 both are shifted down by 0x10000 (u32 arithmetic) first. This is
// what makes the initial token aru 0xFFFFFFFF compare below seq 0.

const HALF = 0x80000000;
const SHIFT = 0x10000;

function shifted(a: number, b: number): [number, number] {
  if (a > HALF || b > HALF) return [(a - SHIFT) >>> 0, (b - SHIFT) >>> 0];
  return [a, b];
}

/** `sq_lt_compare`: a < b in corosync's rollover-aware sense. */
export function seqLt(a: number, b: number): boolean {
  const [x, y] = shifted(a >>> 0, b >>> 0);
  return x < y;
}

/** `sq_lte_compare`: a <= b in corosync's rollover-aware sense. */
export function seqLte(a: number, b: number): boolean {
  const [x, y] = shifted(a >>> 0, b >>> 0);
  return x <= y;
}

/** u32 increment with wrap-around. */
export function seqInc(a: number, by = 1): number {
  return (a + by) >>> 0;
}

/** u32 distance b - a with wrap-around (how far b is ahead of a). */
export function seqDistance(a: number, b: number): number {
  return (b - a) >>> 0;
}
