// The metrics received, one row per series (metric name + data point attributes): cumulative
// series show their latest point, delta series the sum of their points.

import { attrs, type LocatedMetric } from '../otlp/decode.js';
import type { Style } from './style.js';
import { PLATFORM_SCOPE } from './waterfall.js';

const TEMPORALITY_DELTA = 1;
/** The export pipeline's own metrics share the extension's scope; their names set them apart. */
const SELF_TELEMETRY_PREFIX = 'otel_lambda_extension.';

export type MetricSource = 'platform' | 'function' | 'extension';

export interface MetricRow {
  source: MetricSource;
  name: string;
  unit: string;
  type: string;
  attributes: Record<string, unknown>;
  /** Counters and gauges. */
  value?: number;
  /** Histograms. */
  count?: number;
  sum?: number;
}

interface Point {
  attributes: Record<string, unknown>;
  time: bigint;
  value?: number;
  count?: number;
  sum?: number;
}

function sourceOf(metric: LocatedMetric): MetricSource {
  if (metric.name.startsWith(SELF_TELEMETRY_PREFIX)) return 'extension';
  return metric.scope?.name === PLATFORM_SCOPE ? 'platform' : 'function';
}

function typeOf(metric: LocatedMetric): { type: string; delta: boolean } {
  if (metric.sum) {
    const delta = metric.sum.aggregationTemporality === TEMPORALITY_DELTA;
    return {
      type: `${metric.sum.isMonotonic ? 'counter' : 'updown counter'} (${delta ? 'delta' : 'cumulative'})`,
      delta,
    };
  }
  if (metric.histogram) {
    const delta = metric.histogram.aggregationTemporality === TEMPORALITY_DELTA;
    return { type: `histogram (${delta ? 'delta' : 'cumulative'})`, delta };
  }
  if (metric.exponentialHistogram) {
    const delta = metric.exponentialHistogram.aggregationTemporality === TEMPORALITY_DELTA;
    return { type: `exp. histogram (${delta ? 'delta' : 'cumulative'})`, delta };
  }
  if (metric.summary) return { type: 'summary', delta: false };
  return { type: 'gauge', delta: false };
}

function pointsOf(metric: LocatedMetric): Point[] {
  const numberValue = (p: { asDouble?: number; asInt?: string }) =>
    p.asDouble !== undefined ? p.asDouble : Number(p.asInt ?? 0);
  const points: Point[] = [];
  for (const p of metric.sum?.dataPoints ?? metric.gauge?.dataPoints ?? []) {
    points.push({ attributes: attrs(p.attributes), time: BigInt(p.timeUnixNano), value: numberValue(p) });
  }
  for (const p of metric.histogram?.dataPoints ??
    metric.exponentialHistogram?.dataPoints ??
    metric.summary?.dataPoints ??
    []) {
    points.push({
      attributes: attrs(p.attributes),
      time: BigInt(p.timeUnixNano),
      count: Number(p.count),
      ...(p.sum !== undefined && { sum: p.sum }),
    });
  }
  return points;
}

const SOURCE_ORDER: Record<MetricSource, number> = { platform: 0, function: 1, extension: 2 };

/** One row per series, platform metrics first, then the function's, then the extension's own. */
export function summarizeMetrics(metrics: readonly LocatedMetric[]): MetricRow[] {
  const rows = new Map<string, MetricRow & { time: bigint; delta: boolean }>();
  for (const metric of metrics) {
    const { type, delta } = typeOf(metric);
    const source = sourceOf(metric);
    for (const point of pointsOf(metric)) {
      const key = JSON.stringify([source, metric.name, metric.unit, type, sortedEntries(point.attributes)]);
      const row = rows.get(key);
      if (row === undefined) {
        rows.set(key, {
          source,
          name: metric.name,
          unit: metric.unit,
          type,
          attributes: point.attributes,
          time: point.time,
          delta,
          ...(point.value !== undefined && { value: point.value }),
          ...(point.count !== undefined && { count: point.count }),
          ...(point.sum !== undefined && { sum: point.sum }),
        });
      } else if (delta) {
        if (point.value !== undefined) row.value = (row.value ?? 0) + point.value;
        if (point.count !== undefined) row.count = (row.count ?? 0) + point.count;
        if (point.sum !== undefined) row.sum = (row.sum ?? 0) + point.sum;
      } else if (point.time >= row.time) {
        // Cumulative and gauges: the latest point is the value.
        row.time = point.time;
        if (point.value !== undefined) row.value = point.value;
        if (point.count !== undefined) row.count = point.count;
        if (point.sum !== undefined) row.sum = point.sum;
      }
    }
  }
  // Series of one metric stay together, metrics in the order they first arrived.
  const nameOrder = new Map<string, number>();
  for (const row of rows.values()) if (!nameOrder.has(row.name)) nameOrder.set(row.name, nameOrder.size);
  return [...rows.values()]
    .map(({ time: _time, delta: _delta, ...row }) => row)
    .sort(
      (a, b) =>
        SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source] ||
        (nameOrder.get(a.name) ?? 0) - (nameOrder.get(b.name) ?? 0),
    );
}

function sortedEntries(record: Record<string, unknown>): [string, string][] {
  return Object.entries(record)
    .map(([k, v]): [string, string] => [k, String(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A number with at most 4 significant digits after the point, without trailing zeros. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return String(Number(n.toPrecision(4)));
}

export function valueText(row: MetricRow): string {
  if (row.count !== undefined) {
    const sum = row.sum === undefined ? '' : `  sum ${formatNumber(row.sum)}`;
    const mean = row.sum !== undefined && row.count > 0 ? `  mean ${formatNumber(row.sum / row.count)}` : '';
    return `count ${formatNumber(row.count)}${sum}${mean}`;
  }
  return row.value === undefined ? '-' : formatNumber(row.value);
}

export function attributesText(attributes: Record<string, unknown>): string {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return '-';
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

/** The rows as an aligned table with a heading. */
export function renderMetricsTable(rows: readonly MetricRow[], style: Style): string[] {
  const cells = rows.map((r) => [
    r.source,
    r.name,
    r.unit || '-',
    r.type,
    valueText(r),
    attributesText(r.attributes),
  ]);
  const heading = ['source', 'metric', 'unit', 'type', 'value', 'attributes'];
  const widths = heading.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((text, i) => (i === c.length - 1 ? text : text.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [style.paint('dim', line(heading)), ...cells.map(line)];
}
