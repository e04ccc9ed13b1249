// Health checks of supervised programs (architecture.md §2.6 "amf", issue 6): the
// shell's side of `health_check` in amf { process { } }. The policy decides when a
// check is due and what a failure means (src/services/amf/amf-policy.ts); this module
// runs exactly one check, bounded by health_timeout, and says ok or why not:
//   exec  run health_command (no shell, own process group); exit status 0 is ok; on
//         timeout the whole group gets SIGKILL. Its stderr is kept (bounded) for the reason;
//   tcp   a TCP connect to health_address;
//   ami   a TCP connect to health_address and the first line Asterisk's manager sends:
//         it must start with "Asterisk Call Manager/" (res-corosync.md §2.1). Nothing is
//         sent, so no AMI login is needed; Asterisk logs a short-lived connection.
// Every check settles exactly once; cancel() ends it at once (daemon shutdown).

import { spawn } from 'node:child_process';
import * as net from 'node:net';
import type { HostPort } from '../config/amf-conf';

export type HealthCheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface HealthCheckSpec {
  readonly kind: 'exec' | 'tcp' | 'ami';
  /** argv for exec. */
  readonly command: readonly string[] | null;
  /** host:port for tcp and ami. */
  readonly address: HostPort | null;
  readonly workingDir: string | null;
  readonly timeoutMs: number;
}

export interface RunningHealthCheck {
  readonly result: Promise<HealthCheckResult>;
  /** Ends the check now (its result is then a failure nobody needs). */
  cancel(): void;
}

export const AMI_BANNER_PREFIX = 'Asterisk Call Manager/';
/** How much stderr of an exec check, and how much of an AMI banner, is kept. */
const KEPT_BYTES_MAX = 1024;

function errorText(e: unknown): string {
  return typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
}

/** Starts one health check; see the file header. */
export function runHealthCheck(spec: HealthCheckSpec): RunningHealthCheck {
  switch (spec.kind) {
    case 'exec':
      return runExec(spec);
    case 'tcp':
    case 'ami':
      return runConnect(spec);
  }
}

function runExec(spec: HealthCheckSpec): RunningHealthCheck {
  const argv = spec.command ?? [];
  const [file, ...args] = argv;
  let settle: (r: HealthCheckResult) => void = () => undefined;
  const result = new Promise<HealthCheckResult>((resolve) => {
    settle = resolve;
  });
  if (file === undefined) return { result: Promise.resolve({ ok: false, reason: 'no health_command' }), cancel: () => undefined };
  let done = false;
  let stderr = '';
  const child = spawn(file, args, { cwd: spec.workingDir ?? undefined, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const killGroup = (): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  const finish = (r: HealthCheckResult): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    settle(r);
  };
  const timer = setTimeout(() => {
    killGroup();
    finish({ ok: false, reason: `health_command timed out after ${spec.timeoutMs} ms` });
  }, spec.timeoutMs);
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < KEPT_BYTES_MAX) stderr += chunk.toString('utf8', 0, Math.min(chunk.length, KEPT_BYTES_MAX - stderr.length));
  });
  child.once('error', (e) => finish({ ok: false, reason: `health_command cannot run: ${errorText(e)}` }));
  child.once('exit', (code, signal) => {
    if (code === 0) {
      finish({ ok: true });
      return;
    }
    const line = stderr.split('\n').find((l) => l.trim() !== '')?.trim();
    const how = signal !== null ? `signal ${signal}` : `exit status ${String(code)}`;
    finish({ ok: false, reason: `health_command failed (${how})${line === undefined ? '' : `: ${line}`}` });
  });
  return {
    result,
    cancel: () => {
      killGroup();
      finish({ ok: false, reason: 'cancelled' });
    },
  };
}

function runConnect(spec: HealthCheckSpec): RunningHealthCheck {
  const address = spec.address;
  if (address === null) return { result: Promise.resolve({ ok: false, reason: 'no health_address' }), cancel: () => undefined };
  const target = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  let finish: (r: HealthCheckResult) => void = () => undefined;
  const result = new Promise<HealthCheckResult>((resolve) => {
    let done = false;
    finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
  });
  const socket = net.createConnection({ host: address.host, port: address.port });
  const timer = setTimeout(() => {
    finish({ ok: false, reason: `${spec.kind === 'ami' ? 'no AMI banner' : 'no connection'} from ${target} within ${spec.timeoutMs} ms` });
  }, spec.timeoutMs);
  socket.once('error', (e) => finish({ ok: false, reason: `cannot connect to ${target}: ${errorText(e)}` }));
  if (spec.kind === 'tcp') {
    socket.once('connect', () => finish({ ok: true }));
  } else {
    let banner = '';
    socket.on('data', (chunk: Buffer) => {
      banner += chunk.toString('latin1', 0, Math.min(chunk.length, KEPT_BYTES_MAX));
      const end = banner.indexOf('\n');
      if (end === -1 && banner.length < KEPT_BYTES_MAX) return;
      const line = (end === -1 ? banner : banner.slice(0, end)).replace(/\r$/, '');
      if (line.startsWith(AMI_BANNER_PREFIX)) finish({ ok: true });
      else finish({ ok: false, reason: `${target} is not Asterisk's manager: it sent "${line.slice(0, 80)}"` });
    });
    socket.once('end', () => finish({ ok: false, reason: `${target} closed the connection before the AMI banner` }));
  }
  return { result, cancel: () => finish({ ok: false, reason: 'cancelled' }) };
}
