// Turns the Totem core's trace events into log lines worded like corosync's totemsrp.c
// messages, so operators who grep corosync logs ("A processor failed, forming new
// configuration", "Failed to receive the leave message") find the same lines here.

import type { TotemConfigMs } from '../totem/config';
import type { TraceEvent, TraceSink } from '../totem/srp/types';
import type { RingId } from '../totem/wire/messages';
import type { Logger } from './logger';

function ringText(ring: unknown): string {
  const r = ring as RingId | undefined;
  return r === undefined ? '?' : `${r.rep.toString(16)}.${r.seq.toString(16)}`;
}

function list(value: unknown): number[] {
  return Array.isArray(value) ? (value as number[]) : [];
}

export function totemTraceLogger(logger: Logger, timers: Pick<TotemConfigMs, 'token' | 'consensus'>): TraceSink {
  return (event: TraceEvent) => {
    const d = event.detail ?? {};
    switch (event.name) {
      case 'TokenLost':
        if (d['state'] === 'operational') {
          logger.log('notice', 'TOTEM', `A processor failed, forming new configuration: token timed out (${timers.token}ms), waiting ${timers.consensus}ms for consensus.`);
        } else {
          logger.log('debug', 'TOTEM', `The token was lost in the ${String(d['state']).toUpperCase()} state.`);
        }
        return;
      case 'GatherEnter':
        logger.log('debug', 'TOTEM', `entering GATHER state from ${String(d['reason'])}.`, { proc: list(d['proc']), failed: list(d['failed']) });
        return;
      case 'CommitEnter':
        logger.log('debug', 'TOTEM', `entering COMMIT state (ring ${ringText(d['ringId'])}, members ${list(d['members']).join(' ')}).`);
        return;
      case 'RecoveryEnter':
        logger.log('debug', 'TOTEM', `entering RECOVERY state; transitional members ${list(d['trans']).join(' ')}; originated ${String(d['originated'])} old-ring messages.`);
        return;
      case 'OperationalEnter': {
        const failed = list(d['failed']);
        if (failed.length > 0) logger.log('notice', 'TOTEM', `Failed to receive the leave message. failed: ${failed.join(' ')}`);
        logger.log('debug', 'TOTEM', `entering OPERATIONAL state (ring ${ringText(d['ringId'])}).`);
        return;
      }
      case 'FailedToReceive':
        logger.log('error', 'TOTEM', 'FAILED TO RECEIVE');
        return;
      case 'ConsensusTimeout':
        logger.log('debug', 'TOTEM', `consensus timeout: failed ${list(d['failed']).join(' ')}`);
        return;
      default:
        logger.log('trace', 'TOTEM', event.name, d);
    }
  };
}
