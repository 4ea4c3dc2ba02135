// The flush manager: decides, per invocation, whether the extension holds /event/next for an
// end-of-invocation flush or flushes in the background while the environment runs, and keeps data
// from being stranded by freezes, deadlines and SHUTDOWN.
//
// Freeze rules it lives by:
// - A blocking flush runs only after this request's platform.runtimeDone (the function's work is
//   complete), plus a short, bounded grace for the function's last OTLP exports; everything ends
//   before the INVOKE's deadlineMs (the whole invoke phase counts against the function's timeout).
// - Nothing runs while frozen. Timers are armed only while there is something to flush; one that
//   fires late, or any callback after a long silence, is a thaw: data left pending is flushed then.
// - A background flush may be frozen mid-request. The pipeline requeues what failed; a flush that
//   straddled a freeze and left data queued is followed by another one right after the thaw.
// - Flushes are serialised (flush-runner.ts): the pipeline never sees two at once, except the final
//   one at SHUTDOWN when an earlier flush hangs.
//
// This class only coordinates; each job has its module: freeze detection (thaw-detector.ts),
// waiting for runtimeDone (runtime-done.ts), the end-of-invocation hold (end-of-invocation.ts) and
// its degraded-backend variant (degraded-hold.ts), what flushes taught about the backend
// (backend-health.ts), the one flush runner (flush-runner.ts), flushes off the invocation path
// (background-schedule.ts), SHUTDOWN (final-flush.ts), and the per-invocation decision (decision.ts).

import type { InvokeEvent, ShutdownEvent, TelemetryEvent } from '../lambda/telemetry-events.js';
import type { Signal } from '../model/chunk.js';
import type { FlushTarget } from '../model/flush-contract.js';
import type { Clock, Scheduler } from '../model/time.js';
import { ArrivalEstimator } from './arrival-estimator.js';
import { BackendHealth } from './backend-health.js';
import { BackgroundSchedule } from './background-schedule.js';
import { decide, type FlushDecision, stalenessHorizonMs } from './decision.js';
import { EndOfInvocationHold } from './end-of-invocation.js';
import { finalFlush } from './final-flush.js';
import { ABANDON_AFTER_DEADLINE_MS, FlushRunner } from './flush-runner.js';
import { RuntimeDoneWatch } from './runtime-done.js';
import { type FlushSettings, resolveFlushSettings } from './settings.js';
import {
  type DecisionRecord,
  type FlushCounters,
  type FlushStats,
  newFlushCounters,
  type ShutdownSummary,
} from './stats.js';
import { type FlushStrategy, formatFlushStrategy, parseFlushStrategy } from './strategy.js';
import { systemClock, systemScheduler } from '../platform/system-time.js';
import { FlushTargets } from './targets.js';
import { ThawDetector } from './thaw-detector.js';
import type { Log } from '../model/log.js';
import { callHook } from './waiting.js';

export type { DecisionRecord, FlushStats, ShutdownSummary } from './stats.js';

export interface FlushManagerOptions {
  /** The export pipeline; several targets are flushed in parallel. */
  target: FlushTarget | readonly FlushTarget[];
  /** A parsed strategy or its text form (`adaptive`, `end`, `end,<ms>`, …). Default adaptive. */
  strategy?: FlushStrategy | string;
  /** AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances: no INVOKE, no runtimeDone; timer-driven. */
  managedInstances?: boolean;
  /** False when the Telemetry API subscription is not in place: runtimeDone will never come. */
  runtimeDoneAvailable?: boolean;
  settings?: Partial<FlushSettings>;
  clock?: Clock;
  scheduler?: Scheduler;
  logger?: Log;
  /** SHUTDOWN: stop accepting telemetry and OTLP from the function. */
  onStopIntake?: () => void | Promise<void>;
  /** SHUTDOWN: let the telemetry listener and receiver finish what they hold (bounded by deadlineMs). */
  drain?: (deadlineMs: number) => Promise<void>;
  /** Every decision, for self-telemetry or tracing; must not throw. */
  onDecision?: (record: DecisionRecord) => void;
}

