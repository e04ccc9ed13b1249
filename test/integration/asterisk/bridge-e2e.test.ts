// Goal (issue "Asterisk bridge", acceptance 1): end to end with three carillond and three
// fake Asterisks (test/integration/asterisk/fake-asterisk.ts, faithful to the recorded
// Asterisk 20 transcripts). Each daemon runs the bridge with its own res_corosync.conf
// and talks AMI to its own fake; the daemons form a ring on loopback (cluster-kit.ts).
//
// Checked, in order (the steps depend on each other):
//   (a) every bridge joins group asterisk and publishes with its Asterisk's EID, read
//       over AMI (`core show settings`), and `carillon show config` prints the loaded
//       res_corosync.conf in res_corosync's layout;
//   (b) a device state change on A's PBX appears on B and C as Custom:remote:<device>;
//       states of the same device from A and B are aggregated with Asterisk's rules;
//       nothing is echoed: no bridge ever writes a mapped name back, and a bridge only
//       multicasts its own changes (published counters);
//   (c) an MWI change on A appears on B and C (MWIUpdate), without echo;
//   (d) publish/subscribe flags per node: C does not publish mwi (proved by ordering:
//       a later device state of C arrives, its earlier MWI never does);
//   (e) B's AMI connection dropped while things change on both sides → after the
//       reconnect, B's fake has the remote change and A sees B's missed local change;
//   (f) `carillon ping` on A → B and C log res_corosync's NOTICE;
//   (g) A killed (SIGKILL) → B and C purge A's states per policy (UNAVAILABLE; a device
//       B also holds falls back to B's state); A restarted → state converges again;
//   (h) malformed AMI lines from a fake are counted by the bridge and change nothing.
// Every wait is bounded; on failure the daemons' log tails are attached.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BridgeStatusJson } from '../../../src/ipc/daemon-api';
import { Cluster, ctlJs, waitFor, withLogs } from '../daemon/cluster-kit';
import { FakeAsterisk } from './fake-asterisk';

const run = promisify(execFile);
const IDS = [1, 2, 3] as const;
const WAIT_MS = 15_000;

let cluster: Cluster | null = null;
const fakes = new Map<number, FakeAsterisk>();
let confDir = '';

function fake(id: number): FakeAsterisk {
  const f = fakes.get(id);
  if (f === undefined) throw new Error(`no fake Asterisk ${id}`);
  return f;
}

function eidOf(id: number): string {
  return `02:ca:11:00:00:0${id}`;
}

function resCorosyncConf(id: number, amiPort: number): string {
  const publishMwi = id === 3 ? '; node 3 does not publish mwi\n' : 'publish_event = mwi\n';
  return [
    '; written by bridge-e2e.test.ts',
    '[general]',
    publishMwi.trimEnd(),
    'subscribe_event = mwi',
    'publish_event = device_state',
    'subscribe_event = device_state',
    'publish_event = presence_state',
    'subscribe_event = presence_state',
    '',
    '[ami]',
    'host = 127.0.0.1',
    `port = ${amiPort}`,
    'username = admin',
    'secret = amipass',
    'reconnect_min_ms = 50',
    'reconnect_max_ms = 300',
    'action_timeout_ms = 3000',
    '',
  ].join('\n');
}

async function bridgeStatus(id: number): Promise<BridgeStatusJson> {
  const client = await (cluster as Cluster).client(id);
  return client.call('bridge.status');
}

/** Polls `probe` until it returns true; its last other answer says what was seen. */
async function until(what: string, timeoutMs: number, probe: () => true | string | Promise<true | string>): Promise<void> {
  let seen = '';
  await waitFor(
    async () => {
      const answer = await probe();
      if (answer === true) return true;
      seen = answer;
      return false;
    },
    timeoutMs,
    what,
    () => seen,
  );
}

function the(): Cluster {
  if (cluster === null) throw new Error('no cluster');
  return cluster;
}

