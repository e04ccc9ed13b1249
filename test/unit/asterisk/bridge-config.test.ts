// Goal: loadBridgeConfig (src/asterisk/bridge-config.ts) turns res_corosync.conf plus
// Carillon's [ami], [ari] and [bridge] sections into BridgeSettings exactly as
// res-corosync.md §1.7 describes [general] (defaults, case-insensitivity, accumulation,
// first [general] only, res_corosync's warning texts), validates every Carillon key with
// an error at the offending value, checks the relations between sections, never leaks a
// secret into a diagnostic, and returns settings only for an error-free file.
// Method: load the shared fixture files from disk and small texts through an in-memory
// reader; compare settings and diagnostics (position, severity, code, text) with
// hand-computed expectations.

import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bridgeConfigKeys, describeBridgeSettings, enabledEventTypes, loadBridgeConfig, redactedBridgeSettings, type BridgeConfigResult } from '../../../src/asterisk/bridge-config';
import { type BridgeSettings, DEFAULT_AMI_SETTINGS, DEFAULT_ARI_SETTINGS, defaultBridgeSettings } from '../../../src/asterisk/core/bridge-settings';
import type { Diagnostic } from '../../../src/config/diagnostics';

const FILE = '/etc/asterisk/res_corosync.conf';
const shared = path.resolve(__dirname, '../../../../shared/fixtures');
const exampleFile = path.resolve(__dirname, '../../../config/res_corosync.conf.example');

function readDisk(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function load(text: string, extra: Record<string, string> = {}): BridgeConfigResult {
  const files: Record<string, string> = { [FILE]: text, ...extra };
  return loadBridgeConfig(FILE, (p) => files[p] ?? null);
}

const AMI = '[ami]\nusername = carillon\nsecret = s3cret-value\n';
const ARI = '[ari]\nusername = carillon\npassword = ari-pa55word\n';

/** Loads [general] + extra sections and expects no errors. */
function settingsOf(text: string): BridgeSettings {
  const r = load(text);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  if (r.settings === null) throw new Error('no settings');
  return r.settings;
}

function errors(r: BridgeConfigResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'error');
}

function warnings(r: BridgeConfigResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'warning');
}

/** `line:col message` of each error, for compact expectations. */
function errorList(r: BridgeConfigResult): string[] {
  return errors(r).map((d) => `${d.line}:${d.col} ${d.message}`);
}

