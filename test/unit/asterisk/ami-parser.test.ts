// Goal: the AMI framing (src/asterisk/ami/ami-parser.ts, res-corosync.md §2.1,
// asterisk-groundtruth.md §2) reads every real Asterisk 20 transcript in
// /work/shared/fixtures/asterisk (*.rx: the exact server bytes) the same way whatever the
// socket chunking, agrees with an independent split-on-blank-line oracle, keeps repeated
// headers, colons in values and header case, skips colon-less lines as Asterisk does,
// enforces its limits, and that formatAmiAction writes the transcripts' exact action
// bytes while refusing header injection.

import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Prng } from '../../../src/base/prng';
import { AmiMessage } from '../../../src/asterisk/ami/ami-message';
import {
  AMI_ACTION_LINE_BYTES_MAX,
  AmiFormatError,
  AmiFormatErrorCode,
  AmiParser,
  type AmiParserItem,
  type AmiParserOptions,
  formatAmiAction,
  parseAmiBanner,
} from '../../../src/asterisk/ami/ami-parser';

const fixtures = '/work/shared/fixtures/asterisk';
const amiDir = path.join(fixtures, 'ami');
const clusterAmiDir = path.join(fixtures, 'cluster', 'ami');

function listFiles(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(full, suffix);
    return entry.name.endsWith(suffix) ? [full] : [];
  }).sort();
}

const rxFiles = [...listFiles(amiDir, '.rx'), ...listFiles(clusterAmiDir, '.rx')];

function read(name: string): Buffer {
  return fs.readFileSync(path.join(amiDir, name));
}

function parseWhole(bytes: Uint8Array, options?: AmiParserOptions): { items: AmiParserItem[]; parser: AmiParser } {
  const parser = new AmiParser(options);
  return { items: parser.push(bytes), parser };
}

/** Feeds the bytes in chunks whose sizes come from `sizes` (cycled). */
function parseChunked(bytes: Uint8Array, nextSize: () => number, options?: AmiParserOptions): { items: AmiParserItem[]; parser: AmiParser } {
  const parser = new AmiParser(options);
  const items: AmiParserItem[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = Math.max(1, nextSize());
    // Copy each chunk so that a parser keeping references into a reused buffer would fail.
    const chunk = Uint8Array.from(bytes.subarray(at, at + size));
    items.push(...parser.push(chunk));
    chunk.fill(0);
    at += size;
  }
  return { items, parser };
}

function messages(items: readonly AmiParserItem[]): AmiMessage[] {
  return items.flatMap((item) => (item.kind === 'message' ? [item.message] : []));
}

function plain(items: readonly AmiParserItem[]): unknown[] {
  return items.map((item) => (item.kind === 'message' ? { kind: 'message', headers: item.message.headers } : item));
}

/** Independent oracle for CRLF-only streams: banner line, then blocks split on CRLF CRLF. */
function oracle(text: string): { banner: string; blocks: Array<Array<[string, string]>> } {
  const bannerEnd = text.indexOf('\r\n');
  const banner = text.slice(0, bannerEnd);
  const rest = text.slice(bannerEnd + 2);
  const parts = rest.split('\r\n\r\n');
  parts.pop(); // whatever follows the last empty line is unfinished (or '')
  const blocks = parts.map((part) => part.split('\r\n').map((line): [string, string] => {
    const colon = line.indexOf(':');
    const value = line.slice(colon + 1);
    return [line.slice(0, colon), value.startsWith(' ') ? value.slice(1) : value];
  }));
  return { banner, blocks };
}

function findMessage(list: readonly AmiMessage[], predicate: (message: AmiMessage) => boolean): AmiMessage {
  const found = list.find(predicate);
  if (found === undefined) throw new Error('message not found');
  return found;
}

const byActionId = (id: string) => (message: AmiMessage): boolean => message.actionId === id;

