// Attribute and metric names the converter writes. Those the semantic conventions define come from
// @opentelemetry/semantic-conventions (its stable entry, and its incubating entry for the cloud and
// FaaS names, which are still in development there); esbuild keeps only the strings used, a few
// hundred bytes. The rest are spelled out: names semconv has dropped but backends still read, and
// Lambda figures semconv lacks, under the `aws.lambda.` prefix.

export {
  ATTR_ERROR_TYPE,
  ATTR_SERVICE_NAME,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from '@opentelemetry/semantic-conventions';
export {
  ATTR_AWS_LAMBDA_INVOKED_ARN,
  ATTR_AWS_LOG_GROUP_NAMES,
  ATTR_CLOUD_ACCOUNT_ID,
  ATTR_CLOUD_PLATFORM,
  ATTR_CLOUD_PROVIDER,
  ATTR_CLOUD_REGION,
  ATTR_CLOUD_RESOURCE_ID,
  ATTR_FAAS_COLDSTART,
  ATTR_FAAS_INSTANCE,
  ATTR_FAAS_INVOCATION_ID,
  ATTR_FAAS_MAX_MEMORY,
  ATTR_FAAS_NAME,
  ATTR_FAAS_TRIGGER,
  ATTR_FAAS_VERSION,
  METRIC_FAAS_COLDSTARTS,
  METRIC_FAAS_ERRORS,
  METRIC_FAAS_INIT_DURATION,
  METRIC_FAAS_INVOCATIONS,
  METRIC_FAAS_INVOKE_DURATION,
  METRIC_FAAS_MEM_USAGE,
  METRIC_FAAS_TIMEOUTS,
} from '@opentelemetry/semantic-conventions/incubating';

/** Dropped from semconv (cloud.resource_id replaced it); kept for the backends that read it. */
export const ATTR_FAAS_ID = 'faas.id';
/** The name most backends and older semconv releases know; both it and faas.invocation.id are written. */
export const ATTR_FAAS_INVOCATION_ID_LEGACY = 'faas.invocation_id';

export const ATTR_AWS_LAMBDA_INITIALIZATION_TYPE = 'aws.lambda.initialization_type';
export const ATTR_AWS_LAMBDA_PHASE = 'aws.lambda.phase';
export const ATTR_AWS_LAMBDA_RUNTIME_VERSION = 'aws.lambda.runtime_version';
export const ATTR_AWS_LAMBDA_DURABLE = 'aws.lambda.durable';
/** A durable execution's identity (span and log attributes only: too many values for metrics). */
export const ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ARN = 'aws.lambda.durable_execution.arn';
export const ATTR_AWS_LAMBDA_DURABLE_EXECUTION_NAME = 'aws.lambda.durable_execution.name';
export const ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ID = 'aws.lambda.durable_execution.id';
/** The span was closed without its end record (runtimeDone/report never came); its end is a guess. */
export const ATTR_AWS_LAMBDA_INCOMPLETE = 'aws.lambda.incomplete';
/** Set by the OTel metrics SDK convention when a cardinality limit folds series together. */
export const ATTR_OTEL_METRIC_OVERFLOW = 'otel.metric.overflow';

export const FAAS_TRIGGER_OTHER = 'other';

export const METRIC_AWS_LAMBDA_BILLED_DURATION = 'aws.lambda.billed_duration';
export const METRIC_AWS_LAMBDA_RESTORE_DURATION = 'aws.lambda.restore_duration';
export const METRIC_AWS_LAMBDA_POST_RUNTIME_DURATION = 'aws.lambda.post_runtime_duration';
export const METRIC_AWS_LAMBDA_RESPONSE_LATENCY = 'aws.lambda.response_latency';
export const METRIC_AWS_LAMBDA_PRODUCED_BYTES = 'aws.lambda.produced_bytes';
export const METRIC_AWS_LAMBDA_OUT_OF_MEMORY = 'aws.lambda.out_of_memory';
export const METRIC_AWS_LAMBDA_LOGS_DROPPED = 'aws.lambda.logs_dropped';
export const METRIC_AWS_LAMBDA_LOGS_DROPPED_BYTES = 'aws.lambda.logs_dropped_bytes';
