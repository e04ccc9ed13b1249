// carillond's V8 heap settings (issue 7, resident memory; architecture.md §3.3).
// daemon-heap-setup.ts applies them before the daemon's modules load; this file says
// which, and why.
//
// What grows carillond under load (v8.getHeapSpaceStatistics() and /proc/PID/smaps of
// the bench's daemons during CPG throughput runs, Node 20):
//   - the young generation: V8 doubles its two semi-spaces from 1 MiB up to 16 MiB each
//     when many objects survive scavenges, which CPG traffic does: ~30 MiB of RSS;
//   - garbage waiting for a full GC: V8 lets the old generation (and the large-object
//     space, where the IPC lines of 64 KiB messages go) grow to up to 4 × the live size
//     before it marks, and the live heap is ~12 MiB: another ~25 MiB at the peak.
// Both are V8's speed-for-memory defaults for a browser tab or a server with GiBs.
// carillond's live heap is small and its messages short-lived:
//   - --semi-space-growth-factor=1 keeps the semi-spaces at their initial 1 MiB;
//   - --heap-growing-percent=100 lets the heap double, not quadruple, between full
//     GCs (V8 still allows at least 8 MiB of growth).
// Measured on the development VM (3 daemons, 3 senders, a fixed number of messages,
// 2-3 runs each; README "Benchmarks", "Memory"): peak RSS ~80 MiB with both instead of
// ~110-135 MiB with V8's defaults (~95-105 MiB with the first alone); CPU per delivered
// message +5-8 % for 1 KiB messages, +0-6 % for 8 KiB and +8-16 % for 64 KiB (more
// scavenges and more full GCs; the first alone costs 0-6 %). Semi-spaces of 2 MiB
// (`node --max-semi-space-size=2`) measured as fast as V8's defaults, but V8 fixes the
// maximum when the process starts; the growth factor, the one thing it reads later, can
// only hold the semi-spaces at the size they have, i.e. the initial 1 MiB.
//
// Why at runtime (v8.setFlagsFromString) and not as node flags: `node
// --max-semi-space-size=1` works only on node's command line or in NODE_OPTIONS.
// carillond is also started as `node dist/bin/daemon.js` (the bench, the demo, the
// tests), and NODE_OPTIONS would reach every program amf { } supervises. Re-running
// ourselves with the flags would keep a second process: Node 20 has no execve, and a
// ~40 MiB parent would have to stay for systemd's MainPID and the bench's sampler. V8
// reads both flags each time it sizes a space (SemiSpaceNewSpace::Grow,
// MemoryController::GrowingFactor), and Node keeps V8's flags writable after start for
// v8.setFlagsFromString. Were a later V8 to ignore them, memory would grow as before and
// nothing would break; test/integration/daemon/memory.test.ts checks that the young
// generation stays at 2 × 1 MiB on a running daemon.
//
// An operator's own choice wins: a flag that sets the same thing on node's command line
// or in NODE_OPTIONS (e.g. --max-semi-space-size=16) leaves that setting alone.

export interface DaemonHeapSetting {
  /** The V8 flag set at startup. */
  readonly flag: string;
  /** Node or V8 flags with which the operator sets the same thing. */
  readonly operatorFlags: readonly string[];
}

export const DAEMON_HEAP_SETTINGS: readonly DaemonHeapSetting[] = [
  { flag: '--semi-space-growth-factor=1', operatorFlags: ['--max-semi-space-size', '--min-semi-space-size', '--semi-space-growth-factor'] },
  { flag: '--heap-growing-percent=100', operatorFlags: ['--heap-growing-percent'] },
];

/** V8 accepts `-` and `_` alike in flag names. */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq === -1 ? arg : arg.slice(0, eq)).replace(/_/g, '-');
}

/**
 * The flags to set: DAEMON_HEAP_SETTINGS but those the operator set in `execArgv`
 * (node's own arguments) or `nodeOptions` (NODE_OPTIONS).
 */
export function daemonHeapFlags(execArgv: readonly string[], nodeOptions: string): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return DAEMON_HEAP_SETTINGS.filter((s) => !s.operatorFlags.some((f) => given.has(f))).map((s) => s.flag);
}
