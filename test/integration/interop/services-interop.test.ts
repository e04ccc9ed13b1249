// Goal (issue "services", acceptance): a mixed cluster with real corosync 3.1.7 — two
// corosync nodes and one carillond in network namespaces. A libcpg client on a corosync
// node (the C client ../shared/tools/cpgload, built here with gcc and libcpg-dev) and a
// Carillon CPG client are in one group and exchange messages both ways in the same total
// order; `corosync-quorumtool -s` on the real nodes counts three votes and agrees with
// Carillon's quorum status; `corosync-cpgtool` lists the Carillon client's group member;
// killing and restarting each kind of node gives the others the right configuration
// changes.
//
// Method: netns.ts builds <prefix>-br and <prefix>-1..3; corosync runs on nodes 1 and 2,
// carillond on node 3 (udpu, crypto off, default timers, corosync_votequorum, no
// expected_votes: the nodelist's 3). cpgload runs inside the corosync namespaces: `-m
// watch` processes ("watchers") print every CONFCHG, TOTEM ring and DELIVER to a file,
// `-m text` sends; `ip netns exec` execs, so a cpgload's pid is the one CPG shows. The
// Carillon CPG clients (src/client CpgClient) and quorum queries (QuorumClient: the IPC
// method `quorum.status`, which `carillon quorum status` shows) run in this process, over
// carillond's IPC socket (a filesystem path).
//
// Streams are compared as text: a CONFCHG as its member list (nodeid:pid, in the order
// given) plus left/joined with reasons, a DELIVER as sender, length and (printable) text,
// a TOTEM as ring id and members — exactly what cpgload prints; the Carillon client's
// events are rendered the same way. In (b) every observer's stream is compared from the
// first CONFCHG listing all of w1, w2 and c3 on.
//
// Seen against corosync 3.1.7 (asserted in (c)): `corosync-cpgtool` does not print a
// group in process-list order. It walks cpg_iteration, whose copy corosync builds by
// inserting each process right after the group's first one: the first member, then the
// others in reverse (nodeid, pid) order. carillond's cpg.groups keeps the (nodeid, pid)
// order of the process list (that of confchgs and cpg_membership_get).
//
// The steps depend on each other and run in order; once one fails the rest fail at once.
// Every wait is a poll with a deadline (a kill -9 costs token + consensus ≈ 8 s). On
// failure the message carries the tails of the corosync and carillond logs and of every
// watcher's output, and the run's directory is kept. Skipped, loudly, without root / ip
// netns / corosync / gcc + libcpg-dev; under CI=true that is a failure.
// Environment: CARILLON_INTEROP_DEBUG=off turns the daemons' debug logging off;
// CARILLON_INTEROP_KEEP=1 keeps the run's directory after a pass too.

import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import * as path from 'node:path';
import { CpgClient, IpcClient, QuorumClient, type CpgClientEvent, type CpgConfchgEvent, type QuorumStatus } from '../../../src/client';
import type { DaemonStatus } from '../../../src/ipc/daemon-api';
import {
  type Check,
  type CpgloadEvent,
  type ManagedProcess,
  type QuorumtoolStatus,
  NetnsCluster,
  buildCpgload,
  checkInteropPrerequisites,
  ensureDistBuilt,
  fileSize,
  lastMembership,
  logTail,
  parseCpgloadWatch,
  pollUntil,
  readFrom,
} from './netns';
import { InteropSteps, interopLayout, interopSuiteRuns, present } from './interop-kit';

const ROOT = path.resolve(__dirname, '../../..');
const DAEMON_JS = path.join(ROOT, 'dist', 'bin', 'daemon.js');
const CLUSTER_NAME = 'mixed';
const GROUP = 'mixed';
const REAL = [1, 2] as const;
const CARILLON = 3;
const ALL = [1, 2, 3] as const;
/** Messages sent by each side in (b). */
const K = 100;
const DEBUG = process.env['CARILLON_INTEROP_DEBUG'] !== 'off';
const KEEP = process.env['CARILLON_INTEROP_KEEP'] === '1';

const gate = checkInteropPrerequisites(process.env, { cpgload: true });

/** corosync log lines at warning level or worse, and complaints about messages at any level. */
const COROSYNC_COMPLAINT = /^\w{3} +\d+ [\d:.]+ (warning|error|crit|alert|emerg) |Unknown node|will not deliver|received in state|can't mcast|Unknown message/;
/** What corosync says in every run here (no memlock in a container, no watchdog configured). */
const COROSYNC_EXPECTED = /Could not increase RLIMIT_MEMLOCK|\[WD {4}\]/;
/** carillond log lines at warning level or worse. */
const CARILLON_COMPLAINT = /^\S+\s+(warning|error|crit|alert|emerg)\b/;

// ---------------------------------------------------------------------------------------
// Rendering CPG events the way cpgload prints them

interface Address {
  nodeId: number;
  pid: number;
}

const addr = (a: Address): string => `${a.nodeId}:${a.pid}`;
const withReason = (a: Address & { reason: string }): string => `${addr(a)}:${a.reason}`;
const confchgLine = (members: readonly Address[], left: ReadonlyArray<Address & { reason: string }>, joined: ReadonlyArray<Address & { reason: string }>): string =>
  `CONFCHG members=[${members.map(addr).join(',')}] left=[${left.map(withReason).join(',')}] joined=[${joined.map(withReason).join(',')}]`;

/** cpgload's DELIVER rendering: the first 64 bytes as text when all of them are printable ASCII. */
function deliverLine(from: Address, payload: Buffer): string {
  const head = payload.subarray(0, Math.min(payload.length, 64));
  const printable = head.every((b) => b >= 32 && b <= 126);
  return `DELIVER from=${addr(from)} len=${payload.length}${printable ? ` text="${head.toString('latin1')}"` : ''}`;
}

