// The bridge to the OpenTelemetry API (a peer dependency of this module): a restored context as an
// API Context to start the handler span under, and the wrapper that arms the suspend checkpoint
// from the handler span the function's instrumentation started.

import {
  type Baggage,
  baggageEntryMetadataFromString,
  type Context,
  context as contextApi,
  createTraceState,
  propagation,
  ROOT_CONTEXT,
  type Span,
  trace as traceApi,
} from '@opentelemetry/api';
import { durableExecutionAttributes } from './attributes.js';
import { type CheckpointOutcome, checkpointTraceContextOnSuspend } from './checkpoint.js';
import { type ExtractOptions, extractTraceContext } from './extract.js';
import { type DurableTraceContext, isValidSpanId } from './trace-context.js';

/**
 * The context as an OpenTelemetry Context: a remote span context (the handler span's parent) and
 * the baggage, on top of `base` (default ROOT_CONTEXT).
 */
export function toOtelContext(trace: DurableTraceContext, base: Context = ROOT_CONTEXT): Context {
  let ctx = traceApi.setSpanContext(base, {
    traceId: trace.traceId,
    spanId: trace.spanId,
    traceFlags: trace.traceFlags,
    isRemote: true,
    ...(trace.traceState !== undefined &&
      trace.traceState !== '' && { traceState: createTraceState(trace.traceState) }),
  });
  const baggage = parseBaggage(trace.baggage);
  if (baggage !== undefined) ctx = propagation.setBaggage(ctx, baggage);
  return ctx;
}

/**
 * The context of a durable invocation's event as an OpenTelemetry Context, or undefined (normal
 * extraction continues). Fits the Lambda instrumentation's `eventContextExtractor`:
 * `(event) => durableParentContext(event) ?? <the usual extraction>`.
 */
export function durableParentContext(event: unknown, options?: ExtractOptions): Context | undefined {
  const restored = extractTraceContext(event, options);
  return restored === undefined ? undefined : toOtelContext(restored);
}

/** The span context and baggage of an OpenTelemetry Context, as a DurableTraceContext. */
export function fromOtelContext(ctx: Context): DurableTraceContext | undefined {
  const span = traceApi.getSpanContext(ctx);
  if (span === undefined || !traceApi.isSpanContextValid(span)) return undefined;
  const out: DurableTraceContext = {
    traceId: span.traceId,
    spanId: span.spanId,
    traceFlags: span.traceFlags,
  };
  const traceState = span.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') out.traceState = traceState;
  const baggage = serializeBaggage(propagation.getBaggage(ctx));
  if (baggage !== undefined) out.baggage = baggage;
  return out;
}

export interface DurableTracingOptions extends Pick<ExtractOptions, 'extractor'> {
  /** Told what each suspend did (written, unchanged, …), for logging or tests. */
  onCheckpoint?: (outcome: CheckpointOutcome) => void;
}

/**
 * Wraps a durable handler (the function given to the SDK's withDurableExecution) so that:
 *   - the active span when it starts (the handler span of the function's instrumentation) carries
 *     the execution's ARN, name and id;
 *   - when the invocation suspends, the trace context is checkpointed if it changed: the handler
 *     span's trace, with its parent as the parent for every later invocation (the handler span
 *     itself when it is a root), and the baggage active at the start.
 * The handler span should continue the restored context (see durableParentContext) for every
 * invocation of the execution to become a sibling in one trace. Never makes the handler fail.
 */
export function withDurableTracing<E, C, R>(
  handler: (event: E, durableContext: C) => Promise<R>,
  options: DurableTracingOptions = {},
): (event: E, durableContext: C) => Promise<R> {
  return (event, durableContext) => {
    try {
      armDurableTracing(durableContext, options);
    } catch {
      // Tracing is never worth a failed invocation.
    }
    return handler(event, durableContext);
  };
}

/** What withDurableTracing does at the start of each invocation; true when a suspend checkpoint is armed. */
export function armDurableTracing(durableContext: unknown, options: DurableTracingOptions = {}): boolean {
  const active = contextApi.active();
  const span = traceApi.getSpan(active);
  const arn = (durableContext as { executionContext?: { durableExecutionArn?: unknown } } | undefined)
    ?.executionContext?.durableExecutionArn;
  if (span?.isRecording() && typeof arn === 'string') {
    span.setAttributes(durableExecutionAttributes(arn));
  }
  const persisted = persistedContext(active, span, durableContext, arn, options);
  if (persisted === undefined) return false;
  return checkpointTraceContextOnSuspend(durableContext, persisted, {
    ...(options.onCheckpoint !== undefined && { onCheckpoint: options.onCheckpoint }),
  });
}

function persistedContext(
  active: Context,
  span: Span | undefined,
  durableContext: unknown,
  arn: unknown,
  options: DurableTracingOptions,
): DurableTraceContext | undefined {
  const current = fromOtelContext(active);
  if (current !== undefined && span !== undefined) {
    // The handler span's parent is the execution's anchor; a root handler span anchors it itself.
    const parent = parentSpanIdOf(span);
    return { ...current, spanId: parent ?? current.spanId };
  }
  // No span to continue: keep what was restored, if anything, so the trace survives this invocation.
  const stepData = (durableContext as { _executionContext?: { _stepData?: unknown } } | undefined)
    ?._executionContext?._stepData;
  return extractTraceContext(
    { DurableExecutionArn: arn, InitialExecutionState: { Operations: stepData } },
    options.extractor !== undefined ? { extractor: options.extractor } : {},
  );
}

/** The parent span id of an SDK span (2.x+ parentSpanContext, 1.x parentSpanId), if it has one. */
function parentSpanIdOf(span: Span): string | undefined {
  const s = span as { parentSpanContext?: { spanId?: unknown }; parentSpanId?: unknown };
  const id = s.parentSpanContext?.spanId ?? s.parentSpanId;
  return isValidSpanId(id) ? id : undefined;
}

/** W3C baggage header → Baggage; undefined when empty or unparsable. Bad members are skipped. */
function parseBaggage(header: string | undefined): Baggage | undefined {
  if (header === undefined || header === '') return undefined;
  const entries: Record<
    string,
    { value: string; metadata?: ReturnType<typeof baggageEntryMetadataFromString> }
  > = {};
  let count = 0;
  for (const member of header.split(',')) {
    const [pair, ...properties] = member.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (pair === undefined || eq <= 0) continue;
    try {
      const key = decodeURIComponent(pair.slice(0, eq).trim());
      const value = decodeURIComponent(pair.slice(eq + 1).trim());
      if (key === '') continue;
      entries[key] =
        properties.length > 0
          ? { value, metadata: baggageEntryMetadataFromString(properties.join(';')) }
          : { value };
      count++;
    } catch {
      // A malformed percent-encoding: that member only is dropped.
    }
  }
  return count === 0 ? undefined : propagation.createBaggage(entries);
}

function serializeBaggage(baggage: Baggage | undefined): string | undefined {
  if (baggage === undefined) return undefined;
  const members = baggage.getAllEntries().map(([key, entry]) => {
    const metadata = entry.metadata?.toString();
    return `${encodeURIComponent(key)}=${encodeURIComponent(entry.value)}${metadata ? `;${metadata}` : ''}`;
  });
  return members.length === 0 ? undefined : members.join(',');
}
