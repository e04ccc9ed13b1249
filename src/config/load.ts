// corosync.conf text → validated, deeply frozen CarillonConfig (architecture.md §2.9:
// positioned AST → typed values → semantic relation checks → derived totem timers →
// freeze). Facts about what corosync 3.1.7 accepts come from its exec/coroparse.c,
// exec/totemconfig.c, exec/votequorum.c, exec/logconfig.c and man/corosync.conf.5 /
// votequorum.5; timer derivation is corosync-wire.md §3.13 (src/totem/config.ts), the
// transport facts are §4 (one link on udp/udpu, mcastport 5405, nodeids generated from
// IPv4 ring0_addr, the udp multicast group derived from cluster_name).
//
// Policy, applied everywhere (README "Deviations from corosync" should carry it):
//   - corosync error                          → error, same condition;
//   - corosync silently substitutes a default
//     for a malformed value (max_messages: 0,
//     clear_node_high_bit: on, secauth: yes)  → error: the user meant something else;
//   - corosync logs a warning and goes on      → warning;
//   - key dropped since corosync 1.x/2.x       → warning naming it, ignored;
//   - valid corosync 3 key Carillon ignores    → warning (knet tuning, system.qb_ipc_type...);
//   - key nobody knows                         → warning (with "did you mean");
//   - stricter than corosync on purpose: join must be < consensus (corosync rejects only
//     join > consensus); consensus < token is an error with 3+ nodes (corosync.conf(5)
//     says consensus should exceed token there) and a warning with 2; a given
//     token_retransmit must be < token; max_messages ≤ window_size (the core asserts it).
//
// Decisions where corosync and Carillon cannot agree:
//   - transport knet (corosync's default) is not supported: `transport: knet` is an
//     error; with no transport key, Carillon uses udp when the interface names a
//     mcastaddr or broadcast (a corosync 1.x/2.x multicast file), else udpu, and warns
//     that corosync 3 would use knet;
//   - crypto on udp/udpu is a Carillon extension (AES-256-GCM, corosync-wire.md §4.1
//     says corosync rejects it): only aes256+sha256 (or secauth: on) is accepted;
//   - a file without nodelist (corosync 2 style) loads, but checkRunnable() reports
//     that carillond cannot start with it, as corosync 3 cannot (`carillon config
//     check` runs both and exits 78);
//   - ring0_addr may be a host name only together with an explicit nodeid: loading
//     does no DNS, so a nodeid cannot be generated from a name;
//   - `compatibility: whitetank` (the corosync 1.x/2.x default) is accepted silently;
//     other compatibility values warn.

import { type Result, err, ok } from '../base/result';
import { type TotemConfigInput, type TotemConfigMs, TotemDefaults, deriveTotemConfigMs } from '../totem/config';
import { type AmfSettings, readAmfSections } from './amf-conf';
import { type ConfKey, type ConfNode, type ConfSection, indexSection, parseCorosyncConf } from './corosync-conf';
import { type Diagnostic, DiagnosticCode, DiagnosticSink, type SourcePosition, closestName, compareDiagnostics, hasErrors } from './diagnostics';

export type TransportName = 'udpu' | 'udp';
export type IpVersion = 'ipv4' | 'ipv6' | 'ipv4-6' | 'ipv6-4';
export type AddressFamily = 'ipv4' | 'ipv6' | 'hostname';

/** A ring0_addr as written (IPv4/IPv6 literal, or a host name resolved at start). */
export interface NodeAddress {
  readonly family: AddressFamily;
  readonly text: string;
}

export interface ClusterNode {
  readonly nodeid: number;
  /** True when the nodeid was generated from the IPv4 ring0_addr (no `nodeid` key). */
  readonly nodeidGenerated: boolean;
  readonly ring0Addr: NodeAddress;
  readonly name: string | null;
  readonly quorumVotes: number;
  /** Position of the `node {` line. */
  readonly position: SourcePosition;
}

export interface InterfaceSettings {
  readonly linknumber: 0;
  readonly mcastport: number;
  /** The udp multicast (or broadcast) group; null for udpu. */
  readonly mcastaddr: string | null;
  readonly mcastaddrSource: 'explicit' | 'cluster_name' | 'broadcast' | null;
  readonly broadcast: boolean;
  readonly ttl: number;
}

export interface CryptoSettings {
  readonly enabled: boolean;
  readonly cipher: 'none' | 'aes256';
  readonly hash: 'none' | 'sha256';
  readonly keyfile: string;
}

export interface TotemSettings {
  readonly version: 2;
  readonly clusterName: string | null;
  readonly transport: TransportName;
  readonly transportSource: 'explicit' | 'inferred';
  readonly ipVersion: IpVersion;
  readonly clearNodeHighBit: boolean;
  readonly blockUnlistedIps: boolean;
  readonly tokenWarningPercent: number;
  readonly configVersion: bigint;
  readonly crypto: CryptoSettings;
  readonly interface: InterfaceSettings;
  /** The timer values the file states (ms); totemMs holds the effective ones. */
  readonly explicit: Readonly<TotemConfigInput>;
  /** `totem { nodeid }` of corosync 2 files: ignored, kept for hints. */
  readonly legacyNodeId: number | null;
}

export interface QuorumSettings {
  readonly provider: 'corosync_votequorum';
  /** quorum.expected_votes when given, else the sum of the nodelist's votes. */
  readonly expectedVotes: number;
  readonly expectedVotesConfigured: number | null;
  readonly twoNode: boolean;
  readonly waitForAll: boolean;
  readonly waitForAllSource: 'explicit' | 'two_node' | 'default';
  readonly lastManStanding: boolean;
  readonly lastManStandingWindowMs: number;
  readonly autoTieBreaker: boolean;
  readonly autoTieBreakerNode: 'lowest' | 'highest' | readonly number[];
  readonly allowDownscale: boolean;
  readonly expectedVotesTracking: boolean;
}

export type DebugLevel = 'off' | 'on' | 'trace';

export interface LoggerSubsys {
  readonly subsys: string;
  /** null: inherit from the top-level logging { }. */
  readonly debug: DebugLevel | null;
  readonly toStderr: boolean | null;
  readonly toLogfile: boolean | null;
  readonly toSyslog: boolean | null;
  readonly logfile: string | null;
  readonly syslogFacility: string | null;
  readonly syslogPriority: string | null;
  readonly logfilePriority: string | null;
  readonly position: SourcePosition;
}

export interface LoggingSettings {
  readonly toStderr: boolean;
  readonly toLogfile: boolean;
  readonly logfile: string | null;
  readonly toSyslog: boolean;
  readonly syslogFacility: string;
  readonly syslogPriority: string;
  readonly logfilePriority: string;
  readonly debug: DebugLevel;
  readonly timestamp: 'off' | 'on' | 'hires';
  readonly fileline: boolean;
  readonly functionName: boolean;
  readonly blackbox: boolean;
  readonly subsystems: readonly LoggerSubsys[];
}

export interface HttpListen {
  readonly host: string;
  readonly port: number;
}

export interface CarillonSettings {
  readonly stateDir: string;
  readonly ipcSocket: string;
  /** null when `http_listen: off`. */
  readonly httpListen: HttpListen | null;
  readonly localNodeId: number | null;
  readonly tickMs: number;
  /** The Asterisk bridge's res_corosync.conf; null: no bridge. */
  readonly resCorosyncConf: string | null;
}

/**
 * corosync's `system { }` scheduling keys, honoured by carillond at start
 * (src/runtime/scheduling.ts): SCHED_RR at the highest priority with `sched_rr: yes`,
 * else `priority` as a nice value.
 */
export interface SystemSettings {
  /** system.sched_rr; default no (corosync: yes — see the deviation in scheduling.ts). */
  readonly schedRr: boolean;
  /**
   * system.priority as a nice value (max = -20, min = 19); null: leave it. Used only
   * without sched_rr. Without both keys it is -20, corosync's fallback when it cannot
   * have real time (niceIsDefault).
   */
  readonly nice: number | null;
  /** nice is the default of a system { } without sched_rr and priority, not the operator's. */
  readonly niceIsDefault: boolean;
}

export interface CarillonConfig {
  readonly file: string;
  readonly totem: TotemSettings;
  /** Effective timers exactly as corosync computes them for this nodelist (§3.13). */
  readonly totemMs: Readonly<TotemConfigMs>;
  /** In file order; empty for corosync 2 files without nodelist (see checkRunnable). */
  readonly nodelist: readonly ClusterNode[];
  /** options.localNodeId, else carillon.local_nodeid; null: find it by local addresses. */
  readonly localNodeId: number | null;
  /** null when there is no quorum provider (the cluster is then always quorate). */
  readonly quorum: QuorumSettings | null;
  readonly logging: LoggingSettings;
  readonly carillon: CarillonSettings;
  readonly system: SystemSettings;
  /** Programs carillond supervises (amf { process { } }, src/config/amf-conf.ts). */
  readonly amf: AmfSettings;
  /**
   * Where each value came from, by corosync cmap path: `totem.token`,
   * `nodelist.node.1.ring0_addr` (0-based node index), `totem` (section) ... Values point
   * at the value, sections at their name. Defaults have no entry.
   */
  readonly sources: Readonly<Record<string, SourcePosition>>;
}

export interface LoadOptions {
  /** Which nodelist entry this daemon is (overrides carillon.local_nodeid). */
  localNodeId?: number;
}

export interface LoadResult {
  /** null when there is any error; warnings never make it null. */
  readonly config: CarillonConfig | null;
  /** Parser and loader diagnostics in file order. */
  readonly diagnostics: Diagnostic[];
}

export const CarillonDefaults = {
  stateDir: '/var/lib/carillon',
  ipcSocket: '/run/carillon/carillon.sock',
  /** Loopback only: health and metrics are for the local Prometheus/systemd. */
  httpListen: { host: '127.0.0.1', port: 9405 },
  /**
   * Length of the Totem core's tick: its timers are precise to one tick. corosync's timers
   * are millisecond-precise; the driver sleeps until the next timer, so a finer tick costs
   * nothing while idle (src/runtime/driver.ts).
   */
  tickMs: 1,
  /** A tick_ms above this is warned about: every timeout may fire that much late. */
  tickMsWarnAbove: 10,
  keyfile: '/etc/carillon/authkey',
  mcastport: 5405,
  ttl: 1,
  tokenWarningPercent: 75,
  lastManStandingWindowMs: 10000,
  /** PROCESSOR_COUNT_MAX. */
  nodesMax: 384,
  /** MINIMUM_TIMEOUT: 3 · 1000 / HZ. */
  timeoutMinMs: 30,
  /** MINIMUM_TIMEOUT_HOLD: (int)(30 · 0.8 − 1000 / HZ). */
  holdMinMs: 14,
} as const;

// ---------------------------------------------------------------------------------
// Section views: merged keys (last wins, as in cmap), use tracking, leftover warnings.

