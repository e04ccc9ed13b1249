// Matching what the fake Asterisk on node A emitted (device state changes) with what a
// fake Asterisk on B or C was written (Setvar DEVICE_STATE(Custom:remote:<device>)), for
// the bridge benchmark (scripts/bench/bridge-bench.ts). Pure.
//
// The bridge syncs state, latest wins: when it falls behind it may write only a device's
// newest state and skip the ones in between. So an observed write is matched with the
// newest emitted change of that device with the same state that was emitted before the
// write was seen (with SLACK_MS for the clock readings); the
// earlier unmatched changes of that device count as lost (skipped), and so do changes
// never written at all. finalMismatch counts devices whose last written state is not the
// last emitted one: state really lost, not just an intermediate one skipped.

/** [device, state, ms of CLOCK_MONOTONIC] */
export type DeviceEvent = readonly [string, string, number];

export interface MatchOutcome {
  /** Emit → write, ms, one per matched change, in observation order. */
  readonly latenciesMs: number[];
  readonly matched: number;
  /** Emitted changes never written as such (skipped or missing). */
  readonly lost: number;
  /** Writes that match no emitted change (should be 0). */
  readonly unexpected: number;
  /** Devices whose last write differs from their last emitted state (or that were never written). */
  readonly finalMismatch: number;
  /** First and last matched write, ms (null when nothing matched). */
  readonly firstWriteMs: number | null;
  readonly lastWriteMs: number | null;
}

const SLACK_MS = 0.05;

export function matchDeviceEvents(emitted: readonly DeviceEvent[], observed: readonly DeviceEvent[]): MatchOutcome {
  const byDevice = new Map<string, DeviceEvent[]>();
  for (const e of emitted) {
    const list = byDevice.get(e[0]);
    if (list === undefined) byDevice.set(e[0], [e]);
    else list.push(e);
  }
  /** Per device: index of the first emitted change not yet matched or skipped. */
  const cursor = new Map<string, number>();
  const lastWritten = new Map<string, string>();
  const latenciesMs: number[] = [];
  let matched = 0;
  let lost = 0;
  let unexpected = 0;
  let firstWriteMs: number | null = null;
  let lastWriteMs: number | null = null;
  for (const [device, state, at] of observed) {
    lastWritten.set(device, state);
    const list = byDevice.get(device);
    const from = cursor.get(device) ?? 0;
    let hit = -1;
    if (list !== undefined) {
      for (let k = from; k < list.length; k += 1) {
        const e = list[k];
        if (e === undefined || e[2] > at + SLACK_MS) break;
        if (e[1] === state) hit = k;
      }
    }
    if (list === undefined || hit < 0) {
      unexpected += 1;
      continue;
    }
    lost += hit - from;
    cursor.set(device, hit + 1);
    latenciesMs.push(at - (list[hit]?.[2] ?? at));
    matched += 1;
    firstWriteMs ??= at;
    lastWriteMs = at;
  }
  let finalMismatch = 0;
  for (const [device, list] of byDevice) {
    lost += list.length - (cursor.get(device) ?? 0);
    if (lastWritten.get(device) !== list[list.length - 1]?.[1]) finalMismatch += 1;
  }
  return { latenciesMs, matched, lost, unexpected, finalMismatch, firstWriteMs, lastWriteMs };
}
