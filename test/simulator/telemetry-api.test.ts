// Telemetry API contract: subscription validation and its timing rule, then the delivery side:
// buffering limits, the batching timeout, retries, and logsDropped for a subscriber that falls behind.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { ManualExtension } from '../support/simulator/manual-extension.js';
import { createOptDir, sleeperLauncher } from '../support/simulator/opt-dir.js';
import { LambdaSimulator } from '../../tools/simulator/simulator.js';
import { validateSubscription } from '../../tools/simulator/telemetry-api.js';
import type { SimulatorOptions, TelemetryEnvelope } from '../../tools/simulator/types.js';

const SCENARIO = 'test/fixtures/functions/scenario.mjs';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const valid = {
  schemaVersion: '2022-12-13',
  types: ['platform', 'function'],
  buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
  destination: { protocol: 'HTTP', URI: 'http://sandbox.localdomain:4243/telemetry' },
};

test('subscription validation: versions, types, buffering ranges, destination', () => {
  const rules = { mode: 'on-demand' as const };
  assert.equal(validateSubscription(valid, rules).ok, true);
  const refused = (body: unknown, r: Parameters<typeof validateSubscription>[1] = rules) => {
    const result = validateSubscription(body, r);
    assert.equal(result.ok, false, JSON.stringify(body));
    return result.ok ? '' : result.errorMessage;
  };
  assert.match(refused({ ...valid, schemaVersion: '2021-01-01' }), /schemaVersion/);
  assert.match(refused({ ...valid, types: [] }), /types/);
  assert.match(refused({ ...valid, types: ['platform', 'metrics'] }), /metrics/);
  for (const [key, bad, good] of [
    ['maxItems', 999, 1000],
    ['maxItems', 10001, 10000],
    ['maxBytes', 262143, 262144],
    ['maxBytes', 1048577, 1048576],
    ['timeoutMs', 24, 25],
    ['timeoutMs', 30001, 30000],
    ['timeoutMs', 25.5, 30],
  ] as const) {
    assert.match(refused({ ...valid, buffering: { ...valid.buffering, [key]: bad } }), new RegExp(key));
    assert.equal(
      validateSubscription({ ...valid, buffering: { ...valid.buffering, [key]: good } }, rules).ok,
      true,
    );
  }
  assert.match(
    refused({ ...valid, destination: { protocol: 'TCP', URI: 'http://sandbox.localdomain:1' } }),
    /HTTP/,
  );
  assert.match(
    refused({ ...valid, destination: { protocol: 'HTTP', URI: 'http://example.com:1/' } }),
    /sandbox/,
  );
  assert.match(refused(valid, { mode: 'managed-instances' }), /2025-01-29/);
  assert.equal(
    validateSubscription({ ...valid, schemaVersion: '2025-01-29' }, { mode: 'managed-instances' }).ok,
    true,
  );
  assert.match(refused(valid, { mode: 'on-demand', refuseSchemaVersions: ['2022-12-13'] }), /not supported/);
  // Buffering may be left out (defaults apply).
  const { buffering: _, ...noBuffering } = valid;
  assert.equal(validateSubscription(noBuffering, rules).ok, true);
});

/** A simulator with one manually driven extension, subscribed with `subscription` during init. */
async function subscribed(
  subscription: Record<string, unknown>,
  options: Partial<SimulatorOptions> = {},
  listener: (ext: ManualExtension) => void = () => undefined,
) {
  const opt = createOptDir({ manual: sleeperLauncher() });
  const sim = new LambdaSimulator({
    optDir: opt.dir,
    handler: SCENARIO,
    shutdownBudgetMs: 200,
    unthrottled: true,
    ...options,
  });
  cleanups.push(
    () => opt.remove(),
    () => sim.close(),
  );
  await sim.listen();
  const started = sim.start();
  await sim.waitFor('process-start', (e) => e.name === 'manual');
  const ext = new ManualExtension(sim.runtimeApiAddress, 'manual');
  cleanups.push(() => ext.close());
  listener(ext);
  await ext.listen();
  assert.equal((await ext.register(['INVOKE', 'SHUTDOWN'])).status, 200);
  const answer = await ext.subscribe(ext.subscription(subscription));
  // Park on next and keep coming back, as an extension does.
  void (async () => {
    for (;;) {
      const event = await ext.next().catch(() => undefined);
      if (event?.status !== 200 || (event.body as { eventType?: string }).eventType === 'SHUTDOWN') return;
    }
  })();
  const init = await started;
  return { sim, ext, answer, init };
}

