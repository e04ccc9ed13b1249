// Goal: `carillon cpg list|send|listen|verify` (src/cli/commands/cpg.ts): list has
// corosync-cpgtool's layout byte for byte (header, group lines, "\t\t%10u\t%10u (addrs)",
// -n, -e, -d) and --json; send initializes, joins, multicasts, leaves and finalizes,
// retrying try-again/full with a bounded backoff and reporting it; listen streams
// confchgs (reasons by name) and deliveries and stops at --count or --timeout; verify
// detects loss, duplicates, reordering, bad hashes, malformed messages and forged
// senders, and nodes with the same total order print the same digest. Exit statuses
// 0/1/2/3 as documented.
// Method: runCli against a real IpcServer whose services are the scripted one-node CPG
// bus of services-cli-kit.ts (asynchronous, ordered deliveries; crafted deliveries and
// a delivery hook for loss/dup/reorder); CpgVerifier fed crafted messages directly.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CpgVerifier,
  decodeVerifyMessage,
  describePayload,
  encodeVerifyMessage,
  escapeGroupName,
  formatCpgEvent,
  formatCpgList,
  mcastPayloadBytesMax,
  runCpgSend,
} from '../../../src/cli/commands/cpg';
import { runCli } from '../../../src/cli/program';
import { DaemonApiError } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { within } from '../../integration/ipc/ipc-test-kit';
import { CliHarness, type FakeDelivery, capture } from './services-cli-kit';

let h: CliHarness;

beforeEach(async () => {
  delete process.env['CARILLON_SOCKET'];
  h = await CliHarness.start('carillon-cpg-');
});

afterEach(async () => {
  await h.stop();
});

const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

async function someGroups(): Promise<void> {
  h.services.addRemote('asterisk', 1, 4321, false);
  h.services.addRemote('asterisk', 2, 5522, false);
  h.services.addRemote('pacemaker', 3, 900, false);
  h.services.addRemote('pacemaker', 9, 77, false);
  await h.services.settled();
}

describe('carillon cpg list', () => {
  it('prints corosync-cpgtool layout with nodelist addresses', async () => {
    await someGroups();
    const io = capture();
    expect(await h.run(io, 'cpg', 'list')).toBe(0);
    expect(io.stdout).toEqual([
      'Group Name\t       PID\t   Node ID',
      'asterisk',
      '\t\t      4321\t         1 (10.0.0.1)',
      '\t\t      5522\t         2 (10.0.0.2)',
      'pacemaker',
      '\t\t       900\t         3 (10.0.0.3)',
      '\t\t        77\t         9 ()',
    ]);
    expect(io.stderr).toEqual([]);
  });

  it('-n lists names, -d gives the delimited forms, --json the groups', async () => {
    await someGroups();
    const names = capture();
    expect(await h.run(names, 'cpg', 'list', '-n')).toBe(0);
    expect(names.stdout).toEqual(['asterisk', 'pacemaker']);
    const delimited = capture();
    expect(await h.run(delimited, 'cpg', 'list', '-d', ',')).toBe(0);
    expect(delimited.stdout).toEqual(['GRP_NAME,PID,NODEID', 'asterisk,4321,1', 'asterisk,5522,2', 'pacemaker,900,3', 'pacemaker,77,9']);
    const namesDelimited = capture();
    expect(await h.run(namesDelimited, 'cpg', 'list', '-n', '-d', ';')).toBe(0);
    expect(namesDelimited.stdout).toEqual(['asterisk;pacemaker;']);
    const json = capture();
    expect(await h.run(json, 'cpg', 'list', '--json')).toBe(0);
    expect(JSON.parse(json.stdout.join(''))).toEqual([
      { group: 'asterisk', members: [{ pid: 4321, nodeId: 1 }, { pid: 5522, nodeId: 2 }] },
      { group: 'pacemaker', members: [{ pid: 900, nodeId: 3 }, { pid: 77, nodeId: 9 }] },
    ]);
  });

  it('escapes group names as fprint_group does unless -e', async () => {
    expect(escapeGroupName('a\\b\tc', true)).toBe('a\\\\b\\x09c');
    expect(escapeGroupName('é', true)).toBe('\\xFFFFFFC3\\xFFFFFFA9');
    expect(escapeGroupName('a\\b\tcé', false)).toBe('a\\b\tcé');
    h.services.addRemote('x\ty', 1, 1, false);
    await h.services.settled();
    const escaped = capture();
    expect(await h.run(escaped, 'cpg', 'list', '-n')).toBe(0);
    expect(escaped.stdout).toEqual(['x\\x09y']);
    const raw = capture();
    expect(await h.run(raw, 'cpg', 'list', '-n', '-e')).toBe(0);
    expect(raw.stdout).toEqual(['x\ty']);
  });

  it('prints only the header without groups, and () when the addresses are unknown', () => {
    expect(formatCpgList([], new Map(), { namesOnly: false, escape: true, delimiter: null })).toEqual(['Group Name\t       PID\t   Node ID']);
    expect(formatCpgList([], new Map(), { namesOnly: true, escape: true, delimiter: ',' })).toEqual(['']);
    expect(formatCpgList([{ group: 'g', members: [{ nodeId: 4294967295, pid: 4294967295 }] }], new Map([[4294967295, ['fd00::1', '10.1.1.1']]]), { namesOnly: false, escape: true, delimiter: null })).toEqual([
      'Group Name\t       PID\t   Node ID',
      'g',
      '\t\t4294967295\t4294967295 (fd00::1 10.1.1.1)',
    ]);
  });

  it('exits 1 without a CPG service and 3 when the daemon is unreachable', async () => {
    h.services.cpgError = new DaemonApiError(IpcErrorCode.unavailable, 'cpg.groups: this daemon runs no services');
    const io = capture();
    expect(await h.run(io, 'cpg', 'list')).toBe(1);
    expect(io.stderr).toEqual(['carillon cpg list: carillond runs no CPG service: cpg.groups: this daemon runs no services']);
    const gone = capture();
    expect(await h.runUnreachable(gone, 'cpg', 'list')).toBe(3);
    expect(gone.stderr[0]).toContain('carillon cpg list: cannot reach carillond');
  });
});

