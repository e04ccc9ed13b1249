// `carillon quorum status|expected|votes` (architecture.md §2.8): corosync-quorumtool
// -s / -e / -v over the IPC protocol's quorum.* methods.
//
// `quorum status` prints quorumtool -s's layout (tools/corosync-quorumtool.c, 3.1.7,
// display_quorum_data + display_nodes_data, decimal node ids, default name format):
//
//   Quorum information
//   ------------------
//   Date:             Tue Mar  5 10:00:00 2024          ctime(3), local time
//   Quorum provider:  corosync_votequorum
//   Nodes:            2
//   Node ID:          1
//   Ring ID:          1.141                              CS_PRI_RING_ID: rep.seq in hex
//   Quorate:          Yes
//
//   Votequorum information
//   ----------------------
//   Expected votes:   3
//   Highest expected: 3
//   Total votes:      2
//   Quorum:           2                                  "%d %s": "2  " or "2 Activity blocked"
//   Flags:            Quorate                            each flag followed by a blank
//
//   Membership information
//   ----------------------
//       Nodeid      Votes Name                           "%10s " columns
//            1          1 pbx-a (local)
//            2          1 pbx-b
//
// Without a quorum provider quorumtool has no votequorum handle: the provider reads "Not
// configured", the ring id is the seq alone (CS_PRI_RING_ID_SEQ) and nothing follows
// "Quorate:" (quorumtool 3.1.7 then fails trying to track votequorum; we stop cleanly).
// A member without a name shows its first nodelist address, as quorumtool's fallback to
// the address; one votequorum has no record of is announced as quorumtool does
// ("Unable to get node N info") and shows 0 votes.
//
// Deviation: quorumtool -s exits 2 when the cluster is not quorate; 2 is Carillon's
// usage status, so `quorum status` exits 0 either way (--json's quorate tells).
//
// Exit status: 0 ok; 1 an error answer (refused value, no votequorum, unknown node);
// 2 usage; 3 the daemon is unreachable.

import { type Command, InvalidArgumentError } from 'commander';
import { IpcClientError } from '../../client/ipc-client';
import type { DaemonStatus, QuorumStatusJson } from '../../ipc/daemon-api';
import { IpcErrorCode } from '../../ipc/protocol';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import { formatRingId } from './status';
import type { CommandIo } from './wire-decode';

