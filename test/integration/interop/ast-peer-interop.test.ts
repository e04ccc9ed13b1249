// Goal: the CPG side of the Asterisk bridge in a mixed cluster with real corosync 3.1.7.
// ast-cpg-peer (ast-cpg-peer/ast-cpg-peer.c, a libcpg process that joins group `asterisk`
// and multicasts exactly as res_corosync does: cpg_name length 8, cpg_mcast_joined with
// CPG_TYPE_FIFO and one iovec of raw ast_event bytes, cpg_finalize without cpg_leave) runs
// on corosync node 1; a Carillon CpgClient, over carillond's IPC socket on node 3, joins the
// same group. res-corosync.md §1.1–§1.3, asterisk-groundtruth.md §1.2, §1.3.
//
// Checked, in order (each step needs the previous ones):
//   (a) two corosync nodes and carillond form one ring of three;
//   (b) both are in `asterisk` and see each other: the Carillon client gets the peer's join
//       (reason 1), the peer's confchg and cpg_membership_get list the Carillon member, and
//       corosync-cpgtool on both real nodes lists the two;
//   (c) ast_event payloads captured from a real two-node Asterisk 20 cluster
//       (../shared/fixtures/asterisk/cluster/capture/cpg-messages-decoded.json): node A's go
//       out through the peer, node B's through the Carillon client, interleaved; both ends
//       deliver all of them byte-exact and in the same total order, each sender's in its
//       send order (first in lockstep rounds, one from each side issued together, then all
//       again in one burst from both sides); every payload decodes (src/asterisk/core/ast-event-codec.ts) to what the
//       capture's decoding says;
//   (d) the peer's line protocol survives bad input while joined (bad hex, unknown command,
//       a line over its limit) and still sends afterwards;
//   (e) the peer quits the way res_corosync unloads: the Carillon client sees it leave with
//       reason 5 (procdown), the peer exits 0 after cpg_finalize;
//   (f) no complaints about anyone's messages in the corosync or carillond logs.
// The payloads are replayed unchanged, so B's discovery announces nodeid 2 while the Carillon
// client is on node 3: nothing here interprets them (that is the bridge's job), this is
// CPG transport only.
//
// Method as in services-interop.test.ts (netns.ts, interop-kit.ts): namespaces
// <prefix>-1..3, corosync on 1 and 2, carillond on 3, udpu, crypto off, default timers.
// Every wait is bounded; on failure the messages carry the log tails and the run's
// directory is kept. Skipped loudly without root / ip netns / corosync / gcc + libcpg-dev;
// under CI=true that is a failure. CARILLON_INTEROP_DEBUG=off turns the daemons' debug
// logging off; CARILLON_INTEROP_KEEP=1 keeps the run's directory after a pass too.

import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CpgClient, QuorumClient, type CpgConfchgEvent, type CpgDeliverEvent } from '../../../src/client';
import { decodeAstEvent } from '../../../src/asterisk/core/ast-event-codec';
import type { AstEvent } from '../../../src/asterisk/core/events';
import { type Check, type ManagedProcess, NetnsCluster, ensureDistBuilt, logTail, pollUntil, readFrom } from './netns';
import { InteropSteps, interopLayout, interopSuiteRuns, present } from './interop-kit';
import { type AstPeerLine, type PeerAddress, AstCpgPeer, buildAstCpgPeer, checkAstPeerPrerequisites } from './ast-cpg-peer';

const ROOT = path.resolve(__dirname, '../../..');
const DAEMON_JS = path.join(ROOT, 'dist', 'bin', 'daemon.js');
const CAPTURE = path.resolve(__dirname, '../../../../shared/fixtures/asterisk/cluster/capture/cpg-messages-decoded.json');
const CLUSTER_NAME = 'astmix';
const GROUP = 'asterisk';
const REAL = [1, 2] as const;
const CARILLON = 3;
const ALL = [1, 2, 3] as const;
/** Node of the ast-cpg-peer. */
const PEER_NODE = 1;
/** Captured payloads replayed per event type and side. */
const PER_TYPE = 3;
const DEBUG = process.env['CARILLON_INTEROP_DEBUG'] !== 'off';
const KEEP = process.env['CARILLON_INTEROP_KEEP'] === '1';
const REASON_JOIN = 1;
const REASON_PROCDOWN = 5;

