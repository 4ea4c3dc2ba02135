// The receiver's check of forwarded protobuf bytes: what a lenient decoder accepts but a strict one
// refuses is cut out item by item, the rest stays byte for byte.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { loadOtlpSchema, type OtlpSchema } from '../../src/receiver/otlp-schema.js';
import { checkExportRequest } from '../../src/receiver/wire-check.js';

let schema: OtlpSchema;
before(async () => {
  schema = await loadOtlpSchema();
});

const varint = (n: number): Buffer => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const field = (no: number, payload: Uint8Array): Buffer =>
  Buffer.concat([varint((no << 3) | 2), varint(payload.length), payload]);

function span(name: string, extra: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([
    field(1, randomBytes(16)),
    field(2, randomBytes(8)),
    field(5, Buffer.from(name)),
    Buffer.from([6 << 3, 2]),
    extra,
  ]);
}
const WRONG_WIRE_KIND = Buffer.from([(6 << 3) | 2, 3, 0x98, 0x06, 0x00]);

function request(resources: Buffer[][]): Buffer {
  return Buffer.concat(
    resources.map((spans) =>
      field(
        1,
        Buffer.concat([field(1, Buffer.alloc(0)), field(2, Buffer.concat(spans.map((s) => field(2, s))))]),
      ),
    ),
  );
}

const names = (bytes: Uint8Array): string[] =>
  (
    schema.request.traces.toObject(schema.request.traces.decode(bytes)) as {
      resourceSpans: { scopeSpans: { spans?: { name: string }[] }[] }[];
    }
  ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => (s.spans ?? []).map((x) => x.name)));

describe('wire check', () => {
  test('a clean request is returned as the same bytes', () => {
    const bytes = request([[span('a'), span('b')]]);
    const result = checkExportRequest(schema.request.traces, bytes);
    assert.equal(result.bytes, bytes);
    assert.equal(result.rejectedItems, 0);
  });

  test('a span with a wrongly typed field is cut; its neighbours in every resource stay', () => {
    const bytes = request([[span('a'), span('poison', WRONG_WIRE_KIND), span('b')], [span('c')]]);
    // The lenient decoder takes it: this is what used to be forwarded.
    assert.deepEqual(names(bytes), ['a', 'poison', 'b', 'c']);
    const result = checkExportRequest(schema.request.traces, bytes);
    assert.deepEqual(result.rejected, { malformed_protobuf: 1 });
    assert.deepEqual(names(result.bytes), ['a', 'b', 'c']);
    assert.match(result.firstProblem ?? '', /^Span: malformed protobuf/);
  });

  test('invalid UTF-8 in an attribute value, and over-deep values, cost their span only', () => {
    const attribute = (value: Buffer) =>
      field(9, Buffer.concat([field(1, Buffer.from('k')), field(2, value)]));
    const badString = attribute(field(1, Buffer.from([0xff, 0xfe])));
    let deep = field(1, Buffer.from('x'));
    for (let i = 0; i < 200; i++) deep = field(5, field(1, deep)); // array_value { values: AnyValue }
    const result = checkExportRequest(
      schema.request.traces,
      request([
        [
          span('a', badString),
          span('b', attribute(Buffer.from(deep))),
          span('ok', attribute(field(1, Buffer.from('héllo')))),
        ],
      ]),
    );
    assert.deepEqual(result.rejected, { invalid_utf8: 1, nested_too_deep: 1 });
    assert.deepEqual(names(result.bytes), ['ok']);
  });

  test('a bad resource attribute costs the resource and its spans, counted', () => {
    const badResource = field(
      1,
      Buffer.concat([
        field(1, Buffer.from([(1 << 3) | 0, 1])), // Resource.attributes as a varint
        field(2, Buffer.concat([field(2, span('x')), field(2, span('y'))])),
      ]),
    );
    const result = checkExportRequest(
      schema.request.traces,
      Buffer.concat([badResource, request([[span('z')]])]),
    );
    assert.deepEqual(result.rejected, { malformed_protobuf: 2 });
    assert.deepEqual(names(result.bytes), ['z']);
  });

  test('packed and unpacked repeated numbers are both accepted (histogram bucket counts)', () => {
    const metric = (dp: Buffer) => Buffer.concat([field(1, Buffer.from('m')), field(9, field(1, dp))]);
    // HistogramDataPoint.bucket_counts (6, fixed64): packed, and one by one.
    const packed = field(6, Buffer.alloc(16));
    const unpacked = Buffer.concat([Buffer.from([(6 << 3) | 1]), Buffer.alloc(8)]);
    const truncatedPacked = field(6, Buffer.alloc(12));
    const metrics = (m: Buffer[]) =>
      Buffer.concat([field(1, field(2, Buffer.concat(m.map((x) => field(2, x)))))]);
    const result = checkExportRequest(
      schema.request.metrics,
      metrics([metric(packed), metric(unpacked), metric(truncatedPacked)]),
    );
    assert.deepEqual(result.rejected, { malformed_protobuf: 1 });
  });

  test('a request whose own framing is broken is refused as a whole', () => {
    assert.throws(
      () => checkExportRequest(schema.request.traces, Buffer.from([0x0a, 0x50, 0x01])),
      /framing/,
    );
  });
});
