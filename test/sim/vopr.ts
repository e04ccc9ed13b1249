// VOPR-style seed runner (testing.md §4.2):
//
//   npm run sim -- --seeds N [--first-seed S] [--nodes K] [--ticks T] [--verbose] [--trace FILE]
//                  [--jobs J] [--lost-writes] [--services | --no-services]
//
// Services mode (ServiceHost + cmap, cfg, cpg, quorum, votequorum, fake CPG clients) is
// drawn per seed (SERVICES_RATIO of the seeds); `--services` / `--no-services` force it.
// Runs seeds S..S+N−1 (S defaults to a random seed, printed). Each seed draws its own
// swarm options, runs a safety phase and a liveness phase, and is checked against
// T1–T14. A failing seed is printed with the exact command that reproduces it. The
// last line is always `seeds=N violations=V liveness_failures=L`; the exit status is
// non-zero iff V+L > 0. `--jobs J` spreads seeds over J worker threads.

import { execSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { formatViolation } from './checkers/violation';
import { type NodeFactory, type NodeInit, type SimNode, stableJson } from './cluster';
import { type RunOptions, type SeedResult, runSeed } from './run-seed';
import { describeSwarm } from './swarm';

interface CliOptions {
  seeds: number;
  firstSeed: number;
  nodes?: number;
  ticks?: number;
  verbose: boolean;
  trace?: string;
  jobs: number;
  lostWrites: boolean;
  /** Alternative module exporting `TotemNode` (e.g. a patched copy under test). */
  nodeModule?: string;
  /** Force services mode on or off (default: drawn per seed). */
  services?: boolean;
}

/** What a worker sends back per seed (plain data). */
interface SeedReport {
  seed: number;
  nodes: number;
  violations: string[];
  livenessFailures: string[];
  services: boolean;
  summary: string;
  swarm: string;
  ms: number;
}

function parseArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = { seeds: 1, firstSeed: randomInt(0, 0xffffffff), verbose: false, jobs: 1, lostWrites: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--seeds': o.seeds = parseCount(value(), arg); break;
      case '--first-seed': case '--seed': o.firstSeed = parseSeed(value()); break;
      case '--nodes': o.nodes = parseCount(value(), arg); break;
      case '--ticks': o.ticks = parseCount(value(), arg); break;
      case '--jobs': o.jobs = parseCount(value(), arg); break;
      case '--trace': o.trace = value(); break;
      case '--verbose': case '-v': o.verbose = true; break;
      case '--lost-writes': o.lostWrites = true; break;
      case '--services': o.services = true; break;
      case '--no-services': o.services = false; break;
      case '--node-module': o.nodeModule = resolvePath(value()); break;
      case '--help': case '-h':
        process.stdout.write('usage: npm run sim -- --seeds N [--first-seed S] [--nodes K] [--ticks T] [--verbose] '
          + '[--trace FILE] [--jobs J] [--lost-writes] [--services | --no-services] [--node-module FILE]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${arg}`);
    }
  }
  return o;
}

