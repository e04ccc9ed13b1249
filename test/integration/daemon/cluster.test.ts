// Goal: real carillond processes form and keep one Totem ring on loopback, as the lead
// checked by hand: 3 and 5 daemons agree on ring id and members; every node delivers the
// same messages in the same order; kill -9 of a node is detected and the survivors
// reform within token + consensus (+ a margin); the killed node rejoins with a higher
// ring seq restored from its state_dir; SIGTERM makes the others reform at once (LEAVE)
// and exits 0; with crypto a node holding another key never joins and is counted as
// authentication failures; malformed datagrams from a listed address are counted as
// decode errors without disturbing the ring, and unlisted sources are dropped.
// Method: cluster-kit.ts spawns `node dist/bin/daemon.js -f -c FILE` per node on a random
// 127.R.S.0/24 and a random port, token 300 ms with token_coefficient 0 (consensus
// derived: 360 ms), and polls `status` over the IPC socket with deadlines. Timings are
// printed at the end of the file. The whole file takes about 6-10 s; the one slow part
// (a fixed observation window) is marked [slow].

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { Prng } from '../../../src/base/prng';
import type { DaemonStatus } from '../../../src/ipc/daemon-api';
import { decodeMessage } from '../../../src/totem/wire/codec';
import { WireLimits } from '../../../src/totem/wire/messages';
import {
  Cluster,
  ctlJs,
  describeStatuses,
  ensureBuilt,
  memberIds,
  nowMs,
  ringSeq,
  ringText,
  sendDatagrams,
  stat,
  waitFor,
  withLogs,
  within,
} from './cluster-kit';

const FORM_TIMEOUT_MS = 15_000;
const execFileAsync = promisify(execFile);
const timings: string[] = [];

beforeAll(() => {
  ensureBuilt();
}, 180_000);

afterAll(() => {
  if (timings.length > 0) console.log(`carillond cluster timings (token 300 ms, token_coefficient 0, consensus 360 ms):\n  ${timings.join('\n  ')}`);
});

function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

function text(payloadHex: string): string {
  return Buffer.from(payloadHex, 'hex').toString('utf8');
}

