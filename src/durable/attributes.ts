// The execution's identity as span/log attributes. The names match what the extension's converter
// writes on the platform spans and log records of durable invocations.

export const ATTR_DURABLE_EXECUTION_ARN = 'aws.lambda.durable_execution.arn';
export const ATTR_DURABLE_EXECUTION_NAME = 'aws.lambda.durable_execution.name';
export const ATTR_DURABLE_EXECUTION_ID = 'aws.lambda.durable_execution.id';

// arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]/durable-execution/<execution name>/<execution id>
const EXECUTION_ARN = /\/durable-execution\/([^/]+)\/([^/]+)$/;
const MAX_ARN_CHARS = 2048;

export interface DurableExecutionIdentity {
  arn: string;
  name?: string;
  id?: string;
}

/** The ARN of a durable invocation event (`DurableExecutionArn`), or undefined for any other event. */
export function durableExecutionArn(event: unknown): string | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  const arn = (event as { DurableExecutionArn?: unknown }).DurableExecutionArn;
  return typeof arn === 'string' && arn !== '' && arn.length <= MAX_ARN_CHARS ? arn : undefined;
}

/** Name and id parsed from an execution ARN (both absent when the ARN has another shape). */
export function parseExecutionArn(arn: string): DurableExecutionIdentity {
  const m = EXECUTION_ARN.exec(arn);
  if (m === null) return { arn };
  return { arn, name: m[1] as string, id: m[2] as string };
}

/**
 * Span attributes naming the execution of a durable invocation event (or of an ARN); empty for an
 * event that is not durable.
 */
export function durableExecutionAttributes(eventOrArn: unknown): Record<string, string> {
  const arn = typeof eventOrArn === 'string' ? eventOrArn : durableExecutionArn(eventOrArn);
  if (arn === undefined || arn === '') return {};
  const identity = parseExecutionArn(arn);
  const attributes: Record<string, string> = { [ATTR_DURABLE_EXECUTION_ARN]: identity.arn };
  if (identity.name !== undefined) attributes[ATTR_DURABLE_EXECUTION_NAME] = identity.name;
  if (identity.id !== undefined) attributes[ATTR_DURABLE_EXECUTION_ID] = identity.id;
  return attributes;
}
