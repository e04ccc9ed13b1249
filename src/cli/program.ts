// The `carillon` command tree (commander 14, architecture.md §2.8). bin/ctl.ts runs it;
// tests build it with a capturing CommandIo. New commands are added here, each
// delegating to a function in cli/commands/ that returns its exit status.
//
// Exit status convention: whatever the command returns; 2 for usage errors (unknown
// option, missing argument), 0 for --help.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type CommandIo, WireDecodeExit, wireDecode } from './commands/wire-decode';
import { runConfigCheck } from './commands/config-check';
import { runKeygen } from './commands/keygen';
import { registerCmapCommands } from './commands/cmap';
import { registerCpgCommands } from './commands/cpg';
import { registerHealthCommands } from './commands/health';
import { registerDocCommands } from './commands/docs';
import { registerQuorumCommands } from './commands/quorum';
import { registerSamCommands } from './commands/sam';
import { registerShowCommands } from './commands/show';
import { registerStatusCommand } from './commands/status';
import { registerTotemCommands } from './commands/totem';
import { SocketOption } from './daemon-connection';

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
(vsftype, threads, rrp_mode, ringnumber, aisexec { }, amf { mode } ...) and unknown
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

const KEYGEN_HELP = `
Writes a new cluster authentication key: SIZE random bytes (default 256, 2048
bits, as corosync-keygen) from the kernel's random source to FILE (default
/etc/carillon/authkey), created with mode 0400 as a temporary file that is then
moved into place atomically, so a crash never leaves a partial key.
CryptoTransport derives its AES-256-GCM keys from it (HKDF-SHA256). Generate it
once and copy it to every node (same content, mode 0400, owned by the user
carillond runs as); carillond refuses a key that group or others can read. An
existing FILE is never replaced without --force: nodes with different keys
cannot talk.

--json prints one object instead: { file, written, bytes, bits, mode } or
{ file, written: false, error: { code, message } }.

EXAMPLES
  carillon keygen
  carillon keygen -k /etc/carillon/authkey.new && scp -p /etc/carillon/authkey.new node2:/etc/carillon/
  carillon keygen --force --json -k ./authkey

FILES
  /etc/carillon/authkey   default key file

EXIT STATUS
  0   the key was written
  1   the key was not written (FILE exists, directory missing, permission denied)
  2   usage error`;

function parseKeySize(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a number of bytes');
  return Number(value);
}

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
  // Global: read by every command that talks to carillond (cli/daemon-connection.ts).
  program.addOption(new Option(SocketOption.flags, SocketOption.description).env(SocketOption.env).default(SocketOption.defaultPath));

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

  program
    .command('keygen')
    .description('generate the cluster authentication key (like corosync-keygen)')
    .option('-k, --key-file <file>', 'where to write the key', '/etc/carillon/authkey')
    .option('-s, --size <bytes>', 'key length in bytes (128–4096)', parseKeySize, 256)
    .option('--force', 'replace an existing key file')
    .option('--json', 'one JSON object describing the result')
    .addHelpText('after', KEYGEN_HELP)
    .action(async (flags: { keyFile: string; size: number; force?: boolean; json?: boolean }) => {
      setExitCode(await runKeygen({ file: flags.keyFile, size: flags.size, force: flags.force === true, json: flags.json === true }, io));
    });

  registerStatusCommand(program, io, setExitCode);
  registerShowCommands(program, io, setExitCode);
  registerQuorumCommands(program, io, setExitCode);
  registerCpgCommands(program, io, setExitCode);
  registerCmapCommands(program, io, setExitCode);
  registerTotemCommands(program, io, setExitCode);
  registerHealthCommands(program, io, setExitCode);
  registerDocCommands(program, io, setExitCode);
  registerSamCommands(program, io, setExitCode);
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
