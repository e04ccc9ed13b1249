// Goal: parseAriFrame (src/asterisk/ari/ari-events.ts) types the ARI event frames a real
// Asterisk 20 sent (fixtures/asterisk/ari/ws-01, ws-02, ws-03a: DeviceStateChanged and
// ApplicationReplaced, asterisk-groundtruth.md §3), formatAriEvent writes them back byte
// for byte (so the recorded key order is what stubs and fakes send), and any garbage
// (non-JSON, wrong shapes, unknown states, bad EIDs, binary, invalid UTF-8, > 1 MiB)
// gives a typed error instead of an exception.

import { describe, expect, test } from '@jest/globals';
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AriEventLimits, AriFrameErrorCode, formatAriEvent, parseAriFrame } from '../../../src/asterisk/ari/ari-events';
import type { AriEvent } from '../../../src/asterisk/ari/ari-events';

const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/asterisk/ari');

/** The payloads of the text frames (opcode 1) of a recording. */
function textFrames(name: string): string[] {
  return fs
    .readFileSync(path.join(FIXTURES, `${name}.frames.jsonl`), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { opcode?: number; payload?: string })
    .filter((frame) => frame.opcode === 1 && frame.payload !== undefined)
    .map((frame) => frame.payload as string);
}

function parsed(payload: string | Uint8Array): AriEvent {
  const result = parseAriFrame(payload);
  if (!result.ok) throw new Error(`expected a parsed event, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

function errorCode(payload: string | Uint8Array, options: { binary?: boolean } = {}): string {
  const result = parseAriFrame(payload, options);
  return result.ok ? `parsed ${result.value.kind}` : result.error.code;
}

const EID = '02:a5:7e:00:00:01';

describe('recorded DeviceStateChanged frames', () => {
  const ws01 = textFrames('ws-01-subscribeall');
  const ws02 = textFrames('ws-02-subscription-api');

  test('the recordings hold the frames the README describes', () => {
    expect(ws01).toHaveLength(7);
    expect(ws02).toHaveLength(3);
  });

  test('ws-01 (subscribeAll): every frame is a typed DeviceStateChanged, in order', () => {
    const events = ws01.map((frame) => parsed(frame));
    expect(events.map((e) => (e.kind === 'device-state-changed' ? `${e.event.deviceState.name}=${e.event.deviceState.state}` : e.kind))).toEqual([
      'Custom:alice=INUSE',
      'Stasis:bob=BUSY',
      'MWI:1000@default=INUSE',
      'MWI:2000=INUSE',
      'MWI:1000@default=NOT_INUSE',
      'MWI:2000=NOT_INUSE',
      'Custom:alice=NOT_INUSE',
    ]);
    expect(events[0]).toEqual({
      kind: 'device-state-changed',
      event: {
        type: 'DeviceStateChanged',
        application: 'x',
        timestamp: '2026-11-21T20:23:10.279+0000',
        deviceState: { name: 'Custom:alice', state: 'INUSE' },
        asteriskId: EID,
      },
    });
  });

  test('ws-02 (explicit subscription): application y, same shape', () => {
    const events = ws02.map((frame) => parsed(frame));
    for (const e of events) {
      expect(e.kind).toBe('device-state-changed');
      if (e.kind === 'device-state-changed') {
        expect(e.event.application).toBe('y');
        expect(e.event.asteriskId).toBe(EID);
      }
    }
    expect(events[1]).toMatchObject({ event: { deviceState: { name: 'Custom:bob', state: 'NOT_INUSE' }, timestamp: '2026-11-21T20:24:09.928+0000' } });
  });

  test('the recorded key order is type, application, timestamp, device_state{name,state}, asterisk_id', () => {
    for (const frame of [...ws01, ...ws02]) {
      const object = JSON.parse(frame) as { device_state: object };
      expect(Object.keys(object)).toEqual(['type', 'application', 'timestamp', 'device_state', 'asterisk_id']);
      expect(Object.keys(object.device_state)).toEqual(['name', 'state']);
    }
  });

  test('formatAriEvent gives back exactly the recorded bytes', () => {
    for (const frame of [...ws01, ...ws02]) {
      const e = parsed(frame);
      if (e.kind !== 'device-state-changed') throw new Error(`unexpected ${e.kind}`);
      expect(formatAriEvent(e.event)).toBe(frame);
    }
  });

  test('the frame as bytes parses to the same event as the frame as text', () => {
    for (const frame of ws01) expect(parsed(new TextEncoder().encode(frame))).toEqual(parsed(frame));
  });

  test('an absent asterisk_id, application or timestamp is null (older Asterisk), not an error', () => {
    const e = parsed('{"type":"DeviceStateChanged","device_state":{"name":"PJSIP/100","state":"ringinuse"}}');
    expect(e).toEqual({
      kind: 'device-state-changed',
      event: { type: 'DeviceStateChanged', application: null, timestamp: null, deviceState: { name: 'PJSIP/100', state: 'RINGINUSE' }, asteriskId: null },
    });
  });
});

describe('recorded ApplicationReplaced frame', () => {
  const [replaced = ''] = textFrames('ws-03a-first-connection');

  test('is typed, with the EID', () => {
    expect(parsed(replaced)).toEqual({
      kind: 'application-replaced',
      event: { type: 'ApplicationReplaced', timestamp: '2026-11-21T20:24:27.788+0000', application: 'z', asteriskId: EID },
    });
  });

  test('key order type, timestamp, application, asterisk_id, and formatAriEvent reproduces it', () => {
    expect(Object.keys(JSON.parse(replaced) as object)).toEqual(['type', 'timestamp', 'application', 'asterisk_id']);
    const e = parsed(replaced);
    if (e.kind !== 'application-replaced') throw new Error(`unexpected ${e.kind}`);
    expect(formatAriEvent(e.event)).toBe(replaced);
  });

  test('ws-03b (the connection that took the name) received no text frame at all', () => {
    expect(textFrames('ws-03b-second-connection-same-app')).toEqual([]);
  });
});

describe('other event types pass through loosely typed', () => {
  test('StasisStart keeps all its fields', () => {
    const e = parsed(`{"type":"StasisStart","application":"x","args":[],"channel":{"id":"1"},"asterisk_id":"${EID}"}`);
    expect(e).toEqual({ kind: 'other', event: { type: 'StasisStart', application: 'x', args: [], channel: { id: '1' }, asterisk_id: EID } });
  });

  test('a common field of the wrong type is refused even on an untyped event', () => {
    expect(errorCode('{"type":"StasisStart","asterisk_id":"not-an-eid"}')).toBe(AriFrameErrorCode.badField);
    expect(errorCode('{"type":"StasisStart","timestamp":5}')).toBe(AriFrameErrorCode.badField);
  });
});

describe('garbage frames give typed errors', () => {
  const cases: Array<[string, string | Uint8Array, string]> = [
    ['empty', '', AriFrameErrorCode.notJson],
    ['not JSON', 'hello', AriFrameErrorCode.notJson],
    ['truncated JSON', '{"type":"DeviceStateChanged","device_state":{', AriFrameErrorCode.notJson],
    ['null', 'null', AriFrameErrorCode.notObject],
    ['an array', '[{"type":"DeviceStateChanged"}]', AriFrameErrorCode.notObject],
    ['a number', '42', AriFrameErrorCode.notObject],
    ['a string', '"DeviceStateChanged"', AriFrameErrorCode.notObject],
    ['no type', '{"application":"x"}', AriFrameErrorCode.noType],
    ['empty type', '{"type":""}', AriFrameErrorCode.noType],
    ['numeric type', '{"type":7}', AriFrameErrorCode.noType],
    ['no device_state', '{"type":"DeviceStateChanged"}', AriFrameErrorCode.badField],
    ['device_state an array', '{"type":"DeviceStateChanged","device_state":[]}', AriFrameErrorCode.badField],
    ['device_state without name', '{"type":"DeviceStateChanged","device_state":{"state":"INUSE"}}', AriFrameErrorCode.badField],
    ['empty device name', '{"type":"DeviceStateChanged","device_state":{"name":"","state":"INUSE"}}', AriFrameErrorCode.badField],
    ['unknown state', '{"type":"DeviceStateChanged","device_state":{"name":"Custom:a","state":"FOOBAR"}}', AriFrameErrorCode.badField],
    ['numeric state', '{"type":"DeviceStateChanged","device_state":{"name":"Custom:a","state":2}}', AriFrameErrorCode.badField],
    ['bad asterisk_id', '{"type":"DeviceStateChanged","device_state":{"name":"Custom:a","state":"INUSE"},"asterisk_id":"02:a5"}', AriFrameErrorCode.badField],
    ['numeric application', '{"type":"ApplicationReplaced","application":1}', AriFrameErrorCode.badField],
    ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), AriFrameErrorCode.notUtf8],
  ];
  test.each(cases)('%s', (_label, payload, code) => {
    expect(errorCode(payload)).toBe(code);
  });

  test('a binary frame is refused whatever it holds', () => {
    expect(errorCode(new TextEncoder().encode('{"type":"StasisStart"}'), { binary: true })).toBe(AriFrameErrorCode.binary);
  });

  test('frames over 1 MiB are refused; exactly 1 MiB is parsed', () => {
    const head = '{"type":"Padding","pad":"';
    const tail = '"}';
    const exact = head + 'a'.repeat(AriEventLimits.frameBytesMax - head.length - tail.length) + tail;
    expect(exact.length).toBe(1024 * 1024);
    expect(errorCode(exact)).toBe('parsed other');
    expect(errorCode(exact + ' ')).toBe(AriFrameErrorCode.tooLarge);
    expect(errorCode(new TextEncoder().encode(exact + ' '))).toBe(AriFrameErrorCode.tooLarge);
    // Multi-byte text: fewer UTF-16 units than the limit, more UTF-8 bytes.
    const wide = head + 'é'.repeat(AriEventLimits.frameBytesMax / 2) + tail;
    expect(wide.length).toBeLessThan(AriEventLimits.frameBytesMax);
    expect(errorCode(wide)).toBe(AriFrameErrorCode.tooLarge);
  });

  test('never throws: arbitrary text, bytes and JSON values', () => {
    const object = fc.dictionary(fc.constantFrom('type', 'application', 'timestamp', 'device_state', 'asterisk_id', 'name', 'state'), fc.jsonValue());
    const shaped = fc.record({
      type: fc.constantFrom('DeviceStateChanged', 'ApplicationReplaced', 'Other', ''),
      device_state: fc.oneof(fc.jsonValue(), object),
      asterisk_id: fc.oneof(fc.constant(EID), fc.string(), fc.jsonValue()),
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 }), fc.jsonValue().map((v) => JSON.stringify(v)), shaped.map((v) => JSON.stringify(v))), (payload) => {
        const result = parseAriFrame(payload);
        if (result.ok) expect(['device-state-changed', 'application-replaced', 'other']).toContain(result.value.kind);
        else expect(Object.values(AriFrameErrorCode)).toContain(result.error.code);
      }),
    );
  });
});
