// CPG for Node programs, over carillond's IPC socket: one CpgClient is one libcpg handle
// (a local process with a pid) on its own connection. See src/client/index.ts for an
// example.
//
// Semantics are corosync's: join/leave/mcast take effect when the ring delivers them, in
// the same agreed order on every node; a member's first event in a group is the confchg
// that lists it; members are ordered (nodeId, pid); confchg reasons are CPG_REASON_*
// (join 1, leave 2, nodedown 3, nodeup 4, procdown 5). On top of libcpg:
//   - join/leave/mcast retry by themselves while the daemon answers 'try-again' (sync is
//     running) or 'full' (send queue full) or 'busy' (a previous leave/join of the group
//     is still in flight), with exponential backoff (1 ms doubling to 200 ms) for at most
//     `retry.timeoutMs` (default 10 s); then they reject with CPG_ERR_TRY_AGAIN;
//   - calls keep their order: messages go out in call order even when some had to wait;
//     mcasts are pipelined (up to `mcastWindow` in flight, src/client/mcast-pipeline.ts),
//     join/leave/finalize wait for the mcasts before them;
//   - events come through listeners (`on('deliver' | 'confchg' | 'totem-confchg')`) and/or
//     async iterators (`events()`), each with a bounded buffer (`bufferMax`, default
//     10000); an iterator that falls that far behind ends with CPG_ERR_BUFFER_OVERFLOW;
//   - close() (or the connection ending) finalizes the handle: the daemon sends PROCLEAVE
//     with reason procdown for every group, as when a libcpg client exits.
// Failures are CpgError (below) for what the CPG service refused, IpcClientError for the
// connection and the daemon's typed errors (CPG_ERR_BAD_HANDLE, IPC_UNAVAILABLE, ...).

import type { CpgEventJson, CpgGroupJson, CpgMemberChangeJson, CpgMemberJson, RingIdJson } from '../ipc/daemon-api';
import { IpcClient, type IpcConnectOptions, type IpcCpgDelivery } from './ipc-client';
import { McastPipeline } from './mcast-pipeline';

export const CpgErrorCode = {
  /** join: this handle (or another with the same pid) is already in the group. */
  exist: 'CPG_ERR_EXIST',
  /** join: the group name is empty or longer than 128 bytes. */
  badName: 'CPG_ERR_BAD_NAME',
  /** join: the handle is in as many groups as it may be. */
  tooManyGroups: 'CPG_ERR_TOO_MANY_GROUPS',
  /** leave / mcast: the handle is not (or no longer) in the group. */
  notJoined: 'CPG_ERR_NOT_EXIST',
  /** mcast: larger than libcpg's atomic limit. */
  tooLarge: 'CPG_ERR_TOO_LARGE',
  /** The handle was finalized. */
  finalized: 'CPG_ERR_BAD_HANDLE',
  /** Retries were exhausted (the daemon kept answering try-again / full / busy). */
  tryAgain: 'CPG_ERR_TRY_AGAIN',
  /** An events() iterator fell more than bufferMax events behind. */
  bufferOverflow: 'CPG_ERR_BUFFER_OVERFLOW',
  /** The connection to the daemon ended. */
  closed: 'CPG_ERR_CLOSED',
} as const;
export type CpgErrorCode = (typeof CpgErrorCode)[keyof typeof CpgErrorCode];

export class CpgError extends Error {
  readonly code: CpgErrorCode;
  /** The daemon's answer that led to the error, when there was one ('exists', 'full', ...). */
  readonly result: string | null;
  constructor(code: CpgErrorCode, message: string, result: string | null = null) {
    super(message);
    this.name = 'CpgError';
    this.code = code;
    this.result = result;
  }
}

export type CpgMember = CpgMemberJson;
export type CpgMemberChange = CpgMemberChangeJson;
export type CpgGroup = CpgGroupJson;

export interface CpgDeliverEvent {
  readonly type: 'deliver';
  readonly group: string;
  readonly nodeId: number;
  readonly pid: number;
  readonly payload: Buffer;
}

