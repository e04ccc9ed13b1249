// DatagramTransport: what UdpTransport and UdpuTransport share — the nodelist table,
// counters, listeners and life-cycle state, unicast sends to a member's mcastport,
// delivery of a received datagram, and the start-up steps around binding the sockets.

import type { DatagramSocket } from './dgram-socket';
import {
  type DatagramListener,
  ListenerSet,
  MemberTable,
  type Transport,
  TransportError,
  TransportErrorCode,
  TransportLimits,
  type TransportLogger,
  type TransportMember,
  type TransportStats,
  createTransportStats,
  silentTransportLogger,
} from './transport';

export type DatagramTransportState = 'new' | 'starting' | 'running' | 'closed';

export interface DatagramTransportOptions {
  readonly localNodeId: number;
  /** The nodelist, local node included, resolved to IP literals (one family). */
  readonly members: readonly TransportMember[];
  /** totem.interface.0.mcastport. */
  readonly port: number;
  /** SO_RCVBUF/SO_SNDBUF request; default corosync's 2,179,072 bytes. */
  readonly socketBufferBytes?: number;
  readonly log?: TransportLogger;
}

export abstract class DatagramTransport implements Transport {
  protected readonly port: number;
  protected readonly socketBufferBytes: number;
  protected readonly log: TransportLogger;
  protected readonly counters: TransportStats = createTransportStats();
  protected readonly listeners = new ListenerSet();
  protected members: MemberTable;
  protected state: DatagramTransportState = 'new';

  protected constructor(options: DatagramTransportOptions) {
    this.members = new MemberTable(options.localNodeId, options.members);
    this.port = options.port;
    this.socketBufferBytes = options.socketBufferBytes ?? TransportLimits.socketBufferBytes;
    this.log = options.log ?? silentTransportLogger;
  }

  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
  abstract sendToAll(bytes: Uint8Array, skipLocal?: boolean): void;

  /** The socket unicast datagrams (tokens) are sent from; null unless running. */
  protected abstract unicastSocket(): DatagramSocket | null;

  sendTo(nodeId: number, bytes: Uint8Array): void {
    const socket = this.unicastSocket();
    if (socket === null) {
      this.counters.droppedNotRunning += 1;
      return;
    }
    const address = this.members.addressOf(nodeId);
    if (address === undefined) {
      this.counters.droppedUnknownNode += 1;
      return;
    }
    socket.send(bytes, this.port, address);
  }

  onDatagram(listener: DatagramListener): () => void {
    return this.listeners.add(listener);
  }

  setMembers(members: readonly TransportMember[]): void {
    this.members = this.members.replaced(members);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  protected isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Moves from 'new' to 'starting'; `kind` names the transport in the error otherwise. */
  protected beginStart(kind: string): void {
    if (this.state !== 'new') {
      throw new TransportError(TransportErrorCode.state, `start() called on a ${this.state} ${kind} transport`);
    }
    this.state = 'starting';
  }

  /**
   * Runs `setUp` (binding and configuring `sockets`). On failure closes them, moves to
   * 'closed' and rethrows; if close() was called meanwhile, closes them and returns false.
   */
  protected async setUpSockets(sockets: readonly DatagramSocket[], setUp: () => Promise<void>): Promise<boolean> {
    try {
      await setUp();
    } catch (e) {
      await Promise.all(sockets.map((s) => s.close()));
      this.state = 'closed';
      throw e;
    }
    // close() may have been called while binding.
    if (this.isClosed()) {
      await Promise.all(sockets.map((s) => s.close()));
      return false;
    }
    return true;
  }

  /**
   * The socket to send a message to every member from, or null — counted as
   * droppedNotRunning or droppedOversize (once per message) — when it cannot go out.
   */
  protected multicastSocket(socket: DatagramSocket | null, bytes: Uint8Array): DatagramSocket | null {
    if (socket === null) {
      this.counters.droppedNotRunning += 1;
      return null;
    }
    if (bytes.length > this.payloadMax()) {
      this.counters.droppedOversize += 1;
      return null;
    }
    return socket;
  }

  /** Counts a received datagram and hands it to the listeners. */
  protected deliver(bytes: Uint8Array, nodeId: number | null, address: string): void {
    this.counters.received += 1;
    this.counters.receivedBytes += bytes.length;
    this.listeners.emit(bytes, nodeId, address);
  }

  private payloadMax(): number {
    return this.members.family === 'ipv4' ? TransportLimits.udpPayloadMaxIpv4 : TransportLimits.udpPayloadMaxIpv6;
  }
}
