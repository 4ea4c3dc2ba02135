// Platform telemetry → OTLP spans and metrics (OpenTelemetry FaaS semantic conventions).
//
// Records are correlated by requestId, never by "the current invocation": a report for invocation N
// may come during N+1 or at SHUTDOWN, and Managed Instances interleave invocations. Invocation spans
// are held after they end so the function's own trace can still be adopted (see
// InvocationDirectory), and handed out by collect(), which also emits the aggregated metrics.
// Every per-request structure is bounded by count and age; what is evicted is exported with what is
// known, marked incomplete.

import type { Attributes, Link } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type {
  InitReportEvent,
  InitRuntimeDoneEvent,
  InitStartEvent,
  InvokeEvent,
  LogsDroppedEvent,
  PlatformSpan,
  RegisterResponse,
  ReportEvent,
  RestoreReportEvent,
  RestoreRuntimeDoneEvent,
  RestoreStartEvent,
  RuntimeDoneEvent,
  ShutdownEvent,
  StartEvent,
  TelemetryEvent,
  TracingContext,
} from '../lambda/telemetry-events.js';
import type { ChunkProducer, ChunkSink, TelemetryChunk } from '../model/chunk.js';
import { encodeMetrics, encodeSpans } from './chunks.js';
import { addDurableExecution } from './durable.js';
import { type IdGenerator, isValidSpanId, RandomIdGenerator } from './ids.js';
import { Invocation, type InvocationDirectory, InvocationTable, TraceSource } from './invocations.js';
import { PlatformMetrics, type Temporality } from './metrics.js';
import { EnvironmentPhase, type PhaseKind } from './phases.js';
import { type Environment, PlatformResource } from './resource.js';
import {
  ATTR_AWS_LAMBDA_DURABLE,
  ATTR_AWS_LAMBDA_INCOMPLETE,
  ATTR_AWS_LAMBDA_INITIALIZATION_TYPE,
  ATTR_AWS_LAMBDA_INVOKED_ARN,
  ATTR_AWS_LAMBDA_PHASE,
  ATTR_AWS_LAMBDA_RUNTIME_VERSION,
  ATTR_CLOUD_RESOURCE_ID,
  ATTR_ERROR_TYPE,
  ATTR_FAAS_COLDSTART,
  ATTR_FAAS_INVOCATION_ID,
  ATTR_FAAS_INVOCATION_ID_LEGACY,
  ATTR_FAAS_TRIGGER,
  FAAS_TRIGGER_OTHER,
} from './semconv.js';
import { type FinishedSpan, internalSpan, linkTo, serverSpan, spanBounds, statusFor } from './spans.js';
import { ALWAYS_ON, type PlatformSampler } from './sampler.js';
import { parseTracing } from './trace-context.js';
import { EXTENSION_NAME, EXTENSION_VERSION } from './version.js';

export interface PlatformConverterOptions {
  /** Where the function's identity comes from (AWS_REGION, AWS_LAMBDA_FUNCTION_*, OTEL_*). */
  env?: Environment;
  /** Metric temporality; default cumulative (the Datadog preset forces delta). */
  temporality?: Temporality;
  /**
   * How long an ended invocation span waits for the function's trace to be adopted before it is
   * exported anyway, ms. Default 0: released at the first collect after it ended. Function SDKs
   * flush before the response, so adoption normally happens before runtimeDone; a positive hold
   * catches later arrivals but makes the end-of-invocation flush (which runs right after
   * runtimeDone) miss the span, delaying it to the next flush, possibly after a long freeze.
   */
  maxHeldMs?: number;
  /** Bound on invocations tracked at once (and, separately, on exported ones kept for late records). Default 1000. */
  maxInvocations?: number;
  /** An invocation without an end is exported as incomplete after this long, ms. Default 16 min. */
  maxInvocationAgeMs?: number;
  /**
   * Which platform spans are exported (metrics count every invocation anyway). Default always_on.
   * An invocation whose function spans arrive is exported whatever the sampler said.
   */
  sampler?: PlatformSampler;
  /** Export every platform span whatever the sampler says (the older switch; same as always_on). */
  exportUnsampled?: boolean;
  /**
   * How long an invocation the sampler dropped stays held for the function's spans, which would
   * make it exported after all, ms. Default 5000 (the SDK batch processor's delay).
   */
  unsampledHoldMs?: number;
  /** Spans per trace chunk. Default 512. */
  maxSpansPerChunk?: number;
  now?: () => number;
  idGenerator?: IdGenerator;
}

export interface ConverterStats {
  /** Telemetry events ingested (all types). */
  events: number;
  /** Events of a type this version does not know (kept by the parser as `unknown`). */
  unknownEvents: number;
  /** Events dropped because a required field was unusable (e.g. no requestId). */
  rejectedEvents: number;
  /** Events whose handling failed unexpectedly; the converter carried on. */
  eventErrors: number;
  invocations: number;
  spansExported: number;
  /** Spans not exported because the sampler dropped them. */
  spansUnsampled: number;
  /** Invocations the sampler dropped whose function spans came: exported after all (never an orphan). */
  invocationsKeptForFunction: number;
  /** Spans dropped because no collect came for too long (outbox bound, no sink). */
  spansDropped: number;
  /** Invocation spans exported without an end record. */
  incompleteInvocations: number;
  evictedByCount: number;
  evictedByAge: number;
  /** Records for invocations already forgotten; their metrics still count. */
  lateRecords: number;
  adoptions: number;
  /** Invocations that reused a known requestId (Lambda's retries of asynchronous invocations). */
  retries: number;
  /** Init spans dropped because a SnapStart restore replaced the environment. */
  phasesReplaced: number;
  traceChunks: number;
  metricsChunks: number;
  encodeErrors: number;
}

