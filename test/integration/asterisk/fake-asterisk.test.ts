// Goal: FakeAsterisk (fake-asterisk.ts) answers AMI and ARI as the real Asterisk 20 in
// /work/shared/fixtures/asterisk/ did (asterisk-groundtruth.md §2, §3): the client side
// of the AMI transcripts replayed against it yields the transcripts' server side field
// by field; the ARI requests of requests.tsv yield the recorded status lines, headers
// and bodies; the event websocket yields the recorded frames; and the test controls
// (state changes, dropConnections, restart with persistence, module switches) behave as
// documented.
// Method: real sockets on 127.0.0.1 with ephemeral ports; raw TCP for AMI and for HTTP
// (so header names and order can be compared), the `ws` client for websockets. Only
// values that legitimately vary are normalised, each after checking its format:
// timestamps, uptimes, session pointers, ports, MD5 challenges, dates; and the order of
// the DeviceStateChange / ExtensionStatus / MessageWaiting events of one change (and of
// DeviceStateList items), which Asterisk does not keep stable. Every wait is bounded;
// every server and socket is closed.

import { afterEach, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { FakeAsterisk, FakeAsteriskError, type FakeAsteriskOptions, TRANSCRIPT_HINTS } from './fake-asterisk';

const FIXTURES = '/work/shared/fixtures/asterisk';
const AMI_DIR = path.join(FIXTURES, 'ami');
const ARI_DIR = path.join(FIXTURES, 'ari');
const FIXTURE_EID = '02:a5:7e:00:00:01';
const BANNER = 'Asterisk Call Manager/9.0.0\r\n';
const WAIT_MS = 3000;

const fakes: FakeAsterisk[] = [];
const closers: Array<() => void> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

async function startFake(options: Partial<FakeAsteriskOptions> = {}): Promise<FakeAsterisk> {
  const fake = await FakeAsterisk.start({ eid: FIXTURE_EID, hints: TRANSCRIPT_HINTS, failedLoginDelayMs: 20, ...options });
  fakes.push(fake);
  return fake;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

// ---- raw AMI ----

class RawAmi {
  data = '';
  ended = false;
  private readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.data += chunk.toString('latin1');
    });
    socket.on('close', () => {
      this.ended = true;
    });
    socket.on('error', () => undefined);
    closers.push(() => socket.destroy());
  }

  static connect(port: number): Promise<RawAmi> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawAmi(socket));
      });
    });
  }

  /** Connects and waits for the banner. */
  static async open(port: number): Promise<RawAmi> {
    const client = await RawAmi.connect(port);
    await client.until((d) => d.startsWith(BANNER), 'the banner');
    return client;
  }

  send(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  until(condition: (data: string) => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    return until(() => condition(this.data), `${what}; received so far: ${JSON.stringify(this.data.slice(-600))}`, timeoutMs);
  }

  /** Waits for a message containing `text`. */
  waitFor(text: string): Promise<void> {
    return this.until((d) => d.includes(text), JSON.stringify(text));
  }

  waitForEnd(): Promise<void> {
    return until(() => this.ended, 'the server to close the AMI connection');
  }

  async login(events?: string, username = 'admin', secret = 'amipass'): Promise<void> {
    this.send(`Action: Login\r\nActionID: login-x\r\nUsername: ${username}\r\nSecret: ${secret}\r\n${events === undefined ? '' : `Events: ${events}\r\n`}\r\n`);
    await this.waitFor('Message: Authentication accepted\r\n\r\n');
  }

  /** The messages received after the banner, each as its lines. */
  messages(): string[][] {
    return splitMessages(this.data.startsWith(BANNER) ? this.data.slice(BANNER.length) : this.data);
  }

  close(): void {
    this.socket.destroy();
  }
}

function splitMessages(text: string): string[][] {
  return text
    .split('\r\n\r\n')
    .filter((m) => m !== '')
    .map((m) => m.split('\r\n'));
}

function countResponses(text: string): number {
  return (text.match(/(^|\r\n)Response: /g) ?? []).length;
}

/** Header values that vary between runs, with the format each must have. */
const VARYING: Record<string, RegExp> = {
  Timestamp: /^\d{10}\.\d{6}$/,
  Uptime: /^\d+$/,
  LastReload: /^\d+$/,
  EventTV: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/,
  SessionTV: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/,
  SessionID: /^0x[0-9a-f]+$/,
  LocalAddress: /^IPV4\/TCP\/127\.0\.0\.1\/\d+$/,
  RemoteAddress: /^IPV4\/TCP\/127\.0\.0\.1\/\d+$/,
  Challenge: /^\d+$/,
  CoreStartupDate: /^\d{4}-\d\d-\d\d$/,
  CoreReloadDate: /^\d{4}-\d\d-\d\d$/,
  CoreStartupTime: /^\d\d:\d\d:\d\d$/,
  CoreReloadTime: /^\d\d:\d\d:\d\d$/,
};

const UNORDERED_EVENTS = new Set(['Event: DeviceStateChange', 'Event: ExtensionStatus', 'Event: MessageWaiting']);

/** The AMI stream as comparable messages: varying values replaced after a format check, unordered runs sorted. */
function normaliseAmi(stream: string): string[] {
  expect(stream.startsWith(BANNER)).toBe(true);
  // Every line ends in CRLF: no bare LF anywhere.
  expect(/(^|[^\r])\n/.test(stream)).toBe(false);
  const messages = splitMessages(stream.slice(BANNER.length)).map((lines) =>
    lines
      .map((line) => {
        const colon = line.indexOf(': ');
        const name = colon < 0 ? line : line.slice(0, colon);
        const format = VARYING[name];
        return format !== undefined && format.test(line.slice(colon + 2)) ? `${name}: <varies>` : line;
      })
      .join('\n'),
  );
  const out: string[] = [];
  let run: string[] = [];
  const flush = (): void => {
    out.push(...run.sort());
    run = [];
  };
  for (const message of messages) {
    if (UNORDERED_EVENTS.has(message.split('\n')[0] ?? '')) run.push(message);
    else {
      flush();
      out.push(message);
    }
  }
  flush();
  return out;
}

