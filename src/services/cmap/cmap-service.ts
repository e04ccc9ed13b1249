// The cmap service (id 0), after corosync 3.1.7's exec/cmap.c, plus the runtime.members.*
// bookkeeping corosync does in exec/main.c (member_object_joined / member_object_left)
// and the read-only marks of main.c's set_icmap_ro_keys_flag.
//
// Cluster behaviour (corosync-wire.md §9.2, §7.4):
// - sync init: remember our totem.config_version (UINT64, else 0) as "mine" and as the
//   highest received;
// - sync process: multicast one cmap MCAST, reason SYNC, with the item
//   totem.config_version exactly as our store holds it (NOT_EXIST, type 0 / length 0,
//   when absent; otherwise its stored type and bytes, so UINT64 0 goes out as UINT64);
// - delivery (SYNC and NEW_CONFIG_VERSION alike): store
//   runtime.members.<sender>.config_version (u64); a higher version from another node
//   raises the highest received;
// - sync activate: on the first sync whose transitional list is non-empty, when our
//   version is non-zero and the highest received differs, corosync logs an error and
//   shuts down. We never shut down: we log the same error, record it in status() and set
//   runtime.carillon.config_version_mismatch;
// - any local change of totem.config_version multicasts reason NEW_CONFIG_VERSION (if the
//   send queue is full, we retry on the next tick; corosync would only log an error).
//
// Membership: every left node gets runtime.members.<id>.status = "left"; every joined
// node gets status "joined" and join_count + 1, or, on its first join, ip (the text the
// shell gave setMemberAddress, else corosync's "no interface found for nodeid") and
// join_count = 1.

import type { RingId } from '../../totem/wire/messages';
import { ServiceId, serviceRetryTicks, type ServiceApi, type ServiceConfChange, type Service, type SyncHooks } from '../service-api';
import {
  CMAP_CONFIG_VERSION_KEY,
  CMAP_MCAST_FN,
  CmapMcastReason,
  type CmapMcastReasonCode,
  cmapMcastConfigVersion,
  cmapMcastItem,
  decodeCmapMcast,
  encodeCmapMcastPieces,
} from './cmap-messages';
import { CmapError, CmapErrorCode, CmapStore, type CmapTrackHandle, type CmapValue, type CmapValueType } from './cmap-store';

export const CMAP_SERVICE_NAME = 'corosync configuration map access';
/** What corosync's totempg_ifaces_print returns for a node without a known interface. */
export const CMAP_NO_INTERFACE_TEXT = 'no interface found for nodeid';
/** Set (str) when corosync would have shut down over a config version mismatch. */
export const CMAP_CONFIG_VERSION_MISMATCH_KEY = 'runtime.carillon.config_version_mismatch';

/** Prefixes main.c marks read-only for clients, plus the stats map (read-only in corosync) and our own. */
export const CMAP_READ_ONLY_PREFIXES: readonly string[] = [
  'internal_configuration.',
  'runtime.services.',
  'runtime.config.',
  'runtime.totem.',
  'uidgid.config.',
  'system.',
  'nodelist.',
  'stats.',
  'runtime.carillon.',
];

/** Keys main.c marks read-only for clients. */
export const CMAP_READ_ONLY_KEYS: readonly string[] = [
  'totem.crypto_cipher',
  'totem.crypto_hash',
  'totem.crypto_model',
  'totem.keyfile',
  'totem.key',
  'totem.secauth',
  'totem.ip_version',
  'totem.rrp_mode',
  'totem.transport',
  'totem.cluster_name',
  'totem.netmtu',
  'totem.threads',
  'totem.version',
  'totem.nodeid',
  'totem.clear_node_high_bit',
  'config.reload_in_progress',
  'config.totemconfig_reload_in_progress',
];

const srpStatTypes: Readonly<Record<string, CmapValueType>> = {
  continuous_gather: 'uint32',
  continuous_sendmsg_failures: 'uint32',
  firewall_enabled_or_nic_failure: 'uint8',
  mtt_rx_token: 'uint32',
  avg_token_workload: 'uint32',
  avg_backlog_calc: 'uint32',
};

/**
 * The type exec/stats.c gives a stats key: stats.pg.* u32, stats.srp.* u64 but for the
 * few u32 / u8 ones, stats.ipcs.global.* u64, stats.schedmiss.N.timestamp u64 / .delay flt.
 */
