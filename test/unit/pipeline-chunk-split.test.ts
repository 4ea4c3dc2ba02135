// Halving a chunk by its items on the encoded bytes (the exporter's 400 bisection): every item lands
// in exactly one half, under its own resource and scope, with item counts (metric data points)
// and the OTLP/JSON form to match.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { splitChunkInHalves } from '../../src/pipeline/chunk-split.js';
import { logChunk, metricChunk, spanChunk, spanNames } from '../support/fakes/chunks.js';
import { decodeRequest, encodeRequest } from '../../tools/otlp/decode.js';

const decoded = (c: TelemetryChunk) => decodeRequest(c.signal, c.protobuf) as unknown;

describe('splitting a chunk by its items', () => {
  test('spans: halves in order, each under the original resource and scope, JSON the same', () => {
    const chunk = spanChunk(5);
    const halves = splitChunkInHalves(chunk);
    assert.ok(halves);
    const [a, b] = halves;
    assert.deepEqual([a.items, b.items], [3, 2]);
    const names = spanNames([{ decoded: chunk.json() }]);
    assert.deepEqual(
      [...spanNames([{ decoded: decoded(a) }]), ...spanNames([{ decoded: decoded(b) }])],
      names,
    );
    assert.deepEqual(spanNames([{ decoded: a.json() }]), names.slice(0, 3));
    const resource = (x: unknown) =>
      JSON.stringify((x as { resourceSpans: { resource: unknown }[] }).resourceSpans[0]?.resource);
    assert.equal(resource(decoded(b)), resource(decoded(chunk)));
  });

  test('several resources and scopes: an item boundary inside a resource splits it in two', () => {
    const request = {
      resourceSpans: ['r1', 'r2'].map((r) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: r } }] },
        scopeSpans: ['s1', 's2'].map((s) => ({
          scope: { name: s },
          spans: [1, 2].map((i) => ({
            traceId: Buffer.alloc(16, 1).toString('hex'),
            spanId: Buffer.alloc(8, i).toString('hex'),
            name: `${r}/${s}/${i}`,
          })),
        })),
      })),
    };
    const protobuf = encodeRequest('traces', request);
    const chunk: TelemetryChunk = {
      signal: 'traces',
      items: 8,
      bytes: protobuf.byteLength,
      createdAtMs: 1,
      protobuf,
      json: () => decodeRequest('traces', protobuf) as never,
    };
    const [a, b] = splitChunkInHalves(chunk)!;
    assert.deepEqual(spanNames([{ decoded: decoded(a) }]), ['r1/s1/1', 'r1/s1/2', 'r1/s2/1', 'r1/s2/2']);
    const second = decoded(b) as { resourceSpans: { scopeSpans: { scope: { name: string } }[] }[] };
    assert.equal(second.resourceSpans.length, 1);
    assert.deepEqual(
      second.resourceSpans[0]!.scopeSpans.map((s) => s.scope.name),
      ['s1', 's2'],
    );
    const [c, d] = splitChunkInHalves(b)!;
    assert.deepEqual(spanNames([{ decoded: c.json() }]), ['r2/s1/1', 'r2/s1/2']);
    assert.deepEqual(spanNames([{ decoded: d.json() }]), ['r2/s2/1', 'r2/s2/2']);
  });

  test('metrics count data points; logs count records; one item cannot be split', () => {
    const metrics = metricChunk({ temporality: 'delta', points: 4 });
    const [m1, m2] = splitChunkInHalves(metrics)!;
    assert.deepEqual([m1.items, m2.items], [4, 1]);
    assert.equal(m1.items + m2.items, metrics.items);
    const [l1, l2] = splitChunkInHalves(logChunk(3))!;
    assert.deepEqual([l1.items, l2.items], [2, 1]);
    assert.equal(splitChunkInHalves(l2), undefined);
  });
});
