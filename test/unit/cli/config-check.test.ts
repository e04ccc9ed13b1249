// Goal: `carillon config check FILE [--json]` (src/cli/commands/config-check.ts) exits
// 0 for a valid file (warnings allowed), 78 (EX_CONFIG) for configuration errors —
// including a file that loads but cannot run (no nodelist) — and 1 for an unreadable
// file; it prints every diagnostic as file:line:col on stderr and, for a valid file, a
// summary with the runtime.config.totem values corosync-cmapctl would show; --json
// prints one parseable object { file, valid, errors, warnings, effective }.
// The same command recognises res_corosync.conf (Asterisk dialect) and checks it with the
// bridge loader: summary of events, AMI/ARI endpoints and mapping, secrets never shown.
// Method: run the command function with a capturing io on the shared fixtures and on
// temporary files; run it once through the commander program (cli/program.ts).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigCheckExit, detectConfigKind, runConfigCheck } from '../../../src/cli/commands/config-check';
import { DEFAULT_ASTERISK_CONF_LIMITS } from '../../../src/config/asterisk-conf';
import { runCli } from '../../../src/cli/program';
import { captureIo } from './captured-io';

const fixtures = path.resolve(__dirname, '../../../../shared/fixtures/configs');
const fixture = (name: string): string => path.join(fixtures, name);

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-config-check-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('carillon config check', () => {
  it('exits 0 for a valid file and prints the effective configuration', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('modern-three-node.conf'), io, { json: false })).toBe(ConfigCheckExit.ok);
    expect(io.stderr).toEqual([]);
    expect(io.stdout[0]).toBe(`${fixture('modern-three-node.conf')}: valid`);
    expect(io.stdout).toEqual(
      expect.arrayContaining([
        'cluster_name: pbx-trio',
        'transport: udpu, port 5405',
        'nodes: 3',
        '  nodeid 1  127.0.0.31  pbx-a',
        'quorum: corosync_votequorum, expected_votes 3, wait_for_all',
        'runtime.config.totem.token (u32) = 1650',
        'runtime.config.totem.consensus (u32) = 1980',
        'runtime.config.totem.token_retransmit (u32) = 392',
        'runtime.config.totem.hold (u32) = 303',
      ]),
    );
    const runtime = io.stdout.filter((l) => l.startsWith('runtime.config.totem.')).map((l) => l.split(' ')[0] ?? '');
    expect(runtime).toEqual([...runtime].sort());
    expect(runtime).toHaveLength(19);
  });

  it('exits 0 with warnings printed as file:line:col on stderr', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('udpu-pbx-pair.conf'), io, { json: false })).toBe(ConfigCheckExit.ok);
    expect(io.stderr.length).toBeGreaterThanOrEqual(6);
    for (const line of io.stderr) expect(line).toMatch(/^(\S+udpu-pbx-pair\.conf:\d+:\d+: warning: |  hint: )/);
    expect(io.stdout[0]).toMatch(/: valid \(\d+ warnings\)$/);
    expect(io.stdout).toContain('quorum: corosync_votequorum, expected_votes 1');
  });

  it('exits 78 for configuration errors and prints each with its position', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('broken-bad-values.conf'), io, { json: false })).toBe(ConfigCheckExit.invalid);
    expect(io.stdout).toEqual([]);
    const positions = io.stderr.filter((l) => l.includes(': error: ')).map((l) => /:(\d+:\d+): error: /.exec(l)?.[1]);
    expect(positions).toEqual(['5:9', '6:8', '7:13', '8:16', '16:15', '17:11', '20:15', '21:11']);
    expect(io.stderr.at(-1)).toBe(`carillon config check: ${fixture('broken-bad-values.conf')}: 8 errors, 0 warnings`);
    expect(io.stderr.some((l) => l.startsWith('  hint: '))).toBe(true);
  });

  it('exits 78 for the unclosed brace, naming line 4', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('broken-unclosed-brace.conf'), io, { json: false })).toBe(ConfigCheckExit.invalid);
    expect(io.stderr[0]).toBe(`${fixture('broken-unclosed-brace.conf')}:4:2: error: section 'interface' is not closed: missing '}'`);
  });

  it('exits 78 for a file that loads but cannot run (no nodelist), and says so', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('legacy-multicast-two-node.conf'), io, { json: false })).toBe(ConfigCheckExit.invalid);
    expect(io.stderr.filter((l) => l.includes(': error: '))).toHaveLength(1);
    expect(io.stderr.at(-1)).toContain('the file loads, but carillond cannot start with it');
  });

  it('exits 1 with a clear message for an unreadable file', () => {
    const io = captureIo();
    const missing = path.join(tmp, 'missing.conf');
    expect(runConfigCheck(missing, io, { json: false })).toBe(ConfigCheckExit.unreadable);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(new RegExp(`^carillon config check: cannot read ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`));
    const dir = captureIo();
    expect(runConfigCheck(tmp, dir, { json: true })).toBe(ConfigCheckExit.unreadable);
    expect(JSON.parse(dir.stdout[0] ?? '')).toMatchObject({ file: tmp, valid: false, readable: false });
  });

  it('--json prints one object with errors, warnings and the effective configuration', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('two-node-quorum.conf'), io, { json: true })).toBe(ConfigCheckExit.ok);
    expect(io.stdout).toHaveLength(1);
    expect(io.stderr).toEqual([]);
    const report = JSON.parse(io.stdout[0] ?? '') as Record<string, unknown>;
    expect(report).toMatchObject({
      file: fixture('two-node-quorum.conf'),
      valid: true,
      errors: [],
      warnings: [],
      effective: {
        totem: { clusterName: 'my_cluster', transport: 'udpu', configVersion: '0' },
        totemMs: { token: 3000, consensus: 3600 },
        quorum: { twoNode: true, waitForAll: true, waitForAllSource: 'two_node' },
        runtime: { 'runtime.config.totem.token': 3000, 'runtime.config.totem.block_unlisted_ips': 1 },
      },
    });
  });

  it('--json reports errors with severity, code and position, and exits 78', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('broken-bad-values.conf'), io, { json: true })).toBe(ConfigCheckExit.invalid);
    const report = JSON.parse(io.stdout[0] ?? '') as { valid: boolean; errors: Record<string, unknown>[]; effective: unknown };
    expect(report.valid).toBe(false);
    expect(report.effective).toBeNull();
    expect(report.errors[0]).toMatchObject({ severity: 'error', code: 'CONFIG_VALUE', line: 5, col: 9, file: fixture('broken-bad-values.conf') });
  });

  it('handles CRLF files and configurations with crypto (valid, with a compatibility warning)', () => {
    const file = path.join(tmp, 'crlf.conf');
    const text = 'totem {\n\tversion: 2\n\ttransport: udpu\n\tsecauth: on\n}\nnodelist {\n\tnode {\n\t\tring0_addr: 10.0.0.1\n\t}\n}\n';
    fs.writeFileSync(file, text.replace(/\n/g, '\r\n'));
    const io = captureIo();
    expect(runConfigCheck(file, io, { json: false })).toBe(ConfigCheckExit.ok);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toContain(':4:11: warning: crypto on transport udpu is a Carillon extension');
    expect(io.stdout).toContain('crypto: AES-256-GCM, key /etc/carillon/authkey');
    expect(io.stdout).toContain(`  nodeid ${0x0a000001} (generated)  10.0.0.1`);
  });

  it('is registered as `carillon config check FILE [--json]` with man-style help', async () => {
    const io = captureIo();
    expect(await runCli(['config', 'check', fixture('broken-bad-values.conf')], io)).toBe(ConfigCheckExit.invalid);
    const json = captureIo();
    expect(await runCli(['config', 'check', '--json', fixture('modern-three-node.conf')], json)).toBe(ConfigCheckExit.ok);
    expect(JSON.parse(json.stdout[0] ?? '')).toMatchObject({ valid: true });
    const help = captureIo();
    expect(await runCli(['config', 'check', '--help'], help)).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toContain('EXAMPLES');
    expect(text).toMatch(/EXIT STATUS[\s\S]*78 {2}configuration errors/);
    expect(await runCli(['config', 'check'], captureIo())).toBe(2);
  });
});