/** Waits until fake `id` holds device `name` in `state`. */
async function deviceIs(id: number, name: string, state: string): Promise<void> {
  await until(`${name} = ${state} on fake ${id}`, WAIT_MS, () => {
    const now = fake(id).deviceState(name);
    return now === state ? true : `it is ${now}`;
  });
}

async function mailboxIs(id: number, mailbox: string, newMessages: number, oldMessages: number): Promise<void> {
  await until(`${mailbox} = ${newMessages}/${oldMessages} on fake ${id}`, WAIT_MS, () => {
    const now = fake(id).mailboxes().get(mailbox);
    return now !== undefined && now.new === newMessages && now.old === oldMessages ? true : `it is ${JSON.stringify(now)}`;
  });
}

/** Mapped names any bridge wrote into fake `id` with Setvar. */
function setvarNames(id: number): string[] {
  return fake(id)
    .amiActions()
    .filter((a) => a.action.toLowerCase() === 'setvar')
    .map((a) => a.fields.find(([k]) => k.toLowerCase() === 'variable')?.[1] ?? '');
}

beforeAll(async () => {
  confDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-bridge-e2e-'));
  for (const id of IDS) {
    const f = await FakeAsterisk.start({ eid: eidOf(id), failedLoginDelayMs: 20 });
    fakes.set(id, f);
    fs.writeFileSync(path.join(confDir, `res_corosync-${id}.conf`), resCorosyncConf(id, f.amiPort));
  }
  cluster = await Cluster.create({
    listed: 3,
    name: 'bridge',
    carillonLines: (id) => [`res_corosync_conf: ${path.join(confDir, `res_corosync-${id}.conf`)}`],
  });
  await cluster.startNodes();
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
  for (const f of fakes.values()) await f.stop();
  if (confDir !== '') fs.rmSync(confDir, { recursive: true, force: true });
});

