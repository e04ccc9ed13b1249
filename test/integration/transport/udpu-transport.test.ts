// Goal: UdpuTransport behaves as corosync's udpu on real sockets (corosync-wire.md §4.2):
// sendToAll reaches every member, the sender included, exactly once and maps the source
// to its nodeid; sendTo reaches only its target; unknown nodeids, unlisted sources
// (block_unlisted_ips), oversize messages and kernel send refusals are counted, never
// thrown; setMembers applies a reloaded nodelist; close() releases the port.
// Method: three transports on distinct 127.R.S.{1,2,3} loopback addresses (R, S random
// per run) sharing one random high port, as udpu requires; an extra raw socket on
// 127.R.S.99 plays the unlisted host. Every wait is bounded by a timeout; no sleeps.

import { afterEach, describe, expect, it } from '@jest/globals';
import * as dgram from 'node:dgram';
import { DatagramSocket } from '../../../src/runtime/transport/dgram-socket';
import { TransportErrorCode, type TransportMember, createTransportStats } from '../../../src/runtime/transport/transport';
import { UdpuTransport, type UdpuTransportOptions } from '../../../src/runtime/transport/udpu-transport';

const prefix = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
const addr = (host: number): string => `${prefix}.${host}`;
const randomPort = (): number => 20000 + Math.floor(Math.random() * 40000);

interface Received {
  bytes: Uint8Array;
  from: number | null;
  address: string;
}

