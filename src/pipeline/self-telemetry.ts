// What the export pipeline says about itself: items queued, exported, dropped (by reason), retries,
// requests, items the backend rejected, and flush latency. Kept as plain counters (cheap on hot
// paths), exported as OTLP metrics under the instrumentation scope `otel-lambda-extension` through a
// ChunkProducer, and summarised in one log line.

import type { Resource } from '@opentelemetry/resources';
import { EXTENSION_NAME, EXTENSION_VERSION } from '../convert/version.js';
import type { Signal, TelemetryChunk, ChunkProducer, OtlpJsonRequest } from '../model/chunk.js';

type Transformer = typeof import('@opentelemetry/otlp-transformer');
type ResourceMetrics = Parameters<Transformer['ProtobufMetricsSerializer']['serializeRequest']>[0];
type MetricData = ResourceMetrics['scopeMetrics'][number]['metrics'][number];
type Attributes = Record<string, string>;

export const SELF_TELEMETRY_SCOPE = EXTENSION_NAME;
const SCOPE_VERSION = EXTENSION_VERSION;

/** Flush latency buckets in seconds: flushes range from a few ms (loopback) to the full deadline. */
const FLUSH_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC = {
  queued: ['otel_lambda_extension.export.items.queued', 'Items handed to the export pipeline', '{item}'],
  exported: ['otel_lambda_extension.export.items.exported', 'Items a destination accepted', '{item}'],
  dropped: ['otel_lambda_extension.export.items.dropped', 'Items given up, by reason', '{item}'],
  rejected: ['otel_lambda_extension.export.items.rejected', 'Items refused in a partial success', '{item}'],
  retries: [
    'otel_lambda_extension.export.retries',
    'Export attempts repeated after a transient failure',
    '{retry}',
  ],
  requests: ['otel_lambda_extension.export.requests', 'Export HTTP requests sent', '{request}'],
  flush: ['otel_lambda_extension.flush.duration', 'Time a flush took', 's'],
} as const;

type CounterKind = Exclude<keyof typeof METRIC, 'flush'>;

