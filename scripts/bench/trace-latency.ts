// `npx tsx scripts/bench/trace-latency.ts [carillon|corosync] [--size N] [--seconds S]`:
// a diagnostic next to `npm run bench` (not part of it). Starts one side's 3-node
// cluster in network namespaces, runs the latency workload (ping on node 1, pong on 2
// and 3) and records every daemon's and client's socket syscalls with `perf trace`
// for a short window, so a slow hop (a late wake-up, a send split by preemption, a
// flush that waits) can be read off the timeline. Prints the trace file's path.
// Needs root, perf, iproute2 and (for corosync) the Debian package, like the bench.

import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { NetnsCluster, buildCpgload, ensureDistBuilt } from '../../test/integration/interop/netns';
import { BenchCluster, type Side } from './bench-cluster';

const SYSCALLS = 'sendmsg,sendto,recvmsg,recvfrom,write,writev,read,epoll_wait,epoll_pwait';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { size: { type: 'string' }, seconds: { type: 'string' } }, allowPositionals: true });
  const side = (positionals[0] ?? 'carillon') as Side;
  if (side !== 'carillon' && side !== 'corosync') throw new Error(`side must be carillon or corosync, not ${side}`);
  const size = Number(values.size ?? 64);
  const seconds = Number(values.seconds ?? 1.5);
  await ensureDistBuilt(path.resolve(__dirname, '../..'));
  const net = await NetnsCluster.create({ nodes: 3, stem: 'ctrace', log: (m: string) => console.error(m) });
  try {
    const bc = new BenchCluster(net, side, await buildCpgload(net.baseDir));
    await bc.startAll({ tokenMs: null });
    const group = 'trace';
    const pongs = [2, 3].map((i) => bc.spawnClient(i, 'pong', ['-m', 'pong', '-g', group, '-s', String(size), '-T', '60']));
    const ping = bc.spawnClient(1, 'ping', ['-m', 'ping', '-g', group, '-n', '3', '-s', String(size), '-c', '100000', '-L', 'trace ', '-T', '60']);
    // Past the clients' start-up and warm-up pings.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // `ip netns exec` parents: trace their children too.
    const roots = [1, 2, 3].map((i) => bc.daemonPid(i)).concat([ping.pid, ...pongs.map((p) => p.pid)]);
    const children = roots.flatMap((pid) => {
      try {
        return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter((s) => s !== '');
      } catch {
        return [];
      }
    });
    const out = `/tmp/trace-${side}-${size}.txt`;
    const perf = spawn('perf', ['trace', '-o', out, '-p', [...roots.map(String), ...children].join(','), '-e', SYSCALLS], { stdio: 'inherit' });
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.on('exit', resolve));
    console.log(out);
    await bc.stopAll();
  } finally {
    await net.destroy({ keepFiles: false });
  }
}

void main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
