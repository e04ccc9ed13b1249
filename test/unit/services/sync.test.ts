// Goal: SyncEngine (src/services/sync.ts) runs corosync 3.1.7's sync protocol
// (corosync-wire.md §7.3; exec/sync.c): SERVICE_BUILD and init on the REGULAR confchg,
// rounds of process → BARRIER → activate in ascending service order, completion after the
// last round; abort on a confchg mid-sync; stale messages discarded; unknown service ids
// from peers merged as dummy rounds; process() answering 'again' retried on the next poll.
// Method: a scripted total-order bus. Every engine multicasts into one queue; deliver()
// hands each queued message to every member engine in queue order (agreed order), and
// token() polls every engine (the host does that on every token). A small driver plays
// main.c's confchg_fn around each engine (abort when sync was in progress, then
// saveTransitional or start). Messages of a "real" corosync peer are scripted with the
// encoders.

import { describe, expect, it } from '@jest/globals';
import type { SyncHooks } from '../../../src/services/service-api';
import {
  decodeSyncMessage,
  encodeSyncBarrier,
  encodeSyncServiceBuild,
  SyncEngine,
  SyncLimits,
} from '../../../src/services/sync';
import type { RingId } from '../../../src/totem/wire/messages';

interface Script {
  /** Answers of process(), in order; 'done' once they run out. */
  process?: Array<'done' | 'again'>;
}

/** Sync hooks that log "<node>/<service>:<hook>" to `log`. */
function hooks(node: number, id: number, log: string[], script: Script = {}): SyncHooks {
  return {
    init: (trans, members, ring) => void log.push(`${node}/${id}:init trans=${trans.join(',')} members=${members.join(',')} ring=${ring.rep}.${ring.seq}`),
    process: () => {
      const answer = script.process?.shift() ?? 'done';
      log.push(`${node}/${id}:process ${answer}`);
      return answer;
    },
    activate: () => void log.push(`${node}/${id}:activate`),
    abort: () => void log.push(`${node}/${id}:abort`),
  };
}

class Member {
  readonly engine: SyncEngine;
  syncInProcess = true;
  completions = 0;
  refuse = 0;

  constructor(id: number, bus: Bus, services: number[], log: string[], scripts: Record<number, Script> = {}) {
    this.engine = new SyncEngine({
      services: () => services.map((s) => ({ id: s, name: `svc${s}`, hooks: hooks(id, s, log, scripts[s]) })),
      mcast: (message) => {
        if (this.refuse > 0) {
          this.refuse -= 1;
          return 'full';
        }
        bus.queue.push({ sender: id, payload: message });
        return 'queued';
      },
      onComplete: () => {
        this.syncInProcess = false;
        this.completions += 1;
        log.push(`${id}:complete`);
      },
    });
  }

  /** main.c confchg_fn, the sync part. */
  confchg(type: 'transitional' | 'regular', members: number[], ring: RingId): void {
    const abort = this.syncInProcess;
    this.syncInProcess = true;
    if (abort) this.engine.abort();
    if (type === 'transitional') this.engine.saveTransitional(members);
    else this.engine.start(members, ring);
  }
}

class Bus {
  readonly queue: Array<{ sender: number; payload: Uint8Array }> = [];
  readonly members = new Map<number, Member>();
  readonly log: string[] = [];

  add(id: number, services: number[], scripts: Record<number, Script> = {}): Member {
    const m = new Member(id, this, services, this.log, scripts);
    this.members.set(id, m);
    return m;
  }

  /** A new ring: transitional then regular confchg on every listed member. */
  ring(ring: RingId, members: number[], trans: number[] = members): void {
    for (const id of members) {
      const m = this.members.get(id)!;
      m.confchg('transitional', trans, ring);
      m.confchg('regular', members, ring);
    }
  }

  deliver(to: readonly number[] = [...this.members.keys()]): void {
    while (this.queue.length > 0) {
      const message = this.queue.shift()!;
      for (const id of to) this.members.get(id)?.engine.deliver(message.sender, message.payload);
    }
  }

  token(): void {
    for (const m of this.members.values()) m.engine.poll();
  }

  run(rounds = 20, to?: readonly number[]): void {
    for (let i = 0; i < rounds; i += 1) {
      this.deliver(to);
      this.token();
    }
    this.deliver(to);
  }

