// Turns a batch of chunks into one OTLP/HTTP request body. Protobuf needs no re-encoding: the chunks
// are Export*ServiceRequest messages whose only field is repeated, so their bytes concatenate into one
// request. JSON merges the chunks' top-level arrays. Gzip is the runtime port's (Node: the zlib thread
// pool for bodies large enough to matter, so a big flush does not stall the listener and receiver;
// Bun: its native gzip, without loading node:zlib).

import { JSON_REQUEST_KEY, type Signal, type TelemetryChunk } from '../model/chunk.js';
import { platform } from '../platform/index.js';
import type { OtlpCompression, OtlpProtocol } from './destination.js';

/**
 * Level 1: telemetry is repetitive enough that the fastest level already removes most bytes, and CPU
 * is scarce in small Lambda sizes (a 128 MB function gets a fraction of a core).
 */
const GZIP_LEVEL = 1;

export interface RequestBody {
  body: Buffer;
  /** Size before compression. */
  rawBytes: number;
  contentType: 'application/x-protobuf' | 'application/json';
  contentEncoding: 'gzip' | undefined;
}

export function concatProtobuf(chunks: readonly TelemetryChunk[]): Buffer {
  if (chunks.length === 1) {
    const only = (chunks[0] as TelemetryChunk).protobuf;
    return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  }
  let total = 0;
  for (const c of chunks) total += c.protobuf.byteLength;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c.protobuf, offset);
    offset += c.protobuf.byteLength;
  }
  return out;
}

export function mergeJson(signal: Signal, chunks: readonly TelemetryChunk[]): Buffer {
  const key = JSON_REQUEST_KEY[signal];
  const merged: unknown[] = [];
  for (const c of chunks) {
    const part = c.json()[key];
    if (Array.isArray(part)) for (const item of part) merged.push(item);
  }
  return Buffer.from(JSON.stringify({ [key]: merged }));
}

export async function encodeRequestBody(
  signal: Signal,
  chunks: readonly TelemetryChunk[],
  protocol: OtlpProtocol,
  compression: OtlpCompression,
): Promise<RequestBody> {
  const raw = protocol === 'http/json' ? mergeJson(signal, chunks) : concatProtobuf(chunks);
  const contentType = protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
  if (compression !== 'gzip')
    return { body: raw, rawBytes: raw.length, contentType, contentEncoding: undefined };
  const gzipped = await platform().compression.gzip(raw, GZIP_LEVEL);
  const body = Buffer.from(gzipped.buffer, gzipped.byteOffset, gzipped.byteLength);
  return { body, rawBytes: raw.length, contentType, contentEncoding: 'gzip' };
}
