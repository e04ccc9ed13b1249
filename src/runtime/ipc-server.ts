// carillond's IPC server (architecture.md §2.8, §2.11): serves a DaemonApi over a unix
// stream socket with the NDJSON protocol of src/ipc/protocol.ts.
//
// Why each limit exists:
//   - the socket is created in a 0755 directory with mode 0660 (configurable): Node
//     cannot read SO_PEERCRED, so the file's owner and group are the access control;
//   - an existing socket file is removed only when nothing answers on it (a crashed
//     daemon's leftover); a live one means another carillond, and starting a second
//     one on the same ring identity would be far worse than refusing to start;
//   - a request line is bounded (64 KiB): an unterminated line would otherwise grow
//     without limit; the client gets IPC_LINE_TOO_LONG and is disconnected;
//   - unsent output per client is bounded: a subscriber that stops reading must not
//     make the daemon buffer Totem traffic forever; it is disconnected with a final
//     IPC_SLOW_CONSUMER line, which reaches it if it reads again in time. Two levels:
//     above outputBytesMax (64 MiB) at once; above outputBytesStalledMax (8 MiB) only
//     when it stays there for slowConsumerGraceMs (10 s). A client that is merely
//     descheduled for a moment on a busy host (a quarter second of 64 KiB deliveries
//     is 8 MiB) keeps its connection; one that has stopped reading loses it;
//   - the number of clients is bounded (64): extra connections get
//     IPC_TOO_MANY_CLIENTS and are closed;
//   - per connection, CPG handles (16), cmap tracks (64) and SAM registrations (16) are
//     bounded: each costs daemon state and a stream of pushes or timers
//     (CPG_ERR_TOO_MANY_HANDLES, CMAP_ERR_TOO_MANY_TRACKS, SAM_ERR_TOO_MANY).
// Service state belongs to its connection: handle and track numbers are only valid on the
// connection that made them, and a connection that ends (for whatever reason) has its
// tracks and quorum subscription stopped at once and its CPG handles finalized right
// after (a PROCLEAVE with reason procdown per group, as corosync's cpg_lib_exit_fn) —
// deferred by a microtask, because the end may come from inside a service callback. Its
// live SAM registrations fail then too (corosync SAM: the component is gone), which makes
// the availability manager kill their pids per their recovery.
// Malformed input never throws out of a socket handler: every problem becomes exactly
// one error line and one count in stats().
//
// Output goes through a per-client queue of our own, not straight into socket.write():
// Node's writable buffer cannot be discarded, and discarding is what lets the final
// IPC_SLOW_CONSUMER line overtake a megabyte of stale notifications.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { assert } from '../base/assert';
import {
  type DaemonAmfApi,
  type DaemonApi,
  type DaemonBridgeApi,
  type CpgHandleEvent,
  type CpgMcastResultName,
  type DaemonCpgHandle,
  type DaemonSamRegistration,
  type DaemonServicesApi,
  DaemonApiError,
  type TotemEventJson,
  isDaemonApiError,
} from '../ipc/daemon-api';
import {
  CPG_BINARY_FEATURE,
  FrameType,
  GroupNameCodec,
  IpcStreamReader,
  encodeCpgDeliverFrame,
  encodeCpgMcastResultFrame,
  joinOutput,
  parseCpgMcastFrame,
} from '../ipc/binary-frames';
import {
  type IpcErrorCode as IpcErrorCodeType,
  type IpcMethod,
  type IpcRequest,
  type IpcResultMap,
  type IpcTopic,
  type IpcTopicEventMap,
  IpcErrorCode,
  IpcMethods,
  IpcProtocolVersion,
  IpcServerName,
  IpcTopics,
  encodeError,
  encodeNotify,
  encodeResult,
  hexToBytes,
  parseRequestLine,
} from '../ipc/protocol';

/** Largest single socket write of batched output lines. */
const WRITE_BATCH_BYTES_MAX = 256 * 1024;

export const IpcServerDefaults = {
  socketMode: 0o660,
  directoryMode: 0o755,
  clientsMax: 64,
  /**
   * Room for one CPG message of corosync's atomic size (1 MiB − 1 KiB) as hex plus the
   * JSON around it; a line is buffered only while it arrives, so idle clients cost nothing.
   */
  lineBytesMax: 2 * 1024 * 1024 + 64 * 1024,
  /** Output queued for a slow reader beyond which it is disconnected at once. */
  outputBytesMax: 64 * 1024 * 1024,
  /** Output queued beyond which a reader is disconnected if it stays so for slowConsumerGraceMs. */
  outputBytesStalledMax: 8 * 1024 * 1024,
  slowConsumerGraceMs: 10_000,
  /** How long the stale-socket probe waits for a connect before assuming a live peer. */
  probeTimeoutMs: 1000,
  /** How long a client being disconnected may take to read its final line. */
  closeGraceMs: 1000,
  cpgHandlesPerClient: 16,
  cmapTracksPerClient: 64,
  samRegistrationsPerClient: 16,
} as const;

export const IpcServerErrorCode = {
  /** Another process (presumably carillond) is listening on the socket path. */
  alreadyRunning: 'IPC_ALREADY_RUNNING',
  /** Something that is not a socket is at the socket path; it is left alone. */
  pathNotSocket: 'IPC_PATH_NOT_SOCKET',
  /** The directory, the probe, bind/listen or chmod failed. */
  listenFailed: 'IPC_LISTEN_FAILED',
} as const;
export type IpcServerErrorCode = (typeof IpcServerErrorCode)[keyof typeof IpcServerErrorCode];

