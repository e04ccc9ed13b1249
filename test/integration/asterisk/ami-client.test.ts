// Goal: AmiClient (src/asterisk/ami/ami-client.ts, res-corosync.md §2.1/§4,
// asterisk-groundtruth.md §2) against a scripted AMI server on 127.0.0.1 (port 0) that
// answers like the real transcripts: login with `Events` (never `Event`), 'connected' only
// after `Response: Success` and before the FullyBooted that follows it, refused logins
// retried with backoff until the secret is fixed, list actions collected by ActionID,
// unsolicited events dispatched, timeouts that leave no pending entry, 'disconnected' once
// per lost session with every pending action rejected, reconnect and re-login, keepalive
// Ping, bad banners, connect timeouts, refused connections logged once, bounded write
// buffer, Logoff on stop() and no reconnect afterwards.
// Every wait is bounded; timeouts are tens of milliseconds.

import { afterEach, describe, expect, test } from '@jest/globals';
import * as net from 'node:net';
import { AssertionError } from '../../../src/base/assert';
import {
  AmiClient,
  AmiClientError,
  type AmiClientEventName,
  type AmiClientEvents,
  type AmiClientOptions,
  type AmiMinimalLogger,
} from '../../../src/asterisk/ami/ami-client';
import type { AmiMessage } from '../../../src/asterisk/ami/ami-message';
import type { AmiSettings } from '../../../src/asterisk/core/bridge-settings';
import { AmiScriptServer, type AmiScriptServerOptions, waitFor } from './ami-script-server';

const WAIT_MS = 3000;

class CaptureLogger implements AmiMinimalLogger {
  readonly entries: Array<{ level: string; message: string }> = [];
  debug(message: string): void {
    this.entries.push({ level: 'debug', message });
  }
  info(message: string): void {
    this.entries.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.entries.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.entries.push({ level: 'error', message });
  }
  count(level: string, fragment: string): number {
    return this.entries.filter((entry) => entry.level === level && entry.message.includes(fragment)).length;
  }
}

function settings(port: number, overrides: Partial<AmiSettings> = {}): AmiSettings {
  return {
    host: '127.0.0.1',
    port,
    username: 'admin',
    secret: 'amipass',
    connectTimeoutMs: 1000,
    actionTimeoutMs: 1000,
    keepaliveMs: 0,
    reconnectMinMs: 10,
    reconnectMaxMs: 40,
    ...overrides,
  };
}

