// Goal: TotemPg (src/totem/pg/totem-pg.ts) is totempg over one node as corosync 3.1.7 runs
// it (corosync-wire.md §5, §3.6 step 8, §7.3 step 6): small messages wait for the token,
// large ones are cut at once, delivered packets come back as group messages in order,
// malformed input is counted and dropped, left nodes' unfinished messages are dropped at
// a confchg, and the reassembly table follows waiting_trans_ack (transitional from start
// and from the REGULAR confchg, normal again on transAck()).
// Method: a fake node records submitted packets and runs the token hooks on demand;
// packets to deliver are built with encodePgPacket / encodeGroupMessage; one test runs a
// real 3-node TotemNode ring through the unit harness.

import { describe, expect, it } from '@jest/globals';
import { encodeGroupMessage, GROUP_A, GROUP_SYNC, groupName } from '../../../../src/totem/pg/groups';
import { decodePgPacket, encodePgPacket } from '../../../../src/totem/pg/packet';
import { TotemPg, type PgEvent, type TotemPgNode } from '../../../../src/totem/pg/totem-pg';
import type { ConfChangeEvent, DeliverEvent } from '../../../../src/totem/srp/types';
import { Harness } from '../srp/harness';

const RING = { rep: 1, seq: 4n };

function fakeNode(available = 100) {
  const submitted: Uint8Array[] = [];
  const hooks: Array<() => void> = [];
  const state = { available, transAcks: 0 };
  const node: TotemPgNode = {
    submit: (payload) => {
      if (state.available <= 0) return 'full';
      state.available -= 1;
      submitted.push(payload);
      return 'queued';
    },
    available: () => state.available,
    transAck: () => void (state.transAcks += 1),
    onTokenReceived: (callback) => void hooks.push(callback),
  };
  return { node, submitted, state, token: () => hooks.forEach((h) => h()) };
}

let seq = 0;
function deliver(sender: number, payload: Uint8Array): DeliverEvent {
  seq += 1;
  return { kind: 'deliver', ringId: RING, seq, sender, payload };
}

function confchg(type: 'transitional' | 'regular', members: number[], left: number[] = [], joined: number[] = []): ConfChangeEvent {
  return { kind: 'confchg', type, ringId: RING, members, left, joined };
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** One totempg packet holding whole messages (or the given fragment flags). */
function packet(messages: Uint8Array[], fragmented = 0, continuation = 0): Uint8Array {
  const data = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of messages) {
    data.set(m, at);
    at += m.length;
  }
  return encodePgPacket({ version: 0, type: 0, fragmented, continuation, msgLens: messages.map((m) => m.length), data });
}

function delivered(events: PgEvent[]): Array<[number, string[], string]> {
  return events.flatMap((e) =>
    e.kind === 'deliver' ? [[e.sender, e.groups.map((g) => new TextDecoder().decode(g)), new TextDecoder().decode(e.payload)] as [number, string[], string]] : [],
  );
}

describe('TotemPg sending', () => {
  it('packs small messages until the token, then sends them as one packet before the token callbacks run', () => {
    const { node, submitted, token } = fakeNode();
    const pg = new TotemPg(node);
    const order: string[] = [];
    pg.onTokenReceived(() => order.push(`callback after ${submitted.length} packets`));
    expect(pg.mcast([GROUP_A], text('one'))).toBe('queued');
    expect(pg.mcast([GROUP_SYNC], text('two'))).toBe('queued');
    expect(submitted).toHaveLength(0);
    expect(pg.pendingEntries).toBe(2);
    token();
    expect(order).toEqual(['callback after 1 packets']);
    const p = decodePgPacket(submitted[0]!);
    if (!p.ok) throw p.error;
    expect(p.value.msgLens).toEqual([5 + 3, 8 + 3]);
    expect(pg.counters()).toMatchObject({ mcastQueued: 2, flushesSent: 1 });
  });

  it('cuts a 5000-byte message into packets of at most net_mtu and queues them at once', () => {
    const { node, submitted } = fakeNode();
    const pg = new TotemPg(node, { netMtu: 1410 });
    expect(pg.mcast([GROUP_A], new Uint8Array(5000))).toBe('queued');
    expect(submitted.length).toBe(4);
    for (const p of submitted) expect(p.length).toBeLessThanOrEqual(1410);
  });

  it('refuses with full when the send queue cannot take the cut packets, and too-large past 1 MiB', () => {
    const { node, submitted, state, token } = fakeNode(2);
    const pg = new TotemPg(node);
    expect(pg.packetsNeeded([GROUP_A], new Uint8Array(5000))).toBe(4);
    expect(pg.mcast([GROUP_A], new Uint8Array(5000))).toBe('full');
    expect(pg.mcast([GROUP_A], new Uint8Array(1024 * 1024))).toBe('too-large');
    expect(submitted).toHaveLength(0);
    // A buffered message waits for a slot: the flush on a token with no room is blocked.
    expect(pg.mcast([GROUP_A], text('small'))).toBe('queued');
    state.available = 0;
    token();
    expect(submitted).toHaveLength(0);
    state.available = 1;
    token();
    expect(submitted).toHaveLength(1);
    expect(pg.counters()).toMatchObject({ mcastFull: 1, mcastTooLarge: 1, mcastQueued: 1, flushesBlocked: 1, flushesSent: 1 });
  });
});

