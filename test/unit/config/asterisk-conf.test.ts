// Goal: the Asterisk config dialect parser (src/config/asterisk-conf.ts) reads every
// construct res_corosync.conf may use as Asterisk's main/config.c does — sections,
// `=` and `=>`, `;` and `\;`, nested `;-- --;` block comments, templates, inheritance
// order, `(+)`, #include / #tryinclude — with exact file:line:col positions, and turns
// every malformed or refused input (#exec, cycles, limits...) into a positioned
// diagnostic, all of them at once.
// Method: parse small texts through an in-memory reader (no disk) and compare sections,
// variables, positions and diagnostics with hand-computed values.

import { describe, expect, test } from '@jest/globals';
import {
  type AsteriskConfLimits,
  type AsteriskConfParseResult,
  type AsteriskConfSection,
  parseAsteriskConf,
  resolveIncludePath,
} from '../../../src/config/asterisk-conf';
import type { Diagnostic } from '../../../src/config/diagnostics';

const TOP = '/etc/asterisk/res_corosync.conf';

function parseFiles(files: Record<string, string>, limits: Partial<AsteriskConfLimits> = {}, top = TOP): AsteriskConfParseResult {
  return parseAsteriskConf(top, (path) => files[path] ?? null, limits);
}

function parse(text: string, limits: Partial<AsteriskConfLimits> = {}): AsteriskConfParseResult {
  return parseFiles({ [TOP]: text }, limits);
}

/** [key, value] pairs of a section. */
function pairs(section: AsteriskConfSection | undefined): [string, string][] {
  return (section?.variables ?? []).map((v) => [v.key, v.value]);
}

function at(d: Diagnostic): string {
  return `${d.file.slice(d.file.lastIndexOf('/') + 1)}:${d.line}:${d.col}: ${d.severity}`;
}

