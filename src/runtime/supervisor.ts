// The availability manager's shell (architecture.md §2.2 ProcessSupervisor, §2.6 "amf",
// §3.3; issue 6): it spawns and kills the programs of amf { process { } }, runs their
// health checks (health-check.ts), keeps their timers, feeds every event to the pure
// policy (src/services/amf/amf-policy.ts) and applies the actions it returns, logs under
// subsystem AMF, and publishes each program's state in cmap. It also owns the SAM
// registrations (sam-registry.ts) and is the DaemonAmfApi the IPC server serves.
//
// Processes: spawned without a shell, stdin /dev/null, in a process group of their own
// (detached), so stopping one signals the whole group (a wrapper script's children
// too). Stopping is SIGTERM, then SIGKILL after stop_timeout (the policy's timer).
// If carillond itself exits through process.exit (fatal error, escalation), an exit
// hook SIGKILLs the groups still running; if it is SIGKILLed, its children outlive it —
// under systemd the unit's control group is cleaned up (KillMode=control-group), which
// is the supported deployment.
//
// Output: each line a child writes to stdout or stderr becomes a daemon log line
// `[AMF] <name>[<pid>]: <line>` (info for stdout, warning for stderr). Lines are cut at
// OUTPUT_LINE_CHARS_MAX, at most OUTPUT_LINES_PER_SEC_MAX lines per second and program
// are logged (the rest are counted and the count logged), so a chatty program cannot
// flood the log or grow the daemon's memory.
//
// cmap, under resources.process.<name>. (written on change):
//   state               string  stopped | waiting-quorum | starting | running | stopping |
//                               backoff | escalated | failed
//   pid                 uint32  0 when not running
//   restarts            uint32  restarts after failures since carillond started
//   restarts_in_window  uint32  restarts inside restart_window, as of the last event
//                               (sam.status computes it afresh)
//   health_failures     uint32  consecutive failed health checks
//   escalated           uint8   1 after the policy escalated
//   last_exit           string  "code 1", "signal SIGKILL" ('' before the first exit)
//   last_failure        string  why the last failure happened ('' before the first)
//   command             string  the command as configured
// (corosync keeps its own resources.* there for the watchdog service, which Carillon
// does not have.)
//
// Escalation `leave` is handed to the daemon (onEscalateLeave), which leaves the ring in
// order and exits with status 3 (DaemonExit.escalated).

import { type ChildProcess, spawn } from 'node:child_process';
import type { AmfProcessConfig } from '../config/amf-conf';
import {
  type AmfProcessJson,
  type DaemonAmfApi,
  type DaemonSamRegistration,
  DaemonApiError,
  type SamRegisterJson,
  type SamStatusJson,
} from '../ipc/daemon-api';
import { IpcErrorCode } from '../ipc/protocol';
import { type AmfAction, type AmfEvent, AmfPolicy, type AmfTimer } from '../services/amf/amf-policy';
import type { CmapValue } from '../services/cmap/cmap-store';
import { type RunningHealthCheck, runHealthCheck } from './health-check';
import type { Logger } from './logger';
import { type AmfCmapPort, SamRegistry } from './sam-registry';
import { setProcessNice } from './scheduling';

export const PROCESS_CMAP_PREFIX = 'resources.process.';

export const SupervisorDefaults = {
  samAppsMax: 64,
  outputLineCharsMax: 1000,
  outputLinesPerSecMax: 100,
  /** A partial line longer than this is logged as it is. */
  outputPartialCharsMax: 4096,
  /** How long stop() waits beyond a program's stop_timeout for its exit after SIGKILL. */
  killGraceMs: 2000,
} as const;

export interface SupervisorOptions {
  readonly processes: readonly AmfProcessConfig[];
  readonly logger: Logger;
  readonly cmap?: AmfCmapPort | null;
  /** A program escalated with `leave`: the daemon leaves the cluster and exits 3. */
  readonly onEscalateLeave?: (name: string, reason: string) => void;
  /** carillond's pid (SAM refuses it); default process.pid. */
  readonly ownPid?: number;
  readonly samAppsMax?: number;
  readonly outputLinesPerSecMax?: number;
  /** Monotonic ms; default performance.now(). */
  readonly now?: () => number;
  /**
   * The nice value programs start at when carillond raised its own priority
   * (scheduling.ts childNice); null or absent: they inherit carillond's.
   */
  readonly childNice?: number | null;
}

