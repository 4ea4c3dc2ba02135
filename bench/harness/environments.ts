// Runs the extension under test inside the Lambda simulator, one fresh execution environment at a
// time under the simulator's resource model at a given memory setting, and reads what each one cost:
// init (process start → first /event/next, the whole init phase, what Lambda bills for it), memory
// and CPU of the extension's processes, post-runtime time and billed duration per invocation for an
// arrival pattern, Max Memory Used, the SHUTDOWN phase, and what reached the local OTLP sink.

import { join } from 'node:path';
import { FUNCTIONS_DIR, freeLoopbackPort } from '../../test/support/e2e-harness.js';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { LambdaSimulator, type ResourceInfo } from '../../tools/simulator/index.js';
import type { InitResult, SimulatorOptions } from '../../tools/simulator/types.js';
import { billedMs, invocationBill } from './billing.js';
import { type ExtensionUnderTest, extensionEnv } from './extension-under-test.js';
import { processTree, type TreeMemory, treeCpuMs, treeCpuPreciseMs, treeMemory } from './process-tree.js';
import { percentile } from './stats.js';

export type PatternId = 'perMinute' | 'perSecond' | 'fiftyPerSecond';

export interface PatternSpec {
  id: PatternId;
  label: string;
  /** Time between invocation starts; the environment is frozen for whatever the invocation leaves. */
  intervalMs: number;
  /** Invocations after the cold one that are run but not measured (the flush strategy learns the pace). */
  warmup: number;
  measured: number;
  /** Environment for this project's extension only (see the per-minute pattern). */
  projectEnv?: Record<string, string>;
  /** Said next to the figures. */
  note?: string;
}

export interface EnvironmentSetup {
  ext: ExtensionUnderTest;
  /** The function's memory setting, MB: the resource model gives CPU and a memory limit from it. */
  memoryMB: number;
  /** No CPU quota (the memory limit still applies): --unthrottled. */
  unthrottled: boolean;
  /** The sink's distance (round trip, ms) and whether it serves HTTPS. */
  backend: { roundTripMs: number; tls: boolean };
  handler: string;
  payload: unknown;
  /**
   * --env: given to the extension and the function alike, as on Lambda. A value `{freePort}` becomes
   * a free loopback port, a new one for each environment.
   */
  env: Record<string, string>;
  echo: boolean;
}

export interface InitSample {
  /** Slowest extension's process start → first /event/next (the one that holds the init phase). */
  startToFirstNextMs: number;
  /** Each extension's own, by name. */
  perExtension: Record<string, number>;
  /** The init phase as platform.initReport reports it (extensions and function). */
  durationMs: number;
  /** The init phase as billed: billedMs(durationMs). */
  billedMs: number;
  /** How the simulator applied the resource model to this environment. */
  resources: ResourceInfo | undefined;
  /** VmRSS of the extension's processes once init is over (frozen), MB. */
  rssMb: number;
  /**
   * CPU time the extension's processes used from their start to the end of init (they are frozen
   * then). Unlike the wall-clock figures it hardly moves with the machine's load.
   */
  cpuMs: number;
}

export interface PatternSample {
  init: InitSample;
  coldPostRuntimeMs: number | undefined;
  /** Billed duration of the cold invocation: billedMs(init + duration + post-runtime). */
  coldBilledMs: number;
  postRuntimeMs: number[];
  postRuntimeP50Ms: number;
  postRuntimeP99Ms: number;
  /** Per measured invocation: what the post-runtime time added to the billed duration. */
  postRuntimeBilledP50Ms: number;
  postRuntimeBilledP99Ms: number;
  /** Per measured invocation: billedMs(duration + post-runtime). */
  billedP50Ms: number;
  billedP99Ms: number;
  /** Per measured invocation: invocation start → response end (the function's own part). */
  runtimeP50Ms: number;
  cpuMsPerInvocation: number;
  /**
   * The same window from the live threads' schedstat (ns resolution; threads that exited inside the
   * window are missed): what short windows such as a few rare invocations need.
   */
  cpuPreciseMsPerInvocation: number;
  /** The last platform.report's maxMemoryUsedMB (environment peak so far), MB. */
  maxMemoryUsedMB: number;
  /** Sum of the processes' VmHWM at the end of the pattern, MB. */
  peakRssMb: number;
  /** Median VmRSS over the measured invocations, MB. */
  steadyRssMb: number;
  /** Invocation starts per second actually achieved. */
  achievedPerSecond: number;
  failedInvocations: number;
  /** Frozen idle in total, ms (the real time the pattern's gaps took). */
  frozenIdleMs: number;
  shutdownMs: number;
  /** Requests and wire bytes the sink received over the environment's life (SHUTDOWN included). */
  exportRequests: number;
  exportWireBytes: number;
  invocations: number;
}

