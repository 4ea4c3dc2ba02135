import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  encodeVarint,
  fieldTag,
  lengthDelimited,
  readField,
  readVarint,
  WIRE_FIXED32,
  WIRE_LENGTH,
  WIRE_VARINT,
  wireFields,
} from '../../src/model/otlp-wire.js';

describe('OTLP wire helpers', () => {
  test('varints round-trip, one to eight bytes', () => {
    for (const v of [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const bytes = encodeVarint(v);
      assert.deepEqual(readVarint(bytes, 0), [v, bytes.length], String(v));
    }
    assert.deepEqual([...encodeVarint(300)], [0xac, 0x02]);
  });

  test('truncated and over-long varints are RangeErrors', () => {
    assert.throws(() => readVarint(Uint8Array.from([0x80, 0x80]), 0), RangeError);
    assert.throws(() => readVarint(Uint8Array.from(new Array(11).fill(0x80)), 0), /too long/);
    // The end bound is the message's, not the buffer's.
    assert.throws(() => readVarint(Uint8Array.from([0x80, 0x01]), 0, 1), /truncated/);
  });

  test('fields of a message: tag, value start and end for every wire type', () => {
    const message = Buffer.concat([
      ...lengthDelimited(1, [Buffer.from('abc')]),
      encodeVarint(fieldTag(2, WIRE_VARINT)),
      encodeVarint(1000),
      encodeVarint(fieldTag(3, WIRE_FIXED32)),
      Buffer.alloc(4),
    ]);
    const fields = [...wireFields(message, 0, message.length)];
    assert.deepEqual(fields, [
      { tag: fieldTag(1, WIRE_LENGTH), start: 0, valueStart: 2, end: 5 },
      { tag: fieldTag(2, WIRE_VARINT), start: 5, valueStart: 6, end: 8 },
      { tag: fieldTag(3, WIRE_FIXED32), start: 8, valueStart: 9, end: 13 },
    ]);
    assert.equal(message.subarray(fields[0]!.valueStart, fields[0]!.end).toString(), 'abc');
  });

  test('a field running past its message, or of a wire type proto3 does not have, is refused', () => {
    const field = Buffer.concat(lengthDelimited(1, [Buffer.from('abcdef')]));
    assert.throws(() => readField(field, 0, field.length - 1), /runs past/);
    assert.throws(() => readField(Uint8Array.from([fieldTag(1, 3)]), 0, 1), /wire type 3/);
  });
});