// res_corosync.conf (Asterisk dialect): detected by content or name, checked with
// src/asterisk/bridge-config.ts; same diagnostics format and exit status.
describe('carillon config check on res_corosync.conf', () => {
  const example = path.resolve(__dirname, '../../../config/res_corosync.conf.example');

  it('detects the dialect by the first meaningful line or by the file name', () => {
    expect(detectConfigKind('/x/bridge.conf', '; comment\n\n;-- block\ntotem {\n--;\n[general]\n')).toBe('res_corosync');
    expect(detectConfigKind('/x/bridge.conf', '  #include "other.conf"\n')).toBe('res_corosync');
    expect(detectConfigKind('/x/bridge.conf', '#tryinclude other.conf\n')).toBe('res_corosync');
    expect(detectConfigKind('/x/res_corosync.local', 'totem {\n')).toBe('res_corosync');
    expect(detectConfigKind('/x/corosync.conf', '# comment\n\ntotem {\n')).toBe('corosync');
    expect(detectConfigKind('/x/corosync.conf', '# [not a section]\nlogging {\n')).toBe('corosync');
    expect(detectConfigKind('/res_corosync/corosync.conf', 'totem {\n')).toBe('corosync');
    expect(detectConfigKind('/x/empty.conf', '')).toBe('corosync');
    for (const name of fs.readdirSync(fixtures).filter((f) => f.endsWith('.conf'))) {
      expect([name, detectConfigKind(fixture(name), fs.readFileSync(fixture(name), 'utf8'))]).toEqual([name, name.startsWith('res_corosync') ? 'res_corosync' : 'corosync']);
    }
  });

  it('exits 0 for the shared fixture and summarises what is published and subscribed', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('res_corosync.conf'), io, { json: false })).toBe(ConfigCheckExit.ok);
    expect(io.stdout[0]).toBe(`${fixture('res_corosync.conf')}: valid res_corosync.conf (1 warning)`);
    expect(io.stdout).toEqual(expect.arrayContaining(['publish: mwi, device_state, ping, cluster_discovery', 'subscribe: mwi, device_state, ping, cluster_discovery', 'ami: none', 'purge: devices unavailable, mwi keep, grace 0 ms']));
    expect(io.stderr[0]).toBe(`${fixture('res_corosync.conf')}:8:17: warning: no [ami] or [ari] section: the bridge cannot read or write the local Asterisk and will only relay ping and cluster discovery`);
  });

  it('exits 78 for the misspelt event type, naming line 3 column 19', () => {
    const io = captureIo();
    expect(runConfigCheck(fixture('res_corosync-bad-value.conf'), io, { json: false })).toBe(ConfigCheckExit.invalid);
    expect(io.stdout).toEqual([]);
    expect(io.stderr.filter((l) => l.includes(': error: '))).toEqual([`${fixture('res_corosync-bad-value.conf')}:3:19: error: unknown event type 'device_states' for subscribe_event`]);
    expect(io.stderr.at(-1)).toBe(`carillon config check: ${fixture('res_corosync-bad-value.conf')}: 1 error, 1 warning`);
  });

  it('the example file is valid as it ships, without warnings', () => {
    const io = captureIo();
    expect(runConfigCheck(example, io, { json: false })).toBe(ConfigCheckExit.ok);
    expect(io.stderr).toEqual([]);
    expect(io.stdout).toContain('ami: carillon@127.0.0.1:5038 (connect timeout 5000 ms, action timeout 10000 ms, keepalive 15000 ms, reconnect 500..30000 ms)');
    expect(io.stdout.join('\n')).not.toContain('change-me');
  });

  it('--json: { file, kind, valid, errors, warnings, effective } with secrets masked', () => {
    const file = path.join(tmp, 'bridge.conf');
    fs.writeFileSync(file, '[general]\npublish_event = device_state\n#include secrets/ami.conf\n[ari]\nusername = a\npassword = ari-pa55word\n');
    fs.mkdirSync(path.join(tmp, 'secrets'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'secrets/ami.conf'), '[ami]\nusername = bridge\nsecret = s3cret-value\nport = 5039\n');
    const io = captureIo();
    expect(runConfigCheck(file, io, { json: true })).toBe(ConfigCheckExit.ok);
    expect(io.stdout).toHaveLength(1);
    expect(io.stdout[0]).not.toContain('s3cret');
    expect(io.stdout[0]).not.toContain('pa55word');
    expect(JSON.parse(io.stdout[0] ?? '')).toEqual({
      file,
      kind: 'res_corosync',
      valid: true,
      errors: [],
      warnings: [],
      effective: expect.objectContaining({
        publish: { mwi: false, deviceState: true, presenceState: false },
        publishEvents: ['device_state', 'ping', 'cluster_discovery'],
        ami: expect.objectContaining({ username: 'bridge', secret: '***', port: 5039 }),
        ari: expect.objectContaining({ username: 'a', password: '***' }),
      }),
    });
  });

  it('--json for errors: valid false, effective null, positions in the included file, exit 78', () => {
    const file = path.join(tmp, 'res_corosync.conf');
    fs.writeFileSync(file, '[general]\n#include missing.conf\n#include bad.conf\n');
    fs.writeFileSync(path.join(tmp, 'bad.conf'), '[bridge]\npurge_grace_ms = soon\n');
    const io = captureIo();
    expect(runConfigCheck(file, io, { json: true })).toBe(ConfigCheckExit.invalid);
    const report = JSON.parse(io.stdout[0] ?? '') as { kind: string; valid: boolean; effective: unknown; errors: Record<string, unknown>[] };
    expect(report).toMatchObject({ kind: 'res_corosync', valid: false, effective: null });
    expect(report.errors).toEqual([
      expect.objectContaining({ file, line: 2, col: 10, code: 'CONFIG_MISSING' }),
      expect.objectContaining({ file: path.join(tmp, 'bad.conf'), line: 2, col: 18, code: 'CONFIG_VALUE' }),
    ]);
  });

  it('an oversized included file is an error, not a crash', () => {
    const file = path.join(tmp, 'big-res_corosync.conf');
    fs.writeFileSync(file, '[general]\n#include big.inc\n');
    fs.writeFileSync(path.join(tmp, 'big.inc'), `; ${'x'.repeat(DEFAULT_ASTERISK_CONF_LIMITS.fileCharsMax)}\n`);
    const io = captureIo();
    expect(runConfigCheck(file, io, { json: false })).toBe(ConfigCheckExit.invalid);
    expect(io.stderr[0]).toBe(`${path.join(tmp, 'big.inc')}:1:1: error: file too large: more than ${DEFAULT_ASTERISK_CONF_LIMITS.fileCharsMax} characters`);
  });

  it('exits 1 for an unreadable file, as for corosync.conf', () => {
    const io = captureIo();
    expect(runConfigCheck(path.join(tmp, 'no-res_corosync.conf'), io, { json: false })).toBe(ConfigCheckExit.unreadable);
    expect(io.stderr[0]).toMatch(/^carillon config check: cannot read .*no-res_corosync\.conf: ENOENT/);
  });

  it('runs through the commander program', async () => {
    const io = captureIo();
    expect(await runCli(['config', 'check', fixture('res_corosync-bad-value.conf')], io)).toBe(ConfigCheckExit.invalid);
    expect(await runCli(['config', 'check', '--json', example], captureIo())).toBe(ConfigCheckExit.ok);
  });
});