interface SectionNotes {
  /** Keys and subsections read by the loader (for "did you mean"). */
  readonly known: readonly string[];
  /** Dropped since corosync 1.x/2.x: why. */
  readonly obsolete?: Readonly<Record<string, string>>;
  /** Valid corosync 3 but unused by Carillon: what it is. */
  readonly ignored?: Readonly<Record<string, string>>;
}

interface Ctx {
  readonly sink: DiagnosticSink;
  readonly sources: Record<string, SourcePosition>;
}

class SectionView {
  readonly path: string;
  readonly position: SourcePosition;
  private readonly keys: ReadonlyMap<string, ConfKey>;
  private readonly sections: readonly ConfSection[];
  private readonly used = new Set<string>();

  constructor(path: string, position: SourcePosition, children: readonly ConfNode[], ctx: Ctx) {
    this.path = path;
    this.position = positionOf(position);
    ({ keys: this.keys, sections: this.sections } = indexSection(children, (name) => this.dotted(name), ctx.sink));
  }

  /** Merges every subsection called `name` (corosync merges repeated sections in cmap). */
  static merged(parent: SectionView, name: string, ctx: Ctx): SectionView | null {
    const sections = parent.subsections(name);
    const first = sections[0];
    if (first === undefined) return null;
    for (const again of sections.slice(1)) {
      ctx.sink.warning(DiagnosticCode.duplicateKey, again, `section ${parent.dotted(name)} appears again; merged with the one on line ${first.line}`);
    }
    return new SectionView(parent.dotted(name), first, sections.flatMap((s) => s.children), ctx);
  }

  static empty(path: string, ctx: Ctx): SectionView {
    return new SectionView(path, { line: 1, col: 1 }, [], ctx);
  }

  dotted(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  /** The key, marked as used. */
  key(name: string): ConfKey | undefined {
    this.used.add(name);
    return this.keys.get(name);
  }

  /** The key without marking it (to decide things before reading). */
  peek(name: string): ConfKey | undefined {
    return this.keys.get(name);
  }

  keyNames(): string[] {
    return [...this.keys.keys()];
  }

  subsections(name: string): ConfSection[] {
    this.used.add(name);
    return this.sections.filter((s) => s.name === name);
  }

  /** Warns about every key and subsection nobody read. */
  finish(notes: SectionNotes, ctx: Ctx): void {
    const leftovers: { name: string; at: SourcePosition; what: 'key' | 'section' }[] = [
      ...[...this.keys.values()].filter((k) => !this.used.has(k.name)).map((k) => ({ name: k.name, at: k as SourcePosition, what: 'key' as const })),
      ...this.sections.filter((s) => !this.used.has(s.name)).map((s) => ({ name: s.name, at: s as SourcePosition, what: 'section' as const })),
    ];
    for (const { name, at, what } of leftovers) reportLeftover(this, name, at, what, notes, ctx);
  }
}

function reportLeftover(view: SectionView, name: string, at: SourcePosition, what: 'key' | 'section', notes: SectionNotes, ctx: Ctx): void {
  const label = what === 'key' ? `key ${view.dotted(name)}` : `section ${view.dotted(name)} { }`;
  const obsolete = notes.obsolete?.[name];
  if (obsolete !== undefined) {
    ctx.sink.warning(DiagnosticCode.obsoleteKey, at, `${label} is obsolete and ignored: ${obsolete}`);
    return;
  }
  const ignored = notes.ignored?.[name];
  if (ignored !== undefined) {
    ctx.sink.warning(DiagnosticCode.ignoredKey, at, `${label} is ignored by Carillon: ${ignored}`);
    return;
  }
  if (name.includes('.')) {
    ctx.sink.error(
      DiagnosticCode.unsupported,
      at,
      `dotted name ${view.dotted(name)} is not supported`,
      `write the nested form, e.g. 'totem { token: 3000 }' instead of 'totem.token: 3000'`,
    );
    return;
  }
  const suggestion = closestName(name, notes.known);
  ctx.sink.warning(
    DiagnosticCode.unknownKey,
    at,
    `unknown ${label}: ignored`,
    suggestion === null ? undefined : `did you mean '${suggestion}'?`,
  );
}


// ---------------------------------------------------------------------------------
// Value readers. Each reports its own errors at the value's position and returns
// undefined for absent or invalid values (the default then applies, so that relation
// checks still run and every independent error is found).

/** A plain position (never an AST node: configs are frozen and printed as JSON). */
function positionOf(at: SourcePosition): SourcePosition {
  return { line: at.line, col: at.col };
}

function valueAt(key: ConfKey): SourcePosition {
  return { line: key.line, col: key.valueCol };
}

function record(ctx: Ctx, view: SectionView, key: ConfKey, path = view.dotted(key.name)): void {
  ctx.sources[path] = valueAt(key);
}

const TRAILING_COMMENT_HINT = "corosync.conf has no trailing comments: '#' starts a comment only at the beginning of a line";

function valueHint(value: string): string | undefined {
  return /[ \t]#/.test(value) ? TRAILING_COMMENT_HINT : undefined;
}

/** coroparse safe_atoq(): optional sign, decimal digits only, within the type's range. */
function parseInteger(text: string): bigint | null {
  return /^[+-]?[0-9]+$/.test(text) ? BigInt(text) : null;
}

interface IntRange {
  readonly min: number;
  readonly max: number;
  /** corosync's default when the value is 0 (corosync silently treats 0 as unset). */
  readonly zeroMeansDefault?: string;
}

const U8 = { min: 0, max: 0xff } as const;
const U16 = { min: 0, max: 0xffff } as const;
const U32 = { min: 0, max: 0xffffffff } as const;

/** Validates an integer value (already looked up) and records where it came from. */
function intValue(ctx: Ctx, path: string, key: ConfKey, range: IntRange): number | undefined {
  ctx.sources[path] = valueAt(key);
  const parsed = parseInteger(key.value);
  if (parsed === null) {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `${path} must be an integer, not "${key.value}"`, valueHint(key.value));
    return undefined;
  }
  if (parsed === 0n && range.zeroMeansDefault !== undefined) {
    ctx.sink.error(
      DiagnosticCode.value,
      valueAt(key),
      `${path} must be at least 1`,
      `corosync 3.1.7 would silently use its default (${range.zeroMeansDefault}) instead of 0; remove the key to get the default`,
    );
    return undefined;
  }
  if (parsed < BigInt(range.min) || parsed > BigInt(range.max)) {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `${path} must be in ${range.min}..${range.max}, not ${key.value}`);
    return undefined;
  }
  return Number(parsed);
}

function readInt(ctx: Ctx, view: SectionView, name: string, range: IntRange): { value: number; key: ConfKey } | undefined {
  const key = view.key(name);
  if (key === undefined) return undefined;
  const value = intValue(ctx, view.dotted(name), key, range);
  return value === undefined ? undefined : { value, key };
}

interface ChoiceOptions {
  readonly caseInsensitive?: boolean;
  /** Why other values matter, e.g. what corosync would silently make of them. */
  readonly note?: string;
}

function choiceValue<T extends string>(ctx: Ctx, path: string, key: ConfKey, choices: readonly T[], options: ChoiceOptions = {}): T | undefined {
  ctx.sources[path] = valueAt(key);
  const text = options.caseInsensitive === true ? key.value.toLowerCase() : key.value;
  const value = choices.find((c) => c === text);
  if (value === undefined) {
    const list = choices.map((c) => `'${c}'`).join(', ');
    const note = options.note === undefined ? '' : ` (${options.note})`;
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `${path} must be one of ${list}, not "${key.value}"${note}`, valueHint(key.value));
  }
  return value;
}

function readChoice<T extends string>(ctx: Ctx, view: SectionView, name: string, choices: readonly T[], options: ChoiceOptions = {}): { value: T; key: ConfKey } | undefined {
  const key = view.key(name);
  if (key === undefined) return undefined;
  const value = choiceValue(ctx, view.dotted(name), key, choices, options);
  return value === undefined ? undefined : { value, key };
}

/**
 * Booleans differ by key in corosync: totem keys compare with "yes"/"no" only (anything
 * else silently means the default), logging accepts yes/no/on/off, secauth and the
 * logging format keys take on/off.
 */
const BoolStyle = {
  yesNo: { yes: true, no: false },
  onOff: { on: true, off: false },
  any: { yes: true, on: true, no: false, off: false },
} as const;

function boolValue(ctx: Ctx, path: string, key: ConfKey, style: Readonly<Record<string, boolean>>, note?: string): boolean | undefined {
  const choice = choiceValue(ctx, path, key, Object.keys(style), note === undefined ? {} : { note });
  return choice === undefined ? undefined : style[choice];
}

function readBool(ctx: Ctx, view: SectionView, name: string, style: Readonly<Record<string, boolean>>, note?: string): boolean | undefined {
  const key = view.key(name);
  return key === undefined ? undefined : boolValue(ctx, view.dotted(name), key, style, note);
}

/** A uint8 flag as votequorum reads it (coroparse stores quorum flags as integers). */
function readFlag(ctx: Ctx, view: SectionView, name: string): boolean | undefined {
  const key = view.peek(name);
  if (key !== undefined && /^(yes|no|on|off|true|false)$/i.test(key.value)) {
    view.key(name);
    record(ctx, view, key);
    ctx.sink.error(
      DiagnosticCode.value,
      valueAt(key),
      `${view.dotted(name)} must be 0 or 1, not "${key.value}"`,
      'votequorum reads its switches as integers (corosync rejects yes/no here)',
    );
    return undefined;
  }
  const result = readInt(ctx, view, name, U8);
  return result === undefined ? undefined : result.value !== 0;
}

function readString(ctx: Ctx, view: SectionView, name: string): { value: string; key: ConfKey } | undefined {
  const key = view.key(name);
  if (key === undefined) return undefined;
  record(ctx, view, key);
  if (key.value === '') {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `${view.dotted(name)} must not be empty`);
    return undefined;
  }
  return { value: key.value, key };
}

function readAbsolutePath(ctx: Ctx, view: SectionView, name: string): string | undefined {
  const result = readString(ctx, view, name);
  if (result === undefined) return undefined;
  if (!result.value.startsWith('/')) {
    ctx.sink.error(DiagnosticCode.value, valueAt(result.key), `${view.dotted(name)} must be an absolute path, not "${result.value}"`, valueHint(result.value));
    return undefined;
  }
  return result.value;
}

// ---------------------------------------------------------------------------------
// Addresses.

interface ParsedAddress extends NodeAddress {
  /** Canonical form for duplicate detection. */
  readonly key: string;
  /** IPv4 bytes (nodeid generation); empty otherwise. */
  readonly ipv4: readonly number[];
  /** IPv6 bytes (multicast checks); empty otherwise. */
  readonly ipv6: readonly number[];
}

function parseIpv4(text: string): Result<number[], string> {
  const parts = text.split('.');
  if (parts.length !== 4) return err(`"${text}" is not an IPv4 address: it needs four dot-separated numbers`);
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return err(`"${text}" is not an IPv4 address`);
    if (part.length > 1 && part.startsWith('0')) {
      return err(`"${text}" has a leading zero in "${part}", which the system resolver reads as octal`);
    }
    const byte = Number(part);
    if (byte > 255) return err(`"${text}" is not an IPv4 address: ${part} is larger than 255`);
    bytes.push(byte);
  }
  return ok(bytes);
}

