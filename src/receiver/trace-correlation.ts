// Joins the function's own spans (received over OTLP) and the platform invocation span (built from
// Telemetry API records) into one trace.
//
// The function's handler span is found by an invocation id attribute (faas.invocation_id, the older
// faas.execution, aws.lambda.request_id, aws.request_id) on a SERVER or parentless span, or, failing
// that, as a parentless span whose trace id is an invocation's X-Ray trace id. Then:
//  (i)   handler in the invocation's trace with a parent already: nothing to do (X-Ray propagation
//        made the platform span, or a span below it, its parent);
//  (ii)  handler is a root span: it becomes a child of the platform span (parentSpanId rewritten);
//        when its trace differs, the invocation adopts the function's trace id, so the platform
//        span is emitted in that trace;
//  (iii) handler has a parent in another trace (an upstream caller): the platform span joins that
//        trace as the handler's sibling, under the same parent.
// Every decision is reported to the directory (adoptFunctionTrace), which then releases the platform
// span it was holding back for this moment. Adoption may be refused (the platform span already
// left in another trace); the function's spans are then left untouched rather than pointing at a
// parent that lives in another trace.

import type { WireResourceSpans, WireSpan } from './otlp-messages.js';
import { idToHex, stringAttribute } from './otlp-messages.js';

/** The platform invocation span's identity, ids in lowercase hex. */
export interface InvocationTraceContext {
  traceId: string;
  spanId: string;
  /** The platform span's parent (X-Ray Parent), when it has one. */
  parentSpanId?: string;
}

/**
 * What the platform converter knows about invocations, for correlation (the converter's invocation
 * table implements it).
 */
export interface InvocationDirectory {
  lookupByRequestId(requestId: string): InvocationTraceContext | undefined;
  /**
   * The same without fixing the ids (Lambda's span id may still replace a generated one): what the
   * correlator uses to decide. Directories without it are asked with lookupByRequestId.
   */
  peekByRequestId?(requestId: string): InvocationTraceContext | undefined;
  /** The request id of the most recent invocation whose platform span is in this trace. */
  lookupByTraceId(traceId: string): string | undefined;
  /**
   * Moves the (not yet exported) platform span into the function's trace, under `parentSpanId`
   * (or as a root when absent), and releases it for export; with the trace it already has, it only
   * releases it. Returns false when that is no longer possible (already exported in another trace).
   */
  adoptFunctionTrace(
    requestId: string,
    trace: {
      traceId: string;
      parentSpanId?: string;
      sampled?: boolean;
      /** The handler is being re-parented under the platform span: its id must stay as it is. */
      parentsFunctionSpan?: boolean;
      /** The durable execution the handler span names (DURABLE_EXECUTION_ARN_ATTRIBUTE). */
      durableExecutionArn?: string;
    },
  ): boolean;
}

/** The hook the receiver calls with every decoded traces request before making its chunk. */
export interface SpanCorrelator {
  /** May rewrite spans in place; `modified` tells the receiver to re-encode the request. */
  observeResourceSpans(resourceSpans: readonly WireResourceSpans[]): { modified: boolean };
}

export const NO_CORRELATION: SpanCorrelator = {
  observeResourceSpans: () => ({ modified: false }),
};

/** Span attributes that carry the Lambda request id, most specific first. */
export const INVOCATION_ID_ATTRIBUTES: readonly string[] = [
  'faas.invocation_id',
  'faas.execution',
  'aws.lambda.request_id',
  'aws.request_id',
];

/**
 * Set on the handler span by the function-side durable module: the invocation ran this durable
 * execution, whose invocations all join one trace (the handler continues the execution's context).
 */
export const DURABLE_EXECUTION_ARN_ATTRIBUTE = 'aws.lambda.durable_execution.arn';
const DURABLE_ARN_KEYS: readonly string[] = [DURABLE_EXECUTION_ARN_ATTRIBUTE];

const SPAN_KIND_SERVER = 2;

