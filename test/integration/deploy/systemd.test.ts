// Goal: deploy/systemd/carillond.service is a unit systemd accepts and that matches
// carillond (architecture.md §3.2 "systemd readiness", §3.3 "systemd unit"): Type=exec
// with `carillon wait-ready` as readiness, reload through `carillond -t` then SIGHUP,
// no restart on exit 78 (EX_CONFIG), 3 (availability manager escalation) or 255 (cfg
// KILLNODE), network-online ordering, the hardening set, and Runtime/State/Configuration
// directories that are carillond's defaults; the sysusers file creates the unit's user.
// Method: a strict structural check of the unit always (sections, keys, values compared
// with the daemon's constants and its command line parsed by commander); where
// systemd-analyze exists (CI installs `systemd`), `systemd-analyze verify` on a copy
// whose Exec paths point at stub executables in a temporary directory (verify checks
// that they exist), every other line unchanged, with and without the Asterisk drop-in,
// plus the offline exposure score of `systemd-analyze security`; `systemd-sysusers
// --root` on a scratch root. Without them the test says that it skipped them.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DAEMON_DEFAULT_CONFIG, buildDaemonCommand } from '../../../src/cli/daemon-command';
import { buildProgram } from '../../../src/cli/program';
import { CarillonDefaults } from '../../../src/config/load';
import { DEFAULT_AUTHKEY_PATH } from '../../../src/runtime/authkey';
import { DaemonExit } from '../../../src/runtime/daemon';

const repoRoot = path.resolve(__dirname, '../../..');
const unitDir = path.join(repoRoot, 'deploy/systemd');
const unitFile = path.join(unitDir, 'carillond.service');
const dropIn = path.join(unitDir, 'carillond.service.d/asterisk.conf');
const sysusersFile = path.join(unitDir, 'carillon.sysusers');
/** carillond's exit status when its availability manager escalates (leaves the cluster). */
const EXIT_ESCALATED = 3;

type Unit = Map<string, Array<[string, string]>>;

