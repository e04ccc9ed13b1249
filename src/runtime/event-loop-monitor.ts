// Event-loop responsiveness for `GET /healthz` (architecture.md §3.3, "Health endpoint"):
// the largest event-loop delay seen recently, from perf_hooks' monitorEventLoopDelay
// (libuv samples the loop every `resolutionMs`; a stalled loop shows up as one long
// delay once it runs again).
//
// "Recently" is the current window plus the previous one, so a stall is reported for
// at least one full window (default 5 s) after it ends — long enough for a probe that
// polls every few seconds to see it — and forgotten after two. Its own histogram: the
// one prom-client's default metrics keep for nodejs_eventloop_lag_* is reset on every
// scrape, which would make /healthz depend on when Prometheus last came by.

import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { assert } from '../base/assert';

export const EventLoopMonitorDefaults = {
  resolutionMs: 20,
  windowMs: 5000,
} as const;

export interface EventLoopMonitorOptions {
  readonly resolutionMs?: number;
  readonly windowMs?: number;
}

export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram;
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | null = null;
  private previousMaxMs = 0;

  constructor(options: EventLoopMonitorOptions = {}) {
    const resolutionMs = options.resolutionMs ?? EventLoopMonitorDefaults.resolutionMs;
    this.windowMs = options.windowMs ?? EventLoopMonitorDefaults.windowMs;
    assert(Number.isInteger(resolutionMs) && resolutionMs >= 1, 'EventLoopMonitor: resolutionMs must be a positive integer');
    assert(this.windowMs > resolutionMs, 'EventLoopMonitor: windowMs must exceed resolutionMs');
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  }

  start(): void {
    if (this.timer !== null) return;
    this.histogram.enable();
    this.timer = setInterval(() => this.rotate(), this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
  }

  /** The largest event-loop delay of the current and the previous window, in ms. */
  lagMs(): number {
    return Math.max(this.previousMaxMs, this.currentMaxMs());
  }

  private currentMaxMs(): number {
    // An empty histogram reports max 0.
    return this.histogram.max / 1e6;
  }

  private rotate(): void {
    this.previousMaxMs = this.currentMaxMs();
    this.histogram.reset();
  }
}
