// What the receiver's check of forwarded protobuf costs per span, next to the decode it already
// does, on SDK-made 100-span requests (CPU time of this process, after warm-up). Run:
//   node --import tsx bench/wire-check.bench.ts [seconds-per-case=1]

import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { loadOtlpSchema } from '../src/receiver/otlp-schema.js';
import { checkExportRequest } from '../src/receiver/wire-check.js';
import { sampleSpans } from './sample-spans.js';

const SECONDS = Number(process.argv[2] ?? 1);
const SPANS_PER_REQUEST = 100;

const schema = await loadOtlpSchema();
const type = schema.request.traces;
const body = ProtobufTraceSerializer.serializeRequest(await sampleSpans(SPANS_PER_REQUEST)) as Uint8Array;

function measure(name: string, run: () => void): number {
  for (let i = 0; i < 2000; i++) run(); // warm-up
  const cpu = process.cpuUsage();
  const deadline = performance.now() + SECONDS * 1000;
  let requests = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) run();
    requests += 100;
  }
  const used = process.cpuUsage(cpu);
  const nsPerSpan = ((used.user + used.system) * 1000) / (requests * SPANS_PER_REQUEST);
  console.log(
    `${name.padEnd(28)} ${nsPerSpan.toFixed(0).padStart(6)} ns CPU per span (${requests} requests)`,
  );
  return nsPerSpan;
}

console.log(
  `node ${process.version}, ${SPANS_PER_REQUEST} spans/request (${body.byteLength} B), ${SECONDS} s per case`,
);
const check = measure('wire check', () => {
  if (checkExportRequest(type, body).rejectedItems !== 0) throw new Error('sample request rejected');
});
const decode = measure('protobufjs decode (existing)', () => type.decode(body));
console.log(`wire check / decode: ${((check / decode) * 100).toFixed(0)} %`);
