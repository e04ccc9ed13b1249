// Goal: the cmap service (src/services/cmap/cmap-service.ts) behaves as corosync 3.1.7's
// exec/cmap.c and main.c's runtime.members bookkeeping: each sync round multicasts one
// SYNC message per member and every member stores runtime.members.<id>.config_version for
// every member; the config-version mismatch corosync exits over is logged and recorded,
// never acted on; a local change of totem.config_version multicasts NEW_CONFIG_VERSION;
// membership changes maintain runtime.members.<id>.ip / join_count / status; the shell's
// helpers (config keys, runtime stats) and read-only marks behave as documented.
// Method: FakeBus (cmap-fake-bus.ts) — simulated nodes whose multicasts are delivered in
// one total order — drives confchg and sync rounds; messages are checked with the codec.

import { describe, expect, it } from '@jest/globals';
import { CMAP_CONFIG_VERSION_KEY, CmapMcastReason, decodeCmapMcast } from '../../../src/services/cmap/cmap-messages';
import {
  CMAP_CONFIG_VERSION_MISMATCH_KEY,
  CMAP_NO_INTERFACE_TEXT,
  CMAP_READ_ONLY_KEYS,
  CmapService,
  cmapStatsKeyType,
} from '../../../src/services/cmap/cmap-service';
import { CmapErrorCode, CmapStore, type CmapTrackEvent, type CmapValue } from '../../../src/services/cmap/cmap-store';
import { ServiceId, serviceRetryTicks } from '../../../src/services/service-api';
import { FakeBus } from './cmap-fake-bus';

const u64 = (value: bigint): CmapValue => ({ type: 'uint64', value });
const version = (v: bigint): Array<[string, CmapValue]> => [[CMAP_CONFIG_VERSION_KEY, u64(v)]];

function decoded(bytes: Uint8Array) {
  const d = decodeCmapMcast(bytes);
  if (!d.ok) throw d.error;
  return d.value;
}

describe('CmapService identity', () => {
  it('is service 0, "corosync configuration map access", with sync hooks', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    expect(s.id).toBe(ServiceId.cmap);
    expect(s.name).toBe('corosync configuration map access');
    expect(s.sync).not.toBeNull();
  });
});

describe('sync rounds', () => {
  it('each member multicasts one 328-byte SYNC message and every member stores every config_version', () => {
    const bus = new FakeBus();
    for (const id of [1, 2, 3]) bus.start(id);
    const before = bus.sent.length;
    bus.form([1, 2, 3]);
    const round = bus.sent.slice(before);
    expect(round.map((m) => m.sender)).toEqual([1, 2, 3]);
    for (const m of round) {
      expect(m.message.length).toBe(328);
      expect(m.pieces.map((p) => p.length)).toEqual([48, 280]);
      const d = decoded(m.message);
      expect(d.reason).toBe(CmapMcastReason.sync);
      expect(d.items).toEqual([{ key: CMAP_CONFIG_VERSION_KEY, keyLength: 20, valueType: 0, value: new Uint8Array(0) }]);
    }
    for (const id of [1, 2, 3]) {
      const store = bus.node(id).service.store;
      for (const member of [1, 2, 3]) expect(store.get(`runtime.members.${member}.config_version`)).toEqual(u64(0n));
      expect(bus.node(id).errors()).toEqual([]);
    }
  });

  it('sends the stored totem.config_version and receivers store it under the sender', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(7n) });
    bus.start(2, { config: version(7n) });
    bus.form([1, 2]);
    const last = bus.sent.at(-1)!;
    expect(last.message.length).toBe(336);
    const d = decoded(last.message);
    expect(d.items[0]!.valueType).toBe(8);
    expect(Array.from(d.items[0]!.value)).toEqual([7, 0, 0, 0, 0, 0, 0, 0]);
    expect(bus.node(2).service.store.get('runtime.members.1.config_version')).toEqual(u64(7n));
    expect(bus.node(1).service.store.get('runtime.members.2.config_version')).toEqual(u64(7n));
    expect(bus.node(1).service.status().mismatch).toBeNull();
  });

  it('sends a stored UINT64 0 as UINT64, as cmap.c does (only a missing key is NOT_EXIST)', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(0n) });
    const d = decoded(bus.sent.at(-1)!.message);
    expect(d.items[0]!.valueType).toBe(8);
    expect(d.items[0]!.value).toEqual(new Uint8Array(8));
  });

  it('sends a config_version of another type as stored, and receivers read it as 0', () => {
    const bus = new FakeBus();
    bus.start(1, { config: [[CMAP_CONFIG_VERSION_KEY, { type: 'uint32', value: 9 }]] });
    bus.start(2);
    bus.form([1, 2]);
    const fromOne = bus.sent.filter((m) => m.sender === 1).at(-1)!;
    expect(decoded(fromOne.message).items[0]!.valueType).toBe(6);
    expect(bus.node(2).service.store.get('runtime.members.1.config_version')).toEqual(u64(0n));
    // Our own version reads as 0 too (icmap_get_uint64 fails on a u32): no mismatch check.
    expect(bus.node(1).service.status().localConfigVersion).toBe(0n);
  });

  it('retries sync process while the send queue is full', () => {
    const bus = new FakeBus();
    bus.start(1);
    const node = bus.start(2);
    node.fullFor = 3;
    bus.form([1, 2]);
    expect(node.service.status().counters.mcastFull).toBe(3);
    expect(bus.node(1).service.store.get('runtime.members.2.config_version')).toEqual(u64(0n));
  });
});

