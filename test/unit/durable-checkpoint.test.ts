// Checkpointing the trace context on suspend, with the real durable execution SDK run by its local
// testing runner: what is written, when, under which names, and that the next invocation restores it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type DurableContext,
  type DurableExecutionInvocationInput,
  type DurableExecutionInvocationOutput,
  withDurableExecution,
} from '@aws/durable-execution-sdk-js';
import { LocalDurableTestRunner } from '@aws/durable-execution-sdk-js-testing';
import {
  type CheckpointOutcome,
  checkpointTraceContext,
  checkpointTraceContextOnSuspend,
  queueTraceCheckpoint,
} from '../../src/durable/checkpoint.js';
import { extractTraceContext } from '../../src/durable/extract.js';
import { operationsOf, traceCheckpoints } from '../../src/durable/operations.js';
import { type DurableTraceContext, formatTraceparent, toHeaders } from '../../src/durable/trace-context.js';

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

type Invocation = { event: Record<string, unknown>; result: { Status?: string } };
type Handler = (event: unknown, ctx: DurableContext) => Promise<unknown>;

/** Runs a durable handler to completion; every invocation's event (without the injected client) and answer. */
async function runExecution(
  handler: Handler,
  payload: unknown = {},
): Promise<{ invocations: Invocation[]; status: string; result: unknown }> {
  const durable = withDurableExecution(handler);
  const invocations: Invocation[] = [];
  const runner = new LocalDurableTestRunner({
    handlerFunction: async (
      event: DurableExecutionInvocationInput,
      context: Parameters<typeof durable>[1],
    ): Promise<DurableExecutionInvocationOutput> => {
      const { durableExecutionClient: _client, ...wire } = event as unknown as Record<string, unknown>;
      const copy = JSON.parse(JSON.stringify(wire)) as Record<string, unknown>;
      const result = await durable(event, context);
      invocations.push({ event: copy, result });
      return result;
    },
  });
  const execution = await runner.run({ payload });
  return { invocations, status: String(execution.getStatus()), result: execution.getResult() };
}

function checkpointsIn(event: unknown) {
  return traceCheckpoints(operationsOf(event)).sort((a, b) => a.n - b.n);
}

