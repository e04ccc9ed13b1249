// Goal: votequorum's exec messages (src/services/votequorum, corosync-wire.md §9.1) agree
// with real corosync 3.1.7 traffic: every votequorum message in the shared captures is a
// 32-byte NODEINFO that decodes and re-encodes byte for byte; the facts §9.1 states hold
// (NODEINFO(0) right after the sender's NODEINFO(self) and before its sync BARRIER, the
// values and flags seen); and our VotequorumService, driven through the same membership
// history as the captured clusters, sends the same NODEINFOs ring by ring.
// Method: read the pcaps with src/cli/pcap-reader.ts, keep each non-encapsulated MCAST
// once per (ring id, seq) in agreed order, reassemble with the totempg Assembler and
// split group headers; a message in group "a" whose header id >> 16 is 5 is votequorum's.

import { describe, expect, it } from '@jest/globals';
import * as path from 'node:path';
import {
  decodeVotequorumMessage,
  encodeVotequorumMessage,
  NodeFlags,
  VotequorumFn,
  type NodeInfoMessage,
} from '../../src/services/votequorum/votequorum-messages';
import { readExecHeader } from '../../src/services/exec-header';
import { ringIdKey } from '../../src/totem/wire/messages';
import { FakeCluster, nodelist, startVotequorumNode } from '../unit/services/votequorum-fake-cluster';
import { type CapturedMessage, execId, groupMessages, vectors } from './capture-messages';

/** Every exec and sync message of a capture, in agreed order (rings in capture order). */
function execMessages(file: string): CapturedMessage[] {
  return groupMessages(file).filter((m) => m.group === 'a' || m.group === 'sync');
}

const fullCapture = path.join(vectors, 'corosync-3.1.7-udpu/udpu-full.pcap');
const faultsCapture = path.join(vectors, 'corosync-3.1.7-udpu-faults/udpu-faults.pcap');

function isVotequorum(m: CapturedMessage): boolean {
  return m.group === 'a' && execId(m.payload) >>> 16 === 5;
}

function nodeInfo(m: CapturedMessage): NodeInfoMessage {
  const d = decodeVotequorumMessage(m.payload);
  if (!d.ok) throw d.error;
  if (d.value.type !== 'nodeinfo') throw new Error(`not a NODEINFO: ${d.value.type}`);
  return d.value;
}

/** Per ring (in order), the NODEINFOs as "sender:nodeid/votes/expected/flags", sorted. */
function nodeInfosByRing(list: readonly { ring: string; sender: number; m: NodeInfoMessage }[]): string[][] {
  const rings = new Map<string, string[]>();
  for (const { ring, sender, m } of list) {
    const entries = rings.get(ring) ?? [];
    entries.push(`${sender}:${m.nodeId}/${m.votes}/${m.expectedVotes}/${m.flags}`);
    rings.set(ring, entries);
  }
  return [...rings.values()].map((e) => e.sort());
}

const captures = [
  { name: 'udpu-full', file: fullCapture, messages: execMessages(fullCapture) },
  { name: 'udpu-faults', file: faultsCapture, messages: execMessages(faultsCapture) },
];

