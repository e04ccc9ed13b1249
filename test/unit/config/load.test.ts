// Goal: loadCarillonConfig (src/config/load.ts) gives every shared fixture the outcome
// fixtures/configs/README.md expects — exact line:col for every error of the broken
// files, warnings (never failures) for keys corosync 3 dropped, two_node implying
// wait_for_all, timers derived as corosync 3.1.7 derives them — and applies corosync's
// value, relation, nodelist, transport, quorum and logging rules to small inline
// configurations; the result is deeply frozen; checkRunnable refuses a file without
// nodelist.
// Method: load the fixture files and inline texts; compare diagnostics by
// `line:col severity code` and config fields by value.

import { describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic } from '../../../src/config/diagnostics';
import { type CarillonConfig, checkRunnable, deriveMcastAddr, generateNodeId, loadCarillonConfig } from '../../../src/config/load';

const fixtures = path.resolve(__dirname, '../../../../shared/fixtures/configs');

function loadFixture(name: string): ReturnType<typeof loadCarillonConfig> {
  return loadCarillonConfig(fs.readFileSync(path.join(fixtures, name), 'utf8'), name);
}

const brief = (d: Diagnostic): string => `${d.line}:${d.col} ${d.severity} ${d.code}`;
const errors = (ds: readonly Diagnostic[]): Diagnostic[] => ds.filter((d) => d.severity === 'error');
const warnings = (ds: readonly Diagnostic[]): Diagnostic[] => ds.filter((d) => d.severity === 'warning');

function valid(config: CarillonConfig | null): CarillonConfig {
  if (config === null) throw new Error('expected a valid configuration');
  return config;
}

const NODES2 = 'nodelist {\n\tnode {\n\t\tring0_addr: 10.0.0.1\n\t\tnodeid: 1\n\t}\n\tnode {\n\t\tring0_addr: 10.0.0.2\n\t\tnodeid: 2\n\t}\n}\n';
const NODES3 = NODES2.replace(/\}\n$/, '\tnode {\n\t\tring0_addr: 10.0.0.3\n\t\tnodeid: 3\n\t}\n}\n');

/** A minimal valid udpu config with `totemExtra` lines in totem and `rest` appended. */
function conf(totemExtra = '', rest: string = NODES2): string {
  return `totem {\n\tversion: 2\n\ttransport: udpu\n${totemExtra}}\n${rest}`;
}

function load(text: string, options: { localNodeId?: number } = {}): ReturnType<typeof loadCarillonConfig> {
  return loadCarillonConfig(text, 't.conf', options);
}

/** Diagnostics whose message contains `needle`. */
function about(ds: readonly Diagnostic[], needle: string): Diagnostic[] {
  return ds.filter((d) => d.message.includes(needle));
}

