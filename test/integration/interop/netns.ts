// Test kit for the corosync interop tests (not a test file): network namespaces joined by
// a bridge, one per node, with real corosync 3.1.7 daemons and carillond running inside.
//
//   <prefix>-br    holds the bridge br0 (no address)
//   <prefix>-1..N  node namespaces; eth0 = <subnet>.<i>/24, lo up, IPv6 off, no default route
//
// Nothing is added to the root namespace, so datagrams cannot leave the test's subnet; the
// prefix (crl<pid%1000>, next free one if taken; another stem on request, cbench for the
// benchmark) and the subnet (10.25x.y.0/24 from the pid)
// are per run so that concurrent runs never share a namespace.
//
// corosync runs as `ip netns exec <ns> sh -c 'mount --bind <dir>/run /run && exec corosync
// -f -c <dir>/corosync.conf'`: `ip netns exec` puts the command in a fresh mount namespace,
// so the bind mount is private to that daemon. corosync takes an exclusive lock on
// /run/corosync.pid and refuses to start when another instance holds it, so several
// corosyncs on one host each need their own /run. libqb's IPC (cmap, cfg, quorum) uses
// abstract unix sockets on Linux, which are per network namespace: the tools started with
// `ip netns exec <ns>` reach that namespace's daemon. state_dir (ringid_<nodeid>, blackbox)
// is per node too. `ip netns exec` execs, and so do sh and corosync, so the child's pid is
// the daemon's pid: kill() reaches the daemon itself.
//
// carillond's IPC socket is a path in the filesystem, so the test talks to it from the root
// namespace with IpcClient.
//
// The services interop test also runs the C client ../shared/tools/cpgload (libcpg), built
// by buildCpgload() with gcc into the run's directory, inside the node namespaces
// (spawnIn); its `watch` output is parsed by parseCpgloadWatch().
//
// Every command is bounded by a timeout; destroy() kills what we started (and whatever is
// still inside our namespaces), then deletes the namespaces. A process 'exit' hook does the
// same synchronously if the test process dies before afterAll.

import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const COMMAND_TIMEOUT_MS = 10_000;
const STATE_ROOT = path.join(os.tmpdir(), 'carillon-interop');
/** The C CPG client of the corosync baseline (../shared is beside the repository, read-only). */
export const CPGLOAD_SOURCE = path.resolve(__dirname, '../../../../shared/tools/cpgload/cpgload.c');

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv[0] with the rest as arguments; never rejects, never outlives timeoutMs. */
export function run(argv: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty argv');
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      const note = error !== null && typeof error.code !== 'number' ? `${error.message}\n` : '';
      resolve({ code, stdout: String(stdout), stderr: note + String(stderr) });
    });
  });
}

async function mustRun(argv: readonly string[]): Promise<string> {
  const result = await run(argv);
  if (result.code !== 0) throw new Error(`\`${argv.join(' ')}\` failed (exit ${String(result.code)}): ${result.stderr.trim()}`);
  return result.stdout;
}

// ---------------------------------------------------------------------------------------
// Prerequisites

export interface InteropGate {
  /** True: run the suite. */
  readonly run: boolean;
  /** Why not (empty when run). */
  readonly reason: string;
  /** CI=true and something is missing: the suite must fail, not skip. */
  readonly mustFail: boolean;
  /** `corosync -v` first line, when installed. */
  readonly corosyncVersion: string | null;
}

