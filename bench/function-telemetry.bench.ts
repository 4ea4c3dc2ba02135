// The function's own telemetry through the running extension (built layer, Lambda simulator):
//  1. receiver throughput: spans/s the extension process accepts on loopback from a load generator
//     posting 100-span protobuf requests over keep-alive connections, while it exports them (to a
//     counting OTLP sink here: the collector's JSON file output would be the bottleneck); the
//     extension's RSS before, during (peak) and after, from /proc;
//  2. correlation, with the real OpenTelemetry Collector: N invocations of the instrumented function
//     (real Node SDK, force-flush before returning), and the share whose collector output is one
//     connected trace. Twice: a new random trace per invocation (handler re-parented under the
//     platform span, which adopts the function's trace id), then the handler continuing the X-Ray
//     header (under the platform span as Lambda announced it).
// Run:
//   node --import tsx bench/function-telemetry.bench.ts [load-seconds=10] [invocations=1000] [connections=4] [--no-freeze]
// Writes bench/results/function-telemetry-<timestamp>.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import protobuf from 'protobufjs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { attributesToObject, type Collector, startCollector } from '../test/support/collector/collector.js';
import { extensionEnvironment, FUNCTIONS_DIR } from '../test/support/e2e-harness.js';
import { readMemoryKb } from '../tools/simulator/index.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const LOAD_SECONDS = Number(args[0] ?? 10);
const INVOCATIONS = Number(args[1] ?? 1000);
const CONNECTIONS = Number(args[2] ?? 4);
const FREEZE = !process.argv.includes('--no-freeze');
const SPANS_PER_REQUEST = 100;
const LOAD_SCOPE = 'bench-load';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** 100 spans as an instrumented function makes them: one SERVER span and its children. */
async function requestBody(): Promise<Uint8Array> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench-fn', 'cloud.provider': 'aws' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer(LOAD_SCOPE, '1.0.0');
  tracer.startActiveSpan('handler', { kind: 1 }, (root) => {
    for (let i = 1; i < SPANS_PER_REQUEST; i++) {
      tracer
        .startSpan(`GET /items/${i % 10}`, {
          attributes: {
            'http.request.method': 'GET',
            'url.path': `/items/${i}`,
            'http.response.status_code': 200,
          },
        })
        .end();
    }
    root.end();
  });
  await provider.forceFlush();
  const spans: ReadableSpan[] = exporter.getFinishedSpans();
  return ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
}

function send(agent: Agent, port: number, body: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-protobuf' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(-1));
    req.end(body);
  });
}

/** The length-delimited values of field `field` in a protobuf message. */
function subMessages(buf: Uint8Array, field: number): Uint8Array[] {
  const reader = protobuf.Reader.create(buf);
  const out: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) out.push(reader.bytes());
    else reader.skipType(tag & 7);
  }
  return out;
}

/**
 * The load generator's spans in an ExportTraceServiceRequest (resource_spans(1) → scope_spans(2) →
 * scope(1).name(1), spans(2)); the extension's own spans are not counted.
 */
function countLoadSpans(request: Uint8Array): number {
  let n = 0;
  for (const rs of subMessages(request, 1)) {
    for (const ss of subMessages(rs, 2)) {
      const scope = subMessages(ss, 1)[0];
      const name = scope && subMessages(scope, 1)[0];
      if (name && Buffer.from(name).toString('utf8') === LOAD_SCOPE) n += subMessages(ss, 2).length;
    }
  }
  return n;
}

/** An OTLP/HTTP endpoint that only counts the load generator's spans it gets (and answers 200). */
async function startCountingSink(): Promise<{ url: string; spans(): number; close(): Promise<void> }> {
  let spans = 0;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const wire = Buffer.concat(parts);
        spans += countLoadSpans(req.headers['content-encoding'] === 'gzip' ? gunzipSync(wire) : wire);
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => spans,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > until) return false;
    await sleep(50);
  }
  return true;
}

