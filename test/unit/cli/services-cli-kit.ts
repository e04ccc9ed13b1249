// Test kit for the CLI tests of the service commands (not a test file): a real IpcServer
// on a temp socket serving the ipc-test-kit's FakeDaemonApi plus a scripted
// DaemonServicesApi — a one-node CPG bus with optional fake remote members, a fixed
// quorum status, and a real CmapStore — and a capturing CommandIo. Shared by cpg, quorum,
// cmap and show .test.ts in this directory.
//
// The fake CPG bus delivers asynchronously and in order (one FIFO drained by
// setImmediate), as the daemon does after its totem round: join, leave and mcast answer
// first, their confchg or delivery comes later. Results of join / mcast / leave can be
// scripted (queues), and deliveryHook rewrites each queued mcast's deliveries (drop,
// duplicate, hold back) to feed `cpg verify` crafted streams.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { cmapValueFromJson, cmapValueToJson } from '../../../src/ipc/cmap-json';
import {
  type CmapEntryJson,
  type CmapTrackEventJson,
  type CmapTrackFlagsJson,
  type CmapValueTypeName,
  type CpgHandleEvent,
  type CpgJoinResultName,
  type CpgLeaveResultName,
  type CpgMcastResultName,
  type CpgMemberChangeJson,
  type CpgMemberJson,
  type CpgGroupJson,
  type DaemonCpgHandle,
  type DaemonServicesApi,
  type QuorumEventJson,
  type QuorumStatusJson,
  DaemonApiError,
  cpgReasonNames,
} from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';
import { type CommandIo, runCli } from '../../../src/cli/program';
import { IpcServer } from '../../../src/runtime/ipc-server';
import { CmapStore } from '../../../src/services/cmap/cmap-store';
import { FakeDaemonApi, makeTempDir, within } from '../../integration/ipc/ipc-test-kit';

export interface Captured extends CommandIo {
  stdout: string[];
  stderr: string[];
  /** Resolves at the first stderr line containing `text`. */
  stderrLine(text: string): Promise<string>;
  /** Resolves once stdout has `n` lines. */
  stdoutLines(n: number): Promise<string[]>;
}

export function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const errWaiters: Array<{ text: string; resolve: (line: string) => void }> = [];
  const outWaiters: Array<{ n: number; resolve: (lines: string[]) => void }> = [];
  return {
    stdout,
    stderr,
    out: (l) => {
      stdout.push(l);
      for (const w of outWaiters.filter((w) => stdout.length >= w.n)) w.resolve(stdout);
    },
    err: (l) => {
      stderr.push(l);
      for (const w of errWaiters.filter((w) => l.includes(w.text))) w.resolve(l);
    },
    stderrLine: (text) => {
      const seen = stderr.find((l) => l.includes(text));
      if (seen !== undefined) return Promise.resolve(seen);
      return within(new Promise((resolve) => errWaiters.push({ text, resolve })), 5000, `stderr line "${text}"`);
    },
    stdoutLines: (n) => {
      if (stdout.length >= n) return Promise.resolve(stdout);
      return within(new Promise((resolve) => outWaiters.push({ n, resolve })), 5000, `${n} stdout lines`);
    },
  };
}

/** A delivery of the fake bus. */
export interface FakeDelivery {
  group: string;
  nodeId: number;
  pid: number;
  payloadHex: string;
}

interface FakeProcess {
  nodeId: number;
  pid: number;
}

interface FakeHandle {
  readonly pid: number;
  readonly listener: (event: CpgHandleEvent) => void;
  readonly groups: Set<string>;
  finalized: boolean;
}

/** Three nodes, two in the ring, votequorum quorate with 2 of 3 votes. */
export function sampleQuorumStatus(): QuorumStatusJson {
  return {
    provider: 'corosync_votequorum',
    quorate: true,
    nodeId: 1,
    ringId: { rep: 1, seq: '321' },
    expectedVotes: 3,
    highestExpected: 3,
    totalVotes: 2,
    quorum: 2,
    flags: ['Quorate'],
    members: [
      { nodeId: 1, votes: 1, name: 'pbx-a', local: true },
      { nodeId: 2, votes: 1, name: 'pbx-b', local: false },
    ],
  };
}

function change(p: FakeProcess, reason: number): CpgMemberChangeJson {
  return { nodeId: p.nodeId, pid: p.pid, reason, reasonName: cpgReasonNames[reason] ?? 'undefined' };
}

