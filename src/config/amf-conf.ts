// The `amf { process { } }` section of carillond's corosync.conf (architecture.md §2.6
// "amf", §2.9): which programs carillond supervises and with what restart policy
// (src/services/amf/amf-policy.ts decides, src/runtime/supervisor.ts spawns). load.ts
// calls readAmfSections() with every top-level `amf { }`; diagnostics name file:line:col
// like the rest of the loader, unknown keys warn with "did you mean".
//
//   amf {
//       process {
//           name: asterisk                        required, unique, [A-Za-z0-9_-]{1,64}
//           command: /usr/sbin/asterisk -f -U asterisk
//           health_check: ami                     none | exec | tcp | ami
//           health_address: 127.0.0.1:5038
//           quorum_policy: stop                   none | stop | restart
//       }
//   }
//
// Times are in ms, as corosync's keys are. Decisions:
//   - names may not contain '.': they become cmap keys (resources.process.<name>.state),
//     and a dotted name would make one program's keys a prefix of another's;
//   - `command` is split into argv with shell-like quoting ('…' literal, "…" with \" \\
//     \$ \` escapes, \ outside quotes escapes one character) but no shell runs it: no
//     variables, globs, pipes or redirections. An unquoted shell operator is a warning
//     that says so (write `command: /bin/sh -c '…'` to get a shell);
//   - `user` is an error, not an ignored key: silently running as root what the file
//     asked to run as another user would be worse. Use the program's own option
//     (asterisk -U asterisk);
//   - a corosync 1.x `amf { mode: disabled }` (its AMF service) is obsolete: one warning
//     at the section, nothing is supervised;
//   - health_address defaults to 127.0.0.1:5038 (Asterisk's AMI port) for ami and is
//     required for tcp; health_command is required for exec.

import { type ConfKey, type ConfNode, type ConfSection, indexSection } from './corosync-conf';
import { DiagnosticCode, type DiagnosticSink, type SourcePosition, closestName } from './diagnostics';
import type { AmfEscalation, AmfHealthCheckKind, AmfPolicySettings, AmfQuorumPolicy } from '../services/amf/amf-policy';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** One supervised program, as loaded (and frozen) from `amf { process { } }`. */
export interface AmfProcessConfig extends AmfPolicySettings {
  /** argv: the program and its arguments. */
  readonly command: readonly string[];
  /** The command as written (logs, status). */
  readonly commandText: string;
  /** null: carillond's working directory. */
  readonly workingDir: string | null;
  /** argv of the exec health check; null unless health_check is exec. */
  readonly healthCommand: readonly string[] | null;
  /** Where the tcp / ami health check connects; null otherwise. */
  readonly healthAddress: HostPort | null;
  readonly healthTimeoutMs: number;
  /** Position of the `process {` line. */
  readonly position: SourcePosition;
}

export interface AmfSettings {
  /** In file order; empty when there is no amf { } (or only a corosync 1.x one). */
  readonly processes: readonly AmfProcessConfig[];
}

export const AmfDefaults = {
  healthCheck: 'none',
  healthIntervalMs: 5000,
  healthTimeoutMs: 2000,
  healthFailures: 3,
  restartDelayMs: 1000,
  restartDelayMaxMs: 30000,
  maxRestarts: 5,
  restartWindowMs: 300000,
  escalation: 'stop',
  quorumPolicy: 'none',
  stopTimeoutMs: 10000,
  amiAddress: { host: '127.0.0.1', port: 5038 },
  /** More would be a process manager's job; this bounds daemon state and timers. */
  processesMax: 64,
  nameLengthMax: 64,
} as const;

const PROCESS_KEYS = [
  'name', 'command', 'working_dir', 'health_check', 'health_command', 'health_address', 'health_interval',
  'health_timeout', 'health_failures', 'restart_delay', 'restart_delay_max', 'max_restarts', 'restart_window',
  'escalation', 'quorum_policy', 'stop_timeout', 'user',
] as const;

const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------
// Command lines.

/** Unquoted words a shell would treat as syntax; here they are plain arguments. */
const SHELL_OPERATORS = new Set(['|', '||', '&&', ';', '&', '>', '>>', '<', '2>', '2>&1', '&>']);

