// `carillon cpg list|send|listen|verify` (architecture.md §2.8): CPG from the command
// line, over the IPC protocol's cpg.* methods (src/ipc/protocol.ts) with IpcClient.
//
//   cpg list [-e] [-n] [-d C] [--json]   corosync-cpgtool (tools/corosync-cpgtool.c, 3.1.7):
//       Group Name\t       PID\t   Node ID        header ("%10s" of PID and Node ID)
//       GROUP                                     group name, unprintable bytes as \xNN
//       \t\t      4321\t         1 (10.0.0.1)     "\t\t%10u\t%10u (" + addresses + ")"
//     -n names only, -e no escaping, -d C cpgtool's delimited form (GRP_NAME C PID C NODEID).
//     Addresses come from `status` (the nodelist), as cpgtool asks cfg for them.
//   cpg send GROUP MESSAGE...               testcpg's sending side: initialize, join,
//     multicast every MESSAGE (--count times over), leave, finalize. try-again / full are
//     retried with a bounded exponential backoff and reported on stderr.
//   cpg listen GROUP                         testcpg's receiving side, one line per event,
//     streamed: CONFCHG (members, joined and left with reasons by name), TOTEM_CONFCHG and
//       DELIVER from=<nodeid>:<pid> len=N "text"      (hex=... when not UTF-8 text)
//   cpg verify GROUP                         cpgverify grown up: see CpgVerifier below.
//
// Every handle announces this process's pid (cpg.initialize {pid}), as libcpg does,
// unless --pid says otherwise.
//
// Exit status: 0 ok; 1 failure (a refused join/mcast, an error answer, --count not
// reached within --timeout, verify errors); 2 usage; 3 the daemon is unreachable.

import { createHash, randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type IpcClient, IpcClientError } from '../../client/ipc-client';
import type { CpgGroupJson, CpgHandleEventJson, CpgMemberChangeJson, CpgMemberJson, DaemonStatus } from '../../ipc/daemon-api';
import { IpcErrorCode, bytesToHex, encodeRequest } from '../../ipc/protocol';
import { IpcServerDefaults } from '../../runtime/ipc-server';
import { CPG_ATOMIC_MESSAGE_MAX } from '../../services/cpg/cpg-service';
import { DaemonCommandExit, type GlobalOptions, SocketOption, withDaemon } from '../daemon-connection';
import { formatRingId } from './status';
import type { CommandIo } from './wire-decode';

// -------------------------------------------------------------------------------------
// Shared pieces

/** How join / mcast / leave are retried when the daemon answers try-again or full. */
export interface CpgRetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/** 10 retries, 10 ms doubling up to 1 s: at most about 4.3 s per call. */
export const DefaultCpgRetry: CpgRetryPolicy = { retries: 10, initialDelayMs: 10, maxDelayMs: 1000 };

/** CPG_MAX_NAME_LENGTH: a group name is 1..128 bytes of UTF-8. */
const CPG_GROUP_BYTES_MAX = 128;

