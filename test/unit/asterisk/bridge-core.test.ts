// BridgeCore (src/asterisk/core/bridge-core.ts) against res_corosync's behaviour
// (res-corosync.md §1.3–§1.5, asterisk-groundtruth.md) and the bridge invariants of
// testing.md: B1 no echo, B2 convergence after join, B3 purge policy — on the
// deterministic fake group of bridge-kit.ts, then on random schedules (fast-check).

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { encodeAstEvent } from '../../../src/asterisk/core/ast-event-codec';
import { BridgeCore } from '../../../src/asterisk/core/bridge-core';
import { DevicePurgePolicy, MwiPurgePolicy } from '../../../src/asterisk/core/bridge-settings';
import { DeviceState as DS, type DeviceState } from '../../../src/asterisk/core/events';
import { BridgeKit, bridgeSettings, type KitNode } from './bridge-kit';

const REMOTE = (device: string): string => `Custom:remote:${device}`;

function sentOfKind(n: KitNode, kind: string): number {
  return n.sent.filter((e) => e.kind === kind).length;
}

describe('BridgeCore: local → cluster → local', () => {
  test('a device state on A is written on B and C under the mapped name, and nothing is echoed', () => {
    const kit = new BridgeKit(['A', 'B', 'C']);
    kit.startAll();
    kit.setDevice('A', 'PJSIP/100', DS.inuse);
    expect(kit.node('B').devices.get(REMOTE('PJSIP/100'))).toBe(DS.inuse);
    expect(kit.node('C').devices.get(REMOTE('PJSIP/100'))).toBe(DS.inuse);
    expect(kit.node('A').devices.has(REMOTE('PJSIP/100'))).toBe(false);
    // B1: only A ever published PJSIP/100; B and C never sent a device state at all.
    for (const name of ['B', 'C']) expect(sentOfKind(kit.node(name), 'device-state')).toBe(0);
    expect(kit.node('B').core.stats().echoSuppressed).toBeGreaterThan(0);
    kit.setDevice('A', 'PJSIP/100', DS.notInuse);
    expect(kit.node('C').devices.get(REMOTE('PJSIP/100'))).toBe(DS.notInuse);
  });

  test('remote origins are aggregated with Asterisk priorities: INUSE+BUSY = BUSY, RINGING+INUSE = RINGINUSE', () => {
    const kit = new BridgeKit(['A', 'B', 'C']);
    kit.startAll();
    kit.setDevice('A', 'Custom:alice', DS.inuse);
    kit.setDevice('B', 'Custom:alice', DS.busy);
    expect(kit.node('C').devices.get(REMOTE('Custom:alice'))).toBe(DS.busy);
    // A's mapped name holds only B's state: Asterisk's hint combines it with the local one.
    expect(kit.node('A').devices.get(REMOTE('Custom:alice'))).toBe(DS.busy);
    expect(kit.node('B').devices.get(REMOTE('Custom:alice'))).toBe(DS.inuse);
    kit.setDevice('A', 'Custom:carol', DS.ringing);
    kit.setDevice('B', 'Custom:carol', DS.inuse);
    expect(kit.node('C').devices.get(REMOTE('Custom:carol'))).toBe(DS.ringinuse);
    const view = kit.node('C').core.view().devices.find((d) => d.device === 'Custom:carol');
    expect(view?.remote.map((r) => r.state)).toEqual([DS.ringing, DS.inuse]);
    expect(view?.remoteAggregate).toBe(DS.ringinuse);
  });

  test('MWI from A is written on B and C; the MessageWaiting echo of our own write is not published', () => {
    const kit = new BridgeKit(['A', 'B', 'C']);
    kit.startAll();
    kit.setMailbox('A', '1000@default', 2, 5);
    expect(kit.node('B').mailboxes.get('1000@default')).toEqual([2, 5]);
    expect(kit.node('C').mailboxes.get('1000@default')).toEqual([2, 5]);
    expect(sentOfKind(kit.node('B'), 'mwi')).toBe(0);
    expect(sentOfKind(kit.node('C'), 'mwi')).toBe(0);
    // Last writer wins: B's voicemail writes the same mailbox.
    kit.setMailbox('B', '1000@default', 0, 7);
    expect(kit.node('A').mailboxes.get('1000@default')).toEqual([0, 7]);
    expect(kit.node('C').mailboxes.get('1000@default')).toEqual([0, 7]);
    // A mailbox without context travels as @default (Asterisk's rule).
    kit.setMailbox('A', '2000', 1, 0);
    expect(kit.node('C').mailboxes.get('2000@default')).toEqual([1, 0]);
  });

  test('fast successive remote MWI writes do not echo even when echoes lag behind', () => {
    const kit = new BridgeKit(['A', 'B']);
    kit.startAll();
    const b = kit.node('B');
    // Two remote values arrive before any echo comes back.
    const from = kit.node('A').member;
    b.core.cpgDeliver(from, encodeAstEvent({ kind: 'mwi', mailbox: '5', context: 'x', newMessages: 1, oldMessages: 0, eid: kit.node('A').eid }), 1);
    b.core.cpgDeliver(from, encodeAstEvent({ kind: 'mwi', mailbox: '5', context: 'x', newMessages: 2, oldMessages: 0, eid: kit.node('A').eid }), 1);
    expect(b.core.takeEffects().filter((e) => e.kind === 'set-mwi')).toHaveLength(2);
    b.core.localMwi('5@x', 1, 0, 2);
    b.core.localMwi('5@x', 2, 0, 2);
    expect(b.core.takeEffects().filter((e) => e.kind === 'mcast')).toHaveLength(0);
    // A real local change afterwards is published.
    b.core.localMwi('5@x', 3, 0, 3);
    expect(b.core.takeEffects().filter((e) => e.kind === 'mcast')).toHaveLength(1);
  });

  test('publish and subscribe flags are honoured per node and per type', () => {
    const kit = new BridgeKit(['A', 'B', 'C'], (name) =>
      name === 'B'
        ? bridgeSettings({ subscribe: { mwi: true, deviceState: false, presenceState: false } })
        : name === 'C'
          ? bridgeSettings({ publish: { mwi: false, deviceState: true, presenceState: false } })
          : bridgeSettings(),
    );
    kit.startAll();
    kit.setDevice('A', 'PJSIP/1', DS.busy);
    expect(kit.node('B').devices.has(REMOTE('PJSIP/1'))).toBe(false);
    expect(kit.node('B').core.stats().droppedUnsubscribed).toBeGreaterThan(0);
    expect(kit.node('C').devices.get(REMOTE('PJSIP/1'))).toBe(DS.busy);
    kit.setMailbox('C', '9@default', 1, 1);
    expect(sentOfKind(kit.node('C'), 'mwi')).toBe(0);
    expect(kit.node('A').mailboxes.has('9@default')).toBe(false);
  });

  test('local devices in the exclude list (MWI: from res_mwi_devstate by default) are not published', () => {
    const kit = new BridgeKit(['A', 'B']);
    kit.startAll();
    kit.setDevice('A', 'MWI:1000@default', DS.inuse);
    expect(sentOfKind(kit.node('A'), 'device-state')).toBe(0);
    expect(kit.node('A').core.stats().localChangesIgnored).toBe(1);
  });
});

