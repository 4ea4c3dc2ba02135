// Turns one accepted request into pipeline chunks. A request is a run of top-level field-1 records
// (one per ResourceSpans/ResourceMetrics/ResourceLogs); chunks are slices of that run, so an
// unmodified protobuf request is handed over without re-encoding. Requests above the chunk limits
// are cut at record boundaries, and a single oversized record is split by its items.

import type { Message, Type } from 'protobufjs';
import type { OtlpJsonRequest, Signal, TelemetryChunk } from '../model/chunk.js';
import { JSON_REQUEST_KEY } from '../model/chunk.js';
import { fieldTag, WIRE_LENGTH, wireFields } from '../model/otlp-wire.js';
import { messageToOtlpJson } from './otlp-json.js';

export interface ChunkLimits {
  /** Bytes per chunk; a single item larger than this still makes one chunk. */
  maxChunkBytes: number;
  /** Items per chunk. */
  maxChunkItems: number;
}

/** An encoded OTLP request as a chunk; its OTLP/JSON form is decoded only when an exporter asks. */
export class EncodedRequestChunk implements TelemetryChunk {
  readonly bytes: number;
  private cachedJson: OtlpJsonRequest | undefined;

  constructor(
    readonly signal: Signal,
    readonly items: number,
    readonly createdAtMs: number,
    readonly protobuf: Uint8Array,
    private readonly requestType: Type,
  ) {
    this.bytes = protobuf.byteLength;
  }

  json(): OtlpJsonRequest {
    this.cachedJson ??= messageToOtlpJson(
      this.requestType,
      this.requestType.decode(this.protobuf),
    ) as OtlpJsonRequest;
    return this.cachedJson;
  }
}

interface RecordSpan {
  start: number;
  end: number;
}

/**
 * Top-level field-1 records of an encoded request, in order. Other top-level fields (none exist in
 * OTLP v1) are skipped.
 */
function topLevelRecords(bytes: Uint8Array): RecordSpan[] {
  const records: RecordSpan[] = [];
  for (const f of wireFields(bytes, 0, bytes.length)) {
    if (f.tag === RECORD_TAG) records.push({ start: f.start, end: f.end });
  }
  return records;
}

const RECORD_TAG = fieldTag(1, WIRE_LENGTH);

interface ResourceShape {
  scopes: string;
  items: string;
}

const SHAPE: Record<Signal, ResourceShape> = {
  traces: { scopes: 'scopeSpans', items: 'spans' },
  metrics: { scopes: 'scopeMetrics', items: 'metrics' },
  logs: { scopes: 'scopeLogs', items: 'logRecords' },
};

type Obj = Record<string, unknown>;

/** Copies of `resource` holding consecutive ranges of its items, each within the limits. */
function splitResource(
  signal: Signal,
  requestType: Type,
  resource: Obj,
  countItem: (item: unknown) => number,
  limits: ChunkLimits,
): { protobuf: Uint8Array; items: number }[] {
  const shape = SHAPE[signal];
  // Flatten to (scope, item) pairs so ranges can cross scope boundaries.
  const pairs: { scope: Obj; item: unknown }[] = [];
  for (const scope of resource[shape.scopes] as Obj[]) {
    for (const item of scope[shape.items] as unknown[]) pairs.push({ scope, item });
  }
  const encodeRange = (from: number, to: number): Uint8Array => {
    const scopes: Obj[] = [];
    let current: { source: Obj; copy: Obj } | undefined;
    for (let i = from; i < to; i++) {
      const pair = pairs[i] as { scope: Obj; item: unknown };
      if (current?.source !== pair.scope) {
        current = { source: pair.scope, copy: { ...pair.scope, [shape.items]: [] } };
        scopes.push(current.copy);
      }
      (current.copy[shape.items] as unknown[]).push(pair.item);
    }
    const part = { ...resource, [shape.scopes]: scopes };
    return requestType.encode({ [JSON_REQUEST_KEY[signal]]: [part] }).finish();
  };
  const countRange = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) n += countItem((pairs[i] as { item: unknown }).item);
    return n;
  };
  const out: { protobuf: Uint8Array; items: number }[] = [];
  const split = (from: number, to: number): void => {
    const items = countRange(from, to);
    const protobuf = encodeRange(from, to);
    if (to - from <= 1 || (protobuf.byteLength <= limits.maxChunkBytes && items <= limits.maxChunkItems)) {
      out.push({ protobuf, items });
      return;
    }
    const mid = from + Math.floor((to - from) / 2);
    split(from, mid);
    split(mid, to);
  };
  if (pairs.length > 0) split(0, pairs.length);
  return out;
}

function metricPoints(metric: unknown): number {
  const m = metric as Record<string, { dataPoints?: unknown[] } | null | undefined>;
  const data = m.gauge ?? m.sum ?? m.histogram ?? m.exponentialHistogram ?? m.summary;
  return data?.dataPoints?.length ?? 0;
}

/**
 * Chunks for an accepted request. `encoded` is the request's protobuf form (the original bytes when
 * unmodified); `message` its decoded form, used only to split oversized records.
 */
export function makeChunks(
  signal: Signal,
  requestType: Type,
  encoded: Uint8Array,
  message: Message,
  itemsPerResource: readonly number[],
  createdAtMs: number,
  limits: ChunkLimits,
): TelemetryChunk[] {
  const totalItems = itemsPerResource.reduce((a, b) => a + b, 0);
  if (totalItems === 0) return [];
  const chunk = (bytes: Uint8Array, items: number) =>
    new EncodedRequestChunk(signal, items, createdAtMs, bytes, requestType);
  if (encoded.byteLength <= limits.maxChunkBytes && totalItems <= limits.maxChunkItems) {
    return [chunk(encoded, totalItems)];
  }
  const records = topLevelRecords(encoded);
  if (records.length !== itemsPerResource.length) {
    throw new Error(
      `request has ${records.length} resource records but ${itemsPerResource.length} were decoded`,
    );
  }
  const resources = (message as unknown as Obj)[JSON_REQUEST_KEY[signal]] as Obj[];
  const countItem = signal === 'metrics' ? metricPoints : () => 1;
  const chunks: TelemetryChunk[] = [];
  let group: { start: number; end: number; items: number } | undefined;
  const closeGroup = () => {
    if (group && group.items > 0) chunks.push(chunk(encoded.subarray(group.start, group.end), group.items));
    group = undefined;
  };
  records.forEach((record, i) => {
    const items = itemsPerResource[i] ?? 0;
    const size = record.end - record.start;
    if (size > limits.maxChunkBytes || items > limits.maxChunkItems) {
      closeGroup();
      for (const part of splitResource(signal, requestType, resources[i] as Obj, countItem, limits)) {
        if (part.items > 0) chunks.push(chunk(part.protobuf, part.items));
      }
      return;
    }
    // Records are contiguous unless unknown top-level fields sit between them; those are dropped.
    if (
      group &&
      (group.end !== record.start ||
        record.end - group.start > limits.maxChunkBytes ||
        group.items + items > limits.maxChunkItems)
    ) {
      closeGroup();
    }
    if (group) {
      group.end = record.end;
      group.items += items;
    } else {
      group = { start: record.start, end: record.end, items };
    }
  });
  closeGroup();
  return chunks;
}
