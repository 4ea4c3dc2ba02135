// Waiting that survives freezes: a limit that passes while the environment is frozen is not a
// timeout. Shared by every part of the flush manager that waits for something.

import type { Clock, Scheduler } from '../model/time.js';
import type { Log } from '../model/log.js';

export type Settled<T> = { settled: true; value: T } | { settled: false };

export interface FreezeAwareTime {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** A timer this late means the environment was frozen meanwhile. */
  readonly thawJumpMs: number;
}

/**
 * Waits for a promise until untilMs. A timer that fires late means a freeze happened meanwhile:
 * the promise gets another thawJumpMs after the thaw to settle before it is given up. A rejection
 * counts as not settled.
 */
export function within<T>(time: FreezeAwareTime, promise: Promise<T>, untilMs: number): Promise<Settled<T>> {
  const { clock, scheduler, thawJumpMs } = time;
  return new Promise((resolve) => {
    let done = false;
    let timer: { cancel(): void } | undefined;
    const arm = (untilMs: number): void => {
      // Lateness is measured from when the timer could first fire, not from a limit already past.
      const dueMs = Math.max(untilMs, clock.now());
      timer = scheduler.setTimeout(() => {
        const late = clock.now() - dueMs;
        if (late > thawJumpMs) {
          arm(clock.now() + thawJumpMs);
          return;
        }
        if (done) return;
        done = true;
        resolve({ settled: false });
      }, dueMs - clock.now());
    };
    promise.then(
      (value) => {
        if (done) return;
        done = true;
        timer?.cancel();
        resolve({ settled: true, value });
      },
      () => {
        if (done) return;
        done = true;
        timer?.cancel();
        resolve({ settled: false });
      },
    );
    arm(untilMs);
  });
}

export function sleep(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => scheduler.setTimeout(resolve, ms));
}

/** Runs a user-supplied hook; returns its promise if any, never throws. */
export function callHook(
  logger: Log | undefined,
  name: string,
  hook: () => void | Promise<void>,
): Promise<void> | undefined {
  try {
    const result = hook();
    if (result instanceof Promise) {
      return result.catch((error: unknown) => logger?.warn(`${name} hook failed`, { error: String(error) }));
    }
  } catch (error) {
    logger?.warn(`${name} hook failed`, { error: String(error) });
  }
  return undefined;
}

/** Exponentially weighted moving average; the first value starts it. */
export function ewma(previous: number | undefined, value: number, alpha: number): number {
  return previous === undefined ? value : alpha * value + (1 - alpha) * previous;
}
