// Goal: IpcServer (src/runtime/ipc-server.ts) on a real unix socket enforces the
// protocol's hello and version rules, answers every malformed line with exactly one
// error and keeps serving, bounds request lines, output queues and the client count,
// removes a stale socket file but refuses to start next to a live server or over a
// non-socket file, creates the socket 0660 in a 0755 directory, and unlinks it on close.
// Method: a real IpcServer on a temp path under os.tmpdir() with a FakeDaemonApi,
// driven by raw NDJSON line clients; every wait is bounded by a timeout and ordering is
// established by awaiting answers or the server's onClientClosed hook, never by sleeping.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TotemEventJson } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { type IpcClientClosedInfo, IpcServer, type IpcServerOptions, IpcServerError, IpcServerErrorCode } from '../../../src/runtime/ipc-server';
import { FakeDaemonApi, LineClient, deliverEvent, makeTempDir, sampleStatus, within } from './ipc-test-kit';

let dir = '';
let socketPath = '';
let api: FakeDaemonApi;
const servers: IpcServer[] = [];
const clients: LineClient[] = [];
let closedEvents: IpcClientClosedInfo[] = [];
let onClosed: ((info: IpcClientClosedInfo) => void) | null = null;

async function startServer(options: Partial<IpcServerOptions> = {}): Promise<IpcServer> {
  const server = new IpcServer({
    socketPath,
    api,
    onClientClosed: (info) => {
      closedEvents.push(info);
      onClosed?.(info);
    },
    ...options,
  });
  servers.push(server);
  await within(server.listen(), 5000, 'the server to listen');
  return server;
}

async function connect(): Promise<LineClient> {
  const client = await LineClient.connect(socketPath);
  clients.push(client);
  return client;
}

/** Resolves when the server reports a client closed with `reason`. */
function clientClosed(reason: IpcClientClosedInfo['reason']): Promise<IpcClientClosedInfo> {
  const seen = closedEvents.find((e) => e.reason === reason);
  if (seen !== undefined) return Promise.resolve(seen);
  return within(
    new Promise((resolve) => {
      onClosed = (info) => {
        if (info.reason === reason) resolve(info);
      };
    }),
    5000,
    `a client closed with reason ${reason}`,
  );
}