describe('config version mismatch (corosync would shut down; we log and record)', () => {
  it('a node with a non-zero version that receives a higher one on its first multi-node sync logs an error', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(5n) });
    const joiner = bus.start(2, { config: version(3n) });
    const ring = bus.form([1, 2]);
    expect(joiner.errors()).toEqual([
      'cmap: Received config version (5) is different than my config version (3)! corosync would exit here; this node keeps running',
    ]);
    expect(joiner.service.status().mismatch).toEqual({ received: 5n, local: 3n, ringId: ring });
    expect(joiner.service.store.get(CMAP_CONFIG_VERSION_MISMATCH_KEY)).toEqual({ type: 'string', value: 'received 5, local 3' });
    // Still a working member: the next ring's sync runs and it stores versions.
    bus.start(3, { config: version(5n) });
    bus.form([1, 2, 3]);
    expect(joiner.service.store.get('runtime.members.3.config_version')).toEqual(u64(5n));
    expect(joiner.errors()).toHaveLength(1);
  });

  it('the node with the higher version sees only lower ones: no error', () => {
    const bus = new FakeBus();
    const high = bus.start(1, { config: version(5n) });
    bus.start(2, { config: version(3n) });
    bus.form([1, 2]);
    expect(high.errors()).toEqual([]);
    expect(high.service.status()).toMatchObject({ mismatch: null, highestConfigVersionReceived: 5n, firstSync: false });
    expect(high.service.store.has(CMAP_CONFIG_VERSION_MISMATCH_KEY)).toBe(false);
  });

  it('a node whose version is 0 (or missing) never reports a mismatch', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(5n) });
    const zero = bus.start(2, { config: version(0n) });
    const missing = bus.start(3);
    bus.form([1, 2, 3]);
    expect(zero.errors()).toEqual([]);
    expect(missing.errors()).toEqual([]);
    expect(zero.logs.map((l) => l.message)).toContain('cmap: My config version is 0 -> no action');
    expect(zero.service.status().highestConfigVersionReceived).toBe(5n);
  });

  it('equal versions are fine', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(4n) });
    const two = bus.start(2, { config: version(4n) });
    bus.form([1, 2]);
    expect(two.errors()).toEqual([]);
  });

  it('singleton syncs do not use up the first sync; only the first multi-node sync is checked', () => {
    const bus = new FakeBus();
    const one = bus.start(1, { config: version(2n) });
    bus.form([1]); // another singleton ring: transitional list {1}, not empty — this is a "first sync"
    expect(one.service.status().firstSync).toBe(false);

    const bus2 = new FakeBus();
    const a = bus2.start(1, { config: version(2n) });
    expect(a.service.status().firstSync).toBe(true);
    expect(a.logs.map((l) => l.message)).toContain('cmap: Single node sync -> no action');
    bus2.start(2, { config: version(2n) });
    bus2.form([1, 2]);
    expect(a.service.status().firstSync).toBe(false);
    // A later ring brings a higher version: not the first sync, no action.
    bus2.start(3, { config: version(9n) });
    bus2.form([1, 2, 3]);
    expect(a.errors()).toEqual([]);
    expect(a.logs.map((l) => l.message)).toContain('cmap: Not first sync -> no action');
    expect(a.service.store.get('runtime.members.3.config_version')).toEqual(u64(9n));
  });

  it('our own higher version does not count as received', () => {
    const bus = new FakeBus();
    const node = bus.start(1, { config: version(3n) });
    bus.start(2, { config: version(3n) });
    bus.form([1, 2]);
    expect(node.service.status().highestConfigVersionReceived).toBe(3n);
  });
});

