// What the runtime port costs per runtime: a process that starts, serves one HTTP request and sends
// one, under Node (node:http) and under Bun (Bun.serve + fetch), and under Bun forced onto the Node
// implementation (node:http on Bun). CPU time of all threads and peak RSS as the process reports
// them; rounds interleaved, medians printed. Run:
//   node --import tsx bench/platform-cost.bench.ts [rounds=7] [bun-binary]
// The Bun binary defaults to BUN_BINARY, else the pinned one `make bun-binaries` caches.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bunBinaryPath, hostArchitecture } from '../layer/bun-binaries.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.argv[2] ?? 7);
const BUN = process.argv[3] ?? process.env['BUN_BINARY'] ?? bunBinaryPath(hostArchitecture() ?? 'x86_64');

interface Sample {
  cpuMs: number;
  maxRssKb: number;
  platform: string;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function main(): Promise<void> {
  const outDir = join(ROOT, 'build/bench');
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'platform-cost.mjs');
  await build({
    entryPoints: [join(ROOT, 'bench/harness/platform-cost-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'warning',
  });
  const variants: { name: string; command: string; env?: Record<string, string> }[] = [
    { name: 'node (node:http)', command: process.execPath },
  ];
  if (existsSync(BUN)) {
    variants.push({ name: 'bun (Bun.serve + fetch)', command: BUN });
    variants.push({ name: 'bun (node:http)', command: BUN, env: { LAMBDA_OTEL_PLATFORM: 'node' } });
  } else {
    console.log(`no Bun binary at ${BUN}: Node only (run \`make bun-binaries\` or pass one)`);
  }
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      const out = execFileSync(variant.command, [bundle], {
        env: { ...process.env, ...variant.env },
        encoding: 'utf8',
      });
      samples.get(variant.name)?.push(JSON.parse(out.trim().split('\n').pop() as string) as Sample);
    }
  }
  for (const variant of variants) {
    const list = samples.get(variant.name) as Sample[];
    const cpu = list.map((s) => s.cpuMs);
    console.log(
      `${variant.name.padEnd(26)} CPU ${median(cpu).toFixed(1)} ms (min ${Math.min(...cpu).toFixed(1)}, max ${Math.max(...cpu).toFixed(1)}), ` +
        `peak RSS ${(median(list.map((s) => s.maxRssKb)) / 1024).toFixed(1)} MB  [port: ${list[0]?.platform}]`,
    );
  }
  console.log(`rounds ${ROUNDS}; loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

await main();
