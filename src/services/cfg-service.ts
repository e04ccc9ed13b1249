// The cfg service (id 1) as far as a member of a corosync 3.1.7 cluster must honour it:
// the five exec messages real nodes may send (corosync-wire.md §9.3, exec/cfg.c). Only
// KILLNODE addressed to this node has an effect (corosync-cfgtool -k: the daemon exits,
// through the injected onKillRequest); the others are logged. cfg takes no part in sync.
//
// Layouts (request header 16 bytes, then fields aligned to 8):
//   0 RINGREENABLE    32 B  source (mar_message_source_t: nodeid u32 @16, conn @24)
//   1 KILLNODE       288 B  nodeid u32 @16, reason mar_name_t @24 (length u16 @24, value[256] @32)
//   2 SHUTDOWN        16 B  header only: the sender is shutting down
//   3 RELOAD_CONFIG   32 B  source (nodeid u32 @16)
//   4 CRYPTO_RECONFIG 24 B  phase u32 @16
// Not capture-verified (no cfg message occurred in any capture). A message shorter than
// its layout is counted and ignored; corosync reads past it.

import { err, ok, type Result } from '../base/result';
import { DecodeError, DecodeErrorCode } from '../totem/wire/decode-error';
import { EXEC_HEADER_BYTES, execId, writeExecHeader } from './exec-header';
import { ServiceId, type Service, type ServiceApi, type ServiceConfChange } from './service-api';

export const CfgFn = {
  ringReenable: 0,
  killNode: 1,
  shutdown: 2,
  reloadConfig: 3,
  cryptoReconfig: 4,
} as const;

/** Wire sizes of the cfg exec messages, indexed by function id. */
export const CFG_MESSAGE_BYTES: readonly number[] = [32, 288, 16, 32, 24];

/** CS_MAX_NAME_LENGTH: the value bytes of a mar_name_t. */
const NAME_VALUE_BYTES = 256;
const KILLNODE_REASON_LENGTH_OFFSET = 24;
const KILLNODE_REASON_VALUE_OFFSET = 32;

export type CfgMessage =
  | { readonly type: 'ring-reenable'; readonly sourceNodeId: number }
  | { readonly type: 'kill-node'; readonly nodeId: number; readonly reason: string }
  | { readonly type: 'shutdown' }
  | { readonly type: 'reload-config'; readonly sourceNodeId: number }
  | { readonly type: 'crypto-reconfig'; readonly phase: number };

/** Decodes a cfg exec message (header included) of function `fn`. */
export function decodeCfgMessage(fn: number, message: Uint8Array): Result<CfgMessage, DecodeError> {
  const need = CFG_MESSAGE_BYTES[fn];
  if (need === undefined) return err(new DecodeError(DecodeErrorCode.badType, `cfg has no exec function ${fn}`, 0));
  if (message.length < need) {
    return err(new DecodeError(DecodeErrorCode.truncated, `cfg message ${fn} of ${message.length} bytes is shorter than ${need}`, message.length));
  }
  if (fn === CfgFn.shutdown) return ok({ type: 'shutdown' });
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const u32At16 = view.getUint32(EXEC_HEADER_BYTES, true);
  switch (fn) {
    case CfgFn.ringReenable:
      return ok({ type: 'ring-reenable', sourceNodeId: u32At16 });
    case CfgFn.killNode:
      return ok({ type: 'kill-node', nodeId: u32At16, reason: reasonText(message, view) });
    case CfgFn.reloadConfig:
      return ok({ type: 'reload-config', sourceNodeId: u32At16 });
    default:
      return ok({ type: 'crypto-reconfig', phase: u32At16 });
  }
}

/** The reason text of a KILLNODE: `length` bytes of the value, up to the first NUL. */
function reasonText(message: Uint8Array, view: DataView): string {
  const length = Math.min(view.getUint16(KILLNODE_REASON_LENGTH_OFFSET, true), NAME_VALUE_BYTES);
  const value = message.subarray(KILLNODE_REASON_VALUE_OFFSET, KILLNODE_REASON_VALUE_OFFSET + length);
  const nul = value.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? value.subarray(0, nul) : value);
}