describe('carillon cpg send', () => {
  it('initializes with the pid, joins, multicasts in order, leaves and finalizes', async () => {
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--pid', '777', 'g', 'hello', 'wörld')).toBe(0);
    expect(io.stdout).toEqual(['sent 2 of 2 messages to "g" as 1:777 (0 retries)']);
    expect(io.stderr).toEqual([]);
    expect(h.services.calls).toEqual(['join g 777', 'mcast g 777', 'mcast g 777', 'leave g 777', 'finalize 777']);
    expect(h.services.mcasts.map((m) => m.payloadHex)).toEqual([hex('hello'), hex('wörld')]);
  });

  it('announces its own pid by default', async () => {
    expect(await h.run(capture(), 'cpg', 'send', 'g', 'x')).toBe(0);
    expect(h.services.calls[0]).toBe(`join g ${process.pid}`);
  });

  it('--count repeats the list, --hex and --nul shape the payloads, --json reports', async () => {
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--pid', '5', '--hex', '--nul', '--count', '2', '--json', 'g', '00FF', '')).toBe(0);
    expect(h.services.mcasts.map((m) => m.payloadHex)).toEqual(['00ff00', '00', '00ff00', '00']);
    expect(JSON.parse(io.stdout.join(''))).toEqual({ group: 'g', nodeId: 1, pid: 5, sent: 4, total: 4, retries: 0, ok: true });
  });

  it('retries try-again and full with a backoff and reports the retries', async () => {
    h.services.joinResults = ['try-again'];
    h.services.mcastResults = ['try-again', 'full'];
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--pid', '6', 'g', 'a')).toBe(0);
    expect(io.stderr).toEqual([
      'carillon cpg send: join answered try-again; retry 1 in 10 ms',
      'carillon cpg send: message 1 of 1: try-again; retry 1 in 10 ms',
      'carillon cpg send: message 1 of 1: full; retry 2 in 20 ms',
    ]);
    expect(io.stdout).toEqual(['sent 1 of 1 message to "g" as 1:6 (3 retries)']);
    expect(h.services.mcasts).toHaveLength(1);
  });

  it('gives up after the bounded retries with exit 1, and still leaves and finalizes', async () => {
    h.services.mcastResults = ['full', 'full', 'full', 'full'];
    const io = capture();
    const code = await within(runCpgSend(h.socketPath, 'g', ['a', 'b'], { hex: false, nul: false, count: 1, intervalMs: 0, json: false, pid: 8, retry: { retries: 2, initialDelayMs: 1, maxDelayMs: 1 } }, io), 10_000, 'send');
    expect(code).toBe(1);
    expect(io.stdout).toEqual(['sent 0 of 2 messages to "g" as 1:8 (2 retries)']);
    expect(io.stderr.at(-1)).toBe('carillon cpg send: message 1 of 2: carillond kept answering full after 2 retries');
    expect(h.services.calls).toEqual(['join g 8', 'mcast g 8', 'mcast g 8', 'mcast g 8', 'leave g 8', 'finalize 8']);
  });

  it('exits 1 when the join is refused, without multicasting', async () => {
    h.services.joinResults = ['too-many'];
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--pid', '9', '--json', 'g', 'a')).toBe(1);
    expect(io.stderr).toEqual(['carillon cpg send: cannot join "g": the handle is in as many groups as it may be']);
    expect(JSON.parse(io.stdout.join(''))).toMatchObject({ sent: 0, total: 1, ok: false, error: 'cannot join "g": the handle is in as many groups as it may be' });
    expect(h.services.calls).toEqual(['join g 9', 'finalize 9']);
  });

  it('reports a message that is too large', async () => {
    h.services.mcastResults = ['too-large'];
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--pid', '9', 'g', 'abc')).toBe(1);
    expect(io.stderr).toEqual(['carillon cpg send: message 1 of 1 (3 bytes) is larger than CPG allows']);
  });

  it('sends the largest message one IPC request line carries and refuses a larger one as a usage error', async () => {
    const max = mcastPayloadBytesMax('g');
    // corosync's atomic CPG message (1 MiB − 1 KiB) fits the IPC line as hex with any name.
    expect(max).toBe(1024 * 1024 - 1024);
    expect(mcastPayloadBytesMax('x'.repeat(128))).toBe(max);
    expect(await h.run(capture(), 'cpg', 'send', '--pid', '3', '--hex', 'g', '00'.repeat(max))).toBe(0);
    expect(h.services.mcasts[0]?.payloadHex.length).toBe(2 * max);
    const io = capture();
    expect(await h.run(io, 'cpg', 'send', '--hex', 'g', '00', '00'.repeat(max + 1))).toBe(2);
    expect(io.stderr).toEqual([`carillon cpg send: message 2 is ${max + 1} bytes; over IPC a CPG message to this group is at most ${max} bytes`]);
  });

  it('exits 2 for bad hex or a bad group name without contacting the daemon, 3 when unreachable', async () => {
    for (const argv of [['--hex', 'g', 'abc'], ['--hex', 'g', 'zz'], ['x'.repeat(129), 'a'], ['--count', '0', 'g', 'a'], ['g']]) {
      expect(await h.run(capture(), 'cpg', 'send', ...argv)).toBe(2);
    }
    expect(h.clientsAccepted()).toBe(0);
    expect(await h.runUnreachable(capture(), 'cpg', 'send', 'g', 'a')).toBe(3);
  });
});

