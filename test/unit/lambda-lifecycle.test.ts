import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createExtensionLogger } from '../../src/extension-log.js';
import { VirtualTime } from '../support/virtual-time.js';
import { type LifecycleHooks, type RegisteredInfo, runLifecycle } from '../../src/lambda/lifecycle.js';
import type { InvokeEvent, ShutdownEvent, TelemetryEvent } from '../../src/lambda/telemetry-events.js';

type Responder = (res: http.ServerResponse) => void;

/** Just enough of the Runtime API host (Extensions + Telemetry APIs) to drive the lifecycle. */
class FakeRuntime {
  calls: string[] = [];
  errors: { route: string; type: string; body: unknown }[] = [];
  register: Responder = (res) =>
    res
      .writeHead(200, { 'lambda-extension-identifier': 'id-1' })
      .end('{"functionName":"fn","functionVersion":"1"}');
  subscribe: Responder = (res) => res.writeHead(200).end();
  /** Answers for successive /event/next calls; when empty, the call blocks like Lambda's. */
  next: Responder[] = [];
  subscription: { URI: string } | undefined;
  afterSubscribe: (() => void) | undefined;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const url = req.url ?? '';
      if (url.endsWith('/register')) {
        this.calls.push('register');
        this.register(res);
      } else if (url === '/2022-07-01/telemetry') {
        this.calls.push('subscribe');
        this.subscription = (JSON.parse(body) as { destination: { URI: string } }).destination;
        this.subscribe(res);
        this.afterSubscribe?.();
      } else if (url.endsWith('/event/next')) {
        this.calls.push('next');
        this.next.shift()?.(res);
      } else if (url.endsWith('/init/error') || url.endsWith('/exit/error')) {
        const route = url.endsWith('/init/error') ? 'init/error' : 'exit/error';
        this.calls.push(route);
        this.errors.push({
          route,
          type: String(req.headers['lambda-extension-function-error-type']),
          body: JSON.parse(body),
        });
        res.writeHead(202).end();
      } else {
        res.writeHead(404).end();
      }
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
  /** Pushes telemetry to the subscribed destination, as Lambda does. */
  async push(records: unknown[]): Promise<number> {
    assert.ok(this.subscription, 'not subscribed');
    const res = await fetch(this.subscription.URI, { method: 'POST', body: JSON.stringify(records) });
    return res.status;
  }
}

const json =
  (status: number, body: unknown): Responder =>
  (res) =>
    res.writeHead(status).end(typeof body === 'string' ? body : JSON.stringify(body));
const invoke = (requestId: string, deadlineInMs = 3000): Responder =>
  json(200, {
    eventType: 'INVOKE',
    requestId,
    deadlineMs: Date.now() + deadlineInMs,
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123:function:fn',
  });
const shutdown = (deadlineInMs = 2000): Responder =>
  json(200, { eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: Date.now() + deadlineInMs });

interface Recorder {
  hooks: LifecycleHooks;
  seen: string[];
  telemetry: TelemetryEvent[];
  info?: RegisteredInfo;
}

function recorder(overrides: Partial<LifecycleHooks> = {}): Recorder {
  const r: Recorder = {
    seen: [],
    telemetry: [],
    hooks: {
      onRegistered: (info) => {
        r.info = info;
        r.seen.push('registered');
      },
      onTelemetry: (events) => {
        r.telemetry.push(...events);
      },
      onInvoke: async (e: InvokeEvent) => {
        r.seen.push(`invoke:${e.requestId}`);
      },
      onShutdown: async (e: ShutdownEvent) => {
        r.seen.push(`shutdown:${e.shutdownReason}`);
      },
      ...overrides,
    },
  };
  return r;
}

/**
 * Runs `work` on virtual time: real I/O (the fake Runtime API) goes first; whenever the lifecycle
 * has been waiting for a while with a timer pending, time jumps to that timer. No wall-clock bound.
 */
async function onVirtualTime<T>(time: VirtualTime, work: Promise<T>): Promise<T> {
  let done = false;
  const finished = work.finally(() => {
    done = true;
  });
  finished.catch(() => {});
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    if (done || time.timerCount === 0) continue;
    let fired = 0;
    await time.runUntil(() => fired++ > 0, Number.MAX_SAFE_INTEGER);
  }
  return finished;
}

