// The availability manager for Node programs, over carillond's IPC socket
// (architecture.md §2.6 "amf", §2.8): SAM-style self-registration with heartbeats (like
// corosync's libsam: register, send heartbeats, and carillond kills the program — and,
// for a supervised program with recovery restart, restarts it — when they stop or the
// connection drops without unregister), plus the status of supervised programs and
// operator start/stop.
//
//   const sam = await SamClient.connect('/run/carillon/carillon.sock');
//   await sam.register({ name: 'asterisk', heartbeatIntervalMs: 2000, recovery: 'restart' });
//   const stop = sam.startHeartbeats('asterisk');   // every interval / 3; stop() ends them
//   ...
//   stop();
//   await sam.unregister('asterisk');
//   await sam.close();
//
// The registration belongs to this connection: closing the client (or the process
// dying) without unregister() is a failure, as it is for corosync SAM. Failures are
// IpcClientError with SAM_ERR_* / AMF_ERR_* codes (src/ipc/protocol.ts IpcErrorCode).

import type { AmfProcessJson, SamAppJson, SamStatusJson } from '../ipc/daemon-api';
import { IpcClient, type IpcConnectOptions } from './ipc-client';

export type SamStatus = SamStatusJson;
export type SamApp = SamAppJson;
export type AmfProcess = AmfProcessJson;

export interface SamRegisterOptions {
  /** [A-Za-z0-9_-]{1,64}; a supervised program's name for recovery restart. */
  readonly name: string;
  /** 100..3600000 ms without a heartbeat is a failure. */
  readonly heartbeatIntervalMs: number;
  /** quit: kill the pid; restart: kill it and let the supervisor restart the program. */
  readonly recovery: 'quit' | 'restart';
  /** The pid carillond kills on a failure; default this process. */
  readonly pid?: number;
}

export class SamClient {
  readonly ipc: IpcClient;
  private readonly heartbeatTimers = new Map<string, NodeJS.Timeout>();

  private constructor(ipc: IpcClient) {
    this.ipc = ipc;
  }

  static async connect(socketPath: string, options: IpcConnectOptions = {}): Promise<SamClient> {
    return new SamClient(await IpcClient.connect(socketPath, { ...options, clientName: options.clientName ?? 'carillon-sam-client' }));
  }

  /** Registers (the registration is the first heartbeat). */
  register(options: SamRegisterOptions): Promise<SamApp> {
    return this.ipc.call('sam.register', {
      name: options.name,
      pid: options.pid ?? process.pid,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      recovery: options.recovery,
    });
  }

  async heartbeat(name: string): Promise<void> {
    await this.ipc.call('sam.heartbeat', { name });
  }

  /**
   * Sends a heartbeat every `everyMs` (default: a third of the registered interval, so one
   * lost or late heartbeat is not a failure) until the returned function is called or the
   * client closes. A refused heartbeat (the registration failed) stops them and is
   * reported to `onError`.
   */
  startHeartbeats(name: string, options: { everyMs?: number; onError?: (error: unknown) => void } = {}): () => void {
    this.stopHeartbeats(name);
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      this.stopHeartbeats(name);
    };
    const tick = (): void => {
      this.heartbeat(name).catch((error: unknown) => {
        stop();
        options.onError?.(error);
      });
    };
    const begin = (everyMs: number): void => {
      if (stopped) return;
      const timer = setInterval(tick, everyMs);
      timer.unref();
      this.heartbeatTimers.set(name, timer);
    };
    if (options.everyMs !== undefined) {
      begin(options.everyMs);
      return stop;
    }
    // The interval is the daemon's: ask once.
    this.status().then(
      (status) => {
        const app = status.apps.find((a) => a.name === name && a.state === 'registered');
        begin(Math.max(50, Math.floor((app?.heartbeatIntervalMs ?? 1000) / 3)));
      },
      (error: unknown) => options.onError?.(error),
    );
    return stop;
  }

  async unregister(name: string): Promise<void> {
    this.stopHeartbeats(name);
    await this.ipc.call('sam.unregister', { name });
  }

  /** Supervised programs and SAM registrations (`carillon sam status --json`). */
  status(): Promise<SamStatus> {
    return this.ipc.call('sam.status');
  }

  /** Operator start of a supervised program (a fresh start: escalation and restart history cleared). */
  start(name: string): Promise<AmfProcess> {
    return this.ipc.call('amf.start', { name });
  }

  /** Operator stop (SIGTERM, then SIGKILL after stop_timeout); it stays stopped until start(). */
  stop(name: string): Promise<AmfProcess> {
    return this.ipc.call('amf.stop', { name });
  }

  /** Closes the connection: live registrations then fail (unregister() first to avoid that). */
  async close(): Promise<void> {
    for (const name of [...this.heartbeatTimers.keys()]) this.stopHeartbeats(name);
    await this.ipc.close();
  }

  private stopHeartbeats(name: string): void {
    const timer = this.heartbeatTimers.get(name);
    if (timer !== undefined) clearInterval(timer);
    this.heartbeatTimers.delete(name);
  }
}
