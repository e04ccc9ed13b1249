// The availability manager's restart policy for one supervised program (architecture.md
// §2.6 "amf": the policy is pure, runtime/supervisor.ts spawns and kills). It decides
// what happens after every event — start, stop, exit, health result, timer, quorum
// change, SAM failure — and answers with an ordered list of actions for the shell:
// spawn, signal, set/clear a timer, run a health check, escalate, log. Time is an
// injected millisecond number; there is no randomness (the backoff has no jitter: one
// node restarts one program, there is no herd to spread).
//
// Rules (README "Availability manager" documents them for operators):
//   - a failure is an unexpected exit (any exit status, 0 included: a supervised daemon
//     is meant to run), a failed spawn, health_failures consecutive failed health checks
//     (the program is then stopped with SIGTERM), or a SAM failure with recovery
//     restart. Stops the policy asked for (operator stop, quorum) are not failures;
//   - restarts are counted in a sliding window: max_restarts restarts per restart_window
//     ms. When the program has failed, the restarts of the last restart_window ms
//     (those at or before now − restart_window have left the window) are counted; if
//     there are already max_restarts of them, the failure that would need one more
//     escalates. So the program runs at most 1 + max_restarts times in a window and the
//     (max_restarts + 1)-th failure escalates; with max_restarts 0 the first does;
//   - the delay before a restart doubles with every restart still in the window:
//     restart_delay · 2^k, k = restarts in the window, capped at restart_delay_max. As
//     restarts leave the window, the delay shrinks again;
//   - escalation `stop` leaves the program stopped (state escalated) until an operator
//     starts it; `leave` also asks the daemon to leave the cluster (the shell does that);
//   - an operator start is a fresh start: the escalation and the restart history are
//     cleared. Starts after quorum returns and restarts on quorum loss are not counted;
//   - quorum_policy stop: while not quorate (and before the first quorum news) the
//     program is kept stopped (state waiting-quorum) and started once quorate;
//     quorum_policy restart: on every change from quorate to not quorate a running
//     program is stopped and started again, once;
//   - stopping sends SIGTERM, then SIGKILL after stop_timeout ms; SAM failures send
//     SIGKILL at once (corosync SAM kills the failed component);
//   - health checks start health_interval ms after a spawn and run one at a time: the
//     next one is due health_interval ms after the previous result;
//   - events about an earlier incarnation (an exit or health result carrying another
//     pid) are ignored, so a late result cannot hit the restarted program.

import { assert, unreachable } from '../../base/assert';

export type AmfHealthCheckKind = 'none' | 'exec' | 'tcp' | 'ami';
export type AmfEscalation = 'stop' | 'leave';
export type AmfQuorumPolicy = 'none' | 'stop' | 'restart';

/** What the policy needs of one `amf { process { } }` (times in ms, as in the file). */
export interface AmfPolicySettings {
  readonly name: string;
  readonly healthCheck: AmfHealthCheckKind;
  readonly healthIntervalMs: number;
  readonly healthFailures: number;
  readonly restartDelayMs: number;
  readonly restartDelayMaxMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly escalation: AmfEscalation;
  readonly quorumPolicy: AmfQuorumPolicy;
  readonly stopTimeoutMs: number;
}

export const AmfProcessState = {
  /** Not running and not wanted (never started, operator stop, daemon shutdown). */
  stopped: 'stopped',
  /** Wanted, but quorum_policy stop holds it while the cluster is not quorate. */
  waitingQuorum: 'waiting-quorum',
  /** Spawn asked for, pid not known yet. */
  starting: 'starting',
  running: 'running',
  /** Signalled, waiting for the exit. */
  stopping: 'stopping',
  /** Failed; a restart is due when the restart timer fires. */
  backoff: 'backoff',
  /** Too many restarts in the window: stopped until an operator starts it. */
  escalated: 'escalated',
  /** A SAM failure with recovery quit: stopped until an operator starts it. */
  failed: 'failed',
} as const;
export type AmfProcessState = (typeof AmfProcessState)[keyof typeof AmfProcessState];

