// Checks a decoded request before it joins the pipeline and counts its items. Received requests are
// concatenated with the extension's own before export, and backends refuse a whole request over one
// malformed id; so spans without a valid identity are rejected here (reported back to the sender as
// a partial success), and broken references (log record ids, span links, exemplar ids) are cleared
// with a warning rather than costing the record.

import type { Signal } from '../model/chunk.js';
import type {
  WireDataPoint,
  WireLogRecord,
  WireMetric,
  WireResourceLogs,
  WireResourceMetrics,
  WireResourceSpans,
  WireSpan,
} from './otlp-messages.js';

export interface ScreeningResult {
  /** Accepted items: spans, metric data points or log records. */
  items: number;
  /** Items per top-level ResourceX entry, in wire order (after removals). */
  itemsPerResource: number[];
  /** Items removed. */
  rejected: number;
  /** References cleared without losing the item (bad link, log or exemplar ids). */
  repaired: number;
  /** True when the message was changed and must be re-encoded. */
  modified: boolean;
  /** Why items were rejected or repaired, for the partial success message. */
  reasons: string[];
}

type Id = Uint8Array | readonly number[];

function isZero(id: Id): boolean {
  for (let i = 0; i < id.length; i++) if (id[i] !== 0) return false;
  return true;
}

const validTraceId = (id: Id) => id.length === 16 && !isZero(id);
const validSpanId = (id: Id) => id.length === 8 && !isZero(id);
/** Optional references: absent, or well formed. */
const optionalTraceId = (id: Id) => id.length === 0 || id.length === 16;
const optionalSpanId = (id: Id) => id.length === 0 || id.length === 8;
const EMPTY = new Uint8Array(0);

class Screen {
  items = 0;
  rejected = 0;
  repaired = 0;
  modified = false;
  readonly reasons = new Set<string>();
  readonly perResource: number[] = [];

  span(span: WireSpan): boolean {
    if (!validTraceId(span.traceId) || !validSpanId(span.spanId) || !optionalSpanId(span.parentSpanId)) {
      this.reasons.add(
        'spans need a 16-byte non-zero trace id, an 8-byte non-zero span id and an empty or 8-byte parent span id',
      );
      return false;
    }
    if (span.links.length > 0) {
      const links = span.links.filter((l) => validTraceId(l.traceId) && validSpanId(l.spanId));
      if (links.length !== span.links.length) {
        const dropped = span.links.length - links.length;
        const counted = span as WireSpan & { droppedLinksCount?: number };
        counted.droppedLinksCount = (counted.droppedLinksCount ?? 0) + dropped;
        span.links = links;
        this.repaired += dropped;
        this.modified = true;
        this.reasons.add('span links with malformed ids were dropped');
      }
    }
    return true;
  }

  logRecord(record: WireLogRecord): boolean {
    if (!optionalTraceId(record.traceId) || !optionalSpanId(record.spanId)) {
      record.traceId = EMPTY;
      record.spanId = EMPTY;
      this.repaired++;
      this.modified = true;
      this.reasons.add('log records with malformed trace or span ids were kept without them');
    }
    return true;
  }

  dataPoints(points: WireDataPoint[]): number {
    for (const point of points) {
      if (point.exemplars.length === 0) continue;
      const kept = point.exemplars.filter((e) => optionalTraceId(e.traceId) && optionalSpanId(e.spanId));
      if (kept.length !== point.exemplars.length) {
        this.repaired += point.exemplars.length - kept.length;
        point.exemplars = kept;
        this.modified = true;
        this.reasons.add('exemplars with malformed trace or span ids were dropped');
      }
    }
    return points.length;
  }

  metric(metric: WireMetric): number {
    const data =
      metric.gauge ?? metric.sum ?? metric.histogram ?? metric.exponentialHistogram ?? metric.summary;
    return data ? this.dataPoints(data.dataPoints) : 0;
  }

  /** Keeps the items `accept` takes; drops scope and resource envelopes left empty by removals. */
  filter<R, S, I>(
    resources: R[],
    scopes: (r: R) => S[],
    setScopes: (r: R, s: S[]) => void,
    items: (s: S) => I[],
    setItems: (s: S, i: I[]) => void,
    accept: (item: I) => boolean,
  ): R[] {
    const keptResources: R[] = [];
    for (const resource of resources) {
      let count = 0;
      let removedHere = false;
      const keptScopes: S[] = [];
      for (const scope of scopes(resource)) {
        const all = items(scope);
        const kept = all.filter(accept);
        if (kept.length !== all.length) {
          this.rejected += all.length - kept.length;
          setItems(scope, kept);
          removedHere = true;
        }
        count += kept.length;
        if (kept.length > 0 || all.length === 0) keptScopes.push(scope);
      }
      if (removedHere) {
        this.modified = true;
        setScopes(resource, keptScopes);
        if (count === 0) continue;
      }
      this.items += count;
      this.perResource.push(count);
      keptResources.push(resource);
    }
    return keptResources;
  }

  result(): ScreeningResult {
    return {
      items: this.items,
      itemsPerResource: this.perResource,
      rejected: this.rejected,
      repaired: this.repaired,
      modified: this.modified,
      reasons: [...this.reasons],
    };
  }
}

/** Screens `request` (a decoded Export*ServiceRequest) in place. */
export function screenRequest(signal: Signal, request: object): ScreeningResult {
  const screen = new Screen();
  if (signal === 'traces') {
    const req = request as { resourceSpans: WireResourceSpans[] };
    const kept = screen.filter(
      req.resourceSpans,
      (r) => r.scopeSpans,
      (r, s) => {
        r.scopeSpans = s;
      },
      (s) => s.spans,
      (s, i) => {
        s.spans = i;
      },
      (span) => screen.span(span),
    );
    if (kept.length !== req.resourceSpans.length) req.resourceSpans = kept;
  } else if (signal === 'logs') {
    const req = request as { resourceLogs: WireResourceLogs[] };
    const kept = screen.filter(
      req.resourceLogs,
      (r) => r.scopeLogs,
      (r, s) => {
        r.scopeLogs = s;
      },
      (s) => s.logRecords,
      (s, i) => {
        s.logRecords = i;
      },
      (record) => screen.logRecord(record),
    );
    if (kept.length !== req.resourceLogs.length) req.resourceLogs = kept;
  } else {
    // Metrics: nothing is rejected; items are data points.
    const req = request as { resourceMetrics: WireResourceMetrics[] };
    for (const rm of req.resourceMetrics) {
      let count = 0;
      for (const sm of rm.scopeMetrics) for (const metric of sm.metrics) count += screen.metric(metric);
      screen.items += count;
      screen.perResource.push(count);
    }
  }
  return screen.result();
}