beforeEach(() => {
  dir = makeTempDir('carillon-ipc-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
  closedEvents = [];
  onClosed = null;
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await within(Promise.all(servers.splice(0).map((s) => s.close())), 5000, 'the servers to close');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IpcServer: protocol', () => {
  it('requires hello first, then serves status, ping and totem.submit', async () => {
    const server = await startServer();
    const client = await connect();
    client.send({ id: 1, method: 'status' });
    expect(await client.next()).toEqual({ id: 1, error: { code: IpcErrorCode.helloRequired, message: expect.stringContaining('hello') } });
    client.send({ id: 2, method: 'hello', params: { version: 1, client: 'jest' } });
    expect(await client.next()).toEqual({ id: 2, result: { version: 1, server: 'carillond', nodeId: 1 } });
    client.send({ id: 3, method: 'status' });
    expect(await client.next()).toEqual({ id: 3, result: sampleStatus() });
    client.send({ id: 4, method: 'ping' });
    expect(await client.next()).toEqual({ id: 4, result: { pong: true } });
    client.send({ id: 5, method: 'totem.submit', params: { payloadHex: '68690a' } });
    expect(await client.next()).toEqual({ id: 5, result: { result: 'queued' } });
    api.submitResult = 'full';
    client.send({ id: 6, method: 'totem.submit', params: { payloadHex: 'ff' } });
    expect(await client.next()).toEqual({ id: 6, result: { result: 'full' } });
    expect(api.submitted).toEqual([new Uint8Array([0x68, 0x69, 0x0a]), new Uint8Array([0xff])]);
    expect(server.stats()).toMatchObject({ clients: 1, clientsAccepted: 1, requests: 6, errors: { [IpcErrorCode.helloRequired]: 1 } });
  });

  it('answers a version mismatch with IPC_VERSION and keeps the connection un-helloed', async () => {
    await startServer();
    const client = await connect();
    client.send({ id: 1, method: 'hello', params: { version: 2 } });
    expect(await client.next()).toEqual({ id: 1, error: { code: IpcErrorCode.version, message: expect.stringContaining('version 1') } });
    client.send({ id: 2, method: 'ping' });
    expect(await client.next()).toMatchObject({ id: 2, error: { code: IpcErrorCode.helloRequired } });
  });

  it('reports options.nodeId in hello without asking status(), else status().nodeId', async () => {
    api.statusError = new Error('core not started');
    await startServer({ nodeId: 7 });
    const client = await connect();
    client.send({ id: 1, method: 'hello', params: { version: 1 } });
    expect(await client.next()).toEqual({ id: 1, result: { version: 1, server: 'carillond', nodeId: 7 } });
    client.send({ id: 2, method: 'status' });
    expect(await client.next()).toMatchObject({ id: 2, error: { code: IpcErrorCode.internal } });
  });

  it('answers an unknown method with IPC_UNKNOWN_METHOD', async () => {
    await startServer();
    const client = await connect();
    await client.hello();
    client.send({ id: 1, method: 'shutdown' });
    expect(await client.next()).toMatchObject({ id: 1, error: { code: IpcErrorCode.unknownMethod } });
  });

  it('turns daemon failures into IPC_INTERNAL and serves reload asynchronously', async () => {
    const server = await startServer();
    const client = await connect();
    await client.hello();
    client.send({ id: 1, method: 'reload' });
    expect(await client.next()).toEqual({ id: 1, result: { reloaded: ['logging.debug'], needsRestart: ['totem.token'] } });
    api.reloadError = new Error('bad config');
    client.send({ id: 2, method: 'reload' });
    expect(await client.next()).toEqual({ id: 2, error: { code: IpcErrorCode.internal, message: 'reload failed: bad config' } });
    api.statusError = new Error('core not ready');
    client.send({ id: 3, method: 'status' });
    expect(await client.next()).toEqual({ id: 3, error: { code: IpcErrorCode.internal, message: 'status failed: core not ready' } });
    expect(server.stats().errors[IpcErrorCode.internal]).toBe(2);
  });

  it('pushes totem events in order to subscribers and stops after unsubscribe', async () => {
    await startServer();
    const a = await connect();
    const b = await connect();
    for (const c of [a, b]) {
      await c.hello();
      c.send({ id: 1, method: 'totem.subscribe' });
      expect(await c.next()).toEqual({ id: 1, result: { topic: 'totem', subscribed: true } });
    }
    // One daemon subscription however many clients subscribe.
    expect(api.subscribeCalls).toBe(1);
    const confchg: TotemEventJson = { kind: 'confchg', type: 'regular', ringId: { rep: 1, seq: '322' }, members: [1, 2], left: [3], joined: [] };
    api.emit(deliverEvent(1, '61'));
    api.emit(confchg);
    api.emit(deliverEvent(2, '62'));
    for (const c of [a, b]) {
      const events = [await c.next(), await c.next(), await c.next()];
      expect(events).toEqual([
        { method: 'notify', params: { topic: 'totem', event: deliverEvent(1, '61') } },
        { method: 'notify', params: { topic: 'totem', event: confchg } },
        { method: 'notify', params: { topic: 'totem', event: deliverEvent(2, '62') } },
      ]);
    }
    a.send({ id: 2, method: 'totem.unsubscribe' });
    expect(await a.next()).toEqual({ id: 2, result: { topic: 'totem', subscribed: false } });
    api.emit(deliverEvent(3, '63'));
    a.send({ id: 3, method: 'ping' });
    // a's next line is the ping answer: the event after unsubscribe never reached it.
    expect(await a.next()).toEqual({ id: 3, result: { pong: true } });
    expect(await b.next()).toMatchObject({ params: { event: { seq: 3 } } });
    b.close();
    await clientClosed('client');
    expect(api.subscriberCount).toBe(0);
  });

  it('answers each of many random malformed lines with exactly one error and keeps serving', async () => {
    const server = await startServer();
    const client = await connect();
    await client.hello();
    const lines = fc
      .sample(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.jsonValue().map((v) => JSON.stringify(v))), { numRuns: 300, seed: 42 })
      .filter((line) => !line.includes('\n') && line.trim() !== '');
    client.send(lines.map((line) => `${line}\n`).join(''));
    client.send('\n   \n');
    client.send(Buffer.from([0xff, 0xfe, 0x0a]).toString('latin1'));
    client.socket.write(Buffer.from([0x7b, 0xc3, 0x28, 0x7d, 0x0a]));
    client.send({ id: 424242, method: 'ping' });
    const answers: Record<string, unknown>[] = [];
    for (;;) {
      const answer = await client.next();
      if (answer['id'] === 424242) break;
      answers.push(answer);
    }
    // Blank lines are skipped; everything else is answered once.
    expect(answers).toHaveLength(lines.length + 2);
    for (const answer of answers) {
      expect(answer).toEqual({ id: answer['id'] === null ? null : expect.any(Number), error: { code: expect.stringMatching(/^IPC_/), message: expect.any(String) } });
    }
    expect(answers.at(-1)).toMatchObject({ id: null, error: { code: IpcErrorCode.parse, message: 'the line is not valid UTF-8' } });
    const stats = server.stats();
    const errorCount = Object.values(stats.errors).reduce((a, b) => a + b, 0);
    expect(errorCount).toBe(answers.length);
    expect(stats.requests).toBe(1 + answers.length + 1);
  });
});

