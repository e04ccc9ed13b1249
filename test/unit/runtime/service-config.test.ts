// Goal: the configuration reaches the services in corosync's shapes — cmap holds the file
// as coroparse files it (typed keys, renamed subsections, the carillon section left out),
// runtime.config.totem.* holds the effective timers under totemconfig.c's names and types,
// stats.srp.* uses exactly exec/stats.c's names and types, and votequorum gets only what
// the file states where "unset" matters (wait_for_all, auto_tie_breaker_node).
// Method: example configurations through loadCarillonConfig and parseCorosyncConf.

import { describe, expect, it } from '@jest/globals';
import { parseCorosyncConf } from '../../../src/config/corosync-conf';
import { loadCarillonConfig, type CarillonConfig } from '../../../src/config/load';
import { cmapConfigEntries, cmapDerivedEntries, memberAddressText, runtimeConfigTotemEntries, srpStats, votequorumSettings } from '../../../src/runtime/service-config';
import { cmapStatsKeyType } from '../../../src/services/cmap/cmap-service';
import { CmapStore, type CmapValue } from '../../../src/services/cmap/cmap-store';
import { deriveTotemConfigMs } from '../../../src/totem/config';

const TEXT = `totem {
\tversion: 2
\tcluster_name: pbx
\ttransport: udpu
\ttoken: 1000
\tconfig_version: 7
\tinterface {
\t\tlinknumber: 0
\t\tmcastport: 5405
\t}
}
nodelist {
\tnode {
\t\tring0_addr: 10.0.0.1
\t\tname: pbx1
\t\tnodeid: 1
\t}
\tnode {
\t\tring0_addr: 10.0.0.2
\t\tname: pbx2
\t\tnodeid: 2
\t\tquorum_votes: 2
\t}
\tnode {
\t\tring0_addr: 10.0.0.3
\t\tnodeid: 3
\t}
}
quorum {
\tprovider: corosync_votequorum
\ttwo_node: 0
\tlast_man_standing: 1
\tlast_man_standing_window: 20000
}
logging {
\tto_stderr: yes
\tlogger_subsys {
\t\tsubsys: QUORUM
\t\tdebug: on
\t}
}
carillon {
\tlocal_nodeid: 2
\tstate_dir: /tmp
}
`;

function load(text: string): CarillonConfig {
  const result = loadCarillonConfig(text, 't.conf');
  if (result.config === null) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  return result.config;
}

function asMap(entries: ReadonlyArray<readonly [string, CmapValue]>): Map<string, CmapValue> {
  const store = new CmapStore();
  for (const [key, value] of entries) {
    const r = store.set(key, value);
    if (!r.ok) throw r.error;
  }
  return new Map(store.iterate().map((e) => [e.key, e.value]));
}

describe('cmapConfigEntries: the file as coroparse puts it into icmap', () => {
  const map = asMap(cmapConfigEntries(parseCorosyncConf(TEXT, 't.conf').document));

  it('types the keys coroparse types and keeps the rest as strings', () => {
    expect(map.get('totem.version')).toEqual({ type: 'uint32', value: 2 });
    expect(map.get('totem.token')).toEqual({ type: 'uint32', value: 1000 });
    expect(map.get('totem.config_version')).toEqual({ type: 'uint64', value: 7n });
    expect(map.get('totem.cluster_name')).toEqual({ type: 'string', value: 'pbx' });
    expect(map.get('totem.transport')).toEqual({ type: 'string', value: 'udpu' });
    expect(map.get('quorum.two_node')).toEqual({ type: 'uint8', value: 0 });
    expect(map.get('quorum.last_man_standing_window')).toEqual({ type: 'uint32', value: 20000 });
    expect(map.get('quorum.provider')).toEqual({ type: 'string', value: 'corosync_votequorum' });
    expect(map.get('logging.to_stderr')).toEqual({ type: 'string', value: 'yes' });
  });

  it('renames subsections: totem.interface.N, nodelist.node.N, logging.logger_subsys.SUBSYS', () => {
    expect(map.get('totem.interface.0.mcastport')).toEqual({ type: 'uint16', value: 5405 });
    expect(map.has('totem.interface.linknumber')).toBe(false);
    expect(map.get('nodelist.node.0.nodeid')).toEqual({ type: 'uint32', value: 1 });
    expect(map.get('nodelist.node.1.quorum_votes')).toEqual({ type: 'uint32', value: 2 });
    expect(map.get('nodelist.node.1.ring0_addr')).toEqual({ type: 'string', value: '10.0.0.2' });
    expect(map.get('nodelist.node.2.ring0_addr')).toEqual({ type: 'string', value: '10.0.0.3' });
    expect(map.get('logging.logger_subsys.QUORUM.debug')).toEqual({ type: 'string', value: 'on' });
    expect(map.get('logging.logger_subsys.QUORUM.subsys')).toEqual({ type: 'string', value: 'QUORUM' });
  });

  it('leaves the carillon section out', () => {
    expect([...map.keys()].filter((k) => k.startsWith('carillon'))).toEqual([]);
  });
});

