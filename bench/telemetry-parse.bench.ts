// Throughput of the Telemetry API push parser, JSON.parse included (what the listener pays per push).
//   node --import tsx bench/telemetry-parse.bench.ts
// Prints records/s for a log-heavy mix (text and JSON log lines, one invocation's platform events
// per 50 lines) in 1000-record pushes, the size Lambda's buffering produces by default, and for
// pushes of platform records only (start, runtimeDone, report with tracing), which the table-driven
// record decoder handles.

import { performance } from 'node:perf_hooks';
import { createExtensionLogger } from '../src/extension-log.js';
import { TelemetryParser } from '../src/lambda/telemetry-parse.js';

const RECORDS_PER_PUSH = 1000;
const PUSHES = 40;
const ROUNDS = 5;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function makePush(seed: number): string {
  const records: unknown[] = [];
  let t = Date.UTC(2024, 4, 1, 10, 0, 0) + seed * 1000;
  for (let i = 0; records.length < RECORDS_PER_PUSH; i++) {
    t += 0.7;
    const requestId = `8f5b1c2e-0000-4000-8000-${String(Math.floor(i / 50)).padStart(12, '0')}`;
    if (i % 50 === 0) {
      records.push({ time: iso(t), type: 'platform.start', record: { requestId, version: '$LATEST' } });
      records.push({
        time: iso(t),
        type: 'platform.runtimeDone',
        record: {
          requestId,
          status: 'success',
          metrics: { durationMs: 20.5, producedBytes: 120 },
          spans: [{ name: 'responseLatency', start: iso(t), durationMs: 1.2 }],
        },
      });
      records.push({
        time: iso(t),
        type: 'platform.report',
        record: {
          requestId,
          status: 'success',
          metrics: { durationMs: 21.5, billedDurationMs: 22, memorySizeMB: 128, maxMemoryUsedMB: 70 },
        },
      });
    } else if (i % 3 === 0) {
      records.push({
        time: iso(t),
        type: 'function',
        record: { timestamp: iso(t), level: 'INFO', requestId, message: `processed item ${i}`, itemId: i },
      });
    } else {
      records.push({
        time: iso(t),
        type: 'function',
        record: `${iso(t)}\t${requestId}\tINFO\tprocessed item ${i}\n`,
      });
    }
  }
  return JSON.stringify(records.slice(0, RECORDS_PER_PUSH));
}

/** Platform records only: start, runtimeDone and report of one invocation after another. */
function makePlatformPush(seed: number): string {
  const records: unknown[] = [];
  let t = Date.UTC(2024, 4, 1, 10, 0, 0) + seed * 1000;
  const tracing = {
    type: 'X-Amzn-Trace-Id',
    value: 'Root=1-6632144c-0123456789abcdef01234567;Parent=1122334455667788;Sampled=1',
  };
  for (let i = 0; records.length < RECORDS_PER_PUSH; i++) {
    t += 0.7;
    const requestId = `8f5b1c2e-0000-4000-8000-${String(i).padStart(12, '0')}`;
    records.push({
      time: iso(t),
      type: 'platform.start',
      record: { requestId, version: '$LATEST', tracing },
    });
    records.push({
      time: iso(t),
      type: 'platform.runtimeDone',
      record: {
        requestId,
        status: 'success',
        metrics: { durationMs: 20.5, producedBytes: 120 },
        spans: [{ name: 'responseLatency', start: iso(t), durationMs: 1.2 }],
        tracing,
      },
    });
    records.push({
      time: iso(t),
      type: 'platform.report',
      record: {
        requestId,
        status: 'success',
        metrics: { durationMs: 21.5, billedDurationMs: 22, memorySizeMB: 128, maxMemoryUsedMB: 70 },
        tracing,
      },
    });
  }
  return JSON.stringify(records.slice(0, RECORDS_PER_PUSH));
}

const pushes = Array.from({ length: PUSHES }, (_, i) => makePush(i));
const platformPushes = Array.from({ length: PUSHES }, (_, i) => makePlatformPush(i));
const bytes = pushes.reduce((n, p) => n + Buffer.byteLength(p), 0);
const parser = new TelemetryParser({ logger: createExtensionLogger({ level: 'error', write: () => {} }) });

// Warm-up so the optimising compiler has seen the hot paths.
for (const p of pushes) parser.parseBody(p);
for (const p of platformPushes) parser.parseBody(p);

function medianRate(run: () => void): { median: number; min: number; max: number } {
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    run();
    rates.push((PUSHES * RECORDS_PER_PUSH) / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return {
    median: rates[Math.floor(ROUNDS / 2)] as number,
    min: rates[0] as number,
    max: rates[ROUNDS - 1] as number,
  };
}

let sink = 0;
// JSON.parse alone: the floor no parser of this wire format can go below.
const floor = medianRate(() => {
  for (const p of pushes) sink += (JSON.parse(p) as unknown[]).length;
});
const full = medianRate(() => {
  for (const p of pushes) sink += parser.parseBody(p).length;
});
const platform = medianRate(() => {
  for (const p of platformPushes) sink += parser.parseBody(p).length;
});
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const malformed = Object.values(parser.stats.malformed).reduce((a, b) => a + b, 0);
console.log(
  `telemetry-parse: ${fmt(full.median)} records/s (median of ${ROUNDS} rounds of ${PUSHES} x ${RECORDS_PER_PUSH}; ` +
    `min ${fmt(full.min)}, max ${fmt(full.max)}; ${((full.median * bytes) / (PUSHES * RECORDS_PER_PUSH) / 1048576).toFixed(0)} MiB/s)`,
);
console.log(
  `platform records only: ${fmt(platform.median)} records/s (min ${fmt(platform.min)}, max ${fmt(platform.max)})`,
);
console.log(`JSON.parse alone: ${fmt(floor.median)} records/s; ${malformed} malformed, checksum ${sink}`);
