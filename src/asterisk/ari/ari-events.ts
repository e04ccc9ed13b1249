// The typed subset of ARI event-websocket messages the bridge uses, and a validating
// parser for one websocket frame (res-corosync.md §3 "Event websocket",
// asterisk-groundtruth.md §3). Asterisk 20 sends one JSON object per text frame; every
// object carries `type` and `asterisk_id` (the EID of that Asterisk), and events also
// carry `application` and `timestamp`. Only DeviceStateChanged and ApplicationReplaced
// are typed precisely; anything else with a string `type` passes through loosely typed.
//
// The parser never throws: a frame that is binary, too large, not UTF-8, not JSON, not
// an object, or whose typed fields have the wrong shape yields a typed error, which the
// client counts and skips. formatAriEvent writes the exact bytes Asterisk sends (key
// order as recorded in fixtures/asterisk/ari/ws-*.frames.jsonl), for stubs and fakes.

import type { Result } from '../../base/result';
import { type DeviceStateName, type Eid, deviceStateFromName, deviceStateName, parseEid } from '../core/events';

export const AriEventLimits = {
  /** Larger frames are counted and skipped: a device-state event is under 300 bytes. */
  frameBytesMax: 1024 * 1024,
} as const;

/** `{"type":"DeviceStateChanged",...}`: the aggregate state of one device; no origin EID. */
export interface AriDeviceStateChanged {
  readonly type: 'DeviceStateChanged';
  /** null if absent (Asterisk always sends it; older releases may not). */
  readonly application: string | null;
  /** As Asterisk writes it, e.g. `2026-11-21T20:23:10.279+0000`; null if absent. */
  readonly timestamp: string | null;
  readonly deviceState: { readonly name: string; readonly state: DeviceStateName };
  /** The EID of the Asterisk that sent the frame (not of the state's origin); null if absent. */
  readonly asteriskId: Eid | null;
}

/** Another websocket connected with our application name and now receives its events. */
export interface AriApplicationReplaced {
  readonly type: 'ApplicationReplaced';
  readonly application: string | null;
  readonly timestamp: string | null;
  readonly asteriskId: Eid | null;
}

/** Any other event: the JSON object as received, typed loosely. */
export interface AriOtherEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export type AriEvent =
  | { readonly kind: 'device-state-changed'; readonly event: AriDeviceStateChanged }
  | { readonly kind: 'application-replaced'; readonly event: AriApplicationReplaced }
  | { readonly kind: 'other'; readonly event: AriOtherEvent };

export const AriFrameErrorCode = {
  binary: 'FRAME_BINARY',
  tooLarge: 'FRAME_TOO_LARGE',
  notUtf8: 'FRAME_NOT_UTF8',
  notJson: 'FRAME_NOT_JSON',
  notObject: 'FRAME_NOT_OBJECT',
  noType: 'FRAME_NO_TYPE',
  badField: 'FRAME_BAD_FIELD',
} as const;
export type AriFrameErrorCode = (typeof AriFrameErrorCode)[keyof typeof AriFrameErrorCode];

export interface AriFrameError {
  readonly code: AriFrameErrorCode;
  readonly message: string;
}

