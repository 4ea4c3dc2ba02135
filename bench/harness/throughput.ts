// Single-core throughput of this project's hot paths, taken from the module benchmarks next to this
// harness (bench/convert.bench.ts, bench/receiver.bench.ts). They are scripts, not libraries, so each
// runs as a child process (its own heap and JIT, as in the extension) and its output is parsed; a
// format change there fails loudly here instead of giving a silent zero.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/support/e2e-harness.js';

function runBench(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench', file), ...args],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`bench/${file} failed: ${error.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      },
    );
  });
}

export interface ConvertRun {
  /** Telemetry events converted and serialized to OTLP protobuf per second, one core. */
  eventsPerSecond: number;
  protobufBytesPerInvocation: number | undefined;
  gzipBytesPerInvocation: number | undefined;
}

export function parseConvertOutput(stdout: string): ConvertRun {
  const start = stdout.indexOf('{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) throw new Error('bench/convert.bench.ts printed no JSON result');
  const result = JSON.parse(stdout.slice(start, end + 1)) as Record<string, unknown>;
  const eventsPerSecond = result['eventsPerSecond'];
  if (typeof eventsPerSecond !== 'number' || !(eventsPerSecond > 0)) {
    throw new Error(`bench/convert.bench.ts: no positive eventsPerSecond in ${JSON.stringify(result)}`);
  }
  const num = (key: string) => (typeof result[key] === 'number' ? (result[key] as number) : undefined);
  return {
    eventsPerSecond,
    protobufBytesPerInvocation: num('protobufBytesPerInvocation'),
    gzipBytesPerInvocation: num('gzipBytesPerInvocation'),
  };
}

export async function convertThroughput(invocations: number): Promise<ConvertRun> {
  return parseConvertOutput(
    await runBench('convert.bench.ts', ['--invocations', String(invocations)], 180_000),
  );
}

/** Spans per second by case (protobuf, protobuf+gzip, json). */
export type ReceiverRun = Record<string, number>;

export function parseReceiverOutput(stdout: string): ReceiverRun {
  const run: ReceiverRun = {};
  for (const match of stdout.matchAll(/^(\S+)\s+(\d+(?:\.\d+)?) spans\/s/gm)) {
    run[match[1] as string] = Number(match[2]);
  }
  if (Object.keys(run).length === 0)
    throw new Error('bench/receiver.bench.ts printed no "<case> N spans/s" line');
  return run;
}

export async function receiverThroughput(secondsPerCase: number, connections: number): Promise<ReceiverRun> {
  return parseReceiverOutput(
    await runBench('receiver.bench.ts', [String(secondsPerCase), String(connections)], 180_000),
  );
}
