// `carillon config check FILE [--json]` — the `corosync -t` of Carillon (architecture.md
// §2.8, §2.9): loads FILE with src/config/load.ts, adds what keeps carillond from
// starting (checkRunnable), prints every diagnostic and, for a valid file, a summary of
// the effective configuration: cluster, transport, nodes, quorum and the totem timers
// as `corosync-cmapctl runtime.config.totem` shows them on a corosync 3.1.7 node with
// the same file (the knet_* keys corosync also lists are left out: they do not apply
// to udp/udpu).
//
// Output: diagnostics go to stderr as `file:line:col: severity: message` (+ `  hint:`),
// the summary to stdout. With --json, one JSON object on stdout:
//   { file, valid, errors: [Diagnostic], warnings: [Diagnostic], effective }
// where effective is the loaded configuration (null when it did not load), u64 values
// as decimal strings, plus `runtime`: the runtime.config.totem.* map.
//
// Exit status: 0 valid (warnings allowed); 78 (EX_CONFIG) configuration errors; 1 the
// file cannot be read.
//
// An Asterisk-dialect file (res_corosync.conf, res-corosync.md §1.7) is recognised by
// its first non-blank, non-comment line (`[section]` or `#include`) or by a base name
// containing `res_corosync`, and checked with src/asterisk/bridge-config.ts instead:
// same diagnostics and exit status; the summary says what is published and subscribed,
// the AMI/ARI endpoints (never their secrets), the device mapping and the purge policy;
// --json prints { file, kind: 'res_corosync', valid, errors, warnings, effective } with
// secrets replaced by "***".

import * as fs from 'node:fs';
import { type Diagnostic, formatDiagnostic } from '../../config/diagnostics';
import { type CarillonConfig, checkRunnable, loadCarillonConfig } from '../../config/load';
import { describeBridgeSettings, loadBridgeConfig, redactedBridgeSettings } from '../../asterisk/bridge-config';
import { type ConfigReader, DEFAULT_ASTERISK_CONF_LIMITS } from '../../config/asterisk-conf';

/** Where the command writes: one call per line, without the newline. */
export interface ConfigCheckIo {
  out(line: string): void;
  err(line: string): void;
}

export interface ConfigCheckOptions {
  json: boolean;
}

export const ConfigCheckExit = { ok: 0, unreadable: 1, invalid: 78 } as const;

const COMMAND = 'carillon config check';

/**
 * runtime.config.totem.* as corosync 3.1.7 stores it (totem_volatile_config_read), in
 * corosync-cmapctl's (alphabetical) order, all u32.
 */
export function runtimeConfigTotem(config: CarillonConfig): Record<string, number> {
  const ms = config.totemMs;
  const entries: [string, number][] = [
    ['block_unlisted_ips', config.totem.blockUnlistedIps ? 1 : 0],
    ['cancel_token_hold_on_retransmit', ms.cancelTokenHoldOnRetransmit ? 1 : 0],
    ['consensus', ms.consensus],
    ['downcheck', ms.downcheck],
    ['fail_recv_const', ms.failRecvConst],
    ['heartbeat_failures_allowed', ms.heartbeatFailuresAllowed],
    ['hold', ms.hold],
    ['join', ms.join],
    ['max_messages', ms.maxMessages],
    ['max_network_delay', ms.maxNetworkDelay],
    ['merge', ms.merge],
    ['miss_count_const', ms.missCountConst],
    ['send_join', ms.sendJoin],
    ['seqno_unchanged_const', ms.seqnoUnchangedConst],
    ['token', ms.token],
    ['token_retransmit', ms.tokenRetransmit],
    ['token_retransmits_before_loss_const', ms.tokenRetransmitsBeforeLossConst],
    ['token_warning', config.totem.tokenWarningPercent],
    ['window_size', ms.windowSize],
  ];
  return Object.fromEntries(entries.map(([key, value]) => [`runtime.config.totem.${key}`, value]));
}

