// Function-like spans made by the real OpenTelemetry SDK, for the benchmarks that push OTLP around.

import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/** `count` HTTP-server-like spans of a function named bench-fn. */
export async function sampleSpans(count: number): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'bench-fn',
      'cloud.provider': 'aws',
      'faas.name': 'bench-fn',
    }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('bench', '1.0.0');
  for (let i = 0; i < count; i++) {
    tracer
      .startSpan(`GET /items/${i % 10}`, {
        attributes: {
          'http.request.method': 'GET',
          'url.path': `/items/${i}`,
          'http.response.status_code': 200,
          'server.port': 443,
        },
      })
      .end();
  }
  await provider.forceFlush();
  return exporter.getFinishedSpans();
}
