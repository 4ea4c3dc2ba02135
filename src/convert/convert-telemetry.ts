// What the platform and log converters counted, for self-telemetry and the shutdown line. Without it
// a converter exception, a dropped span or a record that could not be encoded would leave no trace in
// production: the converters carry on and only count.

import type { Log } from '../model/log.js';
import type { ObservedCounter } from '../pipeline/self-telemetry.js';
import type { ConverterStats } from './converter.js';
import type { LogConverterStats } from './logs.js';

type Spec = readonly [name: string, description: string, unit: string];

const EVENTS: Spec = [
  'otel_lambda_extension.platform.events',
  'Telemetry API events the platform converter took, by outcome',
  '{event}',
];
const SPANS: Spec = [
  'otel_lambda_extension.platform.spans',
  'Platform spans (invocation, init, restore and their phases), by outcome',
  '{span}',
];
const INVOCATIONS: Spec = [
  'otel_lambda_extension.platform.invocations',
  'Invocations the platform converter tracked, and what happened to them, by event',
  '{invocation}',
];
const LATE: Spec = [
  'otel_lambda_extension.platform.records.late',
  'Records for invocations already exported and forgotten (their metrics still count)',
  '{record}',
];
const CHUNKS: Spec = [
  'otel_lambda_extension.convert.chunks',
  'Encoded chunks the converters handed to the pipeline, by signal',
  '{chunk}',
];
const ENCODE_ERRORS: Spec = [
  'otel_lambda_extension.convert.encode_errors',
  'Batches the converters could not encode (their items are lost), by signal',
  '{batch}',
];
const LOG_RECORDS: Spec = [
  'otel_lambda_extension.logs.records',
  'Log lines from the Telemetry API, by outcome',
  '{record}',
];
const LOG_RECORD_NOTES: Spec = [
  'otel_lambda_extension.logs.records.modified',
  'Log records converted with a change or an addition, by kind',
  '{record}',
];
const RESOURCE_PROBLEMS: Spec = [
  'otel_lambda_extension.resource.problems',
  'Resource settings that could not be used (e.g. a malformed OTEL_RESOURCE_ATTRIBUTES)',
  '{problem}',
];

function push(
  out: ObservedCounter[],
  [name, description, unit]: Spec,
  attributes: Record<string, string>,
  value: number,
): void {
  if (value > 0) out.push({ name, description, unit, attributes, value });
}

/** The platform converter's counters (beyond exported/unsampled spans), cumulative; zero series left out. */
export function platformConverterCounters(s: Readonly<ConverterStats>): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  const handled = s.events - s.unknownEvents - s.rejectedEvents - s.eventErrors;
  push(out, EVENTS, { outcome: 'handled' }, handled);
  push(out, EVENTS, { outcome: 'unknown_type' }, s.unknownEvents);
  push(out, EVENTS, { outcome: 'rejected' }, s.rejectedEvents);
  push(out, EVENTS, { outcome: 'failed' }, s.eventErrors);
  push(out, SPANS, { outcome: 'dropped' }, s.spansDropped);
  push(out, SPANS, { outcome: 'replaced' }, s.phasesReplaced);
  push(out, INVOCATIONS, { event: 'started' }, s.invocations);
  push(out, INVOCATIONS, { event: 'retried' }, s.retries);
  push(out, INVOCATIONS, { event: 'incomplete' }, s.incompleteInvocations);
  push(out, INVOCATIONS, { event: 'evicted_by_count' }, s.evictedByCount);
  push(out, INVOCATIONS, { event: 'evicted_by_age' }, s.evictedByAge);
  push(out, INVOCATIONS, { event: 'adopted' }, s.adoptions);
  push(out, INVOCATIONS, { event: 'kept_for_function' }, s.invocationsKeptForFunction);
  push(out, LATE, {}, s.lateRecords);
  push(out, CHUNKS, { signal: 'traces' }, s.traceChunks);
  push(out, CHUNKS, { signal: 'metrics' }, s.metricsChunks);
  push(out, ENCODE_ERRORS, { converter: 'platform' }, s.encodeErrors);
  return out;
}

/** The log converter's counters, cumulative; zero series left out. */
export function logConverterCounters(s: Readonly<LogConverterStats>): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  push(out, LOG_RECORDS, { outcome: 'converted' }, s.records);
  push(out, LOG_RECORDS, { outcome: 'own_line_skipped' }, s.ownLinesSkipped);
  push(out, LOG_RECORD_NOTES, { kind: 'truncated' }, s.truncated);
  push(out, LOG_RECORD_NOTES, { kind: 'correlated' }, s.correlated);
  push(out, LOG_RECORD_NOTES, { kind: 'platform_line' }, s.platformLines);
  push(out, CHUNKS, { signal: 'logs' }, s.chunks);
  push(out, ENCODE_ERRORS, { converter: 'logs' }, s.encodeErrors);
  return out;
}

/** Resource problems (found once, at start-up) as a counter. */
export function resourceProblemCounters(problems: readonly string[]): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  push(out, RESOURCE_PROBLEMS, {}, problems.length);
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
