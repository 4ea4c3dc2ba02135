// Invocation tracking: one Invocation per attempt of a requestId, built from whichever of its
// records come (INVOKE, platform.start, runtimeDone, report — in any order, redelivered, or never),
// with Lambda's trace context applied until its ids were handed out, and released to the outbox
// when it ended and its hold passed, when it is too old, or at the final collect.
//
// Records are correlated by requestId, never by "the current invocation": a report for invocation N
// may come during N+1 or at SHUTDOWN, and Managed Instances interleave invocations.

import type {
  InvokeEvent,
  PlatformSpan,
  ReportEvent,
  RuntimeDoneEvent,
  ShutdownEvent,
  StartEvent,
  TracingContext,
} from '../lambda/telemetry-events.js';
import type { ConverterStats } from './converter-stats.js';
import { HELD_INVOCATION_BYTES, HELD_PLATFORM_SPAN_BYTES, type HeldMemory } from './held-memory.js';
import { type IdGenerator, isValidSpanId } from './ids.js';
import { Invocation, type InvocationTable, TraceSource } from './invocations.js';
import type { InvocationCounting } from './metric-counting.js';
import type { SpanOutbox } from './outbox.js';
import type { PhaseTracker } from './phase-tracker.js';
import { belongsToPrevious, isNewAttempt, type RecordKind } from './attempts.js';
import { findSpan, isAmount, isId, isPlatformSpan, isTime } from './record-checks.js';
import type { PlatformResource } from './resource.js';
import type { PlatformSampler } from './sampler.js';
import type { SpanAssembler } from './span-assembly.js';
import { parseTracing } from './trace-context.js';

/** An invocation past its deadline by this much without an end record never gets one. */
const DEADLINE_GRACE_MS = 30_000;

export interface InvocationTrackerParts {
  counters: ConverterStats;
  table: InvocationTable;
  ids: IdGenerator;
  sampler: PlatformSampler;
  resource: PlatformResource;
  counting: InvocationCounting;
  spans: SpanAssembler;
  outbox: SpanOutbox;
  phases: PhaseTracker;
  memory: HeldMemory;
  maxHeldMs: number;
  unsampledHoldMs: number;
  maxAgeMs: number;
}

export class InvocationTracker {
  private coldstartPending = true;
  /** The environment's first invocation (the cold start), which the init/restore phase may join. */
  firstInvocation: Invocation | undefined;
  /** The latest invocation seen, for records that name none. */
  lastInvocation: Invocation | undefined;

  constructor(private readonly parts: InvocationTrackerParts) {}

  onInvoke(e: InvokeEvent, nowMs: number): void {
    if (!isId(e?.requestId)) {
      this.parts.counters.rejectedEvents++;
      return;
    }
    const tracing = e.tracing;
    const deadline = Number.isFinite(e.deadlineMs) ? e.deadlineMs : undefined;
    const inv = this.attemptFor(e.requestId, 'invoke', nowMs, tracing, deadline);
    if (tracing) this.applyTracing(inv, tracing);
    if (typeof e.invokedFunctionArn === 'string' && e.invokedFunctionArn !== '') {
      inv.invokedArn = e.invokedFunctionArn;
      inv.functionArn = this.parts.resource.setInvokedArn(e.invokedFunctionArn);
    }
    if (Number.isFinite(e.deadlineMs)) inv.deadlineMs = e.deadlineMs;
  }

  /** SHUTDOWN with reason timeout or failure: invocations still open ended that way. */
  onShutdown(e: ShutdownEvent): void {
    const reason = typeof e?.shutdownReason === 'string' ? e.shutdownReason.toLowerCase() : '';
    if (reason !== 'timeout' && reason !== 'failure') return;
    for (const inv of this.parts.table.active.values()) {
      if (inv.endMs === undefined && inv.status === undefined) inv.status = reason;
    }
  }

