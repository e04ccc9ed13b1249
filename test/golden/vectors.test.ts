// Goal: the codec is byte-compatible with real corosync 3.1.7 traffic. Every UDP
// datagram of every capture in ../shared/vectors decodes and re-encodes to identical
// bytes, and the facts the capture READMEs and corosync-wire.md state about those
// captures (packet counts per type, ring ids, frame numbers, token contents,
// retransmit lists, encapsulation) hold for what we decode.
// Method: read each pcap with src/cli/pcap-reader.ts, decode with
// src/totem/wire/codec.ts, and compare against numbers copied from the READMEs.

import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type UdpDatagram, readPcap } from '../../src/cli/pcap-reader';
import { decodeMessage, encodeMessage } from '../../src/totem/wire/codec';
import { type TotemMessage, ringIdKey } from '../../src/totem/wire/messages';

const vectorsDir = path.resolve(__dirname, '../../../shared/vectors');
const udpuDir = path.join(vectorsDir, 'corosync-3.1.7-udpu');
const faultsFile = path.join(vectorsDir, 'corosync-3.1.7-udpu-faults', 'udpu-faults.pcap');

function findPcaps(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? findPcaps(path.join(dir, e.name)) : e.name.endsWith('.pcap') ? [path.join(dir, e.name)] : []))
    .sort();
}

interface Decoded extends UdpDatagram {
  message: TotemMessage;
}

const cache = new Map<string, Decoded[]>();

/** Reads and decodes a capture once; fails the calling test on any problem. */
function load(file: string): Decoded[] {
  const hit = cache.get(file);
  if (hit) return hit;
  const r = readPcap(fs.readFileSync(file));
  if (!r.ok) throw r.error;
  expect(r.value.problems).toEqual([]);
  const out = r.value.datagrams.map((d) => {
    const m = decodeMessage(d.payload);
    if (!m.ok) throw new Error(`${path.basename(file)} frame ${d.frame}: ${m.error.code} ${m.error.message}`);
    return { ...d, message: m.value };
  });
  cache.set(file, out);
  return out;
}

function countTypes(ds: readonly Decoded[]): Record<string, number> {
  const c: Record<string, number> = {
    'orf-token': 0,
    mcast: 0,
    'merge-detect': 0,
    join: 0,
    'commit-token': 0,
    'token-hold-cancel': 0,
  };
  for (const d of ds) c[d.message.type] = (c[d.message.type] ?? 0) + 1;
  return c;
}

function frame(ds: readonly Decoded[], n: number): Decoded {
  const d = ds.find((x) => x.frame === n);
  if (!d) throw new Error(`no frame ${n}`);
  return d;
}

const pcaps = findPcaps(vectorsDir);

describe('every captured datagram', () => {
  it('finds the capture files', () => {
    expect(pcaps.map((p) => path.relative(vectorsDir, p))).toEqual(
      expect.arrayContaining([
        'corosync-3.1.7-udpu/udpu-full.pcap',
        'corosync-3.1.7-udpu/udpu-1-formation.pcap',
        'corosync-3.1.7-udpu-faults/udpu-faults.pcap',
      ]),
    );
  });

  it.each(pcaps.map((p) => [path.relative(vectorsDir, p), p]))('%s: decodes and re-encodes byte for byte', (_n, file) => {
    const ds = load(file);
    expect(ds.length).toBeGreaterThan(0);
    for (const d of ds) {
      const again = encodeMessage(d.message);
      if (Buffer.compare(again, d.payload) !== 0) {
        throw new Error(`frame ${d.frame} (${d.message.type}) does not re-encode to the captured bytes`);
      }
      if (d.message.type === 'mcast' && d.message.encapsulated === 1) {
        const inner = decodeMessage(d.message.payload);
        expect(inner.ok && inner.value.type).toBe('mcast');
        if (inner.ok) expect(Buffer.compare(encodeMessage(inner.value), d.message.payload)).toBe(0);
      }
    }
  });
});

