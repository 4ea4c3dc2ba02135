// HTTPS to the backend after a long freeze, over real sockets: the idle connections are gone, so a
// flush opens one connection per signal. Those connections resume the TLS session of the earlier ones
// (no certificate chain to verify again) and the requests succeed with the certificate trusted the
// way users trust a private CA (NODE_EXTRA_CA_CERTS, read at process start: hence a child process).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { startOtlpSink } from '../../tools/otlp/sink.js';

const REPO_ROOT = join(import.meta.dirname, '../..');

/** Three rounds of three concurrent posts, idle connections closed between rounds, as after a freeze. */
const CLIENT = `
import { HttpConnectionPool } from ${JSON.stringify(join(REPO_ROOT, 'src/platform/node/export-client.ts'))};
const pool = new HttpConnectionPool({ userAgent: 'otel-lambda-extension-test', thawLateMs: 1000, thawGraceMs: 500 });
const rounds = [];
for (let round = 0; round < 3; round++) {
  const sockets = [];
  const results = await Promise.all(['traces', 'metrics', 'logs'].map((signal) =>
    pool.post({ url: new URL(process.env.SINK_URL + '/v1/' + signal), headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.alloc(0), timeoutMs: 10000, signal: new AbortController().signal })));
  for (const list of Object.values(pool['httpsAgent'].freeSockets)) for (const s of list) sockets.push(s.isSessionReused());
  rounds.push({ statuses: results.map((r) => (r.kind === 'response' ? r.response.status : r.kind)), reused: sockets });
  pool.closeIdleConnections();
}
pool.destroy();
process.stdout.write(JSON.stringify(rounds));
`;

test('flushes after the idle connections closed resume the TLS session on every new connection', async () => {
  const sink = await startOtlpSink({ tls: true, decode: false });
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CLIENT], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: sink.caFile, SINK_URL: sink.url },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, err);
    const rounds = JSON.parse(out) as { statuses: (number | string)[]; reused: boolean[] }[];
    for (const round of rounds) assert.deepEqual(round.statuses, [200, 200, 200]);
    assert.equal(rounds[0]?.reused.includes(true), false, 'the first connections have no session to resume');
    for (const round of rounds.slice(1)) {
      assert.ok(round.reused.length > 0, 'connections stayed open for reuse');
      assert.ok(
        round.reused.every(Boolean),
        `a full TLS handshake after the first: ${JSON.stringify(rounds)}`,
      );
    }
    assert.equal(sink.requests.length, 9);
  } finally {
    await sink.close();
  }
});