describe('sections and variables', () => {
  test('headers, both operators and exact positions', () => {
    const r = parse('[general]\npublish_event = mwi\n  subscribe_event=>device_state   \n\n[other]\nx =\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.files).toEqual([TOP]);
    expect(r.sections.map((s) => [s.name, s.position, s.file, s.templateOnly])).toEqual([
      ['general', { line: 1, col: 2 }, TOP, false],
      ['other', { line: 5, col: 2 }, TOP, false],
    ]);
    const [a, b] = r.sections[0]?.variables ?? [];
    expect(a).toEqual({ key: 'publish_event', value: 'mwi', operator: '=', position: { line: 2, col: 1 }, valuePosition: { line: 2, col: 17 }, file: TOP, inherited: false });
    expect(b).toMatchObject({ key: 'subscribe_event', value: 'device_state', operator: '=>', position: { line: 3, col: 3 }, valuePosition: { line: 3, col: 20 } });
    // An empty value is positioned just after the operator.
    expect(r.sections[1]?.variables[0]).toMatchObject({ key: 'x', value: '', valuePosition: { line: 6, col: 4 } });
  });

  test('repeated keys are all kept, in order; values keep inner blanks and later `=`', () => {
    const r = parse('[s]\na = 1\nb = x = y\na = 2\nexten => 100,1,Dial(PJSIP/100)\n');
    expect(pairs(r.sections[0])).toEqual([
      ['a', '1'],
      ['b', 'x = y'],
      ['a', '2'],
      ['exten', '100,1,Dial(PJSIP/100)'],
    ]);
  });

  test('blanks (tabs, CR of CRLF files) are trimmed around lines, keys and values', () => {
    const r = parse('[s]\r\n\t key \t=\t value with  blanks \t\r\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.sections[0]?.variables[0]).toMatchObject({ key: 'key', value: 'value with  blanks', position: { line: 2, col: 3 }, valuePosition: { line: 2, col: 11 } });
  });

  test('section names are not trimmed (as in Asterisk) and text after the header is ignored with a warning', () => {
    const r = parse('[ general ]\n[s] junk\n[t] (!)\n');
    expect(r.sections.map((s) => s.name)).toEqual([' general ', 's', 't']);
    expect(r.sections[2]?.templateOnly).toBe(false);
    expect(r.diagnostics.map(at)).toEqual(['res_corosync.conf:2:5: warning', 'res_corosync.conf:3:5: warning']);
    expect(r.diagnostics[1]?.hint).toContain("options must follow ']' directly");
  });
});

describe('comments', () => {
  test('; starts a comment, \\; is a literal semicolon', () => {
    const r = parse('; a comment\n[s] ; trailing\nkey = a\\;b ; comment\nk2 = \\;\n');
    expect(r.diagnostics).toEqual([]);
    expect(pairs(r.sections[0])).toEqual([
      ['key', 'a;b'],
      ['k2', ';'],
    ]);
    expect(r.sections[0]?.variables[1]?.valuePosition).toEqual({ line: 4, col: 6 });
  });

  test('a one-line block comment joins the text around it', () => {
    const r = parse('[s]\nkey = a ;-- hidden; --; b\n');
    expect(pairs(r.sections[0])).toEqual([['key', 'a  b']]);
    expect(r.sections[0]?.variables[0]?.valuePosition).toEqual({ line: 2, col: 7 });
  });

  test('multi-line block comments keep the text before and after them, with positions', () => {
    const r = parse('[s]\na = 1 ;-- start\nb = 2\n[hidden]\n--; c = 3\nd = 4\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.sections.map((s) => s.name)).toEqual(['s']);
    expect(pairs(r.sections[0])).toEqual([
      ['a', '1'],
      ['c', '3'],
      ['d', '4'],
    ]);
    expect(r.sections[0]?.variables[1]).toMatchObject({ position: { line: 5, col: 5 }, valuePosition: { line: 5, col: 9 } });
  });

  test('block comments nest; `;---` is only a line comment', () => {
    const r = parse('[s]\n;-- outer ;-- inner --; still comment --; x = 1\n;--- not a block comment\ny = 2\n');
    expect(r.diagnostics).toEqual([]);
    expect(pairs(r.sections[0])).toEqual([
      ['x', '1'],
      ['y', '2'],
    ]);
  });

  test('an unterminated block comment is an error at its start', () => {
    const r = parse('[s]\na = 1\n  ;-- never closed\nb = 2\n');
    expect(pairs(r.sections[0])).toEqual([['a', '1']]);
    expect(r.diagnostics.map(at)).toEqual(['res_corosync.conf:3:3: error']);
    expect(r.diagnostics[0]?.message).toContain('never closed');
  });

  test('`--;` outside a block comment warns and is read as `--` plus a comment', () => {
    const r = parse('[s]\nkey = value --; rest\n');
    expect(pairs(r.sections[0])).toEqual([['key', 'value --']]);
    expect(r.diagnostics.map(at)).toEqual(['res_corosync.conf:2:13: warning']);
  });

  test('block comment nesting is limited', () => {
    const r = parse(`[s]\n${';--'.repeat(130)}\n`);
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((d) => [d.line, d.col, d.message])).toEqual([
      [2, 1, expect.stringContaining('never closed')],
      [2, 385, 'block comments nested more than 128 deep'],
      [2, 388, 'block comments nested more than 128 deep'],
    ]);
  });
});

describe('templates, inheritance and (+)', () => {
  const text = ['[t](!)', 'a = t1', 'b = t2', '[u](!)', 'c = u1', '[x](t)', 'own = 1', '[y](!,t)', '[z](t,u)', 'a = z1', ''].join('\n');

  test('(!) marks a template; inherited variables come first, in the order of the list', () => {
    const r = parse(text);
    expect(r.diagnostics).toEqual([]);
    const byName = new Map(r.sections.map((s) => [s.name, s]));
    expect(r.sections.map((s) => [s.name, s.templateOnly, s.inherits])).toEqual([
      ['t', true, []],
      ['u', true, []],
      ['x', false, ['t']],
      ['y', true, ['t']],
      ['z', false, ['t', 'u']],
    ]);
    expect(pairs(byName.get('x'))).toEqual([
      ['a', 't1'],
      ['b', 't2'],
      ['own', '1'],
    ]);
    expect(pairs(byName.get('z'))).toEqual([
      ['a', 't1'],
      ['b', 't2'],
      ['c', 'u1'],
      ['a', 'z1'],
    ]);
    // Inherited copies keep the template's position and are flagged.
    expect(byName.get('x')?.variables[0]).toMatchObject({ inherited: true, position: { line: 2, col: 1 } });
    expect(byName.get('x')?.variables[2]).toMatchObject({ inherited: false, position: { line: 7, col: 1 } });
  });

  test('inheritance is a copy taken at the header: later additions to the template do not flow', () => {
    const r = parse('[t](!)\na = 1\n[x](t)\n[t](+)\nb = 2\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.sections.map((s) => s.name)).toEqual(['t', 'x']);
    expect(pairs(r.sections[0])).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
    expect(pairs(r.sections[1])).toEqual([['a', '1']]);
  });

  test('(+) appends to the first section of that name (case-insensitively)', () => {
    const r = parse('[general]\na = 1\n[other]\nb = 2\n[General](+)\nc = 3\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.sections.map((s) => s.name)).toEqual(['general', 'other']);
    expect(pairs(r.sections[0])).toEqual([
      ['a', '1'],
      ['c', '3'],
    ]);
  });

  test('a repeated header without (+) makes a second section', () => {
    const r = parse('[general]\na = 1\n[general]\nb = 2\n');
    expect(r.sections.map((s) => [s.name, s.position.line])).toEqual([
      ['general', 1],
      ['general', 3],
    ]);
  });

  test('missing bases and bad options are errors at the option; the section is still read', () => {
    const r = parse('[t](!)\n[a](nope)\nx = 1\n[b](!, t)\n[c](+)\n[d]()\n[e](+x)\n');
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([
      ['res_corosync.conf:2:5: error', "inherits from section 'nope', but there is none before this line"],
      ['res_corosync.conf:4:7: error', "inherits from section ' t', but there is none before this line"],
      ['res_corosync.conf:5:5: error', "'+' appends to section 'c', but there is none before this line"],
      ['res_corosync.conf:6:5: error', 'empty section option'],
      ['res_corosync.conf:7:5: error', "section filters ('+x') are not supported"],
    ]);
    expect(r.diagnostics[1]?.hint).toContain('remove the blanks');
    expect(pairs(r.sections.find((s) => s.name === 'a'))).toEqual([['x', '1']]);
    expect(r.sections.map((s) => s.name)).toEqual(['t', 'a', 'b', 'c', 'd', 'e']);
  });
});

describe('syntax errors', () => {
  test('every error is reported at once, positioned, in file order', () => {
    const text = [
      'orphan = 1', // 1: no section yet
      '[general', // 2: no ]
      '[ok](!', // 3: no )
      '[]', // 4: empty name
      `[${'n'.repeat(80)}]`, // 5: name too long
      'publish_event mwi', // 6: no =
      'key: value', // 7: no =, corosync style
      'key += more', // 8: +=
      ' = value', // 9: no key
      '=> value', // 10: no key
    ].join('\n');
    const r = parse(text);
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([
      ['res_corosync.conf:1:1: error', "'orphan' is not in a section"],
      ['res_corosync.conf:2:1: error', "section header without closing ']'"],
      ['res_corosync.conf:3:5: error', "section options without closing ')'"],
      ['res_corosync.conf:4:2: error', 'empty section name'],
      ['res_corosync.conf:5:2: error', 'section name longer than 79 characters (Asterisk would cut it)'],
      ['res_corosync.conf:6:1: error', "expected 'key = value', '[section]' or a '#' directive"],
      ['res_corosync.conf:7:1: error', "expected 'key = value', '[section]' or a '#' directive"],
      ['res_corosync.conf:8:5: error', "'+=' (appending to the previous value) is not supported"],
      ['res_corosync.conf:9:2: error', "missing key name before '='"],
      ['res_corosync.conf:10:1: error', "missing key name before '=>'"],
    ]);
    expect(r.diagnostics[0]?.hint).toContain('[general]');
    expect(r.diagnostics[6]?.hint).toContain("not 'key: value'");
    expect(r.diagnostics.every((d) => d.file === TOP)).toBe(true);
  });

  test('a byte order mark is an error; the rest is still read', () => {
    const r = parse('\uFEFF[general]\na = 1\n');
    expect(r.diagnostics.map(at)).toEqual(['res_corosync.conf:1:1: error']);
    expect(pairs(r.sections[0])).toEqual([['a', '1']]);
  });

  test('an unreadable top file is one error', () => {
    const r = parseAsteriskConf('/nowhere.conf', () => null);
    expect(r.sections).toEqual([]);
    expect(r.files).toEqual([]);
    expect(r.diagnostics).toEqual([{ severity: 'error', code: 'CONFIG_MISSING', file: '/nowhere.conf', line: 1, col: 1, message: 'cannot read the file' }]);
  });
});

describe('directives', () => {
  test('resolveIncludePath: absolute, relative to the including file, normalised', () => {
    expect(resolveIncludePath('/etc/asterisk/a.conf', 'b.conf')).toBe('/etc/asterisk/b.conf');
    expect(resolveIncludePath('/etc/asterisk/a.conf', 'sub/./b.conf')).toBe('/etc/asterisk/sub/b.conf');
    expect(resolveIncludePath('/etc/asterisk/sub/a.conf', '../b.conf')).toBe('/etc/asterisk/b.conf');
    expect(resolveIncludePath('/etc/asterisk/a.conf', '/opt/x//y.conf')).toBe('/opt/x/y.conf');
    expect(resolveIncludePath('a.conf', 'b.conf')).toBe('b.conf');
    expect(resolveIncludePath('/a.conf', '../../b.conf')).toBe('/b.conf');
  });

  test('#include in all three spellings; included lines join the current section; the includer keeps its own', () => {
    const r = parseFiles({
      [TOP]: '[general]\n#include sub/one.conf\nafter = 1\n#INCLUDE "two.conf"\n#include <three.conf>\n',
      '/etc/asterisk/sub/one.conf': 'from_one = 1\n[ami]\nusername = x\n',
      '/etc/asterisk/two.conf': 'from_two = 2\n',
      '/etc/asterisk/three.conf': '[bridge]\n',
    });
    expect(r.diagnostics).toEqual([]);
    expect(r.files).toEqual([TOP, '/etc/asterisk/sub/one.conf', '/etc/asterisk/two.conf', '/etc/asterisk/three.conf']);
    expect(r.sections.map((s) => [s.name, s.file])).toEqual([
      ['general', TOP],
      ['ami', '/etc/asterisk/sub/one.conf'],
      ['bridge', '/etc/asterisk/three.conf'],
    ]);
    expect(pairs(r.sections[0])).toEqual([
      ['from_one', '1'],
      ['after', '1'],
      ['from_two', '2'],
    ]);
    expect(r.sections[0]?.variables[0]).toMatchObject({ file: '/etc/asterisk/sub/one.conf', position: { line: 1, col: 1 } });
  });

  test('diagnostics in an included file name that file', () => {
    const r = parseFiles({ [TOP]: '[s]\nbad\n#include inc.conf\n', '/etc/asterisk/inc.conf': '\n  oops\n' });
    expect(r.diagnostics.map(at)).toEqual(['res_corosync.conf:2:1: error', 'inc.conf:2:3: error']);
  });

  test('a missing #include is an error at the file name; #tryinclude is fine', () => {
    const r = parse('[s]\n#include   missing.conf\n#tryinclude also-missing.conf\n');
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([["res_corosync.conf:2:12: error", "cannot read included file '/etc/asterisk/missing.conf'"]]);
    expect(r.diagnostics[0]?.code).toBe('CONFIG_MISSING');
  });

  test('include cycles are detected, the file itself included', () => {
    const r = parseFiles({
      [TOP]: '[s]\n#include a.conf\n#include res_corosync.conf\n',
      '/etc/asterisk/a.conf': 'a = 1\n#include ./b.conf\n',
      '/etc/asterisk/b.conf': 'b = 1\n#include ../asterisk/a.conf\n',
    });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([
      ['res_corosync.conf:3:10: error', `include cycle: ${TOP} -> ${TOP}`],
      ['b.conf:2:10: error', 'include cycle: /etc/asterisk/a.conf -> /etc/asterisk/b.conf -> /etc/asterisk/a.conf'],
    ]);
    expect(pairs(r.sections[0])).toEqual([
      ['a', '1'],
      ['b', '1'],
    ]);
  });

  test('a file included twice (not a cycle) is read twice', () => {
    const r = parseFiles({ [TOP]: '[s]\n#include x.conf\n#include x.conf\n', '/etc/asterisk/x.conf': 'k = v\n' });
    expect(r.diagnostics).toEqual([]);
    expect(pairs(r.sections[0])).toEqual([
      ['k', 'v'],
      ['k', 'v'],
    ]);
    expect(r.files).toEqual([TOP, '/etc/asterisk/x.conf']);
  });

  test('include depth is limited', () => {
    const files: Record<string, string> = { [TOP]: '[s]\n#include f1.conf\n' };
    for (let i = 1; i <= 5; i++) files[`/etc/asterisk/f${i}.conf`] = `k${i} = ${i}\n#include f${i + 1}.conf\n`;
    const r = parseFiles(files, { includeDepthMax: 3 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['f3.conf:2:10: error', 'includes nested more than 3 deep']]);
    expect(pairs(r.sections[0]).map(([k]) => k)).toEqual(['k1', 'k2', 'k3']);
  });

  test('the number of files read is limited, reported once', () => {
    const r = parseFiles({ [TOP]: `[s]\n${'#include x.conf\n'.repeat(5)}`, '/etc/asterisk/x.conf': 'k = v\n' }, { filesMax: 3 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['res_corosync.conf:4:10: error', 'too many files: more than 3 read through #include']]);
    expect(pairs(r.sections[0])).toHaveLength(2);
  });

  test('#exec and #tryexec are refused; unknown directives and a missing argument are errors', () => {
    const r = parse('[s]\n#exec /bin/echo a=1\n  #tryexec /bin/true\n#includ x.conf\n#include\n#include ""\n');
    expect(r.diagnostics.map((d) => [at(d), d.code, d.message])).toEqual([
      ['res_corosync.conf:2:1: error', 'CONFIG_UNSUPPORTED', '#exec is refused: Carillon never runs programs named in a configuration file'],
      ['res_corosync.conf:3:3: error', 'CONFIG_UNSUPPORTED', '#tryexec is refused: Carillon never runs programs named in a configuration file'],
      ['res_corosync.conf:4:1: error', 'CONFIG_SYNTAX', "unknown directive '#includ'"],
      ['res_corosync.conf:5:1: error', 'CONFIG_SYNTAX', '#include needs a file name'],
      ['res_corosync.conf:6:10: error', 'CONFIG_SYNTAX', 'empty file name'],
    ]);
    expect(r.sections[0]?.variables).toEqual([]);
  });
});

describe('limits', () => {
  test('file size', () => {
    const r = parse(`[s]\n${'k = v\n'.repeat(20)}`, { fileCharsMax: 50 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['res_corosync.conf:1:1: error', 'file too large: more than 50 characters']]);
    expect(r.sections).toEqual([]);
  });

  test('file size of an included file', () => {
    const r = parseFiles({ [TOP]: '[s]\n#include big.conf\n', '/etc/asterisk/big.conf': 'x'.repeat(101) }, { fileCharsMax: 100 });
    expect(r.diagnostics.map(at)).toEqual(['big.conf:1:1: error']);
  });

  test('line length: the long line is skipped, the rest read', () => {
    const r = parse(`[s]\nk = ${'v'.repeat(30)}\nok = 1\n`, { lineCharsMax: 20 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['res_corosync.conf:2:1: error', 'line too long: more than 20 characters']]);
    expect(pairs(r.sections[0])).toEqual([['ok', '1']]);
  });

  test('number of sections: one error, no cascade', () => {
    const r = parse('[a]\n[b]\n[c]\nk = 1\n[d]\n', { sectionsMax: 2 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['res_corosync.conf:3:1: error', 'too many sections: more than 2']]);
    expect(r.sections.map((s) => s.name)).toEqual(['a', 'b']);
  });

  test('number of variables, inherited copies included', () => {
    const r = parse('[t](!)\na = 1\nb = 2\n[x](t)\nc = 3\nd = 4\n', { variablesMax: 3 });
    expect(r.diagnostics.map((d) => [at(d), d.message])).toEqual([['res_corosync.conf:4:5: error', 'too many variables: more than 3']]);
    expect(pairs(r.sections[1])).toEqual([['a', '1']]);
  });
});
