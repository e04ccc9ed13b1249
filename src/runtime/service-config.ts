// What the services read from the configuration, in corosync 3.1.7's shapes:
//
// - votequorumSettings(): the quorum { } section and the nodelist as VotequorumSettings
//   (votequorum_readconfig's inputs). Only what the file states explicitly is passed where
//   votequorum distinguishes "unset" from a value (wait_for_all follows two_node when
//   unset; auto_tie_breaker_node is only meaningful with auto_tie_breaker).
// - cmapConfigEntries(): the configuration file as coroparse.c puts it into icmap. Every
//   key becomes `section.subsection.key` as a string, except the keys coroparse converts
//   (totem timers u32, totem.config_version u64, totem.interface.N.mcastport u16,
//   nodelist.node.N.nodeid / quorum_votes u32, quorum flags u8, ...). Subsections are
//   renamed as coroparse does: `totem { interface { linknumber: N } }` is
//   totem.interface.N.*, the Nth `nodelist { node { } }` is nodelist.node.N.*, and
//   `logging { logger_subsys { subsys: X } }` is logging.logger_subsys.X.*. Carillon's own
//   `carillon { }` section is not corosync's and stays out of cmap.
// - cmapDerivedEntries(): what corosync computes at start and stores next to the file's
//   keys: runtime.config.totem.* (totem_volatile_config_read: the effective timers, u32,
//   knet_compression_level i32, knet_compression_model str), nodelist.local_node_pos, and
//   totem.cluster_name as the loader read it (corosync never invents one).
// - srpStats(): TotemStats under exec/stats.c's stats.srp.* names; what Carillon does not
//   measure is 0.
// - memberAddressText(): runtime.members.N.ip as corosync's totempg_ifaces_print writes it.

import type { CarillonConfig, ClusterNode } from '../config/load';
import type { ConfDocument, ConfKey, ConfNode, ConfSection } from '../config/corosync-conf';
import type { CmapValue } from '../services/cmap/cmap-store';
import type { VotequorumSettings } from '../services/votequorum/votequorum-service';
import type { TotemConfigMs } from '../totem/config';
import type { TotemStats } from '../totem/srp/types';

// ---------------------------------------------------------------------------------------
// votequorum

/** quorum { } + nodelist as votequorum reads them; null without `provider: corosync_votequorum`. */
export function votequorumSettings(config: CarillonConfig, evTrackingBarrier = 0): VotequorumSettings | null {
  const q = config.quorum;
  if (q === null) return null;
  const stated = (key: string): boolean => config.sources[`quorum.${key}`] !== undefined;
  return {
    nodelist: config.nodelist.map((n) => ({ nodeId: n.nodeid, votes: n.quorumVotes, ...(n.name !== null ? { name: n.name } : {}) })),
    ...(q.expectedVotesConfigured !== null && q.expectedVotesConfigured > 0 ? { expectedVotes: q.expectedVotesConfigured } : {}),
    twoNode: q.twoNode,
    ...(q.waitForAllSource === 'explicit' ? { waitForAll: q.waitForAll } : {}),
    lastManStanding: q.lastManStanding,
    lastManStandingWindowMs: q.lastManStandingWindowMs,
    autoTieBreaker: q.autoTieBreaker,
    ...(stated('auto_tie_breaker_node') ? { autoTieBreakerNode: q.autoTieBreakerNode } : {}),
    allowDownscale: q.allowDownscale,
    expectedVotesTracking: q.expectedVotesTracking,
    evTrackingBarrier,
  };
}

// ---------------------------------------------------------------------------------------
// cmap: the configuration file (coroparse.c main_config_parser_cb)

type Entry = [string, CmapValue];

