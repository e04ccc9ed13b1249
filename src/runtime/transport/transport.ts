// The Transport port (architecture.md §2.4 ports/adapters, §2.5): how the driver moves
// encoded Totem datagrams between nodes. Bytes only — encoding, decoding and
// authentication of their content happen above (codec) or in a wrapper
// (CryptoTransport). Adapters: UdpuTransport (corosync-wire.md §4.2), UdpTransport
// (§4.3), CryptoTransport (wraps either).
//
// Contract shared by every adapter:
//   - sendToAll is a Totem "multicast": every member of the nodelist gets the datagram
//     once, the local node included (udpu: one unicast per member, self through the
//     kernel; udp: one group datagram plus a local copy, as corosync's socketpair) —
//     unless the sender says the local copy is useless (skipLocal): the driver does
//     for Totem MCASTs, which the sending node has filed in its sort queue already,
//     so the copy would be dropped as a duplicate after costing a send, a receive
//     and a decode. Peers cannot tell. udp's group datagram still loops back.

//   - sendTo(nodeId) is for tokens; an unknown nodeid is counted and dropped.
//   - Nothing about the network throws: send failures (EAGAIN, ENOBUFS, EPERM,
//     unreachable...) and socket 'error' events are counted and logged, because Totem
//     recovers from loss by itself (corosync: "an error here is recovered by totemsrp").
//     Only start() rejects (a socket that cannot be bound is a configuration problem),
//     and setMembers() throws on an invalid nodelist (also configuration).
//   - Listeners are called asynchronously (never from inside a send call), in arrival
//     order. The bytes handed to a send call must not be modified afterwards: the kernel
//     copy may happen after the call returns.
//   - A listener that throws is a programmer error and is not caught here.

import * as dns from 'node:dns';
import * as net from 'node:net';
import type { ClusterNode, IpVersion } from '../../config/load';

export type DatagramListener = (bytes: Uint8Array, fromNodeId: number | null, fromAddress: string) => void;

/** A nodelist entry with its ring0_addr resolved to a canonical IP literal. */
export interface TransportMember {
  readonly nodeId: number;
  readonly address: string;
}

