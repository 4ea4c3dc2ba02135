// Exercises the Telemetry API listener and the OTLP/HTTP receiver through whichever runtime port
// the process selects, over real loopback HTTP, and prints what it saw as one JSON line. Run by
// test/unit/platform-port.test.ts under Bun (and under Node, for the same answers).

import { connect } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { gzipSync } from 'node:zlib';
import { RuntimeHttp, RuntimeTransportError } from '../../src/lambda/runtime-http.js';
import { startTelemetryListener } from '../../src/lambda/telemetry-listener.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { MemoryBudget } from '../../src/pipeline/memory-budget.js';
import { platform } from '../../src/platform/index.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import { encodeRequest } from '../../tools/otlp/decode.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, once() {} } as never;

async function post(url: string, body: Uint8Array | string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body, headers });
  await res.arrayBuffer();
  return res.status;
}

async function listenerChecks() {
  const events: unknown[] = [];
  const listener = await startTelemetryListener({
    host: '127.0.0.1',
    onEvents: (batch) => events.push(...batch),
    maxBodyBytes: 200_000,
    budget: new MemoryBudget(1024 * 1024),
    logger: quiet,
  });
  const url = `http://127.0.0.1:${listener.port}/telemetry`;
  const time = new Date().toISOString();
  const push = (n: number) =>
    JSON.stringify(Array.from({ length: n }, (_, i) => ({ time, type: 'function', record: `line ${i}` })));
  const accepted = await post(url, push(3));
  // The answer precedes the hand-over; give it a turn.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const get = await fetch(url).then((r) => r.status);
  const tooLarge = await post(url, 'x'.repeat(300_000));
  const overBudget = await post(url, push(2000));
  await listener.close();
  return { accepted, events: events.length, get, tooLarge, overBudget, stats: listener.stats };
}

/** A receiver on a free loopback port whose sink counts the items it is handed. */
function countingReceiver(grpc?: { port: number }) {
  const counted = { items: 0 };
  const receiver = new OtlpReceiver({
    sink: {
      enqueue: (chunk: TelemetryChunk) => {
        counted.items += chunk.items;
      },
    },
    port: 0,
    hosts: ['127.0.0.1'],
    ...(grpc && { grpc }),
  });
  return { receiver, counted };
}

async function receiverChecks() {
  const { receiver, counted } = countingReceiver();
  const { port } = await receiver.start();
  const base = `http://127.0.0.1:${port}`;
  const request = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'port-check' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                name: 'handler',
                kind: 2,
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000100000000',
              },
            ],
          },
        ],
      },
    ],
  };
  const json = JSON.stringify(request);
  const jsonStatus = await post(`${base}/v1/traces`, json, { 'content-type': 'application/json' });
  const gzipStatus = await post(`${base}/v1/traces`, gzipSync(json), {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
  });
  const notFound = await post(`${base}/v1/nothing`, json, { 'content-type': 'application/json' });
  const badType = await post(`${base}/v1/traces`, json, { 'content-type': 'text/plain' });
  const badGzip = await post(`${base}/v1/traces`, 'not gzip', {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
  });
  // Bodies past Bun's whole-body read (256 KiB) and bodies without a Content-Length are streamed.
  const [resourceSpans] = request.resourceSpans;
  const [span] = resourceSpans?.scopeSpans[0]?.spans ?? [];
  const spans = Array.from({ length: 2000 }, (_, i) => ({
    ...span,
    spanId: (0x1000 + i).toString(16).padStart(16, '0'),
  }));
  const large = JSON.stringify({ resourceSpans: [{ ...resourceSpans, scopeSpans: [{ spans }] }] });
  const largeStatus = await post(`${base}/v1/traces`, large, { 'content-type': 'application/json' });
  const chunkedStatus = await fetch(`${base}/v1/traces`, {
    method: 'POST',
    body: new Blob([json]).stream(),
    headers: { 'content-type': 'application/json' },
    duplex: 'half',
  } as RequestInit).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });
  // The export client of the same port, sending to this receiver.
  const client = platform().exportClient({ userAgent: 'port-check', thawLateMs: 1000, thawGraceMs: 500 });
  const exported = await client.post({
    url: new URL(`${base}/v1/traces`),
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(json),
    timeoutMs: 5000,
    signal: new AbortController().signal,
  });
  const exportStatus = exported.kind === 'response' ? exported.response.status : exported.kind;
  const refusedExport = await client.post({
    url: new URL(`${base}/v1/nothing`),
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(json),
    timeoutMs: 5000,
    signal: new AbortController().signal,
  });
  const refusedBody =
    refusedExport.kind === 'response' ? refusedExport.response.body.length > 0 : refusedExport.kind;
  client.destroy();
  // The local API client (Lambda's Runtime API), against the same server.
  const api = new RuntimeHttp(`127.0.0.1:${port}`);
  const apiAnswer = await api.request({ method: 'GET', path: '/v1/traces', timeoutMs: 5000 });
  api.close();
  await receiver.stop();
  const apiClosedCode = await new RuntimeHttp(`127.0.0.1:${port}`)
    .request({ method: 'GET', path: '/', timeoutMs: 5000 })
    .then(
      () => 'answered',
      (err: unknown) => (err instanceof RuntimeTransportError ? err.code : String(err)),
    );
  const closed = await client.post({
    url: new URL(`${base}/v1/traces`),
    headers: {},
    body: Buffer.from(json),
    timeoutMs: 5000,
    signal: new AbortController().signal,
  });
  return {
    jsonStatus,
    gzipStatus,
    notFound,
    badType,
    badGzip,
    largeBytes: large.length,
    largeStatus,
    chunkedStatus,
    exportStatus,
    refusedBody,
    exportToClosedPort: closed.kind,
    apiStatus: apiAnswer.status,
    apiAllow: apiAnswer.headers['allow'],
    apiClosedCode,
    items: counted.items,
    refused: receiver.stats().refused,
  };
}

