// Restoring a durable execution's trace context: the fallback chain case by case, Datadog's
// format, and robustness against malformed events.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decimalToHex64,
  fromDatadogHeaders,
  hex64ToDecimal,
  toDatadogHeaders,
  upperTraceId,
} from '../../src/durable/datadog.js';
import { extractTraceContext, isDurableEvent } from '../../src/durable/extract.js';
import { parseCheckpointName } from '../../src/durable/operations.js';
import {
  contextKey,
  type DurableTraceContext,
  formatTraceparent,
  isCompleteTraceContext,
  parseTraceparent,
  stableTraceState,
  toHeaders,
} from '../../src/durable/trace-context.js';

const ARN =
  'arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/order-1/6f1c2d3e';

const A: DurableTraceContext = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
};
const B: DurableTraceContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: 1,
};
const C: DurableTraceContext = {
  traceId: 'aaaabbbbccccddddeeeeffff00001111',
  spanId: '1234567890abcdef',
  traceFlags: 0,
};

type Op = Record<string, unknown>;

function execution(input: unknown = {}): Op {
  return {
    Id: 'exec-1',
    Type: 'EXECUTION',
    Status: 'STARTED',
    StartTimestamp: '2026-01-01T00:00:00.000Z',
    ExecutionDetails: { InputPayload: typeof input === 'string' ? input : JSON.stringify(input) },
  };
}

/** A checkpoint operation as the service returns it: a succeeded STEP whose result is the headers. */
function checkpoint(
  name: string,
  headers: unknown,
  endTimestamp = '2026-01-01T00:01:00.000Z',
  id = name,
): Op {
  return {
    Id: id,
    Name: name,
    Type: 'STEP',
    SubType: 'Step',
    Status: 'SUCCEEDED',
    StartTimestamp: endTimestamp,
    EndTimestamp: endTimestamp,
    StepDetails: { Attempt: 1, Result: typeof headers === 'string' ? headers : JSON.stringify(headers) },
  };
}

function step(id: string, name?: string): Op {
  return { Id: id, Name: name, Type: 'STEP', Status: 'SUCCEEDED', StepDetails: { Result: '1' } };
}

function durableEvent(operations: Op[] | Record<string, Op>): Record<string, unknown> {
  return {
    DurableExecutionArn: ARN,
    CheckpointToken: 'token',
    InitialExecutionState: { Operations: operations, NextMarker: '' },
  };
}

function asMap(operations: Op[]): Record<string, Op> {
  return Object.fromEntries(operations.map((op, i) => [String(op['Id'] ?? i), op]));
}

function ids(c: DurableTraceContext | undefined): string | undefined {
  return c === undefined ? undefined : formatTraceparent(c);
}

describe('durable event recognition', () => {
  it('recognises DurableExecutionArn and nothing else', () => {
    assert.equal(isDurableEvent(durableEvent([])), true);
    assert.equal(isDurableEvent({ headers: { traceparent: formatTraceparent(A) } }), false);
    assert.equal(isDurableEvent({ DurableExecutionArn: '' }), false);
    assert.equal(isDurableEvent(null), false);
    assert.equal(isDurableEvent('DurableExecutionArn'), false);
  });

  it('leaves a non-durable event to normal extraction, even with trace headers in it', () => {
    const event = { headers: { traceparent: formatTraceparent(A) }, InitialExecutionState: {} };
    assert.equal(extractTraceContext(event), undefined);
  });

  it('returns undefined for a durable event with no context anywhere', () => {
    assert.equal(
      extractTraceContext(durableEvent([execution({ orderId: 7 }), step('c4ca4238a0b92382')])),
      undefined,
    );
    assert.equal(extractTraceContext(durableEvent([])), undefined);
  });
});

