// The serialized `ast_event` that res_corosync multicasts in CPG group `asterisk`
// (res-corosync.md §1.1, §1.2; asterisk-groundtruth.md §1.2): encoder, strict decoder,
// ast_str_hash, and the names res_corosync prints for event types.
//
// Layout: a 4-byte header (u16 BE type, u16 BE total length including the header), then
// IEs back to back (u16 BE IE type, u16 BE payload length, payload). UINT payloads are
// u32 BE; STR payloads are a u32 hash in LITTLE-endian (Asterisk writes it in x86 host
// order), the UTF-8 text and a NUL; the EID is 6 raw bytes and always the last IE.
//
// The encoder writes exactly the bytes Asterisk 20 writes (verified against all 151
// captured events). The decoder is strict where Asterisk is lax (§1.2 "Receive-side
// validation is minimal"): Asterisk trusts the header length, indexes past tables on bad
// types or states and reads strings up to the first NUL; this decoder rejects all of
// that with a typed error instead, and never throws.

import { err, ok, type Result } from '../../base/result';
import {
  AstEventIe,
  AstEventType,
  deviceStateName,
  eidFromBytes,
  eidToBytes,
  isDeviceState,
  parseEid,
  presenceStateNames,
  type AstEvent,
  type ClusterDiscoveryEvent,
  type DeviceStateEvent,
  type Eid,
  type MwiEvent,
  type PingEvent,
  type PresenceState,
  type PresenceStateEvent,
} from './events';

/** Event header: type u16 + length u16. */
const HEADER_BYTES = 4;
/** IE header: IE type u16 + payload length u16. */
const IE_HEADER_BYTES = 4;
/** The event length field is a u16, so no event may be longer. */
export const AST_EVENT_MAX_BYTES = 0xffff;
const EID_BYTES = 6;
const UINT_BYTES = 4;
/** A STR payload is at least the hash and the NUL. */
const STR_MIN_BYTES = 5;
const U32_MAX = 0xffffffff;
/** PRESENCE_STATE carries AST_PRESENCE_INVALID (-1) as an unsigned 32-bit value. */
const PRESENCE_INVALID_WIRE = 0xffffffff;
const PRESENCE_STATE_MAX = presenceStateNames.length - 1;

// ---------------------------------------------------------------------------------------
// ast_str_hash

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a leading U+FEFF is text and
// must survive a round trip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** ast_str_hash over bytes: djb2-xor in unsigned 32-bit arithmetic, then the top bit cleared. */
function strHashBytes(bytes: Uint8Array): number {
  let hash = 5381;
  for (const byte of bytes) hash = (Math.imul(hash, 33) ^ byte) >>> 0;
  // Since 2017 Asterisk masks with INT_MAX (before, it took abs() of a signed int).
  return hash & 0x7fffffff;
}

/** Asterisk's `ast_str_hash` of `text` taken over its UTF-8 bytes (res-corosync.md §1.2). */
export function astStrHash(text: string): number {
  return strHashBytes(utf8Encoder.encode(text));
}

// ---------------------------------------------------------------------------------------
// Type names

/**
 * Asterisk's `event_names[]` (main/event.c) as res_corosync prints them in
 * `CPG mcast failed (%u) for event %s (%u)` and `CPG mcast not executed for event %s (%u)`.
 */
const EVENT_NAMES: readonly string[] = [
  'All',
  'Custom',
  'MWI',
  'Subscription',
  'Unsubscription',
  'DeviceState',
  'DeviceStateChange',
  'CEL',
  'Security',
  'NetworkChange',
  'PresenceState',
  'ACLChange',
  'Ping',
];

/**
 * The name res_corosync's log lines give an event type, exactly as Asterisk prints it.
 * Asterisk's `event_names[]` has no entry for CLUSTER_DISCOVERY (0x0d): the NULL pointer
 * is printed by glibc as `(null)`, so a discovery that cannot be sent logs
 * `CPG mcast not executed for event (null) (13)`. Types past the table (≥ 0x0e) give the
 * empty string, as `ast_event_get_type_name` returns "" for them.
 */
export function astEventTypeName(type: number): string {
  if (type === AstEventType.clusterDiscovery) return '(null)';
  return EVENT_NAMES[type] ?? '';
}

/** Readable names for describeAstEvent; unlike astEventTypeName, discovery has a name. */
const KIND_NAMES = {
  deviceState: 'DeviceStateChange',
  deviceStateAggregate: 'DeviceState',
  mwi: 'MWI',
  presenceState: 'PresenceState',
  ping: 'Ping',
  clusterDiscovery: 'ClusterDiscovery',
} as const;

