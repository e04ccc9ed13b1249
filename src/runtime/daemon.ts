// carillond's composition root (architecture.md §2.2, §2.8, §3.3): loads and validates the
// configuration, finds which nodelist entry this host is, opens the ring-id store, the
// transport (udpu or udp, optionally wrapped in AES-256-GCM) and the IPC socket, runs the
// Totem core through the Driver with the services above it (cmap, cfg, cpg, quorum,
// votequorum: daemon-services.ts), and handles signals: SIGTERM/SIGINT leave the ring in
// order (every CPG process leaves first with reason procdown, as corosync's service
// unlink does; then a LEAVE join, so the others reform without waiting for a token
// timeout), SIGHUP reloads what can be reloaded. A cfg KILLNODE naming this node
// (corosync-cfgtool -k) ends the daemon at once with status 255, as corosync's
// exit(-1): no LEAVE, the others see a failed node. Health and metrics (§3.3): an HTTP
// server on carillon { http_listen } (http-server.ts, metrics.ts) starts once the IPC
// socket listens and closes first on stop. The availability manager (supervisor.ts)
// starts the programs of amf { } once the ring runs, hears every quorum change, is
// stopped before the LEAVE, and a program escalating with `leave` makes the daemon leave
// in order and exit with status 3.
//
// Memory (issue 7): what a daemon does not use is not loaded. The Asterisk bridge (AMI,
// ARI and ws, the res_corosync.conf parser) loads only with carillon { res_corosync_conf },
// the HTTP server and prom-client only with http_listen on; `lazy` below says how.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Prng } from '../base/prng';
import { parseCorosyncConf, type ConfDocument } from '../config/corosync-conf';
import { checkRunnable, loadCarillonConfig, type CarillonConfig } from '../config/load';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics';
import type { DaemonApi, DaemonStatus, NodeEntry, TotemEventJson } from '../ipc/daemon-api';
import { toTotemConfig } from '../totem/config';
import { decodePgPacket } from '../totem/pg/packet';
import { TotemNode } from '../totem/srp/totem-node';
import type { TotemEvent } from '../totem/srp/types';
import type { BridgeSettings } from '../asterisk/core/bridge-settings';
import { readAuthkey } from './authkey';
import type { BridgeRunner } from './bridge-runner';
import { DaemonServices } from './daemon-services';
import { Driver } from './driver';
import { EventLoopMonitor } from './event-loop-monitor';
import type { HealthHttpServer } from './http-server';
import { IpcServer } from './ipc-server';
import { createLogger, type Logger } from './logger';
import type { DaemonMetrics } from './metrics';
import { ProcessSupervisor } from './supervisor';
import { FileRingIdStore } from './ring-id-store';
import { applyScheduling } from './scheduling';
import { totemTraceLogger } from './totem-log';
import { CRYPTO_OVERHEAD_BYTES, CryptoTransport } from './transport/crypto-transport';
import { Keyring } from './transport/keyring';
import type { Transport, TransportLogger } from './transport/transport';
import { UdpTransport } from './transport/udp-transport';
import { UdpuTransport } from './transport/udpu-transport';

/** escalated: an amf program escalated with `leave` (systemd: RestartPreventExitStatus=78 3). */
export const DaemonExit = { ok: 0, failure: 1, usage: 2, escalated: 3, config: 78, killed: 255 } as const;

/**
 * The modules a daemon may go without, loaded on first use (issue 7: each costs
 * resident memory for its code whether it runs or not). A plain require, not import():
 * dist/ is CommonJS, and import() would start Node's ESM loader (~2 MiB more).
 */
const lazy = {
  /* eslint-disable @typescript-eslint/no-require-imports */
  bridgeConfig: () => require('../asterisk/bridge-config') as typeof import('../asterisk/bridge-config'),
  bridgeRunner: () => require('./bridge-runner') as typeof import('./bridge-runner'),
  httpServer: () => require('./http-server') as typeof import('./http-server'),
  metrics: () => require('./metrics') as typeof import('./metrics'),
  /* eslint-enable @typescript-eslint/no-require-imports */
} as const;

