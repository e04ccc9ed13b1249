// The shell of SAM-style registrations (architecture.md §2.6 "amf"; the rules are in
// src/services/amf/sam-policy.ts): real timers for the heartbeat deadlines, SIGKILL of
// the registered pid when an application fails, the hand-over of supervised names to the
// process supervisor, and the state in cmap under resources.sam.<name>.*:
//   state               string  registered | failed
//   pid                 uint32
//   recovery            string  quit | restart
//   heartbeat_interval  uint32  ms
//   failures            uint32  failures of this name since carillond started
//   last_failure        string  '' until the first failure
// An unregistered name's keys are deleted. Time is performance.now() (monotonic).
//
// Trust: whoever may write the IPC socket (mode 0660, see ipc-server.ts) can register
// any pid and so make carillond SIGKILL it later — the same trust the socket already
// grants (cmap writes, cfg). Only carillond's own pid is refused.

import type { DaemonSamRegistration, SamAppJson, SamRegisterJson } from '../ipc/daemon-api';
import { DaemonApiError } from '../ipc/daemon-api';
import type { CmapValue } from '../services/cmap/cmap-store';
import { type SamAction, type SamAppSnapshot, SamPolicy } from '../services/amf/sam-policy';
import type { Logger } from './logger';

/** Where the availability manager keeps its state in cmap (an internal writer). */
export interface AmfCmapPort {
  set(entries: ReadonlyArray<readonly [string, CmapValue]>): void;
  /** Deletes every key starting with `prefix`. */
  deletePrefix(prefix: string): void;
}

export interface SamRegistryOptions {
  readonly supervisedNames: readonly string[];
  readonly ownPid: number;
  readonly appsMax: number;
  readonly logger: Logger;
  readonly cmap: AmfCmapPort | null;
  /** A supervised program's SAM registration failed. */
  readonly failSupervised: (name: string, reason: string, restart: boolean) => void;
  readonly now: () => number;
}

export const SAM_CMAP_PREFIX = 'resources.sam.';

function appJson(s: SamAppSnapshot): SamAppJson {
  return {
    name: s.name,
    state: s.state,
    pid: s.pid,
    recovery: s.recovery,
    heartbeatIntervalMs: s.heartbeatIntervalMs,
    lastHeartbeatAgeMs: s.lastHeartbeatAgeMs === null ? null : Math.round(s.lastHeartbeatAgeMs),
    failures: s.failures,
    lastFailure: s.lastFailure,
    supervised: s.supervised,
  };
}

export class SamRegistry {
  private readonly options: SamRegistryOptions;
  private readonly policy: SamPolicy;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  constructor(options: SamRegistryOptions) {
    this.options = options;
    this.policy = new SamPolicy({ appsMax: options.appsMax, supervisedNames: options.supervisedNames, ownPid: options.ownPid });
  }

  /** Registers; throws DaemonApiError (SAM_ERR_*) when refused. */
  register(request: SamRegisterJson): DaemonSamRegistration {
    const result = this.policy.register(request, this.options.now());
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
    const { id } = result.value;
    this.apply(result.value.actions);
    return {
      name: request.name,
      isActive: () => this.policy.isLive(id),
      heartbeat: () => this.applyResult(this.policy.heartbeat(id, this.options.now())),
      unregister: () => this.applyResult(this.policy.unregister(id)),
      connectionLost: () => this.apply(this.policy.connectionLost(id)),
      status: () => {
        const snapshot = this.policy.snapshot(this.options.now()).find((s) => s.name === request.name);
        if (snapshot === undefined) throw new DaemonApiError('SAM_ERR_NOT_REGISTERED', `${request.name} is not registered`);
        return appJson(snapshot);
      },
    };
  }

  status(): SamAppJson[] {
    return this.policy.snapshot(this.options.now()).map(appJson);
  }

  /** The daemon is stopping: registrations no longer act (their connections close next). */
  shutdown(): void {
    this.apply(this.policy.shutdown());
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private applyResult(result: { ok: true; value: SamAction[] } | { ok: false; error: { code: string; message: string } }): void {
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
    this.apply(result.value);
  }

  private apply(actions: readonly SamAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'setTimer': {
          const old = this.timers.get(action.id);
          if (old !== undefined) clearTimeout(old);
          const timer = setTimeout(() => {
            this.timers.delete(action.id);
            this.apply(this.policy.timer(action.id, this.options.now()));
          }, action.afterMs);
          timer.unref();
          this.timers.set(action.id, timer);
          break;
        }
        case 'clearTimer': {
          const old = this.timers.get(action.id);
          if (old !== undefined) clearTimeout(old);
          this.timers.delete(action.id);
          break;
        }
        case 'kill':
          this.kill(action.pid);
          break;
        case 'failSupervised':
          this.options.failSupervised(action.name, action.reason, action.restart);
          break;
        case 'publish':
          this.publish(action.name);
          break;
        case 'remove':
          this.options.cmap?.deletePrefix(`${SAM_CMAP_PREFIX}${action.name}.`);
          break;
        case 'log':
          this.options.logger.log(action.level, 'AMF', action.message);
          break;
      }
    }
  }

  private kill(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.options.logger.log(code === 'ESRCH' ? 'info' : 'warning', 'AMF', `SAM: cannot kill pid ${pid}: ${code === 'ESRCH' ? 'it is gone already' : String(e)}`);
    }
  }

  private publish(name: string): void {
    const app = this.policy.snapshot(this.options.now()).find((s) => s.name === name);
    if (app === undefined || this.options.cmap === null) return;
    const key = (k: string): string => `${SAM_CMAP_PREFIX}${name}.${k}`;
    this.options.cmap.set([
      [key('state'), { type: 'string', value: app.state }],
      [key('pid'), { type: 'uint32', value: app.pid >>> 0 }],
      [key('recovery'), { type: 'string', value: app.recovery }],
      [key('heartbeat_interval'), { type: 'uint32', value: app.heartbeatIntervalMs >>> 0 }],
      [key('failures'), { type: 'uint32', value: app.failures >>> 0 }],
      [key('last_failure'), { type: 'string', value: app.lastFailure ?? '' }],
    ]);
  }
}
