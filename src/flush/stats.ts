// What the flush manager reports: its counters, each decision, and the SHUTDOWN summary.

import type { FlushDecision } from './decision.js';

export interface DecisionRecord extends FlushDecision {
  atMs: number;
  requestId: string;
  strategy: string;
}

export interface ShutdownSummary {
  reason: string;
  exportedItems: number;
  exportedBytes: number;
  droppedItems: number;
  /** Left queued when the extension exits: lost. */
  unsentItems: number;
  unsentBytes: number;
  /** The final flush ran out of time. */
  deadlineHit: boolean;
  /** A target did not even return by the deadline. */
  timedOut: boolean;
  durationMs: number;
}

export interface FlushStats {
  /** Decisions by `mode/reason`, e.g. `blocking/cold-start`, `background/frequent`. */
  decisions: Readonly<Record<string, number>>;
  blockingFlushes: number;
  backgroundFlushes: number;
  finalFlushes: number;
  thawsDetected: number;
  /** Flushes started right after a thaw because an earlier one was frozen mid-request. */
  retriesAfterThaw: number;
  /** Blocking holds released at the deadline without runtimeDone. */
  runtimeDoneTimeouts: number;
  /** Holds given up because no telemetry came at all. */
  telemetrySilences: number;
  /** Blocking flushes not run: an earlier flush still busy at the deadline. */
  blockingFlushesSkipped: number;
  /** Flushes that had not returned well after their deadline and were no longer waited for. */
  flushesAbandoned: number;
  /** Time held after runtimeDone (grace + flush): what the extension added to billed duration. */
  postRuntimeMsTotal: number;
  /**
   * Holds shortened because the backend was degraded (throttling, failing, slow): the flush went on
   * in the background after at most degradedPostRuntimeMaxMs (and twice the healthy hold).
   */
  degradedHolds: number;
  graceMsTotal: number;
  exportedItems: number;
  droppedItems: number;
  deadlineHits: number;
}

/** The counters, written by the parts of the flush manager that own each event. */
export type FlushCounters = Omit<FlushStats, 'decisions'>;

export function newFlushCounters(): FlushCounters {
  return {
    blockingFlushes: 0,
    backgroundFlushes: 0,
    finalFlushes: 0,
    thawsDetected: 0,
    retriesAfterThaw: 0,
    runtimeDoneTimeouts: 0,
    telemetrySilences: 0,
    blockingFlushesSkipped: 0,
    flushesAbandoned: 0,
    postRuntimeMsTotal: 0,
    degradedHolds: 0,
    graceMsTotal: 0,
    exportedItems: 0,
    droppedItems: 0,
    deadlineHits: 0,
  };
}
