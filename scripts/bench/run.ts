// `npm run bench [-- --quick] [--only …] [--sides …] [--reps N] [--out FILE]`: Carillon
// against real corosync 3.1.7 on one machine (README.md §Benchmarks says how to read the
// result). Three network namespaces (cbench<n>-1..3, one /24, removed on exit, on SIGINT
// and SIGTERM, and — when a run was killed outright — by the next run: NetnsCluster's
// owner files) hold first a 3-node corosync cluster driven by ../shared/tools/cpgload,
// then a 3-node carillond cluster driven by its twin scripts/bench/cpgload.ts: the same
// corosync.conf (udpu, crypto off, default timers), the same workloads
// (scripts/bench/workloads.ts), then on Carillon the Asterisk bridge
// (scripts/bench/bridge-bench.ts). Progress goes to stderr; the table (figure | corosync |
// Carillon | ratio) to stdout; every raw sample to the JSON file (bench-results/, ignored
// by git). A measurement that fails is reported FAILED with its reason and the run goes on.
// Exit status: 0 done (even with FAILED figures), 1 cannot run here, 2 bad arguments.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeAstEvent } from '../../src/asterisk/core/ast-event-codec';
import { DeviceState } from '../../src/asterisk/core/events';
import { NetnsCluster, buildCpgload, checkInteropPrerequisites, ensureDistBuilt } from '../../test/integration/interop/netns';
import { BenchCluster, ROOT, type Side } from './bench-cluster';
import { type BridgeStep, BridgeRig, RAMP_P99_LIMIT_MS } from './bridge-bench';
import { BENCH_USAGE, type BenchPlan, BenchUsageError, parseBenchArgs } from './options';
import { clockTicksPerSecond } from './proc-sampler';
import { type Better, type Cell, type FigureRow, formatTable, rowRatio } from './report';
import { type BenchLine, numField } from './result-line';
import { latencyFigures, summarize } from './stats';
import { runFailover, runIdle, runLatency, runTput } from './workloads';

const say = (text: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mean = (values: ReadonlyArray<number | null>): number | null => {
  const ok = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return ok.length === 0 ? null : ok.reduce((a, b) => a + b, 0) / ok.length;
};
const sizeLabel = (size: number): string => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);
const MIB = 1024;

/** A device-state ast_event as the bridge multicasts it for the benchmark's device names. */
const AST_EVENT_BYTES = encodeAstEvent({ kind: 'device-state', aggregate: false, device: 'PJSIP/s3d1999', state: DeviceState.inuse, cachable: true, eid: '02:cb:00:00:00:01' }).length;

// ---------------------------------------------------------------------------------------
// Figures

interface FigureDef {
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly notes: string[];
  readonly samples: Record<Side, number[]>;
  readonly failures: Record<Side, string[]>;
  readonly measured: Record<Side, boolean>;
}

class Figures {
  private readonly defs = new Map<string, FigureDef>();

  define(key: string, label: string, unit: string, better: Better, note?: string): void {
    this.defs.set(key, {
      label, unit, better, notes: note === undefined ? [] : [note],
      samples: { corosync: [], carillon: [] }, failures: { corosync: [], carillon: [] }, measured: { corosync: false, carillon: false },
    });
  }

  private def(key: string): FigureDef {
    const d = this.defs.get(key);
    if (d === undefined) throw new Error(`figure ${key} is not defined`);
    return d;
  }

  add(side: Side, key: string, value: number | null, missing = 'not measured'): void {
    const d = this.def(key);
    d.measured[side] = true;
    if (value === null || !Number.isFinite(value)) d.failures[side].push(missing);
    else d.samples[side].push(value);
  }

  fail(side: Side, key: string, reason: string): void {
    const d = this.def(key);
    d.measured[side] = true;
    d.failures[side].push(reason);
  }

  /** The samples of a figure ([] for one this plan does not measure). */
  samples(side: Side, key: string): readonly number[] {
    return this.defs.get(key)?.samples[side] ?? [];
  }

  /** Adds a note to a figure (once). */
  addNote(key: string, note: string): void {
    const notes = this.def(key).notes;
    if (!notes.includes(note)) notes.push(note);
  }

