// Faults between the extension and a real OpenTelemetry Collector: the collector down at start, 503
// bursts, 429 with Retry-After, a collector slower than the invocation deadline, keep-alive
// connections cut while the environment is frozen, and a queue budget too small for an outage. Each
// test asserts what reached the collector (distinct invocation spans, log records, metric points),
// what was retried and what was dropped, from the collector's files, a fault-injecting proxy's log
// and the extension's own accounting (its OTLP self-telemetry and its SHUTDOWN summary line).

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  type AttributeMap,
  attributesToObject,
  type CollectorOutput,
  type OtlpMetricJson,
  type Scoped,
  startCollector,
} from '../support/collector/collector.js';
import { startFaultProxy } from '../support/fakes/fault-proxy.js';
import type { LambdaSimulator } from '../../tools/simulator/index.js';
import type { InvocationResult } from '../../tools/simulator/types.js';
import { type ExportSummary, exportSummary, extensionEnvironment } from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const SELF_SCOPE = 'otel-lambda-extension';

const col = useCollector({ control: true, layer: true });
const table: FaultRow[] = [];

after(async () => {
  if (table.length > 0) {
    // The fault table: what each fault cost, as measured.
    console.log(
      [
        'fault | invocation spans | log records | metric points | duplicates | backoff retries | items requeued | stale resends | dropped',
        ...table.map((r) =>
          [
            r.fault,
            `${r.spans}/${r.invocations}`,
            `${r.logRecords}/${r.logLines}`,
            r.metricPoints,
            r.duplicates,
            r.retries,
            r.requeued,
            r.stale,
            r.dropped,
          ].join(' | '),
        ),
      ].join('\n'),
    );
  }
});

interface FaultRow {
  fault: string;
  invocations: number;
  spans: number;
  logLines: number;
  logRecords: number;
  metricPoints: number;
  duplicates: number;
  retries: number;
  requeued: number;
  stale: number;
  dropped: string;
}

// ---- what reached the collector -------------------------------------------------------------------

const resourceOf = (s: Scoped<unknown>): AttributeMap => attributesToObject(s.resource.attributes);

interface Delivered {
  /** Distinct invocation spans by request id. */
  invocationIds: Set<string>;
  /** Distinct function log lines (bodies). */
  logBodies: string[];
  /** Distinct spans, metric data points and log records. */
  distinctItems: number;
  /** Items the collector wrote more than once (an attempt given up by the client, processed late). */
  duplicates: number;
  metricPoints: number;
  /** Last value of each self-telemetry series, by metric name and attributes. */
  self: { name: string; attributes: AttributeMap; value: number }[];
}

function pointsOf(m: OtlpMetricJson): Record<string, unknown>[] {
  return (m.sum?.dataPoints ?? m.gauge?.dataPoints ?? m.histogram?.dataPoints ?? []) as Record<
    string,
    unknown
  >[];
}

function delivered(out: CollectorOutput, fn: string): Delivered {
  const mine = <T>(items: Scoped<T>[]) => items.filter((s) => resourceOf(s)['faas.name'] === fn);
  const seen = new Set<string>();
  let raw = 0;
  const note = (s: Scoped<unknown>, item: unknown): void => {
    raw++;
    seen.add(JSON.stringify([resourceOf(s)['faas.instance'], item]));
  };
  const invocationIds = new Set<string>();
  for (const s of mine(out.spans)) {
    note(s, s.item);
    const id = attributesToObject(s.item.attributes)['faas.invocation_id'];
    if (typeof id === 'string') invocationIds.add(id);
  }
  const logBodies = new Set<string>();
  for (const r of mine(out.logRecords)) {
    note(r, r.item);
    if (attributesToObject(r.item.attributes)['aws.lambda.log.type'] === 'function')
      logBodies.add(String(r.item.body?.stringValue));
  }
  const metricKeys = new Set<string>();
  const lastSelf = new Map<string, { name: string; attributes: AttributeMap; value: number; t: bigint }>();
  for (const m of mine(out.metricPoints)) {
    for (const p of pointsOf(m.item)) {
      note(m, [m.item.name, p]);
      metricKeys.add(JSON.stringify([resourceOf(m)['faas.instance'], m.item.name, p]));
      if (m.scope.name !== SELF_SCOPE || !m.item.name.startsWith('otel_lambda_extension.')) continue;
      const attributes = attributesToObject(p['attributes'] as never);
      const key = `${resourceOf(m)['faas.instance']}|${m.item.name}|${JSON.stringify(attributes)}`;
      const t = BigInt(String(p['timeUnixNano'] ?? '0'));
      const value = Number(p['asInt'] ?? p['asDouble'] ?? p['count'] ?? 0);
      const prev = lastSelf.get(key);
      if (!prev || t >= prev.t) lastSelf.set(key, { name: m.item.name, attributes, value, t });
    }
  }
  return {
    invocationIds,
    logBodies: [...logBodies],
    distinctItems: seen.size,
    duplicates: raw - seen.size,
    metricPoints: metricKeys.size,
    self: [...lastSelf.values()],
  };
}

