// The Asterisk bridge inside carillond (architecture.md §2.7; issue "Asterisk bridge"):
// the imperative shell around the pure BridgeCore. It is a CPG process in group
// `asterisk` of this daemon, as res_corosync is one of corosync, and it talks to the
// local Asterisk over AMI (events in, Setvar / MWIUpdate out) and optionally ARI (the
// EID, and MWI writes through /mailboxes). It carries out the core's effects:
//   - mcast: through the in-process CPG handle, queued (bounded) and retried while the
//     CPG service answers try-again/full during a sync — res_corosync drops them;
//   - writes to the local Asterisk: a queue coalesced per name (the newest value wins,
//     so a flapping device costs one write), a bounded number in flight; while AMI is
//     down writes are dropped, and the resync after the reconnect writes what differs;
//   - log lines: subsystem BRIDGE, res_corosync's NOTICE texts.
// After every AMI login and on FullyBooted/Reload it reads the Asterisk in full
// (DeviceStateList, MWIGet, PresenceStateList) and hands the snapshot to the core.

import type { AmiMessage } from '../asterisk/ami/ami-message';
import { AmiClient, type AmiClientStats } from '../asterisk/ami/ami-client';
import { AriClient } from '../asterisk/ari/ari-client';
import { BridgeCore, type BridgeEffect, type BridgeView, type LocalSnapshot } from '../asterisk/core/bridge-core';
import type { BridgeSettings } from '../asterisk/core/bridge-settings';
import {
  ASTERISK_GROUP,
  type DeviceState,
  deviceStateFromName,
  deviceStateName,
  type Eid,
  parseEid,
  type PresenceState,
  presenceStateFromName,
  presenceStateNames,
} from '../asterisk/core/events';
import {
  type BridgeConfigJson,
  type BridgeStatusJson,
  type DaemonBridgeApi,
  DaemonApiError,
  type DaemonCpgHandle,
  type DaemonServicesApi,
} from '../ipc/daemon-api';
import { IpcErrorCode } from '../ipc/protocol';
import type { Logger, LogLevel } from './logger';

const SUBSYS = 'BRIDGE';
/** Core ticks are milliseconds. */
const TICKS_PER_SECOND = 1000;
const TIMER_MS = 100;
/** Multicasts waiting for the CPG service (try-again/full during a sync). */
const MCAST_QUEUE_MAX = 50_000;
/** Writes to the local Asterisk waiting to be sent (coalesced per name). */
const WRITE_QUEUE_MAX = 200_000;
const WRITES_IN_FLIGHT_MAX = 64;
/** How long stop() waits for the last writes (remote states settled per policy). */
const STOP_DRAIN_MS = 1500;

type Write = Exclude<BridgeEffect, { kind: 'mcast' } | { kind: 'log' }>;