const TOTEM_U32 = new Set([
  'version', 'nodeid', 'threads', 'token', 'token_coefficient', 'token_retransmit', 'token_warning', 'hold',
  'token_retransmits_before_loss_const', 'join', 'send_join', 'consensus', 'merge', 'downcheck', 'fail_recv_const',
  'seqno_unchanged_const', 'rrp_token_expired_timeout', 'rrp_problem_count_timeout', 'rrp_problem_count_threshold',
  'rrp_problem_count_mcast_threshold', 'rrp_autorecovery_check_timeout', 'heartbeat_failures_allowed',
  'max_network_delay', 'window_size', 'max_messages', 'miss_count_const', 'knet_pmtud_interval', 'knet_mtu',
  'knet_compression_threshold', 'netmtu',
]);
const QUORUM_U32 = new Set(['expected_votes', 'votes', 'last_man_standing_window', 'leaving_timeout']);
const QUORUM_U8 = new Set(['two_node', 'expected_votes_tracking', 'allow_downscale', 'wait_for_all', 'auto_tie_breaker', 'last_man_standing']);
const QDEVICE_U32 = new Set(['timeout', 'sync_timeout', 'votes']);
const INTERFACE_TYPED: Readonly<Record<string, 'uint8' | 'uint16' | 'uint32'>> = {
  mcastport: 'uint16',
  ttl: 'uint8',
  knet_link_priority: 'uint8',
  knet_ping_interval: 'uint32',
  knet_ping_timeout: 'uint32',
  knet_ping_precision: 'uint32',
  knet_pong_count: 'uint32',
};
/** coroparse's safe_atoq ranges. */
const RANGES = {
  int8: [-0x80, 0x7f],
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
} as const;

/** The value as `type`, or as the string it was when it does not parse (the loader has reported it). */
function typed(value: string, type: keyof typeof RANGES): CmapValue {
  const text = value.trim();
  if (/^[+-]?\d+$/.test(text)) {
    const n = Number(text);
    const [min, max] = RANGES[type];
    if (n >= min && n <= max) return { type, value: n };
  }
  return { type: 'string', value };
}

function typedU64(value: string): CmapValue {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const n = BigInt(text);
    if (n < 1n << 64n) return { type: 'uint64', value: n };
  }
  return { type: 'string', value };
}

const str = (value: string): CmapValue => ({ type: 'string', value });

function keysOf(section: { readonly children: readonly ConfNode[] }): ConfKey[] {
  return section.children.filter((c): c is ConfKey => c.kind === 'key');
}

function sectionsOf(section: { readonly children: readonly ConfNode[] }): ConfSection[] {
  return section.children.filter((c): c is ConfSection => c.kind === 'section');
}

/** Keys of a section we do not special-case: strings at `path.key`, subsections likewise. */
function plain(out: Entry[], path: string, section: ConfSection, valueOf: (key: string, value: string) => CmapValue = (_k, v) => str(v)): void {
  for (const child of section.children) {
    if (child.kind === 'key') out.push([`${path}.${child.name}`, valueOf(child.name, child.value)]);
    else plain(out, `${path}.${child.name}`, child);
  }
}

function totemInterface(out: Entry[], section: ConfSection): void {
  const keys = keysOf(section);
  let linknumber = 0;
  for (const k of keys) {
    if (k.name !== 'linknumber') continue;
    const v = typed(k.value, 'uint8');
    if (v.type === 'uint8') linknumber = v.value;
  }
  // Values coroparse keeps until the section ends, then stores under the link number;
  // the last occurrence of a key wins.
  const held = new Map<string, CmapValue>();
  for (const k of keys) {
    if (k.name === 'linknumber') continue;
    if (k.name === 'bindnetaddr' || k.name === 'mcastaddr' || k.name === 'broadcast' || k.name === 'knet_transport') held.set(k.name, str(k.value));
    else if (INTERFACE_TYPED[k.name] !== undefined) held.set(k.name, typed(k.value, INTERFACE_TYPED[k.name] as 'uint8' | 'uint16' | 'uint32'));
    else out.push([`totem.interface.${k.name}`, str(k.value)]);
  }
  for (const [name, value] of held) out.push([`totem.interface.${linknumber}.${name}`, value]);
  let member = 0;
  for (const sub of sectionsOf(section)) {
    if (sub.name !== 'member') {
      plain(out, `totem.interface.${sub.name}`, sub);
      continue;
    }
    for (const k of keysOf(sub)) {
      if (k.name === 'memberaddr') out.push([`totem.interface.${linknumber}.member.${member++}`, str(k.value)]);
    }
  }
}

