// The adaptive decision over synthetic arrival patterns, replayed in virtual time with Lambda's
// freezes (test/support/flush-replay.ts): what each pattern costs in post-runtime time and how long data waits.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArrivalEstimator } from '../../src/flush/arrival-estimator.js';
import { type DecisionInput, decide } from '../../src/flush/decision.js';
import {
  percentile,
  type ReplayInvocation,
  type ReplayResult,
  replay,
  steadyPattern,
} from '../support/flush-replay.js';
import { DEFAULT_FLUSH_SETTINGS } from '../../src/flush/settings.js';

const STALENESS_MS = DEFAULT_FLUSH_SETTINGS.maxStalenessMs;
/** Telemetry buffering (25 ms) + flush (2 ms) in the replay: the cost of one end-of-invocation flush. */
const BLOCKING_COST_MS = 27;

/** Wait of data the flush manager controls: the function's exports and runtimeDone-derived data. */
function controlledStaleness(result: ReplayResult): number[] {
  return [...result.target.staleness.function, ...result.target.staleness.runtimeDone];
}

function modes(result: ReplayResult): string[] {
  return result.invocations.map((i) => `${i.mode}/${i.reason}`);
}

function bursts(
  count: number,
  size: number,
  gapMs: number,
  everyMs: number,
  durationMs = 10,
): ReplayInvocation[] {
  return Array.from({ length: count }, (_, b) => steadyPattern(size, gapMs, durationMs, b * everyMs)).flat();
}

describe('ArrivalEstimator', () => {
  it('tracks a change of pace within a few arrivals', () => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    let t = 0;
    for (let i = 0; i < 20; i++) {
      t += 60_000;
      estimator.observe(t);
    }
    assert.ok((estimator.estimates().typicalGapMs ?? 0) > 50_000);
    for (let i = 0; i < 3; i++) {
      t += 20;
      estimator.observe(t);
    }
    const e = estimator.estimates();
    // Three 20 ms gaps after a minute-long rhythm: the typical gap is already under a second.
    assert.ok((e.typicalGapMs ?? Number.POSITIVE_INFINITY) < 1_000, `typical ${e.typicalGapMs}`);
    assert.equal(e.burstIndex, 4);
    assert.equal(e.lastGapMs, 20);
  });

  it('remembers idle periods and burst lengths', () => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    let t = 0;
    for (let burst = 0; burst < 3; burst++) {
      t += 300_000;
      for (let i = 0; i < 10; i++) {
        t += 100;
        estimator.observe(t);
      }
    }
    const e = estimator.estimates();
    assert.equal(e.burstLengthLow, 10);
    assert.equal(e.burstLengthHigh, 10);
    assert.equal(e.burstIndex, 10);
    assert.ok(e.burstEndRate > 0 && e.burstEndRate < 0.3);
  });

  it('widens the upper gap when the pace changes and narrows it when steady', () => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    let t = 0;
    for (let i = 0; i < 30; i++) {
      t += 1_000;
      estimator.observe(t);
    }
    const steady = estimator.estimates().upperGapMs ?? 0;
    assert.ok(steady < 1_100, `steady upper ${steady}`);
    t += 10_000;
    estimator.observe(t);
    const changed = estimator.estimates().upperGapMs ?? 0;
    assert.ok(changed > 28_000, `upper after a 10x slowdown ${changed}`);
  });
});

