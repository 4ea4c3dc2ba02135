// What the HTTPS connections of one rare flush cost the extension's CPU: three requests (one per
// signal) to a local HTTPS sink, after the idle connections were closed (as after a long freeze), in
// three shapes: one new connection per signal at once (what the exporter does), the three requests in
// turn over one new connection, and the three over connections kept from the previous flush. The
// client runs in a child process (the certificate is trusted through NODE_EXTRA_CA_CERTS, read at
// process start); CPU is the child's own, per flush, after five unmeasured flushes.
//   node --import tsx bench/flush-connections.bench.ts [flushes=20] [rounds=3]

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startOtlpSink } from '../tools/otlp/sink.js';

const REPO_ROOT = join(import.meta.dirname, '..');
const flushes = Number(process.argv[2] ?? 20);
const rounds = Number(process.argv[3] ?? 3);
const SHAPES = ['parallel', 'sequential', 'reuse'] as const;

function client(mode: (typeof SHAPES)[number]): string {
  return `
import { HttpConnectionPool } from ${JSON.stringify(join(REPO_ROOT, 'src/platform/node/export-client.ts'))};
const pool = new HttpConnectionPool({ userAgent: 'otel-lambda-extension-test', thawLateMs: 1000, thawGraceMs: 500 });
const post = (signal) => pool.post({ url: new URL(process.env.SINK_URL + '/v1/' + signal), headers: {},
  body: Buffer.alloc(300), timeoutMs: 5000, signal: new AbortController().signal });
const signals = ['traces', 'metrics', 'logs'];
let cpu;
for (let flush = 0; flush < 5 + ${flushes}; flush++) {
  if (flush === 5) cpu = process.cpuUsage();
  if (${JSON.stringify(mode)} === 'sequential') for (const s of signals) await post(s);
  else await Promise.all(signals.map(post));
  if (${JSON.stringify(mode)} !== 'reuse') pool.closeIdleConnections();
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const used = process.cpuUsage(cpu);
process.stdout.write(String((used.user + used.system) / ${flushes} / 1000));
pool.destroy();`;
}

const sink = await startOtlpSink({ tls: true, decode: false });
try {
  const results: Record<string, number[]> = { parallel: [], sequential: [], reuse: [] };
  for (let r = 0; r < rounds; r++) {
    for (const shape of SHAPES) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', client(shape)], {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_EXTRA_CA_CERTS: sink.caFile, SINK_URL: sink.url },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise((resolve) => child.on('exit', resolve));
      if (code !== 0) throw new Error(`${shape}: ${err}`);
      results[shape]?.push(Number(out));
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1] as number;
  console.log(`CPU per flush of 3 HTTPS requests, median of ${rounds} runs × ${flushes} flushes:`);
  console.log(`  one new connection per signal, at once   ${median(results.parallel ?? []).toFixed(2)} ms`);
  console.log(`  one new connection, requests in turn     ${median(results.sequential ?? []).toFixed(2)} ms`);
  console.log(`  connections kept from the last flush     ${median(results.reuse ?? []).toFixed(2)} ms`);
  console.log(`load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  await sink.close();
}
