// The runtime port: its one body reader (budget reserved before reading, discarded bodies held
// nowhere, limits while decompressing) and the Bun implementation against the Node one.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { bunBinaryPath, hostArchitecture } from '../../layer/bun-binaries.mjs';
import { MemoryBudget } from '../../src/pipeline/memory-budget.js';
import { type BodyBudget, readBody } from '../../src/platform/body-reader.js';
import { nodeCompression } from '../../src/platform/node/compression.js';
import type { BodySink, RequestBody } from '../../src/platform/port.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A request body fed by the test, piece by piece. */
class ScriptedBody implements RequestBody {
  complete = false;
  sink: BodySink | undefined;
  stopped = false;
  constructor(readonly declaredLength: number | undefined) {}
  read(sink: BodySink): () => void {
    this.sink = sink;
    return () => {
      this.stopped = true;
    };
  }
  async feed(...pieces: (Buffer | 'end' | 'abort')[]): Promise<void> {
    for (const piece of pieces) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.stopped) return;
      if (piece === 'end') {
        this.complete = true;
        this.sink?.end();
      } else if (piece === 'abort') this.sink?.abort(new Error('request aborted by the client'));
      else this.sink?.data(piece);
    }
  }
}

function budgetOf(limitBytes: number, costPerByte = 1): { budget: MemoryBudget; body: BodyBudget } {
  const budget = new MemoryBudget(limitBytes);
  return {
    budget,
    body: {
      reserve: (bytes) => budget.tryReserve('telemetry_api', bytes),
      costPerByte,
      unknownBytes: 1000,
    },
  };
}

describe('body reader', () => {
  test('reserves the announced size before reading and hands the reservation over', async () => {
    const { budget, body: bodyBudget } = budgetOf(10_000);
    const body = new ScriptedBody(6);
    const reading = readBody(body, { maxBytes: 100, budget: bodyBudget, overBudget: 'refuse' });
    assert.equal(budget.snapshot().reservedBytes, 6, 'reserved before any byte arrived');
    await body.feed(Buffer.from('abc'), Buffer.from('def'), 'end');
    const outcome = await reading;
    assert.equal(outcome.kind, 'read');
    if (outcome.kind !== 'read') return;
    assert.equal(outcome.body.toString(), 'abcdef');
    outcome.reservation?.release();
    assert.equal(budget.snapshot().reservedBytes, 0);
  });

  test('a refused reservation reads nothing (refuse) or discards everything, counted (discard)', async () => {
    const { budget, body: bodyBudget } = budgetOf(100);
    const refused = await readBody(new ScriptedBody(500), {
      maxBytes: 10_000,
      budget: bodyBudget,
      overBudget: 'refuse',
    });
    assert.equal(refused.kind, 'over-budget');

    const body = new ScriptedBody(500);
    const seen: number[] = [];
    let reclaimed = 0;
    const reading = readBody(body, {
      maxBytes: 10 * 1024 * 1024,
      budget: bodyBudget,
      overBudget: 'discard',
      onDiscarded: (chunk) => seen.push(chunk.length),
      reclaim: (bytes) => {
        reclaimed += bytes;
      },
    });
    const piece = Buffer.alloc(1024 * 1024, 120);
    await body.feed(piece, piece, piece, piece, piece, 'end');
    const outcome = await reading;
    assert.deepEqual(outcome, { kind: 'discarded', bytes: 5 * 1024 * 1024 });
    assert.equal(seen.length, 5, 'every discarded piece was seen (to count records)');
    assert.equal(reclaimed, 5 * 1024 * 1024, 'the runtime is told of every discarded byte');
    assert.equal(budget.snapshot().reservedBytes, 0);
  });

  test('a body that outgrows its reservation mid-way is discarded, including what was held', async () => {
    const { budget, body: bodyBudget } = budgetOf(1000);
    const body = new ScriptedBody(undefined);
    const seen: string[] = [];
    const reading = readBody(body, {
      maxBytes: 10_000,
      budget: bodyBudget,
      overBudget: 'discard',
      onDiscarded: (chunk) => seen.push(Buffer.from(chunk).toString()),
    });
    await body.feed(Buffer.from('a'.repeat(600)), Buffer.from('b'.repeat(600)), Buffer.from('c'), 'end');
    const outcome = await reading;
    assert.deepEqual(outcome, { kind: 'discarded', bytes: 1201 });
    assert.deepEqual(
      seen.map((s) => s[0]),
      ['a', 'b', 'c'],
    );
    assert.equal(budget.snapshot().reservedBytes, 0);
  });

  test('limits: raw size, decompressed size (a bomb stops inflating), corrupt input, abort', async () => {
    const big = new ScriptedBody(undefined);
    const tooLarge = readBody(big, { maxBytes: 10, overBudget: 'refuse' });
    await big.feed(Buffer.alloc(8), Buffer.alloc(8));
    assert.deepEqual(await tooLarge, { kind: 'too-large', decoded: false, limit: 10 });
    assert.ok(big.stopped, 'reading stopped at the limit');

    const bomb = new ScriptedBody(undefined);
    const inflated = readBody(bomb, {
      maxBytes: 1024 * 1024,
      maxDecodedBytes: 64 * 1024,
      decompressor: nodeCompression.decompressor('gzip'),
      overBudget: 'refuse',
    });
    await bomb.feed(gzipSync(Buffer.alloc(50 * 1024 * 1024)), 'end');
    assert.deepEqual(await inflated, { kind: 'too-large', decoded: true, limit: 64 * 1024 });

    const corrupt = new ScriptedBody(undefined);
    const bad = readBody(corrupt, {
      maxBytes: 1000,
      decompressor: nodeCompression.decompressor('gzip'),
      overBudget: 'refuse',
    });
    await corrupt.feed(Buffer.from('not gzip at all'), 'end');
    assert.equal((await bad).kind, 'bad-encoding');

    const cut = new ScriptedBody(100);
    const aborted = readBody(cut, { maxBytes: 1000, overBudget: 'refuse' });
    await cut.feed(Buffer.from('partial'), 'abort');
    assert.deepEqual(await aborted, { kind: 'aborted', message: 'request aborted by the client' });
  });
});

