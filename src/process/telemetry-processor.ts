// Applies the configured processors to chunks on their way from the converters and the receiver
// to the export pipeline, in a fixed order: filter (drop what matches, judged on the data as it was
// produced), attributes (insert/update/upsert/delete/hash item attributes), resource (the same
// actions on resource attributes). A chunk of a signal no rule touches passes untouched, its bytes
// never decoded; otherwise it is decoded, rewritten and encoded again.
//
// A rule that fails at run time (a chunk that does not decode, an encoding error) never loses data
// silently: it is counted, and the chunk is passed on unprocessed, except when a delete or hash
// action applies to its signal, where passing it would let through what must not leave: it is then
// dropped and counted as such.

import { nodeBuiltin } from '../platform/node-builtin.js';
import type { Message } from 'protobufjs';
import type { ObservedCounter } from '../pipeline/self-telemetry.js';
import type { ChunkProducer, ChunkSink, Signal, TelemetryChunk } from '../model/chunk.js';
import type { WireAnyValue, WireKeyValue, WireLong } from '../receiver/otlp-messages.js';
import { EncodedRequestChunk } from '../receiver/received-chunks.js';
import type { OtlpSchema } from '../receiver/otlp-schema.js';
import { type ProcessorsConfig, SEVERITY_NUMBERS } from './processors-config.js';

type Action = 'insert' | 'update' | 'upsert' | 'delete' | 'hash';

interface AttributeRule {
  key?: string;
  pattern?: RegExp;
  action: Action;
  value?: string;
}

interface ItemCondition {
  name?: string;
  namePattern?: RegExp;
  attribute?: string;
  value?: string;
  severityBelow?: number;
  bodyPattern?: RegExp;
}

export interface ProcessorCounters {
  /** Items dropped by filter conditions, per signal. */
  filtered: Record<Signal, number>;
  /** Chunks decoded and rewritten. */
  processedChunks: number;
  /** Chunks a rule failed on, passed on unprocessed. */
  failedPassed: number;
  /** Chunks a rule failed on, dropped because a redaction applied (items). */
  failedDroppedItems: number;
}

/** The compiled rules; `active(signal)` says whether a chunk of that signal needs decoding. */
export class TelemetryProcessor {
  private readonly conditions: Record<Signal, ItemCondition[]>;
  private readonly itemActions: Record<Signal, AttributeRule[]>;
  private readonly resourceActions: AttributeRule[];
  private readonly redacting: Record<Signal, boolean>;
  private hashText: ((text: string) => string) | undefined;
  /** Chunks that came before the schema could decode them, with where they go. */
  private held: { chunk: TelemetryChunk; target: ChunkSink }[] | undefined;
  readonly counters: ProcessorCounters = {
    filtered: { traces: 0, metrics: 0, logs: 0 },
    processedChunks: 0,
    failedPassed: 0,
    failedDroppedItems: 0,
  };

  constructor(
    config: ProcessorsConfig,
    private readonly schema: () => OtlpSchema | undefined,
    private readonly onFailure: (message: string) => void = () => {},
  ) {
    const compile = (text: string | undefined) => (text === undefined ? undefined : new RegExp(text));
    const condition = (c: {
      name?: string | undefined;
      name_pattern?: string | undefined;
      attribute?: string | undefined;
      value?: string | undefined;
    }): ItemCondition => ({
      ...(c.name !== undefined && { name: c.name }),
      ...(c.name_pattern !== undefined && { namePattern: compile(c.name_pattern) }),
      ...(c.attribute !== undefined && { attribute: c.attribute }),
      ...(c.value !== undefined && { value: c.value }),
    });
    this.conditions = {
      traces: config.filter.spans.map(condition),
      metrics: config.filter.metrics.map(condition),
      logs: config.filter.log_records.map((c) => ({
        ...condition(c),
        ...(c.severity_below !== undefined && { severityBelow: SEVERITY_NUMBERS[c.severity_below] }),
        ...(c.body_pattern !== undefined && { bodyPattern: compile(c.body_pattern) }),
      })),
    };
    const rule = (a: ProcessorsConfig['resource'][number]): AttributeRule => ({
      action: a.action,
      ...(a.key !== undefined && { key: a.key }),
      ...(a.pattern !== undefined && { pattern: compile(a.pattern) }),
      ...(a.value !== undefined && { value: a.value }),
    });
    const forSignal = (signal: Signal) =>
      config.attributes.filter((a) => a.signals.includes(signal)).map(rule);
    this.itemActions = {
      traces: forSignal('traces'),
      metrics: forSignal('metrics'),
      logs: forSignal('logs'),
    };
    this.resourceActions = config.resource.map(rule);
    const redacts = (rules: AttributeRule[]) =>
      rules.some((r) => r.action === 'delete' || r.action === 'hash');
    const resourceRedacts = redacts(this.resourceActions);
    this.redacting = {
      traces: resourceRedacts || redacts(this.itemActions.traces),
      metrics: resourceRedacts || redacts(this.itemActions.metrics),
      logs: resourceRedacts || redacts(this.itemActions.logs),
    };
  }

