// Test kit (not a test file): runs scripts/fake-asterisk.ts --control (a FakeAsterisk,
// test/integration/asterisk/fake-asterisk.ts, AMI and ARI as asterisk-groundtruth.md §2,
// §3 describe them) as a child process — inside a network namespace when asked — and
// drives it through the script's stdin/stdout line protocol (documented at the top of
// scripts/fake-asterisk.ts). The interop tests need this because carillond runs inside
// a namespace and its AMI host 127.0.0.1 is that namespace's own loopback, so the fake
// must listen there too, out of reach of an in-process object.
//
//   FakeAsteriskProcess.start({ netns, eid, amiPort })   resolves at READY
//   fake.setDevice / setMailbox / getDevice / getMailbox / actions   one command each
//   fake.quit() / stop()                                 BYE and exit 0, or SIGKILL
//
// The script answers every command with exactly one line, in order, so replies are
// matched first-in first-out. TypeScript runs through `node --import tsx` (tsx is a
// devDependency) in a single process, and `ip netns exec` execs, so the child's pid is
// the fake's. Everything is bounded: each wait, the partial line, the stderr kept.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineSplitter, ReplyQueue } from './line-commands';
import { exitOrKill } from './netns';

const ROOT = path.resolve(__dirname, '../../..');
/** The script, run by its source. */
export const FAKE_ASTERISK_SCRIPT = path.join(ROOT, 'scripts', 'fake-asterisk.ts');

export const FakeAsteriskProcessErrorCode = {
  startFailed: 'FAKE_PROCESS_START_FAILED',
  timeout: 'FAKE_PROCESS_TIMEOUT',
  exited: 'FAKE_PROCESS_EXITED',
  /** The fake answered ERROR, or something that is not the command's reply. */
  commandFailed: 'FAKE_PROCESS_COMMAND_FAILED',
  outputOverflow: 'FAKE_PROCESS_OUTPUT_OVERFLOW',
} as const;
export type FakeAsteriskProcessErrorCode = (typeof FakeAsteriskProcessErrorCode)[keyof typeof FakeAsteriskProcessErrorCode];

export class FakeAsteriskProcessError extends Error {
  readonly code: FakeAsteriskProcessErrorCode;
  constructor(code: FakeAsteriskProcessErrorCode, message: string) {
    super(message);
    this.name = 'FakeAsteriskProcessError';
    this.code = code;
  }
}

export interface FakeAsteriskProcessOptions {
  /** Run inside this network namespace (`ip netns exec`); null: here. */
  readonly netns: string | null;
  readonly eid: string;
  /** Default 5038 (0: ephemeral; READY says which). */
  readonly amiPort?: number;
  /** Default 8088. */
  readonly ariPort?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Also append everything the fake prints (stdout and stderr) to this file. */
  readonly logFile?: string;
  /** How long start() waits for READY (default 30 000 ms: tsx compiles on the first run). */
  readonly readyTimeoutMs?: number;
}

/** One AMI action as the `actions` command lists it. */
export interface FakeAmiActionJson {
  readonly session: number;
  readonly action: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly at: number;
}

export interface FakeProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
/** Longest stdout line assembled: `actions` of a busy fake is one JSON line. */
const MAX_LINE_CHARS = 32 * 1024 * 1024;
const MAX_STDERR_CHARS = 64 * 1024;
/** Reply lines kept for describe(). */
const RECENT_LINES = 20;

/** One running scripts/fake-asterisk.ts --control; see the file header. */
export class FakeAsteriskProcess {
  readonly name: string;
  readonly pid: number;
  readonly eid: string;
  /** From READY. */
  amiPort = 0;
  ariPort = 0;
  readonly exited: Promise<FakeProcessExit>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly logFile: string | null;
  private readonly replies = new ReplyQueue<string>();
  private readonly recent: string[] = [];
  private ready: { resolve: (line: string) => void; reject: (error: Error) => void } | null = null;
  private gotReady = false;
  private readonly stdoutLines = new LineSplitter(MAX_LINE_CHARS);
  private stderrTail = '';
  private exitInfo: FakeProcessExit | null = null;
  private broken: FakeAsteriskProcessError | null = null;

