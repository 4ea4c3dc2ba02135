// What the flush end-to-end tests and the flush benchmark read off a recording OTLP sink: the spans,
// log records and metric counts of each invocation, what the sink held at the moment the extension
// called /event/next, the flush manager's logged decisions, and a proxy that cuts requests caught by
// a freeze.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { OtlpSink, SinkRequest } from '../../tools/otlp/sink.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  type HistogramDataPoint,
  type LocatedSpan,
  type LogsRequest,
  type MetricsRequest,
  type NumberDataPoint,
  type TracesRequest,
} from '../../tools/otlp/decode.js';
import type { LambdaSimulator, TimelineEntry } from '../../tools/simulator/index.js';

/** The launcher's file name: the name the extension registers with. */
export const EXTENSION_NAME = 'otel-lambda-extension';

const INVOCATION_ID = 'faas.invocation_id';
const SPAN_KIND_SERVER = 2;
/** OTLP AggregationTemporality. */
const DELTA = 1;

export interface ReceivedSpan {
  span: LocatedSpan;
  receivedAtMs: number;
  /** Index of the sink request that carried it. */
  request: number;
}

export function spansIn(requests: readonly SinkRequest[]): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  requests.forEach((request, index) => {
    if (request.signal !== 'traces' || !request.decoded) return;
    for (const span of allSpans(request.decoded as TracesRequest)) {
      out.push({ span, receivedAtMs: request.receivedAtMs, request: index });
    }
  });
  return out;
}

/** The platform invocation span(s) of one request id (SERVER span carrying faas.invocation_id). */
export function invocationSpans(requests: readonly SinkRequest[], requestId: string): ReceivedSpan[] {
  return spansIn(requests).filter(
    (s) => s.span.kind === SPAN_KIND_SERVER && attrs(s.span.attributes)[INVOCATION_ID] === requestId,
  );
}

/** Every platform invocation span by request id, in one pass (for runs with many invocations). */
export function invocationSpanIndex(requests: readonly SinkRequest[]): Map<string, ReceivedSpan[]> {
  const index = new Map<string, ReceivedSpan[]>();
  for (const s of spansIn(requests)) {
    const id = attrs(s.span.attributes)[INVOCATION_ID];
    if (s.span.kind !== SPAN_KIND_SERVER || typeof id !== 'string') continue;
    const list = index.get(id);
    if (list) list.push(s);
    else index.set(id, [s]);
  }
  return index;
}

/** Children of a span, optionally by name (responseLatency, extensionOverhead, …). */
export function childSpans(
  requests: readonly SinkRequest[],
  parentSpanId: string,
  name?: string,
): ReceivedSpan[] {
  return spansIn(requests).filter(
    (s) => s.span.parentSpanId === parentSpanId && (name === undefined || s.span.name === name),
  );
}

/** Function log records of one request id. */
export function logRecordsFor(
  requests: readonly SinkRequest[],
  requestId: string,
): { body: unknown; receivedAtMs: number }[] {
  const out: { body: unknown; receivedAtMs: number }[] = [];
  for (const request of requests) {
    if (request.signal !== 'logs' || !request.decoded) continue;
    for (const record of allLogRecords(request.decoded as LogsRequest)) {
      if (attrs(record.attributes)[INVOCATION_ID] !== requestId) continue;
      out.push({ body: record.body?.stringValue, receivedAtMs: request.receivedAtMs });
    }
  }
  return out;
}

/**
 * How many measurements a counter or histogram has received in total, whatever the temporality:
 * delta points add up, a cumulative series counts its latest point.
 */
export function metricCount(requests: readonly SinkRequest[], name: string): number {
  let delta = 0;
  const cumulative = new Map<string, number>();
  for (const request of requests) {
    if (request.signal !== 'metrics' || !request.decoded) continue;
    for (const metric of allMetrics(request.decoded as MetricsRequest)) {
      if (metric.name !== name) continue;
      const sum = metric.sum;
      const histogram = metric.histogram;
      const temporality = sum?.aggregationTemporality ?? histogram?.aggregationTemporality;
      const points: (NumberDataPoint | HistogramDataPoint)[] = sum?.dataPoints ?? histogram?.dataPoints ?? [];
      for (const point of points) {
        const value = 'count' in point ? Number(point.count) : Number(point.asInt ?? point.asDouble ?? 0);
        if (temporality === DELTA) delta += value;
        else cumulative.set(JSON.stringify(attrs(point.attributes)), value);
      }
    }
  }
  let total = delta;
  for (const value of cumulative.values()) total += value;
  return total;
}