const DEFAULT_MAX_HELD_MS = 0;
const DEFAULT_UNSAMPLED_HOLD_MS = 5000;
const DEFAULT_MAX_INVOCATIONS = 1000;
const DEFAULT_MAX_AGE_MS = 16 * 60_000;
const DEFAULT_MAX_SPANS_PER_CHUNK = 512;
/** An invocation past its deadline by this much without an end record never gets one. */
const DEADLINE_GRACE_MS = 30_000;
/** An init/restore phase ending within this of the first invocation's start is part of its latency. */
const PHASE_GAP_MS = 10_000;
/** Lag allowed between an invocation's start and the extension reading its INVOKE. */
const ATTEMPT_SLACK_MS = 1000;
/** Phases kept for export at once (a new init before the previous one was exported). */
const MAX_PENDING_PHASES = 8;
/** Outbox bound without a sink, in chunks, and at least this many spans. */
const OUTBOX_CHUNKS = 8;
const OUTBOX_MIN_SPANS = 4096;

export class PlatformConverter implements ChunkProducer {
  private readonly counters: ConverterStats = {
    events: 0,
    unknownEvents: 0,
    rejectedEvents: 0,
    eventErrors: 0,
    invocations: 0,
    spansExported: 0,
    spansUnsampled: 0,
    invocationsKeptForFunction: 0,
    spansDropped: 0,
    incompleteInvocations: 0,
    evictedByCount: 0,
    evictedByAge: 0,
    lateRecords: 0,
    adoptions: 0,
    retries: 0,
    phasesReplaced: 0,
    traceChunks: 0,
    metricsChunks: 0,
    encodeErrors: 0,
  };
  /** The function's resource; the log converter should put the same one on its records. */
  readonly resource: PlatformResource;
  readonly scope: InstrumentationScope = { name: EXTENSION_NAME, version: EXTENSION_VERSION };

  private readonly table: InvocationTable;
  private readonly metrics: PlatformMetrics;
  private readonly ids: IdGenerator;
  private readonly now: () => number;
  private readonly maxHeldMs: number;
  private readonly maxAgeMs: number;
  private readonly sampler: PlatformSampler;
  private readonly unsampledHoldMs: number;
  private readonly maxSpansPerChunk: number;
  private readonly defaultInitType: string;

  private phase: EnvironmentPhase | undefined;
  private readonly pendingPhases: EnvironmentPhase[] = [];
  private coldstartPending = true;
  private firstInvocation: Invocation | undefined;
  private lastInvocation: Invocation | undefined;
  private durable = false;
  private outbox: FinishedSpan[] = [];
  private readonly maxOutbox: number;
  private collecting = false;
  private telemetryAvailable = true;
  private lastError: string | undefined;

  constructor(
    options: PlatformConverterOptions = {},
    private readonly sink?: ChunkSink,
  ) {
    const env = options.env ?? {};
    this.now = options.now ?? Date.now;
    this.ids = options.idGenerator ?? new RandomIdGenerator();
    this.maxHeldMs = nonNegative(options.maxHeldMs, DEFAULT_MAX_HELD_MS);
    this.maxAgeMs = nonNegative(options.maxInvocationAgeMs, DEFAULT_MAX_AGE_MS);
    this.sampler = options.exportUnsampled ? ALWAYS_ON : (options.sampler ?? ALWAYS_ON);
    this.unsampledHoldMs = nonNegative(options.unsampledHoldMs, DEFAULT_UNSAMPLED_HOLD_MS);
    this.maxSpansPerChunk = Math.max(
      1,
      Math.floor(nonNegative(options.maxSpansPerChunk, DEFAULT_MAX_SPANS_PER_CHUNK)),
    );
    this.maxOutbox = Math.max(OUTBOX_MIN_SPANS, this.maxSpansPerChunk * OUTBOX_CHUNKS);
    this.table = new InvocationTable(
      Math.max(1, Math.floor(nonNegative(options.maxInvocations, DEFAULT_MAX_INVOCATIONS))),
    );
    this.resource = new PlatformResource(env, this.ids);
    this.metrics = new PlatformMetrics(options.temporality ?? 'cumulative', this.now());
    this.defaultInitType = env.AWS_LAMBDA_INITIALIZATION_TYPE || 'on-demand';
  }

  /** Counters for self-telemetry. */
  get stats(): Readonly<ConverterStats> {
    this.counters.adoptions = this.table.adoptions;
    this.counters.invocationsKeptForFunction = this.table.keptForFunction;
    return this.counters;
  }

  /** Correlation for the function's own telemetry (local receiver, log converter). */
  get directory(): Required<InvocationDirectory> {
    return this.table;
  }

  /** The sampler in use, for the log. */
  get samplerDescription(): string {
    return this.sampler.description;
  }

  /** Invocations currently held (not yet exported). */
  get heldInvocations(): number {
    return this.table.active.size;
  }

  /** A description of the last unexpected failure, for self-telemetry. */
  get lastFailure(): string | undefined {
    return this.lastError;
  }

