// A small typed Asterisk Manager Interface client over node:net (res-corosync.md §2.1,
// §2.3; asterisk-groundtruth.md §2). It replaces the npm asterisk-manager package, whose
// faults (res-corosync.md §4) it avoids on purpose: the login header is `Events` (never
// `Event`), no error is swallowed (socket errors are logged and emitted), every action has
// a timeout that removes its pending entry, and nothing registers per-action listeners.
//
//   const client = new AmiClient(settings, { logger, eventMask: 'call,system' });
//   client.on('connected', ({ amiVersion }) => resync());
//   client.on('event', (message) => { if (message.event === 'DeviceStateChange') … });
//   client.start();
//   const reply = await client.action('Setvar', [['Variable', 'DEVICE_STATE(Custom:x)'], ['Value', 'INUSE']]);
//   const list = await client.actionList('DeviceStateList');
//   await client.stop();
//
// Event API: on(name, listener) returns an unsubscribe function; off(name, listener) does
// the same. The names and payloads are AmiClientEvents. Unlike a Node EventEmitter, an
// 'error' with no listener does not throw (it is logged anyway), and a listener that
// throws is logged and does not disturb the client.
//
// Results: action() resolves with any response, `Response: Error` included (callers
// check `.response`); actionOk() rejects an Error response with AMI_ACTION_FAILED.
// actionList() resolves with { response, items, complete } (complete is null when the
// response was not a list start, e.g. an Error). Failures are AmiClientError with a
// stable `code` (AmiClientErrorCode, or an AmiFormatErrorCode for an unwritable action).
//
// Lifecycle: start() connects in the background and keeps a session forever — connect,
// banner (connectTimeoutMs covers both), Login, 'connected'; on any loss, 'disconnected'
// (once per session that reached 'connected'), then reconnect after an exponential
// backoff from reconnectMinMs to reconnectMaxMs with jitter, reset by a successful login.
// A refused login emits 'login-failed' and is retried the same way, so a fixed
// manager.conf is picked up; each distinct failure is logged once at its level, repeats at
// debug. stop() sends Logoff, waits for the Goodbye (bounded) and closes; no reconnect
// follows.

import * as net from 'node:net';
import { assert } from '../../base/assert';
import type { LogFields, Logger } from '../../runtime/logger';
import type { AmiSettings } from '../core/bridge-settings';
import { AmiMessage } from './ami-message';
import { AmiFormatError, type AmiFormatErrorCode, AmiParser, type AmiParserOptions, formatAmiAction, parseAmiBanner } from './ami-parser';

export const AmiClientErrorCode = {
  /** action() while no session is logged in. */
  notConnected: 'AMI_NOT_CONNECTED',
  /** The session ended (lost, or stop()) before the answer came. */
  disconnected: 'AMI_DISCONNECTED',
  /** No (complete) answer within the action's timeout; the pending entry is gone. */
  actionTimeout: 'AMI_ACTION_TIMEOUT',
  /** actionOk(): the server answered `Response: Error`; see `response` and the message. */
  actionFailed: 'AMI_ACTION_FAILED',
  /** Login refused (`Authentication failed`): wrong username/secret, or a deny/permit ACL. */
  authFailed: 'AMI_AUTH_FAILED',
  /** The first line is not `Asterisk Call Manager/<version>`: not an AMI port. */
  badBanner: 'AMI_BAD_BANNER',
  /** TCP connect plus banner took longer than connectTimeoutMs. */
  connectTimeout: 'AMI_CONNECT_TIMEOUT',
  /** The server closed the connection before the login completed. */
  closedBeforeLogin: 'AMI_CLOSED_BEFORE_LOGIN',
  /** A socket error (ECONNREFUSED, ECONNRESET, EPIPE …); see `errno`. */
  socket: 'AMI_SOCKET_ERROR',
  /** The keepalive Ping got no answer: the session is dropped and re-established. */
  keepaliveTimeout: 'AMI_KEEPALIVE_TIMEOUT',
  /** The socket is not draining and the action would exceed writeBufferBytesMax. */
  writeBufferFull: 'AMI_WRITE_BUFFER_FULL',
  /** pendingActionsMax actions are already waiting for answers. */
  tooManyPending: 'AMI_TOO_MANY_PENDING',
  /** An event list grew beyond its item limit; the rest of it is dropped. */
  listTooLong: 'AMI_LIST_TOO_LONG',
  /** Invalid AmiSettings or options (thrown by the constructor). */
  badSettings: 'AMI_BAD_SETTINGS',
} as const;
export type AmiClientErrorCode = (typeof AmiClientErrorCode)[keyof typeof AmiClientErrorCode];

