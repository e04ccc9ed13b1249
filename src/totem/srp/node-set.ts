// Set algebra over nodeid lists as totemsrp uses it for proc, failed, member and
// transitional lists (corosync memb_set_*; corosync-wire.md §3.2). Lists are kept sorted
// ascending and duplicate-free so that every message we build is deterministic.

export type NodeList = readonly number[];

export function normalize(list: NodeList): number[] {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted.filter((n, i) => i === 0 || n !== sorted[i - 1]);
}

export function contains(list: NodeList, nodeId: number): boolean {
  return list.includes(nodeId);
}

/** memb_set_merge: the union, sorted. */
export function union(a: NodeList, b: NodeList): number[] {
  return normalize([...a, ...b]);
}

/** memb_set_subtract: members of `a` not in `b`, in `a`'s order. */
export function subtract(a: NodeList, b: NodeList): number[] {
  return a.filter((n) => !b.includes(n));
}

/**
 * memb_set_subset: every member of `a` is in `b`. Like corosync it first compares the
 * entry counts, which only matters for lists with duplicates received from a peer.
 */
export function isSubset(a: NodeList, b: NodeList): boolean {
  return a.length <= b.length && a.every((n) => b.includes(n));
}

/** memb_set_equal: equal entry counts and every member of `b` in `a`. */
export function setEquals(a: NodeList, b: NodeList): boolean {
  return a.length === b.length && b.every((n) => a.includes(n));
}
