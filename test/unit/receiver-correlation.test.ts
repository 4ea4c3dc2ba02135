import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import type { WireResourceSpans } from '../../src/receiver/otlp-messages.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import { loadOtlpSchema } from '../../src/receiver/otlp-schema.js';
import type { InvocationDirectory, InvocationTraceContext } from '../../src/receiver/trace-correlation.js';
import { TraceCorrelator } from '../../src/receiver/trace-correlation.js';
import { allSpans, decodeTraces, encodeRequest } from '../../tools/otlp/decode.js';
import { post } from '../support/http-post.js';

const XRAY_TRACE = '5759e988bd862e3fe1be46a994272793';
const PLATFORM_SPAN = '53995c3f42cd8ad8';
const XRAY_PARENT = '8a3c60f7d188f8fa';
const FN_TRACE = '0af7651916cd43dd8448eb211c80319c';
const UPSTREAM_SPAN = '00f067aa0ba902b7';

class FakeDirectory implements InvocationDirectory {
  readonly adopted: {
    requestId: string;
    traceId: string;
    parentSpanId?: string;
    /** Set when the handler is re-parented under the platform span (its id must stay). */
    parentsFunctionSpan?: boolean;
  }[] = [];
  readonly released: string[] = [];
  refuse = false;
  readonly invocations = new Map<string, InvocationTraceContext>([
    ['req-1', { traceId: XRAY_TRACE, spanId: PLATFORM_SPAN, parentSpanId: XRAY_PARENT }],
  ]);

  lookupByRequestId(id: string): InvocationTraceContext | undefined {
    return this.invocations.get(id);
  }
  lookupByTraceId(traceId: string): string | undefined {
    for (const [requestId, ctx] of this.invocations) if (ctx.traceId === traceId) return requestId;
    return undefined;
  }
  /** Like the converter's table: same trace only releases; another trace is refused once exported. */
  adoptFunctionTrace(requestId: string, ctx: { traceId: string; parentSpanId?: string }): boolean {
    const inv = this.invocations.get(requestId);
    if (!inv) return false;
    if (ctx.traceId === inv.traceId) {
      this.released.push(requestId);
      return true;
    }
    if (this.refuse) return false;
    this.adopted.push({ requestId, ...ctx });
    this.invocations.set(requestId, {
      traceId: ctx.traceId,
      spanId: inv.spanId,
      parentSpanId: ctx.parentSpanId,
    });
    return true;
  }
}

interface SpanSpec {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind?: number;
  attributes?: Record<string, string>;
}

/** Decoded the way the receiver decodes (protobufjs messages from the generated descriptor). */
async function decodedRequest(specs: SpanSpec[]): Promise<{ resourceSpans: WireResourceSpans[] }> {
  const bytes = encodeRequest('traces', {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: specs.map((s) => ({
              ...s,
              attributes: Object.entries(s.attributes ?? {}).map(([key, v]) => ({
                key,
                value: { stringValue: v },
              })),
            })),
          },
        ],
      },
    ],
  });
  const schema = await loadOtlpSchema();
  return schema.request.traces.decode(bytes) as unknown as { resourceSpans: WireResourceSpans[] };
}

async function reencoded(message: { resourceSpans: WireResourceSpans[] }) {
  const schema = await loadOtlpSchema();
  const type = schema.request.traces;
  return allSpans(decodeTraces(type.encode(message as never).finish()));
}