const BUN = process.env['BUN_BINARY'] ?? bunBinaryPath(hostArchitecture() ?? 'x86_64');
const run = promisify(execFile);

describe('Bun implementation', () => {
  test('the listener and the receivers (HTTP and gRPC) answer the same on Bun.serve and Bun.listen as on node:http and node:net', {
    skip: existsSync(BUN)
      ? false
      : `no Bun binary at ${BUN}: run \`make bun-binaries\` (npm @oven/bun-linux-*)`,
  }, async () => {
    const script = join(ROOT, 'test/support/platform-port-check.ts');
    const onBun = JSON.parse((await run(BUN, [script], { cwd: ROOT })).stdout.trim());
    const onNode = JSON.parse(
      (await run(process.execPath, ['--import', 'tsx', script], { cwd: ROOT })).stdout.trim(),
    );
    assert.equal(onBun.platform, 'bun');
    assert.equal(onNode.platform, 'node');
    assert.deepEqual(onBun.listener, onNode.listener);
    assert.deepEqual(onBun.receiver, onNode.receiver);
    assert.deepEqual(
      [onBun.listener.accepted, onBun.listener.get, onBun.listener.tooLarge, onBun.listener.overBudget],
      [200, 405, 413, 200],
    );
    assert.equal(onBun.listener.events, 3);
    assert.equal(onBun.listener.stats.droppedRecords, 2000);
    assert.deepEqual(
      [
        onBun.receiver.jsonStatus,
        onBun.receiver.gzipStatus,
        onBun.receiver.notFound,
        onBun.receiver.badType,
        onBun.receiver.badGzip,
      ],
      [200, 200, 404, 415, 400],
    );
    assert.equal(onBun.receiver.exportStatus, 200, 'the export client delivered');
    assert.equal(onBun.receiver.refusedBody, true, 'an error answer comes with its body');
    assert.equal(onBun.receiver.exportToClosedPort, 'network-error');
    assert.ok(onBun.receiver.largeBytes > 256 * 1024, 'the large export is past the whole-body read');
    assert.deepEqual([onBun.receiver.largeStatus, onBun.receiver.chunkedStatus], [200, 200]);
    assert.equal(onBun.receiver.items, 3 + 2000 + 1);
    assert.deepEqual(onBun.grpc, onNode.grpc);
    assert.deepEqual(onBun.grpc, {
      listening: true,
      one: '0',
      gzipped: '0',
      large: '0',
      concurrent: ['0', '0', '0'],
      afterStop: 'ECONNREFUSED',
      items: 1 + 2 + 16_000 + 1 + 2 + 3,
    });
    assert.deepEqual(
      [onBun.receiver.apiStatus, onBun.receiver.apiAllow, onBun.receiver.apiClosedCode],
      [405, 'POST', 'ECONNREFUSED'],
    );
  });
});