/** The scripted services; see the file header. */
export class FakeServices implements DaemonServicesApi {
  readonly localNodeId = 1;
  /** Members per group, in join order. */
  readonly groups = new Map<string, FakeProcess[]>();
  readonly handles: FakeHandle[] = [];
  /** Answers of the next join / leave / mcast calls that pass the state checks; 'queued' once empty. */
  joinResults: CpgJoinResultName[] = [];
  leaveResults: CpgLeaveResultName[] = [];
  mcastResults: CpgMcastResultName[] = [];
  /** Every join / leave / mcast / finalize, as "join G pid". */
  readonly calls: string[] = [];
  /** Payloads of the queued mcasts, in order. */
  readonly mcasts: FakeDelivery[] = [];
  /** Rewrites the deliveries of each queued mcast; index counts queued mcasts from 0. */
  deliveryHook: ((delivery: FakeDelivery, index: number) => FakeDelivery[]) | null = null;
  /** When set, every cpg method fails with it. */
  cpgError: DaemonApiError | null = null;
  quorumStatusValue: QuorumStatusJson = sampleQuorumStatus();
  quorumError: DaemonApiError | null = null;
  readonly quorumCalls: string[] = [];
  readonly store = new CmapStore();
  private readonly queue: Array<() => void> = [];
  private drainScheduled = false;
  private nextPid = 0x40000000;

  constructor() {
    const set = (key: string, type: CmapValueTypeName, value: number | string): void => {
      const parsed = cmapValueFromJson(type, value);
      if (!parsed.ok) throw parsed.error;
      const result = this.store.set(key, parsed.value);
      if (!result.ok) throw result.error;
    };
    set('totem.cluster_name', 'string', 'pbx-trio');
    set('totem.token', 'uint32', 3000);
    set('runtime.config.totem.token', 'uint32', 3000);
    set('runtime.config.totem.token_retransmit', 'uint32', 714);
    set('quorum.expected_votes', 'uint32', 3);
    set('my.blob', 'binary', '61005c');
    set('my.ratio', 'double', 0.5);
    set('my.big', 'uint64', '18446744073709551615');
    this.store.setReadOnly('runtime.config.', true);
    this.store.setReadOnly('totem.cluster_name', false);
  }

  // ---------------------------------------------------------------------------------
  // cpg

  cpgInitialize(options: { pid?: number }, listener: (event: CpgHandleEvent) => void): DaemonCpgHandle {
    this.checkCpg();
    const h: FakeHandle = { pid: options.pid ?? this.nextPid++, listener, groups: new Set(), finalized: false };
    this.handles.push(h);
    return {
      pid: h.pid,
      join: (group) => this.join(h, group),
      leave: (group) => this.leave(h, group),
      mcast: (group, payload) => this.mcast(h, group, Buffer.from(payload).toString('hex')),
      finalize: () => this.finalize(h),
    };
  }

  cpgMembership(group: string): CpgMemberJson[] {
    this.checkCpg();
    return (this.groups.get(group) ?? []).map((p) => ({ nodeId: p.nodeId, pid: p.pid }));
  }

  cpgGroups(): CpgGroupJson[] {
    this.checkCpg();
    return [...this.groups].filter(([, members]) => members.length > 0).map(([group, members]) => ({ group, members: members.map((p) => ({ nodeId: p.nodeId, pid: p.pid })) }));
  }

  /** A process of another node joins (or is just there, with `announce` false). */
  addRemote(group: string, nodeId: number, pid: number, announce = true): void {
    this.schedule(() => this.addProcess(group, { nodeId, pid }, announce));
  }

  removeRemote(group: string, nodeId: number, pid: number, reason: number): void {
    this.schedule(() => this.removeProcess(group, { nodeId, pid }, reason, false));
  }

  /** A delivery from anyone (crafted), in bus order. */
  deliver(delivery: FakeDelivery): void {
    this.schedule(() => this.deliverNow(delivery));
  }

  /** A totem configuration change to every live handle. */
  totemConfchg(rep: number, seq: string, members: number[]): void {
    this.schedule(() => {
      for (const h of this.handles.filter((h) => !h.finalized)) h.listener({ event: 'totem-confchg', ringId: { rep, seq }, members });
    });
  }

  /** Resolves once everything scheduled so far has happened. */
  settled(): Promise<void> {
    return new Promise((resolve) => this.schedule(resolve));
  }

  private join(h: FakeHandle, group: string): CpgJoinResultName {
    this.calls.push(`join ${group} ${h.pid}`);
    if (h.finalized) return 'finalized';
    if (h.groups.has(group) || this.handles.some((o) => o !== h && o.pid === h.pid && o.groups.has(group))) return 'exists';
    const result = this.joinResults.shift() ?? 'queued';
    if (result !== 'queued') return result;
    h.groups.add(group);
    this.schedule(() => this.addProcess(group, { nodeId: this.localNodeId, pid: h.pid }, true));
    return result;
  }