const functionRecords = (records: TelemetryEnvelope[]) => records.filter((r) => r.type === 'function');

test('subscribe over HTTP: 400 with errorType/errorMessage, 200, then 403 once init is over', async () => {
  const { sim, ext, answer, init } = await subscribed({ buffering: { maxItems: 5 } });
  assert.equal(answer.status, 400);
  assert.equal((answer.body as { errorType: string }).errorType, 'ValidationError');
  assert.match((answer.body as { errorMessage: string }).errorMessage, /maxItems/);
  assert.equal(init.status, 'success');

  const after = await ext.subscribe(ext.subscription());
  assert.equal(after.status, 403);
  const stranger = await new ManualExtension(sim.runtimeApiAddress, 'x').subscribe(valid);
  assert.equal(stranger.status, 403);
  assert.deepEqual(
    sim.timeline.of('subscribe').map((s) => s.status),
    [400, 403, 403],
  );
});

test('local-emulator behaviour: subscribe answered 202 and nothing delivered', async () => {
  const { sim, ext, answer } = await subscribed({}, { telemetry: { subscribeStatus: 202 } });
  assert.equal(answer.status, 202);
  await sim.invoke({ log: ['hello'] });
  assert.equal(ext.posts.length, 0);
  assert.equal(sim.timeline.of('telemetry-delivery').length, 0);
});

test('maxItems and maxBytes bound every POST; records arrive in order, init records included', async () => {
  const { sim, ext, answer } = await subscribed({
    buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 1000 },
  });
  assert.equal(answer.status, 200);
  const lines = Array.from({ length: 2500 }, (_, i) => `line ${i}`);
  await sim.invoke({ log: lines });
  const big = Array.from({ length: 300 }, (_, i) => `${i} ${'y'.repeat(2000)}`);
  await sim.invoke({ log: big });
  await sim.shutdown();

  for (const post of ext.posts) {
    assert.ok(post.records.length <= 1000, `POST of ${post.records.length} records`);
    assert.ok(post.bytes <= 262144, `POST of ${post.bytes} bytes`);
  }
  assert.ok(
    ext.posts.some((p) => p.records.length === 1000),
    'a full batch went out as soon as it had 1000 items',
  );
  const delivered = functionRecords(ext.records).map((r) => String(r.record));
  const firstBatch = delivered.filter((l) => l.includes('\tINFO\tline '));
  assert.equal(firstBatch.length, 2500);
  assert.deepEqual(
    firstBatch.map((l) => Number(l.split('line ')[1])),
    lines.map((_, i) => i),
  );
  assert.equal(delivered.filter((l) => l.endsWith('y'.repeat(2000))).length, 300);
  const types = ext.records.map((r) => r.type);
  assert.equal(types[0], 'platform.initStart', 'init records emitted before the subscription are delivered');
  assert.ok(
    types.includes('platform.telemetrySubscription'),
    "types.includes('platform.telemetrySubscription')",
  );
});

test('timeoutMs: a partial batch waits for the buffering timeout', async () => {
  const { sim, ext } = await subscribed(
    { buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 300 } },
    { freeze: false },
  );
  const before = ext.posts.length;
  const result = await sim.invoke({ log: ['one', 'two'] });
  await sim.waitFor(
    'telemetry-delivery',
    (d) => d.records?.some((r) => r.type === 'platform.report') ?? false,
    3000,
  );
  const posts = ext.posts.slice(before);
  assert.ok(posts.length >= 1, 'posts.length >= 1');
  for (const post of posts) {
    const oldest = Math.min(...post.records.map((r) => Date.parse(r.time)));
    assert.ok(post.atMs - oldest >= 298, `delivered ${post.atMs - oldest} ms after the oldest record`);
    assert.ok(post.atMs - oldest < 1500, 'post.atMs - oldest < 1500');
  }
  assert.equal(result.status, 'success');
});

test('a failing listener gets the same batch again, with backoff, until it answers 2xx', async () => {
  const { sim, ext } = await subscribed({}, {}, (e) => {
    e.answer = (i) => (i < 2 ? 500 : 200);
  });
  await sim.invoke({ log: ['retry me'] });
  const attempts = sim.timeline.of('telemetry-delivery');
  assert.deepEqual(
    attempts.slice(0, 3).map((a) => a.status),
    [500, 500, 200],
  );
  assert.deepEqual(ext.posts[0]?.records, ext.posts[2]?.records);
  assert.ok(attempts[1]!.atMs - attempts[0]!.atMs >= 40, 'backoff before the first retry');
  assert.ok(attempts[2]!.atMs - attempts[1]!.atMs >= 90, 'longer backoff before the second');
  assert.ok(
    functionRecords(ext.records).some((r) => String(r.record).endsWith('retry me')),
    "functionRecords(ext.records).some((r) => String(r.record).endsWith('retry me'))",
  );
});

