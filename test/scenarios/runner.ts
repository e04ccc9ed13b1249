// Datadriven scenario transcripts (testing.md §4.1.3, in the style of etcd-raft's
// testdata/*.txt). A file is a list of blocks separated by blank lines:
//
//   command args…
//   ----
//   expected output
//
// Commands: `add-nodes N [token=MS] [seed=S]`, `tick N`, `stabilize [max=N]`,
// `deliver A->B drop=TYPE[,TYPE]` (drop those message types on that link; `deliver A->B`
// alone removes the drop), `split 1 2 | 3`, `join`, `mcast N "text"`, `crash N`,
// `restart N`, `pause N TICKS`, `leave N`, `show members`, `check`. Lines starting with
// `#` are comments. The output is a readable trace: state changes, token losses,
// configuration changes and deliveries, one line each, with the tick.
//
// Run with UPDATE_GOLDEN=1 to rewrite the expected outputs, then review the diff.

import { readFileSync, writeFileSync } from 'node:fs';
import type { MessageTypeName } from '../sim/network';
import { checkEvs } from '../sim/checkers/evs';
import { formatViolation } from '../sim/checkers/violation';
import type { SimCluster } from '../sim/cluster';
import { convergence, scenarioCluster } from '../sim/scenario';

export interface Block {
  readonly command: string;
  readonly expected: string;
  readonly line: number;
}

