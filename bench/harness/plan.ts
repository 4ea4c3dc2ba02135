// What a run measures and how long it takes: the full plan (`make bench`, a few minutes per
// extension) and the quick smoke plan (`--quick`, one repetition of tiny patterns).

import { REALISTIC_BACKEND_RTT_MS } from '../../tools/otlp/backend-distance.js';
import type { PatternSpec } from './environments.js';

export interface BenchPlan {
  mode: 'full' | 'quick';
  /**
   * Function memory settings, MB: every environment runs under the simulator's resource model at
   * each of them (CPU = memory / 1,769 of one CPU, memory limit = the setting).
   */
  memorySizesMB: number[];
  /** No CPU quota (--unthrottled): only for telling the model's effect apart. */
  unthrottled: boolean;
  /**
   * The OTLP backend's distance: network round trip (ms; every request pays it, a new connection one
   * more) and HTTPS, so a flush the function waits for costs what it costs on Lambda.
   */
  backend: { roundTripMs: number; tls: boolean };
  /** Each pattern runs this many times, each time in a fresh environment. */
  repetitions: number;
  /** Extra cold starts measured on their own (every pattern environment adds one too). */
  initOnlyStarts: number;
  /**
   * Environments of the function alone (cold start, then `baselineInvocations` invocations), per
   * memory size: the init phase and Max Memory Used the extension's figures are taken against.
   */
  baselineStarts: number;
  baselineInvocations: number;
  patterns: PatternSpec[];
  /** Fixture handler and its payload: function log lines on every invocation. */
  handler: string;
  payload: { lines: number; size: number };
  convertRuns: number;
  convertInvocations: number;
  receiverRuns: number;
  receiverSecondsPerCase: number;
  receiverConnections: number;
}

/** Real frozen idle standing in for a minute between invocations. */
const COMPRESSED_MINUTE_MS = 3_000;

function perMinute(intervalMs: number, measured: number): PatternSpec {
  return {
    id: 'perMinute',
    label: '1/min (compressed)',
    intervalMs,
    warmup: 0,
    measured,
    // The adaptive flush goes background when the next thaw is expected well inside the staleness
    // bound (30 s). With the minute compressed to seconds it would, unlike on Lambda; the lowest
    // bound keeps it deciding as it does at one invocation a minute (flush before /event/next).
    projectEnv: { LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: '1000' },
    note:
      `time-compressed: ${intervalMs / 1000} s of real frozen idle between invocations stand for a minute; ` +
      "this project's extension runs with flush.max_staleness_ms=1000 so it flushes as it would at one a minute",
  };
}

export function fullPlan(): BenchPlan {
  return {
    mode: 'full',
    memorySizesMB: [128, 1769],
    unthrottled: false,
    backend: { roundTripMs: REALISTIC_BACKEND_RTT_MS, tls: true },
    repetitions: 3,
    initOnlyStarts: 2,
    baselineStarts: 3,
    baselineInvocations: 3,
    patterns: [
      perMinute(COMPRESSED_MINUTE_MS, 4),
      { id: 'perSecond', label: '1/s', intervalMs: 1_000, warmup: 2, measured: 12 },
      { id: 'fiftyPerSecond', label: '50/s', intervalMs: 20, warmup: 10, measured: 300 },
    ],
    handler: 'logs.mjs',
    payload: { lines: 4, size: 120 },
    convertRuns: 3,
    convertInvocations: 100_000,
    receiverRuns: 3,
    receiverSecondsPerCase: 2,
    receiverConnections: 4,
  };
}

export function quickPlan(): BenchPlan {
  return {
    mode: 'quick',
    memorySizesMB: [128, 1769],
    unthrottled: false,
    backend: { roundTripMs: REALISTIC_BACKEND_RTT_MS, tls: true },
    repetitions: 1,
    initOnlyStarts: 0,
    baselineStarts: 1,
    baselineInvocations: 2,
    patterns: [
      perMinute(1_000, 2),
      { id: 'perSecond', label: '1/s', intervalMs: 1_000, warmup: 1, measured: 2 },
      { id: 'fiftyPerSecond', label: '50/s', intervalMs: 20, warmup: 5, measured: 40 },
    ],
    handler: 'logs.mjs',
    payload: { lines: 4, size: 120 },
    convertRuns: 1,
    convertInvocations: 5_000,
    receiverRuns: 1,
    receiverSecondsPerCase: 0.3,
    receiverConnections: 4,
  };
}
