// Cuts one chunk into two halves by its items (spans, metrics, log records), on the encoded bytes:
// the exporter's bisection of a request a backend refused (400) goes below a single chunk with it,
// so that one bad item costs only itself. Each half keeps the resource and scope of its items; its
// OTLP/JSON form is the same slice of the chunk's.

import { JSON_REQUEST_KEY, type OtlpJsonRequest, type Signal, type TelemetryChunk } from '../model/chunk.js';
import { fieldTag, lengthDelimited, readVarint, WIRE_LENGTH, wireFields } from '../model/otlp-wire.js';

interface Scope {
  /** The scope's fields other than its items, as encoded. */
  readonly header: Uint8Array[];
  /** Each item's field (tag, length and value). */
  readonly items: Uint8Array[];
}

interface Resource {
  readonly header: Uint8Array[];
  readonly scopes: Scope[];
}

const isField = (tag: number, number: number) => tag === fieldTag(number, WIRE_LENGTH);

function parse(bytes: Uint8Array): Resource[] {
  const resources: Resource[] = [];
  for (const r of wireFields(bytes, 0, bytes.length)) {
    if (!isField(r.tag, 1)) continue;
    const resource: Resource = { header: [], scopes: [] };
    for (const s of wireFields(bytes, r.valueStart, r.end)) {
      if (!isField(s.tag, 2)) {
        resource.header.push(bytes.subarray(s.start, s.end));
        continue;
      }
      const scope: Scope = { header: [], items: [] };
      for (const i of wireFields(bytes, s.valueStart, s.end)) {
        (isField(i.tag, 2) ? scope.items : scope.header).push(bytes.subarray(i.start, i.end));
      }
      resource.scopes.push(scope);
    }
    resources.push(resource);
  }
  return resources;
}

/** Data points of one encoded Metric (gauge 5, sum 7, histogram 9, exponential histogram 10, summary 11). */
function metricPoints(metric: Uint8Array): number {
  let points = 0;
  for (const f of wireFields(metric, 0, metric.length)) {
    if ([5, 7, 9, 10, 11].some((n) => isField(f.tag, n))) {
      for (const p of wireFields(metric, f.valueStart, f.end)) if (isField(p.tag, 1)) points++;
    }
  }
  return points;
}

/** [resource, scope, item] positions of every item, in order. */
type Position = readonly [number, number, number];

function positions(resources: readonly Resource[]): Position[] {
  const out: Position[] = [];
  resources.forEach((r, ri) => {
    r.scopes.forEach((s, si) => {
      for (let ii = 0; ii < s.items.length; ii++) out.push([ri, si, ii]);
    });
  });
  return out;
}

class HalfChunk implements TelemetryChunk {
  readonly bytes: number;
  private cachedJson: OtlpJsonRequest | undefined;

  constructor(
    readonly signal: Signal,
    readonly items: number,
    readonly createdAtMs: number,
    readonly protobuf: Uint8Array,
    private readonly parent: TelemetryChunk,
    private readonly range: readonly Position[],
  ) {
    this.bytes = protobuf.byteLength;
  }

  json(): OtlpJsonRequest {
    this.cachedJson ??= sliceJson(this.signal, this.parent.json(), this.range);
    return this.cachedJson;
  }
}

const JSON_SHAPE: Record<Signal, { scopes: string; items: string }> = {
  traces: { scopes: 'scopeSpans', items: 'spans' },
  metrics: { scopes: 'scopeMetrics', items: 'metrics' },
  logs: { scopes: 'scopeLogs', items: 'logRecords' },
};

type Obj = Record<string, unknown>;

/** The same items, by position, from the OTLP/JSON form (decoded from the same bytes, same order). */
function sliceJson(signal: Signal, whole: OtlpJsonRequest, range: readonly Position[]): OtlpJsonRequest {
  const key = JSON_REQUEST_KEY[signal];
  const shape = JSON_SHAPE[signal];
  const sourceResources = (whole[key] ?? []) as Obj[];
  const resources: Obj[] = [];
  let current: { ri: number; si: number; resource: Obj; scope: Obj | undefined } | undefined;
  for (const [ri, si, ii] of range) {
    const sourceResource = sourceResources[ri] as Obj;
    const sourceScope = (sourceResource[shape.scopes] as Obj[])[si] as Obj;
    if (current?.ri !== ri) {
      current = { ri, si: -1, resource: { ...sourceResource, [shape.scopes]: [] }, scope: undefined };
      resources.push(current.resource);
    }
    if (current.si !== si) {
      current.si = si;
      current.scope = { ...sourceScope, [shape.items]: [] };
      (current.resource[shape.scopes] as Obj[]).push(current.scope);
    }
    ((current.scope as Obj)[shape.items] as unknown[]).push((sourceScope[shape.items] as unknown[])[ii]);
  }
  return { [key]: resources };
}

/**
 * The chunk's items in two halves, or undefined when it holds fewer than two items or its bytes
 * cannot be read as an OTLP export request.
 */
export function splitChunkInHalves(chunk: TelemetryChunk): [TelemetryChunk, TelemetryChunk] | undefined {
  let resources: Resource[];
  try {
    resources = parse(chunk.protobuf);
  } catch {
    return undefined;
  }
  const all = positions(resources);
  if (all.length < 2) return undefined;
  const mid = Math.ceil(all.length / 2);
  const half = (range: readonly Position[]): TelemetryChunk => {
    const parts: Uint8Array[] = [];
    let items = 0;
    let i = 0;
    while (i < range.length) {
      const ri = (range[i] as Position)[0];
      const resource = resources[ri] as Resource;
      const resourceParts: Uint8Array[] = [...resource.header];
      while (i < range.length && (range[i] as Position)[0] === ri) {
        const si = (range[i] as Position)[1];
        const scope = resource.scopes[si] as Scope;
        const scopeParts: Uint8Array[] = [...scope.header];
        while (i < range.length && (range[i] as Position)[0] === ri && (range[i] as Position)[1] === si) {
          const item = scope.items[(range[i] as Position)[2]] as Uint8Array;
          scopeParts.push(item);
          items += chunk.signal === 'metrics' ? metricPoints(itemValue(item)) : 1;
          i++;
        }
        resourceParts.push(...lengthDelimited(2, scopeParts));
      }
      parts.push(...lengthDelimited(1, resourceParts));
    }
    return new HalfChunk(chunk.signal, items, chunk.createdAtMs, Buffer.concat(parts), chunk, range);
  };
  return [half(all.slice(0, mid)), half(all.slice(mid))];
}

/** The value of an encoded length-delimited field (its tag and length stripped). */
function itemValue(field: Uint8Array): Uint8Array {
  const afterTag = readVarint(field, 0, field.length)[1];
  const afterLength = readVarint(field, afterTag, field.length)[1];
  return field.subarray(afterLength);
}
