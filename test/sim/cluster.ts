// SimCluster: N Totem nodes on one virtual clock (testing.md §4.2). One global tick
// loop; per tick: advance partitions and clogs, resume nodes whose pause ended, deliver
// due packets (frames before timers, as the real driver does, architecture.md §2.4),
// then tick every running node. After every input the node's effects are drained in
// contract order: persist → send → events.
//
// Node faults: crash (volatile state lost, ring seq kept in a MemoryRingIdStore,
// optionally losing its last write), restart (a new TotemNode with restoredRingSeq),
// pause (no ticks; inbound packets wait in the network up to the path capacity and
// arrive stale), orderly leave, and per-node clock skew (tick-rate jitter).
//
// Everything a node does lands in its per-incarnation log (history.ts); the whitebox
// monitors (T14) watch sends and status() as they happen.

import { createHash, type Hash } from 'node:crypto';
import { Prng } from '../../src/base/prng';
import type { TotemConfig } from '../../src/totem/config';
import type { TotemEffects, TotemEvent, TotemStatus, TraceEvent, TraceSink } from '../../src/totem/srp/types';
import { type TotemMessage, ringIdKey } from '../../src/totem/wire/messages';
import { type LastRegular, StatusMonitor, WireMonitor } from './checkers/whitebox';
import { type Violation, violation } from './checkers/violation';
import type { History, IncarnationLog } from './history';
import { type Disposition, SimNetwork, type SimNetworkOptions } from './network';
import { decodePayload, encodePayload, msgKey, payloadBody, payloadDigest } from './payload';
import { summarizeMessage } from './summary';

/** The TotemNode API the simulator drives (src/totem/srp/totem-node.ts). */
export interface SimNode {
  start(): void;
  tick(): void;
  receive(message: TotemMessage): void;
  submit(payload: Uint8Array): 'queued' | 'full';
  transAck(): void;
  leave(): void;
  takeEffects(): TotemEffects | null;
  status(): TotemStatus;
}

export interface NodeInit {
  readonly nodeId: number;
  readonly nodelist: readonly number[];
  readonly config: TotemConfig;
  readonly restoredRingSeq: bigint;
  readonly prng: Prng;
  readonly trace?: TraceSink;
}

export type NodeFactory = (init: NodeInit) => SimNode;

/**
 * Something riding on one node incarnation (the service stack of services mode): it takes
 * the node's events after the harness logged them, ticks with the node, and is dropped
 * when the incarnation ends. With an attachment the harness never calls transAck(): the
 * attachment does (a ServiceHost acknowledges the transition when sync completes).
 */
export interface NodeAttachment {
  /** One effects batch's events, strictly in order. */
  events(events: readonly TotemEvent[]): void;
  /** One tick of this node's clock, right after the node's own tick. */
  tick(): void;
  /** The incarnation ended (crash, leave, or a thrown assertion). */
  stop?(): void;
}

export type AttachFactory = (node: SimNode, init: NodeInit, inc: number) => NodeAttachment;

/** The ring-id store of one node: survives crashes; can lose its last write on request. */
export class MemoryRingIdStore {
  private value = 0n;
  private previous = 0n;
  writes = 0;

  load(): bigint {
    return this.value;
  }

  store(seq: bigint): void {
    this.previous = this.value;
    this.value = seq;
    this.writes++;
  }

  /** Storage fault: the most recent write never reached the disk. */
  loseLastWrite(): void {
    this.value = this.previous;
  }
}

export interface SimClusterOptions {
  readonly nodeIds: readonly number[];
  readonly config: TotemConfig;
  readonly network: SimNetworkOptions;
  readonly seed: number;
  readonly nodeFactory: NodeFactory;
  /** Tick rate per node (1 = nominal; 1.05 = 5 % fast). Missing nodes run at 1. */
  readonly clockRates?: ReadonlyMap<number, number>;
  /** Sample status() every this many ticks (0 = never). */
  readonly statusEvery?: number;
  /** Keep a SHA-256 over every effect and event (determinism tests). */
  readonly digest?: boolean;
  /** NDJSON-ready trace records (sends, receives, events, faults, node trace). */
  readonly trace?: (record: Record<string, unknown>) => void;
  /** Whether the network re-encodes every decoded packet to compare bytes. */
  readonly verifyReencode?: boolean;
  /** Builds an attachment (services mode) for every incarnation; see NodeAttachment. */
  readonly attach?: AttachFactory;
}

