// Goal: `carillon wire decode` prints every datagram of the shared corosync captures with
// its decoded fields (text and --json), reassembles fragmented totempg messages across
// packets, shows encapsulated MCASTs and LEAVE joins, and uses the documented exit
// statuses (0 ok, 1 some datagram failed, 2 usage/unreadable/not a pcap). The pcap
// reader underneath handles the link types, byte orders and IP fragments that the
// shared captures do not exercise.
// Method: run the command function with a capturing CommandIo on the real captures,
// on damaged copies written to a temp dir, and on small synthetic pcaps built here.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CommandIo, WireDecodeExit, wireDecode } from '../../../src/cli/commands/wire-decode';
import { LinkType, parsePcap, readPcap } from '../../../src/cli/pcap-reader';
import { runCli } from '../../../src/cli/program';
import { DecodeErrorCode } from '../../../src/totem/wire/decode-error';

const vectors = path.resolve(__dirname, '../../../../shared/vectors');
const udpu = (name: string): string => path.join(vectors, 'corosync-3.1.7-udpu', name);
const faults = path.join(vectors, 'corosync-3.1.7-udpu-faults', 'udpu-faults.pcap');

interface Captured extends CommandIo {
  lines: string[];
  errors: string[];
}

function capture(): Captured {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

function run(file: string, options: { json?: boolean; absoluteTime?: boolean } = {}): Captured & { code: number } {
  const io = capture();
  const code = wireDecode(file, options, io);
  return { ...io, code };
}

const memo = new Map<string, Captured & { code: number }>();
function runMemo(file: string, json = false): Captured & { code: number } {
  const key = `${file}|${json}`;
  let r = memo.get(key);
  if (!r) {
    r = run(file, { json });
    memo.set(key, r);
  }
  return r;
}

function line(lines: readonly string[], frame: number): string {
  const l = lines.find((x) => x.startsWith(`#${frame} `));
  if (l === undefined) throw new Error(`no line for frame ${frame}`);
  return l;
}

function jsonLine(lines: readonly string[], frame: number): Record<string, unknown> {
  const l = lines.find((x) => x.startsWith(`{"frame":${frame},`));
  if (l === undefined) throw new Error(`no JSON line for frame ${frame}`);
  return JSON.parse(l) as Record<string, unknown>;
}

describe('wire decode on the shared captures', () => {
  it('prints one line per datagram and exits 0 when everything decodes', () => {
    for (const [file, n] of [
      [udpu('udpu-full.pcap'), 2386],
      [udpu('udpu-2-cpg-messages.pcap'), 810],
      [faults, 2922],
    ] as const) {
      const r = runMemo(file);
      expect(r.code).toBe(WireDecodeExit.ok);
      expect(r.lines.length).toBe(n);
      expect(r.errors).toEqual([]);
      expect(r.lines.some((l) => l.includes('ERROR'))).toBe(false);
    }
  });

  it('prints the header, the time offset and every field of a token', () => {
    const r = runMemo(udpu('udpu-full.pcap'));
    expect(r.lines[0]).toBe(
      '#1 +0.000000 10.250.0.1:46742 → 10.250.0.2:5405 37B MEMB_JOIN nodeid=1 target=0x00000000 system_from=1' +
        ' ring_seq=0x139 proc_list_entries=1 failed_list_entries=0 proc=[1] failed=[]',
    );
    expect(line(r.lines, 41)).toMatch(
      /^#41 \+5\.02\d{4} 10\.250\.0\.1:5405 → 10\.250\.0\.2:5405 97B MEMB_COMMIT_TOKEN nodeid=1 target=0x00000000 token_seq=1 ring=1\.141 retrans_flg=0 memb_index=1 addr_entries=2 addr=\[1,2\] memb=\[1:\{ring=1\.13d aru=\d+ high_delivered=\d+ received_flg=1\} 2:\{ring=0\.0 aru=0 high_delivered=0 received_flg=0\}\]$/,
    );
    const token = r.lines.find((l) => l.includes('ORF_TOKEN'));
    expect(token).toMatch(
      /ORF_TOKEN nodeid=\d+ target=0x[0-9a-f]{8} seq=\d+ token_seq=\d+ aru=\d+ aru_addr=\d+ ring=\d+\.[0-9a-f]+ backlog=\d+ fcc=\d+ retrans_flg=0 rtr_list_entries=0 rtr=\[\]$/,
    );
  });

  it('shows the three totempg fragments of the 4000-byte CPG message and its reassembled groups', () => {
    // Frames 902–907 of udpu-full.pcap are frames 470–475 of the phase-2 file (432 earlier).
    const r = runMemo(udpu('udpu-2-cpg-messages.pcap'));
    const first = line(r.lines, 470);
    expect(first).toContain('1455B MCAST nodeid=1');
    expect(first).toContain('fragmented=1 continuation=0 msg_count=1 msg_len=[1400]');
    expect(first).toContain('[0] 1400B piece 1, continues group=a cpg.MCAST size=4184 cpg_group=capture-demo pid=7432 msglen=4000');
    expect(line(r.lines, 471)).toContain('copy_of=#470');
    expect(line(r.lines, 472)).toContain('fragmented=2 continuation=1 msg_count=1 msg_len=[1400] | [0] 1400B piece 2, continues, started #470');
    const last = line(r.lines, 474);
    expect(last).toContain('1444B MCAST');
    expect(last).toContain(
      'fragmented=0 continuation=2 msg_count=1 msg_len=[1389] | [0] 1389B piece 3 (last), started #470, message=4189B group=a cpg.MCAST size=4184',
    );
  });

  it('shows packed messages and the short CPG test messages with their groups', () => {
    const r = runMemo(udpu('udpu-full.pcap'));
    expect(line(r.lines, 7)).toContain('msg_count=2 msg_len=[333,40] | [0] 333B group=a cmap.MCAST size=328 | [1] 40B group=sync sync.BARRIER size=32 ring=1.13d');
    expect(line(r.lines, 658)).toContain('289B MCAST nodeid=1');
    expect(line(r.lines, 658)).toContain('group=a cpg.MCAST size=229 cpg_group=capture-demo pid=7427 msglen=45');
    expect(line(r.lines, 650)).toContain('cpg.PROCJOIN size=168 cpg_group=capture-demo pid=7427 reason=1');
  });

  it('marks a LEAVE join', () => {
    const r = runMemo(udpu('udpu-full.pcap'));
    const leave = r.lines.find((l) => l.includes('MEMB_JOIN nodeid=0 '));
    expect(leave).toContain('LEAVE system_from=2');
    expect(leave).toContain('proc=[1,3] failed=[2]');
    const j = runMemo(udpu('udpu-full.pcap'), true).lines.map((l) => JSON.parse(l) as { leave?: boolean; message: { systemFrom: number } });
    const leavers = j.filter((x) => x.leave === true).map((x) => x.message.systemFrom);
    expect(leavers.slice(0, 2)).toEqual([2, 2]);
    expect([...leavers].sort()).toEqual([1, 1, 2, 2, 3, 3]);
  });

  it('decodes the encapsulated MCAST of the faults capture, inner message included', () => {
    const r = runMemo(faults);
    const l = line(r.lines, 1811);
    expect(l).toContain('MCAST nodeid=1 target=0x00000000 encapsulated=1 system_from=1 seq=1 this_seqno=2742 ring=1.30');
    expect(l).toContain('inner: { MCAST nodeid=1 target=0x00000000 encapsulated=2 system_from=1 seq=2768 this_seqno=2741 ring=1.2c');
    expect(l).toContain('cpg.MCAST size=1184 cpg_group=faults pid=30477 msglen=1000 }');
    expect(line(r.lines, 1812)).toContain('copy_of=#1811');
    const tokenWithRtr = line(r.lines, 274);
    expect(tokenWithRtr).toContain('rtr_list_entries=1 rtr=[1.2c:22]');
  });

  it('--json prints one parseable object per datagram, u64 as strings, payloads as hex', () => {
    const r = runMemo(faults, true);
    expect(r.code).toBe(0);
    expect(r.lines.length).toBe(2922);
    const all = r.lines.map((l) => JSON.parse(l) as { ok: boolean; frame: number });
    expect(all.every((o) => o.ok)).toBe(true);
    expect(all.map((o) => o.frame)).toEqual(Array.from({ length: 2922 }, (_, i) => i + 1));
    const enc = jsonLine(r.lines, 1811) as {
      time: string;
      message: { encapsulated: number; ringId: { rep: number; seq: string }; payload: { length: number; hex: string; truncated: boolean } };
      inner: { message: { seq: number; ringId: { seq: string } }; totempg: { messages: { groups: string[] }[] } };
    };
    expect(enc.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(enc.message.encapsulated).toBe(1);
    expect(enc.message.ringId).toEqual({ rep: 1, seq: '48' });
    expect(enc.message.payload.length).toBe(1244);
    expect(enc.message.payload.hex.startsWith('70c00301')).toBe(true);
    expect(enc.message.payload.truncated).toBe(true);
    expect(enc.inner.message.seq).toBe(2768);
    expect(enc.inner.message.ringId.seq).toBe('44');
    expect(enc.inner.totempg.messages[0]?.groups).toEqual(['a']);
  });

  it('--absolute-time prints ISO-8601 UTC with microseconds', () => {
    const r = run(udpu('udpu-4-shutdown.pcap'), { absoluteTime: true });
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatch(/^#1 2026-11-\d\dT\d\d:\d\d:\d\d\.\d{6}Z /);
  });
});

describe('wire decode on damaged input', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carillon-wire-decode-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 1 and prints an error line for a corrupted datagram, and every other datagram', () => {
    const bytes = fs.readFileSync(udpu('udpu-4-shutdown.pcap'));
    // First record: 24-byte file header, 16-byte record header, 14 Ethernet, 20 IPv4, 8 UDP.
    const totem = 24 + 16 + 14 + 20 + 8;
    expect([bytes[totem], bytes[totem + 1]]).toEqual([0x70, 0xc0]);
    bytes[totem] = 0xff;
    bytes[totem + 1] = 0xff;
    const file = path.join(dir, 'corrupt.pcap');
    fs.writeFileSync(file, bytes);
    const r = run(file);
    expect(r.code).toBe(WireDecodeExit.decodeFailed);
    expect(r.lines.length).toBe(188);
    expect(r.lines[0]).toMatch(/^#1 \+0\.000000 .* ERROR DECODE_BAD_MAGIC at byte 0: bad magic 0xffff$/);
    expect(r.lines.slice(1).some((l) => l.includes('ERROR'))).toBe(false);
    expect(r.errors.join('\n')).toContain('1 of 188 datagrams failed to decode');
    const j = run(file, { json: true });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.lines[0] as string)).toMatchObject({ frame: 1, ok: false, error: { code: DecodeErrorCode.badMagic, offset: 0 } });
  });

  it('exits 1 for a capture cut in the middle of a record, after printing what was there', () => {
    const bytes = fs.readFileSync(udpu('udpu-4-shutdown.pcap'));
    const file = path.join(dir, 'truncated.pcap');
    fs.writeFileSync(file, bytes.subarray(0, bytes.byteLength - 10));
    const r = run(file);
    expect(r.code).toBe(1);
    expect(r.lines.length).toBe(188);
    expect(r.lines[187]).toBe('#188 ERROR pcap: file ends inside a 79-byte record (truncated capture)');
  });

  it('exits 1 when an MCAST carries a broken totempg packet', () => {
    const bytes = fs.readFileSync(udpu('udpu-full.pcap'));
    const r0 = readPcap(bytes);
    if (!r0.ok) throw r0.error;
    const frame3 = r0.value.datagrams[2];
    if (!frame3) throw new Error('no frame 3');
    // Frame 3 is an MCAST; make its totempg msg_count claim more lengths than there are bytes.
    const at = frame3.payload.byteOffset + 45 + 6;
    bytes[at] = 0xff;
    const file = path.join(dir, 'bad-totempg.pcap');
    fs.writeFileSync(file, bytes);
    const r = run(file);
    expect(r.code).toBe(1);
    expect(line(r.lines, 3)).toMatch(/MCAST nodeid=1 .* totempg: ERROR DECODE_/);
  });

  it('exits 2 with a clear message for a missing file', () => {
    const r = run(path.join(dir, 'does-not-exist.pcap'));
    expect(r.code).toBe(WireDecodeExit.usage);
    expect(r.lines).toEqual([]);
    expect(r.errors.join('\n')).toMatch(/cannot read .*does-not-exist\.pcap: ENOENT/);
  });

  it('exits 2 with a clear message for a file that is not a pcap', () => {
    const file = path.join(dir, 'text.pcap');
    fs.writeFileSync(file, 'this is not a capture file at all\n');
    const r = run(file);
    expect(r.code).toBe(2);
    expect(r.errors.join('\n')).toContain('not a pcap file: magic 0x73696874');
    fs.writeFileSync(file, new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(run(file).errors.join('\n')).toContain('pcapng is not supported');
  });
});