/** Why the server could not start. */
export class IpcServerError extends Error {
  readonly code: IpcServerErrorCode;
  readonly socketPath: string;
  constructor(code: IpcServerErrorCode, socketPath: string, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'IpcServerError';
    this.code = code;
    this.socketPath = socketPath;
  }
}

/** The slice of a logger the server uses (winston's Logger satisfies it). */
export interface IpcServerLog {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

export const IpcDisconnectReason = {
  /** The client closed its end. */
  client: 'client',
  lineTooLong: 'lineTooLong',
  slowConsumer: 'slowConsumer',
  /** The socket failed (ECONNRESET, EPIPE ...). */
  socketError: 'socketError',
  /** The server is closing. */
  serverClose: 'serverClose',
} as const;
export type IpcDisconnectReason = (typeof IpcDisconnectReason)[keyof typeof IpcDisconnectReason];

export interface IpcClientClosedInfo {
  clientId: number;
  /** The name the client gave in hello, if any. */
  clientName: string | null;
  reason: IpcDisconnectReason;
}

export interface IpcServerOptions {
  socketPath: string;
  api: DaemonApi;
  /** The local nodeid hello reports; without it hello asks api.status(), so hello fails while status() does. */
  nodeId?: number;
  socketMode?: number;
  clientsMax?: number;
  lineBytesMax?: number;
  outputBytesMax?: number;
  outputBytesStalledMax?: number;
  slowConsumerGraceMs?: number;
  probeTimeoutMs?: number;
  closeGraceMs?: number;
  cpgHandlesPerClient?: number;
  cmapTracksPerClient?: number;
  samRegistrationsPerClient?: number;
  log?: IpcServerLog;
  /** Called once per accepted client when the server stops serving it. */
  onClientClosed?: (info: IpcClientClosedInfo) => void;
}

export interface IpcServerStats {
  /** Clients connected now (accepted, not yet disconnected). */
  clients: number;
  clientsAccepted: number;
  /** Connections refused with IPC_TOO_MANY_CLIENTS. */
  clientsRejected: number;
  /** Non-blank lines received, well-formed or not. */
  requests: number;
  notifications: number;
  /** Error lines sent (or due), per code. */
  errors: Record<string, number>;
  /** Accepted clients that are gone, in total and per reason. */
  disconnects: number;
  disconnectsByReason: Record<IpcDisconnectReason, number>;
  /** CPG handles and cmap tracks the connected clients hold now. */
  cpgHandles: number;
  cmapTracks: number;
}

type Settings = Required<Omit<IpcServerOptions, 'log' | 'onClientClosed' | 'nodeId'>> & { nodeId: number | null };

/** Serves one DaemonApi on one unix socket path; see the file header. */
export class IpcServer {
  readonly socketPath: string;
  private readonly settings: Settings;
  private readonly log: IpcServerLog | null;
  private readonly onClientClosed: ((info: IpcClientClosedInfo) => void) | null;
  private readonly server: net.Server;
  private readonly sessions = new Set<ClientSession>();
  /** Rejected connections still flushing their one error line. */
  private readonly rejected = new Set<net.Socket>();
  private readonly totemSubscribers = new Set<ClientSession>();
  private totemUnsubscribe: (() => void) | null = null;
  private nextClientId = 1;
  /** What sessions may do to the server; keeps those methods off the public class. */
  private readonly host: SessionHost = {
    countRequest: () => {
      this.counters.requests++;
    },
    countError: (code) => this.countError(code),
    sessionClosed: (session, reason) => this.sessionClosed(session, reason),
    subscribeTotem: (session) => this.subscribeTotem(session),
    unsubscribeTotem: (session) => this.unsubscribeTotem(session),
    countNotification: () => {
      this.counters.notifications++;
    },
    nextServiceId: () => this.nextServiceId++,
    warn: (message, meta) => this.log?.warn(message, meta),
  };
  /** Numbers of CPG handles and cmap tracks: unique per server, valid on their connection only. */
  private nextServiceId = 1;
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new';
  /** The inode of the socket we bound, so close() never unlinks someone else's. */
  private socketIno: number | null = null;
  private closed: Promise<void> | null = null;
  private readonly counters = {
    clientsAccepted: 0,
    clientsRejected: 0,
    requests: 0,
    notifications: 0,
    errors: {} as Record<string, number>,
    disconnects: 0,
    disconnectsByReason: { client: 0, lineTooLong: 0, slowConsumer: 0, socketError: 0, serverClose: 0 } as Record<IpcDisconnectReason, number>,
  };

