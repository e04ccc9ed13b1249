// Binary frames of the carillond IPC protocol, version 1 (architecture.md §2.8; the NDJSON
// protocol itself is src/ipc/protocol.ts). They carry the two messages that dominate a
// busy CPG connection — cpg.mcast and its answer, and the deliveries — without JSON and
// without hex, which cost more CPU per message than the whole Totem stack does.
//
// A connection uses them only after hello negotiated the feature `cpg-binary` (the
// client lists it in hello.params.features and the server names it in hello's answer).
// Then, at any point where a new line could start, a NUL byte starts a frame instead; a
// JSON line never starts with NUL, so lines and frames mix on one stream:
//
//   u8  0x00          marker
//   u8  type          FrameType
//   u32 bodyBytes     little-endian, the bytes after this 6-byte header
//   body
//
// Bodies (integers little-endian):
//   cpg-mcast         client → server: u32 id, u32 handle, u32 seq, u8 flags (bit 0: seq
//                     present), u8 groupBytes (1..128), group (UTF-8), payload (the rest)
//   cpg-mcast-result  server → client: u32 id, u8 result (index in CPG_MCAST_RESULTS)
//   cpg-deliver       server → client: u32 handle, u32 nodeId, u32 pid, u8 groupBytes,
//                     group (UTF-8), payload (the rest)
//
// A cpg-mcast frame is the request { id, method: 'cpg.mcast', params: { handle, group,
// payload, seq? } }: the same rules, the same go-back-N, and its failures (bad handle,
// no services) are the same JSON error lines carrying its id. Its answer is a
// cpg-mcast-result frame. Request ids are u32 here; a client that speaks frames keeps
// all its ids below 2^32.

import { type Result, err, ok } from '../base/result';
import type { CpgMcastResultName } from './daemon-api';

/** The hello feature that turns frames on for a connection. */
export const CPG_BINARY_FEATURE = 'cpg-binary';

export const FRAME_MARKER = 0x00;
export const FRAME_HEADER_BYTES = 6;

export const FrameType = {
  cpgMcast: 1,
  cpgMcastResult: 2,
  cpgDeliver: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** cpg-mcast-result codes: the index is the wire value. */
export const CPG_MCAST_RESULTS: readonly CpgMcastResultName[] = ['queued', 'full', 'try-again', 'not-joined', 'too-large'];

/** CPG_MAX_NAME_LENGTH. */
export const FRAME_GROUP_BYTES_MAX = 128;
const U32_MAX = 0xffffffff;
const MCAST_FIXED_BYTES = 14;
const DELIVER_FIXED_BYTES = 13;
const FLAG_SEQ = 0x01;

export interface CpgMcastFrame {
  id: number;
  handle: number;
  /** undefined: the request carried no seq (no pipelining). */
  seq: number | undefined;
  /** The group name's UTF-8 bytes, a view into the body. */
  groupBytes: Uint8Array;
  /** A view into the body: copy it before the body's buffer is reused. */
  payload: Uint8Array;
}

export interface CpgDeliverFrame {
  handle: number;
  nodeId: number;
  pid: number;
  groupBytes: Uint8Array;
  payload: Uint8Array;
}

function header(type: FrameType, bodyBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame[0] = FRAME_MARKER;
  frame[1] = type;
  frame.writeUInt32LE(bodyBytes, 2);
  return frame;
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) throw new RangeError(`${what} must be a u32, got ${value}`);
}

function checkGroup(groupBytes: Uint8Array): void {
  if (groupBytes.length < 1 || groupBytes.length > FRAME_GROUP_BYTES_MAX) throw new RangeError(`a group name has 1..${FRAME_GROUP_BYTES_MAX} bytes, got ${groupBytes.length}`);
}

/** A whole cpg-mcast frame, header included. Throws RangeError for out-of-range fields (a caller's bug). */
export function encodeCpgMcastFrame(id: number, handle: number, groupBytes: Uint8Array, payload: Uint8Array, seq?: number): Buffer {
  checkU32(id, 'id');
  checkU32(handle, 'handle');
  if (seq !== undefined) checkU32(seq, 'seq');
  checkGroup(groupBytes);
  const frame = header(FrameType.cpgMcast, MCAST_FIXED_BYTES + groupBytes.length + payload.length);
  let at = FRAME_HEADER_BYTES;
  at = frame.writeUInt32LE(id, at);
  at = frame.writeUInt32LE(handle, at);
  at = frame.writeUInt32LE(seq ?? 0, at);
  frame[at++] = seq === undefined ? 0 : FLAG_SEQ;
  frame[at++] = groupBytes.length;
  frame.set(groupBytes, at);
  frame.set(payload, at + groupBytes.length);
  return frame;
}

/** A whole cpg-mcast-result frame. */
export function encodeCpgMcastResultFrame(id: number, result: CpgMcastResultName): Buffer {
  checkU32(id, 'id');
  const code = CPG_MCAST_RESULTS.indexOf(result);
  if (code < 0) throw new RangeError(`unknown mcast result ${result}`);
  const frame = header(FrameType.cpgMcastResult, 5);
  frame.writeUInt32LE(id, FRAME_HEADER_BYTES);
  frame[FRAME_HEADER_BYTES + 4] = code;
  return frame;
}

