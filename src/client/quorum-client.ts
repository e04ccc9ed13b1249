// Quorum for Node programs, over carillond's IPC socket: votequorum's status (what
// `corosync-quorumtool -s` shows), expected votes and node votes, and quorum
// notifications. See src/client/index.ts for an example.

import type { QuorumEventJson, QuorumStatusJson } from '../ipc/daemon-api';
import { IpcClient, type IpcConnectOptions } from './ipc-client';

export type QuorumStatus = QuorumStatusJson;
export type QuorumEvent = QuorumEventJson;

export class QuorumClient {
  readonly ipc: IpcClient;

  private constructor(ipc: IpcClient) {
    this.ipc = ipc;
  }

  static async connect(socketPath: string, options: IpcConnectOptions = {}): Promise<QuorumClient> {
    return new QuorumClient(await IpcClient.connect(socketPath, { ...options, clientName: options.clientName ?? 'carillon-quorum-client' }));
  }

  /** votequorum's view (provider null: no quorum provider, always quorate). */
  status(): Promise<QuorumStatus> {
    return this.ipc.call('quorum.status');
  }

  /** votequorum_setexpected; rejects with QUORUM_ERR_INVALID_PARAM when votequorum refuses. */
  async setExpected(votes: number): Promise<void> {
    await this.ipc.call('quorum.setExpected', { votes });
  }

  /** votequorum_setvotes; QUORUM_ERR_NAME_NOT_FOUND for a node votequorum does not know. */
  async setVotes(nodeId: number, votes: number): Promise<void> {
    await this.ipc.call('quorum.setVotes', { nodeId, votes });
  }

  /**
   * Calls `listener` with the current state at once, then at every sync end and quorum
   * change. Resolves to the function that stops it.
   */
  onChange(listener: (event: QuorumEvent) => void): Promise<() => Promise<void>> {
    return this.ipc.subscribe('quorum', listener);
  }

  async close(): Promise<void> {
    await this.ipc.close();
  }
}
