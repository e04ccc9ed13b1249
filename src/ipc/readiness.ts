// Whether a carillond is ready to serve (architecture.md §3.3, "Health endpoint"): the
// one verdict shared by the HTTP `/readyz` endpoint (src/runtime/http-server.ts) and the
// `carillon wait-ready` / `carillon health` commands (src/cli/commands/health.ts), so a
// systemd ExecStartPost, a Docker HEALTHCHECK and a load balancer's probe agree.
//
// Ready means: the Totem ring is operational (a membership is installed and the token
// circulates), the service sync after the last configuration change has completed
// (CPG, quorum and cmap answer with the new membership), and the IPC socket listens.
// With `requireQuorate` the node must also be in the quorate partition — what a
// service that must not act in a minority partition waits for.
//
// Pure: takes the fields of a DaemonStatus (src/ipc/daemon-api.ts) and returns the
// verdict with one line per failed check.

import type { DaemonStatus } from './daemon-api';

export const ReadinessCheck = {
  ring: 'ring',
  sync: 'sync',
  ipc: 'ipc',
  quorum: 'quorum',
} as const;
export type ReadinessCheck = (typeof ReadinessCheck)[keyof typeof ReadinessCheck];

export interface ReadinessInput {
  readonly state: DaemonStatus['state'];
  /** Absent when the daemon runs without services (then there is no sync to wait for). */
  readonly syncing?: boolean | undefined;
  /** null: no quorum service answered. */
  readonly quorate: boolean | null;
  readonly ipcListening: boolean;
}

export interface ReadinessOptions {
  /** Also require the quorum service to report this partition quorate. */
  readonly requireQuorate?: boolean;
}

export interface ReadinessResult {
  readonly ready: boolean;
  /** Each check and whether it passed (quorum only when required). */
  readonly checks: Readonly<Partial<Record<ReadinessCheck, boolean>>>;
  /** One human-readable line per failed check, in check order. */
  readonly problems: readonly string[];
}

export function assessReadiness(input: ReadinessInput, options: ReadinessOptions = {}): ReadinessResult {
  const checks: Partial<Record<ReadinessCheck, boolean>> = {};
  const problems: string[] = [];
  checks.ring = input.state === 'operational';
  if (!checks.ring) problems.push(`ring: the Totem state is ${input.state}, not operational`);
  checks.sync = input.syncing !== true;
  if (!checks.sync) problems.push('sync: the services are synchronising after a membership change');
  checks.ipc = input.ipcListening;
  if (!checks.ipc) problems.push('ipc: the IPC socket is not listening');
  if (options.requireQuorate === true) {
    checks.quorum = input.quorate === true;
    if (!checks.quorum) problems.push(input.quorate === null ? 'quorum: no quorum service answered' : 'quorum: this partition is not quorate');
  }
  return { ready: problems.length === 0, checks, problems };
}
