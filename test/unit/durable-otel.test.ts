// The OpenTelemetry side of the durable module: restored contexts as API Contexts (tracestate and
// baggage included), and withDurableTracing around a real durable handler with a real tracer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DurableContext, withDurableExecution } from '@aws/durable-execution-sdk-js';
import { LocalDurableTestRunner } from '@aws/durable-execution-sdk-js-testing';
import { context as api, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { CheckpointOutcome } from '../../src/durable/checkpoint.js';
import { extractTraceContext } from '../../src/durable/extract.js';
import {
  durableParentContext,
  fromOtelContext,
  toOtelContext,
  withDurableTracing,
} from '../../src/durable/otel.js';
import type { DurableTraceContext } from '../../src/durable/trace-context.js';

const UPSTREAM: DurableTraceContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
  traceState: 'vendor=abc,dd=s:1;p:00f067aa0ba902b7',
  baggage: 'tenant=acme%20corp;prio=high,plan=gold',
};

describe('OpenTelemetry contexts', () => {
  it('round-trips ids, flags, tracestate and baggage', () => {
    const ctx = toOtelContext(UPSTREAM);
    const span = trace.getSpanContext(ctx);
    assert.equal(span?.isRemote, true);
    assert.equal(span?.traceState?.get('vendor'), 'abc');
    assert.equal(propagation.getBaggage(ctx)?.getEntry('tenant')?.value, 'acme corp');
    assert.equal(propagation.getBaggage(ctx)?.getEntry('tenant')?.metadata?.toString(), 'prio=high');
    assert.deepEqual(fromOtelContext(ctx), UPSTREAM);
  });

  it('skips malformed baggage members and has no context for an empty one', () => {
    const ctx = toOtelContext({ ...UPSTREAM, baggage: 'good=1,%E0%A4%A=bad,=novalue,noequals' });
    assert.deepEqual(
      propagation
        .getBaggage(ctx)
        ?.getAllEntries()
        .map(([k, v]) => [k, v.value]),
      [['good', '1']],
    );
    assert.equal(fromOtelContext(ROOT_CONTEXT), undefined);
    assert.equal(durableParentContext({ not: 'durable' }), undefined);
  });
});

describe('withDurableTracing', { timeout: 60_000 }, () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('durable-test');
  const contextManager = new AsyncLocalStorageContextManager();

  before(async () => {
    api.setGlobalContextManager(contextManager.enable());
    await LocalDurableTestRunner.setupTestEnvironment({ skipTime: false });
  });
  after(async () => {
    await LocalDurableTestRunner.teardownTestEnvironment();
    api.disable();
    await provider.shutdown();
  });

  it('names the execution on the handler span and checkpoints the upstream parent with the baggage', async () => {
    const outcomes: CheckpointOutcome[] = [];
    const durable = withDurableExecution(
      withDurableTracing(
        async (_event: unknown, ctx: DurableContext) => {
          await ctx.wait({ seconds: 1 });
          return 'done';
        },
        { onCheckpoint: (o) => outcomes.push(o) },
      ),
    );
    const events: unknown[] = [];
    const runner = new LocalDurableTestRunner({
      handlerFunction: async (event, lambdaContext) => {
        events.push(JSON.parse(JSON.stringify({ ...event, durableExecutionClient: undefined })));
        // As the function's instrumentation does: the handler span continues the restored context,
        // else (first invocation) the upstream headers of the event.
        const parent = durableParentContext(event) ?? toOtelContext(UPSTREAM);
        const span = tracer.startSpan('handler', { kind: SpanKind.SERVER }, parent);
        try {
          return await api.with(trace.setSpan(parent, span), () => durable(event, lambdaContext));
        } finally {
          span.end();
        }
      },
    });
    const execution = await runner.run({ payload: {} });
    assert.equal(execution.getStatus(), 'SUCCEEDED');
    assert.deepEqual(
      outcomes.map((o) => o.written),
      [true],
    );

    const handlers = exporter.getFinishedSpans().filter((s) => s.name === 'handler');
    assert.equal(handlers.length, 2);
    const arn = (events[0] as { DurableExecutionArn: string }).DurableExecutionArn;
    for (const span of handlers) {
      assert.equal(span.spanContext().traceId, UPSTREAM.traceId);
      assert.equal(
        span.parentSpanContext?.spanId,
        UPSTREAM.spanId,
        'every handler under the upstream parent',
      );
      assert.equal(span.attributes['aws.lambda.durable_execution.arn'], arn);
    }
    const restored = extractTraceContext(events[1]);
    assert.equal(restored?.source, 'checkpoint');
    assert.equal(restored?.spanId, UPSTREAM.spanId);
    assert.equal(restored?.baggage, 'tenant=acme%20corp;prio=high,plan=gold');
    assert.equal(restored?.traceState, UPSTREAM.traceState);
  });
});