describe('IpcServer: limits', () => {
  it('closes a client whose line exceeds 64 KiB with IPC_LINE_TOO_LONG', async () => {
    const server = await startServer({ lineBytesMax: 64 * 1024 });
    const client = await connect();
    await client.hello();
    client.send('x'.repeat(70 * 1024));
    const rest = await client.rest();
    expect(rest.map((l) => JSON.parse(l) as unknown)).toEqual([{ id: null, error: { code: IpcErrorCode.lineTooLong, message: expect.stringContaining('65536') } }]);
    await clientClosed('lineTooLong');
    expect(server.stats()).toMatchObject({ clients: 0, disconnects: 1, disconnectsByReason: { lineTooLong: 1 }, errors: { [IpcErrorCode.lineTooLong]: 1 } });
  });

  it('accepts a line of exactly the limit split over many writes', async () => {
    await startServer({ lineBytesMax: 1000 });
    const client = await connect();
    await client.hello();
    const request = JSON.stringify({ id: 5, method: 'ping' });
    const line = request + ' '.repeat(1000 - request.length);
    for (let i = 0; i < line.length; i += 97) client.send(line.slice(i, i + 97));
    client.send('\n');
    expect(await client.next()).toEqual({ id: 5, result: { pong: true } });
    client.send(`${line} \n`);
    expect(await client.next()).toMatchObject({ error: { code: IpcErrorCode.lineTooLong } });
  });

  it('disconnects a subscriber that stops reading, with a final IPC_SLOW_CONSUMER line', async () => {
    const server = await startServer({ closeGraceMs: 10_000, outputBytesMax: 1024 * 1024 });
    const slow = await connect();
    await slow.hello();
    slow.send({ id: 1, method: 'totem.subscribe' });
    expect(await slow.next()).toMatchObject({ id: 1, result: { subscribed: true } });
    slow.socket.pause();
    const payloadHex = 'ab'.repeat(2048);
    // About 8 MiB of pushes: far beyond the 1 MiB queue plus what the kernel buffers.
    for (let seq = 1; seq <= 2000 && closedEvents.length === 0; seq++) api.emit(deliverEvent(seq, payloadHex));
    const closed = await clientClosed('slowConsumer');
    expect(closed.clientName).toBe('test');
    expect(api.subscriberCount).toBe(0);
    slow.socket.resume();
    const lines = await slow.rest(10_000);
    const last = JSON.parse(lines.at(-1) ?? 'null') as unknown;
    expect(last).toEqual({ id: null, error: { code: IpcErrorCode.slowConsumer, message: expect.stringContaining('1048576') } });
    const pushed = lines.slice(0, -1).map((l) => (JSON.parse(l) as { params: { event: { seq: number } } }).params.event.seq);
    // What reached the client is a gap-free prefix of the stream.
    expect(pushed).toEqual(pushed.map((_, i) => i + 1));
    expect(server.stats()).toMatchObject({ disconnectsByReason: { slowConsumer: 1 }, errors: { [IpcErrorCode.slowConsumer]: 1 } });
    // The server goes on serving others.
    const fresh = await connect();
    await fresh.hello();
  });

  it('keeps a subscriber that is only briefly behind; cuts one that stays behind past the grace', async () => {
    const server = await startServer({ closeGraceMs: 10_000, outputBytesStalledMax: 256 * 1024, slowConsumerGraceMs: 1500 });
    const slow = await connect();
    await slow.hello();
    slow.send({ id: 1, method: 'totem.subscribe' });
    expect(await slow.next()).toMatchObject({ id: 1, result: { subscribed: true } });
    const payloadHex = 'cd'.repeat(2048);
    // About 2 MiB queued while paused for 100 ms: over the stalled mark, well inside the grace.
    slow.socket.pause();
    for (let seq = 1; seq <= 250; seq++) api.emit(deliverEvent(seq, payloadHex));
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let seq = 251; seq <= 260; seq++) api.emit(deliverEvent(seq, payloadHex));
    slow.socket.resume();
    for (let seq = 1; seq <= 260; seq++) expect(await slow.next()).toMatchObject({ params: { event: { seq } } });
    expect(closedEvents).toEqual([]);
    // Paused past the grace while pushes keep coming: cut.
    slow.socket.pause();
    for (let seq = 261; seq <= 510; seq++) api.emit(deliverEvent(seq, payloadHex));
    await new Promise((resolve) => setTimeout(resolve, 1600));
    api.emit(deliverEvent(511, payloadHex));
    const closed = await clientClosed('slowConsumer');
    expect(closed.clientName).toBe('test');
    slow.socket.resume();
    const lines = await slow.rest(10_000);
    expect(JSON.parse(lines.at(-1) ?? 'null')).toEqual({ id: null, error: { code: IpcErrorCode.slowConsumer, message: expect.stringContaining('for 1500 ms') } });
    expect(server.stats().disconnectsByReason.slowConsumer).toBe(1);
  });

  it('rejects clients beyond clientsMax with IPC_TOO_MANY_CLIENTS and accepts again when one leaves', async () => {
    const server = await startServer({ clientsMax: 2 });
    const a = await connect();
    const b = await connect();
    await a.hello();
    await b.hello();
    const c = await connect();
    const rest = await c.rest();
    expect(rest.map((l) => JSON.parse(l) as unknown)).toEqual([{ id: null, error: { code: IpcErrorCode.tooManyClients, message: expect.stringContaining('at most 2') } }]);
    expect(server.stats()).toMatchObject({ clients: 2, clientsRejected: 1, errors: { [IpcErrorCode.tooManyClients]: 1 } });
    a.close();
    await clientClosed('client');
    const d = await connect();
    await d.hello();
    expect(server.stats()).toMatchObject({ clients: 2, clientsAccepted: 3, disconnects: 1 });
  });
});

