// The real clock and timers (both runtimes have setTimeout/setImmediate with unref). A timer due
// during a freeze fires late, after the thaw; the flush manager and the exporter read that lateness
// as a thaw signal.

import type { Clock, Scheduler, TimerHandle } from '../model/time.js';

/** setTimeout's largest delay; a longer one would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = { now: () => Date.now() };

function realTimeout(callback: () => void, delayMs: number, keepAlive: boolean): TimerHandle {
  const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  if (!keepAlive) timer.unref?.();
  return { cancel: () => clearTimeout(timer) };
}

/**
 * Unref'd timers: the extension's servers and its /event/next request keep the process alive, a
 * flush timer never should.
 */
export const systemScheduler: Scheduler = {
  setTimeout: (callback, delayMs) => realTimeout(callback, delayMs, false),
  defer(callback: () => void): void {
    setImmediate(callback);
  },
};

/** Timers that keep the process alive, like the request in flight they bound (export attempts). */
export const requestScheduler: Scheduler = {
  setTimeout: (callback, delayMs) => realTimeout(callback, delayMs, true),
};