/** Collects datagrams; `waitFor` resolves once the predicate holds, or rejects after a timeout. */
function collector(t: UdpuTransport): { items: Received[]; waitFor(pred: (items: Received[]) => boolean, what: string, timeoutMs?: number): Promise<void> } {
  const items: Received[] = [];
  const waiters = new Set<() => void>();
  t.onDatagram((bytes, from, address) => {
    items.push({ bytes, from, address });
    for (const w of [...waiters]) w();
  });
  return {
    items,
    waitFor(pred, what, timeoutMs = 2000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pred(items)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; got ${items.length} datagrams`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** Polls a condition on each turn of the event loop (for send callbacks), bounded. */
async function until(pred: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

const started: UdpuTransport[] = [];
const rawSockets: dgram.Socket[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.close()));
  await Promise.all(rawSockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function members(hosts: readonly number[]): TransportMember[] {
  return hosts.map((h) => ({ nodeId: h, address: addr(h) }));
}

/** Starts one transport per host on a common random port (retrying another port if taken). */
async function cluster(hosts: readonly number[], extra: Partial<UdpuTransportOptions> = {}): Promise<{ port: number; nodes: UdpuTransport[] }> {
  for (let attempt = 0; ; attempt += 1) {
    const port = randomPort();
    const nodes = hosts.map((h) => new UdpuTransport({ localNodeId: h, members: members(hosts), port, ...extra }));
    try {
      for (const n of nodes) {
        await n.start();
        started.push(n);
      }
      return { port, nodes };
    } catch (e) {
      await Promise.all(nodes.map((n) => n.close()));
      if (attempt >= 5) throw e;
    }
  }
}

function rawSocket(address: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  rawSockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, () => resolve(socket));
  });
}

describe('UdpuTransport on loopback', () => {
  it('sendToAll reaches every member, the sender included, exactly once, with the sender nodeid', async () => {
    const { nodes } = await cluster([1, 2, 3]);
    const inboxes = nodes.map(collector);
    nodes.forEach((n, i) => n.sendToAll(text(`hello from ${i + 1}`)));
    for (const inbox of inboxes) await inbox.waitFor((items) => items.length >= 3, 'three multicasts');
    // A second round: anything duplicated from the first would have arrived before it
    // (loopback delivers synchronously, in order per socket pair).
    nodes.forEach((n, i) => n.sendToAll(text(`marker ${i + 1}`)));
    for (const inbox of inboxes) await inbox.waitFor((items) => items.length >= 6, 'three markers');
    for (const inbox of inboxes) {
      const hellos = inbox.items.filter((r) => str(r.bytes).startsWith('hello'));
      expect(hellos.map((r) => [r.from, r.address, str(r.bytes)]).sort()).toEqual([
        [1, addr(1), 'hello from 1'],
        [2, addr(2), 'hello from 2'],
        [3, addr(3), 'hello from 3'],
      ]);
      expect(inbox.items).toHaveLength(6);
    }
    for (const n of nodes) {
      expect(n.stats()).toMatchObject({ received: 6, droppedUnlisted: 0, sendErrors: 0 });
      expect(n.stats().recvBufferBytes).toBeGreaterThan(0);
    }
    await until(() => nodes.every((n) => n.stats().sent === 6), 'send callbacks');
  });

  it('sendToAll with skipLocal reaches every other member and not the sender', async () => {
    const { nodes } = await cluster([1, 2, 3]);
    const [n1] = nodes;
    if (n1 === undefined) throw new Error('three nodes');
    const inboxes = nodes.map(collector);
    n1.sendToAll(text('others only'), true);
    // The marker goes to everyone; at node 1 it must be the only datagram.
    n1.sendToAll(text('marker'));
    for (const inbox of inboxes) await inbox.waitFor((items) => items.some((r) => str(r.bytes) === 'marker'), 'the marker');
    expect(inboxes.map((inbox) => inbox.items.map((r) => str(r.bytes)))).toEqual([['marker'], ['others only', 'marker'], ['others only', 'marker']]);
    await until(() => n1.stats().sent === 5, 'send callbacks');
  });

  it('sendTo reaches only its target; an unknown nodeid is counted and dropped', async () => {
    const { nodes } = await cluster([1, 2, 3]);
    const [n1, n2, n3] = nodes;
    if (n1 === undefined || n2 === undefined || n3 === undefined) throw new Error('three nodes');
    const [in1, in2, in3] = nodes.map(collector);
    n1.sendTo(2, text('token for 2'));
    n1.sendTo(42, text('nobody'));
    await in2?.waitFor((items) => items.length === 1, 'the token');
    expect(in2?.items.map((r) => [r.from, str(r.bytes)])).toEqual([[1, 'token for 2']]);
    // A marker multicast from 1 arrives after anything else 1 sent to 1 and 3.
    n1.sendToAll(text('marker'));
    await in1?.waitFor((items) => items.length === 1, 'marker at 1');
    await in3?.waitFor((items) => items.length === 1, 'marker at 3');
    expect(in1?.items.map((r) => str(r.bytes))).toEqual(['marker']);
    expect(in3?.items.map((r) => str(r.bytes))).toEqual(['marker']);
    expect(n1.stats().droppedUnknownNode).toBe(1);
  });

  it('drops and counts datagrams from an unlisted source IP (block_unlisted_ips)', async () => {
    const { port, nodes } = await cluster([1, 2]);
    const [in1] = nodes.map(collector);
    const stranger = await rawSocket(addr(99));
    stranger.send(text('intruder'), port, addr(1));
    // Same source port trick does not help: the filter is on the IP only.
    nodes[1]?.sendTo(1, text('friend'));
    await in1?.waitFor((items) => items.length === 1, 'the listed datagram');
    await until(() => nodes[0]?.stats().droppedUnlisted === 1, 'the unlisted drop');
    expect(in1?.items.map((r) => str(r.bytes))).toEqual(['friend']);
    expect(nodes[0]?.stats().received).toBe(1);
  });

  it('accepts unlisted sources with nodeid null when block_unlisted_ips is off', async () => {
    const { port, nodes } = await cluster([1], { blockUnlistedIps: false });
    const [in1] = nodes.map(collector);
    const stranger = await rawSocket(addr(99));
    stranger.send(text('hi'), port, addr(1));
    await in1?.waitFor((items) => items.length === 1, 'the datagram');
    expect(in1?.items.map((r) => [r.from, r.address, str(r.bytes)])).toEqual([[null, addr(99), 'hi']]);
  });

  it('carries the largest UDP datagram intact and drops larger messages (counted once)', async () => {
    const { nodes } = await cluster([1, 2]);
    const [, in2] = nodes.map(collector);
    const big = new Uint8Array(65_507).map((_, i) => i & 0xff);
    nodes[0]?.sendTo(2, big);
    await in2?.waitFor((items) => items.length === 1, 'the 65507-byte datagram');
    expect(in2?.items[0]?.bytes).toEqual(big);
    nodes[0]?.sendToAll(new Uint8Array(70_000));
    nodes[0]?.sendTo(2, new Uint8Array(65_508));
    expect(nodes[0]?.stats().droppedOversize).toBe(2);
    nodes[0]?.sendTo(2, text('after'));
    await in2?.waitFor((items) => items.length === 2, 'the next datagram');
    expect(str(in2?.items[1]?.bytes ?? new Uint8Array())).toBe('after');
  });

  it('counts a kernel send refusal (EACCES: loopback broadcast 127.255.255.255 without SO_BROADCAST) without throwing', async () => {
    const port = randomPort();
    const t = new UdpuTransport({ localNodeId: 1, members: [{ nodeId: 1, address: addr(1) }, { nodeId: 9, address: '127.255.255.255' }], port });
    await t.start();
    started.push(t);
    expect(() => t.sendTo(9, text('x'))).not.toThrow();
    await until(() => t.stats().sendErrors === 1, 'the send error');
    expect(t.stats().lastSendError).toBe('EACCES');
  });

  it('applies a reloaded nodelist and refuses to move the local node', async () => {
    const { port, nodes } = await cluster([1]);
    const [in1] = nodes.map(collector);
    const node1 = nodes[0];
    if (node1 === undefined) throw new Error('one node');
    const newcomer = await rawSocket(addr(4));
    newcomer.send(text('early'), port, addr(1));
    await until(() => node1.stats().droppedUnlisted === 1, 'the drop before the reload');
    node1.setMembers(members([1, 4]));
    newcomer.send(text('welcome'), port, addr(1));
    await in1?.waitFor((items) => items.length === 1, 'the newcomer');
    expect(in1?.items.map((r) => [r.from, str(r.bytes)])).toEqual([[4, 'welcome']]);
    expect(() => node1.setMembers([{ nodeId: 1, address: addr(5) }])).toThrow(expect.objectContaining({ code: TransportErrorCode.localAddressChanged }));
    expect(() => node1.setMembers([{ nodeId: 1, address: addr(1) }, { nodeId: 2, address: '::1' }])).toThrow(
      expect.objectContaining({ code: TransportErrorCode.mixedFamily }),
    );
    expect(() => node1.setMembers(members([2]))).toThrow(expect.objectContaining({ code: TransportErrorCode.localNodeMissing }));
  });

  it('refuses a second bind of the same address and port, and close() releases it', async () => {
    const { port, nodes } = await cluster([1]);
    const second = new UdpuTransport({ localNodeId: 1, members: members([1]), port });
    await expect(second.start()).rejects.toMatchObject({ code: TransportErrorCode.bind, message: expect.stringContaining('EADDRINUSE') });
    await nodes[0]?.close();
    await nodes[0]?.close();
    nodes[0]?.sendToAll(text('late'));
    expect(nodes[0]?.stats().droppedNotRunning).toBe(1);
    const third = new UdpuTransport({ localNodeId: 1, members: members([1]), port });
    await third.start();
    started.push(third);
    const inbox = collector(third);
    third.sendToAll(text('again'));
    await inbox.waitFor((items) => items.length === 1, 'the datagram on the reused port');
  });

  it('counts and logs a socket error event instead of crashing', async () => {
    const stats = createTransportStats();
    const logged: string[] = [];
    const socket = new DatagramSocket({ family: 'ipv4', role: 'test', stats, log: (level, message) => logged.push(`${level}: ${message}`) });
    await socket.bind(addr(1), 0);
    socket.socket.emit('error', Object.assign(new Error('recvmsg ENOMEM'), { code: 'ENOMEM' }));
    expect(stats.socketErrors).toBe(1);
    expect(logged).toEqual(['error: test socket error: recvmsg ENOMEM']);
    await socket.close();
    expect(socket.send(text('x'), 1, addr(1))).toBe(false);
    expect(stats.droppedNotRunning).toBe(1);
  });

  it('works over IPv6 (::1, a one-node ring)', async () => {
    const t = new UdpuTransport({ localNodeId: 1, members: [{ nodeId: 1, address: '0:0::1' }], port: randomPort() });
    await t.start();
    started.push(t);
    const inbox = collector(t);
    t.sendToAll(text('v6'));
    await inbox.waitFor((items) => items.length === 1, 'the IPv6 datagram');
    expect(inbox.items.map((r) => [r.from, r.address, str(r.bytes)])).toEqual([[1, '::1', 'v6']]);
  });
});
