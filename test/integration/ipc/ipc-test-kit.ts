// Test kit for the IPC tests (not a test file): a scriptable fake DaemonApi, a temp
// directory for socket paths, and a raw NDJSON line client whose every wait is bounded.
// Shared by test/integration/ipc and test/unit/cli/status.test.ts.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  CmapEntryJson,
  CmapTrackEventJson,
  CmapTrackFlagsJson,
  CpgHandleEvent,
  DaemonApi,
  DaemonCpgHandle,
  DaemonServicesApi,
  DaemonStatus,
  QuorumEventJson,
  QuorumStatusJson,
  TotemEventJson,
} from '../../../src/ipc/daemon-api';
import { DaemonApiError } from '../../../src/ipc/daemon-api';
import { IpcErrorCode } from '../../../src/ipc/protocol';

/** A three-node udpu cluster seen from node 1, with node 3 down. */
export function sampleStatus(): DaemonStatus {
  return {
    nodeId: 1,
    clusterName: 'pbx-trio',
    transport: 'udpu',
    crypto: false,
    ringId: { rep: 1, seq: '321' },
    state: 'operational',
    members: [
      { nodeId: 1, name: 'pbx-a', addresses: ['10.0.0.1'] },
      { nodeId: 2, name: 'pbx-b', addresses: ['10.0.0.2'] },
    ],
    nodelist: [
      { nodeId: 2, name: 'pbx-b', addresses: ['10.0.0.2'], status: 'connected' },
      { nodeId: 1, name: 'pbx-a', addresses: ['10.0.0.1'], status: 'localhost' },
      { nodeId: 3, name: 'pbx-c', addresses: ['10.0.0.3'], status: 'disconnected' },
    ],
    quorate: null,
    uptimeSec: 3725,
    version: '0.1.0',
    stats: { 'srp.orf_token_rx': 10, 'srp.mcast_tx': 4 },
  };
}

/** A DaemonApi whose answers the test sets and whose calls it inspects. */
export class FakeDaemonApi implements DaemonApi {
  statusValue: DaemonStatus = sampleStatus();
  statusError: Error | null = null;
  submitResult: 'queued' | 'full' = 'queued';
  /** When set, each queued submission is delivered at once to the subscribers. */
  echoSubmissions = false;
  readonly submitted: Uint8Array[] = [];
  reloadResult: { reloaded: string[]; needsRestart: string[] } = { reloaded: ['logging.debug'], needsRestart: ['totem.token'] };
  reloadError: Error | null = null;
  subscribeCalls = 0;
  unsubscribeCalls = 0;
  private readonly listeners = new Set<(event: TotemEventJson) => void>();

  status(): DaemonStatus {
    if (this.statusError !== null) throw this.statusError;
    return this.statusValue;
  }

  totemSubmit(payload: Uint8Array): 'queued' | 'full' {
    this.submitted.push(payload);
    // A one-node ring: what is queued is delivered, in submission order.
    if (this.echoSubmissions && this.submitResult === 'queued') {
      this.emit(deliverEvent(this.submitted.length, Buffer.from(payload).toString('hex'), this.statusValue.nodeId));
    }
    return this.submitResult;
  }

  subscribeTotem(listener: (event: TotemEventJson) => void): () => void {
    this.subscribeCalls++;
    this.listeners.add(listener);
    return () => {
      this.unsubscribeCalls++;
      this.listeners.delete(listener);
    };
  }