interface TranscriptStep {
  readonly dir: 'rx' | 'tx' | 'eof' | 'note';
  readonly data: string;
}

function readSteps(name: string): TranscriptStep[] {
  return fs
    .readFileSync(path.join(AMI_DIR, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TranscriptStep);
}

/** Does in the fake what a transcript's shell trigger did to the real Asterisk. */
async function runTrigger(fake: FakeAsterisk, note: string): Promise<void> {
  const cli = /^shell: CLI devstate change (\S+) (\S+)$/.exec(note);
  if (cli !== null) {
    fake.setDeviceState(cli[1] ?? '', cli[2] ?? '');
    return;
  }
  const curl = /^shell: curl .* -X (\w+) -u (\S+) '([^']+)'$/.exec(note);
  if (curl !== null) {
    const url = new URL(curl[3] ?? '');
    const res = await fetch(`http://127.0.0.1:${fake.ariPort}${url.pathname}${url.search}`, {
      method: curl[1] ?? 'GET',
      headers: { Authorization: `Basic ${Buffer.from(curl[2] ?? '').toString('base64')}` },
    });
    await res.arrayBuffer();
    expect(res.status).toBe(204);
  }
}

/** Replays the client side of an AMI transcript; returns the fake's whole byte stream. */
async function replayAmi(fake: FakeAsterisk, name: string): Promise<string> {
  const client = await RawAmi.open(fake.amiPort);
  let expectedResponses = 0;
  for (const step of readSteps(name)) {
    if (step.dir === 'tx') {
      expectedResponses += step.data.split(/\r?\n\r?\n/).filter((m) => m.trim() !== '').length;
      client.send(step.data);
      await client.until((d) => countResponses(d) >= expectedResponses, `response ${expectedResponses} of ${name}`);
    } else if (step.dir === 'note') {
      await runTrigger(fake, step.data);
    }
  }
  await client.waitForEnd();
  return client.data;
}

function expectedAmi(name: string): string {
  return fs.readFileSync(path.join(AMI_DIR, `${name}.rx`)).toString('latin1');
}

// ---- raw HTTP ----

interface HttpReply {
  readonly statusLine: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

function parseHttp(raw: string): HttpReply {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = raw.slice(0, end).split('\r\n');
  const headers = headerLines.map((l) => {
    const colon = l.indexOf(': ');
    return [l.slice(0, colon), l.slice(colon + 2)] as const;
  });
  return { statusLine, headers, body: raw.slice(end + 4) };
}

/** One request on its own connection, read to the end (header names as sent by the server). */
function rawHttp(port: number, method: string, target: string, auth: string | null, extra = '', connection = 'close'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    closers.push(() => socket.destroy());
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete HTTP answer to ${method} ${target}: ${JSON.stringify(data)}`));
    }, WAIT_MS);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    const authorization = auth === null ? '' : `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
    socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${authorization}Connection: ${connection}\r\n${extra}\r\n`);
  });
}

const DATE_FORMAT = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;
const ARI_TIME = /"(timestamp|startup_time|last_reload_time)":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000"/g;

/** Compares an HTTP answer to a recorded one: status line, Asterisk's headers in order, body (times normalised). */
function expectSameHttp(actual: HttpReply, expected: HttpReply, port: number): void {
  expect(actual.statusLine).toBe(expected.statusLine);
  // Node adds Connection (and Keep-Alive) after Asterisk's headers; nothing else differs.
  const own = actual.headers.filter(([name]) => name !== 'Connection' && name !== 'Keep-Alive');
  expect(own.map(([name]) => name)).toEqual(expected.headers.map(([name]) => name));
  for (const [name, value] of own) {
    if (name === 'Date') expect(value).toMatch(DATE_FORMAT);
    // The body is compared below; its length varies only with the port in the Swagger basePath.
    else if (name === 'Content-Length') expect(Number(value)).toBe(Buffer.byteLength(actual.body));
    else expect([name, value]).toEqual(expected.headers.find(([n]) => n === name));
  }
  // The Swagger basePath names the port asked for (the recording's was 8088).
  const normalise = (body: string): string => body.replace(ARI_TIME, '"$1":"<time>"').replace(`http://127.0.0.1:${port}/ari`, 'http://<host>/ari').replace('http://127.0.0.1:8088/ari', 'http://<host>/ari');
  expect(normalise(actual.body)).toBe(normalise(expected.body));
}

function readHttpFixture(name: string): HttpReply {
  return parseHttp(fs.readFileSync(path.join(ARI_DIR, `${name}.http`), 'utf8'));
}

interface AriRequestRow {
  readonly name: string;
  readonly method: string;
  readonly target: string;
  readonly auth: string;
}

const ARI_ROWS: AriRequestRow[] = fs
  .readFileSync(path.join(ARI_DIR, 'requests.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => {
    const [name = '', method = '', target = '', auth = ''] = l.split('\t');
    return { name, method, target, auth };
  });

async function ariRow(fake: FakeAsterisk, name: string): Promise<HttpReply> {
  const row = ARI_ROWS.find((r) => r.name === name);
  if (row === undefined) throw new Error(`no request ${name} in requests.tsv`);
  return parseHttp(await rawHttp(fake.ariPort, row.method, row.target, row.auth));
}

async function ari(fake: FakeAsterisk, method: string, target: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${fake.ariPort}${target}`, { method, headers: { Authorization: `Basic ${Buffer.from('ariuser:aripass').toString('base64')}` } });
  return { status: res.status, body: await res.text() };
}

// ---- websocket ----

class FrameLog {
  readonly frames: string[] = [];
  closed = false;
  readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => this.frames.push(data.toString('utf8')));
    ws.on('close', () => {
      this.closed = true;
    });
    ws.on('error', () => undefined);
    closers.push(() => ws.terminate());
  }

  static open(fake: FakeAsterisk, query: string, headers: Record<string, string> = {}): Promise<FrameLog> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${fake.ariPort}/ari/events?${query}`, { headers });
      const log = new FrameLog(ws);
      ws.once('open', () => resolve(log));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  waitForCount(n: number): Promise<void> {
    return until(() => this.frames.length >= n, `${n} websocket frames (have ${JSON.stringify(this.frames)})`);
  }
}