/** The shell's timers, at most one of each kind per program. */
export type AmfTimer = 'restart' | 'kill' | 'health';

export type AmfSignal = 'SIGTERM' | 'SIGKILL';

export type AmfLogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';

export type AmfEvent =
  /** Daemon start or operator start: wanted from now on; a fresh start. */
  | { readonly type: 'start' }
  /** Operator stop: not wanted until the next start. */
  | { readonly type: 'stop' }
  /** The daemon is stopping: like stop, and nothing starts it again. */
  | { readonly type: 'shutdown' }
  | { readonly type: 'spawned'; readonly pid: number }
  | { readonly type: 'spawnFailed'; readonly error: string }
  | { readonly type: 'exited'; readonly pid: number; readonly code: number | null; readonly signal: string | null }
  | { readonly type: 'timer'; readonly timer: AmfTimer }
  | { readonly type: 'healthOk'; readonly pid: number }
  | { readonly type: 'healthFailed'; readonly pid: number; readonly reason: string }
  | { readonly type: 'quorum'; readonly quorate: boolean }
  /** A SAM failure of this program: restart per policy, or (restart false) stop for good. */
  | { readonly type: 'fail'; readonly reason: string; readonly restart: boolean };

export type AmfAction =
  | { readonly type: 'spawn' }
  | { readonly type: 'signal'; readonly pid: number; readonly signal: AmfSignal }
  /** Arms the timer (replacing an armed one of the same kind). */
  | { readonly type: 'setTimer'; readonly timer: AmfTimer; readonly afterMs: number }
  | { readonly type: 'clearTimer'; readonly timer: AmfTimer }
  /** Run one health check against this pid; answer with healthOk or healthFailed. */
  | { readonly type: 'checkHealth'; readonly pid: number }
  | { readonly type: 'escalate'; readonly escalation: AmfEscalation; readonly reason: string }
  | { readonly type: 'log'; readonly level: AmfLogLevel; readonly message: string };

/** What happens once the program being stopped has exited. */
type AfterExit =
  /** Operator stop or shutdown: stopped. */
  | 'stop'
  /** quorum_policy stop lost quorum: wait for it. */
  | 'hold'
  /** Start again at once, uncounted (quorum_policy restart; quorum back while stopping). */
  | 'restart'
  /** A failure (health, SAM restart): restart with backoff or escalate. */
  | 'failure'
  /** SAM recovery quit: failed. */
  | 'fail';

/** A read-only view of one program's policy state (status, cmap). */
export interface AmfPolicySnapshot {
  readonly name: string;
  readonly state: AmfProcessState;
  readonly pid: number | null;
  /** Restarts after failures since the daemon started. */
  readonly restarts: number;
  /** Restarts still inside the restart window. */
  readonly restartsInWindow: number;
  readonly healthFailures: number;
  readonly lastExit: string | null;
  readonly lastFailure: string | null;
  readonly escalated: boolean;
  /** In backoff: ms until the restart. */
  readonly restartInMs: number | null;
  /** While running: ms since the spawn. */
  readonly uptimeMs: number | null;
  readonly quorate: boolean | null;
}

/** `code 1` / `signal SIGKILL`, for logs, status and cmap. */
export function describeExit(code: number | null, signal: string | null): string {
  if (signal !== null) return `signal ${signal}`;
  return code === null ? 'unknown status' : `code ${code}`;
}

/** One program's policy: feed events with handle(); apply the returned actions in order. */
export class AmfPolicy {
  readonly settings: AmfPolicySettings;
  private state: AmfProcessState = AmfProcessState.stopped;
  private pid: number | null = null;
  private wanted = false;
  private shutDown = false;
  private quorate: boolean | null = null;
  private afterExit: AfterExit = 'stop';
  /** When the restarts still in the window happened; never longer than maxRestarts. */
  private restartTimesMs: number[] = [];
  private restartsTotal = 0;
  private healthFailureCount = 0;
  private healthInFlight = false;
  private lastExitText: string | null = null;
  private lastFailureText: string | null = null;
  private escalated = false;
  private startedAtMs: number | null = null;
  private restartAtMs: number | null = null;
  private actions: AmfAction[] = [];

