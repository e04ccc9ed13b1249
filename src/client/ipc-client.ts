// Client of carillond's IPC socket (architecture.md §2.8, §2.11), used by the
// `carillon` CLI and importable by other Node programs (test harnesses, bridges):
//
//   const client = await IpcClient.connect('/run/carillon/carillon.sock', { timeoutMs: 5000 });
//   const status = await client.call('status');
//   const stop = await client.subscribe('totem', (event) => console.log(event));
//   await client.close();
//
// connect() performs the protocol's hello, so a connected client has a server that
// speaks protocol version 1. Failures are IpcClientError with a stable `code`: the
// client-side IPC_UNREACHABLE (with the errno and the path), IPC_TIMEOUT, IPC_CLOSED,
// IPC_PROTOCOL, or the server's own error code passed through (src/ipc/protocol.ts).

import * as net from 'node:net';
import {
  CPG_BINARY_FEATURE,
  FrameType,
  GroupNameCodec,
  IpcStreamReader,
  encodeCpgMcastFrame,
  joinOutput,
  parseCpgDeliverFrame,
  parseCpgMcastResultFrame,
} from '../ipc/binary-frames';
import type { CpgEventJson, CpgMcastResultName } from '../ipc/daemon-api';
import {
  type HelloResult,
  IpcErrorCode,
  type IpcMethod,
  type IpcParamsMap,
  type IpcResultMap,
  type IpcTopic,
  type IpcTopicEventMap,
  IpcMethods,
  IpcProtocolVersion,
  encodeRequest,
  parseServerLine,
} from '../ipc/protocol';

export const IpcClientErrorCode = {
  /** The socket cannot be reached (ENOENT, ECONNREFUSED, EACCES ...); see `errno`. */
  unreachable: 'IPC_UNREACHABLE',
  /** Connecting or a call took longer than its timeout. */
  timeout: 'IPC_TIMEOUT',
  /** The connection closed (by either side) before the answer came. */
  closed: 'IPC_CLOSED',
  /** The server sent something that is not protocol version 1. */
  protocol: 'IPC_PROTOCOL',
} as const;
export type IpcClientErrorCode = (typeof IpcClientErrorCode)[keyof typeof IpcClientErrorCode];

/** Why a connect or a call failed. `code` is a client code or a server IpcErrorCode. */
export class IpcClientError extends Error {
  readonly code: IpcClientErrorCode | IpcErrorCode;
  readonly socketPath: string;
  /** For IPC_UNREACHABLE: the errno (ENOENT, ECONNREFUSED, EACCES, ...). */
  readonly errno: string | null;
  constructor(code: IpcClientErrorCode | IpcErrorCode, socketPath: string, message: string, options?: { errno?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IpcClientError';
    this.code = code;
    this.socketPath = socketPath;
    this.errno = options?.errno ?? null;
  }
}

export const IpcClientDefaults = {
  timeoutMs: 5000,
  /** Longest line accepted from the server (a status with a large nodelist fits easily). */
  lineBytesMax: 16 * 1024 * 1024,
} as const;

export interface IpcConnectOptions {
  /** Bounds connect + hello, and is the default per-call timeout. */
  timeoutMs?: number;
  /** Sent in hello for the daemon's logs. */
  clientName?: string;
  /**
   * Ask for binary CPG frames (src/ipc/binary-frames.ts): cpgMcast() sends frames and
   * deliveries arrive as frames (to onCpgDeliver listeners, or converted for 'cpg'
   * subscribers when there are none). Default false; a server without the feature
   * simply leaves it off.
   */
  binaryCpg?: boolean;
}

/** A CPG delivery as a binary frame brings it. */
export interface IpcCpgDelivery {
  handle: number;
  group: string;
  nodeId: number;
  pid: number;
  /** The message; this buffer belongs to the listener. */
  payload: Buffer;
}

/** What cpgMcast() sends. */
export interface CpgMcastRequest {
  handle: number;
  group: string;
  payload: Uint8Array;
  /** The pipelining number (see cpg.mcast in protocol.ts). */
  seq?: number;
}

export interface IpcCallOptions {
  timeoutMs?: number;
}

/** Methods callable through call(): hello is connect()'s business. */
export type IpcCallMethod = Exclude<IpcMethod, typeof IpcMethods.hello>;

/** call()'s arguments after the method: params may be left out when they are all optional. */
export type IpcCallArgs<M extends IpcCallMethod> =
  Record<string, never> extends IpcParamsMap[M] ? [params?: IpcParamsMap[M], options?: IpcCallOptions] : [params: IpcParamsMap[M], options?: IpcCallOptions];

interface PendingCall {
  resolve(result: unknown): void;
  reject(error: IpcClientError): void;
  timer: NodeJS.Timeout;
}

const unreachableHints: Record<string, string> = {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused: nothing is listening',
  EACCES: 'permission denied',
  ENOTSOCK: 'not a socket',
  ENOTDIR: 'a path component is not a directory',
};

/** A connection to carillond that has completed hello; see the file header. */
export class IpcClient {
  readonly socketPath: string;
  /** The server's hello answer. */
  readonly server: HelloResult;
  /** Resolves once the connection is closed, with the reason (null for close()). */
  readonly closed: Promise<IpcClientError | null>;
  private readonly connection: Connection;

