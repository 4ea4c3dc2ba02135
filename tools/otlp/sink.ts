// A minimal OTLP/HTTP receiver on 127.0.0.1 for tests and benchmarks: records every request (decoded
// with the test-side schema unless told not to), counts items per signal, and answers 200 with an
// empty Export*ServiceResponse unless a responder says otherwise.

import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Signal } from '../../src/model/chunk.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  dataPoints,
  decodeRequest,
  type LogsRequest,
  type MetricsRequest,
  type TracesRequest,
} from './decode.js';
import { type DistanceRelay, startDistanceRelay, testCertificate } from './backend-distance.js';
import { decodeContent, readBody, signalOfPath } from './http-body.js';

export interface SinkRequest {
  signal: Signal;
  headers: IncomingHttpHeaders;
  /** Bytes on the wire (compressed if the client compressed). */
  wireBytes: number;
  /** Uncompressed body (as received when decoding is off). */
  body: Buffer;
  /** Decoded request (protobuf or JSON), when decoding is on. */
  decoded: TracesRequest | MetricsRequest | LogsRequest | undefined;
  /** Spans, data points or log records inside (0 when decoding is off). */
  items: number;
  receivedAtMs: number;
}

export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface OtlpSinkOptions {
  /** Decode bodies and count items (default true; benchmarks turn it off). */
  decode?: boolean;
  /** Custom answer per request; undefined = the default 200. */
  respond?: (request: SinkRequest) => SinkAnswer | undefined;
  /**
   * Network round trip between the extension and this backend, ms (default 0: loopback). Every
   * request pays it, and a new connection pays one more (and TLS its handshake's) before sending;
   * REALISTIC_BACKEND_RTT_MS (30) is a backend in the same region.
   */
  roundTripMs?: number;
  /**
   * Serve HTTPS with a self-signed certificate made at test time; clients trust it through
   * `caFile` (NODE_EXTRA_CA_CERTS for the extension).
   */
  tls?: boolean;
}

export interface OtlpSink {
  /** Base endpoint, e.g. http://127.0.0.1:41234 (append /v1/<signal>); https:// with `tls`. */
  readonly url: string;
  /** With `tls`: the certificate file clients must trust (NODE_EXTRA_CA_CERTS). */
  readonly caFile?: string;
  readonly port: number;
  /** Requests answered with success. */
  readonly requests: SinkRequest[];
  /** Every request, with the status it got. */
  readonly attempts: { signal: Signal; status: number; items: number }[];
  items(signal: Signal): number;
  /** Resolves when `predicate` holds, rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Connections accepted so far (keep-alive reuse shows as fewer connections than requests). */
  connections(): number;
  close(): Promise<void>;
}

export function countItems(signal: Signal, decoded: TracesRequest | MetricsRequest | LogsRequest): number {
  if (signal === 'traces') return allSpans(decoded as TracesRequest).length;
  if (signal === 'logs') return allLogRecords(decoded as LogsRequest).length;
  return allMetrics(decoded as MetricsRequest).reduce((n, m) => n + dataPoints(m).length, 0);
}

export function decodeBody(
  signal: Signal,
  contentType: string | undefined,
  body: Buffer,
): TracesRequest | MetricsRequest | LogsRequest {
  if (String(contentType ?? '').includes('json')) {
    return JSON.parse(body.toString('utf8')) as TracesRequest | MetricsRequest | LogsRequest;
  }
  return decodeRequest(signal, body);
}

export async function startOtlpSink(options: OtlpSinkOptions = {}): Promise<OtlpSink> {
  const decode = options.decode ?? true;
  const requests: SinkRequest[] = [];
  const attempts: OtlpSink['attempts'] = [];
  const totals: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };
  let connectionCount = 0;

  const certificate = options.tls ? testCertificate() : undefined;
  const handler: http.RequestListener = async (req, res) => {
    const signal = signalOfPath(req.url);
    const wire = await readBody(req);
    if (req.method !== 'POST' || !signal) {
      res.writeHead(404).end();
      return;
    }
    let body: Buffer;
    let decoded: SinkRequest['decoded'];
    let items = 0;
    try {
      // Without decoding (benchmarks) the body stays as received, saving the sink's CPU.
      body = decode ? decodeContent(req, wire) : wire;
      if (decode) {
        decoded = decodeBody(signal, req.headers['content-type'], body);
        items = countItems(signal, decoded);
      }
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`undecodable body: ${String(error)}`);
      return;
    }
    const record: SinkRequest = {
      signal,
      headers: req.headers,
      wireBytes: wire.length,
      body,
      decoded,
      items,
      receivedAtMs: Date.now(),
    };
    const answer = options.respond?.(record);
    attempts.push({ signal, status: answer?.status ?? 200, items });
    if (!answer || (answer.status >= 200 && answer.status < 300)) {
      requests.push(record);
      totals[signal] += items;
    }
    if (answer) {
      res.writeHead(answer.status, answer.headers).end(answer.body);
      return;
    }
    const json = String(req.headers['content-type'] ?? '').includes('json');
    res
      .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
      .end(json ? '{}' : '');
  };
  const server = certificate
    ? https.createServer({ key: certificate.key, cert: certificate.cert }, handler)
    : http.createServer(handler);
  server.on('connection', () => connectionCount++);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const serverPort = (server.address() as AddressInfo).port;
  const roundTripMs = options.roundTripMs ?? 0;
  const relay: DistanceRelay | undefined =
    roundTripMs > 0 ? await startDistanceRelay(serverPort, roundTripMs) : undefined;
  const port = relay?.port ?? serverPort;

  return {
    url: `${certificate ? 'https' : 'http'}://127.0.0.1:${port}`,
    caFile: certificate?.certFile,
    port,
    requests,
    attempts,
    items: (signal) => totals[signal],
    connections: () => connectionCount,
    async waitFor(predicate, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > until) throw new Error('otlp sink: condition not met in time');
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close: async () => {
      await relay?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
