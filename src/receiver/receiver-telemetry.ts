// What the local OTLP receiver counted, for self-telemetry and the shutdown line: requests and items
// by signal, what was rejected or repaired, and requests refused by reason. These are the only trace
// of telemetry the function sent that never reached the pipeline.

import type { Problem } from '../convert/convert-telemetry.js';
import { type CounterSpec, type ObservedCounter, pushNonZero } from '../pipeline/self-telemetry.js';
import type { ReceiverStats } from './otlp-receiver.js';

const PREFIX = 'otel_lambda_extension.receiver';

const REQUESTS: CounterSpec = [
  `${PREFIX}.requests`,
  'OTLP export requests from the function, by signal',
  '{request}',
];
const ITEMS: CounterSpec = [
  `${PREFIX}.items`,
  "Items in the function's export requests, by signal and outcome",
  '{item}',
];
const REFUSED: CounterSpec = [`${PREFIX}.refused`, 'Requests refused whole, by reason', '{request}'];
const GRPC: CounterSpec = [
  `${PREFIX}.grpc.requests`,
  'Requests that came over OTLP/gRPC (also counted by signal)',
  '{request}',
];
const FORCE_FLUSHES: CounterSpec = [
  `${PREFIX}.force_flushes`,
  'Flushes the function asked for (POST /v1/flush)',
  '{request}',
];

/** The receiver's counters, cumulative; zero series are left out. */
export function receiverCounters(stats: ReceiverStats): ObservedCounter[] {
  const out: ObservedCounter[] = [];
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const s = stats.signals[signal];
    pushNonZero(out, REQUESTS, { signal }, s.requests);
    pushNonZero(out, ITEMS, { signal, outcome: 'accepted' }, s.acceptedItems);
    pushNonZero(out, ITEMS, { signal, outcome: 'rejected' }, s.rejectedItems);
    pushNonZero(out, ITEMS, { signal, outcome: 'repaired' }, s.repairedItems);
  }
  for (const [reason, n] of Object.entries(stats.refused)) pushNonZero(out, REFUSED, { reason }, n);
  pushNonZero(out, GRPC, {}, stats.grpcRequests);
  pushNonZero(out, FORCE_FLUSHES, {}, stats.forceFlushes);
  return out;
}

/**
 * The receiver's problems for the shutdown line, only what is non-zero, e.g.
 * `receiver items rejected 5 (traces 5), receiver refused bad-data 2`. Empty when all is well.
 */
export function receiverProblems(stats: ReceiverStats): Problem[] {
  const out: Problem[] = [];
  const items = (field: 'rejectedItems' | 'repairedItems', label: string, loss: boolean) => {
    const parts: string[] = [];
    let total = 0;
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      const n = stats.signals[signal][field];
      if (n > 0) parts.push(`${signal} ${n}`);
      total += n;
    }
    if (total > 0) out.push({ text: `receiver items ${label} ${total} (${parts.join(', ')})`, loss });
  };
  items('rejectedItems', 'rejected', true);
  items('repairedItems', 'repaired', false);
  const refused = Object.entries(stats.refused).filter(([, n]) => n > 0);
  if (refused.length > 0) {
    // Refusals the SDK retries (throttled, over budget) lose nothing; a failure inside the receiver does.
    out.push({
      text: `receiver refused ${refused.map(([reason, n]) => `${reason} ${n}`).join(', ')}`,
      loss: stats.refused.internal > 0,
    });
  }
  return out;
}