  of(node: number): string[] {
    return this.log.filter((l) => l.startsWith(`${node}/`) || l === `${node}:complete`);
  }
}

const R1: RingId = { rep: 1, seq: 8n };
const R2: RingId = { rep: 1, seq: 12n };

describe('SyncEngine message codec', () => {
  it('encodes BARRIER and SERVICE_BUILD as §7.1 lays them out', () => {
    const barrier = encodeSyncBarrier({ rep: 0x01020304, seq: 0x1122334455667788n });
    expect(Array.from(barrier)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0,
      4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0,
    ]);
    const build = encodeSyncServiceBuild({ rep: 1, seq: 0x141n }, [0, 2, 3, 5]);
    expect(build).toHaveLength(552);
    const view = new DataView(build.buffer);
    expect([view.getInt32(0, true), view.getInt32(8, true), view.getUint32(16, true), Number(view.getBigUint64(20, true))]).toEqual([1, 552, 1, 0x141]);
    expect([32, 40, 44, 48, 52, 56].map((o) => view.getInt32(o, true))).toEqual([4, 0, 2, 3, 5, 0]);
    expect(decodeSyncMessage(build)).toEqual({ ok: true, value: { type: 'service-build', ringId: { rep: 1, seq: 0x141n }, services: [0, 2, 3, 5] } });
  });

  it('refuses what a receiver cannot read: unknown ids, short messages, bad entry counts', () => {
    const code = (bytes: Uint8Array) => {
      const r = decodeSyncMessage(bytes);
      return r.ok ? 'ok' : r.error.code;
    };
    const other = encodeSyncBarrier(R1);
    new DataView(other.buffer).setInt32(0, 7, true);
    expect(code(other)).toBe('DECODE_BAD_TYPE');
    expect(code(encodeSyncBarrier(R1).subarray(0, 27))).toBe('DECODE_TRUNCATED');
    expect(code(encodeSyncBarrier(R1).subarray(0, 28))).toBe('ok');
    expect(code(new Uint8Array(10))).toBe('DECODE_TRUNCATED');
    const build = encodeSyncServiceBuild(R1, [0, 2, 3]);
    expect(code(build.subarray(0, 40 + 4 * 3))).toBe('ok');
    expect(code(build.subarray(0, 40 + 4 * 3 - 1))).toBe('DECODE_TRUNCATED');
    for (const entries of [-1, SyncLimits.serviceListEntriesMax + 1]) {
      const bad = encodeSyncServiceBuild(R1, []);
      new DataView(bad.buffer).setInt32(32, entries, true);
      expect(code(bad)).toBe('DECODE_BAD_FIELD');
    }
  });
});

