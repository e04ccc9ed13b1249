// Goal: the totempg receiver and sender (src/totem/pg) agree with real corosync 3.1.7
// traffic (corosync-wire.md §5): every MCAST payload of the udpu capture decodes as a
// totempg packet, reassembles into messages with a valid group header naming `a` or
// `sync`, the 4000-byte CPG test message comes out whole, and our fragmenter, given the
// same messages and the same token points, re-creates every packet byte for byte.
// Method: read udpu-full.pcap with src/cli/pcap-reader.ts, decode with
// src/totem/wire/codec.ts, keep the non-encapsulated MCASTs once per (ring id, seq) —
// the capture holds one copy per destination — ordered by seq within each ring and the
// rings in capture order, which is the order a member that saw every ring would deliver.

import { describe, expect, it } from '@jest/globals';
import * as path from 'node:path';
import { Assembler } from '../../src/totem/pg/assembler';
import { Fragmenter } from '../../src/totem/pg/fragmenter';
import { decodeGroupMessage, GROUP_A, GROUP_SYNC, groupNamesEqual, groupNameText } from '../../src/totem/pg/groups';
import { decodePgPacket } from '../../src/totem/pg/packet';
import { type Mcast, ringIdKey } from '../../src/totem/wire/messages';
import { mcastStream as capturedMcastStream, vectors } from './capture-messages';

const capture = path.join(vectors, 'corosync-3.1.7-udpu/udpu-full.pcap');
const faultsCapture = path.join(vectors, 'corosync-3.1.7-udpu-faults/udpu-faults.pcap');

/** The agreed-order MCAST stream of a capture, each message once; every copy carries the same payload. */
function mcastStream(file: string): Mcast[] {
  return capturedMcastStream(file, (kept, copy) => expect(copy.payload).toEqual(kept.payload));
}

interface Reassembled {
  sender: number;
  message: Uint8Array;
}

interface Reassembly {
  messages: Reassembled[];
  assembler: Assembler;
  /** The MCASTs at which an assembly entered throw-away. */
  throwAwayAt: Mcast[];
}

function reassemble(stream: readonly Mcast[]): Reassembly {
  const assembler = new Assembler();
  const messages: Reassembled[] = [];
  const throwAwayAt: Mcast[] = [];
  for (const m of stream) {
    const before = assembler.counters().throwAways;
    const r = assembler.receive(m.nodeId, m.payload);
    if (!r.ok) throw r.error;
    messages.push(...r.value);
    if (assembler.counters().throwAways !== before) throwAwayAt.push(m);
  }
  return { messages, assembler, throwAwayAt };
}

/** Checks that a message has one group, `a` or `sync`, with corosync's exact header bytes. */
function expectCorosyncGroupHeader(message: Uint8Array): 'a' | 'sync' {
  const g = decodeGroupMessage(message);
  if (!g.ok) throw g.error;
  expect(g.value.groups).toHaveLength(1);
  const name = g.value.groups[0]!;
  if (groupNamesEqual(name, GROUP_A)) {
    expect(Array.from(message.subarray(0, 5))).toEqual([1, 0, 1, 0, 0x61]);
    return 'a';
  }
  expect(groupNameText(name)).toBe('sync');
  expect(groupNamesEqual(name, GROUP_SYNC)).toBe(true);
  expect(Array.from(message.subarray(0, 8))).toEqual([1, 0, 4, 0, 0x73, 0x79, 0x6e, 0x63]);
  return 'sync';
}

/** Whether a reassembled message is a CPG MCAST (service 2, fn 3, §8.3) in group `a`. */
function isCpgMcast(groups: readonly Uint8Array[], payload: Uint8Array): boolean {
  return groupNamesEqual(groups[0]!, GROUP_A) && payload.length >= 184 && new DataView(payload.buffer, payload.byteOffset).getInt32(0, true) === 0x00020003;
}

/**
 * Feeds one sender's reassembled messages, in order, to a fresh Fragmenter until it has
 * produced as many packets as `original` holds. A token (flush) is given exactly when the
 * next original packet is a flush of what is buffered — token timing is the one input
 * the capture cannot give back. CPG MCASTs are submitted as corosync's CPG service hands
 * them to totempg (exec header, then data); everything else as one segment.
 */
function replay(original: readonly Uint8Array[], own: readonly Uint8Array[]): { produced: Uint8Array[]; submitted: number; pendingEntries: number } {
  const produced: Uint8Array[] = [];
  const fragmenter = new Fragmenter({
    capacity: () => 1000,
    emit: (p) => {
      produced.push(p);
      return 'queued';
    },
  });
  let submitted = 0;
  while (produced.length < original.length) {
    const target = decodePgPacket(original[produced.length]!);
    if (!target.ok) throw target.error;
    const t = target.value;
    const pending = fragmenter.pendingEntries;
    if (pending > 0 && t.fragmented === 0 && t.msgLens.length === pending && t.data.length === fragmenter.pendingBytes) {
      expect(fragmenter.flush()).toBe('sent');
      continue;
    }
    const message = own[submitted];
    if (message === undefined) break;
    submitted += 1;
    const g = decodeGroupMessage(message);
    if (!g.ok) throw g.error;
    const payload = g.value.payload;
    const segments = isCpgMcast(g.value.groups, payload) ? [payload.subarray(0, 184), payload.subarray(184)] : [payload];
    expect(fragmenter.submit(g.value.groups, segments)).toBe('queued');
  }
  return { produced, submitted, pendingEntries: fragmenter.pendingEntries };
}

const stream = mcastStream(capture);
const { messages, assembler } = reassemble(stream);

