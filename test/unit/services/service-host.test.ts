// Goal: ServiceHost (src/services/service-host.ts) composes totempg, the sync engine and
// the services as corosync 3.1.7's exec/main.c does: services see both confchgs before
// their sync init; every member completes sync and acknowledges the transition
// (totempg_trans_ack); exec messages reach the same services in the same order on every
// member (EVS); a message cut into many packets survives a configuration change when its
// sender survives and is dropped on every survivor when its sender fails mid-message;
// malformed exec messages are counted, never thrown.
// Method: a lock-step network of real TotemNodes (like test/unit/totem/srp/harness.ts,
// but the events go to a ServiceHost per node and nothing calls transAck except the
// host). Each host runs a fake sync participant (id 2) that multicasts one message per
// node in its process hook and a fake non-participant (id 4), both logging every call and
// delivery tagged with the last confchg seen. Dispatch details use a fake node.

import { describe, expect, it } from '@jest/globals';
import { AssertionError } from '../../../src/base/assert';
import { Prng } from '../../../src/base/prng';
import { CfgService, encodeCfgKillNode } from '../../../src/services/cfg-service';
import { execId, writeExecHeader } from '../../../src/services/exec-header';
import type { Service, ServiceApi, ServiceConfChange, ServiceIdCode, SyncHooks } from '../../../src/services/service-api';
import { ServiceHost } from '../../../src/services/service-host';
import { encodeSyncBarrier, encodeSyncServiceBuild } from '../../../src/services/sync';
import { defaultTotemConfig } from '../../../src/totem/config';
import { encodeGroupMessage, GROUP_A, GROUP_SYNC, groupName } from '../../../src/totem/pg/groups';
import { encodePgPacket } from '../../../src/totem/pg/packet';
import type { TotemPgNode } from '../../../src/totem/pg/totem-pg';
import { TotemNode } from '../../../src/totem/srp/totem-node';
import type { TotemEvent } from '../../../src/totem/srp/types';
import { decodeMessage, encodeMessage } from '../../../src/totem/wire/codec';
import type { RingId, TotemMessage } from '../../../src/totem/wire/messages';

const FN_SYNC_DATA = 1;
const FN_APP = 3;

function ringText(r: RingId): string {
  return `${r.rep}.${r.seq}`;
}

/** An exec message of `service`/`fn` whose body is `text` (or `bytes` zero bytes). */
function execMessage(service: number, fn: number, text: string, bytes = 0): Uint8Array {
  const body = bytes > 0 ? new Uint8Array(bytes).fill(text.charCodeAt(0)) : new TextEncoder().encode(text);
  const m = new Uint8Array(16 + body.length);
  writeExecHeader(m, execId(service, fn), m.length);
  m.set(body, 16);
  return m;
}

function bodyText(message: Uint8Array): string {
  const body = message.subarray(16);
  return body.length > 64 ? `<${body.length} bytes of ${String.fromCharCode(body[0] ?? 0)}>` : new TextDecoder().decode(body);
}

/** A fake service logging every call; a sync participant when `participates`. */
class FakeService implements Service {
  readonly id: ServiceIdCode;
  readonly name: string;
  readonly sync: SyncHooks | null;
  readonly calls: string[] = [];
  /** Deliveries as "tag|sender|fn|text", tag = the last confchg seen. */
  readonly delivered: string[] = [];
  /** Whether sync was running at each delivery (same index as `delivered`). */
  readonly syncingAt: boolean[] = [];
  api: ServiceApi | null = null;
  private tag = 'start';
  private ring: RingId | null = null;
  onConfchg: ((change: ServiceConfChange) => void) | null = null;

  /** When given, every call is also noted here as "<id> <call>" (confchg with its type). */
  private readonly trace: string[] | null;

  constructor(id: ServiceIdCode, participates: boolean, trace: string[] | null = null) {
    this.trace = trace;
    this.id = id;
    this.name = `fake-${id}`;
    this.sync = participates ? this.hooks() : null;
  }

  deliver(fn: number, sender: number, message: Uint8Array): void {
    this.delivered.push(`${this.tag}|${sender}|${fn}|${bodyText(message)}`);
    this.syncingAt.push(this.api?.isSyncing() ?? false);
  }

