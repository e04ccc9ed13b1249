// The driver: the only code that touches both Node and the Totem core (architecture.md
// §2.4). It turns wall-clock time into ticks, datagrams into decoded messages, and the
// core's effects into I/O in the contract's order: persist the ring seq (synchronously,
// fsync'd) before any datagram of the same batch is sent, then send, then hand the
// ordered deliveries and configuration changes to subscribers.
//
// Ticks are driven from the monotonic clock, not counted timer callbacks, so a stalled
// event loop catches up (bounded by ticksCatchUpMax) instead of silently slowing Totem's
// timers down. The tick work runs in setImmediate, after the poll phase, so a token that
// arrived during a stall is processed before overdue timers can declare it lost.
//
// With services (the daemon always runs them), every batch of the node's events goes to
// the service host after the raw event listeners (the `totem.subscribe` test hook), and
// the host ticks once per Totem tick. The host acknowledges each transitional phase when
// its sync completes, so autoTransAck must be off then.

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
  /** One tick of the services' virtual time. */
  tick(): void;
}

export interface MonotonicClock {
  nowMs(): number;
}

export const systemClock: MonotonicClock = { nowMs: () => performance.now() };

export interface DriverOptions {
  readonly nodeId: number;
  readonly node: TotemNode;
  readonly transport: Transport;
  readonly ringIdStore: RingIdStore;
  readonly logger: Logger;
  readonly tickMs: number;
  /** Most ticks run in one catch-up after a stall; the rest are dropped and counted. */
  readonly ticksCatchUpMax?: number;
  readonly clock?: MonotonicClock;
  /**
   * Acknowledge the transitional phase right after each regular configuration. Only for
   * running Totem without the sync protocol above it; the services layer turns it off.
   */
  readonly autoTransAck?: boolean;
  /** The service host; it calls transAck itself, so autoTransAck must not be set with it. */
  readonly services?: DriverServices;
}

export interface DriverStats {
  ticks: number;
  ticksDropped: number;
  schedMisses: number;
  lagMsMax: number;
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
  private readonly rateLimited: RateLimitedLog;
  private readonly listeners = new Set<EventListener>();
  private readonly schedMissListeners = new Set<(lagMs: number) => void>();
  private timer: NodeJS.Timeout | null = null;
  private startedAtMs = 0;
  private ticksRun = 0;
  private running = false;
  private pumping = false;
  readonly stats: DriverStats = {
    ticks: 0, ticksDropped: 0, schedMisses: 0, lagMsMax: 0, datagramsIn: 0,
    decodeErrors: 0, decodeErrorsByCode: {}, datagramsOut: 0, persists: 0,
  };

  constructor(options: DriverOptions) {
    if (options.services !== undefined && options.autoTransAck === true) {
      throw new Error('Driver: autoTransAck and services exclude each other (the services acknowledge after sync)');
    }
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.rateLimited = new RateLimitedLog(options.logger);
  }

  /** Hooks the transport, enters GATHER and starts the tick loop. */
  start(): void {
    this.running = true;
    this.options.transport.onDatagram((bytes, fromNodeId, fromAddress) => this.onDatagram(bytes, fromNodeId, fromAddress));
    this.startedAtMs = this.clock.nowMs();
    this.options.node.start();
    this.pump();
    this.timer = setInterval(() => setImmediate(() => this.runDueTicks()), this.options.tickMs);
  }

  /** Subscribes to deliveries and configuration changes; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called with how late the tick loop ran (ms) whenever it missed a tick (the schedmiss metric). */
  onSchedMiss(listener: (lagMs: number) => void): () => void {
    this.schedMissListeners.add(listener);
    return () => this.schedMissListeners.delete(listener);
  }

  submit(payload: Uint8Array): 'queued' | 'full' {
    const result = this.options.node.submit(payload);
    this.pump();
    return result;
  }

  /**
   * Drains the node's effects now: for callers that made the node (or the services above
   * it) queue something outside the driver's own calls, e.g. an IPC request. Safe to call
   * from inside an event callback (the running drain picks the effects up).
   */
  flush(): void {
    if (this.running) this.pump();
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
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private runDueTicks(): void {
    if (!this.running) return;
    const now = this.clock.nowMs();
    const due = Math.floor((now - this.startedAtMs) / this.options.tickMs) - this.ticksRun;
    if (due <= 0) return;
    if (due > 1) {
      this.stats.schedMisses += 1;
      const lagMs = (due - 1) * this.options.tickMs;
      if (lagMs > this.stats.lagMsMax) this.stats.lagMsMax = lagMs;
      for (const listener of this.schedMissListeners) listener(lagMs);
    }
    const max = this.options.ticksCatchUpMax ?? 50;
    const run = Math.min(due, max);
    if (due > max) {
      this.stats.ticksDropped += due - max;
      this.rateLimited.log('schedmiss', 'warning', 'MAIN', `event loop stalled ${due * this.options.tickMs} ms; ${due - max} ticks skipped`);
    }
    for (let i = 0; i < run; i += 1) {
      this.options.node.tick();
      this.stats.ticks += 1;
      this.pump();
      if (this.options.services !== undefined) {
        this.toServices('tick', (services) => services.tick());
        this.pump();
      }
    }
    this.ticksRun += due;
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
    this.options.node.receive(decoded.value);
    this.pump();
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