describe('votequorum messages in the corosync 3.1.7 captures', () => {
  const all = captures.flatMap((c) => c.messages.filter(isVotequorum));

  it('are all NODEINFOs, 32 bytes with header size 32, that decode and re-encode byte for byte', () => {
    // §9.1 counts 57 NODEINFOs over its captures, one of them a two_node cluster that is
    // not among the shared vectors; the shared udpu and udpu-faults captures hold 34 + 32.
    expect(captures.map((c) => c.messages.filter(isVotequorum).length)).toEqual([34, 32]);
    for (const m of all) {
      const h = readExecHeader(m.payload);
      expect(h.ok && h.value).toEqual({ id: 0x00050000, size: 32 });
      expect(m.payload).toHaveLength(32);
      const decoded = decodeVotequorumMessage(m.payload);
      if (!decoded.ok) throw decoded.error;
      expect(decoded.value.type).toBe('nodeinfo');
      expect(encodeVotequorumMessage(decoded.value)).toEqual(m.payload);
    }
    // RECONFIGURE, QDEVICE_REG and QDEVICE_RECONFIGURE did not occur.
    expect(new Set(all.map((m) => execId(m.payload) & 0xffff))).toEqual(new Set([VotequorumFn.nodeinfo]));
  });

  it('send NODEINFO(0) right after the sender\'s own NODEINFO and before its sync BARRIER', () => {
    let qdeviceRecords = 0;
    for (const { messages } of captures) {
      messages.forEach((m, i) => {
        if (!isVotequorum(m) || nodeInfo(m).nodeId !== 0) return;
        qdeviceRecords += 1;
        const own = messages.slice(0, i).filter((x) => x.sender === m.sender && x.ring === m.ring);
        const next = messages.slice(i + 1).find((x) => x.sender === m.sender);
        const previous = own[own.length - 1];
        expect(previous && isVotequorum(previous) && nodeInfo(previous).nodeId).toBe(m.sender);
        // The next message of the sender is its BARRIER (sync id 0) — or the capture ends.
        if (next) expect([next.group, execId(next.payload)]).toEqual(['sync', 0]);
        expect(nodeInfo(m)).toEqual({ type: 'nodeinfo', nodeId: 0, votes: 0, expectedVotes: 0, flags: 0 });
      });
    }
    // One per member of every synced ring: 15 in udpu (8 rings), 14 in udpu-faults (8 rings).
    expect(qdeviceRecords).toBe(29);
  });

  it('describe their sender with 1 vote and 3 expected votes; flags FIRST, QUORATE or none', () => {
    const own = all.map(nodeInfo).filter((m) => m.nodeId !== 0);
    // 29 in sync plus 8 start-up announcements.
    expect(own).toHaveLength(37);
    for (const m of own) expect([m.votes, m.expectedVotes]).toEqual([1, 3]);
    expect([...new Set(own.map((m) => m.flags))].sort()).toEqual([0, NodeFlags.quorate, NodeFlags.first]);
    for (const m of all) expect(nodeInfo(m).nodeId === 0 || nodeInfo(m).nodeId === m.sender).toBe(true);
  });

  it('include one start-up announcement (FIRST, no NODEINFO(0) after it) per corosync start', () => {
    const startups = captures.map(({ messages }) =>
      messages.filter((m, i) => {
        if (!isVotequorum(m) || nodeInfo(m).nodeId === 0) return false;
        const next = messages.slice(i + 1).find((x) => x.sender === m.sender);
        return !(next && isVotequorum(next) && nodeInfo(next).nodeId === 0);
      }),
    );
    // udpu: node1, node2, node3, node3 again after kill -9; faults: three starts and node3's restart.
    expect(startups.map((s) => s.map((m) => m.sender))).toEqual([
      [1, 2, 3, 3],
      [1, 2, 3, 3],
    ]);
    for (const m of startups.flat()) expect(nodeInfo(m).flags).toBe(NodeFlags.first);
  });
});

describe('VotequorumService through the captured membership histories', () => {
  const settings = { nodelist: nodelist(3) };

  function ours(cluster: FakeCluster): string[][] {
    const list = cluster.delivered.flatMap((d) => {
      const m = decodeVotequorumMessage(d.bytes);
      return m.ok && m.value.type === 'nodeinfo' ? [{ ring: ringIdKey(d.ringId), sender: d.sender, m: m.value }] : [];
    });
    return nodeInfosByRing(list);
  }

  function captured(messages: readonly CapturedMessage[]): string[][] {
    return nodeInfosByRing(messages.filter(isVotequorum).map((m) => ({ ring: m.ring, sender: m.sender, m: nodeInfo(m) })));
  }

  it('udpu: starts 5 s apart, kill -9 of node3 and its restart, orderly shutdowns', () => {
    const c = new FakeCluster();
    startVotequorumNode(c, 1, settings);
    c.form([1]); // 1.13d
    startVotequorumNode(c, 2, settings);
    c.form([1, 2]); // 1.141
    startVotequorumNode(c, 3, settings);
    c.form([1, 2, 3]); // 1.145
    c.crash(3);
    c.form([1, 2]); // 1.149
    startVotequorumNode(c, 3, settings);
    c.form([3]); // 3.14a
    c.form([1, 2, 3]); // 1.14e
    c.crash(2);
    c.form([1, 3]); // 1.152
    c.crash(3);
    c.form([1]); // 1.156: node1 alone still says QUORATE (its last calculation, made in 1.152)
    expect(ours(c)).toEqual(captured(captures[0]!.messages));
  });

  it('udpu-faults: simultaneous start, kill -9 of node3, restart, shutdown', () => {
    const c = new FakeCluster();
    for (const id of [1, 2, 3]) startVotequorumNode(c, id, settings);
    c.form([1], [2], [3]); // 1.28, 2.28, 3.28
    c.form([1, 2, 3]); // 1.2c: nobody quorate yet when sending, FIRST cleared
    c.crash(3);
    c.form([1, 2]); // 1.30
    startVotequorumNode(c, 3, settings);
    c.form([3]); // 3.31
    c.form([1, 2, 3]); // 1.35
    c.crash(1);
    c.form([2, 3]); // 2.39
    expect(ours(c)).toEqual(captured(captures[1]!.messages));
  });
});