  confchg(change: ServiceConfChange): void {
    this.tag = `${change.type[0]}:${ringText(change.ringId)}`;
    this.note(`confchg ${change.type} ${ringText(change.ringId)} syncing=${this.api?.isSyncing()}`);
    this.onConfchg?.(change);
  }

  /** The calls made for ring `ring` (from its transitional confchg on). */
  callsFor(ring: RingId): string[] {
    const start = this.calls.indexOf(`confchg transitional ${ringText(ring)} syncing=true`);
    const rest = this.calls.slice(start);
    const next = rest.findIndex((c, i) => i > 1 && c.startsWith('confchg transitional'));
    return next < 0 ? rest : rest.slice(0, next);
  }

  private hooks(): SyncHooks {
    return {
      init: (trans, members, ring) => {
        this.ring = ring;
        this.note(`init ${ringText(ring)} trans=${trans.join(',')} members=${members.join(',')}`);
      },
      process: () => {
        const api = this.api!;
        const result = api.mcast(execMessage(this.id, FN_SYNC_DATA, `sync-data ${api.localNodeId} ${ringText(this.ring!)}`));
        this.note(`process ${result}`);
        return result === 'queued' ? 'done' : 'again';
      },
      activate: () => this.note('activate'),
      abort: () => this.note('abort'),
    };
  }

  private note(call: string): void {
    this.calls.push(call);
    const words = call.split(' ');
    this.trace?.push(`${this.id} ${words[0] === 'confchg' ? `confchg ${words[1]}` : words[0]}`);
  }
}

interface Member {
  readonly id: number;
  readonly node: TotemNode;
  readonly host: ServiceHost;
  readonly participant: FakeService;
  readonly plain: FakeService;
  readonly log: string[];
  readonly counts: { transAcks: number };
  readonly kills: string[];
}

/** A lock-step network: datagrams through the codec, delivered `delay` ticks later, in order. */
class Cluster {
  readonly config = defaultTotemConfig(3);
  readonly nodelist = [1, 2, 3];
  readonly members = new Map<number, Member>();
  readonly retired: Member[] = [];
  private readonly ringSeqs = new Map<number, bigint>();
  private queue: Array<{ from: number; to: number; at: number; bytes: Uint8Array }> = [];
  now = 0;
  drop: (from: number, message: TotemMessage) => boolean = () => false;

  start(id: number): Member {
    const node = new TotemNode({
      nodeId: id, nodelist: this.nodelist, config: this.config,
      restoredRingSeq: this.ringSeqs.get(id) ?? 0n, prng: new Prng(id),
    });
    const log: string[] = [];
    const counts = { transAcks: 0 };
    const kills: string[] = [];
    const counted: TotemPgNode = {
      submit: (p) => node.submit(p),
      available: () => node.available(),
      transAck: () => {
        counts.transAcks += 1;
        node.transAck();
      },
      onTokenReceived: (cb) => node.onTokenReceived(cb),
    };
    const host = new ServiceHost({
      node: counted, localNodeId: id, tickMs: this.config.tickMs, netMtu: this.config.netMtu,
      log: (level, subsys, message) => log.push(`${level} ${subsys} ${message}`),
    });
    const member: Member = { id, node, host, participant: new FakeService(2, true), plain: new FakeService(4, false), log, counts, kills };
    member.participant.api = host.apiFor('FAKE2');
    member.plain.api = host.apiFor('FAKE4');
    host.register(member.participant);
    host.register(member.plain);
    host.register(new CfgService({ api: host.apiFor('CFG'), onKillRequest: (reason) => void kills.push(reason) }));
    host.onSyncComplete((ring, members) => void member.log.push(`sync complete ${ringText(ring)} ${members.join(',')}`));
    this.members.set(id, member);
    node.start();
    this.drain(member);
    return member;
  }

  crash(id: number): void {
    const m = this.members.get(id);
    if (m === undefined) return;
    this.members.delete(id);
    this.retired.push(m);
  }

