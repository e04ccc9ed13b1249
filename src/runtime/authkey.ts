// The authkey file (architecture.md §2.5 CryptoTransport, §3.3 "Secrets hygiene";
// corosync exec/totemconfig.c read_keyfile, tools/corosync-keygen.c).
//
// Facts from corosync 3.1.7: the key is the raw bytes of the file; it must hold at least
// TOTEM_PRIVATE_KEY_LEN_MIN = KNET_MIN_KEY_LEN = 128 bytes (1024 bits: "Could only read
// %d bits of minimum %u bits"); at most TOTEM_PRIVATE_KEY_LEN_MAX = KNET_MAX_KEY_LEN =
// 4096 bytes are read; corosync-keygen writes 256 bytes from /dev/urandom with mode 0400.
//
// Carillon is stricter, like ssh with private keys:
//   - a file that group or others may access at all (mode & 0o077) is refused, with the
//     exact mode and the chmod that fixes it;
//   - a file owned by another user than the daemon's (or root) is refused: that user
//     could replace the key;
//   - a file larger than 4096 bytes is refused instead of silently truncated (it is
//     almost certainly not an authkey);
//   - writing never clobbers an existing key unless forced, and is atomic (temporary
//     file with mode 0400, fsync, then link/rename), so a crash never leaves a partial
//     key that nodes would disagree on.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const AuthkeyLimits = {
  /** TOTEM_PRIVATE_KEY_LEN_MIN (KNET_MIN_KEY_LEN): 1024 bits. */
  bytesMin: 128,
  /** TOTEM_PRIVATE_KEY_LEN_MAX (KNET_MAX_KEY_LEN). */
  bytesMax: 4096,
  /** What corosync-keygen (DEFAULT_KEYFILE_LEN) and `carillon keygen` write. */
  bytesDefault: 256,
  /** What `carillon keygen` creates; read-only for its owner, as corosync-keygen. */
  mode: 0o400,
} as const;

export const DEFAULT_AUTHKEY_PATH = '/etc/carillon/authkey';

export const AuthkeyErrorCode = {
  missing: 'AUTHKEY_MISSING',
  unreadable: 'AUTHKEY_UNREADABLE',
  notAFile: 'AUTHKEY_NOT_A_FILE',
  permissions: 'AUTHKEY_PERMISSIONS',
  owner: 'AUTHKEY_OWNER',
  size: 'AUTHKEY_SIZE',
  exists: 'AUTHKEY_EXISTS',
  write: 'AUTHKEY_WRITE',
} as const;
export type AuthkeyErrorCodeName = (typeof AuthkeyErrorCode)[keyof typeof AuthkeyErrorCode];

export class AuthkeyError extends Error {
  readonly code: AuthkeyErrorCodeName;
  readonly file: string;

  constructor(code: AuthkeyErrorCodeName, file: string, message: string) {
    super(message);
    this.name = 'AuthkeyError';
    this.code = code;
    this.file = file;
  }
}