// ---------------------------------------------------------------------------------------
// Errors

/** Why encodeAstEvent refused an event. The bridge validates first, so these are caller bugs. */
export const AstEventEncodeErrorCode = {
  badKind: 'AST_EVENT_ENCODE_BAD_KIND',
  badState: 'AST_EVENT_ENCODE_BAD_STATE',
  badString: 'AST_EVENT_ENCODE_BAD_STRING',
  badNumber: 'AST_EVENT_ENCODE_BAD_NUMBER',
  badEid: 'AST_EVENT_ENCODE_BAD_EID',
  tooLong: 'AST_EVENT_ENCODE_TOO_LONG',
} as const;
export type AstEventEncodeErrorCodeName = (typeof AstEventEncodeErrorCode)[keyof typeof AstEventEncodeErrorCode];

export class AstEventEncodeError extends Error {
  readonly code: AstEventEncodeErrorCodeName;
  /** The event field at fault, when there is one. */
  readonly field: string | undefined;

  constructor(code: AstEventEncodeErrorCodeName, message: string, field?: string) {
    super(message);
    this.name = 'AstEventEncodeError';
    this.code = code;
    this.field = field;
  }
}

/** Why decodeAstEvent rejected a CPG payload; stable strings for counters and logs. */
export const AstEventDecodeErrorCode = {
  /** Shorter than the 4-byte header. */
  truncated: 'AST_EVENT_TRUNCATED',
  /** The header's length field differs from the message length. */
  lengthMismatch: 'AST_EVENT_LENGTH_MISMATCH',
  /** A type other than 0x02, 0x05, 0x06, 0x0a, 0x0c, 0x0d. */
  unknownType: 'AST_EVENT_UNKNOWN_TYPE',
  /** An IE header or payload runs past the end, or a known IE has the wrong size. */
  badIe: 'AST_EVENT_BAD_IE',
  /** An IE this type uses appears twice (Asterisk would silently take the first). */
  duplicateIe: 'AST_EVENT_DUPLICATE_IE',
  /** An IE this type needs is absent. */
  missingIe: 'AST_EVENT_MISSING_IE',
  /** No EID IE: Asterisk drops such events too. */
  missingEid: 'AST_EVENT_MISSING_EID',
  /** STATE outside 0..8, or PRESENCE_STATE outside 0..6 and -1. */
  badState: 'AST_EVENT_BAD_STATE',
  /** A STR without its NUL, with a NUL inside, not UTF-8, or empty where a name is needed. */
  badString: 'AST_EVENT_BAD_STRING',
  /** A UINT outside its domain (CACHABLE other than 0 or 1). */
  badValue: 'AST_EVENT_BAD_VALUE',
} as const;
export type AstEventDecodeErrorCodeName = (typeof AstEventDecodeErrorCode)[keyof typeof AstEventDecodeErrorCode];

export class AstEventDecodeError extends Error {
  readonly code: AstEventDecodeErrorCodeName;
  /** Byte offset of the fault within the payload, when known. */
  readonly offset: number | undefined;
  /** The event type from the header, once the header could be read. */
  readonly type: number | undefined;
  /** The IE at fault, when there is one. */
  readonly ie: number | undefined;

  constructor(code: AstEventDecodeErrorCodeName, message: string, where: { offset?: number; type?: number; ie?: number } = {}) {
    super(message);
    this.name = 'AstEventDecodeError';
    this.code = code;
    this.offset = where.offset;
    this.type = where.type;
    this.ie = where.ie;
  }
}

// ---------------------------------------------------------------------------------------
// Encoding

/** One IE ready to be written: its type and payload bytes. */
interface IePart {
  readonly ie: number;
  readonly payload: Uint8Array;
}

function encodeFail(code: AstEventEncodeErrorCodeName, field: string, message: string): never {
  throw new AstEventEncodeError(code, `cannot encode ast_event: ${field} ${message}`, field);
}

