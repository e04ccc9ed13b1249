// Goal: the IPC server's service methods keep their state per connection and bounded:
// CPG handles and cmap tracks are only usable on the connection that made them, their
// number per connection is limited (CPG_ERR_TOO_MANY_HANDLES, CMAP_ERR_TOO_MANY_TRACKS),
// pushes reach a connection only after `<topic>.subscribe`, typed service failures come
// back as typed error lines, and a connection that ends has its tracks and quorum
// subscription stopped and its CPG handles finalized. Without services every service
// method answers IPC_UNAVAILABLE.
// Method: a real IpcServer on a temp socket with FakeDaemonApi plus a scripted fake
// DaemonServicesApi; raw NDJSON lines through LineClient.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DaemonServicesApi } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { CmapClient, CpgClient, CpgErrorCode, QuorumClient, type CpgClientEvent } from '../../../src/client';
import { FakeDaemonApi, type FakeHandle, FakeServices, LineClient, makeTempDir, within } from './ipc-test-kit';

let dir: string;
let socketPath: string;
let api: FakeDaemonApi & { services?: DaemonServicesApi };
let services: FakeServices;
const servers: IpcServer[] = [];
const clients: LineClient[] = [];

async function startServer(withServices = true): Promise<IpcServer> {
  if (withServices) Object.assign(api, { services });
  const server = new IpcServer({ socketPath, api, nodeId: 1, cpgHandlesPerClient: 2, cmapTracksPerClient: 2 });
  servers.push(server);
  await server.listen();
  return server;
}

async function connect(): Promise<LineClient> {
  const client = await LineClient.connect(socketPath);
  clients.push(client);
  await client.hello();
  return client;
}

async function call(client: LineClient, id: number, method: string, params?: object): Promise<Record<string, unknown>> {
  client.send(params === undefined ? { id, method } : { id, method, params });
  return client.next();
}

