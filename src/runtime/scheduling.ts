// carillond's CPU scheduling, from corosync.conf's `system { sched_rr, priority }`
// (corosync 3.1.7 main.c semantics; architecture.md §3.3 ops): with `sched_rr: yes` the
// daemon runs SCHED_RR at the highest real-time priority, as corosync does, so that a
// busy host cannot delay the token past its timeout or stretch every ring rotation;
// without it, `priority` sets a nice value. Failing to get either is a warning, never
// fatal — corosync continues at the default policy too — and the warning says how.
//
// Deviation: corosync's default is `sched_rr: yes`, Carillon's is no. corosync spends a
// few microseconds of CPU per message; carillond, in JavaScript, several times that, and
// at real-time priority a busy carillond keeps the local processes it serves (Asterisk,
// CPG clients) off the CPU: measured with `npm run bench` on 2 cores, real-time
// carillond doubled small-message latency at the clients, cut 64-byte throughput by a
// third and starved one client into a timeout, while it raised large-message throughput
// by half. An operator who wants it says `sched_rr: yes` (and grants it: root,
// CPUSchedulingPolicy=rr in the unit, or an rtprio limit).
//
// Without sched_rr and priority, carillond takes what corosync falls back to when real
// time is refused: the highest nice priority (-20). The scheduler still shares the CPU
// by weight, so the clients keep running, but a woken carillond preempts them at once,
// which is what a token ring needs at every hop: measured on 2 cores in paired runs
// against nice 0 (scripts/bench/rotation-stats.ts, `npm run bench -- --only latency`),
// 1 KiB messages +13-49 % msgs/s, 64 B +7-21 %, CPG latency p50 up to -30 % (README
// "Deviations"). Raising one's priority needs root or CAP_SYS_NICE
// (systemd: Nice=-20, as deploy/systemd/carillond.service does); without them this
// default is a notice, not a warning. Supervised programs (amf { }) start at the nice
// value carillond had before (childNice), not at its raised priority.
//
// Node cannot call sched_setscheduler(2) itself, so SCHED_RR is set with util-linux's
// chrt(1) on carillond's own pid, for all its threads (--all-tasks), as systemd's
// CPUSchedulingPolicy= does: the event loop must never wait on a V8 helper thread (a
// parallel scavenge) that the other real-time processes keep off the CPU. Threads
// started later inherit the policy.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { SystemSettings } from '../config/load';

/** sched_get_priority_max(SCHED_RR) on Linux: corosync's choice. */
export const SCHED_RR_PRIORITY = 99;

export interface SchedulingOutcome {
  readonly level: 'notice' | 'warning';
  readonly message: string;
}

/** applyScheduling's result: what to log (null: nothing) and the nice value for supervised programs. */
export interface SchedulingResult {
  readonly outcome: SchedulingOutcome | null;
  /** The nice value carillond started with, when it changed its own; null: children inherit as they are. */
  readonly childNice: number | null;
}

export interface SchedulingDeps {
  readonly pid: number;
  /** Runs a program to completion: status null when it could not be started (error set). */
  readonly run: (file: string, args: readonly string[]) => { status: number | null; stderr: string; error?: Error };
  readonly setPriority: (pid: number, nice: number) => void;
  readonly getPriority: (pid: number) => number;
  /** /proc/<pid>/stat's text, or null when it cannot be read. */
  readonly readStat: (pid: number) => string | null;
}

/**
 * setpriority(2) for every thread of a process: on Linux a nice value belongs to one
 * thread, and os.setPriority(pid) sets only the main one, while Node's libuv and V8
 * threads exist from the start (systemd's Nice= covers them all, being set before exec).
 * Throws what the main thread's change throws; threads that end meanwhile are skipped.
 */
export function setProcessNice(pid: number, nice: number): void {
  os.setPriority(pid, nice);
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    if (Number(tid) === pid) continue;
    try {
      os.setPriority(Number(tid), nice);
    } catch {
      // Gone since the listing.
    }
  }
}

const defaultDeps: SchedulingDeps = {
  pid: process.pid,
  run: (file, args) => {
    const r = spawnSync(file, args, { encoding: 'utf8', timeout: 5000 });
    return { status: r.status, stderr: r.stderr ?? '', ...(r.error === undefined ? {} : { error: r.error }) };
  },
  setPriority: (pid, nice) => setProcessNice(pid, nice),
  getPriority: (pid) => os.getPriority(pid),
  readStat: (pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
  },
};

/** sched(7) policy numbers as /proc/<pid>/stat reports them. */
const POLICY_NAMES: Readonly<Record<number, string>> = { 0: 'SCHED_OTHER', 1: 'SCHED_FIFO', 2: 'SCHED_RR', 3: 'SCHED_BATCH', 5: 'SCHED_IDLE', 6: 'SCHED_DEADLINE' };