export class FlushManager {
  readonly strategy: FlushStrategy;
  readonly settings: FlushSettings;
  readonly managedInstances: boolean;
  private readonly strategyText: string;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly logger: Log | undefined;
  private readonly options: FlushManagerOptions;
  private readonly arrivals: ArrivalEstimator;
  private readonly counters: FlushCounters = newFlushCounters();
  private readonly decisionCounts: Record<string, number> = {};
  private readonly targets: FlushTargets;
  private readonly thaw: ThawDetector;
  private readonly runtimeDone: RuntimeDoneWatch;
  private readonly health: BackendHealth;
  private readonly runner: FlushRunner;
  private readonly schedule: BackgroundSchedule;
  private readonly endHold: EndOfInvocationHold;
  private started = false;
  private lastDecisionRecord: DecisionRecord | undefined;

  constructor(options: FlushManagerOptions) {
    this.options = options;
    this.strategy =
      typeof options.strategy === 'string' || options.strategy === undefined
        ? parseFlushStrategy(options.strategy)
        : options.strategy;
    this.strategyText = formatFlushStrategy(this.strategy);
    const settings = resolveFlushSettings(options.settings);
    this.settings = settings;
    const clock = options.clock ?? systemClock;
    const scheduler: Scheduler = options.scheduler ?? systemScheduler;
    const logger = options.logger;
    this.clock = clock;
    this.scheduler = scheduler;
    this.logger = logger;
    this.managedInstances = options.managedInstances ?? false;
    this.targets = new FlushTargets(
      options.target,
      { clock, scheduler, thawJumpMs: settings.thawJumpMs },
      logger,
    );
    this.arrivals = new ArrivalEstimator({ longGapMs: stalenessHorizonMs(settings) });
    this.thaw = new ThawDetector(clock.now(), settings.thawJumpMs, this.counters, logger);
    this.runtimeDone = new RuntimeDoneWatch(
      clock,
      scheduler,
      settings.telemetrySilenceMs,
      this.managedInstances,
      options.runtimeDoneAvailable ?? true,
      logger,
    );
    this.health = new BackendHealth(settings, logger);
    const common = { clock, scheduler, settings, logger, counters: this.counters, health: this.health };
    this.runner = new FlushRunner({
      ...common,
      targets: this.targets,
      thaw: this.thaw,
      onQuiet: () => this.schedule.arm(),
    });
    this.schedule = new BackgroundSchedule({
      ...common,
      strategy: this.strategy,
      managedInstances: this.managedInstances,
      targets: this.targets,
      runner: this.runner,
      thaw: this.thaw,
      runtimeDone: this.runtimeDone,
    });
    this.endHold = new EndOfInvocationHold({
      ...common,
      runner: this.runner,
      thaw: this.thaw,
      runtimeDone: this.runtimeDone,
      schedule: this.schedule,
    });
  }

  /** Arms the timers the strategy needs (Managed Instances: the background cadence). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.logger?.debug('flush manager started', {
      strategy: this.strategyText,
      managedInstances: this.managedInstances,
      tickIntervalMs: this.schedule.intervalMs(),
    });
    this.schedule.start();
  }

  /** Cancels timers; pending data stays with the pipeline. */
  stop(): void {
    this.schedule.stop();
  }

  get stats(): FlushStats {
    return { ...this.counters, decisions: { ...this.decisionCounts } };
  }

  get lastDecision(): DecisionRecord | undefined {
    return this.lastDecisionRecord;
  }

  /** The most a degraded backend may add after runtimeDone: twice the healthy hold, within the setting. */
  degradedHoldLimitMs(): number {
    return this.health.holdLimitMs();
  }

  /**
   * An INVOKE arrived. Resolves when the extension may call /event/next again: at once for a
   * background decision, after runtimeDone, the grace and the flush for a blocking one, and always
   * before the INVOKE's deadline. Never rejects.
   */
  onInvoke(event: InvokeEvent): Promise<void> {
    return this.handleInvoke(event).catch((error: unknown) => {
      this.logger?.warn('flush manager failed on INVOKE; releasing', { error: String(error) });
    });
  }

  /** Telemetry API events, as parsed. Only reacts; never exports from the listener's request. */
  onTelemetry(events: readonly TelemetryEvent[]): void {
    if (events.length === 0) return;
    const now = this.clock.now();
    const thawed = this.thaw.noteAlive(now, 'telemetry', this.runner.shuttingDown);
    this.runtimeDone.onTelemetry(events, now);
    this.markDirty(now);
    if (thawed) this.schedule.afterThaw();
    this.schedule.checkBytes();
  }