const reasonLabels: Record<string, string> = {
  join: 'JOIN',
  leave: 'LEAVE',
  nodedown: 'NODEDOWN',
  nodeup: 'NODEUP',
  procdown: 'PROCDOWN',
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `attempt` until it answers something other than one of `transient` or the retries
 * run out; `onRetry` hears about each retry before its delay.
 */
async function withRetry<R extends string>(
  attempt: () => Promise<R>,
  transient: readonly string[],
  policy: CpgRetryPolicy,
  onRetry: (result: R, retry: number, delayMs: number) => void,
): Promise<{ result: R; retries: number }> {
  let delay = policy.initialDelayMs;
  for (let retries = 0; ; retries++) {
    const result = await attempt();
    if (!transient.includes(result) || retries >= policy.retries) return { result, retries };
    onRetry(result, retries + 1, delay);
    await sleep(delay);
    delay = Math.min(delay * 2, policy.maxDelayMs);
  }
}

function groupNameProblem(group: string): string | null {
  const bytes = Buffer.byteLength(group, 'utf8');
  if (bytes === 0 || bytes > CPG_GROUP_BYTES_MAX) return `a group name is 1..${CPG_GROUP_BYTES_MAX} bytes of UTF-8, got ${bytes}`;
  return null;
}

/**
 * The largest payload one cpg.mcast can carry to GROUP: corosync's atomic CPG message
 * (1 MiB − 1 KiB), and the request line (payload as hex, two characters a byte) must fit
 * carillond's line limit, or it drops the connection.
 */
export function mcastPayloadBytesMax(group: string): number {
  const line = encodeRequest(Number.MAX_SAFE_INTEGER, 'cpg.mcast', { handle: Number.MAX_SAFE_INTEGER, group, payloadHex: '' });
  // The limit counts the line without its '\n'.
  const ipcMax = Math.floor((IpcServerDefaults.lineBytesMax - (Buffer.byteLength(line, 'utf8') - 1)) / 2);
  return Math.min(ipcMax, CPG_ATOMIC_MESSAGE_MAX);
}

function utf8Text(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function bytesOfHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function member(m: CpgMemberJson): string {
  return `${m.nodeId}:${m.pid}`;
}

/** A CPG_REASON_* in capitals (JOIN, LEAVE, NODEDOWN, NODEUP, PROCDOWN), else its number. */
export function cpgReasonLabel(change: Pick<CpgMemberChangeJson, 'reason' | 'reasonName'>): string {
  return reasonLabels[change.reasonName] ?? `REASON_${change.reason}`;
}

/** What an error answer means for a CPG command, in words. */
function cpgErrorText(e: IpcClientError): string {
  if (e.code === IpcErrorCode.unavailable) return `carillond runs no CPG service: ${e.message}`;
  return `${e.message} (${e.code})`;
}

interface CpgSession {
  handle: number;
  pid: number;
  nodeId: number;
}

async function initialize(client: IpcClient, pid: number | undefined): Promise<CpgSession> {
  return client.call('cpg.initialize', pid === undefined ? {} : { pid });
}

/**
 * Subscribes to the cpg topic first (nothing between the join and its answer may be
 * missed), then initializes a handle and routes that handle's events to `onEvent`. Events
 * that arrive before the handle number is known are this handle's own (it is the only one
 * on the connection) and are replayed in order.
 */
async function openSession(client: IpcClient, pid: number, onEvent: (event: CpgHandleEventJson) => void): Promise<CpgSession> {
  let handle: number | null = null;
  const early: CpgHandleEventJson[] = [];
  await client.subscribe('cpg', ({ handle: from, ...event }) => {
    if (handle === null) early.push(event);
    else if (from === handle) onEvent(event);
  });
  const session = await initialize(client, pid);
  handle = session.handle;
  for (const event of early.splice(0)) onEvent(event);
  return session;
}

/** Why a join that did not queue failed, in words. */
function joinFailure(result: string, group: string, session: CpgSession): string {
  switch (result) {
    case 'exists':
      return `a CPG process with pid ${session.pid} on node ${session.nodeId} is already in ${JSON.stringify(group)} (try --pid)`;
    case 'busy':
      return `pid ${session.pid} is still leaving ${JSON.stringify(group)}`;
    case 'bad-name':
      return `${JSON.stringify(group)} is not a valid group name`;
    case 'too-many':
      return 'the handle is in as many groups as it may be';
    case 'try-again':
    case 'full':
      return `carillond kept answering ${result} (sync in progress or send queue full); retry later`;
    default:
      return `carillond answered ${result}`;
  }
}

/** Leaves (retrying try-again / full / busy) and finalizes; problems are warnings. */
async function leaveAndFinalize(client: IpcClient, session: CpgSession, group: string | null, retry: CpgRetryPolicy, warn: (text: string) => void): Promise<void> {
  try {
    if (group !== null) {
      const { result } = await withRetry(() => client.call('cpg.leave', { handle: session.handle, group }).then((r) => r.result), ['try-again', 'full', 'busy'], retry, () => undefined);
      if (result !== 'queued') warn(`leaving ${JSON.stringify(group)} answered ${result}; finalizing instead (the group sees PROCDOWN)`);
    }
    await client.call('cpg.finalize', { handle: session.handle });
  } catch (e) {
    if (!(e instanceof IpcClientError)) throw e;
    // The connection ending finalizes the handle anyway.
    warn(`could not leave and finalize cleanly: ${cpgErrorText(e)}`);
  }
}

function socketOf(command: Command): string {
  return command.optsWithGlobals<GlobalOptions>().socket ?? SocketOption.defaultPath;
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(value);
}

function pidValue(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) throw new InvalidArgumentError('expected a pid (0..4294967295)');
  return Number(value);
}

/** Reports an error answer (IpcClientError) on stderr; returns the failure status. */
function reportCallError(command: string, e: unknown, io: CommandIo): number {
  if (!(e instanceof IpcClientError)) throw e;
  io.err(`carillon ${command}: ${cpgErrorText(e)}`);
  return DaemonCommandExit.failure;
}

// -------------------------------------------------------------------------------------
// cpg list

export interface CpgListOptions {
  json: boolean;
  /** -n: group names only. */
  namesOnly: boolean;
  /** Not -e: unprintable bytes of group names as \xNN, '\' as '\\'. */
  escape: boolean;
  /** -d: cpgtool's delimited form; null = the table. */
  delimiter: string | null;
}

/**
 * fprint_group: with escaping, printable ASCII but '\' as is, '\' doubled, other bytes
 * as \xNN — of a (signed, on x86) char, so bytes ≥ 0x80 print sign-extended (\xFFFFFFC3).
 */
export function escapeGroupName(group: string, escape: boolean): string {
  if (!escape) return group;
  let out = '';
  for (const b of Buffer.from(group, 'utf8')) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else if (b === 0x5c) out += '\\\\';
    else out += `\\x${(b >= 0x80 ? (0xffffff00 | b) >>> 0 : b).toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The lines corosync-cpgtool prints for `groups`; `addresses` by nodeid (cfg's view). */
export function formatCpgList(groups: readonly CpgGroupJson[], addresses: ReadonlyMap<number, readonly string[]>, options: Omit<CpgListOptions, 'json'>): string[] {
  const d = options.delimiter;
  if (options.namesOnly) {
    const names = groups.map((g) => escapeGroupName(g.group, options.escape));
    // display_groups: each name then the delimiter (or '\n'), and a final '\n' with -d.
    return d === null ? names : [names.map((n) => `${n}${d}`).join('')];
  }
  const lines = [d === null ? `Group Name\t${'PID'.padStart(10)}\t${'Node ID'.padStart(10)}` : `GRP_NAME${d}PID${d}NODEID`];
  for (const g of groups) {
    const name = escapeGroupName(g.group, options.escape);
    // The iteration yields members; a group name line precedes its first one.
    if (d === null && g.members.length > 0) lines.push(name);
    for (const m of g.members) {
      if (d === null) lines.push(`\t\t${String(m.pid).padStart(10)}\t${String(m.nodeId).padStart(10)} (${(addresses.get(m.nodeId) ?? []).join(' ')})`);
      else lines.push(`${name}${d}${m.pid}${d}${m.nodeId}`);
    }
  }
  return lines;
}

function addressesOf(status: DaemonStatus): Map<number, readonly string[]> {
  const map = new Map<number, readonly string[]>();
  for (const node of [...status.members, ...status.nodelist]) {
    if (!map.has(node.nodeId) && Array.isArray(node.addresses)) map.set(node.nodeId, node.addresses);
  }
  return map;
}

export function runCpgList(socketPath: string, options: CpgListOptions, io: CommandIo): Promise<number> {
  return withDaemon('cpg list', socketPath, io, async (client) => {
    let groups: CpgGroupJson[];
    try {
      ({ groups } = await client.call('cpg.groups'));
    } catch (e) {
      return reportCallError('cpg list', e, io);
    }
    if (options.json) {
      io.out(JSON.stringify(groups.map((g) => ({ group: g.group, members: g.members.map((m) => ({ pid: m.pid, nodeId: m.nodeId })) }))));
      return DaemonCommandExit.ok;
    }
    let addresses = new Map<number, readonly string[]>();
    if (!options.namesOnly && options.delimiter === null && groups.some((g) => g.members.length > 0)) {
      // cpgtool prints "()" when cfg cannot tell the addresses; so do we.
      try {
        addresses = addressesOf(await client.call('status'));
      } catch (e) {
        if (!(e instanceof IpcClientError)) throw e;
      }
    }
    for (const line of formatCpgList(groups, addresses, options)) io.out(line);
    return DaemonCommandExit.ok;
  });
}

// -------------------------------------------------------------------------------------
// cpg send

export interface CpgSendOptions {
  hex: boolean;
  /** Append a NUL to each message, as testcpg sends strings (strlen + 1). */
  nul: boolean;
  /** How many times the MESSAGE list is sent. */
  count: number;
  /** Pause between two messages. */
  intervalMs: number;
  json: boolean;
  /** The pid the handle announces; default this process's. */
  pid?: number;
  retry?: CpgRetryPolicy;
}

/** Payloads of `cpg send` as hex, or a usage error text. */
export function encodeSendPayloads(messages: readonly string[], options: Pick<CpgSendOptions, 'hex' | 'nul'>): { ok: true; hex: string[] } | { ok: false; error: string } {
  const out: string[] = [];
  for (const message of messages) {
    let bytes: Uint8Array;
    if (options.hex) {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(message)) return { ok: false, error: `not an even-length hex payload: ${JSON.stringify(message)}` };
      bytes = bytesOfHex(message);
    } else {
      bytes = new TextEncoder().encode(message);
    }
    out.push(bytesToHex(bytes) + (options.nul ? '00' : ''));
  }
  return { ok: true, hex: out };
}

export async function runCpgSend(socketPath: string, group: string, messages: readonly string[], options: CpgSendOptions, io: CommandIo): Promise<number> {
  const name = 'cpg send';
  const groupProblem = groupNameProblem(group);
  if (groupProblem !== null) {
    io.err(`carillon ${name}: ${groupProblem}`);
    return DaemonCommandExit.usage;
  }
  const encoded = encodeSendPayloads(messages, options);
  if (!encoded.ok) {
    io.err(`carillon ${name}: ${encoded.error}`);
    return DaemonCommandExit.usage;
  }
  const payloads = encoded.hex;
  const max = mcastPayloadBytesMax(group);
  const tooLarge = payloads.findIndex((p) => p.length / 2 > max);
  if (tooLarge >= 0) {
    io.err(`carillon ${name}: message ${tooLarge + 1} is ${(payloads[tooLarge] ?? '').length / 2} bytes; over IPC a CPG message to this group is at most ${max} bytes`);
    return DaemonCommandExit.usage;
  }
  const retry = options.retry ?? DefaultCpgRetry;
  const total = payloads.length * options.count;
  return withDaemon(name, socketPath, io, async (client) => {
    let session: CpgSession;
    try {
      session = await initialize(client, options.pid ?? process.pid);
    } catch (e) {
      return reportCallError(name, e, io);
    }
    let sent = 0;
    let retries = 0;
    let failure: string | null = null;
    let joined = false;
    const warn = (text: string): void => io.err(`carillon ${name}: ${text}`);
    try {
      const join = await withRetry(() => client.call('cpg.join', { handle: session.handle, group }).then((r) => r.result), ['try-again', 'full'], retry, (result, n, delay) =>
        warn(`join answered ${result}; retry ${n} in ${delay} ms`),
      );
      retries += join.retries;
      if (join.result !== 'queued') failure = `cannot join ${JSON.stringify(group)}: ${joinFailure(join.result, group, session)}`;
      else joined = true;
      for (let i = 0; failure === null && i < total; i++) {
        if (i > 0 && options.intervalMs > 0) await sleep(options.intervalMs);
        const payloadHex = payloads[i % payloads.length] ?? '';
        const mcast = await withRetry(() => client.call('cpg.mcast', { handle: session.handle, group, payloadHex }).then((r) => r.result), ['try-again', 'full'], retry, (result, n, delay) =>
          warn(`message ${i + 1} of ${total}: ${result}; retry ${n} in ${delay} ms`),
        );
        retries += mcast.retries;
        if (mcast.result === 'queued') sent++;
        else if (mcast.result === 'too-large') failure = `message ${i + 1} of ${total} (${payloadHex.length / 2} bytes) is larger than CPG allows`;
        else if (mcast.result === 'not-joined') failure = `message ${i + 1} of ${total}: the handle is not in ${JSON.stringify(group)} (not-joined)`;
        else failure = `message ${i + 1} of ${total}: carillond kept answering ${mcast.result} after ${mcast.retries} retries`;
      }
    } catch (e) {
      if (!(e instanceof IpcClientError)) throw e;
      failure = cpgErrorText(e);
    }
    await leaveAndFinalize(client, session, joined ? group : null, retry, warn);
    if (failure !== null) warn(failure);
    if (options.json) {
      const summary: Record<string, unknown> = { group, nodeId: session.nodeId, pid: session.pid, sent, total, retries, ok: failure === null };
      if (failure !== null) summary['error'] = failure;
      io.out(JSON.stringify(summary));
    } else {
      io.out(`sent ${sent} of ${total} message${total === 1 ? '' : 's'} to ${JSON.stringify(group)} as ${session.nodeId}:${session.pid} (${retries} ${retries === 1 ? 'retry' : 'retries'})`);
    }
    return failure === null ? DaemonCommandExit.ok : DaemonCommandExit.failure;
  });
}

// -------------------------------------------------------------------------------------
// cpg listen

export interface CpgListenOptions {
  json: boolean;
  /** Stop after this many deliveries (configuration changes do not count). */
  count?: number;
  timeoutMs?: number;
  pid?: number;
  retry?: CpgRetryPolicy;
}

/** The payload as listen shows it: "text" when UTF-8 (one trailing NUL, C-string style, dropped), else hex=. */
export function describePayload(payloadHex: string): string {
  const bytes = bytesOfHex(payloadHex);
  const body = bytes.length > 0 && bytes[bytes.length - 1] === 0 ? bytes.subarray(0, bytes.length - 1) : bytes;
  const text = utf8Text(body);
  return text === null ? `hex=${payloadHex}` : JSON.stringify(text);
}

function changeList(changes: readonly CpgMemberChangeJson[]): string {
  return `[${changes.map((c) => `${member(c)}(${cpgReasonLabel(c)})`).join(',')}]`;
}

/** One line of `cpg listen` output. */
export function formatCpgEvent(event: CpgHandleEventJson): string {
  switch (event.event) {
    case 'deliver':
      return `DELIVER from=${event.nodeId}:${event.pid} len=${payloadHexLength(event.payloadHex)} ${describePayload(event.payloadHex)}`;
    case 'confchg':
      return `CONFCHG group=${JSON.stringify(event.group)} members=[${event.members.map(member).join(',')}] joined=${changeList(event.joined)} left=${changeList(event.left)}`;
    case 'totem-confchg':
      return `TOTEM_CONFCHG ring=${formatRingId(event.ringId)} members=[${event.members.join(',')}]`;
  }
}

function payloadHexLength(hex: string): number {
  return Math.floor(hex.length / 2);
}

type ListenEnd = { kind: 'count' } | { kind: 'timeout' } | { kind: 'closed'; message: string };

/** A promise settled once by the first `finish`. */
function ending<T>(): { ended: Promise<T>; finish: (end: T) => void; isDone: () => boolean } {
  let done = false;
  let resolveEnd: (end: T) => void = () => undefined;
  const ended = new Promise<T>((resolve) => {
    resolveEnd = resolve;
  });
  return {
    ended,
    finish: (end) => {
      if (done) return;
      done = true;
      resolveEnd(end);
    },
    isDone: () => done,
  };
}

export async function runCpgListen(socketPath: string, group: string, options: CpgListenOptions, io: CommandIo): Promise<number> {
  const name = 'cpg listen';
  const groupProblem = groupNameProblem(group);
  if (groupProblem !== null) {
    io.err(`carillon ${name}: ${groupProblem}`);
    return DaemonCommandExit.usage;
  }
  const retry = options.retry ?? DefaultCpgRetry;
  return withDaemon(name, socketPath, io, async (client) => {
    const warn = (text: string): void => io.err(`carillon ${name}: ${text}`);
    const { ended, finish, isDone } = ending<ListenEnd>();
    let deliveries = 0;
    const onEvent = (event: CpgHandleEventJson): void => {
      // Events after the last counted delivery may arrive in the same chunk.
      if (isDone()) return;
      if (event.event !== 'totem-confchg' && event.group !== group) return;
      if (options.json) io.out(JSON.stringify(event));
      else io.out(formatCpgEvent(event));
      if (event.event === 'deliver') deliveries++;
      if (options.count !== undefined && deliveries >= options.count) finish({ kind: 'count' });
    };
    let session: CpgSession;
    try {
      session = await openSession(client, options.pid ?? process.pid, onEvent);
    } catch (e) {
      return reportCallError(name, e, io);
    }
    let joinResult: string;
    try {
      ({ result: joinResult } = await withRetry(() => client.call('cpg.join', { handle: session.handle, group }).then((r) => r.result), ['try-again', 'full'], retry, (result, n, delay) =>
        warn(`join answered ${result}; retry ${n} in ${delay} ms`),
      ));
    } catch (e) {
      return reportCallError(name, e, io);
    }
    if (joinResult !== 'queued') {
      warn(`cannot join ${JSON.stringify(group)}: ${joinFailure(joinResult, group, session)}`);
      await leaveAndFinalize(client, session, null, retry, warn);
      return DaemonCommandExit.failure;
    }
    warn(`joined ${JSON.stringify(group)} as ${session.nodeId}:${session.pid} on ${socketPath}`);
    void client.closed.then((reason) => finish({ kind: 'closed', message: reason === null ? 'closed' : `${reason.message} (${reason.code})` }));
    const timer = options.timeoutMs === undefined ? null : setTimeout(() => finish({ kind: 'timeout' }), options.timeoutMs);
    const end = await ended;
    if (timer !== null) clearTimeout(timer);
    switch (end.kind) {
      case 'count':
        await leaveAndFinalize(client, session, group, retry, warn);
        return DaemonCommandExit.ok;
      case 'timeout':
        await leaveAndFinalize(client, session, group, retry, warn);
        if (options.count === undefined) return DaemonCommandExit.ok;
        warn(`timed out after ${options.timeoutMs} ms with ${deliveries} of ${options.count} deliveries`);
        return DaemonCommandExit.failure;
      case 'closed':
        warn(`the connection to carillond ended after ${deliveries} deliveries: ${end.message}`);
        return DaemonCommandExit.failure;
    }
  });
}

// -------------------------------------------------------------------------------------
// cpg verify
//
// A verify message (all integers u32 big-endian):
//   0  magic "CVF1"
//   4  nodeid of the sender        8  pid of the sender
//  12  seq (1..total)              16 total (messages this sender sends)
//  20  payload length              24 SHA-256 over bytes 0..23 and the payload (32 bytes)
//  56  payload (random bytes)
// Every delivery is checked: the layout (malformed), the hash, that the header names the
// delivering process (sender), and per sender the seq stream: a seq seen before is a
// duplicate, one below the highest seen so far a reorder (it arrived late), one above
// the next expected a gap. Loss is counted at the end: seqs of 1..total never delivered.
// The order digest is SHA-256 over (nodeid, pid, SHA-256 of the payload) of every
// delivery in delivery order: nodes that delivered the same messages in the same total
// order print the same digest.

export const VERIFY_MAGIC = 0x43564631; // "CVF1"
export const VERIFY_HEADER_BYTES = 56;

export interface VerifyMessage {
  nodeId: number;
  pid: number;
  seq: number;
  total: number;
  payload: Uint8Array;
}

function verifyHash(header: Uint8Array, payload: Uint8Array): Buffer {
  return createHash('sha256').update(header.subarray(0, 24)).update(payload).digest();
}

export function encodeVerifyMessage(message: VerifyMessage): Uint8Array {
  const bytes = new Uint8Array(VERIFY_HEADER_BYTES + message.payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, VERIFY_MAGIC);
  view.setUint32(4, message.nodeId);
  view.setUint32(8, message.pid);
  view.setUint32(12, message.seq);
  view.setUint32(16, message.total);
  view.setUint32(20, message.payload.length);
  bytes.set(message.payload, VERIFY_HEADER_BYTES);
  bytes.set(verifyHash(bytes, message.payload), 24);
  return bytes;
}

/** A verify message, or why the bytes are not one ('hash' when only the hash disagrees). */
export function decodeVerifyMessage(bytes: Uint8Array): { ok: true; message: VerifyMessage } | { ok: false; kind: 'malformed' | 'hash'; detail: string } {
  if (bytes.length < VERIFY_HEADER_BYTES) return { ok: false, kind: 'malformed', detail: `${bytes.length} bytes, shorter than the ${VERIFY_HEADER_BYTES}-byte header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== VERIFY_MAGIC) return { ok: false, kind: 'malformed', detail: `bad magic 0x${view.getUint32(0).toString(16).padStart(8, '0')}` };
  const length = view.getUint32(20);
  if (length !== bytes.length - VERIFY_HEADER_BYTES) return { ok: false, kind: 'malformed', detail: `payload length ${length} but ${bytes.length - VERIFY_HEADER_BYTES} bytes follow the header` };
  const payload = bytes.subarray(VERIFY_HEADER_BYTES);
  if (!Buffer.from(verifyHash(bytes, payload)).equals(Buffer.from(bytes.subarray(24, VERIFY_HEADER_BYTES)))) {
    return { ok: false, kind: 'hash', detail: 'SHA-256 does not match the header and payload' };
  }
  const seq = view.getUint32(12);
  const total = view.getUint32(16);
  if (seq < 1 || seq > total) return { ok: false, kind: 'malformed', detail: `seq ${seq} outside 1..${total}` };
  return { ok: true, message: { nodeId: view.getUint32(4), pid: view.getUint32(8), seq, total, payload } };
}