const baseGate = checkAstPeerPrerequisites(process.env);
const gate = baseGate.run && !fs.existsSync(CAPTURE)
  ? { ...baseGate, run: false, reason: `the capture ${CAPTURE} is missing (../shared beside the repository)`, mustFail: process.env['CI'] === 'true' || process.env['CI'] === '1' }
  : baseGate;

/** corosync log lines at warning level or worse, and complaints about messages at any level. */
const COROSYNC_COMPLAINT = /^\w{3} +\d+ [\d:.]+ (warning|error|crit|alert|emerg) |Unknown node|will not deliver|received in state|can't mcast|Unknown message/;
/** What corosync says in every run here (no memlock in a container, no watchdog configured). */
const COROSYNC_EXPECTED = /Could not increase RLIMIT_MEMLOCK|\[WD {4}\]/;
const CARILLON_COMPLAINT = /^\S+\s+(warning|error|crit|alert|emerg)\b/;

// ---------------------------------------------------------------------------------------
// The capture

interface CapturedIe {
  name: string;
  value?: string | number;
}

interface CapturedMessage {
  sender_nodeid: number;
  cpg_group?: string;
  payload_hex?: string;
  ast_event?: { type: number; ies: CapturedIe[] };
}

interface Captured {
  /** 1 = Asterisk A, 2 = Asterisk B. */
  sender: number;
  type: number;
  hex: string;
  ies: CapturedIe[];
}

/** The distinct `asterisk` payloads of the capture, in capture order. */
function loadCapture(): Captured[] {
  const parsed = JSON.parse(fs.readFileSync(CAPTURE, 'utf8')) as { messages: CapturedMessage[] };
  const seen = new Set<string>();
  const out: Captured[] = [];
  for (const m of parsed.messages) {
    if (m.cpg_group !== GROUP || m.payload_hex === undefined || m.ast_event === undefined || seen.has(m.payload_hex)) continue;
    seen.add(m.payload_hex);
    out.push({ sender: m.sender_nodeid, type: m.ast_event.type, hex: m.payload_hex, ies: m.ast_event.ies });
  }
  return out;
}

/** Up to PER_TYPE payloads of each type that `sender` put on the wire, round-robin over the types. */
function payloadsOf(capture: readonly Captured[], sender: number): Captured[] {
  const byType = [0x06, 0x02, 0x0c, 0x0d, 0x05].map((t) => capture.filter((c) => c.sender === sender && c.type === t).slice(0, PER_TYPE));
  const out: Captured[] = [];
  for (let k = 0; k < PER_TYPE; k += 1) {
    for (const list of byType) {
      const item = list[k];
      if (item !== undefined) out.push(item);
    }
  }
  return out;
}

/** What the capture's own decoding says about a payload, in the codec's terms. */
function expectedEvent(c: Captured): Record<string, unknown> {
  const ie = (name: string): string | number | undefined => c.ies.find((i) => i.name === name)?.value;
  const eid = ie('EID');
  switch (c.type) {
    case 0x05:
    case 0x06:
      return { kind: 'device-state', aggregate: c.type === 0x05, device: ie('DEVICE'), state: ie('STATE'), cachable: ie('CACHABLE') === 1, eid };
    case 0x02:
      return { kind: 'mwi', mailbox: ie('MAILBOX'), context: ie('CONTEXT'), newMessages: ie('NEWMSGS'), oldMessages: ie('OLDMSGS'), eid };
    case 0x0c:
      return { kind: 'ping', eid };
    case 0x0d:
      return { kind: 'cluster-discovery', nodeId: ie('NODE_ID'), localAddr: ie('LOCAL_ADDR'), eid };
    default:
      return { kind: `type 0x${c.type.toString(16)}` };
  }
}

