// Turns a Telemetry API push (a JSON array of {time, type, record}) into typed, validated events.
// Each record stands alone: a bad one is counted and dropped, the rest of the batch is kept. This runs
// for every function log line, so it avoids per-record closures, regexes and Date parsing.

import { type ExtensionLogger, log as defaultLog } from '../extension-log.js';
import type {
  ExtensionStateEvent,
  InitReportEvent,
  InitRuntimeDoneEvent,
  InitStartEvent,
  LogLineEvent,
  LogsDroppedEvent,
  PlatformSpan,
  ReportEvent,
  RestoreReportEvent,
  RestoreRuntimeDoneEvent,
  RestoreStartEvent,
  RuntimeDoneEvent,
  StartEvent,
  TelemetryEvent,
  TelemetrySubscriptionEvent,
  TracingContext,
  UnknownEvent,
} from './telemetry-events.js';

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

type Rec = Record<string, unknown>;

function isObject(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

// ---------------------------------------------------------------------------------------------------
// ISO-8601 to epoch ms, keeping sub-millisecond digits. Consecutive records almost always share the
// same second, so the date/time part is cached for one entry.

let cachedSecondPrefix = '';
let cachedSecondMs = 0;

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : Number.NaN;
}

function two(s: string, i: number): number {
  return digit(s, i) * 10 + digit(s, i + 1);
}

/** Epoch milliseconds (fractional below 1 ms) or NaN when the text is not a date-time. */
export function parseIsoTimeMs(s: string): number {
  const n = s.length;
  if (
    n >= 20 &&
    s.charCodeAt(4) === 45 && // -
    s.charCodeAt(7) === 45 &&
    s.charCodeAt(10) === 84 && // T
    s.charCodeAt(13) === 58 && // :
    s.charCodeAt(16) === 58
  ) {
    let base: number;
    if (cachedSecondPrefix !== '' && s.startsWith(cachedSecondPrefix)) {
      base = cachedSecondMs;
    } else {
      const year = two(s, 0) * 100 + two(s, 2);
      const month = two(s, 5);
      const day = two(s, 8);
      const hour = two(s, 11);
      const minute = two(s, 14);
      const second = two(s, 17);
      if (
        !(month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60)
      ) {
        return Date.parse(s);
      }
      base = Date.UTC(year, month - 1, day, hour, minute, second);
      if (year < 100) base = new Date(base).setUTCFullYear(year);
      cachedSecondPrefix = s.slice(0, 19);
      cachedSecondMs = base;
    }
    let i = 19;
    let fraction = 0;
    if (s.charCodeAt(i) === 46 /* . */) {
      i++;
      const start = i;
      let units = 0;
      let digits = 0;
      for (; i < n; i++) {
        const d = s.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        // Beyond nanoseconds the digits cannot change an epoch-ms double.
        if (digits < 9) {
          units = units * 10 + d;
          digits++;
        }
      }
      if (i === start) return Number.NaN;
      fraction = digits === 3 ? units : units / 10 ** (digits - 3);
    }
    const z = s.charCodeAt(i);
    if (z === 90 /* Z */ && i + 1 === n) return base + fraction;
    if ((z === 43 /* + */ || z === 45) /* - */ && i + 6 === n && s.charCodeAt(i + 3) === 58) {
      const offset = (two(s, i + 1) * 60 + two(s, i + 4)) * 60000;
      if (Number.isNaN(offset)) return Number.NaN;
      return base + fraction + (z === 43 ? -offset : offset);
    }
  }
  // Anything unusual (no seconds, lowercase, basic format, no zone): the engine's parser decides.
  return Date.parse(s);
}

// ---------------------------------------------------------------------------------------------------

const KNOWN_TYPES = new Set([
  'platform.initStart',
  'platform.initRuntimeDone',
  'platform.initReport',
  'platform.start',
  'platform.runtimeDone',
  'platform.report',
  'platform.restoreStart',
  'platform.restoreRuntimeDone',
  'platform.restoreReport',
  'platform.extension',
  'platform.telemetrySubscription',
  'platform.logsDropped',
  'function',
  'extension',
]);

