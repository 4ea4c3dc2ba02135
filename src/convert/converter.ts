// Platform telemetry → OTLP spans and metrics (OpenTelemetry FaaS semantic conventions).
//
// PlatformConverter coordinates the parts, each with one job:
// - InvocationTracker (invocation-tracker.ts): one Invocation per attempt of a requestId, from
//   whichever of its records come, released when it ended and its hold passed;
// - PhaseTracker (phase-tracker.ts): the environment's init or SnapStart restore phase;
// - SpanAssembler (span-assembly.ts): the OTLP spans of an invocation or phase;
// - SpanOutbox (outbox.ts): finished spans waiting for a collect, encoded into trace chunks;
// - InvocationCounting (metric-counting.ts) over PlatformMetrics (metrics.ts): the metrics.
// Invocation spans are held after they end so the function's own trace can still be adopted (see
// InvocationDirectory), and handed out by collect(), which also emits the aggregated metrics.
// Every per-request structure is bounded by count and age; what is evicted is exported with what is
// known, marked incomplete.

import type { InstrumentationScope } from '@opentelemetry/core';
import type {
  InvokeEvent,
  LogsDroppedEvent,
  RegisterResponse,
  RestoreStartEvent,
  ShutdownEvent,
  TelemetryEvent,
} from '../lambda/telemetry-events.js';
import type { ChunkProducer, ChunkSink, TelemetryChunk } from '../model/chunk.js';
import type { MemoryBudget } from '../pipeline/memory-budget.js';
import { encodeMetrics } from './chunks.js';
import { type ConverterStats, newConverterStats } from './converter-stats.js';
import { HeldMemory } from './held-memory.js';
import { type IdGenerator, RandomIdGenerator } from './ids.js';
import { InvocationTracker } from './invocation-tracker.js';
import { type InvocationDirectory, InvocationTable } from './invocations.js';
import { InvocationCounting } from './metric-counting.js';
import { PlatformMetrics, type Temporality } from './metrics.js';
import { SpanOutbox } from './outbox.js';
import { PhaseTracker } from './phase-tracker.js';
import { isId, isTime, nonNegative, str } from './record-checks.js';
import { type Environment, PlatformResource } from './resource.js';
import { ALWAYS_ON, type PlatformSampler } from './sampler.js';
import { SpanAssembler } from './span-assembly.js';
import { EXTENSION_NAME, EXTENSION_VERSION } from './version.js';

export type { ConverterStats } from './converter-stats.js';

export interface PlatformConverterOptions {
  /** Where the function's identity comes from (AWS_REGION, AWS_LAMBDA_FUNCTION_*, OTEL_*). */
  env?: Environment;
  /** Metric temporality; default cumulative (the Datadog preset forces delta). */
  temporality?: Temporality;
  /**
   * How long an ended invocation span waits for the function's trace to be adopted before it is
   * exported anyway, ms. Default 0: released at the first collect after it ended. Function SDKs
   * flush before the response, so adoption normally happens before runtimeDone; a positive hold
   * catches later arrivals but makes the end-of-invocation flush (which runs right after
   * runtimeDone) miss the span, delaying it to the next flush, possibly after a long freeze.
   */
  maxHeldMs?: number;
  /** Bound on invocations tracked at once (and, separately, on exported ones kept for late records). Default 1000. */
  maxInvocations?: number;
  /** An invocation without an end is exported as incomplete after this long, ms. Default 16 min. */
  maxInvocationAgeMs?: number;
  /**
   * Which platform spans are exported (metrics count every invocation anyway). Default always_on.
   * An invocation whose function spans arrive is exported whatever the sampler said.
   */
  sampler?: PlatformSampler;
  /** Export every platform span whatever the sampler says (the older switch; same as always_on). */
  exportUnsampled?: boolean;
  /**
   * How long an invocation the sampler dropped stays held for the function's spans, which would
   * make it exported after all, ms. Default 5000 (the SDK batch processor's delay).
   */
  unsampledHoldMs?: number;
  /** Spans per trace chunk. Default 512. */
  maxSpansPerChunk?: number;
  now?: () => number;
  idGenerator?: IdGenerator;
  /**
   * The extension's memory budget: held invocations and outbox spans count against it, and what it
   * refuses to hold is dropped and counted (spansOverBudget, invocationsOverBudget).
   */
  budget?: MemoryBudget;
}

const DEFAULT_MAX_HELD_MS = 0;
const DEFAULT_UNSAMPLED_HOLD_MS = 5000;
const DEFAULT_MAX_INVOCATIONS = 1000;
const DEFAULT_MAX_AGE_MS = 16 * 60_000;
const DEFAULT_MAX_SPANS_PER_CHUNK = 512;