const MB = 1024;

function mb(kb: number): number {
  return kb / MB;
}

/** `{freePort}` values replaced by a free loopback port each (for extensions with fixed ports). */
async function withFreePorts(env: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    out[k] = v === '{freePort}' ? String(await freeLoopbackPort()) : v;
  return out;
}

/**
 * The simulator options that put an environment under Lambda's resource model at `memoryMB`: a
 * cgroup of its own with CPU = memoryMB / 1,769 of one CPU, the memory limit, the freezer. Where no
 * cgroup can be made the simulator runs without limits and says so (see `describeResources`).
 */
export function resourceOptions(setup: EnvironmentSetup): Partial<SimulatorOptions> {
  return { memorySizeMB: setup.memoryMB, unthrottled: setup.unthrottled, resourceControl: 'auto' };
}

/** One line on how the model was applied, e.g. "cgroup-v1: 0.072 of one CPU, 128 MB limit, freezer cgroup". */
export function describeResources(info: ResourceInfo | undefined): string {
  if (!info) return 'unknown (the simulator did not say)';
  const cpu = info.cpuShare === null ? 'no CPU quota' : `${info.cpuShare.toFixed(3)} of one CPU`;
  const memory = info.memoryLimitMB === null ? 'no memory limit' : `${info.memoryLimitMB} MB limit`;
  const freezer = info.freezer === 'cgroup' ? 'freezer cgroup' : 'SIGSTOP freezing';
  return `${info.mechanism}: ${cpu}, ${memory}, ${freezer}${info.reason ? ` (${info.reason})` : ''}`;
}

function describeInitFailure(init: InitResult, sim: LambdaSimulator): string {
  const lines = sim.extensionLogs.slice(-10).map((l) => `  ${l.name}: ${l.line}`);
  return (
    `init ${init.status}${init.errorType ? ` (${init.errorType})` : ''}` +
    (lines.length > 0
      ? `; last extension lines:\n${lines.join('\n')}`
      : '; run with --echo to see the processes')
  );
}

interface Environment {
  sim: LambdaSimulator;
  init: InitSample;
  /** Pids of every extension process tree, refreshed on demand. */
  tree(): number[];
  finish(): Promise<{ shutdownMs: number; exportRequests: number; exportWireBytes: number }>;
  close(): Promise<void>;
}

