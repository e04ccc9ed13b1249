// The Asterisk bridge's decision logic (architecture.md §2.7, res-corosync.md §1.3–§1.5,
// asterisk-groundtruth.md): what res_corosync does inside Asterisk, done beside it. Pure
// and deterministic: inputs are the local Asterisk's state changes (read by the AMI/ARI
// adapters), CPG deliveries and configuration changes of group `asterisk`, and ticks;
// outputs are ordered effects (multicast an ast_event, write a state into the local
// Asterisk, log a line) that src/runtime/bridge-runner.ts carries out.
//
// Rules, with where they come from:
//   - Only events of the local Asterisk's EID are multicast; received events with our
//     own EID, without EID, malformed, of type 0x05 (leaked aggregates) or of a type
//     not subscribed are dropped and counted (res_corosync's cpg_deliver_cb, §1.2).
//   - A remote device state is kept per (device, EID) and written locally as the
//     aggregate over every remote origin (Asterisk's ast_devstate_aggregate, §1.4)
//     under a mapped `Custom:` name; Asterisk's own hint `&` then combines it with the
//     local device. The mapped namespace is never published (echo suppression, B1).
//   - Remote MWI is last writer wins per mailbox@context (§1.5) and written under the
//     real name (MWIUpdate / ARI mailboxes); the MessageWaiting echo of what we wrote
//     is recognised and not published.
//   - On any member joining (ourselves included) we re-send our own state (join dump);
//     a node announces itself with cluster discovery and answers unknown nodes' ones.
//   - On a member leaving, what it had sent is purged per policy after the grace
//     period — unlike res_corosync, by CPG sender, so a peer that never announced
//     itself is purged too, and with an explicit write, so hints of remote-only devices
//     do update (asterisk-groundtruth.md "purge on leave is silent").
//   - The local Asterisk can restart or the AMI link drop: a snapshot of its state
//     after every (re)connect reconciles both directions (§5 "resync").

import { assert } from '../../base/assert';
import { AstEventEncodeError, decodeAstEvent, encodeAstEvent } from './ast-event-codec';
import type { BridgeSettings } from './bridge-settings';
import { aggregateDeviceStates } from './device-aggregate';
import {
  type AstEvent,
  type DeviceState,
  DeviceState as DS,
  type DeviceStateEvent,
  type Eid,
  type MwiEvent,
  type PresenceState,
  PresenceState as PS,
  type PresenceStateEvent,
} from './events';

/** A CPG process: what a confchg lists and a delivery names as sender. */
export interface BridgeMember {
  readonly nodeId: number;
  readonly pid: number;
}

export type BridgeLogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';

export type BridgeEffect =
  | { readonly kind: 'mcast'; readonly payload: Uint8Array; readonly event: AstEvent }
  /** Write `state` as device `name` (a mapped Custom: name) in the local Asterisk. */
  | { readonly kind: 'set-device-state'; readonly name: string; readonly device: string; readonly state: DeviceState }
  /** Write the counts of `mailbox` (mailbox@context) in the local Asterisk. */
  | { readonly kind: 'set-mwi'; readonly mailbox: string; readonly newMessages: number; readonly oldMessages: number }
  /** Write presence `name` (a mapped CustomPresence: name) in the local Asterisk. */
  | {
      readonly kind: 'set-presence';
      readonly name: string;
      readonly provider: string;
      readonly state: PresenceState | -1;
      readonly subtype: string;
      readonly message: string;
    }
  | { readonly kind: 'log'; readonly level: BridgeLogLevel; readonly message: string };

export interface BridgeLimits {
  /** Remote (device, EID) entries plus local devices. */
  readonly maxDevices: number;
  readonly maxMailboxes: number;
  readonly maxPresence: number;
  /** MWI writes of ours whose MessageWaiting echo has not come back yet, per mailbox. */
  readonly maxPendingEchoes: number;
  readonly maxNodes: number;
}

export const DEFAULT_BRIDGE_LIMITS: BridgeLimits = {
  maxDevices: 200_000,
  maxMailboxes: 100_000,
  maxPresence: 100_000,
  maxPendingEchoes: 16,
  maxNodes: 1024,
};

export interface BridgeCoreOptions {
  readonly settings: BridgeSettings;
  /** This daemon's corosync nodeid: NODE_ID of our cluster discovery. */
  readonly localNodeId: number;
  /** The numeric host of this node's first ring address: LOCAL_ADDR of our discovery. */
  readonly localAddr: string;
  /** Ticks per second of the caller's clock (the grace period is given in ms). */
  readonly ticksPerSecond: number;
  readonly limits?: Partial<BridgeLimits>;
}