function parseIpv6Groups(text: string, v4TailAllowed: boolean): number[] | null {
  if (text === '') return [];
  const groups = text.split(':');
  const bytes: number[] = [];
  for (const [i, group] of groups.entries()) {
    if (v4TailAllowed && i === groups.length - 1 && group.includes('.')) {
      const v4 = parseIpv4(group);
      if (!v4.ok) return null;
      bytes.push(...v4.value);
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(group)) {
      const n = parseInt(group, 16);
      bytes.push(n >> 8, n & 0xff);
    } else {
      return null;
    }
  }
  return bytes;
}

function parseIpv6(text: string): Result<number[], string> {
  const invalid = err(`"${text}" is not an IPv6 address`);
  const percent = text.indexOf('%');
  const address = percent >= 0 ? text.slice(0, percent) : text;
  if (percent >= 0 && !/^[A-Za-z0-9_.-]+$/.test(text.slice(percent + 1))) return invalid;
  const halves = address.split('::');
  if (halves.length > 2) return invalid;
  if (halves.length === 1) {
    const bytes = parseIpv6Groups(address, true);
    return bytes !== null && bytes.length === 16 ? ok(bytes) : invalid;
  }
  const head = parseIpv6Groups(halves[0] ?? '', false);
  const tail = parseIpv6Groups(halves[1] ?? '', true);
  if (head === null || tail === null || head.length + tail.length > 14) return invalid;
  return ok([...head, ...new Array<number>(16 - head.length - tail.length).fill(0), ...tail]);
}

const HOST_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isHostName(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.replace(/\.$/, '').split('.');
  return labels.every((label) => HOST_LABEL.test(label)) && !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

function parseAddress(text: string): Result<ParsedAddress, string> {
  if (text.includes(':')) {
    const v6 = parseIpv6(text);
    if (!v6.ok) return v6;
    const hex = v6.value.map((b) => b.toString(16).padStart(2, '0')).join('');
    const zone = text.includes('%') ? text.slice(text.indexOf('%')) : '';
    return ok({ family: 'ipv6', text, key: `ipv6:${hex}${zone}`, ipv4: [], ipv6: v6.value });
  }
  if (/^[0-9.]+$/.test(text)) {
    const v4 = parseIpv4(text);
    return v4.ok ? ok({ family: 'ipv4', text, key: `ipv4:${text}`, ipv4: v4.value, ipv6: [] }) : v4;
  }
  if (isHostName(text)) return ok({ family: 'hostname', text, key: `host:${text.toLowerCase()}`, ipv4: [], ipv6: [] });
  return err(`"${text}" is neither an IP address nor a host name`);
}

/**
 * The nodeid corosync generates for a node without one (totemconfig.c generate_nodeid):
 * the IPv4 address bytes read big-endian, bit 31 cleared with clear_node_high_bit.
 */
export function generateNodeId(ipv4: readonly number[], clearNodeHighBit: boolean): number {
  const [a = 0, b = 0, c = 0, d = 0] = ipv4;
  const nodeid = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  return clearNodeHighBit ? nodeid & 0x7fffffff : nodeid;
}

const utf8 = new TextEncoder();

/**
 * The udp multicast group corosync derives from cluster_name (totemconfig.c
 * get_cluster_mcast_addr, corosync-wire.md §4.3): v = v·2 + byte over the name's bytes
 * as signed chars, id = (v & 0xFFFF) + linknumber as u16; IPv4 239.192.<id >> 8>.<id % 255>
 * (modulo 255 is corosync's quirk), IPv6 ff15::<id in hex>.
 */
export function deriveMcastAddr(clusterName: string, linknumber: number, family: 'ipv4' | 'ipv6'): string {
  let v = 0;
  for (const byte of utf8.encode(clusterName)) v = (v * 2 + (byte >= 0x80 ? byte - 0x100 : byte)) & 0xffff;
  const id = (v + linknumber) & 0xffff;
  return family === 'ipv4' ? `239.192.${id >> 8}.${id % 255}` : `ff15::${id.toString(16)}`;
}

function isMulticast(address: ParsedAddress): boolean {
  if (address.family === 'ipv4') return ((address.ipv4[0] ?? 0) & 0xf0) === 0xe0;
  return address.family === 'ipv6' && address.ipv6[0] === 0xff;
}

// ---------------------------------------------------------------------------------
// Notes on keys per section: what corosync 3.1.7 dropped, what Carillon ignores.

const DROPPED_RRP = 'the corosync 2.x redundant ring protocol was replaced by knet links in corosync 3';
const KNET_ONLY = 'it only applies to transport knet';

const TOP_NOTES: SectionNotes = {
  known: ['totem', 'nodelist', 'quorum', 'logging', 'carillon', 'amf', 'system', 'compatibility'],
  obsolete: {
    aisexec: 'corosync 1.x section for the executive user/group (corosync 3 uses uidgid { })',
    service: 'corosync 1.x/2.x service plugins (e.g. pacemaker ver: 0) are no longer loaded',
    compatibility: 'corosync 1.x wire compatibility setting; corosync 3 ignores it',
  },
  ignored: {
    resources: 'corosync resource monitoring (watchdog) is not part of Carillon',
    nozzle: KNET_ONLY,
    uidgid: 'corosync IPC permissions; Carillon uses the ipc_socket file permissions',
    pload: 'the corosync load-test service is not part of Carillon',
  },
};

const TIMER_KEYS = [
  { key: 'token', field: 'token', zero: '3000' },
  { key: 'token_coefficient', field: 'tokenCoefficient', zero: null },
  { key: 'token_retransmits_before_loss_const', field: 'tokenRetransmitsBeforeLossConst', zero: '4' },
  { key: 'token_retransmit', field: 'tokenRetransmit', zero: 'derived from token' },
  { key: 'hold', field: 'hold', zero: 'derived from token_retransmit' },
  { key: 'join', field: 'join', zero: '50' },
  { key: 'send_join', field: 'sendJoin', zero: null },
  { key: 'consensus', field: 'consensus', zero: '1.2 × token' },
  { key: 'merge', field: 'merge', zero: '200' },
  { key: 'downcheck', field: 'downcheck', zero: '1000' },
  { key: 'fail_recv_const', field: 'failRecvConst', zero: '2500' },
  { key: 'seqno_unchanged_const', field: 'seqnoUnchangedConst', zero: '30' },
  { key: 'heartbeat_failures_allowed', field: 'heartbeatFailuresAllowed', zero: null },
  { key: 'max_network_delay', field: 'maxNetworkDelay', zero: '50' },
  { key: 'window_size', field: 'windowSize', zero: '50' },
  { key: 'max_messages', field: 'maxMessages', zero: '17' },
  { key: 'miss_count_const', field: 'missCountConst', zero: '5' },
] as const;

const TOTEM_NOTES: SectionNotes = {
  known: [
    'version', 'cluster_name', 'transport', 'ip_version', 'clear_node_high_bit', 'block_unlisted_ips',
    'cancel_token_hold_on_retransmit', 'token_warning', 'config_version', 'secauth', 'crypto_cipher',
    'crypto_hash', 'keyfile', 'netmtu', 'interface', ...TIMER_KEYS.map((t) => t.key),
  ],
  obsolete: {
    vsftype: 'the corosync 1.x virtual synchrony filter was removed',
    threads: 'corosync 2.x crypto worker threads were removed',
    rrp_mode: DROPPED_RRP,
    rrp_token_expired_timeout: DROPPED_RRP,
    rrp_problem_count_timeout: DROPPED_RRP,
    rrp_problem_count_threshold: DROPPED_RRP,
    rrp_problem_count_mcast_threshold: DROPPED_RRP,
    rrp_autorecovery_check_timeout: DROPPED_RRP,
    nodeid: 'corosync 3 takes nodeids from nodelist { node { nodeid } } (or generates them)',
    crypto_type: 'the corosync 2.0 name of crypto_cipher',
    crypto_accept: 'a corosync 2.0 transition setting',
  },
  ignored: {
    crypto_model: 'it selects the knet crypto library',
    link_mode: KNET_ONLY,
    knet_pmtud_interval: KNET_ONLY,
    knet_mtu: KNET_ONLY,
    knet_compression_model: KNET_ONLY,
    knet_compression_threshold: KNET_ONLY,
    knet_compression_level: KNET_ONLY,
  },
};

const INTERFACE_NOTES: SectionNotes = {
  known: ['linknumber', 'mcastport', 'mcastaddr', 'ttl', 'broadcast', 'bindnetaddr'],
  obsolete: {
    ringnumber: 'corosync 3 calls it linknumber (udp and udpu have only link 0)',
    member: 'corosync 2.x udpu member lists are replaced by nodelist { node { ring0_addr } }',
  },
  ignored: {
    knet_ping_interval: KNET_ONLY,
    knet_ping_timeout: KNET_ONLY,
    knet_ping_precision: KNET_ONLY,
    knet_pong_count: KNET_ONLY,
    knet_transport: KNET_ONLY,
    knet_link_priority: KNET_ONLY,
  },
};

const NODE_NOTES: SectionNotes = { known: ['ring0_addr', 'nodeid', 'name', 'quorum_votes'] };
const NODELIST_NOTES: SectionNotes = { known: ['node'] };

const QUORUM_NOTES: SectionNotes = {
  known: [
    'provider', 'expected_votes', 'two_node', 'wait_for_all', 'last_man_standing', 'last_man_standing_window',
    'auto_tie_breaker', 'auto_tie_breaker_node', 'allow_downscale', 'expected_votes_tracking', 'device',
  ],
  obsolete: { votes: 'deprecated in corosync 3: set quorum_votes in nodelist { node { } }' },
  ignored: {
    leaving_timeout: 'votequorum leave tuning is not configurable in Carillon',
    cancel_wait_for_all: 'it is a runtime key set by corosync-quorumtool',
  },
};

const LOG_DESTINATION_KEYS = ['to_stderr', 'to_logfile', 'to_syslog', 'logfile', 'syslog_facility', 'syslog_priority', 'logfile_priority', 'debug'];
const TOP_LEVEL_LOG_KEYS = ['timestamp', 'fileline', 'function_name', 'blackbox'];

const LOGGING_NOTES: SectionNotes = {
  known: [...LOG_DESTINATION_KEYS, ...TOP_LEVEL_LOG_KEYS, 'logger_subsys', 'to_file', 'syslog_level'],
  obsolete: { tags: 'corosync 1.x trace tags were removed' },
  ignored: { logging_daemon: 'per-daemon logging of corosync helper daemons' },
};

const LOGGER_SUBSYS_NOTES: SectionNotes = {
  known: ['subsys', ...LOG_DESTINATION_KEYS, 'to_file', 'syslog_level'],
  obsolete: { tags: 'corosync 1.x trace tags were removed' },
  ignored: Object.fromEntries(TOP_LEVEL_LOG_KEYS.map((k) => [k, 'it is valid only in the top-level logging { }'])),
};

const SYSTEM_NOTES: SectionNotes = {
  known: ['sched_rr', 'priority'],
  ignored: {
    qb_ipc_type: "libqb's IPC transport; carillond serves a unix socket (carillon.ipc_socket)",
    state_dir: 'use carillon.state_dir',
    allow_knet_handle_fallback: KNET_ONLY,
    move_to_root_cgroup: 'carillond stays in the cgroup its service manager gives it (see deploy/systemd)',
  },
};

const CARILLON_NOTES: SectionNotes = { known: ['state_dir', 'ipc_socket', 'http_listen', 'local_nodeid', 'tick_ms', 'res_corosync_conf'] };

// ---------------------------------------------------------------------------------
// totem { }

interface TransportChoice {
  readonly transport: TransportName;
  readonly source: 'explicit' | 'inferred';
}

function readTransport(ctx: Ctx, totem: SectionView, interfaces: readonly SectionView[]): TransportChoice {
  const key = totem.key('transport');
  if (key === undefined) {
    const multicast = interfaces.some((i) => i.peek('mcastaddr') !== undefined || i.peek('broadcast')?.value === 'yes');
    const transport = multicast ? 'udp' : 'udpu';
    ctx.sink.warning(
      DiagnosticCode.compat,
      totem.position,
      multicast
        ? 'no totem.transport: using udp because the interface names a multicast address (the corosync 1.x/2.x default); corosync 3 would use knet'
        : 'no totem.transport: Carillon uses udpu; corosync 3 would use knet',
      `add 'transport: ${transport}' to totem { } so that corosync 3 and Carillon agree`,
    );
    return { transport, source: 'inferred' };
  }
  record(ctx, totem, key);
  if (key.value === 'udpu' || key.value === 'udp') return { transport: key.value, source: 'explicit' };
  if (key.value === 'knet') {
    ctx.sink.error(
      DiagnosticCode.unsupported,
      valueAt(key),
      'transport knet is not supported by Carillon: use udpu or udp',
      'Carillon speaks the corosync 3.1.7 udpu/udp wire format; set transport: udpu on every node (corosync included) to mix them',
    );
  } else if (key.value === 'iba') {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), 'transport iba (InfiniBand) was removed in corosync 3: use udpu or udp');
  } else {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `totem.transport must be 'udpu' or 'udp', not "${key.value}"`, valueHint(key.value));
  }
  return { transport: 'udpu', source: 'explicit' };
}

