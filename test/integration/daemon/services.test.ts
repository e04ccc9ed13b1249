// Goal: the services run inside real carillond processes and behave as corosync 3.1.7's
// do, seen only through the IPC socket and the client library (src/client): service sync
// completes on every node (status.syncing false); votequorum agrees on every node (3
// nodes: quorate, expected 3, total 3, quorum 2); CPG clients on every node in two
// groups see identical message order and the same confchg history per group; kill -9 of
// a node gives the survivors' clients NODEDOWN for its processes and keeps quorum (2 of
// 3), a second kill makes the last node inquorate and its quorum subscriber hears it;
// restarting brings quorum back and a new process JOINs; a paused node (SIGSTOP) comes
// back with NODEUP; SIGTERM makes the node's processes leave with PROCDOWN before the
// node itself leaves; a cfg KILLNODE ends the named daemon with status 255; cmap serves
// runtime.config.totem.*, stats.srp.*, runtime.members.* (with tracks) over IPC; a
// reload lowering expected_votes makes a lone node quorate. A
// two-node cluster with two_node (wait_for_all implied) is not quorate with one node
// until both have been seen, and stays quorate when one of the two then dies.
// Method: cluster-kit.ts (token 300 ms, token_coefficient 0, 10 ms ticks) with a
// `quorum { provider: corosync_votequorum }` section appended to every node's config;
// every wait is bounded and names what it last saw.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import { CmapClient, CpgClient, QuorumClient, type CmapClientTrackEvent, type CpgClientEvent, type CpgConfchgEvent, type CpgDeliverEvent, type QuorumEvent } from '../../../src/client';
import { encodeCfgKillNode } from '../../../src/services/cfg-service';
import { encodeGroupMessage, GROUP_A } from '../../../src/totem/pg/groups';
import { encodePgPacket } from '../../../src/totem/pg/packet';
import { Cluster, describeStatuses, ensureBuilt, waitFor, withLogs } from './cluster-kit';

const FORM_TIMEOUT_MS = 15_000;
const REFORM_TIMEOUT_MS = 10_000;

beforeAll(() => {
  ensureBuilt();
}, 180_000);

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

/** Appends a quorum { } section to every node's configuration. */
function configureQuorum(cluster: Cluster, extra: readonly string[] = []): void {
  for (const id of cluster.allIds()) {
    fs.writeFileSync(cluster.configPath(id), `${cluster.configText(id)}quorum {\n\tprovider: corosync_votequorum\n${extra.map((l) => `\t${l}\n`).join('')}}\n`);
  }
}

/** Waits for one operational ring of exactly `members` on `ids` whose service sync has completed everywhere. */
async function waitForSyncedRing(cluster: Cluster, ids: readonly number[], members: readonly number[], timeoutMs: number): Promise<void> {
  await cluster.waitForRing(ids, members, timeoutMs);
  let last = await cluster.statuses(ids);
  await waitFor(
    async () => {
      last = await cluster.statuses(ids);
      return last.every((s) => s.syncing === false && s.ringId.seq === last[0]?.ringId.seq && sorted(s.members.map((m) => m.nodeId)).join() === sorted(members).join());
    },
    timeoutMs,
    `service sync complete on nodes ${ids.join(',')} in a ring of [${members.join(',')}]`,
    () => `${describeStatuses(last)}; syncing ${last.map((s) => `n${s.nodeId}=${String(s.syncing)}`).join(' ')}`,
  );
}

/** Everything one CPG client saw, in order. */
class CpgRecorder {
  readonly events: CpgClientEvent[] = [];
  readonly client: CpgClient;
  readonly node: number;
  readonly name: string;

  constructor(client: CpgClient, node: number, name: string) {
    this.client = client;
    this.node = node;
    this.name = name;
    client.on('deliver', (e) => this.events.push(e));
    client.on('confchg', (e) => this.events.push(e));
  }

  confchgs(group: string): CpgConfchgEvent[] {
    return this.events.filter((e): e is CpgConfchgEvent => e.type === 'confchg' && e.group === group);
  }

  deliveries(group: string): CpgDeliverEvent[] {
    return this.events.filter((e): e is CpgDeliverEvent => e.type === 'deliver' && e.group === group);
  }