  constructor(settings: AmfPolicySettings) {
    assert(settings.maxRestarts >= 0 && Number.isInteger(settings.maxRestarts), 'maxRestarts must be a non-negative integer');
    assert(settings.restartWindowMs > 0, 'restartWindowMs must be positive');
    assert(settings.restartDelayMs >= 0 && settings.restartDelayMaxMs >= settings.restartDelayMs, 'restart delays out of order');
    assert(settings.healthFailures >= 1 && settings.healthIntervalMs > 0, 'health settings out of range');
    assert(settings.stopTimeoutMs > 0, 'stopTimeoutMs must be positive');
    this.settings = settings;
  }

  /** Applies one event at `nowMs` (monotonic); returns the actions, in order. */
  handle(event: AmfEvent, nowMs: number): AmfAction[] {
    this.actions = [];
    switch (event.type) {
      case 'start':
        this.onStart();
        break;
      case 'stop':
      case 'shutdown':
        this.onStop(event.type === 'shutdown');
        break;
      case 'spawned':
        this.onSpawned(event.pid, nowMs);
        break;
      case 'spawnFailed':
        this.onSpawnFailed(event.error, nowMs);
        break;
      case 'exited':
        this.onExited(event.pid, describeExit(event.code, event.signal), nowMs);
        break;
      case 'timer':
        this.onTimer(event.timer, nowMs);
        break;
      case 'healthOk':
        this.onHealthOk(event.pid);
        break;
      case 'healthFailed':
        this.onHealthFailed(event.pid, event.reason);
        break;
      case 'quorum':
        this.onQuorum(event.quorate);
        break;
      case 'fail':
        this.onFail(event.reason, event.restart);
        break;
      default:
        unreachable(event, 'unknown amf event');
    }
    const out = this.actions;
    this.actions = [];
    return out;
  }

  snapshot(nowMs: number): AmfPolicySnapshot {
    return {
      name: this.settings.name,
      state: this.state,
      pid: this.pid,
      restarts: this.restartsTotal,
      restartsInWindow: this.restartTimesMs.filter((t) => t > nowMs - this.settings.restartWindowMs).length,
      healthFailures: this.healthFailureCount,
      lastExit: this.lastExitText,
      lastFailure: this.lastFailureText,
      escalated: this.escalated,
      restartInMs: this.state === AmfProcessState.backoff && this.restartAtMs !== null ? Math.max(0, this.restartAtMs - nowMs) : null,
      uptimeMs: this.state === AmfProcessState.running && this.startedAtMs !== null ? nowMs - this.startedAtMs : null,
      quorate: this.quorate,
    };
  }

  // -------------------------------------------------------------------------------------
  // Events

  private onStart(): void {
    if (this.shutDown) return;
    this.wanted = true;
    if (this.state === AmfProcessState.starting || this.state === AmfProcessState.running) return;
    // A fresh start: an operator starting it again forgives the past.
    this.escalated = false;
    this.restartTimesMs = [];
    switch (this.state) {
      case AmfProcessState.stopping:
        // Whatever the stop was for, it is wanted afterwards (a failure still backs off).
        if (this.afterExit !== 'failure') this.afterExit = 'restart';
        return;
      case AmfProcessState.backoff:
        this.clearTimer('restart');
        this.restartAtMs = null;
        break;
      case AmfProcessState.stopped:
      case AmfProcessState.waitingQuorum:
      case AmfProcessState.escalated:
      case AmfProcessState.failed:
        break;
      default:
        unreachable(this.state);
    }
    this.startNowOrWait('start requested');
  }

