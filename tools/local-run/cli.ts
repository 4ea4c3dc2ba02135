// otel-lambda-local: runs your handler with the extension in the local Lambda simulator (real
// processes, real freezing between invocations, the Runtime, Extensions and Telemetry APIs) and
// prints what the extension exported: spans as waterfalls, a metrics table, the logs.
//
//   npx otel-lambda-local --handler ./my-handler.mjs [--event event.json] [--invokes N] …

import { resolve } from 'node:path';
import {
  COMMON_USAGE,
  commonRunOptions,
  execute,
  type ParseArgsOptionsConfig,
  type PlannedInvocation,
  parseCommand,
  readJsonFile,
  runCommand,
  UsageError,
} from './command.js';

const USAGE = `usage: otel-lambda-local --handler FILE [options]
Runs FILE's handler with the OpenTelemetry Lambda extension in a local Lambda simulator:
no AWS account, no Docker, no network. Telemetry goes to an embedded OTLP sink and is printed.
  --handler FILE         module exporting the handler (ESM .mjs, or .js)
  --handler-export NAME  the exported function (default handler)
  --event FILE           JSON event for every invocation (default {})
  --invokes N            invocations (default 3; the first is the cold start)
  --idle MS              frozen time between invocations (default 200)
  --function-name NAME   (default: the handler file's name)
  --memory MB            (default 256)
  --timeout MS           the function's timeout (default 3000)
${COMMON_USAGE}
The function's OTel SDK is pointed at the extension (OTEL_EXPORTER_OTLP_ENDPOINT), as on Lambda.`;

const CLI_OPTIONS: ParseArgsOptionsConfig = {
  handler: { type: 'string' },
  'handler-export': { type: 'string' },
  event: { type: 'string' },
  invokes: { type: 'string', default: '3' },
  idle: { type: 'string', default: '200' },
  'function-name': { type: 'string' },
  memory: { type: 'string', default: '256' },
  timeout: { type: 'string', default: '3000' },
};

function integer(name: string, text: unknown, min: number, max: number): number {
  const n = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got ${String(text)}`);
  }
  return n;
}

async function main(argv: readonly string[]): Promise<number> {
  const values = parseCommand(argv, CLI_OPTIONS);
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const handler = values['handler'];
  if (typeof handler !== 'string' || handler === '') throw new UsageError('--handler FILE is required');
  const event = typeof values['event'] === 'string' ? readJsonFile(resolve(values['event'])) : {};
  const invokes = integer('invokes', values['invokes'], 1, 1000);
  const idleMs = integer('idle', values['idle'], 0, 900_000);
  const plan: PlannedInvocation[] = Array.from({ length: invokes }, (_, i) => ({
    payload: event,
    ...(i > 0 && idleMs > 0 && { idleBeforeMs: idleMs }),
  }));
  const functionName = values['function-name'];
  if (functionName !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(String(functionName))) {
    throw new UsageError(
      `--function-name takes letters, digits, - and _ (at most 64); got ${String(functionName)}`,
    );
  }
  return execute({
    run: {
      ...commonRunOptions(values),
      handler,
      invocations: plan,
      memorySizeMB: integer('memory', values['memory'], 128, 10_240),
      timeoutMs: integer('timeout', values['timeout'], 1, 900_000),
      ...(typeof functionName === 'string' && { functionName }),
      ...(typeof values['handler-export'] === 'string' && { handlerExport: values['handler-export'] }),
    },
    noColor: values['no-color'] === true,
  });
}

runCommand(main, USAGE);