describe('shared fixtures (fixtures/configs/README.md)', () => {
  it('broken-bad-values.conf: every error with its line:col', () => {
    const { config, diagnostics } = loadFixture('broken-bad-values.conf');
    expect(config).toBeNull();
    const byLine = diagnostics.map((d) => `${brief(d)} ${d.message}`);
    expect(diagnostics.map(brief)).toEqual([
      '5:9 error CONFIG_VALUE', // token: fast, at its value
      '6:8 error CONFIG_RELATION', // join 5000 >= consensus 100
      '7:13 error CONFIG_RELATION', // consensus 100 < token (3650 for 3 nodes)
      '8:16 error CONFIG_VALUE', // max_messages 0
      '16:15 error CONFIG_VALUE', // 999.0.0.1
      '17:11 error CONFIG_RELATION', // duplicate nodeid 1
      '20:15 error CONFIG_RELATION', // ::1 among IPv4
      '21:11 error CONFIG_VALUE', // nodeid 0
    ]);
    expect(byLine[0]).toContain('"fast"');
    expect(byLine[1]).toMatch(/join \(5000 ms\) must be less than consensus \(100 ms\)/);
    expect(byLine[2]).toMatch(/consensus \(100 ms\) is less than token \(3650 ms/);
    expect(byLine[3]).toContain('max_messages');
    expect(byLine[4]).toContain('999');
    expect(byLine[5]).toMatch(/duplicate nodeid 1.*line 11/);
    expect(byLine[6]).toMatch(/mixed IPv4 and IPv6/);
    expect(byLine[7]).toContain('nodeid 0 is reserved');
  });

  it('broken-unclosed-brace.conf: a config error naming the line of `interface {`', () => {
    const { config, diagnostics } = loadFixture('broken-unclosed-brace.conf');
    expect(config).toBeNull();
    expect(errors(diagnostics).map(brief)).toEqual(['4:2 error CONFIG_SYNTAX']);
    expect(errors(diagnostics)[0]?.message).toContain('interface');
  });

  it('legacy-multicast-two-node.conf: parses, warns about every dropped key, transport udp', () => {
    const { config, diagnostics } = loadFixture('legacy-multicast-two-node.conf');
    const c = valid(config);
    expect(errors(diagnostics)).toEqual([]);
    expect(c.totem.transport).toBe('udp');
    expect(c.totem.transportSource).toBe('inferred');
    expect(c.totem.interface).toMatchObject({ mcastaddr: '239.255.42.1', mcastaddrSource: 'explicit', mcastport: 5405 });
    for (const [key, line] of [['vsftype', 10], ['threads', 12], ['nodeid', 13], ['rrp_mode', 14], ['ringnumber', 16], ['bindnetaddr', 17]] as const) {
      const hits = warnings(diagnostics).filter((d) => d.message.includes(`.${key} is obsolete and ignored`));
      expect([key, hits.map((d) => d.line)]).toEqual([key, [line]]);
    }
    // No nodelist: token stays as written (no coefficient), and the daemon refuses to start.
    expect(c.totemMs).toMatchObject({ token: 200, tokenRetransmit: 62, hold: 39, consensus: 400, join: 40, maxMessages: 20 });
    expect(c.nodelist).toEqual([]);
    expect(c.totem.legacyNodeId).toBe(2);
    const refusal = checkRunnable(c);
    expect(refusal.map(brief)).toEqual(['4:1 error CONFIG_NOT_RUNNABLE']);
    expect(refusal[0]?.hint).toContain('totem.nodeid 2');
  });

  it('udpu-pbx-pair.conf: parses with warnings for amf, aisexec, vsftype, threads, rrp_mode, ringnumber', () => {
    const { config, diagnostics } = loadFixture('udpu-pbx-pair.conf');
    const c = valid(config);
    const obsolete = warnings(diagnostics).filter((d) => d.code === 'CONFIG_OBSOLETE_KEY');
    for (const [name, line] of [['amf', 38], ['aisexec', 47], ['vsftype', 11], ['threads', 15], ['rrp_mode', 16], ['ringnumber', 18]] as const) {
      expect([name, obsolete.filter((d) => d.message.includes(name)).map((d) => d.line)]).toEqual([name, [line]]);
    }
    expect(c.totem.clusterName).toBe('pbx-pair');
    expect(c.totem.clearNodeHighBit).toBe(true);
    expect(c.nodelist.map((n) => [n.nodeid, n.ring0Addr.text])).toEqual([
      [1, '127.0.0.21'],
      [2, '127.0.0.22'],
    ]);
    expect(c.totemMs).toMatchObject({ token: 2500, tokenRetransmit: 304, hold: 233, consensus: 3000, join: 60 });
    expect(c.logging).toMatchObject({ toStderr: true, toSyslog: true, toLogfile: false, fileline: false, debug: 'off', timestamp: 'on' });
    expect(c.logging.subsystems).toMatchObject([{ subsys: 'AMF', debug: 'off' }]);
    expect(c.quorum).toMatchObject({ expectedVotes: 1, expectedVotesConfigured: 1, twoNode: false });
    expect(about(diagnostics, 'expected_votes (1) overrides')).toHaveLength(1);
    expect(checkRunnable(c)).toEqual([]);
  });

  it('modern-three-node.conf: parses cleanly (compatibility: whitetank accepted); token 1000 → 1650 with 3 nodes', () => {
    const { config, diagnostics } = loadFixture('modern-three-node.conf');
    expect(diagnostics).toEqual([]);
    const c = valid(config);
    expect(c.totemMs).toMatchObject({ token: 1650, tokenRetransmit: 392, hold: 303, consensus: 1980 });
    expect(c.totem.explicit).toEqual({ token: 1000 });
    expect(c.nodelist.map((n) => [n.nodeid, n.name])).toEqual([
      [1, 'pbx-a'],
      [2, 'pbx-b'],
      [3, 'pbx-c'],
    ]);
    expect(c.quorum).toMatchObject({ waitForAll: true, waitForAllSource: 'explicit', expectedVotes: 3 });
    expect(c.logging).toMatchObject({ toLogfile: true, logfile: '/var/log/carillon/carillond.log', toSyslog: false, timestamp: 'on' });
    expect(c.totem.crypto.enabled).toBe(false);
    expect(c.sources['totem.token']).toEqual({ line: 8, col: 9 });
    expect(c.sources['nodelist.node.2.ring0_addr']).toEqual({ line: 28, col: 15 });
  });

  it('two-node-quorum.conf: two_node implies wait_for_all', () => {
    const { config, diagnostics } = loadFixture('two-node-quorum.conf');
    expect(diagnostics).toEqual([]);
    const c = valid(config);
    expect(c.quorum).toMatchObject({ twoNode: true, waitForAll: true, waitForAllSource: 'two_node', expectedVotes: 2 });
    expect(c.totemMs).toMatchObject({ token: 3000, tokenRetransmit: 714, hold: 561, consensus: 3600 });
  });

  it('returns a deeply frozen configuration', () => {
    const c = valid(loadFixture('modern-three-node.conf').config);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.totem.interface)).toBe(true);
    expect(Object.isFrozen(c.nodelist[0]?.ring0Addr)).toBe(true);
    expect(Object.isFrozen(c.totemMs)).toBe(true);
    expect(Object.isFrozen(c.sources)).toBe(true);
  });
});