describe('our checkpoints', () => {
  const operations = [
    execution({ headers: { traceparent: formatTraceparent(C) } }),
    step('c4ca4238a0b92382', 'fetch'),
    checkpoint('_otel_1_aa11bb22', toHeaders(A)),
    checkpoint('_otel_3_cc33dd44', toHeaders(B)),
    checkpoint('_otel_2_ee55ff66', toHeaders(C)),
  ];

  it('takes the highest N, whether Operations is a list or a map', () => {
    for (const ops of [operations, asMap(operations)]) {
      const restored = extractTraceContext(durableEvent(ops));
      assert.equal(ids(restored), ids(B));
      assert.equal(restored?.source, 'checkpoint');
      assert.equal(restored?.checkpoint, '_otel_3_cc33dd44');
    }
  });

  it('orders N as a number, not as text', () => {
    const restored = extractTraceContext(
      durableEvent([checkpoint('_otel_9', toHeaders(A)), checkpoint('_otel_10', toHeaders(B))]),
    );
    assert.equal(ids(restored), ids(B));
  });

  it('orders checkpoints of the same N (concurrent writers) by time', () => {
    const later = checkpoint('_otel_4_00000000', toHeaders(C), '2026-01-01T00:05:00.000Z');
    const earlier = checkpoint('_otel_4_ffffffff', toHeaders(A), '2026-01-01T00:04:00.000Z');
    assert.equal(ids(extractTraceContext(durableEvent([later, earlier]))), ids(C));
    assert.equal(ids(extractTraceContext(durableEvent([earlier, later]))), ids(C));
  });

  it('carries tracestate and baggage, and accepts an update-shaped Payload', () => {
    const withState = {
      ...A,
      traceState: 'vendor=x,dd=s:1;p:0000000000000001',
      baggage: 'tenant=acme,plan=gold',
    };
    const op = { Id: 'x', Name: '_otel_0', Type: 'STEP', Payload: JSON.stringify(toHeaders(withState)) };
    const restored = extractTraceContext(durableEvent([op]));
    assert.equal(restored?.traceState, withState.traceState);
    assert.equal(restored?.baggage, withState.baggage);
  });

  it('passes over a newest checkpoint without a usable payload for the one before it', () => {
    const started = {
      Id: 'x',
      Name: '_otel_5_abcdef01',
      Type: 'STEP',
      Status: 'STARTED',
      StepDetails: { Attempt: 0 },
    };
    const broken = checkpoint('_otel_4_abcdef02', '{"traceparent": "00-zz');
    const restored = extractTraceContext(
      durableEvent([checkpoint('_otel_3', toHeaders(A)), started, broken]),
    );
    assert.equal(ids(restored), ids(A));
    assert.equal(restored?.checkpoint, '_otel_3');
  });

  it('ignores operations whose names only look like checkpoints', () => {
    for (const name of [
      '_otel_',
      '_otel_x',
      '_otel_-1',
      '_otel_1_',
      '_otel_1_UPPER',
      'x_otel_1',
      '_otel_1_a-b',
    ]) {
      assert.equal(parseCheckpointName(name), undefined, name);
      assert.equal(extractTraceContext(durableEvent([checkpoint(name, toHeaders(A))])), undefined, name);
    }
  });
});

