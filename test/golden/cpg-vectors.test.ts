// Goal: the CPG codec and service (src/services/cpg) agree with real corosync 3.1.7
// traffic (corosync-wire.md §8). Every CPG exec message of both captures decodes, and
// re-encoding reproduces its bytes except the documented junk (pads, name bytes after
// `length`, MCAST source.conn, DOWNLIST nodeids after `left_nodes`). The spec's facts
// hold: PROCJOIN reason 1, PROCLEAVE reasons 2 and 5, 1568-byte DOWNLISTs whose
// old_members / left_nodes follow the README timelines, group `capture-demo`, sender
// pids 7427 / 7432 / 7904, the 4000-byte message. Then the capture is replayed through
// one CpgService per node (sync hooks at the real barrier points, each local client
// played by a handle with its pid): in udpu-full every CPG message a node sent —
// PROCJOIN, PROCLEAVE, MCAST, DOWNLIST, JOINLIST — is what our service sends at the
// same point, and the handles of node 2's and node 3's `cpgload -m watch` get exactly
// the events those clients logged (udpu-watch-node{2,3}.log); in udpu-faults (cut in
// the middle, so process lists are incomplete) every DOWNLIST is.
// Method: src/cli/pcap-reader.ts, src/totem/wire/codec.ts, non-encapsulated MCASTs once
// per (ring id, seq) ordered by seq, rings in capture order, src/totem/pg/assembler.ts,
// src/totem/pg/groups.ts; group `a` with service id 2.

import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeCpgMessage, encodeCpgMessage, CpgFn, CpgReason, type CpgMessage } from '../../src/services/cpg/cpg-messages';
import { CpgService, type CpgConfchgEvent, type CpgHandle } from '../../src/services/cpg/cpg-service';
import type { ServiceApi } from '../../src/services/service-api';
import { execId, type RingTraffic, ringTraffic, vectors } from './capture-messages';

const fullDir = path.join(vectors, 'corosync-3.1.7-udpu');
const faultsDir = path.join(vectors, 'corosync-3.1.7-udpu-faults');

interface CpgOnWire {
  readonly ring: string;
  readonly sender: number;
  readonly bytes: Uint8Array;
  readonly message: CpgMessage;
}

function cpgMessages(rings: readonly RingTraffic[]): CpgOnWire[] {
  const out: CpgOnWire[] = [];
  for (const r of rings) {
    for (const m of r.messages) {
      if (m.group !== 'a' || m.payload.length < 16 || execId(m.payload) >>> 16 !== 2) continue;
      const d = decodeCpgMessage(m.payload);
      if (!d.ok) throw new Error(`${r.key} from ${m.sender}: ${d.error.message}`);
      out.push({ ring: r.key, sender: m.sender, bytes: m.payload, message: d.value });
    }
  }
  return out;
}

/** A copy of a CPG message with the documented junk zeroed (what our encoder writes there). */
function maskJunk(bytes: Uint8Array): Uint8Array {
  const b = bytes.slice();
  const v = new DataView(b.buffer);
  const zero = (from: number, to: number) => b.fill(0, from, Math.min(to, b.length));
  const name = (at: number) => {
    zero(at + 4, at + 8);
    zero(at + 8 + Math.min(v.getUint32(at, true), 128), at + 136);
  };
  zero(4, 8);
  zero(12, 16);
  switch (v.getInt32(0, true) & 0xffff) {
    case CpgFn.procJoin:
    case CpgFn.procLeave:
      name(16);
      zero(156, 160);
      zero(164, 168);
      break;
    case CpgFn.mcast:
      name(16);
      zero(156, 160);
      zero(164, 168);
      zero(172, 184); // pad after source.nodeid, then source.conn
      break;
    case CpgFn.partialMcast:
      name(16);
      for (const at of [156, 164, 172, 180]) zero(at, at + 4);
      zero(188, 200);
      break;
    case CpgFn.downList:
      zero(20, 24);
      zero(28, 32);
      zero(32 + 4 * v.getUint32(24, true), 1568);
      break;
    case CpgFn.joinList:
      zero(20, 24);
      for (let at = 24; at + 144 <= b.length; at += 144) {
        zero(at + 4, at + 8);
        name(at + 8);
      }
      break;
  }
  return b;
}