describe('NEW_CONFIG_VERSION', () => {
  it('a local change of totem.config_version multicasts reason 1 and every member stores the new value', () => {
    const bus = new FakeBus();
    for (const id of [1, 2, 3]) bus.start(id, { config: version(1n) });
    bus.form([1, 2, 3]);
    const before = bus.sent.length;
    const problems = bus.node(2).service.setConfigKeys([...version(2n), ['totem.token', { type: 'uint32', value: 3000 }]]);
    expect(problems).toEqual([]);
    const sent = bus.sent.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.sender).toBe(2);
    const d = decoded(sent[0]!.message);
    expect(d.reason).toBe(CmapMcastReason.newConfigVersion);
    expect(d.items[0]!.valueType).toBe(8);
    bus.deliverAll();
    for (const id of [1, 2, 3]) expect(bus.node(id).service.store.get('runtime.members.2.config_version')).toEqual(u64(2n));
    expect(bus.node(2).service.status().localConfigVersion).toBe(2n);
  });

  it('deleting totem.config_version multicasts NOT_EXIST, which reads as 0', () => {
    const bus = new FakeBus();
    bus.start(1, { config: version(4n) });
    bus.start(2, { config: version(4n) });
    bus.form([1, 2]);
    expect(bus.node(1).service.store.delete(CMAP_CONFIG_VERSION_KEY).ok).toBe(true);
    const d = decoded(bus.sent.at(-1)!.message);
    expect([d.reason, d.items[0]!.valueType, d.items[0]!.value.length]).toEqual([1, 0, 0]);
    bus.deliverAll();
    expect(bus.node(2).service.store.get('runtime.members.1.config_version')).toEqual(u64(0n));
  });

  it('an unchanged value sends nothing; the initial config sends nothing', () => {
    const bus = new FakeBus();
    const node = bus.start(1, { config: version(4n) });
    expect(bus.sent.map((m) => decoded(m.message).reason)).toEqual([CmapMcastReason.sync]);
    node.service.setConfigKeys(version(4n));
    expect(bus.sent).toHaveLength(1);
  });

  it('a full send queue is retried on tick', () => {
    const bus = new FakeBus();
    const node = bus.start(1);
    node.fullFor = 2;
    expect(node.service.ticksToNextTimer()).toBeNull();
    node.service.setConfigKeys(version(8n));
    expect(node.service.status().newConfigVersionPending).toBe(true);
    expect(node.service.ticksToNextTimer()).toBe(serviceRetryTicks(node.api.tickMs));
    node.service.tick();
    expect(node.service.status().newConfigVersionPending).toBe(true);
    node.service.tick();
    expect(node.service.status().newConfigVersionPending).toBe(false);
    expect(node.service.ticksToNextTimer()).toBeNull();
    node.service.tick();
    const reasons = bus.sent.map((m) => decoded(m.message).reason);
    expect(reasons).toEqual([CmapMcastReason.sync, CmapMcastReason.newConfigVersion]);
    expect(node.logs.filter((l) => l.level === 'warning')).toHaveLength(2);
  });

  it('a NEW_CONFIG_VERSION outside sync raises the highest received but cannot trigger the check', () => {
    const bus = new FakeBus();
    const one = bus.start(1, { config: version(1n) });
    const two = bus.start(2, { config: version(1n) });
    bus.form([1, 2]);
    two.service.setConfigKeys(version(6n));
    bus.deliverAll();
    expect(one.service.status().highestConfigVersionReceived).toBe(6n);
    expect(one.errors()).toEqual([]);
  });

  it('close() stops tracking totem.config_version', () => {
    const bus = new FakeBus();
    const node = bus.start(1);
    node.service.close();
    node.service.setConfigKeys(version(3n));
    expect(bus.sent).toHaveLength(1);
  });
});