export class AmiClientError extends Error {
  readonly code: AmiClientErrorCode | AmiFormatErrorCode;
  /** The action concerned, if any. */
  readonly action: string | null;
  /** The server's response for AMI_ACTION_FAILED / AMI_AUTH_FAILED. */
  readonly response: AmiMessage | null;
  /** For AMI_SOCKET_ERROR: ECONNREFUSED, ECONNRESET, … */
  readonly errno: string | null;
  constructor(
    code: AmiClientErrorCode | AmiFormatErrorCode,
    message: string,
    options: { action?: string; response?: AmiMessage; errno?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AmiClientError';
    this.code = code;
    this.action = options.action ?? null;
    this.response = options.response ?? null;
    this.errno = options.errno ?? null;
  }
}

/** The minimal logger shape accepted besides the runtime Logger (console fits). */
export interface AmiMinimalLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface AmiClientOptions {
  readonly logger?: Logger | AmiMinimalLogger;
  /** Login `Events:` value: on, off, or a class list. Default 'call,system'. */
  readonly eventMask?: string;
  /** [0, 1) source for the reconnect jitter and the ActionID prefix; default Math.random. */
  readonly random?: () => number;
  /** Prefix of every ActionID (then a counter); default `carillon-<random>-`. */
  readonly actionIdPrefix?: string;
  /** Most bytes queued in the socket before actions are refused; default 1 MiB. */
  readonly writeBufferBytesMax?: number;
  /** Most actions awaiting answers; default 1000. */
  readonly pendingActionsMax?: number;
  /** Default item limit of actionList(); default 100 000. */
  readonly listItemsMax?: number;
  /** How long stop() waits for the Logoff answer; default min(actionTimeoutMs, 2000). */
  readonly logoffTimeoutMs?: number;
  /** Parser limits (line, message, header count). */
  readonly parser?: Omit<AmiParserOptions, 'expectBanner'>;
}

export const AmiClientDefaults = {
  eventMask: 'call,system',
  writeBufferBytesMax: 1024 * 1024,
  pendingActionsMax: 1000,
  listItemsMax: 100_000,
  logoffTimeoutMs: 2000,
} as const;

export type AmiFields = ReadonlyArray<readonly [string, string]>;

export interface AmiActionOptions {
  /** Default: the settings' actionTimeoutMs. For a list it covers the whole list. */
  readonly timeoutMs?: number;
}

export interface AmiListOptions extends AmiActionOptions {
  /** Default: the client's listItemsMax. */
  readonly itemsMax?: number;
}

export interface AmiListResult {
  readonly response: AmiMessage;
  /** The list's events in arrival order (without the …Complete event). */
  readonly items: readonly AmiMessage[];
  /** The `EventList: Complete` event, or null when the response started no list. */
  readonly complete: AmiMessage | null;
}

export interface AmiConnectedInfo {
  /** The banner line, e.g. `Asterisk Call Manager/9.0.0`. */
  readonly banner: string;
  /** The version after the slash, e.g. `9.0.0` (Asterisk 20). */
  readonly amiVersion: string;
}

export interface AmiDisconnectedInfo {
  readonly reason: string;
  /** The error that ended the session, or null (closed by the server, or stop()). */
  readonly error: AmiClientError | null;
}

export interface AmiLoginFailedInfo {
  readonly error: AmiClientError;
  /** Failed connection attempts since the last successful login, this one included. */
  readonly attempt: number;
}

export interface AmiClientEvents {
  connected: AmiConnectedInfo;
  disconnected: AmiDisconnectedInfo;
  'login-failed': AmiLoginFailedInfo;
  /** An unsolicited event (not a list item of an action of ours). */
  event: AmiMessage;
  /** A socket, protocol or connection failure (a refused login is 'login-failed' instead). */
  error: AmiClientError;
}
export type AmiClientEventName = keyof AmiClientEvents;

export interface AmiClientStats {
  /** TCP connection attempts. */
  readonly connectAttempts: number;
  /** Sessions that reached 'connected' (login accepted). */
  readonly connects: number;
  readonly loginFailures: number;
  /** Sessions that were connected and ended ('disconnected' emitted). */
  readonly disconnects: number;
  /** Unsolicited events delivered to 'event'. */
  readonly eventsReceived: number;
  readonly malformedLines: number;
  readonly oversizeMessages: number;
  readonly actionsSent: number;
  readonly actionTimeouts: number;
  /** Answers or list items for ActionIDs of ours that are no longer pending (late, or after a timeout). */
  readonly staleMessages: number;
  /** Messages that are neither an event nor an answer of ours. */
  readonly strayMessages: number;
  /** Actions refused because the write buffer was full. */
  readonly writeBufferRejects: number;
  readonly pendingActions: number;
}

type SessionPhase = 'connecting' | 'banner' | 'login' | 'connected';

interface Session {
  readonly socket: net.Socket;
  phase: SessionPhase;
  banner: string;
  amiVersion: string;
  /** Connect + banner deadline. */
  connectTimer: NodeJS.Timeout | null;
  keepaliveTimer: NodeJS.Timeout | null;
  pingOutstanding: boolean;
  /** Set by the first cause of the end; later causes (the close after an error) keep it. */
  endReason: string | null;
  endError: AmiClientError | null;
  /** A failure before 'connected' was already reported (logged and emitted). */
  failureReported: boolean;
  finished: boolean;
  discardWarned: Set<string>;
  readonly closed: Promise<void>;
}

type ActionOutcome = { readonly ok: true; readonly result: AmiListResult } | { readonly ok: false; readonly error: AmiClientError };

interface PendingAction {
  readonly actionId: string;
  readonly name: string;
  readonly list: boolean;
  readonly itemsMax: number;
  response: AmiMessage | null;
  readonly items: AmiMessage[];
  timer: NodeJS.Timeout | null;
  readonly onDone: (outcome: ActionOutcome) => void;
}

type Listeners = { [K in AmiClientEventName]: Set<(payload: AmiClientEvents[K]) => void> };

type LogLevelName = 'error' | 'warning' | 'info' | 'debug';

const BACKOFF_EXPONENT_MAX = 30;

export class AmiClient {
  private readonly settings: AmiSettings;
  private readonly logger: Logger | AmiMinimalLogger | null;
  private readonly eventMask: string;
  private readonly random: () => number;
  private readonly actionIdPrefix: string;
  private readonly writeBufferBytesMax: number;
  private readonly pendingActionsMax: number;
  private readonly listItemsMax: number;
  private readonly logoffTimeoutMs: number;
  private readonly parser: AmiParser;
  private readonly endpoint: string;

