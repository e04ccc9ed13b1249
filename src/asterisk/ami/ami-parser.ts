// Framing of the Asterisk Manager Interface byte stream (res-corosync.md §2.1,
// asterisk-groundtruth.md §2): on connect the server sends one banner line,
// `Asterisk Call Manager/9.0.0\r\n`, with no empty line after it; then messages follow,
// each a run of `Key: Value` lines ended by an empty line. The parser is pure (no
// sockets, no timers): push() takes whatever chunk the socket delivered — split anywhere,
// even between CR and LF — and returns the banner, messages and discard notices it
// completed.
//
// What it tolerates, because Asterisk does (ground truth §2 "Header parsing",
// "Malformed requests"): bare-LF line ends, a line without a colon (skipped and counted),
// colons inside values, empty values (`Version: `), any header-name case. Bytes are decoded
// as UTF-8 with U+FFFD for invalid sequences: Asterisk passes through whatever bytes its
// channel drivers and dialplan produced (often latin-1), and a decoder must not fail on
// them.
//
// What it bounds, because the peer is not trusted: a line longer than lineBytesMax and a
// message larger than messageBytesMax or with more than headersMax headers are discarded
// up to their terminating empty line and counted. At most lineBytesMax + 1 bytes of an
// unfinished line and messageBytesMax bytes of an unfinished message are ever held.
//
// The old `Response: Follows` form of `Command` (raw text up to `--END COMMAND--`, Asterisk
// < 14) is not supported: Asterisk 14+ sends one `Output:` header per line instead.
//
// formatAmiAction() is the matching writer for actions, with a header-injection guard and
// Asterisk's own 1 KiB line limit.

import { AmiMessage, type AmiHeader } from './ami-message';

export const AmiParserDefaults = {
  /** Longest line content (without CR LF). Real lines are < 1 KiB; Command output lines are short. */
  lineBytesMax: 64 * 1024,
  /** Largest message (all its line bytes, terminators included). */
  messageBytesMax: 1024 * 1024,
  /** Most headers in one message (a long `Command` output has one header per line). */
  headersMax: 4096,
} as const;

export interface AmiParserOptions {
  /** The first line of the stream is the server banner (true for a client; false to parse client actions). */
  readonly expectBanner?: boolean;
  readonly lineBytesMax?: number;
  readonly messageBytesMax?: number;
  readonly headersMax?: number;
}

export const AmiDiscardReason = {
  lineTooLong: 'line-too-long',
  messageTooLarge: 'message-too-large',
  tooManyHeaders: 'too-many-headers',
} as const;
export type AmiDiscardReason = (typeof AmiDiscardReason)[keyof typeof AmiDiscardReason];

export type AmiParserItem =
  /** The first line of the stream; `truncated` when it was longer than lineBytesMax. */
  | { readonly kind: 'banner'; readonly line: string; readonly truncated: boolean }
  | { readonly kind: 'message'; readonly message: AmiMessage }
  /** An oversize message was dropped; `bytes` counts its bytes up to and including the empty line. */
  | { readonly kind: 'discarded'; readonly reason: AmiDiscardReason; readonly bytes: number };

export interface AmiParserStats {
  readonly bytesReceived: number;
  readonly messages: number;
  /** Lines without a colon (or with an empty name): skipped, as Asterisk does. */
  readonly malformedLines: number;
  /** Lines longer than lineBytesMax (their message is discarded too). */
  readonly oversizeLines: number;
  /** Messages discarded for any limit (line, size, header count). */
  readonly oversizeMessages: number;
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

const EMPTY_LINE = new Uint8Array(0);

export class AmiParser {
  private readonly lineBytesMax: number;
  private readonly messageBytesMax: number;
  private readonly headersMax: number;
  private readonly expectBanner: boolean;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  private awaitingBanner: boolean;
  /** Pieces of the unfinished line (copies: the caller may reuse its chunk). */
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  /** Dropping bytes up to the next LF: the rest of an overlong line. */
  private skippingLine = false;
  /** The line being skipped is the banner: its bytes belong to no message. */
  private skippingBanner = false;
  private headers: AmiHeader[] = [];
  /** Line bytes of the current message so far, terminators included. */
  private messageBytes = 0;
  /** Set while the current message is being dropped up to its empty line. */
  private discarding: AmiDiscardReason | null = null;

