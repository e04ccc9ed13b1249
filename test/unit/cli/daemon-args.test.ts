// Goal: carillond's commander-free parser (src/cli/daemon-args.ts) never disagrees with
// the commander program of cli/daemon-command.ts: wherever it answers, commander parses
// the same argv without an error into the same flags; the usual command lines (systemd's
// `-f -c FILE`, `-t -c FILE`, the tests' `--local-nodeid N`) are answered without
// commander; help, version, unknown flags, missing values and combined short flags are
// left to commander (null).
// Method: fast-check argv lists drawn from the daemon's flags in every spelling, values,
// and junk, compared with commander's parse (exitOverride, output captured), plus fixed
// examples.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CommanderError } from 'commander';
import { DAEMON_DEFAULT_CONFIG, type DaemonFlags, buildDaemonCommand } from '../../../src/cli/daemon-command';
import { parseDaemonArgs } from '../../../src/cli/daemon-args';

const DEFAULT = '/etc/carillon/test.conf';

/** commander's answer for `args`: the flags, or 'error' (usage error, help or version). */
function commanderParse(args: readonly string[]): DaemonFlags | 'error' {
  const program = buildDaemonCommand({ defaultConfig: DEFAULT, version: '9.9.9' });
  program.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    program.parse([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return 'error';
    throw error;
  }
  return program.opts<DaemonFlags>();
}

describe('parseDaemonArgs', () => {
  it('answers the usual command lines itself', () => {
    expect(parseDaemonArgs([], DEFAULT)).toEqual({ config: DEFAULT });
    expect(parseDaemonArgs(['-f', '-c', '/etc/carillon/corosync.conf'], DEFAULT)).toEqual({ config: '/etc/carillon/corosync.conf', foreground: true });
    expect(parseDaemonArgs(['-t', '--config=/x.conf'], DEFAULT)).toEqual({ config: '/x.conf', test: true });
    expect(parseDaemonArgs(['--foreground', '--local-nodeid', '2', '--config', 'c'], DEFAULT)).toEqual({ config: 'c', foreground: true, localNodeid: '2' });
    expect(parseDaemonArgs(['--test', '--local-nodeid=7'], DEFAULT)).toEqual({ config: DEFAULT, test: true, localNodeid: '7' });
  });

  it('leaves help, version, unknown flags, missing values, repeats and combined flags to commander', () => {
    for (const args of [
      ['-h'], ['--help'], ['-v'], ['--version'], ['-x'], ['extra'], ['-c'], ['--config'], ['--config='], ['-c', '-f'],
      ['-fc', 'x'], ['-cfile'], ['-f', '-f'], ['-c', 'a', '-c', 'b'], ['--', '-f'], ['--foreground=yes'], ['--local-nodeid'],
    ]) {
      expect([args, parseDaemonArgs(args, DEFAULT)]).toEqual([args, null]);
    }
  });

  it('agrees with commander wherever it answers', () => {
    const token = fc.oneof(
      fc.constantFrom('-f', '--foreground', '-t', '--test', '-c', '--config', '--local-nodeid', '-h', '-v', '--', '-fc', '-tf', '--bogus'),
      fc.constantFrom('/etc/carillon/corosync.conf', 'a b.conf', '3', '0', '=', ''),
      fc.string({ maxLength: 8 }),
      fc.string({ maxLength: 8 }).map((s) => `--config=${s}`),
      fc.string({ maxLength: 4 }).map((s) => `--local-nodeid=${s}`),
      fc.string({ maxLength: 4 }).map((s) => `-c${s}`),
    );
    let answered = 0;
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), (args) => {
        const fast = parseDaemonArgs(args, DEFAULT);
        if (fast === null) return;
        answered += 1;
        expect(commanderParse(args)).toEqual(fast);
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the answered cases, so the comparison is not vacuous.
    expect(answered).toBeGreaterThan(100);
  });

  it('uses the same default configuration path as the commander program', () => {
    expect(commanderParse([])).toEqual({ config: DEFAULT });
    expect(DAEMON_DEFAULT_CONFIG).toBe('/etc/carillon/corosync.conf');
  });
});