  private constructor(connection: Connection, server: HelloResult) {
    this.connection = connection;
    this.socketPath = connection.socketPath;
    this.server = server;
    this.closed = connection.closed;
  }

  /** Connects and performs hello within options.timeoutMs. */
  static async connect(socketPath: string, options: IpcConnectOptions = {}): Promise<IpcClient> {
    const timeoutMs = options.timeoutMs ?? IpcClientDefaults.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const connection = await Connection.open(socketPath, timeoutMs);
    try {
      const params = {
        version: IpcProtocolVersion,
        ...(options.clientName === undefined ? {} : { client: options.clientName }),
        ...(options.binaryCpg === true ? { features: [CPG_BINARY_FEATURE] } : {}),
      };
      const hello = await connection.call(IpcMethods.hello, params, Math.max(1, deadline - Date.now()));
      if (!isHelloResult(hello)) {
        throw new IpcClientError(IpcClientErrorCode.protocol, socketPath, `${socketPath}: the server's hello answer is not carillond protocol version ${IpcProtocolVersion}`);
      }
      if (options.binaryCpg === true && hello.features?.includes(CPG_BINARY_FEATURE) === true) connection.enableBinaryCpg();
      return new IpcClient(connection, hello);
    } catch (e) {
      connection.close();
      throw e;
    }
  }

  /** Calls a method; rejects with IpcClientError (server codes passed through). */
  call<M extends IpcCallMethod>(method: M, ...args: IpcCallArgs<M>): Promise<IpcResultMap[M]> {
    const [params, options] = args;
    const timeoutMs = options?.timeoutMs ?? this.connection.timeoutMs;
    // The protocol guarantees the shape for a well-behaved server; results are not re-validated.
    return this.connection.call(method, params, timeoutMs) as Promise<IpcResultMap[M]>;
  }

  /** True when hello turned binary CPG frames on for this connection. */
  get binaryCpg(): boolean {
    return this.connection.binaryCpg;
  }

  /** cpg.mcast: as a frame when binaryCpg, else as a JSON line with hex. Resolves with the daemon's answer. */
  async cpgMcast(request: CpgMcastRequest, options?: IpcCallOptions): Promise<CpgMcastResultName> {
    const timeoutMs = options?.timeoutMs ?? this.connection.timeoutMs;
    if (this.connection.binaryCpg) return this.connection.callMcastFrame(request, timeoutMs);
    const { payload, ...rest } = request;
    const payloadHex = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('hex');
    const answer = (await this.connection.call(IpcMethods.cpgMcast, { ...rest, payloadHex }, timeoutMs)) as IpcResultMap['cpg.mcast'];
    return answer.result;
  }

  /** Listens to deliveries that come as binary frames; returns the function that stops it. */
  onCpgDeliver(listener: (event: IpcCpgDelivery) => void): () => void {
    this.connection.deliverListeners.add(listener);
    return () => {
      this.connection.deliverListeners.delete(listener);
    };
  }

  /**
   * Subscribes to a topic; the listener is registered before the request is sent, so no
   * event after the server's acknowledgement is missed. Resolves to an unsubscribe
   * function (which asks the server to stop when the last local listener goes).
   */
  async subscribe<T extends IpcTopic>(topic: T, listener: (event: IpcTopicEventMap[T]) => void): Promise<() => Promise<void>> {
    const first = this.connection.addListener(topic, listener as (event: unknown) => void);
    try {
      if (first) await this.connection.call(`${topic}.subscribe`, undefined, this.connection.timeoutMs);
    } catch (e) {
      this.connection.removeListener(topic, listener as (event: unknown) => void);
      throw e;
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      const last = this.connection.removeListener(topic, listener as (event: unknown) => void);
      if (last && !this.connection.isClosed()) await this.connection.call(`${topic}.unsubscribe`, undefined, this.connection.timeoutMs);
    };
  }

