// The driver: the only code that touches both Node and the Totem core (architecture.md
// §2.4). It turns wall-clock time into ticks, datagrams into decoded messages, and the
// core's effects into I/O in the contract's order: persist the ring seq (synchronously,
// fsync'd) before any datagram of the same batch is sent, then send, then hand the
// ordered deliveries and configuration changes to subscribers.
//
// Time: the core counts ticks of tickMs (1 ms by default) and says how many ticks remain
// until its next timer (TotemNode and ServiceHost ticksToNextTimer()). The driver sleeps
// with one setTimeout until exactly that tick, then advances the core to the wall clock
// in one go (advance(n): every timer fires at its own tick, in order), so timers are
// precise to a tick while an idle daemon wakes only when a timer is due (or after
// wakeMaxMs without one). The driver re-arms after every input: a datagram, a submit or a
// flush may have started an earlier timer.
//
// Ticks follow the monotonic clock, not counted callbacks, so a stalled event loop
// catches up instead of silently slowing Totem's timers down; the catch-up past the
// earliest due timer is bounded (catchUpMaxMs), the rest dropped and counted. The timer
// work runs in setImmediate, after the poll phase, so a token that arrived during a stall
// is processed before overdue timers can declare it lost; before an input is handed to
// the core, its clock is brought up to the wall clock but short of the next timer, for
// the same reason (an input never fires a timer, it only sees the right time).
//
// With services (the daemon always runs them), every batch of the node's events goes to
// the service host after the raw event listeners (the `totem.subscribe` test hook), and
// the host's clock advances with the node's. The host acknowledges each transitional
// phase when its sync completes, so autoTransAck must be off then.

import type { TotemNode } from '../totem/srp/totem-node';
import type { TotemEvent } from '../totem/srp/types';
import { decodeMessage, encodeMessage } from '../totem/wire/codec';
import type { TotemMessage } from '../totem/wire/messages';
import { RateLimitedLog, type Logger } from './logger';
import type { RingIdStore } from './ring-id-store';
import type { Transport } from './transport/transport';

/** The part of the service host the driver feeds (src/services/service-host.ts). */
export interface DriverServices {
  /** The node's events, strictly in order, batch by batch. */
  processTotemEvents(events: readonly TotemEvent[]): void;
  /** `ticks` ticks of the services' virtual time (their tick hooks at the ticks they are due). */
  advance(ticks: number): void;
  /** Ticks until a service's tick hook is due; null: none until the next input. */
  ticksToNextTimer(): number | null;
}

export interface MonotonicClock {
  nowMs(): number;
}

export const systemClock: MonotonicClock = { nowMs: () => performance.now() };

/** The event loop's timers; injectable so tests run the driver on virtual time. */
export interface DriverScheduler {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(callback: () => void): void;
}

export const nodeScheduler: DriverScheduler = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setImmediate: (callback) => {
    setImmediate(callback);
  },
};

export const DriverDefaults = {
  /**
   * Longest sleep without a due timer. A stall at least this long is always seen as a
   * scheduling miss (shorter ones when they delay a timer); corosync's own check only
   * reports stalls of 0.8 × token. Every wake-up costs an idle daemon CPU.
   */
  wakeMaxMs: 250,
  /** Most time run past the earliest due timer in one catch-up after a stall. */
  catchUpMaxMs: 500,
  /** A timer callback this late (or later) counts as a scheduling miss (corosync's HZ tick). */
  schedMissMs: 10,
} as const;

/** What the driver uses of the Totem core (a TotemNode; tests may drive a fake). */
export type DriverNode = Pick<TotemNode, 'start' | 'advance' | 'ticksToNextTimer' | 'receive' | 'submit' | 'transAck' | 'leave' | 'takeEffects'>;

