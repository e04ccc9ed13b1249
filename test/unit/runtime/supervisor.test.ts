// Goal: the availability manager's shell (src/runtime/supervisor.ts, sam-registry.ts,
// health-check.ts) with real, short-lived child processes: a program killed with SIGKILL
// is restarted (new pid, restarts 1, cmap updated, its output logged), one that keeps
// crashing is escalated after exactly max_restarts restarts (leave is handed to the
// daemon), stop escalates SIGTERM to SIGKILL after stop_timeout, failing exec health
// checks restart it, quorum_policy stop follows setQuorate, a SAM application that stops
// heartbeating (or whose connection is lost) is SIGKILLed, and recovery restart restarts
// the supervised program. The tcp and ami checks run against local servers.
// Method: `node -e` scripts as programs, small intervals, every wait bounded by a
// deadline; afterEach shuts the supervisor down and kills whatever a test spawned.

import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import type { AmfProcessConfig } from '../../../src/config/amf-conf';
import type { AmfProcessJson } from '../../../src/ipc/daemon-api';
import type { CmapValue } from '../../../src/services/cmap/cmap-store';
import { runHealthCheck } from '../../../src/runtime/health-check';
import type { Logger, LogLevel } from '../../../src/runtime/logger';
import { ProcessSupervisor, type SupervisorOptions } from '../../../src/runtime/supervisor';

const NODE = process.execPath;
const SLEEPER = 'setInterval(() => {}, 1000)';

function proc(name: string, script: string, extra: Partial<AmfProcessConfig> = {}): AmfProcessConfig {
  return {
    name,
    command: [NODE, '-e', script],
    commandText: `node -e '${script}'`,
    workingDir: null,
    healthCheck: 'none',
    healthCommand: null,
    healthAddress: null,
    healthIntervalMs: 200,
    healthTimeoutMs: 2000,
    healthFailures: 2,
    restartDelayMs: 50,
    restartDelayMaxMs: 200,
    maxRestarts: 5,
    restartWindowMs: 60_000,
    escalation: 'stop',
    quorumPolicy: 'none',
    stopTimeoutMs: 2000,
    position: { line: 1, col: 1 },
    ...extra,
  };
}

class CaptureLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; subsys: string; message: string }> = [];
  log(level: LogLevel, subsys: string, message: string): void {
    this.lines.push({ level, subsys, message });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  text(): string {
    return this.lines.map((l) => `${l.level} [${l.subsys}] ${l.message}`).join('\n');
  }
}

class FakeCmap {
  readonly keys = new Map<string, CmapValue>();
  set(entries: ReadonlyArray<readonly [string, CmapValue]>): void {
    for (const [key, value] of entries) this.keys.set(key, value);
  }
  deletePrefix(prefix: string): void {
    for (const key of [...this.keys.keys()]) if (key.startsWith(prefix)) this.keys.delete(key);
  }
  value(key: string): unknown {
    return this.keys.get(key)?.value;
  }
}