function differs(a: Uint8Array, b: Uint8Array): boolean {
  return a.length !== b.length || a.some((x, i) => x !== b[i]);
}

const full = ringTraffic(path.join(fullDir, 'udpu-full.pcap'));
const faults = ringTraffic(path.join(faultsDir, 'udpu-faults.pcap'));
const fullCpg = cpgMessages(full);
const faultsCpg = cpgMessages(faults);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function ofType<T extends CpgMessage['type']>(list: readonly CpgOnWire[], type: T): Array<CpgOnWire & { message: Extract<CpgMessage, { type: T }> }> {
  return list.filter((m): m is CpgOnWire & { message: Extract<CpgMessage, { type: T }> } => m.message.type === type);
}

describe('CPG messages of the corosync 3.1.7 captures', () => {
  it('decode, and re-encode to the same bytes once pads, name fill, source.conn and stale downlist entries are masked', () => {
    expect(fullCpg).toHaveLength(33);
    expect(faultsCpg).toHaveLength(974);
    let junk = 0;
    for (const m of [...fullCpg, ...faultsCpg]) {
      if (m.message.type === 'downlist-old') throw new Error('no DOWNLIST_OLD expected');
      expect(m.bytes.length).toBe(new DataView(m.bytes.buffer, m.bytes.byteOffset).getInt32(8, true));
      const ours = encodeCpgMessage(m.message);
      const masked = maskJunk(m.bytes);
      // toEqual on a thousand Uint8Arrays is slow: compare first, show the bytes on failure.
      if (differs(ours, masked)) expect([m.ring, m.sender, ours]).toEqual([m.ring, m.sender, masked]);
      if (differs(masked, m.bytes)) junk += 1;
    }
    // Junk really occurs: every MCAST carries a daemon pointer in source.conn, and four
    // DOWNLISTs keep a stale nodeid after left_nodes (checked below).
    expect(junk).toBe(6 + 941 + 4);
  });

  it('udpu-full: group capture-demo; 5 PROCJOINs (reason 1), 5 PROCLEAVEs (LEAVE 2, and PROCDOWN 5 at shutdown)', () => {
    const names = new Set<string>();
    for (const m of fullCpg) {
      const msg = m.message;
      if ('group' in msg) names.add(text(msg.group));
      if (msg.type === 'joinlist') for (const e of msg.entries) names.add(text(e.group));
    }
    expect([...names]).toEqual(['capture-demo']);
    expect(ofType(fullCpg, 'procjoin').map((m) => [m.ring, m.sender, m.message.pid, m.message.reason])).toEqual([
      ['1.145', 3, 7422, 1],
      ['1.145', 2, 7421, 1],
      ['1.145', 1, 7427, 1],
      ['1.145', 1, 7432, 1],
      ['1.14e', 3, 7904, 1],
    ]);
    expect(ofType(fullCpg, 'procleave').map((m) => [m.ring, m.sender, m.message.pid, m.message.reason])).toEqual([
      ['1.145', 1, 7427, CpgReason.leave],
      ['1.145', 1, 7432, CpgReason.leave],
      ['1.145', 3, 7422, CpgReason.leave],
      ['1.14e', 3, 7904, CpgReason.leave],
      // corosync on node 2 stopped with the watcher attached (§3.12).
      ['1.14e', 2, 7421, CpgReason.procDown],
    ]);
  });

  it('udpu-full: the MCASTs of pids 7427, 7432 and 7904, the 4000-byte one whole, source.nodeid = sender', () => {
    const mcasts = ofType(fullCpg, 'mcast');
    expect(mcasts.map((m) => [m.sender, m.message.pid, m.message.payload.length, m.bytes.length])).toEqual([
      [1, 7427, 45, 229],
      [1, 7427, 45, 229],
      [1, 7427, 45, 229],
      [1, 7432, 4000, 4184],
      [3, 7904, 52, 236],
      [3, 7904, 52, 236],
    ]);
    expect(mcasts.map((m) => text(m.message.payload).replace(/\.+$/, ''))).toEqual([
      'COROSYNC-UDPU-TESTVECTOR hello #0 from node 1',
      'COROSYNC-UDPU-TESTVECTOR hello #1 from node 1',
      'COROSYNC-UDPU-TESTVECTOR hello #2 from node 1',
      'COROSYNC-UDPU-TESTVECTOR big #0 from node 1',
      'COROSYNC-UDPU-TESTVECTOR after-rejoin #0 from node 3',
      'COROSYNC-UDPU-TESTVECTOR after-rejoin #1 from node 3',
    ]);
    expect(text(mcasts[3]?.message.payload ?? new Uint8Array())).toBe('COROSYNC-UDPU-TESTVECTOR big #0 from node 1'.padEnd(4000, '.'));
    for (const m of mcasts) {
      expect(m.message.sourceNodeId).toBe(m.sender);
      expect(new DataView(m.bytes.buffer, m.bytes.byteOffset).getBigUint64(176, true)).not.toBe(0n);
    }
  });

  it('udpu-full: DOWNLISTs (1568 bytes) follow the timeline: starts, merges, kill -9 of node 3, SIGTERM of node 2 and node 3', () => {
    const downlists = ofType(fullCpg, 'downlist');
    for (const d of downlists) expect(d.bytes.length).toBe(1568);
    expect(downlists.map((d) => `${d.ring} n${d.sender} old=${d.message.oldMembers} left=[${d.message.leftNodes.join(',')}]`)).toEqual([
      '1.13d n1 old=0 left=[]', // node 1 alone
      '1.141 n2 old=0 left=[]', // node 2 started
      '1.141 n1 old=1 left=[]',
      '1.145 n3 old=0 left=[]', // node 3 started
      '1.145 n1 old=2 left=[]',
      '1.145 n2 old=2 left=[]',
      '1.149 n2 old=3 left=[3]', // kill -9 of node 3
      '1.149 n1 old=3 left=[3]',
      '3.14a n3 old=0 left=[]', // node 3 restarted, alone
      '1.14e n3 old=1 left=[]', // merge
      '1.14e n1 old=2 left=[]',
      '1.14e n2 old=2 left=[]',
      '1.152 n3 old=3 left=[2]', // SIGTERM of node 2
      '1.152 n1 old=3 left=[2]',
      '1.156 n1 old=2 left=[3]', // SIGTERM of node 3
    ]);
    // Stale entries after left_nodes: node 1 and node 2 still had 3 from ring 1.149.
    const stale = downlists.filter((d) => new DataView(d.bytes.buffer, d.bytes.byteOffset).getUint32(32, true) !== 0 && d.message.leftNodes.length === 0);
    expect(stale.map((d) => `${d.ring} n${d.sender}`)).toEqual(['1.14e n1', '1.14e n2']);
  });

  it('udpu-full: node 2 sends a 168-byte JOINLIST (k = 1, its watcher) in each sync it has a process in', () => {
    expect(ofType(fullCpg, 'joinlist').map((m) => [m.ring, m.sender, m.bytes.length, m.message.error, m.message.entries.map((e) => `${e.pid} ${text(e.group)}`)])).toEqual([
      ['1.149', 2, 168, 0, ['7421 capture-demo']],
      ['1.14e', 2, 168, 0, ['7421 capture-demo']],
    ]);
  });

  it('udpu-faults: 10 PROCJOINs all reason 1, 5 PROCLEAVEs reason 2, DOWNLISTs by the timeline, a 2-entry JOINLIST', () => {
    expect(ofType(faultsCpg, 'procjoin').map((m) => m.message.reason)).toEqual(new Array(10).fill(1));
    expect(ofType(faultsCpg, 'procleave').map((m) => m.message.reason)).toEqual(new Array(5).fill(2));
    expect(ofType(faultsCpg, 'downlist').map((d) => `${d.ring} n${d.sender} old=${d.message.oldMembers} left=[${d.message.leftNodes.join(',')}]`)).toEqual([
      '1.28 n1 old=0 left=[]', // three singletons at start
      '2.28 n2 old=0 left=[]',
      '3.28 n3 old=0 left=[]',
      '1.2c n3 old=1 left=[]', // ring formed
      '1.2c n1 old=1 left=[]',
      '1.2c n2 old=1 left=[]',
      '1.30 n1 old=3 left=[3]', // kill -9 of node 3
      '1.30 n2 old=3 left=[3]',
      '3.31 n3 old=0 left=[]', // node 3 restarted
      '1.35 n1 old=2 left=[]',
      '1.35 n2 old=2 left=[]',
      '1.35 n3 old=1 left=[]',
      '2.39 n3 old=3 left=[1]', // SIGTERM: node 1 left first
      '2.39 n2 old=3 left=[1]',
    ]);
    expect(ofType(faultsCpg, 'joinlist').map((m) => [m.ring, m.sender, m.bytes.length, m.message.entries.map((e) => e.pid)])).toEqual([
      ['1.30', 1, 168, [30477]],
      ['1.30', 2, 312, [29571, 30478]],
      ['1.35', 2, 168, [29571]],
      ['2.39', 2, 168, [29571]],
    ]);
    const sizes = new Map<string, number>();
    for (const m of ofType(faultsCpg, 'mcast')) sizes.set(`${m.message.payload.length}`, (sizes.get(`${m.message.payload.length}`) ?? 0) + 1);
    // cpgload tput (1024), kill-window text (1000), "text #k from node N" (46/47), after-rejoin (54).
    expect(Object.fromEntries(sizes)).toEqual({ '1024': 470, '1000': 401, '46': 20, '47': 40, '54': 10 });
  });
});

