// The real clock and timers (both runtimes have setTimeout/setImmediate with unref).

import type { Clock, Scheduler, TimerHandle } from '../model/time.js';

export const systemClock: Clock = { now: () => Date.now() };

export const systemScheduler: Scheduler = {
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
  defer(callback: () => void): void {
    setImmediate(callback);
  },
};