describe('IpcServer: socket file', () => {
  it('creates the socket with mode 0660 in a new 0755 directory, or with the configured mode', async () => {
    socketPath = path.join(dir, 'run', 'carillon', 'carillon.sock');
    await startServer();
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o755);
    const stats = fs.lstatSync(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o660);
    socketPath = path.join(dir, 'private.sock');
    await startServer({ socketMode: 0o600 });
    expect(fs.lstatSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it('removes a stale socket file nobody listens on', async () => {
    // A socket file without a listener: bind elsewhere, move the file, close.
    const elsewhere = path.join(dir, 'elsewhere.sock');
    const squatter = net.createServer();
    await within(new Promise<void>((resolve) => squatter.listen(elsewhere, resolve)), 5000, 'the squatter to listen');
    fs.renameSync(elsewhere, socketPath);
    await within(new Promise<void>((resolve) => squatter.close(() => resolve())), 5000, 'the squatter to close');
    expect(fs.lstatSync(socketPath).isSocket()).toBe(true);
    await startServer();
    const client = await connect();
    await client.hello();
  });

  it('refuses to start while another server listens on the path, and leaves it serving', async () => {
    await startServer();
    const second = new IpcServer({ socketPath, api: new FakeDaemonApi() });
    const failure = await within(second.listen().then(() => null, (e: unknown) => e), 5000, 'the second server');
    expect(failure).toBeInstanceOf(IpcServerError);
    expect(failure).toMatchObject({ code: IpcServerErrorCode.alreadyRunning, socketPath, message: expect.stringContaining('already running') });
    const client = await connect();
    await client.hello();
  });

  it('refuses to replace a path that is not a socket', async () => {
    fs.writeFileSync(socketPath, 'precious');
    const server = new IpcServer({ socketPath, api });
    await expect(within(server.listen(), 5000, 'listen')).rejects.toMatchObject({ code: IpcServerErrorCode.pathNotSocket });
    expect(fs.readFileSync(socketPath, 'utf8')).toBe('precious');
  });

  it('close() ends the clients and unlinks the socket', async () => {
    const server = await startServer();
    const client = await connect();
    await client.hello();
    await within(server.close(), 5000, 'close');
    await within(client.ended, 5000, 'the client to see the close');
    expect(fs.existsSync(socketPath)).toBe(false);
    expect(server.stats().disconnectsByReason.serverClose).toBe(1);
    await expect(LineClient.connect(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