// A lone surrogate would be turned into U+FFFD by TextEncoder and not come back equal.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function strIe(ie: number, field: string, text: string, nonEmpty: boolean): IePart {
  if (typeof text !== 'string') encodeFail(AstEventEncodeErrorCode.badString, field, 'is not a string');
  if (nonEmpty && text.length === 0) encodeFail(AstEventEncodeErrorCode.badString, field, 'is empty');
  // Asterisk reads the text up to its first NUL: an inner NUL would silently truncate it.
  if (text.includes('\0')) encodeFail(AstEventEncodeErrorCode.badString, field, 'contains a NUL');
  if (LONE_SURROGATE.test(text)) encodeFail(AstEventEncodeErrorCode.badString, field, 'is not well-formed Unicode');
  const bytes = utf8Encoder.encode(text);
  const payload = new Uint8Array(STR_MIN_BYTES + bytes.length);
  new DataView(payload.buffer).setUint32(0, strHashBytes(bytes), true);
  payload.set(bytes, UINT_BYTES);
  // The last byte stays 0: the NUL terminator.
  return { ie, payload };
}

function uintIe(ie: number, field: string, value: number): IePart {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    encodeFail(AstEventEncodeErrorCode.badNumber, field, `${String(value)} is not an unsigned 32-bit integer`);
  }
  const payload = new Uint8Array(UINT_BYTES);
  new DataView(payload.buffer).setUint32(0, value, false);
  return { ie, payload };
}

function eidIe(eid: Eid): IePart {
  const canonical = typeof eid === 'string' ? parseEid(eid) : null;
  if (canonical === null) encodeFail(AstEventEncodeErrorCode.badEid, 'eid', `${JSON.stringify(eid)} is not an EID`);
  return { ie: AstEventIe.eid, payload: eidToBytes(canonical) };
}

function deviceStateIes(event: DeviceStateEvent): IePart[] {
  if (!isDeviceState(event.state)) encodeFail(AstEventEncodeErrorCode.badState, 'state', `${String(event.state)} is not a device state (0..8)`);
  return [
    strIe(AstEventIe.device, 'device', event.device, true),
    uintIe(AstEventIe.state, 'state', event.state),
    uintIe(AstEventIe.cachable, 'cachable', event.cachable ? 1 : 0),
  ];
}

function mwiIes(event: MwiEvent): IePart[] {
  return [
    strIe(AstEventIe.mailbox, 'mailbox', event.mailbox, true),
    // mwi_to_event sends an empty context as `default` (res-corosync.md §1.2).
    strIe(AstEventIe.context, 'context', event.context === '' ? 'default' : event.context, true),
    uintIe(AstEventIe.newMessages, 'newMessages', event.newMessages),
    uintIe(AstEventIe.oldMessages, 'oldMessages', event.oldMessages),
  ];
}

function presenceIes(event: PresenceStateEvent): IePart[] {
  const state: number = event.state;
  if (state !== -1 && !(Number.isInteger(state) && state >= 0 && state <= PRESENCE_STATE_MAX)) {
    encodeFail(AstEventEncodeErrorCode.badState, 'state', `${String(state)} is not a presence state (-1..${PRESENCE_STATE_MAX})`);
  }
  return [
    strIe(AstEventIe.presenceProvider, 'provider', event.provider, true),
    uintIe(AstEventIe.presenceState, 'state', state === -1 ? PRESENCE_INVALID_WIRE : state),
    strIe(AstEventIe.presenceSubtype, 'subtype', event.subtype, false),
    strIe(AstEventIe.presenceMessage, 'message', event.message, false),
  ];
}

function discoveryIes(event: ClusterDiscoveryEvent): IePart[] {
  return [uintIe(AstEventIe.nodeId, 'nodeId', event.nodeId), strIe(AstEventIe.localAddr, 'localAddr', event.localAddr, true)];
}

/** The event type and the IEs before the EID, in the order Asterisk emits them. */
function typeAndIes(event: AstEvent): { type: number; ies: IePart[] } {
  switch (event.kind) {
    case 'device-state':
      return { type: event.aggregate ? AstEventType.deviceStateAggregate : AstEventType.deviceStateChange, ies: deviceStateIes(event) };
    case 'mwi':
      return { type: AstEventType.mwi, ies: mwiIes(event) };
    case 'presence-state':
      return { type: AstEventType.presenceState, ies: presenceIes(event) };
    case 'ping':
      return { type: AstEventType.ping, ies: [] };
    case 'cluster-discovery':
      return { type: AstEventType.clusterDiscovery, ies: discoveryIes(event) };
    default: {
      const kind: unknown = (event as { kind?: unknown }).kind;
      return encodeFail(AstEventEncodeErrorCode.badKind, 'kind', `${JSON.stringify(kind) ?? String(kind)} is not an ast_event kind`);
    }
  }
}

/**
 * The exact bytes Asterisk would put in the CPG message for `event` (res-corosync.md §1.2).
 * Throws AstEventEncodeError for an event Asterisk could not have produced: a state out of
 * range, a string with a NUL, a count that is not a u32, a bad EID, more than 65535 bytes.
 */
