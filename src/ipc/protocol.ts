// The carillond IPC protocol, version 1 (architecture.md §2.8, §2.11), shared by the
// server (src/runtime/ipc-server.ts) and the client (src/client/ipc-client.ts).
//
// Framing: NDJSON over a unix stream socket, one JSON object per '\n'-terminated line.
//   request   { "id": number, "method": string, "params"?: object }
//   response  { "id": number, "result": ... }
//             { "id": number | null, "error": { "code": string, "message": string } }
//   push      { "method": "notify", "params": { "topic": string, "event": ... } }
// The error id is null when the line carried no usable id (bad JSON, bad envelope) and
// for connection-level errors (line too long, slow consumer, too many clients).
//
// The first request on a connection must be `hello` { version: 1, client?: string,
// features?: string[] }; anything else first gets IPC_HELLO_REQUIRED (the server tracks
// that; it is session state), a different version gets IPC_VERSION. `features` asks for
// optional extensions; the answer's `features` lists those the server turned on. The one
// extension so far, `cpg-binary`, adds binary frames for cpg.mcast and CPG deliveries
// next to the lines (src/ipc/binary-frames.ts). The envelope is JSON-RPC-like rather
// than JSON-RPC 2.0 because the daemon needs neither batches nor the "jsonrpc" member.
//
// Services (added in version 1 without breaking it; a daemon without services answers
// them with IPC_UNAVAILABLE):
//   cpg.initialize {pid?}                → {handle, pid, nodeId}      a local CPG process
//   cpg.join / cpg.leave {handle, group} → {result}                   'queued' | 'full' | 'try-again' | ...
//   cpg.mcast {handle, group, payloadHex, seq?} → {result}            payloadHex may be ''; seq: see below
//   cpg.finalize {handle}                → {handle, finalized: true}
//   cpg.membership {group}               → {group, members}
//   cpg.groups                           → {groups}
//   quorum.status                        → QuorumStatusJson
//   quorum.setExpected {votes}           → {result: 'ok'}
//   quorum.setVotes {nodeId, votes}      → {result: 'ok'}
//   cmap.get {key}                       → {key, type, value}
//   cmap.set {key, type, value}          → {key, type, value}         as stored
//   cmap.delete {key}                    → {key, deleted: true}
//   cmap.list {prefix?}                  → {entries}
//   cmap.track {key, prefix?, add?, modify?, delete?} → {trackId}
//   cmap.untrack {trackId}               → {trackId, tracked: false}
//   bridge.status                        → BridgeStatusJson           the Asterisk bridge
//   bridge.ping                          → {eid}                      res_corosync's ping
//   sam.register {name, pid, heartbeatIntervalMs, recovery} → SamAppJson   a SAM application
//   sam.heartbeat {name}                 → {name, heartbeat: true}    only on the registering connection
//   sam.unregister {name}                → {name, registered: false}
//   sam.status                           → SamStatusJson              supervised programs + SAM apps
//   amf.start / amf.stop {name}          → AmfProcessJson             operator start / stop
// cpg.mcast pipelining: a client may send mcasts without waiting for each answer if it
// numbers them with `seq` (u32, +1 per message, any start). Once one is refused
// ('full' or 'try-again'), every later one of that handle is refused too ('try-again',
// not even tried) until the refused seq is sent again: go-back-N, so the messages that
// are queued are always a prefix of what was sent and order survives refusals.
// Pushes of a topic reach a connection only after `<topic>.subscribe` (totem, quorum, cpg,
// cmap): cpg pushes carry the connection's own handles' events, cmap pushes its own
// tracks' events, quorum pushes start with the current state. A connection that closes
// finalizes its CPG handles (PROCLEAVE, reason procdown) and stops its tracks; its live
// SAM registrations fail (their recovery runs: the registered pid is killed).
//
// Validation is written by hand (the project has no schema dependency) and is strict:
// unknown envelope members and unknown params are rejected, so a client written for a
// later protocol version fails loudly instead of being half understood. The parser
// never throws: every malformed line yields exactly one typed error.