  /** Whether any rule applies to this signal (only then is a chunk decoded). */
  active(signal: Signal): boolean {
    return (
      this.conditions[signal].length > 0 ||
      this.itemActions[signal].length > 0 ||
      this.resourceActions.length > 0
    );
  }

  /** Whether any rule is configured at all. */
  get enabled(): boolean {
    return this.active('traces') || this.active('metrics') || this.active('logs');
  }

  /** The chunk after the rules; undefined when nothing of it is left. */
  process(chunk: TelemetryChunk): TelemetryChunk | undefined {
    if (!this.active(chunk.signal)) return chunk;
    try {
      const schema = this.schema();
      if (!schema) throw new Error('OTLP schema not loaded');
      const type = schema.request[chunk.signal];
      const message = type.decode(chunk.protobuf);
      const items = this.apply(chunk.signal, message);
      this.counters.processedChunks++;
      if (items === 0) return undefined;
      return new EncodedRequestChunk(
        chunk.signal,
        items,
        chunk.createdAtMs,
        type.encode(message).finish(),
        type,
      );
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (this.redacting[chunk.signal]) {
        this.counters.failedDroppedItems += chunk.items;
        this.onFailure(
          `processors: ${chunk.signal}: ${why}; ${chunk.items} items dropped (a redaction applies)`,
        );
        return undefined;
      }
      this.counters.failedPassed++;
      this.onFailure(`processors: ${chunk.signal}: ${why}; chunk passed on unprocessed`);
      return chunk;
    }
  }

  /**
   * The schema loads off the init path: chunks that need it before then are held, and processed
   * once it is there (or, if it cannot load, go through the failure path: counted, never silent).
   */
  loadSchema(load: Promise<unknown>): void {
    this.held = [];
    const release = () => {
      const held = this.held ?? [];
      this.held = undefined;
      for (const { chunk, target } of held) {
        const out = this.process(chunk);
        if (out) target.enqueue(out);
      }
    };
    load.then(release, (err: unknown) => {
      this.onFailure(
        `processors: OTLP schema did not load: ${err instanceof Error ? err.message : String(err)}`,
      );
      release();
    });
  }

  /** A sink that processes what it is given before handing it on. */
  sink(target: ChunkSink): ChunkSink {
    return {
      enqueue: (chunk) => {
        if (this.held && this.active(chunk.signal)) {
          this.held.push({ chunk, target });
          return;
        }
        const out = this.process(chunk);
        if (out) target.enqueue(out);
      },
    };
  }

  /** A producer whose chunks are processed as they are collected. */
  producer(source: ChunkProducer): ChunkProducer {
    let waiting: TelemetryChunk[] = [];
    return {
      collect: (nowMs, final) => {
        const collected = [...waiting, ...source.collect(nowMs, final)];
        waiting = [];
        const out: TelemetryChunk[] = [];
        for (const chunk of collected) {
          // Before the schema is there, a chunk waits for the next collect; the last one processes
          // anyway (a failure is counted).
          if (this.held && !final && this.active(chunk.signal)) {
            waiting.push(chunk);
            continue;
          }
          const processed = this.process(chunk);
          if (processed) out.push(processed);
        }
        return out;
      },
    };
  }

