// Goal: UdpTransport behaves as corosync's udp (IP multicast) transport
// (corosync-wire.md §4.3): the three sockets are bound where corosync binds them
// (<group>:port, <addr>:port, <addr>:port−1); a multicast reaches every node once — the
// sender through its local copy, not the network (multicast loopback off) — with the
// sender mapped to its nodeid; tokens are unicast to one node; there is no source
// filtering, but unknown senders come with nodeid null. IPv4 and IPv6.
// Method: real multicast, but only inside network namespaces this test creates: three
// node namespaces with a veth each into a bridge in a fourth namespace (no address or
// route in the host's namespace is touched), and in each node namespace a child Node
// process (udp-transport-node.ts under tsx) driven over JSON lines. Skipped, with the
// reason printed, when not root or `ip netns` does not work. The namespaces are removed
// in afterAll whatever happened; every wait has a timeout.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { deriveMcastAddr } from '../../../src/config/load';
import { UdpTransport } from '../../../src/runtime/transport/udp-transport';

const root = path.resolve(__dirname, '../../..');
const childScript = path.join(__dirname, 'udp-transport-node.ts');
const tag = `crl${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
const bridgeNs = `${tag}-br`;
const nodeNs = (i: number): string => `${tag}-n${i}`;
const nodes = [1, 2, 3] as const;
const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
const v4 = (i: number): string => `${subnet}.${i}`;
const v6 = (i: number): string => `fd00:ca71::${i}`;

function run(args: readonly string[]): { ok: boolean; output: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 5000 });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

function must(args: readonly string[]): void {
  const r = run(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.output.trim()}`);
}

