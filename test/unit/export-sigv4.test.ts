// SigV4 export to AWS's OTLP endpoints: every request the exporter sends is checked by botocore's
// signer (test/support/python/aws_sigv4.py verify-server), an implementation independent of ours. No AWS
// emulator serves X-Ray's or CloudWatch's OTLP endpoints, so the verifying endpoint stands in for them.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AWS_DEFAULT_LOG_STREAM, resolveAwsOtlp } from '../../src/export/aws-otlp.js';
import { ExporterConfigError, resolveExportConfig } from '../../src/export/endpoint-config.js';
import { SigV4Signer } from '../../src/export/sigv4-signer.js';
import { ExportPipeline } from '../../src/pipeline/export-pipeline.js';
import { logChunk, metricChunk, spanChunk } from '../support/fakes/chunks.js';
import { FAST_RETRIES, recordingLog } from '../support/fakes/destinations.js';
import { pythonPath } from '../support/python/python-env.js';

const CREDS = {
  AWS_ACCESS_KEY_ID: 'ASIATESTTESTTEST0001',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjEXAMPLE//session+token=',
};

interface Verdict {
  path: string;
  ok: boolean;
  reason: string;
  scope: { service: string; region: string; signedHeaders: string[] } | null;
  bodyBytes: number;
  contentEncoding: string | null;
  logGroup: string | null;
  logStream: string | null;
}

