// res_corosync.conf (+ Carillon's [ami], [ari], [bridge] sections) → BridgeSettings
// (res-corosync.md §1.7, architecture.md §2.9: positioned sections → typed values →
// relation checks → frozen settings). The file is parsed by src/config/asterisk-conf.ts.
//
// [general] is read exactly as res_corosync's load_general_config reads it: only the
// first (non-template) [general]; `publish_event` / `subscribe_event` (names and values
// case-insensitive), one type per line, repeated keys accumulating; mwi and device_state
// off unless named, ping and cluster_discovery always on. Where res_corosync and
// Carillon differ, only in how problems are reported:
//   - an unknown event type makes res_corosync decline to load without saying why; we
//     give an error at the value, with the valid values;
//   - unknown keys and sections are warnings with res_corosync's own wording
//     (`Unknown option '<key>'`, `Unknown configuration section '<name>'`), except for
//     Carillon's own sections, which res_corosync warns about and ignores;
//   - `presence_state` is a Carillon extension: accepted with a warning, because a real
//     res_corosync node declines to load a file that contains it.
// Carillon's sections follow the usual Asterisk module habits: keys case-insensitive,
// the last of a repeated key wins (with a warning), only the first section of a name is
// read. Numbers are decimal integers, range-checked. Secrets (AMI `secret`, ARI
// `password`) never appear in diagnostics or summaries.
//
// Every problem is a Diagnostic with the file and line:col of the offending token; all
// are collected, and settings is null iff there is at least one error.

import { type AsteriskConfSection, type AsteriskConfVariable, type ConfigReader, parseAsteriskConf, sortDiagnostics } from '../config/asterisk-conf';
import { type Diagnostic, DiagnosticCode, type DiagnosticSeverity, type SourcePosition, closestName, hasErrors } from '../config/diagnostics';
import {
  type AmiSettings,
  type AriSettings,
  type BridgeDirections,
  type BridgeEventTypeName,
  type BridgeSettings,
  DEFAULT_AMI_SETTINGS,
  DEFAULT_ARI_SETTINGS,
  DevicePurgePolicy,
  MwiInjection,
  MwiPurgePolicy,
  bridgeEventTypes,
  defaultBridgeSettings,
} from './core/bridge-settings';
import { parseEid } from './core/events';

export interface BridgeConfigResult {
  /** null iff diagnostics holds an error. Deeply frozen. */
  readonly settings: BridgeSettings | null;
  /** Every error and warning, in file order, then by position. */
  readonly diagnostics: Diagnostic[];
  /** The files read: the top file, then its includes. */
  readonly files: readonly string[];
}

/** What a key's value is checked against; exported for the example file's test. */
export const bridgeConfigKeys = {
  general: ['publish_event', 'subscribe_event'],
  ami: ['host', 'port', 'username', 'secret', 'connect_timeout_ms', 'action_timeout_ms', 'keepalive_ms', 'reconnect_min_ms', 'reconnect_max_ms'],
  ari: ['url', 'username', 'password', 'app', 'reconnect_min_ms', 'reconnect_max_ms'],
  bridge: ['eid', 'remote_device_format', 'remote_presence_format', 'publish_device_exclude', 'device_purge', 'mwi_purge', 'purge_grace_ms', 'mwi_injection'],
} as const;

type SectionName = keyof typeof bridgeConfigKeys;
const sectionNames = Object.keys(bridgeConfigKeys) as SectionName[];

/** The values res_corosync itself knows; presence_state is Carillon's. */
const RES_COROSYNC_EVENT_TYPES = ['mwi', 'device_state', 'ping', 'cluster_discovery'] as const;
const DURATION_MS_MAX = 3_600_000;
const TIMEOUT_MS_MIN = 100;
const TIMEOUT_MS_MAX = 600_000;
const RECONNECT_MS_MIN = 10;
const ARI_APP_PATTERN = /^[A-Za-z0-9_.-]+$/;
const HOST_PATTERN = /^[A-Za-z0-9._:-]+$/;
const SECRET_MASK = '***';

type Located = { readonly file: string; readonly position: SourcePosition };

class Reporter {
  readonly items: Diagnostic[] = [];

  add(severity: DiagnosticSeverity, code: DiagnosticCode, at: Located, message: string, hint?: string): void {
    const base = { severity, code, file: at.file, line: at.position.line, col: at.position.col, message };
    this.items.push(hint === undefined ? base : { ...base, hint });
  }

