// A minimal lock-step network for TotemNode unit tests: every datagram goes through the
// real codec and arrives after `delayTicks`, in order, unless a filter drops it. The full
// fault-injecting simulator lives in test/sim; this one keeps unit tests readable.

import { Prng } from '../../../../src/base/prng';
import { defaultTotemConfig, type TotemConfig } from '../../../../src/totem/config';
import { TotemNode } from '../../../../src/totem/srp/totem-node';
import type { TotemEvent } from '../../../../src/totem/srp/types';
import { decodeMessage, encodeMessage } from '../../../../src/totem/wire/codec';
import type { TotemMessage } from '../../../../src/totem/wire/messages';

export interface Packet {
  readonly from: number;
  readonly to: number;
  readonly at: number;
  readonly bytes: Uint8Array;
}

export type PacketFilter = (from: number, to: number, message: TotemMessage) => boolean;

export class Harness {
  readonly nodes = new Map<number, TotemNode>();
  readonly events = new Map<number, TotemEvent[]>();
  readonly ringSeqs = new Map<number, bigint>();
  readonly nodelist: number[];
  now = 0;
  private queue: Packet[] = [];
  filter: PacketFilter = () => true;

  readonly config: TotemConfig;
  readonly delayTicks: number;

  constructor(nodeIds: number[], config: TotemConfig = defaultTotemConfig(nodeIds.length), delayTicks = 1) {
    this.nodelist = nodeIds;
    this.config = config;
    this.delayTicks = delayTicks;
  }

  startNode(id: number): TotemNode {
    const node = new TotemNode({
      nodeId: id, nodelist: this.nodelist, config: this.config,
      restoredRingSeq: this.ringSeqs.get(id) ?? 0n, prng: new Prng(id),
    });
    this.nodes.set(id, node);
    if (!this.events.has(id)) this.events.set(id, []);
    node.start();
    this.drain(id);
    return node;
  }

  crash(id: number): void {
    this.nodes.delete(id);
  }

  drain(id: number): void {
    const node = this.nodes.get(id);
    if (node === undefined) return;
    for (let effects = node.takeEffects(); effects !== null; effects = node.takeEffects()) {
      if (effects.persistRingSeq !== null) this.ringSeqs.set(id, effects.persistRingSeq);
      for (const send of effects.sends) {
        const targets = send.to === 'all' ? this.nodelist : [send.to];
        const bytes = encodeMessage(send.message);
        for (const to of targets) {
          if (this.filter(id, to, send.message)) this.queue.push({ from: id, to, at: this.now + this.delayTicks, bytes });
        }
      }
      this.events.get(id)?.push(...effects.events);
      for (const event of effects.events) {
        if (event.kind === 'confchg' && event.type === 'regular') node.transAck();
      }
    }
  }

  step(): void {
    this.now += 1;
    const due = this.queue.filter((p) => p.at <= this.now);
    this.queue = this.queue.filter((p) => p.at > this.now);
    for (const packet of due) {
      const node = this.nodes.get(packet.to);
      if (node === undefined) continue;
      const decoded = decodeMessage(packet.bytes);
      if (!decoded.ok) throw decoded.error;
      node.receive(decoded.value);
      this.drain(packet.to);
    }
    for (const [id, node] of this.nodes) {
      node.tick();
      this.drain(id);
    }
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i += 1) this.step();
  }

  runUntil(predicate: () => boolean, ticksMax: number): boolean {
    for (let i = 0; i < ticksMax; i += 1) {
      if (predicate()) return true;
      this.step();
    }
    return predicate();
  }

  allOperationalWith(members: number[]): boolean {
    return members.every((id) => {
      const status = this.nodes.get(id)?.status();
      return status !== undefined && status.state === 'operational' &&
        status.members.length === members.length && members.every((m) => status.members.includes(m));
    });
  }

  delivered(id: number): string[] {
    return (this.events.get(id) ?? []).flatMap((e) => (e.kind === 'deliver' ? [new TextDecoder().decode(e.payload)] : []));
  }
}