describe('[general] as res_corosync reads it', () => {
  test('an empty [general]: mwi and device_state off, ping and cluster_discovery on, no Asterisk link', () => {
    const r = load('[general]\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.settings).toEqual(defaultBridgeSettings());
    const s = r.settings as BridgeSettings;
    expect(enabledEventTypes(s.publish)).toEqual(['ping', 'cluster_discovery']);
    expect(enabledEventTypes(s.subscribe)).toEqual(['ping', 'cluster_discovery']);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.publish)).toBe(true);
    expect(Object.isFrozen(s.publishDeviceExclude)).toBe(true);
  });

  test('no [general] at all: defaults, with a warning', () => {
    const r = load('; nothing here\n');
    expect(r.settings).toEqual(defaultBridgeSettings());
    expect(r.diagnostics.map((d) => [d.line, d.col, d.severity, d.code])).toEqual([[1, 1, 'warning', 'CONFIG_MISSING']]);
  });

  test('the shared res_corosync.conf fixture: mwi and device_state both ways', () => {
    const file = path.join(shared, 'configs/res_corosync.conf');
    const r = loadBridgeConfig(file, readDisk);
    expect(errors(r)).toEqual([]);
    expect(r.settings?.publish).toEqual({ mwi: true, deviceState: true, presenceState: false });
    expect(r.settings?.subscribe).toEqual({ mwi: true, deviceState: true, presenceState: false });
    // Without [ami] the bridge cannot reach the local Asterisk: said once, at the first enabling value.
    expect(warnings(r).map((d) => [d.file, d.line, d.col, d.code])).toEqual([[file, 8, 17, 'CONFIG_RELATION']]);
    expect(warnings(r)[0]?.message).toContain('will only relay ping and cluster discovery');
  });

  test('res_corosync-bad-value.conf: one error at device_states; the => line is accepted', () => {
    const file = path.join(shared, 'configs/res_corosync-bad-value.conf');
    const r = loadBridgeConfig(file, readDisk);
    expect(r.settings).toBeNull();
    expect(errors(r)).toEqual([
      {
        severity: 'error',
        code: 'CONFIG_VALUE',
        file,
        line: 3,
        col: 19,
        message: "unknown event type 'device_states' for subscribe_event",
        hint: expect.stringContaining("did you mean 'device_state'?"),
      },
    ]);
    expect(errors(r)[0]?.hint).toContain('Valid values: mwi, device_state, ping, cluster_discovery');
    expect(errors(r)[0]?.hint).toContain('res_corosync itself declines to load');
    // Without the bad line, the `publish_event => mwi` line takes effect.
    const text = readDisk(file) ?? '';
    const fixed = settingsOf(text.split('\n').slice(0, 2).join('\n'));
    expect(fixed.publish).toEqual({ mwi: true, deviceState: false, presenceState: false });
  });

  test.each(['cluster-node-a', 'cluster-node-b'])('the real cluster configuration %s loads: mwi and device_state both ways', (node) => {
    const r = loadBridgeConfig(path.join(shared, 'asterisk/configs', node, 'res_corosync.conf'), readDisk);
    expect(errors(r)).toEqual([]);
    expect(enabledEventTypes(r.settings?.publish ?? defaultBridgeSettings().publish)).toEqual(['mwi', 'device_state', 'ping', 'cluster_discovery']);
    expect(enabledEventTypes(r.settings?.subscribe ?? defaultBridgeSettings().subscribe)).toEqual(['mwi', 'device_state', 'ping', 'cluster_discovery']);
  });

  test('key names and values are case-insensitive; repeated keys accumulate; ping and cluster_discovery change nothing', () => {
    const s = settingsOf(`[General]\nPublish_Event = MWI\npublish_event = Ping\nSUBSCRIBE_EVENT => Device_State\nsubscribe_event = cluster_discovery\n${AMI}`);
    expect(s.publish).toEqual({ mwi: true, deviceState: false, presenceState: false });
    expect(s.subscribe).toEqual({ mwi: false, deviceState: true, presenceState: false });
  });

  test('unknown options and sections are warnings in res_corosync words; values are errors with hints', () => {
    const r = load('[general]\npublish_evnt = mwi\nsubscribe_event = mwi, device_state\npublish_event =\n[extra]\n[ general ]\n');
    expect(r.diagnostics.map((d) => [d.line, d.col, d.severity, d.message])).toEqual([
      [2, 1, 'warning', "Unknown option 'publish_evnt'"],
      [3, 19, 'error', "unknown event type 'mwi, device_state' for subscribe_event"],
      [4, 16, 'error', "unknown event type '' for publish_event"],
      [5, 2, 'warning', "Unknown configuration section 'extra'"],
      [6, 2, 'warning', "Unknown configuration section ' general '"],
    ]);
    expect(r.diagnostics[0]?.hint).toBe("did you mean 'publish_event'?");
    expect(r.diagnostics[1]?.hint).toContain('One type per line');
    expect(r.diagnostics[4]?.hint).toBe('Asterisk does not trim section names: write [general]');
    expect(r.settings).toBeNull();
  });

  test('only the first [general] is read; (+) appends to it; templates are not warned about', () => {
    const r = load(`[tmpl](!)\nfoo = 1\n[general]\npublish_event = mwi\n[general]\nsubscribe_event = mwi\n[general](+)\nsubscribe_event = device_state\n${AMI}`);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => [d.line, d.col, d.code])).toEqual([[5, 2, 'CONFIG_DUPLICATE_KEY']]);
    expect(warnings(r)[0]?.message).toContain('res_corosync reads only the first [general]');
    expect(r.settings?.publish).toEqual({ mwi: true, deviceState: false, presenceState: false });
    expect(r.settings?.subscribe).toEqual({ mwi: false, deviceState: true, presenceState: false });
  });

  test('[general] may inherit from a template', () => {
    const s = settingsOf(`[events](!)\npublish_event = mwi\nsubscribe_event = mwi\n[general](events)\npublish_event = device_state\n${AMI}`);
    expect(s.publish).toEqual({ mwi: true, deviceState: true, presenceState: false });
    expect(s.subscribe).toEqual({ mwi: true, deviceState: false, presenceState: false });
  });

  test('presence_state is accepted with a warning that real res_corosync refuses it', () => {
    const r = load(`[general]\npublish_event = presence_state\nsubscribe_event = PRESENCE_STATE\n${AMI}`);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => [d.line, d.col, d.code])).toEqual([
      [2, 17, 'CONFIG_COMPAT'],
      [3, 19, 'CONFIG_COMPAT'],
    ]);
    expect(warnings(r)[0]?.message).toContain('a real res_corosync node declines to load');
    expect(r.settings?.publish.presenceState).toBe(true);
    expect(r.settings?.subscribe.presenceState).toBe(true);
  });

  test('includes: diagnostics name the included file', () => {
    const r = load('[general]\npublish_event = mwi\n#include carillon-secrets.conf\n', { '/etc/asterisk/carillon-secrets.conf': '[ami]\nusername = u\nsecret = x\nport = 99999\n' });
    expect(r.files).toEqual([FILE, '/etc/asterisk/carillon-secrets.conf']);
    expect(errors(r).map((d) => [d.file, d.line, d.col])).toEqual([['/etc/asterisk/carillon-secrets.conf', 4, 8]]);
  });

  test('parse errors and an unreadable file give no settings', () => {
    expect(load('publish_event = mwi\n[general]\n').settings).toBeNull();
    const missing = loadBridgeConfig('/nowhere/res_corosync.conf', () => null);
    expect(missing.settings).toBeNull();
    expect(missing.diagnostics).toHaveLength(1);
  });
});