  private leave(h: FakeHandle, group: string): CpgLeaveResultName {
    this.calls.push(`leave ${group} ${h.pid}`);
    if (h.finalized) return 'finalized';
    if (!h.groups.has(group)) return 'not-joined';
    const result = this.leaveResults.shift() ?? 'queued';
    if (result !== 'queued') return result;
    h.groups.delete(group);
    // corosync tells the leaving process too.
    this.schedule(() => this.removeProcess(group, { nodeId: this.localNodeId, pid: h.pid }, 2, true, h));
    return result;
  }

  private mcast(h: FakeHandle, group: string, payloadHex: string): CpgMcastResultName {
    this.calls.push(`mcast ${group} ${h.pid}`);
    if (h.finalized || !h.groups.has(group)) return 'not-joined';
    const result = this.mcastResults.shift() ?? 'queued';
    if (result !== 'queued') return result;
    const delivery: FakeDelivery = { group, nodeId: this.localNodeId, pid: h.pid, payloadHex };
    const index = this.mcasts.length;
    this.mcasts.push(delivery);
    const deliveries = this.deliveryHook === null ? [delivery] : this.deliveryHook(delivery, index);
    for (const d of deliveries) this.schedule(() => this.deliverNow(d));
    return result;
  }

  private finalize(h: FakeHandle): void {
    this.calls.push(`finalize ${h.pid}`);
    if (h.finalized) return;
    h.finalized = true;
    for (const group of [...h.groups]) this.schedule(() => this.removeProcess(group, { nodeId: this.localNodeId, pid: h.pid }, 5, false));
    h.groups.clear();
  }

  private addProcess(group: string, p: FakeProcess, announce: boolean): void {
    const members = this.groups.get(group) ?? [];
    members.push(p);
    this.groups.set(group, members);
    if (announce) this.confchg(group, [change(p, 1)], [], null);
  }

  private removeProcess(group: string, p: FakeProcess, reason: number, tellLeaver: boolean, leaver?: FakeHandle): void {
    const members = this.groups.get(group) ?? [];
    const at = members.findIndex((m) => m.nodeId === p.nodeId && m.pid === p.pid);
    if (at < 0) return;
    members.splice(at, 1);
    this.confchg(group, [], [change(p, reason)], tellLeaver ? (leaver ?? null) : null);
  }

  private confchg(group: string, joined: CpgMemberChangeJson[], left: CpgMemberChangeJson[], alsoTell: FakeHandle | null): void {
    const members = (this.groups.get(group) ?? []).map((p) => ({ nodeId: p.nodeId, pid: p.pid }));
    const event: CpgHandleEvent = { event: 'confchg', group, members, joined, left };
    for (const h of this.localHandlesIn(group)) h.listener(event);
    if (alsoTell !== null && !alsoTell.finalized) alsoTell.listener(event);
  }

  private deliverNow(d: FakeDelivery): void {
    for (const h of this.localHandlesIn(d.group)) h.listener({ event: 'deliver', group: d.group, nodeId: d.nodeId, pid: d.pid, payload: Buffer.from(d.payloadHex, 'hex') });
  }

  /** Live handles whose process is a member of the group now. */
  private localHandlesIn(group: string): FakeHandle[] {
    const members = this.groups.get(group) ?? [];
    return this.handles.filter((h) => !h.finalized && members.some((m) => m.nodeId === this.localNodeId && m.pid === h.pid));
  }

  private schedule(action: () => void): void {
    this.queue.push(action);
    this.kick();
  }