export interface SplitCommand {
  readonly argv: string[];
  /** Unquoted words that look like shell syntax (operators, $VAR, globs). */
  readonly shellLike: string[];
}

/**
 * Splits a command line into argv with shell-like quoting and no expansion (see the
 * file header). Returns an error message for an unterminated quote or a trailing
 * backslash.
 */
export function splitCommandLine(text: string): { ok: true; value: SplitCommand } | { ok: false; error: string } {
  const argv: string[] = [];
  const shellLike: string[] = [];
  let word: string | null = null;
  let quotedWord = false;
  let quote: '"' | "'" | null = null;
  const endWord = (): void => {
    if (word === null) return;
    if (!quotedWord && (SHELL_OPERATORS.has(word) || /\$[A-Za-z_{(]|[*?]|^~/.test(word))) shellLike.push(word);
    argv.push(word);
    word = null;
    quotedWord = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] ?? '')) word += text[++i] ?? '';
      else word += c;
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
      quotedWord = true;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return { ok: false, error: 'the command ends with a lone backslash' };
      word = (word ?? '') + (text[++i] ?? '');
      quotedWord = true;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== null) return { ok: false, error: `the command has an unterminated ${quote === '"' ? 'double' : 'single'} quote` };
  endWord();
  return { ok: true, value: { argv, shellLike } };
}

// ---------------------------------------------------------------------------------
// A small section view: merged keys (last wins, as in cmap), use tracking, leftovers.

interface Ctx {
  readonly sink: DiagnosticSink;
  readonly sources: Record<string, SourcePosition>;
}

function valueAt(key: ConfKey): SourcePosition {
  return { line: key.line, col: key.valueCol };
}

class Keys {
  readonly path: string;
  private readonly keys: ReadonlyMap<string, ConfKey>;
  private readonly used = new Set<string>();
  readonly sections: readonly ConfSection[];

  constructor(path: string, children: readonly ConfNode[], ctx: Ctx) {
    this.path = path;
    ({ keys: this.keys, sections: this.sections } = indexSection(children, (name) => `${path}.${name}`, ctx.sink));
  }

  get(name: string): ConfKey | undefined {
    this.used.add(name);
    return this.keys.get(name);
  }

  has(name: string): boolean {
    return this.keys.has(name);
  }

  /** Warns about keys nobody read and sections not named in `sectionNames`. */
  finish(known: readonly string[], sectionNames: readonly string[], ctx: Ctx): void {
    for (const key of this.keys.values()) {
      if (this.used.has(key.name)) continue;
      const suggestion = closestName(key.name, known);
      ctx.sink.warning(DiagnosticCode.unknownKey, key, `unknown key ${this.path}.${key.name}: ignored`, suggestion === null ? undefined : `did you mean '${suggestion}'?`);
    }
    for (const section of this.sections) {
      if (sectionNames.includes(section.name)) continue;
      const suggestion = closestName(section.name, [...sectionNames, ...known]);
      ctx.sink.warning(DiagnosticCode.unknownKey, section, `unknown section ${this.path}.${section.name} { }: ignored`, suggestion === null ? undefined : `did you mean '${suggestion}'?`);
    }
  }
}

// ---------------------------------------------------------------------------------
// Value readers: report at the value, return undefined when absent or invalid.

function readText(ctx: Ctx, keys: Keys, name: string, path: string): { value: string; key: ConfKey } | undefined {
  const key = keys.get(name);
  if (key === undefined) return undefined;
  ctx.sources[path] = valueAt(key);
  if (key.value === '') {
    ctx.sink.error(DiagnosticCode.value, valueAt(key), `${keys.path}.${name} must not be empty`);
    return undefined;
  }
  return { value: key.value, key };
}

function commentHint(value: string): string | undefined {
  return /[ \t]#/.test(value) ? "corosync.conf has no trailing comments: '#' starts a comment only at the beginning of a line" : undefined;
}

function readMs(ctx: Ctx, keys: Keys, name: string, path: string, min: number, max: number): number | undefined {
  const text = readText(ctx, keys, name, path);
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text.value) || Number(text.value) < min || Number(text.value) > max) {
    ctx.sink.error(DiagnosticCode.value, valueAt(text.key), `${keys.path}.${name} must be an integer in ${min}..${max}, not "${text.value}"`, commentHint(text.value));
    return undefined;
  }
  return Number(text.value);
}