function nextEvent<K extends AmiClientEventName>(
  client: AmiClient,
  name: K,
  predicate: (payload: AmiClientEvents[K]) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<AmiClientEvents[K]> {
  return waitFor(`'${name}'`, timeoutMs, (resolve) => client.on(name, (payload) => {
    if (predicate(payload)) resolve(payload);
  }));
}

function collect<K extends AmiClientEventName>(client: AmiClient, name: K, count: number, timeoutMs = WAIT_MS): Promise<Array<AmiClientEvents[K]>> {
  const seen: Array<AmiClientEvents[K]> = [];
  return waitFor(`${count} '${name}'`, timeoutMs, (resolve) => client.on(name, (payload) => {
    seen.push(payload);
    if (seen.length === count) resolve(seen);
  }));
}

/** Records every emitted event name (and the Event of 'event') in order. */
function record(client: AmiClient): string[] {
  const log: string[] = [];
  client.on('connected', () => log.push('connected'));
  client.on('disconnected', () => log.push('disconnected'));
  client.on('login-failed', () => log.push('login-failed'));
  client.on('error', (error) => log.push(`error:${error.code}`));
  client.on('event', (message) => log.push(`event:${message.event ?? ''}`));
  return log;
}

async function rejection(promise: Promise<unknown>): Promise<AmiClientError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof AmiClientError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

/** A negative check: fails if the event occurs within the observation window. */
async function expectNone(client: AmiClient, name: AmiClientEventName, windowMs: number): Promise<void> {
  let seen = false;
  const off = client.on(name, () => {
    seen = true;
  });
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  off();
  expect(seen).toBe(false);
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  serverOptions: AmiScriptServerOptions = {},
  overrides: Partial<AmiSettings> = {},
  clientOptions: AmiClientOptions = {},
): Promise<{ server: AmiScriptServer; client: AmiClient; logger: CaptureLogger }> {
  const server = await AmiScriptServer.start(serverOptions);
  cleanups.push(() => server.close());
  const logger = new CaptureLogger();
  const client = new AmiClient(settings(server.port, overrides), { logger, actionIdPrefix: 'test-', ...clientOptions });
  cleanups.push(() => client.stop());
  return { server, client, logger };
}

async function connected(serverOptions: AmiScriptServerOptions = {}, overrides: Partial<AmiSettings> = {}, clientOptions: AmiClientOptions = {}) {
  const context = await setup(serverOptions, overrides, clientOptions);
  const up = nextEvent(context.client, 'connected');
  context.client.start();
  await up;
  const connection = await context.server.connection(0);
  return { ...context, connection };
}

describe('AmiClient login', () => {
  test("logs in with an `Events` header (never `Event`), emits 'connected' only after Success, before the FullyBooted in the same chunk", async () => {
    const { server, client } = await setup();
    // Reply and FullyBooted in one write, so that both arrive in one socket read.
    server.handlers.set('login', (connection, action) => {
      connection.loggedIn = true;
      connection.sendRaw(`Response: Success\r\nActionID: ${action.actionId ?? ''}\r\nMessage: Authentication accepted\r\n\r\n`
        + 'Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 35\r\nLastReload: 35\r\nStatus: Fully Booted\r\n\r\n');
    });
    const log = record(client);
    const info = nextEvent(client, 'connected');
    const booted = nextEvent(client, 'event', (message) => message.event === 'FullyBooted');
    expect(client.isConnected()).toBe(false);
    client.start();
    expect(await info).toEqual({ banner: 'Asterisk Call Manager/9.0.0', amiVersion: '9.0.0' });
    await booted;
    expect(log).toEqual(['connected', 'event:FullyBooted']);
    expect(client.isConnected()).toBe(true);

    const login = (await server.connection(0)).actions[0];
    expect(login?.headers.map(([name]) => name)).toEqual(['Action', 'ActionID', 'Username', 'Secret', 'Events']);
    expect(login?.get('Action')).toBe('Login');
    expect(login?.get('Username')).toBe('admin');
    expect(login?.get('Secret')).toBe('amipass');
    expect(login?.get('Events')).toBe('call,system');
    expect(login?.has('Event')).toBe(false);
    expect(login?.actionId).toBe('test-1');
    expect(client.stats()).toMatchObject({ connectAttempts: 1, connects: 1, loginFailures: 0, disconnects: 0, eventsReceived: 1, actionsSent: 1 });
  });

  test('the event mask option is sent as given', async () => {
    const { connection } = await connected({}, {}, { eventMask: 'off' });
    expect(connection.eventMask).toBe('off');
  });

  test("a refused login emits 'login-failed', is logged once, retried with backoff, and a fixed secret is picked up", async () => {
    const { server, client, logger } = await setup({ secret: 'not-yet', loginFailDelayMs: 5 });
    const log = record(client);
    const failures = collect(client, 'login-failed', 3);
    client.start();
    const seen = await failures;
    for (const [index, { error, attempt }] of seen.entries()) {
      expect(error.code).toBe('AMI_AUTH_FAILED');
      expect(error.response?.message).toBe('Authentication failed');
      expect(error.message).toContain('Authentication failed');
      expect(attempt).toBe(index + 1);
    }
    // One visible line for the configuration error, repeats only at debug.
    expect(logger.count('error', 'Authentication failed')).toBe(1);
    expect(logger.count('debug', 'Authentication failed')).toBeGreaterThanOrEqual(2);
    expect(client.isConnected()).toBe(false);

    server.secret = 'amipass'; // the operator fixes manager.conf
    const info = await nextEvent(client, 'connected');
    expect(info.amiVersion).toBe('9.0.0');
    expect(log.filter((entry) => entry === 'disconnected')).toEqual([]);
    expect(log.filter((entry) => entry.startsWith('error:'))).toEqual([]);
    const stats = client.stats();
    expect(stats.loginFailures).toBeGreaterThanOrEqual(3);
    expect(stats.connects).toBe(1);
    expect(stats.connectAttempts).toBe(stats.loginFailures + 1);
    expect(logger.count('info', 'failed attempts')).toBe(1);
  });

  test('reconnect delays grow exponentially from reconnectMinMs (jitter source injected)', async () => {
    const { server, client } = await setup({ secret: 'never', loginFailDelayMs: 0 }, { reconnectMinMs: 20, reconnectMaxMs: 80 }, { random: () => 0 });
    client.start();
    const last = await server.connection(4, 5000);
    const accepted = server.connections.slice(0, 5).map((connection) => connection.acceptedAtMs);
    expect(accepted.at(-1)).toBe(last.acceptedAtMs);
    const gaps = accepted.slice(1).map((at, index) => at - (accepted[index] ?? 0));
    const expected = [20, 40, 80, 80];
    // Timers never fire early (1 ms of clock rounding aside); a loaded host only adds delay.
    gaps.forEach((gap, index) => expect(gap).toBeGreaterThanOrEqual((expected[index] ?? 0) - 1));
  });

  test('a server that is not AMI (wrong banner) is rejected clearly and retried', async () => {
    const { server, client } = await setup({ banner: 'HTTP/1.1 400 Bad Request' });
    const log = record(client);
    const error = nextEvent(client, 'error');
    client.start();
    const failure = await error;
    expect(failure.code).toBe('AMI_BAD_BANNER');
    expect(failure.message).toContain('HTTP/1.1 400 Bad Request');
    const second = await server.connection(1);
    expect(second).toBeDefined();
    expect(server.connections[0]?.actions).toEqual([]); // no Login to a non-AMI server
    expect(log).not.toContain('connected');
  });

  test('a server that sends no banner hits the connect timeout', async () => {
    const { client } = await setup({ banner: null }, { connectTimeoutMs: 40 });
    const error = nextEvent(client, 'error');
    client.start();
    const failure = await error;
    expect(failure.code).toBe('AMI_CONNECT_TIMEOUT');
    expect(failure.message).toContain('no banner');
  });

  test('a refused connection is an AMI_SOCKET_ERROR with its errno, logged once however often it repeats', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const address = probe.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const logger = new CaptureLogger();
    const client = new AmiClient(settings(address.port), { logger });
    cleanups.push(() => client.stop());
    const errors = collect(client, 'error', 3);
    client.start();
    for (const error of await errors) {
      expect(error.code).toBe('AMI_SOCKET_ERROR');
      expect(error.errno).toBe('ECONNREFUSED');
    }
    expect(logger.count('warn', 'ECONNREFUSED')).toBe(1);
    expect(logger.count('debug', 'ECONNREFUSED')).toBeGreaterThanOrEqual(2);
  });

  test('invalid settings are refused by the constructor', () => {
    const bad = (overrides: Partial<AmiSettings>): string => {
      try {
        new AmiClient(settings(5038, overrides));
      } catch (e) {
        if (e instanceof AmiClientError) return e.code;
        throw e;
      }
      return 'accepted';
    };
    expect(bad({ port: 0 })).toBe('AMI_BAD_SETTINGS');
    expect(bad({ secret: 'a\r\nEvents: on' })).toBe('AMI_BAD_SETTINGS');
    expect(bad({ reconnectMinMs: 100, reconnectMaxMs: 10 })).toBe('AMI_BAD_SETTINGS');
    expect(bad({ keepaliveMs: -1 })).toBe('AMI_BAD_SETTINGS');
    expect(bad({})).toBe('accepted');
  });
});