import { type Result, err, ok } from '../base/result';
import { CPG_BINARY_FEATURE } from './binary-frames';
import { isCmapValueTypeName } from './cmap-json';
import type {
  AmfProcessJson,
  BridgeStatusJson,
  CmapEntryJson,
  CmapTrackEventJson,
  CmapValueTypeName,
  CpgEventJson,
  CpgGroupJson,
  CpgJoinResultName,
  CpgLeaveResultName,
  CpgMcastResultName,
  CpgMemberJson,
  DaemonStatus,
  QuorumEventJson,
  QuorumStatusJson,
  SamAppJson,
  SamStatusJson,
  TotemEventJson,
} from './daemon-api';

export const IpcProtocolVersion = 1;
export const IpcServerName = 'carillond';

export const IpcMethods = {
  hello: 'hello',
  status: 'status',
  totemSubmit: 'totem.submit',
  totemSubscribe: 'totem.subscribe',
  totemUnsubscribe: 'totem.unsubscribe',
  reload: 'reload',
  ping: 'ping',
  cpgSubscribe: 'cpg.subscribe',
  cpgUnsubscribe: 'cpg.unsubscribe',
  cpgInitialize: 'cpg.initialize',
  cpgJoin: 'cpg.join',
  cpgLeave: 'cpg.leave',
  cpgMcast: 'cpg.mcast',
  cpgFinalize: 'cpg.finalize',
  cpgMembership: 'cpg.membership',
  cpgGroups: 'cpg.groups',
  quorumSubscribe: 'quorum.subscribe',
  quorumUnsubscribe: 'quorum.unsubscribe',
  quorumStatus: 'quorum.status',
  quorumSetExpected: 'quorum.setExpected',
  quorumSetVotes: 'quorum.setVotes',
  cmapSubscribe: 'cmap.subscribe',
  cmapUnsubscribe: 'cmap.unsubscribe',
  cmapGet: 'cmap.get',
  cmapSet: 'cmap.set',
  cmapDelete: 'cmap.delete',
  cmapList: 'cmap.list',
  cmapTrack: 'cmap.track',
  cmapUntrack: 'cmap.untrack',
  bridgeStatus: 'bridge.status',
  bridgePing: 'bridge.ping',
  samRegister: 'sam.register',
  samHeartbeat: 'sam.heartbeat',
  samUnregister: 'sam.unregister',
  samStatus: 'sam.status',
  amfStart: 'amf.start',
  amfStop: 'amf.stop',
} as const;
export type IpcMethod = (typeof IpcMethods)[keyof typeof IpcMethods];

/** Topics a client can subscribe to; pushes carry the topic name. */
export const IpcTopics = { totem: 'totem', cpg: 'cpg', quorum: 'quorum', cmap: 'cmap' } as const;
export type IpcTopic = (typeof IpcTopics)[keyof typeof IpcTopics];

/** The `method` of a server push. */
export const IpcNotifyMethod = 'notify';

