// `carillon wire decode FILE.pcap [--json] [--absolute-time]`: prints every UDP datagram
// of a classic pcap capture as a decoded corosync 3.1.7 totemsrp message
// (corosync-wire.md §1–§2), and for MCASTs the totempg packet (§5.1) and the groups
// (§5.4) of the messages inside, with a one-word summary of well-known exec messages
// (§6–§8). It is the hand tool for comparing Carillon's traffic with real corosync's.
//
// Messages cut into several totempg packets only show their group header in the first
// piece, so the command first reassembles per sender across the whole capture, in ring
// order (ring, then seq) and with one copy per (ring, seq) — a bridge capture shows each
// "multicast" once per destination plus retransmissions. This is a display
// reassembly, deliberately more forgiving than corosync's (§5.3): a continuation whose
// start is not in the capture is labelled as such instead of poisoning the sender's
// stream.
//
// Exit status: 0 all datagrams decoded; 1 some datagram (or its totempg content, or a
// capture record) could not be decoded — the others are still printed; 2 usage error,
// unreadable file or not a pcap.

import * as fs from 'node:fs';
import { type PcapProblem, type UdpDatagram, readPcap } from '../pcap-reader';
import { decodeMessage } from '../../totem/wire/codec';
import type { DecodeError } from '../../totem/wire/decode-error';
import { type Mcast, type RingId, type TotemMessage, ringIdKey } from '../../totem/wire/messages';
import { type PgPacket, decodePgPacket } from '../../totem/pg/packet';
import { decodeGroupMessage } from '../../totem/pg/groups';

/** Where the command writes: one call per line, without the newline. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export interface WireDecodeOptions {
  json?: boolean;
  absoluteTime?: boolean;
}

export const WireDecodeExit = { ok: 0, decodeFailed: 1, usage: 2 } as const;

/** Bytes of a payload shown as hex in --json output before it is truncated. */
const JSON_HEX_BYTES_MAX = 64;

/** Reads FILE and decodes it; see the file header for output and exit status. */
export function wireDecode(file: string, options: WireDecodeOptions, io: CommandIo): number {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    // Not `instanceof Error`: fs errors can come from another realm (e.g. under jest).
    const message = typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
    io.err(`carillon wire decode: cannot read ${file}: ${message}`);
    return WireDecodeExit.usage;
  }
  return decodeCapture(bytes, file, options, io);
}