async function openEnvironment(
  setup: EnvironmentSetup,
  patternEnv: Record<string, string>,
): Promise<Environment> {
  const sink = await startOtlpSink({
    decode: false,
    roundTripMs: setup.backend.roundTripMs,
    tls: setup.backend.tls,
  });
  const receiverPort = await freeLoopbackPort();
  const sim = new LambdaSimulator({
    optDir: setup.ext.optDir,
    handler: setup.handler.includes('/') ? setup.handler : join(FUNCTIONS_DIR, setup.handler),
    functionName: 'bench-fn',
    ...resourceOptions(setup),
    timeoutMs: 10_000,
    initTimeoutMs: 10_000,
    keepHistory: setup.echo,
    echo: setup.echo,
    env: {
      ...extensionEnv(setup.ext, sink.url, receiverPort, await withFreePorts(setup.env), sink.caFile),
      ...patternEnv,
    },
  });
  const close = async () => {
    await sim.close();
    await sink.close();
  };
  try {
    const init = await sim.start();
    if (init.status !== 'success') throw new Error(describeInitFailure(init, sim));
    const roots = init.extensions.map((e) => e.pid).filter((p): p is number => p !== undefined);
    // Scanning /proc for the tree costs the driver a few ms: done at most once a second.
    let pids: number[] = [];
    let scannedAt = Number.NEGATIVE_INFINITY;
    const tree = () => {
      if (performance.now() - scannedAt >= 1_000) {
        pids = [...new Set(roots.flatMap((root) => processTree(root)))];
        scannedAt = performance.now();
      }
      return pids;
    };
    const perExtension: Record<string, number> = {};
    for (const e of init.extensions) perExtension[e.name] = e.startToFirstNextMs ?? Number.NaN;
    const sample: InitSample = {
      startToFirstNextMs: Math.max(...Object.values(perExtension)),
      perExtension,
      durationMs: init.durationMs,
      billedMs: billedMs(init.durationMs),
      resources: sim.resources,
      rssMb: mb(treeMemory(tree()).rssKb),
      cpuMs: treeCpuPreciseMs(tree()),
    };
    return {
      sim,
      init: sample,
      tree,
      async finish() {
        const down = await sim.shutdown();
        return {
          shutdownMs: down.endedAtMs - down.startedAtMs,
          exportRequests: sink.requests.length,
          exportWireBytes: sink.requests.reduce((n, r) => n + r.wireBytes, 0),
        };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One cold start and SHUTDOWN, nothing in between. */
export async function measureInit(setup: EnvironmentSetup): Promise<InitSample> {
  const env = await openEnvironment(setup, {});
  try {
    await env.finish();
    return env.init;
  } finally {
    await env.close();
  }
}

export interface BaselineSample {
  /** The function's init phase alone, ms, and as billed. */
  initDurationMs: number;
  initBilledMs: number;
  /** Max Memory Used of the function alone after its invocations, MB. */
  maxMemoryUsedMB: number;
  /** Median billed duration of its warm invocations, ms. */
  billedP50Ms: number;
}

/**
 * The function alone (no extension) at the same memory setting: a cold start and `invocations`
 * invocations, 100 ms apart. What the extension's init and memory figures are taken against.
 */
export async function measureBaseline(setup: EnvironmentSetup, invocations: number): Promise<BaselineSample> {
  const sim = new LambdaSimulator({
    handler: setup.handler.includes('/') ? setup.handler : join(FUNCTIONS_DIR, setup.handler),
    functionName: 'bench-fn',
    ...resourceOptions(setup),
    timeoutMs: 10_000,
    initTimeoutMs: 10_000,
    keepHistory: false,
    echo: setup.echo,
  });
  try {
    const init = await sim.start();
    if (init.status !== 'success')
      throw new Error(`function-only init ${init.status} ${init.errorType ?? ''}`);
    let maxMemoryUsedMB = 0;
    const billed: number[] = [];
    for (let i = 0; i < Math.max(1, invocations); i++) {
      if (i > 0) await sim.idle(100);
      const result = await sim.invoke(setup.payload);
      if (result.status !== 'success')
        throw new Error(`function-only invocation ${result.status} ${result.errorType ?? ''}`);
      maxMemoryUsedMB = Math.max(maxMemoryUsedMB, result.maxMemoryUsedMB ?? 0);
      if (i > 0) billed.push(invocationBill(result).billedMs);
    }
    return {
      initDurationMs: init.durationMs,
      initBilledMs: billedMs(init.durationMs),
      maxMemoryUsedMB,
      billedP50Ms: billed.length > 0 ? percentile(billed, 50) : Number.NaN,
    };
  } finally {
    await sim.close();
  }
}

/**
 * A fresh environment: cold start, one cold invocation, `warmup` invocations, then `measured` ones at
 * the pattern's pace, each followed by frozen idle up to the next start; then SHUTDOWN.
 */
export async function runPattern(setup: EnvironmentSetup, pattern: PatternSpec): Promise<PatternSample> {
  const env = await openEnvironment(setup, setup.ext.isProject ? (pattern.projectEnv ?? {}) : {});
  const { sim } = env;
  try {
    let failed = 0;
    let frozenIdleMs = 0;
    const postRuntime: number[] = [];
    const postRuntimeBilled: number[] = [];
    const billed: number[] = [];
    const runtime: number[] = [];
    let coldBilledMs = Number.NaN;
    let maxMemoryUsedMB = 0;
    const rssSamples: number[] = [];
    let peakKb = 0;
    let cpuStartMs = 0;
    let cpuPreciseStartMs = 0;
    let firstStart = 0;
    let lastStart = 0;
    let coldPostRuntimeMs: number | undefined;
    const total = 1 + pattern.warmup + pattern.measured;
    // Reading /proc costs the driver a little; at 50/s memory is sampled every few invocations.
    const sampleEvery = pattern.intervalMs >= 200 ? 1 : 5;
    const memory = (): TreeMemory => {
      const m = treeMemory(env.tree());
      peakKb = Math.max(peakKb, m.peakKb);
      return m;
    };
    for (let i = 0; i < total; i++) {
      const measuredIndex = i - 1 - pattern.warmup;
      const startedAt = performance.now();
      if (measuredIndex === 0) firstStart = startedAt;
      lastStart = startedAt;
      const result = await sim.invoke(setup.payload);
      if (result.status !== 'success') failed++;
      maxMemoryUsedMB = Math.max(maxMemoryUsedMB, result.maxMemoryUsedMB ?? 0);
      if (i === 0) {
        coldPostRuntimeMs = result.postRuntimeExtensionsDurationMs;
        coldBilledMs = invocationBill(result, env.init.durationMs).billedMs;
      }
      if (measuredIndex >= 0) {
        if (result.postRuntimeExtensionsDurationMs !== undefined)
          postRuntime.push(result.postRuntimeExtensionsDurationMs);
        if (result.status === 'success') {
          const bill = invocationBill(result);
          billed.push(bill.billedMs);
          postRuntimeBilled.push(bill.postRuntimeBilledMs);
          runtime.push(bill.runtimeMs);
        }
        if (measuredIndex % sampleEvery === 0 || measuredIndex === pattern.measured - 1)
          rssSamples.push(memory().rssKb);
      }
      // The CPU window opens once the warm-up is over (the environment is frozen here).
      if (measuredIndex === -1) {
        cpuStartMs = treeCpuMs(env.tree());
        cpuPreciseStartMs = treeCpuPreciseMs(env.tree());
      }
      if (i === total - 1) break;
      const left = pattern.intervalMs - (performance.now() - startedAt);
      if (left > 0) {
        await sim.idle(left);
        frozenIdleMs += left;
      }
    }
    const cpuMs = treeCpuMs(env.tree()) - cpuStartMs;
    const cpuPreciseMs = treeCpuPreciseMs(env.tree()) - cpuPreciseStartMs;
    memory();
    const down = await env.finish();
    const measuredSpanS = (lastStart - firstStart) / 1000;
    return {
      init: env.init,
      coldPostRuntimeMs,
      coldBilledMs,
      postRuntimeMs: postRuntime,
      postRuntimeP50Ms: percentile(postRuntime, 50),
      postRuntimeP99Ms: percentile(postRuntime, 99),
      postRuntimeBilledP50Ms: percentile(postRuntimeBilled, 50),
      postRuntimeBilledP99Ms: percentile(postRuntimeBilled, 99),
      billedP50Ms: percentile(billed, 50),
      billedP99Ms: percentile(billed, 99),
      runtimeP50Ms: percentile(runtime, 50),
      cpuMsPerInvocation: cpuMs / pattern.measured,
      cpuPreciseMsPerInvocation: cpuPreciseMs / pattern.measured,
      maxMemoryUsedMB,
      peakRssMb: mb(peakKb),
      steadyRssMb: mb(percentile(rssSamples, 50)),
      achievedPerSecond: measuredSpanS > 0 ? (pattern.measured - 1) / measuredSpanS : Number.NaN,
      failedInvocations: failed,
      frozenIdleMs,
      shutdownMs: down.shutdownMs,
      exportRequests: down.exportRequests,
      exportWireBytes: down.exportWireBytes,
      invocations: total,
    };
  } finally {
    await env.close();
  }
}
