// A thin typed ARI (Asterisk REST Interface) client on Node 20's global fetch and `ws`
// (architecture.md decision 6, res-corosync.md §3 "ARI facts", asterisk-groundtruth.md §3).
// It covers only what the bridge needs: /asterisk/info (the node's EID), /asterisk/ping,
// /deviceStates, /mailboxes, /applications/{app}/subscription and the event websocket.
//
// Deliberately unlike the npm `ari-client` (res-corosync.md §4): no Swagger, no
// resources.json fetch before connecting (so it starts while Asterisk is still down), no
// retry limit (the websocket reconnects forever with jittered exponential backoff), no
// credentials in URLs (Basic auth also on the websocket upgrade, so they stay out of logs),
// a timeout on every request, and every failure surfaced as an AriError with a stable code.
//
//   const ari = new AriClient(settings.ari, { logger });
//   ari.on('device-state', ({ name, state }) => ...);
//   ari.start();
//   const { eid } = await ari.info();
//   await ari.setDeviceState('Stasis:bob', 'INUSE');
//   await ari.stop();

import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { assert } from '../../base/assert';
import type { AriSettings } from '../core/bridge-settings';
import { type DeviceStateName, type Eid, deviceStateFromName, deviceStateName, parseEid } from '../core/events';
import { type Logger, RateLimitedLog, silentLogger } from '../../runtime/logger';
import { type AriFrameError, type AriOtherEvent, parseAriFrame } from './ari-events';

const SUBSYS = 'ARI';

export const AriErrorCode = {
  /** Connection refused, reset, DNS failure or a timeout: Asterisk (or its HTTP server) is not there. */
  unreachable: 'ARI_UNREACHABLE',
  /** 401 (bad credentials) or 403 (a read_only user writing). */
  auth: 'ARI_AUTH',
  notFound: 'ARI_NOT_FOUND',
  /** 409, e.g. `Uncontrolled device specified` for a device that is not `Stasis:`. */
  conflict: 'ARI_CONFLICT',
  /** 400 and other 4xx (422 `no such event source`). */
  badRequest: 'ARI_BAD_REQUEST',
  /** 5xx; Asterisk answers 500 `Unknown device` for an invalid device state. */
  server: 'ARI_SERVER',
  /** A body that is not JSON, not the expected shape, too large, or an unexpected status. */
  badResponse: 'ARI_BAD_RESPONSE',
} as const;
export type AriErrorCode = (typeof AriErrorCode)[keyof typeof AriErrorCode];

