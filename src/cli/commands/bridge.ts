// The Asterisk bridge's CLI (architecture.md §2.8; res-corosync.md §1.6):
//   carillon show config [--json]   res_corosync's `corosync show config`, byte for byte
//   carillon ping [--json]          res_corosync's `corosync ping`: prints nothing; the
//                                   NOTICE lines appear in every node's log
//   carillon show states [--json]   every device state, mailbox and presence the bridge
//                                   knows, per origin, with the aggregate
// All three ask the running carillond (bridge.status / bridge.ping), so they show what
// the daemon loaded, as Asterisk's CLI shows what the module loaded.
//
// Exit status: 0 ok; 1 the daemon answered with an error (no bridge configured, or
// not ready to ping); 2 usage; 3 the daemon is unreachable.

import type { Command } from 'commander';
import { IpcClientError } from '../../client/ipc-client';
import type { BridgeConfigJson, BridgeStatusJson } from '../../ipc/daemon-api';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import type { CommandIo } from './wire-decode';

const RULE = '=============================================================';

/** res_corosync's event types in its order (by ast_event type number; presence is Carillon's). */
const TYPE_ORDER = ['mwi', 'device_state', 'presence_state', 'ping', 'cluster_discovery'] as const;

/** The lines of `show config`, the empty first and last lines included. */
export function formatShowConfig(config: Pick<BridgeConfigJson, 'publish' | 'subscribe'>): string[] {
  const lines = ['', RULE, '=== res_corosync config =====================================', RULE, '==='];
  for (const type of TYPE_ORDER) {
    if (config.publish.includes(type)) lines.push(`=== ==> Publishing Event Type: ${type}`);
    if (config.subscribe.includes(type)) lines.push(`=== ==> Subscribing to Event Type: ${type}`);
  }
  lines.push('===', RULE, '');
  return lines;
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text.padEnd(width);
}

/** The text of `show states`. */
export function formatShowStates(status: BridgeStatusJson): string[] {
  const lines: string[] = [];
  const ami = status.ami === null ? 'not configured' : status.ami.connected ? 'connected' : `disconnected${status.ami.lastError === null ? '' : ` (${status.ami.lastError})`}`;
  lines.push(`EID: ${status.eid ?? '(unknown)'}   group asterisk: ${status.joined ? 'joined' : 'not joined'}   AMI: ${ami}`);
  for (const problem of status.problems) lines.push(`PROBLEM: ${problem}`);
  lines.push('', `Nodes (cluster discovery): ${status.nodes.length}`);
  for (const n of status.nodes) lines.push(`  Node ${n.nodeId} (${n.eid}) at ${n.localAddr}`);
  lines.push('', `Device states: ${status.devices.length}`);
  if (status.devices.length > 0) {
    const w = Math.max(6, ...status.devices.map((d) => d.device.length)) + 2;
    lines.push(`  ${pad('DEVICE', w)}${pad('LOCAL', 11)}${pad('AGGREGATE', 11)}REMOTE (eid node: state) -> WRITTEN AS`);
    for (const d of status.devices) {
      const remote = d.remote.map((r) => `${r.eid} ${r.nodeId}: ${r.state}`).join(', ');
      const written = d.remote.length > 0 || d.injected !== null ? ` -> ${d.mappedName} = ${d.injected ?? '(not yet)'}` : '';
      lines.push(`  ${pad(d.device, w)}${pad(d.local ?? '-', 11)}${pad(d.aggregate, 11)}${remote === '' ? '-' : remote}${written}`);
    }
  }
  lines.push('', `Mailboxes: ${status.mailboxes.length}`);
  if (status.mailboxes.length > 0) {
    const w = Math.max(7, ...status.mailboxes.map((m) => m.mailbox.length)) + 2;
    lines.push(`  ${pad('MAILBOX', w)}${pad('NEW', 6)}${pad('OLD', 6)}LAST WRITER`);
    for (const m of status.mailboxes) {
      const origin = m.local ? `local (${m.eid ?? '?'})` : `${m.eid ?? '?'} node ${m.nodeId ?? '?'}`;
      lines.push(`  ${pad(m.mailbox, w)}${pad(String(m.newMessages), 6)}${pad(String(m.oldMessages), 6)}${origin}`);
    }
  }
  if (status.presence.length > 0) {
    lines.push('', `Presence: ${status.presence.length}`);
    for (const p of status.presence) {
      const local = p.local === null ? '-' : `${p.local.state}${p.local.subtype === '' ? '' : `,${p.local.subtype}`}`;
      const remote = p.remote.map((r) => `${r.eid} ${r.nodeId}: ${r.state}`).join(', ');
      lines.push(`  ${p.provider}  local ${local}  remote ${remote === '' ? '-' : remote}`);
    }
  }
  return lines;
}