export const VerifyErrorKinds = ['malformed', 'hash', 'sender', 'loss', 'duplicate', 'reorder'] as const;
export type VerifyErrorKind = (typeof VerifyErrorKinds)[number];

/** A problem seen at one delivery (loss is only known at the end; a gap announces it). */
export interface VerifyProblem {
  kind: VerifyErrorKind | 'gap';
  nodeId: number;
  pid: number;
  seq: number | null;
  detail: string;
}

interface SenderState {
  nodeId: number;
  pid: number;
  total: number;
  seen: Set<number>;
  highest: number;
  deliveries: number;
}

export interface VerifySenderSummary {
  nodeId: number;
  pid: number;
  /** Distinct messages delivered. */
  received: number;
  expected: number;
  /** Up to 20 seqs never delivered. */
  missing: number[];
}

export interface VerifySummary {
  deliveries: number;
  senders: VerifySenderSummary[];
  errors: Record<VerifyErrorKind, number>;
  errorCount: number;
  orderDigest: string;
}

/** The receiving half of `cpg verify`: feed it every delivery of the group, in order. */
export class CpgVerifier {
  private readonly senders = new Map<string, SenderState>();
  private readonly counts: Record<VerifyErrorKind, number> = { malformed: 0, hash: 0, sender: 0, loss: 0, duplicate: 0, reorder: 0 };
  private readonly digest = createHash('sha256');
  private deliveries = 0;