export interface DriverOptions {
  readonly nodeId: number;
  readonly node: DriverNode;
  readonly transport: Transport;
  readonly ringIdStore: RingIdStore;
  readonly logger: Logger;
  readonly tickMs: number;
  /** Most time run past the earliest due timer in one catch-up; the rest is dropped and counted. */
  readonly catchUpMaxMs?: number;
  readonly wakeMaxMs?: number;
  readonly schedMissMs?: number;
  readonly clock?: MonotonicClock;
  readonly scheduler?: DriverScheduler;
  /**
   * Acknowledge the transitional phase right after each regular configuration. Only for
   * running Totem without the sync protocol above it; the services layer turns it off.
   */
  readonly autoTransAck?: boolean;
  /** The service host; it calls transAck itself, so autoTransAck must not be set with it. */
  readonly services?: DriverServices;
}

export interface DriverStats {
  /** Ticks of virtual time the core has run. */
  ticks: number;
  /** Ticks of wall time dropped by bounded catch-ups after stalls. */
  ticksDropped: number;
  /** Timer callbacks that ran schedMissMs or more late. */
  schedMisses: number;
  lagMsMax: number;
  /** Timer callbacks run (how often an idle daemon wakes up). */
  wakeups: number;
  datagramsIn: number;
  decodeErrors: number;
  decodeErrorsByCode: Record<string, number>;
  datagramsOut: number;
  persists: number;
}

type EventListener = (event: TotemEvent) => void;

export class Driver {
  private readonly options: DriverOptions;
  private readonly clock: MonotonicClock;
  private readonly scheduler: DriverScheduler;
  private readonly tickMs: number;
  private readonly wakeMaxMs: number;
  private readonly catchUpMaxTicks: number;
  private readonly schedMissMs: number;
  private readonly rateLimited: RateLimitedLog;
  private readonly listeners = new Set<EventListener>();
  private readonly schedMissListeners = new Set<(lagMs: number) => void>();
  private timer: unknown = null;
  /** Wall-clock ms the armed timer is for (null: none armed). */
  private timerAtMs: number | null = null;
  private immediatePending = false;
  private startedAtMs = 0;
  /** Ticks of wall time accounted for: run by the core plus dropped. */
  private ticksRun = 0;
  private running = false;
  private pumping = false;
  readonly stats: DriverStats = {
    ticks: 0, ticksDropped: 0, schedMisses: 0, lagMsMax: 0, wakeups: 0, datagramsIn: 0,
    decodeErrors: 0, decodeErrorsByCode: {}, datagramsOut: 0, persists: 0,
  };

  constructor(options: DriverOptions) {
    if (options.services !== undefined && options.autoTransAck === true) {
      throw new Error('Driver: autoTransAck and services exclude each other (the services acknowledge after sync)');
    }
    if (!(options.tickMs > 0)) throw new Error('Driver: tickMs must be positive');
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.scheduler = options.scheduler ?? nodeScheduler;
    this.tickMs = options.tickMs;
    this.wakeMaxMs = Math.max(options.wakeMaxMs ?? DriverDefaults.wakeMaxMs, options.tickMs);
    this.catchUpMaxTicks = Math.max(1, Math.ceil((options.catchUpMaxMs ?? DriverDefaults.catchUpMaxMs) / options.tickMs));
    this.schedMissMs = options.schedMissMs ?? DriverDefaults.schedMissMs;
    this.rateLimited = new RateLimitedLog(options.logger);
  }

  /** Hooks the transport, enters GATHER and arms the first timer. */
  start(): void {
    this.running = true;
    this.options.transport.onDatagram((bytes, fromNodeId, fromAddress) => this.onDatagram(bytes, fromNodeId, fromAddress));
    this.startedAtMs = this.clock.nowMs();
    this.options.node.start();
    this.pump();
    this.arm();
  }

  /** Subscribes to deliveries and configuration changes; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called with how late (ms) a timer callback ran whenever it was schedMissMs or more late (the schedmiss metric). */
  onSchedMiss(listener: (lagMs: number) => void): () => void {
    this.schedMissListeners.add(listener);
    return () => this.schedMissListeners.delete(listener);
  }

  submit(payload: Uint8Array): 'queued' | 'full' {
    if (this.running) this.syncClock();
    const result = this.options.node.submit(payload);
    this.pump();
    this.arm();
    return result;
  }

  /**
   * Drains the node's effects now: for callers that made the node (or the services above
   * it) queue something outside the driver's own calls, e.g. an IPC request. Safe to call
   * from inside an event callback (the running drain picks the effects up and re-arms).
   */
  flush(): void {
    if (!this.running || this.pumping) return;
    this.pump();
    this.arm();
  }

