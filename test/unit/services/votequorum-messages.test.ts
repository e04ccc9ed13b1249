// votequorum exec messages (corosync-wire.md §9.1): exact layouts of the four structs,
// what the decoder tolerates (garbage pads, trailing bytes, names without NUL) and what it
// refuses (short messages, foreign service or function) — never by throwing.

import { describe, expect, it } from '@jest/globals';
import { AssertionError } from '../../../src/base/assert';
import {
  decodeVotequorumMessage,
  encodeNodeInfo,
  encodeQdeviceReconfigure,
  encodeQdeviceReg,
  encodeReconfigure,
  encodeVotequorumMessage,
  NodeFlags,
  nodeFlagsText,
  QdeviceOperation,
  ReconfigureParam,
  VotequorumFn,
  votequorumFnOf,
  VotequorumMessageBytes,
} from '../../../src/services/votequorum/votequorum-messages';
import { DecodeErrorCode } from '../../../src/totem/wire/decode-error';

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function u32At(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(offset, true);
}

describe('NODEINFO (fn 0, 32 bytes)', () => {
  it('is the qb header (id 0x00050000, size 32) then nodeid, votes, expected_votes, flags', () => {
    // The start-up NODEINFO of node 1 in udpu-full.pcap.
    const bytes = encodeNodeInfo({ nodeId: 1, votes: 1, expectedVotes: 3, flags: NodeFlags.first });
    expect(hex(bytes)).toBe(
      '00 00 05 00 00 00 00 00 20 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 03 00 00 00 08 00 00 00',
    );
    expect(decodeVotequorumMessage(bytes)).toEqual({
      ok: true,
      value: { type: 'nodeinfo', nodeId: 1, votes: 1, expectedVotes: 3, flags: 8 },
    });
  });

  it('carries full u32 values', () => {
    const m = { type: 'nodeinfo' as const, nodeId: 0xfffffffe, votes: 0x80000000, expectedVotes: 0xffffffff, flags: 0xff };
    const bytes = encodeVotequorumMessage(m);
    expect(u32At(bytes, 16)).toBe(0xfffffffe);
    expect(decodeVotequorumMessage(bytes)).toEqual({ ok: true, value: m });
  });

  it('decodes from a view inside a larger buffer and ignores trailing bytes', () => {
    const inner = encodeNodeInfo({ nodeId: 7, votes: 2, expectedVotes: 9, flags: 5 });
    const big = new Uint8Array(3 + 32 + 8).fill(0xee);
    big.set(inner, 3);
    const d = decodeVotequorumMessage(big.subarray(3));
    expect(d.ok && d.value).toEqual({ type: 'nodeinfo', nodeId: 7, votes: 2, expectedVotes: 9, flags: 5 });
  });

  it('refuses values that are not u32', () => {
    expect(() => encodeNodeInfo({ nodeId: -1, votes: 0, expectedVotes: 0, flags: 0 })).toThrow(AssertionError);
    expect(() => encodeNodeInfo({ nodeId: 1, votes: 2 ** 32, expectedVotes: 0, flags: 0 })).toThrow(AssertionError);
  });
});

describe('RECONFIGURE (fn 1, 32 bytes)', () => {
  it('puts nodeid @16, value @20, param (u8) @24 and zeroes the pads', () => {
    const bytes = encodeReconfigure({ nodeId: 3, value: 5, param: ReconfigureParam.expectedVotes });
    expect(bytes).toHaveLength(VotequorumMessageBytes.reconfigure);
    expect(hex(bytes)).toBe(
      '01 00 05 00 00 00 00 00 20 00 00 00 00 00 00 00 03 00 00 00 05 00 00 00 01 00 00 00 00 00 00 00',
    );
  });

  it('ignores garbage in the pads (corosync does not zero this struct)', () => {
    const bytes = encodeReconfigure({ nodeId: 2, value: 4, param: ReconfigureParam.nodeVotes });
    bytes.fill(0xab, 25, 32);
    bytes.fill(0xcd, 4, 8);
    bytes.fill(0xcd, 12, 16);
    expect(decodeVotequorumMessage(bytes)).toEqual({ ok: true, value: { type: 'reconfigure', nodeId: 2, value: 4, param: 2 } });
  });

  it('carries an unknown param as received', () => {
    const d = decodeVotequorumMessage(encodeReconfigure({ nodeId: 1, value: 0, param: 0xff }));
    expect(d.ok && d.value).toEqual({ type: 'reconfigure', nodeId: 1, value: 0, param: 0xff });
  });
});

