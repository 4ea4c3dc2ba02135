// The invocation directory: how the function's own telemetry joins the platform spans (lookups,
// adoption of the function's trace, the hold that makes adoption possible) and sampling.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { PlatformConverter, type PlatformConverterOptions } from '../../src/convert/index.js';
import { createSampler } from '../../src/convert/sampler.js';
import type { TelemetryEvent, TracingContext } from '../../src/lambda/telemetry-events.js';
import { SequentialIds } from '../support/telemetry-fixtures.js';
import { allSpans, attrs, decodeTraces, type LocatedSpan } from '../../tools/otlp/decode.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'fn',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
};
const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:fn';

function xray(root: string, parent: string | undefined, sampled: '0' | '1' | undefined, spanId?: string) {
  let value = `Root=1-${root.slice(0, 8)}-${root.slice(8)}`;
  if (parent) value += `;Parent=${parent}`;
  if (sampled) value += `;Sampled=${sampled}`;
  const t: TracingContext = { type: 'X-Amzn-Trace-Id', value };
  if (spanId) t.spanId = spanId;
  return t;
}

function converter(options: Partial<PlatformConverterOptions> = {}) {
  let clock = T0;
  const conv = new PlatformConverter({
    env: ENV,
    now: () => clock,
    idGenerator: new SequentialIds(),
    ...options,
  });
  return {
    conv,
    at(ms: number) {
      clock = T0 + ms;
    },
    spans(nowMs: number, final = false): LocatedSpan[] {
      return conv
        .collect(T0 + nowMs, final)
        .filter((c) => c.signal === 'traces')
        .flatMap((c) => allSpans(decodeTraces(c.protobuf)));
    },
  };
}

function invocation(
  requestId: string,
  startMs: number,
  endMs: number,
  tracing?: TracingContext,
): TelemetryEvent[] {
  const start: TelemetryEvent = { type: 'platform.start', timeMs: T0 + startMs, requestId };
  if (tracing) start.tracing = tracing;
  return [
    start,
    {
      type: 'platform.runtimeDone',
      timeMs: T0 + endMs,
      requestId,
      status: 'success',
      durationMs: endMs - startMs,
      spans: [{ name: 'responseLatency', startMs: T0 + startMs, durationMs: endMs - startMs - 1 }],
    },
  ];
}

const ROOT = '683c4200aaaaaaaaaaaaaaaaaaaaaaaa';
const FUNCTION_TRACE = '0af7651916cd43dd8448eb211c80319c';