  reload(): Promise<{ reloaded: string[]; needsRestart: string[] }> {
    return this.reloadError === null ? Promise.resolve(this.reloadResult) : Promise.reject(this.reloadError);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  emit(event: TotemEventJson): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

export function deliverEvent(seq: number, payloadHex: string, sender = 2): TotemEventJson {
  return { kind: 'deliver', ringId: { rep: 1, seq: '321' }, seq, sender, payloadHex };
}

/** A fresh temp directory (short: unix socket paths are limited to 107 bytes). */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Rejects after `ms` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const WAIT_MS = 5000;

/** A raw NDJSON client: sends arbitrary lines, reads parsed lines one at a time. */
export class LineClient {
  readonly socket: net.Socket;
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private isEnded = false;
  readonly ended: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) !== -1) {
        this.lines.push(this.buffered.slice(0, newline));
        this.buffered = this.buffered.slice(newline + 1);
      }
      this.wake();
    });
    this.ended = new Promise((resolve) => {
      socket.on('close', () => {
        this.isEnded = true;
        this.wake();
        resolve();
      });
    });
    // Resets from the server (it destroys sockets it gave up on) end the client too.
    socket.on('error', () => socket.destroy());
  }

  static connect(socketPath: string): Promise<LineClient> {
    return within(
      new Promise((resolve, reject) => {
        const socket = net.createConnection(socketPath);
        socket.once('connect', () => resolve(new LineClient(socket)));
        socket.once('error', reject);
      }),
      WAIT_MS,
      `connect to ${socketPath}`,
    );
  }

  send(request: object | string): void {
    this.socket.write(typeof request === 'string' ? request : `${JSON.stringify(request)}\n`);
  }

  async hello(): Promise<void> {
    this.send({ id: 0, method: 'hello', params: { version: 1, client: 'test' } });
    const answer = await this.next();
    if (!('result' in answer)) throw new Error(`hello failed: ${JSON.stringify(answer)}`);
  }

  /** The next line, parsed; rejects on timeout or when the connection ended first. */
  async next(ms = WAIT_MS): Promise<Record<string, unknown>> {
    const line = await this.nextLine(ms);
    if (line === null) throw new Error('the connection ended before the next line');
    return JSON.parse(line) as Record<string, unknown>;
  }

  /** The next raw line, or null once the connection has ended and no line is left. */
  async nextLine(ms = WAIT_MS): Promise<string | null> {
    await within(
      new Promise<void>((resolve) => {
        if (this.lines.length > 0 || this.isEnded) resolve();
        else this.waiter = resolve;
      }),
      ms,
      'a line from the server',
    );
    return this.lines.shift() ?? null;
  }

  /** Every line until the server closes the connection. */
  async rest(ms = WAIT_MS): Promise<string[]> {
    await within(this.ended, ms, 'the server to close the connection');
    return this.lines.splice(0);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

/** A CPG handle FakeServices made: its listener and the calls made on it. */
export interface FakeHandle {
  readonly pid: number;
  readonly listener: (event: CpgHandleEvent) => void;
  readonly calls: string[];
  finalized: boolean;
}

/** Scripted DaemonServicesApi: records CPG calls, answers from settable results. */
export class FakeServices implements DaemonServicesApi {
  readonly handles: FakeHandle[] = [];
  joinResult: ReturnType<DaemonCpgHandle['join']> = 'queued';
  /** Answers of successive mcasts; 'queued' once they run out. */
  mcastResults: Array<ReturnType<DaemonCpgHandle['mcast']>> = [];
  readonly quorumListeners = new Set<(event: QuorumEventJson) => void>();
  readonly tracks: Array<{ key: string; flags: CmapTrackFlagsJson; listener: (event: Omit<CmapTrackEventJson, 'trackId'>) => void; stopped: boolean }> = [];
  private nextPid = 100;

  cpgInitialize(options: { pid?: number }, listener: (event: CpgHandleEvent) => void): DaemonCpgHandle {
    const handle: FakeHandle = { pid: options.pid ?? this.nextPid++, listener, calls: [], finalized: false };
    this.handles.push(handle);
    return {
      pid: handle.pid,
      join: (group) => {
        handle.calls.push(`join ${group}`);
        return this.joinResult;
      },
      leave: (group) => {
        handle.calls.push(`leave ${group}`);
        return 'queued';
      },
      mcast: (group, payload) => {
        const result = this.mcastResults.shift() ?? 'queued';
        handle.calls.push(`mcast ${group} ${Buffer.from(payload).toString('hex')} ${result}`);
        return result;
      },
      finalize: () => {
        handle.finalized = true;
      },
    };
  }

  cpgMembership(): Array<{ nodeId: number; pid: number }> {
    return [{ nodeId: 1, pid: 100 }];
  }

  cpgGroups(): Array<{ group: string; members: Array<{ nodeId: number; pid: number }> }> {
    return [{ group: 'g', members: [{ nodeId: 1, pid: 100 }] }];
  }

  quorumStatus(): QuorumStatusJson {
    return { provider: null, quorate: true, nodeId: 1, ringId: { rep: 1, seq: '4' }, expectedVotes: 0, highestExpected: 0, totalVotes: 0, quorum: 0, flags: [], members: [] };
  }

  quorumSetExpected(votes: number): void {
    throw new DaemonApiError(IpcErrorCode.quorumInvalidParam, `votequorum refused expected votes ${votes}`);
  }

  quorumSetVotes(): void {
    throw new DaemonApiError(IpcErrorCode.unavailable, 'no quorum provider');
  }

  subscribeQuorum(listener: (event: QuorumEventJson) => void): () => void {
    this.quorumListeners.add(listener);
    listener({ quorate: true, ringId: { rep: 1, seq: '4' }, members: [1, 2] });
    return () => this.quorumListeners.delete(listener);
  }

  cmapGet(key: string): CmapEntryJson {
    if (key !== 'totem.token') throw new DaemonApiError(IpcErrorCode.cmapNotExist, `${key} does not exist`);
    return { key, type: 'uint32', value: 3000 };
  }

  cmapSet(key: string, type: CmapEntryJson['type'], value: number | string): CmapEntryJson {
    return { key, type, value };
  }

  cmapDelete(): void {
    throw new DaemonApiError(IpcErrorCode.cmapReadOnly, 'read-only');
  }

  cmapList(prefix: string): CmapEntryJson[] {
    return [{ key: `${prefix}x`, type: 'string', value: 'y' }];
  }

  cmapTrack(key: string, flags: CmapTrackFlagsJson, listener: (event: Omit<CmapTrackEventJson, 'trackId'>) => void): () => void {
    const track = { key, flags, listener, stopped: false };
    this.tracks.push(track);
    // A push that overtakes the track's own answer (the client must still route it).
    if (key === 'early.') listener({ type: 'add', key: 'early.x', newValue: { type: 'uint8', value: 1 }, oldValue: null });
    return () => {
      track.stopped = true;
    };
  }
}
