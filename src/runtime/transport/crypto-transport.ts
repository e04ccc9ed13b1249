// CryptoTransport: authenticated encryption around any Transport (architecture.md
// decision 2 and §2.5; the wrapping follows hashicorp/memberlist's labelWrappedTransport).
// A Carillon extension: corosync 3 has no crypto on udp/udpu (corosync-wire.md §4.1),
// so with it on only Carillon nodes sharing the authkey and cluster_name can join; with
// it off this wrapper is simply not installed and the wire is corosync's.
//
// Frame (30 bytes of overhead, CRYPTO_OVERHEAD_BYTES; netmtu budgeting subtracts it):
//   version:u8 (= 1) | keyId:u8 | nonce:12 | ciphertext (= plaintext length) | tag:16
// Cipher AES-256-GCM (node:crypto), 16-byte tag. AAD = "carillon" | version:u8 |
// cluster_name (UTF-8): a datagram from another cluster fails authentication even with
// the same authkey — two clusters never mix — and a future frame version cannot be
// replayed as this one. Keys: transport/keyring.ts (encrypt with the primary, decrypt
// with whichever key the frame's keyId names).
//
// Nonces are 12 bytes from the injected random source (crypto.randomBytes in the
// daemon). Random 96-bit nonces are safe for 2^32 messages per key (NIST SP 800-38D
// §8.3); we count encryptions and warn once when the primary key reaches that, so the
// operator rotates the key long before a nonce collision becomes likely.
//
// Anything that fails (too short, unknown version or key id, bad tag) is dropped and
// counted in `authFailures`, never thrown, and reported through a rate-limited warning
// (at most one per interval, with the number suppressed since the previous one).
// Replay protection is not provided here: Totem already discards duplicate and old
// messages by ring id and seq.

import * as crypto from 'node:crypto';
import { type Keyring, type KeyringKey } from './keyring';
import {
  type DatagramListener,
  ListenerSet,
  RateLimiter,
  type Transport,
  type TransportMember,
  type TransportStats,
} from './transport';

export const CRYPTO_FRAME_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 2 + NONCE_BYTES;
/** Bytes CryptoTransport adds to every datagram. */
export const CRYPTO_OVERHEAD_BYTES = HEADER_BYTES + TAG_BYTES;
/** Random-nonce GCM invocation limit per key (NIST SP 800-38D §8.3). */
export const NONCE_RANDOM_MESSAGES_MAX = 2 ** 32;

const AAD_PREFIX = 'carillon';

export const AuthFailureReason = {
  tooShort: 'too-short',
  badVersion: 'bad-version',
  unknownKey: 'unknown-key',
  badTag: 'bad-tag',
} as const;
export type AuthFailureReasonName = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

export interface CryptoTransportStats extends TransportStats {
  /** Datagrams dropped because they could not be authenticated (all reasons). */
  authFailures: number;
  authFailuresByReason: Record<AuthFailureReasonName, number>;
  encrypted: number;
  decrypted: number;
  /** Decrypted with a secondary key: peers have not all switched primaries yet. */
  decryptedWithSecondary: number;
}

export interface CryptoTransportOptions {
  readonly inner: Transport;
  readonly keyring: Keyring;
  /** totem.cluster_name ('' when unset); part of the AAD. */
  readonly clusterName: string;
  /** Nonce source; default crypto.randomBytes. The simulator injects its Prng. */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** Where authentication failures are reported, rate limited. */
  readonly warn?: (message: string, fields?: Readonly<Record<string, unknown>>) => void;
  /** Minimum time between two authentication-failure warnings; default 10 s. */
  readonly warnIntervalMs?: number;
  /** Monotonic milliseconds for the rate limit; default performance.now. */
  readonly now?: () => number;
}

function buildAad(clusterName: string): Buffer {
  return Buffer.concat([Buffer.from(AAD_PREFIX, 'utf8'), Buffer.from([CRYPTO_FRAME_VERSION]), Buffer.from(clusterName, 'utf8')]);
}

export class CryptoTransport implements Transport {
  private readonly inner: Transport;
  private keyring: Keyring;
  private readonly aad: Buffer;
  private readonly randomBytes: (size: number) => Uint8Array;
  private readonly warn: (message: string, fields?: Readonly<Record<string, unknown>>) => void;
  private readonly warnLimiter: RateLimiter;
  private readonly listeners = new ListenerSet();
  private readonly counters = {
    authFailures: 0,
    authFailuresByReason: { 'too-short': 0, 'bad-version': 0, 'unknown-key': 0, 'bad-tag': 0 } as Record<AuthFailureReasonName, number>,
    encrypted: 0,
    decrypted: 0,
    decryptedWithSecondary: 0,
  };
  /** Encryptions with the current primary key (for the nonce limit warning). */
  private primaryUses = 0;