/** Counters for metrics and `carillon show states`; names are stable. */
export interface BridgeStats {
  received: number;
  receivedDeviceState: number;
  receivedMwi: number;
  receivedPresence: number;
  receivedPing: number;
  receivedDiscovery: number;
  droppedOwnEid: number;
  droppedMalformed: number;
  droppedMissingEid: number;
  droppedAggregate: number;
  droppedUnknownType: number;
  droppedUnsubscribed: number;
  droppedDiscoveryMismatch: number;
  droppedOverLimit: number;
  published: number;
  publishedDeviceState: number;
  publishedMwi: number;
  publishedPresence: number;
  dumps: number;
  echoSuppressed: number;
  injectedDeviceState: number;
  injectedMwi: number;
  injectedPresence: number;
  purgedDeviceStates: number;
  purgedMailboxes: number;
  purgedPresence: number;
  localChangesIgnored: number;
  /** Local names or counts that cannot be sent as an ast_event (NUL, too long, not u32). */
  droppedLocalInvalid: number;
}

function newStats(): BridgeStats {
  return {
    received: 0,
    receivedDeviceState: 0,
    receivedMwi: 0,
    receivedPresence: 0,
    receivedPing: 0,
    receivedDiscovery: 0,
    droppedOwnEid: 0,
    droppedMalformed: 0,
    droppedMissingEid: 0,
    droppedAggregate: 0,
    droppedUnknownType: 0,
    droppedUnsubscribed: 0,
    droppedDiscoveryMismatch: 0,
    droppedOverLimit: 0,
    published: 0,
    publishedDeviceState: 0,
    publishedMwi: 0,
    publishedPresence: 0,
    dumps: 0,
    echoSuppressed: 0,
    injectedDeviceState: 0,
    injectedMwi: 0,
    injectedPresence: 0,
    purgedDeviceStates: 0,
    purgedMailboxes: 0,
    purgedPresence: 0,
    localChangesIgnored: 0,
    droppedLocalInvalid: 0,
  };
}

/** A remote server's state of one device. */
interface RemoteDeviceEntry {
  state: DeviceState;
  sender: BridgeMember;
  updatedTick: number;
}

interface MailboxEntry {
  newMessages: number;
  oldMessages: number;
  /** The EID of the last writer (ours for a local change; null before ours is known). */
  eid: Eid | null;
  /** null for the local Asterisk's own writes. */
  sender: BridgeMember | null;
  updatedTick: number;
}

interface PresenceValue {
  readonly state: PresenceState | -1;
  readonly subtype: string;
  readonly message: string;
}

interface RemotePresenceEntry extends PresenceValue {
  eid: Eid;
  sender: BridgeMember;
  updatedTick: number;
}

interface DiscoveredNode {
  readonly nodeId: number;
  readonly eid: Eid;
  readonly localAddr: string;
}

interface PendingPurge {
  readonly sender: BridgeMember;
  /** Entries this sender wrote at or before this tick are purged. */
  readonly leftTick: number;
  readonly dueTick: number;
}

/** Local state as read from the Asterisk after a (re)connect; null parts are unknown. */
export interface LocalSnapshot {
  readonly devices: ReadonlyArray<{ readonly name: string; readonly state: DeviceState }>;
  /** null when the Asterisk cannot list mailboxes (no res_mwi_external). */
  readonly mailboxes: ReadonlyArray<{ readonly mailbox: string; readonly newMessages: number; readonly oldMessages: number }> | null;
  /** null when presence cannot be listed. */
  readonly presence: ReadonlyArray<{ readonly provider: string } & PresenceValue> | null;
}

/** One device in `show states`. */
export interface DeviceView {
  readonly device: string;
  /** The local Asterisk's own state, when it has one. */
  readonly local: DeviceState | null;
  readonly remote: ReadonlyArray<{ readonly eid: Eid; readonly nodeId: number; readonly pid: number; readonly state: DeviceState }>;
  /** Aggregate over the remote origins (INVALID when there is none). */
  readonly remoteAggregate: DeviceState;
  /** Aggregate over local and remote, as a hint listing both names shows it. */
  readonly aggregate: DeviceState;
  readonly mappedName: string;
  /** What we last wrote under mappedName (null: nothing yet). */
  readonly injected: DeviceState | null;
}

export interface BridgeView {
  readonly eid: Eid | null;
  readonly joined: boolean;
  readonly nodes: readonly DiscoveredNode[];
  readonly devices: readonly DeviceView[];
  readonly mailboxes: ReadonlyArray<{
    readonly mailbox: string;
    readonly newMessages: number;
    readonly oldMessages: number;
    readonly eid: Eid | null;
    readonly local: boolean;
    readonly nodeId: number | null;
  }>;
  readonly presence: ReadonlyArray<{
    readonly provider: string;
    readonly local: PresenceValue | null;
    readonly remote: ReadonlyArray<PresenceValue & { readonly eid: Eid; readonly nodeId: number }>;
  }>;
}

/** A format with exactly one %s, split around it. */
interface NameMap {
  readonly prefix: string;
  readonly suffix: string;
}

function nameMap(format: string): NameMap {
  const at = format.indexOf('%s');
  assert(at >= 0 && format.indexOf('%s', at + 2) < 0, `name format must contain exactly one %s: ${format}`);
  return { prefix: format.slice(0, at), suffix: format.slice(at + 2) };
}

function mapName(map: NameMap, name: string): string {
  return `${map.prefix}${name}${map.suffix}`;
}

function inNamespace(map: NameMap, name: string): boolean {
  return name.length >= map.prefix.length + map.suffix.length && name.startsWith(map.prefix) && name.endsWith(map.suffix);
}

