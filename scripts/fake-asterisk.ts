// `npx tsx scripts/fake-asterisk.ts [--ami-port 5038] [--ari-port 8088] [--eid 02:00:00:00:00:01]
// [--host 127.0.0.1] [--transcript-hints] [--control]`: runs one FakeAsterisk
// (test/integration/asterisk/fake-asterisk.ts; AMI and ARI as asterisk-groundtruth.md §2,
// §3 describe them) until SIGINT or SIGTERM, and prints its ports. Used by the demo to
// stand in for a real Asterisk next to carillond. Credentials are the fixtures': AMI
// admin/amipass, ARI ariuser/aripass. Exits 2 on bad arguments, 1 if it cannot listen.
//
// --control: stdin/stdout become a line protocol, so that a test can drive a fake that
// runs where it cannot reach the object (inside a network namespace beside carillond,
// test/integration/interop/fake-asterisk-process.ts). stdout then carries nothing but the
// protocol; human messages go to stderr. The first line is
//     READY ami=<port> ari=<port> eid=<eid>
// and then every non-blank command line gets exactly one reply line, in command order:
//     set-device <name> <STATE>           → OK                      (the PBX changed a device)
//     set-mailbox <mailbox> <new> <old>   → OK                      (local voicemail changed)
//     get-device <name>                   → DEVICE <name> <STATE>   (what DEVICE_STATE() reads)
//     get-mailbox <mailbox>               → MAILBOX <mailbox> <new> <old> | MAILBOX <mailbox> none
//     actions                             → one JSON array: the AMI actions received, oldest first,
//                                           each {session, action, fields: [[name, value], …], at}
//     stats                               → STATS commands=<n> errors=<n>
//     quit                                → BYE, then the fake stops and the process exits 0
// Arguments are separated by single spaces (names contain none; `/`, `:` and `@` are
// fine). Anything else — an unknown command, wrong arguments, an unknown state, a bad
// count, a line over 64 KiB — is answered `ERROR <code> <detail>` and counted; the fake
// carries on. Blank lines get no reply. EOF on stdin stops the fake like quit (without
// BYE), so a parent that dies does not leave it listening.

import { parseArgs } from 'node:util';
import { FakeAsterisk, TRANSCRIPT_HINTS } from '../test/integration/asterisk/fake-asterisk';
import { parseDeviceStateName } from '../test/integration/asterisk/fake-asterisk-state';

function usage(message: string): never {
  process.stderr.write(
    `fake-asterisk: ${message}\nusage: tsx scripts/fake-asterisk.ts [--ami-port N] [--ari-port N] [--eid xx:xx:xx:xx:xx:xx] [--host ADDR] [--transcript-hints] [--control]\n`,
  );
  process.exit(2);
}

function port(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) usage(`--${name} must be a port number (0-65535), not ${text}`);
  return n;
}

// ---------------------------------------------------------------------------------------
// The control protocol

/** Longest command line accepted (bytes before the newline); longer ones are dropped whole. */
const MAX_CONTROL_LINE_BYTES = 64 * 1024;

/** Stable codes of the ERROR replies. */
const ControlError = {
  unknownCommand: 'unknown-command',
  usage: 'usage',
  badState: 'bad-state',
  badCount: 'bad-count',
  lineTooLong: 'line-too-long',
  failed: 'failed',
} as const;
type ControlError = (typeof ControlError)[keyof typeof ControlError];

const USAGE: Readonly<Record<string, string>> = {
  'set-device': 'set-device <name> <STATE>',
  'set-mailbox': 'set-mailbox <mailbox> <new> <old>',
  'get-device': 'get-device <name>',
  'get-mailbox': 'get-mailbox <mailbox>',
  actions: 'actions',
  stats: 'stats',
  quit: 'quit',
};

class ControlRefusal extends Error {
  readonly code: ControlError;
  constructor(code: ControlError, detail: string) {
    super(detail);
    this.code = code;
  }
}

/** A message count as AMI carries it: an unsigned 32-bit decimal. */
function parseCount(text: string): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) throw new ControlRefusal(ControlError.badCount, `${text.slice(0, 80)} is not a message count`);
  return Number(text);
}