describe('corosync-3.1.7-udpu README', () => {
  const file = (n: string): string => path.join(udpuDir, n);

  it.each([
    ['udpu-1-formation.pcap', 432, [262, 90, 54, 16, 10, 0]],
    ['udpu-2-cpg-messages.pcap', 810, [738, 26, 32, 0, 0, 14]],
    ['udpu-3-kill-rejoin.pcap', 956, [454, 94, 28, 366, 10, 4]],
    ['udpu-4-shutdown.pcap', 188, [104, 44, 22, 12, 4, 2]],
  ] as const)('%s: %i packets, per-type counts as in the table', (name, packets, [tok, mc, md, jo, co, hc]) => {
    const ds = load(file(name));
    expect(ds.length).toBe(packets);
    expect(countTypes(ds)).toEqual({
      'orf-token': tok,
      mcast: mc,
      'merge-detect': md,
      join: jo,
      'commit-token': co,
      'token-hold-cancel': hc,
    });
  });

  it('the phase files together are udpu-full.pcap (2386 packets), each packet once', () => {
    const full = load(file('udpu-full.pcap'));
    expect(full.length).toBe(2386);
    const phases = ['udpu-1-formation.pcap', 'udpu-2-cpg-messages.pcap', 'udpu-3-kill-rejoin.pcap', 'udpu-4-shutdown.pcap'].flatMap(
      (n) => load(file(n)),
    );
    expect(phases.length).toBe(full.length);
    phases.forEach((d, i) => {
      const f = full[i] as Decoded;
      expect(d.timeSec).toBe(f.timeSec);
      expect(Buffer.compare(d.payload, f.payload)).toBe(0);
    });
    expect(full[0]?.timeSec).toBeCloseTo(1795293762.951693, 6);
  });

  it('commit tokens of each ring formation at the frames the timeline gives', () => {
    const full = load(file('udpu-full.pcap'));
    const formations: [number, number, string, number][] = [
      [41, 44, '1.141', 2],
      [197, 202, '1.145', 3],
      [1606, 1609, '1.149', 2],
      [1770, 1775, '1.14e', 3],
      [2213, 2216, '1.152', 2],
    ];
    for (const [first, last, ringKey, members] of formations) {
      for (let n = first; n <= last; n++) {
        const m = frame(full, n).message;
        expect(m.type).toBe('commit-token');
        if (m.type !== 'commit-token') continue;
        expect(ringIdKey(m.ringId)).toBe(ringKey);
        expect(m.addr.length).toBe(members);
      }
      // Two rotations: 2·n datagrams (§2.6).
      expect(last - first + 1).toBe(2 * members);
    }
    const commitRings = new Set(full.flatMap((d) => (d.message.type === 'commit-token' ? [ringIdKey(d.message.ringId)] : [])));
    expect([...commitRings].sort()).toEqual(['1.141', '1.145', '1.149', '1.14e', '1.152']);
  });

  it('recognisable CPG payloads at the frames and sizes the README lists', () => {
    const full = load(file('udpu-full.pcap'));
    const text = (d: Decoded): string => Buffer.from(d.payload).toString('latin1');
    for (const [n, k] of [
      [658, 0],
      [659, 0],
      [669, 1],
      [670, 1],
      [677, 2],
      [678, 2],
    ] as const) {
      const d = frame(full, n);
      expect([d.src, d.payload.byteLength]).toEqual(['10.250.0.1', 289]);
      expect(text(d)).toContain(`COROSYNC-UDPU-TESTVECTOR hello #${k} from node 1`);
    }
    expect([902, 903, 904, 905, 906, 907].map((n) => frame(full, n).payload.byteLength).sort()).toEqual([1444, 1444, 1455, 1455, 1455, 1455]);
    expect(text(frame(full, 902))).toContain('COROSYNC-UDPU-TESTVECTOR big #0 from node 1');
    for (const n of [1971, 1972, 1979, 1980]) {
      const d = frame(full, n);
      expect([d.src, d.payload.byteLength]).toEqual(['10.250.0.3', 296]);
      expect(text(d)).toContain('COROSYNC-UDPU-TESTVECTOR after-rejoin');
    }
  });

  it('tokens, joins and header fields look as corosync-wire.md §1.1, §2.2, §3.5 and §3.12 say', () => {
    const full = load(file('udpu-full.pcap'));
    for (const d of full) {
      const m = d.message;
      if (m.type === 'mcast') {
        expect([m.encapsulated, m.targetNodeId, m.nodeIdField]).toEqual([2, 0, 0]);
      } else {
        expect(d.payload[4]).toBe(0);
      }
      if (m.type === 'commit-token') expect(m.targetNodeId).toBe(0);
      if (m.type === 'orf-token') {
        expect([d.payload.byteLength, m.rtrList.length, m.retransFlg]).toEqual([57, 0, 0]);
        if (m.aru === m.seq) expect(m.aruAddr).toBe(0);
        // The rep's initial token (§3.5).
        if (m.tokenSeq === 0) expect([m.seq, m.aru, m.aruAddr]).toEqual([0, 0xffffffff, m.ringId.rep]);
      }
      // Tokens go 5405 → 5405; multicast-class messages leave from an ephemeral port.
      expect(d.dstPort).toBe(5405);
      if (m.type === 'orf-token' || m.type === 'commit-token') expect(d.srcPort).toBe(5405);
      else expect(d.srcPort).not.toBe(5405);
    }
    // SIGTERM of node 2 in ring {1,2,3}: LEAVE = JOIN with header nodeid 0 (§3.12).
    const leaves = full.flatMap((d) => (d.message.type === 'join' && d.message.nodeId === 0 ? [d.message] : []));
    expect(leaves.length).toBe(6);
    expect(leaves[0]).toMatchObject({ systemFrom: 2, procList: [1, 3], failedList: [2] });
    // The last node to leave sends proc [], failed [self].
    const last = leaves[leaves.length - 1];
    expect(last?.procList).toEqual([]);
    expect(last?.failedList).toEqual([last?.systemFrom]);
  });
});

