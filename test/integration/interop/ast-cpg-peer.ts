// Test kit (not a test file): drives ast-cpg-peer/ast-cpg-peer.c, a libcpg process that sits
// in CPG group `asterisk` exactly as Asterisk's res_corosync does on the wire
// (res-corosync.md §1.2, §1.3; asterisk-groundtruth.md §1.2, §1.3), from the interop tests.
//
//   buildAstCpgPeer(dir)              gcc -O2 -Wall -Werror ast-cpg-peer.c -lcpg into dir
//   AstCpgPeer.start(netns, binary)   `ip netns exec <netns> <binary>`, resolves at READY
//   peer.send(bytes) / members()      one command each, resolves at its reply line
//   peer.lines / waitFor(pred, ms)    every parsed stdout line, and a bounded wait for one
//   peer.quit() / stop()              clean exit (cpg_finalize → procdown), or SIGKILL
//
// The line protocol is the one documented at the top of ast-cpg-peer.c. Every command the
// wrapper writes gets exactly one reply line (SENT, MEMBERS or a non-fatal ERROR), in
// command order, so replies are matched to commands first-in first-out, independently of
// the CONFCHG/DELIVER lines around them. Everything is bounded: the kept lines, the
// partial line being assembled, the stderr kept for failure messages, and every wait.
// `ip netns exec` execs, so the child's pid is the peer's pid, the one CPG shows.

import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineSplitter, ReplyQueue } from './line-commands';
import { type InteropGate, checkInteropPrerequisites, exitOrKill, run } from './netns';

/** The C source, beside this file. */
export const AST_CPG_PEER_SOURCE = path.join(__dirname, 'ast-cpg-peer', 'ast-cpg-peer.c');

export const AstCpgPeerErrorCode = {
  buildFailed: 'AST_PEER_BUILD_FAILED',
  startFailed: 'AST_PEER_START_FAILED',
  timeout: 'AST_PEER_TIMEOUT',
  exited: 'AST_PEER_EXITED',
  /** The peer answered a command with an ERROR line. */
  commandFailed: 'AST_PEER_COMMAND_FAILED',
  /** More output than the wrapper keeps (lines or one over-long line). */
  outputOverflow: 'AST_PEER_OUTPUT_OVERFLOW',
} as const;
export type AstCpgPeerErrorCode = (typeof AstCpgPeerErrorCode)[keyof typeof AstCpgPeerErrorCode];

export class AstCpgPeerError extends Error {
  readonly code: AstCpgPeerErrorCode;
  constructor(code: AstCpgPeerErrorCode, message: string) {
    super(message);
    this.name = 'AstCpgPeerError';
    this.code = code;
  }
}

export interface PeerAddress {
  readonly nodeId: number;
  readonly pid: number;
}

export interface PeerChange extends PeerAddress {
  /** CPG_REASON_*: 1 join, 2 leave, 3 nodedown, 4 nodeup, 5 procdown. */
  readonly reason: number;
}

/** One stdout line of the peer, parsed; `line` is the text as printed. */
export type AstPeerLine =
  | { readonly kind: 'ready'; readonly nodeId: number; readonly pid: number; readonly line: string }
  | { readonly kind: 'confchg'; readonly members: readonly PeerAddress[]; readonly joined: readonly PeerChange[]; readonly left: readonly PeerChange[]; readonly line: string }
  | { readonly kind: 'deliver'; readonly nodeId: number; readonly pid: number; readonly len: number; readonly hex: string; readonly line: string }
  | { readonly kind: 'sent'; readonly len: number; readonly line: string }
  | { readonly kind: 'members'; readonly members: readonly PeerAddress[]; readonly line: string }
  | { readonly kind: 'error'; readonly what: string; readonly detail: string; readonly fatal: boolean; readonly line: string }
  | { readonly kind: 'bye'; readonly reason: string; readonly finalize: number; readonly line: string }
  | { readonly kind: 'unknown'; readonly line: string };

function parseList(text: string): string[] {
  return text === '' ? [] : text.split(',');
}

