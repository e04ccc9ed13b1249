// Goal: the availability manager's restart policy (src/services/amf/amf-policy.ts) does
// what the acceptance asks — a killed program is restarted per policy (backoff
// doubling up to the cap), one that keeps crashing is escalated at exactly the
// threshold (the (max_restarts + 1)-th failure inside the window), quorum_policy follows
// quorum loss and regain, SAM failures restart or stop it — and never restarts more
// than max_restarts times in any window (fast-check over random event sequences).
// Method: the virtual-time harness amf-sim.ts; no process, no timer, no sleep.

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { AmfPolicy, describeExit } from '../../../src/services/amf/amf-policy';
import { AmfSim, baseSettings } from './amf-sim';

describe('start and restart after a crash', () => {
  it('starts at once and restarts a crashed program after restart_delay, doubling up to restart_delay_max', () => {
    const sim = new AmfSim({ restartDelayMs: 100, restartDelayMaxMs: 350, maxRestarts: 10 });
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('running');
    expect(sim.spawns).toHaveLength(1);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const crashedAt = sim.nowMs;
      sim.crash();
      expect(sim.state()).toBe('backoff');
      sim.advance(1000);
      const restart = sim.spawns.at(-1);
      expect(restart?.restart).toBe(true);
      delays.push((restart?.atMs ?? 0) - crashedAt);
    }
    expect(delays).toEqual([100, 200, 350, 350]);
    const snap = sim.policy.snapshot(sim.nowMs);
    expect(snap).toMatchObject({ state: 'running', restarts: 4, restartsInWindow: 4, lastExit: 'code 1', lastFailure: 'exited unexpectedly (code 1)' });
    expect(snap.pid).toBe(sim.pid);
  });

  it('a killed program gets a new pid and restarts=1; status shows the backoff while it waits', () => {
    const sim = new AmfSim({ restartDelayMs: 1000 });
    sim.send({ type: 'start' });
    const first = sim.pid;
    sim.send({ type: 'exited', pid: first ?? 0, code: null, signal: 'SIGKILL' });
    sim.advance(400);
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'backoff', pid: null, restartInMs: 600, lastExit: 'signal SIGKILL' });
    sim.advance(600);
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', restarts: 1 });
    expect(sim.pid).not.toBe(first);
  });

  it('exit status 0 is a failure too (a supervised daemon is meant to run)', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.crash(0);
    expect(sim.state()).toBe('backoff');
    expect(sim.policy.snapshot(sim.nowMs).lastFailure).toBe('exited unexpectedly (code 0)');
  });

  it('a spawn failure counts as a failure and backs off', () => {
    const sim = new AmfSim({ maxRestarts: 2 });
    sim.spawnFails = true;
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('backoff');
    expect(sim.policy.snapshot(sim.nowMs).lastFailure).toBe('cannot start: ENOENT');
    sim.advance(10_000);
    // 1 start + 2 restarts, then the third failure escalates.
    expect(sim.spawns).toHaveLength(3);
    expect(sim.state()).toBe('escalated');
  });

  it('ignores exits and health results of an earlier incarnation', () => {
    const sim = new AmfSim({ healthCheck: 'tcp' });
    sim.send({ type: 'start' });
    const old = sim.pid ?? 0;
    sim.advance(1000);
    expect(sim.pendingHealth).toEqual([old]);
    sim.crash();
    sim.advance(100);
    expect(sim.state()).toBe('running');
    const before = sim.actions.length;
    sim.send({ type: 'exited', pid: old, code: 1, signal: null });
    sim.send({ type: 'healthFailed', pid: old, reason: 'late' });
    expect(sim.actions.length).toBe(before);
    expect(sim.state()).toBe('running');
  });
});

