// The state model of the fake Asterisk (fake-asterisk.ts): what one real Asterisk 20
// keeps for device states, hints, external mailboxes and presence, as the transcripts in
// /work/shared/fixtures/asterisk/ and asterisk-groundtruth.md §1.4, §1.5, §2 show it.
// No sockets here: changes are reported to a StateSink, which the AMI and ARI servers
// turn into DeviceStateChange / ExtensionStatus / MessageWaiting / PresenceStateChange
// events and DeviceStateChanged frames.
//
// Modelled facts (one node, so a device's aggregate is its single local state):
// - the device-state cache holds cachable states; publishing the state a device already
//   has is suppressed (no event), as in the 2025-10 build the transcripts came from;
// - Custom: and Stasis: states are written to the "astdb" (FakeAstDb), which survives a
//   restart and repopulates the cache at boot, as func_devstate and
//   res_stasis_device_state do; a DELETE of a Stasis: state clears it without any event;
// - reading an uncached device gives UNKNOWN for Custom:/Stasis: (their providers read
//   the astdb) and INVALID for anything else (no channel driver, no MWI provider);
// - hints remember their last extension state and report only changes;
// - external mailboxes (res_mwi_external) are persisted; every MWI publication is
//   reported, repeats included; `Waiting` is computed from the local mailbox store;
//   res_mwi_devstate mirrors each MWI as device `MWI:<mailbox>` INUSE / NOT_INUSE;
// - presence: CustomPresence: values are persisted; every change is reported.

import { aggregateDeviceStates } from '../../../src/asterisk/core/device-aggregate';
import { DeviceState, type DeviceStateName, deviceStateName, deviceStateNames, PresenceState, presenceStateNames } from '../../../src/asterisk/core/events';
import { assert } from '../../../src/base/assert';

/** A dialplan hint, as `exten => 100,hint,Custom:alice&Custom:carol` in `context`. */
export interface FakeHint {
  readonly exten: string;
  readonly context: string;
  /** The hint's application string: devices joined by `&`, optionally `,<presence provider>`. */
  readonly devices: string;
}

/** The hints of the transcripts' dialplan (fixtures/asterisk/README.md). */
export const TRANSCRIPT_HINTS: readonly FakeHint[] = [
  { exten: '100', context: 'default', devices: 'Custom:alice' },
  { exten: '101', context: 'default', devices: 'Custom:bob' },
  { exten: '102', context: 'default', devices: 'Custom:alice&Custom:carol' },
  { exten: '200', context: 'default', devices: 'MWI:1000@default' },
];

/** Which optional Asterisk modules the fake behaves as having loaded. */
export interface FakeModules {
  /** res_mwi_external + res_mwi_external_ami + res_ari_mailboxes: MWIUpdate/MWIGet/MWIDelete, /ari/mailboxes. */
  readonly mwiExternal: boolean;
  /** res_manager_devicestate: AMI DeviceStateChange events and DeviceStateList. */
  readonly managerDevicestate: boolean;
  /** res_manager_presencestate: AMI PresenceStateChange events and PresenceStateList. */
  readonly managerPresencestate: boolean;
  /** res_mwi_devstate: device `MWI:<mailbox>` mirrors every MWI. */
  readonly mwiDevstate: boolean;
}

export interface MailboxCounts {
  readonly new: number;
  readonly old: number;
}

export interface PresenceValue {
  /** A presence name as PRESENCE_STATE() spells it (`away`, `not_set`, …). */
  readonly state: string;
  readonly subtype: string;
  readonly message: string;
}

/** Extension state codes (pbx.c) and their AMI StatusText. */
export const ExtensionStatusText: ReadonlyMap<number, string> = new Map([
  [0, 'Idle'],
  [1, 'InUse'],
  [2, 'Busy'],
  [4, 'Unavailable'],
  [8, 'Ringing'],
  [9, 'InUse&Ringing'],
  [16, 'Hold'],
  [17, 'InUse&Hold'],
]);

export function extensionStatusText(status: number): string {
  return ExtensionStatusText.get(status) ?? 'Unknown';
}

/** What persists across restart(): Asterisk's astdb families and the sorcery mailboxes. */
export class FakeAstDb {
  /** Family CustomDevstate: device name after `Custom:` → the value string as written. */
  readonly customDevstate = new Map<string, string>();
  /** Family StasisDeviceState: device name after `Stasis:` → the value string as written. */
  readonly stasisDevstate = new Map<string, string>();
  /** Family CustomPresence: provider name after `CustomPresence:` → `state,subtype,message[,options]`. */
  readonly customPresence = new Map<string, string>();
  /** res_mwi_external's mailboxes (sorcery astdb family mwi_external). */
  readonly mailboxes = new Map<string, MailboxCounts>();
}

