// `carillon status [--json]` — the `corosync-cfgtool -s` of Carillon (architecture.md
// §2.8, §3.3). The first block mirrors what corosync 3.1.7's cfgtool prints for a
// udp/udpu node (tools/corosync-cfgtool.c, link-order branch): the local node id and
// transport, then the one link (LINK ID 0, the local address) and one status line per
// nodelist entry in nodeid order, the nodeid right-aligned in 10 columns as
// CS_PRI_NODE_ID_PADDED, the local node shown as `localhost`. Deviation: for udp/udpu
// cfgtool prints "LINK ID 0 " with an empty transport name after it; the trailing blank
// is dropped here.
//
// After a blank line come what cfgtool does not show: cluster name, ring id written as
// corosync writes it (CS_PRI_RING_ID, rep.seq both in hex, e.g. 1.141, as in its logs
// and in corosync-quorumtool's "Ring ID:"), the Totem state, members, quorum, crypto,
// uptime and version.
//
// --json prints the daemon's DaemonStatus object unchanged, on one line.
//
// Exit status: 0 ok; 1 the daemon answered with an error; 2 usage; 3 the daemon is
// unreachable (src/cli/daemon-connection.ts).

import type { Command } from 'commander';
import type { DaemonStatus } from '../../ipc/daemon-api';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import type { CommandIo } from './wire-decode';

export interface StatusOptions {
  json: boolean;
}

const STATUS_HELP = `
Prints the local node's view of the ring. The first block has the layout of
\`corosync-cfgtool -s\` (corosync 3.1.7 on udp/udpu: one link, LINK ID 0, the
local address, one status line per nodelist node); the second block adds the
ring id (rep.seq in hex, as corosync logs it), the Totem state (operational,
gather, commit, recovery), the current members, quorum, crypto, uptime and
version:

  Local node ID 1, transport udpu
  LINK ID 0
          addr    = 10.0.0.1
          status:
                  nodeid:          1:     localhost
                  nodeid:          2:     connected
                  nodeid:          3:     disconnected

  Cluster name: pbx-trio
  Ring ID: 1.141
  State: operational
  Members: 1 2
  ...

--json prints the daemon's status object on one line: nodeId, clusterName,
transport, crypto, ringId { rep, seq (u64 as a decimal string) }, state,
members [{ nodeId, name, addresses }], nodelist (with status), quorate (null
while there is no quorum service), uptimeSec, version, stats.

EXAMPLES
  carillon status
  carillon status --json | jq -r .state
  carillon --socket /run/carillon/node2.sock status
  CARILLON_SOCKET=/tmp/carillon.sock carillon status --json

FILES
  ${SocketOption.defaultPath}
      default IPC socket (carillon { ipc_socket } in the configuration)

ENVIRONMENT
  ${SocketOption.env}   IPC socket path when --socket is not given

EXIT STATUS
  0   ok
  1   the daemon answered with an error
  2   usage error
  3   carillond is unreachable (no socket, nothing listening, permission
      denied, no answer)`;

/** A ring id as corosync prints it (CS_PRI_RING_ID: rep and seq in hex). */
export function formatRingId(ringId: { rep: number; seq: string }): string {
  const seq = /^\d+$/.test(ringId.seq) ? BigInt(ringId.seq).toString(16) : ringId.seq;
  return `${ringId.rep.toString(16)}.${seq}`;
}

function formatUptime(totalSec: number): string {
  const sec = Math.max(0, Math.floor(totalSec));
  const parts: Array<[number, string]> = [
    [Math.floor(sec / 86400), 'd'],
    [Math.floor((sec % 86400) / 3600), 'h'],
    [Math.floor((sec % 3600) / 60), 'm'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  const shown = first === -1 ? [] : parts.slice(first);
  return [...shown.map(([n, unit]) => `${n}${unit}`), `${sec % 60}s`].join(' ');
}

function formatQuorate(quorate: boolean | null): string {
  if (quorate === null) return 'unknown (no quorum service)';
  return quorate ? 'Yes' : 'No';
}

/** The text output of `carillon status`, one string per line. */
export function formatStatus(status: DaemonStatus): string[] {
  const lines = [`Local node ID ${status.nodeId}, transport ${status.transport}`];
  const nodes = [...status.nodelist].sort((a, b) => a.nodeId - b.nodeId);
  // cfgtool prints nothing about links when the nodelist is empty ("No nodes found").
  if (nodes.length > 0) {
    const self = nodes.find((n) => n.nodeId === status.nodeId) ?? status.members.find((m) => m.nodeId === status.nodeId);
    lines.push('LINK ID 0', `\taddr\t= ${self?.addresses[0] ?? '(unknown)'}`, '\tstatus:');
    for (const node of nodes) {
      // As cfgtool: the local node is "localhost" whatever its link says.
      const state = node.nodeId === status.nodeId ? 'localhost' : node.status;
      lines.push(`\t\tnodeid: ${String(node.nodeId).padStart(10)}:\t${state}`);
    }
  }
  lines.push(
    '',
    `Cluster name: ${status.clusterName}`,
    `Ring ID: ${formatRingId(status.ringId)}`,
    `State: ${status.state}`,
    `Members: ${status.members.map((m) => m.nodeId).sort((a, b) => a - b).join(' ')}`,
    `Quorate: ${formatQuorate(status.quorate)}`,
    `Crypto: ${status.crypto ? 'on (AES-256-GCM)' : 'off'}`,
    `Uptime: ${formatUptime(status.uptimeSec)}`,
    `Version: carillond ${status.version}`,
  );
  return lines;
}

/** Enough of DaemonStatus to format it: a daemon of another version must not crash the CLI. */
function looksLikeStatus(value: unknown): value is DaemonStatus {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  const ringId = s['ringId'] as Record<string, unknown> | null | undefined;
  return (
    typeof s['nodeId'] === 'number' &&
    typeof s['transport'] === 'string' &&
    typeof ringId?.['rep'] === 'number' &&
    typeof ringId['seq'] === 'string' &&
    Array.isArray(s['members']) &&
    Array.isArray(s['nodelist'])
  );
}

/** Asks the daemon at socketPath for its status and prints it; returns the exit status. */
export function runStatus(socketPath: string, options: StatusOptions, io: CommandIo): Promise<number> {
  return withDaemon('status', socketPath, io, async (client) => {
    const status: unknown = await client.call('status');
    if (options.json) {
      io.out(JSON.stringify(status));
      return DaemonCommandExit.ok;
    }
    if (!looksLikeStatus(status)) {
      io.err(`carillon status: carillond at ${socketPath} sent a status this CLI does not understand (different versions?); try --json`);
      return DaemonCommandExit.failure;
    }
    for (const line of formatStatus(status)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

/** Adds `carillon status` to the program. */
export function registerStatusCommand(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  program
    .command('status')
    .description("show the local node's ring status (like corosync-cfgtool -s)")
    .option('--json', "the daemon's status object, on one line")
    .addHelpText('after', STATUS_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      const socketPath = command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
      setExitCode(await runStatus(socketPath, { json: flags.json === true }, io));
    });
}