  error(code: DiagnosticCode, at: Located, message: string, hint?: string): void {
    this.add('error', code, at, message, hint);
  }

  warning(code: DiagnosticCode, at: Located, message: string, hint?: string): void {
    this.add('warning', code, at, message, hint);
  }
}

/** The value of a variable, located at the value rather than the key. */
function valueAt(v: AsteriskConfVariable): Located {
  return { file: v.file, position: v.valuePosition };
}


function didYouMean(name: string, known: readonly string[]): string | undefined {
  const suggestion = closestName(name, known);
  return suggestion === null ? undefined : `did you mean '${suggestion}'?`;
}

/** The sections Carillon reads: the first non-template section of each known name. */
function pickSections(sections: readonly AsteriskConfSection[], report: Reporter): Map<SectionName, AsteriskConfSection> {
  const picked = new Map<SectionName, AsteriskConfSection>();
  for (const section of sections) {
    if (section.templateOnly) continue;
    const at = { file: section.file, position: section.position };
    const lower = section.name.toLowerCase();
    const known = sectionNames.find((n) => n === lower);
    if (known === undefined) {
      const trimmed = lower.trim();
      const hint = (sectionNames as readonly string[]).includes(trimmed) ? `Asterisk does not trim section names: write [${trimmed}]` : didYouMean(section.name, sectionNames);
      report.warning(DiagnosticCode.unknownKey, at, `Unknown configuration section '${section.name}'`, hint);
      continue;
    }
    const first = picked.get(known);
    if (first !== undefined) {
      const why = known === 'general' ? 'res_corosync reads only the first [general]' : `Carillon reads only the first [${known}]`;
      report.warning(DiagnosticCode.duplicateKey, at, `second [${section.name}] section is ignored: ${why} (line ${first.position.line} of ${first.file})`, `merge the two, or append with [${section.name}](+)`);
      continue;
    }
    picked.set(known, section);
  }
  return picked;
}

interface GeneralResult {
  publish: Set<BridgeEventTypeName>;
  subscribe: Set<BridgeEventTypeName>;
  /** The first variable that switched each direction/type on, for relation warnings. */
  firstEnabling: Map<string, AsteriskConfVariable>;
}

function readGeneral(section: AsteriskConfSection | undefined, report: Reporter): GeneralResult {
  const result: GeneralResult = { publish: new Set(), subscribe: new Set(), firstEnabling: new Map() };
  for (const v of section?.variables ?? []) {
    const key = v.key.toLowerCase();
    if (key !== 'publish_event' && key !== 'subscribe_event') {
      report.warning(DiagnosticCode.unknownKey, { file: v.file, position: v.position }, `Unknown option '${v.key}'`, didYouMean(v.key, bridgeConfigKeys.general) ?? 'res_corosync knows only publish_event and subscribe_event');
      continue;
    }
    const type = readEventType(v, report);
    if (type === null) continue;
    const direction = key === 'publish_event' ? 'publish' : 'subscribe';
    result[direction].add(type);
    const slot = `${direction}:${type}`;
    if (!result.firstEnabling.has(slot)) result.firstEnabling.set(slot, v);
  }
  return result;
}

function readEventType(v: AsteriskConfVariable, report: Reporter): BridgeEventTypeName | null {
  const value = v.value.toLowerCase();
  const type = bridgeEventTypes.find((t) => t === value);
  if (type === undefined) {
    const listed = /[\s,]/.test(v.value) ? 'One type per line: there is no list syntax, repeat the key instead.' : didYouMean(v.value, bridgeEventTypes);
    const hint = [
      listed,
      `Valid values: ${RES_COROSYNC_EVENT_TYPES.join(', ')} (and Carillon's presence_state).`,
      'res_corosync itself declines to load this file without saying why.',
    ];
    report.error(DiagnosticCode.value, valueAt(v), `unknown event type '${v.value}' for ${v.key.toLowerCase()}`, hint.filter((h) => h !== undefined).join(' '));
    return null;
  }
  if (type === 'presence_state') {
    report.warning(
      DiagnosticCode.compat,
      valueAt(v),
      'presence_state is a Carillon extension: a real res_corosync node declines to load a file that contains it',
      'do not share this file with real Asterisk nodes running res_corosync',
    );
  }
  return type;
}