  /** Checks one delivery; returns the problems it shows (gap notices included). */
  deliver(nodeId: number, pid: number, bytes: Uint8Array): VerifyProblem[] {
    this.deliveries++;
    const id = new Uint8Array(8);
    new DataView(id.buffer).setUint32(0, nodeId);
    new DataView(id.buffer).setUint32(4, pid);
    this.digest.update(id).update(createHash('sha256').update(bytes).digest());
    const decoded = decodeVerifyMessage(bytes);
    if (!decoded.ok) {
      this.counts[decoded.kind]++;
      return [{ kind: decoded.kind, nodeId, pid, seq: null, detail: decoded.detail }];
    }
    const m = decoded.message;
    if (m.nodeId !== nodeId || m.pid !== pid) {
      this.counts.sender++;
      return [{ kind: 'sender', nodeId, pid, seq: m.seq, detail: `the message says it comes from ${m.nodeId}:${m.pid}` }];
    }
    const key = `${nodeId}:${pid}`;
    let state = this.senders.get(key);
    if (state === undefined) {
      state = { nodeId, pid, total: m.total, seen: new Set(), highest: 0, deliveries: 0 };
      this.senders.set(key, state);
    } else if (state.total !== m.total) {
      this.counts.malformed++;
      return [{ kind: 'malformed', nodeId, pid, seq: m.seq, detail: `total ${m.total} differs from the sender's earlier ${state.total}` }];
    }
    state.deliveries++;
    if (state.seen.has(m.seq)) {
      this.counts.duplicate++;
      return [{ kind: 'duplicate', nodeId, pid, seq: m.seq, detail: `seq ${m.seq} delivered again` }];
    }
    state.seen.add(m.seq);
    const problems: VerifyProblem[] = [];
    if (m.seq < state.highest) {
      this.counts.reorder++;
      problems.push({ kind: 'reorder', nodeId, pid, seq: m.seq, detail: `seq ${m.seq} delivered after seq ${state.highest}` });
    } else if (m.seq > state.highest + 1) {
      const first = state.highest + 1;
      const last = m.seq - 1;
      problems.push({ kind: 'gap', nodeId, pid, seq: m.seq, detail: `seq ${m.seq} delivered, ${first === last ? `seq ${first}` : `seqs ${first}..${last}`} missing so far` });
    }
    state.highest = Math.max(state.highest, m.seq);
    return problems;
  }

