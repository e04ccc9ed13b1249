#!/usr/bin/env node
// carillond: the Carillon daemon. Flags follow corosync's (-c FILE, -f, -t, -v) so that
// operators' muscle memory and unit files carry over (architecture.md §2.8, §3.3).
//
//   carillond -f -c /etc/carillon/corosync.conf     run in the foreground (systemd, Docker)
//   carillond -c FILE                               detach and run in the background
//   carillond -t -c FILE                            check the configuration and exit (78 on error)

// First: V8's heap settings, before the daemon's modules load (daemon-heap.ts).
import './daemon-heap-setup';
import { spawn } from 'node:child_process';
import { DAEMON_DEFAULT_CONFIG, type DaemonFlags, parseDaemonArgs } from '../cli/daemon-args';
import { formatDiagnostic } from '../config/diagnostics';
import { Daemon, DaemonExit, DaemonStartError, findLocalNodeId, loadDaemonConfig } from '../runtime/daemon';

const DEFAULT_CONFIG = process.env['CARILLON_CONFIG'] ?? DAEMON_DEFAULT_CONFIG;

function parseNodeId(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0 || value > 0xffffffff) {
    process.stderr.write(`carillond: --local-nodeid must be a nodeid from the nodelist, got '${text}'\n`);
    process.exit(DaemonExit.usage);
  }
  return value;
}

function fail(error: unknown): never {
  if (error instanceof DaemonStartError) {
    process.stderr.write(`${error.message}\ncarillond: not started (${error.code})\n`);
    process.exit(error.exitCode);
  }
  const code = (error as { code?: unknown }).code;
  process.stderr.write(`carillond: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}\n`);
  process.exit(DaemonExit.failure);
}

function checkOnly(flags: DaemonFlags, localNodeId: number | undefined): never {
  try {
    const { config, warnings } = loadDaemonConfig(flags.config, localNodeId);
    for (const warning of warnings) process.stderr.write(`${formatDiagnostic(warning)}\n`);
    const nodeId = findLocalNodeId(config);
    process.stdout.write(`${flags.config}: configuration is valid; this host is nodeid ${nodeId}\n`);
    process.exit(DaemonExit.ok);
  } catch (error) {
    fail(error);
  }
}

/** Service mode: re-run ourselves in the foreground, detached, and return. */
function detach(): never {
  const args = [...process.execArgv, ...process.argv.slice(1), '-f'];
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
  child.unref();
  process.stdout.write(`carillond started in the background (pid ${child.pid ?? '?'}); logs go where logging { } says\n`);
  process.exit(DaemonExit.ok);
}

async function runForeground(flags: DaemonFlags, localNodeId: number | undefined): Promise<void> {
  const daemon = await Daemon.start({ configFile: flags.config, ...(localNodeId === undefined ? {} : { localNodeId }) });
  const shutdown = (signal: string): void => {
    daemon.stop(`${signal} received`).then(() => process.exit(DaemonExit.ok), () => process.exit(DaemonExit.failure));
    // A stuck close must not keep the process alive past systemd's patience (supervised
    // programs get their stop_timeout on top).
    setTimeout(() => process.exit(DaemonExit.failure), 5000 + daemon.shutdownBudgetMs()).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    daemon.reload().catch((error: unknown) => {
      process.stderr.write(`carillond: reload failed, keeping the running configuration:\n${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
}

process.on('uncaughtException', (error) => {
  process.stderr.write(`carillond: fatal: ${error.stack ?? error.message}\n`);
  process.exit(DaemonExit.failure);
});
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`carillond: fatal: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  process.exit(DaemonExit.failure);
});

/**
 * Help, version and usage errors: commander, loaded only for them (daemon-args.ts says
 * why; a plain require, as in runtime/daemon.ts).
 */
function parseWithCommander(): DaemonFlags {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { CommanderError } = require('commander') as typeof import('commander');
  const { buildDaemonCommand } = require('../cli/daemon-command') as typeof import('../cli/daemon-command');
  const { packageVersion } = require('../cli/package-version') as typeof import('../cli/package-version');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const program = buildDaemonCommand({ defaultConfig: DEFAULT_CONFIG, version: packageVersion() });
  try {
    program.parse(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : DaemonExit.usage);
    throw error;
  }
  return program.opts<DaemonFlags>();
}

const flags = parseDaemonArgs(process.argv.slice(2), DEFAULT_CONFIG) ?? parseWithCommander();
const localNodeId = parseNodeId(flags.localNodeid);
if (flags.test === true) checkOnly(flags, localNodeId);
if (flags.foreground !== true) detach();
runForeground(flags, localNodeId).catch(fail);
