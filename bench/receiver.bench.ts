// Receiver throughput on loopback: spans per second accepted from 100-span requests, sent over
// keep-alive connections the way an SDK exporter sends them. Run:
//   node --import tsx bench/receiver.bench.ts [seconds-per-case=3] [concurrency=4]

import { Agent, request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { sampleSpans } from './sample-spans.js';
import type { TelemetryChunk } from '../src/model/chunk.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = Number(process.argv[3] ?? 4);
const SPANS_PER_REQUEST = 100;

function send(
  agent: Agent,
  port: number,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function runCase(
  name: string,
  port: number,
  headers: Record<string, string>,
  body: Uint8Array,
  counted: () => number,
) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const before = counted();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let requests = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const status = await send(agent, port, headers, body);
      if (status !== 200) throw new Error(`${name}: status ${status}`);
      requests++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const spans = counted() - before;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  // Per CPU-second (sender included, it runs in this process): steadier than wall time on a busy machine.
  console.log(
    `${name.padEnd(16)} ${(spans / seconds).toFixed(0).padStart(9)} spans/s  ${(requests / seconds).toFixed(0).padStart(6)} req/s  ` +
      `${(spans / cpuSeconds).toFixed(0).padStart(9)} spans/CPU-s  (${body.byteLength} B/request, ${spans} spans in ${seconds.toFixed(1)} s)`,
  );
}

const spans = await sampleSpans(SPANS_PER_REQUEST);
const protobuf = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
const json = JsonTraceSerializer.serializeRequest(spans) as Uint8Array;
let accepted = 0;
const receiver = new OtlpReceiver({
  sink: {
    enqueue: (chunk: TelemetryChunk) => {
      accepted += chunk.items;
    },
  },
  port: 0,
  hosts: ['127.0.0.1'],
});
const { port } = await receiver.start();
console.log(
  `node ${process.version}, ${CONCURRENCY} connections, ${SPANS_PER_REQUEST} spans/request, ${SECONDS} s per case`,
);
// Warm-up loads the schema and lets the JIT settle.
for (let i = 0; i < 200; i++)
  await send(new Agent(), port, { 'content-type': 'application/x-protobuf' }, protobuf);
const counted = () => accepted;
await runCase('protobuf', port, { 'content-type': 'application/x-protobuf' }, protobuf, counted);
await runCase(
  'protobuf+gzip',
  port,
  { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
  gzipSync(protobuf),
  counted,
);
await runCase('json', port, { 'content-type': 'application/json' }, json, counted);
await receiver.stop();
