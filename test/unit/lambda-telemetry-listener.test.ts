import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { describe, test } from 'node:test';
import { createExtensionLogger } from '../../src/extension-log.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import { resolveListenAddress, startTelemetryListener } from '../../src/lambda/telemetry-listener.js';
import { MemoryBudget } from '../../src/pipeline/memory-budget.js';
import { VirtualTime } from '../support/virtual-time.js';

/** Resolves once `ready()` holds, letting real I/O run meanwhile. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((resolve) => setImmediate(resolve));
}

const T = '2024-05-01T10:00:00.000Z';
const push = (n: number): string =>
  JSON.stringify(Array.from({ length: n }, (_, i) => ({ time: T, type: 'function', record: `line ${i}` })));

function quietLogger() {
  const lines: string[] = [];
  return { lines, logger: createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) }) };
}

function post(
  port: number,
  body: string | Buffer,
  options: { chunked?: boolean; method?: string } = {},
): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        agent: false, // a fresh connection each time: no pooled socket outlives a closed listener
        method: options.method ?? 'POST',
        path: '/telemetry',
        headers: options.chunked
          ? { 'transfer-encoding': 'chunked' }
          : { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('telemetry listener', () => {
  test('answers 200 and hands the parsed events to the callback', async () => {
    const got: TelemetryEvent[][] = [];
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: (e) => got.push(e),
      logger: quietLogger().logger,
    });
    try {
      assert.ok(listener.port > 0);
      assert.equal((await post(listener.port, push(3))).status, 200);
      assert.equal((await post(listener.port, push(2))).status, 200);
      assert.deepEqual(
        got.map((b) => b.length),
        [3, 2],
      );
      assert.deepEqual(got[0]![1], {
        type: 'function',
        timeMs: Date.parse(T),
        message: 'line 1',
        structured: false,
      });
      assert.equal(listener.stats.pushes, 2);
      assert.equal(listener.parser.stats.received, 5);
    } finally {
      await listener.close();
    }
  });

  test('the answer leaves before the callback runs (a slow consumer does not delay Lambda)', async () => {
    let calls = 0;
    let hogEndedAtMs = 0;
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: () => {
        calls++;
        const until = Date.now() + 1000; // hog the event loop, as a slow consumer would
        while (Date.now() < until) {}
        hogEndedAtMs = Date.now();
      },
      logger: quietLogger().logger,
    });
    try {
      // The client runs in its own process so the hogged event loop here cannot delay it.
      const script = `
        const http = require('node:http');
        const body = ${JSON.stringify(push(1))};
        const req = http.request({ host: '127.0.0.1', port: ${listener.port}, method: 'POST', path: '/telemetry',
          headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
          console.log(JSON.stringify({ status: res.statusCode, atMs: Date.now() }));
          process.exit(0);
        });
        req.end(body);`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      await new Promise((r) => child.on('exit', r));
      const { status, atMs } = JSON.parse(out) as { status: number; atMs: number };
      assert.equal(status, 200);
      assert.equal(calls, 1);
      // An ordering, not a duration (both processes read the same system clock): the client had its
      // answer while the consumer still held the loop, however slowly a loaded machine ran either.
      assert.ok(atMs < hogEndedAtMs, `answer arrived ${atMs - hogEndedAtMs} ms after the consumer let go`);
    } finally {
      await listener.close();
    }
  });

  test('bodies over the limit get 413 and are counted (declared or streamed); later pushes still work', async () => {
    const got: TelemetryEvent[][] = [];
    const { lines, logger } = quietLogger();
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      maxBodyBytes: 1024,
      onEvents: (e) => got.push(e),
      logger,
    });
    try {
      const big = push(100);
      assert.ok(Buffer.byteLength(big) > 1024);
      assert.equal((await post(listener.port, big)).status, 413);
      assert.equal((await post(listener.port, big, { chunked: true })).status, 413);
      assert.equal(listener.stats.tooLarge, 2);
      assert.equal(lines.filter((l) => l.includes('413')).length, 1, 'reported once');
      assert.equal(got.length, 0);
      assert.equal((await post(listener.port, push(1))).status, 200);
      assert.equal(got.length, 1);
    } finally {
      await listener.close();
    }
  });

  test('garbage bodies and a throwing consumer do not crash it', async () => {
    let calls = 0;
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: () => {
        calls++;
        throw new Error('consumer bug');
      },
      logger: quietLogger().logger,
    });
    try {
      assert.equal((await post(listener.port, 'this is not json')).status, 200);
      assert.equal((await post(listener.port, '{"an":"object"}')).status, 200);
      assert.equal((await post(listener.port, '[null, 1, "x"]')).status, 200);
      assert.equal(calls, 0, 'nothing usable, nothing delivered');
      assert.equal(listener.parser.stats.invalidBodies['not-json'], 1);
      assert.equal(listener.parser.stats.invalidBodies['not-array'], 1);
      assert.equal(listener.parser.stats.malformed['record.not-object'], 3);
      assert.equal((await post(listener.port, push(1))).status, 200);
      assert.equal((await post(listener.port, push(1))).status, 200);
      assert.equal(calls, 2);
      assert.equal(listener.stats.callbackErrors, 2);
      assert.equal((await post(listener.port, '', { method: 'GET' })).status, 405);
      assert.equal(listener.stats.rejected, 1);
    } finally {
      await listener.close();
    }
  });

  test('close stops accepting and lets an in-flight push finish', async () => {
    const got: TelemetryEvent[][] = [];
    // A push reserves its cost once the listener has it: the sign that it is in flight.
    const budget = new MemoryBudget(64 * 1024 * 1024);
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: (e) => got.push(e),
      logger: quietLogger().logger,
      budget,
    });
    const body = Buffer.from(push(2));
    let req: http.ClientRequest | undefined;
    const answered = new Promise<number>((resolve, reject) => {
      req = http.request(
        {
          host: '127.0.0.1',
          port: listener.port,
          method: 'POST',
          path: '/telemetry',
          headers: { 'content-length': body.length },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 10));
    });
    await until(() => budget.used() > 0); // the request is now in flight
    const closed = listener.close(2000);
    req?.end(body.subarray(10)); // the rest of the body arrives while the listener closes
    assert.equal(await answered, 200);
    await closed;
    assert.equal(got.length, 1);
    await assert.rejects(post(listener.port, push(1)), /ECONNREFUSED/);
  });

  test('close is bounded when a push never completes', async () => {
    const budget = new MemoryBudget(64 * 1024 * 1024);
    const listener = await startTelemetryListener({
      host: '127.0.0.1',
      onEvents: () => {},
      logger: quietLogger().logger,
      budget,
    });
    const req = http.request({
      host: '127.0.0.1',
      port: listener.port,
      method: 'POST',
      path: '/telemetry',
      headers: { 'content-length': 1000 },
    });
    req.on('error', () => {});
    req.write('[');
    await until(() => budget.used() > 0); // the listener is reading the push
    // Real sockets and the runtime's HTTP server timers: no virtual time here. The push never
    // completes, so an unbounded close never resolves; 5 s (33x the drain bound) only catches that
    // (or a close that waits for Node's own 60 s+ request timeouts), never a slow machine.
    const started = performance.now();
    await listener.close(150);
    const tookMs = performance.now() - started;
    assert.ok(tookMs < 5_000, `close took ${tookMs} ms`);
    assert.equal(listener.stats.aborted, 1);
    req.destroy();
  });
});

describe('listen address', () => {
  test('uses what sandbox.localdomain resolves to', async () => {
    assert.equal(
      await resolveListenAddress(100, async () => ({ address: '169.254.100.1' })),
      '169.254.100.1',
    );
  });
  test('falls back to 127.0.0.1 when it does not resolve, or not in time', async () => {
    assert.equal(
      await resolveListenAddress(100, async () => {
        throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      }),
      '127.0.0.1',
    );
    const time = new VirtualTime();
    let resolved: string | undefined;
    void resolveListenAddress(50, () => new Promise(() => {}), time).then((a) => {
      resolved = a;
    });
    await time.advance(49);
    assert.equal(resolved, undefined, 'still waiting for the lookup before its bound');
    await time.advance(1);
    assert.equal(resolved, '127.0.0.1', 'gave up on the lookup at its bound');
  });
  test('without an explicit host it listens on a usable local address', async () => {
    const got: TelemetryEvent[][] = [];
    const listener = await startTelemetryListener({
      onEvents: (e) => got.push(e),
      logger: quietLogger().logger,
    });
    try {
      // Off Lambda, sandbox.localdomain does not resolve here: loopback is used.
      const res = await new Promise<number>((resolve, reject) => {
        const body = push(1);
        const req = http.request(
          {
            host: listener.address,
            port: listener.port,
            method: 'POST',
            headers: { 'content-length': Buffer.byteLength(body) },
          },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(res, 200);
      assert.equal(got.length, 1);
    } finally {
      await listener.close();
    }
  });
});
