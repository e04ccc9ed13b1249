// Goal: AriClient (src/asterisk/ari/ari-client.ts) sends exactly the requests a real
// Asterisk 20 was recorded answering (fixtures/asterisk/ari/requests.tsv: method, path,
// query, Basic credentials) and turns the recorded answers into typed results or AriErrors
// with stable codes (res-corosync.md §3, asterisk-groundtruth.md §3: the 409/404/500
// device-state answers, the mailbox quirks, 401); and that its event websocket delivers
// typed events, skips malformed frames, reconnects forever (server close, dead peer
// without pongs, 401 upgrades at the max backoff), wins its application name back after
// ApplicationReplaced, and stays down after stop().
// Method: ari-stub-server.ts on 127.0.0.1 port 0 replays the recorded responses and
// frames; backoffs are 5-50 ms; every wait is bounded and event-driven.

import { afterEach, describe, expect, test } from '@jest/globals';
import * as net from 'node:net';
import { WebSocket } from 'ws';
import { AssertionError } from '../../../src/base/assert';
import { AriClient, AriError, AriErrorCode, ariBackoffDelayMs } from '../../../src/asterisk/ari/ari-client';
import type { AriClientEventName, AriClientEvents, AriClientOptions } from '../../../src/asterisk/ari/ari-client';
import { parseAriFrame } from '../../../src/asterisk/ari/ari-events';
import type { AriSettings } from '../../../src/asterisk/core/bridge-settings';
import type { LogLevel, Logger } from '../../../src/runtime/logger';
import { AriStubServer, recordedTextFrames } from './ari-stub-server';

const WAIT_MS = 5000;
const EID = '02:a5:7e:00:00:01';

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls a condition every few ms, failing after `ms`. */
async function until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  await within(
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (condition()) resolve();
        else setTimeout(check, 2);
      };
      check();
    }),
    ms,
    what,
  );
}

/** The payloads a client emits, in order. */
class Recorder<K extends AriClientEventName> {
  readonly seen: Array<AriClientEvents[K]> = [];
  readonly name: K;
  constructor(client: AriClient, name: K) {
    this.name = name;
    client.on(name, (payload) => this.seen.push(payload));
  }
  async count(n: number): Promise<Array<AriClientEvents[K]>> {
    await until(() => this.seen.length >= n, `${n} '${this.name}' events (have ${this.seen.length})`);
    return this.seen;
  }
}

class RecordingLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; message: string }> = [];
  log(level: LogLevel, _subsys: string, message: string): void {
    this.lines.push({ level, message });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  at(level: LogLevel): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => line.message);
  }
}

const stubs: AriStubServer[] = [];
const clients: AriClient[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => within(client.stop(), WAIT_MS, 'client stop')));
  for (const ws of sockets.splice(0)) ws.terminate();
  const all = stubs.splice(0);
  await Promise.all(all.map((stub) => within(stub.close(), WAIT_MS, 'stub close')));
  for (const stub of all) {
    expect(stub.mismatches).toEqual([]);
    expect(stub.pending).toBe(0);
  }
});

async function startStub(options: { autoPong?: boolean } = {}): Promise<AriStubServer> {
  const stub = await AriStubServer.start(options);
  stubs.push(stub);
  return stub;
}

function settingsFor(url: string, overrides: Partial<AriSettings> = {}): AriSettings {
  return { url, username: 'ariuser', password: 'aripass', app: 'carillon', reconnectMinMs: 5, reconnectMaxMs: 50, ...overrides };
}

function newClient(url: string, overrides: Partial<AriSettings> = {}, options: AriClientOptions = {}): AriClient {
  const client = new AriClient(settingsFor(url, overrides), { random: () => 0, ...options });
  clients.push(client);
  return client;
}

