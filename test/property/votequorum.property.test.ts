// Goal: votequorum's codec and service hold up for any input, and the service's quorum
// arithmetic equals a dumb re-implementation of votequorum(5)'s formula.
// - Codec: every message round-trips (decode ∘ encode = id, byte-exact re-encode);
//   random bytes — raw, or behind a valid votequorum header — never make decode throw.
// - Service: random exec messages from random senders, in random order with sync hooks
//   and ticks between them, never make it throw; its answers stay self-consistent.
// - Oracle (raft's quorum/quick_test.go style): random nodelists (votes 0..3), optional
//   quorum.expected_votes, two_node, wait_for_all; a random subset starts cold and forms
//   one ring (random delivery interleaving), then members crash one by one. After every
//   sync each member's quorum, expected votes, total votes and quorate flag must equal:
//     E = max(configured expected votes, largest total seen)   (expected never drops here)
//     Q = 1 if two_node and ≤ 2 members, else (E + 2) / 2    (integer division)
//     quorate = T ≥ Q; with wait_for_all, while waiting (at a cold start, and again after
//     any loss of quorum) only when T equals E (all nodes seen).

import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Prng } from '../../src/base/prng';
import {
  decodeVotequorumMessage,
  encodeVotequorumMessage,
  QDEVICE_NAME_BYTES,
  type VotequorumMessage,
} from '../../src/services/votequorum/votequorum-messages';
import { VotequorumService, type VotequorumSettings } from '../../src/services/votequorum/votequorum-service';
import { DecodeError } from '../../src/totem/wire/decode-error';
import { FakeCluster, startVotequorumNode, vq } from '../unit/services/votequorum-fake-cluster';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const qdeviceName = fc.string({ unit: fc.constantFrom('a', 'b', 'Q', '-', '_', '1', 'é'), maxLength: 100 }).filter((s) => new TextEncoder().encode(s).length < QDEVICE_NAME_BYTES);

const message: fc.Arbitrary<VotequorumMessage> = fc.oneof(
  fc.record({ type: fc.constant('nodeinfo' as const), nodeId: u32, votes: u32, expectedVotes: u32, flags: u32 }),
  fc.record({ type: fc.constant('reconfigure' as const), nodeId: u32, value: u32, param: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ type: fc.constant('qdevice-reg' as const), operation: u32, name: qdeviceName }),
  fc.record({ type: fc.constant('qdevice-reconfigure' as const), oldName: qdeviceName, newName: qdeviceName }),
);