function probe(argv: readonly string[]): { ok: boolean; out: string } {
  const [file, ...args] = argv;
  if (file === undefined) return { ok: false, out: '' };
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error === undefined ? '' : r.error.message}`.trim();
  return { ok: r.status === 0, out };
}

/**
 * Whether this machine can run the interop suite: root, `ip netns` usable (a probe
 * namespace is created and deleted), corosync and its tools installed. Synchronous, as
 * Jest needs to know before it collects the tests.
 */
export function checkInteropPrerequisites(env: NodeJS.ProcessEnv = process.env, options: InteropNeeds = {}): InteropGate {
  const ci = env['CI'] === 'true' || env['CI'] === '1';
  const version = probe(['corosync', '-v']);
  const corosyncVersion = version.ok ? (version.out.split('\n')[0] ?? null) : null;
  const missing = (reason: string, ciReason = reason): InteropGate => ({ run: false, reason: ci ? ciReason : reason, mustFail: ci, corosyncVersion });
  if (corosyncVersion === null) {
    return missing(`corosync is not installed (corosync -v: ${version.out || 'not found'})`, 'CI must install corosync (the Debian package corosync 3.1.7): `corosync -v` failed');
  }
  for (const tool of ['corosync-cfgtool', 'corosync-cmapctl']) {
    const found = probe(['sh', '-c', `command -v ${tool}`]);
    if (!found.ok) return missing(`${tool} is not installed`);
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return missing('not running as root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)');
  const list = probe(['ip', 'netns', 'list']);
  if (!list.ok) return missing(`\`ip netns list\` failed: ${list.out}`);
  const probeNs = `crlprobe${process.pid}`;
  const add = probe(['ip', 'netns', 'add', probeNs]);
  probe(['ip', 'netns', 'del', probeNs]);
  if (!add.ok) return missing(`cannot create a network namespace (\`ip netns add\`: ${add.out})`);
  const mount = probe(['sh', '-c', 'command -v mount']);
  if (!mount.ok) return missing('mount(8) is not installed');
  if (options.cpgload === true) {
    for (const tool of ['corosync-quorumtool', 'corosync-cpgtool', 'gcc']) {
      const found = probe(['sh', '-c', `command -v ${tool}`]);
      if (!found.ok) return missing(`${tool} is not installed`, `CI must install ${tool === 'gcc' ? 'gcc' : 'corosync'}: \`command -v ${tool}\` failed`);
    }
    for (const header of ['corosync/cpg.h', 'corosync/quorum.h']) {
      if (!fs.existsSync(path.join('/usr/include', header))) {
        return missing(`/usr/include/${header} is missing (libcpg-dev / libquorum-dev)`, `CI must install libcpg-dev and libquorum-dev: /usr/include/${header} is missing`);
      }
    }
    if (!fs.existsSync(CPGLOAD_SOURCE)) return missing(`the cpgload source ${CPGLOAD_SOURCE} is missing (../shared beside the repository)`);
  }
  return { run: true, reason: '', mustFail: false, corosyncVersion };
}

/** What a suite needs beyond namespaces, corosync, corosync-cfgtool and corosync-cmapctl. */
export interface InteropNeeds {
  /** The C CPG client: gcc, libcpg/libquorum headers, corosync-quorumtool, corosync-cpgtool. */
  readonly cpgload?: boolean;
}

// ---------------------------------------------------------------------------------------
// Processes

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Waits up to `timeoutMs` for `exited`; then SIGKILLs the child and waits (at most 5 s)
 * for the reap. null: not even SIGKILL ended it.
 */
export async function exitOrKill<T>(exited: Promise<T>, child: ChildProcess, timeoutMs: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const info = await Promise.race([exited, late]);
    if (info !== null) return info;
  } finally {
    clearTimeout(timer);
  }
  child.kill('SIGKILL');
  return Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000).unref())]);
}

/** A daemon we started; its log (stdout+stderr) goes to `logFile`. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;

  constructor(name: string, logFile: string, argv: readonly string[]) {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error('ManagedProcess: empty argv');
    this.name = name;
    this.logFile = logFile;
    const fd = fs.openSync(logFile, 'a');
    try {
      this.child = spawn(file, args, { stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    if (this.child.pid === undefined) throw new Error(`${name}: spawn ${file} failed`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.child.once('error', (error) => {
        fs.appendFileSync(logFile, `\n[interop kit] spawn error: ${error.message}\n`);
        this.exitInfo = { code: null, signal: null };
        resolve(this.exitInfo);
      });
    });
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  get exit(): ExitInfo | null {
    return this.exitInfo;
  }

  /** Sends a signal (no-op once exited). */
  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Waits for the exit, bounded; throws on timeout. */
  async waitExit(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL and wait for the reap (bounded). */
  async kill(timeoutMs = 5000): Promise<ExitInfo> {
    this.signal('SIGKILL');
    return this.waitExit(timeoutMs);
  }
}