describe('SigV4 export, verified by botocore', () => {
  let server: ChildProcess;
  let base: string;

  before(async () => {
    server = spawn(
      pythonPath(),
      [join(import.meta.dirname, '../support/python/aws_sigv4.py'), 'verify-server'],
      {
        env: {
          ...process.env,
          VERIFY_ACCESS_KEY_ID: CREDS.AWS_ACCESS_KEY_ID,
          VERIFY_SECRET_ACCESS_KEY: CREDS.AWS_SECRET_ACCESS_KEY,
          VERIFY_SESSION_TOKEN: CREDS.AWS_SESSION_TOKEN,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    base = `http://127.0.0.1:${Number.parseInt(line.toString(), 10)}`;
  });
  after(() => {
    server.kill();
  });

  async function verdicts(): Promise<Verdict[]> {
    return (await (await fetch(`${base}/_requests`)).json()) as Verdict[];
  }

  function awsDestination(env: Record<string, string>) {
    const r = resolveAwsOtlp(
      {
        signals: ['traces', 'logs', 'metrics'],
        region: 'eu-central-1',
        logGroup: '/otel/functions',
        tracesEndpoint: `${base}/v1/traces`,
        logsEndpoint: `${base}/v1/logs`,
        metricsEndpoint: `${base}/v1/metrics`,
      },
      env,
      [4318],
    );
    assert.deepEqual(r.problems, []);
    return r.destination!;
  }

  it('signs traces for xray, logs for logs (with the log group and stream), metrics for monitoring, over the gzip body', async () => {
    const before = (await verdicts()).length;
    const env = { ...CREDS };
    const log = recordingLog();
    const pipeline = new ExportPipeline({
      destinations: [awsDestination(env)],
      log,
      exporter: { ...FAST_RETRIES, env },
    });
    pipeline.enqueue(spanChunk(3));
    pipeline.enqueue(logChunk(2));
    pipeline.enqueue(metricChunk({ temporality: 'cumulative', points: 2 }));
    const report = await pipeline.flush({ deadlineMs: Date.now() + 10_000, reason: 'test' });
    pipeline.shutdown();
    assert.deepEqual(report.droppedByReason, {}, log.text());
    const seen = (await verdicts()).slice(before);
    assert.equal(seen.length, 3);
    for (const v of seen) assert.equal(v.ok, true, `${v.path}: ${v.reason}`);
    const by = (path: string) => seen.find((v) => v.path === path)!;
    assert.equal(by('/v1/traces').scope?.service, 'xray');
    assert.equal(by('/v1/logs').scope?.service, 'logs');
    assert.equal(by('/v1/metrics').scope?.service, 'monitoring');
    for (const v of seen) {
      assert.equal(v.scope?.region, 'eu-central-1');
      assert.equal(v.contentEncoding, 'gzip');
      // What was signed: the body's encoding and type, the session token, and the log headers.
      for (const h of ['content-encoding', 'content-type', 'host', 'x-amz-date', 'x-amz-security-token'])
        assert.ok(v.scope?.signedHeaders.includes(h), `${v.path} signs ${h}`);
    }
    assert.equal(by('/v1/logs').logGroup, '/otel/functions');
    assert.equal(by('/v1/logs').logStream, AWS_DEFAULT_LOG_STREAM);
    assert.ok(by('/v1/logs').scope?.signedHeaders.includes('x-aws-log-group'));
    assert.ok(!log.text().includes(CREDS.AWS_SECRET_ACCESS_KEY));
  });

  it('re-reads the credentials at every request: a change is used from the next export on', async () => {
    const env: Record<string, string> = { ...CREDS };
    const pipeline = new ExportPipeline({
      destinations: [awsDestination(env)],
      log: recordingLog(),
      exporter: { ...FAST_RETRIES, env },
    });
    pipeline.enqueue(spanChunk(1));
    const first = await pipeline.flush({ deadlineMs: Date.now() + 10_000, reason: 'test' });
    assert.deepEqual(first.droppedByReason, {});
    // Rotated to keys the endpoint does not know: the next request must carry them (and be refused).
    env['AWS_ACCESS_KEY_ID'] = 'ASIAROTATEDROTATED02';
    env['AWS_SECRET_ACCESS_KEY'] = 'rotated-secret';
    pipeline.enqueue(spanChunk(1));
    const second = await pipeline.flush({ deadlineMs: Date.now() + 10_000, reason: 'test' });
    pipeline.shutdown();
    assert.deepEqual(second.droppedByReason, { http_403: 1 });
    const last = (await verdicts()).at(-1)!;
    assert.equal(last.reason, 'unknown access key');
  });

  it('the verifier is not a rubber stamp: a wrong secret key or a changed body is refused', async () => {
    const url = new URL(`${base}/v1/traces`);
    const body = Buffer.from('payload');
    const post = async (headers: Record<string, string>, sent: Buffer) => {
      const res = await fetch(url, { method: 'POST', headers, body: sent });
      return res.status;
    };
    const good = await new SigV4Signer({ service: 'xray', region: 'us-east-1' }, { env: CREDS }).sign({
      url,
      headers: { 'content-type': 'application/x-protobuf' },
      body,
    });
    assert.equal(await post(good, body), 200);
    assert.equal(await post(good, Buffer.from('payloaD')), 403);
    const wrongKey = await new SigV4Signer(
      { service: 'xray', region: 'us-east-1' },
      { env: { ...CREDS, AWS_SECRET_ACCESS_KEY: 'not-the-key' } },
    ).sign({ url, headers: { 'content-type': 'application/x-protobuf' }, body });
    assert.equal(await post(wrongKey, body), 403);
    assert.equal((await verdicts()).at(-1)!.reason, 'signature does not match');
  });
});

describe('aws preset configuration', () => {
  const env = { ...CREDS, AWS_REGION: 'us-west-2' };

  it('fills the regional endpoints, signing names and log headers', () => {
    const config = resolveExportConfig(
      { aws: { signals: ['traces', 'logs', 'metrics'], logGroup: 'app', logStream: 'otel' } },
      env,
      { localPorts: [4318] },
    );
    const aws = config.destinations.find((d) => d.name === 'aws')!;
    assert.equal(aws.signals.traces?.url, 'https://xray.us-west-2.amazonaws.com/v1/traces');
    assert.equal(aws.signals.logs?.url, 'https://logs.us-west-2.amazonaws.com/v1/logs');
    assert.equal(aws.signals.metrics?.url, 'https://monitoring.us-west-2.amazonaws.com/v1/metrics');
    assert.deepEqual(aws.signals.traces?.sigv4, { service: 'xray', region: 'us-west-2' });
    assert.deepEqual(aws.signals.logs?.headers, { 'x-aws-log-group': 'app', 'x-aws-log-stream': 'otel' });
    assert.equal(
      resolveAwsOtlp({ signals: ['traces'], region: 'cn-north-1' }, env, []).destination?.signals.traces?.url,
      'https://xray.cn-north-1.amazonaws.com.cn/v1/traces',
    );
    assert.equal(resolveAwsOtlp({ signals: [] }, env, []).destination, undefined);
  });

  it('reports what is missing: region, credentials, log group', () => {
    assert.throws(
      () => resolveExportConfig({ aws: { signals: ['logs'] } }, {}, { localPorts: [4318] }),
      (e: unknown) =>
        e instanceof ExporterConfigError &&
        e.problems.some((p) => /no region is known/.test(p)) &&
        e.problems.some((p) => /AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY are not set/.test(p)) &&
        e.problems.some((p) => /aws.log_group is not set/.test(p)),
    );
  });
});
