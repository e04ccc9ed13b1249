// UdpTransport: corosync 3.1.7's `udp` (IP multicast) transport over node:dgram
// (corosync-wire.md §4.1, §4.3; corosync exec/totemudp.c totemudp_build_sockets_ip).
//
//   - mcast_recv bound to <group>:<mcastport> (SO_REUSEADDR) and joined to the group on
//     the interface that holds the local ring0_addr;
//   - mcast_send bound to <own addr>:<mcastport − 1>, used for ALL sends — group
//     datagrams and unicast tokens alike — with multicast loopback off, TTL = totem
//     interface ttl (default 1) and the outgoing multicast interface pinned to the local
//     address (IP_MULTICAST_IF), so the group traffic leaves by the ring's interface
//     whatever the routing table says;
//   - token socket bound to <own addr>:<mcastport>: receives the unicast tokens;
//   - self-delivery: multicast loopback is off, so the local node's copy of its own
//     multicast is handed to the listeners directly (deferred with setImmediate, never
//     from inside sendToAll), like corosync's AF_UNIX socketpair: exactly one copy;
//   - no source-IP filtering (corosync has none on udp), but known senders are still
//     mapped to their nodeid; unknown ones come with nodeid null;
//   - `broadcast: yes`: the group is 255.255.255.255 with SO_BROADCAST, no membership.
//
// Deviation: as in UdpuTransport, the token socket has no SO_REUSEADDR (a second daemon
// on the same address fails with EADDRINUSE instead of sharing the port).

import * as os from 'node:os';
import type { CarillonConfig } from '../../config/load';
import { DatagramTransport, type DatagramTransportOptions } from './datagram-transport';
import { DatagramSocket } from './dgram-socket';
import { TransportError, TransportErrorCode, canonicalAddress, resolveMembers } from './transport';
import type { TransportFromConfigDeps } from './udpu-transport';

export interface UdpTransportOptions extends DatagramTransportOptions {
  /** totem.interface.0.mcastport; the send socket uses port − 1. */
  readonly port: number;
  /** The multicast group (totem.interface.0.mcastaddr or derived from cluster_name), or 255.255.255.255 with broadcast. */
  readonly group: string;
  /** Multicast TTL (IPv6 hop limit); default 1. */
  readonly ttl?: number;
  /** totem.interface.0.broadcast. */
  readonly broadcast?: boolean;
}

const BROADCAST_GROUP = '255.255.255.255';

export class UdpTransport extends DatagramTransport {
  private readonly group: string;
  private readonly ttl: number;
  private readonly broadcast: boolean;
  private recvSocket: DatagramSocket | null = null;
  private sendSocket: DatagramSocket | null = null;
  private tokenSocket: DatagramSocket | null = null;
  /** Own multicasts waiting for their local delivery (the socketpair of corosync). */
  private loopback: Uint8Array[] = [];
  private loopbackScheduled = false;

  constructor(options: UdpTransportOptions) {
    super(options);
    this.broadcast = options.broadcast ?? false;
    const group = canonicalAddress(options.group);
    if (group === null || group.family !== this.members.family) {
      throw new TransportError(TransportErrorCode.badAddress, `multicast group "${options.group}" is not an ${this.members.family} address like the nodelist's`);
    }
    this.group = group.address;
    if (options.port < 2 || options.port > 65535) {
      throw new TransportError(TransportErrorCode.badAddress, `mcastport ${options.port}: udp needs mcastport and mcastport − 1 to be valid ports`);
    }
    this.ttl = options.ttl ?? 1;
  }

  /** Builds the transport for `localNodeId` from a loaded configuration (resolving host names). */
  static async fromConfig(config: CarillonConfig, localNodeId: number, deps: TransportFromConfigDeps = {}): Promise<UdpTransport> {
    const members = await resolveMembers(config.nodelist, config.totem.ipVersion, deps.lookup);
    const iface = config.totem.interface;
    if (iface.mcastaddr === null) {
      throw new TransportError(TransportErrorCode.badAddress, 'transport udp needs a multicast group (mcastaddr, cluster_name or broadcast)');
    }
    return new UdpTransport({
      localNodeId,
      members,
      port: iface.mcastport,
      group: iface.broadcast ? BROADCAST_GROUP : iface.mcastaddr,
      ttl: iface.ttl,
      broadcast: iface.broadcast,
      ...(deps.log === undefined ? {} : { log: deps.log }),
    });
  }