describe('totem values', () => {
  it('rejects transport knet with the promised message and a hint', () => {
    const { diagnostics } = load(conf().replace('transport: udpu', 'transport: knet'));
    expect(errors(diagnostics)).toHaveLength(1);
    expect(errors(diagnostics)[0]).toMatchObject({ line: 3, col: 13, message: 'transport knet is not supported by Carillon: use udpu or udp', code: 'CONFIG_UNSUPPORTED' });
    expect(errors(diagnostics)[0]?.hint).toContain('udpu');
  });

  it('uses udpu without a transport key and warns that corosync 3 would use knet', () => {
    const { config, diagnostics } = load('totem {\n\tversion: 2\n}\n' + NODES2);
    expect(valid(config).totem.transport).toBe('udpu');
    expect(diagnostics.map(brief)).toEqual(['1:1 warning CONFIG_COMPAT']);
  });

  it('requires totem.version 2', () => {
    expect(errors(load(conf().replace('\tversion: 2\n', '')).diagnostics).map(brief)).toEqual(['1:1 error CONFIG_MISSING']);
    expect(errors(load(conf().replace('version: 2', 'version: 1')).diagnostics).map(brief)).toEqual(['2:11 error CONFIG_VALUE']);
    expect(errors(load(NODES2).diagnostics).map((d) => d.message)).toEqual(['no totem { } section']);
  });

  it('checks integer syntax and ranges like coroparse, with a hint for trailing comments', () => {
    const { diagnostics } = load(conf('\ttoken: 3000 # ms\n\tjoin: -5\n\tmerge: 99999999999\n\tnetmtu: 100\n'));
    expect(errors(diagnostics).map(brief)).toEqual(['4:9 error CONFIG_VALUE', '5:8 error CONFIG_VALUE', '6:9 error CONFIG_VALUE', '7:10 error CONFIG_VALUE']);
    expect(errors(diagnostics)[0]?.hint).toContain('no trailing comments');
  });

  it('rejects 0 where corosync would silently substitute its default', () => {
    const { diagnostics } = load(conf('\twindow_size: 0\n\tsend_join: 0\n'));
    expect(errors(diagnostics).map(brief)).toEqual(['4:15 error CONFIG_VALUE']);
    expect(errors(diagnostics)[0]?.hint).toContain('default (50)');
  });

  it('reads totem booleans as corosync does: yes/no only, anything else is an error', () => {
    expect(valid(load(conf('\tclear_node_high_bit: yes\n\tblock_unlisted_ips: no\n')).config).totem).toMatchObject({ clearNodeHighBit: true, blockUnlistedIps: false });
    const { diagnostics } = load(conf('\tclear_node_high_bit: on\n'));
    expect(errors(diagnostics).map(brief)).toEqual(['4:23 error CONFIG_VALUE']);
    expect(errors(diagnostics)[0]?.message).toContain("'yes', 'no'");
  });

  it('warns about duplicate keys and keeps the last value, as cmap does', () => {
    const { config, diagnostics } = load(conf('\ttoken: 1000\n\ttoken: 2000\n'));
    expect(valid(config).totemMs.token).toBe(2000);
    expect(diagnostics.map(brief)).toEqual(['4:2 warning CONFIG_DUPLICATE_KEY']);
  });

  it('warns about unknown keys with a suggestion and about knet-only keys', () => {
    const { config, diagnostics } = load(conf('\ttokn: 1000\n\tknet_mtu: 1400\n\tlink_mode: passive\n'));
    expect(config).not.toBeNull();
    expect(diagnostics.map(brief)).toEqual(['4:2 warning CONFIG_UNKNOWN_KEY', '5:2 warning CONFIG_IGNORED_KEY', '6:2 warning CONFIG_IGNORED_KEY']);
    expect(diagnostics[0]?.hint).toBe("did you mean 'token'?");
  });

  it('rejects dotted names, which corosync would honour and Carillon would ignore', () => {
    expect(errors(load(`${conf()}totem.token: 5000\n`).diagnostics).map(brief)).toEqual(['15:1 error CONFIG_UNSUPPORTED']);
  });

  it('accepts crypto aes256+sha256 or secauth: on (AES-256-GCM) with a compatibility warning', () => {
    for (const extra of ['\tsecauth: on\n', '\tcrypto_cipher: aes256\n\tcrypto_hash: sha256\n']) {
      const { config, diagnostics } = load(conf(`${extra}\tkeyfile: /etc/carillon/pbx.key\n`));
      expect(valid(config).totem.crypto).toEqual({ enabled: true, cipher: 'aes256', hash: 'sha256', keyfile: '/etc/carillon/pbx.key' });
      expect(diagnostics.map((d) => d.code)).toEqual(['CONFIG_COMPAT']);
    }
    expect(valid(load(conf('\tsecauth: off\n')).config).totem.crypto).toMatchObject({ enabled: false, keyfile: '/etc/carillon/authkey' });
  });

  it('rejects other ciphers, a cipher without hash, and secauth values other than on/off', () => {
    expect(errors(load(conf('\tcrypto_cipher: aes128\n\tcrypto_hash: sha256\n')).diagnostics).map((d) => d.code)).toEqual(['CONFIG_UNSUPPORTED']);
    expect(errors(load(conf('\tcrypto_cipher: aes256\n')).diagnostics)[0]?.message).toBe('crypto_cipher requires crypto_hash with value other than none');
    expect(errors(load(conf('\tcrypto_cipher: blowfish\n')).diagnostics).map(brief)).toEqual(['4:17 error CONFIG_VALUE']);
    expect(errors(load(conf('\tsecauth: yes\n')).diagnostics).map(brief)).toEqual(['4:11 error CONFIG_VALUE']);
  });
});

