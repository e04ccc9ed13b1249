// A fixed-capacity FIFO (architecture.md §2.1.4: limits everywhere). `tryPush` is the
// backpressure form; `push` asserts, for queues whose bound is a protocol invariant.

import { assert } from './assert';

export class BoundedQueue<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    assert(Number.isInteger(capacity) && capacity > 0, 'queue capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  get isFull(): boolean {
    return this.count === this.capacity;
  }

  tryPush(item: T): boolean {
    if (this.count === this.capacity) return false;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return true;
  }

  push(item: T): void {
    assert(this.tryPush(item), `bounded queue overflow (capacity ${this.capacity})`);
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i += 1) yield this.items[(this.head + i) % this.capacity] as T;
  }
}
