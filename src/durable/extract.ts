// Restoring a durable execution's trace context on resume. The fallback chain, first complete
// context wins:
//   1. the user's extractor (options.extractor);
//   2. our newest checkpoint (`_otel_<N>`, W3C headers);
//   3. Datadog's newest checkpoint (`_datadog_<N>`, x-datadog-* headers, maybe traceparent);
//   4. the trace headers in the execution's original input (ExecutionDetails.InputPayload).
// Nothing complete: undefined, so the caller's normal extraction (X-Ray, the event's headers)
// continues. Malformed operations or payloads are skipped, never thrown on.

import { durableExecutionArn } from './attributes.js';
import { executionInput, inputContext, latestContext, operationsOf } from './operations.js';
import { type ExtractedTraceContext, isCompleteTraceContext } from './trace-context.js';

export interface ExtractOptions {
  /**
   * Tried first: a complete DurableTraceContext it returns ends the search; anything else (undefined,
   * an incomplete context, a throw) lets the chain continue.
   */
  extractor?: (event: unknown) => unknown;
  /**
   * More operations to consider besides the event's (for example the SDK's step data, which holds
   * the pages of a long history that InitialExecutionState leaves to NextMarker).
   */
  operations?: unknown;
}

/** True for an invocation of a durable function (its event carries DurableExecutionArn). */
export function isDurableEvent(event: unknown): boolean {
  return durableExecutionArn(event) !== undefined;
}

/**
 * The trace context a durable invocation continues, or undefined when the event is not durable or
 * holds no complete context. Never throws.
 */
export function extractTraceContext(
  event: unknown,
  options: ExtractOptions = {},
): ExtractedTraceContext | undefined {
  try {
    if (!isDurableEvent(event)) return undefined;
    if (typeof options.extractor === 'function') {
      let custom: unknown;
      try {
        custom = options.extractor(event);
      } catch {
        custom = undefined;
      }
      const candidate = withLowercaseIds(custom);
      if (isCompleteTraceContext(candidate)) return { ...normalized(candidate), source: 'extractor' };
    }
    const operations = operationsOf(event);
    if (options.operations !== undefined) operations.push(...operationsOf(options.operations));
    const ours = latestContext(operations, 'otel');
    if (ours !== undefined)
      return { ...ours.context, source: 'checkpoint', checkpoint: ours.checkpoint.name };
    const datadog = latestContext(operations, 'datadog');
    if (datadog !== undefined) {
      return { ...datadog.context, source: 'datadog-checkpoint', checkpoint: datadog.checkpoint.name };
    }
    const input = inputContext(executionInput(operations));
    if (input !== undefined) return { ...input, source: 'input' };
    return undefined;
  } catch {
    // Hostile shapes (getters that throw, proxies): no context rather than a failed invocation.
    return undefined;
  }
}

function withLowercaseIds(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const c = value as { traceId?: unknown; spanId?: unknown };
  return {
    ...(value as object),
    traceId: typeof c.traceId === 'string' ? c.traceId.toLowerCase() : c.traceId,
    spanId: typeof c.spanId === 'string' ? c.spanId.toLowerCase() : c.spanId,
  };
}

/** Only the context's own fields, so a user object brings nothing else along. */
function normalized(c: {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: string;
  baggage?: string;
}): Omit<ExtractedTraceContext, 'source'> {
  const out: Omit<ExtractedTraceContext, 'source'> = {
    traceId: c.traceId,
    spanId: c.spanId,
    traceFlags: c.traceFlags,
  };
  if (c.traceState !== undefined && c.traceState !== '') out.traceState = c.traceState;
  if (c.baggage !== undefined && c.baggage !== '') out.baggage = c.baggage;
  return out;
}