// ---------------------------------------------------------------------------------------
// The cluster

export interface NetnsClusterOptions {
  /** Number of node namespaces. */
  readonly nodes: number;
  /** Appended to the log lines of the kit (default silent). */
  readonly log?: (line: string) => void;
  /** Namespace name stem, 1-8 lowercase letters (default crl; the benchmark uses cbench). */
  readonly stem?: string;
}

function namespaces(): Set<string> {
  const r = probe(['ip', 'netns', 'list']);
  return new Set(r.out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n !== ''));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills every process inside ns (as `ip netns pids` lists them) and deletes it; synchronous. */
function purgeNamespaceSync(ns: string): void {
  const pids = probe(['ip', 'netns', 'pids', ns]);
  for (const text of pids.ok ? pids.out.split(/\s+/) : []) {
    const pid = Number(text);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  probe(['ip', 'netns', 'del', ns]);
}

/**
 * Namespaces of earlier runs whose test process died without its cleanup (its owner file
 * STATE_ROOT/<prefix>.owner names a dead pid): only ours.
 */
function purgeStaleRunsSync(existing: Set<string>): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(STATE_ROOT);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = /^([a-z]+\d+)\.owner$/.exec(entry);
    const prefix = m?.[1];
    if (prefix === undefined) continue;
    const file = path.join(STATE_ROOT, entry);
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(file, 'utf8').trim());
    } catch {
      continue;
    }
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) continue;
    for (const ns of existing) if (new RegExp(`^${prefix}-(br|\\d+)$`).test(ns)) purgeNamespaceSync(ns);
    fs.rmSync(file, { force: true });
  }
}

export class NetnsCluster {
  readonly prefix: string;
  /** First three octets, e.g. 10.253.17 */
  readonly subnet: string;
  readonly baseDir: string;
  readonly size: number;
  private readonly ownerFile: string;
  private readonly log: (line: string) => void;
  private readonly processes = new Set<ManagedProcess>();
  private readonly exitHook = (): void => this.destroySync();
  private destroyed = false;

  private constructor(prefix: string, subnet: string, baseDir: string, ownerFile: string, size: number, log: (line: string) => void) {
    this.prefix = prefix;
    this.subnet = subnet;
    this.baseDir = baseDir;
    this.ownerFile = ownerFile;
    this.size = size;
    this.log = log;
  }