beforeEach(() => {
  dir = makeTempDir('carillon-ipcs-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
  services = new FakeServices();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await within(Promise.all(servers.splice(0).map((s) => s.close())), 5000, 'the servers to close');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IpcServer: service methods', () => {
  it('answers every service method with IPC_UNAVAILABLE when the daemon runs no services', async () => {
    await startServer(false);
    const client = await connect();
    for (const [i, [method, params]] of ([['cpg.initialize', {}], ['quorum.status', {}], ['cmap.get', { key: 'totem.token' }], ['cpg.subscribe', {}]] as const).entries()) {
      expect(await call(client, i + 1, method, params)).toEqual({ id: i + 1, error: { code: IpcErrorCode.unavailable, message: expect.any(String) } });
    }
  });

  it('cpg: handles per connection, bounded; pushes only after cpg.subscribe; bad handles are typed errors', async () => {
    const server = await startServer();
    const a = await connect();
    const b = await connect();
    expect(await call(a, 1, 'cpg.initialize', { pid: 4242 })).toEqual({ id: 1, result: { handle: expect.any(Number), pid: 4242, nodeId: 1 } });
    const first = services.handles[0] as FakeHandle;
    const handle = ((await call(a, 2, 'cpg.initialize')) as { result: { handle: number } }).result.handle;
    expect(await call(a, 3, 'cpg.initialize')).toEqual({ id: 3, error: { code: IpcErrorCode.cpgTooManyHandles, message: expect.stringContaining('at most 2') } });
    expect(await call(a, 4, 'cpg.join', { handle, group: 'asterisk' })).toEqual({ id: 4, result: { result: 'queued' } });
    services.joinResult = 'exists';
    expect(await call(a, 5, 'cpg.join', { handle, group: 'asterisk' })).toEqual({ id: 5, result: { result: 'exists' } });
    services.mcastResults = ['try-again'];
    expect(await call(a, 6, 'cpg.mcast', { handle, group: 'asterisk', payloadHex: '' })).toEqual({ id: 6, result: { result: 'try-again' } });
    expect(services.handles[1]?.calls).toEqual(['join asterisk', 'join asterisk', 'mcast asterisk  try-again']);
    // Another connection cannot use it.
    expect(await call(b, 1, 'cpg.leave', { handle, group: 'asterisk' })).toEqual({ id: 1, error: { code: IpcErrorCode.cpgBadHandle, message: expect.any(String) } });
    expect(await call(b, 2, 'cpg.membership', { group: 'g' })).toEqual({ id: 2, result: { group: 'g', members: [{ nodeId: 1, pid: 100 }] } });

    // Not subscribed: the event is dropped; subscribed: pushed with the handle number.
    first.listener({ event: 'deliver', group: 'asterisk', nodeId: 2, pid: 7, payload: Buffer.from('00', 'hex') });
    expect(await call(a, 7, 'cpg.subscribe')).toEqual({ id: 7, result: { topic: 'cpg', subscribed: true } });
    first.listener({ event: 'deliver', group: 'asterisk', nodeId: 2, pid: 7, payload: Buffer.from('01', 'hex') });
    const firstHandle = handle - 1;
    expect(await a.next()).toEqual({ method: 'notify', params: { topic: 'cpg', event: { handle: firstHandle, event: 'deliver', group: 'asterisk', nodeId: 2, pid: 7, payloadHex: '01' } } });

    expect(await call(a, 8, 'cpg.finalize', { handle })).toEqual({ id: 8, result: { handle, finalized: true } });
    expect(services.handles[1]?.finalized).toBe(true);
    expect(await call(a, 9, 'cpg.join', { handle, group: 'asterisk' })).toEqual({ id: 9, error: { code: IpcErrorCode.cpgBadHandle, message: expect.any(String) } });
    expect(server.stats().cpgHandles).toBe(1);

    // The connection ends: its remaining handle is finalized.
    a.close();
    await within(a.ended, 2000, 'the client to close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(first.finalized).toBe(true);
    expect(server.stats().cpgHandles).toBe(0);
  });

  it('cpg.mcast with seq: go-back-N — after a refusal, later seqs are refused untried until the refused one comes again', async () => {
    await startServer();
    const a = await connect();
    const handle = ((await call(a, 1, 'cpg.initialize')) as { result: { handle: number } }).result.handle;
    const fake = services.handles[0] as FakeHandle;
    await call(a, 2, 'cpg.join', { handle, group: 'g' });
    services.mcastResults = ['queued', 'full'];
    const answers: unknown[] = [];
    for (const [i, seq] of [[3, 10], [4, 11], [5, 12], [6, 13]] as const) answers.push(await call(a, i, 'cpg.mcast', { handle, group: 'g', payloadHex: seq.toString(16).padStart(2, '0'), seq }));
    expect(answers.map((x) => (x as { result: { result: string } }).result.result)).toEqual(['queued', 'full', 'try-again', 'try-again']);
    // Sent again from the refused one: tried, in order.
    for (const [i, seq] of [[7, 11], [8, 12], [9, 13]] as const) {
      expect(await call(a, i, 'cpg.mcast', { handle, group: 'g', payloadHex: seq.toString(16).padStart(2, '0'), seq })).toEqual({ id: i, result: { result: 'queued' } });
    }
    expect(fake.calls).toEqual(['join g', 'mcast g 0a queued', 'mcast g 0b full', 'mcast g 0b queued', 'mcast g 0c queued', 'mcast g 0d queued']);
    // Without seq nothing is held back: every mcast is tried.
    services.mcastResults = ['full'];
    await call(a, 10, 'cpg.mcast', { handle, group: 'g', payloadHex: 'aa' });
    await call(a, 11, 'cpg.mcast', { handle, group: 'g', payloadHex: 'bb' });
    expect(fake.calls.slice(-2)).toEqual(['mcast g aa full', 'mcast g bb queued']);
    expect(await call(a, 12, 'cpg.mcast', { handle, group: 'g', payloadHex: '', seq: -1 })).toEqual({ id: 12, error: { code: IpcErrorCode.badParams, message: expect.stringContaining("seq") } });
  });

  it('CpgClient: hundreds of pipelined mcasts with refusals sprinkled are queued exactly once each, in call order', async () => {
    await startServer();
    const cpg = await CpgClient.connect(socketPath, { retry: { initialDelayMs: 0, maxDelayMs: 1, timeoutMs: 5000 }, mcastWindow: 16 });
    const fake = services.handles[0] as FakeHandle;
    await cpg.join('g');
    services.mcastResults = Array.from({ length: 2000 }, (_, i) => (i % 7 === 3 ? 'full' : i % 11 === 5 ? 'try-again' : 'queued'));
    const texts = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await Promise.all(texts.map((t) => cpg.mcast('g', t)));
    const queued = fake.calls.filter((c) => c.startsWith('mcast') && c.endsWith(' queued')).map((c) => Buffer.from(c.split(' ')[2] ?? '', 'hex').toString());
    expect(queued).toEqual(texts);
    await cpg.leave('g');
    expect(fake.calls.at(-1)).toBe('leave g');
    services.mcastResults = [];
    await cpg.close();
  });

  it('quorum: subscribe answers first, then pushes the current state; typed errors pass through', async () => {
    await startServer();
    const client = await connect();
    expect(await call(client, 1, 'quorum.subscribe')).toEqual({ id: 1, result: { topic: 'quorum', subscribed: true } });
    expect(await client.next()).toEqual({ method: 'notify', params: { topic: 'quorum', event: { quorate: true, ringId: { rep: 1, seq: '4' }, members: [1, 2] } } });
    expect(await call(client, 2, 'quorum.setExpected', { votes: 1 })).toEqual({ id: 2, error: { code: IpcErrorCode.quorumInvalidParam, message: 'votequorum refused expected votes 1' } });
    expect(await call(client, 3, 'quorum.status')).toMatchObject({ id: 3, result: { quorate: true, provider: null } });
    expect(await call(client, 4, 'quorum.unsubscribe')).toEqual({ id: 4, result: { topic: 'quorum', subscribed: false } });
    expect(services.quorumListeners.size).toBe(0);
  });

  it('cmap: typed errors, tracks bounded per connection, pushes after cmap.subscribe, tracks stop with the connection', async () => {
    await startServer();
    const client = await connect();
    expect(await call(client, 1, 'cmap.get', { key: 'totem.token' })).toEqual({ id: 1, result: { key: 'totem.token', type: 'uint32', value: 3000 } });
    expect(await call(client, 2, 'cmap.get', { key: 'nope.key' })).toEqual({ id: 2, error: { code: IpcErrorCode.cmapNotExist, message: 'nope.key does not exist' } });
    expect(await call(client, 3, 'cmap.delete', { key: 'totem.token' })).toEqual({ id: 3, error: { code: IpcErrorCode.cmapReadOnly, message: 'read-only' } });
    expect(await call(client, 4, 'cmap.list')).toEqual({ id: 4, result: { entries: [{ key: 'x', type: 'string', value: 'y' }] } });
    const t1 = ((await call(client, 5, 'cmap.track', { key: 'runtime.members.', prefix: true, add: true })) as { result: { trackId: number } }).result.trackId;
    expect(services.tracks[0]?.flags).toEqual({ prefix: true, add: true, modify: false, delete: false });
    expect(await call(client, 6, 'cmap.track', { key: 'a.b' })).toMatchObject({ id: 6, result: { trackId: expect.any(Number) } });
    expect(await call(client, 7, 'cmap.track', { key: 'a.c' })).toEqual({ id: 7, error: { code: IpcErrorCode.cmapTooManyTracks, message: expect.any(String) } });
    expect(await call(client, 8, 'cmap.untrack', { trackId: 999 })).toEqual({ id: 8, error: { code: IpcErrorCode.cmapBadHandle, message: expect.any(String) } });

    services.tracks[0]?.listener({ type: 'add', key: 'runtime.members.9.ip', newValue: { type: 'string', value: 'r(0) ip(10.0.0.9) ' }, oldValue: null });
    expect(await call(client, 9, 'cmap.subscribe')).toEqual({ id: 9, result: { topic: 'cmap', subscribed: true } });
    services.tracks[0]?.listener({ type: 'modify', key: 'runtime.members.9.status', newValue: { type: 'string', value: 'left' }, oldValue: { type: 'string', value: 'joined' } });
    expect(await client.next()).toEqual({
      method: 'notify',
      params: { topic: 'cmap', event: { trackId: t1, type: 'modify', key: 'runtime.members.9.status', newValue: { type: 'string', value: 'left' }, oldValue: { type: 'string', value: 'joined' } } },
    });
    expect(await call(client, 10, 'cmap.untrack', { trackId: t1 })).toEqual({ id: 10, result: { trackId: t1, tracked: false } });
    expect(services.tracks.map((t) => t.stopped)).toEqual([true, false]);
    client.close();
    await within(client.ended, 2000, 'the client to close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(services.tracks.map((t) => t.stopped)).toEqual([true, true]);
  });
});

describe('client library against the same server', () => {
  it('CpgClient: retries try-again/full with backoff in call order, maps refusals to CpgError, gives up after retry.timeoutMs', async () => {
    await startServer();
    const cpg = await CpgClient.connect(socketPath, { pid: 77, retry: { initialDelayMs: 1, maxDelayMs: 4, timeoutMs: 300 } });
    expect([cpg.pid, cpg.nodeId]).toEqual([77, 1]);
    const fake = services.handles[0] as FakeHandle;
    await cpg.join('g');
    services.mcastResults = ['try-again', 'full', 'try-again'];
    await Promise.all([cpg.mcast('g', 'first'), cpg.mcast('g', Buffer.from('second'))]);
    const hexOf = (t: string): string => Buffer.from(t).toString('hex');
    expect(fake.calls).toEqual([
      'join g',
      `mcast g ${hexOf('first')} try-again`,
      `mcast g ${hexOf('first')} full`,
      `mcast g ${hexOf('first')} try-again`,
      `mcast g ${hexOf('first')} queued`,
      `mcast g ${hexOf('second')} queued`,
    ]);
    services.joinResult = 'exists';
    await expect(cpg.join('g')).rejects.toMatchObject({ name: 'CpgError', code: CpgErrorCode.exist, result: 'exists' });
    services.mcastResults = ['not-joined'];
    await expect(cpg.mcast('h', 'x')).rejects.toMatchObject({ code: CpgErrorCode.notJoined });
    services.mcastResults = Array.from({ length: 1000 }, () => 'full' as const);
    await expect(cpg.mcast('g', 'never')).rejects.toMatchObject({ code: CpgErrorCode.tryAgain, result: 'full' });
    services.mcastResults = [];
    await cpg.close();
    expect(fake.finalized).toBe(true);
  });

  it('CpgClient: listeners and events() see the pushes in order; the iterator ends on close', async () => {
    await startServer();
    const cpg = await CpgClient.connect(socketPath);
    const fake = services.handles[0] as FakeHandle;
    const heard: string[] = [];
    cpg.on('deliver', (e) => heard.push(e.payload.toString()));
    const iterated: CpgClientEvent[] = [];
    const done = (async () => {
      for await (const event of cpg.events()) iterated.push(event);
    })();
    fake.listener({ event: 'confchg', group: 'g', members: [{ nodeId: 1, pid: fake.pid }], joined: [{ nodeId: 1, pid: fake.pid, reason: 1, reasonName: 'join' }], left: [] });
    fake.listener({ event: 'deliver', group: 'g', nodeId: 2, pid: 9, payload: Buffer.from('a') });
    fake.listener({ event: 'deliver', group: 'g', nodeId: 2, pid: 9, payload: new Uint8Array(0) });
    fake.listener({ event: 'totem-confchg', ringId: { rep: 1, seq: '8' }, members: [1, 2] });
    await within((async () => {
      while (iterated.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
    })(), 2000, 'four events through the iterator');
    expect(heard).toEqual(['a', '']);
    expect(iterated.map((e) => e.type)).toEqual(['confchg', 'deliver', 'deliver', 'totem-confchg']);
    expect(iterated[1]).toEqual({ type: 'deliver', group: 'g', nodeId: 2, pid: 9, payload: Buffer.from('a') });
    await cpg.close();
    await within(done, 2000, 'the iterator to end');
  });

  it('QuorumClient: onChange hears the current state first; CmapClient: typed values and track events, even one that overtakes its answer', async () => {
    await startServer();
    const quorum = await QuorumClient.connect(socketPath);
    const events: unknown[] = [];
    const stop = await quorum.onChange((e) => events.push(e));
    await within((async () => {
      while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    })(), 2000, 'the initial quorum state');
    expect(events[0]).toEqual({ quorate: true, ringId: { rep: 1, seq: '4' }, members: [1, 2] });
    await expect(quorum.setExpected(1)).rejects.toMatchObject({ code: IpcErrorCode.quorumInvalidParam });
    await stop();
    await quorum.close();

    const cmap = await CmapClient.connect(socketPath);
    expect(await cmap.get('totem.token')).toEqual({ type: 'uint32', value: 3000 });
    expect(await cmap.set('a.b.c', { type: 'int64', value: -5n })).toEqual({ type: 'int64', value: -5n });
    const seen: unknown[] = [];
    const track = await cmap.track('a.', { prefix: true }, (e) => seen.push(e));
    expect(services.tracks[0]?.flags).toEqual({ prefix: true, add: true, modify: true, delete: true });
    services.tracks[0]?.listener({ type: 'add', key: 'a.b.c', newValue: { type: 'binary', value: '00ff' }, oldValue: null });
    await within((async () => {
      while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    })(), 2000, 'the track event');
    expect(seen[0]).toEqual({ type: 'add', key: 'a.b.c', newValue: { type: 'binary', value: new Uint8Array([0, 255]) }, oldValue: null });
    await track.stop();
    expect(services.tracks[0]?.stopped).toBe(true);
    const early: unknown[] = [];
    await cmap.track('early.', { prefix: true, add: true }, (e) => early.push(e));
    expect(early).toEqual([{ type: 'add', key: 'early.x', newValue: { type: 'uint8', value: 1 }, oldValue: null }]);
    await cmap.close();
  });
});