  constructor(options: IpcServerOptions) {
    this.socketPath = options.socketPath;
    this.settings = {
      socketPath: options.socketPath,
      api: options.api,
      nodeId: options.nodeId ?? null,
      socketMode: options.socketMode ?? IpcServerDefaults.socketMode,
      clientsMax: options.clientsMax ?? IpcServerDefaults.clientsMax,
      lineBytesMax: options.lineBytesMax ?? IpcServerDefaults.lineBytesMax,
      outputBytesMax: options.outputBytesMax ?? IpcServerDefaults.outputBytesMax,
      outputBytesStalledMax: options.outputBytesStalledMax ?? IpcServerDefaults.outputBytesStalledMax,
      slowConsumerGraceMs: options.slowConsumerGraceMs ?? IpcServerDefaults.slowConsumerGraceMs,
      probeTimeoutMs: options.probeTimeoutMs ?? IpcServerDefaults.probeTimeoutMs,
      closeGraceMs: options.closeGraceMs ?? IpcServerDefaults.closeGraceMs,
      cpgHandlesPerClient: options.cpgHandlesPerClient ?? IpcServerDefaults.cpgHandlesPerClient,
      cmapTracksPerClient: options.cmapTracksPerClient ?? IpcServerDefaults.cmapTracksPerClient,
      samRegistrationsPerClient: options.samRegistrationsPerClient ?? IpcServerDefaults.samRegistrationsPerClient,
    };
    this.log = options.log ?? null;
    this.onClientClosed = options.onClientClosed ?? null;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /**
   * Creates the directory if needed, removes a stale socket file, binds and sets the
   * socket mode. Throws IpcServerError when another process listens on the path, when
   * the path is not a socket, or when any step fails.
   */
  async listen(): Promise<void> {
    assert(this.state === 'new', 'IpcServer.listen() may be called once');
    const socketPath = this.socketPath;
    await this.ensureDirectory(path.dirname(socketPath));
    await this.removeStaleSocket();
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const code = e.code === 'EADDRINUSE' ? IpcServerErrorCode.alreadyRunning : IpcServerErrorCode.listenFailed;
        reject(new IpcServerError(code, socketPath, `cannot listen on ${socketPath}: ${e.message}`, { cause: e }));
      };
      this.server.once('error', onError);
      this.server.listen(socketPath, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    // From here on, errors are logged, not thrown: the server is serving.
    this.server.on('error', (e) => this.log?.warn('ipc server error', { error: e.message }));
    this.state = 'listening';
    try {
      await fs.promises.chmod(socketPath, this.settings.socketMode);
      this.socketIno = (await fs.promises.lstat(socketPath)).ino;
    } catch (e) {
      await this.close();
      throw new IpcServerError(IpcServerErrorCode.listenFailed, socketPath, `cannot set the mode of ${socketPath}: ${errorMessage(e)}`, { cause: e });
    }
    this.log?.info('ipc server listening', { socket: socketPath, mode: this.settings.socketMode.toString(8) });
  }

  /** Stops accepting, ends every client (destroying those that do not finish within closeGraceMs) and unlinks the socket. */
  close(): Promise<void> {
    if (this.closed !== null) return this.closed;
    const wasListening = this.state === 'listening';
    this.state = 'closing';
    this.closed = (async () => {
      const serverClosed = wasListening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
      for (const session of [...this.sessions]) session.terminate(IpcDisconnectReason.serverClose, null);
      for (const socket of this.rejected) socket.destroy();
      await serverClosed;
      if (wasListening) await this.unlinkOwnSocket();
      this.state = 'closed';
    })();
    return this.closed;
  }

  /** True from a successful listen() until close() (readiness). */
  get listening(): boolean {
    return this.state === 'listening';
  }

  stats(): IpcServerStats {
    const c = this.counters;
    return {
      clients: this.sessions.size,
      clientsAccepted: c.clientsAccepted,
      clientsRejected: c.clientsRejected,
      requests: c.requests,
      notifications: c.notifications,
      errors: { ...c.errors },
      disconnects: c.disconnects,
      disconnectsByReason: { ...c.disconnectsByReason },
      cpgHandles: [...this.sessions].reduce((n, session) => n + session.cpgHandleCount, 0),
      cmapTracks: [...this.sessions].reduce((n, session) => n + session.cmapTrackCount, 0),
    };
  }

  private countError(code: IpcErrorCodeType): void {
    this.counters.errors[code] = (this.counters.errors[code] ?? 0) + 1;
  }

  private sessionClosed(session: ClientSession, reason: IpcDisconnectReason): void {
    if (!this.sessions.delete(session)) return;
    this.unsubscribeTotem(session);
    session.releaseServices();
    this.counters.disconnects++;
    this.counters.disconnectsByReason[reason]++;
    if (reason !== IpcDisconnectReason.client && reason !== IpcDisconnectReason.serverClose) {
      this.log?.warn('ipc client disconnected', { client: session.id, name: session.name, reason });
    }
    this.onClientClosed?.({ clientId: session.id, clientName: session.name, reason });
  }

  private subscribeTotem(session: ClientSession): void {
    this.totemSubscribers.add(session);
    // One daemon subscription for all clients: each event is encoded once.
    this.totemUnsubscribe ??= this.settings.api.subscribeTotem((event) => this.publishTotem(event));
  }

  private unsubscribeTotem(session: ClientSession): void {
    if (!this.totemSubscribers.delete(session) || this.totemSubscribers.size > 0) return;
    const unsubscribe = this.totemUnsubscribe;
    this.totemUnsubscribe = null;
    unsubscribe?.();
  }

  private publishTotem(event: TotemEventJson): void {
    // Called from inside the daemon: nothing may be thrown back into it.
    let line: string;
    try {
      line = encodeNotify(IpcTopics.totem, event);
    } catch (e) {
      this.countError(IpcErrorCode.internal);
      this.log?.warn('ipc: cannot encode a totem event', { error: errorMessage(e) });
      return;
    }
    for (const session of [...this.totemSubscribers]) {
      if (session.send(line)) this.counters.notifications++;
    }
  }

  private accept(socket: net.Socket): void {
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    if (this.sessions.size >= this.settings.clientsMax) {
      this.counters.clientsRejected++;
      this.countError(IpcErrorCode.tooManyClients);
      this.rejected.add(socket);
      const timer = setTimeout(() => socket.destroy(), this.settings.closeGraceMs);
      timer.unref();
      // The client may be gone already; its error only ends this rejection.
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        clearTimeout(timer);
        this.rejected.delete(socket);
      });
      socket.end(encodeError(null, IpcErrorCode.tooManyClients, `${IpcServerName} serves at most ${this.settings.clientsMax} clients at a time`));
      this.log?.warn('ipc client rejected: too many clients', { clientsMax: this.settings.clientsMax });
      return;
    }
    this.counters.clientsAccepted++;
    const session = new ClientSession(this.nextClientId++, socket, this.host, this.settings);
    this.sessions.add(session);
  }

