// Tunables of the flush manager, their defaults and why, validated once at start-up.

import { FlushConfigError, MAX_TIMER_MS } from './strategy.js';

export interface FlushSettings {
  /**
   * Staleness bound: data should reach the backend within this long of being produced. Adaptive
   * mode flushes in the background only when the next thaw is expected well inside it.
   */
  readonly maxStalenessMs: number;
  /** Pending bytes above which a flush starts at once (while the environment runs). */
  readonly maxPendingBytes: number;
  /**
   * Cadence of background flushes while the environment runs: at most one per interval at the start
   * of an invocation, and a timer for data older than this during long invocations.
   */
  readonly backgroundIntervalMs: number;
  /** Managed Instances (no INVOKE events): background flush cadence. */
  readonly managedInstancesIntervalMs: number;
  /** Adaptive mode goes background only when P(next gap breaks the staleness bound) is at most this. */
  readonly maxTailProbability: number;
  /** After runtimeDone, wait until the local receiver has been quiet this long ... */
  readonly graceQuietMs: number;
  /** ... but never longer than this. */
  readonly graceMaxMs: number;
  /** Longest a blocking (end-of-invocation) flush may hold /event/next: it is billed. */
  readonly blockingFlushTimeoutMs: number;
  /**
   * While the backend is degraded (retryable failures, or slow), the most an invocation is held after
   * runtimeDone; also never more than twice the healthy post-runtime time once that is known.
   */
  readonly degradedPostRuntimeMaxMs: number;
  /** Deadline given to a background flush. */
  readonly backgroundFlushTimeoutMs: number;
  /** Released this long before an INVOKE's deadlineMs: the whole invoke phase counts against it. */
  readonly deadlineMarginMs: number;
  /** SHUTDOWN work ends this long before its deadlineMs (exit and the last log line need time). */
  readonly shutdownMarginMs: number;
  /** Longest wait for the telemetry listener and receiver to drain at SHUTDOWN. */
  readonly drainMaxMs: number;
  /** A timer this late, or this long without any callback, means the environment was frozen. */
  readonly thawJumpMs: number;
  /**
   * No telemetry at all this long after an INVOKE (not even platform.start): the Telemetry API feed
   * is not working, so waiting for runtimeDone would only bill the user.
   */
  readonly telemetrySilenceMs: number;
}

export const DEFAULT_FLUSH_SETTINGS: FlushSettings = {
  // A trace visible within half a minute; Datadog's periodic mode waits 20 s plus the whole gap.
  maxStalenessMs: 30_000,
  // A good batch size for OTLP/HTTP, far below the pipeline's queue limits and 128 MB functions.
  maxPendingBytes: 1_048_576,
  // One request per second per signal at most at 50 invocations/s; age of data ~0.5 s median.
  backgroundIntervalMs: 1_000,
  // Worst staleness = interval + one flush (≤ 10 s) < 30 s; Datadog's 30 s would break the bound.
  managedInstancesIntervalMs: 10_000,
  maxTailProbability: 0.05,
  // runtimeDone already comes ≥ 25 ms (Telemetry API buffering) after the response, so exports made
  // before the response are in; this only catches exports still on the wire.
  graceQuietMs: 20,
  graceMaxMs: 100,
  blockingFlushTimeoutMs: 2_000,
  // A throttling backend must not bill the function: a healthy hold is typically 10–30 ms.
  degradedPostRuntimeMaxMs: 50,
  backgroundFlushTimeoutMs: 10_000,
  deadlineMarginMs: 200,
  shutdownMarginMs: 150,
  drainMaxMs: 500,
  thawJumpMs: 1_000,
  telemetrySilenceMs: 2_000,
};

const POSITIVE: ReadonlySet<keyof FlushSettings> = new Set([
  'maxStalenessMs',
  'maxPendingBytes',
  'backgroundIntervalMs',
  'managedInstancesIntervalMs',
  'blockingFlushTimeoutMs',
  'backgroundFlushTimeoutMs',
  'thawJumpMs',
  'telemetrySilenceMs',
]);

/** Defaults overlaid with the given values; throws FlushConfigError naming the first bad one. */
export function resolveFlushSettings(overrides: Partial<FlushSettings> = {}): FlushSettings {
  const settings: FlushSettings = { ...DEFAULT_FLUSH_SETTINGS };
  for (const [key, value] of Object.entries(overrides) as [keyof FlushSettings, unknown][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_FLUSH_SETTINGS)) throw new FlushConfigError(`unknown flush setting "${key}"`);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new FlushConfigError(
        `flush setting ${key} must be a finite number, got ${JSON.stringify(value)}`,
      );
    }
    (settings as Record<keyof FlushSettings, number>)[key] = value;
  }
  // Defaults that depend on other settings follow them unless given: a short staleness bound or a
  // grace of 0 (both valid configuration) must not turn into an error that stops the extension.
  const derived = settings as Record<keyof FlushSettings, number>;
  if (overrides.backgroundIntervalMs === undefined) {
    derived.backgroundIntervalMs = Math.min(
      DEFAULT_FLUSH_SETTINGS.backgroundIntervalMs,
      Math.max(1, Math.floor(settings.maxStalenessMs / 2)),
    );
  }
  if (overrides.graceQuietMs === undefined) {
    derived.graceQuietMs = Math.min(DEFAULT_FLUSH_SETTINGS.graceQuietMs, Math.max(0, settings.graceMaxMs));
  }
  for (const key of Object.keys(settings) as (keyof FlushSettings)[]) {
    const value = settings[key];
    if (key === 'maxTailProbability') {
      if (value < 0 || value > 1)
        throw new FlushConfigError(`flush setting ${key} must be within 0..1, got ${value}`);
      continue;
    }
    const min = POSITIVE.has(key) ? 1 : 0;
    if (value < min) {
      throw new FlushConfigError(
        `flush setting ${key} must be ${min ? 'positive' : 'zero or more'}, got ${value}`,
      );
    }
    if (key !== 'maxPendingBytes' && value > MAX_TIMER_MS) {
      throw new FlushConfigError(`flush setting ${key} must be at most ${MAX_TIMER_MS} ms, got ${value}`);
    }
  }
  if (settings.backgroundIntervalMs * 2 > settings.maxStalenessMs) {
    throw new FlushConfigError(
      `flush setting backgroundIntervalMs (${settings.backgroundIntervalMs}) must be at most half of maxStalenessMs (${settings.maxStalenessMs})`,
    );
  }
  if (settings.graceQuietMs > settings.graceMaxMs) {
    throw new FlushConfigError(
      `flush setting graceQuietMs (${settings.graceQuietMs}) must not exceed graceMaxMs (${settings.graceMaxMs})`,
    );
  }
  return settings;
}
