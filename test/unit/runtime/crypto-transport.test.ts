// Goal: CryptoTransport frames every datagram as version | keyId | nonce | ciphertext |
// tag (30 bytes of overhead), round-trips through any Transport, and drops — counting
// authFailures, never throwing — anything that does not authenticate: another authkey,
// a tampered byte, another cluster_name, a short or foreign-version frame. A secondary
// key is accepted (rotation), and failures are warned about at most once per interval
// with the number suppressed.
// Method: two CryptoTransports over an in-memory hub of MemoryTransports (delivery is
// asynchronous, like a socket; awaited with a bounded helper), injected nonces and an
// injected clock for the rate limit.

import { describe, expect, it } from '@jest/globals';
import * as crypto from 'node:crypto';
import { inspect } from 'node:util';
import {
  CRYPTO_FRAME_VERSION,
  CRYPTO_OVERHEAD_BYTES,
  CryptoTransport,
  type CryptoTransportOptions,
} from '../../../src/runtime/transport/crypto-transport';
import { KeyDerivation, Keyring, deriveKey } from '../../../src/runtime/transport/keyring';
import {
  type DatagramListener,
  ListenerSet,
  type Transport,
  type TransportMember,
  type TransportStats,
  createTransportStats,
} from '../../../src/runtime/transport/transport';

/** A bus delivering datagrams between MemoryTransports on setImmediate, like a socket. */
class MemoryHub {
  readonly nodes = new Map<number, MemoryTransport>();
  /** Test hook: may rewrite (or drop, returning null) each datagram in flight. */
  tamper: ((bytes: Uint8Array) => Uint8Array | null) | null = null;

  deliver(to: number, bytes: Uint8Array, from: number): void {
    const target = this.nodes.get(to);
    const copy = this.tamper === null ? bytes.slice() : this.tamper(bytes.slice());
    if (target === undefined || copy === null) return;
    setImmediate(() => target.receive(copy, from));
  }
}

class MemoryTransport implements Transport {
  readonly nodeId: number;
  private readonly hub: MemoryHub;
  private readonly listeners = new ListenerSet();
  private readonly counters = createTransportStats();
  /** The raw frames this node sent, for inspection. */
  readonly wire: Uint8Array[] = [];

