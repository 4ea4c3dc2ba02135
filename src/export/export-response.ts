// Reads the partialSuccess of an Export*ServiceResponse (protobuf or JSON). A fully successful
// response is empty, so the decoders are loaded only when a body actually arrives.

import type { Signal } from '../model/chunk.js';

export interface PartialSuccess {
  /** Spans, data points or log records the backend refused. */
  rejected: number;
  message: string;
}

const REJECTED_FIELD: Record<Signal, 'rejectedSpans' | 'rejectedDataPoints' | 'rejectedLogRecords'> = {
  traces: 'rejectedSpans',
  metrics: 'rejectedDataPoints',
  logs: 'rejectedLogRecords',
};

function fromObject(signal: Signal, response: unknown): PartialSuccess | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  const partial = (response as { partialSuccess?: unknown }).partialSuccess;
  if (partial === null || typeof partial !== 'object') return undefined;
  const fields = partial as Record<string, unknown>;
  // int64 arrives as a number (protobuf reader), a decimal string (OTLP/JSON) or a bigint.
  const raw = fields[REJECTED_FIELD[signal]];
  const rejected = raw === undefined || raw === null ? 0 : Number(raw);
  const message = typeof fields['errorMessage'] === 'string' ? fields['errorMessage'] : '';
  if ((!Number.isFinite(rejected) || rejected <= 0) && message === '') return undefined;
  return { rejected: Number.isFinite(rejected) && rejected > 0 ? rejected : 0, message };
}

/**
 * The partial success of a 2xx answer, or undefined when everything was accepted. Throws when the
 * body cannot be decoded (the caller logs that; the data still counts as delivered).
 */
export async function readPartialSuccess(
  signal: Signal,
  contentType: string | undefined,
  body: Buffer,
): Promise<PartialSuccess | undefined> {
  if (body.length === 0) return undefined;
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('json')) return fromObject(signal, JSON.parse(body.toString('utf8')));
  if (type !== '' && !type.includes('protobuf')) return undefined;
  const transformer = await import('@opentelemetry/otlp-transformer');
  const serializer =
    signal === 'traces'
      ? transformer.ProtobufTraceSerializer
      : signal === 'metrics'
        ? transformer.ProtobufMetricsSerializer
        : transformer.ProtobufLogsSerializer;
  return fromObject(signal, serializer.deserializeResponse(body));
}
