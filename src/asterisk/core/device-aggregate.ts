// Asterisk's device-state aggregation across servers (res-corosync.md §1.4,
// asterisk-groundtruth.md §1.4; ast_devstate_aggregate_add in main/devicestate.c): the
// state hints, queues, AMI and ARI see for a device is the combination of its local entry
// and every remote (per-EID) entry. The bridge computes the same value so it can predict
// what each Asterisk shows.
//
// Rules: start from INVALID; keep the entry of highest priority, lowest to highest
// INVALID < UNKNOWN < UNAVAILABLE < NOT_INUSE < ONHOLD < RINGING < INUSE < BUSY <
// RINGINUSE; but any RINGING together with any INUSE, ONHOLD or BUSY gives RINGINUSE
// (one server rings the device while another has it in a call).

import { assert } from '../../base/assert';
import { DeviceState, isDeviceState } from './events';

/** Priority of each state, indexed by its `enum ast_device_state` value. */
const PRIORITY: readonly number[] = [
  1, // UNKNOWN
  3, // NOT_INUSE
  6, // INUSE
  7, // BUSY
  0, // INVALID
  2, // UNAVAILABLE
  5, // RINGING
  8, // RINGINUSE
  4, // ONHOLD
];

/** A running aggregate, as Asterisk's `struct ast_devstate_aggregate` keeps it. */
export interface DeviceStateAggregate {
  /** The aggregate so far. */
  readonly state: DeviceState;
  /** Some entry was RINGING. */
  readonly ringing: boolean;
  /** Some entry was INUSE, ONHOLD or BUSY. */
  readonly inuse: boolean;
}

/** The aggregate of no entries: INVALID. */
export const EMPTY_DEVICE_STATE_AGGREGATE: DeviceStateAggregate = Object.freeze({ state: DeviceState.invalid, ringing: false, inuse: false });

function priorityOf(state: DeviceState): number {
  // Callers pass validated states (the codec rejects STATE > 8): anything else is a bug.
  const priority = isDeviceState(state) ? PRIORITY[state] : undefined;
  assert(priority !== undefined, `device state ${String(state)} out of range 0..8`);
  return priority;
}

/** `aggregate` with one more entry folded in; does not modify `aggregate`. */
export function addToDeviceStateAggregate(aggregate: DeviceStateAggregate, state: DeviceState): DeviceStateAggregate {
  const ringing = aggregate.ringing || state === DeviceState.ringing;
  const inuse = aggregate.inuse || state === DeviceState.inuse || state === DeviceState.onhold || state === DeviceState.busy;
  if (ringing && inuse) return { state: DeviceState.ringinuse, ringing, inuse };
  const next = priorityOf(state) > priorityOf(aggregate.state) ? state : aggregate.state;
  return { state: next, ringing, inuse };
}

/**
 * The state Asterisk shows for a device whose per-server entries are `states`; INVALID
 * when there are none. The result does not depend on the order of the entries.
 */
export function aggregateDeviceStates(states: Iterable<DeviceState>): DeviceState {
  let aggregate = EMPTY_DEVICE_STATE_AGGREGATE;
  for (const state of states) aggregate = addToDeviceStateAggregate(aggregate, state);
  return aggregate.state;
}