  private async ensureDirectory(dir: string): Promise<void> {
    try {
      const created = await fs.promises.mkdir(dir, { recursive: true, mode: IpcServerDefaults.directoryMode });
      // mkdir's mode is filtered by the umask; the brief is 0755 exactly.
      if (created !== undefined) await fs.promises.chmod(dir, IpcServerDefaults.directoryMode);
    } catch (e) {
      throw new IpcServerError(IpcServerErrorCode.listenFailed, this.socketPath, `cannot create the socket directory ${dir}: ${errorMessage(e)}`, { cause: e });
    }
  }

  private async removeStaleSocket(): Promise<void> {
    const socketPath = this.socketPath;
    let stats: fs.Stats;
    try {
      stats = await fs.promises.lstat(socketPath);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      throw new IpcServerError(IpcServerErrorCode.listenFailed, socketPath, `cannot inspect ${socketPath}: ${errorMessage(e)}`, { cause: e });
    }
    if (!stats.isSocket()) {
      throw new IpcServerError(IpcServerErrorCode.pathNotSocket, socketPath, `${socketPath} exists and is not a socket; refusing to replace it (remove it or set carillon.ipc_socket)`);
    }
    const probe = await probeSocket(socketPath, this.settings.probeTimeoutMs);
    if (probe.kind === 'listening') {
      throw new IpcServerError(IpcServerErrorCode.alreadyRunning, socketPath, `another process is listening on ${socketPath} (is carillond already running? see systemctl status carillond)`);
    }
    if (probe.kind === 'gone') return;
    if (probe.kind === 'unknown') {
      throw new IpcServerError(IpcServerErrorCode.listenFailed, socketPath, `cannot tell whether ${socketPath} is in use: ${probe.detail}; refusing to remove it`);
    }
    try {
      await fs.promises.unlink(socketPath);
      this.log?.info('ipc: removed a stale socket', { socket: socketPath });
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') {
        throw new IpcServerError(IpcServerErrorCode.listenFailed, socketPath, `cannot remove the stale socket ${socketPath}: ${errorMessage(e)}`, { cause: e });
      }
    }
  }

  private async unlinkOwnSocket(): Promise<void> {
    try {
      const stats = await fs.promises.lstat(this.socketPath);
      if (!stats.isSocket() || (this.socketIno !== null && stats.ino !== this.socketIno)) return;
      await fs.promises.unlink(this.socketPath);
    } catch (e) {
      // libuv usually unlinks the socket when the server closes; gone is the goal.
      if (errnoOf(e) !== 'ENOENT') this.log?.warn('ipc: cannot unlink the socket', { socket: this.socketPath, error: errorMessage(e) });
    }
  }
}

