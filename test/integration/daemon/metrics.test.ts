// Goal: issue 6's acceptance for health and metrics, on real carillond processes: with
// `http_listen` on, `GET /metrics` on every node of a running 3-node cluster shows every
// family of architecture.md §3.3 with sane values (members 3, quorate 1, votes 3, ring
// seq > 0, state operational, token rotations observed, a CPG group once clients joined,
// cpg delivered increasing as they multicast, IPC clients ≥ 1, AMI 0 without a bridge,
// the default nodejs_eventloop_lag_seconds); /healthz and /readyz answer 200; after two
// nodes leave, the last one is still ready but `/readyz?quorate=1` is 503 naming quorum;
// `carillon health` and `carillon wait-ready` (dist/bin/ctl.js) exit 0/1 accordingly and
// wait-ready returns 0 once a starting node has joined; a stopped daemon's HTTP port is
// closed; a busy http_listen address stops a daemon at start with HTTP_ADDRESS_IN_USE.
// With the Asterisk bridge (two nodes, each with a fake Asterisk over AMI): AMI
// connected 1, a device state published on one node is bridge event out there and in on
// the other, written to its Asterisk (writes sent); AMI connected drops to 0 when that
// Asterisk stops.
// Method: cluster-kit.ts with `httpListen` (node N serves on 127.R.S.N:PORT) and a
// votequorum section; test/integration/asterisk/fake-asterisk.ts for the bridge; plain
// fetch for HTTP; every wait bounded.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpgClient } from '../../../src/client';
import { FakeAsterisk } from '../asterisk/fake-asterisk';
import { Cluster, ctlJs, ensureBuilt, waitFor, within, withLogs } from './cluster-kit';
import { REQUIRED_METRIC_FAMILIES } from '../../unit/runtime/metric-families';
import { parseExposition } from '../../unit/runtime/exposition';

const FORM_TIMEOUT_MS = 15_000;
const GROUP = 'metrics-it';

beforeAll(() => {
  ensureBuilt();
}, 180_000);

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

interface Metrics {
  samples: Map<string, number>;
  types: Map<string, string>;
  text: string;
  v(key: string): number;
}

async function metricsOf(cluster: Cluster, id: number): Promise<Metrics> {
  const answer = await get(cluster.httpUrl(id, '/metrics'));
  expect(answer.status).toBe(200);
  expect(answer.contentType).toContain('text/plain');
  const { samples, types } = parseExposition(answer.body);
  return {
    samples,
    types,
    text: answer.body,
    v: (key) => {
      const value = samples.get(key);
      if (value === undefined) throw new Error(`node ${id}: no sample ${key}`);
      return value;
    },
  };
}

interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ctl(args: readonly string[], timeoutMs = 30_000): Promise<CtlRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ctlJs, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every family issue 6 / architecture.md §3.3 asks for, with its Prometheus type. */
const FAMILIES = REQUIRED_METRIC_FAMILIES;

