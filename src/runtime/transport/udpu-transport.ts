// UdpuTransport: corosync 3.1.7's `udpu` transport over node:dgram (corosync-wire.md
// §4.1, §4.2; corosync exec/totemudpu.c; architecture.md §2.5).
//
//   - token socket bound to <own ring0_addr>:<mcastport>: receives everything (tokens
//     and "multicasts") and sends the tokens, so a token's source port is mcastport;
//   - "multicast" = one unicast datagram to <member>:<mcastport> for every nodelist
//     member, the local node included (it reaches itself through the kernel, as corosync
//     does while the interface is up), sent from a socket bound to <own addr>:0;
//   - block_unlisted_ips (default on): a datagram whose source IP is not a nodelist
//     address is dropped and counted; the source port is ignored, as in corosync;
//   - datagrams above UDP_RECEIVE_FRAME_SIZE_MAX (136192 bytes) are dropped;
//   - SO_RCVBUF/SO_SNDBUF 2,179,072 bytes requested (the kernel may cap them).
//
// Deviation: corosync opens one ephemeral sending socket per member
// (totemudpu_create_sending_socket). We share one. corosync's reason is isolation of
// per-destination state on each socket; for an unconnected UDP socket on Linux the only
// such state is the send-buffer accounting, and a dead member whose neighbour entry
// never resolves can hold at most unres_qlen_bytes (~208 KiB by default) of it — far
// below our 2 MiB SO_SNDBUF — while ICMP errors are not reported to unconnected sockets
// at all. One socket keeps the descriptor count constant when the nodelist is reloaded
// and keeps every "multicast" of this node coming from one source port, which makes
// captures easier to read. The receivers do not care about the source port.
//
// Deviation: corosync sets SO_REUSEADDR on the token socket; we do not, so that a second
// daemon on the same address fails to start (EADDRINUSE) instead of silently sharing
// the port and receiving part of the traffic.

import type { CarillonConfig } from '../../config/load';
import { DatagramTransport, type DatagramTransportOptions } from './datagram-transport';
import { DatagramSocket } from './dgram-socket';
import { type AddressLookup, RateLimiter, type TransportLogger, resolveMembers } from './transport';

export interface UdpuTransportOptions extends DatagramTransportOptions {
  /** totem.interface.0.mcastport: every node listens on the same port. */
  readonly port: number;
  /** totem.block_unlisted_ips; default true, as in corosync. */
  readonly blockUnlistedIps?: boolean;
}

export interface TransportFromConfigDeps {
  readonly log?: TransportLogger;
  readonly lookup?: AddressLookup;
}

/** Unlisted sources are logged at most this often per source address. */
const UNLISTED_LOG_INTERVAL_MS = 10_000;

export class UdpuTransport extends DatagramTransport {
  private readonly blockUnlistedIps: boolean;
  private readonly unlistedLog = new RateLimiter(UNLISTED_LOG_INTERVAL_MS);
  private tokenSocket: DatagramSocket | null = null;
  private mcastSocket: DatagramSocket | null = null;

  constructor(options: UdpuTransportOptions) {
    super(options);
    this.blockUnlistedIps = options.blockUnlistedIps ?? true;
  }

  /** Builds the transport for `localNodeId` from a loaded configuration (resolving host names). */
  static async fromConfig(config: CarillonConfig, localNodeId: number, deps: TransportFromConfigDeps = {}): Promise<UdpuTransport> {
    const members = await resolveMembers(config.nodelist, config.totem.ipVersion, deps.lookup);
    return new UdpuTransport({
      localNodeId,
      members,
      port: config.totem.interface.mcastport,
      blockUnlistedIps: config.totem.blockUnlistedIps,
      ...(deps.log === undefined ? {} : { log: deps.log }),
    });
  }

  async start(): Promise<void> {
    this.beginStart('udpu');
    const family = this.members.family;
    const local = this.members.localAddress;
    const stats = this.counters;
    const token = new DatagramSocket({ family, role: 'udpu token', stats, log: this.log });
    const mcast = new DatagramSocket({ family, role: 'udpu mcast-send', stats, log: this.log });
    const bound = await this.setUpSockets([token, mcast], async () => {
      await token.bind(local, this.port);
      await mcast.bind(local, 0);
      token.setBufferSizes(true, true, this.socketBufferBytes);
      mcast.setBufferSizes(false, true, this.socketBufferBytes);
    });
    if (!bound) return;
    token.onMessage((bytes, address) => this.receive(bytes, address));
    this.tokenSocket = token;
    this.mcastSocket = mcast;
    this.state = 'running';
    this.log('notice', `udpu transport on ${local}:${this.port} (send port ${mcast.localPort()}), ${this.members.size} members`);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    const sockets = [this.tokenSocket, this.mcastSocket];
    this.tokenSocket = null;
    this.mcastSocket = null;
    await Promise.all(sockets.map((s) => s?.close()));
  }

  sendToAll(bytes: Uint8Array, skipLocal = false): void {
    // An oversize message is counted once, not once per member.
    const socket = this.multicastSocket(this.mcastSocket, bytes);
    if (socket === null) return;
    const local = this.members.localNodeId;
    for (const [nodeId, address] of this.members.entries()) {
      if (skipLocal && nodeId === local) continue;
      socket.send(bytes, this.port, address);
    }
  }

  protected unicastSocket(): DatagramSocket | null {
    return this.tokenSocket;
  }

  private receive(bytes: Uint8Array, address: string): void {
    if (this.state !== 'running') return;
    const nodeId = this.members.nodeIdOf(address);
    if (nodeId === null && this.blockUnlistedIps) {
      this.counters.droppedUnlisted += 1;
      const suppressed = this.unlistedLog.pass(address);
      if (suppressed !== null) {
        const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
        this.log('debug', `dropped a datagram from ${address}: not in the nodelist (block_unlisted_ips)${more}`);
      }
      return;
    }
    this.deliver(bytes, nodeId, address);
  }
}