describe("Datadog's checkpoints", () => {
  it('converts 64-bit decimal ids to W3C hex', () => {
    assert.equal(decimalToHex64('1'), '0000000000000001');
    assert.equal(decimalToHex64('18446744073709551615'), 'ffffffffffffffff');
    assert.equal(decimalToHex64('18446744073709551616'), undefined, 'beyond 64 bits');
    assert.equal(decimalToHex64('0'), undefined, 'zero is no id');
    assert.equal(decimalToHex64('-5'), undefined);
    assert.equal(decimalToHex64('12ab'), undefined);
    assert.equal(decimalToHex64(123), '000000000000007b');
    assert.equal(hex64ToDecimal('ffffffffffffffff'), '18446744073709551615');
  });

  it('takes the upper 64 bits of a 128-bit trace id from _dd.p.tid', () => {
    assert.equal(upperTraceId('_dd.p.dm=-0,_dd.p.tid=66A0B1C200000000'), '66a0b1c200000000');
    assert.equal(upperTraceId('_dd.p.dm=-0'), undefined);
    assert.equal(upperTraceId('_dd.p.tid=123'), undefined, 'malformed tid');
    const c = fromDatadogHeaders({
      'x-datadog-trace-id': '1311768467463790320',
      'x-datadog-parent-id': '4611686018427387904',
      'x-datadog-tags': '_dd.p.dm=-0,_dd.p.tid=66a0b1c200000000',
    });
    assert.equal(c?.traceId, `66a0b1c200000000${1311768467463790320n.toString(16).padStart(16, '0')}`);
    assert.equal(c?.spanId, '4000000000000000');
    assert.equal(c?.traceFlags, 1, 'no priority: kept');
  });

  it('maps the sampling priority to the sampled flag', () => {
    const base = { 'x-datadog-trace-id': '42', 'x-datadog-parent-id': '43' };
    const flags = (p: unknown) =>
      fromDatadogHeaders({ ...base, 'x-datadog-sampling-priority': p })?.traceFlags;
    assert.equal(flags('2'), 1);
    assert.equal(flags('1'), 1);
    assert.equal(flags('0'), 0);
    assert.equal(flags('-1'), 0);
    assert.equal(flags(1), 1);
    assert.equal(flags('keep'), 1, 'unreadable priority: no decision');
    assert.equal(fromDatadogHeaders(base)?.traceId, '0000000000000000000000000000002a');
  });

  it('reads a checkpoint written in the documented format (x-datadog-* with traceparent and tracestate)', () => {
    // What Datadog's tracer injects for a 128-bit, user-kept trace.
    const traceId = '66a0b1c2000000000123456789abcdef';
    const parent = 'fedcba9876543210';
    const payload = {
      'x-datadog-trace-id': BigInt(`0x${traceId.slice(16)}`).toString(10),
      'x-datadog-parent-id': BigInt(`0x${parent}`).toString(10),
      'x-datadog-sampling-priority': '2',
      'x-datadog-tags': `_dd.p.dm=-4,_dd.p.tid=${traceId.slice(0, 16)}`,
      traceparent: `00-${traceId}-${parent}-01`,
      tracestate: `dd=s:2;p:${parent};t.dm:-4;t.tid:${traceId.slice(0, 16)},other=1`,
    };
    const restored = extractTraceContext(
      durableEvent([execution({}), checkpoint('_datadog_0', {}), checkpoint('_datadog_1', payload)]),
    );
    assert.equal(restored?.source, 'datadog-checkpoint');
    assert.equal(restored?.checkpoint, '_datadog_1');
    assert.equal(restored?.traceId, traceId);
    assert.equal(restored?.spanId, parent);
    assert.equal(restored?.traceFlags, 1);
    assert.equal(restored?.traceState, payload.tracestate);
  });

  it('lets the Datadog ids win over a traceparent of another trace, and uses traceparent alone when they are missing', () => {
    const dd = { ...toDatadogHeaders(A), traceparent: formatTraceparent(B), tracestate: 'b=1' };
    const both = extractTraceContext(durableEvent([checkpoint('_datadog_0', dd)]));
    assert.equal(ids(both), ids(A));
    assert.equal(both?.traceState, undefined, "the other trace's tracestate is not taken");
    const onlyW3c = extractTraceContext(
      durableEvent([checkpoint('_datadog_0', { traceparent: formatTraceparent(B) })]),
    );
    assert.equal(ids(onlyW3c), ids(B));
  });

  it('prefers our checkpoint to Datadog’s whatever their N', () => {
    const ops = [checkpoint('_datadog_7', toDatadogHeaders(A)), checkpoint('_otel_0', toHeaders(B))];
    assert.equal(ids(extractTraceContext(durableEvent(ops))), ids(B));
    assert.equal(ids(extractTraceContext(durableEvent([ops[0] as Op]))), ids(A));
  });

  it('round-trips any W3C id pair through Datadog headers', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    fc.assert(
      fc.property(hex(32), hex(16), fc.boolean(), (traceId, spanId, sampled) => {
        fc.pre(!/^0+$/.test(traceId.slice(16)) && !/^0+$/.test(spanId));
        const c = { traceId, spanId, traceFlags: sampled ? 1 : 0 };
        const back = fromDatadogHeaders(toDatadogHeaders(c));
        assert.deepEqual(back, c);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the input payload fallback', () => {
  it('uses the headers of the original input when no checkpoint exists', () => {
    for (const input of [
      { headers: { traceparent: formatTraceparent(A), tracestate: 'x=1' } },
      { headers: { Traceparent: formatTraceparent(A), TraceState: 'x=1' } },
      { traceparent: formatTraceparent(A), tracestate: 'x=1' },
      { _datadog: { ...toDatadogHeaders(A), tracestate: 'x=1', traceparent: formatTraceparent(A) } },
    ]) {
      const restored = extractTraceContext(durableEvent([execution(input), step('c4ca4238a0b92382')]));
      assert.equal(ids(restored), ids(A), JSON.stringify(input));
      assert.equal(restored?.source, 'input');
      assert.equal(restored?.traceState, 'x=1');
    }
  });

  it('is not used once a checkpoint exists', () => {
    const ops = [
      execution({ headers: { traceparent: formatTraceparent(A) } }),
      checkpoint('_otel_0', toHeaders(B)),
    ];
    assert.equal(ids(extractTraceContext(durableEvent(ops))), ids(B));
  });

  it('gives undefined for an input that is not JSON or has incomplete headers', () => {
    for (const input of [
      'not json',
      '"a string"',
      { headers: { traceparent: `00-${'0'.repeat(32)}-${A.spanId}-01` } },
      { headers: { traceparent: `00-${A.traceId}-${'0'.repeat(16)}-01` } },
      { headers: { traceparent: `ff-${A.traceId}-${A.spanId}-01` } },
      { headers: { 'x-datadog-trace-id': '42' } },
      { headers: 'traceparent' },
    ]) {
      assert.equal(extractTraceContext(durableEvent([execution(input)])), undefined, JSON.stringify(input));
    }
  });
});

describe("the user's extractor", () => {
  const ops = [
    execution({ headers: { traceparent: formatTraceparent(C) } }),
    checkpoint('_otel_0', toHeaders(B)),
  ];

  it('takes precedence over checkpoints and input', () => {
    const restored = extractTraceContext(durableEvent(ops), {
      extractor: () => ({ ...A, traceId: A.traceId.toUpperCase() }),
    });
    assert.equal(ids(restored), ids(A));
    assert.equal(restored?.source, 'extractor');
  });

  it('lets the chain continue when it finds nothing complete or throws', () => {
    for (const extractor of [
      () => undefined,
      () => ({ traceId: A.traceId }),
      () => ({ ...A, traceFlags: 256 }),
      () => 'traceparent',
      () => {
        throw new Error('boom');
      },
    ]) {
      const restored = extractTraceContext(durableEvent(ops), { extractor });
      assert.equal(ids(restored), ids(B));
      assert.equal(restored?.source, 'checkpoint');
    }
  });

  it('is given the raw event', () => {
    let seen: unknown;
    const event = durableEvent(ops);
    extractTraceContext(event, {
      extractor: (e) => {
        seen = e;
        return undefined;
      },
    });
    assert.equal(seen, event);
  });
});

describe('comparisons for checkpointing', () => {
  it("ignores the parent id and Datadog's p: in tracestate, nothing else", () => {
    const base = { ...A, traceState: 'dd=s:1;p:00000000000000aa;t.dm:-0,x=1', baggage: 'k=v' };
    assert.equal(contextKey(base), contextKey({ ...base, spanId: 'ffffffffffffffff' }));
    assert.equal(
      contextKey(base),
      contextKey({ ...base, traceState: 'dd=s:1;p:00000000000000bb;t.dm:-0, x=1' }),
    );
    assert.notEqual(
      contextKey(base),
      contextKey({ ...base, traceState: 'dd=s:2;p:00000000000000aa;t.dm:-0,x=1' }),
    );
    assert.notEqual(contextKey(base), contextKey({ ...base, baggage: 'k=w' }));
    assert.notEqual(contextKey(base), contextKey({ ...base, traceFlags: 0 }));
    assert.notEqual(contextKey(base), contextKey({ ...base, traceId: B.traceId }));
    assert.equal(stableTraceState('dd=p:0000000000000001'), '');
    assert.equal(stableTraceState(undefined), '');
  });

  it('parses only valid traceparent values', () => {
    assert.deepEqual(parseTraceparent(formatTraceparent(A)), A);
    assert.deepEqual(parseTraceparent(` ${formatTraceparent(A).toUpperCase()} `), A);
    assert.equal(
      parseTraceparent(`${formatTraceparent(A)}-extra`),
      undefined,
      'version 00 has no more fields',
    );
    assert.deepEqual(parseTraceparent(`01-${A.traceId}-${A.spanId}-01-future`), A);
    assert.equal(parseTraceparent(`00-${A.traceId}-${A.spanId}`), undefined);
  });
});

describe('malformed input never throws', () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  const name = fc.oneof(
    fc.constantFrom('_otel_0', '_otel_1_ab', '_otel_99', '_datadog_0', '_datadog_12', '_otel_2_zz'),
    fc.string({ maxLength: 12 }),
  );
  const payload = fc.oneof(
    json,
    json.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 40 }),
    fc
      .record(
        {
          traceparent: fc.oneof(fc.constant(formatTraceparent(A)), fc.string({ maxLength: 60 })),
          'x-datadog-trace-id': fc.oneof(
            fc.bigInt({ min: -5n, max: 1n << 70n }).map(String),
            fc.string({ maxLength: 5 }),
          ),
          'x-datadog-parent-id': fc.oneof(
            fc.bigInt({ min: -5n, max: 1n << 70n }).map(String),
            fc.string({ maxLength: 5 }),
          ),
          'x-datadog-tags': fc.string({ maxLength: 40 }),
          'x-datadog-sampling-priority': json,
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
  );
  const operation = fc.oneof(
    json,
    fc.record(
      {
        Id: fc.oneof(fc.string({ maxLength: 8 }), json),
        Name: name,
        Type: fc.constantFrom('STEP', 'EXECUTION', 'WAIT', 42),
        EndTimestamp: fc.oneof(fc.date({ noInvalidDate: false }), fc.string({ maxLength: 10 }), json),
        StepDetails: fc.oneof(json, fc.record({ Result: payload }, { requiredKeys: [] })),
        Payload: payload,
        ExecutionDetails: fc.oneof(json, fc.record({ InputPayload: payload }, { requiredKeys: [] })),
      },
      { requiredKeys: [] },
    ),
  );
  const operations = fc.oneof(
    fc.array(operation, { maxLength: 8 }),
    fc.dictionary(fc.string({ maxLength: 6 }), operation, { maxKeys: 8 }),
    json,
  );
  const event = fc.oneof(
    fc.record(
      {
        DurableExecutionArn: fc.oneof(fc.constant(ARN), json),
        InitialExecutionState: fc.oneof(json, fc.record({ Operations: operations }, { requiredKeys: [] })),
      },
      { requiredKeys: [] },
    ),
    json,
    fc.anything(),
  );

  it('returns undefined or a complete context for any event, list or map', () => {
    fc.assert(
      fc.property(event, (e) => {
        const restored = extractTraceContext(e);
        assert.ok(restored === undefined || isCompleteTraceContext(restored));
      }),
      { numRuns: 1500 },
    );
  });

  it('survives getters that throw', () => {
    const hostile = {
      DurableExecutionArn: ARN,
      get InitialExecutionState(): never {
        throw new Error('hostile');
      },
    };
    assert.equal(extractTraceContext(hostile), undefined);
    const hostileOp = durableEvent([
      {
        get Name(): never {
          throw new Error('hostile');
        },
      },
    ]);
    assert.equal(extractTraceContext(hostileOp), undefined);
  });
});