function readChoice<T extends string>(ctx: Ctx, keys: Keys, name: string, path: string, choices: readonly T[]): T | undefined {
  const text = readText(ctx, keys, name, path);
  if (text === undefined) return undefined;
  const value = choices.find((c) => c === text.value);
  if (value === undefined) {
    ctx.sink.error(DiagnosticCode.value, valueAt(text.key), `${keys.path}.${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, not "${text.value}"`, commentHint(text.value));
  }
  return value;
}

function readCommand(ctx: Ctx, keys: Keys, name: string, path: string): string[] | undefined {
  const text = readText(ctx, keys, name, path);
  if (text === undefined) return undefined;
  const split = splitCommandLine(text.value);
  if (!split.ok) {
    ctx.sink.error(DiagnosticCode.value, valueAt(text.key), `${keys.path}.${name}: ${split.error}`);
    return undefined;
  }
  if (split.value.argv.length === 0 || split.value.argv[0] === '') {
    ctx.sink.error(DiagnosticCode.value, valueAt(text.key), `${keys.path}.${name} names no program`);
    return undefined;
  }
  if (split.value.shellLike.length > 0) {
    ctx.sink.warning(
      DiagnosticCode.value,
      valueAt(text.key),
      `${keys.path}.${name} is not run by a shell: ${split.value.shellLike.map((w) => `'${w}'`).join(', ')} ${split.value.shellLike.length === 1 ? 'is' : 'are'} passed to the program as ${split.value.shellLike.length === 1 ? 'an argument' : 'arguments'}`,
      "for shell syntax write e.g. command: /bin/sh -c 'exec prog args > /var/log/prog.log'",
    );
  }
  return split.value.argv;
}

/** host:port or [ipv6]:port. */
export function parseHostPort(text: string): HostPort | null {
  const match = /^(?:\[([0-9A-Fa-f:.%a-zA-Z]+)\]|([A-Za-z0-9_.-]+)):([0-9]{1,5})$/.exec(text);
  if (match === null) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? match[2] ?? '', port };
}

// ---------------------------------------------------------------------------------
// process { }

interface HealthSettings {
  readonly healthCheck: AmfHealthCheckKind;
  readonly healthCommand: string[] | null;
  readonly healthAddress: HostPort | null;
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
  readonly healthFailures: number;
}

function readHealth(ctx: Ctx, keys: Keys, base: string, at: SourcePosition): HealthSettings {
  const chosen = readChoice(ctx, keys, 'health_check', `${base}.health_check`, ['none', 'exec', 'tcp', 'ami'] as const);
  // An invalid health_check is reported once; the keys that go with it are not judged against a guess.
  const judge = chosen !== undefined || !keys.has('health_check');
  const kind = chosen ?? AmfDefaults.healthCheck;
  const commandKey = keys.has('health_command');
  const healthCommand = readCommand(ctx, keys, 'health_command', `${base}.health_command`) ?? null;
  const addressText = readText(ctx, keys, 'health_address', `${base}.health_address`);
  let healthAddress: HostPort | null = null;
  if (addressText !== undefined) {
    healthAddress = parseHostPort(addressText.value);
    if (healthAddress === null) ctx.sink.error(DiagnosticCode.value, valueAt(addressText.key), `${keys.path}.health_address must be host:port or [ipv6]:port, not "${addressText.value}"`);
  }
  if (kind === 'exec' && !commandKey) {
    ctx.sink.error(DiagnosticCode.missing, ctx.sources[`${base}.health_check`] ?? at, 'health_check exec needs health_command', 'e.g. health_command: /usr/sbin/asterisk -rx "core show uptime"');
  }
  if (kind === 'tcp' && addressText === undefined) {
    ctx.sink.error(DiagnosticCode.missing, ctx.sources[`${base}.health_check`] ?? at, 'health_check tcp needs health_address', 'e.g. health_address: 127.0.0.1:5060');
  }
  if (judge && kind !== 'exec' && commandKey) ctx.sink.warning(DiagnosticCode.relation, ctx.sources[`${base}.health_command`] ?? at, `health_command is ignored with health_check ${kind}`);
  if (judge && (kind === 'none' || kind === 'exec') && addressText !== undefined) {
    ctx.sink.warning(DiagnosticCode.relation, valueAt(addressText.key), `health_address is ignored with health_check ${kind}`);
  }
  return {
    healthCheck: kind,
    healthCommand: kind === 'exec' ? healthCommand : null,
    healthAddress: kind === 'tcp' || kind === 'ami' ? (healthAddress ?? (kind === 'ami' ? AmfDefaults.amiAddress : null)) : null,
    healthIntervalMs: readMs(ctx, keys, 'health_interval', `${base}.health_interval`, 100, DAY_MS) ?? AmfDefaults.healthIntervalMs,
    healthTimeoutMs: readMs(ctx, keys, 'health_timeout', `${base}.health_timeout`, 10, DAY_MS) ?? AmfDefaults.healthTimeoutMs,
    healthFailures: readMs(ctx, keys, 'health_failures', `${base}.health_failures`, 1, 1000) ?? AmfDefaults.healthFailures,
  };
}