// ---------------------------------------------------------------------------------------
// Replay through CpgService

interface ReplayResult {
  /** What our service multicast, per ring. */
  readonly sent: Map<string, Uint8Array[]>;
  /** Events of the handle playing each local pid, in the watch-log format. */
  readonly events: Map<number, string[]>;
}

const reasonName: Record<number, string> = { 0: 'undef', 1: 'join', 2: 'leave', 3: 'nodedown', 4: 'nodeup', 5: 'procdown' };

function confchgLine(e: CpgConfchgEvent): string {
  const m = e.members.map((x) => `${x.nodeId}:${x.pid}:undef`).join(',');
  const l = e.left.map((x) => `${x.nodeId}:${x.pid}:${reasonName[x.reason] ?? x.reason}`).join(',');
  const j = e.joined.map((x) => `${x.nodeId}:${x.pid}:${reasonName[x.reason] ?? x.reason}`).join(',');
  return `CONFCHG n=${e.members.length} members=[${m}] left=[${l}] joined=[${j}]`;
}

/**
 * Plays one node: sync init when a ring it belongs to starts (transitional list = the
 * members coming from its previous ring), process when the cmap barrier round completes,
 * activate when the CPG round completes; every CPG message delivered; each local client
 * played by a handle that joins / mcasts / leaves / finalizes just before its message.
 */
