// FakeAsterisk: one fake Asterisk 20 for tests, speaking real AMI (TCP, fake-ami.ts) and
// ARI (HTTP + websocket, fake-ari.ts) over one small state model
// (fake-asterisk-state.ts), faithful to the transcripts in /work/shared/fixtures/asterisk/
// and to asterisk-groundtruth.md §2, §3 (res-corosync.md §2, §3). Both protocols see
// the same state: a Setvar on Custom:x gives the AMI DeviceStateChange and the ARI
// DeviceStateChanged frame; a PUT of Stasis:x likewise; MWI changes give only AMI
// MessageWaiting (ARI has no MWI event). It has no cluster: a device's aggregate is its
// single local state.
//
// Tests drive it as the PBX would change (setDeviceState, setMailbox, setPresence), read
// its state, inspect every AMI action and ARI request received (actions()), and break
// it: dropConnections() closes every AMI socket and ARI websocket abruptly, restart()
// goes through Shutdown, a short refusal window and a boot with persisted state (astdb,
// Stasis states, mailboxes, presence) kept and everything else cleared.

import { type DeviceStateName, deviceStateName, presenceStateNames } from '../../../src/asterisk/core/events';
import { assert } from '../../../src/base/assert';
import { type AmiHost, type AmiUser, FakeAmiServer } from './fake-ami';
import { type AriHost, type AriUser, FakeAriServer } from './fake-ari';
import {
  FakeAstDb,
  FakeAsteriskState,
  type FakeHint,
  type FakeModules,
  type MailboxCounts,
  type PresenceValue,
  parseDeviceStateName,
  type StateSink,
} from './fake-asterisk-state';

export type { AmiUser } from './fake-ami';
export type { AriUser } from './fake-ari';
export { TRANSCRIPT_HINTS, type FakeHint, type FakeModules, type MailboxCounts, type PresenceValue } from './fake-asterisk-state';

export interface FakeAsteriskOptions {
  /** The entity id (asterisk.conf `entityid`): ARI system.entity_id, asterisk_id, `core show settings`. */
  readonly eid: string;
  /** Default: admin / amipass with read=all, write=all. */
  readonly amiUsers?: readonly AmiUser[];
  /** Default: ariuser / aripass. */
  readonly ariUsers?: readonly AriUser[];
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: an ephemeral port, kept across restart(). */
  readonly amiPort?: number;
  readonly ariPort?: number;
  /** Optional modules; each defaults to loaded. */
  readonly modules?: Partial<FakeModules>;
  /** Dialplan hints for ExtensionStatus / ExtensionStateList; default none (TRANSCRIPT_HINTS are the fixtures'). */
  readonly hints?: readonly FakeHint[];
  /** Delay before `Authentication failed` (Asterisk: 1000 ms). Default 1000. */
  readonly failedLoginDelayMs?: number;
  /** The version string (CoreSettings, ARI, Server header). Default GIT-20-01f26c412. */
  readonly version?: string;
}

export interface RestartOptions {
  /** How long connections are refused between shutdown and boot. Default 50 ms. */
  readonly downMs?: number;
  /** How long the boot takes once listening (logins are accepted, FullyBooted comes after). Default 20 ms. */
  readonly bootMs?: number;
}

/** One AMI action as received: `fields` are all its header lines, in order. */
export interface RecordedAmiAction {
  readonly kind: 'ami';
  readonly session: number;
  /** The Action header's value ('' when missing). */
  readonly action: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly at: number;
}

/** One ARI request (REST or websocket upgrade) as received. */
export interface RecordedAriRequest {
  readonly kind: 'ari';
  readonly method: string;
  /** The URL path as sent, still percent-encoded (`/ari/deviceStates/Stasis:bob`). */
  readonly path: string;
  /** Query parameters, first value of each. */
  readonly query: Readonly<Record<string, string>>;
  readonly queryPairs: ReadonlyArray<readonly [string, string]>;
  readonly at: number;
}