export function encodeAstEvent(event: AstEvent): Uint8Array {
  const { type, ies } = typeAndIes(event);
  // ast_event_new appends the EID after every other IE.
  ies.push(eidIe(event.eid));
  let total = HEADER_BYTES;
  for (const part of ies) total += IE_HEADER_BYTES + part.payload.length;
  if (total > AST_EVENT_MAX_BYTES) {
    encodeFail(AstEventEncodeErrorCode.tooLong, 'event', `would be ${total} bytes, more than ${AST_EVENT_MAX_BYTES}`);
  }
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, type, false);
  view.setUint16(2, total, false);
  let offset = HEADER_BYTES;
  for (const part of ies) {
    view.setUint16(offset, part.ie, false);
    view.setUint16(offset + 2, part.payload.length, false);
    bytes.set(part.payload, offset + IE_HEADER_BYTES);
    offset += IE_HEADER_BYTES + part.payload.length;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Decoding

/** The IEs each type uses (besides the EID); others are skipped as Asterisk skips them. */
const IES_BY_TYPE: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  [AstEventType.deviceStateChange, new Set([AstEventIe.device, AstEventIe.state, AstEventIe.cachable])],
  [AstEventType.deviceStateAggregate, new Set([AstEventIe.device, AstEventIe.state, AstEventIe.cachable])],
  [AstEventType.mwi, new Set([AstEventIe.mailbox, AstEventIe.context, AstEventIe.newMessages, AstEventIe.oldMessages])],
  [
    AstEventType.presenceState,
    new Set([AstEventIe.presenceProvider, AstEventIe.presenceState, AstEventIe.presenceSubtype, AstEventIe.presenceMessage]),
  ],
  [AstEventType.ping, new Set<number>()],
  [AstEventType.clusterDiscovery, new Set([AstEventIe.nodeId, AstEventIe.localAddr])],
]);

/** An IE found in the payload: where its payload starts and the payload itself. */
interface FoundIe {
  readonly offset: number;
  readonly payload: Uint8Array;
}

/** Thrown inside the decoder only, and always caught by decodeAstEvent. */
class Reject {
  readonly error: AstEventDecodeError;

  constructor(error: AstEventDecodeError) {
    this.error = error;
  }
}

function reject(code: AstEventDecodeErrorCodeName, message: string, where: { offset?: number; type?: number; ie?: number }): never {
  throw new Reject(new AstEventDecodeError(code, message, where));
}

/** Reads the IEs a type needs out of a walked event; each getter rejects what is malformed. */
class IeReader {
  private readonly type: number;
  private readonly ies: ReadonlyMap<number, FoundIe>;

  constructor(type: number, ies: ReadonlyMap<number, FoundIe>) {
    this.type = type;
    this.ies = ies;
  }

  private need(ie: number, what: string): FoundIe {
    const found = this.ies.get(ie);
    if (found === undefined) {
      reject(AstEventDecodeErrorCode.missingIe, `${astEventTypeName(this.type) || 'event'} (${this.type}) has no ${what} IE`, {
        type: this.type,
        ie,
      });
    }
    return found;
  }

  uint(ie: number, what: string): number {
    const found = this.need(ie, what);
    if (found.payload.length !== UINT_BYTES) {
      reject(AstEventDecodeErrorCode.badIe, `${what} IE has ${found.payload.length} bytes, a UINT has ${UINT_BYTES}`, {
        offset: found.offset,
        type: this.type,
        ie,
      });
    }
    return new DataView(found.payload.buffer, found.payload.byteOffset, UINT_BYTES).getUint32(0, false);
  }

  str(ie: number, what: string, nonEmpty: boolean): string {
    const found = this.need(ie, what);
    const where = { offset: found.offset, type: this.type, ie };
    const { payload } = found;
    if (payload.length < STR_MIN_BYTES) {
      reject(AstEventDecodeErrorCode.badIe, `${what} IE has ${payload.length} bytes, a STR has at least ${STR_MIN_BYTES}`, where);
    }
    // The hash (bytes 0..3) is not checked: Asterisk never reads it on receipt.
    const text = payload.subarray(UINT_BYTES, payload.length - 1);
    if (payload[payload.length - 1] !== 0) reject(AstEventDecodeErrorCode.badString, `${what} is not NUL-terminated`, where);
    if (text.includes(0)) reject(AstEventDecodeErrorCode.badString, `${what} has a NUL inside`, where);
    if (nonEmpty && text.length === 0) reject(AstEventDecodeErrorCode.badString, `${what} is empty`, where);
    try {
      return utf8Decoder.decode(text);
    } catch {
      return reject(AstEventDecodeErrorCode.badString, `${what} is not valid UTF-8`, where);
    }
  }

