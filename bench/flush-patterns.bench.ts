// Flush strategies end to end: the built extension in the Lambda simulator (real processes, real
// SIGSTOP freezing) exporting to a local OTLP sink, for three invocation patterns, adaptive against
// `end` and `continuous,1000`. Per run:
// - post-runtime duration per invocation (response end → the extension's /event/next: billed), p50/p99;
// - staleness: invocation end → its span at the sink, p50/p99;
// - exports (HTTP requests at the sink) per 100 invocations, before SHUTDOWN and in total.
// Run (builds the layer if needed; about 2 minutes):
//   node --import tsx bench/flush-patterns.bench.ts [pattern-filter, e.g. 50/s]
//
// Time compression: the simulator's idle is real time, so "one invocation a minute" is played with
// a frozen idle of IDLE_MS between invocations (60 s → 3 s, 20×). The staleness bound is lowered with
// it (30 s → 4 s) so that the adaptive horizon (bound − 2 × 1 s background interval: 28 s → 2 s)
// stays shorter than the gap, as a minute is longer than 28 s: the extension sees the same kind of
// traffic. In that pattern, staleness of data left for the next thaw scales with the gap (× 20 for
// the real pattern).

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { EXTENSION_NAME, invocationSpanIndex, percentile } from '../test/support/flush-sink.js';
import { ensureLayer, extensionEnvironment, REPO_ROOT } from '../test/support/e2e-harness.js';
import type { InvocationResult } from '../tools/simulator/index.js';

interface Pattern {
  name: string;
  /** Invocations per run. */
  invocations: number;
  /** Target gap between invocation starts, ms. */
  gapMs: number;
  env: Record<string, string>;
  note?: string;
}

const IDLE_MS = 3_000;
const PATTERNS: Pattern[] = [
  {
    name: '1/min (compressed)',
    invocations: 4,
    gapMs: IDLE_MS,
    env: { LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: '4000' },
    note: `gap 60 s played as ${IDLE_MS} ms of frozen idle (20×); staleness bound 30 s → 4 s`,
  },
  { name: '1/s', invocations: 10, gapMs: 1_000, env: {} },
  { name: '50/s', invocations: 250, gapMs: 20, env: {} },
];
const STRATEGIES = ['adaptive', 'end', 'continuous,1000'];

interface Stats {
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

interface RunResult {
  pattern: string;
  strategy: string;
  invocations: number;
  achievedPerSecond: number;
  postRuntimeMs: Stats;
  stalenessMs: Stats;
  /** The three stalest invocations: index in the run, staleness, whether SHUTDOWN delivered it. */
  stalest: { index: number; ms: number; atShutdown: boolean }[];
  /** Invocation spans at the sink before SHUTDOWN (the rest came with the final flush). */
  deliveredBeforeShutdown: number;
  delivered: number;
  requestsBeforeShutdown: number;
  requestsTotal: number;
  exportsPer100BeforeShutdown: number;
  exportsPer100Total: number;
  shutdownMs: number;
}

function stats(values: readonly number[]): Stats {
  const finite = values.filter(Number.isFinite);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    p50: round(percentile(finite, 50)),
    p99: round(percentile(finite, 99)),
    mean: round(finite.reduce((a, b) => a + b, 0) / Math.max(1, finite.length)),
    max: round(Math.max(...finite)),
  };
}

