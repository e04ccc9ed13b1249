// `carillon cmap get|set|delete|list|track` (architecture.md §2.8): corosync-cmapctl over
// the IPC protocol's cmap.* methods. Output lines are cmapctl's print_key
// (tools/corosync-cmapctl.c, 3.1.7), formatted by formatCmapEntry (cmap-store.ts):
//
//   totem.token (u32) = 3000
//   totem.cluster_name (str) = pbx-trio
//   runtime.config.totem.token_retransmit (u32) = 714
//   some.blob (bin)                        binary values only with -b: some.blob (bin) = ab\x00
//   some.ratio (dbl) = 0.500000            %f: six decimals
//
// and for `track` the notifications of cmap_notify_fn: `create> `, `modify> ` (new value)
// and `delete> ` (old value) before such a line.
//
//   get KEY...              cmapctl -g; stops at the first key that fails
//   set KEY TYPE VALUE      cmapctl -s; TYPE is i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin
//                           (or the long names int8 .. binary). Deviation: a bin VALUE is
//                           hex, not a file name. Prints nothing on success, as cmapctl.
//   delete KEY...           cmapctl -d; prints nothing on success
//   list [PREFIX...]        cmapctl [PREFIX...]: every key, or those under each PREFIX;
//                           exit 1 when nothing matched (as cmapctl)
//   track KEY               cmapctl -t KEY; --prefix: cmapctl -T PREFIX
//
// Failures name the key and the cs_error_t corosync would report (cmapctl's "Can't get
// key X. Error CS_ERR_NOT_EXIST") and say what it means.
//
// Exit status: 0 ok; 1 failure (no such key, read-only key, bad type or value, error
// answer, nothing listed, --count not reached in --timeout); 2 usage; 3 unreachable.

import { type Command, InvalidArgumentError } from 'commander';
import { IpcClientError } from '../../client/ipc-client';
import { cmapValueFromJson } from '../../ipc/cmap-json';
import type { CmapEntryJson, CmapTrackEventJson, CmapValueJson, CmapValueTypeName } from '../../ipc/daemon-api';
import { IpcErrorCode } from '../../ipc/protocol';
import { CmapValueTypes, cmapTypeLabel, formatCmapEntry } from '../../services/cmap/cmap-store';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import type { CommandIo } from './wire-decode';

/** cmapctl's type names (name_to_type[]) and the JSON names they stand for. */
export const CmapctlTypeNames: Readonly<Record<string, CmapValueTypeName>> = {
  i8: 'int8',
  u8: 'uint8',
  i16: 'int16',
  u16: 'uint16',
  i32: 'int32',
  u32: 'uint32',
  i64: 'int64',
  u64: 'uint64',
  flt: 'float',
  dbl: 'double',
  str: 'string',
  bin: 'binary',
};

/** A cmapctl or long type name as the JSON type name; null when unknown. */
export function cmapTypeOf(name: string): CmapValueTypeName | null {
  const short = CmapctlTypeNames[name];
  if (short !== undefined) return short;
  return (CmapValueTypes as readonly string[]).includes(name) ? (name as CmapValueTypeName) : null;
}

const integerRanges: Partial<Record<CmapValueTypeName, readonly [bigint, bigint]>> = {
  int8: [-128n, 127n],
  uint8: [0n, 255n],
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int32: [-2147483648n, 2147483647n],
  uint32: [0n, 4294967295n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/**
 * VALUE of `cmap set` as the JSON value for TYPE, or cmapctl's complaint: "X is not valid
 * i8 type value" when it does not parse, "X is not valid i8 integer" when out of range.
 */
export function parseCmapSetValue(type: CmapValueTypeName, text: string, label: string): { ok: true; value: number | string } | { ok: false; error: string } {
  const range = integerRanges[type];
  if (range !== undefined) {
    const trimmed = text.trim();
    const signed = type.startsWith('int');
    if (!(signed ? /^[+-]?\d+$/ : /^\+?\d+$/).test(trimmed)) return { ok: false, error: `${text} is not valid ${label} type value` };
    const n = BigInt(trimmed.replace(/^\+/, ''));
    if (n < range[0] || n > range[1]) return { ok: false, error: `${text} is not valid ${label} integer` };
    return { ok: true, value: type === 'int64' || type === 'uint64' ? n.toString() : Number(n) };
  }
  switch (type) {
    case 'float':
    case 'double': {
      const trimmed = text.trim();
      const special = /^([+-]?)(nan|inf|infinity)$/i.exec(trimmed);
      if (special !== null) {
        if (special[2]?.toLowerCase() === 'nan') return { ok: true, value: 'NaN' };
        return { ok: true, value: special[1] === '-' ? '-Infinity' : 'Infinity' };
      }
      if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(trimmed)) return { ok: false, error: `${text} is not valid ${label} type value` };
      const n = Number(trimmed);
      if (!Number.isFinite(n)) return { ok: true, value: n > 0 ? 'Infinity' : '-Infinity' };
      return { ok: true, value: n };
    }
    case 'binary':
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) return { ok: false, error: `${text} is not valid ${label} type value (binary values are given as hex)` };
      return { ok: true, value: text.toLowerCase() };
    default:
      return { ok: true, value: text };
  }
}