  private onStop(shutdown: boolean): void {
    this.wanted = false;
    if (shutdown) this.shutDown = true;
    const why = shutdown ? 'carillond is stopping' : 'stop requested';
    switch (this.state) {
      case AmfProcessState.starting:
      case AmfProcessState.running:
        this.log('notice', `${why}: stopping`);
        this.stopFor('stop', 'SIGTERM');
        return;
      case AmfProcessState.stopping:
        this.afterExit = 'stop';
        return;
      case AmfProcessState.backoff:
        this.clearTimer('restart');
        this.restartAtMs = null;
        this.state = AmfProcessState.stopped;
        this.log('notice', `${why}: restart cancelled`);
        return;
      case AmfProcessState.waitingQuorum:
        this.state = AmfProcessState.stopped;
        return;
      case AmfProcessState.stopped:
        return;
      case AmfProcessState.escalated:
      case AmfProcessState.failed:
        // Not running either way: an operator stop acknowledges it, a shutdown keeps it visible.
        if (!shutdown) this.state = AmfProcessState.stopped;
        return;
      default:
        unreachable(this.state);
    }
  }

  private onSpawned(pid: number, nowMs: number): void {
    assert(this.pid === null, 'spawned while a pid is known');
    if (this.state === AmfProcessState.stopping && !(this.afterExit === 'restart' && this.wanted)) {
      // Stopped while the spawn was under way: stop the new incarnation at once.
      this.pid = pid;
      this.signal('SIGTERM');
      this.setTimer('kill', this.settings.stopTimeoutMs);
      return;
    }
    // (Stopping for a restart while the spawn was under way: the new one is the restart.)
    assert(this.state === AmfProcessState.starting || this.state === AmfProcessState.stopping, `spawned in state ${this.state}`);
    this.afterExit = 'stop';
    this.pid = pid;
    this.state = AmfProcessState.running;
    this.startedAtMs = nowMs;
    this.healthFailureCount = 0;
    this.healthInFlight = false;
    this.log('info', `running as pid ${pid}`);
    if (this.settings.healthCheck !== 'none') this.setTimer('health', this.settings.healthIntervalMs);
  }

  private onSpawnFailed(error: string, nowMs: number): void {
    assert(this.pid === null, 'spawn failed while a pid is known');
    if (this.state === AmfProcessState.stopping) {
      this.finishStop(nowMs);
      return;
    }
    assert(this.state === AmfProcessState.starting, `spawn failed in state ${this.state}`);
    this.lastFailureText = `cannot start: ${error}`;
    this.log('error', this.lastFailureText);
    this.failure(nowMs);
  }

  private onExited(pid: number, exit: string, nowMs: number): void {
    if (pid !== this.pid) return;
    this.pid = null;
    this.startedAtMs = null;
    this.lastExitText = exit;
    this.healthInFlight = false;
    this.clearTimer('health');
    if (this.state === AmfProcessState.stopping) {
      this.clearTimer('kill');
      this.log('info', `pid ${pid} exited (${exit})`);
      this.finishStop(nowMs);
      return;
    }
    assert(this.state === AmfProcessState.running, `exit in state ${this.state}`);
    this.lastFailureText = `exited unexpectedly (${exit})`;
    this.log('warning', `pid ${pid} ${this.lastFailureText}`);
    this.failure(nowMs);
  }

  private onTimer(timer: AmfTimer, nowMs: number): void {
    switch (timer) {
      case 'restart':
        if (this.state !== AmfProcessState.backoff) return;
        this.restartAtMs = null;
        this.restartTimesMs.push(nowMs);
        assert(this.restartTimesMs.length <= this.settings.maxRestarts, 'more restarts in the window than max_restarts');
        this.restartsTotal += 1;
        this.log('notice', `restarting (restart ${this.restartTimesMs.length} of at most ${this.settings.maxRestarts} in ${this.settings.restartWindowMs} ms)`);
        this.spawn();
        return;
      case 'kill':
        if (this.state !== AmfProcessState.stopping || this.pid === null) return;
        this.log('warning', `pid ${this.pid} still running ${this.settings.stopTimeoutMs} ms after SIGTERM: sending SIGKILL`);
        this.signal('SIGKILL');
        return;
      case 'health':
        if (this.state !== AmfProcessState.running || this.pid === null || this.healthInFlight) return;
        this.healthInFlight = true;
        this.actions.push({ type: 'checkHealth', pid: this.pid });
        return;
      default:
        unreachable(timer);
    }
  }