/** Where state changes go (the AMI and ARI servers, through fake-asterisk.ts). */
export interface StateSink {
  /** A device's (aggregate) state changed: AMI DeviceStateChange, ARI DeviceStateChanged. */
  deviceStateChanged(device: string, state: DeviceStateName): void;
  /** A hint's extension state changed: AMI ExtensionStatus. */
  extensionStatusChanged(hint: FakeHint, status: number): void;
  /** An MWI state was published: AMI MessageWaiting. */
  messageWaiting(mailbox: string, waiting: number, newMessages: number, oldMessages: number): void;
  /** A presence state was published: AMI PresenceStateChange. */
  presenceChanged(provider: string, value: PresenceValue): void;
}

/** `ast_devstate_val`: case-insensitive; anything unrecognised (and `UNKNOWN`) is UNKNOWN. */
export function devstateVal(value: string): DeviceState {
  const upper = value.toUpperCase();
  for (let i = 1; i < deviceStateNames.length; i++) {
    if (deviceStateNames[i] === upper && upper !== 'UNKNOWN') return i as DeviceState;
  }
  return DeviceState.unknown;
}

/** A device-state name as tests pass it (any case), or null. */
export function parseDeviceStateName(name: string): DeviceState | null {
  const i = (deviceStateNames as readonly string[]).indexOf(name.toUpperCase());
  return i < 0 ? null : (i as DeviceState);
}

/** Asterisk's devstate → extension state mapping (ast_devstate_to_extenstate). */
function extensionStateOf(state: DeviceState): number {
  switch (state) {
    case DeviceState.unknown:
    case DeviceState.notInuse:
      return 0;
    case DeviceState.inuse:
      return 1;
    case DeviceState.busy:
      return 2;
    case DeviceState.invalid:
    case DeviceState.unavailable:
      return 4;
    case DeviceState.ringing:
      return 8;
    case DeviceState.ringinuse:
      return 9;
    case DeviceState.onhold:
      return 16;
  }
}

const CUSTOM = 'Custom:';
const STASIS = 'Stasis:';
const CUSTOM_PRESENCE = 'CustomPresence:';

