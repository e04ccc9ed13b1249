// Goal: the group header codec (src/totem/pg/groups.ts) produces corosync's exact header
// bytes for the well-known groups `a` and `sync` (corosync-wire.md §5.4) and rejects
// headers that do not fit their message instead of reading past it.
// Method: the spec's header bytes, a multi-group round trip, one bad header per rule.

import { describe, expect, it } from '@jest/globals';
import {
  decodeGroupMessage,
  encodeGroupMessage,
  GROUP_A,
  GROUP_SYNC,
  groupHeaderLength,
  groupHeaderSegments,
  groupName,
  groupNamesEqual,
  groupNameText,
  includesGroup,
} from '../../../../src/totem/pg/groups';
import { DecodeErrorCode } from '../../../../src/totem/wire/decode-error';

describe('group header', () => {
  it('writes the header bytes of §5.4 for `a` and `sync`', () => {
    const payload = Uint8Array.of(0xee);
    expect(Array.from(encodeGroupMessage([GROUP_A], payload))).toEqual([0x01, 0x00, 0x01, 0x00, 0x61, 0xee]);
    expect(Array.from(encodeGroupMessage([GROUP_SYNC], payload))).toEqual([0x01, 0x00, 0x04, 0x00, 0x73, 0x79, 0x6e, 0x63, 0xee]);
    expect(groupHeaderLength([GROUP_A])).toBe(5);
    expect(groupHeaderLength([GROUP_SYNC])).toBe(8);
  });

  it('hands the header to the packer as count+lengths, then one segment per name', () => {
    const segments = groupHeaderSegments([GROUP_A, groupName('xy')]);
    expect(segments.map((s) => Array.from(s))).toEqual([[2, 0, 1, 0, 2, 0], [0x61], [0x78, 0x79]]);
  });

  it('round-trips several groups, including an empty name', () => {
    const groups = [groupName('capture-demo'), new Uint8Array(0), GROUP_SYNC];
    const payload = Uint8Array.of(1, 2, 3);
    const r = decodeGroupMessage(encodeGroupMessage(groups, payload));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.groups.map(groupNameText)).toEqual(['capture-demo', '', 'sync']);
    expect(Array.from(r.value.payload)).toEqual([1, 2, 3]);
  });

  it('accepts zero groups and an empty payload', () => {
    const r = decodeGroupMessage(Uint8Array.of(0, 0));
    expect(r.ok && r.value.groups.length === 0 && r.value.payload.length === 0).toBe(true);
  });

  it('rejects headers that do not fit the message', () => {
    for (const bytes of [Uint8Array.of(), Uint8Array.of(1), Uint8Array.of(2, 0, 1, 0), Uint8Array.of(1, 0, 5, 0, 0x61)]) {
      const r = decodeGroupMessage(bytes);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe(DecodeErrorCode.truncated);
    }
  });

  it('compares names byte by byte', () => {
    expect(groupNamesEqual(groupName('sync'), GROUP_SYNC)).toBe(true);
    expect(groupNamesEqual(groupName('syn'), GROUP_SYNC)).toBe(false);
    expect(groupNamesEqual(groupName('a'), groupName('b'))).toBe(false);
    expect(includesGroup([GROUP_SYNC, GROUP_A], groupName('a'))).toBe(true);
    expect(includesGroup([GROUP_SYNC], GROUP_A)).toBe(false);
  });
});
