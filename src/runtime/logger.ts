// The Logger port and its winston adapter (architecture.md decision 5, §3.3 "Structured
// logs"). Lines carry corosync-style subsystem tags ([TOTEM ], [MAIN  ], ...) so that an
// operator's grep habits from corosync.log keep working; `format: 'json'` writes one JSON
// object per line for journald/Docker collectors. What goes where follows logging {}:
// to_stderr, to_logfile + logfile, timestamp off|on|hires, debug off|on|trace.

import * as winston from 'winston';
import type { LoggingSettings } from '../config/load';

export const LogLevels = ['error', 'warning', 'notice', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LogLevels)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: LogLevel, subsys: string, message: string, fields?: LogFields): void;
  /** Applies logging { debug } from a reloaded configuration (SIGHUP). */
  setDebug?(debug: LoggingSettings['debug']): void;
  /** Resolves once buffered lines are written (call before exiting). */
  close(): Promise<void>;
}

/** Severity order for filtering: lower index = more severe. */
const severity: Record<LogLevel, number> = { error: 0, warning: 1, notice: 2, info: 3, debug: 4, trace: 5 };

export interface LoggerOptions {
  readonly format?: 'text' | 'json';
  readonly nodeId?: number;
  /** Extra sink for tests. */
  readonly stream?: NodeJS.WritableStream;
}

function subsysTag(subsys: string): string {
  return `[${subsys.toUpperCase().padEnd(6).slice(0, 6)}]`;
}

function timestampText(mode: LoggingSettings['timestamp'], iso: string): string {
  if (mode === 'off') return '';
  return mode === 'hires' ? `${iso} ` : `${iso.slice(0, 19)}Z `;
}

/** Creates a winston-backed Logger configured from a logging {} section. */
export function createLogger(settings: LoggingSettings, options: LoggerOptions = {}): Logger {
  const levelFor = (debug: LoggingSettings['debug']): LogLevel => (debug === 'trace' ? 'trace' : debug === 'on' ? 'debug' : 'info');
  let maxLevel: LogLevel = levelFor(settings.debug);
  const json = options.format === 'json';
  const lineFormat = winston.format.printf((info) => {
    const { level, message, subsys, time, fields } = info as unknown as {
      level: string; message: string; subsys: string; time: string; fields?: LogFields;
    };
    if (json) return JSON.stringify({ time, level, subsys, nodeId: options.nodeId, msg: message, ...fields });
    const extra = fields !== undefined && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    return `${timestampText(settings.timestamp, time)}${level.padEnd(7)} ${subsysTag(subsys)} ${message}${extra}`;
  });
  const transports: winston.transport[] = [];
  if (settings.toStderr) {
    transports.push(new winston.transports.Console({ stderrLevels: [...LogLevels] }));
  }
  if (settings.toLogfile && settings.logfile !== null) {
    transports.push(new winston.transports.File({ filename: settings.logfile }));
  }
  if (options.stream !== undefined) transports.push(new winston.transports.Stream({ stream: options.stream }));
  const logger = winston.createLogger({
    levels: severity,
    // winston filters nothing itself; log() below does, so the level can change at runtime.
    level: 'trace',
    format: lineFormat,
    transports,
    // A logging failure must never take the daemon down.
    exitOnError: false,
  });
  return {
    log(level, subsys, message, fields) {
      if (severity[level] > severity[maxLevel]) return;
      logger.log({ level, message, subsys, time: new Date().toISOString(), fields });
    },
    setDebug(debug) {
      maxLevel = levelFor(debug);
    },
    close() {
      return new Promise((resolve) => {
        logger.on('finish', () => resolve());
        logger.end();
      });
    },
  };
}

/** A logger that drops everything (tests, and `-t` config checks). */
export const silentLogger: Logger = {
  log: () => undefined,
  close: () => Promise.resolve(),
};

/**
 * Logs at most once per `intervalMs` per key, then says how many were suppressed.
 * Used for per-datagram problems (decode errors, bad authentication) that a hostile or
 * broken peer could otherwise turn into a log flood.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(logger: Logger, intervalMs = 10_000, now: () => number = () => performance.now()) {
    this.logger = logger;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  log(key: string, level: LogLevel, subsys: string, message: string, fields?: LogFields): void {
    const at = this.now();
    const entry = this.last.get(key);
    if (entry !== undefined && at - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    const suffix = suppressed > 0 ? ` (${suppressed} similar suppressed)` : '';
    this.last.set(key, { at, suppressed: 0 });
    if (this.last.size > 1024) this.last.delete(this.last.keys().next().value as string);
    this.logger.log(level, subsys, `${message}${suffix}`, fields);
  }
}