test('connection errors are retried too', async () => {
  // A port nobody listens on yet.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { sim } = await subscribed(
    { destination: { protocol: 'HTTP', URI: `http://sandbox.localdomain:${port}/late` } },
    { freeze: false },
  );
  await sim.waitFor('telemetry-delivery', (d) => d.status === null);
  const late = createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
  });
  cleanups.push(() => new Promise<void>((r) => late.close(() => r())));
  await new Promise<void>((r) => late.listen(port, '127.0.0.1', () => r()));
  const ok = await sim.waitFor('telemetry-delivery', (d) => d.status === 200, 3000);
  const failed = sim.timeline.of('telemetry-delivery').filter((d) => d.status === null);
  assert.match(failed[0]?.error ?? '', /ECONNREFUSED/);
  assert.deepEqual(ok.records?.[0], failed[0]?.records?.[0]);
});

test('a subscriber that falls behind loses log records and is told with platform.logsDropped', async () => {
  const { sim, ext } = await subscribed({}, { freeze: false, telemetry: { maxQueuedBytes: 16_384 } }, (e) => {
    e.delayMs = 150;
  });
  const total = 600;
  await sim.invoke({ log: Array.from({ length: total }, (_, i) => `noisy ${i} ${'z'.repeat(150)}`) });
  const droppedTotal = () =>
    ext.records
      .filter((r) => r.type === 'platform.logsDropped')
      .reduce((sum, r) => sum + (r.record as { droppedRecords: number }).droppedRecords, 0);
  const deadline = Date.now() + 10_000;
  while (functionRecords(ext.records).length + droppedTotal() < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const dropped = ext.records.filter((r) => r.type === 'platform.logsDropped');
  const counts = `delivered ${functionRecords(ext.records).length}, dropped ${droppedTotal()}, posts ${ext.posts.length}`;
  assert.ok(dropped.length >= 1, counts);
  const record = dropped[0]!.record as Record<string, unknown>;
  assert.deepEqual(Object.keys(record).sort(), ['droppedBytes', 'droppedRecords', 'reason']);
  assert.ok(
    (record.droppedBytes as number) > 150 * (record.droppedRecords as number),
    '(record.droppedBytes as number) > 150 * (record.droppedRecords as number)',
  );
  assert.ok(droppedTotal() > 0 && functionRecords(ext.records).length > 0, counts);
  assert.equal(
    functionRecords(ext.records).length + droppedTotal(),
    total,
    `every line delivered or counted: ${counts}`,
  );
  // Platform records are not shed.
  assert.ok(
    ext.records.some((r) => r.type === 'platform.runtimeDone'),
    "ext.records.some((r) => r.type === 'platform.runtimeDone')",
  );
  assert.equal(
    sim.timeline.of('logs-dropped').reduce((s, e) => s + e.droppedRecords, 0),
    droppedTotal(),
  );
});

test('one extension holds two subscriptions (two listeners): both get every record', async () => {
  const second = new ManualExtension('', 'second-listener');
  cleanups.push(() => second.close());
  let secondAnswer: Awaited<ReturnType<ManualExtension['subscribe']>> | undefined;
  const { sim, ext, answer } = await subscribed({ types: ['platform'] }, {}, (first) => {
    // Subscribes again, right after the first subscription, with its own listener.
    const subscribe = first.subscribe.bind(first);
    first.subscribe = async (body) => {
      const one = await subscribe(body);
      await second.listen();
      secondAnswer = await subscribe({ ...(body as object), destination: second.subscription().destination });
      return one;
    };
  });
  assert.equal(answer.status, 200);
  assert.equal(secondAnswer?.status, 200);
  await sim.invoke({});
  await sim.shutdown();
  for (const listener of [ext, second]) {
    assert.ok(
      listener.records.some((r) => r.type === 'platform.runtimeDone'),
      `${listener.name} got runtimeDone`,
    );
  }
  assert.equal(sim.timeline.of('subscribe').filter((s) => s.status === 200).length, 2);
});