export type RecordedAction = RecordedAmiAction | RecordedAriRequest;

export const FakeAsteriskErrorCode = {
  timeout: 'FAKE_ASTERISK_TIMEOUT',
  listenFailed: 'FAKE_ASTERISK_LISTEN_FAILED',
  stopped: 'FAKE_ASTERISK_STOPPED',
} as const;
export type FakeAsteriskErrorCode = (typeof FakeAsteriskErrorCode)[keyof typeof FakeAsteriskErrorCode];

export class FakeAsteriskError extends Error {
  readonly code: FakeAsteriskErrorCode;
  constructor(code: FakeAsteriskErrorCode, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'FakeAsteriskError';
    this.code = code;
  }
}

const DEFAULT_VERSION = 'GIT-20-01f26c412';
const MAX_RECORDED_ACTIONS = 100_000;
const WAIT_POLL_MS = 5;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class FakeAsterisk {
  readonly eid: string;
  readonly host: string;
  private readonly modules: FakeModules;
  private readonly hints: readonly FakeHint[];
  private readonly astdb = new FakeAstDb();
  private current: FakeAsteriskState;
  private readonly ami: FakeAmiServer;
  private readonly ari: FakeAriServer;
  private recorded: RecordedAction[] = [];
  /** Recorded actions dropped because the log was full. */
  droppedActions = 0;
  private isBooted = true;
  private bootedAt = Date.now();
  private running = false;
  private transition: Promise<void> | null = null;
  private boundAmiPort = 0;
  private boundAriPort = 0;

  private constructor(options: FakeAsteriskOptions) {
    this.eid = options.eid;
    this.host = options.host ?? '127.0.0.1';
    this.modules = {
      mwiExternal: options.modules?.mwiExternal ?? true,
      managerDevicestate: options.modules?.managerDevicestate ?? true,
      managerPresencestate: options.modules?.managerPresencestate ?? true,
      mwiDevstate: options.modules?.mwiDevstate ?? true,
    };
    this.hints = options.hints ?? [];
    const version = options.version ?? DEFAULT_VERSION;
    this.boundAmiPort = options.amiPort ?? 0;
    this.boundAriPort = options.ariPort ?? 0;
    const amiHost: AmiHost = {
      eid: this.eid,
      version,
      modules: this.modules,
      users: options.amiUsers ?? [{ username: 'admin', secret: 'amipass' }],
      failedLoginDelayMs: options.failedLoginDelayMs ?? 1000,
      state: () => this.current,
      booted: () => this.isBooted,
      bootedAtMs: () => this.bootedAt,
      recordAction: (session, action, fields) => this.record({ kind: 'ami', session, action, fields, at: Date.now() }),
    };
    const ariHost: AriHost = {
      eid: this.eid,
      version,
      modules: this.modules,
      users: options.ariUsers ?? [{ username: 'ariuser', password: 'aripass' }],
      state: () => this.current,
      booted: () => this.isBooted,
      bootedAtMs: () => this.bootedAt,
      recordRequest: (method, path, queryPairs) => {
        const query: Record<string, string> = {};
        for (const [name, value] of queryPairs) if (!(name in query)) query[name] = value;
        this.record({ kind: 'ari', method, path, query, queryPairs, at: Date.now() });
      },
    };
    this.ami = new FakeAmiServer(amiHost);
    this.ari = new FakeAriServer(ariHost);
    this.current = this.newState();
  }

  /** Starts a fake Asterisk, fully booted, listening for AMI and ARI. */
  static async start(options: FakeAsteriskOptions): Promise<FakeAsterisk> {
    const fake = new FakeAsterisk(options);
    await fake.listen();
    fake.running = true;
    return fake;
  }

  get amiPort(): number {
    return this.boundAmiPort;
  }

  get ariPort(): number {
    return this.boundAriPort;
  }

  /** `http://<host>:<port>/ari`. */
  get ariUrl(): string {
    return `http://${this.host}:${this.boundAriPort}/ari`;
  }

  /** Logged-in or not, the AMI connections open now. */
  get amiSessionCount(): number {
    return this.ami.sessionCount;
  }

  /** ARI event websockets open now. */
  get ariWebsocketCount(): number {
    return this.ari.websocketCount;
  }

  /** Stasis applications registered now (one per app of each open event websocket). */
  ariApplications(): string[] {
    return this.ari.applications();
  }

  /** AMI parser counters (over-long lines, sessions dropped for overflow). */
  get amiStats(): { readonly longLines: number; readonly overflows: number } {
    return this.ami.stats;
  }

  private newState(): FakeAsteriskState {
    const sink: StateSink = {
      deviceStateChanged: (device, state) => {
        this.ami.deviceStateChange(device, state);
        this.ari.deviceStateChanged(device, state);
      },
      extensionStatusChanged: (hint, status) => this.ami.extensionStatus(hint, status),
      messageWaiting: (mailbox, waiting, newMessages, oldMessages) => this.ami.messageWaiting(mailbox, waiting, newMessages, oldMessages),
      presenceChanged: (provider, value) => this.ami.presenceStateChange(provider, value),
    };
    return new FakeAsteriskState(this.modules, this.hints, this.astdb, sink);
  }

  private async listen(): Promise<void> {
    try {
      this.boundAmiPort = await this.ami.listen(this.host, this.boundAmiPort);
      this.boundAriPort = await this.ari.listen(this.host, this.boundAriPort);
    } catch (err) {
      await Promise.all([this.ami.close(), this.ari.close()]);
      throw new FakeAsteriskError(FakeAsteriskErrorCode.listenFailed, `fake Asterisk ${this.eid} could not listen on ${this.host}: ${String(err)}`, { cause: err });
    }
  }

  private record(action: RecordedAction): void {
    if (this.recorded.length >= MAX_RECORDED_ACTIONS) {
      const drop = MAX_RECORDED_ACTIONS / 10;
      this.recorded.splice(0, drop);
      this.droppedActions += drop;
    }
    this.recorded.push(action);
  }

  // ---- test controls: the PBX changes ----

  /** A device changed on the PBX (a phone, a queue member, …): any name, any state name. */
  setDeviceState(device: string, stateName: string): void {
    const state = parseDeviceStateName(stateName);
    assert(state !== null, `unknown device state name ${stateName}`);
    assert(device !== '', 'a device name is required');
    this.current.setAnyDeviceState(device, state);
  }

  /** The local voicemail changed a mailbox's counts (published like MWIUpdate). */
  setMailbox(mailbox: string, newMessages: number, oldMessages: number): void {
    assert(mailbox !== '', 'a mailbox name is required');
    assert(Number.isInteger(newMessages) && newMessages >= 0 && Number.isInteger(oldMessages) && oldMessages >= 0, 'message counts are non-negative integers');
    this.current.updateMailbox(mailbox, newMessages, oldMessages);
  }

  /** The local voicemail removed a mailbox (published 0/0 like MWIDelete); false if it did not exist. */
  deleteMailbox(mailbox: string): boolean {
    return this.current.deleteMailbox(mailbox);
  }

  /** A presence provider changed (CustomPresence: ones are persisted). */
  setPresence(provider: string, state: string, subtype = '', message = ''): void {
    const name = state.toLowerCase();
    assert((presenceStateNames as readonly string[]).includes(name), `unknown presence state ${state}`);
    assert(provider !== '', 'a presence provider is required');
    this.current.setAnyPresence(provider, { state: name, subtype, message });
  }

  // ---- readers ----

  /** What DEVICE_STATE(name) reads: the cached state, else UNKNOWN (Custom:, Stasis:) or INVALID. */
  deviceState(name: string): DeviceStateName {
    return deviceStateName(this.current.deviceState(name));
  }

  /** The device-state cache (what DeviceStateList lists). */
  deviceStates(): Map<string, DeviceStateName> {
    return new Map([...this.current.cachedDeviceStates()].map(([name, state]) => [name, deviceStateName(state)]));
  }

  /** The local (external) mailboxes, sorted by name. */
  mailboxes(): Map<string, MailboxCounts> {
    return new Map(this.current.sortedMailboxes());
  }

  /** What PresenceState reads for a provider; null when Asterisk would call it invalid. */
  presence(name: string): PresenceValue | null {
    return this.current.presence(name);
  }

  /** The astdb value of Custom:<name> as written (what `devstate list` prints). */
  customDevstateRaw(name: string): string | undefined {
    return this.astdb.customDevstate.get(name);
  }

  // ---- recorded traffic ----

  /** Every AMI action and ARI request received, oldest first. */
  actions(): readonly RecordedAction[] {
    return [...this.recorded];
  }

  /** The AMI actions only. */
  amiActions(): readonly RecordedAmiAction[] {
    return this.recorded.filter((a): a is RecordedAmiAction => a.kind === 'ami');
  }

  /** The ARI requests only. */
  ariRequests(): readonly RecordedAriRequest[] {
    return this.recorded.filter((a): a is RecordedAriRequest => a.kind === 'ari');
  }

  clearActions(): void {
    this.recorded = [];
  }

  /**
   * Polls `predicate` until it returns something truthy, and returns that; throws a
   * FakeAsteriskError (FAKE_ASTERISK_TIMEOUT) after `timeoutMs`.
   */
  async waitFor<T>(predicate: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what = 'the condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await predicate();
      if (value !== null && value !== undefined && value !== false) return value;
      if (Date.now() >= deadline) throw new FakeAsteriskError(FakeAsteriskErrorCode.timeout, `fake Asterisk ${this.eid}: timed out after ${timeoutMs} ms waiting for ${what}`);
      await delay(Math.min(WAIT_POLL_MS, Math.max(1, deadline - Date.now())));
    }
  }

  // ---- faults ----

  /** Sends raw text to every logged-in AMI session, as is (malformed-input tests). */
  injectRaw(text: string): void {
    this.ami.injectRaw(text);
  }

  /** Closes every AMI socket and ARI websocket abruptly; the listeners stay up. */
  dropConnections(): void {
    this.ami.dropConnections();
    this.ari.dropConnections();
  }

  /**
   * `core restart now`: Shutdown (Restart: True) to AMI sessions, every connection
   * closed, connections refused for `downMs`, volatile state cleared (device cache
   * apart from what the astdb restores, ARI applications, globals), then a boot: logins
   * are accepted at once, and after `bootMs` come the boot-time ExtensionStatus events
   * (empty Hint) and the broadcast FullyBooted (Uptime 0).
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    this.assertRunning();
    await this.exclusive(async () => {
      this.ami.shutdown(true);
      this.ami.endConnections();
      this.isBooted = false;
      await Promise.all([this.ami.close(), this.ari.close()]);
      await delay(options.downMs ?? 50);
      this.bootedAt = Date.now();
      this.current = this.newState();
      await this.listen();
      await delay(options.bootMs ?? 20);
      for (const hint of this.current.hints()) this.ami.extensionStatus(hint, this.current.hintLastStatus(hint), '');
      this.isBooted = true;
      this.ami.fullyBootedBroadcast();
    });
  }

  /** `core stop now`: Shutdown (Restart: False), then every connection and listener closes. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.exclusive(async () => {
      this.running = false;
      this.ami.shutdown(false);
      this.ami.endConnections();
      await Promise.all([this.ami.close(), this.ari.close()]);
    });
  }

  private assertRunning(): void {
    if (!this.running) throw new FakeAsteriskError(FakeAsteriskErrorCode.stopped, `fake Asterisk ${this.eid} is stopped`);
  }

  /** Runs restart/stop one at a time. */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.transition !== null) await this.transition.catch(() => undefined);
    const run = fn();
    this.transition = run;
    try {
      await run;
    } finally {
      this.transition = null;
    }
  }
}
