// The end-of-invocation hold while the backend is degraded (throttling, failing, slow): the flush
// starts as usual but the invocation is released after the hold limit (twice the healthy hold,
// within degradedPostRuntimeMaxMs). What is not delivered by then goes on in the background, across
// the freeze if need be, and any rest is sent by later flushes (the next thaw) within the staleness
// bound.

import type { Clock, Scheduler } from '../model/time.js';
import type { BackendHealth } from './backend-health.js';
import type { FlushRunner } from './flush-runner.js';
import type { FlushSettings } from './settings.js';
import type { FlushCounters } from './stats.js';
import type { Log } from '../model/log.js';
import { within } from './waiting.js';

export interface DegradedHoldDeps {
  clock: Clock;
  scheduler: Scheduler;
  settings: FlushSettings;
  counters: FlushCounters;
  runner: FlushRunner;
  health: BackendHealth;
  logger: Log | undefined;
}

export async function degradedHold(
  deps: DegradedHoldDeps,
  grace: (untilMs: number) => Promise<void>,
  requestId: string,
  doneMs: number,
  hardDeadline: number,
): Promise<void> {
  const { clock, scheduler, settings, counters, runner, health, logger } = deps;
  const limitMs = health.holdLimitMs();
  const releaseMs = Math.min(hardDeadline, doneMs + limitMs);
  counters.degradedHolds++;
  // The grace shares the limit: exports on the wire still get in if they arrive in time.
  await grace(releaseMs);
  counters.graceMsTotal += clock.now() - doneMs;
  let started = false;
  try {
    if (runner.busy) {
      // An earlier flush is still at it (often waiting out a Retry-After): waiting for it would
      // only bill the function. This invocation's data follows it in the background.
      runner.requestBackground('degraded-backend');
      return;
    }
    runner.reserveForBlocking();
    if (!runner.shuttingDown) {
      // As an end flush: an unreachable backend gets one attempt, no backoff (the next flush tries
      // again); a throttling one is waited out within the blocking cap, after the release.
      const flushing = runner.start(
        'blocking',
        'degraded-backend',
        clock.now() + settings.blockingFlushTimeoutMs,
      );
      started = true;
      runner.releaseReservation(false);
      await within({ clock, scheduler, thawJumpMs: settings.thawJumpMs }, flushing, releaseMs);
    }
  } finally {
    runner.releaseReservation(false);
    const heldMs = clock.now() - doneMs;
    counters.postRuntimeMsTotal += heldMs;
    logger?.debug('backend degraded: invocation released early, the flush goes on in the background', {
      requestId,
      heldMs,
      limitMs,
      healthyPostRuntimeMs: health.healthyPostRuntimeMs,
      flushStarted: started,
      flushStillRunning: runner.busy,
    });
  }
}