describe('AmiClient actions', () => {
  test('action() resolves any response, Error included; actionOk() rejects an Error with AMI_ACTION_FAILED', async () => {
    const { client, connection } = await connected();
    const pong = await client.action('Ping');
    expect(pong.response).toBe('Success');
    expect(pong.get('Ping')).toBe('Pong');
    const unknown = await client.action('NoSuchAction');
    expect(unknown.response).toBe('Error');
    expect(unknown.message).toContain('Invalid/unknown command: NoSuchAction');
    const failed = await rejection(client.actionOk('NoSuchAction', [['Foo', 'bar']]));
    expect(failed.code).toBe('AMI_ACTION_FAILED');
    expect(failed.action).toBe('NoSuchAction');
    expect(failed.response?.message).toContain('Invalid/unknown command');
    expect((await client.actionOk('Ping')).get('Ping')).toBe('Pong');
    // Every ActionID is unique: prefix plus counter.
    const ids = connection.actions.map((action) => action.actionId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => id?.startsWith('test-'))).toBe(true);
    expect(client.stats().pendingActions).toBe(0);
  });

  test('an action with no answer times out, leaves no pending entry, and its late answer is not an event', async () => {
    const { server, client, connection } = await connected({ fullyBooted: false });
    const log = record(client);
    server.handlers.set('slow', () => undefined); // answered by hand below
    const slowSeen = connection.waitAction('Slow');
    const timedOut = rejection(client.action('Slow', [], { timeoutMs: 30 }));
    const held = await slowSeen;
    const error = await timedOut;
    expect(error.code).toBe('AMI_ACTION_TIMEOUT');
    expect(error.message).toContain('30 ms');
    expect(client.stats()).toMatchObject({ actionTimeouts: 1, pendingActions: 0 });
    // The answer arrives after the timeout; a Ping behind it proves it was read.
    connection.reply(held, 'Success', [['Message', 'too late']]);
    await client.action('Ping');
    expect(client.stats().staleMessages).toBe(1);
    expect(log).toEqual([]);
  });

  test('actions are refused when not connected, and a header injection is refused before anything is written', async () => {
    const { client, connection } = await (async () => {
      const context = await setup();
      const early = await rejection(context.client.action('Ping'));
      expect(early.code).toBe('AMI_NOT_CONNECTED');
      const up = nextEvent(context.client, 'connected');
      context.client.start();
      await up;
      return { ...context, connection: await context.server.connection(0) };
    })();
    const injected = await rejection(client.action('Setvar', [['Variable', 'DEVICE_STATE(Custom:x)'], ['Value', 'INUSE\r\nAction: Logoff']]));
    expect(injected.code).toBe('AMI_HEADER_INJECTION');
    await client.action('Ping');
    expect(connection.actions.map((action) => action.get('Action'))).toEqual(['Login', 'Ping']);
    expect(client.isConnected()).toBe(true);
  });

  test('a socket that does not drain fails actions with AMI_WRITE_BUFFER_FULL instead of buffering without bound', async () => {
    const limit = 256 * 1024;
    const { client, connection } = await connected({}, { actionTimeoutMs: 10_000 }, { writeBufferBytesMax: limit, pendingActionsMax: 100_000, logoffTimeoutMs: 50 });
    connection.socket.pause(); // the server stops reading
    const fields: Array<[string, string]> = Array.from({ length: 20 }, (_, i) => [`Field${i}`, 'x'.repeat(900)]);
    const sent: Array<Promise<AmiMessage>> = [];
    for (let i = 0; i < 3000 && client.stats().writeBufferRejects === 0; i += 1) sent.push(client.action('Bulk', fields));
    const outcomes = Promise.allSettled(sent);
    const last = sent.at(-1);
    if (last === undefined) throw new Error('nothing sent');
    const refused = await rejection(last);
    expect(refused.code).toBe('AMI_WRITE_BUFFER_FULL');
    expect(client.stats().writeBufferRejects).toBe(1);
    expect(client.stats().pendingActions).toBe(sent.length - 1);
    await client.stop(); // its Logoff is never read either: bounded by logoffTimeoutMs
    const settled = await outcomes;
    // Everything else is rejected by stop(): nothing leaks.
    expect(settled.every((outcome) => outcome.status === 'rejected')).toBe(true);
    expect(client.stats().pendingActions).toBe(0);
  });

  test('an action larger than the write buffer limit is refused outright', async () => {
    const { client, connection } = await connected({}, {}, { writeBufferBytesMax: 300 });
    const refused = await rejection(client.action('Bulk', Array.from({ length: 5 }, (_, i): [string, string] => [`F${i}`, 'y'.repeat(100)])));
    expect(refused.code).toBe('AMI_WRITE_BUFFER_FULL');
    await client.action('Ping');
    expect(connection.actions.map((action) => action.get('Action'))).toEqual(['Login', 'Ping']);
  });
});

