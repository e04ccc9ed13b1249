// Goal: carillond's exit statuses are what systemd and operators rely on (src/bin/daemon.ts
// EXIT STATUS): `-t` exits 0 on a valid config and 78 (EX_CONFIG) with file:line:col
// diagnostics on a broken one, or when no nodelist address is local and no local_nodeid
// says which node this is; a bad flag exits 2; `-f` with an ipc_socket another daemon
// listens on exits 1 with a message naming the socket, and leaves that daemon alone.
// Method: the built daemon (dist/bin/daemon.js) run as a child process with a bounded
// wait; configs from cluster-kit.ts (random 127.R.S.0/24 and port) and the shared
// fixtures in ../shared/fixtures/configs.

import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, daemonJs, ensureBuilt, repoRoot, withLogs } from './cluster-kit';

const fixtures = path.resolve(repoRoot, '../shared/fixtures/configs');

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
let cluster: Cluster | null = null;
let tempDir: string | null = null;

/** Runs carillond with `args`; SIGKILLs it and rejects if it has not exited within timeoutMs. */
function runDaemon(args: readonly string[], timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [daemonJs, ...args], { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`carillond ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function tempFile(name: string, text: string): string {
  tempDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-config-exit-'));
  const file = path.join(tempDir, name);
  fs.writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  ensureBuilt();
}, 180_000);

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await cluster?.cleanup();
  cluster = null;
  if (tempDir !== null) fs.rmSync(tempDir, { recursive: true, force: true });
  tempDir = null;
});

describe('carillond -t (check the configuration)', () => {
  it('exits 0 on a valid configuration and names the local node', async () => {
    cluster = await Cluster.create({ listed: 3, name: 'check' });
    const result = await runDaemon(['-t', '-c', cluster.configPath(2)]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${cluster.configPath(2)}: configuration is valid; this host is nodeid 2\n`);
    expect(result.code).toBe(0);
  });

  it('exits 78 on broken-bad-values.conf with every error as file:line:col', async () => {
    const file = path.join(fixtures, 'broken-bad-values.conf');
    const result = await runDaemon(['-t', '-c', file]);
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    const positions = result.stderr.split('\n').filter((line) => line.startsWith(`${file}:`)).map((line) => line.slice(file.length + 1).split(': ')[0]);
    // Same list as test/unit/config/load.test.ts and fixtures/configs/README.md.
    expect(positions).toEqual(['5:9', '6:8', '7:13', '8:16', '16:15', '17:11', '20:15', '21:11']);
    expect(result.stderr).toContain(`${file}:5:9: error: totem.token must be an integer, not "fast"`);
    expect(result.stderr).toContain(`${file}:17:11: error: duplicate nodeid 1`);
    expect(result.stderr).toContain('carillond: not started (CONFIG_INVALID)');
  });

  it('exits 78 when no nodelist address is local and no local_nodeid is given', async () => {
    // Documentation prefixes (RFC 5737), minus any this host happens to use (CI hosts do).
    const local = new Set(Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
    const candidates = ['198.51.100', '203.0.113', '192.0.2'].flatMap((net) => [11, 12, 13, 21, 22, 23].map((host) => `${net}.${host}`));
    const addresses = candidates.filter((a) => !local.has(a)).slice(0, 3);
    expect(addresses).toHaveLength(3);
    const file = tempFile('not-local.conf', [
      'totem {', '\tversion: 2', '\ttransport: udpu', '}',
      'nodelist {',
      ...addresses.flatMap((address, i) => ['\tnode {', `\t\tring0_addr: ${address}`, `\t\tnodeid: ${i + 1}`, '\t}']),
      '}', '',
    ].join('\n'));
    const result = await runDaemon(['-t', '-c', file]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`${file}: no nodelist ring0_addr is an address of this host`);
    expect(result.stderr).toContain('local_nodeid');
    expect(result.stderr).toContain('carillond: not started (LOCAL_NODE_NOT_FOUND)');
    // --local-nodeid names the node instead: then the same file is valid.
    const named = await runDaemon(['-t', '-c', file, '--local-nodeid', '3']);
    expect(named.code).toBe(0);
    expect(named.stdout).toContain('this host is nodeid 3');
  });
});

describe('carillond usage errors', () => {
  it.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['-t', '-c', '/nonexistent.conf', '--local-nodeid', 'abc'], "--local-nodeid must be a nodeid from the nodelist, got 'abc'"],
  ])('%j exits 2', async (args, message) => {
    const result = await runDaemon(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe('carillond -f with an ipc_socket already in use', () => {
  it('exits 1 naming the socket and the running daemon, which keeps serving', () =>
    withLogs(() => cluster, async () => {
      cluster = await Cluster.create({ listed: 2, name: 'socket-in-use' });
      const c = cluster;
      await c.startNodes([1]);
      // Node 2's own address and port are free: only the IPC socket clashes.
      const clash = c.configText(2).replace(`ipc_socket: ${c.socketPath(2)}`, `ipc_socket: ${c.socketPath(1)}`);
      expect(clash).toContain(`ipc_socket: ${c.socketPath(1)}`);
      fs.writeFileSync(c.configPath(2), clash);
      const result = await runDaemon(['-f', '-c', c.configPath(2)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`carillond: another process is listening on ${c.socketPath(1)} (is carillond already running?`);
      expect(result.stderr).toContain('(IPC_ALREADY_RUNNING)');
      // The first daemon still owns its socket and answers.
      expect(fs.statSync(c.socketPath(1)).isSocket()).toBe(true);
      const status = await c.statusOf(1);
      expect(status.nodeId).toBe(1);
      expect(c.isRunning(1)).toBe(true);
    }));
});