describe('[ami]', () => {
  test('every key, valid', () => {
    const s = settingsOf(
      '[general]\n[AMI]\nhost = pbx1.example.net\nPort = 5039\nusername = bridge\nsecret = s3cret-value\nconnect_timeout_ms = 2000\naction_timeout_ms = 3000\nkeepalive_ms = 0\nreconnect_min_ms = 100\nreconnect_max_ms = 100\n',
    );
    expect(s.ami).toEqual({ host: 'pbx1.example.net', port: 5039, username: 'bridge', secret: 's3cret-value', connectTimeoutMs: 2000, actionTimeoutMs: 3000, keepaliveMs: 0, reconnectMinMs: 100, reconnectMaxMs: 100 });
    expect(Object.isFrozen(s.ami)).toBe(true);
  });

  test('defaults from DEFAULT_AMI_SETTINGS; IPv6 host literal', () => {
    expect(settingsOf(`[general]\n${AMI}`).ami).toEqual({ ...DEFAULT_AMI_SETTINGS, username: 'carillon', secret: 's3cret-value' });
    expect(settingsOf(`[general]\n${AMI}host = ::1\n`).ami?.host).toBe('::1');
  });

  test('username and secret are required and must not be empty', () => {
    const r = load('[general]\n[ami]\nsecret =\n');
    expect(errorList(r)).toEqual(["2:2 [ami] needs 'username'", '3:9 secret must not be empty']);
    expect(errors(r).map((d) => d.code)).toEqual(['CONFIG_MISSING', 'CONFIG_VALUE']);
  });

  test.each([
    ['port = 0', '5:8 port must be between 1 and 65535, not 0'],
    ['port = 65536', '5:8 port must be between 1 and 65535, not 65536'],
    ['port = abc', "5:8 port must be a decimal integer, not 'abc'"],
    ['port = 5038.0', "5:8 port must be a decimal integer, not '5038.0'"],
    ['port = -1', "5:8 port must be a decimal integer, not '-1'"],
    ['port = 0x13be', "5:8 port must be a decimal integer, not '0x13be'"],
    ['port =', "5:7 port must be a decimal integer, not ''"],
    ['host = [::1]', "5:8 host '[::1]' has brackets"],
    ['host = 127.0.0.1:5038', "5:8 host '127.0.0.1:5038' contains a port"],
    ['host = pbx one', "5:8 host 'pbx one' is not a host name or IP address"],
    ['host =', '5:7 host must not be empty'],
    ['connect_timeout_ms = 99', '5:22 connect_timeout_ms must be between 100 and 600000, not 99'],
    ['action_timeout_ms = 600001', '5:21 action_timeout_ms must be between 100 and 600000, not 600001'],
    ['keepalive_ms = 50', '5:16 keepalive_ms must be between 100 and 3600000, or 0 (off), not 50'],
    ['reconnect_min_ms = 5', '5:20 reconnect_min_ms must be between 10 and 3600000, not 5'],
    ['reconnect_max_ms = 3600001', '5:20 reconnect_max_ms must be between 10 and 3600000, not 3600001'],
    ['reconnect_min_ms = 40000', '5:20 reconnect_min_ms (40000) must not exceed reconnect_max_ms (30000)'],
  ])('%s is an error at the value', (line, expected) => {
    const r = load(`[general]\n${AMI}${line}\n`);
    expect(errorList(r)).toEqual([expected]);
    expect(r.settings).toBeNull();
  });

  test('min > max is reported at reconnect_max_ms when both are given', () => {
    const r = load(`[general]\n${AMI}reconnect_max_ms = 1000\nreconnect_min_ms = 2000\n`);
    expect(errorList(r)).toEqual(['5:20 reconnect_min_ms (2000) must not exceed reconnect_max_ms (1000)']);
    expect(errors(r)[0]?.code).toBe('CONFIG_RELATION');
  });

  test('unknown keys warn with a suggestion; a repeated key warns and the last wins', () => {
    const r = load(`[general]\n${AMI}prot = 1\nport = 1000\nport = 2000\n`);
    expect(warnings(r).map((d) => [d.line, d.col, d.code, d.message, d.hint])).toEqual([
      [5, 1, 'CONFIG_UNKNOWN_KEY', "Unknown option 'prot' in [ami]", "did you mean 'port'?"],
      [7, 1, 'CONFIG_DUPLICATE_KEY', "'port' is given again: this one replaces line 6", undefined],
    ]);
    expect(r.settings?.ami?.port).toBe(2000);
  });

  test('overriding a template value is not a duplicate; a second [ami] is ignored with a warning', () => {
    const r = load(`[general]\n[amibase](!)\nport = 1000\nusername = u\nsecret = x\n[ami](amibase)\nport = 2000\n[ami]\nport = 3000\n`);
    expect(warnings(r).map((d) => [d.line, d.col, d.code])).toEqual([[8, 2, 'CONFIG_DUPLICATE_KEY']]);
    expect(r.settings?.ami?.port).toBe(2000);
  });
});

