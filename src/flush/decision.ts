// The per-INVOKE decision: hold /event/next for an end-of-invocation flush (billed, but nothing is
// left in a frozen environment) or release at once and flush in the background while the
// environment runs (free, but the data of the last invocation before a long pause waits for the
// next thaw). A pure function of its input, so every decision can be logged and replayed.
//
// Adaptive, in order (the first rule that fires wins):
//   no runtimeDone feed      → background: without runtimeDone a hold cannot know when to flush
//   backend failing          → background: a blocking flush would bill the user for timeouts
//   first invocation         → blocking: nothing known about the pace
//   last gap > horizon       → blocking: traffic is slow right now
//   burst-end rate > p       → blocking: idle periods were seen recently
//   upper gap > horizon      → blocking: the pace is changing or irregular
//   flush outlasts function  → blocking: a background flush would be frozen mid-request
//   recent cuts by freezes   → blocking for a while, then try background again
//   near the expected end of a regular burst → blocking
//   otherwise                → background
// horizon = maxStaleness − 2 × backgroundInterval: data held in the background is flushed at the
// next thaw plus at most one interval, and may already be up to one interval old.

import type { ArrivalEstimates } from './arrival-estimator.js';
import type { FlushSettings } from './settings.js';
import type { FlushStrategy } from './strategy.js';
import type { PendingSummary } from '../model/flush-contract.js';

export type FlushMode = 'blocking' | 'background';

export type DecisionReason =
  | 'cold-start'
  | 'slow-traffic'
  | 'idle-risk'
  | 'pace-change'
  | 'flush-outlasts-invocation'
  | 'background-cut'
  | 'burst-tail'
  | 'frequent'
  | 'backend-unhealthy'
  | 'no-runtime-done'
  | 'strategy-end'
  | 'periodic-due'
  | 'periodic-not-due'
  | 'strategy-continuous';

/** Why a background flush starts together with the invocation, if it does. */
export type StartFlushReason = 'interval' | 'thaw' | 'bytes' | 'stale' | 'probe';

export interface DecisionInput {
  strategy: FlushStrategy;
  nowMs: number;
  arrivals: ArrivalEstimates;
  pending: PendingSummary;
  /** Earliest time since the last flush that data was produced that pending() may not count yet. */
  dirtySinceMs: number | undefined;
  lastFlushStartMs: number | undefined;
  /** The environment thawed within the last thawJumpMs. */
  recentThaw: boolean;
  backendUnhealthy: boolean;
  runtimeDoneReliable: boolean;
  /** Background flushes were recently cut by freezes. */
  backgroundCut: boolean;
  /** Moving mean of the runtime's duration (runtimeDone), if known. */
  invocationDurationMs: number | undefined;
  /** Moving mean of how long a flush takes, if known. */
  flushDurationMs: number | undefined;
  settings: Pick<
    FlushSettings,
    'maxStalenessMs' | 'backgroundIntervalMs' | 'maxPendingBytes' | 'maxTailProbability'
  >;
}

export interface DecisionEstimates {
  lastGapMs: number | undefined;
  typicalGapMs: number | undefined;
  upperGapMs: number | undefined;
  burstEndRate: number;
  burstIndex: number;
  burstLengthLow: number | undefined;
  burstLengthHigh: number | undefined;
  horizonMs: number;
  pendingItems: number;
  pendingBytes: number;
  oldestAgeMs: number | undefined;
  sinceLastFlushMs: number | undefined;
  invocationDurationMs: number | undefined;
  flushDurationMs: number | undefined;
}

export interface FlushDecision {
  mode: FlushMode;
  reason: DecisionReason;
  startFlush: StartFlushReason | undefined;
  estimates: DecisionEstimates;
}

/** A freeze shorter than this rarely breaks an HTTP request that straddles it. */
export const BRIEF_FREEZE_MS = 2_000;
/** Blocking from this share of the expected burst length on. */
const BURST_TAIL_FROM = 0.9;
/** A burst running this much longer than any seen is a new pattern: stop treating it as ending. */
const BURST_TAIL_UNTIL = 1.25;

/** Gap after which data held for a background flush would break the staleness bound. */
export function stalenessHorizonMs(
  settings: Pick<FlushSettings, 'maxStalenessMs' | 'backgroundIntervalMs'>,
): number {
  return Math.max(0, settings.maxStalenessMs - 2 * settings.backgroundIntervalMs);
}

