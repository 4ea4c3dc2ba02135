// SHUTDOWN: stop intake, let the listener and receiver drain (bounded), give a running flush a
// moment, then flush everything with final=true, and return before deadlineMs − shutdownMarginMs
// whatever the pipeline does. What is left queued is counted as unsent.

import type { ShutdownEvent } from '../lambda/telemetry-events.js';
import type { Clock, Scheduler } from '../model/time.js';
import type { FlushRunner } from './flush-runner.js';
import type { FlushSettings } from './settings.js';
import type { FlushCounters, ShutdownSummary } from './stats.js';
import type { FlushTargets } from './targets.js';
import type { Log } from '../model/log.js';
import { callHook, type FreezeAwareTime, within } from './waiting.js';

export interface FinalFlushDeps {
  clock: Clock;
  scheduler: Scheduler;
  settings: FlushSettings;
  counters: FlushCounters;
  targets: FlushTargets;
  runner: FlushRunner;
  logger: Log | undefined;
  /** SHUTDOWN: stop accepting telemetry and OTLP from the function. */
  onStopIntake?: () => void | Promise<void>;
  /** SHUTDOWN: let the telemetry listener and receiver finish what they hold (bounded by deadlineMs). */
  drain?: (deadlineMs: number) => Promise<void>;
}

/** Never rejects. */
export async function finalFlush(deps: FinalFlushDeps, event: ShutdownEvent): Promise<ShutdownSummary> {
  const { clock, settings, counters, targets, runner, logger } = deps;
  const time: FreezeAwareTime = { clock, scheduler: deps.scheduler, thawJumpMs: settings.thawJumpMs };
  const startMs = clock.now();
  const deadline = event.deadlineMs - settings.shutdownMarginMs;
  const summary: ShutdownSummary = {
    reason: event.shutdownReason,
    exportedItems: 0,
    exportedBytes: 0,
    droppedItems: 0,
    unsentItems: 0,
    unsentBytes: 0,
    deadlineHit: false,
    timedOut: false,
    durationMs: 0,
  };
  try {
    const stopIntake = callHook(logger, 'onStopIntake', () => deps.onStopIntake?.());
    if (stopIntake) await within(time, stopIntake, Math.min(deadline, startMs + settings.drainMaxMs));
    const drainHook = deps.drain;
    if (drainHook) {
      const now = clock.now();
      // Drain gets at most 40 % of what is left: the flush matters more.
      const until = Math.min(deadline, now + settings.drainMaxMs, now + Math.max(0, deadline - now) * 0.4);
      const drained = callHook(logger, 'drain', () => drainHook(until));
      if (drained) await within(time, drained, until);
    }
    const drainedMs = clock.now();
    // A background flush may hold chunks; give it a quarter of the remaining time, then go anyway.
    const now = clock.now();
    await runner.whenIdle(now + Math.max(0, deadline - now) * 0.25);
    counters.finalFlushes++;
    const flushStartMs = clock.now();
    // Straight to the targets, even if an earlier flush hangs: the pipeline pulls that one in to
    // this deadline and runs this one after it.
    const outcome = await targets.flush({ deadlineMs: deadline, reason: 'shutdown', final: true }, deadline);
    const report = outcome.report;
    runner.account(report);
    const left = targets.pending();
    summary.exportedItems = report.exportedItems;
    summary.exportedBytes = report.exportedBytes;
    summary.droppedItems = report.droppedItems;
    summary.unsentItems = Math.max(report.retryLaterItems, left.items);
    summary.unsentBytes = left.bytes;
    summary.deadlineHit = report.deadlineHit || outcome.abandoned;
    summary.timedOut = outcome.abandoned;
    logger?.debug('final flush done', {
      drainMs: drainedMs - startMs,
      flushMs: clock.now() - flushStartMs,
      requests: report.requests,
      exportedItems: report.exportedItems,
    });
  } catch (error) {
    logger?.warn('flush manager failed on SHUTDOWN', { error: String(error) });
  }
  summary.durationMs = clock.now() - startMs;
  return summary;
}
