// What processors cost per span, in CPU time: the same 100-span request (function-like spans from
// the real SDK) through the processing stage with no rules (the chunk passes undecoded), a filter
// rule, and redaction (filter + hash + delete + resource upsert); then receiver throughput over
// OTLP/HTTP loopback with and without those rules in the sink path.
//   node --import tsx bench/processors.bench.ts [seconds-per-case=2]

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ChunkSink, TelemetryChunk } from '../src/model/chunk.js';
import type { ProcessorsConfig } from '../src/process/processors-config.js';
import { TelemetryProcessor } from '../src/process/telemetry-processor.js';
import { OtlpReceiver } from '../src/receiver/otlp-receiver.js';
import { loadedOtlpSchema, loadOtlpSchema } from '../src/receiver/otlp-schema.js';
import { sampleSpans } from './sample-spans.js';

const SECONDS = Number(process.argv[2] ?? 2);
const SPANS = 100;

const none: ProcessorsConfig = {
  filter: { spans: [], log_records: [], metrics: [] },
  attributes: [],
  resource: [],
};
const filter: ProcessorsConfig = {
  ...none,
  filter: { ...none.filter, spans: [{ name_pattern: '^GET /items/0$' } as never] },
};
const redact: ProcessorsConfig = {
  filter: filter.filter,
  attributes: [
    { key: 'url.path', action: 'hash', signals: ['traces', 'metrics', 'logs'] } as never,
    { key: 'server.port', action: 'delete', signals: ['traces', 'metrics', 'logs'] } as never,
  ],
  resource: [{ key: 'deployment.environment.name', action: 'upsert', value: 'prod' } as never],
};
const CASES: [string, ProcessorsConfig][] = [
  ['no rules', none],
  ['filter', filter],
  ['filter+redact', redact],
];

await loadOtlpSchema();
const body = ProtobufTraceSerializer.serializeRequest(await sampleSpans(SPANS)) as Uint8Array;
const chunk: TelemetryChunk = {
  signal: 'traces',
  items: SPANS,
  bytes: body.byteLength,
  createdAtMs: Date.now(),
  protobuf: body,
  json: () => ({}),
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`node ${process.version}, ${SPANS} spans/chunk (${body.byteLength} B), load ${load()}`);

for (const [name, config] of CASES) {
  const processor = new TelemetryProcessor(config, loadedOtlpSchema);
  for (let i = 0; i < 300; i++) processor.process(chunk);
  const cpu0 = process.cpuUsage();
  let n = 0;
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until) {
    processor.process(chunk);
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  const usPerSpan = (cpu.user + cpu.system) / (n * SPANS);
  console.log(`process()  ${name.padEnd(14)} ${usPerSpan.toFixed(3).padStart(8)} µs CPU/span`);
}

function send(agent: Agent, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-protobuf' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

for (const [name, config] of CASES) {
  let accepted = 0;
  const counting: ChunkSink = { enqueue: (c) => (accepted += c.items) };
  const processor = new TelemetryProcessor(config, loadedOtlpSchema);
  const receiver = new OtlpReceiver({ sink: processor.sink(counting), port: 0, hosts: ['127.0.0.1'] });
  const { port } = await receiver.start();
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  for (let i = 0; i < 100; i++) await send(agent, port);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let requests = 0;
  const worker = async () => {
    while (performance.now() - started < SECONDS * 1000) {
      if ((await send(agent, port)) !== 200) throw new Error('not 200');
      requests++;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  await receiver.stop();
  console.log(
    `receiver   ${name.padEnd(14)} ${((requests * SPANS) / seconds).toFixed(0).padStart(8)} spans/s  ` +
      `${((cpu.user + cpu.system) / (requests * SPANS)).toFixed(2)} µs CPU/span (bench process, client included)`,
  );
}
console.log(`load ${load()}`);
