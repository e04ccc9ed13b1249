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
  type HelloResult,
  type IpcErrorCode,
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
      const params = options.clientName === undefined ? { version: IpcProtocolVersion } : { version: IpcProtocolVersion, client: options.clientName };
      const hello = await connection.call(IpcMethods.hello, params, Math.max(1, deadline - Date.now()));
      if (!isHelloResult(hello)) {
        throw new IpcClientError(IpcClientErrorCode.protocol, socketPath, `${socketPath}: the server's hello answer is not carillond protocol version ${IpcProtocolVersion}`);
      }
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
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private outgoing: string[] = [];
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
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
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
    if (this.isEnded) {
      return Promise.reject(this.closeReason ?? new IpcClientError(IpcClientErrorCode.closed, this.socketPath, `${this.socketPath}: the connection is closed`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcClientError(IpcClientErrorCode.timeout, this.socketPath, `${this.socketPath}: ${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.write(encodeRequest(id, method, params as IpcParamsMap[IpcMethod] | undefined));
    });
  }

  /** Requests made in one turn go out in one socket write (pipelined calls, one syscall). */
  private write(line: string): void {
    this.outgoing.push(line);
    if (this.outgoing.length > 1) return;
    queueMicrotask(() => {
      const lines = this.outgoing;
      this.outgoing = [];
      if (!this.isEnded) this.socket.write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
    });
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
    if (this.outgoing.length > 0) this.socket.write(this.outgoing.join(''));
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

  private onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, start);
      if (newline === -1) break;
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      const line = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      this.onLine(line.toString('utf8'));
      if (this.isEnded) return;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    this.partialBytes += rest.length;
    if (this.partialBytes > IpcClientDefaults.lineBytesMax) {
      this.fail(new IpcClientError(IpcClientErrorCode.protocol, this.socketPath, `${this.socketPath}: the server sent a line longer than ${IpcClientDefaults.lineBytesMax} bytes`));
      return;
    }
    this.partial.push(rest);
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