const totemLine = (ring: string, members: readonly number[]): string => `TOTEM ring=${ring} members=[${members.join(',')}]`;

/** A cpgload watch event as a comparable line; TOTEM only when asked (START never). */
function cpgloadLine(e: CpgloadEvent, totem: boolean): string | null {
  if (e.kind === 'confchg') return confchgLine(e.members, e.left, e.joined);
  if (e.kind === 'deliver') return `DELIVER from=${e.nodeId}:${e.pid} len=${e.len}${e.text === null ? '' : ` text="${e.text}"`}`;
  if (e.kind === 'totem' && totem) return totemLine(e.ring, e.members);
  return null;
}

const reasonName = (r: { reasonName: string }): string => (r.reasonName === 'undefined' ? 'undef' : r.reasonName);

function carillonLine(e: CpgClientEvent, totem: boolean): string | null {
  if (e.type === 'totem-confchg') return totem ? totemLine(`${e.ringId.rep.toString(16)}.${BigInt(e.ringId.seq).toString(16)}`, e.members) : null;
  if (e.type === 'confchg') {
    const reasoned = (l: CpgConfchgEvent['left']): Array<Address & { reason: string }> => l.map((m) => ({ nodeId: m.nodeId, pid: m.pid, reason: reasonName(m) }));
    return confchgLine(e.members, reasoned(e.left), reasoned(e.joined));
  }
  if (e.type === 'deliver') return deliverLine(e, e.payload);
  return null;
}

/** The lines from the first CONFCHG whose members include all of `who` on. */
function streamFrom(lines: readonly string[], who: readonly Address[]): string[] {
  const start = lines.findIndex((l) => l.startsWith('CONFCHG') && who.every((a) => (membersOfLine(l) ?? []).includes(addr(a))));
  return start < 0 ? [] : lines.slice(start);
}

function membersOfLine(line: string): string[] | null {
  const m = /members=\[([^\]]*)\]/.exec(line);
  return m?.[1] === undefined ? null : m[1].split(',').filter((x) => x !== '');
}

/** nodeid:pid of each, in corosync's member order (nodeid, then pid). */
const sortedAddrs = (list: readonly Address[]): string[] => [...list].sort((a, b) => a.nodeId - b.nodeId || a.pid - b.pid).map(addr);

/** A CONFCHG line with its member list put in (nodeid, pid) order: for shape checks that do not test the order. */
function normalizeMembers(line: string): string {
  return line.replace(/members=\[([^\]]*)\]/, (_, list: string) => {
    const parsed = list.split(',').filter((x) => x !== '').map((x) => {
      const [nodeId, pid] = x.split(':').map(Number);
      return { nodeId: nodeId ?? 0, pid: pid ?? 0 };
    });
    return `members=[${sortedAddrs(parsed).join(',')}]`;
  });
}

/** Did the daemon whose log this is finish service synchronization after the last membership it logged? */
function syncedAfterLastMembership(log: string): boolean {
  const last = log.lastIndexOf('A new membership (');
  return last >= 0 && log.indexOf('Completed service synchronization, ready to provide service.', last) > last;
}

// ---------------------------------------------------------------------------------------
// Observers

/** A `cpgload -m watch` process on a corosync node; its output file is its record. */
class Watcher {
  readonly name: string;
  readonly node: number;
  readonly proc: ManagedProcess;

  constructor(name: string, node: number, proc: ManagedProcess) {
    this.name = name;
    this.node = node;
    this.proc = proc;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get address(): Address {
    return { nodeId: this.node, pid: this.pid };
  }

  get logFile(): string {
    return this.proc.logFile;
  }

  /** Parsed events, optionally only those written after byte `offset` of the output. */
  events(offset = 0): CpgloadEvent[] {
    return parseCpgloadWatch(readFrom(this.logFile, offset));
  }

  /** Comparable lines (see cpgloadLine) from byte `offset` of the output on. */
  lines(offset = 0, totem = false): string[] {
    return this.events(offset).map((e) => cpgloadLine(e, totem)).filter((l): l is string => l !== null);
  }

  confchgs(offset = 0): Array<Extract<CpgloadEvent, { kind: 'confchg' }>> {
    return this.events(offset).filter((e): e is Extract<CpgloadEvent, { kind: 'confchg' }> => e.kind === 'confchg');
  }

  lastMembers(): string[] {
    const last = this.confchgs().at(-1);
    return last === undefined ? [] : sortedAddrs(last.members);
  }

  offset(): number {
    return fileSize(this.logFile);
  }
}

/** A Carillon CPG client in this process, with everything it saw. */
class CarillonMember {
  readonly name: string;
  readonly client: CpgClient;
  readonly events: CpgClientEvent[] = [];
  /** performance.now() at each event's arrival. */
  readonly eventTimes: number[] = [];
  readonly errors: string[] = [];
  /** The IPC connection ended (closed here, or carillond went away). */
  closed = false;

  constructor(name: string, client: CpgClient) {
    this.name = name;
    this.client = client;
    const record = (e: CpgClientEvent): void => {
      this.events.push(e);
      this.eventTimes.push(performance.now());
    };
    client.on('deliver', record);
    client.on('confchg', record);
    client.on('totem-confchg', record);
    void client.ipc.closed.then(() => {
      this.closed = true;
    });
  }

  get address(): Address {
    return { nodeId: this.client.nodeId, pid: this.client.pid };
  }

  /** Comparable lines (see carillonLine) from event `from` on. */
  lines(from = 0, totem = false): string[] {
    return this.events.slice(from).map((e) => carillonLine(e, totem)).filter((l): l is string => l !== null);
  }