/** `mbox@ctx` → [mbox, ctx]; no or empty context is `default` (Asterisk's rule). */
export function splitMailbox(uniqueId: string): [string, string] {
  const at = uniqueId.indexOf('@');
  if (at < 0) return [uniqueId, 'default'];
  const context = uniqueId.slice(at + 1);
  return [uniqueId.slice(0, at), context === '' ? 'default' : context];
}

function memberKey(m: BridgeMember): string {
  return `${m.nodeId}:${m.pid}`;
}

function sameMember(a: BridgeMember, b: BridgeMember): boolean {
  return a.nodeId === b.nodeId && a.pid === b.pid;
}

function samePresence(a: PresenceValue, b: PresenceValue): boolean {
  return a.state === b.state && a.subtype === b.subtype && a.message === b.message;
}

/** The bridge of one node; see the file header. */
export class BridgeCore {
  private readonly settings: BridgeSettings;
  private readonly localNodeId: number;
  private readonly localAddr: string;
  private readonly limits: BridgeLimits;
  private readonly graceTicks: number;
  private readonly deviceMap: NameMap;
  private readonly presenceMap: NameMap;

  private eid: Eid | null = null;
  private joined = false;
  private self: BridgeMember | null = null;
  private now = 0;
  private effects: BridgeEffect[] = [];
  private readonly counters = newStats();

  /** The local Asterisk's own device states (unmapped names), as last read. */
  private readonly localDevices = new Map<string, DeviceState>();
  /** device → EID → entry. */
  private readonly remoteDevices = new Map<string, Map<Eid, RemoteDeviceEntry>>();
  private remoteDeviceEntries = 0;
  /** mapped name → what we last wrote (or read back after a reconnect). */
  private readonly injectedDevices = new Map<string, DeviceState>();
  /** mailbox@context → last writer's counts. */
  private readonly mailboxes = new Map<string, MailboxEntry>();
  /** mailbox@context → counts we wrote whose echo has not come back. */
  private readonly pendingMwiEchoes = new Map<string, Array<[number, number]>>();
  private readonly localPresence = new Map<string, PresenceValue>();
  /** provider → EID → entry (last writer wins: the newest entry is written). */
  private readonly remotePresence = new Map<string, Map<Eid, RemotePresenceEntry>>();
  private remotePresenceEntries = 0;
  private readonly injectedPresence = new Map<string, PresenceValue>();
  /** nodeId → what its cluster discovery said. */
  private readonly nodes = new Map<number, DiscoveredNode>();
  private pendingPurges: PendingPurge[] = [];

  constructor(options: BridgeCoreOptions) {
    assert(Number.isInteger(options.localNodeId) && options.localNodeId > 0, 'localNodeId must be a positive integer');
    assert(options.ticksPerSecond > 0, 'ticksPerSecond must be positive');
    this.settings = options.settings;
    this.localNodeId = options.localNodeId;
    this.localAddr = options.localAddr;
    this.limits = { ...DEFAULT_BRIDGE_LIMITS, ...options.limits };
    this.graceTicks = Math.ceil((options.settings.purgeGraceMs * options.ticksPerSecond) / 1000);
    this.deviceMap = nameMap(options.settings.remoteDeviceFormat);
    this.presenceMap = nameMap(options.settings.remotePresenceFormat);
  }

  // ---------------------------------------------------------------------------------
  // Inputs

  /**
   * The local Asterisk's EID is known (from config, ARI or AMI): from now on local state
   * is published under it. Announces us if the group is already joined.
   */
  setEid(eid: Eid, tick: number): void {
    this.advance(tick);
    if (this.eid === eid) return;
    if (this.eid !== null) {
      this.log('warning', `The local Asterisk's EID changed from ${this.eid} to ${eid}; restart carillond so that peers forget the old one`);
      return;
    }
    this.eid = eid;
    if (!this.joined) return;
    // Joined while the EID was unknown: nothing of ours went out yet, the join dump included.
    this.announce();
    this.dump();
  }

  /** Which CPG process we are (our handle), before the first confchg. */
  setSelf(self: BridgeMember): void {
    this.self = self;
  }

  /** A device state of the local Asterisk changed (AMI DeviceStateChange / ARI DeviceStateChanged). */
  localDeviceState(device: string, state: DeviceState, tick: number): void {
    this.advance(tick);
    if (inNamespace(this.deviceMap, device)) {
      // Our own write coming back (or a stale one from astdb): never published (B1).
      this.counters.echoSuppressed++;
      return;
    }
    if (this.settings.publishDeviceExclude.some((re) => re.test(device))) {
      this.counters.localChangesIgnored++;
      return;
    }
    if (this.localDevices.get(device) === state) return;
    if (!this.localDevices.has(device) && this.deviceCount() >= this.limits.maxDevices) {
      this.counters.droppedOverLimit++;
      this.log('warning', `Device ${device} not tracked: more than ${this.limits.maxDevices} device states`);
      return;
    }
    this.localDevices.set(device, state);
    if (this.settings.publish.deviceState) this.publishDevice(device, state);
  }

