// CPU per invocation of the built layer, split by thread: the extension's main thread, the JIT
// compiler threads, the garbage collector's helpers, the HTTP client thread and the rest. Per-thread
// schedstat gives nanoseconds, so a few invocations are enough to see where the milliseconds go (the
// pattern benchmarks in bench/run.ts count 10 ms clock ticks for the whole process tree).
//
// Configurations run interleaved, round after round, each in a fresh environment whose files were
// dropped from the page cache; the table gives the median over rounds of the mean per invocation.
//   node --import tsx bench/invocation-threads.bench.ts [--rounds 3] [--invocations 20] [--gap-ms 1000]
//     [--layer build/layer] [--config 'label:K=V,K=V' ...]
// --config adds the environment K=V to the extension and the function (e.g. JavaScriptCore options
// as BUN_JSC_<option>=<value>); without it one configuration runs: the layer as built. Unthrottled:
// CPU time is what is measured, not how long it takes at a CPU share.

import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureLayer, extensionEnvironment, REPO_ROOT } from '../test/support/e2e-harness.js';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { dropFromPageCache } from './harness/page-cache.js';
import { processTree, treeThreadsCpu } from './harness/process-tree.js';
import { spread } from './harness/stats.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    invocations: { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '1000' },
    layer: { type: 'string' },
    config: { type: 'string', multiple: true },
  },
});
const rounds = Number(values.rounds);
const invocations = Number(values.invocations);
const gapMs = Number(values['gap-ms']);
const optDir = values.layer === undefined ? ensureLayer() : resolve(REPO_ROOT, values.layer);

interface Config {
  label: string;
  env: Record<string, string>;
}

function parseConfig(text: string): Config {
  const colon = text.indexOf(':');
  const label = colon < 0 ? text : text.slice(0, colon);
  const env: Record<string, string> = {};
  for (const pair of colon < 0 ? [] : text.slice(colon + 1).split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--config ${text}: "${pair}" is not K=V`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { label, env };
}

const configs = (values.config ?? ['as built']).map(parseConfig);

const CLASSES = ['main', 'jit', 'gc', 'http-client', 'other'] as const;
type ThreadClass = (typeof CLASSES)[number];

function classOf(pid: number, tid: number, comm: string): ThreadClass {
  if (pid === tid) return 'main';
  if (comm.startsWith('JIT')) return 'jit';
  if (comm.startsWith('HeapHelper') || comm.includes('GC')) return 'gc';
  if (comm.startsWith('HTTP Client')) return 'http-client';
  return 'other';
}

/** CPU ms so far per thread class, summed over the extension's process tree. */
function threadCpu(rootPid: number): Record<ThreadClass, number> {
  const threads = treeThreadsCpu(processTree(rootPid));
  if (threads === undefined) throw new Error('no per-thread CPU here (/proc/<pid>/task/<tid>/schedstat)');
  const out = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<ThreadClass, number>;
  for (const t of threads) {
    // The launcher shell's own thread is not the extension's main thread.
    const shell = t.comm === 'sh' || t.comm === 'bash' || t.comm === 'dash';
    out[shell ? 'other' : classOf(t.pid, t.tid, t.comm)] += t.ms;
  }
  return out;
}

const sink = await startOtlpSink({});
const perConfig = new Map<string, Record<ThreadClass | 'total', number[]>>();
for (const c of configs)
  perConfig.set(c.label, Object.fromEntries([...CLASSES, 'total'].map((k) => [k, []])) as never);

for (let round = 0; round < rounds; round++) {
  for (const config of configs) {
    dropFromPageCache([optDir]);
    const { sim } = await extensionEnvironment({
      handler: 'logs.mjs',
      endpoint: sink.url,
      logLevel: 'warn',
      keepHistory: false,
      optDir,
      env: config.env,
    });
    try {
      const init = await sim.start();
      if (init.status !== 'success') throw new Error(`${config.label}: init ${init.status}`);
      const rootPid = Object.values(sim.pids().extensions)[0];
      if (rootPid === undefined) throw new Error(`${config.label}: no extension process`);
      const before = threadCpu(rootPid);
      for (let i = 0; i < invocations; i++) {
        await sim.idle(gapMs);
        const res = await sim.invoke({ lines: 4, size: 120 });
        if (res.status !== 'success') throw new Error(`${config.label}: invocation ${res.status}`);
      }
      // What the last invocation set off (its flush) is over well within this.
      await sim.idle(200);
      const after = threadCpu(rootPid);
      const rows = perConfig.get(config.label) as Record<ThreadClass | 'total', number[]>;
      let total = 0;
      for (const cls of CLASSES) {
        const perInvocation = (after[cls] - before[cls]) / invocations;
        rows[cls].push(perInvocation);
        total += perInvocation;
      }
      rows.total.push(total);
    } finally {
      await sim.shutdown();
      await sim.close();
    }
  }
}
await sink.close();

console.log(
  `CPU ms per invocation (median of ${rounds} rounds; ${invocations} invocations ${gapMs} ms apart, ` +
    `logs.mjs, unthrottled; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
);
console.log(['configuration'.padEnd(28), ...[...CLASSES, 'total'].map((c) => c.padStart(12))].join(''));
for (const [label, rows] of perConfig) {
  const cells = [...CLASSES, 'total' as const].map((c) => spread(rows[c]).median.toFixed(2).padStart(12));
  console.log([label.padEnd(28), ...cells].join(''));
}
process.exit(0);
