// Goal: SAM registrations (src/services/amf/sam-policy.ts) — an application that stops
// heartbeating, or whose connection closes without unregistering, is acted on (SIGKILL;
// quit keeps a supervised program down, restart hands it to the amf policy); heartbeats
// keep it alive; names are unique among live registrations; restart needs a supervised
// name; the registry is bounded. Method: virtual time; the heartbeat timer is modelled
// as the due time the last setTimer action asked for.

import { describe, expect, it } from '@jest/globals';
import { type SamAction, SamPolicy } from '../../../src/services/amf/sam-policy';

const OWN_PID = 4242;

function policy(appsMax = 4): SamPolicy {
  return new SamPolicy({ appsMax, supervisedNames: ['asterisk'], ownPid: OWN_PID });
}

function registered(p: SamPolicy, name: string, pid: number, recovery: 'quit' | 'restart' = 'quit', nowMs = 0, heartbeatIntervalMs = 1000): number {
  const result = p.register({ name, pid, heartbeatIntervalMs, recovery }, nowMs);
  if (!result.ok) throw new Error(result.error.message);
  return result.value.id;
}

const kinds = (actions: readonly SamAction[]): string[] => actions.map((a) => a.type);

describe('registration', () => {
  it('arms the heartbeat deadline and publishes the entry', () => {
    const p = policy();
    const result = p.register({ name: 'app', pid: 300, heartbeatIntervalMs: 500, recovery: 'quit' }, 10);
    expect(result.ok && result.value.actions.slice(0, 2)).toEqual([
      { type: 'setTimer', id: 1, afterMs: 500 },
      { type: 'publish', name: 'app' },
    ]);
    expect(p.snapshot(110)).toEqual([
      { id: 1, name: 'app', state: 'registered', pid: 300, recovery: 'quit', heartbeatIntervalMs: 500, lastHeartbeatAgeMs: 100, failures: 0, lastFailure: null, supervised: false },
    ]);
  });

  it('refuses a name registered live, the daemon pid, and restart for an unsupervised name', () => {
    const p = policy();
    registered(p, 'app', 300);
    const again = p.register({ name: 'app', pid: 301, heartbeatIntervalMs: 500, recovery: 'quit' }, 0);
    expect(!again.ok && again.error.code).toBe('SAM_ERR_EXISTS');
    const self = p.register({ name: 'me', pid: OWN_PID, heartbeatIntervalMs: 500, recovery: 'quit' }, 0);
    expect(!self.ok && self.error.code).toBe('SAM_ERR_BAD_PID');
    const restart = p.register({ name: 'other', pid: 302, heartbeatIntervalMs: 500, recovery: 'restart' }, 0);
    expect(!restart.ok && restart.error).toMatchObject({ code: 'SAM_ERR_NOT_SUPERVISED', message: expect.stringContaining('amf { process { name: other } }') });
    expect(registered(p, 'asterisk', 303, 'restart')).toBeGreaterThan(0);
  });

  it('is bounded: the oldest failed entry makes room; all live → SAM_ERR_TOO_MANY', () => {
    const p = policy(2);
    const a = registered(p, 'a', 300);
    registered(p, 'b', 301);
    const full = p.register({ name: 'c', pid: 302, heartbeatIntervalMs: 500, recovery: 'quit' }, 0);
    expect(!full.ok && full.error.code).toBe('SAM_ERR_TOO_MANY');
    p.connectionLost(a);
    const c = p.register({ name: 'c', pid: 302, heartbeatIntervalMs: 500, recovery: 'quit' }, 0);
    expect(c.ok && c.value.actions[0]).toEqual({ type: 'remove', name: 'a' });
    expect(p.snapshot(0).map((e) => e.name)).toEqual(['b', 'c']);
  });
});

describe('heartbeats and failures', () => {
  it('a heartbeat re-arms the deadline; the timer firing after a full interval without one kills the pid (quit)', () => {
    const p = policy();
    const id = registered(p, 'app', 300, 'quit', 0, 1000);
    const hb = p.heartbeat(id, 800);
    expect(hb.ok && hb.value).toEqual([{ type: 'setTimer', id, afterMs: 1000 }]);
    const actions = p.timer(id, 1800);
    expect(kinds(actions)).toEqual(['clearTimer', 'log', 'kill', 'publish']);
    expect(actions).toContainEqual({ type: 'kill', pid: 300, signal: 'SIGKILL' });
    expect(p.snapshot(2000)[0]).toMatchObject({ state: 'failed', failures: 1, lastFailure: 'missed heartbeat: none for 1000 ms (interval 1000 ms)', lastHeartbeatAgeMs: null });
    const late = p.heartbeat(id, 1900);
    expect(!late.ok && late.error).toMatchObject({ code: 'SAM_ERR_NOT_REGISTERED', message: expect.stringContaining('register again') });
  });

  it('an early timer waits out the rest of the interval', () => {
    const p = policy();
    const id = registered(p, 'app', 300, 'quit', 0, 1000);
    p.heartbeat(id, 500);
    expect(p.timer(id, 1000)).toEqual([{ type: 'setTimer', id, afterMs: 500 }]);
    expect(p.isLive(id)).toBe(true);
  });

  it('a connection closed without unregister is a failure; after unregister nothing happens', () => {
    const p = policy();
    const a = registered(p, 'a', 300);
    const b = registered(p, 'b', 301);
    expect(p.connectionLost(a)).toContainEqual({ type: 'kill', pid: 300, signal: 'SIGKILL' });
    expect(p.snapshot(0)[0]?.lastFailure).toBe('connection closed without sam.unregister');
    const un = p.unregister(b);
    expect(un.ok && kinds(un.value)).toEqual(['clearTimer', 'remove', 'log']);
    expect(p.connectionLost(b)).toEqual([]);
    expect(p.timer(b, 99_999)).toEqual([]);
    expect(p.snapshot(0).map((e) => e.name)).toEqual(['a']);
  });

  it('a supervised name: quit keeps the program failed, restart hands it to the amf policy', () => {
    const p = policy();
    const quit = registered(p, 'asterisk', 300, 'quit');
    expect(p.connectionLost(quit)).toContainEqual({ type: 'failSupervised', name: 'asterisk', reason: 'SAM: connection closed without sam.unregister', restart: false });
    const restart = registered(p, 'asterisk', 310, 'restart', 100);
    const actions = p.timer(restart, 1100);
    expect(kinds(actions)).toEqual(['clearTimer', 'log', 'failSupervised', 'kill', 'publish']);
    expect(actions).toContainEqual(expect.objectContaining({ type: 'failSupervised', name: 'asterisk', restart: true }));
    // The failure history follows the name across registrations.
    expect(p.snapshot(1100)[0]).toMatchObject({ failures: 2, supervised: true });
  });

  it('after shutdown nothing fails and nothing registers', () => {
    const p = policy();
    const id = registered(p, 'app', 300);
    expect(p.shutdown()).toEqual([{ type: 'clearTimer', id }]);
    expect(p.connectionLost(id)).toEqual([]);
    expect(p.timer(id, 10_000)).toEqual([]);
    expect(p.register({ name: 'x', pid: 5, heartbeatIntervalMs: 100, recovery: 'quit' }, 0).ok).toBe(false);
  });
});
