// Platform metrics aggregated inside the extension (one environment, one aggregation) and handed
// out as one ResourceMetrics per collect. Counters are monotonic sums, durations and sizes explicit-
// bucket histograms; attributes are low-cardinality only (no request ids), with a per-instrument
// series limit folding the excess into `otel.metric.overflow=true`.

import type { Attributes } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  ATTR_AWS_LAMBDA_DURABLE,
  ATTR_AWS_LAMBDA_INITIALIZATION_TYPE,
  ATTR_ERROR_TYPE,
  ATTR_FAAS_COLDSTART,
  ATTR_FAAS_TRIGGER,
  FAAS_TRIGGER_OTHER,
  METRIC_AWS_LAMBDA_BILLED_DURATION,
  METRIC_AWS_LAMBDA_LOGS_DROPPED,
  METRIC_AWS_LAMBDA_LOGS_DROPPED_BYTES,
  METRIC_AWS_LAMBDA_OUT_OF_MEMORY,
  METRIC_AWS_LAMBDA_POST_RUNTIME_DURATION,
  METRIC_AWS_LAMBDA_PRODUCED_BYTES,
  METRIC_AWS_LAMBDA_RESPONSE_LATENCY,
  METRIC_AWS_LAMBDA_RESTORE_DURATION,
  METRIC_FAAS_COLDSTARTS,
  METRIC_FAAS_ERRORS,
  METRIC_FAAS_INIT_DURATION,
  METRIC_FAAS_INVOCATIONS,
  METRIC_FAAS_INVOKE_DURATION,
  METRIC_FAAS_MEM_USAGE,
  METRIC_FAAS_TIMEOUTS,
} from './semconv.js';
import type { HeldMemory } from './held-memory.js';
import {
  counter,
  DURATION_BUCKETS_S,
  histogram,
  type Instrument,
  MEMORY_BUCKETS_BYTES,
  MIB,
  PAYLOAD_BUCKETS_BYTES,
} from './metric-instruments.js';
import { msToHrTime } from './time.js';

export type Temporality = 'cumulative' | 'delta';

export { DURATION_BUCKETS_S, MEMORY_BUCKETS_BYTES, PAYLOAD_BUCKETS_BYTES } from './metric-instruments.js';

const TRIGGER: Attributes = Object.freeze({ [ATTR_FAAS_TRIGGER]: FAAS_TRIGGER_OTHER });
const NO_ATTRIBUTES: Attributes = Object.freeze({});
// With aws.lambda.durable=true: the per-invocation series of a function running durable executions.
const TRIGGER_DURABLE: Attributes = Object.freeze({ ...TRIGGER, [ATTR_AWS_LAMBDA_DURABLE]: true });
const COLD: Attributes = Object.freeze({
  [ATTR_FAAS_TRIGGER]: FAAS_TRIGGER_OTHER,
  [ATTR_FAAS_COLDSTART]: true,
});
const WARM: Attributes = Object.freeze({
  [ATTR_FAAS_TRIGGER]: FAAS_TRIGGER_OTHER,
  [ATTR_FAAS_COLDSTART]: false,
});

const PLAIN_SERIES: readonly [string, Attributes] = ['', TRIGGER];
const DURABLE_SERIES: readonly [string, Attributes] = ['d', TRIGGER_DURABLE];
const UNLABELLED_SERIES: readonly [string, Attributes] = ['', NO_ATTRIBUTES];
const COLD_DURABLE: Attributes = Object.freeze({ ...COLD, [ATTR_AWS_LAMBDA_DURABLE]: true });
const WARM_DURABLE: Attributes = Object.freeze({ ...WARM, [ATTR_AWS_LAMBDA_DURABLE]: true });

export interface MetricsCollection {
  resourceMetrics: ResourceMetrics;
  /** Data points inside. */
  points: number;
  /** When the oldest measurement not yet collected was recorded. */
  oldestMs: number;
}

