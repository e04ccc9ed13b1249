// Minimal reader for classic libpcap capture files, enough to pull the UDP datagrams
// out of the corosync wire captures in ../shared/vectors (tcpdump/dumpcap `-P` output)
// for `carillon wire decode` and the golden tests. Pure: takes the file's bytes.
//
// Supported: both byte orders of the file magic, microsecond and nanosecond variants;
// link types NULL/loopback (0), Ethernet (1, with 802.1Q/802.1ad tags), raw IP (101),
// Linux cooked SLL (113) and SLL2 (276), raw IPv4 (228) and raw IPv6 (229); IPv4 and
// IPv6 (extension headers skipped); UDP only. IP fragments are reassembled (an
// encapsulated MCAST can be a 1500-byte UDP payload, which does not fit a 1500-byte
// link, corosync-wire.md §4.1); fragments that never complete are reported.
// Not supported: pcapng (reported as such; convert with `editcap -F pcap`).
// Format reference: the libpcap file format (draft-ietf-opsawg-pcap), LINKTYPE_* values
// from tcpdump.org's link-layer header types registry.

import { type Result, err, ok } from '../base/result';
import { DecodeError, DecodeErrorCode } from '../totem/wire/decode-error';

export interface UdpDatagram {
  /** 1-based pcap record index (as Wireshark numbers frames); for a reassembled IP
   *  datagram, the record that completed it. */
  frame: number;
  /** Capture time, seconds since the Unix epoch. */
  timeSec: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

/** A record that carried (or may have carried) UDP data that could not be extracted. */
export interface PcapProblem {
  frame: number;
  message: string;
}

export interface PcapContents {
  linkType: number;
  /** True for the nanosecond-resolution variant of the format. */
  nanosecond: boolean;
  datagrams: UdpDatagram[];
  /** Data lost to truncation, malformed IP/UDP headers or incomplete fragments. */
  problems: PcapProblem[];
  /** Records that were well-formed but not UDP (ARP, ICMP, TCP, …). */
  nonUdpFrames: number;
}

export const LinkType = {
  null: 0,
  ethernet: 1,
  raw: 101,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const;

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const MAGIC_PCAPNG = 0x0a0d0d0a;
const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8, 0x9100];
const IPPROTO_UDP = 17;
const UDP_HEADER_BYTES = 8;
/** IPv6 extension headers we step over to find the transport header. */
const IPV6_EXT_HEADERS = new Set([0, 43, 60, 51]);
const IPV6_FRAGMENT = 44;

function pcapError(code: DecodeError['code'], message: string, offset?: number): { ok: false; error: DecodeError } {
  return err(new DecodeError(code, message, offset));
}

interface RecordInfo {
  frame: number;
  timeSec: number;
}

/** One IP packet's transport-layer view after the IP header (or after reassembly). */
interface IpPayload {
  src: string;
  dst: string;
  protocol: number;
  data: Uint8Array;
}

interface FragmentSet {
  pieces: { offset: number; data: Uint8Array }[];
  /** Known once the last fragment (more-fragments = 0) has arrived. */
  totalBytes: number | undefined;
  firstFrame: number;
}

/**
 * Parses a whole capture. Fails only when the file itself is unusable (not a classic
 * pcap, unsupported link type, truncated global header); damaged records become
 * `problems` so that everything readable is still returned.
 */
export function readPcap(bytes: Uint8Array): Result<PcapContents, DecodeError> {
  if (bytes.byteLength < GLOBAL_HEADER_BYTES) {
    if (bytes.byteLength >= 4 && new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === MAGIC_PCAPNG) {
      return pcapError(DecodeErrorCode.badMagic, 'pcapng is not supported; convert with `editcap -F pcap`', 0);
    }
    return pcapError(DecodeErrorCode.truncated, `not a pcap file: ${bytes.byteLength} bytes, no 24-byte header`, 0);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = view.getUint32(0, true);
  let le: boolean;
  let nanosecond: boolean;
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    le = true;
    nanosecond = magicLe === MAGIC_NS;
  } else {
    const magicBe = view.getUint32(0, false);
    if (magicBe === MAGIC_US || magicBe === MAGIC_NS) {
      le = false;
      nanosecond = magicBe === MAGIC_NS;
    } else if (magicLe === MAGIC_PCAPNG) {
      return pcapError(DecodeErrorCode.badMagic, 'pcapng is not supported; convert with `editcap -F pcap`', 0);
    } else {
      return pcapError(DecodeErrorCode.badMagic, `not a pcap file: magic 0x${magicLe.toString(16).padStart(8, '0')}`, 0);
    }
  }
  // The upper bits may carry FCS information; the link type is the low 16 bits.
  const linkType = view.getUint32(20, le) & 0xffff;
  if (!Object.values(LinkType).includes(linkType as (typeof LinkType)[keyof typeof LinkType])) {
    return pcapError(DecodeErrorCode.badField, `unsupported pcap link type ${linkType}`, 20);
  }

  const out: PcapContents = { linkType, nanosecond, datagrams: [], problems: [], nonUdpFrames: 0 };
  const fragments = new Map<string, FragmentSet>();
  const fracDivisor = nanosecond ? 1e9 : 1e6;
  let off = GLOBAL_HEADER_BYTES;
  let frame = 0;
  while (off < bytes.byteLength) {
    frame++;
    if (off + RECORD_HEADER_BYTES > bytes.byteLength) {
      out.problems.push({ frame, message: 'file ends inside a record header (truncated capture)' });
      break;
    }
    const rec: RecordInfo = {
      frame,
      timeSec: view.getUint32(off, le) + view.getUint32(off + 4, le) / fracDivisor,
    };
    const inclLen = view.getUint32(off + 8, le);
    const origLen = view.getUint32(off + 12, le);
    off += RECORD_HEADER_BYTES;
    if (off + inclLen > bytes.byteLength) {
      out.problems.push({ frame, message: `file ends inside a ${inclLen}-byte record (truncated capture)` });
      break;
    }
    const data = bytes.subarray(off, off + inclLen);
    off += inclLen;
    const cut = inclLen < origLen ? ` (record cut to ${inclLen} of ${origLen} bytes by snaplen)` : '';
    const problem = readRecord(linkType, data, rec, out, fragments);
    if (problem !== undefined) out.problems.push({ frame, message: problem + cut });
  }
  for (const set of fragments.values()) {
    out.problems.push({ frame: set.firstFrame, message: 'IP fragments that were never completed' });
  }
  out.problems.sort((a, b) => a.frame - b.frame);
  return ok(out);
}

/** The UDP datagrams of a capture, in record order (see readPcap for the details). */
export function parsePcap(bytes: Uint8Array): Result<UdpDatagram[], DecodeError> {
  const r = readPcap(bytes);
  return r.ok ? ok(r.value.datagrams) : r;
}

/** Returns a problem description, or undefined when the record was handled. */
function readRecord(
  linkType: number,
  data: Uint8Array,
  rec: RecordInfo,
  out: PcapContents,
  fragments: Map<string, FragmentSet>,
): string | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let etherType: number;
  let ipOff: number;
  switch (linkType) {
    case LinkType.null: {
      if (data.byteLength < 4) return 'record too short for the loopback header';
      // Address family in the capturing host's byte order; IPv4 is 2 everywhere,
      // IPv6 is 10 (Linux), 24, 28 or 30 (BSDs, macOS).
      const family = view.getUint32(0, true) > 0xffff ? view.getUint32(0, false) : view.getUint32(0, true);
      etherType = family === 2 ? ETHERTYPE_IPV4 : [10, 24, 28, 30].includes(family) ? ETHERTYPE_IPV6 : -1;
      ipOff = 4;
      break;
    }
    case LinkType.ethernet: {
      if (data.byteLength < 14) return 'record too short for an Ethernet header';
      etherType = view.getUint16(12, false);
      ipOff = 14;
      while (ETHERTYPE_VLAN.includes(etherType)) {
        if (data.byteLength < ipOff + 4) return 'record too short for its VLAN tag';
        etherType = view.getUint16(ipOff + 2, false);
        ipOff += 4;
      }
      break;
    }
    case LinkType.linuxSll:
      if (data.byteLength < 16) return 'record too short for a Linux SLL header';
      etherType = view.getUint16(14, false);
      ipOff = 16;
      break;
    case LinkType.linuxSll2:
      if (data.byteLength < 20) return 'record too short for a Linux SLL2 header';
      etherType = view.getUint16(0, false);
      ipOff = 20;
      break;
    default: {
      // Raw IP link types: the IP version nibble tells v4 from v6.
      if (data.byteLength < 1) return 'empty record';
      const version = (data[0] as number) >> 4;
      etherType = version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : -1;
      ipOff = 0;
      break;
    }
  }
  let ip: IpPayload | string | undefined;
  if (etherType === ETHERTYPE_IPV4) ip = readIpv4(data.subarray(ipOff), rec, fragments);
  else if (etherType === ETHERTYPE_IPV6) ip = readIpv6(data.subarray(ipOff), rec, fragments);
  else {
    out.nonUdpFrames++;
    return undefined;
  }
  if (typeof ip === 'string') return ip;
  if (ip === undefined) return undefined; // fragment stored, datagram not complete yet
  if (ip.protocol !== IPPROTO_UDP) {
    out.nonUdpFrames++;
    return undefined;
  }
  if (ip.data.byteLength < UDP_HEADER_BYTES) return 'UDP header truncated';
  const udp = new DataView(ip.data.buffer, ip.data.byteOffset, ip.data.byteLength);
  const udpLen = udp.getUint16(4, false);
  if (udpLen < UDP_HEADER_BYTES) return `bad UDP length ${udpLen}`;
  if (udpLen > ip.data.byteLength) {
    return `UDP datagram truncated: ${ip.data.byteLength - UDP_HEADER_BYTES} of ${udpLen - UDP_HEADER_BYTES} payload bytes captured`;
  }
  out.datagrams.push({
    frame: rec.frame,
    timeSec: rec.timeSec,
    src: ip.src,
    srcPort: udp.getUint16(0, false),
    dst: ip.dst,
    dstPort: udp.getUint16(2, false),
    payload: ip.data.subarray(UDP_HEADER_BYTES, udpLen),
  });
  return undefined;
}