  onRegistered(reg: RegisterResponse): void {
    try {
      this.resource.setRegistration(reg);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * No Telemetry API here (a local emulator): nothing would ever end an invocation, so INVOKE builds
   * none; the function's spans then find no invocation to join and are forwarded as they are.
   */
  withoutTelemetry(): void {
    this.telemetryAvailable = false;
  }

  onInvoke(e: InvokeEvent): void {
    if (!this.telemetryAvailable) return;
    try {
      if (!isId(e?.requestId)) {
        this.counters.rejectedEvents++;
        return;
      }
      const tracing = e.tracing;
      const deadline = Number.isFinite(e.deadlineMs) ? e.deadlineMs : undefined;
      const inv = this.attemptFor(e.requestId, 'invoke', this.now(), tracing, deadline);
      if (tracing) this.applyTracing(inv, tracing);
      if (typeof e.invokedFunctionArn === 'string' && e.invokedFunctionArn !== '') {
        inv.invokedArn = e.invokedFunctionArn;
        inv.functionArn = this.resource.setInvokedArn(e.invokedFunctionArn);
      }
      if (Number.isFinite(e.deadlineMs)) inv.deadlineMs = e.deadlineMs;
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * SHUTDOWN: with reason timeout or failure, invocations still open ended that way (their end
   * records may never come). Follow with collect(now, true).
   */
  onShutdown(e: ShutdownEvent): void {
    try {
      const reason = typeof e?.shutdownReason === 'string' ? e.shutdownReason.toLowerCase() : '';
      if (reason !== 'timeout' && reason !== 'failure') return;
      for (const inv of this.table.active.values()) {
        if (inv.endMs === undefined && inv.status === undefined) inv.status = reason;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  ingest(events: readonly TelemetryEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as TelemetryEvent;
      this.counters.events++;
      try {
        this.dispatch(e);
      } catch (err) {
        this.fail(err);
      }
    }
    if (this.sink !== undefined && this.outbox.length >= this.maxSpansPerChunk) {
      for (const chunk of this.drainOutbox()) this.sink.enqueue(chunk);
    }
  }

  /**
   * Counts an out-of-memory end for the invocation (once per invocation), for OOMs only visible in
   * log lines (see isOutOfMemoryLine). Without a requestId the latest invocation is assumed.
   */
  noteOutOfMemory(requestId?: string): void {
    try {
      const inv = isId(requestId) ? this.table.get(requestId) : this.lastInvocation;
      if (inv === undefined) {
        this.metrics.recordOutOfMemory(this.now());
        return;
      }
      this.countOutOfMemory(inv, this.now());
    } catch (err) {
      this.fail(err);
    }
  }

  collect(nowMs: number, final: boolean): TelemetryChunk[] {
    const chunks: TelemetryChunk[] = [];
    try {
      if (!Number.isFinite(nowMs)) nowMs = this.now();
      this.collecting = true;
      try {
        this.releaseInvocations(nowMs, final);
        this.releasePhases(nowMs, final);
      } finally {
        this.collecting = false;
      }
      for (const chunk of this.drainOutbox()) chunks.push(chunk);
      const collected = this.metrics.collect(nowMs, this.resource, this.scope);
      if (collected !== undefined) {
        const chunk = encodeMetrics(collected.resourceMetrics, collected.points, collected.oldestMs);
        if (chunk === undefined) this.counters.encodeErrors++;
        else {
          this.counters.metricsChunks++;
          chunks.push(chunk);
        }
      }
    } catch (err) {
      this.fail(err);
    }
    return chunks;
  }

  // ---- dispatch -----------------------------------------------------------------------------

  private dispatch(e: TelemetryEvent): void {
    switch (e.type) {
      case 'platform.start':
        this.onStart(e);
        return;
      case 'platform.runtimeDone':
        this.onRuntimeDone(e);
        return;
      case 'platform.report':
        this.onReport(e);
        return;
      case 'function':
      case 'extension':
      case 'platform.extension':
      case 'platform.telemetrySubscription':
        return;
      case 'platform.initStart':
        this.onPhaseStart('init', e);
        return;
      case 'platform.restoreStart':
        this.onPhaseStart('restore', e);
        return;
      case 'platform.initRuntimeDone':
      case 'platform.restoreRuntimeDone':
        this.onPhaseRuntimeDone(e);
        return;
      case 'platform.initReport':
      case 'platform.restoreReport':
        this.onPhaseReport(e);
        return;
      case 'platform.logsDropped':
        this.onLogsDropped(e);
        return;
      case 'unknown':
        this.counters.unknownEvents++;
        return;
      default:
        this.counters.unknownEvents++;
    }
  }

  // ---- invocations ----------------------------------------------------------------------------

  private onStart(e: StartEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const inv = this.attemptFor(e.requestId, 'start', e.timeMs, e.tracing, undefined);
    if (e.tracing) this.applyTracing(inv, e.tracing);
    if (inv.startMs === undefined) inv.startMs = e.timeMs;
  }

  private onRuntimeDone(e: RuntimeDoneEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const inv = this.attemptFor(e.requestId, 'runtimeDone', e.timeMs, e.tracing, undefined);
    if (inv.runtimeDoneMs !== undefined) return; // a redelivered batch
    inv.runtimeDoneSeen = true;
    inv.runtimeDoneMs = e.timeMs;
    if (e.tracing) this.applyTracing(inv, e.tracing);
    inv.endMs = e.timeMs;
    if (isAmount(e.durationMs)) {
      inv.runtimeDurationMs = e.durationMs;
      if (inv.startMs === undefined) inv.startMs = e.timeMs - e.durationMs;
    }
    // A SHUTDOWN for a timeout may have ended the invocation first, without Lambda's error type.
    if (inv.status === undefined || inv.status === 'success' || (inv.status === e.status && !inv.errorType)) {
      inv.status = e.status;
      inv.errorType = e.errorType;
    }
    this.addChildren(inv, e.spans);
    if (Array.isArray(e.spans) && e.spans.length > 0 && !inv.reportSeen) inv.runtimeDoneSpans = e.spans;
    this.countInvocation(inv, e.timeMs);
    const at = e.timeMs;
    const latency = findSpan(e.spans, 'responseLatency');
    if (latency !== undefined) this.metrics.recordResponseLatency(latency.durationMs, at);
    if (isAmount(e.producedBytes)) this.metrics.recordProducedBytes(e.producedBytes, at);
  }

  private onReport(e: ReportEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const inv = this.attemptFor(e.requestId, 'report', e.timeMs, e.tracing, undefined);
    if (inv.reportMs !== undefined) return; // a redelivered batch
    inv.reportSeen = true;
    inv.reportMs = e.timeMs;
    if (e.tracing) this.applyTracing(inv, e.tracing);
    const at = e.timeMs;
    const duration = isAmount(e.durationMs) ? e.durationMs : undefined;
    if (inv.endMs === undefined) {
      // No runtimeDone (Managed Instances, or it was dropped): the report bounds the invocation.
      if (inv.startMs !== undefined && duration !== undefined) inv.endMs = inv.startMs + duration;
      else {
        inv.endMs = at;
        if (inv.startMs === undefined && duration !== undefined) inv.startMs = at - duration;
      }
    }
    if (
      inv.status === undefined ||
      (inv.status === 'success' && e.status !== 'success') ||
      (inv.status === e.status && !inv.errorType)
    ) {
      inv.status = e.status;
      inv.errorType = e.errorType;
    }
    const extensionOverhead = findSpan(e.spans, 'extensionOverhead');
    if (!inv.runtimeDoneSeen) {
      // The invocation's own figures come from the report alone.
      const latency = findSpan(e.spans, 'responseLatency');
      if (latency !== undefined) this.metrics.recordResponseLatency(latency.durationMs, at);
      if (duration !== undefined && inv.runtimeDurationMs === undefined) {
        inv.runtimeDurationMs =
          extensionOverhead !== undefined && isAmount(extensionOverhead.durationMs)
            ? Math.max(0, duration - extensionOverhead.durationMs)
            : duration;
      }
      this.addChildren(inv, e.spans);
    } else {
      this.addChildren(inv, e.spans, inv.runtimeDoneSpans);
      inv.runtimeDoneSpans = undefined;
    }
    this.countInvocation(inv, at);

    if (isAmount(e.billedDurationMs)) this.metrics.recordBilledDuration(e.billedDurationMs, at);
    if (isAmount(e.maxMemoryUsedMB)) this.metrics.recordMemoryUsed(e.maxMemoryUsedMB, at);
    if (isAmount(e.memorySizeMB)) this.resource.setMaxMemoryMiB(e.memorySizeMB);
    if (isAmount(e.maxMemoryUsedMB) && isAmount(e.memorySizeMB) && e.memorySizeMB > 0) {
      if (e.maxMemoryUsedMB >= e.memorySizeMB) this.countOutOfMemory(inv, at);
    }
    if (inv.runtimeDoneSeen) {
      if (extensionOverhead !== undefined) {
        this.metrics.recordPostRuntimeDuration(extensionOverhead.durationMs, at);
      } else if (
        duration !== undefined &&
        inv.runtimeDurationMs !== undefined &&
        duration >= inv.runtimeDurationMs
      ) {
        this.metrics.recordPostRuntimeDuration(duration - inv.runtimeDurationMs, at);
      }
    }
    if (isAmount(e.initDurationMs)) this.countPhaseDuration('init', e.initDurationMs, at);
    if (isAmount(e.restoreDurationMs)) this.countPhaseDuration('restore', e.restoreDurationMs, at);
  }

  /**
   * The invocation attempt a record belongs to. Lambda reuses the requestId when it retries an
   * asynchronous invocation, so a record for a known requestId is a new attempt when its time
   * differs from what the known one already has (a redelivered batch repeats the same times); and
   * a late record of the previous attempt (its report arriving after the retry's INVOKE) goes to it.
   */
  private attemptFor(
    requestId: string,
    kind: 'invoke' | 'start' | 'runtimeDone' | 'report',
    timeMs: number,
    tracing: TracingContext | undefined,
    deadlineMs: number | undefined,
  ): Invocation {
    let inv = this.table.get(requestId);
    if (inv === undefined) return this.createInvocation(requestId, timeMs, tracing);
    const previous = inv.previousAttempt;
    if (previous !== undefined && belongsToPrevious(inv, previous, kind, timeMs)) {
      inv = previous;
    } else if (isNewAttempt(inv, kind, timeMs, deadlineMs)) {
      if (!inv.exported) this.exportInvocation(inv, timeMs);
      const next = this.createInvocation(requestId, timeMs, tracing);
      if (next.spanId === inv.spanId) {
        // The same tracing value again: two attempts must still be two spans.
        next.spanId = this.ids.spanId();
        next.spanIdFromLambda = true; // decided: later records must not bring that id back
      }
      next.previousAttempt = inv;
      inv.previousAttempt = undefined;
      this.counters.retries++;
      return next;
    }
    if (timeMs > inv.lastSeenMs) inv.lastSeenMs = timeMs;
    return inv;
  }

  /** A new invocation, with ids from its tracing if any. */
  private createInvocation(
    requestId: string,
    seenMs: number,
    tracing: TracingContext | undefined,
  ): Invocation {
    const ctx = tracing ? parseTracing(tracing.type, tracing.value) : undefined;
    const lambdaSpanId = tracing?.spanId?.toLowerCase();
    const spanIdFromLambda =
      lambdaSpanId !== undefined && isValidSpanId(lambdaSpanId) && lambdaSpanId !== ctx?.parentSpanId;
    const inv = new Invocation(
      requestId,
      seenMs,
      ctx ? ctx.traceId : this.ids.traceId(),
      spanIdFromLambda ? lambdaSpanId : this.ids.spanId(),
    );
    if (ctx) {
      inv.traceSource = TraceSource.Lambda;
      inv.parentSpanId = ctx.parentSpanId;
      inv.tracingValue = tracing?.value;
    }
    inv.sampled = this.sampler.shouldSample(inv.traceId, ctx?.sampled);
    inv.spanIdFromLambda = spanIdFromLambda;
    if (this.coldstartPending) {
      inv.coldstart = true;
      this.coldstartPending = false;
      this.firstInvocation = inv;
    }
    this.counters.invocations++;
    this.lastInvocation = inv;
    const evicted = this.table.addActive(inv);
    if (evicted !== undefined) {
      this.counters.evictedByCount++;
      this.exportInvocation(evicted, seenMs);
    }
    return inv;
  }

  /**
   * Lambda's trace context replaces generated ids until the ids were handed out or exported. An
   * adopted function trace keeps its trace id, but the span id may still become Lambda's: the
   * function was given it as its parent.
   */
  private applyTracing(inv: Invocation, tracing: TracingContext): void {
    if (inv.exported || inv.leased) return;
    const value = tracing.value;
    if (value !== inv.tracingValue && inv.traceSource === TraceSource.Generated) {
      inv.tracingValue = value;
      const ctx = parseTracing(tracing.type, value);
      if (ctx !== undefined) {
        const previous = inv.traceId;
        inv.traceId = ctx.traceId;
        inv.parentSpanId = ctx.parentSpanId === inv.spanId ? undefined : ctx.parentSpanId;
        inv.sampled = this.sampler.shouldSample(inv.traceId, ctx.sampled);
        inv.traceSource = TraceSource.Lambda;
        this.table.retrace(inv, previous);
      }
    }
    const spanId = tracing.spanId;
    if (!inv.spanIdFromLambda && typeof spanId === 'string') {
      const id = spanId.toLowerCase();
      if (isValidSpanId(id) && id !== inv.parentSpanId) {
        inv.spanId = id;
        inv.spanIdFromLambda = true;
      }
    }
  }

  /** `skip`: phase spans already taken from runtimeDone (a report may repeat them). */
  private addChildren(
    inv: Invocation,
    spans: readonly PlatformSpan[] | undefined,
    skip?: readonly PlatformSpan[],
  ): void {
    if (!Array.isArray(spans) || spans.length === 0) return;
    for (const span of spans) {
      if (!isPlatformSpan(span)) continue;
      if (skip !== undefined && findSpan(skip, span.name) !== undefined) continue;
      if (inv.exported)
        this.pushSpan(this.childSpan(inv.traceId, inv.spanId, inv.sampled, span), inv.sampled);
      else inv.children.push(span);
    }
  }

  /** The function runs durable executions: spans say so, and metrics (aws.lambda.durable only). */
  private markDurable(): void {
    this.durable = true;
    this.metrics.markDurable();
  }

  /** The per-invocation counters, once per invocation, from whichever end record comes first. */
  private countInvocation(inv: Invocation, atMs: number): void {
    if (inv.durableExecutionArn !== undefined && !this.durable) this.markDurable();
    if (!inv.invocationCounted && (inv.runtimeDoneSeen || inv.reportSeen)) {
      inv.invocationCounted = true;
      this.metrics.recordInvocation(inv.coldstart, atMs);
      if (inv.runtimeDurationMs !== undefined) {
        this.metrics.recordInvokeDuration(inv.runtimeDurationMs, inv.coldstart, atMs);
      }
    }
    if (!inv.errorCounted && inv.status !== undefined && inv.status !== 'success') {
      inv.errorCounted = true;
      this.metrics.recordError(inv.errorType || inv.status, inv.status === 'timeout', atMs);
      if (inv.errorType === 'Runtime.OutOfMemory') this.countOutOfMemory(inv, atMs);
    }
  }

  private countOutOfMemory(inv: Invocation, atMs: number): void {
    if (inv.oomCounted) return;
    inv.oomCounted = true;
    this.metrics.recordOutOfMemory(atMs);
  }

  private releaseInvocations(nowMs: number, final: boolean): void {
    for (const inv of this.table.active.values()) {
      if (final) {
        this.exportInvocation(inv, nowMs);
      } else if (inv.endMs !== undefined) {
        // A dropped invocation waits longer: the function's spans, should they come, keep it.
        const hold = inv.sampled ? this.maxHeldMs : Math.max(this.maxHeldMs, this.unsampledHoldMs);
        if (inv.released || nowMs - inv.endMs >= hold) this.exportInvocation(inv, nowMs);
      } else if (
        nowMs - inv.firstSeenMs > this.maxAgeMs ||
        (inv.deadlineMs !== undefined && nowMs > inv.deadlineMs + DEADLINE_GRACE_MS)
      ) {
        this.counters.evictedByAge++;
        this.exportInvocation(inv, nowMs);
      }
    }
  }

  /** Builds the invocation's spans (and its init/restore span if it joins this trace) into the outbox. */
  private exportInvocation(inv: Invocation, nowMs: number): void {
    const incomplete = inv.endMs === undefined;
    if (incomplete) {
      this.counters.incompleteInvocations++;
      if (!inv.invocationCounted) {
        // It was invoked; how it ended is unknown (unless SHUTDOWN said), so no duration.
        inv.invocationCounted = true;
        this.metrics.recordInvocation(inv.coldstart, inv.lastSeenMs);
      }
      this.countInvocation(inv, inv.lastSeenMs);
    }
    if (inv === this.firstInvocation) this.placePhase(inv);

    const [start, end] = spanBounds(inv.startMs, inv.endMs ?? inv.lastSeenMs, inv.firstSeenMs);
    const a: Attributes = {
      [ATTR_FAAS_INVOCATION_ID_LEGACY]: inv.requestId,
      [ATTR_FAAS_INVOCATION_ID]: inv.requestId,
      [ATTR_FAAS_COLDSTART]: inv.coldstart,
      [ATTR_FAAS_TRIGGER]: FAAS_TRIGGER_OTHER,
    };
    if (inv.functionArn !== undefined) a[ATTR_CLOUD_RESOURCE_ID] = inv.functionArn;
    if (inv.invokedArn !== undefined) a[ATTR_AWS_LAMBDA_INVOKED_ARN] = inv.invokedArn;
    if (inv.status !== undefined && inv.status !== 'success')
      a[ATTR_ERROR_TYPE] = inv.errorType || inv.status;
    if (inv.durableExecutionArn !== undefined) {
      if (!this.durable) this.markDurable();
      addDurableExecution(a, inv.durableExecutionArn);
    }
    if (this.durable) a[ATTR_AWS_LAMBDA_DURABLE] = true;
    if (incomplete) a[ATTR_AWS_LAMBDA_INCOMPLETE] = true;
    let links: Link[] | undefined;
    const linked = inv.phaseLink;
    if (linked !== undefined) links = [linkTo(linked.traceId, linked.spanId, true)];

    const sampled = inv.sampled;
    this.pushSpan(
      serverSpan(
        inv,
        true,
        this.resource.functionName,
        start,
        end - start,
        a,
        statusFor(inv.status, inv.errorType),
        links,
        this.scope,
      ),
      sampled,
    );
    for (const child of inv.children)
      this.pushSpan(this.childSpan(inv.traceId, inv.spanId, sampled, child), sampled);
    inv.exported = true;
    if (!sampled) inv.dropped = true;
    const phase = inv.phase;
    this.table.finish(inv);
    if (phase?.ended && !phase.exported) this.exportPhase(phase, nowMs);
  }

  private childSpan(
    traceId: string,
    parentSpanId: string,
    sampled: boolean,
    span: PlatformSpan,
  ): FinishedSpan {
    const duration = isAmount(span.durationMs) ? span.durationMs : 0;
    return internalSpan(
      { traceId, spanId: this.ids.spanId(), parentSpanId, sampled },
      span.name,
      span.startMs,
      duration,
      undefined,
      undefined,
      undefined,
      this.scope,
    );
  }

  private pushSpan(span: FinishedSpan, sampled: boolean): void {
    if (!sampled) {
      this.counters.spansUnsampled++;
      return;
    }
    this.outbox.push(span);
    // Spans released between collects (evictions, late phase spans) wait in the outbox; without a
    // sink to hand them to, a stalled pipeline must not grow it forever. A collect drains it whole.
    if (!this.collecting && this.sink === undefined && this.outbox.length > this.maxOutbox) {
      const dropped = this.outbox.length - this.maxOutbox;
      this.outbox.splice(0, dropped);
      this.counters.spansDropped += dropped;
    }
  }

  private drainOutbox(): TelemetryChunk[] {
    if (this.outbox.length === 0) return [];
    const spans = this.outbox;
    this.outbox = [];
    const resource = this.resource.get();
    const chunks: TelemetryChunk[] = [];
    for (let i = 0; i < spans.length; i += this.maxSpansPerChunk) {
      const batch = spans.length <= this.maxSpansPerChunk ? spans : spans.slice(i, i + this.maxSpansPerChunk);
      let chunk: TelemetryChunk | undefined;
      try {
        chunk = encodeSpans(batch, resource);
      } catch (err) {
        this.fail(err);
      }
      if (chunk === undefined) {
        this.counters.encodeErrors++;
        this.counters.spansDropped += batch.length;
        continue;
      }
      this.counters.traceChunks++;
      this.counters.spansExported += batch.length;
      chunks.push(chunk);
    }
    return chunks;
  }

  // ---- init / restore -------------------------------------------------------------------------

  private onPhaseStart(kind: PhaseKind, e: InitStartEvent | RestoreStartEvent): void {
    if (!isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const current = this.phase;
    if (current !== undefined && current.kind === kind && current.startMs === e.timeMs) return; // redelivered
    if (kind === 'restore') this.startRestoredEnvironment(e as RestoreStartEvent);
    else if (current !== undefined) this.retirePhase(current);
    const initType =
      kind === 'restore'
        ? 'snap-start'
        : str((e as InitStartEvent).initializationType) || this.defaultInitType;
    const phase = new EnvironmentPhase(kind, initType, this.ids.traceId(), this.ids.spanId(), e.timeMs);
    phase.startMs = e.timeMs;
    if (kind === 'init') phase.phase = str((e as InitStartEvent).phase);
    phase.runtimeVersion = str(e.runtimeVersion);
    if (phase.runtimeVersion?.includes('DurableFunction')) this.markDurable();
    if (kind === 'init') this.resource.setInstance(str(e.instanceId));
    if (isAmount(e.instanceMaxMemory)) this.resource.setMaxMemoryMiB(e.instanceMaxMemory);
    this.phase = phase;
  }

  /**
   * A SnapStart restore: this process now runs in a new environment cloned from the snapshot. What
   * was held from before the snapshot (the init span, aggregated metrics, buffered random bytes,
   * the environment id) belongs to the snapshot, not to this environment.
   */
  private startRestoredEnvironment(e: RestoreStartEvent): void {
    if (this.ids instanceof RandomIdGenerator) this.ids.reseed();
    this.resource.setInstance(str(e.instanceId), true);
    this.metrics.restart(e.timeMs);
    const old = this.phase;
    if (old !== undefined && !old.exported) this.counters.phasesReplaced++;
    for (const p of this.pendingPhases) if (!p.exported) this.counters.phasesReplaced++;
    this.pendingPhases.length = 0;
    this.phase = undefined;
    const first = this.lastInvocation;
    if (first?.coldstart && !first.exported && !first.invocationCounted) {
      // The first INVOKE after the restore was read before the restore records arrived.
      this.firstInvocation = first;
      if (first.traceSource === TraceSource.Generated && !first.leased) {
        const previous = first.traceId;
        first.traceId = this.ids.traceId();
        if (!first.spanIdFromLambda) first.spanId = this.ids.spanId();
        this.table.retrace(first, previous);
      }
    } else {
      this.firstInvocation = undefined;
      this.coldstartPending = true;
    }
  }

  private phaseFor(kind: PhaseKind, timeMs: number, initType: string | undefined): EnvironmentPhase {
    const current = this.phase;
    if (current !== undefined && current.kind === kind) {
      if (timeMs > current.lastSeenMs) current.lastSeenMs = timeMs;
      return current;
    }
    // Its start record was missed: a phase known from its end only.
    if (current !== undefined) this.retirePhase(current);
    const phase = new EnvironmentPhase(
      kind,
      kind === 'restore' ? 'snap-start' : initType || this.defaultInitType,
      this.ids.traceId(),
      this.ids.spanId(),
      timeMs,
    );
    this.phase = phase;
    return phase;
  }

  private onPhaseRuntimeDone(e: InitRuntimeDoneEvent | RestoreRuntimeDoneEvent): void {
    if (!isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const kind: PhaseKind = e.type === 'platform.initRuntimeDone' ? 'init' : 'restore';
    const initType = e.type === 'platform.initRuntimeDone' ? str(e.initializationType) : undefined;
    const phase = this.phaseFor(kind, e.timeMs, initType);
    if (phase.childrenFrom === 'runtimeDone') return; // redelivered
    if (phase.exported) {
      this.counters.lateRecords++;
      return;
    }
    phase.ended = true;
    phase.endMs = e.timeMs;
    if (phase.startMs === undefined) phase.startMs = earliestStart(e.spans) ?? e.timeMs;
    if (phase.status === undefined || phase.status === 'success') {
      phase.status = str(e.status);
      phase.errorType = str(e.errorType);
    }
    if (e.type === 'platform.initRuntimeDone' && phase.phase === undefined) phase.phase = str(e.phase);
    this.addPhaseChildren(phase, e.spans, 'runtimeDone');
  }

  private onPhaseReport(e: InitReportEvent | RestoreReportEvent): void {
    if (!isTime(e.timeMs)) {
      this.counters.rejectedEvents++;
      return;
    }
    const kind: PhaseKind = e.type === 'platform.initReport' ? 'init' : 'restore';
    const initType = e.type === 'platform.initReport' ? str(e.initializationType) : undefined;
    const phase = this.phaseFor(kind, e.timeMs, initType);
    const duration = isAmount(e.durationMs) ? e.durationMs : undefined;
    if (!phase.exported) {
      phase.ended = true;
      if (duration !== undefined) {
        if (phase.startMs === undefined) phase.startMs = e.timeMs - duration;
        phase.endMs = phase.startMs + duration;
      } else if (phase.endMs === undefined) {
        phase.endMs = e.timeMs;
        if (phase.startMs === undefined) phase.startMs = e.timeMs;
      }
      if (phase.status === undefined || (phase.status === 'success' && e.status !== 'success')) {
        phase.status = str(e.status);
        phase.errorType = str(e.errorType);
      }
      if (e.type === 'platform.initReport' && phase.phase === undefined) phase.phase = str(e.phase);
      if (phase.childrenFrom !== 'runtimeDone') this.addPhaseChildren(phase, e.spans, 'report');
    } else {
      this.counters.lateRecords++;
    }
    if (duration !== undefined && !phase.durationCounted) {
      phase.durationCounted = true;
      if (kind === 'init') this.metrics.recordInitDuration(duration, phase.initializationType, e.timeMs);
      else this.metrics.recordRestoreDuration(duration, e.timeMs);
    }
  }

  private addPhaseChildren(
    phase: EnvironmentPhase,
    spans: readonly PlatformSpan[] | undefined,
    from: 'runtimeDone' | 'report',
  ): void {
    phase.childrenFrom = from;
    if (!Array.isArray(spans)) return;
    for (const span of spans) if (isPlatformSpan(span)) phase.children.push(span);
  }

  /** init/restore duration from the first invocation's report, unless the phase's own report gave it. */
  private countPhaseDuration(kind: PhaseKind, durationMs: number, atMs: number): void {
    const phase = this.phase;
    if (phase !== undefined && phase.kind === kind) {
      if (phase.durationCounted) return;
      phase.durationCounted = true;
      if (kind === 'init') this.metrics.recordInitDuration(durationMs, phase.initializationType, atMs);
      else this.metrics.recordRestoreDuration(durationMs, atMs);
      return;
    }
    if (kind === 'init') this.metrics.recordInitDuration(durationMs, this.defaultInitType, atMs);
    else this.metrics.recordRestoreDuration(durationMs, atMs);
  }

  /**
   * Decides where the environment's phase goes when its first invocation is exported: inside the
   * invocation's trace as a child of the invocation span when it was part of that request's latency
   * (on-demand init, SnapStart restore), otherwise in its own trace, linked from the invocation.
   */
  private placePhase(inv: Invocation): void {
    const phase = this.phase;
    if (phase === undefined || phase.attachedTo !== undefined) return;
    if (!phase.exported && phaseJoins(phase, inv)) {
      phase.attachedTo = inv;
      inv.phase = phase;
    } else {
      inv.phaseLink = phase;
    }
  }

  /** A phase replaced by a newer one is exported on its own at the next collect. */
  private retirePhase(phase: EnvironmentPhase): void {
    if (phase.exported) return;
    if (this.pendingPhases.length >= MAX_PENDING_PHASES) {
      const oldest = this.pendingPhases.shift() as EnvironmentPhase;
      this.exportPhase(oldest, oldest.lastSeenMs);
    }
    this.pendingPhases.push(phase);
  }

  private releasePhases(nowMs: number, final: boolean): void {
    while (this.pendingPhases.length > 0)
      this.exportPhase(this.pendingPhases.shift() as EnvironmentPhase, nowMs);
    const phase = this.phase;
    if (phase === undefined || phase.exported) return;
    const attached = phase.attachedTo;
    if (final) {
      if (attached === undefined || attached.exported) this.exportPhase(phase, nowMs);
      return;
    }
    if (!phase.ended) {
      if (nowMs - (phase.startMs ?? phase.lastSeenMs) > this.maxAgeMs) this.exportPhase(phase, nowMs);
      return;
    }
    if (attached !== undefined) {
      if (attached.exported) this.exportPhase(phase, nowMs);
      return;
    }
    const first = this.firstInvocation;
    // Waiting for the first invocation to take it into its trace?
    const mayJoin = joinableType(phase.initializationType) && (first === undefined || !first.exported);
    if (mayJoin && first !== undefined) return;
    const hold = mayJoin ? Math.max(this.maxHeldMs, PHASE_GAP_MS) : this.maxHeldMs;
    if (nowMs - (phase.endMs ?? phase.lastSeenMs) >= hold) this.exportPhase(phase, nowMs);
  }

  private exportPhase(phase: EnvironmentPhase, nowMs: number): void {
    if (phase.exported) return;
    phase.exported = true;
    const inv = phase.attachedTo;
    if (inv !== undefined) {
      phase.traceId = inv.traceId;
    }
    // In its own trace the phase is a root: the sampler decides without a parent.
    const sampled = inv !== undefined ? inv.sampled : this.sampler.shouldSample(phase.traceId, undefined);
    const incomplete = !phase.ended;
    const [start, end] = spanBounds(phase.startMs, incomplete ? phase.lastSeenMs : phase.endMs, nowMs);
    const a: Attributes = { [ATTR_AWS_LAMBDA_INITIALIZATION_TYPE]: phase.initializationType };
    if (phase.phase) a[ATTR_AWS_LAMBDA_PHASE] = phase.phase;
    if (phase.runtimeVersion) a[ATTR_AWS_LAMBDA_RUNTIME_VERSION] = phase.runtimeVersion;
    if (phase.status !== undefined && phase.status !== 'success')
      a[ATTR_ERROR_TYPE] = phase.errorType || phase.status;
    if (this.durable) a[ATTR_AWS_LAMBDA_DURABLE] = true;
    if (incomplete) a[ATTR_AWS_LAMBDA_INCOMPLETE] = true;
    const identity = { traceId: phase.traceId, spanId: phase.spanId, parentSpanId: inv?.spanId, sampled };
    this.pushSpan(
      internalSpan(
        identity,
        phase.kind,
        start,
        end - start,
        a,
        statusFor(phase.status, phase.errorType),
        undefined,
        this.scope,
      ),
      sampled,
    );
    for (const child of phase.children)
      this.pushSpan(this.childSpan(phase.traceId, phase.spanId, sampled, child), sampled);
    phase.children = [];
  }

  // ---- other records --------------------------------------------------------------------------

  private onLogsDropped(e: LogsDroppedEvent): void {
    this.metrics.recordLogsDropped(
      e.droppedRecords,
      e.droppedBytes,
      isTime(e.timeMs) ? e.timeMs : this.now(),
    );
  }

  private fail(err: unknown): void {
    this.counters.eventErrors++;
    this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
}

/**
 * A record older than the current attempt: its start redelivered, or an end record from before the
 * current attempt began (its INVOKE is read with the extension's clock, so allow for delivery lag;
 * Lambda retries come a minute or more apart).
 */
function belongsToPrevious(
  inv: Invocation,
  previous: Invocation,
  kind: 'invoke' | 'start' | 'runtimeDone' | 'report',
  timeMs: number,
): boolean {
  if (kind === 'invoke') return false;
  if (kind === 'start') return timeMs === previous.startMs;
  return timeMs < (inv.startMs ?? inv.firstSeenMs - ATTEMPT_SLACK_MS);
}

function isNewAttempt(
  inv: Invocation,
  kind: 'invoke' | 'start' | 'runtimeDone' | 'report',
  timeMs: number,
  deadlineMs: number | undefined,
): boolean {
  switch (kind) {
    case 'invoke':
      // No time on INVOKE: a different deadline, or an attempt already gone out, means another one.
      return (
        (inv.deadlineMs !== undefined && deadlineMs !== undefined && deadlineMs !== inv.deadlineMs) ||
        inv.exported
      );
    case 'start':
      return inv.startMs !== undefined && timeMs > inv.startMs && timeMs > (inv.endMs ?? inv.startMs);
    case 'runtimeDone':
      return inv.runtimeDoneMs !== undefined && timeMs > inv.runtimeDoneMs;
    case 'report':
      return inv.reportMs !== undefined && timeMs > inv.reportMs;
  }
}

function joinableType(initializationType: string): boolean {
  return (
    initializationType !== 'provisioned-concurrency' && initializationType !== 'lambda-managed-instances'
  );
}

function phaseJoins(phase: EnvironmentPhase, inv: Invocation): boolean {
  if (!joinableType(phase.initializationType)) return false;
  const invStart = inv.startMs ?? inv.firstSeenMs;
  const phaseEnd = phase.endMs ?? phase.lastSeenMs;
  return invStart - phaseEnd <= PHASE_GAP_MS;
}

function findSpan(spans: readonly PlatformSpan[] | undefined, name: string): PlatformSpan | undefined {
  if (!Array.isArray(spans)) return undefined;
  for (const s of spans)
    if (s !== null && typeof s === 'object' && s.name === name && isAmount(s.durationMs)) return s;
  return undefined;
}

function earliestStart(spans: readonly PlatformSpan[] | undefined): number | undefined {
  if (!Array.isArray(spans)) return undefined;
  let min: number | undefined;
  for (const s of spans) if (isPlatformSpan(s) && (min === undefined || s.startMs < min)) min = s.startMs;
  return min;
}

function isPlatformSpan(s: unknown): s is PlatformSpan {
  if (s === null || typeof s !== 'object') return false;
  const span = s as PlatformSpan;
  return typeof span.name === 'string' && isTime(span.startMs) && typeof span.durationMs === 'number';
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isAmount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function nonNegative(v: number | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fallback;
}