async function receiverThroughput() {
  const sink = await startCountingSink();

  const { sim, receiverPort, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    // The load comes from outside an invocation: the extension must not be frozen meanwhile.
    freeze: false,
  });
  try {
    await sim.start();
    const pid = Object.values(sim.pids().extensions)[0];
    if (pid === undefined) throw new Error('no extension process');
    const body = await requestBody();
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    // Warm-up: schema load, JIT, connections.
    const warmUp = new Map<number, number>();
    for (let i = 0; i < 50; i++) {
      const status = await send(agent, receiverPort, body);
      warmUp.set(status, (warmUp.get(status) ?? 0) + 1);
    }
    const warmUpAccepted = warmUp.get(200) ?? 0;
    await sleep(2000);
    const before = readMemoryKb(pid);
    const statuses = new Map<number, number>();
    let peakRssKb = before?.rssKb ?? 0;
    const sampler = setInterval(() => {
      peakRssKb = Math.max(peakRssKb, readMemoryKb(pid)?.rssKb ?? 0);
    }, 50);
    const started = performance.now();
    const deadline = started + LOAD_SECONDS * 1000;
    const worker = async () => {
      while (performance.now() < deadline) {
        const status = await send(agent, receiverPort, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        // An SDK backs off on 503 (Retry-After); a tight loop would only measure refusals.
        if (status !== 200) await sleep(10);
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    agent.destroy();
    const duringHwm = readMemoryKb(pid);
    const acceptedRequests = statuses.get(200) ?? 0;
    const acceptedSpans = acceptedRequests * SPANS_PER_REQUEST;
    // What was accepted is exported (background flushes); give the exports time to finish.
    const warmUpSpans = warmUpAccepted * SPANS_PER_REQUEST;
    const exportStart = performance.now();
    await waitUntil(() => sink.spans() >= acceptedSpans + warmUpSpans, 30_000);
    const exportedAfterLoad = sink.spans();
    const exportDrainSeconds = (performance.now() - exportStart) / 1000;
    await sleep(2000);
    const after = readMemoryKb(pid);
    // SHUTDOWN flushes whatever is left: nothing accepted may be missing after it.
    await sim.shutdown();
    const exportedTotal = sink.spans() - warmUpSpans;
    return {
      seconds: round(seconds, 2),
      connections: CONNECTIONS,
      spansPerRequest: SPANS_PER_REQUEST,
      requestBytes: body.byteLength,
      warmUpStatuses: Object.fromEntries(warmUp),
      statuses: Object.fromEntries(statuses),
      acceptedSpans,
      acceptedSpansPerSecond: Math.round(acceptedSpans / seconds),
      acceptedRequestsPerSecond: Math.round(acceptedRequests / seconds),
      exportedWithinDrainWait: exportedAfterLoad - warmUpSpans,
      exportDrainAfterLoadSeconds: round(exportDrainSeconds, 2),
      exportedAfterShutdown: exportedTotal,
      lostSpans: acceptedSpans - exportedTotal,
      extensionShutdownLine: extensionLines().find((l) => l.includes('shutdown (')),
      extensionMemoryKb: {
        rssBefore: before?.rssKb,
        rssPeakSampled: peakRssKb,
        hwmBefore: before?.peakKb,
        hwmAfterLoad: duringHwm?.peakKb,
        rssAfter: after?.rssKb,
        addedAtPeak: before ? peakRssKb - before.rssKb : undefined,
      },
    };
  } finally {
    await sim.close();
    await sink.close();
  }
}

interface HandlerReport {
  traceId: string;
  spanId: string;
  children: { spanId: string }[];
}

type ParentMode = 'root' | 'xray';

const VARIANTS: Record<ParentMode, string> = {
  root: 'a new root trace per invocation: re-parented under the platform span, whose trace is adopted',
  xray: 'handler continues the X-Ray header: under the platform span (Lambda tracing.spanId)',
};

/** The X-Ray Parent of a tracing value (the caller's segment, outside this trace's output). */
function xrayParent(value: string): string {
  return /Parent=([0-9a-f]{16})/i.exec(value)?.[1]?.toLowerCase() ?? '';
}

async function correlationRun(col: Collector, parent: ParentMode) {
  const { sim } = await extensionEnvironment({
    handler: 'otel-handler.mjs',
    endpoint: col.endpoint,
    functionNodeArgs: ['--import', join(FUNCTIONS_DIR, 'otel-setup.mjs')],
    // The xray variant continues the X-Ray header: active tracing makes its spans sampled.
    tracing: 'active',
    freeze: FREEZE,
    keepHistory: false,
    timeoutMs: 10_000,
    initTimeoutMs: 20_000,
    env: { FIXTURE_OTEL_PARENT: parent, FIXTURE_OTEL_VARIANT: `bench-${parent}` },
  });
  const runs: {
    requestId: string;
    tracing: string;
    report: HandlerReport;
    postRuntimeMs: number;
    durationMs: number;
  }[] = [];
  let failedInvocations = 0;
  try {
    await sim.start();
    const pid = Object.values(sim.pids().extensions)[0];
    const before = pid === undefined ? undefined : readMemoryKb(pid);
    const started = performance.now();
    for (let i = 0; i < INVOCATIONS; i++) {
      const res = await sim.invoke({ n: i });
      if (res.status !== 'success') {
        failedInvocations++;
        continue;
      }
      runs.push({
        requestId: res.requestId,
        tracing: res.tracing.value,
        report: res.response as HandlerReport,
        postRuntimeMs: res.postRuntimeExtensionsDurationMs ?? Number.NaN,
        durationMs: res.durationMs,
      });
      if ((i + 1) % 200 === 0) process.stderr.write(`  ${i + 1} invocations\n`);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const after = pid === undefined ? undefined : readMemoryKb(pid);
    await sim.shutdown();
    const last = runs.at(-1);
    const out = await col
      .waitFor((o) => last === undefined || o.spans.some((s) => s.item.spanId === last.report.spanId), 30_000)
      .catch(() => col.read());

    // Index the output once: platform spans by request id, every span by id.
    const platformByRequest = new Map<string, { traceId: string; spanId: string; parentSpanId: string }[]>();
    const byId = new Map<string, { traceId: string; parentSpanId: string }>();
    for (const s of out.spans) {
      byId.set(s.item.spanId, { traceId: s.item.traceId, parentSpanId: s.item.parentSpanId ?? '' });
      if (s.scope.name === 'otel-lambda-extension' && s.item.kind === 2) {
        const id = attributesToObject(s.item.attributes)['faas.invocation_id'];
        if (typeof id !== 'string') continue;
        const list = platformByRequest.get(id) ?? [];
        list.push({
          traceId: s.item.traceId,
          spanId: s.item.spanId,
          parentSpanId: s.item.parentSpanId ?? '',
        });
        platformByRequest.set(id, list);
      }
    }
    const failures: Record<string, number> = {};
    const fail = (why: string) => {
      failures[why] = (failures[why] ?? 0) + 1;
    };
    let joined = 0;
    for (const run of runs) {
      const platforms = platformByRequest.get(run.requestId) ?? [];
      const handler = byId.get(run.report.spanId);
      if (platforms.length !== 1) fail(`${platforms.length} platform spans`);
      else if (!handler) fail('handler span missing');
      else if (run.report.children.some((c) => byId.get(c.spanId)?.traceId !== handler.traceId))
        fail('child span missing or in another trace');
      else {
        const platform = platforms[0] as { traceId: string; spanId: string; parentSpanId: string };
        if (platform.traceId !== handler.traceId) fail('platform span not in the function trace');
        else if (handler.parentSpanId !== platform.spanId) fail('handler not under the platform span');
        else if (platform.parentSpanId !== (parent === 'root' ? '' : xrayParent(run.tracing)))
          fail('platform span under an unexpected parent');
        else joined++;
      }
    }
    const postRuntime = runs.map((r) => r.postRuntimeMs).filter(Number.isFinite);
    return {
      variant: `${parent}: ${VARIANTS[parent]}; force-flush before returning`,
      freeze: FREEZE,
      invocations: INVOCATIONS,
      failedInvocations,
      joined,
      correlationSuccessRate: round(joined / INVOCATIONS, 4),
      failures,
      wallSeconds: round(wallSeconds, 1),
      invocationsPerSecond: round(INVOCATIONS / wallSeconds, 1),
      postRuntimeExtensionsMs: {
        p50: round(percentile(postRuntime, 50)),
        p95: round(percentile(postRuntime, 95)),
        p99: round(percentile(postRuntime, 99)),
      },
      durationMs: {
        p50: round(
          percentile(
            runs.map((r) => r.durationMs),
            50,
          ),
        ),
      },
      extensionRssKb: { before: before?.rssKb, after: after?.rssKb, hwm: after?.peakKb },
      collectorSpans: out.spans.length,
    };
  } finally {
    await sim.close();
  }
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} CPUs; receiver load ${LOAD_SECONDS} s over ${CONNECTIONS} connections; ` +
      `${INVOCATIONS} invocations (freeze ${FREEZE})`,
  );
  const receiver = await receiverThroughput();
  console.log('\nreceiver in the running extension');
  console.log(receiver);
  const col = await startCollector();
  const correlation: Awaited<ReturnType<typeof correlationRun>>[] = [];
  try {
    for (const parent of ['root', 'xray'] as const) {
      const run = await correlationRun(col, parent);
      console.log(`\ncorrelation (${parent})`);
      console.log(run);
      correlation.push(run);
    }
  } finally {
    await col.stop();
  }
  const result = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    // Other work shares the machine: the 1-minute load average says how much.
    loadAverageAtEnd: round(loadavg()[0] ?? 0, 2),
    receiver,
    correlation,
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const stamp = result.at.replace(/[:.]/g, '-');
  const file = new URL(`./results/function-telemetry-${stamp}.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${file.pathname}`);
}

await main();
