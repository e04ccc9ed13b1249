// One parser for the RESULT / LAT lines of ../shared/tools/cpgload (C, on corosync) and
// of scripts/bench/cpgload.ts (on carillond), and the message header both put on the
// wire (scripts/bench/cpgload-header.ts, cpgload.c's struct hdr).

import { describe, expect, test } from '@jest/globals';
import {
  CPGLOAD_HEADER_BYTES,
  CPGLOAD_MAGIC,
  CpgloadOffset,
  CpgloadType,
  cpgloadBuffer,
  readCpgloadHeader,
  writeCpgloadHeader,
} from '../../scripts/bench/cpgload-header';
import { formatLatLine, formatResultLine, numField, parseBenchLine, parseBenchOutput } from '../../scripts/bench/result-line';

// As cpgload.c prints them (its printf formats), with a runner label in front.
const C_RESULT =
  'RESULT side=corosync rep=1 mode=one node=2 sender=0 size=1024 rx_msgs=65123 rx_bytes=66685952 window_s=2.001 rx_msgs_per_s=32545 rx_MBps=33.326 gaps=0 srcs=1 ends=1/1 sent=0 send_s=0.000 tx_msgs_per_s=0 try_again=0';
const C_LAT = 'LAT side=corosync rep=1 kind=oneway size=64 n=400 min_us=80.2 p50_us=118.4 p90_us=181.0 p99_us=250.3 max_us=610.9 mean_us=131.5';

describe('parseBenchLine', () => {
  test('a C cpgload RESULT line: label and figures as fields', () => {
    const line = parseBenchLine(C_RESULT);
    expect(line?.kind).toBe('RESULT');
    expect(line?.fields['side']).toBe('corosync');
    expect(line?.fields['mode']).toBe('one');
    expect(line?.fields['ends']).toBe('1/1');
    expect(line === null ? null : numField(line, 'rx_msgs_per_s')).toBe(32545);
    expect(line === null ? null : numField(line, 'rx_MBps')).toBe(33.326);
  });

  test('a LAT line: the label\'s kind= is completed by the name', () => {
    const line = parseBenchLine(C_LAT);
    expect(line?.kind).toBe('LAT');
    expect(line?.fields['kind']).toBe('oneway');
    expect(line === null ? null : numField(line, 'p99_us')).toBe(250.3);
  });

  test('other lines are not results; NA and missing fields read as null', () => {
    expect(parseBenchLine('1795308624.819600384 CONFCHG n=3 members=[]')).toBeNull();
    expect(parseBenchLine('[interop kit] started')).toBeNull();
    const line = parseBenchLine('RESULT node=1 try_again=NA');
    expect(line === null ? 'x' : numField(line, 'try_again')).toBeNull();
    expect(line === null ? 'x' : numField(line, 'nothing')).toBeNull();
    expect(parseBenchOutput(`noise\n${C_RESULT}\n${C_LAT}\n`).map((l) => l.kind)).toEqual(['RESULT', 'LAT']);
  });
});

describe('the Carillon client prints what the parser reads for the C client', () => {
  test('formatResultLine has the C line\'s fields, in its order, with its precision', () => {
    const text = formatResultLine('side=carillon rep=1 mode=one ', {
      nodeId: 2, sender: false, size: 1024, rxMsgs: 65123, rxBytes: 66685952, windowS: 2.001, gaps: 0, sources: 1,
      endsSeen: 1, endsExpected: 1, sent: 0, sendS: 0, tryAgain: 0,
    });
    expect(text).toBe(C_RESULT.replace('side=corosync', 'side=carillon'));
    const keys = (l: string): string[] => Object.keys(parseBenchLine(l)?.fields ?? {});
    expect(keys(text)).toEqual(keys(C_RESULT));
  });

  test('a client that cannot see try-again answers says NA', () => {
    const text = formatResultLine('', { nodeId: 1, sender: true, size: 64, rxMsgs: 0, rxBytes: 0, windowS: 0, gaps: 0, sources: 0, endsSeen: 0, endsExpected: 1, sent: 5, sendS: 1, tryAgain: null });
    expect(text).toContain('rx_msgs_per_s=0 rx_MBps=0.000');
    expect(text).toContain('tx_msgs_per_s=5 try_again=NA');
  });

  test('formatLatLine: cpgload\'s percentiles and format; n=0 without samples', () => {
    const samples = Array.from({ length: 200 }, (_, k) => 200 - k); // 200 .. 1 µs
    const line = parseBenchLine(formatLatLine('side=carillon rep=2 kind=', 'self', 1024, samples));
    expect(line?.fields).toMatchObject({ side: 'carillon', rep: '2', kind: 'self', size: '1024', n: '200', min_us: '1.0', p50_us: '100.0', p90_us: '180.0', p99_us: '198.0', max_us: '200.0', mean_us: '100.5' });
    expect(formatLatLine('kind=', 'rtt', 64, [])).toBe('LAT kind=rtt n=0');
  });
});

describe('cpgload message header', () => {
  test('48 bytes, little-endian, the C struct\'s offsets; padding a..z after it', () => {
    const bytes = cpgloadBuffer(64);
    writeCpgloadHeader(bytes, { type: CpgloadType.pong, nodeId: 3, pid: 4242, seq: 7n, tsNs: 123456789012345n, ts2Ns: 5n, destNodeId: 1, destPid: 99 });
    expect(CPGLOAD_HEADER_BYTES).toBe(48);
    expect(bytes.readUInt32LE(0)).toBe(CPGLOAD_MAGIC);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CPGL');
    expect(bytes.readUInt32LE(CpgloadOffset.type)).toBe(4);
    expect(bytes.readBigUInt64LE(CpgloadOffset.seq)).toBe(7n);
    expect(bytes.readUInt32LE(CpgloadOffset.destPid)).toBe(99);
    expect(bytes.subarray(48, 52).toString('latin1')).toBe('wxyz'); // 'a' + 48 % 26 = 'w'
    expect(readCpgloadHeader(bytes)).toEqual({ type: 4, nodeId: 3, pid: 4242, seq: 7n, tsNs: 123456789012345n, ts2Ns: 5n, destNodeId: 1, destPid: 99 });
  });

  test('short messages and foreign magic are not cpgload messages', () => {
    expect(readCpgloadHeader(new Uint8Array(47))).toBeNull();
    const bytes = cpgloadBuffer(48);
    expect(readCpgloadHeader(bytes)).toBeNull(); // magic 0
    expect(cpgloadBuffer(10).length).toBe(48);
    expect(() => writeCpgloadHeader(Buffer.alloc(10), { type: 1, nodeId: 1, pid: 1, seq: 0n, tsNs: 0n, ts2Ns: 0n, destNodeId: 0, destPid: 0 })).toThrow(RangeError);
  });
});