function sorted(ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

describe('ring formation', () => {
  let cluster: Cluster | null = null;

  afterEach(async () => {
    await cluster?.cleanup();
    cluster = null;
  });

  it.each([3, 5])('%i daemons form one ring: all operational, same ring id, every node a member', (n) =>
    withLogs(() => cluster, async () => {
      const c = await Cluster.create({ listed: n, name: `form${n}` });
      cluster = c;
      const ids = c.allIds();
      const t0 = nowMs();
      await c.startNodes(ids);
      const statuses = await c.waitForRing(ids, ids, FORM_TIMEOUT_MS);
      timings.push(`${n} daemons: spawn to one operational ring ${Math.round(nowMs() - t0)} ms (ring ${ringText(statuses[0] as DaemonStatus)})`);
      for (const s of statuses) {
        expect(s.state).toBe('operational');
        expect(sorted(memberIds(s))).toEqual(ids);
        expect(s.ringId).toEqual(statuses[0]?.ringId);
        // The representative is the lowest nodeid, as corosync's "1.d".
        expect(s.ringId.rep).toBe(1);
        expect(s.nodelist.map((e) => e.status).filter((st) => st === 'disconnected')).toEqual([]);
        expect(s.members.find((m) => m.nodeId === s.nodeId)?.addresses).toEqual([c.address(s.nodeId)]);
      }
    }),
  );
});

describe('one ring of three: ordering, kill -9, restart, SIGTERM (tests run in order)', () => {
  let cluster: Cluster | null = null;
  const ids = [1, 2, 3];

  beforeAll(() =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 3, name: 'ring3' });
      await cluster.startNodes(ids);
      await cluster.waitForRing(ids, ids, FORM_TIMEOUT_MS);
    }), 30_000);

  afterAll(async () => {
    await cluster?.cleanup();
    cluster = null;
  });

  const c = (): Cluster => {
    if (cluster === null) throw new Error('the cluster did not start (see beforeAll)');
    return cluster;
  };

  it('every node delivers the same 150 messages in the same order (50 submitted concurrently by each node)', () =>
    withLogs(() => cluster, async () => {
      await c().waitForRing(ids, ids, FORM_TIMEOUT_MS);
      const recorders = await Promise.all(ids.map((id) => c().record(id)));
      const perNode = 50;
      const submitted = new Map<number, string[]>();
      await Promise.all(ids.map(async (id) => {
        const client = await c().client(id);
        const mine: string[] = [];
        submitted.set(id, mine);
        for (let i = 0; i < perNode; i += 1) {
          const payload = `n${id}-m${String(i).padStart(2, '0')}`;
          const answer = await client.call('totem.submit', { payloadHex: hex(payload) });
          expect(answer.result).toBe('queued');
          mine.push(payload);
        }
      }));
      const total = perNode * ids.length;
      await waitFor(
        () => recorders.every((r) => r.deliveries().length >= total),
        10_000,
        `${total} deliveries on every node`,
        () => recorders.map((r) => `n${r.nodeId}: ${r.deliveries().length}`).join(', '),
      );
      const streams = recorders.map((r) => r.deliveries().map((d) => `${d.ringId.rep}.${d.ringId.seq}#${d.seq} from ${d.sender}: ${text(d.payloadHex)}`));
      expect(streams[0]).toHaveLength(total);
      expect(streams[1]).toEqual(streams[0]);
      expect(streams[2]).toEqual(streams[0]);
      const delivered = (recorders[0]?.deliveries() ?? []).map((d) => ({ sender: d.sender, payload: text(d.payloadHex) }));
      expect(new Set(delivered.map((d) => d.payload)).size).toBe(total);
      for (const id of ids) {
        // Agreed order keeps each sender's own order, and the sender is the submitter.
        const fromId = delivered.filter((d) => d.payload.startsWith(`n${id}-`));
        expect(fromId.map((d) => d.payload)).toEqual(submitted.get(id));
        expect(new Set(fromId.map((d) => d.sender))).toEqual(new Set([id]));
      }
      await Promise.all(recorders.map((r) => r.close()));
    }));

  let seqBeforeKill = 0n;
  let seqTwoNodeRing = 0n;

  it('kill -9 of node 3: nodes 1 and 2 reform as [1,2] within token + consensus + 1.5 s, with a higher ring seq', () =>
    withLogs(() => cluster, async () => {
      const before = await c().waitForRing(ids, ids, FORM_TIMEOUT_MS);
      seqBeforeKill = ringSeq(before[0] as DaemonStatus);
      const recorders = await Promise.all([1, 2].map((id) => c().record(id)));
      const bound = c().token + c().consensus + 1500;
      const t0 = nowMs();
      const exit = await c().killNode(3, 'SIGKILL');
      expect(exit.signal).toBe('SIGKILL');
      await waitFor(
        () => recorders.every((r) => r.regularConfchg([1, 2]) !== undefined),
        bound + 5000,
        'a regular configuration change to [1,2] on nodes 1 and 2',
        () => recorders.map((r) => `n${r.nodeId}: ${JSON.stringify(r.events.map((e) => e.event))}`).join('; '),
        5,
      );
      const failoverMs = Math.max(...recorders.map((r) => (r.regularConfchg([1, 2])?.atMs ?? Infinity) - t0));
      timings.push(`kill -9 of node 3: [1,2] reformed after ${Math.round(failoverMs)} ms (bound token ${c().token} + consensus ${c().consensus} + 1500 = ${bound} ms)`);
      expect(failoverMs).toBeLessThan(bound);
      const after = await c().statuses([1, 2]);
      for (const s of after) {
        expect(s.state).toBe('operational');
        expect(sorted(memberIds(s))).toEqual([1, 2]);
        expect(s.ringId).toEqual(after[0]?.ringId);
        expect(ringSeq(s)).toBeGreaterThan(seqBeforeKill);
        expect(s.nodelist.find((e) => e.nodeId === 3)?.status).toBe('disconnected');
      }
      seqTwoNodeRing = ringSeq(after[0] as DaemonStatus);
      // The same through the CLI an operator uses: `carillon status --json`.
      const cli = await execFileAsync(process.execPath, [ctlJs, '--socket', c().socketPath(1), 'status', '--json'], { timeout: 10_000 });
      const json = JSON.parse(cli.stdout) as DaemonStatus;
      expect(sorted(memberIds(json))).toEqual([1, 2]);
      expect(ringSeq(json)).toBe(seqTwoNodeRing);
      await Promise.all(recorders.map((r) => r.close()));
    }));

  it('node 3 restarted with the same state_dir rejoins: ring seq restored from ringid_3, all three see [1,2,3]', () =>
    withLogs(() => cluster, async () => {
      if (seqBeforeKill === 0n) throw new Error('the kill -9 test did not run');
      // corosync's format: <state_dir>/ringid_<nodeid>, the u64 little-endian.
      const stored = fs.readFileSync(`${c().nodeDir(3)}/ringid_3`).readBigUInt64LE(0);
      expect(stored).toBeGreaterThanOrEqual(seqBeforeKill);
      const t0 = nowMs();
      await c().restartNode(3);
      const statuses = await c().waitForRing(ids, ids, FORM_TIMEOUT_MS);
      timings.push(`restart of node 3: rejoined [1,2,3] ${Math.round(nowMs() - t0)} ms after the spawn (ring ${ringText(statuses[0] as DaemonStatus)})`);
      expect(c().logText(3)).toContain(`ring seq ${stored} restored`);
      for (const s of statuses) {
        expect(sorted(memberIds(s))).toEqual(ids);
        expect(ringSeq(s)).toBeGreaterThan(seqBeforeKill);
        expect(ringSeq(s)).toBeGreaterThan(seqTwoNodeRing);
        expect(ringSeq(s)).toBeGreaterThan(stored);
      }
    }));

  it('SIGTERM of node 2: nodes 1 and 3 reform at once (under consensus) and node 2 exits 0', () =>
    withLogs(() => cluster, async () => {
      const before = await c().waitForRing(ids, ids, FORM_TIMEOUT_MS);
      const recorders = await Promise.all([1, 3].map((id) => c().record(id)));
      const t0 = nowMs();
      const exited = c().signal(2, 'SIGTERM');
      await waitFor(
        () => recorders.every((r) => r.regularConfchg([1, 3]) !== undefined),
        c().token + c().consensus + 5000,
        'a regular configuration change to [1,3] on nodes 1 and 3',
        () => recorders.map((r) => `n${r.nodeId}: ${JSON.stringify(r.events.map((e) => e.event))}`).join('; '),
        5,
      );
      const reformMs = Math.max(...recorders.map((r) => (r.regularConfchg([1, 3])?.atMs ?? Infinity) - t0));
      timings.push(`SIGTERM of node 2: [1,3] reformed after ${Math.round(reformMs)} ms (bound: consensus ${c().consensus} ms)`);
      expect(reformMs).toBeLessThan(c().consensus);
      const exit = await within(exited, 6000, 'node 2 to exit after SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      const after = await c().waitForRing([1, 3], [1, 3], 5000);
      expect(ringSeq(after[0] as DaemonStatus)).toBeGreaterThan(ringSeq(before[0] as DaemonStatus));
      expect(c().logText(2)).toContain('carillond stopped');
      await Promise.all(recorders.map((r) => r.close()));
    }));
});