function errnoOf(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

function sizeProblem(file: string, size: number): AuthkeyError | null {
  if (size >= AuthkeyLimits.bytesMin && size <= AuthkeyLimits.bytesMax) return null;
  const what = size < AuthkeyLimits.bytesMin ? `at least ${AuthkeyLimits.bytesMin} bytes (${AuthkeyLimits.bytesMin * 8} bits, as corosync requires)` : `at most ${AuthkeyLimits.bytesMax} bytes`;
  return new AuthkeyError(
    AuthkeyErrorCode.size,
    file,
    `${file} holds ${size} bytes (${size * 8} bits); an authkey has ${what}: create one with \`carillon keygen -k ${file}\` (${AuthkeyLimits.bytesDefault} random bytes)`,
  );
}

export interface ReadAuthkeyOptions {
  /** The uid that must own the file besides root; default the process's effective uid. */
  readonly ownerUid?: number | null;
}

/**
 * Reads and checks an authkey file (see the file header). Rejects with an AuthkeyError
 * whose message says what is wrong and how to fix it. The caller should zero the bytes
 * (`fill(0)`) once the keys are derived.
 */
export async function readAuthkey(file: string, options: ReadAuthkeyOptions = {}): Promise<Uint8Array> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') {
      throw new AuthkeyError(AuthkeyErrorCode.missing, file, `no authkey at ${file}: create one with \`carillon keygen -k ${file}\` and copy it to every node`);
    }
    throw new AuthkeyError(AuthkeyErrorCode.unreadable, file, `cannot open the authkey ${file}: ${code}`);
  }
  try {
    // fstat on the opened file: what we check is what we read (no check/use race).
    const stat = await handle.stat();
    if (!stat.isFile()) throw new AuthkeyError(AuthkeyErrorCode.notAFile, file, `the authkey ${file} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new AuthkeyError(
        AuthkeyErrorCode.permissions,
        file,
        `the authkey ${file} has mode ${octal(stat.mode)}: group and others must have no access (like ssh keys); run \`chmod 0400 ${file}\``,
      );
    }
    const ownerUid = options.ownerUid === undefined ? (process.geteuid?.() ?? null) : options.ownerUid;
    if (ownerUid !== null && stat.uid !== ownerUid && stat.uid !== 0) {
      throw new AuthkeyError(
        AuthkeyErrorCode.owner,
        file,
        `the authkey ${file} is owned by uid ${stat.uid}, not by uid ${ownerUid} (this process) or root: that user could replace it; run \`chown ${ownerUid} ${file}\``,
      );
    }
    const sizeError = sizeProblem(file, stat.size);
    if (sizeError !== null) throw sizeError;
    // One byte more than allowed: detects a file that grew since fstat.
    const buffer = Buffer.alloc(AuthkeyLimits.bytesMax + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    const again = sizeProblem(file, length);
    if (again !== null) {
      buffer.fill(0);
      throw again;
    }
    const key = new Uint8Array(length);
    key.set(buffer.subarray(0, length));
    buffer.fill(0);
    return key;
  } finally {
    await handle.close();
  }
}

export interface WriteAuthkeyOptions {
  /** Replace an existing file. */
  readonly force?: boolean;
}

/**
 * Writes `bytes` as a new authkey with mode 0400, atomically: a temporary file in the
 * same directory (created 0400, written, fsync'd), then link() to the final name when it
 * must not exist (atomic no-clobber) or rename() over it when forced, then an fsync of
 * the directory.
 */
export async function writeAuthkey(file: string, bytes: Uint8Array, options: WriteAuthkeyOptions = {}): Promise<void> {
  const sizeError = sizeProblem(file, bytes.length);
  if (sizeError !== null) throw sizeError;
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const force = options.force ?? false;
  if (!force && (await exists(file))) {
    throw new AuthkeyError(AuthkeyErrorCode.exists, file, `${file} already exists; use --force to replace it (every node needs the same key)`);
  }
  try {
    const handle = await fs.promises.open(temp, 'wx', AuthkeyLimits.mode);
    try {
      // The umask cannot add bits, but be explicit as corosync-keygen (fchmod 0400).
      await handle.chmod(AuthkeyLimits.mode);
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (force) {
      await fs.promises.rename(temp, file);
    } else {
      await fs.promises.link(temp, file);
      await fs.promises.unlink(temp);
    }
    const dirHandle = await fs.promises.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (e) {
    await fs.promises.unlink(temp).catch(() => undefined);
    const code = errnoOf(e);
    if (code === 'EEXIST') {
      throw new AuthkeyError(AuthkeyErrorCode.exists, file, `${file} already exists; use --force to replace it (every node needs the same key)`);
    }
    const hint = code === 'ENOENT' ? ` (does the directory ${dir} exist? create it with \`install -d -m 0755 ${dir}\`)` : '';
    throw new AuthkeyError(AuthkeyErrorCode.write, file, `cannot write the authkey ${file}: ${code}${hint}`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.lstat(file);
    return true;
  } catch {
    return false;
  }
}
