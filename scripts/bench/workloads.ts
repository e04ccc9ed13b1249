// The CPG workloads of the benchmark, identical for both sides (a BenchCluster of
// corosync + cpgload or carillond + scripts/bench/cpgload.ts), modelled on
// ../shared/tools/cpg-bench.sh and failover.sh:
//
//   runIdle      daemon CPU % and RSS with no client traffic
//   runTput      one cpgload tput per node (one sender: node 1; all: every node), delivered
//                msgs/s and MB/s per node from the RESULT lines; daemon CPU % over the
//                steady part of the delivery window and the largest daemon RSS in it
//   runLatency   pong on nodes 2..N, ping on node 1: self / one-way / round-trip LAT lines
//   runFailover  watchers on every node, kill -9 of one daemon, time until each survivor's
//                CPG confchg without it; restart, time until the survivors' totem ring
//                has every node again (rejoin)
//
// Everything is bounded: clients that overrun are killed and the run reported failed
// with their log tails; a failure throws (the runner records it and goes on).

import * as crypto from 'node:crypto';
import type { ManagedProcess } from '../../test/integration/interop/netns';
import { logTail, parseCpgloadWatch, pollUntil, readFrom } from '../../test/integration/interop/netns';
import type { BenchCluster } from './bench-cluster';
import { cpuWindow, type ProcSample, ProcSampler } from './proc-sampler';
import { type BenchLine, numField, parseBenchOutput } from './result-line';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wall-clock seconds with sub-millisecond resolution (comparable with the clients' watch stamps). */
export function realtimeS(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

function groupName(stem: string): string {
  return `${stem}${crypto.randomBytes(3).toString('hex')}`;
}

/** Waits (bounded) for every process to exit; kills the ones still running and throws. */
async function awaitClients(clients: readonly ManagedProcess[], timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const late: ManagedProcess[] = [];
  for (const c of clients) {
    try {
      await c.waitExit(Math.max(1, deadline - performance.now()));
    } catch {
      late.push(c);
    }
  }
  if (late.length === 0) return;
  await Promise.all(late.map((c) => c.kill().catch(() => undefined)));
  throw new Error(`${what}: ${late.map((c) => c.name).join(', ')} did not finish within ${Math.round(timeoutMs / 1000)} s\n${tails(late)}`);
}

/** SIGTERM (clients stop cleanly on it), then SIGKILL after 5 s. */
async function stopClients(clients: readonly ManagedProcess[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      c.signal('SIGTERM');
      await c.waitExit(5000).catch(() => c.kill().catch(() => undefined));
    }),
  );
}

function tails(clients: readonly ManagedProcess[]): string {
  return clients.map((c) => `--- ${c.name} (${c.logFile}):\n${logTail(c.logFile, 8)}`).join('\n');
}

function linesOf(c: ManagedProcess): BenchLine[] {
  return parseBenchOutput(readFrom(c.logFile));
}

// ---------------------------------------------------------------------------------------

export interface ResourceFigures {
  /** Per node, in node order. */
  readonly cpuPct: ReadonlyArray<number | null>;
  readonly rssKb: readonly number[];
}

/** Daemon CPU % and RSS of every node over `seconds` without traffic. */
export async function runIdle(bc: BenchCluster, seconds: number, ticksPerSecond: number): Promise<ResourceFigures> {
  const pids = bc.nodeIds.map((i) => bc.daemonPid(i));
  const sampler = new ProcSampler(pids, 250);
  const from = performance.now();
  await sleep(seconds * 1000);
  const samples = sampler.stop();
  const to = performance.now();
  const figures = pids.map((pid) => cpuWindow(samples, pid, from - 1, to + 1, ticksPerSecond));
  return { cpuPct: figures.map((f) => f.cpuPct), rssKb: figures.map((f) => f.maxRssKb) };
}

export interface TputParams {
  readonly size: number;
  readonly mode: 'one' | 'all';
  readonly seconds: number;
  /** Extra time the clients may take to start and to see the END markers. */
  readonly timeoutS: number;
  /** -L text, e.g. `side=corosync rep=1 mode=one `. */
  readonly label: string;
  readonly ticksPerSecond: number;
}