function replay(rings: readonly RingTraffic[], node: number, restarts: Readonly<Record<string, readonly number[]>>): ReplayResult {
  const sent = new Map<string, Uint8Array[]>();
  const events = new Map<number, string[]>();
  let ring: RingTraffic | null = null;
  let syncing = false;
  const api: ServiceApi = {
    localNodeId: node,
    tickMs: 1,
    mcast: (message) => {
      const parts = message instanceof Uint8Array ? [message] : message;
      const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        b.set(p, at);
        at += p.length;
      }
      if (ring) sent.set(ring.key, [...(sent.get(ring.key) ?? []), b]);
      return 'queued';
    },
    members: () => [],
    ringId: () => ring?.ringId ?? { rep: 0, seq: 0n },
    isQuorate: () => true,
    isSyncing: () => syncing,
    now: () => 0,
    log: () => undefined,
  };
  let cpg = new CpgService(api);
  let handles = new Map<number, CpgHandle>();
  const ringOf = new Map<number, string>();

  const client = (pid: number): CpgHandle => {
    const existing = handles.get(pid);
    if (existing && !existing.finalized) return existing;
    const h = cpg.connect({ pid, initialTotemConf: true });
    const log = events.get(pid) ?? [];
    events.set(pid, log);
    h.onConfchg((e) => log.push(confchgLine(e)));
    h.onTotemConfchg((e) => log.push(`TOTEM ring=${e.ringId.rep}.${e.ringId.seq.toString(16)} n=${e.members.length} members=[${e.members.join(',')}]`));
    h.onDeliver((e) => log.push(`DELIVER from=${e.nodeId}:${e.pid} len=${e.payload.length} text="${text(e.payload.subarray(0, 64))}"`));
    handles.set(pid, h);
    return h;
  };

  for (const r of rings) {
    for (const n of restarts[r.key] ?? []) ringOf.delete(n);
    const members = [...new Set(r.messages.filter((m) => m.group === 'sync' && execId(m.payload) === 1).map((m) => m.sender))].sort((a, b) => a - b);
    if (members.includes(node)) {
      ring = r;
      if (restarts[r.key]?.includes(node)) {
        cpg = new CpgService(api);
        handles = new Map();
      }
      const prev = ringOf.get(node);
      const trans = prev === undefined ? [node] : members.filter((m) => ringOf.get(m) === prev);
      cpg.sync.init(trans, members, r.ringId);
      syncing = true;
      let barriers = 0;
      for (const m of r.messages) {
        if (m.group === 'sync') {
          if (execId(m.payload) !== 0) continue;
          barriers += 1;
          if (barriers === members.length) expect(cpg.sync.process()).toBe('done');
          if (barriers === 2 * members.length) {
            cpg.sync.activate();
            syncing = false;
          }
          continue;
        }
        if (m.payload.length < 16 || execId(m.payload) >>> 16 !== 2) continue;
        const fn = execId(m.payload) & 0xffff;
        const d = decodeCpgMessage(m.payload);
        if (m.sender === node && d.ok) {
          // The local client acts just before its message.
          const msg = d.value;
          const wasSyncing: boolean = syncing;
          syncing = false;
          if (msg.type === 'procjoin') expect(client(msg.pid).join(msg.group)).toBe('queued');
          if (msg.type === 'procleave' && handles.get(msg.pid)?.finalized === false) {
            if (msg.reason === CpgReason.leave) expect(handles.get(msg.pid)?.leave(msg.group)).toBe('queued');
            else handles.get(msg.pid)?.finalize();
          }
          if (msg.type === 'mcast' && handles.has(msg.pid)) expect(handles.get(msg.pid)?.mcast(msg.group, msg.payload)).toBe('queued');
          syncing = wasSyncing;
        }
        cpg.deliver(fn, m.sender, m.payload);
      }
    }
    for (const m of members) ringOf.set(m, r.key);
  }
  return { sent, events };
}