describe('escalation at exactly the threshold', () => {
  for (const maxRestarts of [0, 1, 3, 5]) {
    it(`max_restarts ${maxRestarts}: ${maxRestarts} restarts, and failure ${maxRestarts + 1} escalates`, () => {
      const sim = new AmfSim({ maxRestarts, restartDelayMs: 10, restartDelayMaxMs: 40, restartWindowMs: 60_000 });
      sim.send({ type: 'start' });
      for (let failure = 1; failure <= maxRestarts; failure++) {
        sim.crash();
        expect(sim.escalations()).toEqual([]);
        sim.advance(100);
        expect(sim.state()).toBe('running');
      }
      expect(sim.spawns.filter((s) => s.restart)).toHaveLength(maxRestarts);
      sim.crash();
      expect(sim.state()).toBe('escalated');
      expect(sim.escalations()).toEqual([{ type: 'escalate', escalation: 'stop', reason: expect.stringContaining(`max_restarts ${maxRestarts}`) }]);
      sim.advance(120_000);
      expect(sim.spawns).toHaveLength(1 + maxRestarts);
      expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'escalated', escalated: true, pid: null });
    });
  }

  it('escalation leave is handed to the shell as such', () => {
    const sim = new AmfSim({ maxRestarts: 1, escalation: 'leave' });
    sim.send({ type: 'start' });
    sim.crash();
    sim.advance(1000);
    sim.crash();
    expect(sim.escalations()).toMatchObject([{ type: 'escalate', escalation: 'leave' }]);
    expect(sim.logText()).toContain('leaving the cluster (escalation leave)');
  });

  it('restarts that left the window no longer count: failures spread wider than the window never escalate', () => {
    const sim = new AmfSim({ maxRestarts: 2, restartWindowMs: 5000, restartDelayMs: 100 });
    sim.send({ type: 'start' });
    for (let i = 0; i < 10; i++) {
      sim.advance(2600);
      sim.crash();
      expect(sim.state()).toBe('backoff');
    }
    expect(sim.escalations()).toEqual([]);
  });

  it('the window is sliding: a restart exactly restart_window ms old has left it', () => {
    const sim = new AmfSim({ maxRestarts: 1, restartWindowMs: 1000, restartDelayMs: 100 });
    sim.send({ type: 'start' });
    sim.crash(); // t=0, restart at t=100
    sim.advance(100);
    expect(sim.spawns.at(-1)?.atMs).toBe(100);
    sim.advance(999); // t=1099: the restart at 100 is 999 ms old
    sim.crash();
    expect(sim.state()).toBe('escalated');
    const again = new AmfSim({ maxRestarts: 1, restartWindowMs: 1000, restartDelayMs: 100 });
    again.send({ type: 'start' });
    again.crash();
    again.advance(1100); // t=1100: the restart at 100 is exactly 1000 ms old
    again.crash();
    expect(again.state()).toBe('backoff');
  });

  it('an operator start after escalation is a fresh start (history cleared)', () => {
    const sim = new AmfSim({ maxRestarts: 1 });
    sim.send({ type: 'start' });
    sim.crash();
    sim.advance(500);
    sim.crash();
    expect(sim.state()).toBe('escalated');
    sim.send({ type: 'start' });
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', escalated: false, restartsInWindow: 0, restarts: 1 });
    sim.crash();
    expect(sim.state()).toBe('backoff');
  });
});

describe('stop', () => {
  it('an operator stop sends SIGTERM, then SIGKILL after stop_timeout, and does not restart', () => {
    const sim = new AmfSim({ stopTimeoutMs: 500 });
    sim.ignoresSigterm = true;
    sim.send({ type: 'start' });
    const pid = sim.pid ?? 0;
    sim.send({ type: 'stop' });
    expect(sim.state()).toBe('stopping');
    sim.advance(499);
    expect(sim.signals()).toEqual([{ atMs: 0, signal: 'SIGTERM', pid }]);
    sim.advance(1);
    expect(sim.signals()).toEqual([{ atMs: 0, signal: 'SIGTERM', pid }, { atMs: 500, signal: 'SIGKILL', pid }]);
    expect(sim.state()).toBe('stopped');
    sim.advance(60_000);
    expect(sim.spawns).toHaveLength(1);
  });

  it('a stop during backoff cancels the restart; a start afterwards starts at once', () => {
    const sim = new AmfSim({ restartDelayMs: 1000 });
    sim.send({ type: 'start' });
    sim.crash();
    sim.send({ type: 'stop' });
    sim.advance(5000);
    expect(sim.state()).toBe('stopped');
    expect(sim.spawns).toHaveLength(1);
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('running');
  });

  it('shutdown stops it and nothing starts it again', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.send({ type: 'shutdown' });
    sim.advance(100);
    expect(sim.state()).toBe('stopped');
    sim.send({ type: 'start' });
    sim.send({ type: 'quorum', quorate: true });
    sim.advance(10_000);
    expect(sim.spawns).toHaveLength(1);
  });

  it('a start while it is being stopped starts it again once it has exited', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.send({ type: 'stop' });
    sim.send({ type: 'start' });
    sim.advance(100);
    expect(sim.state()).toBe('running');
    expect(sim.spawns).toHaveLength(2);
    expect(sim.policy.snapshot(sim.nowMs).restarts).toBe(0);
  });
});

