// Cold start and memory of the extension process from the built layer, in the Lambda simulator with
// the default configuration exporting to a local OTLP sink:
//   init: process start → first /event/next (the simulator's ExtensionInitInfo.startToFirstNextMs),
//         split into start → register (Node start-up, bundle load, config) and register → first next
//         (telemetry listener, subscribe, wiring);
//   peak RSS: VmHWM of the extension process after 20 invocations that log, read just before SHUTDOWN.
// Median, min and max over the runs; results in bench/results/init-<timestamp>.json.
//   node --import tsx bench/init.bench.ts [runs=10] [--cpu-prof]
// --cpu-prof adds one profiled cold start (LAMBDA_OTEL_NODE_OPTIONS=--cpu-prof) and prints where the
// extension's CPU time went, by source module (mapped through the bundle's source map).

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { extensionEnvironment, REPO_ROOT } from '../test/support/e2e-harness.js';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { readMemoryKb } from '../tools/simulator/index.js';

const EXTENSION = 'otel-lambda-extension';
const INVOCATIONS = 20;
const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 10);
const profile = args.includes('--cpu-prof');

interface RunResult {
  startToFirstNextMs: number;
  startToRegisterMs: number;
  registerToFirstNextMs: number;
  peakRssKb: number;
  rssKb: number;
}

async function oneRun(
  sinkUrl: string,
  env: Record<string, string> = {},
  invocations = INVOCATIONS,
): Promise<RunResult> {
  const { sim } = await extensionEnvironment({
    handler: 'logs.mjs',
    endpoint: sinkUrl,
    logLevel: 'warn', // the default level
    keepHistory: false,
    env,
  });
  try {
    const init = await sim.start();
    if (init.status !== 'success') throw new Error(`init ${init.status}: ${init.errorType}`);
    const ext = init.extensions.find((e) => e.name === EXTENSION);
    if (ext?.startToFirstNextMs === undefined || ext.registeredAtMs === undefined) {
      throw new Error('the simulator has no init timings for the extension');
    }
    for (let i = 0; i < invocations; i++) {
      const res = await sim.invoke({ lines: 10, size: 120 });
      if (res.status !== 'success') throw new Error(`invocation ${i}: ${res.status} ${res.errorType}`);
    }
    const pid = sim.pids().extensions[EXTENSION];
    const memory = pid === undefined ? undefined : readMemoryKb(pid);
    if (!memory) throw new Error('extension process gone before SHUTDOWN');
    const down = await sim.shutdown();
    const exit = down.extensions.find((e) => e.name === EXTENSION);
    if (exit?.exitCode !== 0 || !exit.exitedBeforeDeadline)
      throw new Error(`bad exit: ${JSON.stringify(exit)}`);
    return {
      startToFirstNextMs: ext.startToFirstNextMs,
      startToRegisterMs: ext.registeredAtMs - ext.startedAtMs,
      registerToFirstNextMs: ext.startToFirstNextMs - (ext.registeredAtMs - ext.startedAtMs),
      peakRssKb: memory.peakKb,
      rssKb: memory.rssKb,
    };
  } finally {
    await sim.close();
  }
}

function stats(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time by source module: bundle frames mapped through the source map, the rest by URL kind. */
function summariseProfile(profile: CpuProfile): { where: string; ms: number }[] {
  const map = new SourceMap(
    JSON.parse(readFileSync(join(REPO_ROOT, 'build/otel-lambda-extension/index.mjs.map'), 'utf8')),
  );
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totals = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byNode.get(id)?.callFrame;
    let where: string;
    if (frame?.functionName === '(idle)') continue;
    if (!frame || frame.url === '') where = `(${frame?.functionName || 'native'})`;
    else if (frame.url.endsWith('/index.mjs')) {
      const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string };
      const source = entry.originalSource ?? 'bundle (unmapped)';
      const nm = source.lastIndexOf('node_modules/');
      if (nm >= 0) {
        const rest = source.slice(nm + 'node_modules/'.length).split('/');
        where = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? source);
      } else where = source.replace(/^.*?src\//, 'src/');
    } else if (frame.url.startsWith('node:')) {
      // compileSourceTextModule is V8 compiling the bundle; compileForInternalLoader, Node's built-ins.
      where = `node: ${frame.functionName || '(anonymous)'}`;
    } else where = frame.url;
    totals.set(where, (totals.get(where) ?? 0) + us);
  }
  return [...totals]
    .map(([where, us]) => ({ where, ms: us / 1000 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 15);
}

async function profiledColdStart(sinkUrl: string): Promise<{ where: string; ms: number }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ext-cpu-prof-'));
  try {
    // One invocation, then SHUTDOWN: the profile is mostly start-up.
    await oneRun(sinkUrl, { LAMBDA_OTEL_NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` }, 1);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no CPU profile written');
    const keep = join(tmpdir(), `otel-lambda-extension-init-${Date.now()}.cpuprofile`);
    writeFileSync(keep, readFileSync(join(dir, file)));
    console.log(`\nprofile: ${keep} (open in Chrome DevTools)`);
    return summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sink = await startOtlpSink({ decode: false });
const results: RunResult[] = [];
try {
  await oneRun(sink.url, {}, 2); // warm the file cache: the first spawn of the bundle reads it from disk
  for (let i = 0; i < runs; i++) {
    const r = await oneRun(sink.url);
    results.push(r);
    process.stderr.write(
      `run ${i + 1}/${runs}: init ${r.startToFirstNextMs.toFixed(1)} ms, peak RSS ${(r.peakRssKb / 1024).toFixed(1)} MiB\n`,
    );
  }
  const summary = {
    startToFirstNextMs: stats(results.map((r) => r.startToFirstNextMs)),
    startToRegisterMs: stats(results.map((r) => r.startToRegisterMs)),
    registerToFirstNextMs: stats(results.map((r) => r.registerToFirstNextMs)),
    peakRssMiB: stats(results.map((r) => r.peakRssKb / 1024)),
    rssMiB: stats(results.map((r) => r.rssKb / 1024)),
  };
  const row = (label: string, s: { median: number; min: number; max: number }, digits = 1) =>
    `${label.padEnd(34)} ${s.median.toFixed(digits).padStart(8)} ${s.min.toFixed(digits).padStart(8)} ${s.max.toFixed(digits).padStart(8)}`;
  console.log(`\nextension init and memory, ${runs} runs (${INVOCATIONS} invocations × 10 log lines each)`);
  console.log(`${''.padEnd(34)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`);
  console.log(row('init: start → first next (ms)', summary.startToFirstNextMs));
  console.log(row('  start → register (ms)', summary.startToRegisterMs));
  console.log(row('  register → first next (ms)', summary.registerToFirstNextMs));
  console.log(row('peak RSS, VmHWM (MiB)', summary.peakRssMiB));
  console.log(row('RSS before SHUTDOWN (MiB)', summary.rssMiB));

  const cpuProfile = profile ? await profiledColdStart(sink.url) : undefined;
  if (cpuProfile) {
    console.log('\nCPU self time of one profiled cold start + 1 invocation, by source:');
    for (const { where, ms } of cpuProfile) console.log(`  ${ms.toFixed(1).padStart(7)} ms  ${where}`);
  }

  const outDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(outDir, `init-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'init',
        at: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        runs,
        invocationsPerRun: INVOCATIONS,
        summary,
        results,
        ...(cpuProfile && { cpuProfile }),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults: ${file.slice(REPO_ROOT.length + 1)}`);
} finally {
  await sink.close();
}
