// T13 liveness after healing (testing.md §4.2 step 3, §4.3): every core node is
// OPERATIONAL in one regular configuration whose member set is exactly the core, the
// core's messages reach every core member, and the token keeps rotating.
//
// Which messages "must" reach the whole core: EVS only promises delivery to the members
// of the configuration in which a message was ordered, and a message submitted while the
// core was still merging may be ordered in a smaller ring. So the requirement is for
// probe messages submitted after convergence (and, through sender FIFO, everything
// each core node queued before them, T10), and that all core nodes delivered exactly the
// same messages of the final ring.

import type { TotemStatus } from '../../../src/totem/srp/types';
import { type RingId, ringIdKey } from '../../../src/totem/wire/messages';
import type { IncarnationLog } from '../history';
import { incName } from '../history';
import { type Violation, violation } from './violation';

export interface CoreNodeView {
  readonly status: TotemStatus;
  readonly lastRegular: { readonly ring: RingId; readonly members: readonly number[] } | null;
}

/** Null when the core has converged, else why not (for the failure report). */
export function notConvergedReason(core: readonly number[], view: (id: number) => CoreNodeView | null): string | null {
  const want = [...core].sort((a, b) => a - b).join(',');
  let ring: string | null = null;
  for (const id of core) {
    const v = view(id);
    if (v === null) return `node ${id} is not running`;
    const s = v.status;
    if (s.state !== 'operational') return `node ${id} is in ${s.state} (ring ${ringIdKey(s.ringId)})`;
    const key = ringIdKey(s.ringId);
    if (ring === null) ring = key;
    else if (ring !== key) return `node ${id} is in ring ${key}, another core node in ${ring}`;
    if (s.members.join(',') !== want) return `node ${id} has members [${s.members.join(',')}], core is [${want}]`;
    if (v.lastRegular === null || ringIdKey(v.lastRegular.ring) !== key) {
      return `node ${id} has not delivered the regular configuration of ring ${key}`;
    }
  }
  return null;
}

/**
 * After the probes: every core log delivered every probe, and all core logs delivered
 * the same sequence of messages in the final ring.
 */
export function checkCoreDelivery(logs: readonly IncarnationLog[], finalRing: RingId, probes: readonly string[]): Violation[] {
  const out: Violation[] = [];
  const ringKey = ringIdKey(finalRing);
  let reference: { log: IncarnationLog; seqs: string } | null = null;
  for (const log of logs) {
    const delivered = new Set<string>();
    const seqs: number[] = [];
    let inFinal = false;
    for (const e of log.entries) {
      if (e.k === 'conf' && e.type === 'regular') inFinal = ringIdKey(e.ring) === ringKey;
      if (e.k !== 'deliver') continue;
      if (e.msg !== null) delivered.add(e.msg);
      if (inFinal && ringIdKey(e.ring) === ringKey) seqs.push(e.seq);
    }
    const missing = probes.filter((p) => !delivered.has(p));
    if (missing.length > 0) {
      out.push(violation('T13', `${incName(log)} did not deliver probe messages [${missing.join(' ')}] in ring ${ringKey}`, log.node));
    }
    const joined = seqs.join(',');
    if (reference === null) reference = { log, seqs: joined };
    else if (reference.seqs !== joined) {
      out.push(violation('T13', `in final ring ${ringKey}, ${incName(log)} delivered seqs [${abbreviate(seqs)}] but `
        + `${incName(reference.log)} delivered [${abbreviate(reference.seqs.split(',').map(Number))}]`, log.node));
    }
  }
  return out;
}

/** The token keeps rotating: orf_token_rx grew at every core node over the window. */
export function checkTokenRotation(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>,
  windowTicks: number): Violation[] {
  const out: Violation[] = [];
  for (const [id, rx] of before) {
    const now = after.get(id);
    if (now === undefined || now <= rx) {
      out.push(violation('T13', `node ${id} received no ORF token in the last ${windowTicks} ticks (orf_token_rx ${rx} → ${now ?? 'down'})`, id));
    }
  }
  return out;
}

function abbreviate(seqs: readonly number[]): string {
  if (seqs.length <= 12) return seqs.join(',');
  return `${seqs.slice(0, 5).join(',')},…,${seqs.slice(-5).join(',')} (${seqs.length})`;
}
