// Workload payloads with a unique id and an integrity digest (testing.md §4.3: msgId is
// (origin node, origin counter), unique by construction; we add the incarnation so a
// restarted node never reuses an id).
//
// Layout (little-endian): magic "CRLN" | origin u32 | incarnation u32 | counter u32 |
// body length u32 | body | FNV-1a-32 of everything before it.

import type { Prng } from '../../src/base/prng';

export interface MsgId {
  readonly origin: number;
  readonly inc: number;
  readonly counter: number;
}

const MAGIC = 0x4e4c5243; // "CRLN" read little-endian
const HEADER_BYTES = 20;
const DIGEST_BYTES = 4;

export function msgKey(id: MsgId): string {
  return `${id.origin}:${id.inc}:${id.counter}`;
}

export function parseMsgKey(key: string): MsgId {
  const [origin, inc, counter] = key.split(':').map(Number);
  return { origin: origin ?? NaN, inc: inc ?? NaN, counter: counter ?? NaN };
}

// Looked up once: under Jest (a vm context) a global lookup such as `Math.imul` inside this
// loop costs ~100× what the loop itself does (the services swarm hashes every packet).
const imul = Math.imul;

export function fnv1a(bytes: Uint8Array, end = bytes.byteLength): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= bytes[i] as number;
    h = imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Digest of a whole payload, as logged at submit and at delivery. */
export function payloadDigest(bytes: Uint8Array): string {
  return fnv1a(bytes).toString(16).padStart(8, '0') + `/${bytes.byteLength}`;
}

/** `body`: a length (random bytes from `prng`) or the exact body bytes. */
export function encodePayload(id: MsgId, body: number | Uint8Array, prng: Prng): Uint8Array {
  const bodyBytes = typeof body === 'number' ? body : body.byteLength;
  const bytes = new Uint8Array(HEADER_BYTES + bodyBytes + DIGEST_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, id.origin, true);
  view.setUint32(8, id.inc, true);
  view.setUint32(12, id.counter, true);
  view.setUint32(16, bodyBytes, true);
  if (typeof body === 'number') {
    for (let i = 0; i < bodyBytes; i++) bytes[HEADER_BYTES + i] = prng.nextU32() & 0xff;
  } else {
    bytes.set(body, HEADER_BYTES);
  }
  view.setUint32(HEADER_BYTES + bodyBytes, fnv1a(bytes, HEADER_BYTES + bodyBytes), true);
  return bytes;
}

export type DecodedPayload =
  | { readonly ok: true; readonly id: MsgId }
  | { readonly ok: false; readonly reason: string; readonly id: MsgId | null };

/** Parses a delivered payload; `ok: false` means it was corrupted or never ours. */
export function decodePayload(bytes: Uint8Array): DecodedPayload {
  if (bytes.byteLength < HEADER_BYTES + DIGEST_BYTES) return { ok: false, reason: 'too short', id: null };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return { ok: false, reason: 'bad magic', id: null };
  const id: MsgId = { origin: view.getUint32(4, true), inc: view.getUint32(8, true), counter: view.getUint32(12, true) };
  const body = view.getUint32(16, true);
  if (HEADER_BYTES + body + DIGEST_BYTES !== bytes.byteLength) return { ok: false, reason: 'bad length', id };
  if (view.getUint32(HEADER_BYTES + body, true) !== fnv1a(bytes, HEADER_BYTES + body)) {
    return { ok: false, reason: 'digest mismatch', id };
  }
  return { ok: true, id };
}

/** The body of a workload payload (no integrity check; see decodePayload). */
export function payloadBody(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength < HEADER_BYTES + DIGEST_BYTES) return new Uint8Array(0);
  return bytes.subarray(HEADER_BYTES, bytes.byteLength - DIGEST_BYTES);
}
