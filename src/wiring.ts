// The components of one execution environment, wired along the data's path: Lambda's telemetry →
// converters → export pipeline ← flush manager, the local receiver feeding the same pipeline.
// Built once configuration is valid; runExtension drives it through Lambda's lifecycle.

import { type ExtensionSections, type LoadedConfig, temporalityFor } from './config/index.js';
import { PlatformConverter } from './convert/index.js';
import { LogConverter } from './convert/logs.js';
import { createSampler } from './convert/sampler.js';
import {
  converterFailureLog,
  logConverterCounters,
  platformConverterCounters,
  resourceProblemCounters,
} from './convert/convert-telemetry.js';
import { platformSpanCounters } from './convert/span-counters.js';
import { log } from './extension-log.js';
import { FlushManager, type FlushManagerOptions, type ShutdownSummary } from './flush/index.js';
import { ShutdownDrain } from './flush/shutdown-drain.js';
import type { RegisteredInfo } from './lambda/lifecycle.js';
import { RuntimeExitWatch } from './lambda/runtime-presence.js';
import { intakeCounters } from './lambda/telemetry-intake.js';
import type { TelemetryEvent } from './lambda/telemetry-events.js';
import type { ChunkSink, Signal, TelemetryChunk } from './model/chunk.js';
import { prefixedLog } from './model/log.js';
import type { Clock, Scheduler } from './model/time.js';
import { ExportPipeline } from './pipeline/export-pipeline.js';
import { requestScheduler, systemClock } from './platform/system-time.js';
import type { MemoryBudget } from './pipeline/memory-budget.js';
import { memoryCounters, memoryGauges } from './pipeline/memory-telemetry.js';
import { TelemetryProcessor } from './process/telemetry-processor.js';
import { OtlpReceiver } from './receiver/otlp-receiver.js';
import { receiverCounters } from './receiver/receiver-telemetry.js';
import { loadedOtlpSchema, loadOtlpSchema } from './receiver/otlp-schema.js';
import { TraceCorrelator } from './receiver/trace-correlation.js';

/** Chunks the receiver accepts before the pipeline exists (it starts before registering). */
class PendingSink implements ChunkSink {
  private early: TelemetryChunk[] | undefined = [];
  private target: ChunkSink | undefined;
  constructor(private readonly onChunk: (signal: Signal) => void) {}
  enqueue(chunk: TelemetryChunk): void {
    this.onChunk(chunk.signal);
    if (this.target) this.target.enqueue(chunk);
    else this.early?.push(chunk);
  }
  connect(target: ChunkSink): void {
    this.target = target;
    for (const chunk of this.early ?? []) target.enqueue(chunk);
    this.early = undefined;
  }
}

/** Where a disabled receiver's chunks go. */
export const DISCARD: ChunkSink = { enqueue() {} };

/** The least time function spans wait for their invocation's platform.start (Managed Instances). */
const MIN_CORRELATION_WAIT_MS = 1000;

/**
 * At SHUTDOWN, how long the receiver must have been quiet before the drain ends when the runtime's
 * exit cannot be seen: the function's SDK shuts down on SIGTERM, sent at the same time as SHUTDOWN,
 * and exports what it still holds.
 */
const FUNCTION_SHUTDOWN_EXPORT_QUIET_MS = 200;

/** Invocations remembered while their platform.report is awaited (the rest are long over). */
const REPORTS_AWAITED_MAX = 64;

/** At SHUTDOWN, every report in but the last push cut at max_items: quiet after it. */
const REPORT_PUSH_QUIET_MS = 10;

/** At SHUTDOWN, how often the runtime's exit is looked for while the function may export. */
const RUNTIME_EXIT_POLL_MS = 2;

/** The drain's own bound, inside what the final flush gives it. */
const DRAIN_MAX_MS = 400;

/** The flush manager's decisions and problems in the extension's log (decisions at debug only). */
const FLUSH_LOG = prefixedLog(log, 'flush: ');

export function grpcTransport(receiver: LoadedConfig['config']['receiver']): { grpc?: { port: number } } {
  return receiver.grpc.enabled ? { grpc: { port: receiver.grpc.port } } : {};
}

/** Processor failures in the extension's log: the first, then every hundredth (they are counted). */
function processorFailureLog(): (message: string) => void {
  let failures = 0;
  return (message) => {
    if (failures++ % 100 === 0) log.warn(`${message} (${failures} so far)`);
  };
}

/** What the SHUTDOWN drain waits with. */
export interface ShutdownTime {
  clock: Clock;
  scheduler: Scheduler;
  /** Whether the function's runtime process has exited (false when that cannot be told). */
  runtime: Pick<RuntimeExitWatch, 'exited'>;
}

