// One version, package.json's, everywhere the built layer names itself: the instrumentation scope of
// its spans, metrics and logs, telemetry.distro.version, the User-Agent of its exports, and the scope
// of its self-telemetry.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';
import type { LogsRequest, MetricsRequest, TracesRequest } from '../../tools/otlp/decode.js';
import { extensionEnvironment, REPO_ROOT } from '../support/e2e-harness.js';

const NAME = 'otel-lambda-extension';

test('the built layer reports the package version as scope, distro version, User-Agent and self-telemetry scope', async () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  const sink = await startOtlpSink();
  const { sim } = await extensionEnvironment({ handler: 'logs.mjs', endpoint: sink.url });
  try {
    const result = await sim.invoke({ lines: 2 });
    assert.equal(result.status, 'success', result.errorType);
    await sim.shutdown();
  } finally {
    await sim.close();
    await sink.close();
  }
  assert.ok(sink.requests.length > 0);
  const userAgents = new Set(sink.requests.map((r) => r.headers['user-agent']));
  assert.deepEqual([...userAgents], [`${NAME}/${version}`]);
  const scopes = new Set<string>();
  const distro = new Set<unknown>();
  for (const r of sink.requests) {
    const d = r.decoded as Partial<TracesRequest & MetricsRequest & LogsRequest>;
    const resources = [...(d.resourceSpans ?? []), ...(d.resourceMetrics ?? []), ...(d.resourceLogs ?? [])];
    for (const rs of resources) {
      for (const kv of rs.resource?.attributes ?? [])
        if (kv.key === 'telemetry.distro.version') distro.add(kv.value?.stringValue);
      const scoped = [
        ...((rs as { scopeSpans?: { scope: { name: string; version: string } | null }[] }).scopeSpans ?? []),
        ...((rs as { scopeMetrics?: { scope: { name: string; version: string } | null }[] }).scopeMetrics ??
          []),
        ...((rs as { scopeLogs?: { scope: { name: string; version: string } | null }[] }).scopeLogs ?? []),
      ];
      for (const s of scoped) if (s.scope?.name === NAME) scopes.add(s.scope.version);
    }
  }
  assert.deepEqual([...distro], [version]);
  assert.deepEqual([...scopes], [version]);
  const selfTelemetry = sink.requests.some((r) =>
    JSON.stringify(r.decoded).includes('otel_lambda_extension.export.items'),
  );
  assert.ok(selfTelemetry, 'self-telemetry was exported (under the same scope)');
});