export class PlatformMetrics {
  private readonly invocations = counter(METRIC_FAAS_INVOCATIONS, '{invocation}', 'Invocations started');
  private readonly errors = counter(METRIC_FAAS_ERRORS, '{error}', 'Invocations that ended in an error');
  private readonly timeouts = counter(METRIC_FAAS_TIMEOUTS, '{timeout}', 'Invocations that timed out');
  private readonly coldstarts = counter(
    METRIC_FAAS_COLDSTARTS,
    '{coldstart}',
    'First invocations after an init',
  );
  private readonly outOfMemory = counter(
    METRIC_AWS_LAMBDA_OUT_OF_MEMORY,
    '{invocation}',
    'Invocations that ran out of memory',
  );
  private readonly logsDropped = counter(
    METRIC_AWS_LAMBDA_LOGS_DROPPED,
    '{record}',
    'Telemetry records Lambda dropped before delivery',
  );
  private readonly logsDroppedBytes = counter(
    METRIC_AWS_LAMBDA_LOGS_DROPPED_BYTES,
    'By',
    'Bytes of telemetry Lambda dropped before delivery',
  );
  private readonly invokeDuration = histogram(
    METRIC_FAAS_INVOKE_DURATION,
    's',
    "Duration of the function's logic execution",
    DURATION_BUCKETS_S,
  );
  private readonly initDuration = histogram(
    METRIC_FAAS_INIT_DURATION,
    's',
    'Duration of the environment initialization',
    DURATION_BUCKETS_S,
  );
  private readonly memUsage = histogram(
    METRIC_FAAS_MEM_USAGE,
    'By',
    'Maximum memory used per invocation',
    MEMORY_BUCKETS_BYTES,
  );
  private readonly billedDuration = histogram(
    METRIC_AWS_LAMBDA_BILLED_DURATION,
    's',
    'Billed duration per invocation',
    DURATION_BUCKETS_S,
  );
  private readonly restoreDuration = histogram(
    METRIC_AWS_LAMBDA_RESTORE_DURATION,
    's',
    'Duration of a SnapStart restore',
    DURATION_BUCKETS_S,
  );
  private readonly postRuntimeDuration = histogram(
    METRIC_AWS_LAMBDA_POST_RUNTIME_DURATION,
    's',
    'Time extensions kept the environment after the response',
    DURATION_BUCKETS_S,
  );
  private readonly responseLatency = histogram(
    METRIC_AWS_LAMBDA_RESPONSE_LATENCY,
    's',
    'Time from invocation start to the first response byte',
    DURATION_BUCKETS_S,
  );
  private readonly producedBytes = histogram(
    METRIC_AWS_LAMBDA_PRODUCED_BYTES,
    'By',
    'Response payload size per invocation',
    PAYLOAD_BUCKETS_BYTES,
  );

  /** In emission order. */
  private readonly all: Instrument[] = [
    this.invocations,
    this.errors,
    this.timeouts,
    this.coldstarts,
    this.invokeDuration,
    this.initDuration,
    this.memUsage,
    this.billedDuration,
    this.restoreDuration,
    this.postRuntimeDuration,
    this.responseLatency,
    this.producedBytes,
    this.outOfMemory,
    this.logsDropped,
    this.logsDroppedBytes,
  ];

  private readonly temporality: AggregationTemporality;
  private startMs: number;
  private lastCollectMs: number;
  private oldestPendingMs = Number.POSITIVE_INFINITY;
  private changed = false;
  /** Per-invocation series carry aws.lambda.durable=true (never the execution's ARN: unbounded). */
  private durable = false;

  /** `memory`: the series count against the memory budget (see Instrument.admit). */
  constructor(
    temporality: Temporality,
    startMs: number,
    private readonly memory?: HeldMemory,
  ) {
    if (memory !== undefined) for (const instrument of this.all) instrument.admit = (b) => memory.hold(b);
    this.temporality =
      temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
    this.startMs = startMs;
    this.lastCollectMs = startMs;
  }

  /** New series the memory budget refused (folded into the overflow series). */
  get seriesOverBudget(): number {
    let n = 0;
    for (const instrument of this.all) n += instrument.refusedSeries;
    return n;
  }

  get isDelta(): boolean {
    return this.temporality === AggregationTemporality.DELTA;
  }

  /** From now on the function is known to run durable executions; its later invocations say so. */
  markDurable(): void {
    this.durable = true;
  }

  get isDurable(): boolean {
    return this.durable;
  }

  /** The series key and attributes of per-invocation measurements. */
  private get trigger(): readonly [string, Attributes] {
    return this.durable ? DURABLE_SERIES : PLAIN_SERIES;
  }

  /** Counts one invocation (and its cold start). */
  recordInvocation(coldstart: boolean, atMs: number): void {
    const [key, attributes] = this.trigger;
    this.invocations.add(this.invocations.seriesFor(key, attributes), 1);
    if (coldstart) this.coldstarts.add(this.coldstarts.seriesFor(key, attributes), 1);
    this.touch(atMs);
  }

  /** Counts a failed invocation; `errorType` is Lambda's errorType or else the status. */
  recordError(errorType: string, timedOut: boolean, atMs: number): void {
    const [key, attributes] = this.trigger;
    const errorKey = `${key}${errorType}`;
    const s =
      this.errors.series.get(errorKey) ??
      this.errors.seriesFor(errorKey, { ...attributes, [ATTR_ERROR_TYPE]: errorType });
    this.errors.add(s, 1);
    if (timedOut) this.timeouts.add(this.timeouts.seriesFor(key, attributes), 1);
    this.touch(atMs);
  }