export interface TputOutcome {
  /** One RESULT line per node, in node order. */
  readonly lines: readonly BenchLine[];
  /** Daemons over the steady part of the delivery window. */
  readonly daemon: ResourceFigures;
  readonly clientCpuPct: ReadonlyArray<number | null>;
  /** The steady window the CPU figures cover, seconds. */
  readonly cpuWindowS: number;
}

/**
 * The delivery window is taken from the clients themselves: it ends when the first of
 * them exits (right after its last END) and lasts the longest window_s reported; the CPU
 * figures skip its first quarter (at most 0.5 s) and last tenth (at most 0.25 s).
 */
export async function runTput(bc: BenchCluster, p: TputParams): Promise<TputOutcome> {
  const nodes = bc.nodeIds;
  const n = nodes.length;
  const group = groupName(`t${p.size}${p.mode}`);
  const daemonPids = nodes.map((i) => bc.daemonPid(i));
  const clients = nodes.map((i) =>
    bc.spawnClient(i, `tput-${p.size}-${p.mode}`, [
      '-m', 'tput', '-g', group, '-n', String(n), '-e', String(p.mode === 'all' ? n : 1), '-s', String(p.size), '-t', String(p.seconds),
      ...(p.mode === 'all' || i === 1 ? ['-S'] : []), '-L', p.label, '-T', String(p.timeoutS),
    ]),
  );
  const exitAt: number[] = [];
  for (const c of clients) void c.exited.then(() => exitAt.push(performance.now()));
  const sampler = new ProcSampler([...daemonPids, ...clients.map((c) => c.pid)], 200);
  let samples: ProcSample[] = [];
  try {
    await awaitClients(clients, (p.seconds + p.timeoutS + 30) * 1000, `tput ${p.size} B ${p.mode}`);
  } finally {
    samples = sampler.stop();
  }
  const lines = clients.map((c) => linesOf(c).find((l) => l.kind === 'RESULT') ?? null);
  if (lines.some((l) => l === null)) throw new Error(`tput ${p.size} B ${p.mode}: a client printed no RESULT\n${tails(clients)}`);
  const results = lines as BenchLine[];
  const failedExit = clients.filter((c) => c.exit?.code !== 0);
  if (failedExit.length > 0) throw new Error(`tput ${p.size} B ${p.mode}: ${failedExit.map((c) => `${c.name} exited ${JSON.stringify(c.exit)}`).join(', ')}\n${tails(failedExit)}`);
  const tEnd = Math.min(...exitAt);
  const windowMs = Math.max(...results.map((l) => (numField(l, 'window_s') ?? 0) * 1000));
  const tStart = tEnd - windowMs;
  let from = tStart + Math.min(500, windowMs / 4);
  let to = tEnd - Math.min(250, windowMs / 10);
  if (to - from < 300) {
    from = tStart;
    to = tEnd;
  }
  const daemonFigures = daemonPids.map((pid) => cpuWindow(samples, pid, from, to, p.ticksPerSecond));
  const rssFigures = daemonPids.map((pid) => cpuWindow(samples, pid, tStart, tEnd, p.ticksPerSecond).maxRssKb);
  return {
    lines: results,
    daemon: { cpuPct: daemonFigures.map((f) => f.cpuPct), rssKb: rssFigures },
    clientCpuPct: clients.map((c) => cpuWindow(samples, c.pid, from, to, p.ticksPerSecond).cpuPct),
    cpuWindowS: (to - from) / 1000,
  };
}

export interface LatencyParams {
  readonly size: number;
  readonly pings: number;
  /** -L text ending in `kind=` (the LAT name completes it). */
  readonly label: string;
}

/** ping on node 1, pong on the others: the self / oneway / rtt LAT lines. */
export async function runLatency(bc: BenchCluster, p: LatencyParams): Promise<BenchLine[]> {
  const nodes = bc.nodeIds;
  const group = groupName(`l${p.size}`);
  const pongs = nodes.slice(1).map((i) => bc.spawnClient(i, `pong-${p.size}`, ['-m', 'pong', '-g', group, '-s', String(p.size), '-T', '60']));
  try {
    const ping = bc.spawnClient(nodes[0] ?? 1, `ping-${p.size}`, ['-m', 'ping', '-g', group, '-n', String(nodes.length), '-s', String(p.size), '-c', String(p.pings), '-L', p.label, '-T', '60']);
    await awaitClients([ping], 90_000 + p.pings * 50, `latency ${p.size} B`);
    const lines = linesOf(ping).filter((l) => l.kind === 'LAT');
    const complete = lines.filter((l) => (numField(l, 'n') ?? 0) > 0);
    if (complete.length < 3) throw new Error(`latency ${p.size} B: expected 3 LAT lines with samples, got ${lines.length}\n${tails([ping, ...pongs])}`);
    return lines;
  } finally {
    await stopClients(pongs);
  }
}

