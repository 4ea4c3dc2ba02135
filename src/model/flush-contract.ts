// What the flush manager asks of the export pipeline, and what it gets back. Shared by flush/,
// pipeline/ and the tools that replay flush decisions; it imports nothing of ours.

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
  /** Items delivered; a chunk delivered to two destinations counts twice. */
  exportedItems: number;
  /** Uncompressed bytes delivered. */
  exportedBytes: number;
  /** HTTP requests sent. */
  requests: number;
  /** Items back in the queues for the next flush (retryable failures, deadline). */
  retryLaterItems: number;
  /** Items dropped since the previous flush report (queue overflow between flushes included). */
  droppedItems: number;
  /** The same drops by reason: queue_full, http_<status>, payload_too_large, no_destination, … */
  droppedByReason?: Record<string, number>;
  durationMs: number;
  /** True when the deadline, not the destinations, stopped delivery. */
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
