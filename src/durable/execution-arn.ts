// The ARN of a durable execution, read the one way both sides need it: the function-side module (the
// invocation event's DurableExecutionArn) and the extension's converter (the durable SDK's log lines,
// the function's spans). Imports nothing, so the function-side bundle stays small.
//
//   arn:<partition>:lambda:<region>:<account>:function:<name>:<qualifier>/durable-execution/<execution name>/<execution id>

/** Lambda's API reference bounds DurableExecutionArn at 1024 characters; a longer value is not one. */
export const MAX_EXECUTION_ARN_CHARS = 1024;

// Name and id are matched loosely ([^/]+ rather than Lambda's [a-zA-Z0-9_-]+): an ARN of another
// shape still names its execution by the full ARN.
const EXECUTION_ARN = /\/durable-execution\/([^/]+)\/([^/]+)$/;

export interface DurableExecutionIdentity {
  arn: string;
  name?: string;
  id?: string;
}

/** A non-empty string no longer than an execution ARN can be. */
export function isDurableExecutionArn(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= MAX_EXECUTION_ARN_CHARS;
}

/** Name and id parsed from an execution ARN (both absent when the ARN has another shape). */
export function parseExecutionArn(arn: string): DurableExecutionIdentity {
  const m = EXECUTION_ARN.exec(arn);
  if (m === null) return { arn };
  return { arn, name: m[1] as string, id: m[2] as string };
}