export class PlatformConverter implements ChunkProducer {
  private readonly counters: ConverterStats = newConverterStats();
  /** The function's resource; the log converter should put the same one on its records. */
  readonly resource: PlatformResource;
  readonly scope: InstrumentationScope = { name: EXTENSION_NAME, version: EXTENSION_VERSION };

  private readonly table: InvocationTable;
  private readonly metrics: PlatformMetrics;
  private readonly counting: InvocationCounting;
  private readonly outbox: SpanOutbox;
  private readonly memory: HeldMemory;
  private readonly metricMemory: HeldMemory;
  private readonly invocations: InvocationTracker;
  private readonly phases: PhaseTracker;
  private readonly ids: IdGenerator;
  private readonly now: () => number;
  private readonly sampler: PlatformSampler;
  private telemetryAvailable = true;
  private lastError: string | undefined;

  constructor(
    options: PlatformConverterOptions = {},
    private readonly sink?: ChunkSink,
  ) {
    const env = options.env ?? {};
    this.now = options.now ?? Date.now;
    this.ids = options.idGenerator ?? new RandomIdGenerator();
    const maxHeldMs = nonNegative(options.maxHeldMs, DEFAULT_MAX_HELD_MS);
    const maxAgeMs = nonNegative(options.maxInvocationAgeMs, DEFAULT_MAX_AGE_MS);
    this.sampler = options.exportUnsampled ? ALWAYS_ON : (options.sampler ?? ALWAYS_ON);
    const maxSpansPerChunk = Math.max(
      1,
      Math.floor(nonNegative(options.maxSpansPerChunk, DEFAULT_MAX_SPANS_PER_CHUNK)),
    );
    this.table = new InvocationTable(
      Math.max(1, Math.floor(nonNegative(options.maxInvocations, DEFAULT_MAX_INVOCATIONS))),
    );
    this.resource = new PlatformResource(env, this.ids);
    this.metricMemory = new HeldMemory(options.budget);
    this.metrics = new PlatformMetrics(options.temporality ?? 'cumulative', this.now(), this.metricMemory);
    this.counting = new InvocationCounting(this.metrics);
    const fail = (err: unknown): void => this.fail(err);
    this.memory = new HeldMemory(options.budget);
    this.outbox = new SpanOutbox(
      maxSpansPerChunk,
      sink === undefined,
      this.resource,
      this.counters,
      fail,
      this.memory,
    );
    const spans = new SpanAssembler(this.ids, this.scope, this.counting);
    const shared = {
      counters: this.counters,
      ids: this.ids,
      sampler: this.sampler,
      resource: this.resource,
      counting: this.counting,
      spans,
      outbox: this.outbox,
      maxHeldMs,
      maxAgeMs,
    };
    this.phases = new PhaseTracker({
      ...shared,
      defaultInitType: env.AWS_LAMBDA_INITIALIZATION_TYPE || 'on-demand',
      onRestore: (e) => this.startRestoredEnvironment(e),
    });
    this.invocations = new InvocationTracker({
      ...shared,
      table: this.table,
      phases: this.phases,
      memory: this.memory,
      unsampledHoldMs: nonNegative(options.unsampledHoldMs, DEFAULT_UNSAMPLED_HOLD_MS),
    });
  }

  /** Counters for self-telemetry. */
  get stats(): Readonly<ConverterStats> {
    this.counters.adoptions = this.table.adoptions;
    this.counters.invocationsKeptForFunction = this.table.keptForFunction;
    this.counters.heldBytes = this.memory.bytes;
    this.counters.heldMetricBytes = this.metricMemory.bytes;
    this.counters.metricSeriesOverBudget = this.metrics.seriesOverBudget;
    return this.counters;
  }

  /** Correlation for the function's own telemetry (local receiver, log converter). */
  get directory(): Required<InvocationDirectory> {
    return this.table;
  }

  /** The sampler in use, for the log. */
  get samplerDescription(): string {
    return this.sampler.description;
  }

  /** Invocations currently held (not yet exported). */
  get heldInvocations(): number {
    return this.table.active.size;
  }

  /** A description of the last unexpected failure, for self-telemetry. */
  get lastFailure(): string | undefined {
    return this.lastError;
  }