async function bridgeStatus(client: Parameters<Parameters<typeof withDaemon>[3]>[0], command: string, io: CommandIo): Promise<BridgeStatusJson | null> {
  try {
    return await client.call('bridge.status');
  } catch (e) {
    if (!(e instanceof IpcClientError)) throw e;
    io.err(`carillon ${command}: ${e.message} (${e.code})`);
    return null;
  }
}

export function runShowConfig(socketPath: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('show config', socketPath, io, async (client) => {
    const status = await bridgeStatus(client, 'show config', io);
    if (status === null) return DaemonCommandExit.failure;
    if (options.json) io.out(JSON.stringify(status.config));
    else for (const line of formatShowConfig(status.config)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

export function runShowStates(socketPath: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('show states', socketPath, io, async (client) => {
    const status = await bridgeStatus(client, 'show states', io);
    if (status === null) return DaemonCommandExit.failure;
    if (options.json) io.out(JSON.stringify(status));
    else for (const line of formatShowStates(status)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

export function runPing(socketPath: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('ping', socketPath, io, async (client) => {
    try {
      const { eid } = await client.call('bridge.ping');
      // res_corosync's ping prints nothing on the CLI: the NOTICEs go to the logs.
      if (options.json) io.out(JSON.stringify({ sent: true, eid }));
      return DaemonCommandExit.ok;
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      if (options.json) io.out(JSON.stringify({ sent: false, error: { code: e.code, message: e.message } }));
      io.err(`carillon ping: ${e.message} (${e.code})`);
      return DaemonCommandExit.failure;
    }
  });
}

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

const CONFIG_HELP = `
Prints the res_corosync.conf that carillond loaded as Asterisk's
\`corosync show config\` does, byte for byte: one "Publishing" and/or
"Subscribing" line per enabled event type, in the order mwi, device_state,
(presence_state, Carillon only,) ping, cluster_discovery. ping and
cluster_discovery are always on. --json prints the bridge settings (no secrets).

EXIT STATUS
  0 ok; 1 carillond runs no bridge (set res_corosync_conf in carillon { });
  2 usage; 3 carillond is unreachable`;

const STATES_HELP = `
Every device state, mailbox and presence state the bridge knows: the local
Asterisk's own, each remote origin's (by EID and nodeid), the aggregate with
Asterisk's priority rules, and the mapped name and value written into the
local Asterisk. --json prints the whole bridge status, counters included.`;

const PING_HELP = `
Sends res_corosync's PING to every member of group asterisk. Like
\`corosync ping\` it prints nothing: this node logs "Sending event PING from
this server with EID: '<eid>'" and every other node (Asterisk with
res_corosync, or carillond) logs "Got event PING from server with EID:
'<eid>'".

EXIT STATUS
  0 sent; 1 not sent (no bridge, not joined yet, EID unknown); 3 unreachable`;

/** Adds `show config`, `show states` (under `show`) and `ping`. */
export function registerBridgeCommands(program: Command, show: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  show
    .command('config')
    .description('show the loaded res_corosync.conf (like Asterisk\'s "corosync show config")')
    .option('--json', 'the bridge settings as JSON')
    .addHelpText('after', CONFIG_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runShowConfig(socketOf(command), { json: flags.json === true }, io));
    });
  show
    .command('states')
    .description('device states, mailboxes and presence per origin, with the aggregate')
    .option('--json', 'the whole bridge status as JSON')
    .addHelpText('after', STATES_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runShowStates(socketOf(command), { json: flags.json === true }, io));
    });
  program
    .command('ping')
    .description('send a PING to every member of group asterisk (like Asterisk\'s "corosync ping")')
    .option('--json', 'print {sent, eid} instead of nothing')
    .addHelpText('after', PING_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runPing(socketOf(command), { json: flags.json === true }, io));
    });
}