/** How often stats.* in cmap are refreshed. */
const STATS_INTERVAL_MS = 1000;
/** Longest wait on SIGTERM for our CPG processes' PROCLEAVEs to be delivered before the LEAVE. */
const CPG_LEAVE_WAIT_MAX_MS = 1500;

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
  /** The parsed file (cmap holds its keys as coroparse would). */
  readonly document: ConfDocument;
}

/** Reads a file for the res_corosync.conf loader (#include too): null when unreadable. */
function readConfigFile(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Loads the bridge's res_corosync.conf; throws DaemonStartError (exit 78) listing every error. */
export function loadDaemonBridgeConfig(file: string): { settings: BridgeSettings; warnings: readonly Diagnostic[] } {
  if (readConfigFile(file) === null) {
    throw new DaemonStartError('CONFIG_UNREADABLE', `${file}: cannot read res_corosync_conf`, DaemonExit.config);
  }
  const result = lazy.bridgeConfig().loadBridgeConfig(file, readConfigFile);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (result.settings === null || errors.length > 0) {
    throw new DaemonStartError('CONFIG_INVALID', result.diagnostics.map(formatDiagnostic).join('\n'), DaemonExit.config);
  }
  return { settings: result.settings, warnings: result.diagnostics.filter((d) => d.severity === 'warning') };
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
  return { config: result.config, warnings: diagnostics.filter((d) => d.severity === 'warning'), document: parseCorosyncConf(text, file).document };
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
  /** Ends the process after a fatal event (KILLNODE); default process.exit(code). */
  readonly exit?: (code: number) => void;
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
  readonly services: DaemonServices;
  /** The Asterisk bridge, when carillon { res_corosync_conf } is set. */
  readonly bridgeRunner: BridgeRunner | null;
  /** Supervised programs (amf { }) and SAM registrations. */
  readonly amf: ProcessSupervisor;
  private amfQuorumUnsubscribe: (() => void) | null = null;
  private readonly statsTimer: NodeJS.Timeout;
  private fatal = false;
  /** Health and metrics (architecture.md §3.3): all three null with `http_listen: off`. */
  private readonly http: HealthHttpServer | null;
  private readonly eventLoop: EventLoopMonitor | null;
  readonly metrics: DaemonMetrics | null;

  private constructor(parts: {
    configFile: string; config: CarillonConfig; nodeId: number; logger: Logger; node: TotemNode;
    netMtu: number; driver: Driver; transport: Transport; ipc: IpcServer; services: DaemonServices; bridge: BridgeRunner | null;
    http: HealthHttpServer | null; eventLoop: EventLoopMonitor | null; metrics: DaemonMetrics | null;
    amf: ProcessSupervisor;
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
    this.services = parts.services;
    this.bridgeRunner = parts.bridge;
    this.http = parts.http;
    this.eventLoop = parts.eventLoop;
    this.metrics = parts.metrics;
    this.amf = parts.amf;
    this.statsTimer = setInterval(() => this.publishStats(), STATS_INTERVAL_MS);
    this.statsTimer.unref();
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, warnings, document } = loadDaemonConfig(options.configFile, options.localNodeId);
    const nodeId = findLocalNodeId(config);
    const bridgeConfig = config.carillon.resCorosyncConf === null ? null : loadDaemonBridgeConfig(config.carillon.resCorosyncConf);
    const logger = options.logger ?? createLogger(config.logging, { nodeId });
    for (const warning of [...warnings, ...(bridgeConfig?.warnings ?? [])]) logger.log('warning', 'MAIN', formatDiagnostic(warning));
    const scheduling = applyScheduling(config.system);
    if (scheduling.outcome !== null) logger.log(scheduling.outcome.level, 'MAIN', scheduling.outcome.message);
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
    let daemon: Daemon | null = null;
    let driver: Driver | null = null;
    let bridge: BridgeRunner | null = null;
    const services = new DaemonServices({
      config, document, nodeId, node, netMtu: totemConfig.netMtu, tickMs: config.carillon.tickMs, logger,
      flush: () => driver?.flush(),
      onKill: (reason, from) => (daemon as Daemon).killed(reason, from, options.exit ?? ((code) => process.exit(code))),
    });
    driver = new Driver({ nodeId, node, transport, ringIdStore, logger, tickMs: config.carillon.tickMs, services: services.host });
    const exit = options.exit ?? ((code: number) => process.exit(code));
    const amf = new ProcessSupervisor({
      processes: config.amf.processes,
      childNice: scheduling.childNice,
      logger,
      cmap: {
        set: (entries) => {
          for (const p of services.cmap.setConfigKeys(entries)) logger.log('debug', 'AMF', `cannot set ${p.key}: ${p.error.message}`);
        },
        deletePrefix: (prefix) => {
          for (const entry of services.cmap.store.iterate(prefix)) services.cmap.store.delete(entry.key);
        },
      },
      onEscalateLeave: (name, reason) => (daemon as Daemon).escalateLeave(name, reason, exit),
    });
    const ipc = new IpcServer({
      socketPath: config.carillon.ipcSocket,
      nodeId,
      api: {
        status: () => (daemon as Daemon).status(),
        totemSubmit: (payload) => (daemon as Daemon).totemSubmit(payload),
        subscribeTotem: (listener) => (daemon as Daemon).subscribeTotem(listener),
        reload: () => (daemon as Daemon).reload(),
        services,
        amf,
        ...(bridgeConfig === null
          ? {}
          : { bridge: { status: () => (bridge as BridgeRunner).status(), ping: () => (bridge as BridgeRunner).ping() } }),
      },
      log: {
        info: (message, meta) => logger.log('info', 'IPC', message, meta),
        warn: (message, meta) => logger.log('warning', 'IPC', message, meta),
      },
    });
    if (bridgeConfig !== null && config.carillon.resCorosyncConf !== null) {
      const self = config.nodelist.find((n) => n.nodeid === nodeId);
      bridge = new (lazy.bridgeRunner().BridgeRunner)({
        settings: bridgeConfig.settings,
        configFile: config.carillon.resCorosyncConf,
        services,
        nodeId,
        localAddr: self?.ring0Addr.text ?? '',
        logger,
      });
    }
    const listen = config.carillon.httpListen;
    // Health and metrics exist only with http_listen on: nothing else reads them.
    let metrics: DaemonMetrics | null = null;
    let eventLoop: EventLoopMonitor | null = null;
    let http: HealthHttpServer | null = null;
    if (listen !== null) {
      const daemonMetrics = new (lazy.metrics().DaemonMetrics)({
        sources: {
          status: () => (daemon as Daemon).status(),
          quorum: () => services.quorumStatus(),
          cpg: () => ({ groups: services.cpg.groups().length, ...services.cpg.counters() }),
          ipc: () => ipc.stats(),
          bridge: () => bridge?.status() ?? null,
        },
      });
      node.onTokenReceived(() => daemonMetrics.observeTokenReceived());
      driver.onSchedMiss((lagMs) => daemonMetrics.observeSchedMiss(lagMs));
      const loop = new EventLoopMonitor();
      metrics = daemonMetrics;
      eventLoop = loop;
      http = new (lazy.httpServer().HealthHttpServer)({
        host: listen.host,
        port: listen.port,
        handlers: {
          eventLoopLagMs: () => loop.lagMs(),
          readiness: () => {
            const s = (daemon as Daemon).status();
            return { state: s.state, syncing: s.syncing, quorate: s.quorate, ipcListening: ipc.listening };
          },
          metrics: () => daemonMetrics.render(),
        },
        onRequest: (path, statusCode) => daemonMetrics.countHttpRequest(path, statusCode),
        log: { warn: (message, meta) => logger.log('warning', 'MAIN', message, meta) },
      });
    }
    daemon = new Daemon({ configFile: options.configFile, config, nodeId, logger, node, netMtu: totemConfig.netMtu, driver, transport, ipc, services, bridge, http, eventLoop, metrics, amf });
    try {
      await transport.start();
      await ipc.listen();
      await http?.listen();
    } catch (error) {
      await ipc.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
      if (http !== null && error instanceof lazy.httpServer().HttpServerError) {
        throw new DaemonStartError(error.code, `${error.message}; choose another carillon { http_listen: HOST:PORT } or set http_listen: off`);
      }
      throw error;
    }
    eventLoop?.start();
    logger.log('notice', 'MAIN', `carillond ${daemon.version} starting: nodeid ${nodeId}, ${config.totem.transport}${config.totem.crypto.enabled ? ' with AES-256-GCM' : ''}, ring seq ${restoredRingSeq} restored, IPC at ${config.carillon.ipcSocket}`);
    if (listen !== null) logger.log('info', 'MAIN', `health and metrics on http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}/ (/healthz, /readyz, /metrics)`);
    const names = services.host.status().services.map((s) => `${s.name} (${s.id})`).join(', ');
    logger.log('info', 'SERV', `Service engines loaded: ${names}; quorum provider: ${config.quorum === null ? 'none' : config.quorum.provider}`);
    driver.start();
    daemon.publishStats();
    if (bridge !== null) {
      logger.log('notice', 'BRIDGE', `Asterisk bridge starting with ${config.carillon.resCorosyncConf ?? ''}`);
      bridge.start();
    }
    daemon.startAmf();
    return daemon;
  }

  /** Starts the supervised programs once the ring runs; quorum changes reach them from now on. */
  private startAmf(): void {
    if (this.amf.processCount === 0) return;
    this.logger.log('notice', 'AMF', `supervising ${this.amf.processCount} program(s): ${this.config.amf.processes.map((p) => p.name).join(', ')}`);
    this.amfQuorumUnsubscribe = this.services.subscribeQuorum((event) => this.amf.setQuorate(event.quorate));
    this.amf.startAll();
  }

  /**
   * How long stop() may take beyond the ring's own leave: the supervised programs get
   * their stop_timeout (SIGTERM, then SIGKILL) and a moment to exit.
   */
  shutdownBudgetMs(): number {
    return this.amf.processCount === 0 ? 0 : this.amf.stopTimeoutMaxMs() + 2000;
  }

  /**
   * An amf program escalated with `leave`: leave the ring in order (programs stopped
   * first, as on SIGTERM) and exit with status 3, which systemd is told not to restart.
   */
  escalateLeave(name: string, reason: string, exit: (code: number) => void): void {
    if (this.stopping !== null || this.fatal) return;
    this.logger.log('error', 'AMF', `${reason}: escalation leave: carillond leaves the cluster and exits with status ${DaemonExit.escalated}`);
    void this.stop(`amf program ${name} escalated`).finally(() => exit(DaemonExit.escalated));
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
    flattenCounters(stats, 'services', this.services.host.status().counters);
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
      quorate: this.services.isQuorate(),
      syncing: this.services.isSyncing(),
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

  /**
   * The raw Totem test hook: every configuration change, and the deliveries that are not
   * totempg packets (what totem.submit injected). The services' own traffic — valid
   * totempg packets — is left out: it is theirs, and it would interleave with a test's
   * messages whenever a sync runs.
   */
  subscribeTotem(listener: (event: TotemEventJson) => void): () => void {
    return this.driver.onEvent((event) => {
      if (event.kind === 'deliver' && decodePgPacket(event.payload).ok) return;
      listener(toEventJson(event));
    });
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
    if (JSON.stringify(before.carillon.httpListen) !== JSON.stringify(config.carillon.httpListen)) needsRestart.push('carillon.http_listen');
    const programs = (c: CarillonConfig): string => JSON.stringify(c.amf.processes.map(({ position: _position, ...rest }) => rest));
    if (programs(before) !== programs(config)) needsRestart.push('amf');
    const reloaded = ['configuration validated'];
    const votes = (c: CarillonConfig): string => JSON.stringify([c.quorum, c.nodelist.map((n) => [n.nodeid, n.quorumVotes, n.name])]);
    let quorum = before.quorum;
    if (votes(before) !== votes(config)) {
      const result = this.services.reloadQuorum(config);
      if (result === 'restart') needsRestart.push('quorum provider');
      else if (result === 'reloaded') {
        quorum = config.quorum;
        reloaded.push('quorum (votequorum re-read two_node, expected_votes and the nodelist votes)');
      } else this.logger.log('error', 'VOTEQ', `quorum settings not reloaded: ${result.error}`);
    }
    this.config = { ...before, logging: config.logging, quorum };
    if (before.logging.debug !== config.logging.debug && this.logger.setDebug !== undefined) {
      this.logger.setDebug(config.logging.debug);
      reloaded.push(`logging.debug: ${config.logging.debug}`);
    }
    this.logger.log('notice', 'MAIN', `configuration reloaded from ${this.configFile}${needsRestart.length > 0 ? `; restart needed for: ${needsRestart.join(', ')}` : ''}`);
    return Promise.resolve({ reloaded, needsRestart });
  }

  /** stats.srp.*, stats.pg.*, stats.ipcs.global.* in cmap (every STATS_INTERVAL_MS). */
  publishStats(): void {
    if (this.stopping !== null || this.fatal) return;
    const ipc = this.ipc.stats();
    this.services.publishStats({ active: ipc.clients, closed: ipc.disconnects });
  }

  /**
   * Orderly shutdown, in corosync's order: IPC connections end and every CPG process
   * leaves its groups (PROCLEAVE, reason procdown) — we wait, bounded, until those are
   * delivered, so the others see the processes leave before the node does — then the
   * LEAVE, a moment for the datagrams to go out, and everything closes.
   */
  stop(reason = 'shutdown requested'): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      this.logger.log('notice', 'MAIN', `${reason}: leaving the ring`);
      clearInterval(this.statsTimer);
      // Probes see the daemon go away at once, not a ring that is being left.
      const httpClosed = this.http?.close() ?? Promise.resolve();
      this.eventLoop?.stop();
      // SAM registrations must not fail because their connections close now.
      this.amf.beginShutdown();
      this.amfQuorumUnsubscribe?.();
      // Ends every connection now; their CPG handles are finalized right after.
      const ipcClosed = this.ipc.close().catch(() => undefined);
      await Promise.resolve();
      // The bridge first: it settles the remote states it wrote and leaves the group.
      await this.bridgeRunner?.stop().catch((e: unknown) => this.logger.log('warning', 'BRIDGE', `bridge stop: ${String(e)}`));
      // The supervised programs stop while the node is still a member (bounded by stop_timeout).
      await this.amf.shutdown().catch((e: unknown) => this.logger.log('warning', 'AMF', `stopping supervised programs: ${String(e)}`));
      this.services.shutdown();
      await this.waitForCpgLeaves();
      this.driver.leave();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await ipcClosed;
      await httpClosed;
      await this.transport.close().catch(() => undefined);
      this.logger.log('notice', 'MAIN', 'carillond stopped');
      await this.logger.close();
    })();
    return this.stopping;
  }

  /** Until no local CPG process is left in any group (our PROCLEAVEs were delivered), bounded. */
  private async waitForCpgLeaves(): Promise<void> {
    const count = this.services.localProcessCount();
    if (count === 0) return;
    const waitMs = Math.min(CPG_LEAVE_WAIT_MAX_MS, 2 * this.config.totemMs.token + 200);
    const deadline = performance.now() + waitMs;
    while (this.services.localProcessCount() > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const left = this.services.localProcessCount();
    if (left > 0) this.logger.log('warning', 'CPG', `${left} of ${count} local CPG process(es) were not seen leaving within ${waitMs} ms; leaving the ring anyway`);
    else this.logger.log('debug', 'CPG', `${count} local CPG process(es) left their groups`);
  }

  /**
   * cfg KILLNODE for this node (corosync-cfgtool -k): corosync_fatal_error(-1), i.e. exit
   * status 255 at once, without leaving the ring. Totem stops here; the process ends
   * once the log is flushed (bounded).
   */
  killed(reason: string, fromNodeId: number, exit: (code: number) => void): void {
    if (this.fatal) return;
    this.fatal = true;
    clearInterval(this.statsTimer);
    this.driver.stop();
    void this.http?.close();
    this.eventLoop?.stop();
    // corosync's exit(-1) leaves nothing behind either: no orphaned supervised programs.
    this.amf.killAllNow();
    this.logger.log('error', 'MAIN', `Killed by node ${fromNodeId}: ${reason === '' ? '(no reason given)' : reason}; carillond exiting with status ${DaemonExit.killed}`);
    setImmediate(() => {
      void Promise.race([this.logger.close(), new Promise((resolve) => setTimeout(resolve, 1000))]).finally(() => exit(DaemonExit.killed));
    });
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