describe('health and metrics over HTTP on a 3-node cluster (tests run in order)', () => {
  let cluster: Cluster | null = null;
  const ids = [1, 2, 3];
  const cpgClients: CpgClient[] = [];
  let squatter: net.Server | null = null;

  const c = (): Cluster => {
    if (cluster === null) throw new Error('the cluster did not start (see beforeAll)');
    return cluster;
  };

  beforeAll(() =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 3, name: 'metrics', httpListen: true });
      for (const id of ids) fs.writeFileSync(cluster.configPath(id), `${cluster.configText(id)}quorum {\n\tprovider: corosync_votequorum\n}\n`);
      await cluster.startNodes(ids);
      await cluster.waitForRing(ids, ids, FORM_TIMEOUT_MS);
      await waitFor(
        async () => (await Promise.all(ids.map((id) => get(c().httpUrl(id, '/readyz?quorate=1'))))).every((a) => a.status === 200),
        FORM_TIMEOUT_MS,
        'every node ready and quorate over HTTP',
      );
    }), 40_000);

  afterAll(async () => {
    await Promise.all(cpgClients.map((x) => x.close().catch(() => undefined)));
    if (squatter !== null) await new Promise((resolve) => squatter?.close(resolve));
    await cluster?.cleanup();
    cluster = null;
  });

  it('/healthz and /readyz answer 200 with their JSON bodies on every node', () =>
    withLogs(() => cluster, async () => {
      for (const id of ids) {
        const health = await get(c().httpUrl(id, '/healthz'));
        expect([id, health.status]).toEqual([id, 200]);
        expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', thresholdMs: 1000 });
        const ready = await get(c().httpUrl(id, '/readyz?quorate=1'));
        expect([id, ready.status]).toEqual([id, 200]);
        expect(JSON.parse(ready.body)).toEqual({
          status: 'ready', checks: { ring: true, sync: true, ipc: true, quorum: true }, problems: [], state: 'operational', syncing: false, quorate: true,
        });
        expect((await get(c().httpUrl(id, '/nope'))).status).toBe(404);
      }
    }), 30_000);

  it('/metrics on every node shows every family with sane values; cpg delivered grows with the multicasts', () =>
    withLogs(() => cluster, async () => {
      for (const id of ids) {
        const client = await CpgClient.connect(c().socketPath(id));
        cpgClients.push(client);
        await client.join(GROUP);
      }
      const delivered: number[][] = [[], [], []];
      cpgClients.forEach((client, i) => client.on('deliver', (e) => delivered[i]?.push(e.payload.length)));
      await waitFor(async () => (await cpgClients[0]?.membership(GROUP))?.length === 3, 5000, `3 members in ${GROUP}`);
      const sender = cpgClients[0] as CpgClient;
      for (let i = 0; i < 5; i += 1) await sender.mcast(GROUP, `m${i}`);
      await waitFor(() => delivered.every((d) => d.length === 5), 5000, 'every client to get the 5 messages');

      const first = new Map<number, Metrics>();
      for (const id of ids) {
        const m = await metricsOf(c(), id);
        first.set(id, m);
        for (const [name, type] of Object.entries(FAMILIES)) expect([id, name, m.types.get(name)]).toEqual([id, name, type]);
        expect(m.v('carillon_totem_members')).toBe(3);
        expect(m.v('carillon_totem_ring_seq')).toBeGreaterThan(0);
        expect(m.v('carillon_totem_state{state="operational"}')).toBe(1);
        expect(m.v('carillon_totem_state{state="gather"}')).toBe(0);
        expect(m.v('carillon_totem_token_rotation_seconds_count')).toBeGreaterThan(0);
        expect(m.v('carillon_totem_mcast_retransmits_total')).toBeGreaterThanOrEqual(0);
        for (const state of ['operational', 'gather', 'commit', 'recovery']) {
          expect(m.v(`carillon_totem_token_lost_total{state="${state}"}`)).toBeGreaterThanOrEqual(0);
        }
        expect(m.v('carillon_membership_changes_total')).toBeGreaterThanOrEqual(1);
        expect(m.v('carillon_quorum_quorate')).toBe(1);
        expect(m.v('carillon_quorum_votes')).toBe(3);
        expect(m.v('carillon_quorum_expected_votes')).toBe(3);
        expect(m.v('carillon_quorum_needed_votes')).toBe(2);
        expect(m.v('carillon_cpg_groups')).toBeGreaterThanOrEqual(1);
        expect(m.v('carillon_cpg_delivered_total')).toBeGreaterThanOrEqual(5);
        expect(m.v('carillon_ipc_clients')).toBeGreaterThanOrEqual(1);
        expect(m.v('carillon_asterisk_ami_connected')).toBe(0);
        expect(m.v('carillon_bridge_running')).toBe(0);
        expect(m.v('carillon_srp_orf_token_rx_total')).toBeGreaterThan(0);
        expect(m.v('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
        expect(m.v(`carillon_info{version="0.1.0",cluster_name="carillon-it",node_id="${id}",transport="udpu"}`)).toBe(1);
        expect(m.v('carillon_http_requests_total{path="/readyz",code="200"}')).toBeGreaterThanOrEqual(1);
      }

      for (let i = 0; i < 7; i += 1) await sender.mcast(GROUP, `n${i}`);
      await waitFor(() => delivered.every((d) => d.length === 12), 5000, 'every client to get 7 more messages');
      for (const id of ids) {
        const before = first.get(id) as Metrics;
        const after = await metricsOf(c(), id);
        expect(after.v('carillon_cpg_delivered_total') - before.v('carillon_cpg_delivered_total')).toBeGreaterThanOrEqual(7);
        expect(after.v('carillon_totem_token_rotation_seconds_count')).toBeGreaterThan(before.v('carillon_totem_token_rotation_seconds_count'));
        expect(after.v('carillon_srp_orf_token_rx_total')).toBeGreaterThan(before.v('carillon_srp_orf_token_rx_total'));
      }
    }), 30_000);

  it('carillon health and wait-ready exit 0 on a ready, quorate node', () =>
    withLogs(() => cluster, async () => {
      const health = await ctl(['--socket', c().socketPath(2), 'health']);
      expect(health).toMatchObject({ code: 0, stderr: '' });
      expect(health.stdout).toMatch(/^ready: node 2, ring [0-9a-f]+\.[0-9a-f]+, members 1 2 3, quorate yes\n$/);
      const wait = await ctl(['--socket', c().socketPath(3), 'wait-ready', '--timeout', '10', '--quorate', '--json']);
      expect(wait.code).toBe(0);
      expect(JSON.parse(wait.stdout)).toMatchObject({ ready: true, nodeId: 3, quorate: true, problems: [] });
    }), 30_000);

  it('alone, node 1 stays ready but not quorate: /readyz?quorate=1 is 503, health --quorate and wait-ready --quorate exit 1', () =>
    withLogs(() => cluster, async () => {
      const before = await metricsOf(c(), 1);
      await Promise.all([c().killNode(2, 'SIGTERM'), c().killNode(3, 'SIGTERM')]);
      await c().waitForRing([1], [1], FORM_TIMEOUT_MS);
      let last: Answer | null = null;
      await waitFor(async () => {
        last = await get(c().httpUrl(1, '/readyz'));
        return last.status === 200;
      }, FORM_TIMEOUT_MS, 'node 1 ready alone', () => JSON.stringify(last));
      const quorate = await get(c().httpUrl(1, '/readyz?quorate=1'));
      expect(quorate.status).toBe(503);
      expect(JSON.parse(quorate.body)).toMatchObject({
        status: 'not ready', checks: { ring: true, sync: true, ipc: true, quorum: false }, problems: ['quorum: this partition is not quorate'], quorate: false,
      });

      const m = await metricsOf(c(), 1);
      expect(m.v('carillon_totem_members')).toBe(1);
      expect(m.v('carillon_quorum_quorate')).toBe(0);
      expect(m.v('carillon_quorum_votes')).toBe(1);
      expect(m.v('carillon_membership_changes_total')).toBeGreaterThan(before.v('carillon_membership_changes_total'));
      expect(m.v('carillon_totem_ring_seq')).toBeGreaterThan(before.v('carillon_totem_ring_seq'));
      expect(m.v('carillon_http_requests_total{path="/readyz",code="503"}')).toBeGreaterThanOrEqual(1);

      expect((await ctl(['--socket', c().socketPath(1), 'health'])).code).toBe(0);
      const health = await ctl(['--socket', c().socketPath(1), 'health', '--quorate']);
      expect(health.code).toBe(1);
      expect(health.stderr).toContain('quorum: this partition is not quorate');
      const wait = await ctl(['--socket', c().socketPath(1), 'wait-ready', '--quorate', '--timeout', '1']);
      expect(wait.code).toBe(1);
      expect(wait.stderr).toContain('carillon wait-ready: not ready after 1 s: quorum: this partition is not quorate');
      // A stopped daemon: its HTTP port is closed, its socket gone.
      await expect(get(c().httpUrl(2, '/healthz'))).rejects.toThrow();
      expect((await ctl(['--socket', c().socketPath(2), 'health'])).code).toBe(1);
    }), 40_000);

  it('a busy http_listen address stops carillond at start with HTTP_ADDRESS_IN_USE (exit 1)', () =>
    withLogs(() => cluster, async () => {
      const server = net.createServer();
      squatter = server;
      await within(new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(c().port, c().address(3), () => resolve());
      }), 5000, 'the squatter to listen');
      c().start(3);
      await waitFor(() => c().exitOf(3) !== null, 15_000, 'node 3 to exit');
      expect(c().exitOf(3)).toEqual({ code: 1, signal: null });
      expect(c().logText(3)).toMatch(/cannot listen on http_listen 127\.\d+\.\d+\.3:\d+: .*EADDRINUSE[\s\S]*carillond: not started \(HTTP_ADDRESS_IN_USE\)/);
      expect(fs.existsSync(c().socketPath(3))).toBe(false);
    }), 30_000);

  it('wait-ready on a starting node returns 0 once it has joined and synced', () =>
    withLogs(() => cluster, async () => {
      c().start(2);
      const wait = await ctl(['--socket', c().socketPath(2), 'wait-ready', '--timeout', '20', '--quorate'], 30_000);
      expect(wait.code).toBe(0);
      expect(wait.stdout).toMatch(/^carillond ready after [\d.]+ s: node 2, ring [0-9a-f.]+, members 1 2, quorate yes\n$/);
      const m = await metricsOf(c(), 2);
      expect(m.v('carillon_totem_members')).toBe(2);
      expect(m.v('carillon_quorum_quorate')).toBe(1);
      expect((await get(c().httpUrl(2, '/readyz?quorate=1'))).status).toBe(200);
    }), 40_000);
});