  private drain(m: Member): void {
    for (let effects = m.node.takeEffects(); effects !== null; effects = m.node.takeEffects()) {
      if (effects.persistRingSeq !== null) this.ringSeqs.set(m.id, effects.persistRingSeq);
      for (const send of effects.sends) {
        if (this.drop(m.id, send.message)) continue;
        const bytes = encodeMessage(send.message);
        for (const to of send.to === 'all' ? this.nodelist : [send.to]) this.queue.push({ from: m.id, to, at: this.now + 1, bytes });
      }
      m.host.processTotemEvents(effects.events as TotemEvent[]);
    }
  }

  step(): void {
    this.now += 1;
    const due = this.queue.filter((p) => p.at <= this.now);
    this.queue = this.queue.filter((p) => p.at > this.now);
    for (const p of due) {
      const m = this.members.get(p.to);
      if (m === undefined) continue;
      const decoded = decodeMessage(p.bytes);
      if (!decoded.ok) throw decoded.error;
      m.node.receive(decoded.value);
      this.drain(m);
    }
    for (const m of this.members.values()) {
      m.node.tick();
      m.host.tick();
      this.drain(m);
    }
  }

  runUntil(predicate: () => boolean, ticksMax = 3000): boolean {
    for (let i = 0; i < ticksMax; i += 1) {
      if (predicate()) return true;
      this.step();
    }
    return predicate();
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i += 1) this.step();
  }

  /** Every listed member is in one ring of exactly these members, with sync completed. */
  synced(ids: number[]): boolean {
    return ids.every((id) => {
      const s = this.members.get(id)?.host.status();
      return s !== undefined && !s.syncing && s.members.join(',') === ids.join(',') && this.members.get(id)?.node.status().state === 'operational';
    });
  }

  ringOf(id: number): RingId {
    return this.members.get(id)!.host.api.ringId();
  }
}

/** EVS: members that delivered under the same confchg delivered the same messages in the same order. */
function expectSameDeliveries(members: readonly Member[], pick: (m: Member) => string[]): void {
  const byTag = new Map<string, Map<number, string[]>>();
  for (const m of members) {
    for (const line of pick(m)) {
      const tag = line.slice(0, line.indexOf('|'));
      const perNode = byTag.get(tag) ?? new Map<number, string[]>();
      byTag.set(tag, perNode);
      perNode.set(m.id, [...(perNode.get(m.id) ?? []), line]);
    }
  }
  for (const [tag, perNode] of byTag) {
    const lists = [...perNode.values()];
    for (const list of lists) expect([tag, list]).toEqual([tag, lists[0]]);
  }
}

