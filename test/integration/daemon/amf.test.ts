// Goal: the availability manager inside real carillond processes (issue 6 acceptance):
// a supervised program killed with SIGKILL is restarted (new pid; sam.status and cmap
// resources.process.<name>.restarts say 1; `carillon sam status` lists it); an
// application registered over IPC (SamClient) that stops heartbeating is SIGKILLed; in a
// three-node cluster with votequorum, a quorum_policy stop program on node 1 is stopped
// when nodes 2 and 3 die and started again when they come back; a program that keeps
// crashing with escalation leave makes carillond leave and exit with status 3; SIGTERM
// to carillond stops its programs.
// Method: cluster-kit.ts (token 300 ms, 10 ms ticks) with amf { } (and quorum { })
// appended to the node configs; programs are `node -e` one-liners (no '{' in them:
// corosync.conf syntax reads a '{' anywhere on a line as a section); every wait is
// bounded and names what it last saw.

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { SamClient } from '../../../src/client/sam-client';
import type { AmfProcessJson, SamStatusJson } from '../../../src/ipc/daemon-api';
import { Cluster, ctlJs, ensureBuilt, waitFor, within, withLogs } from './cluster-kit';

const NODE = process.execPath;
/** Runs until killed; no braces (see the header). */
const SLEEPER = `${NODE} -e 'setInterval(Object, 1000)'`;

beforeAll(() => {
  ensureBuilt();
}, 180_000);

function amfSection(processes: ReadonlyArray<Readonly<Record<string, string | number>>>): string {
  const body = processes.map((p) => `\tprocess {\n${Object.entries(p).map(([k, v]) => `\t\t${k}: ${v}\n`).join('')}\t}\n`).join('');
  return `amf {\n${body}}\n`;
}