/** One cmapctl line for an entry; a value this CLI cannot decode is shown raw. */
export function formatCmapJsonEntry(key: string, value: CmapValueJson, showBinary: boolean): string {
  const parsed = cmapValueFromJson(value.type, value.value);
  if (parsed.ok) return formatCmapEntry(key, parsed.value, { showBinary });
  const label = (CmapValueTypes as readonly string[]).includes(value.type) ? cmapTypeLabel(value.type) : String(value.type);
  return `${key} (${label}) = ${String(value.value)}`;
}

const trackPrefixes: Record<CmapTrackEventJson['type'], string> = { add: 'create> ', modify: 'modify> ', delete: 'delete> ' };

/** One `cmap track` line: cmap_notify_fn's prefix and the new (old, on delete) value. */
export function formatCmapTrackEvent(event: CmapTrackEventJson, showBinary: boolean): string {
  const value = event.type === 'delete' ? event.oldValue : event.newValue;
  const prefix = trackPrefixes[event.type] ?? 'unknown change> ';
  return value === null ? `${prefix}${event.key}` : `${prefix}${formatCmapJsonEntry(event.key, value, showBinary)}`;
}

/** cs_error_t names corosync reports for our error codes, and what they mean. */
const errorMeanings: Record<string, readonly [string, string]> = {
  [IpcErrorCode.cmapNotExist]: ['CS_ERR_NOT_EXIST', 'no such key'],
  [IpcErrorCode.cmapReadOnly]: ['CS_ERR_ACCESS', 'the key is read-only'],
  [IpcErrorCode.cmapType]: ['CS_ERR_INVALID_PARAM', 'the value does not fit the type'],
  [IpcErrorCode.cmapInvalidKey]: ['CS_ERR_NAME_TOO_LONG', 'a key name is 3..255 characters of a-z A-Z 0-9 . _ / : -'],
  [IpcErrorCode.cmapTooBig]: ['CS_ERR_INVALID_PARAM', 'the value is larger than 16 KiB'],
  [IpcErrorCode.cmapTooManyKeys]: ['CS_ERR_NO_SPACE', 'the map holds as many keys as it may'],
  [IpcErrorCode.cmapInvalidParam]: ['CS_ERR_INVALID_PARAM', 'invalid parameter'],
  [IpcErrorCode.cmapBadHandle]: ['CS_ERR_BAD_HANDLE', 'no such track'],
  [IpcErrorCode.cmapTooManyTracks]: ['CS_ERR_NO_RESOURCES', 'the connection has as many tracks as it may'],
};

/** "<what>. Error CS_ERR_X: meaning (daemon's message)" for an error answer. */
export function cmapErrorText(what: string, e: IpcClientError): string {
  if (e.code === IpcErrorCode.unavailable) return `${what}: carillond runs no cmap service (${e.message})`;
  const meaning = errorMeanings[e.code];
  if (meaning === undefined) return `${what}. Error ${e.code}: ${e.message}`;
  return `${what}. Error ${meaning[0]}: ${meaning[1]} (${e.message})`;
}

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

// -------------------------------------------------------------------------------------
// get / set / delete / list

export interface CmapReadOptions {
  json: boolean;
  /** cmapctl -b: show binary values. */
  binary: boolean;
}

