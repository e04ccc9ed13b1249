// `npm run demo` (= npm run build && tsx scripts/demo-cluster.ts [--keep]): a three-node
// Carillon cluster on this machine, narrated. It runs the built daemon and CLI
// (dist/bin/daemon.js, dist/bin/ctl.js) on 127.0.0.11-13 (udpu, one free UDP port,
// AES-256-GCM with a key from `carillon keygen`), and shows: ring formation, `carillon
// status`, messages from two nodes delivered in one agreed order on the third, kill -9 of
// a node and the time the survivors take to reform, its restart and rejoin, and the
// immediate reform after an orderly SIGTERM. Each daemon also runs the Asterisk bridge
// (res_corosync.conf) against a fake Asterisk of its own (the AMI server the tests use,
// test/integration/asterisk/fake-asterisk.ts): a phone busy on PBX 1 lights up as
// Custom:remote:<device> on PBXs 2 and 3, a voicemail count follows, and when node 3 is
// killed its phones turn UNAVAILABLE on the others. Then it stops everything and removes its
// temp dir, or with --keep leaves the cluster running and prints how to inspect and stop
// it. Every wait has a deadline; any failure exits 1 with the tail of each node's log.
//
// Works as root or not: on Linux every 127.0.0.0/8 address is local without setup.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IpcClient } from '../src/client/ipc-client';
import { FakeAsterisk } from '../test/integration/asterisk/fake-asterisk';
import type { DaemonStatus, TotemEventJson } from '../src/ipc/daemon-api';

const root = path.resolve(__dirname, '..');
const daemonJs = path.join(root, 'dist/bin/daemon.js');
const ctlJs = path.join(root, 'dist/bin/ctl.js');
const NODES = [1, 2, 3] as const;
const TOKEN_MS = 1000;
/** Derived by carillond as corosync does: 1.2 × token. */
const CONSENSUS_MS = Math.trunc(1.2 * TOKEN_MS);
const keep = process.argv.slice(2).includes('--keep');

const address = (id: number): string => `127.0.0.${10 + id}`;

class DemoError extends Error {}

// ---------------------------------------------------------------------------------
// Output.

const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (tty ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;

function step(title: string, text: string): void {
  stepNo += 1;
  console.log(`${bold(`${stepNo}. ${title.padEnd(10)}`)} ${text}`);
}

function detail(lines: string | readonly string[]): void {
  for (const line of typeof lines === 'string' ? lines.split('\n') : lines) console.log(`     ${line}`);
}

// ---------------------------------------------------------------------------------
// Helpers.

const nowMs = (): number => performance.now();
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`'s value, or null after `ms` (the timer is cleared either way). */
async function orTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs: number, what: string): Promise<T> {
  const deadline = nowMs() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (nowMs() > deadline) throw new DemoError(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === '' ? '' : ` (last error: ${lastError})`}`);
    await delay(20);
  }
}

function ringText(ring: { rep: number; seq: string }): string {
  return `${ring.rep}.${BigInt(ring.seq).toString(16)}`;
}

function members(status: DaemonStatus): string {
  return status.members.map((m) => m.nodeId).join(',');
}

/** A UDP port free on all three addresses (probed, then released). */
async function pickPort(): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const sockets: dgram.Socket[] = [];
    let failure: NodeJS.ErrnoException | null = null;
    for (const id of NODES) {
      const socket = dgram.createSocket('udp4');
      sockets.push(socket);
      failure = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
        socket.once('error', (e: NodeJS.ErrnoException) => resolve(e));
        socket.bind(port, address(id), () => resolve(null));
      });
      if (failure !== null) break;
    }
    for (const socket of sockets) {
      try {
        socket.close();
      } catch {
        // never bound
      }
    }
    if (failure === null) return port;
    if (failure.code === 'EADDRNOTAVAIL') {
      throw new DemoError(`cannot bind 127.0.0.11-13 (${failure.code}): this system does not route all of 127.0.0.0/8 to lo` +
        ' (on macOS: sudo ifconfig lo0 alias 127.0.0.11 up; likewise .12 and .13)');
    }
  }
  throw new DemoError('no free UDP port found for the demo');
}

