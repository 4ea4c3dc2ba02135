import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { SignalQueue } from '../../src/pipeline/signal-queue.js';

let serial = 0;
function chunk(items: number, bytes: number, createdAtMs = 1_000 + serial): TelemetryChunk & { id: number } {
  const id = ++serial;
  return {
    id,
    signal: 'traces',
    items,
    bytes,
    createdAtMs,
    protobuf: new Uint8Array(bytes),
    json: () => ({ resourceSpans: [] }),
  };
}

const ids = (chunks: readonly TelemetryChunk[]) =>
  chunks.map((c) => (c as TelemetryChunk & { id: number }).id);

describe('signal queue', () => {
  it('drops the oldest chunks when the item bound is exceeded', () => {
    const q = new SignalQueue({ maxItems: 10, maxBytes: 1_000_000 });
    const [a, b, c, d] = [chunk(4, 10), chunk(4, 10), chunk(4, 10), chunk(4, 10)];
    assert.deepEqual(q.push(a!), []);
    assert.deepEqual(q.push(b!), []);
    assert.deepEqual(ids(q.push(c!)), ids([a!]));
    assert.deepEqual(ids(q.push(d!)), ids([b!]));
    assert.equal(q.items, 8);
    assert.equal(q.bytes, 20);
    assert.deepEqual(ids(q.takeBatches({ maxItems: 100, maxBytes: 100 }).flat()), ids([c!, d!]));
    assert.equal(q.length, 0);
  });

  it('drops the oldest chunks when the byte bound is exceeded, and a chunk too big for the queue itself', () => {
    const q = new SignalQueue({ maxItems: 1000, maxBytes: 100 });
    const a = chunk(1, 60);
    const b = chunk(1, 60);
    q.push(a);
    assert.deepEqual(ids(q.push(b)), ids([a]));
    const huge = chunk(1, 500);
    assert.deepEqual(ids(q.push(huge)), ids([b, huge]));
    assert.equal(q.length, 0);
    assert.equal(q.bytes, 0);
  });

  it('cuts batches within item and byte limits, in order; an oversized chunk travels alone', () => {
    const q = new SignalQueue({ maxItems: 1000, maxBytes: 100_000 });
    const chunks = [chunk(2, 10), chunk(2, 10), chunk(2, 10), chunk(1, 500), chunk(2, 10), chunk(2, 10)];
    for (const c of chunks) q.push(c);
    const batches = q.takeBatches({ maxItems: 4, maxBytes: 100 });
    assert.deepEqual(
      batches.map((b) => ids(b)),
      [ids(chunks.slice(0, 2)), ids(chunks.slice(2, 3)), ids(chunks.slice(3, 4)), ids(chunks.slice(4, 6))],
    );
  });

  it('puts retried chunks back at the front, keeping their age, and drops the oldest if newer data filled it', () => {
    const q = new SignalQueue({ maxItems: 10, maxBytes: 1_000_000 });
    const old1 = chunk(3, 10, 100);
    const old2 = chunk(3, 10, 200);
    q.push(old1);
    q.push(old2);
    const taken = q.takeBatches({ maxItems: 100, maxBytes: 1000 }).flat();
    const fresh = chunk(5, 10, 900);
    q.push(fresh);
    assert.equal(q.oldestCreatedAtMs(), 900);
    const dropped = q.requeueFront(taken);
    assert.deepEqual(ids(dropped), ids([old1]));
    assert.equal(q.oldestCreatedAtMs(), 200);
    assert.deepEqual(ids(q.takeBatches({ maxItems: 100, maxBytes: 1000 }).flat()), ids([old2, fresh]));
  });

  it('keeps its counters and oldest timestamp consistent under any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('push' as const),
        items: fc.integer({ min: 0, max: 30 }),
        bytes: fc.integer({ min: 1, max: 300 }),
        t: fc.integer({ min: 0, max: 1000 }),
      }),
      fc.record({ kind: fc.constant('cycle' as const), keep: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const q = new SignalQueue({ maxItems: 50, maxBytes: 500 });
        const live: TelemetryChunk[] = [];
        const sync = (dropped: TelemetryChunk[]) => {
          for (const d of dropped) live.splice(live.indexOf(d), 1);
        };
        for (const o of ops) {
          if (o.kind === 'push') {
            const c = chunk(o.items, o.bytes, o.t);
            live.push(c);
            sync(q.push(c));
          } else {
            // A flush that delivers all but `keep` chunks, which come back to the front.
            const taken = q.takeBatches({ maxItems: 20, maxBytes: 200 }).flat();
            assert.deepEqual(ids(taken), ids(live));
            live.length = 0;
            const back = taken.slice(0, o.keep);
            live.push(...back);
            sync(q.requeueFront(back));
          }
          assert.ok(q.items <= 50 && q.bytes <= 500);
          assert.equal(
            q.items,
            live.reduce((n, c) => n + c.items, 0),
          );
          assert.equal(
            q.bytes,
            live.reduce((n, c) => n + c.bytes, 0),
          );
          assert.equal(q.length, live.length);
          const oldest = live.length ? Math.min(...live.map((c) => c.createdAtMs)) : undefined;
          assert.equal(q.oldestCreatedAtMs(), oldest);
        }
      }),
      { numRuns: 200 },
    );
  });
});