  recordInvokeDuration(ms: number, coldstart: boolean, atMs: number): void {
    if (!validAmount(ms)) return;
    const series = this.durable
      ? this.invokeDuration.seriesFor(coldstart ? 'dc' : 'dw', coldstart ? COLD_DURABLE : WARM_DURABLE)
      : this.invokeDuration.seriesFor(coldstart ? 'c' : 'w', coldstart ? COLD : WARM);
    this.invokeDuration.observe(series, ms / 1000);
    this.touch(atMs);
  }

  recordInitDuration(ms: number, initializationType: string, atMs: number): void {
    if (!validAmount(ms)) return;
    const s =
      this.initDuration.series.get(initializationType) ??
      this.initDuration.seriesFor(initializationType, {
        [ATTR_AWS_LAMBDA_INITIALIZATION_TYPE]: initializationType,
      });
    this.initDuration.observe(s, ms / 1000);
    this.touch(atMs);
  }

  recordRestoreDuration(ms: number, atMs: number): void {
    this.observe(this.restoreDuration, UNLABELLED_SERIES, ms / 1000, atMs);
  }

  recordMemoryUsed(mib: number, atMs: number): void {
    this.observe(this.memUsage, this.trigger, mib * MIB, atMs);
  }

  recordBilledDuration(ms: number, atMs: number): void {
    this.observe(this.billedDuration, this.trigger, ms / 1000, atMs);
  }

  recordPostRuntimeDuration(ms: number, atMs: number): void {
    this.observe(this.postRuntimeDuration, this.trigger, ms / 1000, atMs);
  }

  recordResponseLatency(ms: number, atMs: number): void {
    this.observe(this.responseLatency, this.trigger, ms / 1000, atMs);
  }

  recordProducedBytes(bytes: number, atMs: number): void {
    this.observe(this.producedBytes, this.trigger, bytes, atMs);
  }

  recordOutOfMemory(atMs: number): void {
    const [key, attributes] = this.trigger;
    this.outOfMemory.add(this.outOfMemory.seriesFor(key, attributes), 1);
    this.touch(atMs);
  }

  recordLogsDropped(records: number, bytes: number, atMs: number): void {
    if (validAmount(records) && records > 0)
      this.logsDropped.add(this.logsDropped.seriesFor('', NO_ATTRIBUTES), records);
    if (validAmount(bytes) && bytes > 0) {
      this.logsDroppedBytes.add(this.logsDroppedBytes.seriesFor('', NO_ATTRIBUTES), bytes);
    }
    this.touch(atMs);
  }

  /**
   * Starts a new aggregation (a SnapStart restore makes a new environment out of the snapshot's
   * memory: what was aggregated before belongs to the snapshot, not to this environment).
   */
  restart(startMs: number): void {
    for (const instrument of this.all) {
      instrument.series.clear();
      this.memory?.free(instrument.heldBytes);
      instrument.heldBytes = 0;
    }
    this.startMs = startMs;
    this.lastCollectMs = startMs;
    this.changed = false;
    this.oldestPendingMs = Number.POSITIVE_INFINITY;
  }

  /**
   * What changed since the last collect, as one ResourceMetrics; undefined when nothing did.
   * Cumulative: every series recorded since the start, start time = aggregation start. Delta: the
   * series recorded since the last collect, start time = last collect, then reset.
   */
  collect(
    nowMs: number,
    resource: { get(): Resource },
    scope: InstrumentationScope,
  ): MetricsCollection | undefined {
    if (!this.changed) return undefined;
    const delta = this.temporality === AggregationTemporality.DELTA;
    const startMs = delta ? this.lastCollectMs : this.startMs;
    const endMs = Math.max(nowMs, startMs);
    const startTime = msToHrTime(startMs);
    const endTime = msToHrTime(endMs);
    const metrics: MetricData[] = [];
    let points = 0;
    for (const instrument of this.all) {
      const metric = instrument.collect(startTime, endTime, delta, this.temporality);
      if (metric === undefined) continue;
      points += metric.dataPoints.length;
      metrics.push(metric);
    }
    const oldestMs = Number.isFinite(this.oldestPendingMs) ? this.oldestPendingMs : nowMs;
    this.changed = false;
    this.oldestPendingMs = Number.POSITIVE_INFINITY;
    this.lastCollectMs = endMs;
    if (points === 0) return undefined;
    // The resource is fetched only when there is something to send: fetching fixes faas.instance.
    return {
      resourceMetrics: { resource: resource.get(), scopeMetrics: [{ scope, metrics }] },
      points,
      oldestMs,
    };
  }

  private observe(
    instrument: Instrument,
    [key, attributes]: readonly [string, Attributes],
    value: number,
    atMs: number,
  ): void {
    if (!validAmount(value)) return;
    instrument.observe(instrument.seriesFor(key, attributes), value);
    this.touch(atMs);
  }

  private touch(atMs: number): void {
    this.changed = true;
    if (atMs < this.oldestPendingMs) this.oldestPendingMs = atMs;
  }
}

/** A finite, non-negative measurement; anything else is skipped rather than poisoning a sum. */
function validAmount(v: number): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
