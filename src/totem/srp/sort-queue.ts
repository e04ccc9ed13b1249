// The seq-indexed sliding window that holds ring messages until every member has them
// (corosync include/corosync/sq.h; corosync-wire.md §3.1, §3.9). One window of
// `size` slots starting at `headSeq`; seqs below headSeq have been released. Range
// checks use corosync's rollover-aware arithmetic so that behaviour near 0xFFFFFFFF
// matches a real node.

import { assert } from '../../base/assert';
import type { Mcast } from '../wire/messages';

const ROLLOVER_POINT = 0x80000000;
const ROLLOVER_VALUE = 0x10000;

export class SortQueue {
  private readonly items: (Mcast | undefined)[];
  private readonly missCounts: Uint32Array;
  private readonly mask: number;
  readonly size: number;
  /** Lowest seq the window can hold (everything below has been released). */
  headSeq = 0;

  constructor(size: number) {
    assert(size > 0 && (size & (size - 1)) === 0, 'sort queue size must be a power of two');
    this.size = size;
    this.mask = size - 1;
    this.items = new Array<Mcast | undefined>(size);
    this.missCounts = new Uint32Array(size);
  }

  /** sq_reinit: empty the window and restart it at `headSeq`. */
  reinit(headSeq: number): void {
    this.items.fill(undefined);
    this.missCounts.fill(0);
    this.headSeq = headSeq >>> 0;
  }

  /** sq_in_range: whether `seq` falls inside the current window. */
  inRange(seq: number): boolean {
    const s = seq >>> 0;
    if (this.headSeq > ROLLOVER_POINT) {
      const shiftedSeq = (s - ROLLOVER_VALUE) >>> 0;
      const shiftedHead = (this.headSeq - ROLLOVER_VALUE) >>> 0;
      return shiftedSeq >= shiftedHead && shiftedSeq < shiftedHead + this.size;
    }
    return s >= this.headSeq && s < this.headSeq + this.size;
  }

  get(seq: number): Mcast | undefined {
    return this.items[seq & this.mask];
  }

  has(seq: number): boolean {
    return this.items[seq & this.mask] !== undefined;
  }

  add(seq: number, message: Mcast): void {
    const slot = seq & this.mask;
    assert(this.items[slot] === undefined, `sort queue slot for seq ${seq} already in use`);
    this.items[slot] = message;
    this.missCounts[slot] = 0;
  }

  /** sq_item_miss_count: count one more token visit that found `seq` missing. */
  bumpMissCount(seq: number): number {
    const slot = seq & this.mask;
    const next = (this.missCounts[slot] ?? 0) + 1;
    this.missCounts[slot] = next;
    return next;
  }

  /** sq_items_release: free every seq from headSeq up to and including `upTo`. */
  release(upTo: number): void {
    const count = (upTo - this.headSeq + 1) >>> 0;
    assert(count <= this.size, `sort queue release of ${count} items exceeds the window`);
    for (let i = 0; i < count; i += 1) {
      const slot = (this.headSeq + i) & this.mask;
      this.items[slot] = undefined;
      this.missCounts[slot] = 0;
    }
    this.headSeq = (upTo + 1) >>> 0;
  }

  /** Number of stored messages (for whitebox checks; O(size)). */
  countStored(): number {
    let n = 0;
    for (const item of this.items) if (item !== undefined) n += 1;
    return n;
  }
}
