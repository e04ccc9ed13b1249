// carillond's health and metrics HTTP server (architecture.md §3.3, "Health endpoint" and
// "Prometheus metrics"): node:http on carillon { http_listen } (default 127.0.0.1:9405),
// three read-only resources and nothing else.
//
//   GET /healthz          200 while the event loop is responsive (its recent lag below
//                         the threshold, default 1 s), else 503. JSON body.
//   GET /readyz           200 when the ring is operational, the service sync is done and
//                         the IPC socket listens (src/ipc/readiness.ts), else 503 with
//                         the failed checks. `?quorate=1` also requires quorum. JSON body.
//   GET /metrics          the Prometheus exposition (src/runtime/metrics.ts).
//
// HEAD works wherever GET does (same headers, no body). Another method on a known path is
// 405 with Allow; an unknown path 404; a bad query value or a request with a body 400.
// Bounded: bodies are never used (one up to 64 KiB is discarded and answered 400 with
// the connection closed; a larger one ends the connection), headers at most 8 KiB, a
// request must arrive within requestTimeoutMs, at most connectionsMax connections,
// keep-alive idles out. A failing handler is a 500 with a JSON error, never a crash.
// close() ends every connection.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ReadinessInput, assessReadiness } from '../ipc/readiness';

export const HttpServerDefaults = {
  /** Largest event-loop lag /healthz still calls healthy. */
  lagThresholdMs: 1000,
  requestTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
  headersBytesMax: 8192,
  connectionsMax: 32,
  requestsPerConnectionMax: 1000,
  /** A request body is read and thrown away up to this size; beyond, the connection ends. */
  bodyDiscardBytesMax: 65_536,
} as const;

export const HttpServerErrorCode = {
  /** Something else listens on http_listen. */
  addressInUse: 'HTTP_ADDRESS_IN_USE',
  /** Any other bind failure (address not local, permission denied). */
  listenFailed: 'HTTP_LISTEN_FAILED',
} as const;
export type HttpServerErrorCode = (typeof HttpServerErrorCode)[keyof typeof HttpServerErrorCode];

export class HttpServerError extends Error {
  readonly code: HttpServerErrorCode;
  readonly address: string;
  constructor(code: HttpServerErrorCode, address: string, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'HttpServerError';
    this.code = code;
    this.address = address;
  }
}

/** What the endpoints read, at request time. */
export interface HttpServerHandlers {
  /** The event loop's recent largest lag (EventLoopMonitor.lagMs). */
  eventLoopLagMs(): number;
  /** The daemon's state for /readyz. */
  readiness(): ReadinessInput;
  /** The exposition text for /metrics (DaemonMetrics.render). */
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface HttpServerLog {
  warn(message: string, meta?: Record<string, unknown>): void;
}

export interface HealthHttpServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests); address() tells which. */
  readonly port: number;
  readonly handlers: HttpServerHandlers;
  /** Called once per answered request, with the path ("other" for unknown ones) and the status. */
  readonly onRequest?: (path: string, statusCode: number) => void;
  readonly log?: HttpServerLog;
  readonly lagThresholdMs?: number;
  readonly requestTimeoutMs?: number;
  readonly connectionsMax?: number;
}

const PATHS = ['/healthz', '/readyz', '/metrics'] as const;
type KnownPath = (typeof PATHS)[number];
const ALLOW = 'GET, HEAD';
const JSON_TYPE = 'application/json; charset=utf-8';

interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

function json(status: number, value: unknown, headers?: Record<string, string>): Reply {
  return { status, contentType: JSON_TYPE, body: `${JSON.stringify(value)}\n`, ...(headers === undefined ? {} : { headers }) };
}

function errorReply(status: number, message: string, headers?: Record<string, string>): Reply {
  return json(status, { error: http.STATUS_CODES[status] ?? 'Error', message }, headers);
}