/** Why an ARI request or websocket connection failed. */
export class AriError extends Error {
  readonly code: AriErrorCode;
  /** The HTTP status, or null when there was no HTTP answer. */
  readonly status: number | null;
  /** Asterisk's `message` from the JSON error body, e.g. `Uncontrolled device specified`. */
  readonly asteriskMessage: string | null;
  readonly method: string;
  /** The path below the base URL, e.g. `/deviceStates/Stasis:bob`. */
  readonly path: string;
  constructor(code: AriErrorCode, method: string, path: string, detail: string, options: { status?: number; asteriskMessage?: string | null; cause?: unknown } = {}) {
    super(`ARI ${method} ${path}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AriError';
    this.code = code;
    this.status = options.status ?? null;
    this.asteriskMessage = options.asteriskMessage ?? null;
    this.method = method;
    this.path = path;
  }
}

export const AriClientDefaults = {
  requestTimeoutMs: 5000,
  /** A websocket ping this often while connected. */
  heartbeatIntervalMs: 15_000,
  /** No pong within this after a ping: the connection is dead (terminate and reconnect). */
  heartbeatTimeoutMs: 10_000,
  /** Largest REST response body read (a device list of tens of thousands of entries fits). */
  responseBytesMax: 16 * 1024 * 1024,
  /** Frames above this make `ws` drop the connection; frames between AriEventLimits.frameBytesMax and this are skipped. */
  wsPayloadBytesMax: 4 * 1024 * 1024,
  /** Error body bytes kept from a refused websocket upgrade. */
  upgradeBodyBytesMax: 4096,
} as const;

export interface AriClientOptions {
  readonly logger?: Logger;
  /** Bounds each REST request (headers and body) and each websocket handshake. */
  readonly requestTimeoutMs?: number;
  /** Replaces the global fetch (tests). */
  readonly fetch?: typeof fetch;
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatTimeoutMs?: number;
  /** Jitter source in [0, 1) (tests pin it). */
  readonly random?: () => number;
}

export interface AriInfo {
  /** `system.entity_id`: the node's identity in the cluster. */
  readonly eid: Eid;
  /** `system.version`, e.g. `GIT-20-01f26c412`. */
  readonly version: string | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface AriPing {
  readonly eid: Eid | null;
  readonly timestamp: string | null;
}

export interface AriDeviceStateEntry {
  readonly name: string;
  readonly state: DeviceStateName;
}

export interface AriMailbox {
  readonly name: string;
  readonly oldMessages: number;
  readonly newMessages: number;
}

/** `GET /applications/{app}` and the subscription calls answer with this. */
export interface AriApplication {
  readonly name: string;
  /** Subscribed devices; `__AST_DEVICE_STATE_ALL_TOPIC` stands for all of them. */
  readonly deviceNames: readonly string[];
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface AriDeviceStateEvent {
  readonly name: string;
  readonly state: DeviceStateName;
  /** `asterisk_id`: the EID of the Asterisk that sent it (ARI gives no origin EID). */
  readonly eid: Eid | null;
  readonly timestamp: string | null;
}

/** What the client emits; see on(). */
export interface AriClientEvents {
  readonly connected: { readonly url: string };
  readonly disconnected: { readonly reason: string; readonly code: number };
  readonly 'device-state': AriDeviceStateEvent;
  readonly 'application-replaced': { readonly application: string | null; readonly timestamp: string | null; readonly eid: Eid | null };
  readonly event: AriOtherEvent;
  /** A failed websocket connection attempt (every attempt; the log says it once per distinct failure). */
  readonly error: AriError;
}
export type AriClientEventName = keyof AriClientEvents;
type Listener<K extends AriClientEventName> = (payload: AriClientEvents[K]) => void;

export interface AriClientStats {
  readonly connects: number;
  readonly disconnects: number;
  /** Websocket connection attempts that failed before the upgrade completed. */
  readonly connectFailures: number;
  readonly framesReceived: number;
  readonly malformedFrames: number;
  readonly requests: number;
  readonly requestErrors: number;
}

/**
 * The delay before reconnect attempt `failures` (0 for the first after a good connection):
 * exponential from minMs, capped at maxMs, minus up to 25 % jitter so that bridges which
 * lost the same Asterisk do not reconnect in lockstep; never below minMs.
 */
export function ariBackoffDelayMs(failures: number, minMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 30));
  return Math.max(minMs, Math.round(base * (1 - 0.25 * random)));
}

/** One websocket connection attempt and, once upgraded, the connection. */
interface Link {
  readonly ws: WebSocket;
  opened: boolean;
  openedAtMs: number;
  /** Why the attempt failed (set before `close`). */
  failure: AriError | null;
  /** Why we closed it ourselves; null = the server or the network did. */
  closeReason: string | null;
  /** Closed because of ApplicationReplaced: do not count it as a connection that lived. */
  replaced: boolean;
  attemptTimer: NodeJS.Timeout | null;
  heartbeatTimer: NodeJS.Timeout | null;
  pongTimer: NodeJS.Timeout | null;
  closeTimer: NodeJS.Timeout | null;
  readonly closed: Promise<void>;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Percent-encodes a path segment or query value, leaving `:` and `@` as they are: both are
 * legal there (RFC 3986 pchar) and Asterisk's own examples and our recordings use them raw
 * (`/deviceStates/Stasis:bob`, `/mailboxes/1000@default`, `eventSource=deviceState:x`).
 */
function encodeAriComponent(text: string): string {
  return encodeURIComponent(text).replace(/%3A/gi, ':').replace(/%40/g, '@');
}

function statusCode(status: number): AriErrorCode {
  if (status === 401 || status === 403) return AriErrorCode.auth;
  if (status === 404) return AriErrorCode.notFound;
  if (status === 409) return AriErrorCode.conflict;
  if (status >= 400 && status < 500) return AriErrorCode.badRequest;
  if (status >= 500 && status < 600) return AriErrorCode.server;
  return AriErrorCode.badResponse;
}

/** Asterisk's `{"message": …}` from an error body, if it has one. */
function messageOf(bodyText: string): string | null {
  try {
    const body: unknown = JSON.parse(bodyText);
    return isJsonObject(body) && typeof body['message'] === 'string' ? body['message'] : null;
  } catch {
    return null;
  }
}

/** The errno of a failed fetch or socket (fetch puts it on `cause`). */
function errnoOf(error: unknown): string | null {
  for (let e: unknown = error, depth = 0; isJsonObject(e) && depth < 4; e = e['cause'], depth++) {
    if (typeof e['code'] === 'string' && /^E[A-Z]+$/.test(e['code'])) return e['code'];
  }
  return null;
}

export class AriClient {
  private readonly settings: AriSettings;
  private readonly logger: Logger;
  private readonly rateLimited: RateLimitedLog;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly random: () => number;
  private readonly baseUrl: string;
  private readonly eventsUrl: string;
  private readonly authorization: string;

  private readonly listeners: { [K in AriClientEventName]: Set<Listener<K>> } = {
    connected: new Set(),
    disconnected: new Set(),
    'device-state': new Set(),
    'application-replaced': new Set(),
    event: new Set(),
    error: new Set(),
  };

  private running = false;
  private link: Link | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Consecutive failed or short-lived connections: the backoff exponent. */
  private failures = 0;
  /** The last connection failure logged, so a repeating one is logged once. */
  private lastFailureKey: string | null = null;

  private counters = { connects: 0, disconnects: 0, connectFailures: 0, framesReceived: 0, malformedFrames: 0, requests: 0, requestErrors: 0 };

  constructor(settings: AriSettings, options: AriClientOptions = {}) {
    let base: URL;
    try {
      base = new URL(settings.url);
    } catch {
      throw new RangeError(`ARI url ${JSON.stringify(settings.url)} is not a URL`);
    }
    assert(base.protocol === 'http:' || base.protocol === 'https:', `ARI url ${settings.url} must be http or https`);
    assert(settings.app !== '', 'ARI app name must not be empty');
    assert(settings.reconnectMinMs > 0 && settings.reconnectMaxMs >= settings.reconnectMinMs, 'ARI reconnect bounds must satisfy 0 < min <= max');
    this.settings = settings;
    this.logger = options.logger ?? silentLogger;
    this.rateLimited = new RateLimitedLog(this.logger);
    this.requestTimeoutMs = options.requestTimeoutMs ?? AriClientDefaults.requestTimeoutMs;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? AriClientDefaults.heartbeatIntervalMs;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? AriClientDefaults.heartbeatTimeoutMs;
    assert(this.requestTimeoutMs > 0 && this.heartbeatIntervalMs > 0 && this.heartbeatTimeoutMs > 0, 'ARI timeouts must be positive');
    this.fetchFn = options.fetch ?? fetch;
    this.random = options.random ?? Math.random;

    base.username = '';
    base.password = '';
    base.search = '';
    base.hash = '';
    base.pathname = base.pathname.replace(/\/+$/, '');
    this.baseUrl = base.toString().replace(/\/+$/, '');
    const events = new URL(`${this.baseUrl}/events`);
    events.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    this.eventsUrl = `${events.toString()}?app=${encodeAriComponent(settings.app)}&subscribeAll=true`;
    this.authorization = `Basic ${Buffer.from(`${settings.username}:${settings.password}`, 'utf8').toString('base64')}`;
  }

  // ---- events --------------------------------------------------------------------

  /** Adds a listener; returns the function that removes it. */
  on<K extends AriClientEventName>(name: K, listener: Listener<K>): () => void {
    const set = this.listeners[name] as Set<Listener<K>>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  private emit<K extends AriClientEventName>(name: K, payload: AriClientEvents[K]): void {
    for (const listener of [...(this.listeners[name] as Set<Listener<K>>)]) {
      try {
        listener(payload);
      } catch (error) {
        // A listener's bug must not stop the other listeners or the connection loop.
        this.logger.log('error', SUBSYS, `a '${name}' listener threw`, { error: String(error) });
      }
    }
  }

  stats(): AriClientStats {
    return { ...this.counters };
  }

  /** The websocket URL (no credentials: they travel in the Authorization header). */
  get webSocketUrl(): string {
    return this.eventsUrl;
  }

  // ---- REST ----------------------------------------------------------------------

  /** `GET /asterisk/info`: the node's EID (`system.entity_id`) and version. */
  async info(): Promise<AriInfo> {
    const path = '/asterisk/info';
    const body = await this.requestJson('GET', path);
    const system = isJsonObject(body) ? body['system'] : undefined;
    const eidText = isJsonObject(system) ? system['entity_id'] : undefined;
    const eid = typeof eidText === 'string' ? parseEid(eidText) : null;
    if (!isJsonObject(body) || !isJsonObject(system) || eid === null) {
      throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'no valid system.entity_id in the answer'));
    }
    const version = system['version'];
    return { eid, version: typeof version === 'string' ? version : null, raw: body };
  }

  /** `GET /asterisk/ping`: `{"ping":"pong","timestamp":…,"asterisk_id":…}`. */
  async ping(): Promise<AriPing> {
    const path = '/asterisk/ping';
    const body = await this.requestJson('GET', path);
    if (!isJsonObject(body) || body['ping'] !== 'pong') {
      throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'the answer is not a pong'));
    }
    const eid = typeof body['asterisk_id'] === 'string' ? parseEid(body['asterisk_id']) : null;
    return { eid, timestamp: typeof body['timestamp'] === 'string' ? body['timestamp'] : null };
  }

  /** `GET /deviceStates/{name}`: works for any device and gives the aggregate (UNKNOWN if never set). */
  async getDeviceState(name: string): Promise<DeviceStateName> {
    const path = `/deviceStates/${encodeAriComponent(name)}`;
    const entry = this.deviceStateEntry(await this.requestJson('GET', path));
    if (entry === null) throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'not a {name, state} object'));
    return entry.state;
  }

  /** `GET /deviceStates`: only the ARI-controlled `Stasis:` devices. */
  async listDeviceStates(): Promise<AriDeviceStateEntry[]> {
    const path = '/deviceStates';
    const body = await this.requestJson('GET', path);
    const entries = Array.isArray(body) ? body.map((item) => this.deviceStateEntry(item)) : null;
    if (entries === null || entries.some((entry) => entry === null)) {
      throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'not an array of {name, state}'));
    }
    return entries as AriDeviceStateEntry[];
  }

  /**
   * `PUT /deviceStates/{name}?deviceState=`: only `Stasis:` names (else ARI_CONFLICT
   * `Uncontrolled device specified`); UNKNOWN is refused with ARI_SERVER `Unknown device`.
   */
  async setDeviceState(name: string, state: DeviceStateName): Promise<void> {
    await this.request('PUT', `/deviceStates/${encodeAriComponent(name)}`, [['deviceState', state]]);
  }

  /** `DELETE /deviceStates/{name}`. Asterisk emits no DeviceStateChanged for it (groundtruth §3). */
  async deleteDeviceState(name: string): Promise<void> {
    await this.request('DELETE', `/deviceStates/${encodeAriComponent(name)}`);
  }

  /** `GET /mailboxes` (res_ari_mailboxes, which is not built by default). */
  async listMailboxes(): Promise<AriMailbox[]> {
    const path = '/mailboxes';
    const body = await this.requestJson('GET', path);
    const mailboxes = Array.isArray(body) ? body.map((item) => this.mailbox(item)) : null;
    if (mailboxes === null || mailboxes.some((mailbox) => mailbox === null)) {
      throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'not an array of mailboxes'));
    }
    return mailboxes as AriMailbox[];
  }

  /** `GET /mailboxes/{name}`; null when Asterisk has no such mailbox (404). */
  async getMailbox(name: string): Promise<AriMailbox | null> {
    const path = `/mailboxes/${encodeAriComponent(name)}`;
    const answer = await this.request('GET', path, [], { allowNotFound: true });
    if (answer.status === 404) return null;
    const mailbox = this.mailbox(this.parseJson('GET', path, answer.bodyText));
    if (mailbox === null) throw this.countedError(new AriError(AriErrorCode.badResponse, 'GET', path, 'not a mailbox object'));
    return mailbox;
  }

  /**
   * `PUT /mailboxes/{name}?oldMessages=&newMessages=`. Asterisk silently stores a missing
   * or non-numeric count as 0 (groundtruth §3), so bad counts are refused here, as the
   * programmer errors they are.
   */
  async setMailbox(name: string, newMessages: number, oldMessages: number): Promise<void> {
    assert(isCount(newMessages) && isCount(oldMessages), `mailbox counts must be non-negative integers (new ${newMessages}, old ${oldMessages})`);
    await this.request('PUT', `/mailboxes/${encodeAriComponent(name)}`, [
      ['oldMessages', String(oldMessages)],
      ['newMessages', String(newMessages)],
    ]);
  }

  /** `DELETE /mailboxes/{name}`; false when there was no such mailbox (404). */
  async deleteMailbox(name: string): Promise<boolean> {
    const answer = await this.request('DELETE', `/mailboxes/${encodeAriComponent(name)}`, [], { allowNotFound: true });
    return answer.status !== 404;
  }

  /**
   * `POST /applications/{app}/subscription?eventSource=…` (e.g. `deviceState:Custom:alice`;
   * `deviceState:` = all devices). ARI_NOT_FOUND while our websocket is not connected.
   */
  async subscribe(eventSource: string | readonly string[]): Promise<AriApplication> {
    return this.subscription('POST', eventSource);
  }

  /** `DELETE /applications/{app}/subscription?eventSource=…`. */
  async unsubscribe(eventSource: string | readonly string[]): Promise<AriApplication> {
    return this.subscription('DELETE', eventSource);
  }

  private async subscription(method: 'POST' | 'DELETE', eventSource: string | readonly string[]): Promise<AriApplication> {
    const sources = typeof eventSource === 'string' ? [eventSource] : eventSource;
    assert(sources.length > 0, 'at least one event source');
    const path = `/applications/${encodeAriComponent(this.settings.app)}/subscription`;
    const answer = await this.request(method, path, sources.map((source) => ['eventSource', source] as const));
    const body = this.parseJson(method, path, answer.bodyText);
    const names = isJsonObject(body) ? body['device_names'] : undefined;
    if (!isJsonObject(body) || typeof body['name'] !== 'string' || !Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw this.countedError(new AriError(AriErrorCode.badResponse, method, path, 'not an application object'));
    }
    return { name: body['name'], deviceNames: names as string[], raw: body };
  }

  private deviceStateEntry(item: unknown): AriDeviceStateEntry | null {
    if (!isJsonObject(item) || typeof item['name'] !== 'string' || typeof item['state'] !== 'string') return null;
    const state = deviceStateFromName(item['state']);
    return state === null ? null : { name: item['name'], state: deviceStateName(state) };
  }

  private mailbox(item: unknown): AriMailbox | null {
    if (!isJsonObject(item) || typeof item['name'] !== 'string') return null;
    const oldMessages = item['old_messages'];
    const newMessages = item['new_messages'];
    if (!isCount(oldMessages) || !isCount(newMessages)) return null;
    return { name: item['name'], oldMessages, newMessages };
  }

  private countedError(error: AriError): AriError {
    this.counters.requestErrors += 1;
    return error;
  }

  private parseJson(method: string, path: string, bodyText: string): unknown {
    try {
      return JSON.parse(bodyText);
    } catch {
      throw this.countedError(new AriError(AriErrorCode.badResponse, method, path, `the body is not JSON: ${JSON.stringify(bodyText.slice(0, 60))}`));
    }
  }

  private async requestJson(method: string, path: string): Promise<unknown> {
    const answer = await this.request(method, path);
    return this.parseJson(method, path, answer.bodyText);
  }

  /**
   * One HTTP request with Basic auth, bounded by requestTimeoutMs (headers and body).
   * Resolves for 2xx (and 404 when allowed); every other outcome is an AriError.
   */
  private async request(
    method: string,
    path: string,
    query: ReadonlyArray<readonly [string, string]> = [],
    options: { allowNotFound?: boolean } = {},
  ): Promise<{ status: number; bodyText: string }> {
    this.counters.requests += 1;
    const search = query.map(([key, value]) => `${key}=${encodeAriComponent(value)}`).join('&');
    const url = `${this.baseUrl}${path}${search === '' ? '' : `?${search}`}`;
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    let status: number;
    let bodyText: string;
    try {
      const response = await this.fetchFn(url, {
        method,
        headers: { Authorization: this.authorization, Accept: 'application/json' },
        signal,
        redirect: 'manual',
      });
      status = response.status;
      bodyText = await this.readBody(response, method, path);
    } catch (error) {
      if (error instanceof AriError) throw this.countedError(error);
      // The signal says it was our timeout, whatever realm the thrown DOMException is from.
      const detail = signal.aborted ? `no answer within ${this.requestTimeoutMs} ms` : `cannot reach Asterisk (${errnoOf(error) ?? String(error)})`;
      throw this.countedError(new AriError(AriErrorCode.unreachable, method, path, detail, { cause: error }));
    }
    if ((status >= 200 && status < 300) || (status === 404 && options.allowNotFound === true)) return { status, bodyText };
    const asteriskMessage = messageOf(bodyText);
    const detail = `${status}${asteriskMessage === null ? '' : ` ${asteriskMessage}`}`;
    throw this.countedError(new AriError(statusCode(status), method, path, detail, { status, asteriskMessage }));
  }

  /** The body as text, refusing more than responseBytesMax. */
  private async readBody(response: Response, method: string, path: string): Promise<string> {
    if (response.body === null) return '';
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > AriClientDefaults.responseBytesMax) {
        await reader.cancel().catch(() => undefined);
        throw new AriError(AriErrorCode.badResponse, method, path, `the body exceeds ${AriClientDefaults.responseBytesMax} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  }

  // ---- event websocket -----------------------------------------------------------

  /**
   * Connects the event websocket (`GET /events?app=…&subscribeAll=true`) and keeps it
   * connected until stop(): failures are retried forever with backoff. Idempotent.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  /** Closes the websocket cleanly and stops reconnecting; resolves once it is closed. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const link = this.link;
    if (link === null) return;
    if (link.opened) this.closeLink(link, 'stopped');
    else link.ws.terminate();
    await link.closed;
  }

  private connect(): void {
    const ws = new WebSocket(this.eventsUrl, {
      headers: { Authorization: this.authorization },
      // Asterisk does not negotiate permessage-deflate; offering it only costs memory.
      perMessageDeflate: false,
      maxPayload: AriClientDefaults.wsPayloadBytesMax,
      followRedirects: false,
    });
    let markClosed = (): void => undefined;
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const link: Link = {
      ws, opened: false, openedAtMs: 0, failure: null, closeReason: null, replaced: false,
      attemptTimer: null, heartbeatTimer: null, pongTimer: null, closeTimer: null, closed,
    };
    this.link = link;
    link.attemptTimer = setTimeout(() => {
      link.failure ??= new AriError(AriErrorCode.unreachable, 'GET', '/events', `no websocket upgrade within ${this.requestTimeoutMs} ms`);
      ws.terminate();
    }, this.requestTimeoutMs);

    ws.on('unexpected-response', (_request, response: IncomingMessage) => this.onRefusedUpgrade(link, response));
    ws.on('open', () => this.onOpen(link));
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onFrame(link, data, isBinary));
    ws.on('pong', () => {
      if (link.pongTimer !== null) clearTimeout(link.pongTimer);
      link.pongTimer = null;
    });
    ws.on('error', (error: Error) => {
      if (link.opened) {
        link.closeReason ??= `error: ${error.message}`;
        return;
      }
      const errno = errnoOf(error);
      const unreachable = errno !== null || /timed out/i.test(error.message);
      const detail = errno !== null ? `cannot reach Asterisk (${errno})` : error.message;
      link.failure ??= new AriError(unreachable ? AriErrorCode.unreachable : AriErrorCode.badResponse, 'GET', '/events', detail, { cause: error });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.onClose(link, code, reason.toString('utf8'));
      markClosed();
    });
  }

  /** The server answered the upgrade with an HTTP status (401, 400 …): keep its message, then abort. */
  private onRefusedUpgrade(link: Link, response: IncomingMessage): void {
    const status = response.statusCode ?? 0;
    const refused = (asteriskMessage: string | null): AriError =>
      new AriError(statusCode(status), 'GET', '/events', `websocket upgrade refused: ${status}${asteriskMessage === null ? '' : ` ${asteriskMessage}`}`, {
        status,
        asteriskMessage,
      });
    // Already known even if the error body never completes (the attempt timer then aborts).
    link.failure = refused(null);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      link.failure = refused(messageOf(Buffer.concat(chunks).toString('utf8')));
      link.ws.terminate();
    };
    response.on('data', (chunk: Buffer) => {
      if (size < AriClientDefaults.upgradeBodyBytesMax) chunks.push(chunk.subarray(0, AriClientDefaults.upgradeBodyBytesMax - size));
      size += chunk.length;
      if (size >= AriClientDefaults.upgradeBodyBytesMax) finish();
    });
    response.on('end', finish);
    response.on('error', finish);
    response.on('close', finish);
  }

