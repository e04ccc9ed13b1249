// system { sched_rr, priority } → carillond's scheduling (src/runtime/scheduling.ts):
// chrt on its own pid for SCHED_RR, a policy the service manager already gave kept (or
// dropped with sched_rr: no), a nice value without sched_rr, warnings that say how to
// fix a refusal, nothing at all when there is nothing to do. The real chrt output format
// is checked against util-linux's chrt on this machine.

import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { type SchedulingDeps, applyScheduling, parseStatPolicy } from '../../../src/runtime/scheduling';

/** A fake chrt: the thread's policy, what setting one answers, and every call. */
function fakeChrt(initial: { policy: string; priority: number }, set: { status: number | null; stderr?: string; error?: Error } = { status: 0 }) {
  const calls: string[] = [];
  const state = { ...initial, nice: 0 };
  const deps: SchedulingDeps = {
    pid: 4242,
    readStat: () => {
      const policy = { SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2 }[state.policy] ?? 0;
      // Fields 4.. after "pid (comm) state"; the command name has a space and a parenthesis in it.
      const fields = Array.from({ length: 50 }, (_, i) => (i === 36 ? String(state.priority) : i === 37 ? String(policy) : '0'));
      return `4242 (node ) x) S ${fields.join(' ')}\n`;
    },
    run: (file, args) => {
      calls.push([file, ...args].join(' '));
      if (set.status === 0) {
        state.policy = args[1] === '--rr' ? 'SCHED_RR' : 'SCHED_OTHER';
        state.priority = Number(args[3]);
      }
      return { status: set.status, stderr: set.stderr ?? '', ...(set.error === undefined ? {} : { error: set.error }) };
    },
    setPriority: (pid, nice) => {
      calls.push(`setPriority ${pid} ${nice}`);
      if (nice < -10) throw new Error('EACCES: permission denied');
      state.nice = nice;
    },
    getPriority: () => state.nice,
  };
  return { deps, calls, state };
}

const other = { policy: 'SCHED_OTHER', priority: 0 };

function outcomeOf(...args: Parameters<typeof applyScheduling>): ReturnType<typeof applyScheduling>['outcome'] {
  return applyScheduling(...args).outcome;
}

describe('applyScheduling', () => {
  it('sched_rr: yes: chrt --rr 99 on our own pid, every thread', () => {
    const { deps, calls, state } = fakeChrt(other);
    expect(outcomeOf({ schedRr: true, nice: null, niceIsDefault: false }, deps)).toEqual({ level: 'notice', message: 'scheduling: SCHED_RR at priority 99 (system.sched_rr)' });
    expect(calls).toEqual(['chrt --all-tasks --rr --pid 99 4242']);
    expect(state).toEqual({ policy: 'SCHED_RR', priority: 99, nice: 0 });
  });

  it('keeps a real-time policy the service manager gave, without asking for another', () => {
    const { deps, calls } = fakeChrt({ policy: 'SCHED_RR', priority: 50 }, { status: 1, stderr: 'must not be called' });
    expect(outcomeOf({ schedRr: true, nice: null, niceIsDefault: false }, deps)?.message).toBe('scheduling: SCHED_RR at priority 50, as the service manager started carillond (system.sched_rr)');
    expect(calls).toEqual([]);
  });

  it('a refusal or a missing chrt is a warning that says what to do', () => {
    const refused = outcomeOf({ schedRr: true, nice: -5, niceIsDefault: false }, fakeChrt(other, { status: 1, stderr: "chrt: failed to set pid 4242's policy: Operation not permitted\n" }).deps);
    expect(refused?.level).toBe('warning');
    expect(refused?.message).toContain("failed to set pid 4242's policy: Operation not permitted; continuing at the default policy (run as root, or start carillond with CPUSchedulingPolicy=rr");
    const missing = outcomeOf({ schedRr: true, nice: null, niceIsDefault: false }, fakeChrt(other, { status: null, error: new Error('spawnSync chrt ENOENT') }).deps);
    expect(missing?.message).toContain('chrt (util-linux) is not installed');
  });

  it('sched_rr: no drops a real-time policy, then applies the nice value of system.priority', () => {
    const rt = fakeChrt({ policy: 'SCHED_RR', priority: 99 });
    expect(outcomeOf({ schedRr: false, nice: -5, niceIsDefault: false }, rt.deps)).toEqual({ level: 'notice', message: 'scheduling: SCHED_RR dropped (system.sched_rr: no), nice -5 (system.priority)' });
    expect(rt.calls).toEqual(['chrt --all-tasks --other --pid 0 4242', 'setPriority 4242 -5']);
    expect(outcomeOf({ schedRr: false, nice: null, niceIsDefault: false }, fakeChrt(other).deps)).toBeNull();
    expect(outcomeOf({ schedRr: false, nice: -20, niceIsDefault: false }, fakeChrt(other).deps)).toEqual({ level: 'warning', message: 'scheduling: could not set nice -20: EACCES: permission denied; continuing at the default priority' });
  });

  it('without sched_rr and priority: nice -20, a notice when refused, and children back at the nice carillond had', () => {
    const granted = fakeChrt(other);
    const asRoot: SchedulingDeps = {
      ...granted.deps,
      setPriority: (pid, nice) => {
        granted.calls.push(`setPriority ${pid} ${nice}`);
        granted.state.nice = nice;
      },
    };
    expect(applyScheduling({ schedRr: false, nice: -20, niceIsDefault: true }, asRoot)).toEqual({
      outcome: { level: 'notice', message: 'scheduling: nice -20 (the default without system.sched_rr and system.priority)' },
      childNice: 0,
    });
    expect(granted.calls).toEqual(['setPriority 4242 -20']);
    const refused = applyScheduling({ schedRr: false, nice: -20, niceIsDefault: true }, fakeChrt(other).deps);
    expect(refused.outcome?.level).toBe('notice');
    expect(refused.outcome?.message).toBe(
      'scheduling: could not raise the priority to nice -20 (the default without system.sched_rr and system.priority): EACCES: permission denied; continuing at nice 0 (run as root, or with Nice=-20 in the systemd unit: see deploy/systemd/carillond.service; system { sched_rr: no } leaves the priority alone)',
    );
    expect(refused.childNice).toBeNull();
    // Started at -20 already (systemd's Nice=): nothing changes, children inherit it as the unit wants.
    const unit = fakeChrt(other);
    unit.state.nice = -20;
    expect(applyScheduling({ schedRr: false, nice: -20, niceIsDefault: true }, { ...unit.deps, setPriority: () => undefined }).childNice).toBeNull();
  });

  it('reads the policy from /proc/<pid>/stat as chrt reports it', () => {
    const real = spawnSync('chrt', ['--pid', String(process.pid)], { encoding: 'utf8' });
    if (real.error !== undefined) throw new Error('chrt (util-linux) is missing on this machine');
    const fromChrt = /current scheduling policy: (SCHED_[A-Z_]+)/.exec(real.stdout)?.[1];
    expect(parseStatPolicy(fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8'))).toEqual({ policy: fromChrt, priority: expect.any(Number) });
    expect(parseStatPolicy('nonsense')).toBeNull();
  });
});