/** Supervised programs plus SAM registrations; see the file header. */
export class ProcessSupervisor implements DaemonAmfApi {
  private readonly options: SupervisorOptions;
  private readonly runners = new Map<string, ProcessRunner>();
  private readonly sam: SamRegistry;
  private readonly now: () => number;
  private quorate: boolean | null = null;
  private shuttingDown = false;
  private stopped: Promise<void> | null = null;
  private escalatedLeave = false;
  private readonly exitHook = (): void => this.killAllNow();

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    for (const config of options.processes) this.runners.set(config.name, new ProcessRunner(config, this, options));
    this.sam = new SamRegistry({
      supervisedNames: options.processes.map((p) => p.name),
      ownPid: options.ownPid ?? process.pid,
      appsMax: options.samAppsMax ?? SupervisorDefaults.samAppsMax,
      logger: options.logger,
      cmap: options.cmap ?? null,
      failSupervised: (name, reason, restart) => this.runners.get(name)?.handle({ type: 'fail', reason, restart }),
      now: this.now,
    });
    if (this.runners.size > 0) process.on('exit', this.exitHook);
  }

  get processCount(): number {
    return this.runners.size;
  }

  /** Starts every configured program (policy permitting: quorum_policy stop waits). */
  startAll(): void {
    if (this.shuttingDown) return;
    for (const runner of this.runners.values()) runner.handle({ type: 'start' });
  }

  /**
   * The cluster's quorum as the quorum service reports it. Applied after the current
   * call stack: it arrives from inside the services, which must not see a spawn re-enter them.
   */
  setQuorate(quorate: boolean): void {
    setImmediate(() => {
      if (this.shuttingDown || this.quorate === quorate) return;
      this.quorate = quorate;
      for (const runner of this.runners.values()) runner.handle({ type: 'quorum', quorate });
    });
  }

  /** The longest stop_timeout, for the daemon's shutdown deadline. */
  stopTimeoutMaxMs(): number {
    let max = 0;
    for (const runner of this.runners.values()) max = Math.max(max, runner.config.stopTimeoutMs);
    return max;
  }

  /** SAM registrations stop acting (their connections are about to close). Idempotent. */
  beginShutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.sam.shutdown();
  }

  /** Stops every program (SIGTERM, SIGKILL after stop_timeout) and waits for them, bounded. */
  shutdown(): Promise<void> {
    if (this.stopped !== null) return this.stopped;
    this.beginShutdown();
    this.stopped = (async () => {
      for (const runner of this.runners.values()) runner.handle({ type: 'shutdown' });
      await Promise.all([...this.runners.values()].map((r) => r.waitForExit(r.config.stopTimeoutMs + SupervisorDefaults.killGraceMs)));
      for (const runner of this.runners.values()) runner.dispose();
      process.off('exit', this.exitHook);
    })();
    return this.stopped;
  }

  /** Last resort (process exit): SIGKILL every program's group still running. Synchronous. */
  killAllNow(): void {
    for (const runner of this.runners.values()) runner.killNow();
  }

  // -------------------------------------------------------------------------------------
  // DaemonAmfApi

  status(): SamStatusJson {
    return { processes: [...this.runners.values()].map((r) => r.json()), apps: this.sam.status(), quorate: this.quorate };
  }

  start(name: string): AmfProcessJson {
    const runner = this.runner(name);
    if (this.shuttingDown) throw new DaemonApiError(IpcErrorCode.unavailable, 'carillond is stopping');
    this.options.logger.log('notice', 'AMF', `${name}: start requested over IPC`);
    runner.handle({ type: 'start' });
    return runner.json();
  }

  stop(name: string): AmfProcessJson {
    const runner = this.runner(name);
    this.options.logger.log('notice', 'AMF', `${name}: stop requested over IPC`);
    runner.handle({ type: 'stop' });
    return runner.json();
  }

  register(request: SamRegisterJson): DaemonSamRegistration {
    return this.sam.register(request);
  }

  // -------------------------------------------------------------------------------------

  /** A program escalated (called by its runner after the current call stack). */
  escalated(name: string, escalation: 'stop' | 'leave', reason: string): void {
    if (escalation !== 'leave' || this.escalatedLeave || this.shuttingDown) return;
    this.escalatedLeave = true;
    const leave = this.options.onEscalateLeave;
    if (leave === undefined) {
      this.options.logger.log('error', 'AMF', `${name}: escalation leave, but this supervisor has no daemon to stop`);
      return;
    }
    leave(name, reason);
  }

  currentTimeMs(): number {
    return this.now();
  }

  private runner(name: string): ProcessRunner {
    const runner = this.runners.get(name);
    if (runner === undefined) {
      const known = [...this.runners.keys()];
      throw new DaemonApiError(IpcErrorCode.amfNoSuchProcess, `no supervised program named ${name}${known.length === 0 ? ' (amf { } lists none)' : ` (known: ${known.join(', ')})`}`);
    }
    return runner;
  }
}