/** One unary gRPC call; resolves with grpc-status (trailers, or headers of a trailers-only answer). */
function grpcCall(port: number, message: Uint8Array, gzip = false): Promise<string | undefined> {
  const body = gzip ? gzipSync(message) : message;
  const framed = Buffer.alloc(5 + body.byteLength);
  framed[0] = gzip ? 1 : 0;
  framed.writeUInt32BE(body.byteLength, 1);
  framed.set(body, 5);
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return new Promise<string | undefined>((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(gzip && { 'grpc-encoding': 'gzip' }),
    });
    let status: string | undefined;
    req.on('response', (headers) => {
      status ??= headers['grpc-status'] as string | undefined;
    });
    req.on('trailers', (trailers) => {
      status = trailers['grpc-status'] as string | undefined;
    });
    req.on('data', () => {});
    req.on('end', () => resolve(status));
    req.on('error', reject);
    req.end(framed);
  }).finally(() => session.close());
}

/** The OTLP/gRPC transport: its listener is the port's TCP listener (Bun.listen on Bun). */
async function grpcChecks() {
  const { receiver, counted } = countingReceiver({ port: 0 });
  await receiver.start();
  const bound = await receiver.startGrpc();
  const port = bound?.port ?? 0;
  const spans = (n: number) =>
    encodeRequest('traces', {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'port-check' } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: n }, (_, i) => ({
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: (i + 1).toString(16).padStart(16, '0'),
                name: `span ${i} ${'x'.repeat(40)}`,
                kind: 2,
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000100000000',
              })),
            },
          ],
        },
      ],
    });
  const one = await grpcCall(port, spans(1));
  const gzipped = await grpcCall(port, spans(2), true);
  // ~1.4 MB: many reads from the socket, well past the stream's buffer.
  const large = await grpcCall(port, spans(16_000));
  // Three calls at once on one runtime: each on its own connection.
  const concurrent = await Promise.all([1, 2, 3].map((n) => grpcCall(port, spans(n))));
  await receiver.stop();
  const afterStop = await new Promise<string>((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: { code?: string }) => resolve(err.code ?? 'error'));
  });
  return { listening: port > 0, one, gzipped, large, concurrent, afterStop, items: counted.items };
}

const result = {
  platform: platform().name,
  listener: await listenerChecks(),
  receiver: await receiverChecks(),
  grpc: await grpcChecks(),
};
console.log(JSON.stringify(result));
process.exit(0);
