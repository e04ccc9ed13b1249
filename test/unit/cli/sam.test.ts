// Goal: `carillon sam status|start|stop` (src/cli/commands/sam.ts) prints the two
// tables (supervised programs, SAM applications) and --json the sam.status object,
// start/stop print the program's new state, refusals exit 1, bad names 2, an unreachable
// daemon 3; and SamClient (src/client/sam-client.ts) over a real IpcServer with a real
// ProcessSupervisor: a registration belongs to its connection (another connection's
// heartbeat is SAM_ERR_NOT_REGISTERED), closing the connection without unregister kills
// the registered pid, startHeartbeats keeps an application alive.
// Method: formatSamStatus on fixed JSON; runCli and SamClient against an IpcServer on a
// temp socket whose DaemonApi is the ipc-test-kit fake plus an `amf` part.

import { afterEach, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatSamStatus } from '../../../src/cli/commands/sam';
import { runCli } from '../../../src/cli/program';
import { SamClient } from '../../../src/client/sam-client';
import type { DaemonAmfApi, SamStatusJson } from '../../../src/ipc/daemon-api';
import { IpcServer } from '../../../src/runtime/ipc-server';
import type { Logger } from '../../../src/runtime/logger';
import { ProcessSupervisor } from '../../../src/runtime/supervisor';
import { FakeDaemonApi, makeTempDir, within } from '../../integration/ipc/ipc-test-kit';
import { capture } from './services-cli-kit';

const sampleStatus: SamStatusJson = {
  processes: [
    {
      name: 'asterisk', state: 'running', pid: 12345, command: ['/usr/sbin/asterisk', '-f'], restarts: 1, restartsInWindow: 1, maxRestarts: 5,
      restartWindowMs: 300000, restartInMs: null, uptimeMs: 5000, healthCheck: 'ami', healthFailures: 0, lastExit: 'signal SIGKILL',
      lastFailure: 'exited unexpectedly (signal SIGKILL)', escalated: false, escalation: 'stop', quorumPolicy: 'stop',
    },
    {
      name: 'web', state: 'backoff', pid: null, command: ['/usr/bin/web'], restarts: 3, restartsInWindow: 2, maxRestarts: 5,
      restartWindowMs: 300000, restartInMs: 1500, uptimeMs: null, healthCheck: 'none', healthFailures: 0, lastExit: 'code 1',
      lastFailure: 'exited unexpectedly (code 1)', escalated: false, escalation: 'leave', quorumPolicy: 'none',
    },
  ],
  apps: [
    { name: 'myapp', state: 'registered', pid: 2345, recovery: 'quit', heartbeatIntervalMs: 1000, lastHeartbeatAgeMs: 230, failures: 0, lastFailure: null, supervised: false },
  ],
  quorate: true,
};

it('formatSamStatus: two aligned tables', () => {
  expect(formatSamStatus(sampleStatus)).toEqual([
    'Supervised programs',
    'NAME      STATE                       PID    RESTARTS  WINDOW  HEALTH  QUORUM  LAST EXIT       LAST FAILURE',
    'asterisk  running                     12345  1         1/5     ok      stop    signal SIGKILL  exited unexpectedly (signal SIGKILL)',
    'web       backoff (restart in 1.5 s)  -      3         2/5     -       -       code 1          exited unexpectedly (code 1)',
    '',
    'SAM applications',
    'NAME   STATE       PID   RECOVERY  INTERVAL  LAST HEARTBEAT  FAILURES  LAST FAILURE',
    'myapp  registered  2345  quit      1000 ms   230 ms ago      0         -',
  ]);
  expect(formatSamStatus({ processes: [], apps: [], quorate: null })).toEqual([
    'Supervised programs',
    '(none: amf { } lists no process { })',
    '',
    'SAM applications',
    '(none registered)',
  ]);
});

const silent: Logger = { log: () => undefined, close: () => Promise.resolve() };

class AmfDaemonApi extends FakeDaemonApi {
  amf: DaemonAmfApi;
  constructor(amf: DaemonAmfApi) {
    super();
    this.amf = amf;
  }
}

let dir: string | null = null;
let server: IpcServer | null = null;
let supervisor: ProcessSupervisor | null = null;
const children: ChildProcess[] = [];
const clients: SamClient[] = [];