describe('lifecycle', () => {
  let fake: FakeRuntime;
  const exits: number[] = [];
  const lines: string[] = [];
  const logger = createExtensionLogger({ level: 'debug', write: (l) => lines.push(l) });
  beforeEach(async () => {
    fake = new FakeRuntime();
    await fake.start();
    exits.length = 0;
    lines.length = 0;
  });
  afterEach(() => fake.stop());

  const run = (hooks: LifecycleHooks, env: NodeJS.ProcessEnv = {}, time?: VirtualTime) =>
    runLifecycle({
      ...(time && { clock: time, scheduler: time }),
      hooks,
      env: { AWS_LAMBDA_RUNTIME_API: fake.address, ...env },
      logger,
      listenHost: '127.0.0.1',
      destinationHost: '127.0.0.1',
      handleSignals: false,
      callTimeoutMs: 1000,
      exit: (code) => exits.push(code),
    });

  test('register, subscribe before the first next, invoke, shutdown, exit 0', async () => {
    fake.next = [invoke('r1'), invoke('r2'), shutdown()];
    const rec = recorder();
    const code = await run(rec.hooks);
    assert.equal(code, 0);
    assert.deepEqual(exits, [0]);
    assert.deepEqual(fake.calls, ['register', 'subscribe', 'next', 'next', 'next']);
    assert.deepEqual(rec.seen, ['registered', 'invoke:r1', 'invoke:r2', 'shutdown:spindown']);
    assert.equal(rec.info?.register.functionName, 'fn');
    assert.equal(rec.info?.telemetry.status, 'subscribed');
    assert.deepEqual(rec.info?.events, ['INVOKE', 'SHUTDOWN']);
    assert.ok((rec.info?.timings.sinceProcessStartMs ?? 0) > 0);
    assert.equal(fake.errors.length, 0);
  });

  test('telemetry pushed before the hooks are ready is held, then delivered in order', async () => {
    let releaseRegistered!: () => void;
    const gate = new Promise<void>((r) => {
      releaseRegistered = r;
    });
    const rec = recorder({
      onRegistered: async () => {
        await gate;
      },
    });
    fake.afterSubscribe = () => {
      // Lambda pushes right after subscribing; the hooks are not ready yet.
      setTimeout(async () => {
        const T = new Date().toISOString();
        assert.equal(await fake.push([{ time: T, type: 'function', record: 'early' }]), 200);
        assert.equal(rec.telemetry.length, 0, 'held while onRegistered runs');
        releaseRegistered();
      }, 10);
    };
    fake.next = [
      (res) => {
        // By the first next, the held batch was released; push one more live.
        assert.deepEqual(
          rec.telemetry.map((e) => (e as { message: string }).message),
          ['early'],
        );
        void fake
          .push([{ time: new Date().toISOString(), type: 'function', record: 'live' }])
          .then(() => shutdown()(res));
      },
    ];
    assert.equal(await run(rec.hooks), 0);
    assert.deepEqual(
      rec.telemetry.map((e) => (e as { message: string }).message),
      ['early', 'live'],
    );
  });

  test('SHUTDOWN only on Managed Instances; a 202 subscribe keeps the extension running', async () => {
    fake.subscribe = json(202, 'not supported');
    fake.next = [shutdown()];
    const rec = recorder();
    assert.equal(await run(rec.hooks, { AWS_LAMBDA_INITIALIZATION_TYPE: 'lambda-managed-instances' }), 0);
    assert.deepEqual(rec.info?.events, ['SHUTDOWN']);
    assert.equal(rec.info?.telemetry.status, 'unsupported');
    assert.ok(lines.some((l) => l.includes('telemetry not supported here')));
  });

  test('register failure: exit 1, no error report possible, hooks never called', async () => {
    fake.register = json(500, 'internal');
    const rec = recorder();
    assert.equal(await run(rec.hooks), 1);
    assert.deepEqual(exits, [1]);
    assert.deepEqual(fake.calls, ['register']);
    assert.deepEqual(rec.seen, []);
    assert.ok(lines.some((l) => l.includes('ERROR Extension.RegisterFailed') && l.includes('HTTP 500')));
  });

  test('unreachable Runtime API or none at all: exit 1 promptly', async () => {
    const rec = recorder();
    // Virtual time never moves: a retry wait or a call left to its timeout would never end.
    const time = new VirtualTime(Date.now());
    const started = time.now();
    assert.equal(await run(rec.hooks, { AWS_LAMBDA_RUNTIME_API: '127.0.0.1:1' }, time), 1);
    assert.equal(await run(rec.hooks, { AWS_LAMBDA_RUNTIME_API: '' }, time), 1);
    assert.equal(time.now(), started, 'no waiting');
    assert.ok(lines.some((l) => l.includes('Extension.RuntimeApiMissing')));
  });

  test('subscribe failure reports Extension.TelemetrySubscribeFailed through init/error and exits 1', async () => {
    fake.subscribe = json(500, { errorType: 'Internal', errorMessage: 'down' });
    const rec = recorder();
    assert.equal(await run(rec.hooks), 1);
    assert.deepEqual(fake.calls, ['register', 'subscribe', 'init/error']);
    assert.equal(fake.errors[0]?.type, 'Extension.TelemetrySubscribeFailed');
    assert.match(
      String((fake.errors[0]?.body as { errorMessage?: string } | undefined)?.errorMessage),
      /HTTP 500.*down/,
    );
    assert.deepEqual(rec.seen, []);
  });

  test('a garbage first event is an init error; a failing next after init is an exit error', async () => {
    fake.next = [json(200, 'garbage')];
    assert.equal(await run(recorder().hooks), 1);
    assert.deepEqual(
      fake.errors.map((e) => `${e.route} ${e.type}`),
      ['init/error Extension.NextEventFailed'],
    );

    fake.calls = [];
    fake.errors = [];
    fake.next = [invoke('r1'), json(500, 'broken')];
    const rec = recorder();
    assert.equal(await run(rec.hooks), 1);
    assert.deepEqual(rec.seen, ['registered', 'invoke:r1']);
    assert.deepEqual(
      fake.errors.map((e) => `${e.route} ${e.type}`),
      ['exit/error Extension.NextEventFailed'],
    );
  });

  test('an onRegistered error names the init error type', async () => {
    const rec = recorder({
      onRegistered: () => {
        throw Object.assign(new Error('endpoint missing'), { errorType: 'Extension.ConfigInvalid' });
      },
    });
    assert.equal(await run(rec.hooks), 1);
    assert.equal(fake.errors[0]?.type, 'Extension.ConfigInvalid');
    assert.match(
      String((fake.errors[0]?.body as { errorMessage?: string } | undefined)?.errorMessage),
      /endpoint missing/,
    );
  });

  test('a failing or hanging invoke hook never stalls the loop past the invoke deadline', async () => {
    fake.next = [invoke('hang', 300), invoke('throw'), invoke('ok'), shutdown()];
    const rec = recorder({
      onInvoke: async (e) => {
        rec.seen.push(`invoke:${e.requestId}`);
        if (e.requestId === 'hang') await new Promise(() => {});
        if (e.requestId === 'throw') throw new Error('hook bug');
      },
    });
    const time = new VirtualTime(Date.now());
    const started = time.now();
    assert.equal(await onVirtualTime(time, run(rec.hooks, {}, time)), 0);
    assert.ok(time.now() - started < 2000);
    assert.ok(time.now() - started >= 200, 'the hanging hook was left at its (virtual) deadline');
    assert.deepEqual(rec.seen, [
      'registered',
      'invoke:hang',
      'invoke:throw',
      'invoke:ok',
      'shutdown:spindown',
    ]);
    assert.ok(lines.some((l) => l.includes('still running at the invocation deadline')));
    assert.ok(lines.some((l) => l.includes('hook bug')));
  });

  test('SIGTERM during a hanging invoke hook shuts down promptly through onShutdown', async () => {
    fake.next = [invoke('busy', 10000)];
    const rec = recorder({
      onInvoke: async (e) => {
        rec.seen.push(`invoke:${e.requestId}`);
        setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
        await new Promise(() => {});
      },
    });
    // Virtual time never moves: waiting for the hook or its 10 s deadline would never end.
    const time = new VirtualTime(Date.now());
    const started = time.now();
    const code = await runLifecycle({
      clock: time,
      scheduler: time,
      hooks: rec.hooks,
      env: { AWS_LAMBDA_RUNTIME_API: fake.address },
      logger,
      listenHost: '127.0.0.1',
      destinationHost: '127.0.0.1',
      signalShutdownWindowMs: 500,
      exit: (c) => exits.push(c),
    });
    assert.equal(code, 0);
    assert.equal(time.now(), started, 'shut down without waiting for the hanging hook');
    assert.deepEqual(rec.seen, ['registered', 'invoke:busy', 'shutdown:sigterm']);
    assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers removed');
  });

  test('a shutdown hook that overruns is cut off before the deadline', async () => {
    fake.next = [shutdown(400)];
    const rec = recorder({ onShutdown: () => new Promise(() => {}) });
    const time = new VirtualTime(Date.now());
    const started = time.now();
    assert.equal(await onVirtualTime(time, run(rec.hooks, {}, time)), 0);
    const took = time.now() - started;
    assert.ok(took < 400, `took ${took} ms`);
    assert.ok(took >= 300, `cut off by the (virtual) deadline timer, at ${took} ms`);
    assert.ok(lines.some((l) => l.includes('shutdown hook cut off')));
  });
});