function parseAddresses(text: string): PeerAddress[] | null {
  const out: PeerAddress[] = [];
  for (const item of parseList(text)) {
    const m = /^(\d+):(\d+)$/.exec(item);
    if (m === null) return null;
    out.push({ nodeId: Number(m[1]), pid: Number(m[2]) });
  }
  return out;
}

function parseChanges(text: string): PeerChange[] | null {
  const out: PeerChange[] = [];
  for (const item of parseList(text)) {
    const m = /^(\d+):(\d+):(\d+)$/.exec(item);
    if (m === null) return null;
    out.push({ nodeId: Number(m[1]), pid: Number(m[2]), reason: Number(m[3]) });
  }
  return out;
}

/** One line of the peer's output → its parsed form; lines that do not fit any form are 'unknown'. */
export function parseAstPeerLine(line: string): AstPeerLine {
  let m: RegExpExecArray | null;
  if ((m = /^READY nodeid=(\d+) pid=(\d+)$/.exec(line)) !== null) return { kind: 'ready', nodeId: Number(m[1]), pid: Number(m[2]), line };
  if ((m = /^CONFCHG members=(\S*) joined=(\S*) left=(\S*)$/.exec(line)) !== null) {
    const members = parseAddresses(m[1] ?? '');
    const joined = parseChanges(m[2] ?? '');
    const left = parseChanges(m[3] ?? '');
    if (members !== null && joined !== null && left !== null) return { kind: 'confchg', members, joined, left, line };
  }
  if ((m = /^DELIVER nodeid=(\d+) pid=(\d+) len=(\d+) hex=([0-9a-f]*)$/.exec(line)) !== null) {
    const hex = m[4] ?? '';
    if (hex.length === 2 * Number(m[3])) return { kind: 'deliver', nodeId: Number(m[1]), pid: Number(m[2]), len: Number(m[3]), hex, line };
  }
  if ((m = /^SENT (\d+)$/.exec(line)) !== null) return { kind: 'sent', len: Number(m[1]), line };
  if ((m = /^MEMBERS members=(\S*)$/.exec(line)) !== null) {
    const members = parseAddresses(m[1] ?? '');
    if (members !== null) return { kind: 'members', members, line };
  }
  if ((m = /^ERROR FATAL (\S+)(?: (.*))?$/.exec(line)) !== null) return { kind: 'error', what: m[1] ?? '', detail: m[2] ?? '', fatal: true, line };
  if ((m = /^ERROR (\S+)(?: (.*))?$/.exec(line)) !== null) return { kind: 'error', what: m[1] ?? '', detail: m[2] ?? '', fatal: false, line };
  if ((m = /^BYE reason=(\S+) finalize=(-?\d+)$/.exec(line)) !== null) return { kind: 'bye', reason: m[1] ?? '', finalize: Number(m[2]), line };
  return { kind: 'unknown', line };
}

/** ERROR lines that answer a command (the others report the peer's own trouble). */
const REPLY_ERRORS: ReadonlySet<string> = new Set(['mcast', 'bad-hex', 'membership', 'unknown-command', 'line-too-long']);

function isReply(line: AstPeerLine): boolean {
  return line.kind === 'sent' || line.kind === 'members' || (line.kind === 'error' && !line.fatal && REPLY_ERRORS.has(line.what));
}

/** Compiles the peer into dir; returns the binary's path. */
export async function buildAstCpgPeer(dir: string): Promise<string> {
  const binary = path.join(dir, 'ast-cpg-peer');
  const r = await run(['gcc', '-O2', '-Wall', '-Werror', AST_CPG_PEER_SOURCE, '-lcpg', '-o', binary], 60_000);
  if (r.code !== 0) throw new AstCpgPeerError(AstCpgPeerErrorCode.buildFailed, `gcc -O2 -Wall -Werror ${AST_CPG_PEER_SOURCE} -lcpg failed (exit ${String(r.code)}):\n${r.stdout}${r.stderr}`);
  return binary;
}

/**
 * checkInteropPrerequisites plus what the peer's tests need: gcc, libcpg-dev's header, the
 * peer's source, corosync-cpgtool and corosync-quorumtool. Under CI=true a missing piece must fail the suite (mustFail), as there.
 */
