// A small HTTP + websocket stub of Asterisk's ARI for the AriClient tests only (the full
// fake Asterisk is fake-asterisk*.ts). It answers from the recordings of a real Asterisk 20
// in ../shared/fixtures/asterisk/ari/ (README.md "ari/"): a test queues the recorded
// exchanges it expects, the stub checks that each request matches the recorded method,
// path (query included, byte for byte) and credentials from requests.tsv, and answers with
// the recorded status, headers and body. The event websocket follows groundtruth §3: Basic
// auth on the upgrade (a bad one gets the recorded 401 bytes of ws-04-bad-auth.rx, a
// missing app the recorded 400s of ws-05-missing-app.rx), one owner per application name,
// and a second connection with the same name sends ApplicationReplaced to the first
// without closing it. Listens on 127.0.0.1, port 0.

import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import * as path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';

export const ARI_FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/asterisk/ari');

export interface RecordedRequest {
  readonly name: string;
  readonly method: string;
  /** Path and query exactly as sent, e.g. `/ari/deviceStates/Stasis:bob?deviceState=INUSE`. */
  readonly path: string;
  /** `user:password`. */
  readonly credentials: string;
}

export interface RecordedResponse {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

let requestTable: Map<string, RecordedRequest> | null = null;

/** The row of requests.tsv for a recording name (e.g. `03-put-devicestate-custom-bob-409`). */
export function recordedRequest(name: string): RecordedRequest {
  if (requestTable === null) {
    requestTable = new Map();
    for (const line of fs.readFileSync(path.join(ARI_FIXTURES, 'requests.tsv'), 'utf8').split('\n')) {
      const [file, method, requestPath, credentials] = line.split('\t');
      if (file === undefined || method === undefined || requestPath === undefined || credentials === undefined) continue;
      requestTable.set(file, { name: file, method, path: requestPath, credentials });
    }
  }
  const request = requestTable.get(name);
  if (request === undefined) throw new Error(`no recorded request ${name} in requests.tsv`);
  return request;
}

/** A `curl -i --raw` recording: status line, CRLF headers, body. */
export function recordedResponse(name: string): RecordedResponse {
  const raw = fs.readFileSync(path.join(ARI_FIXTURES, `${name}.http`));
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`${name}.http has no header end`);
  const [statusLine = '', ...headerLines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(statusLine);
  if (match === null) throw new Error(`${name}.http: bad status line ${statusLine}`);
  const headers = headerLines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return { status: Number(match[1]), reason: match[2] ?? '', headers, body: raw.subarray(split + 4) };
}

/** The text frames (opcode 1) of a websocket recording, e.g. `ws-01-subscribeall`. */
export function recordedTextFrames(name: string): string[] {
  const frames: string[] = [];
  for (const line of fs.readFileSync(path.join(ARI_FIXTURES, `${name}.frames.jsonl`), 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const frame = JSON.parse(line) as { opcode?: number; payload?: string };
    if (frame.opcode === 1 && frame.payload !== undefined) frames.push(frame.payload);
  }
  return frames;
}

type Expectation =
  | { readonly kind: 'recorded'; readonly request: RecordedRequest; readonly response: RecordedResponse }
  | { readonly kind: 'raw'; readonly method: string; readonly path: string; readonly status: number; readonly body: string }
  | { readonly kind: 'hang'; readonly method: string; readonly path: string };

export interface StubRequestLog {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | null;
}

export interface AriStubOptions {
  readonly username?: string;
  readonly password?: string;
  /** Answer websocket pings (Asterisk does); false to test the client's heartbeat. */
  readonly autoPong?: boolean;
}

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

export class AriStubServer {
  /** REST requests in arrival order. */
  readonly requests: StubRequestLog[] = [];
  /** Requests that did not match what the test queued (a test asserts this stays empty). */
  readonly mismatches: string[] = [];
  /** Websocket upgrade requests seen (accepted or refused). */
  upgrades = 0;
  /** Upgrades refused with the recorded 401. */
  refusedUpgrades = 0;
  /** The request line path and query of every upgrade, and its Authorization header. */
  readonly upgradeRequests: Array<{ readonly path: string; readonly authorization: string | null }> = [];
  /** Websocket pings received from clients. */
  pingsReceived = 0;

  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly queue: Expectation[] = [];
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly rawSockets = new Set<Duplex>();
  /** Application name → the connection that currently owns it. */
  private readonly owners = new Map<string, WebSocket>();
  private readonly sockets = new Set<WebSocket>();
  private credentials: string;
  private portNumber = 0;

  private constructor(options: AriStubOptions) {
    this.credentials = `${options.username ?? 'ariuser'}:${options.password ?? 'aripass'}`;
    this.wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true, perMessageDeflate: false });
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  static async start(options: AriStubOptions = {}): Promise<AriStubServer> {
    const stub = new AriStubServer(options);
    await new Promise<void>((resolve, reject) => {
      stub.server.once('error', reject);
      stub.server.listen(0, '127.0.0.1', () => resolve());
    });
    stub.portNumber = (stub.server.address() as AddressInfo).port;
    return stub;
  }

  get port(): number {
    return this.portNumber;
  }

  /** The ARI base URL, as AriSettings.url. */
  get url(): string {
    return `http://127.0.0.1:${this.portNumber}/ari`;
  }

  /** Changes the accepted `user:password` (an operator fixing ari.conf). */
  setCredentials(credentials: string): void {
    this.credentials = credentials;
  }

  /** The next REST request must be the recorded one; it gets the recorded answer. */
  expect(name: string): void {
    this.queue.push({ kind: 'recorded', request: recordedRequest(name), response: recordedResponse(name) });
  }

  /** The next REST request must be `method path`; it gets `status` with a JSON `body`. */
  expectRaw(method: string, requestPath: string, status: number, body: string): void {
    this.queue.push({ kind: 'raw', method, path: requestPath, status, body });
  }

  /** The next REST request must be `method path`; it is never answered. */
  expectHang(method: string, requestPath: string): void {
    this.queue.push({ kind: 'hang', method, path: requestPath });
  }

  /** Expectations not consumed yet. */
  get pending(): number {
    return this.queue.length;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? '';
    const requestPath = req.url ?? '';
    const authorization = req.headers.authorization ?? null;
    this.requests.push({ method, path: requestPath, authorization });
    const expectation = this.queue.shift();
    const refuse = (why: string): void => {
      this.mismatches.push(`${method} ${requestPath}: ${why}`);
      res.writeHead(599, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: `stub: ${why}` }));
    };
    if (expectation === undefined) return refuse('no request expected');
    const expectedMethod = expectation.kind === 'recorded' ? expectation.request.method : expectation.method;
    const expectedPath = expectation.kind === 'recorded' ? expectation.request.path : expectation.path;
    if (method !== expectedMethod || requestPath !== expectedPath) return refuse(`expected ${expectedMethod} ${expectedPath}`);
    const expectedAuth = basic(expectation.kind === 'recorded' ? expectation.request.credentials : this.credentials);
    if (authorization !== expectedAuth) return refuse(`expected Authorization ${expectedAuth}, got ${String(authorization)}`);
    // Drain the (empty) request body before answering.
    req.resume();
    if (expectation.kind === 'hang') {
      this.hanging.add(res);
      return;
    }
    if (expectation.kind === 'raw') {
      res.writeHead(expectation.status, { 'Content-Type': 'application/json' }).end(expectation.body);
      return;
    }
    const { response } = expectation;
    // The recorded Date header, not today's.
    res.sendDate = false;
    res.writeHead(response.status, response.reason, response.headers.flat());
    res.end(response.body);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgrades += 1;
    this.upgradeRequests.push({ path: req.url ?? '', authorization: req.headers.authorization ?? null });
    this.rawSockets.add(socket);
    socket.on('close', () => this.rawSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://stub');
    if (req.headers.authorization !== basic(this.credentials)) {
      this.refusedUpgrades += 1;
      socket.end(fs.readFileSync(path.join(ARI_FIXTURES, 'ws-04-bad-auth.rx')));
      return;
    }
    const app = url.searchParams.get('app');
    if (url.pathname !== '/ari/events' || app === null || app === '') {
      socket.end(fs.readFileSync(path.join(ARI_FIXTURES, 'ws-05-missing-app.rx')));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, app, url.searchParams.get('subscribeAll')));
  }

  private onConnection(ws: WebSocket, app: string, _subscribeAll: string | null): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      if (this.owners.get(app) === ws) this.owners.delete(app);
    });
    ws.on('error', () => ws.terminate());
    ws.on('ping', () => {
      this.pingsReceived += 1;
    });
    const previous = this.owners.get(app);
    this.owners.set(app, ws);
    if (previous !== undefined && previous.readyState === WebSocket.OPEN) {
      // As Asterisk: the recorded ApplicationReplaced (key order kept), and no close.
      const [recorded = ''] = recordedTextFrames('ws-03a-first-connection');
      const frame = JSON.parse(recorded) as Record<string, unknown>;
      frame['application'] = app;
      previous.send(JSON.stringify(frame));
    }
  }

  /** Open server-side connections. */
  get openConnections(): number {
    return [...this.sockets].filter((ws) => ws.readyState === WebSocket.OPEN).length;
  }

  /** Sends a text (or binary) frame to the connection that owns `app`; false if none does. */
  send(app: string, frame: string | Buffer, binary = false): boolean {
    const ws = this.owners.get(app);
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(frame, { binary });
    return true;
  }

  /** Sends to every open connection, owner or not (e.g. to a replaced one). */
  broadcast(frame: string): void {
    for (const ws of this.sockets) if (ws.readyState === WebSocket.OPEN) ws.send(frame);
  }

  /** Closes every websocket from the server side, as Asterisk does on shutdown (1000). */
  closeConnections(code = 1000): void {
    for (const ws of this.sockets) ws.close(code);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    for (const ws of this.sockets) ws.terminate();
    for (const socket of this.rawSockets) socket.destroy();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