  /** Creates the bridge namespace and `nodes` node namespaces; tears down what it made on failure. */
  static async create(options: NetnsClusterOptions): Promise<NetnsCluster> {
    const stem = options.stem ?? 'crl';
    if (!/^[a-z]{1,8}$/.test(stem)) throw new Error(`NetnsCluster: stem must be 1-8 lowercase letters, not ${JSON.stringify(stem)}`);
    const existing = namespaces();
    purgeStaleRunsSync(existing);
    const taken = namespaces();
    fs.mkdirSync(STATE_ROOT, { recursive: true });
    let prefix = '';
    let ownerFile = '';
    for (let k = 0; k < 1000 && prefix === ''; k += 1) {
      const candidate = `${stem}${(process.pid + k) % 1000}`;
      const used = [...taken].some((ns) => new RegExp(`^${candidate}-(br|\\d+)$`).test(ns));
      if (used) continue;
      try {
        // Claimed atomically: a concurrent run with the same pid % 1000 takes the next one.
        fs.writeFileSync(path.join(STATE_ROOT, `${candidate}.owner`), `${process.pid}\n`, { flag: 'wx' });
        prefix = candidate;
        ownerFile = path.join(STATE_ROOT, `${candidate}.owner`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    if (prefix === '') throw new Error(`no free ${stem}<n> namespace prefix`);
    const n = Number(prefix.slice(stem.length));
    // Isolation comes from the namespaces; the subnet only has to be unlikely to confuse a human.
    const subnet = `10.${252 + (n % 4)}.${1 + Math.floor(n / 4)}`;
    const baseDir = fs.mkdtempSync(path.join(STATE_ROOT, `${prefix}-`));
    const cluster = new NetnsCluster(prefix, subnet, baseDir, ownerFile, options.nodes, options.log ?? (() => undefined));
    process.on('exit', cluster.exitHook);
    try {
      await cluster.up();
    } catch (error) {
      await cluster.destroy({ keepFiles: true });
      throw error;
    }
    return cluster;
  }

  ns(i: number): string {
    return `${this.prefix}-${i}`;
  }

  get bridgeNs(): string {
    return `${this.prefix}-br`;
  }

  addr(i: number): string {
    return `${this.subnet}.${i}`;
  }

  /** Per-node directory: config, logs, run/, lib/ (state_dir). */
  dir(i: number): string {
    return path.join(this.baseDir, `n${i}`);
  }

  private async up(): Promise<void> {
    const br = this.bridgeNs;
    await mustRun(['ip', 'netns', 'add', br]);
    await mustRun(['ip', '-n', br, 'link', 'set', 'lo', 'up']);
    await mustRun(['ip', '-n', br, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await mustRun(['ip', '-n', br, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= this.size; i += 1) {
      const ns = this.ns(i);
      await mustRun(['ip', 'netns', 'add', ns]);
      await mustRun(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // The veth pair is created directly inside the two namespaces: nothing in the root one.
      await mustRun(['ip', 'link', 'add', 'name', `veth${i}`, 'netns', br, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await mustRun(['ip', '-n', br, 'link', 'set', `veth${i}`, 'master', 'br0']);
      await mustRun(['ip', '-n', br, 'link', 'set', `veth${i}`, 'up']);
      // No IPv6 (no link-local DAD chatter, corosync picks the IPv4 address).
      await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
      await mustRun(['ip', '-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0']);
      await mustRun(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      fs.mkdirSync(path.join(this.dir(i), 'run'), { recursive: true });
      fs.mkdirSync(path.join(this.dir(i), 'lib'), { recursive: true });
    }
    this.log(`interop: namespaces ${this.bridgeNs} + ${this.prefix}-1..${this.size}, subnet ${this.subnet}.0/24, files in ${this.baseDir}`);
  }

  /** Runs a command inside node i's namespace (bounded). */
  exec(i: number, argv: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    return run(['ip', 'netns', 'exec', this.ns(i), ...argv], timeoutMs);
  }

  /** Writes node i's corosync.conf and starts corosync -f in its namespace, with a private /run. */
  startCorosync(i: number, conf: string): ManagedProcess {
    const d = this.dir(i);
    fs.writeFileSync(path.join(d, 'corosync.conf'), conf);
    fs.rmSync(path.join(d, 'run', 'corosync.pid'), { force: true });
    const proc = new ManagedProcess(`corosync node ${i}`, path.join(d, 'corosync.log'), [
      'ip', 'netns', 'exec', this.ns(i), 'sh', '-c', 'mount --bind "$1/run" /run && exec corosync -f -c "$1/corosync.conf"', 'sh', d,
    ]);
    return this.track(proc);
  }

  /** Writes node i's carillon.conf and starts `node <daemonJs> -f -c carillon.conf` in its namespace. */
  startCarillond(i: number, conf: string, daemonJs: string): ManagedProcess {
    const d = this.dir(i);
    const file = path.join(d, 'carillon.conf');
    fs.writeFileSync(file, conf);
    // CARILLOND_NODE_ARGS: extra node flags for the daemons (e.g. --cpu-prof when profiling a benchmark).
    const nodeArgs = (process.env['CARILLOND_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const proc = new ManagedProcess(`carillond node ${i}`, path.join(d, 'carillon.log'), [
      'ip', 'netns', 'exec', this.ns(i), process.execPath, ...nodeArgs, daemonJs, '-f', '-c', file,
    ]);
    return this.track(proc);
  }

  /** Starts argv inside node i's namespace (no private /run), output to logFile; killed by destroy(). */
  spawnIn(i: number, name: string, logFile: string, argv: readonly string[]): ManagedProcess {
    return this.track(new ManagedProcess(name, logFile, ['ip', 'netns', 'exec', this.ns(i), ...argv]));
  }

  private track(proc: ManagedProcess): ManagedProcess {
    fs.appendFileSync(proc.logFile, `[interop kit] ${new Date().toISOString()} started ${proc.name}, pid ${proc.pid}\n`);
    this.processes.add(proc);
    void proc.exited.then((info) => {
      this.processes.delete(proc);
      fs.appendFileSync(proc.logFile, `[interop kit] ${new Date().toISOString()} ${proc.name} exited: code ${String(info.code)} signal ${String(info.signal)}\n`);
    });
    return proc;
  }

  /** `corosync-cfgtool -s` on node i: nodeid → status (localhost, connected, disconnected, ...). */
  async cfgtoolStatus(i: number): Promise<Map<number, string>> {
    const r = await this.exec(i, ['corosync-cfgtool', '-s']);
    if (r.code !== 0) throw new Error(`corosync-cfgtool -s on node ${i} failed (exit ${String(r.code)}): ${r.stderr.trim()}`);
    return parseCfgtoolStatus(r.stdout);
  }

  /** `corosync-cmapctl [-m map] [prefix]` on node i as key → value text. */
  async cmap(i: number, prefix: string, map?: 'stats'): Promise<Map<string, string>> {
    const r = await this.exec(i, ['corosync-cmapctl', ...(map === undefined ? [] : ['-m', map]), prefix]);
    if (r.code !== 0) throw new Error(`corosync-cmapctl ${map ?? ''} ${prefix} on node ${i} failed (exit ${String(r.code)}): ${r.stderr.trim()}`);
    return parseCmap(r.stdout);
  }

  /** `corosync-quorumtool -s` on node i, parsed (its exit status is not 0 when inquorate). */
  async quorumtoolStatus(i: number): Promise<QuorumtoolStatus> {
    const r = await this.exec(i, ['corosync-quorumtool', '-s']);
    const parsed = parseQuorumtoolStatus(r.stdout);
    if (parsed === null) throw new Error(`corosync-quorumtool -s on node ${i} gave nothing usable (exit ${String(r.code)}): ${r.stdout.trim()} ${r.stderr.trim()}`);
    return parsed;
  }

  /** `corosync-cpgtool` on node i: group → members in the order listed. */
  async cpgtool(i: number): Promise<Map<string, CpgtoolMember[]>> {
    const r = await this.exec(i, ['corosync-cpgtool']);
    if (r.code !== 0) throw new Error(`corosync-cpgtool on node ${i} failed (exit ${String(r.code)}): ${r.stderr.trim()}`);
    return parseCpgtool(r.stdout);
  }

  /** runtime.members.<id>.status on node i: nodeid → joined | left. */
  async runtimeMembers(i: number): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const [key, value] of await this.cmap(i, 'runtime.members.')) {
      const m = /^runtime\.members\.(\d+)\.status$/.exec(key);
      if (m?.[1] !== undefined) out.set(Number(m[1]), value);
    }
    return out;
  }

  /** corosync's ring seq as stored in node i's state_dir (ringid_<nodeid>, a host-endian u64). */
  storedRingSeq(i: number): bigint | null {
    try {
      const bytes = fs.readFileSync(path.join(this.dir(i), 'lib', `ringid_${i}`));
      if (bytes.length !== 8) return null;
      return os.endianness() === 'LE' ? bytes.readBigUInt64LE(0) : bytes.readBigUInt64BE(0);
    } catch {
      return null;
    }
  }

  /** Stops everything we started and deletes the namespaces; keeps the files when asked (for post-mortems). */
  async destroy(options: { keepFiles: boolean }): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.processes].map((p) => p.kill().catch(() => undefined)));
    this.destroySync();
    if (!options.keepFiles) fs.rmSync(this.baseDir, { recursive: true, force: true });
  }

  /** The synchronous part of destroy(), also run from process.on('exit'). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.exitHook);
    for (const p of this.processes) p.signal('SIGKILL');
    const existing = namespaces();
    for (let i = 1; i <= this.size; i += 1) if (existing.has(this.ns(i))) purgeNamespaceSync(this.ns(i));
    if (existing.has(this.bridgeNs)) purgeNamespaceSync(this.bridgeNs);
    fs.rmSync(this.ownerFile, { force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Parsers and files

/** `corosync-cfgtool -s` lines `nodeid:          3:\tconnected` → 3 → connected. */
export function parseCfgtoolStatus(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*nodeid:\s*(\d+):\s*(\S.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(Number(m[1]), m[2]);
  }
  return out;
}

/** corosync-cmapctl lines `key (type) = value` → key → value (trailing blanks dropped). */
export function parseCmap(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) \([a-z0-9]+\) = (.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], m[2].trimEnd());
  }
  return out;
}

export interface QuorumtoolStatus {
  /** "Nodes:" */
  nodes: number;
  nodeId: number;
  /** "Ring ID:" as printed (hex rep.seq). */
  ringId: string;
  quorate: boolean;
  expectedVotes: number;
  highestExpected: number;
  totalVotes: number;
  quorum: number;
  flags: string[];
  /** The membership table: nodeid, votes, name (without " (local)"). */
  members: Array<{ nodeId: number; votes: number; name: string; local: boolean }>;
  text: string;
}

/** `corosync-quorumtool -s` output → its fields; null when there is no "Nodes:" line. */
export function parseQuorumtoolStatus(text: string): QuorumtoolStatus | null {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'm').exec(text)?.[1];
  const num = (name: string): number => Number(field(name) ?? NaN);
  const nodes = field('Nodes');
  if (nodes === undefined) return null;
  const members: QuorumtoolStatus['members'] = [];
  const table = text.split(/^\s*Nodeid\s+Votes\s+Name\s*$/m)[1] ?? '';
  for (const line of table.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*?)\s*$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    const local = m[3].endsWith('(local)');
    members.push({ nodeId: Number(m[1]), votes: Number(m[2]), name: local ? m[3].slice(0, -'(local)'.length).trim() : m[3], local });
  }
  return {
    nodes: Number(nodes),
    nodeId: num('Node ID'),
    ringId: field('Ring ID') ?? '',
    quorate: field('Quorate') === 'Yes',
    expectedVotes: num('Expected votes'),
    highestExpected: num('Highest expected'),
    totalVotes: num('Total votes'),
    quorum: num('Quorum'),
    flags: (field('Flags') ?? '').split(/\s+/).filter((f) => f !== ''),
    members,
    text,
  };
}

export interface CpgtoolMember {
  pid: number;
  nodeId: number;
}

/** `corosync-cpgtool` output: a group name at column 0, then one indented `pid nodeid (addr)` line per member. */
export function parseCpgtool(text: string): Map<string, CpgtoolMember[]> {
  const out = new Map<string, CpgtoolMember[]>();
  let group: CpgtoolMember[] | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^Group Name\s/.test(line)) continue;
    const member = /^\s+(\d+)\s+(\d+)\b/.exec(line);
    if (member?.[1] !== undefined && member[2] !== undefined) {
      group?.push({ pid: Number(member[1]), nodeId: Number(member[2]) });
    } else if (!/^\s/.test(line)) {
      group = [];
      out.set(line.trimEnd(), group);
    }
  }
  return out;
}

