// Goal: the hidden test hooks `carillon totem send [--hex] PAYLOAD...` and `carillon
// totem listen [--count N] [--timeout S] [--json]` (src/cli/commands/totem.ts) submit
// payloads in order, print deliveries and configuration changes one per line (text and
// --json), announce the subscription on stderr, stop at --count deliveries, and use the
// documented exit statuses (0, 1 backpressure/timeout/closed, 2 usage, 3 unreachable).
// Method: runCli against a real IpcServer whose FakeDaemonApi delivers every queued
// submission at once (a one-node ring); listen and send run concurrently, ordered by
// awaiting the "subscribed" stderr line; every wait is bounded.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTotemEvent } from '../../../src/cli/commands/totem';
import { type CommandIo, runCli } from '../../../src/cli/program';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { FakeDaemonApi, makeTempDir, within } from '../../integration/ipc/ipc-test-kit';

interface Captured extends CommandIo {
  stdout: string[];
  stderr: string[];
  /** Resolves at the first stderr line containing `text`. */
  stderrLine(text: string): Promise<string>;
}

function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ text: string; resolve: (line: string) => void }> = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => {
      stderr.push(l);
      for (const w of waiters.filter((w) => l.includes(w.text))) w.resolve(l);
    },
    stderrLine: (text) => {
      const seen = stderr.find((l) => l.includes(text));
      if (seen !== undefined) return Promise.resolve(seen);
      return within(new Promise((resolve) => waiters.push({ text, resolve })), 5000, `stderr line "${text}"`);
    },
  };
}

let dir = '';
let socketPath = '';
let api: FakeDaemonApi;
let server: IpcServer | null = null;

beforeEach(async () => {
  dir = makeTempDir('carillon-totem-');
  socketPath = path.join(dir, 'carillon.sock');
  api = new FakeDaemonApi();
  api.echoSubmissions = true;
  server = new IpcServer({ socketPath, api });
  await within(server.listen(), 5000, 'the server to listen');
});

