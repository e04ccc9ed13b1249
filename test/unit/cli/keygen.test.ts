// Goal: `carillon keygen [-k FILE] [-s BYTES] [--force] [--json]` writes a 256-byte key
// with mode 0400 like corosync-keygen, refuses to replace an existing key without
// --force, exits 0/1 (2 for usage errors through commander), and documents itself with
// EXAMPLES and EXIT STATUS.
// Method: run the command function with a capturing io and an injected random source;
// run it through the commander program (cli/program.ts) too. Files live in a temporary
// directory under os.tmpdir(), removed afterwards.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KeygenExit, runKeygen } from '../../../src/cli/commands/keygen';
import { runCli } from '../../../src/cli/program';
import { readAuthkey } from '../../../src/runtime/authkey';
import { captureIo } from './captured-io';

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-keygen-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('carillon keygen', () => {
  it('writes 256 random bytes with mode 0400 and says where', async () => {
    const file = path.join(tmp, 'authkey');
    const io = captureIo();
    const random = (n: number): Uint8Array => new Uint8Array(n).fill(0x42);
    expect(await runKeygen({ file }, io, { randomBytes: random })).toBe(KeygenExit.ok);
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toHaveLength(1);
    expect(io.stdout[0]).toContain(`2048-bit key to ${file}`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o400);
    expect(await readAuthkey(file)).toEqual(new Uint8Array(256).fill(0x42));
  });

  it('refuses to overwrite without --force (exit 1), replaces with it', async () => {
    const file = path.join(tmp, 'twice');
    expect(await runKeygen({ file }, captureIo())).toBe(KeygenExit.ok);
    const before = fs.readFileSync(file);
    const io = captureIo();
    expect(await runKeygen({ file }, io)).toBe(KeygenExit.failed);
    expect(io.stderr.join('\n')).toMatch(/already exists; use --force/);
    expect(fs.readFileSync(file)).toEqual(before);
    expect(await runKeygen({ file, force: true }, captureIo())).toBe(KeygenExit.ok);
    expect(fs.readFileSync(file)).not.toEqual(before);
  });

  it('--json prints one object, for success and failure', async () => {
    const file = path.join(tmp, 'json');
    const ok = captureIo();
    expect(await runKeygen({ file, json: true, size: 128 }, ok)).toBe(KeygenExit.ok);
    expect(JSON.parse(ok.stdout[0] ?? '')).toEqual({ file, written: true, bytes: 128, bits: 1024, mode: '0400' });
    const bad = captureIo();
    expect(await runKeygen({ file, json: true }, bad)).toBe(KeygenExit.failed);
    expect(JSON.parse(bad.stdout[0] ?? '')).toMatchObject({ file, written: false, error: { code: 'AUTHKEY_EXISTS' } });
    expect(bad.stderr).toEqual([]);
  });

  it('refuses sizes corosync-keygen refuses', async () => {
    const io = captureIo();
    expect(await runKeygen({ file: path.join(tmp, 'small'), size: 64 }, io)).toBe(KeygenExit.failed);
    expect(io.stderr[0]).toContain('unsupported key size 64 (supported 128–4096 bytes)');
    expect(fs.existsSync(path.join(tmp, 'small'))).toBe(false);
  });

  it('is registered as `carillon keygen` with man-style help and usage errors exit 2', async () => {
    const file = path.join(tmp, 'via-cli');
    const io = captureIo();
    expect(await runCli(['keygen', '-k', file, '--json'], io)).toBe(0);
    expect(JSON.parse(io.stdout[0] ?? '')).toMatchObject({ written: true, bytes: 256 });
    expect(await runCli(['keygen', '-k', file], captureIo())).toBe(1);
    expect(await runCli(['keygen', '-k', file, '--force', '-s', '512'], captureIo())).toBe(0);
    expect(fs.statSync(file).size).toBe(512);
    const help = captureIo();
    expect(await runCli(['keygen', '--help'], help)).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toContain('EXAMPLES');
    expect(text).toMatch(/EXIT STATUS[\s\S]*1 {3}the key was not written/);
    expect(text).toContain('/etc/carillon/authkey');
    expect(await runCli(['keygen', '-s', 'big'], captureIo())).toBe(2);
    expect(await runCli(['keygen', '--bogus'], captureIo())).toBe(2);
  });
});