function normaliseFrame(payload: string): string {
  return payload.replace(ARI_TIME, '"$1":"<time>"');
}

function recordedFrames(name: string): string[] {
  return fs
    .readFileSync(path.join(ARI_DIR, `${name}.frames.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { opcode?: number; payload?: string })
    .filter((f) => f.opcode === 1)
    .map((f) => normaliseFrame(f.payload ?? ''));
}

function sentinelFrame(app: string, device: string, state: string): string {
  return `{"type":"DeviceStateChanged","application":"${app}","timestamp":"<time>","device_state":{"name":"${device}","state":"${state}"},"asterisk_id":"${FIXTURE_EID}"}`;
}

// ---- AMI transcripts ----

describe('AMI transcripts replayed against the fake', () => {
  const presetCustom = (fake: FakeAsterisk): void => {
    for (const name of ['Custom:alice', 'Custom:bob', 'Custom:carol']) fake.setDeviceState(name, 'NOT_INUSE');
  };

  const cases: Array<[string, (fake: FakeAsterisk) => void]> = [
    ['01-login-success-events-default', () => undefined],
    ['02-login-success-events-off', () => undefined],
    ['03-login-failure', () => undefined],
    ['04-events-on', () => undefined],
    ['06-setvar-devstate-custom-alice', () => undefined],
    ['07-devicestatelist', presetCustom],
    ['08-extensionstatelist', presetCustom],
    ['09-mwi', () => undefined],
    ['10-coresettings-corestatus-ping', () => undefined],
    ['11-listcommands', () => undefined],
    ['12-unknown-and-malformed', () => undefined],
    ['13-before-login', () => undefined],
    ['14-logoff', () => undefined],
    [
      '15-ari-stasis-devstate-put-delete',
      (fake) => {
        presetCustom(fake);
        fake.setDeviceState('MWI:1000@default', 'NOT_INUSE');
        fake.setDeviceState('MWI:2000', 'NOT_INUSE');
      },
    ],
    ['16-command-challenge-modulecheck', presetCustom],
  ];

  test.each(cases)('%s', async (name, preset) => {
    const fake = await startFake();
    preset(fake);
    const received = await replayAmi(fake, name);
    expect(normaliseAmi(received)).toEqual(normaliseAmi(expectedAmi(name)));
  });

  test('a failed login is answered only after the configured delay, then the server closes', async () => {
    const fake = await startFake({ failedLoginDelayMs: 150 });
    const client = await RawAmi.open(fake.amiPort);
    const sentAt = Date.now();
    client.send('Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: nope\r\n\r\n');
    await client.waitFor('Message: Authentication failed\r\n\r\n');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(140);
    await client.waitForEnd();
    // An unknown user is refused the same way.
    const other = await RawAmi.open(fake.amiPort);
    other.send('Action: Login\r\nUsername: nobody\r\nSecret: amipass\r\n\r\n');
    await other.waitFor('Response: Error\r\nMessage: Authentication failed\r\n\r\n');
    await other.waitForEnd();
  });
});

// ---- AMI behaviour beyond the transcripts' exact bytes ----

describe('AMI sessions, masks and state', () => {
  test('events reach only sessions whose mask and read permission include the class', async () => {
    const fake = await startFake({
      amiUsers: [
        { username: 'admin', secret: 'amipass' },
        { username: 'sys', secret: 'syspass', read: 'system', write: 'all' },
      ],
    });
    const all = await RawAmi.open(fake.amiPort);
    await all.login('on');
    const call = await RawAmi.open(fake.amiPort);
    await call.login('call');
    const sysOnly = await RawAmi.open(fake.amiPort);
    await sysOnly.login(undefined, 'sys', 'syspass');
    const off = await RawAmi.open(fake.amiPort);
    await off.login('off');
    // The `call` session's login: SuccessfulAuth (security) reaches `all` only.
    await all.until((d) => (d.match(/Event: SuccessfulAuth/g) ?? []).length >= 4, 'four SuccessfulAuth events');
    expect(call.data).not.toContain('SuccessfulAuth');
    expect(call.data).not.toContain('FullyBooted');
    expect(sysOnly.data).toContain('Event: FullyBooted\r\nPrivilege: system,all\r\n');

    fake.setDeviceState('PJSIP/100', 'INUSE');
    const event = 'Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/100\r\nState: INUSE\r\n\r\n';
    await all.waitFor(event);
    await call.waitFor(event);
    // A sentinel through the same path shows the others got nothing before it.
    for (const c of [sysOnly, off]) c.send('Action: Ping\r\nActionID: sentinel\r\n\r\n');
    await sysOnly.waitFor('ActionID: sentinel');
    await off.waitFor('ActionID: sentinel');
    expect(sysOnly.data).not.toContain('DeviceStateChange');
    expect(off.data).not.toContain('Event:');

    // Events: on again switches the `off` session back on.
    off.send('Action: Events\r\nActionID: e\r\nEventMask: on\r\n\r\n');
    await off.waitFor('Events: On\r\n\r\n');
    fake.setDeviceState('PJSIP/100', 'NOT_INUSE');
    await off.waitFor('Device: PJSIP/100\r\nState: NOT_INUSE\r\n');
    expect(fake.amiSessionCount).toBe(4);
  });

  test('repeated device states are suppressed, repeated MWI is not, and res_mwi_devstate mirrors MWI', async () => {
    const fake = await startFake();
    const client = await RawAmi.open(fake.amiPort);
    await client.login('call');
    fake.setDeviceState('PJSIP/200', 'RINGING');
    fake.setDeviceState('PJSIP/200', 'RINGING');
    fake.setMailbox('7000@default', 3, 1);
    fake.setMailbox('7000@default', 3, 1);
    fake.setMailbox('7001', 0, 0);
    client.send('Action: Ping\r\nActionID: sentinel\r\n\r\n');
    await client.waitFor('ActionID: sentinel');
    expect((client.data.match(/Device: PJSIP\/200/g) ?? []).length).toBe(1);
    expect((client.data.match(/Event: MessageWaiting\r\nPrivilege: call,all\r\nMailbox: 7000@default\r\nWaiting: 1\r\nNew: 3\r\nOld: 1\r\n/g) ?? []).length).toBe(2);
    expect((client.data.match(/Device: MWI:7000@default\r\nState: INUSE/g) ?? []).length).toBe(1);
    // A mailbox without a context stays as written.
    expect(client.data).toContain('Mailbox: 7001\r\nWaiting: 0\r\nNew: 0\r\nOld: 0\r\n');
    expect(client.data).toContain('Device: MWI:7001\r\nState: NOT_INUSE\r\n');
    expect(fake.mailboxes()).toEqual(new Map([['7000@default', { new: 3, old: 1 }], ['7001', { new: 0, old: 0 }]]));
    expect(fake.deviceState('MWI:7000@default')).toBe('INUSE');
    expect(fake.deviceState('PJSIP/999')).toBe('INVALID');
    expect(fake.deviceState('Custom:nosuch')).toBe('UNKNOWN');
  });

  test('presence: Setvar PRESENCE_STATE, PresenceStateChange, PresenceState, PresenceStateList and PRESENCE_STATE()', async () => {
    const fake = await startFake();
    const client = await RawAmi.open(fake.amiPort);
    await client.login('call');
    client.send('Action: Setvar\r\nActionID: p1\r\nVariable: PRESENCE_STATE(CustomPresence:alice)\r\nValue: away,lunch,back soon\r\n\r\n');
    await client.waitFor('Event: PresenceStateChange\r\nPrivilege: call,all\r\nPresentity: CustomPresence:alice\r\nStatus: away\r\nSubtype: lunch\r\nMessage: back soon\r\n\r\n');
    expect(client.data).toContain('Response: Success\r\nActionID: p1\r\nMessage: Variable Set\r\n\r\n');
    client.send('Action: Setvar\r\nActionID: p2\r\nVariable: PRESENCE_STATE(CustomPresence:alice)\r\nValue: bogus\r\n\r\n');
    await client.waitFor('ActionID: p2\r\nMessage: Variable not set\r\n\r\n');
    client.send('Action: Setvar\r\nActionID: p3\r\nVariable: PRESENCE_STATE(Other:alice)\r\nValue: away\r\n\r\n');
    await client.waitFor('ActionID: p3\r\nMessage: Variable not set\r\n\r\n');
    client.send('Action: PresenceState\r\nActionID: p4\r\nProvider: CustomPresence:alice\r\n\r\n');
    await client.waitFor('Response: Success\r\nActionID: p4\r\nMessage: Presence State\r\nState: away\r\nSubtype: lunch\r\nMessage: back soon\r\nPresenceMessage: back soon\r\n\r\n');
    client.send('Action: PresenceState\r\nActionID: p5\r\nProvider: Nope:x\r\n\r\n');
    await client.waitFor('Response: Error\r\nActionID: p5\r\nMessage: Invalid provider Nope:x or provider in invalid state\r\n\r\n');
    client.send('Action: Getvar\r\nActionID: p6\r\nVariable: PRESENCE_STATE(CustomPresence:alice,subtype)\r\n\r\n');
    await client.waitFor('ActionID: p6\r\nVariable: PRESENCE_STATE(CustomPresence:alice,subtype)\r\nValue: lunch\r\n\r\n');
    fake.setPresence('CustomPresence:bob', 'dnd', '', 'line1\nline2');
    await client.waitFor('Presentity: CustomPresence:bob\r\nStatus: dnd\r\nSubtype: \r\nMessage: line1\\nline2\r\n\r\n');
    client.send('Action: PresenceStateList\r\nActionID: pl\r\n\r\n');
    await client.waitFor('Event: PresenceStateListComplete\r\nActionID: pl\r\nEventList: Complete\r\nListItems: 2\r\n\r\n');
    expect(client.data).toContain('Response: Success\r\nActionID: pl\r\nEventList: start\r\nMessage: Presence State Changes will follow\r\n\r\nEvent: PresenceStateChange\r\nActionID: pl\r\nPresentity: CustomPresence:alice\r\n');
    expect(fake.presence('CustomPresence:alice')).toEqual({ state: 'away', subtype: 'lunch', message: 'back soon' });
    expect(fake.presence('Nope:x')).toBeNull();
  });

  test('core show settings prints the Entity ID line; an MD5 challenge login works', async () => {
    const fake = await startFake({ eid: '02:00:00:00:00:07' });
    const client = await RawAmi.open(fake.amiPort);
    client.send('Action: Challenge\r\nActionID: c\r\nAuthType: MD5\r\n\r\n');
    await client.until((d) => /Challenge: \d+\r\n\r\n/.test(d), 'the challenge');
    const challenge = /Challenge: (\d+)/.exec(client.data)?.[1] ?? '';
    const { createHash } = await import('node:crypto');
    const key = createHash('md5').update(`${challenge}amipass`).digest('hex');
    client.send(`Action: Login\r\nActionID: l\r\nAuthType: MD5\r\nUsername: admin\r\nKey: ${key}\r\nEvents: off\r\n\r\n`);
    await client.waitFor('ActionID: l\r\nMessage: Authentication accepted\r\n\r\n');
    client.send('Action: Command\r\nActionID: s\r\nCommand: core show settings\r\n\r\n');
    await client.waitFor('Output:   Entity ID:                   02:00:00:00:00:07\r\n');
    client.send('Action: Login\r\nActionID: again\r\nUsername: admin\r\nSecret: amipass\r\n\r\n');
    await client.waitFor('Response: Success\r\nActionID: again\r\nMessage: Already authenticated\r\n\r\n');
  });

  test('disabled modules drop their actions, events and ARI resource', async () => {
    const fake = await startFake({ modules: { mwiExternal: false, managerDevicestate: false, managerPresencestate: false, mwiDevstate: false } });
    const client = await RawAmi.open(fake.amiPort);
    await client.login('on');
    client.send('Action: ListCommands\r\nActionID: lc\r\n\r\n');
    await client.waitFor('WaitEvent: Wait for an event to occur.  (Priv: <none>)\r\n\r\n');
    for (const gone of ['MWIUpdate:', 'MWIGet:', 'MWIDelete:', 'DeviceStateList:', 'PresenceStateList:']) expect(client.data).not.toContain(gone);
    expect(client.data).toContain('MailboxCount: Check Mailbox Message Count.  (Priv: call,reporting,all)\r\n');
    client.send('Action: MWIUpdate\r\nActionID: m\r\nMailbox: 1@x\r\n\r\n');
    await client.waitFor('ActionID: m\r\nMessage: Invalid/unknown command: MWIUpdate. Use Action: ListCommands to show available commands.\r\n\r\n');
    client.send('Action: ModuleCheck\r\nActionID: mc\r\nModule: res_mwi_external_ami.so\r\n\r\n');
    await client.waitFor('ActionID: mc\r\nMessage: Module not loaded\r\n\r\n');
    // The local voicemail still publishes MessageWaiting, without MWI: device states.
    fake.setMailbox('1000@default', 1, 0);
    await client.waitFor('Mailbox: 1000@default\r\nWaiting: 1\r\nNew: 1\r\nOld: 0\r\n');
    // ExtensionStatus (core) still comes; DeviceStateChange does not.
    fake.setDeviceState('Custom:alice', 'INUSE');
    await client.waitFor('Exten: 100\r\nContext: default\r\nHint: Custom:alice\r\nStatus: 1\r\n');
    fake.setPresence('CustomPresence:alice', 'away');
    client.send('Action: Ping\r\nActionID: sentinel\r\n\r\n');
    await client.waitFor('ActionID: sentinel');
    expect(client.data).not.toContain('DeviceStateChange');
    expect(client.data).not.toContain('PresenceStateChange');
    expect(fake.deviceStates().has('MWI:1000@default')).toBe(false);
    expect((await ari(fake, 'GET', '/ari/mailboxes')).status).toBe(404);
  });

  test('limits: an over-long line is dropped and counted, the session goes on; authlimit', async () => {
    const fake = await startFake();
    const client = await RawAmi.open(fake.amiPort);
    client.send(`X-Long: ${'a'.repeat(5000)}\r\nAction: Ping\r\nActionID: after-long\r\n\r\n`);
    await client.waitFor('Response: Error\r\nActionID: after-long\r\nMessage: Permission denied\r\n\r\n');
    expect(fake.amiStats.longLines).toBe(1);
    // authlimit: with 50 sessions not logged in (this one included), the next is closed without a banner.
    const idle = await Promise.all(Array.from({ length: 49 }, () => RawAmi.open(fake.amiPort)));
    expect(idle.length).toBe(49);
    const refused = await RawAmi.connect(fake.amiPort);
    await refused.waitForEnd();
    expect(refused.data).toBe('');
    expect(fake.amiStats.overflows).toBe(1);
    // Logging one in frees a place.
    await client.login('off');
    const admitted = await RawAmi.open(fake.amiPort);
    expect(admitted.data).toBe(BANNER);
  });
});

// ---- ARI ----

describe('ARI REST as in requests.tsv', () => {
  test('requests 01-29 answer with the recorded status lines, headers and bodies', async () => {
    const fake = await startFake();
    for (const name of ['Custom:alice', 'Custom:bob', 'Custom:carol']) fake.setDeviceState(name, 'NOT_INUSE');
    const names = ARI_ROWS.filter((r) => /^\d\d-/.test(r.name)).map((r) => r.name);
    expect(names.length).toBe(29);
    for (const name of names) {
      const actual = await ariRow(fake, name);
      try {
        expectSameHttp(actual, readHttpFixture(name), fake.ariPort);
      } catch (err) {
        throw new Error(`${name}: ${String(err)}`);
      }
    }
    // Only the mailbox and Stasis changes left traces; DELETE Stasis:bob emitted nothing.
    expect(fake.mailboxes().size).toBe(0);
    expect(fake.deviceStates().has('Stasis:bob')).toBe(false);
    const recorded = fake.ariRequests();
    expect(recorded.length).toBe(29);
    expect(recorded[15]).toMatchObject({ method: 'PUT', path: '/ari/mailboxes/1000@default', query: { oldMessages: '1', newMessages: '2' } });
  });

  test('unknown resources, wrong methods and a missing app on the subscription API', async () => {
    const fake = await startFake();
    expect(await ari(fake, 'GET', '/ari/nosuch')).toEqual({ status: 404, body: '{"message":"Resource not found"}' });
    expect(await ari(fake, 'POST', '/ari/deviceStates')).toEqual({ status: 405, body: '{"message":"Invalid method"}' });
    expect(await ari(fake, 'GET', '/ari/applications/nosuch')).toEqual({ status: 404, body: '{"message":"Application not found"}' });
    expect(await ari(fake, 'GET', `/ari/deviceStates/${encodeURIComponent('PJSIP/100')}`)).toEqual({ status: 200, body: '{"name":"PJSIP/100","state":"INVALID"}' });
    expect(await ari(fake, 'GET', '/ari/asterisk/info?api_key=ariuser:aripass&only=status,system')).toMatchObject({ status: 200 });
    const res = await fetch(`http://127.0.0.1:${fake.ariPort}/ari/asterisk/ping?api_key=ariuser:aripass`);
    expect(JSON.parse(await res.text())).toMatchObject({ ping: 'pong', asterisk_id: FIXTURE_EID });
  });
});