interface Slot {
  readonly id: number;
  readonly store: MemoryRingIdStore;
  node: SimNode | null;
  attachment: NodeAttachment | null;
  inc: number;
  log: IncarnationLog | null;
  lastRegular: LastRegular | null;
  pausedUntil: number;
  rate: number;
  rateAcc: number;
  counter: number;
  joinSends: number;
}

const DRAIN_ROUNDS_MAX = 10_000;

export class SimCluster {
  readonly options: SimClusterOptions;
  readonly network: SimNetwork;
  readonly history: History = { incarnations: [] };
  /** Harness-level findings: thrown assertions, codec errors, contract breaches. */
  readonly violations: Violation[] = [];
  readonly wire: WireMonitor;
  readonly statusMonitor: StatusMonitor;
  now = 0;
  /** JOIN datagrams sent so far (before fan-out), for the join-storm meter. */
  joinSends = 0;

  private readonly slots = new Map<number, Slot>();
  private readonly prng: Prng;
  private readonly workloadPrng: Prng;
  private readonly hash: Hash | null;

  constructor(options: SimClusterOptions) {
    this.options = options;
    this.prng = new Prng(options.seed);
    const networkPrng = this.prng.fork();
    this.workloadPrng = this.prng.fork();
    this.network = new SimNetwork(options.nodeIds, options.network, networkPrng, undefined, options.verifyReencode ?? true);
    this.wire = new WireMonitor(options.config.retransmitEntriesMax);
    this.statusMonitor = new StatusMonitor(options.config);
    this.hash = options.digest === true ? createHash('sha256') : null;
    for (const id of options.nodeIds) {
      this.slots.set(id, {
        id, store: new MemoryRingIdStore(), node: null, attachment: null, inc: -1, log: null, lastRegular: null,
        pausedUntil: 0, rate: options.clockRates?.get(id) ?? 1, rateAcc: 0, counter: 0, joinSends: 0,
      });
    }
    const trace = options.trace;
    if (trace !== undefined) this.network.onTrace = (e) => trace({ ...e });
  }

  get nodeIds(): readonly number[] {
    return this.options.nodeIds;
  }

  /** SHA-256 over every effect and event so far (only with `digest: true`). */
  digest(): string {
    if (this.hash === null) throw new Error('digest not enabled');
    return this.hash.copy().digest('hex');
  }

  isRunning(id: number): boolean {
    return this.slot(id).node !== null;
  }

  isPaused(id: number): boolean {
    const s = this.slot(id);
    return s.node !== null && s.pausedUntil > this.now;
  }

  /** Running and not paused. */
  isActive(id: number): boolean {
    const s = this.slot(id);
    return s.node !== null && s.pausedUntil <= this.now;
  }

  status(id: number): TotemStatus | null {
    const s = this.slot(id);
    return s.node === null ? null : this.guard(s, 'status', (n) => n.status()) ?? null;
  }

  currentLog(id: number): IncarnationLog | null {
    return this.slot(id).log;
  }

  lastRegular(id: number): LastRegular | null {
    return this.slot(id).lastRegular;
  }

  /** JOIN datagrams node `id` has sent, over all its incarnations. */
  joinSendsOf(id: number): number {
    return this.slot(id).joinSends;
  }

  storedRingSeq(id: number): bigint {
    return this.slot(id).store.load();
  }