describe('SyncEngine rounds', () => {
  it('runs init on the REGULAR confchg, then process → barrier → activate per service, ascending, then completes', () => {
    const bus = new Bus();
    for (const id of [1, 2, 3]) bus.add(id, [3, 0, 2]);
    bus.ring(R1, [1, 2, 3]);
    // Every node sent its SERVICE_BUILD on start(); init ran before any delivery.
    expect(bus.queue.map((m) => m.payload.length)).toEqual([552, 552, 552]);
    bus.run();
    for (const id of [1, 2, 3]) {
      expect(bus.of(id)).toEqual([
        `${id}/0:init trans=1,2,3 members=1,2,3 ring=1.8`,
        `${id}/2:init trans=1,2,3 members=1,2,3 ring=1.8`,
        `${id}/3:init trans=1,2,3 members=1,2,3 ring=1.8`,
        `${id}/0:process done`, `${id}/0:activate`,
        `${id}/2:process done`, `${id}/2:activate`,
        `${id}/3:process done`, `${id}/3:activate`,
        `${id}:complete`,
      ]);
      const c = bus.members.get(id)!.engine.counters();
      expect(c).toMatchObject({ syncsStarted: 1, syncsCompleted: 1, serviceBuildsReceived: 3, barriersReceived: 9, staleDiscarded: 0 });
      expect(bus.members.get(id)!.engine.status()).toMatchObject({ state: 'barrier', processingIndex: 3, processPending: false });
    }
  });

  it('never starts a round before the previous round\'s last barrier is delivered', () => {
    const bus = new Bus();
    for (const id of [1, 2]) bus.add(id, [0, 2]);
    bus.ring(R1, [1, 2]);
    bus.deliver();
    bus.token();
    // Both barriers of round 0 are queued but not delivered: nobody may process service 2.
    expect(bus.log.filter((l) => l.includes('/2:process'))).toEqual([]);
    bus.deliver([1]);
    bus.token();
    expect(bus.log.filter((l) => l.includes('/2:process'))).toEqual(['1/2:process done']);
  });

  it('passes the transitional list ∩ members to init, in the transitional order', () => {
    const bus = new Bus();
    const m = bus.add(2, [0]);
    m.confchg('transitional', [3, 2, 1], R1);
    m.confchg('regular', [1, 2, 4], R1);
    expect(bus.log[0]).toBe('2/0:init trans=2,1 members=1,2,4 ring=1.8');
  });

  it('retries a process() that answers again on the next poll, sending its barrier only when done', () => {
    const bus = new Bus();
    bus.add(1, [0, 2], { 2: { process: ['again', 'again', 'done'] } });
    bus.add(2, [0, 2]);
    bus.ring(R1, [1, 2]);
    bus.run();
    expect(bus.of(1)).toEqual([
      '1/0:init trans=1,2 members=1,2 ring=1.8', '1/2:init trans=1,2 members=1,2 ring=1.8',
      '1/0:process done', '1/0:activate',
      '1/2:process again', '1/2:process again', '1/2:process done', '1/2:activate',
      '1:complete',
    ]);
    expect(bus.members.get(2)!.completions).toBe(1);
    expect(bus.members.get(1)!.engine.counters()).toMatchObject({ processCalls: 4, processAgain: 2 });
  });

  it('completes right after the SERVICE_BUILDs when nobody has a sync service', () => {
    const bus = new Bus();
    bus.add(1, []);
    bus.add(2, []);
    bus.ring(R1, [1, 2]);
    bus.run(1);
    expect(bus.log).toEqual(['1:complete', '2:complete']);
    expect(bus.members.get(1)!.engine.status().state).toBe('service-list-build');
  });

  it('keeps a sync message the send queue refused and sends it on the next poll', () => {
    const bus = new Bus();
    const one = bus.add(1, [0]);
    bus.add(2, [0]);
    one.refuse = 2;
    bus.ring(R1, [1, 2]);
    expect(bus.queue).toHaveLength(1);
    bus.token(); // refused again
    bus.token();
    bus.run();
    expect(bus.log.filter((l) => l.endsWith('complete'))).toEqual(['1:complete', '2:complete']);
    expect(one.engine.counters().sendsDeferred).toBe(1);
  });
});

describe('SyncEngine with a real corosync peer advertising more services', () => {
  it('merges [0,2,3,5] into its own [0,2,3] as a dummy round for 5 and completes', () => {
    const bus = new Bus();
    const ours = bus.add(1, [0, 2, 3]);
    // Node 2 plays a corosync 3.1.7 node: scripted SERVICE_BUILD and one barrier per round.
    ours.confchg('transitional', [1], R1);
    ours.confchg('regular', [1, 2], R1);
    bus.queue.push({ sender: 2, payload: encodeSyncServiceBuild(R1, [0, 2, 3, 5]) });
    bus.deliver([1]);
    expect(ours.engine.status().services.map((s) => [s.id, s.local])).toEqual([[0, true], [2, true], [3, true], [5, false]]);
    for (let round = 0; round < 4; round += 1) {
      bus.token();
      bus.queue.push({ sender: 2, payload: encodeSyncBarrier(R1) });
      bus.deliver([1]);
    }
    expect(ours.completions).toBe(1);
    expect(ours.engine.counters()).toMatchObject({ dummiesAdded: 1, barriersReceived: 8, syncsCompleted: 1 });
    expect(ours.engine.status().services.find((s) => s.id === 5)?.name).toBe('Unknown External Service (id = 5)');
    expect(bus.of(1).filter((l) => l.includes('activate'))).toEqual(['1/0:activate', '1/2:activate', '1/3:activate']);
  });

  it('waits for the dummy round: completing after three rounds would leave the peer one barrier short', () => {
    const bus = new Bus();
    const ours = bus.add(1, [0, 2, 3]);
    ours.confchg('regular', [1, 2], R1);
    bus.queue.push({ sender: 2, payload: encodeSyncServiceBuild(R1, [0, 2, 3, 5]) });
    bus.deliver([1]);
    for (let round = 0; round < 3; round += 1) {
      bus.token();
      bus.queue.push({ sender: 2, payload: encodeSyncBarrier(R1) });
      bus.deliver([1]);
    }
    expect(ours.completions).toBe(0);
    // Our own fourth barrier (for 5) is sent although we do not run service 5.
    bus.token();
    expect(bus.queue.map((m) => m.payload.length)).toEqual([32]);
  });
});