function watchLog(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/^\d+\.\d+ /, ''))
    .filter((line) => /^(CONFCHG|TOTEM|DELIVER) /.test(line));
}

describe('replaying the captures through CpgService', () => {
  // udpu-full: node 3 was killed in ring 1.145 and restarted into ring 3.14a.
  const fullRestarts = { '3.14a': [3] };

  it('udpu-full: each node sends exactly the CPG messages corosync sent (junk masked)', () => {
    for (const node of [1, 2, 3]) {
      const { sent } = replay(full, node, fullRestarts);
      for (const r of full) {
        const theirs = fullCpg.filter((m) => m.ring === r.key && m.sender === node).map((m) => maskJunk(m.bytes));
        expect([r.key, node, sent.get(r.key) ?? []]).toEqual([r.key, node, theirs]);
      }
    }
  });

  it('udpu-full: node 2\'s watcher gets exactly the events cpgload logged', () => {
    const { events } = replay(full, 2, fullRestarts);
    expect(events.get(7421)).toEqual(watchLog(path.join(fullDir, 'udpu-watch-node2.log')));
  });

  it('udpu-full: node 3\'s watcher gets the events cpgload logged, then its own leave (cpgload exited before dispatching it)', () => {
    const { events } = replay(full, 3, fullRestarts);
    const log = watchLog(path.join(fullDir, 'udpu-watch-node3.log'));
    const ours = events.get(7422) ?? [];
    expect(ours.slice(0, log.length)).toEqual(log);
    expect(ours.slice(log.length)).toEqual(['CONFCHG n=1 members=[2:7421:undef] left=[3:7422:leave] joined=[]']);
  });

  it('udpu-faults: each node\'s DOWNLISTs are what our sync step sends', () => {
    const restarts = { '3.31': [3] };
    for (const node of [1, 2, 3]) {
      const { sent } = replay(faults, node, restarts);
      for (const r of faults) {
        const ours = (sent.get(r.key) ?? []).filter((b) => (execId(b) & 0xffff) === CpgFn.downList);
        const theirs = faultsCpg.filter((m) => m.ring === r.key && m.sender === node && m.message.type === 'downlist').map((m) => maskJunk(m.bytes));
        expect([r.key, node, ours]).toEqual([r.key, node, theirs]);
      }
    }
  });
});
