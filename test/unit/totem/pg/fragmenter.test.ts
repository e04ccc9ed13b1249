// Goal: the totempg sender (src/totem/pg/fragmenter.ts) produces the packets corosync
// 3.1.7 produced in the captures of corosync-wire.md §5.2: packing until the token,
// the cut with "2 bytes to spare", the restart of the cut number per message, the
// immediate send of a large message's last piece, and the 1410-byte bound.
// Method: rebuild each captured situation (same message sizes, same segments as
// corosync's CPG service hands to totempg) and compare sizes, lengths and flags; then
// the API contract: all-or-nothing submit, flush on a full queue, size limits.

import { describe, expect, it } from '@jest/globals';
import { AssertionError } from '../../../../src/base/assert';
import { Fragmenter, type FragmenterOptions } from '../../../../src/totem/pg/fragmenter';
import { GROUP_A, GROUP_SYNC, groupName } from '../../../../src/totem/pg/groups';
import { decodePgPacket, type PgPacket } from '../../../../src/totem/pg/packet';

/** A fragmenter whose emitted packets are collected; capacity is adjustable. */
function harness(options: Partial<FragmenterOptions> = {}) {
  const packets: Uint8Array[] = [];
  const state = { capacity: 1000 };
  const fragmenter = new Fragmenter({
    capacity: () => state.capacity,
    emit: (p) => {
      packets.push(p);
      return 'queued';
    },
    ...options,
  });
  return { fragmenter, packets, state };
}

function decoded(bytes: Uint8Array): PgPacket {
  const r = decodePgPacket(bytes);
  if (!r.ok) throw new Error(`bad packet: ${r.error.message}`);
  return r.value;
}

function flags(bytes: Uint8Array): [number, number] {
  const p = decoded(bytes);
  return [p.fragmented, p.continuation];
}

function filled(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 31 + i) & 0xff);
}

/** A CPG MCAST as cpg.c hands it over: the 184-byte exec header, then the data (§8.3). */
function cpgSegments(totalWithGroupHeader: number, seed = 1): Uint8Array[] {
  const data = totalWithGroupHeader - 5 - 184;
  return [filled(184, seed), filled(data, seed + 1)];
}

describe('Fragmenter: the captured packing cut', () => {
  // 5 buffered CPG messages and the start of a 6th: msg_count 6,
  // 248+248+240+244+240+170 = 1390 = 1402 − 2·6, packet 1410 bytes, fragmented 1;
  // next packet continuation 1, lengths 66 (= 236 − 170) and 244.
  const sizes = [248, 248, 240, 244, 240];

  it('with CPG segments (exec header, data)', () => {
    const { fragmenter, packets } = harness();
    sizes.forEach((s, i) => expect(fragmenter.submit([GROUP_A], cpgSegments(s, i))).toBe('queued'));
    expect(packets).toHaveLength(0);
    expect(fragmenter.pendingEntries).toBe(5);
    expect(fragmenter.submit([GROUP_A], cpgSegments(236, 9))).toBe('queued');
    expect(packets).toHaveLength(1);
    const first = decoded(packets[0]!);
    expect(packets[0]!.length).toBe(1410);
    expect(first.msgLens).toEqual([248, 248, 240, 244, 240, 170]);
    expect([first.fragmented, first.continuation]).toEqual([1, 0]);

    expect(fragmenter.submit([GROUP_A], cpgSegments(244, 10))).toBe('queued');
    expect(packets).toHaveLength(1);
    expect(fragmenter.flush()).toBe('sent');
    const second = decoded(packets[1]!);
    expect(second.msgLens).toEqual([66, 244]);
    expect([second.fragmented, second.continuation]).toEqual([0, 1]);
    expect(fragmenter.flush()).toBe('empty');
  });

  it('with each payload as one segment (same cut here)', () => {
    const { fragmenter, packets } = harness();
    for (const s of sizes) fragmenter.submit([GROUP_A], new Uint8Array(s - 5));
    fragmenter.submit([GROUP_A], new Uint8Array(236 - 5));
    expect(decoded(packets[0]!).msgLens).toEqual([248, 248, 240, 244, 240, 170]);
    expect(packets[0]!.length).toBe(1410);
  });
});

