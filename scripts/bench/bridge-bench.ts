// The bridge benchmark (Carillon only: there is no Asterisk on this machine to run
// res_corosync on corosync): three carillond with the Asterisk bridge, each talking AMI to
// its own fake Asterisk (scripts/bench/bridge-agent.ts) in its namespace. The fake on
// node 1 (A) changes device states at a set rate; the fakes on B and C record the
// bridge's Setvar DEVICE_STATE(Custom:remote:…) writes. bridge-match.ts pairs them:
// end-to-end latency (A's PBX change → B's/C's Asterisk written), changes lost or
// skipped, devices whose final state differs.
//
//   latencyStep   a light load (e.g. 100 events/s): the latency figures
//   ramp          rising rates; a step passes when both observers got every change
//                 (nothing lost or skipped, every final state right), the emitter kept
//                 its rate and p99 stayed under RAMP_P99_LIMIT_MS (no growing backlog);
//                 the sustained rate is the highest passing one, and the ramp stops at
//                 the first failure
// Every wait is bounded; the agents are killed on stop().

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IpcClient } from '../../src/client/ipc-client';
import { exitOrKill, pollUntil } from '../../test/integration/interop/netns';
import { type BenchCluster, ROOT } from './bench-cluster';
import { type DeviceEvent, matchDeviceEvents } from './bridge-match';
import { latencyFigures } from './stats';

const AGENT = path.join(ROOT, 'scripts', 'bench', 'bridge-agent.ts');
const AMI_PORT = 5038;
/** A ramp step whose p99 exceeds this is falling behind. */
export const RAMP_P99_LIMIT_MS = 500;
const REPLY_TIMEOUT_MS = 30_000;

export function agentEid(i: number): string {
  return `02:cb:00:00:00:${i.toString(16).padStart(2, '0')}`;
}

function resCorosyncConf(): string {
  return [
    '; written by scripts/bench/bridge-bench.ts',
    '[general]',
    'publish_event = device_state',
    'subscribe_event = device_state',
    '',
    '[ami]',
    'host = 127.0.0.1',
    `port = ${AMI_PORT}`,
    'username = admin',
    'secret = amipass',
    'reconnect_min_ms = 50',
    'reconnect_max_ms = 300',
    '',
  ].join('\n');
}

/** One bridge-agent process, driven line by line (replies come in command order). */
class Agent {
  readonly node: number;
  readonly pid: number;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<(line: string) => void> = [];
  private partial = '';
  private readonly log: string;
  readonly exited: Promise<unknown>;

  constructor(node: number, netns: string, log: string) {
    this.node = node;
    this.log = log;
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', AGENT, '--eid', agentEid(node), '--ami-port', String(AMI_PORT)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`bridge agent on node ${node}: spawn failed`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: Buffer) => fs.appendFileSync(this.log, chunk));
    this.child.stdout.on('data', (chunk: string) => {
      this.partial += chunk;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl);
        this.partial = this.partial.slice(nl + 1);
        fs.appendFileSync(this.log, `${line}\n`);
        this.waiting.shift()?.(line);
      }
    });
  }

  /** The next line (READY first, then one per command), bounded. */
  private next(timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiting.indexOf(take);
        if (k >= 0) this.waiting[k] = () => undefined;
        reject(new Error(`bridge agent on node ${this.node}: no answer to ${what} within ${timeoutMs} ms (log ${this.log})`));
      }, timeoutMs);
      const take = (line: string): void => {
        clearTimeout(timer);
        resolve(line);
      };
      this.waiting.push(take);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`bridge agent on node ${this.node} exited (log ${this.log})`));
      });
    });
  }

  async ready(): Promise<void> {
    const line = await this.next(30_000, 'start');
    if (!line.startsWith('READY ')) throw new Error(`bridge agent on node ${this.node}: ${line}`);
  }

  async command(text: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<string> {
    const reply = this.next(timeoutMs, text);
    this.child.stdin.write(`${text}\n`);
    const line = await reply;
    if (line.startsWith('ERROR')) throw new Error(`bridge agent on node ${this.node}: ${text} → ${line}`);
    return line;
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    await exitOrKill(this.exited, this.child, 5000);
  }
}

export interface ObserverOutcome {
  readonly node: number;
  readonly matched: number;
  readonly lost: number;
  readonly unexpected: number;
  readonly finalMismatch: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface BridgeStep {
  readonly prefix: string;
  readonly rateOffered: number;
  readonly seconds: number;
  readonly devices: number;
  readonly emitted: number;
  /** Events per second the emitter achieved. */
  readonly rateAchieved: number;
  /** From the end of the emission to the last write seen, ms. */
  readonly drainMs: number;
  readonly observers: readonly ObserverOutcome[];
  /** Every matched latency of both observers, ms. */
  readonly latenciesMs: readonly number[];
  readonly lost: number;
  readonly pass: boolean;
  readonly reason: string;
}

/** Three fake Asterisks and three carillond with the bridge. */
export class BridgeRig {
  private readonly bc: BenchCluster;
  private readonly dir: string;
  private readonly agents: Agent[];
  /** Numbers the step's files. */
  private serial = 0;

  private constructor(bc: BenchCluster, dir: string, agents: Agent[]) {
    this.bc = bc;
    this.dir = dir;
    this.agents = agents;
  }