describe('[ari]', () => {
  test('every key, valid; the URL is normalised', () => {
    const s = settingsOf('[general]\n[ari]\nurl = HTTPS://PBX.example.net:8089/asterisk/ari/\nusername = u\npassword = ari-pa55word\napp = my.app-1_x\nreconnect_min_ms = 1000\nreconnect_max_ms = 2000\n');
    expect(s.ari).toEqual({ url: 'https://pbx.example.net:8089/asterisk/ari', username: 'u', password: 'ari-pa55word', app: 'my.app-1_x', reconnectMinMs: 1000, reconnectMaxMs: 2000 });
  });

  test('defaults from DEFAULT_ARI_SETTINGS', () => {
    expect(settingsOf(`[general]\n${ARI}`).ari).toEqual({ ...DEFAULT_ARI_SETTINGS, username: 'carillon', password: 'ari-pa55word' });
  });

  test('username and password are required', () => {
    expect(errorList(load('[general]\n[ari]\nurl = http://127.0.0.1:8088/ari\n'))).toEqual(["2:2 [ari] needs 'username'", "2:2 [ari] needs 'password'"]);
  });

  test.each([
    ['url = not a url', "5:7 url 'not a url' is not a URL"],
    ['url = ftp://127.0.0.1/ari', '5:7 url must be http:// or https://, not ftp://'],
    ['url = http://127.0.0.1:8088/ari?x=1', '5:7 url must not have a query or fragment'],
    ['url = http://admin:topsecret@127.0.0.1:8088/ari', '5:7 url must not contain credentials'],
    ['app = bad app', "5:7 app 'bad app' is not a valid Stasis application name"],
    ['app =', "5:6 app '' is not a valid Stasis application name"],
    ['reconnect_max_ms = 100', '5:20 reconnect_min_ms (500) must not exceed reconnect_max_ms (100)'],
    ['password =', '5:11 password must not be empty'],
  ])('%s is an error at the value', (line, expected) => {
    const r = load(`[general]\n${ARI}${line}\n`);
    expect(errorList(r)).toEqual([expected]);
  });

  test('a URL whose path does not end in /ari is a warning', () => {
    const r = load(`[general]\n${ARI}url = http://127.0.0.1:8088/\n`);
    expect(errors(r)).toEqual([]);
    expect(warnings(r).map((d) => [d.line, d.col, d.message])).toEqual([[5, 7, "url path '/' does not end in /ari"]]);
    expect(r.settings?.ari?.url).toBe('http://127.0.0.1:8088');
  });
});

