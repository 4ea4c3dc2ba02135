// The export pipeline: producers' chunks go into per-destination, per-signal queues (a reference per
// destination; chunks are immutable), and a flush drains every queue to its destination in parallel
// within the caller's deadline. Fan-out isolation follows from the layout: each destination has its
// own queues, its own share of request slots, and its own retry state, so one failing destination
// never delays or drops another's data. What could not be delivered yet (retryable failures, the
// deadline) returns to the front of its queue and is redriven by the next flush, whatever triggers it.

import type { Scheduler } from '../model/time.js';
import type { Resource } from '@opentelemetry/resources';
import { DeadlineBudget } from '../export/deadline.js';
import { log as extensionLog } from '../extension-log.js';
import type { DestinationConfig } from '../export/destination.js';
import {
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_QUEUE_LIMITS,
  type QueueLimits,
} from '../export/endpoint-config.js';
import { type Log, logOnce } from '../model/log.js';
import {
  type BatchOutcome,
  type ExporterOptions,
  type FlushGate,
  OtlpHttpExporter,
} from '../export/otlp-http-exporter.js';
import { RequestLimiter } from '../export/request-limiter.js';
import {
  SIGNALS,
  type ChunkProducer,
  type ChunkSink,
  type Signal,
  type TelemetryChunk,
} from '../model/chunk.js';
import type { MemoryBudget } from './memory-budget.js';
import { SelfTelemetry, type SelfTelemetryProducer } from './self-telemetry.js';
import { SignalQueue } from './signal-queue.js';
import type { FlushReport, FlushRequest, PendingSummary } from '../model/flush-contract.js';

export type { PendingSummary } from '../model/flush-contract.js';

/** The pipeline always says why it dropped and how often the backend failed. */
export interface PipelineFlushReport extends FlushReport {
  droppedByReason: Record<string, number>;
  failedAttempts: number;
}

/** What a flush is asked to do: the flush manager's request, which this pipeline serves. */
export type FlushOptions = FlushRequest;

export interface ExportPipelineOptions {
  destinations: readonly DestinationConfig[];
  /** In-flight requests across all destinations (default 4). */
  maxConcurrentRequests?: number;
  /** Bounds of each destination's per-signal queue (default 8 MiB / 20,000 items). */
  queue?: QueueLimits;
  /** Default: the extension's logger. */
  log?: Log;
  /**
   * When set, the pipeline's own metrics are exported with this resource (scope
   * otel-lambda-extension), at most every `selfTelemetryIntervalMs` (default 60 s) and at the final
   * flush.
   */
  selfTelemetry?: {
    resource: Resource | { get(): Resource };
    temporality?: 'delta' | 'cumulative';
    intervalMs?: number;
  };
  /** Kept free before each flush deadline for settling results (default 25 ms). */
  deadlineMarginMs?: number;
  /**
   * The extension's memory budget: queued chunks and batches being sent count against it, and a
   * chunk that would pass it makes room by dropping the oldest of its queue (counted memory_budget).
   */
  budget?: MemoryBudget;
  /** Retry tuning and test hooks for the exporters. */
  exporter?: Omit<ExporterOptions, 'limiter' | 'log'>;
  now?: () => number;
}

interface DestinationState {
  exporter: OtlpHttpExporter;
  queues: Map<Signal, SignalQueue>;
}

/** Budget of a flush called without a usable deadline. */
const FALLBACK_FLUSH_MS = 10_000;

/** Drop reason of what is still queued when the extension exits. */
export const UNSENT_AT_SHUTDOWN = 'unsent_at_shutdown';

/** Flush rounds per call: data arriving during a flush is sent too, within bounds. */
const MAX_ROUNDS = 4;

function emptyReport(): PipelineFlushReport {
  return {
    exportedItems: 0,
    exportedBytes: 0,
    requests: 0,
    retryLaterItems: 0,
    droppedItems: 0,
    droppedByReason: {},
    durationMs: 0,
    deadlineHit: false,
    failedAttempts: 0,
  };
}

function itemsOf(chunks: readonly TelemetryChunk[]): number {
  let n = 0;
  for (const c of chunks) n += c.items;
  return n;
}

export class ExportPipeline implements ChunkSink {
  readonly stats: SelfTelemetry;
  private readonly destinations: DestinationState[] = [];
  private readonly bySignal = new Map<Signal, DestinationState[]>();
  private readonly producers: ChunkProducer[] = [];
  private readonly selfProducer: SelfTelemetryProducer | undefined;
  private readonly log: Log;
  private readonly now: () => number;
  /** The exporters' timers, also for flush deadlines (undefined: real ones). */
  private readonly scheduler: Scheduler | undefined;
  private readonly marginMs: number;
  /** Drops since the last flush report, by reason. */
  private dropsSinceReport: Record<string, number> = {};
  private active: { promise: Promise<PipelineFlushReport>; budget: DeadlineBudget } | undefined;
  private readonly memory: MemoryBudget | undefined;
  /** Bytes of batches taken from the queues and not settled yet (being encoded and sent). */
  private exportingBytes = 0;
  private next: { promise: Promise<PipelineFlushReport>; opts: FlushOptions } | undefined;