interface RestartSettings {
  readonly restartDelayMs: number;
  readonly restartDelayMaxMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
}

function readRestart(ctx: Ctx, keys: Keys, base: string): RestartSettings {
  const delay = readMs(ctx, keys, 'restart_delay', `${base}.restart_delay`, 0, DAY_MS);
  const delayMax = readMs(ctx, keys, 'restart_delay_max', `${base}.restart_delay_max`, 0, DAY_MS);
  const restartDelayMs = delay ?? AmfDefaults.restartDelayMs;
  let restartDelayMaxMs = delayMax ?? Math.max(AmfDefaults.restartDelayMaxMs, restartDelayMs);
  if (delayMax !== undefined && delayMax < restartDelayMs) {
    ctx.sink.error(
      DiagnosticCode.relation,
      ctx.sources[`${base}.restart_delay_max`] ?? { line: 1, col: 1 },
      `restart_delay_max (${delayMax} ms) must not be less than restart_delay (${restartDelayMs} ms)`,
      'the delay starts at restart_delay and doubles up to restart_delay_max',
    );
    restartDelayMaxMs = restartDelayMs;
  }
  return {
    restartDelayMs,
    restartDelayMaxMs,
    maxRestarts: readMs(ctx, keys, 'max_restarts', `${base}.max_restarts`, 0, 10000) ?? AmfDefaults.maxRestarts,
    restartWindowMs: readMs(ctx, keys, 'restart_window', `${base}.restart_window`, 1, 30 * DAY_MS) ?? AmfDefaults.restartWindowMs,
  };
}

function readName(ctx: Ctx, keys: Keys, base: string, section: ConfSection): string | undefined {
  const text = readText(ctx, keys, 'name', `${base}.name`);
  if (text === undefined) {
    if (!keys.has('name')) ctx.sink.error(DiagnosticCode.missing, section, 'process { } has no name', 'add e.g. name: asterisk (it names the program in logs, cmap and `carillon sam status`)');
    return undefined;
  }
  if (!NAME_PATTERN.test(text.value) || text.value.length > AmfDefaults.nameLengthMax) {
    ctx.sink.error(
      DiagnosticCode.value,
      valueAt(text.key),
      `amf.process.name must be 1..${AmfDefaults.nameLengthMax} characters of [A-Za-z0-9_-], not "${text.value}"`,
      text.value.includes('.') ? "the name becomes a cmap key component (resources.process.<name>.state): '.' would nest it" : undefined,
    );
    return undefined;
  }
  return text.value;
}

