// One side of the benchmark — three real corosync 3.1.7 daemons or three carillond — in
// the network namespaces of a NetnsCluster (test/integration/interop/netns.ts: node i at
// <subnet>.i, a private /run per corosync, every process tracked and killed on teardown).
// Both sides get the same corosync.conf (udpu, crypto off, default timers unless a token
// is given) but for two sections: carillond's adds carillon { } (its IPC socket,
// state_dir, no HTTP, optionally the bridge's res_corosync.conf), and each side's
// system { } holds its own default scheduling — corosync sched_rr: yes with its
// state_dir, carillond none, i.e. nice -20 (README "Deviations": real-time carillond
// starves the local clients that this bench runs next to it). Both are what an
// unmodified install does.
//
// The CPG clients are ../shared/tools/cpgload (built by buildCpgload) on the corosync side
// and scripts/bench/cpgload.ts on the Carillon side, both started inside the node's
// namespace with the same cpgload arguments, their output in a log file each.
// Every wait is bounded (pollUntil); failures say what was last seen.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { IpcClient } from '../../src/client/ipc-client';
import { type ConfNode, type ManagedProcess, type NetnsCluster, pollUntil } from '../../test/integration/interop/netns';

export type Side = 'corosync' | 'carillon';
export const SIDES: readonly Side[] = ['corosync', 'carillon'];

export const ROOT = path.resolve(__dirname, '../..');
export const DAEMON_JS = path.join(ROOT, 'dist', 'bin', 'daemon.js');
export const CARILLON_CPGLOAD = path.join(ROOT, 'scripts', 'bench', 'cpgload.ts');

export interface DaemonSettings {
  /** totem.token in ms; null: corosync's default (3000 + 650 per node beyond two). */
  readonly tokenMs: number | null;
  /** carillond only: the bridge's res_corosync.conf for node i (null: no bridge). */
  readonly resCorosyncConf?: (i: number) => string | null;
}

/** corosync.conf for one node, identical for both sides but for carillon { } and system { }. */
export function benchConf(opts: {
  side: Side;
  clusterName: string;
  nodes: readonly ConfNode[];
  stateDir: string;
  tokenMs: number | null;
  carillon?: { stateDir: string; ipcSocket: string; resCorosyncConf: string | null };
}): string {
  const list = opts.nodes.map((n) => `    node {\n        ring0_addr: ${n.addr}\n        name: node${n.nodeid}\n        nodeid: ${n.nodeid}\n    }`).join('\n');
  const token = opts.tokenMs === null ? '' : `    token: ${opts.tokenMs}\n`;
  let text =
    `totem {\n    version: 2\n    cluster_name: ${opts.clusterName}\n    transport: udpu\n    crypto_cipher: none\n    crypto_hash: none\n${token}}\n` +
    `nodelist {\n${list}\n}\n` +
    `quorum {\n    provider: corosync_votequorum\n}\n` +
    `logging {\n    to_stderr: yes\n    to_logfile: no\n    to_syslog: no\n    timestamp: hires\n    debug: off\n}\n`;
  if (opts.side === 'corosync') text += `system {\n    state_dir: ${opts.stateDir}\n    sched_rr: yes\n}\n`;
  // carillond: no system { }, so its own default (nice -20, src/runtime/scheduling.ts).
  if (opts.side === 'carillon') {
    const c = opts.carillon;
    if (c === undefined) throw new Error('benchConf: the carillon side needs its carillon { } settings');
    const bridge = c.resCorosyncConf === null ? '' : `    res_corosync_conf: ${c.resCorosyncConf}\n`;
    text += `carillon {\n    state_dir: ${c.stateDir}\n    ipc_socket: ${c.ipcSocket}\n    http_listen: off\n${bridge}}\n`;
  }
  return text;
}

/** The daemons of one side and their CPG clients. */
export class BenchCluster {
  readonly net: NetnsCluster;
  readonly side: Side;
  readonly cpgloadBinary: string;
  private readonly daemons = new Map<number, ManagedProcess>();
  private settings: DaemonSettings = { tokenMs: null };
  private clientSerial = 0;

  constructor(net: NetnsCluster, side: Side, cpgloadBinary: string) {
    this.net = net;
    this.side = side;
    this.cpgloadBinary = cpgloadBinary;
  }

  get nodeIds(): number[] {
    return Array.from({ length: this.net.size }, (_, k) => k + 1);
  }

  socketPath(i: number): string {
    return path.join(this.net.dir(i), 'carillon.sock');
  }