function readVersion(ctx: Ctx, totem: SectionView, present: boolean): void {
  const version = readInt(ctx, totem, 'version', U32);
  if (version !== undefined && version.value !== 2) {
    ctx.sink.error(DiagnosticCode.value, valueAt(version.key), `totem.version must be 2, not ${version.value}`, 'corosync 3 only parses version 2 configurations');
  } else if (totem.peek('version') === undefined) {
    ctx.sink.error(
      DiagnosticCode.missing,
      totem.position,
      present ? 'totem.version is missing' : 'no totem { } section',
      "add 'totem { version: 2 }' (corosync: 'This totem parser can only parse version 2 configurations')",
    );
  }
}

function readCrypto(ctx: Ctx, totem: SectionView, transport: TransportName): CryptoSettings {
  const secauth = readBool(ctx, totem, 'secauth', BoolStyle.onOff, 'corosync reads anything but "on" as off');
  const cipherKey = readChoice(ctx, totem, 'crypto_cipher', ['none', 'aes256', 'aes192', 'aes128'] as const);
  const hashKey = readChoice(ctx, totem, 'crypto_hash', ['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const);
  const keyfile = readAbsolutePath(ctx, totem, 'keyfile') ?? CarillonDefaults.keyfile;
  const cipher = cipherKey?.value ?? (secauth === true ? 'aes256' : 'none');
  const hash = hashKey?.value ?? (secauth === true ? 'sha256' : 'none');
  const at = cipherKey !== undefined ? valueAt(cipherKey.key) : hashKey !== undefined ? valueAt(hashKey.key) : (ctx.sources['totem.secauth'] ?? totem.position);
  const off: CryptoSettings = { enabled: false, cipher: 'none', hash: 'none', keyfile };
  const inlineKey = totem.key('key');
  if (cipher === 'none' && hash === 'none') {
    if (inlineKey !== undefined) ctx.sink.warning(DiagnosticCode.ignoredKey, inlineKey, 'key totem.key is ignored: crypto is off');
    return off;
  }
  if (cipher !== 'none' && hash === 'none') {
    ctx.sink.error(DiagnosticCode.relation, at, 'crypto_cipher requires crypto_hash with value other than none');
    return off;
  }
  if (cipher !== 'aes256' || hash !== 'sha256') {
    ctx.sink.error(
      DiagnosticCode.unsupported,
      at,
      `crypto_cipher ${cipher} with crypto_hash ${hash} is not supported by Carillon`,
      'Carillon encrypts udp/udpu with AES-256-GCM: use crypto_cipher: aes256 and crypto_hash: sha256 (or secauth: on), or none/none',
    );
    return off;
  }
  if (inlineKey !== undefined) {
    ctx.sink.error(DiagnosticCode.unsupported, inlineKey, 'an inline totem.key is not supported by Carillon', `put the key in a file (carillon keygen) and name it with keyfile (default ${CarillonDefaults.keyfile})`);
  }
  ctx.sink.warning(
    DiagnosticCode.compat,
    at,
    `crypto on transport ${transport} is a Carillon extension: real corosync 3.1.7 rejects it ('crypto_cipher & crypto_hash are only valid for the Knet transport') and only Carillon nodes can join this ring`,
  );
  return { enabled: true, cipher: 'aes256', hash: 'sha256', keyfile };
}

function readConfigVersion(ctx: Ctx, totem: SectionView): bigint {
  const key = totem.key('config_version');
  if (key === undefined) return 0n;
  record(ctx, totem, key);
  // str_to_ull(): strtoull accepts a sign (and wraps negatives); we accept plain digits.
  if (!/^\+?[0-9]+$/.test(key.value) || BigInt(key.value) > 0xffffffffffffffffn) {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `totem.config_version must be an integer in 0..18446744073709551615, not "${key.value}"`, valueHint(key.value));
    return 0n;
  }
  return BigInt(key.value);
}

interface TimerInput {
  readonly input: TotemConfigInput;
}

function readTimers(ctx: Ctx, totem: SectionView): TimerInput {
  const input: TotemConfigInput = {};
  for (const timer of TIMER_KEYS) {
    const range = timer.zero === null ? U32 : { ...U32, zeroMeansDefault: timer.zero };
    const result = readInt(ctx, totem, timer.key, range);
    if (result !== undefined) input[timer.field] = result.value;
  }
  const netmtu = readInt(ctx, totem, 'netmtu', { min: 576, max: 65507, zeroMeansDefault: '1500' });
  if (netmtu !== undefined) input.netmtu = netmtu.value;
  const cancelHold = readBool(ctx, totem, 'cancel_token_hold_on_retransmit', BoolStyle.yesNo, 'corosync reads anything else as no');
  if (cancelHold !== undefined) input.cancelTokenHoldOnRetransmit = cancelHold;
  return { input };
}

// ---------------------------------------------------------------------------------
// Timer relations (totem_volatile_config_validate plus the stricter rules above).

function tokenStory(ms: TotemConfigMs, input: TotemConfigInput, nodeCount: number): string {
  const base = input.token === undefined ? `the default ${TotemDefaults.token}` : `token ${input.token}`;
  if (nodeCount <= 2) return input.token === undefined ? `${ms.token} ms, the default` : `${ms.token} ms`;
  return `${ms.token} ms effective: ${base} + ${nodeCount - 2} × token_coefficient ${ms.tokenCoefficient} for ${nodeCount} nodes`;
}

function sourceOf(ctx: Ctx, fallback: SourcePosition, ...paths: string[]): SourcePosition {
  for (const path of paths) {
    const at = ctx.sources[path];
    if (at !== undefined) return at;
  }
  return fallback;
}

function checkTimerMinimums(ctx: Ctx, ms: TotemConfigMs, input: TotemConfigInput, nodeCount: number, totemAt: SourcePosition): void {
  const min = CarillonDefaults.timeoutMinMs;
  if (ms.token < min) {
    ctx.sink.error(DiagnosticCode.value, sourceOf(ctx, totemAt, 'totem.token'), `token (${tokenStory(ms, input, nodeCount)}) may not be less than ${min} ms`);
  }
  // A value below the minimum drags the values derived from it below theirs too:
  // report only the first link of that chain.
  if (ms.tokenRetransmit < min && (ms.token >= min || input.tokenRetransmit !== undefined)) {
    if (input.tokenRetransmit !== undefined) {
      ctx.sink.error(DiagnosticCode.value, sourceOf(ctx, totemAt, 'totem.token_retransmit'), `token_retransmit (${ms.tokenRetransmit} ms) may not be less than ${min} ms`);
    } else {
      ctx.sink.error(
        DiagnosticCode.relation,
        sourceOf(ctx, totemAt, 'totem.token', 'totem.token_retransmits_before_loss_const'),
        `the derived token_retransmit (token ${ms.token} / (token_retransmits_before_loss_const ${ms.tokenRetransmitsBeforeLossConst} + 0.2) = ${ms.tokenRetransmit} ms) is less than ${min} ms`,
        'raise token or lower token_retransmits_before_loss_const',
      );
    }
  }
  const explicitHold = input.hold !== undefined;
  if (ms.hold < CarillonDefaults.holdMinMs && (explicitHold || ms.tokenRetransmit >= min)) {
    const explicit = explicitHold;
    ctx.sink.error(
      explicit ? DiagnosticCode.value : DiagnosticCode.relation,
      sourceOf(ctx, totemAt, explicit ? 'totem.hold' : 'totem.token_retransmit', 'totem.token'),
      `${explicit ? 'hold' : 'the derived hold (token_retransmit × 0.8 − 10)'} (${ms.hold} ms) may not be less than ${CarillonDefaults.holdMinMs} ms`,
    );
  }
  const simple = [
    ['join', ms.join],
    ['consensus', ms.consensus],
    ['merge', ms.merge],
    ['downcheck', ms.downcheck],
    ['max_network_delay', ms.maxNetworkDelay],
  ] as const;
  for (const [key, value] of simple) {
    if (value < min) ctx.sink.error(DiagnosticCode.value, sourceOf(ctx, totemAt, `totem.${key}`), `${key} (${value} ms) may not be less than ${min} ms`);
  }
}

function checkTimerRelations(ctx: Ctx, ms: TotemConfigMs, input: TotemConfigInput, nodeCount: number, totemAt: SourcePosition): void {
  checkTimerMinimums(ctx, ms, input, nodeCount, totemAt);
  if (ms.join >= ms.consensus) {
    ctx.sink.error(
      DiagnosticCode.relation,
      sourceOf(ctx, totemAt, 'totem.join', 'totem.consensus'),
      `join (${ms.join} ms) must be less than consensus (${ms.consensus} ms)`,
      'consensus bounds a whole membership round, which waits join ms for join messages; corosync rejects consensus < join',
    );
  }
  const consensusMin = Math.trunc(1.2 * ms.token);
  if (ms.consensus < ms.token) {
    const message = `consensus (${ms.consensus} ms) is less than token (${tokenStory(ms, input, nodeCount)})`;
    const at = sourceOf(ctx, totemAt, 'totem.consensus');
    if (nodeCount >= 3) {
      ctx.sink.error(DiagnosticCode.relation, at, message, `corosync.conf(5): with three or more nodes consensus must exceed token; use at least 1.2 × token = ${consensusMin} ms, or remove consensus to derive it`);
    } else {
      ctx.sink.warning(DiagnosticCode.relation, at, message, `corosync.conf(5) tolerates this for two nodes only, but asks for at least 1.2 × token = ${consensusMin} ms`);
    }
  } else if (ms.consensus < consensusMin) {
    ctx.sink.warning(
      DiagnosticCode.relation,
      sourceOf(ctx, totemAt, 'totem.consensus'),
      `consensus (${ms.consensus} ms) is less than 1.2 × token (${consensusMin} ms), the minimum corosync.conf(5) asks for`,
    );
  }
  if (input.tokenRetransmit !== undefined && ms.tokenRetransmit >= ms.token) {
    ctx.sink.error(DiagnosticCode.relation, sourceOf(ctx, totemAt, 'totem.token_retransmit'), `token_retransmit (${ms.tokenRetransmit} ms) must be less than token (${tokenStory(ms, input, nodeCount)})`, 'the token would be declared lost before it is ever retransmitted');
  }
  if (input.hold !== undefined && ms.hold >= ms.tokenRetransmit) {
    ctx.sink.warning(DiagnosticCode.relation, sourceOf(ctx, totemAt, 'totem.hold'), `hold (${ms.hold} ms) is not less than token_retransmit (${ms.tokenRetransmit} ms): a held token will be retransmitted needlessly`);
  }
  if (ms.maxMessages > ms.windowSize) {
    ctx.sink.error(
      DiagnosticCode.relation,
      sourceOf(ctx, totemAt, 'totem.max_messages', 'totem.window_size'),
      `max_messages (${ms.maxMessages}) must not exceed window_size (${ms.windowSize})`,
      'window_size bounds the messages of a whole token rotation, max_messages those of one node',
    );
  }
}

// ---------------------------------------------------------------------------------
// nodelist { node { } }

interface NodeDraft {
  readonly index: number;
  readonly position: SourcePosition;
  readonly address: ParsedAddress | null;
  readonly addressKey: ConfKey | null;
  readonly nodeid: number | null;
  readonly nodeidKey: ConfKey | null;
  readonly nodeidGenerated: boolean;
  readonly name: string | null;
  readonly quorumVotes: number;
}

interface NodelistResult {
  /** Valid nodes, in file order. */
  readonly nodes: ClusterNode[];
  /** Number of node { } sections (corosync's node count for token_coefficient). */
  readonly count: number;
  readonly present: boolean;
  /** The IP family of the ring, when known. */
  readonly family: 'ipv4' | 'ipv6' | null;
}

interface NodeContext {
  readonly transport: TransportName;
  readonly clearNodeHighBit: boolean;
  readonly ipVersion: IpVersion | null;
}

function readNodeAddress(ctx: Ctx, view: SectionView, settings: NodeContext): { address: ParsedAddress | null; key: ConfKey | null } {
  const key = view.key('ring0_addr');
  if (key === undefined) {
    ctx.sink.error(DiagnosticCode.missing, view.position, 'node has no ring0_addr', 'every node { } needs ring0_addr: the address the other nodes send to');
    return { address: null, key: null };
  }
  record(ctx, view, key);
  const parsed = parseAddress(key.value);
  if (!parsed.ok) {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `bad ring0_addr: ${parsed.error}`, valueHint(key.value));
    return { address: null, key };
  }
  const family = parsed.value.family;
  if ((settings.ipVersion === 'ipv4' && family === 'ipv6') || (settings.ipVersion === 'ipv6' && family === 'ipv4')) {
    ctx.sink.error(DiagnosticCode.relation, valueAt(key), `ring0_addr ${key.value} is ${family === 'ipv4' ? 'IPv4' : 'IPv6'} but totem.ip_version is ${settings.ipVersion}`);
    return { address: null, key };
  }
  return { address: parsed.value, key };
}