describe('ServiceHost on three real TotemNodes', () => {
  it('forms, and every host completes sync with init/process/activate after both confchgs', () => {
    const cluster = new Cluster();
    const members = [1, 2, 3].map((id) => cluster.start(id));
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    cluster.run(50);
    const ring = cluster.ringOf(1);
    for (const m of members) {
      expect(cluster.ringOf(m.id)).toEqual(ring);
      expect(m.participant.callsFor(ring)).toEqual([
        `confchg transitional ${ringText(ring)} syncing=true`,
        `confchg regular ${ringText(ring)} syncing=true`,
        expect.stringMatching(new RegExp(`^init ${ringText(ring).replace('.', '\\.')} trans=.* members=1,2,3$`)),
        'process queued',
        'activate',
      ]);
      expect(m.plain.calls.filter((c) => c.includes(ringText(ring)))).toEqual([
        `confchg transitional ${ringText(ring)} syncing=true`,
        `confchg regular ${ringText(ring)} syncing=true`,
      ]);
      // One transAck per completed sync; totempg back in the normal table.
      const s = m.host.status();
      expect(m.counts.transAcks).toBe(s.counters.syncsCompleted);
      expect(s.pg.tableSwitches).toBeGreaterThan(0);
      expect(m.host.pg.activeTable).toBe('normal');
      expect(s.sync.counters.syncsCompleted).toBe(s.counters.syncsCompleted);
      // Every member's sync data arrived before this node activated the service.
      const data = m.participant.delivered.filter((d) => d.includes(`sync-data`) && d.endsWith(ringText(ring)));
      expect(data.map((d) => d.split('|')[1]).sort()).toEqual(['1', '2', '3']);
      expect(m.log).toContain(`sync complete ${ringText(ring)} 1,2,3`);
      expect(m.log).toContain('notice MAIN Completed service synchronization, ready to provide service.');
    }
    expectSameDeliveries(members, (m) => m.participant.delivered);
  });

  it('delivers exec messages sent during and after sync on every member, in one order', () => {
    const cluster = new Cluster();
    const members = [1, 2, 3].map((id) => cluster.start(id));
    for (const m of members) {
      // Sent from the REGULAR confchg hook: while sync runs (the node's trans queue).
      m.plain.onConfchg = (change) => {
        if (change.type === 'regular') expect(m.plain.api!.mcast(execMessage(4, FN_APP, `during ${m.id} ${ringText(change.ringId)}`))).toBe('queued');
      };
    }
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    for (let k = 0; k < 4; k += 1) {
      for (const m of members) expect(m.plain.api!.mcast(execMessage(4, FN_APP, `after ${m.id} #${k}`))).toBe('queued');
      cluster.run(2);
    }
    cluster.run(100);
    const ring = ringText(cluster.ringOf(1));
    for (const m of members) {
      const lines = m.plain.delivered.filter((d) => d.includes(ring) || d.includes('after'));
      expect(lines.filter((l) => l.includes(`during`))).toHaveLength(3);
      expect(lines.filter((l) => l.includes('after'))).toHaveLength(12);
      expect(m.host.status().counters).toMatchObject({ execMalformed: 0, execBadSize: 0, execUnknownService: 0, otherGroups: 0 });
    }
    expectSameDeliveries(members, (m) => [...m.participant.delivered, ...m.plain.delivered]);
    const reference = members[0]!.plain.delivered.filter((d) => d.includes('after'));
    for (const m of members) expect(m.plain.delivered.filter((d) => d.includes('after'))).toEqual(reference);
  });

  it('syncs again after a crash and after the restart, every member completing each ring it reached', () => {
    const cluster = new Cluster();
    [1, 2, 3].map((id) => cluster.start(id));
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    cluster.crash(3);
    expect(cluster.runUntil(() => cluster.synced([1, 2]), 5000)).toBe(true);
    const twoRing = cluster.ringOf(1);
    for (const id of [1, 2]) {
      const calls = cluster.members.get(id)!.participant.callsFor(twoRing);
      expect(calls.slice(0, 2)).toEqual([`confchg transitional ${ringText(twoRing)} syncing=true`, `confchg regular ${ringText(twoRing)} syncing=true`]);
      expect(calls[2]).toBe(`init ${ringText(twoRing)} trans=1,2 members=1,2`);
      expect(calls.slice(3)).toEqual(['process queued', 'activate']);
    }
    const restarted = cluster.start(3);
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]), 5000)).toBe(true);
    cluster.run(50);
    const finalRing = cluster.ringOf(1);
    for (const m of cluster.members.values()) {
      const calls = m.participant.callsFor(finalRing);
      expect(calls.filter((c) => !c.startsWith('init'))).toEqual([
        `confchg transitional ${ringText(finalRing)} syncing=true`,
        `confchg regular ${ringText(finalRing)} syncing=true`,
        'process queued',
        'activate',
      ]);
      // The restarted node joins the running ring without a ring of its own first
      // (TotemNode's singleton hold): it brings no old ring, its transitional set is empty.
      expect(calls.find((c) => c.startsWith('init'))).toBe(`init ${ringText(finalRing)} trans=${m === restarted ? '' : '1,2'} members=1,2,3`);
      expect(m.counts.transAcks).toBe(m.host.status().counters.syncsCompleted);
      expect(m.host.isSyncing()).toBe(false);
    }
    expectSameDeliveries([...cluster.members.values()], (m) => m.participant.delivered);
  });
});

