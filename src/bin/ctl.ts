#!/usr/bin/env node
// Entry point of the `carillon` CLI (architecture.md §2.8): wires stdout/stderr to the
// command tree of cli/program.ts and turns its result into the process exit status.

import { runCli } from '../cli/program';

/**
 * Line writer that batches stdout: decoding a capture prints thousands of lines in one
 * synchronous burst. Whatever is buffered is also written on the next turn of the event
 * loop, so long-running commands (`totem listen`) stream their lines as they happen.
 */
function bufferedStdout(): { out(line: string): void; flush(): void } {
  let chunks: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = (): void => {
    if (chunks.length === 0) return;
    process.stdout.write(chunks.join(''));
    chunks = [];
    size = 0;
  };
  return {
    out(line) {
      chunks.push(line, '\n');
      size += line.length + 1;
      if (size >= 1 << 16) flush();
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          flush();
        });
      }
    },
    flush,
  };
}

// `carillon wire decode x.pcap | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const stdout = bufferedStdout();
runCli(process.argv.slice(2), {
  out: (line) => stdout.out(line),
  err: (line) => {
    stdout.flush();
    process.stderr.write(`${line}\n`);
  },
}).then(
  (code) => {
    stdout.flush();
    process.exitCode = code;
  },
  (e: unknown) => {
    stdout.flush();
    process.stderr.write(`carillon: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
