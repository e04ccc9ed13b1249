// Goal: the Driver (src/runtime/driver.ts) runs the core's timers at exactly their tick
// and wakes up only for them (at most every wakeMaxMs); an input re-arms for an earlier
// timer; an input sees the wall-clock time but never fires a timer (so a token that
// arrived during a stall beats the overdue token timer); a stall is a scheduling miss
// with its lag, and the catch-up past the due timer is bounded (the rest dropped and
// counted); the services' clock moves with the node's and their timers wake the driver
// too; the ring seq is persisted before any datagram of its batch is sent.
// Method: a virtual event loop (timers phase, poll phase, check phase, on a virtual
// clock) injected as the driver's scheduler and clock, a fake core with named timers in
// ticks, a fake transport and the in-memory ring-id store. No sleeps.

import { describe, expect, it } from '@jest/globals';
import { Driver, type DriverNode, type DriverOptions, type DriverScheduler, type DriverServices } from '../../../src/runtime/driver';
import { silentLogger } from '../../../src/runtime/logger';
import { MemoryRingIdStore } from '../../../src/runtime/ring-id-store';
import type { DatagramListener, Transport, TransportStats } from '../../../src/runtime/transport/transport';
import type { TotemEffects, TotemEvent, SendEffect } from '../../../src/totem/srp/types';
import { encodeMessage } from '../../../src/totem/wire/codec';
import type { TotemMessage } from '../../../src/totem/wire/messages';

/** Node's event loop on a virtual clock: timers, then poll (inputs), then check (immediates). */
class VirtualLoop implements DriverScheduler {
  nowMs = 0;
  private serial = 0;
  private timers: Array<{ id: number; at: number; callback: () => void }> = [];
  private inputs: Array<{ at: number; callback: () => void }> = [];
  private immediates: Array<() => void> = [];

