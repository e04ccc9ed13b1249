// Goal: the totempg receiver (src/totem/pg/assembler.ts) delivers what corosync 3.1.7
// delivers (corosync-wire.md §5.3): packed messages, messages cut across packets, per
// sender; the two tables (§3.6 step 8, §7.3 step 6); dropping left nodes at a confchg;
// and the throw-away quirk, where a continuation mismatch loses more than the broken
// message. Limits: an oversized reassembly is dropped and counted, never a crash.
// Method: hand-built packets with chosen fragmented/continuation values, traced against
// the receiver algorithm of §5.3 step by step in the comments.

import { describe, expect, it } from '@jest/globals';
import { Assembler, AssemblyTable } from '../../../../src/totem/pg/assembler';
import { encodePgPacket } from '../../../../src/totem/pg/packet';
import { DecodeErrorCode } from '../../../../src/totem/wire/decode-error';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A packet with `fragmented`, `continuation` and the given (partial) messages. */
function pkt(fragmented: number, continuation: number, ...parts: string[]): Uint8Array {
  const bytes = parts.map(text);
  const data = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    data.set(b, at);
    at += b.length;
  }
  return encodePgPacket({ version: 0, type: 0, fragmented, continuation, msgLens: bytes.map((b) => b.length), data });
}

function deliver(a: Assembler, sender: number, packet: Uint8Array): string[] {
  const r = a.receive(sender, packet);
  if (!r.ok) throw new Error(`unexpected decode error ${r.error.message}`);
  return r.value.map((m) => {
    expect(m.sender).toBe(sender);
    return str(m.message);
  });
}

describe('Assembler: normal delivery', () => {
  it('delivers every packed message of an unfragmented packet, in order', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(0, 0, 'one', 'two', 'three'))).toEqual(['one', 'two', 'three']);
    expect(a.assemblyState(1)).toBeUndefined();
  });

  it('reassembles a message cut across packets, with complete messages around it', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(1, 0, 'A', 'B-part1|'))).toEqual(['A']);
    expect(a.assemblyState(1)).toMatchObject({ index: 8, lastFragNum: 1, throwAway: false });
    expect(deliver(a, 1, pkt(2, 1, 'B-part2|'))).toEqual([]);
    expect(deliver(a, 1, pkt(0, 2, 'B-part3', 'C'))).toEqual(['B-part1|B-part2|B-part3', 'C']);
    expect(a.counters()).toMatchObject({ packets: 3, messagesDelivered: 3, throwAways: 0 });
  });

  it('keeps one assembly per sender', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(1, 0, 'x1-'))).toEqual([]);
    expect(deliver(a, 2, pkt(1, 0, 'y1-'))).toEqual([]);
    expect(deliver(a, 2, pkt(0, 1, 'y2'))).toEqual(['y1-y2']);
    expect(deliver(a, 1, pkt(0, 1, 'x2'))).toEqual(['x1-x2']);
  });

  it('returns copies: later packets do not change delivered messages', () => {
    const a = new Assembler();
    const first = a.receive(1, pkt(0, 0, 'keep'));
    a.receive(1, pkt(0, 0, 'over'));
    expect(first.ok && str(first.value[0]!.message)).toBe('keep');
  });

  it('ignores packets corosync ignores, counting them and changing nothing', () => {
    const a = new Assembler();
    deliver(a, 1, pkt(1, 0, 'B1-'));
    const bad = pkt(0, 1, 'B2');
    const r = a.receive(1, bad.subarray(0, bad.length - 1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.badLength);
    expect(a.counters().decodeErrors).toBe(1);
    expect(deliver(a, 1, bad)).toEqual(['B1-B2']);
  });
});

