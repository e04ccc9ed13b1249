// carillond's composition root (architecture.md §2.2, §2.8, §3.3): loads and validates the
// configuration, finds which nodelist entry this host is, opens the ring-id store, the
// transport (udpu or udp, optionally wrapped in AES-256-GCM) and the IPC socket, runs the
// Totem core through the Driver, and handles signals: SIGTERM/SIGINT leave the ring in
// order (a LEAVE join, so the others reform without waiting for a token timeout), SIGHUP
// reloads what can be reloaded.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Prng } from '../base/prng';
import { checkRunnable, loadCarillonConfig, type CarillonConfig } from '../config/load';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics';
import type { DaemonApi, DaemonStatus, NodeEntry, TotemEventJson } from '../ipc/daemon-api';
import { toTotemConfig } from '../totem/config';
import { TotemNode } from '../totem/srp/totem-node';
import type { TotemEvent } from '../totem/srp/types';
import { readAuthkey } from './authkey';
import { Driver } from './driver';
import { IpcServer } from './ipc-server';
import { createLogger, type Logger } from './logger';
import { FileRingIdStore } from './ring-id-store';
import { totemTraceLogger } from './totem-log';
import { CRYPTO_OVERHEAD_BYTES, CryptoTransport } from './transport/crypto-transport';
import { Keyring } from './transport/keyring';
import type { Transport, TransportLogger } from './transport/transport';
import { UdpTransport } from './transport/udp-transport';
import { UdpuTransport } from './transport/udpu-transport';

export const DaemonExit = { ok: 0, failure: 1, usage: 2, config: 78 } as const;

export class DaemonStartError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number = DaemonExit.failure) {
    super(message);
    this.name = 'DaemonStartError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export interface LoadedConfig {
  readonly config: CarillonConfig;
  readonly warnings: readonly Diagnostic[];
}

/** Reads and validates a config file; throws DaemonStartError (exit 78) listing every error. */
export function loadDaemonConfig(file: string, localNodeId?: number): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new DaemonStartError('CONFIG_UNREADABLE', `${file}: cannot read the configuration: ${(error as Error).message}`, DaemonExit.config);
  }
  const result = loadCarillonConfig(text, file, localNodeId === undefined ? {} : { localNodeId });
  const runnable = result.config === null ? [] : checkRunnable(result.config);
  const diagnostics = [...result.diagnostics, ...runnable];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (result.config === null || errors.length > 0) {
    throw new DaemonStartError('CONFIG_INVALID', diagnostics.map(formatDiagnostic).join('\n'), DaemonExit.config);
  }
  return { config: result.config, warnings: diagnostics.filter((d) => d.severity === 'warning') };
}

/** Which nodelist entry is this host: configured, or the one whose address is local. */
export function findLocalNodeId(config: CarillonConfig, interfaces = os.networkInterfaces()): number {
  if (config.localNodeId !== null) return config.localNodeId;
  const local = new Set<string>();
  for (const list of Object.values(interfaces)) for (const info of list ?? []) local.add(info.address);
  const matches = config.nodelist.filter((n) => n.ring0Addr.family !== 'hostname' && local.has(n.ring0Addr.text));
  if (matches.length === 1 && matches[0] !== undefined) return matches[0].nodeid;
  const hint = 'set `local_nodeid: N` in the carillon { } section or pass --local-nodeid N';
  if (matches.length === 0) {
    throw new DaemonStartError('LOCAL_NODE_NOT_FOUND', `${config.file}: no nodelist ring0_addr is an address of this host; ${hint}`, DaemonExit.config);
  }
  const ids = matches.map((n) => n.nodeid).join(', ');
  throw new DaemonStartError('LOCAL_NODE_AMBIGUOUS', `${config.file}: several nodelist entries are local addresses (nodeids ${ids}); ${hint}`, DaemonExit.config);
}

function ringJson(ring: { rep: number; seq: bigint }): { rep: number; seq: string } {
  return { rep: ring.rep, seq: ring.seq.toString() };
}

function toEventJson(event: TotemEvent): TotemEventJson {
  if (event.kind === 'deliver') {
    return {
      kind: 'deliver', ringId: ringJson(event.ringId), seq: event.seq, sender: event.sender,
      payloadHex: Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength).toString('hex'),
    };
  }
  return {
    kind: 'confchg', type: event.type, ringId: ringJson(event.ringId),
    members: [...event.members], left: [...event.left], joined: [...event.joined],
  };
}