/** Stable error codes a server sends (`error.code`). */
export const IpcErrorCode = {
  /** The line is not JSON (or not UTF-8). */
  parse: 'IPC_PARSE',
  /** The line is JSON but not a request envelope. */
  badRequest: 'IPC_BAD_REQUEST',
  unknownMethod: 'IPC_UNKNOWN_METHOD',
  badParams: 'IPC_BAD_PARAMS',
  /** A request other than hello came first. */
  helloRequired: 'IPC_HELLO_REQUIRED',
  /** hello asked for a protocol version the server does not speak. */
  version: 'IPC_VERSION',
  /** The daemon failed while serving the request. */
  internal: 'IPC_INTERNAL',
  /** A request line exceeded the server's limit; the connection is closed. */
  lineTooLong: 'IPC_LINE_TOO_LONG',
  /** The client read too slowly and its output queue overflowed; it is disconnected. */
  slowConsumer: 'IPC_SLOW_CONSUMER',
  /** The server is at its client limit; the connection is closed. */
  tooManyClients: 'IPC_TOO_MANY_CLIENTS',
  /** The daemon does not run the service asked for (no services, or no quorum provider). */
  unavailable: 'IPC_UNAVAILABLE',
  /** No CPG handle with that number on this connection. */
  cpgBadHandle: 'CPG_ERR_BAD_HANDLE',
  /** cpg.initialize: the connection (or the daemon) has as many handles as it may. */
  cpgTooManyHandles: 'CPG_ERR_TOO_MANY_HANDLES',
  /** cpg.initialize: the pid is not a u32. */
  cpgBadPid: 'CPG_ERR_BAD_PID',
  /** quorum.setExpected / setVotes refused the value (CS_ERR_INVALID_PARAM). */
  quorumInvalidParam: 'QUORUM_ERR_INVALID_PARAM',
  /** quorum.setVotes: votequorum knows no such node (CS_ERR_NAME_NOT_FOUND). */
  quorumNameNotFound: 'QUORUM_ERR_NAME_NOT_FOUND',
  /** cmap key name: 3..255 characters of [a-zA-Z0-9._/:-] (CS_ERR_NAME_TOO_LONG). */
  cmapInvalidKey: 'CMAP_ERR_INVALID_KEY',
  /** The value does not fit its type (CS_ERR_INVALID_PARAM). */
  cmapType: 'CMAP_ERR_TYPE',
  /** The key is read-only for clients (CS_ERR_ACCESS). */
  cmapReadOnly: 'CMAP_ERR_READ_ONLY',
  cmapNotExist: 'CMAP_ERR_NOT_EXIST',
  /** The value is larger than 16 KiB. */
  cmapTooBig: 'CMAP_ERR_TOO_BIG',
  cmapTooManyKeys: 'CMAP_ERR_TOO_MANY_KEYS',
  /** Bad track flags (none of add, modify, delete). */
  cmapInvalidParam: 'CMAP_ERR_INVALID_PARAM',
  /** cmap.untrack: no track with that id on this connection (CS_ERR_BAD_HANDLE). */
  cmapBadHandle: 'CMAP_ERR_BAD_HANDLE',
  /** cmap.track: the connection has as many tracks as it may. */
  cmapTooManyTracks: 'CMAP_ERR_TOO_MANY_TRACKS',
  /** bridge.ping: not in group `asterisk` yet, or the local Asterisk's EID is not known yet. */
  bridgeNotReady: 'BRIDGE_NOT_READY',
  /** sam.register: the name is registered by a live registration. */
  samExists: 'SAM_ERR_EXISTS',
  /** sam.heartbeat / sam.unregister: this connection has no live registration of that name. */
  samNotRegistered: 'SAM_ERR_NOT_REGISTERED',
  /** sam.register: the daemon (or the connection) holds as many registrations as it may. */
  samTooMany: 'SAM_ERR_TOO_MANY',
  /** sam.register: recovery restart for a name that is not a supervised program. */
  samNotSupervised: 'SAM_ERR_NOT_SUPERVISED',
  /** sam.register: the pid is carillond's own. */
  samBadPid: 'SAM_ERR_BAD_PID',
  /** amf.start / amf.stop: no supervised program of that name. */
  amfNoSuchProcess: 'AMF_ERR_NO_SUCH_PROCESS',
} as const;
export type IpcErrorCode = (typeof IpcErrorCode)[keyof typeof IpcErrorCode];

/** The codes parseRequestLine can return. */
export type IpcRequestErrorCode =
  | typeof IpcErrorCode.parse
  | typeof IpcErrorCode.badRequest
  | typeof IpcErrorCode.unknownMethod
  | typeof IpcErrorCode.badParams
  | typeof IpcErrorCode.version;

/** Params of methods that take none: absent or `{}`. */
export type EmptyParams = Record<string, never>;

export interface HelloParams {
  version: number;
  /** Free-form client name for the daemon's logs, e.g. "carillon-cli/0.1.0". */
  client?: string;
  /** Optional features the client would use (see src/ipc/binary-frames.ts); unknown ones are ignored. */
  features?: string[];
}