  constructor(options: CryptoTransportOptions) {
    this.inner = options.inner;
    this.keyring = options.keyring;
    this.aad = buildAad(options.clusterName);
    this.randomBytes = options.randomBytes ?? ((size) => crypto.randomBytes(size));
    this.warn = options.warn ?? (() => undefined);
    this.warnLimiter = new RateLimiter(options.warnIntervalMs ?? 10_000, options.now);
    this.inner.onDatagram((bytes, fromNodeId, fromAddress) => this.receive(bytes, fromNodeId, fromAddress));
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  sendToAll(bytes: Uint8Array, skipLocal?: boolean): void {
    this.inner.sendToAll(this.seal(bytes), skipLocal);
  }

  sendTo(nodeId: number, bytes: Uint8Array): void {
    this.inner.sendTo(nodeId, this.seal(bytes));
  }

  onDatagram(listener: DatagramListener): () => void {
    return this.listeners.add(listener);
  }

  setMembers(members: readonly TransportMember[]): void {
    this.inner.setMembers(members);
  }

  /** Key rotation at run time (see keyring.ts); takes effect for the next datagram. */
  setKeyring(keyring: Keyring): void {
    if (!keyring.primary.key.equals(this.keyring.primary.key)) this.primaryUses = 0;
    this.keyring = keyring;
  }

  stats(): CryptoTransportStats {
    return { ...this.inner.stats(), ...this.counters, authFailuresByReason: { ...this.counters.authFailuresByReason } };
  }

  /** Encrypts one datagram into a frame (exposed for tests and tools). */
  seal(plaintext: Uint8Array): Uint8Array {
    const { keyId, key } = this.keyring.primary;
    const nonce = this.randomBytes(NONCE_BYTES);
    if (nonce.length !== NONCE_BYTES) throw new RangeError(`the random source returned ${nonce.length} bytes, not ${NONCE_BYTES}`);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aad);
    const frame = Buffer.allocUnsafe(CRYPTO_OVERHEAD_BYTES + plaintext.length);
    frame[0] = CRYPTO_FRAME_VERSION;
    frame[1] = keyId;
    frame.set(nonce, 2);
    let offset = HEADER_BYTES;
    offset += cipher.update(plaintext).copy(frame, offset);
    offset += cipher.final().copy(frame, offset);
    cipher.getAuthTag().copy(frame, offset);
    this.counters.encrypted += 1;
    this.primaryUses += 1;
    if (this.primaryUses === NONCE_RANDOM_MESSAGES_MAX) {
      this.warn(`key id ${keyId} has encrypted 2^32 datagrams with random nonces: rotate the authkey (carillon keygen, then add it as the new primary on every node)`, { keyId });
    }
    return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  }

  /** Decrypts one frame, or says why it does not authenticate. */
  open(frame: Uint8Array): { plaintext: Uint8Array; key: KeyringKey } | { failure: AuthFailureReasonName } {
    if (frame.length < CRYPTO_OVERHEAD_BYTES) return { failure: AuthFailureReason.tooShort };
    if (frame[0] !== CRYPTO_FRAME_VERSION) return { failure: AuthFailureReason.badVersion };
    const candidates = this.keyring.keysFor(frame[1] ?? 0);
    if (candidates.length === 0) return { failure: AuthFailureReason.unknownKey };
    const nonce = frame.subarray(2, HEADER_BYTES);
    const ciphertext = frame.subarray(HEADER_BYTES, frame.length - TAG_BYTES);
    const tag = frame.subarray(frame.length - TAG_BYTES);
    for (const candidate of candidates) {
      const decipher = crypto.createDecipheriv('aes-256-gcm', candidate.key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.aad);
      decipher.setAuthTag(tag);
      const head = decipher.update(ciphertext);
      try {
        const tail = decipher.final();
        const plain = tail.length === 0 ? head : Buffer.concat([head, tail]);
        return { plaintext: new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength), key: candidate };
      } catch {
        // Wrong key or tampered frame: try the next key with this id, if any.
        head.fill(0);
      }
    }
    return { failure: AuthFailureReason.badTag };
  }

  private receive(frame: Uint8Array, fromNodeId: number | null, fromAddress: string): void {
    const opened = this.open(frame);
    if ('failure' in opened) {
      this.counters.authFailures += 1;
      this.counters.authFailuresByReason[opened.failure] += 1;
      const suppressed = this.warnLimiter.pass();
      if (suppressed !== null) {
        const who = fromNodeId === null ? fromAddress : `${fromAddress} (nodeid ${fromNodeId})`;
        const more = suppressed > 0 ? `; ${suppressed} more dropped since the last warning` : '';
        this.warn(
          `dropped a datagram from ${who} that failed authentication (${opened.failure})${more}: is the authkey and cluster_name the same on every node, and crypto on everywhere?`,
          { reason: opened.failure, fromNodeId, fromAddress, suppressed },
        );
      }
      return;
    }
    this.counters.decrypted += 1;
    if (opened.key !== this.keyring.primary) this.counters.decryptedWithSecondary += 1;
    this.listeners.emit(opened.plaintext, fromNodeId, fromAddress);
  }
}
