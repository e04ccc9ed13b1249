// The command line of carillond (architecture.md §2.8, §3.3): flags follow corosync's
// (-c FILE, -f, -t, -v) so that operators' muscle memory and unit files carry over.
// bin/daemon.ts parses argv with it; cli/man.ts renders carillond(8) from the same
// definition, so the manual cannot drift from the flags.

import { Command } from 'commander';
import { DAEMON_DEFAULT_CONFIG } from './daemon-args';

// The defaults and the flags' shape live in daemon-args.ts, which the daemon loads
// without commander.
export { DAEMON_DEFAULT_CONFIG, type DaemonFlags } from './daemon-args';

export interface DaemonCommandOptions {
  /** The default of -c: CARILLON_CONFIG when set, else DAEMON_DEFAULT_CONFIG. */
  readonly defaultConfig: string;
  readonly version: string;
}

/** Builds carillond's commander program (exitOverride: the caller maps errors to status 2). */
export function buildDaemonCommand(options: DaemonCommandOptions): Command {
  return new Command('carillond')
    .description('Carillon cluster daemon: Totem/CPG byte-compatible with corosync 3.1.7 (udpu/udp)')
    .option('-c, --config <file>', 'configuration file (corosync.conf syntax)', options.defaultConfig)
    .option('-f, --foreground', 'stay in the foreground (systemd Type=exec, Docker)')
    .option('-t, --test', 'check the configuration and exit: 0 valid, 78 invalid')
    .option('--local-nodeid <id>', 'which nodelist entry this daemon is (several daemons on one host)')
    .version(`carillond ${options.version}`, '-v, --version')
    .addHelpText('after', `
ENVIRONMENT
  CARILLON_CONFIG   default for -c (otherwise ${DAEMON_DEFAULT_CONFIG})

SIGNALS
  SIGTERM, SIGINT   leave the ring in order (the others reform at once) and exit 0
  SIGHUP            re-read the configuration; settings that need a restart are logged

EXIT STATUS
  0   clean shutdown, or -t with a valid configuration
  1   runtime failure (socket in use, unreadable authkey, ...)
  2   usage error
  3   a supervised program (amf { process { escalation: leave } }) failed too often:
      carillond left the cluster; systemd should not restart it (RestartPreventExitStatus=78 3)
  78  configuration error (EX_CONFIG): systemd does not restart on it
  255 killed by a cfg KILLNODE (corosync-cfgtool -k): no LEAVE, as corosync's exit(-1)

EXAMPLES
  carillond -t -c /etc/carillon/corosync.conf
  carillond -f -c /etc/carillon/corosync.conf`)
    .exitOverride();
}