/** Splits a child's output into bounded, rate-limited log lines. */
class OutputLogger {
  private partial = '';
  private windowStartMs = 0;
  private linesInWindow = 0;
  private dropped = 0;
  private readonly emit: (line: string) => void;
  private readonly summary: (dropped: number) => void;
  private readonly now: () => number;
  private readonly linesPerSecMax: number;

  constructor(emit: (line: string) => void, summary: (dropped: number) => void, now: () => number, linesPerSecMax: number) {
    this.emit = emit;
    this.summary = summary;
    this.now = now;
    this.linesPerSecMax = linesPerSecMax;
  }

  write(chunk: string): void {
    this.partial += chunk;
    let newline = this.partial.indexOf('\n');
    while (newline !== -1) {
      this.line(this.partial.slice(0, newline));
      this.partial = this.partial.slice(newline + 1);
      newline = this.partial.indexOf('\n');
    }
    if (this.partial.length > SupervisorDefaults.outputPartialCharsMax) {
      this.line(this.partial);
      this.partial = '';
    }
  }

  end(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
    this.flushDropped();
  }

  private line(text: string): void {
    const now = this.now();
    if (now - this.windowStartMs >= 1000) {
      this.flushDropped();
      this.windowStartMs = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= this.linesPerSecMax) {
      this.dropped += 1;
      return;
    }
    this.linesInWindow += 1;
    const clean = text.replace(/\r$/, '');
    this.emit(clean.length > SupervisorDefaults.outputLineCharsMax ? `${clean.slice(0, SupervisorDefaults.outputLineCharsMax)}…` : clean);
  }

  private flushDropped(): void {
    if (this.dropped === 0) return;
    this.summary(this.dropped);
    this.dropped = 0;
  }
}

/** One supervised program: its policy, child, timers and health check. */
class ProcessRunner {
  readonly config: AmfProcessConfig;
  private readonly owner: ProcessSupervisor;
  private readonly options: SupervisorOptions;
  private readonly policy: AmfPolicy;
  private child: ChildProcess | null = null;
  private readonly timers = new Map<AmfTimer, NodeJS.Timeout>();
  private health: RunningHealthCheck | null = null;
  private readonly queue: AmfEvent[] = [];
  private handling = false;
  private disposed = false;
  private readonly exitWaiters: Array<() => void> = [];
  private published = new Map<string, string>();

  constructor(config: AmfProcessConfig, owner: ProcessSupervisor, options: SupervisorOptions) {
    this.config = config;
    this.owner = owner;
    this.options = options;
    this.policy = new AmfPolicy(config);
  }