  rows(): FigureRow[] {
    const cell = (d: FigureDef, side: Side): Cell => {
      if (d.samples[side].length > 0) return { kind: 'ok', samples: d.samples[side] };
      const failure = d.failures[side][0];
      if (failure !== undefined) return { kind: 'failed', reason: failure };
      return { kind: 'na', reason: d.measured[side] ? 'no sample' : 'not measured' };
    };
    return [...this.defs].map(([key, d]) => ({
      key, label: d.label, unit: d.unit, better: d.better, ...(d.notes.length === 0 ? {} : { notes: [...d.notes] }),
      corosync: cell(d, 'corosync'), carillon: cell(d, 'carillon'),
    }));
  }
}

const tputKey = (size: number, mode: string, what: 'msgs' | 'mbps'): string => `tput.${size}.${mode}.${what}`;
const latKey = (size: number, kind: string, q: 'p50' | 'p99'): string => `lat.${size}.${kind}.${q}`;

function defineFigures(f: Figures, plan: BenchPlan): void {
  const s = plan.sections;
  if (s.has('tput')) {
    for (const size of plan.sizes) {
      for (const mode of ['one', 'all'] as const) {
        const who = mode === 'one' ? '1 sender' : 'all 3 send';
        f.define(tputKey(size, mode, 'msgs'), `CPG throughput ${sizeLabel(size)}, ${who}`, 'msgs/s per node', 'higher');
        f.define(tputKey(size, mode, 'mbps'), `CPG throughput ${sizeLabel(size)}, ${who}`, 'MB/s per node', 'higher');
      }
    }
    f.define(tputKey(AST_EVENT_BYTES, 'one', 'msgs'), `CPG throughput ${AST_EVENT_BYTES} B (a device-state ast_event), 1 sender`, 'msgs/s per node', 'higher');
  }
  if (s.has('latency')) {
    for (const size of [...plan.sizes, AST_EVENT_BYTES]) {
      for (const kind of ['self', 'oneway'] as const) {
        for (const q of ['p50', 'p99'] as const) {
          const what = kind === 'self' ? 'self-delivery' : 'one-way (send → delivery on another node)';
          f.define(latKey(size, kind, q), `CPG latency ${sizeLabel(size)} ${what} ${q}`, 'µs', 'lower');
        }
      }
    }
  }
  if (s.has('failover')) {
    for (const t of ['default', 'short'] as const) {
      const timers = t === 'default' ? 'default timers' : `token: ${plan.shortTokenMs}`;
      f.define(`fo.${t}.confchg`, `failover, ${timers}: kill -9 → survivors' CPG confchg`, 's', 'lower', 'failover: the later of the two survivors, per repetition');
      f.define(`fo.${t}.rejoin`, `rejoin, ${timers}: restart → survivors' ring of 3`, 's', 'lower', 'failover: the later of the two survivors, per repetition');
    }
  }
  if (s.has('resources')) {
    const perNode = 'resources: median [min–max] over the 3 daemons';
    f.define('res.idle.rss', 'daemon RSS, idle', 'MiB', 'lower', perNode);
    f.define('res.idle.cpu', 'daemon CPU, idle', '% of a core', 'lower', perNode);
    if (s.has('tput')) {
      f.define('res.load.rss', 'daemon RSS, largest during the throughput runs', 'MiB', 'lower', perNode);
      f.define('res.load.cpu', 'daemon CPU, 1 KiB all senders', '% of a core', 'lower', 'load CPU: mean of the 3 daemons per repetition, over the steady part of the delivery window');
      f.define('res.load.cpumsg', 'daemon CPU per delivered message, 1 KiB all senders', 'µs', 'lower', 'load CPU: mean of the 3 daemons per repetition, over the steady part of the delivery window');
    }
  }
  if (s.has('bridge')) {
    const ref = `bridge: the corosync column is the CPG leg alone (cpgload with ${AST_EVENT_BYTES}-byte messages, the size of the bridge's ast_event): what res_corosync on corosync could at best carry; Carillon's column is end to end, fake Asterisk A → AMI → carillond → CPG → carillond → AMI Setvar on B and C`;
    f.define('bridge.rate', 'bridge: device-state events sustained A → B, C with nothing lost', 'events/s', 'higher', ref);
    f.define('bridge.p50', `bridge: end-to-end latency p50 at ${plan.bridgeLatencyRate} events/s`, 'ms', 'lower', ref);
    f.define('bridge.p99', `bridge: end-to-end latency p99 at ${plan.bridgeLatencyRate} events/s`, 'ms', 'lower', ref);
    f.define('bridge.lost', `bridge: changes lost at ${plan.bridgeLatencyRate} events/s (both observers)`, 'events', 'none');
  }
}