  private onOpen(link: Link): void {
    if (link.attemptTimer !== null) clearTimeout(link.attemptTimer);
    link.attemptTimer = null;
    link.opened = true;
    link.openedAtMs = performance.now();
    this.counters.connects += 1;
    if (this.lastFailureKey !== null) this.logger.log('notice', SUBSYS, 'event websocket connected again', { url: this.eventsUrl });
    else this.logger.log('info', SUBSYS, 'event websocket connected', { url: this.eventsUrl });
    this.lastFailureKey = null;
    link.heartbeatTimer = setInterval(() => {
      if (link.pongTimer !== null) return;
      link.ws.ping();
      link.pongTimer = setTimeout(() => {
        link.pongTimer = null;
        link.closeReason ??= `no pong within ${this.heartbeatTimeoutMs} ms`;
        link.ws.terminate();
      }, this.heartbeatTimeoutMs);
    }, this.heartbeatIntervalMs);
    this.emit('connected', { url: this.eventsUrl });
  }

  private onFrame(link: Link, data: WebSocket.RawData, isBinary: boolean): void {
    if (this.link !== link || link.closeReason !== null) return;
    this.counters.framesReceived += 1;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    const parsed = parseAriFrame(bytes, { binary: isBinary });
    if (!parsed.ok) {
      this.malformed(parsed.error);
      return;
    }
    const { value } = parsed;
    switch (value.kind) {
      case 'device-state-changed': {
        const { deviceState, asteriskId, timestamp } = value.event;
        this.emit('device-state', { name: deviceState.name, state: deviceState.state, eid: asteriskId, timestamp });
        return;
      }
      case 'application-replaced':
        this.onApplicationReplaced(link, value.event.application, value.event.timestamp, value.event.asteriskId);
        return;
      case 'other':
        this.emit('event', value.event);
        return;
    }
  }

