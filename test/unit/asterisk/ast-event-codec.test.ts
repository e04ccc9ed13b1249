// Goal: src/asterisk/core/ast-event-codec.ts writes exactly Asterisk's ast_event bytes and
// rejects malformed payloads with the right code (res-corosync.md §1.2,
// asterisk-groundtruth.md §1.2).
// Method: the spec's test vectors; every one of the 151 ast_events captured from a real
// 2-node Asterisk 20 cluster (decoded field by field against the capture's per-IE
// values, then re-encoded byte for byte); hand-built malformed payloads, built here with
// a tiny independent writer so the decoder is not only tested against its own encoder.

import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AST_EVENT_MAX_BYTES,
  AstEventDecodeError,
  AstEventDecodeErrorCode,
  AstEventEncodeError,
  AstEventEncodeErrorCode,
  astEventTypeName,
  astStrHash,
  decodeAstEvent,
  describeAstEvent,
  encodeAstEvent,
} from '../../../src/asterisk/core/ast-event-codec';
import { AstEventIe, AstEventType, DeviceState, type AstEvent, type DeviceStateEvent, type MwiEvent, type PresenceState } from '../../../src/asterisk/core/events';

const fixture = path.resolve(__dirname, '../../../../shared/fixtures/asterisk/cluster/capture/cpg-messages-decoded.json');

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

// --- an independent little writer for hand-made payloads ------------------------------

function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** A STR payload: hash (little-endian), text, NUL. */
function str(text: string): number[] {
  const h = astStrHash(text);
  return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, (h >>> 24) & 0xff, ...Buffer.from(text, 'utf8'), 0];
}

const EID = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

function ie(type: number, payload: number[]): number[] {
  return [...u16(type), ...u16(payload.length), ...payload];
}

/** An event with a correct length field. */
function event(type: number, ...ies: number[][]): Uint8Array {
  const body = ies.flat();
  return new Uint8Array([...u16(type), ...u16(4 + body.length), ...body]);
}

const deviceIe = ie(AstEventIe.device, str('PJSIP/100'));
const stateIe = ie(AstEventIe.state, u32(2));
const cachableIe = ie(AstEventIe.cachable, u32(1));
const eidIe = ie(AstEventIe.eid, EID);

function decodeError(bytes: Uint8Array): AstEventDecodeError {
  const result = decodeAstEvent(bytes);
  if (result.ok) throw new Error(`expected a decode error, got ${describeAstEvent(result.value)}`);
  expect(result.error).toBeInstanceOf(AstEventDecodeError);
  return result.error;
}

function encodeError(value: AstEvent): AstEventEncodeError {
  try {
    encodeAstEvent(value);
  } catch (caught) {
    expect(caught).toBeInstanceOf(AstEventEncodeError);
    return caught as AstEventEncodeError;
  }
  throw new Error('expected an encode error');
}

// --- spec vectors ----------------------------------------------------------------------

const SPEC_DEVICE_VECTOR = `00 06 00 30  00 07 00 0e 6b b5 f2 02 50 4a 53 49 50 2f 31 30 30 00
  00 08 00 04 00 00 00 02  00 3d 00 04 00 00 00 01  00 21 00 06 00 11 22 33 44 55`;
const pjsip100: DeviceStateEvent = {
  kind: 'device-state',
  aggregate: false,
  device: 'PJSIP/100',
  state: DeviceState.inuse,
  cachable: true,
  eid: '00:11:22:33:44:55',
};

