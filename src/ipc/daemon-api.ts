// What carillond exposes to its IPC server (architecture.md §2.8): the runtime
// implements DaemonApi, src/runtime/ipc-server.ts serves it over the unix socket with
// the protocol of src/ipc/protocol.ts, and the CLI reads the same shapes back. Values
// are JSON-ready (u64 ring seqs as decimal strings, payloads as hex) so the server
// passes them through without a conversion layer.

export interface NodeEntry {
  nodeId: number;
  name: string | null;
  addresses: string[];
}

export interface DaemonStatus {
  nodeId: number;
  clusterName: string;
  transport: 'udpu' | 'udp';
  crypto: boolean;
  ringId: { rep: number; seq: string /* u64 as decimal string */ };
  state: 'operational' | 'gather' | 'commit' | 'recovery';
  /** Current ring members. */
  members: NodeEntry[];
  nodelist: Array<NodeEntry & { status: 'localhost' | 'connected' | 'disconnected' }>;
  /** The quorum service's verdict; null when the daemon runs without services. */
  quorate: boolean | null;
  /**
   * Whether the service sync protocol is running (from every configuration change until
   * every service has synchronised). Absent when the daemon runs without services.
   */
  syncing?: boolean;
  uptimeSec: number;
  version: string;
  /** Totem and transport counters. */
  stats: Record<string, number>;
}

export type TotemEventJson =
  | { kind: 'deliver'; ringId: { rep: number; seq: string }; seq: number; sender: number; payloadHex: string }
  | {
      kind: 'confchg';
      type: 'transitional' | 'regular';
      ringId: { rep: number; seq: string };
      members: number[];
      left: number[];
      joined: number[];
    };

export interface DaemonApi {
  status(): DaemonStatus;
  /** Test hook: submit a raw Totem payload (bytes) as this node; 'full' = backpressure. */
  totemSubmit(payload: Uint8Array): 'queued' | 'full';
  /**
   * Subscribe to Totem deliveries and configuration changes; returns an unsubscribe
   * function. A daemon with services leaves their traffic (totempg packets) out.
   */
  subscribeTotem(listener: (event: TotemEventJson) => void): () => void;
  /** SIGHUP equivalent. */
  reload(): Promise<{ reloaded: string[]; needsRestart: string[] }>;
  /** cpg, quorum and cmap; absent: the service methods answer IPC_UNAVAILABLE. */
  readonly services?: DaemonServicesApi;
  /** The Asterisk bridge; absent: bridge.* answer IPC_UNAVAILABLE. */
  readonly bridge?: DaemonBridgeApi;
  /** The availability manager (amf.*, sam.*); absent: they answer IPC_UNAVAILABLE. */
  readonly amf?: DaemonAmfApi;
}

// -------------------------------------------------------------------------------------
// Services (cpg, quorum/votequorum, cmap): the JSON shapes the IPC protocol carries and
// the in-process API the runtime implements (src/runtime/daemon-services.ts). Group names
// are UTF-8 text; payloads and binary cmap values are lower-case hex; 64-bit integers
// (u64 ring seqs, int64/uint64 cmap values) are decimal strings.

export interface RingIdJson {
  rep: number;
  seq: string /* u64 as decimal string */;
}

export interface CpgMemberJson {
  nodeId: number;
  pid: number;
}

/** CPG_REASON_* as text: 1 join, 2 leave, 3 nodedown, 4 nodeup, 5 procdown (0 undefined). */
export type CpgReasonName = 'undefined' | 'join' | 'leave' | 'nodedown' | 'nodeup' | 'procdown';

export const cpgReasonNames: readonly CpgReasonName[] = ['undefined', 'join', 'leave', 'nodedown', 'nodeup', 'procdown'];

export interface CpgMemberChangeJson extends CpgMemberJson {
  /** The CPG_REASON_* number as corosync sends it. */
  reason: number;
  reasonName: CpgReasonName;
}

export interface CpgGroupJson {
  group: string;
  members: CpgMemberJson[];
}

/** Results of join / leave / mcast, verbatim from the CPG service (see cpg-service.ts). */
export type CpgJoinResultName = 'queued' | 'full' | 'try-again' | 'exists' | 'busy' | 'bad-name' | 'too-many' | 'finalized';
export type CpgLeaveResultName = 'queued' | 'full' | 'try-again' | 'not-joined' | 'busy' | 'finalized';
export type CpgMcastResultName = 'queued' | 'full' | 'try-again' | 'not-joined' | 'too-large';

/** One event of one CPG handle, as pushed on topic 'cpg' (`handle` added by the server). */
export type CpgHandleEventJson =
  | { event: 'deliver'; group: string; nodeId: number; pid: number; payloadHex: string }
  | { event: 'confchg'; group: string; members: CpgMemberJson[]; joined: CpgMemberChangeJson[]; left: CpgMemberChangeJson[] }
  | { event: 'totem-confchg'; ringId: RingIdJson; members: number[] };

export type CpgEventJson = CpgHandleEventJson & { handle: number };