  /** Whether `sender` (nodeid:pid) had all its messages delivered. */
  isSenderComplete(nodeId: number, pid: number): boolean {
    const state = this.senders.get(`${nodeId}:${pid}`);
    return state !== undefined && state.seen.size === state.total;
  }

  /** At least `senders` senders are complete and no sender seen is incomplete. */
  isComplete(senders: number): boolean {
    const states = [...this.senders.values()];
    return states.length >= senders && states.every((s) => s.seen.size === s.total);
  }

  summary(): VerifySummary {
    const senders: VerifySenderSummary[] = [];
    let loss = 0;
    const states = [...this.senders.values()].sort((a, b) => a.nodeId - b.nodeId || a.pid - b.pid);
    for (const s of states) {
      const missing: number[] = [];
      for (let seq = 1; seq <= s.total && missing.length < 20; seq++) if (!s.seen.has(seq)) missing.push(seq);
      loss += s.total - s.seen.size;
      senders.push({ nodeId: s.nodeId, pid: s.pid, received: s.seen.size, expected: s.total, missing });
    }
    const errors = { ...this.counts, loss };
    const errorCount = VerifyErrorKinds.reduce((n, kind) => n + errors[kind], 0);
    return { deliveries: this.deliveries, senders, errors, errorCount, orderDigest: this.digest.copy().digest('hex') };
  }
}

