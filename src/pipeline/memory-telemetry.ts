// What the memory budget reports: gauges and a counter for self-telemetry, a clause for the
// shutdown line.

import type { MemoryBudget } from './memory-budget.js';
import type { ObservedCounter, ObservedGauge } from './self-telemetry.js';

const PREFIX = 'otel_lambda_extension.memory';
const MB = 1024 * 1024;

/** The budget and the most of it in use at once so far. */
export function memoryGauges(budget: MemoryBudget): ObservedGauge[] {
  const snapshot = budget.snapshot();
  return [
    {
      name: `${PREFIX}.budget`,
      description: 'Memory the extension may hold for receiving, parsing and queueing telemetry',
      unit: 'By',
      attributes: {},
      value: snapshot.limitBytes,
    },
    {
      name: `${PREFIX}.high_water`,
      description: 'Most of the memory budget in use at once so far',
      unit: 'By',
      attributes: {},
      value: snapshot.highWaterBytes,
    },
  ];
}

/** Requests and pushes refused for want of budget, by user; zero series are left out. */
export function memoryCounters(budget: MemoryBudget): ObservedCounter[] {
  const { refused } = budget.snapshot();
  return (['receiver', 'telemetry_api'] as const)
    .map((user) => ({
      name: `${PREFIX}.refused`,
      description: 'Requests and pushes refused or dropped because the memory budget was in use',
      unit: '{request}',
      attributes: { user },
      value: refused[user],
    }))
    .filter((c) => c.value > 0);
}

/** One clause for the shutdown line: the budget, its high-water mark and what it refused. */
export function memorySummary(budget: MemoryBudget): string {
  const s = budget.snapshot();
  return (
    `memory budget ${(s.limitBytes / MB).toFixed(1)} MB, high-water ${(s.highWaterBytes / MB).toFixed(1)} MB` +
    `, refused ${s.refused.receiver} receiver requests, ${s.refused.telemetry_api} telemetry pushes`
  );
}
