// Goal (issue "Asterisk bridge", acceptance: "A Carillon node and a real corosync node
// with a libcpg client that sends and receives res_corosync-format events share device
// state both ways in a mixed cluster test"): the bridge inside carillond against real
// corosync 3.1.7 and a libcpg peer that behaves on the wire like Asterisk's res_corosync.
//
// Layout (netns.ts, interop-kit.ts; udpu, crypto off, default timers): corosync on nodes 1
// and 2, carillond on node 3 with `carillon { res_corosync_conf }` (publish and subscribe
// mwi and device_state, [ami] at 127.0.0.1:5038). carillond's 127.0.0.1 is node 3's own
// loopback, so the fake Asterisk (scripts/fake-asterisk.ts --control, driven by
// fake-asterisk-process.ts) runs inside node 3's namespace, EID 02:ca:11:00:00:03. The
// ast-cpg-peer (ast-cpg-peer/ast-cpg-peer.c) on node 1 plays a real Asterisk's
// res_corosync with EID 02:ca:11:00:00:01: the test builds its ast_events with
// encodeAstEvent and makes it act as res_corosync does (res-corosync.md §1.3): a cluster
// discovery when it starts, its own discovery again for a node it does not know yet.
//
// Checked, in order (each step needs the previous ones):
//   (a) the peer is in `asterisk` and has announced itself (to nobody yet); carillond
//       joins the ring, the bridge joins the group and learns the fake's EID over AMI
//       (bridge.status over carillond's IPC socket); the peer receives the bridge's
//       cluster discovery (NODE_ID 3, LOCAL_ADDR node 3's address, the fake's EID), answers
//       with its own, and receives the bridge's answer to that (res_corosync's handshake);
//       the bridge lists node 1 and logs res_corosync's `joined the cluster` NOTICE;
//   (b) corosync side → Carillon: a device state 0x06 from the peer (PJSIP/500 INUSE)
//       becomes Custom:remote:PJSIP/500 = INUSE on the fake (AMI Setvar DEVICE_STATE); an
//       MWI 0x02 (5000@default 3/1) becomes MWIUpdate 5000@default 3/1; a leaked aggregate
//       0x05 is counted and never written; a PING is logged with res_corosync's NOTICE;
//   (c) Carillon → corosync side: a device change on the fake (PJSIP/300 BUSY) reaches
//       the peer as a 0x06 with the fake's EID, an MWI change (7000@default 2/0) as a 0x02;
//       nothing the bridge wrote into the fake (Custom:remote:*, the MWI of 5000, the
//       MWI: devices) is ever multicast back: every DELIVER from node 3 is decoded and
//       checked;
//   (d) join dump: a second peer joining later on corosync node 2 receives the bridge's
//       current local state (PJSIP/300 BUSY, 7000@default 2/0) with no change made; it
//       announces itself on start and gets the bridge's answer;
//   (e) the first peer quits the way res_corosync unloads (cpg_finalize, no cpg_leave:
//       PROCLEAVE, procdown): the bridge purges its states (Custom:remote:PJSIP/500 →
//       UNAVAILABLE, the policy's default) and logs `Node 1 (<eid>) at <addr> left the
//       cluster`; the second peer's state is untouched;
//   (f) the fake's control protocol: bad commands are answered ERROR and it goes on;
//   (g) no warning or complaint in carillond's or corosync's logs, nothing malformed.
// Every wait is bounded; on failure the messages carry the log tails and the run's
// directory is kept. Skipped loudly without root / ip netns / corosync / gcc + libcpg-dev /
// tsx; under CI=true that is a failure. CARILLON_INTEROP_DEBUG=off turns the daemons'
// debug logging off; CARILLON_INTEROP_KEEP=1 keeps the run's directory after a pass too.

import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IpcClient, QuorumClient } from '../../../src/client';
import { decodeAstEvent, encodeAstEvent } from '../../../src/asterisk/core/ast-event-codec';
import { type AstEvent, DeviceState } from '../../../src/asterisk/core/events';
import type { BridgeStatusJson } from '../../../src/ipc/daemon-api';
import { type Check, type ManagedProcess, NetnsCluster, ensureDistBuilt, logTail, pollUntil, readFrom } from './netns';
import { InteropSteps, interopLayout, interopSuiteRuns, present } from './interop-kit';
import { type AstPeerLine, type PeerAddress, AstCpgPeer, buildAstCpgPeer, checkAstPeerPrerequisites } from './ast-cpg-peer';
import { type FakeAmiActionJson, FakeAsteriskProcess } from './fake-asterisk-process';

