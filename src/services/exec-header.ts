// The 16-byte libqb request header that starts every corosync exec message (and sync
// message), and the 24-byte response header CPG's JOINLIST uses (corosync-wire.md §6.1,
// §8.5): id (i32) @0, size (i32) @8, pads zero; the response header adds error (i32) @16.

import { err, ok, type Result } from '../base/result';
import { DecodeError, DecodeErrorCode } from '../totem/wire/decode-error';

export const EXEC_HEADER_BYTES = 16;
export const EXEC_RESPONSE_HEADER_BYTES = 24;

export interface ExecHeader {
  /** Service id << 16 | function id (sync messages: the raw message number). */
  readonly id: number;
  /** Total message length, header included, as the sender wrote it. */
  readonly size: number;
}

export function execId(service: number, fn: number): number {
  return ((service << 16) | (fn & 0xffff)) | 0;
}

/** Writes a request header into `out` at `offset` (pads zeroed). */
export function writeExecHeader(out: Uint8Array, id: number, size: number, offset = 0): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, EXEC_HEADER_BYTES);
  view.setInt32(0, id, true);
  view.setUint32(4, 0, true);
  view.setInt32(8, size, true);
  view.setUint32(12, 0, true);
}

export function readExecHeader(bytes: Uint8Array): Result<ExecHeader, DecodeError> {
  if (bytes.length < EXEC_HEADER_BYTES) {
    return err(new DecodeError(DecodeErrorCode.truncated, `exec message of ${bytes.length} bytes is shorter than its 16-byte header`));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, EXEC_HEADER_BYTES);
  return ok({ id: view.getInt32(0, true), size: view.getInt32(8, true) });
}
