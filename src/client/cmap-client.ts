// cmap for Node programs, over carillond's IPC socket: typed get/set/delete, listing by
// prefix, and tracks (change notifications). Values are the daemon's typed values
// (CmapValue: 64-bit integers as bigint, binary as Uint8Array). See src/client/index.ts.
//
// Keys the daemon marks read-only for clients (runtime.config., nodelist., stats., ...)
// reject set/delete with CMAP_ERR_READ_ONLY; a missing key is CMAP_ERR_NOT_EXIST. Errors
// are IpcClientError with those codes.

import { cmapValueFromJson, cmapValueToJson } from '../ipc/cmap-json';
import type { CmapEntryJson, CmapTrackEventJson, CmapValueJson } from '../ipc/daemon-api';
import type { CmapValue } from '../services/cmap/cmap-store';
import { IpcClient, IpcClientError, IpcClientErrorCode, type IpcConnectOptions } from './ipc-client';

export type { CmapValue };

export interface CmapClientEntry {
  readonly key: string;
  readonly value: CmapValue;
}

export interface CmapClientTrackEvent {
  readonly type: 'add' | 'modify' | 'delete';
  readonly key: string;
  /** null on delete. */
  readonly newValue: CmapValue | null;
  /** null on add. */
  readonly oldValue: CmapValue | null;
}

export interface CmapClientTrackFlags {
  /** Every key starting with the given text (default false: that key only). */
  readonly prefix?: boolean;
  /** Default: all three when none is given. */
  readonly add?: boolean;
  readonly modify?: boolean;
  readonly delete?: boolean;
}

export interface CmapClientTrack {
  readonly trackId: number;
  stop(): Promise<void>;
}

/** Events for track ids not registered yet (their answer is still on its way) are held, bounded. */
const EARLY_EVENTS_MAX = 1000;

export class CmapClient {
  readonly ipc: IpcClient;
  private readonly tracks = new Map<number, (event: CmapClientTrackEvent) => void>();
  private early: CmapTrackEventJson[] = [];
  /** Stopped tracks whose last events may still be on their way (bounded). */
  private readonly retired = new Set<number>();

  private constructor(ipc: IpcClient) {
    this.ipc = ipc;
  }

  static async connect(socketPath: string, options: IpcConnectOptions = {}): Promise<CmapClient> {
    const ipc = await IpcClient.connect(socketPath, { ...options, clientName: options.clientName ?? 'carillon-cmap-client' });
    const client = new CmapClient(ipc);
    try {
      await ipc.subscribe('cmap', (event) => client.receive(event));
    } catch (e) {
      await ipc.close().catch(() => undefined);
      throw e;
    }
    return client;
  }

  async get(key: string): Promise<CmapValue> {
    return this.valueOf(await this.ipc.call('cmap.get', { key }));
  }

  /** The value in its JSON form (64-bit integers as decimal strings, binary as hex). */
  getJson(key: string): Promise<CmapEntryJson> {
    return this.ipc.call('cmap.get', { key });
  }

  /** Sets a key; resolves to the value as stored (floats rounded to float32 ...). */
  async set(key: string, value: CmapValue): Promise<CmapValue> {
    const json = cmapValueToJson(value);
    return this.valueOf(await this.ipc.call('cmap.set', { key, type: json.type, value: json.value }));
  }

  async delete(key: string): Promise<void> {
    await this.ipc.call('cmap.delete', { key });
  }

  /** Entries whose key starts with `prefix` ('' = all), in key order. */
  async list(prefix = ''): Promise<CmapClientEntry[]> {
    const { entries } = await this.ipc.call('cmap.list', { prefix });
    return entries.map((e) => ({ key: e.key, value: this.valueOf(e) }));
  }

  /** Calls `listener` for every change of `key` (or of every key under it, with prefix). */
  async track(key: string, flags: CmapClientTrackFlags, listener: (event: CmapClientTrackEvent) => void): Promise<CmapClientTrack> {
    const none = flags.add === undefined && flags.modify === undefined && flags.delete === undefined;
    const { trackId } = await this.ipc.call('cmap.track', {
      key,
      prefix: flags.prefix ?? false,
      add: none || flags.add === true,
      modify: none || flags.modify === true,
      delete: none || flags.delete === true,
    });
    this.tracks.set(trackId, listener);
    const early = this.early.filter((e) => e.trackId === trackId);
    this.early = this.early.filter((e) => e.trackId !== trackId);
    for (const event of early) this.receive(event);
    return {
      trackId,
      stop: async () => {
        if (!this.tracks.delete(trackId)) return;
        this.retired.add(trackId);
        if (this.retired.size > EARLY_EVENTS_MAX) this.retired.delete(this.retired.values().next().value as number);
        await this.ipc.call('cmap.untrack', { trackId });
      },
    };
  }

  async close(): Promise<void> {
    await this.ipc.close();
  }

  private receive(event: CmapTrackEventJson): void {
    const listener = this.tracks.get(event.trackId);
    if (listener === undefined) {
      if (this.retired.has(event.trackId)) return;
      this.early.push(event);
      if (this.early.length > EARLY_EVENTS_MAX) this.early.shift();
      return;
    }
    listener({
      type: event.type,
      key: event.key,
      newValue: event.newValue === null ? null : this.valueOf(event.newValue),
      oldValue: event.oldValue === null ? null : this.valueOf(event.oldValue),
    });
  }

  private valueOf(json: CmapValueJson): CmapValue {
    const parsed = cmapValueFromJson(json.type, json.value);
    if (!parsed.ok) throw new IpcClientError(IpcClientErrorCode.protocol, this.ipc.socketPath, `carillond sent a cmap value that does not fit ${json.type}: ${parsed.error.message}`);
    return parsed.value;
  }
}