/**
 * One event of one CPG handle inside the daemon: as CpgHandleEventJson, but a delivery
 * carries its bytes (the IPC server writes them as hex or as a binary frame).
 */
export type CpgHandleEvent =
  | { event: 'deliver'; group: string; nodeId: number; pid: number; payload: Uint8Array }
  | Exclude<CpgHandleEventJson, { event: 'deliver' }>;

/** `quorum.status`: votequorum's status (corosync-quorumtool -s) plus the quorum service's verdict. */
export interface QuorumStatusJson {
  /** 'corosync_votequorum', or null without a quorum provider (then always quorate). */
  provider: 'corosync_votequorum' | null;
  /** The quorum service's answer (quorumtool's "Quorate:"). */
  quorate: boolean;
  nodeId: number;
  ringId: RingIdJson;
  expectedVotes: number;
  highestExpected: number;
  totalVotes: number;
  quorum: number;
  /** quorumtool's order: 2Node Quorate WaitForAll LastManStanding AutoTieBreaker AllowDownscale Qdevice. */
  flags: string[];
  /** Members of the last synced ring; votes null = no votequorum record yet. */
  members: Array<{ nodeId: number; votes: number | null; name: string | null; local: boolean }>;
}

/** A quorum notification (topic 'quorum'): on subscribe, then at every sync end and quorum change. */
export interface QuorumEventJson {
  quorate: boolean;
  ringId: RingIdJson;
  members: number[];
}

export type CmapValueTypeName =
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float' | 'double' | 'string' | 'binary';

/**
 * A typed cmap value as JSON: 8..32-bit integers as numbers; int64/uint64 as decimal
 * strings; float/double as numbers ('NaN', 'Infinity', '-Infinity' as strings); string
 * as itself; binary as lower-case hex ('' = empty).
 */
export interface CmapValueJson {
  type: CmapValueTypeName;
  value: number | string;
}

export interface CmapEntryJson extends CmapValueJson {
  key: string;
}

export interface CmapTrackFlagsJson {
  /** Track every key starting with `key` (CMAP_TRACK_PREFIX). */
  prefix: boolean;
  add: boolean;
  modify: boolean;
  delete: boolean;
}

/** A cmap track notification (topic 'cmap'). */
export interface CmapTrackEventJson {
  trackId: number;
  type: 'add' | 'modify' | 'delete';
  key: string;
  /** null on delete. */
  newValue: CmapValueJson | null;
  /** null on add. */
  oldValue: CmapValueJson | null;
}

/** A local CPG process (one libcpg handle) owned by an IPC connection. */
export interface DaemonCpgHandle {
  readonly pid: number;
  join(group: string): CpgJoinResultName;
  leave(group: string): CpgLeaveResultName;
  mcast(group: string, payload: Uint8Array): CpgMcastResultName;
  /** PROCLEAVE (reason procdown) for every group; no more events. Idempotent. */
  finalize(): void;
}

/**
 * The services as the IPC server uses them. Methods throw DaemonApiError for the typed
 * failures (codes as in IpcErrorCode: CMAP_ERR_*, CPG_ERR_*, QUORUM_ERR_*, IPC_UNAVAILABLE).
 * Listeners are called synchronously, in delivery order, and must not throw.
 */
export interface DaemonServicesApi {
  cpgInitialize(options: { pid?: number }, listener: (event: CpgHandleEvent) => void): DaemonCpgHandle;
  cpgMembership(group: string): CpgMemberJson[];
  cpgGroups(): CpgGroupJson[];
  quorumStatus(): QuorumStatusJson;
  quorumSetExpected(votes: number): void;
  quorumSetVotes(nodeId: number, votes: number): void;
  /** Calls the listener at once with the current state, then on every change. */
  subscribeQuorum(listener: (event: QuorumEventJson) => void): () => void;
  cmapGet(key: string): CmapEntryJson;
  cmapSet(key: string, type: CmapValueTypeName, value: number | string): CmapEntryJson;
  cmapDelete(key: string): void;
  cmapList(prefix: string): CmapEntryJson[];
  cmapTrack(key: string, flags: CmapTrackFlagsJson, listener: (event: Omit<CmapTrackEventJson, 'trackId'>) => void): () => void;
}

/** A typed failure of a DaemonServicesApi call; the IPC server sends `code` and `message`. */
export class DaemonApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DaemonApiError';
    this.code = code;
  }
}

/** DaemonApiError by shape, not instanceof (errors may cross jest realms). */
export function isDaemonApiError(e: unknown): e is DaemonApiError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'DaemonApiError' && typeof (e as { code?: unknown }).code === 'string';
}

// -------------------------------------------------------------------------------------
// The Asterisk bridge (src/runtime/bridge-runner.ts): what `carillon show config`,
// `carillon show states` and `carillon ping` read. Device states are Asterisk's names
// (NOT_INUSE, INUSE, ...); presence states its lower-case names.