/**
 * Records how many requests the sink had accepted when each timeline entry was recorded (an
 * extension's /event/next, a thaw, …). Sink and simulator share this process's event loop, so the
 * count is exact, with no clock comparison: a request counted at an extension's /event/next was
 * fully received before the extension asked for its next event.
 */
export function sinkCountsAtTimeline(
  sim: LambdaSimulator,
  sink: OtlpSink,
): { at(entry: TimelineEntry): number; stop(): void } {
  const counts = new Map<TimelineEntry, number>();
  const stop = sim.timeline.subscribe((entry) => counts.set(entry, sink.requests.length));
  return {
    at(entry) {
      const count = counts.get(entry);
      if (count === undefined)
        throw new Error(`timeline entry ${entry.kind} was recorded before counting began`);
      return count;
    },
    stop: () => void stop(),
  };
}

/** The extension's /event/next entry at `atMs` (InvocationResult.extensionNextMs). */
export function nextEntryAt(
  sim: LambdaSimulator,
  atMs: number | undefined,
  extension = EXTENSION_NAME,
): TimelineEntry {
  const entry = sim.timeline.of('extension-next').find((e) => e.name === extension && e.atMs === atMs);
  if (!entry) throw new Error(`no /event/next of ${extension} at ${atMs}`);
  return entry;
}

export interface LoggedDecision {
  mode: 'blocking' | 'background';
  reason: string;
  startFlush?: string;
  requestId: string;
  atMs: number;
}

/** The flush manager's decisions, from the extension's debug log. */
export function loggedDecisions(lines: readonly string[]): LoggedDecision[] {
  const out: LoggedDecision[] = [];
  for (const line of lines) {
    const at = line.indexOf('flush decision: {');
    if (at < 0) continue;
    out.push(JSON.parse(line.slice(line.indexOf('{', at))) as LoggedDecision);
  }
  return out;
}

export interface LoggedFlush {
  kind: 'blocking' | 'background' | 'final';
  reason: string;
  exportedItems: number;
  retryLaterItems: number;
  frozenMidFlush: boolean;
}

export function loggedFlushes(lines: readonly string[]): LoggedFlush[] {
  const out: LoggedFlush[] = [];
  for (const line of lines) {
    const at = line.indexOf('flush done: {');
    if (at >= 0) out.push(JSON.parse(line.slice(line.indexOf('{', at))) as LoggedFlush);
  }
  return out;
}

/** The extension's last `shutdown (...)` line. */
export function shutdownLine(lines: readonly string[]): string | undefined {
  return lines.filter((l) => /\bshutdown \(\w+\): /.test(l)).at(-1);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/**
 * A proxy in front of the sink that can hold requests, as a backend does whose answer is still on
 * its way when the environment freezes, and later reset their connections without forwarding them
 * (the request never reached the backend: a retry cannot duplicate it).
 */
export interface HoldingProxy {
  readonly url: string;
  /** While on, every new request is held (not forwarded, not answered). */
  hold(on: boolean): void;
  /** Requests held so far (including reset ones). */
  heldCount(): number;
  /** Destroys the connections of the held requests. */
  resetHeld(): number;
  /** Requests forwarded to the sink. */
  forwardedCount(): number;
  close(): Promise<void>;
}

export async function startHoldingProxy(upstream: string): Promise<HoldingProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  let holding = false;
  let held = 0;
  let forwarded = 0;
  const heldSockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (holding) {
      held++;
      heldSockets.add(req.socket);
      req.resume(); // read the body: the client believes it was sent
      return;
    }
    forwarded++;
    const forward = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
        agent,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hold: (on) => {
      holding = on;
    },
    heldCount: () => held,
    resetHeld: () => {
      const n = heldSockets.size;
      for (const socket of heldSockets) socket.resetAndDestroy();
      heldSockets.clear();
      return n;
    },
    forwardedCount: () => forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of heldSockets) socket.destroy();
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sleeps outside the simulator (the environment keeps whatever state it is in). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `predicate` holds (polled), rejects with `what` after `timeoutMs`. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await pause(10);
  }
}