describe('extension process', () => {
  test('starts, logs ready at debug, and ends cleanly on SIGTERM while waiting for the next event', async () => {
    const fake = new FakeRuntime(); // /event/next never answers: SIGTERM must still end the process
    await fake.start();
    try {
      const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
      const child = spawn(process.execPath, ['--import', 'tsx', main], {
        env: {
          PATH: process.env['PATH'],
          AWS_LAMBDA_RUNTIME_API: fake.address,
          LAMBDA_OTEL_LOG_LEVEL: 'debug',
          LAMBDA_OTEL_EXTENSION_NAME: 'otel-lambda-extension',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const deadline = Date.now() + 15000;
      while (!fake.calls.includes('next') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(fake.calls, ['register', 'subscribe', 'next'], out);
      const signalled = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, out);
      // A real process: no virtual time. Exit code 0 and the log say the shutdown path ended it;
      // the bound only catches a process that keeps waiting for /event/next after SIGTERM (forever),
      // so it is far above the 1.5 s window that a loaded machine may overrun.
      const tookMs = Date.now() - signalled;
      assert.ok(tookMs < 10_000, `exited ${tookMs} ms after SIGTERM`);
      assert.match(
        out,
        /\[otel-lambda-extension\] DEBUG ready in [\d.]+ ms since process start; telemetry subscribed/,
      );
      assert.match(out, /SIGTERM received/);
    } finally {
      await fake.stop();
    }
  });
});