  constructor(options: ExportPipelineOptions) {
    this.log = options.log ?? extensionLog;
    this.now = options.now ?? Date.now;
    this.scheduler = options.exporter?.scheduler;
    this.marginMs = options.deadlineMarginMs ?? 25;
    this.stats = new SelfTelemetry(this.now);
    const queueLimits = options.queue ?? DEFAULT_QUEUE_LIMITS;
    const limiter = new RequestLimiter(
      options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS,
      options.destinations.length,
    );
    for (const destination of options.destinations) {
      const exporter = new OtlpHttpExporter(destination, {
        ...options.exporter,
        now: options.exporter?.now ?? this.now,
        limiter,
        log: this.log,
      });
      const state: DestinationState = { exporter, queues: new Map() };
      for (const signal of SIGNALS) {
        if (!destination.signals[signal]) continue;
        state.queues.set(signal, new SignalQueue(queueLimits));
        let list = this.bySignal.get(signal);
        if (!list) {
          list = [];
          this.bySignal.set(signal, list);
        }
        list.push(state);
      }
      this.destinations.push(state);
    }
    this.memory = options.budget;
    this.memory?.setQueuedBytes(() => this.heldBytes());
    if (options.selfTelemetry) {
      this.selfProducer = this.stats.createProducer(options.selfTelemetry);
      this.producers.push(this.selfProducer);
    }
  }

  /** Hands a chunk to every destination that takes its signal. Never throws. */
  enqueue(chunk: TelemetryChunk): void {
    if (
      !chunk ||
      !SIGNALS.includes(chunk.signal) ||
      !(chunk.protobuf instanceof Uint8Array) ||
      !(
        chunk.items >= 0 &&
        chunk.bytes >= 0 &&
        Number.isFinite(chunk.items + chunk.bytes + chunk.createdAtMs)
      )
    ) {
      const signal: Signal = chunk && SIGNALS.includes(chunk.signal) ? chunk.signal : 'logs';
      logOnce(
        this.log,
        'pipeline:invalid-chunk',
        'error',
        'export pipeline: a producer handed over a malformed chunk; dropped',
      );
      // Item count unknown or untrustworthy: count at least one so the drop is visible.
      this.countDrop('', signal, 'invalid_chunk', Math.max(1, Number(chunk?.items) || 0));
      return;
    }
    if (chunk.protobuf.byteLength === 0) return; // nothing inside, nothing lost
    this.stats.recordQueued(chunk.signal, chunk.items);
    const targets = this.bySignal.get(chunk.signal);
    if (!targets) {
      logOnce(
        this.log,
        `pipeline:no-destination:${chunk.signal}`,
        'warn',
        `export pipeline: no destination takes ${chunk.signal}; dropping it (counted)`,
      );
      this.countDrop('', chunk.signal, 'no_destination', chunk.items);
      return;
    }
    for (const state of targets) {
      const queue = state.queues.get(chunk.signal) as SignalQueue;
      const dropped = queue.push(chunk);
      if (dropped.length > 0) this.countQueueFull(state, chunk.signal, dropped);
      if (this.memory) this.keepWithinBudget(this.memory, state, chunk.signal, queue);
    }
  }

  /** Queued plus being-sent bytes (a chunk queued for two destinations counts twice). */
  heldBytes(): number {
    let bytes = this.exportingBytes;
    for (const state of this.destinations) for (const queue of state.queues.values()) bytes += queue.bytes;
    return bytes;
  }

  /** Drops the oldest chunks of `queue` until the memory budget holds everything (never growth). */
  private keepWithinBudget(
    memory: MemoryBudget,
    state: DestinationState,
    signal: Signal,
    queue: SignalQueue,
  ): void {
    let items = 0;
    while (memory.used() > memory.limitBytes) {
      const oldest = queue.dropOldest();
      if (!oldest) break;
      items += oldest.items;
    }
    memory.observe();
    if (items === 0) return;
    logOnce(
      this.log,
      `pipeline:memory-budget:${state.exporter.name}:${signal}`,
      'warn',
      `export queue for ${state.exporter.name} (${signal}) reached the extension's memory budget (${memory.limitBytes} bytes); dropping the oldest telemetry`,
    );
    this.countDrop(state.exporter.name, signal, 'memory_budget', items);
  }

  addProducer(producer: ChunkProducer): void {
    this.producers.push(producer);
  }