  async start(): Promise<void> {
    this.beginStart('udp');
    const family = this.members.family;
    const local = this.members.localAddress;
    const stats = this.counters;
    const log = this.log;
    const recv = new DatagramSocket({ family, role: 'udp mcast-recv', stats, log, reuseAddr: true });
    const send = new DatagramSocket({ family, role: 'udp mcast-send', stats, log });
    const token = new DatagramSocket({ family, role: 'udp token', stats, log });
    const bound = await this.setUpSockets([recv, send, token], async () => {
      // IPv6 names the interface by index (IPV6_MULTICAST_IF, ipv6mr_interface); libuv
      // takes it as "::%<ifname>". IPv4 names it by address.
      const ifaceSpec = family === 'ipv4' ? local : `::%${interfaceNameOf(local)}`;
      // corosync's order (totemudp_build_sockets_ip): the unicast sockets first, so a
      // ring0_addr that is not on this host fails as a bind error naming it.
      await send.bind(local, this.port - 1);
      await token.bind(local, this.port);
      this.option('configure multicast sending', () => {
        send.socket.setMulticastLoopback(false);
        send.socket.setMulticastTTL(this.ttl);
        send.socket.setMulticastInterface(ifaceSpec);
        if (this.broadcast) send.socket.setBroadcast(true);
      });
      await recv.bind(this.group, this.port);
      this.option('join the group', () => {
        if (this.broadcast) recv.socket.setBroadcast(true);
        else recv.socket.addMembership(this.group, ifaceSpec);
      });
      recv.setBufferSizes(true, false, this.socketBufferBytes);
      send.setBufferSizes(false, true, this.socketBufferBytes);
      token.setBufferSizes(true, false, this.socketBufferBytes);
    });
    if (!bound) return;
    recv.onMessage((bytes, address) => this.receive(bytes, address));
    token.onMessage((bytes, address) => this.receive(bytes, address));
    this.recvSocket = recv;
    this.sendSocket = send;
    this.tokenSocket = token;
    this.state = 'running';
    this.log('notice', `udp transport: group ${this.group}:${this.port}, local ${local} (send port ${this.port - 1}), ttl ${this.ttl}, ${this.members.size} members`);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.loopback = [];
    const sockets = [this.recvSocket, this.sendSocket, this.tokenSocket];
    this.recvSocket = null;
    this.sendSocket = null;
    this.tokenSocket = null;
    await Promise.all(sockets.map((s) => s?.close()));
  }

  sendToAll(bytes: Uint8Array, skipLocal = false): void {
    // An oversize message has no copy anywhere, the local one included: it cannot exist on the ring.
    const socket = this.multicastSocket(this.sendSocket, bytes);
    if (socket === null) return;
    socket.send(bytes, this.port, this.group);
    if (skipLocal) return;
    // As corosync, the local copy goes out even when the group send failed: the local
    // node must see its own messages in order whatever the network does.
    this.loopback.push(bytes.slice());
    if (!this.loopbackScheduled) {
      this.loopbackScheduled = true;
      setImmediate(() => this.drainLoopback());
    }
  }

  protected unicastSocket(): DatagramSocket | null {
    return this.sendSocket;
  }

  private option(what: string, apply: () => void): void {
    try {
      apply();
    } catch (e) {
      const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : String(e);
      throw new TransportError(TransportErrorCode.socketOption, `udp transport: cannot ${what} (group ${this.group}, local ${this.members.localAddress}): ${code}`);
    }
  }

  private drainLoopback(): void {
    this.loopbackScheduled = false;
    const queued = this.loopback;
    this.loopback = [];
    for (const bytes of queued) {
      if (this.state !== 'running') return;
      this.deliver(bytes, this.members.localNodeId, this.members.localAddress);
    }
  }

  private receive(bytes: Uint8Array, address: string): void {
    if (this.state !== 'running') return;
    this.deliver(bytes, this.members.nodeIdOf(address), address);
  }
}

/** The interface holding `address` (needed to pick the IPv6 multicast interface). */
function interfaceNameOf(address: string): string {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    for (const info of addresses ?? []) {
      if (canonicalAddress(info.address)?.address === address) return name;
    }
  }
  throw new TransportError(TransportErrorCode.noInterface, `no local interface holds ${address} (the local node's ring0_addr)`);
}
