import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createExtensionLogger } from '../../src/extension-log.js';
import { RuntimeHttp } from '../../src/lambda/runtime-http.js';
import {
  BUFFERING_LIMITS,
  resolveBuffering,
  subscribeTelemetry,
  TelemetrySubscribeError,
} from '../../src/lambda/telemetry-api.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

describe('subscribeTelemetry', () => {
  let seen: Seen[] = [];
  let reply: (body: Record<string, unknown>, res: http.ServerResponse) => void = (_b, res) =>
    res.writeHead(200).end();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      reply(body, res);
    });
  });
  let runtime: RuntimeHttp;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    runtime = new RuntimeHttp(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    runtime.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  function capture() {
    const lines: string[] = [];
    return { lines, logger: createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) }) };
  }

  test('PUTs schema 2025-01-29, all three types, explicit default buffering and the sandbox destination', async () => {
    seen = [];
    reply = (_b, res) => res.writeHead(200).end('OK');
    const { lines, logger } = capture();
    const outcome = await subscribeTelemetry({ http: runtime, extensionId: 'id-7', port: 4321, logger });
    assert.equal(seen.length, 1);
    const req = seen[0]!;
    assert.equal(req.method, 'PUT');
    assert.equal(req.url, '/2022-07-01/telemetry');
    assert.equal(req.headers['lambda-extension-identifier'], 'id-7');
    assert.deepEqual(req.body, {
      schemaVersion: '2025-01-29',
      types: ['platform', 'function', 'extension'],
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
      destination: { protocol: 'HTTP', URI: 'http://sandbox.localdomain:4321/telemetry' },
    });
    assert.deepEqual(outcome, {
      status: 'subscribed',
      schemaVersion: '2025-01-29',
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
    });
    assert.ok(lines.some((l) => l.includes('schema 2025-01-29')));
  });

  test('falls back to 2022-12-13 when the newer schema is refused with 400, and says so', async () => {
    seen = [];
    reply = (body, res) => {
      if (body['schemaVersion'] === '2025-01-29') {
        res
          .writeHead(400)
          .end(JSON.stringify({ errorType: 'ValidationError', errorMessage: 'unknown schema' }));
      } else {
        res.writeHead(200).end();
      }
    };
    const { lines, logger } = capture();
    const outcome = await subscribeTelemetry({ http: runtime, extensionId: 'id', port: 1, logger });
    assert.deepEqual(
      seen.map((s) => s.body['schemaVersion']),
      ['2025-01-29', '2022-12-13'],
    );
    assert.equal(outcome.status === 'subscribed' && outcome.schemaVersion, '2022-12-13');
    assert.ok(lines.some((l) => l.includes('refused schema 2025-01-29') && l.includes('unknown schema')));
    assert.ok(lines.some((l) => l.includes('with schema 2022-12-13')));
  });

  test('400 for every schema is a clear error naming both refusals', async () => {
    reply = (body, res) =>
      res.writeHead(400).end(JSON.stringify({ errorMessage: `no ${body['schemaVersion']}` }));
    const { logger } = capture();
    await assert.rejects(
      subscribeTelemetry({ http: runtime, extensionId: 'id', port: 1, logger }),
      (err: unknown) => {
        assert.ok(err instanceof TelemetrySubscribeError);
        assert.equal(err.status, 400);
        assert.match(err.message, /no 2025-01-29.*no 2022-12-13/);
        return true;
      },
    );
  });

  test('202 (local emulator) is tolerated and reported as unsupported', async () => {
    seen = [];
    reply = (_b, res) => res.writeHead(202).end('Telemetry API is not supported');
    const { lines, logger } = capture();
    const outcome = await subscribeTelemetry({ http: runtime, extensionId: 'id', port: 1, logger });
    assert.equal(seen.length, 1);
    assert.equal(outcome.status, 'unsupported');
    assert.ok(lines.some((l) => l.includes('WARN') && l.includes('telemetry not supported here')));
  });

  test('500 and 403 are errors carrying status, errorType and body (no fallback)', async () => {
    seen = [];
    reply = (_b, res) =>
      res
        .writeHead(403)
        .end(JSON.stringify({ errorType: 'Telemetry.SubscribeTooLate', errorMessage: 'too late' }));
    const { logger } = capture();
    await assert.rejects(
      subscribeTelemetry({ http: runtime, extensionId: 'id', port: 1, logger }),
      (err: unknown) => {
        assert.ok(err instanceof TelemetrySubscribeError);
        assert.equal(err.status, 403);
        assert.equal(err.errorType, 'Telemetry.SubscribeTooLate');
        assert.match(err.message, /HTTP 403.*too late/);
        return true;
      },
    );
    assert.equal(seen.length, 1);
    reply = (_b, res) => res.writeHead(500).end('boom');
    await assert.rejects(
      subscribeTelemetry({ http: runtime, extensionId: 'id', port: 1, logger }),
      /HTTP 500.*boom/,
    );
  });

  test('configured buffering is sent after clamping, with a warning per adjusted value', async () => {
    seen = [];
    reply = (_b, res) => res.writeHead(200).end();
    const { lines, logger } = capture();
    await subscribeTelemetry({
      http: runtime,
      extensionId: 'id',
      port: 1,
      logger,
      buffering: { maxItems: 5, maxBytes: 500000, timeoutMs: 99999 },
    });
    assert.deepEqual(seen[0]!.body['buffering'], { maxItems: 1000, maxBytes: 500000, timeoutMs: 30000 });
    const warnings = lines.filter((l) => l.includes('WARN') && l.includes('telemetry buffering'));
    assert.equal(warnings.length, 2);
    assert.ok(warnings.some((l) => l.includes('maxItems=5') && l.includes('1000–10000')));
  });

  test('unreachable Telemetry API is a TelemetrySubscribeError without status', async () => {
    const dead = new RuntimeHttp('127.0.0.1:1');
    await assert.rejects(
      subscribeTelemetry({ http: dead, extensionId: 'id', port: 1, logger: capture().logger }),
      (err: unknown) => err instanceof TelemetrySubscribeError && err.status === undefined,
    );
    dead.close();
  });
});

describe('resolveBuffering', () => {
  test('defaults, in-range values, rounding, junk', () => {
    assert.deepEqual(resolveBuffering(), {
      buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
      problems: [],
    });
    assert.deepEqual(resolveBuffering({ maxItems: 2000, maxBytes: '300000', timeoutMs: 100 }).buffering, {
      maxItems: 2000,
      maxBytes: 300000,
      timeoutMs: 100,
    });
    const rounded = resolveBuffering({ timeoutMs: 50.4 });
    assert.equal(rounded.buffering.timeoutMs, 50);
    assert.equal(rounded.problems.length, 1);
    const junk = resolveBuffering({ maxItems: 'lots', maxBytes: Number.NaN });
    assert.deepEqual(junk.buffering, { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 });
    assert.equal(junk.problems.length, 2);
    assert.match(junk.problems[0]!, /not a number/);
  });
  test('every value ends inside Lambda range', () => {
    for (const v of [-1, 0, 1, 24, 26, 1e3, 1e4, 1e6, 1e9]) {
      const { buffering } = resolveBuffering({ maxItems: v, maxBytes: v, timeoutMs: v });
      for (const key of ['maxItems', 'maxBytes', 'timeoutMs'] as const) {
        assert.ok(buffering[key] >= BUFFERING_LIMITS[key].min && buffering[key] <= BUFFERING_LIMITS[key].max);
      }
    }
  });
});