const ROOT = path.resolve(__dirname, '../../..');
const DAEMON_JS = path.join(ROOT, 'dist', 'bin', 'daemon.js');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'package.json');
const CLUSTER_NAME = 'brmix';
const REAL = [1, 2] as const;
const CARILLON = 3;
const ALL = [1, 2, 3] as const;
/** Where the res_corosync-like peers run. */
const PEER_NODE = 1;
const PEER2_NODE = 2;
const PEER_EID = '02:ca:11:00:00:01';
const PEER2_EID = '02:ca:11:00:00:02';
const FAKE_EID = '02:ca:11:00:00:03';
/** Inside node 3's namespace nothing else listens: the fixed ports of a real Asterisk. */
const AMI_PORT = 5038;
const ARI_PORT = 8088;
const DEBUG = process.env['CARILLON_INTEROP_DEBUG'] !== 'off';
const KEEP = process.env['CARILLON_INTEROP_KEEP'] === '1';
const REASON_JOIN = 1;
const REASON_PROCDOWN = 5;
const WAIT_MS = 10_000;

const baseGate = checkAstPeerPrerequisites(process.env);
const gate = baseGate.run && !fs.existsSync(TSX)
  ? { ...baseGate, run: false, reason: `tsx is not installed (${TSX}; npm ci installs the devDependencies)`, mustFail: process.env['CI'] === 'true' || process.env['CI'] === '1' }
  : baseGate;

/** corosync log lines at warning level or worse, and complaints about messages at any level. */
const COROSYNC_COMPLAINT = /^\w{3} +\d+ [\d:.]+ (warning|error|crit|alert|emerg) |Unknown node|will not deliver|received in state|can't mcast|Unknown message/;
/** What corosync says in every run here (no memlock in a container, no watchdog configured). */
const COROSYNC_EXPECTED = /Could not increase RLIMIT_MEMLOCK|\[WD {4}\]/;
const CARILLON_COMPLAINT = /^\S+\s+(warning|error|crit|alert|emerg)\b/;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A NOTICE of the bridge in carillond's log, as its logger writes it. */
const bridgeNotice = (message: string): RegExp => new RegExp(`\\bnotice\\s+\\[BRIDGE\\] ${escapeRegExp(message)}$`, 'm');