describe('crypto (aes256/sha256)', () => {
  let cluster: Cluster | null = null;

  afterEach(async () => {
    await cluster?.cleanup();
    cluster = null;
  });

  it('[slow: ~2 s observation window] three nodes sharing a key form a ring; a 4th listed node with another key never joins and is counted in transport.authFailures', () =>
    withLogs(() => cluster, async () => {
      const c = await Cluster.create({ listed: 4, crypto: true, rogueKeyNodes: [4], name: 'crypto' });
      cluster = c;
      await c.startNodes([1, 2, 3, 4]);
      const ring = await c.waitForRing([1, 2, 3], [1, 2, 3], FORM_TIMEOUT_MS);
      const ringId = ring[0]?.ringId;
      for (const s of ring) expect(s.crypto).toBe(true);
      // Observe a window of several token rotations and of node 4's join attempts.
      const base = await c.statuses([1, 2, 3, 4]);
      const windowMs = 2 * (c.token + c.consensus);
      const t0 = nowMs();
      const violations: string[] = [];
      let last: DaemonStatus[] = [];
      await waitFor(
        async () => {
          last = await c.statuses([1, 2, 3, 4]);
          for (const s of last.slice(0, 3)) {
            if (sorted(memberIds(s)).join(',') !== '1,2,3' || JSON.stringify(s.ringId) !== JSON.stringify(ringId)) {
              violations.push(`n${s.nodeId}: ${s.state} ring ${ringText(s)} members [${memberIds(s).join(',')}]`);
            }
          }
          const n4 = last[3];
          if (n4 !== undefined && memberIds(n4).some((id) => id !== 4)) violations.push(`n4 has members [${memberIds(n4).join(',')}]`);
          return nowMs() - t0 >= windowMs && last.slice(0, 3).every((s, i) => {
            const b = base[i] as DaemonStatus;
            return stat(s, 'srp.orfTokenRx') - stat(b, 'srp.orfTokenRx') >= 30 && stat(s, 'transport.authFailures') - stat(b, 'transport.authFailures') >= 3;
          });
        },
        10_000,
        'a window of >= 30 tokens and >= 3 authentication failures on each of nodes 1-3',
        () => `${describeStatuses(last)}; authFailures ${last.map((s) => stat(s, 'transport.authFailures')).join('/')}`,
        50,
      );
      expect(violations).toEqual([]);
      for (const s of last.slice(0, 3)) {
        expect(s.stats['transport.authFailures']).toBeGreaterThan(0);
        expect(stat(s, 'transport.decrypted')).toBeGreaterThan(0);
      }
      const n4 = last[3] as DaemonStatus;
      expect(memberIds(n4)).toEqual([4]);
      // Node 4 receives the ring's traffic and cannot authenticate it either.
      expect(stat(n4, 'transport.authFailures')).toBeGreaterThan(0);
      timings.push(`crypto: nodes 1-3 counted ${last.slice(0, 3).map((s) => stat(s, 'transport.authFailures')).join('/')} authentication failures from node 4 in ${Math.round(nowMs() - t0)} ms`);
    }));
});