describe('bridge metrics with fake Asterisks on a 2-node cluster', () => {
  let cluster: Cluster | null = null;
  const fakes = new Map<number, FakeAsterisk>();
  let confDir = '';

  const c = (): Cluster => {
    if (cluster === null) throw new Error('the cluster did not start (see beforeAll)');
    return cluster;
  };
  const fake = (id: number): FakeAsterisk => {
    const f = fakes.get(id);
    if (f === undefined) throw new Error(`no fake Asterisk ${id}`);
    return f;
  };

  beforeAll(() =>
    withLogs(() => cluster, async () => {
      confDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-metrics-bridge-'));
      for (const id of [1, 2]) {
        const f = await FakeAsterisk.start({ eid: `02:ca:11:00:00:0${id}`, failedLoginDelayMs: 20 });
        fakes.set(id, f);
        fs.writeFileSync(path.join(confDir, `res_corosync-${id}.conf`), [
          '[general]',
          'publish_event = device_state',
          'subscribe_event = device_state',
          '[ami]',
          'host = 127.0.0.1',
          `port = ${f.amiPort}`,
          'username = admin',
          'secret = amipass',
          'reconnect_min_ms = 50',
          'reconnect_max_ms = 300',
          '',
        ].join('\n'));
      }
      cluster = await Cluster.create({
        listed: 2,
        name: 'metrics-bridge',
        httpListen: true,
        carillonLines: (id) => [`res_corosync_conf: ${path.join(confDir, `res_corosync-${id}.conf`)}`],
      });
      await cluster.startNodes();
      await cluster.waitForRing([1, 2], [1, 2], FORM_TIMEOUT_MS);
    }), 60_000);

  afterAll(async () => {
    await cluster?.cleanup();
    cluster = null;
    for (const f of fakes.values()) await f.stop();
    if (confDir !== '') fs.rmSync(confDir, { recursive: true, force: true });
  });

  it('AMI connected, events out on the publisher and in on the other node, writes sent; AMI 0 once Asterisk stops', () =>
    withLogs(() => cluster, async () => {
      let last = '';
      const settled = async (id: number): Promise<Metrics> => {
        const m = await metricsOf(c(), id);
        last = `node ${id}: ${[...m.samples].filter(([k]) => k.startsWith('carillon_bridge') || k.startsWith('carillon_asterisk')).map(([k, v]) => `${k} ${v}`).join('; ')}`;
        return m;
      };
      await waitFor(async () => {
        const ms = await Promise.all([settled(1), settled(2)]);
        return ms.every((m) => m.v('carillon_asterisk_ami_connected') === 1 && m.v('carillon_bridge_joined') === 1);
      }, FORM_TIMEOUT_MS, 'both bridges joined with AMI up', () => last);

      fake(1).setDeviceState('PJSIP/100', 'INUSE');
      await fake(2).waitFor(() => fake(2).deviceState('Custom:remote:PJSIP/100') === 'INUSE', FORM_TIMEOUT_MS, 'the remote state on fake 2');
      await waitFor(async () => {
        const [one, two] = await Promise.all([settled(1), settled(2)]);
        return one.v('carillon_bridge_events_total{type="device_state",direction="out"}') >= 1
          && two.v('carillon_bridge_events_total{type="device_state",direction="in"}') >= 1
          && two.v('carillon_asterisk_writes_total{result="sent"}') >= 1;
      }, 5000, 'the device state counted out on node 1, in and written on node 2', () => last);
      const one = await metricsOf(c(), 1);
      expect(one.v('carillon_bridge_running')).toBe(1);
      // Our own multicast comes back and is dropped as own_eid, as res_corosync does.
      expect(one.v('carillon_bridge_events_total{type="any",direction="dropped",reason="own_eid"}')).toBeGreaterThanOrEqual(1);
      expect(one.v('carillon_bridge_events_total{type="cluster_discovery",direction="in"}')).toBeGreaterThanOrEqual(1);

      await fake(2).stop();
      await waitFor(async () => (await settled(2)).v('carillon_asterisk_ami_connected') === 0, 5000, 'AMI down on node 2', () => last);
      expect((await metricsOf(c(), 1)).v('carillon_asterisk_ami_connected')).toBe(1);
    }), 60_000);
});