describe('BridgeCore: received events are checked as res_corosync does, and more', () => {
  function pair(): { kit: BridgeKit; b: KitNode; from: { nodeId: number; pid: number } } {
    const kit = new BridgeKit(['A', 'B']);
    kit.startAll();
    return { kit, b: kit.node('B'), from: kit.node('A').member };
  }

  test('own EID, 0x05 aggregates, malformed bytes, missing EID and unknown types are dropped and counted', () => {
    const { kit, b, from } = pair();
    const before = b.core.stats();
    kit.deliverRaw(from, encodeAstEvent({ kind: 'device-state', aggregate: false, device: 'X/1', state: DS.busy, cachable: true, eid: b.eid }));
    kit.deliverRaw(from, encodeAstEvent({ kind: 'device-state', aggregate: true, device: 'X/1', state: DS.busy, cachable: true, eid: kit.node('A').eid }));
    kit.deliverRaw(from, new Uint8Array([0, 6, 0, 9, 1, 2]));
    // A ping without the EID IE: header only.
    kit.deliverRaw(from, new Uint8Array([0, 0x0c, 0, 4]));
    kit.deliverRaw(from, new Uint8Array([0, 0x0e, 0, 4]));
    const after = b.core.stats();
    expect(after.droppedOwnEid - before.droppedOwnEid).toBe(1);
    expect(after.droppedAggregate - before.droppedAggregate).toBe(1);
    expect(after.droppedMalformed - before.droppedMalformed).toBe(1);
    expect(after.droppedMissingEid - before.droppedMissingEid).toBe(1);
    expect(after.droppedUnknownType - before.droppedUnknownType).toBe(1);
    expect(b.devices.has(REMOTE('X/1'))).toBe(false);
    expect(b.logs.some((l) => l.startsWith('warning:') && l.includes('our EID'))).toBe(true);
  });

  test('a cluster discovery whose NODE_ID is not the CPG sender is ignored', () => {
    const { kit, b, from } = pair();
    kit.deliverRaw(from, encodeAstEvent({ kind: 'cluster-discovery', nodeId: 7, localAddr: '10.9.9.9', eid: '02:00:00:00:00:77' }));
    expect(b.core.stats().droppedDiscoveryMismatch).toBe(1);
    expect(b.core.view().nodes.map((n) => n.nodeId)).toEqual([1]);
  });

  test('a non-cachable remote state is written as is (last writer wins) and not kept for purging', () => {
    const { kit, b, from } = pair();
    kit.deliverRaw(from, encodeAstEvent({ kind: 'device-state', aggregate: false, device: 'Local/x', state: DS.ringing, cachable: false, eid: kit.node('A').eid }));
    expect(b.devices.get(REMOTE('Local/x'))).toBe(DS.ringing);
    expect(b.core.view().devices.find((d) => d.device === 'Local/x')).toBeUndefined();
  });

  test('local names that cannot travel as an ast_event are counted, not sent', () => {
    const kit = new BridgeKit(['A']);
    kit.startAll();
    kit.setDevice('A', 'bad\0name', DS.inuse);
    expect(kit.node('A').core.stats().droppedLocalInvalid).toBe(1);
    expect(sentOfKind(kit.node('A'), 'device-state')).toBe(0);
  });
});