function decodedEvent(hex: string): Record<string, unknown> {
  const result = decodeAstEvent(new Uint8Array(Buffer.from(hex, 'hex')));
  if (!result.ok) return { error: result.error.code, message: result.error.message };
  const e: AstEvent = result.value;
  return { ...e };
}

// ---------------------------------------------------------------------------------------
// Streams, compared as text

const addr = (a: PeerAddress): string => `${a.nodeId}:${a.pid}`;
const sortedAddrs = (list: readonly PeerAddress[]): string[] => [...list].sort((a, b) => a.nodeId - b.nodeId || a.pid - b.pid).map(addr);
const change = (a: PeerAddress & { reason: number }): string => `${addr(a)}:${a.reason}`;
/** One delivery as sender and bytes. */
const deliveryKey = (nodeId: number, pid: number, hex: string): string => `${nodeId}:${pid} ${hex}`;

/** A confchg in one text form for both ends: members in the order given, joined, left. */
const confchgText = (members: readonly PeerAddress[], joined: ReadonlyArray<PeerAddress & { reason: number }>, left: ReadonlyArray<PeerAddress & { reason: number }>): string =>
  `members=[${members.map(addr).join(',')}] joined=[${joined.map(change).join(',')}] left=[${left.map(change).join(',')}]`;

/** The Carillon CPG client and everything it saw. */
class Recorder {
  readonly client: CpgClient;
  readonly delivered: CpgDeliverEvent[] = [];
  readonly confchgs: CpgConfchgEvent[] = [];
  readonly errors: string[] = [];

  constructor(client: CpgClient) {
    this.client = client;
    client.on('deliver', (e) => {
      if (e.group === GROUP) this.delivered.push(e);
    });
    client.on('confchg', (e) => {
      if (e.group === GROUP) this.confchgs.push(e);
    });
  }

  get address(): PeerAddress {
    return { nodeId: this.client.nodeId, pid: this.client.pid };
  }

  deliveries(from = 0): string[] {
    return this.delivered.slice(from).map((e) => deliveryKey(e.nodeId, e.pid, e.payload.toString('hex')));
  }

  confchgTexts(from = 0): string[] {
    return this.confchgs.slice(from).map((e) => confchgText(e.members, e.joined, e.left));
  }

  describe(): string {
    return `Carillon client ${addr(this.address)}: ${this.delivered.length} deliveries, confchgs:\n    ${this.confchgTexts().join('\n    ')}${this.errors.length > 0 ? `\n  errors: ${this.errors.join('; ')}` : ''}`;
  }
}

const peerDeliveries = (lines: readonly AstPeerLine[], from = 0): string[] =>
  lines.slice(from).flatMap((l) => (l.kind === 'deliver' ? [deliveryKey(l.nodeId, l.pid, l.hex)] : []));
const peerConfchgs = (lines: readonly AstPeerLine[], from = 0): string[] =>
  lines.slice(from).flatMap((l) => (l.kind === 'confchg' ? [confchgText(l.members, l.joined, l.left)] : []));

// ---------------------------------------------------------------------------------------

