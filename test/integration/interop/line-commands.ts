// Test kit (not a test file): the command/reply line protocol shared by the wrappers of
// child processes the interop tests drive over stdin/stdout (ast-cpg-peer.ts,
// fake-asterisk-process.ts). Each command written gets exactly one reply line, in command
// order, so replies are matched first-in first-out; a command that timed out keeps its
// slot, so a late reply is swallowed instead of being given to the next command. Output
// is cut into lines with a bound on the partial line.

/** Commands waiting for their reply lines, oldest first. */
export class ReplyQueue<T> {
  private readonly pending: Array<{ resolve: (reply: T) => void; reject: (error: Error) => void }> = [];

  /**
   * Writes `text` + '\n' with `write` and resolves with its reply; rejects with
   * `timeoutError()` after timeoutMs, or with what failAll() is given.
   */
  send(text: string, timeoutMs: number, write: (line: string) => void, timeoutError: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.pending.indexOf(entry);
        if (i >= 0) this.pending[i] = { resolve: () => undefined, reject: () => undefined };
        reject(timeoutError());
      }, timeoutMs);
      const entry = {
        resolve: (reply: T) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.pending.push(entry);
      write(`${text}\n`);
    });
  }

  /** The reply line of the oldest command. */
  reply(reply: T): void {
    this.pending.shift()?.resolve(reply);
  }

  failAll(error: Error): void {
    for (const entry of this.pending.splice(0)) entry.reject(error);
  }
}

/** Cuts text chunks into lines (without '\n'); the unfinished line is bounded. */
export class LineSplitter {
  private partial = '';
  private readonly maxChars: number;

  constructor(maxChars: number) {
    this.maxChars = maxChars;
  }

  /**
   * Calls onLine for every complete line while it returns true; false when onLine
   * stopped it or the unfinished line grew past maxChars (then it is dropped).
   */
  push(chunk: string, onLine: (line: string) => boolean): boolean {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      if (!onLine(line)) return false;
    }
    if (this.partial.length <= this.maxChars) return true;
    this.partial = '';
    return false;
  }
}