export interface BridgeRunnerOptions {
  readonly settings: BridgeSettings;
  /** The res_corosync.conf the settings came from (for `show config`). */
  readonly configFile: string;
  readonly services: DaemonServicesApi;
  readonly nodeId: number;
  /** This node's first ring address (LOCAL_ADDR of our cluster discovery). */
  readonly localAddr: string;
  readonly logger: Logger;
  /** The CPG pid this process announces (default: process.pid, as Asterisk's own). */
  readonly pid?: number;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class BridgeRunner implements DaemonBridgeApi {
  private readonly settings: BridgeSettings;
  private readonly configFile: string;
  private readonly services: DaemonServicesApi;
  private readonly logger: Logger;
  private readonly core: BridgeCore;
  private readonly startedAtMs = performance.now();
  private readonly pid: number;
  private readonly nodeId: number;

  private handle: DaemonCpgHandle | null = null;
  private joinPending = true;
  private timer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private stopped = false;

  private readonly mcastQueue: Uint8Array[] = [];
  private readonly writes = new Map<string, Write>();
  private writesInFlight = 0;

  private readonly ami: AmiClient | null;
  private readonly ari: AriClient | null;
  private amiConnected = false;
  private amiLastError: string | null = null;
  private ariLastError: string | null = null;
  private resyncRunning = false;
  private resyncAgain = false;
  /** AMI session number; work of an older session is abandoned. */
  private session = 0;
  private actions: ReadonlySet<string> = new Set();
  private readonly problems = new Map<string, string>();

  private readonly counters = {
    mcastQueued: 0,
    mcastDropped: 0,
    mcastNotJoined: 0,
    writesSent: 0,
    writesFailed: 0,
    writesDropped: 0,
    amiEventsMalformed: 0,
    resyncs: 0,
    resyncFailures: 0,
  };

  constructor(options: BridgeRunnerOptions) {
    this.settings = options.settings;
    this.configFile = options.configFile;
    this.services = options.services;
    this.logger = options.logger;
    this.pid = options.pid ?? process.pid;
    this.nodeId = options.nodeId;
    this.core = new BridgeCore({ settings: options.settings, localNodeId: options.nodeId, localAddr: options.localAddr, ticksPerSecond: TICKS_PER_SECOND });
    const amiLogger = {
      debug: (m: string) => this.logger.log('debug', 'AMI', m),
      info: (m: string) => this.logger.log('info', 'AMI', m),
      warn: (m: string) => this.logger.log('warning', 'AMI', m),
      error: (m: string) => this.logger.log('error', 'AMI', m),
    };
    this.ami = options.settings.ami === null ? null : new AmiClient(options.settings.ami, { logger: amiLogger });
    this.ari = options.settings.ari === null ? null : new AriClient(options.settings.ari, { logger: this.logger });
  }

  start(): void {
    const handle = this.services.cpgInitialize({ pid: this.pid }, (event) => {
      if (this.stopped) return;
      if (event.event === 'deliver') {
        if (event.group !== ASTERISK_GROUP) return;
        // A copy: the core may keep the event (its cache) beyond this call.
        this.core.cpgDeliver({ nodeId: event.nodeId, pid: event.pid }, event.payload.slice(), this.tick());
      } else if (event.event === 'confchg') {
        if (event.group !== ASTERISK_GROUP) return;
        const strip = (m: { nodeId: number; pid: number }): { nodeId: number; pid: number } => ({ nodeId: m.nodeId, pid: m.pid });
        this.core.cpgConfchg(event.members.map(strip), event.joined.map(strip), event.left.map(strip), this.tick());
      } else return;
      this.scheduleFlush();
    });
    this.handle = handle;
    this.core.setSelf({ nodeId: this.nodeId, pid: handle.pid });
    this.tryJoin();
    if (this.settings.eid !== null) this.core.setEid(this.settings.eid, this.tick());
    if (this.ami !== null) {
      this.ami.on('connected', (info) => {
        this.amiConnected = true;
        this.amiLastError = null;
        this.session++;
        this.logger.log('notice', SUBSYS, `Connected to the local Asterisk's AMI (${info.banner})`);
        this.resync('login');
      });
      this.ami.on('disconnected', (info) => {
        this.amiConnected = false;
        this.session++;
        this.amiLastError = info.reason;
        this.logger.log('warning', SUBSYS, `Lost the local Asterisk's AMI: ${info.reason}; reconnecting`);
      });
      this.ami.on('login-failed', (info) => {
        this.amiLastError = info.error.message;
      });
      this.ami.on('error', (error) => {
        this.amiLastError = error.message;
      });
      this.ami.on('event', (message) => this.amiEvent(message));
      this.ami.start();
    } else if (this.ari !== null) {
      // ARI alone: device-state events in (publish), MWI out through /mailboxes; no
      // Custom: writes (ARI can only write Stasis: devices), no full resync.
      this.problems.set('no-ami', 'no [ami] section: only device states are read (ARI events) and MWI written (ARI mailboxes); remote device states are not written');
      this.ari.on('connected', () => {
        this.ariLastError = null;
        if (this.settings.eid === null) void this.eidFromAri();
      });
      this.ari.on('disconnected', (info) => {
        this.ariLastError = info.reason;
      });
      this.ari.on('device-state', (event) => {
        const state = deviceStateFromName(event.state);
        if (state === null) {
          this.counters.amiEventsMalformed++;
          return;
        }
        this.core.localDeviceState(event.name, state, this.tick());
        this.flush();
      });
      this.ari.start();
    } else {
      this.problems.set('no-ami', 'no [ami] section: the local Asterisk is neither read nor written; only ping and cluster discovery run');
    }
    this.timer = setInterval(() => this.onTimer(), TIMER_MS);
    this.timer.unref();
    this.flush();
  }

  /** Leaves the group (PROCLEAVE, reason procdown, as res_corosync), settles remote states, closes AMI/ARI. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.core.releaseRemote(this.tick());
    this.flush();
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.handle?.finalize();
    this.handle = null;
    const deadline = performance.now() + STOP_DRAIN_MS;
    while ((this.writes.size > 0 || this.writesInFlight > 0) && this.amiConnected && performance.now() < deadline) {
      this.pumpWrites();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await this.ami?.stop().catch(() => undefined);
    await this.ari?.stop().catch(() => undefined);
  }

  // ---------------------------------------------------------------------------------
  // DaemonBridgeApi

  ping(): { eid: string } {
    const ok = this.core.ping(this.tick());
    this.flush();
    const eid = this.core.localEid;
    if (!ok || eid === null) {
      const why = eid === null ? "the local Asterisk's EID is not known yet (is AMI connected?)" : `not in CPG group ${ASTERISK_GROUP} yet`;
      throw new DaemonApiError(IpcErrorCode.bridgeNotReady, `cannot send PING: ${why}`);
    }
    return { eid };
  }

  status(): BridgeStatusJson {
    const view: BridgeView = this.core.view();
    const stats: Record<string, number> = { ...this.core.stats(), ...this.counters, mcastQueue: this.mcastQueue.length, writeQueue: this.writes.size };
    if (this.ami !== null) {
      const ami: AmiClientStats = this.ami.stats();
      for (const [k, v] of Object.entries(ami)) stats[`ami.${k}`] = v;
    }
    const presenceName = (s: PresenceState | -1): string => (s === -1 ? 'invalid' : (presenceStateNames[s] ?? String(s)));
    return {
      config: this.configJson(),
      eid: view.eid,
      joined: view.joined,
      ami: this.ami === null ? null : { connected: this.amiConnected, lastError: this.amiLastError },
      ari: this.ari === null ? null : { connected: this.ariLastError === null, lastError: this.ariLastError },
      problems: [...this.problems.values()],
      nodes: view.nodes.map((n) => ({ nodeId: n.nodeId, eid: n.eid, localAddr: n.localAddr })),
      devices: view.devices.map((d) => ({
        device: d.device,
        local: d.local === null ? null : deviceStateName(d.local),
        remote: d.remote.map((r) => ({ eid: r.eid, nodeId: r.nodeId, pid: r.pid, state: deviceStateName(r.state) })),
        remoteAggregate: deviceStateName(d.remoteAggregate),
        aggregate: deviceStateName(d.aggregate),
        mappedName: d.mappedName,
        injected: d.injected === null ? null : deviceStateName(d.injected),
      })),
      mailboxes: view.mailboxes.map((m) => ({ ...m })),
      presence: view.presence.map((p) => ({
        provider: p.provider,
        local: p.local === null ? null : { state: presenceName(p.local.state), subtype: p.local.subtype, message: p.local.message },
        remote: p.remote.map((r) => ({ eid: r.eid, nodeId: r.nodeId, state: presenceName(r.state), subtype: r.subtype, message: r.message })),
      })),
      stats,
    };
  }

  configJson(): BridgeConfigJson {
    const s = this.settings;
    const types = (d: BridgeSettings['publish']): string[] => [
      ...(d.mwi ? ['mwi'] : []),
      ...(d.deviceState ? ['device_state'] : []),
      ...(d.presenceState ? ['presence_state'] : []),
      'ping',
      'cluster_discovery',
    ];
    return {
      file: this.configFile,
      publish: types(s.publish),
      subscribe: types(s.subscribe),
      remoteDeviceFormat: s.remoteDeviceFormat,
      remotePresenceFormat: s.remotePresenceFormat,
      devicePurge: s.devicePurge,
      mwiPurge: s.mwiPurge,
      purgeGraceMs: s.purgeGraceMs,
      mwiInjection: s.mwiInjection,
      ami: s.ami === null ? null : { host: s.ami.host, port: s.ami.port, username: s.ami.username },
      ari: s.ari === null ? null : { url: s.ari.url, username: s.ari.username, app: s.ari.app },
    };
  }

  // ---------------------------------------------------------------------------------
  // CPG

  private tick(): number {
    return Math.floor(performance.now() - this.startedAtMs);
  }

  private tryJoin(): void {
    if (!this.joinPending || this.handle === null) return;
    const result = this.handle.join(ASTERISK_GROUP);
    switch (result) {
      case 'queued':
      case 'exists':
        this.joinPending = false;
        this.logger.log('info', SUBSYS, `Joining CPG group ${ASTERISK_GROUP} as pid ${this.handle.pid}`);
        return;
      case 'try-again':
      case 'full':
      case 'busy':
        return; // the timer retries
      default:
        this.joinPending = false;
        this.logger.log('error', SUBSYS, `Cannot join CPG group ${ASTERISK_GROUP}: ${result}`);
    }
  }

  private onTimer(): void {
    if (this.stopped) return;
    this.tryJoin();
    this.core.tick(this.tick());
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // CPG listeners run inside the service's delivery: act on the effects after it.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Carries out the core's effects in order, then pushes the queues. */
  private flush(): void {
    for (const effect of this.core.takeEffects()) {
      switch (effect.kind) {
        case 'mcast':
          if (this.mcastQueue.length >= MCAST_QUEUE_MAX) {
            this.counters.mcastDropped++;
            this.logger.log('warning', SUBSYS, `CPG send queue full (${MCAST_QUEUE_MAX}); dropped an event`);
            break;
          }
          this.counters.mcastQueued++;
          this.mcastQueue.push(effect.payload);
          break;
        case 'log':
          this.logger.log(effect.level as LogLevel, SUBSYS, effect.message);
          break;
        default:
          this.queueWrite(effect);
      }
    }
    this.pumpMcast();
    this.pumpWrites();
  }

  private pumpMcast(): void {
    while (this.mcastQueue.length > 0 && this.handle !== null) {
      const payload = this.mcastQueue[0] as Uint8Array;
      const result = this.handle.mcast(ASTERISK_GROUP, payload);
      if (result === 'try-again' || result === 'full') return; // the timer retries, order kept
      this.mcastQueue.shift();
      if (result === 'not-joined') this.counters.mcastNotJoined++;
      else if (result === 'too-large') {
        this.counters.mcastDropped++;
        this.logger.log('warning', SUBSYS, `An event of ${payload.length} bytes is too large for CPG; dropped`);
      }
    }
  }

  // ---------------------------------------------------------------------------------
  // Writes to the local Asterisk

  private writeKey(w: Write): string {
    return `${w.kind}\u0000${w.kind === 'set-mwi' ? w.mailbox : w.name}`;
  }

  private queueWrite(w: Write): void {
    const key = this.writeKey(w);
    if (!this.writes.has(key) && this.writes.size >= WRITE_QUEUE_MAX) {
      this.counters.writesDropped++;
      return;
    }
    // Delete first so that a rewritten name moves to the back: writes stay in order.
    this.writes.delete(key);
    this.writes.set(key, w);
  }

  private pumpWrites(): void {
    if (this.ami === null && this.ari === null) {
      this.counters.writesDropped += this.writes.size;
      this.writes.clear();
      return;
    }
    while (this.writesInFlight < WRITES_IN_FLIGHT_MAX && this.writes.size > 0) {
      const [key, w] = this.writes.entries().next().value as [string, Write];
      this.writes.delete(key);
      if (!this.amiConnected && !(w.kind === 'set-mwi' && this.settings.mwiInjection === 'ari' && this.ari !== null)) {
        // Lost: the resync after the reconnect compares and writes what differs.
        this.counters.writesDropped++;
        continue;
      }
      this.writesInFlight++;
      this.send(w).then(
        () => {
          this.counters.writesSent++;
        },
        (e: unknown) => {
          this.counters.writesFailed++;
          this.logger.log('warning', SUBSYS, `Writing ${this.describeWrite(w)} to the local Asterisk failed: ${errorText(e)}`);
        },
      ).finally(() => {
        this.writesInFlight--;
        if (!this.stopped || this.amiConnected) this.pumpWrites();
      });
    }
  }

  private describeWrite(w: Write): string {
    switch (w.kind) {
      case 'set-device-state':
        return `${w.name} = ${deviceStateName(w.state)}`;
      case 'set-mwi':
        return `mailbox ${w.mailbox} = ${w.newMessages} new / ${w.oldMessages} old`;
      case 'set-presence':
        return `${w.name} = ${w.state}`;
    }
  }

  private async send(w: Write): Promise<void> {
    switch (w.kind) {
      case 'set-device-state':
        await this.amiOk('Setvar', [
          ['Variable', `DEVICE_STATE(${w.name})`],
          ['Value', deviceStateName(w.state)],
        ]);
        return;
      case 'set-mwi':
        if (this.settings.mwiInjection === 'ari' && this.ari !== null) {
          await this.ari.setMailbox(w.mailbox, w.newMessages, w.oldMessages);
          return;
        }
        await this.amiOk('MWIUpdate', [
          ['Mailbox', w.mailbox],
          ['NewMessages', String(w.newMessages)],
          ['OldMessages', String(w.oldMessages)],
        ]);
        return;
      case 'set-presence': {
        if (w.state === -1) return;
        const value = [presenceStateNames[w.state] ?? 'not_set', w.subtype, w.message].join(',');
        await this.amiOk('Setvar', [
          ['Variable', `PRESENCE_STATE(${w.name})`],
          ['Value', value],
        ]);
        return;
      }
    }
  }

  private async amiOk(action: string, fields: ReadonlyArray<readonly [string, string]>): Promise<AmiMessage> {
    if (this.ami === null) throw new Error('no AMI connection is configured');
    return this.ami.actionOk(action, fields);
  }

  // ---------------------------------------------------------------------------------
  // Reading the local Asterisk

  private amiEvent(message: AmiMessage): void {
    const event = message.get('Event') ?? '';
    const tick = this.tick();
    switch (event.toLowerCase()) {
      case 'devicestatechange': {
        const device = message.get('Device');
        const state = deviceStateFromName(message.get('State') ?? '');
        if (device === undefined || device === '' || state === null) {
          this.counters.amiEventsMalformed++;
          return;
        }
        this.core.localDeviceState(device, state, tick);
        break;
      }
      case 'messagewaiting': {
        const mailbox = message.get('Mailbox');
        const newMessages = parseCount(message.get('New'));
        const oldMessages = parseCount(message.get('Old'));
        if (mailbox === undefined || mailbox === '' || newMessages === null || oldMessages === null) {
          this.counters.amiEventsMalformed++;
          return;
        }
        this.core.localMwi(mailbox, newMessages, oldMessages, tick);
        break;
      }
      case 'presencestatechange': {
        const provider = message.get('Presentity');
        const state = presenceStateFromName(message.get('Status') ?? '');
        if (provider === undefined || provider === '' || state === null) {
          this.counters.amiEventsMalformed++;
          return;
        }
        this.core.localPresenceState(provider, { state, subtype: message.get('Subtype') ?? '', message: message.get('Message') ?? '' }, tick);
        break;
      }
      case 'fullybooted':
      case 'reload':
        this.resync(event);
        return;
      default:
        return;
    }
    this.flush();
  }

  /** Reads everything (coalesced: one at a time, one more if asked meanwhile). */
  private resync(why: string): void {
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return;
    }
    this.resyncRunning = true;
    const session = this.session;
    void this.readAll(session)
      .then(
        (snapshot) => {
          if (snapshot === null || session !== this.session || this.stopped) return;
          this.counters.resyncs++;
          this.core.localSnapshot(snapshot, this.tick());
          this.flush();
          this.logger.log(
            'info',
            SUBSYS,
            `Resynchronised with the local Asterisk (${why}): ${snapshot.devices.length} device states, ${snapshot.mailboxes === null ? 'no' : snapshot.mailboxes.length} mailboxes`,
          );
        },
        (e: unknown) => {
          this.counters.resyncFailures++;
          this.logger.log('warning', SUBSYS, `Reading the local Asterisk failed (${why}): ${errorText(e)}; retrying at the next (re)connect`);
        },
      )
      .finally(() => {
        this.resyncRunning = false;
        if (this.resyncAgain && this.amiConnected && !this.stopped) {
          this.resyncAgain = false;
          this.resync('again');
        }
      });
  }

