// A durable execution, suspended and resumed several times (a timer, a parallel step whose branch
// waits, a callback), ends in the real OpenTelemetry Collector as one trace holding every
// invocation: each handler span continues the restored context under the execution's original
// parent, and each platform span joins as its sibling.
//
// The durable execution SDK's testing backend (LocalDurableTestRunner) keeps the execution's state
// and decides when to invoke, as the Lambda service does; each invocation is one simulator
// invocation whose event carries the durable state. Invocations alternate between two execution
// environments (two simulators, each with its own extension), so nothing can live in one
// extension's memory. The function talks to the backend through a relay in this process.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import type {
  DurableExecutionInvocationInput,
  DurableExecutionInvocationOutput,
} from '@aws/durable-execution-sdk-js';
import { LocalDurableTestRunner } from '@aws/durable-execution-sdk-js-testing';
import {
  attributesToObject,
  type Collector,
  type CollectorOutput,
  collectorBinary,
  startCollector,
} from '../support/collector/collector.js';
import type { LambdaSimulator } from '../../tools/simulator/index.js';
import { extensionEnvironment, REPO_ROOT } from '../support/e2e-harness.js';

const UPSTREAM_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const UPSTREAM_PARENT = '00f067aa0ba902b7';
const FUNCTION = 'durable-orders';
const EXECUTION_NAME = 'order-42';

interface DurableClient {
  checkpoint(params: Record<string, unknown>): Promise<unknown>;
  getExecutionState(params: Record<string, unknown>): Promise<unknown>;
}

let col: Collector;
let relay: Server;
let relayUrl: string;
const sims: LambdaSimulator[] = [];
/** The backend's client for the execution in progress, and the ARN mapping (see the proxy). */
let client: DurableClient | undefined;
const arns = { backend: '', lambda: '' };

before(
  async () => {
    // The function imports the package's ./durable entry point: build it (the layer is built by the harness).
    execFileSync(process.execPath, ['src/durable/build.mjs', '--no-types'], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    await collectorBinary();
    col = await startCollector();
    relay = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        try {
          const params = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          if (client === undefined) throw new Error('no execution in progress');
          // The backend knows the execution by its own id; the function saw a Lambda-shaped ARN.
          if (params['DurableExecutionArn'] === arns.lambda) params['DurableExecutionArn'] = arns.backend;
          const answer =
            req.url === '/checkpoint'
              ? await client.checkpoint(params)
              : await client.getExecutionState(params);
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        } catch (error) {
          res
            .writeHead(500, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: String(error) }));
        }
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const address = relay.address();
    relayUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    for (let i = 0; i < 2; i++) {
      const { sim } = await extensionEnvironment({
        handler: 'durable-workflow.mjs',
        endpoint: col.endpoint,
        functionName: FUNCTION,
        timeoutMs: 15_000,
        env: { DURABLE_RELAY_URL: relayUrl, AWS_LAMBDA_LOG_LEVEL: 'INFO' },
      });
      sims.push(sim);
    }
    await Promise.all(sims.map((s) => s.start()));
    await LocalDurableTestRunner.setupTestEnvironment({ skipTime: false });
  },
  { timeout: 20 * 60_000 },
);

after(async () => {
  await LocalDurableTestRunner.teardownTestEnvironment().catch(() => {});
  await Promise.all(sims.map((s) => s.close()));
  await new Promise((resolve) => relay?.close(resolve));
  await col?.stop();
});

interface Executed {
  invocations: { requestId: string; environment: number; status: unknown }[];
  requestIds: string[];
}