  /** The local Asterisk reported MWI for `mailbox` (AMI MessageWaiting: `mbox@ctx`). */
  localMwi(uniqueId: string, newMessages: number, oldMessages: number, tick: number): void {
    this.advance(tick);
    const [mailbox, context] = splitMailbox(uniqueId);
    const key = `${mailbox}@${context}`;
    if (this.consumeMwiEcho(key, newMessages, oldMessages)) {
      this.counters.echoSuppressed++;
      return;
    }
    const entry = this.mailboxes.get(key);
    if (entry !== undefined && entry.sender !== null && entry.newMessages === newMessages && entry.oldMessages === oldMessages) {
      // The remote value we hold, reported again (a re-read, or an echo whose record we
      // no longer have): not a local change.
      this.counters.echoSuppressed++;
      return;
    }
    if (entry === undefined && this.mailboxes.size >= this.limits.maxMailboxes) {
      this.counters.droppedOverLimit++;
      return;
    }
    this.mailboxes.set(key, { newMessages, oldMessages, eid: this.eid, sender: null, updatedTick: this.now });
    if (this.settings.publish.mwi) this.publishMwi(mailbox, context, newMessages, oldMessages);
  }

  /** A presence state of the local Asterisk changed (AMI PresenceStateChange). */
  localPresenceState(provider: string, value: PresenceValue, tick: number): void {
    this.advance(tick);
    if (inNamespace(this.presenceMap, provider)) {
      this.counters.echoSuppressed++;
      return;
    }
    const previous = this.localPresence.get(provider);
    if (previous !== undefined && samePresence(previous, value)) return;
    if (previous === undefined && this.localPresence.size + this.remotePresenceEntries >= this.limits.maxPresence) {
      this.counters.droppedOverLimit++;
      return;
    }
    this.localPresence.set(provider, value);
    if (this.settings.publish.presenceState) this.publishPresence(provider, value);
  }

  /**
   * The local Asterisk was (re)connected and read in full. Local changes missed while
   * disconnected are published; what we had written is compared with what the
   * Asterisk holds and written again where it differs or is missing (after an Asterisk
   * restart, or a crash of ours that left stale mapped states in astdb).
   */
  localSnapshot(snapshot: LocalSnapshot, tick: number): void {
    this.advance(tick);
    // What the Asterisk holds under our mapped names is what is injected now.
    this.injectedDevices.clear();
    const seen = new Set<string>();
    for (const { name, state } of snapshot.devices) {
      if (inNamespace(this.deviceMap, name)) {
        this.injectedDevices.set(name, state);
        continue;
      }
      seen.add(name);
      this.localDeviceState(name, state, tick);
    }
    // A local device the Asterisk no longer lists (it restarted, or an ARI DELETE that
    // emits no event) is gone: peers hear UNKNOWN, Asterisk's state for a forgotten device.
    for (const device of [...this.localDevices.keys()]) {
      if (seen.has(device)) continue;
      this.localDevices.delete(device);
      if (this.settings.publish.deviceState) this.publishDevice(device, DS.unknown);
    }
    // Write every remote aggregate again where it differs, and settle mapped names
    // nobody holds any more (stale astdb entries) per the purge policy.
    const mappedDevices = new Set<string>();
    for (const device of this.remoteDevices.keys()) mappedDevices.add(mapName(this.deviceMap, device));
    for (const device of this.remoteDevices.keys()) this.refreshDevice(device);
    for (const [name, state] of [...this.injectedDevices]) {
      if (mappedDevices.has(name)) continue;
      const device = name.slice(this.deviceMap.prefix.length, name.length - this.deviceMap.suffix.length);
      const target = this.purgedDeviceState();
      if (target !== null && state !== target) this.injectDevice(name, device, target);
    }

    if (snapshot.mailboxes !== null) {
      this.pendingMwiEchoes.clear();
      const listed = new Map<string, [number, number]>();
      for (const m of snapshot.mailboxes) {
        const [mailbox, context] = splitMailbox(m.mailbox);
        listed.set(`${mailbox}@${context}`, [m.newMessages, m.oldMessages]);
      }
      for (const [key, [newMessages, oldMessages]] of listed) {
        const entry = this.mailboxes.get(key);
        if (entry !== undefined && entry.sender !== null) continue; // remote: settled below
        if (entry === undefined || entry.newMessages !== newMessages || entry.oldMessages !== oldMessages) {
          this.localMwi(key, newMessages, oldMessages, tick);
        }
      }
      for (const [key, entry] of this.mailboxes) {
        if (entry.sender === null) continue;
        const held = listed.get(key);
        if (held === undefined || held[0] !== entry.newMessages || held[1] !== entry.oldMessages) {
          this.injectMwi(key, entry.newMessages, entry.oldMessages);
        }
      }
    } else {
      // Cannot read back: write every remote mailbox again (MWIUpdate is idempotent).
      this.pendingMwiEchoes.clear();
      for (const [key, entry] of this.mailboxes) {
        if (entry.sender !== null) this.injectMwi(key, entry.newMessages, entry.oldMessages);
      }
    }

    if (snapshot.presence !== null) {
      this.injectedPresence.clear();
      for (const p of snapshot.presence) {
        const value: PresenceValue = { state: p.state, subtype: p.subtype, message: p.message };
        if (inNamespace(this.presenceMap, p.provider)) this.injectedPresence.set(p.provider, value);
        else this.localPresenceState(p.provider, value, tick);
      }
    } else {
      this.injectedPresence.clear();
    }
    for (const provider of this.remotePresence.keys()) this.refreshPresence(provider);
  }

