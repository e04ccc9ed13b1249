// What the interop tests share beyond netns.ts: steps that depend on each other and run
// in order, each failure carrying the tails of the daemons' logs; the layout of a run.

import { describe, it } from '@jest/globals';
import * as path from 'node:path';
import { type ConfNode, type InteropGate, type NetnsCluster, carillonConf, corosyncConf } from './netns';

/** The steps of one interop run: once one fails (or the setup did) the rest fail at once. */
export class InteropSteps {
  /** Something failed: the run's directory (configs, full logs) is worth keeping. */
  failed = false;
  /** The step (or 'setup') that failed first. */
  private broken: string | null = null;
  private readonly tails: () => string;

  /** `tails` says what every log says lately; it is attached to failures. */
  constructor(tails: () => string) {
    this.tails = tails;
  }

  /** A test step: fails at once after an earlier failure; attaches log tails to its own. */
  readonly step = (name: string, timeoutMs: number, body: () => Promise<void>): void => {
    it(name, async () => {
      if (this.broken !== null) throw new Error(`not run: an earlier step failed (${this.broken})`);
      try {
        await body();
      } catch (error) {
        this.failed = true;
        this.broken = name;
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${message}\n\n${this.tails()}`, { cause: error });
      }
    }, timeoutMs);
  };

  /** Marks the setup as failed; the error to throw, named `what`, with the log tails. */
  setupFailed(what: string, error: unknown): Error {
    this.failed = true;
    this.broken = 'setup';
    const message = error instanceof Error ? error.message : String(error);
    return new Error(`${what} setup failed: ${message}\n\n${this.tails()}`, { cause: error });
  }
}

/** Where things are in a run of real corosync nodes and one carillond, and their configurations. */
export interface InteropLayout {
  /** The nodelist: every node at its namespace's address. */
  readonly nodes: () => ConfNode[];
  /** carillond's IPC socket. */
  readonly socketPath: () => string;
  readonly corosyncLog: (i: number) => string;
  readonly carillonLog: () => string;
  /** corosync.conf for node i. */
  readonly corosyncConf: (i: number) => string;
  /** carillon.conf for the carillond node. */
  readonly carillonConf: () => string;
}

export function interopLayout(
  cluster: () => NetnsCluster,
  opts: { readonly clusterName: string; readonly all: readonly number[]; readonly carillon: number; readonly debug: boolean },
): InteropLayout {
  const { clusterName, all, carillon, debug } = opts;
  const nodes = (): ConfNode[] => all.map((i) => ({ nodeid: i, addr: cluster().addr(i) }));
  const socketPath = (): string => path.join(cluster().dir(carillon), 'carillon.sock');
  return {
    nodes,
    socketPath,
    corosyncLog: (i) => path.join(cluster().dir(i), 'corosync.log'),
    carillonLog: () => path.join(cluster().dir(carillon), 'carillon.log'),
    corosyncConf: (i) => corosyncConf({ clusterName, nodes: nodes(), stateDir: path.join(cluster().dir(i), 'lib'), debug }),
    carillonConf: () => carillonConf({ clusterName, nodes: nodes(), stateDir: path.join(cluster().dir(carillon), 'lib'), ipcSocket: socketPath(), debug }),
  };
}

/**
 * Declares what an interop suite becomes when the machine cannot run it: under CI=true a
 * failing test (CI must not skip it silently), elsewhere a skipped test and a loud banner
 * on stderr (shown even under --silent) and in the file's console output. True when the
 * gate lets the suite run, i.e. the caller declares it.
 */
export function interopSuiteRuns(gate: InteropGate, suite: { title: string; name: string; needs: string }): boolean {
  if (gate.run) return true;
  if (gate.mustFail) {
    describe(suite.title, () => {
      it('has what it needs in CI', () => {
        throw new Error(`the ${suite.name} must run in CI but cannot: ${gate.reason}`);
      });
    });
    return false;
  }
  const banner = `\n${'!'.repeat(78)}\n!! ${suite.name} SKIPPED: ${gate.reason}\n!! (needs ${suite.needs}; under CI=true this is a failure)\n${'!'.repeat(78)}\n`;
  process.stderr.write(banner);
  console.warn(banner);
  describe(suite.title, () => {
    it.skip(`SKIPPED: ${gate.reason}`, () => undefined);
  });
  return false;
}

/**
 * An accessor for something a suite's beforeAll sets up: the value, or an error saying
 * what is missing (a test that runs after a failed setup fails with that, not a TypeError).
 */
export function present<T>(get: () => T | null, missing: string): () => T {
  return () => {
    const value = get();
    if (value === null) throw new Error(missing);
    return value;
  };
}