  onRegistered(reg: RegisterResponse): void {
    try {
      this.resource.setRegistration(reg);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * No Telemetry API here (a local emulator): nothing would ever end an invocation, so INVOKE builds
   * none; the function's spans then find no invocation to join and are forwarded as they are.
   */
  withoutTelemetry(): void {
    this.telemetryAvailable = false;
  }

  onInvoke(e: InvokeEvent): void {
    if (!this.telemetryAvailable) return;
    try {
      this.invocations.onInvoke(e, this.now());
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * SHUTDOWN: with reason timeout or failure, invocations still open ended that way (their end
   * records may never come). Follow with collect(now, true).
   */
  onShutdown(e: ShutdownEvent): void {
    try {
      this.invocations.onShutdown(e);
    } catch (err) {
      this.fail(err);
    }
  }

  ingest(events: readonly TelemetryEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as TelemetryEvent;
      this.counters.events++;
      try {
        this.dispatch(e);
      } catch (err) {
        this.fail(err);
      }
    }
    if (this.sink !== undefined && this.outbox.size >= this.outbox.maxSpansPerChunk) {
      for (const chunk of this.outbox.drain()) this.sink.enqueue(chunk);
    }
  }

  /**
   * Counts an out-of-memory end for the invocation (once per invocation), for OOMs only visible in
   * log lines (see isOutOfMemoryLine). Without a requestId the latest invocation is assumed.
   */
  noteOutOfMemory(requestId?: string): void {
    try {
      const inv = isId(requestId) ? this.table.get(requestId) : this.invocations.lastInvocation;
      if (inv === undefined) {
        this.metrics.recordOutOfMemory(this.now());
        return;
      }
      this.counting.countOutOfMemory(inv, this.now());
    } catch (err) {
      this.fail(err);
    }
  }

  collect(nowMs: number, final: boolean): TelemetryChunk[] {
    const chunks: TelemetryChunk[] = [];
    try {
      if (!Number.isFinite(nowMs)) nowMs = this.now();
      this.outbox.collecting = true;
      try {
        this.invocations.release(nowMs, final);
        this.phases.release(nowMs, final, this.invocations.firstInvocation);
      } finally {
        this.outbox.collecting = false;
      }
      for (const chunk of this.outbox.drain()) chunks.push(chunk);
      const collected = this.metrics.collect(nowMs, this.resource, this.scope);
      if (collected !== undefined) {
        const chunk = encodeMetrics(collected.resourceMetrics, collected.points, collected.oldestMs);
        if (chunk === undefined) this.counters.encodeErrors++;
        else {
          this.counters.metricsChunks++;
          chunks.push(chunk);
        }
      }
    } catch (err) {
      this.fail(err);
    }
    return chunks;
  }

  private dispatch(e: TelemetryEvent): void {
    switch (e.type) {
      case 'platform.start':
        this.invocations.onStart(e);
        return;
      case 'platform.runtimeDone':
        this.invocations.onRuntimeDone(e);
        return;
      case 'platform.report':
        this.invocations.onReport(e);
        return;
      case 'function':
      case 'extension':
      case 'platform.extension':
      case 'platform.telemetrySubscription':
        return;
      case 'platform.initStart':
        this.phases.onStart('init', e);
        return;
      case 'platform.restoreStart':
        this.phases.onStart('restore', e);
        return;
      case 'platform.initRuntimeDone':
      case 'platform.restoreRuntimeDone':
        this.phases.onRuntimeDone(e);
        return;
      case 'platform.initReport':
      case 'platform.restoreReport':
        this.phases.onReport(e);
        return;
      case 'platform.logsDropped':
        this.onLogsDropped(e);
        return;
      case 'unknown':
        this.counters.unknownEvents++;
        return;
      default:
        this.counters.unknownEvents++;
    }
  }

  /**
   * A SnapStart restore: this process now runs in a new environment cloned from the snapshot. What
   * was held from before the snapshot (the init span, aggregated metrics, buffered random bytes,
   * the environment id) belongs to the snapshot, not to this environment.
   */
  private startRestoredEnvironment(e: RestoreStartEvent): void {
    if (this.ids instanceof RandomIdGenerator) this.ids.reseed();
    this.resource.setInstance(str(e.instanceId), true);
    this.metrics.restart(e.timeMs);
    this.phases.discardForRestore();
    this.invocations.restartEnvironment();
  }

  private onLogsDropped(e: LogsDroppedEvent): void {
    this.metrics.recordLogsDropped(
      e.droppedRecords,
      e.droppedBytes,
      isTime(e.timeMs) ? e.timeMs : this.now(),
    );
  }

  private fail(err: unknown): void {
    this.counters.eventErrors++;
    this.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
}
