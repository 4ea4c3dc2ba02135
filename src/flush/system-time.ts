// The real clock and timers. Timers are unref'd: the extension's servers and its /event/next request
// keep the process alive, a flush timer never should. A timer due during a freeze fires late, after
// the thaw; the flush manager reads that lateness as a thaw signal.

import { MAX_TIMER_MS } from './strategy.js';
import type { Clock, Scheduler, TimerHandle } from '../model/time.js';

export const systemClock: Clock = { now: () => Date.now() };

export const systemScheduler: Scheduler = {
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  defer(callback: () => void): void {
    setImmediate(callback);
  },
};
