// The AMI half of the fake Asterisk (fake-asterisk.ts): a TCP server that speaks the
// Asterisk Manager Interface exactly as the real Asterisk 20 in
// /work/shared/fixtures/asterisk/ami/*.rx does (asterisk-groundtruth.md §2,
// res-corosync.md §2): banner, Login/Challenge/Logoff, per-session event masks, the
// action replies byte for byte, list actions, and the events DeviceStateChange,
// ExtensionStatus, MessageWaiting, PresenceStateChange, FullyBooted, SuccessfulAuth and
// Shutdown, each sent only to sessions whose read permission and event mask include its
// class. Behaviour that the transcripts do not show follows Asterisk's manager.c.
//
// Requests are parsed leniently like manager.c: header names are case-insensitive, a
// bare LF ends a line like CRLF, a line without a colon is kept but never matches, a
// blank line ends a message. Limits: 1024 bytes per line (longer lines are dropped and
// counted), 128 headers per message, 256 queued messages and 4 MiB of unsent output per
// session (the session is dropped beyond them), 30 s to log in, 50 sessions not logged
// in (manager.conf authlimit/authtimeout defaults).

import { createHash, randomInt } from 'node:crypto';
import * as net from 'node:net';
import { deviceStateName } from '../../../src/asterisk/core/events';
import type { FakeAsteriskState, FakeHint, FakeModules, PresenceValue } from './fake-asterisk-state';
import { extensionStatusText } from './fake-asterisk-state';

/** Event and permission classes (include/asterisk/manager.h). */
export const AmiClass = {
  system: 1 << 0,
  call: 1 << 1,
  log: 1 << 2,
  verbose: 1 << 3,
  command: 1 << 4,
  agent: 1 << 5,
  user: 1 << 6,
  config: 1 << 7,
  dtmf: 1 << 8,
  reporting: 1 << 9,
  cdr: 1 << 10,
  dialplan: 1 << 11,
  originate: 1 << 12,
  agi: 1 << 13,
  cc: 1 << 15,
  aoc: 1 << 16,
  test: 1 << 17,
  security: 1 << 18,
  message: 1 << 30,
} as const;

const ALL = 0x7fffffff;

/** manager.c's perms[] in order: the labels of authority strings like `call,all`. */
const PERMS: ReadonlyArray<readonly [string, number]> = [
  ...Object.entries(AmiClass).map(([label, flag]) => [label, flag] as const),
  ['all', ALL],
];

/** `authority_to_str`: the labels of every class in `authority`, `all` included; `<none>` for 0. */
export function authorityToString(authority: number): string {
  const labels = PERMS.filter(([, flag]) => (authority & flag) !== 0).map(([label]) => label);
  return labels.length === 0 ? '<none>' : labels.join(',');
}

/** `get_perm`: the classes named in a comma list (exact, case-sensitive labels). */
function permFromList(list: string): number {
  const words = list.split(',');
  let mask = 0;
  for (const [label, flag] of PERMS) if (words.includes(label)) mask |= flag;
  return mask;
}

const TRUE_WORDS = ['yes', 'true', 'y', 't', '1', 'on'];
const FALSE_WORDS = ['no', 'false', 'n', 'f', '0', 'off'];

/** `strings_to_mask`: -1 for empty (keep the mask), digits are a number, on/off, else a class list. */
export function eventMaskFromString(text: string): number {
  if (text === '') return -1;
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10) | 0;
  const lower = text.toLowerCase();
  if (FALSE_WORDS.includes(lower)) return 0;
  if (TRUE_WORDS.includes(lower)) return ALL;
  return permFromList(text);
}

/** An AMI account (manager.conf user section). */
export interface AmiUser {
  readonly username: string;
  readonly secret: string;
  /** `read=` classes, e.g. `system,call`; default `all`. */
  readonly read?: string;
  /** `write=` classes; default `all`. */
  readonly write?: string;
}

/** What the AMI server needs from the fake Asterisk around it. */
export interface AmiHost {
  readonly eid: string;
  readonly version: string;
  readonly modules: FakeModules;
  readonly users: readonly AmiUser[];
  readonly failedLoginDelayMs: number;
  /** The current state (a new one after each restart). */
  state(): FakeAsteriskState;
  /** False between a restart's listen and its FullyBooted. */
  booted(): boolean;
  /** When the current boot started (ms since the epoch). */
  bootedAtMs(): number;
  /** Records one received action for FakeAsterisk.actions(). */
  recordAction(session: number, action: string, fields: ReadonlyArray<readonly [string, string]>): void;
}

const MAX_LINE_BYTES = 1024;
const MAX_HEADERS = 128;
const MAX_QUEUED_MESSAGES = 256;
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
const MAX_HELD_EVENTS = 10_000;
const AUTH_TIMEOUT_MS = 30_000;
const AUTH_LIMIT = 50;

