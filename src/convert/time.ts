// Telemetry times are epoch milliseconds (fractional); OTLP wants HrTime [seconds, nanoseconds].

import type { HrTime } from '@opentelemetry/api';

export function msToHrTime(ms: number): HrTime {
  const safe = Number.isFinite(ms) && ms > 0 ? ms : 0;
  let seconds = Math.floor(safe / 1000);
  let nanos = Math.round((safe - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

/**
 * `start` plus a duration in ms, added in integer nanoseconds: epoch ms as a double only holds about
 * a quarter of a microsecond, which would blur sub-millisecond phase durations.
 */
export function hrTimeAfter(start: HrTime, durationMs: number): HrTime {
  const d = Number.isFinite(durationMs) && durationMs > 0 ? durationMs : 0;
  const wholeSeconds = Math.floor(d / 1000);
  let seconds = start[0] + wholeSeconds;
  let nanos = start[1] + Math.round((d - wholeSeconds * 1000) * 1e6);
  while (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}