function readIpv4(data: Uint8Array, rec: RecordInfo, fragments: Map<string, FragmentSet>): IpPayload | string | undefined {
  if (data.byteLength < 20) return 'record too short for an IPv4 header';
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerBytes = (view.getUint8(0) & 0x0f) * 4;
  const totalBytes = view.getUint16(2, false);
  if (headerBytes < 20 || totalBytes < headerBytes) return 'malformed IPv4 header';
  if (totalBytes > data.byteLength) return `IPv4 packet truncated: ${data.byteLength} of ${totalBytes} bytes captured`;
  const src = ipv4String(data, 12);
  const dst = ipv4String(data, 16);
  const protocol = view.getUint8(9);
  const flagsFrag = view.getUint16(6, false);
  const moreFragments = (flagsFrag & 0x2000) !== 0;
  const fragOffset = (flagsFrag & 0x1fff) * 8;
  const body = data.subarray(headerBytes, totalBytes);
  if (!moreFragments && fragOffset === 0) return { src, dst, protocol, data: body };
  const key = `4 ${src} ${dst} ${protocol} ${view.getUint16(4, false)}`;
  return addFragment(fragments, key, fragOffset, moreFragments, body, rec, { src, dst, protocol });
}

function readIpv6(data: Uint8Array, rec: RecordInfo, fragments: Map<string, FragmentSet>): IpPayload | string | undefined {
  if (data.byteLength < 40) return 'record too short for an IPv6 header';
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const payloadBytes = view.getUint16(4, false);
  if (40 + payloadBytes > data.byteLength) {
    return `IPv6 packet truncated: ${data.byteLength} of ${40 + payloadBytes} bytes captured`;
  }
  const src = ipv6String(data, 8);
  const dst = ipv6String(data, 24);
  let next = view.getUint8(6);
  let off = 40;
  const end = 40 + payloadBytes;
  while (IPV6_EXT_HEADERS.has(next)) {
    if (off + 8 > end) return 'IPv6 extension header truncated';
    const len = next === 51 ? (view.getUint8(off + 1) + 2) * 4 : (view.getUint8(off + 1) + 1) * 8;
    next = view.getUint8(off);
    off += len;
  }
  if (off > end) return 'IPv6 extension header truncated';
  if (next !== IPV6_FRAGMENT) return { src, dst, protocol: next, data: data.subarray(off, end) };
  if (off + 8 > end) return 'IPv6 fragment header truncated';
  const protocol = view.getUint8(off);
  const offsetFlags = view.getUint16(off + 2, false);
  const key = `6 ${src} ${dst} ${view.getUint32(off + 4, false)}`;
  const body = data.subarray(off + 8, end);
  return addFragment(fragments, key, offsetFlags & 0xfff8, (offsetFlags & 1) !== 0, body, rec, { src, dst, protocol });
}