/** A whole cpg-deliver frame. */
export function encodeCpgDeliverFrame(handle: number, nodeId: number, pid: number, groupBytes: Uint8Array, payload: Uint8Array): Buffer {
  checkU32(handle, 'handle');
  checkU32(nodeId, 'nodeId');
  checkU32(pid, 'pid');
  checkGroup(groupBytes);
  const frame = header(FrameType.cpgDeliver, DELIVER_FIXED_BYTES + groupBytes.length + payload.length);
  let at = FRAME_HEADER_BYTES;
  at = frame.writeUInt32LE(handle, at);
  at = frame.writeUInt32LE(nodeId, at);
  at = frame.writeUInt32LE(pid, at);
  frame[at++] = groupBytes.length;
  frame.set(groupBytes, at);
  frame.set(payload, at + groupBytes.length);
  return frame;
}

export interface FrameError {
  /** The request id when the body was long enough to carry one. */
  id: number | null;
  message: string;
}

function view(body: Uint8Array): DataView {
  return new DataView(body.buffer, body.byteOffset, body.byteLength);
}

/** Parses a cpg-mcast body. Never throws. */
export function parseCpgMcastFrame(body: Uint8Array): Result<CpgMcastFrame, FrameError> {
  if (body.length < 4) return err({ id: null, message: `a cpg-mcast frame has at least ${MCAST_FIXED_BYTES + 1} body bytes, got ${body.length}` });
  const v = view(body);
  const id = v.getUint32(0, true);
  if (body.length < MCAST_FIXED_BYTES) return err({ id, message: `a cpg-mcast frame has at least ${MCAST_FIXED_BYTES + 1} body bytes, got ${body.length}` });
  const handle = v.getUint32(4, true);
  const seqField = v.getUint32(8, true);
  const flags = body[12] as number;
  const groupLength = body[13] as number;
  if ((flags & ~FLAG_SEQ) !== 0) return err({ id, message: `cpg-mcast: unknown flags 0x${flags.toString(16)}` });
  if (handle < 1) return err({ id, message: 'cpg-mcast: handle must be a positive integer, got 0' });
  if (groupLength < 1 || groupLength > FRAME_GROUP_BYTES_MAX) return err({ id, message: `cpg-mcast: the group name has 1..${FRAME_GROUP_BYTES_MAX} bytes, got ${groupLength}` });
  if (body.length < MCAST_FIXED_BYTES + groupLength) return err({ id, message: `cpg-mcast: the body ends inside the group name (${body.length} bytes)` });
  const groupEnd = MCAST_FIXED_BYTES + groupLength;
  return ok({
    id,
    handle,
    seq: (flags & FLAG_SEQ) === 0 ? undefined : seqField,
    groupBytes: body.subarray(MCAST_FIXED_BYTES, groupEnd),
    payload: body.subarray(groupEnd),
  });
}

/** Parses a cpg-mcast-result body. Never throws. */
export function parseCpgMcastResultFrame(body: Uint8Array): Result<{ id: number; result: CpgMcastResultName }, string> {
  if (body.length !== 5) return err(`a cpg-mcast-result frame has 5 body bytes, got ${body.length}`);
  const result = CPG_MCAST_RESULTS[body[4] as number];
  if (result === undefined) return err(`cpg-mcast-result: unknown result code ${body[4] as number}`);
  return ok({ id: view(body).getUint32(0, true), result });
}

/** Parses a cpg-deliver body. Never throws. */
export function parseCpgDeliverFrame(body: Uint8Array): Result<CpgDeliverFrame, string> {
  if (body.length < DELIVER_FIXED_BYTES) return err(`a cpg-deliver frame has at least ${DELIVER_FIXED_BYTES + 1} body bytes, got ${body.length}`);
  const v = view(body);
  const groupLength = body[12] as number;
  if (groupLength < 1 || groupLength > FRAME_GROUP_BYTES_MAX) return err(`cpg-deliver: the group name has 1..${FRAME_GROUP_BYTES_MAX} bytes, got ${groupLength}`);
  const groupEnd = DELIVER_FIXED_BYTES + groupLength;
  if (body.length < groupEnd) return err(`cpg-deliver: the body ends inside the group name (${body.length} bytes)`);
  return ok({
    handle: v.getUint32(0, true),
    nodeId: v.getUint32(4, true),
    pid: v.getUint32(8, true),
    groupBytes: body.subarray(DELIVER_FIXED_BYTES, groupEnd),
    payload: body.subarray(groupEnd),
  });
}

/**
 * Group names between text and UTF-8 for frames, remembering the last one: a busy
 * connection nearly always names the same group, so it is converted once.
 */
export class GroupNameCodec {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private last: { text: string; bytes: Buffer } | null = null;

