// Goal: the `cpg-binary` extension of the IPC protocol (src/ipc/binary-frames.ts) on a
// real IpcServer: hello negotiates it (and only where CPG exists), cpg.mcast frames obey
// the same rules as the line form (go-back-N, typed errors carrying the request id),
// deliveries come as frames while other CPG events stay lines, malformed or oversized
// frames are counted errors that never take the server down, and a connection that did
// not negotiate frames cannot send them. The client library uses frames when offered and
// falls back to lines when not.
// Method: IpcServer on a temp socket with FakeDaemonApi + FakeServices; a raw client that
// reads lines and frames with the same IpcStreamReader; IpcClient for the library side.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  FrameType,
  IpcStreamReader,
  encodeCpgMcastFrame,
  parseCpgDeliverFrame,
  parseCpgMcastResultFrame,
} from '../../../src/ipc/binary-frames';
import type { DaemonServicesApi } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { IpcClient, type IpcCpgDelivery } from '../../../src/client';
import type { CpgEventJson } from '../../../src/ipc/daemon-api';
import { FakeDaemonApi, type FakeHandle, FakeServices, makeTempDir, within } from './ipc-test-kit';

type Received = { kind: 'line'; value: Record<string, unknown> } | { kind: 'frame'; type: number; body: Buffer };