describe('health checks', () => {
  it('run every health_interval after the previous result; health_failures in a row stop it with SIGTERM and restart it', () => {
    const sim = new AmfSim({ healthCheck: 'exec', healthIntervalMs: 1000, healthFailures: 3 });
    sim.send({ type: 'start' });
    const pid = sim.pid ?? 0;
    sim.advance(999);
    expect(sim.pendingHealth).toEqual([]);
    sim.advance(1);
    expect(sim.pendingHealth).toEqual([pid]);
    sim.advance(5000);
    expect(sim.pendingHealth).toHaveLength(1);
    sim.healthResult(false, 'exit code 1');
    sim.advance(1000);
    sim.healthResult(true);
    sim.advance(1000);
    sim.healthResult(false);
    sim.advance(1000);
    sim.healthResult(false);
    expect(sim.state()).toBe('running');
    sim.advance(1000);
    sim.healthResult(false, 'timed out');
    expect(sim.signals()).toEqual([{ atMs: sim.nowMs, signal: 'SIGTERM', pid }]);
    expect(sim.policy.snapshot(sim.nowMs).lastFailure).toBe('health check failed 3 times in a row: timed out');
    sim.advance(1000);
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', restarts: 1, healthFailures: 0 });
    expect(sim.pid).not.toBe(pid);
  });

  it('no health checks with health_check none', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.advance(60_000);
    expect(sim.pendingHealth).toEqual([]);
  });
});

describe('quorum_policy', () => {
  it('stop: waits for quorum, stops on loss, starts again on regain (uncounted)', () => {
    const sim = new AmfSim({ quorumPolicy: 'stop' });
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('waiting-quorum');
    expect(sim.spawns).toHaveLength(0);
    sim.send({ type: 'quorum', quorate: true });
    expect(sim.state()).toBe('running');
    const pid = sim.pid ?? 0;
    sim.send({ type: 'quorum', quorate: false });
    expect(sim.signals()).toEqual([{ atMs: 0, signal: 'SIGTERM', pid }]);
    sim.advance(100);
    expect(sim.state()).toBe('waiting-quorum');
    sim.advance(60_000);
    expect(sim.spawns).toHaveLength(1);
    sim.send({ type: 'quorum', quorate: true });
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', restarts: 0 });
    expect(sim.spawns).toHaveLength(2);
  });

  it('stop: quorum lost during a backoff holds the restart; quorum back while stopping starts it after the exit', () => {
    const sim = new AmfSim({ quorumPolicy: 'stop', restartDelayMs: 1000 });
    sim.send({ type: 'quorum', quorate: true });
    sim.send({ type: 'start' });
    sim.crash();
    sim.send({ type: 'quorum', quorate: false });
    sim.advance(5000);
    expect(sim.state()).toBe('waiting-quorum');
    sim.send({ type: 'quorum', quorate: true });
    expect(sim.state()).toBe('running');
    sim.send({ type: 'quorum', quorate: false });
    sim.send({ type: 'quorum', quorate: true });
    sim.advance(100);
    expect(sim.state()).toBe('running');
    expect(sim.spawns).toHaveLength(3);
  });

  it('restart: restarted once on each loss of quorum, not at start and not while inquorate', () => {
    const sim = new AmfSim({ quorumPolicy: 'restart' });
    sim.send({ type: 'quorum', quorate: false });
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('running');
    sim.send({ type: 'quorum', quorate: false });
    expect(sim.signals()).toEqual([]);
    sim.send({ type: 'quorum', quorate: true });
    expect(sim.signals()).toEqual([]);
    const pid = sim.pid ?? 0;
    sim.send({ type: 'quorum', quorate: false });
    expect(sim.signals()).toEqual([{ atMs: 0, signal: 'SIGTERM', pid }]);
    sim.advance(100);
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', restarts: 0 });
    expect(sim.spawns).toHaveLength(2);
    sim.send({ type: 'quorum', quorate: false });
    sim.advance(100);
    expect(sim.spawns).toHaveLength(2);
  });

  it('none: quorum changes do nothing', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.send({ type: 'quorum', quorate: true });
    sim.send({ type: 'quorum', quorate: false });
    sim.advance(1000);
    expect(sim.signals()).toEqual([]);
    expect(sim.state()).toBe('running');
  });
});

describe('SAM failures', () => {
  it('restart: SIGKILL at once, then a counted restart with backoff', () => {
    const sim = new AmfSim({ restartDelayMs: 100 });
    sim.send({ type: 'start' });
    const pid = sim.pid ?? 0;
    sim.send({ type: 'fail', reason: 'SAM: missed heartbeat', restart: true });
    expect(sim.signals()).toEqual([{ atMs: 0, signal: 'SIGKILL', pid }]);
    expect(sim.state()).toBe('backoff');
    sim.advance(100);
    expect(sim.policy.snapshot(sim.nowMs)).toMatchObject({ state: 'running', restarts: 1, lastFailure: 'SAM: missed heartbeat' });
  });

  it('quit: SIGKILL and it stays failed until started', () => {
    const sim = new AmfSim();
    sim.send({ type: 'start' });
    sim.send({ type: 'fail', reason: 'SAM: connection closed', restart: false });
    sim.advance(60_000);
    expect(sim.state()).toBe('failed');
    expect(sim.spawns).toHaveLength(1);
    sim.send({ type: 'start' });
    expect(sim.state()).toBe('running');
  });
});

