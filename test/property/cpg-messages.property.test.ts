// Goal: the CPG exec message codec (src/services/cpg/cpg-messages.ts, corosync-wire.md
// §8) round-trips every well-formed message (decode(encode(m)) = m and encode(decode(b))
// = b), ignores junk in pads, name fill and source.conn, and never throws on any input:
// random bytes, random bytes behind a valid CPG header, and valid messages with one
// byte changed or their tail cut all decode to a value or a DecodeError.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CPG_NAME_MAX, CPG_PROCESSOR_COUNT_MAX, decodeCpgMessage, encodeCpgMessage, type CpgMessage } from '../../src/services/cpg/cpg-messages';
import { DecodeError } from '../../src/totem/wire/decode-error';

const u32 = fc.nat({ max: 0xffffffff });
const groupName = fc.uint8Array({ minLength: 0, maxLength: CPG_NAME_MAX });
const payload = fc.uint8Array({ maxLength: 3000 });

const sendable: fc.Arbitrary<Exclude<CpgMessage, { type: 'downlist-old' }>> = fc.oneof(
  fc.record({ type: fc.constant('procjoin' as const), group: groupName, pid: u32, reason: u32 }),
  fc.record({ type: fc.constant('procleave' as const), group: groupName, pid: u32, reason: u32 }),
  fc.record({ type: fc.constant('mcast' as const), group: groupName, pid: u32, sourceNodeId: u32, payload }),
  payload.chain((p) =>
    fc.record({
      type: fc.constant('partial-mcast' as const),
      group: groupName,
      pid: u32,
      msgLen: fc.integer({ min: p.length, max: 0xffffffff }),
      partType: fc.constantFrom(1 as const, 2 as const, 3 as const),
      sourceNodeId: u32,
      payload: fc.constant(p),
    }),
  ),
  fc.record({ type: fc.constant('downlist' as const), oldMembers: u32, leftNodes: fc.array(u32, { maxLength: CPG_PROCESSOR_COUNT_MAX }) }),
  fc.record({
    type: fc.constant('joinlist' as const),
    error: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    entries: fc.array(fc.record({ pid: u32, group: groupName }), { maxLength: 20 }),
  }),
);

function neverThrows(bytes: Uint8Array): void {
  const r = decodeCpgMessage(bytes);
  if (!r.ok) expect(r.error).toBeInstanceOf(DecodeError);
}

describe('CPG message codec properties', () => {
  it('decode(encode(m)) = m and encode(decode(b)) = b', () => {
    fc.assert(
      fc.property(sendable, (m) => {
        const b = encodeCpgMessage(m);
        const d = decodeCpgMessage(b);
        if (!d.ok) throw d.error;
        expect(d.value).toEqual(m);
        if (d.value.type === 'downlist-old') throw new Error('unexpected');
        expect(encodeCpgMessage(d.value)).toEqual(b);
      }),
      { numRuns: 400 },
    );
  });

  it('ignores junk in pads, after the name and in source.conn', () => {
    fc.assert(
      fc.property(sendable, fc.integer({ min: 1, max: 255 }), (m, junk) => {
        const b = encodeCpgMessage(m);
        const dirty = b.slice();
        const fill = (from: number, to: number) => dirty.fill(junk, from, to);
        fill(4, 8);
        fill(12, 16);
        const nameAt = (at: number, len: number) => {
          fill(at + 4, at + 8);
          fill(at + 8 + len, at + 136);
        };
        switch (m.type) {
          case 'procjoin':
          case 'procleave':
            nameAt(16, m.group.length);
            fill(156, 160);
            fill(164, 168);
            break;
          case 'mcast':
            nameAt(16, m.group.length);
            fill(156, 160);
            fill(164, 168);
            fill(172, 184);
            break;
          case 'partial-mcast':
            nameAt(16, m.group.length);
            for (const at of [156, 164, 172, 180]) fill(at, at + 4);
            fill(188, 200);
            break;
          case 'downlist':
            fill(20, 24);
            fill(28, 32);
            fill(32 + 4 * m.leftNodes.length, 1568);
            break;
          case 'joinlist':
            fill(20, 24);
            m.entries.forEach((e, i) => {
              const at = 24 + 144 * i;
              fill(at + 4, at + 8);
              nameAt(at + 8, e.group.length);
            });
            break;
        }
        const d = decodeCpgMessage(dirty);
        if (!d.ok) throw d.error;
        expect(d.value).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), neverThrows), { numRuns: 1000 });
  });

  it('never throws on random bytes behind a CPG header whose size matches', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ minLength: 16, maxLength: 2000 }), (fn, bytes) => {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        view.setInt32(0, (2 << 16) | fn, true);
        view.setInt32(8, bytes.length, true);
        neverThrows(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on a valid message with a byte changed or its tail cut', () => {
    fc.assert(
      fc.property(sendable, fc.nat(), fc.nat({ max: 255 }), fc.nat(), (m, at, value, cut) => {
        const b = encodeCpgMessage(m);
        const changed = b.slice();
        changed[at % changed.length] = value;
        neverThrows(changed);
        neverThrows(b.subarray(0, cut % (b.length + 1)));
      }),
      { numRuns: 500 },
    );
  });
});