describe('astStrHash', () => {
  test('the spec vector: PJSIP/100 hashes to 6b b5 f2 02 little-endian', () => {
    expect(astStrHash('PJSIP/100')).toBe(0x02f2b56b);
  });

  test('hashes seen in the capture', () => {
    expect(astStrHash('Custom:alice')).toBe(0x48454fee);
    expect(astStrHash('default')).toBe(0x1ce67dce);
    expect(astStrHash('10.251.0.1')).toBe(0x29926ddd);
  });

  test('matches an arbitrary-precision djb2-xor over the UTF-8 bytes, top bit cleared', () => {
    const reference = (text: string): number => {
      let h = 5381n;
      for (const byte of Buffer.from(text, 'utf8')) h = ((h * 33n) ^ BigInt(byte)) & 0xffffffffn;
      return Number(h & 0x7fffffffn);
    };
    const texts = ['', 'a', 'PJSIP/100', 'Custom:josé', '日本語のデバイス', '\u{1f4de} phone', 'x'.repeat(1000), '\xff\x80'];
    for (const text of texts) expect(astStrHash(text)).toBe(reference(text));
    expect(astStrHash('')).toBe(5381);
    // Some of these have the top bit set before masking: the result never does.
    for (const text of texts) expect(astStrHash(text)).toBeLessThanOrEqual(0x7fffffff);
  });
});

describe('spec test vectors', () => {
  test('PJSIP/100 INUSE cachable encodes to the 48 bytes of res-corosync.md §1.2', () => {
    const bytes = encodeAstEvent(pjsip100);
    expect(bytes.length).toBe(48);
    expect(hex(bytes)).toBe(hex(fromHex(SPEC_DEVICE_VECTOR)));
  });

  test('the 48 bytes decode back to the event', () => {
    expect(decodeAstEvent(fromHex(SPEC_DEVICE_VECTOR))).toEqual({ ok: true, value: pjsip100 });
  });

  test('a ping is 14 bytes, EID only', () => {
    const ping: AstEvent = { kind: 'ping', eid: '00:11:22:33:44:55' };
    expect(hex(encodeAstEvent(ping))).toBe('000c000e002100060011' + '22334455');
    expect(decodeAstEvent(fromHex('00 0c 00 0e 00 21 00 06 00 11 22 33 44 55'))).toEqual({ ok: true, value: ping });
  });

  test('an aggregate encodes as type 0x05 with the same IEs and decodes with aggregate: true', () => {
    const bytes = encodeAstEvent({ ...pjsip100, aggregate: true });
    expect(hex(bytes)).toBe('0005' + hex(fromHex(SPEC_DEVICE_VECTOR)).slice(4));
    expect(decodeAstEvent(bytes)).toEqual({ ok: true, value: { ...pjsip100, aggregate: true } });
  });

  test('the hand-written writer and the encoder agree (MWI, discovery, presence)', () => {
    const mwi: MwiEvent = { kind: 'mwi', mailbox: '1000', context: 'default', newMessages: 3, oldMessages: 70000, eid: '00:11:22:33:44:55' };
    expect(hex(encodeAstEvent(mwi))).toBe(
      hex(
        event(
          AstEventType.mwi,
          ie(AstEventIe.mailbox, str('1000')),
          ie(AstEventIe.context, str('default')),
          ie(AstEventIe.newMessages, u32(3)),
          ie(AstEventIe.oldMessages, u32(70000)),
          eidIe,
        ),
      ),
    );
    const discovery: AstEvent = { kind: 'cluster-discovery', nodeId: 0x01020304, localAddr: 'fd00::1', eid: '00:11:22:33:44:55' };
    expect(hex(encodeAstEvent(discovery))).toBe(
      hex(event(AstEventType.clusterDiscovery, ie(AstEventIe.nodeId, u32(0x01020304)), ie(AstEventIe.localAddr, str('fd00::1')), eidIe)),
    );
    const presence: AstEvent = {
      kind: 'presence-state',
      provider: 'CustomPresence:alice',
      state: -1,
      subtype: '',
      message: 'at lunch',
      eid: '00:11:22:33:44:55',
    };
    const presenceBytes = event(
      AstEventType.presenceState,
      ie(AstEventIe.presenceProvider, str('CustomPresence:alice')),
      ie(AstEventIe.presenceState, u32(0xffffffff)),
      ie(AstEventIe.presenceSubtype, str('')),
      ie(AstEventIe.presenceMessage, str('at lunch')),
      eidIe,
    );
    expect(hex(encodeAstEvent(presence))).toBe(hex(presenceBytes));
    expect(decodeAstEvent(presenceBytes)).toEqual({ ok: true, value: presence });
  });

  test('an MWI with an empty context goes on the wire as `default`', () => {
    const mwi: MwiEvent = { kind: 'mwi', mailbox: '1000', context: '', newMessages: 0, oldMessages: 0, eid: '00:11:22:33:44:55' };
    const bytes = encodeAstEvent(mwi);
    expect(hex(bytes)).toBe(hex(encodeAstEvent({ ...mwi, context: 'default' })));
    expect(decodeAstEvent(bytes)).toEqual({ ok: true, value: { ...mwi, context: 'default' } });
  });

  test('decodes a payload that is a view into a larger buffer', () => {
    const whole = new Uint8Array([0xaa, 0xbb, 0xcc, ...fromHex(SPEC_DEVICE_VECTOR), 0xdd]);
    expect(decodeAstEvent(whole.subarray(3, 3 + 48))).toEqual({ ok: true, value: pjsip100 });
  });
});

