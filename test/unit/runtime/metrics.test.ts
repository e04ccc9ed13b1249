// Goal: DaemonMetrics (src/runtime/metrics.ts) exposes every family of architecture.md
// §3.3 with values read from its sources at scrape time: Totem ring seq, members, the
// one-hot state, retransmits, token losses per state, membership changes, quorum,
// CPG groups and deliveries, IPC clients, the bridge's AMI state and event counters
// (in/out/dropped with reasons) from a BridgeRunner-status-shaped input; counters never
// decrease (a source reset is added, as Prometheus treats a counter reset); the token
// rotation and schedmiss histograms observe with an injected clock; one snapshot per
// scrape; a registry of its own, not prom-client's global one.
// Method: fake sources the test mutates between scrapes; the exposition text parsed
// into name{labels} → value; fast-check for counter monotonicity.

import { describe, expect, it } from '@jest/globals';
import * as fc from 'fast-check';
import { register as globalRegister } from 'prom-client';
import type { DaemonStatus } from '../../../src/ipc/daemon-api';
import { type BridgeMetricsInput, DaemonMetrics, type MetricsSources } from '../../../src/runtime/metrics';
import { REQUIRED_METRIC_FAMILIES } from './metric-families';
import { type Exposition, parseExposition } from './exposition';

interface Fake {
  status: DaemonStatus;
  quorum: { quorate: boolean; totalVotes: number; expectedVotes: number; quorum: number };
  cpg: { groups: number; delivered: number; deliveries: number };
  ipc: { clients: number; requests: number; errors: Record<string, number> };
  bridge: BridgeMetricsInput | null;
  statusCalls: number;
}

function srpStats(overrides: Record<string, number> = {}): Record<string, number> {
  const keys = [
    'orfTokenTx', 'orfTokenRx', 'mcastTx', 'mcastRx', 'mcastRetx', 'membJoinTx', 'membJoinRx', 'membCommitTokenTx', 'membCommitTokenRx',
    'membMergeDetectTx', 'membMergeDetectRx', 'tokenHoldCancelTx', 'tokenHoldCancelRx', 'operationalEntered', 'operationalTokenLost',
    'gatherEntered', 'gatherTokenLost', 'commitEntered', 'commitTokenLost', 'recoveryEntered', 'recoveryTokenLost', 'consensusTimeouts',
    'rxMsgDropped', 'continuousGatherCount', 'failedToRecv', 'tokenHeld',
  ];
  const out: Record<string, number> = {};
  for (const k of keys) out[`srp.${k}`] = overrides[k] ?? 0;
  out['driver.ticks'] = 1000;
  return out;
}

function makeFake(): Fake {
  return {
    status: {
      nodeId: 2,
      clusterName: 'pbx-trio',
      transport: 'udpu',
      crypto: false,
      ringId: { rep: 1, seq: '324' },
      state: 'operational',
      members: [1, 2, 3].map((nodeId) => ({ nodeId, name: `n${nodeId}`, addresses: [`10.0.0.${nodeId}`] })),
      nodelist: [],
      quorate: true,
      syncing: false,
      uptimeSec: 10,
      version: '0.1.0',
      stats: srpStats({ orfTokenRx: 500, mcastRetx: 7, operationalEntered: 3, gatherTokenLost: 1, operationalTokenLost: 2, continuousGatherCount: 0 }),
    },
    quorum: { quorate: true, totalVotes: 3, expectedVotes: 3, quorum: 2 },
    cpg: { groups: 2, delivered: 40, deliveries: 80 },
    ipc: { clients: 1, requests: 12, errors: { IPC_BAD_REQUEST: 1 } },
    bridge: null,
    statusCalls: 0,
  };
}

function sourcesOf(fake: Fake): MetricsSources {
  return {
    status: () => {
      fake.statusCalls += 1;
      return fake.status;
    },
    quorum: () => fake.quorum,
    cpg: () => fake.cpg,
    ipc: () => fake.ipc,
    bridge: () => fake.bridge,
  };
}

class FakeClock {
  ms = 0;
  nowMs(): number {
    return this.ms;
  }
}

interface Scrape extends Exposition {
  text: string;
}

function parse(text: string): Scrape {
  return { text, ...parseExposition(text) };
}

async function scrape(metrics: DaemonMetrics): Promise<Scrape> {
  return parse((await metrics.render()).body);
}

function value(s: Scrape, key: string): number {
  const v = s.samples.get(key);
  if (v === undefined) throw new Error(`no sample ${key} in\n${s.text}`);
  return v;
}

/** Every sample of a family (name{...} or name), keyed as printed. */
function family(s: Scrape, name: string): Map<string, number> {
  return new Map([...s.samples].filter(([k]) => k === name || k.startsWith(`${name}{`)));
}

