// A throttling backend must not bill the function: the built layer in the simulator (frozen between
// invocations) exports to a backend that answers 429 with Retry-After: 1 to half the requests. The
// time the extension adds after the function's response stays near the healthy figure (at most
// twice it, and 50 ms, plus a margin for this shared machine) instead of waiting out Retry-After,
// and what is not sent during invocations goes out in the background or at SHUTDOWN.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFaults } from '../support/fault-backend.js';
import { ensureLayer } from '../support/e2e-harness.js';

/** Process scheduling on a loaded machine; the old behaviour held ~1,000 ms. */
const MARGIN_MS = 60;

test('a backend answering 429 (Retry-After: 1) to half the requests adds little post-runtime', async () => {
  ensureLayer();
  const healthy = await runFaults({ invocations: 25, backend: { throttleEvery: 0, maxDelayMs: 0 } });
  const throttled = await runFaults({ invocations: 25, backend: { throttleEvery: 2, maxDelayMs: 0 } });
  assert.ok(throttled.throttled > 0, 'the backend throttled');
  const bound = Math.min(2 * healthy.postRuntimeMeanMs, 50) + MARGIN_MS;
  assert.ok(
    throttled.postRuntimeMeanMs <= Math.max(bound, 2 * healthy.postRuntimeMeanMs + MARGIN_MS),
    `post-runtime ${throttled.postRuntimeMeanMs.toFixed(1)} ms under throttling, healthy ${healthy.postRuntimeMeanMs.toFixed(1)} ms`,
  );
  assert.ok(throttled.postRuntimeMeanMs < 200, `${throttled.postRuntimeMeanMs} ms`);
  // Nothing silently lost: every invocation span arrived, or the extension counted it unsent at exit.
  assert.equal(healthy.lostInvocationSpans, 0);
  assert.ok(
    throttled.lostInvocationSpans === 0 || throttled.unsentItems > 0,
    `${throttled.lostInvocationSpans} invocation spans missing, ${throttled.unsentItems} items reported unsent`,
  );
});