export interface FailoverOutcome {
  readonly victim: number;
  /** Survivor → seconds from kill -9 to its CPG confchg without the victim (null: not seen). */
  readonly confchgS: ReadonlyMap<number, number | null>;
  /** Survivor → seconds from the restart to its totem ring with every node again (null: not seen). */
  readonly rejoinS: ReadonlyMap<number, number | null>;
}

function watchEvents(c: ManagedProcess): ReturnType<typeof parseCpgloadWatch> {
  return parseCpgloadWatch(readFrom(c.logFile));
}

/** kill -9 of `victim`'s daemon under watchers on every node, then its restart. */
export async function runFailover(bc: BenchCluster, victim: number, timeoutMs = 60_000): Promise<FailoverOutcome> {
  const nodes = bc.nodeIds;
  const n = nodes.length;
  const survivors = nodes.filter((i) => i !== victim);
  const group = groupName('fo');
  const watchers = new Map(nodes.map((i) => [i, bc.spawnClient(i, 'watch', ['-m', 'watch', '-g', group, '-T', '60'])]));
  const watcher = (i: number): ManagedProcess => {
    const w = watchers.get(i);
    if (w === undefined) throw new Error(`no watcher on node ${i}`);
    return w;
  };
  try {
    await pollUntil(`every watcher to see ${n} members`, 30_000, async () => {
      const seen = nodes.map((i) => watchEvents(watcher(i)).filter((e) => e.kind === 'confchg').at(-1)?.members.length ?? 0);
      return { ok: seen.every((m) => m === n), detail: `members seen per node: ${seen.join(' ')}` };
    }, 50);
    await sleep(1000);
    const tKill = realtimeS();
    await bc.kill(victim);
    const confchgS = new Map<number, number | null>();
    const firstAfter = (i: number, t: number, match: (e: ReturnType<typeof parseCpgloadWatch>[number]) => boolean): number | null =>
      watchEvents(watcher(i)).find((e) => e.at > t && match(e))?.at ?? null;
    const left = (e: ReturnType<typeof parseCpgloadWatch>[number]): boolean => e.kind === 'confchg' && e.members.length === n - 1 && !e.members.some((m) => m.nodeId === victim);
    await pollUntil(`survivors ${survivors.join(',')} to see node ${victim} leave`, timeoutMs, async () => {
      const seen = survivors.map((i) => firstAfter(i, tKill, left));
      return { ok: seen.every((t) => t !== null), detail: seen.map((t, k) => `node ${survivors[k]}: ${t === null ? 'not yet' : 'seen'}`).join(', ') };
    }, 20).catch(() => undefined);
    for (const i of survivors) {
      const t = firstAfter(i, tKill, left);
      confchgS.set(i, t === null ? null : t - tKill);
    }
    await sleep(1000);
    const tStart = realtimeS();
    bc.start(victim);
    const back = (e: ReturnType<typeof parseCpgloadWatch>[number]): boolean => e.kind === 'totem' && e.members.length === n;
    await pollUntil(`survivors to see node ${victim} back in the ring`, timeoutMs, async () => {
      const seen = survivors.map((i) => firstAfter(i, tStart, back));
      return { ok: seen.every((t) => t !== null), detail: seen.map((t, k) => `node ${survivors[k]}: ${t === null ? 'not yet' : 'seen'}`).join(', ') };
    }, 20).catch(() => undefined);
    const rejoinS = new Map<number, number | null>();
    for (const i of survivors) {
      const t = firstAfter(i, tStart, back);
      rejoinS.set(i, t === null ? null : t - tStart);
    }
    await bc.waitReady(nodes, n, timeoutMs);
    if ([...confchgS.values()].some((v) => v === null)) throw new Error(`failover: a survivor never saw node ${victim} leave within ${timeoutMs / 1000} s\n${tails([...watchers.values()])}`);
    return { victim, confchgS, rejoinS };
  } finally {
    await stopClients([...watchers.values()]);
  }
}