export function formatVerifyProblem(problem: VerifyProblem): string {
  return `${problem.kind === 'gap' ? 'GAP' : 'ERROR'} ${problem.kind === 'gap' ? '' : `${problem.kind} `}from=${problem.nodeId}:${problem.pid}${problem.seq === null ? '' : ` seq=${problem.seq}`}: ${problem.detail}`;
}

export interface VerifyRunInfo {
  group: string;
  nodeId: number;
  pid: number;
  sent: number;
  count: number;
  /** Every sender's messages were delivered (K senders at least). */
  complete: boolean;
  timedOut: boolean;
  /** Why sending stopped early, if it did. */
  sendError: string | null;
}

/** The text summary of `cpg verify`. */
export function formatVerifySummary(info: VerifyRunInfo, summary: VerifySummary): string[] {
  const lines = [
    `verify ${JSON.stringify(info.group)} as ${info.nodeId}:${info.pid}: sent ${info.sent} of ${info.count}, ${summary.deliveries} deliveries from ${summary.senders.length} sender${summary.senders.length === 1 ? '' : 's'}`,
  ];
  for (const s of summary.senders) {
    const missing = s.received === s.expected ? '' : `, missing ${s.missing.join(',')}${s.expected - s.received > s.missing.length ? ',...' : ''}`;
    lines.push(`  sender ${s.nodeId}:${s.pid} received ${s.received} of ${s.expected}${missing}`);
  }
  const errors = VerifyErrorKinds.filter((kind) => summary.errors[kind] > 0).map((kind) => `${kind} ${summary.errors[kind]}`);
  lines.push(`errors: ${errors.length === 0 ? 'none' : errors.join(', ')}`);
  lines.push(`order digest: ${summary.orderDigest} (${summary.deliveries} deliveries)`);
  lines.push(verifyPassed(info, summary) ? 'PASS' : 'FAIL');
  return lines;
}

function verifyPassed(info: VerifyRunInfo, summary: VerifySummary): boolean {
  return summary.errorCount === 0 && info.complete && info.sendError === null && info.sent === info.count;
}

export interface CpgVerifyOptions {
  count: number;
  size: number;
  intervalMs: number;
  /** Wait for this many group members before sending; done when this many senders are complete. */
  senders: number;
  timeoutMs: number;
  json: boolean;
  pid?: number;
  retry?: CpgRetryPolicy;
}

export const CpgVerifyDefaults = { count: 100, size: 64, intervalMs: 0, senders: 1, timeoutMs: 60_000 } as const;

/** Ends the sending side of `cpg verify` early, with the reason. */
class VerifyStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyStop';
  }
}

/** complete; timeout; closed: the connection ended; stopped: sending failed. */
type VerifyEnd = 'complete' | 'timeout' | 'closed' | 'stopped';

export async function runCpgVerify(socketPath: string, group: string, options: CpgVerifyOptions, io: CommandIo): Promise<number> {
  const name = 'cpg verify';
  const groupProblem = groupNameProblem(group);
  if (groupProblem !== null) {
    io.err(`carillon ${name}: ${groupProblem}`);
    return DaemonCommandExit.usage;
  }
  const sizeMax = mcastPayloadBytesMax(group) - VERIFY_HEADER_BYTES;
  if (options.size > sizeMax) {
    io.err(`carillon ${name}: --size ${options.size} is too large: over IPC a CPG message to this group carries at most ${sizeMax} payload bytes after the ${VERIFY_HEADER_BYTES}-byte header`);
    return DaemonCommandExit.usage;
  }
  const retry = options.retry ?? DefaultCpgRetry;
  return withDaemon(name, socketPath, io, async (client) => {
    const note = (text: string): void => io.err(`carillon ${name}: ${text}`);
    const verifier = new CpgVerifier();
    const { ended, finish, isDone } = ending<VerifyEnd>();
    let members = 0;
    let memberWaiter: (() => void) | null = null;
    let sendingDone = false;
    const checkComplete = (): void => {
      if (sendingDone && verifier.isComplete(options.senders)) finish('complete');
    };
    const onEvent = (event: CpgHandleEventJson): void => {
      if (isDone() || event.event === 'totem-confchg' || event.group !== group) return;
      if (event.event === 'confchg') {
        members = event.members.length;
        if (members >= options.senders && memberWaiter !== null) memberWaiter();
        return;
      }
      for (const problem of verifier.deliver(event.nodeId, event.pid, bytesOfHex(event.payloadHex))) {
        if (options.json) io.err(`carillon ${name}: ${formatVerifyProblem(problem)}`);
        else io.out(formatVerifyProblem(problem));
      }
      checkComplete();
    };
    let session: CpgSession;
    try {
      session = await openSession(client, options.pid ?? process.pid, onEvent);
    } catch (e) {
      return reportCallError(name, e, io);
    }
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs);
    let connectionEnded = false;
    void client.closed.then(() => {
      connectionEnded = true;
      finish('closed');
    });
    let joined = false;
    let sent = 0;
    let sendError: string | null = null;
    try {
      const join = await withRetry(() => client.call('cpg.join', { handle: session.handle, group }).then((r) => r.result), ['try-again', 'full'], retry, (result, n, delay) =>
        note(`join answered ${result}; retry ${n} in ${delay} ms`),
      );
      if (join.result !== 'queued') throw new VerifyStop(`cannot join ${JSON.stringify(group)}: ${joinFailure(join.result, group, session)}`);
      joined = true;
      note(`joined ${JSON.stringify(group)} as ${session.nodeId}:${session.pid}; waiting for ${options.senders} member${options.senders === 1 ? '' : 's'}`);
      if (members < options.senders) {
        await Promise.race([
          new Promise<void>((resolve) => {
            memberWaiter = resolve;
          }),
          ended,
        ]);
      }
      if (isDone()) throw new VerifyStop(connectionEnded ? 'the connection to carillond ended' : `the group never had ${options.senders} members (it has ${members})`);
      note(`${members} members: sending ${options.count} messages of ${options.size} bytes`);
      for (let seq = 1; seq <= options.count && !isDone(); seq++) {
        if (seq > 1 && options.intervalMs > 0) await sleep(options.intervalMs);
        const message = encodeVerifyMessage({ nodeId: session.nodeId, pid: session.pid, seq, total: options.count, payload: new Uint8Array(randomBytes(options.size)) });
        const payloadHex = bytesToHex(message);
        const mcast = await withRetry(() => client.call('cpg.mcast', { handle: session.handle, group, payloadHex }).then((r) => r.result), ['try-again', 'full'], retry, () => undefined);
        if (mcast.result !== 'queued') throw new VerifyStop(`message ${seq}: carillond answered ${mcast.result}${mcast.retries > 0 ? ` after ${mcast.retries} retries` : ''}`);
        sent++;
      }
    } catch (e) {
      if (e instanceof VerifyStop) sendError = e.message;
      else if (e instanceof IpcClientError) sendError = cpgErrorText(e);
      else throw e;
    }
    sendingDone = true;
    if (sendError === null) checkComplete();
    else finish('stopped');
    const end = await ended;
    clearTimeout(timer);
    if (!connectionEnded) await leaveAndFinalize(client, session, joined ? group : null, retry, note);
    if (sendError !== null) note(sendError);
    if (end === 'timeout') note(`timed out after ${options.timeoutMs} ms before every sender's messages were delivered`);
    if (end === 'closed') note('the connection to carillond ended before every sender\'s messages were delivered');
    const info: VerifyRunInfo = {
      group,
      nodeId: session.nodeId,
      pid: session.pid,
      sent,
      count: options.count,
      complete: end === 'complete',
      timedOut: end === 'timeout',
      sendError,
    };
    const summary = verifier.summary();
    if (options.json) {
      io.out(JSON.stringify({ ...info, ...summary, ok: verifyPassed(info, summary) }));
    } else {
      for (const line of formatVerifySummary(info, summary)) io.out(line);
    }
    return verifyPassed(info, summary) ? DaemonCommandExit.ok : DaemonCommandExit.failure;
  });
}

