// The protobuf wire format as far as the extension reads and writes it by hand: varints, field tags,
// walking the fields of an encoded message, and google.rpc.Status. The receiver (request screening,
// chunking, error answers) and the exporter (cutting a refused request in halves) share it. Hand-written
// because these paths must not wait for the lazily loaded OTLP schema. Imports nothing.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_FIXED32 = 5;

/** The tag of field `number` with wire type `wire`. */
export function fieldTag(number: number, wire: number): number {
  return number * 8 + wire;
}

/** The varint at `pos` and the position after it; RangeError when it is truncated or over 10 bytes. */
export function readVarint(bytes: Uint8Array, pos: number, end: number = bytes.length): [number, number] {
  let value = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) throw new RangeError('truncated varint');
    const b = bytes[pos++] as number;
    // Past 2^53 precision is lost: only tags and lengths are read this way, and those are small.
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
  }
  throw new RangeError('varint too long');
}

export function encodeVarint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** One field of an encoded message. */
export interface WireField {
  readonly tag: number;
  /** Where the field (its tag) starts. */
  readonly start: number;
  /** Where its value starts: after the length prefix for a length-delimited field. */
  readonly valueStart: number;
  /** Where the field ends. */
  readonly end: number;
}

/** The field at `pos` of the message that ends at `end`; RangeError when it does not fit. */
export function readField(bytes: Uint8Array, pos: number, end: number): WireField {
  const [tag, afterTag] = readVarint(bytes, pos, end);
  let valueStart = afterTag;
  let fieldEnd: number;
  switch (tag & 7) {
    case WIRE_VARINT:
      fieldEnd = readVarint(bytes, afterTag, end)[1];
      break;
    case WIRE_FIXED64:
      fieldEnd = afterTag + 8;
      break;
    case WIRE_FIXED32:
      fieldEnd = afterTag + 4;
      break;
    case WIRE_LENGTH: {
      const [length, afterLength] = readVarint(bytes, afterTag, end);
      valueStart = afterLength;
      fieldEnd = afterLength + length;
      break;
    }
    default:
      // Groups (3, 4) are not in proto3; 6 and 7 do not exist.
      throw new RangeError(`wire type ${tag & 7}`);
  }
  if (fieldEnd > end) throw new RangeError('field runs past its message');
  return { tag, start: pos, valueStart, end: fieldEnd };
}

/** The fields of the message in [start, end), in order. */
export function* wireFields(bytes: Uint8Array, start: number, end: number): Generator<WireField> {
  let pos = start;
  while (pos < end) {
    const field = readField(bytes, pos, end);
    yield field;
    pos = field.end;
  }
}

/** A length-delimited field holding `parts`, as its tag, its length and the parts. */
export function lengthDelimited(number: number, parts: readonly Uint8Array[]): Uint8Array[] {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  return [encodeVarint(fieldTag(number, WIRE_LENGTH)), encodeVarint(length), ...parts];
}

function varintField(number: number, value: number): Uint8Array[] {
  return [encodeVarint(fieldTag(number, WIRE_VARINT)), encodeVarint(value)];
}

function bytesOf(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/**
 * google.rpc.Status {code, message, details: [Any(google.rpc.RetryInfo {retry_delay})] when a retry
 * delay is given}: the body of an OTLP/HTTP error, the grpc-status-details-bin trailer of OTLP/gRPC.
 */
export function encodeRpcStatus(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const parts = [...varintField(1, code), ...lengthDelimited(2, [Buffer.from(message, 'utf8')])];
  if (retryAfterSeconds !== undefined) {
    const duration = bytesOf(varintField(1, Math.max(0, Math.round(retryAfterSeconds))));
    const retryInfo = bytesOf(lengthDelimited(1, [duration]));
    const any = bytesOf([
      ...lengthDelimited(1, [Buffer.from('type.googleapis.com/google.rpc.RetryInfo', 'utf8')]),
      ...lengthDelimited(2, [retryInfo]),
    ]);
    parts.push(...lengthDelimited(3, [any]));
  }
  return bytesOf(parts);
}
