// carillond's command line for the usual case, without commander (issue 7, resident
// memory; flags: architecture.md §2.8, §3.3). A daemon runs for months, and the
// commander code it would keep loaded is needed only for --help, --version and usage
// errors. parseDaemonArgs takes the flags of daemon-command.ts in their plain spellings
// (-f, -t, -c FILE, --config FILE|=FILE, --local-nodeid ID|=ID, each once) and returns
// null for anything else. src/bin/daemon.ts then gives argv to the commander program,
// so help, version and every usage error stay commander's.
// test/unit/cli/daemon-args.test.ts checks that both parsers agree wherever this one
// answers.

/** Where carillond reads its configuration unless -c or CARILLON_CONFIG says otherwise. */
export const DAEMON_DEFAULT_CONFIG = '/etc/carillon/corosync.conf';

export interface DaemonFlags {
  config: string;
  foreground?: boolean;
  test?: boolean;
  localNodeid?: string;
}

type Key = keyof DaemonFlags;

const SWITCHES: Readonly<Record<string, Key>> = { '-f': 'foreground', '--foreground': 'foreground', '-t': 'test', '--test': 'test' };
const VALUED: Readonly<Record<string, Key>> = { '-c': 'config', '--config': 'config', '--local-nodeid': 'localNodeid' };

/**
 * The flags in `args` (argv without node and the script), or null when `args` holds
 * anything but the plain spellings above, a flag twice, or a value that starts with '-'.
 */
export function parseDaemonArgs(args: readonly string[], defaultConfig: string): DaemonFlags | null {
  const seen = new Set<Key>();
  const flags: DaemonFlags = { config: defaultConfig };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const switchKey = SWITCHES[name];
    const valuedKey = VALUED[name];
    if (switchKey !== undefined && eq === -1) {
      if (seen.has(switchKey)) return null;
      seen.add(switchKey);
      if (switchKey === 'foreground') flags.foreground = true;
      else flags.test = true;
    } else if (valuedKey !== undefined) {
      const value = eq === -1 ? args[(i += 1)] : arg.slice(eq + 1);
      if (value === undefined || value === '' || value.startsWith('-') || seen.has(valuedKey)) return null;
      seen.add(valuedKey);
      if (valuedKey === 'config') flags.config = value;
      else flags.localNodeid = value;
    } else {
      return null;
    }
  }
  return flags;
}