  private readonly listeners: Listeners = {
    connected: new Set(),
    disconnected: new Set(),
    'login-failed': new Set(),
    event: new Set(),
    error: new Set(),
  };
  private readonly pending = new Map<string, PendingAction>();
  private session: Session | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private actionCounter = 0;
  /** Failed attempts since the last successful login: the backoff exponent. */
  private failures = 0;
  /** The last failure logged at its own level; a repeat is logged at debug only. */
  private lastFailureKey: string | null = null;
  private counters = {
    connectAttempts: 0,
    connects: 0,
    loginFailures: 0,
    disconnects: 0,
    eventsReceived: 0,
    actionsSent: 0,
    actionTimeouts: 0,
    staleMessages: 0,
    strayMessages: 0,
    writeBufferRejects: 0,
  };

  constructor(settings: AmiSettings, options: AmiClientOptions = {}) {
    validateSettings(settings);
    this.settings = settings;
    this.logger = options.logger ?? null;
    this.eventMask = options.eventMask ?? AmiClientDefaults.eventMask;
    if (/[\r\n\0]/.test(this.eventMask) || this.eventMask.trim() === '') {
      throw new AmiClientError(AmiClientErrorCode.badSettings, `AMI eventMask ${JSON.stringify(this.eventMask)} must be non-empty and on one line`);
    }
    this.random = options.random ?? Math.random;
    this.actionIdPrefix = options.actionIdPrefix ?? `carillon-${Math.floor(this.random() * 36 ** 6).toString(36).padStart(6, '0')}-`;
    this.writeBufferBytesMax = positiveOption(options.writeBufferBytesMax ?? AmiClientDefaults.writeBufferBytesMax, 'writeBufferBytesMax');
    this.pendingActionsMax = positiveOption(options.pendingActionsMax ?? AmiClientDefaults.pendingActionsMax, 'pendingActionsMax');
    this.listItemsMax = positiveOption(options.listItemsMax ?? AmiClientDefaults.listItemsMax, 'listItemsMax');
    this.logoffTimeoutMs = positiveOption(options.logoffTimeoutMs ?? Math.min(settings.actionTimeoutMs, AmiClientDefaults.logoffTimeoutMs), 'logoffTimeoutMs');
    this.parser = new AmiParser({ ...options.parser, expectBanner: true });
    this.endpoint = `${settings.host}:${settings.port}`;
  }

