// Where the built layer's CPU goes per invocation when invocations are rare: one environment in the
// Lambda simulator (cgroup resource model, real freezing, HTTPS sink 30 ms away), invocations spaced
// by real frozen idle, the extension profiled with --cpu-prof. The profile is cut into the bursts of
// work between freezes (the sampler stops with the process); init and the cold invocation are left out,
// and the rest is summed by source function (mapped through the bundle's source map) and by module.
//   node --import tsx bench/cold-path.bench.ts [--interval-ms 3000] [--invocations 6] [--memory 1769]
//                    [--no-profile] [--top 40] [--per-burst] [--plain-http] [--node-options=FLAGS]
//                    [--analyse FILE.cpuprofile]
// --no-profile measures CPU per invocation (schedstat of the extension's processes) without the
// profiler's own cost. The flush manager runs with flush.max_staleness_ms=1000, so it decides as at
// one invocation a minute (flush before /event/next) even with the minute compressed to seconds.

import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/support/e2e-harness.js';
import { REALISTIC_BACKEND_RTT_MS } from '../tools/otlp/backend-distance.js';
import { runPattern } from './harness/environments.js';
import { resolveExtension } from './harness/extension-under-test.js';

const { values } = parseArgs({
  options: {
    'interval-ms': { type: 'string', default: '3000' },
    invocations: { type: 'string', default: '6' },
    memory: { type: 'string', default: '1769' },
    'no-profile': { type: 'boolean', default: false },
    top: { type: 'string', default: '40' },
    /** Summarise a profile this script kept earlier instead of running. */
    analyse: { type: 'string' },
    'per-burst': { type: 'boolean', default: false },
    'plain-http': { type: 'boolean', default: false },
    echo: { type: 'boolean', default: false },
    'max-staleness-ms': { type: 'string', default: '1000' },
    /** Extra flags for the extension's Node (LAMBDA_OTEL_NODE_OPTIONS). */
    'node-options': { type: 'string', default: '' },
  },
});
const intervalMs = Number(values['interval-ms']);
const measured = Number(values.invocations);
const profile = !values['no-profile'];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const analyse = values.analyse;
if (analyse) {
  summarise(JSON.parse(readFileSync(analyse, 'utf8')) as CpuProfile, Number(values.top));
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'cold-path-prof-'));
try {
  const sample = await runPattern(
    {
      ext: resolveExtension(undefined),
      memoryMB: Number(values.memory),
      unthrottled: false,
      backend: { roundTripMs: REALISTIC_BACKEND_RTT_MS, tls: !values['plain-http'] },
      handler: 'logs.mjs',
      payload: { lines: 4, size: 120 },
      env: {},
      echo: values.echo === true,
    },
    {
      id: 'perMinute',
      label: 'spaced',
      intervalMs,
      warmup: 1,
      measured,
      projectEnv: {
        LAMBDA_OTEL_FLUSH_MAX_STALENESS_MS: values['max-staleness-ms'],
        LAMBDA_OTEL_NODE_OPTIONS: [
          values['node-options'],
          profile ? `--cpu-prof --cpu-prof-interval=200 --cpu-prof-dir=${dir}` : '',
        ].join(' '),
      },
    },
  );
  console.log(
    `${measured} invocations ${intervalMs} ms apart: extension CPU ${sample.cpuPreciseMsPerInvocation.toFixed(2)} ms per invocation` +
      ` (schedstat${profile ? ', profiler on' : ''}; ${sample.cpuMsPerInvocation.toFixed(1)} ms in clock ticks), post-runtime p50 ${sample.postRuntimeP50Ms.toFixed(1)} ms,` +
      ` init CPU ${sample.init.cpuMs.toFixed(1)} ms, start → first next ${sample.init.startToFirstNextMs.toFixed(1)} ms,` +
      ` ${sample.exportRequests} export requests; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
  );
  if (profile) {
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no CPU profile written');
    const keep = join(tmpdir(), `otel-lambda-extension-cold-path-${Date.now()}.cpuprofile`);
    copyFileSync(join(dir, file), keep);
    console.log(`profile: ${keep} (open in Chrome DevTools)`);
    summarise(JSON.parse(readFileSync(keep, 'utf8')) as CpuProfile, Number(values.top));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function summarise(p: CpuProfile, top: number): void {
  // Each bundle file (index.mjs and the lazily imported chunks) has its own source map.
  const maps = new Map<string, SourceMap | undefined>();
  const mapFor = (url: string): SourceMap | undefined => {
    const name = url.slice(url.lastIndexOf('/') + 1);
    if (!maps.has(name)) {
      const file = join(REPO_ROOT, 'build/otel-lambda-extension', `${name}.map`);
      maps.set(name, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : undefined);
    }
    return maps.get(name);
  };
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  // Bursts: runs of samples with no gap over 300 ms (a freeze stops the sampler too).
  const bursts: { samples: number[]; us: number }[] = [];
  let current: { samples: number[]; us: number } | undefined;
  for (let i = 0; i < p.samples.length; i++) {
    const delta = p.timeDeltas[i] ?? 0;
    if (!current || delta > 300_000) {
      current = { samples: [], us: 0 };
      bursts.push(current);
    }
    current.samples.push(i);
  }
  const describe = (id: number): string => {
    const frame = byNode.get(id)?.callFrame;
    if (!frame || frame.url === '') return `(${frame?.functionName || 'native'})`;
    const map = frame.url.endsWith('.mjs') ? mapFor(frame.url) : undefined;
    if (map) {
      const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
        originalSource?: string;
        originalLine?: number;
        name?: string;
      };
      const source = (entry.originalSource ?? 'bundle').replace(/^.*?(src\/|node_modules\/)/, '$1');
      return `${frame.functionName || '(anon)'} ${source}:${(entry.originalLine ?? 0) + 1}`;
    }
    return `${frame.functionName || '(anon)'} ${frame.url}`;
  };
  // A sample stands for the time until the next one, unless a freeze lies between them.
  const sampleUs = (i: number) => {
    const next = p.timeDeltas[i + 1] ?? 0;
    return next > 300_000 ? 200 : next;
  };
  const busyMs = (b: { samples: number[] }) => {
    let us = 0;
    for (const i of b.samples) {
      const fn = byNode.get(p.samples[i] as number)?.callFrame.functionName;
      if (fn !== '(idle)') us += sampleUs(i);
    }
    return us / 1000;
  };
  console.log(`bursts (busy ms): ${bursts.map((b) => busyMs(b).toFixed(1)).join(' · ')}`);
  // Init + cold invocation + warm-up go first; the last burst holds SHUTDOWN.
  const measuredBursts = bursts.slice(-measured - 1, -1);
  const totals = new Map<string, number>();
  let sum = 0;
  for (const [n, b] of measuredBursts.entries()) {
    if (!values['per-burst']) break;
    const own = new Map<string, number>();
    for (const i of b.samples) {
      const id = p.samples[i] as number;
      if (byNode.get(id)?.callFrame.functionName === '(idle)') continue;
      own.set(describe(id), (own.get(describe(id)) ?? 0) + sampleUs(i));
    }
    console.log(`burst ${n + 1}: ${busyMs(b).toFixed(1)} ms`);
    for (const [where, us] of [...own].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`    ${(us / 1000).toFixed(2).padStart(6)} ms  ${where}`);
  }
  for (const b of measuredBursts) {
    for (const i of b.samples) {
      const id = p.samples[i] as number;
      if (byNode.get(id)?.callFrame.functionName === '(idle)') continue;
      const us = sampleUs(i);
      sum += us;
      const where = describe(id);
      totals.set(where, (totals.get(where) ?? 0) + us);
    }
  }
  console.log(
    `\nprofiled self time per measured invocation: ${(sum / 1000 / measuredBursts.length).toFixed(2)} ms (${measuredBursts.length} bursts)`,
  );
  for (const [where, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${(us / 1000 / measuredBursts.length).toFixed(2).padStart(6)} ms  ${where}`);
  }
}