  /** Feeds one event; events raised while applying actions wait their turn (no re-entry). */
  handle(event: AmfEvent): void {
    if (this.disposed) return;
    this.queue.push(event);
    if (this.handling) return;
    this.handling = true;
    try {
      while (this.queue.length > 0) {
        const next = this.queue.shift() as AmfEvent;
        for (const action of this.policy.handle(next, this.owner.currentTimeMs())) this.apply(action);
      }
    } finally {
      this.handling = false;
    }
    this.publish();
  }

  json(): AmfProcessJson {
    const s = this.policy.snapshot(this.owner.currentTimeMs());
    const c = this.config;
    return {
      name: c.name,
      state: s.state,
      pid: s.pid,
      command: [...c.command],
      restarts: s.restarts,
      restartsInWindow: s.restartsInWindow,
      maxRestarts: c.maxRestarts,
      restartWindowMs: c.restartWindowMs,
      restartInMs: s.restartInMs === null ? null : Math.round(s.restartInMs),
      uptimeMs: s.uptimeMs === null ? null : Math.round(s.uptimeMs),
      healthCheck: c.healthCheck,
      healthFailures: s.healthFailures,
      lastExit: s.lastExit,
      lastFailure: s.lastFailure,
      escalated: s.escalated,
      escalation: c.escalation,
      quorumPolicy: c.quorumPolicy,
    };
  }

