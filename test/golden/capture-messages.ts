// Shared reading of the corosync captures in ../shared/vectors for the golden tests:
// read a pcap with src/cli/pcap-reader.ts, decode with src/totem/wire/codec.ts, keep each
// non-encapsulated MCAST once per (ring id, seq) — the captures hold a copy per
// destination and retransmissions — ordered by seq within each ring and the rings in
// capture order (the order a member that saw every ring would deliver), reassemble with
// src/totem/pg/assembler.ts and split the group headers with src/totem/pg/groups.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePcap } from '../../src/cli/pcap-reader';
import { readExecHeader } from '../../src/services/exec-header';
import { Assembler } from '../../src/totem/pg/assembler';
import { decodeGroupMessage, groupNameText } from '../../src/totem/pg/groups';
import { decodeMessage } from '../../src/totem/wire/codec';
import { Encapsulation, type Mcast, type RingId, ringIdKey } from '../../src/totem/wire/messages';

/** The shared capture directory. */
export const vectors = path.resolve(__dirname, '../../../shared/vectors');

/** Every .pcap under `dir`, sorted. */
export function pcapsUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? pcapsUnder(path.join(dir, e.name)) : e.name.endsWith('.pcap') ? [path.join(dir, e.name)] : []))
    .sort();
}

/** One ring's MCASTs, each once, ordered by seq. */
export interface McastRing {
  readonly key: string;
  readonly ringId: RingId;
  readonly mcasts: Mcast[];
}

/**
 * The non-encapsulated MCASTs of a capture per ring, rings in capture order. A later copy
 * of a (ring id, seq) already seen is dropped after being shown to `onCopy`.
 */
export function mcastRings(file: string, onCopy?: (kept: Mcast, copy: Mcast) => void): McastRing[] {
  const datagrams = parsePcap(fs.readFileSync(file));
  if (!datagrams.ok) throw datagrams.error;
  const rings = new Map<string, { ringId: RingId; bySeq: Map<number, Mcast> }>();
  for (const d of datagrams.value) {
    const m = decodeMessage(d.payload);
    if (!m.ok || m.value.type !== 'mcast' || m.value.encapsulated !== Encapsulation.notEncapsulated) continue;
    const key = ringIdKey(m.value.ringId);
    const ring = rings.get(key) ?? { ringId: m.value.ringId, bySeq: new Map<number, Mcast>() };
    rings.set(key, ring);
    const seen = ring.bySeq.get(m.value.seq);
    if (seen) onCopy?.(seen, m.value);
    else ring.bySeq.set(m.value.seq, m.value);
  }
  return [...rings.entries()].map(([key, ring]) => ({
    key,
    ringId: ring.ringId,
    mcasts: [...ring.bySeq.values()].sort((a, b) => a.seq - b.seq),
  }));
}

/** The agreed-order MCAST stream of a capture, each message once, rings in capture order. */
export function mcastStream(file: string, onCopy?: (kept: Mcast, copy: Mcast) => void): Mcast[] {
  return mcastRings(file, onCopy).flatMap((r) => r.mcasts);
}

/** A reassembled message with its group header split off. */
export interface CapturedMessage {
  /** ringIdKey of the MCAST that completed the message. */
  readonly ring: string;
  /** Ring id of the MCAST that completed the message. */
  readonly ringId: RingId;
  readonly sender: number;
  /** Text of the message's (first) group name: 'a', 'sync', ... */
  readonly group: string;
  /** The message after its group header (an exec message). */
  readonly payload: Uint8Array;
}

/** One ring's reassembled messages in agreed order. */
export interface RingTraffic {
  readonly key: string;
  readonly ringId: RingId;
  readonly messages: CapturedMessage[];
}

/** Each ring's reassembled group messages in agreed order, rings in capture order. */
export function ringTraffic(file: string): RingTraffic[] {
  const assembler = new Assembler();
  return mcastRings(file).map(({ key, ringId, mcasts }) => {
    const messages: CapturedMessage[] = [];
    for (const m of mcasts) {
      const r = assembler.receive(m.nodeId, m.payload);
      if (!r.ok) throw r.error;
      for (const { sender, message } of r.value) {
        const g = decodeGroupMessage(message);
        if (!g.ok) throw g.error;
        messages.push({ ring: key, ringId, sender, group: groupNameText(g.value.groups[0] ?? new Uint8Array()), payload: g.value.payload });
      }
    }
    return { key, ringId, messages };
  });
}

/** Every reassembled group message of a capture, in agreed order (rings in capture order). */
export function groupMessages(file: string): CapturedMessage[] {
  return ringTraffic(file).flatMap((r) => r.messages);
}

/** The exec header id of an exec message (service id << 16 | function). */
export function execId(payload: Uint8Array): number {
  const h = readExecHeader(payload);
  if (!h.ok) throw h.error;
  return h.value.id;
}

/** The messages of `group` in a capture, in agreed order; for group 'a' optionally only those of one service id. */
export function execMessagesOf(file: string, filter: { readonly group: string; readonly serviceId?: number }): CapturedMessage[] {
  return groupMessages(file).filter(
    (m) => m.group === filter.group && (filter.serviceId === undefined || execId(m.payload) >>> 16 === filter.serviceId),
  );
}
