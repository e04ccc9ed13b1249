// Goal: the corosync.conf parser (src/config/corosync-conf.ts) accepts exactly the
// syntax of corosync 3.1.7's coroparse (sections, `key: value` split at the first ':',
// whole-line '#' comments only, CRLF, 510-byte lines, cmap name characters), keeps
// 1-based positions for every section, key and value, keeps repeated sections in
// order, and reports every syntax error as a positioned diagnostic — never throws —
// naming the section whose '}' is really missing.
// Method: small inline texts for each rule; the shared fixture files for the
// unclosed-brace case and for print → parse stability.

import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ConfDocument, type ConfKey, type ConfNode, type ConfSection, parseCorosyncConf, printCorosyncConf } from '../../../src/config/corosync-conf';
import { formatDiagnostic } from '../../../src/config/diagnostics';

const fixtures = path.resolve(__dirname, '../../../../shared/fixtures/configs');
const fixture = (name: string): string => fs.readFileSync(path.join(fixtures, name), 'utf8');

function section(nodes: readonly ConfNode[], name: string, index = 0): ConfSection {
  const found = nodes.filter((n): n is ConfSection => n.kind === 'section' && n.name === name)[index];
  if (found === undefined) throw new Error(`no section ${name}[${index}]`);
  return found;
}

function key(nodes: readonly ConfNode[], name: string): ConfKey {
  const found = nodes.find((n): n is ConfKey => n.kind === 'key' && n.name === name);
  if (found === undefined) throw new Error(`no key ${name}`);
  return found;
}

/** Names, values and nesting only (positions differ after printing). */
function shape(nodes: readonly ConfNode[]): unknown[] {
  return nodes.map((n) => (n.kind === 'key' ? [n.name, n.value] : { [n.name]: shape(n.children) }));
}

function errorsAt(text: string): string[] {
  return parseCorosyncConf(text, 'f.conf').diagnostics.map((d) => `${d.line}:${d.col} ${d.severity} ${d.code}`);
}

describe('parseCorosyncConf: structure and positions', () => {
  it('records line and column of sections, keys and values (tabs count as one column)', () => {
    const { document, diagnostics } = parseCorosyncConf('totem {\n\tversion: 2\n\ttoken:   3000\n}\n', 'a.conf');
    expect(diagnostics).toEqual([]);
    const totem = section(document.children, 'totem');
    expect([totem.line, totem.col, totem.closeLine]).toEqual([1, 1, 4]);
    expect(key(totem.children, 'version')).toEqual({ kind: 'key', name: 'version', value: '2', line: 2, col: 2, valueCol: 11 });
    expect(key(totem.children, 'token')).toMatchObject({ value: '3000', line: 3, col: 2, valueCol: 11 });
  });

  it('splits at the first colon and trims blanks, so values keep spaces and colons', () => {
    const { document } = parseCorosyncConf('a:   fe80::1%eth0  \nb: x y: z\t\nc:\n  d :e\n', 'a.conf');
    expect(shape(document.children)).toEqual([['a', 'fe80::1%eth0'], ['b', 'x y: z'], ['c', ''], ['d', 'e']]);
    expect(key(document.children, 'c').valueCol).toBe(3);
  });

  it('takes `name: {` as section name (coroparse drops trailing blanks and colons)', () => {
    const { document, diagnostics } = parseCorosyncConf('totem: {\n}\nquorum{\n}\n', 'a.conf');
    expect(diagnostics).toEqual([]);
    expect(shape(document.children)).toEqual([{ totem: [] }, { quorum: [] }]);
  });

  it('skips blank lines and whole-line comments anywhere, indented or not', () => {
    const text = '# top\n\ntotem {\n   # indented\n\t#tab\n\tversion: 2\n\n}\n#end';
    const { document, diagnostics } = parseCorosyncConf(text, 'a.conf');
    expect(diagnostics).toEqual([]);
    expect(shape(document.children)).toEqual([{ totem: [['version', '2']] }]);
  });

  it('has no trailing comments: the text after # belongs to the value, as in corosync', () => {
    const { document } = parseCorosyncConf('token: 3000 # ms\n', 'a.conf');
    expect(key(document.children, 'token').value).toBe('3000 # ms');
  });

  it('tolerates CRLF line ends', () => {
    const { document, diagnostics } = parseCorosyncConf('totem {\r\n\tversion: 2\r\n}\r\n', 'a.conf');
    expect(diagnostics).toEqual([]);
    expect(shape(document.children)).toEqual([{ totem: [['version', '2']] }]);
  });

  it('keeps repeated sections (nodes) in order', () => {
    const text = 'nodelist {\n node {\n  nodeid: 1\n }\n node {\n  nodeid: 2\n }\n}\n';
    const { document } = parseCorosyncConf(text, 'a.conf');
    const list = section(document.children, 'nodelist');
    expect([0, 1].map((i) => key(section(list.children, 'node', i).children, 'nodeid').value)).toEqual(['1', '2']);
    expect(section(list.children, 'node', 1).line).toBe(5);
  });

  it('parses every shared fixture without syntax errors except the broken brace one', () => {
    for (const name of fs.readdirSync(fixtures).filter((f) => f.endsWith('.conf') && !f.startsWith('res_corosync'))) {
      const syntaxErrors = parseCorosyncConf(fixture(name), name).diagnostics.filter((d) => d.code === 'CONFIG_SYNTAX');
      expect([name, syntaxErrors.length]).toEqual([name, name === 'broken-unclosed-brace.conf' ? 1 : 0]);
    }
  });
});

