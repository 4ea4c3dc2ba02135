// Turns a batch of chunks into one OTLP/HTTP request body. Protobuf needs no re-encoding: the chunks
// are Export*ServiceRequest messages whose only field is repeated, so their bytes concatenate into one
// request. JSON merges the chunks' top-level arrays. Gzip runs on the zlib thread pool for bodies
// large enough to matter, so a big flush does not stall the event loop (the local receiver and the
// Telemetry API listener must keep answering).

import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import type { ZlibOptions } from 'node:zlib';
import { JSON_REQUEST_KEY, type Signal, type TelemetryChunk } from '../model/chunk.js';
import type { OtlpCompression, OtlpProtocol } from './destination.js';

interface Gzip {
  sync(raw: Buffer): Buffer;
  async(raw: Buffer): Promise<Buffer>;
}

/** node:zlib takes a few ms to load: it is loaded at the first compressed request, not at start-up. */
let gzipFunctions: Gzip | undefined;
function loadGzip(): Gzip {
  const zlib = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
  const gzipAsync = promisify(zlib.gzip);
  gzipFunctions = {
    sync: (raw) => zlib.gzipSync(raw, GZIP_OPTIONS),
    async: (raw) => gzipAsync(raw, GZIP_OPTIONS),
  };
  return gzipFunctions;
}

/** Below this, the thread-pool round trip costs more than compressing inline (well under 1 ms). */
const INLINE_GZIP_MAX_BYTES = 32 * 1024;

/**
 * Level 1: telemetry is repetitive enough that the fastest level already removes most bytes, and CPU
 * is scarce in small Lambda sizes (a 128 MB function gets a fraction of a core).
 */
const GZIP_OPTIONS: ZlibOptions = { level: 1, memLevel: 8 };

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
  const gzip = gzipFunctions ?? loadGzip();
  const body = raw.length <= INLINE_GZIP_MAX_BYTES ? gzip.sync(raw) : await gzip.async(raw);
  return { body, rawBytes: raw.length, contentType, contentEncoding: 'gzip' };
}
