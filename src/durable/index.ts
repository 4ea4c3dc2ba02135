// Trace context across a durable execution's invocations, for Node functions using the durable
// execution SDK: restore the execution's context when an invocation starts, checkpoint it when the
// invocation suspends. @opentelemetry/api is a peer dependency of this entry point only.

export {
  ATTR_DURABLE_EXECUTION_ARN,
  ATTR_DURABLE_EXECUTION_ID,
  ATTR_DURABLE_EXECUTION_NAME,
  type DurableExecutionIdentity,
  durableExecutionArn,
  durableExecutionAttributes,
  parseExecutionArn,
} from './attributes.js';
export {
  type CheckpointOptions,
  type CheckpointOutcome,
  checkpointTraceContext,
  checkpointTraceContextOnSuspend,
  queueTraceCheckpoint,
} from './checkpoint.js';
export { fromDatadogHeaders, toDatadogHeaders } from './datadog.js';
export { type ExtractOptions, extractTraceContext, isDurableEvent } from './extract.js';
export { DATADOG_CHECKPOINT_PREFIX, OTEL_CHECKPOINT_PREFIX } from './operations.js';
export {
  armDurableTracing,
  type DurableTracingOptions,
  durableParentContext,
  fromOtelContext,
  toOtelContext,
  withDurableTracing,
} from './otel.js';
export {
  type DurableTraceContext,
  type ExtractedTraceContext,
  formatTraceparent,
  parseTraceparent,
  type TraceContextSource,
} from './trace-context.js';
