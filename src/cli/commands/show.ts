// `carillon show members [--json]` (architecture.md §2.8): Asterisk res_corosync's
// `corosync show members`, byte for byte (res-corosync.md §1.6, corosync ≥ 2 form):
//
//   (empty line)
//   =============================================================
//   === Cluster members =========================================
//   =============================================================
//   ===
//   === Node 1                   1-based counter over every member, not the nodeid
//   === --> Group: asterisk
//   === --> Nodeid: 1
//   ===
//   =============================================================
//   (empty line)
//
// As res_corosync (cpg_iteration_initialize(CPG_ITERATION_ALL)), every member process of
// every CPG group on the host is listed, not only the asterisk group; the list comes from
// cpg.groups. --json prints [{ group, nodeId, pid }] in the same order.
//
// Exit status: 0 ok; 1 the daemon answered with an error (res_corosync's "Failed to
// initialize CPG iterator"); 2 usage; 3 the daemon is unreachable.

import type { Command } from 'commander';
import { IpcClientError } from '../../client/ipc-client';
import { registerBridgeCommands } from './bridge';
import type { CpgGroupJson } from '../../ipc/daemon-api';
import { IpcErrorCode } from '../../ipc/protocol';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import type { CommandIo } from './wire-decode';

const RULE = '=============================================================';

/** The lines of `show members`, the empty first and last lines included. */
export function formatShowMembers(groups: readonly CpgGroupJson[]): string[] {
  const lines = ['', RULE, '=== Cluster members =========================================', RULE, '==='];
  let node = 0;
  for (const g of groups) {
    for (const m of g.members) {
      node++;
      lines.push(`=== Node ${node}`, `=== --> Group: ${g.group}`, `=== --> Nodeid: ${m.nodeId}`);
    }
  }
  lines.push('===', RULE, '');
  return lines;
}

export function runShowMembers(socketPath: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('show members', socketPath, io, async (client) => {
    let groups: CpgGroupJson[];
    try {
      ({ groups } = await client.call('cpg.groups'));
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      const why = e.code === IpcErrorCode.unavailable ? `carillond runs no CPG service (${e.message})` : `${e.message} (${e.code})`;
      io.err(`carillon show members: Failed to initialize CPG iterator: ${why}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) {
      io.out(JSON.stringify(groups.flatMap((g) => g.members.map((m) => ({ group: g.group, nodeId: m.nodeId, pid: m.pid })))));
      return DaemonCommandExit.ok;
    }
    for (const line of formatShowMembers(groups)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

const MEMBERS_HELP = `
Prints the cluster's CPG members as Asterisk's \`corosync show members\`
(res_corosync) does, byte for byte, so scripts written for it keep working:

  (empty line)
  =============================================================
  === Cluster members =========================================
  =============================================================
  ===
  === Node 1
  === --> Group: asterisk
  === --> Nodeid: 1
  === Node 2
  === --> Group: asterisk
  === --> Nodeid: 2
  ===
  =============================================================
  (empty line)

As res_corosync, every member process of every CPG group is listed (not only
asterisk's), and "Node N" counts them from 1: it is not the nodeid. --json
prints one array of { group, nodeId, pid }, in the same order.

EXAMPLES
  carillon show members
  carillon show members | grep -c '^=== Node'
  carillon show members --json | jq -r '.[] | select(.group == "asterisk") | .nodeId'

EXIT STATUS
  0   ok
  1   the daemon answered with an error (it runs no CPG service)
  2   usage error
  3   carillond is unreachable`;

/** Adds `carillon show members` (and the bridge's show config/states and ping) to the program. */
export function registerShowCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const show = program.command('show').description("res_corosync's CLI views (corosync show ...)");
  show
    .command('members')
    .description('list the CPG members of every group (like Asterisk\'s "corosync show members")')
    .option('--json', 'one JSON array of { group, nodeId, pid }')
    .addHelpText('after', MEMBERS_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runShowMembers(socketOf(command), { json: flags.json === true }, io));
    });
  registerBridgeCommands(program, show, io, setExitCode);
}