  private constructor(options: FakeAsteriskProcessOptions) {
    this.eid = options.eid;
    this.name = `fake-asterisk ${options.eid}${options.netns === null ? '' : `@${options.netns}`}`;
    this.logFile = options.logFile ?? null;
    const args = [
      '--import', 'tsx', FAKE_ASTERISK_SCRIPT, '--control',
      '--eid', options.eid,
      '--host', options.host ?? '127.0.0.1',
      '--ami-port', String(options.amiPort ?? 5038),
      '--ari-port', String(options.ariPort ?? 8088),
    ];
    const argv = options.netns === null ? [process.execPath, ...args] : ['ip', 'netns', 'exec', options.netns, process.execPath, ...args];
    const [file = '', ...rest] = argv;
    // cwd: `--import tsx` resolves tsx from here (the repository's node_modules).
    this.child = spawn(file, rest, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.startFailed, `${this.name}: spawn ${file} failed`);
    this.pid = this.child.pid;
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr.on('data', (chunk: string) => {
      this.log(chunk);
      this.stderrTail = (this.stderrTail + chunk).slice(-MAX_STDERR_CHARS);
    });
    // A fake that died leaves our writes unread: EPIPE must not crash the test process.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.log(`[fake-asterisk kit] exited: code ${String(code)} signal ${String(signal)}\n`);
        resolve(this.exitInfo);
        this.failAll(new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.exited, `${this.name} exited (code ${String(code)}, signal ${String(signal)})${this.context()}`));
      });
      this.child.once('error', (error) => {
        this.stderrTail += `\n[spawn error] ${error.message}`;
        this.exitInfo = { code: null, signal: null };
        resolve(this.exitInfo);
        this.failAll(new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.startFailed, `${this.name}: ${error.message}`));
      });
    });
  }

  /** Spawns the fake and waits (bounded) for READY; kills it if READY does not come. */
  static async start(options: FakeAsteriskProcessOptions): Promise<FakeAsteriskProcess> {
    const fake = new FakeAsteriskProcess(options);
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.timeout, `${fake.name}: no READY within ${timeoutMs} ms${fake.context()}`)), timeoutMs);
        fake.ready = {
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        if (!fake.alive) fake.ready.reject(new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.exited, `${fake.name} exited before READY${fake.context()}`));
      });
      const m = /^READY ami=(\d+) ari=(\d+) eid=(\S+)$/.exec(line);
      if (m === null || m[3] !== options.eid.toLowerCase()) throw new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.startFailed, `${fake.name}: expected READY, got ${line}${fake.context()}`);
      fake.amiPort = Number(m[1]);
      fake.ariPort = Number(m[2]);
      return fake;
    } catch (error) {
      await fake.stop(2000).catch(() => undefined);
      throw error instanceof FakeAsteriskProcessError
        ? error
        : new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.startFailed, `${fake.name} did not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  get exit(): FakeProcessExit | null {
    return this.exitInfo;
  }

  /** The PBX changed a device (AMI DeviceStateChange follows). */
  async setDevice(name: string, state: string): Promise<void> {
    await this.expect(`set-device ${name} ${state}`, /^OK$/);
  }

  /** The local voicemail changed a mailbox (AMI MessageWaiting follows). */
  async setMailbox(mailbox: string, newMessages: number, oldMessages: number): Promise<void> {
    await this.expect(`set-mailbox ${mailbox} ${newMessages} ${oldMessages}`, /^OK$/);
  }

  /** What DEVICE_STATE(name) reads on the fake. */
  async getDevice(name: string): Promise<string> {
    const line = await this.expect(`get-device ${name}`, /^DEVICE \S+ [A-Z_]+$/);
    return line.slice(line.lastIndexOf(' ') + 1);
  }

  /** The mailbox's counts, or null when the fake has no such mailbox. */
  async getMailbox(mailbox: string): Promise<{ newMessages: number; oldMessages: number } | null> {
    const line = await this.expect(`get-mailbox ${mailbox}`, /^MAILBOX \S+ (none|\d+ \d+)$/);
    const [, , a, b] = line.split(' ');
    return a === 'none' || b === undefined ? null : { newMessages: Number(a), oldMessages: Number(b) };
  }

  /** Every AMI action the fake received, oldest first. */
  async actions(): Promise<FakeAmiActionJson[]> {
    const line = await this.expect('actions', /^\[/);
    return JSON.parse(line) as FakeAmiActionJson[];
  }

  /**
   * Writes one raw line (a newline is appended) and resolves with its reply line, an
   * ERROR included: for probing the protocol. Not for blank lines (they get no reply).
   */
  command(text: string, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<string> {
    if (text.includes('\n')) throw new Error('FakeAsteriskProcess.command: the text must be a single line');
    if (text.trim() === '') throw new Error('FakeAsteriskProcess.command: a blank line gets no reply');
    if (!this.alive) return Promise.reject(new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.exited, `${this.name} has exited${this.context()}`));
    if (this.broken !== null) return Promise.reject(this.broken);
    return this.replies.send(
      text,
      timeoutMs,
      (line) => this.child.stdin.write(line),
      () => new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.timeout, `${this.name}: no reply to \`${text.slice(0, 80)}\` within ${timeoutMs} ms${this.context()}`),
    );
  }

  /** `quit`: BYE, the fake closes its listeners, the process exits; SIGKILL after timeoutMs. */
  async quit(timeoutMs = 5000): Promise<FakeProcessExit> {
    if (this.alive && this.broken === null) {
      await this.command('quit', timeoutMs).catch(() => undefined);
    }
    return this.waitExit(timeoutMs);
  }

  /** Closes stdin (the fake stops on EOF), then SIGKILL after timeoutMs. Idempotent. */
  async stop(timeoutMs = 5000): Promise<FakeProcessExit> {
    if (this.alive) this.child.stdin.end();
    return this.waitExit(timeoutMs);
  }

  /** A few lines for failure messages. */
  describe(): string {
    const stderr = this.stderrTail.trim() === '' ? '' : `\n  stderr:\n    ${this.stderrTail.trim().split('\n').slice(-10).join('\n    ')}`;
    return `${this.name} (pid ${this.pid}, AMI port ${this.amiPort}${this.alive ? '' : `, exited ${JSON.stringify(this.exitInfo)}`}); last replies:\n    ${this.recent.join('\n    ')}${stderr}`;
  }

  private async expect(text: string, shape: RegExp): Promise<string> {
    const line = await this.command(text);
    if (!shape.test(line)) throw new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.commandFailed, `${this.name}: \`${text}\` answered ${line.slice(0, 300)}`);
    return line;
  }

  private async waitExit(timeoutMs: number): Promise<FakeProcessExit> {
    const killed = await exitOrKill(this.exited, this.child, timeoutMs);
    if (killed === null) throw new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.timeout, `${this.name} (pid ${this.pid}) did not exit even after SIGKILL`);
    return killed;
  }

  private context(): string {
    return `\n  ${this.describe()}`;
  }

  private log(text: string): void {
    if (this.logFile === null) return;
    try {
      fs.appendFileSync(this.logFile, text);
    } catch {
      // the log is a convenience
    }
  }

  private onStdout(chunk: string): void {
    if (this.broken !== null) return;
    const whole = this.stdoutLines.push(chunk, (line) => {
      this.onLine(line);
      return true;
    });
    if (!whole) {
      this.broken = new FakeAsteriskProcessError(FakeAsteriskProcessErrorCode.outputOverflow, `${this.name}: an output line longer than ${MAX_LINE_CHARS} characters`);
      this.failAll(this.broken);
    }
  }

  private onLine(line: string): void {
    // `actions` lines can be long: the log and describe() get their start.
    const short = line.length > 300 ? `${line.slice(0, 300)}… (${line.length} chars)` : line;
    this.log(`${short}\n`);
    this.recent.push(short);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
    if (!this.gotReady) {
      this.gotReady = true;
      this.ready?.resolve(line);
      this.ready = null;
      return;
    }
    this.replies.reply(line);
  }

  private failAll(error: FakeAsteriskProcessError): void {
    this.ready?.reject(error);
    this.ready = null;
    this.replies.failAll(error);
  }
}