export function parseScenario(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    const start = i;
    const command = line.trim();
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after "${command}"`);
    i++;
    const out: string[] = [];
    while (i < lines.length && (lines[i] as string) !== '') out.push(lines[i++] as string);
    blocks.push({ command, expected: out.join('\n'), line: start + 1 });
  }
  return blocks;
}

export function formatScenario(blocks: readonly { command: string; output: string }[], header: string): string {
  const body = blocks.map((b) => `${b.command}\n----\n${b.output}`).join('\n\n');
  return `${header}${body}\n`;
}

const STATE_EVENTS: Record<string, string> = {
  GatherEnter: 'gather', CommitEnter: 'commit', RecoveryEnter: 'recovery', OperationalEnter: 'operational',
};

/** One scenario run: a cluster plus the trace lines collected since the last command. */
export class ScenarioRun {
  private cluster: SimCluster | null = null;
  private lines: string[] = [];
  private readonly filters = new Map<string, number>();

  run(command: string): string {
    this.lines = [];
    const [verb = '', ...args] = tokenize(command);
    switch (verb) {
      case 'add-nodes': this.addNodes(args); break;
      case 'tick': this.tick(count(args[0], 'tick')); break;
      case 'stabilize': this.stabilize(args); break;
      case 'deliver': this.deliver(args); break;
      case 'split': this.split(args); break;
      case 'join': this.c.network.healAll(this.c.now); this.filters.clear(); this.c.network.clearFilters(); break;
      case 'mcast': this.mcast(args); break;
      case 'crash': this.c.crash(count(args[0], 'node')); break;
      case 'restart': this.c.start(count(args[0], 'node')); break;
      case 'pause': this.c.pause(count(args[0], 'node'), count(args[1], 'ticks')); break;
      case 'leave': this.c.leave(count(args[0], 'node')); break;
      case 'show': this.show(args[0]); break;
      case 'check': this.check(); break;
      default: throw new Error(`unknown command "${verb}"`);
    }
    return this.lines.length === 0 ? 'ok' : this.lines.join('\n');
  }

  private get c(): SimCluster {
    if (this.cluster === null) throw new Error('add-nodes first');
    return this.cluster;
  }

  private addNodes(args: string[]): void {
    const n = count(args[0], 'add-nodes');
    const opts = keyValues(args.slice(1));
    this.cluster = scenarioCluster({
      nodes: n, seed: Number(opts.get('seed') ?? 1), tokenMs: Number(opts.get('token') ?? 300),
      trace: (r) => this.onTrace(r),
    });
    const config = this.cluster.options.config;
    this.lines.push(`${n} nodes, token ${config.tokenTicks} ticks, consensus ${config.consensusTicks} ticks`);
    this.cluster.startAll();
  }

  private onTrace(r: Record<string, unknown>): void {
    const t = `t=${String(r.t)}`;
    if (r.ev === 'node') {
      const name = String(r.name);
      const detail = (r.detail ?? {}) as Record<string, unknown>;
      const state = STATE_EVENTS[name];
      if (state !== undefined) {
        const why = detail.reason === undefined ? '' : ` (${String(detail.reason)})`;
        this.lines.push(`${t} n${String(r.nodeId)} ${state}${why}`);
      } else if (name === 'TokenLost') {
        this.lines.push(`${t} n${String(r.nodeId)} token lost in ${String(detail.state)}`);
      }
    } else if (r.ev === 'confchg') {
      const list = (v: unknown) => `[${(v as number[]).join(',')}]`;
      this.lines.push(`${t} n${String(r.node)} ${String(r.type)} ${String(r.ring)} members=${list(r.members)}`
        + `${(r.left as number[]).length > 0 ? ` left=${list(r.left)}` : ''}${(r.joined as number[]).length > 0 ? ` joined=${list(r.joined)}` : ''}`);
    } else if (r.ev === 'deliver') {
      const what = r.text === undefined ? String(r.msg) : JSON.stringify(r.text);
      this.lines.push(`${t} n${String(r.node)} deliver ${String(r.ring)}/${String(r.seq)} from ${String(r.sender)} ${what}`);
    }
  }

  private tick(n: number): void {
    this.c.run(n);
  }

  /** Runs until nothing but token traffic happened for three consensus timeouts. */
  private stabilize(args: string[]): void {
    const max = Number(keyValues(args).get('max') ?? 20_000);
    const quiet = 3 * this.c.options.config.consensusTicks;
    let lastChange = this.c.now;
    let seen = this.lines.length;
    for (let i = 0; i < max && this.c.now - lastChange < quiet; i++) {
      this.c.step();
      if (this.lines.length !== seen) {
        seen = this.lines.length;
        lastChange = this.c.now;
      }
    }
    if (this.c.now - lastChange < quiet) this.lines.push(`not stable after ${max} ticks`);
  }

  private deliver(args: string[]): void {
    const link = /^(\d+)->(\d+)$/.exec(args[0] ?? '');
    if (link === null) throw new Error('deliver A->B [drop=TYPE,…]');
    const from = Number(link[1]);
    const to = Number(link[2]);
    const key = `${from}->${to}`;
    const old = this.filters.get(key);
    if (old !== undefined) this.c.network.removeFilter(old);
    this.filters.delete(key);
    const drop = keyValues(args.slice(1)).get('drop');
    if (drop === undefined) return;
    const types = drop.split(',').map(messageType);
    this.filters.set(key, this.c.network.addFilter({ from, to, types }));
  }

  private split(args: string[]): void {
    const bar = args.indexOf('|');
    if (bar < 0) throw new Error('split A B | C D');
    this.c.network.splitManual(args.slice(0, bar).map(Number), args.slice(bar + 1).map(Number));
  }

  private mcast(args: string[]): void {
    const id = count(args[0], 'node');
    const text = args.slice(1).join(' ');
    const r = this.c.submit(id, new TextEncoder().encode(text));
    if (r !== 'queued') this.lines.push(`n${id}: ${r}`);
  }

  private show(what: string | undefined): void {
    if (what !== 'members') throw new Error('show members');
    for (const id of this.c.nodeIds) {
      const s = this.c.status(id);
      if (s === null) {
        this.lines.push(`n${id}: down`);
        continue;
      }
      const paused = this.c.isPaused(id) ? ' (paused)' : '';
      this.lines.push(`n${id}: ${s.state} ring ${s.ringId.rep}.${s.ringId.seq.toString(16)} members [${s.members.join(',')}]${paused}`);
    }
    const running = this.c.nodeIds.filter((id) => this.c.isRunning(id));
    const reason = convergence(this.c, running);
    this.lines.push(reason === null ? 'converged' : `not converged: ${reason}`);
  }

  private check(): void {
    const vs = [...this.c.allOnlineViolations(), ...checkEvs(this.c.history)];
    this.lines.push(vs.length === 0 ? 'ok' : vs.map(formatViolation).join('\n'));
  }
}

function tokenize(command: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(command); m !== null; m = re.exec(command)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

function keyValues(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(0, eq), a.slice(eq + 1));
  }
  return out;
}

function count(arg: string | undefined, what: string): number {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: expected a count, got ${String(arg)}`);
  return n;
}

const TYPE_ALIASES: Record<string, MessageTypeName> = {
  token: 'orf-token', mcast: 'mcast', join: 'join', commit: 'commit-token', merge: 'merge-detect',
  'hold-cancel': 'token-hold-cancel',
};

function messageType(name: string): MessageTypeName {
  const t = TYPE_ALIASES[name];
  if (t === undefined) throw new Error(`unknown message type ${name} (token, mcast, join, commit, merge, hold-cancel)`);
  return t;
}

/** Runs a transcript file; returns [actual file text, whether it matched]. */
export function runScenarioFile(path: string): { actual: string; expected: string } {
  const text = readFileSync(path, 'utf8');
  const header = text.split('\n').filter((l, i, all) => l.startsWith('#') && all.slice(0, i).every((x) => x.startsWith('#')))
    .map((l) => `${l}\n`).join('');
  const blocks = parseScenario(text);
  const run = new ScenarioRun();
  const outputs = blocks.map((b) => ({ command: b.command, output: run.run(b.command) }));
  const actual = formatScenario(outputs, header === '' ? '' : `${header}\n`);
  if (process.env.UPDATE_GOLDEN === '1' && actual !== text) writeFileSync(path, actual);
  return { actual, expected: text };
}
