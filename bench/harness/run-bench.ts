// One benchmark run: for each extension under test (several are measured side by side, interleaved,
// so machine load touches them alike), and for each memory setting under the simulator's resource
// model: init and what it adds to the bill, memory, CPU, post-runtime and billed duration for three
// arrival patterns; then this project's single-core throughput figures and the layer size. Each
// figure is a median with its spread over repeated runs. One result per extension.

import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { REPO_ROOT } from '../../test/support/e2e-harness.js';
import {
  type EnvironmentSetup,
  type BaselineSample,
  describeResources,
  type InitSample,
  measureBaseline,
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

export interface Subject {
  ext: ExtensionUnderTest;
  /** Result name. */
  name: string;
  /** Environment for this extension only (`--env NAME:K=V`), on top of the shared `env`. */
  env?: Record<string, string>;
}

export interface RunOptions {
  /** The extensions to measure, side by side. */
  subjects: Subject[];
  plan: BenchPlan;
  sections: readonly Section[];
  env: Record<string, string>;
  echo: boolean;
  /** Progress lines (stderr by default), so stdout holds only the table. */
  progress?: (line: string) => void;
}

/**
 * Targets shown next to the figures (this project's goals; any extension is held to them). They hold
 * at one full vCPU (1,769 MB and above), so they are shown at those memory settings only.
 */
const TARGETS = {
  startToFirstNextMs: 60,
  peakRssMbAtFiftyPerSecond: 45,
  postRuntimeP50MsFrequent: 1,
  convertEventsPerSecond: 50_000,
  fromMemoryMB: 1769,
} as const;

/** A figure's id at one memory setting, e.g. `init.billedAddedMs@128MB`. */
export function atMemory(id: string, memoryMB: number): string {
  return `${id}@${memoryMB}MB`;
}

interface Collected {
  inits: InitSample[];
  runs: Map<PatternId, PatternSample[]>;
  shutdownMs: number[];
}

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

export async function runBench(options: RunOptions): Promise<BenchResult[]> {
  const { subjects, plan, sections } = options;
  const say = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = performance.now();
  const createdAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  const setupFor = (subject: Subject, memoryMB: number): EnvironmentSetup => ({
    ext: subject.ext,
    memoryMB,
    unthrottled: plan.unthrottled,
    backend: plan.backend,
    handler: plan.handler,
    payload: plan.payload,
    env: { ...options.env, ...subject.env },
    echo: options.echo,
  });
  const tag = (subject: Subject) => (subjects.length > 1 ? `${subject.name}, ` : '');

  // ---- simulator runs: rounds × memory settings × patterns × extensions, interleaved ------------
  const collected = new Map<Subject, Map<number, Collected>>();
  for (const subject of subjects) {
    collected.set(
      subject,
      new Map(plan.memorySizesMB.map((m) => [m, { inits: [], runs: new Map(), shutdownMs: [] }])),
    );
  }
  const of = (subject: Subject, memoryMB: number) => collected.get(subject)?.get(memoryMB) as Collected;
  const failures = new Map<Subject, string[]>();
  const baselines = new Map<number, BaselineSample[]>(plan.memorySizesMB.map((m) => [m, []]));
  const wantPatterns = sections.includes('patterns');
  const wantSim = sections.includes('init') || wantPatterns;
  const initOnly = wantPatterns ? plan.initOnlyStarts : Math.max(3, plan.initOnlyStarts);
  const rounds = wantSim ? Math.max(wantPatterns ? plan.repetitions : 0, initOnly, plan.baselineStarts) : 0;
  for (let round = 0; round < rounds; round++) {
    for (const memoryMB of plan.memorySizesMB) {
      const at = `${memoryMB} MB, round ${round + 1}/${rounds}`;
      if (round < plan.baselineStarts) {
        say(`${at}: function alone`);
        baselines
          .get(memoryMB)
          ?.push(await measureBaseline(setupFor(subjects[0]!, memoryMB), plan.baselineInvocations));
      }
      if (round < initOnly) {
        for (const subject of subjects) {
          say(`${at}: ${tag(subject)}init`);
          of(subject, memoryMB).inits.push(await measureInit(setupFor(subject, memoryMB)));
        }
      }
      if (!wantPatterns || round >= plan.repetitions) continue;
      for (const pattern of plan.patterns) {
        for (const subject of subjects) {
          const count = 1 + pattern.warmup + pattern.measured;
          say(`${at}: ${tag(subject)}${pattern.label}, ${count} invocations`);
          const sample = await runPattern(setupFor(subject, memoryMB), pattern);
          const c = of(subject, memoryMB);
          c.inits.push(sample.init);
          c.shutdownMs.push(sample.shutdownMs);
          c.runs.set(pattern.id, [...(c.runs.get(pattern.id) ?? []), sample]);
          if (sample.failedInvocations > 0) {
            (failures.get(subject) ?? failures.set(subject, []).get(subject))?.push(
              `${memoryMB} MB, ${pattern.label}: ${sample.failedInvocations} of ${sample.invocations} invocations failed`,
            );
          }
        }
      }
    }
  }

  const results: BenchResult[] = [];
  for (const subject of subjects) {
    const figures: Figure[] = [];
    const skipped: BenchResult['skipped'] = [];
    const notes: string[] = [...(failures.get(subject) ?? [])];
    for (const memoryMB of plan.memorySizesMB) {
      const models = new Set(of(subject, memoryMB).inits.map((i) => describeResources(i.resources)));
      for (const model of models) notes.push(`${memoryMB} MB: resource model ${model}`);
    }
    for (const memoryMB of plan.memorySizesMB) {
      figures.push(
        ...simulatorFigures(
          subject.ext,
          plan,
          memoryMB,
          of(subject, memoryMB),
          baselines.get(memoryMB) ?? [],
        ),
      );
    }
    if (wantPatterns) {
      for (const pattern of plan.patterns)
        if (pattern.note !== undefined) notes.push(`${pattern.label}: ${pattern.note}`);
    }
    await otherSections(subject.ext, plan, sections, say, figures, skipped);
    results.push(
      assemble(options, subject, plan, createdAt, loadAverageAtStart, started, figures, skipped, notes),
    );
  }
  return results;
}

function simulatorFigures(
  ext: ExtensionUnderTest,
  plan: BenchPlan,
  memoryMB: number,
  c: Collected,
  baseline: BaselineSample[],
): Figure[] {
  const figures: Figure[] = [];
  const id = (name: string) => atMemory(name, memoryMB);
  const withTargets = memoryMB >= TARGETS.fromMemoryMB;
  const mem = `${memoryMB.toLocaleString('en-US')} MB`;
  const { inits } = c;
  const baselineInit = spread(baseline.map((b) => b.initBilledMs)).median;
  const baselineMemory = spread(baseline.map((b) => b.maxMemoryUsedMB)).median;
  if (inits.length > 0) {
    const section = `${mem}: init`;
    figures.push(
      makeFigure(
        {
          id: id('init.startToFirstNextMs'),
          section,
          label: 'process start → first /event/next',
          unit: 'ms',
          better: 'lower',
          ...(withTargets && { target: { op: '<=' as const, value: TARGETS.startToFirstNextMs } }),
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
              id: id(`init.${name}.startToFirstNextMs`),
              section,
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
          id: id('init.durationMs'),
          section,
          label: 'init phase (platform.initReport durationMs)',
          unit: 'ms',
          better: 'lower',
        },
        spread(inits.map((s) => s.durationMs)),
      ),
      makeFigure(
        { id: id('init.billedMs'), section, label: 'init phase, billed', unit: 'ms', better: 'lower' },
        spread(inits.map((s) => s.billedMs)),
      ),
    );
    if (baseline.length > 0) {
      figures.push(
        makeFigure(
          {
            id: id('init.baselineDurationMs'),
            section,
            label: 'init phase without the extension',
            unit: 'ms',
            better: 'lower',
            note: 'the same function with no layer, at the same memory setting',
          },
          spread(baseline.map((b) => b.initDurationMs)),
        ),
        makeFigure(
          {
            id: id('init.billedAddedMs'),
            section,
            label: 'added billed init',
            unit: 'ms',
            better: 'lower',
            note: 'billed init phase with the extension minus the median billed init phase of the function alone',
          },
          spread(inits.map((s) => s.billedMs - baselineInit)),
        ),
      );
    }
    figures.push(
      makeFigure(
        {
          id: id('init.cpuMs'),
          section,
          label: 'CPU time until init is over',
          unit: 'ms',
          better: 'lower',
          note: "all threads of the extension's processes (schedstat), launcher included; much steadier than wall time on a busy machine",
        },
        spread(inits.map((s) => s.cpuMs)),
      ),
      makeFigure(
        { id: id('init.rssMb'), section, label: 'RSS after init (VmRSS)', unit: 'MB', better: 'lower' },
        spread(inits.map((s) => s.rssMb)),
      ),
    );
  }

  for (const pattern of plan.patterns) {
    const samples = c.runs.get(pattern.id);
    if (!samples) continue;
    const section = `${mem}: ${pattern.label}, ${pattern.measured} measured invocations${pattern.warmup ? ` after ${pattern.warmup} warm-up` : ''}`;
    const frequent = pattern.id !== 'perMinute';
    const over = (pick: (s: PatternSample) => number) => spread(samples.map(pick));
    const pid = (name: string) => id(`${pattern.id}.${name}`);
    figures.push(
      makeFigure(
        {
          id: pid('postRuntimeP50Ms'),
          section,
          label: 'post-runtime duration p50',
          unit: 'ms',
          better: 'lower',
          ...(frequent &&
            withTargets && { target: { op: '<=' as const, value: TARGETS.postRuntimeP50MsFrequent } }),
        },
        over((s) => s.postRuntimeP50Ms),
      ),
      makeFigure(
        {
          id: pid('postRuntimeP99Ms'),
          section,
          label: 'post-runtime duration p99',
          unit: 'ms',
          better: 'lower',
        },
        over((s) => s.postRuntimeP99Ms),
      ),
      makeFigure(
        {
          id: pid('postRuntimeBilledP50Ms'),
          section,
          label: 'post-runtime, billed p50',
          unit: 'ms',
          better: 'lower',
          note: 'per invocation: ⌈runtime + post-runtime⌉ − ⌈runtime⌉, what the post-runtime time adds to the billed duration',
        },
        over((s) => s.postRuntimeBilledP50Ms),
      ),
      makeFigure(
        {
          id: pid('postRuntimeBilledP99Ms'),
          section,
          label: 'post-runtime, billed p99',
          unit: 'ms',
          better: 'lower',
        },
        over((s) => s.postRuntimeBilledP99Ms),
      ),
      makeFigure(
        {
          id: pid('billedP50Ms'),
          section,
          label: 'billed duration p50',
          unit: 'ms',
          better: 'lower',
          note: 'per warm invocation: ⌈runtime + post-runtime⌉ (1 ms granularity)',
        },
        over((s) => s.billedP50Ms),
      ),
      makeFigure(
        { id: pid('billedP99Ms'), section, label: 'billed duration p99', unit: 'ms', better: 'lower' },
        over((s) => s.billedP99Ms),
      ),
      makeFigure(
        {
          id: pid('runtimeP50Ms'),
          section,
          label: 'function duration p50 (start → response end)',
          unit: 'ms',
          better: 'lower',
        },
        over((s) => s.runtimeP50Ms),
      ),
      makeFigure(
        {
          id: pid('coldPostRuntimeMs'),
          section,
          label: 'post-runtime of the cold invocation',
          unit: 'ms',
          better: 'lower',
        },
        over((s) => s.coldPostRuntimeMs ?? Number.NaN),
      ),
      makeFigure(
        {
          id: pid('coldBilledMs'),
          section,
          label: 'billed duration of the cold invocation',
          unit: 'ms',
          better: 'lower',
          note: 'the cold invocation: ⌈init + runtime + post-runtime⌉',
        },
        over((s) => s.coldBilledMs),
      ),
      makeFigure(
        {
          id: pid('cpuMsPerInvocation'),
          section,
          label: 'extension CPU per invocation',
          unit: 'ms',
          better: 'lower',
          // utime+stime count in clock ticks: a window of few invocations is coarse.
          note: `utime+stime of the extension's processes over the measured invocations, divided by their number; resolution ${formatValue(1000 / clockTicksPerSecond(), 'ms')} per window`,
        },
        over((s) => s.cpuMsPerInvocation),
      ),
      makeFigure(
        {
          id: pid('maxMemoryUsedMb'),
          section,
          label: 'Max Memory Used (platform.report)',
          unit: 'MB',
          better: 'lower',
        },
        over((s) => s.maxMemoryUsedMB),
      ),
    );
    if (baseline.length > 0) {
      figures.push(
        makeFigure(
          {
            id: pid('maxMemoryUsedAddedMb'),
            section,
            label: 'Max Memory Used added',
            unit: 'MB',
            better: 'lower',
            note: "platform.report maxMemoryUsedMB at the end of the pattern minus the function alone's (median)",
          },
          over((s) => s.maxMemoryUsedMB - baselineMemory),
        ),
      );
    }
    figures.push(
      makeFigure(
        {
          id: pid('peakRssMb'),
          section,
          label: 'peak RSS (VmHWM)',
          unit: 'MB',
          better: 'lower',
          ...(pattern.id === 'fiftyPerSecond' &&
            withTargets && { target: { op: '<=' as const, value: TARGETS.peakRssMbAtFiftyPerSecond } }),
        },
        over((s) => s.peakRssMb),
      ),
      makeFigure(
        { id: pid('steadyRssMb'), section, label: 'steady RSS (median VmRSS)', unit: 'MB', better: 'lower' },
        over((s) => s.steadyRssMb),
      ),
      makeFigure(
        {
          id: pid('otlpWireBytesPerInvocation'),
          section,
          label: 'OTLP bytes on the wire per invocation',
          unit: 'bytes',
          better: 'lower',
        },
        over((s) => s.exportWireBytes / s.invocations),
      ),
      makeFigure(
        {
          id: pid('achievedPerSecond'),
          section,
          label: 'invocations achieved',
          unit: '/s',
          better: 'higher',
        },
        over((s) => s.achievedPerSecond),
      ),
    );
  }
  if (c.shutdownMs.length > 0) {
    figures.push(
      makeFigure(
        {
          id: id('shutdown.durationMs'),
          section: `${mem}: shutdown`,
          label: 'SHUTDOWN phase (event → exit)',
          unit: 'ms',
          better: 'lower',
        },
        spread(c.shutdownMs),
      ),
    );
  }
  return figures;
}

async function otherSections(
  ext: ExtensionUnderTest,
  plan: BenchPlan,
  sections: readonly Section[],
  say: (line: string) => void,
  figures: Figure[],
  skipped: BenchResult['skipped'],
): Promise<void> {
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
  }
}

function assemble(
  options: RunOptions,
  subject: Subject,
  plan: BenchPlan,
  createdAt: string,
  loadAverageAtStart: number[],
  started: number,
  figures: Figure[],
  skipped: BenchResult['skipped'],
  notes: string[],
): BenchResult {
  const { ext } = subject;
  const { sections } = options;
  const cpuList = cpus();
  return {
    schema: RESULT_SCHEMA,
    name: subject.name,
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
      sideBySide: options.subjects.map((s) => s.name),
      env: Object.keys({ ...options.env, ...subject.env }),
      otlpSink: `tools/otlp/sink.ts on 127.0.0.1 (no decoding), ${plan.backend.tls ? 'HTTPS' : 'HTTP'}, ${plan.backend.roundTripMs} ms round trip`,
      exporterEnv: ext.isProject ? 'LAMBDA_OTEL_EXPORTER_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT',
    },
    figures,
    skipped,
    notes,
    durationS: (performance.now() - started) / 1000,
  };
}
