// A deterministic harness for BridgeCore (testing.md B1–B3): N bridges on a fake CPG
// group with agreed, in-order delivery to every member (the sender included, as CPG
// does), each beside a fake local Asterisk that holds device states and mailboxes and
// reports changes back exactly as AMI would: a device state only when it changes
// (Asterisk's duplicate suppression), every MWI write (no suppression), including the
// bridge's own writes — which is how echoes happen.

import { BridgeCore, type BridgeEffect, type BridgeMember } from '../../../src/asterisk/core/bridge-core';
import { type BridgeSettings, defaultBridgeSettings } from '../../../src/asterisk/core/bridge-settings';
import { type AstEvent, type DeviceState, type Eid } from '../../../src/asterisk/core/events';

export interface KitNode {
  readonly name: string;
  readonly member: BridgeMember;
  readonly eid: Eid;
  core: BridgeCore;
  /** The fake Asterisk: every device state it holds (local and mapped names). */
  readonly devices: Map<string, DeviceState>;
  readonly mailboxes: Map<string, [number, number]>;
  /** Everything this node multicast, decoded. */
  readonly sent: AstEvent[];
  readonly logs: string[];
  /** In the CPG group? */
  up: boolean;
  /** AMI connected? When false, writes are lost and local changes are not reported. */
  amiUp: boolean;
}

export function bridgeSettings(overrides: Partial<BridgeSettings> = {}): BridgeSettings {
  const on = { mwi: true, deviceState: true, presenceState: true };
  return { ...defaultBridgeSettings(), publish: on, subscribe: on, ...overrides };
}

export class BridgeKit {
  readonly nodes: KitNode[] = [];
  tick = 0;
  private readonly queue: Array<{ from: BridgeMember; payload: Uint8Array }> = [];
  private members: BridgeMember[] = [];

  constructor(names: readonly string[], settings: BridgeSettings | ((name: string) => BridgeSettings) = bridgeSettings()) {
    names.forEach((name, i) => {
      const member = { nodeId: i + 1, pid: 1000 + i };
      const eid = `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
      const s = typeof settings === 'function' ? settings(name) : settings;
      this.nodes.push({
        name,
        member,
        eid,
        core: this.newCore(member, s),
        devices: new Map(),
        mailboxes: new Map(),
        sent: [],
        logs: [],
        up: false,
        amiUp: true,
      });
    });
  }

  private newCore(member: BridgeMember, settings: BridgeSettings): BridgeCore {
    const core = new BridgeCore({ settings, localNodeId: member.nodeId, localAddr: `10.0.0.${member.nodeId}`, ticksPerSecond: 100 });
    core.setSelf(member);
    return core;
  }

  node(name: string): KitNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Start: EIDs known, everyone joins the group one by one. */
  startAll(): void {
    for (const n of this.nodes) {
      n.core.setEid(n.eid, this.tick);
      this.join(n.name);
    }
  }

  join(name: string): void {
    const n = this.node(name);
    n.up = true;
    this.members = [...this.members, n.member].sort((a, b) => a.nodeId - b.nodeId || a.pid - b.pid);
    this.confchg([n.member], []);
    this.settle();
  }

  /** The node's process leaves the group (crash, stop): the others see it leave. */
  leave(name: string): void {
    const n = this.node(name);
    n.up = false;
    this.members = this.members.filter((m) => m !== n.member);
    this.confchg([], [n.member]);
    this.settle();
  }

  /** A crash and restart of carillond on `name`: a fresh core, same Asterisk. */
  restart(name: string, settings: BridgeSettings = bridgeSettings()): void {
    const n = this.node(name);
    if (n.up) this.leave(name);
    const member = { nodeId: n.member.nodeId, pid: n.member.pid + 100 };
    Object.assign(n, { member });
    n.core = this.newCore(member, settings);
    n.core.setEid(n.eid, this.tick);
    this.snapshot(name);
    this.join(name);
  }

  private confchg(joined: BridgeMember[], left: BridgeMember[]): void {
    for (const n of this.nodes) {
      if (!n.up) continue;
      n.core.cpgConfchg(this.members, joined, left, this.tick);
      this.apply(n);
    }
  }

  /** Something on node `name`'s PBX changed a device. */
  setDevice(name: string, device: string, state: DeviceState): void {
    const n = this.node(name);
    this.asteriskSetDevice(n, device, state);
    this.settle();
  }

  /** Node `name`'s voicemail changed a mailbox. */
  setMailbox(name: string, mailbox: string, newMessages: number, oldMessages: number): void {
    const n = this.node(name);
    this.asteriskSetMwi(n, mailbox, newMessages, oldMessages);
    this.settle();
  }

  /** The AMI link of `name` reconnected: the runtime reads everything and hands it over. */
  snapshot(name: string): void {
    const n = this.node(name);
    n.core.localSnapshot(
      {
        devices: [...n.devices].map(([deviceName, state]) => ({ name: deviceName, state })),
        mailboxes: [...n.mailboxes].map(([mailbox, [newMessages, oldMessages]]) => ({ mailbox, newMessages, oldMessages })),
        presence: null,
      },
      this.tick,
    );
    this.apply(n);
    this.settle();
  }

  advance(ticks: number): void {
    this.tick += ticks;
    for (const n of this.nodes) {
      n.core.tick(this.tick);
      this.apply(n);
    }
    this.settle();
  }

  private asteriskSetDevice(n: KitNode, device: string, state: DeviceState): void {
    if (n.devices.get(device) === state) return; // Asterisk's duplicate suppression
    n.devices.set(device, state);
    if (!n.amiUp) return;
    n.core.localDeviceState(device, state, this.tick);
    this.apply(n);
  }

  private asteriskSetMwi(n: KitNode, mailbox: string, newMessages: number, oldMessages: number): void {
    n.mailboxes.set(mailbox, [newMessages, oldMessages]);
    if (!n.amiUp) return;
    n.core.localMwi(mailbox, newMessages, oldMessages, this.tick);
    this.apply(n);
  }

  private apply(n: KitNode): void {
    for (const e of n.core.takeEffects()) this.effect(n, e);
  }

  private effect(n: KitNode, e: BridgeEffect): void {
    switch (e.kind) {
      case 'mcast':
        n.sent.push(e.event);
        if (n.up) this.queue.push({ from: n.member, payload: e.payload });
        return;
      case 'set-device-state':
        if (!n.amiUp) return;
        this.asteriskSetDevice(n, e.name, e.state);
        return;
      case 'set-mwi':
        if (!n.amiUp) return;
        this.asteriskSetMwi(n, e.mailbox, e.newMessages, e.oldMessages);
        return;
      case 'set-presence':
        return;
      case 'log':
        n.logs.push(`${e.level}: ${e.message}`);
        return;
    }
  }

  /** Deliver everything queued, in one agreed order, to every member. */
  settle(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 100_000) throw new Error('bridge kit: messages keep coming (a loop?)');
      const m = this.queue.shift();
      if (m === undefined) break;
      for (const n of this.nodes) {
        if (!n.up) continue;
        n.core.cpgDeliver(m.from, m.payload, this.tick);
        this.apply(n);
      }
    }
  }

  deliverRaw(from: BridgeMember, payload: Uint8Array): void {
    this.queue.push({ from, payload });
    this.settle();
  }
}
