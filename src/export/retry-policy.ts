// The OTLP/HTTP retry rules: which answers are worth another attempt, how long to wait before it
// (exponential backoff with full jitter, or what the server asked for in Retry-After).

/** 429 and the gateway-style 5xx are transient by the OTLP specification; everything else is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

export interface BackoffPolicy {
  /** First retry waits up to this long. */
  initialMs: number;
  /** No single wait exceeds this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000 };

/**
 * Full jitter: a uniform wait in [0, min(max, initial·2^retry)). Spreads the retries of the many
 * environments a busy function runs in, so a recovering backend is not hit in lockstep.
 */
export function backoffDelayMs(
  retry: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Retry-After as milliseconds from `nowMs`: delta-seconds or an HTTP date. Undefined when absent or
 * unparseable (the caller then falls back to its own backoff); a date in the past means "now" (0).
 */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names a weekday and month; Date.parse alone would also accept "-5" as a year.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const dateMs = Date.parse(text);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}
