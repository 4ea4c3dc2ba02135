// The execution's identity as span/log attributes. The names match what the extension's converter
// writes on the platform spans and log records of durable invocations.

export const ATTR_DURABLE_EXECUTION_ARN = 'aws.lambda.durable_execution.arn';
export const ATTR_DURABLE_EXECUTION_NAME = 'aws.lambda.durable_execution.name';
export const ATTR_DURABLE_EXECUTION_ID = 'aws.lambda.durable_execution.id';

import { isDurableExecutionArn, parseExecutionArn } from './execution-arn.js';

export { type DurableExecutionIdentity, parseExecutionArn } from './execution-arn.js';

/** The ARN of a durable invocation event (`DurableExecutionArn`), or undefined for any other event. */
export function durableExecutionArn(event: unknown): string | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  const arn = (event as { DurableExecutionArn?: unknown }).DurableExecutionArn;
  return isDurableExecutionArn(arn) ? arn : undefined;
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