describe('carillon cpg listen', () => {
  it('streams confchgs and deliveries and stops after --count deliveries', async () => {
    const listener = capture();
    const listening = h.run(listener, 'cpg', 'listen', '--pid', '4321', '--count', '2', 'g');
    await listener.stderrLine('joined');
    expect(await h.run(capture(), 'cpg', 'send', '--pid', '5522', 'g', 'hello')).toBe(0);
    h.services.deliver({ group: 'g', nodeId: 2, pid: 99, payloadHex: '00ff' });
    expect(await listening).toBe(0);
    expect(listener.stdout).toEqual([
      'CONFCHG group="g" members=[1:4321] joined=[1:4321(JOIN)] left=[]',
      'CONFCHG group="g" members=[1:4321,1:5522] joined=[1:5522(JOIN)] left=[]',
      'DELIVER from=1:5522 len=5 "hello"',
      'CONFCHG group="g" members=[1:4321] joined=[] left=[1:5522(LEAVE)]',
      'DELIVER from=2:99 len=2 hex=00ff',
    ]);
    expect(listener.stderr).toEqual([`carillon cpg listen: joined "g" as 1:4321 on ${h.socketPath}`]);
    // It left and finalized its handle.
    expect(h.services.calls.slice(-2)).toEqual(['leave g 4321', 'finalize 4321']);
  });

  it('names every reason and shows totem configuration changes', async () => {
    const listener = capture();
    const listening = h.run(listener, 'cpg', 'listen', '--pid', '1', '--timeout', '300', 'g');
    await listener.stderrLine('joined');
    h.services.addRemote('g', 2, 20);
    h.services.removeRemote('g', 2, 20, 3);
    h.services.addRemote('g', 3, 30);
    h.services.removeRemote('g', 3, 30, 5);
    h.services.totemConfchg(1, '4096', [1, 3]);
    h.services.deliver({ group: 'other', nodeId: 2, pid: 2, payloadHex: '00' });
    expect(await listening).toBe(0);
    expect(listener.stdout).toEqual([
      'CONFCHG group="g" members=[1:1] joined=[1:1(JOIN)] left=[]',
      'CONFCHG group="g" members=[1:1,2:20] joined=[2:20(JOIN)] left=[]',
      'CONFCHG group="g" members=[1:1] joined=[] left=[2:20(NODEDOWN)]',
      'CONFCHG group="g" members=[1:1,3:30] joined=[3:30(JOIN)] left=[]',
      'CONFCHG group="g" members=[1:1] joined=[] left=[3:30(PROCDOWN)]',
      'TOTEM_CONFCHG ring=1.1000 members=[1,3]',
    ]);
    expect(
      formatCpgEvent({ event: 'confchg', group: 'g', members: [], joined: [{ nodeId: 2, pid: 1, reason: 4, reasonName: 'nodeup' }], left: [{ nodeId: 3, pid: 1, reason: 9, reasonName: 'undefined' }] }),
    ).toBe('CONFCHG group="g" members=[] joined=[2:1(NODEUP)] left=[3:1(REASON_9)]');
  });

  it('--json prints the event objects', async () => {
    const listener = capture();
    const listening = h.run(listener, 'cpg', 'listen', '--pid', '1', '--count', '1', '--json', 'g');
    await listener.stderrLine('joined');
    h.services.deliver({ group: 'g', nodeId: 2, pid: 3, payloadHex: hex('hi') });
    expect(await listening).toBe(0);
    expect(listener.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { event: 'confchg', group: 'g', members: [{ nodeId: 1, pid: 1 }], joined: [{ nodeId: 1, pid: 1, reason: 1, reasonName: 'join' }], left: [] },
      { event: 'deliver', group: 'g', nodeId: 2, pid: 3, payloadHex: hex('hi') },
    ]);
  });

  it('exits 1 when --count is not reached within --timeout, or the daemon goes away', async () => {
    const counted = capture();
    expect(await h.run(counted, 'cpg', 'listen', '--pid', '1', '--count', '3', '--timeout', '100', 'g')).toBe(1);
    expect(counted.stderr.at(-1)).toBe('carillon cpg listen: timed out after 100 ms with 0 of 3 deliveries');
    const listener = capture();
    const listening = h.run(listener, 'cpg', 'listen', '--pid', '2', 'g');
    await listener.stderrLine('joined');
    await h.closeServer();
    expect(await listening).toBe(1);
    expect(listener.stderr.at(-1)).toContain('the connection to carillond ended after 0 deliveries');
  });

  it('exits 1 when the join is refused (same pid already in the group)', async () => {
    const first = capture();
    const listening = h.run(first, 'cpg', 'listen', '--pid', '7', '--timeout', '300', 'g');
    await first.stderrLine('joined');
    const second = capture();
    expect(await h.run(second, 'cpg', 'listen', '--pid', '7', 'g')).toBe(1);
    expect(second.stderr).toEqual(['carillon cpg listen: cannot join "g": a CPG process with pid 7 on node 1 is already in "g" (try --pid)']);
    expect(await listening).toBe(0);
  });

  it('shows text payloads C-string style and others as hex', () => {
    expect(describePayload(hex('hi\n') + '00')).toBe('"hi\\n"');
    expect(describePayload('')).toBe('""');
    expect(describePayload('c328')).toBe('hex=c328');
    expect(describePayload('610062')).toBe('"a\\u0000b"');
  });

  it('rejects bad options as usage errors', async () => {
    for (const argv of [['--count', '0', 'g'], ['--timeout', 'x', 'g'], ['--pid', '-1', 'g'], ['']]) {
      expect(await h.run(capture(), 'cpg', 'listen', ...argv)).toBe(2);
    }
    expect(h.clientsAccepted()).toBe(0);
  });
});

