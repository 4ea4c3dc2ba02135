// The platform converter's counters, for self-telemetry and the shutdown line.

export interface ConverterStats {
  /** Telemetry events ingested (all types). */
  events: number;
  /** Events of a type this version does not know (kept by the parser as `unknown`). */
  unknownEvents: number;
  /** Events dropped because a required field was unusable (e.g. no requestId). */
  rejectedEvents: number;
  /** Events whose handling failed unexpectedly; the converter carried on. */
  eventErrors: number;
  invocations: number;
  spansExported: number;
  /** Spans not exported because the sampler dropped them. */
  spansUnsampled: number;
  /** Invocations the sampler dropped whose function spans came: exported after all (never an orphan). */
  invocationsKeptForFunction: number;
  /** Spans dropped because no collect came for too long (outbox bound, no sink), or failed to encode. */
  spansDropped: number;
  /** Spans dropped because the memory budget refused to hold them (reason memory_budget). */
  spansOverBudget: number;
  /** Invocations the memory budget refused to hold: their spans are dropped, their metrics still count. */
  invocationsOverBudget: number;
  /** Bytes (estimated) held now for spans not yet encoded, counted against the memory budget. */
  heldBytes: number;
  /** Bytes (estimated) of the metric series aggregated now, counted against the memory budget. */
  heldMetricBytes: number;
  /** New metric series the memory budget refused: their measurements went to the overflow series. */
  metricSeriesOverBudget: number;
  /** Invocation spans exported without an end record. */
  incompleteInvocations: number;
  evictedByCount: number;
  evictedByAge: number;
  /** Records for invocations already forgotten; their metrics still count. */
  lateRecords: number;
  adoptions: number;
  /** Invocations that reused a known requestId (Lambda's retries of asynchronous invocations). */
  retries: number;
  /** Init spans dropped because a SnapStart restore replaced the environment. */
  phasesReplaced: number;
  traceChunks: number;
  metricsChunks: number;
  encodeErrors: number;
}

export function newConverterStats(): ConverterStats {
  return {
    events: 0,
    unknownEvents: 0,
    rejectedEvents: 0,
    eventErrors: 0,
    invocations: 0,
    spansExported: 0,
    spansUnsampled: 0,
    invocationsKeptForFunction: 0,
    spansDropped: 0,
    spansOverBudget: 0,
    invocationsOverBudget: 0,
    heldBytes: 0,
    heldMetricBytes: 0,
    metricSeriesOverBudget: 0,
    incompleteInvocations: 0,
    evictedByCount: 0,
    evictedByAge: 0,
    lateRecords: 0,
    adoptions: 0,
    retries: 0,
    phasesReplaced: 0,
    traceChunks: 0,
    metricsChunks: 0,
    encodeErrors: 0,
  };
}
