// The extension process from the built layer, in the Lambda simulator: how it meets Lambda's
// lifecycle. Register before subscribing before the first /event/next (Lambda refuses a later
// subscription), the schema fallback and the local-emulator 202, a hundred real freeze/thaw cycles
// in one process, exits before the SHUTDOWN deadline whatever the export endpoint does, and SIGTERM.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import { allSpans, attrs, type TracesRequest } from '../../tools/otlp/decode.js';
import { readFreezeState } from '../../tools/simulator/index.js';
import type { LambdaSimulator } from '../../tools/simulator/index.js';
import { ensureLayer, extensionEnvironment, freeLoopbackPort, LAYER_DIR } from '../support/e2e-harness.js';

/** The launcher's file name in /opt/extensions, which Lambda expects as Lambda-Extension-Name. */
let launcherName: string;

before(() => {
  ensureLayer();
  const launchers = readdirSync(join(LAYER_DIR, 'extensions'));
  assert.equal(launchers.length, 1, `one launcher expected in the layer, found ${launchers.join(', ')}`);
  launcherName = launchers[0] as string;
});

const SERVER_SPAN = 2;

/** The invocation (SERVER) spans the sink received, by faas.invocation_id. */
function invocationIds(requests: readonly { signal: string; decoded: unknown }[]): string[] {
  const ids: string[] = [];
  for (const r of requests) {
    if (r.signal !== 'traces') continue;
    for (const span of allSpans(r.decoded as TracesRequest)) {
      const id = attrs(span.attributes)['faas.invocation_id'];
      if (span.kind === SERVER_SPAN && typeof id === 'string') ids.push(id);
    }
  }
  return ids;
}

/** Counts from the extension's shutdown line (`… dropped D, unsent U …; export: queued Q, exported E items …`). */
function shutdownCounts(line: string): { dropped: number; unsent: number; queued: number; exported: number } {
  const m = /dropped (\d+), unsent (\d+).*export: queued (\d+), exported (\d+) items/.exec(line);
  assert.ok(m, `not a shutdown summary line: ${line}`);
  return { dropped: Number(m[1]), unsent: Number(m[2]), queued: Number(m[3]), exported: Number(m[4]) };
}

function ourEntries<K extends 'register' | 'subscribe' | 'extension-next'>(sim: LambdaSimulator, kind: K) {
  return sim.timeline.of(kind).filter((e) => (e as { name?: string }).name === launcherName);
}

