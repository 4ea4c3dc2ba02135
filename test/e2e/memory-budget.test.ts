// The memory budget of the built layer in a 128 MB function (budget 12.8 MB): uploads announced at
// once are admitted one budget at a time (the rest 503 + Retry-After before their body), a body
// that could never fit is 413, an oversized Telemetry API push is answered 200, dropped and counted
// with its records, the extension's RSS stays within its idle RSS plus the budget (with a margin for
// garbage collection), and the budget and its high-water mark reach the backend as self-telemetry.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type OtlpSink, startOtlpSink } from '../../tools/otlp/sink.js';
import { allMetrics, type MetricsRequest } from '../../tools/otlp/decode.js';
import { readMemoryKb } from '../../tools/simulator/processes.js';
import { ensureLayer, extensionEnvironment } from '../support/e2e-harness.js';

const MiB = 1024 * 1024;
const BUDGET_128 = Math.floor(12.8 * MiB);
/** Garbage the V8 heap and freed buffers may hold before a collection runs. */
const GC_MARGIN_MB = 30;

let sink: OtlpSink;
before(async () => {
  ensureLayer();
  sink = await startOtlpSink();
});
after(async () => {
  await sink?.close();
});

async function tracesRequest(approxBytes: number): Promise<Buffer> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('attack');
  for (let i = 0; i < 200; i++)
    tracer.startSpan(`span-${i}`, { attributes: { i, pad: 'x'.repeat(200) } }).end();
  await provider.forceFlush();
  const one = Buffer.from(
    ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans()) as Uint8Array,
  );
  return Buffer.concat(Array.from({ length: Math.max(1, Math.floor(approxBytes / one.length)) }, () => one));
}

interface Upload {
  socket: Socket;
  answer: Promise<{ status: number; retryAfter: string | undefined }>;
  answered: boolean;
}

/** Opens `count` uploads and sends only their headers. */
function announce(port: number, length: number, count: number): Upload[] {
  return Array.from({ length: count }, () => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    socket.write(
      `POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: ${length}\r\n\r\n`,
    );
    const upload: Upload = {
      socket,
      answered: false,
      answer: Promise.resolve({ status: 0, retryAfter: undefined }),
    };
    upload.answer = new Promise((resolve) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end === -1 || upload.answered) return;
        upload.answered = true;
        resolve({
          status: Number(text.slice(9, 12)),
          retryAfter: /\r\nretry-after: *(\S+)/i.exec(text.slice(0, end))?.[1],
        });
        socket.destroy();
      });
      socket.on('close', () => {
        if (!upload.answered) resolve({ status: -1, retryAfter: undefined });
      });
    });
    return upload;
  });
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

test('a 128 MB function: uploads, an oversized upload and an oversized push stay within the budget', async () => {
  const { sim, receiverPort, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    freeze: false,
    memorySizeMB: 128,
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    await sim.invoke({ n: 0 });
    const destination = sim.timeline.of('subscribe')[0]?.destination;
    assert.ok(destination);
    const listenerPort = Number(new URL(destination).port);
    const pid = Object.values(sim.pids().extensions)[0] as number;
    await new Promise((r) => setTimeout(r, 300));
    const idleKb = readMemoryKb(pid)?.rssKb ?? 0;
    let peakKb = 0;
    const sampler = setInterval(() => {
      peakKb = Math.max(peakKb, readMemoryKb(pid)?.rssKb ?? 0);
    }, 10);

    // 20 uploads of ~1 MB announced at once: each reserves 8 MB of the receiver's 9.6 MB.
    const body = await tracesRequest(MiB);
    const uploads = announce(receiverPort, body.length, 20);
    await waitUntil(() => uploads.filter((u) => u.answered).length >= 19, 30_000);
    const early = uploads.filter((u) => u.answered).length;
    for (const u of uploads) if (!u.answered) u.socket.write(body);
    const answers = await Promise.all(uploads.map((u) => u.answer));
    assert.equal(early, 19, 'all but one refused before any body was sent');
    assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers));
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(refused.length, 19);
    assert.ok(refused.every((a) => a.retryAfter === '1'));

    // A 7 MB upload could never fit a 12.8 MB budget: 413, so the SDK does not retry it.
    const [big] = announce(receiverPort, 7 * MiB, 1);
    assert.equal((await big?.answer)?.status, 413);

    // One Telemetry API push of 1e5 records (7 MB): answered 200, dropped, counted.
    const time = new Date().toISOString();
    const records = Array.from(
      { length: 100_000 },
      (_, i) => `{"time":"${time}","type":"function","record":"line ${i}"}`,
    );
    const res = await fetch(`http://127.0.0.1:${listenerPort}/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `[${records.join(',')}]`,
      signal: AbortSignal.timeout(60_000),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(sampler);
    peakKb = Math.max(peakKb, readMemoryKb(pid)?.rssKb ?? 0);
    const peakMb = peakKb / 1024;
    const boundMb = idleKb / 1024 + BUDGET_128 / MiB + GC_MARGIN_MB;
    assert.ok(
      peakMb <= boundMb,
      `peak RSS ${peakMb.toFixed(0)} MB > idle ${(idleKb / 1024).toFixed(0)} MB + budget + margin`,
    );

    await sim.invoke({ n: 1 });
    await sim.shutdown();
    const line = extensionLines().findLast((l) => / shutdown \(/.test(l)) ?? '';
    assert.match(
      line,
      /memory budget 12\.8 MB, high-water \d+\.\d MB, refused 19 receiver requests, 1 telemetry pushes/,
    );
    assert.match(line, /1 dropped over the memory budget \(100000 records, \d+ B\)/);
    const gauges = new Map<string, number>();
    for (const r of sink.requests) {
      if (r.signal !== 'metrics') continue;
      for (const m of allMetrics(r.decoded as MetricsRequest)) {
        const point = m.gauge?.dataPoints?.[0];
        if (m.name.startsWith('otel_lambda_extension.memory.') && point) {
          gauges.set(m.name, Number(point.asInt ?? point.asDouble));
        }
      }
    }
    assert.equal(gauges.get('otel_lambda_extension.memory.budget'), BUDGET_128);
    const highWater = gauges.get('otel_lambda_extension.memory.high_water') ?? 0;
    assert.ok(highWater > 0 && highWater <= BUDGET_128, `high-water ${highWater}`);
  } finally {
    await sim.close();
  }
});
