// The keyring of CryptoTransport (architecture.md §2.5; after hashicorp/memberlist
// keyring.go, with corosync's idea of a phased key change, crypto_reconfigure_phase).
//
// Keys are derived from authkey file bytes (runtime/authkey.ts) with HKDF-SHA256
// (RFC 5869), two fixed strings and no secret salt:
//   aes key = HKDF(sha256, ikm = authkey, salt = "carillon authkey salt v1",
//                  info = "carillon aes-256-gcm key v1", 32 bytes)
//   key id  = HKDF(sha256, ikm = authkey, salt = "carillon authkey salt v1",
//                  info = "carillon key id v1", 1 byte)
// so nodes that hold the same authkey agree on the key and its id without any other
// configuration, and a changed derivation needs a new version string.
//
// The key id travels in clear in every frame; it only selects which key to try. With
// one byte, two authkeys collide with probability 1/256, so a keyring keeps a list per
// id and decryption tries each (a failed GCM tag check is cheap and reveals nothing).
//
// Rotation, on every node in turn: (1) add the new authkey as a secondary, (2) make it
// the primary (the old one becomes a secondary), (3) drop the old one. Between steps
// every node can read what every other node sends.
//
// Secrets: derived keys live in KeyObjects (not printable), the intermediate bytes are
// zeroed, and util.inspect / JSON.stringify of a Keyring show key ids only. The caller
// owns the authkey bytes and should zero them after building the keyring.

import * as crypto from 'node:crypto';
import { inspect } from 'node:util';
import { AuthkeyLimits } from '../authkey';

export const KeyDerivation = {
  hash: 'sha256',
  salt: 'carillon authkey salt v1',
  keyInfo: 'carillon aes-256-gcm key v1',
  keyIdInfo: 'carillon key id v1',
  keyBytes: 32,
} as const;

export interface KeyringKey {
  readonly keyId: number;
  readonly key: crypto.KeyObject;
}

export const KeyringErrorCode = { keySize: 'KEYRING_KEY_SIZE' } as const;
export type KeyringErrorCodeName = (typeof KeyringErrorCode)[keyof typeof KeyringErrorCode];

export class KeyringError extends Error {
  readonly code: KeyringErrorCodeName;

  constructor(code: KeyringErrorCodeName, message: string) {
    super(message);
    this.name = 'KeyringError';
    this.code = code;
  }
}

/** Derives the AES-256-GCM key and its id from authkey bytes (see the file header). */
export function deriveKey(authkey: Uint8Array): KeyringKey {
  if (authkey.length < AuthkeyLimits.bytesMin || authkey.length > AuthkeyLimits.bytesMax) {
    throw new KeyringError(
      KeyringErrorCode.keySize,
      `an authkey has ${AuthkeyLimits.bytesMin}–${AuthkeyLimits.bytesMax} bytes, this one ${authkey.length}`,
    );
  }
  const raw = new Uint8Array(crypto.hkdfSync(KeyDerivation.hash, authkey, KeyDerivation.salt, KeyDerivation.keyInfo, KeyDerivation.keyBytes));
  const id = new Uint8Array(crypto.hkdfSync(KeyDerivation.hash, authkey, KeyDerivation.salt, KeyDerivation.keyIdInfo, 1));
  const key = crypto.createSecretKey(raw);
  raw.fill(0);
  return { keyId: id[0] ?? 0, key };
}

export class Keyring {
  readonly primary: KeyringKey;
  readonly secondaries: readonly KeyringKey[];
  private readonly byId = new Map<number, KeyringKey[]>();

  constructor(primary: KeyringKey, secondaries: readonly KeyringKey[] = []) {
    this.primary = primary;
    this.secondaries = secondaries;
    // The primary first: it is the most likely match for its id.
    for (const entry of [primary, ...secondaries]) {
      const list = this.byId.get(entry.keyId) ?? [];
      if (!list.some((k) => k.key.equals(entry.key))) list.push(entry);
      this.byId.set(entry.keyId, list);
    }
  }

  /** A keyring from authkey file contents: the first encrypts, all decrypt. */
  static fromAuthkeys(primary: Uint8Array, secondaries: readonly Uint8Array[] = []): Keyring {
    return new Keyring(deriveKey(primary), secondaries.map(deriveKey));
  }

  /** The keys to try for a frame carrying `keyId` (empty: unknown key). */
  keysFor(keyId: number): readonly KeyringKey[] {
    return this.byId.get(keyId) ?? [];
  }

  /** Rotation step 2: `authkey` (already a secondary, or new) becomes the primary, the old primary a secondary. */
  withPrimary(authkey: Uint8Array): Keyring {
    const next = deriveKey(authkey);
    const rest = [this.primary, ...this.secondaries].filter((k) => !k.key.equals(next.key));
    return new Keyring(next, rest);
  }

  /** Rotation steps 1 and 3 in one: the same primary with these secondaries. */
  withSecondaries(authkeys: readonly Uint8Array[]): Keyring {
    return new Keyring(this.primary, authkeys.map(deriveKey));
  }

  /** What logs and `show config` may print: key ids only. */
  describe(): { primaryKeyId: number; secondaryKeyIds: number[] } {
    return { primaryKeyId: this.primary.keyId, secondaryKeyIds: this.secondaries.map((k) => k.keyId) };
  }

  toJSON(): { primaryKeyId: number; secondaryKeyIds: number[] } {
    return this.describe();
  }

  [inspect.custom](): string {
    const d = this.describe();
    return `Keyring { primary: key id ${d.primaryKeyId}, secondaries: [${d.secondaryKeyIds.map((id) => `key id ${id}`).join(', ')}] }`;
  }
}