export interface CpgConfchgEvent {
  readonly type: 'confchg';
  readonly group: string;
  /** Members after the change, in corosync's order (nodeId, pid). */
  readonly members: readonly CpgMember[];
  readonly joined: readonly CpgMemberChange[];
  readonly left: readonly CpgMemberChange[];
}

export interface CpgTotemConfchgEvent {
  readonly type: 'totem-confchg';
  readonly ringId: RingIdJson;
  readonly members: readonly number[];
}

export type CpgClientEvent = CpgDeliverEvent | CpgConfchgEvent | CpgTotemConfchgEvent;

interface CpgEventMap {
  deliver: CpgDeliverEvent;
  confchg: CpgConfchgEvent;
  'totem-confchg': CpgTotemConfchgEvent;
}

export interface CpgRetryOptions {
  /** First wait after a try-again/full/busy answer (default 5 ms). */
  readonly initialDelayMs?: number;
  /** Longest wait between attempts (default 200 ms). */
  readonly maxDelayMs?: number;
  /** Give up (CPG_ERR_TRY_AGAIN) after this long (default 10 000 ms). */
  readonly timeoutMs?: number;
}

export interface CpgClientOptions extends IpcConnectOptions {
  /** The pid this process announces (default: one the daemon allocates). */
  readonly pid?: number;
  readonly retry?: CpgRetryOptions;
  /** Events an events() iterator may hold unread (default 10 000). */
  readonly bufferMax?: number;
  /** mcasts in flight at most (default 64; 1 = one round trip per message). */
  readonly mcastWindow?: number;
}

const DEFAULT_RETRY = { initialDelayMs: 1, maxDelayMs: 200, timeoutMs: 10_000 } as const;
const DEFAULT_MCAST_WINDOW = 64;
const DEFAULT_BUFFER_MAX = 10_000;
const RETRIED: ReadonlySet<string> = new Set(['try-again', 'full', 'busy']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A bounded async queue behind events(). */
class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  private ended = false;
  private failure: unknown = null;
  private readonly max: number;
  private readonly onEnd: () => void;

  constructor(max: number, onEnd: () => void) {
    this.max = max;
    this.onEnd = onEnd;
  }

  push(item: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: item, done: false });
      return;
    }
    if (this.items.length >= this.max) {
      this.fail(new CpgError(CpgErrorCode.bufferOverflow, `more than ${this.max} CPG events were not read; the iterator ended`));
      return;
    }
    this.items.push(item);
  }

  /** Ends after the buffered items; with an error, the error comes after them. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = error;
    this.finish();
  }

  end(): void {
    if (this.ended) return;
    this.finish();
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.ended) {
      if (this.failure !== null) {
        const failure = this.failure;
        this.failure = null;
        return Promise.reject(failure instanceof Error ? failure : new Error(String(failure)));
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.failure = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private finish(): void {
    this.ended = true;
    this.onEnd();
    for (const waiter of this.waiters.splice(0)) {
      if (this.failure !== null && this.items.length === 0) {
        const failure = this.failure;
        this.failure = null;
        waiter.reject(failure);
      } else waiter.resolve({ value: undefined, done: true });
    }
  }
}

/** One CPG handle on its own connection to carillond; see the file header. */
export class CpgClient {
  readonly ipc: IpcClient;
  /** The daemon's number for this handle (valid on this connection only). */
  readonly handle: number;
  /** The pid other members see for this process. */
  readonly pid: number;
  /** This node's id (cpg_local_get). */
  readonly nodeId: number;
  private readonly retry: Required<CpgRetryOptions>;
  private readonly bufferMax: number;
  private readonly listeners: { [K in keyof CpgEventMap]: Set<(event: CpgEventMap[K]) => void> } = {
    deliver: new Set(),
    confchg: new Set(),
    'totem-confchg': new Set(),
  };
  private readonly queues = new Set<EventQueue<CpgClientEvent>>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly pipeline: McastPipeline;
  private finalized = false;