function describeQuorum(config: CarillonConfig): string {
  const q = config.quorum;
  if (q === null) return 'none (no quorum provider: always quorate)';
  const features = [
    q.twoNode ? 'two_node' : null,
    q.waitForAll ? `wait_for_all${q.waitForAllSource === 'two_node' ? ' (implied by two_node)' : ''}` : null,
    q.lastManStanding ? `last_man_standing (window ${q.lastManStandingWindowMs} ms)` : null,
    q.autoTieBreaker ? `auto_tie_breaker (${Array.isArray(q.autoTieBreakerNode) ? q.autoTieBreakerNode.join(' ') : String(q.autoTieBreakerNode)})` : null,
    q.allowDownscale ? 'allow_downscale' : null,
  ].filter((f) => f !== null);
  return [`${q.provider}, expected_votes ${q.expectedVotes}`, ...features].join(', ');
}

function describeTransport(config: CarillonConfig): string {
  const t = config.totem;
  const i = t.interface;
  const inferred = t.transportSource === 'inferred' ? ' (no transport key)' : '';
  if (t.transport === 'udpu') return `udpu${inferred}, port ${i.mcastport}`;
  const group = i.mcastaddrSource === 'cluster_name' ? `${i.mcastaddr ?? '?'} (derived from cluster_name)` : (i.mcastaddr ?? '?');
  return `udp${inferred}, group ${group}, ports ${i.mcastport} and ${i.mcastport - 1}, ttl ${i.ttl}`;
}

function printSummary(config: CarillonConfig, io: ConfigCheckIo): void {
  io.out(`cluster_name: ${config.totem.clusterName ?? '(none)'}`);
  io.out(`transport: ${describeTransport(config)}`);
  io.out(`crypto: ${config.totem.crypto.enabled ? `AES-256-GCM, key ${config.totem.crypto.keyfile}` : 'off'}`);
  io.out(`nodes: ${config.nodelist.length}`);
  for (const node of config.nodelist) {
    const generated = node.nodeidGenerated ? ' (generated)' : '';
    const local = node.nodeid === config.localNodeId ? '  (local)' : '';
    io.out(`  nodeid ${node.nodeid}${generated}  ${node.ring0Addr.text}${node.name === null ? '' : `  ${node.name}`}${local}`);
  }
  if (config.localNodeId === null) io.out('local node: chosen at start by matching the local addresses');
  io.out(`quorum: ${describeQuorum(config)}`);
  io.out(`runtime.config.totem (effective for ${config.nodelist.length} nodes):`);
  for (const [key, value] of Object.entries(runtimeConfigTotem(config))) io.out(`${key} (u32) = ${value}`);
}

function jsonDiagnostic(d: Diagnostic): Record<string, unknown> {
  return { ...d };
}