describe('invocation directory', () => {
  it('hands out ids from platform.start on, before the span is exported', () => {
    const { conv } = converter();
    conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1', '2222222222222222')).slice(0, 1));
    const identity = conv.directory.lookupByRequestId('r1');
    assert.deepEqual(identity, {
      traceId: ROOT,
      spanId: '2222222222222222',
      parentSpanId: '1111111111111111',
      sampled: true,
    });
    assert.equal(conv.directory.lookupByTraceId(ROOT), 'r1');
    assert.equal(conv.directory.lookupByRequestId('unknown'), undefined);
  });

  it('keeps leased ids even when Lambda context arrives later', () => {
    const h = converter();
    h.conv.onInvoke({
      eventType: 'INVOKE',
      requestId: 'r1',
      deadlineMs: T0 + 10_000,
      invokedFunctionArn: ARN,
    });
    const leased = h.conv.directory.lookupByRequestId('r1');
    assert.ok(leased);
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1', '3333333333333333')));
    const spans = h.spans(5_000);
    const inv = spans.find((s) => s.name === 'fn');
    assert.equal(
      inv?.traceId,
      leased.traceId,
      'the receiver may already have parented spans under these ids',
    );
    assert.equal(inv?.spanId, leased.spanId);
  });

  it("takes Lambda's span id after the function's spans were seen in the same trace (peek, release)", () => {
    // The function's force-flush often reaches the receiver before platform.start is delivered;
    // its handler's parent is the span id Lambda will announce there.
    const h = converter();
    h.conv.onInvoke({
      eventType: 'INVOKE',
      requestId: 'r1',
      deadlineMs: T0 + 10_000,
      invokedFunctionArn: ARN,
      tracing: xray(ROOT, '1111111111111111', '1'),
    });
    const seen = h.conv.directory.peekByRequestId('r1');
    assert.equal(seen?.traceId, ROOT);
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: ROOT }), true);
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1', '3333333333333333')));
    const inv = h.spans(5_000).find((s) => s.name === 'fn');
    assert.equal(inv?.spanId, '3333333333333333');
    assert.equal(inv?.parentSpanId, '1111111111111111');
  });

  it('keeps the span id once the function was parented under it', () => {
    const h = converter();
    h.conv.onInvoke({
      eventType: 'INVOKE',
      requestId: 'r1',
      deadlineMs: T0 + 10_000,
      invokedFunctionArn: ARN,
    });
    const seen = h.conv.directory.peekByRequestId('r1');
    assert.ok(seen);
    h.conv.directory.adoptFunctionTrace('r1', { traceId: FUNCTION_TRACE, parentsFunctionSpan: true });
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1', '3333333333333333')));
    const inv = h.spans(5_000).find((s) => s.name === 'fn');
    assert.equal(inv?.traceId, FUNCTION_TRACE);
    assert.equal(inv?.spanId, seen.spanId);
  });

  it('replaces generated ids with Lambda context that arrives before any lease', () => {
    const h = converter();
    h.conv.onInvoke({
      eventType: 'INVOKE',
      requestId: 'r1',
      deadlineMs: T0 + 10_000,
      invokedFunctionArn: ARN,
    });
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1', '3333333333333333')));
    const inv = h.spans(5_000).find((s) => s.name === 'fn');
    assert.equal(inv?.traceId, ROOT);
    assert.equal(inv?.spanId, '3333333333333333');
    assert.equal(inv?.parentSpanId, '1111111111111111');
  });

  it('adopts the function trace: invocation span and children move, span id kept, released early', () => {
    const h = converter({ maxHeldMs: 60_000 });
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1')));
    const before = h.conv.directory.lookupByRequestId('r1');
    assert.ok(before);
    assert.equal(h.spans(1_000).length, 0, 'held while the function trace may still be adopted');
    assert.equal(
      h.conv.directory.adoptFunctionTrace('r1', {
        traceId: FUNCTION_TRACE,
        parentSpanId: 'b7ad6b7169203331',
      }),
      true,
    );
    assert.equal(h.conv.directory.lookupByTraceId(FUNCTION_TRACE), 'r1');
    assert.equal(h.conv.directory.lookupByTraceId(ROOT), undefined);
    const spans = h.spans(1_001);
    assert.equal(spans.length, 2, 'adoption releases the span before the hold time');
    const inv = spans.find((s) => s.name === 'fn') as LocatedSpan;
    assert.equal(inv.traceId, FUNCTION_TRACE);
    assert.equal(inv.spanId, before.spanId);
    assert.equal(inv.parentSpanId, 'b7ad6b7169203331');
    const child = spans.find((s) => s.name === 'responseLatency') as LocatedSpan;
    assert.equal(child.traceId, FUNCTION_TRACE);
    assert.equal(child.parentSpanId, inv.spanId);
    assert.equal(h.conv.stats.adoptions, 1);
  });

  it('moves the cold-start init span along with an adopted first invocation', () => {
    const h = converter();
    h.conv.ingest([
      { type: 'platform.initStart', timeMs: T0 - 300, initializationType: 'on-demand', phase: 'init' },
      {
        type: 'platform.initReport',
        timeMs: T0 - 10,
        initializationType: 'on-demand',
        phase: 'init',
        status: 'success',
        durationMs: 290,
        spans: [],
      },
      ...invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1')),
    ]);
    h.conv.directory.adoptFunctionTrace('r1', { traceId: FUNCTION_TRACE });
    const spans = h.spans(100);
    const inv = spans.find((s) => s.name === 'fn') as LocatedSpan;
    const init = spans.find((s) => s.name === 'init') as LocatedSpan;
    assert.equal(inv.parentSpanId, '', 'adopted without a parent: the invocation is the root');
    assert.equal(init.traceId, FUNCTION_TRACE);
    assert.equal(init.parentSpanId, inv.spanId);
  });

  it('refuses adoption once exported, except for the trace it already has', () => {
    const h = converter({ maxHeldMs: 0 });
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1')));
    assert.equal(h.spans(100).length, 2);
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: FUNCTION_TRACE }), false);
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: ROOT }), true);
    assert.equal(h.conv.directory.adoptFunctionTrace('nope', { traceId: FUNCTION_TRACE }), false);
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: 'not-hex' }), false);
  });

  it('rejects a malformed function trace id without touching the invocation', () => {
    const h = converter();
    h.conv.ingest(invocation('r1', 0, 50, xray(ROOT, '1111111111111111', '1')));
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: '0'.repeat(32) }), false);
    assert.equal(h.conv.directory.lookupByRequestId('r1')?.traceId, ROOT);
  });
});

