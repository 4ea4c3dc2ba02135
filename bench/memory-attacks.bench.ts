// Memory under attack: the built layer in the simulator (a 128 MB function by default), with
// - 60 concurrent uploads of 7 MB to the local receiver whose headers arrive first (bodies follow
//   once every request has been admitted or refused);
// - one Telemetry API push of 1e5 records, then 10 such pushes at once, straight to the listener.
// For each attack: the answers, what the extension counted, and its peak RSS (VmHWM, reset before
// each attack) against its idle RSS plus its memory budget. Run:
//   node --import tsx bench/memory-attacks.bench.ts [memory-MB=128]

import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { extensionEnvironment } from '../test/support/e2e-harness.js';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { readMemoryKb } from '../tools/simulator/processes.js';
import { processTree, treeMemory } from './harness/process-tree.js';
import { sampleSpans } from './sample-spans.js';

const MEMORY_MB = Number(process.argv[2] ?? 128);
const UPLOADS = 60;
const UPLOAD_BYTES = 7 * 1024 * 1024;
const RECORDS = 100_000;

export interface AttackResult {
  attack: string;
  answers: Record<string, number>;
  idleRssMb: number;
  peakRssMb: number;
  budgetMb: number | undefined;
  note: string;
}

/** A ~7 MB protobuf traces request made of real SDK spans. */
async function bigTracesRequest(): Promise<Buffer> {
  const spans = await sampleSpans(2000);
  const one = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
  // Export requests concatenate: repeated resourceSpans.
  const parts: Buffer[] = [];
  let size = 0;
  while (size + one.length <= UPLOAD_BYTES) {
    parts.push(one);
    size += one.length;
  }
  return Buffer.concat(parts);
}

/** Sends the headers of every upload first, then (after `pauseMs`) every body; returns the statuses. */
async function headersFirstUploads(port: number, body: Buffer, count: number, pauseMs: number) {
  const sockets = Array.from({ length: count }, () => connect({ host: '127.0.0.1', port }));
  const statuses = sockets.map(
    (socket) =>
      new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (d) => {
          text += d.toString('latin1');
          const m = /^HTTP\/1\.1 (\d+)/.exec(text);
          if (m) {
            resolve(m[1] as string);
            socket.destroy();
          }
        });
        socket.on('error', () => resolve('error'));
        socket.on('close', () => resolve('closed'));
      }),
  );
  for (const socket of sockets) {
    socket.write(
      `POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-protobuf\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
  }
  await sleep(pauseMs);
  for (const socket of sockets) if (!socket.destroyed) socket.write(body);
  return Promise.all(statuses);
}

function telemetryPush(records: number): Buffer {
  const time = new Date().toISOString();
  const parts: string[] = [];
  for (let i = 0; i < records; i++) parts.push(`{"time":"${time}","type":"function","record":"line ${i}"}`);
  return Buffer.from(`[${parts.join(',')}]`);
}

async function push(port: number, body: Buffer): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    await res.arrayBuffer();
    return String(res.status);
  } catch (err) {
    return `error:${(err as Error).name}`;
  }
}

function tally(statuses: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

function resetPeak(pids: number[]): void {
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Not permitted: the peak then covers the whole run.
    }
  }
}

/** Runs one attack in a fresh environment; returns the figures. */
async function run(
  name: string,
  attack: (ports: { receiver: number; listener: number }) => Promise<string[]>,
): Promise<AttackResult> {
  const sink = await startOtlpSink({ decode: false });
  const { sim, receiverPort, extensionLines } = await extensionEnvironment({
    handler: 'echo.mjs',
    endpoint: sink.url,
    freeze: false,
    memorySizeMB: MEMORY_MB,
    logLevel: 'info',
  });
  try {
    const init = await sim.start();
    if (init.status !== 'success') throw new Error(`init failed: ${JSON.stringify(init)}`);
    await sim.invoke({ n: 0 });
    await sim.invoke({ n: 1 });
    const destination = sim.timeline.of('subscribe')[0]?.destination;
    if (!destination) throw new Error('no subscription');
    const listener = Number(new URL(destination).port);
    const root = Object.values(sim.pids().extensions)[0] as number;
    const pids = processTree(root);
    await sleep(300);
    const idleKb = treeMemory(pids).rssKb;
    resetPeak(pids);
    let peakKb = 0;
    const sampler = setInterval(() => {
      for (const pid of pids) peakKb = Math.max(peakKb, readMemoryKb(pid)?.peakKb ?? 0);
    }, 20);
    const statuses = await attack({ receiver: receiverPort, listener });
    await sleep(1500);
    clearInterval(sampler);
    peakKb = Math.max(peakKb, treeMemory(pids).peakKb);
    await sim.invoke({ n: 2 });
    await sim.shutdown();
    const lines = extensionLines();
    const budgetLine = lines.find((l) => /memory budget/.test(l));
    const budget = /memory budget (\d+(?:\.\d+)?) MB/.exec(budgetLine ?? '')?.[1];
    const summary = lines.findLast((l) => / shutdown \(/.test(l)) ?? '';
    return {
      attack: name,
      answers: tally(statuses),
      idleRssMb: idleKb / 1024,
      peakRssMb: peakKb / 1024,
      budgetMb: budget === undefined ? undefined : Number(budget),
      note: summary.replace(/^.*shutdown/, 'shutdown').slice(0, 600),
    };
  } finally {
    await sim.close();
    await sink.close();
  }
}

async function main(): Promise<void> {
  const body = await bigTracesRequest();
  const pushBody = telemetryPush(RECORDS);
  console.log(
    `function memory ${MEMORY_MB} MB; upload ${(body.length / 1048576).toFixed(1)} MB; push ${(pushBody.length / 1048576).toFixed(1)} MB`,
  );
  // ATTACKS=uploads,push,pushes picks some (default all).
  const only = new Set((process.env['ATTACKS'] ?? 'uploads,push,pushes').split(','));
  const results: AttackResult[] = [];
  if (only.has('uploads')) {
    results.push(
      await run(`${UPLOADS} headers-first uploads of 7 MB`, ({ receiver }) =>
        headersFirstUploads(receiver, body, UPLOADS, 500),
      ),
    );
  }
  if (only.has('push')) {
    results.push(
      await run('1 telemetry push of 1e5 records', async ({ listener }) => [await push(listener, pushBody)]),
    );
  }
  if (only.has('pushes')) {
    results.push(
      await run('10 telemetry pushes of 1e5 records', ({ listener }) =>
        Promise.all(Array.from({ length: 10 }, () => push(listener, pushBody))),
      ),
    );
  }
  for (const r of results) {
    const bound = r.budgetMb === undefined ? '' : ` bound ${(r.idleRssMb + r.budgetMb).toFixed(0)} MB`;
    console.log(
      `${r.attack.padEnd(36)} answers ${JSON.stringify(r.answers)} idle ${r.idleRssMb.toFixed(0)} MB peak ${r.peakRssMb.toFixed(0)} MB${bound}`,
    );
    console.log(`  ${r.note}`);
  }
  console.log(`loadavg ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