/**
 * The variables of a Carillon section by lower-case key: unknown keys warned about, a
 * repeated single-valued key warned about (the last wins, as in Asterisk modules), except
 * when the earlier one was inherited from a template (overriding is what templates are for).
 */
function collectKeys(section: AsteriskConfSection, name: Exclude<SectionName, 'general'>, repeatable: readonly string[], report: Reporter): Map<string, AsteriskConfVariable[]> {
  const known: readonly string[] = bridgeConfigKeys[name];
  const byKey = new Map<string, AsteriskConfVariable[]>();
  for (const v of section.variables) {
    const key = v.key.toLowerCase();
    const at = { file: v.file, position: v.position };
    if (!known.includes(key)) {
      report.warning(DiagnosticCode.unknownKey, at, `Unknown option '${v.key}' in [${name}]`, didYouMean(v.key, known) ?? `[${name}] knows ${known.join(', ')}`);
      continue;
    }
    const list = byKey.get(key) ?? [];
    const previous = list[list.length - 1];
    if (previous !== undefined && !repeatable.includes(key) && !previous.inherited) {
      report.warning(DiagnosticCode.duplicateKey, at, `'${key}' is given again: this one replaces line ${previous.position.line}`);
    }
    list.push(v);
    byKey.set(key, list);
  }
  return byKey;
}

function last(byKey: Map<string, AsteriskConfVariable[]>, key: string): AsteriskConfVariable | undefined {
  const list = byKey.get(key);
  return list?.[list.length - 1];
}

interface IntegerRule {
  readonly min: number;
  readonly max: number;
  /** 0 is accepted besides min..max (it means "off"). */
  readonly zeroMeansOff?: boolean;
}

function readInteger(v: AsteriskConfVariable | undefined, rule: IntegerRule, report: Reporter): number | undefined {
  if (v === undefined) return undefined;
  const key = v.key.toLowerCase();
  if (!/^[0-9]+$/.test(v.value)) {
    report.error(DiagnosticCode.value, valueAt(v), `${key} must be a decimal integer, not '${v.value}'`);
    return undefined;
  }
  const n = Number(v.value);
  if ((rule.zeroMeansOff === true && n === 0) || (n >= rule.min && n <= rule.max)) return n;
  const range = `between ${rule.min} and ${rule.max}${rule.zeroMeansOff === true ? ', or 0 (off)' : ''}`;
  report.error(DiagnosticCode.value, valueAt(v), `${key} must be ${range}, not ${v.value}`);
  return undefined;
}

function readChoice<T extends string>(v: AsteriskConfVariable | undefined, choices: readonly T[], report: Reporter): T | undefined {
  if (v === undefined) return undefined;
  const value = v.value.toLowerCase();
  const found = choices.find((c) => c === value);
  if (found === undefined) {
    report.error(DiagnosticCode.value, valueAt(v), `${v.key.toLowerCase()} must be one of ${choices.join(', ')}, not '${v.value}'`, didYouMean(v.value, choices));
  }
  return found;
}

/** A required non-empty value; `secret` keeps the value out of every message. */
function readRequired(byKey: Map<string, AsteriskConfVariable[]>, key: string, section: AsteriskConfSection, report: Reporter): string | undefined {
  const v = last(byKey, key);
  if (v === undefined) {
    report.error(DiagnosticCode.missing, { file: section.file, position: section.position }, `[${section.name}] needs '${key}'`);
    return undefined;
  }
  if (v.value === '') {
    report.error(DiagnosticCode.value, valueAt(v), `${key} must not be empty`);
    return undefined;
  }
  return v.value;
}

/** reconnect_min_ms ≤ reconnect_max_ms, reported at whichever was given (max first). */
function readReconnect(byKey: Map<string, AsteriskConfVariable[]>, defaults: { reconnectMinMs: number; reconnectMaxMs: number }, report: Reporter): { reconnectMinMs: number; reconnectMaxMs: number } | undefined {
  const rule = { min: RECONNECT_MS_MIN, max: DURATION_MS_MAX };
  const minVar = last(byKey, 'reconnect_min_ms');
  const maxVar = last(byKey, 'reconnect_max_ms');
  const min = readInteger(minVar, rule, report);
  const max = readInteger(maxVar, rule, report);
  if ((minVar !== undefined && min === undefined) || (maxVar !== undefined && max === undefined)) return undefined;
  const reconnectMinMs = min ?? defaults.reconnectMinMs;
  const reconnectMaxMs = max ?? defaults.reconnectMaxMs;
  if (reconnectMinMs > reconnectMaxMs) {
    const at = maxVar ?? minVar;
    if (at !== undefined) {
      report.error(DiagnosticCode.relation, valueAt(at), `reconnect_min_ms (${reconnectMinMs}) must not exceed reconnect_max_ms (${reconnectMaxMs})`);
    }
    return undefined;
  }
  return { reconnectMinMs, reconnectMaxMs };
}

