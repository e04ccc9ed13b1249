// Goal: `carillon health` exits 0 when the daemon answers over IPC and is ready (ring
// operational, sync done), 1 when it is not (the failed checks on stderr) or cannot be
// reached; --quorate also requires quorum; --json prints the verdict object.
// `carillon wait-ready` polls until ready — also when the socket appears only later —
// and exits 0, or 1 with the last reason once --timeout has passed; a bad --timeout is a
// usage error (2); both commands document EXIT STATUS and EXAMPLES.
// Method: the commander program (runCli) against a real IpcServer with a FakeDaemonApi
// on a temp socket; the fake's status is changed while wait-ready polls.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CommandIo, runCli } from '../../../src/cli/program';
import type { DaemonStatus } from '../../../src/ipc/daemon-api';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { FakeDaemonApi, makeTempDir, sampleStatus, within } from '../../integration/ipc/ipc-test-kit';

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
}

async function cli(...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CommandIo = { out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
  const code = await within(runCli(argv, io), 15_000, `carillon ${argv.join(' ')}`);
  return { code, stdout, stderr };
}

let dir = '';
let socketPath = '';
let api: FakeDaemonApi;
let server: IpcServer | null = null;

function ready(overrides: Partial<DaemonStatus> = {}): DaemonStatus {
  return { ...sampleStatus(), quorate: true, syncing: false, ...overrides };
}

async function startServer(): Promise<void> {
  server = new IpcServer({ socketPath, api });
  await within(server.listen(), 5000, 'the server to listen');
}

beforeEach(() => {
  dir = makeTempDir('carillon-health-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
});

afterEach(async () => {
  await within(server?.close() ?? Promise.resolve(), 5000, 'the server to close');
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('carillon health', () => {
  it('exits 0 with a one-line summary when the daemon is ready', async () => {
    api.statusValue = ready();
    await startServer();
    const run = await cli('--socket', socketPath, 'health');
    expect(run).toEqual({ code: 0, stdout: ['ready: node 1, ring 1.141, members 1 2, quorate yes'], stderr: [] });
  });

  it('exits 1 naming the failed checks when the ring is not operational or syncing', async () => {
    api.statusValue = ready({ state: 'gather', syncing: true });
    await startServer();
    const run = await cli('--socket', socketPath, 'health');
    expect(run.code).toBe(1);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toEqual(['carillon health: not ready: ring: the Totem state is gather, not operational; sync: the services are synchronising after a membership change']);
  });

  it('--quorate also requires quorum; --json prints the verdict', async () => {
    api.statusValue = ready({ quorate: false });
    await startServer();
    expect((await cli('--socket', socketPath, 'health')).code).toBe(0);
    const run = await cli('--socket', socketPath, 'health', '--quorate', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout[0] ?? '')).toEqual({
      ready: false,
      checks: { ring: true, sync: true, ipc: true, quorum: false },
      problems: ['quorum: this partition is not quorate'],
      nodeId: 1,
      state: 'operational',
      quorate: false,
    });
  });

  it('exits 1 (not 3) when the daemon cannot be reached', async () => {
    const missing = path.join(dir, 'nope.sock');
    const run = await cli('--socket', missing, 'health');
    expect(run.code).toBe(1);
    expect(run.stderr[0]).toContain(`carillon health: not ready: cannot ask carillond: cannot connect to ${missing}`);
    const json = await cli('--socket', missing, 'health', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout[0] ?? '')).toMatchObject({ ready: false, problems: [expect.stringContaining('ipc: cannot connect')] });
  });
});

describe('carillon wait-ready', () => {
  it('returns at once when the daemon is ready', async () => {
    api.statusValue = ready();
    await startServer();
    const run = await cli('--socket', socketPath, 'wait-ready', '--timeout', '5');
    expect(run.code).toBe(0);
    expect(run.stdout[0]).toMatch(/^carillond ready after [\d.]+ s: node 1, ring 1\.141, members 1 2, quorate yes$/);
  });

  it('waits until the ring is operational and the sync done', async () => {
    api.statusValue = ready({ state: 'gather' });
    await startServer();
    const flip = setTimeout(() => {
      api.statusValue = ready({ state: 'operational', syncing: true });
      setTimeout(() => {
        api.statusValue = ready();
      }, 300);
    }, 300);
    try {
      const started = performance.now();
      const run = await cli('--socket', socketPath, 'wait-ready', '--timeout', '10', '--json');
      expect(run.code).toBe(0);
      expect(performance.now() - started).toBeGreaterThanOrEqual(550);
      expect(JSON.parse(run.stdout[0] ?? '')).toMatchObject({ ready: true, checks: { ring: true, sync: true, ipc: true }, problems: [] });
    } finally {
      clearTimeout(flip);
    }
  });

  it('waits for the socket to appear', async () => {
    api.statusValue = ready();
    // The server answers as soon as it is bound, before listen() has set the socket's mode:
    // on a loaded host wait-ready can be done first, so the test waits for listen() too
    // (afterEach must not remove the socket under it).
    let starting: Promise<void> = Promise.resolve();
    const later = setTimeout(() => {
      starting = startServer();
    }, 400);
    try {
      const run = await cli('--socket', socketPath, 'wait-ready', '--timeout', '10');
      expect(run.code).toBe(0);
    } finally {
      clearTimeout(later);
      await starting;
    }
  });

  it('exits 1 with the last reason once --timeout has passed', async () => {
    api.statusValue = ready({ quorate: false });
    await startServer();
    const started = performance.now();
    const run = await cli('--socket', socketPath, 'wait-ready', '--timeout', '0.6', '--quorate');
    const elapsed = performance.now() - started;
    expect(run.code).toBe(1);
    expect(run.stderr).toEqual(['carillon wait-ready: not ready after 0.6 s: quorum: this partition is not quorate']);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(5000);
    const gone = await cli('--socket', path.join(dir, 'nope.sock'), 'wait-ready', '--timeout', '0.3');
    expect(gone.code).toBe(1);
    expect(gone.stderr[0]).toContain('cannot ask carillond: cannot connect to');
  });

  it('rejects a bad --timeout as a usage error', async () => {
    for (const value of ['abc', '0', '-1', '1e3', '100000']) {
      const run = await cli('--socket', socketPath, 'wait-ready', '--timeout', value);
      expect([value, run.code]).toEqual([value, 2]);
    }
  });
});

describe('help', () => {
  it('documents EXIT STATUS and EXAMPLES for both commands', async () => {
    for (const command of ['wait-ready', 'health']) {
      const run = await cli(command, '--help');
      const text = run.stdout.join('\n');
      expect(run.code).toBe(0);
      expect(text).toContain('EXIT STATUS');
      expect(text).toContain('EXAMPLES');
      expect(text).toContain('--quorate');
    }
  });
});