  constructor(hub: MemoryHub, nodeId: number) {
    this.hub = hub;
    this.nodeId = nodeId;
    hub.nodes.set(nodeId, this);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  sendToAll(bytes: Uint8Array): void {
    this.wire.push(bytes);
    for (const id of this.hub.nodes.keys()) this.hub.deliver(id, bytes, this.nodeId);
  }
  sendTo(nodeId: number, bytes: Uint8Array): void {
    this.wire.push(bytes);
    this.hub.deliver(nodeId, bytes, this.nodeId);
  }
  onDatagram(listener: DatagramListener): () => void {
    return this.listeners.add(listener);
  }
  setMembers(_members: readonly TransportMember[]): void {}
  stats(): TransportStats {
    return { ...this.counters };
  }
  receive(bytes: Uint8Array, from: number): void {
    this.counters.received += 1;
    this.listeners.emit(bytes, from, `mem:${from}`);
  }
}

const authkeyA = new Uint8Array(256).fill(0xa1);
const authkeyB = new Uint8Array(256).fill(0xb2);

interface Received {
  bytes: Uint8Array;
  from: number | null;
  address: string;
}

/** Collects datagrams; `next(n)` waits (bounded) until n have arrived. */
function collector(t: Transport): { items: Received[]; next(count: number, timeoutMs?: number): Promise<Received[]> } {
  const items: Received[] = [];
  const waiters: Array<() => void> = [];
  t.onDatagram((bytes, from, address) => {
    items.push({ bytes, from, address });
    for (const w of waiters.splice(0)) w();
  });
  return {
    items,
    next(count, timeoutMs = 1000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} datagrams (got ${items.length})`)), timeoutMs);
        const check = (): void => {
          if (items.length >= count) {
            clearTimeout(timer);
            resolve(items.slice(0, count));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
  };
}

/** Lets every pending setImmediate delivery run (the hub delivers on setImmediate). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

function pair(
  a: Partial<CryptoTransportOptions> & { keyring: Keyring; clusterName: string },
  b: Partial<CryptoTransportOptions> & { keyring: Keyring; clusterName: string },
): { hub: MemoryHub; ta: CryptoTransport; tb: CryptoTransport; ma: MemoryTransport; mb: MemoryTransport } {
  const hub = new MemoryHub();
  const ma = new MemoryTransport(hub, 1);
  const mb = new MemoryTransport(hub, 2);
  return { hub, ma, mb, ta: new CryptoTransport({ ...a, inner: ma }), tb: new CryptoTransport({ ...b, inner: mb }) };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('CryptoTransport', () => {
  it('round-trips sendTo and sendToAll with the documented frame layout', async () => {
    const keyring = Keyring.fromAuthkeys(authkeyA);
    let counter = 0;
    const nonces = (n: number): Uint8Array => new Uint8Array(n).fill((counter += 1));
    const { ta, tb, ma } = pair({ keyring, clusterName: 'pbx', randomBytes: nonces }, { keyring, clusterName: 'pbx' });
    const atA = collector(ta);
    const atB = collector(tb);
    ta.sendTo(2, text('token'));
    ta.sendToAll(text('mcast'));
    const [first, second] = await atB.next(2);
    expect(first?.bytes).toEqual(text('token'));
    expect(first?.from).toBe(1);
    expect(first?.address).toBe('mem:1');
    expect(second?.bytes).toEqual(text('mcast'));
    expect((await atA.next(1))[0]?.bytes).toEqual(text('mcast'));

    expect(CRYPTO_OVERHEAD_BYTES).toBe(30);
    const frame = ma.wire[0] ?? new Uint8Array();
    expect(frame.length).toBe(text('token').length + 30);
    expect(frame[0]).toBe(CRYPTO_FRAME_VERSION);
    expect(frame[1]).toBe(keyring.primary.keyId);
    expect([...frame.subarray(2, 14)]).toEqual(new Array(12).fill(1));
    // The plaintext does not appear in the frame.
    expect(Buffer.from(frame).includes(Buffer.from('token'))).toBe(false);
    expect(ta.stats()).toMatchObject({ encrypted: 2, authFailures: 0 });
    expect(tb.stats()).toMatchObject({ decrypted: 2, authFailures: 0 });
  });

  it('matches an independent AES-256-GCM computation (HKDF key, AAD = "carillon" | 1 | cluster_name)', () => {
    const keyring = Keyring.fromAuthkeys(authkeyA);
    const t = new CryptoTransport({ inner: new MemoryTransport(new MemoryHub(), 1), keyring, clusterName: 'pbx', randomBytes: (n) => new Uint8Array(n) });
    const frame = t.seal(text('hello'));
    const key = Buffer.from(crypto.hkdfSync('sha256', authkeyA, KeyDerivation.salt, KeyDerivation.keyInfo, 32));
    const keyId = new Uint8Array(crypto.hkdfSync('sha256', authkeyA, KeyDerivation.salt, KeyDerivation.keyIdInfo, 1))[0];
    const cipher = crypto.createCipheriv('aes-256-gcm', key, Buffer.alloc(12), { authTagLength: 16 });
    cipher.setAAD(Buffer.concat([Buffer.from('carillon'), Buffer.from([1]), Buffer.from('pbx')]));
    const expected = Buffer.concat([Buffer.from([1, keyId ?? -1]), Buffer.alloc(12), cipher.update('hello'), cipher.final(), cipher.getAuthTag()]);
    expect(Buffer.from(frame).equals(expected)).toBe(true);
  });

  it('drops and counts datagrams sealed with another authkey', async () => {
    const { ta, tb } = pair({ keyring: Keyring.fromAuthkeys(authkeyA), clusterName: 'pbx' }, { keyring: Keyring.fromAuthkeys(authkeyB), clusterName: 'pbx' });
    const atB = collector(tb);
    ta.sendTo(2, text('x'));
    await flush();
    expect(atB.items).toEqual([]);
    const stats = tb.stats();
    expect(stats.authFailures).toBe(1);
    // Different authkeys almost always have different key ids; either way it is dropped.
    expect(stats.authFailuresByReason['unknown-key'] + stats.authFailuresByReason['bad-tag']).toBe(1);
  });

  it('drops a frame with any single tampered byte (header, nonce, ciphertext or tag)', async () => {
    const keyring = Keyring.fromAuthkeys(authkeyA);
    const { hub, ta, tb } = pair({ keyring, clusterName: 'pbx' }, { keyring, clusterName: 'pbx' });
    const atB = collector(tb);
    const length = text('payload').length + CRYPTO_OVERHEAD_BYTES;
    for (let i = 0; i < length; i += 1) {
      hub.tamper = (bytes) => {
        bytes[i] = (bytes[i] ?? 0) ^ 0x01;
        return bytes;
      };
      ta.sendTo(2, text('payload'));
    }
    await flush();
    expect(atB.items).toEqual([]);
    expect(tb.stats().authFailures).toBe(length);
    expect(tb.stats().authFailuresByReason['bad-version']).toBe(1);
    hub.tamper = null;
    ta.sendTo(2, text('payload'));
    expect((await atB.next(1))[0]?.bytes).toEqual(text('payload'));
  });

  it('drops datagrams of another cluster_name with the same authkey', async () => {
    const keyring = Keyring.fromAuthkeys(authkeyA);
    const { ta, tb } = pair({ keyring, clusterName: 'pbx-east' }, { keyring, clusterName: 'pbx-west' });
    const atB = collector(tb);
    ta.sendToAll(text('x'));
    await flush();
    expect(atB.items).toEqual([]);
    expect(tb.stats().authFailuresByReason['bad-tag']).toBe(1);
  });

  it('drops short frames and plain (unencrypted) corosync datagrams', async () => {
    const keyring = Keyring.fromAuthkeys(authkeyA);
    const { ma, tb } = pair({ keyring, clusterName: 'c' }, { keyring, clusterName: 'c' });
    const atB = collector(tb);
    ma.sendTo(2, new Uint8Array(29).fill(1));
    // A plain totem header starts with type 0..5, never version 1 + a full frame that verifies.
    ma.sendTo(2, Uint8Array.from([0x00, 0x00, 0x22, 0xff, ...new Array<number>(60).fill(0)]));
    await flush();
    expect(atB.items).toEqual([]);
    expect(tb.stats().authFailuresByReason).toMatchObject({ 'too-short': 1, 'bad-version': 1 });
  });

  it('rotation: a secondary key is accepted, the primary encrypts, and withPrimary switches', async () => {
    const oldRing = Keyring.fromAuthkeys(authkeyA);
    const both = Keyring.fromAuthkeys(authkeyA, [authkeyB]);
    const { ta, tb } = pair({ keyring: oldRing, clusterName: 'c' }, { keyring: both, clusterName: 'c' });
    const atA = collector(ta);
    const atB = collector(tb);
    ta.sendTo(2, text('old'));
    expect((await atB.next(1))[0]?.bytes).toEqual(text('old'));
    // Step 2 on node 2: B becomes primary; node 1 (A only) cannot read it yet...
    tb.setKeyring(both.withPrimary(authkeyB));
    tb.sendTo(1, text('new'));
    await flush();
    expect(atA.items).toEqual([]);
    expect(ta.stats().authFailures).toBe(1);
    // ...until node 1 adds B as a secondary (step 1 there).
    ta.setKeyring(oldRing.withSecondaries([authkeyB]));
    tb.sendTo(1, text('new'));
    expect((await atA.next(1))[0]?.bytes).toEqual(text('new'));
    expect(ta.stats().decryptedWithSecondary).toBe(1);
    // Node 2 still reads A (now its secondary).
    ta.sendTo(2, text('still'));
    expect((await atB.next(2))[1]?.bytes).toEqual(text('still'));
    expect(tb.stats().decryptedWithSecondary).toBe(1);
  });

  it('tries every key sharing a key id', async () => {
    // Find a second authkey whose derived key id collides with A's.
    const idA = deriveKey(authkeyA).keyId;
    let other: Uint8Array | null = null;
    for (let i = 0; i < 5000 && other === null; i += 1) {
      const candidate = new Uint8Array(128);
      new DataView(candidate.buffer).setUint32(0, i);
      if (deriveKey(candidate).keyId === idA) other = candidate;
    }
    expect(other).not.toBeNull();
    const receiver = Keyring.fromAuthkeys(other ?? authkeyB, [authkeyA]);
    expect(receiver.keysFor(idA)).toHaveLength(2);
    const { ta, tb } = pair({ keyring: Keyring.fromAuthkeys(authkeyA), clusterName: 'c' }, { keyring: receiver, clusterName: 'c' });
    const atB = collector(tb);
    ta.sendTo(2, text('collide'));
    expect((await atB.next(1))[0]?.bytes).toEqual(text('collide'));
  });

  it('warns at most once per interval and reports how many were suppressed', async () => {
    let nowMs = 0;
    const warnings: string[] = [];
    const { ta, tb } = pair(
      { keyring: Keyring.fromAuthkeys(authkeyA), clusterName: 'c' },
      { keyring: Keyring.fromAuthkeys(authkeyB), clusterName: 'c', warn: (m) => warnings.push(m), warnIntervalMs: 10_000, now: () => nowMs },
    );
    for (let i = 0; i < 5; i += 1) ta.sendTo(2, text('x'));
    await flush();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('failed authentication');
    expect(warnings[0]).toContain('mem:1 (nodeid 1)');
    nowMs = 9_999;
    ta.sendTo(2, text('x'));
    await flush();
    expect(warnings).toHaveLength(1);
    nowMs = 10_000;
    ta.sendTo(2, text('x'));
    await flush();
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain('5 more dropped since the last warning');
    expect(tb.stats().authFailures).toBe(7);
  });

  it('never shows key material in inspect or JSON', () => {
    const keyring = Keyring.fromAuthkeys(authkeyA, [authkeyB]);
    const shown = `${inspect(keyring, { depth: 10 })} ${JSON.stringify(keyring)}`;
    expect(shown).toContain(`key id ${keyring.primary.keyId}`);
    const raw = Buffer.from(crypto.hkdfSync('sha256', authkeyA, KeyDerivation.salt, KeyDerivation.keyInfo, 32)).toString('hex');
    expect(shown).not.toContain(raw.slice(0, 16));
    expect(shown).not.toMatch(/a1a1a1/);
    expect(() => Keyring.fromAuthkeys(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'KEYRING_KEY_SIZE' }));
  });
});
