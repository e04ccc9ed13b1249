// Goal: FileRingIdStore keeps corosync's ringid_<nodeid> format (8 bytes, u64
// little-endian) so state dirs move between corosync and Carillon; it creates the state
// dir 0700, leaves no temporary files, returns 0n when absent, and on a corrupt file
// either continues from 0 with the file set aside and an error logged, or throws the
// typed error when asked to. MemoryRingIdStore behaves the same for tests.
// Method: real files in a temporary directory under os.tmpdir(), removed afterwards.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AssertionError } from '../../../src/base/assert';
import {
  FileRingIdStore,
  MemoryRingIdStore,
  RING_ID_FILE_BYTES,
  type RingIdStoreLog,
  RingIdStoreError,
  RingIdStoreErrorCode,
} from '../../../src/runtime/ring-id-store';

let tmp = '';
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-ringid-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function capturingLog(): { log: RingIdStoreLog; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}

describe('FileRingIdStore', () => {
  it('returns 0n when there is no file, then what was stored', () => {
    const store = new FileRingIdStore({ stateDir: tmp });
    expect(store.load(1)).toBe(0n);
    store.store(1, 0x1234n);
    expect(store.load(1)).toBe(0x1234n);
    store.store(1, 0x1238n);
    expect(store.load(1)).toBe(0x1238n);
    expect(store.load(2)).toBe(0n);
  });

  it('writes corosync\'s format: ringid_<nodeid>, 8 bytes, u64 little-endian, mode 0600', () => {
    const store = new FileRingIdStore({ stateDir: tmp });
    store.store(3232235786, 0x0102030405060708n);
    const file = path.join(tmp, 'ringid_3232235786');
    expect([...fs.readFileSync(file)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // Nothing else left behind (no temp files).
    expect(fs.readdirSync(tmp)).toEqual(['ringid_3232235786']);
  });

  it('reads a file corosync wrote (host order = little-endian)', () => {
    const bytes = Buffer.alloc(RING_ID_FILE_BYTES);
    bytes.writeBigUInt64LE(0xfffffffffffffff0n);
    fs.writeFileSync(path.join(tmp, 'ringid_7'), bytes);
    expect(new FileRingIdStore({ stateDir: tmp }).load(7)).toBe(0xfffffffffffffff0n);
  });

  it('creates a missing state dir with mode 0700', () => {
    const stateDir = path.join(tmp, 'var', 'lib', 'carillon');
    const store = new FileRingIdStore({ stateDir });
    expect(store.load(1)).toBe(0n);
    store.store(1, 4n);
    expect(fs.statSync(stateDir).mode & 0o777).toBe(0o700 & ~process.umask());
    expect(store.load(1)).toBe(4n);
  });

  it('sets a corrupt file aside, logs an error with the code, and continues from 0', () => {
    const file = path.join(tmp, 'ringid_1');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    const { log, lines } = capturingLog();
    const store = new FileRingIdStore({ stateDir: tmp, log, now: () => 1700000000000 });
    expect(store.load(1)).toBe(0n);
    expect(fs.existsSync(file)).toBe(false);
    expect([...fs.readFileSync(`${file}.corrupt-1700000000000`)]).toEqual([1, 2, 3]);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('error');
    expect(lines[0]?.message).toContain('holds 3 bytes instead of 8');
    // The next store writes a good file again.
    store.store(1, 8n);
    expect(store.load(1)).toBe(8n);
  });

  it("throws RING_ID_CORRUPT with onCorrupt: 'throw' and leaves the file alone", () => {
    const file = path.join(tmp, 'ringid_1');
    fs.writeFileSync(file, Buffer.alloc(16));
    const store = new FileRingIdStore({ stateDir: tmp, onCorrupt: 'throw' });
    expect(() => store.load(1)).toThrow(RingIdStoreError);
    try {
      store.load(1);
    } catch (e) {
      expect(e).toMatchObject({ code: RingIdStoreErrorCode.corrupt, file });
    }
    expect(fs.readFileSync(file)).toHaveLength(16);
  });

  it('reports a state dir it cannot create as RING_ID_STATE_DIR', () => {
    const blocker = path.join(tmp, 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    const store = new FileRingIdStore({ stateDir: path.join(blocker, 'state') });
    expect(() => store.store(1, 1n)).toThrow(expect.objectContaining({ code: RingIdStoreErrorCode.stateDir }));
  });

  it('reports an unwritable file as RING_ID_WRITE and leaves no temp file', () => {
    // A directory where the file should be: rename over it fails.
    fs.mkdirSync(path.join(tmp, 'ringid_1'));
    const store = new FileRingIdStore({ stateDir: tmp });
    expect(() => store.store(1, 1n)).toThrow(expect.objectContaining({ code: RingIdStoreErrorCode.write }));
    expect(fs.readdirSync(tmp)).toEqual(['ringid_1']);
  });

  it('asserts on values that are not u32 nodeids or u64 seqs (programmer errors)', () => {
    const store = new FileRingIdStore({ stateDir: tmp });
    expect(() => store.store(1, -1n)).toThrow(AssertionError);
    expect(() => store.store(1, 1n << 64n)).toThrow(AssertionError);
    expect(() => store.load(-1)).toThrow(AssertionError);
    expect(() => store.load(2 ** 32)).toThrow(AssertionError);
  });
});

describe('MemoryRingIdStore', () => {
  it('starts from the given seqs and records every write', () => {
    const store = new MemoryRingIdStore({ 2: 16n });
    expect(store.load(1)).toBe(0n);
    expect(store.load(2)).toBe(16n);
    store.store(2, 20n);
    expect(store.load(2)).toBe(20n);
    expect(store.writes).toEqual([{ nodeId: 2, seq: 20n }]);
  });
});