export interface HelloResult {
  version: typeof IpcProtocolVersion;
  server: typeof IpcServerName;
  nodeId: number;
  /** The asked-for features the server turned on; present when hello listed features. */
  features?: string[];
}

/** Optional protocol features a server knows. */
export const IpcFeatures = [CPG_BINARY_FEATURE] as const;
/** hello.params.features: at most this many names of at most this many characters. */
const FEATURES_MAX = 16;
const FEATURE_LENGTH_MAX = 64;

export interface CpgHandleParams {
  handle: number;
}

export interface CpgGroupParams extends CpgHandleParams {
  /** The group name as UTF-8 text, 1..128 bytes. */
  group: string;
}

export interface CmapTrackParams {
  key: string;
  /** Track every key starting with `key`. */
  prefix?: boolean;
  add?: boolean;
  modify?: boolean;
  delete?: boolean;
}

/** Bounds of sam.register (the interval in ms; a pid is a Linux pid_t above init). */
export const SamLimits = {
  nameLengthMax: 64,
  heartbeatIntervalMsMin: 100,
  heartbeatIntervalMsMax: 3_600_000,
  pidMin: 2,
  pidMax: 0x7fffffff,
} as const;

export interface SamRegisterParams {
  /** [A-Za-z0-9_-]{1,64}; a supervised program's name for recovery restart. */
  name: string;
  pid: number;
  heartbeatIntervalMs: number;
  recovery: 'quit' | 'restart';
}

export interface IpcParamsMap {
  hello: HelloParams;
  status: EmptyParams;
  'totem.submit': { payloadHex: string };
  'totem.subscribe': EmptyParams;
  'totem.unsubscribe': EmptyParams;
  reload: EmptyParams;
  ping: EmptyParams;
  'cpg.subscribe': EmptyParams;
  'cpg.unsubscribe': EmptyParams;
  'cpg.initialize': { pid?: number };
  'cpg.join': CpgGroupParams;
  'cpg.leave': CpgGroupParams;
  'cpg.mcast': CpgGroupParams & { payloadHex: string; seq?: number };
  'cpg.finalize': CpgHandleParams;
  'cpg.membership': { group: string };
  'cpg.groups': EmptyParams;
  'quorum.subscribe': EmptyParams;
  'quorum.unsubscribe': EmptyParams;
  'quorum.status': EmptyParams;
  'quorum.setExpected': { votes: number };
  'quorum.setVotes': { nodeId: number; votes: number };
  'cmap.subscribe': EmptyParams;
  'cmap.unsubscribe': EmptyParams;
  'cmap.get': { key: string };
  'cmap.set': { key: string; type: CmapValueTypeName; value: number | string };
  'cmap.delete': { key: string };
  'cmap.list': { prefix?: string };
  'cmap.track': CmapTrackParams;
  'cmap.untrack': { trackId: number };
  'bridge.status': EmptyParams;
  'bridge.ping': EmptyParams;
  'sam.register': SamRegisterParams;
  'sam.heartbeat': { name: string };
  'sam.unregister': { name: string };
  'sam.status': EmptyParams;
  'amf.start': { name: string };
  'amf.stop': { name: string };
}