  /** Orderly leave: multicast LEAVE (so the others reform at once), then stop ticking. */
  leave(): void {
    if (!this.running) return;
    this.options.node.leave();
    this.pump();
    this.stop();
  }

  stop(): void {
    this.running = false;
    this.disarm();
  }

  /** Ticks until the core's next timer (the node's or a service's); null: none runs. */
  private ticksToNextTimer(): number | null {
    const node = this.options.node.ticksToNextTimer();
    const services = this.options.services?.ticksToNextTimer() ?? null;
    return node === null ? services : services === null ? node : Math.min(node, services);
  }

  /** Whole ticks of wall time since start. */
  private wallTicks(nowMs: number): number {
    return Math.floor((nowMs - this.startedAtMs) / this.tickMs);
  }

  /**
   * `ticks` ticks of virtual time, at most one of them with due timers: the last. The
   * ticks before it pass for both clocks first; then, as on every tick, the node's
   * timers, its effects (events reach the services with their clock one tick behind),
   * the services' timers, their effects.
   */
  private advanceCore(ticks: number): void {
    if (ticks <= 0) return;
    const services = this.options.services;
    if (ticks > 1) {
      this.options.node.advance(ticks - 1);
      if (services !== undefined) this.toServices('tick', () => services.advance(ticks - 1));
    }
    this.options.node.advance(1);
    this.pump();
    if (services !== undefined) {
      this.toServices('tick', () => services.advance(1));
      this.pump();
    }
    this.ticksRun += ticks;
    this.stats.ticks += ticks;
  }

  /** Before an input: the core's clock up to the wall clock, but short of its next timer. */
  private syncClock(): void {
    const due = this.wallTicks(this.clock.nowMs()) - this.ticksRun;
    if (due <= 0) return;
    const gap = this.ticksToNextTimer();
    this.advanceCore(gap === null ? due : Math.min(due, gap - 1));
  }

  /** The timer (and the catch-up after an input that found a timer overdue): run what is due, then re-arm. */
  private runDueTicks(): void {
    this.immediatePending = false;
    if (!this.running) return;
    let due = this.wallTicks(this.clock.nowMs()) - this.ticksRun;
    const firstGap = this.ticksToNextTimer();
    const late = firstGap === null ? 0 : due - firstGap;
    if (late > this.catchUpMaxTicks) {
      const dropped = late - this.catchUpMaxTicks;
      this.stats.ticksDropped += dropped;
      this.ticksRun += dropped;
      due -= dropped;
      this.rateLimited.log('schedmiss', 'warning', 'MAIN', `event loop stalled ${Math.round(late * this.tickMs)} ms past a due timer; ${Math.round(dropped * this.tickMs)} ms of timer time skipped`);
    }
    while (due > 0 && this.running) {
      const gap = this.ticksToNextTimer();
      const step = gap === null ? due : Math.min(due, gap);
      this.advanceCore(step);
      due -= step;
    }
    this.arm();
  }

  /** Sleeps until the next timer's tick (at most wakeMaxMs); an earlier armed wake-up is kept. */
  private arm(): void {
    if (!this.running || this.pumping) return;
    const nowMs = this.clock.nowMs();
    const gap = this.ticksToNextTimer();
    const atMs = gap === null
      ? nowMs + this.wakeMaxMs
      : Math.min(this.startedAtMs + (this.ticksRun + gap) * this.tickMs, nowMs + this.wakeMaxMs);
    if (atMs <= nowMs) {
      // Overdue already (an input arrived after a timer's tick): run it right after the poll phase.
      if (!this.immediatePending) {
        this.immediatePending = true;
        this.scheduler.setImmediate(() => this.runDueTicks());
      }
      return;
    }
    if (this.timerAtMs !== null && this.timerAtMs <= atMs) return;
    this.disarm();
    this.timerAtMs = atMs;
    this.timer = this.scheduler.setTimeout(() => this.onTimer(atMs), Math.max(1, Math.ceil(atMs - nowMs)));
  }