const bytesOf = (event: AstEvent): Buffer => {
  const bytes = encodeAstEvent(event);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
const discoveryOf = (nodeId: number, localAddr: string, eid: string): AstEvent => ({ kind: 'cluster-discovery', nodeId, localAddr, eid });

/** One DELIVER at a peer, decoded. */
interface Delivered {
  readonly index: number;
  readonly nodeId: number;
  readonly pid: number;
  readonly hex: string;
  /** The ast_event type from the header (u16 BE). */
  readonly type: number;
  readonly event: AstEvent | null;
  readonly error: string | null;
}

function decodeLine(line: AstPeerLine, index: number): Delivered | null {
  if (line.kind !== 'deliver') return null;
  const result = decodeAstEvent(new Uint8Array(Buffer.from(line.hex, 'hex')));
  return {
    index,
    nodeId: line.nodeId,
    pid: line.pid,
    hex: line.hex,
    type: line.hex.length >= 4 ? parseInt(line.hex.slice(0, 4), 16) : -1,
    event: result.ok ? result.value : null,
    error: result.ok ? null : `${result.error.code}: ${result.error.message}`,
  };
}

/** Every DELIVER a peer printed (from line index `from` on), decoded. */
function deliveries(peer: AstCpgPeer, from = 0): Delivered[] {
  const out: Delivered[] = [];
  peer.lines.forEach((line, index) => {
    if (index < from) return;
    const d = decodeLine(line, index);
    if (d !== null) out.push(d);
  });
  return out;
}

/** A header of a recorded AMI action (names are case-insensitive in AMI). */
const field = (a: FakeAmiActionJson, name: string): string | undefined => a.fields.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
/** The Setvar actions as `Variable=Value`. */
const setvars = (actions: readonly FakeAmiActionJson[]): string[] =>
  actions.filter((a) => a.action.toLowerCase() === 'setvar').map((a) => `${field(a, 'Variable') ?? ''}=${field(a, 'Value') ?? ''}`);

const describeDelivered = (d: Delivered): string => `#${d.index} from ${d.nodeId}:${d.pid} type 0x${d.type.toString(16).padStart(2, '0')} ${d.event === null ? `UNDECODABLE ${d.error ?? ''}` : JSON.stringify(d.event)}`;

// ---------------------------------------------------------------------------------------

if (interopSuiteRuns(gate, { title: 'Asterisk bridge interop with corosync 3.1.7 (netns)', name: 'bridge interop test', needs: 'root, ip netns, corosync 3.1.7, gcc, libcpg-dev and tsx' })) {
  describe('Asterisk bridge interop (netns): carillond + fake Asterisk on node 3, res_corosync-like libcpg peers on corosync 3.1.7 nodes 1 and 2', () => {
    let cluster: NetnsCluster | null = null;
    let peerBinary = '';
    const corosync = new Map<number, ManagedProcess>();
    let carillond: ManagedProcess | null = null;
    let fake: FakeAsteriskProcess | null = null;
    let peer: AstCpgPeer | null = null;
    let peer2: AstCpgPeer | null = null;
    const notes: string[] = [];

    const c = present(() => cluster, 'the namespaces were not created');
    const p = present(() => peer, 'the first ast-cpg-peer is not running');
    const p2 = present(() => peer2, 'the second ast-cpg-peer is not running');
    const f = present(() => fake, 'the fake Asterisk is not running');
    const layout = interopLayout(c, { clusterName: CLUSTER_NAME, all: ALL, carillon: CARILLON, debug: DEBUG });
    const { socketPath, corosyncLog, carillonLog } = layout;
    const resCorosyncConfPath = (): string => path.join(c().dir(CARILLON), 'res_corosync.conf');
    const fakeLog = (): string => path.join(c().dir(CARILLON), 'fake-asterisk.log');
    const peerLog = (i: number): string => path.join(c().dir(i), 'ast-cpg-peer.log');
    const secondsSince = (t: number): string => ((performance.now() - t) / 1000).toFixed(2);
    /** The bridge's CPG address: carillond's pid on node 3 (`ip netns exec` execs node). */
    const bridgeAddress = (): PeerAddress => ({ nodeId: CARILLON, pid: carillond?.pid ?? -1 });

    function tails(): string {
      if (cluster === null) return '(no cluster)';
      const parts = REAL.map((i) => `----- corosync node ${i}: tail of ${corosyncLog(i)}\n${logTail(corosyncLog(i), 25)}`);
      parts.push(`----- carillond node ${CARILLON}: tail of ${carillonLog()}\n${logTail(carillonLog(), 40)}`);
      if (fake !== null) parts.push(`----- ${fake.describe()}`);
      if (peer !== null) parts.push(`----- ${peer.describe()}\n  decoded from node ${CARILLON}:\n    ${deliveries(peer).filter((d) => d.nodeId === CARILLON).slice(-12).map(describeDelivered).join('\n    ')}`);
      if (peer2 !== null) parts.push(`----- ${peer2.describe()}`);
      return `${parts.join('\n')}\n----- full logs and configs kept in ${cluster.baseDir}`;
    }

    const steps = new InteropSteps(tails);
    const { step } = steps;
    const allOk = (checks: readonly Check[]): Check => ({ ok: checks.every((k) => k.ok), detail: checks.map((k) => k.detail).join('\n') });

    /** bridge.status over carillond's IPC socket. */
    async function bridgeStatus(): Promise<BridgeStatusJson> {
      const client = await IpcClient.connect(socketPath(), { timeoutMs: 2000, clientName: 'bridge-interop' });
      try {
        return await client.call('bridge.status');
      } finally {
        await client.close();
      }
    }

    const statusText = (s: BridgeStatusJson): string =>
      JSON.stringify({ eid: s.eid, joined: s.joined, ami: s.ami, problems: s.problems, nodes: s.nodes, devices: s.devices, mailboxes: s.mailboxes });

    /** quorumtool on every real node in `live` and carillond see exactly `want`, on one ring. */
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
        const client = await QuorumClient.connect(socketPath(), { timeoutMs: 2000, clientName: 'bridge-interop' });
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

    /** Waits until the fake reads `state` for device `name`. */
    async function fakeDeviceIs(name: string, state: string): Promise<void> {
      await pollUntil(`${name} = ${state} on the fake Asterisk`, WAIT_MS, async () => {
        const now = await f().getDevice(name);
        return { ok: now === state, detail: `${name} is ${now}` };
      }, 100);
    }

    /** The first DELIVER from the bridge at `who` from line `from` on whose event satisfies `predicate` (bounded). */
    async function fromBridge(who: AstCpgPeer, from: number, what: string, predicate: (event: AstEvent) => boolean): Promise<Delivered> {
      const bridge = bridgeAddress();
      const line = await who.waitFor((l) => {
        if (l.kind !== 'deliver' || l.nodeId !== bridge.nodeId || l.pid !== bridge.pid) return false;
        const d = decodeLine(l, 0);
        return d?.event !== null && d?.event !== undefined && predicate(d.event);
      }, WAIT_MS, { from, what });
      const index = who.lines.indexOf(line);
      const d = decodeLine(line, index);
      if (d === null) throw new Error('unreachable: the awaited line is a DELIVER');
      return d;
    }

    /** Sends an ast_event from a peer and waits (bounded) until that peer has it delivered back (so it is in the total order). */
    async function peerSends(who: AstCpgPeer, event: AstEvent): Promise<Delivered> {
      const bytes = bytesOf(event);
      const hex = bytes.toString('hex');
      const from = who.lines.length;
      expect(await who.send(bytes)).toBe(bytes.length);
      const line = await who.waitFor((l) => l.kind === 'deliver' && l.nodeId === who.nodeId && l.pid === who.pid && l.hex === hex, WAIT_MS, { from, what: `its own ${event.kind} back` });
      const d = decodeLine(line, who.lines.indexOf(line));
      if (d === null) throw new Error('unreachable: the awaited line is a DELIVER');
      return d;
    }

    beforeAll(async () => {
      try {
        await ensureDistBuilt(ROOT);
        cluster = await NetnsCluster.create({ nodes: ALL.length });
        peerBinary = await buildAstCpgPeer(cluster.baseDir);
        for (const i of REAL) corosync.set(i, c().startCorosync(i, layout.corosyncConf(i)));
        // The bridge's configuration: res_corosync's [general] plus Carillon's [ami],
        // with short reconnect times (the fake is up before carillond, but a slow start
        // must not cost a 30 s backoff).
        fs.writeFileSync(resCorosyncConfPath(), [
          '; written by bridge-interop.test.ts',
          '[general]',
          'publish_event = mwi',
          'subscribe_event = mwi',
          'publish_event = device_state',
          'subscribe_event = device_state',
          '',
          '[ami]',
          'host = 127.0.0.1',
          `port = ${AMI_PORT}`,
          'username = admin',
          'secret = amipass',
          'reconnect_min_ms = 100',
          'reconnect_max_ms = 500',
          'action_timeout_ms = 3000',
          '',
        ].join('\n'));
        fake = await FakeAsteriskProcess.start({ netns: c().ns(CARILLON), eid: FAKE_EID, amiPort: AMI_PORT, ariPort: ARI_PORT, logFile: fakeLog() });
        expect(fake.amiPort).toBe(AMI_PORT);
        await pollUntil('corosync nodes 1 and 2 to form one quorate ring', 30_000, () => ringIs(REAL, [1, 2], false));
      } catch (error) {
        throw steps.setupFailed('bridge interop', error);
      }
    }, 90_000);

    afterAll(async () => {
      await peer?.stop(3000).catch(() => undefined);
      await peer2?.stop(3000).catch(() => undefined);
      await fake?.stop(3000).catch(() => undefined);
      if (cluster !== null) {
        const dir = cluster.baseDir;
        // Kills whatever is still inside the namespaces (carillond, corosync, a stuck fake).
        await cluster.destroy({ keepFiles: steps.failed || KEEP });
        if (steps.failed || KEEP) console.warn(`bridge interop: ${steps.failed ? 'failed; ' : ''}configs and logs kept in ${dir}`);
      }
      if (notes.length > 0) console.log(`bridge interop (${gate.corosyncVersion ?? 'corosync'}):\n  ${notes.join('\n  ')}`);
    }, 30_000);

    step('(a) carillond joins, the bridge joins `asterisk` with the fake\'s EID, and it and the peer on corosync node 1 do res_corosync\'s discovery handshake', 45_000, async () => {
      const started = performance.now();
      // The peer first, as an Asterisk already running: it announces itself on start
      // (res_corosync's dispatch thread does), heard by nobody but itself yet.
      peer = await AstCpgPeer.start(c().ns(PEER_NODE), peerBinary, { logFile: peerLog(PEER_NODE) });
      expect(peer.address).toEqual({ nodeId: PEER_NODE, pid: peer.pid });
      await peerSends(peer, discoveryOf(PEER_NODE, c().addr(PEER_NODE), PEER_EID));

      const conf = layout.carillonConf();
      const withBridge = conf.replace(/(carillon \{\n(?:.*\n)*?)\}/, `$1    res_corosync_conf: ${resCorosyncConfPath()}\n}`);
      expect(withBridge).not.toBe(conf);
      const peerMark = p().lines.length;
      carillond = c().startCarillond(CARILLON, withBridge, DAEMON_JS);
      await pollUntil('quorumtool on nodes 1, 2 and carillond to agree on the ring [1,2,3]', 25_000, () => ringIs(REAL, ALL, true));
      await pollUntil('the bridge to be joined, with the fake\'s EID and AMI connected', WAIT_MS, async () => {
        const s = await bridgeStatus();
        return { ok: s.joined && s.eid === FAKE_EID && s.ami?.connected === true, detail: statusText(s) };
      });
      const bridge = bridgeAddress();
      // The peer sees the bridge join the group (reason 1).
      await p().waitFor((l) => l.kind === 'confchg' && l.joined.some((j) => j.nodeId === bridge.nodeId && j.pid === bridge.pid && j.reason === REASON_JOIN), WAIT_MS, { from: peerMark, what: 'the bridge joining' });
      expect((await p().members()).map((m) => `${m.nodeId}:${m.pid}`).sort()).toEqual([`${PEER_NODE}:${p().pid}`, `${bridge.nodeId}:${bridge.pid}`].sort());

      // 1. The bridge announces itself once joined and its EID known.
      const announced = await fromBridge(p(), peerMark, 'the bridge\'s cluster discovery', (e) => e.kind === 'cluster-discovery');
      expect(announced.type).toBe(0x0d);
      expect(announced.event).toEqual(discoveryOf(CARILLON, c().addr(CARILLON), FAKE_EID));
      // 2. The peer does not know node 3: as res_corosync, it adds it and sends its own notify.
      const answerMark = p().lines.length;
      const own = await peerSends(p(), discoveryOf(PEER_NODE, c().addr(PEER_NODE), PEER_EID));
      // 3. The bridge did not know node 1 (its start-up notify went out before carillond
      //    joined): it adds it and answers, after the peer's notify in the total order.
      const answer = await fromBridge(p(), answerMark, 'the bridge\'s answer to the peer\'s discovery', (e) => e.kind === 'cluster-discovery');
      expect(answer.index).toBeGreaterThan(own.index);
      expect(answer.event).toEqual(discoveryOf(CARILLON, c().addr(CARILLON), FAKE_EID));
      await pollUntil('the bridge to list node 1', WAIT_MS, async () => {
        const s = await bridgeStatus();
        return { ok: JSON.stringify(s.nodes) === JSON.stringify([{ nodeId: PEER_NODE, eid: PEER_EID, localAddr: c().addr(PEER_NODE) }]), detail: statusText(s) };
      });
      expect(readFrom(carillonLog())).toMatch(bridgeNotice(`Node ${PEER_NODE} (${PEER_EID}) at ${c().addr(PEER_NODE)} joined the cluster`));
      expect(readFrom(carillonLog())).toMatch(bridgeNotice(`Publishing with the local Asterisk's EID ${FAKE_EID} (from AMI core show settings)`));
      // The handshake is over: exactly these two discoveries from the bridge, nothing else.
      const fromBridgeSoFar = deliveries(p(), peerMark).filter((d) => d.nodeId === CARILLON);
      expect(fromBridgeSoFar.map(describeDelivered)).toEqual([announced, answer].map(describeDelivered));
      notes.push(`(a) ring [1,2,3], bridge joined with EID ${FAKE_EID} and handshake with the peer done ${secondsSince(started)} s after starting the peer`);
    });

    step('(b) corosync side → Carillon: device state and MWI from the peer are written into the fake; an aggregate is ignored, a ping logged', 30_000, async () => {
      const started = performance.now();
      const before = await bridgeStatus();
      await peerSends(p(), { kind: 'device-state', aggregate: false, device: 'PJSIP/500', state: DeviceState.inuse, cachable: true, eid: PEER_EID });
      await fakeDeviceIs('Custom:remote:PJSIP/500', 'INUSE');
      await peerSends(p(), { kind: 'mwi', mailbox: '5000', context: 'default', newMessages: 3, oldMessages: 1, eid: PEER_EID });
      await pollUntil('mailbox 5000@default = 3/1 on the fake', WAIT_MS, async () => {
        const m = await f().getMailbox('5000@default');
        return { ok: m?.newMessages === 3 && m.oldMessages === 1, detail: JSON.stringify(m) };
      }, 100);
      const actions = await f().actions();
      const mwiUpdates = actions.filter((a) => a.action.toLowerCase() === 'mwiupdate').map((a) => `${field(a, 'Mailbox')} ${field(a, 'NewMessages')}/${field(a, 'OldMessages')}`);
      expect(mwiUpdates).toEqual(['5000@default 3/1']);
      expect(setvars(actions)).toEqual(['DEVICE_STATE(Custom:remote:PJSIP/500)=INUSE']);

      // A leaked aggregate (0x05: res_corosync puts them on the wire, receivers drop them),
      // a ping, then a marker state: once the marker is written, the others were handled.
      await peerSends(p(), { kind: 'device-state', aggregate: true, device: 'PJSIP/501', state: DeviceState.busy, cachable: true, eid: PEER_EID });
      await peerSends(p(), { kind: 'ping', eid: PEER_EID });
      await peerSends(p(), { kind: 'device-state', aggregate: false, device: 'PJSIP/502', state: DeviceState.ringing, cachable: true, eid: PEER_EID });
      await fakeDeviceIs('Custom:remote:PJSIP/502', 'RINGING');
      expect(await f().getDevice('Custom:remote:PJSIP/501')).toBe('UNKNOWN');
      expect((await f().actions()).filter((a) => JSON.stringify(a.fields).includes('PJSIP/501'))).toEqual([]);
      await pollUntil('the ping NOTICE in carillond\'s log', WAIT_MS, async () => ({
        ok: bridgeNotice(`Got event PING from server with EID: '${PEER_EID}'`).test(readFrom(carillonLog())),
        detail: logTail(carillonLog(), 10),
      }));
      const after = await bridgeStatus();
      const delta = (name: string): number => (after.stats[name] ?? 0) - (before.stats[name] ?? 0);
      expect({
        receivedDeviceState: delta('receivedDeviceState'),
        receivedMwi: delta('receivedMwi'),
        receivedPing: delta('receivedPing'),
        droppedAggregate: delta('droppedAggregate'),
        droppedMalformed: delta('droppedMalformed'),
        published: delta('published'),
      }).toEqual({ receivedDeviceState: 2, receivedMwi: 1, receivedPing: 1, droppedAggregate: 1, droppedMalformed: 0, published: 0 });
      expect(after.devices.filter((d) => d.device.startsWith('PJSIP/50')).map((d) => ({ device: d.device, local: d.local, remote: d.remote.map((r) => `${r.eid}@${r.nodeId}=${r.state}`), injected: d.injected }))).toEqual([
        { device: 'PJSIP/500', local: null, remote: [`${PEER_EID}@${PEER_NODE}=INUSE`], injected: 'INUSE' },
        { device: 'PJSIP/502', local: null, remote: [`${PEER_EID}@${PEER_NODE}=RINGING`], injected: 'RINGING' },
      ]);
      notes.push(`(b) device state, MWI, aggregate, ping and marker handled ${secondsSince(started)} s after the first send`);
    });

    step('(c) Carillon → corosync side: changes on the fake reach the peer as res_corosync events with the fake\'s EID; nothing written by the bridge comes back', 30_000, async () => {
      const started = performance.now();
      const mark = p().lines.length;
      await f().setDevice('PJSIP/300', 'BUSY');
      const device = await fromBridge(p(), mark, 'PJSIP/300 from the bridge', (e) => e.kind === 'device-state');
      expect(device.type).toBe(0x06);
      expect(device.event).toEqual({ kind: 'device-state', aggregate: false, device: 'PJSIP/300', state: DeviceState.busy, cachable: true, eid: FAKE_EID });
      const mwiMark = p().lines.length;
      await f().setMailbox('7000@default', 2, 0);
      const mwi = await fromBridge(p(), mwiMark, 'the MWI of 7000@default from the bridge', (e) => e.kind === 'mwi');
      expect(mwi.type).toBe(0x02);
      expect(mwi.event).toEqual({ kind: 'mwi', mailbox: '7000', context: 'default', newMessages: 2, oldMessages: 0, eid: FAKE_EID });
      // A last marker, so that anything the earlier writes could have echoed is delivered
      // by now (AMI events and CPG deliveries are ordered).
      const markerMark = p().lines.length;
      await f().setDevice('PJSIP/301', 'ONHOLD');
      await fromBridge(p(), markerMark, 'PJSIP/301 from the bridge', (e) => e.kind === 'device-state' && e.device === 'PJSIP/301');

      // Everything the bridge ever multicast, decoded: its own EID only, its two
      // discoveries, and exactly the local changes made on the fake — no mapped name, no
      // MWI: device, no remote device or mailbox coming back.
      const sent = deliveries(p()).filter((d) => d.nodeId === CARILLON);
      expect(sent.filter((d) => d.event === null).map(describeDelivered)).toEqual([]);
      expect(sent.filter((d) => d.pid !== bridgeAddress().pid).map(describeDelivered)).toEqual([]);
      const summary = sent.map((d) => {
        const e = d.event as AstEvent;
        switch (e.kind) {
          case 'cluster-discovery':
            return `discovery ${e.nodeId} ${e.localAddr} ${e.eid}`;
          case 'device-state':
            return `device ${e.device} ${e.state} cachable=${String(e.cachable)} aggregate=${String(e.aggregate)} ${e.eid}`;
          case 'mwi':
            return `mwi ${e.mailbox}@${e.context} ${e.newMessages}/${e.oldMessages} ${e.eid}`;
          default:
            return `${e.kind} ${e.eid}`;
        }
      });
      const discovery = `discovery ${CARILLON} ${c().addr(CARILLON)} ${FAKE_EID}`;
      expect(summary).toEqual([
        discovery,
        discovery,
        `device PJSIP/300 ${DeviceState.busy} cachable=true aggregate=false ${FAKE_EID}`,
        `mwi 7000@default 2/0 ${FAKE_EID}`,
        `device PJSIP/301 ${DeviceState.onhold} cachable=true aggregate=false ${FAKE_EID}`,
      ]);
      // The fake did report the bridge's own writes back (that is what was suppressed).
      const s = await bridgeStatus();
      expect(s.stats['echoSuppressed'] ?? 0).toBeGreaterThanOrEqual(2);
      expect(s.stats['localChangesIgnored'] ?? 0).toBeGreaterThanOrEqual(1); // MWI:7000@default from res_mwi_devstate
      expect(s.devices.find((d) => d.device === 'PJSIP/300')?.local).toBe('BUSY');
      notes.push(`(c) PJSIP/300, 7000@default and a marker reached the peer ${secondsSince(started)} s after the first change; the bridge multicast ${sent.length} events in all, none an echo`);
    });

    step('(d) join dump: a second peer joining on corosync node 2 receives the bridge\'s current local state with no change made, and its discovery is answered', 30_000, async () => {
      const started = performance.now();
      const before = await bridgeStatus();
      const actionsBefore = (await f().actions()).length;
      peer2 = await AstCpgPeer.start(c().ns(PEER2_NODE), peerBinary, { logFile: peerLog(PEER2_NODE) });
      // res_corosync announces itself on start.
      const own = await peerSends(p2(), discoveryOf(PEER2_NODE, c().addr(PEER2_NODE), PEER2_EID));
      const dumped300 = await fromBridge(p2(), 0, 'PJSIP/300 in the bridge\'s join dump', (e) => e.kind === 'device-state' && e.device === 'PJSIP/300');
      expect(dumped300.event).toEqual({ kind: 'device-state', aggregate: false, device: 'PJSIP/300', state: DeviceState.busy, cachable: true, eid: FAKE_EID });
      const dumped7000 = await fromBridge(p2(), 0, '7000@default in the bridge\'s join dump', (e) => e.kind === 'mwi');
      expect(dumped7000.event).toEqual({ kind: 'mwi', mailbox: '7000', context: 'default', newMessages: 2, oldMessages: 0, eid: FAKE_EID });
      const answer = await fromBridge(p2(), own.index + 1, 'the bridge\'s answer to the second peer\'s discovery', (e) => e.kind === 'cluster-discovery');
      expect(answer.event).toEqual(discoveryOf(CARILLON, c().addr(CARILLON), FAKE_EID));
      // Only the local state: the remote devices of node 1 are not the bridge's to send.
      const devicesFromBridge = deliveries(p2()).filter((d) => d.nodeId === CARILLON && d.event?.kind === 'device-state').map((d) => (d.event as { device: string }).device);
      expect([...new Set(devicesFromBridge)].sort()).toEqual(['PJSIP/300', 'PJSIP/301']);
      await pollUntil('the bridge to list nodes 1 and 2', WAIT_MS, async () => {
        const s = await bridgeStatus();
        return { ok: s.nodes.map((n) => `${n.nodeId} ${n.eid} ${n.localAddr}`).join() === [`1 ${PEER_EID} ${c().addr(1)}`, `2 ${PEER2_EID} ${c().addr(2)}`].join(), detail: statusText(s) };
      });
      const after = await bridgeStatus();
      expect((after.stats['dumps'] ?? 0) - (before.stats['dumps'] ?? 0)).toBeGreaterThanOrEqual(1);
      expect(after.devices.find((d) => d.device === 'PJSIP/300')?.local).toBe('BUSY');
      // No change was made in the fake: nothing but the bridge's writes (none here) since.
      // (An AMI keepalive Ping after a stall would not be a change.)
      expect((await f().actions()).slice(actionsBefore).map((a) => a.action).filter((a) => a.toLowerCase() !== 'ping')).toEqual([]);
      notes.push(`(d) the second peer had the join dump and the discovery answer ${secondsSince(started)} s after starting`);
    });

    step('(e) the first peer quits like res_corosync (procdown): the bridge purges node 1\'s device states and logs that node 1 left', 30_000, async () => {
      const started = performance.now();
      const them = p().address;
      const mark2 = p2().lines.length;
      const exit = await p().quit(5000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(p().lines.at(-1)?.line).toBe('BYE reason=quit finalize=1');
      // The other peer sees it leave with reason 5, as the bridge does.
      await p2().waitFor((l) => l.kind === 'confchg' && l.left.some((x) => x.nodeId === them.nodeId && x.pid === them.pid && x.reason === REASON_PROCDOWN), WAIT_MS, { from: mark2, what: 'the first peer leaving (procdown)' });
      await fakeDeviceIs('Custom:remote:PJSIP/500', 'UNAVAILABLE');
      await fakeDeviceIs('Custom:remote:PJSIP/502', 'UNAVAILABLE');
      await pollUntil('the `left the cluster` NOTICE in carillond\'s log', WAIT_MS, async () => ({
        ok: bridgeNotice(`Node ${PEER_NODE} (${PEER_EID}) at ${c().addr(PEER_NODE)} left the cluster`).test(readFrom(carillonLog())),
        detail: logTail(carillonLog(), 10),
      }));
      const s = await bridgeStatus();
      expect(s.nodes.map((n) => n.nodeId)).toEqual([PEER2_NODE]);
      expect(s.devices.filter((d) => d.device.startsWith('PJSIP/50')).map((d) => ({ device: d.device, remote: d.remote, injected: d.injected }))).toEqual([]);
      expect(s.stats['purgedDeviceStates']).toBe(2);
      // MWI is kept (mwi_purge = keep, res_corosync's behaviour), the local state untouched.
      expect(await f().getMailbox('5000@default')).toEqual({ newMessages: 3, oldMessages: 1 });
      expect(await f().getDevice('PJSIP/300')).toBe('BUSY');
      expect(setvars(await f().actions()).slice(-2).sort()).toEqual([
        'DEVICE_STATE(Custom:remote:PJSIP/500)=UNAVAILABLE',
        'DEVICE_STATE(Custom:remote:PJSIP/502)=UNAVAILABLE',
      ]);
      notes.push(`(e) purged and logged ${secondsSince(started)} s after the peer's quit`);
    });

    step('(f) the fake\'s control protocol: bad commands are answered ERROR, and it goes on', 15_000, async () => {
      expect(await f().command('frobnicate now')).toBe('ERROR unknown-command frobnicate now');
      expect(await f().command('set-device PJSIP/1')).toBe('ERROR usage set-device <name> <STATE>');
      expect(await f().command('set-device PJSIP/1 SLEEPY')).toBe('ERROR bad-state SLEEPY');
      expect(await f().command('set-mailbox 1@default x 0')).toBe('ERROR bad-count x is not a message count');
      expect(await f().command(`get-device ${'x'.repeat(70_000)}`)).toBe('ERROR line-too-long 70011 bytes dropped (limit 65536)');
      expect(await f().command('get-mailbox nobody@default')).toBe('MAILBOX nobody@default none');
      expect(await f().command('stats')).toMatch(/^STATS commands=\d+ errors=5$/);
      expect(await f().getDevice('PJSIP/300')).toBe('BUSY');
      expect(f().alive).toBe(true);
    });

    step('(g) the logs: no warning or complaint in corosync\'s or carillond\'s, nothing malformed counted', 10_000, async () => {
      for (const i of REAL) {
        const complaints = readFrom(corosyncLog(i)).split('\n').filter((l) => COROSYNC_COMPLAINT.test(l) && !COROSYNC_EXPECTED.test(l));
        expect(`${corosyncLog(i)}:\n${complaints.join('\n')}`).toBe(`${corosyncLog(i)}:\n`);
      }
      const own = readFrom(carillonLog()).split('\n').filter((l) => CARILLON_COMPLAINT.test(l));
      expect(`${carillonLog()}:\n${own.join('\n')}`).toBe(`${carillonLog()}:\n`);
      const s = await bridgeStatus();
      const bad = Object.entries(s.stats).filter(([k, v]) => /[mM]alformed|Failed|Dropped|droppedMissingEid|droppedUnknownType|droppedDiscoveryMismatch|droppedOverLimit|mcastNotJoined|droppedLocalInvalid/.test(k) && v !== 0);
      expect(bad).toEqual([]);
      // Every multicast of the bridge came back to it once (dropped as its own EID), and
      // the first peer, in the group from before the bridge joined until it quit, saw them all.
      const multicast = deliveries(p()).filter((d) => d.nodeId === CARILLON).length;
      expect({ published: s.stats['published'], droppedOwnEid: s.stats['droppedOwnEid'] }).toEqual({ published: multicast, droppedOwnEid: multicast });
      expect(s.problems).toEqual([]);
      expect(carillond?.alive).toBe(true);
      expect(f().alive).toBe(true);
      const exit = await f().quit(5000);
      expect(exit).toEqual({ code: 0, signal: null });
    });
  });
}
