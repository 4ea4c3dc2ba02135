// SHUTDOWN event → extension exit, for the built layer in the Lambda simulator, in four situations:
//   flushed   invocations whose data was flushed at their end, idle, then SHUTDOWN (spindown);
//   idle      no invocation at all;
//   otel-env  flushed, but the environment sets OTEL_EXPORTER_OTLP_ENDPOINT (at the receiver) for a
//             function that has no SDK: the extension cannot know none will export at SIGTERM;
//   queued    data still queued (flush strategy periodic with a long period);
//   otel-sdk  a function with the OpenTelemetry JS SDK, which exports what it holds at SIGTERM.
// Median, min and max over the runs, per case, with the load average next to them.
//   node --import tsx bench/shutdown.bench.ts [runs=5] [--memory 128] [--layer build/layer-nodejs]
//                                           [--cases flushed,idle] [--trace]
// --memory puts the environment under Lambda's CPU model for that memory (a cgroup CPU quota);
// without it the environment is unthrottled. --trace prints the extension's debug lines of the
// last run of each case with their time since SHUTDOWN.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { extensionEnvironment, REPO_ROOT, SETUP_MODULE } from '../test/support/e2e-harness.js';
import { startOtlpSink } from '../tools/otlp/sink.js';

const EXTENSION = 'otel-lambda-extension';
const CASES = ['flushed', 'idle', 'otel-env', 'queued', 'otel-sdk'] as const;
type Case = (typeof CASES)[number];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    memory: { type: 'string' },
    layer: { type: 'string' },
    cases: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
const runs = Number(positionals[0] ?? 5);
const memoryMB = values.memory === undefined ? undefined : Number(values.memory);
const cases = (values.cases?.split(',') ?? CASES) as Case[];
const optDir = values.layer === undefined ? undefined : resolve(REPO_ROOT, values.layer);

interface Sample {
  exitMs: number;
  exported: boolean;
  lines: string[];
}

async function oneRun(kind: Case, sinkUrl: string, sinkRequests: () => number): Promise<Sample> {
  const otel = kind === 'otel-sdk';
  const { sim } = await extensionEnvironment({
    handler: otel ? 'otel-handler.mjs' : kind === 'queued' ? 'logs.mjs' : 'echo.mjs',
    endpoint: sinkUrl,
    logLevel: values.trace ? 'debug' : 'info',
    keepHistory: values.trace,
    timeoutMs: 10_000,
    initTimeoutMs: 20_000,
    ...(optDir !== undefined && { optDir }),
    ...(memoryMB !== undefined && { memorySizeMB: memoryMB, unthrottled: false }),
    ...(otel && { functionNodeArgs: ['--import', SETUP_MODULE] }),
    env: {
      // Without the SDK, the function configures no OpenTelemetry (empty is unset).
      ...(!otel && kind !== 'otel-env' && { OTEL_EXPORTER_OTLP_ENDPOINT: '' }),
      ...(otel && { FIXTURE_OTEL_PARENT: 'root', FIXTURE_OTEL_FLUSH: 'none' }),
      ...(kind === 'queued' && { LAMBDA_OTEL_FLUSH_STRATEGY: 'periodic,600000' }),
    },
  });
  try {
    const init = await sim.start();
    if (init.status !== 'success') throw new Error(`init ${init.status}: ${init.errorType}`);
    if (kind !== 'idle') {
      for (let i = 0; i < 3; i++) {
        const res = await sim.invoke(kind === 'queued' ? { lines: 5, size: 80 } : { n: i });
        if (res.status !== 'success') throw new Error(`invocation ${i}: ${res.status} ${res.errorType}`);
      }
      await sim.idle(300);
    }
    const before = sinkRequests();
    const down = await sim.shutdown('spindown');
    const ext = down.extensions.find((e) => e.name === EXTENSION);
    if (ext?.exitCode !== 0 || !ext.exitedBeforeDeadline || ext.exitAtMs === undefined)
      throw new Error(`bad exit: ${JSON.stringify(ext)}`);
    const lines = sim.extensionLogs
      .filter((l) => l.atMs >= down.startedAtMs - 1)
      .map((l) => `${(l.atMs - down.startedAtMs).toFixed(1).padStart(7)} ms  ${l.line}`);
    return { exitMs: ext.exitAtMs - down.startedAtMs, exported: sinkRequests() > before, lines };
  } finally {
    await sim.close();
  }
}

function spread(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return `median ${median?.toFixed(1)} ms (min ${sorted[0]?.toFixed(1)}, max ${sorted.at(-1)?.toFixed(1)})`;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const sink = await startOtlpSink({ decode: false });
try {
  console.log(
    `SHUTDOWN → exit, ${optDir ?? 'build/layer'}, ${memoryMB === undefined ? 'unthrottled' : `${memoryMB} MB CPU model`}, ${runs} runs; load ${loadavg()}`,
  );
  for (const kind of cases) {
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await oneRun(kind, sink.url, () => sink.requests.length));
    const exported = samples.filter((s) => s.exported).length;
    console.log(
      `${kind.padEnd(9)} ${spread(samples.map((s) => s.exitMs))}; exported at SHUTDOWN in ${exported}/${runs}; load ${loadavg()}`,
    );
    if (values.trace) for (const line of samples.at(-1)?.lines ?? []) console.log(`    ${line}`);
  }
} finally {
  await sink.close();
}