export type CorrelationOutcome =
  | 'already-joined'
  | 'parented'
  | 'adopted-root'
  | 'adopted-sibling'
  | 'refused';

export interface CorrelationCounters {
  readonly outcomes: Readonly<Record<CorrelationOutcome, number>>;
}

export class TraceCorrelator implements SpanCorrelator, CorrelationCounters {
  readonly outcomes: Record<CorrelationOutcome, number> = {
    'already-joined': 0,
    parented: 0,
    'adopted-root': 0,
    'adopted-sibling': 0,
    refused: 0,
  };

  private readonly find: (requestId: string) => InvocationTraceContext | undefined;

  constructor(private readonly directory: InvocationDirectory) {
    // Deciding must not fix the platform span's id: when the function's first export arrives before
    // platform.start, Lambda's span id (the function's X-Ray Parent) is still to come.
    this.find = directory.peekByRequestId
      ? (id) => directory.peekByRequestId?.(id)
      : (id) => directory.lookupByRequestId(id);
  }

  observeResourceSpans(resourceSpans: readonly WireResourceSpans[]): { modified: boolean } {
    let modified = false;
    // One decision per invocation per request: later candidates are other spans of the same handler.
    const decided = new Set<string>();
    for (const rs of resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const found = this.invocationOf(span);
          if (!found || decided.has(found.requestId)) continue;
          decided.add(found.requestId);
          if (this.join(span, found.requestId, found.invocation)) modified = true;
        }
      }
    }
    return { modified };
  }

  private invocationOf(
    span: WireSpan,
  ): { requestId: string; invocation: InvocationTraceContext } | undefined {
    const isRoot = span.parentSpanId.length === 0;
    if (isRoot || span.kind === SPAN_KIND_SERVER) {
      const requestId = stringAttribute(span.attributes, INVOCATION_ID_ATTRIBUTES);
      if (requestId !== undefined) {
        // aws.request_id also names AWS service request ids; only a known invocation counts.
        const invocation = this.find(requestId);
        if (invocation) return { requestId, invocation };
      }
    }
    if (isRoot) {
      const requestId = this.directory.lookupByTraceId(idToHex(span.traceId));
      const invocation = requestId === undefined ? undefined : this.find(requestId);
      if (requestId !== undefined && invocation) return { requestId, invocation };
    }
    return undefined;
  }

  /** Applies rules (i)-(iii); true when the span was rewritten. */
  private join(handler: WireSpan, requestId: string, invocation: InvocationTraceContext): boolean {
    if (handler.spanId.length !== 8 || handler.traceId.length !== 16) return false;
    const traceId = idToHex(handler.traceId);
    const parentSpanId = idToHex(handler.parentSpanId);
    const durableExecutionArn = stringAttribute(handler.attributes, DURABLE_ARN_KEYS);
    const durable = durableExecutionArn === undefined ? {} : { durableExecutionArn };
    if (parentSpanId !== '' && traceId === invocation.traceId) {
      // Same trace: releasing the held platform span is all that is left to do.
      this.directory.adoptFunctionTrace(requestId, { traceId, ...durable });
      this.outcomes['already-joined']++;
      return false;
    }
    if (parentSpanId === '') {
      if (!this.directory.adoptFunctionTrace(requestId, { traceId, parentsFunctionSpan: true, ...durable })) {
        this.outcomes.refused++;
        return false;
      }
      // The adoption fixed the span id; it is the one read above (nothing ran in between).
      handler.parentSpanId = Buffer.from(invocation.spanId, 'hex');
      this.outcomes[traceId === invocation.traceId ? 'parented' : 'adopted-root']++;
      return true;
    }
    // (iii) also joins every invocation of a durable execution: each handler continues the
    // execution's restored context under its original parent, and its platform span follows.
    if (this.directory.adoptFunctionTrace(requestId, { traceId, parentSpanId, ...durable })) {
      this.outcomes['adopted-sibling']++;
    } else {
      this.outcomes.refused++;
    }
    return false;
  }
}