describe('timer derivation and relations (corosync-wire.md §3.13)', () => {
  it('adds token_coefficient per node beyond two, even to an explicit token', () => {
    const c = valid(load(conf('\ttoken: 1000\n\ttoken_coefficient: 100\n', NODES3)).config);
    expect(c.totemMs).toMatchObject({ token: 1100, consensus: 1320 });
  });

  it('rejects join equal to consensus', () => {
    expect(errors(load(conf('\tjoin: 600\n\tconsensus: 600\n\ttoken: 500\n')).diagnostics).map(brief)).toEqual(['4:8 error CONFIG_RELATION']);
  });

  it('consensus below token: error with three nodes, warning with two; below 1.2 × token: warning', () => {
    expect(load(conf('\ttoken: 1000\n\tconsensus: 900\n', NODES3)).diagnostics.map(brief)).toEqual(['5:13 error CONFIG_RELATION']);
    expect(load(conf('\ttoken: 1000\n\tconsensus: 900\n')).diagnostics.map(brief)).toEqual(['5:13 warning CONFIG_RELATION']);
    const soft = load(conf('\ttoken: 1000\n\tconsensus: 1100\n')).diagnostics;
    expect(soft.map(brief)).toEqual(['5:13 warning CONFIG_RELATION']);
    expect(soft[0]?.message).toContain('1.2 × token (1200 ms)');
  });

  it('rejects token_retransmit ≥ token, max_messages > window_size and timers below 30 ms', () => {
    expect(errors(load(conf('\ttoken: 1000\n\ttoken_retransmit: 1000\n')).diagnostics).map(brief)).toEqual(['5:20 error CONFIG_RELATION']);
    expect(errors(load(conf('\twindow_size: 10\n\tmax_messages: 11\n')).diagnostics).map(brief)).toEqual(['5:16 error CONFIG_RELATION']);
    expect(errors(load(conf('\ttoken: 20\n\tconsensus: 100\n')).diagnostics).map(brief)).toEqual(['4:9 error CONFIG_VALUE']);
    expect(errors(load(conf('\tmerge: 10\n')).diagnostics)[0]?.message).toBe('merge (10 ms) may not be less than 30 ms');
  });

  it('explains a derived token_retransmit below the minimum at the token value', () => {
    const { diagnostics } = load(conf('\ttoken: 100\n\ttoken_retransmits_before_loss_const: 10\n'));
    expect(errors(diagnostics).map(brief)).toEqual(['4:9 error CONFIG_RELATION']);
    expect(errors(diagnostics)[0]?.message).toContain('derived token_retransmit');
  });
});

