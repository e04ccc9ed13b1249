// `carillon sam status|start|stop` (architecture.md §2.8, §3.3; issue 6): the
// availability manager's view over the IPC protocol's sam.status, amf.start and
// amf.stop. `sam status` prints two tables, the supervised programs of amf { } and the
// SAM-registered applications:
//
//   Supervised programs
//   NAME      STATE    PID    RESTARTS  WINDOW  HEALTH  QUORUM  LAST EXIT       LAST FAILURE
//   asterisk  running  12345  1         1/5     ok      stop    signal SIGKILL  exited unexpectedly (signal SIGKILL)
//
//   SAM applications
//   NAME   STATE       PID   RECOVERY  INTERVAL  LAST HEARTBEAT  FAILURES  LAST FAILURE
//   myapp  registered  2345  quit      1000 ms   230 ms ago      0         -
//
// WINDOW is restarts inside restart_window / max_restarts; a program in backoff shows
// when it restarts. --json prints the sam.status object: { processes, apps, quorate }.
// `sam start NAME` / `sam stop NAME` are the operator's start (a fresh start: the
// escalation and the restart history are cleared) and stop (SIGTERM, SIGKILL after
// stop_timeout; it stays stopped until started); they print the program's new line.
//
// Exit status: 0 ok; 1 an error answer (no such program, no availability manager);
// 2 usage; 3 the daemon is unreachable.

import { type Command, InvalidArgumentError } from 'commander';
import { IpcClientError } from '../../client/ipc-client';
import type { AmfProcessJson, SamAppJson, SamStatusJson } from '../../ipc/daemon-api';
import { IpcErrorCode } from '../../ipc/protocol';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import type { CommandIo } from './wire-decode';

/** Left-aligned columns separated by two blanks; the last column is not padded. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function stateText(p: AmfProcessJson): string {
  if (p.state === 'backoff' && p.restartInMs !== null) return `backoff (restart in ${seconds(p.restartInMs)})`;
  return p.state;
}

function healthText(p: AmfProcessJson): string {
  if (p.healthCheck === 'none') return '-';
  return p.healthFailures === 0 ? 'ok' : `${p.healthFailures} failed`;
}

function processRow(p: AmfProcessJson): string[] {
  return [
    p.name,
    stateText(p),
    p.pid === null ? '-' : String(p.pid),
    String(p.restarts),
    `${p.restartsInWindow}/${p.maxRestarts}`,
    healthText(p),
    p.quorumPolicy === 'none' ? '-' : p.quorumPolicy,
    p.lastExit ?? '-',
    p.lastFailure ?? '-',
  ];
}

function appRow(a: SamAppJson): string[] {
  return [
    a.name,
    a.state,
    String(a.pid),
    a.recovery,
    `${a.heartbeatIntervalMs} ms`,
    a.lastHeartbeatAgeMs === null ? '-' : `${a.lastHeartbeatAgeMs} ms ago`,
    String(a.failures),
    a.lastFailure ?? '-',
  ];
}

/** The lines of `sam status`. */
export function formatSamStatus(status: SamStatusJson): string[] {
  const lines = ['Supervised programs'];
  if (status.processes.length === 0) lines.push('(none: amf { } lists no process { })');
  else lines.push(...table([['NAME', 'STATE', 'PID', 'RESTARTS', 'WINDOW', 'HEALTH', 'QUORUM', 'LAST EXIT', 'LAST FAILURE'], ...status.processes.map(processRow)]));
  lines.push('', 'SAM applications');
  if (status.apps.length === 0) lines.push('(none registered)');
  else lines.push(...table([['NAME', 'STATE', 'PID', 'RECOVERY', 'INTERVAL', 'LAST HEARTBEAT', 'FAILURES', 'LAST FAILURE'], ...status.apps.map(appRow)]));
  return lines;
}

function looksLikeSamStatus(value: unknown): value is SamStatusJson {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return Array.isArray(s['processes']) && Array.isArray(s['apps']);
}

function errorText(e: IpcClientError): string {
  if (e.code === IpcErrorCode.unavailable) return `carillond runs no availability manager: ${e.message}`;
  return `${e.message} (${e.code})`;
}

