// A faulty OTLP/HTTP backend and a run of the built layer in the simulator against it (real freezes
// between invocations): it answers 429 with Retry-After: 1 to a share of the requests (at random)
// and the rest after a random delay (so some requests are in flight when the environment freezes).
// The backend records a request's spans when it receives it (as a Collector processes what it
// received even when the client has given up), so an abandoned request that is sent again shows as
// a duplicate. Used by the throttling end-to-end test and by bench/backend-faults.bench.ts.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { allSpans, attrs, type TracesRequest } from '../../tools/otlp/decode.js';
import { decodeBody } from '../../tools/otlp/sink.js';
import { extensionEnvironment } from './e2e-harness.js';

export interface FaultBackendOptions {
  /** Answer 429 (Retry-After: 1) to one request in `throttleEvery`, at random; 0 = never. */
  throttleEvery: number;
  /** Successful answers come after a random delay up to this (ms). */
  maxDelayMs: number;
}

export interface FaultBackend {
  url: string;
  /** Span ids received in requests that were (or were going to be) answered 200. */
  spans: Map<string, number>;
  /** Invocation ids of platform invocation spans received. */
  invocations: Set<string>;
  requests: number;
  throttled: number;
  close(): Promise<void>;
}

/** Deterministic pseudo-random numbers (runs are comparable). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

export async function startFaultBackend(options: FaultBackendOptions): Promise<FaultBackend> {
  const spans = new Map<string, number>();
  const invocations = new Set<string>();
  const next = random(42);
  let requests = 0;
  let throttled = 0;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      requests++;
      const signal = (req.url ?? '').split('/').pop() as 'traces' | 'metrics' | 'logs';
      if (options.throttleEvery > 0 && next() < 1 / options.throttleEvery) {
        throttled++;
        res.writeHead(429, { 'retry-after': '1', 'content-length': 0 }).end();
        return;
      }
      if (signal === 'traces') {
        const raw = Buffer.concat(parts);
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        const decoded = decodeBody('traces', req.headers['content-type'], body) as TracesRequest;
        for (const span of allSpans(decoded)) {
          const id = `${span.traceId}/${span.spanId}`;
          spans.set(id, (spans.get(id) ?? 0) + 1);
          const invocation = attrs(span.attributes)['faas.invocation_id'];
          if (typeof invocation === 'string' && span.kind === 2) invocations.add(invocation);
        }
      }
      setTimeout(
        () => {
          res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
        },
        Math.floor(next() * options.maxDelayMs),
      );
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    invocations,
    get requests() {
      return requests;
    },
    get throttled() {
      return throttled;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export interface FaultRun {
  invocations: number;
  postRuntimeMeanMs: number;
  postRuntimeP95Ms: number;
  spans: number;
  duplicateSpans: number;
  lostInvocationSpans: number;
  requests: number;
  throttled: number;
  /** Items the extension reported left queued at exit (counted, not silently lost). */
  unsentItems: number;
}

export async function runFaults(opts: {
  invocations: number;
  backend: FaultBackendOptions;
  optDir?: string;
  /** Every n-th gap is a long freeze (3 s); the others are short. */
  longGapEvery?: number;
}): Promise<FaultRun> {
  const backend = await startFaultBackend(opts.backend);
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: backend.url,
    logLevel: process.env['BENCH_LOG'] === 'debug' ? 'debug' : 'info',
    ...(opts.optDir && { optDir: opts.optDir }),
  });
  const post: number[] = [];
  const ids: string[] = [];
  let lines: string[] = [];
  try {
    for (let i = 0; i < opts.invocations; i++) {
      const r = await sim.invoke({ n: i });
      ids.push(r.requestId);
      if (!r.coldStart && r.postRuntimeExtensionsDurationMs !== undefined)
        post.push(r.postRuntimeExtensionsDurationMs);
      const long = opts.longGapEvery !== undefined && i % opts.longGapEvery === opts.longGapEvery - 1;
      await new Promise((r) => setTimeout(r, long ? 3000 : 150));
    }
    await sim.shutdown();
    lines = extensionLines();
    if (process.env['BENCH_LOG']) for (const line of lines) console.log(`  | ${line}`);
  } finally {
    await sim.close();
    await backend.close();
  }
  post.sort((a, b) => a - b);
  let duplicates = 0;
  for (const n of backend.spans.values()) duplicates += n - 1;
  return {
    invocations: opts.invocations,
    postRuntimeMeanMs: post.reduce((a, b) => a + b, 0) / Math.max(1, post.length),
    postRuntimeP95Ms: post[Math.floor(post.length * 0.95)] ?? 0,
    spans: backend.spans.size,
    duplicateSpans: duplicates,
    lostInvocationSpans: ids.filter((id) => !backend.invocations.has(id)).length,
    requests: backend.requests,
    throttled: backend.throttled,
    unsentItems: Number(
      / unsent (\d+)/.exec(lines.findLast((l) => / shutdown \(/.test(l)) ?? '')?.[1] ?? Number.NaN,
    ),
  };
}
