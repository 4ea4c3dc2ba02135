// Attempts of one requestId: Lambda reuses the requestId when it retries an asynchronous
// invocation, and redelivers batches of records. A record for a known requestId is a redelivery (the
// same times again), a new attempt (a later time than the known attempt already has), or a late
// record of the previous attempt.

import type { Invocation } from './invocations.js';

export type RecordKind = 'invoke' | 'start' | 'runtimeDone' | 'report';

/** Lag allowed between an invocation's start and the extension reading its INVOKE. */
const ATTEMPT_SLACK_MS = 1000;

/**
 * A record older than the current attempt: its start redelivered, or an end record from before the
 * current attempt began (its INVOKE is read with the extension's clock, so allow for delivery lag;
 * Lambda retries come a minute or more apart).
 */
export function belongsToPrevious(
  inv: Invocation,
  previous: Invocation,
  kind: RecordKind,
  timeMs: number,
): boolean {
  if (kind === 'invoke') return false;
  if (kind === 'start') return timeMs === previous.startMs;
  return timeMs < (inv.startMs ?? inv.firstSeenMs - ATTEMPT_SLACK_MS);
}

export function isNewAttempt(
  inv: Invocation,
  kind: RecordKind,
  timeMs: number,
  deadlineMs: number | undefined,
): boolean {
  switch (kind) {
    case 'invoke':
      // No time on INVOKE: a different deadline, or an attempt already gone out, means another one.
      return (
        (inv.deadlineMs !== undefined && deadlineMs !== undefined && deadlineMs !== inv.deadlineMs) ||
        inv.exported
      );
    case 'start':
      return inv.startMs !== undefined && timeMs > inv.startMs && timeMs > (inv.endMs ?? inv.startMs);
    case 'runtimeDone':
      return inv.runtimeDoneMs !== undefined && timeMs > inv.runtimeDoneMs;
    case 'report':
      return inv.reportMs !== undefined && timeMs > inv.reportMs;
  }
}