  readonly clock = { nowMs: (): number => this.nowMs };

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = (this.serial += 1);
    this.timers.push({ id, at: this.nowMs + delayMs, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  setImmediate(callback: () => void): void {
    this.immediates.push(callback);
  }

  /** An input (a datagram, a client call) the poll phase runs at `atMs`. */
  input(atMs: number, callback: () => void): void {
    this.inputs.push({ at: atMs, callback });
  }

  get armed(): number {
    return this.timers.length;
  }

  /** Runs the loop until `toMs`. */
  runTo(toMs: number): void {
    for (;;) {
      const next = Math.min(...this.timers.map((t) => t.at), ...this.inputs.map((i) => i.at));
      if (!(next <= toMs)) break;
      this.nowMs = Math.max(this.nowMs, next);
      this.iteration();
    }
    this.nowMs = Math.max(this.nowMs, toMs);
  }

  /** The loop was blocked until `toMs`; then one iteration sees everything that came due. */
  stallTo(toMs: number): void {
    this.nowMs = toMs;
    this.iteration();
  }

  private iteration(): void {
    const dueTimers = this.timers.filter((t) => t.at <= this.nowMs).sort((a, b) => a.at - b.at || a.id - b.id);
    this.timers = this.timers.filter((t) => t.at > this.nowMs);
    for (const t of dueTimers) t.callback();
    const dueInputs = this.inputs.filter((i) => i.at <= this.nowMs);
    this.inputs = this.inputs.filter((i) => i.at > this.nowMs);
    for (const i of dueInputs) i.callback();
    while (this.immediates.length > 0) this.immediates.shift()?.();
  }
}

const message = (seq: bigint): TotemMessage => ({ type: 'merge-detect', nodeId: 1, targetNodeId: 0, systemFrom: 1, ringId: { rep: 1, seq } });

/** A core with named timers (absolute ticks); each firing multicasts a merge-detect naming it. */
class FakeCore implements DriverNode {
  now = 0;
  readonly log: string[] = [];
  readonly timers = new Map<string, number>();
  /** What receive() does (default: log it). */
  onReceive: (core: FakeCore) => void = () => undefined;
  private sends: SendEffect[] = [];
  private events: TotemEvent[] = [];
  private persist: bigint | null = null;
  private started = false;
  private fired = 0n;

  start(): void {
    this.started = true;
  }

  advance(ticks: number): void {
    let left = ticks;
    while (left > 0) {
      const gap = this.ticksToNextTimer();
      if (gap === null || gap > left) {
        this.now += left;
        return;
      }
      this.now += gap;
      left -= gap;
      for (const [name, at] of [...this.timers]) {
        if (at > this.now) continue;
        this.timers.delete(name);
        this.log.push(`${this.now} fire ${name}`);
        this.fired += 1n;
        this.sends.push({ to: 'all', message: message(this.fired) });
      }
    }
  }

  ticksToNextTimer(): number | null {
    if (!this.started || this.timers.size === 0) return null;
    return Math.max(1, Math.min(...this.timers.values()) - this.now);
  }

  receive(m: TotemMessage): void {
    this.log.push(`${this.now} receive ${m.type}`);
    this.onReceive(this);
  }

  submit(): 'queued' | 'full' {
    this.log.push(`${this.now} submit`);
    return 'queued';
  }

  transAck(): void {}

  leave(): void {
    this.timers.clear();
  }

  /** Queues effects for the next takeEffects(). */
  queue(effects: { persist?: bigint; sends?: SendEffect[]; events?: TotemEvent[] }): void {
    if (effects.persist !== undefined) this.persist = effects.persist;
    this.sends.push(...(effects.sends ?? []));
    this.events.push(...(effects.events ?? []));
  }

  takeEffects(): TotemEffects | null {
    if (this.persist === null && this.sends.length === 0 && this.events.length === 0) return null;
    const e: TotemEffects = { persistRingSeq: this.persist, sends: this.sends, events: this.events };
    this.persist = null;
    this.sends = [];
    this.events = [];
    return e;
  }
}

class FakeTransport implements Transport {
  readonly sent: string[] = [];
  private listener: DatagramListener | null = null;
  private readonly order: string[];
  constructor(order: string[] = []) {
    this.order = order;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  sendToAll(bytes: Uint8Array): void {
    this.sent.push(`all ${bytes.length}`);
    this.order.push('send');
  }
  sendTo(nodeId: number, bytes: Uint8Array): void {
    this.sent.push(`${nodeId} ${bytes.length}`);
    this.order.push('send');
  }
  onDatagram(listener: DatagramListener): () => void {
    this.listener = listener;
    return () => undefined;
  }
  setMembers(): void {}
  stats(): TransportStats {
    throw new Error('not used');
  }
  deliver(m: TotemMessage): void {
    this.listener?.(encodeMessage(m), 2, '127.0.0.2');
  }
}

function rig(options: Partial<DriverOptions> = {}) {
  const loop = new VirtualLoop();
  const core = new FakeCore();
  const order: string[] = [];
  const transport = new FakeTransport(order);
  const store = new MemoryRingIdStore();
  const driver = new Driver({
    nodeId: 1, node: core, transport, ringIdStore: store, logger: silentLogger, tickMs: 1,
    clock: loop.clock, scheduler: loop, ...options,
  });
  return { loop, core, transport, store, driver, order };
}

describe('Driver timers', () => {
  it('fires every timer at exactly its tick and wakes up only for them', () => {
    const { loop, core, driver, transport } = rig({ wakeMaxMs: 60_000 });
    loop.nowMs = 1000;
    core.timers.set('join', 50).set('hold', 250).set('token', 1000);
    driver.start();
    loop.runTo(3000);
    expect(core.log).toEqual(['50 fire join', '250 fire hold', '1000 fire token']);
    expect(transport.sent).toHaveLength(3);
    expect(driver.stats).toMatchObject({ wakeups: 3, ticks: 1000, schedMisses: 0, ticksDropped: 0 });
  });

  it('counts ticks of tickMs: a timer at tick 5 of 10 ms fires at 50 ms', () => {
    const { loop, core, driver } = rig({ tickMs: 10, wakeMaxMs: 60_000 });
    core.timers.set('t', 5);
    driver.start();
    loop.runTo(49);
    expect(core.log).toEqual([]);
    loop.runTo(50);
    expect(core.log).toEqual(['5 fire t']);
  });

  it('an idle driver wakes up every wakeMaxMs, not every tick', () => {
    const { loop, driver } = rig({ wakeMaxMs: 100 });
    driver.start();
    loop.runTo(1000);
    expect(driver.stats.wakeups).toBe(10);
    expect(driver.stats.ticks).toBe(1000);
  });

  it('re-arms when an input starts an earlier timer, and keeps an earlier wake-up', () => {
    const { loop, core, driver, transport } = rig({ wakeMaxMs: 60_000 });
    core.timers.set('token', 500);
    core.onReceive = (c) => c.timers.set('retransmit', c.now + 5);
    driver.start();
    loop.input(10, () => transport.deliver(message(1n)));
    loop.runTo(20);
    expect(core.log).toEqual(['10 receive merge-detect', '15 fire retransmit']);
    // A later deadline leaves the armed wake-up (one timer armed, not two).
    core.onReceive = (c) => c.timers.set('token', c.now + 900);
    loop.input(30, () => transport.deliver(message(2n)));
    loop.runTo(40);
    expect(loop.armed).toBe(1);
    loop.runTo(2000);
    expect(core.log.slice(2)).toEqual(['30 receive merge-detect', '930 fire token']);
  });

  it('an input sees the wall clock but never fires a timer: a token that came during a stall beats the overdue token timer', () => {
    const { loop, core, driver, transport } = rig();
    core.timers.set('token', 100);
    core.onReceive = (c) => c.timers.set('token', c.now + 200);
    driver.start();
    loop.input(60, () => transport.deliver(message(1n)));
    loop.runTo(60);
    expect(core.log).toEqual(['60 receive merge-detect']);
    // Blocked from 61 to 300: the token timer (tick 260) is overdue when the loop runs
    // again, and a token is waiting in the socket. It is processed first, at the last tick
    // before the timer, and restarts the timer.
    loop.input(280, () => transport.deliver(message(2n)));
    loop.stallTo(300);
    expect(core.log).toEqual(['60 receive merge-detect', '259 receive merge-detect']);
    expect(core.now).toBe(300);
    loop.runTo(500);
    expect(core.log.slice(2)).toEqual(['459 fire token']);
  });

  it('a stall is a scheduling miss with its lag; catch-up past the due timer is bounded and the rest dropped', () => {
    const { loop, core, driver } = rig({ catchUpMaxMs: 500, wakeMaxMs: 60_000 });
    const lags: number[] = [];
    driver.onSchedMiss((lagMs) => lags.push(lagMs));
    core.timers.set('token', 100);
    driver.start();
    loop.stallTo(2100);
    expect(lags).toEqual([2000]);
    expect(driver.stats).toMatchObject({ schedMisses: 1, lagMsMax: 2000, ticksDropped: 1500, ticks: 600 });
    expect(core.log).toEqual(['100 fire token']);
    expect(core.now).toBe(600);
    // Time goes on from there: a timer 10 ticks ahead fires 10 ms later.
    core.timers.set('next', 610);
    driver.flush();
    loop.runTo(2110);
    expect(core.log).toEqual(['100 fire token', '610 fire next']);
  });

  it('a slightly late timer is no scheduling miss', () => {
    const { loop, core, driver } = rig({ wakeMaxMs: 60_000 });
    core.timers.set('t', 100);
    driver.start();
    loop.stallTo(109);
    expect(driver.stats.schedMisses).toBe(0);
    expect(core.log).toEqual(['100 fire t']);
  });

  it('persists the ring seq before sending anything of the same batch', () => {
    const { loop, core, driver, store, order } = rig();
    const realStore = store.store.bind(store);
    store.store = (nodeId, seq) => {
      order.push(`persist ${seq}`);
      realStore(nodeId, seq);
    };
    driver.start();
    core.queue({ persist: 9n, sends: [{ to: 2, message: message(9n) }] });
    driver.flush();
    expect(order).toEqual(['persist 9', 'send']);
    expect(driver.stats).toMatchObject({ persists: 1, datagramsOut: 1 });
    loop.runTo(10);
  });

  it('stops waking up after leave', () => {
    const { loop, core, driver } = rig();
    core.timers.set('t', 10_000);
    driver.start();
    loop.runTo(150);
    driver.leave();
    const wakeups = driver.stats.wakeups;
    loop.runTo(20_000);
    expect(driver.stats.wakeups).toBe(wakeups);
    expect(loop.armed).toBe(0);
  });
});

describe('Driver with services', () => {
  /** Services whose tick hooks are due at `dueAt` (absolute ticks). */
  function fakeServices(dueAt: number[]) {
    const log: string[] = [];
    let now = 0;
    const services: DriverServices = {
      processTotemEvents: (events) => log.push(`${now} events ${events.length}`),
      advance: (ticks) => {
        for (let i = 0; i < ticks; i += 1) {
          now += 1;
          if (dueAt[0] === now) {
            dueAt.shift();
            log.push(`${now} service tick`);
          }
        }
      },
      ticksToNextTimer: () => (dueAt[0] === undefined ? null : dueAt[0] - now),
    };
    return { services, log, now: () => now };
  }

  it('wakes for the services\' timers and keeps their clock with the node\'s', () => {
    const s = fakeServices([30, 70]);
    const { loop, core, driver } = rig({ services: s.services, wakeMaxMs: 60_000 });
    core.timers.set('t', 50);
    driver.start();
    loop.runTo(100);
    expect(s.log).toEqual(['30 service tick', '70 service tick']);
    expect(core.log).toEqual(['50 fire t']);
    expect([s.now(), core.now]).toEqual([70, 70]);
    expect(driver.stats.wakeups).toBe(3);
  });

  it('hands events to the services with their clock at most one tick behind the node\'s', () => {
    const s = fakeServices([]);
    const { loop, core, driver, transport } = rig({ services: s.services });
    core.onReceive = (c) => c.queue({ events: [{ kind: 'confchg', type: 'regular', ringId: { rep: 1, seq: 4n }, members: [1], left: [], joined: [] }] });
    driver.start();
    loop.input(250, () => transport.deliver(message(1n)));
    loop.runTo(300);
    expect(s.log).toEqual(['250 events 1']);
  });

  it('refuses autoTransAck with services', () => {
    const s = fakeServices([]);
    expect(() => rig({ services: s.services, autoTransAck: true })).toThrow(/autoTransAck/);
  });
});