describe('decide', () => {
  const base = (): DecisionInput => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    for (let i = 0; i < 20; i++) estimator.observe(i * 100);
    return {
      strategy: { kind: 'adaptive' },
      nowMs: 10_000,
      arrivals: estimator.estimates(),
      pending: { items: 3, bytes: 1_500, oldestCreatedAtMs: 9_000 },
      dirtySinceMs: undefined,
      lastFlushStartMs: 8_500,
      recentThaw: false,
      backendUnhealthy: false,
      runtimeDoneReliable: true,
      backgroundCut: false,
      invocationDurationMs: 50,
      flushDurationMs: 5,
      settings: DEFAULT_FLUSH_SETTINGS,
    };
  };

  it('goes background for frequent traffic and says why, with the estimates', () => {
    const d = decide(base());
    assert.equal(d.mode, 'background');
    assert.equal(d.reason, 'frequent');
    assert.equal(d.startFlush, 'interval'); // 1.5 s since the last flush ≥ 1 s interval
    assert.equal(d.estimates.pendingItems, 3);
    assert.equal(d.estimates.oldestAgeMs, 1_000);
    assert.equal(d.estimates.horizonMs, 28_000);
    assert.equal(Math.round(d.estimates.typicalGapMs ?? 0), 100);
  });

  it('goes background while the backend keeps failing, so no hold bills timeouts', () => {
    const d = decide({ ...base(), backendUnhealthy: true });
    assert.deepEqual([d.mode, d.reason, d.startFlush], ['background', 'backend-unhealthy', 'probe']);
  });

  it('never holds without a runtimeDone feed', () => {
    const d = decide({ ...base(), strategy: { kind: 'end' }, runtimeDoneReliable: false });
    assert.deepEqual([d.mode, d.reason], ['background', 'no-runtime-done']);
  });

  it('blocks when a background flush would outlast a function followed by long freezes', () => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    for (let i = 0; i < 20; i++) estimator.observe(i * 5_000);
    const input = {
      ...base(),
      arrivals: estimator.estimates(),
      invocationDurationMs: 10,
      flushDurationMs: 40,
    };
    assert.equal(decide(input).reason, 'flush-outlasts-invocation');
    assert.equal(decide({ ...input, flushDurationMs: 5 }).reason, 'frequent');
  });

  it('starts a flush with a blocking invocation only for data already past the bound', () => {
    const estimator = new ArrivalEstimator({ longGapMs: 28_000 });
    estimator.observe(0);
    estimator.observe(60_000);
    const input = { ...base(), arrivals: estimator.estimates(), nowMs: 60_000 };
    const fresh = decide({ ...input, pending: { items: 1, bytes: 10, oldestCreatedAtMs: 59_000 } });
    assert.deepEqual([fresh.mode, fresh.reason, fresh.startFlush], ['blocking', 'slow-traffic', undefined]);
    const stale = decide({ ...input, pending: { items: 1, bytes: 10, oldestCreatedAtMs: 20_000 } });
    assert.equal(stale.startFlush, 'stale');
  });

  it('starts a flush at once when pending bytes reach the bound', () => {
    const d = decide({ ...base(), pending: { items: 9, bytes: 2_000_000, oldestCreatedAtMs: 9_900 } });
    assert.equal(d.startFlush, 'bytes');
  });
});