describe('Assembler: the throw-away quirk of 3.1.7', () => {
  it('loses the whole packet when a first packet continues a message it never saw', () => {
    // A node that starts receiving mid-message: continuation 2 ≠ lastFragNum 0.
    const a = new Assembler();
    expect(deliver(a, 1, pkt(0, 2, 'tail', 'M1', 'M2'))).toEqual([]);
    expect(a.counters()).toMatchObject({ throwAways: 1, packetsThrownAway: 1 });
    // fragmented 0 released the assembly: the next packet starts fresh.
    expect(deliver(a, 1, pkt(0, 0, 'M3'))).toEqual(['M3']);
  });

  it('ends throw-away at fragmented 0 without delivering that packet\'s complete messages', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(2, 1, 'middle'))).toEqual([]); // mismatch: 1 ≠ 0
    expect(a.assemblyState(1)?.throwAway).toBe(true);
    // A careful receiver would deliver M1 and M2 here; corosync skips the tail and then
    // does not run its delivery loop at all.
    expect(deliver(a, 1, pkt(0, 2, 'tail', 'M1', 'M2'))).toEqual([]);
    expect(deliver(a, 1, pkt(0, 0, 'M3'))).toEqual(['M3']);
    expect(a.counters()).toMatchObject({ throwAways: 1, packetsThrownAway: 2, messagesDelivered: 1 });
  });

  it('stays in throw-away while fragmented is 2 or more', () => {
    const a = new Assembler();
    deliver(a, 1, pkt(2, 1, 'p2'));
    expect(deliver(a, 1, pkt(3, 2, 'p3'))).toEqual([]);
    expect(deliver(a, 1, pkt(4, 3, 'p4', 'M1', 'M2-start'))).toEqual([]);
    expect(a.assemblyState(1)?.throwAway).toBe(true);
  });

  it('ends throw-away at fragmented 1 but keeps lastFragNum, so the next piece mismatches again', () => {
    const a = new Assembler();
    deliver(a, 1, pkt(2, 1, 'old-middle')); // mismatch on a fresh assembly: lastFragNum stays 0
    expect(deliver(a, 1, pkt(1, 2, 'old-tail', 'M1', 'M2-a|'))).toEqual([]); // ends throw-away
    expect(a.assemblyState(1)).toMatchObject({ throwAway: false, lastFragNum: 0 });
    // M2 continues with continuation 1 ≠ 0: a second throw-away, and M2, M3 are lost too.
    expect(deliver(a, 1, pkt(0, 1, 'M2-b', 'M3'))).toEqual([]);
    expect(deliver(a, 1, pkt(0, 0, 'M4'))).toEqual(['M4']);
    expect(a.counters()).toMatchObject({ throwAways: 2, messagesDelivered: 1 });
  });

  it('can deliver a corrupted message, as corosync does, when lastFragNum happens to match', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(1, 0, 'B1'))).toEqual([]); // normal: lastFragNum 1, index 2
    // A mismatch (3 ≠ 1) in a packet cut at its end: corosync moves the wrong bytes
    // (the start of X, 3 bytes) to the buffer start.
    expect(deliver(a, 1, pkt(1, 3, 'XXXXX', 'Y1y'))).toEqual([]);
    expect(a.assemblyState(1)).toMatchObject({ index: 3, lastFragNum: 1, throwAway: true });
    // fragmented 1 with one block ends throw-away and counts that block twice.
    expect(deliver(a, 1, pkt(1, 1, 'Y2'))).toEqual([]);
    expect(a.assemblyState(1)).toMatchObject({ index: 3 + 2 + 2, lastFragNum: 1, throwAway: false });
    // continuation 1 matches the never-updated lastFragNum: message 0 is delivered from
    // the buffer start: 3 bytes of X, Y2, 2 bytes never written by this message, Z.
    const out = a.receive(1, pkt(0, 1, 'Z'));
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.value).toHaveLength(1);
    const m = out.value[0]!.message;
    expect(m.length).toBe(3 + 2 + 2 + 1);
    expect(str(m.subarray(0, 5))).toBe('XXXY2');
    expect(str(m.subarray(7))).toBe('Z');
  });
});