export function runCmapGet(socketPath: string, keys: readonly string[], options: CmapReadOptions, io: CommandIo): Promise<number> {
  return withDaemon('cmap get', socketPath, io, async (client) => {
    for (const key of keys) {
      let entry: CmapEntryJson;
      try {
        entry = await client.call('cmap.get', { key });
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
        io.err(`carillon cmap get: ${cmapErrorText(`Can't get key ${key}`, e)}`);
        return DaemonCommandExit.failure;
      }
      io.out(options.json ? JSON.stringify(entry) : formatCmapJsonEntry(entry.key, entry, options.binary));
    }
    return DaemonCommandExit.ok;
  });
}

export function runCmapSet(socketPath: string, key: string, typeName: string, valueText: string, options: { json: boolean }, io: CommandIo): Promise<number> {
  const type = cmapTypeOf(typeName);
  if (type === null) {
    io.err(`carillon cmap set: Unknown type ${typeName} (one of ${Object.keys(CmapctlTypeNames).join(' ')})`);
    return Promise.resolve(DaemonCommandExit.failure);
  }
  const parsed = parseCmapSetValue(type, valueText, cmapTypeLabel(type));
  if (!parsed.ok) {
    io.err(`carillon cmap set: ${parsed.error}`);
    return Promise.resolve(DaemonCommandExit.failure);
  }
  return withDaemon('cmap set', socketPath, io, async (client) => {
    let stored: CmapEntryJson;
    try {
      stored = await client.call('cmap.set', { key, type, value: parsed.value });
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon cmap set: ${cmapErrorText(`Failed to set key ${key}`, e)}`);
      return DaemonCommandExit.failure;
    }
    if (options.json) io.out(JSON.stringify(stored));
    return DaemonCommandExit.ok;
  });
}

export function runCmapDelete(socketPath: string, keys: readonly string[], options: { json: boolean }, io: CommandIo): Promise<number> {
  return withDaemon('cmap delete', socketPath, io, async (client) => {
    for (const key of keys) {
      try {
        const result = await client.call('cmap.delete', { key });
        if (options.json) io.out(JSON.stringify(result));
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
        io.err(`carillon cmap delete: ${cmapErrorText(`Can't delete key ${key}`, e)}`);
        return DaemonCommandExit.failure;
      }
    }
    return DaemonCommandExit.ok;
  });
}

export function runCmapList(socketPath: string, prefixes: readonly string[], options: CmapReadOptions, io: CommandIo): Promise<number> {
  return withDaemon('cmap list', socketPath, io, async (client) => {
    const all: CmapEntryJson[] = [];
    let empty = 0;
    for (const prefix of prefixes.length === 0 ? [null] : prefixes) {
      let entries: CmapEntryJson[];
      try {
        ({ entries } = await client.call('cmap.list', prefix === null ? {} : { prefix }));
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
        io.err(`carillon cmap list: ${cmapErrorText('Failed to initialize iteration', e)}`);
        return DaemonCommandExit.failure;
      }
      if (entries.length === 0) {
        empty++;
        io.err(prefix === null ? 'carillon cmap list: the map is empty' : `carillon cmap list: no keys start with ${prefix}`);
      }
      if (options.json) all.push(...entries);
      else for (const entry of entries) io.out(formatCmapJsonEntry(entry.key, entry, options.binary));
    }
    if (options.json) io.out(JSON.stringify(all));
    // cmapctl: failure when every prefix (or the whole map) came out empty.
    return empty > 0 && empty >= prefixes.length ? DaemonCommandExit.failure : DaemonCommandExit.ok;
  });
}

// -------------------------------------------------------------------------------------
// track

export interface CmapTrackOptions extends CmapReadOptions {
  prefix: boolean;
  timeoutMs?: number;
  /** Stop after this many notifications. */
  count?: number;
}

type TrackEnd = { kind: 'count' } | { kind: 'timeout' } | { kind: 'closed'; message: string };

export function runCmapTrack(socketPath: string, key: string, options: CmapTrackOptions, io: CommandIo): Promise<number> {
  const name = 'cmap track';
  return withDaemon(name, socketPath, io, async (client) => {
    let done = false;
    let finish: (end: TrackEnd) => void = () => undefined;
    const ended = new Promise<TrackEnd>((resolve) => {
      finish = (end) => {
        if (done) return;
        done = true;
        resolve(end);
      };
    });
    let trackId: number | null = null;
    let seen = 0;
    const early: CmapTrackEventJson[] = [];
    const onEvent = (event: CmapTrackEventJson): void => {
      if (done || event.trackId !== trackId) return;
      io.out(options.json ? JSON.stringify(event) : formatCmapTrackEvent(event, options.binary));
      seen++;
      if (options.count !== undefined && seen >= options.count) finish({ kind: 'count' });
    };
    try {
      await client.subscribe('cmap', (event) => {
        if (trackId === null) early.push(event);
        else onEvent(event);
      });
      ({ trackId } = await client.call('cmap.track', { key, prefix: options.prefix, add: true, modify: true, delete: true }));
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      io.err(`carillon ${name}: ${cmapErrorText('Failed to add tracking function', e)}`);
      return DaemonCommandExit.failure;
    }
    for (const event of early.splice(0)) onEvent(event);
    io.err(`carillon ${name}: tracking ${options.prefix ? 'keys starting with ' : ''}${key} on ${socketPath}`);
    void client.closed.then((reason) => finish({ kind: 'closed', message: reason === null ? 'closed' : `${reason.message} (${reason.code})` }));
    const timer = options.timeoutMs === undefined ? null : setTimeout(() => finish({ kind: 'timeout' }), options.timeoutMs);
    const end = await ended;
    if (timer !== null) clearTimeout(timer);
    if (end.kind === 'closed') {
      io.err(`carillon ${name}: the connection to carillond ended after ${seen} notifications: ${end.message}`);
      return DaemonCommandExit.failure;
    }
    try {
      await client.call('cmap.untrack', { trackId });
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
    }
    if (end.kind === 'timeout' && options.count !== undefined) {
      io.err(`carillon ${name}: timed out after ${options.timeoutMs} ms with ${seen} of ${options.count} notifications`);
      return DaemonCommandExit.failure;
    }
    return DaemonCommandExit.ok;
  });
}

// -------------------------------------------------------------------------------------
// Help texts and registration

const EXIT_STATUS = `
EXIT STATUS
  0   ok
  1   failure: no such key, read-only key, unknown type or a value that does
      not fit it, nothing listed, or another error answer
  2   usage error
  3   carillond is unreachable`;

const GET_HELP = `
Prints each KEY as corosync-cmapctl -g does, \`key (type) = value\`:

  totem.token (u32) = 3000
  totem.cluster_name (str) = pbx-trio

Types are i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin; floats print with
six decimals; binary values print as \`key (bin)\` unless -b is given. It stops
at the first KEY that cannot be read. --json prints one { key, type, value }
object per key (64-bit integers as decimal strings, binary values as hex).

EXAMPLES
  carillon cmap get totem.token
  carillon cmap get runtime.votequorum.this_node_id totem.cluster_name
  carillon cmap get --json runtime.config.totem.token | jq .value
${EXIT_STATUS}`;

const SET_HELP = `
Sets KEY to VALUE of TYPE, as corosync-cmapctl -s KEY TYPE VALUE: TYPE is one
of i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin (or int8 .. uint64, float,
double, string, binary). Integers are decimal and range-checked; flt and dbl
take decimal or exponent notation, nan and inf; a bin VALUE is hex (cmapctl
reads a file). Prints nothing on success; --json prints the stored
{ key, type, value }. Keys corosync keeps read-only for clients (nodelist.*,
runtime.config.*, runtime.totem.*, stats.*, totem.cluster_name,
totem.transport, the crypto keys ...) are refused. A VALUE starting with '-'
that is not a number needs -- before the arguments.

EXAMPLES
  carillon cmap set logging.debug str on
  carillon cmap set quorum.expected_votes u32 3
  carillon cmap set my.blob bin 00ff10
  carillon cmap set -- my.note str -dash-
${EXIT_STATUS}`;

const DELETE_HELP = `
Deletes each KEY, as corosync-cmapctl -d; stops at the first that fails.
Prints nothing on success; --json prints { key, deleted } per key.

EXAMPLES
  carillon cmap delete my.note
  carillon cmap delete my.a my.b
${EXIT_STATUS}`;

const LIST_HELP = `
Prints every key (or the keys starting with each PREFIX) in key order, one
\`key (type) = value\` line each, as corosync-cmapctl [PREFIX...] does. As
cmapctl, it fails when nothing matched (every PREFIX came out empty). -b shows
binary values. --json prints one array of { key, type, value }.

EXAMPLES
  carillon cmap list
  carillon cmap list runtime.members.
  carillon cmap list totem. quorum.
  carillon cmap list --json nodelist. | jq length
${EXIT_STATUS}`;

const TRACK_HELP = `
Prints every change of KEY (with --prefix: of every key starting with KEY) as
it happens, as corosync-cmapctl -t KEY (-T PREFIX) does:

  create> my.key (str) = one
  modify> my.key (str) = two
  delete> my.key (str) = two

(delete shows the old value). Once tracking, a line on stderr says so. It runs
until interrupted, --timeout ms, or --count notifications. --json prints each
{ trackId, type: add|modify|delete, key, newValue, oldValue } object instead.

EXAMPLES
  carillon cmap track --prefix runtime.members.
  carillon cmap track --timeout 10000 quorum.expected_votes
  carillon cmap track --json --count 1 my.flag

EXIT STATUS
  0   interrupted, --timeout elapsed, or --count notifications seen
  1   the track was refused, --count not reached within --timeout, or the
      daemon closed the connection
  2   usage error
  3   carillond is unreachable`;

/** Adds `carillon cmap get|set|delete|list|track` to the program. */
export function registerCmapCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const cmap = program.command('cmap').description('the configuration and runtime map (like corosync-cmapctl)');
  cmap
    .command('get')
    .description('print keys (like corosync-cmapctl -g)')
    .argument('<key...>', 'key names')
    .option('-b, --binary', 'show binary values')
    .option('--json', 'one { key, type, value } object per key')
    .addHelpText('after', GET_HELP)
    .action(async (keys: string[], flags: { binary?: boolean; json?: boolean }, command: Command) => {
      setExitCode(await runCmapGet(socketOf(command), keys, { json: flags.json === true, binary: flags.binary === true }, io));
    });
  cmap
    .command('set')
    .description('set a key (like corosync-cmapctl -s)')
    .argument('<key>', 'key name')
    .argument('<type>', 'i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin')
    .argument('<value>', 'the value (hex for bin)')
    .option('--json', 'the stored { key, type, value }')
    .addHelpText('after', SET_HELP)
    .action(async (key: string, type: string, value: string, flags: { json?: boolean }, command: Command) => {
      setExitCode(await runCmapSet(socketOf(command), key, type, value, { json: flags.json === true }, io));
    });
  cmap
    .command('delete')
    .description('delete keys (like corosync-cmapctl -d)')
    .argument('<key...>', 'key names')
    .option('--json', 'one { key, deleted } object per key')
    .addHelpText('after', DELETE_HELP)
    .action(async (keys: string[], flags: { json?: boolean }, command: Command) => {
      setExitCode(await runCmapDelete(socketOf(command), keys, { json: flags.json === true }, io));
    });
  cmap
    .command('list')
    .description('print all keys, or those under prefixes (like corosync-cmapctl [prefix])')
    .argument('[prefix...]', 'key prefixes')
    .option('-b, --binary', 'show binary values')
    .option('--json', 'one array of { key, type, value }')
    .addHelpText('after', LIST_HELP)
    .action(async (prefixes: string[], flags: { binary?: boolean; json?: boolean }, command: Command) => {
      setExitCode(await runCmapList(socketOf(command), prefixes, { json: flags.json === true, binary: flags.binary === true }, io));
    });
  cmap
    .command('track')
    .description('print changes of a key or prefix as they happen (like corosync-cmapctl -t / -T)')
    .argument('<key>', 'key name, or prefix with --prefix')
    .option('--prefix', 'track every key starting with KEY')
    .option('--timeout <ms>', 'stop after this many milliseconds', positiveInteger)
    .option('--count <n>', 'stop after N notifications', positiveInteger)
    .option('-b, --binary', 'show binary values')
    .option('--json', 'one notification object per line')
    .addHelpText('after', TRACK_HELP)
    .action(async (key: string, flags: { prefix?: boolean; timeout?: number; count?: number; binary?: boolean; json?: boolean }, command: Command) => {
      const options: CmapTrackOptions = { json: flags.json === true, binary: flags.binary === true, prefix: flags.prefix === true };
      if (flags.timeout !== undefined) options.timeoutMs = flags.timeout;
      if (flags.count !== undefined) options.count = flags.count;
      setExitCode(await runCmapTrack(socketOf(command), key, options, io));
    });
}