export function runSamStatus(socketPath: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('sam status', socketPath, io, async (client) => {
    let status: unknown;
    try {
      status = await client.call('sam.status');
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon sam status: ${errorText(e)}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) {
      io.out(JSON.stringify(status));
      return DaemonCommandExit.ok;
    }
    if (!looksLikeSamStatus(status)) {
      io.err(`carillon sam status: carillond at ${socketPath} sent a status this CLI does not understand (different versions?); try --json`);
      return DaemonCommandExit.failure;
    }
    for (const line of formatSamStatus(status)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

export function runSamStartStop(socketPath: string, action: 'start' | 'stop', name: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon(`sam ${action}`, socketPath, io, async (client) => {
    let result: AmfProcessJson;
    try {
      result = await client.call(action === 'start' ? 'amf.start' : 'amf.stop', { name });
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon sam ${action}: ${errorText(e)}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) io.out(JSON.stringify(result));
    else io.out(`${result.name}: ${stateText(result)}${result.pid === null ? '' : ` (pid ${result.pid})`}`);
    return DaemonCommandExit.ok;
  });
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

const STATUS_HELP = `
Prints the programs carillond supervises (amf { process { } } in its
configuration) and the applications registered over IPC (SAM, like corosync's
libsam), one table each:

  Supervised programs
  NAME      STATE    PID    RESTARTS  WINDOW  HEALTH  QUORUM  LAST EXIT       LAST FAILURE
  asterisk  running  12345  1         1/5     ok      stop    signal SIGKILL  exited unexpectedly (signal SIGKILL)

  SAM applications
  NAME   STATE       PID   RECOVERY  INTERVAL  LAST HEARTBEAT  FAILURES  LAST FAILURE
  myapp  registered  2345  quit      1000 ms   230 ms ago      0         -

STATE is stopped, waiting-quorum (quorum_policy stop and no quorum), starting,
running, stopping, backoff (with the time to the restart), escalated (too many
restarts in restart_window; stays stopped until \`carillon sam start\`) or failed
(a SAM registration with recovery quit failed). RESTARTS counts restarts after
failures since carillond started; WINDOW is restarts in restart_window /
max_restarts. The same state is in cmap under resources.process.<name>.* and
resources.sam.<name>.*.

--json prints the sam.status object on one line: processes [{ name, state,
pid, command, restarts, restartsInWindow, maxRestarts, restartWindowMs,
restartInMs, uptimeMs, healthCheck, healthFailures, lastExit, lastFailure,
escalated, escalation, quorumPolicy }], apps [{ name, state, pid, recovery,
heartbeatIntervalMs, lastHeartbeatAgeMs, failures, lastFailure, supervised }],
quorate.

EXAMPLES
  carillon sam status
  carillon sam status --json | jq '.processes[] | {name, state, restarts}'
  carillon cmap list resources.process.

EXIT STATUS
  0   ok
  1   the daemon answered with an error
  2   usage error
  3   carillond is unreachable`;

const START_HELP = `
Starts a supervised program by hand. This is a fresh start: an escalation and
the restart history are cleared, so max_restarts counts from zero again. With
quorum_policy stop and no quorum it waits for quorum (state waiting-quorum).
Prints "NAME: STATE (pid PID)"; --json prints the program's status object.

EXAMPLES
  carillon sam start asterisk
  carillon sam start asterisk --json | jq .state

EXIT STATUS
  0   started (or already running)
  1   no supervised program of that name, or carillond is stopping
  2   usage error
  3   carillond is unreachable`;

const STOP_HELP = `
Stops a supervised program by hand: SIGTERM to its process group, SIGKILL after
stop_timeout. It stays stopped (no restart, quorum changes do not start it)
until \`carillon sam start NAME\`. Prints "NAME: STATE"; --json prints the
program's status object.

EXAMPLES
  carillon sam stop asterisk
  carillon sam stop asterisk && carillon sam status

EXIT STATUS
  0   stopping (or already stopped)
  1   no supervised program of that name
  2   usage error
  3   carillond is unreachable`;

function parseName(value: string): string {
  // commander turns this into a usage error (exit 2).
  if (!NAME_PATTERN.test(value)) throw new InvalidArgumentError('a program name is 1..64 characters of [A-Za-z0-9_-]');
  return value;
}

/** Adds `carillon sam status|start|stop` to the program. */
export function registerSamCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const sam = program.command('sam').description('the availability manager: supervised programs and SAM applications');
  sam
    .command('status')
    .description('show the supervised programs and the SAM-registered applications')
    .option('--json', 'the sam.status object, on one line')
    .addHelpText('after', STATUS_HELP)
    .action(async (flags: { json?: boolean }, command: Command) => {
      setExitCode(await runSamStatus(socketOf(command), { json: flags.json === true }, io));
    });
  for (const action of ['start', 'stop'] as const) {
    sam
      .command(action)
      .description(action === 'start' ? 'start a supervised program (clears its escalation)' : 'stop a supervised program until it is started again')
      .argument('<name>', 'the program (amf { process { name } })', parseName)
      .option('--json', "the program's status object")
      .addHelpText('after', action === 'start' ? START_HELP : STOP_HELP)
      .action(async (name: string, flags: { json?: boolean }, command: Command) => {
        setExitCode(await runSamStartStop(socketOf(command), action, name, { json: flags.json === true }, io));
      });
  }
}