  eid(): Eid {
    const found = this.ies.get(AstEventIe.eid);
    if (found === undefined) {
      reject(AstEventDecodeErrorCode.missingEid, `${astEventTypeName(this.type) || 'event'} (${this.type}) has no EID IE`, {
        type: this.type,
        ie: AstEventIe.eid,
      });
    }
    if (found.payload.length !== EID_BYTES) {
      reject(AstEventDecodeErrorCode.badIe, `EID IE has ${found.payload.length} bytes, an EID has ${EID_BYTES}`, {
        offset: found.offset,
        type: this.type,
        ie: AstEventIe.eid,
      });
    }
    return eidFromBytes(found.payload);
  }
}

/** Walks the IEs of a length-checked event, keeping the ones `wanted` (plus the EID). */
function walkIes(bytes: Uint8Array, type: number, wanted: ReadonlySet<number>): Map<number, FoundIe> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = new Map<number, FoundIe>();
  let offset = HEADER_BYTES;
  while (offset < bytes.length) {
    if (bytes.length - offset < IE_HEADER_BYTES) {
      reject(AstEventDecodeErrorCode.badIe, `${bytes.length - offset} stray bytes at the end, less than an IE header`, { offset, type });
    }
    const ie = view.getUint16(offset, false);
    const payloadBytes = view.getUint16(offset + 2, false);
    const start = offset + IE_HEADER_BYTES;
    if (start + payloadBytes > bytes.length) {
      reject(AstEventDecodeErrorCode.badIe, `IE ${ie} of ${payloadBytes} bytes runs ${start + payloadBytes - bytes.length} bytes past the end`, {
        offset,
        type,
        ie,
      });
    }
    if (ie === AstEventIe.eid || wanted.has(ie)) {
      if (found.has(ie)) reject(AstEventDecodeErrorCode.duplicateIe, `IE ${ie} appears twice`, { offset, type, ie });
      found.set(ie, { offset, payload: bytes.subarray(start, start + payloadBytes) });
    }
    offset = start + payloadBytes;
  }
  return found;
}

function decodeDeviceState(reader: IeReader, type: number, eid: Eid): DeviceStateEvent {
  const device = reader.str(AstEventIe.device, 'DEVICE', true);
  const state = reader.uint(AstEventIe.state, 'STATE');
  if (!isDeviceState(state)) reject(AstEventDecodeErrorCode.badState, `STATE ${state} is not a device state (0..8)`, { type, ie: AstEventIe.state });
  const cachable = reader.uint(AstEventIe.cachable, 'CACHABLE');
  if (cachable > 1) reject(AstEventDecodeErrorCode.badValue, `CACHABLE ${cachable} is neither 0 nor 1`, { type, ie: AstEventIe.cachable });
  return { kind: 'device-state', aggregate: type === AstEventType.deviceStateAggregate, device, state, cachable: cachable === 1, eid };
}

function decodeMwi(reader: IeReader, eid: Eid): MwiEvent {
  return {
    kind: 'mwi',
    // res_corosync drops an MWI with an empty mailbox or context; so does this decoder.
    mailbox: reader.str(AstEventIe.mailbox, 'MAILBOX', true),
    context: reader.str(AstEventIe.context, 'CONTEXT', true),
    newMessages: reader.uint(AstEventIe.newMessages, 'NEWMSGS'),
    oldMessages: reader.uint(AstEventIe.oldMessages, 'OLDMSGS'),
    eid,
  };
}

function decodePresence(reader: IeReader, type: number, eid: Eid): PresenceStateEvent {
  const provider = reader.str(AstEventIe.presenceProvider, 'PRESENCE_PROVIDER', true);
  const wire = reader.uint(AstEventIe.presenceState, 'PRESENCE_STATE');
  if (wire !== PRESENCE_INVALID_WIRE && wire > PRESENCE_STATE_MAX) {
    reject(AstEventDecodeErrorCode.badState, `PRESENCE_STATE ${wire} is not a presence state`, { type, ie: AstEventIe.presenceState });
  }
  const state = wire === PRESENCE_INVALID_WIRE ? -1 : (wire as PresenceState);
  return {
    kind: 'presence-state',
    provider,
    state,
    subtype: reader.str(AstEventIe.presenceSubtype, 'PRESENCE_SUBTYPE', false),
    message: reader.str(AstEventIe.presenceMessage, 'PRESENCE_MESSAGE', false),
    eid,
  };
}