  /** Over all queues (producers not included); a chunk waiting for two destinations counts twice. */
  pending(): PendingSummary {
    let items = 0;
    let bytes = 0;
    let oldest: number | undefined;
    for (const state of this.destinations) {
      for (const queue of state.queues.values()) {
        items += queue.items;
        bytes += queue.bytes;
        const t = queue.oldestCreatedAtMs();
        if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
      }
    }
    return { items, bytes, oldestCreatedAtMs: oldest };
  }

  /**
   * Collects producers and exports everything pending within the deadline. A call while another flush
   * runs pulls that flush's deadline in to its own (if earlier) and then runs after it; calls piling up
   * meanwhile share that one follow-up flush. Never rejects.
   */
  flush(opts: FlushOptions): Promise<PipelineFlushReport> {
    if (!Number.isFinite(opts.deadlineMs)) {
      logOnce(
        this.log,
        'pipeline:bad-deadline',
        'warn',
        `export pipeline: flush deadline ${opts.deadlineMs} is not a time; using ${FALLBACK_FLUSH_MS} ms`,
      );
      opts = { ...opts, deadlineMs: this.now() + FALLBACK_FLUSH_MS };
    }
    if (!this.active && !this.next) return this.start(opts);
    this.active?.budget.tighten(opts.deadlineMs);
    if (this.next) {
      this.next.opts.deadlineMs = Math.min(this.next.opts.deadlineMs, opts.deadlineMs);
      this.next.opts.final = this.next.opts.final || opts.final;
      // The joined flush keeps waiting only if every caller may wait.
      this.next.opts.inInvocationPath = this.next.opts.inInvocationPath || opts.inInvocationPath;
      return this.next.promise;
    }
    const pendingOpts: FlushOptions = { ...opts };
    const promise = (this.active as { promise: Promise<PipelineFlushReport> }).promise.then(() => {
      this.next = undefined;
      return this.start(pendingOpts);
    });
    this.next = { promise, opts: pendingOpts };
    return promise;
  }

  /** Closes idle keep-alive connections of every destination (call after a long freeze if known). */
  closeIdleConnections(): void {
    for (const state of this.destinations) state.exporter.closeIdleConnections();
  }

  /**
   * Releases sockets; call after the final flush. What is still queued is lost with the process:
   * counted as dropped (reason unsent_at_shutdown) per destination and signal, so that the
   * shutdown line's totals add up (queued = exported + dropped).
   */
  shutdown(): void {
    for (const state of this.destinations) {
      for (const [signal, queue] of state.queues) {
        if (queue.items === 0) continue;
        this.stats.recordDropped(state.exporter.name, signal, UNSENT_AT_SHUTDOWN, queue.items);
      }
      state.exporter.shutdown();
    }
  }

  private start(opts: FlushOptions): Promise<PipelineFlushReport> {
    const budget = new DeadlineBudget(opts.deadlineMs, this.marginMs, this.now, this.scheduler);
    const promise = this.run(opts, budget).finally(() => {
      budget.dispose();
      if (this.active?.promise === promise) this.active = undefined;
    });
    this.active = { promise, budget };
    return promise;
  }

  private async run(opts: FlushOptions, budget: DeadlineBudget): Promise<PipelineFlushReport> {
    const startMs = this.now();
    const report = emptyReport();
    try {
      // On a short-lived environment the serializer of our own metrics may still be loading at the
      // final flush: everything else goes out meanwhile, our metrics in a last round.
      const selfLoading =
        opts.final === true && this.selfProducer !== undefined && !this.selfProducer.isReady;
      this.collectProducers(opts.final === true);
      const gates = new Map<string, FlushGate>();
      await this.exportRounds(budget, gates, report, opts.inInvocationPath === true, opts.onRetryableFailure);
      if (selfLoading && this.selfProducer && !budget.expired) {
        await Promise.race([
          this.selfProducer.ready(),
          new Promise((resolve) => budget.signal.addEventListener('abort', resolve, { once: true })),
        ]);
        if (!budget.expired) {
          for (const chunk of this.selfProducer.collect(this.now(), true)) this.enqueue(chunk);
          await this.exportRounds(
            budget,
            gates,
            report,
            opts.inInvocationPath === true,
            opts.onRetryableFailure,
          );
        }
      }
      for (const gate of gates.values()) report.deadlineHit ||= gate.deadlineHit;
      if (!report.deadlineHit && budget.expired && this.pending().items > 0) report.deadlineHit = true;
    } catch (error) {
      logOnce(
        this.log,
        'pipeline:flush-error',
        'error',
        `export pipeline: flush failed unexpectedly: ${String(error)}`,
      );
    }
    report.durationMs = this.now() - startMs;
    report.droppedByReason = this.dropsSinceReport;
    report.droppedItems = Object.values(this.dropsSinceReport).reduce((n, v) => n + v, 0);
    this.dropsSinceReport = {};
    this.stats.recordFlush(opts.reason, report.durationMs);
    return report;
  }

