// The totempg packet: the payload of every non-encapsulated MCAST (corosync-wire.md §5.1).
// An 8-byte header, a u16 length per packed (partial) message, then the message bytes.
// Decoding applies exactly corosync's three length checks, so a packet corosync ignores
// is an error here and a packet corosync accepts decodes.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../wire/decode-error';

/** Fixed part of `struct totempg_mcast`: version, type, fragmented, continuation, msg_count. */
export const PG_HEADER_BYTES = 8;

export interface PgPacket {
  /** i16, always 0 from corosync and never checked. */
  version: number;
  /** i16, always 0 from corosync and never checked. */
  type: number;
  /** u8: 0 = the last packed message ends here; else the cut number it continues with. */
  fragmented: number;
  /** u8: 0 = the first packed message starts here; else the previous packet's `fragmented`. */
  continuation: number;
  /** One u16 length per packed (partial) message; `msg_count` is its length. */
  msgLens: readonly number[];
  /** The concatenated message bytes after the length array (Σ msgLens bytes). */
  data: Uint8Array;
}

/**
 * Decodes a totempg packet (little-endian sender, §1.3). The returned `data` is a view
 * into `bytes`, not a copy: callers that keep it beyond the datagram's life must copy.
 */
export function decodePgPacket(bytes: Uint8Array): Result<PgPacket, DecodeError> {
  if (bytes.length < PG_HEADER_BYTES) {
    return err(new DecodeError(DecodeErrorCode.truncated, `totempg packet of ${bytes.length} bytes is shorter than its 8-byte header`, bytes.length));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(6, true);
  const dataStart = PG_HEADER_BYTES + 2 * count;
  if (bytes.length < dataStart) {
    return err(new DecodeError(DecodeErrorCode.truncated, `totempg packet of ${bytes.length} bytes cannot hold ${count} message lengths`, bytes.length));
  }
  const msgLens = new Array<number>(count);
  let expected = dataStart;
  for (let i = 0; i < count; i += 1) {
    const len = view.getUint16(PG_HEADER_BYTES + 2 * i, true);
    msgLens[i] = len;
    expected += len;
  }
  // corosync ignores the packet unless the lengths account for every byte, no more, no less.
  if (bytes.length !== expected) {
    return err(new DecodeError(DecodeErrorCode.badLength, `totempg packet has ${bytes.length} bytes, its lengths say ${expected}`, dataStart));
  }
  return ok({
    version: view.getInt16(0, true),
    type: view.getInt16(2, true),
    fragmented: view.getUint8(4),
    continuation: view.getUint8(5),
    msgLens,
    data: bytes.subarray(dataStart),
  });
}

/** Encodes a packet; every field must be in range and `data` must hold exactly Σ msgLens bytes. */
export function encodePgPacket(p: PgPacket): Uint8Array {
  assert(Number.isInteger(p.version) && p.version >= -0x8000 && p.version <= 0x7fff, 'totempg version must be an i16');
  assert(Number.isInteger(p.type) && p.type >= -0x8000 && p.type <= 0x7fff, 'totempg type must be an i16');
  assert(Number.isInteger(p.fragmented) && p.fragmented >= 0 && p.fragmented <= 0xff, 'fragmented must be a u8');
  assert(Number.isInteger(p.continuation) && p.continuation >= 0 && p.continuation <= 0xff, 'continuation must be a u8');
  const count = p.msgLens.length;
  assert(count <= 0xffff, 'msg_count must fit a u16');
  let total = 0;
  for (const len of p.msgLens) {
    assert(Number.isInteger(len) && len >= 0 && len <= 0xffff, 'each message length must be a u16');
    total += len;
  }
  assert(total === p.data.length, `message lengths sum to ${total} but data has ${p.data.length} bytes`);

  const dataStart = PG_HEADER_BYTES + 2 * count;
  const bytes = new Uint8Array(dataStart + total);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, p.version, true);
  view.setInt16(2, p.type, true);
  view.setUint8(4, p.fragmented);
  view.setUint8(5, p.continuation);
  view.setUint16(6, count, true);
  for (let i = 0; i < count; i += 1) view.setUint16(PG_HEADER_BYTES + 2 * i, p.msgLens[i] ?? 0, true);
  bytes.set(p.data, dataStart);
  return bytes;
}