function totem(out: Entry[], section: ConfSection): void {
  for (const child of section.children) {
    if (child.kind === 'section') {
      if (child.name === 'interface') totemInterface(out, child);
      else plain(out, `totem.${child.name}`, child);
      continue;
    }
    const key = `totem.${child.name}`;
    if (TOTEM_U32.has(child.name)) out.push([key, typed(child.value, 'uint32')]);
    else if (child.name === 'knet_compression_level') out.push([key, typed(child.value, 'int32')]);
    else if (child.name === 'config_version') out.push([key, typedU64(child.value)]);
    else out.push([key, str(child.value)]);
  }
}

function quorum(out: Entry[], section: ConfSection): void {
  plain(out, 'quorum', section, (key, value) => {
    if (QUORUM_U32.has(key)) return typed(value, 'uint32');
    if (QUORUM_U8.has(key)) return typed(value, 'uint8');
    return str(value);
  });
  for (const device of sectionsOf(section).filter((s) => s.name === 'device')) {
    // plain() above stored them as strings; coroparse types a few.
    for (const k of keysOf(device)) {
      if (QDEVICE_U32.has(k.name)) out.push([`quorum.device.${k.name}`, typed(k.value, 'uint32')]);
      if (k.name === 'master_wins') out.push([`quorum.device.${k.name}`, typed(k.value, 'uint8')]);
    }
  }
}

function nodelist(out: Entry[], section: ConfSection): void {
  let n = 0;
  for (const child of section.children) {
    if (child.kind === 'key') {
      out.push([`nodelist.${child.name}`, str(child.value)]);
      continue;
    }
    if (child.name !== 'node') {
      plain(out, `nodelist.${child.name}`, child);
      continue;
    }
    for (const k of keysOf(child)) {
      const key = `nodelist.node.${n}.${k.name}`;
      out.push([key, k.name === 'nodeid' || k.name === 'quorum_votes' ? typed(k.value, 'uint32') : str(k.value)]);
    }
    n += 1;
  }
}

function logging(out: Entry[], section: ConfSection): void {
  for (const child of section.children) {
    if (child.kind === 'key') {
      out.push([`logging.${child.name}`, str(child.value)]);
      continue;
    }
    if (child.name === 'logger_subsys') {
      const keys = keysOf(child);
      const subsys = keys.filter((k) => k.name === 'subsys').at(-1)?.value;
      if (subsys === undefined) continue; // corosync: "No subsys key in logger_subsys directive"
      for (const k of keys) if (k.name !== 'subsys') out.push([`logging.logger_subsys.${subsys}.${k.name}`, str(k.value)]);
      out.push([`logging.logger_subsys.${subsys}.subsys`, str(subsys)]);
      continue;
    }
    if (child.name === 'logging_daemon') {
      loggingDaemon(out, child);
      continue;
    }
    plain(out, `logging.${child.name}`, child);
  }
}

/** logging { logging_daemon { name: N [subsys: S] ... } }, as coroparse files it. */
function loggingDaemon(out: Entry[], section: ConfSection): void {
  const keys = keysOf(section);
  const name = keys.filter((k) => k.name === 'name').at(-1)?.value;
  const subsys = keys.filter((k) => k.name === 'subsys').at(-1)?.value;
  if (name === undefined) return; // corosync: "No name key in logging_daemon directive"
  const corosync = name === 'corosync';
  const base = subsys === undefined
    ? (corosync ? 'logging' : `logging.logging_daemon.${name}`)
    : (corosync ? `logging.logger_subsys.${subsys}` : `logging.logging_daemon.${name}.${subsys}`);
  for (const k of keys) if (k.name !== 'name' && k.name !== 'subsys') out.push([`${base}.${k.name}`, str(k.value)]);
  if (subsys === undefined) {
    if (!corosync) out.push([`${base}.name`, str(name)]);
  } else {
    out.push([`${base}.subsys`, str(subsys)]);
    if (!corosync) out.push([`${base}.name`, str(name)]);
  }
}