/** The bridge's res_corosync.conf for node `id`: everything published and subscribed. */
function resCorosyncText(amiHost: string, amiPort: number): string {
  return [
    '; Carillon demo (scripts/demo-cluster.ts): res_corosync.conf syntax plus [ami]',
    '[general]',
    'publish_event = mwi',
    'subscribe_event = mwi',
    'publish_event = device_state',
    'subscribe_event = device_state',
    '',
    '[ami]',
    `host = ${amiHost}`,
    `port = ${amiPort}`,
    'username = admin',
    'secret = amipass',
    'reconnect_min_ms = 100',
    '',
  ].join('\n');
}

function configText(dir: string, port: number, id: number): string {
  const nodes = NODES.flatMap((n) => ['\tnode {', `\t\tring0_addr: ${address(n)}`, `\t\tnodeid: ${n}`, `\t\tname: demo${n}`, '\t}']);
  return [
    '# Carillon demo node (scripts/demo-cluster.ts); corosync.conf syntax.',
    'totem {',
    '\tversion: 2',
    '\tcluster_name: carillon-demo',
    '\ttransport: udpu',
    `\ttoken: ${TOKEN_MS}`,
    '\t# corosync would add 650 ms to token per node beyond two; keep the demo snappy',
    '\ttoken_coefficient: 0',
    '\t# AES-256-GCM (a Carillon extension on udpu): only holders of the key can join',
    '\tcrypto_cipher: aes256',
    '\tcrypto_hash: sha256',
    `\tkeyfile: ${path.join(dir, 'authkey')}`,
    '\tinterface {',
    '\t\tlinknumber: 0',
    `\t\tmcastport: ${port}`,
    '\t}',
    '}',
    'nodelist {',
    ...nodes,
    '}',
    'logging {',
    '\tto_stderr: yes',
    '\ttimestamp: hires',
    '}',
    'carillon {',
    `\tlocal_nodeid: ${id}`,
    `\tstate_dir: ${path.join(dir, `n${id}`)}`,
    `\tipc_socket: ${path.join(dir, `n${id}`, 'carillon.sock')}`,
    `\thttp_listen: ${address(id)}:${port}`,
    `\tres_corosync_conf: ${path.join(dir, `n${id}`, 'res_corosync.conf')}`,
    '}',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------
// The cluster.

interface Node {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
}

class DemoCluster {
  readonly dir: string;
  readonly port: number;
  private readonly nodes = new Map<number, Node>();
  private readonly clients = new Map<number, IpcClient>();

  constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  conf(id: number): string {
    return path.join(this.dir, `n${id}`, 'corosync.conf');
  }

  socket(id: number): string {
    return path.join(this.dir, `n${id}`, 'carillon.sock');
  }

  log(id: number): string {
    return path.join(this.dir, `n${id}`, 'carillond.log');
  }

  pidFile(id: number): string {
    return path.join(this.dir, `n${id}`, 'carillond.pid');
  }

  start(id: number): number {
    const log = fs.openSync(this.log(id), 'a');
    // Own process group: a Ctrl-C in the terminal reaches only this script, which then
    // stops the daemons in order.
    const child = spawn(process.execPath, [daemonJs, '-f', '-c', this.conf(id)], { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const node: Node = {
      child,
      exited: false,
      exit: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          node.exited = true;
          resolve({ code, signal });
        });
        child.once('error', () => {
          node.exited = true;
          resolve({ code: -1, signal: null });
        });
      }),
    };
    this.nodes.set(id, node);
    if (child.pid === undefined) throw new DemoError(`could not start node ${id}`);
    fs.writeFileSync(this.pidFile(id), `${child.pid}\n`);
    return child.pid;
  }

  async client(id: number): Promise<IpcClient> {
    const cached = this.clients.get(id);
    if (cached !== undefined) return cached;
    const client = await waitFor(async () => {
      if (this.nodes.get(id)?.exited === true) throw new DemoError(`node ${id} exited during startup`);
      try {
        return await IpcClient.connect(this.socket(id), { timeoutMs: 1000, clientName: 'demo' });
      } catch {
        return null;
      }
    }, 10_000, `node ${id}'s IPC socket`);
    this.clients.set(id, client);
    void client.closed.then(() => this.clients.delete(id));
    return client;
  }

  async status(id: number): Promise<DaemonStatus> {
    return (await this.client(id)).call('status', {}, { timeoutMs: 3000 });
  }

  /** Waits until `ids` are operational in one ring of exactly `ids`. */
  async waitForRing(ids: readonly number[], timeoutMs: number): Promise<DaemonStatus> {
    const want = ids.join(',');
    return waitFor(async () => {
      const all = await Promise.all(ids.map((id) => this.status(id)));
      const first = all[0];
      if (first === undefined) return null;
      const ok = all.every((s) => s.state === 'operational' && members(s) === want && ringText(s.ringId) === ringText(first.ringId));
      return ok ? first : null;
    }, timeoutMs, `one ring of [${want}]`);
  }

  async stop(id: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const node = this.nodes.get(id);
    if (node === undefined) throw new DemoError(`node ${id} was not started`);
    await this.clients.get(id)?.close().catch(() => undefined);
    this.clients.delete(id);
    if (!node.exited) node.child.kill(signal);
    const result = await orTimeout(node.exit, 10_000);
    if (result === null) throw new DemoError(`node ${id} did not exit within 10 s of ${signal}`);
    return result;
  }

  pids(): number[] {
    return [...this.nodes.values()].filter((n) => !n.exited).map((n) => n.child.pid ?? 0);
  }

  /** Leaves the daemons running after this script exits (--keep). */
  detach(): void {
    for (const client of this.clients.values()) void client.close();
    for (const node of this.nodes.values()) node.child.unref();
  }

  /** SIGTERM every daemon still running (SIGKILL after 5 s) and close connections. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => undefined)));
    this.clients.clear();
    await Promise.all([...this.nodes.values()].filter((n) => !n.exited).map(async (node) => {
      node.child.kill('SIGTERM');
      const done = await orTimeout(node.exit, 5000);
      if (done === null) {
        node.child.kill('SIGKILL');
        await orTimeout(node.exit, 2000);
      }
    }));
  }

  logTails(lines = 15): string {
    return NODES.map((id) => {
      let text = '';
      try {
        text = fs.readFileSync(this.log(id), 'utf8');
      } catch {
        text = '(no log)';
      }
      return `--- node ${id}: ${this.log(id)} (last ${lines} lines)\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
    }).join('\n');
  }
}

/** Subscribes to node `id`'s deliveries and configuration changes. */
async function listen(cluster: DemoCluster, id: number): Promise<{ events: Array<{ atMs: number; event: TotemEventJson }>; stop: () => Promise<void> }> {
  const client = await IpcClient.connect(cluster.socket(id), { timeoutMs: 5000, clientName: 'demo-listen' });
  const events: Array<{ atMs: number; event: TotemEventJson }> = [];
  await client.subscribe('totem', (event) => events.push({ atMs: nowMs(), event }));
  return { events, stop: () => client.close() };
}

function regularTo(events: ReadonlyArray<{ atMs: number; event: TotemEventJson }>, want: string): { atMs: number; event: TotemEventJson } | null {
  return events.find(({ event }) => event.kind === 'confchg' && event.type === 'regular' && event.members.join(',') === want) ?? null;
}

// ---------------------------------------------------------------------------------
// The demo.

/** The fake Asterisks beside the daemons (index = node id − 1). */
const pbxs: FakeAsterisk[] = [];

function pbx(id: number): FakeAsterisk {
  const f = pbxs[id - 1];
  if (f === undefined) throw new DemoError(`no fake Asterisk for node ${id}`);
  return f;
}

async function stopPbxs(): Promise<void> {
  await Promise.all(pbxs.splice(0).map((f) => f.stop().catch(() => undefined)));
}

/** Waits until PBX `id` reads `device` as `state`; returns the ms it took from `t0`. */
async function deviceBecomes(id: number, device: string, state: string, t0: number, timeoutMs = 10_000): Promise<number> {
  await waitFor(async () => (pbx(id).deviceState(device) === state ? true : null), timeoutMs, `PBX ${id} to read ${device} as ${state}`);
  return nowMs() - t0;
}

async function demo(cluster: DemoCluster): Promise<void> {
  const { dir } = cluster;

  for (const id of NODES) pbxs.push(await FakeAsterisk.start({ eid: `02:ca:11:00:00:0${id}`, host: address(id), failedLoginDelayMs: 20 }));

  const keygen = execFileSync(process.execPath, [ctlJs, 'keygen', '-k', path.join(dir, 'authkey')], { encoding: 'utf8' }).trim();
  step('key', `${dim('carillon keygen -k')} ${path.join(dir, 'authkey')}`);
  detail(keygen);
  for (const id of NODES) {
    fs.mkdirSync(path.join(dir, `n${id}`), { recursive: true });
    fs.writeFileSync(cluster.conf(id), configText(dir, cluster.port, id));
    fs.writeFileSync(path.join(dir, `n${id}`, 'res_corosync.conf'), resCorosyncText(address(id), pbx(id).amiPort));
  }

  let t0 = nowMs();
  const pids = NODES.map((id) => cluster.start(id));
  let ring = await cluster.waitForRing(NODES, 15_000);
  step('start', `3 daemons (pids ${pids.join(' ')}): ring ${ringText(ring.ringId)} formed by [${members(ring)}] ${Math.round(nowMs() - t0)} ms after launch`);

  const status = execFileSync(process.execPath, [ctlJs, '--socket', cluster.socket(1), 'status'], { encoding: 'utf8' }).trimEnd();
  step('status', `${dim('carillon --socket')} ${cluster.socket(1)} ${dim('status')}`);
  detail(status.split('\n').map((line) => `| ${line}`));

  const metricsUrl = `http://${address(1)}:${cluster.port}/metrics`;
  const metricsText = await (await fetch(metricsUrl)).text();
  const wanted = /^carillon_(totem_members|totem_ring_seq|quorum_quorate|membership_changes_total|cpg_groups) /;
  step('metrics', `${dim('curl')} ${metricsUrl} ${dim('(also /healthz, /readyz; Prometheus text)')}`);
  detail(metricsText.split('\n').filter((line) => wanted.test(line)).map((line) => `| ${line}`));

  const listener = await listen(cluster, 3);
  const texts = (id: number): string[] => [1, 2, 3].map((i) => `hello #${i} from node ${id}`);
  await Promise.all([1, 2].map(async (id) => {
    const client = await cluster.client(id);
    for (const text of texts(id)) {
      const answer = await client.call('totem.submit', { payloadHex: Buffer.from(text, 'utf8').toString('hex') });
      if (answer.result !== 'queued') throw new DemoError(`node ${id} refused a message: ${answer.result}`);
    }
  }));
  const deliveries = await waitFor(async () => {
    const got = listener.events.flatMap(({ event }) => (event.kind === 'deliver' ? [event] : []));
    return got.length >= 6 ? got : null;
  }, 5000, 'node 3 to deliver 6 messages');
  await listener.stop();
  step('messages', `nodes 1 and 2 each sent 3 messages at once ${dim('(carillon totem send ...)')}; node 3 delivered, in the agreed order:`);
  detail(deliveries.map((d) => `ring ${ringText(d.ringId)} seq ${String(d.seq).padStart(2)}  from node ${d.sender}  "${Buffer.from(d.payloadHex, 'hex').toString('utf8')}"`));

  await waitFor(async () => {
    const states = await Promise.all(NODES.map(async (id) => (await cluster.client(id)).call('bridge.status')));
    return states.every((b) => b.joined && b.ami?.connected === true && b.nodes.length >= 2) ? true : null;
  }, 15_000, 'every bridge to log in to its PBX and see the other two');
  t0 = nowMs();
  pbx(1).setDeviceState('PJSIP/alice', 'INUSE');
  pbx(3).setDeviceState('PJSIP/carol', 'RINGING');
  pbx(1).setMailbox('1000@default', 2, 5);
  const lit = await Promise.all([
    deviceBecomes(2, 'Custom:remote:PJSIP/alice', 'INUSE', t0), deviceBecomes(3, 'Custom:remote:PJSIP/alice', 'INUSE', t0),
    deviceBecomes(1, 'Custom:remote:PJSIP/carol', 'RINGING', t0), deviceBecomes(2, 'Custom:remote:PJSIP/carol', 'RINGING', t0),
  ]);
  await waitFor(async () => ([2, 3].every((id) => pbx(id).mailboxes().get('1000@default')?.new === 2) ? true : null), 10_000, 'PBXs 2 and 3 to show 2 new messages for 1000@default');
  step('bridge', `each daemon bridges a (fake) Asterisk over AMI, as res_corosync does, in CPG group asterisk:`);
  detail([
    `PBX 1: PJSIP/alice INUSE   → PBX 2, 3 read Custom:remote:PJSIP/alice INUSE   (${Math.round(Math.max(lit[0] ?? 0, lit[1] ?? 0))} ms)`,
    `PBX 3: PJSIP/carol RINGING → PBX 1, 2 read Custom:remote:PJSIP/carol RINGING (${Math.round(Math.max(lit[2] ?? 0, lit[3] ?? 0))} ms)`,
    'PBX 1: mailbox 1000@default 2 new, 5 old → PBX 2, 3 light the same MWI',
    dim(`(hints such as exten => 1001,hint,Custom:remote:PJSIP/alice give BLF on the other PBXs; ${'`carillon show states`'} lists them)`),
  ]);

  const survivors = await Promise.all([1, 2].map((id) => listen(cluster, id)));
  t0 = nowMs();
  await cluster.stop(3, 'SIGKILL');
  await waitFor(async () => (survivors.every((l) => regularTo(l.events, '1,2') !== null) ? true : null), TOKEN_MS + CONSENSUS_MS + 5000, 'nodes 1 and 2 to reform without node 3');
  const failoverMs = Math.max(...survivors.map((l) => (regularTo(l.events, '1,2')?.atMs ?? 0) - t0));
  await Promise.all(survivors.map((l) => l.stop()));
  ring = await cluster.waitForRing([1, 2], 5000);
  step('kill -9', `node 3 killed: nodes 1,2 formed ring ${ringText(ring.ringId)} as [${members(ring)}] after ${Math.round(failoverMs)} ms`);
  detail(dim(`(the token is declared lost after token = ${TOKEN_MS} ms, then consensus = ${CONSENSUS_MS} ms of waiting for node 3's join)`));
  const unavailableMs = await Promise.all([1, 2].map((id) => deviceBecomes(id, 'Custom:remote:PJSIP/carol', 'UNAVAILABLE', t0)));
  detail(`PBX 3's phones went dark with it: PBX 1, 2 read Custom:remote:PJSIP/carol UNAVAILABLE ${Math.round(Math.max(...unavailableMs))} ms after the kill`);

  const stored = fs.readFileSync(path.join(dir, 'n3', 'ringid_3')).readBigUInt64LE(0);
  t0 = nowMs();
  cluster.start(3);
  ring = await cluster.waitForRing(NODES, 15_000);
  step('restart', `node 3 restarted with its state_dir (ring seq 0x${stored.toString(16)} restored from ringid_3): ring ${ringText(ring.ringId)} [${members(ring)}] after ${Math.round(nowMs() - t0)} ms`);

  const leavers = await Promise.all([1, 3].map((id) => listen(cluster, id)));
  t0 = nowMs();
  const exit = await cluster.stop(2, 'SIGTERM');
  await waitFor(async () => (leavers.every((l) => regularTo(l.events, '1,3') !== null) ? true : null), TOKEN_MS + CONSENSUS_MS + 5000, 'nodes 1 and 3 to reform without node 2');
  const leaveMs = Math.max(...leavers.map((l) => (regularTo(l.events, '1,3')?.atMs ?? 0) - t0));
  await Promise.all(leavers.map((l) => l.stop()));
  if (exit.code !== 0) throw new DemoError(`node 2 exited with ${String(exit.code ?? exit.signal)} after SIGTERM, not 0`);
  ring = await cluster.waitForRing([1, 3], 5000);
  step('SIGTERM', `node 2 left in order (exit 0): nodes 1,3 formed ring ${ringText(ring.ringId)} as [${members(ring)}] after ${Math.round(leaveMs)} ms`);
  detail(dim('(its LEAVE message makes the others reform at once, with no token timeout)'));

  if (keep) {
    cluster.start(2);
    ring = await cluster.waitForRing(NODES, 15_000);
    step('keep', `node 2 started again; ring ${ringText(ring.ringId)} [${members(ring)}] left running in ${dir}`);
    const pidFiles = NODES.map((id) => cluster.pidFile(id)).join(' ');
    detail([
      'inspect:',
      `  node ${ctlJs} --socket ${cluster.socket(1)} status`,
      `  node ${ctlJs} --socket ${cluster.socket(3)} totem listen`,
      `  node ${ctlJs} --socket ${cluster.socket(2)} totem send hello`,
      `  tail -f ${path.join(dir, 'n*', 'carillond.log')}`,
      'stop and clean up:',
      `  kill -TERM $(cat ${pidFiles}); sleep 1; rm -rf ${dir}`,
    ]);
    await stopPbxs();
    detail(dim('(the fake Asterisks end with the demo: the bridges keep retrying AMI, as with a PBX that is down)'));
    cluster.detach();
    return;
  }
  await cluster.shutdown();
  await stopPbxs();
  fs.rmSync(dir, { recursive: true, force: true });
  step('stop', `all daemons stopped; ${dir} removed ${dim('(run with --keep to leave the cluster running)')}`);
}

async function main(): Promise<number> {
  if (!fs.existsSync(daemonJs) || !fs.existsSync(ctlJs)) {
    console.error(`carillon demo: ${daemonJs} is missing: run \`npm run build\` first (npm run demo does)`);
    return 1;
  }
  const port = await pickPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-demo-'));
  const cluster = new DemoCluster(dir, port);
  console.log(bold(`Carillon demo: 3 carillond on ${address(1)}-${NODES.length + 10}, udpu port ${port}, AES-256-GCM, token ${TOKEN_MS} ms`));
  console.log(`   working dir: ${dir}${keep ? ' (kept: --keep)' : ' (removed at the end)'}`);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\ncarillon demo: ${signal}: stopping the daemons`);
    void cluster.shutdown().then(stopPbxs).finally(() => {
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await demo(cluster);
    return 0;
  } catch (e) {
    console.error(`\ncarillon demo: step ${stepNo + 1} failed: ${e instanceof Error ? e.message : String(e)}`);
    if (!(e instanceof DemoError) && e instanceof Error && e.stack !== undefined) console.error(dim(e.stack));
    console.error(cluster.logTails());
    await cluster.shutdown();
    await stopPbxs();
    if (keep) console.error(`carillon demo: logs kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`carillon demo: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
