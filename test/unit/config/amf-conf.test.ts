// Goal: `amf { process { } }` (src/config/amf-conf.ts through loadCarillonConfig) loads
// with the documented defaults, rejects bad values with file:line:col, warns about
// unknown keys with "did you mean", keeps the corosync 1.x `amf { mode }` an obsolete
// warning, and splits commands with shell-like quoting but no shell.
// Method: small config texts; diagnostics compared by line:col, severity and code.

import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitCommandLine, parseHostPort } from '../../../src/config/amf-conf';
import type { Diagnostic } from '../../../src/config/diagnostics';
import { loadCarillonConfig } from '../../../src/config/load';

const HEAD = [
  'totem {',
  '\tversion: 2',
  '\tcluster_name: t',
  '\ttransport: udpu',
  '}',
  'nodelist {',
  '\tnode {',
  '\t\tring0_addr: 127.0.0.1',
  '\t\tnodeid: 1',
  '\t}',
  '}',
].join('\n');
/** The first line after HEAD. */
const L = 12;

function load(amf: string): ReturnType<typeof loadCarillonConfig> {
  return loadCarillonConfig(`${HEAD}\n${amf}\n`, 'c.conf');
}

const brief = (d: Diagnostic): string => `${d.line}:${d.col} ${d.severity} ${d.code}`;