  private malformed(error: AriFrameError): void {
    this.counters.malformedFrames += 1;
    this.rateLimited.log(`frame:${error.code}`, 'warning', SUBSYS, `skipped a malformed event frame: ${error.message}`, {
      code: error.code,
      malformedFrames: this.counters.malformedFrames,
    });
  }

  /**
   * Another websocket registered our application name, so Asterisk now sends our events
   * there; our socket stays open but goes silent. We do not give the name up: the app name
   * in our settings belongs to this bridge, and a stale duplicate (an old process, someone
   * testing with the same name) must not silently starve it of device states. So we close
   * and reconnect after backoff, which takes the name back. The backoff is not reset by a
   * replaced connection, so two bridges misconfigured with one name settle into swapping
   * the name at most once per reconnectMaxMs, each swap logged, rather than a tight loop.
   */
  private onApplicationReplaced(link: Link, application: string | null, timestamp: string | null, eid: Eid | null): void {
    this.logger.log('warning', SUBSYS, `another client took over ARI application '${application ?? this.settings.app}'; reconnecting to win it back`, {
      reconnectFailures: this.failures,
    });
    link.replaced = true;
    this.emit('application-replaced', { application, timestamp, eid });
    if (this.link === link && link.closeReason === null) this.closeLink(link, 'application replaced');
  }

