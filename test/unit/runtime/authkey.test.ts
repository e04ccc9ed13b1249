// Goal: readAuthkey accepts what corosync accepts (128–4096 bytes) only from a file that
// group and others cannot access and that the process's user (or root) owns, and says
// exactly what is wrong otherwise (stable codes, mode and fix in the message);
// writeAuthkey creates 0400 files atomically and never clobbers without force.
// Method: real files in a temporary directory under os.tmpdir(), removed afterwards.
// (The tests run as root here, which reads any file: the mode checks are ours, not the
// kernel's.)

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuthkeyError, AuthkeyErrorCode, AuthkeyLimits, readAuthkey, writeAuthkey } from '../../../src/runtime/authkey';

let tmp = '';
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-authkey-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function keyBytes(size: number, fill = 0xa5): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

function writeRaw(name: string, bytes: Uint8Array, mode: number): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  fs.chmodSync(file, mode);
  return file;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(AuthkeyError);
    const error = e as AuthkeyError;
    return { code: error.code, message: error.message };
  }
  throw new Error('expected a rejection');
}

describe('readAuthkey', () => {
  it('reads a 0400 and a 0600 key of 256 bytes', async () => {
    const a = writeRaw('a', keyBytes(256, 1), 0o400);
    const b = writeRaw('b', keyBytes(256, 2), 0o600);
    expect(await readAuthkey(a)).toEqual(keyBytes(256, 1));
    expect(await readAuthkey(b)).toEqual(keyBytes(256, 2));
  });

  it('accepts corosync\'s limits exactly: 128 and 4096 bytes', async () => {
    expect(await readAuthkey(writeRaw('min', keyBytes(AuthkeyLimits.bytesMin), 0o400))).toHaveLength(128);
    expect(await readAuthkey(writeRaw('max', keyBytes(AuthkeyLimits.bytesMax), 0o400))).toHaveLength(4096);
  });

  it('refuses a group/world-accessible file with the mode and the chmod that fixes it', async () => {
    const file = writeRaw('open', keyBytes(256), 0o644);
    const { code, message } = await codeOf(readAuthkey(file));
    expect(code).toBe(AuthkeyErrorCode.permissions);
    expect(message).toContain('mode 0644');
    expect(message).toContain(`chmod 0400 ${file}`);
    const groupOnly = writeRaw('group', keyBytes(256), 0o440);
    expect((await codeOf(readAuthkey(groupOnly))).message).toContain('mode 0440');
  });

  it('refuses too small (corosync: minimum 1024 bits) and too large files', async () => {
    const small = await codeOf(readAuthkey(writeRaw('small', keyBytes(127), 0o400)));
    expect(small.code).toBe(AuthkeyErrorCode.size);
    expect(small.message).toContain('127 bytes (1016 bits)');
    expect(small.message).toContain('at least 128 bytes (1024 bits');
    expect((await codeOf(readAuthkey(writeRaw('empty', keyBytes(0), 0o400)))).code).toBe(AuthkeyErrorCode.size);
    expect((await codeOf(readAuthkey(writeRaw('large', keyBytes(4097), 0o400)))).code).toBe(AuthkeyErrorCode.size);
  });

  it('says how to create a missing key', async () => {
    const file = path.join(tmp, 'nope');
    const { code, message } = await codeOf(readAuthkey(file));
    expect(code).toBe(AuthkeyErrorCode.missing);
    expect(message).toContain(`carillon keygen -k ${file}`);
  });

  it('refuses a directory and a file owned by another user', async () => {
    expect((await codeOf(readAuthkey(tmp))).code).toBe(AuthkeyErrorCode.notAFile);
    const file = writeRaw('k', keyBytes(256), 0o400);
    const uid = fs.statSync(file).uid;
    // Pretend the daemon runs as another uid; the file's owner is neither it nor root
    // unless the test itself runs as root, in which case root ownership is accepted.
    const other = await readAuthkey(file, { ownerUid: uid + 1 }).then(
      () => null,
      (e: AuthkeyError) => e.code,
    );
    expect(other).toBe(uid === 0 ? null : AuthkeyErrorCode.owner);
    expect(await readAuthkey(file, { ownerUid: null })).toHaveLength(256);
  });
});

describe('writeAuthkey', () => {
  it('creates the file with mode 0400 and exactly the bytes, leaving no temp file', async () => {
    const file = path.join(tmp, 'authkey');
    await writeAuthkey(file, keyBytes(256, 7));
    expect(fs.statSync(file).mode & 0o777).toBe(0o400);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(keyBytes(256, 7));
    expect(fs.readdirSync(tmp)).toEqual(['authkey']);
    expect(await readAuthkey(file)).toEqual(keyBytes(256, 7));
  });

  it('refuses to overwrite unless forced', async () => {
    const file = path.join(tmp, 'authkey');
    await writeAuthkey(file, keyBytes(256, 1));
    const { code } = await codeOf(writeAuthkey(file, keyBytes(256, 2)));
    expect(code).toBe(AuthkeyErrorCode.exists);
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(keyBytes(256, 1));
    await writeAuthkey(file, keyBytes(256, 2), { force: true });
    expect(new Uint8Array(fs.readFileSync(file))).toEqual(keyBytes(256, 2));
    expect(fs.statSync(file).mode & 0o777).toBe(0o400);
    expect(fs.readdirSync(tmp)).toEqual(['authkey']);
  });

  it('reports a missing directory with a hint, and refuses bad sizes', async () => {
    const file = path.join(tmp, 'missing', 'authkey');
    const { code, message } = await codeOf(writeAuthkey(file, keyBytes(256)));
    expect(code).toBe(AuthkeyErrorCode.write);
    expect(message).toContain('install -d -m 0755');
    expect((await codeOf(writeAuthkey(path.join(tmp, 'x'), keyBytes(64)))).code).toBe(AuthkeyErrorCode.size);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
