// `npx tsx scripts/fake-asterisk.ts [--ami-port 5038] [--ari-port 8088] [--eid 02:00:00:00:00:01]
// [--host 127.0.0.1] [--transcript-hints]`: runs one FakeAsterisk
// (test/integration/asterisk/fake-asterisk.ts; AMI and ARI as asterisk-groundtruth.md §2,
// §3 describe them) until SIGINT or SIGTERM, and prints its ports. Used by the demo to
// stand in for a real Asterisk next to carillond. Credentials are the fixtures': AMI
// admin/amipass, ARI ariuser/aripass. Exits 2 on bad arguments, 1 if it cannot listen.

import { parseArgs } from 'node:util';
import { FakeAsterisk, TRANSCRIPT_HINTS } from '../test/integration/asterisk/fake-asterisk';

function usage(message: string): never {
  process.stderr.write(`fake-asterisk: ${message}\nusage: tsx scripts/fake-asterisk.ts [--ami-port N] [--ari-port N] [--eid xx:xx:xx:xx:xx:xx] [--host ADDR] [--transcript-hints]\n`);
  process.exit(2);
}

function port(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) usage(`--${name} must be a port number (0-65535), not ${text}`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'ami-port': { type: 'string' },
        'ari-port': { type: 'string' },
        eid: { type: 'string' },
        host: { type: 'string' },
        'transcript-hints': { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  const eid = (values.eid ?? '02:00:00:00:00:01').toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(eid)) usage(`--eid must look like 02:00:00:00:00:01, not ${values.eid}`);
  let fake: FakeAsterisk;
  try {
    fake = await FakeAsterisk.start({
      eid,
      host: values.host ?? '127.0.0.1',
      amiPort: port(values['ami-port'], 5038, 'ami-port'),
      ariPort: port(values['ari-port'], 8088, 'ari-port'),
      ...(values['transcript-hints'] === true ? { hints: TRANSCRIPT_HINTS } : {}),
    });
  } catch (err) {
    process.stderr.write(`fake-asterisk: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(`fake Asterisk ${fake.eid}: AMI ${fake.host}:${fake.amiPort} (admin/amipass), ARI ${fake.ariUrl} (ariuser/aripass)\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void fake.stop().then(() => {
      process.stdout.write(`fake Asterisk ${fake.eid}: stopped\n`);
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
