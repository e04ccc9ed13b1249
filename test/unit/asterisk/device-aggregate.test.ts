// Goal: src/asterisk/core/device-aggregate.ts combines per-server device states exactly as
// Asterisk's ast_devstate_aggregate_add does (res-corosync.md §1.4), including the two
// combinations the real cluster showed (asterisk-groundtruth.md §1.4).
// Method: a hand-written table of pairs and longer lists; fast-check properties for order
// independence, idempotence and the RINGING-with-a-call rule.

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  EMPTY_DEVICE_STATE_AGGREGATE,
  addToDeviceStateAggregate,
  aggregateDeviceStates,
} from '../../../src/asterisk/core/device-aggregate';
import { DeviceState, deviceStateFromName, deviceStateName, type DeviceStateName } from '../../../src/asterisk/core/events';

function agg(...names: DeviceStateName[]): DeviceStateName {
  return deviceStateName(
    aggregateDeviceStates(
      names.map((n) => {
        const state = deviceStateFromName(n);
        if (state === null) throw new Error(n);
        return state;
      }),
    ),
  );
}

const anyState = fc.integer({ min: 0, max: 8 }).map((n) => n as DeviceState);

describe('aggregateDeviceStates', () => {
  test('no entries give INVALID', () => {
    expect(aggregateDeviceStates([])).toBe(DeviceState.invalid);
    expect(EMPTY_DEVICE_STATE_AGGREGATE.state).toBe(DeviceState.invalid);
  });

  test('what the real cluster showed: INUSE + BUSY = BUSY, RINGING + INUSE = RINGINUSE', () => {
    expect(agg('INUSE', 'BUSY')).toBe('BUSY');
    expect(agg('RINGING', 'INUSE')).toBe('RINGINUSE');
  });

  test.each<[DeviceStateName, DeviceStateName, DeviceStateName]>([
    ['UNKNOWN', 'INVALID', 'UNKNOWN'],
    ['UNAVAILABLE', 'UNKNOWN', 'UNAVAILABLE'],
    ['NOT_INUSE', 'UNAVAILABLE', 'NOT_INUSE'],
    ['NOT_INUSE', 'UNKNOWN', 'NOT_INUSE'],
    ['NOT_INUSE', 'INUSE', 'INUSE'],
    ['ONHOLD', 'NOT_INUSE', 'ONHOLD'],
    ['ONHOLD', 'INUSE', 'INUSE'],
    ['ONHOLD', 'BUSY', 'BUSY'],
    ['RINGING', 'NOT_INUSE', 'RINGING'],
    ['RINGING', 'UNAVAILABLE', 'RINGING'],
    ['RINGING', 'ONHOLD', 'RINGINUSE'],
    ['RINGING', 'BUSY', 'RINGINUSE'],
    ['RINGING', 'RINGING', 'RINGING'],
    ['RINGING', 'RINGINUSE', 'RINGINUSE'],
    ['INUSE', 'INUSE', 'INUSE'],
    ['BUSY', 'RINGINUSE', 'RINGINUSE'],
    ['INUSE', 'RINGINUSE', 'RINGINUSE'],
    ['INVALID', 'INVALID', 'INVALID'],
    ['UNAVAILABLE', 'INVALID', 'UNAVAILABLE'],
  ])('%s + %s = %s (either order)', (a, b, expected) => {
    expect(agg(a, b)).toBe(expected);
    expect(agg(b, a)).toBe(expected);
  });

  test('one entry is itself', () => {
    for (let s = 0; s <= 8; s++) expect(aggregateDeviceStates([s as DeviceState])).toBe(s);
  });

  test('the priority order, lowest to highest, without RINGING', () => {
    const order: DeviceStateName[] = ['INVALID', 'UNKNOWN', 'UNAVAILABLE', 'NOT_INUSE', 'ONHOLD', 'INUSE', 'BUSY', 'RINGINUSE'];
    for (let i = 0; i < order.length; i++) {
      for (let j = i; j < order.length; j++) {
        const low = order[i] as DeviceStateName;
        const high = order[j] as DeviceStateName;
        expect(agg(low, high)).toBe(high);
        expect(agg(high, low)).toBe(high);
      }
    }
  });

  test('RINGING with a call on another server, whatever lies between them', () => {
    expect(agg('RINGING', 'NOT_INUSE', 'UNKNOWN', 'ONHOLD')).toBe('RINGINUSE');
    expect(agg('BUSY', 'UNAVAILABLE', 'RINGING')).toBe('RINGINUSE');
    expect(agg('NOT_INUSE', 'UNAVAILABLE', 'UNKNOWN', 'INVALID')).toBe('NOT_INUSE');
  });

  test('accepts any iterable', () => {
    function* entries(): Generator<DeviceState> {
      yield DeviceState.ringing;
      yield DeviceState.onhold;
    }
    expect(aggregateDeviceStates(entries())).toBe(DeviceState.ringinuse);
    expect(aggregateDeviceStates(new Set([DeviceState.busy, DeviceState.notInuse]))).toBe(DeviceState.busy);
  });

  test('an out-of-range state is a programmer error', () => {
    expect(() => aggregateDeviceStates([9 as DeviceState])).toThrow(/out of range/);
  });
});