// --- the real cluster's traffic --------------------------------------------------------

interface CapturedIe {
  readonly ie: number;
  readonly name: string;
  readonly len: number;
  readonly hex: string;
  readonly value: string | number;
  readonly nul_terminated?: boolean;
  readonly hash_le?: string;
  readonly hash_matches_djb2?: boolean;
}

interface CapturedMessage {
  readonly cpg_group?: string;
  readonly msglen?: number;
  readonly payload_hex?: string;
  readonly ast_event?: { readonly type: number; readonly len_field: number; readonly ies: readonly CapturedIe[] };
}

const captured = (JSON.parse(fs.readFileSync(fixture, 'utf8')) as { messages: CapturedMessage[] }).messages.filter(
  (m): m is CapturedMessage & Required<Pick<CapturedMessage, 'payload_hex' | 'ast_event'>> =>
    m.payload_hex !== undefined && m.ast_event !== undefined,
);

/** The event the capture's per-IE values describe, built without the codec. */
function expectedFromCapture(type: number, ies: readonly CapturedIe[]): AstEvent {
  const value = (name: string): string | number => {
    const found = ies.find((i) => i.name === name);
    if (found === undefined) throw new Error(`capture has no ${name} IE`);
    return found.value;
  };
  const eid = String(value('EID'));
  switch (type) {
    case 0x05:
    case 0x06:
      return {
        kind: 'device-state',
        aggregate: type === 0x05,
        device: String(value('DEVICE')),
        state: Number(value('STATE')) as DeviceState,
        cachable: value('CACHABLE') === 1,
        eid,
      };
    case 0x02:
      return {
        kind: 'mwi',
        mailbox: String(value('MAILBOX')),
        context: String(value('CONTEXT')),
        newMessages: Number(value('NEWMSGS')),
        oldMessages: Number(value('OLDMSGS')),
        eid,
      };
    case 0x0c:
      return { kind: 'ping', eid };
    case 0x0d:
      return { kind: 'cluster-discovery', nodeId: Number(value('NODE_ID')), localAddr: String(value('LOCAL_ADDR')), eid };
    default:
      throw new Error(`capture has type ${type}`);
  }
}

describe('the real 2-node cluster capture (cpg-messages-decoded.json)', () => {
  test('holds the 151 ast_events of asterisk-groundtruth.md §1.1, all in group asterisk', () => {
    expect(captured).toHaveLength(151);
    for (const m of captured) expect(m.cpg_group).toBe('asterisk');
    const byType = new Map<number, number>();
    for (const m of captured) byType.set(m.ast_event.type, (byType.get(m.ast_event.type) ?? 0) + 1);
    expect(byType.get(0x05)).toBe(58);
    expect(byType.get(0x06)).toBe(60);
    expect([...byType.keys()].sort((a, b) => a - b)).toEqual([0x02, 0x05, 0x06, 0x0c, 0x0d]);
  });

  test.each(captured.map((m, i) => [i, m] as const))('event %i decodes to its per-IE values and re-encodes to the same bytes', (_i, m) => {
    const bytes = fromHex(m.payload_hex);
    expect(bytes.length).toBe(m.msglen);
    const result = decodeAstEvent(bytes);
    if (!result.ok) throw result.error;
    expect(result.value).toEqual(expectedFromCapture(m.ast_event.type, m.ast_event.ies));
    expect(hex(encodeAstEvent(result.value))).toBe(m.payload_hex);
    for (const capturedIe of m.ast_event.ies) {
      if (capturedIe.hash_le === undefined) continue;
      expect(capturedIe.hash_matches_djb2).toBe(true);
      expect(astStrHash(String(capturedIe.value))).toBe(Number.parseInt(capturedIe.hash_le, 16));
    }
  });
});