  /** Starts (or restarts) a node as a new incarnation. */
  start(id: number): void {
    const s = this.slot(id);
    if (s.node !== null) throw new Error(`node ${id} is already running`);
    s.inc++;
    s.counter = 0;
    s.lastRegular = null;
    s.pausedUntil = 0;
    s.rateAcc = 0;
    const restoredRingSeq = s.store.load();
    s.log = { node: id, inc: s.inc, startTick: this.now, restoredRingSeq, end: null, entries: [] };
    this.history.incarnations.push(s.log);
    const trace = this.options.trace;
    const init: NodeInit = {
      nodeId: id,
      nodelist: this.options.nodeIds,
      config: this.options.config,
      restoredRingSeq,
      prng: new Prng(this.prng.nextU32()),
      ...(trace === undefined ? {} : { trace: (e: TraceEvent) => trace({ t: this.now, ev: 'node', ...e }) }),
    };
    this.record({ t: this.now, ev: 'start', node: id, inc: s.inc, restoredRingSeq: restoredRingSeq.toString() });
    try {
      s.node = this.options.nodeFactory(init);
    } catch (e) {
      this.nodeThrew(s, 'constructor', e);
      return;
    }
    const attach = this.options.attach;
    if (attach !== undefined) {
      s.attachment = this.guard(s, 'attach', (n) => attach(n, init, s.inc)) ?? null;
      if (s.node === null) return;
    }
    this.guard(s, 'start', (n) => n.start());
    this.drain(s);
  }

  startAll(): void {
    for (const id of this.options.nodeIds) this.start(id);
  }

  crash(id: number, loseLastWrite = false): void {
    const s = this.slot(id);
    if (s.node === null) return;
    this.record({ t: this.now, ev: 'crash', node: id, inc: s.inc, loseLastWrite });
    this.stop(s, 'crash');
    if (loseLastWrite) s.store.loseLastWrite();
  }

  /** Orderly shutdown: the node multicasts its LEAVE, then counts as stopped. */
  leave(id: number): void {
    const s = this.slot(id);
    if (s.node === null) return;
    this.record({ t: this.now, ev: 'leave', node: id, inc: s.inc });
    this.guard(s, 'leave', (n) => n.leave());
    this.drain(s);
    this.stop(s, 'leave');
  }

  pause(id: number, ticks: number): void {
    const s = this.slot(id);
    if (s.node === null || ticks <= 0) return;
    s.pausedUntil = Math.max(s.pausedUntil, this.now + ticks);
    s.log?.entries.push({ k: 'pause', tick: this.now, ticks });
    this.record({ t: this.now, ev: 'pause', node: id, until: s.pausedUntil });
  }

  unpause(id: number): void {
    const s = this.slot(id);
    if (s.pausedUntil > this.now) s.pausedUntil = this.now;
  }

  setClockRate(id: number, rate: number): void {
    this.slot(id).rate = rate;
  }

  /** Submits one workload message with a fresh id; logs it if the node queued it. */
  submit(id: number, body: number | Uint8Array): 'queued' | 'full' | 'down' {
    const s = this.slot(id);
    if (s.node === null || s.pausedUntil > this.now || s.log === null) return 'down';
    const msg = { origin: id, inc: s.inc, counter: s.counter };
    const payload = encodePayload(msg, body, this.workloadPrng);
    const result = this.guard(s, 'submit', (n) => n.submit(payload));
    if (result === undefined) return 'down';
    if (result === 'queued') {
      s.counter++;
      s.log.entries.push({ k: 'submit', tick: this.now, msg: msgKey(msg), digest: payloadDigest(payload) });
      this.record({ t: this.now, ev: 'submit', node: id, msg: msgKey(msg) });
    }
    this.hashUpdate(`submit ${id} ${result}`);
    this.drain(s);
    return result;
  }

  /**
   * Runs `f` against a running node from outside the tick loop (a client request to its
   * services), then drains its effects; a throw counts as the node's (THROW, node stops).
   */
  act<T>(id: number, what: string, f: () => T): T | undefined {
    const s = this.slot(id);
    if (s.node === null) return undefined;
    const result = this.guard(s, what, () => f());
    this.drain(s);
    return result;
  }