  private constructor(ipc: IpcClient, init: { handle: number; pid: number; nodeId: number }, options: CpgClientOptions) {
    this.ipc = ipc;
    this.handle = init.handle;
    this.pid = init.pid;
    this.nodeId = init.nodeId;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.bufferMax = options.bufferMax ?? DEFAULT_BUFFER_MAX;
    this.pipeline = new McastPipeline({
      window: options.mcastWindow ?? DEFAULT_MCAST_WINDOW,
      ...this.retry,
      send: (payload, group, seq) => this.ipc.cpgMcast({ handle: this.handle, group, payload, seq }),
      failure: (answer, bytes, group, waitedMs) => {
        if (answer === 'too-large') return new CpgError(CpgErrorCode.tooLarge, `a message of ${bytes} bytes is too large`, answer);
        if (answer === 'not-joined') return new CpgError(CpgErrorCode.notJoined, `not in group ${group}`, answer);
        return new CpgError(CpgErrorCode.tryAgain, `mcast to ${group}: carillond still answers '${answer}' after ${Math.round(waitedMs)} ms`, answer);
      },
    });
    void ipc.closed.then((reason) => {
      this.finalized = true;
      const error = new CpgError(CpgErrorCode.closed, reason === null ? 'the CPG client was closed' : `the connection to carillond ended: ${reason.message}`);
      this.pipeline.failAll(error);
      for (const queue of [...this.queues]) {
        if (reason === null) queue.end();
        else queue.fail(error);
      }
    });
  }

  /** Connects, subscribes to this connection's CPG events and initializes a handle. */
  static async connect(socketPath: string, options: CpgClientOptions = {}): Promise<CpgClient> {
    // Binary frames unless the caller says otherwise: hex and JSON cost more than the ring does.
    const ipc = await IpcClient.connect(socketPath, { ...options, binaryCpg: options.binaryCpg ?? true, clientName: options.clientName ?? 'carillon-cpg-client' });
    try {
      let client: CpgClient | null = null;
      const early: Array<CpgEventJson | IpcCpgDelivery> = [];
      ipc.onCpgDeliver((event) => {
        if (client === null) early.push(event);
        else client.receiveDelivery(event);
      });
      await ipc.subscribe('cpg', (event) => {
        if (client === null) early.push(event);
        else client.receive(event);
      });
      const init = await ipc.call('cpg.initialize', options.pid === undefined ? {} : { pid: options.pid });
      client = new CpgClient(ipc, init, options);
      for (const event of early) {
        if ('event' in event) client.receive(event);
        else client.receiveDelivery(event);
      }
      return client;
    } catch (e) {
      await ipc.close().catch(() => undefined);
      throw e;
    }
  }

  /** Joins a group; resolves once the join is queued (the confchg listing this process follows). */
  join(group: string): Promise<void> {
    return this.serial(async () => {
      const result = await this.retrying(`join ${group}`, async () => (await this.ipc.call('cpg.join', { handle: this.handle, group })).result);
      switch (result) {
        case 'queued':
          return;
        case 'exists':
          throw new CpgError(CpgErrorCode.exist, `already in group ${group}`, result);
        case 'bad-name':
          throw new CpgError(CpgErrorCode.badName, `invalid group name ${JSON.stringify(group)} (1..128 bytes)`, result);
        case 'too-many':
          throw new CpgError(CpgErrorCode.tooManyGroups, `cannot join ${group}: too many groups`, result);
        default:
          throw new CpgError(CpgErrorCode.finalized, `cannot join ${group}: the handle is finalized`, result);
      }
    });
  }

  /** Leaves a group; resolves once the leave is queued (this process then gets the confchg listing it as left). */
  leave(group: string): Promise<void> {
    return this.serial(async () => {
      const result = await this.retrying(`leave ${group}`, async () => (await this.ipc.call('cpg.leave', { handle: this.handle, group })).result);
      if (result === 'queued') return;
      if (result === 'not-joined') throw new CpgError(CpgErrorCode.notJoined, `not in group ${group}`, result);
      throw new CpgError(CpgErrorCode.finalized, `cannot leave ${group}: the handle is finalized`, result);
    });
  }

