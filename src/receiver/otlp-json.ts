// OTLP/JSON <-> protobufjs messages. OTLP/JSON is the proto3 JSON mapping with two deviations that
// protobufjs' plain-object conversion does not know: trace/span ids are hex (not base64), and enums
// are integers. Ids are converted by field name: traceId, spanId and parentSpanId are the only
// bytes fields with those names in OTLP, and all of them are ids.

import type { Message, Type } from 'protobufjs';

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** The request body is not valid OTLP/JSON; the message says where. */
export class OtlpJsonError extends Error {
  override readonly name = 'OtlpJsonError';
}

// Depth guard: JSON.parse already bounds depth by input size, but a hostile body of nested arrays
// would otherwise make this walk (and protobufjs) recurse deeply.
const MAX_DEPTH = 64;

function idsFromHex(value: unknown, key: string | undefined, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new OtlpJsonError(`nesting deeper than ${MAX_DEPTH} levels`);
  if (typeof value === 'string') {
    if (key === undefined || !ID_KEYS.has(key)) return value;
    if (!HEX.test(value)) throw new OtlpJsonError(`${key} "${value.slice(0, 40)}" is not hex`);
    return Buffer.from(value, 'hex');
  }
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = idsFromHex(value[i], undefined, depth + 1);
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      out[k] = idsFromHex((value as Record<string, unknown>)[k], k, depth + 1);
    }
    return out;
  }
  return value;
}

/** Parses an OTLP/JSON object into a message of `type`; throws OtlpJsonError on bad input. */
export function messageFromOtlpJson(type: Type, json: unknown): Message {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new OtlpJsonError(`expected a JSON object for ${type.name}`);
  }
  const object = idsFromHex(json, undefined, 0) as Record<string, unknown>;
  try {
    return type.fromObject(object);
  } catch (err) {
    throw new OtlpJsonError(err instanceof Error ? err.message : String(err));
  }
}

function bytesToJson(value: unknown, key: string | undefined): unknown {
  if (value instanceof Uint8Array) {
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return key !== undefined && ID_KEYS.has(key) ? buf.toString('hex') : buf.toString('base64');
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = bytesToJson(value[i], undefined);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const k of Object.keys(record)) record[k] = bytesToJson(record[k], k);
    return record;
  }
  return value;
}

/**
 * A message as an OTLP/JSON object: lowerCamelCase keys, hex ids, other bytes base64, 64-bit
 * integers as decimal strings, enums as integers, unset fields omitted.
 */
export function messageToOtlpJson(type: Type, message: Message): Record<string, unknown> {
  const object = type.toObject(message, { longs: String, enums: Number, json: true });
  return bytesToJson(object, undefined) as Record<string, unknown>;
}