  /** A message of group `asterisk` was delivered (in agreed order). */
  cpgDeliver(sender: BridgeMember, payload: Uint8Array, tick: number): void {
    this.advance(tick);
    this.counters.received++;
    const decoded = decodeAstEvent(payload);
    if (!decoded.ok) {
      const code = decoded.error.code;
      if (code === 'AST_EVENT_MISSING_EID') this.counters.droppedMissingEid++;
      else if (code === 'AST_EVENT_UNKNOWN_TYPE') this.counters.droppedUnknownType++;
      else this.counters.droppedMalformed++;
      this.log('debug', `Dropped a malformed ast_event from node ${sender.nodeId} pid ${sender.pid}: ${decoded.error.message}`);
      return;
    }
    const event = decoded.value;
    if (this.eid !== null && event.eid === this.eid) {
      // Our own multicast delivered back, or a misconfigured peer sharing our EID.
      this.counters.droppedOwnEid++;
      if (this.self !== null && !sameMember(sender, this.self)) {
        this.log('warning', `Node ${sender.nodeId} pid ${sender.pid} sends with our EID ${event.eid}: every Asterisk needs its own entityid`);
      }
      return;
    }
    switch (event.kind) {
      case 'device-state':
        if (event.aggregate) {
          this.counters.droppedAggregate++;
          return;
        }
        this.counters.receivedDeviceState++;
        if (!this.settings.subscribe.deviceState) {
          this.counters.droppedUnsubscribed++;
          return;
        }
        this.remoteDevice(sender, event);
        return;
      case 'mwi':
        this.counters.receivedMwi++;
        if (!this.settings.subscribe.mwi) {
          this.counters.droppedUnsubscribed++;
          return;
        }
        this.remoteMwi(sender, event);
        return;
      case 'presence-state':
        this.counters.receivedPresence++;
        if (!this.settings.subscribe.presenceState) {
          this.counters.droppedUnsubscribed++;
          return;
        }
        this.remotePresenceState(sender, event);
        return;
      case 'ping':
        this.counters.receivedPing++;
        this.log('notice', `Got event PING from server with EID: '${event.eid}'`);
        return;
      case 'cluster-discovery':
        this.counters.receivedDiscovery++;
        this.discovery(sender, event);
        return;
    }
  }

  /** A configuration change of group `asterisk` (members after it; who joined and left). */
  cpgConfchg(members: readonly BridgeMember[], joined: readonly BridgeMember[], left: readonly BridgeMember[], tick: number): void {
    this.advance(tick);
    const wasJoined = this.joined;
    this.joined = this.self !== null && members.some((m) => sameMember(m, this.self as BridgeMember));

    // Left members first, as res_corosync does.
    for (const m of left) {
      if (this.self !== null && sameMember(m, this.self)) continue;
      const node = this.nodes.get(m.nodeId);
      if (node !== undefined && !members.some((x) => x.nodeId === m.nodeId)) {
        this.nodes.delete(m.nodeId);
        this.log('notice', `Node ${node.nodeId} (${node.eid}) at ${node.localAddr} left the cluster`);
      }
      const purge: PendingPurge = { sender: m, leftTick: this.now, dueTick: this.now + this.graceTicks };
      if (this.graceTicks === 0) this.purge(purge);
      else this.pendingPurges.push(purge);
    }

    if (!this.joined) return;
    if (!wasJoined) this.announce();
    if (joined.length > 0) this.dump();
  }

  /** Advance time: purges whose grace period ended. */
  tick(tick: number): void {
    this.advance(tick);
  }

  /**
   * The bridge stops: the local Asterisk will hear nothing more from the cluster, so
   * what we wrote for the others is settled per the purge policy now (res_corosync
   * likewise clears the other nodes' states when it unloads).
   */
  releaseRemote(tick: number): void {
    this.advance(tick);
    const senders = new Map<string, BridgeMember>();
    for (const byEid of this.remoteDevices.values()) for (const e of byEid.values()) senders.set(memberKey(e.sender), e.sender);
    for (const e of this.mailboxes.values()) if (e.sender !== null) senders.set(memberKey(e.sender), e.sender);
    for (const byEid of this.remotePresence.values()) for (const e of byEid.values()) senders.set(memberKey(e.sender), e.sender);
    for (const sender of senders.values()) this.purge({ sender, leftTick: Number.MAX_SAFE_INTEGER, dueTick: this.now });
  }

  /** `carillon ping`: a PING to every member; false when it cannot be sent now. */
  ping(tick: number): boolean {
    this.advance(tick);
    if (this.eid === null || !this.joined) return false;
    this.log('notice', `Sending event PING from this server with EID: '${this.eid}'`);
    this.mcast({ kind: 'ping', eid: this.eid });
    return true;
  }