function hasPrefix(text: string, prefix: string): boolean {
  return text.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

/** The devices of a hint application string (`A&B,CustomPresence:x` → [A, B]). */
export function hintDevices(hint: FakeHint): string[] {
  const devicePart = hint.devices.split(',')[0] ?? '';
  return devicePart.split('&').map((d) => d.trim()).filter((d) => d.length > 0);
}

/** Parses a PRESENCE_STATE value `state,subtype,message[,options]` as func_presencestate does; null if invalid. */
export function parsePresenceValue(raw: string): PresenceValue | null {
  const parts = raw.split(',');
  const stateText = parts[0] ?? '';
  if (stateText === '') return null;
  const state = stateText.toLowerCase();
  if (!(presenceStateNames as readonly string[]).includes(state)) return null;
  const subtype = parts[1] ?? '';
  // The message is the third field; any later comma starts the options.
  const message = parts[2] ?? '';
  const options = parts[3] ?? '';
  if (options !== '' && !options.includes('e')) return null;
  if (options.includes('e')) {
    return { state, subtype: decodeBase64(subtype), message: decodeBase64(message) };
  }
  return { state, subtype, message };
}

function encodeBase64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function decodeBase64(text: string): string {
  if (text === '') return '';
  return new TextDecoder().decode(Uint8Array.from(atob(text.replace(/[^A-Za-z0-9+/=]/g, '')), (c) => c.charCodeAt(0)));
}

interface HintEntry {
  readonly hint: FakeHint;
  readonly devices: readonly string[];
  lastStatus: number;
}

/** The fake's volatile state over a persistent FakeAstDb; one instance per "boot". */
export class FakeAsteriskState {
  readonly modules: FakeModules;
  readonly astdb: FakeAstDb;
  private readonly sink: StateSink;
  /** The device-state cache (aggregate = local state on a single node), in insertion order. */
  private readonly deviceCache = new Map<string, DeviceState>();
  /** The presence-state cache. */
  private readonly presenceCache = new Map<string, PresenceValue>();
  private readonly hintEntries: HintEntry[];
  /** Global dialplan variables set by Setvar without a channel. */
  readonly globals = new Map<string, string>();

  constructor(modules: FakeModules, hints: readonly FakeHint[], astdb: FakeAstDb, sink: StateSink) {
    this.modules = modules;
    this.astdb = astdb;
    this.sink = sink;
    // Boot: func_devstate, res_stasis_device_state, res_mwi_external (+ res_mwi_devstate)
    // and func_presencestate repopulate their caches from the astdb. Nobody is connected
    // yet, so these produce no events.
    for (const [name, value] of astdb.customDevstate) this.deviceCache.set(CUSTOM + name, devstateVal(value));
    for (const [name, value] of astdb.stasisDevstate) this.deviceCache.set(STASIS + name, devstateVal(value));
    if (modules.mwiDevstate) {
      for (const [mailbox, counts] of astdb.mailboxes) this.deviceCache.set(`MWI:${mailbox}`, counts.new > 0 ? DeviceState.inuse : DeviceState.notInuse);
    }
    for (const [name, raw] of astdb.customPresence) {
      const value = parsePresenceValue(raw);
      if (value !== null) this.presenceCache.set(CUSTOM_PRESENCE + name, value);
    }
    this.hintEntries = hints.map((hint) => {
      const devices = hintDevices(hint);
      return { hint, devices, lastStatus: this.computeStatus(devices) };
    });
  }

  // ---- device state ----

  /** `ast_device_state(device)`: the cached state, else what the device's provider says. */
  deviceState(device: string): DeviceState {
    const cached = this.deviceCache.get(device);
    if (cached !== undefined && cached !== DeviceState.unknown) return cached;
    if (hasPrefix(device, CUSTOM)) return devstateVal(this.astdb.customDevstate.get(device.slice(CUSTOM.length)) ?? '');
    if (hasPrefix(device, STASIS)) return devstateVal(this.astdb.stasisDevstate.get(device.slice(STASIS.length)) ?? '');
    return cached ?? DeviceState.invalid;
  }

  /** The cached device states (what DeviceStateList lists), in cache order. */
  cachedDeviceStates(): ReadonlyMap<string, DeviceState> {
    return this.deviceCache;
  }

  /**
   * ast_devstate_changed for a cachable state: a state equal to the cached one is
   * suppressed; otherwise the cache changes, the sink hears of it, and hints follow.
   */
  changeDeviceState(device: string, state: DeviceState): void {
    if (this.deviceCache.get(device) === state) return;
    this.deviceCache.set(device, state);
    this.sink.deviceStateChanged(device, deviceStateName(state));
    this.updateHints(device);
  }

  /** DEVICE_STATE(Custom:x) = value (func_devstate): false when Asterisk refuses it. */
  setCustomDeviceState(device: string, value: string): boolean {
    if (!hasPrefix(device, CUSTOM)) return false;
    const name = device.slice(CUSTOM.length);
    if (name === '') return false;
    const state = devstateVal(value);
    if (state === DeviceState.unknown) return false;
    this.astdb.customDevstate.set(name, value);
    this.changeDeviceState(CUSTOM + name, state);
    return true;
  }

  /** PUT /deviceStates/Stasis:x: the outcome res_stasis_device_state reports. */
  updateStasisDeviceState(device: string, value: string | undefined): 'ok' | 'not-controlled' | 'missing' | 'unknown' {
    if (!hasPrefix(device, STASIS)) return 'not-controlled';
    const name = device.slice(STASIS.length);
    if (name === '') return 'missing';
    const state = value === undefined ? DeviceState.unknown : devstateVal(value);
    if (state === DeviceState.unknown) return 'unknown';
    this.astdb.stasisDevstate.set(name, value ?? '');
    this.changeDeviceState(STASIS + name, state);
    return 'ok';
  }

  /** DELETE /deviceStates/Stasis:x: the cache entry and astdb key go, and no event is seen (groundtruth §3). */
  deleteStasisDeviceState(device: string): 'ok' | 'not-controlled' | 'missing' {
    if (!hasPrefix(device, STASIS)) return 'not-controlled';
    const name = device.slice(STASIS.length);
    if (name === '') return 'missing';
    this.deviceCache.delete(STASIS + name);
    this.astdb.stasisDevstate.delete(name);
    return 'ok';
  }

  /** A test's "the PBX changed this device": Custom:/Stasis: are also written to the astdb. */
  setAnyDeviceState(device: string, state: DeviceState): void {
    let name = device;
    if (hasPrefix(device, CUSTOM)) {
      name = CUSTOM + device.slice(CUSTOM.length);
      this.astdb.customDevstate.set(device.slice(CUSTOM.length), deviceStateName(state));
    } else if (hasPrefix(device, STASIS)) {
      name = STASIS + device.slice(STASIS.length);
      this.astdb.stasisDevstate.set(device.slice(STASIS.length), deviceStateName(state));
    }
    this.changeDeviceState(name, state);
  }

  // ---- hints ----

  hints(): readonly FakeHint[] {
    return this.hintEntries.map((e) => e.hint);
  }

  /** The extension state a hint last reported (ExtensionStateList, core show hints). */
  hintLastStatus(hint: FakeHint): number {
    return this.hintEntries.find((e) => e.hint === hint)?.lastStatus ?? -1;
  }

  findHint(exten: string, context: string): FakeHint | undefined {
    return this.hintEntries.find((e) => e.hint.exten === exten && e.hint.context === context)?.hint;
  }

  /** The extension state computed now (ExtensionState), -1 for no hint. */
  extensionStatus(exten: string, context: string): number {
    const entry = this.hintEntries.find((e) => e.hint.exten === exten && e.hint.context === context);
    return entry === undefined ? -1 : this.computeStatus(entry.devices);
  }

  private computeStatus(devices: readonly string[]): number {
    return extensionStateOf(aggregateDeviceStates(devices.map((d) => this.deviceState(d))));
  }

  private updateHints(device: string): void {
    const lower = device.toLowerCase();
    for (const entry of this.hintEntries) {
      if (!entry.devices.some((d) => d.toLowerCase() === lower)) continue;
      const status = this.computeStatus(entry.devices);
      if (status === entry.lastStatus) continue;
      entry.lastStatus = status;
      this.sink.extensionStatusChanged(entry.hint, status);
    }
  }

  // ---- MWI ----

  mailbox(mailbox: string): MailboxCounts | undefined {
    return this.astdb.mailboxes.get(mailbox);
  }

  /** The local mailboxes sorted by name, as sorcery's astdb retrieval returns them. */
  sortedMailboxes(): Array<[string, MailboxCounts]> {
    return [...this.astdb.mailboxes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** `ast_app_has_voicemail` of the local provider: 1 when the mailbox exists with new messages. */
  hasVoicemail(mailbox: string): number {
    return (this.astdb.mailboxes.get(mailbox)?.new ?? 0) > 0 ? 1 : 0;
  }

  /** MWIUpdate / ARI PUT /mailboxes / the local voicemail: store, then publish (never suppressed). */
  updateMailbox(mailbox: string, newMessages: number, oldMessages: number): void {
    assert(mailbox !== '', 'a mailbox name is required');
    this.astdb.mailboxes.set(mailbox, { new: newMessages, old: oldMessages });
    this.publishMwi(mailbox, newMessages, oldMessages);
  }

  /** MWIDelete / ARI DELETE: publishes 0/0 if the mailbox existed, then it is gone. */
  deleteMailbox(mailbox: string): boolean {
    if (!this.astdb.mailboxes.delete(mailbox)) return false;
    this.publishMwi(mailbox, 0, 0);
    return true;
  }

  private publishMwi(mailbox: string, newMessages: number, oldMessages: number): void {
    this.sink.messageWaiting(mailbox, this.hasVoicemail(mailbox), newMessages, oldMessages);
    if (this.modules.mwiDevstate) this.changeDeviceState(`MWI:${mailbox}`, newMessages > 0 ? DeviceState.inuse : DeviceState.notInuse);
  }

  // ---- presence ----

  /** PRESENCE_STATE(CustomPresence:x) = raw (func_presencestate): false when refused. */
  setCustomPresence(provider: string, raw: string): boolean {
    if (!hasPrefix(provider, CUSTOM_PRESENCE)) return false;
    const name = provider.slice(CUSTOM_PRESENCE.length);
    if (name === '') return false;
    const value = parsePresenceValue(raw);
    if (value === null) return false;
    this.astdb.customPresence.set(name, raw);
    this.publishPresence(provider, value);
    return true;
  }

  /** A test's presence change for any provider; CustomPresence: is also persisted. */
  setAnyPresence(provider: string, value: PresenceValue): void {
    if (hasPrefix(provider, CUSTOM_PRESENCE)) {
      // Stored as PRESENCE_STATE() would store it; commas force the base64 (`e`) form.
      const raw =
        value.subtype.includes(',') || value.message.includes(',')
          ? [value.state, encodeBase64(value.subtype), encodeBase64(value.message), 'e'].join(',')
          : [value.state, value.subtype, value.message].join(',');
      this.astdb.customPresence.set(provider.slice(CUSTOM_PRESENCE.length), raw);
    }
    this.publishPresence(provider, value);
  }

  private publishPresence(provider: string, value: PresenceValue): void {
    this.presenceCache.set(provider, value);
    this.sink.presenceChanged(provider, value);
  }

  /** `ast_presence_state(provider)`: cache, else the provider; null is INVALID. */
  presence(provider: string): PresenceValue | null {
    const cached = this.presenceCache.get(provider);
    if (cached !== undefined) return cached;
    return this.presenceFromProvider(provider);
  }

  /** What the provider itself says (PRESENCE_STATE() reads without the cache). */
  presenceFromProvider(provider: string): PresenceValue | null {
    if (!hasPrefix(provider, CUSTOM_PRESENCE)) return null;
    const raw = this.astdb.customPresence.get(provider.slice(CUSTOM_PRESENCE.length));
    if (raw === undefined) return { state: presenceStateNames[PresenceState.notSet], subtype: '', message: '' };
    return parsePresenceValue(raw);
  }

  cachedPresence(): ReadonlyMap<string, PresenceValue> {
    return this.presenceCache;
  }
}
