// One instrument of the platform metrics: its descriptor, its bucket boundaries (histograms) and its
// series, one per attribute set, up to a limit past which measurements fold into the
// `otel.metric.overflow=true` series, as in the OpenTelemetry SDK. A new series also folds into the
// overflow series when the memory budget refuses to hold it (the measurement still counts).

import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import {
  type AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
  type MetricDescriptor,
} from '@opentelemetry/sdk-metrics';
import { ATTR_OTEL_METRIC_OVERFLOW } from './semconv.js';

/** The FaaS semconv duration buckets, in seconds. */
export const DURATION_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];
export const MIB = 1048576;
/** Lambda memory sizes run from 128 MiB to 10,240 MiB. */
export const MEMORY_BUCKETS_BYTES: readonly number[] = [
  64, 128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 10240,
].map((m) => m * MIB);
/** Response sizes: up to the 6 MiB buffered limit and the 20 MiB streamed one. */
export const PAYLOAD_BUCKETS_BYTES: readonly number[] = [
  256,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  6 * MIB,
  20 * MIB,
];

/** Distinct attribute sets one instrument may hold before folding into the overflow series. */
const SERIES_LIMIT = 64;
/** Estimated heap of one series besides its buckets: the object, its key and its attribute set. */
const SERIES_BYTES = 256;

export interface Series {
  readonly attributes: Attributes;
  /** Counter value, or histogram count. */
  count: number;
  sum: number;
  min: number;
  max: number;
  readonly buckets: number[] | undefined;
  /** Recorded into since the last collect. */
  dirty: boolean;
  /** Recorded into at all since the aggregation started. */
  used: boolean;
}

export class Instrument {
  readonly series = new Map<string, Series>();
  /** Asks the memory budget to hold a new series; by default everything is held. */
  admit: (bytes: number) => boolean = () => true;
  /** Bytes the series held against the budget hold. */
  heldBytes = 0;
  /** New series the budget refused, folded into the overflow series. */
  refusedSeries = 0;
  private readonly seriesBytes: number;

  constructor(
    readonly descriptor: MetricDescriptor,
    readonly boundaries: readonly number[] | undefined,
  ) {
    this.seriesBytes = SERIES_BYTES + 8 * (boundaries === undefined ? 0 : boundaries.length + 1);
  }

  /** The series for `key`, created with `attributes` (or the overflow set beyond the limit). */
  seriesFor(key: string, attributes: Attributes): Series {
    let s = this.series.get(key);
    if (s !== undefined) return s;
    // As in the OTel SDK, the overflow series counts towards the limit.
    const full = this.series.size >= SERIES_LIMIT - 1;
    const admitted = !full && this.admit(this.seriesBytes);
    if (!admitted) {
      if (!full) this.refusedSeries++;
      s = this.series.get(OVERFLOW_KEY);
      if (s !== undefined) return s;
      key = OVERFLOW_KEY;
      attributes = OVERFLOW_ATTRIBUTES;
      // One overflow series per instrument is kept even when the budget refuses it: it is bounded.
      if (this.admit(this.seriesBytes)) this.heldBytes += this.seriesBytes;
    } else {
      this.heldBytes += this.seriesBytes;
    }
    s = {
      attributes,
      count: 0,
      sum: 0,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      buckets: this.boundaries ? new Array<number>(this.boundaries.length + 1).fill(0) : undefined,
      dirty: false,
      used: false,
    };
    this.series.set(key, s);
    return s;
  }

  add(series: Series, value: number): void {
    series.count += value;
    series.dirty = true;
    series.used = true;
  }

  observe(series: Series, value: number): void {
    const b = this.boundaries as readonly number[];
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    const buckets = series.buckets as number[];
    buckets[i] = (buckets[i] as number) + 1;
    series.count++;
    series.sum += value;
    if (value < series.min) series.min = value;
    if (value > series.max) series.max = value;
    series.dirty = true;
    series.used = true;
  }

  reset(series: Series): void {
    series.count = 0;
    series.sum = 0;
    series.min = Number.POSITIVE_INFINITY;
    series.max = Number.NEGATIVE_INFINITY;
    if (series.buckets) series.buckets.fill(0);
    series.dirty = false;
  }

  /**
   * The instrument's data points since the last collect (delta: the series recorded into, then
   * reset) or since the start (cumulative: every series used); undefined when there are none.
   */
  collect(
    startTime: HrTime,
    endTime: HrTime,
    delta: boolean,
    temporality: AggregationTemporality,
  ): MetricData | undefined {
    if (this.series.size === 0) return undefined;
    if (this.boundaries === undefined) {
      const dataPoints: DataPoint<number>[] = [];
      for (const s of this.series.values()) {
        if (delta ? !s.dirty : !s.used) continue;
        dataPoints.push({ startTime, endTime, attributes: s.attributes, value: s.count });
        if (delta) this.reset(s);
        else s.dirty = false;
      }
      if (dataPoints.length === 0) return undefined;
      return {
        descriptor: this.descriptor,
        aggregationTemporality: temporality,
        dataPointType: DataPointType.SUM,
        dataPoints,
        isMonotonic: true,
      };
    }
    const dataPoints: DataPoint<Histogram>[] = [];
    for (const s of this.series.values()) {
      if (delta ? !s.dirty : !s.used) continue;
      dataPoints.push({
        startTime,
        endTime,
        attributes: s.attributes,
        // A copy: the chunk may be turned into JSON later, after more recordings.
        value: {
          buckets: { boundaries: this.boundaries as number[], counts: (s.buckets as number[]).slice() },
          count: s.count,
          sum: s.sum,
          min: s.min,
          max: s.max,
        },
      });
      if (delta) this.reset(s);
      else s.dirty = false;
    }
    if (dataPoints.length === 0) return undefined;
    return {
      descriptor: this.descriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

const OVERFLOW_KEY = '\u0000overflow';
const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ [ATTR_OTEL_METRIC_OVERFLOW]: true });

export function counter(name: string, unit: string, description: string): Instrument {
  return new Instrument({ name, unit, description, valueType: ValueType.INT }, undefined);
}

export function histogram(
  name: string,
  unit: string,
  description: string,
  boundaries: readonly number[],
): Instrument {
  return new Instrument({ name, unit, description, valueType: ValueType.DOUBLE }, boundaries);
}