  private counters = { bytesReceived: 0, messages: 0, malformedLines: 0, oversizeLines: 0, oversizeMessages: 0 };

  constructor(options: AmiParserOptions = {}) {
    this.lineBytesMax = positive(options.lineBytesMax ?? AmiParserDefaults.lineBytesMax, 'lineBytesMax');
    this.messageBytesMax = positive(options.messageBytesMax ?? AmiParserDefaults.messageBytesMax, 'messageBytesMax');
    this.headersMax = positive(options.headersMax ?? AmiParserDefaults.headersMax, 'headersMax');
    this.expectBanner = options.expectBanner ?? true;
    this.awaitingBanner = this.expectBanner;
  }

  /** Feeds one chunk; returns what it completed, in stream order. Never throws on any bytes. */
  push(chunk: Uint8Array): AmiParserItem[] {
    const out: AmiParserItem[] = [];
    this.counters.bytesReceived += chunk.length;
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.holdPartial(chunk.subarray(start), out);
        break;
      }
      const piece = chunk.subarray(start, lf);
      start = lf + 1;
      if (this.skippingLine) {
        // The overlong line ends here; its message (if any) is already being discarded.
        this.skippingLine = false;
        if (!this.skippingBanner) this.messageBytes += piece.length + 1;
        this.skippingBanner = false;
        continue;
      }
      const total = this.partialBytes + piece.length;
      if (total > this.lineBytesMax + 1) {
        // Too long even if it ends in CR: never assemble it.
        this.lineTooLong(piece, total + 1, out);
        continue;
      }
      let line: Uint8Array;
      if (this.partialBytes === 0) {
        line = piece;
      } else {
        this.partial.push(piece);
        line = concat(this.partial, total);
        this.partial = [];
        this.partialBytes = 0;
      }
      const rawBytes = line.length + 1;
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      if (line.length > this.lineBytesMax) {
        this.lineTooLong(line, rawBytes, out);
        continue;
      }
      this.handleLine(line, rawBytes, out);
    }
    return out;
  }

  /** Forgets any unfinished line or message (a new connection); counters are kept. */
  reset(): void {
    this.awaitingBanner = this.expectBanner;
    this.partial = [];
    this.partialBytes = 0;
    this.skippingLine = false;
    this.skippingBanner = false;
    this.headers = [];
    this.messageBytes = 0;
    this.discarding = null;
  }

  stats(): AmiParserStats {
    return { ...this.counters };
  }

  /** Bytes held for an unfinished line (bounded by lineBytesMax + 1). */
  bufferedLineBytes(): number {
    return this.partialBytes;
  }

  /** Headers held for an unfinished message (bounded by headersMax). */
  bufferedHeaders(): number {
    return this.headers.length;
  }

  private holdPartial(piece: Uint8Array, out: AmiParserItem[]): void {
    if (piece.length === 0) return;
    if (this.skippingLine) {
      if (!this.skippingBanner) this.messageBytes += piece.length;
      return;
    }
    const total = this.partialBytes + piece.length;
    // +1: the last byte may be the CR of a CRLF whose LF is in the next chunk.
    if (total > this.lineBytesMax + 1) {
      this.skippingBanner = this.awaitingBanner;
      this.lineTooLong(piece, total, out);
      this.skippingLine = true;
      return;
    }
    this.partial.push(piece.slice());
    this.partialBytes = total;
  }

  /**
   * An overlong line: the held partial pieces plus `last` (`bytes` counted so far, for the
   * discard notice; the same total whatever the chunking). Only a banner
   * keeps anything (its first lineBytesMax bytes, so the client can say what it got).
   */
  private lineTooLong(last: Uint8Array, bytes: number, out: AmiParserItem[]): void {
    this.counters.oversizeLines += 1;
    const pieces = [...this.partial, last];
    this.partial = [];
    this.partialBytes = 0;
    if (this.awaitingBanner) {
      this.awaitingBanner = false;
      out.push({ kind: 'banner', line: this.decoder.decode(prefix(pieces, this.lineBytesMax)), truncated: true });
      return;
    }
    this.messageBytes += bytes;
    this.startDiscarding(AmiDiscardReason.lineTooLong);
  }

  private handleLine(line: Uint8Array, rawBytes: number, out: AmiParserItem[]): void {
    if (this.awaitingBanner) {
      this.awaitingBanner = false;
      out.push({ kind: 'banner', line: this.decoder.decode(line), truncated: false });
      return;
    }
    if (line.length === 0) {
      this.messageBytes += rawBytes;
      this.endMessage(out);
      return;
    }
    this.messageBytes += rawBytes;
    if (this.discarding !== null) return;
    if (this.messageBytes > this.messageBytesMax) {
      this.startDiscarding(AmiDiscardReason.messageTooLarge);
      return;
    }
    const colon = line.indexOf(COLON);
    const name = colon <= 0 ? '' : this.decoder.decode(line.subarray(0, colon)).trim();
    if (name === '') {
      // Asterisk ignores such a line (ground truth §2); so do we, but we count it.
      this.counters.malformedLines += 1;
      return;
    }
    if (this.headers.length >= this.headersMax) {
      this.startDiscarding(AmiDiscardReason.tooManyHeaders);
      return;
    }
    // Exactly one space after the colon belongs to the framing; more is content (a
    // `Command` Output line keeps the CLI's indentation).
    let valueStart = colon + 1;
    if (line[valueStart] === SPACE) valueStart += 1;
    this.headers.push([name, this.decoder.decode(line.subarray(valueStart))]);
  }

  private startDiscarding(reason: AmiDiscardReason): void {
    if (this.discarding !== null) return;
    this.discarding = reason;
    this.headers = [];
  }

  private endMessage(out: AmiParserItem[]): void {
    if (this.discarding !== null) {
      this.counters.oversizeMessages += 1;
      out.push({ kind: 'discarded', reason: this.discarding, bytes: this.messageBytes });
    } else if (this.headers.length > 0) {
      this.counters.messages += 1;
      out.push({ kind: 'message', message: new AmiMessage(this.headers) });
    }
    // Else only colon-less lines or a stray empty line: nothing to deliver.
    this.headers = [];
    this.messageBytes = 0;
    this.discarding = null;
  }
}