/**
 * /proc/<pid>/stat → the main thread's policy and real-time priority (proc(5): fields 40
 * rt_priority and 41 policy, counted after the parenthesised command name); null if
 * unreadable. Read instead of running `chrt --pid`: no process start on every start-up.
 */
export function parseStatPolicy(stat: string): { policy: string; priority: number } | null {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is fields[0] here, so field n is fields[n - 3].
  const priority = Number(fields[40 - 3]);
  const policy = POLICY_NAMES[Number(fields[41 - 3])];
  return policy === undefined || !Number.isInteger(priority) ? null : { policy, priority };
}

const REAL_TIME = new Set(['SCHED_RR', 'SCHED_FIFO']);

function safePriority(deps: SchedulingDeps): number | string {
  try {
    return deps.getPriority(deps.pid);
  } catch {
    return 'unknown';
  }
}

/**
 * Applies `system` to this process; outcome null when there is nothing to say. Never throws. A
 * real-time policy the service manager already gave (systemd's CPUSchedulingPolicy=rr,
 * which deploy/systemd/carillond.service offers) is kept with sched_rr and dropped without it.
 */
export function applyScheduling(system: SystemSettings, deps: SchedulingDeps = defaultDeps): SchedulingResult {
  let niceBefore: number | null = null;
  try {
    niceBefore = deps.getPriority(deps.pid);
  } catch {
    // Unknown: children then inherit whatever carillond has.
  }
  const outcome = applyPolicy(system, deps);
  let childNice: number | null = null;
  try {
    if (niceBefore !== null && deps.getPriority(deps.pid) !== niceBefore) childNice = niceBefore;
  } catch {
    childNice = null;
  }
  return { outcome, childNice };
}

function applyPolicy(system: SystemSettings, deps: SchedulingDeps): SchedulingOutcome | null {
  const pid = String(deps.pid);
  const stat = deps.readStat(deps.pid);
  const current = stat === null ? null : parseStatPolicy(stat);
  if (system.schedRr) {
    if (current !== null && REAL_TIME.has(current.policy)) {
      return { level: 'notice', message: `scheduling: ${current.policy} at priority ${current.priority}, as the service manager started carillond (system.sched_rr)` };
    }
    const r = deps.run('chrt', ['--all-tasks', '--rr', '--pid', String(SCHED_RR_PRIORITY), pid]);
    if (r.status === 0) return { level: 'notice', message: `scheduling: SCHED_RR at priority ${SCHED_RR_PRIORITY} (system.sched_rr)` };
    const why = r.error !== undefined ? (r.error.message.includes('ENOENT') ? 'chrt (util-linux) is not installed' : r.error.message) : r.stderr.trim().split('\n').pop() || `chrt exited with status ${String(r.status)}`;
    return {
      level: 'warning',
      message: `scheduling: could not set SCHED_RR at priority ${SCHED_RR_PRIORITY}: ${why}; continuing at the default policy (run as root, or start carillond with CPUSchedulingPolicy=rr: see deploy/systemd/carillond.service; or set system { sched_rr: no })`,
    };
  }
  const notes: string[] = [];
  if (current !== null && REAL_TIME.has(current.policy)) {
    // Lowering one's own policy needs no privilege.
    const r = deps.run('chrt', ['--all-tasks', '--other', '--pid', '0', pid]);
    if (r.status !== 0) return { level: 'warning', message: `scheduling: could not leave ${current.policy} for system { sched_rr: no }: ${r.stderr.trim() || `status ${String(r.status)}`}` };
    notes.push(`${current.policy} dropped (system.sched_rr: no)`);
  }
  if (system.nice !== null) {
    const source = system.niceIsDefault ? 'the default without system.sched_rr and system.priority' : 'system.priority';
    try {
      deps.setPriority(deps.pid, system.nice);
      notes.push(`nice ${system.nice} (${source})`);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (!system.niceIsDefault) return { level: 'warning', message: `scheduling: could not set nice ${system.nice}: ${why}; continuing at the default priority` };
      return {
        level: 'notice',
        message: `scheduling: could not raise the priority to nice ${system.nice} (${source}): ${why}; continuing at nice ${String(safePriority(deps))} (run as root, or with Nice=${system.nice} in the systemd unit: see deploy/systemd/carillond.service; system { sched_rr: no } leaves the priority alone)`,
      };
    }
  }
  return notes.length === 0 ? null : { level: 'notice', message: `scheduling: ${notes.join(', ')}` };
}
