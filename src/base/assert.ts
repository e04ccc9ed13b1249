// Assertions for programmer errors (architecture.md §2.1.5, §2.11). They are always on:
// a failed assertion means the process state is no longer trustworthy, so the daemon
// logs at fatal and exits and systemd restarts it. Untrusted input never reaches an
// assertion: decoders return typed errors instead.

export class AssertionError extends Error {
  readonly code = 'ASSERTION' as const;
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(value)}`);
}