export interface BridgeConfigJson {
  /** The res_corosync.conf the bridge loaded. */
  file: string;
  /** Event types in res_corosync's order (mwi, device_state, [presence_state], ping, cluster_discovery). */
  publish: string[];
  subscribe: string[];
  remoteDeviceFormat: string;
  remotePresenceFormat: string;
  devicePurge: string;
  mwiPurge: string;
  purgeGraceMs: number;
  mwiInjection: string;
  ami: { host: string; port: number; username: string } | null;
  ari: { url: string; username: string; app: string } | null;
}

export interface BridgeDeviceJson {
  device: string;
  local: string | null;
  remote: Array<{ eid: string; nodeId: number; pid: number; state: string }>;
  remoteAggregate: string;
  aggregate: string;
  mappedName: string;
  injected: string | null;
}

export interface BridgeStatusJson {
  config: BridgeConfigJson;
  /** The EID we publish with (the local Asterisk's); null until known. */
  eid: string | null;
  /** In CPG group `asterisk`. */
  joined: boolean;
  ami: { connected: boolean; lastError: string | null } | null;
  ari: { connected: boolean; lastError: string | null } | null;
  /** Problems that keep part of the bridge from working (no MWIUpdate action, ...). */
  problems: string[];
  nodes: Array<{ nodeId: number; eid: string; localAddr: string }>;
  devices: BridgeDeviceJson[];
  mailboxes: Array<{ mailbox: string; newMessages: number; oldMessages: number; eid: string | null; local: boolean; nodeId: number | null }>;
  presence: Array<{
    provider: string;
    local: { state: string; subtype: string; message: string } | null;
    remote: Array<{ eid: string; nodeId: number; state: string; subtype: string; message: string }>;
  }>;
  stats: Record<string, number>;
}

/** What the IPC server asks of the bridge; absent when no res_corosync.conf is configured. */
export interface DaemonBridgeApi {
  status(): BridgeStatusJson;
  /** res_corosync's `corosync ping`; throws DaemonApiError BRIDGE_NOT_READY when it cannot send. */
  ping(): { eid: string };
}

// -------------------------------------------------------------------------------------
// The availability manager (src/runtime/supervisor.ts): supervised programs from
// amf { process { } } and SAM-registered applications (`carillon sam status`).

/** AmfProcessState of src/services/amf/amf-policy.ts. */
export type AmfProcessStateName = 'stopped' | 'waiting-quorum' | 'starting' | 'running' | 'stopping' | 'backoff' | 'escalated' | 'failed';

export interface AmfProcessJson {
  name: string;
  state: AmfProcessStateName;
  pid: number | null;
  /** argv as configured. */
  command: string[];
  /** Restarts after failures since carillond started. */
  restarts: number;
  /** Restarts still inside restart_window. */
  restartsInWindow: number;
  maxRestarts: number;
  restartWindowMs: number;
  /** In backoff: ms until the restart. */
  restartInMs: number | null;
  /** While running: ms since the spawn. */
  uptimeMs: number | null;
  healthCheck: 'none' | 'exec' | 'tcp' | 'ami';
  /** Consecutive failed health checks. */
  healthFailures: number;
  /** How the last incarnation ended: "code 1", "signal SIGKILL". */
  lastExit: string | null;
  lastFailure: string | null;
  escalated: boolean;
  escalation: 'stop' | 'leave';
  quorumPolicy: 'none' | 'stop' | 'restart';
}

export interface SamAppJson {
  name: string;
  state: 'registered' | 'failed';
  pid: number;
  recovery: 'quit' | 'restart';
  heartbeatIntervalMs: number;
  /** ms since the last heartbeat; null once failed. */
  lastHeartbeatAgeMs: number | null;
  failures: number;
  lastFailure: string | null;
  /** The name is also a supervised program. */
  supervised: boolean;
}

/** `sam.status`: what `carillon sam status` prints. */
export interface SamStatusJson {
  processes: AmfProcessJson[];
  apps: SamAppJson[];
  /** The quorum the supervisor last heard of (null before the first news). */
  quorate: boolean | null;
}

export interface SamRegisterJson {
  name: string;
  pid: number;
  heartbeatIntervalMs: number;
  recovery: 'quit' | 'restart';
}

/** One live SAM registration, owned by the IPC connection that made it. */
export interface DaemonSamRegistration {
  readonly name: string;
  /** Registered and not failed, unregistered or superseded. */
  isActive(): boolean;
  /** Throws DaemonApiError SAM_ERR_NOT_REGISTERED once it failed or was unregistered. */
  heartbeat(): void;
  unregister(): void;
  /** The owning connection closed: a live registration fails (its recovery runs). */
  connectionLost(): void;
  status(): SamAppJson;
}

/**
 * The availability manager as the IPC server uses it. Methods throw DaemonApiError with
 * SAM_ERR_* / AMF_ERR_* codes for refused requests.
 */
export interface DaemonAmfApi {
  status(): SamStatusJson;
  start(name: string): AmfProcessJson;
  stop(name: string): AmfProcessJson;
  register(request: SamRegisterJson): DaemonSamRegistration;
}
