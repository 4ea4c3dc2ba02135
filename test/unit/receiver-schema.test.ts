import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { messageFromOtlpJson, messageToOtlpJson, OtlpJsonError } from '../../src/receiver/otlp-json.js';
import { loadOtlpSchema } from '../../src/receiver/otlp-schema.js';
import {
  allLogRecords,
  allSpans,
  attrs,
  decodeLogs,
  decodeTraces,
  plainValue,
} from '../../tools/otlp/decode.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the committed descriptor matches proto/', () => {
  const run = spawnSync(process.execPath, ['src/receiver/generate-descriptor.mjs', '--check'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
});

test('OTLP/JSON to protobuf keeps hex ids, 64-bit integers, enums and bytes exactly', async () => {
  const { request } = await loadOtlpSchema();
  const json = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: '5B8EFFF798038103D269B633813FC60C',
                spanId: 'EEE19B7EC3C1B174',
                parentSpanId: '',
                name: 'precise',
                kind: 3,
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: 1700000000223456,
                attributes: [
                  { key: 'big', value: { intValue: '9007199254740993' } },
                  { key: 'raw', value: { bytesValue: 'AQID' } },
                  { key: 'nan', value: { doubleValue: 'NaN' } },
                ],
                status: { code: 2 },
              },
            ],
          },
        ],
      },
    ],
  };
  const bytes = request.traces.encode(messageFromOtlpJson(request.traces, json)).finish();
  const [span] = allSpans(decodeTraces(bytes));
  assert.ok(span);
  assert.equal(span.traceId, '5b8efff798038103d269b633813fc60c');
  assert.equal(span.spanId, 'eee19b7ec3c1b174');
  assert.equal(span.parentSpanId, '');
  assert.equal(span.kind, 3);
  assert.equal(span.startTimeUnixNano, '1700000000123456789');
  assert.equal(span.endTimeUnixNano, '1700000000223456');
  assert.equal(span.status?.code, 2);
  const a = attrs(span.attributes);
  assert.equal(a.big, 9007199254740993n);
  assert.equal(a.raw, 'AQID');
  assert.ok(Number.isNaN(a.nan));

  // And back to OTLP/JSON for exporters that send JSON.
  const back = messageToOtlpJson(request.traces, request.traces.decode(bytes)) as typeof json;
  const again = back.resourceSpans[0]?.scopeSpans[0]?.spans[0];
  assert.equal(again?.traceId, '5b8efff798038103d269b633813fc60c');
  assert.equal(again?.startTimeUnixNano, '1700000000123456789');
  assert.deepEqual(again?.attributes[0], { key: 'big', value: { intValue: '9007199254740993' } });
  assert.deepEqual(again?.attributes[1], { key: 'raw', value: { bytesValue: 'AQID' } });
  assert.deepEqual(again?.attributes[2], { key: 'nan', value: { doubleValue: 'NaN' } });
  assert.equal('parentSpanId' in (again ?? {}), false);
});

test('log record ids and bodies survive the JSON path', async () => {
  const { request } = await loadOtlpSchema();
  const json = {
    resourceLogs: [
      {
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: '1700000000000000001',
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: 'b7ad6b7169203331',
                body: { kvlistValue: { values: [{ key: 'a', value: { boolValue: true } }] } },
                eventName: 'checkout',
              },
            ],
          },
        ],
      },
    ],
  };
  const [record] = allLogRecords(
    decodeLogs(request.logs.encode(messageFromOtlpJson(request.logs, json)).finish()),
  );
  assert.equal(record?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(record?.spanId, 'b7ad6b7169203331');
  assert.equal(record?.timeUnixNano, '1700000000000000001');
  assert.equal(record?.eventName, 'checkout');
  assert.deepEqual(plainValue(record?.body), { a: true });
});

test('bad OTLP/JSON gets a specific error', async () => {
  const { request } = await loadOtlpSchema();
  assert.throws(() => messageFromOtlpJson(request.traces, []), OtlpJsonError);
  assert.throws(() => messageFromOtlpJson(request.traces, { resourceSpans: 'nope' }), /resourceSpans/);
  assert.throws(
    () =>
      messageFromOtlpJson(request.traces, {
        resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: 'abc' }] }] }],
      }),
    /spanId "abc" is not hex/,
  );
  let deep: unknown = {};
  for (let i = 0; i < 200; i++) deep = { arrayValue: { values: [deep] } };
  assert.throws(
    () =>
      messageFromOtlpJson(request.logs, {
        resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: deep }] }] }],
      }),
    /nesting/,
  );
});
