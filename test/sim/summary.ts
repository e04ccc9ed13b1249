// Compact, JSON-ready one-line views of Totem messages for NDJSON traces.

import { decodeMessage } from '../../src/totem/wire/codec';
import { type TotemMessage, ringIdKey } from '../../src/totem/wire/messages';

export function summarizeMessage(m: TotemMessage): Record<string, unknown> {
  switch (m.type) {
    case 'orf-token':
      return {
        type: m.type, ring: ringIdKey(m.ringId), seq: m.seq, tokenSeq: m.tokenSeq, aru: m.aru, aruAddr: m.aruAddr,
        fcc: m.fcc, backlog: m.backlog, retransFlg: m.retransFlg, rtr: m.rtrList.map((r) => r.seq),
      };
    case 'mcast': {
      const base = {
        type: m.type, ring: ringIdKey(m.ringId), seq: m.seq, from: m.systemFrom, hdr: m.nodeId,
        encap: m.encapsulated === 1, bytes: m.payload.byteLength,
      };
      if (m.encapsulated !== 1) return base;
      const inner = decodeMessage(m.payload);
      if (!inner.ok || inner.value.type !== 'mcast') return { ...base, inner: 'undecodable' };
      return { ...base, inner: `${ringIdKey(inner.value.ringId)}/${inner.value.seq} from ${inner.value.systemFrom}` };
    }
    case 'merge-detect':
      return { type: m.type, ring: ringIdKey(m.ringId), from: m.systemFrom };
    case 'join':
      return {
        type: m.type, hdr: m.nodeId, from: m.systemFrom, ringSeq: m.ringSeq.toString(),
        proc: m.procList, failed: m.failedList,
      };
    case 'commit-token':
      return {
        type: m.type, ring: ringIdKey(m.ringId), tokenSeq: m.tokenSeq, index: m.membIndex, addr: m.addr,
        entries: m.membList.map((e) => `${ringIdKey(e.ringId)}:${e.aru}:${e.highDelivered}:${e.receivedFlg}`),
      };
    case 'token-hold-cancel':
      return { type: m.type, ring: ringIdKey(m.ringId) };
  }
}