function decodeDiscovery(reader: IeReader, eid: Eid): ClusterDiscoveryEvent {
  return {
    kind: 'cluster-discovery',
    nodeId: reader.uint(AstEventIe.nodeId, 'NODE_ID'),
    localAddr: reader.str(AstEventIe.localAddr, 'LOCAL_ADDR', true),
    eid,
  };
}

function decodeChecked(bytes: Uint8Array): AstEvent {
  if (bytes.length < HEADER_BYTES) {
    reject(AstEventDecodeErrorCode.truncated, `${bytes.length} bytes, less than the ${HEADER_BYTES}-byte ast_event header`, { offset: 0 });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0, false);
  const length = view.getUint16(2, false);
  // Asterisk trusts the header length and would read past a short CPG message.
  if (length !== bytes.length) {
    reject(AstEventDecodeErrorCode.lengthMismatch, `header says ${length} bytes, the message has ${bytes.length}`, { offset: 2, type });
  }
  const wanted = IES_BY_TYPE.get(type);
  if (wanted === undefined) reject(AstEventDecodeErrorCode.unknownType, `unknown ast_event type ${type}`, { offset: 0, type });
  const reader = new IeReader(type, walkIes(bytes, type, wanted));
  // The EID comes first: Asterisk drops an event without one before looking further.
  const eid = reader.eid();
  switch (type) {
    case AstEventType.deviceStateChange:
    case AstEventType.deviceStateAggregate:
      return decodeDeviceState(reader, type, eid);
    case AstEventType.mwi:
      return decodeMwi(reader, eid);
    case AstEventType.presenceState:
      return decodePresence(reader, type, eid);
    case AstEventType.clusterDiscovery:
      return decodeDiscovery(reader, eid);
    default: {
      const ping: PingEvent = { kind: 'ping', eid };
      return ping;
    }
  }
}

/**
 * Decodes one CPG payload of group `asterisk`. Never throws: malformed bytes give an
 * AstEventDecodeError with a stable code. Type 0x05 decodes with `aggregate: true`.
 */
export function decodeAstEvent(bytes: Uint8Array): Result<AstEvent, AstEventDecodeError> {
  try {
    return ok(decodeChecked(bytes));
  } catch (caught) {
    if (caught instanceof Reject) return err(caught.error);
    throw caught;
  }
}

// ---------------------------------------------------------------------------------------
// Log form

// Quote text that is empty or holds spaces, quotes, backslashes or control characters, so
// the description stays one unambiguous line whatever a peer sent.
const NEEDS_QUOTES = /[\s"\\\p{C}]/u;

function logText(text: string): string {
  if (text.length > 0 && !NEEDS_QUOTES.test(text)) return text;
  return JSON.stringify(text).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * One line for logs, e.g. `DeviceStateChange PJSIP/100 INUSE cachable eid 00:11:22:33:44:55`.
 * Names with spaces or control characters are quoted as JSON strings.
 */
export function describeAstEvent(event: AstEvent): string {
  const eid = `eid ${event.eid}`;
  switch (event.kind) {
    case 'device-state': {
      const name = event.aggregate ? KIND_NAMES.deviceStateAggregate : KIND_NAMES.deviceState;
      const state = isDeviceState(event.state) ? deviceStateName(event.state) : `state ${String(event.state)}`;
      return `${name} ${logText(event.device)} ${state} ${event.cachable ? 'cachable' : 'not-cachable'} ${eid}`;
    }
    case 'mwi':
      return `${KIND_NAMES.mwi} ${logText(`${event.mailbox}@${event.context}`)} new ${event.newMessages} old ${event.oldMessages} ${eid}`;
    case 'presence-state': {
      const state = event.state === -1 ? 'invalid' : (presenceStateNames[event.state] ?? `state ${String(event.state)}`);
      return `${KIND_NAMES.presenceState} ${logText(event.provider)} ${state} subtype ${logText(event.subtype)} message ${logText(event.message)} ${eid}`;
    }
    case 'ping':
      return `${KIND_NAMES.ping} ${eid}`;
    case 'cluster-discovery':
      return `${KIND_NAMES.clusterDiscovery} node ${event.nodeId} addr ${logText(event.localAddr)} ${eid}`;
  }
}