/** One CPG address as cpgload prints it: nodeid:pid:reason (reason undef for members). */
export interface CpgloadAddress {
  nodeId: number;
  pid: number;
  reason: string;
}

/** One line of `cpgload -m watch` (or of -m text's SENT lines); `at` is its CLOCK_REALTIME stamp in seconds. */
export type CpgloadEvent = { at: number } & (
  | { kind: 'start'; nodeId: number; pid: number; group: string; line: string }
  | { kind: 'confchg'; members: CpgloadAddress[]; left: CpgloadAddress[]; joined: CpgloadAddress[]; line: string }
  | { kind: 'totem'; ring: string; members: number[]; line: string }
  | { kind: 'deliver'; nodeId: number; pid: number; len: number; text: string | null; line: string }
  | { kind: 'sent'; len: number; text: string; line: string }
);

function parseAddresses(list: string): CpgloadAddress[] {
  return list.split(',').filter((a) => a !== '').map((a) => {
    const [nodeId, pid, reason] = a.split(':');
    return { nodeId: Number(nodeId), pid: Number(pid), reason: reason ?? '' };
  });
}

/** cpgload's timestamped output lines → events (other lines are skipped). */
export function parseCpgloadWatch(output: string): CpgloadEvent[] {
  const out: CpgloadEvent[] = [];
  for (const raw of output.split('\n')) {
    const stamp = /^(\d+\.\d+) /.exec(raw)?.[1];
    const at = stamp === undefined ? NaN : Number(stamp);
    const line = stamp === undefined ? raw : raw.slice(stamp.length + 1);
    let m: RegExpExecArray | null;
    if ((m = /^START nodeid=(\d+) pid=(\d+) group=(.*)$/.exec(line)) !== null) {
      out.push({ at, kind: 'start', nodeId: Number(m[1]), pid: Number(m[2]), group: m[3] ?? '', line });
    } else if ((m = /^CONFCHG n=\d+ members=\[([^\]]*)\] left=\[([^\]]*)\] joined=\[([^\]]*)\]$/.exec(line)) !== null) {
      out.push({ at, kind: 'confchg', members: parseAddresses(m[1] ?? ''), left: parseAddresses(m[2] ?? ''), joined: parseAddresses(m[3] ?? ''), line });
    } else if ((m = /^TOTEM ring=(\S+) n=\d+ members=\[([^\]]*)\]$/.exec(line)) !== null) {
      out.push({ at, kind: 'totem', ring: m[1] ?? '', members: (m[2] ?? '').split(',').filter((x) => x !== '').map(Number), line });
    } else if ((m = /^DELIVER from=(\d+):(\d+) len=(\d+)(?: text="(.*)")?$/.exec(line)) !== null) {
      out.push({ at, kind: 'deliver', nodeId: Number(m[1]), pid: Number(m[2]), len: Number(m[3]), text: m[4] ?? null, line });
    } else if ((m = /^SENT len=(\d+) text="(.*)"$/.exec(line)) !== null) {
      out.push({ at, kind: 'sent', len: Number(m[1]), text: m[2] ?? '', line });
    }
  }
  return out;
}

