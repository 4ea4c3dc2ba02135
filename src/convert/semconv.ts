// Attribute and metric names the converter writes. Semantic-convention names are spelled out here
// (not imported from @opentelemetry/semantic-conventions' incubating entry) so the bundle carries
// only the strings used; Lambda figures semconv lacks use the `aws.lambda.` prefix.

export const ATTR_CLOUD_PROVIDER = 'cloud.provider';
export const ATTR_CLOUD_PLATFORM = 'cloud.platform';
export const ATTR_CLOUD_REGION = 'cloud.region';
export const ATTR_CLOUD_ACCOUNT_ID = 'cloud.account.id';
export const ATTR_CLOUD_RESOURCE_ID = 'cloud.resource_id';
export const ATTR_FAAS_ID = 'faas.id';
export const ATTR_FAAS_NAME = 'faas.name';
export const ATTR_FAAS_VERSION = 'faas.version';
export const ATTR_FAAS_INSTANCE = 'faas.instance';
export const ATTR_FAAS_MAX_MEMORY = 'faas.max_memory';
export const ATTR_AWS_LOG_GROUP_NAMES = 'aws.log.group.names';
export const ATTR_SERVICE_NAME = 'service.name';
export const ATTR_TELEMETRY_DISTRO_NAME = 'telemetry.distro.name';
export const ATTR_TELEMETRY_DISTRO_VERSION = 'telemetry.distro.version';

export const ATTR_FAAS_TRIGGER = 'faas.trigger';
export const ATTR_FAAS_COLDSTART = 'faas.coldstart';
/** The name most backends and older semconv releases know. */
export const ATTR_FAAS_INVOCATION_ID_LEGACY = 'faas.invocation_id';
/** The name since semconv renamed it; both are written during the transition. */
export const ATTR_FAAS_INVOCATION_ID = 'faas.invocation.id';
export const ATTR_AWS_LAMBDA_INVOKED_ARN = 'aws.lambda.invoked_arn';
export const ATTR_ERROR_TYPE = 'error.type';

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

export const METRIC_FAAS_INVOCATIONS = 'faas.invocations';
export const METRIC_FAAS_ERRORS = 'faas.errors';
export const METRIC_FAAS_TIMEOUTS = 'faas.timeouts';
export const METRIC_FAAS_COLDSTARTS = 'faas.coldstarts';
export const METRIC_FAAS_INVOKE_DURATION = 'faas.invoke_duration';
export const METRIC_FAAS_INIT_DURATION = 'faas.init_duration';
export const METRIC_FAAS_MEM_USAGE = 'faas.mem_usage';
export const METRIC_AWS_LAMBDA_BILLED_DURATION = 'aws.lambda.billed_duration';
export const METRIC_AWS_LAMBDA_RESTORE_DURATION = 'aws.lambda.restore_duration';
export const METRIC_AWS_LAMBDA_POST_RUNTIME_DURATION = 'aws.lambda.post_runtime_duration';
export const METRIC_AWS_LAMBDA_RESPONSE_LATENCY = 'aws.lambda.response_latency';
export const METRIC_AWS_LAMBDA_PRODUCED_BYTES = 'aws.lambda.produced_bytes';
export const METRIC_AWS_LAMBDA_OUT_OF_MEMORY = 'aws.lambda.out_of_memory';
export const METRIC_AWS_LAMBDA_LOGS_DROPPED = 'aws.lambda.logs_dropped';
export const METRIC_AWS_LAMBDA_LOGS_DROPPED_BYTES = 'aws.lambda.logs_dropped_bytes';
