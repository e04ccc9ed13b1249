// Goal: the totemsrp codec (src/totem/wire/codec.ts, corosync-wire.md §1–§2) round-trips
// every well-formed message of every type, and decoding untrusted bytes never throws —
// it returns a message or a DecodeError.
// Method: fast-check generators for the six message types over their full field
// ranges; random byte strings, random bodies behind a valid header, and random
// mutations/truncations/extensions of valid encodings.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeMessage, encodedLength, encodeMessage } from '../../src/totem/wire/codec';
import { DecodeError } from '../../src/totem/wire/decode-error';
import type {
  CommitMembEntry,
  CommitToken,
  Join,
  Mcast,
  MergeDetect,
  OrfToken,
  RingId,
  TokenHoldCancel,
  TotemMessage,
} from '../../src/totem/wire/messages';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const ringId: fc.Arbitrary<RingId> = fc.record({ rep: u32, seq: u64 });
const nodeIds = (max: number): fc.Arbitrary<number[]> => fc.array(u32, { maxLength: max });

const orfToken: fc.Arbitrary<OrfToken> = fc.record({
  type: fc.constant('orf-token' as const),
  nodeId: u32,
  targetNodeId: u32,
  seq: u32,
  tokenSeq: u32,
  aru: u32,
  aruAddr: u32,
  ringId,
  backlog: u32,
  fcc: u32,
  retransFlg: i32,
  rtrList: fc.array(fc.record({ ringId, seq: u32 }), { maxLength: 30 }),
});

const mcast = (payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Mcast> =>
  fc.record({
    type: fc.constant('mcast' as const),
    nodeId: u32,
    targetNodeId: u32,
    encapsulated: fc.constantFrom(1 as const, 2 as const),
    systemFrom: u32,
    seq: u32,
    thisSeqno: i32,
    ringId,
    nodeIdField: u32,
    guarantee: i32,
    payload,
  });

const mergeDetect: fc.Arbitrary<MergeDetect> = fc.record({
  type: fc.constant('merge-detect' as const),
  nodeId: u32,
  targetNodeId: u32,
  systemFrom: u32,
  ringId,
});

const join: fc.Arbitrary<Join> = fc.record({
  type: fc.constant('join' as const),
  nodeId: u32,
  targetNodeId: u32,
  systemFrom: u32,
  ringSeq: u64,
  procList: nodeIds(40),
  failedList: nodeIds(40),
});

const membEntry: fc.Arbitrary<CommitMembEntry> = fc.record({ ringId, aru: u32, highDelivered: u32, receivedFlg: u32 });

const commitToken: fc.Arbitrary<CommitToken> = fc
  .array(fc.tuple(u32, membEntry), { maxLength: 20 })
  .chain((members) =>
    fc.record({
      type: fc.constant('commit-token' as const),
      nodeId: u32,
      targetNodeId: u32,
      tokenSeq: u32,
      ringId,
      retransFlg: u32,
      membIndex: fc.integer({ min: 0, max: members.length }),
      addr: fc.constant(members.map(([a]) => a)),
      membList: fc.constant(members.map(([, e]) => e)),
    }),
  );

const tokenHoldCancel: fc.Arbitrary<TokenHoldCancel> = fc.record({
  type: fc.constant('token-hold-cancel' as const),
  nodeId: u32,
  targetNodeId: u32,
  ringId,
});

const anyMessage: fc.Arbitrary<TotemMessage> = fc.oneof(
  orfToken,
  mcast(fc.uint8Array({ maxLength: 1500 })),
  // An encapsulated MCAST whose payload is itself an encoded MCAST, as in recovery.
  mcast(mcast(fc.uint8Array({ maxLength: 64 })).map(encodeMessage)),
  mergeDetect,
  join,
  commitToken,
  tokenHoldCancel,
);

/** Decoding must return a Result whatever the input; a thrown exception fails the test. */
function decodeNeverThrows(bytes: Uint8Array): void {
  const r = decodeMessage(bytes);
  if (!r.ok) {
    expect(r.error).toBeInstanceOf(DecodeError);
    return;
  }
  // Anything accepted is a well-formed message: it re-encodes to the accepted bytes
  // (up to surplus trailing bytes, and the unread `encapsulated` byte of non-MCAST types).
  const again = encodeMessage(r.value);
  expect(again.byteLength).toBeLessThanOrEqual(bytes.byteLength);
  const expected = bytes.slice(0, again.byteLength);
  if (r.value.type !== 'mcast') expected[4] = 0;
  expect(again).toEqual(expected);
}

describe('codec properties', () => {
  it('encode → decode → encode is the identity for every message type', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const bytes = encodeMessage(m);
        expect(bytes.byteLength).toBe(encodedLength(m));
        const r = decodeMessage(bytes);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value).toEqual(m);
        expect(encodeMessage(r.value)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), decodeNeverThrows), { numRuns: 3000 });
  });

  it('random bodies behind a valid header never throw', () => {
    const header = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 }));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 600 }), ([type, encapsulated], body) => {
        const bytes = new Uint8Array(13 + body.byteLength);
        bytes.set([0x70, 0xc0, 3, type, encapsulated], 0);
        bytes.set(body, 13);
        decodeNeverThrows(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated, truncated and extended valid encodings never throw', () => {
    const mutation = fc.record({
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      // Small counts (0..40) in the count fields are where interesting lengths happen.
      countEdits: fc.array(fc.tuple(fc.constantFrom(17, 21, 33, 37, 53), fc.integer({ min: -2, max: 40 })), {
        maxLength: 2,
      }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(anyMessage, mutation, (m, { edits, countEdits, cut, extra }) => {
        const enc = encodeMessage(m);
        const bytes = new Uint8Array(enc.byteLength + extra.byteLength);
        bytes.set(enc);
        bytes.set(extra, enc.byteLength);
        const view = new DataView(bytes.buffer);
        for (const [off, v] of countEdits) if (off + 4 <= bytes.byteLength) view.setInt32(off, v, true);
        for (const [pos, v] of edits) bytes[pos % bytes.byteLength] = v;
        decodeNeverThrows(cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.byteLength + 1)));
      }),
      { numRuns: 3000 },
    );
  });
});