export function decide(input: DecisionInput): FlushDecision {
  const { strategy, nowMs, arrivals: a, pending, settings } = input;
  const oldest = minDefined(pending.oldestCreatedAtMs, input.dirtySinceMs);
  const hasData = pending.items > 0 || input.dirtySinceMs !== undefined;
  const sinceLastFlush = input.lastFlushStartMs === undefined ? undefined : nowMs - input.lastFlushStartMs;
  const horizonMs = stalenessHorizonMs(settings);
  const estimates: DecisionEstimates = {
    lastGapMs: a.lastGapMs,
    typicalGapMs: a.typicalGapMs,
    upperGapMs: a.upperGapMs,
    burstEndRate: a.burstEndRate,
    burstIndex: a.burstIndex,
    burstLengthLow: a.burstLengthLow,
    burstLengthHigh: a.burstLengthHigh,
    horizonMs,
    pendingItems: pending.items,
    pendingBytes: pending.bytes,
    oldestAgeMs: oldest === undefined ? undefined : nowMs - oldest,
    sinceLastFlushMs: sinceLastFlush,
    invocationDurationMs: input.invocationDurationMs,
    flushDurationMs: input.flushDurationMs,
  };

  let mode: FlushMode;
  let reason: DecisionReason;
  if (!input.runtimeDoneReliable) {
    mode = 'background';
    reason = 'no-runtime-done';
  } else if (input.backendUnhealthy) {
    mode = 'background';
    reason = 'backend-unhealthy';
  } else {
    switch (strategy.kind) {
      case 'end':
        mode = 'blocking';
        reason = 'strategy-end';
        break;
      case 'periodic': {
        const due = sinceLastFlush === undefined || sinceLastFlush >= strategy.intervalMs;
        mode = due ? 'blocking' : 'background';
        reason = due ? 'periodic-due' : 'periodic-not-due';
        break;
      }
      case 'continuous':
        mode = 'background';
        reason = 'strategy-continuous';
        break;
      case 'adaptive':
        reason = adaptiveReason(input, horizonMs);
        mode = reason === 'frequent' ? 'background' : 'blocking';
        break;
    }
  }

  return {
    mode,
    reason,
    startFlush: startFlushReason(input, mode, hasData, sinceLastFlush, oldest),
    estimates,
  };
}

function adaptiveReason(input: DecisionInput, horizonMs: number): DecisionReason {
  const a = input.arrivals;
  if (a.gaps === 0 || a.lastGapMs === undefined || a.upperGapMs === undefined) return 'cold-start';
  if (a.lastGapMs > horizonMs) return 'slow-traffic';
  if (a.burstEndRate > input.settings.maxTailProbability) return 'idle-risk';
  if (a.upperGapMs > horizonMs) return 'pace-change';
  // A background flush starts with the invocation; if it usually takes longer than the function,
  // the freeze that follows cuts it, and with freezes of seconds the request rarely survives.
  if (
    a.upperGapMs > BRIEF_FREEZE_MS &&
    input.flushDurationMs !== undefined &&
    input.invocationDurationMs !== undefined &&
    input.flushDurationMs > input.invocationDurationMs
  ) {
    return 'flush-outlasts-invocation';
  }
  if (input.backgroundCut) return 'background-cut';
  const low = a.burstLengthLow;
  const high = a.burstLengthHigh;
  if (
    low !== undefined &&
    high !== undefined &&
    low >= 2 &&
    a.burstIndex >= Math.floor(low * BURST_TAIL_FROM) &&
    a.burstIndex <= Math.ceil(high * BURST_TAIL_UNTIL) + 1
  ) {
    return 'burst-tail';
  }
  return 'frequent';
}

function startFlushReason(
  input: DecisionInput,
  mode: FlushMode,
  hasData: boolean,
  sinceLastFlush: number | undefined,
  oldest: number | undefined,
): StartFlushReason | undefined {
  if (!hasData) return undefined;
  const { settings, strategy } = input;
  if (input.pending.bytes >= settings.maxPendingBytes) return 'bytes';
  const interval =
    strategy.kind === 'continuous' || strategy.kind === 'periodic'
      ? strategy.intervalMs
      : settings.backgroundIntervalMs;
  const intervalDue = sinceLastFlush === undefined || sinceLastFlush >= interval;
  if (mode === 'blocking') {
    // The end flush takes everything; start early only for data already past the bound, so it does
    // not also wait for the function to finish.
    const age = oldest === undefined ? 0 : input.nowMs - oldest;
    return age >= settings.maxStalenessMs ? 'stale' : undefined;
  }
  switch (strategy.kind) {
    case 'periodic':
      // Periodic means periodic: between due points, data waits (the thawed timer still runs).
      return undefined;
    case 'continuous':
      if (input.recentThaw) return 'thaw';
      return intervalDue ? 'interval' : undefined;
    default:
      if (input.backendUnhealthy) return intervalDue ? 'probe' : undefined;
      if (input.recentThaw) return 'thaw';
      return intervalDue ? 'interval' : undefined;
  }
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}
