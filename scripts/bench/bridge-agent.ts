// `tsx scripts/bench/bridge-agent.ts --eid xx:xx:xx:xx:xx:xx [--ami-port 5038]`: one fake
// Asterisk (test/integration/asterisk/fake-asterisk.ts, the one the bridge tests use) for
// the bridge benchmark, run inside a node's network namespace beside carillond, with
// the load generator and the observer built in so that timestamps are taken where things
// happen rather than across a pipe:
//
//   emit <prefix> <rate> <seconds> <devices> <file>
//       the PBX changes devices <prefix>0 .. <prefix><devices-1> round robin at <rate>
//       per second for <seconds> (each device alternates INUSE / NOT_INUSE, carrying on
//       from its last state when a prefix is used again, so every event is a change);
//       writes [[device, state, ms], …] to <file>
//       → EMITTED n=<events> elapsed_ms=<ms>
//   count <prefix>   → COUNT <n>: Setvar DEVICE_STATE(Custom:remote:<prefix>…) received
//   dump <prefix> <file>
//       writes [[device, state, ms], …] of those Setvars, in arrival order (the device
//       without the Custom:remote: mapping) → DUMPED <n>, and forgets the recorded actions
//   quit             → BYE, then the fake stops and the process exits 0 (so does EOF)
// The first line is READY ami=<port>. Commands are answered one at a time, in order;
// a bad one gets ERROR <detail>.
//
// Times are CLOCK_MONOTONIC milliseconds (process.hrtime), the one clock every process
// of the host shares. The fake stamps each AMI action it receives with Date.now(), whole
// milliseconds of the wall clock; so that a write's stamp is as fine as an emission's,
// Date.now in this process returns the monotonic clock plus the wall clock's offset,
// measured once at a millisecond edge, and dump subtracts that offset again.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { FakeAsterisk } from '../../test/integration/asterisk/fake-asterisk';

const MAPPED = 'Custom:remote:';
/** Last state emitted per device (bounded by the devices the runner names). */
const lastState = new Map<string, string>();
/** Emission ticks: events due are sent every tick. */
const TICK_MS = 2;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Wall clock minus monotonic clock, ms, read right after Date.now() ticks over (exact to well under a µs). */
function wallOffsetMs(): number {
  const first = Date.now();
  let now = first;
  while (now === first) now = Date.now();
  return now - monoMs();
}
const WALL_OFFSET_MS = wallOffsetMs();
Date.now = (): number => monoMs() + WALL_OFFSET_MS;

function remoteWrites(fake: FakeAsterisk, prefix: string): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const a of fake.amiActions()) {
    if (a.action.toLowerCase() !== 'setvar') continue;
    let variable = '';
    let value = '';
    for (const [k, v] of a.fields) {
      if (k.toLowerCase() === 'variable') variable = v;
      else if (k.toLowerCase() === 'value') value = v;
    }
    const m = /^DEVICE_STATE\((.*)\)$/.exec(variable);
    const name = m?.[1];
    if (name === undefined || !name.startsWith(MAPPED + prefix)) continue;
    out.push([name.slice(MAPPED.length), value, a.at - WALL_OFFSET_MS]);
  }
  return out;
}

async function emit(fake: FakeAsterisk, prefix: string, rate: number, seconds: number, devices: number, file: string): Promise<string> {
  const total = Math.round(rate * seconds);
  const records: Array<[string, string, number]> = [];
  const start = performance.now();
  let i = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; i < due; i += 1) {
      const device = `${prefix}${i % devices}`;
      const state = lastState.get(device) === 'INUSE' ? 'NOT_INUSE' : 'INUSE';
      lastState.set(device, state);
      records.push([device, state, monoMs()]);
      fake.setDeviceState(device, state);
    }
    await sleep(TICK_MS);
  }
  const elapsed = performance.now() - start;
  fs.writeFileSync(file, JSON.stringify(records));
  return `EMITTED n=${total} elapsed_ms=${elapsed.toFixed(1)}`;
}

async function command(fake: FakeAsterisk, line: string): Promise<string | 'quit'> {
  const [verb, ...args] = line.split(' ');
  switch (verb) {
    case 'emit': {
      const [prefix = '', rate = '', seconds = '', devices = '', file = ''] = args;
      const r = Number(rate);
      const s = Number(seconds);
      const d = Number(devices);
      if (args.length !== 5 || prefix === '' || !(r > 0) || !(s > 0) || !Number.isInteger(d) || d < 1) return 'ERROR usage: emit <prefix> <rate> <seconds> <devices> <file>';
      return emit(fake, prefix, r, s, d, file);
    }
    case 'count': {
      if (args.length !== 1 || args[0] === '') return 'ERROR usage: count <prefix>';
      return `COUNT ${remoteWrites(fake, args[0] ?? '').length}`;
    }
    case 'dump': {
      const [prefix = '', file = ''] = args;
      if (args.length !== 2 || prefix === '' || file === '') return 'ERROR usage: dump <prefix> <file>';
      const writes = remoteWrites(fake, prefix);
      fs.writeFileSync(file, JSON.stringify(writes));
      fake.clearActions();
      return `DUMPED ${writes.length}`;
    }
    case 'quit':
      return 'quit';
    default:
      return `ERROR unknown command ${JSON.stringify(line.slice(0, 80))}`;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { eid: { type: 'string' }, 'ami-port': { type: 'string' } }, strict: true });
  const eid = (values.eid ?? '').toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(eid)) {
    process.stderr.write('bridge-agent: --eid xx:xx:xx:xx:xx:xx is required\n');
    process.exit(2);
  }
  const fake = await FakeAsterisk.start({ eid, amiPort: Number(values['ami-port'] ?? 5038), ariPort: 0 });
  process.stdout.write(`READY ami=${fake.amiPort}\n`);
  let queue: Promise<void> = Promise.resolve();
  let partial = '';
  const finish = async (bye: boolean): Promise<void> => {
    await fake.stop();
    if (bye) process.stdout.write('BYE\n');
    process.exit(0);
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (line === '') continue;
      queue = queue.then(async () => {
        let reply: string | 'quit';
        try {
          reply = await command(fake, line);
        } catch (error) {
          reply = `ERROR ${(error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 200)}`;
        }
        if (reply === 'quit') await finish(true);
        else process.stdout.write(`${reply}\n`);
      });
    }
  });
  process.stdin.on('end', () => {
    void queue.then(() => finish(false));
  });
  process.on('SIGTERM', () => void finish(false));
  process.on('SIGINT', () => void finish(false));
}

main().catch((error: unknown) => {
  process.stderr.write(`bridge-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