describe('trace checkpoints with the durable SDK', { timeout: 60_000 }, () => {
  before(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: false }));
  after(() => LocalDurableTestRunner.teardownTestEnvironment());

  it('writes a checkpoint on the first suspend only, then not again while the context is unchanged', async () => {
    const outcomes: CheckpointOutcome[] = [];
    const { invocations, status, result } = await runExecution(
      async (event, ctx) => {
        checkpointTraceContextOnSuspend(ctx, A, { onCheckpoint: (o) => outcomes.push(o) });
        const first = await ctx.step('first', async () => 1);
        await ctx.wait({ seconds: 1 });
        await ctx.wait({ seconds: 1 });
        const second = await ctx.step('second', async () => first + 1);
        return { second, input: (event as { n: number }).n };
      },
      { n: 7 },
    );

    assert.equal(status, 'SUCCEEDED');
    assert.deepEqual(result, { second: 2, input: 7 }, 'replay unaffected by the extra operations');
    assert.deepEqual(
      invocations.map((i) => i.result.Status),
      ['PENDING', 'PENDING', 'SUCCEEDED'],
    );
    assert.deepEqual(
      outcomes.map((o) => (o.written ? 'written' : o.reason)),
      ['written', 'unchanged'],
      'one hook call per suspend, none at completion',
    );
    const second = checkpointsIn(invocations[1]?.event);
    assert.equal(second.length, 1);
    const written = second[0];
    assert.match(written?.name ?? '', /^_otel_0_[0-9a-f]{8}$/);
    assert.deepEqual(written?.headers, toHeaders(A), 'the step result is the W3C headers');
    assert.equal(checkpointsIn(invocations[2]?.event).length, 1, 'nothing new for an unchanged context');

    // Stored as the SDK stores a step: a succeeded top-level STEP whose StepDetails.Result is the JSON.
    const op = operationsOf(invocations[1]?.event).find((o) => o['Name'] === written?.name);
    assert.equal(op?.['Type'], 'STEP');
    assert.equal(op?.['Status'], 'SUCCEEDED');
    assert.equal(op?.['ParentId'], undefined);
    assert.equal(typeof (op?.['StepDetails'] as { Result?: unknown })?.Result, 'string');

    const restored = extractTraceContext(invocations[2]?.event);
    assert.equal(restored?.source, 'checkpoint');
    assert.equal(formatTraceparent(restored as DurableTraceContext), formatTraceparent(A));
  });

  it('writes N+1 when the context changes, keeping the original parent', async () => {
    const { invocations, status } = await runExecution(async (_event, ctx) => {
      // What each invocation continues: the first one A; later ones what they restored, with more baggage.
      const restored = extractTraceContext({
        DurableExecutionArn: ctx.executionContext.durableExecutionArn,
        InitialExecutionState: {
          Operations: (ctx as unknown as { _executionContext: { _stepData: unknown } })._executionContext
            ._stepData,
        },
      });
      const current = restored
        ? {
            ...restored,
            spanId: 'ffffffffffffffff',
            baggage: `${restored.baggage ?? 'a=1'},n=${restored.checkpoint?.split('_')[2]}`,
          }
        : { ...A, baggage: 'a=1' };
      checkpointTraceContextOnSuspend(ctx, current);
      await ctx.wait({ seconds: 1 });
      await ctx.wait({ seconds: 1 });
      return 'done';
    });
    assert.equal(status, 'SUCCEEDED');
    const last = checkpointsIn(invocations[2]?.event);
    assert.deepEqual(
      last.map((c) => c.n),
      [0, 1],
    );
    assert.equal(last[1]?.headers?.['traceparent'], formatTraceparent(A), 'same trace, same original parent');
    assert.equal(last[1]?.headers?.['baggage'], 'a=1,n=0');
  });

  it('gives concurrent branches distinct names, and writes a context only once', async () => {
    const outcomes: CheckpointOutcome[] = [];
    const { invocations, status } = await runExecution(async (_event, ctx) => {
      await ctx.parallel('branches', [
        async (branch) => {
          outcomes.push(await checkpointTraceContext(branch, A));
          return 1;
        },
        async (branch) => {
          outcomes.push(await checkpointTraceContext(branch, B));
          return 2;
        },
        async (branch) => {
          outcomes.push(await checkpointTraceContext(branch, { ...B, spanId: '1111111111111111' }));
          return 3;
        },
      ]);
      await ctx.wait({ seconds: 1 });
      return 'done';
    });
    assert.equal(status, 'SUCCEEDED');
    const written = checkpointsIn(invocations[1]?.event);
    assert.equal(written.length, 2, 'A and B written, the third (B again, another parent) unchanged');
    assert.equal(new Set(written.map((c) => c.name)).size, 2);
    assert.deepEqual(
      written.map((c) => c.n),
      [0, 1],
    );
    assert.deepEqual(outcomes.map((o) => (o.written ? o.name.split('_')[2] : o.reason)).sort(), [
      '0',
      '1',
      'unchanged',
    ]);
    // The next invocation restores the newest one.
    assert.equal(
      formatTraceparent(extractTraceContext(invocations[1]?.event) as DurableTraceContext),
      formatTraceparent(B),
    );
  });

  it('writes nothing for an execution that completes in one invocation', async () => {
    const outcomes: CheckpointOutcome[] = [];
    const { invocations, status } = await runExecution(async (_event, ctx) => {
      checkpointTraceContextOnSuspend(ctx, A, { onCheckpoint: (o) => outcomes.push(o) });
      return ctx.step('only', async () => 'x');
    });
    assert.equal(status, 'SUCCEEDED');
    assert.equal(invocations.length, 1);
    assert.deepEqual(outcomes, []);
  });

  it('writes one checkpoint across retry and callback suspends', async () => {
    let attempts = 0;
    const runner = new LocalDurableTestRunner({
      handlerFunction: withDurableExecution(async (_event, ctx: DurableContext) => {
        checkpointTraceContextOnSuspend(ctx, B);
        const value = await ctx.step(
          'flaky',
          async () => {
            attempts++;
            if (attempts < 2) throw new Error('transient');
            return 'ok';
          },
          { retryStrategy: (_e, attempt) => ({ shouldRetry: attempt < 3, delay: { seconds: 1 } }) },
        );
        const approval = await ctx.waitForCallback('approval', async () => {}, { timeout: { minutes: 5 } });
        return { value, approval };
      }),
    });
    const running = runner.run({ payload: {} });
    const callback = runner.getOperation('approval');
    await callback.waitForData('SUBMITTED' as never);
    // Complete it only once the invocation that created it has suspended.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await callback.sendCallbackSuccess(JSON.stringify('yes'));
    const execution = await running;
    assert.equal(execution.getStatus(), 'SUCCEEDED');
    const names = execution
      .getOperations()
      .map((o) => o.getName())
      .filter((n): n is string => typeof n === 'string' && n.startsWith('_otel_'));
    assert.equal(names.length, 1, `one checkpoint across retry and callback suspends: ${names.join(', ')}`);
  });
});

describe('checkpoint outcomes without the SDK', () => {
  it('reports unsupported contexts and invalid trace contexts instead of throwing', async () => {
    assert.deepEqual(await checkpointTraceContext({}, A), { written: false, reason: 'unsupported' });
    assert.deepEqual(await checkpointTraceContext(null, A), { written: false, reason: 'unsupported' });
    const manager = { checkpoint: async () => {} };
    assert.deepEqual(await checkpointTraceContext({ checkpoint: manager }, { ...A, traceId: 'zz' }), {
      written: false,
      reason: 'invalid-context',
    });
    assert.deepEqual(queueTraceCheckpoint({ checkpoint: { ...manager, isTerminating: true } }, A).outcome, {
      written: false,
      reason: 'terminating',
    });
    assert.equal(
      checkpointTraceContextOnSuspend({ checkpoint: manager }, A),
      false,
      'no termination manager',
    );
  });

  it('numbers after the highest N found in the event, even an unusable one', async () => {
    const updates: Array<Record<string, unknown>> = [];
    const durableContext = {
      checkpoint: { checkpoint: async (_id: string, u: Record<string, unknown>) => void updates.push(u) },
    };
    const event = {
      InitialExecutionState: {
        Operations: [
          { Name: '_otel_4_abcdef00', Type: 'STEP', StepDetails: { Result: JSON.stringify(toHeaders(A)) } },
          { Name: '_otel_6_abcdef01', Type: 'STEP', Status: 'STARTED' },
        ],
      },
    };
    const outcome = await checkpointTraceContext(durableContext, B, { event });
    assert.equal(outcome.written, true);
    assert.match(outcome.written ? outcome.name : '', /^_otel_7_[0-9a-f]{8}$/);
    assert.deepEqual(
      updates.map((u) => u['Action']),
      ['START', 'SUCCEED'],
    );
    assert.equal(updates[1]?.['Payload'], JSON.stringify(toHeaders(B)), 'another trace: its own parent');
  });
});
