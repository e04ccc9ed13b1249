// What the bridge is configured to do: res_corosync.conf's [general] publish_event /
// subscribe_event (res-corosync.md §1.7) plus Carillon's own sections ([ami], [ari],
// [bridge]) that res_corosync ignores with a warning. src/asterisk/bridge-config.ts
// loads a file into these settings; the pure bridge core and the runtime consume them.

import type { Eid } from './events';

/** Event types a res_corosync.conf may name; ping and cluster_discovery are always on. */
export const bridgeEventTypes = ['mwi', 'device_state', 'presence_state', 'ping', 'cluster_discovery'] as const;
export type BridgeEventTypeName = (typeof bridgeEventTypes)[number];

/** The types that can be switched on (res_corosync: mwi, device_state; Carillon: presence_state). */
export interface BridgeDirections {
  readonly mwi: boolean;
  readonly deviceState: boolean;
  readonly presenceState: boolean;
}

/** What to write for a remote device once no live origin holds a state for it. */
export const DevicePurgePolicy = {
  /** Write UNAVAILABLE (hints show Unavailable): the default. */
  unavailable: 'unavailable',
  /** Write NOT_INUSE (hints show Idle). */
  notInuse: 'not_inuse',
  /** Leave the last state in place (res_corosync 13's behaviour). */
  keep: 'keep',
} as const;
export type DevicePurgePolicy = (typeof DevicePurgePolicy)[keyof typeof DevicePurgePolicy];

/** What to do with a departed node's mailboxes (res_corosync keeps them). */
export const MwiPurgePolicy = {
  keep: 'keep',
  /** Write 0 new / 0 old. */
  zero: 'zero',
} as const;
export type MwiPurgePolicy = (typeof MwiPurgePolicy)[keyof typeof MwiPurgePolicy];

/** How remote MWI reaches the local Asterisk. */
export const MwiInjection = {
  /** AMI MWIUpdate (res_mwi_external_ami). */
  ami: 'ami',
  /** ARI PUT /mailboxes/{name} (res_ari_mailboxes). */
  ari: 'ari',
} as const;
export type MwiInjection = (typeof MwiInjection)[keyof typeof MwiInjection];

export interface AmiSettings {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly secret: string;
  readonly connectTimeoutMs: number;
  readonly actionTimeoutMs: number;
  /** An AMI Ping after this much silence; 0 = never. */
  readonly keepaliveMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
}

export interface AriSettings {
  /** Base URL including /ari, e.g. http://127.0.0.1:8088/ari */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The Stasis application name of the event websocket. */
  readonly app: string;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
}

export interface BridgeSettings {
  readonly publish: BridgeDirections;
  readonly subscribe: BridgeDirections;
  /** The EID to send with; null = read the local Asterisk's (ARI /asterisk/info, else AMI). */
  readonly eid: Eid | null;
  /**
   * Name under which a remote device's aggregated state is written locally; `%s` is the
   * remote device name. Must start with `Custom:` (the only writable device family over AMI).
   */
  readonly remoteDeviceFormat: string;
  /** Same for presence; must start with `CustomPresence:`. */
  readonly remotePresenceFormat: string;
  /** Local devices matching one of these are never published (default: ^MWI: from res_mwi_devstate). */
  readonly publishDeviceExclude: readonly RegExp[];
  readonly devicePurge: DevicePurgePolicy;
  readonly mwiPurge: MwiPurgePolicy;
  /** Wait this long after a node leaves before purging what it had not re-sent. */
  readonly purgeGraceMs: number;
  readonly mwiInjection: MwiInjection;
  /** null = no AMI connection (the bridge then only relays between cluster members' peers). */
  readonly ami: AmiSettings | null;
  readonly ari: AriSettings | null;
}

export const DEFAULT_REMOTE_DEVICE_FORMAT = 'Custom:remote:%s';
export const DEFAULT_REMOTE_PRESENCE_FORMAT = 'CustomPresence:remote:%s';

export const DEFAULT_AMI_SETTINGS: Omit<AmiSettings, 'username' | 'secret'> = {
  host: '127.0.0.1',
  port: 5038,
  connectTimeoutMs: 5000,
  actionTimeoutMs: 10_000,
  keepaliveMs: 15_000,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
};

export const DEFAULT_ARI_SETTINGS: Omit<AriSettings, 'username' | 'password'> = {
  url: 'http://127.0.0.1:8088/ari',
  app: 'carillon',
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
};

/** The settings of an empty [general]: only ping and cluster_discovery, no Asterisk link. */
export function defaultBridgeSettings(): BridgeSettings {
  const off: BridgeDirections = { mwi: false, deviceState: false, presenceState: false };
  return {
    publish: off,
    subscribe: off,
    eid: null,
    remoteDeviceFormat: DEFAULT_REMOTE_DEVICE_FORMAT,
    remotePresenceFormat: DEFAULT_REMOTE_PRESENCE_FORMAT,
    publishDeviceExclude: [/^MWI:/],
    devicePurge: DevicePurgePolicy.unavailable,
    mwiPurge: MwiPurgePolicy.keep,
    purgeGraceMs: 0,
    mwiInjection: MwiInjection.ami,
    ami: null,
    ari: null,
  };
}