describe('trace correlation rules', () => {
  test('(i) a handler already under the platform span is left alone', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: XRAY_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        parentSpanId: PLATFORM_SPAN,
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: false });
    assert.deepEqual(dir.adopted, []);
    assert.equal(correlator.outcomes['already-joined'], 1);
    // The directory still hears of it, to release the platform span it held back.
    assert.deepEqual(dir.released, ['req-1']);
  });

  test('(ii) a root handler becomes the platform span child and its trace is adopted', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
      {
        name: 'child',
        traceId: FN_TRACE,
        spanId: 'bbbbbbbbbbbbbbbb',
        parentSpanId: 'aaaaaaaaaaaaaaaa',
        kind: 3,
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: true });
    assert.deepEqual(dir.adopted, [{ requestId: 'req-1', traceId: FN_TRACE, parentsFunctionSpan: true }]);
    const spans = await reencoded(req);
    assert.equal(spans.find((s) => s.name === 'handler')?.parentSpanId, PLATFORM_SPAN);
    assert.equal(spans.find((s) => s.name === 'handler')?.traceId, FN_TRACE);
    assert.equal(spans.find((s) => s.name === 'child')?.parentSpanId, 'aaaaaaaaaaaaaaaa');
    assert.equal(correlator.outcomes['adopted-root'], 1);
  });

  test('(iii) a handler with an upstream parent makes the platform span its sibling', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        parentSpanId: UPSTREAM_SPAN,
        kind: 2,
        attributes: { 'faas.execution': 'req-1' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: false });
    assert.deepEqual(dir.adopted, [{ requestId: 'req-1', traceId: FN_TRACE, parentSpanId: UPSTREAM_SPAN }]);
    assert.equal((await reencoded(req))[0]?.parentSpanId, UPSTREAM_SPAN);
    assert.equal(correlator.outcomes['adopted-sibling'], 1);
  });

  test('a root span in the X-Ray trace is joined without any attribute', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      { name: 'handler', traceId: XRAY_TRACE, spanId: 'aaaaaaaaaaaaaaaa', kind: 1 },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: true });
    assert.deepEqual(dir.adopted, []);
    assert.equal((await reencoded(req))[0]?.parentSpanId, PLATFORM_SPAN);
    assert.equal(correlator.outcomes.parented, 1);
    assert.deepEqual(dir.released, ['req-1']);
  });

  test('AWS service request ids on client spans, unknown ids and other traces are ignored', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      // An S3 call's aws.request_id: a CLIENT span with a parent, never a handler.
      {
        name: 'S3.GetObject',
        traceId: FN_TRACE,
        spanId: 'cccccccccccccccc',
        parentSpanId: 'aaaaaaaaaaaaaaaa',
        kind: 3,
        attributes: { 'aws.request_id': 'req-1' },
      },
      {
        name: 'other',
        traceId: FN_TRACE,
        spanId: 'dddddddddddddddd',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-404' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: false });
    assert.deepEqual(dir.adopted, []);
  });

  test('aws.lambda.request_id identifies the handler too', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        kind: 1,
        attributes: { 'aws.lambda.request_id': 'req-1' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: true });
    assert.equal(dir.adopted.length, 1);
  });

  test('a refused adoption leaves the function spans untouched', async () => {
    const dir = new FakeDirectory();
    dir.refuse = true;
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(req.resourceSpans), { modified: false });
    assert.equal((await reencoded(req))[0]?.parentSpanId, '');
    assert.equal(correlator.outcomes.refused, 1);
  });

  test('one decision per invocation: a second span with the same id is not re-parented', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const req = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
      {
        name: 'inner server',
        traceId: FN_TRACE,
        spanId: 'bbbbbbbbbbbbbbbb',
        parentSpanId: 'aaaaaaaaaaaaaaaa',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
    ]);
    correlator.observeResourceSpans(req.resourceSpans);
    assert.equal(dir.adopted.length, 1);
    const spans = await reencoded(req);
    assert.equal(spans.find((s) => s.name === 'inner server')?.parentSpanId, 'aaaaaaaaaaaaaaaa');
  });

  test('a later request of an adopted invocation is already joined', async () => {
    const dir = new FakeDirectory();
    const correlator = new TraceCorrelator(dir);
    const first = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
    ]);
    correlator.observeResourceSpans(first.resourceSpans);
    const again = await decodedRequest([
      {
        name: 'handler',
        traceId: FN_TRACE,
        spanId: 'aaaaaaaaaaaaaaaa',
        parentSpanId: PLATFORM_SPAN,
        kind: 2,
        attributes: { 'faas.invocation_id': 'req-1' },
      },
    ]);
    assert.deepEqual(correlator.observeResourceSpans(again.resourceSpans), { modified: false });
    assert.equal(dir.adopted.length, 1);
  });
});

describe('correlation inside the receiver', () => {
  test('the chunk carries the rewritten parent', async () => {
    const chunks: TelemetryChunk[] = [];
    const sink: ChunkSink = { enqueue: (c) => chunks.push(c) };
    const dir = new FakeDirectory();
    const receiver = new OtlpReceiver({
      sink,
      port: 0,
      hosts: ['127.0.0.1'],
      correlator: new TraceCorrelator(dir),
    });
    const { port } = await receiver.start();
    try {
      const body = encodeRequest('traces', {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    name: 'handler',
                    traceId: FN_TRACE,
                    spanId: 'aaaaaaaaaaaaaaaa',
                    kind: 2,
                    attributes: [{ key: 'faas.invocation_id', value: { stringValue: 'req-1' } }],
                  },
                ],
              },
            ],
          },
        ],
      });
      const res = await post(port, '/v1/traces', {
        headers: { 'content-type': 'application/x-protobuf' },
        body,
      });
      assert.equal(res.status, 200);
      assert.equal(chunks.length, 1);
      const [span] = allSpans(decodeTraces((chunks[0] as TelemetryChunk).protobuf));
      assert.equal(span?.parentSpanId, PLATFORM_SPAN);
      assert.deepEqual(dir.adopted, [{ requestId: 'req-1', traceId: FN_TRACE, parentsFunctionSpan: true }]);
    } finally {
      await receiver.stop();
    }
  });
});