describe('[bridge]', () => {
  const bridge = (lines: string): BridgeConfigResult => load(`[general]\n${AMI}${ARI}[bridge]\n${lines}\n`);
  /** Line of the first [bridge] key in `bridge()` texts. */
  const L = 9;

  test('every key, valid', () => {
    const r = bridge(
      [
        'eid = 00-11-22-AA-bb-CC',
        'remote_device_format = Custom:%s@peer',
        'remote_presence_format = CustomPresence:peer-%s',
        'publish_device_exclude = ^MWI:',
        'publish_device_exclude = ^Local/',
        'device_purge = NOT_INUSE',
        'mwi_purge = zero',
        'purge_grace_ms = 3600000',
        'mwi_injection = ari',
      ].join('\n'),
    );
    expect(r.diagnostics).toEqual([]);
    const s = r.settings as BridgeSettings;
    expect(s.eid).toBe('00:11:22:aa:bb:cc');
    expect(s.remoteDeviceFormat).toBe('Custom:%s@peer');
    expect(s.remotePresenceFormat).toBe('CustomPresence:peer-%s');
    expect(s.publishDeviceExclude.map((x) => x.source)).toEqual(['^MWI:', '^Local\\/']);
    expect(s.devicePurge).toBe('not_inuse');
    expect(s.mwiPurge).toBe('zero');
    expect(s.purgeGraceMs).toBe(3_600_000);
    expect(s.mwiInjection).toBe('ari');
  });

  test('defaults, and eid = auto means null', () => {
    const s = bridge('eid = AUTO').settings as BridgeSettings;
    const d = defaultBridgeSettings();
    expect(s.eid).toBeNull();
    expect([s.remoteDeviceFormat, s.remotePresenceFormat, s.devicePurge, s.mwiPurge, s.purgeGraceMs, s.mwiInjection]).toEqual([
      d.remoteDeviceFormat,
      d.remotePresenceFormat,
      d.devicePurge,
      d.mwiPurge,
      d.purgeGraceMs,
      d.mwiInjection,
    ]);
    expect(s.publishDeviceExclude.map((x) => x.source)).toEqual(['^MWI:']);
  });

  test('publish_device_exclude replaces the default; an empty value means none', () => {
    expect(bridge('publish_device_exclude =').settings?.publishDeviceExclude).toEqual([]);
    expect(bridge('publish_device_exclude = ^SIP/').settings?.publishDeviceExclude.map((x) => x.source)).toEqual(['^SIP\\/']);
  });

  test.each([
    ['eid = 00:11:22:33:44', "eid '00:11:22:33:44' is not an EID"],
    ['remote_device_format = Custom:remote', "remote_device_format must contain '%s' exactly once (it has 0)"],
    ['remote_device_format = Custom:%s-%s', "remote_device_format must contain '%s' exactly once (it has 2)"],
    ['remote_device_format = PJSIP/%s', "remote_device_format must start with 'Custom:'"],
    ['remote_presence_format = Custom:%s', "remote_presence_format must start with 'CustomPresence:'"],
    ['remote_presence_format = CustomPresence:x', "remote_presence_format must contain '%s' exactly once (it has 0)"],
    ['publish_device_exclude = ^(MWI', 'publish_device_exclude is not a valid regular expression: Invalid regular expression: /^(MWI/: Unterminated group'],
    ['device_purge = idle', "device_purge must be one of unavailable, not_inuse, keep, not 'idle'"],
    ['mwi_purge = delete', "mwi_purge must be one of keep, zero, not 'delete'"],
    ['purge_grace_ms = 3600001', 'purge_grace_ms must be between 0 and 3600000, not 3600001'],
    ['purge_grace_ms = 1s', "purge_grace_ms must be a decimal integer, not '1s'"],
    ['mwi_injection = http', "mwi_injection must be one of ami, ari, not 'http'"],
  ])('%s is an error at the value', (line, message) => {
    const r = bridge(line);
    const col = line.indexOf('=') + 3;
    expect(errorList(r)).toEqual([`${L}:${col} ${message}`]);
  });

  test('a misspelt choice gets a suggestion', () => {
    expect(errors(bridge('device_purge = unavailble'))[0]?.hint).toBe("did you mean 'unavailable'?");
  });
});

