// Goal: IpcClient (src/client/ipc-client.ts) performs hello on connect, types results
// and errors (IPC_UNREACHABLE naming the errno and path, IPC_TIMEOUT, IPC_CLOSED,
// server codes passed through), delivers subscribed pushes in order, and reports why
// the connection closed.
// Method: a real IpcServer with a FakeDaemonApi on a temp socket, plus hand-made unix
// servers that misbehave (never answer, answer garbage); all waits are bounded.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { IpcClient, IpcClientError, IpcClientErrorCode } from '../../../src/client/ipc-client';
import type { TotemEventJson } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { FakeDaemonApi, deliverEvent, makeTempDir, sampleStatus, within } from './ipc-test-kit';

let dir = '';
let socketPath = '';
let api: FakeDaemonApi;
let server: IpcServer | null = null;
const rawServers: net.Server[] = [];
const clients: IpcClient[] = [];

async function startServer(): Promise<IpcServer> {
  server = new IpcServer({ socketPath, api });
  await within(server.listen(), 5000, 'the server to listen');
  return server;
}

async function connect(options: { timeoutMs?: number } = {}): Promise<IpcClient> {
  const client = await within(IpcClient.connect(socketPath, { clientName: 'jest', ...options }), 5000, 'connect');
  clients.push(client);
  return client;
}

/** A unix server that accepts and then does `onLine` with each line it receives. */
async function rawServer(onLine: (socket: net.Socket, line: string) => void): Promise<void> {
  const raw = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        onLine(socket, buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    });
  });
  rawServers.push(raw);
  await within(new Promise<void>((resolve) => raw.listen(socketPath, resolve)), 5000, 'the raw server to listen');
}

async function failureOf(promise: Promise<unknown>): Promise<IpcClientError> {
  const outcome = await within(promise.then(() => null, (e: unknown) => e), 5000, 'the failure');
  expect(outcome).toBeInstanceOf(IpcClientError);
  return outcome as IpcClientError;
}