  /**
   * Multicasts to a group this process joined (or is joining); text is sent as UTF-8.
   * Resolves once the daemon queued it for the ring; several may be pending at once.
   */
  mcast(group: string, payload: Uint8Array | string): Promise<void> {
    // A copy of caller-owned bytes: the message is sent later, and the caller may reuse its buffer.
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Uint8Array.prototype.slice.call(payload);
    return this.chain.then(() => this.pipeline.push(group, bytes));
  }

  /** Members of any group as this node knows them (cpg_membership_get). */
  async membership(group: string): Promise<CpgMember[]> {
    return (await this.ipc.call('cpg.membership', { group })).members;
  }

  /** Every group with members, by name (corosync-cpgtool). */
  async groups(): Promise<CpgGroup[]> {
    return (await this.ipc.call('cpg.groups')).groups;
  }

  on<K extends keyof CpgEventMap>(type: K, listener: (event: CpgEventMap[K]) => void): () => void {
    const set = this.listeners[type] as Set<(event: CpgEventMap[K]) => void>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Every event from now on, in order; ends when the client closes (see bufferMax). */
  events(): AsyncIterableIterator<CpgClientEvent> {
    const queue: EventQueue<CpgClientEvent> = new EventQueue(this.bufferMax, () => this.queues.delete(queue));
    if (this.finalized) queue.end();
    else this.queues.add(queue);
    return queue;
  }

  /** cpg_finalize: leaves every group (reason procdown); the connection stays open. Idempotent. */
  async finalize(): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    await this.chain.catch(() => undefined);
    await this.pipeline.drained();
    try {
      await this.ipc.call('cpg.finalize', { handle: this.handle });
    } finally {
      for (const queue of [...this.queues]) queue.end();
    }
  }

  /** Finalizes (best effort) and closes the connection. */
  async close(): Promise<void> {
    await this.finalize().catch(() => undefined);
    await this.ipc.close();
  }

  private receiveDelivery(event: IpcCpgDelivery): void {
    if (event.handle !== this.handle) return;
    this.pipeline.nudge();
    this.emit({ type: 'deliver', group: event.group, nodeId: event.nodeId, pid: event.pid, payload: event.payload });
  }

  private receive(event: CpgEventJson): void {
    if (event.handle !== this.handle) return;
    this.pipeline.nudge();
    let converted: CpgClientEvent;
    switch (event.event) {
      case 'deliver':
        converted = { type: 'deliver', group: event.group, nodeId: event.nodeId, pid: event.pid, payload: Buffer.from(event.payloadHex, 'hex') };
        break;
      case 'confchg':
        converted = { type: 'confchg', group: event.group, members: event.members, joined: event.joined, left: event.left };
        break;
      case 'totem-confchg':
        converted = { type: 'totem-confchg', ringId: event.ringId, members: event.members };
        break;
      default:
        return;
    }
    this.emit(converted);
  }

  private emit(converted: CpgClientEvent): void {
    const set = this.listeners[converted.type] as Set<(e: CpgClientEvent) => void>;
    for (const listener of [...set]) listener(converted);
    for (const queue of [...this.queues]) queue.push(converted);
  }

  /** Runs calls one after the other (after the mcasts before them), so retried ones keep their place. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => this.pipeline.drained()).then(task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async retrying<R extends string>(what: string, attempt: () => Promise<R>): Promise<R> {
    const deadline = Date.now() + this.retry.timeoutMs;
    let delay = this.retry.initialDelayMs;
    for (;;) {
      const result = await attempt();
      if (!RETRIED.has(result)) return result;
      if (Date.now() + delay > deadline) {
        throw new CpgError(CpgErrorCode.tryAgain, `${what}: carillond still answers '${result}' after ${this.retry.timeoutMs} ms`, result);
      }
      await sleep(delay);
      delay = Math.min(this.retry.maxDelayMs, delay * 2);
    }
  }
}