/** `quorate`, `quorate=1|true|yes` → true; absent, `0|false|no` → false; anything else → null (400). */
function parseFlag(value: string | null): boolean | null {
  if (value === null) return false;
  const v = value.toLowerCase();
  if (v === '' || v === '1' || v === 'true' || v === 'yes') return true;
  if (v === '0' || v === 'false' || v === 'no') return false;
  return null;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export class HealthHttpServer {
  private readonly options: HealthHttpServerOptions;
  private readonly server: http.Server;
  private readonly lagThresholdMs: number;
  private state: 'new' | 'listening' | 'closed' = 'new';
  private closing: Promise<void> | null = null;

  constructor(options: HealthHttpServerOptions) {
    this.options = options;
    this.lagThresholdMs = options.lagThresholdMs ?? HttpServerDefaults.lagThresholdMs;
    const requestTimeoutMs = options.requestTimeoutMs ?? HttpServerDefaults.requestTimeoutMs;
    this.server = http.createServer({
      maxHeaderSize: HttpServerDefaults.headersBytesMax,
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      keepAliveTimeout: HttpServerDefaults.keepAliveTimeoutMs,
    });
    this.server.maxConnections = options.connectionsMax ?? HttpServerDefaults.connectionsMax;
    this.server.maxRequestsPerSocket = HttpServerDefaults.requestsPerConnectionMax;
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      // Malformed request line or headers, header overflow, timeout: node's own 400/408/431.
      if (socket.writable && error.code !== 'ECONNRESET') {
        const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        this.options.onRequest?.('other', status);
      } else socket.destroy();
    });
  }

  /** Binds host:port; throws HttpServerError (HTTP_ADDRESS_IN_USE, HTTP_LISTEN_FAILED). */
  async listen(): Promise<void> {
    if (this.state !== 'new') throw new Error('HealthHttpServer.listen() may be called once');
    const { host, port } = this.options;
    const where = `${hostForUrl(host)}:${port}`;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const code = e.code === 'EADDRINUSE' ? HttpServerErrorCode.addressInUse : HttpServerErrorCode.listenFailed;
        reject(new HttpServerError(code, where, `cannot listen on http_listen ${where}: ${e.message}`, { cause: e }));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.state = 'listening';
    this.server.on('error', (e) => this.options.log?.warn('http server error', { error: e.message }));
  }

  /** The bound address (port resolved when 0 was asked for). */
  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo | null;
    return { host: this.options.host, port: a?.port ?? this.options.port };
  }

  /** Stops accepting and ends every connection, idle or not. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    const wasListening = this.state === 'listening';
    this.state = 'closed';
    this.closing = wasListening
      ? new Promise<void>((resolve) => {
          this.server.close(() => resolve());
          this.server.closeAllConnections();
        })
      : Promise.resolve();
    return this.closing;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://carillond.invalid');
    } catch {
      this.send(req, res, 'other', errorReply(400, 'malformed request target'));
      return;
    }
    const path = (PATHS as readonly string[]).includes(url.pathname) ? (url.pathname as KnownPath) : null;
    if (path === null) {
      this.send(req, res, 'other', errorReply(404, `no such resource ${url.pathname}; try /healthz, /readyz or /metrics`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(req, res, path, errorReply(405, `${req.method ?? '?'} is not allowed on ${path}; use GET or HEAD`, { allow: ALLOW }));
      return;
    }
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      this.refuseBody(req, res, path);
      return;
    }
    this.answer(path, url.searchParams).then(
      (reply) => this.send(req, res, path, reply),
      (e: unknown) => {
        this.options.log?.warn('http handler failed', { path, error: e instanceof Error ? e.message : String(e) });
        this.send(req, res, path, errorReply(500, `${path} failed: ${e instanceof Error ? e.message : String(e)}`));
      },
    );
  }

  /**
   * 400 for a request with a body, answered once the body is in (discarded, never
   * buffered): closing a socket with unread bytes makes the kernel reset the connection,
   * which can destroy the answer before the client reads it. A body over
   * bodyDiscardBytesMax ends the connection without an answer.
   */
  private refuseBody(req: http.IncomingMessage, res: http.ServerResponse, path: KnownPath): void {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > HttpServerDefaults.bodyDiscardBytesMax) {
        this.options.onRequest?.(path, 413);
        req.socket.destroy();
      }
    });
    req.on('end', () => this.send(req, res, path, errorReply(400, 'request bodies are not accepted', { connection: 'close' })));
  }

  private async answer(path: KnownPath, query: URLSearchParams): Promise<Reply> {
    const handlers = this.options.handlers;
    switch (path) {
      case '/healthz': {
        const lagMs = handlers.eventLoopLagMs();
        const healthy = lagMs < this.lagThresholdMs;
        return json(healthy ? 200 : 503, {
          status: healthy ? 'ok' : 'unhealthy',
          eventLoopLagMs: Math.round(lagMs * 1000) / 1000,
          thresholdMs: this.lagThresholdMs,
          ...(healthy ? {} : { problems: [`event loop lag ${Math.round(lagMs)} ms is not below ${this.lagThresholdMs} ms`] }),
        });
      }
      case '/readyz': {
        const requireQuorate = parseFlag(query.get('quorate'));
        if (requireQuorate === null) return errorReply(400, `quorate must be empty, 1, true, yes, 0, false or no, not "${query.get('quorate') ?? ''}"`);
        const input = handlers.readiness();
        const result = assessReadiness(input, { requireQuorate });
        return json(result.ready ? 200 : 503, {
          status: result.ready ? 'ready' : 'not ready',
          checks: result.checks,
          problems: result.problems,
          state: input.state,
          syncing: input.syncing ?? false,
          quorate: input.quorate,
        });
      }
      case '/metrics': {
        const { contentType, body } = await handlers.metrics();
        return { status: 200, contentType, body };
      }
    }
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, path: string, reply: Reply): void {
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(reply.body, 'utf8');
    res.writeHead(reply.status, {
      'content-type': reply.contentType,
      'content-length': String(body.length),
      'cache-control': 'no-store',
      ...reply.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.options.onRequest?.(path, reply.status);
  }
}