function cpgText(text: string, length = text.length): Uint8Array {
  return new TextEncoder().encode(text.padEnd(length, '.'));
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('totempg on the corosync 3.1.7 udpu capture', () => {
  it('has every MCAST once, as a well-formed totempg packet', () => {
    // 254 MCAST datagrams in the capture (README type table), two copies of each.
    expect(stream).toHaveLength(127);
    for (const m of stream) {
      const p = decodePgPacket(m.payload);
      expect(p.ok).toBe(true);
      if (p.ok) expect([p.value.version, p.value.type]).toEqual([0, 0]);
      expect(m.payload.length).toBeLessThanOrEqual(1410);
    }
  });

  it('reassembles every message without a throw-away, ending with no unfinished assembly', () => {
    expect(assembler.counters()).toMatchObject({ packets: 127, decodeErrors: 0, throwAways: 0, overflows: 0 });
    for (const sender of [1, 2, 3]) expect(assembler.assemblyState(sender)).toBeUndefined();
    expect(messages.length).toBeGreaterThan(127);
  });

  it('gives every message one group, `a` or `sync`, with corosync\'s exact header bytes', () => {
    const counts = { a: 0, sync: 0 };
    for (const { message } of messages) counts[expectCorosyncGroupHeader(message)] += 1;
    expect(counts.a).toBeGreaterThan(0);
    expect(counts.sync).toBeGreaterThan(0);
    expect(counts.a + counts.sync).toBe(messages.length);
  });

  it('finds the 4000-byte CPG test message whole: one 4189-byte message from node 1', () => {
    const big = cpgText('COROSYNC-UDPU-TESTVECTOR big #0 from node 1', 4000);
    const hits = messages.filter((m) => indexOf(m.message, big) >= 0);
    expect(hits).toHaveLength(1);
    const hit = hits[0]!;
    expect(hit.sender).toBe(1);
    // group header (5) + CPG MCAST exec header (184, §8.3) + payload.
    expect(hit.message.length).toBe(5 + 184 + 4000);
    expect(indexOf(hit.message, big)).toBe(5 + 184);
    const view = new DataView(hit.message.buffer, hit.message.byteOffset + 5);
    expect(view.getInt32(0, true)).toBe(0x00020003);
    expect(view.getInt32(8, true)).toBe(184 + 4000);
  });

  it('finds the short test messages, each exactly once', () => {
    const wanted = [
      ...[0, 1, 2].map((i) => [1, `COROSYNC-UDPU-TESTVECTOR hello #${i} from node 1`] as const),
      ...[0, 1].map((i) => [3, `COROSYNC-UDPU-TESTVECTOR after-rejoin #${i} from node 3`] as const),
    ];
    for (const [sender, text] of wanted) {
      const needle = cpgText(text);
      const hits = messages.filter((m) => indexOf(m.message, needle) >= 0);
      expect(hits.map((h) => [h.sender, h.message.length])).toEqual([[sender, 5 + 184 + needle.length]]);
    }
  });

  it('re-creates every packet of every sender byte for byte from the reassembled messages', () => {
    for (const sender of [1, 2, 3]) {
      const original = stream.filter((m) => m.nodeId === sender).map((m) => m.payload);
      const own = messages.filter((m) => m.sender === sender).map((m) => m.message);
      const { produced, submitted, pendingEntries } = replay(original, own);
      expect(produced).toEqual(original);
      expect(submitted).toBe(own.length);
      expect(pendingEntries).toBe(0);
    }
  });
});

describe('totempg on the corosync 3.1.7 udpu-faults capture (loss, kill -9, a cut-out middle)', () => {
  const faults = mcastStream(faultsCapture);
  const result = reassemble(faults);

  it('decodes every MCAST and gives every reassembled message a valid group header', () => {
    // 1800 MCAST datagrams: two copies each plus retransmissions; 2 are encapsulated.
    expect(faults).toHaveLength(890);
    expect(result.assembler.counters()).toMatchObject({ packets: 890, decodeErrors: 0, overflows: 0 });
    for (const { message } of result.messages) expectCorosyncGroupHeader(message);
    expect(result.messages).toHaveLength(1090);
  });

  it('throws away only where the capture itself is cut (ring 1.2c seqs 437..2735 are absent)', () => {
    // Node 1's seq 436 ends with a cut message (fragmented 1); its next packet in the
    // capture, seq 2737, starts with continuation 0: a mismatch, so that packet's
    // message is lost, as it would be on a corosync node that missed the same packets.
    expect(result.throwAwayAt.map((m) => [ringIdKey(m.ringId), m.seq, m.nodeId])).toEqual([['1.2c', 2737, 1]]);
  });

  it('re-creates node 1\'s packets before the cut byte for byte, a stream of cut 1024-byte CPG messages', () => {
    // cpgload tput: 1213-byte messages (5 + 184 + 1024), each cut across two packets,
    // e.g. seq 436 packs the end of one, a whole one and the start of a third.
    const cut = faults.findIndex((m) => ringIdKey(m.ringId) === '1.2c' && m.seq > 436);
    const before = faults.slice(0, cut);
    const original = before.filter((m) => m.nodeId === 1).map((m) => m.payload);
    const own = reassemble(before).messages.filter((m) => m.sender === 1).map((m) => m.message);
    // The last packet before the cut ends in a message whose tail the capture lacks, so
    // that packet cannot be re-created; every one before it can.
    original.pop();
    const { produced } = replay(original, own);
    expect(original.length).toBeGreaterThan(300);
    expect(produced).toEqual(original);
  });
});
