// A fake Datadog OTLP intake on 127.0.0.1 enforcing the rules the real one applies to us:
//  - dd-api-key must be present and equal to the configured key, else 403;
//  - bodies must be protobuf (415 otherwise);
//  - uncompressed payloads over the limits get 413 (metrics 500 KB, traces 3.2 MB; logs 5 MB);
//  - metrics with a cumulative sum, histogram or exponential histogram get 400 (delta only);
//  - 202 on success; accepted payloads are recorded decoded.

import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Signal } from '../../../src/model/chunk.js';
import {
  allMetrics,
  decodeRequest,
  type LogsRequest,
  type MetricsRequest,
  type TracesRequest,
} from '../../../tools/otlp/decode.js';
import { decodeContent, readBody, signalOfPath } from '../../../tools/otlp/http-body.js';
import { countItems } from '../../../tools/otlp/sink.js';

/** OTLP AggregationTemporality enum value for cumulative. */
const CUMULATIVE = 2;

export const DATADOG_INTAKE_LIMITS: Record<Signal, number> = {
  metrics: 500_000,
  traces: 3_200_000,
  logs: 5_000_000,
};

export interface IntakeRecord {
  signal: Signal;
  status: number;
  /** Why it was refused, if it was. */
  reason?: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  items: number;
}

export interface DatadogIntake {
  /** Base URL; the preset's endpoint overrides take `${url}/v1/<signal>`. */
  readonly url: string;
  readonly port: number;
  /** Every request with its answer. */
  readonly log: IntakeRecord[];
  accepted(signal: Signal): IntakeRecord[];
  acceptedItems(signal: Signal): number;
  /** Every accepted metrics payload, decoded. */
  readonly metricsPayloads: MetricsRequest[];
  /** Every accepted traces / logs payload, decoded. */
  readonly tracesPayloads: TracesRequest[];
  readonly logsPayloads: LogsRequest[];
  close(): Promise<void>;
}

function cumulativeMetric(request: MetricsRequest): string | undefined {
  for (const m of allMetrics(request)) {
    const temporality =
      m.sum?.aggregationTemporality ??
      m.histogram?.aggregationTemporality ??
      m.exponentialHistogram?.aggregationTemporality;
    if (temporality === CUMULATIVE) return m.name;
  }
  return undefined;
}

export async function startDatadogIntake(options: { apiKey: string }): Promise<DatadogIntake> {
  const log: IntakeRecord[] = [];
  const metricsPayloads: MetricsRequest[] = [];
  const tracesPayloads: TracesRequest[] = [];
  const logsPayloads: LogsRequest[] = [];

  const server = http.createServer(async (req, res) => {
    const wire = await readBody(req);
    const signal = signalOfPath(req.url);
    if (req.method !== 'POST' || !signal) {
      res.writeHead(404).end();
      return;
    }
    const record: IntakeRecord = { signal, status: 202, headers: req.headers, bytes: 0, items: 0 };
    log.push(record);
    const refuse = (status: number, reason: string): void => {
      record.status = status;
      record.reason = reason;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [reason] }));
    };

    const key = req.headers['dd-api-key'];
    if (key === undefined || key === '') return refuse(403, 'missing API key');
    if (key !== options.apiKey) return refuse(403, 'invalid API key');
    if (!String(req.headers['content-type'] ?? '').includes('protobuf'))
      return refuse(415, 'protobuf expected');

    let body: Buffer;
    try {
      body = decodeContent(req, wire);
    } catch {
      return refuse(400, 'bad gzip');
    }
    record.bytes = body.length;
    if (body.length > DATADOG_INTAKE_LIMITS[signal]) return refuse(413, 'payload too large');

    try {
      const decoded = decodeRequest(signal, body);
      record.items = countItems(signal, decoded);
      if (signal === 'metrics') {
        const cumulative = cumulativeMetric(decoded as MetricsRequest);
        if (cumulative) return refuse(400, `cumulative temporality is not supported (metric ${cumulative})`);
        metricsPayloads.push(decoded as MetricsRequest);
      } else if (signal === 'traces') tracesPayloads.push(decoded as TracesRequest);
      else logsPayloads.push(decoded as LogsRequest);
    } catch {
      return refuse(400, 'undecodable payload');
    }
    res.writeHead(202, { 'content-type': 'application/x-protobuf' }).end();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const accepted = (signal: Signal) => log.filter((r) => r.signal === signal && r.status === 202);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    accepted,
    acceptedItems: (signal) => accepted(signal).reduce((n, r) => n + r.items, 0),
    metricsPayloads,
    tracesPayloads,
    logsPayloads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
