// Goal: the ast_event codec (src/asterisk/core/ast-event-codec.ts, res-corosync.md §1.2)
// round-trips every valid event of every kind, and decoding untrusted CPG payloads never
// throws: it returns an event or an AstEventDecodeError with one of the stable codes.
// Method: fast-check generators for the five event kinds over their full field ranges
// (any Unicode text without NUL, any u32 count, any EID); random byte strings, random
// bodies behind a valid header, and random mutations, truncations and extensions of
// valid encodings. A mutated payload that still decodes must re-encode to an event that
// decodes to the same value.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  AstEventDecodeError,
  AstEventDecodeErrorCode,
  decodeAstEvent,
  describeAstEvent,
  encodeAstEvent,
} from '../../src/asterisk/core/ast-event-codec';
import { AstEventType, eidFromBytes, type AstEvent, type DeviceState, type PresenceState } from '../../src/asterisk/core/events';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const eid = fc.uint8Array({ minLength: 6, maxLength: 6 }).map(eidFromBytes);
/** Any well-formed Unicode text without NUL, short enough to keep events small. */
const text = (minLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength: 40 }).filter((s) => !s.includes('\0') && s.length >= minLength);
const name = text(1);

const deviceState: fc.Arbitrary<AstEvent> = fc.record({
  kind: fc.constant('device-state' as const),
  aggregate: fc.boolean(),
  device: name,
  state: fc.integer({ min: 0, max: 8 }).map((n) => n as DeviceState),
  cachable: fc.boolean(),
  eid,
});
const mwi: fc.Arbitrary<AstEvent> = fc.record({
  kind: fc.constant('mwi' as const),
  mailbox: name,
  context: name,
  newMessages: u32,
  oldMessages: u32,
  eid,
});
const presence: fc.Arbitrary<AstEvent> = fc.record({
  kind: fc.constant('presence-state' as const),
  provider: name,
  state: fc.integer({ min: -1, max: 6 }).map((n) => n as PresenceState | -1),
  subtype: text(0),
  message: text(0),
  eid,
});
const ping: fc.Arbitrary<AstEvent> = fc.record({ kind: fc.constant('ping' as const), eid });
const discovery: fc.Arbitrary<AstEvent> = fc.record({
  kind: fc.constant('cluster-discovery' as const),
  nodeId: u32,
  localAddr: name,
  eid,
});
const anyEvent = fc.oneof(deviceState, mwi, presence, ping, discovery);

const codes = new Set<string>(Object.values(AstEventDecodeErrorCode));

/** Decodes, asserting the contract: no throw, and an error is a typed one with a known code. */
function decodeChecked(bytes: Uint8Array): AstEvent | null {
  const result = decodeAstEvent(bytes);
  if (result.ok) return result.value;
  expect(result.error).toBeInstanceOf(AstEventDecodeError);
  expect(codes.has(result.error.code)).toBe(true);
  return null;
}

/** A decoded event is stable: encoding it and decoding again gives the same value. */
function expectStable(value: AstEvent): void {
  expect(decodeAstEvent(encodeAstEvent(value))).toEqual({ ok: true, value });
}

describe('ast_event codec properties', () => {
  it('round-trips every valid event, with the header length equal to the byte count', () => {
    fc.assert(
      fc.property(anyEvent, (event) => {
        const bytes = encodeAstEvent(event);
        expect(((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)).toBe(bytes.length);
        expect(decodeAstEvent(bytes)).toEqual({ ok: true, value: event });
        expect(encodeAstEvent(event)).toEqual(bytes);
        expect(describeAstEvent(event)).not.toMatch(/[\n\r\u2028\u2029]/);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const value = decodeChecked(bytes);
        if (value !== null) expectStable(value);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on random bodies behind a valid header of a known type', () => {
    const types = Object.values(AstEventType);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 96 }), (type, body) => {
        const length = 4 + body.length;
        const value = decodeChecked(new Uint8Array([type >> 8, type & 0xff, length >> 8, length & 0xff, ...body]));
        if (value !== null) expectStable(value);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on mutated, truncated or extended valid events', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('extend' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
    );
    fc.assert(
      fc.property(anyEvent, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (event, mutations, fixLength) => {
        let bytes = encodeAstEvent(event);
        for (const m of mutations) {
          if (m.op === 'set' && bytes.length > 0) {
            bytes = bytes.slice();
            bytes[m.at % bytes.length] = m.byte;
          } else if (m.op === 'cut') {
            bytes = bytes.subarray(0, m.at % (bytes.length + 1));
          } else if (m.op === 'extend') {
            bytes = new Uint8Array([...bytes, ...m.tail]);
          }
        }
        // Half the time, make the header agree with the new size so the IE walk is reached.
        if (fixLength && bytes.length >= 4 && bytes.length <= 0xffff) {
          bytes = bytes.slice();
          bytes[2] = bytes.length >> 8;
          bytes[3] = bytes.length & 0xff;
        }
        const value = decodeChecked(bytes);
        if (value !== null) expectStable(value);
      }),
      { numRuns: 1000 },
    );
  });
});
