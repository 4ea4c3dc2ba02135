// What became of the platform spans, for self-telemetry and the shutdown line: exported, dropped by
// the sampler, or dropped (the memory budget refused to hold them, the outbox overflowed, encoding
// failed). Without it a user whose sampler (or Lambda's `Sampled=0` under a parent-based sampler)
// drops every span would see nothing and nothing saying why.

import type { ObservedCounter } from '../pipeline/self-telemetry.js';
import type { ConverterStats } from './converter-stats.js';

const SPANS = [
  'otel_lambda_extension.platform.spans',
  'Platform spans (invocation, init, restore and their phases), by outcome',
  '{span}',
] as const;

export function platformSpanCounters(stats: Readonly<ConverterStats>): ObservedCounter[] {
  const [name, description, unit] = SPANS;
  const out: ObservedCounter[] = [];
  if (stats.spansExported > 0)
    out.push({ name, description, unit, attributes: { outcome: 'exported' }, value: stats.spansExported });
  if (stats.spansUnsampled > 0)
    out.push({ name, description, unit, attributes: { outcome: 'unsampled' }, value: stats.spansUnsampled });
  if (stats.spansOverBudget > 0) {
    const attributes = { outcome: 'dropped', reason: 'memory_budget' };
    out.push({ name, description, unit, attributes, value: stats.spansOverBudget });
  }
  if (stats.spansDropped > 0) {
    const attributes = { outcome: 'dropped', reason: 'outbox_full_or_encoding' };
    out.push({ name, description, unit, attributes, value: stats.spansDropped });
  }
  return out;
}

/** One clause for the shutdown line, e.g. `platform spans: 12 exported, 40 unsampled (parentbased_always_on)`. */
export function platformSpanSummary(stats: Readonly<ConverterStats>, sampler: string): string {
  const kept = stats.invocationsKeptForFunction;
  return (
    `platform spans: ${stats.spansExported} exported, ${stats.spansUnsampled} unsampled (sampler ${sampler}` +
    `${kept > 0 ? `; ${kept} invocations kept for the function's spans` : ''})`
  );
}
