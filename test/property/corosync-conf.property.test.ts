// Goal: the corosync.conf parser and the config loader (src/config/corosync-conf.ts,
// src/config/load.ts) never throw on any text — they return diagnostics with positions
// inside the text — and printing a parsed document is stable: parse(print(doc)) has the
// same names, values and nesting as doc, and print is a fixpoint after one round.
// Method: fast-check over arbitrary strings, over line soups built from the characters
// that matter to the grammar ({ } : # blanks newlines), and over fixture files with
// random lines deleted, duplicated or replaced.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ConfNode, parseCorosyncConf, printCorosyncConf } from '../../src/config/corosync-conf';
import type { Diagnostic } from '../../src/config/diagnostics';
import { loadCarillonConfig } from '../../src/config/load';

const fixtures = path.resolve(__dirname, '../../../shared/fixtures/configs');
const fixtureTexts = fs
  .readdirSync(fixtures)
  .filter((f) => f.endsWith('.conf') && !f.startsWith('res_corosync'))
  .map((f) => fs.readFileSync(path.join(fixtures, f), 'utf8'));

function shape(nodes: readonly ConfNode[]): unknown[] {
  return nodes.map((n) => (n.kind === 'key' ? [n.name, n.value] : { [n.name]: shape(n.children) }));
}

function positionsInside(text: string, diagnostics: readonly Diagnostic[]): boolean {
  const lines = text.split('\n').length;
  return diagnostics.every((d) => Number.isInteger(d.line) && d.line >= 1 && d.line <= lines && Number.isInteger(d.col) && d.col >= 1);
}

/** Lines made of the characters the grammar cares about, plus some real keys. */
const grammarChar = fc.constantFrom('a', 'b', 'x', '1', '.', '{', '}', ':', '#', ' ', '\t', '=', 'é');
const line = fc.oneof(
  fc.string({ unit: grammarChar, maxLength: 16 }),
  fc.constantFrom('totem {', 'nodelist {', 'node {', 'quorum {', '}', '\t}', 'token: 3000', 'ring0_addr: 10.0.0.1', 'nodeid: 1', '# c', ''),
);
const soup = fc.array(line, { maxLength: 40 }).map((lines) => lines.join('\n'));

const mutatedFixture = fc
  .tuple(fc.constantFrom(...fixtureTexts), fc.array(fc.tuple(fc.nat(), fc.constantFrom('delete', 'duplicate', 'replace')), { maxLength: 4 }), line)
  .map(([text, edits, replacement]) => {
    const lines = text.split('\n');
    for (const [at, edit] of edits) {
      const i = at % Math.max(1, lines.length);
      if (edit === 'delete') lines.splice(i, 1);
      else if (edit === 'duplicate') lines.splice(i, 0, lines[i] ?? '');
      else lines[i] = replacement;
    }
    return lines.join('\n');
  });

describe('corosync.conf parser and loader properties', () => {
  it('never throw on arbitrary text and keep diagnostic positions inside it', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), soup, mutatedFixture), (text) => {
        const parsed = parseCorosyncConf(text, 'x.conf');
        const loaded = loadCarillonConfig(text, 'x.conf');
        expect(positionsInside(text.replace(/^\uFEFF/, ''), parsed.diagnostics)).toBe(true);
        expect(positionsInside(text.replace(/^\uFEFF/, ''), loaded.diagnostics)).toBe(true);
        expect(loaded.config === null).toBe(loaded.diagnostics.some((d) => d.severity === 'error'));
      }),
      { numRuns: 400 },
    );
  });

  it('print ∘ parse is stable (no lone CR: a value cannot keep a trailing CR through LF printing)', () => {
    fc.assert(
      fc.property(fc.oneof(soup, mutatedFixture), (text) => {
        const first = parseCorosyncConf(text, 'x.conf').document;
        const printed = printCorosyncConf(first);
        const again = parseCorosyncConf(printed, 'x.conf').document;
        expect(shape(again.children)).toEqual(shape(first.children));
        expect(printCorosyncConf(again)).toBe(printed);
      }),
      { numRuns: 400 },
    );
  });
});
