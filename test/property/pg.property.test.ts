// Goal: totempg sender and receiver (src/totem/pg, corosync-wire.md §5) are inverse:
// any sequence of messages (0..5000-byte payloads, random group names, whole or in
// segments) from several senders, submitted in any interleaving with tokens (flushes)
// at any points and a send queue that is sometimes full, comes out of the assembler
// exactly as accepted: same messages, same groups, same per-sender order. Every packet
// fits net_mtu and decodes; packetsNeeded() predicts submit() exactly; and no input —
// random bytes, random well-formed packets, a damaged packet stream — makes a decoder
// or the assembler throw.
// Method: fast-check schedules drive one Fragmenter per sender into one ordered packet
// stream (the agreed order totemsrp would deliver) and one Assembler reads it.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Assembler } from '../../src/totem/pg/assembler';
import { Fragmenter } from '../../src/totem/pg/fragmenter';
import { decodeGroupMessage, groupName, groupNameText } from '../../src/totem/pg/groups';
import { decodePgPacket, encodePgPacket } from '../../src/totem/pg/packet';
import { DecodeError } from '../../src/totem/wire/decode-error';

interface MessageSpec {
  groups: string[];
  size: number;
  /** Cut points (fractions) splitting the payload into segments. */
  cuts: number[];
}

type Action =
  | { kind: 'submit'; sender: number; message: MessageSpec }
  | { kind: 'token'; sender: number }
  | { kind: 'capacity'; value: number };

const SENDERS = 3;

const messageSpec: fc.Arbitrary<MessageSpec> = fc.record({
  groups: fc.array(fc.string({ unit: fc.constantFrom('a', 's', 'y', 'n', 'c', '-'), maxLength: 8 }), { minLength: 1, maxLength: 3 }),
  size: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1380, max: 1420 }), fc.integer({ min: 0, max: 300 })),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
});

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('submit' as const), sender: fc.nat(SENDERS - 1), message: messageSpec }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('token' as const), sender: fc.nat(SENDERS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('capacity' as const), value: fc.oneof(fc.constant(1000), fc.nat(4)) }) },
);

const netMtu = fc.oneof(fc.constant(1410), fc.integer({ min: 64, max: 1500 }));

/** Payload bytes derived from a message id, so each message is distinct and cheap to build. */
function payloadOf(id: number, size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (id * 131 + i * 7 + (i >> 8)) & 0xff);
}

function segmentsOf(payload: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => Math.floor(c * payload.length)).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, payload.length]) {
    out.push(payload.subarray(from, p));
    from = p;
  }
  return out;
}

interface Accepted {
  groups: string[];
  payload: Uint8Array;
}