  /** Drains every queue, again while data keeps arriving, within MAX_ROUNDS and the budget. */
  private async exportRounds(
    budget: DeadlineBudget,
    gates: Map<string, FlushGate>,
    report: PipelineFlushReport,
    noRetryWait: boolean,
    onRetryableFailure?: () => void,
  ): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS && !budget.expired; round++) {
      const work: Promise<void>[] = [];
      for (const state of this.destinations) {
        for (const [signal, queue] of state.queues) {
          if (queue.length === 0) continue;
          const key = `${state.exporter.name}\u0000${signal}`;
          let gate = gates.get(key);
          if (!gate) {
            gate = {
              stopped: false,
              deadlineHit: false,
              noRetryWait,
              ...(onRetryableFailure && { onRetryableFailure }),
            };
            gates.set(key, gate);
          }
          if (gate.stopped) continue;
          work.push(this.drain(state, signal, queue, budget, gate, report));
        }
      }
      if (work.length === 0) return;
      await Promise.all(work);
    }
  }

  private collectProducers(final: boolean): void {
    const nowMs = this.now();
    // Our own metrics last: they must count what collecting the others dropped (a full queue).
    const ordered = this.selfProducer
      ? [...this.producers.filter((p) => p !== this.selfProducer), this.selfProducer]
      : this.producers;
    for (const producer of ordered) {
      let chunks: TelemetryChunk[];
      try {
        chunks = producer.collect(nowMs, final);
      } catch (error) {
        logOnce(
          this.log,
          'pipeline:producer-error',
          'error',
          `export pipeline: a producer failed to collect: ${String(error)}`,
        );
        continue;
      }
      for (const chunk of chunks) this.enqueue(chunk);
    }
  }

  private async drain(
    state: DestinationState,
    signal: Signal,
    queue: SignalQueue,
    budget: DeadlineBudget,
    gate: FlushGate,
    report: PipelineFlushReport,
  ): Promise<void> {
    const target = state.exporter.target(signal);
    if (!target) return;
    const batches = queue.takeBatches(target.batch);
    let taken = 0;
    for (const batch of batches) for (const c of batch) taken += c.bytes;
    this.exportingBytes += taken;
    let outcomes: BatchOutcome[];
    try {
      outcomes = await Promise.all(
        batches.map((batch) => state.exporter.exportBatch(signal, batch, budget, gate)),
      );
    } finally {
      this.exportingBytes -= taken;
    }
    const name = state.exporter.name;
    const retryLater: TelemetryChunk[] = [];
    for (const out of outcomes) {
      const exported = itemsOf(out.delivered);
      report.exportedItems += exported;
      report.exportedBytes += out.deliveredBytes;
      report.requests += out.requests;
      report.failedAttempts += out.failedAttempts;
      if (exported > 0) this.stats.recordExported(name, signal, exported, out.deliveredBytes);
      if (out.requests > 0) this.stats.recordRequests(name, signal, out.requests, out.staleConnectionRetries);
      if (out.retries > 0) this.stats.recordRetries(name, signal, out.retries);
      if (out.rejectedItems > 0) this.stats.recordRejected(name, signal, out.rejectedItems);
      for (const d of out.dropped) this.countDrop(name, signal, d.reason, d.chunk.items);
      retryLater.push(...out.retryLater);
    }
    if (retryLater.length > 0) {
      report.retryLaterItems += itemsOf(retryLater);
      // Back to the front, in order; if newer data filled the queue meanwhile, the oldest go first.
      const dropped = queue.requeueFront(retryLater);
      if (dropped.length > 0) {
        const returned = new Set(retryLater);
        report.retryLaterItems -= itemsOf(dropped.filter((c) => returned.has(c)));
        this.countQueueFull(state, signal, dropped);
      }
    }
  }

  private countQueueFull(state: DestinationState, signal: Signal, dropped: readonly TelemetryChunk[]): void {
    const items = itemsOf(dropped);
    logOnce(
      this.log,
      `pipeline:queue-full:${state.exporter.name}:${signal}`,
      'warn',
      `export queue for ${state.exporter.name} (${signal}) is full; dropping the oldest telemetry`,
    );
    this.countDrop(state.exporter.name, signal, 'queue_full', items);
  }

  private countDrop(destination: string, signal: Signal, reason: string, items: number): void {
    if (items <= 0) return;
    this.dropsSinceReport[reason] = (this.dropsSinceReport[reason] ?? 0) + items;
    this.stats.recordDropped(destination, signal, reason, items);
  }
}