describe('adaptive flushing over arrival patterns', () => {
  it('steady rare (1/min): blocks every invocation, data leaves before each freeze', async () => {
    const result = await replay({ invocations: steadyPattern(30, 60_000, 100) });
    assert.deepEqual(new Set(result.invocations.map((i) => i.mode)), new Set(['blocking']));
    assert.equal(result.invocations[0]?.reason, 'cold-start');
    assert.ok(
      modes(result)
        .slice(1)
        .every((m) => m === 'blocking/slow-traffic'),
    );
    const staleness = controlledStaleness(result);
    assert.equal(staleness.length, 60);
    assert.ok(Math.max(...staleness) <= BLOCKING_COST_MS + 1, `max wait ${Math.max(...staleness)}`);
    assert.ok(result.invocations.every((i) => i.postRuntimeMs <= BLOCKING_COST_MS + 1));
  });

  it('steady frequent (1/s): background from the 6th invocation at the latest, no post-runtime cost after', async () => {
    const result = await replay({ invocations: steadyPattern(200, 1_000, 50) });
    const firstBackground = result.invocations.findIndex((i) => i.mode === 'background');
    assert.ok(firstBackground >= 1 && firstBackground <= 5, `first background at ${firstBackground}`);
    const after = result.invocations.slice(firstBackground);
    assert.ok(after.every((i) => i.mode === 'background' && i.postRuntimeMs === 0));
    const staleness = controlledStaleness(result);
    assert.ok(percentile(staleness, 99) <= 2_100, `p99 wait ${percentile(staleness, 99)}`);
    assert.ok(Math.max(...staleness) < STALENESS_MS);
  });

  it('steady frequent (50/s): background, few exports, data out within about two intervals', async () => {
    const result = await replay({ invocations: steadyPattern(2_000, 20, 10) });
    const blocking = result.invocations.filter((i) => i.mode === 'blocking').length;
    assert.ok(blocking <= 6, `${blocking} blocking invocations`);
    const exportsPer100 = (result.target.exports * 100) / result.invocations.length;
    assert.ok(exportsPer100 <= 5, `${exportsPer100} exports per 100 invocations`);
    const staleness = controlledStaleness(result);
    assert.ok(percentile(staleness, 99) <= 2 * DEFAULT_FLUSH_SETTINGS.backgroundIntervalMs + 100);
  });

  it('slowing down: back to blocking while the gaps are still inside the bound; nothing waits past it', async () => {
    const invocations: ReplayInvocation[] = [];
    let t = 0;
    for (let i = 0; i < 200; i++) {
      t += 20;
      invocations.push({ atMs: t, durationMs: 10 });
    }
    const gaps = [100, 300, 1_000, 3_000, 6_000, 10_000, 15_000, 25_000, 40_000, 60_000, 120_000];
    for (const gap of gaps) {
      t += gap;
      invocations.push({ atMs: t, durationMs: 10 });
    }
    invocations.push({ atMs: t + 600_000, durationMs: 10 });
    const result = await replay({ invocations });
    const tail = result.invocations.slice(200);
    // Each invocation from the one followed by a 6 s gap on holds (blocking), within three slower gaps.
    const firstBlocking = tail.findIndex((i) => i.mode === 'blocking');
    assert.ok(firstBlocking >= 0 && firstBlocking <= 4, modes(result).slice(200).join(' '));
    assert.ok(
      tail.slice(firstBlocking).every((i) => i.mode === 'blocking'),
      modes(result).slice(200).join(' '),
    );
    const staleness = controlledStaleness(result);
    assert.ok(Math.max(...staleness) < STALENESS_MS, `max wait ${Math.max(...staleness)}`);
  });

  it('bursty: regular bursts are learned; from the second burst on, the last invocation holds', async () => {
    const burstSize = 100;
    const result = await replay({ invocations: bursts(5, burstSize, 20, 300_000), shutdownAfterMs: 300_000 });
    const lastOfBurst = (b: number) => result.invocations[(b + 1) * burstSize - 1];
    for (let b = 1; b < 5; b++) assert.equal(lastOfBurst(b)?.mode, 'blocking', `last of burst ${b}`);
    assert.equal(lastOfBurst(1)?.reason, 'burst-tail');
    // Most of each burst still runs without holding.
    const background = result.invocations.filter((i) => i.mode === 'background').length;
    assert.ok(background >= 0.7 * result.invocations.length, `${background} background`);
    // Every item that waited past the bound is from the end of the first, unlearned burst, and went
    // out with the first flush after the next thaw.
    const secondBurstStart = result.invocations[burstSize]?.arrivalMs ?? 0;
    const stale = result.target.staleness.function.filter((w) => w > STALENESS_MS);
    assert.ok(stale.length > 0 && stale.length <= 50, `${stale.length} stale items`);
    const firstFlushAfterThaw = result.target.requests.find((r) => r.atMs >= secondBurstStart);
    assert.equal(firstFlushAfterThaw?.atMs, secondBurstStart);
    assert.equal(result.unexported, 0);
  });

  it('short bursts stay blocking throughout: nothing is left in a freeze', async () => {
    const result = await replay({ invocations: bursts(6, 5, 1_000, 300_000) });
    assert.ok(
      result.invocations.every((i) => i.mode === 'blocking'),
      modes(result).join(' '),
    );
    assert.ok(Math.max(...controlledStaleness(result)) <= BLOCKING_COST_MS + 1);
  });

  it('one-off: the only invocation holds; SHUTDOWN later sends its report', async () => {
    const result = await replay({ invocations: [{ atMs: 0, durationMs: 200 }], shutdownAfterMs: 900_000 });
    assert.deepEqual(modes(result), ['blocking/cold-start']);
    assert.ok(Math.max(...controlledStaleness(result)) <= BLOCKING_COST_MS + 1);
    assert.equal(result.shutdown?.exportedItems, 1); // platform.report, emitted after the hold
    assert.equal(result.shutdown?.unsentItems, 0);
    assert.equal(result.unexported, 0);
  });

  it('switches from background to blocking at the first long gap and flushes the backlog on that thaw', async () => {
    const invocations = [...steadyPattern(100, 50, 10), { atMs: 100 * 50 + 120_000, durationMs: 10 }];
    const result = await replay({ invocations });
    const last = result.invocations.at(-1);
    assert.deepEqual([last?.mode, last?.reason], ['blocking', 'slow-traffic']);
    // The data held in the background went out as the environment thawed, not at the end.
    const atThaw = result.target.requests.filter((r) => r.atMs === last?.arrivalMs);
    assert.deepEqual(
      atThaw.map((r) => r.reason),
      ['stale'],
    );
    assert.equal(result.unexported, 0);
  });
});