/** Copies numeric counters, one level of per-reason maps included, as `prefix.key[.sub]`. */
function flattenCounters(out: Record<string, number>, prefix: string, source: object): void {
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'number') out[`${prefix}.${key}`] = value;
    else if (value !== null && typeof value === 'object') {
      for (const [sub, inner] of Object.entries(value as Record<string, unknown>)) {
        if (typeof inner === 'number') out[`${prefix}.${key}.${sub}`] = inner;
      }
    }
  }
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface DaemonOptions {
  readonly configFile: string;
  readonly localNodeId?: number;
  /** Replaces the logger built from logging { } (tests). */
  readonly logger?: Logger;
}

/** A running carillond. `Daemon.start()` builds it; `stop()` leaves the ring and closes. */
export class Daemon implements DaemonApi {
  private readonly startedAtMs = performance.now();
  private readonly version = readVersion();
  private stopping: Promise<void> | null = null;

  private readonly configFile: string;
  private config: CarillonConfig;
  private readonly nodeId: number;
  private readonly logger: Logger;
  private readonly node: TotemNode;
  private readonly netMtu: number;
  private readonly driver: Driver;
  private readonly transport: Transport;
  private readonly ipc: IpcServer;

  private constructor(parts: {
    configFile: string; config: CarillonConfig; nodeId: number; logger: Logger; node: TotemNode;
    netMtu: number; driver: Driver; transport: Transport; ipc: IpcServer;
  }) {
    this.configFile = parts.configFile;
    this.config = parts.config;
    this.nodeId = parts.nodeId;
    this.logger = parts.logger;
    this.node = parts.node;
    this.netMtu = parts.netMtu;
    this.driver = parts.driver;
    this.transport = parts.transport;
    this.ipc = parts.ipc;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, warnings } = loadDaemonConfig(options.configFile, options.localNodeId);
    const nodeId = findLocalNodeId(config);
    const logger = options.logger ?? createLogger(config.logging, { nodeId });
    for (const warning of warnings) logger.log('warning', 'MAIN', formatDiagnostic(warning));
    const transportLog: TransportLogger = (level, message, fields) => logger.log(level, 'TOTEM', message, fields);
    const transport = await openTransport(config, nodeId, transportLog, logger);
    const ringIdStore = new FileRingIdStore({ stateDir: config.carillon.stateDir, log: (level, message) => logger.log(level, 'MAIN', message) });
    const restoredRingSeq = ringIdStore.load(nodeId);
    const overhead = config.totem.crypto.enabled ? CRYPTO_OVERHEAD_BYTES : 0;
    const totemConfig = toTotemConfig({ ...config.totemMs, netmtu: config.totemMs.netmtu - overhead }, config.carillon.tickMs);
    const node = new TotemNode({
      nodeId, nodelist: config.nodelist.map((n) => n.nodeid), config: totemConfig, restoredRingSeq, prng: new Prng(nodeId ^ Date.now()),
      trace: totemTraceLogger(logger, config.totemMs),
    });
    const driver = new Driver({ nodeId, node, transport, ringIdStore, logger, tickMs: config.carillon.tickMs, autoTransAck: true });
    let daemon: Daemon | null = null;
    const ipc = new IpcServer({
      socketPath: config.carillon.ipcSocket,
      nodeId,
      api: {
        status: () => (daemon as Daemon).status(),
        totemSubmit: (payload) => (daemon as Daemon).totemSubmit(payload),
        subscribeTotem: (listener) => (daemon as Daemon).subscribeTotem(listener),
        reload: () => (daemon as Daemon).reload(),
      },
      log: {
        info: (message, meta) => logger.log('info', 'IPC', message, meta),
        warn: (message, meta) => logger.log('warning', 'IPC', message, meta),
      },
    });
    daemon = new Daemon({ configFile: options.configFile, config, nodeId, logger, node, netMtu: totemConfig.netMtu, driver, transport, ipc });
    try {
      await transport.start();
      await ipc.listen();
    } catch (error) {
      await transport.close().catch(() => undefined);
      throw error;
    }
    logger.log('notice', 'MAIN', `carillond ${daemon.version} starting: nodeid ${nodeId}, ${config.totem.transport}${config.totem.crypto.enabled ? ' with AES-256-GCM' : ''}, ring seq ${restoredRingSeq} restored, IPC at ${config.carillon.ipcSocket}`);
    driver.start();
    return daemon;
  }

  status(): DaemonStatus {
    const totem = this.node.status();
    const entry = (nodeId: number): NodeEntry => {
      const node = this.config.nodelist.find((n) => n.nodeid === nodeId);
      return { nodeId, name: node?.name ?? null, addresses: node === undefined ? [] : [node.ring0Addr.text] };
    };
    const stats: Record<string, number> = {};
    flattenCounters(stats, 'srp', totem.stats);
    flattenCounters(stats, 'driver', this.driver.stats);
    flattenCounters(stats, 'transport', this.transport.stats());
    return {
      nodeId: this.nodeId,
      clusterName: this.config.totem.clusterName ?? '',
      transport: this.config.totem.transport,
      crypto: this.config.totem.crypto.enabled,
      ringId: ringJson(totem.ringId),
      state: totem.state,
      members: totem.members.map(entry),
      nodelist: this.config.nodelist.map((n) => ({
        ...entry(n.nodeid),
        status: n.nodeid === this.nodeId ? 'localhost' : totem.members.includes(n.nodeid) ? 'connected' : 'disconnected',
      })),
      quorate: null,
      uptimeSec: Math.floor((performance.now() - this.startedAtMs) / 1000),
      version: this.version,
      stats,
    };
  }

  totemSubmit(payload: Uint8Array): 'queued' | 'full' {
    // One Totem message carries at most net_mtu bytes; totempg fragments larger ones.
    if (payload.length > this.netMtu) throw new RangeError(`payload of ${payload.length} bytes exceeds net_mtu (${this.netMtu})`);
    return this.driver.submit(payload);
  }

  subscribeTotem(listener: (event: TotemEventJson) => void): () => void {
    return this.driver.onEvent((event) => listener(toEventJson(event)));
  }

  /** SIGHUP: re-validate the file; Totem and transport settings need a restart to change. */
  async reload(): Promise<{ reloaded: string[]; needsRestart: string[] }> {
    const { config } = loadDaemonConfig(this.configFile, this.nodeId);
    const needsRestart: string[] = [];
    const before = this.config;
    if (JSON.stringify(before.totemMs) !== JSON.stringify(config.totemMs)) needsRestart.push('totem timers');
    if (JSON.stringify(before.nodelist.map((n) => [n.nodeid, n.ring0Addr.text])) !== JSON.stringify(config.nodelist.map((n) => [n.nodeid, n.ring0Addr.text]))) {
      needsRestart.push('nodelist');
    }
    if (before.totem.transport !== config.totem.transport || before.totem.crypto.enabled !== config.totem.crypto.enabled) needsRestart.push('transport');
    if (before.carillon.ipcSocket !== config.carillon.ipcSocket || before.carillon.stateDir !== config.carillon.stateDir) needsRestart.push('carillon');
    this.config = { ...before, logging: config.logging, quorum: config.quorum };
    const reloaded = ['configuration validated'];
    if (before.logging.debug !== config.logging.debug && this.logger.setDebug !== undefined) {
      this.logger.setDebug(config.logging.debug);
      reloaded.push(`logging.debug: ${config.logging.debug}`);
    }
    this.logger.log('notice', 'MAIN', `configuration reloaded from ${this.configFile}${needsRestart.length > 0 ? `; restart needed for: ${needsRestart.join(', ')}` : ''}`);
    return Promise.resolve({ reloaded, needsRestart });
  }

  /** Orderly shutdown: LEAVE, give the datagrams a moment to go out, close everything. */
  stop(reason = 'shutdown requested'): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      this.logger.log('notice', 'MAIN', `${reason}: leaving the ring`);
      this.driver.leave();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await this.ipc.close().catch(() => undefined);
      await this.transport.close().catch(() => undefined);
      this.logger.log('notice', 'MAIN', 'carillond stopped');
      await this.logger.close();
    })();
    return this.stopping;
  }
}

async function openTransport(config: CarillonConfig, nodeId: number, log: TransportLogger, logger: Logger): Promise<Transport> {
  const inner: Transport = config.totem.transport === 'udp'
    ? await UdpTransport.fromConfig(config, nodeId, { log })
    : await UdpuTransport.fromConfig(config, nodeId, { log });
  if (!config.totem.crypto.enabled) return inner;
  const authkey = await readAuthkey(config.totem.crypto.keyfile);
  return new CryptoTransport({
    inner,
    keyring: Keyring.fromAuthkeys(authkey),
    clusterName: config.totem.clusterName ?? '',
    warn: (message, fields) => logger.log('warning', 'TOTEM', message, fields),
  });
}