// -------------------------------------------------------------------------------------
// Help texts and registration

const LIST_HELP = `
Lists the CPG groups of the cluster and their member processes, as
corosync-cpgtool does:

  Group Name\t       PID\t   Node ID
  asterisk
  \t\t      4321\t         1 (10.0.0.1)
  \t\t      5522\t         2 (10.0.0.2)

Group names are printed with unprintable bytes as \\xNN and '\\' as '\\\\'
unless -e is given. The addresses are the node's nodelist addresses. -n prints
only the group names, one per line; -d C prints cpgtool's delimited form
instead (GRP_NAME C PID C NODEID, one line per member; with -n the names
followed by C on one line).

--json prints one array: [{ group, members: [{ pid, nodeId }] }].

EXAMPLES
  carillon cpg list
  carillon cpg list -n
  carillon cpg list -d , | tail -n +2
  carillon cpg list --json | jq -r '.[] | select(.group == "asterisk") | .members | length'

EXIT STATUS
  0   ok
  1   the daemon answered with an error (for instance: it runs no CPG service)
  2   usage error
  3   carillond is unreachable`;

const SEND_HELP = `
Joins GROUP as a CPG process (like testcpg), multicasts every MESSAGE in order
(the whole list --count times, --interval ms apart), then leaves and finalizes.
MESSAGE is UTF-8 text, or hex with --hex; --nul appends a NUL byte to each, as
testcpg sends its lines, for C receivers that print payloads as strings. A
message can be up to about 32 KiB (the IPC request line carries it as hex and
is limited to 64 KiB); larger ones are a usage error. When
carillond answers try-again (sync in progress) or full (send queue full) the
call is retried with an exponential backoff (10 ms doubling up to 1 s, 10
retries), each retry reported on stderr. The last line says what was sent:

  sent 3 of 3 messages to "asterisk" as 1:4321 (0 retries)

--json prints { group, nodeId, pid, sent, total, retries, ok, error? } instead.

EXAMPLES
  carillon cpg send asterisk hello
  carillon cpg send --count 100 --interval 10 test "ping"
  carillon cpg send --hex test 00ff10 deadbeef

EXIT STATUS
  0   every message was queued
  1   the join or a message was refused (or kept meeting backpressure)
  2   usage error (bad hex, bad group name)
  3   carillond is unreachable`;

const LISTEN_HELP = `
Joins GROUP as a CPG process (like testcpg) and prints what it sees, one line
per event, as it happens:

  CONFCHG group="asterisk" members=[1:4321,2:5522] joined=[2:5522(JOIN)] left=[]
  DELIVER from=2:5522 len=5 "hello"
  DELIVER from=2:5522 len=3 hex=00ff10
  TOTEM_CONFCHG ring=1.142 members=[1,2]

Reasons are JOIN, LEAVE, NODEDOWN, NODEUP and PROCDOWN. A payload shows as
JSON-quoted text when it is UTF-8 (one trailing NUL dropped, as C strings),
else as hex. Once joined, a line on stderr says so: start sending after it.
It stops after --count deliveries or --timeout ms, then leaves. --json prints
each event object instead: { event: "deliver", group, nodeId, pid, payloadHex },
{ event: "confchg", group, members, joined, left } (joined and left with
reason and reasonName) or { event: "totem-confchg", ringId, members }.

EXAMPLES
  carillon cpg listen asterisk
  carillon cpg listen --count 10 --timeout 5000 test
  carillon cpg listen --json test | jq -c 'select(.event == "deliver")'

EXIT STATUS
  0   --count deliveries seen (or --timeout elapsed when there is no --count)
  1   --count not reached within --timeout, the join was refused, or the
      daemon closed the connection
  2   usage error
  3   carillond is unreachable`;

