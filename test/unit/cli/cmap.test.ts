// Goal: `carillon cmap get|set|delete|list|track` (src/cli/commands/cmap.ts) print
// corosync-cmapctl's `key (type) = value` lines (short type names, %f floats, binary only
// with -b, escaped), take cmapctl's type names and check values as cmapctl does ("X is
// not valid i8 type value" / "... integer"), name the cs_error_t of a refusal (not
// found, read-only, bad type) with exit 1, list by prefix (exit 1 when nothing matched),
// track with create> / modify> / delete> lines, offer --json, and exit 3 when the daemon
// is unreachable.
// Method: runCli against a real IpcServer whose cmap is a real CmapStore behind the
// scripted services of services-cli-kit.ts (runtime.config. and totem.cluster_name
// read-only for clients); parsing and formatting helpers directly.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { cmapTypeOf, formatCmapTrackEvent, parseCmapSetValue } from '../../../src/cli/commands/cmap';
import { runCli } from '../../../src/cli/program';
import { DaemonApiError } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { CliHarness, capture } from './services-cli-kit';

let h: CliHarness;

beforeEach(async () => {
  delete process.env['CARILLON_SOCKET'];
  h = await CliHarness.start('carillon-cmap-');
});

afterEach(async () => {
  await h.stop();
});

describe('carillon cmap get', () => {
  it('prints key (type) = value as corosync-cmapctl', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'get', 'totem.token', 'totem.cluster_name', 'my.ratio', 'my.big', 'my.blob')).toBe(0);
    expect(io.stdout).toEqual([
      'totem.token (u32) = 3000',
      'totem.cluster_name (str) = pbx-trio',
      'my.ratio (dbl) = 0.500000',
      'my.big (u64) = 18446744073709551615',
      'my.blob (bin)',
    ]);
    const binary = capture();
    expect(await h.run(binary, 'cmap', 'get', '-b', 'my.blob')).toBe(0);
    expect(binary.stdout).toEqual(['my.blob (bin) = a\\x00\\\\']);
  });

  it('--json prints the entries', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'get', '--json', 'my.big', 'my.blob')).toBe(0);
    expect(io.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { key: 'my.big', type: 'uint64', value: '18446744073709551615' },
      { key: 'my.blob', type: 'binary', value: '61005c' },
    ]);
  });

  it('exits 1 at the first missing key, naming it', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'get', 'totem.token', 'no.such.key', 'my.big')).toBe(1);
    expect(io.stdout).toEqual(['totem.token (u32) = 3000']);
    expect(io.stderr).toEqual(["carillon cmap get: Can't get key no.such.key. Error CS_ERR_NOT_EXIST: no such key (no.such.key does not exist)"]);
  });
});

