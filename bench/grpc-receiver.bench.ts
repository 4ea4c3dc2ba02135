// What the OTLP/gRPC receiver costs the extension: CPU time (all threads, schedstat) at the end of
// init and after the first invocation, and init's start → first /event/next, with the gRPC
// transport on (the default) and off, alternating runs in fresh simulated environments.
//   node --import tsx bench/grpc-receiver.bench.ts [runs=8]

import { extensionEnvironment } from '../test/support/e2e-harness.js';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { processTree, treeCpuPreciseMs } from './harness/process-tree.js';

const runs = Number(process.argv[2] ?? 8);
const EXTENSION = 'otel-lambda-extension';

interface Sample {
  initCpuMs: number;
  afterFirstInvokeCpuMs: number;
  startToFirstNextMs: number;
}

async function once(sinkUrl: string, grpc: boolean): Promise<Sample> {
  const { sim } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sinkUrl,
    logLevel: 'warn',
    keepHistory: false,
    env: { LAMBDA_OTEL_RECEIVER_GRPC_ENABLED: String(grpc) },
  });
  try {
    const init = await sim.start();
    if (init.status !== 'success') throw new Error(`init ${init.status}`);
    const ext = init.extensions.find((e) => e.name === EXTENSION);
    const pid = ext?.pid;
    if (pid === undefined || ext?.startToFirstNextMs === undefined) throw new Error('no extension pid');
    const initCpuMs = treeCpuPreciseMs(processTree(pid));
    const res = await sim.invoke({ n: 1 });
    if (res.status !== 'success') throw new Error(`invoke ${res.status}`);
    const afterFirstInvokeCpuMs = treeCpuPreciseMs(processTree(pid));
    await sim.shutdown();
    return { initCpuMs, afterFirstInvokeCpuMs, startToFirstNextMs: ext.startToFirstNextMs };
  } finally {
    await sim.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const sink = await startOtlpSink();
const samples: Record<'on' | 'off', Sample[]> = { on: [], off: [] };
try {
  for (let i = 0; i < runs; i++) {
    samples.off.push(await once(sink.url, false));
    samples.on.push(await once(sink.url, true));
  }
} finally {
  await sink.close();
}
for (const key of ['off', 'on'] as const) {
  const s = samples[key];
  console.log(
    `gRPC receiver ${key.padEnd(3)}: init CPU ${median(s.map((x) => x.initCpuMs)).toFixed(1)} ms, ` +
      `CPU after first invocation ${median(s.map((x) => x.afterFirstInvokeCpuMs)).toFixed(1)} ms, ` +
      `start→first next ${median(s.map((x) => x.startToFirstNextMs)).toFixed(1)} ms (medians of ${s.length})`,
  );
}
console.log(`load average: ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`);
