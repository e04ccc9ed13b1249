// Goal: `carillon status [--json]` (src/cli/commands/status.ts) prints the
// corosync-cfgtool -s layout (Local node ID, transport, LINK ID 0, addr, one padded
// status line per nodelist node, local node as localhost) plus ring id in corosync's
// hex rep.seq notation, state and members; --json prints the DaemonStatus object; the
// socket comes from --socket, else $CARILLON_SOCKET, else the default; an unreachable
// daemon exits 3 with a message naming the socket and what to try.
// Method: run the commander program (runCli) against a real IpcServer with a
// FakeDaemonApi on a temp socket; format edge cases through formatStatus directly.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { formatRingId, formatStatus } from '../../../src/cli/commands/status';
import { runCli } from '../../../src/cli/program';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { FakeDaemonApi, makeTempDir, sampleStatus, within } from '../../integration/ipc/ipc-test-kit';
import { type CapturedIo, captureIo } from './captured-io';

async function cli(...argv: string[]): Promise<CapturedIo & { code: number }> {
  const io = captureIo();
  const code = await within(runCli(argv, io), 10_000, `carillon ${argv.join(' ')}`);
  return { ...io, code };
}

const savedEnv = process.env['CARILLON_SOCKET'];
let dir = '';
let socketPath = '';
let api: FakeDaemonApi;
let server: IpcServer | null = null;

async function startServer(nodeId?: number): Promise<void> {
  server = new IpcServer(nodeId === undefined ? { socketPath, api } : { socketPath, api, nodeId });
  await within(server.listen(), 5000, 'the server to listen');
}

