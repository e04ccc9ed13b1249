// The `carillon` command tree (commander 14, architecture.md §2.8). bin/ctl.ts runs it;
// tests build it with a capturing CommandIo. New commands are added here, each
// delegating to a function in cli/commands/ that returns its exit status.
//
// Exit status convention: whatever the command returns; 2 for usage errors (unknown
// option, missing argument), 0 for --help.

import { Command, CommanderError } from 'commander';
import { type CommandIo, WireDecodeExit, wireDecode } from './commands/wire-decode';
import { runConfigCheck } from './commands/config-check';

export type { CommandIo } from './commands/wire-decode';

export const UsageExit = 2;

const WIRE_DECODE_HELP = `
Output: one line per UDP datagram, in capture order:
  #FRAME +SECONDS SRC:PORT → DST:PORT LENGTHB TYPE field=value ...
FRAME is the 1-based pcap record number (as in Wireshark). SECONDS is the offset
from the first packet of the capture, with microseconds; --absolute-time prints
ISO-8601 UTC time with microseconds instead. Field names are corosync's
(corosync-wire.md §2); ring ids are written rep.seq with seq in hex, as corosync
logs them (e.g. 1.145). A MEMB_JOIN with header nodeid 0 is marked LEAVE.
MCAST lines add the totempg packet (fragmented, continuation, msg_count,
msg_len) and, per packed message, its group names and a summary of well-known
exec messages; messages split over several packets are reassembled per sender
across the capture (in ring/seq order, one copy per ring/seq) so the piece that
completes one shows the whole message's groups. copy_of=#N marks another copy
(other destination or retransmission) of the MCAST first seen in frame N. An
encapsulated MCAST shows its inner MCAST in braces.

--json prints one JSON object per line instead: the same fields in camelCase,
u64 values as decimal strings, byte arrays as {length, hex (first 64 bytes),
truncated}.

Exit status: 0 every datagram decoded; 1 some datagram, its totempg content or a
capture record failed to decode (every other datagram is still printed, with an
ERROR line for each failure); 2 usage error, unreadable file or not a classic
pcap file (pcapng: convert with \`editcap -F pcap\`).`;

const CONFIG_CHECK_HELP = `
Reads FILE (corosync 3.1.7 corosync.conf syntax plus Carillon's carillon { }
section), reports every problem at once as FILE:LINE:COL: error|warning: message
(with an indented hint: line where one helps) on stderr and, when the file is
valid, prints the effective configuration on stdout: cluster, transport, nodes,
quorum and the totem timers derived for the nodelist, as
\`corosync-cmapctl runtime.config.totem\` shows them. Keys that corosync 3 dropped
(vsftype, threads, rrp_mode, ringnumber, aisexec { }, amf { } ...) and unknown
keys are warnings, never errors. A file without nodelist { } loads but is
reported as an error: carillond (like corosync 3) cannot start with it.

--json prints one object instead: { file, valid, errors, warnings, effective }.

EXAMPLES
  carillon config check /etc/corosync/corosync.conf
  carillon config check --json /etc/carillon/carillon.conf | jq .errors
  carillon config check /etc/carillon/carillon.conf && systemctl reload carillond

EXIT STATUS
  0   the file is valid (warnings allowed)
  1   the file cannot be read
  2   usage error
  78  configuration errors (EX_CONFIG)`;

interface WireDecodeFlags {
  json?: boolean;
  absoluteTime?: boolean;
}

/** Builds the program; the chosen command reports its exit status through setExitCode. */
export function buildProgram(io: CommandIo, setExitCode: (code: number) => void): Command {
  const program = new Command('carillon')
    .description('Carillon: a corosync-compatible Totem/CPG cluster engine — control and diagnostics')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    });

  const wire = program.command('wire').description('corosync 3.1.7 wire-format tools');
  wire
    .command('decode')
    .description('decode the corosync totem traffic (udp/udpu) in a pcap capture')
    .argument('<file>', 'classic libpcap capture (Ethernet, Linux SLL/SLL2, raw IP or loopback)')
    .option('--json', 'one JSON object per datagram')
    .option('--absolute-time', 'ISO-8601 UTC times instead of offsets from the first packet')
    .addHelpText('after', WIRE_DECODE_HELP)
    .action((file: string, flags: WireDecodeFlags) => {
      setExitCode(wireDecode(file, { json: flags.json === true, absoluteTime: flags.absoluteTime === true }, io));
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('check a configuration file as carillond would load it (like corosync -t)')
    .argument('<file>', 'corosync.conf-style configuration file')
    .option('--json', 'one JSON object with errors, warnings and the effective configuration')
    .addHelpText('after', CONFIG_CHECK_HELP)
    .action((file: string, flags: { json?: boolean }) => {
      setExitCode(runConfigCheck(file, io, { json: flags.json === true }));
    });
  return program;
}

/** Parses `argv` (arguments only, without node and script) and runs the command. */
export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  let exitCode: number = WireDecodeExit.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : UsageExit;
    throw e;
  }
  return exitCode;
}
