// `npx tsx scripts/bench/rotation-stats.ts [--sides corosync,carillon] [--sizes 1024,8192]
// [--mode one|all] [--seconds S]`: a diagnostic next to `npm run bench` (not part of it)
// that shows where a throughput run's time goes. For each side it runs the bench's CPG
// throughput workload and reads, around each run, every daemon's Totem counters
// (stats.srp.* through corosync-cmapctl or `carillon cmap list`) and /proc/<pid>/stat
// and /proc/<pid>/io. It prints per node: token rotations per second, MCAST packets sent
// per token visit (Totem sends at most max_messages, 17, per visit), user and system CPU
// per delivered packet, and write syscalls (IPC to the clients) per delivered packet.
// With one sender the rotation rate times the packets per visit is the throughput, so
// the figures say whether the ring is limited by the sender's visit (CPU per packet) or
// by the token's way round (hops, wake-ups). Needs root, iproute2 and (for corosync) the
// Debian package, like the bench.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { NetnsCluster, buildCpgload, ensureDistBuilt } from '../../test/integration/interop/netns';
import { BenchCluster, ROOT, SIDES, type Side } from './bench-cluster';
import { clockTicksPerSecond } from './proc-sampler';
import { runTput } from './workloads';

interface Sample {
  readonly srp: Readonly<Record<string, number>>;
  readonly userTicks: number;
  readonly sysTicks: number;
  readonly writes: number;
}

async function sample(bc: BenchCluster, i: number): Promise<Sample> {
  const argv =
    bc.side === 'corosync'
      ? ['corosync-cmapctl', '-m', 'stats', 'stats.srp.']
      : [process.execPath, `${ROOT}/dist/bin/ctl.js`, '--socket', bc.socketPath(i), 'cmap', 'list', 'stats.srp.'];
  const r = await bc.net.exec(i, argv);
  const srp: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^stats\.srp\.(\S+) \([a-z0-9]+\) = (\d+)/.exec(line);
    if (m?.[1] !== undefined) srp[m[1]] = Number(m[2]);
  }
  if (Object.keys(srp).length === 0) throw new Error(`no stats.srp.* from node ${i}: ${r.stdout}${r.stderr}`);
  const pid = bc.daemonPid(i);
  // proc(5): after "pid (comm) ", field 3 is index 0, so utime (14) and stime (15) are 11 and 12.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return { srp, userTicks: Number(fields[11]), sysTicks: Number(fields[12]), writes: Number(/syscw: (\d+)/.exec(io)?.[1] ?? NaN) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sides: { type: 'string' }, sizes: { type: 'string' }, mode: { type: 'string' }, seconds: { type: 'string' } } });
  const sides = (values.sides ?? SIDES.join(',')).split(',') as Side[];
  for (const side of sides) if (!SIDES.includes(side)) throw new Error(`--sides: unknown ${side}`);
  const sizes = (values.sizes ?? '1024').split(',').map(Number);
  const mode = values.mode ?? 'one';
  if (mode !== 'one' && mode !== 'all') throw new Error('--mode must be one or all');
  const seconds = Number(values.seconds ?? 4);
  process.chdir(ROOT);
  await ensureDistBuilt(ROOT);
  const hz = clockTicksPerSecond();
  const net = await NetnsCluster.create({ nodes: 3, stem: 'crot', log: () => undefined });
  try {
    const cpgload = await buildCpgload(net.baseDir);
    for (const side of sides) {
      const bc = new BenchCluster(net, side, cpgload);
      await bc.startAll({ tokenMs: null });
      await runTput(bc, { size: 1024, mode: 'all', seconds: 1, timeoutS: 30, label: 'warmup ', ticksPerSecond: hz });
      for (const size of sizes) {
        const before = await Promise.all(bc.nodeIds.map((i) => sample(bc, i)));
        const t0 = performance.now();
        const out = await runTput(bc, { size, mode, seconds, timeoutS: 30, label: `side=${side} `, ticksPerSecond: hz });
        const elapsedS = (performance.now() - t0) / 1000;
        const after = await Promise.all(bc.nodeIds.map((i) => sample(bc, i)));
        const rate = out.lines[0]?.fields['rx_msgs_per_s'] ?? '?';
        console.log(`${side} ${size} B ${mode}: ${rate} msgs/s per node (node 1)`);
        bc.nodeIds.forEach((i, k) => {
          const a = after[k] as Sample;
          const b = before[k] as Sample;
          const d = (key: string): number => (a.srp[key] ?? 0) - (b.srp[key] ?? 0);
          const tokens = d('orf_token_rx');
          const packets = d('mcast_rx') + d('mcast_tx');
          const perPacketUs = (ticks: number): string => ((ticks / hz / Math.max(1, packets)) * 1e6).toFixed(1);
          console.log(
            `  node ${i}: ${(tokens / elapsedS).toFixed(0)} rotations/s, ${(d('mcast_tx') / Math.max(1, tokens)).toFixed(2)} MCASTs sent per visit, ` +
              `${d('mcast_tx')} sent, ${d('mcast_retx')} retransmitted; per packet sent or received: user ${perPacketUs(a.userTicks - b.userTicks)} µs, ` +
              `system ${perPacketUs(a.sysTicks - b.sysTicks)} µs, ${((a.writes - b.writes) / Math.max(1, packets)).toFixed(2)} write syscalls`,
          );
        });
      }
      await bc.stopAll();
    }
  } finally {
    await net.destroy({ keepFiles: false });
  }
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
