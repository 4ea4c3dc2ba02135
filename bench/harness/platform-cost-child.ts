// The smallest extension-shaped process: start, serve one HTTP request through the runtime port,
// send one (node:http under Node, fetch under Bun), print its own CPU time and peak RSS, exit.
// Bundled by bench/platform-cost.bench.ts and run under each runtime.

import { platform } from '../../src/platform/index.js';

async function sendOne(port: number): Promise<number> {
  if (platform().name === 'bun') {
    const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', body: 'hello' });
    await res.arrayBuffer();
    return res.status;
  }
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('hello');
  });
}

const runtime = platform();
const server = await runtime.serve(() => ({ status: 200, body: 'ok' }), { host: '127.0.0.1', port: 0 });
const status = await sendOne(server.port);
await server.close(0);
const usage = process.resourceUsage();
console.log(
  JSON.stringify({
    platform: runtime.name,
    status,
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssKb: usage.maxRSS,
  }),
);
process.exit(0);