describe('votequorum codec', () => {
  it('round-trips every message, byte for byte', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeVotequorumMessage(m);
        const decoded = decodeVotequorumMessage(bytes);
        expect(decoded).toEqual({ ok: true, value: m });
        if (decoded.ok) expect(encodeVotequorumMessage(decoded.value)).toEqual(bytes);
        expect(new DataView(bytes.buffer).getInt32(8, true)).toBe(bytes.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random bytes, with or without a votequorum header', () => {
    const withHeader = fc.tuple(fc.integer({ min: 0, max: 5 }), fc.uint8Array({ minLength: 0, maxLength: 600 })).map(([fn, rest]) => {
      const bytes = new Uint8Array(Math.max(16, rest.length));
      bytes.set(rest.subarray(0, bytes.length));
      new DataView(bytes.buffer).setInt32(0, (5 << 16) | fn, true);
      return bytes;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), withHeader), (bytes) => {
        const d = decodeVotequorumMessage(bytes);
        if (!d.ok) expect(d.error).toBeInstanceOf(DecodeError);
        else expect(encodeVotequorumMessage(d.value).length).toBeLessThanOrEqual(Math.max(bytes.length, 528));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('VotequorumService under arbitrary input', () => {
  type Action =
    | { kind: 'message'; sender: number; m: VotequorumMessage }
    | { kind: 'bytes'; sender: number; fn: number; bytes: Uint8Array }
    | { kind: 'sync'; members: number[] }
    | { kind: 'tick'; ticks: number };

  const smallMessage: fc.Arbitrary<VotequorumMessage> = fc.oneof(
    fc.record({
      type: fc.constant('nodeinfo' as const),
      nodeId: fc.integer({ min: 0, max: 6 }),
      votes: fc.integer({ min: 0, max: 4 }),
      expectedVotes: fc.integer({ min: 0, max: 12 }),
      flags: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ type: fc.constant('reconfigure' as const), nodeId: fc.integer({ min: 0, max: 6 }), value: fc.integer({ min: 0, max: 12 }), param: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ type: fc.constant('qdevice-reg' as const), operation: fc.integer({ min: 0, max: 2 }), name: qdeviceName }),
    fc.record({ type: fc.constant('qdevice-reconfigure' as const), oldName: qdeviceName, newName: qdeviceName }),
  );

  const action: fc.Arbitrary<Action> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('message' as const), sender: fc.integer({ min: 1, max: 6 }), m: smallMessage }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('bytes' as const), sender: fc.integer({ min: 1, max: 6 }), fn: fc.integer({ min: 0, max: 5 }), bytes: fc.uint8Array({ maxLength: 64 }) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync' as const), members: fc.subarray([2, 3, 4, 5, 6]) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ticks: fc.integer({ min: 1, max: 150 }) }) },
  );

  const settings: fc.Arbitrary<VotequorumSettings> = fc.record(
    {
      expectedVotes: fc.integer({ min: 1, max: 10 }),
      twoNode: fc.boolean(),
      waitForAll: fc.boolean(),
      lastManStanding: fc.boolean(),
      lastManStandingWindowMs: fc.integer({ min: 0, max: 5000 }),
      autoTieBreaker: fc.boolean(),
      autoTieBreakerNode: fc.oneof(fc.constant('lowest' as const), fc.constant('highest' as const), fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 4 })),
      allowDownscale: fc.boolean(),
      expectedVotesTracking: fc.boolean(),
    },
    { requiredKeys: [] },
  ).map((s) => ({ ...s, nodelist: [1, 2, 3, 4, 5, 6].map((nodeId) => ({ nodeId, votes: 1 })) }));

  it('never throws and keeps getInfo, status and isQuorate consistent', () => {
    fc.assert(
      fc.property(settings, fc.array(action, { maxLength: 60 }), (s, actions) => {
        const c = new FakeCluster();
        let service: VotequorumService | undefined;
        const node = c.start(1, (n) => {
          const r = VotequorumService.create(n.api, s);
          if (!r.ok) return [];
          service = r.value;
          return [r.value];
        });
        if (!service) return;
        let ring = 0n;
        const loopBack = (): void => {
          // Our own multicasts come back in order, as the bus would deliver them.
          for (const item of node.out.splice(0)) if (item.kind === 'exec') service!.deliver(new DataView(item.bytes.buffer).getInt32(0, true) & 0xffff, 1, item.bytes);
        };
        for (const a of actions) {
          if (a.kind === 'message') service.deliver(fnOf(a.m), a.sender, encodeVotequorumMessage(a.m));
          else if (a.kind === 'bytes') service.deliver(a.fn, a.sender, a.bytes);
          else if (a.kind === 'tick') c.tick(a.ticks);
          else {
            ring += 4n;
            const members = [1, ...a.members];
            service.sync.init(members, members, { rep: 1, seq: ring });
            expect(service.sync.process()).toBe('done');
            loopBack();
            service.sync.activate();
          }
          loopBack();
          const info = service.getInfo(1)!;
          const status = service.status();
          expect(status.quorate).toBe(service.isQuorate());
          expect(Boolean(info.flags & 2)).toBe(service.isQuorate());
          expect([status.quorum, status.totalVotes, status.expectedVotes]).toEqual([info.quorum, info.totalVotes, info.expectedVotes]);
          expect(info.quorum).toBeGreaterThanOrEqual(0);
          expect(info.quorum).toBeLessThanOrEqual(255);
        }
      }),
      { numRuns: 400 },
    );
  });
});

function fnOf(m: VotequorumMessage): number {
  return { nodeinfo: 0, reconfigure: 1, 'qdevice-reg': 2, 'qdevice-reconfigure': 3 }[m.type];
}

describe('quorum arithmetic against a straightforward oracle', () => {
  interface Case {
    votes: number[];
    expectedVotes: number | undefined;
    twoNode: boolean;
    waitForAll: boolean | undefined;
    members: number[];
    crashes: number[];
    seed: number;
  }

  const scenario: fc.Arbitrary<Case> = fc
    .integer({ min: 1, max: 7 })
    .chain((n) =>
      fc.record({
        votes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
        expectedVotes: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
        twoNode: fc.boolean(),
        waitForAll: fc.option(fc.boolean(), { nil: undefined }),
        members: fc.subarray(
          Array.from({ length: n }, (_, i) => i + 1),
          { minLength: 1 },
        ),
        crashes: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
        seed: fc.integer(),
      }),
    );

  it('quorum, expected votes, total votes and quorate flag match the formula', () => {
    fc.assert(
      fc.property(scenario, (k) => {
        const settings: VotequorumSettings = {
          nodelist: k.votes.map((votes, i) => ({ nodeId: i + 1, votes })),
          twoNode: k.twoNode,
          ...(k.expectedVotes !== undefined ? { expectedVotes: k.expectedVotes } : {}),
          ...(k.waitForAll !== undefined ? { waitForAll: k.waitForAll } : {}),
        };
        const configuredExpected = k.expectedVotes ?? k.votes.reduce((a, b) => a + b, 0);
        const wfa = k.waitForAll ?? k.twoNode;
        const c = new FakeCluster({ prng: new Prng(k.seed) });
        for (const id of k.members) startVotequorumNode(c, id, settings);
        let members = [...k.members];
        c.form(members);

        const total = (): number => members.reduce((sum, id) => sum + k.votes[id - 1]!, 0);
        let expected = Math.max(configuredExpected, total());
        let quorate = false;
        const verify = (): void => {
          const t = total();
          expected = Math.max(expected, t);
          const quorum = k.twoNode && members.length <= 2 ? 1 : Math.floor((expected + 2) / 2);
          // wait_for_all waits at a cold start and again after every loss of quorum, until
          // the total votes equal the expected votes (here: never, once the ring shrank).
          const waiting = wfa && !quorate;
          quorate = t >= quorum && (!waiting || t === expected);
          for (const id of members) {
            const info = vq(c, id).getInfo(id)!;
            expect({ id, quorum: info.quorum, expected: info.expectedVotes, total: info.totalVotes, quorate: vq(c, id).isQuorate() }).toEqual({
              id,
              quorum,
              expected,
              total: t,
              quorate,
            });
          }
        };
        verify();
        for (const pick of k.crashes) {
          if (members.length === 1) break;
          const victim = members[pick % members.length]!;
          c.crash(victim);
          members = members.filter((id) => id !== victim);
          c.form(members);
          verify();
        }
      }),
      { numRuns: 3000 },
    );
  });
});