  /** One action per turn keeps the order and lets answers overtake later events. */
  private kick(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      const next = this.queue.shift();
      if (this.queue.length > 0) this.kick();
      next?.();
    });
  }

  private checkCpg(): void {
    if (this.cpgError !== null) throw this.cpgError;
  }

  // ---------------------------------------------------------------------------------
  // quorum

  quorumStatus(): QuorumStatusJson {
    if (this.quorumError !== null) throw this.quorumError;
    return this.quorumStatusValue;
  }

  quorumSetExpected(votes: number): void {
    if (this.quorumError !== null) throw this.quorumError;
    if (votes > 10) throw new DaemonApiError(IpcErrorCode.quorumInvalidParam, `votequorum refused expected votes ${votes} (CS_ERR_INVALID_PARAM)`);
    this.quorumCalls.push(`setExpected ${votes}`);
  }

  quorumSetVotes(nodeId: number, votes: number): void {
    if (this.quorumError !== null) throw this.quorumError;
    if (!this.quorumStatusValue.members.some((m) => m.nodeId === nodeId)) {
      throw new DaemonApiError(IpcErrorCode.quorumNameNotFound, `votequorum knows no such node (${votes} votes for node ${nodeId})`);
    }
    this.quorumCalls.push(`setVotes ${nodeId} ${votes}`);
  }

  subscribeQuorum(listener: (event: QuorumEventJson) => void): () => void {
    const s = this.quorumStatusValue;
    listener({ quorate: s.quorate, ringId: s.ringId, members: s.members.map((m) => m.nodeId) });
    return () => undefined;
  }

  // ---------------------------------------------------------------------------------
  // cmap (as src/runtime/daemon-services.ts)

  cmapGet(key: string): CmapEntryJson {
    const value = this.store.get(key);
    if (value === undefined) throw new DaemonApiError(IpcErrorCode.cmapNotExist, `${key} does not exist`);
    return { key, ...cmapValueToJson(value) };
  }

  cmapSet(key: string, type: CmapValueTypeName, value: number | string): CmapEntryJson {
    const parsed = cmapValueFromJson(type, value);
    if (!parsed.ok) throw new DaemonApiError(parsed.error.code, `${key}: ${parsed.error.message}`);
    const result = this.store.set(key, parsed.value, { client: true });
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
    return this.cmapGet(key);
  }

  cmapDelete(key: string): void {
    const result = this.store.delete(key, { client: true });
    if (!result.ok) throw new DaemonApiError(result.error.code, result.error.message);
  }

  cmapList(prefix: string): CmapEntryJson[] {
    return this.store.iterate(prefix).map((e) => ({ key: e.key, ...cmapValueToJson(e.value) }));
  }

  cmapTrack(key: string, flags: CmapTrackFlagsJson, listener: (event: Omit<CmapTrackEventJson, 'trackId'>) => void): () => void {
    const track = this.store.track(key, flags, (e) =>
      listener({
        type: e.type,
        key: e.key,
        newValue: e.newValue === undefined ? null : cmapValueToJson(e.newValue),
        oldValue: e.oldValue === undefined ? null : cmapValueToJson(e.oldValue),
      }),
    );
    return () => track.stop();
  }

  /** A write by the daemon itself (read-only marks do not apply). */
  daemonSet(key: string, type: CmapValueTypeName, value: number | string): void {
    const parsed = cmapValueFromJson(type, value);
    if (!parsed.ok) throw parsed.error;
    const result = this.store.set(key, parsed.value);
    if (!result.ok) throw result.error;
  }
}

class ServicesDaemonApi extends FakeDaemonApi {
  readonly services: DaemonServicesApi;
  constructor(services: DaemonServicesApi) {
    super();
    this.services = services;
  }
}

/** A real IpcServer on a temp socket; `services: false` serves a daemon without services. */
export class CliHarness {
  readonly dir: string;
  readonly socketPath: string;
  readonly services = new FakeServices();
  readonly api: FakeDaemonApi;
  private server: IpcServer | null = null;

  private constructor(prefix: string, withServices: boolean) {
    this.dir = makeTempDir(prefix);
    this.socketPath = path.join(this.dir, 'carillon.sock');
    this.api = withServices ? new ServicesDaemonApi(this.services) : new FakeDaemonApi();
  }

  static async start(prefix: string, options: { services?: boolean } = {}): Promise<CliHarness> {
    const harness = new CliHarness(prefix, options.services !== false);
    harness.server = new IpcServer({ socketPath: harness.socketPath, api: harness.api, nodeId: 1 });
    await within(harness.server.listen(), 5000, 'the server to listen');
    return harness;
  }

  /** `carillon --socket <ours> ...argv`, bounded. */
  run(io: CommandIo, ...argv: string[]): Promise<number> {
    return within(runCli(['--socket', this.socketPath, ...argv], io), 20_000, `carillon ${argv.join(' ')}`);
  }

  /** The same command against a socket nobody listens on. */
  runUnreachable(io: CommandIo, ...argv: string[]): Promise<number> {
    return within(runCli(['--socket', path.join(this.dir, 'none.sock'), ...argv], io), 20_000, `carillon ${argv.join(' ')}`);
  }

  clientsAccepted(): number {
    return this.server?.stats().clientsAccepted ?? 0;
  }

  async closeServer(): Promise<void> {
    await within(this.server?.close() ?? Promise.resolve(), 5000, 'the server to close');
  }

  async stop(): Promise<void> {
    await this.closeServer();
    this.server = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