function writeConfig(cluster: Cluster, id: number, extra: string): void {
  fs.writeFileSync(cluster.configPath(id), `${cluster.configText(id)}${extra}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids the tests saw, killed in afterAll whatever happened (a SIGKILLed daemon leaves its programs behind). */
const seenPids = new Set<number>();
const extraChildren: ChildProcess[] = [];

afterAll(() => {
  for (const pid of seenPids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const child of extraChildren) child.kill('SIGKILL');
});

async function samStatus(sam: SamClient): Promise<SamStatusJson> {
  const status = await sam.status();
  for (const p of status.processes) if (p.pid !== null) seenPids.add(p.pid);
  return status;
}

async function waitForProcess(sam: SamClient, name: string, what: string, predicate: (p: AmfProcessJson) => boolean, timeoutMs: number): Promise<AmfProcessJson> {
  let last: AmfProcessJson | undefined;
  await waitFor(
    async () => {
      last = (await samStatus(sam)).processes.find((p) => p.name === name);
      return last !== undefined && predicate(last);
    },
    timeoutMs,
    `${name}: ${what}`,
    () => JSON.stringify(last),
    50,
  );
  if (last === undefined) throw new Error('unreachable');
  return last;
}

describe('one node: restart after SIGKILL, SAM heartbeats, CLI, SIGTERM', () => {
  let cluster: Cluster | null = null;
  let sam: SamClient | null = null;
  const c = (): Cluster => {
    if (cluster === null) throw new Error('no cluster');
    return cluster;
  };
  const s = (): SamClient => {
    if (sam === null) throw new Error('no SamClient');
    return sam;
  };

  beforeAll(() =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 1, name: 'amf1' });
      writeConfig(cluster, 1, amfSection([{ name: 'sleepy', command: SLEEPER, restart_delay: 200, max_restarts: 3 }]));
      await cluster.startNodes([1]);
      sam = await SamClient.connect(cluster.socketPath(1));
    }), 30_000);

  afterAll(async () => {
    await sam?.close().catch(() => undefined);
    await cluster?.cleanup();
    cluster = null;
  });

  it('a supervised program killed with SIGKILL is restarted: new pid, restarts 1 in sam.status and cmap', () =>
    withLogs(() => cluster, async () => {
      const first = await waitForProcess(s(), 'sleepy', 'running', (p) => p.state === 'running' && p.pid !== null, 10_000);
      const pid = first.pid ?? 0;
      expect(first.restarts).toBe(0);
      process.kill(pid, 'SIGKILL');
      const again = await waitForProcess(s(), 'sleepy', 'running with a new pid', (p) => p.state === 'running' && p.pid !== null && p.pid !== pid, 10_000);
      expect(again).toMatchObject({ restarts: 1, restartsInWindow: 1, lastExit: 'signal SIGKILL', lastFailure: 'exited unexpectedly (signal SIGKILL)' });
      const client = await c().client(1);
      expect(await client.call('cmap.get', { key: 'resources.process.sleepy.restarts' })).toEqual({ key: 'resources.process.sleepy.restarts', type: 'uint32', value: 1 });
      expect(await client.call('cmap.get', { key: 'resources.process.sleepy.pid' })).toMatchObject({ value: again.pid });
      expect(c().logText(1)).toContain(`sleepy: pid ${pid} exited unexpectedly (signal SIGKILL)`);
    }), 30_000);

  it('an application registered over IPC that stops heartbeating is killed (recovery quit)', () =>
    withLogs(() => cluster, async () => {
      const app = spawn(NODE, ['-e', 'setInterval(Object, 1000)'], { stdio: 'ignore' });
      extraChildren.push(app);
      await new Promise((resolve) => app.once('spawn', resolve));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => app.once('exit', (_code, signal) => resolve(signal)));
      const registered = await s().register({ name: 'myapp', pid: app.pid ?? 0, heartbeatIntervalMs: 400, recovery: 'quit' });
      expect(registered).toMatchObject({ name: 'myapp', state: 'registered', supervised: false });
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await s().heartbeat('myapp');
      }
      expect(app.signalCode).toBeNull();
      const heartbeatsStoppedAt = performance.now();
      expect(await within(exited, 5000, 'the application to be killed')).toBe('SIGKILL');
      expect(performance.now() - heartbeatsStoppedAt).toBeGreaterThanOrEqual(300);
      const status = await samStatus(s());
      expect(status.apps).toMatchObject([{ name: 'myapp', state: 'failed', failures: 1, lastFailure: expect.stringContaining('missed heartbeat') }]);
      const client = await c().client(1);
      expect(await client.call('cmap.get', { key: 'resources.sam.myapp.state' })).toMatchObject({ value: 'failed' });
      await expect(s().heartbeat('myapp')).rejects.toMatchObject({ code: 'SAM_ERR_NOT_REGISTERED' });
    }), 30_000);

  it('`carillon sam status` prints the program and the application; --json parses', () =>
    withLogs(() => cluster, async () => {
      const run = (args: string[]): Promise<{ code: number; stdout: string }> =>
        new Promise((resolve) => {
          execFile(NODE, [ctlJs, '--socket', c().socketPath(1), ...args], { timeout: 15_000 }, (error, stdout) => {
            resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout });
          });
        });
      const text = await run(['sam', 'status']);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^sleepy +running +\d+ +1 +1\/3 /m);
      expect(text.stdout).toMatch(/^myapp +failed +\d+ +quit +400 ms /m);
      const json = await run(['sam', 'status', '--json']);
      expect((JSON.parse(json.stdout) as SamStatusJson).processes[0]).toMatchObject({ name: 'sleepy', state: 'running', restarts: 1 });
    }), 30_000);

  it('SIGTERM to carillond stops the supervised program before it exits', () =>
    withLogs(() => cluster, async () => {
      const pid = (await samStatus(s())).processes[0]?.pid ?? 0;
      expect(isAlive(pid)).toBe(true);
      const exit = await c().killNode(1, 'SIGTERM', 15_000);
      expect(exit.code).toBe(0);
      expect(isAlive(pid)).toBe(false);
      expect(c().logText(1)).toContain('sleepy: carillond is stopping: stopping');
    }), 30_000);
});

describe('three nodes with votequorum: quorum_policy stop follows quorum loss and regain', () => {
  let cluster: Cluster | null = null;
  let sam: SamClient | null = null;

  afterEach(async () => {
    await sam?.close().catch(() => undefined);
    sam = null;
    await cluster?.cleanup();
    cluster = null;
  });

  it('stopped when nodes 2 and 3 die, started again (uncounted) when they return', () =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 3, name: 'amfq' });
      const quorum = 'quorum {\n\tprovider: corosync_votequorum\n}\n';
      writeConfig(cluster, 1, `${quorum}${amfSection([{ name: 'guarded', command: SLEEPER, quorum_policy: 'stop', stop_timeout: 2000 }])}`);
      for (const id of [2, 3]) writeConfig(cluster, id, quorum);
      await cluster.startNodes([1, 2, 3]);
      const client = await SamClient.connect(cluster.socketPath(1));
      sam = client;
      const running = await waitForProcess(client, 'guarded', 'running once quorate', (p) => p.state === 'running', 20_000);
      const pid = running.pid ?? 0;
      await cluster.killNode(2, 'SIGKILL');
      await cluster.killNode(3, 'SIGKILL');
      await waitForProcess(client, 'guarded', 'stopped for lack of quorum', (p) => p.state === 'waiting-quorum', 15_000);
      expect(isAlive(pid)).toBe(false);
      expect((await client.status()).quorate).toBe(false);
      expect(cluster.logText(1)).toContain('guarded: not quorate: stopping until quorum returns (quorum_policy stop)');
      await cluster.restartNode(2);
      await cluster.restartNode(3);
      const back = await waitForProcess(client, 'guarded', 'running again once quorate', (p) => p.state === 'running', 20_000);
      expect(back.pid).not.toBe(pid);
      expect(back.restarts).toBe(0);
    }), 60_000);
});

describe('escalation leave', () => {
  let cluster: Cluster | null = null;

  afterEach(async () => {
    await cluster?.cleanup();
    cluster = null;
  });

  it('a program that keeps crashing makes carillond leave the cluster and exit with status 3', () =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 1, name: 'amfesc' });
      writeConfig(cluster, 1, amfSection([{ name: 'crashy', command: `${NODE} -e 'process.exit(2)'`, max_restarts: 2, restart_delay: 100, escalation: 'leave' }]));
      cluster.start(1);
      let exit = cluster.exitOf(1);
      await waitFor(() => (exit = cluster?.exitOf(1) ?? null) !== null, 20_000, 'carillond to exit', () => JSON.stringify(exit));
      expect(exit).toEqual({ code: 3, signal: null });
      const log = cluster.logText(1);
      expect(log).toContain('crashy failed after 2 restart(s)');
      expect(log).toContain('escalation leave: carillond leaves the cluster and exits with status 3');
      expect(log).toContain('carillond stopped');
    }), 30_000);
});