/** The command on bytes already read (`name` is used in messages only). */
export function decodeCapture(bytes: Uint8Array, name: string, options: WireDecodeOptions, io: CommandIo): number {
  // A plain view, so that payload slices are not Buffers (whose toJSON bypasses ours).
  const pcap = readPcap(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (!pcap.ok) {
    io.err(`carillon wire decode: ${name}: ${pcap.error.message}`);
    return WireDecodeExit.usage;
  }
  const { datagrams, problems } = pcap.value;
  const decoded = datagrams.map((d) => ({ d, r: decodeMessage(d.payload) }));
  const pg = annotateMcasts(decoded);
  const t0 = datagrams[0]?.timeSec ?? 0;
  let failed = 0;
  let p = 0;
  const emitProblemsBefore = (frame: number): void => {
    for (; p < problems.length && (problems[p] as PcapProblem).frame <= frame; p++) {
      const problem = problems[p] as PcapProblem;
      io.out(options.json ? JSON.stringify({ frame: problem.frame, ok: false, error: { code: 'PCAP', message: problem.message } }) : `#${problem.frame} ERROR pcap: ${problem.message}`);
    }
  };
  for (const { d, r } of decoded) {
    emitProblemsBefore(d.frame);
    const line = new DatagramLine(d, t0, options);
    if (!r.ok) {
      failed++;
      io.out(line.error(r.error));
      continue;
    }
    const view = describeMessage(r.value, pg, d.frame);
    if (view.failed) failed++;
    io.out(options.json ? line.json(view.json) : line.text(view.text));
  }
  emitProblemsBefore(Number.POSITIVE_INFINITY);
  if (failed > 0 || problems.length > 0) {
    io.err(
      `carillon wire decode: ${name}: ${failed} of ${datagrams.length} datagrams failed to decode` +
        (problems.length > 0 ? `, ${problems.length} capture records unreadable` : ''),
    );
    return WireDecodeExit.decodeFailed;
  }
  return WireDecodeExit.ok;
}

// ---------------------------------------------------------------------------
// Line framing: where and when, then the message.

class DatagramLine {
  private readonly d: UdpDatagram;
  private readonly t0: number;
  private readonly options: WireDecodeOptions;

  constructor(d: UdpDatagram, t0: number, options: WireDecodeOptions) {
    this.d = d;
    this.t0 = t0;
    this.options = options;
  }

  text(body: string): string {
    const { d } = this;
    const time = this.options.absoluteTime ? isoMicros(d.timeSec) : `+${(d.timeSec - this.t0).toFixed(6)}`;
    return `#${d.frame} ${time} ${endpoint(d.src, d.srcPort)} → ${endpoint(d.dst, d.dstPort)} ${d.payload.byteLength}B ${body}`;
  }

  json(body: Record<string, unknown>): string {
    const { d } = this;
    const head = {
      frame: d.frame,
      time: isoMicros(d.timeSec),
      offset: Number((d.timeSec - this.t0).toFixed(6)),
      src: d.src,
      srcPort: d.srcPort,
      dst: d.dst,
      dstPort: d.dstPort,
      length: d.payload.byteLength,
    };
    return JSON.stringify({ ...head, ...body }, jsonReplacer);
  }

  error(e: DecodeError): string {
    if (this.options.json) {
      return this.json({ ok: false, error: { code: e.code, message: e.message, offset: e.offset ?? null } });
    }
    const at = e.offset === undefined ? '' : ` at byte ${e.offset}`;
    return this.text(`ERROR ${e.code}${at}: ${e.message}`);
  }
}

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** ISO-8601 UTC with microseconds (Date alone only has milliseconds). */
function isoMicros(timeSec: number): string {
  const micros = Math.round(timeSec * 1e6);
  const seconds = Math.floor(micros / 1e6);
  const frac = String(micros - seconds * 1e6).padStart(6, '0');
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) {
    const shown = value.subarray(0, JSON_HEX_BYTES_MAX);
    return { length: value.byteLength, hex: toHex(shown), truncated: shown.byteLength < value.byteLength };
  }
  return value;
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

// ---------------------------------------------------------------------------
// totemsrp messages.

interface MessageView {
  text: string;
  json: Record<string, unknown>;
  /** Some layer inside (totempg, group header, inner MCAST) failed to decode. */
  failed: boolean;
}

const TYPE_NAMES: Record<TotemMessage['type'], string> = {
  'orf-token': 'ORF_TOKEN',
  mcast: 'MCAST',
  'merge-detect': 'MEMB_MERGE_DETECT',
  join: 'MEMB_JOIN',
  'commit-token': 'MEMB_COMMIT_TOKEN',
  'token-hold-cancel': 'TOKEN_HOLD_CANCEL',
};

function ring(r: RingId): string {
  return ringIdKey(r);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function list(ns: readonly number[]): string {
  return `[${ns.join(',')}]`;
}

function describeMessage(m: TotemMessage, pg: McastAnnotations, frame: number): MessageView {
  const head = `${TYPE_NAMES[m.type]} nodeid=${m.nodeId} target=${hex32(m.targetNodeId)}`;
  switch (m.type) {
    case 'orf-token': {
      const rtr = m.rtrList.map((i) => `${ring(i.ringId)}:${i.seq}`).join(',');
      return {
        text:
          `${head} seq=${m.seq} token_seq=${m.tokenSeq} aru=${m.aru} aru_addr=${m.aruAddr} ring=${ring(m.ringId)}` +
          ` backlog=${m.backlog} fcc=${m.fcc} retrans_flg=${m.retransFlg} rtr_list_entries=${m.rtrList.length} rtr=[${rtr}]`,
        json: { ok: true, message: m },
        failed: false,
      };
    }
    case 'mcast':
      return describeMcast(m, pg, frame);
    case 'merge-detect':
      return {
        text: `${head} system_from=${m.systemFrom} ring=${ring(m.ringId)}`,
        json: { ok: true, message: m },
        failed: false,
      };
    case 'join': {
      const leave = m.nodeId === 0 ? ' LEAVE' : '';
      return {
        text:
          `${head}${leave} system_from=${m.systemFrom} ring_seq=0x${m.ringSeq.toString(16)}` +
          ` proc_list_entries=${m.procList.length} failed_list_entries=${m.failedList.length}` +
          ` proc=${list(m.procList)} failed=${list(m.failedList)}`,
        json: { ok: true, leave: m.nodeId === 0, message: m },
        failed: false,
      };
    }
    case 'commit-token': {
      const entries = m.membList
        .map((e, i) => `${m.addr[i]}:{ring=${ring(e.ringId)} aru=${e.aru} high_delivered=${e.highDelivered} received_flg=${e.receivedFlg}}`)
        .join(' ');
      return {
        text:
          `${head} token_seq=${m.tokenSeq} ring=${ring(m.ringId)} retrans_flg=${m.retransFlg} memb_index=${m.membIndex}` +
          ` addr_entries=${m.addr.length} addr=${list(m.addr)} memb=[${entries}]`,
        json: { ok: true, message: m },
        failed: false,
      };
    }
    case 'token-hold-cancel':
      return { text: `${head} ring=${ring(m.ringId)}`, json: { ok: true, message: m }, failed: false };
  }
}

function mcastFields(m: Mcast): string {
  return (
    `MCAST nodeid=${m.nodeId} target=${hex32(m.targetNodeId)} encapsulated=${m.encapsulated} system_from=${m.systemFrom}` +
    ` seq=${m.seq} this_seqno=${m.thisSeqno} ring=${ring(m.ringId)} node_id=${m.nodeIdField} guarantee=${m.guarantee}`
  );
}

function describeMcast(m: Mcast, pg: McastAnnotations, frame: number): MessageView {
  const key = mcastKey(m);
  const first = pg.firstFrame.get(key);
  const copy = first !== undefined && first !== frame ? ` copy_of=#${first}` : '';
  const json: Record<string, unknown> = { ok: true, message: m, ...(copy ? { copyOf: first } : {}) };
  if (m.encapsulated === 1) {
    const inner = decodeMessage(m.payload);
    if (!inner.ok || inner.value.type !== 'mcast') {
      const why = inner.ok ? `a ${inner.value.type}, not an MCAST` : `${inner.error.code}: ${inner.error.message}`;
      json.inner = { ok: false, error: inner.ok ? { code: 'NOT_MCAST', message: why } : inner.error };
      return { text: `${mcastFields(m)}${copy} inner: ERROR ${why}`, json, failed: true };
    }
    const innerView = describePg(pg.packets.get(mcastKey(inner.value)));
    json.inner = { ok: true, message: inner.value, totempg: innerView.json };
    return { text: `${mcastFields(m)}${copy} inner: { ${mcastFields(inner.value)} ${innerView.text} }`, json, failed: innerView.failed };
  }
  const view = describePg(pg.packets.get(key));
  json.totempg = view.json;
  return { text: `${mcastFields(m)}${copy} ${view.text}`, json, failed: view.failed };
}

// ---------------------------------------------------------------------------
// totempg packets and the messages in them.

/** What one packed (partial) message of a totempg packet is. */
type PieceKind =
  | 'whole' // a complete message in this packet
  | 'first' // first piece of a message that continues in the sender's next packet
  | 'middle' // neither first nor last piece
  | 'last' // the piece that completes a fragmented message
  | 'middle-unseen-start' // a middle piece whose earlier pieces are not in the capture
  | 'last-unseen-start'; // a final piece whose earlier pieces are not in the capture

interface PieceInfo {
  index: number;
  length: number;
  kind: PieceKind;
  /** Frame of the first datagram of the first piece (fragmented messages). */
  startFrame?: number;
  /** Pieces so far, this one included (fragmented messages). */
  pieces?: number;
  /** Bytes of the message so far: the whole message for 'whole' and 'last'. */
  messageLength?: number;
  /** Group names, from the message start (absent when the start was not seen). */
  groups?: string[];
  /** One-line summary of a well-known exec message. */
  summary?: string;
  error?: string;
}

type PacketAnnotation = { ok: true; pg: PgPacket; pieces: PieceInfo[] } | { ok: false; error: DecodeError };

interface McastAnnotations {
  packets: Map<string, PacketAnnotation>;
  /** First frame carrying each (ring, seq). */
  firstFrame: Map<string, number>;
}

function mcastKey(m: Mcast): string {
  return `${ringIdKey(m.ringId)}/${m.seq}`;
}

interface SenderAssembly {
  parts: Uint8Array[];
  lastFrag: number;
  startSeen: boolean;
  startFrame: number;
  pieces: number;
}

/**
 * Reassembles every distinct MCAST (encapsulated ones by their inner message) per
 * sender in ring order and records what each packed message is.
 */
function annotateMcasts(decoded: readonly { d: UdpDatagram; r: ReturnType<typeof decodeMessage> }[]): McastAnnotations {
  const firstFrame = new Map<string, number>();
  const unique = new Map<string, { m: Mcast; frame: number }>();
  const ringOrder = new Map<string, number>();
  const note = (m: Mcast, frame: number): void => {
    const key = mcastKey(m);
    if (!firstFrame.has(key)) firstFrame.set(key, frame);
    if (!unique.has(key)) unique.set(key, { m, frame });
    const rk = ringIdKey(m.ringId);
    if (!ringOrder.has(rk)) ringOrder.set(rk, ringOrder.size);
  };
  for (const { d, r } of decoded) {
    if (!r.ok || r.value.type !== 'mcast') continue;
    if (r.value.encapsulated === 1) {
      const inner = decodeMessage(r.value.payload);
      if (inner.ok && inner.value.type === 'mcast' && inner.value.encapsulated === 2) {
        // Only the inner message is reassembled; the outer (ring, seq) is just a wrapper.
        if (!firstFrame.has(mcastKey(r.value))) firstFrame.set(mcastKey(r.value), d.frame);
        note(inner.value, d.frame);
      }
      continue;
    }
    note(r.value, d.frame);
  }
  const ordered = [...unique.values()].sort(
    (a, b) =>
      (ringOrder.get(ringIdKey(a.m.ringId)) as number) - (ringOrder.get(ringIdKey(b.m.ringId)) as number) ||
      a.m.seq - b.m.seq,
  );
  const packets = new Map<string, PacketAnnotation>();
  const senders = new Map<number, SenderAssembly>();
  for (const { m, frame } of ordered) {
    const pg = decodePgPacket(m.payload);
    if (!pg.ok) {
      packets.set(mcastKey(m), pg);
      continue;
    }
    packets.set(mcastKey(m), { ok: true, pg: pg.value, pieces: assemble(senders, m.nodeId, pg.value, frame) });
  }
  return { packets, firstFrame };
}

function assemble(senders: Map<number, SenderAssembly>, sender: number, pg: PgPacket, frame: number): PieceInfo[] {
  const out: PieceInfo[] = [];
  const count = pg.msgLens.length;
  let off = 0;
  for (let i = 0; i < count; i++) {
    const len = pg.msgLens[i] as number;
    const piece = pg.data.subarray(off, off + len);
    off += len;
    const continues = i === 0 && pg.continuation !== 0;
    const continued = i === count - 1 && pg.fragmented !== 0;
    let acc: SenderAssembly;
    const prev = senders.get(sender);
    if (continues && prev !== undefined && prev.lastFrag === pg.continuation) {
      acc = { ...prev, parts: [...prev.parts, piece], pieces: prev.pieces + 1 };
    } else {
      acc = { parts: [piece], lastFrag: 0, startSeen: !continues, startFrame: frame, pieces: 1 };
    }
    const whole = concat(acc.parts);
    let kind: PieceKind;
    if (continued) kind = continues ? (acc.startSeen ? 'middle' : 'middle-unseen-start') : 'first';
    else kind = continues ? (acc.startSeen ? 'last' : 'last-unseen-start') : 'whole';
    const info: PieceInfo = { index: i, length: len, kind };
    if (kind !== 'whole') {
      info.startFrame = acc.startFrame;
      info.pieces = acc.pieces;
    }
    info.messageLength = whole.byteLength;
    if (acc.startSeen) describeGroupMessage(whole, !continued, info);
    out.push(info);
    if (continued) senders.set(sender, { ...acc, lastFrag: pg.fragmented });
  }
  if (pg.fragmented === 0) senders.delete(sender);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Fills groups/summary from a message start; `complete` says whether it is all there. */
function describeGroupMessage(bytes: Uint8Array, complete: boolean, info: PieceInfo): void {
  const g = decodeGroupMessage(bytes);
  if (!g.ok) {
    // A first piece may end inside the group header; only a complete message is wrong.
    if (complete) info.error = `group header: ${g.error.code}: ${g.error.message}`;
    return;
  }
  info.groups = g.value.groups.map(groupText);
  const summary = execSummary(info.groups, g.value.payload);
  if (summary !== undefined) info.summary = summary;
}

function groupText(name: Uint8Array): string {
  let printable = true;
  for (const b of name) if (b < 0x21 || b > 0x7e) printable = false;
  return printable ? String.fromCharCode(...name) : JSON.stringify(new TextDecoder().decode(name));
}

// Exec message names (corosync-wire.md §6.2, §7.1): service id → function names.
const EXEC_NAMES: Record<number, { service: string; fns: readonly string[] }> = {
  0: { service: 'cmap', fns: ['MCAST'] },
  1: { service: 'cfg', fns: ['RINGREENABLE', 'KILLNODE', 'SHUTDOWN', 'RELOAD_CONFIG', 'CRYPTO_RECONFIG'] },
  2: { service: 'cpg', fns: ['PROCJOIN', 'PROCLEAVE', 'JOINLIST', 'MCAST', 'DOWNLIST_OLD', 'DOWNLIST', 'PARTIAL_MCAST'] },
  4: { service: 'pload', fns: ['START', 'MCAST'] },
  5: { service: 'votequorum', fns: ['NODEINFO', 'RECONFIGURE', 'QDEVICE_REG', 'QDEVICE_RECONFIGURE'] },
};
const SYNC_NAMES = ['BARRIER', 'SERVICE_BUILD'];
const CPG_NAME_BYTES_MAX = 128;

/** A short label for group "a" / "sync" messages; works on a partial (first-piece) message. */
function execSummary(groups: readonly string[], p: Uint8Array): string | undefined {
  if (groups.length !== 1 || p.byteLength < 12) return undefined;
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const id = view.getUint32(0, true);
  const size = view.getInt32(8, true);
  if (groups[0] === 'sync') {
    const name = SYNC_NAMES[id] ?? `id=${id}`;
    const ringText = p.byteLength >= 28 ? ` ring=${ringIdKey({ rep: view.getUint32(16, true), seq: view.getBigUint64(20, true) })}` : '';
    return `sync.${name} size=${size}${ringText}`;
  }
  if (groups[0] !== 'a') return undefined;
  const service = EXEC_NAMES[id >>> 16];
  const fn = id & 0xffff;
  const name = service ? `${service.service}.${service.fns[fn] ?? `fn${fn}`}` : `service${id >>> 16}.fn${fn}`;
  let extra = '';
  // cpg PROCJOIN/PROCLEAVE/MCAST carry the group name and the process id (§8.2, §8.3).
  if (id >>> 16 === 2 && (fn === 0 || fn === 1 || fn === 3) && p.byteLength >= 168) {
    const nameLen = Math.min(view.getUint32(16, true), CPG_NAME_BYTES_MAX);
    const cpgGroup = groupText(p.subarray(24, 24 + nameLen));
    extra =
      fn === 3
        ? ` cpg_group=${cpgGroup} pid=${view.getUint32(160, true)} msglen=${view.getUint32(152, true)}`
        : ` cpg_group=${cpgGroup} pid=${view.getUint32(152, true)} reason=${view.getUint32(160, true)}`;
  }
  return `${name} size=${size}${extra}`;
}

function pieceText(p: PieceInfo): string {
  switch (p.kind) {
    case 'whole':
      return '';
    case 'first':
      return ' piece 1, continues';
    case 'middle':
      return ` piece ${p.pieces}, continues, started #${p.startFrame}`;
    case 'last':
      return ` piece ${p.pieces} (last), started #${p.startFrame}, message=${p.messageLength}B`;
    case 'middle-unseen-start':
      return ' continues a message whose start is not in the capture';
    case 'last-unseen-start':
      return ' ends a message whose start is not in the capture';
  }
}

function describePg(a: PacketAnnotation | undefined): { text: string; json: unknown; failed: boolean } {
  if (a === undefined) return { text: 'totempg: (not annotated)', json: null, failed: false };
  if (!a.ok) {
    return { text: `totempg: ERROR ${a.error.code}: ${a.error.message}`, json: { ok: false, error: a.error }, failed: true };
  }
  const { pg, pieces } = a;
  const parts = pieces.map((p) => {
    const groups = p.groups ? ` group=${p.groups.join('+')}` : '';
    const summary = p.summary ? ` ${p.summary}` : '';
    const error = p.error ? ` ERROR ${p.error}` : '';
    return `[${p.index}] ${p.length}B${pieceText(p)}${groups}${summary}${error}`;
  });
  const failed = pieces.some((p) => p.error !== undefined);
  return {
    text:
      `totempg: version=${pg.version} type=${pg.type} fragmented=${pg.fragmented} continuation=${pg.continuation}` +
      ` msg_count=${pg.msgLens.length} msg_len=${list(pg.msgLens)} | ${parts.join(' | ')}`,
    json: {
      ok: true,
      version: pg.version,
      type: pg.type,
      fragmented: pg.fragmented,
      continuation: pg.continuation,
      msgCount: pg.msgLens.length,
      msgLens: pg.msgLens,
      messages: pieces,
    },
    failed,
  };
}