// -------------------------------------------------------------------------------------
// verify

/** A copy of `bytes` with bits of byte `at` flipped. */
function flipped(bytes: Uint8Array, at: number, mask = 1): Uint8Array {
  const copy = bytes.slice();
  copy[at] = (copy[at] ?? 0) ^ mask;
  return copy;
}

function message(seq: number, options: { total?: number; nodeId?: number; pid?: number; payload?: string } = {}): Uint8Array {
  return encodeVerifyMessage({ nodeId: options.nodeId ?? 1, pid: options.pid ?? 10, seq, total: options.total ?? 6, payload: Buffer.from(options.payload ?? `payload ${seq}`) });
}

describe('CpgVerifier', () => {
  it('encodes and decodes its messages and refuses damaged ones', () => {
    const bytes = message(3);
    const decoded = decodeVerifyMessage(bytes);
    expect(decoded.ok && decoded.message).toMatchObject({ nodeId: 1, pid: 10, seq: 3, total: 6 });
    expect(decodeVerifyMessage(flipped(bytes, bytes.length - 1))).toMatchObject({ ok: false, kind: 'hash' });
    // The header is hashed too: a changed seq shows.
    expect(decodeVerifyMessage(flipped(bytes, 15))).toMatchObject({ ok: false, kind: 'hash' });
    expect(decodeVerifyMessage(bytes.subarray(0, 40))).toMatchObject({ ok: false, kind: 'malformed' });
    expect(decodeVerifyMessage(bytes.subarray(0, bytes.length - 1))).toMatchObject({ ok: false, kind: 'malformed' });
    expect(decodeVerifyMessage(Buffer.from('hello, this is not a verify message at all, no no no no'))).toMatchObject({ ok: false, kind: 'malformed' });
    expect(decodeVerifyMessage(message(7))).toMatchObject({ ok: false, kind: 'malformed', detail: 'seq 7 outside 1..6' });
  });

  it('finds loss, duplicates and reordering in a crafted stream', () => {
    const v = new CpgVerifier();
    const kinds: string[] = [];
    for (const seq of [1, 2, 4, 3, 3, 5]) for (const p of v.deliver(1, 10, message(seq))) kinds.push(`${p.kind}@${seq}`);
    expect(kinds).toEqual(['gap@4', 'reorder@3', 'duplicate@3']);
    const summary = v.summary();
    expect(summary.errors).toEqual({ malformed: 0, hash: 0, sender: 0, loss: 1, duplicate: 1, reorder: 1 });
    expect(summary.errorCount).toBe(3);
    expect(summary.senders).toEqual([{ nodeId: 1, pid: 10, received: 5, expected: 6, missing: [6] }]);
    expect(summary.deliveries).toBe(6);
    expect(v.isComplete(1)).toBe(false);
  });

  it('finds bad hashes, malformed messages and forged senders', () => {
    const v = new CpgVerifier();
    expect(v.deliver(1, 10, flipped(message(1), 60, 0xff)).map((p) => p.kind)).toEqual(['hash']);
    expect(v.deliver(1, 10, Buffer.from('junk')).map((p) => p.kind)).toEqual(['malformed']);
    expect(v.deliver(2, 10, message(1)).map((p) => p.kind)).toEqual(['sender']);
    expect(v.deliver(1, 10, message(1)).map((p) => p.kind)).toEqual([]);
    expect(v.deliver(1, 10, message(2, { total: 9 })).map((p) => p.kind)).toEqual(['malformed']);
    expect(v.summary().errors).toEqual({ malformed: 2, hash: 1, sender: 1, loss: 5, duplicate: 0, reorder: 0 });
  });

  it('completes when K senders (and every sender seen) have all their messages', () => {
    const v = new CpgVerifier();
    for (let seq = 1; seq <= 3; seq++) v.deliver(1, 10, message(seq, { total: 3 }));
    expect(v.isComplete(1)).toBe(true);
    expect(v.isComplete(2)).toBe(false);
    v.deliver(2, 20, message(1, { total: 2, nodeId: 2, pid: 20 }));
    expect(v.isComplete(1)).toBe(false);
    v.deliver(2, 20, message(2, { total: 2, nodeId: 2, pid: 20 }));
    expect(v.isComplete(2)).toBe(true);
    expect(v.summary().errorCount).toBe(0);
  });

  it('gives the same order digest for the same total order only', () => {
    const a = new CpgVerifier();
    const b = new CpgVerifier();
    const c = new CpgVerifier();
    const stream: Array<[number, number, Uint8Array]> = [
      [1, 10, message(1, { total: 2 })],
      [2, 20, message(1, { total: 1, nodeId: 2, pid: 20 })],
      [1, 10, message(2, { total: 2 })],
    ];
    for (const [n, p, m] of stream) a.deliver(n, p, m);
    for (const [n, p, m] of stream) b.deliver(n, p, m);
    for (const i of [1, 0, 2]) {
      const [n, p, m] = stream[i] as [number, number, Uint8Array];
      c.deliver(n, p, m);
    }
    expect(a.summary().orderDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(b.summary().orderDigest).toBe(a.summary().orderDigest);
    expect(c.summary().orderDigest).not.toBe(a.summary().orderDigest);
    expect(c.summary().errorCount).toBe(0);
  });
});

describe('carillon cpg verify', () => {
  it('sends N checked messages, verifies them and passes', async () => {
    const io = capture();
    expect(await h.run(io, 'cpg', 'verify', '--pid', '4321', '--count', '20', '--size', '32', 'v')).toBe(0);
    expect(h.services.mcasts).toHaveLength(20);
    expect(h.services.mcasts.every((m) => m.payloadHex.length === 2 * (56 + 32))).toBe(true);
    expect(io.stdout.slice(0, 3)).toEqual(['verify "v" as 1:4321: sent 20 of 20, 20 deliveries from 1 sender', '  sender 1:4321 received 20 of 20', 'errors: none']);
    expect(io.stdout[3]).toMatch(/^order digest: [0-9a-f]{64} \(20 deliveries\)$/);
    expect(io.stdout[4]).toBe('PASS');
    expect(io.stdout).toHaveLength(5);
    expect(h.services.calls.slice(-2)).toEqual(['leave v 4321', 'finalize 4321']);
  });

  it('two instances with --senders 2 both pass with the same order digest', async () => {
    const one = capture();
    const two = capture();
    const runs = [
      h.run(one, 'cpg', 'verify', '--pid', '1001', '--senders', '2', '--count', '15', '--interval', '1', 'v'),
      h.run(two, 'cpg', 'verify', '--pid', '1002', '--senders', '2', '--count', '15', 'v'),
    ];
    expect(await Promise.all(runs)).toEqual([0, 0]);
    const digest = (io: typeof one): string | undefined => io.stdout.find((l) => l.startsWith('order digest:'));
    expect(digest(one)).toMatch(/\(30 deliveries\)$/);
    expect(digest(one)).toBe(digest(two));
    expect(one.stdout).toContain('  sender 1:1002 received 15 of 15');
    expect(one.stderr).toContain('carillon cpg verify: joined "v" as 1:1001; waiting for 2 members');
  });

  it('reports loss, duplicates and reordering of a crafted delivery stream and exits 1', async () => {
    let held: FakeDelivery[] = [];
    h.services.deliveryHook = (d, index) => {
      if (index === 2) return []; // seq 3 lost
      if (index === 4) return [d, d]; // seq 5 twice
      if (index === 6) {
        held = [d]; // seq 7 late
        return [];
      }
      if (index === 7) return [d, ...held];
      return [d];
    };
    const io = capture();
    expect(await h.run(io, 'cpg', 'verify', '--pid', '50', '--count', '10', '--timeout', '500', 'v')).toBe(1);
    expect(io.stdout.slice(0, 4)).toEqual([
      'GAP from=1:50 seq=4: seq 4 delivered, seq 3 missing so far',
      'ERROR duplicate from=1:50 seq=5: seq 5 delivered again',
      'GAP from=1:50 seq=8: seq 8 delivered, seq 7 missing so far',
      'ERROR reorder from=1:50 seq=7: seq 7 delivered after seq 8',
    ]);
    expect(io.stdout.slice(4, 7)).toEqual([
      'verify "v" as 1:50: sent 10 of 10, 10 deliveries from 1 sender',
      '  sender 1:50 received 9 of 10, missing 3',
      'errors: loss 1, duplicate 1, reorder 1',
    ]);
    expect(io.stdout.at(-1)).toBe('FAIL');
    expect(io.stderr).toContain("carillon cpg verify: timed out after 500 ms before every sender's messages were delivered");
  });

  it('--json prints the summary object; problems go to stderr', async () => {
    h.services.deliveryHook = (d, index) => (index === 1 ? [] : [d]);
    const io = capture();
    expect(await h.run(io, 'cpg', 'verify', '--pid', '51', '--count', '3', '--timeout', '300', '--json', 'v')).toBe(1);
    const summary = JSON.parse(io.stdout.join('')) as Record<string, unknown>;
    expect(summary).toMatchObject({
      group: 'v',
      nodeId: 1,
      pid: 51,
      sent: 3,
      count: 3,
      complete: false,
      timedOut: true,
      sendError: null,
      deliveries: 2,
      senders: [{ nodeId: 1, pid: 51, received: 2, expected: 3, missing: [2] }],
      errors: { malformed: 0, hash: 0, sender: 0, loss: 1, duplicate: 0, reorder: 0 },
      errorCount: 1,
      ok: false,
    });
    expect(summary['orderDigest']).toMatch(/^[0-9a-f]{64}$/);
    expect(io.stderr).toContain('carillon cpg verify: GAP from=1:51 seq=3: seq 3 delivered, seq 2 missing so far');
  });

  it('flags foreign traffic in the group', async () => {
    const io = capture();
    const running = h.run(io, 'cpg', 'verify', '--pid', '52', '--count', '2', '--interval', '50', 'v');
    await io.stderrLine('sending');
    h.services.deliver({ group: 'v', nodeId: 2, pid: 9, payloadHex: hex('hello') });
    expect(await running).toBe(1);
    expect(io.stdout).toContain('ERROR malformed from=2:9: 5 bytes, shorter than the 56-byte header');
    expect(io.stdout).toContain('errors: malformed 1');
  });

  it('exits 1 when the group never reaches --senders members, or an mcast is refused', async () => {
    const lonely = capture();
    expect(await h.run(lonely, 'cpg', 'verify', '--pid', '53', '--senders', '2', '--timeout', '200', 'v')).toBe(1);
    expect(lonely.stderr).toContain('carillon cpg verify: the group never had 2 members (it has 1)');
    expect(h.services.mcasts).toHaveLength(0);
    h.services.mcastResults = ['too-large'];
    const refused = capture();
    expect(await h.run(refused, 'cpg', 'verify', '--pid', '54', '--count', '2', 'v')).toBe(1);
    expect(refused.stderr).toContain('carillon cpg verify: message 1: carillond answered too-large');
    expect(refused.stdout.at(-1)).toBe('FAIL');
  });

  it('takes the largest --size an IPC request line carries', async () => {
    const largest = mcastPayloadBytesMax('v') - 56;
    const io = capture();
    expect(await h.run(io, 'cpg', 'verify', '--pid', '55', '--count', '2', '--size', String(largest), 'v')).toBe(0);
    expect(io.stdout.at(-1)).toBe('PASS');
    const tooLarge = capture();
    expect(await h.run(tooLarge, 'cpg', 'verify', '--size', String(largest + 1), 'v')).toBe(2);
    expect(tooLarge.stderr).toEqual([`carillon cpg verify: --size ${largest + 1} is too large: over IPC a CPG message to this group carries at most ${largest} payload bytes after the 56-byte header`]);
  });

  it('exits 3 when the daemon is unreachable and 2 on usage errors', async () => {
    expect(await h.runUnreachable(capture(), 'cpg', 'verify', 'v')).toBe(3);
    for (const argv of [['--count', '0', 'v'], ['--senders', 'x', 'v'], ['--size', '-1', 'v'], []]) {
      expect(await h.run(capture(), 'cpg', 'verify', ...argv)).toBe(2);
    }
  });
});

describe('cpg help', () => {
  it('has EXAMPLES and EXIT STATUS for every subcommand', async () => {
    for (const sub of ['list', 'send', 'listen', 'verify']) {
      const io = capture();
      expect(await runCli(['cpg', sub, '--help'], io)).toBe(0);
      expect(io.stdout.join('\n')).toMatch(/EXAMPLES[\s\S]*EXIT STATUS[\s\S]*3 +carillond is unreachable/);
    }
  });
});
