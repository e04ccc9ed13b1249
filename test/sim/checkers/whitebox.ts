// T14 whitebox assertions (testing.md §4.3), cheap enough to run on every step:
// - WireMonitor watches every datagram a node sends: token_seq never regresses within a
//   ring, rtr lists stay within RETRANSMIT_ENTRIES_MAX, only the representative creates
//   a ring's commit token and all commit tokens of a ring agree on its members, a
//   (ring, seq) slot never carries two different messages, and nothing carrying a ring
//   id goes out before that ring's seq was persisted (persist before send).
// - StatusMonitor samples TotemNode.status(): aru ≤ highSeqReceived, the sort-queue
//   span below QUEUE_RTR_ITEMS_SIZE_MAX, a bounded send queue, monotonic ring seq and
//   counters per incarnation, and an OPERATIONAL node's ring and members equal its last
//   installed regular configuration.

import { seqDistance, seqLte } from '../../../src/base/seq';
import type { TotemConfig } from '../../../src/totem/config';
import type { TotemStats, TotemStatus } from '../../../src/totem/srp/types';
import { type RingId, type TotemMessage, ringIdKey } from '../../../src/totem/wire/messages';
import { fnv1a } from '../payload';
import { type Violation, violation } from './violation';

export class WireMonitor {
  readonly violations: Violation[] = [];
  private readonly lastTokenSeq = new Map<string, number>();
  private readonly commitMembers = new Map<string, string>();
  private readonly slots = new Map<string, string>();
  private readonly retransmitEntriesMax: number;

  constructor(retransmitEntriesMax: number) {
    this.retransmitEntriesMax = retransmitEntriesMax;
  }

  /** `persistedSeq` is the sender's ring-id store content at send time. */
  observeSend(from: number, message: TotemMessage, persistedSeq: bigint, tick: number): void {
    switch (message.type) {
      case 'orf-token': {
        this.checkPersisted(from, message.ringId, persistedSeq, 'ORF token', tick);
        if (message.rtrList.length > this.retransmitEntriesMax) {
          this.report(`node ${from} sent a token with ${message.rtrList.length} rtr items`, from, tick);
        }
        const key = `${from}@${ringIdKey(message.ringId)}`;
        const last = this.lastTokenSeq.get(key);
        if (last !== undefined && message.tokenSeq < last) {
          this.report(`node ${from} sent token_seq ${message.tokenSeq} after ${last} in ring ${ringIdKey(message.ringId)}`, from, tick);
        }
        this.lastTokenSeq.set(key, message.tokenSeq);
        return;
      }
      case 'commit-token': {
        this.checkPersisted(from, message.ringId, persistedSeq, 'commit token', tick);
        const ring = ringIdKey(message.ringId);
        if (message.membIndex === 1 && from !== message.ringId.rep) {
          this.report(`node ${from} created the commit token of ring ${ring}, whose representative is ${message.ringId.rep}`, from, tick);
        }
        const lowest = message.addr.length === 0 ? undefined : Math.min(...message.addr);
        if (lowest !== message.ringId.rep) {
          this.report(`commit token of ring ${ring} has members [${message.addr.join(',')}] but representative ${message.ringId.rep}`, from, tick);
        }
        const members = message.addr.join(',');
        const known = this.commitMembers.get(ring);
        if (known === undefined) this.commitMembers.set(ring, members);
        else if (known !== members) {
          this.report(`two commit tokens for ring ${ring}: members [${known}] and [${members}]`, from, tick);
        }
        return;
      }
      case 'mcast': {
        this.checkPersisted(from, message.ringId, persistedSeq, 'MCAST', tick);
        const key = `${ringIdKey(message.ringId)}/${message.seq}`;
        const content = `${message.encapsulated}:${message.systemFrom}:${fnv1a(message.payload)}:${message.payload.byteLength}`;
        const known = this.slots.get(key);
        if (known === undefined) this.slots.set(key, content);
        else if (known !== content) {
          this.report(`ring ${ringIdKey(message.ringId)} seq ${message.seq} was sent with two different contents `
            + `(${known} and ${content}, this copy from node ${from})`, from, tick);
        }
        return;
      }
      default:
        return;
    }
  }