/** `ListCommands` of the transcripts' build (11-listcommands.rx): name, synopsis, privilege, module. */
const ACTION_LIST: ReadonlyArray<readonly [string, string, string, (keyof FakeModules)?]> = [
  ['AbsoluteTimeout', 'Set absolute timeout.', 'system,call,all'],
  ['AOCMessage', 'Generate an Advice of Charge message on a channel.', 'aoc,all'],
  ['Atxfer', 'Attended transfer.', 'call,all'],
  ['BlindTransfer', 'Blind transfer channel(s) to the given destination', 'call,all'],
  ['Bridge', 'Bridge two channels already in the PBX.', 'call,all'],
  ['BridgeDestroy', 'Destroy a bridge.', '<none>'],
  ['BridgeInfo', 'Get information about a bridge.', '<none>'],
  ['BridgeKick', 'Kick a channel from a bridge.', '<none>'],
  ['BridgeList', 'Get a list of bridges in the system.', '<none>'],
  ['BridgeTechnologyList', 'List available bridging technologies and their statuses.', '<none>'],
  ['BridgeTechnologySuspend', 'Suspend a bridging technology.', '<none>'],
  ['BridgeTechnologyUnsuspend', 'Unsuspend a bridging technology.', '<none>'],
  ['CancelAtxfer', 'Cancel an attended transfer.', 'call,all'],
  ['Challenge', 'Generate Challenge for MD5 Auth.', '<none>'],
  ['Command', 'Execute Asterisk CLI Command.', 'command,all'],
  ['CoreSettings', 'Show PBX core settings (version etc).', 'system,reporting,all'],
  ['CoreShowChannelMap', 'List all channels connected to the specified channel.', 'system,reporting,all'],
  ['CoreShowChannels', 'List currently active channels.', 'system,reporting,all'],
  ['CoreStatus', 'Show PBX core status variables.', 'system,reporting,all'],
  ['CreateConfig', 'Creates an empty file in the configuration directory.', 'config,all'],
  ['DBDel', 'Delete DB entry.', 'system,all'],
  ['DBDelTree', 'Delete DB Tree.', 'system,all'],
  ['DBGet', 'Get DB Entry.', 'system,reporting,all'],
  ['DBGetTree', 'Get DB entries, optionally at a particular family/key', 'system,reporting,all'],
  ['DBPut', 'Put DB entry.', 'system,all'],
  ['DeviceStateList', 'List the current known device states.', 'call,reporting,all', 'managerDevicestate'],
  ['DialplanExtensionAdd', 'Add an extension to the dialplan', 'system,all'],
  ['DialplanExtensionRemove', 'Remove an extension from the dialplan', 'system,all'],
  ['Events', 'Control Event Flow.', '<none>'],
  ['ExtensionState', 'Check Extension Status.', 'call,reporting,all'],
  ['ExtensionStateList', 'List the current known extension states.', 'call,reporting,all'],
  ['Filter', 'Dynamically add filters for the current manager session.', 'system,all'],
  ['GetConfig', 'Retrieve configuration.', 'system,config,all'],
  ['GetConfigJSON', 'Retrieve configuration (JSON format).', 'system,config,all'],
  ['Getvar', 'Gets a channel variable or function value.', 'call,reporting,all'],
  ['Hangup', 'Hangup channel.', 'system,call,all'],
  ['ListCategories', 'List categories in configuration file.', 'config,all'],
  ['ListCommands', 'List available manager commands.', '<none>'],
  ['LocalOptimizeAway', 'Optimize away a local channel when possible.', 'system,call,all'],
  ['LoggerRotate', 'Reload and rotate the Asterisk logger.', 'system,reporting,all'],
  ['Login', 'Login Manager.', '<none>'],
  ['Logoff', 'Logoff Manager.', '<none>'],
  ['MailboxCount', 'Check Mailbox Message Count.', 'call,reporting,all'],
  ['MailboxStatus', 'Check mailbox.', 'call,reporting,all'],
  ['MessageSend', 'Send an out of call message to an endpoint.', 'message,all'],
  ['ModuleCheck', 'Check if module is loaded.', 'system,all'],
  ['ModuleLoad', 'Module management.', 'system,all'],
  ['MWIDelete', 'Delete selected mailboxes.', 'call,all', 'mwiExternal'],
  ['MWIGet', 'Get selected mailboxes with message counts.', 'call,reporting,all', 'mwiExternal'],
  ['MWIUpdate', 'Update the mailbox message counts.', 'call,all', 'mwiExternal'],
  ['Originate', 'Originate a call.', 'originate,all'],
  ['Ping', 'Keepalive command.', '<none>'],
  ['PresenceState', 'Check Presence State', 'call,reporting,all'],
  ['PresenceStateList', 'List the current known presence states.', 'call,reporting,all', 'managerPresencestate'],
  ['Redirect', 'Redirect (transfer) a call.', 'call,all'],
  ['Reload', 'Send a reload event.', 'system,config,all'],
  [
    'SendText',
    'Sends a text message to channel. A content type\tcan be optionally specified. If not set it is set to an empty string allowing a custom handler to default it as it sees fit.',
    'call,all',
  ],
  ['Setvar', 'Sets a channel variable or function value.', 'call,all'],
  ['ShowDialPlan', 'Show dialplan contexts and extensions', 'config,reporting,all'],
  ['SorceryMemoryCacheExpire', 'Expire (remove) ALL objects from a sorcery memory cache.', 'system,all'],
  ['SorceryMemoryCacheExpireObject', 'Expire (remove) an object from a sorcery memory cache.', 'system,all'],
  ['SorceryMemoryCachePopulate', 'Expire all objects from a memory cache and populate it with all objects from the backend.', 'system,all'],
  ['SorceryMemoryCacheStale', 'Marks ALL objects in a sorcery memory cache as stale.', 'system,all'],
  ['SorceryMemoryCacheStaleObject', 'Mark an object in a sorcery memory cache as stale.', 'system,all'],
  ['Status', 'List channel status.', 'system,call,reporting,all'],
  ['UpdateConfig', 'Update basic configuration.', 'config,all'],
  ['UserEvent', 'Send an arbitrary event.', 'user,all'],
  ['WaitEvent', 'Wait for an event to occur.', '<none>'],
];

/** Modules `ModuleCheck` finds, besides the optional ones (the transcripts' reduced build). */
const BASE_MODULES = [
  'app_stasis', 'bridge_builtin_features', 'bridge_holding', 'bridge_native_rtp', 'bridge_simple', 'bridge_softmix',
  'func_db', 'func_devstate', 'func_presencestate', 'pbx_config', 'res_ari', 'res_ari_applications', 'res_ari_asterisk',
  'res_ari_bridges', 'res_ari_channels', 'res_ari_device_states', 'res_ari_endpoints', 'res_ari_events', 'res_ari_model',
  'res_ari_playbacks', 'res_ari_recordings', 'res_ari_sounds', 'res_http_websocket', 'res_sorcery_astdb',
  'res_sorcery_config', 'res_sorcery_memory', 'res_sorcery_memory_cache', 'res_sorcery_realtime', 'res_stasis',
  'res_stasis_device_state', 'res_stasis_playback', 'res_stasis_recording', 'res_stasis_snoop', 'res_timing_timerfd',
];

const MODULES_OF: Readonly<Record<keyof FakeModules, readonly string[]>> = {
  mwiExternal: ['res_mwi_external', 'res_mwi_external_ami', 'res_ari_mailboxes', 'res_stasis_mailbox'],
  managerDevicestate: ['res_manager_devicestate'],
  managerPresencestate: ['res_manager_presencestate'],
  mwiDevstate: ['res_mwi_devstate'],
};