export function cmapStatsKeyType(key: string): CmapValueType | undefined {
  if (key === 'stats.pg.msg_queue_avail' || key === 'stats.pg.msg_reserved') return 'uint32';
  if (key.startsWith('stats.srp.')) return srpStatTypes[key.slice('stats.srp.'.length)] ?? 'uint64';
  if (key === 'stats.ipcs.global.active' || key === 'stats.ipcs.global.closed') return 'uint64';
  const schedmiss = /^stats\.schedmiss\.\d+\.(timestamp|delay)$/.exec(key);
  if (schedmiss !== null) return schedmiss[1] === 'delay' ? 'float' : 'uint64';
  return undefined;
}

export interface CmapServiceOptions {
  /** The store to serve (default: a new one). */
  readonly store?: CmapStore;
  /**
   * Configuration loaded before the service tracks totem.config_version, as corosync
   * loads its config before cmap's exec_init: loading it multicasts nothing.
   */
  readonly config?: ReadonlyArray<readonly [string, CmapValue]>;
}

export interface CmapConfigVersionMismatch {
  readonly received: bigint;
  readonly local: bigint;
  readonly ringId: RingId;
}

export interface CmapServiceCounters {
  mcastSent: number;
  /** Sends refused because the send queue was full (retried). */
  mcastFull: number;
  delivered: number;
  decodeErrors: number;
  unknownFunctions: number;
  unknownReasons: number;
  storeErrors: number;
}

export interface CmapServiceStatus {
  readonly localConfigVersion: bigint;
  readonly highestConfigVersionReceived: bigint;
  /** True until the first sync with a non-empty transitional list has activated. */
  readonly firstSync: boolean;
  readonly syncing: boolean;
  readonly mismatch: CmapConfigVersionMismatch | null;
  readonly newConfigVersionPending: boolean;
  readonly counters: Readonly<CmapServiceCounters>;
}

export class CmapService implements Service {
  readonly id = ServiceId.cmap;
  readonly name = CMAP_SERVICE_NAME;
  readonly sync: SyncHooks;
  readonly store: CmapStore;

  private readonly api: ServiceApi;
  private readonly addresses = new Map<number, string>();
  private readonly configVersionTrack: CmapTrackHandle;
  private transEntries = 0;
  private myConfigVersion = 0n;
  private highestReceived = 0n;
  private firstSync = true;
  private syncing = false;
  private syncRing: RingId = { rep: 0, seq: 0n };
  private mismatch: CmapConfigVersionMismatch | null = null;
  private newConfigVersionPending = false;
  private readonly counters: CmapServiceCounters = {
    mcastSent: 0,
    mcastFull: 0,
    delivered: 0,
    decodeErrors: 0,
    unknownFunctions: 0,
    unknownReasons: 0,
    storeErrors: 0,
  };

  constructor(api: ServiceApi, options: CmapServiceOptions = {}) {
    this.api = api;
    this.store = options.store ?? new CmapStore();
    for (const prefix of CMAP_READ_ONLY_PREFIXES) this.store.setReadOnly(prefix, true);
    for (const key of CMAP_READ_ONLY_KEYS) this.store.setReadOnly(key, false);
    for (const { key, error } of this.setEntries(options.config ?? [])) {
      this.api.log('error', `cmap: cannot load ${key}: ${error.message}`, { code: error.code });
    }
    this.myConfigVersion = this.readConfigVersion();
    this.configVersionTrack = this.store.track(CMAP_CONFIG_VERSION_KEY, { add: true, modify: true, delete: true }, () => {
      this.myConfigVersion = this.readConfigVersion();
      this.newConfigVersionPending = true;
      this.sendNewConfigVersion();
    });
    this.sync = {
      init: (transMembers, members, ringId) => this.syncInit(transMembers, members, ringId),
      process: () => this.syncProcess(),
      activate: () => this.syncActivate(),
      abort: () => {
        this.syncing = false;
      },
    };
  }

  /** Stops tracking totem.config_version (cmap_exec_exit_fn). */
  close(): void {
    this.configVersionTrack.stop();
  }

  status(): CmapServiceStatus {
    return {
      localConfigVersion: this.myConfigVersion,
      highestConfigVersionReceived: this.highestReceived,
      firstSync: this.firstSync,
      syncing: this.syncing,
      mismatch: this.mismatch,
      newConfigVersionPending: this.newConfigVersionPending,
      counters: { ...this.counters },
    };
  }