describe('corosync-3.1.7-udpu-faults README', () => {
  it('counts: 674 tokens, 1800 MCASTs, 390 joins (6 LEAVE), 20 commit, 36 merge detect, 2 hold cancel', () => {
    const ds = load(faultsFile);
    expect(ds.length).toBe(2922);
    expect(countTypes(ds)).toEqual({
      'orf-token': 674,
      mcast: 1800,
      'merge-detect': 36,
      join: 390,
      'commit-token': 20,
      'token-hold-cancel': 2,
    });
    expect(ds.filter((d) => d.message.type === 'join' && d.message.nodeId === 0).length).toBe(6);
  });

  it('retransmit lists: 37 tokens carry 47 items (28×1, 8×2, 1×3), 2 tokens have retrans_flg = 1', () => {
    const tokens = load(faultsFile).flatMap((d) => (d.message.type === 'orf-token' ? [d.message] : []));
    const withRtr = tokens.filter((t) => t.rtrList.length > 0);
    expect(withRtr.length).toBe(37);
    expect(withRtr.reduce((s, t) => s + t.rtrList.length, 0)).toBe(47);
    const histogram: Record<number, number> = {};
    for (const t of withRtr) histogram[t.rtrList.length] = (histogram[t.rtrList.length] ?? 0) + 1;
    expect(histogram).toEqual({ 1: 28, 2: 8, 3: 1 });
    expect(tokens.filter((t) => t.retransFlg === 1).length).toBe(2);
    // §2.2: items carry the token's own ring id, lie in (aru, seq], ascending.
    for (const t of withRtr) {
      let prev = t.aru;
      for (const item of t.rtrList) {
        expect(ringIdKey(item.ringId)).toBe(ringIdKey(t.ringId));
        expect(item.seq).toBeGreaterThan(prev);
        expect(item.seq).toBeLessThanOrEqual(t.seq);
        prev = item.seq;
      }
    }
  });

  it('one encapsulated message (2 datagrams): ring 1.30 seq 1 re-originating 1.2c seq 2768 of node 1 byte for byte', () => {
    const ds = load(faultsFile);
    const encapsulated = ds.filter((d) => d.message.type === 'mcast' && d.message.encapsulated === 1);
    expect(encapsulated.length).toBe(2);
    for (const d of encapsulated) {
      const outer = d.message;
      if (outer.type !== 'mcast') continue;
      expect([ringIdKey(outer.ringId), outer.seq, outer.nodeId, outer.systemFrom]).toEqual(['1.30', 1, 1, 1]);
      const inner = decodeMessage(outer.payload);
      expect(inner.ok).toBe(true);
      if (!inner.ok || inner.value.type !== 'mcast') continue;
      expect([ringIdKey(inner.value.ringId), inner.value.seq, inner.value.nodeId, inner.value.encapsulated]).toEqual([
        '1.2c',
        2768,
        1,
        2,
      ]);
      // The original old-ring datagram is in the capture and equals the inner bytes.
      const original = ds.find(
        (o) =>
          o.message.type === 'mcast' &&
          o.message.encapsulated === 2 &&
          ringIdKey(o.message.ringId) === '1.2c' &&
          o.message.seq === 2768,
      );
      expect(original && Buffer.compare(original.payload, outer.payload)).toBe(0);
    }
  });

  it('retransmitted MCASTs are byte-identical to the first copy, whoever re-sent them (§2.3)', () => {
    const byMessage = new Map<string, Decoded[]>();
    for (const d of load(faultsFile)) {
      if (d.message.type !== 'mcast' || d.message.encapsulated !== 2) continue;
      const k = `${ringIdKey(d.message.ringId)}/${d.message.seq}`;
      const list = byMessage.get(k) ?? [];
      list.push(d);
      byMessage.set(k, list);
    }
    let resentByOther = 0;
    for (const copies of byMessage.values()) {
      const first = copies[0] as Decoded;
      for (const c of copies) {
        expect(Buffer.compare(c.payload, first.payload)).toBe(0);
        if (c.src !== `10.248.0.${c.message.nodeId}`) resentByOther++;
      }
    }
    // README: 30 retransmitted copies were sent by a node other than the originator.
    expect(resentByOther).toBe(30);
  });
});