describe('totempg fragmenter → assembler', () => {
  it('reassembles exactly the accepted messages, per sender in order', () => {
    fc.assert(
      fc.property(netMtu, fc.array(action, { maxLength: 40 }), (mtu, actions) => {
        const stream: { sender: number; packet: Uint8Array }[] = [];
        let capacity = 1000;
        const fragmenters = Array.from(
          { length: SENDERS },
          (_, sender) =>
            new Fragmenter({
              netMtu: mtu,
              capacity: () => capacity,
              emit: (packet) => {
                stream.push({ sender, packet });
                return 'queued';
              },
            }),
        );
        const accepted: Accepted[][] = Array.from({ length: SENDERS }, () => []);
        actions.forEach((act, id) => {
          if (act.kind === 'capacity') {
            capacity = act.value;
            return;
          }
          const f = fragmenters[act.sender]!;
          if (act.kind === 'token') {
            const before = stream.length;
            const result = f.flush();
            expect(stream.length - before).toBe(result === 'sent' ? 1 : 0);
            return;
          }
          const groups = act.message.groups.map(groupName);
          const payload = payloadOf(id, act.message.size);
          const segments = segmentsOf(payload, act.message.cuts);
          const needed = f.packetsNeeded(groups, segments);
          const before = stream.length;
          const result = f.submit(groups, segments);
          if (result === 'queued') {
            expect(stream.length - before).toBe(needed);
            accepted[act.sender]!.push({ groups: act.message.groups, payload });
          } else {
            expect(result).toBe('full');
            expect(needed).toBeGreaterThan(capacity);
            expect(stream.length).toBe(before);
          }
        });
        capacity = 1000;
        for (const f of fragmenters) f.flush();

        const assembler = new Assembler();
        const delivered: Accepted[][] = Array.from({ length: SENDERS }, () => []);
        for (const { sender, packet } of stream) {
          expect(packet.length).toBeLessThanOrEqual(mtu);
          const r = assembler.receive(sender, packet);
          expect(r.ok).toBe(true);
          if (!r.ok) continue;
          for (const m of r.value) {
            const g = decodeGroupMessage(m.message);
            expect(g.ok).toBe(true);
            if (g.ok) delivered[sender]!.push({ groups: g.value.groups.map(groupNameText), payload: g.value.payload.slice() });
          }
        }
        expect(delivered).toEqual(accepted);
        expect(assembler.counters()).toMatchObject({ throwAways: 0, overflows: 0, decodeErrors: 0 });
        for (let s = 0; s < SENDERS; s += 1) expect(assembler.assemblyState(s)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });
});

describe('totempg decoders and assembler on untrusted input', () => {
  const bytes = fc.uint8Array({ maxLength: 300 });

  it('decodePgPacket returns a packet or a DecodeError, and re-encodes what it accepts', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const r = decodePgPacket(b);
        if (r.ok) expect(encodePgPacket(r.value)).toEqual(b);
        else expect(r.error).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 500 },
    );
  });

  it('decodeGroupMessage returns groups within the message or a DecodeError', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const r = decodeGroupMessage(b);
        if (!r.ok) {
          expect(r.error).toBeInstanceOf(DecodeError);
          return;
        }
        const header = 2 + 2 * r.value.groups.length + r.value.groups.reduce((n, g) => n + g.length, 0);
        expect(header + r.value.payload.length).toBe(b.length);
      }),
      { numRuns: 500 },
    );
  });

  // Well-formed packets with arbitrary flags and lengths reach every branch of §5.3.
  const structuredPacket = fc
    .record({
      fragmented: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 255 })),
      continuation: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 255 })),
      lens: fc.array(fc.integer({ min: 0, max: 1400 }), { maxLength: 4 }),
    })
    .map(({ fragmented, continuation, lens }) =>
      encodePgPacket({ version: 0, type: 0, fragmented, continuation, msgLens: lens, data: new Uint8Array(lens.reduce((n, l) => n + l, 0)).fill(0x5a) }),
    );

  const step = fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('packet' as const), sender: fc.nat(2), bytes: fc.oneof({ weight: 3, arbitrary: structuredPacket }, { weight: 1, arbitrary: bytes }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('table' as const), transitional: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('confchg' as const), left: fc.array(fc.nat(2), { maxLength: 2 }) }) },
  );

  it('the assembler never throws, stays within its bound and counts what it delivers', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer({ min: 2048, max: 8192 }), (steps, bufferBytes) => {
        const a = new Assembler({ bufferBytes });
        let delivered = 0;
        for (const s of steps) {
          if (s.kind === 'table') {
            if (s.transitional) a.useTransitionalTable();
            else a.useNormalTable();
          } else if (s.kind === 'confchg') {
            a.discardSenders(s.left);
          } else {
            const r = a.receive(s.sender, s.bytes);
            if (!r.ok) {
              expect(r.error).toBeInstanceOf(DecodeError);
              continue;
            }
            for (const m of r.value) {
              expect(m.sender).toBe(s.sender);
              expect(m.message.length).toBeLessThan(bufferBytes);
              delivered += 1;
            }
            const st = a.assemblyState(s.sender);
            if (st) expect(st.bufferBytes).toBeLessThanOrEqual(bufferBytes);
          }
        }
        expect(a.counters().messagesDelivered).toBe(delivered);
      }),
      { numRuns: 300 },
    );
  });

  it('a damaged packet stream (dropped, repeated, swapped packets) never makes the assembler throw', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('drop', 'repeat', 'swap') }), { maxLength: 4 }),
        (sizes, damage) => {
          const stream: Uint8Array[] = [];
          const f = new Fragmenter({
            capacity: () => 1000,
            emit: (p) => {
              stream.push(p);
              return 'queued';
            },
          });
          sizes.forEach((size, i) => {
            f.submit([groupName('a')], payloadOf(i, size));
            if (i % 3 === 2) f.flush();
          });
          f.flush();
          for (const d of damage) {
            const at = d.at % stream.length;
            if (d.op === 'drop' && stream.length > 1) stream.splice(at, 1);
            else if (d.op === 'repeat') stream.splice(at, 0, stream[at]!);
            else if (d.op === 'swap' && at + 1 < stream.length) [stream[at], stream[at + 1]] = [stream[at + 1]!, stream[at]!];
          }
          const a = new Assembler();
          for (const p of stream) expect(a.receive(1, p).ok).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