interface CounterSeries {
  attributes: Attributes;
  total: number;
  /** Since the last delta export. */
  delta: number;
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

interface HistogramSeries {
  attributes: Attributes;
  total: HistogramState;
  delta: HistogramState;
}

function emptyHistogram(): HistogramState {
  return {
    counts: new Array(FLUSH_BUCKETS_S.length + 1).fill(0),
    sum: 0,
    count: 0,
    min: Infinity,
    max: -Infinity,
  };
}

function recordInto(h: HistogramState, value: number): void {
  let i = 0;
  while (i < FLUSH_BUCKETS_S.length && value > (FLUSH_BUCKETS_S[i] as number)) i++;
  h.counts[i] = (h.counts[i] as number) + 1;
  h.sum += value;
  h.count++;
  if (value < h.min) h.min = value;
  if (value > h.max) h.max = value;
}

/** Identifies a series. The record* methods build attributes in a fixed key order, so no sorting. */
function seriesKey(kind: string, attributes: Attributes): string {
  let key = kind;
  for (const name in attributes) key += `|${name}=${attributes[name]}`;
  return key;
}

function toHrTime(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/** A cumulative counter another component keeps (the telemetry listener's, say), read at each emission. */
export interface ObservedCounter {
  name: string;
  description: string;
  unit: string;
  attributes: Attributes;
  /** Total since the component started; never decreases. */
  value: number;
}

/** A counter's name, description and unit, as its observers report it. */
export type CounterSpec = readonly [name: string, description: string, unit: string];

/** Adds one observation of `spec` to `out`; zero series are left out. */
export function pushNonZero(
  out: ObservedCounter[],
  [name, description, unit]: CounterSpec,
  attributes: Record<string, string>,
  value: number,
): void {
  if (value > 0) out.push({ name, description, unit, attributes, value });
}

/** A value another component reports as it is now (a limit, a high-water mark), read at each emission. */
export interface ObservedGauge {
  name: string;
  description: string;
  unit: string;
  attributes: Attributes;
  value: number;
}

export interface SelfTelemetryTotals {
  queued: number;
  exported: number;
  exportedBytes: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  rejected: number;
  retries: number;
  requests: number;
  staleConnectionRetries: number;
  flushes: number;
  flushMaxMs: number;
  flushTotalMs: number;
}

export interface SelfTelemetryProducerOptions {
  /** The extension's resource (the same one the platform telemetry carries), or where to get it: it learns attributes late. */
  resource: Resource | { get(): Resource };
  /** Datadog accepts only delta; default cumulative. */
  temporality?: 'delta' | 'cumulative';
  /** Emit at most this often, except on the final collect (default 60 s). */
  intervalMs?: number;
}

export class SelfTelemetry {
  private readonly counters = new Map<string, CounterSeries & { kind: CounterKind }>();
  private readonly flushes = new Map<string, HistogramSeries>();
  private readonly observers: (() => ObservedCounter[])[] = [];
  private readonly gauges: (() => ObservedGauge[])[] = [];
  /** Last exported value per observed series, for delta temporality. */
  private readonly observedSent = new Map<string, number>();
  private readonly totals: SelfTelemetryTotals = {
    queued: 0,
    exported: 0,
    exportedBytes: 0,
    dropped: 0,
    droppedByReason: {},
    rejected: 0,
    retries: 0,
    requests: 0,
    staleConnectionRetries: 0,
    flushes: 0,
    flushMaxMs: 0,
    flushTotalMs: 0,
  };
  /** Bumped on every record; lets a producer skip collects with nothing new. */
  private version = 0;
  readonly startMs: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startMs = now();
  }

  recordQueued(signal: Signal, items: number): void {
    this.totals.queued += items;
    this.add('queued', { signal }, items);
  }

  recordExported(destination: string, signal: Signal, items: number, bytes: number): void {
    this.totals.exported += items;
    this.totals.exportedBytes += bytes;
    this.add('exported', { signal, destination }, items);
  }

  /** `destination` is empty for drops before any destination (no destination for the signal, invalid chunk). */
  recordDropped(destination: string, signal: Signal, reason: string, items: number): void {
    if (items <= 0) return;
    this.totals.dropped += items;
    this.totals.droppedByReason[reason] = (this.totals.droppedByReason[reason] ?? 0) + items;
    this.add('dropped', destination ? { signal, destination, reason } : { signal, reason }, items);
  }

  recordRejected(destination: string, signal: Signal, items: number): void {
    this.totals.rejected += items;
    this.add('rejected', { signal, destination }, items);
  }

  recordRetries(destination: string, signal: Signal, retries: number): void {
    this.totals.retries += retries;
    this.add('retries', { signal, destination }, retries);
  }

  recordRequests(
    destination: string,
    signal: Signal,
    requests: number,
    staleConnectionRetries: number,
  ): void {
    this.totals.requests += requests;
    this.totals.staleConnectionRetries += staleConnectionRetries;
    this.add('requests', { signal, destination }, requests);
  }

  recordFlush(reason: string, durationMs: number): void {
    this.totals.flushes++;
    this.totals.flushTotalMs += durationMs;
    if (durationMs > this.totals.flushMaxMs) this.totals.flushMaxMs = durationMs;
    const attributes = { 'flush.reason': reason };
    const key = seriesKey('flush', attributes);
    let series = this.flushes.get(key);
    if (!series) {
      series = { attributes, total: emptyHistogram(), delta: emptyHistogram() };
      this.flushes.set(key, series);
    }
    recordInto(series.total, durationMs / 1000);
    recordInto(series.delta, durationMs / 1000);
    this.version++;
  }

  /**
   * Exports counters kept elsewhere with the pipeline's own. `read` runs only when metrics are
   * emitted (at most every interval and at the final flush), never on hot paths.
   */
  /** Gauges read at every emission (they do not by themselves cause one). */
  observeGauges(read: () => ObservedGauge[]): void {
    this.gauges.push(read);
  }

  observe(read: () => ObservedCounter[]): void {
    this.observers.push(read);
  }

  /** Totals since start (a copy). */
  snapshot(): SelfTelemetryTotals {
    return { ...this.totals, droppedByReason: { ...this.totals.droppedByReason } };
  }

  /** One line for the extension's log. */
  summary(): string {
    const t = this.totals;
    const reasons = Object.entries(t.droppedByReason)
      .map(([r, n]) => `${r}=${n}`)
      .join(' ');
    const avg = t.flushes > 0 ? Math.round(t.flushTotalMs / t.flushes) : 0;
    return (
      `export: queued ${t.queued}, exported ${t.exported} items (${t.exportedBytes} B) in ${t.requests} requests, ` +
      `retries ${t.retries}, stale connections ${t.staleConnectionRetries}, rejected ${t.rejected}, ` +
      `dropped ${t.dropped}${reasons ? ` (${reasons})` : ''}, flushes ${t.flushes} (avg ${avg} ms, max ${Math.round(t.flushMaxMs)} ms)`
    );
  }

  /** A producer exporting these counters as OTLP metrics. */
  createProducer(options: SelfTelemetryProducerOptions): SelfTelemetryProducer {
    return new SelfTelemetryProducer(this, options, this.now);
  }

  /** @internal the metric data for one collect; delta series are reset. */
  buildMetrics(temporality: 'delta' | 'cumulative', sinceMs: number, nowMs: number): MetricData[] {
    const delta = temporality === 'delta';
    const start = toHrTime(delta ? sinceMs : this.startMs);
    const end = toHrTime(nowMs);
    const byKind = new Map<CounterKind, CounterSeries[]>();
    for (const series of this.counters.values()) {
      if (delta && series.delta === 0) continue;
      let list = byKind.get(series.kind);
      if (!list) {
        list = [];
        byKind.set(series.kind, list);
      }
      list.push({ attributes: series.attributes, total: series.total, delta: series.delta });
      series.delta = 0;
    }
    const metrics: MetricData[] = [];
    for (const [kind, list] of byKind) {
      const [name, description, unit] = METRIC[kind];
      metrics.push({
        descriptor: { name, description, unit, valueType: 0 /* ValueType.INT */ },
        aggregationTemporality: delta ? 0 : 1 /* AggregationTemporality DELTA : CUMULATIVE */,
        dataPointType: 3 /* DataPointType.SUM */,
        isMonotonic: true,
        dataPoints: list.map((s) => ({
          startTime: start,
          endTime: end,
          attributes: s.attributes,
          value: delta ? s.delta : s.total,
        })),
      });
    }
    if (this.observers.length > 0) metrics.push(...this.observedMetrics(delta, start, end));
    for (const read of this.gauges) {
      for (const gauge of read()) {
        metrics.push({
          descriptor: {
            name: gauge.name,
            description: gauge.description,
            unit: gauge.unit,
            valueType: 0 /* ValueType.INT */,
          },
          aggregationTemporality: 1,
          dataPointType: 2 /* DataPointType.GAUGE */,
          dataPoints: [{ startTime: end, endTime: end, attributes: gauge.attributes, value: gauge.value }],
        });
      }
    }
    const points = [];
    for (const series of this.flushes.values()) {
      const h = delta ? series.delta : series.total;
      if (h.count === 0) continue;
      points.push({
        startTime: start,
        endTime: end,
        attributes: series.attributes,
        value: {
          buckets: { boundaries: FLUSH_BUCKETS_S, counts: [...h.counts] },
          sum: h.sum,
          count: h.count,
          min: h.min,
          max: h.max,
        },
      });
      series.delta = emptyHistogram();
    }
    if (points.length > 0) {
      const [name, description, unit] = METRIC.flush;
      metrics.push({
        descriptor: { name, description, unit, valueType: 1 /* ValueType.DOUBLE */ },
        aggregationTemporality: delta ? 0 : 1,
        dataPointType: 0 /* DataPointType.HISTOGRAM */,
        dataPoints: points,
      });
    }
    return metrics;
  }

  /** @internal */
  get changeVersion(): number {
    // Observed counters only grow, so their sum changes whenever one of them does.
    let observed = 0;
    for (const read of this.observers) for (const c of read()) observed += c.value;
    return this.version + observed;
  }

  private observedMetrics(delta: boolean, start: [number, number], end: [number, number]): MetricData[] {
    const byName = new Map<
      string,
      { counter: ObservedCounter; points: { attributes: Attributes; value: number }[] }
    >();
    for (const read of this.observers) {
      for (const counter of read()) {
        const key = seriesKey(counter.name, counter.attributes);
        const sent = this.observedSent.get(key) ?? 0;
        const value = delta ? counter.value - sent : counter.value;
        this.observedSent.set(key, counter.value);
        if (value <= 0 && (delta || counter.value === 0)) continue;
        let entry = byName.get(counter.name);
        if (!entry) {
          entry = { counter, points: [] };
          byName.set(counter.name, entry);
        }
        entry.points.push({ attributes: counter.attributes, value });
      }
    }
    const metrics: MetricData[] = [];
    for (const { counter, points } of byName.values()) {
      metrics.push({
        descriptor: {
          name: counter.name,
          description: counter.description,
          unit: counter.unit,
          valueType: 0 /* ValueType.INT */,
        },
        aggregationTemporality: delta ? 0 : 1,
        dataPointType: 3 /* DataPointType.SUM */,
        isMonotonic: true,
        dataPoints: points.map((p) => ({
          startTime: start,
          endTime: end,
          attributes: p.attributes,
          value: p.value,
        })),
      });
    }
    return metrics;
  }

  private add(kind: CounterKind, attributes: Attributes, value: number): void {
    if (value === 0) return;
    const key = seriesKey(kind, attributes);
    let series = this.counters.get(key);
    if (!series) {
      series = { kind, attributes, total: 0, delta: 0 };
      this.counters.set(key, series);
    }
    series.total += value;
    series.delta += value;
    this.version++;
  }
}

/**
 * Emits the pipeline's own metrics. The OTLP serializer is loaded on first use, off the start-up
 * path: a collect before it is ready returns nothing (counters keep accumulating) unless it is final,
 * where the pipeline awaits `ready()` first.
 */
export class SelfTelemetryProducer implements ChunkProducer {
  private transformer: Transformer | undefined;
  private loading: Promise<void> | undefined;
  private lastEmitMs: number;
  private lastVersion = -1;
  private readonly temporality: 'delta' | 'cumulative';
  private readonly intervalMs: number;

