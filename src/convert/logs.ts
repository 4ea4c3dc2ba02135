// Function and extension log lines (Telemetry API `function` / `extension` records) as OTLP log
// records, correlated with the invocation's trace.
//
// - Text lines: the runtime's own prefixes are recognised and lifted into fields: Node's
//   `<ISO time>\t<requestId>\t<LEVEL>\t<message>`, Python's `[LEVEL]\t<ISO time>\t<requestId>\t<message>`,
//   or a bare level token (`[WARN] ...`, `ERROR: ...`) at the start. JSON lines (JSON log format)
//   carry level, requestId and timestamp already; their other fields become attributes.
// - Lines without a request id belong to the invocation in progress when exactly one is (not on
//   Managed Instances, where invocations overlap).
// - Trace and span ids are resolved when records are handed over, not when they arrive: by then the
//   function's own spans have usually come in, and the invocation may have adopted their trace.
// - The extension's own lines (LOG_PREFIX) are skipped: exporting them would echo our own chatter.
// - A record's body is capped (default 256 KiB) and attribute strings too; cut records say so in
//   `otel.lambda.log.truncated` and `otel.lambda.log.original_length`. Batches hold at most 1,000
//   records and 5 MiB.
// - Platform summaries (START / END / REPORT lines, as CloudWatch shows them) are optional.

