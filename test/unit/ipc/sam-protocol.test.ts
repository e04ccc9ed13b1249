// Goal: the availability manager's IPC methods (sam.register, sam.heartbeat,
// sam.unregister, sam.status, amf.start, amf.stop) are validated as strictly as the
// others: exact params, names of [A-Za-z0-9_-]{1,64}, pid 2..2^31-1, heartbeat interval
// 100..3600000 ms, recovery quit|restart; a bad request is IPC_BAD_PARAMS with its id.
// Method: parseRequestLine on hand-written lines.

import { describe, expect, it } from '@jest/globals';
import { parseRequestLine } from '../../../src/ipc/protocol';

function parse(method: string, params?: unknown): ReturnType<typeof parseRequestLine> {
  return parseRequestLine(JSON.stringify(params === undefined ? { id: 9, method } : { id: 9, method, params }));
}

describe('sam.* and amf.*: accepted params', () => {
  it.each([
    ['sam.register', { name: 'asterisk', pid: 2, heartbeatIntervalMs: 100, recovery: 'restart' }],
    ['sam.register', { name: 'a_b-C9', pid: 2147483647, heartbeatIntervalMs: 3600000, recovery: 'quit' }],
    ['sam.heartbeat', { name: 'x' }],
    ['sam.unregister', { name: 'x'.repeat(64) }],
    ['amf.start', { name: 'asterisk' }],
    ['amf.stop', { name: 'asterisk' }],
  ])('%s %j', (method, params) => {
    expect(parse(method, params)).toEqual({ ok: true, value: { id: 9, method, params } });
  });

  it('sam.status takes no params', () => {
    expect(parse('sam.status')).toEqual({ ok: true, value: { id: 9, method: 'sam.status', params: {} } });
  });
});

describe('sam.* and amf.*: rejected params', () => {
  it.each([
    ['sam.register', { name: 'a.b', pid: 5, heartbeatIntervalMs: 1000, recovery: 'quit' }, 'params.name must be 1..64 characters of [A-Za-z0-9_-]'],
    ['sam.register', { name: '', pid: 5, heartbeatIntervalMs: 1000, recovery: 'quit' }, 'params.name'],
    ['sam.register', { name: 'x'.repeat(65), pid: 5, heartbeatIntervalMs: 1000, recovery: 'quit' }, 'params.name'],
    ['sam.register', { name: 'a', pid: 1, heartbeatIntervalMs: 1000, recovery: 'quit' }, 'params.pid must be an integer in 2..2147483647'],
    ['sam.register', { name: 'a', pid: 5.5, heartbeatIntervalMs: 1000, recovery: 'quit' }, 'params.pid'],
    ['sam.register', { name: 'a', pid: 5, heartbeatIntervalMs: 99, recovery: 'quit' }, 'params.heartbeatIntervalMs must be an integer in 100..3600000'],
    ['sam.register', { name: 'a', pid: 5, heartbeatIntervalMs: 1000, recovery: 'reboot' }, "params.recovery must be 'quit' or 'restart'"],
    ['sam.register', { name: 'a', pid: 5, heartbeatIntervalMs: 1000 }, 'params.recovery is required'],
    ['sam.register', { name: 'a', pid: 5, heartbeatIntervalMs: 1000, recovery: 'quit', argv: ['x'] }, 'unknown param "argv"'],
    ['sam.heartbeat', {}, 'params.name is required'],
    ['sam.status', { verbose: true }, 'unknown param "verbose"'],
    ['amf.stop', { name: 7 }, 'params.name'],
  ])('%s %j', (method, params, message) => {
    const result = parse(method, params);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toMatchObject({ id: 9, code: 'IPC_BAD_PARAMS' });
      expect(result.error.message).toContain(message);
    }
  });
});