describe('carillon cmap set', () => {
  it('sets values of every cmapctl type and prints nothing', async () => {
    const sets: Array<[string, string, string]> = [
      ['my.i8', 'i8', '-5'],
      ['my.u8', 'u8', '255'],
      ['my.i16', 'i16', '-32768'],
      ['my.u16', 'u16', '65535'],
      ['my.i32', 'i32', '+7'],
      ['my.u32', 'u32', '4294967295'],
      ['my.i64', 'i64', '-9223372036854775808'],
      ['my.u64', 'u64', '18446744073709551615'],
      ['my.flt', 'flt', '0.1'],
      ['my.dbl', 'dbl', '-inf'],
      ['my.str', 'str', 'hello world'],
      ['my.bin', 'bin', '00FF'],
      ['my.long', 'uint16', '7'],
    ];
    for (const [key, type, value] of sets) {
      const io = capture();
      // Negative numbers pass as arguments; other text starting with '-' needs '--'.
      const argv = /^-\d/.test(value) || !value.startsWith('-') ? [key, type, value] : ['--', key, type, value];
      expect(await h.run(io, 'cmap', 'set', ...argv)).toBe(0);
      expect(io.stdout).toEqual([]);
      expect(io.stderr).toEqual([]);
    }
    const io = capture();
    expect(await h.run(io, 'cmap', 'list', '-b', 'my.')).toBe(0);
    expect(io.stdout).toEqual([
      'my.big (u64) = 18446744073709551615',
      'my.bin (bin) = \\x00\\xFFFFFFFF',
      'my.blob (bin) = a\\x00\\\\',
      'my.dbl (dbl) = -inf',
      'my.flt (flt) = 0.100000',
      'my.i16 (i16) = -32768',
      'my.i32 (i32) = 7',
      'my.i64 (i64) = -9223372036854775808',
      'my.i8 (i8) = -5',
      'my.long (u16) = 7',
      'my.ratio (dbl) = 0.500000',
      'my.str (str) = hello world',
      'my.u16 (u16) = 65535',
      'my.u32 (u32) = 4294967295',
      'my.u64 (u64) = 18446744073709551615',
      'my.u8 (u8) = 255',
    ]);
  });

  it('--json prints the stored entry', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'set', '--json', 'my.flt', 'flt', '0.1')).toBe(0);
    expect(JSON.parse(io.stdout.join(''))).toEqual({ key: 'my.flt', type: 'float', value: Math.fround(0.1) });
  });

  it('refuses unknown types and values that do not fit, as cmapctl, with exit 1 and without contacting the daemon', async () => {
    const cases: Array<[string[], string]> = [
      [['my.x', 'int', '1'], 'carillon cmap set: Unknown type int (one of i8 u8 i16 u16 i32 u32 i64 u64 flt dbl str bin)'],
      [['my.x', 'i8', '128'], 'carillon cmap set: 128 is not valid i8 integer'],
      [['my.x', 'u8', '-1'], 'carillon cmap set: -1 is not valid u8 type value'],
      [['my.x', 'i64', '9223372036854775808'], 'carillon cmap set: 9223372036854775808 is not valid i64 integer'],
      [['my.x', 'u32', '12abc'], 'carillon cmap set: 12abc is not valid u32 type value'],
      [['my.x', 'dbl', 'pi'], 'carillon cmap set: pi is not valid dbl type value'],
      [['my.x', 'bin', 'abc'], 'carillon cmap set: abc is not valid bin type value (binary values are given as hex)'],
    ];
    for (const [argv, message] of cases) {
      const io = capture();
      expect(await h.run(io, 'cmap', 'set', ...argv)).toBe(1);
      expect(io.stderr).toEqual([message]);
    }
    expect(h.clientsAccepted()).toBe(0);
  });

  it('names the refusals of the daemon: read-only, bad key, too big', async () => {
    const readOnly = capture();
    expect(await h.run(readOnly, 'cmap', 'set', 'runtime.config.totem.token', 'u32', '1')).toBe(1);
    expect(readOnly.stderr).toEqual(['carillon cmap set: Failed to set key runtime.config.totem.token. Error CS_ERR_ACCESS: the key is read-only (runtime.config.totem.token is read-only)']);
    const badKey = capture();
    expect(await h.run(badKey, 'cmap', 'set', 'a b', 'str', 'x')).toBe(1);
    expect(badKey.stderr[0]).toMatch(/^carillon cmap set: Failed to set key a b\. Error CS_ERR_NAME_TOO_LONG: a key name is 3\.\.255 characters/);
    const tooBig = capture();
    expect(await h.run(tooBig, 'cmap', 'set', 'my.huge', 'str', 'x'.repeat(20000))).toBe(1);
    expect(tooBig.stderr[0]).toMatch(/^carillon cmap set: Failed to set key my\.huge\. Error CS_ERR_INVALID_PARAM: the value is larger than 16 KiB/);
  });

  it('parses values as cmapctl types', () => {
    expect(cmapTypeOf('u16')).toBe('uint16');
    expect(cmapTypeOf('double')).toBe('double');
    expect(cmapTypeOf('U16')).toBeNull();
    expect(parseCmapSetValue('double', '1e3', 'dbl')).toEqual({ ok: true, value: 1000 });
    expect(parseCmapSetValue('double', ' .5 ', 'dbl')).toEqual({ ok: true, value: 0.5 });
    expect(parseCmapSetValue('float', 'NaN', 'flt')).toEqual({ ok: true, value: 'NaN' });
    expect(parseCmapSetValue('double', '+Infinity', 'dbl')).toEqual({ ok: true, value: 'Infinity' });
    expect(parseCmapSetValue('double', '1e999', 'dbl')).toEqual({ ok: true, value: 'Infinity' });
    expect(parseCmapSetValue('int64', '-1', 'i64')).toEqual({ ok: true, value: '-1' });
    expect(parseCmapSetValue('string', '', 'str')).toEqual({ ok: true, value: '' });
    expect(parseCmapSetValue('binary', '', 'bin')).toEqual({ ok: true, value: '' });
  });
});

