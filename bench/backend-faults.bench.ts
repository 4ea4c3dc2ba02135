// A faulty backend against the built layer in the simulator (real freezes between invocations):
// it answers 429 with Retry-After: 1 to half the requests (at random) and the rest after a random
// delay (so some requests are in flight when the environment freezes). The backend records a
// request's spans when it receives it (as a Collector processes what it received even when the
// client has given up), so an abandoned request that is sent again shows as a duplicate.
// Figures: post-runtime per invocation (what the extension adds to billed time), spans lost,
// spans delivered twice. Run:
//   node --import tsx bench/backend-faults.bench.ts [invocations=200] [layer-dir=build/layer]

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type FaultBackendOptions, runFaults } from '../test/support/fault-backend.js';

async function main(): Promise<void> {
  const invocations = Number(process.argv[2] ?? 200);
  const optDir = process.argv[3] ? resolve(process.argv[3]) : undefined;
  const cases: [string, FaultBackendOptions, number | undefined][] = [
    ['healthy', { throttleEvery: 0, maxDelayMs: 0 }, undefined],
    ['429 to half the requests', { throttleEvery: 2, maxDelayMs: 0 }, undefined],
    ['429 to half, answers 0-300 ms late, long freezes', { throttleEvery: 2, maxDelayMs: 300 }, 10],
  ];
  for (const [name, backend, longGapEvery] of cases) {
    const r = await runFaults({
      invocations,
      backend,
      ...(optDir && { optDir }),
      ...(longGapEvery && { longGapEvery }),
    });
    console.log(
      `${name.padEnd(52)} post-runtime mean ${r.postRuntimeMeanMs.toFixed(1)} ms p95 ${r.postRuntimeP95Ms.toFixed(0)} ms; ` +
        `spans ${r.spans}, duplicates ${r.duplicateSpans} (${((100 * r.duplicateSpans) / Math.max(1, r.spans)).toFixed(2)} %), ` +
        `invocation spans lost ${r.lostInvocationSpans} (unsent at exit ${r.unsentItems} items); requests ${r.requests} (${r.throttled} throttled)`,
    );
  }
  console.log(`loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
