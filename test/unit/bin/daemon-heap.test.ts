// Goal: carillond sets its V8 heap settings (src/bin/daemon-heap.ts) unless the operator
// chose the same thing: a young-generation flag on node's command line or in
// NODE_OPTIONS keeps the semi-spaces as the operator said, a --heap-growing-percent keeps
// the operator's percentage, in either spelling (- or _) and with or without a value;
// unrelated flags change nothing. That V8 honours the settings on a running daemon is
// test/integration/daemon/memory.test.ts's part.
// Method: daemonHeapFlags on argument lists.

import { describe, expect, it } from '@jest/globals';
import { DAEMON_HEAP_SETTINGS, daemonHeapFlags } from '../../../src/bin/daemon-heap';

const ALL = DAEMON_HEAP_SETTINGS.map((s) => s.flag);
const YOUNG = '--semi-space-growth-factor=1';
const GROWING = '--heap-growing-percent=100';

describe('daemonHeapFlags', () => {
  it('sets both settings by default', () => {
    expect(ALL).toEqual([YOUNG, GROWING]);
    expect(daemonHeapFlags([], '')).toEqual(ALL);
    expect(daemonHeapFlags(['--cpu-prof', '--cpu-prof-dir=/tmp/x', '--max-old-space-size=256'], '--enable-source-maps')).toEqual(ALL);
  });

  it("keeps an operator's young generation", () => {
    expect(daemonHeapFlags(['--max-semi-space-size=16'], '')).toEqual([GROWING]);
    expect(daemonHeapFlags(['--max_semi_space_size=16'], '')).toEqual([GROWING]);
    expect(daemonHeapFlags([], '--min-semi-space-size=4')).toEqual([GROWING]);
    expect(daemonHeapFlags([], '--enable-source-maps  --semi-space-growth-factor=2')).toEqual([GROWING]);
  });

  it("keeps an operator's heap growing percentage", () => {
    expect(daemonHeapFlags(['--heap-growing-percent=300'], '')).toEqual([YOUNG]);
    expect(daemonHeapFlags([], '--heap_growing_percent=50')).toEqual([YOUNG]);
    expect(daemonHeapFlags(['--heap-growing-percent=300', '--max-semi-space-size=8'], '')).toEqual([]);
  });

  it('is not fooled by look-alikes', () => {
    expect(daemonHeapFlags(['--max-semi-space-sizes=1', '--heap-growing'], 'max-semi-space-size=1')).toEqual(ALL);
  });
});