describe('QDEVICE_REG (fn 2, 280 bytes) and QDEVICE_RECONFIGURE (fn 3, 528 bytes)', () => {
  it('QDEVICE_REG: operation @16, NUL-terminated name @20', () => {
    const bytes = encodeQdeviceReg({ operation: QdeviceOperation.register, name: 'Qdevice' });
    expect(bytes).toHaveLength(280);
    expect(u32At(bytes, 0)).toBe(0x00050002);
    expect(u32At(bytes, 8)).toBe(280);
    expect(u32At(bytes, 16)).toBe(1);
    expect(new TextDecoder().decode(bytes.subarray(20, 28))).toBe('Qdevice\0');
    expect(bytes.subarray(27).every((b) => b === 0)).toBe(true);
    expect(decodeVotequorumMessage(bytes)).toEqual({ ok: true, value: { type: 'qdevice-reg', operation: 1, name: 'Qdevice' } });
  });

  it('QDEVICE_REG: the name ends at its NUL whatever follows; 255 bytes without NUL are all name', () => {
    const bytes = encodeQdeviceReg({ operation: QdeviceOperation.unregister, name: 'dev' });
    bytes.fill(0x41, 24, 280); // strcpy leaves the rest of the field as it was
    expect(decodeVotequorumMessage(bytes)).toEqual({ ok: true, value: { type: 'qdevice-reg', operation: 0, name: 'dev' } });
    bytes.fill(0x42, 20, 275);
    const d = decodeVotequorumMessage(bytes);
    expect(d.ok && d.value.type === 'qdevice-reg' && d.value.name).toBe('B'.repeat(255));
  });

  it('QDEVICE_RECONFIGURE: oldname @16, newname @271', () => {
    const bytes = encodeQdeviceReconfigure({ oldName: 'old', newName: 'new' });
    expect(bytes).toHaveLength(528);
    expect(u32At(bytes, 0)).toBe(0x00050003);
    expect(u32At(bytes, 8)).toBe(528);
    expect(new TextDecoder().decode(bytes.subarray(16, 19))).toBe('old');
    expect(new TextDecoder().decode(bytes.subarray(271, 274))).toBe('new');
    expect(decodeVotequorumMessage(bytes)).toEqual({ ok: true, value: { type: 'qdevice-reconfigure', oldName: 'old', newName: 'new' } });
  });

  it('names must fit char[255] with their NUL and contain no NUL', () => {
    expect(() => encodeQdeviceReg({ operation: 1, name: 'x'.repeat(254) })).not.toThrow();
    expect(() => encodeQdeviceReg({ operation: 1, name: 'x'.repeat(255) })).toThrow(AssertionError);
    expect(() => encodeQdeviceReconfigure({ oldName: 'a\0b', newName: '' })).toThrow(AssertionError);
  });
});

describe('decodeVotequorumMessage refusals', () => {
  it('a message shorter than its struct is truncated', () => {
    const whole = encodeNodeInfo({ nodeId: 1, votes: 1, expectedVotes: 1, flags: 0 });
    for (const n of [0, 15, 16, 31]) {
      const d = decodeVotequorumMessage(whole.subarray(0, n));
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error.code).toBe(DecodeErrorCode.truncated);
    }
    const reg = encodeQdeviceReg({ operation: 1, name: 'q' });
    const d = decodeVotequorumMessage(reg.subarray(0, 279));
    expect(!d.ok && d.error.code).toBe(DecodeErrorCode.truncated);
  });

  it('another service or an unknown function is a bad type', () => {
    const bytes = encodeNodeInfo({ nodeId: 1, votes: 1, expectedVotes: 1, flags: 0 });
    const view = new DataView(bytes.buffer);
    for (const id of [0x00020003, 0x00050004, 0x00040000]) {
      view.setInt32(0, id, true);
      const d = decodeVotequorumMessage(bytes);
      expect(!d.ok && d.error.code).toBe(DecodeErrorCode.badType);
    }
  });

  it('the header size is not checked against the real length (corosync does not)', () => {
    const bytes = encodeNodeInfo({ nodeId: 1, votes: 1, expectedVotes: 1, flags: 0 });
    new DataView(bytes.buffer).setInt32(8, 999, true);
    expect(decodeVotequorumMessage(bytes).ok).toBe(true);
  });
});

describe('helpers', () => {
  it('votequorumFnOf gives the exec function of each message', () => {
    expect(votequorumFnOf({ type: 'nodeinfo', nodeId: 0, votes: 0, expectedVotes: 0, flags: 0 })).toBe(VotequorumFn.nodeinfo);
    expect(votequorumFnOf({ type: 'reconfigure', nodeId: 0, value: 0, param: 3 })).toBe(VotequorumFn.reconfigure);
    expect(votequorumFnOf({ type: 'qdevice-reg', operation: 0, name: '' })).toBe(VotequorumFn.qdeviceReg);
    expect(votequorumFnOf({ type: 'qdevice-reconfigure', oldName: '', newName: '' })).toBe(VotequorumFn.qdeviceReconfigure);
  });

  it('nodeFlagsText names flags as corosync does', () => {
    expect(nodeFlagsText(0)).toBe('0');
    expect(nodeFlagsText(NodeFlags.first | NodeFlags.wfaStatus)).toBe('WFASTATUS|FIRST');
    expect(nodeFlagsText(0xff)).toBe('QUORATE|LEAVING|WFASTATUS|FIRST|QDEVICE_REGISTERED|QDEVICE_ALIVE|QDEVICE_CAST_VOTE|QDEVICE_MASTER_WINS');
  });
});