function realShutdownTime(env: NodeJS.ProcessEnv): ShutdownTime {
  // Timers that keep the process alive: the drain is work in progress.
  return {
    clock: systemClock,
    scheduler: requestScheduler,
    runtime: new RuntimeExitWatch(env['AWS_LAMBDA_RUNTIME_API']),
  };
}

/** The components of an exporting extension and the hooks between them. */
export class Wiring {
  readonly converter: PlatformConverter;
  readonly logs: LogConverter | undefined;
  readonly pipeline: ExportPipeline;
  readonly receiver: OtlpReceiver | undefined;
  readonly correlator: TraceCorrelator;
  /** The Telemetry API listener's counters, once registered. */
  intake: Pick<RegisteredInfo, 'parseStats' | 'listenerStats'> | undefined;
  private flush: FlushManager | undefined;
  private readonly receiverSink: PendingSink;
  private intakeOpen = true;
  /** When the listener last delivered a push (clock ms), and whether it carried max_items records. */
  private lastPushMs: number | undefined;
  private lastPushFull = false;
  /** When the receiver last accepted an export from the function (clock ms). */
  private lastFunctionExportMs: number | undefined;
  private functionEverExported = false;
  /** The function's environment configures an OpenTelemetry SDK (it may export at SIGTERM). */
  private readonly functionConfiguresOtel: boolean;
  /** Invocations whose platform.report has not arrived yet: Lambda delivers it by SHUTDOWN. */
  private readonly reportsAwaited = new Set<string>();
  private shutdownReason: string | undefined;
  private telemetrySubscribed = false;
  private drain: ShutdownDrain | undefined;
  private readonly config: LoadedConfig['config'];
  /** The configured processors, when any rule is set. */
  readonly processor: TelemetryProcessor | undefined;
  private onceRegistered: (() => void) | undefined;

  constructor(
    loaded: LoadedConfig,
    private readonly sections: ExtensionSections,
    env: NodeJS.ProcessEnv,
    readonly budget: MemoryBudget,
    functionConfiguresOtel: boolean,
    /** Time for the SHUTDOWN drain, and whether the runtime has exited; the real ones by default. */
    private readonly shutdownTime: ShutdownTime = realShutdownTime(env),
  ) {
    const config = loaded.config;
    this.config = config;
    this.functionConfiguresOtel = functionConfiguresOtel;
    const exportConfig = sections.export;
    const temporality =
      exportConfig.requiredMetricsTemporality ?? temporalityFor(config.metrics.temporality, 'counter');
    const processor = new TelemetryProcessor(config.processors, loadedOtlpSchema, processorFailureLog());
    if (processor.enabled) {
      this.processor = processor;
      // Rules decode OTLP: the schema loads (only with rules) once registered, off the init path;
      // what needs it before then waits.
      processor.loadSchema(
        new Promise<void>((resolve) => (this.onceRegistered = resolve)).then(loadOtlpSchema),
      );
    }
    // The converter's sink exists before the pipeline, whose self-telemetry needs the converter's resource.
    const toPipeline: ChunkSink = { enqueue: (chunk) => this.pipeline.enqueue(chunk) };
    const forward = this.processor?.sink(toPipeline) ?? toPipeline;
    this.converter = new PlatformConverter(
      {
        env,
        temporality,
        maxHeldMs: config.traces.correlation_hold_ms,
        exportUnsampled: config.traces.export_unsampled,
        sampler: createSampler(config.traces.sampler, config.traces.sampler_arg),
        budget,
      },
      forward,
    );
    this.pipeline = new ExportPipeline({
      destinations: exportConfig.destinations,
      maxConcurrentRequests: exportConfig.maxConcurrentRequests,
      queue: exportConfig.queue,
      selfTelemetry: { resource: this.converter.resource, temporality },
      budget,
    });
    this.pipeline.stats.observeGauges(() => memoryGauges(budget));
    this.pipeline.stats.observe(() => memoryCounters(budget));
    // Producers are pulled at every flush (held spans, metric aggregations, pending log records).
    // Function spans held for their invocation go first: joined, they still move its platform span.
    this.correlator = new TraceCorrelator(this.converter.directory, (instance) =>
      this.converter.resource.adoptFunctionInstance(instance),
    );
    this.pipeline.addProducer(this.processor?.producer(this.correlator) ?? this.correlator);
    this.pipeline.addProducer(this.processor?.producer(this.converter) ?? this.converter);
    this.pipeline.stats.observe(() => platformSpanCounters(this.converter.stats));
    this.pipeline.stats.observe(() => platformConverterCounters(this.converter.stats));
    const resourceProblems = this.converter.resource.problems;
    for (const problem of resourceProblems) log.warn(`resource: ${problem}`);
    if (resourceProblems.length > 0)
      this.pipeline.stats.observe(() => resourceProblemCounters(resourceProblems));
    if (this.processor) {
      const observed = this.processor;
      this.pipeline.stats.observe(() => observed.observedCounters());
    }
    if (config.logs.enabled && (config.logs.function || config.logs.extension)) {
      this.logs = new LogConverter(
        {
          resource: this.converter.resource,
          directory: this.converter.directory,
          maxRecordBytes: config.logs.max_record_bytes,
          platformLines: config.logs.platform_lines,
          budget,
        },
        this.processor?.sink(this.pipeline) ?? this.pipeline,
      );
      this.pipeline.addProducer(this.processor?.producer(this.logs) ?? this.logs);
      const logs = this.logs;
      this.pipeline.stats.observe(() => logConverterCounters(logs.stats()));
    }
    this.receiverSink = new PendingSink((signal) => {
      this.lastFunctionExportMs = this.shutdownTime.clock.now();
      this.functionEverExported = true;
      this.flush?.onFunctionExport(signal);
      this.drain?.nudge();
    });
    if (config.receiver.enabled) {
      const queueBytes = config.queue.max_bytes_per_signal;
      this.receiver = new OtlpReceiver({
        sink: this.receiverSink,
        port: config.receiver.port,
        ...grpcTransport(config.receiver),
        correlator: this.correlator,
        // Backpressure: the function's SDK retries on 503 (UNAVAILABLE over gRPC), which is better
        // than dropping here.
        admit: () =>
          this.intakeOpen && this.pipeline.pending().bytes < queueBytes
            ? { accept: true }
            : { accept: false, status: 503, retryAfterSeconds: 1, reason: 'export queue full' },
        onForceFlush: () => this.flush?.forceFlush('function request'),
        onRejected: (signal, reason, items) => this.pipeline.stats.recordDropped('', signal, reason, items),
        budget,
        log,
        limits: {
          maxBodyBytes: config.receiver.max_body_bytes,
          maxDecompressedBytes: config.receiver.max_decompressed_bytes,
        },
      });
      const receiver = this.receiver;
      this.pipeline.stats.observe(() => receiverCounters(receiver.stats()));
    }
  }

