// SAM-style self-registration of local applications (architecture.md §2.6 "amf"; after
// corosync's SAM, include/corosync/sam.h: an application registers, sends heartbeats,
// and a missed heartbeat makes the manager act on it). Pure: registrations, heartbeat
// deadlines and failures are decided here with an injected millisecond clock; the shell
// (runtime/sam-registry.ts) arms the timers, kills pids and publishes the state.
//
// Rules:
//   - an application registers a name ([A-Za-z0-9_-], unique among live registrations),
//     its pid, a heartbeat interval and a recovery: 'quit' or 'restart'. The
//     registration is the first heartbeat;
//   - no heartbeat within the interval since the last one, or the registering IPC
//     connection closing without unregistering, is a failure (corosync SAM: the
//     component failed). Then the pid is killed with SIGKILL and
//       quit:    the application stays down; if the name is also a supervised program
//                (amf { process { name } }), the supervisor keeps it stopped (failed);
//       restart: the name must be a supervised program: the supervisor restarts it per
//                its amf policy (backoff, max_restarts, escalation). A registration
//                asking for restart under any other name is refused: carillond only
//                knows how to start what it supervises;
//   - unregister ends the registration without any action;
//   - a failed registration stays listed (state failed) until the name registers
//     again; the list is bounded (appsMax): the oldest failed entry makes room for a
//     new registration, and when every entry is live the registration is refused;
//   - the daemon's own pid is refused (a failure would make it kill itself).

import { assert, unreachable } from '../../base/assert';
import { type Result, err, ok } from '../../base/result';

export type SamRecovery = 'quit' | 'restart';

export const SamAppState = { registered: 'registered', failed: 'failed' } as const;
export type SamAppState = (typeof SamAppState)[keyof typeof SamAppState];

export const SamErrorCode = {
  /** The name is registered by a live registration. */
  exists: 'SAM_ERR_EXISTS',
  /** No live registration with that id (unregistered, failed, or never made). */
  notRegistered: 'SAM_ERR_NOT_REGISTERED',
  /** appsMax live registrations already. */
  tooMany: 'SAM_ERR_TOO_MANY',
  /** recovery restart for a name that is not a supervised program. */
  notSupervised: 'SAM_ERR_NOT_SUPERVISED',
  /** The pid is the daemon's own. */
  badPid: 'SAM_ERR_BAD_PID',
} as const;
export type SamErrorCode = (typeof SamErrorCode)[keyof typeof SamErrorCode];

export interface SamError {
  readonly code: SamErrorCode;
  readonly message: string;
}

export interface SamPolicySettings {
  /** Registrations kept, live and failed. */
  readonly appsMax: number;
  /** Names of the supervised programs (amf { process { name } }). */
  readonly supervisedNames: readonly string[];
  /** The daemon's pid, never accepted. */
  readonly ownPid: number;
}

export interface SamRegisterRequest {
  readonly name: string;
  readonly pid: number;
  readonly heartbeatIntervalMs: number;
  readonly recovery: SamRecovery;
}

export type SamAction =
  /** Arms registration `id`'s heartbeat deadline (replacing an armed one). */
  | { readonly type: 'setTimer'; readonly id: number; readonly afterMs: number }
  | { readonly type: 'clearTimer'; readonly id: number }
  | { readonly type: 'kill'; readonly pid: number; readonly signal: 'SIGKILL' }
  /** Tell the supervisor: its program `name` failed (restart per policy, or stay failed). */
  | { readonly type: 'failSupervised'; readonly name: string; readonly reason: string; readonly restart: boolean }
  /** The entry for `name` changed (publish it) or is gone (remove it). */
  | { readonly type: 'publish'; readonly name: string }
  | { readonly type: 'remove'; readonly name: string }
  | { readonly type: 'log'; readonly level: 'warning' | 'notice' | 'info'; readonly message: string };

export interface SamAppSnapshot {
  readonly id: number;
  readonly name: string;
  readonly state: SamAppState;
  readonly pid: number;
  readonly recovery: SamRecovery;
  readonly heartbeatIntervalMs: number;
  /** ms since the last heartbeat (or the registration); null once failed. */
  readonly lastHeartbeatAgeMs: number | null;
  readonly failures: number;
  readonly lastFailure: string | null;
  readonly supervised: boolean;
}

