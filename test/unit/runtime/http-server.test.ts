// Goal: the health and metrics HTTP server (src/runtime/http-server.ts) answers exactly
// GET/HEAD on /healthz, /readyz and /metrics: /healthz 200 below the lag threshold and
// 503 at or above it; /readyz 200 when the ring is operational, sync done and IPC
// listening, 503 naming what is not, `?quorate=1` also requiring quorum, 400 for a bad
// flag; /metrics the handler's exposition; 404 on other paths, 405 with Allow on other
// methods, 400 with the connection closed for a request with a body, 500 (not a crash)
// when a handler fails; every answer counted; a busy address is HttpServerError
// HTTP_ADDRESS_IN_USE; close() ends keep-alive connections. The readiness verdict
// itself (src/ipc/readiness.ts) and EventLoopMonitor are checked here too.
// Method: a real server on 127.0.0.1 port 0 with fake handlers, node:http requests.

import { afterEach, describe, expect, it } from '@jest/globals';
import * as http from 'node:http';
import * as net from 'node:net';
import { type ReadinessInput, assessReadiness } from '../../../src/ipc/readiness';
import { EventLoopMonitor } from '../../../src/runtime/event-loop-monitor';
import { HealthHttpServer, HttpServerError, HttpServerErrorCode } from '../../../src/runtime/http-server';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, path: string, options: { body?: string; agent?: http.Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: options.agent ?? false, timeout: 5000, headers: options.body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(options.body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

const operational: ReadinessInput = { state: 'operational', syncing: false, quorate: true, ipcListening: true };

class Fixture {
  lagMs = 3;
  readiness: ReadinessInput = { ...operational };
  metricsError: Error | null = null;
  readonly counted: Array<[string, number]> = [];
  readonly server: HealthHttpServer;

  constructor() {
    this.server = new HealthHttpServer({
      host: '127.0.0.1',
      port: 0,
      handlers: {
        eventLoopLagMs: () => this.lagMs,
        readiness: () => this.readiness,
        metrics: () => (this.metricsError === null
          ? Promise.resolve({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'carillon_totem_members 3\n' })
          : Promise.reject(this.metricsError)),
      },
      onRequest: (path, status) => this.counted.push([path, status]),
    });
  }

  get port(): number {
    return this.server.address().port;
  }
}

let fixture: Fixture | null = null;

async function start(): Promise<Fixture> {
  fixture = new Fixture();
  await fixture.server.listen();
  return fixture;
}

afterEach(async () => {
  await fixture?.server.close();
  fixture = null;
});

describe('HealthHttpServer', () => {
  it('GET /healthz: 200 with the lag below the threshold, 503 at or above it', async () => {
    const f = await start();
    const ok = await request(f.port, 'GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(ok.body)).toEqual({ status: 'ok', eventLoopLagMs: 3, thresholdMs: 1000 });
    f.lagMs = 1000;
    const bad = await request(f.port, 'GET', '/healthz');
    expect(bad.status).toBe(503);
    expect(JSON.parse(bad.body)).toMatchObject({ status: 'unhealthy', eventLoopLagMs: 1000, problems: ['event loop lag 1000 ms is not below 1000 ms'] });
  });

  it('GET /readyz: 200 when operational, synced and IPC listening; 503 naming each failed check', async () => {
    const f = await start();
    const ok = await request(f.port, 'GET', '/readyz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ status: 'ready', checks: { ring: true, sync: true, ipc: true }, problems: [], state: 'operational', syncing: false, quorate: true });
    f.readiness = { state: 'gather', syncing: true, quorate: false, ipcListening: false };
    const bad = await request(f.port, 'GET', '/readyz');
    expect(bad.status).toBe(503);
    const body = JSON.parse(bad.body) as { status: string; checks: Record<string, boolean>; problems: string[] };
    expect(body.status).toBe('not ready');
    expect(body.checks).toEqual({ ring: false, sync: false, ipc: false });
    expect(body.problems).toEqual([
      'ring: the Totem state is gather, not operational',
      'sync: the services are synchronising after a membership change',
      'ipc: the IPC socket is not listening',
    ]);
  });

  it('GET /readyz?quorate=1 also requires quorum; a bad flag is 400', async () => {
    const f = await start();
    f.readiness = { ...operational, quorate: false };
    expect((await request(f.port, 'GET', '/readyz')).status).toBe(200);
    expect((await request(f.port, 'GET', '/readyz?quorate=0')).status).toBe(200);
    for (const q of ['quorate=1', 'quorate=true', 'quorate=yes', 'quorate']) {
      const r = await request(f.port, 'GET', `/readyz?${q}`);
      expect([q, r.status]).toEqual([q, 503]);
      expect(JSON.parse(r.body)).toMatchObject({ checks: { quorum: false }, problems: ['quorum: this partition is not quorate'] });
    }
    f.readiness = { ...operational, quorate: true };
    expect((await request(f.port, 'GET', '/readyz?quorate=1')).status).toBe(200);
    const bad = await request(f.port, 'GET', '/readyz?quorate=maybe');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('maybe');
  });

  it('GET /metrics returns the exposition with its content type; a failing handler is a 500', async () => {
    const f = await start();
    const ok = await request(f.port, 'GET', '/metrics');
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(ok.body).toBe('carillon_totem_members 3\n');
    f.metricsError = new Error('source exploded');
    const failed = await request(f.port, 'GET', '/metrics');
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toEqual({ error: 'Internal Server Error', message: '/metrics failed: source exploded' });
    // The server is still serving.
    expect((await request(f.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('HEAD answers like GET without a body', async () => {
    const f = await start();
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const get = await request(f.port, 'GET', path);
      const head = await request(f.port, 'HEAD', path);
      expect([path, head.status, head.body]).toEqual([path, get.status, '']);
      expect(head.headers['content-length']).toBe(get.headers['content-length']);
    }
  });

  it('404 for other paths, 405 with Allow for other methods, 400 for a body', async () => {
    const f = await start();
    for (const path of ['/', '/metrics/', '/healthz/x', '/READYZ', '/favicon.ico']) {
      expect([path, (await request(f.port, 'GET', path)).status]).toEqual([path, 404]);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await request(f.port, method, '/metrics');
      expect([method, r.status, r.headers['allow']]).toEqual([method, 405, 'GET, HEAD']);
    }
    const withBody = await request(f.port, 'GET', '/healthz', { body: 'x'.repeat(100) });
    expect(withBody.status).toBe(400);
    expect(withBody.headers['connection']).toBe('close');
    expect(JSON.parse(withBody.body)).toEqual({ error: 'Bad Request', message: 'request bodies are not accepted' });
    // A body beyond the discard bound ends the connection without an answer.
    await expect(request(f.port, 'GET', '/healthz', { body: 'x'.repeat(200_000) })).rejects.toThrow(/socket hang up|ECONNRESET|EPIPE/);
    expect(f.counted.at(-1)).toEqual(['/healthz', 413]);
    expect((await request(f.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers a malformed request with 400 instead of failing', async () => {
    const f = await start();
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(f.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect((await request(f.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('counts every answer with its path (other for unknown ones) and status', async () => {
    const f = await start();
    await request(f.port, 'GET', '/healthz');
    await request(f.port, 'GET', '/nope');
    await request(f.port, 'POST', '/readyz');
    expect(f.counted).toEqual([['/healthz', 200], ['other', 404], ['/readyz', 405]]);
  });

  it('a busy address is HttpServerError HTTP_ADDRESS_IN_USE naming it', async () => {
    const f = await start();
    const second = new HealthHttpServer({ host: '127.0.0.1', port: f.port, handlers: { eventLoopLagMs: () => 0, readiness: () => operational, metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) } });
    const error = await second.listen().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(HttpServerError);
    expect((error as HttpServerError).code).toBe(HttpServerErrorCode.addressInUse);
    expect((error as HttpServerError).message).toContain(`127.0.0.1:${f.port}`);
    await second.close();
  });

  it('close() ends keep-alive connections and is idempotent', async () => {
    const f = await start();
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await request(f.port, 'GET', '/healthz', { agent })).headers['connection']).toBe('keep-alive');
      await Promise.race([
        Promise.all([f.server.close(), f.server.close()]),
        new Promise((_, reject) => setTimeout(() => reject(new Error('close() hung on a keep-alive connection')), 3000)),
      ]);
      await expect(request(f.port, 'GET', '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  });
});

describe('assessReadiness', () => {
  it('is ready only with every check passing', () => {
    expect(assessReadiness(operational)).toEqual({ ready: true, checks: { ring: true, sync: true, ipc: true }, problems: [] });
    for (const state of ['gather', 'commit', 'recovery'] as const) expect(assessReadiness({ ...operational, state }).ready).toBe(false);
    expect(assessReadiness({ ...operational, syncing: true }).ready).toBe(false);
    expect(assessReadiness({ ...operational, ipcListening: false }).ready).toBe(false);
    // A daemon without services reports no syncing: nothing to wait for.
    expect(assessReadiness({ ...operational, syncing: undefined }).ready).toBe(true);
  });

  it('checks quorum only when asked', () => {
    expect(assessReadiness({ ...operational, quorate: false }).ready).toBe(true);
    expect(assessReadiness({ ...operational, quorate: false }, { requireQuorate: true })).toEqual({
      ready: false, checks: { ring: true, sync: true, ipc: true, quorum: false }, problems: ['quorum: this partition is not quorate'],
    });
    expect(assessReadiness({ ...operational, quorate: null }, { requireQuorate: true }).problems).toEqual(['quorum: no quorum service answered']);
    expect(assessReadiness(operational, { requireQuorate: true }).ready).toBe(true);
  });
});

describe('EventLoopMonitor', () => {
  it('reports a stall of the event loop as lag, and nothing before it', async () => {
    const monitor = new EventLoopMonitor({ resolutionMs: 10, windowMs: 60_000 });
    monitor.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = monitor.lagMs();
      const until = performance.now() + 300;
      while (performance.now() < until) {
        // a synchronous stall of 300 ms
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(monitor.lagMs()).toBeGreaterThanOrEqual(250);
      expect(before).toBeLessThan(250);
    } finally {
      monitor.stop();
    }
  });
});
