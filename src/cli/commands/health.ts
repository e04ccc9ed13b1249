// `carillon wait-ready` and `carillon health` (architecture.md §2.8, §3.3 "Health
// endpoint"): the readiness verdict of `GET /readyz` (src/ipc/readiness.ts) taken over the
// IPC socket, for the places that have no HTTP client or whose daemon runs with
// `http_listen: off`:
//
//   carillon wait-ready [--timeout SEC] [--quorate] [--json]
//       polls `status` until the daemon is ready (ring operational, sync done, IPC up;
//       --quorate: and quorate), reconnecting while the socket is not there yet — the
//       systemd unit's ExecStartPost, so `systemctl start carillond` returns once the
//       node is usable. Exit 0 ready, 1 not ready within --timeout (default 60 s).
//   carillon health [--quorate] [--json]
//       one check, for a Docker HEALTHCHECK: exit 0 when the daemon answers over IPC and
//       is ready, else 1 (unreachable included).
//
// An answering daemon is listening on IPC, so the ipc check passes by construction.

import { type Command, InvalidArgumentError } from 'commander';
import { IpcClient, IpcClientError } from '../../client/ipc-client';
import type { DaemonStatus } from '../../ipc/daemon-api';
import { type ReadinessResult, assessReadiness } from '../../ipc/readiness';
import { DAEMON_TIMEOUT_MS, type GlobalOptions, SocketOption } from '../daemon-connection';
import { formatRingId } from './status';
import type { CommandIo } from './wire-decode';

export const HealthExit = { ready: 0, notReady: 1, usage: 2 } as const;

export const WaitReadyDefaults = {
  timeoutSec: 60,
  /** Between two status polls. */
  pollMs: 200,
  /** Longest wait for one connect + hello or one status call. */
  attemptMs: 2000,
} as const;

/** Longest --timeout: a day, far beyond any start timeout a unit would set. */
const TIMEOUT_SEC_MAX = 86_400;

export interface HealthOptions {
  readonly requireQuorate: boolean;
  readonly json: boolean;
}

export interface WaitReadyOptions extends HealthOptions {
  readonly timeoutSec: number;
  readonly pollMs?: number;
}

interface Verdict {
  readonly ready: boolean;
  readonly result: ReadinessResult | null;
  readonly status: DaemonStatus | null;
  /** Why the daemon could not be asked (unreachable, timeout, error answer). */
  readonly error: string | null;
}