/** Sum of the last cumulative values of a self-telemetry counter, optionally filtered by attribute. */
function selfCounter(d: Delivered, name: string, where: AttributeMap = {}): number {
  return d.self
    .filter((s) => s.name === `otel_lambda_extension.${name}`)
    .filter((s) => Object.entries(where).every(([k, v]) => s.attributes[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** Items the flushes put back in the queue for a later flush (debug "flush done" lines). */
function requeuedItems(lines: readonly string[]): number {
  let n = 0;
  for (const line of lines) {
    const m = /flush done: .*"retryLaterItems":(\d+)/.exec(line);
    if (m) n += Number(m[1]);
  }
  return n;
}

function summaryOf(lines: readonly string[]): ExportSummary {
  const s = exportSummary(lines);
  assert.ok(s, `no export summary in the extension's log:\n${lines.slice(-10).join('\n')}`);
  return s;
}

/** Nothing exported twice by the extension, nothing lost between it and the collector. */
function assertAccounted(s: ExportSummary, d: Delivered): void {
  assert.equal(s.unsent, 0, 'nothing left queued at exit');
  assert.equal(s.queued, s.exported + s.dropped, 'every queued item was exported or counted as dropped');
  assert.equal(d.distinctItems, s.exported, 'the collector holds exactly the items the extension exported');
}

/** The invocation was released before its deadline and the function was not affected. */
function assertNotHeld(inv: InvocationResult, timeoutMs: number): void {
  assert.equal(inv.status, 'success', `invocation ${inv.requestId} ${inv.status} ${inv.errorType ?? ''}`);
  assert.equal(inv.reset, undefined);
  const next = inv.timestamps.extensionsNextMs;
  assert.ok(next !== undefined, 'the extension came back to next');
  assert.ok(
    next <= inv.timestamps.startMs + timeoutMs,
    `extension held the invocation ${(next - inv.timestamps.startMs).toFixed(0)} ms, timeout ${timeoutMs} ms`,
  );
}

async function runFunction(
  fn: string,
  endpoint: string,
  steps: (invoke: (payload: unknown) => Promise<InvocationResult>, sim: LambdaSimulator) => Promise<void>,
  options: { timeoutMs?: number; env?: Record<string, string>; handler?: string } = {},
): Promise<{ results: InvocationResult[]; lines: string[] }> {
  const { sim, extensionLines } = await extensionEnvironment({
    handler: options.handler ?? 'scenario.mjs',
    endpoint,
    functionName: fn,
    timeoutMs: options.timeoutMs ?? 3000,
    logLevel: 'debug',
    ...(options.env && { env: options.env }),
  });
  const results: InvocationResult[] = [];
  try {
    await steps(async (payload) => {
      const r = await sim.invoke(payload);
      results.push(r);
      return r;
    }, sim);
    const down = await sim.shutdown();
    assert.ok(
      down.extensions.every((e) => e.exitedBeforeDeadline),
      'extension exits before the SHUTDOWN deadline',
    );
  } finally {
    await sim.close();
  }
  return { results, lines: extensionLines() };
}

const line = (fn: string, i: number): string => `${fn} line ${i}`;

/** Every invocation's span and log line arrived. */
function assertAllDelivered(d: Delivered, fn: string, results: InvocationResult[]): void {
  assert.deepEqual(
    [...d.invocationIds].sort(),
    results.map((r) => r.requestId).sort(),
    'one span per invocation',
  );
  assert.deepEqual(
    d.logBodies.filter((b) => b.startsWith(`${fn} line`)).sort(),
    results.map((_, i) => line(fn, i)).sort(),
    'every log line',
  );
}

function record(
  fault: string,
  fn: string,
  results: InvocationResult[],
  d: Delivered,
  s: ExportSummary,
  lines: string[],
): void {
  table.push({
    fault,
    invocations: results.length,
    spans: d.invocationIds.size,
    logLines: results.length,
    logRecords: d.logBodies.filter((b) => b.startsWith(`${fn} line`)).length,
    metricPoints: d.metricPoints,
    duplicates: d.duplicates,
    retries: s.retries,
    requeued: requeuedItems(lines),
    stale: s.staleConnections,
    dropped:
      s.dropped === 0
        ? '0'
        : `${s.dropped} (${Object.entries(s.droppedByReason)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`,
  });
}

// ---- the faults ------------------------------------------------------------------------------------

test('collector down at start, then up: everything queued meanwhile arrives, nothing dropped', async () => {
  const down = await startCollector({ start: false });
  const fn = 'faults-down';
  const timeoutMs = 2000;
  try {
    const { results, lines } = await runFunction(
      fn,
      down.endpoint,
      async (invoke, sim) => {
        for (let i = 0; i < 3; i++) assertNotHeld(await invoke({ log: [line(fn, i)] }), timeoutMs);
        await down.restart();
        await sim.idle(100);
        assertNotHeld(await invoke({ log: [line(fn, 3)] }), timeoutMs);
      },
      { timeoutMs },
    );
    const out = await down.waitFor((o) => delivered(o, fn).invocationIds.size >= results.length, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAllDelivered(d, fn, results);
    assertAccounted(s, d);
    assert.equal(s.dropped, 0);
    // Rare invocations flush while the invocation waits: an unreachable collector gets one attempt
    // per flush, no backoff (the function is not held for it), and the data waits for a later flush.
    assert.equal(s.retries, 0, 'no backoff retries while the invocation waits');
    assert.ok(requeuedItems(lines) > 0, 'what could not be sent was kept for a later flush');
    // Self-telemetry, exported with the final flush, tells the same story.
    assert.equal(selfCounter(d, 'export.retries'), s.retries);
    assert.equal(selfCounter(d, 'export.items.dropped'), 0);
    record('collector down at start, up before the 4th invocation', fn, results, d, s, lines);
  } finally {
    await down.stop();
  }
});

test('503 bursts are retried with backoff and everything is delivered', async () => {
  const proxy = await startFaultProxy(col.endpoint);
  const fn = 'faults-503';
  try {
    const burst = 4;
    proxy.script(...Array.from({ length: burst }, () => ({ kind: 'status' as const, status: 503 })));
    const { results, lines } = await runFunction(fn, proxy.url, async (invoke) => {
      for (let i = 0; i < 3; i++) assertNotHeld(await invoke({ log: [line(fn, i)] }), 3000);
    });
    const out = await col.waitFor((o) => delivered(o, fn).invocationIds.size >= results.length, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAllDelivered(d, fn, results);
    assertAccounted(s, d);
    assert.equal(proxy.remaining(), 0);
    assert.equal(proxy.log.filter((r) => r.status === 503).length, burst);
    assert.equal(s.retries, burst, 'one backoff retry per 503');
    assert.equal(s.requests, proxy.log.length, 'every attempt the extension counted reached the proxy');
    assert.equal(s.dropped, 0);
    assert.equal(selfCounter(d, 'export.retries'), burst);
    record(`503 × ${burst}`, fn, results, d, s, lines);
  } finally {
    await proxy.close();
  }
});

test('429 with Retry-After: the next attempt of that signal waits at least that long', async () => {
  const proxy = await startFaultProxy(col.endpoint);
  const fn = 'faults-429';
  try {
    proxy.script({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { results, lines } = await runFunction(fn, proxy.url, async (invoke) => {
      for (let i = 0; i < 2; i++) assertNotHeld(await invoke({ log: [line(fn, i)] }), 3000);
    });
    const out = await col.waitFor((o) => delivered(o, fn).invocationIds.size >= results.length, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAllDelivered(d, fn, results);
    assertAccounted(s, d);
    const limited = proxy.log.findIndex((r) => r.status === 429);
    assert.ok(limited >= 0);
    const first = proxy.log[limited]!;
    const next = proxy.log.slice(limited + 1).find((r) => r.path === first.path);
    assert.ok(next, `${first.path} was attempted again`);
    const waitedMs = next.atMs - first.atMs;
    assert.ok(waitedMs >= 1000, `Retry-After: 1 honoured (waited ${waitedMs} ms)`);
    assert.equal(next.status, 200);
    // Only that signal is held back: the others went through at once.
    const others = proxy.log.filter((r) => r.path !== first.path && r.atMs < first.atMs + 900);
    assert.ok(others.length >= 2 && others.every((r) => r.status === 200), 'other signals not held back');
    assert.equal(s.retries, 1);
    assert.equal(s.dropped, 0);
    record(`429 Retry-After: 1 (next attempt after ${waitedMs} ms)`, fn, results, d, s, lines);
  } finally {
    await proxy.close();
  }
});

test('a collector slower than the deadline: the invocation is released in time, data is delivered after resume', async () => {
  const proxy = await startFaultProxy(col.endpoint);
  const fn = 'faults-slow';
  const timeoutMs = 1000;
  try {
    const { results, lines } = await runFunction(
      fn,
      proxy.url,
      async (invoke, sim) => {
        assertNotHeld(await invoke({ log: [line(fn, 0)] }), timeoutMs);
        col.pause();
        try {
          for (let i = 1; i < 3; i++) assertNotHeld(await invoke({ log: [line(fn, i)] }), timeoutMs);
        } finally {
          col.resume();
        }
        await sim.idle(100);
        assertNotHeld(await invoke({ log: [line(fn, 3)] }), timeoutMs);
      },
      { timeoutMs },
    );
    const out = await col.waitFor((o) => delivered(o, fn).invocationIds.size >= results.length, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAllDelivered(d, fn, results);
    assertAccounted(s, d);
    assert.equal(s.dropped, 0);
    assert.ok(requeuedItems(lines) > 0, 'the hung exports were kept for a later flush');
    assert.ok(
      lines.some((l) => /flush done: .*"kind":"blocking".*"exportedItems":0,"retryLaterItems":[1-9]/.test(l)),
      'an end-of-invocation flush was cut by the deadline',
    );
    const held = Math.max(
      ...results.slice(1, 3).map((r) => (r.timestamps.extensionsNextMs ?? 0) - r.timestamps.startMs),
    );
    record(
      `collector paused (SIGSTOP) for 2 invocations; released ${held.toFixed(0)} ms into a ${timeoutMs} ms timeout`,
      fn,
      results,
      d,
      s,
      lines,
    );
  } finally {
    col.resume();
    await proxy.close();
  }
});

test('keep-alive connections cut during a freeze: the next flush succeeds without a failure', async () => {
  const proxy = await startFaultProxy(col.endpoint);
  const fn = 'faults-freeze';
  try {
    let connectionsBefore = 0;
    const { results, lines } = await runFunction(fn, proxy.url, async (invoke, sim) => {
      assertNotHeld(await invoke({ log: [line(fn, 0)] }), 3000);
      // The backend closes idle connections while the environment is frozen.
      assert.ok(sim.isFrozen);
      connectionsBefore = proxy.connections();
      proxy.closeIdleConnections();
      await sim.idle(600);
      assertNotHeld(await invoke({ log: [line(fn, 1)] }), 3000);
      // Closed without the client noticing before it writes: the request on the reused socket dies.
      proxy.script({ kind: 'stale' });
      await sim.idle(600);
      assertNotHeld(await invoke({ log: [line(fn, 2)] }), 3000);
      await sim.idle(100);
      assertNotHeld(await invoke({ log: [line(fn, 3)] }), 3000);
    });
    const out = await col.waitFor((o) => delivered(o, fn).invocationIds.size >= results.length, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAllDelivered(d, fn, results);
    assertAccounted(s, d);
    assert.ok(proxy.connections() > connectionsBefore, 'new connections after the close');
    assert.equal(proxy.remaining(), 0, 'a reused connection met the stale fault');
    const stale = proxy.log.filter((r) => r.outcome === 'stale').length;
    assert.equal(stale, 1);
    assert.equal(s.staleConnections, stale, 'the dead connection cost one immediate resend');
    assert.equal(s.retries, 0, 'no backoff retry');
    assert.equal(requeuedItems(lines), 0, 'no flush failed');
    assert.equal(s.dropped, 0);
    assert.equal(s.requests, proxy.log.length);
    record('idle connections closed while frozen, then one stale socket', fn, results, d, s, lines);
  } finally {
    await proxy.close();
  }
});

test('an outage longer than the queue budget: the oldest data is dropped and counted, the rest arrives', async () => {
  const down = await startCollector({ start: false });
  const fn = 'faults-queue';
  const linesPerInvocation = 80;
  const invocations = 3;
  try {
    const { results, lines } = await runFunction(
      fn,
      down.endpoint,
      async (invoke) => {
        for (let i = 0; i < invocations; i++) {
          const log = Array.from({ length: linesPerInvocation }, (_, j) => `${fn} bulk ${i}.${j}`);
          if (i === invocations - 1) log.push(line(fn, 0));
          assertNotHeld(await invoke({ log }), 3000);
        }
        await down.restart();
      },
      // A batch may not exceed the queue, so both bounds come down together.
      { env: { LAMBDA_OTEL_QUEUE_MAX_ITEMS_PER_SIGNAL: '100', LAMBDA_OTEL_BATCH_MAX_ITEMS: '100' } },
    );
    const out = await down.waitFor((o) => delivered(o, fn).invocationIds.size > 0, 10_000);
    const d = delivered(out, fn);
    const s = summaryOf(lines);
    assertAccounted(s, d);
    const logged = invocations * linesPerInvocation + 1;
    const droppedLogs = selfCounter(d, 'export.items.dropped', { signal: 'logs', reason: 'queue_full' });
    assert.ok(droppedLogs > 0, 'log records dropped for the queue bound');
    assert.ok((s.droppedByReason['queue_full'] ?? 0) >= droppedLogs);
    const functionLogs = d.logBodies.filter((b) => b.startsWith(fn)).length;
    assert.equal(functionLogs + droppedLogs, logged, 'every log line was delivered or counted as dropped');
    assert.ok(d.logBodies.includes(line(fn, 0)), 'the newest data survives');
    // The oldest go first: what arrived is the newest part of what was logged, in full.
    const order = results.flatMap((_, i) => {
      const bulk = Array.from({ length: linesPerInvocation }, (_, j) => `${fn} bulk ${i}.${j}`);
      return i === invocations - 1 ? [...bulk, line(fn, 0)] : bulk;
    });
    assert.deepEqual(
      d.logBodies.filter((b) => b.startsWith(fn)).sort(),
      order.slice(order.length - functionLogs).sort(),
      'the delivered log lines are the newest ones',
    );
    assert.equal(results.length, invocations);
    table.push({
      fault: 'collector down, queue bound 100 items/signal, 241 log lines',
      invocations,
      spans: d.invocationIds.size,
      logLines: logged,
      logRecords: functionLogs,
      metricPoints: d.metricPoints,
      duplicates: d.duplicates,
      retries: s.retries,
      requeued: requeuedItems(lines),
      stale: s.staleConnections,
      dropped: `${s.dropped} (${Object.entries(s.droppedByReason)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')})`,
    });
  } finally {
    await down.stop();
  }
});