  constructor(
    private readonly telemetry: SelfTelemetry,
    private readonly options: SelfTelemetryProducerOptions,
    now: () => number,
  ) {
    this.temporality = options.temporality ?? 'cumulative';
    this.intervalMs = options.intervalMs ?? 60_000;
    this.lastEmitMs = now();
  }

  /** Loads the serializer; resolves when collect can encode. Never rejects. */
  ready(): Promise<void> {
    this.loading ??= import('@opentelemetry/otlp-transformer').then(
      (m) => {
        this.transformer = m;
      },
      () => {
        // Without the serializer self-telemetry stays log-only; the summary line still works.
      },
    );
    return this.loading;
  }

  /** True once collect can encode. */
  get isReady(): boolean {
    return this.transformer !== undefined;
  }

  collect(nowMs: number, final: boolean): TelemetryChunk[] {
    if (!this.transformer) {
      // Start loading at the first flush, long before the first emission is due.
      void this.ready();
      return [];
    }
    if (!final && nowMs - this.lastEmitMs < this.intervalMs) return [];
    if (this.telemetry.changeVersion === this.lastVersion) return [];
    const metrics = this.telemetry.buildMetrics(this.temporality, this.lastEmitMs, nowMs);
    this.lastEmitMs = nowMs;
    this.lastVersion = this.telemetry.changeVersion;
    if (metrics.length === 0) return [];
    const request: ResourceMetrics = {
      resource: currentResource(this.options.resource),
      scopeMetrics: [{ scope: { name: SELF_TELEMETRY_SCOPE, version: SCOPE_VERSION }, metrics }],
    };
    const protobuf = this.transformer.ProtobufMetricsSerializer.serializeRequest(request);
    if (!protobuf) return [];
    const transformer = this.transformer;
    let items = 0;
    for (const m of metrics) items += m.dataPoints.length;
    return [
      {
        signal: 'metrics',
        items,
        bytes: protobuf.byteLength,
        createdAtMs: nowMs,
        protobuf,
        json(): OtlpJsonRequest {
          const bytes = transformer.JsonMetricsSerializer.serializeRequest(request);
          return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as OtlpJsonRequest) : {};
        },
      },
    ];
  }
}

function currentResource(resource: Resource | { get(): Resource }): Resource {
  return 'get' in resource && typeof resource.get === 'function' ? resource.get() : (resource as Resource);
}