function errorText(e: unknown): string {
  if (e instanceof IpcClientError) return `${e.message} (${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function judge(status: DaemonStatus, requireQuorate: boolean): Verdict {
  const result = assessReadiness({ state: status.state, syncing: status.syncing, quorate: status.quorate, ipcListening: true }, { requireQuorate });
  return { ready: result.ready, result, status, error: null };
}

function summary(status: DaemonStatus): string {
  const members = status.members.map((m) => m.nodeId).sort((a, b) => a - b).join(' ');
  const quorate = status.quorate === null ? 'unknown' : status.quorate ? 'yes' : 'no';
  return `node ${status.nodeId}, ring ${formatRingId(status.ringId)}, members ${members}, quorate ${quorate}`;
}

function verdictJson(verdict: Verdict, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ready: verdict.ready,
    ...extra,
    checks: verdict.result?.checks ?? {},
    problems: verdict.error === null ? (verdict.result?.problems ?? []) : [`ipc: ${verdict.error}`],
    nodeId: verdict.status?.nodeId ?? null,
    state: verdict.status?.state ?? null,
    quorate: verdict.status?.quorate ?? null,
  });
}

function problemsText(verdict: Verdict): string {
  if (verdict.error !== null) return `cannot ask carillond: ${verdict.error}`;
  return (verdict.result?.problems ?? []).join('; ');
}

/** Parses --timeout: seconds, decimals allowed, > 0. */
export function parseTimeoutSec(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('expected a number of seconds');
  const sec = Number(value);
  if (!(sec > 0) || sec > TIMEOUT_SEC_MAX) throw new InvalidArgumentError(`expected seconds in (0, ${TIMEOUT_SEC_MAX}]`);
  return sec;
}

/** `carillon health`: one status call; 0 ready, 1 anything else. */
export async function runHealth(socketPath: string, options: HealthOptions, io: CommandIo): Promise<number> {
  let verdict: Verdict;
  let client: IpcClient | null = null;
  try {
    client = await IpcClient.connect(socketPath, { timeoutMs: DAEMON_TIMEOUT_MS, clientName: 'carillon health' });
    verdict = judge(await client.call('status'), options.requireQuorate);
  } catch (e) {
    if (!(e instanceof IpcClientError)) throw e;
    verdict = { ready: false, result: null, status: null, error: errorText(e) };
  } finally {
    await client?.close();
  }
  if (options.json) io.out(verdictJson(verdict));
  else if (verdict.ready && verdict.status !== null) io.out(`ready: ${summary(verdict.status)}`);
  else io.err(`carillon health: not ready: ${problemsText(verdict)}`);
  return verdict.ready ? HealthExit.ready : HealthExit.notReady;
}

/** `carillon wait-ready`: polls until ready or --timeout; 0 ready, 1 timed out. */
export async function runWaitReady(socketPath: string, options: WaitReadyOptions, io: CommandIo): Promise<number> {
  const startMs = performance.now();
  const deadlineMs = startMs + options.timeoutSec * 1000;
  const pollMs = options.pollMs ?? WaitReadyDefaults.pollMs;
  let client: IpcClient | null = null;
  let verdict: Verdict = { ready: false, result: null, status: null, error: 'not asked yet' };
  try {
    for (;;) {
      const leftMs = deadlineMs - performance.now();
      const attemptMs = Math.max(50, Math.min(WaitReadyDefaults.attemptMs, leftMs));
      try {
        client ??= await IpcClient.connect(socketPath, { timeoutMs: attemptMs, clientName: 'carillon wait-ready' });
        verdict = judge(await client.call('status', {}, { timeoutMs: attemptMs }), options.requireQuorate);
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
        verdict = { ready: false, result: null, status: null, error: errorText(e) };
        // A refused call or a dropped connection: start over with a new one.
        await client?.close();
        client = null;
      }
      if (verdict.ready) break;
      if (performance.now() + pollMs >= deadlineMs) break;
      await delay(pollMs);
    }
  } finally {
    await client?.close();
  }
  const waitedSec = Math.round(performance.now() - startMs) / 1000;
  if (options.json) io.out(verdictJson(verdict, { waitedSec }));
  else if (verdict.ready && verdict.status !== null) io.out(`carillond ready after ${waitedSec} s: ${summary(verdict.status)}`);
  else io.err(`carillon wait-ready: not ready after ${options.timeoutSec} s: ${problemsText(verdict)}`);
  return verdict.ready ? HealthExit.ready : HealthExit.notReady;
}

const READY_TEXT = `A node is ready when its Totem ring is operational, the service sync after the
last membership change has completed and its IPC socket answers — the verdict
of GET /readyz on carillon { http_listen }. --quorate also requires this
partition to be quorate (GET /readyz?quorate=1).`;

const WAIT_READY_HELP = `
${READY_TEXT}

Polls the daemon's status every ${WaitReadyDefaults.pollMs} ms until it is ready, connecting again
while the socket does not exist yet or the daemon does not answer, for at
most --timeout seconds (default ${WaitReadyDefaults.timeoutSec}). Meant for the systemd unit's
ExecStartPost, so that \`systemctl start carillond\` returns once the node is
usable, and for scripts that must not act before the cluster formed.

--json prints one object at the end: { ready, waitedSec, checks, problems,
nodeId, state, quorate }.

EXAMPLES
  carillon wait-ready
  carillon wait-ready --timeout 30 --quorate
  ExecStartPost=/usr/bin/carillon wait-ready --timeout 90

ENVIRONMENT
  ${SocketOption.env}   IPC socket path when --socket is not given

EXIT STATUS
  0   the daemon is ready
  1   it was not ready (or not reachable) within --timeout
  2   usage error`;

const HEALTH_HELP = `
${READY_TEXT}

Asks the daemon once. Meant for a container's HEALTHCHECK; an unreachable
daemon is simply unhealthy. Prints one line: "ready: ..." on stdout, or the
failed checks on stderr.

--json prints one object: { ready, checks, problems, nodeId, state, quorate }.

EXAMPLES
  carillon health
  carillon health --quorate --json
  HEALTHCHECK --interval=10s --timeout=6s CMD ["carillon", "health"]

ENVIRONMENT
  ${SocketOption.env}   IPC socket path when --socket is not given

EXIT STATUS
  0   the daemon answered and is ready
  1   it is not ready, or it cannot be reached
  2   usage error`;

/** Adds `carillon wait-ready` and `carillon health` to the program. */
export function registerHealthCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const socketOf = (command: Command): string => command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
  program
    .command('wait-ready')
    .description('wait until the local daemon is ready (ring operational, sync done, IPC up)')
    .option('--timeout <sec>', `give up after this many seconds (default ${WaitReadyDefaults.timeoutSec})`, parseTimeoutSec)
    .option('--quorate', 'also wait for quorum')
    .option('--json', 'one JSON object with the verdict')
    .addHelpText('after', WAIT_READY_HELP)
    .action(async (flags: { timeout?: number; quorate?: boolean; json?: boolean }, command: Command) => {
      const options = { timeoutSec: flags.timeout ?? WaitReadyDefaults.timeoutSec, requireQuorate: flags.quorate === true, json: flags.json === true };
      setExitCode(await runWaitReady(socketOf(command), options, io));
    });
  program
    .command('health')
    .description('check once that the local daemon answers and is ready (for HEALTHCHECK)')
    .option('--quorate', 'also require quorum')
    .option('--json', 'one JSON object with the verdict')
    .addHelpText('after', HEALTH_HELP)
    .action(async (flags: { quorate?: boolean; json?: boolean }, command: Command) => {
      setExitCode(await runHealth(socketOf(command), { requireQuorate: flags.quorate === true, json: flags.json === true }, io));
    });
}