async function failureOf(promise: Promise<unknown>): Promise<AriError> {
  const outcome = await within(
    promise.then(
      () => null,
      (e: unknown) => e,
    ),
    WAIT_MS,
    'the failure',
  );
  expect(outcome).toBeInstanceOf(AriError);
  return outcome as AriError;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('REST against the recorded answers', () => {
  test('info: system.entity_id is the EID, system.version the version', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    stub.expect('01-get-asterisk-info');
    const info = await within(client.info(), WAIT_MS, 'info');
    expect(info.eid).toBe(EID);
    expect(info.version).toBe('GIT-20-01f26c412');
    expect(info.raw['build']).toMatchObject({ os: 'Linux', machine: 'x86_64' });
  });

  test('ping: pong with the EID and timestamp', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    stub.expect('02-get-asterisk-ping');
    expect(await within(client.ping(), WAIT_MS, 'ping')).toEqual({ eid: EID, timestamp: '2026-11-21T20:22:48.376+0000' });
  });

  test('deviceStates: the recorded sequence, with 409 / 500 / 404 as typed errors carrying Asterisk\'s message', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);

    stub.expect('03-put-devicestate-custom-bob-409');
    const conflict = await failureOf(client.setDeviceState('Custom:bob', 'INUSE'));
    expect([conflict.code, conflict.status, conflict.asteriskMessage]).toEqual([AriErrorCode.conflict, 409, 'Uncontrolled device specified']);
    expect(conflict.message).toContain('PUT /deviceStates/Custom:bob');

    stub.expect('04-get-devicestate-custom-bob');
    expect(await client.getDeviceState('Custom:bob')).toBe('NOT_INUSE');
    stub.expect('05-put-devicestate-stasis-bob-inuse');
    await client.setDeviceState('Stasis:bob', 'INUSE');
    stub.expect('06-get-devicestate-stasis-bob');
    expect(await client.getDeviceState('Stasis:bob')).toBe('INUSE');
    stub.expect('07-get-devicestates-list');
    expect(await client.listDeviceStates()).toEqual([{ name: 'Stasis:bob', state: 'INUSE' }]);

    stub.expect('08-put-devicestate-stasis-bob-unknown');
    const unknown = await failureOf(client.setDeviceState('Stasis:bob', 'UNKNOWN'));
    expect([unknown.code, unknown.status, unknown.asteriskMessage]).toEqual([AriErrorCode.server, 500, 'Unknown device']);

    stub.expect('10-put-devicestate-stasis-empty-name');
    const missing = await failureOf(client.setDeviceState('Stasis:', 'INUSE'));
    expect([missing.code, missing.status, missing.asteriskMessage]).toEqual([AriErrorCode.notFound, 404, 'Device name is missing']);

    stub.expect('11-delete-devicestate-stasis-bob');
    await client.deleteDeviceState('Stasis:bob');
    stub.expect('12-get-devicestate-stasis-bob-after-delete');
    expect(await client.getDeviceState('Stasis:bob')).toBe('UNKNOWN');
    stub.expect('13-get-devicestate-custom-nosuch');
    expect(await client.getDeviceState('Custom:nosuch')).toBe('UNKNOWN');
    stub.expect('14-get-devicestate-mwi-1000');
    expect(await client.getDeviceState('MWI:1000@default')).toBe('INVALID');

    stub.expect('15-delete-devicestate-custom-bob-409');
    expect((await failureOf(client.deleteDeviceState('Custom:bob'))).code).toBe(AriErrorCode.conflict);

    expect(client.stats()).toMatchObject({ requests: 12, requestErrors: 4 });
  });

  test('mailboxes: PUT / GET / list / DELETE, a missing one is null on GET and false on DELETE', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    stub.expect('16-put-mailbox-1000');
    await client.setMailbox('1000@default', 2, 1);
    stub.expect('17-get-mailbox-1000');
    expect(await client.getMailbox('1000@default')).toEqual({ name: '1000@default', oldMessages: 1, newMessages: 2 });
    stub.expect('18-get-mailboxes-list');
    expect(await client.listMailboxes()).toEqual([{ name: '1000@default', oldMessages: 1, newMessages: 2 }]);
    stub.expect('20-delete-mailbox-1000');
    expect(await client.deleteMailbox('1000@default')).toBe(true);
    // 404 "Mailbox is does not exist" (sic) and "Mailbox does not exist": not errors here.
    stub.expect('21-get-mailbox-1000-after-delete');
    expect(await client.getMailbox('1000@default')).toBeNull();
    stub.expect('22-delete-mailbox-1000-again');
    expect(await client.deleteMailbox('1000@default')).toBe(false);
    expect(client.stats()).toMatchObject({ requests: 6, requestErrors: 0 });
  });

  test('mailboxes: a count Asterisk would silently store as 0 (recording 26) never leaves the client', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    await expect(client.setMailbox('1000@default', 2, Number.NaN)).rejects.toThrow(AssertionError);
    await expect(client.setMailbox('1000@default', -1, 0)).rejects.toThrow(AssertionError);
    await expect(client.setMailbox('1000@default', 1.5, 0)).rejects.toThrow(AssertionError);
    expect(stub.requests).toEqual([]);
  });

  test('401 with the wrong password: ARI_AUTH with Asterisk\'s message', async () => {
    const stub = await startStub();
    const client = newClient(stub.url, { password: 'wrong' });
    stub.expect('23-get-asterisk-info-bad-auth');
    const error = await failureOf(client.info());
    expect([error.code, error.status, error.asteriskMessage]).toEqual([AriErrorCode.auth, 401, 'Authentication required']);
  });

  test('subscriptions on /applications/{app}/subscription, with the recorded 400 and 404', async () => {
    const stub = await startStub();
    const client = newClient(stub.url, { app: 'y' });
    stub.expect('ws02-b-post-subscription-alice');
    expect((await client.subscribe('deviceState:Custom:alice')).deviceNames).toEqual(['Custom:alice']);
    stub.expect('ws02-d-post-subscription-all-devices');
    const all = await client.subscribe('deviceState:');
    expect(all).toMatchObject({ name: 'y', deviceNames: ['Custom:alice', '__AST_DEVICE_STATE_ALL_TOPIC'] });
    stub.expect('ws02-e-post-subscription-bad-scheme');
    const scheme = await failureOf(client.subscribe('foo:bar'));
    expect([scheme.code, scheme.status, scheme.asteriskMessage]).toEqual([AriErrorCode.badRequest, 400, 'Invalid event source URI scheme']);
    stub.expect('ws02-h-delete-subscription-alice');
    expect((await client.unsubscribe('deviceState:Custom:alice')).deviceNames).toEqual(['__AST_DEVICE_STATE_ALL_TOPIC']);

    const other = newClient(stub.url, { app: 'nosuchapp' });
    stub.expect('ws02-g-post-subscription-no-app');
    const noApp = await failureOf(other.subscribe('deviceState:Custom:alice'));
    expect([noApp.code, noApp.asteriskMessage]).toEqual([AriErrorCode.notFound, 'Application not found']);
  });

  test('names are percent-encoded except : and @ (Stasis:bob stays as recorded)', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    stub.expectRaw('PUT', '/ari/deviceStates/Stasis:a%20b%2Fc%3Fd%23?deviceState=BUSY', 204, '');
    await client.setDeviceState('Stasis:a b/c?d#', 'BUSY');
    stub.expectRaw('POST', '/ari/applications/carillon/subscription?eventSource=deviceState:Custom:a&eventSource=deviceState:Custom:b%26c', 200, '{"name":"carillon","device_names":["Custom:a","Custom:b&c"]}');
    expect((await client.subscribe(['deviceState:Custom:a', 'deviceState:Custom:b&c'])).deviceNames).toEqual(['Custom:a', 'Custom:b&c']);
  });

  test('a base URL with a trailing slash gives the same paths', async () => {
    const stub = await startStub();
    const client = newClient(`${stub.url}/`);
    stub.expect('07-get-devicestates-list');
    expect(await client.listDeviceStates()).toHaveLength(1);
  });

  test('bad bodies and shapes are ARI_BAD_RESPONSE', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    stub.expectRaw('GET', '/ari/asterisk/info', 200, '<html>not json</html>');
    expect((await failureOf(client.info())).code).toBe(AriErrorCode.badResponse);
    stub.expectRaw('GET', '/ari/asterisk/info', 200, '{"system":{"entity_id":"nonsense"}}');
    expect((await failureOf(client.info())).code).toBe(AriErrorCode.badResponse);
    stub.expectRaw('GET', '/ari/deviceStates', 200, '[{"name":"Stasis:a","state":"INUSE"},{"name":"Stasis:b","state":"WEIRD"}]');
    expect((await failureOf(client.listDeviceStates())).code).toBe(AriErrorCode.badResponse);
    stub.expectRaw('GET', '/ari/mailboxes/1000', 200, '{"name":"1000","old_messages":-1,"new_messages":0}');
    expect((await failureOf(client.getMailbox('1000'))).code).toBe(AriErrorCode.badResponse);
    stub.expectRaw('GET', '/ari/asterisk/ping', 200, '{"ping":"nope"}');
    expect((await failureOf(client.ping())).code).toBe(AriErrorCode.badResponse);
    expect(client.stats()).toMatchObject({ requests: 5, requestErrors: 5 });
  });

  test('an answer that never comes is ARI_UNREACHABLE after requestTimeoutMs', async () => {
    const stub = await startStub();
    const client = newClient(stub.url, {}, { requestTimeoutMs: 100 });
    stub.expectHang('GET', '/ari/asterisk/info');
    const startedMs = performance.now();
    const error = await failureOf(client.info());
    expect(error.code).toBe(AriErrorCode.unreachable);
    expect(error.status).toBeNull();
    expect(error.message).toContain('no answer within 100 ms');
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(90);
  });

  test('connection refused is ARI_UNREACHABLE naming the errno', async () => {
    const client = newClient(`http://127.0.0.1:${await closedPort()}/ari`);
    const error = await failureOf(client.getDeviceState('Stasis:bob'));
    expect(error.code).toBe(AriErrorCode.unreachable);
    expect(error.message).toContain('ECONNREFUSED');
  });

  test('an injected fetch gets the URL, method and Basic auth header; other statuses map to codes', async () => {
    const calls: Array<{ url: string; method: string; authorization: string | null }> = [];
    const answers = [new Response('[]', { status: 200 }), new Response('{"message":"no"}', { status: 403 }), new Response('{"message":"?"}', { status: 422 }), new Response('', { status: 302 })];
    const fakeFetch: typeof fetch = (input, init) => {
      calls.push({ url: String(input), method: init?.method ?? 'GET', authorization: new Headers(init?.headers).get('authorization') });
      const answer = answers.shift();
      return answer === undefined ? Promise.reject(new Error('no more answers')) : Promise.resolve(answer);
    };
    const client = newClient('https://pbx.example:8089/ari', { username: 'ariuser', password: 'pässword' }, { fetch: fakeFetch });
    expect(await client.listMailboxes()).toEqual([]);
    expect((await failureOf(client.deleteDeviceState('Stasis:x'))).code).toBe(AriErrorCode.auth);
    expect((await failureOf(client.subscribe('deviceState:nosuch'))).code).toBe(AriErrorCode.badRequest);
    expect((await failureOf(client.ping())).code).toBe(AriErrorCode.badResponse);
    expect(calls[0]).toEqual({
      url: 'https://pbx.example:8089/ari/mailboxes',
      method: 'GET',
      authorization: `Basic ${Buffer.from('ariuser:pässword', 'utf8').toString('base64')}`,
    });
    expect(calls.map((call) => `${call.method} ${call.url}`).slice(1)).toEqual([
      'DELETE https://pbx.example:8089/ari/deviceStates/Stasis:x',
      'POST https://pbx.example:8089/ari/applications/carillon/subscription?eventSource=deviceState:nosuch',
      'GET https://pbx.example:8089/ari/asterisk/ping',
    ]);
    expect(client.webSocketUrl).toBe('wss://pbx.example:8089/ari/events?app=carillon&subscribeAll=true');
  });
});