/** The process's name (when valid) and its settings (when all of them are valid). */
function readProcess(ctx: Ctx, section: ConfSection, index: number): { name: string | undefined; config: AmfProcessConfig | null } {
  const keys = new Keys('amf.process', section.children, ctx);
  const base = `amf.process.${index}`;
  const at = { line: section.line, col: section.col };
  ctx.sources[base] = at;
  const name = readName(ctx, keys, base, section);
  const command = readCommand(ctx, keys, 'command', `${base}.command`);
  if (!keys.has('command')) ctx.sink.error(DiagnosticCode.missing, section, `process { }${name === undefined ? '' : ` ${name}`} has no command`, 'add e.g. command: /usr/sbin/asterisk -f');
  const workingDirText = readText(ctx, keys, 'working_dir', `${base}.working_dir`);
  if (workingDirText !== undefined && !workingDirText.value.startsWith('/')) {
    ctx.sink.error(DiagnosticCode.value, valueAt(workingDirText.key), `amf.process.working_dir must be an absolute path, not "${workingDirText.value}"`);
  }
  const user = keys.get('user');
  if (user !== undefined) {
    ctx.sink.error(
      DiagnosticCode.unsupported,
      valueAt(user),
      'amf.process.user is not supported: carillond starts programs as its own user',
      "use the program's own option to drop privileges (e.g. asterisk -U asterisk -G asterisk)",
    );
  }
  const health = readHealth(ctx, keys, base, at);
  const restart = readRestart(ctx, keys, base);
  const escalation: AmfEscalation = readChoice(ctx, keys, 'escalation', `${base}.escalation`, ['stop', 'leave'] as const) ?? AmfDefaults.escalation;
  const quorumPolicy: AmfQuorumPolicy = readChoice(ctx, keys, 'quorum_policy', `${base}.quorum_policy`, ['none', 'stop', 'restart'] as const) ?? AmfDefaults.quorumPolicy;
  const stopTimeoutMs = readMs(ctx, keys, 'stop_timeout', `${base}.stop_timeout`, 100, 600_000) ?? AmfDefaults.stopTimeoutMs;
  keys.finish(PROCESS_KEYS, [], ctx);
  const invalidDir = workingDirText !== undefined && !workingDirText.value.startsWith('/');
  if (name === undefined || command === undefined || user !== undefined || invalidDir) return { name, config: null };
  const config: AmfProcessConfig = {
    name,
    command,
    commandText: keys.get('command')?.value ?? '',
    workingDir: workingDirText?.value ?? null,
    ...health,
    ...restart,
    escalation,
    quorumPolicy,
    stopTimeoutMs,
    position: at,
  };
  return { name, config };
}

/**
 * Reads every top-level `amf { }` (merged, as corosync merges repeated sections).
 * Errors and warnings go to the sink; invalid processes are left out (the loader then
 * has errors, so the configuration is null anyway).
 */
export function readAmfSections(sections: readonly ConfSection[], sink: DiagnosticSink, sources: Record<string, SourcePosition>): AmfSettings {
  const ctx: Ctx = { sink, sources };
  const first = sections[0];
  if (first === undefined) return { processes: [] };
  sources['amf'] = { line: first.line, col: first.col };
  for (const again of sections.slice(1)) {
    sink.warning(DiagnosticCode.duplicateKey, again, `section amf appears again; merged with the one on line ${first.line}`);
  }
  const keys = new Keys('amf', sections.flatMap((s) => s.children), ctx);
  const mode = keys.get('mode');
  if (mode !== undefined) {
    sink.warning(
      DiagnosticCode.obsoleteKey,
      first,
      `amf { mode: ${mode.value} } is the corosync 1.x AMF service, which no longer exists: ignored`,
      "Carillon's amf { } supervises the programs listed in process { } subsections",
    );
  }
  const processSections = keys.sections.filter((s) => s.name === 'process');
  if (processSections.length > AmfDefaults.processesMax) {
    sink.error(DiagnosticCode.value, first, `amf { } lists ${processSections.length} processes; carillond supervises at most ${AmfDefaults.processesMax}`);
  }
  const processes: AmfProcessConfig[] = [];
  const lineByName = new Map<string, number>();
  processSections.forEach((section, index) => {
    const { name, config } = readProcess(ctx, section, index);
    if (name === undefined) return;
    const otherLine = lineByName.get(name);
    if (otherLine !== undefined) {
      sink.error(DiagnosticCode.relation, sources[`amf.process.${index}.name`] ?? section, `duplicate amf process name ${name}: already used by the process on line ${otherLine}`);
      return;
    }
    lineByName.set(name, section.line);
    if (config !== null) processes.push(config);
  });
  keys.finish(['process', 'mode'], ['process'], ctx);
  return { processes };
}
