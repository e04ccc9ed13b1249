// The RingIdStore port and its adapters (architecture.md §2.4, corosync-wire.md §3.1
// "Ring-seq persistence"; corosync exec/main.c corosync_ring_id_create_or_load and
// corosync_ring_id_store).
//
// corosync keeps the highest ring seq of node N in `<state_dir>/ringid_<N>`: 8 bytes,
// the u64 in host order (little-endian on every platform corosync ships on). We write
// exactly that, always little-endian, so an operator can move a corosync state dir over
// and keep the ring seqs increasing across the switch.
//
// Synchronous on purpose: the driver must persist a new ring seq BEFORE it sends any
// datagram of the same batch, from inside its effects loop. An fsync'd write of 8 bytes
// is short; an await there would let other I/O interleave with the persist-then-send
// contract.
//
// Durability (stronger than corosync's creat+write without fsync): write a temporary
// file, fsync it, rename it over the old one, fsync the directory. A crash leaves either
// the old or the new value, never a torn or empty file.
//
// Corrupt file (size ≠ 8): corosync silently starts again from 0 and overwrites it. We
// also continue from 0 — refusing to start would turn a damaged state file into an
// outage — but the damaged file is renamed aside (ringid_<N>.corrupt-<time>) rather than
// lost, and the event is logged at error level with a typed error, because seqs may now
// go backwards for this node. `onCorrupt: 'throw'` makes it fatal instead, for an
// operator who prefers not to start.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert } from '../base/assert';

export interface RingIdStore {
  /** The stored ring seq of `nodeId`, 0n when there is none. */
  load(nodeId: number): bigint;
  /** Persists `seq` durably before returning; throws RingIdStoreError when it cannot. */
  store(nodeId: number, seq: bigint): void;
}

export const RingIdStoreErrorCode = {
  corrupt: 'RING_ID_CORRUPT',
  read: 'RING_ID_READ',
  write: 'RING_ID_WRITE',
  stateDir: 'RING_ID_STATE_DIR',
} as const;
export type RingIdStoreErrorCodeName = (typeof RingIdStoreErrorCode)[keyof typeof RingIdStoreErrorCode];

export class RingIdStoreError extends Error {
  readonly code: RingIdStoreErrorCodeName;
  readonly file: string;

  constructor(code: RingIdStoreErrorCodeName, file: string, message: string) {
    super(message);
    this.name = 'RingIdStoreError';
    this.code = code;
    this.file = file;
  }
}

/** The file holds exactly one u64. */
export const RING_ID_FILE_BYTES = 8;

const U64_MAX = (1n << 64n) - 1n;

export type RingIdStoreLog = (level: 'error' | 'warning' | 'debug', message: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface FileRingIdStoreOptions {
  /** carillon.state_dir; created (mode 0700) when missing. */
  readonly stateDir: string;
  readonly log?: RingIdStoreLog;
  /** What load() does with a file of the wrong size; default 'set-aside'. */
  readonly onCorrupt?: 'set-aside' | 'throw';
  /** For the name of a set-aside file; default Date.now. */
  readonly now?: () => number;
}

function assertArgs(nodeId: number, seq?: bigint): void {
  assert(Number.isInteger(nodeId) && nodeId >= 0 && nodeId <= 0xffffffff, `nodeid ${nodeId} is not a u32`);
  if (seq !== undefined) assert(seq >= 0n && seq <= U64_MAX, `ring seq ${seq} is not a u64`);
}

function errnoText(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

function isEnoent(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && e.code === 'ENOENT';
}

export class FileRingIdStore implements RingIdStore {
  readonly stateDir: string;
  private readonly log: RingIdStoreLog;
  private readonly onCorrupt: 'set-aside' | 'throw';
  private readonly now: () => number;
  private dirReady = false;

  constructor(options: FileRingIdStoreOptions) {
    this.stateDir = options.stateDir;
    this.log = options.log ?? (() => undefined);
    this.onCorrupt = options.onCorrupt ?? 'set-aside';
    this.now = options.now ?? Date.now;
  }

  fileOf(nodeId: number): string {
    return path.join(this.stateDir, `ringid_${nodeId}`);
  }

  load(nodeId: number): bigint {
    assertArgs(nodeId);
    const file = this.fileOf(nodeId);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      if (isEnoent(e)) return 0n;
      throw new RingIdStoreError(RingIdStoreErrorCode.read, file, `cannot read ${file}: ${errnoText(e)}`);
    }
    if (bytes.length === RING_ID_FILE_BYTES) return bytes.readBigUInt64LE(0);
    const error = new RingIdStoreError(
      RingIdStoreErrorCode.corrupt,
      file,
      `${file} holds ${bytes.length} bytes instead of ${RING_ID_FILE_BYTES} (a u64 ring seq)`,
    );
    if (this.onCorrupt === 'throw') throw error;
    const aside = `${file}.corrupt-${this.now()}`;
    try {
      fs.renameSync(file, aside);
    } catch (e) {
      throw new RingIdStoreError(RingIdStoreErrorCode.write, file, `${error.message}; cannot move it aside to ${aside}: ${errnoText(e)}`);
    }
    this.log('error', `${error.message}: moved it to ${aside} and continuing from ring seq 0, as corosync does; this node's ring seqs may repeat older ones`, {
      code: error.code,
      file,
      aside,
    });
    return 0n;
  }

  store(nodeId: number, seq: bigint): void {
    assertArgs(nodeId, seq);
    this.ensureStateDir();
    const file = this.fileOf(nodeId);
    const temp = `${file}.tmp-${process.pid}`;
    const bytes = Buffer.alloc(RING_ID_FILE_BYTES);
    bytes.writeBigUInt64LE(seq, 0);
    try {
      // 'w' (not 'wx'): a temp file left by a crash of this same pid number is stale.
      const fd = fs.openSync(temp, 'w', 0o600);
      try {
        fs.writeSync(fd, bytes, 0, bytes.length, 0);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, file);
      fsyncDirectory(this.stateDir);
    } catch (e) {
      try {
        fs.unlinkSync(temp);
      } catch {
        // Already renamed or never created.
      }
      throw new RingIdStoreError(RingIdStoreErrorCode.write, file, `cannot store ring seq ${seq} in ${file}: ${errnoText(e)}`);
    }
    this.log('debug', `Storing new sequence id for ring ${seq.toString(16)}`, { file });
  }

  private ensureStateDir(): void {
    if (this.dirReady) return;
    try {
      fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new RingIdStoreError(RingIdStoreErrorCode.stateDir, this.stateDir, `cannot create the state directory ${this.stateDir}: ${errnoText(e)}`);
    }
    this.dirReady = true;
  }
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** In-memory store for tests and the simulator-driven daemon tests; records every write. */
export class MemoryRingIdStore implements RingIdStore {
  private readonly seqs = new Map<number, bigint>();
  readonly writes: Array<{ nodeId: number; seq: bigint }> = [];

  constructor(initial: Readonly<Record<number, bigint>> = {}) {
    for (const [nodeId, seq] of Object.entries(initial)) this.seqs.set(Number(nodeId), seq);
  }

  load(nodeId: number): bigint {
    assertArgs(nodeId);
    return this.seqs.get(nodeId) ?? 0n;
  }

  store(nodeId: number, seq: bigint): void {
    assertArgs(nodeId, seq);
    this.seqs.set(nodeId, seq);
    this.writes.push({ nodeId, seq });
  }
}