describe('ServiceHost: a message cut into many packets across a configuration change', () => {
  /** Steps until `sender` has sent some but not all packets of what it queued; false if it never did. */
  function stepUntilPartlySent(cluster: Cluster, sender: number, queued: number): boolean {
    return cluster.runUntil(() => {
      const left = cluster.members.get(sender)!.node.status().sendQueueLength;
      return left > 0 && left < queued;
    }, 500);
  }

  it('arrives intact on every survivor when its sender survives (the rest is sent from the normal queue after sync)', () => {
    const cluster = new Cluster();
    [1, 2, 3].map((id) => cluster.start(id));
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    const one = cluster.members.get(1)!;
    const big = execMessage(4, FN_APP, 'B', 40000);
    const packets = one.host.pg.packetsNeeded([GROUP_A], big);
    expect(packets).toBeGreaterThan(cluster.config.maxMessages);
    expect(one.plain.api!.mcast(big)).toBe('queued');
    expect(stepUntilPartlySent(cluster, 1, packets)).toBe(true);
    cluster.crash(3);
    expect(cluster.runUntil(() => cluster.synced([1, 2]), 5000)).toBe(true);
    cluster.run(200);
    const ring = ringText(cluster.ringOf(1));
    for (const id of [1, 2]) {
      const m = cluster.members.get(id)!;
      expect(m.plain.delivered.filter((d) => d.includes('<40000 bytes of B>'))).toEqual([`r:${ring}|1|${FN_APP}|<40000 bytes of B>`]);
      // Completed after this node's sync of the new ring: its tail waited in the normal queue.
      expect(m.log).toContain(`sync complete ${ring} 1,2`);
      expect(m.plain.syncingAt[m.plain.delivered.findIndex((d) => d.includes('<40000 bytes of B>'))]).toBe(false);
      expect(m.host.status().pg.assembler).toMatchObject({ throwAways: 0 });
    }
  });

  it('is dropped on every survivor when its sender fails mid-message (its assembly is discarded at the confchg)', () => {
    const cluster = new Cluster();
    [1, 2, 3].map((id) => cluster.start(id));
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    const three = cluster.members.get(3)!;
    const big = execMessage(4, FN_APP, 'C', 40000);
    const packets = three.host.pg.packetsNeeded([GROUP_A], big);
    expect(three.plain.api!.mcast(big)).toBe('queued');
    expect(stepUntilPartlySent(cluster, 3, packets)).toBe(true);
    cluster.crash(3);
    expect(cluster.runUntil(() => cluster.synced([1, 2]), 5000)).toBe(true);
    for (const id of [1, 2]) expect(cluster.members.get(id)!.plain.api!.mcast(execMessage(4, FN_APP, `later ${id}`))).toBe('queued');
    cluster.run(200);
    for (const id of [1, 2]) {
      const m = cluster.members.get(id)!;
      expect(m.plain.delivered.filter((d) => d.includes('bytes of C'))).toEqual([]);
      expect(m.plain.delivered.filter((d) => d.includes('later')).map((d) => d.split('|').slice(1).join('|'))).toEqual([`1|${FN_APP}|later 1`, `2|${FN_APP}|later 2`]);
      expect(m.host.status().pg.assembler.assembliesDiscarded).toBe(1);
    }
  });
});

describe('ServiceHost with the cfg service', () => {
  it('acts on a KILLNODE only on the node it names', () => {
    const cluster = new Cluster();
    [1, 2, 3].map((id) => cluster.start(id));
    expect(cluster.runUntil(() => cluster.synced([1, 2, 3]))).toBe(true);
    expect(cluster.members.get(1)!.host.api.mcast(encodeCfgKillNode(2, 'maintenance'))).toBe('queued');
    cluster.run(20);
    expect([1, 2, 3].map((id) => cluster.members.get(id)!.kills)).toEqual([[], ['maintenance'], []]);
    expect(cluster.members.get(2)!.log).toContain('notice CFG Killed by node 1 : maintenance');
  });
});

// ---------------------------------------------------------------- dispatch details, fake node

function fakeNode() {
  const hooks: Array<() => void> = [];
  const state = { submitted: [] as Uint8Array[], transAcks: 0, available: 100 };
  const node: TotemPgNode = {
    submit: (p) => {
      state.submitted.push(p);
      return 'queued';
    },
    available: () => state.available,
    transAck: () => void (state.transAcks += 1),
    onTokenReceived: (cb) => void hooks.push(cb),
  };
  return { node, state, token: () => hooks.forEach((h) => h()) };
}

const R: RingId = { rep: 1, seq: 20n };
let seq = 0;