  private onHealthOk(pid: number): void {
    if (!this.isCurrentHealthResult(pid)) return;
    this.healthInFlight = false;
    if (this.healthFailureCount > 0) this.log('notice', `health check ok again after ${this.healthFailureCount} failure(s)`);
    this.healthFailureCount = 0;
    this.setTimer('health', this.settings.healthIntervalMs);
  }

  private onHealthFailed(pid: number, reason: string): void {
    if (!this.isCurrentHealthResult(pid)) return;
    this.healthInFlight = false;
    this.healthFailureCount += 1;
    const count = `${this.healthFailureCount} of ${this.settings.healthFailures}`;
    this.log('warning', `health check failed (${count}): ${reason}`);
    if (this.healthFailureCount < this.settings.healthFailures) {
      this.setTimer('health', this.settings.healthIntervalMs);
      return;
    }
    this.lastFailureText = `health check failed ${this.healthFailureCount} times in a row: ${reason}`;
    this.log('warning', `${this.lastFailureText}: stopping pid ${pid} for a restart`);
    this.stopFor('failure', 'SIGTERM');
  }

  private onQuorum(quorate: boolean): void {
    const before = this.quorate;
    this.quorate = quorate;
    if (this.settings.quorumPolicy === 'stop') {
      if (quorate) this.quorumRegained();
      else this.quorumLostStop();
    } else if (this.settings.quorumPolicy === 'restart' && before === true && !quorate) {
      if (this.state === AmfProcessState.running || this.state === AmfProcessState.starting) {
        this.log('notice', 'quorum lost: restarting (quorum_policy restart)');
        this.stopFor('restart', 'SIGTERM');
      }
    }
  }

  private onFail(reason: string, restart: boolean): void {
    if (this.shutDown) return;
    this.lastFailureText = reason;
    const alive = this.state === AmfProcessState.running || this.state === AmfProcessState.starting;
    if (restart) {
      if (alive) {
        this.log('warning', `${reason}: killing for a restart`);
        this.stopFor('failure', 'SIGKILL');
      } else if (this.state === AmfProcessState.stopping && this.afterExit !== 'stop' && this.afterExit !== 'fail') {
        this.afterExit = 'failure';
      }
      return;
    }
    this.wanted = false;
    if (alive) {
      this.log('warning', `${reason}: killing; it stays stopped (recovery quit)`);
      this.stopFor('fail', 'SIGKILL');
    } else if (this.state === AmfProcessState.stopping) {
      if (this.afterExit !== 'stop') this.afterExit = 'fail';
    } else if (this.state === AmfProcessState.backoff || this.state === AmfProcessState.waitingQuorum) {
      this.clearTimer('restart');
      this.restartAtMs = null;
      this.state = AmfProcessState.failed;
    }
  }

  // -------------------------------------------------------------------------------------
  // Steps

  private quorumRegained(): void {
    if (this.state === AmfProcessState.waitingQuorum && this.wanted) {
      this.log('notice', 'quorate: starting (quorum_policy stop)');
      this.spawn();
    } else if (this.state === AmfProcessState.stopping && this.afterExit === 'hold') {
      this.afterExit = 'restart';
    }
  }

  private quorumLostStop(): void {
    switch (this.state) {
      case AmfProcessState.running:
      case AmfProcessState.starting:
        this.log('notice', 'not quorate: stopping until quorum returns (quorum_policy stop)');
        this.stopFor('hold', 'SIGTERM');
        return;
      case AmfProcessState.stopping:
        if (this.afterExit === 'restart' || this.afterExit === 'failure') this.afterExit = 'hold';
        return;
      case AmfProcessState.backoff:
        this.clearTimer('restart');
        this.restartAtMs = null;
        this.state = AmfProcessState.waitingQuorum;
        this.log('notice', 'not quorate: restart held until quorum returns (quorum_policy stop)');
        return;
      default:
        return;
    }
  }

  /** Spawns unless quorum_policy stop holds the program (the cluster is not known quorate). */
  private startNowOrWait(why: string): void {
    if (this.settings.quorumPolicy === 'stop' && this.quorate !== true) {
      this.state = AmfProcessState.waitingQuorum;
      this.log('notice', `${why}: waiting for quorum (quorum_policy stop)`);
      return;
    }
    this.log('info', `${why}: starting`);
    this.spawn();
  }