// --- malformed payloads ----------------------------------------------------------------

describe('decodeAstEvent rejects malformed payloads with a stable code', () => {
  const C = AstEventDecodeErrorCode;

  test('0 bytes and 3 bytes are truncated', () => {
    expect(decodeError(new Uint8Array(0)).code).toBe(C.truncated);
    expect(decodeError(new Uint8Array([0x00, 0x06, 0x00])).code).toBe(C.truncated);
  });

  test('a header length that differs from the message length (short, long, below 4)', () => {
    const good = fromHex(SPEC_DEVICE_VECTOR);
    const short = good.slice();
    short[3] = 47;
    const e = decodeError(short);
    expect(e.code).toBe(C.lengthMismatch);
    expect(e.type).toBe(6);
    expect(e.offset).toBe(2);
    const long = good.slice();
    long[3] = 49;
    expect(decodeError(long).code).toBe(C.lengthMismatch);
    // The CPG message is longer than the event: Asterisk would ignore the tail, we do not.
    expect(decodeError(new Uint8Array([...good, 0])).code).toBe(C.lengthMismatch);
    // A truncated CPG message: Asterisk would read past it.
    expect(decodeError(good.subarray(0, 40)).code).toBe(C.lengthMismatch);
    expect(decodeError(new Uint8Array([0x00, 0x0c, 0x00, 0x00])).code).toBe(C.lengthMismatch);
  });

  test('an IE whose payload runs past the end', () => {
    const bytes = event(AstEventType.deviceStateChange, [...u16(AstEventIe.device), ...u16(0x00ff), ...str('PJSIP/100')]);
    const e = decodeError(bytes);
    expect(e.code).toBe(C.badIe);
    expect(e.offset).toBe(4);
    expect(e.ie).toBe(AstEventIe.device);
  });

  test('stray bytes shorter than an IE header at the end', () => {
    const e = decodeError(event(AstEventType.ping, eidIe, [0x00, 0x21]));
    expect(e.code).toBe(C.badIe);
    expect(e.offset).toBe(14);
  });

  test('a STR without its NUL, with a NUL inside, not UTF-8, too short, or empty', () => {
    const noNul = fromHex(SPEC_DEVICE_VECTOR);
    noNul[21] = 0x78; // the NUL after PJSIP/100
    const e = decodeError(noNul);
    expect(e.code).toBe(C.badString);
    expect(e.ie).toBe(AstEventIe.device);
    const withInnerNul = str('PJSIP/100');
    withInnerNul[7] = 0;
    expect(decodeError(event(6, ie(AstEventIe.device, withInnerNul), stateIe, cachableIe, eidIe)).code).toBe(C.badString);
    const badUtf8 = [0, 0, 0, 0, 0x50, 0xc3, 0x28, 0];
    expect(decodeError(event(6, ie(AstEventIe.device, badUtf8), stateIe, cachableIe, eidIe)).code).toBe(C.badString);
    expect(decodeError(event(6, ie(AstEventIe.device, [0, 0, 0, 0]), stateIe, cachableIe, eidIe)).code).toBe(C.badIe);
    expect(decodeError(event(6, ie(AstEventIe.device, str('')), stateIe, cachableIe, eidIe)).code).toBe(C.badString);
    const emptyContext = event(
      AstEventType.mwi,
      ie(AstEventIe.mailbox, str('1000')),
      ie(AstEventIe.context, str('')),
      ie(AstEventIe.newMessages, u32(1)),
      ie(AstEventIe.oldMessages, u32(0)),
      eidIe,
    );
    expect(decodeError(emptyContext).code).toBe(C.badString);
  });

  test('the hash is not checked, as Asterisk never checks it', () => {
    const wrongHash = fromHex(SPEC_DEVICE_VECTOR);
    wrongHash[8] = (wrongHash[8] ?? 0) ^ 0xff;
    expect(decodeAstEvent(wrongHash)).toEqual({ ok: true, value: pjsip100 });
  });

  test('a missing EID has its own code; an EID of the wrong size is a bad IE', () => {
    const e = decodeError(event(AstEventType.deviceStateChange, deviceIe, stateIe, cachableIe));
    expect(e.code).toBe(C.missingEid);
    expect(e.type).toBe(6);
    expect(decodeError(new Uint8Array([0x00, 0x0c, 0x00, 0x04])).code).toBe(C.missingEid);
    expect(decodeError(event(AstEventType.ping, ie(AstEventIe.eid, EID.slice(0, 5)))).code).toBe(C.badIe);
    expect(decodeError(event(AstEventType.ping, ie(AstEventIe.eid, [...EID, 0]))).code).toBe(C.badIe);
  });

  test('STATE 9 and 0xffffffff are bad states; PRESENCE_STATE 7 too', () => {
    const e = decodeError(event(6, deviceIe, ie(AstEventIe.state, u32(9)), cachableIe, eidIe));
    expect(e.code).toBe(C.badState);
    expect(e.ie).toBe(AstEventIe.state);
    expect(decodeError(event(6, deviceIe, ie(AstEventIe.state, u32(0xffffffff)), cachableIe, eidIe)).code).toBe(C.badState);
    const presence = (state: number): Uint8Array =>
      event(
        AstEventType.presenceState,
        ie(AstEventIe.presenceProvider, str('CustomPresence:bob')),
        ie(AstEventIe.presenceState, u32(state)),
        ie(AstEventIe.presenceSubtype, str('')),
        ie(AstEventIe.presenceMessage, str('')),
        eidIe,
      );
    expect(decodeError(presence(7)).code).toBe(C.badState);
    const dnd = decodeAstEvent(presence(6));
    expect(dnd.ok && dnd.value.kind === 'presence-state' ? dnd.value.state : null).toBe(6);
  });

  test('CACHABLE other than 0 or 1 is a bad value; 0 decodes as not cachable', () => {
    expect(decodeError(event(6, deviceIe, stateIe, ie(AstEventIe.cachable, u32(2)), eidIe)).code).toBe(C.badValue);
    expect(decodeAstEvent(event(6, deviceIe, stateIe, ie(AstEventIe.cachable, u32(0)), eidIe))).toEqual({
      ok: true,
      value: { ...pjsip100, cachable: false },
    });
  });

  test('a UINT that is not 4 bytes is a bad IE', () => {
    const e = decodeError(event(6, deviceIe, ie(AstEventIe.state, [0, 0, 2]), cachableIe, eidIe));
    expect(e.code).toBe(C.badIe);
    expect(e.ie).toBe(AstEventIe.state);
  });

  test('unknown types carry the type number: 0x0e (AST_EVENT_TOTAL), 0x00, 0x01, 0x07, 0xffff', () => {
    for (const type of [0x0e, 0x00, 0x01, 0x03, 0x07, 0x0b, 0xffff]) {
      const e = decodeError(event(type, eidIe));
      expect(e.code).toBe(C.unknownType);
      expect(e.type).toBe(type);
    }
  });

  test('a required IE that is missing, per type', () => {
    const noCachable = decodeError(event(6, deviceIe, stateIe, eidIe));
    expect(noCachable.code).toBe(C.missingIe);
    expect(noCachable.ie).toBe(AstEventIe.cachable);
    expect(decodeError(event(5, stateIe, cachableIe, eidIe)).ie).toBe(AstEventIe.device);
    const noOld = decodeError(
      event(AstEventType.mwi, ie(AstEventIe.mailbox, str('1000')), ie(AstEventIe.context, str('default')), ie(AstEventIe.newMessages, u32(1)), eidIe),
    );
    expect([noOld.code, noOld.ie]).toEqual([C.missingIe, AstEventIe.oldMessages]);
    const noAddr = decodeError(event(AstEventType.clusterDiscovery, ie(AstEventIe.nodeId, u32(1)), eidIe));
    expect([noAddr.code, noAddr.ie]).toEqual([C.missingIe, AstEventIe.localAddr]);
  });

  test('an IE the type uses appearing twice is rejected', () => {
    const e = decodeError(event(6, deviceIe, stateIe, ie(AstEventIe.state, u32(1)), cachableIe, eidIe));
    expect(e.code).toBe(C.duplicateIe);
    expect(decodeError(event(AstEventType.ping, eidIe, ie(AstEventIe.eid, [1, 2, 3, 4, 5, 6]))).code).toBe(C.duplicateIe);
  });

  test('unknown extra IEs, and IEs of other types, are skipped as Asterisk skips them', () => {
    const extra = event(6, ie(0x0030, [1, 2, 3]), deviceIe, stateIe, ie(AstEventIe.mailbox, [9]), cachableIe, ie(0x7fff, []), eidIe);
    expect(decodeAstEvent(extra)).toEqual({ ok: true, value: pjsip100 });
    // The EID need not be last on receipt.
    expect(decodeAstEvent(event(6, eidIe, deviceIe, stateIe, cachableIe))).toEqual({ ok: true, value: pjsip100 });
  });

  test('every code is a distinct stable string', () => {
    const codes = Object.values(AstEventDecodeErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^AST_EVENT_[A-Z_]+$/);
  });
});