  deliver(fn: number, sender: number, message: Uint8Array): void {
    if (fn !== CMAP_MCAST_FN) {
      this.counters.unknownFunctions += 1;
      this.api.log('warning', `cmap: ignoring exec message with unknown function ${fn} from node ${sender}`);
      return;
    }
    const decoded = decodeCmapMcast(message);
    if (!decoded.ok) {
      this.counters.decodeErrors += 1;
      this.api.log('warning', `cmap: ignoring malformed MCAST from node ${sender}: ${decoded.error.message}`, { code: decoded.error.code });
      return;
    }
    const m = decoded.value;
    if (m.reason !== CmapMcastReason.sync && m.reason !== CmapMcastReason.newConfigVersion) {
      this.counters.unknownReasons += 1;
      this.api.log('debug', `cmap: received mcast with unknown reason ${m.reason} from node ${sender}`);
      return;
    }
    this.counters.delivered += 1;
    const configVersion = cmapMcastConfigVersion(m);
    this.api.log('trace', `cmap: received config version ${configVersion} from node ${sender}`);
    if (sender !== this.api.localNodeId && configVersion > this.highestReceived) this.highestReceived = configVersion;
    this.setInternal(`runtime.members.${sender >>> 0}.config_version`, { type: 'uint64', value: configVersion });
  }

  confchg(change: ServiceConfChange): void {
    for (const nodeid of change.left) this.memberLeft(nodeid);
    for (const nodeid of change.joined) this.memberJoined(nodeid);
  }

  tick(): void {
    if (this.newConfigVersionPending) this.sendNewConfigVersion();
  }

  ticksToNextTimer(): number | null {
    return this.newConfigVersionPending ? serviceRetryTicks(this.api.tickMs) : null;
  }

  /**
   * The interface text of a node as corosync prints it (e.g. `r(0) ip(10.0.0.1) `), used
   * for runtime.members.<id>.ip on the node's first join; updates the key if it exists.
   */
  setMemberAddress(nodeid: number, text: string): void {
    this.addresses.set(nodeid >>> 0, text);
    const key = `runtime.members.${nodeid >>> 0}.ip`;
    if (this.store.has(key)) this.setInternal(key, { type: 'string', value: text });
  }

  /**
   * Bulk load of configuration keys (totem.*, nodelist.*, quorum.*, logging.*, …) as an
   * internal writer: read-only marks do not apply. A change of totem.config_version
   * multicasts NEW_CONFIG_VERSION. Returns the entries that were refused.
   */
  setConfigKeys(entries: ReadonlyArray<readonly [string, CmapValue]>): Array<{ key: string; error: CmapError }> {
    const problems = this.setEntries(entries);
    this.counters.storeErrors += problems.length;
    return problems;
  }

  /**
   * Publishes runtime statistics under `prefix` (e.g. 'stats.srp'): each name becomes
   * `<prefix>.<name>` with the type exec/stats.c uses for it, else the key's current
   * type, else u64 for non-negative integers, i64 for negative ones and double for
   * fractions. An unchanged value notifies no track. Returns the entries that were refused.
   */
  setRuntimeStats(prefix: string, stats: Readonly<Record<string, number | bigint>>): Array<{ key: string; error: CmapError }> {
    const base = prefix === '' || prefix.endsWith('.') ? prefix : `${prefix}.`;
    const entries: Array<[string, CmapValue]> = [];
    const problems: Array<{ key: string; error: CmapError }> = [];
    for (const [name, raw] of Object.entries(stats)) {
      const key = base + name;
      const type = cmapStatsKeyType(key) ?? this.store.get(key)?.type ?? defaultStatType(raw);
      const value = statValue(type, raw);
      if (value === undefined) {
        problems.push({ key, error: new CmapError(CmapErrorCode.type, `${key}: ${String(raw)} cannot be stored as ${type}`, key) });
        continue;
      }
      entries.push([key, value]);
    }
    problems.push(...this.setEntries(entries));
    this.counters.storeErrors += problems.length;
    return problems;
  }

  // -------------------------------------------------------------------------------------

  private syncInit(transMembers: readonly number[], _members: readonly number[], ringId: RingId): void {
    this.transEntries = transMembers.length;
    this.myConfigVersion = this.readConfigVersion();
    this.highestReceived = this.myConfigVersion;
    this.syncRing = ringId;
    this.syncing = true;
  }

  private syncProcess(): 'done' | 'again' {
    return this.send(CmapMcastReason.sync) ? 'done' : 'again';
  }