function readHost(v: AsteriskConfVariable | undefined, report: Reporter): string | undefined {
  if (v === undefined) return undefined;
  const host = v.value;
  if (host.startsWith('[') && host.endsWith(']')) {
    report.error(DiagnosticCode.value, valueAt(v), `host '${host}' has brackets`, `write an IPv6 address without brackets: ${host.slice(1, -1)}`);
    return undefined;
  }
  if (!HOST_PATTERN.test(host)) {
    report.error(DiagnosticCode.value, valueAt(v), host === '' ? 'host must not be empty' : `host '${host}' is not a host name or IP address`);
    return undefined;
  }
  if ((host.match(/:/g) ?? []).length === 1) {
    report.error(DiagnosticCode.value, valueAt(v), `host '${host}' contains a port`, "give the port with 'port'");
    return undefined;
  }
  return host;
}

function readAmi(section: AsteriskConfSection, report: Reporter): AmiSettings | null {
  const byKey = collectKeys(section, 'ami', [], report);
  const host = readHost(last(byKey, 'host'), report);
  const port = readInteger(last(byKey, 'port'), { min: 1, max: 65535 }, report);
  const username = readRequired(byKey, 'username', section, report);
  const secret = readRequired(byKey, 'secret', section, report);
  const timeout = { min: TIMEOUT_MS_MIN, max: TIMEOUT_MS_MAX };
  const connectTimeoutMs = readInteger(last(byKey, 'connect_timeout_ms'), timeout, report);
  const actionTimeoutMs = readInteger(last(byKey, 'action_timeout_ms'), timeout, report);
  const keepaliveMs = readInteger(last(byKey, 'keepalive_ms'), { min: TIMEOUT_MS_MIN, max: DURATION_MS_MAX, zeroMeansOff: true }, report);
  const reconnect = readReconnect(byKey, DEFAULT_AMI_SETTINGS, report);
  if (username === undefined || secret === undefined || reconnect === undefined) return null;
  const d = DEFAULT_AMI_SETTINGS;
  return Object.freeze({
    host: host ?? d.host,
    port: port ?? d.port,
    username,
    secret,
    connectTimeoutMs: connectTimeoutMs ?? d.connectTimeoutMs,
    actionTimeoutMs: actionTimeoutMs ?? d.actionTimeoutMs,
    keepaliveMs: keepaliveMs ?? d.keepaliveMs,
    ...reconnect,
  });
}

function readAriUrl(v: AsteriskConfVariable | undefined, report: Reporter): string | undefined {
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v.value);
  } catch {
    report.error(DiagnosticCode.value, valueAt(v), `url '${v.value}' is not a URL`, `for example ${DEFAULT_ARI_SETTINGS.url}`);
    return undefined;
  }
  if (url.username !== '' || url.password !== '') {
    // Not echoed: the URL holds a password.
    report.error(DiagnosticCode.value, valueAt(v), 'url must not contain credentials', "give them with 'username' and 'password'");
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    report.error(DiagnosticCode.value, valueAt(v), `url must be http:// or https://, not ${url.protocol}//`);
    return undefined;
  }
  if (url.search !== '' || url.hash !== '') {
    report.error(DiagnosticCode.value, valueAt(v), 'url must not have a query or fragment');
    return undefined;
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith('/ari')) {
    report.warning(DiagnosticCode.value, valueAt(v), `url path '${url.pathname}' does not end in /ari`, 'Asterisk serves ARI under <http.conf prefix>/ari, e.g. http://127.0.0.1:8088/ari');
  }
  return `${url.origin}${path}`;
}