  // ---------------------------------------------------------------------------------
  // Outputs and views

  takeEffects(): BridgeEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  stats(): Readonly<BridgeStats> {
    return { ...this.counters };
  }

  get localEid(): Eid | null {
    return this.eid;
  }

  get isJoined(): boolean {
    return this.joined;
  }

  view(): BridgeView {
    const names = new Set<string>([...this.localDevices.keys(), ...this.remoteDevices.keys()]);
    const devices: DeviceView[] = [...names].sort().map((device) => {
      const remote = [...(this.remoteDevices.get(device) ?? new Map<Eid, RemoteDeviceEntry>())].map(([eid, e]) => ({
        eid,
        nodeId: e.sender.nodeId,
        pid: e.sender.pid,
        state: e.state,
      }));
      remote.sort((a, b) => a.eid.localeCompare(b.eid));
      const local = this.localDevices.get(device) ?? null;
      const remoteAggregate = aggregateDeviceStates(remote.map((r) => r.state));
      const all = remote.map((r) => r.state);
      if (local !== null) all.push(local);
      const mappedName = mapName(this.deviceMap, device);
      return {
        device,
        local,
        remote,
        remoteAggregate,
        aggregate: aggregateDeviceStates(all),
        mappedName,
        injected: this.injectedDevices.get(mappedName) ?? null,
      };
    });
    const mailboxes = [...this.mailboxes].sort(([a], [b]) => a.localeCompare(b)).map(([mailbox, e]) => ({
      mailbox,
      newMessages: e.newMessages,
      oldMessages: e.oldMessages,
      eid: e.eid ?? this.eid,
      local: e.sender === null,
      nodeId: e.sender === null ? null : e.sender.nodeId,
    }));
    const providers = new Set<string>([...this.localPresence.keys(), ...this.remotePresence.keys()]);
    const presence = [...providers].sort().map((provider) => ({
      provider,
      local: this.localPresence.get(provider) ?? null,
      remote: [...(this.remotePresence.get(provider) ?? new Map<Eid, RemotePresenceEntry>()).values()].map((e) => ({
        state: e.state,
        subtype: e.subtype,
        message: e.message,
        eid: e.eid,
        nodeId: e.sender.nodeId,
      })),
    }));
    return {
      eid: this.eid,
      joined: this.joined,
      nodes: [...this.nodes.values()].sort((a, b) => a.nodeId - b.nodeId),
      devices,
      mailboxes,
      presence,
    };
  }

  /** The mapped (local) name of remote device `device`. */
  mappedDeviceName(device: string): string {
    return mapName(this.deviceMap, device);
  }

  /** The mapped (local) name of remote presence provider `provider`. */
  mappedPresenceName(provider: string): string {
    return mapName(this.presenceMap, provider);
  }

  // ---------------------------------------------------------------------------------
  // Remote input

  private remoteDevice(sender: BridgeMember, event: DeviceStateEvent): void {
    if (!event.cachable) {
      // Asterisk does not cache these: the last writer's state is the aggregate (§1.4).
      this.injectDevice(mapName(this.deviceMap, event.device), event.device, event.state);
      return;
    }
    let byEid = this.remoteDevices.get(event.device);
    const existing = byEid?.get(event.eid);
    if (existing === undefined && this.deviceCount() >= this.limits.maxDevices) {
      this.counters.droppedOverLimit++;
      this.log('warning', `Device ${event.device} from ${event.eid} not tracked: more than ${this.limits.maxDevices} device states`);
      return;
    }
    if (byEid === undefined) {
      byEid = new Map();
      this.remoteDevices.set(event.device, byEid);
    }
    if (existing === undefined) this.remoteDeviceEntries++;
    byEid.set(event.eid, { state: event.state, sender, updatedTick: this.now });
    this.refreshDevice(event.device);
  }

  private remoteMwi(sender: BridgeMember, event: MwiEvent): void {
    const key = `${event.mailbox}@${event.context}`;
    if (!this.mailboxes.has(key) && this.mailboxes.size >= this.limits.maxMailboxes) {
      this.counters.droppedOverLimit++;
      return;
    }
    this.mailboxes.set(key, { newMessages: event.newMessages, oldMessages: event.oldMessages, eid: event.eid, sender, updatedTick: this.now });
    this.injectMwi(key, event.newMessages, event.oldMessages);
  }

  private remotePresenceState(sender: BridgeMember, event: PresenceStateEvent): void {
    let byEid = this.remotePresence.get(event.provider);
    const existing = byEid?.get(event.eid);
    if (existing === undefined && this.localPresence.size + this.remotePresenceEntries >= this.limits.maxPresence) {
      this.counters.droppedOverLimit++;
      return;
    }
    if (byEid === undefined) {
      byEid = new Map();
      this.remotePresence.set(event.provider, byEid);
    }
    if (existing === undefined) this.remotePresenceEntries++;
    // Re-insert so that iteration order is write order: the last one is the last writer.
    byEid.delete(event.eid);
    byEid.set(event.eid, { state: event.state, subtype: event.subtype, message: event.message, eid: event.eid, sender, updatedTick: this.now });
    this.refreshPresence(event.provider);
  }