// ---------------------------------------------------------------------------------------
// One side

interface SideRaw {
  idle: unknown[];
  tput: unknown[];
  latency: unknown[];
  failover: unknown[];
  bridge: unknown[];
  errors: string[];
}

const newRaw = (): SideRaw => ({ idle: [], tput: [], latency: [], failover: [], bridge: [], errors: [] });

async function runSide(side: Side, net: NetnsCluster, cpgload: string, plan: BenchPlan, f: Figures, raw: SideRaw, hz: number): Promise<void> {
  const bc = new BenchCluster(net, side, cpgload);
  const s = plan.sections;
  /** Runs fn; on failure (null) every key given that has no sample yet for this side is failed with the reason. */
  const guard = async <T>(what: string, keys: readonly string[], fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (error) {
      const reason = `${what}: ${errorText(error)}`;
      raw.errors.push(reason);
      say(`${side}: ${what} FAILED: ${errorText(error).split('\n')[0] ?? ''}`);
      for (const k of keys) if (f.samples(side, k).length === 0) f.fail(side, k, reason);
      return null;
    }
  };
  const keysWith = (prefix: string): string[] => f.rows().map((r) => r.key).filter((k) => k.startsWith(prefix));

  const cpgPhase = s.has('tput') || s.has('latency') || s.has('resources') || s.has('failover');
  if (cpgPhase) {
    const phaseKeys = [...keysWith('tput.'), ...keysWith('lat.'), ...keysWith('res.'), ...keysWith('fo.default.')];
    say(`${side}: starting 3 daemons (default timers)`);
    const started = await guard('start with default timers', phaseKeys, async () => bc.startAll({ tokenMs: null }).then(() => true));
    if (started !== null) {
      await sleep(1000);
      if (s.has('resources')) {
        await guard('idle sample', ['res.idle.rss', 'res.idle.cpu'], async () => {
          say(`${side}: idle for ${plan.idleSeconds} s`);
          const idle = await runIdle(bc, plan.idleSeconds, hz);
          raw.idle.push(idle);
          idle.rssKb.forEach((kb) => f.add(side, 'res.idle.rss', kb / MIB));
          idle.cpuPct.forEach((pct) => f.add(side, 'res.idle.cpu', pct));
        });
      }
      const loadRssKb = bc.nodeIds.map(() => 0);
      if (s.has('tput') || s.has('latency')) {
        // Unrecorded: a daemon that has run for a while is warm (carillond's JIT has
        // compiled its hot paths); the first measured run should not pay for that. Both
        // sides get the same warm-up.
        await guard('warm-up', [], async () => {
          say(`${side}: warm-up (1 s of 64 B and 1 KiB from every node, not recorded)`);
          for (const size of [64, 1024]) await runTput(bc, { size, mode: 'all', seconds: 1, timeoutS: 30, label: `side=${side} warmup `, ticksPerSecond: hz });
        });
      }
      if (s.has('tput')) {
        for (let rep = 1; rep <= plan.reps; rep += 1) {
          const cases: Array<[number, 'one' | 'all']> = [...plan.sizes.flatMap((size) => [[size, 'one'], [size, 'all']] as Array<[number, 'one' | 'all']>), [AST_EVENT_BYTES, 'one']];
          for (const [size, mode] of cases) {
            const keys = size === AST_EVENT_BYTES ? [tputKey(size, mode, 'msgs')] : [tputKey(size, mode, 'msgs'), tputKey(size, mode, 'mbps')];
            const loadKeys = size === 1024 && mode === 'all' && s.has('resources') ? ['res.load.cpu', 'res.load.cpumsg'] : [];
            await guard(`tput ${sizeLabel(size)} ${mode} rep ${rep}`, [...keys, ...loadKeys], async () => {
              const o = await runTput(bc, { size, mode, seconds: plan.tputSeconds, timeoutS: 30, label: `side=${side} rep=${rep} mode=${mode} `, ticksPerSecond: hz });
              raw.tput.push({ rep, size, mode, results: o.lines.map((l) => l.fields), daemonCpuPct: o.daemon.cpuPct, daemonRssKb: o.daemon.rssKb, clientCpuPct: o.clientCpuPct, cpuWindowS: o.cpuWindowS });
              const rate = mean(o.lines.map((l) => numField(l, 'rx_msgs_per_s')));
              const gaps = o.lines.reduce((sum, l) => sum + (numField(l, 'gaps') ?? 0), 0);
              say(`${side}: tput ${sizeLabel(size)} ${mode} rep ${rep}: ${rate?.toFixed(0) ?? '?'} msgs/s per node, ${mean(o.lines.map((l) => numField(l, 'rx_MBps')))?.toFixed(2) ?? '?'} MB/s, gaps ${gaps}, daemon CPU ${o.daemon.cpuPct.map((c) => c?.toFixed(0) ?? '?').join('/')} %`);
              f.add(side, tputKey(size, mode, 'msgs'), rate);
              if (size !== AST_EVENT_BYTES) f.add(side, tputKey(size, mode, 'mbps'), mean(o.lines.map((l) => numField(l, 'rx_MBps'))));
              o.daemon.rssKb.forEach((kb, k) => {
                loadRssKb[k] = Math.max(loadRssKb[k] ?? 0, kb);
              });
              if (loadKeys.length > 0) {
                const cpu = mean(o.daemon.cpuPct);
                f.add(side, 'res.load.cpu', cpu, 'no CPU samples in the delivery window');
                f.add(side, 'res.load.cpumsg', cpu === null || rate === null || rate === 0 ? null : (cpu / 100) * 1e6 / rate, 'no CPU samples in the delivery window');
              }
            });
          }
        }
        if (s.has('resources')) loadRssKb.filter((kb) => kb > 0).forEach((kb) => f.add(side, 'res.load.rss', kb / MIB));
      }
      if (s.has('latency')) {
        for (let rep = 1; rep <= plan.reps; rep += 1) {
          for (const size of [...plan.sizes, AST_EVENT_BYTES]) {
            const keys = ['self', 'oneway'].flatMap((k) => [latKey(size, k, 'p50'), latKey(size, k, 'p99')]);
            await guard(`latency ${sizeLabel(size)} rep ${rep}`, keys, async () => {
              const lines = await runLatency(bc, { size, pings: plan.pings, label: `side=${side} rep=${rep} kind=` });
              raw.latency.push({ rep, size, results: lines.map((l) => l.fields) });
              const byKind = (kind: string): BenchLine | undefined => lines.find((l) => l.fields['kind'] === kind);
              for (const kind of ['self', 'oneway']) {
                const l = byKind(kind);
                f.add(side, latKey(size, kind, 'p50'), l === undefined ? null : numField(l, 'p50_us'));
                f.add(side, latKey(size, kind, 'p99'), l === undefined ? null : numField(l, 'p99_us'));
              }
              const rtt = byKind('rtt');
              say(`${side}: latency ${sizeLabel(size)} rep ${rep}: self p50 ${byKind('self')?.fields['p50_us'] ?? '?'} µs, one-way p50 ${byKind('oneway')?.fields['p50_us'] ?? '?'} µs, rtt p50 ${rtt?.fields['p50_us'] ?? '?'} µs`);
            });
          }
        }
      }
      if (s.has('failover')) await failoverSeries(side, bc, plan, f, raw, 'default', guard);
    }
    await bc.stopAll();
  }
  if (s.has('failover')) {
    say(`${side}: restarting with token: ${plan.shortTokenMs}`);
    const started = await guard(`start with token: ${plan.shortTokenMs}`, keysWith('fo.short.'), async () => bc.startAll({ tokenMs: plan.shortTokenMs }).then(() => true));
    if (started !== null) {
      await sleep(1000);
      await failoverSeries(side, bc, plan, f, raw, 'short', guard);
    }
    await bc.stopAll();
  }
  if (s.has('bridge') && side === 'carillon') {
    say('carillon: starting 3 daemons with the Asterisk bridge and 3 fake Asterisks');
    const r = await guard('bridge setup', keysWith('bridge.'), () => BridgeRig.start(bc, path.join(net.baseDir, 'bridge')));
    if (r !== null) {
      for (let rep = 1; rep <= plan.reps; rep += 1) {
        await guard(`bridge latency rep ${rep}`, ['bridge.p50', 'bridge.p99', 'bridge.lost'], async () => {
          const step = await r.step('PJSIP/latx', plan.bridgeLatencyRate, plan.bridgeLatencySeconds, 2 * plan.bridgeLatencyRate);
          raw.bridge.push({ rep, kind: 'latency', ...stepRaw(step) });
          const lat = latencyFigures(step.latenciesMs);
          f.add(side, 'bridge.p50', lat?.p50 ?? null, 'no change arrived');
          f.add(side, 'bridge.p99', lat?.p99 ?? null, 'no change arrived');
          f.add(side, 'bridge.lost', step.lost);
          say(`carillon: bridge ${plan.bridgeLatencyRate}/s rep ${rep}: p50 ${lat?.p50.toFixed(1) ?? '?'} ms, p99 ${lat?.p99.toFixed(1) ?? '?'} ms, lost ${step.lost}`);
        });
        await guard(`bridge ramp rep ${rep}`, ['bridge.rate'], async () => {
          let best: BridgeStep | null = null;
          let stoppedBy: BridgeStep | null = null;
          for (const rate of plan.bridgeRampRates) {
            const step = await r.step(`PJSIP/r${rate}x`, rate, plan.bridgeRampSeconds, Math.max(100, rate));
            raw.bridge.push({ rep, kind: 'ramp', ...stepRaw(step) });
            say(`carillon: bridge ramp ${rate}/s rep ${rep}: ${step.pass ? 'kept up' : `fell behind (${step.reason})`}, p99 ${latencyFigures(step.latenciesMs)?.p99.toFixed(1) ?? '?'} ms, drain ${step.drainMs.toFixed(0)} ms`);
            if (!step.pass) {
              stoppedBy = step;
              break;
            }
            best = step;
          }
          const top = plan.bridgeRampRates[plan.bridgeRampRates.length - 1] ?? 0;
          const stop: BridgeStep | null = stoppedBy;
          f.addNote('bridge.rate', `bridge ramp: ${plan.bridgeRampRates.join(', ')} events/s for ${plan.bridgeRampSeconds} s each; a step is kept up with when nothing is lost or skipped on B and C, every final state is right, the emitter holds its rate and p99 < ${RAMP_P99_LIMIT_MS} ms; rep ${rep} ${stop === null ? `kept up with every step up to ${top}/s (the figure is a lower bound)` : `stopped at ${stop.rateOffered}/s: ${stop.reason}`}`);
          const kept: BridgeStep | null = best;
          f.add(side, 'bridge.rate', kept === null ? null : kept.rateAchieved, `not even ${plan.bridgeRampRates[0] ?? 0}/s was kept up with: ${stop?.reason ?? ''}`);
        });
      }
      await r.stop();
    }
    await bc.stopAll();
  }
}