/** Compiles ../shared/tools/cpgload/cpgload.c into dir (gcc, -lcpg -lquorum -lm); returns the binary's path. */
export async function buildCpgload(dir: string): Promise<string> {
  const binary = path.join(dir, 'cpgload');
  const r = await run(['gcc', '-O2', '-o', binary, CPGLOAD_SOURCE, '-lcpg', '-lquorum', '-lm'], 60_000);
  if (r.code !== 0) throw new Error(`building cpgload (gcc ${CPGLOAD_SOURCE} -lcpg -lquorum -lm) failed (exit ${String(r.code)}):\n${r.stdout}${r.stderr}`);
  return binary;
}

export interface LoggedMembership {
  rep: number;
  seq: bigint;
  line: string;
}

/** The last `A new membership (rep.seq) was formed` line of a corosync or carillond log (hex ids). */
export function lastMembership(log: string): LoggedMembership | null {
  let found: LoggedMembership | null = null;
  for (const m of log.matchAll(/^.*A new membership \(([0-9a-f]+)\.([0-9a-f]+)\) was formed.*$/gm)) {
    if (m[1] !== undefined && m[2] !== undefined) found = { rep: parseInt(m[1], 16), seq: BigInt(`0x${m[2]}`), line: m[0] };
  }
  return found;
}