/** The build the transcripts came from (`core show version`). */
const BUILD_LINE = (version: string): string => `Asterisk ${version} built by root @ vm on a x86_64 running Linux on 2026-11-21 20:16:30 UTC`;

type Headers = readonly string[];

/** `astman_get_header`: the first header of that name (case-insensitive), value trimmed. */
function header(m: Headers, name: string, skipEmpty = false): string {
  const lower = name.toLowerCase();
  for (const line of m) {
    const colon = line.indexOf(':');
    if (colon !== name.length || line.slice(0, colon).toLowerCase() !== lower) continue;
    const value = line.slice(colon + 1).trim();
    if (skipEmpty && value === '') continue;
    return value;
  }
  return '';
}

function fieldsOf(m: Headers): Array<readonly [string, string]> {
  const fields: Array<readonly [string, string]> = [];
  for (const line of m) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return fields;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2026-11-21T20:20:18.462+0000`, as Asterisk prints event times (UTC here). */
export function asteriskTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}+0000`;
}

/** sscanf("%u"): leading blanks, optional sign, digits; wraps like a C unsigned. Null if no digits. */
function scanUnsigned(text: string): number | null {
  const m = /^\s*([+-]?)(\d+)/.exec(text);
  if (m === null) return null;
  const magnitude = Number((BigInt(m[2] ?? '0') & 0xffffffffn).toString());
  return m[1] === '-' ? (2 ** 32 - magnitude) % 2 ** 32 : magnitude;
}

/** `/regex/` → a RegExp; null when not of that form; 'bad' when it does not compile. */
function mailboxRegex(spec: string): RegExp | null | 'bad' {
  if (spec.length < 2 || !spec.endsWith('/')) return null;
  try {
    return new RegExp(spec.slice(1, -1));
  } catch {
    return 'bad';
  }
}