describe('Fragmenter: large messages', () => {
  it('sends the 4189-byte CPG message as (1,0), (2,1), (0,2), all three at once', () => {
    // 4000-byte CPG payload + 184-byte exec header + 5-byte group header = 4189.
    // UDP payloads 1455 + 1455 + 1444 in the capture = 45-byte MCAST header + these.
    const { fragmenter, packets } = harness();
    expect(fragmenter.submit([GROUP_A], cpgSegments(4189))).toBe('queued');
    expect(packets.map(flags)).toEqual([
      [1, 0],
      [2, 1],
      [0, 2],
    ]);
    expect(packets.map((p) => p.length + 45)).toEqual([1455, 1455, 1444]);
    expect(packets.map((p) => decoded(p).msgLens)).toEqual([[1400], [1400], [1389]]);
    expect(fragmenter.pendingEntries).toBe(0);
  });

  it('sends a DOWNLIST (1568 bytes) as frag=1,cont=0 then frag=0,cont=1', () => {
    const { fragmenter, packets } = harness();
    fragmenter.submit([GROUP_A], filled(1568, 3));
    expect(packets.map(flags)).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(packets.map((p) => p.length)).toEqual([1410, 8 + 2 + 173]);
  });

  it('restarts the cut number at 1 for every message, even after fragmenting others', () => {
    const { fragmenter, packets } = harness();
    fragmenter.submit([GROUP_A], cpgSegments(4189, 1));
    fragmenter.submit([GROUP_SYNC], filled(2000, 2));
    fragmenter.submit([GROUP_A], cpgSegments(4189, 3));
    expect(packets.map(flags)).toEqual([
      [1, 0],
      [2, 1],
      [0, 2],
      [1, 0],
      [0, 1],
      [1, 0],
      [2, 1],
      [0, 2],
    ]);
    // The 2008-byte message's 608-byte tail did not wait for the token: the fit test
    // looks at its whole 2000-byte segment.
    expect(decoded(packets[4]!).msgLens).toEqual([608]);
  });

  it('skips 0 when the cut number wraps past 255', () => {
    const { fragmenter, packets } = harness();
    expect(fragmenter.submit([GROUP_A], new Uint8Array(1024 * 1024 - 5))).toBe('queued');
    const fs = packets.map(flags);
    expect(fs[254]).toEqual([255, 254]);
    expect(fs[255]).toEqual([1, 255]);
    expect(fs.slice(0, -1).every(([f]) => f !== 0)).toBe(true);
    for (let i = 1; i < fs.length; i += 1) expect(fs[i]![1]).toBe(fs[i - 1]![0]);
    expect(fs[fs.length - 1]![0]).toBe(0);
    expect(packets.every((p) => p.length <= 1410)).toBe(true);
  });
});

describe('Fragmenter: the 2-bytes-to-spare rule with an empty buffer', () => {
  // Buffered when len + buffered < room − 2 with room = 1402 − 2 = 1400.
  it.each([
    [1397, 0, 1407],
    [1398, 1, 1408],
    [1400, 1, 1410],
  ])('a %i-byte message: %i packet(s) at submit, %i bytes', (total, atSubmit, bytes) => {
    const { fragmenter, packets } = harness();
    fragmenter.submit([GROUP_A], new Uint8Array(total - 5));
    expect(packets).toHaveLength(atSubmit);
    fragmenter.flush();
    expect(packets).toHaveLength(1);
    expect(packets[0]!.length).toBe(bytes);
    expect(flags(packets[0]!)).toEqual([0, 0]);
  });

  it('splits a 1401-byte message in two', () => {
    const { fragmenter, packets } = harness();
    fragmenter.submit([GROUP_A], new Uint8Array(1396));
    fragmenter.flush();
    expect(packets.map(flags)).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });
});

describe('Fragmenter: segments matter, as iovecs do in corosync', () => {
  it('cuts at a segment boundary when that segment just fits', () => {
    // After a buffered 1208-byte message room is 1398; the 184-byte exec header ends at
    // 1397 (≥ room − 2), so corosync sends the packet right after it (1409 bytes). As one
    // segment the same bytes fill the packet to 1410.
    const run = (payload: Uint8Array | Uint8Array[]) => {
      const { fragmenter, packets } = harness();
      fragmenter.submit([GROUP_A], new Uint8Array(1203));
      fragmenter.submit([GROUP_A], payload);
      return packets.map((p) => [p.length, ...decoded(p).msgLens]);
    };
    const segments = [filled(184, 1), filled(100, 2)];
    expect(run(segments)).toEqual([[1409, 1208, 189]]);
    expect(run(Uint8Array.of(...segments[0]!, ...segments[1]!))).toEqual([[1410, 1208, 190]]);
  });

  it('drops empty segments as corosync drops empty iovecs', () => {
    const a = harness();
    const b = harness();
    a.fragmenter.submit([GROUP_A], [filled(184, 1), new Uint8Array(0), filled(3000, 2)]);
    b.fragmenter.submit([GROUP_A], [filled(184, 1), filled(3000, 2)]);
    expect(a.packets).toEqual(b.packets);
  });
});