  private discovery(sender: BridgeMember, event: { nodeId: number; localAddr: string; eid: Eid }): void {
    if (event.nodeId !== sender.nodeId) {
      // res_corosync keys its node table by this id and purges by it: a lie would make
      // us purge the wrong node.
      this.counters.droppedDiscoveryMismatch++;
      this.log('warning', `Cluster discovery from node ${sender.nodeId} claims node id ${event.nodeId}; ignored`);
      return;
    }
    if (this.nodes.has(event.nodeId)) return;
    if (this.nodes.size >= this.limits.maxNodes) {
      this.counters.droppedOverLimit++;
      return;
    }
    this.nodes.set(event.nodeId, { nodeId: event.nodeId, eid: event.eid, localAddr: event.localAddr });
    this.log('notice', `Node ${event.nodeId} (${event.eid}) at ${event.localAddr} joined the cluster`);
    // Answer so that the newcomer learns about us too (res_corosync's handshake).
    this.announce();
  }

  // ---------------------------------------------------------------------------------
  // Purge

  private advance(tick: number): void {
    if (tick > this.now) this.now = tick;
    if (this.pendingPurges.length === 0) return;
    const due = this.pendingPurges.filter((p) => p.dueTick <= this.now);
    if (due.length === 0) return;
    this.pendingPurges = this.pendingPurges.filter((p) => p.dueTick > this.now);
    for (const p of due) this.purge(p);
  }

  /** Forget what `p.sender` wrote up to `p.leftTick` (later writes came after a rejoin). */
  private purge(p: PendingPurge): void {
    let devices = 0;
    for (const [device, byEid] of [...this.remoteDevices]) {
      let changed = false;
      for (const [eid, entry] of [...byEid]) {
        if (!sameMember(entry.sender, p.sender) || entry.updatedTick > p.leftTick) continue;
        byEid.delete(eid);
        this.remoteDeviceEntries--;
        devices++;
        changed = true;
      }
      if (!changed) continue;
      if (byEid.size === 0) this.remoteDevices.delete(device);
      this.refreshDevice(device);
    }
    let mailboxes = 0;
    for (const [key, entry] of [...this.mailboxes]) {
      if (entry.sender === null || !sameMember(entry.sender, p.sender) || entry.updatedTick > p.leftTick) continue;
      mailboxes++;
      if (this.settings.mwiPurge === 'zero') {
        this.mailboxes.set(key, { ...entry, newMessages: 0, oldMessages: 0 });
        this.injectMwi(key, 0, 0);
      }
    }
    let presence = 0;
    for (const [provider, byEid] of [...this.remotePresence]) {
      let changed = false;
      for (const [eid, entry] of [...byEid]) {
        if (!sameMember(entry.sender, p.sender) || entry.updatedTick > p.leftTick) continue;
        byEid.delete(eid);
        this.remotePresenceEntries--;
        presence++;
        changed = true;
      }
      if (!changed) continue;
      if (byEid.size === 0) this.remotePresence.delete(provider);
      this.refreshPresence(provider);
    }
    this.counters.purgedDeviceStates += devices;
    this.counters.purgedMailboxes += this.settings.mwiPurge === 'zero' ? mailboxes : 0;
    this.counters.purgedPresence += presence;
    if (devices + mailboxes + presence > 0) {
      this.log(
        'notice',
        `Cleared ${devices} device states, ${this.settings.mwiPurge === 'zero' ? mailboxes : 0} mailboxes and ${presence} presence states of node ${p.sender.nodeId} (pid ${p.sender.pid})`,
      );
    }
  }

  /** The state written for a device no live origin holds; null = leave it (policy keep). */
  private purgedDeviceState(): DeviceState | null {
    switch (this.settings.devicePurge) {
      case 'unavailable':
        return DS.unavailable;
      case 'not_inuse':
        return DS.notInuse;
      case 'keep':
        return null;
    }
  }

  // ---------------------------------------------------------------------------------
  // Writing to the local Asterisk

  /** Write the remote aggregate of `device` if it differs from what is written. */
  private refreshDevice(device: string): void {
    const name = mapName(this.deviceMap, device);
    const byEid = this.remoteDevices.get(device);
    let target: DeviceState | null;
    if (byEid === undefined || byEid.size === 0) target = this.purgedDeviceState();
    else target = aggregateDeviceStates([...byEid.values()].map((e) => e.state));
    if (target === null) return;
    if (this.injectedDevices.get(name) === target) return;
    this.injectDevice(name, device, target);
  }

  private injectDevice(name: string, device: string, state: DeviceState): void {
    // Asterisk refuses to set UNKNOWN on a Custom: device; INVALID is what an aggregate
    // with no entries is, and writing it would be a lie: settle for the purge policy.
    if (state === DS.unknown || state === DS.invalid) {
      const fallback = this.purgedDeviceState();
      if (fallback === null || this.injectedDevices.get(name) === fallback) return;
      state = fallback;
    }
    this.injectedDevices.set(name, state);
    this.counters.injectedDeviceState++;
    this.effects.push({ kind: 'set-device-state', name, device, state });
  }

