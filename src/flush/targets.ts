// The flush targets (export pipelines) as one: flushed in parallel, each waited for until a limit,
// their pending data summed. A target that throws or hangs costs only itself.

import type { FlushReport, FlushRequest, FlushTarget, PendingSummary } from '../model/flush-contract.js';
import type { Log } from '../model/log.js';
import { type FreezeAwareTime, within } from './waiting.js';

export interface FlushOutcome {
  report: FlushReport;
  /** A target did not return by the wait limit. */
  abandoned: boolean;
}

const EMPTY_REPORT: FlushReport = {
  exportedItems: 0,
  exportedBytes: 0,
  requests: 0,
  retryLaterItems: 0,
  droppedItems: 0,
  durationMs: 0,
  deadlineHit: false,
};

export class FlushTargets {
  private readonly targets: readonly FlushTarget[];

  constructor(
    target: FlushTarget | readonly FlushTarget[],
    private readonly time: FreezeAwareTime,
    private readonly logger: Log | undefined,
  ) {
    this.targets = isTargetList(target) ? target : [target];
    if (this.targets.length === 0) throw new TypeError('FlushManager needs at least one flush target');
  }

  /** Flushes every target in parallel; waits for each until waitUntilMs at most. */
  async flush(request: FlushRequest, waitUntilMs: number): Promise<FlushOutcome> {
    const settled = await Promise.all(
      this.targets.map((target) => {
        let flushing: Promise<FlushReport>;
        try {
          flushing = Promise.resolve(target.flush(request));
        } catch (error) {
          flushing = Promise.reject(error);
        }
        return within(
          this.time,
          flushing.catch((error: unknown): FlushReport => {
            this.logger?.warn('flush target failed', { error: String(error), reason: request.reason });
            return { ...EMPTY_REPORT, retryLaterItems: pendingItemsOf(target) };
          }),
          waitUntilMs,
        );
      }),
    );
    const report = { ...EMPTY_REPORT };
    let abandoned = false;
    for (const result of settled) {
      if (!result.settled) {
        abandoned = true;
        report.deadlineHit = true;
        continue;
      }
      const r = result.value;
      report.exportedItems += r.exportedItems;
      report.exportedBytes += r.exportedBytes;
      report.requests += r.requests;
      report.retryLaterItems += r.retryLaterItems;
      report.droppedItems += r.droppedItems;
      report.durationMs = Math.max(report.durationMs, r.durationMs);
      report.deadlineHit ||= r.deadlineHit;
      report.failedAttempts = (report.failedAttempts ?? 0) + (r.failedAttempts ?? 0);
    }
    return { report, abandoned };
  }

  /** What every target holds; a target whose pending() throws counts as empty. */
  pending(): PendingSummary {
    let items = 0;
    let bytes = 0;
    let oldest: number | undefined;
    for (const target of this.targets) {
      try {
        const p = target.pending();
        items += p.items;
        bytes += p.bytes;
        oldest = minDefined(oldest, p.oldestCreatedAtMs);
      } catch (error) {
        this.logger?.warn('flush target pending() failed', { error: String(error) });
      }
    }
    return { items, bytes, oldestCreatedAtMs: oldest };
  }
}

export function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function isTargetList(target: FlushTarget | readonly FlushTarget[]): target is readonly FlushTarget[] {
  return Array.isArray(target);
}

function pendingItemsOf(target: FlushTarget): number {
  try {
    return target.pending().items;
  } catch {
    return 0;
  }
}