function readNodeId(ctx: Ctx, view: SectionView, address: ParsedAddress | null, addressKey: ConfKey | null, settings: NodeContext): { nodeid: number | null; key: ConfKey | null; generated: boolean } {
  const key = view.peek('nodeid') ?? null;
  const explicit = readInt(ctx, view, 'nodeid', U32);
  if (explicit !== undefined) {
    if (explicit.value === 0) {
      ctx.sink.error(DiagnosticCode.value, valueAt(explicit.key), 'nodeid 0 is reserved', 'use a nodeid from 1 to 4294967295');
      return { nodeid: null, key, generated: false };
    }
    return { nodeid: explicit.value, key, generated: false };
  }
  if (key !== null || address === null || addressKey === null) return { nodeid: null, key, generated: false };
  if (address.family !== 'ipv4') {
    ctx.sink.error(
      DiagnosticCode.missing,
      valueAt(addressKey),
      address.family === 'ipv6' ? `an IPv6 address requires an explicit nodeid (${address.text})` : `a host name requires an explicit nodeid (${address.text})`,
      address.family === 'ipv6'
        ? 'corosync generates nodeids from IPv4 addresses only; add nodeid to this node { }'
        : 'Carillon does not resolve names while checking the configuration, so it cannot generate the nodeid corosync would; add nodeid to this node { }',
    );
    return { nodeid: null, key, generated: false };
  }
  const generated = generateNodeId(address.ipv4, settings.clearNodeHighBit);
  if (generated === 0) {
    ctx.sink.error(DiagnosticCode.value, valueAt(addressKey), `the nodeid generated from ${address.text} is 0, which is reserved`, 'add an explicit nodeid');
    return { nodeid: null, key, generated: false };
  }
  return { nodeid: generated, key, generated: true };
}

function readNode(ctx: Ctx, section: ConfSection, index: number, settings: NodeContext): NodeDraft {
  const view = new SectionView(`nodelist.node.${index}`, section, section.children, ctx);
  ctx.sources[view.path] = positionOf(section);
  const { address, key: addressKey } = readNodeAddress(ctx, view, settings);
  const id = readNodeId(ctx, view, address, addressKey, settings);
  const name = readString(ctx, view, 'name')?.value ?? null;
  const votes = readInt(ctx, view, 'quorum_votes', U32)?.value ?? 1;
  for (const extra of view.keyNames().filter((k) => /^ring[0-9]+_addr$/.test(k) && k !== 'ring0_addr')) {
    const key = view.key(extra);
    if (key !== undefined) {
      ctx.sink.error(
        DiagnosticCode.unsupported,
        key,
        `${extra}: transport ${settings.transport} has exactly one link (ring0_addr)`,
        'corosync: "too many configured interfaces for non-Knet transport"; redundant links need knet, which Carillon does not speak',
      );
    }
  }
  view.finish(NODE_NOTES, ctx);
  return {
    index,
    position: positionOf(section),
    address,
    addressKey,
    nodeid: id.nodeid,
    nodeidKey: id.key,
    nodeidGenerated: id.generated,
    name,
    quorumVotes: votes,
  };
}

function checkNodeUniqueness(ctx: Ctx, drafts: readonly NodeDraft[]): Set<number> {
  const bad = new Set<number>();
  const byNodeid = new Map<number, NodeDraft>();
  const byAddress = new Map<string, NodeDraft>();
  const byName = new Map<string, NodeDraft>();
  let firstIp: NodeDraft | null = null;
  for (const node of drafts) {
    const addressAt = node.addressKey === null ? node.position : valueAt(node.addressKey);
    if (node.nodeid !== null) {
      const other = byNodeid.get(node.nodeid);
      if (other !== undefined) {
        const at = node.nodeidKey === null ? addressAt : valueAt(node.nodeidKey);
        const how = node.nodeidGenerated ? ` (generated from ${node.address?.text ?? '?'})` : '';
        ctx.sink.error(DiagnosticCode.relation, at, `duplicate nodeid ${node.nodeid}${how}: already used by the node on line ${other.position.line}`);
        bad.add(node.index);
      } else {
        byNodeid.set(node.nodeid, node);
      }
    }
    if (node.address !== null) {
      const other = byAddress.get(node.address.key);
      if (other !== undefined) {
        ctx.sink.error(DiagnosticCode.relation, addressAt, `duplicate ring0_addr ${node.address.text}: already used by the node on line ${other.position.line}`);
        bad.add(node.index);
      } else {
        byAddress.set(node.address.key, node);
      }
      if (node.address.family !== 'hostname') {
        if (firstIp === null) {
          firstIp = node;
        } else if (firstIp.address !== null && firstIp.address.family !== node.address.family) {
          ctx.sink.error(
            DiagnosticCode.relation,
            addressAt,
            `mixed IPv4 and IPv6 ring0_addr: ${node.address.text} is ${node.address.family === 'ipv4' ? 'IPv4' : 'IPv6'}, but the node on line ${firstIp.position.line} uses ${firstIp.address.text}`,
            'all nodes of a udp/udpu ring must use the same IP family (corosync: "Nodes for link 0 have different IP families")',
          );
          bad.add(node.index);
        }
      }
    }
    if (node.name !== null) {
      const other = byName.get(node.name);
      if (other !== undefined) {
        ctx.sink.warning(DiagnosticCode.relation, sourceOf(ctx, node.position, `nodelist.node.${node.index}.name`), `duplicate node name ${node.name}: also used by the node on line ${other.position.line}`);
      } else {
        byName.set(node.name, node);
      }
    }
  }
  return bad;
}

function readNodelist(ctx: Ctx, root: SectionView, settings: NodeContext): NodelistResult {
  const lists = root.subsections('nodelist');
  const first = lists[0];
  if (first === undefined) return { nodes: [], count: 0, present: false, family: null };
  ctx.sources['nodelist'] = positionOf(first);
  for (const again of lists.slice(1)) {
    ctx.sink.error(DiagnosticCode.syntax, again, `nodelist { } appears again (first on line ${first.line})`, 'list every node { } in one nodelist { }: corosync renumbers the nodes of a second nodelist over the first');
  }
  const view = new SectionView('nodelist', first, first.children, ctx);
  const sections = view.subsections('node');
  view.finish(NODELIST_NOTES, ctx);
  if (sections.length === 0) ctx.sink.error(DiagnosticCode.missing, first, 'nodelist { } has no node { }');
  if (sections.length > CarillonDefaults.nodesMax) {
    ctx.sink.error(DiagnosticCode.value, first, `nodelist has ${sections.length} nodes; corosync supports at most ${CarillonDefaults.nodesMax}`);
  }
  const drafts = sections.map((section, index) => readNode(ctx, section, index, settings));
  const bad = checkNodeUniqueness(ctx, drafts);
  const nodes: ClusterNode[] = [];
  for (const draft of drafts) {
    if (bad.has(draft.index) || draft.address === null || draft.nodeid === null) continue;
    nodes.push({
      nodeid: draft.nodeid,
      nodeidGenerated: draft.nodeidGenerated,
      ring0Addr: { family: draft.address.family, text: draft.address.text },
      name: draft.name,
      quorumVotes: draft.quorumVotes,
      position: draft.position,
    });
  }
  const ip = drafts.find((d) => d.address !== null && d.address.family !== 'hostname')?.address?.family;
  return { nodes, count: sections.length, present: true, family: ip === 'ipv4' || ip === 'ipv6' ? ip : null };
}