  /** Starts the agents, then carillond on every node with the bridge; waits until every bridge is joined and connected. */
  static async start(bc: BenchCluster, dir: string): Promise<BridgeRig> {
    if (bc.side !== 'carillon') throw new Error('the bridge benchmark runs on carillond only');
    fs.mkdirSync(dir, { recursive: true });
    const agents: Agent[] = [];
    const rig = new BridgeRig(bc, dir, agents);
    try {
      for (const i of bc.nodeIds) agents.push(new Agent(i, bc.net.ns(i), path.join(dir, `agent-${i}.log`)));
      await Promise.all(agents.map((a) => a.ready()));
      const confFile = path.join(dir, 'res_corosync.conf');
      fs.writeFileSync(confFile, resCorosyncConf());
      await bc.startAll({ tokenMs: null, resCorosyncConf: () => confFile });
      await Promise.all(
        bc.nodeIds.map((i) =>
          pollUntil(`the bridge of node ${i} to join with ${bc.net.size - 1} peers and its AMI connected`, 60_000, async () => {
            const ipc = await IpcClient.connect(bc.socketPath(i), { timeoutMs: 2000, clientName: 'bench' });
            try {
              const s = await ipc.call('bridge.status', {}, { timeoutMs: 2000 });
              return { ok: s.joined && s.nodes.length === bc.net.size - 1 && s.ami?.connected === true, detail: JSON.stringify({ joined: s.joined, nodes: s.nodes.length, ami: s.ami, problems: s.problems }) };
            } finally {
              await ipc.close();
            }
          }),
        ),
      );
      return rig;
    } catch (error) {
      await rig.stop();
      throw error;
    }
  }

  private agent(i: number): Agent {
    const a = this.agents.find((x) => x.node === i);
    if (a === undefined) throw new Error(`no bridge agent on node ${i}`);
    return a;
  }

  /**
   * One load step: node 1 emits, the others observe. Devices are `<prefix><k>`; a prefix
   * may come back (the device table stays bounded), and no prefix may start another.
   * With latest-wins writes a change is matched exactly while the latency stays under a
   * device's period (devices / rate); a step that falls further behind has approximate
   * lost / unexpected counts.
   */
  async step(prefix: string, rate: number, seconds: number, devices: number): Promise<BridgeStep> {
    this.serial += 1;
    const nodes = this.bc.nodeIds;
    const emitter = this.agent(nodes[0] ?? 1);
    const observers = nodes.slice(1).map((i) => this.agent(i));
    const emitFile = path.join(this.dir, `emit-${this.serial}.json`);
    const reply = await emitter.command(`emit ${prefix} ${rate} ${seconds} ${devices} ${emitFile}`, seconds * 3000 + 10_000);
    const emittedAt = performance.now();
    const n = Number(/n=(\d+)/.exec(reply)?.[1] ?? NaN);
    const elapsedMs = Number(/elapsed_ms=([\d.]+)/.exec(reply)?.[1] ?? NaN);
    // Drain: until every observer has as many writes as changes, or nothing moved for 2 s (at most 20 s).
    let last = observers.map(() => -1);
    let lastMove = performance.now();
    for (;;) {
      const counts = await Promise.all(observers.map(async (o) => Number((await o.command(`count ${prefix}`)).split(' ')[1])));
      if (counts.some((c, k) => c !== last[k])) lastMove = performance.now();
      last = counts;
      if (counts.every((c) => c >= n) || performance.now() - lastMove > 2000 || performance.now() - emittedAt > 20_000) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const drainMs = Math.max(0, lastMove - emittedAt);
    const emitted = JSON.parse(fs.readFileSync(emitFile, 'utf8')) as DeviceEvent[];
    const outcomes: ObserverOutcome[] = [];
    const latencies: number[] = [];
    for (const o of observers) {
      const file = path.join(this.dir, `observed-${this.serial}-node${o.node}.json`);
      await o.command(`dump ${prefix} ${file}`);
      const m = matchDeviceEvents(emitted, JSON.parse(fs.readFileSync(file, 'utf8')) as DeviceEvent[]);
      const f = latencyFigures(m.latenciesMs);
      latencies.push(...m.latenciesMs);
      outcomes.push({ node: o.node, matched: m.matched, lost: m.lost, unexpected: m.unexpected, finalMismatch: m.finalMismatch, p50Ms: f?.p50 ?? null, p99Ms: f?.p99 ?? null });
    }
    const lost = outcomes.reduce((s, o) => s + o.lost, 0);
    const p99 = latencyFigures(latencies)?.p99 ?? null;
    const rateAchieved = elapsedMs > 0 ? (n / elapsedMs) * 1000 : 0;
    const reasons: string[] = [];
    if (lost > 0) reasons.push(`${lost} changes lost or skipped`);
    if (outcomes.some((o) => o.finalMismatch > 0)) reasons.push(`final states differ on ${outcomes.reduce((s, o) => s + o.finalMismatch, 0)} devices`);
    if (outcomes.some((o) => o.unexpected > 0)) reasons.push('unexpected writes');
    if (rateAchieved < rate * 0.9) reasons.push(`the emitter reached only ${rateAchieved.toFixed(0)}/s`);
    if (p99 === null || p99 > RAMP_P99_LIMIT_MS) reasons.push(`p99 ${p99 === null ? 'n/a' : `${p99.toFixed(0)} ms`} > ${RAMP_P99_LIMIT_MS} ms`);
    return {
      prefix, rateOffered: rate, seconds, devices, emitted: n, rateAchieved, drainMs, observers: outcomes, latenciesMs: latencies, lost,
      pass: reasons.length === 0, reason: reasons.join('; '),
    };
  }

  /** Stops the agents (the caller stops the daemons). */
  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop().catch(() => undefined)));
  }
}