/** Level names match runtime/logger.ts so the daemon can pass `logger.log` through. */
export type TransportLogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';
export type TransportLogger = (level: TransportLogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;
export const silentTransportLogger: TransportLogger = () => undefined;

/** Counters since construction; all monotonic except the buffer sizes. */
export interface TransportStats {
  /** Datagrams the kernel accepted. */
  sent: number;
  sentBytes: number;
  /** Datagrams the kernel refused (EAGAIN, ENOBUFS, EPERM, ENETUNREACH...). */
  sendErrors: number;
  /** errno code of the last refused send, e.g. 'ENOBUFS'. */
  lastSendError: string | null;
  /** Datagrams handed to the listeners (including the local copies of udp multicasts). */
  received: number;
  receivedBytes: number;
  /** From a source IP outside the nodelist while block_unlisted_ips is on (udpu). */
  droppedUnlisted: number;
  /** Received above the receive frame limit, or a send too large for one UDP datagram. */
  droppedOversize: number;
  /** sendTo a nodeid that is not in the nodelist. */
  droppedUnknownNode: number;
  /** A send before start() finished or after close(). */
  droppedNotRunning: number;
  /** Socket 'error' events. */
  socketErrors: number;
  /** What the kernel granted (Linux reports twice the requested value); 0 before start. */
  recvBufferBytes: number;
  sendBufferBytes: number;
}

export interface Transport {
  /** Binds the sockets; rejects with a TransportError when that is impossible. */
  start(): Promise<void>;
  /** Closes the sockets; idempotent; sends afterwards are counted as droppedNotRunning. */
  close(): Promise<void>;
  sendToAll(bytes: Uint8Array, skipLocal?: boolean): void;
  sendTo(nodeId: number, bytes: Uint8Array): void;
  /** Adds a listener; returns the function that removes it. */
  onDatagram(listener: DatagramListener): () => void;
  /** Replaces the nodelist (config reload). The local node must stay, at the same address. */
  setMembers(members: readonly TransportMember[]): void;
  stats(): TransportStats;
}

export const TransportLimits = {
  /** corosync UDP_RECEIVE_FRAME_SIZE_MAX = 384 · (8 · 2 · 22) + 1024 (corosync-wire.md §4.1). */
  receiveFrameSizeMax: 136_192,
  /** SO_RCVBUF/SO_SNDBUF corosync requests: 16 × the frame size above. */
  socketBufferBytes: 2_179_072,
  /** Largest UDP payload: 65535 − 20 (IPv4 header) − 8 (UDP header). */
  udpPayloadMaxIpv4: 65_507,
  /** 65535 − 8: the IPv6 header is not counted in the payload length (no jumbograms). */
  udpPayloadMaxIpv6: 65_527,
  /** corosync's default totem.interface.mcastport. */
  defaultPort: 5405,
} as const;

export const TransportErrorCode = {
  bind: 'TRANSPORT_BIND',
  socketOption: 'TRANSPORT_SOCKET_OPTION',
  state: 'TRANSPORT_STATE',
  localNodeMissing: 'TRANSPORT_LOCAL_NODE_MISSING',
  localAddressChanged: 'TRANSPORT_LOCAL_ADDRESS_CHANGED',
  mixedFamily: 'TRANSPORT_MIXED_FAMILY',
  badAddress: 'TRANSPORT_BAD_ADDRESS',
  duplicateMember: 'TRANSPORT_DUPLICATE_MEMBER',
  resolve: 'TRANSPORT_RESOLVE',
  noInterface: 'TRANSPORT_NO_INTERFACE',
} as const;
export type TransportErrorCodeName = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class TransportError extends Error {
  readonly code: TransportErrorCodeName;

  constructor(code: TransportErrorCodeName, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

export type IpFamily = 'ipv4' | 'ipv6';

export function createTransportStats(): TransportStats {
  return {
    sent: 0,
    sentBytes: 0,
    sendErrors: 0,
    lastSendError: null,
    received: 0,
    receivedBytes: 0,
    droppedUnlisted: 0,
    droppedOversize: 0,
    droppedUnknownNode: 0,
    droppedNotRunning: 0,
    socketErrors: 0,
    recvBufferBytes: 0,
    sendBufferBytes: 0,
  };
}

/**
 * The canonical text of an IP literal (lower case, shortest IPv6 form, zone dropped), or
 * null when it is not one. Source addresses from the kernel and nodelist addresses from
 * the file are compared in this form.
 */
export function canonicalAddress(address: string): { address: string; family: IpFamily } | null {
  const bare = address.replace(/%.*$/, '');
  const version = net.isIP(bare);
  if (version === 0) return null;
  const family: IpFamily = version === 4 ? 'ipv4' : 'ipv6';
  return { address: new net.SocketAddress({ address: bare, family }).address, family };
}

/**
 * The validated nodelist of a transport: nodeid ↔ address in one family, the local node
 * included. Immutable; setMembers builds a new one.
 */
export class MemberTable {
  readonly family: IpFamily;
  readonly localNodeId: number;
  readonly localAddress: string;
  private readonly byNodeId = new Map<number, string>();
  private readonly byAddress = new Map<string, number>();

  constructor(localNodeId: number, members: readonly TransportMember[]) {
    this.localNodeId = localNodeId;
    let family: IpFamily | null = null;
    for (const member of members) {
      const canonical = canonicalAddress(member.address);
      if (canonical === null) {
        throw new TransportError(TransportErrorCode.badAddress, `nodeid ${member.nodeId}: "${member.address}" is not an IP address (resolve host names first)`);
      }
      family ??= canonical.family;
      if (canonical.family !== family) {
        throw new TransportError(
          TransportErrorCode.mixedFamily,
          `nodeid ${member.nodeId}: ${canonical.address} is ${canonical.family} but other members are ${family}; one ring uses one address family, as in corosync`,
        );
      }
      if (this.byNodeId.has(member.nodeId)) {
        throw new TransportError(TransportErrorCode.duplicateMember, `nodeid ${member.nodeId} is listed twice`);
      }
      const other = this.byAddress.get(canonical.address);
      if (other !== undefined) {
        throw new TransportError(TransportErrorCode.duplicateMember, `nodeids ${other} and ${member.nodeId} share the address ${canonical.address}`);
      }
      this.byNodeId.set(member.nodeId, canonical.address);
      this.byAddress.set(canonical.address, member.nodeId);
    }
    const local = this.byNodeId.get(localNodeId);
    if (local === undefined || family === null) {
      throw new TransportError(TransportErrorCode.localNodeMissing, `the local nodeid ${localNodeId} is not in the nodelist`);
    }
    this.family = family;
    this.localAddress = local;
  }

  addressOf(nodeId: number): string | undefined {
    return this.byNodeId.get(nodeId);
  }

  /** nodeid of a source address as the kernel reports it; null when unlisted. */
  nodeIdOf(address: string): number | null {
    const direct = this.byAddress.get(address);
    if (direct !== undefined) return direct;
    const canonical = canonicalAddress(address);
    return canonical === null ? null : (this.byAddress.get(canonical.address) ?? null);
  }

  /** Members in nodelist order. */
  entries(): IterableIterator<[number, string]> {
    return this.byNodeId.entries();
  }

  get size(): number {
    return this.byNodeId.size;
  }

  /** A new table for a reloaded nodelist; the local node may not move (needs a restart). */
  replaced(members: readonly TransportMember[]): MemberTable {
    const next = new MemberTable(this.localNodeId, members);
    if (next.localAddress !== this.localAddress || next.family !== this.family) {
      throw new TransportError(
        TransportErrorCode.localAddressChanged,
        `the local node's address changed from ${this.localAddress} to ${next.localAddress}: the sockets are bound to the old one; restart carillond to apply it`,
      );
    }
    return next;
  }
}

export type AddressLookup = (hostname: string, family: 4 | 6) => Promise<string>;

const systemLookup: AddressLookup = async (hostname, family) => (await dns.promises.lookup(hostname, { family })).address;

/**
 * Resolves a nodelist's ring0_addr values to IP literals. Literals pass through; host
 * names (allowed by the loader only with an explicit nodeid) are looked up in the order
 * totem.ip_version asks for: ipv4, ipv6, ipv4-6 (v4 then v6), ipv6-4 (v6 then v4).
 */
export async function resolveMembers(
  nodelist: readonly ClusterNode[],
  ipVersion: IpVersion,
  lookup: AddressLookup = systemLookup,
): Promise<TransportMember[]> {
  const order: readonly (4 | 6)[] = ipVersion === 'ipv4' ? [4] : ipVersion === 'ipv6' ? [6] : ipVersion === 'ipv4-6' ? [4, 6] : [6, 4];
  const members: TransportMember[] = [];
  for (const node of nodelist) {
    const literal = canonicalAddress(node.ring0Addr.text);
    if (literal !== null) {
      members.push({ nodeId: node.nodeid, address: literal.address });
      continue;
    }
    let resolved: string | null = null;
    const failures: string[] = [];
    for (const family of order) {
      try {
        resolved = await lookup(node.ring0Addr.text, family);
        break;
      } catch (e) {
        failures.push(`IPv${family}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (resolved === null) {
      throw new TransportError(TransportErrorCode.resolve, `nodeid ${node.nodeid}: cannot resolve ${node.ring0Addr.text} (${failures.join('; ')})`);
    }
    members.push({ nodeId: node.nodeid, address: resolved });
  }
  return members;
}

/** Calls each listener in registration order; a throwing listener propagates (programmer error). */
export class ListenerSet {
  private listeners: DatagramListener[] = [];

  add(listener: DatagramListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(bytes: Uint8Array, fromNodeId: number | null, fromAddress: string): void {
    for (const listener of this.listeners) listener(bytes, fromNodeId, fromAddress);
  }
}

/**
 * At most one pass per key every `intervalMs`; a pass reports how many were suppressed
 * since the previous one. For per-datagram problems (send errors, unlisted sources, bad
 * authentication) that a broken or hostile peer could turn into a log flood.
 */
export class RateLimiter {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(intervalMs: number, now: () => number = () => performance.now()) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** null: stay quiet; a number: log now, mentioning that many suppressed events. */
  pass(key = ''): number | null {
    const atMs = this.now();
    const entry = this.last.get(key);
    if (entry !== undefined && atMs - entry.atMs < this.intervalMs) {
      entry.suppressed += 1;
      return null;
    }
    // Bounded: keys may come from the network (source addresses).
    if (entry === undefined && this.last.size >= 256) this.last.clear();
    this.last.set(key, { atMs, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}