  onStart(e: StartEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.parts.counters.rejectedEvents++;
      return;
    }
    const inv = this.attemptFor(e.requestId, 'start', e.timeMs, e.tracing, undefined);
    if (e.tracing) this.applyTracing(inv, e.tracing);
    if (inv.startMs === undefined) inv.startMs = e.timeMs;
  }

  onRuntimeDone(e: RuntimeDoneEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.parts.counters.rejectedEvents++;
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
    const { counting } = this.parts;
    counting.countInvocation(inv, e.timeMs);
    const at = e.timeMs;
    const latency = findSpan(e.spans, 'responseLatency');
    if (latency !== undefined) counting.metrics.recordResponseLatency(latency.durationMs, at);
    if (isAmount(e.producedBytes)) counting.metrics.recordProducedBytes(e.producedBytes, at);
  }

  onReport(e: ReportEvent): void {
    if (!isId(e.requestId) || !isTime(e.timeMs)) {
      this.parts.counters.rejectedEvents++;
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
    const { counting, resource, phases } = this.parts;
    const metrics = counting.metrics;
    const extensionOverhead = findSpan(e.spans, 'extensionOverhead');
    if (!inv.runtimeDoneSeen) {
      // The invocation's own figures come from the report alone.
      const latency = findSpan(e.spans, 'responseLatency');
      if (latency !== undefined) metrics.recordResponseLatency(latency.durationMs, at);
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
    counting.countInvocation(inv, at);

    if (isAmount(e.billedDurationMs)) metrics.recordBilledDuration(e.billedDurationMs, at);
    if (isAmount(e.maxMemoryUsedMB)) metrics.recordMemoryUsed(e.maxMemoryUsedMB, at);
    if (isAmount(e.memorySizeMB)) resource.setMaxMemoryMiB(e.memorySizeMB);
    if (isAmount(e.maxMemoryUsedMB) && isAmount(e.memorySizeMB) && e.memorySizeMB > 0) {
      if (e.maxMemoryUsedMB >= e.memorySizeMB) counting.countOutOfMemory(inv, at);
    }
    if (inv.runtimeDoneSeen) {
      if (extensionOverhead !== undefined) {
        metrics.recordPostRuntimeDuration(extensionOverhead.durationMs, at);
      } else if (
        duration !== undefined &&
        inv.runtimeDurationMs !== undefined &&
        duration >= inv.runtimeDurationMs
      ) {
        metrics.recordPostRuntimeDuration(duration - inv.runtimeDurationMs, at);
      }
    }
    if (isAmount(e.initDurationMs)) phases.countDuration('init', e.initDurationMs, at);
    if (isAmount(e.restoreDurationMs)) phases.countDuration('restore', e.restoreDurationMs, at);
  }

  /**
   * A SnapStart restore made a new environment: the first INVOKE after it may have been read before
   * the restore records arrived, and is then the new environment's cold start, with new ids if they
   * were made before the snapshot's random state was reseeded.
   */
  restartEnvironment(): void {
    const first = this.lastInvocation;
    if (first?.coldstart && !first.exported && !first.invocationCounted) {
      this.firstInvocation = first;
      if (first.traceSource === TraceSource.Generated && !first.leased) {
        const previous = first.traceId;
        first.traceId = this.parts.ids.traceId();
        if (!first.spanIdFromLambda) first.spanId = this.parts.ids.spanId();
        this.parts.table.retrace(first, previous);
      }
    } else {
      this.firstInvocation = undefined;
      this.coldstartPending = true;
    }
  }

  /** Releases ended invocations whose hold passed, and those too old to ever end (all when final). */
  release(nowMs: number, final: boolean): void {
    const { maxHeldMs, unsampledHoldMs, maxAgeMs, counters } = this.parts;
    for (const inv of this.parts.table.active.values()) {
      if (final) {
        this.export(inv, nowMs);
      } else if (inv.endMs !== undefined) {
        // A dropped invocation waits longer: the function's spans, should they come, keep it.
        const hold = inv.sampled ? maxHeldMs : Math.max(maxHeldMs, unsampledHoldMs);
        if (inv.released || nowMs - inv.endMs >= hold) this.export(inv, nowMs);
      } else if (
        nowMs - inv.firstSeenMs > maxAgeMs ||
        (inv.deadlineMs !== undefined && nowMs > inv.deadlineMs + DEADLINE_GRACE_MS)
      ) {
        counters.evictedByAge++;
        this.export(inv, nowMs);
      }
    }
  }

  /**
   * The invocation attempt a record belongs to. Lambda reuses the requestId when it retries an
   * asynchronous invocation, so a record for a known requestId is a new attempt when its time
   * differs from what the known one already has (a redelivered batch repeats the same times); and
   * a late record of the previous attempt (its report arriving after the retry's INVOKE) goes to it.
   */
  private attemptFor(
    requestId: string,
    kind: RecordKind,
    timeMs: number,
    tracing: TracingContext | undefined,
    deadlineMs: number | undefined,
  ): Invocation {
    let inv = this.parts.table.get(requestId);
    if (inv === undefined) return this.create(requestId, timeMs, tracing);
    const previous = inv.previousAttempt;
    if (previous !== undefined && belongsToPrevious(inv, previous, kind, timeMs)) {
      inv = previous;
    } else if (isNewAttempt(inv, kind, timeMs, deadlineMs)) {
      if (!inv.exported) this.export(inv, timeMs);
      const next = this.create(requestId, timeMs, tracing);
      if (next.spanId === inv.spanId) {
        // The same tracing value again: two attempts must still be two spans.
        next.spanId = this.parts.ids.spanId();
        next.spanIdFromLambda = true; // decided: later records must not bring that id back
      }
      next.previousAttempt = inv;
      inv.previousAttempt = undefined;
      this.parts.counters.retries++;
      return next;
    }
    if (timeMs > inv.lastSeenMs) inv.lastSeenMs = timeMs;
    return inv;
  }

  /** A new invocation, with ids from its tracing if any. */
  private create(requestId: string, seenMs: number, tracing: TracingContext | undefined): Invocation {
    const { ids, sampler, table, counters } = this.parts;
    const ctx = tracing ? parseTracing(tracing.type, tracing.value) : undefined;
    const lambdaSpanId = tracing?.spanId?.toLowerCase();
    const spanIdFromLambda =
      lambdaSpanId !== undefined && isValidSpanId(lambdaSpanId) && lambdaSpanId !== ctx?.parentSpanId;
    const inv = new Invocation(
      requestId,
      seenMs,
      ctx ? ctx.traceId : ids.traceId(),
      spanIdFromLambda ? lambdaSpanId : ids.spanId(),
    );
    if (ctx) {
      inv.traceSource = TraceSource.Lambda;
      inv.parentSpanId = ctx.parentSpanId;
      inv.tracingValue = tracing?.value;
    }
    inv.sampled = sampler.shouldSample(inv.traceId, ctx?.sampled);
    inv.spanIdFromLambda = spanIdFromLambda;
    if (this.coldstartPending) {
      inv.coldstart = true;
      this.coldstartPending = false;
      this.firstInvocation = inv;
    }
    counters.invocations++;
    this.lastInvocation = inv;
    const evicted = table.addActive(inv);
    if (evicted !== undefined) {
      counters.evictedByCount++;
      this.export(evicted, seenMs);
    }
    if (this.parts.memory.hold(HELD_INVOCATION_BYTES)) inv.heldBytes = HELD_INVOCATION_BYTES;
    else {
      inv.overBudget = true;
      counters.invocationsOverBudget++;
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
        inv.sampled = this.parts.sampler.shouldSample(inv.traceId, ctx.sampled);
        inv.traceSource = TraceSource.Lambda;
        this.parts.table.retrace(inv, previous);
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
    const { outbox, spans: assemble, memory } = this.parts;
    for (const span of spans) {
      if (!isPlatformSpan(span)) continue;
      if (skip !== undefined && findSpan(skip, span.name) !== undefined) continue;
      if (inv.overBudget) outbox.refuse(inv.sampled);
      else if (inv.exported)
        outbox.push(assemble.child(inv.traceId, inv.spanId, inv.sampled, span), inv.sampled);
      else if (memory.hold(HELD_PLATFORM_SPAN_BYTES)) {
        inv.heldBytes += HELD_PLATFORM_SPAN_BYTES;
        inv.children.push(span);
      } else outbox.refuse(inv.sampled);
    }
  }

  /** The invocation's spans (and its init/restore span if it joins this trace) into the outbox. */
  private export(inv: Invocation, nowMs: number): void {
    const { counters, counting, phases, outbox, spans, table } = this.parts;
    if (inv.endMs === undefined) {
      counters.incompleteInvocations++;
      counting.countIncomplete(inv);
    }
    if (inv === this.firstInvocation) phases.place(inv);
    if (inv.durableExecutionArn !== undefined && !counting.isDurable) counting.markDurable();
    const sampled = inv.sampled;
    this.parts.memory.free(inv.heldBytes);
    inv.heldBytes = 0;
    if (inv.overBudget) outbox.refuse(sampled);
    else {
      outbox.push(spans.invocation(inv, this.parts.resource.functionName), sampled);
      for (const child of inv.children)
        outbox.push(spans.child(inv.traceId, inv.spanId, sampled, child), sampled);
    }
    inv.exported = true;
    if (!sampled) inv.dropped = true;
    const phase = inv.phase;
    table.finish(inv);
    if (phase?.ended && !phase.exported) phases.export(phase, nowMs);
  }
}