it('describeExit', () => {
  expect(describeExit(3, null)).toBe('code 3');
  expect(describeExit(null, 'SIGKILL')).toBe('signal SIGKILL');
  expect(describeExit(null, null)).toBe('unknown status');
});

it('refuses settings that make no sense (programmer error)', () => {
  expect(() => new AmfPolicy({ ...baseSettings, restartDelayMaxMs: 10, restartDelayMs: 20 })).toThrow('restart delays out of order');
  expect(() => new AmfPolicy({ ...baseSettings, maxRestarts: -1 })).toThrow();
});

describe('property: never more than max_restarts restarts in any window', () => {
  type Step =
    | { kind: 'advance'; ms: number }
    | { kind: 'crash' }
    | { kind: 'health'; ok: boolean }
    | { kind: 'quorum'; quorate: boolean }
    | { kind: 'operator'; start: boolean }
    | { kind: 'sam'; restart: boolean };
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 1, max: 3000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
    { weight: 4, arbitrary: fc.constant({ kind: 'crash' as const }) },
    { weight: 2, arbitrary: fc.boolean().map((ok) => ({ kind: 'health' as const, ok })) },
    { weight: 2, arbitrary: fc.boolean().map((quorate) => ({ kind: 'quorum' as const, quorate })) },
    { weight: 1, arbitrary: fc.boolean().map((start) => ({ kind: 'operator' as const, start })) },
    { weight: 1, arbitrary: fc.boolean().map((restart) => ({ kind: 'sam' as const, restart })) },
  );

  it('holds for random event sequences, and the program never has two pids', () => {
    let restartsSeen = 0;
    let escalationsSeen = 0;
    fc.assert(
      fc.property(
        fc.record({
          maxRestarts: fc.integer({ min: 0, max: 4 }),
          restartWindowMs: fc.integer({ min: 500, max: 8000 }),
          quorumPolicy: fc.constantFrom('none' as const, 'stop' as const, 'restart' as const),
          healthCheck: fc.constantFrom('none' as const, 'tcp' as const),
        }),
        fc.array(step, { minLength: 20, maxLength: 80 }),
        (settings, steps) => {
          const sim = new AmfSim({ ...settings, restartDelayMs: 50, restartDelayMaxMs: 400, healthIntervalMs: 300, healthFailures: 2 });
          sim.send({ type: 'start' });
          // An operator start is a fresh start (history cleared) unless it is running already.
          let lastFresh = 0;
          for (const s of steps) {
            if (s.kind === 'advance') sim.advance(s.ms);
            else if (s.kind === 'crash') {
              if (sim.pid !== null) sim.crash();
            } else if (s.kind === 'health') {
              if (sim.pendingHealth.length > 0) sim.healthResult(s.ok);
            } else if (s.kind === 'quorum') sim.send({ type: 'quorum', quorate: s.quorate });
            else if (s.kind === 'operator') {
              if (s.start && !['running', 'starting'].includes(sim.state())) lastFresh = sim.nowMs;
              sim.send({ type: s.start ? 'start' : 'stop' });
            }
            else sim.send({ type: 'fail', reason: 'SAM', restart: s.restart });
          }
          // Restart spawns since the last fresh start, checked over every window.
          restartsSeen += sim.spawns.filter((s) => s.restart).length;
          escalationsSeen += sim.escalations().length;
          const restarts = sim.spawns.filter((s) => s.restart && s.atMs >= lastFresh).map((s) => s.atMs);
          for (const t of restarts) {
            const inWindow = restarts.filter((u) => u > t - settings.restartWindowMs && u <= t).length;
            expect(inWindow).toBeLessThanOrEqual(settings.maxRestarts);
          }
          const snap = sim.policy.snapshot(sim.nowMs);
          expect(snap.pid).toBe(sim.pid);
          if (settings.quorumPolicy === 'stop' && snap.quorate !== true) expect(['running', 'starting', 'backoff']).not.toContain(snap.state);
        },
      ),
      { numRuns: 300 },
    );
    // Not vacuous: the runs restarted and escalated plenty.
    expect(restartsSeen).toBeGreaterThan(100);
    expect(escalationsSeen).toBeGreaterThan(10);
  });
});
