// The ARI half of the fake Asterisk (fake-asterisk.ts): an HTTP server under /ari and the
// event websocket /ari/events, answering as the real Asterisk 20 in
// /work/shared/fixtures/asterisk/ari/*.http and ws-*.frames.jsonl does
// (asterisk-groundtruth.md §3, res-corosync.md §3): Basic auth or api_key, the exact
// status lines, bodies and JSON key orders of /asterisk, /deviceStates, /mailboxes and
// /applications, Stasis applications with device-state subscriptions, DeviceStateChanged
// frames and ApplicationReplaced. Paths outside the model (channels, bridges, …) answer
// as an idle Asterisk would or with Asterisk's 404 "Resource not found".
//
// Node's http module appends `Connection`/`Keep-Alive` headers that Asterisk does not
// send; everything else (header order, names, bodies) is Asterisk's. Limits: request
// bodies up to 64 KiB (413 beyond), 4 MiB of unsent websocket output per connection
// (dropped beyond), 64 KiB per incoming websocket message.

import * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { deviceStateName } from '../../../src/asterisk/core/events';
import { asteriskTimestamp } from './fake-ami';
import type { FakeAsteriskState, FakeModules } from './fake-asterisk-state';

/** An ARI account (ari.conf user section). */
export interface AriUser {
  readonly username: string;
  readonly password: string;
}

/** What the ARI server needs from the fake Asterisk around it. */
export interface AriHost {
  readonly eid: string;
  readonly version: string;
  readonly modules: FakeModules;
  readonly users: readonly AriUser[];
  state(): FakeAsteriskState;
  booted(): boolean;
  bootedAtMs(): number;
  /** Records one received request for FakeAsterisk.actions(). */
  recordRequest(method: string, path: string, query: ReadonlyArray<readonly [string, string]>): void;
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_WS_OUTPUT_BYTES = 4 * 1024 * 1024;
const DEVICE_ALL = '__AST_DEVICE_STATE_ALL_TOPIC';
const CHANNEL_ALL = '__AST_CHANNEL_ALL_TOPIC';
const BRIDGE_ALL = '__AST_BRIDGE_ALL_TOPIC';
const ENDPOINT_ALL = '__AST_ENDPOINT_ALL_TOPIC';
const REALM = 'Asterisk REST Interface';
const TRUE_WORDS = ['yes', 'true', 'y', 't', '1', 'on'];

/** The Swagger 1.1 index of the transcripts' build (29-get-resources-json.http) minus basePath. */
const RESOURCE_APIS: ReadonlyArray<readonly [string, string]> = [
  ['asterisk', 'Asterisk resources'],
  ['endpoints', 'Endpoint resources'],
  ['channels', 'Channel resources'],
  ['bridges', 'Bridge resources'],
  ['recordings', 'Recording resources'],
  ['sounds', 'Sound resources'],
  ['playbacks', 'Playback control resources'],
  ['deviceStates', 'Device state resources'],
  ['mailboxes', 'Mailboxes resources'],
  ['events', 'WebSocket resource'],
  ['applications', 'Stasis application resources'],
];

/** A registered Stasis application and what it is subscribed to. */
interface AriApp {
  readonly name: string;
  ws: WebSocket;
  readonly channels: string[];
  readonly bridges: string[];
  readonly endpoints: string[];
  readonly devices: string[];
}

type Params = Map<string, string[]>;

interface Reply {
  status: number;
  text: string;
  body: unknown;
  headers?: ReadonlyArray<readonly [string, string]>;
}

function reply(status: number, text: string, body: unknown = null): Reply {
  return { status, text, body };
}

function error(status: number, text: string, message: string): Reply {
  return reply(status, text, { message });
}

const NOT_FOUND = (): Reply => error(404, 'Not Found', 'Resource not found');

/** atoi: leading blanks, sign, digits; 0 when there are none (ARI's integer parameters). */
function atoi(text: string | undefined): number {
  const m = /^\s*([+-]?\d+)/.exec(text ?? '');
  if (m === null) return 0;
  const n = Number.parseInt(m[1] ?? '0', 10);
  // The counts are stored unsigned, as res_mwi_external keeps them.
  return n < 0 ? (2 ** 32 + (n % 2 ** 32)) % 2 ** 32 : n % 2 ** 32;
}

export class FakeAriServer {
  private readonly host: AriHost;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly apps = new Map<string, AriApp>();
  private readonly sockets = new Set<WebSocket>();

