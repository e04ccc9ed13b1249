// Hidden test hooks `carillon totem send` and `carillon totem listen` (architecture.md
// §2.8; testing.md's multi-process tests): they submit raw Totem payloads as the local
// node and print what the ring delivers, so a test can start N daemons, send from
// several of them, and check that every node printed the same deliveries in the same
// order. They are not operator commands: there is no corosync equivalent, and payloads
// bypass CPG.
//
//   carillon totem send [--hex] PAYLOAD...   one `queued` line per payload; the first
//                                            `full` (backpressure) stops and exits 1
//   carillon totem listen [--count N] [--timeout SECONDS] [--json]
//       one line per delivery or configuration change:
//         deliver ring=1.141 seq=5 sender=2 len=5 hex=68656c6c6f text="hello"
//         confchg regular ring=1.142 members=[1,2,3] left=[] joined=[3]
//       (--json: the TotemEventJson object). Once subscribed it says so on stderr, which
//       is not buffered, so a test knows when it may start sending.
//
// Exit status: 0 ok (all queued; N deliveries seen; or --timeout elapsed without
// --count); 1 a payload met backpressure, --count not reached within --timeout, the
// daemon closed the connection, or an error answer; 2 usage; 3 daemon unreachable.

import { type Command, InvalidArgumentError } from 'commander';
import type { TotemEventJson } from '../../ipc/daemon-api';
import { bytesToHex, hexToBytes } from '../../ipc/protocol';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import { formatRingId } from './status';
import type { CommandIo } from './wire-decode';

export interface TotemSendOptions {
  hex: boolean;
}

export interface TotemListenOptions {
  json: boolean;
  /** Stop after this many deliveries (configuration changes do not count). */
  count?: number;
  timeoutSec?: number;
}

const SEND_HELP = `
Test hook, not an operator command: submits each PAYLOAD as one raw Totem message
from the local node, in order, bypassing CPG. PAYLOAD is taken as UTF-8 text, or
as hex with --hex. Prints one line per payload: queued, or full when the daemon's
send queue pushed back (the remaining payloads are not sent).

EXAMPLES
  carillon totem send hello world
  carillon totem send --hex 00ff10 deadbeef
  for i in $(seq 100); do carillon totem send "n1-$i"; done

EXIT STATUS
  0   every payload was queued
  1   backpressure (full) or an error answer
  2   usage error (bad hex, empty payload)
  3   carillond is unreachable`;

const LISTEN_HELP = `
Test hook, not an operator command: prints every Totem delivery and configuration
change the local node sees, one per line, until --count deliveries arrived, the
--timeout elapsed, or the daemon closed the connection:

  deliver ring=1.141 seq=5 sender=2 len=5 hex=68656c6c6f text="hello"
  confchg regular ring=1.142 members=[1,2,3] left=[] joined=[3]

The ring id is rep.seq in hex, as corosync logs it; text= appears when the
payload is valid UTF-8 (JSON-quoted). Once subscribed, a line on stderr says so:
start sending after it. --json prints each TotemEventJson object instead:
{ kind: "deliver", ringId: { rep, seq }, seq, sender, payloadHex } or
{ kind: "confchg", type, ringId, members, left, joined }.

EXAMPLES
  carillon totem listen --count 100 --json > node1.deliveries
  carillon totem listen --timeout 10
  diff <(grep ^deliver n1.out) <(grep ^deliver n2.out)

EXIT STATUS
  0   --count deliveries seen (or --timeout elapsed when there is no --count)
  1   --count not reached within --timeout, or the daemon closed the connection
  2   usage error
  3   carillond is unreachable`;