  private spawn(): void {
    this.state = AmfProcessState.starting;
    this.actions.push({ type: 'spawn' });
  }

  /** Signals the program (or marks a pending spawn) and waits for its exit. */
  private stopFor(afterExit: AfterExit, signal: AmfSignal): void {
    this.afterExit = afterExit;
    this.state = AmfProcessState.stopping;
    this.healthInFlight = false;
    this.clearTimer('health');
    if (this.pid === null) return;
    this.signal(signal);
    if (signal === 'SIGTERM') this.setTimer('kill', this.settings.stopTimeoutMs);
  }

  private finishStop(nowMs: number): void {
    const next = this.afterExit;
    this.afterExit = 'stop';
    switch (next) {
      case 'stop':
        this.state = AmfProcessState.stopped;
        this.log('notice', 'stopped');
        return;
      case 'hold':
        this.state = this.wanted ? AmfProcessState.waitingQuorum : AmfProcessState.stopped;
        return;
      case 'restart':
        if (this.wanted) this.startNowOrWait('restart');
        else this.state = AmfProcessState.stopped;
        return;
      case 'failure':
        this.failure(nowMs);
        return;
      case 'fail':
        this.state = AmfProcessState.failed;
        this.log('warning', `failed: ${this.lastFailureText ?? 'SAM failure'}; stays stopped until started`);
        return;
      default:
        unreachable(next);
    }
  }

  /** The program failed and is gone: restart after a backoff, or escalate. */
  private failure(nowMs: number): void {
    if (!this.wanted || this.shutDown) {
      this.state = AmfProcessState.stopped;
      return;
    }
    if (this.settings.quorumPolicy === 'stop' && this.quorate !== true) {
      this.state = AmfProcessState.waitingQuorum;
      return;
    }
    const windowStartMs = nowMs - this.settings.restartWindowMs;
    this.restartTimesMs = this.restartTimesMs.filter((t) => t > windowStartMs);
    const inWindow = this.restartTimesMs.length;
    if (inWindow >= this.settings.maxRestarts) {
      this.escalate(inWindow);
      return;
    }
    const delayMs = Math.min(this.settings.restartDelayMs * 2 ** inWindow, this.settings.restartDelayMaxMs);
    this.state = AmfProcessState.backoff;
    this.restartAtMs = nowMs + delayMs;
    this.log('notice', `restart in ${delayMs} ms (${inWindow} of ${this.settings.maxRestarts} restarts used in the last ${this.settings.restartWindowMs} ms)`);
    this.setTimer('restart', delayMs);
  }

  private escalate(inWindow: number): void {
    this.escalated = true;
    this.state = AmfProcessState.escalated;
    const reason = `${this.settings.name} failed after ${inWindow} restart(s) in ${this.settings.restartWindowMs} ms (max_restarts ${this.settings.maxRestarts}): ${this.lastFailureText ?? 'failure'}`;
    const what = this.settings.escalation === 'leave' ? 'leaving the cluster (escalation leave)' : 'left stopped (escalation stop)';
    this.log('error', `${reason}; ${what}`);
    this.actions.push({ type: 'escalate', escalation: this.settings.escalation, reason });
  }

  private isCurrentHealthResult(pid: number): boolean {
    return this.state === AmfProcessState.running && pid === this.pid && this.healthInFlight;
  }

  private signal(signal: AmfSignal): void {
    assert(this.pid !== null, 'signal without a pid');
    this.actions.push({ type: 'signal', pid: this.pid, signal });
  }

  private setTimer(timer: AmfTimer, afterMs: number): void {
    this.actions.push({ type: 'setTimer', timer, afterMs });
  }

  private clearTimer(timer: AmfTimer): void {
    this.actions.push({ type: 'clearTimer', timer });
  }

  private log(level: AmfLogLevel, message: string): void {
    this.actions.push({ type: 'log', level, message: `${this.settings.name}: ${message}` });
  }
}
