// `make demo`: the demo function (tools/local-run/demo-orders.mjs, instrumented with the
// OpenTelemetry JS SDK) and the extension from the built layer, in the Lambda simulator: a cold
// start, warm invocations with frozen gaps, one that fails, then SHUTDOWN. Everything is exported
// to an embedded OTLP sink on 127.0.0.1 and printed as waterfalls and a metrics table.
//
//   node --import tsx tools/local-run/demo.ts [--endpoint URL] [--log-format json] …

import {
  COMMON_USAGE,
  commonRunOptions,
  execute,
  type PlannedInvocation,
  parseCommand,
  runCommand,
} from './command.js';
import { DEMO_HANDLER } from './paths.js';

const USAGE = `usage: demo.ts [options]
Runs the demo function with the extension in the local Lambda simulator.
${COMMON_USAGE}`;

/** Frozen time between invocations: short, so the demo takes seconds. */
const GAP_MS = 200;

function order(orderId: number, items: number, decline = false): unknown {
  return {
    orderId,
    items: Array.from({ length: items }, (_, i) => ({ sku: `SKU-${100 + i}`, qty: i + 1, price: 4.5 + i })),
    ...(decline && { decline: true }),
  };
}

/** A cold start, three warm invocations, and one whose payment is declined. */
export const DEMO_PLAN: readonly PlannedInvocation[] = [
  { payload: order(1001, 2) },
  { payload: order(1002, 1), idleBeforeMs: GAP_MS },
  { payload: order(1003, 3), idleBeforeMs: GAP_MS },
  { payload: order(1004, 2, true), idleBeforeMs: GAP_MS },
  { payload: order(1005, 1), idleBeforeMs: GAP_MS },
];

async function main(argv: readonly string[]): Promise<number> {
  const values = parseCommand(argv, {});
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return execute({
    run: {
      ...commonRunOptions(values),
      handler: DEMO_HANDLER,
      functionName: 'demo-orders',
      invocations: DEMO_PLAN,
    },
    noColor: values['no-color'] === true,
  });
}

runCommand(main, USAGE);
