// Flush decision benchmark.
//   node --import tsx bench/flush-decision.bench.ts
// 1. Cost of one decision (estimator update + decide), in ns.
// 2. For three arrival patterns, replayed in virtual time with Lambda's freezes and a backend that
//    takes 2 ms per flush: post-runtime time added per invocation (billed), how long data waits
//    before it is exported, and exports per 100 invocations; adaptive against fixed strategies
//    (`continuous,20000` is Datadog's steady state after its first 20 invocations).

import { ArrivalEstimator } from '../src/flush/arrival-estimator.js';
import { type DecisionInput, decide, stalenessHorizonMs } from '../src/flush/decision.js';
import { percentile, type ReplayInvocation, replay, steadyPattern } from '../test/support/flush-replay.js';
import { DEFAULT_FLUSH_SETTINGS } from '../src/flush/settings.js';

function decisionCostNs(): { decideNs: number; observeAndDecideNs: number } {
  const estimator = new ArrivalEstimator({ longGapMs: stalenessHorizonMs(DEFAULT_FLUSH_SETTINGS) });
  let t = 1_700_000_000_000;
  for (let i = 0; i < 50; i++) {
    t += 20 + (i % 7);
    estimator.observe(t);
  }
  const input: DecisionInput = {
    strategy: { kind: 'adaptive' },
    nowMs: t,
    arrivals: estimator.estimates(),
    pending: { items: 40, bytes: 20_000, oldestCreatedAtMs: t - 400 },
    dirtySinceMs: t - 300,
    lastFlushStartMs: t - 700,
    recentThaw: false,
    backendUnhealthy: false,
    runtimeDoneReliable: true,
    backgroundCut: false,
    invocationDurationMs: 10,
    flushDurationMs: 2,
    settings: DEFAULT_FLUSH_SETTINGS,
  };
  const rounds = 1_000_000;
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += decide(input).estimates.horizonMs; // warm-up
  let start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    input.nowMs = t + i;
    sink += decide(input).estimates.horizonMs;
  }
  const decideNs = Number(process.hrtime.bigint() - start) / rounds;
  start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    t += 20;
    estimator.observe(t);
    input.arrivals = estimator.estimates();
    input.nowMs = t;
    sink += decide(input).estimates.horizonMs;
  }
  const observeAndDecideNs = Number(process.hrtime.bigint() - start) / rounds;
  if (sink === 0) console.log('');
  return { decideNs, observeAndDecideNs };
}

interface Row {
  pattern: string;
  strategy: string;
  postRuntimeP50: number;
  postRuntimeP99: number;
  stalenessP50: number;
  stalenessP99: number;
  exportsPer100: number;
  blockingShare: number;
}

async function measure(pattern: string, invocations: ReplayInvocation[], strategy: string): Promise<Row> {
  const result = await replay({ invocations, strategy, flushMs: 2 });
  const postRuntime = result.invocations.map((i) => i.postRuntimeMs);
  // Data the flush timing controls: the function's exports and runtimeDone-derived data.
  // (platform.report only reaches the extension at the next thaw, whatever the strategy.)
  const staleness = [...result.target.staleness.function, ...result.target.staleness.runtimeDone];
  return {
    pattern,
    strategy,
    postRuntimeP50: percentile(postRuntime, 50),
    postRuntimeP99: percentile(postRuntime, 99),
    stalenessP50: percentile(staleness, 50),
    stalenessP99: percentile(staleness, 99),
    exportsPer100: (result.target.exports * 100) / invocations.length,
    blockingShare: result.invocations.filter((i) => i.mode === 'blocking').length / invocations.length,
  };
}

async function main(): Promise<void> {
  const cost = decisionCostNs();
  console.log(
    `decide(): ${cost.decideNs.toFixed(0)} ns; estimator update + decide(): ${cost.observeAndDecideNs.toFixed(0)} ns`,
  );
  console.log('');
  const patterns: [string, ReplayInvocation[]][] = [
    ['1/min (100 ms)', steadyPattern(300, 60_000, 100)],
    ['1/s (50 ms)', steadyPattern(2_000, 1_000, 50)],
    ['50/s (10 ms)', steadyPattern(10_000, 20, 10)],
  ];
  const rows: Row[] = [];
  for (const [name, invocations] of patterns) {
    for (const strategy of ['adaptive', 'end', 'continuous,20000'])
      rows.push(await measure(name, invocations, strategy));
  }
  const header = [
    'pattern',
    'strategy',
    'post-runtime p50/p99 ms',
    'staleness p50/p99 ms',
    'exports/100 inv',
    'held inv',
  ];
  const lines = rows.map((r) => [
    r.pattern,
    r.strategy,
    `${r.postRuntimeP50} / ${r.postRuntimeP99}`,
    `${r.stalenessP50} / ${r.stalenessP99}`,
    r.exportsPer100.toFixed(1),
    `${(r.blockingShare * 100).toFixed(1)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

await main();