describe('TotemPg receiving', () => {
  it('turns a packet into its group messages in order, headers stripped', () => {
    const pg = new TotemPg(fakeNode().node);
    const events = pg.process(deliver(2, packet([encodeGroupMessage([GROUP_A], text('x')), encodeGroupMessage([GROUP_SYNC], text('yy'))])));
    expect(delivered(events)).toEqual([[2, ['a'], 'x'], [2, ['sync'], 'yy']]);
  });

  it('reassembles a message cut across packets, interleaved with another sender', () => {
    const { node, submitted } = fakeNode();
    const sender = new TotemPg(node);
    const big = new Uint8Array(4000).map((_, i) => i & 0xff);
    sender.mcast([GROUP_A], big);
    const pg = new TotemPg(fakeNode().node);
    const events: PgEvent[] = [];
    submitted.forEach((p, i) => {
      events.push(...pg.process(deliver(1, p)));
      if (i === 0) events.push(...pg.process(deliver(2, packet([encodeGroupMessage([GROUP_A], text('between'))]))));
    });
    expect(events.map((e) => (e.kind === 'deliver' ? [e.sender, e.payload.length] : e.kind))).toEqual([[2, 7], [1, 4000]]);
    const last = events[1];
    if (last?.kind !== 'deliver') throw new Error('expected a delivery');
    expect(last.payload).toEqual(big);
  });

  it('counts and drops malformed packets and group headers, delivering the rest', () => {
    const pg = new TotemPg(fakeNode().node);
    expect(pg.process(deliver(1, new Uint8Array([0, 0, 0])))).toEqual([]);
    const badHeader = new Uint8Array([5, 0, 1]); // five groups announced, no room for them
    const events = pg.process(deliver(1, packet([badHeader, encodeGroupMessage([groupName('other')], text('z'))])));
    expect(delivered(events)).toEqual([[1, ['other'], 'z']]);
    expect(pg.counters()).toMatchObject({ packetsReceived: 2, packetsMalformed: 1, groupHeadersMalformed: 1, messagesDelivered: 1 });
  });

  it('passes confchgs through in order and drops the unfinished messages of nodes that left', () => {
    const pg = new TotemPg(fakeNode().node);
    const head = encodeGroupMessage([GROUP_A], text('head-'));
    const first = pg.process(deliver(3, packet([head], 1, 0)));
    expect(first).toEqual([]);
    const trans = confchg('transitional', [1, 2], [3]);
    expect(pg.process(trans)).toEqual([trans]);
    // The tail alone: a continuation of nothing, thrown away like corosync does.
    expect(pg.process(deliver(3, packet([text('tail')], 0, 1)))).toEqual([]);
    expect(pg.counters().assembler).toMatchObject({ assembliesDiscarded: 1, throwAways: 1 });
  });
});