describe('runtime.members.<id>.* (main.c member_object_joined / left)', () => {
  it('sets ip, join_count 1 and status joined on a first join; left on leave; join_count + 1 on rejoin', () => {
    const bus = new FakeBus();
    const one = bus.start(1);
    one.service.setMemberAddress(2, 'r(0) ip(10.250.0.2) ');
    bus.start(2);
    const store = one.service.store;
    expect(store.iterate('runtime.members.1.').map((e) => e.key)).toEqual([
      'runtime.members.1.config_version',
      'runtime.members.1.ip',
      'runtime.members.1.join_count',
      'runtime.members.1.status',
    ]);
    expect(store.get('runtime.members.1.ip')).toEqual({ type: 'string', value: CMAP_NO_INTERFACE_TEXT });
    bus.form([1, 2]);
    expect(store.get('runtime.members.2.ip')).toEqual({ type: 'string', value: 'r(0) ip(10.250.0.2) ' });
    expect(store.get('runtime.members.2.join_count')).toEqual({ type: 'uint32', value: 1 });
    expect(store.get('runtime.members.2.status')).toEqual({ type: 'string', value: 'joined' });
    bus.form([1]);
    expect(store.get('runtime.members.2.status')).toEqual({ type: 'string', value: 'left' });
    bus.form([1, 2]);
    expect(store.get('runtime.members.2.join_count')).toEqual({ type: 'uint32', value: 2 });
    expect(store.get('runtime.members.2.status')).toEqual({ type: 'string', value: 'joined' });
    expect(store.get('runtime.members.1.join_count')).toEqual({ type: 'uint32', value: 1 });
  });

  it('setMemberAddress after the join updates the ip key', () => {
    const bus = new FakeBus();
    const one = bus.start(1);
    one.service.setMemberAddress(1, 'r(0) ip(10.250.0.1) ');
    expect(one.service.store.get('runtime.members.1.ip')).toEqual({ type: 'string', value: 'r(0) ip(10.250.0.1) ' });
  });

  it('notifies prefix tracks on runtime.members. as members come and go', () => {
    const bus = new FakeBus();
    const one = bus.start(1);
    bus.start(2);
    const events: CmapTrackEvent[] = [];
    one.service.store.track('runtime.members.2.status', { add: true, modify: true, delete: true }, (e) => events.push(e));
    bus.form([1, 2]);
    bus.form([1]);
    expect(events.map((e) => [e.type, e.oldValue?.value, e.newValue?.value])).toEqual([
      ['add', undefined, 'joined'],
      ['modify', 'joined', 'left'],
    ]);
  });
});