function concat(pieces: readonly Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1 && pieces[0] !== undefined) return pieces[0];
  if (total === 0) return EMPTY_LINE;
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** The first `max` bytes of the concatenation of `pieces`. */
function prefix(pieces: readonly Uint8Array[], max: number): Uint8Array {
  const out = new Uint8Array(Math.min(max, pieces.reduce((sum, piece) => sum + piece.length, 0)));
  let at = 0;
  for (const piece of pieces) {
    if (at >= out.length) break;
    const take = piece.subarray(0, out.length - at);
    out.set(take, at);
    at += take.length;
  }
  return out;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`AmiParser: ${name} must be a positive integer, got ${value}`);
  return value;
}

/** The banner `Asterisk Call Manager/<version>`, or null for anything else (not an AMI port). */
export function parseAmiBanner(line: string): { readonly product: string; readonly version: string } | null {
  const match = /^(Asterisk Call Manager)\/(\S+)\s*$/.exec(line);
  if (match === null || match[1] === undefined || match[2] === undefined) return null;
  return { product: match[1], version: match[2] };
}

export const AmiFormatErrorCode = {
  /** A CR, LF or NUL inside a name or value: it would end the header early and smuggle in others. */
  headerInjection: 'AMI_HEADER_INJECTION',
  /** An empty header name, or one with a colon, space or control character. */
  badHeaderName: 'AMI_BAD_HEADER_NAME',
  /** `Action` / `ActionID` among the fields: the writer owns those. */
  reservedHeader: 'AMI_RESERVED_HEADER',
  /** A header line longer than Asterisk reads: it would discard the whole action. */
  lineTooLong: 'AMI_LINE_TOO_LONG',
} as const;
export type AmiFormatErrorCode = (typeof AmiFormatErrorCode)[keyof typeof AmiFormatErrorCode];