  /** Subscribes a listener; returns the function that unsubscribes it. */
  on<K extends AmiClientEventName>(name: K, listener: (payload: AmiClientEvents[K]) => void): () => void {
    this.listeners[name].add(listener);
    return () => this.off(name, listener);
  }

  off<K extends AmiClientEventName>(name: K, listener: (payload: AmiClientEvents[K]) => void): void {
    this.listeners[name].delete(listener);
  }

  /** Starts connecting in the background (see the file header). Idempotent; not after stop(). */
  start(): void {
    assert(!this.stopped, 'AmiClient.start() after stop()');
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  /** True while a logged-in session exists. */
  isConnected(): boolean {
    return this.session?.phase === 'connected';
  }

  /** Logs off politely (bounded wait), closes, and never reconnects. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopped = true;
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this.stopping = this.shutdown();
    return this.stopping;
  }

  /**
   * Sends an action and resolves with its response, whatever `Response:` says (Success,
   * Error, Goodbye). Rejects with AmiClientError: AMI_NOT_CONNECTED, AMI_ACTION_TIMEOUT,
   * AMI_DISCONNECTED, AMI_WRITE_BUFFER_FULL, AMI_TOO_MANY_PENDING, or a format code.
   */
  action(name: string, fields: AmiFields = [], options: AmiActionOptions = {}): Promise<AmiMessage> {
    return this.run(name, fields, false, options.timeoutMs, 0).then((result) => result.response);
  }

  /** As action(), but `Response: Error` rejects with AMI_ACTION_FAILED (message = the server's Message). */
  async actionOk(name: string, fields: AmiFields = [], options: AmiActionOptions = {}): Promise<AmiMessage> {
    const response = await this.action(name, fields, options);
    if (isError(response)) {
      throw new AmiClientError(AmiClientErrorCode.actionFailed, `AMI ${name} failed: ${response.message ?? '(no Message)'}`, { action: name, response });
    }
    return response;
  }

  /**
   * Sends a list action (DeviceStateList, ExtensionStateList, MWIGet …) and collects the
   * events carrying its ActionID up to the `EventList: Complete` event. A response that
   * starts no list (an Error, or no `EventList: start`) resolves at once with complete
   * null. The timeout covers the whole list; more than itemsMax items reject with
   * AMI_LIST_TOO_LONG.
   */
  actionList(name: string, fields: AmiFields = [], options: AmiListOptions = {}): Promise<AmiListResult> {
    return this.run(name, fields, true, options.timeoutMs, options.itemsMax ?? this.listItemsMax);
  }

  stats(): AmiClientStats {
    const parser = this.parser.stats();
    return {
      ...this.counters,
      malformedLines: parser.malformedLines,
      oversizeMessages: parser.oversizeMessages,
      pendingActions: this.pending.size,
    };
  }

  // ---------------------------------------------------------------------------------
  // Actions

  private run(name: string, fields: AmiFields, list: boolean, timeoutMs: number | undefined, itemsMax: number): Promise<AmiListResult> {
    return new Promise((resolve, reject) => {
      const session = this.session;
      if (session === null || session.phase !== 'connected') {
        reject(new AmiClientError(AmiClientErrorCode.notConnected, `AMI ${name}: not connected to ${this.endpoint}`, { action: name }));
        return;
      }
      this.startAction(session, name, fields, {
        timeoutMs: timeoutMs ?? this.settings.actionTimeoutMs,
        list,
        itemsMax,
        onDone: (outcome) => (outcome.ok ? resolve(outcome.result) : reject(outcome.error)),
      });
    });
  }

  /** Writes an action and registers it; every outcome (also an immediate refusal) goes to onDone. */
  private startAction(
    session: Session,
    name: string,
    fields: AmiFields,
    options: { timeoutMs: number; list: boolean; itemsMax: number; onDone: (outcome: ActionOutcome) => void },
  ): void {
    const fail = (error: AmiClientError): void => options.onDone({ ok: false, error });
    if (this.pending.size >= this.pendingActionsMax) {
      fail(new AmiClientError(AmiClientErrorCode.tooManyPending, `AMI ${name}: ${this.pending.size} actions already wait for answers`, { action: name }));
      return;
    }
    this.actionCounter += 1;
    const actionId = `${this.actionIdPrefix}${this.actionCounter}`;
    let text: string;
    try {
      text = formatAmiAction(name, fields, actionId);
    } catch (e) {
      if (!(e instanceof AmiFormatError)) throw e;
      fail(new AmiClientError(e.code, `AMI ${name}: ${e.message}`, { action: name, cause: e }));
      return;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    if (session.socket.writableLength + bytes > this.writeBufferBytesMax) {
      this.counters.writeBufferRejects += 1;
      fail(new AmiClientError(
        AmiClientErrorCode.writeBufferFull,
        `AMI ${name}: ${session.socket.writableLength} bytes are still queued for ${this.endpoint} (limit ${this.writeBufferBytesMax}); the server is not reading`,
        { action: name },
      ));
      return;
    }
    const pending: PendingAction = { actionId, name, list: options.list, itemsMax: options.itemsMax, response: null, items: [], timer: null, onDone: options.onDone };
    pending.timer = setTimeout(() => {
      pending.timer = null;
      if (this.pending.get(actionId) !== pending) return;
      this.pending.delete(actionId);
      this.counters.actionTimeouts += 1;
      const message = options.list && pending.response !== null
        ? `AMI ${name}: the list from ${this.endpoint} did not complete within ${options.timeoutMs} ms (${pending.items.length} items so far)`
        : `AMI ${name}: no answer from ${this.endpoint} within ${options.timeoutMs} ms`;
      pending.onDone({ ok: false, error: new AmiClientError(AmiClientErrorCode.actionTimeout, message, { action: name }) });
    }, options.timeoutMs);
    this.pending.set(actionId, pending);
    this.counters.actionsSent += 1;
    session.socket.write(text, 'utf8');
  }

  private settle(pending: PendingAction, outcome: ActionOutcome): void {
    if (pending.timer !== null) clearTimeout(pending.timer);
    pending.timer = null;
    this.pending.delete(pending.actionId);
    pending.onDone(outcome);
  }

  // ---------------------------------------------------------------------------------
  // Connection lifecycle

  private connect(): void {
    if (this.stopped) return;
    this.counters.connectAttempts += 1;
    this.parser.reset();
    const socket = net.createConnection({ host: this.settings.host, port: this.settings.port });
    let markClosed = (): void => undefined;
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const session: Session = {
      socket,
      phase: 'connecting',
      banner: '',
      amiVersion: '',
      connectTimer: null,
      keepaliveTimer: null,
      pingOutstanding: false,
      endReason: null,
      endError: null,
      failureReported: false,
      finished: false,
      discardWarned: new Set(),
      closed,
    };
    this.session = session;
    session.connectTimer = setTimeout(() => {
      session.connectTimer = null;
      const message = session.phase === 'connecting'
        ? `AMI: TCP connect to ${this.endpoint} did not complete within ${this.settings.connectTimeoutMs} ms`
        : `AMI: no banner from ${this.endpoint} within ${this.settings.connectTimeoutMs} ms (is this the AMI port?)`;
      this.fail(session, new AmiClientError(AmiClientErrorCode.connectTimeout, message));
    }, this.settings.connectTimeoutMs);
    socket.on('connect', () => {
      if (session.finished) return;
      session.phase = 'banner';
      socket.setNoDelay(true);
      socket.setKeepAlive(true);
    });
    socket.on('data', (chunk: Buffer) => this.onData(session, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const errno = err.code ?? 'UNKNOWN';
      this.fail(session, new AmiClientError(AmiClientErrorCode.socket, `AMI ${this.endpoint}: ${err.message}`, { errno, cause: err }));
    });
    socket.on('close', () => {
      markClosed();
      const reason = session.phase === 'connected' ? 'connection closed by the server' : `connection closed by ${this.endpoint} before the login completed`;
      const error = session.phase === 'connected' ? null : new AmiClientError(AmiClientErrorCode.closedBeforeLogin, `AMI: ${reason}`);
      this.end(session, reason, error);
    });
  }

  private onData(session: Session, chunk: Buffer): void {
    if (session.finished) return;
    // Any byte proves the link alive: the keepalive Ping is for silence only.
    session.keepaliveTimer?.refresh();
    for (const item of this.parser.push(chunk)) {
      if (session.finished) return;
      switch (item.kind) {
        case 'banner':
          this.onBanner(session, item.line, item.truncated);
          break;
        case 'message':
          this.onMessage(session, item.message);
          break;
        case 'discarded':
          // Warn once per reason per session: a broken peer could repeat it endlessly.
          this.log(session.discardWarned.has(item.reason) ? 'debug' : 'warning', `AMI: discarded an oversize message from ${this.endpoint} (${item.reason}, ${item.bytes} bytes)`);
          session.discardWarned.add(item.reason);
          break;
      }
    }
  }

  private onBanner(session: Session, line: string, truncated: boolean): void {
    if (session.connectTimer !== null) {
      clearTimeout(session.connectTimer);
      session.connectTimer = null;
    }
    const banner = truncated ? null : parseAmiBanner(line);
    if (banner === null) {
      const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
      this.fail(session, new AmiClientError(AmiClientErrorCode.badBanner, `AMI: ${this.endpoint} greeted with ${shown}, not "Asterisk Call Manager/<version>": not an AMI port`));
      return;
    }
    session.banner = line;
    session.amiVersion = banner.version;
    session.phase = 'login';
    // The header is `Events` (manager.c reads no `Event` header on Login; res-corosync.md §4).
    const fields: AmiFields = [['Username', this.settings.username], ['Secret', this.settings.secret], ['Events', this.eventMask]];
    this.startAction(session, 'Login', fields, {
      timeoutMs: this.settings.actionTimeoutMs,
      list: false,
      itemsMax: 0,
      onDone: (outcome) => this.onLoginDone(session, outcome),
    });
  }

  /** Runs synchronously inside the data handler, so 'connected' precedes the FullyBooted event that follows the login reply. */
  private onLoginDone(session: Session, outcome: ActionOutcome): void {
    if (session.finished) return;
    if (!outcome.ok) {
      this.fail(session, outcome.error);
      return;
    }
    const response = outcome.result.response;
    if (response.response?.toLowerCase() === 'success') {
      session.phase = 'connected';
      const retried = this.failures;
      this.failures = 0;
      this.lastFailureKey = null;
      this.counters.connects += 1;
      this.log('info', `AMI: logged in to ${this.endpoint} as ${this.settings.username} (${session.banner})${retried > 0 ? ` after ${retried} failed attempts` : ''}`);
      this.startKeepalive(session);
      this.emit('connected', { banner: session.banner, amiVersion: session.amiVersion });
      return;
    }
    this.counters.loginFailures += 1;
    const text = response.message ?? `Response: ${response.response ?? '(none)'}`;
    const error = new AmiClientError(
      AmiClientErrorCode.authFailed,
      `AMI: login to ${this.endpoint} as ${this.settings.username} refused: ${text} (check the user's secret and permit/deny in manager.conf); retrying with backoff`,
      { action: 'Login', response },
    );
    session.failureReported = true;
    this.failures += 1;
    this.logFailure(error, 'error');
    this.emit('login-failed', { error, attempt: this.failures });
    this.end(session, `login refused: ${text}`, error);
  }

  private onMessage(session: Session, message: AmiMessage): void {
    const actionId = message.actionId;
    const pending = actionId === undefined ? undefined : this.pending.get(actionId);
    if (pending !== undefined) {
      this.onAnswer(pending, message);
      return;
    }
    if (actionId !== undefined && actionId.startsWith(this.actionIdPrefix)) {
      // Ours, but no longer awaited (a late answer after a timeout, the rest of an
      // overlong list): never an unsolicited event.
      this.counters.staleMessages += 1;
      this.log('debug', `AMI: dropped a late message for ${actionId}`, { event: message.event, response: message.response });
      return;
    }
    if (message.isEvent() && session.phase === 'connected') {
      this.counters.eventsReceived += 1;
      this.emit('event', message);
      return;
    }
    this.counters.strayMessages += 1;
    this.log('debug', `AMI: dropped a message that is neither an event nor an answer of ours`, { event: message.event, response: message.response, actionId });
  }

  private onAnswer(pending: PendingAction, message: AmiMessage): void {
    if (!pending.list) {
      // Events carrying the ActionID of a plain action (e.g. Status items) are not collected.
      if (message.isResponse()) this.settle(pending, { ok: true, result: { response: message, items: [], complete: null } });
      else this.counters.staleMessages += 1;
      return;
    }
    if (message.isResponse() && pending.response === null) {
      pending.response = message;
      const startsList = message.response?.toLowerCase() === 'success' && message.get('EventList')?.toLowerCase() === 'start';
      if (!startsList) this.settle(pending, { ok: true, result: { response: message, items: [], complete: null } });
      return;
    }
    if (!message.isEvent()) {
      this.counters.strayMessages += 1;
      return;
    }
    if (message.get('EventList')?.toLowerCase() === 'complete') {
      this.settle(pending, { ok: true, result: { response: pending.response ?? message, items: pending.items, complete: message } });
      return;
    }
    if (pending.items.length >= pending.itemsMax) {
      this.settle(pending, {
        ok: false,
        error: new AmiClientError(AmiClientErrorCode.listTooLong, `AMI ${pending.name}: the list from ${this.endpoint} has more than ${pending.itemsMax} items`, { action: pending.name }),
      });
      return;
    }
    pending.items.push(message);
  }

  private startKeepalive(session: Session): void {
    if (this.settings.keepaliveMs <= 0) return;
    session.keepaliveTimer = setTimeout(() => this.onIdle(session), this.settings.keepaliveMs);
  }

  private onIdle(session: Session): void {
    if (session.finished || session.phase !== 'connected' || session.pingOutstanding) return;
    session.pingOutstanding = true;
    const timeoutMs = this.settings.actionTimeoutMs;
    this.startAction(session, 'Ping', [], {
      timeoutMs,
      list: false,
      itemsMax: 0,
      onDone: (outcome) => {
        session.pingOutstanding = false;
        if (session.finished) return;
        if (outcome.ok) {
          // Any answer (even Error) shows the session alive; the reply's bytes re-armed the timer.
          session.keepaliveTimer?.refresh();
          return;
        }
        this.fail(session, new AmiClientError(
          AmiClientErrorCode.keepaliveTimeout,
          `AMI: ${this.endpoint} silent for ${this.settings.keepaliveMs} ms and the keepalive Ping failed (${outcome.error.message}); reconnecting`,
          { action: 'Ping', cause: outcome.error },
        ));
      },
    });
  }

  /** A failure that ends the session: reported (logged and emitted), then the session ends. */
  private fail(session: Session, error: AmiClientError): void {
    if (session.finished) return;
    if (!session.failureReported) {
      session.failureReported = true;
      if (session.phase !== 'connected') this.failures += 1;
      this.logFailure(error, 'warning');
      this.emit('error', error);
    }
    this.end(session, error.message, error);
  }

  /** Ends a session once: timers off, socket destroyed, pending rejected, 'disconnected', reconnect. */
  private end(session: Session, reason: string, error: AmiClientError | null): void {
    if (session.finished) return;
    session.finished = true;
    session.endReason ??= reason;
    session.endError ??= error;
    if (session.connectTimer !== null) clearTimeout(session.connectTimer);
    if (session.keepaliveTimer !== null) clearTimeout(session.keepaliveTimer);
    session.connectTimer = null;
    session.keepaliveTimer = null;
    session.socket.destroy();
    if (this.session === session) this.session = null;
    const endReason = session.endReason;
    if (!session.failureReported && session.phase !== 'connected' && session.endError !== null && !this.stopped) {
      // E.g. the server closed before the banner: as visible as any other failure.
      session.failureReported = true;
      this.failures += 1;
      this.logFailure(session.endError, 'warning');
      this.emit('error', session.endError);
    }
    for (const pending of [...this.pending.values()]) {
      this.settle(pending, {
        ok: false,
        error: new AmiClientError(AmiClientErrorCode.disconnected, `AMI ${pending.name}: session to ${this.endpoint} ended before the answer (${endReason})`, { action: pending.name }),
      });
    }
    if (session.phase === 'connected') {
      this.counters.disconnects += 1;
      this.log(this.stopped ? 'info' : 'warning', `AMI: session to ${this.endpoint} ended: ${endReason}`);
      this.emit('disconnected', { reason: endReason, error: session.endError });
    }
    if (!this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null) return;
    const delayMs = this.backoffDelayMs();
    this.log('debug', `AMI: reconnecting to ${this.endpoint} in ${delayMs} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delayMs);
  }

  /**
   * reconnectMinMs · 2^failures, capped at reconnectMaxMs, minus up to 25 % jitter so
   * that bridges restarted together do not reconnect in lockstep; never below
   * reconnectMinMs.
   */
  private backoffDelayMs(): number {
    const { reconnectMinMs, reconnectMaxMs } = this.settings;
    const exponent = Math.min(Math.max(this.failures - 1, 0), BACKOFF_EXPONENT_MAX);
    const base = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** exponent);
    const jittered = base * (1 - 0.25 * this.random());
    return Math.round(Math.min(reconnectMaxMs, Math.max(reconnectMinMs, jittered)));
  }

  private async shutdown(): Promise<void> {
    const session = this.session;
    if (session === null) return;
    session.endReason = 'client stopped';
    if (session.phase === 'connected' && !session.finished) {
      await new Promise<void>((resolve) => {
        this.startAction(session, 'Logoff', [], { timeoutMs: this.logoffTimeoutMs, list: false, itemsMax: 0, onDone: () => resolve() });
      });
    }
    this.end(session, 'client stopped', null);
    await session.closed;
  }

  // ---------------------------------------------------------------------------------
  // Events and logs

  private emit<K extends AmiClientEventName>(name: K, payload: AmiClientEvents[K]): void {
    for (const listener of [...this.listeners[name]]) {
      try {
        listener(payload);
      } catch (e) {
        this.log('error', `AMI: a '${name}' listener threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private logFailure(error: AmiClientError, level: LogLevelName): void {
    const key = `${error.code}|${error.errno ?? ''}|${error.message}`;
    this.log(key === this.lastFailureKey ? 'debug' : level, error.message, { code: error.code });
    this.lastFailureKey = key;
  }

  private log(level: LogLevelName, message: string, fields?: LogFields): void {
    const logger = this.logger;
    if (logger === null) return;
    if (isMinimalLogger(logger)) {
      const method = level === 'warning' ? logger.warn : logger[level];
      if (fields === undefined) method.call(logger, message);
      else method.call(logger, message, fields);
      return;
    }
    logger.log(level, 'AMI', message, fields);
  }
}

function isMinimalLogger(logger: Logger | AmiMinimalLogger): logger is AmiMinimalLogger {
  return typeof (logger as Partial<AmiMinimalLogger>).warn === 'function';
}

function isError(message: AmiMessage): boolean {
  return message.response?.toLowerCase() === 'error';
}

function positiveOption(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new AmiClientError(AmiClientErrorCode.badSettings, `AMI client option ${name} must be a positive number, got ${value}`);
  }
  return value;
}

function validateSettings(settings: AmiSettings): void {
  const bad = (what: string): never => {
    throw new AmiClientError(AmiClientErrorCode.badSettings, `AMI settings: ${what}`);
  };
  if (settings.host === '') bad('host is empty');
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) bad(`port ${settings.port} is not 1..65535`);
  for (const [name, value] of [['username', settings.username], ['secret', settings.secret]] as const) {
    if (/[\r\n\0]/.test(value)) bad(`${name} contains CR, LF or NUL`);
  }
  for (const name of ['connectTimeoutMs', 'actionTimeoutMs', 'reconnectMinMs', 'reconnectMaxMs'] as const) {
    if (!Number.isFinite(settings[name]) || settings[name] <= 0) bad(`${name} must be a positive number, got ${settings[name]}`);
  }
  if (!Number.isFinite(settings.keepaliveMs) || settings.keepaliveMs < 0) bad(`keepaliveMs must be >= 0, got ${settings.keepaliveMs}`);
  if (settings.reconnectMaxMs < settings.reconnectMinMs) bad(`reconnectMaxMs ${settings.reconnectMaxMs} is below reconnectMinMs ${settings.reconnectMinMs}`);
}
