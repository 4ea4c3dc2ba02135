// What the platform and log converters counted, for self-telemetry and the shutdown line. Without it
// a converter exception, a dropped span or a record that could not be encoded would leave no trace in
// production: the converters carry on and only count.

import type { Log } from '../model/log.js';
import { type CounterSpec, type ObservedCounter, pushNonZero } from '../pipeline/self-telemetry.js';
import type { ConverterStats } from './converter.js';
import type { LogConverterStats } from './logs.js';

const EVENTS: CounterSpec = [
  'otel_lambda_extension.platform.events',
  'Telemetry API events the platform converter took, by outcome',
  '{event}',
];
const SPANS: CounterSpec = [
  'otel_lambda_extension.platform.spans',
  'Platform spans (invocation, init, restore and their phases), by outcome',
  '{span}',
];
const INVOCATIONS: CounterSpec = [
  'otel_lambda_extension.platform.invocations',
  'Invocations the platform converter tracked, and what happened to them, by event',
  '{invocation}',
];
const LATE: CounterSpec = [
  'otel_lambda_extension.platform.records.late',
  'Records for invocations already exported and forgotten (their metrics still count)',
  '{record}',
];
const CHUNKS: CounterSpec = [
  'otel_lambda_extension.convert.chunks',
  'Encoded chunks the converters handed to the pipeline, by signal',
  '{chunk}',
];
const ENCODE_ERRORS: CounterSpec = [
  'otel_lambda_extension.convert.encode_errors',
  'Batches the converters could not encode (their items are lost), by signal',
  '{batch}',
];
const LOG_RECORDS: CounterSpec = [
  'otel_lambda_extension.logs.records',
  'Log lines from the Telemetry API, by outcome',
  '{record}',
];
const LOG_RECORD_NOTES: CounterSpec = [
  'otel_lambda_extension.logs.records.modified',
  'Log records converted with a change or an addition, by kind',
  '{record}',
];
const RESOURCE_PROBLEMS: CounterSpec = [
  'otel_lambda_extension.resource.problems',
  'Resource settings that could not be used (e.g. a malformed OTEL_RESOURCE_ATTRIBUTES)',
  '{problem}',
];

/** The platform converter's counters (beyond exported/unsampled spans), cumulative; zero series left out. */
export function platformConverterCounters(s: Readonly<ConverterStats>): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  const handled = s.events - s.unknownEvents - s.rejectedEvents - s.eventErrors;
  pushNonZero(out, EVENTS, { outcome: 'handled' }, handled);
  pushNonZero(out, EVENTS, { outcome: 'unknown_type' }, s.unknownEvents);
  pushNonZero(out, EVENTS, { outcome: 'rejected' }, s.rejectedEvents);
  pushNonZero(out, EVENTS, { outcome: 'failed' }, s.eventErrors);
  pushNonZero(out, SPANS, { outcome: 'dropped' }, s.spansDropped);
  pushNonZero(out, SPANS, { outcome: 'replaced' }, s.phasesReplaced);
  pushNonZero(out, INVOCATIONS, { event: 'started' }, s.invocations);
  pushNonZero(out, INVOCATIONS, { event: 'retried' }, s.retries);
  pushNonZero(out, INVOCATIONS, { event: 'incomplete' }, s.incompleteInvocations);
  pushNonZero(out, INVOCATIONS, { event: 'evicted_by_count' }, s.evictedByCount);
  pushNonZero(out, INVOCATIONS, { event: 'evicted_by_age' }, s.evictedByAge);
  pushNonZero(out, INVOCATIONS, { event: 'adopted' }, s.adoptions);
  pushNonZero(out, INVOCATIONS, { event: 'kept_for_function' }, s.invocationsKeptForFunction);
  pushNonZero(out, LATE, {}, s.lateRecords);
  pushNonZero(out, CHUNKS, { signal: 'traces' }, s.traceChunks);
  pushNonZero(out, CHUNKS, { signal: 'metrics' }, s.metricsChunks);
  pushNonZero(out, ENCODE_ERRORS, { converter: 'platform' }, s.encodeErrors);
  return out;
}

/** The log converter's counters, cumulative; zero series left out. */
export function logConverterCounters(s: Readonly<LogConverterStats>): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  pushNonZero(out, LOG_RECORDS, { outcome: 'converted' }, s.records);
  pushNonZero(out, LOG_RECORDS, { outcome: 'own_line_skipped' }, s.ownLinesSkipped);
  pushNonZero(out, LOG_RECORD_NOTES, { kind: 'truncated' }, s.truncated);
  pushNonZero(out, LOG_RECORD_NOTES, { kind: 'correlated' }, s.correlated);
  pushNonZero(out, LOG_RECORD_NOTES, { kind: 'platform_line' }, s.platformLines);
  pushNonZero(out, CHUNKS, { signal: 'logs' }, s.chunks);
  pushNonZero(out, ENCODE_ERRORS, { converter: 'logs' }, s.encodeErrors);
  return out;
}

/** Resource problems (found once, at start-up) as a counter. */
export function resourceProblemCounters(problems: readonly string[]): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  pushNonZero(out, RESOURCE_PROBLEMS, {}, problems.length);
  return out;
}

/** One entry of the shutdown line's problems clause; `loss` when telemetry was lost or a component failed. */
export interface Problem {
  readonly text: string;
  readonly loss: boolean;
}

/**
 * The converters' problems for the shutdown line: only what is non-zero, e.g.
 * `platform events failed 2`, `platform spans dropped 40`, `log records truncated 3`.
 */
export function convertProblems(
  platform: Readonly<ConverterStats>,
  logs: Readonly<LogConverterStats> | undefined,
  resourceProblems: readonly string[],
): Problem[] {
  const out: Problem[] = [];
  const add = (label: string, n: number, loss: boolean) => {
    if (n > 0) out.push({ text: `${label} ${n}`, loss });
  };
  add('platform events failed', platform.eventErrors, true);
  add('platform events rejected', platform.rejectedEvents, false);
  add('platform events of unknown type', platform.unknownEvents, false);
  add('platform spans dropped', platform.spansDropped, true);
  add('platform encode errors', platform.encodeErrors, true);
  add('invocations incomplete', platform.incompleteInvocations, false);
  add('invocations evicted', platform.evictedByCount + platform.evictedByAge, false);
  add('late records', platform.lateRecords, false);
  if (logs) {
    add('log records truncated', logs.truncated, false);
    add('log encode errors', logs.encodeErrors, true);
  }
  add('resource problems', resourceProblems.length, false);
  return out;
}

/**
 * Logs the platform converter's unexpected failures as they are counted: the first at once, then
 * every hundredth (all are counted). Call it after handing the converter a batch.
 */
export function converterFailureLog(
  log: Log,
): (stats: Readonly<ConverterStats>, lastFailure: string | undefined) => void {
  let seen = 0;
  return (stats, lastFailure) => {
    const failures = stats.eventErrors;
    if (failures === seen) return;
    const first = seen === 0;
    const crossed = Math.floor(failures / 100) > Math.floor(seen / 100);
    seen = failures;
    if (first || crossed) {
      log.error(
        `platform converter: an event could not be handled; the converter carried on (${failures} so far): ${lastFailure ?? 'unknown error'}`,
      );
    }
  };
}