function readAri(section: AsteriskConfSection, report: Reporter): AriSettings | null {
  const byKey = collectKeys(section, 'ari', [], report);
  const url = readAriUrl(last(byKey, 'url'), report);
  const username = readRequired(byKey, 'username', section, report);
  const password = readRequired(byKey, 'password', section, report);
  const appVar = last(byKey, 'app');
  let app: string | undefined;
  if (appVar !== undefined) {
    if (ARI_APP_PATTERN.test(appVar.value)) app = appVar.value;
    else report.error(DiagnosticCode.value, valueAt(appVar), `app '${appVar.value}' is not a valid Stasis application name`, 'use letters, digits and . _ -');
  }
  const reconnect = readReconnect(byKey, DEFAULT_ARI_SETTINGS, report);
  if (username === undefined || password === undefined || reconnect === undefined) return null;
  return Object.freeze({ url: url ?? DEFAULT_ARI_SETTINGS.url, username, password, app: app ?? DEFAULT_ARI_SETTINGS.app, ...reconnect });
}

function readFormat(v: AsteriskConfVariable | undefined, prefix: string, report: Reporter): string | undefined {
  if (v === undefined) return undefined;
  const key = v.key.toLowerCase();
  const count = v.value.split('%s').length - 1;
  if (count !== 1) {
    report.error(DiagnosticCode.value, valueAt(v), `${key} must contain '%s' exactly once (it has ${count})`, '%s stands for the remote device or presence name');
    return undefined;
  }
  if (!v.value.startsWith(prefix)) {
    const why = prefix === 'Custom:' ? 'only Custom: devices can be set over AMI' : 'only CustomPresence: states can be set over AMI';
    report.error(DiagnosticCode.value, valueAt(v), `${key} must start with '${prefix}'`, why);
    return undefined;
  }
  return v.value;
}