/** An action that cannot be written safely; nothing was sent. */
export class AmiFormatError extends Error {
  readonly code: AmiFormatErrorCode;
  /** The offending header name (or `Action` / `ActionID`). */
  readonly header: string;
  constructor(code: AmiFormatErrorCode, header: string, message: string) {
    super(message);
    this.name = 'AmiFormatError';
    this.code = code;
    this.header = header;
  }
}

/**
 * Longest action line, CRLF included, that Asterisk accepts: its per-session input buffer
 * (manager.c, mansession_session.inbuf) holds 1024 bytes, and a line that does not fit
 * makes it drop the whole action as "line too long" — not something to find out by a
 * timeout.
 */
export const AMI_ACTION_LINE_BYTES_MAX = 1024;

/** Printable ASCII without space and colon: what a header name may contain. */
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const LINE_BREAKING = /[\r\n\0]/;

function checkValue(header: string, value: string): void {
  if (LINE_BREAKING.test(value)) {
    throw new AmiFormatError(AmiFormatErrorCode.headerInjection, header, `AMI header ${JSON.stringify(header)}: the value contains CR, LF or NUL`);
  }
}

export interface FormatAmiActionOptions {
  /** Longest header line in bytes, CRLF included; default AMI_ACTION_LINE_BYTES_MAX. */
  readonly lineBytesMax?: number;
}

/**
 * The wire text of an action: `Action:`, `ActionID:`, the fields in order, an empty line.
 * Throws AmiFormatError when a name or value would break the framing or overflow
 * Asterisk's line buffer; nothing is half-written.
 */
export function formatAmiAction(
  action: string,
  fields: ReadonlyArray<readonly [string, string]>,
  actionId: string,
  options: FormatAmiActionOptions = {},
): string {
  const lineBytesMax = options.lineBytesMax ?? AMI_ACTION_LINE_BYTES_MAX;
  const line = (name: string, value: string): string => {
    const text = `${name}: ${value}\r\n`;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > lineBytesMax) {
      throw new AmiFormatError(AmiFormatErrorCode.lineTooLong, name, `AMI header ${name} would be a ${bytes}-byte line; Asterisk reads at most ${lineBytesMax}`);
    }
    return text;
  };
  if (action === '' || !HEADER_NAME.test(action)) {
    throw new AmiFormatError(LINE_BREAKING.test(action) ? AmiFormatErrorCode.headerInjection : AmiFormatErrorCode.badHeaderName, 'Action', `AMI action name ${JSON.stringify(action)} is not a valid name`);
  }
  if (actionId === '') throw new AmiFormatError(AmiFormatErrorCode.badHeaderName, 'ActionID', 'AMI ActionID must not be empty');
  checkValue('ActionID', actionId);
  let text = line('Action', action) + line('ActionID', actionId);
  for (const [name, value] of fields) {
    if (LINE_BREAKING.test(name)) {
      throw new AmiFormatError(AmiFormatErrorCode.headerInjection, name, `AMI header name ${JSON.stringify(name)} contains CR, LF or NUL`);
    }
    if (!HEADER_NAME.test(name)) {
      throw new AmiFormatError(AmiFormatErrorCode.badHeaderName, name, `AMI header name ${JSON.stringify(name)} must be non-empty printable ASCII without space or colon`);
    }
    const lower = name.toLowerCase();
    if (lower === 'action' || lower === 'actionid') {
      throw new AmiFormatError(AmiFormatErrorCode.reservedHeader, name, `AMI header ${name} is set by the client itself`);
    }
    checkValue(name, value);
    text += line(name, value);
  }
  return `${text}\r\n`;
}