  /** A clean close (code 1000), forced if the server does not answer it in time. */
  private closeLink(link: Link, reason: string): void {
    link.closeReason ??= reason;
    if (link.closeTimer !== null) return;
    link.closeTimer = setTimeout(() => link.ws.terminate(), this.requestTimeoutMs);
    link.ws.close(1000);
  }

  private onClose(link: Link, code: number, serverReason: string): void {
    for (const timer of [link.attemptTimer, link.closeTimer, link.pongTimer]) if (timer !== null) clearTimeout(timer);
    if (link.heartbeatTimer !== null) clearInterval(link.heartbeatTimer);
    link.attemptTimer = link.closeTimer = link.pongTimer = link.heartbeatTimer = null;
    if (this.link !== link) return;
    this.link = null;

    let delayMs: number;
    if (link.opened) {
      this.counters.disconnects += 1;
      const reason = link.closeReason ?? (serverReason !== '' ? `closed by Asterisk: ${serverReason}` : 'closed by Asterisk');
      const level = link.closeReason === 'stopped' ? 'info' : 'warning';
      this.logger.log(level, SUBSYS, `event websocket disconnected: ${reason}`, { code });
      // A connection that outlived the longest backoff was healthy: start again from min.
      const lived = performance.now() - link.openedAtMs >= this.settings.reconnectMaxMs;
      if (lived && !link.replaced) this.failures = 0;
      delayMs = ariBackoffDelayMs(this.failures, this.settings.reconnectMinMs, this.settings.reconnectMaxMs, this.random());
      this.emit('disconnected', { reason, code });
    } else {
      if (!this.running) return; // stop() aborted the attempt: nothing to report.
      this.counters.connectFailures += 1;
      const failure = link.failure ?? new AriError(AriErrorCode.unreachable, 'GET', '/events', 'closed before the websocket upgrade');
      this.reportFailure(failure);
      // Retrying bad credentials quickly helps no one (and may trip fail2ban): use the max.
      delayMs =
        failure.code === AriErrorCode.auth
          ? this.settings.reconnectMaxMs
          : ariBackoffDelayMs(this.failures, this.settings.reconnectMinMs, this.settings.reconnectMaxMs, this.random());
      this.emit('error', failure);
    }
    this.failures += 1;
    if (!this.running) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.running) this.connect();
    }, delayMs);
  }

  /** Logs a connection failure once while it repeats; a different one is logged again. */
  private reportFailure(failure: AriError): void {
    const key = `${failure.code}|${failure.status ?? ''}|${failure.asteriskMessage ?? failure.message}`;
    if (key === this.lastFailureKey) {
      this.logger.log('debug', SUBSYS, `event websocket still failing: ${failure.message}`);
      return;
    }
    this.lastFailureKey = key;
    const hint = failure.code === AriErrorCode.auth ? ' (check the [ari] username and password, and ari.conf)' : '';
    this.logger.log('error', SUBSYS, `event websocket: ${failure.message}${hint}; retrying`, { code: failure.code, status: failure.status });
  }
}