export interface IpcResultMap {
  hello: HelloResult;
  status: DaemonStatus;
  'totem.submit': { result: 'queued' | 'full' };
  'totem.subscribe': { topic: typeof IpcTopics.totem; subscribed: true };
  'totem.unsubscribe': { topic: typeof IpcTopics.totem; subscribed: false };
  reload: { reloaded: string[]; needsRestart: string[] };
  ping: { pong: true };
  'cpg.subscribe': { topic: typeof IpcTopics.cpg; subscribed: true };
  'cpg.unsubscribe': { topic: typeof IpcTopics.cpg; subscribed: false };
  'cpg.initialize': { handle: number; pid: number; nodeId: number };
  'cpg.join': { result: CpgJoinResultName };
  'cpg.leave': { result: CpgLeaveResultName };
  'cpg.mcast': { result: CpgMcastResultName };
  'cpg.finalize': { handle: number; finalized: true };
  'cpg.membership': { group: string; members: CpgMemberJson[] };
  'cpg.groups': { groups: CpgGroupJson[] };
  'quorum.subscribe': { topic: typeof IpcTopics.quorum; subscribed: true };
  'quorum.unsubscribe': { topic: typeof IpcTopics.quorum; subscribed: false };
  'quorum.status': QuorumStatusJson;
  'quorum.setExpected': { result: 'ok' };
  'quorum.setVotes': { result: 'ok' };
  'cmap.subscribe': { topic: typeof IpcTopics.cmap; subscribed: true };
  'cmap.unsubscribe': { topic: typeof IpcTopics.cmap; subscribed: false };
  'cmap.get': CmapEntryJson;
  'cmap.set': CmapEntryJson;
  'cmap.delete': { key: string; deleted: true };
  'cmap.list': { entries: CmapEntryJson[] };
  'cmap.track': { trackId: number };
  'cmap.untrack': { trackId: number; tracked: false };
  'bridge.status': BridgeStatusJson;
  'bridge.ping': { eid: string };
  'sam.register': SamAppJson;
  'sam.heartbeat': { name: string; heartbeat: true };
  'sam.unregister': { name: string; registered: false };
  'sam.status': SamStatusJson;
  'amf.start': AmfProcessJson;
  'amf.stop': AmfProcessJson;
}

export interface IpcTopicEventMap {
  totem: TotemEventJson;
  cpg: CpgEventJson;
  quorum: QuorumEventJson;
  cmap: CmapTrackEventJson;
}

/** A validated request: method and params agree, params are always an object. */
export type IpcRequest = { [M in IpcMethod]: { id: number; method: M; params: IpcParamsMap[M] } }[IpcMethod];

export interface IpcErrorBody {
  code: string;
  message: string;
}

export interface IpcRequestError {
  /** The request's id when it had a valid one, else null. */
  id: number | null;
  code: IpcRequestErrorCode;
  message: string;
}

/** A line from the server, as the client sees it. */
export type IpcServerFrame =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number | null; error: IpcErrorBody }
  | { kind: 'notify'; topic: string; event: unknown };

const methodNames: ReadonlySet<string> = new Set(Object.values(IpcMethods));
const envelopeMembers: ReadonlySet<string> = new Set(['id', 'method', 'params']);
/** Longest client name hello accepts; it only ends up in logs. */
const CLIENT_NAME_LENGTH_MAX = 200;
/** How much of the client's input an error message quotes. */
const QUOTE_LENGTH_MAX = 60;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Quotes (part of) untrusted input for an error message. Objects and arrays are only
 * named: stringifying a deeply nested value could overflow the stack.
 */
function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return typeName(value);
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > QUOTE_LENGTH_MAX ? `${text.slice(0, QUOTE_LENGTH_MAX)}…` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function unknownMembers(object: JsonObject, known: ReadonlySet<string>): string[] {
  return Object.keys(object).filter((key) => !known.has(key));
}

function requestError(id: number | null, code: IpcRequestErrorCode, message: string): { ok: false; error: IpcRequestError } {
  return err({ id, code, message });
}

const HEX_PAYLOAD = /^(?:[0-9a-fA-F]{2})+$/;

/** Validates params of one method; returns an error message or null. */
type ParamsCheck = (params: JsonObject) => string | null;

function onlyMembers(...names: string[]): ParamsCheck {
  const known = new Set(names);
  return (params) => {
    const extra = unknownMembers(params, known);
    if (extra.length === 0) return null;
    const allowed = names.length === 0 ? 'it takes none' : `allowed: ${names.join(', ')}`;
    return `unknown param${extra.length === 1 ? '' : 's'} ${extra.map((k) => quote(k)).join(', ')} (${allowed})`;
  };
}