// --- encoding errors ---------------------------------------------------------------------

describe('encodeAstEvent refuses events Asterisk could not have sent', () => {
  const C = AstEventEncodeErrorCode;
  const mwi: MwiEvent = { kind: 'mwi', mailbox: '1000', context: 'default', newMessages: 0, oldMessages: 0, eid: '00:11:22:33:44:55' };

  test('a device state outside 0..8', () => {
    expect(encodeError({ ...pjsip100, state: 9 as DeviceState }).code).toBe(C.badState);
    expect(encodeError({ ...pjsip100, state: -1 as DeviceState }).code).toBe(C.badState);
  });

  test('strings with a NUL, a lone surrogate, or empty where a name is needed', () => {
    const nul = encodeError({ ...pjsip100, device: 'PJSIP/1\u0000' });
    expect([nul.code, nul.field]).toEqual([C.badString, 'device']);
    expect(encodeError({ ...pjsip100, device: 'PJSIP/\ud800' }).code).toBe(C.badString);
    expect(encodeError({ ...pjsip100, device: '' }).code).toBe(C.badString);
    expect(encodeError({ ...mwi, mailbox: '' }).code).toBe(C.badString);
    expect(encodeError({ kind: 'cluster-discovery', nodeId: 1, localAddr: '', eid: mwi.eid }).code).toBe(C.badString);
  });

  test('counts and node ids that are not unsigned 32-bit integers', () => {
    for (const n of [-1, 1.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(encodeError({ ...mwi, newMessages: n }).code).toBe(C.badNumber);
      expect(encodeError({ ...mwi, oldMessages: n }).code).toBe(C.badNumber);
      expect(encodeError({ kind: 'cluster-discovery', nodeId: n, localAddr: '10.0.0.1', eid: mwi.eid }).code).toBe(C.badNumber);
    }
    expect(encodeAstEvent({ ...mwi, newMessages: 0xffffffff }).length).toBe(59);
  });

  test('a presence state outside -1..6', () => {
    const presence: AstEvent = { kind: 'presence-state', provider: 'CustomPresence:a', state: 7 as PresenceState, subtype: '', message: '', eid: mwi.eid };
    expect(encodeError(presence).code).toBe(C.badState);
  });

  test('a bad EID; an upper-case EID is accepted and written as bytes', () => {
    expect(encodeError({ kind: 'ping', eid: 'nope' }).code).toBe(C.badEid);
    expect(encodeError({ kind: 'ping', eid: '00:11:22:33:44' }).code).toBe(C.badEid);
    expect(hex(encodeAstEvent({ kind: 'ping', eid: 'AA:BB:CC:DD:EE:FF' }))).toBe('000c000e00210006aabbccddeeff');
  });

  test('more than 65535 bytes in all; exactly 65535 is fine', () => {
    // A device state's bytes besides the text: header 4, DEVICE IE 4+4+1, STATE 8, CACHABLE 8, EID 10.
    const fits = AST_EVENT_MAX_BYTES - (4 + 9 + 8 + 8 + 10);
    expect(encodeAstEvent({ ...pjsip100, device: 'd'.repeat(fits) }).length).toBe(AST_EVENT_MAX_BYTES);
    expect(encodeError({ ...pjsip100, device: 'd'.repeat(fits + 1) }).code).toBe(C.tooLong);
  });

  test('an unknown kind', () => {
    expect(encodeError({ kind: 'custom', eid: mwi.eid } as unknown as AstEvent).code).toBe(C.badKind);
  });
});

// --- names and log lines -----------------------------------------------------------------

describe('names for logs', () => {
  test('astEventTypeName gives the names res_corosync prints', () => {
    expect(astEventTypeName(0x02)).toBe('MWI');
    expect(astEventTypeName(0x05)).toBe('DeviceState');
    expect(astEventTypeName(0x06)).toBe('DeviceStateChange');
    expect(astEventTypeName(0x0a)).toBe('PresenceState');
    expect(astEventTypeName(0x0c)).toBe('Ping');
    // event_names[] has no entry for CLUSTER_DISCOVERY; glibc prints the NULL as (null).
    expect(astEventTypeName(0x0d)).toBe('(null)');
    expect(astEventTypeName(0x0e)).toBe('');
    // The log lines of asterisk-groundtruth.md §1.3.
    expect(`CPG mcast not executed for event ${astEventTypeName(5)} (5): initializing CPG.`).toBe(
      'CPG mcast not executed for event DeviceState (5): initializing CPG.',
    );
    expect(`${astEventTypeName(6)} (6)`).toBe('DeviceStateChange (6)');
  });

  test('describeAstEvent gives one line per event', () => {
    expect(describeAstEvent(pjsip100)).toBe('DeviceStateChange PJSIP/100 INUSE cachable eid 00:11:22:33:44:55');
    expect(describeAstEvent({ ...pjsip100, aggregate: true, cachable: false, state: DeviceState.notInuse })).toBe(
      'DeviceState PJSIP/100 NOT_INUSE not-cachable eid 00:11:22:33:44:55',
    );
    expect(describeAstEvent({ kind: 'mwi', mailbox: '1000', context: 'default', newMessages: 2, oldMessages: 5, eid: pjsip100.eid })).toBe(
      'MWI 1000@default new 2 old 5 eid 00:11:22:33:44:55',
    );
    expect(describeAstEvent({ kind: 'ping', eid: pjsip100.eid })).toBe('Ping eid 00:11:22:33:44:55');
    expect(describeAstEvent({ kind: 'cluster-discovery', nodeId: 2, localAddr: '10.251.0.2', eid: pjsip100.eid })).toBe(
      'ClusterDiscovery node 2 addr 10.251.0.2 eid 00:11:22:33:44:55',
    );
    expect(
      describeAstEvent({ kind: 'presence-state', provider: 'CustomPresence:alice', state: 3, subtype: '', message: 'back at 2', eid: pjsip100.eid }),
    ).toBe('PresenceState CustomPresence:alice away subtype "" message "back at 2" eid 00:11:22:33:44:55');
  });

  test('names with spaces, quotes or line breaks stay on one quoted line', () => {
    const line = describeAstEvent({ ...pjsip100, device: 'Custom:a b\nINJECTED\u2028"x"' });
    expect(line).toBe('DeviceStateChange "Custom:a b\\nINJECTED\\u2028\\"x\\"" INUSE cachable eid 00:11:22:33:44:55');
    expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
  });
});