describe('derived keys', () => {
  const config = load(TEXT);

  it('runtime.config.totem.*: the effective timers under totemconfig.c names, u32 but for knet_compression_level/model', () => {
    const map = asMap(cmapDerivedEntries(config, 2));
    const ms = deriveTotemConfigMs({ token: 1000 }, 3);
    expect(map.get('runtime.config.totem.token')).toEqual({ type: 'uint32', value: 1650 });
    expect(map.get('runtime.config.totem.token_retransmit')).toEqual({ type: 'uint32', value: ms.tokenRetransmit });
    expect(map.get('runtime.config.totem.hold')).toEqual({ type: 'uint32', value: ms.hold });
    expect(map.get('runtime.config.totem.consensus')).toEqual({ type: 'uint32', value: 1980 });
    expect(map.get('runtime.config.totem.join')).toEqual({ type: 'uint32', value: 50 });
    expect(map.get('runtime.config.totem.merge')).toEqual({ type: 'uint32', value: 200 });
    expect(map.get('runtime.config.totem.token_warning')).toEqual({ type: 'uint32', value: 75 });
    expect(map.get('runtime.config.totem.block_unlisted_ips')).toEqual({ type: 'uint32', value: 1 });
    expect(map.get('runtime.config.totem.knet_compression_level')).toEqual({ type: 'int32', value: 0 });
    expect(map.get('runtime.config.totem.knet_compression_model')).toEqual({ type: 'string', value: 'none' });
    expect([...map.keys()].filter((k) => k.startsWith('runtime.config.totem.'))).toHaveLength(24);
    expect(map.get('nodelist.local_node_pos')).toEqual({ type: 'uint32', value: 1 });
    expect(map.get('totem.cluster_name')).toEqual({ type: 'string', value: 'pbx' });
    expect(runtimeConfigTotemEntries(config.totemMs, config.totem)).toHaveLength(24);
  });

  it('runtime.members.N.ip text is totempg_ifaces_print\'s', () => {
    expect(memberAddressText({ ring0Addr: { family: 'ipv4', text: '10.0.0.1' } })).toBe('r(0) ip(10.0.0.1) ');
  });

  it('stats.srp.*: exactly stats.c\'s 30 names; u32/u8 where stats.c says so', () => {
    const types = Object.fromEntries(Object.keys(srpStats(
      {
        orfTokenTx: 1, orfTokenRx: 2, mcastTx: 0, mcastRx: 0, mcastRetx: 0, membJoinTx: 0, membJoinRx: 0, membCommitTokenTx: 0, membCommitTokenRx: 0,
        membMergeDetectTx: 0, membMergeDetectRx: 0, tokenHoldCancelTx: 0, tokenHoldCancelRx: 0, operationalEntered: 0, operationalTokenLost: 0,
        gatherEntered: 0, gatherTokenLost: 0, commitEntered: 0, commitTokenLost: 0, recoveryEntered: 0, recoveryTokenLost: 0, consensusTimeouts: 0,
        rxMsgDropped: 0, continuousGatherCount: 0, failedToRecv: 0, tokenHeld: 0,
      },
      { timeSinceTokenLastReceivedMs: 12.4, mttRxTokenMs: 0 },
    )).map((k) => [k, cmapStatsKeyType(`stats.srp.${k}`)]));
    expect(Object.keys(types)).toEqual([
      'orf_token_tx', 'orf_token_rx', 'memb_merge_detect_tx', 'memb_merge_detect_rx', 'memb_join_tx', 'memb_join_rx', 'mcast_tx', 'mcast_retx',
      'mcast_rx', 'memb_commit_token_tx', 'memb_commit_token_rx', 'token_hold_cancel_tx', 'token_hold_cancel_rx', 'operational_entered',
      'operational_token_lost', 'gather_entered', 'gather_token_lost', 'commit_entered', 'commit_token_lost', 'recovery_entered',
      'recovery_token_lost', 'consensus_timeouts', 'rx_msg_dropped', 'time_since_token_last_received', 'continuous_gather',
      'continuous_sendmsg_failures', 'firewall_enabled_or_nic_failure', 'mtt_rx_token', 'avg_token_workload', 'avg_backlog_calc',
    ]);
    expect(types['firewall_enabled_or_nic_failure']).toBe('uint8');
    expect(types['continuous_gather']).toBe('uint32');
    expect(types['orf_token_rx']).toBe('uint64');
  });
});

describe('votequorumSettings', () => {
  it('maps the nodelist votes and names, and passes only what the file states where unset matters', () => {
    const settings = votequorumSettings(load(TEXT), 5);
    expect(settings).toEqual({
      nodelist: [{ nodeId: 1, votes: 1, name: 'pbx1' }, { nodeId: 2, votes: 2, name: 'pbx2' }, { nodeId: 3, votes: 1 }],
      twoNode: false,
      lastManStanding: true,
      lastManStandingWindowMs: 20000,
      autoTieBreaker: false,
      allowDownscale: false,
      expectedVotesTracking: false,
      evTrackingBarrier: 5,
    });
  });

  it('two_node alone leaves wait_for_all unset (votequorum then follows two_node); explicit values pass', () => {
    const base = TEXT.replace('\tlast_man_standing: 1\n\tlast_man_standing_window: 20000\n', '').replace('two_node: 0', 'two_node: 1');
    const two = base.replace(/\tnode \{\n\t\tring0_addr: 10\.0\.0\.3\n\t\tnodeid: 3\n\t\}\n/, '');
    expect(votequorumSettings(load(two))).not.toHaveProperty('waitForAll');
    expect(votequorumSettings(load(two))?.twoNode).toBe(true);
    expect(votequorumSettings(load(two.replace('two_node: 1', 'two_node: 1\n\twait_for_all: 0')))).toMatchObject({ waitForAll: false });
    expect(votequorumSettings(load(two.replace('two_node: 1', 'two_node: 1\n\texpected_votes: 2')))).toMatchObject({ expectedVotes: 2 });
  });

  it('is null without a quorum provider', () => {
    expect(votequorumSettings(load(TEXT.replace(/quorum \{[^}]*\}\n/, '')))).toBeNull();
  });
});
