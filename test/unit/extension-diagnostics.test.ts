// Problems the components only count must reach the user: a converter exception and a request the
// receiver partly rejects show up in the extension's log, in self-telemetry and in the shutdown
// line's problems clause.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  convertProblems,
  converterFailureLog,
  logConverterCounters,
  platformConverterCounters,
} from '../../src/convert/convert-telemetry.js';
import { PlatformConverter } from '../../src/convert/index.js';
import { LogConverter } from '../../src/convert/logs.js';
import { createExtensionLogger } from '../../src/extension-log.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import { SelfTelemetry } from '../../src/pipeline/self-telemetry.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import { receiverCounters, receiverProblems } from '../../src/receiver/receiver-telemetry.js';
import { recordingLog } from '../support/fakes/destinations.js';
import { post } from '../support/http-post.js';

/** The value of one observed counter series in a cumulative emission, or undefined when absent. */
function point(
  telemetry: SelfTelemetry,
  name: string,
  attributes: Record<string, string>,
): number | undefined {
  const metrics = telemetry.buildMetrics('cumulative', 0, Date.now());
  const metric = metrics.find((m) => m.descriptor.name === name);
  const found = metric?.dataPoints.find((p) => JSON.stringify(p.attributes) === JSON.stringify(attributes));
  return found === undefined ? undefined : Number(found.value);
}

class ListSink implements ChunkSink {
  readonly chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
}

describe('converter failures', () => {
  test('an exception while handling an event is logged, counted in self-telemetry and named at shutdown', () => {
    const converter = new PlatformConverter({ env: {} }, new ListSink());
    const log = recordingLog();
    const note = converterFailureLog(log);
    const telemetry = new SelfTelemetry();
    telemetry.observe(() => platformConverterCounters(converter.stats));

    // A record whose fields cannot even be read: the converter must carry on and count it.
    const poisoned = {
      get type(): string {
        throw new TypeError('record exploded');
      },
    } as unknown as TelemetryEvent;
    const good = {
      type: 'platform.start',
      timeMs: Date.now(),
      requestId: 'a1b2c3d4-0000-4000-8000-000000000001',
    } as unknown as TelemetryEvent;
    converter.ingest([poisoned, good]);
    note(converter.stats, converter.lastFailure);
    // Nothing new: nothing more is logged.
    note(converter.stats, converter.lastFailure);

    assert.equal(log.lines.length, 1, log.text());
    assert.equal(log.lines[0]?.level, 'error');
    assert.match(log.lines[0]!.message, /platform converter: .*\(1 so far\): TypeError: record exploded/);
    assert.equal(point(telemetry, 'otel_lambda_extension.platform.events', { outcome: 'failed' }), 1);
    assert.equal(point(telemetry, 'otel_lambda_extension.platform.events', { outcome: 'handled' }), 1);

    const problems = convertProblems(converter.stats, undefined, []);
    assert.deepEqual(problems, [{ text: 'platform events failed 1', loss: true }]);
  });

  test('repeated failures are logged at the first and every hundredth, all counted', () => {
    const converter = new PlatformConverter({ env: {} }, new ListSink());
    const log = recordingLog();
    const note = converterFailureLog(log);
    const bad = {
      get type(): string {
        throw new Error('again');
      },
    } as unknown as TelemetryEvent;
    for (let i = 0; i < 150; i++) {
      converter.ingest([bad]);
      note(converter.stats, converter.lastFailure);
    }
    assert.deepEqual(
      log.lines.map((l) => /\((\d+) so far\)/.exec(l.message)?.[1]),
      ['1', '100'],
    );
    assert.equal(converter.stats.eventErrors, 150);
  });

  test('a healthy converter reports no problems and only volume counters', () => {
    const converter = new PlatformConverter({ env: {} }, new ListSink());
    assert.deepEqual(convertProblems(converter.stats, undefined, []), []);
    const logs = new LogConverter({ resource: converter.resource }, new ListSink());
    logs.ingest([
      {
        type: 'function',
        timeMs: Date.now(),
        message: 'hello',
        record: 'hello',
      } as unknown as TelemetryEvent,
    ]);
    assert.deepEqual(
      logConverterCounters(logs.stats()).map((c) => [c.name, c.attributes]),
      [['otel_lambda_extension.logs.records', { outcome: 'converted' }]],
    );
    assert.deepEqual(convertProblems(converter.stats, logs.stats(), ['OTEL_RESOURCE_ATTRIBUTES: x']), [
      { text: 'resource problems 1', loss: false },
    ]);
  });
});

describe('receiver warnings', () => {
  test('a partly rejected request is logged once, counted in self-telemetry and named at shutdown', async () => {
    // The extension's own logger: it reports each kind once.
    const lines: string[] = [];
    const log = createExtensionLogger({ level: 'debug', write: (line) => lines.push(line) });
    const receiver = new OtlpReceiver({ sink: new ListSink(), port: 0, hosts: ['127.0.0.1'], log });
    const telemetry = new SelfTelemetry();
    telemetry.observe(() => receiverCounters(receiver.stats()));
    const { port } = await receiver.start();
    try {
      const request = {
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'good' },
                  { traceId: '0af76519', spanId: 'b7ad6b7169203332', name: 'short trace id' },
                ],
              },
            ],
          },
        ],
      };
      for (let i = 0; i < 2; i++) {
        const res = await post(port, '/v1/traces', {
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify(request)),
        });
        assert.equal(res.status, 200);
      }
    } finally {
      await receiver.stop();
    }
    const warnings = lines.filter((l) => l.includes(' WARN '));
    assert.equal(warnings.length, 1, lines.join(''));
    assert.match(warnings[0]!, /OTLP receiver: traces: 1 rejected/);
    assert.equal(
      point(telemetry, 'otel_lambda_extension.receiver.items', { signal: 'traces', outcome: 'rejected' }),
      2,
    );
    assert.equal(
      point(telemetry, 'otel_lambda_extension.receiver.items', { signal: 'traces', outcome: 'accepted' }),
      2,
    );
    assert.deepEqual(receiverProblems(receiver.stats()), [
      { text: 'receiver items rejected 2 (traces 2)', loss: true },
    ]);
  });
});