function uidgid(out: Entry[], section: ConfSection): void {
  for (const child of section.children) {
    if (child.kind === 'section') plain(out, `uidgid.${child.name}`, child);
    else if (child.name === 'uid' || child.name === 'gid') out.push([`uidgid.config.${child.name}.${child.value}`, { type: 'uint8', value: 1 }]);
    else out.push([`uidgid.${child.name}`, str(child.value)]);
  }
}

function resources(out: Entry[], path: string, section: ConfSection): void {
  for (const child of section.children) {
    if (child.kind === 'section') {
      resources(out, `${path}.${child.name}`, child);
      continue;
    }
    const key = `${path}.${child.name}`;
    if (path === 'resources' && child.name === 'watchdog_timeout') out.push([key, typed(child.value, 'uint32')]);
    else if (path !== 'resources' && child.name === 'poll_period') out.push([key, typedU64(child.value)]);
    else out.push([key, str(child.value)]);
  }
}

/**
 * The configuration file's keys as corosync's icmap holds them after coroparse, in file
 * order (a later duplicate replaces an earlier one when they are set in this order).
 */
export function cmapConfigEntries(document: ConfDocument): Entry[] {
  const out: Entry[] = [];
  for (const node of document.children) {
    if (node.kind === 'key') {
      out.push([node.name, str(node.value)]);
      continue;
    }
    switch (node.name) {
      case 'carillon':
        break;
      case 'totem':
        totem(out, node);
        break;
      case 'quorum':
        quorum(out, node);
        break;
      case 'nodelist':
        nodelist(out, node);
        break;
      case 'logging':
        logging(out, node);
        break;
      case 'uidgid':
        uidgid(out, node);
        break;
      case 'pload':
        plain(out, 'pload', node, (key, value) => (key === 'count' || key === 'size' ? typed(value, 'uint32') : str(value)));
        break;
      case 'resources':
        resources(out, 'resources', node);
        break;
      default:
        plain(out, node.name, node);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// cmap: what corosync derives at start

/** knet defaults totemconfig.c stores even for udp/udpu (KNET_PMTUD_INTERVAL, KNET_MTU). */
const KNET_PMTUD_INTERVAL = 30;

/** runtime.config.totem.* as totem_volatile_config_read() stores them (effective values). */
export function runtimeConfigTotemEntries(ms: Readonly<TotemConfigMs>, totem: { readonly tokenWarningPercent: number; readonly blockUnlistedIps: boolean }): Entry[] {
  const u32 = (name: string, value: number): Entry => [`runtime.config.totem.${name}`, { type: 'uint32', value: value >>> 0 }];
  return [
    u32('token_retransmits_before_loss_const', ms.tokenRetransmitsBeforeLossConst),
    u32('token', ms.token),
    u32('token_warning', totem.tokenWarningPercent),
    u32('max_network_delay', ms.maxNetworkDelay),
    u32('window_size', ms.windowSize),
    u32('max_messages', ms.maxMessages),
    u32('miss_count_const', ms.missCountConst),
    u32('knet_pmtud_interval', KNET_PMTUD_INTERVAL),
    u32('knet_mtu', 0),
    u32('token_retransmit', ms.tokenRetransmit),
    u32('hold', ms.hold),
    u32('join', ms.join),
    u32('consensus', ms.consensus),
    u32('merge', ms.merge),
    u32('downcheck', ms.downcheck),
    u32('fail_recv_const', ms.failRecvConst),
    u32('seqno_unchanged_const', ms.seqnoUnchangedConst),
    u32('send_join', ms.sendJoin),
    u32('heartbeat_failures_allowed', ms.heartbeatFailuresAllowed),
    u32('knet_compression_threshold', 0),
    ['runtime.config.totem.knet_compression_level', { type: 'int32', value: 0 }],
    ['runtime.config.totem.knet_compression_model', { type: 'string', value: 'none' }],
    u32('block_unlisted_ips', totem.blockUnlistedIps ? 1 : 0),
    u32('cancel_token_hold_on_retransmit', ms.cancelTokenHoldOnRetransmit ? 1 : 0),
  ];
}

/**
 * Keys corosync sets at start besides the file's: runtime.config.totem.*,
 * nodelist.local_node_pos (the local node's index in the nodelist) and, when the file
 * names the cluster, totem.cluster_name (so it is present even without a file document).
 */
export function cmapDerivedEntries(config: CarillonConfig, localNodeId: number): Entry[] {
  const out = runtimeConfigTotemEntries(config.totemMs, config.totem);
  const pos = config.nodelist.findIndex((n) => n.nodeid === localNodeId);
  if (pos >= 0) out.push(['nodelist.local_node_pos', { type: 'uint32', value: pos }]);
  if (config.totem.clusterName !== null) out.push(['totem.cluster_name', { type: 'string', value: config.totem.clusterName }]);
  return out;
}

/** runtime.members.N.ip: totempg_ifaces_print's text for a node with one link (note the trailing blank). */
export function memberAddressText(node: Pick<ClusterNode, 'ring0Addr'>): string {
  return `r(0) ip(${node.ring0Addr.text}) `;
}

// ---------------------------------------------------------------------------------------
// stats.srp.* (exec/stats.c)

export interface SrpStatsExtra {
  /** Milliseconds since the last token arrived (0 before the first). */
  readonly timeSinceTokenLastReceivedMs: number;
  /** Mean time between received tokens over the recent ones, ms. */
  readonly mttRxTokenMs: number;
}

/** TotemStats under corosync's stats.srp.* names, in stats.c's order; unmeasured ones are 0. */
export function srpStats(s: Readonly<TotemStats>, extra: SrpStatsExtra): Record<string, number> {
  return {
    orf_token_tx: s.orfTokenTx,
    orf_token_rx: s.orfTokenRx,
    memb_merge_detect_tx: s.membMergeDetectTx,
    memb_merge_detect_rx: s.membMergeDetectRx,
    memb_join_tx: s.membJoinTx,
    memb_join_rx: s.membJoinRx,
    mcast_tx: s.mcastTx,
    mcast_retx: s.mcastRetx,
    mcast_rx: s.mcastRx,
    memb_commit_token_tx: s.membCommitTokenTx,
    memb_commit_token_rx: s.membCommitTokenRx,
    token_hold_cancel_tx: s.tokenHoldCancelTx,
    token_hold_cancel_rx: s.tokenHoldCancelRx,
    operational_entered: s.operationalEntered,
    operational_token_lost: s.operationalTokenLost,
    gather_entered: s.gatherEntered,
    gather_token_lost: s.gatherTokenLost,
    commit_entered: s.commitEntered,
    commit_token_lost: s.commitTokenLost,
    recovery_entered: s.recoveryEntered,
    recovery_token_lost: s.recoveryTokenLost,
    consensus_timeouts: s.consensusTimeouts,
    rx_msg_dropped: s.rxMsgDropped,
    time_since_token_last_received: Math.max(0, Math.round(extra.timeSinceTokenLastReceivedMs)),
    continuous_gather: s.continuousGatherCount,
    continuous_sendmsg_failures: 0,
    firewall_enabled_or_nic_failure: 0,
    mtt_rx_token: Math.max(0, Math.round(extra.mttRxTokenMs)),
    avg_token_workload: 0,
    avg_backlog_calc: 0,
  };
}