describe('SyncEngine interrupted by a configuration change', () => {
  it('aborts the service in its process phase (twice: TRANSITIONAL and REGULAR, as main.c does) and restarts on the new ring', () => {
    const bus = new Bus();
    bus.add(1, [0, 2], { 2: { process: ['again', 'again', 'again'] } });
    bus.add(2, [0, 2]);
    bus.add(3, [0, 2]);
    bus.ring(R1, [1, 2, 3]);
    bus.run(3);
    expect(bus.log.filter((l) => l.includes('/2:process'))).toEqual(['1/2:process again', '2/2:process done', '3/2:process done', '1/2:process again']);
    bus.log.length = 0;
    bus.members.delete(3);
    bus.ring(R2, [1, 2]);
    // Node 1 was processing service 2: aborted at each confchg. Node 2 had sent its
    // barrier (waiting for node 1's): corosync 3.1.7 aborts nothing there; we abort it
    // once (corosync PR #828: the service must drop what it collected for this round).
    expect(bus.log.filter((l) => l.includes('abort'))).toEqual(['1/2:abort', '1/2:abort', '2/2:abort']);
    bus.run();
    expect(bus.log.filter((l) => l.endsWith('complete'))).toEqual(['1:complete', '2:complete']);
    expect(bus.of(1).filter((l) => !l.includes('init') && !l.includes('abort'))).toEqual([
      '1/0:process done', '1/0:activate', '1/2:process again', '1/2:process done', '1/2:activate', '1:complete',
    ]);
  });

  it('discards messages of the aborted ring, between the confchgs and after the new start', () => {
    const bus = new Bus();
    const one = bus.add(1, [0]);
    bus.add(2, [0]);
    bus.ring(R1, [1, 2]);
    bus.deliver();
    bus.token();
    // Both barriers of R1 are queued; a new ring forms before they are delivered.
    const stale = bus.queue.splice(0);
    one.confchg('transitional', [1, 2], R2);
    for (const m of stale) one.engine.deliver(m.sender, m.payload);
    expect(one.engine.status().ringId).toBeNull();
    one.confchg('regular', [1, 2], R2);
    for (const m of stale) one.engine.deliver(m.sender, m.payload);
    expect(one.completions).toBe(0);
    expect(one.engine.counters().staleDiscarded).toBe(4);
    expect(one.engine.status()).toMatchObject({ state: 'service-list-build', received: [] });
  });

  it('aborts nothing once sync has completed, and runs init again on the next ring', () => {
    const bus = new Bus();
    const one = bus.add(1, [0]);
    bus.ring(R1, [1]);
    bus.run();
    expect(one.completions).toBe(1);
    bus.log.length = 0;
    bus.ring(R2, [1]);
    expect(bus.log).toEqual(['1/0:init trans=1 members=1 ring=1.12']);
    expect(one.engine.counters()).toMatchObject({ aborts: 1, serviceAborts: 0 });
  });

  it('ignores a barrier round that completes after sync completed, and malformed messages', () => {
    const bus = new Bus();
    const one = bus.add(1, [0]);
    bus.ring(R1, [1]);
    bus.run();
    one.engine.deliver(1, encodeSyncBarrier(R1));
    one.engine.deliver(1, new Uint8Array(5));
    expect(one.completions).toBe(1);
    expect(one.engine.counters()).toMatchObject({ unexpectedBarriers: 1, malformed: 1 });
  });

  it('bounds the merged list at SERVICES_COUNT_MAX', () => {
    const bus = new Bus();
    const one = bus.add(1, [0]);
    one.confchg('regular', [1, 2], R1);
    const many = Array.from({ length: 100 }, (_, i) => i);
    one.engine.deliver(2, encodeSyncServiceBuild(R1, many));
    expect(one.engine.status().services).toHaveLength(SyncLimits.servicesMax);
    expect(one.engine.counters()).toMatchObject({ dummiesAdded: 63, servicesOverflow: 36 });
  });
});