describe('carillon cmap delete', () => {
  it('deletes keys, prints nothing, and names refusals', async () => {
    expect(await h.run(capture(), 'cmap', 'set', 'my.note', 'str', 'x')).toBe(0);
    const io = capture();
    expect(await h.run(io, 'cmap', 'delete', 'my.note')).toBe(0);
    expect(io.stdout).toEqual([]);
    const again = capture();
    expect(await h.run(again, 'cmap', 'delete', '--json', 'my.ratio', 'my.note')).toBe(1);
    expect(again.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([{ key: 'my.ratio', deleted: true }]);
    expect(again.stderr).toEqual(["carillon cmap delete: Can't delete key my.note. Error CS_ERR_NOT_EXIST: no such key (my.note does not exist)"]);
    const readOnly = capture();
    expect(await h.run(readOnly, 'cmap', 'delete', 'totem.cluster_name')).toBe(1);
    expect(readOnly.stderr[0]).toContain('Error CS_ERR_ACCESS: the key is read-only');
  });
});

describe('carillon cmap list', () => {
  it('lists every key, or those under each prefix, in key order', async () => {
    const all = capture();
    expect(await h.run(all, 'cmap', 'list')).toBe(0);
    expect(all.stdout).toEqual([
      'my.big (u64) = 18446744073709551615',
      'my.blob (bin)',
      'my.ratio (dbl) = 0.500000',
      'quorum.expected_votes (u32) = 3',
      'runtime.config.totem.token (u32) = 3000',
      'runtime.config.totem.token_retransmit (u32) = 714',
      'totem.cluster_name (str) = pbx-trio',
      'totem.token (u32) = 3000',
    ]);
    const two = capture();
    expect(await h.run(two, 'cmap', 'list', 'totem.', 'nothing.here.', 'quorum.')).toBe(0);
    expect(two.stdout).toEqual(['totem.cluster_name (str) = pbx-trio', 'totem.token (u32) = 3000', 'quorum.expected_votes (u32) = 3']);
    expect(two.stderr).toEqual(['carillon cmap list: no keys start with nothing.here.']);
  });

  it('exits 1 when nothing matched, as cmapctl', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'list', 'nothing.here.')).toBe(1);
    expect(io.stdout).toEqual([]);
  });

  it('--json prints one array', async () => {
    const io = capture();
    expect(await h.run(io, 'cmap', 'list', '--json', 'runtime.')).toBe(0);
    expect(JSON.parse(io.stdout.join(''))).toEqual([
      { key: 'runtime.config.totem.token', type: 'uint32', value: 3000 },
      { key: 'runtime.config.totem.token_retransmit', type: 'uint32', value: 714 },
    ]);
  });
});