/** CPG_MAX_NAME_LENGTH in bytes; the text may not be longer in UTF-16 units either. */
const CPG_GROUP_LENGTH_MAX = 128;
/** CMAP_KEYNAME_MAXLEN. */
const CMAP_KEY_LENGTH_MAX = 255;
const U32_MAX = 0xffffffff;
const HEX_OR_EMPTY = /^(?:[0-9a-fA-F]{2})*$/;

type Field = (value: unknown, name: string) => string | null;

const isU32: Field = (value, name) =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) <= U32_MAX ? null : `params.${name} must be an integer in 0..${U32_MAX}, got ${quote(value)}`;

const isHandle: Field = (value, name) =>
  Number.isSafeInteger(value) && (value as number) >= 1 ? null : `params.${name} must be a positive integer, got ${quote(value)}`;

const isBool: Field = (value, name) => (typeof value === 'boolean' ? null : `params.${name} must be true or false, got ${quote(value)}`);

function stringOf(max: number, min = 0): Field {
  return (value, name) => {
    if (typeof value !== 'string') return `params.${name} must be a string, got ${typeName(value)}`;
    if (value.length < min || value.length > max) return `params.${name} must have ${min}..${max} characters`;
    return null;
  };
}

const isGroup = stringOf(CPG_GROUP_LENGTH_MAX, 1);

const SAM_NAME = /^[A-Za-z0-9_-]+$/;

const isSamName: Field = (value, name) =>
  typeof value === 'string' && value.length <= SamLimits.nameLengthMax && SAM_NAME.test(value)
    ? null
    : `params.${name} must be 1..${SamLimits.nameLengthMax} characters of [A-Za-z0-9_-], got ${quote(value)}`;

function integerIn(min: number, max: number): Field {
  return (value, name) => (Number.isInteger(value) && (value as number) >= min && (value as number) <= max ? null : `params.${name} must be an integer in ${min}..${max}, got ${quote(value)}`);
}
const isKey = stringOf(CMAP_KEY_LENGTH_MAX, 1);

/** Checks members by name: required ones must be present, optional ones may be absent; nothing else allowed. */
function fields(required: Record<string, Field>, optional: Record<string, Field> = {}): ParamsCheck {
  const names = [...Object.keys(required), ...Object.keys(optional)];
  const extraCheck = onlyMembers(...names);
  return (params) => {
    const extra = extraCheck(params);
    if (extra !== null) return extra;
    for (const [name, check] of Object.entries(required)) {
      if (!Object.hasOwn(params, name)) return `params.${name} is required`;
      const problem = check(params[name], name);
      if (problem !== null) return problem;
    }
    for (const [name, check] of Object.entries(optional)) {
      if (!Object.hasOwn(params, name)) continue;
      const problem = check(params[name], name);
      if (problem !== null) return problem;
    }
    return null;
  };
}