describe('parseCorosyncConf: errors (all of them, positioned, never thrown)', () => {
  it('names the unclosed `interface {` of the fixture, not the end of the file', () => {
    const result = parseCorosyncConf(fixture('broken-unclosed-brace.conf'), 'broken-unclosed-brace.conf');
    expect(result.diagnostics).toHaveLength(1);
    const [d] = result.diagnostics;
    expect(d).toMatchObject({ severity: 'error', code: 'CONFIG_SYNTAX', line: 4, col: 2 });
    expect(d?.message).toContain("'interface'");
    expect(d?.hint).toContain('line 7');
    // Recovery reads line 7 as the end of totem, so nodelist is top level again.
    expect(result.document.children.map((n) => n.name)).toEqual(['totem', 'nodelist']);
  });

  it('reports a missing final brace at the opening of the section left open', () => {
    expect(errorsAt('totem {\n\tversion: 2\n}\nnodelist {\n\tnode {\n\t\tnodeid: 1\n\t}\n')).toEqual(['4:1 error CONFIG_SYNTAX']);
  });

  it('reports each of several open sections when nothing tells which brace is missing', () => {
    expect(errorsAt('a {\nb {\nc: 1\n')).toEqual(['1:1 error CONFIG_SYNTAX', '2:1 error CONFIG_SYNTAX']);
  });

  it('accepts odd but balanced indentation without complaint (recovery only when braces are missing)', () => {
    expect(errorsAt('totem {\n        interface {\n        mcastport: 5405\n}\n}\n')).toEqual([]);
  });

  it('reports a stray closing brace where it stands', () => {
    expect(errorsAt('totem {\n}\n  }\n')).toEqual(['3:3 error CONFIG_SYNTAX']);
  });

  it('reports a line that is neither key, section nor brace, with a hint for `key = value`', () => {
    const { diagnostics } = parseCorosyncConf('totem {\n\ttoken = 3000\n\tjunk\n}\n', 'a.conf');
    expect(diagnostics.map((d) => [d.line, d.col])).toEqual([
      [2, 2],
      [3, 2],
    ]);
    expect(diagnostics[0]?.hint).toContain("'key: value'");
    expect(diagnostics[1]?.hint).toBeUndefined();
  });

  it('reports characters after `{` and around `}` (one item per line)', () => {
    expect(errorsAt('node { ring0_addr: 10.0.0.1\n}\n')).toEqual(['1:8 error CONFIG_SYNTAX']);
    expect(errorsAt('totem {\n} # end\n')).toEqual(['2:1 error CONFIG_SYNTAX']);
  });

  it('reports missing names and names with characters cmap refuses', () => {
    expect(errorsAt('{\n}\n')).toEqual(['1:1 error CONFIG_SYNTAX']);
    expect(errorsAt(': value\n')).toEqual(['1:1 error CONFIG_SYNTAX']);
    expect(errorsAt('my key: 1\ntotem section {\n}\n')).toEqual(['1:1 error CONFIG_SYNTAX', '2:1 error CONFIG_SYNTAX']);
  });

  it('limits lines to 510 bytes like coroparse', () => {
    expect(errorsAt(`k: ${'x'.repeat(507)}\n`)).toEqual([]);
    expect(errorsAt(`k: ${'x'.repeat(508)}\n`)).toEqual(['1:1 error CONFIG_SYNTAX']);
    expect(errorsAt(`k: ${'é'.repeat(254)}\n`)).toEqual(['1:1 error CONFIG_SYNTAX']);
  });

  it('limits cmap paths to 254 characters', () => {
    expect(errorsAt(`${'s'.repeat(200)} {\n${'k'.repeat(60)}: 1\n}\n`)).toEqual(['2:1 error CONFIG_SYNTAX']);
  });

  it('reports a byte order mark and still parses the rest', () => {
    const { document, diagnostics } = parseCorosyncConf('\uFEFFtotem {\n}\n', 'a.conf');
    expect(diagnostics.map((d) => [d.line, d.col])).toEqual([[1, 1]]);
    expect(shape(document.children)).toEqual([{ totem: [] }]);
  });

  it('reports every independent error of one file', () => {
    const text = 'totem {\n\ttoken = 1\n\tx { y\n\t}\n}\n}\nkey\n';
    expect(errorsAt(text)).toEqual(['2:2 error CONFIG_SYNTAX', '3:6 error CONFIG_SYNTAX', '6:1 error CONFIG_SYNTAX', '7:1 error CONFIG_SYNTAX']);
  });

  it('formats diagnostics as file:line:col: severity: message with an indented hint', () => {
    const [d] = parseCorosyncConf('a = 1\n', 'dir/x.conf').diagnostics;
    expect(d && formatDiagnostic(d)).toBe("dir/x.conf:1:1: error: expected 'key: value', 'name {' or '}'\n  hint: corosync.conf writes 'key: value', not 'key = value'");
  });
});

describe('printCorosyncConf', () => {
  it('prints canonical text that parses back to the same document', () => {
    for (const name of ['modern-three-node.conf', 'udpu-pbx-pair.conf', 'legacy-multicast-two-node.conf', 'broken-unclosed-brace.conf']) {
      const first = parseCorosyncConf(fixture(name), name).document;
      const printed = printCorosyncConf(first);
      const again: ConfDocument = parseCorosyncConf(printed, name).document;
      expect(shape(again.children)).toEqual(shape(first.children));
      expect(printCorosyncConf(again)).toBe(printed);
    }
  });

  it('indents with tabs and writes empty values as `key:`', () => {
    const { document } = parseCorosyncConf('totem {\ninterface {\nx:\n}\n}\n', 'a.conf');
    expect(printCorosyncConf(document)).toBe('totem {\n\tinterface {\n\t\tx:\n\t}\n}\n');
  });
});
