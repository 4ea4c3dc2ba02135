// One malformed span from the function must cost only itself. The function (forward-spans.mjs) sends
// its own OTLP/protobuf request to the receiver every invocation; in one of 20 invocations that
// request also holds a span whose `kind` field has the wrong wire type, which the real Collector
// refuses with 400 for the whole request it arrives in. With the built layer, under the default
// flush strategy and under `continuous`, every platform invocation span and every good function
// span reaches the Collector; the bad span is refused at the receiver and counted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributesToObject } from '../support/collector/collector.js';
import { extensionEnvironment } from '../support/e2e-harness.js';
import { useCollector } from '../support/collector-suite.js';

const INVOCATIONS = 20;
const POISONED = 7;

const col = useCollector();

for (const strategy of ['default', 'continuous,1000']) {
  test(`${strategy} strategy: 20 invocations, one poison span: every platform and good function span delivered`, async () => {
    await col.clear();
    const { sim, extensionLines } = await extensionEnvironment({
      handler: 'forward-spans.mjs',
      endpoint: col.endpoint,
      env: strategy === 'default' ? {} : { LAMBDA_OTEL_FLUSH_STRATEGY: strategy },
    });
    try {
      const init = await sim.start();
      assert.equal(init.status, 'success', JSON.stringify(init));
      const ids: string[] = [];
      const answers: number[] = [];
      for (let i = 0; i < INVOCATIONS; i++) {
        const result = await sim.invoke({ poison: i === POISONED });
        assert.equal(result.status, 'success', JSON.stringify(result));
        ids.push(result.requestId);
        answers.push((result.response as { status: number }).status);
      }
      const down = await sim.shutdown();
      assert.equal(down.extensions[0]?.exitCode, 0);
      // The receiver accepts the request (the good span in it) and says the bad one was rejected.
      assert.deepEqual(answers, Array(INVOCATIONS).fill(200));

      const out = await col.read();
      const invocationSpans = out.spans
        .map((s) => attributesToObject(s.item.attributes)['faas.invocation_id'])
        .filter((id) => id !== undefined);
      const lost = ids.filter((id) => !invocationSpans.includes(id));
      assert.deepEqual(lost, [], `${lost.length} of ${INVOCATIONS} platform invocation spans lost`);
      const functionSpans = out.spans.filter((s) => s.scope.name === 'forward-spans').map((s) => s.item.name);
      assert.deepEqual(
        functionSpans.filter((n) => !n.endsWith('-poison')).sort(),
        Array.from({ length: INVOCATIONS }, (_, i) => `fn-${i}`).sort(),
      );
      assert.ok(!functionSpans.includes(`fn-${POISONED}-poison`), 'the malformed span was forwarded');
      // Counted, with its reason, in the shutdown line's drop reasons; nothing refused by the Collector.
      const last = extensionLines().findLast((l) => / shutdown \(/.test(l)) ?? '';
      assert.match(last, /malformed_protobuf=1\b/, last);
      assert.doesNotMatch(last, /http_400/, last);
      // …and in self-telemetry, by reason.
      const dropped = out.metricPoints
        .filter((m) => m.item.name === 'otel_lambda_extension.export.items.dropped')
        .flatMap((m) => m.item.sum?.dataPoints ?? [])
        .filter((p) => attributesToObject(p.attributes)['reason'] === 'malformed_protobuf');
      const cumulative = out.metricPoints.some(
        (m) =>
          m.item.name === 'otel_lambda_extension.export.items.dropped' &&
          m.item.sum?.aggregationTemporality === 2,
      );
      const values = dropped.map((p) => Number(p.asInt ?? p.asDouble ?? 0));
      assert.equal(
        cumulative ? Math.max(0, ...values) : values.reduce((a, b) => a + b, 0),
        1,
        JSON.stringify(dropped),
      );
      // The receiver's own report reaches the user: one warning, the shutdown line's problems, and
      // its counter in self-telemetry.
      const warnings = extensionLines().filter((l) => / WARN OTLP receiver: traces: 1 rejected/.test(l));
      assert.equal(warnings.length, 1, extensionLines().join('\n'));
      assert.match(last, /; problems: .*receiver items rejected 1 \(traces 1\)/, last);
      const rejected = out.metricPoints
        .filter((m) => m.item.name === 'otel_lambda_extension.receiver.items')
        .flatMap((m) => m.item.sum?.dataPoints ?? [])
        .filter((p) => {
          const a = attributesToObject(p.attributes);
          return a['signal'] === 'traces' && a['outcome'] === 'rejected';
        })
        .map((p) => Number(p.asInt ?? p.asDouble ?? 0));
      assert.equal(
        cumulative ? Math.max(0, ...rejected) : rejected.reduce((a, b) => a + b, 0),
        1,
        JSON.stringify(rejected),
      );
    } finally {
      await sim.close();
    }
  });
}