export interface TelemetryParserOptions {
  logger?: ExtensionLogger;
  stats?: ParseStats;
}

export class TelemetryParser {
  readonly stats: ParseStats;
  private readonly logger: ExtensionLogger;
  /** The field that made the current record invalid; set by the per-type builders. */
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
    switch (type) {
      case 'function':
      case 'extension':
        event = this.logLine(type, timeMs, record);
        break;
      case 'platform.start':
        event = this.start(timeMs, record);
        break;
      case 'platform.runtimeDone':
        event = this.runtimeDone(timeMs, record);
        break;
      case 'platform.report':
        event = this.report(timeMs, record);
        break;
      case 'platform.initStart':
        event = this.initStart(timeMs, record);
        break;
      case 'platform.initRuntimeDone':
        event = this.initRuntimeDone(timeMs, record);
        break;
      case 'platform.initReport':
        event = this.initReport(timeMs, record);
        break;
      case 'platform.restoreStart':
        event = this.restoreStart(timeMs, record);
        break;
      case 'platform.restoreRuntimeDone':
        event = this.restoreRuntimeDone(timeMs, record);
        break;
      case 'platform.restoreReport':
        event = this.restoreReport(timeMs, record);
        break;
      case 'platform.extension':
        event = this.extensionState(timeMs, record);
        break;
      case 'platform.telemetrySubscription':
        event = this.telemetrySubscription(timeMs, record);
        break;
      case 'platform.logsDropped':
        event = this.logsDropped(timeMs, record);
        break;
      default: {
        const unknown: UnknownEvent = { type: 'unknown', timeMs, originalType: type, record };
        // The counted key also keys the report-once memory, which keeps that bounded too.
        const counted = bump(this.stats.unknown, type);
        bump(this.stats.parsed, 'unknown');
        this.logger.once(
          `telemetry.unknown.${counted}`,
          'info',
          `telemetry type ${JSON.stringify(type.slice(0, 64))} is not known to this version; passed on as unknown (counted)`,
        );
        return unknown;
      }
    }
    if (event === undefined) return this.malformed(`${type}.${this.fault || 'record'}`);
    bump(this.stats.parsed, type);
    return event;
  }

  // -------------------------------------------------------------------------------------------------
  // Outcome helpers

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

  private optStr(r: Rec, key: string, type: string): string | undefined {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    this.invalidField(type, key);
    return undefined;
  }

  private optNum(r: Rec, key: string, type: string): number | undefined {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    if (isNum(v)) return v;
    this.invalidField(type, key);
    return undefined;
  }

  private spans(r: Rec, type: string): PlatformSpan[] {
    const v = r['spans'];
    const out: PlatformSpan[] = [];
    if (v === undefined || v === null) return out;
    if (!Array.isArray(v)) {
      this.invalidField(type, 'spans');
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
      this.invalidField(type, 'spans');
    }
    return out;
  }

  private tracing(r: Rec, type: string): TracingContext | undefined {
    const v = r['tracing'];
    if (v === undefined || v === null) return undefined;
    if (isObject(v) && typeof v['type'] === 'string' && typeof v['value'] === 'string') {
      const t: TracingContext = { type: v['type'], value: v['value'] };
      const spanId = v['spanId'];
      if (typeof spanId === 'string') t.spanId = spanId;
      return t;
    }
    this.invalidField(type, 'tracing');
    return undefined;
  }

  /** errorType matters only on failures; an empty string means none. */
  private errorType<T extends { errorType?: string }>(target: T, r: Rec, type: string): T {
    const e = this.optStr(r, 'errorType', type);
    if (e !== undefined && e !== '') target.errorType = e;
    return target;
  }

  // -------------------------------------------------------------------------------------------------
  // Per-type builders: required fields fail the record, optional ones are dropped and counted.

  private logLine(type: 'function' | 'extension', timeMs: number, record: unknown): LogLineEvent | undefined {
    if (typeof record === 'string') {
      // JSON log format delivered as text (AWS's emulator, schema 2022-07-01): read like the object.
      const object = lambdaJsonRecord(record);
      if (object === undefined) return { type, timeMs, message: record, structured: false };
      record = object;
    }
    if (!isObject(record)) return this.fail('record');
    const event: LogLineEvent = { type, timeMs, message: '', structured: true };
    let fields: Rec | undefined;
    for (const key in record) {
      const v = record[key];
      switch (key) {
        case 'message':
          event.message = typeof v === 'string' ? v : stringifyMessage(v);
          continue;
        case 'level':
          if (typeof v === 'string') {
            event.level = v;
            continue;
          }
          break;
        case 'requestId':
          if (typeof v === 'string') {
            event.requestId = v;
            continue;
          }
          break;
        case 'timestamp':
          if (typeof v === 'string') {
            const ms = parseIsoTimeMs(v);
            if (!Number.isNaN(ms)) {
              event.recordTimeMs = ms;
              continue;
            }
          }
          break;
      }
      // Unrecognised (or oddly typed well-known) keys stay as fields: nothing is silently lost.
      fields ??= {};
      if (key === '__proto__') {
        Object.defineProperty(fields, key, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        fields[key] = v;
      }
    }
    if (fields !== undefined) event.fields = fields;
    return event;
  }

  private start(timeMs: number, record: unknown): StartEvent | undefined {
    const type = 'platform.start';
    if (!isObject(record)) return this.fail('record');
    const requestId = record['requestId'];
    if (typeof requestId !== 'string') return this.fail('requestId');
    const event: StartEvent = { type, timeMs, requestId };
    const version = this.optStr(record, 'version', type);
    if (version !== undefined) event.version = version;
    const tracing = this.tracing(record, type);
    if (tracing !== undefined) event.tracing = tracing;
    return event;
  }

  private runtimeDone(timeMs: number, record: unknown): RuntimeDoneEvent | undefined {
    const type = 'platform.runtimeDone';
    if (!isObject(record)) return this.fail('record');
    const requestId = record['requestId'];
    if (typeof requestId !== 'string') return this.fail('requestId');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const event: RuntimeDoneEvent = { type, timeMs, requestId, status, spans: this.spans(record, type) };
    this.errorType(event, record, type);
    const metrics = record['metrics'];
    if (isObject(metrics)) {
      const durationMs = this.optNum(metrics, 'durationMs', type);
      if (durationMs !== undefined) event.durationMs = durationMs;
      const producedBytes = this.optNum(metrics, 'producedBytes', type);
      if (producedBytes !== undefined) event.producedBytes = producedBytes;
    } else if (metrics !== undefined && metrics !== null) {
      this.invalidField(type, 'metrics');
    }
    const tracing = this.tracing(record, type);
    if (tracing !== undefined) event.tracing = tracing;
    return event;
  }

  private report(timeMs: number, record: unknown): ReportEvent | undefined {
    const type = 'platform.report';
    if (!isObject(record)) return this.fail('record');
    const requestId = record['requestId'];
    if (typeof requestId !== 'string') return this.fail('requestId');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const metrics = record['metrics'];
    if (!isObject(metrics)) return this.fail('metrics');
    const durationMs = metrics['durationMs'];
    if (!isNum(durationMs)) return this.fail('metrics.durationMs');
    const event: ReportEvent = {
      type,
      timeMs,
      requestId,
      status,
      durationMs,
      spans: this.spans(record, type),
    };
    this.errorType(event, record, type);
    const billed = this.optNum(metrics, 'billedDurationMs', type);
    if (billed !== undefined) event.billedDurationMs = billed;
    const memorySize = this.optNum(metrics, 'memorySizeMB', type);
    if (memorySize !== undefined) event.memorySizeMB = memorySize;
    const maxUsed = this.optNum(metrics, 'maxMemoryUsedMB', type);
    if (maxUsed !== undefined) event.maxMemoryUsedMB = maxUsed;
    const init = this.optNum(metrics, 'initDurationMs', type);
    if (init !== undefined) event.initDurationMs = init;
    const restore = this.optNum(metrics, 'restoreDurationMs', type);
    if (restore !== undefined) event.restoreDurationMs = restore;
    const tracing = this.tracing(record, type);
    if (tracing !== undefined) event.tracing = tracing;
    return event;
  }

  private initStart(timeMs: number, record: unknown): InitStartEvent | undefined {
    const type = 'platform.initStart';
    if (!isObject(record)) return this.fail('record');
    const initializationType = record['initializationType'];
    if (typeof initializationType !== 'string') return this.fail('initializationType');
    const phase = record['phase'];
    if (typeof phase !== 'string') return this.fail('phase');
    const event: InitStartEvent = { type, timeMs, initializationType, phase };
    this.functionFacts(event, record, type);
    return event;
  }

  private restoreStart(timeMs: number, record: unknown): RestoreStartEvent | undefined {
    const type = 'platform.restoreStart';
    if (!isObject(record)) return this.fail('record');
    const event: RestoreStartEvent = { type, timeMs };
    this.functionFacts(event, record, type);
    return event;
  }

  private functionFacts(event: InitStartEvent | RestoreStartEvent, record: Rec, type: string): void {
    const functionName = this.optStr(record, 'functionName', type);
    if (functionName !== undefined) event.functionName = functionName;
    const functionVersion = this.optStr(record, 'functionVersion', type);
    if (functionVersion !== undefined) event.functionVersion = functionVersion;
    const instanceId = this.optStr(record, 'instanceId', type);
    if (instanceId !== undefined) event.instanceId = instanceId;
    const instanceMaxMemory = this.optNum(record, 'instanceMaxMemory', type);
    if (instanceMaxMemory !== undefined) event.instanceMaxMemory = instanceMaxMemory;
    const runtimeVersion = this.optStr(record, 'runtimeVersion', type);
    if (runtimeVersion !== undefined) event.runtimeVersion = runtimeVersion;
    const runtimeVersionArn = this.optStr(record, 'runtimeVersionArn', type);
    if (runtimeVersionArn !== undefined) event.runtimeVersionArn = runtimeVersionArn;
  }

  private initRuntimeDone(timeMs: number, record: unknown): InitRuntimeDoneEvent | undefined {
    const type = 'platform.initRuntimeDone';
    if (!isObject(record)) return this.fail('record');
    const initializationType = record['initializationType'];
    if (typeof initializationType !== 'string') return this.fail('initializationType');
    const phase = record['phase'];
    if (typeof phase !== 'string') return this.fail('phase');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const event: InitRuntimeDoneEvent = {
      type,
      timeMs,
      initializationType,
      phase,
      status,
      spans: this.spans(record, type),
    };
    return this.errorType(event, record, type);
  }

  private initReport(timeMs: number, record: unknown): InitReportEvent | undefined {
    const type = 'platform.initReport';
    if (!isObject(record)) return this.fail('record');
    const initializationType = record['initializationType'];
    if (typeof initializationType !== 'string') return this.fail('initializationType');
    const phase = record['phase'];
    if (typeof phase !== 'string') return this.fail('phase');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const metrics = record['metrics'];
    if (!isObject(metrics)) return this.fail('metrics');
    const durationMs = metrics['durationMs'];
    if (!isNum(durationMs)) return this.fail('metrics.durationMs');
    const event: InitReportEvent = {
      type,
      timeMs,
      initializationType,
      phase,
      status,
      durationMs,
      spans: this.spans(record, type),
    };
    return this.errorType(event, record, type);
  }

  private restoreRuntimeDone(timeMs: number, record: unknown): RestoreRuntimeDoneEvent | undefined {
    const type = 'platform.restoreRuntimeDone';
    if (!isObject(record)) return this.fail('record');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const event: RestoreRuntimeDoneEvent = { type, timeMs, status, spans: this.spans(record, type) };
    return this.errorType(event, record, type);
  }

  private restoreReport(timeMs: number, record: unknown): RestoreReportEvent | undefined {
    const type = 'platform.restoreReport';
    if (!isObject(record)) return this.fail('record');
    const status = record['status'];
    if (typeof status !== 'string') return this.fail('status');
    const event: RestoreReportEvent = { type, timeMs, status, spans: this.spans(record, type) };
    this.errorType(event, record, type);
    const metrics = record['metrics'];
    if (isObject(metrics)) {
      const durationMs = this.optNum(metrics, 'durationMs', type);
      if (durationMs !== undefined) event.durationMs = durationMs;
    } else if (metrics !== undefined && metrics !== null) {
      this.invalidField(type, 'metrics');
    }
    return event;
  }

  private extensionState(timeMs: number, record: unknown): ExtensionStateEvent | undefined {
    const type = 'platform.extension';
    if (!isObject(record)) return this.fail('record');
    const name = record['name'];
    if (typeof name !== 'string') return this.fail('name');
    const state = record['state'];
    if (typeof state !== 'string') return this.fail('state');
    const events = stringArray(record['events']);
    if (events === undefined) return this.fail('events');
    const event: ExtensionStateEvent = { type, timeMs, name, state, events };
    return this.errorType(event, record, type);
  }

  private telemetrySubscription(timeMs: number, record: unknown): TelemetrySubscriptionEvent | undefined {
    const type = 'platform.telemetrySubscription';
    if (!isObject(record)) return this.fail('record');
    const name = record['name'];
    if (typeof name !== 'string') return this.fail('name');
    const state = record['state'];
    if (typeof state !== 'string') return this.fail('state');
    const types = stringArray(record['types']);
    if (types === undefined) return this.fail('types');
    return { type, timeMs, name, state, types };
  }

  private logsDropped(timeMs: number, record: unknown): LogsDroppedEvent | undefined {
    const type = 'platform.logsDropped';
    if (!isObject(record)) return this.fail('record');
    const droppedBytes = record['droppedBytes'];
    if (!isNum(droppedBytes)) return this.fail('droppedBytes');
    const droppedRecords = record['droppedRecords'];
    if (!isNum(droppedRecords)) return this.fail('droppedRecords');
    const reason = record['reason'];
    if (typeof reason !== 'string') return this.fail('reason');
    return { type, timeMs, droppedBytes, droppedRecords, reason };
  }
}

function stringArray(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const item of v) if (typeof item !== 'string') return undefined;
  return v as string[];
}

function stringifyMessage(v: unknown): string {
  if (v === undefined) return '';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Longer strings are not tried as JSON records (one parse per line is the cost). */
const MAX_JSON_RECORD_CHARS = 1024 * 1024;

/**
 * A string holding one JSON-format log record (`{"timestamp", "level", "requestId", "message", …}`),
 * as an object; undefined for any other line. A JSON line without `message` stays text: it is the
 * function's own output (a text-format line), not a record Lambda's JSON format made.
 */
export function lambdaJsonRecord(text: string): Record<string, unknown> | undefined {
  if (text.length < 2 || text.length > MAX_JSON_RECORD_CHARS) return undefined;
  const first = text.charCodeAt(0) === 0x7b ? 0 : text.search(/\S/);
  if (first < 0 || text[first] !== '{' || !text.trimEnd().endsWith('}')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = parsed as Record<string, unknown>;
  return 'message' in o && ('level' in o || 'timestamp' in o) ? o : undefined;
}