describe('sampling', () => {
  const PASS_THROUGH_SAMPLED_0 = () => xray(ROOT, '1111111111111111', '0');
  const PASS_THROUGH_UNDECIDED = () => xray(ROOT, undefined, undefined);
  const ACTIVE = () => xray(ROOT, '1111111111111111', '1');

  it('exports Sampled=0 (PassThrough) invocations by default: always_on', () => {
    const h = converter({ maxHeldMs: 0 });
    h.conv.ingest(invocation('r1', 0, 50, PASS_THROUGH_SAMPLED_0()));
    const spans = h.spans(100);
    const inv = spans.find((s) => s.name === 'fn');
    assert.ok(inv, 'the invocation span is exported');
    assert.equal((inv.flags ?? 0) & 0xff, 1, 'exported spans carry the sampled flag');
    assert.equal(h.conv.stats.spansUnsampled, 0);
    assert.equal(h.conv.directory.lookupByRequestId('r1')?.sampled, true, 'logs say sampled too');
  });

  it('parentbased_always_on follows Sampled=0 and Sampled=1, and samples a header without a decision', () => {
    const h = converter({ maxHeldMs: 0, sampler: createSampler('parentbased_always_on') });
    h.conv.ingest(invocation('r0', 0, 50, PASS_THROUGH_SAMPLED_0()));
    h.conv.ingest(invocation('r1', 100, 150, xray(`683c4201${'a'.repeat(24)}`, '1111111111111111', '1')));
    h.conv.ingest(invocation('r2', 200, 250, xray(`683c4202${'a'.repeat(24)}`, undefined, undefined)));
    // A dropped invocation waits (5 s by default) for function spans that would keep it.
    const ids = h
      .spans(10_000)
      .filter((s) => s.name === 'fn')
      .map((s) => attrs(s.attributes)['faas.invocation_id']);
    assert.deepEqual(ids.sort(), ['r1', 'r2']);
    assert.equal(
      h.conv.stats.spansUnsampled,
      2,
      'the dropped invocation span and its phase span are counted',
    );
  });

  it('parentbased_always_off drops a header without a decision; always_off drops everything', () => {
    for (const name of ['parentbased_always_off', 'always_off'] as const) {
      const h = converter({ maxHeldMs: 0, sampler: createSampler(name) });
      h.conv.ingest(invocation('r1', 0, 50, PASS_THROUGH_UNDECIDED()));
      h.conv.ingest(invocation('r2', 100, 150, xray(`683c4202${'a'.repeat(24)}`, '1111111111111111', '1')));
      const exported = h.spans(1_000, true).filter((s) => s.name === 'fn').length;
      assert.equal(exported, name === 'always_off' ? 0 : 1, name);
    }
  });

  it('traceidratio keeps the share of trace ids the OpenTelemetry JS SDK keeps', () => {
    const sdk = new TraceIdRatioBasedSampler(0.25);
    const ours = createSampler('traceidratio', 0.25);
    let kept = 0;
    for (let i = 0; i < 2000; i++) {
      const traceId = randomBytes(16).toString('hex');
      const theirs = sdk.shouldSample(context.active(), traceId).decision === 2;
      assert.equal(ours.shouldSample(traceId, undefined), theirs, traceId);
      if (theirs) kept++;
    }
    assert.ok(kept > 400 && kept < 600, `kept ${kept} of 2000`);
    assert.equal(createSampler('traceidratio', 0).shouldSample('ab'.repeat(16), true), false);
    assert.equal(createSampler('parentbased_traceidratio', 0).shouldSample('ab'.repeat(16), true), true);
  });

  it('never an orphan: a dropped invocation whose function spans arrive is exported with them', () => {
    const h = converter({ maxHeldMs: 0, sampler: createSampler('always_off') });
    h.conv.ingest(invocation('r1', 0, 50, PASS_THROUGH_SAMPLED_0()));
    // The function's spans come a moment after the invocation ended (a batch processor's delay).
    assert.equal(h.spans(1_000).length, 0, 'held, not exported yet');
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: FUNCTION_TRACE }), true);
    const inv = h.spans(1_100).find((s) => s.name === 'fn');
    assert.equal(inv?.traceId, FUNCTION_TRACE);
    assert.equal((inv?.flags ?? 0) & 0xff, 1);
    assert.equal(h.conv.stats.invocationsKeptForFunction, 1);
  });

  it('a dropped invocation that left refuses adoption, so no span points at a parent never exported', () => {
    const h = converter({ maxHeldMs: 0, unsampledHoldMs: 1_000, sampler: createSampler('always_off') });
    h.conv.ingest(invocation('r1', 0, 50, ACTIVE()));
    assert.equal(h.spans(5_000).length, 0);
    assert.equal(h.conv.stats.spansUnsampled, 2);
    assert.equal(h.conv.directory.adoptFunctionTrace('r1', { traceId: ROOT }), false);
  });

  it('the older export_unsampled switch exports everything', () => {
    const h = converter({ maxHeldMs: 0, exportUnsampled: true, sampler: createSampler('always_off') });
    h.conv.ingest(invocation('r1', 0, 50, PASS_THROUGH_SAMPLED_0()));
    assert.ok(h.spans(100).find((s) => s.name === 'fn'));
  });

  it('treats a deferred Sampled decision (Sampled=?) as no decision', () => {
    const h = converter({ maxHeldMs: 0, sampler: createSampler('parentbased_always_on') });
    h.conv.ingest(
      invocation('r2', 100, 150, {
        type: 'X-Amzn-Trace-Id',
        value: `Root=1-683c4200-${'b'.repeat(24)};Sampled=?`,
      }),
    );
    assert.equal(h.spans(1_000).filter((s) => s.name === 'fn').length, 1);
  });

  it('exports an unsampled invocation once the function adopts it into a sampled trace', () => {
    const h = converter({ maxHeldMs: 0, sampler: createSampler('parentbased_always_on') });
    h.conv.ingest(invocation('r1', 0, 50, PASS_THROUGH_SAMPLED_0()));
    h.conv.directory.adoptFunctionTrace('r1', { traceId: FUNCTION_TRACE });
    const inv = h.spans(100).find((s) => s.name === 'fn');
    assert.equal(inv?.traceId, FUNCTION_TRACE);
    assert.equal((inv?.flags ?? 0) & 0xff, 1);
  });
});

describe('bounded state', () => {
  it('forgets exported invocations beyond the bound but keeps correlating recent ones', () => {
    const h = converter({ maxHeldMs: 0, maxInvocations: 3 });
    for (let i = 0; i < 10; i++) {
      const root = `683c42${i.toString(16).padStart(2, '0')}${'c'.repeat(24)}`;
      h.conv.ingest(invocation(`r${i}`, i * 100, i * 100 + 50, xray(root, '1111111111111111', '1')));
      h.spans(i * 100 + 60);
    }
    assert.equal(h.conv.heldInvocations, 0);
    assert.equal(h.conv.directory.lookupByRequestId('r0'), undefined, 'old ones forgotten');
    assert.ok(h.conv.directory.lookupByRequestId('r9'), 'recent ones still known for late logs');
    assert.equal(h.spans(2_000, true).length, 0, 'nothing left over for the final collect');
  });
});