  private async readAll(session: number): Promise<LocalSnapshot | null> {
    const ami = this.ami;
    if (ami === null) return null;
    const list = await ami.actionList('ListCommands', []);
    this.actions = new Set(
      [...list.response.headers, ...list.items.flatMap((m) => m.headers)]
        .map(([name]) => name.toLowerCase())
        .concat(list.response.headers.flatMap(([name, value]) => (name.toLowerCase() === 'name' ? [value.toLowerCase()] : []))),
    );
    this.checkCapabilities();
    if (session !== this.session) return null;
    await this.learnEid();
    if (session !== this.session) return null;

    const devices: Array<{ name: string; state: DeviceState }> = [];
    if (this.actions.has('devicestatelist')) {
      const result = await ami.actionList('DeviceStateList', []);
      for (const item of result.items) {
        const name = item.get('Device');
        const state = deviceStateFromName(item.get('State') ?? '');
        if (name === undefined || state === null) {
          this.counters.amiEventsMalformed++;
          continue;
        }
        devices.push({ name, state });
      }
    }
    let mailboxes: LocalSnapshot['mailboxes'] = null;
    if (this.actions.has('mwiget')) {
      const result = await ami.actionList('MWIGet', [['Mailbox', '/.*/']]);
      const out: Array<{ mailbox: string; newMessages: number; oldMessages: number }> = [];
      for (const item of result.items) {
        const mailbox = item.get('Mailbox');
        const newMessages = parseCount(item.get('NewMessages'));
        const oldMessages = parseCount(item.get('OldMessages'));
        if (mailbox === undefined || newMessages === null || oldMessages === null) {
          this.counters.amiEventsMalformed++;
          continue;
        }
        out.push({ mailbox, newMessages, oldMessages });
      }
      mailboxes = out;
    }
    let presence: LocalSnapshot['presence'] = null;
    if (this.actions.has('presencestatelist')) {
      const result = await ami.actionList('PresenceStateList', []);
      const out: Array<{ provider: string; state: PresenceState; subtype: string; message: string }> = [];
      for (const item of result.items) {
        const provider = item.get('Presentity');
        const state = presenceStateFromName(item.get('Status') ?? '');
        if (provider === undefined || state === null) {
          this.counters.amiEventsMalformed++;
          continue;
        }
        out.push({ provider, state, subtype: item.get('Subtype') ?? '', message: item.get('Message') ?? '' });
      }
      presence = out;
    }
    return { devices, mailboxes, presence };
  }

