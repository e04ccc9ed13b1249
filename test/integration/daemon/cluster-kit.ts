// Test kit for the multi-process carillond tests (not a test file): builds dist/ when it
// is missing or older than src/, writes one corosync.conf per node into a temp dir, runs
// `node dist/bin/daemon.js -f -c FILE` children with their stdout+stderr in a log file
// each, talks to them through IpcClient (connect retried until the socket is up), and
// tears everything down — children killed, temp dir removed — even when a test fails.
//
// Network: every cluster gets its own random loopback /24 (127.R.S.0, R and S random) and
// one random free UDP port below the ephemeral range, the same port for all of its nodes
// as udpu requires. Node N listens on 127.R.S.N. Nothing leaves 127.0.0.0/8.
//
// Timers: `token: 300` with `token_coefficient: 0`, so the effective token is 300 ms for
// any node count (corosync adds token_coefficient, default 650 ms, per node beyond two);
// consensus is left to be derived (1.2 × token = 360 ms), join/merge are the defaults.
//
// Every wait is bounded: waitFor() polls with a deadline and its error says what was
// last seen. withLogs() appends the tail of every node's log to a failing test's error.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IpcClient } from '../../../src/client/ipc-client';
import type { DaemonStatus, TotemEventJson } from '../../../src/ipc/daemon-api';
import { writeAuthkey } from '../../../src/runtime/authkey';

export const repoRoot = path.resolve(__dirname, '../../..');
export const daemonJs = path.join(repoRoot, 'dist/bin/daemon.js');
export const ctlJs = path.join(repoRoot, 'dist/bin/ctl.js');

// ---------------------------------------------------------------------------------
// Build once (no jest globalSetup): rebuild dist/ when it is older than src/.

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const mtime = fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function distIsStale(): boolean {
  const built = [daemonJs, ctlJs].map((file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0));
  return Math.min(...built) < newestMtimeMs(path.join(repoRoot, 'src'));
}

/** Blocks the thread for `ms` (only used while another jest worker holds the build lock). */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `tsc -p src/tsconfig.json` synchronously when dist/bin/{daemon,ctl}.js are missing
 * or older than any src/**.ts. Jest workers of one run serialise on a lock directory, so
 * only the first one compiles. Type errors (tsc still emits) are reported, not fatal.
 */