describe('backoff', () => {
  test('doubles from min to max, jitter only shortens, never below min', () => {
    expect([0, 1, 2, 3, 4, 5, 100, 5000].map((n) => ariBackoffDelayMs(n, 5, 50, 0))).toEqual([5, 10, 20, 40, 50, 50, 50, 50]);
    for (let n = 0; n < 40; n++) {
      for (const random of [0, 0.3, 0.999]) {
        const delay = ariBackoffDelayMs(n, 500, 30_000, random);
        expect(delay).toBeGreaterThanOrEqual(500);
        expect(delay).toBeLessThanOrEqual(Math.min(30_000, 500 * 2 ** n));
      }
    }
    expect(ariBackoffDelayMs(10, 500, 30_000, 0.999)).toBeLessThan(ariBackoffDelayMs(10, 500, 30_000, 0));
  });
});

describe('event websocket', () => {
  test('connects with Basic auth (no credentials in the URL) and delivers the recorded device states', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    const connected = new Recorder(client, 'connected');
    const states = new Recorder(client, 'device-state');
    client.start();
    await connected.count(1);
    expect(stub.upgradeRequests).toEqual([{ path: '/ari/events?app=carillon&subscribeAll=true', authorization: `Basic ${Buffer.from('ariuser:aripass').toString('base64')}` }]);
    expect(connected.seen[0]?.url).toBe(`ws://127.0.0.1:${stub.port}/ari/events?app=carillon&subscribeAll=true`);

    const frames = recordedTextFrames('ws-01-subscribeall');
    for (const frame of frames) expect(stub.send('carillon', frame)).toBe(true);
    const seen = await states.count(frames.length);
    expect(seen.map((s) => `${s.name}=${s.state}`)).toEqual([
      'Custom:alice=INUSE',
      'Stasis:bob=BUSY',
      'MWI:1000@default=INUSE',
      'MWI:2000=INUSE',
      'MWI:1000@default=NOT_INUSE',
      'MWI:2000=NOT_INUSE',
      'Custom:alice=NOT_INUSE',
    ]);
    expect(seen[0]).toEqual({ name: 'Custom:alice', state: 'INUSE', eid: EID, timestamp: '2026-11-21T20:23:10.279+0000' });
    expect(client.stats()).toMatchObject({ connects: 1, disconnects: 0, framesReceived: 7, malformedFrames: 0 });
  });

  test('malformed frames (non-JSON, wrong shape, binary, > 1 MiB) are counted and skipped; other events pass as "event"', async () => {
    const stub = await startStub();
    const logger = new RecordingLogger();
    const client = newClient(stub.url, {}, { logger });
    const connected = new Recorder(client, 'connected');
    const states = new Recorder(client, 'device-state');
    const others = new Recorder(client, 'event');
    client.start();
    await connected.count(1);
    const [good = ''] = recordedTextFrames('ws-02-subscription-api');
    stub.send('carillon', 'not json at all');
    stub.send('carillon', '{"type":"DeviceStateChanged","device_state":{"name":"Custom:x","state":"SIDEWAYS"}}');
    stub.send('carillon', Buffer.from(good), true);
    stub.send('carillon', `{"type":"Padding","pad":"${'x'.repeat(1024 * 1024)}"}`);
    stub.send('carillon', `{"type":"StasisStart","application":"carillon","asterisk_id":"${EID}"}`);
    stub.send('carillon', good);
    await states.count(1);
    await others.count(1);
    expect(states.seen).toEqual([{ name: 'Custom:alice', state: 'BUSY', eid: EID, timestamp: '2026-11-21T20:24:06.518+0000' }]);
    expect(others.seen).toEqual([{ type: 'StasisStart', application: 'carillon', asterisk_id: EID }]);
    expect(client.stats()).toMatchObject({ connects: 1, disconnects: 0, framesReceived: 6, malformedFrames: 4 });
    expect(logger.at('warning').filter((m) => m.startsWith('skipped a malformed event frame'))).toHaveLength(4);
  });

  test('the server closes: disconnected, reconnect after backoff, events resume', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    const connected = new Recorder(client, 'connected');
    const disconnected = new Recorder(client, 'disconnected');
    const states = new Recorder(client, 'device-state');
    client.start();
    await connected.count(1);
    stub.closeConnections(1000);
    expect((await disconnected.count(1))[0]).toEqual({ reason: 'closed by Asterisk', code: 1000 });
    await connected.count(2);
    const [frame = ''] = recordedTextFrames('ws-01-subscribeall');
    await until(() => stub.send('carillon', frame), 'the new connection to own the app');
    expect((await states.count(1))[0]?.name).toBe('Custom:alice');
    // And once more: it reconnects every time, not a limited number of times.
    stub.closeConnections(1000);
    await connected.count(3);
    expect(client.stats()).toMatchObject({ connects: 3, disconnects: 2, connectFailures: 0 });
    expect(stub.upgrades).toBe(3);
  });

  test('Asterisk down at start: ARI_UNREACHABLE errors, logged once, retried until it is up', async () => {
    const port = await closedPort();
    const logger = new RecordingLogger();
    const client = newClient(`http://127.0.0.1:${port}/ari`, {}, { logger });
    const errors = new Recorder(client, 'error');
    client.start();
    const seen = await errors.count(3);
    for (const error of seen) {
      expect(error.code).toBe(AriErrorCode.unreachable);
      expect(error.message).toContain('ECONNREFUSED');
    }
    expect(logger.at('error')).toHaveLength(1);
    expect(client.stats().connectFailures).toBeGreaterThanOrEqual(3);
  });

  test('401 on the upgrade: typed ARI_AUTH error, logged once, retried at the max backoff until the credentials work', async () => {
    const stub = await startStub();
    const logger = new RecordingLogger();
    const client = newClient(stub.url, { password: 'wrong' }, { logger });
    const errors = new Recorder(client, 'error');
    const connected = new Recorder(client, 'connected');
    const times: number[] = [];
    client.on('error', () => times.push(performance.now()));
    client.start();
    const seen = await errors.count(3);
    for (const error of seen) {
      expect([error.code, error.status, error.asteriskMessage]).toEqual([AriErrorCode.auth, 401, 'Authentication required']);
    }
    // With random = 0 a non-auth failure would wait 5 then 10 ms; auth waits reconnectMaxMs.
    for (let i = 1; i < 3; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(45);
    const authLogs = logger.at('error');
    expect(authLogs).toHaveLength(1);
    expect(authLogs[0]).toContain('401 Authentication required');
    expect(stub.refusedUpgrades).toBeGreaterThanOrEqual(3);

    stub.setCredentials('ariuser:wrong');
    await connected.count(1);
    expect(logger.at('notice')).toContain('event websocket connected again');
    expect(client.stats().connects).toBe(1);
  });

  test('ApplicationReplaced: warn, reconnect after backoff and take the application name back', async () => {
    const stub = await startStub();
    const logger = new RecordingLogger();
    const client = newClient(stub.url, {}, { logger });
    const connected = new Recorder(client, 'connected');
    const replaced = new Recorder(client, 'application-replaced');
    const disconnected = new Recorder(client, 'disconnected');
    const states = new Recorder(client, 'device-state');
    client.start();
    await connected.count(1);

    // Someone else registers the same application name.
    const intruderFrames: string[] = [];
    const intruder = new WebSocket(client.webSocketUrl, { headers: { Authorization: `Basic ${Buffer.from('ariuser:aripass').toString('base64')}` } });
    sockets.push(intruder);
    intruder.on('message', (data: Buffer) => intruderFrames.push(data.toString('utf8')));

    expect((await replaced.count(1))[0]).toEqual({ application: 'carillon', timestamp: '2026-11-21T20:24:27.788+0000', eid: EID });
    expect((await disconnected.count(1))[0]?.reason).toBe('application replaced');
    await connected.count(2);
    // Our reconnection replaced the intruder in turn.
    await until(() => intruderFrames.length >= 1, 'the intruder to be told');
    const told = parseAriFrame(intruderFrames[0] ?? '');
    expect(told.ok && told.value.kind).toBe('application-replaced');
    expect(logger.at('warning').some((m) => m.includes("another client took over ARI application 'carillon'"))).toBe(true);

    const [frame = ''] = recordedTextFrames('ws-02-subscription-api');
    expect(stub.send('carillon', frame)).toBe(true);
    expect((await states.count(1))[0]?.state).toBe('BUSY');
    expect(intruderFrames).toHaveLength(1);
  });

  test('heartbeat: a peer that stops answering pings is terminated and the client reconnects', async () => {
    const stub = await startStub({ autoPong: false });
    const client = newClient(stub.url, {}, { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 40 });
    const connected = new Recorder(client, 'connected');
    const disconnected = new Recorder(client, 'disconnected');
    client.start();
    await connected.count(1);
    const [gone] = await disconnected.count(1);
    expect(gone?.reason).toBe('no pong within 40 ms');
    expect(gone?.code).toBe(1006);
    await connected.count(2);
  });

  test('heartbeat: a peer that answers pings stays connected', async () => {
    const stub = await startStub();
    const client = newClient(stub.url, {}, { heartbeatIntervalMs: 10, heartbeatTimeoutMs: 40 });
    const connected = new Recorder(client, 'connected');
    client.start();
    await connected.count(1);
    await until(() => stub.pingsReceived >= 8, '8 pings');
    expect(client.stats()).toMatchObject({ connects: 1, disconnects: 0 });
  });

  test('stop(): a clean close (1000), and no reconnection afterwards', async () => {
    const stub = await startStub();
    const client = newClient(stub.url);
    const connected = new Recorder(client, 'connected');
    const disconnected = new Recorder(client, 'disconnected');
    client.start();
    client.start(); // idempotent
    await connected.count(1);
    expect(stub.upgrades).toBe(1);
    await within(client.stop(), WAIT_MS, 'stop');
    expect(disconnected.seen).toEqual([{ reason: 'stopped', code: 1000 }]);
    await until(() => stub.openConnections === 0, 'the server side to close');

    // A witness with the same settings reconnects after a server close; the stopped client,
    // whose reconnect would be due at the same moment, must not have come back by then.
    const witness = newClient(stub.url);
    const witnessConnected = new Recorder(witness, 'connected');
    witness.start();
    await witnessConnected.count(1);
    stub.closeConnections(1000);
    await witnessConnected.count(2);
    stub.closeConnections(1000);
    await witnessConnected.count(3);
    expect(stub.upgrades).toBe(4);
    expect(client.stats()).toMatchObject({ connects: 1, disconnects: 1 });
    expect(connected.seen).toHaveLength(1);
  });

  test('stop() during the backoff after a server close: no reconnection', async () => {
    const stub = await startStub();
    const client = newClient(stub.url, { reconnectMinMs: 5, reconnectMaxMs: 50 });
    const witness = newClient(stub.url, { app: 'witness' });
    const connected = new Recorder(client, 'connected');
    const witnessConnected = new Recorder(witness, 'connected');
    client.on('disconnected', () => void client.stop());
    client.start();
    witness.start();
    await connected.count(1);
    await witnessConnected.count(1);
    stub.closeConnections(1000);
    await witnessConnected.count(2);
    stub.closeConnections(1000);
    await witnessConnected.count(3);
    expect(connected.seen).toHaveLength(1);
    expect(stub.upgrades).toBe(4);
  });

  test('stop() while connecting to a dead address resolves at once and reports nothing more', async () => {
    const client = newClient(`http://127.0.0.1:${await closedPort()}/ari`, { reconnectMinMs: 5, reconnectMaxMs: 5 });
    const errors = new Recorder(client, 'error');
    client.start();
    await errors.count(2);
    await within(client.stop(), 1000, 'stop');
    const count = errors.seen.length;
    // The witness: a second dead-address client that fails twice more in the same time.
    const witness = newClient(`http://127.0.0.1:${await closedPort()}/ari`, { reconnectMinMs: 5, reconnectMaxMs: 5 });
    const witnessErrors = new Recorder(witness, 'error');
    witness.start();
    await witnessErrors.count(3);
    expect(errors.seen).toHaveLength(count);
  });
});
