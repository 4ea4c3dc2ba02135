// What Lambda bills for an invocation, from what the simulator measured: since August 2025 the init
// phase of an on-demand cold start is billed with the invocation that follows it, and the time
// extensions hold after the response (post-runtime) is billed too. Lambda rounds the sum up to the
// next millisecond.

import type { InvocationResult } from '../../tools/simulator/types.js';

/** Lambda's rounding: up to the next whole millisecond (1 ms granularity). */
export function billedMs(ms: number): number {
  // Sums of float timestamps can land a hair above a whole number (12.000000001 is 12 ms).
  return Math.max(0, Math.ceil(ms - 1e-6));
}

export interface InvocationBill {
  /** Invocation start → response end: the function's own part of the duration. */
  runtimeMs: number;
  /** Response end → last extension's /event/next (0 when none held on). */
  postRuntimeMs: number;
  /** The init phase billed with this invocation (0 when warm). */
  initMs: number;
  /** billedMs(init + runtime + post-runtime): the invocation's billed duration. */
  billedMs: number;
  /**
   * What the post-runtime time added to the bill: billedMs minus billedMs(init + runtime). Between
   * 0 and ⌈post-runtime⌉, because of the rounding.
   */
  postRuntimeBilledMs: number;
}

/**
 * The bill of one invocation. The simulator's `durationMs` (as Lambda's report) already runs to the
 * last extension's /event/next, so the function's part is taken from the response timestamp, never
 * added twice.
 */
export function invocationBill(result: InvocationResult, initMs = 0): InvocationBill {
  const post = result.postRuntimeExtensionsDurationMs ?? 0;
  const responseEnd = result.timestamps.runtimeResponseMs;
  const runtimeMs =
    responseEnd !== undefined
      ? responseEnd - result.timestamps.startMs
      : Math.max(0, result.durationMs - post);
  const billed = billedMs(initMs + runtimeMs + post);
  return {
    runtimeMs,
    postRuntimeMs: post,
    initMs,
    billedMs: billed,
    postRuntimeBilledMs: billed - billedMs(initMs + runtimeMs),
  };
}