describe('TotemPg reassembly tables', () => {
  it('starts in the transitional table, returns to normal on transAck (and acks the node)', () => {
    const fake = fakeNode();
    const pg = new TotemPg(fake.node);
    expect(pg.activeTable).toBe('transitional');
    pg.transAck();
    expect(pg.activeTable).toBe('normal');
    expect(fake.state.transAcks).toBe(1);
  });

  it('completes an old-ring message during the transitional deliveries and switches at the REGULAR confchg', () => {
    const pg = new TotemPg(fakeNode().node);
    pg.transAck();
    const message = encodeGroupMessage([GROUP_A], text('cut-across-the-change'));
    const events = [
      ...pg.process(deliver(2, packet([message.subarray(0, 10)], 1, 0))),
      ...pg.process(confchg('transitional', [1, 2], [3])),
    ];
    expect(pg.activeTable).toBe('normal');
    events.push(...pg.process(deliver(2, packet([message.subarray(10)], 0, 1))));
    events.push(...pg.process(confchg('regular', [1, 2])));
    expect(pg.activeTable).toBe('transitional');
    expect(events.map((e) => (e.kind === 'deliver' ? new TextDecoder().decode(e.payload) : e.type))).toEqual([
      'transitional',
      'cut-across-the-change',
      'regular',
    ]);
  });

  it('keeps an unfinished old-ring message aside while the new ring syncs in the transitional table', () => {
    const pg = new TotemPg(fakeNode().node);
    pg.transAck();
    const old = encodeGroupMessage([GROUP_A], text('old-ring-message'));
    pg.process(deliver(2, packet([old.subarray(0, 6)], 1, 0)));
    pg.process(confchg('transitional', [1, 2]));
    pg.process(confchg('regular', [1, 2]));
    // New-ring traffic from the same sender starts afresh in the transitional table.
    const fresh = pg.process(deliver(2, packet([encodeGroupMessage([GROUP_SYNC], text('build'))])));
    expect(delivered(fresh)).toEqual([[2, ['sync'], 'build']]);
    pg.transAck();
    // Back in the normal table the old assembly is still there, as in corosync.
    const rest = pg.process(deliver(2, packet([old.subarray(6)], 0, 1)));
    expect(delivered(rest)).toEqual([[2, ['a'], 'old-ring-message']]);
    expect(pg.counters().tableSwitches).toBe(3);
  });
});

describe('TotemPg over real TotemNodes', () => {
  it('delivers small and cut messages of three nodes in the same order everywhere', () => {
    const harness = new Harness([1, 2, 3]);
    const pgs = new Map<number, TotemPg>();
    const seen = new Map<number, string[]>();
    for (const id of [1, 2, 3]) {
      const node = harness.startNode(id);
      pgs.set(id, new TotemPg(node, { netMtu: harness.config.netMtu }));
      seen.set(id, []);
    }
    expect(harness.runUntil(() => harness.allOperationalWith([1, 2, 3]), 2000)).toBe(true);
    const consumed = new Map<number, number>([[1, 0], [2, 0], [3, 0]]);
    const pump = () => {
      for (const [id, pg] of pgs) {
        const events = harness.events.get(id) ?? [];
        for (let i = consumed.get(id) ?? 0; i < events.length; i += 1) {
          for (const e of pg.process(events[i]!)) {
            if (e.kind === 'deliver') seen.get(id)?.push(`${e.sender}:${e.payload.length}:${e.payload[0]}`);
          }
        }
        consumed.set(id, events.length);
      }
    };
    pump();
    for (const id of [1, 2, 3]) pgs.get(id)?.transAck();
    for (let k = 0; k < 5; k += 1) {
      for (const [id, pg] of pgs) {
        expect(pg.mcast([GROUP_A], new Uint8Array(k === 2 ? 5000 : 40 + id).fill(10 * id + k))).toBe('queued');
      }
      harness.run(3);
      pump();
    }
    harness.run(200);
    pump();
    const reference = seen.get(1) ?? [];
    expect(reference).toHaveLength(15);
    expect(seen.get(2)).toEqual(reference);
    expect(seen.get(3)).toEqual(reference);
    expect(reference.filter((s) => s.includes(':5000:'))).toHaveLength(3);
    for (const pg of pgs.values()) expect(pg.counters()).toMatchObject({ packetsMalformed: 0, groupHeadersMalformed: 0 });
  });
});
