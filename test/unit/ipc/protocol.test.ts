// Goal: the IPC protocol parser (src/ipc/protocol.ts) accepts exactly the version-1
// requests, answers every malformed line with exactly one typed error (IPC_PARSE,
// IPC_BAD_REQUEST, IPC_UNKNOWN_METHOD, IPC_BAD_PARAMS, IPC_VERSION) carrying the
// request id when the line had a valid one, never throws, and that the encoders and
// the client-side parser agree.
// Method: example tables per error code, then fast-check properties over random
// strings, random JSON values and mutated valid requests.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  IpcErrorCode,
  IpcMethods,
  bytesToHex,
  encodeError,
  encodeNotify,
  encodeRequest,
  encodeResult,
  hexToBytes,
  parseRequestLine,
  parseServerLine,
} from '../../../src/ipc/protocol';

const requestErrorCodes = new Set<string>([IpcErrorCode.parse, IpcErrorCode.badRequest, IpcErrorCode.unknownMethod, IpcErrorCode.badParams, IpcErrorCode.version]);

function errorOf(line: string): { id: number | null; code: string; message: string } {
  const result = parseRequestLine(line);
  if (result.ok) throw new Error(`expected an error for ${line}`);
  return result.error;
}

describe('parseRequestLine: valid requests', () => {
  it.each([
    [{ id: 1, method: 'hello', params: { version: 1 } }, { version: 1 }],
    [{ id: 2, method: 'hello', params: { version: 1, client: 'carillon-cli' } }, { version: 1, client: 'carillon-cli' }],
    [{ id: 3, method: 'status' }, {}],
    [{ id: 4, method: 'status', params: {} }, {}],
    [{ id: 5, method: 'totem.submit', params: { payloadHex: '00ffAB' } }, { payloadHex: '00ffAB' }],
    [{ id: 6, method: 'totem.subscribe' }, {}],
    [{ id: 7, method: 'totem.unsubscribe' }, {}],
    [{ id: 8, method: 'reload' }, {}],
    [{ id: 0, method: 'ping' }, {}],
  ])('%j', (request, params) => {
    const result = parseRequestLine(JSON.stringify(request));
    expect(result).toEqual({ ok: true, value: { id: request.id, method: request.method, params } });
  });

  it('knows every method in IpcMethods', () => {
    const needsParams: Record<string, object> = {
      hello: { version: 1 },
      'totem.submit': { payloadHex: '00' },
      'cpg.join': { handle: 1, group: 'g' },
      'cpg.leave': { handle: 1, group: 'g' },
      'cpg.mcast': { handle: 1, group: 'g', payloadHex: '' },
      'cpg.finalize': { handle: 1 },
      'cpg.membership': { group: 'g' },
      'quorum.setExpected': { votes: 3 },
      'quorum.setVotes': { nodeId: 1, votes: 1 },
      'cmap.get': { key: 'totem.token' },
      'cmap.set': { key: 'test.key', type: 'uint64', value: '18446744073709551615' },
      'cmap.delete': { key: 'test.key' },
      'cmap.track': { key: 'runtime.members.', prefix: true, add: true },
      'cmap.untrack': { trackId: 1 },
      'sam.register': { name: 'app', pid: 1234, heartbeatIntervalMs: 1000, recovery: 'quit' },
      'sam.heartbeat': { name: 'app' },
      'sam.unregister': { name: 'app' },
      'amf.start': { name: 'asterisk' },
      'amf.stop': { name: 'asterisk' },
    };
    for (const method of Object.values(IpcMethods)) {
      expect(parseRequestLine(JSON.stringify({ id: 1, method, params: needsParams[method] ?? {} })).ok).toBe(true);
    }
  });
});

describe('parseRequestLine: one typed error per malformed line', () => {
  it.each([
    ['', IpcErrorCode.parse, null],
    ['{', IpcErrorCode.parse, null],
    ['{"id":1,"method":"ping"} x', IpcErrorCode.parse, null],
    ["{'id':1}", IpcErrorCode.parse, null],
    ['[1,2]', IpcErrorCode.badRequest, null],
    ['null', IpcErrorCode.badRequest, null],
    ['"hello"', IpcErrorCode.badRequest, null],
    ['{"method":"ping"}', IpcErrorCode.badRequest, null],
    ['{"id":"1","method":"ping"}', IpcErrorCode.badRequest, null],
    ['{"id":-1,"method":"ping"}', IpcErrorCode.badRequest, null],
    ['{"id":1.5,"method":"ping"}', IpcErrorCode.badRequest, null],
    ['{"id":9007199254740993,"method":"ping"}', IpcErrorCode.badRequest, null],
    ['{"id":7}', IpcErrorCode.badRequest, 7],
    ['{"id":7,"method":5}', IpcErrorCode.badRequest, 7],
    ['{"id":7,"method":"ping","jsonrpc":"2.0"}', IpcErrorCode.badRequest, 7],
    ['{"id":7,"method":"shutdown"}', IpcErrorCode.unknownMethod, 7],
    ['{"id":7,"method":"notify"}', IpcErrorCode.unknownMethod, 7],
    ['{"id":7,"method":"toString"}', IpcErrorCode.unknownMethod, 7],
    ['{"id":7,"method":"__proto__"}', IpcErrorCode.unknownMethod, 7],
    ['{"id":7,"method":"ping","params":[]}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"ping","params":null}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"ping","params":{"x":1}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"hello"}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"hello","params":{"version":"1"}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"hello","params":{"version":1,"client":5}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"hello","params":{"version":1,"extra":true}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"hello","params":{"version":2}}', IpcErrorCode.version, 7],
    ['{"id":7,"method":"hello","params":{"version":0}}', IpcErrorCode.version, 7],
    ['{"id":7,"method":"totem.submit"}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"totem.submit","params":{"payloadHex":""}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"totem.submit","params":{"payloadHex":"abc"}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"totem.submit","params":{"payloadHex":"zz"}}', IpcErrorCode.badParams, 7],
    ['{"id":7,"method":"totem.submit","params":{"payloadHex":[1]}}', IpcErrorCode.badParams, 7],
  ])('%s → %s (id %s)', (line, code, id) => {
    const error = errorOf(line);
    expect(error.code).toBe(code);
    expect(error.id).toBe(id);
    expect(error.message.length).toBeGreaterThan(0);
  });

  it('names the offending member, method or version in the message', () => {
    expect(errorOf('{"id":1,"method":"ping","jsonrpc":"2.0"}').message).toContain('"jsonrpc"');
    expect(errorOf('{"id":1,"method":"shutdown"}').message).toContain('"shutdown"');
    expect(errorOf('{"id":1,"method":"status","params":{"verbose":true}}').message).toContain('"verbose"');
    expect(errorOf('{"id":1,"method":"hello","params":{"version":2}}').message).toMatch(/version 2 .*speaks version 1/);
  });

  it('quotes at most a bounded part of hostile input, and never stringifies deep values', () => {
    const long = 'x'.repeat(10_000);
    expect(errorOf(JSON.stringify({ id: 1, method: long })).message.length).toBeLessThan(200);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const error = errorOf(`{"id":${deep},"method":"ping"}`);
    expect(error.code).toBe(IpcErrorCode.badRequest);
  });
});