test('registers, then subscribes (schema 2025-01-29, three types, explicit buffering), then calls /event/next', async () => {
  const sink = await startOtlpSink();
  const { sim } = await extensionEnvironment({ handler: 'echo.mjs', endpoint: sink.url });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    await sim.invoke({ n: 1 });
    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);

    const registers = ourEntries(sim, 'register');
    const subscribes = ourEntries(sim, 'subscribe');
    const nexts = ourEntries(sim, 'extension-next');
    assert.equal(registers.length, 1, JSON.stringify(registers));
    assert.equal(subscribes.length, 1, JSON.stringify(subscribes));
    const [register, subscribe, firstNext] = [registers[0], subscribes[0], nexts[0]];
    assert.ok(register && subscribe && firstNext);

    // The simulator records the name from Lambda-Extension-Name and accepts only a launcher's name.
    assert.equal(register.status, 200, register.error);
    assert.equal(register.name, launcherName);
    assert.deepEqual(register.events, ['INVOKE', 'SHUTDOWN']);
    assert.ok(
      (register.acceptFeature ?? '')
        .split(',')
        .map((f) => f.trim())
        .includes('accountId'),
      `Lambda-Extension-Accept-Feature: ${register.acceptFeature}`,
    );

    assert.equal(subscribe.status, 200, subscribe.error);
    assert.equal(subscribe.schemaVersion, '2025-01-29');
    assert.deepEqual([...(subscribe.types ?? [])].sort(), ['extension', 'function', 'platform']);
    // Lambda's defaults would be 10000 items / 1000 ms: these values were sent explicitly.
    assert.deepEqual(subscribe.buffering, { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 });
    assert.match(subscribe.destination ?? '', /^http:\/\/sandbox\.localdomain:\d+\/telemetry$/);

    const order = sim.timeline.entries;
    assert.ok(order.indexOf(register) < order.indexOf(subscribe), 'subscribe came before register');
    assert.ok(
      order.indexOf(subscribe) < order.indexOf(firstNext),
      'the first /event/next came before subscribe',
    );
    assert.ok(register.atMs <= subscribe.atMs && subscribe.atMs <= firstNext.atMs);
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('a Telemetry API refusing schema 2025-01-29: falls back to 2022-12-13 and keeps exporting', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    telemetry: { refuseSchemaVersions: ['2025-01-29'] },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    const subscribes = ourEntries(sim, 'subscribe');
    assert.deepEqual(
      subscribes.map((s) => [s.status, s.schemaVersion]),
      [
        [400, undefined],
        [200, '2022-12-13'],
      ],
      JSON.stringify(subscribes),
    );
    assert.match(subscribes[0]?.error ?? '', /2025-01-29/);
    const firstNext = ourEntries(sim, 'extension-next')[0];
    assert.ok(firstNext && (subscribes[1]?.atMs ?? Infinity) <= firstNext.atMs);

    const results = [];
    for (let i = 0; i < 3; i++) results.push(await sim.invoke({ i }));
    assert.deepEqual(
      results.map((r) => r.status),
      ['success', 'success', 'success'],
    );
    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);
    // Platform records in the older schema still become invocation spans.
    assert.deepEqual(invocationIds(sink.requests).sort(), results.map((r) => r.requestId).sort());
    assert.ok(
      extensionLines().some((l) => l.includes('with schema 2022-12-13')),
      extensionLines().join('\n'),
    );
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('a Telemetry API answering 202 (local emulator): logged, and the lifecycle goes on to a clean exit', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    telemetry: { subscribeStatus: 202 },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    assert.deepEqual(
      ourEntries(sim, 'subscribe').map((s) => s.status),
      [202],
    );
    const warning = extensionLines().filter((l) => /WARN .*202/.test(l));
    assert.equal(warning.length, 1, extensionLines().join('\n'));
    for (let i = 0; i < 3; i++) assert.equal((await sim.invoke({ i })).status, 'success');
    // Each INVOKE was handed over and answered with another /event/next.
    assert.equal(ourEntries(sim, 'extension-next').length, 4);
    const down = await sim.shutdown();
    const ext = down.extensions[0];
    assert.ok(ext?.receivedShutdown);
    assert.equal(ext.exitCode, 0);
    assert.equal(ext.exitedBeforeDeadline, true);
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('survives 100 real freeze/thaw cycles in one process, and exports every invocation once', async () => {
  const sink = await startOtlpSink();
  const { sim } = await extensionEnvironment({ handler: 'echo.mjs', endpoint: sink.url, logLevel: 'warn' });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    const pid = sim.pids().extensions[launcherName];
    assert.ok(pid);
    const requestIds: string[] = [];
    let observedStopped = 0;
    for (let i = 0; i < 100; i++) {
      const res = await sim.invoke({ i });
      assert.equal(res.status, 'success', `invocation ${i}: ${res.errorType} ${res.responseText}`);
      requestIds.push(res.requestId);
      assert.equal(
        sim.pids().extensions[launcherName],
        pid,
        `the extension was restarted at invocation ${i}`,
      );
      // Spot checks that "frozen" means stopped by the kernel, not just a flag (the freezer cgroup or
      // SIGSTOP lands when the process is next scheduled, so allow a moment on a busy machine).
      if (i % 25 === 0 && sim.isFrozen) {
        const until = Date.now() + 1000;
        while (readFreezeState(pid) === 'running' && sim.isFrozen && Date.now() < until) await sleep(2);
        if (sim.isFrozen) {
          assert.notEqual(
            readFreezeState(pid),
            'running',
            `extension not stopped while frozen after invocation ${i}`,
          );
          observedStopped++;
        }
      }
    }
    assert.ok(observedStopped > 0, 'never saw the environment frozen between invocations');
    const frozenWithUs = sim.frozenIntervals.length;
    assert.ok(frozenWithUs >= 100, `only ${frozenWithUs} freeze/thaw cycles`);
    assert.ok(
      sim.timeline.of('freeze').filter((f) => f.pids.includes(pid)).length >= 100,
      'the extension was not among the frozen processes',
    );
    // Back-to-back invocations let the flush manager batch across them; SHUTDOWN sends the rest.
    const down = await sim.shutdown();
    assert.equal(down.extensions[0]?.exitCode, 0);
    assert.equal(down.extensions[0]?.pid, pid);
    const starts = sim.timeline.of('process-start').filter((p) => p.role === 'extension');
    assert.equal(starts.length, 1, 'the extension process was started more than once');

    const exported = invocationIds(sink.requests);
    assert.equal(exported.length, 100, `${exported.length} invocation spans for 100 invocations`);
    assert.deepEqual([...exported].sort(), [...requestIds].sort());
  } finally {
    await sim.close();
    await sink.close();
  }
});

test('SHUTDOWN (spindown) with a healthy endpoint: exits 0 before the deadline, everything sent', async () => {
  const sink = await startOtlpSink();
  const { sim, extensionLines } = await extensionEnvironment({ handler: 'echo.mjs', endpoint: sink.url });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await sim.invoke({ i })).status, 'success');
    const down = await sim.shutdown('spindown');
    const ext = down.extensions.find((e) => e.name === launcherName);
    assert.ok(ext?.receivedShutdown);
    assert.equal(ext.exitedBeforeDeadline, true);
    assert.equal(ext.exitCode, 0);
    assert.equal(ext.signal, null);
    const last = extensionLines().at(-1) ?? '';
    assert.match(last, /INFO shutdown \(spindown\)/);
    const counts = shutdownCounts(last);
    assert.deepEqual([counts.dropped, counts.unsent], [0, 0], last);
    assert.ok(counts.queued > 0);
    assert.equal(counts.exported, counts.queued, last);
  } finally {
    await sim.close();
    await sink.close();
  }
});