  lastMembers(group: string): string {
    const last = this.confchgs(group).at(-1);
    return last === undefined ? '' : last.members.map((m) => `${m.nodeId}:${m.pid}`).join(' ');
  }

  describe(group: string): string {
    return `${this.name}: ${this.confchgs(group).length} confchgs, ${this.deliveries(group).length} deliveries, members [${this.lastMembers(group)}]`;
  }
}

function confchgText(e: CpgConfchgEvent): string {
  const list = (l: readonly { nodeId: number; pid: number; reason?: number }[]): string => l.map((m) => `${m.nodeId}:${m.pid}${m.reason === undefined ? '' : `/${m.reason}`}`).join(',');
  return `[${list(e.members)}] +[${list(e.joined)}] -[${list(e.left)}]`;
}

describe('three daemons with votequorum: sync, quorum, CPG, cmap (tests run in order)', () => {
  let cluster: Cluster | null = null;
  const ids = [1, 2, 3];
  const recorders: CpgRecorder[] = [];
  const extraClients: CpgClient[] = [];
  const quorumClients: QuorumClient[] = [];
  const cmapClients: CmapClient[] = [];
  const quorumEvents: QuorumEvent[] = [];
  const memberTrack: CmapClientTrackEvent[] = [];

  const c = (): Cluster => {
    if (cluster === null) throw new Error('the cluster did not start (see beforeAll)');
    return cluster;
  };
  const recorder = (name: string): CpgRecorder => {
    const r = recorders.find((x) => x.name === name);
    if (r === undefined) throw new Error(`no recorder ${name}`);
    return r;
  };

  beforeAll(() =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 3, name: 'services3' });
      configureQuorum(cluster);
      await cluster.startNodes(ids);
      await waitForSyncedRing(cluster, ids, ids, FORM_TIMEOUT_MS);
    }), 30_000);

  afterAll(async () => {
    await Promise.all([...recorders.map((r) => r.client.close()), ...extraClients.map((x) => x.close())].map((p) => p.catch(() => undefined)));
    await Promise.all([...quorumClients, ...cmapClients].map((x) => x.close().catch(() => undefined)));
    await cluster?.cleanup();
    cluster = null;
  });

  it('service sync completes on every node and votequorum agrees: quorate, expected 3, total 3, quorum 2', () =>
    withLogs(() => cluster, async () => {
      for (const s of await c().statuses(ids)) {
        expect(s.syncing).toBe(false);
        expect(s.quorate).toBe(true);
      }
      for (const id of ids) quorumClients.push(await QuorumClient.connect(c().socketPath(id)));
      const statuses = await Promise.all(quorumClients.map((q) => q.status()));
      for (const [i, q] of statuses.entries()) {
        expect(q).toMatchObject({ provider: 'corosync_votequorum', quorate: true, nodeId: ids[i], expectedVotes: 3, highestExpected: 3, totalVotes: 3, quorum: 2 });
        expect(q.flags).toContain('Quorate');
        expect(q.members.map((m) => [m.nodeId, m.votes, m.name, m.local])).toEqual(ids.map((id) => [id, 1, `n${id}`, id === ids[i]]));
        expect(q.ringId).toEqual(statuses[0]?.ringId);
      }
      // Node 1's subscriber: the current state at once, then every change.
      await quorumClients[0]?.onChange((e) => quorumEvents.push(e));
      await waitFor(() => quorumEvents.length >= 1, 2000, 'the initial quorum notification');
      expect(quorumEvents[0]).toMatchObject({ quorate: true, members: ids });
    }));

  it('CPG: clients on every node in two groups see one message order and one confchg history per group', () =>
    withLogs(() => cluster, async () => {
      // Per node: "a" joins alpha and beta, "b" joins beta only.
      for (const id of ids) {
        const a = new CpgRecorder(await CpgClient.connect(c().socketPath(id)), id, `n${id}a`);
        const b = new CpgRecorder(await CpgClient.connect(c().socketPath(id)), id, `n${id}b`);
        recorders.push(a, b);
        await a.client.join('alpha');
        await a.client.join('beta');
        await b.client.join('beta');
      }
      const inAlpha = recorders.filter((r) => r.name.endsWith('a'));
      const memberList = (rs: readonly CpgRecorder[]): string => rs.map((r) => ({ nodeId: r.node, pid: r.client.pid })).sort((x, y) => x.nodeId - y.nodeId || x.pid - y.pid).map((m) => `${m.nodeId}:${m.pid}`).join(' ');
      const groups = { alpha: inAlpha, beta: recorders } as const;
      await waitFor(
        () => Object.entries(groups).every(([group, rs]) => rs.every((r) => r.lastMembers(group) === memberList(rs))),
        5000,
        'every client to see the full membership of its groups',
        () => recorders.map((r) => `${r.describe('alpha')} / ${r.describe('beta')}`).join('; '),
      );
      expect((await recorders[0]?.client.membership('beta'))?.length).toBe(6);
      // cpg.groups comes in corosync's iteration order (newest group first); compare as a set.
      const listed = (await recorders[0]?.client.groups())?.map((g) => [g.group, g.members.length] as const) ?? [];
      expect([...listed].sort((a, b) => a[0].localeCompare(b[0]))).toEqual([['alpha', 3], ['beta', 6]]);

      const perSender = 20;
      await Promise.all(recorders.map(async (r) => {
        for (let i = 0; i < perSender; i += 1) {
          if (r.name.endsWith('a')) await r.client.mcast('alpha', `${r.name}-alpha-${i}`);
          await r.client.mcast('beta', `${r.name}-beta-${i}`);
        }
      }));
      await waitFor(
        () => inAlpha.every((r) => r.deliveries('alpha').length >= inAlpha.length * perSender) && recorders.every((r) => r.deliveries('beta').length >= recorders.length * perSender),
        10_000,
        'every message delivered to every member of its group',
        () => recorders.map((r) => `${r.describe('alpha')} / ${r.describe('beta')}`).join('; '),
      );
      for (const [group, rs] of Object.entries(groups)) {
        const streams = rs.map((r) => r.deliveries(group).map((d) => `${d.nodeId}:${d.pid}:${d.payload.toString()}`));
        const reference = streams[0] ?? [];
        expect(reference).toHaveLength(rs.length * perSender);
        for (const stream of streams) expect(stream).toEqual(reference);
        // Agreed order keeps each sender's own order.
        for (const r of rs) {
          const own = reference.filter((line) => line.startsWith(`${r.node}:${r.client.pid}:`)).map((line) => line.split(':').slice(2).join(':'));
          expect(own).toEqual(Array.from({ length: perSender }, (_, i) => `${r.name}-${group}-${i}`));
        }
        // Confchg histories: a later joiner saw a suffix of an earlier one's.
        const histories = rs.map((r) => r.confchgs(group).map(confchgText));
        const longest = histories.reduce((a, b) => (b.length > a.length ? b : a), []);
        for (const h of histories) expect(h).toEqual(longest.slice(longest.length - h.length));
      }
    }));

  it('cmap over IPC: runtime.config.totem.token, stats.srp.orf_token_rx, runtime.members, client writes and read-only keys', () =>
    withLogs(() => cluster, async () => {
      const cmap = await CmapClient.connect(c().socketPath(1));
      cmapClients.push(cmap);
      expect(await cmap.get('runtime.config.totem.token')).toEqual({ type: 'uint32', value: 300 });
      expect(await cmap.get('runtime.config.totem.consensus')).toEqual({ type: 'uint32', value: 360 });
      expect(await cmap.get('totem.token')).toEqual({ type: 'uint32', value: 300 });
      expect(await cmap.get('totem.cluster_name')).toEqual({ type: 'string', value: 'carillon-it' });
      expect(await cmap.get('nodelist.local_node_pos')).toEqual({ type: 'uint32', value: 0 });
      expect(await cmap.get('nodelist.node.2.nodeid')).toEqual({ type: 'uint32', value: 3 });
      expect(await cmap.get('runtime.votequorum.this_node_id')).toEqual({ type: 'uint32', value: 1 });
      expect(await cmap.get('runtime.members.2.ip')).toEqual({ type: 'string', value: `r(0) ip(${c().address(2)}) ` });
      expect(await cmap.get('runtime.members.3.status')).toEqual({ type: 'string', value: 'joined' });
      let orf: unknown = null;
      await waitFor(async () => {
        const v = await cmap.getJson('stats.srp.orf_token_rx');
        orf = v;
        return v.type === 'uint64' && BigInt(v.value) > 0n;
      }, 3000, 'stats.srp.orf_token_rx > 0', () => JSON.stringify(orf));
      expect((await cmap.get('stats.srp.continuous_gather')).type).toBe('uint32');
      expect((await cmap.list('stats.srp.')).length).toBe(30);

      expect(await cmap.set('carillon.test.count', { type: 'uint64', value: 18446744073709551615n })).toEqual({ type: 'uint64', value: 18446744073709551615n });
      expect(await cmap.get('carillon.test.count')).toEqual({ type: 'uint64', value: 18446744073709551615n });
      await cmap.delete('carillon.test.count');
      await expect(cmap.get('carillon.test.count')).rejects.toMatchObject({ code: 'CMAP_ERR_NOT_EXIST' });
      await expect(cmap.set('runtime.config.totem.token', { type: 'uint32', value: 1 })).rejects.toMatchObject({ code: 'CMAP_ERR_READ_ONLY' });
      await expect(cmap.set('x', { type: 'string', value: 'too short a key' })).rejects.toMatchObject({ code: 'CMAP_ERR_INVALID_KEY' });

      await cmap.track('runtime.members.', { prefix: true, add: true, modify: true, delete: true }, (e) => memberTrack.push(e));
    }));

  it('kill -9 of node 3: the survivors\' clients get NODEDOWN for its processes and quorum stays (2 of 3)', () =>
    withLogs(() => cluster, async () => {
      const node3 = recorders.filter((r) => r.node === 3).map((r) => `3:${r.client.pid}`).sort();
      const survivors = recorders.filter((r) => r.node !== 3);
      await c().killNode(3, 'SIGKILL');
      await waitForSyncedRing(c(), [1, 2], [1, 2], REFORM_TIMEOUT_MS);
      const nodedowns = (r: CpgRecorder): string[] =>
        ['alpha', 'beta'].flatMap((g) => r.confchgs(g).flatMap((e) => e.left.filter((l) => l.nodeId === 3 && l.reason === 3 && l.reasonName === 'nodedown').map((l) => `${l.nodeId}:${l.pid}`)));
      await waitFor(
        () => survivors.every((r) => new Set(nodedowns(r)).size === (r.name.endsWith('a') ? node3.length : node3.length)),
        3000,
        'NODEDOWN confchgs for node 3\'s processes on every survivor client',
        () => survivors.map((r) => `${r.name}: ${nodedowns(r).join(',')}`).join('; '),
      );
      for (const r of survivors) {
        expect([...new Set(nodedowns(r))].sort()).toEqual(node3);
        expect(r.lastMembers('beta').split(' ').some((m) => m.startsWith('3:'))).toBe(false);
      }
      for (const q of quorumClients.slice(0, 2)) {
        expect(await q.status()).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 2, quorum: 2 });
      }
      await waitFor(
        () => memberTrack.some((e) => e.key === 'runtime.members.3.status' && e.type === 'modify' && e.newValue?.type === 'string' && e.newValue.value === 'left'),
        2000,
        'the runtime.members track to report node 3 as left',
        () => JSON.stringify(memberTrack.map((e) => [e.type, e.key])),
      );
    }));

  it('kill -9 of node 2: node 1 alone is inquorate and its quorum subscriber is told', () =>
    withLogs(() => cluster, async () => {
      await c().killNode(2, 'SIGKILL');
      await waitForSyncedRing(c(), [1], [1], REFORM_TIMEOUT_MS);
      await waitFor(() => quorumEvents.some((e) => !e.quorate), 3000, 'a quorate: false notification', () => JSON.stringify(quorumEvents));
      expect(quorumEvents.at(-1)).toMatchObject({ quorate: false, members: [1] });
      expect(await quorumClients[0]?.status()).toMatchObject({ quorate: false, totalVotes: 1, quorum: 2, expectedVotes: 3 });
      expect((await c().statusOf(1)).quorate).toBe(false);
      const a1 = recorder('n1a');
      await waitFor(() => a1.lastMembers('alpha') === `1:${a1.client.pid}`, 2000, 'node 1 alone in alpha', () => a1.describe('alpha'));
      expect(a1.confchgs('alpha').at(-1)?.left.map((l) => [l.nodeId, l.reasonName])).toEqual([[2, 'nodedown']]);
    }));

  it('restart of nodes 2 and 3: quorate again everywhere, and a new process on node 3 JOINs', () =>
    withLogs(() => cluster, async () => {
      await c().restartNode(2);
      await c().restartNode(3);
      await waitForSyncedRing(c(), ids, ids, FORM_TIMEOUT_MS);
      await waitFor(() => quorumEvents.at(-1)?.quorate === true, 3000, 'a quorate: true notification', () => JSON.stringify(quorumEvents.slice(-3)));
      for (const s of await c().statuses(ids)) expect(s.quorate).toBe(true);
      const q3 = await QuorumClient.connect(c().socketPath(3));
      quorumClients.push(q3);
      expect(await q3.status()).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 3, quorum: 2 });

      const newcomer = await CpgClient.connect(c().socketPath(3), { pid: 4242 });
      extraClients.push(newcomer);
      const seen: CpgConfchgEvent[] = [];
      newcomer.on('confchg', (e) => seen.push(e));
      await newcomer.join('alpha');
      const a1 = recorder('n1a');
      await waitFor(
        () => a1.confchgs('alpha').some((e) => e.joined.some((j) => j.nodeId === 3 && j.pid === 4242 && j.reasonName === 'join')),
        3000,
        'node 1 to see pid 4242 of node 3 join alpha',
        () => a1.describe('alpha'),
      );
      await waitFor(() => seen.length > 0, 2000, 'the newcomer\'s first confchg');
      expect(seen[0]?.members.map((m) => m.nodeId)).toEqual([1, 3]);
      expect(seen[0]?.joined).toEqual([{ nodeId: 3, pid: 4242, reason: 1, reasonName: 'join' }]);
    }));

  it('SIGSTOP then SIGCONT of node 3: NODEDOWN for its process, then NODEUP on both sides', () =>
    withLogs(() => cluster, async () => {
      const a1 = recorder('n1a');
      const newcomer = extraClients[0] as CpgClient;
      const onNode3: CpgConfchgEvent[] = [];
      newcomer.on('confchg', (e) => onNode3.push(e));
      void c().signal(3, 'SIGSTOP');
      try {
        await waitForSyncedRing(c(), [1, 2], [1, 2], REFORM_TIMEOUT_MS);
        await waitFor(
          () => a1.confchgs('alpha').some((e) => e.left.some((l) => l.nodeId === 3 && l.pid === 4242 && l.reasonName === 'nodedown')),
          3000,
          'NODEDOWN of 3:4242 on node 1',
          () => a1.describe('alpha'),
        );
      } finally {
        void c().signal(3, 'SIGCONT');
      }
      await waitForSyncedRing(c(), ids, ids, FORM_TIMEOUT_MS);
      await waitFor(
        () => a1.confchgs('alpha').some((e) => e.joined.some((j) => j.nodeId === 3 && j.pid === 4242 && j.reasonName === 'nodeup')),
        3000,
        'NODEUP of 3:4242 on node 1',
        () => a1.describe('alpha'),
      );
      await waitFor(
        () => onNode3.some((e) => e.joined.some((j) => j.nodeId === 1 && j.pid === a1.client.pid && j.reasonName === 'nodeup')),
        3000,
        'NODEUP of node 1\'s process on node 3',
        () => onNode3.map(confchgText).join(' | '),
      );
      expect(onNode3.some((e) => e.left.some((l) => l.nodeId === 1 && l.reasonName === 'nodedown'))).toBe(true);
    }));

  it('SIGTERM of node 3: its processes leave with PROCDOWN before the node leaves; exit 0', () =>
    withLogs(() => cluster, async () => {
      const a1 = recorder('n1a');
      const before = a1.confchgs('alpha').length;
      const exit = await c().killNode(3, 'SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      await waitForSyncedRing(c(), [1, 2], [1, 2], REFORM_TIMEOUT_MS);
      await waitFor(() => a1.lastMembers('alpha').split(' ').every((m) => !m.startsWith('3:')), 3000, 'node 3 gone from alpha', () => a1.describe('alpha'));
      const left = a1.confchgs('alpha').slice(before).flatMap((e) => e.left).filter((l) => l.nodeId === 3);
      expect(left).toEqual([{ nodeId: 3, pid: 4242, reason: 5, reasonName: 'procdown' }]);
      expect(c().logText(3)).toMatch(/local CPG process\(es\) left their groups/);
    }));

  it('cfg KILLNODE naming node 2 ends that daemon with status 255; the others reform', () =>
    withLogs(() => cluster, async () => {
      const message = encodeGroupMessage([GROUP_A], encodeCfgKillNode(2, 'services.test'));
      const packet = encodePgPacket({ version: 0, type: 0, fragmented: 0, continuation: 0, msgLens: [message.length], data: message });
      const client = await c().client(1);
      expect(await client.call('totem.submit', { payloadHex: Buffer.from(packet).toString('hex') })).toEqual({ result: 'queued' });
      await waitFor(() => c().exitOf(2) !== null, 5000, 'node 2 to exit');
      expect(c().exitOf(2)).toEqual({ code: 255, signal: null });
      expect(c().logText(2)).toMatch(/Killed by node 1: services\.test/);
      await waitForSyncedRing(c(), [1], [1], REFORM_TIMEOUT_MS);
    }));

  it('reload with quorum.expected_votes: 1 makes the lone node 1 quorate (votequorum re-reads it)', () =>
    withLogs(() => cluster, async () => {
      const q1 = quorumClients[0] as QuorumClient;
      expect(await q1.status()).toMatchObject({ quorate: false, totalVotes: 1, expectedVotes: 3 });
      fs.writeFileSync(c().configPath(1), `${c().configText(1)}quorum {\n\tprovider: corosync_votequorum\n\texpected_votes: 1\n}\n`);
      const answer = await (await c().client(1)).call('reload');
      expect(answer.reloaded.join(' ')).toContain('quorum');
      await waitFor(async () => (await q1.status()).quorate, 3000, 'node 1 quorate after the reload');
      expect(await q1.status()).toMatchObject({ quorate: true, expectedVotes: 1, totalVotes: 1, quorum: 1 });
      expect(quorumEvents.at(-1)).toMatchObject({ quorate: true, members: [1] });
    }));
});