describe('bridge end to end: 3 carillond + 3 fake Asterisks', () => {
  it('(a) every bridge joins group asterisk with its Asterisk\'s EID; show config prints res_corosync\'s layout', async () => {
    await withLogs(() => cluster, async () => {
      await the().waitForRing([...IDS], [...IDS], WAIT_MS);
      for (const id of IDS) {
        await until(`bridge ${id} joined with its EID`, WAIT_MS, async () => {
          const s = await bridgeStatus(id);
          return s.joined && s.eid === eidOf(id) && s.nodes.length === 2 ? true : JSON.stringify({ joined: s.joined, eid: s.eid, nodes: s.nodes, problems: s.problems });
        });
      }
      const { stdout } = await run(process.execPath, [ctlJs, 'show', 'config', '--socket', the().socketPath(1)]);
      expect(stdout).toBe(
        [
          '',
          '=============================================================',
          '=== res_corosync config =====================================',
          '=============================================================',
          '===',
          '=== ==> Publishing Event Type: mwi',
          '=== ==> Subscribing to Event Type: mwi',
          '=== ==> Publishing Event Type: device_state',
          '=== ==> Subscribing to Event Type: device_state',
          '=== ==> Publishing Event Type: presence_state',
          '=== ==> Subscribing to Event Type: presence_state',
          '=== ==> Publishing Event Type: ping',
          '=== ==> Subscribing to Event Type: ping',
          '=== ==> Publishing Event Type: cluster_discovery',
          '=== ==> Subscribing to Event Type: cluster_discovery',
          '===',
          '=============================================================',
          '',
          '',
        ].join('\n'),
      );
    });
  }, 60_000);

  it('(b) a device state on A appears on B and C, aggregated across origins, with no echo', async () => {
    await withLogs(() => cluster, async () => {
      fake(1).setDeviceState('PJSIP/100', 'INUSE');
      await deviceIs(2, 'Custom:remote:PJSIP/100', 'INUSE');
      await deviceIs(3, 'Custom:remote:PJSIP/100', 'INUSE');
      // Aggregation: A INUSE + B BUSY on the same device → C sees BUSY; A sees B's only.
      fake(1).setDeviceState('Custom:alice', 'INUSE');
      fake(2).setDeviceState('Custom:alice', 'BUSY');
      await deviceIs(3, 'Custom:remote:Custom:alice', 'BUSY');
      await deviceIs(1, 'Custom:remote:Custom:alice', 'BUSY');
      await deviceIs(2, 'Custom:remote:Custom:alice', 'INUSE');
      // RINGING (A) + INUSE (B) = RINGINUSE, as the real cluster showed.
      fake(1).setDeviceState('Custom:carol', 'RINGING');
      fake(2).setDeviceState('Custom:carol', 'INUSE');
      await deviceIs(3, 'Custom:remote:Custom:carol', 'RINGINUSE');
      // No echo: A's fake was never written PJSIP/100 under any name, and no bridge wrote
      // a mapped name of a mapped name.
      expect(setvarNames(1).filter((v) => v.includes('PJSIP/100'))).toEqual([]);
      for (const id of IDS) expect(setvarNames(id).filter((v) => v.includes('remote:Custom:remote:'))).toEqual([]);
      const a = await bridgeStatus(1);
      const b = await bridgeStatus(2);
      expect(a.stats['publishedDeviceState']).toBeGreaterThanOrEqual(3);
      // B published only its two own changes (plus dumps of them at joins), never A's device.
      const bDevice = b.devices.find((d) => d.device === 'PJSIP/100');
      expect(bDevice?.local).toBeNull();
      expect(bDevice?.remote.map((r) => r.eid)).toEqual([eidOf(1)]);
    });
  }, 60_000);

  it('(c) an MWI change on A appears on B and C, without echo', async () => {
    await withLogs(() => cluster, async () => {
      fake(1).setMailbox('1000@default', 2, 5);
      await mailboxIs(2, '1000@default', 2, 5);
      await mailboxIs(3, '1000@default', 2, 5);
      // B's and C's MWIUpdate comes back to them as MessageWaiting: not published.
      const [b, c] = [await bridgeStatus(2), await bridgeStatus(3)];
      expect(b.stats['publishedMwi']).toBe(0);
      expect(c.stats['publishedMwi']).toBe(0);
      expect(b.stats['echoSuppressed']).toBeGreaterThan(0);
      const mwiUpdatesOnA = fake(1).amiActions().filter((x) => x.action.toLowerCase() === 'mwiupdate');
      expect(mwiUpdatesOnA).toEqual([]);
    });
  }, 60_000);

  it('(d) publish flags per node: C does not publish mwi', async () => {
    await withLogs(() => cluster, async () => {
      fake(3).setMailbox('3000@default', 9, 9);
      // A marker C does publish, sent after the MWI: once it is on A, the MWI would be too.
      await new Promise((resolve) => setTimeout(resolve, 50));
      fake(3).setDeviceState('PJSIP/300', 'ONHOLD');
      await deviceIs(1, 'Custom:remote:PJSIP/300', 'ONHOLD');
      await deviceIs(2, 'Custom:remote:PJSIP/300', 'ONHOLD');
      expect(fake(1).mailboxes().has('3000@default')).toBe(false);
      expect(fake(2).mailboxes().has('3000@default')).toBe(false);
    });
  }, 60_000);

  it('(d2) presence (Carillon extension): CustomPresence on A appears on B and C under the mapped name', async () => {
    await withLogs(() => cluster, async () => {
      fake(1).setPresence('CustomPresence:alice', 'away', 'lunch', 'back at 2');
      for (const id of [2, 3]) {
        await until(`presence on fake ${id}`, WAIT_MS, () => {
          const p = fake(id).presence('CustomPresence:remote:CustomPresence:alice');
          return p !== null && p.state === 'away' && p.subtype === 'lunch' && p.message === 'back at 2' ? true : JSON.stringify(p);
        });
      }
      expect((await bridgeStatus(2)).stats['publishedPresence']).toBe(0);
    });
  }, 60_000);

  it('(e) AMI dropped and restored: full resync, nothing lost', async () => {
    await withLogs(() => cluster, async () => {
      const before = (await bridgeStatus(2)).stats['resyncs'] ?? 0;
      fake(2).dropConnections();
      // While B's AMI may be down: A changes a device B mirrors, B's PBX changes one.
      fake(1).setDeviceState('PJSIP/100', 'NOT_INUSE');
      fake(2).setDeviceState('PJSIP/200', 'RINGING');
      await until('B resynchronised', WAIT_MS, async () => {
        const s = await bridgeStatus(2);
        return (s.stats['resyncs'] ?? 0) > before && s.ami?.connected === true ? true : JSON.stringify(s.ami);
      });
      await deviceIs(2, 'Custom:remote:PJSIP/100', 'NOT_INUSE');
      await deviceIs(1, 'Custom:remote:PJSIP/200', 'RINGING');
      await deviceIs(3, 'Custom:remote:PJSIP/200', 'RINGING');
    });
  }, 60_000);

  it('(f) carillon ping: every other node logs res_corosync\'s NOTICE', async () => {
    await withLogs(() => cluster, async () => {
      const { stdout } = await run(process.execPath, [ctlJs, 'ping', '--socket', the().socketPath(1)]);
      expect(stdout).toBe('');
      await until('ping logged on 2 and 3', WAIT_MS, () =>
        [2, 3].every((id) => the().logText(id).includes(`Got event PING from server with EID: '${eidOf(1)}'`)) ? true : 'not yet',
      );
      expect(the().logText(1)).toContain(`Sending event PING from this server with EID: '${eidOf(1)}'`);
    });
  }, 60_000);

  it('(g) A killed: its states are purged on B and C; A restarted: state converges again', async () => {
    await withLogs(() => cluster, async () => {
      fake(1).setDeviceState('PJSIP/101', 'BUSY');
      await deviceIs(3, 'Custom:remote:PJSIP/101', 'BUSY');
      await the().killNode(1);
      await deviceIs(2, 'Custom:remote:PJSIP/101', 'UNAVAILABLE');
      await deviceIs(3, 'Custom:remote:PJSIP/101', 'UNAVAILABLE');
      // Custom:alice was INUSE on A and BUSY on B: C falls back to B's state alone.
      await deviceIs(3, 'Custom:remote:Custom:alice', 'BUSY');
      await until('left NOTICE on 2', WAIT_MS, () => (the().logText(2).includes(`Node 1 (${eidOf(1)}) at`) && the().logText(2).includes('left the cluster') ? true : 'not yet'));
      // While A is down its PBX changes; the restarted bridge resyncs and dumps.
      fake(1).setDeviceState('PJSIP/101', 'INUSE');
      the().start(1);
      await deviceIs(2, 'Custom:remote:PJSIP/101', 'INUSE');
      await deviceIs(3, 'Custom:remote:PJSIP/101', 'INUSE');
      await deviceIs(3, 'Custom:remote:Custom:alice', 'BUSY'); // INUSE + BUSY
      // And A learns the others' states again (its mapped names were settled at kill).
      await deviceIs(1, 'Custom:remote:PJSIP/200', 'RINGING');
    });
  }, 90_000);

  it('(h) malformed AMI input is counted and skipped', async () => {
    await withLogs(() => cluster, async () => {
      const before = await bridgeStatus(2);
      fake(2).injectRaw('Event: DeviceStateChange\r\nDevice: PJSIP/999\r\nState: NOT_A_STATE\r\nPrivilege: call,all\r\n\r\nthis line has no colon\r\n\r\n');
      fake(2).setDeviceState('PJSIP/201', 'INUSE');
      await deviceIs(1, 'Custom:remote:PJSIP/201', 'INUSE');
      const after = await bridgeStatus(2);
      expect((after.stats['amiEventsMalformed'] ?? 0) - (before.stats['amiEventsMalformed'] ?? 0)).toBe(1);
      expect((after.stats['ami.malformedLines'] ?? 0) - (before.stats['ami.malformedLines'] ?? 0)).toBeGreaterThanOrEqual(1);
      expect(fake(1).deviceStates().has('Custom:remote:PJSIP/999')).toBe(false);
    });
  }, 60_000);
});