async function waitUntil(what: string, predicate: () => boolean, detail: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let supervisor: ProcessSupervisor | null = null;
let logger = new CaptureLogger();
let cmap = new FakeCmap();
const extraChildren: ChildProcess[] = [];
const servers: net.Server[] = [];

function start(processes: AmfProcessConfig[], options: Partial<SupervisorOptions> = {}): ProcessSupervisor {
  logger = new CaptureLogger();
  cmap = new FakeCmap();
  supervisor = new ProcessSupervisor({ processes, logger, cmap, ...options });
  return supervisor;
}

function processOf(name: string): AmfProcessJson {
  const p = supervisor?.status().processes.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no process ${name}`);
  return p;
}

function describeAll(): string {
  return `${JSON.stringify(supervisor?.status())}\n${logger.text()}`;
}

afterEach(async () => {
  await supervisor?.shutdown();
  supervisor = null;
  for (const child of extraChildren.splice(0)) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('supervised programs', () => {
  it('a program killed with SIGKILL is restarted: new pid, restarts 1, cmap updated, output logged', async () => {
    const s = start([proc('sleepy', `console.log("hello from " + process.pid); ${SLEEPER}`, { restartDelayMs: 100 })]);
    s.startAll();
    await waitUntil('running', () => processOf('sleepy').state === 'running', describeAll);
    const first = processOf('sleepy').pid ?? 0;
    await waitUntil('its output in the log', () => logger.text().includes(`sleepy[${first}]: hello from ${first}`), describeAll);
    process.kill(first, 'SIGKILL');
    await waitUntil('a new pid', () => processOf('sleepy').state === 'running' && processOf('sleepy').pid !== first, describeAll);
    expect(processOf('sleepy')).toMatchObject({ restarts: 1, restartsInWindow: 1, lastExit: 'signal SIGKILL', lastFailure: 'exited unexpectedly (signal SIGKILL)' });
    expect(cmap.value('resources.process.sleepy.restarts')).toBe(1);
    expect(cmap.value('resources.process.sleepy.state')).toBe('running');
    expect(cmap.value('resources.process.sleepy.pid')).toBe(processOf('sleepy').pid);
    expect(cmap.value('resources.process.sleepy.last_exit')).toBe('signal SIGKILL');
    expect(isAlive(first)).toBe(false);
  });

  it('childNice: a program starts at the nice value carillond had before raising its own', async () => {
    // Every thread's: on Linux a nice value is per thread, and a node child has several.
    const niceOf = (pid: number): number[] =>
      fs.readdirSync(`/proc/${pid}/task`).map((tid) => Number(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]));
    // Raising a nice value needs no privilege, so this runs as any user.
    const wanted = Math.min(19, os.getPriority() + 5);
    const s = start([proc('niced', SLEEPER)], { childNice: wanted });
    s.startAll();
    await waitUntil('running', () => processOf('niced').state === 'running', describeAll);
    const pid = processOf('niced').pid ?? 0;
    // Threads node starts later inherit the main thread's value.
    await waitUntil('node to start its threads', () => niceOf(pid).length > 1, () => JSON.stringify(niceOf(pid)));
    expect(new Set(niceOf(pid))).toEqual(new Set([wanted]));
  });

  it('a program that keeps crashing is escalated after exactly max_restarts restarts; leave goes to the daemon', async () => {
    const left: string[] = [];
    const s = start([proc('crashy', 'process.exit(3)', { maxRestarts: 2, restartDelayMs: 20, escalation: 'leave' })], {
      onEscalateLeave: (name, reason) => left.push(`${name}: ${reason}`),
    });
    s.startAll();
    await waitUntil('escalated', () => processOf('crashy').state === 'escalated', describeAll);
    await waitUntil('the daemon told to leave', () => left.length === 1, describeAll);
    expect(left[0]).toContain('crashy failed after 2 restart(s)');
    expect(logger.lines.filter((l) => l.message.includes('running as pid'))).toHaveLength(3);
    expect(processOf('crashy')).toMatchObject({ restarts: 2, escalated: true, lastExit: 'code 3', pid: null });
    expect(cmap.value('resources.process.crashy.escalated')).toBe(1);
  });

  it('stop sends SIGTERM, then SIGKILL after stop_timeout to a program that ignores SIGTERM', async () => {
    const s = start([proc('stubborn', `process.on("SIGTERM", () => console.log("ignored")); console.log("ready"); ${SLEEPER}`, { stopTimeoutMs: 300 })]);
    s.startAll();
    await waitUntil('ready', () => logger.text().includes('stubborn[') && logger.text().includes(': ready'), describeAll);
    const pid = processOf('stubborn').pid ?? 0;
    const stopAt = performance.now();
    s.stop('stubborn');
    await waitUntil('stopped', () => processOf('stubborn').state === 'stopped', describeAll);
    expect(performance.now() - stopAt).toBeGreaterThanOrEqual(290);
    expect(processOf('stubborn').lastExit).toBe('signal SIGKILL');
    expect(logger.text()).toContain(`pid ${pid} still running 300 ms after SIGTERM: sending SIGKILL`);
    expect(isAlive(pid)).toBe(false);
  });

  it('failing exec health checks restart the program', async () => {
    const s = start([proc('unhealthy', SLEEPER, { healthCheck: 'exec', healthCommand: [NODE, '-e', 'console.error("down"); process.exit(1)'], healthIntervalMs: 100, healthFailures: 2 })]);
    s.startAll();
    await waitUntil('a restart', () => processOf('unhealthy').restarts >= 1, describeAll, 15_000);
    expect(processOf('unhealthy').lastFailure).toBe('health check failed 2 times in a row: health_command failed (exit status 1): down');
  });

  it('a program that cannot be spawned backs off and says why', async () => {
    const s = start([{ ...proc('missing', ''), command: ['/nonexistent/carillon-test-program'], maxRestarts: 1, restartDelayMs: 20 }]);
    s.startAll();
    await waitUntil('escalated', () => processOf('missing').state === 'escalated', describeAll);
    expect(processOf('missing').lastFailure).toContain('cannot start: spawn /nonexistent/carillon-test-program ENOENT');
  });

  it('quorum_policy stop: waits for quorum, stops when it is lost, starts when it returns', async () => {
    const s = start([proc('quorumed', SLEEPER, { quorumPolicy: 'stop' })]);
    s.setQuorate(false);
    s.startAll();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(processOf('quorumed').state).toBe('waiting-quorum');
    s.setQuorate(true);
    await waitUntil('running', () => processOf('quorumed').state === 'running', describeAll);
    const pid = processOf('quorumed').pid ?? 0;
    s.setQuorate(false);
    await waitUntil('waiting again', () => processOf('quorumed').state === 'waiting-quorum', describeAll);
    expect(isAlive(pid)).toBe(false);
    s.setQuorate(true);
    await waitUntil('running again', () => processOf('quorumed').state === 'running', describeAll);
    expect(processOf('quorumed').restarts).toBe(0);
    expect(s.status().quorate).toBe(true);
  });

  it('shutdown stops every program and no longer starts any', async () => {
    const s = start([proc('a', SLEEPER), proc('b', SLEEPER)]);
    s.startAll();
    await waitUntil('both running', () => s.status().processes.every((p) => p.state === 'running'), describeAll);
    const pids = s.status().processes.map((p) => p.pid ?? 0);
    await s.shutdown();
    expect(pids.map(isAlive)).toEqual([false, false]);
    expect(s.status().processes.map((p) => p.state)).toEqual(['stopped', 'stopped']);
    expect(() => s.start('a')).toThrow('carillond is stopping');
  });

  it('operator start/stop of an unknown name is AMF_ERR_NO_SUCH_PROCESS', () => {
    const s = start([proc('a', SLEEPER)]);
    expect(() => s.stop('b')).toThrow(expect.objectContaining({ code: 'AMF_ERR_NO_SUCH_PROCESS' }) as unknown as Error);
  });
});

describe('SAM registrations', () => {
  function sleeper(): ChildProcess {
    const child = spawn(NODE, ['-e', SLEEPER], { stdio: 'ignore' });
    extraChildren.push(child);
    return child;
  }

  function exitOf(child: ChildProcess): Promise<NodeJS.Signals | null> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode);
      else child.once('exit', (_code, signal) => resolve(signal));
    });
  }

  it('an application that stops heartbeating is killed (quit); heartbeats kept it alive before', async () => {
    const s = start([]);
    const app = sleeper();
    await new Promise((resolve) => app.once('spawn', resolve));
    const registration = s.register({ name: 'app', pid: app.pid ?? 0, heartbeatIntervalMs: 300, recovery: 'quit' });
    expect(cmap.value('resources.sam.app.state')).toBe('registered');
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      registration.heartbeat();
    }
    expect(app.exitCode === null && app.signalCode === null).toBe(true);
    const signal = await exitOf(app);
    expect(signal).toBe('SIGKILL');
    expect(s.status().apps).toMatchObject([{ name: 'app', state: 'failed', failures: 1, lastFailure: expect.stringContaining('missed heartbeat') }]);
    expect(cmap.value('resources.sam.app.state')).toBe('failed');
    expect(() => registration.heartbeat()).toThrow(expect.objectContaining({ code: 'SAM_ERR_NOT_REGISTERED' }) as unknown as Error);
  });

  it('a lost connection kills the application; an unregistered one is left alone and leaves cmap', async () => {
    const s = start([]);
    const lost = sleeper();
    const kept = sleeper();
    await Promise.all([lost, kept].map((c) => new Promise((resolve) => c.once('spawn', resolve))));
    const a = s.register({ name: 'lost', pid: lost.pid ?? 0, heartbeatIntervalMs: 60_000, recovery: 'quit' });
    const b = s.register({ name: 'kept', pid: kept.pid ?? 0, heartbeatIntervalMs: 60_000, recovery: 'quit' });
    b.unregister();
    expect(cmap.keys.has('resources.sam.kept.state')).toBe(false);
    a.connectionLost();
    b.connectionLost();
    expect(await exitOf(lost)).toBe('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(kept.exitCode === null && kept.signalCode === null).toBe(true);
  });

  it('recovery restart: the supervised program is killed and restarted per its policy', async () => {
    const s = start([proc('svc', SLEEPER, { restartDelayMs: 50 })]);
    s.startAll();
    await waitUntil('running', () => processOf('svc').state === 'running', describeAll);
    const pid = processOf('svc').pid ?? 0;
    s.register({ name: 'svc', pid, heartbeatIntervalMs: 200, recovery: 'restart' });
    await waitUntil('restarted', () => processOf('svc').state === 'running' && processOf('svc').pid !== pid, describeAll);
    expect(processOf('svc')).toMatchObject({ restarts: 1, lastFailure: expect.stringContaining('SAM: missed heartbeat') });
    expect(isAlive(pid)).toBe(false);
  });

  it('refuses restart for a name that is not supervised, and the daemon own pid', () => {
    const s = start([], { ownPid: 12345 });
    expect(() => s.register({ name: 'x', pid: 99999, heartbeatIntervalMs: 1000, recovery: 'restart' })).toThrow(expect.objectContaining({ code: 'SAM_ERR_NOT_SUPERVISED' }) as unknown as Error);
    expect(() => s.register({ name: 'x', pid: 12345, heartbeatIntervalMs: 1000, recovery: 'quit' })).toThrow(expect.objectContaining({ code: 'SAM_ERR_BAD_PID' }) as unknown as Error);
  });
});

describe('health checks against local servers', () => {
  async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
    const server = net.createServer(onConnection);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  it('tcp: ok when something accepts, a reason when nothing does', async () => {
    const port = await listen((socket) => socket.destroy());
    expect(await runHealthCheck({ kind: 'tcp', command: null, address: { host: '127.0.0.1', port }, workingDir: null, timeoutMs: 1000 }).result).toEqual({ ok: true });
    const closed = await listen(() => undefined);
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const result = await runHealthCheck({ kind: 'tcp', command: null, address: { host: '127.0.0.1', port: closed }, workingDir: null, timeoutMs: 1000 }).result;
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('ami: the "Asterisk Call Manager/" banner is ok; another banner, silence or a close is not', async () => {
    const check = (port: number) => runHealthCheck({ kind: 'ami', command: null, address: { host: '127.0.0.1', port }, workingDir: null, timeoutMs: 300 }).result;
    const good = await listen((socket) => socket.write('Asterisk Call Manager/7.0.3\r\n'));
    const split = await listen((socket) => {
      socket.write('Asterisk Call ');
      setTimeout(() => socket.write('Manager/5.0.1\r\n'), 20);
    });
    const other = await listen((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n'));
    const silent = await listen(() => undefined);
    const closing = await listen((socket) => socket.end());
    expect(await check(good)).toEqual({ ok: true });
    expect(await check(split)).toEqual({ ok: true });
    expect(await check(other)).toEqual({ ok: false, reason: expect.stringContaining('is not Asterisk\'s manager: it sent "SSH-2.0-OpenSSH_9.6"') });
    expect(await check(silent)).toEqual({ ok: false, reason: expect.stringContaining('no AMI banner') });
    expect(await check(closing)).toEqual({ ok: false, reason: expect.stringContaining('closed the connection before the AMI banner') });
  });

  it('exec: a command that hangs is killed at health_timeout', async () => {
    const started = performance.now();
    const result = await runHealthCheck({ kind: 'exec', command: [NODE, '-e', SLEEPER], address: null, workingDir: null, timeoutMs: 300 }).result;
    expect(result).toEqual({ ok: false, reason: 'health_command timed out after 300 ms' });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
