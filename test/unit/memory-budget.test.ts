// The memory budget: its size from the function's memory, reservations before a body is read, and
// how the receiver, the Telemetry API listener and the export queues keep within it.

import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createExtensionLogger } from '../../src/extension-log.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import { startTelemetryListener } from '../../src/lambda/telemetry-listener.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import {
  budgetBytes,
  MemoryBudget,
  PUSH_COST_PER_BYTE,
  RECEIVE_COST_PER_BYTE,
  RECEIVER_SHARE,
} from '../../src/pipeline/memory-budget.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';

const MiB = 1024 * 1024;

describe('budget size', () => {
  test('10 % of the function memory, capped at 64 MiB, configurable', () => {
    assert.equal(budgetBytes({ functionMemoryMb: 128 }), Math.floor(12.8 * MiB));
    assert.equal(budgetBytes({ functionMemoryMb: 1769 }), 64 * MiB);
    assert.equal(budgetBytes({ functionMemoryMb: 1769, maxBytes: 256 * MiB }), Math.floor(176.9 * MiB));
    assert.equal(budgetBytes({ functionMemoryMb: 512, percent: 5 }), Math.floor(25.6 * MiB));
    // Unknown memory (local runs): the smallest function.
    assert.equal(budgetBytes({ functionMemoryMb: undefined }), Math.floor(12.8 * MiB));
    // Never below what one SDK batch needs.
    assert.equal(budgetBytes({ functionMemoryMb: 128, percent: 1 }), 2 * MiB);
  });
});

describe('reservations', () => {
  test('fit, grow, release, refuse, and keep a high-water mark with the queued bytes', () => {
    const budget = new MemoryBudget(1000);
    let queued = 100;
    budget.setQueuedBytes(() => queued);
    const a = budget.tryReserve('telemetry_api', 600);
    assert.ok(a);
    assert.equal(budget.used(), 700);
    // The receiver may use only its share (750 of 1000): 700 + 100 does not fit.
    assert.equal(budget.tryReserve('receiver', 100), undefined);
    assert.ok(a.grow(800));
    assert.equal(a.grow(1000), false);
    assert.equal(a.bytes, 800);
    a.release();
    a.release();
    assert.equal(budget.used(), 100);
    queued = 0;
    const b = budget.tryReserve('receiver', RECEIVER_SHARE * 1000);
    assert.ok(b);
    b.release();
    const snapshot = budget.snapshot();
    assert.equal(snapshot.highWaterBytes, 900);
    assert.deepEqual(snapshot.refused, { receiver: 1, telemetry_api: 1 });
    assert.equal(snapshot.reservedBytes, 0);
  });
});

async function tracesRequest(spans: number): Promise<Buffer> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('budget-test');
  for (let i = 0; i < spans; i++)
    tracer.startSpan(`span-${i}`, { attributes: { i, pad: 'x'.repeat(100) } }).end();
  await provider.forceFlush();
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans()) as Uint8Array);
}