async function run(pattern: Pattern, strategy: string): Promise<RunResult> {
  const sink = await startOtlpSink();
  const { sim } = await extensionEnvironment({
    handler: 'scenario.mjs',
    endpoint: sink.url,
    logLevel: 'warn',
    keepHistory: false,
    env: { ...pattern.env, LAMBDA_OTEL_FLUSH_STRATEGY: strategy },
  });
  try {
    await sim.start();
    // The simulator's timestamps are performance-based epoch ms, the sink's Date.now(): align them.
    const clockOffset = Date.now() - (performance.timeOrigin + performance.now());
    const results: InvocationResult[] = [];
    const startedMs = Date.now();
    let dueMs = startedMs;
    for (let i = 0; i < pattern.invocations; i++) {
      results.push(await sim.invoke({ log: [`bench ${i}`] }));
      dueMs += pattern.gapMs;
      const wait = dueMs - Date.now();
      if (wait > 0) await sim.idle(wait);
    }
    const elapsedS = (Date.now() - startedMs) / 1000;
    const requestsBeforeShutdown = sink.attempts.length;
    const acceptedBeforeShutdown = sink.requests.length;
    const down = await sim.shutdown();
    const ext = down.extensions.find((e) => e.name === EXTENSION_NAME);
    if (!ext?.exitedBeforeDeadline)
      throw new Error(`${pattern.name} ${strategy}: extension killed at SHUTDOWN`);
    // Read the sink only now: decoding spans before SHUTDOWN would delay it and inflate staleness.
    const spansById = invocationSpanIndex(sink.requests);
    let deliveredBeforeShutdown = 0;
    const staleness: number[] = [];
    const perInvocation: RunResult['stalest'] = [];
    let delivered = 0;
    for (const [index, r] of results.entries()) {
      const span = spansById.get(r.requestId)?.[0];
      if (!span) continue;
      delivered++;
      if (span.request < acceptedBeforeShutdown) deliveredBeforeShutdown++;
      const endMs = (r.timestamps.runtimeResponseMs ?? r.timestamps.reportMs) + clockOffset;
      const ms = Math.max(0, span.receivedAtMs - endMs);
      staleness.push(ms);
      perInvocation.push({ index, ms: Math.round(ms), atShutdown: span.request >= acceptedBeforeShutdown });
    }
    const n = results.length;
    return {
      pattern: pattern.name,
      strategy,
      invocations: n,
      achievedPerSecond: Math.round((n / elapsedS) * 10) / 10,
      postRuntimeMs: stats(results.map((r) => r.postRuntimeExtensionsDurationMs ?? Number.NaN)),
      stalenessMs: stats(staleness),
      stalest: perInvocation.sort((a, b) => b.ms - a.ms).slice(0, 3),
      deliveredBeforeShutdown,
      delivered,
      requestsBeforeShutdown,
      requestsTotal: sink.attempts.length,
      exportsPer100BeforeShutdown: Math.round((requestsBeforeShutdown / n) * 1000) / 10,
      exportsPer100Total: Math.round((sink.attempts.length / n) * 1000) / 10,
      shutdownMs: Math.round(down.endedAtMs - down.startedAtMs),
    };
  } finally {
    await sim.close();
    await sink.close();
  }
}

function table(rows: readonly RunResult[]): string {
  const head = [
    'pattern',
    'strategy',
    'n',
    'inv/s',
    'post-rt p50',
    'p99',
    'stale p50',
    'p99',
    'exp/100',
    'exp/100 total',
    'at sink before SHUTDOWN',
  ];
  const body = rows.map((r) => [
    r.pattern,
    r.strategy,
    String(r.invocations),
    String(r.achievedPerSecond),
    `${r.postRuntimeMs.p50} ms`,
    `${r.postRuntimeMs.p99} ms`,
    `${r.stalenessMs.p50} ms`,
    `${r.stalenessMs.p99} ms`,
    String(r.exportsPer100BeforeShutdown),
    String(r.exportsPer100Total),
    `${r.deliveredBeforeShutdown}/${r.invocations}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  ensureLayer();
  const started = Date.now();
  const rows: RunResult[] = [];
  const filter = process.argv[2];
  for (const pattern of PATTERNS.filter((p) => filter === undefined || p.name.includes(filter))) {
    for (const strategy of STRATEGIES) {
      const row = await run(pattern, strategy);
      rows.push(row);
      process.stderr.write(`${pattern.name} ${strategy}: done\n`);
    }
  }
  const out = {
    benchmark: 'flush-patterns',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    durationS: Math.round((Date.now() - started) / 100) / 10,
    timeCompression: PATTERNS.filter((p) => p.note).map((p) => ({ pattern: p.name, note: p.note })),
    definitions: {
      postRuntimeMs: 'response end → the extension’s /event/next (Lambda bills it)',
      stalenessMs: 'response end → the invocation span received by the sink',
      exportsPer100: 'HTTP requests at the sink per 100 invocations (before SHUTDOWN / including it)',
    },
    results: rows,
  };
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `flush-patterns-${out.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(table(rows));
  for (const c of out.timeCompression) console.log(`${c.pattern}: ${c.note}`);
  console.log(`${out.durationS} s, load ${out.loadAverageAtEnd.join(' ')}; written to ${file}`);
}

await main();