async function serve(amf: DaemonAmfApi): Promise<string> {
  dir = makeTempDir('carillon-sam-');
  const socketPath = path.join(dir, 'carillon.sock');
  server = new IpcServer({ socketPath, api: new AmfDaemonApi(amf), nodeId: 1 });
  await within(server.listen(), 5000, 'listen');
  return socketPath;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await server?.close();
  server = null;
  await supervisor?.shutdown();
  supervisor = null;
  for (const child of children.splice(0)) child.kill('SIGKILL');
  if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe('carillon sam', () => {
  const fakeAmf: DaemonAmfApi = {
    status: () => sampleStatus,
    start: (name) => {
      if (name !== 'asterisk') throw Object.assign(new Error(`no supervised program named ${name}`), { name: 'DaemonApiError', code: 'AMF_ERR_NO_SUCH_PROCESS' });
      return { ...(sampleStatus.processes[0] as SamStatusJson['processes'][number]), state: 'running', pid: 777 };
    },
    stop: () => ({ ...(sampleStatus.processes[0] as SamStatusJson['processes'][number]), state: 'stopping' }),
    register: () => {
      throw new Error('not used');
    },
  };

  it('status prints the tables; --json the object', async () => {
    const socket = await serve(fakeAmf);
    const io = capture();
    expect(await runCli(['--socket', socket, 'sam', 'status'], io)).toBe(0);
    expect(io.stdout).toEqual(formatSamStatus(sampleStatus));
    const json = capture();
    expect(await runCli(['--socket', socket, 'sam', 'status', '--json'], json)).toBe(0);
    expect(JSON.parse(json.stdout[0] ?? '')).toEqual(sampleStatus);
  });

  it('start / stop print the new state; an unknown program exits 1, a bad name 2', async () => {
    const socket = await serve(fakeAmf);
    const io = capture();
    expect(await runCli(['--socket', socket, 'sam', 'start', 'asterisk'], io)).toBe(0);
    expect(await runCli(['--socket', socket, 'sam', 'stop', 'asterisk', '--json'], io)).toBe(0);
    expect(io.stdout[0]).toBe('asterisk: running (pid 777)');
    expect(JSON.parse(io.stdout[1] ?? '')).toMatchObject({ name: 'asterisk', state: 'stopping' });
    const bad = capture();
    expect(await runCli(['--socket', socket, 'sam', 'start', 'nope'], bad)).toBe(1);
    expect(bad.stderr.join('\n')).toContain('carillon sam start: no supervised program named nope (AMF_ERR_NO_SUCH_PROCESS)');
    expect(await runCli(['--socket', socket, 'sam', 'stop', 'a.b'], capture())).toBe(2);
  });

  it('an unreachable daemon exits 3', async () => {
    const io = capture();
    expect(await runCli(['--socket', '/nonexistent/carillon.sock', 'sam', 'status'], io)).toBe(3);
  });
});

describe('SamClient against a real supervisor', () => {
  function sleeper(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(child);
    return new Promise((resolve) => child.once('spawn', () => resolve(child)));
  }

  function exitSignal(child: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | null> {
    return within(new Promise((resolve) => {
      if (child.signalCode !== null || child.exitCode !== null) resolve(child.signalCode);
      else child.once('exit', (_code, signal) => resolve(signal));
    }), timeoutMs, 'the registered process to exit');
  }

  it('a registration belongs to its connection; closing it without unregister kills the pid', async () => {
    supervisor = new ProcessSupervisor({ processes: [], logger: silent });
    const socket = await serve(supervisor);
    const app = await sleeper();
    const owner = await SamClient.connect(socket);
    const other = await SamClient.connect(socket);
    clients.push(owner, other);
    const registered = await owner.register({ name: 'app', pid: app.pid ?? 0, heartbeatIntervalMs: 60_000, recovery: 'quit' });
    expect(registered).toMatchObject({ name: 'app', state: 'registered', pid: app.pid, recovery: 'quit', failures: 0 });
    await expect(other.heartbeat('app')).rejects.toMatchObject({ code: 'SAM_ERR_NOT_REGISTERED' });
    await expect(other.register({ name: 'app', pid: app.pid ?? 0, heartbeatIntervalMs: 1000, recovery: 'quit' })).rejects.toMatchObject({ code: 'SAM_ERR_EXISTS' });
    await owner.heartbeat('app');
    await owner.close();
    expect(await exitSignal(app, 5000)).toBe('SIGKILL');
    const status = await other.status();
    expect(status.apps).toMatchObject([{ name: 'app', state: 'failed', lastFailure: 'connection closed without sam.unregister' }]);
  });

  it('startHeartbeats keeps an application alive past its interval; unregister then leaves it alone', async () => {
    supervisor = new ProcessSupervisor({ processes: [], logger: silent });
    const socket = await serve(supervisor);
    const app = await sleeper();
    const client = await SamClient.connect(socket);
    clients.push(client);
    await client.register({ name: 'beating', pid: app.pid ?? 0, heartbeatIntervalMs: 300, recovery: 'quit' });
    const errors: unknown[] = [];
    client.startHeartbeats('beating', { onError: (e) => errors.push(e) });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(app.signalCode).toBeNull();
    expect((await client.status()).apps[0]).toMatchObject({ state: 'registered' });
    await client.unregister('beating');
    await client.close();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(app.signalCode).toBeNull();
    expect(errors).toEqual([]);
  });
});
