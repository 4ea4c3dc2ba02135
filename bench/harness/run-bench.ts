// One benchmark run: the extension's init, memory, CPU and post-runtime cost in the simulator for
// three arrival patterns, this project's single-core throughput figures, and the layer size, each
// summarised as a median with its spread over repeated runs.

import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { REPO_ROOT } from '../../test/e2e/harness.js';
import {
  type EnvironmentSetup,
  type InitSample,
  measureBaselineInit,
  measureInit,
  type PatternId,
  type PatternSample,
  runPattern,
} from './environments.js';
import type { ExtensionUnderTest } from './extension-under-test.js';
import { measureLayerSize } from './layer-size.js';
import type { BenchPlan } from './plan.js';
import { type BenchResult, type Figure, formatValue, makeFigure, RESULT_SCHEMA } from './results.js';
import { clockTicksPerSecond } from './process-tree.js';
import { spread } from './stats.js';
import { type ConvertRun, convertThroughput, type ReceiverRun, receiverThroughput } from './throughput.js';

export type Section = 'init' | 'patterns' | 'throughput' | 'layer';
export const SECTIONS: readonly Section[] = ['init', 'patterns', 'throughput', 'layer'];

export interface RunOptions {
  ext: ExtensionUnderTest;
  plan: BenchPlan;
  name: string;
  sections: readonly Section[];
  env: Record<string, string>;
  echo: boolean;
  /** Progress lines (stderr by default), so stdout holds only the table. */
  progress?: (line: string) => void;
}

/** Targets shown next to the figures (this project's goals; any extension is held to them). */
const TARGETS = {
  startToFirstNextMs: 60,
  peakRssMbAtFiftyPerSecond: 45,
  postRuntimeP50MsFrequent: 1,
  convertEventsPerSecond: 50_000,
} as const;

function gitState(): { commit?: string; dirtyTree?: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      }).trim() !== '';
    return { commit, dirtyTree: dirty };
  } catch {
    return {};
  }
}

