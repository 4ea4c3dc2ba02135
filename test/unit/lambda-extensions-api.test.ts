import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  ExtensionsApiClient,
  ExtensionsApiError,
  parseLifecycleEvent,
} from '../../src/lambda/extensions-api.js';
import { parseRuntimeApi } from '../../src/lambda/runtime-http.js';
import { VirtualTime } from '../support/virtual-time.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A scriptable stand-in for the Extensions API: each test sets `reply`. */
class FakeApi {
  seen: Seen[] = [];
  reply: (req: Seen, res: http.ServerResponse) => void = (_req, res) => res.writeHead(500).end();
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      this.seen.push(seen);
      this.reply(seen, res);
    });
  });
  address = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const registerOk = (_req: Seen, res: http.ServerResponse): void => {
  res.writeHead(200, { 'lambda-extension-identifier': 'ext-id-1', 'content-type': 'application/json' }).end(
    JSON.stringify({
      functionName: 'fn',
      functionVersion: '$LATEST',
      handler: 'index.handler',
      accountId: '123',
    }),
  );
};

describe('ExtensionsApiClient', () => {
  const fake = new FakeApi();
  before(() => fake.start());
  after(() => fake.stop());

  const client = (env: NodeJS.ProcessEnv = {}) =>
    new ExtensionsApiClient({ env: { AWS_LAMBDA_RUNTIME_API: fake.address, ...env }, callTimeoutMs: 1000 });

  test('register sends name, accept-feature and INVOKE+SHUTDOWN; returns identifier and body', async () => {
    fake.seen = [];
    fake.reply = registerOk;
    const api = client({ LAMBDA_OTEL_EXTENSION_NAME: 'my-launcher' });
    const result = await api.register();
    api.close();
    const req = fake.seen[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/2020-01-01/extension/register');
    assert.equal(req.headers['lambda-extension-name'], 'my-launcher');
    assert.equal(req.headers['lambda-extension-accept-feature'], 'accountId');
    assert.deepEqual(JSON.parse(req.body), { events: ['INVOKE', 'SHUTDOWN'] });
    assert.equal(result.extensionId, 'ext-id-1');
    assert.equal(api.extensionId, 'ext-id-1');
    assert.deepEqual(result.response, {
      functionName: 'fn',
      functionVersion: '$LATEST',
      handler: 'index.handler',
      accountId: '123',
    });
  });

  test('default name is otel-lambda-extension; SHUTDOWN only on Managed Instances', async () => {
    fake.seen = [];
    fake.reply = registerOk;
    const api = client({ AWS_LAMBDA_INITIALIZATION_TYPE: 'lambda-managed-instances' });
    const result = await api.register();
    api.close();
    assert.equal(fake.seen[0]!.headers['lambda-extension-name'], 'otel-lambda-extension');
    assert.deepEqual(JSON.parse(fake.seen[0]!.body), { events: ['SHUTDOWN'] });
    assert.deepEqual(result.events, ['SHUTDOWN']);
  });

  test('register refusal and missing identifier raise ExtensionsApiError with status and body', async () => {
    fake.reply = (_req, res) => res.writeHead(403).end('{"errorType":"Extension.Forbidden"}');
    const api = client();
    await assert.rejects(api.register(), (err: unknown) => {
      assert.ok(err instanceof ExtensionsApiError);
      assert.equal(err.operation, 'register');
      assert.equal(err.status, 403);
      assert.match(err.body ?? '', /Extension.Forbidden/);
      return true;
    });
    fake.reply = (_req, res) => res.writeHead(200).end('{}');
    await assert.rejects(api.register(), /no Lambda-Extension-Identifier/);
    fake.reply = (_req, res) => res.writeHead(200, { 'lambda-extension-identifier': 'x' }).end('[garbage');
    await assert.rejects(api.register(), /not a JSON object/);
    api.close();
  });

  test('connection refused is an ExtensionsApiError without status', async () => {
    const api = new ExtensionsApiClient({ env: { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:1' } });
    await assert.rejects(api.register(), (err: unknown) => {
      assert.ok(err instanceof ExtensionsApiError);
      assert.equal(err.status, undefined);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    api.close();
  });

  test('a hanging register is bounded by the call timeout', async () => {
    fake.reply = () => {}; // never answers
    const api = new ExtensionsApiClient({
      env: { AWS_LAMBDA_RUNTIME_API: fake.address },
      callTimeoutMs: 100,
    });
    // The call timeout is the runtime's own HTTP client timer, on a real socket: no virtual time.
    // The message says the 100 ms timer ended the call; the bound only catches a call left hanging
    // (the 5 s default or none), never a loaded machine that makes 100 ms last a while.
    const started = performance.now();
    await assert.rejects(api.register(), /no answer within 100 ms/);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 4_000, `took ${tookMs} ms`);
    api.close();
  });

  test('nextEvent sends the identifier and returns typed events; waits without a client timeout', async () => {
    fake.seen = [];
    let step = 0;
    fake.reply = (req, res) => {
      if (req.url.endsWith('/register')) return registerOk(req, res);
      step++;
      const body =
        step === 1
          ? {
              eventType: 'INVOKE',
              deadlineMs: 1700000000000,
              requestId: 'r1',
              invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123:function:fn',
              tracing: { type: 'X-Amzn-Trace-Id', value: 'Root=1-a-b' },
            }
          : { eventType: 'SHUTDOWN', shutdownReason: 'SPINDOWN', deadlineMs: 1700000002000 };
      // The second answer comes later than a short client timeout would allow.
      setTimeout(() => res.writeHead(200).end(JSON.stringify(body)), step === 2 ? 300 : 0);
    };
    const api = client();
    await api.register();
    const invoke = await api.nextEvent();
    assert.deepEqual(invoke, {
      eventType: 'INVOKE',
      deadlineMs: 1700000000000,
      requestId: 'r1',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123:function:fn',
      tracing: { type: 'X-Amzn-Trace-Id', value: 'Root=1-a-b' },
    });
    const shutdown = await api.nextEvent();
    assert.deepEqual(shutdown, {
      eventType: 'SHUTDOWN',
      shutdownReason: 'spindown',
      deadlineMs: 1700000002000,
    });
    const next = fake.seen.filter((s) => s.url === '/2020-01-01/extension/event/next');
    assert.equal(next.length, 2);
    assert.equal(next[0]!.method, 'GET');
    assert.equal(next[0]!.headers['lambda-extension-identifier'], 'ext-id-1');
    api.close();
  });

  test('nextEvent rejects a garbage body and a 500', async () => {
    let answer = '';
    let status = 200;
    fake.reply = (req, res) =>
      req.url.endsWith('/register') ? registerOk(req, res) : res.writeHead(status).end(answer);
    const api = client();
    await api.register();
    answer = 'not json';
    await assert.rejects(api.nextEvent(), /answer is invalid: not a JSON object/);
    answer = '{"eventType":"RESTART"}';
    await assert.rejects(api.nextEvent(), /unexpected eventType "RESTART"/);
    status = 500;
    answer = 'oops';
    await assert.rejects(
      api.nextEvent(),
      (err: unknown) => err instanceof ExtensionsApiError && err.status === 500,
    );
    api.close();
  });

  test('initError and exitError post the error type header and body', async () => {
    fake.seen = [];
    fake.reply = (req, res) =>
      req.url.endsWith('/register') ? registerOk(req, res) : res.writeHead(202).end();
    const api = client();
    await api.register();
    await api.initError('Extension.ConfigInvalid', 'bad endpoint');
    await api.exitError('Extension.NextEventFailed', 'gone');
    // A malformed type is replaced rather than refused by Lambda.
    await api.exitError('nodot' as `${string}.${string}`, 'x');
    const [init, exit, bad] = fake.seen.slice(1);
    assert.equal(init!.url, '/2020-01-01/extension/init/error');
    assert.equal(init!.headers['lambda-extension-identifier'], 'ext-id-1');
    assert.equal(init!.headers['lambda-extension-function-error-type'], 'Extension.ConfigInvalid');
    assert.deepEqual(JSON.parse(init!.body), {
      errorMessage: 'bad endpoint',
      errorType: 'Extension.ConfigInvalid',
      stackTrace: [],
    });
    assert.equal(exit!.url, '/2020-01-01/extension/exit/error');
    assert.equal(exit!.headers['lambda-extension-function-error-type'], 'Extension.NextEventFailed');
    assert.equal(bad!.headers['lambda-extension-function-error-type'], 'Extension.UnknownError');
    api.close();
  });

  test('calls before register fail clearly', async () => {
    const api = client();
    await assert.rejects(api.nextEvent(), /before register/);
    api.close();
  });
});

describe('parseLifecycleEvent / parseRuntimeApi', () => {
  test('SHUTDOWN reasons are lower-cased; a missing deadline gets a short fallback window', () => {
    const time = new VirtualTime();
    const e = parseLifecycleEvent('{"eventType":"SHUTDOWN","shutdownReason":"Timeout"}', () => time.now());
    assert.ok(typeof e !== 'string' && e.eventType === 'SHUTDOWN');
    assert.equal(e.shutdownReason, 'timeout');
    assert.ok(
      e.deadlineMs >= time.now() + 1000 && e.deadlineMs <= time.now() + 2000,
      `${e.deadlineMs - time.now()} ms`,
    );
  });
  test('INVOKE requires requestId and a numeric deadline', () => {
    assert.equal(typeof parseLifecycleEvent('{"eventType":"INVOKE","deadlineMs":1}'), 'string');
    assert.equal(
      typeof parseLifecycleEvent('{"eventType":"INVOKE","requestId":"r","deadlineMs":"x"}'),
      'string',
    );
    const ok = parseLifecycleEvent('{"eventType":"INVOKE","requestId":"r","deadlineMs":"5"}');
    assert.ok(typeof ok !== 'string' && ok.deadlineMs === 5 && ok.eventType === 'INVOKE');
  });
  test('runtime API address forms', () => {
    assert.deepEqual(parseRuntimeApi('127.0.0.1:9001'), { host: '127.0.0.1', port: 9001 });
    assert.deepEqual(parseRuntimeApi('[::1]:9001'), { host: '::1', port: 9001 });
    assert.throws(() => parseRuntimeApi(undefined), /AWS_LAMBDA_RUNTIME_API is not set/);
    assert.throws(() => parseRuntimeApi('http://x:1/path'), /is not host:port/);
  });
});