/** Runs the fixture's workflow to completion through the backend, alternating environments. */
async function runWorkflow(payload: Record<string, unknown>): Promise<Executed> {
  const invocations: Executed['invocations'] = [];
  let suspended = 0;
  const runner = new LocalDurableTestRunner({
    handlerFunction: async (
      event: DurableExecutionInvocationInput,
    ): Promise<DurableExecutionInvocationOutput> => {
      const { durableExecutionClient, ...wire } = event as DurableExecutionInvocationInput & {
        durableExecutionClient: DurableClient;
      };
      client = durableExecutionClient;
      arns.backend = wire.DurableExecutionArn;
      arns.lambda = `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION}:$LATEST/durable-execution/${EXECUTION_NAME}/${wire.DurableExecutionArn}`;
      const environment = invocations.length % 2;
      const result = await (sims[environment] as LambdaSimulator).invoke({
        ...wire,
        DurableExecutionArn: arns.lambda,
      });
      const output = result.response as DurableExecutionInvocationOutput;
      invocations.push({ requestId: result.requestId, environment, status: output?.Status ?? result.status });
      if (output?.Status === 'PENDING') suspended++;
      return output;
    },
  });
  const running = runner.run({ payload });
  // The callback is completed once the invocation that created it has suspended (a completion
  // racing the suspension would leave the backend no pending operation to answer PENDING for).
  const callback = runner.getOperation('approval');
  await callback.waitForData('SUBMITTED' as never);
  const suspendedBefore = suspended;
  const deadline = Date.now() + 30_000;
  while (suspended === suspendedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await callback.sendCallbackSuccess(JSON.stringify('approved'));
  const execution = await running;

  assert.equal(execution.getStatus(), 'SUCCEEDED', `invocations: ${JSON.stringify(invocations)}`);
  assert.deepEqual(execution.getResult(), {
    order: 42,
    checks: ['fraud-ok', 'stock-ok:3'],
    approval: '"approved"',
  });
  assert.ok(invocations.length >= 4, `suspended and resumed several times: ${JSON.stringify(invocations)}`);
  assert.deepEqual(
    invocations.map((i) => i.status),
    [...Array(invocations.length - 1).fill('PENDING'), 'SUCCEEDED'],
  );
  assert.deepEqual(
    new Set(invocations.map((i) => i.environment)),
    new Set([0, 1]),
    'both environments served it',
  );
  return { invocations, requestIds: invocations.map((i) => i.requestId) };
}

type SpanOut = CollectorOutput['spans'][number];
const invocationId = (s: SpanOut) =>
  attributesToObject(s.item.attributes)['faas.invocation_id'] as string | undefined;
const isPlatform = (s: SpanOut) =>
  s.item.kind === 2 && (s.resource.attributes ?? []).some((a) => a.key === 'telemetry.distro.name');

/** The platform and handler spans of these invocations, in invocation order, once all arrived. */
async function spansOf(
  requestIds: string[],
): Promise<{ out: CollectorOutput; platform: SpanOut[]; handlers: SpanOut[] }> {
  const pick = (o: CollectorOutput) => {
    const byId = (spans: SpanOut[]) =>
      requestIds
        .map((id) => spans.find((s) => invocationId(s) === id))
        .filter((s): s is SpanOut => s !== undefined);
    return {
      platform: byId(o.spans.filter(isPlatform)),
      handlers: byId(o.spans.filter((s) => s.item.name === 'durable-workflow')),
    };
  };
  const out = await col.waitFor((o) => {
    const { platform, handlers } = pick(o);
    return platform.length === requestIds.length && handlers.length === requestIds.length;
  }, 30_000);
  return { out, ...pick(out) };
}

test('every invocation of a durable execution lands in one trace, across environments', {
  timeout: 120_000,
}, async () => {
  const { requestIds } = await runWorkflow({
    orderId: 42,
    headers: { traceparent: `00-${UPSTREAM_TRACE}-${UPSTREAM_PARENT}-01` },
  });
  // Everything is exported at the end of each invocation (nothing waits for SHUTDOWN).
  const { out, platform, handlers } = await spansOf(requestIds);

  // One trace, the upstream caller's; every handler and platform span a child of its span.
  for (const s of [...platform, ...handlers]) {
    assert.equal(s.item.traceId, UPSTREAM_TRACE, `${s.item.name} ${invocationId(s)}`);
    assert.equal(
      s.item.parentSpanId,
      UPSTREAM_PARENT,
      `${s.item.name} ${invocationId(s)}: sibling under the original parent`,
    );
  }
  assert.deepEqual(
    handlers.map((s) => attributesToObject(s.item.attributes)['fixture.restored_from']),
    ['input', ...Array(requestIds.length - 1).fill('checkpoint')],
    'the first invocation continues the input headers, every later one the checkpoint',
  );
  const spanIds = new Set([...platform, ...handlers].map((s) => s.item.spanId));
  assert.equal(spanIds.size, 2 * requestIds.length, 'platform and handler spans are distinct spans');

  // The execution's identity on spans and logs; only aws.lambda.durable on metrics.
  for (const s of [...platform, ...handlers]) {
    const a = attributesToObject(s.item.attributes);
    assert.equal(a['aws.lambda.durable_execution.arn'], arns.lambda);
    assert.equal(a['aws.lambda.durable_execution.name'], EXECUTION_NAME);
    assert.equal(a['aws.lambda.durable_execution.id'], arns.backend);
  }
  for (const s of platform) assert.equal(attributesToObject(s.item.attributes)['aws.lambda.durable'], true);

  // The durable SDK's log line names the execution itself, so its record carries the execution's
  // identity; the invocation's other lines carry it when the invocation is known to be durable by
  // the time they are encoded (it depends on arrival order), and its trace in any case.
  const functionLines = out.logRecords.filter((r) =>
    r.item.attributes?.some((a) => a.key === 'aws.lambda.log.type' && a.value?.stringValue === 'function'),
  );
  const line = (text: string) => {
    const record = functionLines.find((r) => String(r.item.body?.stringValue).includes(text));
    assert.ok(record, `"${text}" logged through the Telemetry API`);
    assert.equal(attributesToObject(record.item.attributes)['faas.invocation_id'], requestIds[0], text);
    assert.equal(record.item.traceId, UPSTREAM_TRACE, text);
    return attributesToObject(record.item.attributes);
  };
  const sdkLine = line('accepting order 42');
  assert.equal(sdkLine['aws.lambda.durable_execution.arn'], arns.lambda);
  assert.equal(sdkLine['aws.lambda.durable_execution.name'], EXECUTION_NAME);
  assert.equal(sdkLine['aws.lambda.durable_execution.id'], arns.backend);
  line('order 42 accepted');

  const invocationPoints = out.metricPoints
    .filter((m) => m.item.name === 'faas.invocations')
    .flatMap((m) => m.item.sum?.dataPoints ?? []);
  assert.ok(invocationPoints.length > 0);
  assert.ok(
    invocationPoints.some((p) => attributesToObject(p.attributes)['aws.lambda.durable'] === true),
    'invocation metrics say durable',
  );
  for (const m of out.metricPoints) {
    const points = [
      ...(m.item.sum?.dataPoints ?? []),
      ...((m.item.histogram?.dataPoints ?? []) as { attributes?: [] }[]),
    ];
    for (const p of points) {
      const keys = Object.keys(attributesToObject(p.attributes));
      assert.ok(
        !keys.some((k) => k.startsWith('aws.lambda.durable_execution')),
        `${m.item.name}: no execution ARN`,
      );
    }
  }
});

test('without an upstream caller, the first handler span anchors the execution trace', {
  timeout: 120_000,
}, async () => {
  const { requestIds } = await runWorkflow({ orderId: 42 });
  const { platform, handlers } = await spansOf(requestIds);
  const [firstPlatform, ...laterPlatform] = platform;
  const [firstHandler, ...laterHandlers] = handlers;
  assert.ok(firstPlatform && firstHandler);
  const traceIds = new Set([...platform, ...handlers].map((s) => s.item.traceId));
  assert.equal(traceIds.size, 1, 'one trace');
  assert.notEqual(firstHandler.item.traceId, UPSTREAM_TRACE);
  // The first handler span was a root: the extension made it a child of its platform span.
  assert.equal(firstHandler.item.parentSpanId, firstPlatform.item.spanId);
  for (const s of [...laterPlatform, ...laterHandlers]) {
    assert.equal(s.item.parentSpanId, firstHandler.item.spanId, `${s.item.name} ${invocationId(s)}`);
  }
  assert.deepEqual(
    handlers.map((s) => attributesToObject(s.item.attributes)['fixture.restored_from']),
    ['none', ...Array(requestIds.length - 1).fill('checkpoint')],
  );
});