  /** One tick of virtual time. */
  step(): void {
    this.now++;
    const now = this.now;
    this.network.tick(now);
    const deliveries = this.network.takeDue(now, (id) => this.disposition(id));
    for (const d of deliveries) {
      const s = this.slot(d.to);
      if (s.node === null) continue;
      if (this.options.trace !== undefined) this.record({ t: now, ev: 'recv', from: d.from, to: d.to, ...summarizeMessage(d.message) });
      this.guard(s, 'receive', (n) => n.receive(d.message));
      this.drain(s);
    }
    for (const s of this.slots.values()) {
      if (s.node === null || s.pausedUntil > now) continue;
      s.rateAcc += s.rate;
      while (s.rateAcc >= 1 && s.node !== null) {
        s.rateAcc -= 1;
        this.guard(s, 'tick', (n) => n.tick());
        this.drain(s);
        const a = s.attachment;
        if (a !== null && s.node !== null) {
          this.guard(s, 'services tick', () => a.tick());
          this.drain(s);
        }
      }
    }
    const every = this.options.statusEvery ?? 1;
    if (every > 0 && now % every === 0) this.checkStatus();
    if (this.network.codecErrors.length > 0) {
      for (const m of this.network.codecErrors.splice(0)) this.addViolation(violation('CODEC', m, undefined, now));
    }
  }

  run(ticks: number, each?: () => void): void {
    for (let i = 0; i < ticks; i++) {
      this.step();
      each?.();
    }
  }

  /** Harness, wire and status findings so far. */
  allOnlineViolations(): Violation[] {
    return [...this.violations, ...this.wire.violations, ...this.statusMonitor.violations];
  }

  private checkStatus(): void {
    for (const s of this.slots.values()) {
      if (s.node === null || s.log === null) continue;
      const st = this.guard(s, 'status', (n) => n.status());
      if (st !== undefined) this.statusMonitor.observe(s.id, s.inc, st, s.lastRegular, this.now);
    }
  }

  private disposition(id: number): Disposition {
    const s = this.slots.get(id);
    if (s === undefined || s.node === null) return 'drop';
    return s.pausedUntil > this.now ? 'hold' : 'receive';
  }

  private stop(s: Slot, kind: 'crash' | 'leave'): void {
    s.node = null;
    const a = s.attachment;
    s.attachment = null;
    if (a !== null) {
      try {
        a.stop?.();
      } catch (e) {
        this.addViolation(violation('THROW', `node ${s.id}#${s.inc} attachment threw in stop(): ${errorText(e)}`, s.id, this.now));
      }
    }
    if (s.log !== null) s.log.end = { kind, tick: this.now };
    s.pausedUntil = 0;
  }

  private drain(s: Slot): void {
    for (let round = 0; round < DRAIN_ROUNDS_MAX; round++) {
      if (s.node === null) return;
      const fx = this.guard(s, 'takeEffects', (n) => n.takeEffects());
      if (fx === undefined || fx === null) return;
      this.apply(s, fx);
    }
    this.addViolation(violation('HARNESS', `node ${s.id} produced effects ${DRAIN_ROUNDS_MAX} times in a row`, s.id, this.now));
  }

