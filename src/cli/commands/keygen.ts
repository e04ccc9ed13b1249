// `carillon keygen [-k FILE] [-s BYTES] [--force] [--json]` — corosync-keygen for
// Carillon (architecture.md §2.5, §3.3 "Secrets hygiene"; corosync tools/corosync-keygen.c):
// writes 256 random bytes (crypto.randomBytes, i.e. the kernel's getrandom, as
// corosync-keygen reads /dev/urandom) to /etc/carillon/authkey with mode 0400, the key
// CryptoTransport derives its AES-256-GCM keys from. Copy the file to every node.
//
// Differences from corosync-keygen: an existing key is never overwritten without
// --force (replacing a key on one node cuts it off the ring), the write is atomic
// (runtime/authkey.ts writeAuthkey), and --json prints one object for scripts.
//
// Exit status: 0 written; 1 not written (exists, cannot write, bad size); commander
// exits 2 for usage errors.

import * as crypto from 'node:crypto';
import { AuthkeyError, AuthkeyLimits, DEFAULT_AUTHKEY_PATH, writeAuthkey } from '../../runtime/authkey';
import type { CommandIo } from './wire-decode';

export interface KeygenOptions {
  readonly file?: string;
  /** Key length in bytes; default 256 (corosync-keygen -s). */
  readonly size?: number;
  readonly force?: boolean;
  readonly json?: boolean;
}

export interface KeygenDeps {
  /** Default crypto.randomBytes. */
  readonly randomBytes?: (size: number) => Uint8Array;
}

export const KeygenExit = { ok: 0, failed: 1 } as const;

const COMMAND = 'carillon keygen';

export async function runKeygen(options: KeygenOptions, io: CommandIo, deps: KeygenDeps = {}): Promise<number> {
  const file = options.file ?? DEFAULT_AUTHKEY_PATH;
  const size = options.size ?? AuthkeyLimits.bytesDefault;
  const fail = (code: string, message: string): number => {
    if (options.json === true) io.out(JSON.stringify({ file, written: false, error: { code, message } }));
    else io.err(`${COMMAND}: ${message}`);
    return KeygenExit.failed;
  };
  if (!Number.isInteger(size) || size < AuthkeyLimits.bytesMin || size > AuthkeyLimits.bytesMax) {
    return fail('AUTHKEY_SIZE', `unsupported key size ${size} (supported ${AuthkeyLimits.bytesMin}–${AuthkeyLimits.bytesMax} bytes)`);
  }
  const key = (deps.randomBytes ?? ((n: number) => crypto.randomBytes(n)))(size);
  try {
    await writeAuthkey(file, key, { force: options.force === true });
  } catch (e) {
    if (e instanceof AuthkeyError) return fail(e.code, e.message);
    throw e;
  } finally {
    key.fill(0);
  }
  if (options.json === true) {
    io.out(JSON.stringify({ file, written: true, bytes: size, bits: size * 8, mode: '0400' }));
  } else {
    io.out(`${COMMAND}: wrote a ${size * 8}-bit key to ${file} (mode 0400); copy it to every node (same path, mode 0400, owned by the carillond user)`);
  }
  return KeygenExit.ok;
}