describe('two_node: wait_for_all is implied', () => {
  let cluster: Cluster | null = null;
  const quorum: QuorumClient[] = [];

  afterAll(async () => {
    await Promise.all(quorum.map((q) => q.close().catch(() => undefined)));
    await cluster?.cleanup();
    cluster = null;
  });

  it('one node alone is not quorate until both were seen; then losing one keeps the other quorate', () =>
    withLogs(() => cluster, async () => {
      const c = await Cluster.create({ listed: 2, name: 'twonode' });
      cluster = c;
      configureQuorum(c, ['two_node: 1']);
      await c.startNodes([1]);
      await waitForSyncedRing(c, [1], [1], FORM_TIMEOUT_MS);
      const q1 = await QuorumClient.connect(c.socketPath(1));
      quorum.push(q1);
      // A few token rotations more: wait_for_all holds.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const alone = await q1.status();
      expect(alone).toMatchObject({ quorate: false, expectedVotes: 2, totalVotes: 1, quorum: 1 });
      expect(alone.flags).toEqual(expect.arrayContaining(['2Node', 'WaitForAll']));
      expect((await c.statusOf(1)).quorate).toBe(false);

      await c.startNodes([2]);
      await waitForSyncedRing(c, [1, 2], [1, 2], FORM_TIMEOUT_MS);
      await waitFor(async () => (await q1.status()).quorate, 3000, 'node 1 quorate with both nodes');
      const q2 = await QuorumClient.connect(c.socketPath(2));
      quorum.push(q2);
      for (const q of [q1, q2]) expect(await q.status()).toMatchObject({ quorate: true, expectedVotes: 2, totalVotes: 2, quorum: 1 });

      await c.killNode(2, 'SIGKILL');
      await waitForSyncedRing(c, [1], [1], REFORM_TIMEOUT_MS);
      expect(await q1.status()).toMatchObject({ quorate: true, totalVotes: 1, quorum: 1 });
      expect((await c.statusOf(1)).quorate).toBe(true);
    }));
});