describe('nodelist', () => {
  it('generates nodeids from IPv4 ring0_addr as corosync does, honouring clear_node_high_bit', () => {
    expect(generateNodeId([192, 168, 1, 10], false)).toBe(0xc0a8010a);
    expect(generateNodeId([192, 168, 1, 10], true)).toBe(0x40a8010a);
    const nodes = 'nodelist {\n\tnode {\n\t\tring0_addr: 192.168.1.10\n\t}\n\tnode {\n\t\tring0_addr: 192.168.1.11\n\t}\n}\n';
    const c = valid(load(conf('\tclear_node_high_bit: yes\n', nodes)).config);
    expect(c.nodelist.map((n) => [n.nodeid, n.nodeidGenerated])).toEqual([
      [0x40a8010a, true],
      [0x40a8010b, true],
    ]);
  });

  it('reports generated nodeids that clash with explicit ones', () => {
    const nodes = 'nodelist {\n\tnode {\n\t\tring0_addr: 0.0.0.7\n\t}\n\tnode {\n\t\tring0_addr: 10.0.0.2\n\t\tnodeid: 7\n\t}\n}\n';
    expect(errors(load(conf('', nodes)).diagnostics).map(brief)).toEqual(['11:11 error CONFIG_RELATION']);
  });

  it('requires explicit nodeids for IPv6 and host names; accepts them with one', () => {
    const v6 = 'nodelist {\n\tnode {\n\t\tring0_addr: fd00::1\n\t}\n\tnode {\n\t\tring0_addr: fd00::2\n\t\tnodeid: 2\n\t}\n}\n';
    const d6 = errors(load(conf('', v6)).diagnostics);
    expect(d6.map(brief)).toEqual(['7:15 error CONFIG_MISSING']);
    expect(d6[0]?.message).toContain('IPv6');
    const host = 'nodelist {\n\tnode {\n\t\tring0_addr: pbx-a.example\n\t\tnodeid: 1\n\t}\n\tnode {\n\t\tring0_addr: pbx-b\n\t}\n}\n';
    expect(errors(load(conf('', host)).diagnostics).map(brief)).toEqual(['11:15 error CONFIG_MISSING']);
    const fine = valid(load(conf('', host.replace('ring0_addr: pbx-b\n', 'ring0_addr: pbx-b\n\t\tnodeid: 2\n'))).config);
    expect(fine.nodelist.map((n) => n.ring0Addr)).toEqual([
      { family: 'hostname', text: 'pbx-a.example' },
      { family: 'hostname', text: 'pbx-b' },
    ]);
  });

  it('checks addresses strictly and finds duplicates by value (IPv6 spelled two ways)', () => {
    const bad = (addr: string): string[] => errors(load(conf('', NODES2.replace('10.0.0.2', addr))).diagnostics).map((d) => d.message);
    expect(bad('10.0.0')[0]).toContain('four dot-separated numbers');
    expect(bad('010.0.0.2')[0]).toContain('octal');
    expect(bad('10.0.0.1')[0]).toContain('duplicate ring0_addr');
    expect(bad('not an address')[0]).toContain('neither an IP address nor a host name');
    const v6 = 'nodelist {\n\tnode {\n\t\tring0_addr: fd00:0::1\n\t\tnodeid: 1\n\t}\n\tnode {\n\t\tring0_addr: fd00::0:1\n\t\tnodeid: 2\n\t}\n}\n';
    expect(errors(load(conf('', v6)).diagnostics)[0]?.message).toContain('duplicate ring0_addr');
  });

  it('rejects a node without ring0_addr, extra links, and an ip_version that contradicts the addresses', () => {
    expect(errors(load(conf('', NODES2.replace('\t\tring0_addr: 10.0.0.2\n', ''))).diagnostics).map(brief)).toEqual(['10:2 error CONFIG_MISSING']);
    expect(errors(load(conf('', NODES2.replace('nodeid: 2', 'nodeid: 2\n\t\tring1_addr: 10.1.0.2'))).diagnostics).map(brief)).toEqual(['13:3 error CONFIG_UNSUPPORTED']);
    expect(errors(load(conf('\tip_version: ipv6\n')).diagnostics).map((d) => d.code)).toEqual(['CONFIG_RELATION', 'CONFIG_RELATION']);
  });

  it('checks the local nodeid from carillon { } and from the options against the nodelist', () => {
    expect(valid(load(`${conf()}carillon {\n\tlocal_nodeid: 2\n}\n`).config).localNodeId).toBe(2);
    expect(valid(load(conf(), { localNodeId: 1 }).config).localNodeId).toBe(1);
    expect(errors(load(`${conf()}carillon {\n\tlocal_nodeid: 9\n}\n`).diagnostics).map(brief)).toEqual(['16:16 error CONFIG_RELATION']);
    expect(errors(load(conf(), { localNodeId: 9 }).diagnostics)[0]?.message).toContain('command line');
  });
});