describe('AmiParser on the real transcripts', () => {
  test('the fixtures are there (both the single-instance and the cluster sessions)', () => {
    expect(listFiles(amiDir, '.rx').length).toBeGreaterThanOrEqual(17);
    expect(listFiles(clusterAmiDir, '.rx').length).toBeGreaterThanOrEqual(30);
  });

  test.each(rxFiles.map((file) => [path.relative(fixtures, file), file]))('%s: same result for whole, byte-wise, CR|LF-split and random chunks; matches the oracle', (_name, file) => {
    const bytes = fs.readFileSync(file);
    const whole = parseWhole(bytes);
    const first = whole.items[0];
    expect(first?.kind).toBe('banner');
    expect(first).toEqual({ kind: 'banner', line: 'Asterisk Call Manager/9.0.0', truncated: false });
    expect(whole.parser.stats()).toMatchObject({ malformedLines: 0, oversizeLines: 0, oversizeMessages: 0 });

    const expected = oracle(bytes.toString('utf8'));
    const got = messages(whole.items);
    expect(got.length).toBe(expected.blocks.length);
    expect(got.length).toBeGreaterThan(0);
    expect(got.map((message) => message.headers)).toEqual(expected.blocks);

    const variants: Array<() => number> = [() => 1, () => 2, () => 3];
    // Split every CRLF between its CR and its LF.
    const crlfCuts: number[] = [];
    for (let i = 0; i < bytes.length; i += 1) if (bytes[i] === 0x0d) crlfCuts.push(i + 1);
    let previousCut = 0;
    let cutIndex = 0;
    variants.push(() => {
      const cut = crlfCuts[cutIndex] ?? bytes.length;
      cutIndex += 1;
      const size = cut - previousCut;
      previousCut = cut;
      return size;
    });
    for (let seed = 1; seed <= 8; seed += 1) {
      const prng = new Prng(seed * 7919);
      variants.push(() => prng.range(1, seed <= 4 ? 16 : 700));
    }
    for (const nextSize of variants) {
      const chunked = parseChunked(bytes, nextSize);
      expect(plain(chunked.items)).toEqual(plain(whole.items));
      expect(chunked.parser.stats()).toEqual(whole.parser.stats());
    }
  });

  test('01: login reply, the per-session FullyBooted header order, SuccessfulAuth, Goodbye', () => {
    const list = messages(parseWhole(read('01-login-success-events-default.rx')).items);
    expect(list.map((message) => message.event ?? `Response:${message.response ?? ''}`)).toEqual([
      'Response:Success', 'FullyBooted', 'SuccessfulAuth', 'Response:Goodbye',
    ]);
    const [login, booted, auth, goodbye] = list;
    expect(login?.isResponse()).toBe(true);
    expect(login?.isEvent()).toBe(false);
    expect(login?.message).toBe('Authentication accepted');
    expect(login?.actionId).toBe('login-1');
    expect(booted?.isEvent()).toBe(true);
    expect(booted?.headers.map(([name]) => name)).toEqual(['Event', 'Privilege', 'Uptime', 'LastReload', 'Status']);
    expect(booted?.get('status')).toBe('Fully Booted');
    // Values with colons: the timestamps and addresses.
    expect(auth?.get('EventTV')).toBe('2026-11-21T20:20:18.462+0000');
    expect(auth?.get('LocalAddress')).toBe('IPV4/TCP/127.0.0.1/5038');
    expect(goodbye?.message).toBe('Thanks for all the fish.');
  });

  test('03: a failed login is one Error response after the banner', () => {
    const { items } = parseWhole(read('03-login-failure.rx'));
    expect(items).toHaveLength(2);
    const [reply] = messages(items);
    expect(reply?.response).toBe('Error');
    expect(reply?.message).toBe('Authentication failed');
  });

  test('07: DeviceStateList response, three list items with the ActionID and no Privilege, then the Complete event', () => {
    const list = messages(parseWhole(read('07-devicestatelist.rx')).items).filter(byActionId('dsl-1'));
    expect(list).toHaveLength(5);
    const [response, ...rest] = list;
    expect(response?.response).toBe('Success');
    expect(response?.get('EventList')).toBe('start');
    expect(response?.message).toBe('Device State Changes will follow');
    const items = rest.slice(0, 3);
    expect(items.map((item) => [item.event, item.get('Device'), item.get('State'), item.has('Privilege')])).toEqual([
      ['DeviceStateChange', 'Custom:bob', 'NOT_INUSE', false],
      ['DeviceStateChange', 'Custom:carol', 'NOT_INUSE', false],
      ['DeviceStateChange', 'Custom:alice', 'NOT_INUSE', false],
    ]);
    const complete = rest[3];
    expect(complete?.event).toBe('DeviceStateListComplete');
    expect(complete?.get('eventlist')).toBe('Complete');
    expect(complete?.get('ListItems')).toBe('3');
  });

  test('09: an MWIGet item carries its ActionID last and is still found by it', () => {
    const list = messages(parseWhole(read('09-mwi.rx')).items);
    const item = findMessage(list, (message) => message.event === 'MWIGet' && message.actionId === 'mg-1');
    expect(item.headers.at(-1)).toEqual(['ActionID', 'mg-1']);
    expect(item.get('NewMessages')).toBe('2');
  });

  test('16: a Command reply keeps every Output line in order, empty ones and indentation included', () => {
    const list = messages(parseWhole(read('16-command-challenge-modulecheck.rx')).items);
    const version = findMessage(list, byActionId('cmd-1'));
    expect(version.getAll('Output')).toEqual(['Asterisk GIT-20-01f26c412 built by root @ vm on a x86_64 running Linux on 2026-11-21 20:16:30 UTC']);
    const devstates = findMessage(list, byActionId('cmd-2'));
    const output = devstates.getAll('output');
    expect(output).toHaveLength(14);
    expect(output[0]).toBe('');
    expect(output[13]).toBe('');
    expect(output[5]).toBe("--- Name: 'Custom:alice'  State: 'NOT_INUSE'");
    expect(devstates.get('Output')).toBe('');
    expect(devstates.headers.filter(([name]) => name === 'Output')).toHaveLength(14);
    const unknown = findMessage(list, byActionId('cmd-3'));
    expect(unknown.response).toBe('Error');
    expect(unknown.message).toBe('Command output follows');
    // An empty value: `Version: ` of a loaded module.
    expect(findMessage(list, byActionId('mod-2')).get('Version')).toBe('');
  });

  test('12: Error messages whose values contain colons', () => {
    const list = messages(parseWhole(read('12-unknown-and-malformed.rx')).items);
    expect(findMessage(list, byActionId('u-1')).message).toBe('Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands.');
    expect(findMessage(list, byActionId('m-2')).message).toBe('Missing action in request');
  });

  test("12's client bytes: the colon-less line is skipped and counted, bare LF and lowercase names are read", () => {
    const { items, parser } = parseWhole(read('12-unknown-and-malformed.tx'), { expectBanner: false });
    const list = messages(items);
    expect(list.map((message) => message.actionId)).toEqual(['login-1', 'u-1', 'u-2', 'u-3', 'm-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'logoff-1']);
    expect(parser.stats().malformedLines).toBe(1);
    expect(findMessage(list, byActionId('m-1')).has('Action')).toBe(false);
    expect(findMessage(list, byActionId('m-2')).get('Action')).toBe('');
    expect(findMessage(list, byActionId('m-3')).headers).toEqual([['Action', 'Ping'], ['ActionID', 'm-3']]);
    expect(findMessage(list, byActionId('m-4')).headers).toEqual([['Action', 'Ping'], ['ActionID', 'm-4']]);
    const lower = findMessage(list, byActionId('m-5'));
    expect(lower.headers).toEqual([['action', 'ping'], ['actionid', 'm-5']]);
    expect(lower.get('ACTION')).toBe('ping');
  });
});

describe('AmiParser framing details', () => {
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

  test('the banner is one line with no empty line after it; stray empty lines between messages are ignored', () => {
    const parser = new AmiParser();
    const items = parser.push(encode('Asterisk Call Manager/13.0.0\r\nResponse: Success\r\n\r\n\r\n\n\r\nEvent: X\r\n\r\n'));
    expect(plain(items)).toEqual([
      { kind: 'banner', line: 'Asterisk Call Manager/13.0.0', truncated: false },
      { kind: 'message', headers: [['Response', 'Success']] },
      { kind: 'message', headers: [['Event', 'X']] },
    ]);
    expect(parser.stats().messages).toBe(2);
  });

  test('one space after the colon is framing; further spaces, trailing spaces and colons are content', () => {
    const [message] = messages(new AmiParser({ expectBanner: false }).push(encode('Output:    indented  \r\nA:no-space\r\nB: x: y :z\r\nName With Space : v\r\n\r\n')));
    expect(message?.headers).toEqual([['Output', '   indented  '], ['A', 'no-space'], ['B', 'x: y :z'], ['Name With Space', 'v']]);
  });

  test('a line starting with a colon has no name: skipped and counted like a colon-less line', () => {
    const parser = new AmiParser({ expectBanner: false });
    const list = messages(parser.push(encode(': orphan\r\nno colon here\r\nEvent: E\r\n\r\nonly garbage\r\n\r\n')));
    expect(list.map((message) => message.headers)).toEqual([[['Event', 'E']]]);
    expect(parser.stats().malformedLines).toBe(3);
  });

  test('bytes are decoded as UTF-8; invalid sequences (latin-1) become U+FFFD instead of failing', () => {
    const bytes = Uint8Array.from([...encode('Event: E\r\nCallerIDName: Jos'), 0xe9, ...encode('\r\nUtf8: Jos\u00e9\r\n\r\n')]);
    const [message] = messages(new AmiParser({ expectBanner: false }).push(bytes));
    expect(message?.get('CallerIDName')).toBe('Jos\ufffd');
    expect(message?.get('Utf8')).toBe('Jos\u00e9');
  });

  test('a UTF-8 character split across chunks is decoded whole', () => {
    const parser = new AmiParser({ expectBanner: false });
    const bytes = encode('Event: \u00e9t\u00e9\r\n\r\n');
    const items = [...parser.push(bytes.subarray(0, 8)), ...parser.push(bytes.subarray(8))];
    expect(messages(items)[0]?.get('Event')).toBe('\u00e9t\u00e9');
  });

  test('get is case-insensitive and returns the first value; getAll keeps order; headers keep names as sent', () => {
    const message = new AmiMessage([['Event', 'E'], ['output', 'a'], ['OUTPUT', 'b'], ['Output', 'c']]);
    expect(message.get('Output')).toBe('a');
    expect(message.getAll('output')).toEqual(['a', 'b', 'c']);
    expect(message.getAll('missing')).toEqual([]);
    expect(message.get('missing')).toBeUndefined();
    expect(message.headers.map(([name]) => name)).toEqual(['Event', 'output', 'OUTPUT', 'Output']);
    expect(message.isEvent()).toBe(true);
    expect(message.isResponse()).toBe(false);
    expect(message.toString()).toBe('Event: E\r\noutput: a\r\nOUTPUT: b\r\nOutput: c\r\n\r\n');
  });

  test('reset() drops an unfinished message and expects a new banner; counters stay', () => {
    const parser = new AmiParser();
    parser.push(encode('Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nbroken\r\nActionID: x'));
    expect(parser.bufferedHeaders()).toBe(1);
    expect(parser.bufferedLineBytes()).toBeGreaterThan(0);
    parser.reset();
    expect(parser.bufferedHeaders()).toBe(0);
    expect(parser.bufferedLineBytes()).toBe(0);
    const items = parser.push(encode('Asterisk Call Manager/9.0.0\r\nEvent: E\r\n\r\n'));
    expect(plain(items)).toEqual([
      { kind: 'banner', line: 'Asterisk Call Manager/9.0.0', truncated: false },
      { kind: 'message', headers: [['Event', 'E']] },
    ]);
    expect(parser.stats().malformedLines).toBe(1);
  });
});

describe('AmiParser limits', () => {
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  const limits = { expectBanner: false, lineBytesMax: 64, messageBytesMax: 256, headersMax: 5 } as const;

  test('an overlong line discards its whole message up to the empty line; the next message is intact', () => {
    const text = `Event: Before\r\n\r\nEvent: Big\r\nData: ${'x'.repeat(200)}\r\nAfter: 1\r\n\r\nEvent: Next\r\n\r\n`;
    for (const chunkSize of [1, 7, 64, 65, 66, 1000]) {
      const parser = new AmiParser(limits);
      const bytes = encode(text);
      const items: AmiParserItem[] = [];
      for (let at = 0; at < bytes.length; at += chunkSize) {
        items.push(...parser.push(bytes.subarray(at, at + chunkSize)));
        expect(parser.bufferedLineBytes()).toBeLessThanOrEqual(limits.lineBytesMax + 1);
      }
      expect(plain(items)).toEqual([
        { kind: 'message', headers: [['Event', 'Before']] },
        { kind: 'discarded', reason: 'line-too-long', bytes: 12 + 208 + 10 + 2 },
        { kind: 'message', headers: [['Event', 'Next']] },
      ]);
      expect(parser.stats()).toMatchObject({ messages: 2, oversizeLines: 1, oversizeMessages: 1 });
    }
  });

  test('a line of exactly lineBytesMax bytes is accepted, with CRLF or LF', () => {
    const value = 'v'.repeat(64 - 'Data: '.length);
    const parser = new AmiParser(limits);
    const list = messages(parser.push(encode(`Data: ${value}\r\n\r\nData: ${value}\n\n`)));
    expect(list.map((message) => message.get('Data'))).toEqual([value, value]);
    expect(parser.stats().oversizeLines).toBe(0);
  });

  test('too many headers or too many bytes discard the message and hold nothing more', () => {
    const parser = new AmiParser(limits);
    const many = Array.from({ length: 9 }, (_, i) => `H${i}: ${i}\r\n`).join('');
    const big = Array.from({ length: 9 }, (_, i) => `Line${i}: ${'y'.repeat(40)}\r\n`).join('');
    const items = parser.push(encode(`${many}\r\nnocolon${'z'.repeat(40)}\r\n`.repeat(1) + `${big}\r\nEvent: Ok\r\n\r\n`));
    expect(items.map((item) => (item.kind === 'discarded' ? item.reason : item.kind))).toEqual(['too-many-headers', 'message-too-large', 'message']);
    expect(parser.stats().oversizeMessages).toBe(2);
  });

  test('a stream with no line end never holds more than lineBytesMax + 1 bytes', () => {
    const parser = new AmiParser(limits);
    for (let i = 0; i < 1000; i += 1) {
      expect(parser.push(encode('garbage without end '))).toEqual([]);
      expect(parser.bufferedLineBytes()).toBeLessThanOrEqual(limits.lineBytesMax + 1);
    }
    expect(parser.stats().oversizeLines).toBe(1);
    expect(plain(parser.push(encode('\r\n\r\nEvent: Ok\r\n\r\n')))).toEqual([
      { kind: 'discarded', reason: 'line-too-long', bytes: 20 * 1000 + 2 + 2 },
      { kind: 'message', headers: [['Event', 'Ok']] },
    ]);
  });

  test('an overlong banner is reported truncated and its rest skipped; the stream goes on', () => {
    const parser = new AmiParser({ lineBytesMax: 32 });
    const items = parser.push(encode(`${'B'.repeat(100)}\r\nEvent: E\r\n\r\n`));
    expect(plain(items)).toEqual([
      { kind: 'banner', line: 'B'.repeat(32), truncated: true },
      { kind: 'message', headers: [['Event', 'E']] },
    ]);
  });

  test('invalid limits are programmer errors', () => {
    expect(() => new AmiParser({ lineBytesMax: 0 })).toThrow(RangeError);
    expect(() => new AmiParser({ headersMax: 1.5 })).toThrow(RangeError);
  });
});

describe('parseAmiBanner', () => {
  test('AMI banners of branch 20 and master; anything else is not AMI', () => {
    expect(parseAmiBanner('Asterisk Call Manager/9.0.0')).toEqual({ product: 'Asterisk Call Manager', version: '9.0.0' });
    expect(parseAmiBanner('Asterisk Call Manager/13.0.0')).toEqual({ product: 'Asterisk Call Manager', version: '13.0.0' });
    expect(parseAmiBanner('HTTP/1.1 400 Bad Request')).toBeNull();
    expect(parseAmiBanner('SSH-2.0-OpenSSH_9.2p1')).toBeNull();
    expect(parseAmiBanner('Asterisk Call Manager/')).toBeNull();
    expect(parseAmiBanner('')).toBeNull();
  });
});

describe('formatAmiAction', () => {
  test("writes the transcripts' exact action bytes", () => {
    const tx07 = read('07-devicestatelist.tx').toString('utf8');
    expect(tx07).toContain(formatAmiAction('DeviceStateList', [], 'dsl-1'));
    const tx16 = read('16-command-challenge-modulecheck.tx').toString('utf8');
    expect(tx16).toContain(formatAmiAction('Command', [['Command', 'devstate list']], 'cmd-2'));
    expect(tx16).toContain(formatAmiAction('Challenge', [['AuthType', 'MD5']], 'ch-1'));
    const tx03 = read('03-login-failure.tx').toString('utf8');
    expect(formatAmiAction('Login', [['Username', 'admin'], ['Secret', 'wrongpass'], ['Events', 'off']], 'login-1')).toBe(tx03);
  });

  test('the output parses back to the same headers', () => {
    const fields: Array<[string, string]> = [['Variable', 'DEVICE_STATE(Custom:alice)'], ['Value', 'INUSE'], ['Empty', ''], ['Colon', 'a: b']];
    const [message] = messages(new AmiParser({ expectBanner: false }).push(new TextEncoder().encode(formatAmiAction('Setvar', fields, 'id-1'))));
    expect(message?.headers).toEqual([['Action', 'Setvar'], ['ActionID', 'id-1'], ...fields]);
  });

  const refusal = (run: () => unknown): { code: string; header: string } => {
    try {
      run();
    } catch (e) {
      if (e instanceof AmiFormatError) return { code: e.code, header: e.header };
      throw e;
    }
    throw new Error('formatAmiAction accepted it');
  };

  test('refuses CR, LF or NUL in values, names, the action and the ActionID (header injection)', () => {
    expect(refusal(() => formatAmiAction('Setvar', [['Value', 'INUSE\r\nAction: Logoff']], 'x'))).toEqual({ code: AmiFormatErrorCode.headerInjection, header: 'Value' });
    expect(refusal(() => formatAmiAction('Setvar', [['Value', 'a\nb']], 'x')).code).toBe('AMI_HEADER_INJECTION');
    expect(refusal(() => formatAmiAction('Setvar', [['Value', 'a\rb']], 'x')).code).toBe('AMI_HEADER_INJECTION');
    expect(refusal(() => formatAmiAction('Setvar', [['Value', 'a\0b']], 'x')).code).toBe('AMI_HEADER_INJECTION');
    expect(refusal(() => formatAmiAction('Setvar', [['Va\r\nlue', 'a']], 'x')).code).toBe('AMI_HEADER_INJECTION');
    expect(refusal(() => formatAmiAction('Ping\r\nAction: Logoff', [], 'x'))).toEqual({ code: 'AMI_HEADER_INJECTION', header: 'Action' });
    expect(refusal(() => formatAmiAction('Ping', [], 'x\r\ny'))).toEqual({ code: 'AMI_HEADER_INJECTION', header: 'ActionID' });
  });

  test('refuses bad or reserved header names and lines Asterisk cannot read', () => {
    expect(refusal(() => formatAmiAction('Ping', [['Bad: name', 'v']], 'x')).code).toBe('AMI_BAD_HEADER_NAME');
    expect(refusal(() => formatAmiAction('Ping', [['', 'v']], 'x')).code).toBe('AMI_BAD_HEADER_NAME');
    expect(refusal(() => formatAmiAction('Ping', [['Two words', 'v']], 'x')).code).toBe('AMI_BAD_HEADER_NAME');
    expect(refusal(() => formatAmiAction('', [], 'x')).code).toBe('AMI_BAD_HEADER_NAME');
    expect(refusal(() => formatAmiAction('Ping', [], '')).code).toBe('AMI_BAD_HEADER_NAME');
    expect(refusal(() => formatAmiAction('Ping', [['actionid', 'mine']], 'x'))).toEqual({ code: 'AMI_RESERVED_HEADER', header: 'actionid' });
    expect(refusal(() => formatAmiAction('Ping', [['Action', 'Logoff']], 'x')).code).toBe('AMI_RESERVED_HEADER');
    const fits = 'v'.repeat(AMI_ACTION_LINE_BYTES_MAX - 'Value: \r\n'.length);
    expect(formatAmiAction('Setvar', [['Value', fits]], 'x')).toContain(fits);
    expect(refusal(() => formatAmiAction('Setvar', [['Value', `${fits}v`]], 'x'))).toEqual({ code: 'AMI_LINE_TOO_LONG', header: 'Value' });
    // Bytes, not characters: é is two bytes.
    expect(refusal(() => formatAmiAction('Setvar', [['Value', `${fits.slice(1)}\u00e9`]], 'x')).code).toBe('AMI_LINE_TOO_LONG');
  });
});
