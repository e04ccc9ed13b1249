// How `carillon` commands that talk to carillond connect to it (architecture.md §2.8,
// §3.3): the socket path (--socket, $CARILLON_SOCKET, default
// /run/carillon/carillon.sock), the shared exit statuses, and one place that turns a
// failed connection into an operator-facing message: which path, which errno, and
// what to try (`systemctl status carillond`, --socket, group membership).

import { IpcClient, IpcClientError, IpcClientErrorCode } from '../client/ipc-client';
import { CarillonDefaults } from '../config/load';
import type { CommandIo } from './commands/wire-decode';

/** Exit statuses of the commands that talk to the daemon (architecture.md §2.8). */
export const DaemonCommandExit = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The daemon cannot be reached: no socket, nothing listening, permission denied, no answer. */
  unreachable: 3,
  /** EX_CONFIG. */
  config: 78,
} as const;

export const SocketOption = {
  flags: '--socket <path>',
  env: 'CARILLON_SOCKET',
  defaultPath: CarillonDefaults.ipcSocket,
  description: 'carillond IPC socket',
} as const;

/** Connect + hello, and the default per-call timeout. */
export const DAEMON_TIMEOUT_MS = 5000;

/** The global options every daemon command reads (see SocketOption). */
export interface GlobalOptions {
  socket?: string;
}

function hintFor(error: IpcClientError): string {
  const elsewhere = `if carillond uses another socket, pass --socket PATH or set ${SocketOption.env}`;
  if (error.code === IpcClientErrorCode.unreachable) {
    if (error.errno === 'EACCES') return 'the socket is mode 0660: run as root or as a member of its group';
    if (error.errno === 'ECONNREFUSED') return `the socket exists but nothing listens on it (carillond stopped or crashed?): check \`systemctl status carillond\`; ${elsewhere}`;
    return `is carillond running? check \`systemctl status carillond\`; ${elsewhere}`;
  }
  return `carillond is not answering: check \`systemctl status carillond\`; ${elsewhere}`;
}

/**
 * Connects to the daemon and runs `body`; returns body's exit status, 3 when the daemon
 * cannot be reached, 1 when it refuses (protocol version, client limit) or a call fails.
 * The connection is always closed afterwards.
 */
export async function withDaemon(
  command: string,
  socketPath: string,
  io: CommandIo,
  body: (client: IpcClient) => Promise<number>,
): Promise<number> {
  let client: IpcClient;
  try {
    client = await IpcClient.connect(socketPath, { timeoutMs: DAEMON_TIMEOUT_MS, clientName: `carillon ${command}` });
  } catch (e) {
    if (!(e instanceof IpcClientError)) throw e;
    if (e.code === IpcClientErrorCode.unreachable || e.code === IpcClientErrorCode.timeout) {
      io.err(`carillon ${command}: cannot reach carillond: ${e.message}`);
      io.err(`  hint: ${hintFor(e)}`);
      return DaemonCommandExit.unreachable;
    }
    io.err(`carillon ${command}: carillond at ${socketPath} refused the connection: ${e.message} (${e.code})`);
    return DaemonCommandExit.failure;
  }
  try {
    return await body(client);
  } catch (e) {
    if (!(e instanceof IpcClientError)) throw e;
    io.err(`carillon ${command}: ${e.message} (${e.code})`);
    return DaemonCommandExit.failure;
  } finally {
    await client.close();
  }
}