  confchgs(from = 0): CpgConfchgEvent[] {
    return this.events.slice(from).filter((e): e is CpgConfchgEvent => e.type === 'confchg');
  }

  lastMembers(): string[] {
    const last = this.confchgs().at(-1);
    return last === undefined ? [] : sortedAddrs(last.members);
  }

  describe(): string {
    return `${this.name} (${addr(this.address)}): ${this.events.length} events, last members [${this.lastMembers().join(' ')}]; last lines:\n    ${this.lines().slice(-8).join('\n    ')}`;
  }
}

// ---------------------------------------------------------------------------------------

if (interopSuiteRuns(gate, { title: 'corosync 3.1.7 services interop (netns)', name: 'corosync services interop test', needs: 'root, ip netns, corosync 3.1.7, gcc and libcpg-dev' })) {
  describe('corosync 3.1.7 services interop (netns): CPG and quorum between two corosync nodes and carillond', () => {
    let cluster: NetnsCluster | null = null;
    let cpgload = '';
    const corosync = new Map<number, ManagedProcess>();
    let carillond: ManagedProcess | null = null;
    const watchers: Watcher[] = [];
    const members: CarillonMember[] = [];
    let tokenMs = 3650;
    let consensusMs = 4380;
    const timings: string[] = [];

    const c = present(() => cluster, 'the namespaces were not created');
    const layout = interopLayout(c, { clusterName: CLUSTER_NAME, all: ALL, carillon: CARILLON, debug: DEBUG });
    const { socketPath, corosyncLog, carillonLog } = layout;
    const secondsSince = (t: number): string => ((performance.now() - t) / 1000).toFixed(2);
    const failoverMs = (): number => tokenMs + consensusMs + 10_000;

    function startCorosync(i: number): void {
      corosync.set(i, c().startCorosync(i, layout.corosyncConf(i)));
    }

    function startCarillond(): ManagedProcess {
      carillond = c().startCarillond(CARILLON, layout.carillonConf(), DAEMON_JS);
      return carillond;
    }

    function startWatcher(node: number, name: string): Watcher {
      const proc = c().spawnIn(node, `cpgload watch ${name}`, path.join(c().dir(node), `cpgload-${name}.log`), [cpgload, '-m', 'watch', '-g', GROUP, '-T', '30']);
      const w = new Watcher(name, node, proc);
      watchers.push(w);
      return w;
    }

    async function joinCarillonMember(name: string): Promise<CarillonMember> {
      const client = await CpgClient.connect(socketPath(), { timeoutMs: 5000, clientName: `interop ${name}` });
      const m = new CarillonMember(name, client);
      members.push(m);
      await client.join(GROUP);
      return m;
    }

    async function carillonQuorum(): Promise<QuorumStatus> {
      const q = await QuorumClient.connect(socketPath(), { timeoutMs: 2000, clientName: 'interop-test' });
      try {
        return await q.status();
      } finally {
        await q.close();
      }
    }

    async function carillonStatus(): Promise<DaemonStatus> {
      const client = await IpcClient.connect(socketPath(), { timeoutMs: 2000, clientName: 'interop-test' });
      try {
        return await client.call('status', {}, { timeoutMs: 2000 });
      } finally {
        await client.close();
      }
    }

    /** What every log says lately; attached to failures. */
    function tails(): string {
      if (cluster === null) return '(no cluster)';
      const parts = REAL.map((i) => `----- corosync node ${i}: tail of ${corosyncLog(i)}\n${logTail(corosyncLog(i), 30)}`);
      parts.push(`----- carillond node ${CARILLON}: tail of ${carillonLog()}\n${logTail(carillonLog(), 30)}`);
      for (const w of watchers) parts.push(`----- watcher ${w.name} (node ${w.node}, pid ${w.pid}${w.proc.alive ? '' : `, exited ${JSON.stringify(w.proc.exit)}`}): tail of ${w.logFile}\n${logTail(w.logFile, 20)}`);
      for (const m of members) parts.push(`----- Carillon client ${m.describe()}`);
      return `${parts.join('\n')}\n----- full logs and configs kept in ${cluster.baseDir}`;
    }

    const steps = new InteropSteps(tails);
    const { step } = steps;

    const describeQt = (i: number, q: QuorumtoolStatus): string =>
      `node ${i} quorumtool: nodes ${q.nodes} ring ${q.ringId} quorate ${String(q.quorate)} expected ${q.expectedVotes} total ${q.totalVotes} quorum ${q.quorum} flags [${q.flags.join(' ')}] members [${q.members.map((m) => `${m.nodeId}x${m.votes}`).join(' ')}]`;
    const describeCq = (q: QuorumStatus): string =>
      `carillond quorum: quorate ${String(q.quorate)} ring ${q.ringId.rep.toString(16)}.${BigInt(q.ringId.seq).toString(16)} expected ${q.expectedVotes} total ${q.totalVotes} quorum ${q.quorum} flags [${q.flags.join(' ')}] members [${q.members.map((m) => `${m.nodeId}x${String(m.votes)}`).join(' ')}]`;

    /** corosync-quorumtool on each live real node shows exactly `expected` (1 vote each, expected votes 3, quorum 2, quorate). */
    async function realQuorum(live: readonly number[], expected: readonly number[]): Promise<Check & { views: Map<number, QuorumtoolStatus> }> {
      const views = new Map<number, QuorumtoolStatus>();
      const bad: string[] = [];
      for (const i of live) {
        const q = await c().quorumtoolStatus(i);
        views.set(i, q);
        const ids = q.members.map((m) => m.nodeId).sort((a, b) => a - b);
        if (q.nodes !== expected.length || ids.join() !== expected.join() || q.totalVotes !== expected.length || q.members.some((m) => m.votes !== 1)) bad.push(`node ${i} counts [${ids.join(',')}] total ${q.totalVotes}`);
        if (q.expectedVotes !== 3 || q.quorum !== 2 || q.quorate !== expected.length >= 2) bad.push(`node ${i} expected ${q.expectedVotes} quorum ${q.quorum} quorate ${String(q.quorate)}`);
      }
      const rings = new Set([...views.values()].map((q) => q.ringId));
      if (rings.size > 1) bad.push(`the real nodes disagree on the ring: ${[...rings].join(' vs ')}`);
      return { ok: bad.length === 0, views, detail: `${[...views].map(([i, q]) => describeQt(i, q)).join('\n')}${bad.length > 0 ? `\n  want [${expected.join(',')}]: ${bad.join('; ')}` : ''}` };
    }

    /** carillond's votequorum shows exactly `expected`, sync finished, on `ring` (hex rep.seq) when given. */
    async function carillonQuorumIs(expected: readonly number[], ring?: string): Promise<Check> {
      const [q, s] = [await carillonQuorum(), await carillonStatus()];
      const ids = q.members.map((m) => m.nodeId).sort((a, b) => a - b);
      const cring = `${q.ringId.rep.toString(16)}.${BigInt(q.ringId.seq).toString(16)}`;
      const bad: string[] = [];
      if (s.syncing === true || s.state !== 'operational') bad.push(`state ${s.state}, syncing ${String(s.syncing)}`);
      if (ids.join() !== expected.join() || q.members.some((m) => m.votes !== 1) || q.totalVotes !== expected.length) bad.push(`counts [${ids.join(',')}] total ${q.totalVotes}`);
      if (q.expectedVotes !== 3 || q.quorum !== 2 || q.quorate !== expected.length >= 2 || q.provider !== 'corosync_votequorum') bad.push(`expected ${q.expectedVotes} quorum ${q.quorum} quorate ${String(q.quorate)} provider ${String(q.provider)}`);
      if (ring !== undefined && cring !== ring) bad.push(`ring ${cring}, the real nodes' is ${ring}`);
      return { ok: bad.length === 0, detail: `${describeCq(q)}${bad.length > 0 ? `\n  want [${expected.join(',')}]: ${bad.join('; ')}` : ''}` };
    }

    /** Real nodes and carillond (when in `expected`) agree on the quorum of `expected`. */
    async function everyoneQuorum(live: readonly number[], expected: readonly number[]): Promise<Check> {
      const real = await realQuorum(live, expected);
      if (!expected.includes(CARILLON) || !real.ok) return real;
      const ring = [...real.views.values()][0]?.ringId;
      const car = await carillonQuorumIs(expected, ring);
      return { ok: car.ok, detail: `${real.detail}\n${car.detail}` };
    }

    const allOk = (checks: readonly Check[]): Check => ({ ok: checks.every((k) => k.ok), detail: checks.map((k) => k.detail).join('\n') });

    /** Watcher w's last CONFCHG lists exactly `want` as members. */
    function watcherHas(w: Watcher, want: readonly Address[]): Check {
      const got = w.lastMembers();
      return { ok: got.join() === sortedAddrs(want).join(), detail: `${w.name}: last members [${got.join(' ')}], want [${sortedAddrs(want).join(' ')}]` };
    }

    function memberHas(m: CarillonMember, want: readonly Address[]): Check {
      const got = m.lastMembers();
      return { ok: got.join() === sortedAddrs(want).join(), detail: `${m.name}: last members [${got.join(' ')}], want [${sortedAddrs(want).join(' ')}]` };
    }

    const watcher = (name: string): Watcher => {
      const w = watchers.find((x) => x.name === name);
      if (w === undefined) throw new Error(`no watcher ${name}`);
      return w;
    };
    const member = (name: string): CarillonMember => {
      const m = members.find((x) => x.name === name);
      if (m === undefined) throw new Error(`no Carillon client ${name}`);
      return m;
    };

    beforeAll(async () => {
      try {
        await ensureDistBuilt(ROOT);
        cluster = await NetnsCluster.create({ nodes: ALL.length });
        cpgload = await buildCpgload(cluster.baseDir);
        for (const i of REAL) startCorosync(i);
        await pollUntil('corosync nodes 1 and 2 to be quorate together (2 of 3 votes)', 30_000, () => realQuorum(REAL, [1, 2]));
        const totem = await c().cmap(1, 'runtime.config.totem.');
        tokenMs = Number(totem.get('runtime.config.totem.token') ?? tokenMs);
        consensusMs = Number(totem.get('runtime.config.totem.consensus') ?? consensusMs);
      } catch (error) {
        throw steps.setupFailed('services interop', error);
      }
    }, 90_000);

    afterAll(async () => {
      await Promise.all(members.map((m) => m.client.close().catch(() => undefined)));
      if (cluster !== null) {
        const dir = cluster.baseDir;
        await cluster.destroy({ keepFiles: steps.failed || KEEP });
        if (steps.failed || KEEP) console.warn(`corosync services interop: ${steps.failed ? 'failed; ' : ''}configs and logs kept in ${dir}`);
      }
      if (timings.length > 0) console.log(`corosync services interop timings (${gate.corosyncVersion ?? 'corosync'}, token ${tokenMs} ms, consensus ${consensusMs} ms):\n  ${timings.join('\n  ')}`);
    }, 30_000);

    step('(a) 2 corosync + carillond: one ring, sync completes, quorumtool on both real nodes counts 3 votes and agrees with carillond', 30_000, async () => {
      const started = performance.now();
      startCarillond();
      await pollUntil('quorumtool on nodes 1, 2 and carillond to agree on 3 votes of [1,2,3]', 20_000, () => everyoneQuorum(REAL, ALL));
      timings.push(`(a) quorum of [1,2,3] everywhere ${secondsSince(started)} s after starting carillond`);
      for (const i of REAL) {
        const q = await c().quorumtoolStatus(i);
        expect({ nodes: q.nodes, total: q.totalVotes, expected: q.expectedVotes, quorum: q.quorum, quorate: q.quorate, flags: q.flags }).toEqual({ nodes: 3, total: 3, expected: 3, quorum: 2, quorate: true, flags: ['Quorate'] });
        expect(q.members.map((m) => [m.nodeId, m.votes])).toEqual([[1, 1], [2, 1], [3, 1]]);
        expect(q.members.find((m) => m.nodeId === 3)?.name).toBe('node3');
      }
      const cq = await carillonQuorum();
      const ring = (await c().quorumtoolStatus(1)).ringId;
      expect(`${cq.ringId.rep.toString(16)}.${BigInt(cq.ringId.seq).toString(16)}`).toBe(ring);
      expect({ quorate: cq.quorate, expected: cq.expectedVotes, highest: cq.highestExpected, total: cq.totalVotes, quorum: cq.quorum, flags: cq.flags, nodeId: cq.nodeId }).toEqual({ quorate: true, expected: 3, highest: 3, total: 3, quorum: 2, flags: ['Quorate'], nodeId: 3 });
      expect(cq.members.map((m) => ({ nodeId: m.nodeId, votes: m.votes }))).toEqual([{ nodeId: 1, votes: 1 }, { nodeId: 2, votes: 1 }, { nodeId: 3, votes: 1 }]);
      // The names quorumtool prints on node 1 and the ones carillond reports are the nodelist's.
      expect(cq.members.map((m) => m.name)).toEqual((await c().quorumtoolStatus(1)).members.map((m) => m.name));
      for (const i of REAL) expect({ node: i, synced: syncedAfterLastMembership(readFrom(corosyncLog(i))) }).toEqual({ node: i, synced: true });
    });

    step(`(b) CPG both ways: cpgload text on node 1 and a Carillon client each send ${K} messages; watchers on nodes 1 and 2 and the Carillon client see the same stream`, 60_000, async () => {
      let started = performance.now();
      const w1 = startWatcher(1, 'w1');
      const w2 = startWatcher(2, 'w2');
      const c3 = await joinCarillonMember('c3');
      const trio = [w1.address, w2.address, c3.address];
      await pollUntil('watchers w1, w2 and the Carillon client c3 to see each other in the group', 15_000, async () => allOk([watcherHas(w1, trio), watcherHas(w2, trio), memberHas(c3, trio)]));
      timings.push(`(b) w1, w2, c3 in group ${GROUP} ${secondsSince(started)} s after starting them`);

      // Both senders start at the CONFCHG that lists the text sender: cpgload text once it
      // sees 4 members, the Carillon client when that CONFCHG reaches it. Each sends its K
      // messages back to back (cpgload one per dispatch, the client one per IPC round trip).
      let textPid = -1;
      let sending = false;
      const myText = (k: number): string => `from carillon #${k} from node ${CARILLON}`;
      c3.client.on('confchg', (e) => {
        if (sending || !e.members.some((m) => m.nodeId === 1 && m.pid === textPid)) return;
        sending = true;
        for (let k = 0; k < K; k += 1) {
          c3.client.mcast(GROUP, myText(k)).catch((error: unknown) => c3.errors.push(`mcast #${k}: ${error instanceof Error ? error.message : String(error)}`));
        }
      });
      started = performance.now();
      const text = c().spawnIn(1, 'cpgload text', path.join(c().dir(1), 'cpgload-text.log'), [cpgload, '-m', 'text', '-g', GROUP, '-n', '4', '-c', String(K), '-p', 'from corosync', '-T', '30']);
      textPid = text.pid;
      const t = { nodeId: 1, pid: text.pid };
      const fromT = (k: number): string => `from corosync #${k} from node 1`;
      const expectedFrom = (who: Address, textOf: (k: number) => string): string[] => Array.from({ length: K }, (_, k) => deliverLine(who, Buffer.from(textOf(k), 'latin1')));
      const wantT = expectedFrom(t, fromT);
      const wantC = expectedFrom(c3.address, myText);
      const progress = (name: string, lines: readonly string[]): Check => {
        const got = lines.filter((l) => l.startsWith('DELIVER'));
        const tLeft = lines.some((l) => l.startsWith('CONFCHG') && l.includes(`left=[${addr(t)}:`));
        return { ok: got.length >= 2 * K && tLeft, detail: `${name}: ${got.length} of ${2 * K} deliveries, text sender left: ${String(tLeft)}` };
      };
      await pollUntil(`${2 * K} deliveries and the text sender's leave at w1, w2 and c3`, 30_000, async () => {
        if (c3.errors.length > 0) throw new Error(`the Carillon client's mcast failed: ${c3.errors.join('; ')}`);
        return allOk([progress('w1', w1.lines()), progress('w2', w2.lines()), progress('c3', c3.lines())]);
      }, 100);
      const exit = await text.waitExit(10_000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(c3.errors).toEqual([]);
      timings.push(`(b) ${2 * K} messages delivered everywhere and the text sender gone ${secondsSince(started)} s after starting it`);

      const streams = { w1: streamFrom(w1.lines(), trio), w2: streamFrom(w2.lines(), trio), c3: streamFrom(c3.lines(), trio) };
      // The whole CPG stream — confchgs (members in order, reasons) and deliveries — is the same for all.
      expect(streams.w2).toEqual(streams.w1);
      expect(streams.c3).toEqual(streams.w1);
      const delivered = streams.w1.filter((l) => l.startsWith('DELIVER'));
      expect(delivered.filter((l) => l.startsWith(`DELIVER from=${addr(t)} `))).toEqual(wantT);
      expect(delivered.filter((l) => l.startsWith(`DELIVER from=${addr(c3.address)} `))).toEqual(wantC);
      expect(delivered).toHaveLength(2 * K);
      // Shape (member order aside, which the equality above covers): the last of w1, w2, c3
      // joins (they started together), t joins, t leaves.
      const confchgs = streams.w1.filter((l) => l.startsWith('CONFCHG')).map(normalizeMembers);
      const lastJoiner = /joined=\[(\d+:\d+):join\]$/.exec(confchgs[0] ?? '')?.[1] ?? '(none)';
      expect(trio.map(addr)).toContain(lastJoiner);
      expect(confchgs).toEqual([
        `CONFCHG members=[${sortedAddrs(trio).join(',')}] left=[] joined=[${lastJoiner}:join]`,
        `CONFCHG members=[${sortedAddrs([...trio, t]).join(',')}] left=[] joined=[${addr(t)}:join]`,
        `CONFCHG members=[${sortedAddrs(trio).join(',')}] left=[${addr(t)}:leave] joined=[]`,
      ]);
      // The text sender's SENT order is its delivery order.
      const sent = parseCpgloadWatch(readFrom(text.logFile)).filter((e) => e.kind === 'sent').map((e) => (e.kind === 'sent' ? e.text : ''));
      expect(sent).toEqual(Array.from({ length: K }, (_, k) => fromT(k)));
      let switches = 0;
      for (let k = 1; k < delivered.length; k += 1) if (delivered[k]?.slice(0, 20) !== delivered[k - 1]?.slice(0, 20)) switches += 1;
      timings.push(`(b) the ${2 * K} deliveries switch sender ${switches} times; first ten: ${delivered.slice(0, 10).map((l) => (l.includes('from carillon') ? 'C' : 'T')).join('')}`);
    });

    step('(c) corosync-cpgtool on the real nodes lists the Carillon client on node 3, as carillond\'s cpg.groups does', 15_000, async () => {
      const c3 = member('c3');
      const want = [watcher('w1').address, watcher('w2').address, c3.address];
      const listed = new Map<number, string>();
      await pollUntil(`corosync-cpgtool on nodes 1 and 2 to list [${sortedAddrs(want).join(' ')}] in ${GROUP}`, 5000, async () => {
        const checks: Check[] = [];
        for (const i of REAL) {
          const groups = await c().cpgtool(i);
          const got = (groups.get(GROUP) ?? []).map((m) => ({ nodeId: m.nodeId, pid: m.pid }));
          listed.set(i, got.map(addr).join(' '));
          checks.push({ ok: sortedAddrs(got).join() === sortedAddrs(want).join(), detail: `node ${i} cpgtool: ${JSON.stringify([...groups].map(([g, l]) => [g, l.map((m) => addr({ nodeId: m.nodeId, pid: m.pid }))]))}` });
        }
        return allOk(checks);
      });
      const groups = await c3.client.groups();
      const mine = groups.find((g) => g.group === GROUP);
      expect(groups.map((g) => g.group)).toEqual([GROUP]);
      expect(sortedAddrs(mine?.members ?? [])).toEqual(sortedAddrs(want));
      expect(sortedAddrs(await c3.client.membership(GROUP))).toEqual(sortedAddrs(want));
      // Order: cpgtool walks cpg_iteration, which corosync builds from its process list
      // (sorted by nodeid, pid) by inserting each process right after the group's first
      // one: first member, then the others in reverse. carillond's cpg.groups follows the
      // same rule, so `carillon cpg list` / `show members` print what cpgtool prints.
      const sortedWant = sortedAddrs(want);
      const iterationOrder = [...sortedWant.slice(0, 1), ...sortedWant.slice(1).reverse()];
      expect((mine?.members ?? []).map(addr)).toEqual(iterationOrder);
      expect(listed.get(1)).toBe(iterationOrder.join(' '));
      expect(listed.get(2)).toBe(listed.get(1));
      timings.push(`(c) corosync-cpgtool on nodes 1 and 2 lists ${GROUP}: ${listed.get(1) ?? ''}; carillond cpg.groups: ${(mine?.members ?? []).map(addr).join(' ')}`);
    });

    step('(d) kill -9 carillond: watchers see its member leave (nodedown) and ring [1,2], quorum 2 of 3; restart: 3 votes again, a new Carillon client joins', 60_000, async () => {
      const proc = carillond;
      if (proc === null) throw new Error('carillond is not running');
      const [w1, w2, c3] = [watcher('w1'), watcher('w2'), member('c3')];
      const offsets = new Map([w1, w2].map((w) => [w.name, w.offset()]));
      const logOffsets = REAL.map((i) => fileSize(corosyncLog(i)));
      let started = performance.now();
      await proc.kill();
      const nodedown = `left=[${addr(c3.address)}:nodedown]`;
      const sawDown = (w: Watcher): Check => {
        const events = w.events(offsets.get(w.name) ?? 0);
        const confchg = events.find((e) => e.kind === 'confchg' && e.line.includes(nodedown));
        const totem = events.find((e) => e.kind === 'totem' && e.members.join() === '1,2');
        return { ok: confchg !== undefined && totem !== undefined, detail: `${w.name} since the kill:\n    ${events.map((e) => e.line).join('\n    ')}` };
      };
      await pollUntil(`w1 and w2 to see ${addr(c3.address)} leave (nodedown) and a TOTEM ring of [1,2]`, failoverMs(), async () => allOk([sawDown(w1), sawDown(w2)]));
      timings.push(`(d) watchers saw the Carillon member leave (nodedown) ${secondsSince(started)} s after kill -9 of carillond`);
      await pollUntil('quorumtool on nodes 1 and 2 to count 2 of 3 votes, quorate', 10_000, () => realQuorum(REAL, [1, 2]));
      for (const w of [w1, w2]) {
        const since = w.confchgs(offsets.get(w.name) ?? 0);
        expect(since.map((e) => normalizeMembers(confchgLine(e.members, e.left, e.joined)))).toEqual([`CONFCHG members=[${sortedAddrs([w1.address, w2.address]).join(',')}] left=[${addr(c3.address)}:nodedown] joined=[]`]);
      }
      await pollUntil('the Carillon client to notice its connection ended', 5000, async () => ({ ok: c3.closed, detail: 'its IPC connection is still open' }));
      for (const [k, i] of REAL.entries()) expect(lastMembership(readFrom(corosyncLog(i), logOffsets[k]))?.line).toMatch(/Members left: 3/);

      started = performance.now();
      startCarillond();
      await pollUntil('quorumtool on nodes 1, 2 and carillond to agree on 3 votes of [1,2,3] again', 20_000, () => everyoneQuorum(REAL, ALL));
      timings.push(`(d) 3 votes of [1,2,3] everywhere ${secondsSince(started)} s after restarting carillond`);
      const offsets2 = new Map([w1, w2].map((w) => [w.name, w.offset()]));
      started = performance.now();
      const c3b = await joinCarillonMember('c3b');
      const joinQueued = performance.now();
      const trio = [w1.address, w2.address, c3b.address];
      await pollUntil('w1, w2 and the new Carillon client c3b to see c3b join', 10_000, async () => allOk([watcherHas(w1, trio), watcherHas(w2, trio), memberHas(c3b, trio)]));
      const joinSeen = c3b.eventTimes[c3b.events.findIndex((e) => e.type === 'confchg')] ?? NaN;
      timings.push(`(d) the new Carillon client's join seen everywhere ${secondsSince(started)} s after connecting; its own confchg came ${(joinSeen - joinQueued).toFixed(1)} ms after carillond queued the join (idle ring)`);
      const joinLine = `CONFCHG members=[${sortedAddrs(trio).join(',')}] left=[] joined=[${addr(c3b.address)}:join]`;
      // carillond learned w1 and w2 from corosync's JOINLISTs: its first confchg lists them.
      const first = c3b.lines().filter((l) => l.startsWith('CONFCHG'));
      expect(first.map(normalizeMembers)).toEqual([joinLine]);
      for (const w of [w1, w2]) expect(w.lines(offsets2.get(w.name) ?? 0)).toEqual(first);
    });

    step('(e) kill -9 corosync on node 2: the Carillon client sees its watcher leave (nodedown), carillond 2 votes, quorate; restart: NODEUP/JOIN, 3 votes', 60_000, async () => {
      const proc = corosync.get(2);
      if (proc === undefined) throw new Error('corosync node 2 is not running');
      const [w1, w2, c3b] = [watcher('w1'), watcher('w2'), member('c3b')];
      const from = c3b.events.length;
      const w1Offset = w1.offset();
      let started = performance.now();
      await proc.kill();
      const down = `left=[${addr(w2.address)}:nodedown]`;
      await pollUntil(`the Carillon client and w1 to see w2 (${addr(w2.address)}) leave with nodedown`, failoverMs(), async () => allOk([
        { ok: c3b.lines(from).some((l) => l.includes(down)), detail: `c3b since the kill: ${c3b.lines(from).join(' | ')}` },
        { ok: w1.lines(w1Offset).some((l) => l.includes(down)), detail: `w1 since the kill: ${w1.lines(w1Offset).join(' | ')}` },
      ]));
      timings.push(`(e) c3b and w1 saw node 2's watcher leave (nodedown) ${secondsSince(started)} s after kill -9 of corosync node 2`);
      await pollUntil('carillond and quorumtool on node 1 to count 2 of 3 votes of [1,3], quorate', 10_000, () => everyoneQuorum([1], [1, 3]));
      const pair = [w1.address, c3b.address];
      const downLine = `CONFCHG members=[${sortedAddrs(pair).join(',')}] left=[${addr(w2.address)}:nodedown] joined=[]`;
      expect(c3b.lines(from).map(normalizeMembers)).toEqual([downLine]);
      // With the TOTEM rings: the same sequence at both, ending in NODEDOWN, then the new
      // ring [1,3] (corosync's cpg_sync_activate order), the ring quorumtool shows.
      const ring13 = await c().quorumtoolStatus(1);
      expect(w1.lines(w1Offset, true)).toEqual(c3b.lines(from, true));
      expect(c3b.lines(from, true).slice(-2)).toEqual([c3b.lines(from)[0], totemLine(ring13.ringId, [1, 3])]);
      await w2.proc.waitExit(10_000);

      started = performance.now();
      const from2 = c3b.events.length;
      const w1Offset2 = w1.offset();
      startCorosync(2);
      await pollUntil('quorumtool on nodes 1, 2 and carillond to agree on 3 votes of [1,2,3] after node 2 restarts', 30_000, () => everyoneQuorum(REAL, ALL));
      timings.push(`(e) 3 votes of [1,2,3] everywhere ${secondsSince(started)} s after restarting corosync node 2`);
      started = performance.now();
      const w2b = startWatcher(2, 'w2b');
      const trio = [w1.address, w2b.address, c3b.address];
      await pollUntil('c3b, w1 and the new watcher w2b to see w2b join', 15_000, async () => allOk([watcherHas(w1, trio), watcherHas(w2b, trio), memberHas(c3b, trio)]));
      const own = w2b.events();
      const startAt = own.find((e) => e.kind === 'start')?.at ?? NaN;
      const confchgAt = own.find((e) => e.kind === 'confchg')?.at ?? NaN;
      timings.push(`(e) node 2's new watcher seen everywhere ${secondsSince(started)} s after starting it; its own confchg came ${((confchgAt - startAt) * 1000).toFixed(1)} ms after cpg_join returned (idle ring)`);
      const got = c3b.lines(from2).filter((l) => l.startsWith('CONFCHG'));
      expect(got).toHaveLength(1);
      expect(got[0]).toMatch(new RegExp(`joined=\\[${addr(w2b.address)}:(join|nodeup)\\]$`));
      expect(w1.lines(w1Offset2)).toEqual(got);
      // With the TOTEM rings: the same sequence at both, ending in the ring [1,2,3] that
      // quorumtool shows (no CPG change: node 2 came back without processes), then w2b's join.
      const ring123 = await c().quorumtoolStatus(1);
      expect(w1.lines(w1Offset2, true)).toEqual(c3b.lines(from2, true));
      expect(c3b.lines(from2, true).slice(-2)).toEqual([totemLine(ring123.ringId, [1, 2, 3]), got[0]]);
      // corosync node 2 learned the Carillon client from carillond's JOINLIST: w2b's first confchg lists it.
      expect(w2b.lines().filter((l) => l.startsWith('CONFCHG'))).toEqual(got);
    });

    step('(f) SIGTERM carillond with a Carillon client joined: watchers see it leave with procdown before ring [1,2], no token timeout, exit 0', 30_000, async () => {
      const proc = carillond;
      if (proc === null) throw new Error('carillond is not running');
      const [w1, w2b, c3b] = [watcher('w1'), watcher('w2b'), member('c3b')];
      const offsets = new Map([w1, w2b].map((w) => [w.name, w.offset()]));
      const logOffsets = REAL.map((i) => fileSize(corosyncLog(i)));
      const started = performance.now();
      proc.signal('SIGTERM');
      const procdown = `left=[${addr(c3b.address)}:procdown]`;
      const order = (w: Watcher): Check & { confchg: number; totem: number } => {
        const events = w.events(offsets.get(w.name) ?? 0);
        const confchg = events.findIndex((e) => e.kind === 'confchg' && e.line.includes(procdown));
        const totem = events.findIndex((e) => e.kind === 'totem' && e.members.join() === '1,2');
        return { ok: confchg >= 0 && totem >= 0, confchg, totem, detail: `${w.name} since SIGTERM:\n    ${events.map((e) => e.line).join('\n    ')}` };
      };
      // A token timeout would take token + consensus; the LEAVE must be much faster.
      await pollUntil(`w1 and w2b to see ${addr(c3b.address)} leave (procdown) and a TOTEM ring of [1,2]`, tokenMs, async () => allOk([order(w1), order(w2b)]), 100);
      timings.push(`(f) watchers saw the procdown and ring [1,2] ${secondsSince(started)} s after SIGTERM`);
      for (const w of [w1, w2b]) {
        const o = order(w);
        expect({ watcher: w.name, procdownBeforeRing: o.confchg < o.totem }).toEqual({ watcher: w.name, procdownBeforeRing: true });
        expect(w.lines(offsets.get(w.name) ?? 0).map(normalizeMembers)).toEqual([`CONFCHG members=[${sortedAddrs([w1.address, w2b.address]).join(',')}] ${procdown} joined=[]`]);
      }
      expect(await proc.waitExit(10_000)).toEqual({ code: 0, signal: null });
      await pollUntil('quorumtool on nodes 1 and 2 to count 2 of 3 votes', 10_000, () => realQuorum(REAL, [1, 2]));
      const missed: number[] = [];
      REAL.forEach((i, k) => {
        const text = readFrom(corosyncLog(i), logOffsets[k]);
        expect(text).not.toMatch(/A processor failed|Token has not been received|token timed out/);
        expect(lastMembership(text)?.line).toMatch(/Members left: 3/);
        if (/Failed to receive the leave message/.test(text)) missed.push(i);
      });
      // Not asserted: a real node that reformed on the other's JOIN before carillond's LEAVE
      // datagram reached it logs "Failed to receive the leave message" (a notice, no
      // timeout); at least one of them got it, or nobody would have reformed this fast.
      expect(missed.length).toBeLessThan(REAL.length);
      if (missed.length > 0) timings.push(`(f) note: corosync node(s) ${missed.join(', ')} logged "Failed to receive the leave message. failed: 3" (reformed on the other node's JOIN first)`);
    });

    step('(g) the logs: no warning or complaint about carillond\'s messages on the real nodes, none in carillond\'s', 10_000, async () => {
      for (const i of REAL) {
        const complaints = readFrom(corosyncLog(i)).split('\n').filter((l) => COROSYNC_COMPLAINT.test(l) && !COROSYNC_EXPECTED.test(l));
        expect(`${corosyncLog(i)}:\n${complaints.join('\n')}`).toBe(`${corosyncLog(i)}:\n`);
      }
      const own = readFrom(carillonLog()).split('\n').filter((l) => CARILLON_COMPLAINT.test(l));
      expect(`${carillonLog()}:\n${own.join('\n')}`).toBe(`${carillonLog()}:\n`);
    });
  });
}
