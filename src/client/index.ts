// The Carillon client library: what other Node programs import to use a running
// carillond over its IPC socket (default /run/carillon/carillon.sock; see carillon {
// ipc_socket }). Each client holds its own connection.
//
//   CpgClient     one CPG process (a libcpg handle): join / leave / mcast with automatic
//                 retry on try-again/full (bounded backoff), 'deliver' / 'confchg' /
//                 'totem-confchg' events through on(...) or the async iterator events(),
//                 membership(group), groups(), finalize(), close()
//   QuorumClient  status() (votequorum: quorate, expectedVotes, totalVotes, quorum,
//                 flags, members), setExpected(votes), setVotes(nodeId, votes),
//                 onChange(listener)
//   CmapClient    get / set / delete / list(prefix) / track(key, flags, listener) with
//                 typed values (bigint for 64-bit integers, Uint8Array for binary)
//   SamClient     register({name, heartbeatIntervalMs, recovery}), heartbeat(name),
//                 startHeartbeats(name), unregister(name), status() (supervised
//                 programs and SAM registrations), start(name) / stop(name)
//   IpcClient     the raw protocol (src/ipc/protocol.ts): call(method, params), subscribe(topic)
//
// Example:
//
//   import { CpgClient, QuorumClient, CmapClient } from 'carillon/dist/client';
//
//   const socket = '/run/carillon/carillon.sock';
//   const cpg = await CpgClient.connect(socket);
//   cpg.on('confchg', (c) => console.log(c.group, c.members, c.joined, c.left));
//   await cpg.join('asterisk');
//   await cpg.mcast('asterisk', 'hello');          // retried while the daemon says try-again
//   for await (const event of cpg.events()) {
//     if (event.type === 'deliver') console.log(event.nodeId, event.pid, event.payload.toString());
//   }
//
//   const quorum = await QuorumClient.connect(socket);
//   const stop = await quorum.onChange((q) => console.log('quorate', q.quorate, q.members));
//   console.log(await quorum.status());            // { quorate, expectedVotes, totalVotes, quorum, ... }
//
//   const cmap = await CmapClient.connect(socket);
//   console.log(await cmap.get('runtime.config.totem.token'));   // { type: 'uint32', value: 3000 }
//   await cmap.track('runtime.members.', { prefix: true }, (e) => console.log(e.type, e.key, e.newValue));
//
//   await Promise.all([cpg.close(), stop(), quorum.close(), cmap.close()]);
//
// Failures: CpgError (codes CPG_ERR_*) for what the CPG service refused; IpcClientError
// for the connection (IPC_UNREACHABLE, IPC_TIMEOUT, IPC_CLOSED) and the daemon's typed
// errors (CMAP_ERR_NOT_EXIST, QUORUM_ERR_INVALID_PARAM, IPC_UNAVAILABLE, ...).

export {
  IpcClient,
  IpcClientError,
  IpcClientErrorCode,
  type IpcConnectOptions,
  type IpcCallOptions,
  type IpcCpgDelivery,
  type CpgMcastRequest,
} from './ipc-client';
export {
  CpgClient,
  CpgError,
  CpgErrorCode,
  type CpgClientEvent,
  type CpgClientOptions,
  type CpgConfchgEvent,
  type CpgDeliverEvent,
  type CpgGroup,
  type CpgMember,
  type CpgMemberChange,
  type CpgRetryOptions,
  type CpgTotemConfchgEvent,
} from './cpg-client';
export { QuorumClient, type QuorumEvent, type QuorumStatus } from './quorum-client';
export {
  CmapClient,
  type CmapClientEntry,
  type CmapClientTrack,
  type CmapClientTrackEvent,
  type CmapClientTrackFlags,
  type CmapValue,
} from './cmap-client';
export { SamClient, type AmfProcess, type SamApp, type SamRegisterOptions, type SamStatus } from './sam-client';
export type { CmapEntryJson, CmapValueJson, QuorumEventJson, QuorumStatusJson, RingIdJson } from '../ipc/daemon-api';
