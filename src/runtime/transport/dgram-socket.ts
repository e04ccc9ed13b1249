// One node:dgram socket of a transport (corosync-wire.md §4.1–4.3), with the policies
// UdpuTransport and UdpTransport share: bind as a promise with a typed error, large
// SO_RCVBUF/SO_SNDBUF requested and the kernel's cap tolerated, sends that never throw
// (kernel refusals are counted and logged at a limited rate, as corosync logs
// "sendmsg failed (non-critical)" at debug level), socket 'error' events counted and
// logged instead of crashing the process, and oversize datagrams dropped both ways.

import * as dgram from 'node:dgram';
import {
  type IpFamily,
  RateLimiter,
  TransportError,
  TransportErrorCode,
  TransportLimits,
  type TransportLogger,
  type TransportStats,
} from './transport';

export interface DatagramSocketOptions {
  readonly family: IpFamily;
  /** For log lines: 'token', 'mcast-send', 'mcast-recv'... */
  readonly role: string;
  readonly stats: TransportStats;
  readonly log: TransportLogger;
  /** SO_REUSEADDR: corosync sets it on the multicast receive socket. */
  readonly reuseAddr?: boolean;
}

type MessageHandler = (bytes: Uint8Array, address: string, port: number) => void;

/** How often the same kind of send failure is logged. */
const SEND_ERROR_LOG_INTERVAL_MS = 10_000;

function errnoCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

export class DatagramSocket {
  readonly socket: dgram.Socket;
  private readonly options: DatagramSocketOptions;
  private readonly sendErrorLog = new RateLimiter(SEND_ERROR_LOG_INTERVAL_MS);
  private readonly payloadMax: number;
  private bound = false;
  private closed = false;

  constructor(options: DatagramSocketOptions) {
    this.options = options;
    this.payloadMax = options.family === 'ipv4' ? TransportLimits.udpPayloadMaxIpv4 : TransportLimits.udpPayloadMaxIpv6;
    this.socket = dgram.createSocket({
      type: options.family === 'ipv4' ? 'udp4' : 'udp6',
      reuseAddr: options.reuseAddr ?? false,
      // One family per ring: an IPv6 socket must not also take IPv4-mapped traffic.
      ipv6Only: options.family === 'ipv6',
    });
    this.socket.on('error', (e) => {
      // Before the bind completes, bind() reports the failure through its promise.
      if (!this.bound) return;
      this.options.stats.socketErrors += 1;
      this.options.log('error', `${this.options.role} socket error: ${e.message}`, { code: errnoCode(e) });
    });
  }

  /** Binds; rejects with TransportError(TRANSPORT_BIND) naming the address and errno. */
  bind(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => {
        const code = errnoCode(e);
        const hint =
          code === 'EADDRINUSE'
            ? ' (is another carillond or corosync running on this address?)'
            : code === 'EADDRNOTAVAIL'
              ? ` (is ${address} configured on an interface of this host?)`
              : '';
        reject(new TransportError(TransportErrorCode.bind, `cannot bind the ${this.options.role} socket to ${formatEndpoint(address, port)}: ${code}${hint}`));
      };
      this.socket.once('error', onError);
      this.socket.bind({ address, port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.bound = true;
        resolve();
      });
    });
  }

  /**
   * Requests corosync's buffer sizes. The kernel caps them at net.core.rmem_max /
   * wmem_max without failing; we log what it granted so that an operator who sees
   * receive drops under load knows which sysctl to raise.
   */
  setBufferSizes(receive: boolean, send: boolean, bytes: number = TransportLimits.socketBufferBytes): void {
    if (receive) {
      const granted = this.trySet(() => this.socket.setRecvBufferSize(bytes), () => this.socket.getRecvBufferSize(), 'SO_RCVBUF', 'net.core.rmem_max', bytes);
      this.options.stats.recvBufferBytes = Math.max(this.options.stats.recvBufferBytes, granted);
    }
    if (send) {
      const granted = this.trySet(() => this.socket.setSendBufferSize(bytes), () => this.socket.getSendBufferSize(), 'SO_SNDBUF', 'net.core.wmem_max', bytes);
      this.options.stats.sendBufferBytes = Math.max(this.options.stats.sendBufferBytes, granted);
    }
  }

  private trySet(set: () => void, get: () => number, option: string, sysctl: string, bytes: number): number {
    try {
      set();
    } catch (e) {
      this.options.log('warning', `${this.options.role} socket: cannot set ${option} to ${bytes}: ${errnoCode(e)}`);
    }
    let granted = 0;
    try {
      granted = get();
    } catch {
      return 0;
    }
    // Linux doubles the requested value for bookkeeping overhead, and reports that.
    if (granted < bytes) {
      this.options.log('info', `${this.options.role} socket: ${option} is ${granted} bytes, less than the ${bytes} corosync requests; raise ${sysctl} to avoid drops under load`);
    }
    return granted;
  }

  onMessage(handler: MessageHandler): void {
    this.socket.on('message', (msg, rinfo) => {
      // Never reached on Linux today (libuv reads into 64 KiB), but the limit is
      // corosync's and costs nothing to keep.
      if (msg.length > TransportLimits.receiveFrameSizeMax) {
        this.options.stats.droppedOversize += 1;
        return;
      }
      // A plain view: listeners get a Uint8Array, not a Buffer with its own toJSON.
      handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), rinfo.address, rinfo.port);
    });
  }

  get isRunning(): boolean {
    return this.bound && !this.closed;
  }

  localPort(): number {
    return this.socket.address().port;
  }

  /** Sends one datagram; never throws. False when it was dropped before the kernel. */
  send(bytes: Uint8Array, port: number, address: string): boolean {
    const stats = this.options.stats;
    if (!this.isRunning) {
      stats.droppedNotRunning += 1;
      return false;
    }
    if (bytes.length > this.payloadMax) {
      stats.droppedOversize += 1;
      return false;
    }
    try {
      this.socket.send(bytes, port, address, (e) => {
        if (e === null || e === undefined) {
          stats.sent += 1;
          stats.sentBytes += bytes.length;
        } else {
          this.countSendError(e, address, port);
        }
      });
    } catch (e) {
      // Synchronous failures (socket closed underneath us, bad arguments) are treated
      // like kernel refusals: counted, logged, never thrown into the effects loop.
      this.countSendError(e, address, port);
      return false;
    }
    return true;
  }

  private countSendError(e: unknown, address: string, port: number): void {
    const stats = this.options.stats;
    const code = errnoCode(e);
    stats.sendErrors += 1;
    stats.lastSendError = code;
    const suppressed = this.sendErrorLog.pass(code);
    if (suppressed !== null) {
      const more = suppressed > 0 ? ` (${suppressed} more ${code} since the last report)` : '';
      this.options.log('debug', `${this.options.role} socket: send to ${formatEndpoint(address, port)} failed (non-critical): ${code}${more}`);
    }
  }

  /** Closes; resolves once the handle is released (so the port can be bound again). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        // ERR_SOCKET_DGRAM_NOT_RUNNING: never bound or already closed.
        resolve();
      }
    });
  }
}

export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
