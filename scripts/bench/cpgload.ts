// `tsx scripts/bench/cpgload.ts --socket PATH -m tput|ping|pong|watch [cpgload's options]`:
// the Carillon-side twin of ../shared/tools/cpgload (the C libcpg client the corosync
// baseline was measured with), over carillond's IPC with the typed CpgClient
// (src/client/cpg-client.ts). Same modes, same options, same message header
// (scripts/bench/cpgload-header.ts) and the same RESULT / LAT / watch lines
// (scripts/bench/result-line.ts), so the benchmark (scripts/bench/run.ts) drives and
// reads both alike, and a mixed group of both clients interoperates.
//
//   tput   join -g, wait for -n members, then (with -S) multicast -s byte messages for -t
//          seconds and an END marker; every instance counts DATA deliveries and exits
//          after END markers from -e senders. One RESULT line.
//   ping   -c PINGs of -s bytes one at a time (after 10 unrecorded warm-ups): waits for
//          its own delivery (self latency) and a PONG from each other member (round trip;
//          the PONG carries the responder's delivery time, so one-way too). LAT lines.
//   pong   answers every foreign PING with a PONG, until SIGINT/SIGTERM.
//   watch  timestamped START / CONFCHG / TOTEM / DELIVER lines, until SIGINT/SIGTERM.
//
// Flow control (tput): at most -w mcasts (default 32) are outstanding as promises; the
// CpgClient keeps them in call order and itself retries, with backoff, while carillond
// answers try-again / full / busy, as cpgload retries CS_ERR_TRY_AGAIN. Those answers are
// counted (try_again=) by observing the client's IPC calls. Timestamps: ts_ns and the
// latencies use process.hrtime.bigint() (CLOCK_MONOTONIC, shared with the C client); the
// watch stamps are wall-clock seconds like cpgload's CLOCK_REALTIME ones.
// Exit status: 0 done, 1 a CPG/IPC failure, 2 bad arguments or a timeout.

import { parseArgs } from 'node:util';
import { CpgClient, type CpgConfchgEvent, type CpgDeliverEvent, type CpgTotemConfchgEvent } from '../../src/client/cpg-client';
import { CPGLOAD_HEADER_BYTES, CpgloadOffset, CpgloadType, cpgloadBuffer, readCpgloadHeader, writeCpgloadHeader } from './cpgload-header';
import { formatLatLine, formatResultLine } from './result-line';

const USAGE =
  'usage: cpgload.ts --socket PATH -m tput|ping|pong|watch [-g group] [-n members] [-s size] [-t seconds] [-S]\n' +
  '                  [-e senders] [-c count] [-i interval_ms] [-w window] [-L label] [-T timeout_s]\n';
/** Distinct senders tracked for gap detection (cpgload's MAXSRC). */
const SOURCES_MAX = 64;
const WARMUP_PINGS = 10;
const PING_TIMEOUT_MS = 10_000;

function usage(message: string): never {
  process.stderr.write(`cpgload.ts: ${message}\n${USAGE}`);
  process.exit(2);
}

function fail(message: string, code = 1): never {
  process.stderr.write(`cpgload.ts: ${message}\n`);
  process.exit(code);
}

function numberOption(text: string | undefined, fallback: number, name: string, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) usage(`-${name} must be a number >= ${min}, not ${text}`);
  return n;
}

