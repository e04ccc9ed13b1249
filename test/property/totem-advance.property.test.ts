// Goal: TotemNode.advance(n) is n tick() calls, and ticksToNextTimer() never overstates
// how long the node can sleep — the two facts the driver's precise timers rest on
// (src/runtime/driver.ts). Over random clusters (2–4 nodes, random token timers, packet
// delays, crashes, restarts, submits), a cluster run tick by tick and the same cluster
// run by jumping from one input or due timer to the next produce the same datagrams,
// deliveries, configuration changes and persisted ring seqs at the same ticks, and end
// in the same state. An isolated node advanced in random chunks (several timers firing
// inside one advance) matches a twin ticked one tick at a time.
// Method: one lock-step network (FIFO per arrival tick, real codec) run in two modes;
// the jump mode asserts that advancing up to the tick before the next timer yields no
// effect at all.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Prng } from '../../src/base/prng';
import { deriveTotemConfigMs, toTotemConfig, type TotemConfig } from '../../src/totem/config';
import { TotemNode } from '../../src/totem/srp/totem-node';
import { decodeMessage, encodeMessage } from '../../src/totem/wire/codec';

type Action =
  | { kind: 'submit'; at: number; node: number }
  | { kind: 'crash'; at: number; node: number }
  | { kind: 'restart'; at: number; node: number };

interface Scenario {
  nodes: number;
  tokenMs: number;
  delayTicks: number;
  ticks: number;
  /** Per node: the tick it first starts at. */
  startAt: number[];
  actions: Action[];
}

interface Packet {
  at: number;
  to: number;
  bytes: Uint8Array;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** One cluster on a lock-step network; `jump` advances from event to event instead of ticking. */
class LockStep {
  readonly log: string[] = [];
  private readonly nodes = new Map<number, TotemNode>();
  private readonly ringSeqs = new Map<number, bigint>();
  private readonly ids: number[];
  private readonly config: TotemConfig;
  private queue: Packet[] = [];
  private now = 0;
  private submitted = 0;
  private jump = false;
  private readonly s: Scenario;

  constructor(s: Scenario) {
    this.s = s;
    this.ids = Array.from({ length: s.nodes }, (_, i) => i + 1);
    this.config = toTotemConfig(deriveTotemConfigMs({ token: s.tokenMs, tokenCoefficient: 0 }, s.nodes), 10);
  }