const INT_MAX = 0x7fffffff;
const UINT_MAX = 0xffffffff;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3) without its newline, in local time: "Tue Mar  5 10:00:00 2024". */
export function formatCtime(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[date.getDay()]} ${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2)} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${date.getFullYear()}`;
}

/** print_string_padded: right-aligned in 10 columns, then a blank. */
function padded(text: string): string {
  return `${text.padStart(10)} `;
}

/** The lines of `quorum status` (corosync-quorumtool -s); `addresses` names unnamed members. */
export function formatQuorumStatus(status: QuorumStatusJson, now: Date, addresses: ReadonlyMap<number, readonly string[]> = new Map()): string[] {
  const votequorum = status.provider !== null;
  const lines = [
    'Quorum information',
    '------------------',
    `Date:             ${formatCtime(now)}`,
    `Quorum provider:  ${status.provider ?? 'Not configured'}`,
    `Nodes:            ${status.members.length}`,
    `Node ID:          ${status.nodeId}`,
    `Ring ID:          ${votequorum ? formatRingId(status.ringId) : ringSeqHex(status.ringId.seq)}`,
    `Quorate:          ${status.quorate ? 'Yes' : 'No'}`,
  ];
  if (!votequorum) return lines;
  const quorateFlag = status.flags.includes('Quorate');
  lines.push(
    '',
    'Votequorum information',
    '----------------------',
    `Expected votes:   ${status.expectedVotes}`,
    `Highest expected: ${status.highestExpected}`,
    `Total votes:      ${status.totalVotes}`,
    `Quorum:           ${status.quorum} ${quorateFlag ? ' ' : 'Activity blocked'}`,
    `Flags:            ${status.flags.map((f) => `${f} `).join('')}`,
  );
  // display_nodes_data: failed getinfo calls are reported before the table.
  for (const m of status.members) if (m.votes === null) lines.push(`Unable to get node ${m.nodeId} info`);
  lines.push('', 'Membership information', '----------------------', `${padded('Nodeid')}${padded('Votes')}Name`);
  for (const m of status.members) {
    const name = m.name ?? addresses.get(m.nodeId)?.[0] ?? '';
    lines.push(`${padded(String(m.nodeId))}${padded(String(m.votes ?? 0))}${name}${m.local ? ' (local)' : ''}`);
  }
  return lines;
}

function ringSeqHex(seq: string): string {
  return /^\d+$/.test(seq) ? BigInt(seq).toString(16) : seq;
}

function looksLikeQuorumStatus(value: unknown): value is QuorumStatusJson {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  const ringId = s['ringId'] as Record<string, unknown> | null | undefined;
  return (
    typeof s['quorate'] === 'boolean' &&
    typeof s['nodeId'] === 'number' &&
    typeof ringId?.['rep'] === 'number' &&
    typeof ringId['seq'] === 'string' &&
    Array.isArray(s['flags']) &&
    Array.isArray(s['members'])
  );
}

function addressesOf(status: DaemonStatus): Map<number, readonly string[]> {
  const map = new Map<number, readonly string[]>();
  for (const node of [...status.nodelist, ...status.members]) {
    if (!map.has(node.nodeId) && Array.isArray(node.addresses)) map.set(node.nodeId, node.addresses);
  }
  return map;
}

function quorumErrorText(e: IpcClientError): string {
  switch (e.code) {
    case IpcErrorCode.unavailable:
      return `carillond is not using votequorum: ${e.message}`;
    case IpcErrorCode.quorumInvalidParam:
      return `CS_ERR_INVALID_PARAM: ${e.message}`;
    case IpcErrorCode.quorumNameNotFound:
      return `CS_ERR_NAME_NOT_FOUND: ${e.message}`;
    default:
      return `${e.message} (${e.code})`;
  }
}

export interface QuorumStatusOptions {
  json: boolean;
  /** The Date: line's time; default now. */
  now?: () => Date;
}

export function runQuorumStatus(socketPath: string, options: QuorumStatusOptions, io: CommandIo): Promise<number> {
  return withDaemon('quorum status', socketPath, io, async (client) => {
    let status: unknown;
    try {
      status = await client.call('quorum.status');
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon quorum status: Unable to get cluster quorate status: ${e.code === IpcErrorCode.unavailable ? `carillond runs no quorum service: ${e.message}` : `${e.message} (${e.code})`}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) {
      io.out(JSON.stringify(status));
      return DaemonCommandExit.ok;
    }
    if (!looksLikeQuorumStatus(status)) {
      io.err(`carillon quorum status: carillond at ${socketPath} sent a quorum status this CLI does not understand (different versions?); try --json`);
      return DaemonCommandExit.failure;
    }
    let addresses = new Map<number, readonly string[]>();
    if (status.provider !== null && status.members.some((m) => m.name === null)) {
      try {
        addresses = addressesOf(await client.call('status'));
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
      }
    }
    for (const line of formatQuorumStatus(status, options.now?.() ?? new Date(), addresses)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

export function runQuorumExpected(socketPath: string, votes: number, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('quorum expected', socketPath, io, async (client) => {
    try {
      await client.call('quorum.setExpected', { votes });
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon quorum expected: Unable to set expected votes: ${quorumErrorText(e)}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) io.out(JSON.stringify({ expectedVotes: votes, result: 'ok' }));
    return DaemonCommandExit.ok;
  });
}

export function runQuorumVotes(socketPath: string, nodeId: number, votes: number, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('quorum votes', socketPath, io, async (client) => {
    try {
      await client.call('quorum.setVotes', { nodeId, votes });
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon quorum votes: Unable to set votes ${votes} for nodeid: ${nodeId}: ${quorumErrorText(e)}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) io.out(JSON.stringify({ nodeId, votes, result: 'ok' }));
    return DaemonCommandExit.ok;
  });
}

function integerIn(min: number, max: number, what: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`${what} must be an integer in ${min}..${max}`);
    return Number(value);
  };
}

const parseExpected = integerIn(1, INT_MAX, 'expected votes');
const parseVotes = integerIn(0, INT_MAX, 'votes');
const parseNodeId = integerIn(1, UINT_MAX, 'the nodeid');

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

const STATUS_HELP = `
Prints the quorum state in corosync-quorumtool -s's layout:

  Quorum information
  ------------------
  Date:             Tue Mar  5 10:00:00 2024
  Quorum provider:  corosync_votequorum
  Nodes:            2
  Node ID:          1
  Ring ID:          1.141
  Quorate:          Yes

  Votequorum information
  ----------------------
  Expected votes:   3
  Highest expected: 3
  Total votes:      2
  Quorum:           2
  Flags:            Quorate

  Membership information
  ----------------------
      Nodeid      Votes Name
           1          1 pbx-a (local)
           2          1 pbx-b