describe('relations between sections', () => {
  const relationWarnings = (r: BridgeConfigResult): string[] => warnings(r).filter((d) => d.code === 'CONFIG_RELATION').map((d) => `${d.line}:${d.col} ${d.message}`);

  test('mwi_injection = ari needs [ari]: an error at the value', () => {
    const r = load(`[general]\nsubscribe_event = mwi\n${AMI}[bridge]\nmwi_injection = ari\n`);
    expect(errors(r).map((d) => [d.line, d.col, d.code, d.message])).toEqual([[7, 17, 'CONFIG_RELATION', 'mwi_injection = ari needs an [ari] section']]);
    expect(r.settings).toBeNull();
  });

  test('no [ami] and no [ari]: one warning that only ping and discovery are relayed', () => {
    const r = load('[general]\nsubscribe_event = device_state\npublish_event = mwi\n');
    expect(relationWarnings(r)).toEqual(['2:19 no [ami] or [ari] section: the bridge cannot read or write the local Asterisk and will only relay ping and cluster discovery']);
    expect(r.settings).not.toBeNull();
    expect(relationWarnings(load('[general]\npublish_event = ping\n'))).toEqual([]);
  });

  test('[ari] alone serves publishing device_state and MWI injection by ARI, not the rest', () => {
    const r = load(
      `[general]\npublish_event = device_state\nsubscribe_event = mwi\npublish_event = mwi\nsubscribe_event = device_state\npublish_event = presence_state\n${ARI}[bridge]\nmwi_injection = ari\n`,
    );
    expect(errors(r)).toEqual([]);
    expect(relationWarnings(r)).toEqual([
      '4:17 publish_event = mwi needs an [ami] section: local MWI is only visible as AMI MessageWaiting events (ARI has no MWI event)',
      '5:19 subscribe_event = device_state needs an [ami] section: remote device states are written as Custom: devices, which only AMI can set (ARI sets only Stasis: devices)',
      '6:17 publish_event = presence_state needs an [ami] section: local presence is only visible as AMI PresenceStateChange events',
    ]);
  });

  test('[ari] alone with subscribe mwi injected over AMI warns', () => {
    const r = load(`[general]\nsubscribe_event = mwi\n${ARI}`);
    expect(relationWarnings(r)).toEqual(['2:19 subscribe_event = mwi needs an [ami] section: remote MWI is written with AMI MWIUpdate (mwi_injection = ami)']);
  });

  test('with [ami] everything is served', () => {
    const r = load(`[general]\npublish_event = mwi\nsubscribe_event = mwi\npublish_event = device_state\nsubscribe_event = device_state\n${AMI}`);
    expect(r.diagnostics).toEqual([]);
  });
});

