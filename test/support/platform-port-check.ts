// Exercises the Telemetry API listener and the OTLP/HTTP receiver through whichever runtime port
// the process selects, over real loopback HTTP, and prints what it saw as one JSON line. Run by
// test/unit/platform-port.test.ts under Bun (and under Node, for the same answers).

import { gzipSync } from 'node:zlib';
import { RuntimeHttp, RuntimeTransportError } from '../../src/lambda/runtime-http.js';
import { startTelemetryListener } from '../../src/lambda/telemetry-listener.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { MemoryBudget } from '../../src/pipeline/memory-budget.js';
import { platform } from '../../src/platform/index.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';

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

async function receiverChecks() {
  let items = 0;
  const receiver = new OtlpReceiver({
    sink: {
      enqueue: (chunk: TelemetryChunk) => {
        items += chunk.items;
      },
    },
    port: 0,
    hosts: ['127.0.0.1'],
  });
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
    exportStatus,
    refusedBody,
    exportToClosedPort: closed.kind,
    apiStatus: apiAnswer.status,
    apiAllow: apiAnswer.headers['allow'],
    apiClosedCode,
    items,
    refused: receiver.stats().refused,
  };
}

const result = {
  platform: platform().name,
  listener: await listenerChecks(),
  receiver: await receiverChecks(),
};
console.log(JSON.stringify(result));
process.exit(0);