interface Entry {
  id: number;
  readonly name: string;
  state: SamAppState;
  pid: number;
  recovery: SamRecovery;
  heartbeatIntervalMs: number;
  lastHeartbeatMs: number;
  failures: number;
  lastFailure: string | null;
  /** Registration order, for evicting the oldest failed entry. */
  order: number;
}

/** The registry of SAM applications; every method returns the actions to apply, in order. */
export class SamPolicy {
  private readonly settings: SamPolicySettings;
  private readonly supervised: ReadonlySet<string>;
  /** By name; at most appsMax. */
  private readonly entries = new Map<string, Entry>();
  private nextId = 1;
  private shutDown = false;

  constructor(settings: SamPolicySettings) {
    assert(Number.isInteger(settings.appsMax) && settings.appsMax >= 1, 'appsMax must be a positive integer');
    this.settings = settings;
    this.supervised = new Set(settings.supervisedNames);
  }

  /** A new registration; its id identifies it in every later call. */
  register(request: SamRegisterRequest, nowMs: number): Result<{ id: number; actions: SamAction[] }, SamError> {
    assert(request.heartbeatIntervalMs > 0, 'heartbeat interval must be positive');
    if (this.shutDown) return err({ code: SamErrorCode.notRegistered, message: 'carillond is stopping' });
    if (request.pid === this.settings.ownPid) {
      return err({ code: SamErrorCode.badPid, message: `pid ${request.pid} is carillond itself` });
    }
    if (request.recovery === 'restart' && !this.supervised.has(request.name)) {
      return err({
        code: SamErrorCode.notSupervised,
        message: `recovery restart needs a supervised program named ${request.name} (amf { process { name: ${request.name} } }); use recovery quit otherwise`,
      });
    }
    const existing = this.entries.get(request.name);
    if (existing?.state === SamAppState.registered) {
      return err({ code: SamErrorCode.exists, message: `${request.name} is already registered (pid ${existing.pid})` });
    }
    const actions: SamAction[] = [];
    if (existing === undefined && this.entries.size >= this.settings.appsMax && !this.evictOldestFailed(actions)) {
      return err({ code: SamErrorCode.tooMany, message: `carillond keeps at most ${this.settings.appsMax} SAM registrations` });
    }
    const id = this.nextId++;
    const entry: Entry = {
      id,
      name: request.name,
      state: SamAppState.registered,
      pid: request.pid,
      recovery: request.recovery,
      heartbeatIntervalMs: request.heartbeatIntervalMs,
      lastHeartbeatMs: nowMs,
      failures: existing?.failures ?? 0,
      lastFailure: existing?.lastFailure ?? null,
      order: id,
    };
    this.entries.set(request.name, entry);
    actions.push(
      { type: 'setTimer', id, afterMs: request.heartbeatIntervalMs },
      { type: 'publish', name: request.name },
      { type: 'log', level: 'notice', message: `SAM: ${request.name} registered: pid ${request.pid}, heartbeat every ${request.heartbeatIntervalMs} ms, recovery ${request.recovery}` },
    );
    return ok({ id, actions });
  }

  heartbeat(id: number, nowMs: number): Result<SamAction[], SamError> {
    const entry = this.live(id);
    if (entry === null) return err(this.notRegistered(id));
    entry.lastHeartbeatMs = nowMs;
    return ok([{ type: 'setTimer', id, afterMs: entry.heartbeatIntervalMs }]);
  }

  unregister(id: number): Result<SamAction[], SamError> {
    const entry = this.live(id);
    if (entry === null) return err(this.notRegistered(id));
    this.entries.delete(entry.name);
    return ok([
      { type: 'clearTimer', id },
      { type: 'remove', name: entry.name },
      { type: 'log', level: 'info', message: `SAM: ${entry.name} unregistered` },
    ]);
  }

  /** The registering connection closed; a live registration fails. */
  connectionLost(id: number): SamAction[] {
    const entry = this.live(id);
    if (entry === null) return [];
    return this.fail(entry, 'connection closed without sam.unregister');
  }