const paramsChecks: Record<IpcMethod, ParamsCheck> = {
  hello: (params) => {
    const extra = onlyMembers('version', 'client', 'features')(params);
    if (extra !== null) return extra;
    if (!Object.hasOwn(params, 'version')) return 'hello needs params.version';
    if (!Number.isSafeInteger(params['version'])) return `params.version must be an integer, got ${quote(params['version'])}`;
    const client = params['client'];
    if (client !== undefined && (typeof client !== 'string' || client.length > CLIENT_NAME_LENGTH_MAX)) {
      return `params.client must be a string of at most ${CLIENT_NAME_LENGTH_MAX} characters`;
    }
    const features = params['features'];
    if (
      features !== undefined &&
      (!Array.isArray(features) || features.length > FEATURES_MAX || !features.every((f) => typeof f === 'string' && f.length >= 1 && f.length <= FEATURE_LENGTH_MAX))
    ) {
      return `params.features must be an array of at most ${FEATURES_MAX} names of 1..${FEATURE_LENGTH_MAX} characters`;
    }
    return null;
  },
  status: onlyMembers(),
  'totem.submit': (params) => {
    const extra = onlyMembers('payloadHex')(params);
    if (extra !== null) return extra;
    const hex = params['payloadHex'];
    if (typeof hex !== 'string') return `params.payloadHex must be a string, got ${typeName(hex)}`;
    if (!HEX_PAYLOAD.test(hex)) return 'params.payloadHex must be a non-empty, even-length hex string';
    return null;
  },
  'totem.subscribe': onlyMembers(),
  'totem.unsubscribe': onlyMembers(),
  reload: onlyMembers(),
  ping: onlyMembers(),
  'cpg.subscribe': onlyMembers(),
  'cpg.unsubscribe': onlyMembers(),
  'cpg.initialize': fields({}, { pid: isU32 }),
  'cpg.join': fields({ handle: isHandle, group: isGroup }),
  'cpg.leave': fields({ handle: isHandle, group: isGroup }),
  'cpg.mcast': fields({
    handle: isHandle,
    group: isGroup,
    payloadHex: (value, name) => (typeof value === 'string' && HEX_OR_EMPTY.test(value) ? null : `params.${name} must be an even-length hex string`),
  }, { seq: isU32 }),
  'cpg.finalize': fields({ handle: isHandle }),
  'cpg.membership': fields({ group: isGroup }),
  'cpg.groups': onlyMembers(),
  'quorum.subscribe': onlyMembers(),
  'quorum.unsubscribe': onlyMembers(),
  'quorum.status': onlyMembers(),
  'quorum.setExpected': fields({ votes: isU32 }),
  'quorum.setVotes': fields({ nodeId: isU32, votes: isU32 }),
  'cmap.subscribe': onlyMembers(),
  'cmap.unsubscribe': onlyMembers(),
  'bridge.status': onlyMembers(),
  'bridge.ping': onlyMembers(),
  'cmap.get': fields({ key: isKey }),
  'cmap.set': fields({
    key: isKey,
    type: (value, name) => (isCmapValueTypeName(value) ? null : `params.${name} must be a cmap type (int8 .. uint64, float, double, string, binary), got ${quote(value)}`),
    value: (value, name) => (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) ? null : `params.${name} must be a string or a number, got ${typeName(value)}`),
  }),
  'cmap.delete': fields({ key: isKey }),
  'cmap.list': fields({}, { prefix: stringOf(CMAP_KEY_LENGTH_MAX) }),
  'cmap.track': fields({ key: stringOf(CMAP_KEY_LENGTH_MAX) }, { prefix: isBool, add: isBool, modify: isBool, delete: isBool }),
  'cmap.untrack': fields({ trackId: isHandle }),
  'sam.register': fields({
    name: isSamName,
    pid: integerIn(SamLimits.pidMin, SamLimits.pidMax),
    heartbeatIntervalMs: integerIn(SamLimits.heartbeatIntervalMsMin, SamLimits.heartbeatIntervalMsMax),
    recovery: (value, name) => (value === 'quit' || value === 'restart' ? null : `params.${name} must be 'quit' or 'restart', got ${quote(value)}`),
  }),
  'sam.heartbeat': fields({ name: isSamName }),
  'sam.unregister': fields({ name: isSamName }),
  'sam.status': onlyMembers(),
  'amf.start': fields({ name: isSamName }),
  'amf.stop': fields({ name: isSamName }),
};

/**
 * Parses and validates one request line (without its '\n'). Never throws; a malformed
 * line yields exactly one error, carrying the request id when the line had a valid one.
 */