  private apply(s: Slot, fx: TotemEffects): void {
    const now = this.now;
    if (fx.persistRingSeq !== null) {
      if (fx.persistRingSeq < s.store.load()) {
        this.addViolation(violation('T5', `node ${s.id}#${s.inc} persisted ring seq ${fx.persistRingSeq} below the `
          + `stored ${s.store.load()}`, s.id, now));
      }
      s.store.store(fx.persistRingSeq);
      this.record({ t: now, ev: 'persist', node: s.id, seq: fx.persistRingSeq.toString() });
      this.hashUpdate(`persist ${s.id} ${fx.persistRingSeq}`);
    }
    for (const send of fx.sends) {
      if (send.message.type === 'join') {
        this.joinSends++;
        s.joinSends++;
      }
      this.wire.observeSend(s.id, send.message, s.store.load(), now);
      if (this.options.trace !== undefined) this.record({ t: now, ev: 'send', from: s.id, to: send.to, ...summarizeMessage(send.message) });
      if (this.hash !== null) this.hashUpdate(`send ${s.id} ${send.to} ${stableJson(send.message)}`);
      try {
        this.network.send(s.id, send.to, send.message, now);
      } catch (e) {
        this.addViolation(violation('CODEC', `node ${s.id} sent a ${send.message.type} the codec refused: ${errorText(e)}`, s.id, now));
      }
    }
    for (const ev of fx.events) {
      const log = s.log;
      if (log === null) break;
      if (ev.kind === 'deliver') {
        const decoded = decodePayload(ev.payload);
        const msg = decoded.id === null ? null : msgKey(decoded.id);
        const digest = payloadDigest(ev.payload);
        log.entries.push({ k: 'deliver', tick: now, ring: ev.ringId, seq: ev.seq, sender: ev.sender, msg, digest, intact: decoded.ok });
        if (this.options.trace !== undefined) {
          this.record({ t: now, ev: 'deliver', node: s.id, ring: ringIdKey(ev.ringId), seq: ev.seq, sender: ev.sender, msg,
            ...bodyText(ev.payload) });
        }
        this.hashUpdate(`deliver ${s.id} ${ringIdKey(ev.ringId)} ${ev.seq} ${ev.sender} ${digest}`);
      } else {
        log.entries.push({ k: 'conf', tick: now, type: ev.type, ring: ev.ringId, members: [...ev.members], left: [...ev.left], joined: [...ev.joined] });
        this.record({ t: now, ev: 'confchg', node: s.id, type: ev.type, ring: ringIdKey(ev.ringId), members: ev.members, left: ev.left, joined: ev.joined });
        this.hashUpdate(`confchg ${s.id} ${ev.type} ${ringIdKey(ev.ringId)} ${ev.members.join(',')} ${ev.left.join(',')} ${ev.joined.join(',')}`);
        if (ev.type === 'regular') {
          s.lastRegular = { ring: ev.ringId, members: [...ev.members] };
          if (s.attachment === null) this.guard(s, 'transAck', (n) => n.transAck());
        }
      }
    }
    const a = s.attachment;
    if (a !== null && fx.events.length > 0 && s.log !== null) this.guard(s, 'services', () => a.events(fx.events));
  }

  private guard<T>(s: Slot, what: string, f: (n: SimNode) => T): T | undefined {
    const node = s.node;
    if (node === null) return undefined;
    try {
      return f(node);
    } catch (e) {
      this.nodeThrew(s, what, e);
      return undefined;
    }
  }

  private nodeThrew(s: Slot, what: string, e: unknown): void {
    this.addViolation(violation('THROW', `node ${s.id}#${s.inc} threw in ${what}(): ${errorText(e)}`, s.id, this.now));
    this.record({ t: this.now, ev: 'throw', node: s.id, what, error: errorText(e) });
    this.stop(s, 'crash');
  }

  private addViolation(v: Violation): void {
    if (this.violations.length < 50) this.violations.push(v);
  }

  private record(r: Record<string, unknown>): void {
    this.options.trace?.(r);
  }

  private hashUpdate(line: string): void {
    if (this.hash !== null) this.hash.update(`${this.now} ${line}\n`);
  }

  private slot(id: number): Slot {
    const s = this.slots.get(id);
    if (s === undefined) throw new RangeError(`unknown node ${id}`);
    return s;
  }
}

/** `{ text }` when a workload body is short printable ASCII (scenario transcripts). */
function bodyText(payload: Uint8Array): { text?: string } {
  const body = payloadBody(payload);
  if (body.byteLength === 0 || body.byteLength > 64) return {};
  for (const b of body) if (b < 0x20 || b > 0x7e) return {};
  return { text: String.fromCharCode(...body) };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack === undefined ? '' : `\n${e.stack.split('\n').slice(1, 6).join('\n')}`}`;
  return String(e);
}

/** JSON with bigints as strings and byte arrays as hex, for digests and traces. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    return v;
  });
}
