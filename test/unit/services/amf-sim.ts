// Virtual-time harness for AmfPolicy (not a test file): plays the shell's part with a
// simulated program — spawn gives a pid at once (or fails on demand), SIGTERM ends it
// after exitDelayMs unless it ignores SIGTERM, SIGKILL ends it at once — and keeps the
// policy's timers as due times. Nothing sleeps: advance(ms) jumps from one due event to
// the next. Every action and event is recorded for the assertions.

import { type AmfAction, type AmfEvent, AmfPolicy, type AmfPolicySettings, type AmfTimer } from '../../../src/services/amf/amf-policy';

export const baseSettings: AmfPolicySettings = {
  name: 'p',
  healthCheck: 'none',
  healthIntervalMs: 1000,
  healthFailures: 3,
  restartDelayMs: 100,
  restartDelayMaxMs: 1000,
  maxRestarts: 3,
  restartWindowMs: 10_000,
  escalation: 'stop',
  quorumPolicy: 'none',
  stopTimeoutMs: 500,
};

interface Pending {
  atMs: number;
  event: AmfEvent;
}

export class AmfSim {
  readonly policy: AmfPolicy;
  nowMs = 0;
  /** Actions in order, with the time they were returned. */
  readonly actions: Array<{ atMs: number; action: AmfAction }> = [];
  /** Spawn times, and whether the spawn answered a restart timer. */
  readonly spawns: Array<{ atMs: number; pid: number | null; restart: boolean }> = [];
  readonly pendingHealth: number[] = [];
  /** The live simulated pid. */
  pid: number | null = null;
  spawnFails = false;
  ignoresSigterm = false;
  exitDelayMs = 10;
  private nextPid = 100;
  private readonly timers = new Map<AmfTimer, number>();
  private readonly pending: Pending[] = [];
  private currentEvent: AmfEvent | null = null;

  constructor(settings: Partial<AmfPolicySettings> = {}) {
    this.policy = new AmfPolicy({ ...baseSettings, ...settings });
  }

  /** Feeds one event now (and whatever it triggers at once). */
  send(event: AmfEvent): void {
    const queue: AmfEvent[] = [event];
    while (queue.length > 0) {
      const next = queue.shift() as AmfEvent;
      this.currentEvent = next;
      if (next.type === 'exited' && next.pid === this.pid) this.pid = null;
      for (const action of this.policy.handle(next, this.nowMs)) {
        this.actions.push({ atMs: this.nowMs, action });
        const follow = this.apply(action);
        if (follow !== null) queue.push(follow);
      }
    }
    this.currentEvent = null;
  }

  /** The program dies on its own now. */
  crash(code = 1): void {
    if (this.pid === null) throw new Error('nothing to crash');
    this.send({ type: 'exited', pid: this.pid, code, signal: null });
  }

  /** Answers the oldest pending health check. */
  healthResult(ok: boolean, reason = 'no answer'): void {
    const pid = this.pendingHealth.shift();
    if (pid === undefined) throw new Error('no health check pending');
    this.send(ok ? { type: 'healthOk', pid } : { type: 'healthFailed', pid, reason });
  }

  /** Moves time forward by `ms`, firing timers and exits in due order. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (;;) {
      const next = this.nextDue();
      if (next === null || next.atMs > endMs) break;
      this.take(next);
      this.nowMs = next.atMs;
      this.send(next.event);
    }
    this.nowMs = endMs;
  }

  timerDue(timer: AmfTimer): number | undefined {
    return this.timers.get(timer);
  }

  state(): string {
    return this.policy.snapshot(this.nowMs).state;
  }

  escalations(): AmfAction[] {
    return this.actions.map((a) => a.action).filter((a) => a.type === 'escalate');
  }

  signals(): Array<{ atMs: number; signal: string; pid: number }> {
    return this.actions.flatMap(({ atMs, action }) => (action.type === 'signal' ? [{ atMs, signal: action.signal, pid: action.pid }] : []));
  }

  logText(): string {
    return this.actions.flatMap(({ action }) => (action.type === 'log' ? [action.message] : [])).join('\n');
  }

  private nextDue(): Pending | null {
    let best: Pending | null = null;
    for (const [timer, atMs] of this.timers) {
      if (best === null || atMs < best.atMs) best = { atMs, event: { type: 'timer', timer } };
    }
    for (const p of this.pending) if (best === null || p.atMs < best.atMs) best = p;
    return best;
  }

  private take(due: Pending): void {
    if (due.event.type === 'timer') this.timers.delete(due.event.timer);
    else this.pending.splice(this.pending.indexOf(due), 1);
  }

  private apply(action: AmfAction): AmfEvent | null {
    switch (action.type) {
      case 'spawn': {
        const restart = this.currentEvent?.type === 'timer' && this.currentEvent.timer === 'restart';
        if (this.pid !== null) throw new Error(`spawn while pid ${this.pid} is alive`);
        if (this.spawnFails) {
          this.spawns.push({ atMs: this.nowMs, pid: null, restart });
          return { type: 'spawnFailed', error: 'ENOENT' };
        }
        this.pid = this.nextPid++;
        this.spawns.push({ atMs: this.nowMs, pid: this.pid, restart });
        return { type: 'spawned', pid: this.pid };
      }
      case 'signal':
        if (action.pid !== this.pid) return null;
        if (action.signal === 'SIGKILL') return { type: 'exited', pid: action.pid, code: null, signal: 'SIGKILL' };
        if (!this.ignoresSigterm) this.pending.push({ atMs: this.nowMs + this.exitDelayMs, event: { type: 'exited', pid: action.pid, code: null, signal: 'SIGTERM' } });
        return null;
      case 'setTimer':
        this.timers.set(action.timer, this.nowMs + action.afterMs);
        return null;
      case 'clearTimer':
        this.timers.delete(action.timer);
        return null;
      case 'checkHealth':
        this.pendingHealth.push(action.pid);
        return null;
      case 'escalate':
      case 'log':
        return null;
    }
  }
}
