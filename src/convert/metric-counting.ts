// Metric counting per invocation: each invocation is counted once (invocations, cold starts,
// duration), its error once and its out-of-memory end once, from whichever of its records comes
// first, so redelivered batches, late reports and log-line OOMs never count twice.

import type { Invocation } from './invocations.js';
import type { PlatformMetrics } from './metrics.js';

export class InvocationCounting {
  constructor(readonly metrics: PlatformMetrics) {}

  /** The function runs durable executions: its spans and per-invocation series say so from now on. */
  get isDurable(): boolean {
    return this.metrics.isDurable;
  }

  markDurable(): void {
    this.metrics.markDurable();
  }

  /** The per-invocation counters, once per invocation, from whichever end record comes first. */
  countInvocation(inv: Invocation, atMs: number): void {
    if (inv.durableExecutionArn !== undefined && !this.isDurable) this.markDurable();
    if (!inv.invocationCounted && (inv.runtimeDoneSeen || inv.reportSeen)) {
      inv.invocationCounted = true;
      this.metrics.recordInvocation(inv.coldstart, atMs);
      if (inv.runtimeDurationMs !== undefined) {
        this.metrics.recordInvokeDuration(inv.runtimeDurationMs, inv.coldstart, atMs);
      }
    }
    if (!inv.errorCounted && inv.status !== undefined && inv.status !== 'success') {
      inv.errorCounted = true;
      this.metrics.recordError(inv.errorType || inv.status, inv.status === 'timeout', atMs);
      if (inv.errorType === 'Runtime.OutOfMemory') this.countOutOfMemory(inv, atMs);
    }
  }

  /**
   * An invocation exported without an end record: it was invoked; how it ended is unknown (unless
   * SHUTDOWN said), so it is counted without a duration.
   */
  countIncomplete(inv: Invocation): void {
    if (!inv.invocationCounted) {
      inv.invocationCounted = true;
      this.metrics.recordInvocation(inv.coldstart, inv.lastSeenMs);
    }
    this.countInvocation(inv, inv.lastSeenMs);
  }

  countOutOfMemory(inv: Invocation, atMs: number): void {
    if (inv.oomCounted) return;
    inv.oomCounted = true;
    this.metrics.recordOutOfMemory(atMs);
  }
}