describe('BridgeCore: membership (join dump, discovery, purge)', () => {
  test('each join gives three cluster discoveries and one "joined the cluster" NOTICE per node', () => {
    const kit = new BridgeKit(['A', 'B']);
    kit.node('A').core.setEid(kit.node('A').eid, 0);
    kit.node('B').core.setEid(kit.node('B').eid, 0);
    kit.join('A');
    expect(sentOfKind(kit.node('A'), 'cluster-discovery')).toBe(1);
    kit.join('B');
    const discoveries = sentOfKind(kit.node('A'), 'cluster-discovery') + sentOfKind(kit.node('B'), 'cluster-discovery');
    // A's start, then for B's join the three of the real cluster: B's start, A's answer
    // (B was unknown to A), B's answer (A was unknown to B).
    expect(discoveries).toBe(1 + 3);
    expect(kit.node('A').logs).toContain(`notice: Node 2 (${kit.node('B').eid}) at 10.0.0.2 joined the cluster`);
    expect(kit.node('B').logs).toContain(`notice: Node 1 (${kit.node('A').eid}) at 10.0.0.1 joined the cluster`);
  });

  test('a node joining later receives everyone\'s state (join dump, B2)', () => {
    const kit = new BridgeKit(['A', 'B', 'C']);
    kit.node('A').core.setEid(kit.node('A').eid, 0);
    kit.node('B').core.setEid(kit.node('B').eid, 0);
    kit.join('A');
    kit.join('B');
    kit.setDevice('A', 'PJSIP/100', DS.inuse);
    kit.setDevice('B', 'PJSIP/200', DS.ringing);
    kit.setMailbox('A', '1000@default', 3, 1);
    const c = kit.node('C');
    c.core.setEid(c.eid, kit.tick);
    kit.join('C');
    expect(c.devices.get(REMOTE('PJSIP/100'))).toBe(DS.inuse);
    expect(c.devices.get(REMOTE('PJSIP/200'))).toBe(DS.ringing);
    expect(c.mailboxes.get('1000@default')).toEqual([3, 1]);
  });

  test('state changed before the EID was known is published once it is (dump at join)', () => {
    const kit = new BridgeKit(['A', 'B']);
    const a = kit.node('A');
    kit.node('B').core.setEid(kit.node('B').eid, 0);
    kit.join('B');
    kit.join('A'); // joined, but no EID yet: nothing can be sent
    kit.setDevice('A', 'PJSIP/1', DS.busy);
    expect(sentOfKind(a, 'device-state')).toBe(0);
    a.core.setEid(a.eid, kit.tick);
    for (const e of a.core.takeEffects()) if (e.kind === 'mcast') kit.deliverRaw(a.member, e.payload);
    expect(kit.node('B').devices.get(REMOTE('PJSIP/1'))).toBe(DS.busy);
  });

  test.each([
    [DevicePurgePolicy.unavailable, DS.unavailable],
    [DevicePurgePolicy.notInuse, DS.notInuse],
    [DevicePurgePolicy.keep, DS.busy],
  ] as const)('a node leaving: its device states are purged per policy %s (B3)', (policy, expected) => {
    const kit = new BridgeKit(['A', 'B', 'C'], bridgeSettings({ devicePurge: policy }));
    kit.startAll();
    kit.setDevice('A', 'PJSIP/100', DS.busy);
    kit.setDevice('A', 'Custom:alice', DS.inuse);
    kit.setDevice('B', 'Custom:alice', DS.ringing);
    kit.leave('A');
    expect(kit.node('C').devices.get(REMOTE('PJSIP/100'))).toBe(expected);
    // A device that B also holds falls back to B's state whatever the policy.
    expect(kit.node('C').devices.get(REMOTE('Custom:alice'))).toBe(DS.ringing);
    if (policy !== 'keep') {
      expect(kit.node('C').logs.some((l) => l.includes('Cleared 2 device states') && l.includes('node 1'))).toBe(true);
    }
    expect(kit.node('C').logs).toContain(`notice: Node 1 (${kit.node('A').eid}) at 10.0.0.1 left the cluster`);
  });

  test('MWI is kept on leave by default (res_corosync) and zeroed with mwi_purge = zero', () => {
    for (const [policy, expected] of [
      [MwiPurgePolicy.keep, [4, 2]],
      [MwiPurgePolicy.zero, [0, 0]],
    ] as const) {
      const kit = new BridgeKit(['A', 'B'], bridgeSettings({ mwiPurge: policy }));
      kit.startAll();
      kit.setMailbox('A', '1000@default', 4, 2);
      kit.leave('A');
      expect(kit.node('B').mailboxes.get('1000@default')).toEqual(expected);
    }
  });

  test('with a grace period a node that restarts and re-sends its state does not flap; what it did not re-send is purged at the end', () => {
    const kit = new BridgeKit(['A', 'B'], bridgeSettings({ purgeGraceMs: 5000 }));
    kit.startAll();
    kit.setDevice('A', 'PJSIP/1', DS.inuse);
    kit.setDevice('A', 'PJSIP/2', DS.busy);
    const b = kit.node('B');
    const writes = (): number => b.core.stats().injectedDeviceState;
    const before = writes();
    kit.leave('A');
    expect(b.devices.get(REMOTE('PJSIP/1'))).toBe(DS.inuse); // not yet
    // A's Asterisk forgot PJSIP/2 while carillond restarted.
    kit.node('A').devices.delete('PJSIP/2');
    kit.advance(100); // 1 s
    kit.restart('A', bridgeSettings({ purgeGraceMs: 5000 }));
    expect(b.devices.get(REMOTE('PJSIP/1'))).toBe(DS.inuse);
    expect(writes()).toBe(before); // nothing rewritten so far: no flap
    kit.advance(400); // past the grace period
    expect(b.devices.get(REMOTE('PJSIP/1'))).toBe(DS.inuse);
    expect(b.devices.get(REMOTE('PJSIP/2'))).toBe(DS.unavailable);
  });
});

