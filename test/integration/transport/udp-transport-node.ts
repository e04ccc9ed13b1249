// Child process of udp-transport.test.ts (not a test itself): runs one UdpTransport
// inside a network namespace (`ip netns exec NS node --import tsx THIS OPTIONS_JSON`)
// and speaks JSON lines — commands on stdin, events on stdout:
//   in:  {"op":"sendToAll","data":"text","skipLocal"?:true} | {"op":"sendTo","nodeId":2,"data":"text"}
//        | {"op":"stats","tag":"t1"} | {"op":"close"}
//   out: {"ev":"ready"} | {"ev":"error","code":...,"message":...}
//        | {"ev":"datagram","from":1|null,"address":"10.0.0.1","data":"text"}
//        | {"ev":"stats","tag":"t1","stats":{...}} | {"ev":"log",...} | {"ev":"closed"}
// It exits when stdin closes, so a crashed parent never leaves it behind.

import * as readline from 'node:readline';
import { UdpTransport, type UdpTransportOptions } from '../../../src/runtime/transport/udp-transport';

type Command = { op: 'sendToAll'; data: string; skipLocal?: boolean } | { op: 'sendTo'; nodeId: number; data: string } | { op: 'stats'; tag: string } | { op: 'close' };

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const options = JSON.parse(process.argv[2] ?? '{}') as UdpTransportOptions;
const transport = new UdpTransport({ ...options, log: (level, message) => emit({ ev: 'log', level, message }) });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

transport.onDatagram((bytes, from, address) => emit({ ev: 'datagram', from, address, data: decoder.decode(bytes) }));

async function shutdown(): Promise<void> {
  await transport.close();
  emit({ ev: 'closed' });
  process.exit(0);
}

transport.start().then(
  () => emit({ ev: 'ready' }),
  (e: unknown) => {
    const error = e as { code?: string; message?: string };
    emit({ ev: 'error', code: error.code ?? null, message: error.message ?? String(e) });
    process.exit(1);
  },
);

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as Command;
  switch (command.op) {
    case 'sendToAll':
      transport.sendToAll(encoder.encode(command.data), command.skipLocal === true);
      break;
    case 'sendTo':
      transport.sendTo(command.nodeId, encoder.encode(command.data));
      break;
    case 'stats':
      emit({ ev: 'stats', tag: command.tag, stats: transport.stats() });
      break;
    case 'close':
      void shutdown();
      break;
  }
});
lines.on('close', () => void shutdown());