afterEach(async () => {
  await within(server?.close() ?? Promise.resolve(), 5000, 'the server to close');
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(io: Captured, ...argv: string[]): Promise<number> {
  return within(runCli(['--socket', socketPath, ...argv], io), 10_000, `carillon ${argv.join(' ')}`);
}

describe('carillon totem send', () => {
  it('submits UTF-8 and hex payloads in order and prints one result per payload', async () => {
    const io = capture();
    expect(await run(io, 'totem', 'send', 'hello', 'wörld')).toBe(0);
    expect(io.stdout).toEqual(['queued', 'queued']);
    const hex = capture();
    expect(await run(hex, 'totem', 'send', '--hex', '00FF', 'abcd')).toBe(0);
    expect(api.submitted.map((b) => Buffer.from(b).toString('hex'))).toEqual(['68656c6c6f', '77c3b6726c64', '00ff', 'abcd']);
  });

  it('stops at backpressure with exit 1', async () => {
    api.submitResult = 'full';
    const io = capture();
    expect(await run(io, 'totem', 'send', 'a', 'b')).toBe(1);
    expect(io.stdout).toEqual(['full']);
    expect(io.stderr[0]).toContain('full (backpressure) after 0 of 2 payloads');
    expect(api.submitted).toHaveLength(1);
  });

  it('exits 2 for bad hex or an empty payload without contacting the daemon', async () => {
    for (const argv of [['--hex', 'abc'], ['--hex', 'zz'], ['']]) {
      const io = capture();
      expect(await run(io, 'totem', 'send', ...argv)).toBe(2);
    }
    expect(server?.stats().clientsAccepted).toBe(0);
  });

  it('exits 3 when the daemon is unreachable', async () => {
    const io = capture();
    const code = await within(runCli(['--socket', path.join(dir, 'none.sock'), 'totem', 'send', 'x'], io), 10_000, 'send');
    expect(code).toBe(3);
  });
});

describe('carillon totem listen', () => {
  it('prints deliveries and confchgs in order and stops after --count deliveries', async () => {
    const listener = capture();
    const listening = run(listener, 'totem', 'listen', '--count', '3');
    await listener.stderrLine('subscribed');
    api.emit({ kind: 'confchg', type: 'regular', ringId: { rep: 1, seq: '322' }, members: [1, 2], left: [3], joined: [] });
    const sender = capture();
    expect(await run(sender, 'totem', 'send', 'one', 'two', 'three', 'four')).toBe(0);
    expect(await listening).toBe(0);
    expect(listener.stdout).toEqual([
      'confchg regular ring=1.142 members=[1,2] left=[3] joined=[]',
      'deliver ring=1.141 seq=1 sender=1 len=3 hex=6f6e65 text="one"',
      'deliver ring=1.141 seq=2 sender=1 len=3 hex=74776f text="two"',
      'deliver ring=1.141 seq=3 sender=1 len=5 hex=7468726565 text="three"',
    ]);
    expect(listener.stderr).toEqual([`carillon totem listen: subscribed to totem events on ${socketPath}`]);
  });

  it('--json prints the TotemEventJson objects', async () => {
    const listener = capture();
    const listening = run(listener, 'totem', 'listen', '--count', '2', '--json');
    await listener.stderrLine('subscribed');
    expect(await run(capture(), 'totem', 'send', '--hex', '00', 'ff')).toBe(0);
    expect(await listening).toBe(0);
    expect(listener.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { kind: 'deliver', ringId: { rep: 1, seq: '321' }, seq: 1, sender: 1, payloadHex: '00' },
      { kind: 'deliver', ringId: { rep: 1, seq: '321' }, seq: 2, sender: 1, payloadHex: 'ff' },
    ]);
  });

  it('exits 0 at --timeout without --count, and 1 when --count is not reached in time', async () => {
    const open = capture();
    expect(await run(open, 'totem', 'listen', '--timeout', '0.05')).toBe(0);
    const counted = capture();
    expect(await run(counted, 'totem', 'listen', '--count', '5', '--timeout', '0.05')).toBe(1);
    expect(counted.stderr.at(-1)).toBe('carillon totem listen: timed out after 0.05 s with 0 of 5 deliveries');
  });

  it('exits 1 when the daemon closes the connection', async () => {
    const listener = capture();
    const listening = run(listener, 'totem', 'listen');
    await listener.stderrLine('subscribed');
    await within(server?.close() ?? Promise.resolve(), 5000, 'close');
    expect(await listening).toBe(1);
    expect(listener.stderr.at(-1)).toContain('the connection to carillond ended after 0 deliveries');
  });

  it('rejects a bad --count or --timeout as a usage error, and stays out of the top-level help', async () => {
    for (const argv of [['--count', '0'], ['--count', 'x'], ['--timeout', '-1'], ['--timeout', '']]) {
      expect(await run(capture(), 'totem', 'listen', ...argv)).toBe(2);
    }
    const top = capture();
    expect(await runCli(['--help'], top)).toBe(0);
    expect(top.stdout.join('\n')).not.toMatch(/^\s+totem\b/m);
    const help = capture();
    expect(await runCli(['totem', 'listen', '--help'], help)).toBe(0);
    expect(help.stdout.join('\n')).toMatch(/EXAMPLES[\s\S]*EXIT STATUS/);
  });
});

describe('formatTotemEvent', () => {
  it('shows text only for valid UTF-8 payloads, JSON-quoted', () => {
    expect(formatTotemEvent({ kind: 'deliver', ringId: { rep: 2, seq: '4096' }, seq: 9, sender: 3, payloadHex: 'ff00' })).toBe('deliver ring=2.1000 seq=9 sender=3 len=2 hex=ff00');
    expect(formatTotemEvent({ kind: 'deliver', ringId: { rep: 2, seq: '1' }, seq: 1, sender: 3, payloadHex: '610a' })).toBe('deliver ring=2.1 seq=1 sender=3 len=2 hex=610a text="a\\n"');
    expect(formatTotemEvent({ kind: 'confchg', type: 'transitional', ringId: { rep: 1, seq: '2' }, members: [1], left: [2, 3], joined: [] })).toBe(
      'confchg transitional ring=1.2 members=[1] left=[2,3] joined=[]',
    );
  });
});
