// Goal: every cmap MCAST (service 0, fn 0; corosync-wire.md §9.2) that real corosync
// 3.1.7 nodes sent in the shared captures decodes with our codec — reason SYNC, one item
// totem.config_version (length 20), value_type 0 (NOT_EXIST), value_len 0, 328 bytes —
// our encoder re-creates it byte for byte (also from scratch, as CmapService sends it),
// and CmapService stores runtime.members.<sender>.config_version = 0 from it.
// Method: every ../shared/vectors/**/*.pcap is read with src/cli/pcap-reader.ts and
// src/totem/wire/codec.ts; non-encapsulated MCASTs are kept once per (ring id, seq) —
// the captures hold a copy per destination and retransmissions — ordered by seq within
// each ring, reassembled with src/totem/pg/assembler.ts, and split with
// decodeGroupMessage; cmap messages are those of group "a" whose exec header id >> 16 is 0.
// udpu-full.pcap is the union of the four per-phase captures, so their counts add up to it.

import { describe, expect, it } from '@jest/globals';
import * as path from 'node:path';
import {
  CMAP_CONFIG_VERSION_KEY,
  CMAP_MCAST_FN,
  CmapMcastReason,
  cmapMcastConfigVersion,
  cmapMcastItem,
  decodeCmapMcast,
  encodeCmapMcast,
  encodeCmapMcastPieces,
} from '../../src/services/cmap/cmap-messages';
import { CmapService } from '../../src/services/cmap/cmap-service';
import { ServiceId } from '../../src/services/service-api';
import { execMessagesOf, pcapsUnder, vectors } from './capture-messages';

interface CmapCapture {
  ring: string;
  sender: number;
  message: Uint8Array;
}

function cmapMessages(file: string): CmapCapture[] {
  return execMessagesOf(file, { group: 'a', serviceId: ServiceId.cmap }).map(({ ring, sender, payload }) => ({ ring, sender, message: payload }));
}

const files = pcapsUnder(vectors);
const found = new Map(files.map((f) => [path.relative(vectors, f), cmapMessages(f)] as const));

describe('cmap MCASTs in the corosync 3.1.7 captures', () => {
  it('finds the expected number of cmap messages in each capture', () => {
    expect(Object.fromEntries([...found].map(([f, ms]) => [f, ms.length]))).toEqual({
      'corosync-3.1.7-udpu-faults/udpu-faults.pcap': 14,
      'corosync-3.1.7-udpu/udpu-1-formation.pcap': 6,
      'corosync-3.1.7-udpu/udpu-2-cpg-messages.pcap': 0,
      'corosync-3.1.7-udpu/udpu-3-kill-rejoin.pcap': 6,
      'corosync-3.1.7-udpu/udpu-4-shutdown.pcap': 3,
      'corosync-3.1.7-udpu/udpu-full.pcap': 15,
    });
    const phases = [1, 2, 3, 4].map((n) => found.get(`corosync-3.1.7-udpu/udpu-${n}-${['formation', 'cpg-messages', 'kill-rejoin', 'shutdown'][n - 1]}.pcap`)!);
    expect(phases.flat().map((c) => c.message)).toEqual(found.get('corosync-3.1.7-udpu/udpu-full.pcap')!.map((c) => c.message));
  });

  it('each member sends one cmap message per ring (its sync process step)', () => {
    for (const messages of found.values()) {
      const seen = new Set<string>();
      for (const { ring, sender } of messages) {
        const key = `${ring}/${sender}`;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
    }
  });

  const all = [...found.values()].flat();

  it('decodes each as reason SYNC with one NOT_EXIST totem.config_version item, 328 bytes', () => {
    expect(all.length).toBe(44);
    for (const { message } of all) {
      expect(message.length).toBe(328);
      const d = decodeCmapMcast(message);
      expect(d.ok).toBe(true);
      if (!d.ok) continue;
      expect(d.value).toEqual({
        id: 0,
        size: 328,
        reason: CmapMcastReason.sync,
        items: [{ key: CMAP_CONFIG_VERSION_KEY, keyLength: 20, valueType: 0, value: new Uint8Array(0) }],
        reserved1: 0,
        reserved2: 0,
      });
      expect(cmapMcastConfigVersion(d.value)).toBe(0n);
    }
  });

  it('re-encodes each byte for byte, from the decoded form and from scratch', () => {
    const scratch = encodeCmapMcastPieces({ reason: CmapMcastReason.sync, items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, undefined)] });
    expect(scratch.map((p) => p.length)).toEqual([48, 280]);
    for (const { message } of all) {
      const d = decodeCmapMcast(message);
      if (!d.ok) throw d.error;
      expect(encodeCmapMcast(d.value)).toEqual(message);
      expect(encodeCmapMcast({ reason: CmapMcastReason.sync, items: [cmapMcastItem(CMAP_CONFIG_VERSION_KEY, undefined)] })).toEqual(message);
    }
  });

  it('delivered to CmapService, each stores runtime.members.<sender>.config_version = 0', () => {
    const service = new CmapService({
      localNodeId: 99,
      tickMs: 10,
      mcast: () => 'queued',
      members: () => [],
      ringId: () => ({ rep: 0, seq: 0n }),
      isQuorate: () => true,
      isSyncing: () => false,
      now: () => 0,
      log: () => undefined,
    });
    for (const { sender, message } of all) service.deliver(CMAP_MCAST_FN, sender, message);
    expect(service.status().counters).toMatchObject({ delivered: all.length, decodeErrors: 0, unknownReasons: 0 });
    const senders = [...new Set(all.map((c) => c.sender))].sort();
    expect(senders).toEqual([1, 2, 3]);
    expect(service.store.iterate('runtime.members.').map((e) => [e.key, e.value])).toEqual(
      senders.map((s) => [`runtime.members.${s}.config_version`, { type: 'uint64', value: 0n }]),
    );
  });
});