describe('secrets and all-at-once reporting', () => {
  test('every error of every section at once, and no secret in any diagnostic', () => {
    const text = [
      '[general]',
      'publish_event = mwii',
      '[ami]',
      'secret = s3cret-value',
      'secret = s3cret-value-2',
      'port = 0',
      'secrt = s3cret-value',
      '[ari]',
      'url = http://admin:ari-pa55word@localhost/ari',
      'username = u',
      'password = ari-pa55word',
      '[bridge]',
      'eid = nope',
      'mwi_injection = ari',
    ].join('\n');
    const r = load(text);
    expect(errorList(r)).toEqual([
      "2:17 unknown event type 'mwii' for publish_event",
      "3:2 [ami] needs 'username'",
      '6:8 port must be between 1 and 65535, not 0',
      '9:7 url must not contain credentials',
      "13:7 eid 'nope' is not an EID",
    ]);
    const all = JSON.stringify(r.diagnostics);
    expect(all).not.toContain('s3cret');
    expect(all).not.toContain('pa55word');
  });

  test('redactedBridgeSettings and describeBridgeSettings hide secrets', () => {
    const s = settingsOf(`[general]\npublish_event = mwi\n${AMI}${ARI}`);
    const json = redactedBridgeSettings(s);
    expect(json).toMatchObject({ ami: { secret: '***', username: 'carillon' }, ari: { password: '***' }, publishEvents: ['mwi', 'ping', 'cluster_discovery'], publishDeviceExclude: ['^MWI:'] });
    const text = JSON.stringify(json) + describeBridgeSettings(s).join('\n');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('pa55word');
    expect(describeBridgeSettings(s)).toEqual([
      'publish: mwi, ping, cluster_discovery',
      'subscribe: ping, cluster_discovery',
      "eid: auto (the local Asterisk's)",
      'ami: carillon@127.0.0.1:5038 (connect timeout 5000 ms, action timeout 10000 ms, keepalive 15000 ms, reconnect 500..30000 ms)',
      'ari: carillon@http://127.0.0.1:8088/ari, app carillon (reconnect 500..30000 ms)',
      'remote devices as: Custom:remote:%s',
      'remote presence as: CustomPresence:remote:%s',
      'never published: /^MWI:/',
      'mwi injection: ami (AMI MWIUpdate)',
      'purge: devices unavailable, mwi keep, grace 0 ms',
    ]);
  });
});

describe('config/res_corosync.conf.example', () => {
  test('loads with no diagnostic at all and documents every key', () => {
    const r = loadBridgeConfig(exampleFile, readDisk);
    expect(r.diagnostics).toEqual([]);
    expect(r.settings?.publish).toEqual({ mwi: true, deviceState: true, presenceState: false });
    expect(r.settings?.ami?.username).toBe('carillon');
    const text = readDisk(exampleFile) ?? '';
    for (const key of Object.values(bridgeConfigKeys).flat()) {
      expect(text).toMatch(new RegExp(`^;?${key} =`, 'm'));
    }
  });

  test('its [general] is what real res_corosync accepts: only known keys and values', () => {
    const text = readDisk(exampleFile) ?? '';
    const general = /^\[general\]\n([\s\S]*?)^\[/m.exec(text)?.[1] ?? '';
    const lines = general.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith(';'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^(publish|subscribe)_event = (mwi|device_state|ping|cluster_discovery)$/);
  });
});