function parseCount(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${s}`);
  return n;
}

function parseSeed(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`seed must be a u32, got ${s}`);
  return n;
}

export function hex(seed: number): string {
  return `0x${seed.toString(16).padStart(8, '0')}`;
}

function runOne(seed: number, o: CliOptions, trace?: (r: Record<string, unknown>) => void): SeedReport {
  const started = performance.now();
  const opts: RunOptions = {
    ...(o.nodes === undefined ? {} : { nodes: o.nodes }),
    ...(o.ticks === undefined ? {} : { ticks: o.ticks }),
    ...(trace === undefined ? {} : { trace }),
    lostWrites: o.lostWrites,
    ...(o.services === undefined ? {} : { services: o.services }),
    ...(o.nodeModule === undefined ? {} : { nodeFactory: loadNodeFactory(o.nodeModule) }),
  };
  const r: SeedResult = runSeed(seed, opts);
  const s = r.stats;
  const sv = s.services;
  return {
    seed,
    nodes: r.swarm.nodeIds.length,
    services: r.swarm.services !== null,
    violations: r.violations.map(formatViolation),
    livenessFailures: r.livenessFailures.map(formatViolation),
    swarm: describeSwarm(r.swarm),
    summary: `ticks=${s.ticks} submitted=${s.submitted} full=${s.full} deliveries=${s.deliveries} `
      + `regular_confs=${s.regularConfigurations} crashes=${s.crashes} restarts=${s.restarts} pauses=${s.pauses} `
      + `leaves=${s.leaves} packets=${s.packetsSent} core=[${s.core.join(',')}] converged_after=${s.convergenceTicks ?? '-'}`
      + `${s.stormEnded ? ' (safety phase ended by a join storm)' : ''}`
      + (sv === undefined ? '' : `\n    services: clients=${sv.clients} joins=${sv.joins} leaves=${sv.leaves} finalizes=${sv.finalizes} `
        + `mcasts=${sv.mcasts} retries=${sv.retries} deliveries=${sv.deliveries} confchgs=${sv.confchgs} syncs=${sv.syncs} `
        + `quorum_notifications=${sv.quorumNotifications} cmap_writes=${sv.cmapWrites} throw_aways=${sv.throwAways} left_unknown=${sv.leftUnknown}`),
    ms: performance.now() - started,
  };
}

function loadNodeFactory(file: string): NodeFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { TotemNode?: new (init: NodeInit) => SimNode };
  const Ctor = mod.TotemNode;
  if (Ctor === undefined) throw new Error(`${file} does not export TotemNode`);
  return (init) => new Ctor(init);
}

function reproduce(r: SeedReport, o: CliOptions): string {
  const extra = `${o.ticks === undefined ? '' : ` --ticks ${o.ticks}`}${o.lostWrites ? ' --lost-writes' : ''}`
    + (r.services ? ' --services' : ' --no-services');
  const node = o.nodeModule === undefined ? '' : ` --node-module ${o.nodeModule}`;
  return `npm run sim -- --seeds 1 --first-seed ${hex(r.seed)} --nodes ${r.nodes}${extra}${node}`;
}

function gitSha(): string {
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const seeds = Array.from({ length: o.seeds }, (_, i) => (o.firstSeed + i) >>> 0);
  const commit = gitSha();
  process.stdout.write(`vopr: seeds ${hex(seeds[0] as number)}..${hex(seeds.at(-1) as number)} (${seeds.length}) `
    + `nodes=${o.nodes ?? '2..7'} services=${o.services === undefined ? 'drawn' : o.services ? 'on' : 'off'} commit=${commit} `
    + `jobs=${o.jobs}\n`);
  let fd: number | null = null;
  const trace = o.trace === undefined ? undefined : (rec: Record<string, unknown>): void => {
    if (fd !== null) writeSync(fd, `${stableJson(rec)}\n`);
  };
  if (o.trace !== undefined) fd = openSync(o.trace, 'w');
  const started = performance.now();
  let violations = 0;
  let liveness = 0;
  let totalMs = 0;
  const byMode = { services: { seeds: 0, ms: 0 }, totem: { seeds: 0, ms: 0 } };
  const onReport = (r: SeedReport): void => {
    totalMs += r.ms;
    const mode = r.services ? byMode.services : byMode.totem;
    mode.seeds++;
    mode.ms += r.ms;
    violations += r.violations.length;
    liveness += r.livenessFailures.length;
    const failed = r.violations.length + r.livenessFailures.length > 0;
    if (failed || o.verbose) {
      process.stdout.write(`${failed ? 'FAIL' : 'ok  '} seed=${hex(r.seed)} commit=${commit} (${r.ms.toFixed(0)} ms) ${r.summary}\n`);
    }
    if (o.verbose) process.stdout.write(`${indent(r.swarm)}\n`);
    if (failed) {
      for (const v of [...r.violations, ...r.livenessFailures].slice(0, 12)) process.stdout.write(`${indent(v)}\n`);
      process.stdout.write(`  reproduce: ${reproduce(r, o)} --verbose --trace /tmp/seed-${hex(r.seed)}.ndjson\n`);
    }
  };
  if (o.jobs <= 1 || trace !== undefined || seeds.length < 2) {
    for (const seed of seeds) {
      trace?.({ ev: 'seed', seed: hex(seed) });
      onReport(runOne(seed, o, trace));
    }
  } else {
    await runInWorkers(seeds, o, onReport);
  }
  if (fd !== null) closeSync(fd);
  const wall = (performance.now() - started) / 1000;
  process.stdout.write(`time: ${wall.toFixed(1)} s wall, ${(totalMs / seeds.length).toFixed(0)} ms per seed on average`
    + ` (services mode: ${byMode.services.seeds} seeds, ${(byMode.services.ms / Math.max(1, byMode.services.seeds)).toFixed(0)} ms each;`
    + ` Totem only: ${byMode.totem.seeds} seeds, ${(byMode.totem.ms / Math.max(1, byMode.totem.seeds)).toFixed(0)} ms each)\n`);
  process.stdout.write(`seeds=${seeds.length} violations=${violations} liveness_failures=${liveness}\n`);
  return violations + liveness > 0 ? 1 : 0;
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    ${l}`).join('\n');
}

/** Worker threads pull seeds from a shared queue; reports come back in completion order. */
async function runInWorkers(seeds: readonly number[], o: CliOptions, onReport: (r: SeedReport) => void): Promise<void> {
  const queue = [...seeds];
  const jobs = Math.min(o.jobs, seeds.length);
  await Promise.all(Array.from({ length: jobs }, () => new Promise<void>((resolve, reject) => {
    // The worker loads this same file through tsx's CommonJS hook.
    const bootstrap = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(__filename)});`;
    const worker = new Worker(bootstrap, { eval: true, workerData: { options: o } });
    const next = (): void => {
      const seed = queue.shift();
      if (seed === undefined) {
        void worker.terminate().then(() => resolve());
        return;
      }
      worker.postMessage(seed);
    };
    worker.on('message', (r: SeedReport) => {
      onReport(r);
      next();
    });
    worker.on('error', reject);
    worker.on('online', next);
  })));
}

if (isMainThread) {
  main().then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    process.stderr.write(`vopr: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
} else {
  const { options } = workerData as { options: CliOptions };
  parentPort?.on('message', (seed: number) => {
    parentPort?.postMessage(runOne(seed, options));
  });
}