describe('BridgeCore: resync with the local Asterisk', () => {
  test('an Asterisk restart that lost the mapped states gets them written again', () => {
    const kit = new BridgeKit(['A', 'B']);
    kit.startAll();
    kit.setDevice('A', 'PJSIP/100', DS.inuse);
    kit.setMailbox('A', '1000@default', 1, 0);
    const b = kit.node('B');
    b.devices.clear();
    b.mailboxes.clear();
    kit.snapshot('B');
    expect(b.devices.get(REMOTE('PJSIP/100'))).toBe(DS.inuse);
    expect(b.mailboxes.get('1000@default')).toEqual([1, 0]);
  });

  test('stale mapped states left in astdb by a crash are settled per the purge policy', () => {
    const kit = new BridgeKit(['A', 'B']);
    const b = kit.node('B');
    b.devices.set(REMOTE('PJSIP/gone'), DS.busy); // from a previous life
    kit.startAll();
    kit.snapshot('B');
    expect(b.devices.get(REMOTE('PJSIP/gone'))).toBe(DS.unavailable);
  });

  test('changes missed while AMI was down are published after the reconnect, and gone devices as UNKNOWN', () => {
    const kit = new BridgeKit(['A', 'B']);
    kit.startAll();
    kit.setDevice('A', 'PJSIP/1', DS.inuse);
    kit.setDevice('A', 'PJSIP/2', DS.inuse);
    const a = kit.node('A');
    a.amiUp = false;
    kit.setDevice('A', 'PJSIP/1', DS.busy);
    a.devices.delete('PJSIP/2');
    expect(kit.node('B').devices.get(REMOTE('PJSIP/1'))).toBe(DS.inuse);
    a.amiUp = true;
    kit.snapshot('A');
    expect(kit.node('B').devices.get(REMOTE('PJSIP/1'))).toBe(DS.busy);
    // UNKNOWN cannot be written to a Custom: device: the purge policy stands in.
    expect(kit.node('B').devices.get(REMOTE('PJSIP/2'))).toBe(DS.unavailable);
  });
});

