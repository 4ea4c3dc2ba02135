// The one place the flush manager starts flushes. One runs at a time: a request while one runs is
// remembered and served right after it (the running flush takes everything produced before it
// started), a background start waits for the current callbacks, and a flush that straddled a freeze
// and left data queued is followed by another one after the thaw. Only the final flush at SHUTDOWN
// bypasses it (see final-flush.ts).

import type { FlushReport, FlushRequest } from '../model/flush-contract.js';
import type { Clock, Scheduler } from '../model/time.js';
import type { BackendHealth, FlushKind } from './backend-health.js';
import type { FlushSettings } from './settings.js';
import type { FlushCounters } from './stats.js';
import type { FlushOutcome, FlushTargets } from './targets.js';
import type { ThawDetector } from './thaw-detector.js';
import type { Log } from '../model/log.js';
import { type FreezeAwareTime, within } from './waiting.js';

/** A flush still running this long after its deadline is abandoned (the pipeline should not hang). */
export const ABANDON_AFTER_DEADLINE_MS = 2_000;

export interface FlushRunnerDeps {
  clock: Clock;
  scheduler: Scheduler;
  settings: FlushSettings;
  targets: FlushTargets;
  counters: FlushCounters;
  health: BackendHealth;
  thaw: ThawDetector;
  logger: Log | undefined;
  /** Nothing more to start after a flush: the periodic schedule takes over. */
  onQuiet: () => void;
}

export class FlushRunner {
  /** SHUTDOWN began: no more flushes start here. */
  shuttingDown = false;
  /** Data arrived since the last flush started (pending() may not show it: producers). */
  dirtySinceMs: number | undefined;
  lastFlushStartMs: number | undefined;
  private inFlight: Promise<FlushOutcome> | undefined;
  private queuedReason: string | undefined;
  /** A blocking flush is about to start: requests meanwhile are queued for after it. */
  private blockingWaiting = false;
  /** A background flush start is deferred to the end of the current callbacks. */
  private startPending = false;
  private readonly time: FreezeAwareTime;

  constructor(private readonly deps: FlushRunnerDeps) {
    this.time = { clock: deps.clock, scheduler: deps.scheduler, thawJumpMs: deps.settings.thawJumpMs };
  }

  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  markDirty(now: number): void {
    if (this.dirtySinceMs === undefined) this.dirtySinceMs = now;
  }

  /**
   * Starts a background flush once the current callbacks are done (scheduler.defer): collecting and
   * encoding are synchronous, and an INVOKE handled in the same turn, or one readable at a thaw,
   * must reach /event/next first. `now`: start in this turn (a caller waits for the flush).
   */
  requestBackground(reason: string, now = false): void {
    if (this.shuttingDown) return;
    if (this.inFlight !== undefined || this.blockingWaiting) {
      // The running flush takes everything produced before it started; queue only for newer data.
      if (this.dirtySinceMs !== undefined) this.queuedReason ??= reason;
      return;
    }
    const { scheduler, clock, settings } = this.deps;
    if (now || scheduler.defer === undefined) {
      this.startPending = false;
      void this.start('background', reason, clock.now() + settings.backgroundFlushTimeoutMs);
      return;
    }
    if (this.startPending) return; // the start on its way takes everything
    this.startPending = true;
    scheduler.defer(() => {
      if (!this.startPending) return; // started meanwhile
      this.startPending = false;
      this.requestBackground(reason, true);
    });
  }

  /** Holds back background starts until a blocking flush has started (or given up). */
  reserveForBlocking(): void {
    this.blockingWaiting = true;
  }

  /** Ends a reservation; serves what was queued meanwhile if no flush runs. */
  releaseReservation(serveQueued: boolean): void {
    this.blockingWaiting = false;
    if (serveQueued && this.inFlight === undefined && this.queuedReason !== undefined && !this.shuttingDown) {
      this.requestBackground(this.queuedReason);
    }
  }

  start(
    kind: Exclude<FlushKind, 'final'>,
    reason: string,
    deadlineMs: number,
    onRetryableFailure?: () => void,
  ): Promise<FlushOutcome> {
    const { clock, counters, health, targets } = this.deps;
    const startedMs = clock.now();
    this.lastFlushStartMs = startedMs;
    this.dirtySinceMs = undefined;
    this.queuedReason = undefined;
    if (kind === 'blocking') counters.blockingFlushes++;
    else counters.backgroundFlushes++;
    const request: FlushRequest = {
      deadlineMs,
      reason,
      ...(kind === 'blocking' && { inInvocationPath: true }),
      // Known as soon as one attempt fails, not when the flush ends (a Retry-After may keep it for
      // seconds): the next invocation must not wait for it.
      onRetryableFailure: () => {
        health.noteDegraded(true, { kind, reason, failedAttempts: 1 });
        onRetryableFailure?.();
      },
    };
    const flushing = targets.flush(request, deadlineMs + ABANDON_AFTER_DEADLINE_MS).then((outcome) => {
      if (this.inFlight === flushing) this.inFlight = undefined;
      this.afterFlush(kind, reason, startedMs, deadlineMs, outcome);
      return outcome;
    });
    this.inFlight = flushing;
    return flushing;
  }

  /** Resolves when no flush is running, or at untilMs. */
  async whenIdle(untilMs: number): Promise<void> {
    while (this.inFlight !== undefined && this.deps.clock.now() < untilMs) {
      const result = await within(this.time, this.inFlight, untilMs);
      if (!result.settled) return;
    }
  }

  account(report: FlushReport): void {
    const { counters } = this.deps;
    counters.exportedItems += report.exportedItems;
    counters.droppedItems += report.droppedItems;
    if (report.deadlineHit) counters.deadlineHits++;
  }

  private afterFlush(
    kind: FlushKind,
    reason: string,
    startedMs: number,
    deadlineMs: number,
    outcome: FlushOutcome,
  ): void {
    const { clock, settings, counters, health, thaw, logger, targets } = this.deps;
    const now = clock.now();
    const report = outcome.report;
    this.account(report);
    // A thaw seen while it ran, or a return long after its deadline (a live pipeline returns on
    // time): it was frozen mid-request.
    const frozenMidFlush = thaw.lastThawMs > startedMs || now > deadlineMs + settings.thawJumpMs;
    health.learn(kind, reason, now - startedMs, report, frozenMidFlush, outcome.abandoned);
    if (outcome.abandoned) {
      counters.flushesAbandoned++;
      logger?.warn('a flush did not return after its deadline; no longer waiting for it', { reason });
    }
    logger?.debug('flush done', {
      kind,
      reason,
      durationMs: now - startedMs,
      exportedItems: report.exportedItems,
      retryLaterItems: report.retryLaterItems,
      droppedItems: report.droppedItems,
      frozenMidFlush,
    });
    if (this.shuttingDown || this.blockingWaiting) return;
    if (this.queuedReason !== undefined) {
      this.requestBackground(this.queuedReason);
      return;
    }
    if (frozenMidFlush && targets.pending().items > 0) {
      counters.retriesAfterThaw++;
      this.requestBackground('retry-after-thaw');
      return;
    }
    this.deps.onQuiet();
  }
}
