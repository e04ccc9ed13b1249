// The one error type decoders of untrusted bytes may produce (architecture.md §2.11).
// Every decode path returns Result<T, DecodeError>; nothing else escapes.

export const DecodeErrorCode = {
  truncated: 'DECODE_TRUNCATED',
  badMagic: 'DECODE_BAD_MAGIC',
  foreignEndian: 'DECODE_FOREIGN_ENDIAN',
  badVersion: 'DECODE_BAD_VERSION',
  badType: 'DECODE_BAD_TYPE',
  badLength: 'DECODE_BAD_LENGTH',
  badField: 'DECODE_BAD_FIELD',
  tooLarge: 'DECODE_TOO_LARGE',
} as const;
export type DecodeErrorCodeName = (typeof DecodeErrorCode)[keyof typeof DecodeErrorCode];

export class DecodeError extends Error {
  readonly code: DecodeErrorCodeName;
  /** Byte offset at which decoding failed, when known. */
  readonly offset: number | undefined;

  constructor(code: DecodeErrorCodeName, message: string, offset?: number) {
    super(message);
    this.name = 'DecodeError';
    this.code = code;
    this.offset = offset;
  }
}