function packetEvent(sender: number, messages: Uint8Array[]): TotemEvent {
  const data = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of messages) {
    data.set(m, at);
    at += m.length;
  }
  seq += 1;
  const payload = encodePgPacket({ version: 0, type: 0, fragmented: 0, continuation: 0, msgLens: messages.map((m) => m.length), data });
  return { kind: 'deliver', ringId: R, seq, sender, payload };
}

function confchgEvents(members: number[], trans: number[] = members, left: number[] = [], joined: number[] = []): TotemEvent[] {
  return [
    { kind: 'confchg', type: 'transitional', ringId: R, members: trans, left, joined: [] },
    { kind: 'confchg', type: 'regular', ringId: R, members, left: [], joined },
  ];
}

function exec(message: Uint8Array): Uint8Array {
  return encodeGroupMessage([GROUP_A], message);
}

describe('ServiceHost dispatch', () => {
  it('hands group "a" messages to service id >> 16 with fn id & 0xffff, whole message included', () => {
    const { node } = fakeNode();
    const svc = new FakeService(2, false);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [svc] });
    host.processTotemEvents([packetEvent(7, [exec(execMessage(2, 6, 'six')), exec(execMessage(2, 0xffff, 'max'))])]);
    expect(svc.delivered).toEqual(['start|7|6|six', 'start|7|65535|max']);
  });

  it('drops size < 16 or size > length, cuts size < length to size, ignores unknown services and other groups', () => {
    const { node } = fakeNode();
    const svc = new FakeService(2, false);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [svc] });
    const tooBig = execMessage(2, 3, 'abc');
    new DataView(tooBig.buffer).setInt32(8, tooBig.length + 1, true);
    const tooSmall = execMessage(2, 3, 'abc');
    new DataView(tooSmall.buffer).setInt32(8, 15, true);
    const negative = execMessage(2, 3, 'abc');
    new DataView(negative.buffer).setInt32(8, -1, true);
    const trailing = new Uint8Array(24);
    trailing.set(execMessage(2, 3, 'ok'));
    const events = [
      packetEvent(2, [exec(tooBig), exec(tooSmall), exec(negative), exec(trailing)]),
      packetEvent(2, [exec(new Uint8Array(10)), exec(execMessage(9, 0, 'nobody')), exec(execMessage(0x7fff, 0, 'nobody'))]),
      packetEvent(2, [encodeGroupMessage([groupName('ykd')], execMessage(2, 0, 'not joined'))]),
    ];
    expect(() => host.processTotemEvents(events)).not.toThrow();
    expect(svc.delivered).toEqual(['start|2|3|ok']);
    expect(host.status().counters).toMatchObject({
      execBadSize: 3, execTrailingBytes: 1, execMalformed: 1, execUnknownService: 2, otherGroups: 1, execDelivered: 1,
    });
  });

  it('delivers exec messages while sync runs, before any SERVICE_BUILD', () => {
    const { node } = fakeNode();
    const svc = new FakeService(2, true);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [svc] });
    svc.api = host.api;
    host.processTotemEvents([...confchgEvents([1, 2]), packetEvent(2, [exec(execMessage(2, 0, 'early'))])]);
    expect(host.isSyncing()).toBe(true);
    expect(svc.delivered).toEqual(['r:1.20|2|0|early']);
  });
});