  private syncActivate(): void {
    this.syncing = false;
    if (this.transEntries === 0) {
      this.api.log('debug', 'cmap: Single node sync -> no action');
      return;
    }
    if (!this.firstSync) {
      this.api.log('debug', 'cmap: Not first sync -> no action');
      return;
    }
    this.firstSync = false;
    if (this.myConfigVersion === 0n) {
      this.api.log('debug', 'cmap: My config version is 0 -> no action');
      return;
    }
    if (this.highestReceived !== this.myConfigVersion) {
      this.mismatch = { received: this.highestReceived, local: this.myConfigVersion, ringId: this.syncRing };
      this.api.log(
        'error',
        `cmap: Received config version (${this.highestReceived}) is different than my config version (${this.myConfigVersion})! ` +
          'corosync would exit here; this node keeps running',
        { received: this.highestReceived.toString(), local: this.myConfigVersion.toString() },
      );
      this.setInternal(CMAP_CONFIG_VERSION_MISMATCH_KEY, {
        type: 'string',
        value: `received ${this.highestReceived}, local ${this.myConfigVersion}`,
      });
    }
  }

  private sendNewConfigVersion(): void {
    if (this.send(CmapMcastReason.newConfigVersion)) this.newConfigVersionPending = false;
    else this.api.log('warning', 'cmap: cannot inform other nodes about the new config version yet (send queue full); retrying');
  }

  /** cmap_mcast_send with the one key corosync sends; false when the queue was full. */
  private send(reason: CmapMcastReasonCode): boolean {
    const pieces = encodeCmapMcastPieces({
      reason,
      items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, this.store.get(CMAP_CONFIG_VERSION_KEY))],
    });
    if (this.api.mcast(pieces) === 'full') {
      this.counters.mcastFull += 1;
      return false;
    }
    this.counters.mcastSent += 1;
    return true;
  }

  /** icmap_get_uint64("totem.config_version"), 0 when absent or of another type. */
  private readConfigVersion(): bigint {
    const v = this.store.get(CMAP_CONFIG_VERSION_KEY);
    return v?.type === 'uint64' ? v.value : 0n;
  }

  private memberJoined(nodeid: number): void {
    const id = nodeid >>> 0;
    const ipKey = `runtime.members.${id}.ip`;
    const countKey = `runtime.members.${id}.join_count`;
    if (this.store.has(ipKey)) {
      const adjusted = this.store.adjust(countKey, 1);
      if (!adjusted.ok) this.storeError(countKey, adjusted.error);
    } else {
      this.setInternal(ipKey, { type: 'string', value: this.addresses.get(id) ?? CMAP_NO_INTERFACE_TEXT });
      this.setInternal(countKey, { type: 'uint32', value: 1 });
    }
    this.setInternal(`runtime.members.${id}.status`, { type: 'string', value: 'joined' });
    this.api.log('debug', `cmap: Member joined: ${this.addresses.get(id) ?? CMAP_NO_INTERFACE_TEXT}`, { nodeid: id });
  }

  private memberLeft(nodeid: number): void {
    const id = nodeid >>> 0;
    this.setInternal(`runtime.members.${id}.status`, { type: 'string', value: 'left' });
    this.api.log('debug', `cmap: Member left: ${this.addresses.get(id) ?? CMAP_NO_INTERFACE_TEXT}`, { nodeid: id });
  }

  private setEntries(entries: ReadonlyArray<readonly [string, CmapValue]>): Array<{ key: string; error: CmapError }> {
    const problems: Array<{ key: string; error: CmapError }> = [];
    for (const [key, value] of entries) {
      const r = this.store.set(key, value);
      if (!r.ok) problems.push({ key, error: r.error });
    }
    return problems;
  }

  private setInternal(key: string, value: CmapValue): void {
    const r = this.store.set(key, value);
    if (!r.ok) this.storeError(key, r.error);
  }

  private storeError(key: string, error: CmapError): void {
    this.counters.storeErrors += 1;
    this.api.log('error', `cmap: cannot set ${key}: ${error.message}`, { code: error.code });
  }
}

function defaultStatType(raw: number | bigint): CmapValueType {
  if (typeof raw === 'bigint') return raw < 0n ? 'int64' : 'uint64';
  if (!Number.isInteger(raw)) return 'double';
  return raw < 0 ? 'int64' : 'uint64';
}

/** `raw` converted to `type`'s JS representation, undefined when it cannot be (fractional 64-bit). */
function statValue(type: CmapValueType, raw: number | bigint): CmapValue | undefined {
  switch (type) {
    case 'int64':
    case 'uint64':
      if (typeof raw === 'bigint') return { type, value: raw };
      return Number.isInteger(raw) ? { type, value: BigInt(raw) } : undefined;
    case 'string':
    case 'binary':
      return undefined;
    default:
      return { type, value: Number(raw) };
  }
}