export function ensureBuilt(): void {
  if (!distIsStale()) return;
  const tag = crypto.createHash('sha256').update(repoRoot).digest('hex').slice(0, 12);
  const lock = path.join(os.tmpdir(), `carillon-build-${tag}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 180_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`the build lock ${lock} is still held after 180 s; remove it if no build is running`);
      blockFor(200);
    }
  }
  try {
    if (!distIsStale()) return;
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', 'src/tsconfig.json'], { cwd: repoRoot, stdio: 'pipe', timeout: 170_000 });
    } catch (e) {
      const out = `${String((e as { stdout?: unknown }).stdout ?? '')}${String((e as { stderr?: unknown }).stderr ?? '')}`;
      if (!fs.existsSync(daemonJs) || !fs.existsSync(ctlJs)) throw new Error(`building dist/ failed:\n${out}`, { cause: e });
      process.stderr.write(`cluster-kit: tsc -p src/tsconfig.json reported errors (dist/ was emitted anyway):\n${out.split('\n').slice(0, 20).join('\n')}\n`);
    }
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------
// Small helpers.

export const nowMs = (): number => performance.now();

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Polls `predicate` every `intervalMs` until it is true, or rejects after `timeoutMs`
 * naming `what`, the last thrown error and `detail()` (what was last seen).
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  detail?: () => string,
  intervalMs = 20,
): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = null;
    } catch (e) {
      lastError = e;
    }
    if (nowMs() >= deadline) {
      const seen = detail === undefined ? '' : `\n  last seen: ${detail()}`;
      const thrown = lastError === null ? '' : `\n  last error: ${errorText(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}${thrown}`);
    }
    await delay(intervalMs);
  }
}

/** Bounds a promise; rejects with `what` when it does not settle in time. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function memberIds(status: DaemonStatus): number[] {
  return status.members.map((m) => m.nodeId);
}

export function ringText(status: DaemonStatus): string {
  return `${status.ringId.rep}.${BigInt(status.ringId.seq).toString(16)}`;
}

export function ringSeq(status: DaemonStatus): bigint {
  return BigInt(status.ringId.seq);
}

export function stat(status: DaemonStatus, key: string): number {
  return status.stats[key] ?? 0;
}

/** A UDP port bindable on every given address (probed, then released). */
export async function pickPort(addresses: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    // Below Linux's ephemeral range (32768–60999), so no client socket takes it meanwhile.
    const port = 20_000 + crypto.randomInt(12_000);
    const sockets: dgram.Socket[] = [];
    let free = true;
    for (const address of addresses) {
      const socket = dgram.createSocket('udp4');
      sockets.push(socket);
      const bound = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, address, () => resolve(true));
      });
      if (!bound) {
        free = false;
        break;
      }
    }
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    })));
    if (free) return port;
  }
  throw new Error('no free UDP port found in 50 attempts');
}

// ---------------------------------------------------------------------------------
// Event recorder: one subscription to a node's `totem` topic.

export interface RecordedEvent {
  readonly atMs: number;
  readonly event: TotemEventJson;
}

export class TotemRecorder {
  readonly nodeId: number;
  /** Every event since subscribing, in arrival order, with its arrival time. */
  readonly events: RecordedEvent[];
  private readonly client: IpcClient;
  private readonly unsubscribe: () => Promise<void>;

  private constructor(nodeId: number, client: IpcClient, events: RecordedEvent[], unsubscribe: () => Promise<void>) {
    this.nodeId = nodeId;
    this.client = client;
    this.events = events;
    this.unsubscribe = unsubscribe;
  }

  static async open(nodeId: number, client: IpcClient): Promise<TotemRecorder> {
    const events: RecordedEvent[] = [];
    const unsubscribe = await client.subscribe('totem', (event) => events.push({ atMs: nowMs(), event }));
    return new TotemRecorder(nodeId, client, events, unsubscribe);
  }

  deliveries(): Array<Extract<TotemEventJson, { kind: 'deliver' }>> {
    const out: Array<Extract<TotemEventJson, { kind: 'deliver' }>> = [];
    for (const { event } of this.events) if (event.kind === 'deliver') out.push(event);
    return out;
  }

  /** The first regular configuration change with exactly these members. */
  regularConfchg(members: readonly number[]): RecordedEvent | undefined {
    const want = [...members].sort((a, b) => a - b).join(',');
    return this.events.find(({ event }) => event.kind === 'confchg' && event.type === 'regular' && [...event.members].sort((a, b) => a - b).join(',') === want);
  }

  async close(): Promise<void> {
    await this.unsubscribe().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------
// The cluster.

export interface ClusterOptions {
  /** Nodes in the nodelist: nodeids 1..listed, all on one random 127.R.S.0/24. */
  readonly listed: number;
  /** totem.token in ms (token_coefficient is 0, so it is also the effective token). */
  readonly token?: number;
  /** AES-256-GCM with one shared authkey (crypto_cipher aes256, crypto_hash sha256). */
  readonly crypto?: boolean;
  /** With crypto: these nodeids get a key of their own instead of the shared one. */
  readonly rogueKeyNodes?: readonly number[];
  /** Temp dir name prefix, for humans reading /tmp. */
  readonly name?: string;
  /** Extra `key: value` lines for node `id`'s carillon { } section (e.g. res_corosync_conf). */
  readonly carillonLines?: (id: number) => readonly string[];
  /** Health and metrics HTTP on for every node: http_listen 127.R.S.N:PORT (TCP, the cluster's port number). */
  readonly httpListen?: boolean;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface NodeProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null;
}

/** Every cluster still alive in this process, so an abrupt exit still kills the children. */
const liveClusters = new Set<Cluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cluster of liveClusters) cluster.killAllNow();
  });
}

export class Cluster {
  readonly dir: string;
  readonly port: number;
  readonly prefix: string;
  readonly listed: number;
  readonly token: number;
  /** Derived as corosync derives it when not configured: 1.2 × token. */
  readonly consensus: number;
  readonly crypto: boolean;
  private readonly processes = new Map<number, NodeProcess>();
  private readonly clients = new Map<number, IpcClient>();
  private readonly recorders = new Set<TotemRecorder>();
  private readonly carillonLines: (id: number) => readonly string[];
  readonly httpListen: boolean;
  private cleaned = false;

  private constructor(dir: string, port: number, prefix: string, options: ClusterOptions) {
    this.dir = dir;
    this.port = port;
    this.prefix = prefix;
    this.listed = options.listed;
    this.token = options.token ?? 300;
    this.consensus = Math.trunc(1.2 * this.token);
    this.crypto = options.crypto ?? false;
    this.carillonLines = options.carillonLines ?? (() => []);
    this.httpListen = options.httpListen ?? false;
  }

  /** Creates the temp dir, picks addresses and a port, writes every node's config (and keys). */
  static async create(options: ClusterOptions): Promise<Cluster> {
    ensureBuilt();
    installExitHook();
    const prefix = `127.${100 + crypto.randomInt(100)}.${1 + crypto.randomInt(250)}`;
    const addresses = Array.from({ length: options.listed }, (_, i) => `${prefix}.${i + 1}`);
    const port = await pickPort(addresses);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `carillon-${options.name ?? 'it'}-`));
    const cluster = new Cluster(dir, port, prefix, options);
    liveClusters.add(cluster);
    try {
      if (cluster.crypto) {
        await writeAuthkey(cluster.keyfile(), crypto.randomBytes(256));
        for (const id of options.rogueKeyNodes ?? []) await writeAuthkey(cluster.keyfile(id), crypto.randomBytes(256));
      }
      const rogue = new Set(options.rogueKeyNodes ?? []);
      for (let id = 1; id <= options.listed; id += 1) {
        fs.mkdirSync(cluster.nodeDir(id), { recursive: true });
        fs.writeFileSync(cluster.configPath(id), cluster.configText(id, rogue.has(id)));
      }
    } catch (e) {
      await cluster.cleanup();
      throw e;
    }
    return cluster;
  }

  address(id: number): string {
    return `${this.prefix}.${id}`;
  }

  /** Node `id`'s health and metrics URL for `path` (with `httpListen`). */
  httpUrl(id: number, path: string): string {
    return `http://${this.address(id)}:${this.port}${path}`;
  }

  nodeDir(id: number): string {
    return path.join(this.dir, `n${id}`);
  }

  configPath(id: number): string {
    return path.join(this.nodeDir(id), 'corosync.conf');
  }

  socketPath(id: number): string {
    return path.join(this.nodeDir(id), 'carillon.sock');
  }

  logPath(id: number): string {
    return path.join(this.nodeDir(id), 'carillond.log');
  }

  /** The shared key, or node `rogue`'s own. */
  keyfile(rogue?: number): string {
    return path.join(this.dir, rogue === undefined ? 'authkey' : `authkey-n${rogue}`);
  }

  configText(id: number, rogueKey = false): string {
    const crypto = this.crypto
      ? ['\tcrypto_cipher: aes256', '\tcrypto_hash: sha256', `\tkeyfile: ${this.keyfile(rogueKey ? id : undefined)}`]
      : [];
    const nodes = Array.from({ length: this.listed }, (_, i) => [
      '\tnode {',
      `\t\tring0_addr: ${this.address(i + 1)}`,
      `\t\tnodeid: ${i + 1}`,
      `\t\tname: n${i + 1}`,
      '\t}',
    ]).flat();
    return [
      '# written by test/integration/daemon/cluster-kit.ts',
      'totem {',
      '\tversion: 2',
      '\tcluster_name: carillon-it',
      '\ttransport: udpu',
      `\ttoken: ${this.token}`,
      '\t# without this, corosync adds 650 ms to token for every node beyond two',
      '\ttoken_coefficient: 0',
      ...crypto,
      '\tinterface {',
      '\t\tlinknumber: 0',
      `\t\tmcastport: ${this.port}`,
      '\t}',
      '}',
      'nodelist {',
      ...nodes,
      '}',
      'logging {',
      '\tto_stderr: yes',
      '\ttimestamp: hires',
      '\tdebug: on',
      '}',
      'carillon {',
      `\tlocal_nodeid: ${id}`,
      `\tstate_dir: ${this.nodeDir(id)}`,
      `\tipc_socket: ${this.socketPath(id)}`,
      this.httpListen ? `\thttp_listen: ${this.address(id)}:${this.port}` : '\thttp_listen: off',
      '\ttick_ms: 10',
      ...this.carillonLines(id).map((line) => `\t${line}`),
      '}',
      // Tests keep the daemons at the normal policy (the default, SCHED_RR, is for production and the bench).
      'system {',
      '\tsched_rr: no',
      '}',
      '',
    ].join('\n');
  }

  /** Spawns node `id` (stdout and stderr appended to its log file). */
  start(id: number): void {
    const running = this.processes.get(id);
    if (running !== undefined && running.exit === null) throw new Error(`node ${id} is already running (pid ${running.child.pid ?? '?'})`);
    const log = fs.openSync(this.logPath(id), 'a');
    let child: ChildProcess;
    try {
      fs.writeSync(log, `----- cluster-kit: starting node ${id} at ${new Date().toISOString()}\n`);
      // CLUSTER_KIT_NODE_ARGS: extra node flags for the daemons (e.g. --cpu-prof when profiling).
      const nodeArgs = (process.env['CLUSTER_KIT_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
      child = spawn(process.execPath, [...nodeArgs, daemonJs, '-f', '-c', this.configPath(id)], { cwd: this.dir, stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    const entry: NodeProcess = {
      child,
      exit: null,
      exited: new Promise<ExitInfo>((resolve) => {
        child.once('exit', (code, signal) => {
          entry.exit = { code, signal };
          resolve(entry.exit);
        });
        child.once('error', (e) => {
          entry.exit = { code: -1, signal: null };
          fs.appendFileSync(this.logPath(id), `----- cluster-kit: spawn failed: ${e.message}\n`);
          resolve(entry.exit);
        });
      }),
    };
    this.processes.set(id, entry);
  }

  /** Starts the given nodes (default: all listed) and connects to each one's IPC socket. */
  async startNodes(ids: readonly number[] = this.allIds()): Promise<void> {
    for (const id of ids) this.start(id);
    await Promise.all(ids.map((id) => this.client(id)));
  }

  allIds(): number[] {
    return Array.from({ length: this.listed }, (_, i) => i + 1);
  }

  isRunning(id: number): boolean {
    const p = this.processes.get(id);
    return p !== undefined && p.exit === null;
  }

  pid(id: number): number | undefined {
    return this.processes.get(id)?.child.pid;
  }

  exitOf(id: number): ExitInfo | null {
    return this.processes.get(id)?.exit ?? null;
  }

  /** A connected IpcClient for node `id`, retrying until its socket is up (or it died). */
  async client(id: number, timeoutMs = 10_000): Promise<IpcClient> {
    const cached = this.clients.get(id);
    if (cached !== undefined) return cached;
    const client = await this.connect(id, timeoutMs);
    this.clients.set(id, client);
    void client.closed.then(() => {
      if (this.clients.get(id) === client) this.clients.delete(id);
    });
    return client;
  }

  private async connect(id: number, timeoutMs: number): Promise<IpcClient> {
    const deadline = nowMs() + timeoutMs;
    let last: unknown = null;
    for (;;) {
      const proc = this.processes.get(id);
      if (proc?.exit !== null && proc?.exit !== undefined) {
        throw new Error(`node ${id} exited (code ${String(proc.exit.code)}, signal ${String(proc.exit.signal)}) before its IPC socket answered\n${this.logTail(id)}`);
      }
      try {
        return await IpcClient.connect(this.socketPath(id), { timeoutMs: Math.max(200, Math.min(2000, deadline - nowMs())), clientName: 'cluster-kit' });
      } catch (e) {
        last = e;
      }
      if (nowMs() >= deadline) throw new Error(`node ${id}: no IPC connection to ${this.socketPath(id)} within ${timeoutMs} ms: ${errorText(last)}`);
      await delay(25);
    }
  }

  /** `status` of node `id` (JSON, as `carillon status --json` prints it). */
  async statusOf(id: number): Promise<DaemonStatus> {
    const client = await this.client(id);
    return client.call('status', {}, { timeoutMs: 3000 });
  }

  async statuses(ids: readonly number[]): Promise<DaemonStatus[]> {
    return Promise.all(ids.map((id) => this.statusOf(id)));
  }

  /**
   * Waits until every node in `ids` is operational in one ring whose members are exactly
   * `members`; returns their statuses.
   */
  async waitForRing(ids: readonly number[], members: readonly number[], timeoutMs: number): Promise<DaemonStatus[]> {
    const want = [...members].sort((a, b) => a - b).join(',');
    let last: DaemonStatus[] = [];
    await waitFor(
      async () => {
        last = await this.statuses(ids);
        const ring = last[0] === undefined ? '' : ringText(last[0]);
        return last.every((s) => s.state === 'operational' && ringText(s) === ring && [...memberIds(s)].sort((a, b) => a - b).join(',') === want);
      },
      timeoutMs,
      `nodes ${ids.join(',')} operational in one ring of [${want}]`,
      () => describeStatuses(last),
    );
    return last;
  }

  /** Subscribes to node `id`'s totem topic on a dedicated connection. */
  async record(id: number): Promise<TotemRecorder> {
    const client = await this.connect(id, 10_000);
    const recorder = await TotemRecorder.open(id, client);
    this.recorders.add(recorder);
    return recorder;
  }

  /** Sends `signal` to node `id` and waits (bounded) for the process to exit. */
  async killNode(id: number, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<ExitInfo> {
    const proc = this.processes.get(id);
    if (proc === undefined) throw new Error(`node ${id} was never started`);
    if (proc.exit === null) proc.child.kill(signal);
    return within(proc.exited, timeoutMs, `node ${id} to exit after ${signal}`);
  }

  /** Sends `signal` without waiting; returns the exit promise. */
  signal(id: number, signal: NodeJS.Signals): Promise<ExitInfo> {
    const proc = this.processes.get(id);
    if (proc === undefined) throw new Error(`node ${id} was never started`);
    proc.child.kill(signal);
    return proc.exited;
  }

  /** Starts node `id` again with the same config and state_dir, once it has exited. */
  async restartNode(id: number, timeoutMs = 10_000): Promise<void> {
    const proc = this.processes.get(id);
    if (proc !== undefined && proc.exit === null) await this.killNode(id, 'SIGKILL');
    this.clients.get(id)?.close().catch(() => undefined);
    this.clients.delete(id);
    this.start(id);
    await this.client(id, timeoutMs);
  }

  logText(id: number): string {
    try {
      return fs.readFileSync(this.logPath(id), 'utf8');
    } catch {
      return '';
    }
  }

  logTail(id: number, lines = 40): string {
    const text = this.logText(id).trimEnd().split('\n').slice(-lines).join('\n');
    return `--- node ${id} (${this.logPath(id)}), last ${lines} lines ---\n${text}`;
  }

  logTails(lines = 40): string {
    return [...this.processes.keys()].sort((a, b) => a - b).map((id) => this.logTail(id, lines)).join('\n');
  }

  /** Synchronous last resort (process exit): SIGKILL whatever still runs. */
  killAllNow(): void {
    for (const proc of this.processes.values()) {
      if (proc.exit === null) {
        try {
          proc.child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** Closes connections, kills every child still running, removes the temp dir. Idempotent. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    await Promise.all([...this.recorders].map((r) => within(r.close(), 2000, 'recorder close').catch(() => undefined)));
    await Promise.all([...this.clients.values()].map((c) => within(c.close(), 2000, 'client close').catch(() => undefined)));
    this.clients.clear();
    this.killAllNow();
    await Promise.all([...this.processes.values()].map((p) => within(p.exited, 5000, 'a killed daemon to exit').catch(() => undefined)));
    liveClusters.delete(this);
    if (process.env['CARILLON_KEEP_TEST_DIRS'] === undefined) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function describeStatuses(statuses: readonly DaemonStatus[]): string {
  return statuses.map((s) => `n${s.nodeId}: ${s.state} ring ${ringText(s)} members [${memberIds(s).join(',')}]`).join('; ') || '(no status yet)';
}

/**
 * Runs a test body; when it throws, the error gets the tail of every node's log appended
 * (jest prints the message), so a failure in CI explains itself.
 */
export async function withLogs<T>(cluster: () => Cluster | null, body: () => Promise<T>, lines = 40): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const c = cluster();
    if (c !== null && e instanceof Error) e.message = `${e.message}\n\n${c.logTails(lines)}`;
    throw e;
  }
}

/** Sends datagrams from a socket bound to `address:port` (port 0: any), in bounded batches. */
export async function sendDatagrams(
  from: { address: string; port: number },
  to: ReadonlyArray<{ address: string; port: number }>,
  datagrams: readonly Uint8Array[],
  batch = 64,
): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(from.port, from.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    for (let i = 0; i < datagrams.length; i += batch) {
      const sends: Promise<void>[] = [];
      for (const bytes of datagrams.slice(i, i + batch)) {
        for (const target of to) {
          sends.push(new Promise<void>((resolve, reject) => socket.send(bytes, target.port, target.address, (e) => (e ? reject(e) : resolve()))));
        }
      }
      await within(Promise.all(sends), 5000, 'datagram sends');
      // Let the daemons drain their receive queues between batches (loopback drops on overflow).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