describe('carillon cmap track', () => {
  it('prints create> / modify> / delete> lines for a prefix and stops at --count', async () => {
    const tracker = capture();
    const tracking = h.run(tracker, 'cmap', 'track', '--prefix', '--count', '4', 'my.n');
    await tracker.stderrLine('tracking');
    expect(tracker.stderr).toEqual([`carillon cmap track: tracking keys starting with my.n on ${h.socketPath}`]);
    expect(await h.run(capture(), 'cmap', 'set', 'my.note', 'str', 'one')).toBe(0);
    expect(await h.run(capture(), 'cmap', 'set', 'my.other', 'str', 'ignored')).toBe(0);
    expect(await h.run(capture(), 'cmap', 'set', 'my.note', 'str', 'two')).toBe(0);
    h.services.daemonSet('my.num', 'int8', -1);
    expect(await h.run(capture(), 'cmap', 'delete', 'my.note')).toBe(0);
    expect(await tracking).toBe(0);
    expect(tracker.stdout).toEqual(['create> my.note (str) = one', 'modify> my.note (str) = two', 'create> my.num (i8) = -1', 'delete> my.note (str) = two']);
  });

  it('tracks one key without --prefix, and --json prints the events', async () => {
    const tracker = capture();
    const tracking = h.run(tracker, 'cmap', 'track', '--json', '--count', '1', 'my.ratio');
    await tracker.stderrLine('tracking');
    h.services.daemonSet('my.ratio2', 'double', 1);
    h.services.daemonSet('my.ratio', 'double', 0.25);
    expect(await tracking).toBe(0);
    expect(tracker.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { trackId: expect.any(Number), type: 'modify', key: 'my.ratio', newValue: { type: 'double', value: 0.25 }, oldValue: { type: 'double', value: 0.5 } },
    ]);
  });

  it('exits 0 at --timeout, 1 when --count is not reached in time or the daemon goes away', async () => {
    expect(await h.run(capture(), 'cmap', 'track', '--timeout', '50', 'my.x')).toBe(0);
    const counted = capture();
    expect(await h.run(counted, 'cmap', 'track', '--timeout', '50', '--count', '2', 'my.x')).toBe(1);
    expect(counted.stderr.at(-1)).toBe('carillon cmap track: timed out after 50 ms with 0 of 2 notifications');
    const tracker = capture();
    const tracking = h.run(tracker, 'cmap', 'track', 'my.x');
    await tracker.stderrLine('tracking');
    await h.closeServer();
    expect(await tracking).toBe(1);
    expect(tracker.stderr.at(-1)).toContain('the connection to carillond ended after 0 notifications');
  });

  it('formats notifications with binary values as cmapctl', () => {
    expect(formatCmapTrackEvent({ trackId: 1, type: 'add', key: 'my.b', newValue: { type: 'binary', value: '41' }, oldValue: null }, false)).toBe('create> my.b (bin)');
    expect(formatCmapTrackEvent({ trackId: 1, type: 'add', key: 'my.b', newValue: { type: 'binary', value: '41' }, oldValue: null }, true)).toBe('create> my.b (bin) = A');
    expect(formatCmapTrackEvent({ trackId: 1, type: 'delete', key: 'my.b', newValue: null, oldValue: null }, true)).toBe('delete> my.b');
  });
});

describe('cmap errors and help', () => {
  it('exit 1 without a cmap service and 3 when the daemon is unreachable', async () => {
    const bare = await CliHarness.start('carillon-cmap-bare-', { services: false });
    try {
      const io = capture();
      expect(await bare.run(io, 'cmap', 'get', 'totem.token')).toBe(1);
      expect(io.stderr).toEqual(["carillon cmap get: Can't get key totem.token: carillond runs no cmap service (cmap.get: this daemon runs no services)"]);
      const list = capture();
      expect(await bare.run(list, 'cmap', 'list')).toBe(1);
      const track = capture();
      expect(await bare.run(track, 'cmap', 'track', 'x.y.z')).toBe(1);
      expect(track.stderr[0]).toContain('runs no cmap service');
    } finally {
      await bare.stop();
    }
    for (const argv of [['get', 'a.b.c'], ['set', 'a.b.c', 'u8', '1'], ['delete', 'a.b.c'], ['list'], ['track', 'a.b.c']]) {
      const io = capture();
      expect(await h.runUnreachable(io, 'cmap', ...argv)).toBe(3);
      expect(io.stderr[0]).toContain('cannot reach carillond');
    }
    expect(new DaemonApiError(IpcErrorCode.cmapNotExist, 'x').code).toBe('CMAP_ERR_NOT_EXIST');
  });

  it('usage errors exit 2; every subcommand documents EXAMPLES and EXIT STATUS', async () => {
    for (const argv of [['get'], ['set', 'a.b.c', 'u8'], ['delete'], ['track'], ['track', '--timeout', '0', 'a.b.c']]) {
      expect(await h.run(capture(), 'cmap', ...argv)).toBe(2);
    }
    for (const sub of ['get', 'set', 'delete', 'list', 'track']) {
      const io = capture();
      expect(await runCli(['cmap', sub, '--help'], io)).toBe(0);
      expect(io.stdout.join('\n')).toMatch(/EXAMPLES[\s\S]*EXIT STATUS[\s\S]*3 +carillond is unreachable/);
    }
  });
});