  /** What the bridge needs of the Asterisk, from ListCommands; problems are logged once each. */
  private checkCapabilities(): void {
    const need = (id: string, ok: boolean, message: string): void => {
      if (ok) {
        this.problems.delete(id);
        return;
      }
      if (!this.problems.has(id)) this.logger.log('error', SUBSYS, message);
      this.problems.set(id, message);
    };
    const s = this.settings;
    need(
      'mwi-inject',
      !s.subscribe.mwi || s.mwiInjection !== 'ami' || this.actions.has('mwiupdate'),
      'subscribe_event = mwi, but the local Asterisk has no MWIUpdate action: load res_mwi_external and res_mwi_external_ami (they cannot run beside app_voicemail), or use mwi_injection = ari with res_ari_mailboxes; remote MWI is not written until then',
    );
    need(
      'device-list',
      !s.publish.deviceState || this.actions.has('devicestatelist'),
      'publish_event = device_state, but the local Asterisk has no DeviceStateList action: load res_manager_devicestate, which also sends the DeviceStateChange events the bridge publishes',
    );
  }

  private async learnEid(): Promise<void> {
    if (this.settings.eid !== null || this.core.localEid !== null) return;
    if (this.ari !== null) {
      const eid = await this.eidFromAri();
      if (eid !== null) return;
    }
    if (this.ami === null) return;
    const answer = await this.ami.actionOk('Command', [['Command', 'core show settings']]);
    const text = [...answer.getAll('Output'), answer.toString()].join('\n');
    const match = /Entity ID:\s*([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/.exec(text);
    const eid = match?.[1] === undefined ? null : parseEid(match[1]);
    if (eid === null) {
      const message = "the local Asterisk's EID could not be read (no `Entity ID:` in `core show settings`); set eid in [bridge] or entityid in asterisk.conf";
      if (!this.problems.has('eid')) this.logger.log('error', SUBSYS, message);
      this.problems.set('eid', message);
      return;
    }
    this.setEid(eid, 'AMI core show settings');
  }

  private async eidFromAri(): Promise<Eid | null> {
    if (this.ari === null) return null;
    try {
      const info = await this.ari.info();
      this.ariLastError = null;
      this.setEid(info.eid, 'ARI /asterisk/info');
      return info.eid;
    } catch (e) {
      this.ariLastError = errorText(e);
      this.logger.log('warning', SUBSYS, `Reading the EID over ARI failed: ${errorText(e)}`);
      return null;
    }
  }

  private setEid(eid: Eid, source: string): void {
    this.problems.delete('eid');
    if (this.core.localEid === null) this.logger.log('notice', SUBSYS, `Publishing with the local Asterisk's EID ${eid} (from ${source})`);
    this.core.setEid(eid, this.tick());
    this.flush();
  }
}

function parseCount(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,10}$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return n <= 0xffffffff ? n : null;
}