interface SessionHost {
  countRequest(): void;
  countError(code: IpcErrorCodeType): void;
  sessionClosed(session: ClientSession, reason: IpcDisconnectReason): void;
  subscribeTotem(session: ClientSession): void;
  unsubscribeTotem(session: ClientSession): void;
  countNotification(): void;
  nextServiceId(): number;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/** One accepted connection: input framing, hello state, request dispatch, bounded output. */
class ClientSession {
  readonly id: number;
  name: string | null = null;
  private readonly socket: net.Socket;
  private readonly server: SessionHost;
  private readonly settings: Settings;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly reader: IpcStreamReader;
  private helloDone = false;
  /** hello negotiated `cpg-binary`: cpg.mcast may come as frames, deliveries go out as frames. */
  private binaryCpg = false;
  /** Group names of cpg-mcast frames, and of cpg-deliver frames. */
  private readonly mcastGroups = new GroupNameCodec();
  private readonly deliverGroups = new GroupNameCodec();
  /** Output waiting for the socket to drain: lines and frames. Node's own buffer holds at most about one write. */
  private queue: Array<string | Buffer> = [];
  /** Index of the first unwritten line in `queue` (shifting a long array is O(n)). */
  private queueHead = 0;
  private queuedBytes = 0;
  /** Since when the output waiting has been above outputBytesStalledMax, or null. */
  private stalledSinceMs: number | null = null;
  private flushScheduled = false;
  /** Per CPG handle: the seq of a pipelined mcast that was refused (see protocol.ts). */
  private readonly mcastRefusedSeq = new Map<number, number>();
  /** No more input is processed and no more output is queued. */
  private ended = false;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Topics whose pushes this connection asked for (totem is the server's business). */
  private readonly topics = new Set<IpcTopic>();
  private readonly cpgHandles = new Map<number, DaemonCpgHandle>();
  /** Track id -> stop function. */
  private readonly cmapTracks = new Map<number, () => void>();
  /** SAM registrations this connection made, by name. */
  private readonly samRegistrations = new Map<string, DaemonSamRegistration>();
  private quorumUnsubscribe: (() => void) | null = null;
  private released = false;

  constructor(id: number, socket: net.Socket, server: SessionHost, settings: Settings) {
    this.id = id;
    this.socket = socket;
    this.server = server;
    this.settings = settings;
    this.reader = new IpcStreamReader(settings.lineBytesMax, () => this.binaryCpg);
    const sink = {
      line: (bytes: Buffer): boolean => {
        this.onLine(bytes);
        return !this.ended;
      },
      frame: (type: number, body: Buffer): boolean => {
        this.onFrame(type, body);
        return !this.ended;
      },
      tooLong: (): void => this.lineTooLong(),
    };
    socket.on('data', (chunk: Buffer) => {
      if (!this.ended) this.reader.feed(chunk, sink);
    });
    socket.on('drain', () => this.flush());
    // ECONNRESET/EPIPE from a client that went away: the session ends, nothing else.
    socket.on('error', () => {
      this.ended = true;
      this.server.sessionClosed(this, IpcDisconnectReason.socketError);
      this.socket.destroy();
    });
    socket.on('close', () => {
      if (this.closeTimer !== null) clearTimeout(this.closeTimer);
      this.ended = true;
      this.server.sessionClosed(this, IpcDisconnectReason.client);
    });
  }

  /**
   * Queues one line or frame; false when the session is ending (or ends because of it).
   * Output is written in batches, one socket write per event-loop turn: a burst of
   * answers and deliveries (the packets of a token rotation, a chunk of pipelined
   * requests) costs one syscall instead of one each.
   */
  send(line: string | Buffer): boolean {
    if (this.ended) return false;
    const bytes = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
    const waiting = this.socket.writableLength + this.queuedBytes + bytes;
    let tooMuch: string | null = null;
    if (waiting > this.settings.outputBytesMax) tooMuch = `more than ${this.settings.outputBytesMax} bytes of output are waiting for this client`;
    else if (waiting > this.settings.outputBytesStalledMax) {
      const now = performance.now();
      this.stalledSinceMs ??= now;
      if (now - this.stalledSinceMs > this.settings.slowConsumerGraceMs) {
        tooMuch = `more than ${this.settings.outputBytesStalledMax} bytes of output have been waiting for this client for ${this.settings.slowConsumerGraceMs} ms`;
      }
    } else this.stalledSinceMs = null;
    if (tooMuch !== null) {
      this.server.countError(IpcErrorCode.slowConsumer);
      this.terminate(IpcDisconnectReason.slowConsumer, encodeError(null, IpcErrorCode.slowConsumer, `${tooMuch}; disconnecting it`));
      return false;
    }
    this.queue.push(line);
    this.queuedBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the poll phase: every datagram libuv read in this turn (up to 32 per
      // socket) has been processed by then, so their deliveries share one write.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return true;
  }

  get cpgHandleCount(): number {
    return this.cpgHandles.size;
  }

  get cmapTrackCount(): number {
    return this.cmapTracks.size;
  }

  /**
   * The connection is gone: stop its tracks and quorum subscription now, finalize its
   * CPG handles after the current call stack (see the file header). Idempotent.
   */
  releaseServices(): void {
    if (this.released) return;
    this.released = true;
    this.topics.clear();
    const tracks = [...this.cmapTracks.values()];
    this.cmapTracks.clear();
    for (const stop of tracks) this.safely('stop a cmap track', stop);
    const unsubscribe = this.quorumUnsubscribe;
    this.quorumUnsubscribe = null;
    if (unsubscribe !== null) this.safely('stop a quorum subscription', unsubscribe);
    const registrations = [...this.samRegistrations.values()];
    this.samRegistrations.clear();
    for (const registration of registrations) this.safely('fail a SAM registration', () => registration.connectionLost());
    const handles = [...this.cpgHandles.values()];
    this.cpgHandles.clear();
    if (handles.length === 0) return;
    queueMicrotask(() => {
      for (const handle of handles) this.safely('finalize a CPG handle', () => handle.finalize());
    });
  }

  private safely(what: string, action: () => void): void {
    try {
      action();
    } catch (e) {
      this.server.warn(`ipc: cannot ${what} of a closed connection`, { client: this.id, error: errorMessage(e) });
    }
  }

  /**
   * Stops serving the client: drops queued output, sends `finalLine` (if any) after what
   * the socket already holds, half-closes, and destroys the socket if the client has not
   * closed within closeGraceMs.
   */
  terminate(reason: IpcDisconnectReason, finalLine: string | null): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.reader.stop();
    this.server.sessionClosed(this, reason);
    if (finalLine === null) this.socket.end();
    else this.socket.end(finalLine);
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.settings.closeGraceMs);
    this.closeTimer.unref();
  }