  run(jump: boolean): void {
    this.jump = jump;
    const inputsAt = new Set<number>([...this.s.actions.map((a) => a.at), ...this.s.startAt]);
    while (this.now < this.s.ticks) {
      let next = this.now + 1;
      if (jump) {
        next = this.s.ticks;
        for (const t of inputsAt) if (t > this.now && t < next) next = t;
        for (const p of this.queue) if (p.at < next) next = p.at;
        for (const node of this.nodes.values()) {
          const gap = node.ticksToNextTimer();
          if (gap !== null) next = Math.min(next, this.now + gap);
        }
        for (const [id, node] of this.nodes) {
          node.advance(next - 1 - this.now);
          expect([id, node.takeEffects()]).toEqual([id, null]);
        }
      }
      this.now = next;
      this.step();
    }
    for (const [id, node] of [...this.nodes].sort((a, b) => a[0] - b[0])) {
      const { stats: _stats, ...status } = node.status();
      this.log.push(`end ${id} ${JSON.stringify(status, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    }
  }

  /** Tick `now`: packets due now, then this tick's actions, then every node's tick. */
  private step(): void {
    const due = this.queue.filter((p) => p.at <= this.now);
    this.queue = this.queue.filter((p) => p.at > this.now);
    for (const p of due) {
      const node = this.nodes.get(p.to);
      if (node === undefined) continue;
      const decoded = decodeMessage(p.bytes);
      if (!decoded.ok) throw decoded.error;
      node.receive(decoded.value);
      this.drain(p.to);
    }
    this.ids.forEach((id, k) => {
      if (this.s.startAt[k] === this.now) this.start(id);
    });
    for (const a of this.s.actions) {
      if (a.at !== this.now) continue;
      const node = this.nodes.get(a.node);
      if (a.kind === 'crash') {
        this.nodes.delete(a.node);
        this.log.push(`${this.now} ${a.node} crash`);
      } else if (a.kind === 'restart') {
        if (node === undefined) this.start(a.node);
      } else if (node !== undefined) {
        this.submitted += 1;
        node.submit(new TextEncoder().encode(`m${this.submitted}`));
        this.drain(a.node);
      }
    }
    for (const id of this.ids) {
      const node = this.nodes.get(id);
      if (node === undefined) continue;
      if (this.jump) node.advance(1);
      else node.tick();
      this.drain(id);
    }
  }

  private start(id: number): void {
    if (this.nodes.has(id)) return;
    const node = new TotemNode({ nodeId: id, nodelist: this.ids, config: this.config, restoredRingSeq: this.ringSeqs.get(id) ?? 0n, prng: new Prng(id) });
    this.nodes.set(id, node);
    this.log.push(`${this.now} ${id} start`);
    node.start();
    this.drain(id);
  }

  private drain(id: number): void {
    const node = this.nodes.get(id);
    if (node === undefined) return;
    for (let e = node.takeEffects(); e !== null; e = node.takeEffects()) {
      if (e.persistRingSeq !== null) {
        this.ringSeqs.set(id, e.persistRingSeq);
        this.log.push(`${this.now} ${id} persist ${e.persistRingSeq}`);
      }
      for (const send of e.sends) {
        const bytes = encodeMessage(send.message);
        this.log.push(`${this.now} ${id} send ${send.to} ${hex(bytes)}`);
        for (const to of send.to === 'all' ? this.ids : [send.to]) this.queue.push({ at: this.now + this.s.delayTicks, to, bytes });
      }
      for (const event of e.events) {
        this.log.push(`${this.now} ${id} ${event.kind === 'deliver' ? `deliver ${event.sender} ${event.seq} ${hex(event.payload)}` : `confchg ${event.type} ${event.members.join(',')}`}`);
        if (event.kind === 'confchg' && event.type === 'regular') node.transAck();
      }
    }
  }
}

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 4 }).chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    tokenMs: fc.integer({ min: 200, max: 1000 }),
    delayTicks: fc.integer({ min: 1, max: 3 }),
    ticks: fc.integer({ min: 300, max: 1500 }),
    startAt: fc.array(fc.integer({ min: 1, max: 60 }), { minLength: nodes, maxLength: nodes }),
    actions: fc.array(
      fc.record({
        kind: fc.constantFrom('submit' as const, 'submit' as const, 'submit' as const, 'crash' as const, 'restart' as const),
        at: fc.integer({ min: 1, max: 1500 }),
        node: fc.integer({ min: 1, max: nodes }),
      }),
      { maxLength: 25 },
    ),
  }),
);

describe('TotemNode.advance and ticksToNextTimer', () => {
  it('a cluster advanced from event to event behaves exactly as one ticked every tick', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const ticked = new LockStep(s);
        ticked.run(false);
        const jumped = new LockStep(s);
        jumped.run(true);
        expect(jumped.log).toEqual(ticked.log);
      }),
      { numRuns: 40 },
    );
  });

  it('forms a ring in the jump mode too (the comparison is not vacuous)', () => {
    const s: Scenario = { nodes: 3, tokenMs: 300, delayTicks: 1, ticks: 400, startAt: [1, 5, 9], actions: [{ kind: 'submit', at: 300, node: 2 }] };
    const jumped = new LockStep(s);
    jumped.run(true);
    expect(jumped.log.some((line) => / 1 confchg regular 1,2,3$/.test(line))).toBe(true);
    expect(jumped.log.filter((line) => / deliver 2 /.test(line))).toHaveLength(3);
  });

  it('one advance over many timers equals as many ticks (isolated node, random chunks)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 3000 }), fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 12 }), (tokenMs, chunks) => {
        const config = toTotemConfig(deriveTotemConfigMs({ token: tokenMs }, 3), 10);
        const make = (): TotemNode => new TotemNode({ nodeId: 2, nodelist: [1, 2, 3], config, restoredRingSeq: 7n, prng: new Prng(2) });
        const ticked = make();
        const jumped = make();
        ticked.start();
        jumped.start();
        const sends = (node: TotemNode): string[] => {
          const out: string[] = [];
          for (let e = node.takeEffects(); e !== null; e = node.takeEffects()) out.push(...e.sends.map((x) => `${x.to} ${hex(encodeMessage(x.message))}`));
          return out;
        };
        const a: string[] = [...sends(ticked)];
        const b: string[] = [...sends(jumped)];
        for (const chunk of chunks) {
          for (let i = 0; i < chunk; i += 1) ticked.tick();
          jumped.advance(chunk);
          a.push(...sends(ticked));
          b.push(...sends(jumped));
          expect(b).toEqual(a);
          expect(jumped.status()).toEqual(ticked.status());
          expect(jumped.ticksToNextTimer()).toBe(ticked.ticksToNextTimer());
        }
        // A lone node keeps gathering: its join and consensus timers never stop.
        expect(jumped.ticksToNextTimer()).not.toBeNull();
      }),
      { numRuns: 60 },
    );
  });

  it('has no timer before start and after leave', () => {
    const node = new TotemNode({ nodeId: 1, nodelist: [1, 2], config: toTotemConfig(deriveTotemConfigMs({}, 2), 1), restoredRingSeq: 0n, prng: new Prng(1) });
    expect(node.ticksToNextTimer()).toBeNull();
    node.advance(1000);
    node.start();
    expect(node.ticksToNextTimer()).toBe(50);
    node.advance(49);
    expect(node.takeEffects()?.sends).toHaveLength(1);
    expect(node.ticksToNextTimer()).toBe(1);
    node.leave();
    expect(node.ticksToNextTimer()).toBeNull();
  });
});