describe('carillon command line', () => {
  async function cli(...argv: string[]): Promise<Captured & { code: number }> {
    const io = capture();
    const code = await runCli(argv, io);
    return { ...io, code };
  }

  it('runs wire decode', async () => {
    const r = await cli('wire', 'decode', '--json', udpu('udpu-4-shutdown.pcap'));
    expect(r.code).toBe(0);
    expect(r.lines.length).toBe(188);
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli('wire', 'decode')).code).toBe(2);
    expect((await cli('wire', 'decode', '--bogus', 'x.pcap')).code).toBe(2);
    expect((await cli('no-such-command')).code).toBe(2);
    expect((await cli()).code).toBe(2);
  });

  it('exits 2 for a missing file and 0 for --help, whose text explains output and exit status', async () => {
    expect((await cli('wire', 'decode', '/nonexistent/x.pcap')).code).toBe(2);
    const help = await cli('wire', 'decode', '--help');
    expect(help.code).toBe(0);
    const text = help.lines.join('\n');
    expect(text).toContain('offset');
    expect(text).toContain('Exit status: 0');
  });
});

// ---------------------------------------------------------------------------
// Synthetic captures for the pcap reader.

function u16be(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function udp(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array([...u16be(srcPort), ...u16be(dstPort), ...u16be(8 + payload.byteLength), 0, 0, ...payload]);
}

function ipv4(src: number[], dst: number[], body: Uint8Array, opts: { proto?: number; id?: number; offset?: number; more?: boolean } = {}): Uint8Array {
  const flags = ((opts.more ? 0x2000 : 0) | ((opts.offset ?? 0) >> 3)) & 0xffff;
  const header = [0x45, 0, ...u16be(20 + body.byteLength), ...u16be(opts.id ?? 1), ...u16be(flags), 64, opts.proto ?? 17, 0, 0, ...src, ...dst];
  return new Uint8Array([...header, ...body]);
}

function ipv6(src: number[], dst: number[], nextHeader: number, body: Uint8Array): Uint8Array {
  return new Uint8Array([0x60, 0, 0, 0, ...u16be(body.byteLength), nextHeader, 64, ...src, ...dst, ...body]);
}

function ethernet(etherType: number, body: Uint8Array, vlan = false): Uint8Array {
  const macs = new Array<number>(12).fill(2);
  const tag = vlan ? [0x81, 0x00, 0x00, 0x07] : [];
  return new Uint8Array([...macs, ...tag, ...u16be(etherType), ...body]);
}

function pcapFile(linkType: number, records: Uint8Array[], opts: { bigEndian?: boolean; nanosecond?: boolean } = {}): Uint8Array {
  const le = !opts.bigEndian;
  const total = 24 + records.reduce((s, r) => s + 16 + r.byteLength, 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, opts.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, 65535, le);
  v.setUint32(20, linkType, le);
  let off = 24;
  records.forEach((r, i) => {
    v.setUint32(off, 1_700_000_000 + i, le);
    v.setUint32(off + 4, opts.nanosecond ? 500_000_000 : 500_000, le);
    v.setUint32(off + 8, r.byteLength, le);
    v.setUint32(off + 12, r.byteLength, le);
    out.set(r, off + 16);
    off += 16 + r.byteLength;
  });
  return out;
}

const A = [10, 0, 0, 1];
const B = [10, 0, 0, 2];
const V6A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6B = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
const hello = new Uint8Array([0x70, 0xc0, 3, 5, 0]);

describe('pcap reader', () => {
  it.each<[string, { bigEndian?: boolean; nanosecond?: boolean }]>([
    ['little-endian µs', {}],
    ['big-endian µs', { bigEndian: true }],
    ['little-endian ns', { nanosecond: true }],
    ['big-endian ns', { bigEndian: true, nanosecond: true }],
  ])('reads %s files', (_n, opts) => {
    const r = readPcap(pcapFile(LinkType.ethernet, [ethernet(0x0800, ipv4(A, B, udp(40000, 5405, hello)))], opts));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.nanosecond).toBe(opts.nanosecond === true);
    expect(r.value.datagrams).toEqual([
      { frame: 1, timeSec: 1_700_000_000.5, src: '10.0.0.1', srcPort: 40000, dst: '10.0.0.2', dstPort: 5405, payload: hello },
    ]);
  });

  it('reads every supported link type, IPv4 and IPv6, and skips non-UDP frames', () => {
    const v4 = ipv4(A, B, udp(1, 5405, hello));
    const v6 = ipv6(V6A, V6B, 17, udp(2, 5405, hello));
    const sll = (proto: number, body: Uint8Array): Uint8Array => new Uint8Array([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...u16be(proto), ...body]);
    const sll2 = (proto: number, body: Uint8Array): Uint8Array => new Uint8Array([...u16be(proto), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...body]);
    const cases: [number, Uint8Array[]][] = [
      [LinkType.ethernet, [ethernet(0x0800, v4), ethernet(0x86dd, v6, true), ethernet(0x0806, new Uint8Array(28))]],
      [LinkType.linuxSll, [sll(0x0800, v4), sll(0x86dd, v6)]],
      [LinkType.linuxSll2, [sll2(0x0800, v4), sll2(0x86dd, v6)]],
      [LinkType.raw, [v4, v6]],
      [LinkType.ipv4, [v4, ipv4(A, B, new Uint8Array(20), { proto: 6 })]],
      [LinkType.ipv6, [v6]],
      [LinkType.null, [new Uint8Array([2, 0, 0, 0, ...v4]), new Uint8Array([30, 0, 0, 0, ...v6])]],
    ];
    for (const [linkType, records] of cases) {
      const r = readPcap(pcapFile(linkType, records));
      if (!r.ok) throw r.error;
      expect(r.value.problems).toEqual([]);
      for (const d of r.value.datagrams) {
        expect(d.payload).toEqual(hello);
        expect(d.dstPort).toBe(5405);
      }
      const v6d = r.value.datagrams.find((d) => d.srcPort === 2);
      if (v6d) {
        expect(v6d.src).toBe('2001:db8::1');
        expect(v6d.dst).toBe('fe80::211:22ff:fe33:4455');
      }
      expect(r.value.datagrams.length + r.value.nonUdpFrames).toBe(records.length);
    }
  });

  it('reassembles IPv4 fragments, in any order, reporting the frame that completed them', () => {
    const big = new Uint8Array(1500).map((_, i) => i & 0xff);
    const whole = udp(40000, 5405, big); // 1508 bytes
    const f1 = ipv4(A, B, whole.subarray(0, 1480), { id: 7, more: true });
    const f2 = ipv4(A, B, whole.subarray(1480), { id: 7, offset: 1480 });
    const other = ethernet(0x0800, ipv4(B, A, udp(5405, 5405, hello)));
    for (const order of [
      [f1, f2],
      [f2, f1],
    ]) {
      const r = readPcap(pcapFile(LinkType.ethernet, [ethernet(0x0800, order[0] as Uint8Array), other, ethernet(0x0800, order[1] as Uint8Array)]));
      if (!r.ok) throw r.error;
      expect(r.value.problems).toEqual([]);
      expect(r.value.datagrams.map((d) => d.frame)).toEqual([2, 3]);
      expect(r.value.datagrams[1]?.payload).toEqual(big);
    }
  });

  it('reassembles IPv6 fragments', () => {
    const whole = udp(40000, 5405, new Uint8Array(100).fill(9));
    const frag = (offset: number, more: boolean, body: Uint8Array): Uint8Array =>
      ipv6(V6A, V6B, 44, new Uint8Array([17, 0, ...u16be(offset | (more ? 1 : 0)), 0, 0, 0, 42, ...body]));
    const r = parsePcap(pcapFile(LinkType.raw, [frag(0, true, whole.subarray(0, 64)), frag(64, false, whole.subarray(64))]));
    if (!r.ok) throw r.error;
    expect(r.value.length).toBe(1);
    expect(r.value[0]?.payload).toEqual(new Uint8Array(100).fill(9));
  });

  it('reports fragments that never complete, snaplen-cut datagrams and broken headers as problems', () => {
    const incomplete = ipv4(A, B, udp(1, 2, new Uint8Array(100)).subarray(0, 64), { id: 9, more: true });
    const cut = ipv4(A, B, udp(1, 2, new Uint8Array(100)));
    const file = pcapFile(LinkType.raw, [incomplete, cut.subarray(0, 60), new Uint8Array([0x45, 0, 0])]);
    const r = readPcap(file);
    if (!r.ok) throw r.error;
    expect(r.value.datagrams).toEqual([]);
    expect(r.value.problems.map((p) => [p.frame, p.message])).toEqual([
      [1, 'IP fragments that were never completed'],
      [2, 'IPv4 packet truncated: 60 of 128 bytes captured'],
      [3, 'record too short for an IPv4 header'],
    ]);
  });

  it('rejects files that are not usable pcaps', () => {
    const short = readPcap(new Uint8Array(10));
    expect(!short.ok && short.error.code).toBe(DecodeErrorCode.truncated);
    const file = pcapFile(LinkType.ethernet, []);
    new DataView(file.buffer).setUint32(20, 147, true);
    const unsupported = readPcap(file);
    expect(!unsupported.ok && unsupported.error.message).toBe('unsupported pcap link type 147');
  });
});
