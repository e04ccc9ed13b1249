// Goal: `carillon quorum status|expected|votes` (src/cli/commands/quorum.ts): status has
// corosync-quorumtool -s's layout byte for byte (ctime date, padded labels, CS_PRI_RING_ID,
// "Quorum: N " + " " or "Activity blocked", flags each followed by a blank, the
// "%10s " membership table with "(local)"), the provider-less short form, and --json
// carries quorate, expectedVotes, totalVotes, quorum and members; expected / votes
// validate like quorumtool, print nothing on success and explain refusals; exit
// statuses 0/1/2/3.
// Method: formatQuorumStatus with a fixed local Date; runCli against a real IpcServer
// whose services are the scripted fake of services-cli-kit.ts.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { formatCtime, formatQuorumStatus } from '../../../src/cli/commands/quorum';
import { runCli } from '../../../src/cli/program';
import { DaemonApiError, type QuorumStatusJson } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { CliHarness, capture, sampleQuorumStatus } from './services-cli-kit';

let h: CliHarness;

beforeEach(async () => {
  delete process.env['CARILLON_SOCKET'];
  h = await CliHarness.start('carillon-quorum-');
});

afterEach(async () => {
  await h.stop();
});

const date = new Date(2024, 2, 5, 9, 7, 3);

const quorateText = [
  'Quorum information',
  '------------------',
  'Date:             Tue Mar  5 09:07:03 2024',
  'Quorum provider:  corosync_votequorum',
  'Nodes:            2',
  'Node ID:          1',
  'Ring ID:          1.141',
  'Quorate:          Yes',
  '',
  'Votequorum information',
  '----------------------',
  'Expected votes:   3',
  'Highest expected: 3',
  'Total votes:      2',
  'Quorum:           2  ',
  'Flags:            Quorate ',
  '',
  'Membership information',
  '----------------------',
  '    Nodeid      Votes Name',
  '         1          1 pbx-a (local)',
  '         2          1 pbx-b',
];

describe('formatQuorumStatus', () => {
  it('prints corosync-quorumtool -s byte for byte', () => {
    expect(formatQuorumStatus(sampleQuorumStatus(), date)).toEqual(quorateText);
  });

  it('prints ctime dates with a space-padded day', () => {
    expect(formatCtime(new Date(2024, 11, 25, 23, 59, 59))).toBe('Wed Dec 25 23:59:59 2024');
    expect(formatCtime(new Date(2023, 0, 1, 0, 0, 0))).toBe('Sun Jan  1 00:00:00 2023');
  });

  it('shows a blocked partition, every flag in order, hex ring ids and large node ids', () => {
    const status: QuorumStatusJson = {
      ...sampleQuorumStatus(),
      quorate: false,
      nodeId: 4294967295,
      ringId: { rep: 255, seq: '4096' },
      flags: ['2Node', 'WaitForAll', 'LastManStanding', 'AutoTieBreaker', 'AllowDownscale'],
      members: [{ nodeId: 4294967295, votes: 2, name: 'n', local: true }],
    };
    const lines = formatQuorumStatus(status, date);
    expect(lines.slice(4, 8)).toEqual(['Nodes:            1', 'Node ID:          4294967295', 'Ring ID:          ff.1000', 'Quorate:          No']);
    expect(lines).toContain('Quorum:           2 Activity blocked');
    expect(lines).toContain('Flags:            2Node WaitForAll LastManStanding AutoTieBreaker AllowDownscale ');
    expect(lines.at(-1)).toBe('4294967295          2 n (local)');
    expect(formatQuorumStatus({ ...sampleQuorumStatus(), flags: [] }, date)).toContain('Flags:            ');
  });

  it('stops after Quorate without a quorum provider', () => {
    const status: QuorumStatusJson = { ...sampleQuorumStatus(), provider: null, expectedVotes: 0, highestExpected: 0, totalVotes: 0, quorum: 0, flags: [] };
    expect(formatQuorumStatus(status, date)).toEqual([
      'Quorum information',
      '------------------',
      'Date:             Tue Mar  5 09:07:03 2024',
      'Quorum provider:  Not configured',
      'Nodes:            2',
      'Node ID:          1',
      'Ring ID:          141',
      'Quorate:          Yes',
    ]);
  });

  it('names unnamed members by address and reports members votequorum has no record of', () => {
    const status: QuorumStatusJson = {
      ...sampleQuorumStatus(),
      members: [
        { nodeId: 1, votes: 1, name: 'pbx-a', local: true },
        { nodeId: 3, votes: null, name: null, local: false },
      ],
    };
    const lines = formatQuorumStatus(status, date, new Map([[3, ['10.0.0.3', '10.1.0.3']]]));
    expect(lines.slice(15)).toEqual([
      'Flags:            Quorate ',
      'Unable to get node 3 info',
      '',
      'Membership information',
      '----------------------',
      '    Nodeid      Votes Name',
      '         1          1 pbx-a (local)',
      '         3          0 10.0.0.3',
    ]);
  });
});