// ---------------------------------------------------------------------------------
// totem { interface { } }

interface InterfaceContext {
  readonly transport: TransportName;
  readonly clusterName: string | null;
  readonly family: 'ipv4' | 'ipv6' | null;
  readonly hasNodelist: boolean;
}

function readInterfaceViews(ctx: Ctx, totem: SectionView): SectionView[] {
  return totem.subsections('interface').map((section) => new SectionView('totem.interface', section, section.children, ctx));
}

function checkLinkNumbers(ctx: Ctx, views: readonly SectionView[], transport: TransportName): SectionView[] {
  const link0: SectionView[] = [];
  for (const view of views) {
    const linknumber = readInt(ctx, view, 'linknumber', U8);
    if (linknumber !== undefined && linknumber.value !== 0) {
      ctx.sink.error(
        DiagnosticCode.unsupported,
        valueAt(linknumber.key),
        `linknumber ${linknumber.value}: transport ${transport} has only link 0`,
        'corosync: "too many configured interfaces for non-Knet transport"',
      );
      continue;
    }
    link0.push(view);
  }
  const [first, ...others] = link0;
  for (const other of others) {
    if (first !== undefined) ctx.sink.warning(DiagnosticCode.duplicateKey, other.position, `a second interface { } for link 0 (first on line ${first.position.line}): merged`);
  }
  return link0;
}

function readInterfaceKeys(ctx: Ctx, view: SectionView, settings: InterfaceContext, into: Map<string, ConfKey>): void {
  for (const name of ['mcastport', 'mcastaddr', 'ttl', 'broadcast', 'bindnetaddr', 'knet_link_priority']) {
    const key = view.key(name);
    if (key !== undefined) into.set(name, key);
  }
  const bindnet = into.get('bindnetaddr');
  if (bindnet !== undefined && view.peek('bindnetaddr') === bindnet) {
    ctx.sink.warning(
      DiagnosticCode.obsoleteKey,
      bindnet,
      settings.hasNodelist
        ? 'key totem.interface.bindnetaddr is obsolete and ignored: with a nodelist, corosync 3 and Carillon bind to the local node\'s ring0_addr'
        : 'key totem.interface.bindnetaddr is obsolete and ignored: Carillon binds to the local node\'s ring0_addr from nodelist { }',
    );
  }
  view.finish(INTERFACE_NOTES, ctx);
}

function udpGroup(ctx: Ctx, settings: InterfaceContext, mcastaddr: ConfKey | undefined, broadcast: boolean, totemAt: SourcePosition): Pick<InterfaceSettings, 'mcastaddr' | 'mcastaddrSource'> {
  if (broadcast) {
    if (mcastaddr !== undefined) ctx.sink.warning(DiagnosticCode.relation, valueAt(mcastaddr), 'mcastaddr is ignored with broadcast: yes');
    return { mcastaddr: '255.255.255.255', mcastaddrSource: 'broadcast' };
  }
  if (mcastaddr !== undefined) {
    const parsed = parseAddress(mcastaddr.value);
    if (!parsed.ok || parsed.value.family === 'hostname' || !isMulticast(parsed.value)) {
      ctx.sink.error(DiagnosticCode.value, valueAt(mcastaddr), `mcastaddr ${mcastaddr.value} is not a multicast address`, 'use an IPv4 address in 239.0.0.0/8 (or 224.0.0.0/4) or an IPv6 ff00::/8 address');
      return { mcastaddr: null, mcastaddrSource: null };
    }
    if (settings.family !== null && parsed.value.family !== settings.family) {
      ctx.sink.error(DiagnosticCode.relation, valueAt(mcastaddr), `mcastaddr ${mcastaddr.value} is not of the nodes' IP family (${settings.family})`, 'corosync: "Multicast address family does not match bind address family"');
    }
    if (parsed.value.family === 'ipv4' && parsed.value.ipv4[0] === 224 && parsed.value.ipv4[1] === 0 && parsed.value.ipv4[2] === 0) {
      ctx.sink.warning(DiagnosticCode.value, valueAt(mcastaddr), `mcastaddr ${mcastaddr.value} is in 224.0.0.0/24, reserved for local network control`, 'corosync.conf(5): avoid 224.x.x.x');
    }
    return { mcastaddr: mcastaddr.value, mcastaddrSource: 'explicit' };
  }
  if (settings.clusterName !== null) {
    return { mcastaddr: deriveMcastAddr(settings.clusterName, 0, settings.family ?? 'ipv4'), mcastaddrSource: 'cluster_name' };
  }
  ctx.sink.error(DiagnosticCode.missing, totemAt, 'transport udp needs a multicast group: set interface { mcastaddr } or totem { cluster_name }', 'corosync derives the group from cluster_name when mcastaddr is absent');
  return { mcastaddr: null, mcastaddrSource: null };
}

function readInterface(ctx: Ctx, views: readonly SectionView[], settings: InterfaceContext, totemAt: SourcePosition): InterfaceSettings {
  const keys = new Map<string, ConfKey>();
  for (const view of checkLinkNumbers(ctx, views, settings.transport)) readInterfaceKeys(ctx, view, settings, keys);
  const read = (name: string): ConfKey | undefined => keys.get(name);
  const readNumber = (name: string, range: IntRange): number | undefined => {
    const key = read(name);
    return key === undefined ? undefined : intValue(ctx, `totem.interface.${name}`, key, range);
  };
  const mcastport = readNumber('mcastport', { ...U16, zeroMeansDefault: String(CarillonDefaults.mcastport) }) ?? CarillonDefaults.mcastport;
  const ttl = readNumber('ttl', U8) ?? CarillonDefaults.ttl;
  const broadcastKey = read('broadcast');
  const broadcast = broadcastKey !== undefined && boolValue(ctx, 'totem.interface.broadcast', broadcastKey, BoolStyle.yesNo, 'corosync reads anything else as no') === true;
  const priority = read('knet_link_priority');
  if (priority !== undefined && priority.value !== '1') {
    ctx.sink.error(DiagnosticCode.unsupported, valueAt(priority), 'knet_link_priority can only be set with transport knet', 'corosync: "Can only set link priority on knet transport type"');
  }
  if (settings.transport === 'udp') {
    if (mcastport < 2) ctx.sink.error(DiagnosticCode.value, sourceOf(ctx, totemAt, 'totem.interface.mcastport'), 'mcastport must be at least 2 with udp, which also uses mcastport − 1');
    return { linknumber: 0, mcastport, ttl, broadcast, ...udpGroup(ctx, settings, read('mcastaddr'), broadcast, totemAt) };
  }
  if (ttl !== 1) {
    ctx.sink.error(DiagnosticCode.unsupported, sourceOf(ctx, totemAt, 'totem.interface.ttl'), 'ttl can only be set with transport udp', 'corosync: "Can only set ttl on multicast transport types"');
  }
  for (const name of ['mcastaddr', 'broadcast']) {
    const key = read(name);
    if (key !== undefined) ctx.sink.warning(DiagnosticCode.ignoredKey, key, `key totem.interface.${name} is ignored: it only applies to transport udp`);
  }
  return { linknumber: 0, mcastport, ttl, broadcast: false, mcastaddr: null, mcastaddrSource: null };
}

// ---------------------------------------------------------------------------------
// quorum { }

function readAtbNode(ctx: Ctx, quorum: SectionView, nodes: readonly ClusterNode[]): QuorumSettings['autoTieBreakerNode'] {
  const key = quorum.key('auto_tie_breaker_node');
  if (key === undefined) return 'lowest';
  record(ctx, quorum, key);
  if (key.value === 'lowest' || key.value === 'highest') return key.value;
  const ids = key.value.split(/[ \t]+/);
  if (!ids.every((id) => /^[0-9]+$/.test(id) && Number(id) > 0 && Number(id) <= 0xffffffff)) {
    ctx.sink.warning(
      DiagnosticCode.value,
      valueAt(key),
      `auto_tie_breaker_node must be 'lowest', 'highest' or a space-separated list of nodeids, not "${key.value}"`,
      'votequorum disables auto_tie_breaker when this value is invalid',
    );
    return [];
  }
  const list = ids.map(Number);
  for (const id of list) {
    if (nodes.length > 0 && !nodes.some((n) => n.nodeid === id)) {
      ctx.sink.warning(DiagnosticCode.relation, valueAt(key), `auto_tie_breaker_node lists nodeid ${id}, which is not in the nodelist`);
    }
  }
  return list;
}

interface QuorumFlags {
  twoNode: boolean;
  waitForAll: boolean;
  waitForAllSource: QuorumSettings['waitForAllSource'];
  lastManStanding: boolean;
  autoTieBreaker: boolean;
}

/** votequorum_readconfig(): two_node implies wait_for_all; ATB/LMS/two_node interplay. */
function resolveQuorumFlags(ctx: Ctx, quorum: SectionView, flags: QuorumFlags, nodelistVotes: number, atbInvalid: boolean): QuorumFlags {
  const result = { ...flags };
  const at = (key: string): SourcePosition => sourceOf(ctx, quorum.position, `quorum.${key}`);
  if (result.autoTieBreaker && atbInvalid) result.autoTieBreaker = false;
  if (!result.autoTieBreaker && quorum.peek('auto_tie_breaker_node') !== undefined) {
    ctx.sink.warning(DiagnosticCode.relation, at('auto_tie_breaker_node'), 'auto_tie_breaker_node is meaningless when auto_tie_breaker is 0');
  }
  if (result.twoNode && result.autoTieBreaker) {
    ctx.sink.warning(DiagnosticCode.relation, at('two_node'), 'two_node and auto_tie_breaker are not compatible: two_node is disabled (as votequorum does)');
    result.twoNode = false;
  }
  if (result.autoTieBreaker && nodelistVotes % 2 === 1 && !result.waitForAll) {
    if (result.lastManStanding) {
      ctx.sink.error(DiagnosticCode.relation, at('auto_tie_breaker'), 'auto_tie_breaker & last_man_standing not available in odd sized cluster without wait_for_all', 'enable wait_for_all: 1 (mandatory for auto_tie_breaker with an odd number of votes)');
    } else {
      ctx.sink.warning(DiagnosticCode.relation, at('auto_tie_breaker'), 'auto_tie_breaker with an odd number of votes needs wait_for_all: votequorum disables auto_tie_breaker', 'set wait_for_all: 1');
      result.autoTieBreaker = false;
    }
  }
  return result;
}