describe('Assembler: tables and configuration changes', () => {
  it('assembles sync-time traffic apart from a message cut across the ring change', () => {
    const a = new Assembler();
    expect(deliver(a, 1, pkt(1, 0, 'old-1|'))).toEqual([]);
    a.useTransitionalTable();
    expect(a.activeTable).toBe(AssemblyTable.transitional);
    expect(deliver(a, 1, pkt(1, 0, 'sync-1|'))).toEqual([]);
    expect(deliver(a, 1, pkt(0, 1, 'sync-2'))).toEqual(['sync-1|sync-2']);
    a.useNormalTable();
    expect(deliver(a, 1, pkt(0, 1, 'old-2'))).toEqual(['old-1|old-2']);
  });

  it('drops the unfinished messages of nodes that left, in both tables', () => {
    const a = new Assembler();
    deliver(a, 1, pkt(1, 0, 'n1-'));
    deliver(a, 2, pkt(1, 0, 'n2-'));
    a.useTransitionalTable();
    deliver(a, 1, pkt(1, 0, 't1-'));
    a.discardSenders([1, 7]);
    expect(a.counters().assembliesDiscarded).toBe(2);
    expect(a.assemblyState(1)).toBeUndefined();
    expect(deliver(a, 1, pkt(0, 1, 'rest'))).toEqual([]); // mismatch: the start is gone
    a.useNormalTable();
    expect(deliver(a, 1, pkt(0, 1, 'rest'))).toEqual([]);
    expect(deliver(a, 2, pkt(0, 1, 'end'))).toEqual(['n2-end']);
  });
});

describe('Assembler: limits', () => {
  it('drops a reassembly that reaches the bound, counts it and recovers at the next message', () => {
    const a = new Assembler({ bufferBytes: 4096 });
    const piece = 'x'.repeat(1000);
    deliver(a, 1, pkt(1, 0, piece));
    deliver(a, 1, pkt(2, 1, piece));
    deliver(a, 1, pkt(3, 2, piece));
    deliver(a, 1, pkt(4, 3, piece));
    expect(a.counters().overflows).toBe(0);
    // index 4000 + a 1010-byte packet reaches 4096, where corosync would assert.
    expect(deliver(a, 1, pkt(5, 4, piece))).toEqual([]);
    expect(a.counters().overflows).toBe(1);
    expect(a.assemblyState(1)?.throwAway).toBe(true);
    expect(deliver(a, 1, pkt(0, 5, piece))).toEqual([]);
    expect(deliver(a, 1, pkt(0, 0, 'next'))).toEqual(['next']);
  });

  it('keeps accepting a sender that never ends its message, within the bound', () => {
    const a = new Assembler({ bufferBytes: 8192 });
    const piece = 'y'.repeat(1400);
    for (let i = 0; i < 100; i += 1) deliver(a, 1, pkt(1, 1, piece));
    expect(a.counters().overflows).toBeGreaterThan(10);
    expect(a.assemblyState(1)!.index).toBeLessThan(8192);
    expect(a.assemblyState(1)!.bufferBytes).toBeLessThanOrEqual(8192);
  });

  it('survives the throw-away exit pushing index to the bound (double-counted block)', () => {
    // Found by the property test: a mismatch, then fragmented 1 with one 1024-byte block
    // adds that block twice, so index = 2048 with only 1024 bytes written.
    const a = new Assembler({ bufferBytes: 2048 });
    expect(deliver(a, 1, pkt(1, 2))).toEqual([]);
    expect(deliver(a, 1, pkt(1, 0, 'q'.repeat(1024)))).toEqual([]);
    expect(a.assemblyState(1)).toMatchObject({ index: 2048, throwAway: false, bufferBytes: 2048 });
    expect(deliver(a, 1, pkt(0, 0, 'r'))).toEqual([]); // overflow: dropped, then released
    expect(a.counters().overflows).toBe(1);
    expect(deliver(a, 1, pkt(0, 0, 's'))).toEqual(['s']);
  });

  it('refuses a packet larger than the bound itself', () => {
    const a = new Assembler({ bufferBytes: 2048 });
    const r = a.receive(1, pkt(0, 0, 'z'.repeat(2100)));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.tooLarge);
  });
});