The ring id is rep.seq in hex, as corosync prints it. "Activity blocked"
follows the quorum when votequorum is not quorate. Without a quorum provider
only the first block is printed (provider "Not configured"). Unlike
quorumtool, the exit status is 0 whether or not the cluster is quorate.

--json prints the status object on one line: provider, quorate, nodeId,
ringId { rep, seq }, expectedVotes, highestExpected, totalVotes, quorum,
flags, members [{ nodeId, votes, name, local }].

EXAMPLES
  carillon quorum status
  carillon quorum status --json | jq .quorate
  watch -n1 carillon quorum status

EXIT STATUS
  0   ok (quorate or not)
  1   the daemon answered with an error (it runs no quorum service)
  2   usage error
  3   carillond is unreachable`;

const EXPECTED_HELP = `
Sets the cluster's expected votes (corosync-quorumtool -e N), for instance to
let a partition that lost nodes for good regain quorum. votequorum refuses
values that would make the cluster lose quorum at once. Prints nothing on
success; --json prints { expectedVotes, result }.

EXAMPLES
  carillon quorum expected 2
  carillon quorum expected 3 && carillon quorum status

EXIT STATUS
  0   the value was accepted
  1   refused (CS_ERR_INVALID_PARAM), or carillond is not using votequorum
  2   usage error (N must be 1..2147483647)
  3   carillond is unreachable`;

const VOTES_HELP = `
Sets the votes of node NODEID (corosync-quorumtool -n NODEID -v N). Prints
nothing on success; --json prints { nodeId, votes, result }.

EXAMPLES
  carillon quorum votes 3 2
  carillon quorum votes 2 0 --json

EXIT STATUS
  0   the value was accepted
  1   refused (CS_ERR_INVALID_PARAM), no such node (CS_ERR_NAME_NOT_FOUND), or
      carillond is not using votequorum
  2   usage error (NODEID 1..4294967295, N 0..2147483647)
  3   carillond is unreachable`;

/** Adds `carillon quorum status|expected|votes` to the program. */
export function registerQuorumCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const quorum = program.command('quorum').description('quorum state and votequorum settings (like corosync-quorumtool)');
  quorum
    .command('status')
    .description('show the quorum state (like corosync-quorumtool -s)')
    .option('--json', 'the quorum status object, on one line')
    .addHelpText('after', STATUS_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runQuorumStatus(socketOf(command), { json: flags.json === true }, io));
    });
  quorum
    .command('expected')
    .description('set the expected votes of the cluster (like corosync-quorumtool -e)')
    .argument('<n>', 'expected votes (1..2147483647)', parseExpected)
    .option('--json', 'one JSON object describing the result')
    .addHelpText('after', EXPECTED_HELP)
    .action(async (votes: number, flags: { json?: boolean }, command: Command) => {
      setExitCode(await runQuorumExpected(socketOf(command), votes, { json: flags.json === true }, io));
    });
  quorum
    .command('votes')
    .description('set the votes of a node (like corosync-quorumtool -n NODEID -v N)')
    .argument('<nodeid>', 'the node (1..4294967295)', parseNodeId)
    .argument('<n>', 'its votes (0..2147483647)', parseVotes)
    .option('--json', 'one JSON object describing the result')
    .addHelpText('after', VOTES_HELP)
    .action(async (nodeId: number, votes: number, flags: { json?: boolean }, command: Command) => {
      setExitCode(await runQuorumVotes(socketOf(command), nodeId, votes, { json: flags.json === true }, io));
    });
}