describe('AmiClient lists and events', () => {
  test('DeviceStateList: response, items carrying the ActionID, Complete; an interleaved unsolicited event still goes to listeners', async () => {
    const { server, client } = await connected({ fullyBooted: false });
    server.handlers.set('devicestatelist', (connection, action) => {
      const id = action.actionId ?? '';
      connection.reply(action, 'Success', [['EventList', 'start'], ['Message', 'Device State Changes will follow']]);
      connection.send([['Event', 'DeviceStateChange'], ['ActionID', id], ['Device', 'Custom:bob'], ['State', 'NOT_INUSE']]);
      connection.send([['Event', 'DeviceStateChange'], ['Privilege', 'call,all'], ['Device', 'Custom:dave'], ['State', 'INUSE']]);
      connection.send([['Event', 'DeviceStateChange'], ['ActionID', id], ['Device', 'Custom:carol'], ['State', 'RINGING']]);
      connection.send([['Event', 'DeviceStateListComplete'], ['ActionID', id], ['EventList', 'Complete'], ['ListItems', '2']]);
    });
    const events: AmiMessage[] = [];
    client.on('event', (message) => events.push(message));
    const result = await client.actionList('DeviceStateList');
    expect(result.response.get('EventList')).toBe('start');
    expect(result.items.map((item) => [item.get('Device'), item.get('State')])).toEqual([['Custom:bob', 'NOT_INUSE'], ['Custom:carol', 'RINGING']]);
    expect(result.complete?.event).toBe('DeviceStateListComplete');
    expect(result.complete?.get('ListItems')).toBe('2');
    expect(events.map((message) => message.get('Device'))).toEqual(['Custom:dave']);
    expect(client.stats().pendingActions).toBe(0);
  });

  test('the default DeviceStateList script, as in transcript 07', async () => {
    const { client } = await connected();
    const result = await client.actionList('DeviceStateList');
    expect(result.items.map((item) => item.get('Device'))).toEqual(['Custom:bob', 'Custom:carol', 'Custom:alice']);
    expect(result.complete?.get('EventList')).toBe('Complete');
  });

  test('a list action answered with an Error resolves at once with no items', async () => {
    const { client } = await connected();
    const result = await client.actionList('MWIGet', [['Mailbox', '/.*/']], { timeoutMs: 5000 });
    expect(result.response.response).toBe('Error');
    expect(result.items).toEqual([]);
    expect(result.complete).toBeNull();
  });

  test('a list longer than itemsMax is rejected; its remaining items are dropped, not dispatched', async () => {
    const { client } = await connected({ fullyBooted: false });
    const log = record(client);
    const error = await rejection(client.actionList('DeviceStateList', [], { itemsMax: 2 }));
    expect(error.code).toBe('AMI_LIST_TOO_LONG');
    await client.action('Ping'); // everything before the Pong has been read
    expect(client.stats().staleMessages).toBe(1); // the Complete event after the 3rd item
    expect(log).toEqual([]);
  });

  test('a list that does not complete in time is rejected as a whole', async () => {
    const { server, client } = await connected();
    server.handlers.set('devicestatelist', (connection, action) => {
      connection.reply(action, 'Success', [['EventList', 'start']]);
      connection.send([['Event', 'DeviceStateChange'], ['ActionID', action.actionId ?? ''], ['Device', 'Custom:bob'], ['State', 'INUSE']]);
    });
    const error = await rejection(client.actionList('DeviceStateList', [], { timeoutMs: 300 }));
    expect(error.code).toBe('AMI_ACTION_TIMEOUT');
    expect(error.message).toContain('1 items so far');
    expect(client.stats().pendingActions).toBe(0);
  });

  test('unsolicited events are dispatched in order with their fields', async () => {
    const { server, client } = await connected({ fullyBooted: false });
    const events = collect(client, 'event', 2);
    server.broadcast([['Event', 'DeviceStateChange'], ['Privilege', 'call,all'], ['Device', 'Custom:alice'], ['State', 'INUSE']]);
    server.broadcast([['Event', 'MessageWaiting'], ['Privilege', 'call,all'], ['Mailbox', '1000@default'], ['Waiting', '0'], ['New', '1'], ['Old', '0']]);
    const [device, mwi] = await events;
    expect(device?.get('State')).toBe('INUSE');
    expect(mwi?.get('Mailbox')).toBe('1000@default');
    expect(mwi?.get('New')).toBe('1');
    expect(client.stats().eventsReceived).toBe(2);
  });

  test('a throwing listener is logged and does not disturb the client', async () => {
    const { server, client, logger } = await connected({ fullyBooted: false });
    client.on('event', () => {
      throw new Error('listener bug');
    });
    const second = collect(client, 'event', 2);
    server.broadcast([['Event', 'A']]);
    server.broadcast([['Event', 'B']]);
    expect((await second).map((message) => message.event)).toEqual(['A', 'B']);
    expect(logger.count('error', 'listener bug')).toBe(2);
    expect(client.isConnected()).toBe(true);
  });
});