function utf8Text(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** One line of `totem listen` output. */
export function formatTotemEvent(event: TotemEventJson): string {
  const ring = formatRingId(event.ringId);
  if (event.kind === 'confchg') {
    return `confchg ${event.type} ring=${ring} members=[${event.members.join(',')}] left=[${event.left.join(',')}] joined=[${event.joined.join(',')}]`;
  }
  const bytes = hexToBytes(event.payloadHex);
  const text = bytes === null ? null : utf8Text(bytes);
  const length = bytes === null ? 0 : bytes.length;
  return `deliver ring=${ring} seq=${event.seq} sender=${event.sender} len=${length} hex=${event.payloadHex}${text === null ? '' : ` text=${JSON.stringify(text)}`}`;
}

/** Submits the payloads in order; see the file header. */
export async function runTotemSend(socketPath: string, payloads: readonly string[], options: TotemSendOptions, io: CommandIo): Promise<number> {
  const encoded: string[] = [];
  for (const payload of payloads) {
    const bytes = options.hex ? hexToBytes(payload) : new TextEncoder().encode(payload);
    if (bytes === null || bytes.length === 0) {
      io.err(`carillon totem send: ${options.hex ? `not a non-empty, even-length hex payload: ${JSON.stringify(payload)}` : 'a payload must not be empty'}`);
      return DaemonCommandExit.usage;
    }
    encoded.push(bytesToHex(bytes));
  }
  return withDaemon('totem send', socketPath, io, async (client) => {
    for (const [index, payloadHex] of encoded.entries()) {
      const { result } = await client.call('totem.submit', { payloadHex });
      io.out(result);
      if (result === 'full') {
        io.err(`carillon totem send: the send queue is full (backpressure) after ${index} of ${encoded.length} payloads; retry later`);
        return DaemonCommandExit.failure;
      }
    }
    return DaemonCommandExit.ok;
  });
}

type ListenEnd = { kind: 'count' } | { kind: 'timeout' } | { kind: 'closed'; message: string };

/** Prints deliveries and configuration changes; see the file header. */
export function runTotemListen(socketPath: string, options: TotemListenOptions, io: CommandIo): Promise<number> {
  return withDaemon('totem listen', socketPath, io, async (client) => {
    let deliveries = 0;
    let done = false;
    let finish: (end: ListenEnd) => void = () => undefined;
    const ended = new Promise<ListenEnd>((resolve) => {
      finish = (end) => {
        done = true;
        resolve(end);
      };
    });
    const unsubscribe = await client.subscribe('totem', (event) => {
      // Events after the last counted delivery may arrive in the same chunk.
      if (done) return;
      io.out(options.json ? JSON.stringify(event) : formatTotemEvent(event));
      if (event.kind === 'deliver') deliveries++;
      if (options.count !== undefined && deliveries >= options.count) finish({ kind: 'count' });
    });
    io.err(`carillon totem listen: subscribed to totem events on ${socketPath}`);
    void client.closed.then((reason) => finish({ kind: 'closed', message: reason === null ? 'closed' : `${reason.message} (${reason.code})` }));
    const timer = options.timeoutSec === undefined ? null : setTimeout(() => finish({ kind: 'timeout' }), options.timeoutSec * 1000);
    const end = await ended;
    if (timer !== null) clearTimeout(timer);
    switch (end.kind) {
      case 'count':
        await unsubscribe();
        return DaemonCommandExit.ok;
      case 'timeout':
        if (options.count === undefined) return DaemonCommandExit.ok;
        io.err(`carillon totem listen: timed out after ${options.timeoutSec} s with ${deliveries} of ${options.count} deliveries`);
        return DaemonCommandExit.failure;
      case 'closed':
        io.err(`carillon totem listen: the connection to carillond ended after ${deliveries} deliveries: ${end.message}`);
        return DaemonCommandExit.failure;
    }
  });
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

function positiveSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return seconds;
}

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

/** Adds the hidden `carillon totem send|listen` test hooks to the program. */
export function registerTotemCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const totem = program.command('totem', { hidden: true }).description('test hooks: raw Totem payloads in, deliveries out (not for operators)');
  totem
    .command('send')
    .description('submit raw Totem payloads as the local node (test hook)')
    .argument('<payload...>', 'payloads, UTF-8 text (or hex with --hex)')
    .option('--hex', 'payloads are hex')
    .addHelpText('after', SEND_HELP)
    .action(async (payloads: string[], flags: { hex?: boolean }, command: Command) => {
      setExitCode(await runTotemSend(socketOf(command), payloads, { hex: flags.hex === true }, io));
    });
  totem
    .command('listen')
    .description('print Totem deliveries and configuration changes (test hook)')
    .option('--count <n>', 'stop after N deliveries', positiveInteger)
    .option('--timeout <seconds>', 'stop after this long', positiveSeconds)
    .option('--json', 'one TotemEventJson object per line')
    .addHelpText('after', LISTEN_HELP)
    .action(async (flags: { count?: number; timeout?: number; json?: boolean }, command: Command) => {
      const options: TotemListenOptions = { json: flags.json === true };
      if (flags.count !== undefined) options.count = flags.count;
      if (flags.timeout !== undefined) options.timeoutSec = flags.timeout;
      setExitCode(await runTotemListen(socketOf(command), options, io));
    });
}