function effectiveJson(config: CarillonConfig): Record<string, unknown> {
  const { file: _file, sources: _sources, ...rest } = config;
  return { ...rest, runtime: runtimeConfigTotem(config) };
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function readText(file: string): { ok: true; text: string } | { ok: false; message: string } {
  try {
    return { ok: true, text: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    // Not `instanceof Error`: fs errors can come from another realm (e.g. under jest).
    return { ok: false, message: typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e) };
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Checks FILE; see the file header for output and exit status. */
export function runConfigCheck(file: string, io: ConfigCheckIo, opts: ConfigCheckOptions): number {
  const read = readText(file);
  if (!read.ok) {
    io.err(`${COMMAND}: cannot read ${file}: ${read.message}`);
    if (opts.json) io.out(JSON.stringify({ file, valid: false, readable: false, error: read.message, errors: [], warnings: [], effective: null }));
    return ConfigCheckExit.unreadable;
  }
  if (detectConfigKind(file, read.text) === 'res_corosync') return checkBridgeConfig(file, read.text, io, opts);
  const loaded = loadCarillonConfig(read.text, file);
  const diagnostics = loaded.config === null ? loaded.diagnostics : [...loaded.diagnostics, ...checkRunnable(loaded.config)];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const warnings = diagnostics.filter((d) => d.severity === 'warning');
  const valid = errors.length === 0;
  if (opts.json) {
    const effective = loaded.config === null ? null : effectiveJson(loaded.config);
    io.out(JSON.stringify({ file, valid, errors: errors.map(jsonDiagnostic), warnings: warnings.map(jsonDiagnostic), effective }, bigintAsString));
    return valid ? ConfigCheckExit.ok : ConfigCheckExit.invalid;
  }
  // io takes one line per call; a diagnostic with a hint is two.
  for (const d of diagnostics) for (const line of formatDiagnostic(d).split('\n')) io.err(line);
  if (!valid) {
    const loadedNote = loaded.config === null ? '' : ' (the file loads, but carillond cannot start with it)';
    io.err(`${COMMAND}: ${file}: ${plural(errors.length, 'error')}, ${plural(warnings.length, 'warning')}${loadedNote}`);
    return ConfigCheckExit.invalid;
  }
  io.out(`${file}: valid${warnings.length === 0 ? '' : ` (${plural(warnings.length, 'warning')})`}`);
  if (loaded.config !== null) printSummary(loaded.config, io);
  return ConfigCheckExit.ok;
}

export type ConfigKind = 'corosync' | 'res_corosync';

/**
 * corosync.conf or Asterisk dialect: the base name says res_corosync, or the first line
 * that is neither blank nor a comment (`#` for corosync, `;` and `;-- --;` for Asterisk)
 * is a `[section]` header or an `#include` / `#tryinclude`.
 */
export function detectConfigKind(file: string, text: string): ConfigKind {
  const base = file.slice(file.lastIndexOf('/') + 1);
  if (base.includes('res_corosync')) return 'res_corosync';
  let inBlockComment = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (inBlockComment) {
      inBlockComment = !line.includes('--;');
      continue;
    }
    if (line.startsWith(';--') && !line.startsWith(';---')) {
      inBlockComment = !line.slice(3).includes('--;');
      continue;
    }
    if (line === '' || line.startsWith(';')) continue;
    if (/^#(try)?include\b/i.test(line)) return 'res_corosync';
    if (line.startsWith('#')) continue;
    return line.startsWith('[') ? 'res_corosync' : 'corosync';
  }
  return 'corosync';
}

/**
 * Reads an included file, never more than the parser accepts plus a little: enough
 * bytes that an oversized file still decodes to more characters than the limit (a
 * UTF-16 unit takes at most 3 UTF-8 bytes), so the parser reports it as too large.
 */
function readIncluded(path: string): string | null {
  const bytesMax = 3 * (DEFAULT_ASTERISK_CONF_LIMITS.fileCharsMax + 1);
  let fd: number | null = null;
  try {
    fd = fs.openSync(path, 'r');
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return null;
    const buffer = Buffer.alloc(Math.min(stat.size, bytesMax));
    let length = 0;
    while (length < buffer.length) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function checkBridgeConfig(file: string, text: string, io: ConfigCheckIo, opts: ConfigCheckOptions): number {
  const read: ConfigReader = (path) => (path === file ? text : readIncluded(path));
  const loaded = loadBridgeConfig(file, read);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  const warnings = loaded.diagnostics.filter((d) => d.severity === 'warning');
  const valid = loaded.settings !== null;
  if (opts.json) {
    const effective = loaded.settings === null ? null : redactedBridgeSettings(loaded.settings);
    io.out(JSON.stringify({ file, kind: 'res_corosync', valid, errors: errors.map(jsonDiagnostic), warnings: warnings.map(jsonDiagnostic), effective }));
    return valid ? ConfigCheckExit.ok : ConfigCheckExit.invalid;
  }
  for (const d of loaded.diagnostics) for (const line of formatDiagnostic(d).split('\n')) io.err(line);
  if (loaded.settings === null) {
    io.err(`${COMMAND}: ${file}: ${plural(errors.length, 'error')}, ${plural(warnings.length, 'warning')}`);
    return ConfigCheckExit.invalid;
  }
  io.out(`${file}: valid res_corosync.conf${warnings.length === 0 ? '' : ` (${plural(warnings.length, 'warning')})`}`);
  for (const line of describeBridgeSettings(loaded.settings)) io.out(line);
  return ConfigCheckExit.ok;
}