beforeEach(() => {
  // A developer's own CARILLON_SOCKET must not leak into the tests.
  delete process.env['CARILLON_SOCKET'];
  dir = makeTempDir('carillon-status-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
});

afterEach(async () => {
  if (savedEnv === undefined) delete process.env['CARILLON_SOCKET'];
  else process.env['CARILLON_SOCKET'] = savedEnv;
  await within(server?.close() ?? Promise.resolve(), 5000, 'the server to close');
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

const expectedText = [
  'Local node ID 1, transport udpu',
  'LINK ID 0',
  '\taddr\t= 10.0.0.1',
  '\tstatus:',
  '\t\tnodeid:          1:\tlocalhost',
  '\t\tnodeid:          2:\tconnected',
  '\t\tnodeid:          3:\tdisconnected',
  '',
  'Cluster name: pbx-trio',
  'Ring ID: 1.141',
  'State: operational',
  'Members: 1 2',
  'Quorate: unknown (no quorum service)',
  'Crypto: off',
  'Uptime: 1h 2m 5s',
  'Version: carillond 0.1.0',
];

describe('carillon status', () => {
  it('prints the corosync-cfgtool -s layout with ring id, state and members', async () => {
    await startServer();
    const run = await cli('--socket', socketPath, 'status');
    expect(run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toEqual(expectedText);
  });

  it('accepts --socket after the command too', async () => {
    await startServer();
    const run = await cli('status', '--socket', socketPath);
    expect(run.code).toBe(0);
    expect(run.stdout[0]).toBe('Local node ID 1, transport udpu');
  });

  it('--json prints the daemon status object with nodeId, ringId, state and members', async () => {
    await startServer();
    const run = await cli('--socket', socketPath, 'status', '--json');
    expect(run.code).toBe(0);
    expect(run.stdout).toHaveLength(1);
    const status = JSON.parse(run.stdout[0] ?? '') as Record<string, unknown>;
    expect(status).toEqual(sampleStatus());
    expect(status).toMatchObject({
      nodeId: 1,
      ringId: { rep: 1, seq: '321' },
      state: 'operational',
      members: [
        { nodeId: 1, addresses: ['10.0.0.1'] },
        { nodeId: 2, addresses: ['10.0.0.2'] },
      ],
    });
  });

  it('exits 3 naming the socket and what to try when there is no socket', async () => {
    const missing = path.join(dir, 'nope.sock');
    const run = await cli('--socket', missing, 'status');
    expect(run.code).toBe(3);
    expect(run.stdout).toEqual([]);
    expect(run.stderr[0]).toBe(`carillon status: cannot reach carillond: cannot connect to ${missing}: no such socket (ENOENT)`);
    expect(run.stderr[1]).toContain('systemctl status carillond');
    expect(run.stderr[1]).toContain('--socket');
    expect(run.stderr[1]).toContain('CARILLON_SOCKET');
  });

  it('exits 3 with a stale-socket hint when nothing listens on the socket', async () => {
    const squatter = net.createServer();
    const elsewhere = path.join(dir, 'elsewhere.sock');
    await within(new Promise<void>((resolve) => squatter.listen(elsewhere, resolve)), 5000, 'listen');
    fs.renameSync(elsewhere, socketPath);
    await within(new Promise<void>((resolve) => squatter.close(() => resolve())), 5000, 'close');
    const run = await cli('--socket', socketPath, 'status');
    expect(run.code).toBe(3);
    expect(run.stderr.join('\n')).toMatch(/ECONNREFUSED[\s\S]*nothing listens/);
  });

  it('honours CARILLON_SOCKET, and --socket wins over it', async () => {
    await startServer();
    process.env['CARILLON_SOCKET'] = socketPath;
    const fromEnv = await cli('status', '--json');
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout[0] ?? '')).toMatchObject({ nodeId: 1 });
    const overridden = await cli('--socket', path.join(dir, 'other.sock'), 'status');
    expect(overridden.code).toBe(3);
    expect(overridden.stderr[0]).toContain('other.sock');
  });

  it('uses /run/carillon/carillon.sock by default', async () => {
    const run = await cli('status');
    // Whatever this machine has there, the message names the default path.
    if (run.code !== 0) expect(run.stderr.join('\n')).toContain('/run/carillon/carillon.sock');
  });

  it('exits 1 when the daemon answers with an error', async () => {
    await startServer(1);
    api.statusError = new Error('core not started');
    const run = await cli('--socket', socketPath, 'status');
    expect(run.code).toBe(1);
    expect(run.stderr).toEqual(['carillon status: status failed: core not started (IPC_INTERNAL)']);
  });

  it('exits 2 for an unknown option, and documents itself in --help', async () => {
    expect((await cli('status', '--bogus')).code).toBe(2);
    const help = await cli('status', '--help');
    expect(help.code).toBe(0);
    const text = help.stdout.join('\n');
    for (const section of ['corosync-cfgtool -s', 'EXAMPLES', 'FILES', 'ENVIRONMENT', 'CARILLON_SOCKET', 'EXIT STATUS', '--json']) expect(text).toContain(section);
    expect(text).toMatch(/ {2}3 {3}carillond is unreachable/);
    const top = await cli('--help');
    expect(top.stdout.join('\n')).toMatch(/--socket <path>[\s\S]*CARILLON_SOCKET/);
  });
});

describe('formatStatus', () => {
  it('writes ring ids as corosync does: rep and seq in hex, u64 seqs exact', () => {
    expect(formatRingId({ rep: 1, seq: '321' })).toBe('1.141');
    expect(formatRingId({ rep: 26, seq: '0' })).toBe('1a.0');
    expect(formatRingId({ rep: 4294967295, seq: '18446744073709551615' })).toBe('ffffffff.ffffffffffffffff');
  });

  it('sorts nodes by nodeid, marks the local node localhost, and shows quorum and crypto', () => {
    const status = sampleStatus();
    status.nodelist = [
      { nodeId: 1234567890, name: null, addresses: ['192.168.1.20'], status: 'connected' },
      { nodeId: 1, name: null, addresses: ['192.168.1.10'], status: 'connected' },
    ];
    status.quorate = true;
    status.crypto = true;
    status.uptimeSec = 59;
    const lines = formatStatus(status);
    expect(lines.slice(2, 6)).toEqual(['\taddr\t= 192.168.1.10', '\tstatus:', '\t\tnodeid:          1:\tlocalhost', '\t\tnodeid: 1234567890:\tconnected']);
    expect(lines).toEqual(expect.arrayContaining(['Quorate: Yes', 'Crypto: on (AES-256-GCM)', 'Uptime: 59s']));
    status.quorate = false;
    status.uptimeSec = 2 * 86400 + 5;
    expect(formatStatus(status)).toEqual(expect.arrayContaining(['Quorate: No', 'Uptime: 2d 0h 0m 5s']));
  });

  it('leaves the link block out when the nodelist is empty, as cfgtool does', () => {
    const status = sampleStatus();
    status.nodelist = [];
    expect(formatStatus(status).slice(0, 3)).toEqual(['Local node ID 1, transport udpu', '', 'Cluster name: pbx-trio']);
  });
});
