// The seams the flush manager works through. The export pipeline, the clock and the timers are
// injected so that the decision and the freeze-safety logic run in virtual time in tests.

/** What the export pipeline holds right now. May under-count: producers are pulled only at flush time. */
export interface PendingSummary {
  items: number;
  bytes: number;
  /** Epoch ms of the oldest queued item, undefined when nothing is queued. */
  oldestCreatedAtMs: number | undefined;
}

export interface FlushRequest {
  /** Epoch ms by which the flush must have returned; each export attempt is bounded by it. */
  deadlineMs: number;
  /** Why the flush runs (end-of-invocation, periodic, shutdown, …); a self-telemetry attribute. */
  reason: string;
  /** SHUTDOWN or an explicit drain: every producer hands over everything (collect with final=true). */
  final?: boolean;
  /**
   * The flush holds the invocation (Lambda bills it): a destination that cannot be reached gets one
   * attempt and what failed stays queued for a later flush, instead of keeping the function waiting.
   */
  inInvocationPath?: boolean;
  /**
   * Called at the first attempt of this flush that the backend answers with a retryable failure (or
   * does not answer): the flush manager stops holding the invocation for it.
   */
  onRetryableFailure?: () => void;
}

export interface FlushReport {
  exportedItems: number;
  exportedBytes: number;
  requests: number;
  /** Still queued after the flush (deadline reached, retryable failure): sent by a later flush. */
  retryLaterItems: number;
  droppedItems: number;
  durationMs: number;
  deadlineHit: boolean;
  /**
   * Attempts the backend answered with a retryable failure (429, 5xx) or did not answer (timeout,
   * connection error): the backend is degraded even when later attempts succeed.
   */
  failedAttempts?: number;
}

/**
 * The export pipeline as the flush manager sees it. flush() never rejects; what it could not send
 * by the deadline stays queued. It also pulls producers (held spans, metric aggregations).
 */
export interface FlushTarget {
  pending(): PendingSummary;
  flush(request: FlushRequest): Promise<FlushReport>;
}

/** Epoch milliseconds (wall clock: it is compared with Lambda's deadlineMs and item timestamps). */
export interface Clock {
  now(): number;
}

export interface TimerHandle {
  cancel(): void;
}

/** One-shot timers. The real one is unref'd: a timer never keeps the process alive. */
export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /**
   * Runs the callback once the current I/O callbacks are done (setImmediate): for work that must not
   * delay the extension's answer to Lambda. Optional; without it the callback runs at once.
   */
  defer?(callback: () => void): void;
}

export interface FlushLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}