  private checkPersisted(from: number, ring: RingId, persisted: bigint, what: string, tick: number): void {
    if (ring.seq > persisted) {
      this.report(`node ${from} sent a ${what} of ring ${ringIdKey(ring)} before persisting it (store holds ${persisted})`, from, tick);
    }
  }

  private report(message: string, node: number, tick: number): void {
    if (this.violations.length < 50) this.violations.push(violation('T14', message, node, tick));
  }
}

interface IncState {
  ringSeq: bigint;
  stats: Readonly<TotemStats>;
}

export interface LastRegular {
  readonly ring: RingId;
  readonly members: readonly number[];
}

export class StatusMonitor {
  readonly violations: Violation[] = [];
  private readonly byInc = new Map<string, IncState>();
  private readonly config: TotemConfig;
  private counterNames: (keyof TotemStats)[] | null = null;

  constructor(config: TotemConfig) {
    this.config = config;
  }

  /** `lastRegular`: the last regular configuration this incarnation installed, if any. */
  observe(node: number, inc: number, s: TotemStatus, lastRegular: LastRegular | null, tick: number): void {
    const who = `node ${node}#${inc}`;
    if (s.nodeId !== node) this.report(`${who} reports nodeId ${s.nodeId}`, node, tick);
    if (!seqLte(s.aru, s.highSeqReceived)) this.report(`${who} (${s.state}): aru ${s.aru} > highSeqReceived ${s.highSeqReceived}`, node, tick);
    if (seqDistance(s.aru, s.highSeqReceived) >= this.config.sortQueueSize) {
      this.report(`${who} (${s.state}): sort-queue span ${s.aru}..${s.highSeqReceived} exceeds ${this.config.sortQueueSize}`, node, tick);
    }
    if (s.sendQueueLength > this.config.sendQueueMax) {
      this.report(`${who}: send queue ${s.sendQueueLength} exceeds ${this.config.sendQueueMax}`, node, tick);
    }
    if (s.state === 'operational') {
      if (!seqLte(s.highDelivered, s.highSeqReceived)) {
        this.report(`${who}: highDelivered ${s.highDelivered} > highSeqReceived ${s.highSeqReceived}`, node, tick);
      }
      if (lastRegular === null) {
        this.report(`${who} is operational without having installed a regular configuration`, node, tick);
      } else if (ringIdKey(lastRegular.ring) !== ringIdKey(s.ringId)
        || lastRegular.members.join(',') !== s.members.join(',')) {
        this.report(`${who} is operational in ${ringIdKey(s.ringId)} [${s.members.join(',')}] but last installed `
          + `${ringIdKey(lastRegular.ring)} [${lastRegular.members.join(',')}]`, node, tick);
      }
    }
    const key = `${node}#${inc}`;
    const prev = this.byInc.get(key);
    if (prev !== undefined) {
      if (s.ringId.seq < prev.ringSeq) this.report(`${who}: ring seq went back from ${prev.ringSeq} to ${s.ringId.seq}`, node, tick);
      this.counterNames ??= (Object.keys(s.stats) as (keyof TotemStats)[])
        .filter((name) => name !== 'continuousGatherCount'); // a gauge, reset on OPERATIONAL entry
      for (const name of this.counterNames) {
        if (s.stats[name] < prev.stats[name]) this.report(`${who}: counter ${name} went back from ${prev.stats[name]} to ${s.stats[name]}`, node, tick);
      }
      prev.ringSeq = s.ringId.seq;
      prev.stats = s.stats; // status() returns a fresh copy each time
    } else {
      this.byInc.set(key, { ringSeq: s.ringId.seq, stats: s.stats });
    }
  }

  private report(message: string, node: number, tick: number): void {
    if (this.violations.length < 50) this.violations.push(violation('T14', message, node, tick));
  }
}