/** Stores a fragment; returns the reassembled payload once every byte is present. */
function addFragment(
  fragments: Map<string, FragmentSet>,
  key: string,
  offset: number,
  more: boolean,
  data: Uint8Array,
  rec: RecordInfo,
  ids: { src: string; dst: string; protocol: number },
): IpPayload | string | undefined {
  let set = fragments.get(key);
  if (set === undefined) {
    set = { pieces: [], totalBytes: undefined, firstFrame: rec.frame };
    fragments.set(key, set);
  }
  set.pieces.push({ offset, data });
  if (!more) set.totalBytes = offset + data.byteLength;
  if (set.totalBytes === undefined) return undefined;
  const pieces = [...set.pieces].sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (const p of pieces) {
    if (p.offset > covered) return undefined; // hole: wait for more fragments
    covered = Math.max(covered, p.offset + p.data.byteLength);
  }
  if (covered < set.totalBytes) return undefined;
  fragments.delete(key);
  const whole = new Uint8Array(set.totalBytes);
  for (const p of pieces) {
    // Overlapping or over-long fragments: the last-fragment length wins.
    if (p.offset < whole.byteLength) whole.set(p.data.subarray(0, whole.byteLength - p.offset), p.offset);
  }
  return { ...ids, data: whole };
}

function ipv4String(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text form: lower case, longest run (≥ 2) of zero groups as `::`. */
function ipv6String(b: Uint8Array, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