/** Parses a unit file: sections of key=value in order; comments and blank lines skipped. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Array<[string, string]> | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header !== null) {
      const name = header[1] ?? '';
      if (unit.has(name)) throw new Error(`line ${i + 1}: section [${name}] twice`);
      section = [];
      unit.set(name, section);
      return;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (kv === null || section === null) throw new Error(`line ${i + 1}: not key=value in a section: ${raw}`);
    section.push([kv[1] ?? '', kv[2] ?? '']);
  });
  return unit;
}

function values(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

function one(unit: Unit, section: string, key: string): string {
  const all = values(unit, section, key);
  if (all.length !== 1) throw new Error(`[${section}] ${key}: expected once, found ${all.length} times`);
  return all[0] ?? '';
}

function has(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

const text = fs.readFileSync(unitFile, 'utf8');
const unit = parseUnit(text);
let tmp = '';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-systemd-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('carillond.service, structurally', () => {
  it('has [Unit], [Service] and [Install] and orders after network-online.target', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(one(unit, 'Unit', 'Requires')).toBe('network-online.target');
    expect(one(unit, 'Unit', 'After')).toBe('network-online.target');
    expect(one(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('runs carillond in the foreground with flags carillond accepts, ready when `carillon wait-ready` says so', () => {
    expect(one(unit, 'Service', 'Type')).toBe('exec');
    const start = one(unit, 'Service', 'ExecStart').split(' ');
    expect(start.slice(0, 1)).toEqual(['/usr/bin/carillond']);
    const daemon = buildDaemonCommand({ defaultConfig: DAEMON_DEFAULT_CONFIG, version: 'test' });
    daemon.parse(start.slice(1), { from: 'user' });
    expect(daemon.opts()).toMatchObject({ foreground: true, config: DAEMON_DEFAULT_CONFIG });

    const post = one(unit, 'Service', 'ExecStartPost').split(' ');
    expect(post.slice(0, 2)).toEqual(['/usr/bin/carillon', 'wait-ready']);
    expect(post).toContain('--timeout');
    const timeoutSec = Number(post[post.indexOf('--timeout') + 1]);
    expect(timeoutSec).toBeGreaterThan(0);
    // systemd must not give up on the start before wait-ready does.
    expect(Number(one(unit, 'Service', 'TimeoutStartSec'))).toBeGreaterThan(timeoutSec);
    const waitReady = buildProgram({ out: () => undefined, err: () => undefined }, () => undefined).commands.find((c) => c.name() === 'wait-ready');
    if (waitReady === undefined) {
      process.stderr.write('systemd.test: this tree has no `carillon wait-ready` yet; its flags were not checked\n');
    } else {
      expect(waitReady.parseOptions(post.slice(2)).unknown).toEqual([]);
    }
  });

  it('reloads by checking the file, then SIGHUP', () => {
    expect(values(unit, 'Service', 'ExecReload')).toEqual(['/usr/bin/carillond -t -c /etc/carillon/corosync.conf', '/bin/kill -HUP $MAINPID']);
  });

  it('restarts on failure, but not on a configuration error, an escalation or a KILLNODE', () => {
    expect(one(unit, 'Service', 'Restart')).toBe('on-failure');
    const prevent = one(unit, 'Service', 'RestartPreventExitStatus').split(/\s+/).map(Number);
    expect(prevent).toEqual(expect.arrayContaining([DaemonExit.config, EXIT_ESCALATED, DaemonExit.killed]));
    expect(prevent).toContain(78);
    expect(prevent).toContain(3);
    expect(prevent).not.toContain(DaemonExit.failure);
  });

  it('its directories are carillond\'s defaults, and it runs as the sysusers user', () => {
    const user = one(unit, 'Service', 'User');
    expect(user).toBe('carillon');
    expect(`/var/lib/${one(unit, 'Service', 'StateDirectory')}`).toBe(CarillonDefaults.stateDir);
    expect(`/run/${one(unit, 'Service', 'RuntimeDirectory')}`).toBe(path.dirname(CarillonDefaults.ipcSocket));
    const configDir = `/etc/${one(unit, 'Service', 'ConfigurationDirectory')}`;
    expect(configDir).toBe(path.dirname(DAEMON_DEFAULT_CONFIG));
    expect(configDir).toBe(path.dirname(DEFAULT_AUTHKEY_PATH));
    const sysusers = fs.readFileSync(sysusersFile, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(sysusers).toEqual([`u ${user} - "Carillon cluster daemon" ${CarillonDefaults.stateDir} /usr/sbin/nologin`]);
  });

  it('is hardened: no privileges, read-only system, only the socket families it uses', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    };
    for (const [key, value] of Object.entries(expected)) expect([key, one(unit, 'Service', key)]).toEqual([key, value]);
    expect(values(unit, 'Service', 'SystemCallFilter')).toContain('@system-service');
    expect(Number(one(unit, 'Service', 'LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
    // V8 needs W+X memory: this must stay off.
    expect(values(unit, 'Service', 'MemoryDenyWriteExecute')).toEqual([]);
  });

  it('leaves real-time scheduling to system { sched_rr: yes } (off by default, src/runtime/scheduling.ts)', () => {
    expect([values(unit, 'Service', 'CPUSchedulingPolicy'), one(unit, 'Service', 'RestrictRealtime')]).toEqual([[], 'yes']);
  });

  it('grants the nice -20 carillond asks for by default, which it cannot take without privilege', () => {
    expect(one(unit, 'Service', 'Nice')).toBe('-20');
  });

  it('the Asterisk drop-in only relaxes [Service] settings the unit sets', () => {
    const relaxed = parseUnit(fs.readFileSync(dropIn, 'utf8'));
    expect([...relaxed.keys()]).toEqual(['Service']);
    for (const [key] of relaxed.get('Service') ?? []) {
      if (key === 'ReadWritePaths') continue;
      expect([key, values(unit, 'Service', key).length]).toEqual([key, 1]);
    }
  });
});

describe('carillond.service, by systemd', () => {
  /** The unit with its Exec paths moved to stubs in `dir`; returns the copy's path. */
  function copyWithStubs(dir: string, withDropIn: boolean): string {
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    for (const name of ['carillond', 'carillon']) {
      fs.writeFileSync(path.join(dir, 'bin', name), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    }
    const copy = text.replace(/^(Exec[A-Za-z]*=)\/usr\/bin\/(carillond?) /gm, `$1${dir}/bin/$2 `);
    const changed = copy.split('\n').filter((line, i) => line !== text.split('\n')[i]);
    expect(changed.length).toBe(3);
    expect(changed.every((l) => l.startsWith('Exec'))).toBe(true);
    const file = path.join(dir, 'carillond.service');
    fs.writeFileSync(file, copy);
    if (withDropIn) {
      fs.mkdirSync(path.join(dir, 'carillond.service.d'));
      fs.copyFileSync(dropIn, path.join(dir, 'carillond.service.d/asterisk.conf'));
    }
    return file;
  }

  function analyze(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    // No systemd runs in a container: log to the console, not to the journal.
    const env = { ...process.env, SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: 'cat' };
    const result = spawnSync('systemd-analyze', [...args], { encoding: 'utf8', env, timeout: 30_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('systemd-analyze verify accepts the unit, alone and with the Asterisk drop-in', () => {
    if (!has('systemd-analyze')) {
      process.stderr.write('systemd.test: systemd-analyze is not installed; `systemd-analyze verify` SKIPPED (structural checks only)\n');
      return;
    }
    for (const withDropIn of [false, true]) {
      const dir = path.join(tmp, withDropIn ? 'with-drop-in' : 'alone');
      const file = copyWithStubs(dir, withDropIn);
      const result = analyze(['verify', '--man=no', file]);
      // Unknown keys and bad values are only warnings (exit 0): any output fails.
      expect({ withDropIn, ...result }).toEqual({ withDropIn, status: 0, stdout: '', stderr: '' });
    }
    // And it does complain where it should: a broken copy is reported.
    const broken = path.join(tmp, 'broken');
    const file = copyWithStubs(broken, false);
    fs.appendFileSync(file, '\n[Service]\nRestartPreventExitStatus=seventy-eight\n');
    expect(analyze(['verify', '--man=no', file]).stderr).toMatch(/carillond\.service:\d+: Failed to parse value.*seventy-eight/);
  });

  it('systemd-analyze security rates the unit OK (exposure below 2.5)', () => {
    if (!has('systemd-analyze')) return;
    const dir = path.join(tmp, 'security');
    const file = copyWithStubs(dir, false);
    const result = analyze(['security', '--offline=yes', '--no-pager', file]);
    if (result.status !== 0 && /offline/.test(result.stderr)) {
      process.stderr.write('systemd.test: this systemd-analyze has no --offline; exposure not measured\n');
      return;
    }
    const level = /Overall exposure level for carillond\.service: (\d+\.\d+)/.exec(result.stdout);
    expect(level).not.toBeNull();
    process.stderr.write(`systemd.test: systemd-analyze security exposure ${level?.[1] ?? '?'}\n`);
    expect(Number(level?.[1])).toBeLessThan(2.5);
  });

  it('systemd-sysusers creates the service user with the state directory as home', () => {
    if (!has('systemd-sysusers')) {
      process.stderr.write('systemd.test: systemd-sysusers is not installed; sysusers file checked structurally only\n');
      return;
    }
    const root = path.join(tmp, 'root');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    const result = spawnSync('systemd-sysusers', [`--root=${root}`, sysusersFile], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(0);
    const passwd = fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(new RegExp(`^carillon:x:\\d+:\\d+:Carillon cluster daemon:${CarillonDefaults.stateDir}:/usr/sbin/nologin$`, 'm'));
    expect(fs.readFileSync(path.join(root, 'etc/group'), 'utf8')).toMatch(/^carillon:x:\d+:/m);
  });
});