// ---------------------------------------------------------------------------------
// Malformed datagrams. Every generated datagram fails decodeMessage by construction
// (checked below with the codec itself), so none can be taken for a foreign ring's
// message: the expected decodeErrors increase is exact, up to loopback drops.

function header(prng: Prng, type: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = prng.nextInt(256);
  const set = (offset: number, value: number): void => {
    if (offset < length) bytes[offset] = value;
  };
  set(0, 0x70);
  set(1, 0xc0);
  set(2, WireLimits.version);
  set(3, type);
  set(4, 0);
  // nodeid 4 (the listed node that is not running), target 0.
  for (let i = 0; i < 4; i += 1) {
    set(5 + i, i === 0 ? 4 : 0);
    set(9 + i, 0);
  }
  return bytes;
}

function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(offset, value >>> 0, true);
}

const BASE_BYTES = [
  WireLimits.orfTokenBaseBytes, WireLimits.mcastHeaderBytes, WireLimits.mergeDetectBytes,
  WireLimits.joinBaseBytes, WireLimits.commitTokenBaseBytes, WireLimits.tokenHoldCancelBytes,
];

function fuzzDatagram(prng: Prng): Uint8Array {
  switch (prng.nextInt(10)) {
    case 0: {
      // Random bytes whose first byte is not the magic's.
      const bytes = new Uint8Array(prng.range(1, 300));
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = prng.nextInt(256);
      if (bytes[0] === 0x70) bytes[0] = 0x71;
      return bytes;
    }
    case 1:
      // The magic, then less than the 13-byte header (sometimes nothing at all).
      return prng.chance(0.05) ? new Uint8Array(0) : header(prng, prng.nextInt(6), prng.range(1, WireLimits.headerBytes - 1));
    case 2: {
      // Byte-swapped magic: a big-endian sender.
      const bytes = header(prng, prng.nextInt(6), prng.range(13, 120));
      bytes[0] = 0xc0;
      bytes[1] = 0x70;
      return bytes;
    }
    case 3: {
      const bytes = header(prng, prng.nextInt(6), prng.range(13, 120));
      bytes[2] = prng.pick([0, 1, 2, 4, 5, 0x30, 0xff]);
      return bytes;
    }
    case 4:
      return header(prng, prng.range(6, 255), prng.range(13, 120));
    case 5: {
      // A real header of type 0..5, cut before the type's fixed part ends.
      const type = prng.nextInt(6);
      return header(prng, type, prng.range(WireLimits.headerBytes, (BASE_BYTES[type] as number) - 1));
    }
    case 6: {
      // ORF token with rtr_list_entries out of range, or more entries than bytes.
      const entries = prng.chance(0.5) ? prng.pick([31, 100, 0x7fffffff, -1, -30]) : prng.range(1, 30);
      const bytes = header(prng, 0, WireLimits.orfTokenBaseBytes + (entries > 0 && entries <= 30 ? WireLimits.rtrItemBytes * entries - prng.range(1, 16) : prng.range(0, 64)));
      writeU32(bytes, 53, entries);
      return bytes;
    }
    case 7: {
      // MCAST whose `encapsulated` byte is neither 1 nor 2.
      const bytes = header(prng, 1, prng.range(WireLimits.mcastHeaderBytes, 200));
      bytes[4] = prng.pick([0, 3, 4, 0x80, 0xff]);
      return bytes;
    }
    case 8: {
      // MEMB_JOIN with too many entries, or entries the datagram does not hold.
      const tooMany = prng.chance(0.5);
      const proc = tooMany ? prng.range(385, 100_000) : prng.range(1, 20);
      const failed = tooMany ? prng.nextInt(4) : prng.range(0, 20);
      const need = WireLimits.joinBaseBytes + 4 * (proc + failed);
      const bytes = header(prng, 3, tooMany ? prng.range(WireLimits.joinBaseBytes, 200) : need - prng.range(1, 4 * (proc + failed)));
      writeU32(bytes, 17, proc);
      writeU32(bytes, 21, failed);
      return bytes;
    }
    default: {
      // MEMB_COMMIT_TOKEN with addr_entries out of range, memb_index past them, or too short.
      const bytes = header(prng, 4, prng.range(WireLimits.commitTokenBaseBytes, 200));
      const kind = prng.nextInt(3);
      const entries = kind === 0 ? prng.pick([385, 1000, -1]) : kind === 1 ? prng.range(0, 3) : prng.range(6, 20);
      writeU32(bytes, 37, entries);
      writeU32(bytes, 33, kind === 1 ? entries + prng.range(1, 5) : prng.range(0, Math.max(0, Math.min(entries, 5))));
      return kind === 2 ? bytes.subarray(0, Math.min(bytes.length, WireLimits.commitTokenBaseBytes + WireLimits.commitEntryBytes * entries - 1)) : bytes;
    }
  }
}