/** One command line → its reply line, or 'quit'. Throws ControlRefusal for bad input. */
function controlReply(fake: FakeAsterisk, counters: { commands: number; errors: number }, line: string): string | 'quit' {
  const parts = line.split(' ');
  const [command = '', ...args] = parts;
  const shape = USAGE[command];
  if (shape === undefined) throw new ControlRefusal(ControlError.unknownCommand, line.slice(0, 200));
  const arity = shape.split(' ').length - 1;
  if (args.length !== arity || args.some((a) => a === '')) throw new ControlRefusal(ControlError.usage, shape);
  switch (command) {
    case 'set-device': {
      const [name = '', stateText = ''] = args;
      if (parseDeviceStateName(stateText) === null) throw new ControlRefusal(ControlError.badState, stateText.slice(0, 80));
      fake.setDeviceState(name, stateText);
      return 'OK';
    }
    case 'set-mailbox': {
      const [mailbox = '', newText = '', oldText = ''] = args;
      fake.setMailbox(mailbox, parseCount(newText), parseCount(oldText));
      return 'OK';
    }
    case 'get-device': {
      const [name = ''] = args;
      return `DEVICE ${name} ${fake.deviceState(name)}`;
    }
    case 'get-mailbox': {
      const [mailbox = ''] = args;
      const counts = fake.mailboxes().get(mailbox);
      return counts === undefined ? `MAILBOX ${mailbox} none` : `MAILBOX ${mailbox} ${counts.new} ${counts.old}`;
    }
    case 'actions':
      // JSON.stringify escapes every newline, so the whole list is one line.
      return JSON.stringify(fake.amiActions().map((a) => ({ session: a.session, action: a.action, fields: a.fields, at: a.at })));
    case 'stats':
      return `STATS commands=${counters.commands} errors=${counters.errors}`;
    default:
      return 'quit';
  }
}

/** Serves the control protocol on stdin/stdout until quit or EOF; resolves when the fake is stopped. */
function serveControl(fake: FakeAsterisk): Promise<void> {
  const counters = { commands: 0, errors: 0 };
  const write = (text: string): void => {
    process.stdout.write(`${text}\n`);
  };
  return new Promise((resolve) => {
    let partial = '';
    /** Bytes of an over-long line being skipped up to its newline (-1: not skipping). */
    let skipping = -1;
    let done = false;
    const finish = (bye: boolean): void => {
      if (done) return;
      done = true;
      process.stdin.pause();
      void fake.stop().then(() => {
        if (bye) write('BYE');
        resolve();
      });
    };
    const handle = (line: string): void => {
      if (done || line.trim() === '') return;
      counters.commands += 1;
      let reply: string;
      try {
        reply = controlReply(fake, counters, line);
      } catch (err) {
        counters.errors += 1;
        if (err instanceof ControlRefusal) reply = `ERROR ${err.code} ${err.message}`;
        // The fake's own assertions (a name it refuses, …): a bad command, not a crash.
        else reply = `ERROR ${ControlError.failed} ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 200)}`;
      }
      if (reply === 'quit') finish(true);
      else write(reply);
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      let rest = chunk;
      while (rest !== '' && !done) {
        const nl = rest.indexOf('\n');
        const piece = nl < 0 ? rest : rest.slice(0, nl);
        rest = nl < 0 ? '' : rest.slice(nl + 1);
        if (skipping >= 0) {
          skipping += Buffer.byteLength(piece);
          if (nl >= 0) {
            counters.commands += 1;
            counters.errors += 1;
            write(`ERROR ${ControlError.lineTooLong} ${skipping} bytes dropped (limit ${MAX_CONTROL_LINE_BYTES})`);
            skipping = -1;
          }
          continue;
        }
        partial += piece;
        if (Buffer.byteLength(partial) > MAX_CONTROL_LINE_BYTES) {
          // Keep nothing of it: the rest up to the newline is counted and dropped.
          skipping = Buffer.byteLength(partial);
          partial = '';
          if (nl >= 0) {
            counters.commands += 1;
            counters.errors += 1;
            write(`ERROR ${ControlError.lineTooLong} ${skipping} bytes dropped (limit ${MAX_CONTROL_LINE_BYTES})`);
            skipping = -1;
          }
          continue;
        }
        if (nl < 0) continue;
        const line = partial.endsWith('\r') ? partial.slice(0, -1) : partial;
        partial = '';
        handle(line);
      }
    });
    process.stdin.on('end', () => {
      // A last command without its newline is still a command.
      if (skipping < 0 && partial !== '') handle(partial);
      finish(false);
    });
    process.stdin.on('error', () => finish(false));
    // The reader went away: nobody can drive or read us any more.
    process.stdout.on('error', () => finish(false));
    write(`READY ami=${fake.amiPort} ari=${fake.ariPort} eid=${fake.eid}`);
  });
}

// ---------------------------------------------------------------------------------------

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
        control: { type: 'boolean' },
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
  const control = values.control === true;
  // In control mode stdout is the protocol's: the human lines go to stderr.
  const say = (text: string): void => {
    (control ? process.stderr : process.stdout).write(`${text}\n`);
  };
  say(`fake Asterisk ${fake.eid}: AMI ${fake.host}:${fake.amiPort} (admin/amipass), ARI ${fake.ariUrl} (ariuser/aripass)`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void fake.stop().then(() => {
      say(`fake Asterisk ${fake.eid}: stopped`);
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (control) {
    await serveControl(fake);
    say(`fake Asterisk ${fake.eid}: stopped`);
    process.exit(0);
  }
}

void main();