/** C-escapes subtype and message as presence_state_to_ami does (ast_escape_c). */
function escapeC(text: string): string {
  const map: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', "'": "\\'", '"': '\\"', '?': '\\?' };
  return text.replace(/[\x07\b\f\n\r\t\v\\'"?]/g, (c) => map[c] ?? c);
}

/** One TCP connection. */
class AmiSession {
  readonly id: number;
  readonly socket: net.Socket;
  /** A made-up `struct mansession *`, for SuccessfulAuth's SessionID. */
  readonly pointer: string;
  authenticated = false;
  username = '';
  readperm = 0;
  writeperm = 0;
  /** -1 (every class) until Login or Events changes it, as a new session starts. */
  sendEvents = -1;
  challenge = '';
  closed = false;
  /** Events that arrive while an action of this session runs wait for its reply. */
  holding = false;
  held: string[] = [];
  partial = '';
  discardingLongLine = false;
  headers: string[] = [];
  readonly queue: string[][] = [];
  busy = false;
  timers = new Set<NodeJS.Timeout>();

  constructor(id: number, socket: net.Socket) {
    this.id = id;
    this.socket = socket;
    this.pointer = `0x7f${(0x10000000 + id * 0x1450).toString(16)}`;
  }
}

export interface FakeAmiStats {
  /** Lines longer than 1024 bytes, dropped. */
  longLines: number;
  /** Sessions dropped for a full queue or output buffer, or refused past the authlimit. */
  overflows: number;
}

/** The fake's AMI listener. */
export class FakeAmiServer {
  private readonly host: AmiHost;
  private readonly server: net.Server;
  private readonly sessions = new Set<AmiSession>();
  private nextSessionId = 1;
  readonly stats: FakeAmiStats = { longLines: 0, overflows: 0 };

  constructor(host: AmiHost) {
    this.host = host;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound port. */
  listen(hostname: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, hostname, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops listening and destroys every session. */
  async close(): Promise<void> {
    this.dropConnections();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Closes every session abruptly; the listener stays. */
  dropConnections(): void {
    for (const session of [...this.sessions]) this.destroy(session);
  }

  /** Writes raw bytes to every logged-in session (tests of malformed input). */
  injectRaw(text: string): void {
    for (const session of this.sessions) if (session.authenticated) this.write(session, text);
  }

  /** Writes what is pending, then closes every session (a shutdown). */
  endConnections(): void {
    for (const session of [...this.sessions]) this.end(session);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sends an event of class `category` to every session whose permissions and mask include it. */
  broadcast(category: number, event: string, fields: ReadonlyArray<readonly [string, string | number]>): void {
    let text = `Event: ${event}\r\nPrivilege: ${authorityToString(category)}\r\n`;
    for (const [name, value] of fields) text += `${name}: ${value}\r\n`;
    text += '\r\n';
    for (const session of this.sessions) this.deliver(session, category, text);
  }

  deviceStateChange(device: string, state: string): void {
    if (!this.host.modules.managerDevicestate) return;
    this.broadcast(AmiClass.call, 'DeviceStateChange', [['Device', device], ['State', state]]);
  }

  extensionStatus(hint: FakeHint, status: number, hintText = hint.devices): void {
    this.broadcast(AmiClass.call, 'ExtensionStatus', [
      ['Exten', hint.exten],
      ['Context', hint.context],
      ['Hint', hintText],
      ['Status', status],
      ['StatusText', extensionStatusText(status)],
    ]);
  }

  messageWaiting(mailbox: string, waiting: number, newMessages: number, oldMessages: number): void {
    this.broadcast(AmiClass.call, 'MessageWaiting', [['Mailbox', mailbox], ['Waiting', waiting], ['New', newMessages], ['Old', oldMessages]]);
  }

  presenceStateChange(provider: string, value: PresenceValue): void {
    if (!this.host.modules.managerPresencestate) return;
    this.broadcast(AmiClass.call, 'PresenceStateChange', [
      ['Presentity', provider],
      ['Status', value.state],
      ['Subtype', escapeC(value.subtype)],
      ['Message', escapeC(value.message)],
    ]);
  }

  /** `core stop now` / `core restart now`: Shutdown to every session that takes system events. */
  shutdown(restart: boolean): void {
    this.broadcast(AmiClass.system, 'Shutdown', [['Shutdown', 'Cleanly'], ['Restart', restart ? 'True' : 'False']]);
  }

  /** The boot broadcast: note its header order differs from the per-session FullyBooted. */
  fullyBootedBroadcast(): void {
    const uptime = this.uptimeSeconds();
    this.broadcast(AmiClass.system, 'FullyBooted', [['Status', 'Fully Booted'], ['Uptime', uptime], ['LastReload', uptime]]);
  }

  private uptimeSeconds(): number {
    return Math.max(0, Math.floor((Date.now() - this.host.bootedAtMs()) / 1000));
  }

  // ---- connections ----

  private accept(socket: net.Socket): void {
    // manager.conf authlimit: past 50 sessions that have not logged in, close at once (no banner).
    let unauthenticated = 0;
    for (const s of this.sessions) if (!s.authenticated) unauthenticated++;
    if (unauthenticated >= AUTH_LIMIT) {
      this.stats.overflows++;
      socket.destroy();
      return;
    }
    const session = new AmiSession(this.nextSessionId++, socket);
    this.sessions.add(session);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(session, chunk));
    socket.on('error', () => this.destroy(session));
    socket.on('close', () => this.forget(session));
    this.write(session, 'Asterisk Call Manager/9.0.0\r\n');
    this.timer(session, AUTH_TIMEOUT_MS, () => {
      if (!session.authenticated) this.destroy(session);
    });
  }

  private timer(session: AmiSession, delayMs: number, fn: () => void): void {
    const t = setTimeout(() => {
      session.timers.delete(t);
      fn();
    }, delayMs);
    session.timers.add(t);
  }

  private forget(session: AmiSession): void {
    session.closed = true;
    for (const t of session.timers) clearTimeout(t);
    session.timers.clear();
    session.held = [];
    this.sessions.delete(session);
  }

  private destroy(session: AmiSession): void {
    this.forget(session);
    session.socket.destroy();
  }

  private end(session: AmiSession): void {
    this.forget(session);
    // Asterisk closes the descriptor: flush what was written, then close both directions.
    session.socket.end(() => session.socket.destroy());
  }

  private write(session: AmiSession, text: string): void {
    if (session.closed) return;
    session.socket.write(Buffer.from(text, 'latin1'));
    if (session.socket.writableLength > MAX_OUTPUT_BYTES) {
      this.stats.overflows++;
      this.destroy(session);
    }
  }

  private deliver(session: AmiSession, category: number, text: string): void {
    if (session.closed || !session.authenticated) return;
    if ((session.readperm & category) !== category || (session.sendEvents & category) !== category) return;
    if (session.holding) {
      if (session.held.length >= MAX_HELD_EVENTS) {
        this.stats.overflows++;
        this.destroy(session);
        return;
      }
      session.held.push(text);
      return;
    }
    this.write(session, text);
  }

  private onData(session: AmiSession, chunk: Buffer): void {
    let text = session.partial + chunk.toString('latin1');
    session.partial = '';
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      let line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (session.discardingLongLine) {
        session.discardingLongLine = false;
        continue;
      }
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.length > MAX_LINE_BYTES) {
        this.stats.longLines++;
        continue;
      }
      if (line === '') {
        if (session.headers.length > 0) this.enqueue(session, session.headers);
        session.headers = [];
        continue;
      }
      if (session.headers.length < MAX_HEADERS) session.headers.push(line);
    }
    if (text.length > MAX_LINE_BYTES) {
      // A line that never ends: drop what came so far and the rest up to its newline.
      this.stats.longLines++;
      session.discardingLongLine = true;
      text = '';
    }
    session.partial = text;
  }

  private enqueue(session: AmiSession, message: string[]): void {
    if (session.queue.length >= MAX_QUEUED_MESSAGES) {
      this.stats.overflows++;
      this.destroy(session);
      return;
    }
    session.queue.push(message);
    if (!session.busy) void this.drain(session);
  }

  private async drain(session: AmiSession): Promise<void> {
    session.busy = true;
    try {
      while (!session.closed) {
        const message = session.queue.shift();
        if (message === undefined) break;
        session.holding = true;
        let keep = true;
        try {
          keep = await this.process(session, message);
        } finally {
          session.holding = false;
        }
        if (!keep) {
          this.end(session);
          break;
        }
        const held = session.held;
        session.held = [];
        for (const text of held) this.write(session, text);
      }
    } finally {
      session.busy = false;
    }
  }

  // ---- replies ----

  private idLine(m: Headers): string {
    const id = header(m, 'ActionID');
    return id === '' ? '' : `ActionID: ${id}\r\n`;
  }

  /** `astman_send_response_full`: Response, ActionID, optional Message, end of message. */
  private respond(session: AmiSession, m: Headers, response: string, message: string | null): void {
    this.write(session, `Response: ${response}\r\n${this.idLine(m)}${message === null ? '' : `Message: ${message}\r\n`}\r\n`);
  }

  private error(session: AmiSession, m: Headers, message: string): void {
    this.respond(session, m, 'Error', message);
  }

  private ack(session: AmiSession, m: Headers, message: string | null): void {
    this.respond(session, m, 'Success', message);
  }

  /** `astman_start_ack`: a Success reply whose body follows. */
  private startAck(m: Headers): string {
    return `Response: Success\r\n${this.idLine(m)}`;
  }

  private listAck(m: Headers, message: string): string {
    return `Response: Success\r\n${this.idLine(m)}EventList: start\r\nMessage: ${message}\r\n\r\n`;
  }

  private listComplete(m: Headers, event: string, count: number): string {
    return `Event: ${event}\r\n${this.idLine(m)}EventList: Complete\r\nListItems: ${count}\r\n\r\n`;
  }

  // ---- dispatch ----

  /** Handles one request; false ends the session (Logoff, failed Login). */
  private async process(session: AmiSession, m: Headers): Promise<boolean> {
    const action = header(m, 'Action', true);
    this.host.recordAction(session.id, action, fieldsOf(m));
    if (action === '') {
      this.error(session, m, 'Missing action in request');
      return true;
    }
    const lower = action.toLowerCase();
    if (!session.authenticated && lower !== 'login' && lower !== 'logoff' && lower !== 'challenge') {
      this.error(session, m, 'Permission denied');
      return true;
    }
    const entry = ACTION_LIST.find(([name]) => name.toLowerCase() === lower);
    if (entry === undefined || (entry[3] !== undefined && !this.host.modules[entry[3]])) {
      this.error(session, m, `Invalid/unknown command: ${action}. Use Action: ListCommands to show available commands.`);
      return true;
    }
    const authority = entry[2] === '<none>' ? 0 : permFromList(entry[2]);
    if (authority !== 0 && (session.writeperm & authority) === 0) {
      this.error(session, m, 'Permission denied');
      return true;
    }
    return this.run(session, entry[0], m);
  }

  private async run(session: AmiSession, action: string, m: Headers): Promise<boolean> {
    switch (action) {
      case 'Login':
        return this.login(session, m);
      case 'Logoff':
        this.respond(session, m, 'Goodbye', 'Thanks for all the fish.');
        return false;
      case 'Challenge':
        this.challenge(session, m);
        return true;
      case 'Ping':
        this.ping(session, m);
        return true;
      case 'Events':
        this.events(session, m);
        return true;
      case 'ListCommands':
        this.listCommands(session, m);
        return true;
      case 'Setvar':
        this.setvar(session, m);
        return true;
      case 'Getvar':
        this.getvar(session, m);
        return true;
      case 'DeviceStateList':
        this.deviceStateList(session, m);
        return true;
      case 'PresenceStateList':
        this.presenceStateList(session, m);
        return true;
      case 'ExtensionStateList':
        this.extensionStateList(session, m);
        return true;
      case 'ExtensionState':
        this.extensionState(session, m);
        return true;
      case 'PresenceState':
        this.presenceState(session, m);
        return true;
      case 'MailboxCount':
        this.mailboxCount(session, m);
        return true;
      case 'MailboxStatus':
        this.mailboxStatus(session, m);
        return true;
      case 'MWIUpdate':
        this.mwiUpdate(session, m);
        return true;
      case 'MWIGet':
        this.mwiGet(session, m);
        return true;
      case 'MWIDelete':
        this.mwiDelete(session, m);
        return true;
      case 'CoreSettings':
        this.coreSettings(session, m);
        return true;
      case 'CoreStatus':
        this.coreStatus(session, m);
        return true;
      case 'Command':
        this.command(session, m);
        return true;
      case 'ModuleCheck':
        this.moduleCheck(session, m);
        return true;
      default:
        // Listed by the real build but outside the fake's model (channels, config, …).
        this.error(session, m, `Action ${action} is not implemented by the fake Asterisk`);
        return true;
    }
  }

  // ---- authentication ----

  private async login(session: AmiSession, m: Headers): Promise<boolean> {
    if (session.authenticated) {
      this.ack(session, m, 'Already authenticated');
      return true;
    }
    const user = this.authenticate(session, m);
    if (user === null) {
      // manager.c sleeps 1 s before answering a failed login, then drops the session.
      await new Promise<void>((resolve) => this.timer(session, this.host.failedLoginDelayMs, resolve));
      this.error(session, m, 'Authentication failed');
      return false;
    }
    session.authenticated = true;
    session.username = user.username;
    session.readperm = permFromList(user.read ?? 'all');
    session.writeperm = permFromList(user.write ?? 'all');
    const mask = eventMaskFromString(header(m, 'Events'));
    if (mask >= 0) session.sendEvents = mask;
    this.ack(session, m, 'Authentication accepted');
    if ((session.sendEvents & AmiClass.system) !== 0 && (session.readperm & AmiClass.system) !== 0 && this.host.booted()) {
      const uptime = this.uptimeSeconds();
      this.write(session, `Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: ${uptime}\r\nLastReload: ${uptime}\r\nStatus: Fully Booted\r\n\r\n`);
    }
    const now = asteriskTimestamp(Date.now());
    const plain = (address: string | undefined): string => (address ?? '127.0.0.1').replace(/^::ffff:/, '');
    const local = `IPV4/TCP/${plain(session.socket.localAddress)}/${session.socket.localPort ?? 0}`;
    const remote = `IPV4/TCP/${plain(session.socket.remoteAddress)}/${session.socket.remotePort ?? 0}`;
    this.broadcast(AmiClass.security, 'SuccessfulAuth', [
      ['EventTV', now],
      ['Severity', 'Informational'],
      ['Service', 'AMI'],
      ['EventVersion', '1'],
      ['AccountID', user.username],
      ['SessionID', session.pointer],
      ['LocalAddress', local],
      ['RemoteAddress', remote],
      ['UsingPassword', '0'],
      ['SessionTV', now],
    ]);
    return true;
  }

  private authenticate(session: AmiSession, m: Headers): AmiUser | null {
    const username = header(m, 'Username');
    if (username === '') return null;
    const user = this.host.users.find((u) => u.username.toLowerCase() === username.toLowerCase());
    if (user === undefined) return null;
    if (header(m, 'AuthType').toLowerCase() === 'md5') {
      const key = header(m, 'Key');
      if (key === '' || session.challenge === '') return null;
      const expected = createHash('md5').update(session.challenge + user.secret, 'latin1').digest('hex');
      return key === expected ? user : null;
    }
    return header(m, 'Secret') === user.secret ? user : null;
  }

  private challenge(session: AmiSession, m: Headers): void {
    if (header(m, 'AuthType').toLowerCase() !== 'md5') {
      this.error(session, m, 'Must specify AuthType');
      return;
    }
    if (session.challenge === '') session.challenge = String(randomInt(1, 2 ** 31 - 1));
    this.write(session, `${this.startAck(m)}Challenge: ${session.challenge}\r\n\r\n`);
  }

  // ---- simple actions ----

  private ping(session: AmiSession, m: Headers): void {
    // `%ld.%06lu` of the current time, to the microsecond.
    const nowMs = performance.timeOrigin + performance.now();
    const micros = String(Math.floor((nowMs % 1000) * 1000)).padStart(6, '0');
    this.write(session, `${this.startAck(m)}Ping: Pong\r\nTimestamp: ${Math.floor(nowMs / 1000)}.${micros}\r\n\r\n`);
  }

  private events(session: AmiSession, m: Headers): void {
    const mask = eventMaskFromString(header(m, 'EventMask'));
    if (mask >= 0) session.sendEvents = mask;
    if (mask > 0) this.write(session, `Response: Success\r\n${this.idLine(m)}Events: On\r\n\r\n`);
    else if (mask === 0) this.write(session, `Response: Success\r\n${this.idLine(m)}Events: Off\r\n\r\n`);
    else this.error(session, m, 'Invalid event mask');
  }

  private listCommands(session: AmiSession, m: Headers): void {
    let text = this.startAck(m);
    for (const [name, synopsis, priv, module] of ACTION_LIST) {
      if (module !== undefined && !this.host.modules[module]) continue;
      const authority = priv === '<none>' ? 0 : permFromList(priv);
      if (authority !== 0 && (session.writeperm & authority) === 0) continue;
      text += `${name}: ${synopsis}  (Priv: ${priv})\r\n`;
    }
    this.write(session, `${text}\r\n`);
  }

  // ---- variables and functions ----

  /** The action's Variable, or null after answering the errors Asterisk gives (none, or a channel: the fake has none). */
  private globalVariable(session: AmiSession, m: Headers): string | null {
    const variable = header(m, 'Variable');
    if (variable === '') {
      this.error(session, m, 'No variable specified');
      return null;
    }
    if (header(m, 'Channel') !== '') {
      this.error(session, m, 'No such channel');
      return null;
    }
    return variable;
  }

  private setvar(session: AmiSession, m: Headers): void {
    const variable = this.globalVariable(session, m);
    if (variable === null) return;
    const value = header(m, 'Value');
    const state = this.host.state();
    const fn = /^([^()]+)\((.*)\)$/s.exec(variable);
    let ok: boolean;
    if (fn === null) {
      state.globals.set(variable, value);
      ok = true;
    } else {
      const name = (fn[1] ?? '').toUpperCase();
      const arg = fn[2] ?? '';
      if (name === 'DEVICE_STATE') ok = state.setCustomDeviceState(arg, value);
      else if (name === 'PRESENCE_STATE') ok = state.setCustomPresence(arg, value);
      else ok = false;
    }
    if (ok) this.ack(session, m, 'Variable Set');
    else this.error(session, m, 'Variable not set');
  }

  private getvar(session: AmiSession, m: Headers): void {
    const variable = this.globalVariable(session, m);
    if (variable === null) return;
    const state = this.host.state();
    let value = '';
    const fn = /^([^()]+)\((.*)\)$/s.exec(variable);
    if (fn === null) {
      value = state.globals.get(variable) ?? '';
    } else {
      const name = (fn[1] ?? '').toUpperCase();
      const args = (fn[2] ?? '').split(',');
      const first = args[0] ?? '';
      if (name === 'DEVICE_STATE') {
        value = deviceStateName(state.deviceState(first));
      } else if (name === 'HINT') {
        const at = first.indexOf('@');
        const exten = at < 0 ? first : first.slice(0, at);
        const context = at < 0 || at === first.length - 1 ? 'default' : first.slice(at + 1);
        value = state.findHint(exten, context)?.devices ?? '';
      } else if (name === 'PRESENCE_STATE') {
        const presence = state.presenceFromProvider(first);
        const field = (args[1] ?? '').toLowerCase();
        const encode = (args[2] ?? '').includes('e');
        const raw = presence === null ? '' : field === 'value' ? presence.state : field === 'subtype' ? presence.subtype : field === 'message' ? presence.message : '';
        value = encode && field !== 'value' ? Buffer.from(raw, 'utf8').toString('base64') : raw;
      }
    }
    this.write(session, `${this.startAck(m)}Variable: ${variable}\r\nValue: ${value}\r\n\r\n`);
  }

  // ---- lists and queries ----

  private deviceStateList(session: AmiSession, m: Headers): void {
    const id = this.idLine(m);
    let text = this.listAck(m, 'Device State Changes will follow');
    let count = 0;
    for (const [device, state] of this.host.state().cachedDeviceStates()) {
      text += `Event: DeviceStateChange\r\n${id}Device: ${device}\r\nState: ${deviceStateName(state)}\r\n\r\n`;
      count++;
    }
    this.write(session, text + this.listComplete(m, 'DeviceStateListComplete', count));
  }

  private presenceStateList(session: AmiSession, m: Headers): void {
    const id = this.idLine(m);
    let text = this.listAck(m, 'Presence State Changes will follow');
    let count = 0;
    for (const [provider, value] of this.host.state().cachedPresence()) {
      text += `Event: PresenceStateChange\r\n${id}Presentity: ${provider}\r\nStatus: ${value.state}\r\nSubtype: ${escapeC(value.subtype)}\r\nMessage: ${escapeC(value.message)}\r\n\r\n`;
      count++;
    }
    this.write(session, text + this.listComplete(m, 'PresenceStateListComplete', count));
  }

  private extensionStateList(session: AmiSession, m: Headers): void {
    const id = this.idLine(m);
    const state = this.host.state();
    let text = this.listAck(m, 'Extension Statuses will follow');
    let count = 0;
    for (const hint of state.hints()) {
      const status = state.hintLastStatus(hint);
      text += `Event: ExtensionStatus\r\n${id}Exten: ${hint.exten}\r\nContext: ${hint.context}\r\nHint: ${hint.devices}\r\nStatus: ${status}\r\nStatusText: ${extensionStatusText(status)}\r\n\r\n`;
      count++;
    }
    this.write(session, text + this.listComplete(m, 'ExtensionStateListComplete', count));
  }

  private extensionState(session: AmiSession, m: Headers): void {
    const exten = header(m, 'Exten');
    if (exten === '') {
      this.error(session, m, 'Extension not specified');
      return;
    }
    const context = header(m, 'Context') || 'default';
    const state = this.host.state();
    const status = state.extensionStatus(exten, context);
    const hint = state.findHint(exten, context)?.devices ?? '';
    this.write(session, `${this.startAck(m)}Message: Extension Status\r\nExten: ${exten}\r\nContext: ${context}\r\nHint: ${hint}\r\nStatus: ${status}\r\nStatusText: ${extensionStatusText(status)}\r\n\r\n`);
  }

  private presenceState(session: AmiSession, m: Headers): void {
    const provider = header(m, 'Provider');
    if (provider === '') {
      this.error(session, m, 'No provider specified');
      return;
    }
    const value = this.host.state().presence(provider);
    if (value === null) {
      this.error(session, m, `Invalid provider ${provider} or provider in invalid state`);
      return;
    }
    let text = `${this.startAck(m)}Message: Presence State\r\nState: ${value.state}\r\n`;
    if (value.subtype !== '') text += `Subtype: ${value.subtype}\r\n`;
    if (value.message !== '') text += `Message: ${value.message}\r\nPresenceMessage: ${value.message}\r\n`;
    this.write(session, `${text}\r\n`);
  }

  // ---- MWI ----

  private mailboxCount(session: AmiSession, m: Headers): void {
    const mailbox = header(m, 'Mailbox');
    if (mailbox === '') {
      this.error(session, m, 'Mailbox not specified');
      return;
    }
    const counts = this.host.state().mailbox(mailbox) ?? { new: 0, old: 0 };
    this.write(session, `${this.startAck(m)}Message: Mailbox Message Count\r\nMailbox: ${mailbox}\r\nUrgMessages: 0\r\nNewMessages: ${counts.new}\r\nOldMessages: ${counts.old}\r\n\r\n`);
  }

  private mailboxStatus(session: AmiSession, m: Headers): void {
    const mailbox = header(m, 'Mailbox');
    if (mailbox === '') {
      this.error(session, m, 'Mailbox not specified');
      return;
    }
    const state = this.host.state();
    const waiting = mailbox.split(/[,&]/).some((one) => state.hasVoicemail(one) === 1) ? 1 : 0;
    this.write(session, `${this.startAck(m)}Message: Mailbox Status\r\nMailbox: ${mailbox}\r\nWaiting: ${waiting}\r\n\r\n`);
  }

  private mwiUpdate(session: AmiSession, m: Headers): void {
    const mailbox = header(m, 'Mailbox');
    if (mailbox === '') {
      this.error(session, m, 'Missing mailbox parameter in request');
      return;
    }
    const oldText = header(m, 'OldMessages');
    const newText = header(m, 'NewMessages');
    const oldMessages = oldText === '' ? 0 : scanUnsigned(oldText);
    if (oldMessages === null) {
      this.error(session, m, `Invalid OldMessages: ${oldText}`);
      return;
    }
    const newMessages = newText === '' ? 0 : scanUnsigned(newText);
    if (newMessages === null) {
      this.error(session, m, `Invalid NewMessages: ${newText}`);
      return;
    }
    this.host.state().updateMailbox(mailbox, newMessages, oldMessages);
    this.ack(session, m, null);
  }

  /** The mailboxes a MWIGet/MWIDelete `Mailbox` names: one, or all matching `/regex/`; a string on error. */
  private selectMailboxes(spec: string): string[] | string {
    const state = this.host.state();
    if (!spec.startsWith('/')) return state.mailbox(spec) === undefined ? [] : [spec];
    const regex = mailboxRegex(spec);
    if (regex === null) return `Mailbox regex format invalid in: ${spec}`;
    if (regex === 'bad') return 'Mailbox container creation failure';
    return state.sortedMailboxes().map(([name]) => name).filter((name) => regex.test(name));
  }

  private mwiGet(session: AmiSession, m: Headers): void {
    const spec = header(m, 'Mailbox');
    if (spec === '') {
      this.error(session, m, 'Missing mailbox parameter in request');
      return;
    }
    const names = this.selectMailboxes(spec);
    if (typeof names === 'string') {
      this.error(session, m, names);
      return;
    }
    const id = this.idLine(m);
    const state = this.host.state();
    let text = this.listAck(m, 'Mailboxes will follow');
    for (const name of names) {
      const counts = state.mailbox(name) ?? { new: 0, old: 0 };
      // ActionID comes last in these items (09-mwi.rx).
      text += `Event: MWIGet\r\nMailbox: ${name}\r\nOldMessages: ${counts.old}\r\nNewMessages: ${counts.new}\r\n${id}\r\n`;
    }
    this.write(session, text + this.listComplete(m, 'MWIGetComplete', names.length));
  }

  private mwiDelete(session: AmiSession, m: Headers): void {
    const spec = header(m, 'Mailbox');
    if (spec === '') {
      this.error(session, m, 'Missing mailbox parameter in request');
      return;
    }
    const names = this.selectMailboxes(spec);
    if (typeof names === 'string') {
      this.error(session, m, names);
      return;
    }
    const state = this.host.state();
    for (const name of names) state.deleteMailbox(name);
    this.ack(session, m, null);
  }

  // ---- core ----

  private coreSettings(session: AmiSession, m: Headers): void {
    this.write(
      session,
      `${this.startAck(m)}AMIversion: 9.0.0\r\nAsteriskVersion: ${this.host.version}\r\nSystemName: \r\nCoreMaxCalls: 0\r\nCoreMaxLoadAvg: 0.000000\r\nCoreRunUser: \r\nCoreRunGroup: \r\nCoreMaxFilehandles: 0\r\nCoreRealTimeEnabled: No\r\nCoreCDRenabled: Yes\r\nCoreHTTPenabled: No\r\nSoundsSearchCustomDir: No\r\n\r\n`,
    );
  }

  private coreStatus(session: AmiSession, m: Headers): void {
    const d = new Date(this.host.bootedAtMs());
    const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
    this.write(
      session,
      `${this.startAck(m)}CoreStartupDate: ${date}\r\nCoreStartupTime: ${time}\r\nCoreReloadDate: ${date}\r\nCoreReloadTime: ${time}\r\nCoreCurrentCalls: 0\r\nCoreProcessedCalls: 0\r\n\r\n`,
    );
  }

  private moduleCheck(session: AmiSession, m: Headers): void {
    const name = header(m, 'Module').replace(/\.so$/, '');
    const loaded = new Set(BASE_MODULES);
    for (const [option, modules] of Object.entries(MODULES_OF) as Array<[keyof FakeModules, readonly string[]]>) {
      if (this.host.modules[option]) for (const module of modules) loaded.add(module);
    }
    if (!loaded.has(name)) {
      this.error(session, m, 'Module not loaded');
      return;
    }
    this.write(session, `Response: Success\r\n${this.idLine(m)}Version: \r\n\r\n`);
  }

  private command(session: AmiSession, m: Headers): void {
    const command = header(m, 'Command');
    if (command === '') {
      this.error(session, m, 'No command provided');
      return;
    }
    const { ok, output } = this.cli(command);
    // manager.c drops one trailing newline, then sends one Output header per line.
    const body = output.endsWith('\n') ? output.slice(0, -1) : output;
    let text = `Response: ${ok ? 'Success' : 'Error'}\r\n${this.idLine(m)}Message: Command output follows\r\n`;
    for (const line of body.split('\n')) text += `Output: ${line}\r\n`;
    this.write(session, `${text}\r\n`);
  }

  /** The few CLI commands the fake knows, with Asterisk's output layouts. */
  private cli(command: string): { ok: boolean; output: string } {
    const words = command.trim().split(/\s+/);
    const line = words.join(' ');
    const state = this.host.state();
    if (line === 'core show version') return { ok: true, output: `${BUILD_LINE(this.host.version)}\n` };
    if (line === 'core show settings') return { ok: true, output: this.showSettings() };
    if (line === 'devstate list') {
      let out = '\n---------------------------------------------------------------------\n--- Custom Device States --------------------------------------------\n---------------------------------------------------------------------\n---\n';
      for (const [name, value] of [...state.astdb.customDevstate].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        out += `--- Name: 'Custom:${name}'  State: '${value}'\n---\n`;
      }
      out += '---------------------------------------------------------------------\n---------------------------------------------------------------------\n\n';
      return { ok: true, output: out };
    }
    if (words[0] === 'devstate' && words[1] === 'change') {
      const usage =
        'Usage: devstate change <device> <state>\n       Change a custom device to a new state.\n       The possible values for the state are:\nUNKNOWN | NOT_INUSE | INUSE | BUSY | INVALID | UNAVAILABLE | RINGING\nRINGINUSE | ONHOLD\n\nExamples:\n       devstate change Custom:mystate1 INUSE\n       devstate change Custom:mystate1 NOT_INUSE\n       \n';
      const device = words[2] ?? '';
      const value = words[3] ?? '';
      if (words.length !== 4) return { ok: false, output: usage };
      if (device.slice(0, 7).toLowerCase() !== 'custom:') return { ok: false, output: "The devstate command can only be used to set 'Custom:' device state!\n" };
      if (!state.setCustomDeviceState(device, value)) return { ok: false, output: usage };
      return { ok: true, output: `Changing ${device.slice(7)} to ${value}\n` };
    }
    if (line === 'core show hints') {
      const hints = state.hints();
      if (hints.length === 0) return { ok: true, output: 'There are no registered dialplan hints\n' };
      let out = '\n    -= Registered Asterisk Dial Plan Hints =-\n';
      for (const hint of hints) {
        const presence = hint.devices.split(',')[1];
        const presenceState = presence === undefined ? 'not_set' : (state.presence(presence.trim())?.state ?? 'not_set');
        out += `${`${hint.exten}@${hint.context}`.padEnd(30).slice(0, 30)}: ${hint.devices.padEnd(60).slice(0, 60)}  State:${extensionStatusText(state.hintLastStatus(hint)).padEnd(15).slice(0, 15)} Presence:${presenceState.padEnd(15).slice(0, 15)} Watchers ${'0'.padStart(2)}\n`;
      }
      return { ok: true, output: `${out}----------------\n- ${hints.length} hints registered\n` };
    }
    return { ok: false, output: `No such command '${command}' (type 'core show help ${bestPrefix(words)}' for other possible commands)\n` };
  }

  private showSettings(): string {
    const started = new Date(this.host.bootedAtMs());
    const clock = `${pad2(started.getUTCHours())}:${pad2(started.getUTCMinutes())}:${pad2(started.getUTCSeconds())}`;
    const rows: Array<[string, string]> = [
      ['Version', this.host.version],
      ['ABI related Build Options', 'OPTIONAL_API'],
      ['All Build Options', 'OPTIONAL_API'],
      ['Maximum calls', 'Not set'],
      ['Maximum open file handles', '1048576'],
      ['Root console verbosity', '3'],
      ['Current console verbosity', '3'],
      ['Debug level', '0'],
      ['Trace level', '0'],
      ['Dump core on crash', 'No'],
      ['Maximum load average', '0.000000'],
      ['Minimum free memory', '0 MB'],
      ['Startup time', clock],
      ['Last reload time', clock],
      ['System', 'Linux/6.18.44-fc-v669 built by root on x86_64 2026-11-21 20:16:30 UTC'],
      ['System name', ''],
      ['Entity ID', this.host.eid],
      ['PBX UUID', '00000000-0000-4000-8000-000000000000'],
      ['Default language', 'en'],
      ['Language prefix', 'Enabled'],
      ['User name and group', '/'],
      ['Executable includes', 'Disabled'],
      ['Transcode via SLIN', 'Enabled'],
      ['Transmit silence during rec', 'Disabled'],
      ['Generic PLC', 'Disabled'],
      ['Generic PLC on equal codecs', 'Disabled'],
      ['Hide Msg Chan AMI events', 'Disabled'],
      ['Sounds search custom dir', 'Disabled'],
    ];
    let out = '\nPBX Core settings\n-----------------\n';
    for (const [name, value] of rows) out += `  ${`${name}:`.padEnd(29)}${value}\n`;
    out += '\n* Subsystems\n  -------------\n';
    out += '  Manager (AMI):               Enabled\n  Web Manager (AMI/HTTP):      Disabled\n  Call data records:           Enabled\n  Realtime Architecture (ARA): Disabled\n';
    return `${out}\n\n`;
  }
}

/** Known CLI command words, for the `core show help …` hint of an unknown command. */
const CLI_COMMANDS: readonly string[][] = [
  ['core', 'show', 'version'],
  ['core', 'show', 'settings'],
  ['core', 'show', 'hints'],
  ['core', 'show', 'help'],
  ['core', 'stop', 'now'],
  ['devstate', 'list'],
  ['devstate', 'change'],
  ['module', 'show'],
  ['module', 'load'],
  ['module', 'unload'],
];

/**
 * cli.c's find_best: the words up to and including the first one at which the words
 * before it stop being the start of some command (`no such command` → `no such`).
 */
function bestPrefix(words: readonly string[]): string {
  const taken: string[] = [];
  for (let i = 0; i < words.length; i++) {
    taken.push(words[i] ?? '');
    const before = words.slice(0, i);
    const matches = CLI_COMMANDS.some((cmd) => before.every((w, j) => cmd[j] === w));
    if (!matches) break;
  }
  return taken.join(' ');
}