  /** Writes queued output, at most WRITE_BATCH_BYTES_MAX per write, until the socket needs a drain. */
  private flush(): void {
    while (this.queueHead < this.queue.length && !this.socket.writableNeedDrain && !this.ended) {
      let end = this.queueHead;
      let bytes = 0;
      while (end < this.queue.length && (end === this.queueHead || bytes < WRITE_BATCH_BYTES_MAX)) {
        const item = this.queue[end] as string | Buffer;
        bytes += typeof item === 'string' ? Buffer.byteLength(item) : item.length;
        end += 1;
      }
      const batch = joinOutput(this.queue.slice(this.queueHead, end));
      this.queueHead = end;
      this.queuedBytes -= bytes;
      this.socket.write(batch);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private lineTooLong(): void {
    this.server.countRequest();
    this.server.countError(IpcErrorCode.lineTooLong);
    const message = `a request line (or frame) is limited to ${this.settings.lineBytesMax} bytes; disconnecting`;
    this.terminate(IpcDisconnectReason.lineTooLong, encodeError(null, IpcErrorCode.lineTooLong, message));
  }

  private onLine(bytes: Buffer): void {
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      this.server.countRequest();
      this.sendError(null, IpcErrorCode.parse, 'the line is not valid UTF-8');
      return;
    }
    // Blank lines (an operator pressing Enter in socat) are not requests.
    if (text.trim() === '') return;
    this.server.countRequest();
    const parsed = parseRequestLine(text.endsWith('\r') ? text.slice(0, -1) : text);
    if (!parsed.ok) {
      this.sendError(parsed.error.id, parsed.error.code, parsed.error.message);
      return;
    }
    const request = parsed.value;
    if (!this.helloDone && request.method !== IpcMethods.hello) {
      this.sendError(request.id, IpcErrorCode.helloRequired, `the first request must be hello { version: ${IpcProtocolVersion} }`);
      return;
    }
    try {
      this.dispatch(request);
    } catch (e) {
      if (isDaemonApiError(e)) this.sendError(request.id, e.code as IpcErrorCodeType, e.message);
      else this.sendError(request.id, IpcErrorCode.internal, `${request.method} failed: ${errorMessage(e)}`);
    }
  }

  /** A binary frame (only after hello turned cpg-binary on). */
  private onFrame(type: number, body: Buffer): void {
    this.server.countRequest();
    if (type !== FrameType.cpgMcast) {
      this.sendError(null, IpcErrorCode.badRequest, `frame type ${type} is not a request (a client sends cpg-mcast frames, type ${FrameType.cpgMcast})`);
      return;
    }
    const parsed = parseCpgMcastFrame(body);
    if (!parsed.ok) {
      this.sendError(parsed.error.id, IpcErrorCode.badParams, parsed.error.message);
      return;
    }
    const frame = parsed.value;
    const group = this.mcastGroups.decode(frame.groupBytes);
    if (group === null) {
      this.sendError(frame.id, IpcErrorCode.badParams, 'cpg-mcast: the group name is not valid UTF-8');
      return;
    }
    try {
      const result = this.cpgMcast(frame.handle, group, frame.payload, frame.seq);
      this.send(encodeCpgMcastResultFrame(frame.id, result));
    } catch (e) {
      if (isDaemonApiError(e)) this.sendError(frame.id, e.code as IpcErrorCodeType, e.message);
      else this.sendError(frame.id, IpcErrorCode.internal, `cpg.mcast failed: ${errorMessage(e)}`);
    }
  }

  /**
   * cpg.mcast, from a line or a frame: go-back-N for pipelined (seq) requests, see
   * protocol.ts. `payload` may be a view into the input; the CPG service copies it. A
   * daemon without services has no handles (and offers no frames), so cpgHandle() is the
   * only check needed here; the line path checked for services in dispatchService.
   */
  private cpgMcast(handleId: number, group: string, payload: Uint8Array, seq: number | undefined): CpgMcastResultName {
    const handle = this.cpgHandle(handleId);
    const refused = this.mcastRefusedSeq.get(handleId);
    // Go-back-N: a later message of a pipeline whose earlier one was refused.
    if (seq !== undefined && refused !== undefined && seq !== refused) return 'try-again';
    const result = handle.mcast(group, payload);
    if (seq !== undefined) {
      if (result === 'full' || result === 'try-again') this.mcastRefusedSeq.set(handleId, seq);
      else this.mcastRefusedSeq.delete(handleId);
    }
    return result;
  }

  private dispatch(request: IpcRequest): void {
    const api = this.settings.api;
    switch (request.method) {
      case IpcMethods.hello: {
        const nodeId = this.settings.nodeId ?? api.status().nodeId;
        const asked = request.params.features;
        if (asked === undefined) this.respond(request.id, request.method, { version: IpcProtocolVersion, server: IpcServerName, nodeId });
        else {
          // Frames only where they can be served: a daemon without services has no CPG.
          const features = asked.filter((f) => f === CPG_BINARY_FEATURE && api.services !== undefined);
          this.respond(request.id, request.method, { version: IpcProtocolVersion, server: IpcServerName, nodeId, features: [...new Set(features)] });
          this.binaryCpg = features.length > 0;
        }
        this.helloDone = true;
        this.name = request.params.client ?? null;
        return;
      }
      case IpcMethods.status:
        this.respond(request.id, request.method, api.status());
        return;
      case IpcMethods.totemSubmit: {
        const payload = hexToBytes(request.params.payloadHex);
        // parseRequestLine has checked the hex; null here is a programmer error.
        if (payload === null) throw new Error('payloadHex passed validation but does not decode');
        this.respond(request.id, request.method, { result: api.totemSubmit(payload) });
        return;
      }
      case IpcMethods.totemSubscribe:
        this.server.subscribeTotem(this);
        this.respond(request.id, request.method, { topic: IpcTopics.totem, subscribed: true });
        return;
      case IpcMethods.totemUnsubscribe:
        this.server.unsubscribeTotem(this);
        this.respond(request.id, request.method, { topic: IpcTopics.totem, subscribed: false });
        return;
      case IpcMethods.reload:
        api.reload().then(
          (result) => this.respond(request.id, IpcMethods.reload, result),
          (e: unknown) => this.sendError(request.id, IpcErrorCode.internal, `reload failed: ${errorMessage(e)}`),
        );
        return;
      case IpcMethods.ping:
        this.respond(request.id, request.method, { pong: true });
        return;
      case IpcMethods.bridgeStatus:
        this.respond(request.id, request.method, this.bridge(request.method).status());
        return;
      case IpcMethods.bridgePing:
        this.respond(request.id, request.method, this.bridge(request.method).ping());
        return;
      case IpcMethods.samRegister:
      case IpcMethods.samHeartbeat:
      case IpcMethods.samUnregister:
      case IpcMethods.samStatus:
      case IpcMethods.amfStart:
      case IpcMethods.amfStop:
        this.dispatchAmf(request);
        return;
      default:
        this.dispatchService(request);
        return;
    }
  }

  /** sam.* and amf.*: the availability manager; registrations belong to this connection. */
  private dispatchAmf(request: IpcRequest): void {
    const amf = this.amf(request.method);
    switch (request.method) {
      case IpcMethods.samRegister: {
        for (const [name, registration] of this.samRegistrations) if (!registration.isActive()) this.samRegistrations.delete(name);
        if (this.samRegistrations.size >= this.settings.samRegistrationsPerClient) {
          throw new DaemonApiError(IpcErrorCode.samTooMany, `a connection may hold at most ${this.settings.samRegistrationsPerClient} SAM registrations`);
        }
        const registration = amf.register(request.params);
        this.samRegistrations.set(registration.name, registration);
        this.respond(request.id, request.method, registration.status());
        return;
      }
      case IpcMethods.samHeartbeat:
        this.samRegistration(request.params.name).heartbeat();
        this.respond(request.id, request.method, { name: request.params.name, heartbeat: true });
        return;
      case IpcMethods.samUnregister:
        this.samRegistration(request.params.name).unregister();
        this.samRegistrations.delete(request.params.name);
        this.respond(request.id, request.method, { name: request.params.name, registered: false });
        return;
      case IpcMethods.samStatus:
        this.respond(request.id, request.method, amf.status());
        return;
      case IpcMethods.amfStart:
        this.respond(request.id, request.method, amf.start(request.params.name));
        return;
      case IpcMethods.amfStop:
        this.respond(request.id, request.method, amf.stop(request.params.name));
        return;
      default:
        throw new DaemonApiError(IpcErrorCode.unavailable, `${request.method}: not an availability manager method`);
    }
  }

  private amf(method: string): DaemonAmfApi {
    const amf = this.settings.api.amf;
    if (amf === undefined) throw new DaemonApiError(IpcErrorCode.unavailable, `${method}: this daemon runs no availability manager`);
    return amf;
  }

  private samRegistration(name: string): DaemonSamRegistration {
    const registration = this.samRegistrations.get(name);
    if (registration === undefined) throw new DaemonApiError(IpcErrorCode.samNotRegistered, `${name} is not registered on this connection (sam.register first)`);
    return registration;
  }

  /** The service methods (cpg.*, quorum.*, cmap.*); DaemonApiErrors become typed error lines. */
  private dispatchService(request: IpcRequest): void {
    const services = this.services(request.method);
    switch (request.method) {
      case IpcMethods.cpgSubscribe:
        this.topics.add(IpcTopics.cpg);
        this.respond(request.id, request.method, { topic: IpcTopics.cpg, subscribed: true });
        return;
      case IpcMethods.cpgUnsubscribe:
        this.topics.delete(IpcTopics.cpg);
        this.respond(request.id, request.method, { topic: IpcTopics.cpg, subscribed: false });
        return;
      case IpcMethods.cpgInitialize: {
        if (this.cpgHandles.size >= this.settings.cpgHandlesPerClient) {
          throw new DaemonApiError(IpcErrorCode.cpgTooManyHandles, `a connection may hold at most ${this.settings.cpgHandlesPerClient} CPG handles`);
        }
        const id = this.server.nextServiceId();
        const options = request.params.pid === undefined ? {} : { pid: request.params.pid };
        const handle = services.cpgInitialize(options, (event) => {
          if (this.topics.has(IpcTopics.cpg)) this.pushCpg(id, event);
        });
        this.cpgHandles.set(id, handle);
        this.respond(request.id, request.method, { handle: id, pid: handle.pid, nodeId: this.settings.nodeId ?? this.settings.api.status().nodeId });
        return;
      }
      case IpcMethods.cpgJoin:
        this.respond(request.id, request.method, { result: this.cpgHandle(request.params.handle).join(request.params.group) });
        return;
      case IpcMethods.cpgLeave:
        this.respond(request.id, request.method, { result: this.cpgHandle(request.params.handle).leave(request.params.group) });
        return;
      case IpcMethods.cpgMcast: {
        const payload = Buffer.from(request.params.payloadHex, 'hex');
        this.respond(request.id, request.method, { result: this.cpgMcast(request.params.handle, request.params.group, payload, request.params.seq) });
        return;
      }
      case IpcMethods.cpgFinalize: {
        const handle = this.cpgHandle(request.params.handle);
        this.cpgHandles.delete(request.params.handle);
        this.mcastRefusedSeq.delete(request.params.handle);
        handle.finalize();
        this.respond(request.id, request.method, { handle: request.params.handle, finalized: true });
        return;
      }
      case IpcMethods.cpgMembership:
        this.respond(request.id, request.method, { group: request.params.group, members: services.cpgMembership(request.params.group) });
        return;
      case IpcMethods.cpgGroups:
        this.respond(request.id, request.method, { groups: services.cpgGroups() });
        return;
      case IpcMethods.quorumSubscribe:
        // The answer first, then the current state as the first push.
        this.respond(request.id, request.method, { topic: IpcTopics.quorum, subscribed: true });
        this.quorumUnsubscribe ??= services.subscribeQuorum((event) => this.push(IpcTopics.quorum, event));
        return;
      case IpcMethods.quorumUnsubscribe: {
        const unsubscribe = this.quorumUnsubscribe;
        this.quorumUnsubscribe = null;
        unsubscribe?.();
        this.respond(request.id, request.method, { topic: IpcTopics.quorum, subscribed: false });
        return;
      }
      case IpcMethods.quorumStatus:
        this.respond(request.id, request.method, services.quorumStatus());
        return;
      case IpcMethods.quorumSetExpected:
        services.quorumSetExpected(request.params.votes);
        this.respond(request.id, request.method, { result: 'ok' });
        return;
      case IpcMethods.quorumSetVotes:
        services.quorumSetVotes(request.params.nodeId, request.params.votes);
        this.respond(request.id, request.method, { result: 'ok' });
        return;
      case IpcMethods.cmapSubscribe:
        this.topics.add(IpcTopics.cmap);
        this.respond(request.id, request.method, { topic: IpcTopics.cmap, subscribed: true });
        return;
      case IpcMethods.cmapUnsubscribe:
        this.topics.delete(IpcTopics.cmap);
        this.respond(request.id, request.method, { topic: IpcTopics.cmap, subscribed: false });
        return;
      case IpcMethods.cmapGet:
        this.respond(request.id, request.method, services.cmapGet(request.params.key));
        return;
      case IpcMethods.cmapSet:
        this.respond(request.id, request.method, services.cmapSet(request.params.key, request.params.type, request.params.value));
        return;
      case IpcMethods.cmapDelete:
        services.cmapDelete(request.params.key);
        this.respond(request.id, request.method, { key: request.params.key, deleted: true });
        return;
      case IpcMethods.cmapList:
        this.respond(request.id, request.method, { entries: services.cmapList(request.params.prefix ?? '') });
        return;
      case IpcMethods.cmapTrack: {
        if (this.cmapTracks.size >= this.settings.cmapTracksPerClient) {
          throw new DaemonApiError(IpcErrorCode.cmapTooManyTracks, `a connection may hold at most ${this.settings.cmapTracksPerClient} cmap tracks`);
        }
        const p = request.params;
        const id = this.server.nextServiceId();
        const flags = { prefix: p.prefix ?? false, add: p.add ?? false, modify: p.modify ?? false, delete: p.delete ?? false };
        const stop = services.cmapTrack(p.key, flags, (event) => {
          if (this.topics.has(IpcTopics.cmap)) this.push(IpcTopics.cmap, { trackId: id, ...event });
        });
        this.cmapTracks.set(id, stop);
        this.respond(request.id, request.method, { trackId: id });
        return;
      }
      case IpcMethods.cmapUntrack: {
        const stop = this.cmapTracks.get(request.params.trackId);
        if (stop === undefined) throw new DaemonApiError(IpcErrorCode.cmapBadHandle, `no cmap track ${request.params.trackId} on this connection`);
        this.cmapTracks.delete(request.params.trackId);
        stop();
        this.respond(request.id, request.method, { trackId: request.params.trackId, tracked: false });
        return;
      }
      default:
        throw new DaemonApiError(IpcErrorCode.unavailable, `${request.method}: this daemon does not serve it`);
    }
  }

  private services(method: string): DaemonServicesApi {
    const services = this.settings.api.services;
    if (services === undefined) throw new DaemonApiError(IpcErrorCode.unavailable, `${method}: this daemon runs no services`);
    return services;
  }

  private bridge(method: string): DaemonBridgeApi {
    const bridge = this.settings.api.bridge;
    if (bridge === undefined) {
      throw new DaemonApiError(IpcErrorCode.unavailable, `${method}: carillond runs no Asterisk bridge (set res_corosync_conf in the carillon { } section)`);
    }
    return bridge;
  }

  private cpgHandle(id: number): DaemonCpgHandle {
    const handle = this.cpgHandles.get(id);
    if (handle === undefined) throw new DaemonApiError(IpcErrorCode.cpgBadHandle, `no CPG handle ${id} on this connection`);
    return handle;
  }

  /** A CPG event of handle `id`: a delivery as a frame when negotiated, else a line with hex. */
  private pushCpg(id: number, event: CpgHandleEvent): void {
    if (event.event !== 'deliver') {
      this.push(IpcTopics.cpg, { handle: id, ...event });
      return;
    }
    if (!this.binaryCpg) {
      const { payload, ...rest } = event;
      this.push(IpcTopics.cpg, { handle: id, ...rest, payloadHex: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('hex') });
      return;
    }
    if (this.ended) return;
    let frame: Buffer;
    try {
      frame = encodeCpgDeliverFrame(id, event.nodeId, event.pid, this.deliverGroups.encode(event.group), event.payload);
    } catch (e) {
      this.server.countError(IpcErrorCode.internal);
      this.server.warn('ipc: cannot encode a cpg delivery', { error: errorMessage(e) });
      return;
    }
    if (this.send(frame)) this.server.countNotification();
  }

  /** A push of a service topic; called from inside the daemon, so it never throws. */
  private push<T extends IpcTopic>(topic: T, event: IpcTopicEventMap[T]): void {
    if (this.ended) return;
    let line: string;
    try {
      line = encodeNotify(topic, event);
    } catch (e) {
      this.server.countError(IpcErrorCode.internal);
      this.server.warn(`ipc: cannot encode a ${topic} event`, { error: errorMessage(e) });
      return;
    }
    if (this.send(line)) this.server.countNotification();
  }

  private respond<M extends IpcMethod>(id: number, method: M, result: IpcResultMap[M]): void {
    this.send(encodeResult(id, method, result));
  }

  private sendError(id: number | null, code: IpcErrorCodeType, message: string): void {
    this.server.countError(code);
    this.send(encodeError(id, code, message));
  }
}

type ProbeResult = { kind: 'listening' } | { kind: 'stale' } | { kind: 'gone' } | { kind: 'unknown'; detail: string };

/**
 * Connects to a unix socket once to learn whether a process is accepting on it:
 * ECONNREFUSED on an existing socket file means nobody is (a crashed daemon's file).
 */
function probeSocket(socketPath: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.createConnection(socketPath);
    const finish = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A connect that hangs means a live listener with a full backlog, not a stale file.
    const timer = setTimeout(() => finish({ kind: 'unknown', detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => finish({ kind: 'listening' }));
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') finish({ kind: 'stale' });
      else if (e.code === 'ENOENT') finish({ kind: 'gone' });
      else finish({ kind: 'unknown', detail: e.message });
    });
  });
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function errorMessage(e: unknown): string {
  // Not `instanceof Error`: errors can come from another realm (e.g. under jest).
  return typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
}