  /** Closes the connection; pending calls fail with IPC_CLOSED. */
  async close(): Promise<void> {
    this.connection.close();
    await this.closed;
  }
}

function isHelloResult(value: unknown): value is HelloResult {
  if (typeof value !== 'object' || value === null) return false;
  const hello = value as Record<string, unknown>;
  return hello['version'] === IpcProtocolVersion && hello['server'] === 'carillond' && typeof hello['nodeId'] === 'number';
}

/** The socket, NDJSON framing and request/response matching under IpcClient. */
class Connection {
  readonly socketPath: string;
  readonly timeoutMs: number;
  readonly closed: Promise<IpcClientError | null>;
  private readonly socket: net.Socket;
  private readonly pending = new Map<number, PendingCall>();
  private readonly listeners = new Map<string, Set<(event: unknown) => void>>();
  private nextId = 1;
  private readonly reader: IpcStreamReader;
  /** Output of this turn: lines and frames, written together. */
  private outgoing: Array<string | Buffer> = [];
  /** Set once hello negotiated cpg-binary. */
  binaryCpg = false;
  readonly deliverListeners = new Set<(event: IpcCpgDelivery) => void>();
  private readonly mcastGroups = new GroupNameCodec();
  private readonly deliverGroups = new GroupNameCodec();
  /** The first reason the connection ended; null while open or after close(). */
  private closeReason: IpcClientError | null = null;
  private isEnded = false;
  private resolveClosed: (reason: IpcClientError | null) => void = () => undefined;

  private constructor(socket: net.Socket, socketPath: string, timeoutMs: number) {
    this.socket = socket;
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.reader = new IpcStreamReader(IpcClientDefaults.lineBytesMax, () => this.binaryCpg);
    const sink = {
      line: (bytes: Buffer): boolean => {
        this.onLine(bytes.toString('utf8'));
        return !this.isEnded;
      },
      frame: (type: number, body: Buffer): boolean => {
        this.onFrame(type, body);
        return !this.isEnded;
      },
      tooLong: (bytes: number): void =>
        this.fail(new IpcClientError(IpcClientErrorCode.protocol, socketPath, `${socketPath}: the server sent a line or frame of ${bytes} bytes, more than ${IpcClientDefaults.lineBytesMax}`)),
    };
    socket.on('data', (chunk: Buffer) => {
      if (!this.isEnded) this.reader.feed(chunk, sink);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.fail(new IpcClientError(IpcClientErrorCode.closed, socketPath, `${socketPath}: connection failed: ${e.message}`, { cause: e }));
    });
    socket.on('close', () => {
      this.fail(new IpcClientError(IpcClientErrorCode.closed, socketPath, `${socketPath}: carillond closed the connection`));
    });
  }

  static open(socketPath: string, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new IpcClientError(IpcClientErrorCode.timeout, socketPath, `${socketPath}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (e: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        const errno = e.code ?? 'EUNKNOWN';
        const hint = unreachableHints[errno] ?? e.message;
        reject(new IpcClientError(IpcClientErrorCode.unreachable, socketPath, `cannot connect to ${socketPath}: ${hint} (${errno})`, { errno, cause: e }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket, socketPath, timeoutMs));
      });
    });
  }

  isClosed(): boolean {
    return this.isEnded;
  }

  call(method: IpcMethod, params: object | undefined, timeoutMs: number): Promise<unknown> {
    return this.request(method, timeoutMs, (id) => encodeRequest(id, method, params as IpcParamsMap[IpcMethod] | undefined));
  }

  /** cpg.mcast as a frame (binaryCpg only). */
  callMcastFrame(request: CpgMcastRequest, timeoutMs: number): Promise<CpgMcastResultName> {
    const groupBytes = this.mcastGroups.encode(request.group);
    // Checked here so that a bad name is the caller's error, not a broken frame.
    if (groupBytes.length < 1 || groupBytes.length > 128) {
      return Promise.reject(new IpcClientError(IpcErrorCode.badParams, this.socketPath, `cpg.mcast: a group name has 1..128 bytes, got ${groupBytes.length}`));
    }
    return this.request(IpcMethods.cpgMcast, timeoutMs, (id) => encodeCpgMcastFrame(id, request.handle, groupBytes, request.payload, request.seq)) as Promise<CpgMcastResultName>;
  }

  private request(method: IpcMethod, timeoutMs: number, encode: (id: number) => string | Buffer): Promise<unknown> {
    if (this.isEnded) {
      return Promise.reject(this.closeReason ?? new IpcClientError(IpcClientErrorCode.closed, this.socketPath, `${this.socketPath}: the connection is closed`));
    }
    const id = this.nextId;
    // Ids stay u32 (frames carry them in 32 bits); after 2^32 - 1 requests they start again at 1.
    this.nextId = id === 0xffffffff ? 1 : id + 1;
    let output: string | Buffer;
    try {
      output = encode(id);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcClientError(IpcClientErrorCode.timeout, this.socketPath, `${this.socketPath}: ${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write(output);
    });
  }

