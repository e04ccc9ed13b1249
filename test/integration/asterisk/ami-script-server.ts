// A tiny scripted AMI server for the AmiClient integration tests (not a test file, and
// not the full fake Asterisk of fake-asterisk*.ts). It answers like the real Asterisk 20
// transcripts in /work/shared/fixtures/asterisk/ami/ (asterisk-groundtruth.md §2): the
// banner line, Login (`Authentication accepted` then the per-session FullyBooted, or
// `Authentication failed` after a delay and a close), `Permission denied` before login,
// Ping, DeviceStateList (response, items with the ActionID, `…Complete`), Logoff
// (Goodbye, then close), unknown actions. A test replaces or adds behaviour per action
// through `handlers`, inspects what each connection sent, and drops connections at will.
// Every wait is bounded; close() destroys every socket.

import * as net from 'node:net';
import { AmiMessage, type AmiHeader } from '../../../src/asterisk/ami/ami-message';
import { AmiParser } from '../../../src/asterisk/ami/ami-parser';

export type AmiActionHandler = (connection: AmiScriptConnection, action: AmiMessage) => void;

export interface AmiScriptServerOptions {
  /** The first line sent; default `Asterisk Call Manager/9.0.0`. null: send nothing. */
  readonly banner?: string | null;
  readonly username?: string;
  readonly secret?: string;
  /** Delay before `Authentication failed` (the real one takes about 1 s). */
  readonly loginFailDelayMs?: number;
  /** Send the per-session FullyBooted after a successful login (default true). */
  readonly fullyBooted?: boolean;
}

/** Rejects after timeoutMs unless `register` resolves first; `register` returns its cleanup. */
export function waitFor<T>(what: string, timeoutMs: number, register: (resolve: (value: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: (() => void) | null = null;
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      cleanup?.();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    cleanup = register((value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // register may resolve synchronously, before it returned its cleanup.
      queueMicrotask(() => cleanup?.());
      resolve(value);
    });
  });
}

/** One client connection as the server sees it. */
export class AmiScriptConnection {
  readonly socket: net.Socket;
  /** Every action received, in order. */
  readonly actions: AmiMessage[] = [];
  loggedIn = false;
  /** The Events header of the Login (undefined when absent). */
  eventMask: string | undefined;
  readonly closed: Promise<void>;
  /** performance.now() at accept, for the backoff test. */
  readonly acceptedAtMs = performance.now();
  private readonly parser = new AmiParser({ expectBanner: false });
  private readonly actionWaiters = new Set<(action: AmiMessage) => void>();

  constructor(socket: net.Socket, onAction: (connection: AmiScriptConnection, action: AmiMessage) => void) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined); // A client reset is part of the tests; close follows.
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.parser.push(chunk)) {
        if (item.kind !== 'message') continue;
        this.actions.push(item.message);
        for (const waiter of [...this.actionWaiters]) waiter(item.message);
        onAction(this, item.message);
      }
    });
  }

  /** Writes one message from header pairs. */
  send(headers: readonly AmiHeader[]): void {
    if (!this.socket.destroyed) this.socket.write(new AmiMessage(headers).toString());
  }

  /** Answers an action: Response, its ActionID if it had one, then the fields. */
  reply(action: AmiMessage, response: string, fields: readonly AmiHeader[] = []): void {
    const id = action.actionId;
    this.send([['Response', response], ...(id === undefined ? [] : [['ActionID', id] as const]), ...fields]);
  }

  sendRaw(data: string | Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Closes politely (FIN). */
  end(): void {
    this.socket.end();
  }

  /** Drops the connection at once (a crash, a cable pulled). */
  destroy(): void {
    this.socket.destroy();
  }

  /** The first action named `name` (case-insensitive) already received or still to come. */
  waitAction(name: string, timeoutMs = 2000): Promise<AmiMessage> {
    const matches = (action: AmiMessage): boolean => action.get('Action')?.toLowerCase() === name.toLowerCase();
    return waitFor(`action ${name}`, timeoutMs, (resolve) => {
      const seen = this.actions.find(matches);
      if (seen !== undefined) {
        resolve(seen);
        return () => undefined;
      }
      const waiter = (action: AmiMessage): void => {
        if (matches(action)) resolve(action);
      };
      this.actionWaiters.add(waiter);
      return () => this.actionWaiters.delete(waiter);
    });
  }
}