  /** Resolves once no child of this program is alive, or after `timeoutMs` (then SIGKILL). */
  async waitForExit(timeoutMs: number): Promise<void> {
    if (this.child === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.exitWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (this.child !== null) {
      this.log('error', `${this.config.name}: pid ${this.child.pid ?? '?'} did not exit within ${timeoutMs} ms: SIGKILL`);
      this.killNow();
    }
  }

  /** No more events: timers cleared, a running health check cancelled. */
  dispose(): void {
    this.disposed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.health?.cancel();
    this.health = null;
  }

  killNow(): void {
    const pid = this.child?.pid;
    if (pid !== undefined) this.signalGroup(pid, 'SIGKILL');
  }

  private apply(action: AmfAction): void {
    switch (action.type) {
      case 'spawn':
        this.spawn();
        return;
      case 'signal':
        this.signalGroup(action.pid, action.signal);
        return;
      case 'setTimer': {
        this.clearTimer(action.timer);
        const timer = setTimeout(() => {
          this.timers.delete(action.timer);
          this.handle({ type: 'timer', timer: action.timer });
        }, action.afterMs);
        this.timers.set(action.timer, timer);
        return;
      }
      case 'clearTimer':
        this.clearTimer(action.timer);
        return;
      case 'checkHealth':
        this.checkHealth(action.pid);
        return;
      case 'escalate':
        // After the current call stack: leaving the cluster stops every runner.
        setImmediate(() => this.owner.escalated(this.config.name, action.escalation, action.reason));
        return;
      case 'log':
        this.log(action.level, action.message);
        return;
    }
  }

  /** A program runs at the priority carillond was started with, not at the one it raised for the token. */
  private resetNice(child: ChildProcess): void {
    const nice = this.options.childNice ?? null;
    if (nice === null || child.pid === undefined) return;
    try {
      setProcessNice(child.pid, nice);
    } catch (e) {
      this.log('debug', `${this.config.name}: cannot set nice ${nice} on pid ${child.pid}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private spawn(): void {
    const [file, ...args] = this.config.command;
    if (file === undefined) {
      queueMicrotask(() => this.handle({ type: 'spawnFailed', error: 'empty command' }));
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd: this.config.workingDir ?? undefined, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      // Synchronous refusals (bad arguments) are rare; ENOENT and EACCES arrive as 'error'.
      const message = e instanceof Error ? e.message : String(e);
      queueMicrotask(() => this.handle({ type: 'spawnFailed', error: message }));
      return;
    }
    this.child = child;
    let spawned = false;
    child.once('spawn', () => {
      spawned = true;
      this.resetNice(child);
      this.attachOutput(child);
      if (child.pid !== undefined) this.handle({ type: 'spawned', pid: child.pid });
    });
    child.on('error', (e) => {
      if (spawned) {
        this.log('warning', `${this.config.name}: ${e.message}`);
        return;
      }
      this.childGone(child);
      this.handle({ type: 'spawnFailed', error: e.message });
    });
    child.once('exit', (code, signal) => {
      if (!spawned || child.pid === undefined) return;
      this.childGone(child);
      this.handle({ type: 'exited', pid: child.pid, code, signal });
    });
  }

  private childGone(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = null;
    for (const resolve of this.exitWaiters.splice(0)) resolve();
  }

  private attachOutput(child: ChildProcess): void {
    const pid = child.pid ?? 0;
    const now = (): number => this.owner.currentTimeMs();
    const rate = this.options.outputLinesPerSecMax ?? SupervisorDefaults.outputLinesPerSecMax;
    const make = (level: 'info' | 'warning', stream: string): OutputLogger =>
      new OutputLogger(
        (line) => this.log(level, `${this.config.name}[${pid}]: ${line}`),
        (dropped) => this.log('warning', `${this.config.name}[${pid}]: ${dropped} ${stream} line(s) not logged (more than ${rate} per second)`),
        now,
        rate,
      );
    for (const [stream, level] of [[child.stdout, 'info'], [child.stderr, 'warning']] as const) {
      if (stream === null) continue;
      const out = make(level, level === 'info' ? 'stdout' : 'stderr');
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => out.write(chunk));
      stream.on('end', () => out.end());
      // A broken pipe from a dying child is not the daemon's problem.
      stream.on('error', () => undefined);
    }
  }

  private checkHealth(pid: number): void {
    const c = this.config;
    if (c.healthCheck === 'none') return;
    const check = runHealthCheck({ kind: c.healthCheck, command: c.healthCommand, address: c.healthAddress, workingDir: c.workingDir, timeoutMs: c.healthTimeoutMs });
    this.health = check;
    void check.result.then((result) => {
      if (this.health === check) this.health = null;
      this.handle(result.ok ? { type: 'healthOk', pid } : { type: 'healthFailed', pid, reason: result.reason });
    });
  }

  private signalGroup(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
    try {
      process.kill(-pid, signal);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') this.log('warning', `${this.config.name}: cannot send ${signal} to pid ${pid}: ${String(e)}`);
    }
  }

  private clearTimer(timer: AmfTimer): void {
    const old = this.timers.get(timer);
    if (old !== undefined) clearTimeout(old);
    this.timers.delete(timer);
  }

  private log(level: 'error' | 'warning' | 'notice' | 'info' | 'debug', message: string): void {
    this.options.logger.log(level, 'AMF', message);
  }

  /** Writes the cmap keys whose values changed. */
  private publish(): void {
    const cmap = this.options.cmap;
    if (cmap === null || cmap === undefined) return;
    const s = this.policy.snapshot(this.owner.currentTimeMs());
    const all: Array<[string, CmapValue]> = [
      ['state', { type: 'string', value: s.state }],
      ['pid', { type: 'uint32', value: (s.pid ?? 0) >>> 0 }],
      ['restarts', { type: 'uint32', value: s.restarts >>> 0 }],
      ['restarts_in_window', { type: 'uint32', value: s.restartsInWindow >>> 0 }],
      ['health_failures', { type: 'uint32', value: s.healthFailures >>> 0 }],
      ['escalated', { type: 'uint8', value: s.escalated ? 1 : 0 }],
      ['last_exit', { type: 'string', value: s.lastExit ?? '' }],
      ['last_failure', { type: 'string', value: s.lastFailure ?? '' }],
      ['command', { type: 'string', value: this.config.commandText }],
    ];
    const changed: Array<[string, CmapValue]> = [];
    const next = new Map<string, string>();
    for (const [name, value] of all) {
      const key = `${PROCESS_CMAP_PREFIX}${this.config.name}.${name}`;
      const text = `${value.type}:${String(value.value)}`;
      next.set(key, text);
      if (this.published.get(key) !== text) changed.push([key, value]);
    }
    this.published = next;
    if (changed.length > 0) cmap.set(changed);
  }
}