if (interopSuiteRuns(gate, { title: 'res_corosync-style libcpg peer interop (netns)', name: 'ast-cpg-peer interop test', needs: 'root, ip netns, corosync 3.1.7, gcc and libcpg-dev' })) {
  describe('res_corosync-style libcpg peer interop (netns): group `asterisk` between a libcpg peer on corosync 3.1.7 and a Carillon client', () => {
    let cluster: NetnsCluster | null = null;
    let peerBinary = '';
    const corosync = new Map<number, ManagedProcess>();
    let carillond: ManagedProcess | null = null;
    let peer: AstCpgPeer | null = null;
    let recorder: Recorder | null = null;
    const notes: string[] = [];

    const c = present(() => cluster, 'the namespaces were not created');
    const p = present(() => peer, 'the ast-cpg-peer is not running');
    const r = present(() => recorder, 'the Carillon client is not connected');
    const layout = interopLayout(c, { clusterName: CLUSTER_NAME, all: ALL, carillon: CARILLON, debug: DEBUG });
    const { socketPath, corosyncLog, carillonLog } = layout;
    const peerLog = (): string => path.join(c().dir(PEER_NODE), 'ast-cpg-peer.log');
    const secondsSince = (t: number): string => ((performance.now() - t) / 1000).toFixed(2);

    function tails(): string {
      if (cluster === null) return '(no cluster)';
      const parts = REAL.map((i) => `----- corosync node ${i}: tail of ${corosyncLog(i)}\n${logTail(corosyncLog(i), 30)}`);
      parts.push(`----- carillond node ${CARILLON}: tail of ${carillonLog()}\n${logTail(carillonLog(), 30)}`);
      if (peer !== null) parts.push(`----- ${peer.describe()}`);
      if (recorder !== null) parts.push(`----- ${recorder.describe()}`);
      return `${parts.join('\n')}\n----- full logs and configs kept in ${cluster.baseDir}`;
    }

    const steps = new InteropSteps(tails);
    const { step } = steps;
    const allOk = (checks: readonly Check[]): Check => ({ ok: checks.every((k) => k.ok), detail: checks.map((k) => k.detail).join('\n') });

    /** quorumtool on every real node in `live` (and carillond when `withCarillon`) sees exactly `want`, on one ring. */
    async function ringIs(live: readonly number[], want: readonly number[], withCarillon: boolean): Promise<Check> {
      const checks: Check[] = [];
      const rings = new Set<string>();
      for (const i of live) {
        const q = await c().quorumtoolStatus(i);
        const ids = q.members.map((m) => m.nodeId).sort((a, b) => a - b);
        rings.add(q.ringId);
        checks.push({ ok: ids.join() === want.join() && q.quorate, detail: `node ${i} quorumtool: ring ${q.ringId} members [${ids.join(',')}] quorate ${String(q.quorate)}` });
      }
      if (withCarillon) {
        const client = await QuorumClient.connect(socketPath(), { timeoutMs: 2000, clientName: 'ast-peer-interop' });
        try {
          const q = await client.status();
          const ids = q.members.map((m) => m.nodeId).sort((a, b) => a - b);
          const ring = `${q.ringId.rep.toString(16)}.${BigInt(q.ringId.seq).toString(16)}`;
          rings.add(ring);
          checks.push({ ok: ids.join() === want.join() && q.quorate, detail: `carillond: ring ${ring} members [${ids.join(',')}] quorate ${String(q.quorate)}` });
        } finally {
          await client.close();
        }
      }
      checks.push({ ok: rings.size === 1, detail: `rings seen: ${[...rings].join(' ')}` });
      return allOk(checks);
    }

    /** corosync-cpgtool on both real nodes lists exactly `want` in `asterisk`. */
    async function cpgtoolLists(want: readonly PeerAddress[]): Promise<Check> {
      const checks: Check[] = [];
      for (const i of REAL) {
        const members = (await c().cpgtool(i)).get(GROUP) ?? [];
        const got = sortedAddrs(members.map((m) => ({ nodeId: m.nodeId, pid: m.pid })));
        checks.push({ ok: got.join() === sortedAddrs(want).join(), detail: `node ${i} corosync-cpgtool ${GROUP}: [${got.join(' ')}], want [${sortedAddrs(want).join(' ')}]` });
      }
      return allOk(checks);
    }

    beforeAll(async () => {
      try {
        await ensureDistBuilt(ROOT);
        cluster = await NetnsCluster.create({ nodes: ALL.length });
        peerBinary = await buildAstCpgPeer(cluster.baseDir);
        for (const i of REAL) corosync.set(i, c().startCorosync(i, layout.corosyncConf(i)));
        await pollUntil('corosync nodes 1 and 2 to form one quorate ring', 30_000, () => ringIs(REAL, [1, 2], false));
      } catch (error) {
        throw steps.setupFailed('ast-cpg-peer interop', error);
      }
    }, 90_000);

    afterAll(async () => {
      await peer?.stop(3000).catch(() => undefined);
      await recorder?.client.close().catch(() => undefined);
      if (cluster !== null) {
        const dir = cluster.baseDir;
        await cluster.destroy({ keepFiles: steps.failed || KEEP });
        if (steps.failed || KEEP) console.warn(`ast-cpg-peer interop: ${steps.failed ? 'failed; ' : ''}configs and logs kept in ${dir}`);
      }
      if (notes.length > 0) console.log(`ast-cpg-peer interop (${gate.corosyncVersion ?? 'corosync'}):\n  ${notes.join('\n  ')}`);
    }, 30_000);

    step('(a) two corosync 3.1.7 nodes and carillond form one ring of three', 30_000, async () => {
      const started = performance.now();
      carillond = c().startCarillond(CARILLON, layout.carillonConf(), DAEMON_JS);
      await pollUntil('quorumtool on nodes 1, 2 and carillond to agree on the ring [1,2,3]', 25_000, () => ringIs(REAL, ALL, true));
      notes.push(`(a) ring [1,2,3] ${secondsSince(started)} s after starting carillond`);
    });

    step('(b) the peer on corosync node 1 and a Carillon client are both in `asterisk` and see each other join', 30_000, async () => {
      const started = performance.now();
      const client = await CpgClient.connect(socketPath(), { timeoutMs: 5000, clientName: 'ast-peer-interop' });
      recorder = new Recorder(client);
      await client.join(GROUP);
      const me = recorder.address;
      await pollUntil('the Carillon client to see its own join', 10_000, async () => ({ ok: r().confchgs.length > 0, detail: r().describe() }));
      expect(r().confchgTexts()).toEqual([confchgText([me], [{ ...me, reason: REASON_JOIN }], [])]);

      peer = await AstCpgPeer.start(c().ns(PEER_NODE), peerBinary, { logFile: peerLog() });
      expect(peer.address).toEqual({ nodeId: PEER_NODE, pid: peer.pid });
      const them = peer.address;
      const both = [them, me].sort((a, b) => a.nodeId - b.nodeId || a.pid - b.pid);
      // What both ends must see: the peer joins (reason 1) a group holding the Carillon member.
      const joinText = confchgText(both, [{ ...them, reason: REASON_JOIN }], []);
      await p().waitFor((l) => l.kind === 'confchg', 10_000, { what: 'its first CONFCHG' });
      await pollUntil('the Carillon client to see the peer join', 10_000, async () => ({ ok: r().confchgs.length >= 2, detail: r().describe() }));
      expect(peerConfchgs(p().lines)).toEqual([joinText]);
      expect(r().confchgTexts(1)).toEqual([joinText]);
      const joined = r().confchgs[1]?.joined[0];
      expect({ nodeId: joined?.nodeId, pid: joined?.pid, reason: joined?.reason, reasonName: joined?.reasonName }).toEqual({ ...them, reason: REASON_JOIN, reasonName: 'join' });
      expect(sortedAddrs(await p().members())).toEqual(sortedAddrs(both));
      expect(sortedAddrs(await client.membership(GROUP))).toEqual(sortedAddrs(both));
      await pollUntil('corosync-cpgtool on nodes 1 and 2 to list the peer and the Carillon client', 5000, () => cpgtoolLists(both));
      notes.push(`(b) peer ${addr(them)} and Carillon client ${addr(me)} in ${GROUP} ${secondsSince(started)} s after connecting the client`);
    });

    step('(c) captured ast_events both ways, interleaved: byte-exact and in one total order at both ends, all decodable', 30_000, async () => {
      const capture = loadCapture();
      const fromA = payloadsOf(capture, 1);
      const fromB = payloadsOf(capture, 2);
      // Each side must have replayed every type the brief names, or the check proves less than it says.
      for (const [side, list] of [['A', fromA], ['B', fromB]] as const) {
        expect({ side, types: [...new Set(list.map((x) => x.type))].sort((a, b) => a - b) }).toEqual({ side, types: [0x02, 0x05, 0x06, 0x0c, 0x0d] });
      }
      const them = p().address;
      const me = r().address;
      const peerMark = p().lines.length;
      const carillonMark = r().delivered.length;
      const started = performance.now();
      const sendB = (b: Captured, k: number): Promise<void> => r().client.mcast(GROUP, Buffer.from(b.hex, 'hex')).catch((error: unknown) => {
        r().errors.push(`mcast #${k}: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      });
      const rounds = Math.max(fromA.length, fromB.length);
      const sentLengths: unknown[] = [];
      // Phase 1, lockstep: in each round one payload from each side, issued together, so the
      // ring decides every round's order and the streams interleave finely.
      for (let k = 0; k < rounds; k += 1) {
        const a = fromA[k];
        const b = fromB[k];
        sentLengths.push(...(await Promise.all([a === undefined ? null : p().send(Buffer.from(a.hex, 'hex')), b === undefined ? null : sendB(b, k)])));
      }
      // Phase 2, burst: everything again from both sides at once, nothing awaited until all
      // are issued (the peer's commands queue in its stdin, the client's calls in its chain).
      const burst: Array<Promise<unknown>> = [];
      for (let k = 0; k < rounds; k += 1) {
        const a = fromA[k];
        const b = fromB[k];
        if (a !== undefined) burst.push(p().send(Buffer.from(a.hex, 'hex')));
        if (b !== undefined) burst.push(sendB(b, rounds + k));
      }
      sentLengths.push(...(await Promise.all(burst)));
      const wantA = [...fromA, ...fromA];
      const wantB = [...fromB, ...fromB];
      expect(sentLengths.filter((x) => typeof x === 'number')).toEqual(wantA.map((a) => a.hex.length / 2));
      const total = wantA.length + wantB.length;
      await pollUntil(`${total} deliveries at the peer and at the Carillon client`, 15_000, async () => allOk([
        { ok: peerDeliveries(p().lines, peerMark).length >= total, detail: `peer: ${peerDeliveries(p().lines, peerMark).length} of ${total}` },
        { ok: r().deliveries(carillonMark).length >= total, detail: `Carillon client: ${r().deliveries(carillonMark).length} of ${total}` },
      ]), 50);
      const atPeer = peerDeliveries(p().lines, peerMark);
      const atCarillon = r().deliveries(carillonMark);
      expect(atCarillon).toEqual(atPeer);
      expect(atPeer).toHaveLength(total);
      expect(atPeer.filter((d) => d.startsWith(`${addr(them)} `))).toEqual(wantA.map((a) => deliveryKey(them.nodeId, them.pid, a.hex)));
      expect(atPeer.filter((d) => d.startsWith(`${addr(me)} `))).toEqual(wantB.map((b) => deliveryKey(me.nodeId, me.pid, b.hex)));
      // Decoded, every payload is what the capture's own decoding says it is.
      const byHex = new Map(capture.map((x) => [x.hex, x]));
      const decoded = atPeer.map((d) => {
        const hex = d.slice(d.indexOf(' ') + 1);
        const source = byHex.get(hex);
        return { hex, got: decodedEvent(hex), want: source === undefined ? { missing: true } : expectedEvent(source) };
      });
      for (const d of decoded) expect({ hex: d.hex, event: d.got }).toEqual({ hex: d.hex, event: d.want });
      expect(r().errors).toEqual([]);
      expect(p().lines.filter((l) => l.kind === 'error')).toEqual([]);
      let switches = 0;
      for (let k = 1; k < atPeer.length; k += 1) if (atPeer[k]?.split(' ')[0] !== atPeer[k - 1]?.split(' ')[0]) switches += 1;
      notes.push(`(c) ${total} captured events (${wantA.length} via the peer, ${wantB.length} via Carillon; ${fromA.length + fromB.length} distinct) delivered at both ends in ${secondsSince(started)} s; the order switches sender ${switches} times: ${atPeer.map((d) => (d.startsWith(`${addr(them)} `) ? 'P' : 'C')).join('')}`);
    });

    step('(d) the peer\'s line protocol: bad hex, unknown commands and an oversize line are answered with ERROR, and it still sends', 20_000, async () => {
      const reply = async (text: string): Promise<string> => (await p().command(text)).line;
      expect(await reply('send 0')).toBe('ERROR bad-hex odd number of digits');
      expect(await reply('send zz')).toBe('ERROR bad-hex not a hex digit');
      expect(await reply('send')).toBe('ERROR bad-hex empty payload');
      expect(await reply('frobnicate now')).toBe('ERROR unknown-command frobnicate now');
      // 65536 bytes: fits the line buffer, one more than an ast_event can hold.
      expect(await reply(`send ${'00'.repeat(65_536)}`)).toBe('ERROR bad-hex payload longer than 65535 bytes');
      // Twice the line limit: dropped up to its newline with one ERROR, nothing sent.
      const huge = `send ${'ab'.repeat(140_000)}`;
      expect(await reply(huge)).toMatch(/^ERROR line-too-long \d+ bytes dropped \(limit 131134\)$/);
      expect(p().alive).toBe(true);
      // Still joined and sending: a captured ping from Asterisk A arrives at the Carillon client.
      const ping = loadCapture().find((x) => x.sender === 1 && x.type === 0x0c);
      if (ping === undefined) throw new Error('the capture has no ping from node 1');
      const mark = r().delivered.length;
      const peerMark = p().lines.length;
      expect(await p().send(Buffer.from(ping.hex, 'hex'))).toBe(14);
      const want = deliveryKey(p().address.nodeId, p().address.pid, ping.hex);
      await pollUntil('the ping to reach the Carillon client', 5000, async () => ({ ok: r().deliveries(mark).includes(want), detail: r().describe() }));
      await p().waitFor((l) => l.kind === 'deliver' && l.hex === ping.hex, 5000, { from: peerMark, what: 'its own ping back' });
      expect(r().deliveries(mark)).toEqual([want]);
    });

    step('(e) the peer quits like res_corosync (cpg_finalize, no cpg_leave): the Carillon client sees it leave with reason 5 (procdown)', 20_000, async () => {
      const them = p().address;
      const me = r().address;
      const from = r().confchgs.length;
      const started = performance.now();
      const exit = await p().quit(5000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(p().lines.at(-1)?.line).toBe('BYE reason=quit finalize=1');
      await pollUntil('the Carillon client to see the peer leave', 10_000, async () => ({ ok: r().confchgs.length > from, detail: r().describe() }));
      expect(r().confchgTexts(from)).toEqual([confchgText([me], [], [{ ...them, reason: REASON_PROCDOWN }])]);
      const left = r().confchgs[from]?.left[0];
      expect(left?.reasonName).toBe('procdown');
      notes.push(`(e) the Carillon client saw the peer leave (procdown) ${secondsSince(started)} s after quit`);
      await pollUntil('corosync-cpgtool on nodes 1 and 2 to list only the Carillon client', 5000, () => cpgtoolLists([me]));
      expect(sortedAddrs(await r().client.membership(GROUP))).toEqual([addr(me)]);
    });

    step('(f) the logs: no warning or complaint about anyone\'s messages in corosync\'s or carillond\'s', 10_000, async () => {
      for (const i of REAL) {
        const complaints = readFrom(corosyncLog(i)).split('\n').filter((l) => COROSYNC_COMPLAINT.test(l) && !COROSYNC_EXPECTED.test(l));
        expect(`${corosyncLog(i)}:\n${complaints.join('\n')}`).toBe(`${corosyncLog(i)}:\n`);
      }
      const own = readFrom(carillonLog()).split('\n').filter((l) => CARILLON_COMPLAINT.test(l));
      expect(`${carillonLog()}:\n${own.join('\n')}`).toBe(`${carillonLog()}:\n`);
      expect(carillond?.alive).toBe(true);
    });
  });
}