export async function runBench(options: RunOptions): Promise<BenchResult> {
  const { ext, plan, sections } = options;
  const say = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = performance.now();
  const createdAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  const setup: EnvironmentSetup = {
    ext,
    handler: plan.handler,
    payload: plan.payload,
    env: options.env,
    echo: options.echo,
  };
  const figures: Figure[] = [];
  const skipped: BenchResult['skipped'] = [];
  const notes: string[] = [];

  // ---- simulator runs ------------------------------------------------------------------------
  const inits: InitSample[] = [];
  const baseline: number[] = [];
  const runs = new Map<PatternId, PatternSample[]>();
  const shutdownMs: number[] = [];
  const wantPatterns = sections.includes('patterns');
  if (sections.includes('init') || wantPatterns) {
    const initOnly = wantPatterns ? plan.initOnlyStarts : Math.max(3, plan.initOnlyStarts);
    for (let i = 0; i < initOnly; i++) {
      say(`init ${i + 1}/${initOnly}`);
      inits.push(await measureInit(setup));
    }
    for (let i = 0; i < plan.baselineStarts; i++) {
      say(`function-only init ${i + 1}/${plan.baselineStarts}`);
      baseline.push(await measureBaselineInit(setup));
    }
  }
  if (wantPatterns) {
    // Repetition-major, so a change in the machine's load touches every pattern alike.
    for (let rep = 0; rep < plan.repetitions; rep++) {
      for (const pattern of plan.patterns) {
        const count = 1 + pattern.warmup + pattern.measured;
        say(`${pattern.label}: repetition ${rep + 1}/${plan.repetitions}, ${count} invocations`);
        const sample = await runPattern(setup, pattern);
        inits.push(sample.init);
        shutdownMs.push(sample.shutdownMs);
        if (sample.failedInvocations > 0) {
          notes.push(
            `${pattern.label}: ${sample.failedInvocations} of ${sample.invocations} invocations failed`,
          );
        }
        runs.set(pattern.id, [...(runs.get(pattern.id) ?? []), sample]);
      }
    }
  }

  if (inits.length > 0) {
    figures.push(
      makeFigure(
        {
          id: 'init.startToFirstNextMs',
          section: 'init',
          label: 'process start → first /event/next',
          unit: 'ms',
          better: 'lower',
          target: { op: '<=', value: TARGETS.startToFirstNextMs },
          ...(ext.names.length > 1 && { note: 'the slowest of the extensions in each environment' }),
        },
        spread(inits.map((s) => s.startToFirstNextMs)),
      ),
    );
    if (ext.names.length > 1) {
      for (const name of ext.names) {
        figures.push(
          makeFigure(
            {
              id: `init.${name}.startToFirstNextMs`,
              section: 'init',
              label: `${name}: start → first /event/next`,
              unit: 'ms',
              better: 'lower',
            },
            spread(inits.map((s) => s.perExtension[name] ?? Number.NaN)),
          ),
        );
      }
    }
    figures.push(
      makeFigure(
        {
          id: 'init.durationMs',
          section: 'init',
          label: 'init phase (platform.initReport durationMs)',
          unit: 'ms',
          better: 'lower',
        },
        spread(inits.map((s) => s.durationMs)),
      ),
    );
    if (baseline.length > 0) {
      figures.push(
        makeFigure(
          {
            id: 'init.baselineDurationMs',
            section: 'init',
            label: 'init phase without the extension',
            unit: 'ms',
            better: 'lower',
            note: 'the same function with no layer: what the extension adds to is the difference',
          },
          spread(baseline),
        ),
      );
    }
    figures.push(
      makeFigure(
        {
          id: 'init.cpuMs',
          section: 'init',
          label: 'CPU time until init is over',
          unit: 'ms',
          better: 'lower',
          note: "all threads of the extension's processes (schedstat), launcher included; much steadier than wall time on a busy machine",
        },
        spread(inits.map((s) => s.cpuMs)),
      ),
      makeFigure(
        { id: 'init.rssMb', section: 'init', label: 'RSS after init (VmRSS)', unit: 'MB', better: 'lower' },
        spread(inits.map((s) => s.rssMb)),
      ),
    );
  }

  for (const pattern of plan.patterns) {
    const samples = runs.get(pattern.id);
    if (!samples) continue;
    if (pattern.note !== undefined) notes.push(`${pattern.label}: ${pattern.note}`);
    const section = `${pattern.label}: ${pattern.measured} measured invocations${pattern.warmup ? ` after ${pattern.warmup} warm-up` : ''}`;
    const frequent = pattern.id !== 'perMinute';
    const of = (pick: (s: PatternSample) => number) => spread(samples.map(pick));
    const id = (name: string) => `${pattern.id}.${name}`;
    figures.push(
      makeFigure(
        {
          id: id('postRuntimeP50Ms'),
          section,
          label: 'post-runtime duration p50',
          unit: 'ms',
          better: 'lower',
          ...(frequent && { target: { op: '<=' as const, value: TARGETS.postRuntimeP50MsFrequent } }),
        },
        of((s) => s.postRuntimeP50Ms),
      ),
      makeFigure(
        {
          id: id('postRuntimeP99Ms'),
          section,
          label: 'post-runtime duration p99',
          unit: 'ms',
          better: 'lower',
        },
        of((s) => s.postRuntimeP99Ms),
      ),
      makeFigure(
        {
          id: id('coldPostRuntimeMs'),
          section,
          label: 'post-runtime of the cold invocation',
          unit: 'ms',
          better: 'lower',
        },
        of((s) => s.coldPostRuntimeMs ?? Number.NaN),
      ),
      makeFigure(
        {
          id: id('cpuMsPer1000'),
          section,
          label: 'CPU time per 1,000 invocations',
          unit: 'ms',
          better: 'lower',
          // utime+stime count in clock ticks: a window of few invocations is coarse.
          note: `utime+stime of the extension's processes over the measured invocations, scaled; resolution ${formatValue(1000 / clockTicksPerSecond(), 'ms')} per window`,
        },
        of((s) => s.cpuMsPer1000),
      ),
      makeFigure(
        {
          id: id('peakRssMb'),
          section,
          label: 'peak RSS (VmHWM)',
          unit: 'MB',
          better: 'lower',
          ...(pattern.id === 'fiftyPerSecond' && {
            target: { op: '<=' as const, value: TARGETS.peakRssMbAtFiftyPerSecond },
          }),
        },
        of((s) => s.peakRssMb),
      ),
      makeFigure(
        { id: id('steadyRssMb'), section, label: 'steady RSS (median VmRSS)', unit: 'MB', better: 'lower' },
        of((s) => s.steadyRssMb),
      ),
      makeFigure(
        {
          id: id('otlpWireBytesPerInvocation'),
          section,
          label: 'OTLP bytes on the wire per invocation',
          unit: 'bytes',
          better: 'lower',
        },
        of((s) => s.exportWireBytes / s.invocations),
      ),
      makeFigure(
        { id: id('achievedPerSecond'), section, label: 'invocations achieved', unit: '/s', better: 'higher' },
        of((s) => s.achievedPerSecond),
      ),
    );
  }
  if (shutdownMs.length > 0) {
    figures.push(
      makeFigure(
        {
          id: 'shutdown.durationMs',
          section: 'shutdown',
          label: 'SHUTDOWN phase (event → exit)',
          unit: 'ms',
          better: 'lower',
        },
        spread(shutdownMs),
      ),
    );
  }

  // ---- throughput (this project's modules) ----------------------------------------------------
  if (sections.includes('throughput')) {
    if (!ext.isProject) {
      skipped.push({
        id: 'throughput.*',
        reason: "converter and receiver throughput come from this project's module benchmarks",
      });
    } else {
      const convert: ConvertRun[] = [];
      for (let i = 0; i < plan.convertRuns; i++) {
        say(`converter throughput ${i + 1}/${plan.convertRuns}`);
        convert.push(await convertThroughput(plan.convertInvocations));
      }
      figures.push(
        makeFigure(
          {
            id: 'throughput.convertEventsPerSecond',
            section: 'throughput (one core)',
            label: 'telemetry events → OTLP protobuf',
            unit: 'events/s',
            better: 'higher',
            target: { op: '>=', value: TARGETS.convertEventsPerSecond },
            note: `bench/convert.bench.ts, ${plan.convertInvocations.toLocaleString('en-US')} invocations of platform events and log lines`,
          },
          spread(convert.map((c) => c.eventsPerSecond)),
        ),
      );
      const gzip = convert.map((c) => c.gzipBytesPerInvocation).filter((v): v is number => v !== undefined);
      if (gzip.length > 0) {
        figures.push(
          makeFigure(
            {
              id: 'throughput.convertGzipBytesPerInvocation',
              section: 'throughput (one core)',
              label: 'platform OTLP per invocation (gzip)',
              unit: 'bytes',
              better: 'lower',
            },
            spread(gzip),
          ),
        );
      }
      const receiver: ReceiverRun[] = [];
      for (let i = 0; i < plan.receiverRuns; i++) {
        say(`receiver throughput ${i + 1}/${plan.receiverRuns}`);
        receiver.push(await receiverThroughput(plan.receiverSecondsPerCase, plan.receiverConnections));
      }
      const cases = [...new Set(receiver.flatMap((r) => Object.keys(r)))];
      for (const name of cases) {
        figures.push(
          makeFigure(
            {
              id: `throughput.receiver.${name}.spansPerSecond`,
              section: 'throughput (one core)',
              label: `receiver, ${name}`,
              unit: 'spans/s',
              better: 'higher',
              note: `bench/receiver.bench.ts: 100-span requests over ${plan.receiverConnections} keep-alive connections, client in the same process`,
            },
            spread(receiver.map((r) => r[name] ?? Number.NaN)),
          ),
        );
      }
    }
  }

  // ---- layer size ----------------------------------------------------------------------------
  if (sections.includes('layer')) {
    say('layer size');
    const size = await measureLayerSize(ext);
    const one = (v: number) => spread([v]);
    figures.push(
      makeFigure(
        {
          id: 'layer.zipBytes',
          section: 'layer',
          label: 'zipped',
          unit: 'bytes',
          better: 'lower',
          note: size.source,
        },
        one(size.zipBytes),
      ),
      makeFigure(
        { id: 'layer.unzippedBytes', section: 'layer', label: 'unzipped', unit: 'bytes', better: 'lower' },
        one(size.unzippedBytes),
      ),
    );
    for (const flavour of size.withNode ?? []) {
      figures.push(
        makeFigure(
          {
            id: `layer.${flavour.flavour}.zipBytes`,
            section: 'layer',
            label: `${flavour.flavour} flavour (with Node) zipped`,
            unit: 'bytes',
            better: 'lower',
          },
          one(flavour.zipBytes),
        ),
        makeFigure(
          {
            id: `layer.${flavour.flavour}.unzippedBytes`,
            section: 'layer',
            label: `${flavour.flavour} flavour (with Node) unzipped`,
            unit: 'bytes',
            better: 'lower',
          },
          one(flavour.unzippedBytes),
        ),
      );
    }
  }

  const cpuList = cpus();
  return {
    schema: RESULT_SCHEMA,
    name: options.name,
    createdAt,
    mode: plan.mode,
    extension: { kind: ext.kind, path: ext.path, names: ext.names },
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
      loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
      ...gitState(),
    },
    plan: {
      ...plan,
      sections,
      env: Object.keys(options.env),
      otlpSink: 'test/fakes/otlp-sink.ts on 127.0.0.1 (no decoding)',
      exporterEnv: ext.isProject ? 'LAMBDA_OTEL_EXPORTER_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT',
    },
    figures,
    skipped,
    notes,
    durationS: (performance.now() - started) / 1000,
  };
}