describe('aggregation properties', () => {
  test('the result does not depend on the order of the entries', () => {
    fc.assert(
      fc.property(
        fc.array(anyState, { maxLength: 12 }).chain((states) => fc.tuple(fc.constant(states), fc.shuffledSubarray(states, { minLength: states.length }))),
        ([states, shuffled]) => {
          expect(shuffled).toHaveLength(states.length);
          expect(aggregateDeviceStates(shuffled)).toBe(aggregateDeviceStates(states));
        },
      ),
    );
  });

  test('adding an entry already present changes nothing', () => {
    fc.assert(
      fc.property(fc.array(anyState, { minLength: 1, maxLength: 10 }), fc.nat(), (states, pick) => {
        const again = states[pick % states.length] as DeviceState;
        expect(aggregateDeviceStates([...states, again])).toBe(aggregateDeviceStates(states));
      }),
    );
  });

  test('RINGINUSE exactly when some entry is RINGINUSE, or RINGING meets INUSE, ONHOLD or BUSY', () => {
    fc.assert(
      fc.property(fc.array(anyState, { maxLength: 10 }), (states) => {
        const has = (s: DeviceState): boolean => states.includes(s);
        const expected =
          has(DeviceState.ringinuse) || (has(DeviceState.ringing) && (has(DeviceState.inuse) || has(DeviceState.onhold) || has(DeviceState.busy)));
        expect(aggregateDeviceStates(states) === DeviceState.ringinuse).toBe(expected);
      }),
    );
  });

  test('otherwise the result is one of the entries (INVALID for none)', () => {
    fc.assert(
      fc.property(fc.array(anyState, { maxLength: 10 }), (states) => {
        const result = aggregateDeviceStates(states);
        if (result !== DeviceState.ringinuse) expect(states.length === 0 ? result === DeviceState.invalid : states.includes(result)).toBe(true);
      }),
    );
  });

  test('the incremental helper folds to the same result and leaves its input alone', () => {
    fc.assert(
      fc.property(fc.array(anyState, { maxLength: 10 }), (states) => {
        let aggregate = EMPTY_DEVICE_STATE_AGGREGATE;
        for (const s of states) {
          const before = { ...aggregate };
          const next = addToDeviceStateAggregate(aggregate, s);
          expect(aggregate).toEqual(before);
          aggregate = next;
        }
        expect(aggregate.state).toBe(aggregateDeviceStates(states));
        expect(EMPTY_DEVICE_STATE_AGGREGATE).toEqual({ state: DeviceState.invalid, ringing: false, inuse: false });
      }),
    );
  });
});
