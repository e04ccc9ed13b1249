// `npx tsx scripts/bench/verify-under-load.ts [--reps N] [--count N]`: a diagnostic next to
// `npm run bench` (not part of it). Starts a 3-node carillond cluster in network
// namespaces and, per repetition, runs `carillon cpg verify` on every node (3 senders,
// checked payloads: integrity, per-sender order, total order, nothing missing) while
// cpgload clients flood another group with 1 KiB messages from all nodes, so delivery is
// checked under GC pressure and full send queues. Payload sizes alternate between 200 B
// (one fragment) and 4000 B (several). Prints each verifier's JSON summary; exits 1 if
// any verifier failed. Needs root and iproute2, like the bench.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { NetnsCluster, buildCpgload, ensureDistBuilt } from '../../test/integration/interop/netns';
import { BenchCluster, ROOT } from './bench-cluster';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string' }, count: { type: 'string' } } });
  const reps = Number(values.reps ?? 4);
  const count = Number(values.count ?? 20_000);
  if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(count) || count < 1) throw new Error('--reps and --count must be positive integers');
  process.chdir(ROOT);
  await ensureDistBuilt(ROOT);
  const net = await NetnsCluster.create({ nodes: 3, stem: 'cver', log: (m: string) => console.error(m) });
  let failed = false;
  try {
    const bc = new BenchCluster(net, 'carillon', await buildCpgload(net.baseDir));
    await bc.startAll({ tokenMs: null });
    for (let r = 1; r <= reps; r++) {
      const size = r % 2 === 0 ? 4000 : 200;
      const verifiers = bc.nodeIds.map((i) =>
        net.spawnIn(i, `verify ${i}`, `${net.dir(i)}/verify-${r}.log`, [
          process.execPath, `${ROOT}/dist/bin/ctl.js`, '--socket', bc.socketPath(i),
          'cpg', 'verify', `verify${r}`, '--senders', '3', '--count', String(count), '--size', String(size), '--json', '--timeout', '300000',
        ]),
      );
      const load = bc.nodeIds.map((i) => bc.spawnClient(i, 'load', ['-m', 'tput', '-g', `load${r}`, '-n', '3', '-e', '3', '-s', '1024', '-t', '8', '-S', '-L', 'verify ', '-T', '60']));
      await Promise.all([...verifiers, ...load].map((p) => p.exited));
      for (const v of verifiers) {
        const summary = fs.readFileSync(v.logFile, 'utf8').split('\n').find((l) => l.startsWith('{')) ?? '(no summary)';
        const ok = v.exit?.code === 0;
        failed ||= !ok;
        console.log(`rep ${r} (${size} B) ${v.name}: ${ok ? 'ok' : `FAILED ${JSON.stringify(v.exit)}`} ${summary}`);
      }
    }
    await bc.stopAll();
  } finally {
    await net.destroy({ keepFiles: failed });
    if (failed) console.error(`logs kept in ${net.baseDir}`);
  }
  process.exit(failed ? 1 : 0);
}

void main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