  /** The text of a frame's group bytes; null when they are not UTF-8. */
  decode(bytes: Uint8Array): string | null {
    const last = this.last;
    if (last !== null && last.bytes.equals(bytes)) return last.text;
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      return null;
    }
    this.last = { text, bytes: Buffer.from(bytes) };
    return text;
  }

  encode(text: string): Buffer {
    const last = this.last;
    if (last !== null && last.text === text) return last.bytes;
    const bytes = Buffer.from(text, 'utf8');
    this.last = { text, bytes };
    return bytes;
  }
}

/** Lines and frames as one socket write: a string when all are lines, else one Buffer. */
export function joinOutput(items: ReadonlyArray<string | Buffer>): string | Buffer {
  if (items.length === 1) return items[0] as string | Buffer;
  if (items.every((item) => typeof item === 'string')) return items.join('');
  return Buffer.concat(items.map((item) => (typeof item === 'string' ? Buffer.from(item) : item)));
}

/** Where an IpcStreamReader hands what it cut; each returns false to stop reading. */
export interface IpcStreamSink {
  /** One line without its '\n' (may end in '\r'); a view that is only valid during the call. */
  line(bytes: Buffer): boolean;
  /** One frame's body; a view that is only valid during the call. */
  frame(type: number, body: Buffer): boolean;
  /** A line or frame is longer than the limit; nothing more is read. */
  tooLong(bytes: number): void;
}

/**
 * Cuts a byte stream into NDJSON lines and (once `framesEnabled()` says so) binary
 * frames. Bounded: a line or a frame body above `bytesMax` stops the reader.
 */
export class IpcStreamReader {
  private readonly bytesMax: number;
  private readonly framesEnabled: () => boolean;
  /** Pieces of an unfinished line or frame. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** What is being collected: a line, a frame (header still incomplete: bodyBytes -1). */
  private inFrame = false;
  private frameType = 0;
  private frameBodyBytes = -1;
  private stopped = false;

  constructor(bytesMax: number, framesEnabled: () => boolean) {
    this.bytesMax = bytesMax;
    this.framesEnabled = framesEnabled;
  }

  /** Drops whatever is unfinished and ignores all further input. */
  stop(): void {
    this.stopped = true;
    this.partial = [];
    this.partialBytes = 0;
  }

  feed(chunk: Buffer, sink: IpcStreamSink): void {
    let at = 0;
    while (!this.stopped && at < chunk.length) {
      if (this.inFrame) at = this.feedFrame(chunk, at, sink);
      else if (this.partialBytes === 0 && chunk[at] === FRAME_MARKER && this.framesEnabled()) {
        this.inFrame = true;
        this.frameBodyBytes = -1;
      } else at = this.feedLine(chunk, at, sink);
    }
  }

  private feedLine(chunk: Buffer, at: number, sink: IpcStreamSink): number {
    const newline = chunk.indexOf(0x0a, at);
    const end = newline === -1 ? chunk.length : newline;
    if (this.partialBytes + (end - at) > this.bytesMax) return this.fail(this.partialBytes + (end - at), sink);
    if (newline === -1) {
      this.partial.push(chunk.subarray(at));
      this.partialBytes += chunk.length - at;
      return chunk.length;
    }
    const piece = chunk.subarray(at, newline);
    const line = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
    this.partial = [];
    this.partialBytes = 0;
    if (!sink.line(line)) this.stopped = true;
    return newline + 1;
  }

  private feedFrame(chunk: Buffer, at: number, sink: IpcStreamSink): number {
    if (this.frameBodyBytes < 0) {
      // Header: usually whole in this chunk, else gathered across chunks.
      const need = FRAME_HEADER_BYTES - this.partialBytes;
      if (this.partialBytes === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
        this.startBody(chunk.subarray(at, at + FRAME_HEADER_BYTES));
        at += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(need, chunk.length - at);
        this.partial.push(chunk.subarray(at, at + take));
        this.partialBytes += take;
        at += take;
        if (this.partialBytes < FRAME_HEADER_BYTES) return at;
        const head = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
        this.startBody(head);
      }
      if (this.frameBodyBytes > this.bytesMax) return this.fail(this.frameBodyBytes, sink);
    }
    const need = this.frameBodyBytes - this.partialBytes;
    if (this.partialBytes === 0 && chunk.length - at >= need) {
      this.finishFrame(chunk.subarray(at, at + need), sink);
      return at + need;
    }
    const take = Math.min(need, chunk.length - at);
    this.partial.push(chunk.subarray(at, at + take));
    this.partialBytes += take;
    at += take;
    if (this.partialBytes === this.frameBodyBytes) {
      const body = Buffer.concat(this.partial);
      this.partial = [];
      this.partialBytes = 0;
      this.finishFrame(body, sink);
    }
    return at;
  }

  private startBody(head: Buffer): void {
    this.frameType = head[1] as number;
    this.frameBodyBytes = head.readUInt32LE(2);
  }

  private finishFrame(body: Buffer, sink: IpcStreamSink): void {
    this.inFrame = false;
    this.frameBodyBytes = -1;
    if (!sink.frame(this.frameType, body)) this.stopped = true;
  }

  private fail(bytes: number, sink: IpcStreamSink): number {
    this.stop();
    sink.tooLong(bytes);
    return Number.MAX_SAFE_INTEGER;
  }
}