function bridgeInput(stats: Record<string, number>, ami: boolean): BridgeMetricsInput {
  return { ami: { connected: ami, lastError: ami ? null : 'connection refused' }, joined: true, stats };
}

const bridgeStats = (): Record<string, number> => ({
  received: 30, receivedDeviceState: 10, receivedMwi: 4, receivedPresence: 2, receivedPing: 1, receivedDiscovery: 2,
  droppedOwnEid: 9, droppedMalformed: 1, droppedMissingEid: 0, droppedAggregate: 3, droppedUnknownType: 0, droppedUnsubscribed: 2,
  droppedDiscoveryMismatch: 0, droppedOverLimit: 0, droppedLocalInvalid: 1,
  published: 14, publishedDeviceState: 8, publishedMwi: 3, publishedPresence: 1,
  mcastQueued: 14, mcastDropped: 0, mcastNotJoined: 0, writesSent: 12, writesFailed: 1, writesDropped: 2,
});

describe('DaemonMetrics', () => {
  it('exposes every family of architecture.md §3.3 with the values of its sources', async () => {
    const fake = makeFake();
    const metrics = new DaemonMetrics({ sources: sourcesOf(fake) });
    const s = await scrape(metrics);
    const expected = REQUIRED_METRIC_FAMILIES;
    for (const [name, type] of Object.entries(expected)) expect([name, s.types.get(name)]).toEqual([name, type]);

    expect(value(s, 'carillon_totem_ring_seq')).toBe(324);
    expect(value(s, 'carillon_totem_members')).toBe(3);
    expect(family(s, 'carillon_totem_state')).toEqual(new Map([
      ['carillon_totem_state{state="operational"}', 1],
      ['carillon_totem_state{state="gather"}', 0],
      ['carillon_totem_state{state="commit"}', 0],
      ['carillon_totem_state{state="recovery"}', 0],
    ]));
    expect(value(s, 'carillon_totem_mcast_retransmits_total')).toBe(7);
    expect(family(s, 'carillon_totem_token_lost_total')).toEqual(new Map([
      ['carillon_totem_token_lost_total{state="operational"}', 2],
      ['carillon_totem_token_lost_total{state="gather"}', 1],
      ['carillon_totem_token_lost_total{state="commit"}', 0],
      ['carillon_totem_token_lost_total{state="recovery"}', 0],
    ]));
    expect(value(s, 'carillon_membership_changes_total')).toBe(3);
    expect(value(s, 'carillon_srp_orf_token_rx_total')).toBe(500);
    expect(value(s, 'carillon_srp_mcast_retx_total')).toBe(7);
    expect(value(s, 'carillon_srp_continuous_gather')).toBe(0);
    expect(value(s, 'carillon_sync_in_progress')).toBe(0);
    expect(value(s, 'carillon_quorum_quorate')).toBe(1);
    expect(value(s, 'carillon_quorum_votes')).toBe(3);
    expect(value(s, 'carillon_quorum_expected_votes')).toBe(3);
    expect(value(s, 'carillon_quorum_needed_votes')).toBe(2);
    expect(value(s, 'carillon_cpg_groups')).toBe(2);
    expect(value(s, 'carillon_cpg_delivered_total')).toBe(40);
    expect(value(s, 'carillon_cpg_deliveries_total')).toBe(80);
    expect(value(s, 'carillon_ipc_clients')).toBe(1);
    expect(value(s, 'carillon_ipc_requests_total')).toBe(12);
    expect(value(s, 'carillon_ipc_errors_total{code="IPC_BAD_REQUEST"}')).toBe(1);
    expect(value(s, 'carillon_info{version="0.1.0",cluster_name="pbx-trio",node_id="2",transport="udpu"}')).toBe(1);
    // No bridge: the families are there, without event samples; AMI reads 0.
    expect(value(s, 'carillon_bridge_running')).toBe(0);
    expect(value(s, 'carillon_asterisk_ami_connected')).toBe(0);
    expect(family(s, 'carillon_bridge_events_total').size).toBe(0);
    expect(s.text).toContain('# HELP carillon_bridge_events_total ');
  });

  it('follows the sources from scrape to scrape (state, members, quorum, sync)', async () => {
    const fake = makeFake();
    const metrics = new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false });
    fake.status = { ...fake.status, state: 'gather', members: fake.status.members.slice(0, 1), syncing: true, ringId: { rep: 2, seq: '328' } };
    fake.quorum = { quorate: false, totalVotes: 1, expectedVotes: 3, quorum: 2 };
    const s = await scrape(metrics);
    expect(value(s, 'carillon_totem_state{state="gather"}')).toBe(1);
    expect(value(s, 'carillon_totem_state{state="operational"}')).toBe(0);
    expect(value(s, 'carillon_totem_members')).toBe(1);
    expect(value(s, 'carillon_totem_ring_seq')).toBe(328);
    expect(value(s, 'carillon_sync_in_progress')).toBe(1);
    expect(value(s, 'carillon_quorum_quorate')).toBe(0);
    expect(value(s, 'carillon_quorum_votes')).toBe(1);
    // Without default metrics, no nodejs_* family.
    expect(s.types.has('nodejs_eventloop_lag_seconds')).toBe(false);
  });

  it('counters follow increases and never decrease; a source reset adds its new value', async () => {
    const fake = makeFake();
    const metrics = new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false });
    expect(value(await scrape(metrics), 'carillon_cpg_delivered_total')).toBe(40);
    fake.cpg = { ...fake.cpg, delivered: 45 };
    expect(value(await scrape(metrics), 'carillon_cpg_delivered_total')).toBe(45);
    fake.cpg = { ...fake.cpg, delivered: 45 };
    expect(value(await scrape(metrics), 'carillon_cpg_delivered_total')).toBe(45);
    // The source starts over (it was recreated) at 3: counted as a reset, 45 + 3.
    fake.cpg = { ...fake.cpg, delivered: 3 };
    expect(value(await scrape(metrics), 'carillon_cpg_delivered_total')).toBe(48);
    fake.cpg = { ...fake.cpg, delivered: 10 };
    expect(value(await scrape(metrics), 'carillon_cpg_delivered_total')).toBe(55);
  });

  it('property: for any sequence of source values an exported counter never decreases and gains every increase', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 30 }), async (values) => {
        const fake = makeFake();
        const metrics = new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false });
        let previousExported = 0;
        let previousSource = 0;
        for (const v of values) {
          fake.status = { ...fake.status, stats: srpStats({ mcastRetx: v }) };
          const exported = value(await scrape(metrics), 'carillon_totem_mcast_retransmits_total');
          expect(exported).toBeGreaterThanOrEqual(previousExported);
          expect(exported - previousExported).toBe(v >= previousSource ? v - previousSource : v);
          previousExported = exported;
          previousSource = v;
        }
      }),
      { numRuns: 50 },
    );
  });

  it('reads every source once per scrape', async () => {
    const fake = makeFake();
    const metrics = new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false });
    await metrics.render();
    expect(fake.statusCalls).toBe(1);
    await metrics.render();
    expect(fake.statusCalls).toBe(2);
  });

  it('exports the bridge: AMI connected, joined, events in/out/dropped with reasons, writes', async () => {
    const fake = makeFake();
    fake.bridge = bridgeInput(bridgeStats(), true);
    const metrics = new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false });
    const s = await scrape(metrics);
    expect(value(s, 'carillon_bridge_running')).toBe(1);
    expect(value(s, 'carillon_bridge_joined')).toBe(1);
    expect(value(s, 'carillon_asterisk_ami_connected')).toBe(1);
    const events = family(s, 'carillon_bridge_events_total');
    expect(events.get('carillon_bridge_events_total{type="device_state",direction="in"}')).toBe(10);
    expect(events.get('carillon_bridge_events_total{type="mwi",direction="in"}')).toBe(4);
    expect(events.get('carillon_bridge_events_total{type="presence_state",direction="in"}')).toBe(2);
    expect(events.get('carillon_bridge_events_total{type="ping",direction="in"}')).toBe(1);
    expect(events.get('carillon_bridge_events_total{type="cluster_discovery",direction="in"}')).toBe(2);
    expect(events.get('carillon_bridge_events_total{type="device_state",direction="out"}')).toBe(8);
    expect(events.get('carillon_bridge_events_total{type="mwi",direction="out"}')).toBe(3);
    expect(events.get('carillon_bridge_events_total{type="presence_state",direction="out"}')).toBe(1);
    // published 14 + local_invalid 1 − typed attempts 12: 3 control events (ping, discovery).
    expect(events.get('carillon_bridge_events_total{type="control",direction="out"}')).toBe(3);
    expect(events.get('carillon_bridge_events_total{type="any",direction="dropped",reason="own_eid"}')).toBe(9);
    expect(events.get('carillon_bridge_events_total{type="any",direction="dropped",reason="malformed"}')).toBe(1);
    expect(events.get('carillon_bridge_events_total{type="device_state",direction="dropped",reason="aggregate"}')).toBe(3);
    expect(events.get('carillon_bridge_events_total{type="any",direction="dropped",reason="unsubscribed"}')).toBe(2);
    expect(events.get('carillon_bridge_events_total{type="any",direction="dropped",reason="local_invalid"}')).toBe(1);
    expect(events.get('carillon_bridge_events_total{type="any",direction="dropped",reason="cpg_queue_full"}')).toBe(0);
    // Label sets: in/out carry type and direction; dropped adds a reason; nothing else.
    for (const key of events.keys()) {
      const labels = [...key.matchAll(/(\w+)="/g)].map((m) => m[1]);
      expect(labels[0] === 'type' && labels[1] === 'direction').toBe(true);
      expect(labels.length).toBe(key.includes('direction="dropped"') ? 3 : 2);
    }
    expect(value(s, 'carillon_asterisk_writes_total{result="sent"}')).toBe(12);
    expect(value(s, 'carillon_asterisk_writes_total{result="failed"}')).toBe(1);
    expect(value(s, 'carillon_asterisk_writes_total{result="dropped"}')).toBe(2);

    // AMI goes down, more events arrive: the gauge drops to 0, the counters grow.
    const more = { ...bridgeStats(), receivedDeviceState: 15, droppedOwnEid: 11 };
    fake.bridge = bridgeInput(more, false);
    const t = await scrape(metrics);
    expect(value(t, 'carillon_asterisk_ami_connected')).toBe(0);
    expect(value(t, 'carillon_bridge_events_total{type="device_state",direction="in"}')).toBe(15);
    expect(value(t, 'carillon_bridge_events_total{type="any",direction="dropped",reason="own_eid"}')).toBe(11);
  });

  it('a bridge without [ami] reads ami_connected 0', async () => {
    const fake = makeFake();
    fake.bridge = { ami: null, joined: false, stats: bridgeStats() };
    const s = await scrape(new DaemonMetrics({ sources: sourcesOf(fake), defaultMetrics: false }));
    expect(value(s, 'carillon_bridge_running')).toBe(1);
    expect(value(s, 'carillon_bridge_joined')).toBe(0);
    expect(value(s, 'carillon_asterisk_ami_connected')).toBe(0);
  });

  it('observes token rotations between consecutive tokens and scheduling misses', async () => {
    const clock = new FakeClock();
    const metrics = new DaemonMetrics({ sources: sourcesOf(makeFake()), clock, defaultMetrics: false });
    metrics.observeTokenReceived(); // the first token starts the first rotation
    clock.ms = 0.8;
    metrics.observeTokenReceived();
    clock.ms = 40.8;
    metrics.observeTokenReceived();
    clock.ms = 1540.8;
    metrics.observeTokenReceived();
    metrics.observeSchedMiss(20);
    metrics.observeSchedMiss(Number.NaN); // ignored
    const s = await scrape(metrics);
    expect(value(s, 'carillon_totem_token_rotation_seconds_count')).toBe(3);
    expect(value(s, 'carillon_totem_token_rotation_seconds_sum')).toBeCloseTo(1.5408, 9);
    expect(value(s, 'carillon_totem_token_rotation_seconds_bucket{le="0.001"}')).toBe(1);
    expect(value(s, 'carillon_totem_token_rotation_seconds_bucket{le="0.05"}')).toBe(2);
    expect(value(s, 'carillon_totem_token_rotation_seconds_bucket{le="1"}')).toBe(2);
    expect(value(s, 'carillon_totem_token_rotation_seconds_bucket{le="2.5"}')).toBe(3);
    expect(value(s, 'carillon_schedmiss_seconds_count')).toBe(1);
    expect(value(s, 'carillon_schedmiss_seconds_bucket{le="0.02"}')).toBe(1);
    expect(value(s, 'carillon_schedmiss_seconds_bucket{le="0.01"}')).toBe(0);
  });

  it('counts HTTP requests by path and status, unknown paths as other', async () => {
    const metrics = new DaemonMetrics({ sources: sourcesOf(makeFake()), defaultMetrics: false });
    metrics.countHttpRequest('/metrics', 200);
    metrics.countHttpRequest('/metrics', 200);
    metrics.countHttpRequest('/readyz', 503);
    metrics.countHttpRequest('/etc/passwd', 404);
    metrics.countHttpRequest('/x', 404);
    const s = await scrape(metrics);
    expect(family(s, 'carillon_http_requests_total')).toEqual(new Map([
      ['carillon_http_requests_total{path="/metrics",code="200"}', 2],
      ['carillon_http_requests_total{path="/readyz",code="503"}', 1],
      ['carillon_http_requests_total{path="other",code="404"}', 2],
    ]));
  });

  it("uses a registry of its own: two instances coexist and prom-client's global registry stays empty of carillon_*", async () => {
    const a = new DaemonMetrics({ sources: sourcesOf(makeFake()) });
    const b = new DaemonMetrics({ sources: sourcesOf(makeFake()) });
    expect(a.registry).not.toBe(b.registry);
    expect(a.registry).not.toBe(globalRegister);
    expect(await globalRegister.metrics()).not.toContain('carillon_');
    expect(value(await scrape(b), 'carillon_totem_members')).toBe(3);
  });
});
