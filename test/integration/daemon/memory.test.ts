// Goal: issue 7's memory measures hold on real carillond processes (src/bin/daemon.ts,
// src/bin/daemon-heap.ts, the lazy loading of src/runtime/daemon.ts):
//   - with http_listen off and no res_corosync_conf, a running daemon has not loaded what
//     it does not use: commander, prom-client, ws, the HTTP server and metrics, the
//     Asterisk bridge (AMI, ARI, the res_corosync.conf parser);
//   - V8 honours the heap settings set at runtime: through startup and CPG traffic the
//     young generation stays at its initial 2 × 1 MiB, seen from inside the daemon and,
//     with http_listen on (where prom-client and the HTTP server do load), in /metrics;
//   - an operator's --max-semi-space-size wins, and the same measurement then shows a
//     larger young generation: the check above can fail.
// Method: one-node clusters from cluster-kit.ts; the daemon started with
// `-r probe.js` (CLUSTER_KIT_NODE_ARGS), a preload that on SIGUSR2 writes the loaded
// module files and V8's new-space size to probe-PID.json; CPG traffic through CpgClient; /metrics
// over HTTP. Every wait bounded.

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpgClient } from '../../../src/client';
import { Cluster, ensureBuilt, waitFor, withLogs } from './cluster-kit';

const MIB = 1024 * 1024;
const FORM_TIMEOUT_MS = 15_000;

interface Probe {
  modules: string[];
  newSpaceBytes: number;
}

/** The preload: on SIGUSR2, writes probe-PID.json into `dir`. */
function probeJs(dir: string): string {
  return `
const fs = require('node:fs');
const v8 = require('node:v8');
process.on('SIGUSR2', () => {
  const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  const out = { modules: Object.keys(require.cache), newSpaceBytes: newSpace ? newSpace.space_size : -1 };
  const file = ${JSON.stringify(dir)} + '/probe-' + process.pid + '.json';
  fs.writeFileSync(file + '.tmp', JSON.stringify(out));
  fs.renameSync(file + '.tmp', file);
});
`;
}

let cluster: Cluster | null = null;
let tempDir = '';

beforeAll(() => {
  ensureBuilt();
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-memory-'));
  fs.writeFileSync(path.join(tempDir, 'probe.js'), probeJs(tempDir));
}, 180_000);

afterEach(async () => {
  await cluster?.cleanup();
  cluster = null;
});

afterAll(() => {
  fs.rmSync(tempDir, { recursive: true, force: true });
});

/** Starts a one-node cluster whose daemon runs with `nodeArgs` (and the probe); waits for its ring. */
async function startOne(options: { httpListen: boolean; nodeArgs?: readonly string[] }): Promise<Cluster> {
  const c = await Cluster.create({ listed: 1, name: 'memory', httpListen: options.httpListen });
  cluster = c;
  const saved = process.env['CLUSTER_KIT_NODE_ARGS'];
  process.env['CLUSTER_KIT_NODE_ARGS'] = [...(options.nodeArgs ?? []), '-r', path.join(tempDir, 'probe.js')].join(' ');
  try {
    await c.startNodes([1]);
  } finally {
    if (saved === undefined) delete process.env['CLUSTER_KIT_NODE_ARGS'];
    else process.env['CLUSTER_KIT_NODE_ARGS'] = saved;
  }
  await c.waitForRing([1], [1], FORM_TIMEOUT_MS);
  return c;
}

/** 2000 CPG messages of 1 KiB through the daemon, all delivered back. */
async function cpgTraffic(c: Cluster): Promise<void> {
  const client = await CpgClient.connect(c.socketPath(1));
  try {
    const count = 2000;
    let delivered = 0;
    client.on('deliver', () => {
      delivered += 1;
    });
    await client.join('memory-it');
    const payload = new Uint8Array(1024);
    for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: 50 }, () => client.mcast('memory-it', payload)));
    await waitFor(() => delivered === count, 15_000, `${count} deliveries`, () => `${delivered} delivered`);
  } finally {
    await client.close();
  }
}

async function probe(c: Cluster): Promise<Probe> {
  const pid = c.pid(1) as number;
  const file = path.join(tempDir, `probe-${pid}.json`);
  fs.rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  await waitFor(() => fs.existsSync(file), 5000, 'the probe file');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Probe;
}

/** Loaded module files that match `pattern`. */
function loaded(p: Probe, pattern: RegExp): string[] {
  return p.modules.filter((m) => pattern.test(m.split(path.sep).join('/')));
}

const OPTIONAL_MODULES = /node_modules\/(commander|prom-client|ws)\/|dist\/asterisk\/|dist\/runtime\/(bridge-runner|http-server|metrics)\.js$|dist\/cli\/daemon-command\.js$/;

describe('carillond memory (issue 7)', () => {
  it('loads neither commander, the HTTP server and metrics nor the Asterisk bridge when they are not used', () =>
    withLogs(() => cluster, async () => {
      const c = await startOne({ httpListen: false });
      await cpgTraffic(c);
      const p = await probe(c);
      expect(loaded(p, /dist\/runtime\/daemon\.js$/)).toHaveLength(1);
      expect(loaded(p, OPTIONAL_MODULES)).toEqual([]);
    }), 60_000);

  it('keeps the young generation at 2 × 1 MiB through startup and CPG traffic', () =>
    withLogs(() => cluster, async () => {
      const c = await startOne({ httpListen: true });
      await cpgTraffic(c);
      const p = await probe(c);
      expect(loaded(p, /node_modules\/prom-client\//).length).toBeGreaterThan(0);
      expect(loaded(p, /dist\/runtime\/http-server\.js$/)).toHaveLength(1);
      expect(p.newSpaceBytes).toBeGreaterThan(0);
      expect(p.newSpaceBytes).toBeLessThanOrEqual(2 * MIB);
      const res = await fetch(c.httpUrl(1, '/metrics'), { signal: AbortSignal.timeout(5000) });
      const line = (await res.text()).split('\n').find((l) => l.startsWith('nodejs_heap_space_size_total_bytes{space="new"}'));
      expect(line).toBeDefined();
      expect(Number(line?.split(' ').pop())).toBeLessThanOrEqual(2 * MIB);
    }), 60_000);

  it("leaves the young generation to an operator's --max-semi-space-size", () =>
    withLogs(() => cluster, async () => {
      const c = await startOne({ httpListen: false, nodeArgs: ['--max-semi-space-size=8'] });
      await cpgTraffic(c);
      const p = await probe(c);
      expect(p.newSpaceBytes).toBeGreaterThan(2 * MIB);
    }), 60_000);
});
