// SHUTDOWN's drain in virtual time: it ends the moment nothing more can come (every report in, the
// runtime gone), waits while data is still on its way, and keeps its bounded fallbacks when what it
// waits for cannot be seen.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DrainOutcome, type DrainState, ShutdownDrain } from '../../src/flush/shutdown-drain.js';
import { VirtualTime } from '../support/virtual-time.js';

const TIMINGS = { listenerQuietMs: 50, reportPushQuietMs: 10, functionExportQuietMs: 200, pollMs: 2 };
const BOUND_MS = 400;

interface Fake {
  subscribed?: boolean;
  functionMayExport?: boolean;
  lastPushMs?: number;
  lastPushFull?: boolean;
  reportsAwaited?: number;
  lastExportMs?: number;
  runtimeExited?: boolean;
}

function setup(initial: Fake = {}) {
  const time = new VirtualTime();
  const fake: Fake = { subscribed: true, functionMayExport: false, reportsAwaited: 0, ...initial };
  let probes = 0;
  const state: DrainState = {
    telemetrySubscribed: fake.subscribed ?? true,
    functionMayExport: fake.functionMayExport ?? false,
    lastPushMs: () => fake.lastPushMs,
    lastPushFull: () => fake.lastPushFull ?? false,
    reportsAwaited: () => fake.reportsAwaited ?? 0,
    lastFunctionExportMs: () => fake.lastExportMs,
    runtimeExited: () => {
      probes++;
      return fake.runtimeExited ?? false;
    },
  };
  const drain = new ShutdownDrain({ clock: time, scheduler: time }, TIMINGS, state);
  const startMs = time.now();
  let outcome: (DrainOutcome & { atMs: number }) | undefined;
  void drain.run(startMs + BOUND_MS).then((o) => {
    outcome = { ...o, atMs: time.now() - startMs };
  });
  return {
    time,
    fake,
    drain,
    probes: () => probes,
    outcome: () => outcome,
    /** Runs the timers until the drain ends (or `limitMs` after the start). */
    async finish(limitMs = BOUND_MS + 100) {
      await time.runUntil(() => outcome !== undefined, startMs + limitMs);
      assert.ok(outcome, 'the drain did not end');
      return outcome;
    },
    /** A push reaches the listener now. */
    async push(reportsLeft: number, full = false) {
      fake.lastPushMs = time.now();
      fake.lastPushFull = full;
      fake.reportsAwaited = reportsLeft;
      drain.nudge();
      await time.settle();
    },
  };
}

describe('SHUTDOWN drain', () => {
  it('waits for nothing when every report is in and the function does not export', async () => {
    const d = setup();
    await d.time.settle();
    const o = d.outcome();
    assert.ok(o);
    assert.equal(o.atMs, 0);
    assert.equal(o.ended, 'listener: reports in before SHUTDOWN; receiver: no exports expected');
    assert.equal(d.probes(), 0, 'the runtime is not looked for when nothing can be exported');
  });

  it('ends the moment the awaited report arrives, without a fixed quiet after it', async () => {
    const d = setup({ reportsAwaited: 1 });
    await d.time.advance(3);
    assert.equal(d.outcome(), undefined, 'still waiting for the report');
    await d.push(0);
    const o = d.outcome();
    assert.ok(o);
    assert.equal(o.atMs, 3);
    assert.equal(o.ended, 'listener: reports in; receiver: no exports expected');
  });

  it('after a push cut at max_items, waits a short quiet for its sequel', async () => {
    const d = setup({ reportsAwaited: 1 });
    await d.time.advance(1);
    await d.push(0, true);
    assert.equal(d.outcome(), undefined);
    await d.time.advance(6);
    await d.push(0, true); // the sequel, full too: the quiet starts again
    const o = await d.finish();
    assert.equal(o.atMs, 7 + TIMINGS.reportPushQuietMs);
    assert.equal(o.ended, 'listener: reports in, quiet; receiver: no exports expected');
  });

  it('gives up on a report that does not come after the listener has been quiet', async () => {
    const d = setup({ reportsAwaited: 1 });
    await d.time.advance(20);
    await d.push(1); // logs, but not the report
    const o = await d.finish();
    assert.equal(o.atMs, 20 + TIMINGS.listenerQuietMs);
    assert.equal(o.ended, 'listener: quiet, a report missing; receiver: no exports expected');
  });

  it('a function that may export: ends as soon as its runtime has exited', async () => {
    const d = setup({ functionMayExport: true });
    await d.time.advance(4);
    assert.equal(d.outcome(), undefined);
    d.fake.lastExportMs = d.time.now(); // the SDK's last batches at SIGTERM
    d.drain.nudge();
    await d.time.advance(5);
    d.fake.runtimeExited = true;
    const o = await d.finish();
    assert.ok(o.atMs <= 9 + TIMINGS.pollMs, `ended at ${o.atMs} ms`);
    assert.equal(o.ended, 'listener: reports in before SHUTDOWN; receiver: runtime exited');
  });

  it('a runtime already gone at SHUTDOWN: no wait at all', async () => {
    const d = setup({ functionMayExport: true, runtimeExited: true });
    await d.time.settle();
    assert.equal(d.outcome()?.atMs, 0);
  });

  it("when the runtime's exit cannot be seen: the receiver's quiet, restarted by each export", async () => {
    const d = setup({ functionMayExport: true });
    await d.time.advance(150);
    d.fake.lastExportMs = d.time.now();
    d.drain.nudge();
    const o = await d.finish();
    assert.equal(o.atMs, 150 + TIMINGS.functionExportQuietMs);
    assert.equal(o.ended, 'listener: reports in before SHUTDOWN; receiver: quiet');
  });

  it('never passes its bound, whatever keeps arriving', async () => {
    const d = setup({ functionMayExport: true, reportsAwaited: 1 });
    for (let t = 0; t < BOUND_MS + 50; t += 20) {
      await d.time.advance(20);
      d.fake.lastExportMs = d.time.now();
      await d.push(1);
    }
    const o = await d.finish(BOUND_MS + 100);
    assert.equal(o.atMs, BOUND_MS);
    assert.match(o.ended, /^bound \(listener: waiting; receiver: waiting\)$/);
  });

  it('a report awaited while the runtime exits: waits for the report, not a fixed time', async () => {
    const d = setup({ functionMayExport: true, runtimeExited: true, reportsAwaited: 1 });
    await d.time.advance(12);
    assert.equal(d.outcome(), undefined);
    assert.equal(d.probes(), 0, 'the runtime is not looked for while the report is awaited anyway');
    await d.push(0);
    assert.equal(d.outcome()?.atMs, 12);
    assert.equal(d.outcome()?.ended, 'listener: reports in; receiver: runtime exited');
    assert.equal(d.probes(), 1);
  });
});