describe('Fragmenter: contract', () => {
  it('keeps every packet within a smaller net_mtu', () => {
    const { fragmenter, packets } = harness({ netMtu: 200 });
    for (let i = 0; i < 40; i += 1) fragmenter.submit([groupName(`g${i % 3}`)], new Uint8Array((i * 37) % 500));
    fragmenter.flush();
    expect(packets.length).toBeGreaterThan(40);
    expect(packets.every((p) => p.length <= 200 && decodePgPacket(p).ok)).toBe(true);
  });

  it('refuses a message whose packets the queue cannot take, changing nothing', () => {
    const { fragmenter, packets, state } = harness();
    fragmenter.submit([GROUP_A], new Uint8Array(100));
    // 1104 + 1400 + 1400 + 96 bytes of data after the buffered 105 bytes.
    expect(fragmenter.packetsNeeded([GROUP_A], cpgSegments(4189))).toBe(4);
    state.capacity = 3;
    expect(fragmenter.submit([GROUP_A], cpgSegments(4189))).toBe('full');
    expect(packets).toHaveLength(0);
    expect(fragmenter.pendingEntries).toBe(1);
    expect(fragmenter.pendingBytes).toBe(105);
    state.capacity = 4;
    expect(fragmenter.submit([GROUP_A], cpgSegments(4189))).toBe('queued');
    expect(packets).toHaveLength(4);
    expect(decoded(packets[0]!).msgLens).toEqual([105, 189 + 1104]);
    expect(fragmenter.counters()).toMatchObject({ messagesAccepted: 2, messagesRefusedFull: 1, packetsCut: 4 });
  });

  it('buffers a small message through a full queue; flush waits for a free slot', () => {
    const { fragmenter, packets, state } = harness();
    state.capacity = 0;
    expect(fragmenter.submit([GROUP_A], new Uint8Array(10))).toBe('queued');
    expect(fragmenter.flush()).toBe('full');
    expect(packets).toHaveLength(0);
    state.capacity = 1;
    expect(fragmenter.flush()).toBe('sent');
    expect(decoded(packets[0]!).msgLens).toEqual([15]);
  });

  it('keeps the buffer when emit refuses the flushed packet', () => {
    let refuse = true;
    const packets: Uint8Array[] = [];
    const fragmenter = new Fragmenter({
      capacity: () => 10,
      emit: (p) => {
        if (refuse) return 'full';
        packets.push(p);
        return 'queued';
      },
    });
    fragmenter.submit([GROUP_A], new Uint8Array(10));
    expect(fragmenter.flush()).toBe('full');
    refuse = false;
    expect(fragmenter.flush()).toBe('sent');
    expect(packets).toHaveLength(1);
  });

  it('asserts when emit refuses a packet that capacity() promised room for', () => {
    const fragmenter = new Fragmenter({ capacity: () => 10, emit: () => 'full' });
    expect(() => fragmenter.submit([GROUP_A], new Uint8Array(3000))).toThrow(AssertionError);
  });

  it('refuses messages over the size limit with a typed result', () => {
    const { fragmenter, packets } = harness({ messageBytesMax: 2000 });
    expect(fragmenter.submit([GROUP_A], new Uint8Array(1995))).toBe('queued');
    expect(fragmenter.submit([GROUP_A], new Uint8Array(1996))).toBe('too-large');
    expect(fragmenter.counters().messagesRefusedTooLarge).toBe(1);
    expect(packets).toHaveLength(2);
    const big = harness();
    expect(big.fragmenter.submit([GROUP_A], new Uint8Array(1024 * 1024 - 4))).toBe('too-large');
  });

  it('asserts on programmer errors: no groups, too many segments, bad options', () => {
    const { fragmenter } = harness();
    expect(() => fragmenter.submit([], new Uint8Array(1))).toThrow(AssertionError);
    expect(() => fragmenter.submit([GROUP_A], Array.from({ length: 33 }, () => new Uint8Array(1)))).toThrow(AssertionError);
    expect(() => harness({ netMtu: 10 })).toThrow(AssertionError);
    expect(() => harness({ messageBytesMax: 2 * 1024 * 1024 })).toThrow(AssertionError);
  });
});