function readExcludes(list: readonly AsteriskConfVariable[] | undefined, report: Reporter): RegExp[] | undefined {
  if (list === undefined) return undefined;
  const out: RegExp[] = [];
  for (const v of list) {
    if (v.value === '') continue;
    try {
      out.push(new RegExp(v.value));
    } catch (e) {
      const message = typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
      report.error(DiagnosticCode.value, valueAt(v), `publish_device_exclude is not a valid regular expression: ${message}`);
    }
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface BridgeSectionResult {
  settings: Partial<Mutable<Pick<BridgeSettings, 'eid' | 'remoteDeviceFormat' | 'remotePresenceFormat' | 'publishDeviceExclude' | 'devicePurge' | 'mwiPurge' | 'purgeGraceMs' | 'mwiInjection'>>>;
  mwiInjectionVar: AsteriskConfVariable | undefined;
}

function readBridge(section: AsteriskConfSection | undefined, report: Reporter): BridgeSectionResult {
  if (section === undefined) return { settings: {}, mwiInjectionVar: undefined };
  const byKey = collectKeys(section, 'bridge', ['publish_device_exclude'], report);
  const settings: BridgeSectionResult['settings'] = {};
  const eidVar = last(byKey, 'eid');
  if (eidVar !== undefined) {
    const eid = eidVar.value.toLowerCase() === 'auto' ? null : parseEid(eidVar.value);
    if (eid === null && eidVar.value.toLowerCase() !== 'auto') {
      report.error(DiagnosticCode.value, valueAt(eidVar), `eid '${eidVar.value}' is not an EID`, "write six hex bytes as xx:xx:xx:xx:xx:xx, or 'auto' to use the local Asterisk's");
    } else {
      settings.eid = eid;
    }
  }
  const device = readFormat(last(byKey, 'remote_device_format'), 'Custom:', report);
  if (device !== undefined) settings.remoteDeviceFormat = device;
  const presence = readFormat(last(byKey, 'remote_presence_format'), 'CustomPresence:', report);
  if (presence !== undefined) settings.remotePresenceFormat = presence;
  const excludes = readExcludes(byKey.get('publish_device_exclude'), report);
  if (excludes !== undefined) settings.publishDeviceExclude = Object.freeze(excludes);
  const devicePurge = readChoice(last(byKey, 'device_purge'), Object.values(DevicePurgePolicy), report);
  if (devicePurge !== undefined) settings.devicePurge = devicePurge;
  const mwiPurge = readChoice(last(byKey, 'mwi_purge'), Object.values(MwiPurgePolicy), report);
  if (mwiPurge !== undefined) settings.mwiPurge = mwiPurge;
  const grace = readInteger(last(byKey, 'purge_grace_ms'), { min: 0, max: DURATION_MS_MAX }, report);
  if (grace !== undefined) settings.purgeGraceMs = grace;
  const mwiInjectionVar = last(byKey, 'mwi_injection');
  const mwiInjection = readChoice(mwiInjectionVar, Object.values(MwiInjection), report);
  if (mwiInjection !== undefined) settings.mwiInjection = mwiInjection;
  return { settings, mwiInjectionVar };
}

type Link = 'ami' | 'ari';

/** Which local links can serve one direction of one event type (res-corosync.md §2, §3). */
function linksFor(direction: 'publish' | 'subscribe', type: BridgeEventTypeName, mwiInjection: MwiInjection): { links: readonly Link[]; why: string } | null {
  if (type === 'ping' || type === 'cluster_discovery') return null;
  if (direction === 'publish') {
    if (type === 'device_state') return { links: ['ami', 'ari'], why: 'local device states are read from AMI DeviceStateChange or ARI DeviceStateChanged events' };
    if (type === 'mwi') return { links: ['ami'], why: 'local MWI is only visible as AMI MessageWaiting events (ARI has no MWI event)' };
    return { links: ['ami'], why: 'local presence is only visible as AMI PresenceStateChange events' };
  }
  if (type === 'mwi') {
    return mwiInjection === 'ari'
      ? { links: ['ari'], why: 'remote MWI is written with ARI PUT /mailboxes (mwi_injection = ari)' }
      : { links: ['ami'], why: 'remote MWI is written with AMI MWIUpdate (mwi_injection = ami)' };
  }
  if (type === 'device_state') return { links: ['ami'], why: 'remote device states are written as Custom: devices, which only AMI can set (ARI sets only Stasis: devices)' };
  return { links: ['ami'], why: 'remote presence is written as CustomPresence: states over AMI' };
}

function checkLinks(general: GeneralResult, links: { ami: boolean; ari: boolean }, mwiInjection: MwiInjection, report: Reporter): void {
  const enabled = [...general.firstEnabling.entries()].filter(([slot]) => !slot.endsWith(':ping') && !slot.endsWith(':cluster_discovery'));
  if (enabled.length === 0) return;
  if (!links.ami && !links.ari) {
    const first = enabled.map(([, v]) => v).sort((a, b) => a.position.line - b.position.line || a.position.col - b.position.col)[0];
    if (first !== undefined) {
      report.warning(
        DiagnosticCode.relation,
        valueAt(first),
        'no [ami] or [ari] section: the bridge cannot read or write the local Asterisk and will only relay ping and cluster discovery',
        'add an [ami] section (see res_corosync.conf.example)',
      );
    }
    return;
  }
  for (const [slot, v] of enabled) {
    const [direction, type] = slot.split(':') as ['publish' | 'subscribe', BridgeEventTypeName];
    const need = linksFor(direction, type, mwiInjection);
    if (need === null || need.links.some((l) => links[l])) continue;
    // mwi_injection = ari without [ari] is already an error at mwi_injection.
    if (need.links[0] === 'ari') continue;
    report.warning(DiagnosticCode.relation, valueAt(v), `${direction}_event = ${type} needs an [${need.links.join('] or [')}] section: ${need.why}`);
  }
}

function directions(set: ReadonlySet<BridgeEventTypeName>): BridgeDirections {
  return Object.freeze({ mwi: set.has('mwi'), deviceState: set.has('device_state'), presenceState: set.has('presence_state') });
}

/** Builds settings from parsed sections; reports into `report`. */
function buildSettings(sections: readonly AsteriskConfSection[], topFile: string, report: Reporter): BridgeSettings {
  const picked = pickSections(sections, report);
  const generalSection = picked.get('general');
  if (generalSection === undefined) {
    report.warning(DiagnosticCode.missing, { file: topFile, position: { line: 1, col: 1 } }, 'no [general] section: only ping and cluster discovery are exchanged');
  }
  const general = readGeneral(generalSection, report);
  const amiSection = picked.get('ami');
  const ariSection = picked.get('ari');
  const ami = amiSection === undefined ? null : readAmi(amiSection, report);
  const ari = ariSection === undefined ? null : readAri(ariSection, report);
  const bridge = readBridge(picked.get('bridge'), report);
  const defaults = defaultBridgeSettings();
  const mwiInjection = bridge.settings.mwiInjection ?? defaults.mwiInjection;
  if (mwiInjection === 'ari' && ariSection === undefined && bridge.mwiInjectionVar !== undefined) {
    report.error(DiagnosticCode.relation, valueAt(bridge.mwiInjectionVar), 'mwi_injection = ari needs an [ari] section', 'add [ari] with url, username and password, or use mwi_injection = ami');
  }
  checkLinks(general, { ami: amiSection !== undefined, ari: ariSection !== undefined }, mwiInjection, report);
  return Object.freeze({
    ...defaults,
    ...bridge.settings,
    publishDeviceExclude: Object.freeze([...(bridge.settings.publishDeviceExclude ?? defaults.publishDeviceExclude)]),
    publish: directions(general.publish),
    subscribe: directions(general.subscribe),
    ami,
    ari,
  });
}

/**
 * Loads res_corosync.conf `file` (and its includes) through `read`. Never throws; see the
 * file header for the rules.
 */
export function loadBridgeConfig(file: string, read: ConfigReader): BridgeConfigResult {
  const parsed = parseAsteriskConf(file, read);
  const report = new Reporter();
  const readable = parsed.files.length > 0;
  const settings = readable ? buildSettings(parsed.sections, file, report) : null;
  const diagnostics = sortDiagnostics([...parsed.diagnostics, ...report.items], parsed.files);
  return { settings: settings === null || hasErrors(diagnostics) ? null : settings, diagnostics, files: parsed.files };
}

/** The event types switched on in one direction, in event-type number order (ping, discovery always). */
export function enabledEventTypes(d: BridgeDirections): BridgeEventTypeName[] {
  return bridgeEventTypes.filter((t) => (t === 'mwi' ? d.mwi : t === 'device_state' ? d.deviceState : t === 'presence_state' ? d.presenceState : true));
}

/** The settings as plain JSON data: secrets replaced by "***", regexes as their source. */
export function redactedBridgeSettings(settings: BridgeSettings): Record<string, unknown> {
  return {
    ...settings,
    publishEvents: enabledEventTypes(settings.publish),
    subscribeEvents: enabledEventTypes(settings.subscribe),
    publishDeviceExclude: settings.publishDeviceExclude.map((r) => r.source),
    ami: settings.ami === null ? null : { ...settings.ami, secret: SECRET_MASK },
    ari: settings.ari === null ? null : { ...settings.ari, password: SECRET_MASK },
  };
}

/** A short human summary, one line per item, without secrets (for `carillon config check`). */
export function describeBridgeSettings(settings: BridgeSettings): string[] {
  const ami = settings.ami;
  const ari = settings.ari;
  const excludes = settings.publishDeviceExclude.map((r) => `/${r.source}/`);
  return [
    `publish: ${enabledEventTypes(settings.publish).join(', ')}`,
    `subscribe: ${enabledEventTypes(settings.subscribe).join(', ')}`,
    `eid: ${settings.eid ?? "auto (the local Asterisk's)"}`,
    ami === null
      ? 'ami: none'
      : `ami: ${ami.username}@${ami.host.includes(':') ? `[${ami.host}]` : ami.host}:${ami.port} (connect timeout ${ami.connectTimeoutMs} ms, action timeout ${ami.actionTimeoutMs} ms, keepalive ${ami.keepaliveMs === 0 ? 'off' : `${ami.keepaliveMs} ms`}, reconnect ${ami.reconnectMinMs}..${ami.reconnectMaxMs} ms)`,
    ari === null ? 'ari: none' : `ari: ${ari.username}@${ari.url}, app ${ari.app} (reconnect ${ari.reconnectMinMs}..${ari.reconnectMaxMs} ms)`,
    `remote devices as: ${settings.remoteDeviceFormat}`,
    `remote presence as: ${settings.remotePresenceFormat}`,
    `never published: ${excludes.length === 0 ? '(nothing excluded)' : excludes.join(' ')}`,
    `mwi injection: ${settings.mwiInjection === 'ami' ? 'ami (AMI MWIUpdate)' : 'ari (ARI PUT /mailboxes)'}`,
    `purge: devices ${settings.devicePurge}, mwi ${settings.mwiPurge}, grace ${settings.purgeGraceMs} ms`,
  ];
}
