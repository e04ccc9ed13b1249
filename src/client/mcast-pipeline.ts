// The CPG client's multicast pipeline (architecture.md §2.8; the cpg.mcast `seq` rule in
// src/ipc/protocol.ts). libcpg's cpg_mcast_joined costs a few microseconds over shared
// memory, so corosync clients send one message after the other; over a socket one round
// trip per message would cap a sender at a few thousand messages a second. So up to
// `window` mcasts are in flight at once, numbered with `seq`, and the daemon's go-back-N
// rule keeps them in order when one is refused: the refused message and everything sent
// after it come back 'try-again', and once the in-flight answers are in, they are sent
// again from the refused one, after a backoff. A full send queue frees at the next token
// visit, which is also when this process's deliveries come: so for the first
// fastRetryWindowMs of refusals the retry waits initialDelayMs or until nudge() (the
// client calls it on every CPG event), whichever is first — as corosync's cpgload polls
// its dispatch fd for up to 1 ms before retrying. Refusals that last longer (a sync, a
// ring that lost a member) back off doubling up to maxDelayMs. A message whose refusals
// last longer than timeoutMs is rejected with CPG_ERR_TRY_AGAIN.
//
// Answers on one connection come back in request order, so the in-flight list is a FIFO
// and each answer belongs to its head.

import { assert } from '../base/assert';

export type McastAnswer = 'queued' | 'full' | 'try-again' | 'not-joined' | 'too-large';

export interface McastPipelineOptions {
  /** Sends one message with its seq; resolves with the daemon's answer. */
  readonly send: (payload: Uint8Array, group: string, seq: number) => Promise<McastAnswer>;
  /** Messages in flight at most. */
  readonly window: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** How long refusals are retried at initialDelayMs (and on nudge) before backing off; default 50. */
  readonly fastRetryWindowMs?: number;
  /** Monotonic milliseconds; default performance.now (tests pass a fake clock). */
  readonly now?: () => number;
  readonly timeoutMs: number;
  /** The error for a final answer other than 'queued' (or for retries exhausted). */
  readonly failure: (answer: McastAnswer, bytes: number, group: string, waitedMs: number) => Error;
}

interface Entry {
  readonly group: string;
  readonly payload: Uint8Array;
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** When the daemon first refused this message (performance.now()), or null. */
  refusedAtMs: number | null;
}

export class McastPipeline {
  private readonly options: McastPipelineOptions;
  private waiting: Entry[] = [];
  private waitingHead = 0;
  private readonly inflight: Entry[] = [];
  private inflightHead = 0;
  /** Answers of the current burst that must be sent again, in order. */
  private resend: Entry[] = [];
  private refusing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The pending retry may be brought forward by nudge(). */
  private retryIsFast = false;
  /** When the current run of refusals began (performance.now()), or null. */
  private refusingSinceMs: number | null = null;
  private delayMs: number;
  private nextSeq = 0;
  private idleWaiters: Array<() => void> = [];

  private readonly now: () => number;

  constructor(options: McastPipelineOptions) {
    assert(options.window >= 1, 'the mcast window must be at least 1');
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.delayMs = options.initialDelayMs;
  }

  /** Queues one message; resolves when the daemon has queued it for the ring. */
  push(group: string, payload: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ group, payload, seq: this.nextSeq, resolve, reject, refusedAtMs: null });
      this.nextSeq = (this.nextSeq + 1) >>> 0;
      this.pump();
    });
  }

  /** Nothing waiting, in flight or being retried. */
  get idle(): boolean {
    return this.waitingHead === this.waiting.length && this.inflightHead === this.inflight.length && this.resend.length === 0 && this.retryTimer === null;
  }

  /** Resolves once the pipeline is idle (join/leave/finalize keep their place after mcasts). */
  drained(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Something came from the daemon (a delivery, a confchg): a token has visited, so a
   * queue that was full may have room. Retries now if a fast retry is pending.
   */
  nudge(): void {
    if (this.retryTimer === null || !this.retryIsFast) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.pump();
  }

  /** Rejects everything not yet answered (the connection ended). */
  failAll(error: unknown): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const entries = [...this.inflight.slice(this.inflightHead), ...this.resend, ...this.waiting.slice(this.waitingHead)];
    this.inflight.length = 0;
    this.inflightHead = 0;
    this.resend = [];
    this.waiting = [];
    this.waitingHead = 0;
    this.refusing = false;
    for (const entry of entries) entry.reject(error);
    this.notifyIdle();
  }

  private pump(): void {
    if (this.refusing || this.retryTimer !== null) return;
    while (this.inflight.length - this.inflightHead < this.options.window && this.waitingHead < this.waiting.length) {
      const entry = this.waiting[this.waitingHead] as Entry;
      this.waitingHead += 1;
      this.inflight.push(entry);
      this.options.send(entry.payload, entry.group, entry.seq).then(
        (answer) => this.answered(entry, answer),
        (error: unknown) => this.answered(entry, error instanceof Error ? error : new Error(String(error))),
      );
    }
    if (this.waitingHead === this.waiting.length && this.waitingHead > 0) {
      this.waiting = [];
      this.waitingHead = 0;
    }
  }

  private answered(entry: Entry, answer: McastAnswer | Error): void {
    const head = this.inflight[this.inflightHead];
    if (head !== entry) {
      // Only failAll() empties the list under an answer in flight.
      entry.reject(answer instanceof Error ? answer : new Error(`cpg.mcast answered '${answer}' after the pipeline was reset`));
      return;
    }
    this.inflightHead += 1;
    if (this.inflightHead === this.inflight.length) {
      this.inflight.length = 0;
      this.inflightHead = 0;
    }
    if (answer instanceof Error) entry.reject(answer);
    else if (answer === 'full' || answer === 'try-again') {
      const now = this.now();
      if (entry.refusedAtMs === null) entry.refusedAtMs = now;
      this.refusing = true;
      if (now - entry.refusedAtMs > this.options.timeoutMs) {
        entry.reject(this.options.failure(answer, entry.payload.length, entry.group, now - entry.refusedAtMs));
      } else this.resend.push(entry);
    } else if (answer === 'queued') {
      entry.resolve();
      if (!this.refusing) {
        this.delayMs = this.options.initialDelayMs;
        this.refusingSinceMs = null;
      }
    } else entry.reject(this.options.failure(answer, entry.payload.length, entry.group, 0));
    if (this.inflightHead === this.inflight.length) this.burstDone();
  }

  /** Every answer of the burst is in: send the refused ones again after the backoff. */
  private burstDone(): void {
    if (!this.refusing) {
      this.pump();
      this.notifyIdle();
      return;
    }
    this.refusing = false;
    const again = this.resend;
    this.resend = [];
    if (again.length === 0) {
      this.pump();
      this.notifyIdle();
      return;
    }
    this.waiting = [...again, ...this.waiting.slice(this.waitingHead)];
    this.waitingHead = 0;
    const now = this.now();
    this.refusingSinceMs ??= now;
    let delayMs: number;
    if (now - this.refusingSinceMs < (this.options.fastRetryWindowMs ?? 50)) {
      delayMs = this.options.initialDelayMs;
      this.retryIsFast = true;
    } else {
      delayMs = this.delayMs;
      this.delayMs = Math.min(this.options.maxDelayMs, this.delayMs * 2);
      this.retryIsFast = false;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, delayMs);
  }

  private notifyIdle(): void {
    if (!this.idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