/** A KILLNODE request as corosync-cfgtool -k sends it (reason NUL-terminated, at most 255 bytes). */
export function encodeCfgKillNode(nodeId: number, reason: string): Uint8Array {
  const bytes = new Uint8Array(CFG_MESSAGE_BYTES[CfgFn.killNode] ?? 0);
  writeExecHeader(bytes, execId(ServiceId.cfg, CfgFn.killNode), bytes.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(EXEC_HEADER_BYTES, nodeId >>> 0, true);
  const text = new TextEncoder().encode(reason).subarray(0, NAME_VALUE_BYTES - 1);
  view.setUint16(KILLNODE_REASON_LENGTH_OFFSET, text.length + 1, true);
  bytes.set(text, KILLNODE_REASON_VALUE_OFFSET);
  return bytes;
}

export interface CfgServiceOptions {
  readonly api: ServiceApi;
  /** A KILLNODE named this node: the daemon must exit now (corosync_fatal_error). */
  readonly onKillRequest: (reason: string, fromNodeId: number) => void;
}

export interface CfgCounters {
  ringReenable: number;
  killNode: number;
  killNodeForUs: number;
  shutdown: number;
  reloadConfig: number;
  cryptoReconfig: number;
  /** Too short for its layout: ignored. */
  malformed: number;
  /** Function ids beyond 4: ignored (main.c's "discarded unknown message"). */
  unknownFunction: number;
}

export class CfgService implements Service {
  readonly id = ServiceId.cfg;
  readonly name = 'corosync configuration service';
  readonly sync = null;
  private readonly api: ServiceApi;
  private readonly onKillRequest: (reason: string, fromNodeId: number) => void;
  private readonly stats: CfgCounters = {
    ringReenable: 0,
    killNode: 0,
    killNodeForUs: 0,
    shutdown: 0,
    reloadConfig: 0,
    cryptoReconfig: 0,
    malformed: 0,
    unknownFunction: 0,
  };

  constructor(options: CfgServiceOptions) {
    this.api = options.api;
    this.onKillRequest = options.onKillRequest;
  }

  deliver(fn: number, sender: number, message: Uint8Array): void {
    if (fn >= CFG_MESSAGE_BYTES.length) {
      this.stats.unknownFunction += 1;
      this.api.log('warning', `discarded unknown message ${fn} for service ${this.id} (max id ${CFG_MESSAGE_BYTES.length})`, { sender });
      return;
    }
    const decoded = decodeCfgMessage(fn, message);
    if (!decoded.ok) {
      this.stats.malformed += 1;
      this.api.log('debug', 'dropped a malformed cfg message', { sender, fn, error: decoded.error.message });
      return;
    }
    this.handle(decoded.value, sender);
  }

  confchg(_change: ServiceConfChange): void {
    // cfg_confchg_fn only feeds its library's tracking, which Carillon does not serve.
  }

  counters(): CfgCounters {
    return { ...this.stats };
  }

  private handle(message: CfgMessage, sender: number): void {
    switch (message.type) {
      case 'ring-reenable':
        this.stats.ringReenable += 1;
        this.api.log('debug', `ring re-enable request from node ${sender}: nothing to do`);
        return;
      case 'kill-node':
        this.killNode(message.nodeId, message.reason, sender);
        return;
      case 'shutdown':
        this.stats.shutdown += 1;
        this.api.log('notice', `Node ${sender} was shut down by sysadmin`);
        return;
      case 'reload-config':
        this.stats.reloadConfig += 1;
        this.api.log('notice', `Config reload requested by node ${sender}; ignored (carillond reloads on SIGHUP)`);
        return;
      case 'crypto-reconfig':
        this.stats.cryptoReconfig += 1;
        this.api.log('debug', `Crypto reconfiguration phase ${message.phase} from node ${sender}: not used on udp/udpu`);
        return;
    }
  }

  private killNode(nodeId: number, reason: string, sender: number): void {
    this.stats.killNode += 1;
    this.api.log('debug', `request to kill node ${nodeId} (us=${this.api.localNodeId})`, { sender });
    if (nodeId !== this.api.localNodeId) return;
    this.stats.killNodeForUs += 1;
    this.api.log('notice', `Killed by node ${sender} : ${reason}`);
    this.onKillRequest(reason, sender);
  }
}