const mono = (): bigint => process.hrtime.bigint();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Wall-clock seconds.nanoseconds, cpgload's stamp() (sub-millisecond from performance). */
function stamp(): string {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

const REASONS: Readonly<Record<number, string>> = { 1: 'join', 2: 'leave', 3: 'nodedown', 4: 'nodeup', 5: 'procdown' };

function addresses(list: ReadonlyArray<{ nodeId: number; pid: number; reason?: number }>): string {
  return `[${list.map((a) => `${a.nodeId}:${a.pid}:${REASONS[a.reason ?? 0] ?? 'undef'}`).join(',')}]`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        socket: { type: 'string' },
        m: { type: 'string', short: 'm' },
        g: { type: 'string', short: 'g' },
        n: { type: 'string', short: 'n' },
        s: { type: 'string', short: 's' },
        t: { type: 'string', short: 't' },
        S: { type: 'boolean', short: 'S' },
        e: { type: 'string', short: 'e' },
        c: { type: 'string', short: 'c' },
        i: { type: 'string', short: 'i' },
        w: { type: 'string', short: 'w' },
        L: { type: 'string', short: 'L' },
        T: { type: 'string', short: 'T' },
      },
      strict: true,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const socket = values.socket ?? process.env['CARILLON_SOCKET'];
  if (socket === undefined || socket === '') usage('--socket PATH (or CARILLON_SOCKET) is required');
  const mode = values.m ?? 'tput';
  if (!['tput', 'ping', 'pong', 'watch'].includes(mode)) usage(`unknown mode ${mode}`);
  const group = values.g ?? 'cpgload';
  const nExpect = numberOption(values.n, 3, 'n', 1);
  const size = Math.max(CPGLOAD_HEADER_BYTES, numberOption(values.s, 1024, 's', 0));
  const durationS = numberOption(values.t, 5, 't', 0);
  const isSender = values.S === true;
  const nSenders = numberOption(values.e, 1, 'e', 0);
  const count = numberOption(values.c, 1000, 'c', 0);
  const intervalMs = numberOption(values.i, 0, 'i', 0);
  const window = numberOption(values.w, 32, 'w', 1);
  const label = values.L ?? '';
  const timeoutS = numberOption(values.T, 120, 'T', 0);

  let stopping = false;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onSignal = (): void => {
    stopping = true;
    notify();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  /** Waits until `done()` holds, re-checking at every event (notify) and every 100 ms; false at the deadline or a signal. */
  const until = async (done: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (stopping || Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now())));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return true;
  };

  // The daemon may still be starting: retry the connection for a while, as cpgload retries cpg_model_initialize.
  const connectDeadline = Date.now() + timeoutS * 1000;
  let client: CpgClient | null = null;
  for (;;) {
    try {
      client = await CpgClient.connect(socket, { pid: process.pid, clientName: `cpgload.ts ${mode}`, timeoutMs: 10_000, retry: { timeoutMs: Math.max(10_000, timeoutS * 1000) } });
      break;
    } catch (error) {
      if (stopping || Date.now() > connectDeadline) fail(`connecting to ${socket} failed: ${error instanceof Error ? error.message : String(error)}`);
      await sleep(50);
    }
  }
  const cpg = client;

  // try_again: every try-again / full / busy answer to an mcast, as the client retries it.
  let tryAgain = 0;
  const ipc = cpg.ipc as unknown as { call: (method: string, ...rest: unknown[]) => Promise<unknown> };
  const call = ipc.call.bind(ipc);
  ipc.call = async (method: string, ...rest: unknown[]): Promise<unknown> => {
    const answer = await call(method, ...rest);
    if (method === 'cpg.mcast') {
      const result = (answer as { result?: unknown }).result;
      if (result === 'try-again' || result === 'full' || result === 'busy') tryAgain += 1;
    }
    return answer;
  };

  const me = { nodeId: cpg.nodeId, pid: cpg.pid };
  let members = 0;
  // tput accounting
  let rxMsgs = 0;
  let rxBytes = 0;
  let rxGaps = 0;
  let tFirst = 0n;
  let tLast = 0n;
  let endsSeen = 0;
  const sources = new Map<string, bigint>();
  // latency accounting
  const latSelf: number[] = [];
  const latRtt: number[] = [];
  const latOneway: number[] = [];
  let pingWaiting = -1n;
  let selfSeen = false;
  let pongsSeen = 0;
  let mcastFailure: unknown = null;

  const onDeliver = (event: CpgDeliverEvent): void => {
    const t = mono();
    const payload = event.payload;
    if (mode === 'watch') {
      const head = payload.subarray(0, 64);
      const printable = head.every((b) => b >= 32 && b <= 126);
      process.stdout.write(`${stamp()} DELIVER from=${event.nodeId}:${event.pid} len=${payload.length}${printable ? ` text="${head.toString('latin1')}"` : ''}\n`);
      return;
    }
    const h = readCpgloadHeader(payload);
    if (h === null) return;
    switch (h.type) {
      case CpgloadType.data: {
        if (rxMsgs === 0) tFirst = t;
        tLast = t;
        rxMsgs += 1;
        rxBytes += payload.length;
        const key = `${h.nodeId}:${h.pid}`;
        let next = sources.get(key);
        if (next === undefined && sources.size < SOURCES_MAX) next = h.seq;
        if (next !== undefined) {
          if (h.seq !== next) rxGaps += 1;
          sources.set(key, h.seq + 1n);
        }
        break;
      }
      case CpgloadType.end:
        endsSeen += 1;
        break;
      case CpgloadType.ping:
        if (event.nodeId === me.nodeId && event.pid === me.pid) {
          if (h.seq === pingWaiting && !selfSeen) {
            latSelf.push(Number(t - h.tsNs) / 1e3);
            selfSeen = true;
          }
        } else if (mode === 'pong') {
          const reply = Buffer.from(payload);
          writeCpgloadHeader(reply, { ...h, type: CpgloadType.pong, ts2Ns: t, destNodeId: h.nodeId, destPid: h.pid, nodeId: me.nodeId, pid: me.pid });
          cpg.mcast(group, reply).catch((error: unknown) => {
            mcastFailure ??= error;
          });
        }
        break;
      case CpgloadType.pong:
        if (h.destNodeId === me.nodeId && h.destPid === me.pid && h.seq === pingWaiting) {
          latRtt.push(Number(t - h.tsNs) / 1e3);
          latOneway.push(Number(h.ts2Ns - h.tsNs) / 1e3);
          pongsSeen += 1;
        }
        break;
      default:
        break;
    }
    notify();
  };
  const onConfchg = (event: CpgConfchgEvent): void => {
    if (event.group !== group) return;
    members = event.members.length;
    if (mode === 'watch') {
      process.stdout.write(`${stamp()} CONFCHG n=${event.members.length} members=${addresses(event.members)} left=${addresses(event.left)} joined=${addresses(event.joined)}\n`);
    }
    notify();
  };
  const onTotem = (event: CpgTotemConfchgEvent): void => {
    if (mode !== 'watch') return;
    process.stdout.write(`${stamp()} TOTEM ring=${event.ringId.rep}.${BigInt(event.ringId.seq).toString(16)} n=${event.members.length} members=[${event.members.join(',')}]\n`);
  };
  cpg.on('deliver', onDeliver);
  cpg.on('confchg', onConfchg);
  cpg.on('totem-confchg', onTotem);
  void cpg.ipc.closed.then((reason) => {
    if (reason !== null && !stopping) fail(`the connection to carillond ended: ${reason.message}`);
  });

  await cpg.join(group);

  const waitMembers = async (): Promise<void> => {
    if (!(await until(() => members >= nExpect, timeoutS * 1000)) && !stopping) fail(`timeout waiting for ${nExpect} members`, 2);
  };

  if (mode === 'watch') {
    process.stdout.write(`${stamp()} START nodeid=${me.nodeId} pid=${me.pid} group=${group}\n`);
    await until(() => false, Number.MAX_SAFE_INTEGER / 2);
  } else if (mode === 'pong') {
    await until(() => mcastFailure !== null, Number.MAX_SAFE_INTEGER / 2);
  } else if (mode === 'tput') {
    await waitMembers();
    let sent = 0;
    let ts0 = 0n;
    let ts1 = 0n;
    if (isSender) {
      const buf = cpgloadBuffer(size);
      writeCpgloadHeader(buf, { type: CpgloadType.data, nodeId: me.nodeId, pid: me.pid, seq: 0n, tsNs: 0n, ts2Ns: 0n, destNodeId: 0, destPid: 0 });
      let inFlight = 0;
      let seq = 0n;
      const settled = (): void => {
        inFlight -= 1;
        notify();
      };
      ts0 = mono();
      const tEnd = ts0 + BigInt(Math.round(durationS * 1e9));
      while (!stopping && mcastFailure === null) {
        const t = mono();
        if (t >= tEnd) break;
        if (inFlight >= window) {
          await until(() => inFlight < window || mcastFailure !== null, timeoutS * 1000);
          continue;
        }
        buf.writeBigUInt64LE(seq, CpgloadOffset.seq);
        buf.writeBigUInt64LE(t, CpgloadOffset.tsNs);
        seq += 1n;
        inFlight += 1;
        // mcast copies the bytes before it returns, so the buffer can be reused at once.
        cpg.mcast(group, buf).then(
          () => {
            sent += 1;
            settled();
          },
          (error: unknown) => {
            mcastFailure ??= error;
            settled();
          },
        );
      }
      await until(() => inFlight === 0, timeoutS * 1000);
      ts1 = mono();
      if (mcastFailure !== null) fail(`cpg mcast failed: ${mcastFailure instanceof Error ? mcastFailure.message : String(mcastFailure)}`);
      buf.writeUInt32LE(CpgloadType.end, CpgloadOffset.type);
      buf.writeBigUInt64LE(BigInt(sent), CpgloadOffset.seq);
      await cpg.mcast(group, buf.subarray(0, CPGLOAD_HEADER_BYTES));
    }
    await until(() => endsSeen >= nSenders, (durationS + timeoutS) * 1000);
    const windowS = tLast > tFirst ? Number(tLast - tFirst) / 1e9 : 0;
    process.stdout.write(
      `${formatResultLine(label, {
        nodeId: me.nodeId,
        sender: isSender,
        size,
        rxMsgs,
        rxBytes,
        windowS,
        gaps: rxGaps,
        sources: sources.size,
        endsSeen,
        endsExpected: nSenders,
        sent,
        sendS: Number(ts1 - ts0) / 1e9,
        tryAgain,
      })}\n`,
    );
  } else {
    await waitMembers();
    const peers = members - 1;
    const buf = cpgloadBuffer(size);
    writeCpgloadHeader(buf, { type: CpgloadType.ping, nodeId: me.nodeId, pid: me.pid, seq: 0n, tsNs: 0n, ts2Ns: 0n, destNodeId: 0, destPid: 0 });
    for (let k = 0; k < count + WARMUP_PINGS && !stopping; k += 1) {
      if (k === WARMUP_PINGS) {
        latSelf.length = 0;
        latRtt.length = 0;
        latOneway.length = 0;
      }
      selfSeen = false;
      pongsSeen = 0;
      pingWaiting = BigInt(k);
      buf.writeBigUInt64LE(pingWaiting, CpgloadOffset.seq);
      buf.writeBigUInt64LE(mono(), CpgloadOffset.tsNs);
      await cpg.mcast(group, buf);
      if (!(await until(() => selfSeen && pongsSeen >= peers, PING_TIMEOUT_MS)) && !stopping) process.stderr.write(`cpgload.ts: ping ${k} timed out\n`);
      if (intervalMs > 0) await sleep(intervalMs);
    }
    process.stdout.write(`${formatLatLine(label, 'self', size, latSelf)}\n`);
    process.stdout.write(`${formatLatLine(label, 'oneway', size, latOneway)}\n`);
    process.stdout.write(`${formatLatLine(label, 'rtt', size, latRtt)}\n`);
  }
  if (mcastFailure !== null && mode !== 'tput') process.stderr.write(`cpgload.ts: cpg mcast failed: ${mcastFailure instanceof Error ? mcastFailure.message : String(mcastFailure)}\n`);
  stopping = true;
  await cpg.close().catch(() => undefined);
  process.exit(mcastFailure === null ? 0 : 1);
}

main().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