const VERIFY_HELP = `
Checks CPG's guarantees end to end, like corosync's cpgverify: run it on
several nodes (or several times on one) with the same GROUP and --senders K.
Each instance joins, waits until the group has K members, multicasts --count
messages of --size random bytes (at most about 32 KiB: the IPC request line
carries them as hex), each carrying its nodeid, pid, seq, total and a SHA-256
of header and payload, and checks every message the group delivers:

  malformed   not a verify message (length, magic, seq outside 1..total)
  hash        the SHA-256 does not match
  sender      the message names another process than the one that sent it
  duplicate   a sender's seq delivered twice
  reorder     a sender's seq delivered after a higher one
  loss        a sender's seq never delivered (counted at the end; a GAP line
              says when a seq skips ahead)

Problems are printed as they happen (ERROR ... / GAP ...). It ends once K
senders (and every sender seen) had all their messages delivered, or at
--timeout, and prints a summary: messages received per sender, errors by kind
and the order digest, a SHA-256 over every delivery (nodeid, pid, payload
hash) in delivery order. Identical digests on several nodes mean they
delivered the same messages in the same total order. Other processes in the
group count as members: give verify a group of its own.

--json prints the summary as one object: { group, nodeId, pid, sent, count,
complete, timedOut, sendError, deliveries, senders: [{ nodeId, pid, received,
expected, missing }], errors: { malformed, hash, sender, loss, duplicate,
reorder }, errorCount, orderDigest, ok } (problems go to stderr).

EXAMPLES
  carillon cpg verify verify-test
  carillon cpg verify --senders 3 --count 1000 --size 1024 verify-test   (on each of 3 nodes)
  carillon cpg verify --senders 3 --json verify-test | jq -r .orderDigest

EXIT STATUS
  0   every message of every sender delivered once, in order, intact
  1   errors, --timeout before completion, or a refused join/mcast
  2   usage error
  3   carillond is unreachable`;

const PID_DESCRIPTION = "the pid the CPG process announces (default: this process's pid)";

/** Adds `carillon cpg list|send|listen|verify` to the program. */
export function registerCpgCommands(program: Command, io: CommandIo, setExitCode: (code: number) => void): void {
  const cpg = program.command('cpg').description('CPG groups: list them, send, listen, verify ordering (like corosync-cpgtool, testcpg, cpgverify)');
  cpg
    .command('list')
    .description('list CPG groups and their members (like corosync-cpgtool)')
    .option('-e', "don't escape unprintable characters in group names")
    .option('-n', 'group names only')
    .option('-d <delimiter>', 'delimited output: GRP_NAME<d>PID<d>NODEID')
    .option('--json', 'one JSON array of { group, members: [{ pid, nodeId }] }')
    .addHelpText('after', LIST_HELP)
    .action(async (flags: { e?: boolean; n?: boolean; d?: string; json?: boolean }, command: Command) => {
      const delimiter = flags.d === undefined || flags.d === '' ? null : flags.d.charAt(0);
      setExitCode(await runCpgList(socketOf(command), { json: flags.json === true, namesOnly: flags.n === true, escape: flags.e !== true, delimiter }, io));
    });
  cpg
    .command('send')
    .description('join a group, multicast messages, leave (like testcpg)')
    .argument('<group>', 'CPG group name')
    .argument('<message...>', 'messages, UTF-8 text (or hex with --hex)')
    .option('--hex', 'messages are hex')
    .option('--nul', 'append a NUL byte to each message, as testcpg does')
    .option('--count <n>', 'send the message list N times', positiveInteger, 1)
    .option('--interval <ms>', 'pause between two messages', nonNegativeInteger, 0)
    .option('--json', 'one JSON object describing what was sent')
    .addOption(new Option('--pid <pid>', PID_DESCRIPTION).argParser(pidValue))
    .addHelpText('after', SEND_HELP)
    .action(async (group: string, messages: string[], flags: { hex?: boolean; nul?: boolean; count: number; interval: number; json?: boolean; pid?: number }, command: Command) => {
      const options: CpgSendOptions = { hex: flags.hex === true, nul: flags.nul === true, count: flags.count, intervalMs: flags.interval, json: flags.json === true };
      if (flags.pid !== undefined) options.pid = flags.pid;
      setExitCode(await runCpgSend(socketOf(command), group, messages, options, io));
    });
  cpg
    .command('listen')
    .description('join a group and print its configuration changes and deliveries (like testcpg)')
    .argument('<group>', 'CPG group name')
    .option('--count <n>', 'stop after N deliveries', positiveInteger)
    .option('--timeout <ms>', 'stop after this many milliseconds', positiveInteger)
    .option('--json', 'one event object per line')
    .addOption(new Option('--pid <pid>', PID_DESCRIPTION).argParser(pidValue))
    .addHelpText('after', LISTEN_HELP)
    .action(async (group: string, flags: { count?: number; timeout?: number; json?: boolean; pid?: number }, command: Command) => {
      const options: CpgListenOptions = { json: flags.json === true };
      if (flags.count !== undefined) options.count = flags.count;
      if (flags.timeout !== undefined) options.timeoutMs = flags.timeout;
      if (flags.pid !== undefined) options.pid = flags.pid;
      setExitCode(await runCpgListen(socketOf(command), group, options, io));
    });
  cpg
    .command('verify')
    .description('send checked messages and verify integrity, per-sender order and total order (like cpgverify)')
    .argument('<group>', 'CPG group name (give verify a group of its own)')
    .option('--count <n>', 'messages this instance sends', positiveInteger, CpgVerifyDefaults.count)
    .option('--size <bytes>', 'random payload bytes per message', nonNegativeInteger, CpgVerifyDefaults.size)
    .option('--interval <ms>', 'pause between two messages', nonNegativeInteger, CpgVerifyDefaults.intervalMs)
    .option('--senders <k>', 'instances taking part: wait for K members, finish when K senders are complete', positiveInteger, CpgVerifyDefaults.senders)
    .option('--timeout <ms>', 'give up after this many milliseconds', positiveInteger, CpgVerifyDefaults.timeoutMs)
    .option('--json', 'the summary as one JSON object')
    .addOption(new Option('--pid <pid>', PID_DESCRIPTION).argParser(pidValue))
    .addHelpText('after', VERIFY_HELP)
    .action(
      async (
        group: string,
        flags: { count: number; size: number; interval: number; senders: number; timeout: number; json?: boolean; pid?: number },
        command: Command,
      ) => {
        const options: CpgVerifyOptions = {
          count: flags.count,
          size: flags.size,
          intervalMs: flags.interval,
          senders: flags.senders,
          timeoutMs: flags.timeout,
          json: flags.json === true,
        };
        if (flags.pid !== undefined) options.pid = flags.pid;
        setExitCode(await runCpgVerify(socketOf(command), group, options, io));
      },
    );
}
