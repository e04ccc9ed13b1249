// The totempg group header (corosync-wire.md §5.4): every totempg message starts with
// `u16 group_count`, `u16 group_len[group_count]` and the group names concatenated
// without terminators; the payload follows. corosync 3.1.7 always sends one group:
// `a` for service exec messages, `sync` for the synchronisation protocol.
// Group names are raw bytes on the wire; they are compared byte by byte, as corosync's
// memcmp does.

import { assert } from '../../base/assert';
import { err, ok, type Result } from '../../base/result';
import { DecodeError, DecodeErrorCode } from '../wire/decode-error';

/** totempg's MAX_GROUPS_PER_MSG: the most groups a local sender may name. */
export const GROUPS_PER_MESSAGE_MAX = 32;

/** Converts a group name written as text (ASCII in practice) to its wire bytes. */
export function groupName(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The bytes of a group name as text, for logs and tests (invalid UTF-8 becomes U+FFFD). */
export function groupNameText(name: Uint8Array): string {
  return new TextDecoder().decode(name);
}

/** Group `a`: every corosync service exec message (§6). */
export const GROUP_A: Uint8Array = groupName('a');
/** Group `sync`: the synchronisation protocol (§7). */
export const GROUP_SYNC: Uint8Array = groupName('sync');

export function groupNamesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** True when `groups` lists `name` (corosync delivers to an instance if any name matches). */
export function includesGroup(groups: readonly Uint8Array[], name: Uint8Array): boolean {
  return groups.some((g) => groupNamesEqual(g, name));
}

function assertEncodableGroups(groups: readonly Uint8Array[]): void {
  assert(groups.length <= 0xffff, 'group_count must fit a u16');
  for (const g of groups) assert(g.length <= 0xffff, 'a group name length must fit a u16');
}

/**
 * The group header as corosync hands it to the packer: one segment with the count and
 * lengths, then one segment per name. The packer's cut decisions depend on these
 * boundaries (§5.2), so the fragmenter needs them separately, not as one array.
 */
export function groupHeaderSegments(groups: readonly Uint8Array[]): Uint8Array[] {
  assertEncodableGroups(groups);
  const lens = new Uint8Array(2 + 2 * groups.length);
  const view = new DataView(lens.buffer);
  view.setUint16(0, groups.length, true);
  groups.forEach((g, i) => view.setUint16(2 + 2 * i, g.length, true));
  return [lens, ...groups];
}

/** Byte length of the group header for `groups`. */
export function groupHeaderLength(groups: readonly Uint8Array[]): number {
  return groups.reduce((sum, g) => sum + g.length, 2 + 2 * groups.length);
}

export function encodeGroupMessage(groups: readonly Uint8Array[], payload: Uint8Array): Uint8Array {
  const segments = groupHeaderSegments(groups);
  const bytes = new Uint8Array(groupHeaderLength(groups) + payload.length);
  let at = 0;
  for (const s of segments) {
    bytes.set(s, at);
    at += s.length;
  }
  bytes.set(payload, at);
  return bytes;
}

/**
 * Splits a reassembled totempg message into its group names and payload. Both are views
 * into `bytes`. corosync reads the header without any bounds check; here a header that
 * does not fit the message is a DecodeError and the message must be dropped.
 */
export function decodeGroupMessage(bytes: Uint8Array): Result<{ groups: Uint8Array[]; payload: Uint8Array }, DecodeError> {
  if (bytes.length < 2) {
    return err(new DecodeError(DecodeErrorCode.truncated, `group message of ${bytes.length} bytes has no group count`, bytes.length));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(0, true);
  let at = 2 + 2 * count;
  if (bytes.length < at) {
    return err(new DecodeError(DecodeErrorCode.truncated, `group message of ${bytes.length} bytes cannot hold ${count} group lengths`, bytes.length));
  }
  const groups = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i += 1) {
    const len = view.getUint16(2 + 2 * i, true);
    if (at + len > bytes.length) {
      return err(new DecodeError(DecodeErrorCode.truncated, `group name ${i} (${len} bytes) runs past the end of the message`, at));
    }
    groups[i] = bytes.subarray(at, at + len);
    at += len;
  }
  return ok({ groups, payload: bytes.subarray(at) });
}