describe('ServiceHost order of operations (main.c confchg_fn)', () => {
  it('calls every service\'s confchg (ascending id) before sync init, aborts the service of the running round', () => {
    const { node, state, token } = fakeNode();
    const order: string[] = [];
    const a = new FakeService(5, true, order);
    const b = new FakeService(0, false, order);
    const c = new FakeService(2, true, order);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [a, b, c] });
    for (const s of [a, c]) s.api = host.api;
    host.processTotemEvents(confchgEvents([1, 2]));
    expect(order).toEqual(['0 confchg transitional', '2 confchg transitional', '5 confchg transitional', '0 confchg regular', '2 confchg regular', '5 confchg regular', '2 init', '5 init']);
    // SERVICE_BUILD with the participants [2, 5] is waiting for the token.
    expect(host.pg.pendingEntries).toBe(1);
    token();
    expect(state.submitted).toHaveLength(1);
    // Both SERVICE_BUILDs delivered: service 2's process runs on the next token.
    order.length = 0;
    host.processTotemEvents([packetEvent(1, [encodeGroupMessage([GROUP_SYNC], encodeSyncServiceBuild(R, [2, 5]))]), packetEvent(2, [encodeGroupMessage([GROUP_SYNC], encodeSyncServiceBuild(R, [0, 2, 3, 5]))])]);
    expect(order).toEqual([]);
    expect(host.status().sync.services.map((x) => [x.id, x.local])).toEqual([[0, false], [2, true], [3, false], [5, true]]);
    // Round 0 is node 2's cmap, a dummy here: the token sends our barrier without a hook call.
    token();
    expect(order).toEqual([]);
    expect(host.status().sync).toMatchObject({ state: 'barrier', processingIndex: 0 });
    const barrier = encodeGroupMessage([GROUP_SYNC], encodeSyncBarrier(R));
    host.processTotemEvents([packetEvent(1, [barrier]), packetEvent(2, [barrier])]);
    token();
    expect(order).toEqual(['2 process']);
    // A new configuration before the barrier round completes: service 2 had reported done
    // (barrier sent) and waits for the others' barriers. corosync 3.1.7 aborts nothing
    // here; we abort it (corosync PR #828), once: the second confchg finds no ring.
    order.length = 0;
    host.processTotemEvents(confchgEvents([1]));
    expect(order.filter((o) => o.endsWith('abort'))).toEqual(['2 abort']);
    expect(host.status().sync.counters).toMatchObject({ aborts: 1, serviceAborts: 1 });
  });

  it('completes with transAck before the listeners, then reports not syncing', () => {
    const { node, state, token } = fakeNode();
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10 });
    const seen: string[] = [];
    host.onSyncComplete((ring, members) => seen.push(`${ringText(ring)} ${members.join(',')} transAcks=${state.transAcks} syncing=${host.isSyncing()}`));
    expect(host.pg.activeTable).toBe('transitional');
    host.processTotemEvents(confchgEvents([1]));
    token();
    host.processTotemEvents([packetEvent(1, [encodeGroupMessage([GROUP_SYNC], encodeSyncServiceBuild(R, []))])]);
    expect(seen).toEqual(['1.20 1 transAcks=1 syncing=false']);
    expect(host.pg.activeTable).toBe('normal');
    // A barrier for the finished ring changes nothing.
    host.processTotemEvents([packetEvent(1, [encodeGroupMessage([GROUP_SYNC], encodeSyncBarrier(R))])]);
    expect(seen).toHaveLength(1);
  });
});

describe('ServiceHost API', () => {
  it('reports members, ring, time, quorum from the provider, and logs through the sink with a subsystem', () => {
    const { node } = fakeNode();
    const lines: string[] = [];
    const host = new ServiceHost({ node, localNodeId: 3, tickMs: 25, log: (level, subsys, message) => lines.push(`${level} ${subsys} ${message}`) });
    const api = host.apiFor('CPG');
    expect([api.localNodeId, api.tickMs, api.members(), api.ringId(), api.isQuorate(), api.isSyncing(), api.now()]).toEqual([3, 25, [], { rep: 0, seq: 0n }, true, true, 0]);
    host.processTotemEvents(confchgEvents([3, 1, 2], [1], [], [2, 3]));
    host.tick();
    host.tick();
    let quorate = false;
    host.setQuorumProvider(() => quorate);
    expect([api.members(), api.ringId(), api.isQuorate(), api.now()]).toEqual([[1, 2, 3], R, false, 2]);
    quorate = true;
    expect(api.isQuorate()).toBe(true);
    api.log('info', 'hello');
    expect(lines).toContain('info CPG hello');
    expect(lines).toContain('debug MAIN Member joined: 2');
  });

  it('asserts on programmer errors: a wrong size field, a duplicate id, registering after events', () => {
    const { node } = fakeNode();
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [new FakeService(2, false)] });
    const wrong = execMessage(2, 3, 'abc');
    new DataView(wrong.buffer).setInt32(8, 99, true);
    expect(() => host.api.mcast(wrong)).toThrow(AssertionError);
    expect(() => host.register(new FakeService(2, true))).toThrow(AssertionError);
    host.processTotemEvents([]);
    expect(() => host.register(new FakeService(4, false))).toThrow(AssertionError);
  });

  it('passes pieces to totempg as segments and reports full when the send queue cannot take the packets', () => {
    const { node, state } = fakeNode();
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10 });
    const big = execMessage(4, 1, 'x', 5000);
    state.available = 1;
    expect(host.api.mcast([big.subarray(0, 16), big.subarray(16)])).toBe('full');
    state.available = 10;
    expect(host.api.mcast([big.subarray(0, 16), big.subarray(16)])).toBe('queued');
    expect(state.submitted.length).toBe(4);
    expect(host.status().counters).toMatchObject({ mcastFull: 1, mcastQueued: 1 });
  });
});