/** Sends every request's headers, waits, then every body; returns each status and Retry-After. */
async function headersFirst(port: number, body: Buffer, count: number, allSeen: () => boolean = () => true) {
  const answers = Array.from({ length: count }, () => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.write(
      `POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    const answer = new Promise<{ status: number; retryAfter: string | undefined; beforeBody: boolean }>(
      (resolve) => {
        let text = '';
        socket.on('data', (d) => {
          text += d.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end === -1) return;
          resolve({
            status: Number(text.slice(9, 12)),
            retryAfter: /\r\nretry-after: *(\S+)/i.exec(text.slice(0, end))?.[1],
            beforeBody: !sent,
          });
          socket.destroy();
        });
        socket.on('error', () => {});
      },
    );
    return { socket, answer };
  });
  let sent = false;
  // Bodies go out once the receiver has seen every request's headers (however loaded the machine).
  for (let waited = 0; !allSeen() && waited < 20_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  sent = true;
  for (const { socket } of answers) if (!socket.destroyed) socket.write(body);
  return Promise.all(answers.map((a) => a.answer));
}

describe('receiver admission', () => {
  test('uploads announced at once are admitted only as far as the budget goes, the rest answered 503 before their body', async () => {
    const body = await tracesRequest(1500);
    // Room for exactly one such request in the receiver's share.
    const limit = Math.ceil((body.length * RECEIVE_COST_PER_BYTE * 1.5) / RECEIVER_SHARE);
    const budget = new MemoryBudget(limit);
    const chunks: TelemetryChunk[] = [];
    const receiver = new OtlpReceiver({
      sink: { enqueue: (c) => chunks.push(c) },
      port: 0,
      hosts: ['127.0.0.1'],
      budget,
    });
    const { port } = await receiver.start();
    try {
      let refusedBeforeBodies = 0;
      const answers = await headersFirst(port, body, 12, () => {
        refusedBeforeBodies = receiver.stats().refused['over-budget'];
        return refusedBeforeBodies === 11 && budget.snapshot().reservedBytes > 0;
      });
      assert.equal(refusedBeforeBodies, 11, 'refused before any body was sent');
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 503);
      assert.equal(ok.length, 1, JSON.stringify(answers));
      assert.equal(refused.length, 11);
      for (const r of refused) {
        assert.equal(r.retryAfter, '1');
      }
      assert.equal(receiver.stats().refused['over-budget'], 11);
      assert.equal(budget.snapshot().reservedBytes, 0, 'every reservation released');
      assert.ok(budget.snapshot().highWaterBytes <= limit);
      assert.ok(chunks.length > 0);
    } finally {
      await receiver.stop();
    }
  });

  test('a body whose cost could never fit is 413 (too large for this function), not a retry', async () => {
    const budget = new MemoryBudget(2 * MiB);
    const receiver = new OtlpReceiver({ sink: { enqueue() {} }, port: 0, hosts: ['127.0.0.1'], budget });
    const { port } = await receiver.start();
    try {
      const tooBig = Math.ceil((2 * MiB * RECEIVER_SHARE) / RECEIVE_COST_PER_BYTE) + 1;
      const [answer] = await headersFirst(port, Buffer.alloc(tooBig), 1);
      assert.equal(answer?.status, 413);
    } finally {
      await receiver.stop();
    }
  });
});

function postPush(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, agent: false, method: 'POST', path: '/telemetry' },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const T = '2024-05-01T10:00:00.000Z';
const pushOf = (n: number): string =>
  JSON.stringify(Array.from({ length: n }, (_, i) => ({ time: T, type: 'function', record: `line ${i}` })));

describe('listener admission', () => {
  test('a push the budget cannot hold is answered 200, dropped unparsed and counted with its records', async () => {
    const small = pushOf(10);
    const big = pushOf(20_000);
    const budget = new MemoryBudget(Math.ceil(Buffer.byteLength(big) * PUSH_COST_PER_BYTE * 0.5));
    const got: TelemetryEvent[][] = [];
    const lines: string[] = [];
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: (e) => got.push(e),
      budget,
      logger: createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) }),
    });
    try {
      assert.equal(await postPush(listener.port, big), 200);
      assert.equal(await postPush(listener.port, small), 200);
      assert.equal(got.length, 1, 'only the small push was parsed');
      assert.equal(got[0]?.length, 10);
      assert.equal(listener.stats.droppedOverBudget, 1);
      assert.equal(listener.stats.droppedRecords, 20_000);
      assert.equal(listener.stats.droppedBytes, Buffer.byteLength(big));
      assert.equal(listener.stats.pushes, 1);
      assert.equal(budget.snapshot().reservedBytes, 0);
      assert.ok(lines.some((l) => /dropped: the extension's memory budget is in use/.test(l)));
    } finally {
      await listener.close();
    }
  });
});

function chunk(bytes: number, createdAtMs: number): TelemetryChunk {
  const protobuf = new Uint8Array(bytes);
  return { signal: 'logs', items: 1, bytes, createdAtMs, protobuf, json: () => ({}) };
}

describe('queue accounting', () => {
  test('queued chunks count against the budget; past it the oldest are dropped as memory_budget', async () => {
    const budget = new MemoryBudget(10_000);
    const pipeline = new ExportPipeline({
      destinations: [
        {
          name: 'test',
          signals: {
            logs: {
              url: 'http://127.0.0.1:9/v1/logs',
              protocol: 'http/protobuf',
              compression: 'none',
              headers: {},
              timeoutMs: 1000,
              batch: { maxItems: 1000, maxBytes: 1 << 20 },
            },
          },
        },
      ],
      budget,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    for (let i = 0; i < 30; i++) pipeline.enqueue(chunk(1000, i));
    assert.ok(pipeline.heldBytes() <= 10_000);
    assert.equal(pipeline.pending().items, 10);
    // The newest stay.
    assert.equal(pipeline.pending().oldestCreatedAtMs, 20);
    assert.equal(budget.snapshot().highWaterBytes, 10_000);
    const report = await pipeline.flush({ deadlineMs: Date.now() + 1, reason: 'test' });
    assert.equal(report.droppedByReason['memory_budget'], 20);
    pipeline.shutdown();
  });
});