  /** Logs converter failures counted since the last call (the converter itself only counts them). */
  private readonly noteConverterFailures = converterFailureLog(log);
  private checkConverter(): void {
    this.noteConverterFailures(this.converter.stats, this.converter.lastFailure);
  }

  onRegistered(info: RegisteredInfo): void {
    this.onceRegistered?.();
    this.converter.onRegistered(info.register);
    this.checkConverter();
    this.receiverSink.connect(this.processor?.sink(this.pipeline) ?? this.pipeline);
    this.intake = { parseStats: info.parseStats, listenerStats: info.listenerStats };
    this.telemetrySubscribed = info.telemetry.status === 'subscribed';
    const { parseStats, listenerStats } = info;
    this.pipeline.stats.observe(() => intakeCounters(parseStats, listenerStats));
    const managedInstances = info.events.length === 1 && info.events[0] === 'SHUTDOWN';
    if (info.telemetry.status === 'subscribed' && this.receiver) {
      // Spans naming an invocation not known yet wait for it, a bounded time. Managed Instances send
      // no INVOKE: a request id is first seen in platform.start, which comes in a telemetry batch
      // after the function exported its spans. Otherwise the function's export can still overtake
      // our INVOKE when the extension is slow to be scheduled; INVOKE always comes before the
      // invocation's end, so what is still held at the next flush names an invocation we will
      // never see and goes out as it is.
      this.correlator.enableHold({
        maxHoldMs: managedInstances
          ? Math.max(MIN_CORRELATION_WAIT_MS, 8 * info.telemetry.buffering.timeoutMs)
          : 1,
        sink: this.receiverSink,
      });
    }
    if (info.telemetry.status !== 'subscribed') {
      this.converter.withoutTelemetry();
      if (!this.receiver) log.warn('the local OTLP receiver is off too: nothing will be exported');
    }
    const options: FlushManagerOptions = {
      target: this.pipeline,
      strategy: this.sections.flush.strategy,
      managedInstances,
      runtimeDoneAvailable: info.telemetry.status === 'subscribed',
      settings: this.sections.flush.settings,
      // The receiver stays open while draining: Lambda sends SIGTERM to the runtime together with
      // SHUTDOWN, and an SDK shut down on SIGTERM exports its last batches right now. Intake closes
      // once the drain is over (see drainTelemetry).
      onStopIntake: () => {},
      drain: (deadlineMs) => this.drainTelemetry(deadlineMs),
      logger: FLUSH_LOG,
    };
    // The configuration checked these settings already (config/sections.ts).
    const flush = new FlushManager(options);
    this.flush = flush;
    flush.start();
    log.debug(`memory budget ${(this.budget.limitBytes / 1048576).toFixed(1)} MB`);
    if (log.enabled('debug')) {
      const t = info.timings;
      log.debug(
        `ready in ${t.sinceProcessStartMs.toFixed(1)} ms since process start; telemetry ${info.telemetry.status};` +
          ` ${this.sections.export.destinations.length} destination(s); receiver port ${this.receiver?.port ?? 'off'}`,
      );
    }
  }

