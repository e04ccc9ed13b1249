// Goal: the AMI framing (src/asterisk/ami/ami-parser.ts, res-corosync.md §2.1) never
// throws on untrusted bytes, never holds more than its limits, gives the same result
// however the stream is chunked, and reads back exactly what formatAmiAction wrote.
// Method: fast-check byte strings biased towards the bytes that matter to the framing
// (CR, LF, colon, space), split at arbitrary points, fed to parsers with small limits.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { AmiFormatError, AmiParser, type AmiParserItem, formatAmiAction } from '../../src/asterisk/ami/ami-parser';

const limits = { lineBytesMax: 40, messageBytesMax: 200, headersMax: 6 } as const;

/** Arbitrary bytes, biased towards the framing characters (CR, LF, colon, space). */
const framingByte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x3a, 0x20) },
  { weight: 3, arbitrary: fc.integer({ min: 0x41, max: 0x5a }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const ascii = (text: string): number[] => [...text].map((char) => char.charCodeAt(0) & 0xff);
const eol: fc.Arbitrary<number[]> = fc.constantFrom([0x0d, 0x0a], [0x0a]);
const lineContent = (maxLength: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 0, max: 255 }).filter((byte) => byte !== 0x0a), { maxLength });
/** One line-shaped token: a header, an empty line, an overlong line, a colon-less line or noise. */
const token: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z]{1,10}$/), lineContent(30), eol).map(([name, value, end]) => [...ascii(`${name}: `), ...value, ...end]) },
  { weight: 3, arbitrary: eol },
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z]{1,10}$/), fc.integer({ min: 40, max: 120 }), eol).map(([name, length, end]) => [...ascii(`${name}: `), ...new Array<number>(length).fill(0x78), ...end]) },
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[a-z ]{0,20}$/), eol).map(([text, end]) => [...ascii(text), ...end]) },
  { weight: 1, arbitrary: fc.array(framingByte, { maxLength: 20 }) },
);
const streamBytes = fc.oneof(
  fc.array(token, { maxLength: 150, size: 'large' }).map((tokens) => Uint8Array.from(tokens.flat())),
  fc.array(framingByte, { maxLength: 2000 }).map((bytes) => Uint8Array.from(bytes)),
);

/** Cut points into a stream of `length` bytes. */
function chunksOf(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  return chunks;
}

function plain(items: readonly AmiParserItem[]): unknown[] {
  return items.map((item) => (item.kind === 'message' ? { kind: 'message', headers: item.message.headers } : item));
}

describe('AmiParser on arbitrary bytes', () => {
  it('never throws, respects its limits and emits only bounded messages', () => {
    fc.assert(
      fc.property(streamBytes, fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), (bytes, cuts, expectBanner) => {
        const parser = new AmiParser({ ...limits, expectBanner });
        for (const chunk of chunksOf(bytes, cuts)) {
          const items = parser.push(chunk);
          expect(parser.bufferedLineBytes()).toBeLessThanOrEqual(limits.lineBytesMax + 1);
          expect(parser.bufferedHeaders()).toBeLessThanOrEqual(limits.headersMax);
          for (const item of items) {
            if (item.kind === 'message') {
              expect(item.message.headers.length).toBeGreaterThan(0);
              expect(item.message.headers.length).toBeLessThanOrEqual(limits.headersMax);
              for (const [name, value] of item.message.headers) {
                expect(name.length).toBeGreaterThan(0);
                // A lone CR inside a line is content (as for Asterisk); an LF never is.
                expect(name + value).not.toMatch(/\n/);
                expect(name).not.toContain(':');
                // Every decoded character comes from at least one byte of a bounded line.
                expect(name.length + value.length).toBeLessThanOrEqual(limits.lineBytesMax);
              }
            }
            if (item.kind === 'banner') expect(item.line.length).toBeLessThanOrEqual(limits.lineBytesMax);
          }
        }
        const stats = parser.stats();
        expect(stats.bytesReceived).toBe(bytes.length);
        expect(stats.oversizeMessages).toBeLessThanOrEqual(stats.bytesReceived);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same items and counters whatever the chunking', () => {
    fc.assert(
      fc.property(streamBytes, fc.array(fc.nat(), { maxLength: 60 }), fc.boolean(), (bytes, cuts, expectBanner) => {
        const whole = new AmiParser({ ...limits, expectBanner });
        const expected = plain(whole.push(bytes));
        const chunked = new AmiParser({ ...limits, expectBanner });
        const got = chunksOf(bytes, cuts).flatMap((chunk) => plain(chunked.push(chunk)));
        expect(got).toEqual(expected);
        expect(chunked.stats()).toEqual(whole.stats());
      }),
      { numRuns: 300 },
    );
  });
});

const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_()-]{0,15}$/).filter((name) => !['action', 'actionid'].includes(name.toLowerCase()));
const headerValue = fc.string({ maxLength: 60, unit: 'grapheme' });

describe('formatAmiAction and AmiParser together', () => {
  it('what formatAmiAction writes parses back to the same headers, or it refuses with a typed error', () => {
    fc.assert(
      fc.property(
        headerName,
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
        fc.stringMatching(/^[!-~]{1,20}$/),
        fc.array(fc.nat(), { maxLength: 10 }),
        (action, fields, actionId, cuts) => {
          let text: string;
          try {
            text = formatAmiAction(action, fields, actionId);
          } catch (e) {
            if (!(e instanceof AmiFormatError)) throw e;
            // The only reasons to refuse these inputs: a CR, LF or NUL in a value, or a
            // line longer than Asterisk reads.
            if (e.code === 'AMI_LINE_TOO_LONG') {
              expect(fields.some(([name, value]) => Buffer.byteLength(`${name}: ${value}\r\n`) > 1024)).toBe(true);
            } else {
              expect(e.code).toBe('AMI_HEADER_INJECTION');
              expect(fields.some(([, value]) => /[\r\n\0]/.test(value))).toBe(true);
            }
            return;
          }
          const bytes = new TextEncoder().encode(text);
          const parser = new AmiParser({ expectBanner: false });
          const items = chunksOf(bytes, cuts).flatMap((chunk) => parser.push(chunk));
          expect(items).toHaveLength(1);
          const [item] = items;
          if (item?.kind !== 'message') throw new Error('expected a message');
          // The parser takes exactly one space after the colon; the value keeps any more.
          expect(item.message.headers).toEqual([['Action', action], ['ActionID', actionId], ...fields]);
          expect(parser.stats().malformedLines).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never lets a value start a second header or message (injection guard)', () => {
    fc.assert(
      fc.property(headerValue, headerValue, (before, after) => {
        const value = `${before}\r\nAction: Logoff\r\n\r\n${after}`;
        expect(() => formatAmiAction('Setvar', [['Value', value]], 'id')).toThrow(AmiFormatError);
      }),
      { numRuns: 100 },
    );
  });
});