  private injectMwi(key: string, newMessages: number, oldMessages: number): void {
    let pending = this.pendingMwiEchoes.get(key);
    if (pending === undefined) {
      pending = [];
      this.pendingMwiEchoes.set(key, pending);
    }
    pending.push([newMessages, oldMessages]);
    if (pending.length > this.limits.maxPendingEchoes) pending.shift();
    this.counters.injectedMwi++;
    this.effects.push({ kind: 'set-mwi', mailbox: key, newMessages, oldMessages });
  }

  /** True (and the record consumed) when (new, old) is an echo of a write of ours. */
  private consumeMwiEcho(key: string, newMessages: number, oldMessages: number): boolean {
    const pending = this.pendingMwiEchoes.get(key);
    if (pending === undefined) return false;
    const at = pending.findIndex(([n, o]) => n === newMessages && o === oldMessages);
    if (at < 0) return false;
    // Echoes come back in write order: earlier writes whose echo was lost are dropped too.
    pending.splice(0, at + 1);
    if (pending.length === 0) this.pendingMwiEchoes.delete(key);
    return true;
  }

  private refreshPresence(provider: string): void {
    const name = mapName(this.presenceMap, provider);
    const byEid = this.remotePresence.get(provider);
    let target: PresenceValue | null = null;
    if (byEid !== undefined && byEid.size > 0) {
      for (const e of byEid.values()) target = { state: e.state, subtype: e.subtype, message: e.message };
    } else {
      switch (this.settings.devicePurge) {
        case 'unavailable':
          target = { state: PS.unavailable, subtype: '', message: '' };
          break;
        case 'not_inuse':
          target = { state: PS.notSet, subtype: '', message: '' };
          break;
        case 'keep':
          target = null;
      }
    }
    if (target === null) return;
    const current = this.injectedPresence.get(name);
    if (current !== undefined && samePresence(current, target)) return;
    this.injectedPresence.set(name, target);
    this.counters.injectedPresence++;
    this.effects.push({ kind: 'set-presence', name, provider, ...target });
  }

  // ---------------------------------------------------------------------------------
  // Publishing

  /** Cluster discovery: who we are (res_corosync sends it at start and to newcomers). */
  private announce(): void {
    if (this.eid === null || !this.joined) return;
    this.mcast({ kind: 'cluster-discovery', nodeId: this.localNodeId, localAddr: this.localAddr, eid: this.eid });
  }

  /** The join dump: our own state, again, to everyone. */
  private dump(): void {
    if (this.eid === null) return;
    this.counters.dumps++;
    if (this.settings.publish.deviceState && this.localDevices.size > 0) {
      this.log('debug', `Sending ${this.localDevices.size} events of type device_state to corosync.`);
      for (const [device, state] of this.localDevices) this.publishDevice(device, state);
    }
    if (this.settings.publish.mwi) {
      let n = 0;
      for (const [key, e] of this.mailboxes) {
        if (e.sender !== null) continue;
        const [mailbox, context] = splitMailbox(key);
        this.publishMwi(mailbox, context, e.newMessages, e.oldMessages);
        n++;
      }
      if (n > 0) this.log('debug', `Sent ${n} events of type mwi to corosync.`);
    }
    if (this.settings.publish.presenceState) {
      for (const [provider, value] of this.localPresence) this.publishPresence(provider, value);
    }
  }

  private publishDevice(device: string, state: DeviceState): void {
    if (this.eid === null || !this.joined) return;
    this.counters.publishedDeviceState++;
    this.mcast({ kind: 'device-state', aggregate: false, device, state, cachable: true, eid: this.eid });
  }

  private publishMwi(mailbox: string, context: string, newMessages: number, oldMessages: number): void {
    if (this.eid === null || !this.joined) return;
    this.counters.publishedMwi++;
    this.mcast({ kind: 'mwi', mailbox, context, newMessages, oldMessages, eid: this.eid });
  }

  private publishPresence(provider: string, value: PresenceValue): void {
    if (this.eid === null || !this.joined) return;
    this.counters.publishedPresence++;
    this.mcast({ kind: 'presence-state', provider, state: value.state, subtype: value.subtype, message: value.message, eid: this.eid });
  }

  private mcast(event: AstEvent): void {
    let payload: Uint8Array;
    try {
      payload = encodeAstEvent(event);
    } catch (e) {
      // Names and counts come from the local Asterisk over AMI/ARI: ones that cannot
      // travel (NUL, too long, not u32) are its input errors, not ours, so they are
      // counted and skipped like bad packets.
      if (!(e instanceof AstEventEncodeError)) throw e;
      this.counters.droppedLocalInvalid++;
      this.log('warning', `Not published: ${e.message}`);
      return;
    }
    this.counters.published++;
    this.effects.push({ kind: 'mcast', payload, event });
  }

  private log(level: BridgeLogLevel, message: string): void {
    this.effects.push({ kind: 'log', level, message });
  }

  private deviceCount(): number {
    return this.localDevices.size + this.remoteDeviceEntries;
  }
}
