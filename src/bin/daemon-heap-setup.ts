// Applies carillond's V8 heap settings (daemon-heap.ts says which and why) when
// imported: src/bin/daemon.ts imports this module first, so the settings are in place
// before the daemon's modules load (loading them alone would grow the young generation).

import { setFlagsFromString } from 'node:v8';
import { daemonHeapFlags } from './daemon-heap';

for (const flag of daemonHeapFlags(process.execArgv, process.env['NODE_OPTIONS'] ?? '')) setFlagsFromString(flag);