describe('carillon quorum status', () => {
  it('prints the layout with the current date', async () => {
    const io = capture();
    const before = new Date();
    expect(await h.run(io, 'quorum', 'status')).toBe(0);
    expect(io.stdout[2]).toMatch(/^Date: {13}[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4}$/);
    expect([...io.stdout.slice(0, 2), ...io.stdout.slice(3)]).toEqual([...quorateText.slice(0, 2), ...quorateText.slice(3)]);
    const after = new Date();
    expect([formatCtime(before).slice(0, 10), formatCtime(after).slice(0, 10)]).toContain(io.stdout[2]?.slice(18, 28));
    expect(io.stderr).toEqual([]);
  });

  it('names unnamed members by their nodelist address from status', async () => {
    h.services.quorumStatusValue = { ...sampleQuorumStatus(), members: [...sampleQuorumStatus().members, { nodeId: 3, votes: 1, name: null, local: false }] };
    const io = capture();
    expect(await h.run(io, 'quorum', 'status')).toBe(0);
    expect(io.stdout.at(-1)).toBe('         3          1 10.0.0.3');
  });

  it('exits 0 when not quorate (unlike quorumtool\'s 2, which is our usage status)', async () => {
    h.services.quorumStatusValue = { ...sampleQuorumStatus(), quorate: false, flags: [] };
    const io = capture();
    expect(await h.run(io, 'quorum', 'status')).toBe(0);
    expect(io.stdout).toContain('Quorate:          No');
    expect(io.stdout).toContain('Quorum:           2 Activity blocked');
  });

  it('--json prints the status object', async () => {
    const io = capture();
    expect(await h.run(io, 'quorum', 'status', '--json')).toBe(0);
    expect(io.stdout).toHaveLength(1);
    const json = JSON.parse(io.stdout[0] ?? '') as QuorumStatusJson;
    expect(json).toMatchObject({ quorate: true, expectedVotes: 3, totalVotes: 2, quorum: 2 });
    expect(json.members.map((m) => ({ nodeId: m.nodeId, votes: m.votes }))).toEqual([
      { nodeId: 1, votes: 1 },
      { nodeId: 2, votes: 1 },
    ]);
  });

  it('exits 1 without a quorum service and 3 when the daemon is unreachable', async () => {
    h.services.quorumError = new DaemonApiError(IpcErrorCode.unavailable, 'quorum.status: this daemon runs no services');
    const io = capture();
    expect(await h.run(io, 'quorum', 'status')).toBe(1);
    expect(io.stderr).toEqual(['carillon quorum status: Unable to get cluster quorate status: carillond runs no quorum service: quorum.status: this daemon runs no services']);
    const gone = capture();
    expect(await h.runUnreachable(gone, 'quorum', 'status')).toBe(3);
    expect(gone.stderr[0]).toContain('carillon quorum status: cannot reach carillond');
  });
});

describe('carillon quorum expected / votes', () => {
  it('set the values and print nothing (or --json)', async () => {
    const io = capture();
    expect(await h.run(io, 'quorum', 'expected', '2')).toBe(0);
    expect(io.stdout).toEqual([]);
    expect(io.stderr).toEqual([]);
    const votes = capture();
    expect(await h.run(votes, 'quorum', 'votes', '2', '0', '--json')).toBe(0);
    expect(JSON.parse(votes.stdout.join(''))).toEqual({ nodeId: 2, votes: 0, result: 'ok' });
    const expected = capture();
    expect(await h.run(expected, 'quorum', 'expected', '--json', '3')).toBe(0);
    expect(JSON.parse(expected.stdout.join(''))).toEqual({ expectedVotes: 3, result: 'ok' });
    expect(h.services.quorumCalls).toEqual(['setExpected 2', 'setVotes 2 0', 'setExpected 3']);
  });

  it('explain refusals with exit 1', async () => {
    const refused = capture();
    expect(await h.run(refused, 'quorum', 'expected', '99')).toBe(1);
    expect(refused.stderr).toEqual(['carillon quorum expected: Unable to set expected votes: CS_ERR_INVALID_PARAM: votequorum refused expected votes 99 (CS_ERR_INVALID_PARAM)']);
    const unknown = capture();
    expect(await h.run(unknown, 'quorum', 'votes', '9', '1')).toBe(1);
    expect(unknown.stderr).toEqual(['carillon quorum votes: Unable to set votes 1 for nodeid: 9: CS_ERR_NAME_NOT_FOUND: votequorum knows no such node (1 votes for node 9)']);
    h.services.quorumError = new DaemonApiError(IpcErrorCode.unavailable, 'quorum.setExpected: no quorum provider is configured');
    const none = capture();
    expect(await h.run(none, 'quorum', 'expected', '2')).toBe(1);
    expect(none.stderr).toEqual(['carillon quorum expected: Unable to set expected votes: carillond is not using votequorum: quorum.setExpected: no quorum provider is configured']);
  });

  it('reject out-of-range values as usage errors without contacting the daemon', async () => {
    for (const argv of [['expected', '0'], ['expected', '2147483648'], ['expected', 'x'], ['expected'], ['votes', '0', '1'], ['votes', '1', '-1'], ['votes', '4294967296', '1'], ['votes', '1']]) {
      expect(await h.run(capture(), 'quorum', ...argv)).toBe(2);
    }
    expect(h.clientsAccepted()).toBe(0);
    expect(await h.runUnreachable(capture(), 'quorum', 'votes', '1', '1')).toBe(3);
  });

  it('have EXAMPLES and EXIT STATUS in their help', async () => {
    for (const sub of ['status', 'expected', 'votes']) {
      const io = capture();
      expect(await runCli(['quorum', sub, '--help'], io)).toBe(0);
      expect(io.stdout.join('\n')).toMatch(/EXAMPLES[\s\S]*EXIT STATUS[\s\S]*3 +carillond is unreachable/);
    }
  });
});