beforeEach(() => {
  dir = makeTempDir('carillon-ipcc-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
});

afterEach(async () => {
  await within(Promise.all(clients.splice(0).map((c) => c.close())), 5000, 'the clients to close');
  await within(server?.close() ?? Promise.resolve(), 5000, 'the server to close');
  server = null;
  for (const raw of rawServers.splice(0)) raw.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IpcClient', () => {
  it('connects with hello and calls methods with typed results', async () => {
    await startServer();
    const client = await connect();
    expect(client.server).toEqual({ version: 1, server: 'carillond', nodeId: 1 });
    expect(await client.call('status')).toEqual(sampleStatus());
    expect(await client.call('ping', {})).toEqual({ pong: true });
    expect(await client.call('totem.submit', { payloadHex: '0102' })).toEqual({ result: 'queued' });
    expect(await client.call('reload', undefined, { timeoutMs: 1000 })).toEqual({ reloaded: ['logging.debug'], needsRestart: ['totem.token'] });
    expect(api.submitted).toEqual([new Uint8Array([1, 2])]);
  });

  it('passes server error codes through', async () => {
    await startServer();
    const client = await connect();
    api.statusError = new Error('not yet');
    const error = await failureOf(client.call('status'));
    expect(error).toMatchObject({ code: IpcErrorCode.internal, message: 'status failed: not yet', socketPath });
    // A params error the types would have caught, sent anyway.
    const bad = await failureOf(client.call('totem.submit', { payloadHex: 'xyz' }));
    expect(bad.code).toBe(IpcErrorCode.badParams);
    // The connection survives request errors.
    expect(await client.call('ping')).toEqual({ pong: true });
  });

  it('delivers subscribed events in order and unsubscribes when the last listener goes', async () => {
    await startServer();
    const client = await connect();
    const first: TotemEventJson[] = [];
    const second: TotemEventJson[] = [];
    const stopFirst = await client.subscribe('totem', (e) => first.push(e));
    const stopSecond = await client.subscribe('totem', (e) => second.push(e));
    expect(api.subscriberCount).toBe(1);
    for (let seq = 1; seq <= 50; seq++) api.emit(deliverEvent(seq, '00'));
    await client.call('ping');
    expect(first.map((e) => (e.kind === 'deliver' ? e.seq : -1))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(second).toEqual(first);
    await stopFirst();
    expect(api.subscriberCount).toBe(1);
    await stopSecond();
    expect(api.subscriberCount).toBe(0);
  });

  it('fails with IPC_UNREACHABLE naming ENOENT and the path when there is no socket', async () => {
    const error = await failureOf(IpcClient.connect(socketPath, { timeoutMs: 1000 }));
    expect(error).toMatchObject({ code: IpcClientErrorCode.unreachable, errno: 'ENOENT', socketPath });
    expect(error.message).toBe(`cannot connect to ${socketPath}: no such socket (ENOENT)`);
  });

  it('fails with IPC_UNREACHABLE ECONNREFUSED on a stale socket file', async () => {
    const raw = net.createServer();
    const elsewhere = path.join(dir, 'elsewhere.sock');
    await within(new Promise<void>((resolve) => raw.listen(elsewhere, resolve)), 5000, 'listen');
    fs.renameSync(elsewhere, socketPath);
    await within(new Promise<void>((resolve) => raw.close(() => resolve())), 5000, 'close');
    const error = await failureOf(IpcClient.connect(socketPath, { timeoutMs: 1000 }));
    expect(error).toMatchObject({ code: IpcClientErrorCode.unreachable, errno: 'ECONNREFUSED' });
    expect(error.message).toContain(socketPath);
  });

  it('fails with IPC_TIMEOUT when the server never answers hello', async () => {
    await rawServer(() => undefined);
    const error = await failureOf(IpcClient.connect(socketPath, { timeoutMs: 200 }));
    expect(error.code).toBe(IpcClientErrorCode.timeout);
    expect(error.message).toContain('hello');
  });

  it('times out one call without disturbing the connection', async () => {
    let answerPings = true;
    await rawServer((socket, line) => {
      const request = JSON.parse(line) as { id: number; method: string };
      if (request.method === 'hello') {
        socket.write(`${JSON.stringify({ id: request.id, result: { version: 1, server: 'carillond', nodeId: 4 } })}\n`);
        return;
      }
      if (answerPings) socket.write(`${JSON.stringify({ id: request.id, result: { pong: true } })}\n`);
      answerPings = !answerPings;
    });
    const client = await connect();
    expect(client.server.nodeId).toBe(4);
    expect(await client.call('ping')).toEqual({ pong: true });
    const error = await failureOf(client.call('ping', {}, { timeoutMs: 100 }));
    expect(error.code).toBe(IpcClientErrorCode.timeout);
    expect(await client.call('ping')).toEqual({ pong: true });
  });

  it('rejects a server that is not carillond protocol 1 with IPC_PROTOCOL', async () => {
    await rawServer((socket) => socket.write('HTTP/1.1 400 Bad Request\n'));
    const error = await failureOf(IpcClient.connect(socketPath, { timeoutMs: 1000 }));
    expect(error.code).toBe(IpcClientErrorCode.protocol);
  });

  it('fails pending calls with IPC_CLOSED and reports the close reason when the server goes', async () => {
    await rawServer((socket, line) => {
      const request = JSON.parse(line) as { id: number; method: string };
      if (request.method === 'hello') socket.write(`${JSON.stringify({ id: request.id, result: { version: 1, server: 'carillond', nodeId: 1 } })}\n`);
      else socket.end(`${JSON.stringify({ id: null, error: { code: 'IPC_SLOW_CONSUMER', message: 'too slow' } })}\n`);
    });
    const client = await connect();
    const error = await failureOf(client.call('status'));
    expect(error.code).toBe(IpcErrorCode.slowConsumer);
    const reason = await within(client.closed, 5000, 'closed');
    expect(reason).toMatchObject({ code: IpcErrorCode.slowConsumer, message: 'too slow' });
    const after = await failureOf(client.call('ping'));
    expect(after.code).toBe(IpcErrorCode.slowConsumer);
  });

  it('sees IPC_CLOSED when the real server closes, and null after its own close()', async () => {
    const running = await startServer();
    const client = await connect();
    const other = await connect();
    await other.close();
    expect(await other.closed).toBeNull();
    expect((await failureOf(other.call('ping'))).code).toBe(IpcClientErrorCode.closed);
    await within(running.close(), 5000, 'the server to close');
    expect(await within(client.closed, 5000, 'closed')).toMatchObject({ code: IpcClientErrorCode.closed });
    expect((await failureOf(client.call('ping'))).code).toBe(IpcClientErrorCode.closed);
  });
});