export function parseRequestLine(line: string): Result<IpcRequest, IpcRequestError> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return requestError(null, IpcErrorCode.parse, `not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(value)) return requestError(null, IpcErrorCode.badRequest, `a request is a JSON object, got ${typeName(value)}`);
  const rawId = value['id'];
  if (!isRequestId(rawId)) {
    const what = Object.hasOwn(value, 'id') ? `got ${quote(rawId)}` : 'it is missing';
    return requestError(null, IpcErrorCode.badRequest, `id must be a non-negative integer, ${what}`);
  }
  const id = rawId;
  const method = value['method'];
  if (typeof method !== 'string') return requestError(id, IpcErrorCode.badRequest, `method must be a string, got ${typeName(method)}`);
  const extra = unknownMembers(value, envelopeMembers);
  if (extra.length > 0) {
    return requestError(id, IpcErrorCode.badRequest, `unknown request member${extra.length === 1 ? '' : 's'} ${extra.map((k) => quote(k)).join(', ')} (allowed: id, method, params)`);
  }
  if (!methodNames.has(method)) return requestError(id, IpcErrorCode.unknownMethod, `unknown method ${quote(method)}`);
  const knownMethod = method as IpcMethod;
  const params = Object.hasOwn(value, 'params') ? value['params'] : {};
  if (!isObject(params)) return requestError(id, IpcErrorCode.badParams, `params must be an object, got ${typeName(params)}`);
  const problem = paramsChecks[knownMethod](params);
  if (problem !== null) return requestError(id, IpcErrorCode.badParams, `${knownMethod}: ${problem}`);
  if (knownMethod === IpcMethods.hello && params['version'] !== IpcProtocolVersion) {
    return requestError(id, IpcErrorCode.version, `protocol version ${quote(params['version'])} is not supported: ${IpcServerName} speaks version ${IpcProtocolVersion}`);
  }
  // The checks above establish exactly IpcParamsMap[knownMethod].
  return ok({ id, method: knownMethod, params } as IpcRequest);
}

/** Parses one line from the server. The client trusts the server less than fully. */
export function parseServerLine(line: string): Result<IpcServerFrame, string> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return err(`server sent a line that is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(value)) return err(`server sent ${typeName(value)} instead of an object`);
  if (value['method'] === IpcNotifyMethod) {
    const params = value['params'];
    if (!isObject(params) || typeof params['topic'] !== 'string') return err('server sent a notify without params.topic');
    return ok({ kind: 'notify', topic: params['topic'], event: params['event'] });
  }
  const id = value['id'];
  if (Object.hasOwn(value, 'error')) {
    const error = value['error'];
    if (!isObject(error) || typeof error['code'] !== 'string' || typeof error['message'] !== 'string') {
      return err('server sent an error without code and message');
    }
    if (id !== null && !isRequestId(id)) return err(`server sent an error with id ${quote(id)}`);
    return ok({ kind: 'error', id, error: { code: error['code'], message: error['message'] } });
  }
  if (Object.hasOwn(value, 'result')) {
    if (!isRequestId(id)) return err(`server sent a result with id ${quote(id)}`);
    return ok({ kind: 'result', id, result: value['result'] });
  }
  return err('server sent an object that is neither a response nor a notify');
}

/** A request line, '\n' included. */
export function encodeRequest<M extends IpcMethod>(id: number, method: M, params?: IpcParamsMap[M]): string {
  return `${JSON.stringify(params === undefined ? { id, method } : { id, method, params })}\n`;
}

/** A result line, '\n' included. */
export function encodeResult<M extends IpcMethod>(id: number, _method: M, result: IpcResultMap[M]): string {
  return `${JSON.stringify({ id, result })}\n`;
}

/** An error line, '\n' included. */
export function encodeError(id: number | null, code: IpcErrorCode, message: string): string {
  return `${JSON.stringify({ id, error: { code, message } })}\n`;
}

/** A push line, '\n' included. */
export function encodeNotify<T extends IpcTopic>(topic: T, event: IpcTopicEventMap[T]): string {
  return `${JSON.stringify({ method: IpcNotifyMethod, params: { topic, event } })}\n`;
}

/** Lower-case hex of bytes, as payloadHex carries them. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes of a hex string; null unless it is non-empty, even-length hex. */
export function hexToBytes(hex: string): Uint8Array | null {
  if (!HEX_PAYLOAD.test(hex)) return null;
  const buffer = Buffer.from(hex, 'hex');
  // A plain view: Buffers have their own toJSON and pool-shared backing stores.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength).slice();
}