  /** Registration `id`'s heartbeat timer fired at nowMs. */
  timer(id: number, nowMs: number): SamAction[] {
    const entry = this.live(id);
    if (entry === null) return [];
    const sinceMs = nowMs - entry.lastHeartbeatMs;
    // A timer may fire a hair early against this clock: wait out the rest.
    if (sinceMs < entry.heartbeatIntervalMs) return [{ type: 'setTimer', id, afterMs: entry.heartbeatIntervalMs - sinceMs }];
    return this.fail(entry, `missed heartbeat: none for ${sinceMs} ms (interval ${entry.heartbeatIntervalMs} ms)`);
  }

  /** The daemon is stopping: no more failures, registrations, or kills. */
  shutdown(): SamAction[] {
    this.shutDown = true;
    const actions: SamAction[] = [];
    for (const entry of this.entries.values()) if (entry.state === SamAppState.registered) actions.push({ type: 'clearTimer', id: entry.id });
    return actions;
  }

  snapshot(nowMs: number): SamAppSnapshot[] {
    return [...this.entries.values()]
      .sort((a, b) => a.order - b.order)
      .map((e) => ({
        id: e.id,
        name: e.name,
        state: e.state,
        pid: e.pid,
        recovery: e.recovery,
        heartbeatIntervalMs: e.heartbeatIntervalMs,
        lastHeartbeatAgeMs: e.state === SamAppState.registered ? nowMs - e.lastHeartbeatMs : null,
        failures: e.failures,
        lastFailure: e.lastFailure,
        supervised: this.supervised.has(e.name),
      }));
  }

  /** Whether registration `id` is live (registered, not failed or gone). */
  isLive(id: number): boolean {
    return this.live(id) !== null;
  }

  private live(id: number): Entry | null {
    if (this.shutDown) return null;
    for (const entry of this.entries.values()) if (entry.id === id && entry.state === SamAppState.registered) return entry;
    return null;
  }

  private notRegistered(id: number): SamError {
    const entry = [...this.entries.values()].find((e) => e.id === id);
    const why = entry === undefined ? 'it is not registered (unregistered or never registered)' : `it failed (${entry.lastFailure ?? 'failure'}); register again`;
    return { code: SamErrorCode.notRegistered, message: `${entry?.name ?? `registration ${id}`}: ${why}` };
  }

  private fail(entry: Entry, reason: string): SamAction[] {
    entry.state = SamAppState.failed;
    entry.failures += 1;
    entry.lastFailure = reason;
    const supervised = this.supervised.has(entry.name);
    const actions: SamAction[] = [{ type: 'clearTimer', id: entry.id }];
    switch (entry.recovery) {
      case 'quit':
        actions.push({ type: 'log', level: 'warning', message: `SAM: ${entry.name} (pid ${entry.pid}) failed: ${reason}; killing it (recovery quit)` });
        if (supervised) actions.push({ type: 'failSupervised', name: entry.name, reason: `SAM: ${reason}`, restart: false });
        break;
      case 'restart':
        assert(supervised, 'a restart registration names a supervised program');
        actions.push(
          { type: 'log', level: 'warning', message: `SAM: ${entry.name} (pid ${entry.pid}) failed: ${reason}; killing it for a restart (recovery restart)` },
          { type: 'failSupervised', name: entry.name, reason: `SAM: ${reason}`, restart: true },
        );
        break;
      default:
        unreachable(entry.recovery);
    }
    actions.push({ type: 'kill', pid: entry.pid, signal: 'SIGKILL' }, { type: 'publish', name: entry.name });
    return actions;
  }

  private evictOldestFailed(actions: SamAction[]): boolean {
    let oldest: Entry | null = null;
    for (const entry of this.entries.values()) {
      if (entry.state === SamAppState.failed && (oldest === null || entry.order < oldest.order)) oldest = entry;
    }
    if (oldest === null) return false;
    this.entries.delete(oldest.name);
    actions.push({ type: 'remove', name: oldest.name });
    return true;
  }
}