export interface ParseAriFrameOptions {
  /** True for a binary websocket frame (ARI only sends text). */
  readonly binary?: boolean;
  readonly frameBytesMax?: number;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(code: AriFrameErrorCode, message: string): { ok: false; error: AriFrameError } {
  return { ok: false, error: { code, message } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** The UTF-8 size of `text` if it may exceed `max` (exact only when needed: it costs a copy). */
function exceedsBytes(text: string, max: number): boolean {
  // A UTF-16 code unit takes 1 to 3 UTF-8 bytes (a surrogate pair 4 for 2 units).
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return utf8Encoder.encode(text).length > max;
}

/** An optional string field: absent → null; present with another type → error text. */
function optionalString(object: JsonObject, key: string): { value: string | null } | { problem: string } {
  const value = object[key];
  if (value === undefined) return { value: null };
  return typeof value === 'string' ? { value } : { problem: `${key} is not a string` };
}

function optionalEid(object: JsonObject): { value: Eid | null } | { problem: string } {
  const value = object['asterisk_id'];
  if (value === undefined) return { value: null };
  const eid = typeof value === 'string' ? parseEid(value) : null;
  return eid === null ? { problem: 'asterisk_id is not an EID' } : { value: eid };
}

/** The fields every event shares, validated. */
function commonFields(object: JsonObject): { application: string | null; timestamp: string | null; asteriskId: Eid | null } | string {
  const application = optionalString(object, 'application');
  if ('problem' in application) return application.problem;
  const timestamp = optionalString(object, 'timestamp');
  if ('problem' in timestamp) return timestamp.problem;
  const asteriskId = optionalEid(object);
  if ('problem' in asteriskId) return asteriskId.problem;
  return { application: application.value, timestamp: timestamp.value, asteriskId: asteriskId.value };
}

function parseObject(object: JsonObject): Result<AriEvent, AriFrameError> {
  const type = object['type'];
  if (typeof type !== 'string' || type === '') return fail(AriFrameErrorCode.noType, 'the event has no string "type"');
  const common = commonFields(object);
  if (typeof common === 'string') return fail(AriFrameErrorCode.badField, `${type}: ${common}`);
  if (type === 'DeviceStateChanged') {
    const deviceState = object['device_state'];
    if (!isJsonObject(deviceState)) return fail(AriFrameErrorCode.badField, 'DeviceStateChanged: device_state is not an object');
    const name = deviceState['name'];
    if (typeof name !== 'string' || name === '') return fail(AriFrameErrorCode.badField, 'DeviceStateChanged: device_state.name is not a non-empty string');
    const stateText = deviceState['state'];
    const state = typeof stateText === 'string' ? deviceStateFromName(stateText) : null;
    if (state === null) return fail(AriFrameErrorCode.badField, `DeviceStateChanged: device_state.state ${JSON.stringify(stateText)} is not a device state`);
    return {
      ok: true,
      value: { kind: 'device-state-changed', event: { type, ...common, deviceState: { name, state: deviceStateName(state) } } },
    };
  }
  if (type === 'ApplicationReplaced') {
    return { ok: true, value: { kind: 'application-replaced', event: { type, ...common } } };
  }
  return { ok: true, value: { kind: 'other', event: { ...object, type } } };
}

/** Parses one websocket frame's payload; never throws. */
export function parseAriFrame(payload: string | Uint8Array, options: ParseAriFrameOptions = {}): Result<AriEvent, AriFrameError> {
  const max = options.frameBytesMax ?? AriEventLimits.frameBytesMax;
  if (options.binary === true) return fail(AriFrameErrorCode.binary, 'a binary frame (ARI sends text frames)');
  let text: string;
  if (typeof payload === 'string') {
    if (exceedsBytes(payload, max)) return fail(AriFrameErrorCode.tooLarge, `a frame over ${max} bytes`);
    text = payload;
  } else {
    if (payload.length > max) return fail(AriFrameErrorCode.tooLarge, `a frame of ${payload.length} bytes (limit ${max})`);
    try {
      text = utf8.decode(payload);
    } catch {
      return fail(AriFrameErrorCode.notUtf8, 'the frame is not valid UTF-8');
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(AriFrameErrorCode.notJson, `not JSON: ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (!isJsonObject(value)) return fail(AriFrameErrorCode.notObject, 'the frame is JSON but not an object');
  return parseObject(value);
}

/**
 * The frame Asterisk 20 would send for a typed event, with its key order: DeviceStateChanged
 * `type, application, timestamp, device_state{name,state}, asterisk_id`; ApplicationReplaced
 * `type, timestamp, application, asterisk_id` (asterisk-groundtruth.md §3). Absent (null)
 * fields are left out.
 */
export function formatAriEvent(event: AriDeviceStateChanged | AriApplicationReplaced): string {
  const object: Record<string, unknown> = { type: event.type };
  if (event.type === 'DeviceStateChanged') {
    if (event.application !== null) object['application'] = event.application;
    if (event.timestamp !== null) object['timestamp'] = event.timestamp;
    object['device_state'] = { name: event.deviceState.name, state: event.deviceState.state };
  } else {
    if (event.timestamp !== null) object['timestamp'] = event.timestamp;
    if (event.application !== null) object['application'] = event.application;
  }
  if (event.asteriskId !== null) object['asterisk_id'] = event.asteriskId;
  return JSON.stringify(object);
}
