// Wall-clock time with sub-millisecond precision. Lambda's telemetry carries fractional
// millisecond durations, and ordering assertions compare timestamps taken microseconds apart,
// so Date.now() alone is too coarse.
import { setTimeout as delay } from 'node:timers/promises';

/** Epoch milliseconds, fractional. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** ISO-8601 with millisecond precision, as Lambda writes `time` and span `start`. */
export function isoTime(epochMs: number): string {
  return new Date(Math.floor(epochMs)).toISOString();
}

/** Durations in telemetry are rounded to microseconds, like Lambda's. */
export function roundMs(ms: number): number {
  return Math.round(Math.max(0, ms) * 1000) / 1000;
}

export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/** Waits for `promise` at most `ms` (without keeping a timer alive afterwards). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}
