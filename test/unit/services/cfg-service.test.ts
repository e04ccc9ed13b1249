// Goal: the cfg service (src/services/cfg-service.ts) decodes the five cfg exec messages
// of corosync-wire.md §9.3 and acts only on a KILLNODE naming this node; everything else
// is logged, and short or unknown messages are counted, never thrown.
// Method: build each message by hand at the §9.3 offsets, deliver it to a CfgService over
// a fake ServiceApi that records log lines.

import { describe, expect, it } from '@jest/globals';
import { CFG_MESSAGE_BYTES, CfgFn, CfgService, decodeCfgMessage, encodeCfgKillNode } from '../../../src/services/cfg-service';
import { execId, writeExecHeader } from '../../../src/services/exec-header';
import type { ServiceApi } from '../../../src/services/service-api';

function fakeApi(localNodeId: number, lines: string[]): ServiceApi {
  return {
    localNodeId,
    tickMs: 10,
    mcast: () => 'queued',
    members: () => [],
    ringId: () => ({ rep: 0, seq: 0n }),
    isQuorate: () => true,
    isSyncing: () => false,
    now: () => 0,
    log: (level, message) => void lines.push(`${level} ${message}`),
  };
}

function cfgMessage(fn: number, fill: (view: DataView) => void = () => undefined): Uint8Array {
  const bytes = new Uint8Array(CFG_MESSAGE_BYTES[fn] ?? 16);
  writeExecHeader(bytes, execId(1, fn), bytes.length);
  fill(new DataView(bytes.buffer));
  return bytes;
}

function setup(localNodeId = 2) {
  const lines: string[] = [];
  const kills: Array<[string, number]> = [];
  const cfg = new CfgService({ api: fakeApi(localNodeId, lines), onKillRequest: (reason, from) => void kills.push([reason, from]) });
  return { cfg, lines, kills };
}

describe('cfg exec messages', () => {
  it('decodes the five layouts of §9.3', () => {
    expect(CFG_MESSAGE_BYTES).toEqual([32, 288, 16, 32, 24]);
    const source = (v: DataView) => v.setUint32(16, 7, true);
    expect(decodeCfgMessage(CfgFn.ringReenable, cfgMessage(0, source))).toEqual({ ok: true, value: { type: 'ring-reenable', sourceNodeId: 7 } });
    expect(decodeCfgMessage(CfgFn.shutdown, cfgMessage(2))).toEqual({ ok: true, value: { type: 'shutdown' } });
    expect(decodeCfgMessage(CfgFn.reloadConfig, cfgMessage(3, source))).toEqual({ ok: true, value: { type: 'reload-config', sourceNodeId: 7 } });
    expect(decodeCfgMessage(CfgFn.cryptoReconfig, cfgMessage(4, (v) => v.setUint32(16, 1, true)))).toEqual({ ok: true, value: { type: 'crypto-reconfig', phase: 1 } });
    const kill = cfgMessage(1, (v) => {
      v.setUint32(16, 3, true);
      v.setUint16(24, 6, true);
    });
    kill.set(new TextEncoder().encode('bye\0xx'), 32);
    expect(decodeCfgMessage(CfgFn.killNode, kill)).toEqual({ ok: true, value: { type: 'kill-node', nodeId: 3, reason: 'bye' } });
  });

  it('encodes a KILLNODE as corosync-cfgtool -k does and reads it back', () => {
    const bytes = encodeCfgKillNode(3, 'maintenance window');
    expect(bytes).toHaveLength(288);
    const view = new DataView(bytes.buffer);
    expect([view.getInt32(0, true), view.getInt32(8, true), view.getUint32(16, true), view.getUint16(24, true)]).toEqual([0x00010001, 288, 3, 19]);
    expect(decodeCfgMessage(CfgFn.killNode, bytes)).toEqual({ ok: true, value: { type: 'kill-node', nodeId: 3, reason: 'maintenance window' } });
    // A length beyond the 256-byte value is bounded by it.
    view.setUint16(24, 0xffff, true);
    expect(decodeCfgMessage(CfgFn.killNode, bytes)).toMatchObject({ ok: true, value: { reason: 'maintenance window' } });
  });

  it('refuses short messages and unknown functions', () => {
    expect(decodeCfgMessage(CfgFn.killNode, encodeCfgKillNode(3, 'x').subarray(0, 287))).toMatchObject({ ok: false, error: { code: 'DECODE_TRUNCATED' } });
    expect(decodeCfgMessage(5, new Uint8Array(64))).toMatchObject({ ok: false, error: { code: 'DECODE_BAD_TYPE' } });
  });
});

describe('CfgService', () => {
  it('calls onKillRequest for a KILLNODE naming this node, with the reason and the sender', () => {
    const { cfg, lines, kills } = setup(2);
    cfg.deliver(CfgFn.killNode, 1, encodeCfgKillNode(3, 'not you'));
    expect(kills).toEqual([]);
    cfg.deliver(CfgFn.killNode, 1, encodeCfgKillNode(2, 'you'));
    expect(kills).toEqual([['you', 1]]);
    expect(lines).toEqual(['debug request to kill node 3 (us=2)', 'debug request to kill node 2 (us=2)', 'notice Killed by node 1 : you']);
    expect(cfg.counters()).toMatchObject({ killNode: 2, killNodeForUs: 1 });
  });

  it('only logs the other messages, and counts short or unknown ones', () => {
    const { cfg, lines, kills } = setup(2);
    cfg.deliver(CfgFn.ringReenable, 1, cfgMessage(0));
    cfg.deliver(CfgFn.shutdown, 3, cfgMessage(2));
    cfg.deliver(CfgFn.reloadConfig, 1, cfgMessage(3));
    cfg.deliver(CfgFn.cryptoReconfig, 2, cfgMessage(4));
    cfg.deliver(CfgFn.killNode, 1, encodeCfgKillNode(2, 'short').subarray(0, 100));
    cfg.deliver(9, 1, cfgMessage(2));
    expect(kills).toEqual([]);
    expect(lines).toContain('notice Node 3 was shut down by sysadmin');
    expect(lines.some((l) => l.startsWith('notice Config reload requested by node 1'))).toBe(true);
    expect(lines).toContain('warning discarded unknown message 9 for service 1 (max id 5)');
    expect(cfg.counters()).toEqual({
      ringReenable: 1, killNode: 0, killNodeForUs: 0, shutdown: 1, reloadConfig: 1, cryptoReconfig: 1, malformed: 1, unknownFunction: 1,
    });
    expect(cfg.sync).toBeNull();
    expect(cfg.id).toBe(1);
  });
});
