// Goal: the Asterisk config dialect parser (src/config/asterisk-conf.ts) and the
// res_corosync.conf loader (src/asterisk/bridge-config.ts) never throw on any text; every
// position they report — diagnostics, section names, keys, values — lies inside the file
// it names (1-based line within the file, col at most one past the line's end); and the
// loader returns settings exactly when it reports no error.
// Method: fast-check over arbitrary strings, over line soups built from the characters
// the grammar cares about ([ ] ( ) ! + , = > ; - \ # " blanks newlines) plus real lines,
// and over small sets of files that #include each other in random ways.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { loadBridgeConfig } from '../../src/asterisk/bridge-config';
import { type AsteriskConfParseResult, parseAsteriskConf } from '../../src/config/asterisk-conf';

const TOP = '/etc/asterisk/res_corosync.conf';

/** Each position names a line of its file and a column within (or just past) that line. */
function inside(files: Record<string, string>, file: string, line: number, col: number): boolean {
  const text = files[file];
  if (text === undefined) return false;
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  const raw = lines[line - 1];
  return Number.isInteger(line) && Number.isInteger(col) && raw !== undefined && col >= 1 && col <= raw.length + 1;
}

function allPositionsInside(files: Record<string, string>, r: AsteriskConfParseResult): boolean {
  const points: [string, number, number][] = r.diagnostics.map((d) => [d.file, d.line, d.col]);
  for (const s of r.sections) {
    points.push([s.file, s.position.line, s.position.col]);
    for (const v of s.variables) {
      points.push([v.file, v.position.line, v.position.col]);
      points.push([v.file, v.valuePosition.line, v.valuePosition.col]);
    }
  }
  return points.every(([file, line, col]) => inside(files, file, line, col));
}

const grammarChar = fc.constantFrom('[', ']', '(', ')', '!', '+', ',', '=', '>', ';', '-', '\\', '#', '"', '<', ' ', '\t', '\r', 'a', 'g', '1', ':', 'é', '\uFEFF');
const line = fc.oneof(
  fc.string({ unit: grammarChar, maxLength: 24 }),
  fc.constantFrom(
    '[general]',
    '[ami]',
    '[t](!)',
    '[x](t)',
    '[general](+)',
    'publish_event = mwi',
    'subscribe_event => device_state',
    'secret = x',
    ';-- open',
    'close --;',
    ';---',
    '#include b.conf',
    '#tryinclude c.conf',
    '#exec /bin/true',
    'key = a\\;b ; c',
    '',
  ),
);
const soup = fc.array(line, { maxLength: 40 }).map((lines) => lines.join('\n'));

function parseOne(text: string): { files: Record<string, string>; r: AsteriskConfParseResult } {
  const files: Record<string, string> = { [TOP]: text };
  return { files, r: parseAsteriskConf(TOP, (p) => files[p] ?? null) };
}

describe('asterisk-conf parser properties', () => {
  it('never throws on arbitrary text; positions are inside the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const { files, r } = parseOne(text);
        expect(allPositionsInside(files, r)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on grammar soups; positions are inside the text', () => {
    fc.assert(
      fc.property(soup, (text) => {
        const { files, r } = parseOne(text);
        expect(allPositionsInside(files, r)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('never throws on files that include each other; positions are inside their own file', () => {
    const names = ['a.conf', 'b.conf', 'c.conf'];
    const includeLine = fc.constantFrom(...names.flatMap((n) => [`#include ${n}`, `#tryinclude "${n}"`, `#include ../asterisk/${n}`]));
    const fileText = fc.array(fc.oneof(line, includeLine), { maxLength: 12 }).map((lines) => lines.join('\n'));
    fc.assert(
      fc.property(fileText, fc.dictionary(fc.constantFrom(...names), fileText), (top, others) => {
        const files: Record<string, string> = { [TOP]: top };
        for (const [name, text] of Object.entries(others)) files[`/etc/asterisk/${name}`] = text;
        const r = parseAsteriskConf(TOP, (p) => files[p] ?? null, { filesMax: 30 });
        expect(allPositionsInside(files, r)).toBe(true);
        expect(r.files[0]).toBe(TOP);
      }),
      { numRuns: 200 },
    );
  });

  it('the loader never throws and returns settings iff there is no error', () => {
    fc.assert(
      fc.property(fc.oneof(soup, fc.string({ maxLength: 200 })), (text) => {
        const files: Record<string, string> = { [TOP]: text };
        const r = loadBridgeConfig(TOP, (p) => files[p] ?? null);
        const hasError = r.diagnostics.some((d) => d.severity === 'error');
        expect(r.settings === null).toBe(hasError);
        expect(r.diagnostics.every((d) => inside(files, d.file, d.line, d.col))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