describe('ServiceHost time: advance and ticksToNextTimer', () => {
  /** A service whose tick hook is due at the ticks in `dueAt` (absolute host ticks); logs the ticks it ran at. */
  class TimedService implements Service {
    readonly id: ServiceIdCode;
    readonly name: string;
    readonly sync = null;
    readonly ranAt: number[] = [];
    api: ServiceApi | null = null;
    private readonly dueAt: number[];
    constructor(id: ServiceIdCode, dueAt: number[]) {
      this.id = id;
      this.name = `timed-${id}`;
      this.dueAt = dueAt;
    }
    deliver(): void {}
    confchg(): void {}
    tick(): void {
      const now = this.api?.now() ?? -1;
      this.ranAt.push(now);
      while (this.dueAt.length > 0 && (this.dueAt[0] ?? Infinity) <= now) this.dueAt.shift();
    }
    ticksToNextTimer(): number | null {
      const next = this.dueAt[0];
      return next === undefined ? null : next - (this.api?.now() ?? 0);
    }
  }

  it('runs the tick hooks only at the ticks a service is due, and sleeps when none is', () => {
    const { node } = fakeNode();
    const a = new TimedService(2, [5, 9, 30]);
    const b = new TimedService(3, [7]);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 1, services: [a, b] });
    a.api = host.api;
    b.api = host.api;
    expect(host.ticksToNextTimer()).toBe(5);
    host.advance(4);
    expect(a.ranAt).toEqual([]);
    host.advance(100);
    // Every tick hook runs whenever one is due (a hook that is not due does nothing).
    expect(a.ranAt).toEqual([5, 7, 9, 30]);
    expect(b.ranAt).toEqual([5, 7, 9, 30]);
    expect(host.status().ticks).toBe(104);
    expect(host.ticksToNextTimer()).toBeNull();
  });

  it('ticks every tick a service with a tick hook but no ticksToNextTimer, and none without a hook', () => {
    const { node } = fakeNode();
    const ranAt: number[] = [];
    const legacy: Service = { id: 2, name: 'legacy', sync: null, deliver: () => undefined, confchg: () => undefined, tick: () => ranAt.push(host.api.now()) };
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 1, services: [legacy, new FakeService(4, false)] });
    expect(host.ticksToNextTimer()).toBe(1);
    host.advance(3);
    expect(ranAt).toEqual([1, 2, 3]);
    const quiet = new ServiceHost({ node, localNodeId: 1, tickMs: 1, services: [new FakeService(4, false)] });
    expect(quiet.ticksToNextTimer()).toBeNull();
  });

  it('keeps the services\' clock where as many tick() calls would', () => {
    const { node } = fakeNode();
    const jumped = new TimedService(5, [12]);
    const host = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [jumped] });
    jumped.api = host.api;
    const twin = new TimedService(5, [12]);
    const ticked = new ServiceHost({ node, localNodeId: 1, tickMs: 10, services: [twin] });
    twin.api = ticked.api;
    for (let i = 0; i < 20; i += 1) ticked.tick();
    host.advance(7);
    host.advance(13);
    expect([host.api.now(), ticked.api.now()]).toEqual([20, 20]);
    expect(jumped.ranAt).toEqual([12]);
    expect(twin.ranAt).toHaveLength(20);
    expect(() => host.advance(-1)).toThrow(AssertionError);
  });
});