  /** Self-telemetry counters; zero series are left out. */
  observedCounters(): ObservedCounter[] {
    const out: ObservedCounter[] = [];
    const name = 'otel_lambda_extension.processors.items';
    const description = 'Items the processors dropped, by signal and reason';
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      const n = this.counters.filtered[signal];
      if (n > 0)
        out.push({ name, description, unit: '{item}', attributes: { signal, reason: 'filtered' }, value: n });
    }
    if (this.counters.failedDroppedItems > 0) {
      out.push({
        name,
        description,
        unit: '{item}',
        attributes: { reason: 'processor_error' },
        value: this.counters.failedDroppedItems,
      });
    }
    if (this.counters.failedPassed > 0) {
      out.push({
        name: 'otel_lambda_extension.processors.failed_chunks',
        description: 'Chunks a processor failed on and passed on unprocessed',
        unit: '{chunk}',
        attributes: {},
        value: this.counters.failedPassed,
      });
    }
    return out;
  }

  /** Applies the rules to a decoded request in place; returns the items left. */
  private apply(signal: Signal, message: Message): number {
    const conditions = this.conditions[signal];
    const actions = this.itemActions[signal];
    let left = 0;
    const resources = (message as unknown as Record<string, ResourceLike[]>)[RESOURCE_KEY[signal]] ?? [];
    const keptResources: ResourceLike[] = [];
    for (const resource of resources) {
      let resourceItems = 0;
      const scopes =
        (resource as unknown as Record<string, Record<string, unknown>[]>)[SCOPE_KEY[signal]] ?? [];
      const keptScopes: Record<string, unknown>[] = [];
      for (const scope of scopes) {
        let scopeItems = 0;
        if (signal === 'metrics') {
          const metrics = (scope['metrics'] as MetricLike[] | undefined) ?? [];
          const keptMetrics: MetricLike[] = [];
          for (const metric of metrics) {
            const data = metricData(metric);
            if (!data) {
              keptMetrics.push(metric);
              continue;
            }
            const kept = data.dataPoints.filter((point) => {
              if (conditions.some((c) => this.matches(c, metric.name, point.attributes ?? [], undefined))) {
                this.counters.filtered.metrics++;
                return false;
              }
              return true;
            });
            for (const point of kept) point.attributes = this.act(actions, point.attributes ?? []);
            data.dataPoints = kept;
            if (kept.length > 0) keptMetrics.push(metric);
            scopeItems += kept.length;
          }
          scope['metrics'] = keptMetrics;
        } else {
          const key = signal === 'traces' ? 'spans' : 'logRecords';
          const items = (scope[key] as ItemLike[] | undefined) ?? [];
          const kept = items.filter((item) => {
            if (conditions.some((c) => this.matches(c, item.name, item.attributes ?? [], item))) {
              this.counters.filtered[signal]++;
              return false;
            }
            return true;
          });
          for (const item of kept) item.attributes = this.act(actions, item.attributes ?? []);
          scope[key] = kept;
          scopeItems = kept.length;
        }
        if (scopeItems > 0) keptScopes.push(scope);
        resourceItems += scopeItems;
      }
      (resource as unknown as Record<string, unknown>)[SCOPE_KEY[signal]] = keptScopes;
      if (resourceItems > 0) {
        if (this.resourceActions.length > 0) {
          resource.resource ??= { attributes: [] };
          resource.resource.attributes = this.act(this.resourceActions, resource.resource.attributes ?? []);
        }
        keptResources.push(resource);
      }
      left += resourceItems;
    }
    (message as unknown as Record<string, ResourceLike[]>)[RESOURCE_KEY[signal]] = keptResources;
    return left;
  }

  private matches(
    c: ItemCondition,
    name: string | undefined,
    attributes: readonly WireKeyValue[],
    log: ItemLike | undefined,
  ): boolean {
    if (c.name !== undefined && name !== c.name) return false;
    if (c.namePattern !== undefined && !c.namePattern.test(name ?? '')) return false;
    if (c.attribute !== undefined) {
      const kv = attributes.find((a) => a.key === c.attribute);
      if (!kv) return false;
      if (c.value !== undefined && valueText(kv.value) !== c.value) return false;
    }
    if (c.severityBelow !== undefined) {
      const severity = log?.severityNumber ?? 0;
      if (severity === 0 || severity >= c.severityBelow) return false;
    }
    if (c.bodyPattern !== undefined && !c.bodyPattern.test(valueText(log?.body))) return false;
    return true;
  }

  private act(rules: readonly AttributeRule[], attributes: WireKeyValue[]): WireKeyValue[] {
    let out = attributes;
    for (const rule of rules) {
      if (rule.pattern !== undefined) {
        const pattern = rule.pattern;
        out =
          rule.action === 'delete'
            ? out.filter((kv) => !pattern.test(kv.key))
            : out.map((kv) => (pattern.test(kv.key) ? this.hashed(kv) : kv));
        continue;
      }
      const index = out.findIndex((kv) => kv.key === rule.key);
      const key = rule.key as string;
      switch (rule.action) {
        case 'insert':
          if (index < 0) out = [...out, { key, value: { stringValue: rule.value as string } }];
          break;
        case 'update':
          if (index >= 0) out = replaceAt(out, index, { key, value: { stringValue: rule.value as string } });
          break;
        case 'upsert':
          out =
            index >= 0
              ? replaceAt(out, index, { key, value: { stringValue: rule.value as string } })
              : [...out, { key, value: { stringValue: rule.value as string } }];
          break;
        case 'delete':
          if (index >= 0) out = out.filter((_, i) => i !== index);
          break;
        case 'hash':
          if (index >= 0) out = replaceAt(out, index, this.hashed(out[index] as WireKeyValue));
          break;
      }
    }
    return out;
  }

  private hashed(kv: WireKeyValue): WireKeyValue {
    if (!this.hashText) {
      // node:crypto is loaded by the first hash, not at start-up.
      const { createHash } = nodeBuiltin('node:crypto');
      this.hashText = (text) => createHash('sha256').update(text, 'utf8').digest('hex');
    }
    return { key: kv.key, value: { stringValue: this.hashText(valueText(kv.value)) } };
  }
}

