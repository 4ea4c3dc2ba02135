// Secret references resolved at start-up against a real AWS API emulator: a moto server started here
// on loopback, with IAM enforcement on (it checks every request's SigV4 signature and the caller's
// permissions). Found, missing, access denied, wrong signature, slow; values never in a message.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { fetchSecretValue } from '../../src/secrets/aws-secret-stores.js';
import { resolveSecrets } from '../../src/secrets/resolve.js';
import { type Moto, type MotoSetup, startMoto } from '../support/fakes/moto.js';
import { VirtualTime } from '../support/virtual-time.js';

/** Every value stored in the emulator: none may appear in a message. */
const VALUES = ['dd-key-from-secrets-manager-0001', 'json-token-0002', 'ssm-token-0004'];

describe('secret references against moto (Secrets Manager, Parameter Store)', () => {
  let moto: Moto;
  let dir: string;
  let slow: Server;
  let slowUrl: string;
  let slowRequests = 0;

  before(async () => {
    moto = await startMoto();
    dir = mkdtempSync(join(tmpdir(), 'secrets-aws-'));
    // An endpoint that accepts the request and never answers: the time budget must cut it.
    slow = createServer(() => {
      slowRequests++;
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}`;
  });
  after(() => {
    moto?.stop();
    slow?.closeAllConnections();
    slow?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: moto.setup.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.setup.secretAccessKey,
      AWS_SESSION_TOKEN: '',
      AWS_ENDPOINT_URL: moto.url,
      ...extra,
    };
  }

  async function load(yaml: string, e: Record<string, string>) {
    const taskRoot = mkdtempSync(join(dir, 'task-'));
    writeFileSync(join(taskRoot, 'otel-lambda-extension.yaml'), yaml);
    const loaded = await loadConfig({ env: e, layerDir: join(dir, 'no-layer'), taskRoot });
    assert.deepEqual(loaded.errors, []);
    return loaded;
  }

  const headersYaml = (s: MotoSetup, extra = '') =>
    [
      'exporter:',
      '  endpoint: https://collector.example.com',
      '  headers:',
      `    authorization: "Bearer \${secretsmanager:${s.jsonArn}#token}"`,
      `    x-collector-token: "\${ssm:${s.parameter}}"`,
      extra,
    ].join('\n');

  it('found: JSON key, plain secret (DD_API_KEY_SECRET_ARN) and parameter, one request each', async () => {
    const e = env({ DD_API_KEY_SECRET_ARN: moto.setup.plainArn });
    const loaded = await load(headersYaml(moto.setup), e);
    const result = await resolveSecrets(loaded, { env: e });
    assert.deepEqual(result.loaded.errors, []);
    assert.equal(result.lookups, 3);
    const h = result.loaded.config.exporter.headers;
    assert.equal(h['authorization'], 'Bearer json-token-0002');
    assert.equal(h['x-collector-token'], 'ssm-token-0004');
    assert.equal(result.loaded.config.datadog.api_key, 'dd-key-from-secrets-manager-0001');
    // The loaded configuration itself is untouched: resolution returns a new one.
    assert.match(loaded.config.exporter.headers['authorization']!, /secretsmanager/);
  });

  it('missing secret, missing key, missing parameter: errors name the reference and reason, never a value', async () => {
    const e = env();
    const s = moto.setup;
    const loaded = await load(
      [
        'exporter:',
        '  endpoint: https://collector.example.com',
        '  headers:',
        `    a: "\${secretsmanager:${s.missingArn}}"`,
        `    b: "\${secretsmanager:${s.jsonArn}#nokey}"`,
        `    c: "\${ssm:/otel/not-there}"`,
        `    d: "\${secretsmanager:${s.jsonArn}#token}"`,
      ].join('\n'),
      e,
    );
    const result = await resolveSecrets(loaded, { env: e });
    const messages = result.loaded.errors.map((x) => x.message);
    assert.equal(messages.length, 3, messages.join('\n'));
    assert.ok(
      messages.some(
        (m) => m.includes(`\${secretsmanager:${s.missingArn}}`) && /ResourceNotFoundException/.test(m),
      ),
    );
    assert.ok(messages.some((m) => m.includes('#nokey') && /the secret has no key "nokey"/.test(m)));
    assert.ok(messages.some((m) => m.includes(`\${ssm:/otel/not-there}`) && /ParameterNotFound/.test(m)));
    assert.ok(messages.every((m) => m.startsWith('exporter.headers')));
    const all = messages.join('\n');
    for (const v of VALUES) assert.ok(!all.includes(v), `a message contains ${v}`);
  });

  it('access denied: the role may not read secrets', async () => {
    const e = env({
      AWS_ACCESS_KEY_ID: moto.setup.deniedAccessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.setup.deniedSecretAccessKey,
      DD_API_KEY_SECRET_ARN: moto.setup.plainArn,
    });
    const loaded = await load(headersYaml(moto.setup), e);
    const result = await resolveSecrets(loaded, { env: e });
    const messages = result.loaded.errors.map((x) => x.message);
    assert.equal(messages.length, 3);
    for (const m of messages) assert.match(m, /not resolved: AccessDenied(Exception)? \(HTTP 4\d\d\)/);
    assert.ok(messages.some((m) => m.startsWith('datadog.api_key_secret_arn (env)')));
    assert.equal(result.loaded.config.datadog.api_key, undefined);
    for (const v of VALUES) assert.ok(!messages.join('\n').includes(v));
  });

  it('a wrong signature is refused by the emulator (it checks what we sign)', async () => {
    const e = env({ AWS_SECRET_ACCESS_KEY: 'not-the-secret-key' });
    const loaded = await load(headersYaml(moto.setup), e);
    const result = await resolveSecrets(loaded, { env: e });
    assert.equal(result.loaded.errors.length, 2);
    for (const x of result.loaded.errors) assert.match(x.message, /SignatureDoesNotMatch/);
  });

  it('slow: start-up waits no longer than secrets.timeout_ms, then names what was not resolved', async () => {
    const e = env({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: slowUrl,
      LAMBDA_OTEL_SECRETS_TIMEOUT_MS: '300',
    });
    const loaded = await load(headersYaml(moto.setup), e);
    assert.equal(loaded.config.secrets.timeout_ms, 300);
    // Lookups are real; their bound runs on virtual time, moved once both lookups are under way
    // and the fast one has its answer.
    const time = new VirtualTime();
    const settled = new Set<string>();
    let done = false;
    const resolving = resolveSecrets(loaded, {
      env: e,
      now: () => time.now(),
      scheduler: time,
      fetch: (ref, options) => {
        const value = fetchSecretValue(ref, options);
        void value.then(
          () => settled.add(ref.store),
          () => settled.add(ref.store),
        );
        return value;
      },
    });
    void resolving.then(() => {
      done = true;
    });
    while (!settled.has('ssm') || slowRequests === 0) await new Promise((r) => setImmediate(r));
    await time.advance(299);
    assert.equal(done, false, 'still waiting for the slow store within secrets.timeout_ms');
    await time.advance(1);
    const result = await resolving;
    assert.equal(result.elapsedMs, 300, 'start-up waited exactly secrets.timeout_ms');
    const messages = result.loaded.errors.map((x) => x.message);
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.match(
      messages[0]!,
      /\$\{secretsmanager:.*#token\} not resolved: no answer within 300 ms \(secrets.timeout_ms\)/,
    );
    // The parameter, from the other (fast) endpoint, was resolved all the same.
    assert.equal(result.loaded.config.exporter.headers['x-collector-token'], 'ssm-token-0004');
  });
});