describe('the hold for invocations not known yet (Managed Instances: no INVOKE)', () => {
  function handlerRequest(requestId: string, spanId: string): Uint8Array {
    // Each its own trace: a shared one would join through the trace id instead.
    const traceId = `${spanId}${spanId}`;
    return encodeRequest('traces', {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  name: 'handler',
                  traceId,
                  spanId,
                  kind: 2,
                  attributes: [{ key: 'faas.invocation_id', value: { stringValue: requestId } }],
                },
              ],
            },
          ],
        },
      ],
    });
  }

  async function setUp(options: { maxRequests?: number } = {}) {
    const direct: TelemetryChunk[] = [];
    const later: TelemetryChunk[] = [];
    const dir = new FakeDirectory();
    let clock = 1_000;
    const correlator = new TraceCorrelator(dir);
    correlator.enableHold({
      maxHoldMs: 500,
      sink: { enqueue: (c) => later.push(c) },
      now: () => clock,
      ...options,
    });
    const receiver = new OtlpReceiver({
      sink: { enqueue: (c) => direct.push(c) },
      port: 0,
      hosts: ['127.0.0.1'],
      correlator,
    });
    const { port } = await receiver.start();
    const send = (requestId: string, spanId: string) =>
      post(port, '/v1/traces', {
        headers: { 'content-type': 'application/x-protobuf' },
        body: handlerRequest(requestId, spanId),
      });
    return {
      direct,
      later,
      dir,
      correlator,
      send,
      stop: () => receiver.stop(),
      tick: (ms: number) => {
        clock += ms;
        return clock;
      },
    };
  }

  test('a span naming an unknown invocation waits, and joins as soon as the invocation is known', async () => {
    const h = await setUp();
    try {
      assert.equal((await h.send('req-2', 'bbbbbbbbbbbbbbbb')).status, 200, 'answered at once');
      assert.equal(h.direct.length, 0, 'held, not delivered');
      assert.equal(h.correlator.heldRequestCount, 1);
      // Nothing known yet: retrying changes nothing.
      h.correlator.retryHeld();
      assert.equal(h.later.length, 0);
      // platform.start for req-2 is read.
      h.dir.invocations.set('req-2', { traceId: XRAY_TRACE, spanId: 'cccccccccccccccc' });
      h.correlator.retryHeld();
      assert.equal(h.later.length, 1);
      const [span] = allSpans(decodeTraces((h.later[0] as TelemetryChunk).protobuf));
      assert.equal(span?.parentSpanId, 'cccccccccccccccc', 'joined under the platform span');
      assert.deepEqual(h.correlator.holds, { held: 1, released: 1, expired: 0, overflow: 0 });
    } finally {
      await h.stop();
    }
  });

  test('a known invocation is joined at once; an unknown one goes out untouched when the hold runs out', async () => {
    const h = await setUp();
    try {
      await h.send('req-1', 'aaaaaaaaaaaaaaaa');
      assert.equal(h.direct.length, 1, 'known: not held');
      await h.send('req-9', 'dddddddddddddddd');
      assert.deepEqual(h.correlator.collect(h.tick(100), false), [], 'still within the hold');
      const out = h.correlator.collect(h.tick(500), false);
      assert.equal(out.length, 1);
      const [span] = allSpans(decodeTraces((out[0] as TelemetryChunk).protobuf));
      assert.equal(span?.parentSpanId ?? '', '', 'untouched');
      assert.equal(span?.traceId, 'd'.repeat(32));
      assert.equal(h.correlator.holds.expired, 1);
    } finally {
      await h.stop();
    }
  });

  test('bounded: beyond the request bound, requests are delivered as they are; the final collect empties the hold', async () => {
    const h = await setUp({ maxRequests: 2 });
    try {
      for (const [i, id] of ['req-a', 'req-b', 'req-c'].entries()) await h.send(id, `${i + 1}`.repeat(16));
      assert.equal(h.correlator.heldRequestCount, 2);
      assert.equal(h.direct.length, 1);
      assert.equal(h.correlator.holds.overflow, 1);
      assert.equal(h.correlator.collect(h.tick(1), true).length, 2);
      assert.equal(h.correlator.heldRequestCount, 0);
    } finally {
      await h.stop();
    }
  });
});