describe('interface and udp', () => {
  it('derives the udp group from cluster_name exactly as corosync (signed chars, % 255)', () => {
    expect(deriveMcastAddr('a', 0, 'ipv4')).toBe('239.192.0.97');
    expect(deriveMcastAddr('pbx', 0, 'ipv4')).toBe('239.192.2.254');
    expect(deriveMcastAddr('pbx', 0, 'ipv6')).toBe('ff15::2fc');
    expect(deriveMcastAddr('é', 0, 'ipv4')).toBe('239.192.255.47');
    const c = valid(load(conf('\tcluster_name: pbx\n').replace('udpu', 'udp')).config);
    expect(c.totem.interface).toMatchObject({ mcastaddr: '239.192.2.254', mcastaddrSource: 'cluster_name', mcastport: 5405 });
  });

  it('requires a group for udp and a multicast one of the nodes family', () => {
    expect(errors(load(conf().replace('udpu', 'udp')).diagnostics).map(brief)).toEqual(['1:1 error CONFIG_MISSING']);
    const iface = (addr: string): string => conf(`\tinterface {\n\t\tmcastaddr: ${addr}\n\t}\n`).replace('udpu', 'udp');
    expect(errors(load(iface('10.1.1.1')).diagnostics).map(brief)).toEqual(['5:14 error CONFIG_VALUE']);
    expect(errors(load(iface('ff15::1')).diagnostics).map(brief)).toEqual(['5:14 error CONFIG_RELATION']);
    expect(valid(load(iface('239.1.2.3')).config).totem.interface.mcastaddr).toBe('239.1.2.3');
  });

  it('allows only link 0 and ttl 1 on udpu, warns about udp-only keys there', () => {
    expect(errors(load(conf('\tinterface {\n\t\tlinknumber: 1\n\t}\n')).diagnostics).map(brief)).toEqual(['5:15 error CONFIG_UNSUPPORTED']);
    expect(errors(load(conf('\tinterface {\n\t\tttl: 4\n\t}\n')).diagnostics).map(brief)).toEqual(['5:8 error CONFIG_UNSUPPORTED']);
    const c = load(conf('\tinterface {\n\t\tmcastport: 6000\n\t\tmcastaddr: 239.1.1.1\n\t}\n'));
    expect(valid(c.config).totem.interface).toMatchObject({ mcastport: 6000, mcastaddr: null });
    expect(c.diagnostics.map(brief)).toEqual(['6:3 warning CONFIG_IGNORED_KEY']);
  });
});

