// Telemetry API listener throughput on loopback: events per second pushed, answered, parsed and
// handed on, from 1,000-record pushes (Lambda's own are up to 1 MB) over keep-alive connections,
// the way Lambda pushes. Run:
//   node --import tsx bench/telemetry-listener.bench.ts [seconds=3] [concurrency=2]

import http from 'node:http';
import { startTelemetryListener } from '../src/lambda/telemetry-listener.js';

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = Number(process.argv[3] ?? 2);
const RECORDS = 1000;

function pushBody(): Buffer {
  const time = new Date().toISOString();
  const records: unknown[] = [];
  for (let i = 0; i < RECORDS; i++) {
    records.push(
      i % 10 === 0
        ? { time, type: 'platform.start', record: { requestId: `r-${i}`, version: '$LATEST' } }
        : { time, type: 'function', record: `log line ${i} of an invocation, as a function writes it` },
    );
  }
  return Buffer.from(JSON.stringify(records));
}

async function main(): Promise<void> {
  let events = 0;
  const listener = await startTelemetryListener({
    host: '127.0.0.1',
    onEvents: (batch) => {
      events += batch.length;
    },
    logger: { debug() {}, info() {}, warn() {}, error() {}, once() {} } as never,
  });
  const body = pushBody();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: listener.port,
          method: 'POST',
          path: '/telemetry',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const until = Date.now() + SECONDS * 1000;
  const cpu = process.cpuUsage();
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await send();
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  await listener.close();
  const cpuS = (used.user + used.system) / 1e6;
  console.log(
    `telemetry listener: ${Math.round(events / elapsed)} events/s (${events} events, ${body.length} B pushes); ` +
      `${Math.round(events / cpuS)} events per CPU-second (sender in the same process); ` +
      `loadavg ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`,
  );
}

await main();
