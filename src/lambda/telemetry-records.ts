// What each platform record of the Telemetry API must and may hold, one declarative description per
// record type. The parser (telemetry-parse.ts) decodes every type with one generic decoder driven by
// this table; the types below tie each description to its event interface, so a field named here
// that the event does not have, or given the wrong kind, fails to compile.

import type { PlatformSpan, TelemetryEvent, TracingContext } from './telemetry-events.js';

/**
 * How a field is read:
 * - `string`, `number` (finite), `strings` (an array of strings): the value as given;
 * - `error type`: a string, omitted when empty (errorType matters only on failures);
 * - `spans`: the record's phase spans, always present (empty when absent); bad ones dropped, counted;
 * - `tracing`: the X-Ray tracing context.
 */
export type FieldKind = 'string' | 'error type' | 'number' | 'strings' | 'spans' | 'tracing';

/** The kinds that can describe a field of type T. */
type KindFor<T> = T extends string
  ? 'string' | 'error type'
  : T extends number
    ? 'number'
    : T extends readonly PlatformSpan[]
      ? 'spans'
      : T extends readonly string[]
        ? 'strings'
        : T extends TracingContext
          ? 'tracing'
          : never;

/** Required kinds: a value that is absent or of another form drops the whole record. */
type RequiredKindFor<T> = Extract<KindFor<T>, 'string' | 'number' | 'strings'>;

type Fields<E> = { readonly [F in Exclude<keyof E, 'type' | 'timeMs'>]?: KindFor<NonNullable<E[F]>> };

type RequiredFields<E> = {
  readonly [F in Exclude<keyof E, 'type' | 'timeMs'>]?: RequiredKindFor<NonNullable<E[F]>>;
};

export interface RecordDescription<E> {
  /** Fields of the record that must be there, checked in this order (the first bad one names the drop). */
  readonly required?: RequiredFields<E>;
  /** Fields of the record that may be there; one of another form is ignored and counted. */
  readonly optional?: Fields<E>;
  /**
   * Fields read from the record's `metrics` object. When `required` lists any, `metrics` must be an
   * object (checked after the record's own required fields); otherwise a `metrics` that is not an
   * object is ignored and counted.
   */
  readonly metrics?: { readonly required?: RequiredFields<E>; readonly optional?: Fields<E> };
}

/** Platform record types (the `function` and `extension` log lines have their own decoder). */
export type PlatformRecordType = Exclude<TelemetryEvent['type'], 'function' | 'extension' | 'unknown'>;

export type PlatformRecordTable = {
  readonly [T in PlatformRecordType]: RecordDescription<Extract<TelemetryEvent, { type: T }>>;
};

/** The facts initStart and restoreStart carry about the function and its instance. */
const FUNCTION_FACTS = {
  functionName: 'string',
  functionVersion: 'string',
  instanceId: 'string',
  instanceMaxMemory: 'number',
  runtimeVersion: 'string',
  runtimeVersionArn: 'string',
} as const;

export const PLATFORM_RECORDS: PlatformRecordTable = {
  'platform.initStart': {
    required: { initializationType: 'string', phase: 'string' },
    optional: FUNCTION_FACTS,
  },
  'platform.initRuntimeDone': {
    required: { initializationType: 'string', phase: 'string', status: 'string' },
    optional: { spans: 'spans', errorType: 'error type' },
  },
  'platform.initReport': {
    required: { initializationType: 'string', phase: 'string', status: 'string' },
    metrics: { required: { durationMs: 'number' } },
    optional: { spans: 'spans', errorType: 'error type' },
  },
  'platform.start': {
    required: { requestId: 'string' },
    optional: { version: 'string', tracing: 'tracing' },
  },
  'platform.runtimeDone': {
    required: { requestId: 'string', status: 'string' },
    optional: { spans: 'spans', errorType: 'error type', tracing: 'tracing' },
    metrics: { optional: { durationMs: 'number', producedBytes: 'number' } },
  },
  'platform.report': {
    required: { requestId: 'string', status: 'string' },
    metrics: {
      required: { durationMs: 'number' },
      optional: {
        billedDurationMs: 'number',
        memorySizeMB: 'number',
        maxMemoryUsedMB: 'number',
        initDurationMs: 'number',
        restoreDurationMs: 'number',
      },
    },
    optional: { spans: 'spans', errorType: 'error type', tracing: 'tracing' },
  },
  'platform.restoreStart': { optional: FUNCTION_FACTS },
  'platform.restoreRuntimeDone': {
    required: { status: 'string' },
    optional: { spans: 'spans', errorType: 'error type' },
  },
  'platform.restoreReport': {
    required: { status: 'string' },
    optional: { spans: 'spans', errorType: 'error type' },
    metrics: { optional: { durationMs: 'number' } },
  },
  'platform.extension': {
    required: { name: 'string', state: 'string', events: 'strings' },
    optional: { errorType: 'error type' },
  },
  'platform.telemetrySubscription': {
    required: { name: 'string', state: 'string', types: 'strings' },
  },
  'platform.logsDropped': {
    required: { droppedBytes: 'number', droppedRecords: 'number', reason: 'string' },
  },
};