/** Two invocations and a SHUTDOWN against an endpoint that never takes anything. */
async function shutdownWithBrokenEndpoint(endpoint: string): Promise<void> {
  const { sim, extensionLines } = await extensionEnvironment({ handler: 'echo.mjs', endpoint });
  try {
    for (let i = 0; i < 2; i++) {
      const res = await sim.invoke({ i });
      assert.equal(res.status, 'success', 'the function must not fail because exporting does');
    }
    const down = await sim.shutdown('spindown');
    const ext = down.extensions.find((e) => e.name === launcherName);
    assert.ok(ext?.receivedShutdown);
    assert.equal(ext.exitedBeforeDeadline, true, `exited at ${ext.exitAtMs}, deadline ${down.deadlineMs}`);
    assert.equal(ext.exitCode, 0);
    // The last word says what was lost, with counts that add up: nothing vanished silently.
    const last = extensionLines().at(-1) ?? '';
    assert.match(last, /WARN shutdown \(spindown\)/, extensionLines().join('\n'));
    const counts = shutdownCounts(last);
    assert.equal(counts.exported, 0, last);
    assert.ok(counts.queued > 0, last);
    assert.equal(counts.dropped + counts.unsent, counts.queued, last);
  } finally {
    await sim.close();
  }
}

test('SHUTDOWN with the export endpoint refusing connections: exits before the deadline, reports the unsent', async () => {
  await shutdownWithBrokenEndpoint(`http://127.0.0.1:${await freeLoopbackPort()}`);
});

test('SHUTDOWN with an export endpoint that never answers: exits before the deadline, reports the unsent', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const silent = http.createServer(() => {
    // Reads the request, never answers.
  });
  silent.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await shutdownWithBrokenEndpoint(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    assert.ok(sockets.size > 0, 'the extension never reached the silent endpoint');
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('SIGTERM to the extension: flushes and exits 0 within its shutdown window', async () => {
  const sink = await startOtlpSink();
  // Not frozen, so the signal is handled at once, as when Lambda's own runtime tears down.
  const { sim, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    freeze: false,
  });
  try {
    const res = await sim.invoke({ n: 1 });
    assert.equal(res.status, 'success');
    const pid = sim.pids().extensions[launcherName];
    assert.ok(pid);
    const sentAt = performance.timeOrigin + performance.now();
    process.kill(pid, 'SIGTERM');
    const exit = await sim.waitFor('process-exit', (e) => e.role === 'extension' && e.pid === pid, 10_000);
    assert.equal(exit.code, 0, `exit ${exit.code} / ${exit.signal}`);
    assert.equal(exit.signal, null);
    // The window is 1500 ms; the slack covers a loaded machine, a hang would show as ~1.5 s or more.
    const tookMs = exit.atMs - sentAt;
    assert.ok(tookMs < 1500 + 500, `took ${tookMs.toFixed(0)} ms to exit after SIGTERM`);
    const last = extensionLines().at(-1) ?? '';
    assert.match(last, /shutdown \(sigterm\)/, extensionLines().join('\n'));
    assert.deepEqual(invocationIds(sink.requests), [res.requestId]);
  } finally {
    await sim.close();
    await sink.close();
  }
});
