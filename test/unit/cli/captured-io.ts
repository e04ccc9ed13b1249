// The CLI tests' stand-in for stdout and stderr: every line a command prints, in order.

import type { CommandIo } from '../../../src/cli/program';

export interface CapturedIo extends CommandIo {
  readonly stdout: string[];
  readonly stderr: string[];
}

export function captureIo(): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}