test('ping logs the NOTICE lines of res_corosync on the sender and every receiver', () => {
  const kit = new BridgeKit(['A', 'B', 'C']);
  kit.startAll();
  const a = kit.node('A');
  expect(a.core.ping(kit.tick)).toBe(true);
  for (const e of a.core.takeEffects()) {
    if (e.kind === 'log') a.logs.push(`${e.level}: ${e.message}`);
    if (e.kind === 'mcast') kit.deliverRaw(a.member, e.payload);
  }
  expect(a.logs).toContain(`notice: Sending event PING from this server with EID: '${a.eid}'`);
  expect(a.logs.filter((l) => l.includes('Got event PING'))).toHaveLength(0);
  for (const name of ['B', 'C']) expect(kit.node(name).logs).toContain(`notice: Got event PING from server with EID: '${a.eid}'`);
  expect(new BridgeCore({ settings: bridgeSettings(), localNodeId: 9, localAddr: 'x', ticksPerSecond: 100 }).ping(0)).toBe(false);
});

describe('BridgeCore: random schedules (B1, B2, B3)', () => {
  const devices = ['PJSIP/1', 'PJSIP/2', 'Custom:alice'];
  const states: DeviceState[] = [DS.notInuse, DS.inuse, DS.busy, DS.ringing, DS.onhold, DS.unavailable];
  const op = fc.oneof(
    fc.record({ kind: fc.constant('device' as const), node: fc.nat(3), device: fc.constantFrom(...devices), state: fc.constantFrom(...states) }),
    fc.record({ kind: fc.constant('mwi' as const), node: fc.nat(3), box: fc.constantFrom('1@a', '2@a'), n: fc.nat(5), o: fc.nat(5) }),
    fc.record({ kind: fc.constant('leave' as const), node: fc.nat(3) }),
    fc.record({ kind: fc.constant('join' as const), node: fc.nat(3) }),
    fc.record({ kind: fc.constant('time' as const), ticks: fc.integer({ min: 1, max: 400 }) }),
  );

  test('every live node ends with each live origin\'s states, never republishes foreign ones, and purges the dead', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.boolean(), (ops, grace) => {
        const names = ['A', 'B', 'C', 'D'];
        const settings = bridgeSettings({ purgeGraceMs: grace ? 2000 : 0 });
        const kit = new BridgeKit(names, settings);
        kit.startAll();
        for (const o of ops) {
          if (o.kind === 'time') {
            kit.advance(o.ticks);
            continue;
          }
          const name = names[o.node] ?? 'A';
          const n = kit.node(name);
          if (o.kind === 'device') kit.setDevice(name, o.device, o.state);
          else if (o.kind === 'mwi') kit.setMailbox(name, o.box, o.n, o.o);
          else if (o.kind === 'leave' && n.up) kit.leave(name);
          else if (o.kind === 'join' && !n.up) kit.restart(name, settings);
        }
        kit.advance(1000); // every grace period over
        const live = kit.nodes.filter((n) => n.up);
        for (const n of kit.nodes) {
          // B1: a node only ever publishes its own devices (never a mapped name) under its own EID.
          for (const e of n.sent) {
            if (e.kind === 'device-state') expect(e.device.startsWith('Custom:remote:')).toBe(false);
            expect(e.eid).toBe(n.eid);
          }
        }
        for (const n of live) {
          for (const device of devices) {
            // B2/B3: the mapped state is the aggregate of the live origins' local states.
            const holders = live.filter((o) => o !== n && o.devices.has(device)).map((o) => o.devices.get(device) as DeviceState);
            const view = n.core.view().devices.find((d) => d.device === device);
            expect(view?.remote.map((r) => r.state).sort() ?? []).toEqual([...holders].sort());
            if (holders.length > 0) expect(n.devices.get(REMOTE(device))).toBe(view?.remoteAggregate);
            else if (n.devices.has(REMOTE(device))) expect(n.devices.get(REMOTE(device))).toBe(DS.unavailable);
          }
        }
      }),
      { numRuns: 150, seed: 0x5eed },
    );
  });
});