/** The file's bytes from `offset` on, as text ('' when missing). */
export function readFrom(file: string, offset = 0): string {
  try {
    const bytes = fs.readFileSync(file);
    return bytes.subarray(Math.min(offset, bytes.length)).toString('utf8');
  } catch {
    return '';
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** libqb/IPC chatter that the tools' polling adds to a debug log; dropped from tails. */
const IPC_NOISE = /\[QB {4}\]|cs_ipcs_|connection created|\[CMAP {2}\] (lib_init_fn|exit_fn)|\[QUORUM\] (lib_|got |sending)|\[VOTEQ \] (got getinfo|getinfo response|sending initial|Sending (nodelist|quorum) callback)|\[CFG {3}\]|No configured system\.qb_ipc_type/;

/** The last `lines` meaningful lines of a log, for failure messages. */
export function logTail(file: string, lines = 40): string {
  const kept = readFrom(file).split('\n').filter((l) => l !== '' && !IPC_NOISE.test(l));
  return kept.slice(-lines).join('\n');
}

export interface ConfNode {
  nodeid: number;
  addr: string;
}

function totemAndNodelist(clusterName: string, nodes: readonly ConfNode[]): string {
  const list = nodes.map((n) => `    node {\n        ring0_addr: ${n.addr}\n        name: node${n.nodeid}\n        nodeid: ${n.nodeid}\n    }`).join('\n');
  return `totem {\n    version: 2\n    cluster_name: ${clusterName}\n    transport: udpu\n    crypto_cipher: none\n    crypto_hash: none\n}\nnodelist {\n${list}\n}\nquorum {\n    provider: corosync_votequorum\n}\n`;
}

/** corosync.conf for one node: udpu, crypto off, default timers, logs to stderr. */
export function corosyncConf(opts: { clusterName: string; nodes: readonly ConfNode[]; stateDir: string; debug: boolean }): string {
  return `${totemAndNodelist(opts.clusterName, opts.nodes)}logging {\n    to_stderr: yes\n    to_logfile: no\n    to_syslog: no\n    timestamp: hires\n    debug: ${opts.debug ? 'on' : 'off'}\n}\nsystem {\n    state_dir: ${opts.stateDir}\n    sched_rr: yes\n}\n`;
}

/** carillon.conf: the same totem/nodelist as the corosync nodes, plus the carillon { } section. */
export function carillonConf(opts: { clusterName: string; nodes: readonly ConfNode[]; stateDir: string; ipcSocket: string; debug: boolean }): string {
  return `${totemAndNodelist(opts.clusterName, opts.nodes)}logging {\n    to_stderr: yes\n    timestamp: hires\n    debug: ${opts.debug ? 'on' : 'off'}\n}\ncarillon {\n    state_dir: ${opts.stateDir}\n    ipc_socket: ${opts.ipcSocket}\n    http_listen: off\n}\nsystem {\n    sched_rr: no\n}\n`;
}

// ---------------------------------------------------------------------------------------
// Waiting and building

export interface Check {
  ok: boolean;
  detail: string;
}

/** Polls `probe` every intervalMs until it reports ok; throws with its last detail after timeoutMs. Resolves to the time it took. */
export async function pollUntil(what: string, timeoutMs: number, probe: () => Promise<Check>, intervalMs = 200): Promise<number> {
  const start = performance.now();
  let last = '(not probed)';
  for (;;) {
    try {
      const check = await probe();
      if (check.ok) return performance.now() - start;
      last = check.detail;
    } catch (error) {
      last = `probe threw: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nlast observation:\n${last}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Newest mtime of the .ts files under dir. */
function newestTsMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestTsMtime(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** dist/ under root is what carillond runs from: (re)build it when missing or older than src/. */
export async function ensureDistBuilt(root: string): Promise<void> {
  const daemonJs = path.join(root, 'dist', 'bin', 'daemon.js');
  const built = fs.existsSync(daemonJs) ? fs.statSync(daemonJs).mtimeMs : 0;
  if (built >= newestTsMtime(path.join(root, 'src'))) return;
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run([process.execPath, tsc, '-p', path.join(root, 'src', 'tsconfig.json')], 120_000);
  if (result.code !== 0) throw new Error(`building dist/ (tsc -p src/tsconfig.json) failed:\n${result.stdout}${result.stderr}`);
}