function replaceAt<T>(list: readonly T[], index: number, item: T): T[] {
  const out = [...list];
  out[index] = item;
  return out;
}

interface ResourceLike {
  resource?: { attributes: WireKeyValue[] } | null;
}

interface ItemLike {
  name?: string;
  attributes?: WireKeyValue[];
  severityNumber?: number;
  body?: WireAnyValue | null;
}

interface PointLike {
  attributes?: WireKeyValue[];
}

interface MetricLike {
  name: string;
  gauge?: { dataPoints: PointLike[] } | null;
  sum?: { dataPoints: PointLike[] } | null;
  histogram?: { dataPoints: PointLike[] } | null;
  exponentialHistogram?: { dataPoints: PointLike[] } | null;
  summary?: { dataPoints: PointLike[] } | null;
}

function metricData(metric: MetricLike): { dataPoints: PointLike[] } | undefined {
  return (
    metric.gauge ??
    metric.sum ??
    metric.histogram ??
    metric.exponentialHistogram ??
    metric.summary ??
    undefined
  );
}

const RESOURCE_KEY: Record<Signal, string> = {
  traces: 'resourceSpans',
  metrics: 'resourceMetrics',
  logs: 'resourceLogs',
};

const SCOPE_KEY: Record<Signal, string> = {
  traces: 'scopeSpans',
  metrics: 'scopeMetrics',
  logs: 'scopeLogs',
};

/** An attribute value as text, for matching and hashing. */
export function valueText(value: WireAnyValue | null | undefined): string {
  if (!value) return '';
  switch (value.value) {
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return String(value.boolValue);
    case 'intValue':
      return typeof value.intValue === 'number'
        ? String(value.intValue)
        : (value.intValue as WireLong).toString();
    case 'doubleValue':
      return String(value.doubleValue);
    case 'bytesValue':
      return Buffer.from(value.bytesValue ?? []).toString('base64');
    case 'arrayValue':
      return JSON.stringify((value.arrayValue?.values ?? []).map(valueText));
    case 'kvlistValue':
      return JSON.stringify(
        Object.fromEntries((value.kvlistValue?.values ?? []).map((kv) => [kv.key, valueText(kv.value)])),
      );
    default:
      // A plain object (set by a rule earlier in the same pass) has no oneof marker.
      return typeof value.stringValue === 'string' ? value.stringValue : '';
  }
}