/** A raw client: JSON lines out, frames out, lines and frames in (frames always understood). */
class FrameClient {
  private readonly items: Received[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    const reader = new IpcStreamReader(16 * 1024 * 1024, () => true);
    const wake = (): void => {
      this.waiter?.();
      this.waiter = null;
    };
    const sink = {
      line: (bytes: Buffer): boolean => {
        if (bytes.length > 0) this.items.push({ kind: 'line', value: JSON.parse(bytes.toString('utf8')) as Record<string, unknown> });
        wake();
        return true;
      },
      frame: (type: number, body: Buffer): boolean => {
        this.items.push({ kind: 'frame', type, body: Buffer.from(body) });
        wake();
        return true;
      },
      tooLong: (): void => undefined,
    };
    socket.on('data', (chunk: Buffer) => reader.feed(chunk, sink));
    socket.on('close', () => {
      this.ended = true;
      wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(socketPath: string): Promise<FrameClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => resolve(new FrameClient(socket)));
    });
  }

  line(value: object): void {
    this.socket.write(`${JSON.stringify(value)}\n`);
  }

  async next(): Promise<Received> {
    const deadline = Date.now() + 5000;
    while (this.items.length === 0) {
      if (this.ended) throw new Error('the server closed the connection');
      if (Date.now() > deadline) throw new Error('nothing from the server within 5 s');
      await within(new Promise<void>((resolve) => (this.waiter = resolve)), 5000, 'a line or frame');
    }
    return this.items.shift() as Received;
  }

  async nextLine(): Promise<Record<string, unknown>> {
    const item = await this.next();
    if (item.kind !== 'line') throw new Error(`expected a line, got a frame of type ${item.type}`);
    return item.value;
  }

  async call(id: number, method: string, params?: object): Promise<Record<string, unknown>> {
    this.line(params === undefined ? { id, method } : { id, method, params });
    return this.nextLine();
  }

  async mcastResult(): Promise<{ id: number; result: string }> {
    const item = await this.next();
    if (item.kind !== 'frame' || item.type !== FrameType.cpgMcastResult) throw new Error(`expected a cpg-mcast-result frame, got ${JSON.stringify(item)}`);
    const parsed = parseCpgMcastResultFrame(item.body);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

let dir: string;
let socketPath: string;
let api: FakeDaemonApi & { services?: DaemonServicesApi };
let services: FakeServices;
const servers: IpcServer[] = [];
const clients: FrameClient[] = [];
const ipcClients: IpcClient[] = [];

async function startServer(withServices = true): Promise<IpcServer> {
  if (withServices) Object.assign(api, { services });
  const server = new IpcServer({ socketPath, api, nodeId: 1, lineBytesMax: 4096 });
  servers.push(server);
  await server.listen();
  return server;
}

async function connect(features: string[] | null = ['cpg-binary']): Promise<FrameClient> {
  const client = await FrameClient.connect(socketPath);
  clients.push(client);
  const hello = await client.call(0, 'hello', features === null ? { version: 1 } : { version: 1, features });
  expect(hello).toMatchObject({ id: 0, result: { version: 1 } });
  return client;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

beforeEach(() => {
  dir = makeTempDir('carillon-ipcb-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
  services = new FakeServices();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(ipcClients.splice(0).map((c) => c.close()));
  await within(Promise.all(servers.splice(0).map((s) => s.close())), 5000, 'the servers to close');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IPC cpg-binary frames', () => {
  it('hello turns on only the features the server knows, and cpg-binary only with services', async () => {
    await startServer();
    const client = await FrameClient.connect(socketPath);
    clients.push(client);
    expect(await client.call(1, 'hello', { version: 1, features: ['cpg-binary', 'teleport', 'cpg-binary'] })).toEqual({
      id: 1,
      result: { version: 1, server: 'carillond', nodeId: 1, features: ['cpg-binary'] },
    });
    const plain = await FrameClient.connect(socketPath);
    clients.push(plain);
    expect(await plain.call(1, 'hello', { version: 1 })).toEqual({ id: 1, result: { version: 1, server: 'carillond', nodeId: 1 } });
    const bad = await FrameClient.connect(socketPath);
    clients.push(bad);
    expect(await bad.call(1, 'hello', { version: 1, features: 'cpg-binary' })).toMatchObject({ id: 1, error: { code: IpcErrorCode.badParams } });
  });

  it('a daemon without services does not offer cpg-binary', async () => {
    await startServer(false);
    const client = await FrameClient.connect(socketPath);
    clients.push(client);
    expect(await client.call(1, 'hello', { version: 1, features: ['cpg-binary'] })).toEqual({ id: 1, result: { version: 1, server: 'carillond', nodeId: 1, features: [] } });
  });

  it('cpg-mcast frames: answered by result frames, go-back-N as for lines, failures as JSON errors with the id', async () => {
    await startServer();
    const client = await connect();
    const { handle } = (await client.call(1, 'cpg.initialize', {}))['result'] as { handle: number };
    const fake = services.handles[0] as FakeHandle;
    client.socket.write(encodeCpgMcastFrame(10, handle, utf8('asterisk'), utf8('one')));
    expect(await client.mcastResult()).toEqual({ id: 10, result: 'queued' });
    // Pipelined: 20 is refused, so 21 is not even tried; 20 again goes through, then 21.
    services.mcastResults = ['full'];
    client.socket.write(Buffer.concat([encodeCpgMcastFrame(11, handle, utf8('asterisk'), utf8('a'), 20), encodeCpgMcastFrame(12, handle, utf8('asterisk'), utf8('b'), 21)]));
    expect(await client.mcastResult()).toEqual({ id: 11, result: 'full' });
    expect(await client.mcastResult()).toEqual({ id: 12, result: 'try-again' });
    client.socket.write(Buffer.concat([encodeCpgMcastFrame(13, handle, utf8('asterisk'), utf8('a'), 20), encodeCpgMcastFrame(14, handle, utf8('asterisk'), utf8('b'), 21)]));
    expect(await client.mcastResult()).toEqual({ id: 13, result: 'queued' });
    expect(await client.mcastResult()).toEqual({ id: 14, result: 'queued' });
    expect(fake.calls).toEqual([
      `mcast asterisk ${utf8('one').toString('hex')} queued`,
      `mcast asterisk ${utf8('a').toString('hex')} full`,
      `mcast asterisk ${utf8('a').toString('hex')} queued`,
      `mcast asterisk ${utf8('b').toString('hex')} queued`,
    ]);
    // A handle of nobody, a broken body, a frame type clients do not send: typed errors, the connection stays.
    client.socket.write(encodeCpgMcastFrame(15, handle + 100, utf8('asterisk'), utf8('x')));
    expect(await client.nextLine()).toEqual({ id: 15, error: { code: IpcErrorCode.cpgBadHandle, message: expect.any(String) } });
    const broken = encodeCpgMcastFrame(16, handle, utf8('asterisk'), utf8('x'));
    broken[6 + 13] = 0;
    client.socket.write(broken);
    expect(await client.nextLine()).toEqual({ id: 16, error: { code: IpcErrorCode.badParams, message: expect.stringContaining('1..128 bytes, got 0') } });
    client.socket.write(Buffer.from([0, FrameType.cpgDeliver, 1, 0, 0, 0, 7]));
    expect(await client.nextLine()).toEqual({ id: null, error: { code: IpcErrorCode.badRequest, message: expect.stringContaining('frame type 3') } });
    const notUtf8 = encodeCpgMcastFrame(17, handle, Buffer.from([0xff, 0xfe]), utf8('x'));
    client.socket.write(notUtf8);
    expect(await client.nextLine()).toEqual({ id: 17, error: { code: IpcErrorCode.badParams, message: 'cpg-mcast: the group name is not valid UTF-8' } });
    expect(await client.call(18, 'ping')).toEqual({ id: 18, result: { pong: true } });
    expect(servers[0]?.stats().errors).toMatchObject({ [IpcErrorCode.cpgBadHandle]: 1, [IpcErrorCode.badParams]: 2, [IpcErrorCode.badRequest]: 1 });
  });

  it('deliveries come as frames, other CPG events as lines; without cpg-binary deliveries stay hex lines', async () => {
    await startServer();
    const binary = await connect();
    const plain = await connect(null);
    for (const client of [binary, plain]) {
      await client.call(1, 'cpg.subscribe');
      await client.call(2, 'cpg.initialize', {});
    }
    const [b, p] = services.handles as [FakeHandle, FakeHandle];
    const payload = Buffer.from([0, 10, 255, 0x7b]);
    b.listener({ event: 'deliver', group: 'asterisk', nodeId: 3, pid: 4242, payload });
    b.listener({ event: 'totem-confchg', ringId: { rep: 1, seq: '8' }, members: [1, 3] });
    p.listener({ event: 'deliver', group: 'asterisk', nodeId: 3, pid: 4242, payload });
    const frame = await binary.next();
    expect(frame.kind).toBe('frame');
    if (frame.kind !== 'frame') return;
    expect(frame.type).toBe(FrameType.cpgDeliver);
    const parsed = parseCpgDeliverFrame(frame.body);
    expect(parsed.ok && { ...parsed.value, groupBytes: Buffer.from(parsed.value.groupBytes).toString(), payload: Buffer.from(parsed.value.payload) }).toEqual({
      handle: expect.any(Number),
      nodeId: 3,
      pid: 4242,
      groupBytes: 'asterisk',
      payload,
    });
    expect(await binary.nextLine()).toMatchObject({ method: 'notify', params: { topic: 'cpg', event: { event: 'totem-confchg', members: [1, 3] } } });
    expect(await plain.nextLine()).toMatchObject({ method: 'notify', params: { topic: 'cpg', event: { event: 'deliver', payloadHex: '000aff7b' } } });
  });

  it('a connection that did not negotiate frames cannot send them; an oversized frame disconnects', async () => {
    const server = await startServer();
    const plain = await connect(null);
    plain.socket.write(Buffer.concat([encodeCpgMcastFrame(5, 1, utf8('g'), utf8('x')), Buffer.from('\n')]));
    expect(await plain.nextLine()).toMatchObject({ id: null, error: { code: IpcErrorCode.parse } });
    const binary = await connect();
    binary.socket.write(Buffer.from([0, FrameType.cpgMcast, 0xff, 0xff, 0xff, 0x00]));
    expect(await binary.nextLine()).toMatchObject({ id: null, error: { code: IpcErrorCode.lineTooLong } });
    await within(
      (async () => {
        while (!binary.isEnded) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5000,
      'the disconnect',
    );
    expect(server.stats().disconnectsByReason.lineTooLong).toBe(1);
  });

  it('IpcClient: frames when offered (onCpgDeliver, or hex events for cpg subscribers), lines when not', async () => {
    await startServer();
    const client = await IpcClient.connect(socketPath, { binaryCpg: true });
    ipcClients.push(client);
    expect(client.binaryCpg).toBe(true);
    const viaTopic: CpgEventJson[] = [];
    await client.subscribe('cpg', (event) => viaTopic.push(event));
    const { handle } = await client.call('cpg.initialize', {});
    expect(await client.cpgMcast({ handle, group: 'grüppe', payload: utf8('hi'), seq: 7 })).toBe('queued');
    expect(services.handles[0]?.calls).toEqual([`mcast grüppe ${utf8('hi').toString('hex')} queued`]);
    await expect(client.cpgMcast({ handle, group: 'x'.repeat(129), payload: utf8('hi') })).rejects.toMatchObject({ code: IpcErrorCode.badParams });
    // No delivery listener: the frame becomes the usual hex event.
    services.handles[0]?.listener({ event: 'deliver', group: 'grüppe', nodeId: 2, pid: 9, payload: utf8('yo') });
    await within(
      (async () => {
        while (viaTopic.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      5000,
      'the delivery',
    );
    expect(viaTopic).toEqual([{ handle, event: 'deliver', group: 'grüppe', nodeId: 2, pid: 9, payloadHex: utf8('yo').toString('hex') }]);
    const frames: IpcCpgDelivery[] = [];
    client.onCpgDeliver((d) => frames.push(d));
    services.handles[0]?.listener({ event: 'deliver', group: 'grüppe', nodeId: 2, pid: 9, payload: utf8('again') });
    await within(
      (async () => {
        while (frames.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      5000,
      'the frame',
    );
    expect(frames).toEqual([{ handle, group: 'grüppe', nodeId: 2, pid: 9, payload: utf8('again') }]);
    expect(viaTopic).toHaveLength(1);

    const plain = await IpcClient.connect(socketPath);
    ipcClients.push(plain);
    expect(plain.binaryCpg).toBe(false);
    const second = await plain.call('cpg.initialize', {});
    expect(await plain.cpgMcast({ handle: second.handle, group: 'g', payload: utf8('z') })).toBe('queued');
    expect(services.handles[1]?.calls).toEqual([`mcast g ${utf8('z').toString('hex')} queued`]);
  });
});