export function checkAstPeerPrerequisites(env: NodeJS.ProcessEnv = process.env): InteropGate {
  const base = checkInteropPrerequisites(env);
  if (!base.run) return base;
  const ci = env['CI'] === 'true' || env['CI'] === '1';
  const missing = (reason: string): InteropGate => ({ run: false, reason, mustFail: ci, corosyncVersion: base.corosyncVersion });
  for (const tool of ['gcc', 'corosync-cpgtool', 'corosync-quorumtool']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8', timeout: 10_000 });
    if (found.status !== 0) return missing(ci ? `CI must install ${tool === 'gcc' ? 'gcc' : 'corosync'}: \`command -v ${tool}\` failed` : `${tool} is not installed`);
  }
  if (!fs.existsSync('/usr/include/corosync/cpg.h')) return missing(ci ? 'CI must install libcpg-dev: /usr/include/corosync/cpg.h is missing' : '/usr/include/corosync/cpg.h is missing (libcpg-dev)');
  if (!fs.existsSync(AST_CPG_PEER_SOURCE)) return missing(`the peer's source ${AST_CPG_PEER_SOURCE} is missing`);
  return base;
}

export interface AstCpgPeerOptions {
  /** Name in messages (default `ast-cpg-peer@<netns>`). */
  readonly name?: string;
  /** Also append everything the peer prints (stdout and stderr) to this file. */
  readonly logFile?: string;
  /** How long start() waits for READY (default 10 000 ms). */
  readonly readyTimeoutMs?: number;
  /** Parsed lines kept (default 50 000); beyond that the peer is treated as broken. */
  readonly maxLines?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_LINES = 50_000;
/** Longest stdout line assembled: a DELIVER of a 1 MiB CPG message in hex, with room. */
const MAX_PENDING_STDOUT_CHARS = 2 * 1024 * 1024 + 256;
/** stderr kept for failure messages (the last bytes). */
const MAX_STDERR_CHARS = 64 * 1024;

interface Waiter {
  readonly predicate: (line: AstPeerLine) => boolean;
  readonly from: number;
  readonly resolve: (line: AstPeerLine) => void;
  readonly reject: (error: Error) => void;
}

export interface AstPeerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One running ast-cpg-peer; see the file header. */
export class AstCpgPeer {
  readonly name: string;
  readonly netns: string;
  /** The child's pid (the peer's own: `ip netns exec` execs). */
  readonly pid: number;
  /** From READY. */
  nodeId = 0;
  /** Resolves once the process has exited. */
  readonly exited: Promise<AstPeerExit>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly parsed: AstPeerLine[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly replies = new ReplyQueue<AstPeerLine>();
  private readonly maxLines: number;
  private readonly logFile: string | null;
  private readonly stdoutLines = new LineSplitter(MAX_PENDING_STDOUT_CHARS);
  private stderrTail = '';
  private exitInfo: AstPeerExit | null = null;
  /** Why the wrapper stopped trusting the output (overflow), if it did. */
  private broken: AstCpgPeerError | null = null;

  private constructor(netns: string, binary: string, options: AstCpgPeerOptions) {
    this.netns = netns;
    this.name = options.name ?? `ast-cpg-peer@${netns}`;
    this.maxLines = options.maxLines ?? DEFAULT_MAX_LINES;
    this.logFile = options.logFile ?? null;
    this.child = spawn('ip', ['netns', 'exec', netns, binary], { stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) {
      // spawn reports the reason through 'error'; the pid is what we cannot do without.
      throw new AstCpgPeerError(AstCpgPeerErrorCode.startFailed, `${this.name}: spawn ip netns exec ${netns} ${binary} failed`);
    }
    this.pid = this.child.pid;
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr.on('data', (chunk: string) => this.onStderr(chunk));
    // A peer that died leaves our writes unread: EPIPE must not crash the test process.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then stdout is drained, so BYE and the last lines are parsed.
      this.child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.log(`[ast-cpg-peer kit] exited: code ${String(code)} signal ${String(signal)}\n`);
        resolve(this.exitInfo);
        this.failAll(new AstCpgPeerError(AstCpgPeerErrorCode.exited, `${this.name} exited (code ${String(code)}, signal ${String(signal)})${this.context()}`));
      });
      this.child.once('error', (error) => {
        this.stderrTail += `\n[spawn error] ${error.message}`;
        this.exitInfo = { code: null, signal: null };
        resolve(this.exitInfo);
        this.failAll(new AstCpgPeerError(AstCpgPeerErrorCode.startFailed, `${this.name}: ${error.message}`));
      });
    });
  }

  /** Spawns the peer in netns and waits (bounded) for its READY line; kills it if READY does not come. */
  static async start(netns: string, binary: string, options: AstCpgPeerOptions = {}): Promise<AstCpgPeer> {
    const peer = new AstCpgPeer(netns, binary, options);
    try {
      const ready = await peer.waitFor((l) => l.kind === 'ready' || (l.kind === 'error' && l.fatal), options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, { what: 'READY' });
      if (ready.kind !== 'ready') throw new AstCpgPeerError(AstCpgPeerErrorCode.startFailed, `${peer.name} did not join: ${ready.line}${peer.context()}`);
      peer.nodeId = ready.nodeId;
      return peer;
    } catch (error) {
      await peer.stop(2000).catch(() => undefined);
      if (error instanceof AstCpgPeerError && error.code === AstCpgPeerErrorCode.startFailed) throw error;
      throw new AstCpgPeerError(AstCpgPeerErrorCode.startFailed, `${peer.name} did not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  get address(): PeerAddress {
    return { nodeId: this.nodeId, pid: this.pid };
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  get exit(): AstPeerExit | null {
    return this.exitInfo;
  }

  /** Every parsed line so far, in order (indices are stable: nothing is ever dropped). */
  get lines(): readonly AstPeerLine[] {
    return this.parsed;
  }

  /** What the peer wrote on stderr lately. */
  get stderr(): string {
    return this.stderrTail;
  }

  /** Multicasts bytes (one cpg_mcast_joined, CPG_TYPE_FIFO); resolves with the length at SENT. */
  async send(bytes: Uint8Array, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<number> {
    const reply = await this.command(`send ${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`, timeoutMs);
    if (reply.kind === 'sent') return reply.len;
    throw new AstCpgPeerError(AstCpgPeerErrorCode.commandFailed, `${this.name}: send of ${bytes.length} bytes answered ${reply.line}`);
  }

  /** cpg_membership_get of `asterisk` as the peer's corosync sees it. */
  async members(timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<readonly PeerAddress[]> {
    const reply = await this.command('members', timeoutMs);
    if (reply.kind === 'members') return reply.members;
    throw new AstCpgPeerError(AstCpgPeerErrorCode.commandFailed, `${this.name}: members answered ${reply.line}`);
  }

  /**
   * Writes one raw line (a newline is appended) and resolves with its reply line, an
   * ERROR included: for probing the protocol itself. The line must not contain a newline.
   */
  command(text: string, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<AstPeerLine> {
    if (text.includes('\n')) throw new Error('AstCpgPeer.command: the text must be a single line');
    if (text.trim() === '') throw new Error('AstCpgPeer.command: an empty line gets no reply');
    if (!this.alive) return Promise.reject(new AstCpgPeerError(AstCpgPeerErrorCode.exited, `${this.name} has exited${this.context()}`));
    if (this.broken !== null) return Promise.reject(this.broken);
    return this.replies.send(
      text,
      timeoutMs,
      (line) => this.child.stdin.write(line),
      () => new AstCpgPeerError(AstCpgPeerErrorCode.timeout, `${this.name}: no reply to \`${text.slice(0, 60)}\` within ${timeoutMs} ms${this.context()}`),
    );
  }

  /**
   * The first line at index ≥ `from` (default 0: also lines already printed) for which
   * predicate holds; rejects after timeoutMs, when the peer exits first, or on overflow.
   */
  waitFor(predicate: (line: AstPeerLine) => boolean, timeoutMs: number, options: { from?: number; what?: string } = {}): Promise<AstPeerLine> {
    const from = options.from ?? 0;
    for (let i = from; i < this.parsed.length; i += 1) {
      const line = this.parsed[i];
      if (line !== undefined && predicate(line)) return Promise.resolve(line);
    }
    if (this.broken !== null) return Promise.reject(this.broken);
    if (!this.alive) return Promise.reject(new AstCpgPeerError(AstCpgPeerErrorCode.exited, `${this.name} exited before ${options.what ?? 'the awaited line'}${this.context()}`));
    return new Promise<AstPeerLine>((resolve, reject) => {
      const timer = setTimeout(() => waiter.reject(new AstCpgPeerError(AstCpgPeerErrorCode.timeout, `${this.name}: no ${options.what ?? 'matching line'} within ${timeoutMs} ms${this.context()}`)), timeoutMs);
      const waiter: Waiter = {
        predicate,
        from,
        resolve: (line) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(line);
        },
        reject: (error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** `quit`, then waits (bounded) for the exit; SIGKILL if it does not come. */
  async quit(timeoutMs = 5000): Promise<AstPeerExit> {
    if (this.alive) this.child.stdin.write('quit\n');
    return this.waitExit(timeoutMs);
  }

  /** Closes stdin (EOF: the peer finalizes and exits), then SIGKILL after timeoutMs. Idempotent. */
  async stop(timeoutMs = 5000): Promise<AstPeerExit> {
    if (this.alive) this.child.stdin.end();
    return this.waitExit(timeoutMs);
  }

  /** A few lines on the peer's state for failure messages. */
  describe(): string {
    const last = this.parsed.slice(-10).map((l) => (l.line.length > 200 ? `${l.line.slice(0, 200)}…` : l.line));
    return `${this.name} (pid ${this.pid}, node ${this.nodeId}${this.alive ? '' : `, exited ${JSON.stringify(this.exitInfo)}`}): ${this.parsed.length} lines; last:\n    ${last.join('\n    ')}${this.stderrTail === '' ? '' : `\n  stderr:\n    ${this.stderrTail.trim().split('\n').slice(-10).join('\n    ')}`}`;
  }

  private async waitExit(timeoutMs: number): Promise<AstPeerExit> {
    const killed = await exitOrKill(this.exited, this.child, timeoutMs);
    if (killed === null) throw new AstCpgPeerError(AstCpgPeerErrorCode.timeout, `${this.name} (pid ${this.pid}) did not exit even after SIGKILL`);
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
      // the log is a convenience; the kept lines are the record
    }
  }

  private onStderr(chunk: string): void {
    this.log(chunk);
    this.stderrTail = (this.stderrTail + chunk).slice(-MAX_STDERR_CHARS);
  }

  private onStdout(chunk: string): void {
    this.log(chunk);
    if (this.broken !== null) return;
    const whole = this.stdoutLines.push(chunk, (text) => {
      this.onLine(text);
      return this.broken === null;
    });
    if (!whole && this.broken === null) this.breakDown(`an output line longer than ${MAX_PENDING_STDOUT_CHARS} characters`);
  }

  private onLine(text: string): void {
    if (this.parsed.length >= this.maxLines) {
      this.breakDown(`more than ${this.maxLines} output lines`);
      return;
    }
    const line = parseAstPeerLine(text);
    this.parsed.push(line);
    if (isReply(line)) this.replies.reply(line);
    const index = this.parsed.length - 1;
    for (const waiter of [...this.waiters]) if (index >= waiter.from && waiter.predicate(line)) waiter.resolve(line);
  }

  private breakDown(why: string): void {
    this.broken = new AstCpgPeerError(AstCpgPeerErrorCode.outputOverflow, `${this.name}: ${why}; the wrapper stopped reading it`);
    this.failAll(this.broken);
  }

  private failAll(error: AstCpgPeerError): void {
    for (const waiter of [...this.waiters]) waiter.reject(error);
    this.replies.failAll(error);
  }
}