import type { AnyValue, Attributes, HrTime, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { isOwnLogRecord } from '../extension-log.js';
import type {
  LogLineEvent,
  ReportEvent,
  RuntimeDoneEvent,
  StartEvent,
  TelemetryEvent,
} from '../lambda/telemetry-events.js';
import type { ChunkProducer, ChunkSink, TelemetryChunk } from '../model/chunk.js';
import type { MemoryBudget } from '../pipeline/memory-budget.js';
import { encodeLogs } from './chunks.js';
import { addDurableExecution, executionArnOfLine } from './durable.js';
import { HeldMemory } from './held-memory.js';
import { cutUtf8, flattenFields, utf8Length } from './log-attributes.js';
import { parseTextLine, severityNumberOf } from './log-lines.js';
import { msToHrTime } from './time.js';
import { EXTENSION_NAME, EXTENSION_VERSION } from './version.js';

export { ownLevelOf, parseTextLine, severityNumberOf } from './log-lines.js';

/** The part of the invocation directory log correlation needs. */
export interface LogTraceDirectory {
  lookupByRequestId(
    requestId: string,
  ): { traceId: string; spanId: string; sampled?: boolean; durableExecutionArn?: string } | undefined;
  /** The durable SDK's log lines name the execution an invocation runs. */
  noteDurableExecution?(requestId: string, arn: string): void;
}

export interface LogConverterOptions {
  /** A Resource, or where to get the current one: the platform resource learns attributes late. */
  resource: Resource | { get(): Resource };
  directory?: LogTraceDirectory;
  /** Body bytes (UTF-8) per record before it is cut; default 256 KiB. */
  maxRecordBytes?: number;
  /** Bytes per string attribute value before it is cut; default 8 KiB. */
  maxAttributeValueBytes?: number;
  /** Attributes per record; the rest are counted as dropped. Default 64. */
  maxAttributes?: number;
  /** Records per chunk; default 1,000. */
  maxBatchRecords?: number;
  /** Estimated encoded bytes per chunk; default 5 MiB. */
  maxBatchBytes?: number;
  /** Emit START / END / REPORT summaries of platform records; default false. */
  platformLines?: boolean;
  /**
   * The extension's memory budget: records waiting for a batch count against it at their estimated
   * size; a record it refuses is dropped and counted (droppedOverBudget).
   */
  budget?: MemoryBudget;
}

export interface LogConverterStats {
  records: number;
  ownLinesSkipped: number;
  truncated: number;
  platformLines: number;
  correlated: number;
  chunks: number;
  encodeErrors: number;
  /** Records dropped because the memory budget refused to hold them (reason memory_budget). */
  droppedOverBudget: number;
}

export const TRUNCATED_ATTRIBUTE = 'otel.lambda.log.truncated';
export const ORIGINAL_LENGTH_ATTRIBUTE = 'otel.lambda.log.original_length';
/** Where the line came from: function, extension or platform. */
export const LOG_TYPE_ATTRIBUTE = 'aws.lambda.log.type';
export const INVOCATION_ID_ATTRIBUTE = 'faas.invocation_id';

const DEFAULTS = {
  maxRecordBytes: 256 * 1024,
  maxAttributeValueBytes: 8 * 1024,
  maxAttributes: 64,
  maxBatchRecords: 1000,
  maxBatchBytes: 5 * 1024 * 1024,
};

/** Fixed cost of a record besides body and attributes (times, severity, ids, framing), rounded up. */
const RECORD_OVERHEAD_BYTES = 96;
/** Invocations tracked as running at once (Managed Instances run several). */
const MAX_RUNNING = 64;
const ATTRIBUTE_OVERHEAD_BYTES = 12;

interface PendingRecord {
  record: MutableLogRecord;
  requestId: string | undefined;
  bytes: number;
}

interface MutableLogRecord extends ReadableLogRecord {
  spanContext?: SpanContext;
}

export class LogConverter implements ChunkProducer {
  private readonly resource: { get(): Resource };
  private readonly directory: LogTraceDirectory | undefined;
  private readonly limits: typeof DEFAULTS;
  private readonly platformLines: boolean;
  private readonly scope: InstrumentationScope = { name: EXTENSION_NAME, version: EXTENSION_VERSION };
  private pending: PendingRecord[] = [];
  private pendingBytes = 0;
  /** Invocations between platform.start and platform.runtimeDone/report. */
  private readonly running = new Set<string>();
  private readonly counters: LogConverterStats = {
    records: 0,
    ownLinesSkipped: 0,
    truncated: 0,
    platformLines: 0,
    correlated: 0,
    chunks: 0,
    encodeErrors: 0,
    droppedOverBudget: 0,
  };
  private readonly memory: HeldMemory;

  constructor(
    options: LogConverterOptions,
    private readonly sink: ChunkSink,
  ) {
    const resource = options.resource;
    this.resource =
      'get' in resource && typeof resource.get === 'function'
        ? resource
        : { get: () => resource as Resource };
    this.directory = options.directory;
    this.platformLines = options.platformLines ?? false;
    this.memory = new HeldMemory(options.budget);
    this.limits = {
      maxRecordBytes: options.maxRecordBytes ?? DEFAULTS.maxRecordBytes,
      maxAttributeValueBytes: options.maxAttributeValueBytes ?? DEFAULTS.maxAttributeValueBytes,
      maxAttributes: options.maxAttributes ?? DEFAULTS.maxAttributes,
      maxBatchRecords: options.maxBatchRecords ?? DEFAULTS.maxBatchRecords,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULTS.maxBatchBytes,
    };
  }

  stats(): LogConverterStats {
    return { ...this.counters };
  }

  /** Estimated bytes of the records waiting, held against the memory budget. */
  get heldBytes(): number {
    return this.memory.bytes;
  }

  /** Records waiting for collect(). */
  get pendingRecords(): number {
    return this.pending.length;
  }

  /**
   * Takes a batch of telemetry events in arrival order; log lines (and, if enabled, platform
   * summaries) become records. Other events only track which invocation is running. A full batch
   * goes to the sink at once so memory stays bounded.
   */
  ingest(events: readonly TelemetryEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'function':
        case 'extension':
          this.line(event);
          break;
        case 'platform.start':
          this.running.add(event.requestId);
          // An invocation whose end never came must not block inference forever.
          if (this.running.size > MAX_RUNNING)
            this.running.delete(this.running.values().next().value as string);
          if (this.platformLines) this.platformLine(event);
          break;
        case 'platform.runtimeDone':
          this.running.delete(event.requestId);
          if (this.platformLines) this.platformLine(event);
          break;
        case 'platform.report':
          this.running.delete(event.requestId);
          if (this.platformLines) this.platformLine(event);
          break;
        default:
          break;
      }
    }
  }

  /** Everything pending, as chunks. */
  collect(_nowMs: number, _final: boolean): TelemetryChunk[] {
    const chunks: TelemetryChunk[] = [];
    while (this.pending.length > 0) {
      const chunk = this.takeBatch();
      if (chunk) chunks.push(chunk);
    }
    return chunks;
  }

  private line(event: LogLineEvent): void {
    if (isOwnLogRecord(event)) {
      this.counters.ownLinesSkipped++;
      return;
    }
    let body: string;
    let level = event.level;
    let requestId = event.requestId;
    let timeMs = event.recordTimeMs;
    if (event.structured) {
      body = event.message;
    } else {
      const parsed = parseTextLine(event.message);
      body = parsed.body;
      level ??= parsed.level;
      requestId ??= parsed.requestId;
      timeMs ??= parsed.timeMs;
    }
    // A line without its own request id belongs to the one invocation running, if there is one.
    if (requestId === undefined && event.type === 'function' && this.running.size === 1) {
      requestId = this.running.values().next().value;
    }
    if (requestId !== undefined && event.type === 'function' && this.directory?.noteDurableExecution) {
      const arn = executionArnOfLine(body, event.fields);
      if (arn !== undefined) this.directory.noteDurableExecution(requestId, arn);
    }
    this.add(event.type, body, level, requestId, timeMs ?? event.timeMs, event.timeMs, event.fields);
  }

  private platformLine(event: StartEvent | RuntimeDoneEvent | ReportEvent): void {
    let body: string;
    let level = 'INFO';
    if (event.type === 'platform.start') {
      body = `START RequestId: ${event.requestId}${event.version ? ` Version: ${event.version}` : ''}`;
    } else if (event.type === 'platform.runtimeDone') {
      body = `END RequestId: ${event.requestId}`;
    } else {
      const parts = [`REPORT RequestId: ${event.requestId}`, `Duration: ${event.durationMs.toFixed(2)} ms`];
      if (event.billedDurationMs !== undefined) parts.push(`Billed Duration: ${event.billedDurationMs} ms`);
      if (event.memorySizeMB !== undefined) parts.push(`Memory Size: ${event.memorySizeMB} MB`);
      if (event.maxMemoryUsedMB !== undefined) parts.push(`Max Memory Used: ${event.maxMemoryUsedMB} MB`);
      if (event.initDurationMs !== undefined)
        parts.push(`Init Duration: ${event.initDurationMs.toFixed(2)} ms`);
      if (event.restoreDurationMs !== undefined)
        parts.push(`Restore Duration: ${event.restoreDurationMs.toFixed(2)} ms`);
      body = parts.join('\t');
    }
    if (event.type !== 'platform.start' && event.status !== 'success') {
      body += `\tStatus: ${event.status}${event.errorType ? `\tError Type: ${event.errorType}` : ''}`;
      level = 'ERROR';
    }
    this.counters.platformLines++;
    this.add('platform', body, level, event.requestId, event.timeMs, event.timeMs, undefined);
  }

  private add(
    source: 'function' | 'extension' | 'platform',
    rawBody: string,
    level: string | undefined,
    requestId: string | undefined,
    timeMs: number,
    observedMs: number,
    fields: Record<string, unknown> | undefined,
  ): void {
    const attributes: Attributes = { [LOG_TYPE_ATTRIBUTE]: source };
    let count = 1;
    let dropped = 0;
    let bytes = RECORD_OVERHEAD_BYTES + LOG_TYPE_ATTRIBUTE.length + source.length + ATTRIBUTE_OVERHEAD_BYTES;
    let truncated = false;
    const put = (key: string, value: AnyValue): void => {
      if (count >= this.limits.maxAttributes) {
        dropped++;
        return;
      }
      let v = value;
      if (typeof v === 'string') {
        const cut = cutUtf8(v, this.limits.maxAttributeValueBytes);
        if (cut !== v) truncated = true;
        v = cut;
        bytes += utf8Length(cut);
      } else {
        bytes += 16;
      }
      attributes[key] = v as Attributes[string];
      bytes += key.length + ATTRIBUTE_OVERHEAD_BYTES;
      count++;
    };
    if (requestId !== undefined) put(INVOCATION_ID_ATTRIBUTE, requestId);
    if (fields) flattenFields(fields, put);

    let body = rawBody;
    const bodyBytes = utf8Length(body);
    if (bodyBytes > this.limits.maxRecordBytes) {
      body = cutUtf8(body, this.limits.maxRecordBytes);
      attributes[ORIGINAL_LENGTH_ATTRIBUTE] = bodyBytes;
      truncated = true;
    }
    if (truncated) {
      attributes[TRUNCATED_ATTRIBUTE] = true;
      this.counters.truncated++;
      bytes +=
        TRUNCATED_ATTRIBUTE.length + ORIGINAL_LENGTH_ATTRIBUTE.length + 2 * ATTRIBUTE_OVERHEAD_BYTES + 16;
    }
    bytes += Math.min(bodyBytes, this.limits.maxRecordBytes);

    const record: MutableLogRecord = {
      hrTime: msToHrTime(timeMs) as HrTime,
      hrTimeObserved: msToHrTime(observedMs) as HrTime,
      severityText: level,
      severityNumber: severityNumberOf(level),
      body,
      resource: this.resource.get(),
      instrumentationScope: this.scope,
      attributes,
      droppedAttributesCount: dropped,
    };
    if (
      this.pending.length >= this.limits.maxBatchRecords ||
      (this.pending.length > 0 && this.pendingBytes + bytes > this.limits.maxBatchBytes)
    ) {
      this.spill();
    }
    if (!this.memory.hold(bytes)) {
      this.counters.droppedOverBudget++;
      return;
    }
    this.counters.records++;
    this.pending.push({ record, requestId, bytes });
    this.pendingBytes += bytes;
  }

  /** Hands one batch to the sink now (the pending list is full). */
  private spill(): void {
    const chunk = this.takeBatch();
    if (chunk) this.sink.enqueue(chunk);
  }

  /** Encodes the oldest pending records up to the batch limits. */
  private takeBatch(): TelemetryChunk | undefined {
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < this.limits.maxBatchRecords) {
      const next = (this.pending[n] as PendingRecord).bytes;
      if (n > 0 && bytes + next > this.limits.maxBatchBytes) break;
      bytes += next;
      n++;
    }
    const batch = this.pending.splice(0, n);
    this.pendingBytes -= bytes;
    // Encoded (or dropped), the batch is no longer ours to hold: a queue counts the chunk.
    this.memory.free(bytes);
    if (this.pending.length === 0) this.pendingBytes = 0;
    const records: ReadableLogRecord[] = [];
    let oldest = Number.POSITIVE_INFINITY;
    for (const { record, requestId } of batch) {
      if (requestId !== undefined && this.directory) {
        const invocation = this.directory.lookupByRequestId(requestId);
        if (invocation) {
          record.spanContext = {
            traceId: invocation.traceId,
            spanId: invocation.spanId,
            traceFlags: invocation.sampled === false ? 0 : 1,
          };
          if (invocation.durableExecutionArn !== undefined && record.attributes !== undefined) {
            addDurableExecution(record.attributes, invocation.durableExecutionArn);
          }
          this.counters.correlated++;
        }
      }
      const observedMs = record.hrTimeObserved[0] * 1000 + record.hrTimeObserved[1] / 1e6;
      if (observedMs < oldest) oldest = observedMs;
      records.push(record);
    }
    if (records.length === 0) return undefined;
    let chunk: TelemetryChunk | undefined;
    try {
      chunk = encodeLogs(records, oldest);
    } catch {
      chunk = undefined;
    }
    if (chunk === undefined) {
      this.counters.encodeErrors++;
      return undefined;
    }
    this.counters.chunks++;
    return chunk;
  }
}