function stepRaw(step: BridgeStep): Record<string, unknown> {
  const lat = latencyFigures(step.latenciesMs);
  return {
    rateOffered: step.rateOffered, rateAchieved: step.rateAchieved, seconds: step.seconds, devices: step.devices, emitted: step.emitted, drainMs: step.drainMs,
    lost: step.lost, pass: step.pass, reason: step.reason, observers: step.observers, latencyMs: lat, latenciesMs: step.latenciesMs,
  };
}

async function failoverSeries(
  side: Side, bc: BenchCluster, plan: BenchPlan, f: Figures, raw: SideRaw, timers: 'default' | 'short',
  guard: (what: string, keys: readonly string[], fn: () => Promise<void>) => Promise<void | null>,
): Promise<void> {
  for (let rep = 1; rep <= plan.failoverReps; rep += 1) {
    const victim = ((rep - 1) % bc.net.size) + 1;
    await guard(`failover (${timers} timers) rep ${rep}`, [`fo.${timers}.confchg`, `fo.${timers}.rejoin`], async () => {
      const o = await runFailover(bc, victim);
      const confchg = [...o.confchgS.values()];
      const rejoin = [...o.rejoinS.values()];
      raw.failover.push({ timers, rep, victim, confchgS: Object.fromEntries(o.confchgS), rejoinS: Object.fromEntries(o.rejoinS) });
      f.add(side, `fo.${timers}.confchg`, confchg.some((v) => v === null) ? null : Math.max(...(confchg as number[])), 'a survivor saw no confchg');
      f.add(side, `fo.${timers}.rejoin`, rejoin.some((v) => v === null) ? null : Math.max(...(rejoin as number[])), 'a survivor saw no ring of 3 after the restart');
      say(`${side}: failover (${timers}) rep ${rep}, node ${victim} killed: confchg after ${confchg.map((v) => v?.toFixed(3) ?? '?').join(' / ')} s, rejoin ${rejoin.map((v) => v?.toFixed(3) ?? '?').join(' / ')} s`);
    });
  }
}