describe('quorum, logging and carillon sections', () => {
  it('takes votequorum switches as integers (corosync rejects yes/no there)', () => {
    const q = (body: string): ReturnType<typeof loadCarillonConfig> => load(`${conf()}quorum {\n\tprovider: corosync_votequorum\n${body}}\n`);
    expect(errors(q('\ttwo_node: yes\n').diagnostics).map(brief)).toEqual(['17:12 error CONFIG_VALUE']);
    expect(valid(q('\ttwo_node: 1\n\twait_for_all: 0\n').config).quorum).toMatchObject({ twoNode: true, waitForAll: false, waitForAllSource: 'explicit' });
    expect(errors(q('\tprovider: corosync_quorum_ykd\n').diagnostics).map((d) => d.code)).toEqual(['CONFIG_VALUE']);
  });

  it('applies votequorum interplay: two_node + auto_tie_breaker, odd ATB without wait_for_all', () => {
    const q = (body: string, nodes = NODES2): ReturnType<typeof loadCarillonConfig> => load(`${conf('', nodes)}quorum {\n\tprovider: corosync_votequorum\n${body}}\n`);
    const both = q('\ttwo_node: 1\n\tauto_tie_breaker: 1\n');
    expect(valid(both.config).quorum).toMatchObject({ twoNode: false, autoTieBreaker: true, waitForAll: true });
    expect(warnings(both.diagnostics)).toHaveLength(1);
    const odd = q('\tauto_tie_breaker: 1\n', NODES3);
    expect(valid(odd.config).quorum?.autoTieBreaker).toBe(false);
    expect(errors(q('\tauto_tie_breaker: 1\n\tlast_man_standing: 1\n', NODES3).diagnostics)).toHaveLength(1);
    expect(valid(q('\tauto_tie_breaker: 1\n\tauto_tie_breaker_node: 2 1\n').config).quorum?.autoTieBreakerNode).toEqual([2, 1]);
  });

  it('rejects quorum devices and ignores a quorum section without provider (with a warning)', () => {
    expect(errors(load(`${conf()}quorum {\n\tprovider: corosync_votequorum\n\tdevice {\n\t\tmodel: net\n\t}\n}\n`).diagnostics).map(brief)).toEqual(['17:2 error CONFIG_UNSUPPORTED']);
    const none = load(`${conf()}quorum {\n\ttwo_node: 1\n}\n`);
    expect(valid(none.config).quorum).toBeNull();
    expect(none.diagnostics.map(brief)).toEqual(['15:1 warning CONFIG_MISSING']);
  });

  it('reads logging values as logconfig.c does and honours obsolete to_file with a warning', () => {
    const text = `${conf()}logging {\n\tto_syslog: off\n\tto_file: yes\n\tlogfile: /var/log/c.log\n\tdebug: trace\n\tsyslog_facility: LOCAL3\n\tlogger_subsys {\n\t\tsubsys: TOTEM\n\t\tdebug: on\n\t}\n}\n`;
    const { config, diagnostics } = load(text);
    expect(valid(config).logging).toMatchObject({ toSyslog: false, toLogfile: true, debug: 'trace', syslogFacility: 'local3' });
    expect(valid(config).logging.subsystems).toMatchObject([{ subsys: 'TOTEM', debug: 'on', toSyslog: null }]);
    expect(diagnostics.map(brief)).toEqual(['17:2 warning CONFIG_OBSOLETE_KEY']);
    expect(errors(load(`${conf()}logging {\n\tto_logfile: yes\n}\n`).diagnostics).map(brief)).toEqual(['16:14 error CONFIG_MISSING']);
    expect(errors(load(`${conf()}logging {\n\tlogger_subsys {\n\t\tdebug: on\n\t}\n}\n`).diagnostics).map(brief)).toEqual(['16:2 error CONFIG_MISSING']);
    expect(errors(load(`${conf()}logging {\n\ttimestamp: yes\n}\n`).diagnostics).map(brief)).toEqual(['16:13 error CONFIG_VALUE']);
  });

  it('has documented carillon { } defaults and validates its values', () => {
    expect(valid(load(conf()).config).carillon).toEqual({
      stateDir: '/var/lib/carillon',
      ipcSocket: '/run/carillon/carillon.sock',
      httpListen: { host: '127.0.0.1', port: 9405 },
      localNodeId: null,
      tickMs: 1,
      resCorosyncConf: null,
    });
    const c = valid(load(`${conf()}carillon {\n\tstate_dir: /srv/c\n\thttp_listen: [::1]:9000\n\ttick_ms: 5\n\tres_corosync_conf: /etc/carillon/res_corosync.conf\n}\n`).config);
    expect(c.carillon).toMatchObject({ stateDir: '/srv/c', httpListen: { host: '::1', port: 9000 }, tickMs: 5, resCorosyncConf: '/etc/carillon/res_corosync.conf' });
    expect(errors(load(`${conf()}carillon {\n\tres_corosync_conf: res_corosync.conf\n}\n`).diagnostics)).toHaveLength(1);
    expect(valid(load(`${conf()}carillon {\n\thttp_listen: off\n}\n`).config).carillon.httpListen).toBeNull();
    // The default tick is 1 ms (timers as precise as corosync's); a coarse one is warned about.
    expect(warnings(load(`${conf()}carillon {\n\ttick_ms: 10\n}\n`).diagnostics)).toEqual([]);
    expect(warnings(load(`${conf()}carillon {\n\ttick_ms: 20\n}\n`).diagnostics).map((d) => d.message)).toEqual([
      expect.stringContaining('tick_ms 20 is coarse: Totem timeouts fire up to 20 ms late'),
    ]);
    const bad = load(`${conf()}carillon {\n\tstate_dir: var/lib\n\thttp_listen: 127.0.0.1\n\ttick_ms: 0\n}\n`);
    expect(errors(bad.diagnostics).map(brief)).toEqual(['16:13 error CONFIG_VALUE', '17:15 error CONFIG_VALUE', '18:11 error CONFIG_VALUE']);
  });

  it('warns (never fails) for obsolete and corosync-only top-level sections and unknown ones', () => {
    const text = `compatibility: none\n${conf()}service {\n\tname: pacemaker\n}\nsystem {\n\tsched_rr: yes\n\tqb_ipc_type: native\n}\nfrobnicate {\n}\n`;
    const { config, diagnostics } = load(text);
    expect(config).not.toBeNull();
    expect(diagnostics.map(brief)).toEqual(['1:1 warning CONFIG_OBSOLETE_KEY', '16:1 warning CONFIG_OBSOLETE_KEY', '21:2 warning CONFIG_IGNORED_KEY', '23:1 warning CONFIG_UNKNOWN_KEY']);
  });

  it('system { }: sched_rr (default no, unlike corosync) and priority as a nice value', () => {
    // Neither key: corosync's fallback when it cannot have real time, the highest priority.
    expect(valid(load(conf()).config).system).toEqual({ schedRr: false, nice: -20, niceIsDefault: true });
    expect(valid(load(`${conf()}system {\n\tsched_rr: no\n}\n`).config).system).toEqual({ schedRr: false, nice: null, niceIsDefault: false });
    expect(valid(load(`${conf()}system {\n\tsched_rr: yes\n}\n`).config).system).toEqual({ schedRr: true, nice: null, niceIsDefault: false });
    expect(valid(load(`${conf()}system {\n\tsched_rr: no\n\tpriority: max\n}\n`).config).system).toEqual({ schedRr: false, nice: -20, niceIsDefault: false });
    expect(valid(load(`${conf()}system {\n\tsched_rr: no\n\tpriority: min\n}\n`).config).system).toEqual({ schedRr: false, nice: 19, niceIsDefault: false });
    expect(valid(load(`${conf()}system {\n\tsched_rr: no\n\tpriority: -5\n}\n`).config).system).toEqual({ schedRr: false, nice: -5, niceIsDefault: false });
    const ignored = load(`${conf()}system {\n\tsched_rr: yes\n\tpriority: 3\n}\n`);
    expect(ignored.diagnostics.map(brief)).toEqual(['17:12 warning CONFIG_VALUE']);
    const bad = load(`${conf()}system {\n\tsched_rr: maybe\n\tpriority: 20\n}\n`);
    expect(bad.config).toBeNull();
    expect(errors(bad.diagnostics).map(brief)).toEqual(['16:12 error CONFIG_VALUE', '17:12 error CONFIG_VALUE']);
  });
});

describe('checkRunnable', () => {
  it('accepts a configuration with a nodelist', () => {
    expect(checkRunnable(valid(load(conf()).config))).toEqual([]);
  });
});
