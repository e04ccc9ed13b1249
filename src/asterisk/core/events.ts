// The Asterisk bridge's domain types (res-corosync.md §1.1, §1.2, §1.4): ast_event
// types and IE numbers as Asterisk numbers them, the device-state and presence-state
// enums, EIDs, and the decoded events the bridge exchanges in CPG group `asterisk`.
// Pure data: no I/O. The byte layout lives in ast-event-codec.ts.

/** The CPG group res_corosync joins (cpg_name.length 8, no NUL). */
export const ASTERISK_GROUP = 'asterisk';

/** `enum ast_event_type` values the bridge meets on the wire. */
export const AstEventType = {
  mwi: 0x02,
  /** An aggregate device state; res_corosync leaks these onto the wire, receivers ignore them. */
  deviceStateAggregate: 0x05,
  deviceStateChange: 0x06,
  /** Never sent by res_corosync; Carillon's presence extension (issue scope 9). */
  presenceState: 0x0a,
  ping: 0x0c,
  clusterDiscovery: 0x0d,
  /** AST_EVENT_TOTAL: one past the last type. */
  total: 0x0e,
} as const;
export type AstEventTypeNumber = (typeof AstEventType)[keyof typeof AstEventType];

/** `enum ast_event_ie_type` values used here. */
export const AstEventIe = {
  newMessages: 0x0001,
  oldMessages: 0x0002,
  mailbox: 0x0003,
  device: 0x0007,
  state: 0x0008,
  context: 0x0009,
  eid: 0x0021,
  localAddr: 0x002a,
  presenceProvider: 0x0039,
  presenceState: 0x003a,
  presenceSubtype: 0x003b,
  presenceMessage: 0x003c,
  cachable: 0x003d,
  nodeId: 0x003e,
} as const;

/** `enum ast_device_state`; the names are AMI's, ARI's and DEVICE_STATE()'s. */
export const DeviceState = {
  unknown: 0,
  notInuse: 1,
  inuse: 2,
  busy: 3,
  invalid: 4,
  unavailable: 5,
  ringing: 6,
  ringinuse: 7,
  onhold: 8,
} as const;
export type DeviceState = (typeof DeviceState)[keyof typeof DeviceState];

export const deviceStateNames = ['UNKNOWN', 'NOT_INUSE', 'INUSE', 'BUSY', 'INVALID', 'UNAVAILABLE', 'RINGING', 'RINGINUSE', 'ONHOLD'] as const;
export type DeviceStateName = (typeof deviceStateNames)[number];

export function isDeviceState(n: number): n is DeviceState {
  return Number.isInteger(n) && n >= 0 && n <= 8;
}

/** The state for an AMI/ARI name, case-insensitive (Asterisk accepts `not_inuse`); null if unknown. */
export function deviceStateFromName(name: string): DeviceState | null {
  const i = (deviceStateNames as readonly string[]).indexOf(name.trim().toUpperCase());
  return i < 0 ? null : (i as DeviceState);
}

export function deviceStateName(state: DeviceState): DeviceStateName {
  const name = deviceStateNames[state];
  if (name === undefined) throw new RangeError(`device state ${state} out of range`);
  return name;
}

/** `enum ast_presence_state`; INVALID (-1) travels as 0xffffffff. */
export const PresenceState = {
  notSet: 0,
  unavailable: 1,
  available: 2,
  away: 3,
  xa: 4,
  chat: 5,
  dnd: 6,
} as const;
export type PresenceState = (typeof PresenceState)[keyof typeof PresenceState];

/** Presence names as AMI's PresenceStateChange `Status` and PRESENCE_STATE() spell them. */
export const presenceStateNames = ['not_set', 'unavailable', 'available', 'away', 'xa', 'chat', 'dnd'] as const;

export function presenceStateFromName(name: string): PresenceState | null {
  const i = (presenceStateNames as readonly string[]).indexOf(name.trim().toLowerCase());
  return i < 0 ? null : (i as PresenceState);
}

/** An Asterisk entity id: 6 bytes, written as lower-case `xx:xx:xx:xx:xx:xx`. */
export type Eid = string;

const EID_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The canonical form of an EID (accepts upper case and `-` separators), or null. */
export function parseEid(text: string): Eid | null {
  const canonical = text.trim().toLowerCase().replace(/-/g, ':');
  return EID_PATTERN.test(canonical) ? canonical : null;
}

export function eidToBytes(eid: Eid): Uint8Array {
  const bytes = new Uint8Array(6);
  const parts = eid.split(':');
  for (let i = 0; i < 6; i++) bytes[i] = Number.parseInt(parts[i] ?? '', 16);
  return bytes;
}

export function eidFromBytes(bytes: Uint8Array): Eid {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A device state as one server holds it (ast_event 0x06, or 0x05 for an aggregate). */
export interface DeviceStateEvent {
  readonly kind: 'device-state';
  /** True for type 0x05 (an aggregate): decoded so it can be counted, never acted on. */
  readonly aggregate: boolean;
  readonly device: string;
  readonly state: DeviceState;
  readonly cachable: boolean;
  readonly eid: Eid;
}

/** Message waiting counts of `mailbox@context` (ast_event 0x02). */
export interface MwiEvent {
  readonly kind: 'mwi';
  readonly mailbox: string;
  /** Never empty on the wire: an empty context is sent as `default`. */
  readonly context: string;
  readonly newMessages: number;
  readonly oldMessages: number;
  readonly eid: Eid;
}

/** Presence of a provider such as `CustomPresence:alice` (ast_event 0x0a, Carillon only). */
export interface PresenceStateEvent {
  readonly kind: 'presence-state';
  readonly provider: string;
  /** A PresenceState, or -1 for INVALID. */
  readonly state: PresenceState | -1;
  readonly subtype: string;
  readonly message: string;
  readonly eid: Eid;
}

export interface PingEvent {
  readonly kind: 'ping';
  readonly eid: Eid;
}

/** res_corosync's node announcement (ast_event 0x0d). */
export interface ClusterDiscoveryEvent {
  readonly kind: 'cluster-discovery';
  /** The sender's corosync nodeid; must equal the CPG sender's nodeid. */
  readonly nodeId: number;
  /** The numeric host of the sender's first ring address. */
  readonly localAddr: string;
  readonly eid: Eid;
}

export type AstEvent = DeviceStateEvent | MwiEvent | PresenceStateEvent | PingEvent | ClusterDiscoveryEvent;