// ---------------------------------------------------------------------------------------

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  let plan: BenchPlan | null;
  try {
    plan = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${errorText(error)}\n${BENCH_USAGE}\n`);
    process.exit(error instanceof BenchUsageError ? 2 : 1);
  }
  if (plan === null) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return;
  }
  process.chdir(ROOT);
  const gate = checkInteropPrerequisites(process.env, { cpgload: true });
  if (!gate.run) {
    process.stderr.write(`bench: cannot run here: ${gate.reason}\n`);
    process.exit(1);
  }
  await ensureDistBuilt(ROOT);
  const started = new Date();
  const loadBefore = os.loadavg();
  const hz = clockTicksPerSecond();
  const figures = new Figures();
  defineFigures(figures, plan);
  const raw: Record<Side, SideRaw> = { corosync: newRaw(), carillon: newRaw() };
  say(`plan: ${plan.quick ? 'quick' : 'full'}, ${plan.reps} repetition(s), sections ${[...plan.sections].join(',')}, sides ${plan.sides.join(',')}`);

  const net = await NetnsCluster.create({ nodes: 3, stem: 'cbench', log: say });
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}: stopping every process and removing the namespaces`);
    net.destroySync();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failed = false;
  try {
    const cpgload = await buildCpgload(net.baseDir);
    for (const side of plan.sides) {
      say(`=== ${side} ===`);
      await runSide(side, net, cpgload, plan, figures, raw[side], hz);
      failed ||= raw[side].errors.length > 0;
    }
  } catch (error) {
    failed = true;
    say(`aborted: ${errorText(error)}`);
    for (const side of plan.sides) raw[side].errors.push(`aborted: ${errorText(error)}`);
  } finally {
    await net.destroy({ keepFiles: failed });
    if (failed) say(`logs and configs kept in ${net.baseDir}`);
  }

  // The bridge's reference on the corosync side: its CPG leg at the ast_event's size.
  if (plan.sections.has('bridge')) {
    for (const v of figures.samples('corosync', tputKey(AST_EVENT_BYTES, 'one', 'msgs'))) figures.add('corosync', 'bridge.rate', v);
    if (plan.sections.has('latency')) {
      for (const v of figures.samples('corosync', latKey(AST_EVENT_BYTES, 'oneway', 'p50'))) figures.add('corosync', 'bridge.p50', v / 1000);
      for (const v of figures.samples('corosync', latKey(AST_EVENT_BYTES, 'oneway', 'p99'))) figures.add('corosync', 'bridge.p99', v / 1000);
    }
  }

  const rows = figures.rows();
  const finished = new Date();
  const machine = `${os.hostname()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, Linux ${os.release()}, node ${process.version}, ${gate.corosyncVersion ?? 'corosync ?'}`;
  const title = `Carillon ${gitCommit() ?? ''} vs corosync 3.1.7 — ${plan.quick ? '--quick' : 'full'} run, ${plan.reps} rep(s), ${started.toISOString()} (${Math.round((finished.getTime() - started.getTime()) / 1000)} s), ${machine}; load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`;
  process.stdout.write(`\n${title}\n\n${formatTable(rows)}\n`);

  const out = plan.out ?? path.join(ROOT, 'bench-results', `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const json = {
    meta: {
      started: started.toISOString(), finished: finished.toISOString(), machine, commit: gitCommit(), corosync: gate.corosyncVersion,
      loadavgBefore: loadBefore, loadavgAfter: os.loadavg(), astEventBytes: AST_EVENT_BYTES,
    },
    plan: { ...plan, sections: [...plan.sections] },
    figures: rows.map((row) => ({
      ...row,
      corosyncSummary: row.corosync.kind === 'ok' ? summarize(row.corosync.samples) : null,
      carillonSummary: row.carillon.kind === 'ok' ? summarize(row.carillon.samples) : null,
      ratio: rowRatio(row),
    })),
    raw,
  };
  fs.writeFileSync(out, `${JSON.stringify(json, null, 1)}\n`);
  say(`results: ${out}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
