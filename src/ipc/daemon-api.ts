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
  /** null until the quorum service exists. */
  quorate: boolean | null;
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
  /** Subscribe to Totem deliveries and configuration changes; returns an unsubscribe function. */
  subscribeTotem(listener: (event: TotemEventJson) => void): () => void;
  /** SIGHUP equivalent. */
  reload(): Promise<{ reloaded: string[]; needsRestart: string[] }>;
}