describe('amf { process { } }', () => {
  it('loads a minimal process with every default', () => {
    const { config, diagnostics } = load('amf {\n\tprocess {\n\t\tname: asterisk\n\t\tcommand: /usr/sbin/asterisk -f -U asterisk\n\t}\n}');
    expect(diagnostics).toEqual([]);
    expect(config?.amf.processes).toEqual([
      {
        name: 'asterisk',
        command: ['/usr/sbin/asterisk', '-f', '-U', 'asterisk'],
        commandText: '/usr/sbin/asterisk -f -U asterisk',
        workingDir: null,
        healthCheck: 'none',
        healthCommand: null,
        healthAddress: null,
        healthIntervalMs: 5000,
        healthTimeoutMs: 2000,
        healthFailures: 3,
        restartDelayMs: 1000,
        restartDelayMaxMs: 30000,
        maxRestarts: 5,
        restartWindowMs: 300000,
        escalation: 'stop',
        quorumPolicy: 'none',
        stopTimeoutMs: 10000,
        position: { line: L + 1, col: 2 },
      },
    ]);
    expect(config?.sources['amf.process.0.command']).toEqual({ line: L + 3, col: 12 });
  });

  it('loads every key; ami defaults to 127.0.0.1:5038', () => {
    const text = [
      'amf {',
      '\tprocess {',
      '\t\tname: pbx',
      '\t\tcommand: /bin/sh -c \'exec sleep 100\'',
      '\t\tworking_dir: /tmp',
      '\t\thealth_check: ami',
      '\t\thealth_interval: 1000',
      '\t\thealth_timeout: 300',
      '\t\thealth_failures: 2',
      '\t\trestart_delay: 50',
      '\t\trestart_delay_max: 60',
      '\t\tmax_restarts: 0',
      '\t\trestart_window: 1000',
      '\t\tescalation: leave',
      '\t\tquorum_policy: restart',
      '\t\tstop_timeout: 100',
      '\t}',
      '\tprocess {',
      '\t\tname: web',
      '\t\tcommand: /usr/bin/web',
      '\t\thealth_check: tcp',
      '\t\thealth_address: [::1]:8080',
      '\t}',
      '\tprocess {',
      '\t\tname: x',
      '\t\tcommand: /usr/bin/x',
      '\t\thealth_check: exec',
      '\t\thealth_command: /usr/bin/check "a b"',
      '\t}',
      '}',
    ].join('\n');
    const { config, diagnostics } = load(text);
    expect(diagnostics).toEqual([]);
    const [pbx, web, x] = config?.amf.processes ?? [];
    expect(pbx).toMatchObject({
      command: ['/bin/sh', '-c', 'exec sleep 100'], workingDir: '/tmp', healthCheck: 'ami', healthAddress: { host: '127.0.0.1', port: 5038 },
      healthIntervalMs: 1000, healthTimeoutMs: 300, healthFailures: 2, restartDelayMs: 50, restartDelayMaxMs: 60, maxRestarts: 0,
      restartWindowMs: 1000, escalation: 'leave', quorumPolicy: 'restart', stopTimeoutMs: 100,
    });
    expect(web).toMatchObject({ healthCheck: 'tcp', healthAddress: { host: '::1', port: 8080 } });
    expect(x).toMatchObject({ healthCheck: 'exec', healthCommand: ['/usr/bin/check', 'a b'] });
  });

  it('reports every problem at its line:col', () => {
    const text = [
      'amf {',
      '\tprocess {',
      '\t\tname: bad.name',
      '\t\tcommand: /bin/x "unterminated',
      '\t}',
      '\tprocess {',
      '\t\tcommand: /bin/y',
      '\t\thealth_check: tcp',
      '\t\tmax_restarts: many',
      '\t\trestart_delay: 500',
      '\t\trestart_delay_max: 100',
      '\t\tuser: asterisk',
      '\t\tescalation: reboot',
      '\t}',
      '\tprocess {',
      '\t\tname: a',
      '\t\tcommand: /bin/a',
      '\t\thealth_check: exec',
      '\t\tworking_dir: relative',
      '\t}',
      '\tprocess {',
      '\t\tname: a',
      '\t\tcommand: /bin/a2',
      '\t\thealth_adress: 1.2.3.4:5',
      '\t}',
      '}',
    ].join('\n');
    const { config, diagnostics } = load(text);
    expect(config).toBeNull();
    expect(diagnostics.map(brief)).toEqual([
      `${L + 2}:9 error CONFIG_VALUE`, // bad.name
      `${L + 3}:12 error CONFIG_VALUE`, // unterminated quote
      `${L + 5}:2 error CONFIG_MISSING`, // no name
      `${L + 7}:17 error CONFIG_MISSING`, // tcp without address
      `${L + 8}:17 error CONFIG_VALUE`, // max_restarts
      `${L + 10}:22 error CONFIG_RELATION`, // delay max < delay
      `${L + 11}:9 error CONFIG_UNSUPPORTED`, // user
      `${L + 12}:15 error CONFIG_VALUE`, // escalation
      `${L + 17}:17 error CONFIG_MISSING`, // exec without command
      `${L + 18}:16 error CONFIG_VALUE`, // working_dir
      `${L + 21}:9 error CONFIG_RELATION`, // duplicate name
      `${L + 23}:3 warning CONFIG_UNKNOWN_KEY`, // health_adress
    ]);
    expect(diagnostics.find((d) => d.code === 'CONFIG_UNKNOWN_KEY')?.hint).toBe("did you mean 'health_address'?");
    expect(diagnostics[0]?.hint).toContain("'.' would nest it");
    expect(diagnostics.find((d) => d.code === 'CONFIG_UNSUPPORTED')?.hint).toContain('asterisk -U asterisk');
  });

  it('warns that shell syntax in a command is not interpreted', () => {
    const { config, diagnostics } = load('amf {\n\tprocess {\n\t\tname: p\n\t\tcommand: /bin/prog > /tmp/log\n\t}\n}');
    expect(config?.amf.processes[0]?.command).toEqual(['/bin/prog', '>', '/tmp/log']);
    expect(diagnostics.map(brief)).toEqual([`${L + 3}:12 warning CONFIG_VALUE`]);
    expect(diagnostics[0]?.message).toContain("'>' is passed to the program as an argument");
  });

  it('a corosync 1.x amf { mode: disabled } is one obsolete warning at the section; nothing is supervised', () => {
    const { config, diagnostics } = load('amf {\n\tmode: disabled\n}');
    expect(diagnostics.map(brief)).toEqual([`${L}:1 warning CONFIG_OBSOLETE_KEY`]);
    expect(config?.amf.processes).toEqual([]);
  });

  it('the commented amf { } of config/corosync.conf.example loads cleanly once uncommented', () => {
    const example = fs.readFileSync(path.resolve(__dirname, '../../../config/corosync.conf.example'), 'utf8');
    const block = example.slice(example.indexOf('# amf {')).split('\n').map((l) => l.replace(/^# ?/, '')).join('\n');
    const { config, diagnostics } = load(block);
    expect(diagnostics).toEqual([]);
    expect(config?.amf.processes.map((p) => [p.name, p.healthCheck, p.quorumPolicy])).toEqual([['asterisk', 'ami', 'stop']]);
  });

  it('without amf { } there are no processes', () => {
    expect(load('').config?.amf).toEqual({ processes: [] });
  });
});

describe('splitCommandLine', () => {
  it.each([
    ['/bin/a b  c', ['/bin/a', 'b', 'c']],
    ["sh -c 'echo $HOME; ls'", ['sh', '-c', 'echo $HOME; ls']],
    ['a "b \\"c\\" \\\\ \\n"', ['a', 'b "c" \\ \\n']],
    ['a b\\ c', ['a', 'b c']],
    ['a "" \'\'', ['a', '', '']],
    ['\tnode -e "x"', ['node', '-e', 'x']],
  ])('%s', (text, argv) => {
    const result = splitCommandLine(text);
    expect(result.ok && result.value.argv).toEqual(argv);
  });

  it('rejects unterminated quotes and a trailing backslash; flags unquoted shell syntax', () => {
    expect(splitCommandLine('a "b').ok).toBe(false);
    expect(splitCommandLine("a 'b").ok).toBe(false);
    expect(splitCommandLine('a \\').ok).toBe(false);
    const result = splitCommandLine('a | b $HOME "$X" *.log');
    expect(result.ok && result.value.shellLike).toEqual(['|', '$HOME', '*.log']);
  });
});

it('parseHostPort', () => {
  expect(parseHostPort('127.0.0.1:5038')).toEqual({ host: '127.0.0.1', port: 5038 });
  expect(parseHostPort('pbx.local:80')).toEqual({ host: 'pbx.local', port: 80 });
  expect(parseHostPort('[fe80::1%eth0]:5038')).toEqual({ host: 'fe80::1%eth0', port: 5038 });
  expect(parseHostPort('127.0.0.1')).toBeNull();
  expect(parseHostPort('h:0')).toBeNull();
  expect(parseHostPort('h:70000')).toBeNull();
});
