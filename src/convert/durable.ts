// Durable executions as the converters see them: the execution's identity as span/log attributes,
// and its ARN in the durable SDK's log lines (JSON objects with `executionArn`).

import type { Attributes } from '@opentelemetry/api';
import { isDurableExecutionArn, parseExecutionArn } from '../durable/execution-arn.js';
import {
  ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ARN,
  ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ID,
  ATTR_AWS_LAMBDA_DURABLE_EXECUTION_NAME,
} from './semconv.js';

/** The durable SDK's own log lines are short JSON objects; longer lines are not parsed for it. */
const MAX_SDK_LINE_CHARS = 16 * 1024;

/** The execution's ARN, and its name and id when the ARN has the documented shape. */
export function addDurableExecution(a: Attributes, arn: string): void {
  a[ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ARN] = arn;
  const { name, id } = parseExecutionArn(arn);
  if (name !== undefined) a[ATTR_AWS_LAMBDA_DURABLE_EXECUTION_NAME] = name;
  if (id !== undefined) a[ATTR_AWS_LAMBDA_DURABLE_EXECUTION_ID] = id;
}

function arnValue(value: unknown): string | undefined {
  return isDurableExecutionArn(value) ? value : undefined;
}

/**
 * The execution ARN a durable SDK log line names: `executionArn` among a JSON record's fields, or
 * in a text line that is itself the SDK's JSON object. Cheap for every other line (one indexOf).
 */
export function executionArnOfLine(
  body: string,
  fields: Record<string, unknown> | undefined,
): string | undefined {
  const fromFields = arnValue(fields?.['executionArn']);
  if (fromFields !== undefined) return fromFields;
  if (body.length > MAX_SDK_LINE_CHARS || body.indexOf('"executionArn"') < 0) return undefined;
  const start = body.indexOf('{');
  if (start < 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.slice(start));
    return parsed !== null && typeof parsed === 'object'
      ? arnValue((parsed as { executionArn?: unknown }).executionArn)
      : undefined;
  } catch {
    return undefined;
  }
}
