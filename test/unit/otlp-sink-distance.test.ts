// The sink at a distance: every request pays the round trip, a new connection pays its handshakes
// (TCP, and TLS with a certificate made at test time and verified by the client).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { after, test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function post(agent: https.Agent, url: string, ca?: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}/v1/traces`,
      { method: 'POST', agent, ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end('{"resourceSpans":[]}');
  });
}

test('TLS sink 40 ms away: a new connection pays connect + handshake + request, then one round trip', async () => {
  const rtt = 40;
  const sink = await startOtlpSink({ roundTripMs: rtt, tls: true });
  cleanups.push(() => sink.close());
  assert.match(sink.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(sink.caFile!, 'utf8');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());

  const first = await post(agent, sink.url, ca);
  const second = await post(agent, sink.url, ca);
  assert.equal(first.status, 200);
  assert.equal(second.status, 200);
  // TCP (1 RTT) + TLS 1.3 (1 RTT) + the request (1 RTT); lower bounds only, the machine may be busy.
  assert.ok(first.ms >= 3 * rtt - 2, `first request ${first.ms.toFixed(1)} ms`);
  assert.ok(second.ms >= rtt - 2, `reused connection ${second.ms.toFixed(1)} ms`);
  assert.equal(sink.connections(), 1, 'the second request reused the connection');
  assert.equal(sink.requests.length, 2);
});

test('an untrusted client refuses the test certificate', async () => {
  const sink = await startOtlpSink({ tls: true });
  cleanups.push(() => sink.close());
  const agent = new https.Agent();
  cleanups.push(async () => agent.destroy());
  await assert.rejects(post(agent, sink.url), /self-signed|certificate/i);
});