  constructor(host: AriHost) {
    this.host = host;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
      handleProtocols: (protocols: Set<string>) => (protocols.has('ari') ? 'ari' : false),
    });
  }

  listen(hostname: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, hostname, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops listening and closes every connection (HTTP and websocket) abruptly. */
  async close(): Promise<void> {
    this.dropConnections();
    this.server.closeAllConnections();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Terminates every event websocket (no close frame); their applications go away. */
  dropConnections(): void {
    const dropped = new Set(this.sockets);
    for (const ws of dropped) ws.terminate();
    // Unregister now rather than on the (asynchronous) close events, so callers see it at once.
    this.sockets.clear();
    for (const [name, app] of this.apps) if (dropped.has(app.ws)) this.apps.delete(name);
  }

  get websocketCount(): number {
    return this.sockets.size;
  }

  /** Registered application names. */
  applications(): string[] {
    return [...this.apps.keys()];
  }

  /** A device's aggregate changed: DeviceStateChanged to every application subscribed to it. */
  deviceStateChanged(device: string, state: string): void {
    const timestamp = asteriskTimestamp(Date.now());
    for (const app of this.apps.values()) {
      if (!app.devices.includes(DEVICE_ALL) && !app.devices.includes(device)) continue;
      this.send(app.ws, { type: 'DeviceStateChanged', application: app.name, timestamp, device_state: { name: device, state }, asterisk_id: this.host.eid });
    }
  }

  private send(ws: WebSocket, message: unknown): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(message));
    if (ws.bufferedAmount > MAX_WS_OUTPUT_BYTES) ws.terminate();
  }

  // ---- HTTP ----

  private baseHeaders(): Array<readonly [string, string]> {
    return [
      ['Server', `Asterisk/${this.host.version}`],
      ['Date', new Date().toUTCString()],
      ['Cache-Control', 'no-cache, no-store'],
    ];
  }

  private write(res: http.ServerResponse, r: Reply): void {
    const body = r.body === null ? '' : JSON.stringify(r.body);
    const headers: Array<readonly [string, string]> = [...this.baseHeaders(), ...(r.headers ?? [])];
    if (r.body !== null) headers.push(['Content-type', 'application/json']);
    headers.push(['Content-Length', String(Buffer.byteLength(body))]);
    res.sendDate = false;
    res.writeHead(r.status, r.text, headers.flat());
    res.end(body);
  }

  private writeHtml(res: http.ServerResponse, status: number, text: string, message: string): void {
    const body = this.htmlPage(status, text, message);
    res.sendDate = false;
    res.writeHead(status, text, [...this.baseHeaders(), ['Content-type', 'text/html'], ['Content-Length', String(Buffer.byteLength(body))]].flat());
    res.end(body);
  }

  /** ast_http_error's page. */
  private htmlPage(status: number, text: string, message: string): string {
    return `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n<title>${status} ${text}</title>\r\n</head><body>\r\n<h1>${text}</h1>\r\n<p>${message}</p>\r\n<hr />\r\n<address>Asterisk/${this.host.version}</address>\r\n</body></html>\r\n`;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      try {
        this.handle(req, res, tooLarge ? null : Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        this.write(res, error(500, 'Internal Server Error', `Error processing request: ${String(err)}`));
      }
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string | null): void {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = [...url.searchParams] as Array<[string, string]>;
    this.host.recordRequest(method, url.pathname, query);
    if (url.pathname !== '/ari' && !url.pathname.startsWith('/ari/')) {
      this.writeHtml(res, 404, 'Not Found', 'The requested URL was not found on this server.');
      return;
    }
    if (!this.authenticated(req, url)) {
      this.write(res, { ...error(401, 'Unauthorized', 'Authentication required'), headers: [['WWW-Authenticate', `Basic realm="${REALM}"`]] });
      return;
    }
    if (!this.host.booted()) {
      this.write(res, error(503, 'Service Unavailable', 'Asterisk not booted'));
      return;
    }
    if (body === null) {
      this.write(res, error(413, 'Request Entity Too Large', 'Request body too large'));
      return;
    }
    const params: Params = new Map();
    for (const [name, value] of query) {
      if (name === 'api_key') continue;
      params.set(name, [...(params.get(name) ?? []), value]);
    }
    if (body.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        this.write(res, error(400, 'Bad Request', 'Error parsing request body'));
        return;
      }
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        for (const [name, value] of Object.entries(parsed)) {
          if (typeof value === 'string' || typeof value === 'number') params.set(name, [String(value)]);
        }
      }
    }
    let segments: string[];
    try {
      segments = url.pathname.slice('/ari/'.length).split('/').map((s) => decodeURIComponent(s));
    } catch {
      this.write(res, NOT_FOUND());
      return;
    }
    if (segments[0] === 'events' && segments.length === 1) {
      // The websocket resource reached without an upgrade.
      this.writeHtml(res, 400, 'Bad Request', 'This URI is only accessible as a websocket');
      return;
    }
    this.write(res, this.route(method, segments, params, req));
  }

  private authenticated(req: http.IncomingMessage, url: URL): boolean {
    let credentials: string | null = null;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Basic\s+(\S+)$/i.exec(authorization);
      if (m !== null) credentials = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
    } else {
      credentials = url.searchParams.get('api_key');
    }
    if (credentials === null) return false;
    const colon = credentials.indexOf(':');
    if (colon < 0) return false;
    const username = credentials.slice(0, colon);
    const password = credentials.slice(colon + 1);
    return this.host.users.some((u) => u.username === username && u.password === password);
  }

  private route(method: string, segments: readonly string[], params: Params, req: http.IncomingMessage): Reply {
    const [resource, id, sub, extra] = segments;
    const methods = (allowed: Record<string, () => Reply>): Reply => {
      const handler = allowed[method];
      if (handler !== undefined) return handler();
      return { ...error(405, 'Method Not Allowed', 'Invalid method'), headers: [['Allow', Object.keys(allowed).join(',')]] };
    };
    if (segments.some((s) => s === '') || extra !== undefined) return NOT_FOUND();
    switch (resource) {
      case 'asterisk':
        if (id === 'info' && sub === undefined) return methods({ GET: () => reply(200, 'OK', this.info(params.get('only') ?? [])) });
        if (id === 'ping' && sub === undefined) return methods({ GET: () => reply(200, 'OK', { ping: 'pong', timestamp: asteriskTimestamp(Date.now()), asterisk_id: this.host.eid }) });
        return NOT_FOUND();
      case 'deviceStates':
        if (id === undefined) return methods({ GET: () => reply(200, 'OK', this.stasisDeviceStates()) });
        if (sub !== undefined) return NOT_FOUND();
        return methods({
          GET: () => reply(200, 'OK', { name: id, state: this.stateName(id) }),
          PUT: () => this.putDeviceState(id, params.get('deviceState')?.[0]),
          DELETE: () => this.deleteDeviceState(id),
        });
      case 'mailboxes':
        if (!this.host.modules.mwiExternal) return NOT_FOUND();
        if (id === undefined) return methods({ GET: () => reply(200, 'OK', this.host.state().sortedMailboxes().map(([name, c]) => ({ name, old_messages: c.old, new_messages: c.new }))) });
        if (sub !== undefined) return NOT_FOUND();
        return methods({
          GET: () => {
            const counts = this.host.state().mailbox(id);
            return counts === undefined ? error(404, 'Not Found', 'Mailbox is does not exist') : reply(200, 'OK', { name: id, old_messages: counts.old, new_messages: counts.new });
          },
          PUT: () => {
            this.host.state().updateMailbox(id, atoi(params.get('newMessages')?.[0]), atoi(params.get('oldMessages')?.[0]));
            return reply(204, 'No Content');
          },
          DELETE: () => (this.host.state().deleteMailbox(id) ? reply(204, 'No Content') : error(404, 'Not Found', 'Mailbox does not exist')),
        });
      case 'applications':
        if (id === undefined) return methods({ GET: () => reply(200, 'OK', [...this.apps.values()].map((a) => this.appJson(a))) });
        if (sub === undefined) {
          return methods({
            GET: () => {
              const app = this.apps.get(id);
              return app === undefined ? error(404, 'Not Found', 'Application not found') : reply(200, 'OK', this.appJson(app));
            },
          });
        }
        if (sub === 'subscription') {
          return methods({
            POST: () => this.subscription(id, params.get('eventSource') ?? [], true),
            DELETE: () => this.subscription(id, params.get('eventSource') ?? [], false),
          });
        }
        return NOT_FOUND();
      case 'channels':
      case 'bridges':
      case 'endpoints':
      case 'recordings':
      case 'sounds':
        if (id === undefined) return methods({ GET: () => reply(200, 'OK', []) });
        return NOT_FOUND();
      case 'api-docs':
        if (id === 'resources.json' && sub === undefined) return methods({ GET: () => reply(200, 'OK', this.resources(req)) });
        return NOT_FOUND();
      default:
        return NOT_FOUND();
    }
  }

  private stateName(device: string): string {
    return deviceStateName(this.host.state().deviceState(device));
  }

  private info(only: readonly string[]): Record<string, unknown> {
    const started = asteriskTimestamp(this.host.bootedAtMs());
    const all: Record<string, unknown> = {
      build: { os: 'Linux', kernel: '6.18.44-fc-v669', machine: 'x86_64', options: 'OPTIONAL_API', date: '2026-11-21 20:16:30 UTC', user: 'root' },
      system: { version: this.host.version, entity_id: this.host.eid },
      config: { name: '', default_language: 'en', setid: { user: '', group: '' } },
      status: { startup_time: started, last_reload_time: started },
    };
    const wanted = only.flatMap((o) => o.split(',')).filter((o) => o !== '');
    if (wanted.length === 0) return all;
    return Object.fromEntries(Object.entries(all).filter(([key]) => wanted.includes(key)));
  }

  /** GET /deviceStates: the astdb StasisDeviceState entries, sorted by key like the astdb. */
  private stasisDeviceStates(): Array<{ name: string; state: string }> {
    return [...this.host.state().astdb.stasisDevstate.keys()]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((key) => {
        const name = `Stasis:${key}`;
        return { name, state: this.stateName(name) };
      });
  }

  private putDeviceState(device: string, value: string | undefined): Reply {
    switch (this.host.state().updateStasisDeviceState(device, value)) {
      case 'not-controlled':
        return error(409, 'Conflict', 'Uncontrolled device specified');
      case 'missing':
        return error(404, 'Not Found', 'Device name is missing');
      case 'unknown':
        return error(500, 'Internal Server Error', 'Unknown device');
      case 'ok':
        return reply(204, 'No Content');
    }
  }

  private deleteDeviceState(device: string): Reply {
    switch (this.host.state().deleteStasisDeviceState(device)) {
      case 'not-controlled':
        return error(409, 'Conflict', 'Uncontrolled device specified');
      case 'missing':
        return error(404, 'Not Found', 'Device name is missing');
      case 'ok':
        return reply(204, 'No Content');
    }
  }

  private resources(req: http.IncomingMessage): Record<string, unknown> {
    return {
      _copyright: 'Copyright (C) 2012 - 2013, Digium, Inc.',
      _author: 'David M. Lee, II <dlee@digium.com>',
      _svn_revision: '$Revision$',
      apiVersion: '8.0.0',
      swaggerVersion: '1.1',
      basePath: `http://${req.headers.host ?? '127.0.0.1'}/ari`,
      apis: RESOURCE_APIS.map(([name, description]) => ({ path: `/api-docs/${name}.{format}`, description })),
    };
  }

  private appJson(app: AriApp): Record<string, unknown> {
    return {
      name: app.name,
      channel_ids: [...app.channels],
      bridge_ids: [...app.bridges],
      endpoint_ids: [...app.endpoints],
      device_names: [...app.devices],
      events_allowed: [],
      events_disallowed: [],
    };
  }

  /** POST/DELETE /applications/{app}/subscription, as res_stasis handles the sources in order. */
  private subscription(appName: string, sources: readonly string[], subscribe: boolean): Reply {
    // A multi-valued ARI parameter may also carry comma-separated values.
    const uris = sources.flatMap((s) => s.split(',')).filter((s) => s !== '');
    if (uris.length === 0) return error(400, 'Bad Request', 'Missing parameter eventSource');
    const app = this.apps.get(appName);
    if (app === undefined) return error(404, 'Not Found', 'Application not found');
    for (const uri of uris) {
      const scheme = /^(deviceState|channel|bridge|endpoint):/.exec(uri)?.[1];
      if (scheme === undefined) return error(400, 'Bad Request', 'Invalid event source URI scheme');
      const id = uri.slice(scheme.length + 1);
      if (scheme === 'deviceState') {
        const name = id === '' ? DEVICE_ALL : id;
        const subscribed = app.devices.includes(DEVICE_ALL) || app.devices.includes(name);
        if (subscribe) {
          if (!subscribed) app.devices.push(name);
        } else {
          if (!subscribed) return error(422, 'Unprocessable Entity', 'Event source was not subscribed to');
          const at = app.devices.indexOf(name);
          if (at >= 0) app.devices.splice(at, 1);
        }
        continue;
      }
      // Channels, bridges and endpoints never exist in the fake.
      const list = scheme === 'channel' ? app.channels : scheme === 'bridge' ? app.bridges : app.endpoints;
      const all = scheme === 'channel' ? CHANNEL_ALL : scheme === 'bridge' ? BRIDGE_ALL : ENDPOINT_ALL;
      if (subscribe) return error(422, 'Unprocessable Entity', 'Event source does not exist');
      if (!list.includes(all)) return error(422, 'Unprocessable Entity', 'Event source was not subscribed to');
    }
    return reply(200, 'OK', this.appJson(app));
  }

  // ---- websocket ----

  private rawResponse(status: number, text: string, headers: ReadonlyArray<readonly [string, string]>, body: string): string {
    let out = `HTTP/1.1 ${status} ${text}\r\n`;
    for (const [name, value] of [...this.baseHeaders(), ...headers]) out += `${name}: ${value}\r\n`;
    return `${out}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.host.recordRequest(req.method ?? 'GET', url.pathname, [...url.searchParams] as Array<[string, string]>);
    const refuse = (text: string): void => {
      socket.end(text, () => socket.destroy());
    };
    if (url.pathname !== '/ari/events') {
      refuse(this.rawResponse(404, 'Not Found', [['Content-type', 'application/json']], JSON.stringify({ message: 'Resource not found' })));
      return;
    }
    if (!this.authenticated(req, url)) {
      refuse(this.rawResponse(401, 'Unauthorized', [['WWW-Authenticate', `Basic realm="${REALM}"`], ['Content-type', 'application/json']], JSON.stringify({ message: 'Authentication required' })));
      return;
    }
    if (!this.host.booted()) {
      refuse(this.rawResponse(503, 'Service Unavailable', [['Content-type', 'application/json']], JSON.stringify({ message: 'Asterisk not booted' })));
      return;
    }
    const appNames = (url.searchParams.get('app') ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
    if (appNames.length === 0) {
      // Asterisk answers twice, back to back (ws-05-missing-app.rx).
      const page = this.htmlPage(400, 'Bad Request', 'HTTP request is missing param: [app]');
      refuse(
        this.rawResponse(400, 'Bad Request', [['Content-type', 'text/html']], page) +
          this.rawResponse(400, 'Bad Request', [['Sec-WebSocket-Version', '7, 8, 13']], ''),
      );
      return;
    }
    const subscribeAll = TRUE_WORDS.includes((url.searchParams.get('subscribeAll') ?? '').toLowerCase());
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onWebsocket(ws, appNames, subscribeAll, socket));
  }

  private onWebsocket(ws: WebSocket, appNames: readonly string[], subscribeAll: boolean, socket: Duplex): void {
    this.sockets.add(ws);
    (socket as net.Socket).setNoDelay?.(true);
    const timestamp = asteriskTimestamp(Date.now());
    for (const name of appNames) {
      let app = this.apps.get(name);
      if (app === undefined) {
        app = { name, ws, channels: [], bridges: [], endpoints: [], devices: [] };
        this.apps.set(name, app);
      } else {
        // The older connection is told, and left open (ws-03a/ws-03b).
        this.send(app.ws, { type: 'ApplicationReplaced', timestamp, application: name, asterisk_id: this.host.eid });
        app.ws = ws;
      }
      if (subscribeAll) {
        for (const [list, all] of [[app.channels, CHANNEL_ALL], [app.bridges, BRIDGE_ALL], [app.endpoints, ENDPOINT_ALL], [app.devices, DEVICE_ALL]] as const) {
          if (!list.includes(all)) list.push(all);
        }
      }
    }
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      this.sockets.delete(ws);
      for (const [name, app] of this.apps) if (app.ws === ws) this.apps.delete(name);
    });
  }
}