function readQuorumProvider(ctx: Ctx, quorum: SectionView): boolean {
  const provider = quorum.key('provider');
  if (provider === undefined) {
    const set = quorum.keyNames().filter((k) => k !== 'provider');
    if (set.length > 0) {
      ctx.sink.warning(DiagnosticCode.missing, quorum.position, 'quorum { } has no provider: its settings are ignored and the cluster is always quorate', "add 'provider: corosync_votequorum'");
    }
    for (const name of set) quorum.key(name);
    return false;
  }
  record(ctx, quorum, provider);
  if (provider.value !== 'corosync_votequorum') {
    ctx.sink.error(DiagnosticCode.value, valueAt(provider), `quorum.provider must be corosync_votequorum, not "${provider.value}"`, valueHint(provider.value));
    return false;
  }
  return true;
}

function readQuorum(ctx: Ctx, root: SectionView, nodes: NodelistResult): QuorumSettings | null {
  const quorum = SectionView.merged(root, 'quorum', ctx);
  if (quorum === null) return null;
  ctx.sources['quorum'] = quorum.position;
  const device = quorum.subsections('device')[0];
  if (device !== undefined) {
    ctx.sink.error(DiagnosticCode.unsupported, device, 'quorum devices (corosync-qdevice) are not supported by Carillon', 'remove quorum { device { } }; Carillon counts node votes only');
  }
  const enabled = readQuorumProvider(ctx, quorum);
  const expected = readInt(ctx, quorum, 'expected_votes', { ...U32, zeroMeansDefault: 'the nodelist votes' })?.value ?? null;
  const twoNode = readFlag(ctx, quorum, 'two_node') ?? false;
  const waitForAll = readFlag(ctx, quorum, 'wait_for_all');
  const lastManStanding = readFlag(ctx, quorum, 'last_man_standing') ?? false;
  const window = readInt(ctx, quorum, 'last_man_standing_window', U32)?.value ?? CarillonDefaults.lastManStandingWindowMs;
  const autoTieBreaker = readFlag(ctx, quorum, 'auto_tie_breaker') ?? false;
  const atbNode = readAtbNode(ctx, quorum, nodes.nodes);
  const allowDownscale = readFlag(ctx, quorum, 'allow_downscale') ?? false;
  const tracking = readFlag(ctx, quorum, 'expected_votes_tracking') ?? false;
  quorum.finish(QUORUM_NOTES, ctx);
  if (!enabled) return null;
  const nodelistVotes = nodes.nodes.reduce((sum, n) => sum + n.quorumVotes, 0);
  if (!nodes.present && expected === null) {
    ctx.sink.error(DiagnosticCode.missing, quorum.position, 'votequorum needs a nodelist or quorum.expected_votes', 'corosync: "configuration error: nodelist or quorum.expected_votes must be configured!"');
  }
  const flags = resolveQuorumFlags(
    ctx,
    quorum,
    { twoNode, waitForAll: waitForAll ?? twoNode, waitForAllSource: waitForAll !== undefined ? 'explicit' : twoNode ? 'two_node' : 'default', lastManStanding, autoTieBreaker },
    nodelistVotes,
    Array.isArray(atbNode) && atbNode.length === 0,
  );
  checkQuorumAdvice(ctx, quorum, { expected, nodelistVotes, nodeCount: nodes.count, twoNode: flags.twoNode, lastManStanding, nodes: nodes.nodes });
  return {
    provider: 'corosync_votequorum',
    expectedVotes: expected ?? nodelistVotes,
    expectedVotesConfigured: expected,
    ...flags,
    lastManStandingWindowMs: window,
    autoTieBreakerNode: atbNode,
    allowDownscale,
    expectedVotesTracking: tracking || allowDownscale,
  };
}

function checkQuorumAdvice(
  ctx: Ctx,
  quorum: SectionView,
  facts: { expected: number | null; nodelistVotes: number; nodeCount: number; twoNode: boolean; lastManStanding: boolean; nodes: readonly ClusterNode[] },
): void {
  const at = (key: string): SourcePosition => sourceOf(ctx, quorum.position, `quorum.${key}`);
  if (facts.expected !== null && facts.nodelistVotes > 0 && facts.expected < facts.nodelistVotes) {
    ctx.sink.warning(
      DiagnosticCode.relation,
      at('expected_votes'),
      `expected_votes (${facts.expected}) overrides the nodelist's ${facts.nodelistVotes} votes: quorum at start is ${Math.floor(facts.expected / 2) + 1} vote(s) instead of ${Math.floor(facts.nodelistVotes / 2) + 1} (split-brain risk)`,
      facts.nodeCount === 2 ? 'for two nodes use two_node: 1 and remove expected_votes' : 'remove expected_votes to use the nodelist',
    );
  }
  if (facts.twoNode && facts.nodeCount > 2) {
    ctx.sink.warning(DiagnosticCode.relation, at('two_node'), `two_node has no effect with ${facts.nodeCount} nodes (votequorum disables it above two)`);
  }
  if (facts.lastManStanding && facts.nodes.some((n) => n.quorumVotes !== 1)) {
    ctx.sink.warning(DiagnosticCode.relation, at('last_man_standing'), 'last_man_standing does not work when nodes have quorum_votes other than 1');
  }
}

// ---------------------------------------------------------------------------------
// logging { }

const SYSLOG_FACILITIES = [
  'daemon', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
  'auth', 'authpriv', 'cron', 'ftp', 'kern', 'lpr', 'mail', 'news', 'syslog', 'user', 'uucp',
] as const;
const PRIORITIES = ['alert', 'crit', 'debug', 'emerg', 'err', 'error', 'info', 'notice', 'warning'] as const;

interface Destinations {
  debug: DebugLevel | null;
  toStderr: boolean | null;
  toLogfile: boolean | null;
  toSyslog: boolean | null;
  logfile: string | null;
  syslogFacility: string | null;
  syslogPriority: string | null;
  logfilePriority: string | null;
}

/** logconfig.c corosync_main_config_set(): the keys shared by logging and logger_subsys. */
function readDestinations(ctx: Ctx, view: SectionView): Destinations {
  let toLogfile = readBool(ctx, view, 'to_logfile', BoolStyle.any) ?? null;
  const toFile = view.key('to_file');
  if (toFile !== undefined) {
    ctx.sink.warning(DiagnosticCode.obsoleteKey, toFile, `key ${view.dotted('to_file')} is obsolete: use to_logfile`);
    if (toLogfile === null) toLogfile = boolValue(ctx, view.dotted('to_file'), toFile, BoolStyle.any) ?? null;
  }
  let syslogPriority = readChoice(ctx, view, 'syslog_priority', PRIORITIES, { caseInsensitive: true })?.value ?? null;
  const syslogLevel = view.key('syslog_level');
  if (syslogLevel !== undefined) {
    ctx.sink.warning(DiagnosticCode.obsoleteKey, syslogLevel, `key ${view.dotted('syslog_level')} is obsolete: use syslog_priority`);
    if (syslogPriority === null) syslogPriority = choiceValue(ctx, view.dotted('syslog_level'), syslogLevel, PRIORITIES, { caseInsensitive: true }) ?? null;
  }
  const logfile = readString(ctx, view, 'logfile');
  if (logfile !== undefined && !logfile.value.startsWith('/')) {
    ctx.sink.warning(DiagnosticCode.value, valueAt(logfile.key), `logfile ${logfile.value} is relative: it is resolved against the daemon's working directory`);
  }
  return {
    debug: readChoice(ctx, view, 'debug', ['off', 'on', 'trace'] as const)?.value ?? null,
    toStderr: readBool(ctx, view, 'to_stderr', BoolStyle.any) ?? null,
    toLogfile,
    toSyslog: readBool(ctx, view, 'to_syslog', BoolStyle.any) ?? null,
    logfile: logfile?.value ?? null,
    syslogFacility: readChoice(ctx, view, 'syslog_facility', SYSLOG_FACILITIES, { caseInsensitive: true })?.value ?? null,
    syslogPriority,
    logfilePriority: readChoice(ctx, view, 'logfile_priority', PRIORITIES, { caseInsensitive: true })?.value ?? null,
  };
}

function readLoggerSubsys(ctx: Ctx, section: ConfSection, topLogfile: string | null): LoggerSubsys | null {
  const view = new SectionView('logging.logger_subsys', section, section.children, ctx);
  const subsys = readString(ctx, view, 'subsys');
  const destinations = readDestinations(ctx, view);
  view.finish(LOGGER_SUBSYS_NOTES, ctx);
  if (subsys === undefined) {
    if (view.peek('subsys') === undefined) ctx.sink.error(DiagnosticCode.missing, section, 'logger_subsys { } has no subsys', 'corosync: "No subsys key in logger_subsys directive"');
    return null;
  }
  if (destinations.toLogfile === true && destinations.logfile === null && topLogfile === null) {
    ctx.sink.error(DiagnosticCode.missing, section, `logger_subsys ${subsys.value} logs to_logfile but no logfile is set`);
  }
  return { subsys: subsys.value, ...destinations, position: positionOf(section) };
}

function readLogging(ctx: Ctx, root: SectionView): LoggingSettings {
  const view = SectionView.merged(root, 'logging', ctx) ?? SectionView.empty('logging', ctx);
  const top = readDestinations(ctx, view);
  const timestamp = readChoice(ctx, view, 'timestamp', ['off', 'on', 'hires'] as const)?.value ?? 'hires';
  const fileline = readBool(ctx, view, 'fileline', BoolStyle.onOff) ?? false;
  const functionName = readBool(ctx, view, 'function_name', BoolStyle.onOff) ?? false;
  const blackbox = readBool(ctx, view, 'blackbox', BoolStyle.onOff) ?? true;
  const subsystems = view.subsections('logger_subsys').flatMap((s) => readLoggerSubsys(ctx, s, top.logfile) ?? []);
  view.finish(LOGGING_NOTES, ctx);
  const toLogfile = top.toLogfile ?? false;
  if (toLogfile && top.logfile === null) {
    ctx.sink.error(DiagnosticCode.missing, sourceOf(ctx, view.position, 'logging.to_logfile'), 'to_logfile: yes needs logfile', 'add e.g. logfile: /var/log/carillon/carillond.log');
  }
  return {
    toStderr: top.toStderr ?? true,
    toLogfile,
    logfile: top.logfile,
    toSyslog: top.toSyslog ?? true,
    syslogFacility: top.syslogFacility ?? 'daemon',
    syslogPriority: top.syslogPriority ?? 'info',
    logfilePriority: top.logfilePriority ?? 'info',
    debug: top.debug ?? 'off',
    timestamp,
    fileline,
    functionName,
    blackbox,
    subsystems,
  };
}

// ---------------------------------------------------------------------------------
// carillon { } — Carillon's own settings; corosync ignores unknown sections.