describe('malformed and unlisted datagrams', () => {
  let cluster: Cluster | null = null;

  afterEach(async () => {
    await cluster?.cleanup();
    cluster = null;
  });

  it('[~1 s] thousands of malformed datagrams from a listed address are counted as decode errors; the ring survives; unlisted sources are dropped', () =>
    withLogs(() => cluster, async () => {
      const seed = Date.now() >>> 0;
      const c = await Cluster.create({ listed: 4, name: 'fuzz' });
      cluster = c;
      const running = [1, 2, 3];
      await c.startNodes(running);
      const before = await c.waitForRing(running, running, FORM_TIMEOUT_MS);
      const prng = new Prng(seed);
      const perDaemon = 3000;
      const datagrams = Array.from({ length: perDaemon }, () => fuzzDatagram(prng));
      const decodable = datagrams.filter((d) => decodeMessage(d).ok);
      expect({ seed, decodable: decodable.length }).toEqual({ seed, decodable: 0 });
      const targets = running.map((id) => ({ address: c.address(id), port: c.port }));

      // From node 4's address and the cluster port: udpu accepts it (source IP listed).
      const t0 = nowMs();
      await sendDatagrams({ address: c.address(4), port: c.port }, targets, datagrams);
      const decodeErrors = (s: DaemonStatus): number => stat(s, 'driver.decodeErrors') - stat(before[s.nodeId - 1] as DaemonStatus, 'driver.decodeErrors');
      let last: DaemonStatus[] = [];
      await waitFor(
        async () => {
          last = await c.statuses(running);
          return last.every((s) => decodeErrors(s) >= perDaemon);
        },
        5000,
        `${perDaemon} new decode errors on every daemon (seed ${seed})`,
        () => last.map((s) => `n${s.nodeId}: +${decodeErrors(s)}`).join(', '),
      ).catch(() => undefined); // Loopback may drop a few under the burst: checked below.
      last = await c.statuses(running);
      for (const s of last) {
        expect(decodeErrors(s)).toBeGreaterThanOrEqual(Math.floor(perDaemon * 0.95));
        expect(decodeErrors(s)).toBeLessThanOrEqual(perDaemon);
      }
      for (const id of running) expect({ id, running: c.isRunning(id) }).toEqual({ id, running: true });
      const after = await c.waitForRing(running, running, 5000);
      // Not one datagram decoded, so nothing may have changed the membership.
      const lost = (st: DaemonStatus): string => ['srp.operationalTokenLost', 'srp.gatherEntered', 'srp.consensusTimeouts'].map((k) => `${k} +${stat(st, k) - stat(before[st.nodeId - 1] as DaemonStatus, k)}`).join(' ');
      expect({ ring: ringText(after[0] as DaemonStatus), counters: after.map(lost) }).toEqual({ ring: ringText(before[0] as DaemonStatus), counters: after.map(lost) });
      timings.push(`fuzz: ${perDaemon} malformed datagrams to each of 3 daemons counted in ${Math.round(nowMs() - t0)} ms (decodeErrors +${last.map(decodeErrors).join('/')}); ring ${ringText(before[0] as DaemonStatus)} -> ${ringText(after[0] as DaemonStatus)}`);

      // From an address outside the nodelist: dropped before decoding, counted.
      const unlisted = datagrams.slice(0, 300);
      const mid = after;
      await sendDatagrams({ address: `${c.prefix}.99`, port: 0 }, targets, unlisted);
      const dropped = (s: DaemonStatus): number => stat(s, 'transport.droppedUnlisted') - stat(mid[s.nodeId - 1] as DaemonStatus, 'transport.droppedUnlisted');
      await waitFor(
        async () => {
          last = await c.statuses(running);
          return last.every((s) => dropped(s) >= unlisted.length);
        },
        5000,
        `${unlisted.length} datagrams from ${c.prefix}.99 counted in transport.droppedUnlisted`,
        () => last.map((s) => `n${s.nodeId}: +${dropped(s)}`).join(', '),
      );
      for (const s of last) {
        expect(dropped(s)).toBe(unlisted.length);
        expect(stat(s, 'driver.decodeErrors')).toBe(stat(mid[s.nodeId - 1] as DaemonStatus, 'driver.decodeErrors'));
      }
      await c.waitForRing(running, running, 5000);
    }));
});