/** Why these tests cannot run here, or null. Probes by creating and removing a namespace. */
function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (ip netns needs CAP_SYS_ADMIN)';
  const probe = `${tag}-probe`;
  const added = run(['netns', 'add', probe]);
  if (!added.ok) return `\`ip netns add\` failed: ${added.output.trim()}`;
  const bridge = run(['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
  run(['netns', 'del', probe]);
  return bridge.ok ? null : `cannot create a bridge in a namespace: ${bridge.output.trim()}`;
}

const unavailable = netnsUnavailable();
if (unavailable !== null) {
  console.warn(`SKIPPED udp-transport netns tests: ${unavailable}`);
}
const describeNetns = unavailable === null ? describe : describe.skip;

const created: string[] = [];

function buildTopology(): void {
  for (const ns of [bridgeNs, ...nodes.map(nodeNs)]) {
    must(['netns', 'add', ns]);
    created.push(ns);
    must(['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  // No IGMP/MLD snooping: nobody runs a querier here, and flooding is what we want.
  must(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
  must(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
  for (const i of nodes) {
    const ns = nodeNs(i);
    // Both ends are created directly in their namespaces: nothing appears in ours.
    must(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', bridgeNs]);
    must(['-n', bridgeNs, 'link', 'set', `p${i}`, 'master', 'br0']);
    must(['-n', bridgeNs, 'link', 'set', `p${i}`, 'up']);
    must(['-n', ns, 'addr', 'add', `${v4(i)}/24`, 'dev', 'eth0']);
    must(['-n', ns, 'addr', 'add', `${v6(i)}/64`, 'dev', 'eth0', 'nodad']);
    must(['-n', ns, 'link', 'set', 'eth0', 'up']);
  }
}

function removeTopology(): void {
  for (const ns of created.splice(0).reverse()) run(['netns', 'del', ns]);
}

type ChildEvent = { ev: string } & Record<string, unknown>;

/** One UdpTransport in a child process inside a node namespace. */
class NodeProcess {
  readonly nodeId: number;
  readonly events: ChildEvent[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters = new Set<() => void>();
  private stderr = '';
  exited = false;

  constructor(nodeId: number, options: Record<string, unknown>) {
    this.nodeId = nodeId;
    this.child = spawn('ip', ['netns', 'exec', nodeNs(nodeId), process.execPath, '--import', 'tsx', childScript, JSON.stringify(options)], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() !== '') this.events.push(JSON.parse(line) as ChildEvent);
        newline = buffered.indexOf('\n');
      }
      this.notify();
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.notify();
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  datagrams(): Array<{ from: number | null; address: string; data: string }> {
    return this.events.filter((e) => e.ev === 'datagram') as unknown as Array<{ from: number | null; address: string; data: string }>;
  }

  /** Resolves with the first event matching `pred` (searching those already seen too). */
  waitFor(pred: (e: ChildEvent) => boolean, what: string, timeoutMs = 3000): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.find(pred);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.exited) {
          done();
          reject(new Error(`node ${this.nodeId} exited while waiting for ${what}: ${this.stderr.trim()} ${JSON.stringify(this.events.slice(-3))}`));
        }
      };
      const done = (): void => {
        this.waiters.delete(check);
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`node ${this.nodeId}: timed out waiting for ${what}; events ${JSON.stringify(this.events.slice(-5))} stderr ${this.stderr.trim()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async stats(): Promise<Record<string, unknown>> {
    const id = `s${Math.random()}`;
    this.send({ op: 'stats', tag: id });
    const event = await this.waitFor((e) => e.ev === 'stats' && e['tag'] === id, 'stats');
    return event['stats'] as Record<string, unknown>;
  }

  /** Asks the child to close; kills it (by its own pid) if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end();
    try {
      await this.waitFor(() => false, 'exit', 3000);
    } catch {
      if (!this.exited) this.child.kill('SIGKILL');
    }
  }
}

const port = 20000 + Math.floor(Math.random() * 40000);

interface Family {
  readonly name: string;
  readonly addr: (i: number) => string;
  readonly group: string;
  readonly port: number;
}

const families: readonly Family[] = [
  { name: 'IPv4', addr: v4, group: deriveMcastAddr(`carillon-${tag}`, 0, 'ipv4'), port },
  { name: 'IPv6', addr: v6, group: deriveMcastAddr(`carillon-${tag}`, 0, 'ipv6'), port: port + 2 },
];

describe('UdpTransport without traffic', () => {
  const members = [{ nodeId: 1, address: '127.0.0.1' }];

  it('refuses a group of the other family and a port without port − 1', () => {
    expect(() => new UdpTransport({ localNodeId: 1, members, port: 5405, group: 'ff15::1' })).toThrow(expect.objectContaining({ code: 'TRANSPORT_BAD_ADDRESS' }));
    expect(() => new UdpTransport({ localNodeId: 1, members, port: 1, group: '239.192.0.1' })).toThrow(expect.objectContaining({ code: 'TRANSPORT_BAD_ADDRESS' }));
    expect(() => new UdpTransport({ localNodeId: 2, members, port: 5405, group: '239.192.0.1' })).toThrow(expect.objectContaining({ code: 'TRANSPORT_LOCAL_NODE_MISSING' }));
  });

  it('counts sends before start, closes before start, and cannot start after close', async () => {
    const t = new UdpTransport({ localNodeId: 1, members, port: 5405, group: '239.192.0.1' });
    t.sendToAll(new Uint8Array(1));
    t.sendTo(1, new Uint8Array(1));
    expect(t.stats().droppedNotRunning).toBe(2);
    await t.close();
    await expect(t.start()).rejects.toMatchObject({ code: 'TRANSPORT_STATE' });
  });
});

describeNetns('UdpTransport in network namespaces', () => {
  beforeAll(() => {
    buildTopology();
  }, 20_000);

  it('fails to start with TRANSPORT_BIND when ring0_addr is not on this host', async () => {
    const members = [{ nodeId: 1, address: v4(1) }, { nodeId: 9, address: v4(9) }];
    const p = new NodeProcess(2, { localNodeId: 9, members, port: port + 10, group: '239.192.1.1' });
    try {
      const event = await p.waitFor((e) => e.ev === 'error' || e.ev === 'ready', 'start', 15_000);
      expect(event).toMatchObject({ ev: 'error', code: 'TRANSPORT_BIND', message: expect.stringContaining('EADDRNOTAVAIL') });
    } finally {
      await p.stop();
    }
  }, 20_000);

  afterAll(() => {
    removeTopology();
  }, 20_000);

  describe.each(families)('$name', (family) => {
    const procs = new Map<number, NodeProcess>();
    const proc = (i: number): NodeProcess => {
      const p = procs.get(i);
      if (p === undefined) throw new Error(`node ${i} not started`);
      return p;
    };

    beforeAll(async () => {
      const all = nodes.map((i) => ({ nodeId: i, address: family.addr(i) }));
      for (const i of nodes) {
        // Node 1 does not list node 3: udp does not filter, it only cannot name it.
        const members = i === 1 ? all.filter((m) => m.nodeId !== 3) : all;
        procs.set(i, new NodeProcess(i, { localNodeId: i, members, port: family.port, group: family.group, ttl: 1 }));
      }
      await Promise.all(nodes.map((i) => proc(i).waitFor((e) => e.ev === 'ready' || e.ev === 'error', 'start', 15_000)));
      for (const i of nodes) {
        const failed = proc(i).events.find((e) => e.ev === 'error');
        if (failed !== undefined) throw new Error(`node ${i} failed to start: ${JSON.stringify(failed)}`);
      }
    }, 20_000);

    afterAll(async () => {
      await Promise.all([...procs.values()].map((p) => p.stop()));
    }, 10_000);

    it('binds corosync\'s three sockets: <group>:port, <addr>:port and <addr>:port−1', () => {
      const r = spawnSync('ip', ['netns', 'exec', nodeNs(2), 'ss', '-Hnu', 'state', 'all'], { encoding: 'utf8', timeout: 5000 });
      const local = r.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[3] ?? '')
        .filter((s) => s !== '');
      const ep = (a: string, p: number): string => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
      expect(local).toEqual(expect.arrayContaining([ep(family.group, family.port), ep(family.addr(2), family.port), ep(family.addr(2), family.port - 1)]));
    });

    it('a multicast reaches every node exactly once, the sender through its local copy', async () => {
      proc(2).send({ op: 'sendToAll', data: `${family.name} mcast from 2` });
      for (const i of nodes) await proc(i).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} mcast from 2`, 'the multicast');
      // A second multicast: a duplicate of the first would arrive before it.
      proc(2).send({ op: 'sendToAll', data: `${family.name} marker from 2` });
      for (const i of nodes) await proc(i).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} marker from 2`, 'the marker');
      for (const i of nodes) {
        const got = proc(i).datagrams().filter((d) => d.data === `${family.name} mcast from 2`);
        expect(got).toEqual([{ ev: 'datagram', from: 2, address: family.addr(2), data: `${family.name} mcast from 2` }]);
      }
      const stats = await proc(2).stats();
      expect(stats).toMatchObject({ received: 2, sendErrors: 0, droppedUnlisted: 0 });
    });

    it('a multicast with skipLocal reaches the others but not the sender (no local copy)', async () => {
      proc(2).send({ op: 'sendToAll', data: `${family.name} others from 2`, skipLocal: true });
      proc(2).send({ op: 'sendToAll', data: `${family.name} marker2 from 2` });
      for (const i of nodes) await proc(i).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} marker2 from 2`, 'the marker');
      for (const i of nodes) {
        const got = proc(i).datagrams().filter((d) => d.data === `${family.name} others from 2`);
        expect(got).toHaveLength(i === 2 ? 0 : 1);
      }
    });

    it('a token goes to one node only; an unknown nodeid is counted', async () => {
      proc(1).send({ op: 'sendTo', nodeId: 2, data: `${family.name} token 1→2` });
      proc(1).send({ op: 'sendTo', nodeId: 3, data: 'node 1 does not know 3' });
      await proc(2).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} token 1→2`, 'the token');
      proc(1).send({ op: 'sendToAll', data: `${family.name} marker from 1` });
      for (const i of nodes) await proc(i).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} marker from 1`, 'the marker');
      expect(proc(2).datagrams().filter((d) => d.data.includes('token'))).toEqual([{ ev: 'datagram', from: 1, address: family.addr(1), data: `${family.name} token 1→2` }]);
      expect(proc(1).datagrams().filter((d) => d.data.includes('token'))).toEqual([]);
      expect(proc(3).datagrams().filter((d) => d.data.includes('token') || d.data.includes('know'))).toEqual([]);
      expect(await proc(1).stats()).toMatchObject({ droppedUnknownNode: 1 });
    });

    it('accepts a sender outside its nodelist with nodeid null (no source filtering on udp)', async () => {
      proc(3).send({ op: 'sendToAll', data: `${family.name} mcast from 3` });
      const at1 = await proc(1).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} mcast from 3`, 'the multicast at 1');
      const at2 = await proc(2).waitFor((e) => e.ev === 'datagram' && e['data'] === `${family.name} mcast from 3`, 'the multicast at 2');
      expect([at1['from'], at1['address']]).toEqual([null, family.addr(3)]);
      expect([at2['from'], at2['address']]).toEqual([3, family.addr(3)]);
    });
  });
});