  onTelemetry(events: TelemetryEvent[]): void {
    this.lastPushMs = this.shutdownTime.clock.now();
    this.lastPushFull = events.length >= this.config.telemetry_api.buffering.max_items;
    for (const event of events) {
      if (event.type === 'platform.report') this.reportsAwaited.delete(event.requestId);
      else if (event.type === 'platform.start') this.awaitReport(event.requestId);
    }
    this.converter.ingest(events);
    this.checkConverter();
    this.correlator.retryHeld();
    this.logs?.ingest(events);
    this.flush?.onTelemetry(events);
    this.drain?.nudge();
  }

  async onInvoke(event: Parameters<FlushManager['onInvoke']>[0]): Promise<void> {
    this.awaitReport(event.requestId);
    this.converter.onInvoke(event);
    this.checkConverter();
    this.correlator.retryHeld();
    if (this.flush) await this.flush.onInvoke(event);
  }

  async onShutdown(event: Parameters<FlushManager['onShutdown']>[0]): Promise<ShutdownSummary | undefined> {
    this.shutdownReason = event.shutdownReason.toLowerCase();
    this.converter.onShutdown(event);
    this.checkConverter();
    if (!this.flush) return undefined;
    const summary = await this.flush.onShutdown(event);
    this.pipeline.shutdown();
    return summary;
  }

  private awaitReport(requestId: string): void {
    if (this.reportsAwaited.has(requestId)) return;
    this.reportsAwaited.add(requestId);
    if (this.reportsAwaited.size > REPORTS_AWAITED_MAX) {
      const oldest = this.reportsAwaited.values().next();
      if (!oldest.done) this.reportsAwaited.delete(oldest.value);
    }
  }

  /**
   * At SHUTDOWN Lambda still delivers what its buffer holds (often the last platform.report), and a
   * function whose SDK exports on SIGTERM sends its last batches: wait for what can still come,
   * bounded by the deadline (see ShutdownDrain). Then the receiver refuses further exports (503):
   * they could no longer be sent. Nothing is waited for that cannot come, so an idle environment
   * exits at once:
   * - the listener: while an invocation's platform.report is awaited;
   * - the receiver: only at spindown (Lambda sends SIGTERM to the runtime; after a timeout or a
   *   failure the runtime is gone), only for a function that has exported to the receiver or whose
   *   environment configures an OpenTelemetry SDK (one that never exported yet may at SIGTERM), and
   *   only until the runtime process has exited.
   */
  private async drainTelemetry(deadlineMs: number): Promise<void> {
    const { clock } = this.shutdownTime;
    const drain = new ShutdownDrain(
      this.shutdownTime,
      {
        listenerQuietMs: Math.max(50, 2 * this.config.telemetry_api.buffering.timeout_ms),
        reportPushQuietMs: REPORT_PUSH_QUIET_MS,
        functionExportQuietMs: FUNCTION_SHUTDOWN_EXPORT_QUIET_MS,
        pollMs: RUNTIME_EXIT_POLL_MS,
      },
      {
        telemetrySubscribed: this.telemetrySubscribed,
        functionMayExport:
          this.receiver !== undefined &&
          this.shutdownReason === 'spindown' &&
          (this.functionEverExported || this.functionConfiguresOtel),
        lastPushMs: () => this.lastPushMs,
        lastPushFull: () => this.lastPushFull,
        reportsAwaited: () => this.reportsAwaited.size,
        lastFunctionExportMs: () => this.lastFunctionExportMs,
        runtimeExited: () => this.shutdownTime.runtime.exited(),
      },
    );
    this.drain = drain;
    try {
      const outcome = await drain.run(Math.min(deadlineMs, clock.now() + DRAIN_MAX_MS));
      FLUSH_LOG.debug(`drained in ${outcome.waitedMs} ms: ${outcome.ended}`);
    } finally {
      this.drain = undefined;
      this.intakeOpen = false;
    }
  }
}