describe('AmiClient session loss, keepalive and stop', () => {
  test("a dropped connection emits 'disconnected' once, rejects pending actions, then reconnects and logs in again", async () => {
    const { server, client, connection } = await connected({ fullyBooted: false });
    const log = record(client);
    server.handlers.set('hang', () => undefined);
    const hung = rejection(client.action('Hang', [], { timeoutMs: 5000 }));
    await connection.waitAction('Hang');
    const lost = nextEvent(client, 'disconnected');
    const again = nextEvent(client, 'connected');
    connection.destroy();
    const { reason } = await lost;
    expect(reason).toContain('closed by the server');
    const error = await hung;
    expect(error.code).toBe('AMI_DISCONNECTED');
    expect(error.action).toBe('Hang');
    await again;
    const second = await server.connection(1);
    expect((await second.waitAction('Login')).get('Events')).toBe('call,system');
    expect(log.filter((entry) => entry === 'disconnected')).toHaveLength(1);
    expect(client.stats()).toMatchObject({ connects: 2, disconnects: 1, pendingActions: 0 });
    expect((await client.action('Ping')).get('Ping')).toBe('Pong');
  });

  test('keepalive: a Ping after keepaliveMs of silence; an unanswered Ping drops the session and reconnects', async () => {
    const { server, client, connection } = await connected({ fullyBooted: false }, { keepaliveMs: 30, actionTimeoutMs: 60 });
    const ping = await connection.waitAction('Ping');
    expect(ping.actionId?.startsWith('test-')).toBe(true);
    server.handlers.set('ping', () => undefined); // Asterisk hangs
    const lost = await nextEvent(client, 'disconnected');
    expect(lost.error?.code).toBe('AMI_KEEPALIVE_TIMEOUT');
    expect(lost.reason).toContain('keepalive');
    await nextEvent(client, 'connected');
    expect(client.stats().actionTimeouts).toBeGreaterThanOrEqual(1);
  });

  test('stop() logs off politely, closes, and never reconnects', async () => {
    const { server, client, connection } = await connected();
    const lost = nextEvent(client, 'disconnected');
    await client.stop();
    expect(connection.actions.at(-1)?.get('Action')).toBe('Logoff');
    expect((await lost).reason).toBe('client stopped');
    await connection.closed;
    expect(client.isConnected()).toBe(false);
    expect((await rejection(client.action('Ping'))).code).toBe('AMI_NOT_CONNECTED');
    expect(() => client.start()).toThrow(AssertionError);
    await expectNone(client, 'connected', 100);
    expect(server.connections).toHaveLength(1);
    await client.stop(); // idempotent
  });

  test('stop() does not wait forever for a Goodbye that never comes', async () => {
    const { server, client } = await connected({}, {}, { logoffTimeoutMs: 30 });
    server.handlers.set('logoff', () => undefined);
    await waitFor('stop()', 1000, (resolve) => {
      void client.stop().then(resolve);
      return () => undefined;
    });
    expect(client.stats().actionTimeouts).toBe(1);
  });

  test('stop() during the reconnect backoff cancels the reconnect', async () => {
    const { server, client } = await setup({ secret: 'wrong' }, { reconnectMinMs: 50, reconnectMaxMs: 50 });
    const failed = nextEvent(client, 'login-failed');
    client.start();
    await failed;
    await client.stop();
    const attempts = client.stats().connectAttempts;
    await expectNone(client, 'login-failed', 150);
    expect(client.stats().connectAttempts).toBe(attempts);
    expect(server.connections).toHaveLength(1);
  });
});
