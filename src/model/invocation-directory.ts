// What the platform converter knows about invocations, as the local receiver and the log converter
// see it: the invocation span's identity, and the one way to move it into the function's trace.
// The converter's invocation table implements the directory.

/** The platform invocation span's identity, ids in lowercase hex. */
export interface InvocationTraceContext {
  traceId: string;
  /** The invocation span's id: the parent for the function's root spans. */
  spanId: string;
  /** The invocation span's own parent (the caller's span, X-Ray Parent), when there is one. */
  parentSpanId?: string;
}

/** What the function's telemetry needs to join the invocation's trace. */
export interface InvocationIdentity extends InvocationTraceContext {
  /** False when the invocation's trace is not sampled (its platform spans may not be exported). */
  sampled: boolean;
  /** The durable execution this invocation ran, once the function's spans or log lines named it. */
  durableExecutionArn?: string;
}

/** The function's trace, as its SDK started or continued it. */
export interface FunctionTrace {
  traceId: string;
  /** The parent of the function's root span (a caller outside this function), if any. */
  parentSpanId?: string;
  /** Defaults to true: a function that exports spans sampled them. */
  sampled?: boolean;
  /** The durable execution the function's handler span names (aws.lambda.durable_execution.arn). */
  durableExecutionArn?: string;
  /**
   * The function's root span is being made a child of the invocation span: from now on the
   * invocation span id must not change. Otherwise it may still become the span id Lambda hands the
   * function (platform.start's tracing.spanId, often read after the function's first export).
   */
  parentsFunctionSpan?: boolean;
}

export interface InvocationDirectory<I extends InvocationTraceContext = InvocationIdentity> {
  /**
   * The invocation's identity. From this call on its ids no longer change (except by
   * adoptFunctionTrace), so they are safe to build on.
   */
  lookupByRequestId(requestId: string): I | undefined;
  /**
   * The invocation's identity as it is now, without fixing it: for comparisons only. Lambda's
   * context may still replace generated ids. Directories without it are asked with lookupByRequestId.
   */
  peekByRequestId?(requestId: string): I | undefined;
  /** The most recent invocation whose span is in this trace. */
  lookupByTraceId(traceId: string): string | undefined;
  /**
   * Moves the (not yet exported) invocation span and its children into the function's trace,
   * keeping the invocation span id, and releases the span for export. Calling it with the trace
   * the invocation already has just releases the span. False when the request is unknown or its
   * span is already exported in another trace.
   */
  adoptFunctionTrace(requestId: string, trace: FunctionTrace): boolean;
}