/** sun_path is 108 bytes including the NUL. */
const UNIX_SOCKET_PATH_MAX = 107;

function parseListen(text: string): Result<HttpListen | null, string> {
  if (text === 'off' || text === 'none') return ok(null);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (match === null) return err(`http_listen must be host:port, [ipv6]:port or off, not "${text}"`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return err(`http_listen port must be in 1..65535, not ${match[3] ?? ''}`);
  const address = parseAddress(host);
  if (!address.ok || (match[1] !== undefined && address.value.family !== 'ipv6')) return err(`http_listen host must be an IP address or host name, not "${host}"`);
  return ok({ host, port });
}

function readCarillon(ctx: Ctx, root: SectionView): CarillonSettings {
  const view = SectionView.merged(root, 'carillon', ctx) ?? SectionView.empty('carillon', ctx);
  const stateDir = readAbsolutePath(ctx, view, 'state_dir') ?? CarillonDefaults.stateDir;
  let ipcSocket = readAbsolutePath(ctx, view, 'ipc_socket') ?? CarillonDefaults.ipcSocket;
  if (utf8.encode(ipcSocket).length > UNIX_SOCKET_PATH_MAX) {
    ctx.sink.error(DiagnosticCode.value, sourceOf(ctx, view.position, 'carillon.ipc_socket'), `ipc_socket is longer than ${UNIX_SOCKET_PATH_MAX} bytes, the limit of a unix socket path`);
    ipcSocket = CarillonDefaults.ipcSocket;
  }
  let httpListen: HttpListen | null = CarillonDefaults.httpListen;
  const listenKey = readString(ctx, view, 'http_listen');
  if (listenKey !== undefined) {
    const listen = parseListen(listenKey.value);
    if (listen.ok) httpListen = listen.value;
    else ctx.sink.error(DiagnosticCode.value, valueAt(listenKey.key), listen.error, valueHint(listenKey.value));
  }
  const local = readInt(ctx, view, 'local_nodeid', { ...U32, min: 1 })?.value ?? null;
  const resCorosyncConf = readAbsolutePath(ctx, view, 'res_corosync_conf') ?? null;
  const tick = readInt(ctx, view, 'tick_ms', { min: 1, max: 1000 });
  if (tick !== undefined && tick.value > CarillonDefaults.tickMsWarnAbove) {
    ctx.sink.warning(DiagnosticCode.value, valueAt(tick.key), `tick_ms ${tick.value} is coarse: Totem timeouts fire up to ${tick.value} ms late (corosync's timers are millisecond-precise; the default is ${CarillonDefaults.tickMs})`);
  }
  view.finish(CARILLON_NOTES, ctx);
  return { stateDir, ipcSocket, httpListen, localNodeId: local, tickMs: tick?.value ?? CarillonDefaults.tickMs, resCorosyncConf };
}

/** corosync's nice values for system.priority. */
const NICE_MAX_PRIORITY = -20;
const NICE_MIN_PRIORITY = 19;

function readSystem(ctx: Ctx, root: SectionView): SystemSettings {
  const view = SectionView.merged(root, 'system', ctx) ?? SectionView.empty('system', ctx);
  const schedRrKey = readBool(ctx, view, 'sched_rr', BoolStyle.yesNo);
  const schedRr = schedRrKey ?? false;
  const priority = readString(ctx, view, 'priority');
  view.finish(SYSTEM_NOTES, ctx);
  if (priority === undefined) {
    // Neither key: not corosync's real time (scheduling.ts), but what corosync falls back
    // to when it cannot have real time: the highest nice priority.
    return schedRrKey === undefined ? { schedRr, nice: NICE_MAX_PRIORITY, niceIsDefault: true } : { schedRr, nice: null, niceIsDefault: false };
  }
  const text = priority.value;
  let nice: number | null = null;
  if (text === 'max') nice = NICE_MAX_PRIORITY;
  else if (text === 'min') nice = NICE_MIN_PRIORITY;
  else if (/^-?[0-9]+$/.test(text) && Number(text) >= NICE_MAX_PRIORITY && Number(text) <= NICE_MIN_PRIORITY) nice = Number(text);
  else {
    ctx.sink.error(DiagnosticCode.value, valueAt(priority.key), `priority must be max, min or a nice value in ${NICE_MAX_PRIORITY}..${NICE_MIN_PRIORITY}, got ${JSON.stringify(text)}`);
  }
  if (schedRr && nice !== null) {
    ctx.sink.warning(DiagnosticCode.value, valueAt(priority.key), 'priority applies only with sched_rr: no (corosync ignores it too)');
  }
  return { schedRr, nice, niceIsDefault: false };
}

// ---------------------------------------------------------------------------------
// Top level.

function readTopLevel(ctx: Ctx, root: SectionView): void {
  const compatibility = root.peek('compatibility');
  // whitetank was the corosync 1.x/2.x default and describes exactly the behaviour
  // corosync 3 (and Carillon) have, so it needs no warning.
  if (compatibility?.value === 'whitetank') root.key('compatibility');
  root.finish(TOP_NOTES, ctx);
}

function resolveLocalNode(ctx: Ctx, nodes: NodelistResult, fromFile: number | null, options: LoadOptions): number | null {
  const wanted = options.localNodeId ?? fromFile;
  if (wanted === null) return null;
  if (nodes.present && nodes.count === nodes.nodes.length && !nodes.nodes.some((n) => n.nodeid === wanted)) {
    const at = options.localNodeId !== undefined ? (ctx.sources['nodelist'] ?? { line: 1, col: 1 }) : sourceOf(ctx, { line: 1, col: 1 }, 'carillon.local_nodeid');
    const origin = options.localNodeId !== undefined ? 'the local nodeid given on the command line' : 'carillon.local_nodeid';
    ctx.sink.error(DiagnosticCode.relation, at, `${origin} (${wanted}) is not in the nodelist`, `nodeids in the nodelist: ${nodes.nodes.map((n) => n.nodeid).join(', ')}`);
  }
  return wanted;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function readTotem(ctx: Ctx, root: SectionView): { totem: SectionView; present: boolean } {
  const totem = SectionView.merged(root, 'totem', ctx);
  if (totem !== null) ctx.sources['totem'] = totem.position;
  return { totem: totem ?? SectionView.empty('totem', ctx), present: totem !== null };
}

function buildConfig(ctx: Ctx, root: SectionView, file: string, options: LoadOptions): CarillonConfig {
  const { totem, present } = readTotem(ctx, root);
  readVersion(ctx, totem, present);
  const interfaceViews = readInterfaceViews(ctx, totem);
  const transport = readTransport(ctx, totem, interfaceViews);
  const clusterName = readString(ctx, totem, 'cluster_name')?.value ?? null;
  const ipVersion = readChoice(ctx, totem, 'ip_version', ['ipv4', 'ipv6', 'ipv4-6', 'ipv6-4'] as const)?.value ?? null;
  const clearNodeHighBit = readBool(ctx, totem, 'clear_node_high_bit', BoolStyle.yesNo, 'corosync reads anything else as no') ?? false;
  const blockUnlistedIps = readBool(ctx, totem, 'block_unlisted_ips', BoolStyle.yesNo, 'corosync reads anything else as yes') ?? true;
  const tokenWarning = readInt(ctx, totem, 'token_warning', { min: 0, max: 100 })?.value ?? CarillonDefaults.tokenWarningPercent;
  const configVersion = readConfigVersion(ctx, totem);
  const crypto = readCrypto(ctx, totem, transport.transport);
  const legacyKey = totem.peek('nodeid');
  const legacyNodeId = legacyKey !== undefined && /^[0-9]+$/.test(legacyKey.value) ? Number(legacyKey.value) : null;
  const timers = readTimers(ctx, totem);
  const nodes = readNodelist(ctx, root, { transport: transport.transport, clearNodeHighBit, ipVersion });
  const iface = readInterface(ctx, interfaceViews, { transport: transport.transport, clusterName, family: nodes.family, hasNodelist: nodes.present }, totem.position);
  totem.finish(TOTEM_NOTES, ctx);
  const totemMs = deriveTotemConfigMs(timers.input, nodes.count);
  checkTimerRelations(ctx, totemMs, timers.input, nodes.count, totem.position);
  const quorum = readQuorum(ctx, root, nodes);
  const logging = readLogging(ctx, root);
  const carillon = readCarillon(ctx, root);
  const system = readSystem(ctx, root);
  const amf = readAmfSections(root.subsections('amf'), ctx.sink, ctx.sources);
  const localNodeId = resolveLocalNode(ctx, nodes, carillon.localNodeId, options);
  readTopLevel(ctx, root);
  return {
    file,
    totem: {
      version: 2,
      clusterName,
      transport: transport.transport,
      transportSource: transport.source,
      ipVersion: ipVersion ?? (transport.transport === 'udp' ? 'ipv4' : 'ipv6-4'),
      clearNodeHighBit,
      blockUnlistedIps,
      tokenWarningPercent: tokenWarning,
      configVersion,
      crypto,
      interface: iface,
      explicit: timers.input,
      legacyNodeId,
    },
    totemMs,
    nodelist: nodes.nodes,
    localNodeId,
    quorum,
    logging,
    carillon,
    system,
    amf,
    sources: ctx.sources,
  };
}

/**
 * Parses and validates a corosync.conf-style Carillon configuration. Never throws:
 * every problem (syntax and semantics, all of them) is a diagnostic; `config` is null
 * when any of them is an error. Warnings (obsolete keys, unknown keys...) never fail.
 */
export function loadCarillonConfig(text: string, file: string, options: LoadOptions = {}): LoadResult {
  const parsed = parseCorosyncConf(text, file);
  const sink = new DiagnosticSink(file);
  const ctx: Ctx = { sink, sources: {} };
  const root = new SectionView('', { line: 1, col: 1 }, parsed.document.children, ctx);
  const config = buildConfig(ctx, root, file, options);
  const diagnostics = [...parsed.diagnostics, ...sink.items].sort(compareDiagnostics);
  return { config: hasErrors(diagnostics) ? null : deepFreeze(config), diagnostics };
}

/**
 * What keeps carillond from starting with a configuration that loads: corosync 3 needs
 * a nodelist (it locates the local node in it), and so does Carillon, which sends to
 * every listed member. Errors only; an empty list means the daemon can start.
 */
export function checkRunnable(config: CarillonConfig): Diagnostic[] {
  const sink = new DiagnosticSink(config.file);
  if (config.nodelist.length === 0) {
    const nodeid = config.totem.legacyNodeId;
    sink.error(
      DiagnosticCode.notRunnable,
      config.sources['totem'] ?? { line: 1, col: 1 },
      'no nodelist { }: carillond cannot start (corosync 3 requires a nodelist too)',
      config.totem.legacyNodeId === null
        ? 'add nodelist { } with one node { } (ring0_addr and nodeid) per cluster member'
        : `add nodelist { } with one node { } (ring0_addr and nodeid) per cluster member; this node's old totem.nodeid ${nodeid} becomes its nodeid there`,
    );
  }
  return sink.items;
}