  /** Requests made in one turn go out in one socket write (pipelined calls, one syscall). */
  private write(item: string | Buffer): void {
    this.outgoing.push(item);
    if (this.outgoing.length > 1) return;
    queueMicrotask(() => {
      const items = this.outgoing;
      this.outgoing = [];
      if (!this.isEnded) this.socket.write(joinOutput(items));
    });
  }

  enableBinaryCpg(): void {
    this.binaryCpg = true;
  }

  /** True when this is the topic's first listener. */
  addListener(topic: string, listener: (event: unknown) => void): boolean {
    let set = this.listeners.get(topic);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    set.add(listener);
    return set.size === 1;
  }

  /** True when this was the topic's last listener. */
  removeListener(topic: string, listener: (event: unknown) => void): boolean {
    const set = this.listeners.get(topic);
    if (set === undefined || !set.delete(listener)) return false;
    if (set.size > 0) return false;
    this.listeners.delete(topic);
    return true;
  }

  close(): void {
    if (this.isEnded) return;
    for (const item of this.outgoing) this.socket.write(item);
    this.outgoing = [];
    this.finish(null, new IpcClientError(IpcClientErrorCode.closed, this.socketPath, `${this.socketPath}: the connection was closed by the client`));
    this.socket.end();
    // A server that never reads our FIN must not keep the process alive.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private fail(reason: IpcClientError): void {
    if (this.isEnded) return;
    this.finish(reason, reason);
    this.socket.destroy();
  }

  /** Ends the connection once: rejects pending calls with `pendingError`, resolves `closed` with `reason`. */
  private finish(reason: IpcClientError | null, pendingError: IpcClientError): void {
    this.isEnded = true;
    this.closeReason = reason ?? pendingError;
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(pendingError);
    }
    this.pending.clear();
    this.resolveClosed(reason);
  }

  private onFrame(type: number, body: Buffer): void {
    if (type === FrameType.cpgMcastResult) {
      const parsed = parseCpgMcastResultFrame(body);
      if (!parsed.ok) {
        this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: ${parsed.error}`));
        return;
      }
      const { id, result } = parsed.value;
      this.settle(id, (call) => call.resolve(result));
      return;
    }
    if (type !== FrameType.cpgDeliver) {
      this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: the server sent a frame of unknown type ${type}`));
      return;
    }
    const parsed = parseCpgDeliverFrame(body);
    if (!parsed.ok) {
      this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: ${parsed.error}`));
      return;
    }
    const frame = parsed.value;
    const group = this.deliverGroups.decode(frame.groupBytes);
    if (group === null) {
      this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: a delivery's group name is not UTF-8`));
      return;
    }
    // A copy: the body is a view into a socket chunk.
    const payload = Buffer.from(frame.payload);
    if (this.deliverListeners.size > 0) {
      const event: IpcCpgDelivery = { handle: frame.handle, group, nodeId: frame.nodeId, pid: frame.pid, payload };
      for (const listener of [...this.deliverListeners]) listener(event);
      return;
    }
    const event: CpgEventJson = { handle: frame.handle, event: 'deliver', group, nodeId: frame.nodeId, pid: frame.pid, payloadHex: payload.toString('hex') };
    for (const listener of [...(this.listeners.get('cpg') ?? [])]) listener(event);
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const parsed = parseServerLine(line);
    if (!parsed.ok) {
      this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: ${parsed.error}`));
      return;
    }
    const frame = parsed.value;
    switch (frame.kind) {
      case 'notify':
        for (const listener of [...(this.listeners.get(frame.topic) ?? [])]) listener(frame.event);
        return;
      case 'result':
        this.settle(frame.id, (call) => call.resolve(frame.result));
        return;
      case 'error': {
        const error = new IpcClientError(frame.error.code as IpcErrorCode, this.socketPath, frame.error.message);
        // id null: a connection-level error (slow consumer, too many clients, line too
        // long) that precedes the server closing; it becomes the close reason.
        if (frame.id === null) this.fail(error);
        else this.settle(frame.id, (call) => call.reject(error));
        return;
      }
    }
  }

  private settle(id: number, action: (call: PendingCall) => void): void {
    const call = this.pending.get(id);
    // An answer after its timeout is dropped, as the caller has moved on.
    if (call === undefined) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    action(call);
  }
}
