// Goal: `carillon show members [--json]` (src/cli/commands/show.ts) prints res_corosync's
// `corosync show members` byte for byte (res-corosync.md §1.6: empty first and last
// lines, the === banner, one "Node N" block per member process of every CPG group with a
// 1-based counter), --json lists { group, nodeId, pid }, and the exit statuses are
// 0 / 1 (no CPG service) / 3 (unreachable).
// Method: runCli against a real IpcServer whose services are the scripted fake of
// services-cli-kit.ts; the output is compared joined with '\n', as bin/ctl.ts writes it.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { formatShowMembers } from '../../../src/cli/commands/show';
import { runCli } from '../../../src/cli/program';
import { DaemonApiError } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { CliHarness, capture } from './services-cli-kit';

let h: CliHarness;

beforeEach(async () => {
  delete process.env['CARILLON_SOCKET'];
  h = await CliHarness.start('carillon-show-');
});

afterEach(async () => {
  await h.stop();
});

/** What the terminal receives: every line followed by '\n'. */
const printed = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

describe('carillon show members', () => {
  it("prints res_corosync's layout byte for byte, for every member of every group", async () => {
    h.services.addRemote('asterisk', 1, 4321, false);
    h.services.addRemote('asterisk', 2, 5522, false);
    h.services.addRemote('pacemakerd', 2, 900, false);
    await h.services.settled();
    const io = capture();
    expect(await h.run(io, 'show', 'members')).toBe(0);
    expect(printed(io.stdout)).toBe(
      '\n' +
        '=============================================================\n' +
        '=== Cluster members =========================================\n' +
        '=============================================================\n' +
        '===\n' +
        '=== Node 1\n' +
        '=== --> Group: asterisk\n' +
        '=== --> Nodeid: 1\n' +
        '=== Node 2\n' +
        '=== --> Group: asterisk\n' +
        '=== --> Nodeid: 2\n' +
        '=== Node 3\n' +
        '=== --> Group: pacemakerd\n' +
        '=== --> Nodeid: 2\n' +
        '===\n' +
        '=============================================================\n' +
        '\n',
    );
    expect(io.stderr).toEqual([]);
  });

  it('prints the empty frame without members', async () => {
    const io = capture();
    expect(await h.run(io, 'show', 'members')).toBe(0);
    expect(io.stdout).toEqual([
      '',
      '=============================================================',
      '=== Cluster members =========================================',
      '=============================================================',
      '===',
      '===',
      '=============================================================',
      '',
    ]);
    expect(formatShowMembers([{ group: 'g', members: [] }])).toEqual(io.stdout);
  });

  it('--json lists { group, nodeId, pid } in the same order', async () => {
    h.services.addRemote('asterisk', 2, 5522, false);
    h.services.addRemote('asterisk', 1, 4321, false);
    await h.services.settled();
    const io = capture();
    expect(await h.run(io, 'show', 'members', '--json')).toBe(0);
    expect(JSON.parse(io.stdout.join(''))).toEqual([
      { group: 'asterisk', nodeId: 2, pid: 5522 },
      { group: 'asterisk', nodeId: 1, pid: 4321 },
    ]);
  });

  it('exits 1 without a CPG service, 3 when unreachable, 2 on extra arguments', async () => {
    h.services.cpgError = new DaemonApiError(IpcErrorCode.unavailable, 'cpg.groups: this daemon runs no services');
    const io = capture();
    expect(await h.run(io, 'show', 'members')).toBe(1);
    expect(io.stderr).toEqual(['carillon show members: Failed to initialize CPG iterator: carillond runs no CPG service (cpg.groups: this daemon runs no services)']);
    expect(io.stdout).toEqual([]);
    const gone = capture();
    expect(await h.runUnreachable(gone, 'show', 'members')).toBe(3);
    expect(gone.stderr[0]).toContain('carillon show members: cannot reach carillond');
    expect(await h.run(capture(), 'show', 'members', 'extra')).toBe(2);
  });

  it('documents itself with EXAMPLES and EXIT STATUS', async () => {
    const io = capture();
    expect(await runCli(['show', 'members', '--help'], io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/=== --> Group: asterisk[\s\S]*EXAMPLES[\s\S]*EXIT STATUS[\s\S]*3 +carillond is unreachable/);
  });
});