  /** The local receiver accepted an export from the function. */
  onFunctionExport(_signal?: Signal): void {
    const now = this.clock.now();
    const thawed = this.thaw.noteAlive(now, 'receiver', this.runner.shuttingDown);
    this.endHold.onFunctionExport(now);
    this.markDirty(now);
    if (thawed) this.schedule.afterThaw();
    this.schedule.checkBytes();
  }

  /** Flush now in the background (e.g. the function asked for it); resolves when the flushing settles. */
  async forceFlush(reason = 'force'): Promise<void> {
    if (this.runner.shuttingDown) return;
    this.thaw.noteAlive(this.clock.now(), 'force', false);
    this.runner.requestBackground(reason, true);
    await this.runner.whenIdle(
      this.clock.now() + this.settings.backgroundFlushTimeoutMs + ABANDON_AFTER_DEADLINE_MS,
    );
  }

  /**
   * SHUTDOWN: stop intake, drain (bounded), flush everything with final=true, and resolve before
   * deadlineMs − shutdownMarginMs whatever the pipeline does. Never rejects.
   */
  async onShutdown(event: ShutdownEvent): Promise<ShutdownSummary> {
    this.runner.shuttingDown = true;
    this.schedule.cancel();
    this.runtimeDone.releaseAll();
    const summary = await finalFlush(
      {
        clock: this.clock,
        scheduler: this.scheduler,
        settings: this.settings,
        counters: this.counters,
        targets: this.targets,
        runner: this.runner,
        logger: this.logger,
        ...(this.options.onStopIntake && { onStopIntake: this.options.onStopIntake }),
        ...(this.options.drain && { drain: this.options.drain }),
      },
      event,
    );
    this.stop();
    return summary;
  }

  private async handleInvoke(event: InvokeEvent): Promise<void> {
    if (this.runner.shuttingDown) return;
    const now = this.clock.now();
    this.thaw.noteAlive(now, 'invoke', false);
    if (this.managedInstances) {
      // Not expected there (INVOKE is refused); if it comes, data is flushed on the timer.
      this.markDirty(now);
      return;
    }
    this.arrivals.observe(now);
    this.health.onInvoke();
    const decision = decide({
      strategy: this.strategy,
      nowMs: now,
      arrivals: this.arrivals.estimates(),
      pending: this.targets.pending(),
      dirtySinceMs: this.runner.dirtySinceMs,
      lastFlushStartMs: this.runner.lastFlushStartMs,
      recentThaw: this.thaw.recent(now),
      backendUnhealthy: this.health.unhealthy,
      runtimeDoneReliable: this.runtimeDone.reliable,
      backgroundCut: this.health.backgroundCut,
      invocationDurationMs: this.runtimeDone.invocationDurationMs,
      flushDurationMs: this.health.flushDurationMs,
      settings: this.settings,
    });
    if (decision.reason === 'background-cut') this.health.cutCooldownUsed();
    this.record(decision, event.requestId, now);
    this.runtimeDone.running = { requestId: event.requestId, startMs: now };
    this.schedule.lastMode = decision.mode;
    if (decision.startFlush !== undefined) this.runner.requestBackground(decision.startFlush);
    // This invocation will produce data (platform events at least) whatever pending() says.
    this.markDirty(now);
    if (decision.mode === 'background') return;
    await this.endHold.hold(event, now);
  }

  private markDirty(now: number): void {
    this.runner.markDirty(now);
    this.schedule.arm();
  }

  private record(decision: FlushDecision, requestId: string, atMs: number): void {
    const record: DecisionRecord = { ...decision, atMs, requestId, strategy: this.strategyText };
    this.lastDecisionRecord = record;
    const key = `${decision.mode}/${decision.reason}`;
    this.decisionCounts[key] = (this.decisionCounts[key] ?? 0) + 1;
    this.logger?.debug('flush decision', record as unknown as Record<string, unknown>);
    if (this.options.onDecision) callHook(this.logger, 'onDecision', () => this.options.onDecision?.(record));
  }
}