describe('parseRequestLine: properties', () => {
  const checkError = (line: string): void => {
    const result = parseRequestLine(line);
    if (result.ok) return;
    expect(requestErrorCodes.has(result.error.code)).toBe(true);
    expect(result.error.id === null || Number.isSafeInteger(result.error.id)).toBe(true);
    expect(typeof result.error.message).toBe('string');
  };

  it('never throws on random strings; a malformed one gets exactly one typed error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), checkError), { numRuns: 1000 });
  });

  it('never throws on random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => checkError(JSON.stringify(value))), { numRuns: 1000 });
  });

  it('classifies mutated requests: valid ones parse to themselves, the rest get one error with their id', () => {
    const methods = [...Object.values(IpcMethods), 'notify', 'bogus'];
    const request = fc.record(
      {
        id: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        method: fc.oneof(fc.constantFrom(...methods), fc.string()),
        params: fc.oneof(
          fc.constant({}),
          fc.record({ version: fc.oneof(fc.constant(1), fc.integer(), fc.string()) }, { requiredKeys: [] }),
          fc.record({ payloadHex: fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{0,8}$/), fc.string()) }),
          fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(request, (generated) => {
        // What the server sees is the JSON round trip (-0 arrives as 0).
        const line = JSON.stringify(generated);
        const value = JSON.parse(line) as typeof generated;
        const result = parseRequestLine(line);
        if (result.ok) {
          expect(value.extra).toBeUndefined();
          expect(result.value.id).toBe(value.id);
          expect(result.value.method).toBe(value.method);
          return;
        }
        expect(requestErrorCodes.has(result.error.code)).toBe(true);
        const validId = typeof value.id === 'number' && Number.isSafeInteger(value.id) && value.id >= 0;
        expect(result.error.id).toBe(validId ? value.id : null);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('encoders and parseServerLine', () => {
  it('round-trips results, errors and pushes, one line each', () => {
    const result = encodeResult(3, 'ping', { pong: true });
    const error = encodeError(null, IpcErrorCode.slowConsumer, 'too slow');
    const push = encodeNotify('totem', { kind: 'deliver', ringId: { rep: 1, seq: '5' }, seq: 2, sender: 1, payloadHex: '00' });
    for (const line of [result, error, push]) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
    }
    expect(parseServerLine(result)).toEqual({ ok: true, value: { kind: 'result', id: 3, result: { pong: true } } });
    expect(parseServerLine(error)).toEqual({ ok: true, value: { kind: 'error', id: null, error: { code: 'IPC_SLOW_CONSUMER', message: 'too slow' } } });
    expect(parseServerLine(push)).toEqual({
      ok: true,
      value: { kind: 'notify', topic: 'totem', event: { kind: 'deliver', ringId: { rep: 1, seq: '5' }, seq: 2, sender: 1, payloadHex: '00' } },
    });
    expect(parseRequestLine(encodeRequest(9, 'totem.submit', { payloadHex: 'abcd' }).trimEnd())).toEqual({
      ok: true,
      value: { id: 9, method: 'totem.submit', params: { payloadHex: 'abcd' } },
    });
    expect(JSON.parse(encodeRequest(1, 'status'))).toEqual({ id: 1, method: 'status' });
  });

  it.each(['nope', '[]', '{}', '{"id":1}', '{"id":"x","result":1}', '{"id":1,"error":{"code":1}}', '{"method":"notify","params":{}}'])(
    'rejects the server line %s with a message',
    (line) => {
      const parsed = parseServerLine(line);
      expect(parsed.ok).toBe(false);
    },
  );

  it('never throws on random server lines', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v))), (line) => {
        expect(() => parseServerLine(line)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('hex payloads', () => {
  it('round-trips bytes and rejects what payloadHex rejects', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const hex = bytesToHex(bytes);
        expect(hex).toMatch(/^[0-9a-f]+$/);
        expect(hexToBytes(hex)).toEqual(bytes);
      }),
    );
    expect(hexToBytes('')).toBeNull();
    expect(hexToBytes('abc')).toBeNull();
    expect(hexToBytes('0g')).toBeNull();
    expect(hexToBytes('AbCd')).toEqual(new Uint8Array([0xab, 0xcd]));
  });
});
