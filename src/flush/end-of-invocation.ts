// The blocking end-of-invocation flush: the extension holds /event/next until this request's
// platform.runtimeDone (the function's work is complete), a short grace for the function's last OTLP
// exports, and the flush; always released before the INVOKE's deadline (the whole invoke phase
// counts against the function's timeout). A degraded backend shortens the hold (degraded-hold.ts).

import type { InvokeEvent } from '../lambda/telemetry-events.js';
import type { Clock, Scheduler } from '../model/time.js';
import type { BackendHealth } from './backend-health.js';
import type { BackgroundSchedule } from './background-schedule.js';
import { degradedHold } from './degraded-hold.js';
import type { FlushRunner } from './flush-runner.js';
import type { RuntimeDoneWatch } from './runtime-done.js';
import type { FlushSettings } from './settings.js';
import type { FlushCounters } from './stats.js';
import type { ThawDetector } from './thaw-detector.js';
import type { Log } from '../model/log.js';
import { type FreezeAwareTime, sleep, within } from './waiting.js';

export interface EndOfInvocationDeps {
  clock: Clock;
  scheduler: Scheduler;
  settings: FlushSettings;
  counters: FlushCounters;
  runner: FlushRunner;
  health: BackendHealth;
  thaw: ThawDetector;
  runtimeDone: RuntimeDoneWatch;
  schedule: BackgroundSchedule;
  logger: Log | undefined;
}

export class EndOfInvocationHold {
  private receiverEverActive = false;
  private lastReceiverActivityMs = Number.NEGATIVE_INFINITY;
  private readonly time: FreezeAwareTime;

  constructor(private readonly deps: EndOfInvocationDeps) {
    this.time = { clock: deps.clock, scheduler: deps.scheduler, thawJumpMs: deps.settings.thawJumpMs };
  }

  /** The local receiver accepted an export from the function at now. */
  onFunctionExport(now: number): void {
    this.receiverEverActive = true;
    this.lastReceiverActivityMs = now;
  }

  async hold(event: InvokeEvent, invokeMs: number): Promise<void> {
    const { clock, settings, counters, runtimeDone, health, thaw, schedule, logger } = this.deps;
    thaw.holding = true;
    const hardDeadline = event.deadlineMs - settings.deadlineMarginMs;
    try {
      const end = await runtimeDone.wait(event.requestId, invokeMs, hardDeadline);
      if (end === 'shutdown') return;
      if (end === 'deadline') {
        // The function is running into its timeout (SHUTDOWN follows and flushes), or the feed lost
        // the event. Without any telemetry since the INVOKE, it is the feed.
        counters.runtimeDoneTimeouts++;
        const feedSilent = !runtimeDone.telemetrySince(event.requestId, invokeMs);
        logger?.warn('no runtimeDone before the invocation deadline; releasing without flushing', {
          requestId: event.requestId,
          feedSilent,
        });
        if (feedSilent) runtimeDone.markUnreliable();
        return;
      }
      if (end === 'silent') {
        counters.telemetrySilences++;
        runtimeDone.markUnreliable();
        this.deps.runner.requestBackground('no-runtime-done');
        return;
      }
      const doneMs = clock.now();
      if (health.degraded) {
        await degradedHold(this.deps, (until) => this.grace(until), event.requestId, doneMs, hardDeadline);
        return;
      }
      await this.grace(hardDeadline);
      counters.graceMsTotal += clock.now() - doneMs;
      const flushDeadline = Math.min(hardDeadline, clock.now() + settings.blockingFlushTimeoutMs);
      const failed = await this.blockingFlush('end-of-invocation', flushDeadline, hardDeadline, doneMs);
      const heldMs = clock.now() - doneMs;
      counters.postRuntimeMsTotal += heldMs;
      if (!failed && !health.degraded) health.healthyHold(heldMs);
    } finally {
      thaw.holding = false;
      thaw.alive(clock.now());
      // The freeze follows; leave no timer behind unless there is something to flush after it.
      if (!schedule.hasData()) schedule.cancel();
    }
  }

  /** Waits until the receiver has been quiet for graceQuietMs, at most graceMaxMs. */
  private async grace(hardDeadline: number): Promise<void> {
    if (!this.receiverEverActive) return; // The function exports nothing over OTLP: no one to wait for.
    const { clock, scheduler, settings } = this.deps;
    const { graceQuietMs, graceMaxMs } = settings;
    const until = Math.min(hardDeadline, clock.now() + graceMaxMs);
    for (;;) {
      const now = clock.now();
      const quietFor = now - this.lastReceiverActivityMs;
      if (quietFor >= graceQuietMs || now >= until) return;
      await sleep(scheduler, Math.min(graceQuietMs - quietFor, until - now));
    }
  }

  /** Returns whether the backend failed during the flush. */
  private async blockingFlush(
    reason: string,
    flushDeadline: number,
    hardDeadline: number,
    doneMs: number,
  ): Promise<boolean> {
    const { clock, counters, runner, health, logger } = this.deps;
    let failed = false;
    runner.reserveForBlocking();
    try {
      await runner.whenIdle(flushDeadline);
      if (runner.busy || clock.now() >= flushDeadline) {
        counters.blockingFlushesSkipped++;
        logger?.debug('blocking flush skipped: an earlier flush is still running', { reason });
        return failed;
      }
      // The backend failing during the flush (429, 5xx, no answer) ends the wait early: it may add
      // only a short hold to the invocation; the flush itself goes on in the background.
      let degraded: (() => void) | undefined;
      const degradedSeen = new Promise<'degraded'>((resolve) => {
        degraded = () => resolve('degraded');
      });
      const onRetryableFailure = (): void => {
        failed = true;
        degraded?.();
      };
      const flushing = runner.start('blocking', reason, flushDeadline, onRetryableFailure);
      runner.releaseReservation(false);
      // The pipeline honours the deadline; this bound is for a pipeline that does not.
      const boundMs = Math.min(hardDeadline, flushDeadline + 100);
      const first = await within(this.time, Promise.race([flushing, degradedSeen]), boundMs);
      if (first.settled && first.value === 'degraded') {
        const limitMs = health.holdLimitMs();
        counters.degradedHolds++;
        const result = await within(this.time, flushing, Math.min(boundMs, doneMs + limitMs));
        logger?.debug('backend degraded during the end flush: invocation released early', {
          reason,
          heldMs: clock.now() - doneMs,
          limitMs,
          flushStillRunning: !result.settled,
        });
      }
      return failed;
    } finally {
      runner.releaseReservation(true);
    }
  }
}