describe('ARI event websocket', () => {
  test('ws-01: subscribeAll frames for Custom:, Stasis: and MWI: changes, none for mailbox, DELETE or presence', async () => {
    const fake = await startFake();
    fake.setDeviceState('Custom:alice', 'NOT_INUSE');
    const log = await FrameLog.open(fake, 'app=x&subscribeAll=true&api_key=ariuser:aripass');
    const ami = await RawAmi.open(fake.amiPort);
    await ami.login('off');
    const amiAction = async (id: string, body: string): Promise<void> => {
      ami.send(`ActionID: ${id}\r\n${body}\r\n`);
      await ami.waitFor(`ActionID: ${id}\r\n`);
    };

    expectSameHttp(await ariRow(fake, 'ws01-a-get-application-x'), readHttpFixture('ws01-a-get-application-x'), fake.ariPort);
    fake.setDeviceState('Custom:alice', 'INUSE');
    expectSameHttp(await ariRow(fake, 'ws01-b-put-stasis-bob-busy'), readHttpFixture('ws01-b-put-stasis-bob-busy'), fake.ariPort);
    expectSameHttp(await ariRow(fake, 'ws01-c-put-mailbox'), readHttpFixture('ws01-c-put-mailbox'), fake.ariPort);
    await amiAction('t1', 'Action: MWIUpdate\r\nMailbox: 2000\r\nNewMessages: 3\r\n');
    expectSameHttp(await ariRow(fake, 'ws01-d-delete-stasis-bob'), readHttpFixture('ws01-d-delete-stasis-bob'), fake.ariPort);
    expectSameHttp(await ariRow(fake, 'ws01-e-delete-mailbox'), readHttpFixture('ws01-e-delete-mailbox'), fake.ariPort);
    await amiAction('t2', 'Action: MWIDelete\r\nMailbox: 2000\r\n');
    await amiAction('t3', 'Action: Setvar\r\nVariable: DEVICE_STATE(Custom:alice)\r\nValue: NOT_INUSE\r\n');
    await amiAction('t4', 'Action: Setvar\r\nVariable: PRESENCE_STATE(CustomPresence:alice)\r\nValue: away,lunch,back soon\r\n');
    fake.setDeviceState('Custom:sentinel', 'INUSE');

    const expected = [...recordedFrames('ws-01-subscribeall'), sentinelFrame('x', 'Custom:sentinel', 'INUSE')];
    await log.waitForCount(expected.length);
    expect(log.frames.map(normaliseFrame)).toEqual(expected);
    expect(log.closed).toBe(false);
  });

  test('ws-01: the upgrade answer is the recorded 101, byte for byte', async () => {
    const fake = await startFake();
    const key = '30/4F4fwT43E0H1xMjbGew==';
    const socket = net.connect(fake.ariPort, '127.0.0.1');
    closers.push(() => socket.destroy());
    let data = '';
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
    });
    socket.write(`GET /ari/events?app=x&subscribeAll=true&api_key=ariuser:aripass HTTP/1.1\r\nHost: 127.0.0.1:${fake.ariPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await until(() => data.includes('\r\n\r\n'), 'the 101');
    const recorded = JSON.parse(fs.readFileSync(path.join(ARI_DIR, 'ws-01-subscribeall.frames.jsonl'), 'utf8').split('\n')[0] ?? '{}') as { http_response: string };
    // Same key as the recording, so even Sec-WebSocket-Accept must match.
    expect(data).toBe(recorded.http_response);
    await until(() => fake.ariApplications().includes('x'), 'app x');
  });

  test('ws-02: the subscription API, its errors and its frames', async () => {
    const fake = await startFake();
    for (const name of ['Custom:alice', 'Custom:bob']) fake.setDeviceState(name, 'NOT_INUSE');
    const log = await FrameLog.open(fake, 'app=y&api_key=ariuser:aripass');
    const step = async (name: string): Promise<void> => {
      const actual = await ariRow(fake, name);
      try {
        expectSameHttp(actual, readHttpFixture(name), fake.ariPort);
      } catch (err) {
        throw new Error(`${name}: ${String(err)}`);
      }
    };
    await step('ws02-a-get-application-y');
    fake.setDeviceState('Custom:alice', 'INUSE');
    await step('ws02-b-post-subscription-alice');
    fake.setDeviceState('Custom:alice', 'BUSY');
    fake.setDeviceState('Custom:bob', 'INUSE');
    await step('ws02-c-get-application-y-subscribed');
    await step('ws02-d-post-subscription-all-devices');
    fake.setDeviceState('Custom:bob', 'NOT_INUSE');
    for (const name of ['ws02-e-post-subscription-bad-scheme', 'ws02-f-post-subscription-missing', 'ws02-g-post-subscription-no-app', 'ws02-h-delete-subscription-alice', 'ws02-i-delete-subscription-alice-again', 'ws02-j-get-applications']) {
      await step(name);
    }
    fake.setDeviceState('Custom:alice', 'NOT_INUSE');
    fake.setDeviceState('Custom:sentinel', 'BUSY');
    const expected = [...recordedFrames('ws-02-subscription-api'), sentinelFrame('y', 'Custom:sentinel', 'BUSY')];
    await log.waitForCount(expected.length);
    expect(log.frames.map(normaliseFrame)).toEqual(expected);
    // Without the all-devices subscription, unsubscribing a device never subscribed is 422.
    expect(await ari(fake, 'DELETE', '/ari/applications/y/subscription?eventSource=deviceState:')).toMatchObject({ status: 200 });
    expect(await ari(fake, 'DELETE', '/ari/applications/y/subscription?eventSource=deviceState:Custom:zed')).toEqual({ status: 422, body: '{"message":"Event source was not subscribed to"}' });
  });

  test('ws-03: a second connection for the same app replaces the first, which stays open', async () => {
    const fake = await startFake();
    const first = await FrameLog.open(fake, 'app=z&subscribeAll=true&api_key=ariuser:aripass');
    const second = await FrameLog.open(fake, 'app=z&subscribeAll=true', { Authorization: `Basic ${Buffer.from('ariuser:aripass').toString('base64')}` });
    await first.waitForCount(1);
    expect(first.frames.map(normaliseFrame)).toEqual(recordedFrames('ws-03a-first-connection'));
    fake.setDeviceState('Custom:alice', 'INUSE');
    await second.waitForCount(1);
    expect(second.frames.map(normaliseFrame)).toEqual([sentinelFrame('z', 'Custom:alice', 'INUSE')]);
    expect(first.frames.length).toBe(1);
    expect(first.closed).toBe(false);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    // The old connection closing does not unregister the app; the new one closing does.
    first.ws.close();
    await until(() => first.closed, 'the first websocket to close');
    expect(fake.ariApplications()).toEqual(['z']);
    second.ws.close();
    await until(() => fake.ariApplications().length === 0, 'app z to go');
  });

  test('ws-04 / ws-05: bad auth and a missing app are refused with the recorded bytes', async () => {
    const fake = await startFake();
    for (const [name, target] of [
      ['ws-04-bad-auth', '/ari/events?app=z&api_key=ariuser:wrong'],
      ['ws-05-missing-app', '/ari/events?api_key=ariuser:aripass'],
    ] as const) {
      const raw = await rawHttp(fake.ariPort, 'GET', target, null, 'Upgrade: websocket\r\nSec-WebSocket-Key: MMpH60N5JKaflopfZc8JFw==\r\nSec-WebSocket-Version: 13\r\n', 'Upgrade');
      const expected = fs.readFileSync(path.join(ARI_DIR, `${name}.rx`), 'utf8');
      const dates = /Date: [^\r]+\r\n/g;
      for (const date of raw.match(dates) ?? []) expect(date.slice(6, -2)).toMatch(DATE_FORMAT);
      expect(raw.replace(dates, 'Date: <date>\r\n')).toBe(expected.replace(dates, 'Date: <date>\r\n'));
    }
    expect(fake.ariWebsocketCount).toBe(0);
  });
});

// ---- both protocols, one state ----

describe('AMI and ARI share one state', () => {
  test('Setvar on Custom: and PUT on Stasis: reach AMI and ARI; MWI reaches only AMI (plus its MWI: device)', async () => {
    const fake = await startFake({ modules: { mwiDevstate: false } });
    const log = await FrameLog.open(fake, 'app=b&subscribeAll=true&api_key=ariuser:aripass');
    const ami = await RawAmi.open(fake.amiPort);
    await ami.login('call');
    ami.send('Action: Setvar\r\nActionID: s1\r\nVariable: DEVICE_STATE(custom:dave)\r\nValue: ringing\r\n\r\n');
    await ami.waitFor('Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: Custom:dave\r\nState: RINGING\r\n\r\n');
    await log.waitForCount(1);
    expect((await ari(fake, 'PUT', '/ari/deviceStates/Stasis:eve?deviceState=ONHOLD')).status).toBe(204);
    await ami.waitFor('Device: Stasis:eve\r\nState: ONHOLD\r\n');
    await log.waitForCount(2);
    ami.send('Action: MWIUpdate\r\nActionID: m1\r\nMailbox: 1000@default\r\nNewMessages: 4\r\nOldMessages: 2\r\n\r\n');
    await ami.waitFor('Mailbox: 1000@default\r\nWaiting: 1\r\nNew: 4\r\nOld: 2\r\n');
    expect(await ari(fake, 'GET', '/ari/mailboxes/1000@default')).toEqual({ status: 200, body: '{"name":"1000@default","old_messages":2,"new_messages":4}' });
    fake.setDeviceState('Custom:sentinel', 'INUSE');
    await log.waitForCount(3);
    expect(log.frames.map((f) => (JSON.parse(f) as { device_state: { name: string; state: string } }).device_state)).toEqual([
      { name: 'Custom:dave', state: 'RINGING' },
      { name: 'Stasis:eve', state: 'ONHOLD' },
      { name: 'Custom:sentinel', state: 'INUSE' },
    ]);
    expect(fake.deviceState('Custom:dave')).toBe('RINGING');
    expect(fake.customDevstateRaw('dave')).toBe('ringing');
  });

  test('actions() records every AMI action and ARI request; clearActions and waitFor', async () => {
    const fake = await startFake();
    const ami = await RawAmi.open(fake.amiPort);
    ami.send('action: Login\r\nUsername: admin\r\nSecret: amipass\r\nEvents: off\r\n\r\nAction: Ping\r\nActionID: p\r\n\r\n');
    await ami.waitFor('ActionID: p\r\n');
    await ari(fake, 'PUT', '/ari/deviceStates/Stasis:x?deviceState=INUSE');
    const recorded = await fake.waitFor(() => (fake.actions().length >= 3 ? fake.actions() : null), 1000, 'three actions');
    expect(recorded[0]).toMatchObject({ kind: 'ami', action: 'Login', fields: [['action', 'Login'], ['Username', 'admin'], ['Secret', 'amipass'], ['Events', 'off']] });
    expect(recorded[1]).toMatchObject({ kind: 'ami', action: 'Ping', fields: [['Action', 'Ping'], ['ActionID', 'p']] });
    expect(recorded[2]).toMatchObject({ kind: 'ari', method: 'PUT', path: '/ari/deviceStates/Stasis:x', query: { deviceState: 'INUSE' } });
    fake.clearActions();
    expect(fake.actions()).toEqual([]);
    const err = await fake.waitFor(() => false, 30, 'nothing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FakeAsteriskError);
    expect((err as FakeAsteriskError).code).toBe('FAKE_ASTERISK_TIMEOUT');
  });
});

// ---- faults ----

describe('dropConnections and restart', () => {
  test('dropConnections closes every AMI socket and ARI websocket; the listeners stay up', async () => {
    const fake = await startFake();
    const ami = await RawAmi.open(fake.amiPort);
    await ami.login('on');
    const log = await FrameLog.open(fake, 'app=d&subscribeAll=true&api_key=ariuser:aripass');
    fake.dropConnections();
    await ami.waitForEnd();
    await until(() => log.closed, 'the websocket to close');
    // Abrupt: no Shutdown event, no close frame from the server.
    expect(ami.data).not.toContain('Shutdown');
    expect(fake.ariApplications()).toEqual([]);
    const again = await RawAmi.open(fake.amiPort);
    await again.login('off');
    const log2 = await FrameLog.open(fake, 'app=d&subscribeAll=true&api_key=ariuser:aripass');
    fake.setDeviceState('Custom:alice', 'BUSY');
    await log2.waitForCount(1);
  });

  test('restart: Shutdown, refusal, boot events for a session logged in during boot, persisted state kept', async () => {
    const fake = await startFake();
    const ami = await RawAmi.open(fake.amiPort);
    await ami.login('on');
    ami.send('Action: Setvar\r\nActionID: a\r\nVariable: DEVICE_STATE(Custom:alice)\r\nValue: INUSE\r\n\r\nAction: MWIUpdate\r\nActionID: b\r\nMailbox: 1000@default\r\nNewMessages: 2\r\nOldMessages: 1\r\n\r\n');
    await ami.waitFor('ActionID: b\r\n');
    expect((await ari(fake, 'PUT', '/ari/deviceStates/Stasis:bob?deviceState=BUSY')).status).toBe(204);
    fake.setPresence('CustomPresence:alice', 'away', 'lunch', 'back soon');
    fake.setPresence('CustomPresence:carol', 'xa', 'a,b', 'c');
    fake.setDeviceState('PJSIP/100', 'INUSE');
    const log = await FrameLog.open(fake, 'app=r&subscribeAll=true&api_key=ariuser:aripass');
    const amiPort = fake.amiPort;
    const ariPort = fake.ariPort;

    const restarting = fake.restart({ downMs: 300, bootMs: 300 });
    await ami.waitForEnd();
    expect(ami.data.endsWith('Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n')).toBe(true);
    await until(() => log.closed, 'the websocket to close');
    await expect(RawAmi.connect(amiPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // Log in while it boots: the session sees the boot broadcast, not the per-session FullyBooted.
    let booting: RawAmi | null = null;
    const deadline = Date.now() + 2000;
    while (booting === null && Date.now() < deadline) {
      booting = await RawAmi.connect(amiPort).catch(() => null);
      if (booting === null) await delay(10);
    }
    if (booting === null) throw new Error('the fake never listened again');
    await booting.until((d) => d.startsWith(BANNER), 'the banner');
    await booting.login('on');
    await restarting;
    await booting.waitFor('Event: FullyBooted\r\n');
    const messages = normaliseAmi(booting.data).filter((m) => !m.startsWith('Event: SuccessfulAuth'));
    expect(messages).toEqual([
      'Response: Success\nActionID: login-x\nMessage: Authentication accepted',
      'Event: ExtensionStatus\nPrivilege: call,all\nExten: 100\nContext: default\nHint: \nStatus: 1\nStatusText: InUse',
      'Event: ExtensionStatus\nPrivilege: call,all\nExten: 101\nContext: default\nHint: \nStatus: 0\nStatusText: Idle',
      'Event: ExtensionStatus\nPrivilege: call,all\nExten: 102\nContext: default\nHint: \nStatus: 1\nStatusText: InUse',
      'Event: ExtensionStatus\nPrivilege: call,all\nExten: 200\nContext: default\nHint: \nStatus: 1\nStatusText: InUse',
      'Event: FullyBooted\nPrivilege: system,all\nStatus: Fully Booted\nUptime: <varies>\nLastReload: <varies>',
    ]);
    expect(booting.data).toContain('Uptime: 0\r\nLastReload: 0\r\n');
    expect(fake.amiPort).toBe(amiPort);
    expect(fake.ariPort).toBe(ariPort);

    // Persisted: astdb Custom:, Stasis:, mailboxes, presence. Cleared: PJSIP/100.
    expect(fake.deviceState('Custom:alice')).toBe('INUSE');
    expect(fake.deviceState('Stasis:bob')).toBe('BUSY');
    expect(fake.deviceState('PJSIP/100')).toBe('INVALID');
    expect(fake.deviceStates()).toEqual(new Map([['Custom:alice', 'INUSE'], ['Stasis:bob', 'BUSY'], ['MWI:1000@default', 'INUSE']]));
    expect(fake.mailboxes()).toEqual(new Map([['1000@default', { new: 2, old: 1 }]]));
    expect(fake.presence('CustomPresence:alice')).toEqual({ state: 'away', subtype: 'lunch', message: 'back soon' });
    expect(fake.presence('CustomPresence:carol')).toEqual({ state: 'xa', subtype: 'a,b', message: 'c' });
    expect(await ari(fake, 'GET', '/ari/deviceStates')).toEqual({ status: 200, body: '[{"name":"Stasis:bob","state":"BUSY"}]' });
    expect(await ari(fake, 'GET', '/ari/applications')).toEqual({ status: 200, body: '[]' });

    // A session opened after the boot gets the per-session FullyBooted again.
    const after = await RawAmi.open(amiPort);
    await after.login('on');
    await after.waitFor('Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: ');
  });

  test('stop sends Shutdown (Restart: False) and closes everything; stop twice is fine', async () => {
    const fake = await FakeAsterisk.start({ eid: '02:00:00:00:00:09' });
    fakes.push(fake);
    const ami = await RawAmi.open(fake.amiPort);
    await ami.login();
    await fake.stop();
    await ami.waitForEnd();
    expect(ami.data).toContain('Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n');
    await fake.stop();
    await expect(RawAmi.connect(fake.amiPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(fake.restart()).rejects.toMatchObject({ code: 'FAKE_ASTERISK_STOPPED' });
  });
});