describe('robust delivery', () => {
  it('counts and ignores unknown functions, malformed messages and unknown reasons', () => {
    const bus = new FakeBus();
    const node = bus.start(1);
    const s = node.service;
    const before = s.store.size;
    s.deliver(1, 2, new Uint8Array(328));
    s.deliver(0, 2, new Uint8Array(47));
    const badLength = new Uint8Array(328);
    badLength[24] = 1;
    badLength[48 + 272] = 1; // value_len 1 past the end
    s.deliver(0, 2, badLength);
    const unknownReason = new Uint8Array(328);
    unknownReason[16] = 7;
    s.deliver(0, 2, unknownReason);
    expect(s.status().counters).toMatchObject({ unknownFunctions: 1, decodeErrors: 2, unknownReasons: 1 });
    expect(s.store.size).toBe(before);
  });

  it('a message without the config_version item stores 0', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    const empty = new Uint8Array(48); // no items
    s.deliver(0, 9, empty);
    expect(s.store.get('runtime.members.9.config_version')).toEqual(u64(0n));
  });
});

describe('shell helpers and read-only marks', () => {
  it('marks corosync\'s read-only keys and prefixes for clients; internal writers still set them', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    expect(CMAP_READ_ONLY_KEYS).toContain('totem.nodeid');
    const problems = s.setConfigKeys([
      ['totem.nodeid', { type: 'uint32', value: 1 }],
      ['nodelist.node.0.nodeid', { type: 'uint32', value: 1 }],
      ['totem.token', { type: 'uint32', value: 3000 }],
      ['quorum.provider', { type: 'string', value: 'corosync_votequorum' }],
      ['logging.debug', { type: 'string', value: 'off' }],
    ]);
    expect(problems).toEqual([]);
    const clientSet = (key: string, value: CmapValue) => s.store.set(key, value, { client: true });
    const code = (r: ReturnType<typeof clientSet>) => (r.ok ? 'ok' : r.error.code);
    expect(code(clientSet('totem.nodeid', { type: 'uint32', value: 2 }))).toBe(CmapErrorCode.readOnly);
    expect(code(clientSet('nodelist.node.0.nodeid', { type: 'uint32', value: 2 }))).toBe(CmapErrorCode.readOnly);
    expect(code(clientSet('runtime.config.totem.token', { type: 'uint32', value: 2 }))).toBe(CmapErrorCode.readOnly);
    expect(code(clientSet('stats.srp.mcast_tx', u64(1n)))).toBe(CmapErrorCode.readOnly);
    expect(code(clientSet('totem.token', { type: 'uint32', value: 5000 }))).toBe('ok');
    expect(code(clientSet('logging.debug', { type: 'string', value: 'on' }))).toBe('ok');
    expect(code(clientSet('totem.config_version', u64(3n)))).toBe('ok');
    expect(s.store.isReadOnly('totem.token')).toBe(false);
  });

  it('reports refused config entries', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    const problems = s.setConfigKeys([
      ['x', { type: 'uint8', value: 1 }],
      ['totem.token', { type: 'uint8', value: 256 }],
      ['totem.join', { type: 'uint32', value: 50 }],
    ]);
    expect(problems.map((p) => [p.key, p.error.code])).toEqual([
      ['x', CmapErrorCode.invalidKey],
      ['totem.token', CmapErrorCode.type],
    ]);
    expect(s.store.get('totem.join')).toEqual({ type: 'uint32', value: 50 });
  });

  it('setRuntimeStats uses exec/stats.c types and does not notify MODIFY for unchanged values', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    const events: CmapTrackEvent[] = [];
    s.store.track('stats.', { add: true, modify: true, delete: true, prefix: true }, (e) => events.push(e));
    expect(s.setRuntimeStats('stats.srp', { mcast_tx: 5, orf_token_rx: 7n, continuous_gather: 0, firewall_enabled_or_nic_failure: 0, mtt_rx_token: 12 })).toEqual([]);
    expect(s.setRuntimeStats('stats.pg.', { msg_queue_avail: 100 })).toEqual([]);
    expect(s.store.iterate('stats.').map((e) => [e.key, e.value.type])).toEqual([
      ['stats.pg.msg_queue_avail', 'uint32'],
      ['stats.srp.continuous_gather', 'uint32'],
      ['stats.srp.firewall_enabled_or_nic_failure', 'uint8'],
      ['stats.srp.mcast_tx', 'uint64'],
      ['stats.srp.mtt_rx_token', 'uint32'],
      ['stats.srp.orf_token_rx', 'uint64'],
    ]);
    expect(events.every((e) => e.type === 'add')).toBe(true);
    events.length = 0;
    s.setRuntimeStats('stats.srp', { mcast_tx: 5, orf_token_rx: 7n, continuous_gather: 0 });
    expect(events).toEqual([]);
    s.setRuntimeStats('stats.srp', { mcast_tx: 6n, orf_token_rx: 7 });
    expect(events).toEqual([
      { type: 'modify', key: 'stats.srp.mcast_tx', newValue: u64(6n), oldValue: u64(5n) },
    ]);
  });

  it('setRuntimeStats: unknown stats keep their type or default by value; bad values are reported', () => {
    const bus = new FakeBus();
    const s = bus.start(1).service;
    expect(s.setRuntimeStats('stats.carillon', { a: 3, b: -2, c: 0.5, d: 4n })).toEqual([]);
    expect(s.store.iterate('stats.carillon.').map((e) => e.value)).toEqual([u64(3n), { type: 'int64', value: -2n }, { type: 'double', value: 0.5 }, u64(4n)]);
    s.setConfigKeys([['runtime.x.count', { type: 'uint16', value: 1 }]]);
    expect(s.setRuntimeStats('runtime.x', { count: 2 })).toEqual([]);
    expect(s.store.get('runtime.x.count')).toEqual({ type: 'uint16', value: 2 });
    const problems = s.setRuntimeStats('stats.srp', { mcast_rx: 1.5, continuous_gather: -1 });
    expect(problems.map((p) => [p.key, p.error.code])).toEqual([
      ['stats.srp.mcast_rx', CmapErrorCode.type],
      ['stats.srp.continuous_gather', CmapErrorCode.type],
    ]);
    expect(s.setRuntimeStats('stats.schedmiss.0', { timestamp: 12, delay: 1.25 })).toEqual([]);
    expect(s.store.get('stats.schedmiss.0.delay')).toEqual({ type: 'float', value: 1.25 });
  });

  it('cmapStatsKeyType follows exec/stats.c', () => {
    expect(cmapStatsKeyType('stats.srp.mcast_retx')).toBe('uint64');
    expect(cmapStatsKeyType('stats.srp.avg_backlog_calc')).toBe('uint32');
    expect(cmapStatsKeyType('stats.pg.msg_reserved')).toBe('uint32');
    expect(cmapStatsKeyType('stats.ipcs.global.active')).toBe('uint64');
    expect(cmapStatsKeyType('stats.schedmiss.3.timestamp')).toBe('uint64');
    expect(cmapStatsKeyType('stats.knet.node1.link0.mtu')).toBeUndefined();
  });

  it('serves a store passed in', () => {
    const store = new CmapStore();
    store.set('totem.cluster_name', { type: 'string', value: 'demo' });
    const service = new CmapService(
      { localNodeId: 1, tickMs: 10, mcast: () => 'queued', members: () => [], ringId: () => ({ rep: 0, seq: 0n }), isQuorate: () => true, isSyncing: () => false, now: () => 0, log: () => undefined },
      { store },
    );
    expect(service.store).toBe(store);
    expect(store.isReadOnly('totem.cluster_name')).toBe(true);
  });
});
