// The one place where the simulator reaches the wire codec (testing.md §4.2: every
// packet goes through the real codec, encode then decode, which catches codec bugs and
// aliasing the way etcd's rafttest network marshals copies). Swapping the codec, or
// wrapping it in crypto with PRNG nonces later, is a change to this file only.

import type { Result } from '../../src/base/result';
import type { DecodeError } from '../../src/totem/wire/decode-error';
import type { TotemMessage } from '../../src/totem/wire/messages';
import { decodeMessage, encodeMessage } from '../../src/totem/wire/codec';

export interface SimCodec {
  encode(message: TotemMessage): Uint8Array;
  decode(bytes: Uint8Array): Result<TotemMessage, DecodeError>;
}

export const realCodec: SimCodec = { encode: encodeMessage, decode: decodeMessage };