  /** The daemon's pid on node i (corosync and node exec through `ip netns exec`, so it is the child's). */
  daemonPid(i: number): number {
    const d = this.daemons.get(i);
    if (d === undefined || !d.alive) throw new Error(`no ${this.side} daemon runs on node ${i}`);
    return d.pid;
  }

  daemonLog(i: number): string {
    return path.join(this.net.dir(i), this.side === 'corosync' ? 'corosync.log' : 'carillon.log');
  }

  private conf(i: number): string {
    const d = this.net.dir(i);
    const nodes = this.nodeIds.map((n) => ({ nodeid: n, addr: this.net.addr(n) }));
    const clib = path.join(d, 'clib');
    fs.mkdirSync(clib, { recursive: true });
    return benchConf({
      side: this.side,
      clusterName: 'cbench',
      nodes,
      stateDir: path.join(d, 'lib'),
      tokenMs: this.settings.tokenMs,
      carillon: { stateDir: clib, ipcSocket: this.socketPath(i), resCorosyncConf: this.settings.resCorosyncConf?.(i) ?? null },
    });
  }

  /** Starts the daemon of node i with the current settings. */
  start(i: number): void {
    if (this.daemons.get(i)?.alive === true) throw new Error(`node ${i} already runs a daemon`);
    const proc = this.side === 'corosync' ? this.net.startCorosync(i, this.conf(i)) : this.net.startCarillond(i, this.conf(i), DAEMON_JS);
    this.daemons.set(i, proc);
  }

  /** Starts every node with `settings` and waits until each sees all of them. */
  async startAll(settings: DaemonSettings, timeoutMs = 60_000): Promise<void> {
    this.settings = settings;
    for (const i of this.nodeIds) this.start(i);
    await this.waitReady(this.nodeIds, this.net.size, timeoutMs);
  }

  /** kill -9 of node i's daemon; resolves once it is reaped. */
  async kill(i: number): Promise<void> {
    const d = this.daemons.get(i);
    if (d === undefined) return;
    await d.kill(10_000);
  }

  /** SIGTERM to every daemon, SIGKILL after 10 s. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.daemons.values()].map(async (d) => {
        d.signal('SIGTERM');
        await d.waitExit(10_000).catch(() => d.kill(5000).catch(() => undefined));
      }),
    );
    this.daemons.clear();
  }

  /** Waits until every node of `nodes` reports `expected` members and is ready for clients. */
  async waitReady(nodes: readonly number[], expected: number, timeoutMs: number): Promise<void> {
    await Promise.all(nodes.map((i) => pollUntil(`${this.side} node ${i} to see ${expected} members`, timeoutMs, () => this.readyCheck(i, expected))));
  }

  private async readyCheck(i: number, expected: number): Promise<{ ok: boolean; detail: string }> {
    const d = this.daemons.get(i);
    if (d === undefined || !d.alive) throw new Error(`the ${this.side} daemon of node ${i} is not running (exit ${JSON.stringify(d?.exit ?? null)})`);
    if (this.side === 'corosync') {
      const q = await this.net.quorumtoolStatus(i);
      return { ok: q.nodes === expected && q.quorate, detail: q.text };
    }
    const ipc = await IpcClient.connect(this.socketPath(i), { timeoutMs: 2000, clientName: 'bench' });
    try {
      const s = await ipc.call('status', {}, { timeoutMs: 2000 });
      return { ok: s.members.length === expected && s.state === 'operational' && s.syncing !== true, detail: JSON.stringify({ state: s.state, members: s.members.length, syncing: s.syncing }) };
    } finally {
      await ipc.close();
    }
  }

  /** argv of a CPG client on node i with cpgload's arguments. */
  clientArgv(i: number, args: readonly string[]): string[] {
    if (this.side === 'corosync') return [this.cpgloadBinary, ...args];
    // CARILLON_CLIENT_NODE_ARGS: extra node flags for the Carillon-side clients (e.g. --cpu-prof).
    const nodeArgs = (process.env['CARILLON_CLIENT_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    return [process.execPath, ...nodeArgs, '--import', 'tsx', CARILLON_CPGLOAD, '--socket', this.socketPath(i), ...args];
  }

  /** Starts a CPG client on node i; its stdout+stderr go to a fresh log file. */
  spawnClient(i: number, name: string, args: readonly string[]): ManagedProcess {
    this.clientSerial += 1;
    const log = path.join(this.net.dir(i), `client-${this.side}-${this.clientSerial}-${name.replace(/[^a-z0-9]+/gi, '_')}.log`);
    return this.net.spawnIn(i, `${this.side} ${name} on node ${i}`, log, this.clientArgv(i, args));
  }
}
