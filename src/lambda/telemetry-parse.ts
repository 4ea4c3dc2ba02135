// Turns a Telemetry API push (a JSON array of {time, type, record}) into typed, validated events.
// Each record stands alone: a bad one is counted and dropped, the rest of the batch is kept. This runs
// for every function log line, so it avoids per-record closures, regexes and Date parsing.

import { type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import { parseIsoTimeMs } from './iso-time.js';
import { decodeLogLine } from './telemetry-log-line.js';
import type { PlatformSpan, TelemetryEvent, TracingContext, UnknownEvent } from './telemetry-events.js';
import {
  type FieldKind,
  PLATFORM_RECORDS,
  type PlatformRecordType,
  type RecordDescription,
} from './telemetry-records.js';

/** Counters for self-telemetry. Cumulative since the parser was created; maps have no prototype. */
export interface ParseStats {
  /** Bodies (pushes) handed to parseBody. */
  bodies: number;
  /** Bodies dropped whole, by kind: not-json, not-array. */
  invalidBodies: Record<string, number>;
  /** Records seen (array elements). */
  received: number;
  /** Records turned into events, by event type (unknown types under 'unknown'). */
  parsed: Record<string, number>;
  /** Records of types this version does not know, by their type (kept as UnknownEvent). */
  unknown: Record<string, number>;
  /** Records dropped, by kind `<type>.<field>` (or record.not-object, envelope.type). */
  malformed: Record<string, number>;
  /** Optional fields dropped from otherwise valid records, by kind `<type>.<field>`. */
  invalidFields: Record<string, number>;
}

export function createParseStats(): ParseStats {
  return {
    bodies: 0,
    invalidBodies: Object.create(null),
    received: 0,
    parsed: Object.create(null),
    unknown: Object.create(null),
    malformed: Object.create(null),
    invalidFields: Object.create(null),
  };
}

// A hostile or buggy sender must not grow the counter maps without bound.
const MAX_COUNTER_KEYS = 64;
const OVERFLOW_KEY = 'other';

/** Counts under `key`, or under 'other' once the map is full; returns the key used. */
function bump(map: Record<string, number>, key: string): string {
  const current = map[key];
  if (current !== undefined) {
    map[key] = current + 1;
    return key;
  }
  let size = 0;
  for (const _ in map) size++;
  const k = size >= MAX_COUNTER_KEYS ? OVERFLOW_KEY : key;
  map[k] = (map[k] ?? 0) + 1;
  return k;
}

export { parseIsoTimeMs } from './iso-time.js';

type Rec = Record<string, unknown>;

function isObject(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** One field of a record description, ready for the decoder. */
interface FieldReader {
  readonly key: string;
  /** The FieldKind as a small integer: the decoder's switches compile to jump tables. */
  readonly kind: number;
  /** What a drop for this field is counted as: the key, or `metrics.<key>` inside metrics. */
  readonly fault: string;
}

/** A record description flattened into arrays, so decoding one record walks them without allocating. */
interface RecordReader {
  readonly type: PlatformRecordType;
  readonly required: readonly FieldReader[];
  readonly optional: readonly FieldReader[];
  /** Non-empty when the record must carry a `metrics` object. */
  readonly metricsRequired: readonly FieldReader[];
  readonly metricsOptional: readonly FieldReader[];
}

const STRING = 0;
const ERROR_TYPE = 1;
const NUMBER = 2;
const STRINGS = 3;
const SPANS = 4;
const TRACING = 5;
const KIND_CODES: Record<FieldKind, number> = {
  string: STRING,
  'error type': ERROR_TYPE,
  number: NUMBER,
  strings: STRINGS,
  spans: SPANS,
  tracing: TRACING,
};

function fieldReaders(fields: object | undefined, prefix = ''): FieldReader[] {
  if (fields === undefined) return [];
  return Object.entries(fields as Record<string, FieldKind>).map(([key, kind]) => ({
    key,
    kind: KIND_CODES[kind],
    fault: prefix + key,
  }));
}

const RECORD_READERS = new Map<string, RecordReader>();
for (const [type, description] of Object.entries(PLATFORM_RECORDS) as [
  PlatformRecordType,
  RecordDescription<unknown>,
][]) {
  RECORD_READERS.set(type, {
    type,
    required: fieldReaders(description.required),
    optional: fieldReaders(description.optional),
    metricsRequired: fieldReaders(description.metrics?.required, 'metrics.'),
    metricsOptional: fieldReaders(description.metrics?.optional),
  });
}

const LOG_LINE_TYPES = ['function', 'extension'];
const KNOWN_TYPES = new Set([...RECORD_READERS.keys(), ...LOG_LINE_TYPES]);

export interface TelemetryParserOptions {
  logger?: ExtensionLogger;
  stats?: ParseStats;
}

export class TelemetryParser {
  readonly stats: ParseStats;
  private readonly logger: ExtensionLogger;
  /** The field that made the current record invalid; set by the decoders. */
  private fault = '';

  constructor(options: TelemetryParserOptions = {}) {
    this.logger = options.logger ?? defaultLog;
    this.stats = options.stats ?? createParseStats();
  }

  /** Parses one push body. Never throws; whatever cannot be used is counted and reported once per kind. */
  parseBody(body: string | Buffer): TelemetryEvent[] {
    this.stats.bodies++;
    let value: unknown;
    try {
      value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    } catch (err) {
      this.invalidBody('not-json', `telemetry push is not valid JSON (${(err as Error).message})`);
      return [];
    }
    if (!Array.isArray(value)) {
      this.invalidBody('not-array', `telemetry push is not a JSON array (got ${describeJsonType(value)})`);
      return [];
    }
    return this.parseRecords(value);
  }

  parseRecords(records: readonly unknown[]): TelemetryEvent[] {
    const out: TelemetryEvent[] = [];
    for (let i = 0; i < records.length; i++) {
      const event = this.parseRecord(records[i]);
      if (event !== undefined) out.push(event);
    }
    return out;
  }

  /** One envelope; undefined when it is malformed (counted). */
  parseRecord(raw: unknown): TelemetryEvent | undefined {
    this.stats.received++;
    if (!isObject(raw)) return this.malformed('record.not-object');
    const type = raw['type'];
    if (typeof type !== 'string' || type === '') return this.malformed('envelope.type');
    const time = raw['time'];
    const timeMs = typeof time === 'string' ? parseIsoTimeMs(time) : Number.NaN;
    // Unknown type names are not used as counter keys here: their number is unbounded.
    if (Number.isNaN(timeMs)) return this.malformed(`${KNOWN_TYPES.has(type) ? type : 'unknown'}.time`);
    const record = raw['record'];

    let event: TelemetryEvent | undefined;
    this.fault = '';
    if (type === 'function' || type === 'extension') {
      event = decodeLogLine(type, timeMs, record);
    } else {
      const reader = RECORD_READERS.get(type);
      if (reader === undefined) return this.unknown(type, timeMs, record);
      event = this.platformRecord(reader, timeMs, record);
    }
    if (event === undefined) return this.malformed(`${type}.${this.fault || 'record'}`);
    bump(this.stats.parsed, type);
    return event;
  }

  // -------------------------------------------------------------------------------------------------
  // Outcome helpers

  private unknown(type: string, timeMs: number, record: unknown): UnknownEvent {
    // The counted key also keys the report-once memory, which keeps that bounded too.
    const counted = bump(this.stats.unknown, type);
    bump(this.stats.parsed, 'unknown');
    this.logger.once(
      `telemetry.unknown.${counted}`,
      'info',
      `telemetry type ${JSON.stringify(type.slice(0, 64))} is not known to this version; passed on as unknown (counted)`,
    );
    return { type: 'unknown', timeMs, originalType: type, record };
  }

  private malformed(kind: string): undefined {
    bump(this.stats.malformed, kind);
    this.logger.once(
      `telemetry.malformed.${kind}`,
      'warn',
      `telemetry record dropped: ${kind} missing or invalid (further ones of this kind are counted, not logged)`,
    );
    return undefined;
  }

  private invalidBody(kind: string, message: string): void {
    bump(this.stats.invalidBodies, kind);
    this.logger.once(
      `telemetry.body.${kind}`,
      'warn',
      `${message}; push dropped (further ones counted, not logged)`,
    );
  }

  private invalidField(type: string, field: string): void {
    const kind = `${type}.${field}`;
    bump(this.stats.invalidFields, kind);
    this.logger.once(
      `telemetry.field.${kind}`,
      'warn',
      `telemetry field ${kind} has an unexpected form; field ignored, record kept (further ones counted, not logged)`,
    );
  }

  /** Marks the current record invalid because of `field`; returns undefined for `return this.fail(..)`. */
  private fail(field: string): undefined {
    this.fault = field;
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------
  // Platform records: one decoder for every description in PLATFORM_RECORDS. Required fields fail the
  // record, optional ones are dropped and counted.

  private platformRecord(reader: RecordReader, timeMs: number, record: unknown): TelemetryEvent | undefined {
    if (!isObject(record)) return this.fail('record');
    const event: Rec = { type: reader.type, timeMs };
    if (!this.requiredFields(event, record, reader.required)) return undefined;
    const metrics = record['metrics'];
    if (reader.metricsRequired.length > 0) {
      if (!isObject(metrics)) return this.fail('metrics');
      if (!this.requiredFields(event, metrics, reader.metricsRequired)) return undefined;
    }
    const type = reader.type;
    const optional = reader.optional;
    for (let i = 0; i < optional.length; i++)
      this.optionalField(event, record, optional[i] as FieldReader, type);
    const metricsOptional = reader.metricsOptional;
    if (metricsOptional.length > 0) {
      if (isObject(metrics)) {
        for (let i = 0; i < metricsOptional.length; i++) {
          this.optionalField(event, metrics, metricsOptional[i] as FieldReader, type);
        }
      } else if (metrics !== undefined && metrics !== null) {
        this.invalidField(type, 'metrics');
      }
    }
    // The description's types tie each field to the event interface of `type`.
    return event as unknown as TelemetryEvent;
  }

  /** Copies the required fields in order; false (the fault set) at the first one absent or of another form. */
  private requiredFields(event: Rec, from: Rec, fields: readonly FieldReader[]): boolean {
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i] as FieldReader;
      const v = from[f.key];
      const ok =
        f.kind === NUMBER
          ? isNum(v)
          : f.kind === STRINGS
            ? stringArray(v) !== undefined
            : typeof v === 'string';
      if (!ok) {
        this.fault = f.fault;
        return false;
      }
      event[f.key] = v;
    }
    return true;
  }

  private optionalField(event: Rec, from: Rec, f: FieldReader, type: string): void {
    const key = f.key;
    const v = from[key];
    if (f.kind === SPANS) {
      event[key] = this.spans(v, type, key);
      return;
    }
    if (v === undefined || v === null) return;
    switch (f.kind) {
      case STRING:
        if (typeof v === 'string') {
          event[key] = v;
          return;
        }
        break;
      case ERROR_TYPE:
        if (typeof v === 'string') {
          if (v !== '') event[key] = v;
          return;
        }
        break;
      case NUMBER:
        if (isNum(v)) {
          event[key] = v;
          return;
        }
        break;
      case STRINGS:
        if (stringArray(v) !== undefined) {
          event[key] = v;
          return;
        }
        break;
      case TRACING: {
        const t = tracingContext(v);
        if (t !== undefined) {
          event[key] = t;
          return;
        }
        break;
      }
    }
    this.invalidField(type, key);
  }

  private spans(v: unknown, type: string, key: string): PlatformSpan[] {
    const out: PlatformSpan[] = [];
    if (v === undefined || v === null) return out;
    if (!Array.isArray(v)) {
      this.invalidField(type, key);
      return out;
    }
    for (const s of v) {
      if (isObject(s)) {
        const name = s['name'];
        const start = s['start'];
        const durationMs = s['durationMs'];
        const startMs = typeof start === 'string' ? parseIsoTimeMs(start) : Number.NaN;
        if (typeof name === 'string' && !Number.isNaN(startMs) && isNum(durationMs)) {
          out.push({ name, startMs, durationMs });
          continue;
        }
      }
      this.invalidField(type, key);
    }
    return out;
  }
}

function tracingContext(v: unknown): TracingContext | undefined {
  if (!isObject(v) || typeof v['type'] !== 'string' || typeof v['value'] !== 'string') return undefined;
  const t: TracingContext = { type: v['type'], value: v['value'] };
  const spanId = v['spanId'];
  if (typeof spanId === 'string') t.spanId = spanId;
  return t;
}

function stringArray(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const item of v) if (typeof item !== 'string') return undefined;
  return v as string[];
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}