export class AmiScriptServer {
  readonly server: net.Server;
  readonly connections: AmiScriptConnection[] = [];
  /** Per action, lower-case name: replaces the default behaviour. */
  readonly handlers = new Map<string, AmiActionHandler>();
  /** Devices listed by DeviceStateList. */
  devices: Array<[device: string, state: string]> = [['Custom:bob', 'NOT_INUSE'], ['Custom:carol', 'NOT_INUSE'], ['Custom:alice', 'NOT_INUSE']];
  /** Mutable: a test "fixes manager.conf" by setting the right secret. */
  secret: string;
  banner: string | null;
  readonly username: string;
  readonly loginFailDelayMs: number;
  readonly fullyBooted: boolean;
  private readonly connectionWaiters = new Set<(connection: AmiScriptConnection) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(server: net.Server, options: AmiScriptServerOptions) {
    this.server = server;
    this.banner = options.banner === undefined ? 'Asterisk Call Manager/9.0.0' : options.banner;
    this.username = options.username ?? 'admin';
    this.secret = options.secret ?? 'amipass';
    this.loginFailDelayMs = options.loginFailDelayMs ?? 20;
    this.fullyBooted = options.fullyBooted ?? true;
  }

  static async start(options: AmiScriptServerOptions = {}): Promise<AmiScriptServer> {
    const server = net.createServer();
    const script = new AmiScriptServer(server, options);
    server.on('connection', (socket) => script.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return script;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return address.port;
  }

  /** The n-th connection (0-based), already made or still to come. */
  connection(index: number, timeoutMs = 2000): Promise<AmiScriptConnection> {
    return waitFor(`connection #${index}`, timeoutMs, (resolve) => {
      const existing = this.connections[index];
      if (existing !== undefined) {
        resolve(existing);
        return () => undefined;
      }
      const waiter = (): void => {
        const made = this.connections[index];
        if (made !== undefined) resolve(made);
      };
      this.connectionWaiters.add(waiter);
      return () => this.connectionWaiters.delete(waiter);
    });
  }

  /** Sends an event to every logged-in connection. */
  broadcast(headers: readonly AmiHeader[]): void {
    for (const connection of this.connections) if (connection.loggedIn) connection.send(headers);
  }

  /** A timer that close() cancels. */
  later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delayMs);
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const connection of this.connections) connection.destroy();
    await Promise.all(this.connections.map((connection) => connection.closed));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const connection = new AmiScriptConnection(socket, (c, action) => this.onAction(c, action));
    this.connections.push(connection);
    if (this.banner !== null) socket.write(`${this.banner}\r\n`);
    for (const waiter of [...this.connectionWaiters]) waiter(connection);
  }

  private onAction(connection: AmiScriptConnection, action: AmiMessage): void {
    const name = (action.get('Action') ?? '').toLowerCase();
    const handler = this.handlers.get(name);
    if (handler !== undefined) {
      handler(connection, action);
      return;
    }
    if (name === 'login') {
      this.login(connection, action);
      return;
    }
    if (name === 'logoff') {
      connection.reply(action, 'Goodbye', [['Message', 'Thanks for all the fish.']]);
      connection.end();
      return;
    }
    if (!connection.loggedIn) {
      connection.reply(action, 'Error', [['Message', 'Permission denied']]);
      return;
    }
    switch (name) {
      case 'ping':
        connection.reply(action, 'Success', [['Ping', 'Pong'], ['Timestamp', '1795292503.269680']]);
        return;
      case 'devicestatelist':
        this.deviceStateList(connection, action);
        return;
      default:
        connection.reply(action, 'Error', [['Message', `Invalid/unknown command: ${action.get('Action') ?? ''}. Use Action: ListCommands to show available commands.`]]);
    }
  }

  private login(connection: AmiScriptConnection, action: AmiMessage): void {
    if (action.get('Username') !== this.username || action.get('Secret') !== this.secret) {
      this.later(this.loginFailDelayMs, () => {
        connection.reply(action, 'Error', [['Message', 'Authentication failed']]);
        connection.end();
      });
      return;
    }
    connection.loggedIn = true;
    connection.eventMask = action.get('Events');
    connection.reply(action, 'Success', [['Message', 'Authentication accepted']]);
    if (this.fullyBooted && connection.eventMask?.toLowerCase() !== 'off') {
      connection.send([['Event', 'FullyBooted'], ['Privilege', 'system,all'], ['Uptime', '35'], ['LastReload', '35'], ['Status', 'Fully Booted']]);
    }
  }

  private deviceStateList(connection: AmiScriptConnection, action: AmiMessage): void {
    const id: readonly AmiHeader[] = action.actionId === undefined ? [] : [['ActionID', action.actionId]];
    connection.reply(action, 'Success', [['EventList', 'start'], ['Message', 'Device State Changes will follow']]);
    for (const [device, state] of this.devices) {
      connection.send([['Event', 'DeviceStateChange'], ...id, ['Device', device], ['State', state]]);
    }
    connection.send([['Event', 'DeviceStateListComplete'], ...id, ['EventList', 'Complete'], ['ListItems', String(this.devices.length)]]);
  }
}