  private disarm(): void {
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
    this.timerAtMs = null;
  }

  private onTimer(atMs: number): void {
    this.timer = null;
    this.timerAtMs = null;
    if (!this.running) return;
    this.stats.wakeups += 1;
    const lagMs = this.clock.nowMs() - atMs;
    if (lagMs >= this.schedMissMs) {
      this.stats.schedMisses += 1;
      if (lagMs > this.stats.lagMsMax) this.stats.lagMsMax = lagMs;
      for (const listener of this.schedMissListeners) listener(lagMs);
    }
    if (!this.immediatePending) {
      this.immediatePending = true;
      this.scheduler.setImmediate(() => this.runDueTicks());
    }
  }

  private onDatagram(bytes: Uint8Array, fromNodeId: number | null, fromAddress: string): void {
    if (!this.running) return;
    this.stats.datagramsIn += 1;
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      const code = decoded.error.code;
      this.stats.decodeErrors += 1;
      this.stats.decodeErrorsByCode[code] = (this.stats.decodeErrorsByCode[code] ?? 0) + 1;
      this.rateLimited.log(`decode:${fromAddress}`, 'warning', 'TOTEM', `dropped a malformed datagram from ${fromAddress}: ${decoded.error.message}`, { code, fromNodeId });
      return;
    }
    this.syncClock();
    this.options.node.receive(decoded.value);
    this.pump();
    this.arm();
  }

  /** Drains the core's effects in contract order until it has nothing more to say. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let effects = this.options.node.takeEffects(); effects !== null; effects = this.options.node.takeEffects()) {
        if (effects.persistRingSeq !== null) {
          this.options.ringIdStore.store(this.options.nodeId, effects.persistRingSeq);
          this.stats.persists += 1;
        }
        for (const send of effects.sends) this.send(send.to, send.message);
        for (const event of effects.events) this.dispatch(event);
        const events = effects.events;
        if (events.length > 0 && this.options.services !== undefined) this.toServices('events', (services) => services.processTotemEvents(events));
      }
    } finally {
      this.pumping = false;
    }
  }

  /** The services never throw on remote input; if they throw anyway it is a bug: log it with context and let it end the process. */
  private toServices(what: string, action: (services: DriverServices) => void): void {
    const services = this.options.services;
    if (services === undefined) return;
    try {
      action(services);
    } catch (error) {
      this.options.logger.log('error', 'MAIN', `the services failed while handling ${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      throw error;
    }
  }

  private send(to: number | 'all', message: TotemMessage): void {
    const bytes = encodeMessage(message);
    this.stats.datagramsOut += 1;
    // The local copy of an MCAST is useless: the core filed it when it sent it (transport.ts).
    if (to === 'all') this.options.transport.sendToAll(bytes, message.type === 'mcast');
    else this.options.transport.sendTo(to, bytes);
  }

  private dispatch(event: TotemEvent): void {
    if (event.kind === 'confchg') {
      this.logConfchg(event);
      if (event.type === 'regular' && this.options.autoTransAck === true) this.options.node.transAck();
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.log('error', 'MAIN', `event listener failed: ${String(error)}`);
      }
    }
  }

  /** The transitional configuration's left list, logged with the regular one as corosync does. */
  private lastLeft: readonly number[] = [];

  private logConfchg(event: Extract<TotemEvent, { kind: 'confchg' }>): void {
    if (event.type === 'transitional') {
      this.lastLeft = event.left;
      return;
    }
    const ring = `${event.ringId.rep.toString(16)}.${event.ringId.seq.toString(16)}`;
    const joined = event.joined.length > 0 ? ` joined: ${event.joined.join(' ')}` : '';
    const left = this.lastLeft.length > 0 ? ` left: ${this.lastLeft.join(' ')}` : '';
    this.lastLeft = [];
    this.options.logger.log('notice', 'TOTEM', `A new membership (${ring}) was formed. Members${joined}${left}`);
    // With services, the quorum service logs this line when the quorum provider reports.
    if (this.options.services === undefined) this.options.logger.log('notice', 'QUORUM', `Members[${event.members.length}]: ${event.members.join(' ')}`);
  }
}