describe('BridgeCore: presence (Carillon extension, ast_event 0x0a)', () => {
  test('presence travels when both ends enable presence_state, is written under CustomPresence:remote:, last writer wins, and is purged per policy', () => {
    const kit = new BridgeKit(['A', 'B', 'C']);
    kit.startAll();
    const [a, b, c] = [kit.node('A'), kit.node('B'), kit.node('C')];
    const writes: Array<{ node: string; name: string; state: number; subtype: string; message: string }> = [];
    const pump = (): void => {
      for (const n of [a, b, c]) {
        for (const e of n.core.takeEffects()) {
          if (e.kind === 'mcast') for (const m of [a, b, c]) m.core.cpgDeliver(n.member, e.payload, kit.tick);
          if (e.kind === 'set-presence') writes.push({ node: n.name, name: e.name, state: e.state, subtype: e.subtype, message: e.message });
        }
      }
    };
    a.core.localPresenceState('CustomPresence:alice', { state: 3, subtype: 'lunch', message: 'back at 2' }, kit.tick);
    pump();
    pump();
    expect(writes).toEqual([
      { node: 'B', name: 'CustomPresence:remote:CustomPresence:alice', state: 3, subtype: 'lunch', message: 'back at 2' },
      { node: 'C', name: 'CustomPresence:remote:CustomPresence:alice', state: 3, subtype: 'lunch', message: 'back at 2' },
    ]);
    // The echo of B's own write is not published.
    b.core.localPresenceState('CustomPresence:remote:CustomPresence:alice', { state: 3, subtype: 'lunch', message: 'back at 2' }, kit.tick);
    expect(b.core.takeEffects().filter((e) => e.kind === 'mcast')).toEqual([]);
    writes.length = 0;
    // B sets the same provider later: last writer wins on C.
    b.core.localPresenceState('CustomPresence:alice', { state: 6, subtype: '', message: '' }, kit.tick);
    pump();
    pump();
    expect(writes.find((w) => w.node === 'C')).toMatchObject({ state: 6 });
    writes.length = 0;
    // B leaves: C falls back to A's value.
    c.core.cpgConfchg([a.member, c.member], [], [b.member], kit.tick);
    pump();
    expect(writes.find((w) => w.node === 'C')).toMatchObject({ state: 3, subtype: 'lunch' });
  });

  test('presence is dropped by a receiver that does not subscribe to it, and never sent by one that does not publish it', () => {
    const off = { mwi: true, deviceState: true, presenceState: false };
    const kit = new BridgeKit(['A', 'B'], (name) => (name === 'B' ? bridgeSettings({ subscribe: off, publish: off }) : bridgeSettings()));
    kit.startAll();
    const [a, b] = [kit.node('A'), kit.node('B')];
    a.core.localPresenceState('CustomPresence:x', { state: 2, subtype: '', message: '' }, 0);
    for (const e of a.core.takeEffects()) if (e.kind === 'mcast') b.core.cpgDeliver(a.member, e.payload, 0);
    expect(b.core.takeEffects().filter((e) => e.kind === 'set-presence')).toEqual([]);
    expect(b.core.stats().droppedUnsubscribed).toBe(1);
    b.core.localPresenceState('CustomPresence:y', { state: 2, subtype: '', message: '' }, 0);
    expect(b.core.takeEffects().filter((e) => e.kind === 'mcast')).toEqual([]);
  });
});
