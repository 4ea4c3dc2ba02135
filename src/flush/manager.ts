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
// - Flushes are serialised: the pipeline never sees two at once, except the final one at SHUTDOWN
//   when an earlier flush hangs.

import type { InvokeEvent, ShutdownEvent, TelemetryEvent } from '../lambda/telemetry-events.js';
import type { Signal } from '../model/chunk.js';
import { ArrivalEstimator } from './arrival-estimator.js';
import {
  type DecisionReason,
  decide,
  type FlushDecision,
  type FlushMode,
  type StartFlushReason,
  stalenessHorizonMs,
} from './decision.js';
import { type FlushSettings, resolveFlushSettings } from './settings.js';
import { type FlushStrategy, formatFlushStrategy, parseFlushStrategy } from './strategy.js';
import { systemClock, systemScheduler } from './system-time.js';
import type { FlushReport, FlushRequest, FlushTarget, PendingSummary } from '../model/flush-contract.js';
import type { Clock, Scheduler, TimerHandle } from '../model/time.js';
import type { Log } from '../model/log.js';

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

export interface DecisionRecord extends FlushDecision {
  atMs: number;
  requestId: string;
  strategy: string;
}

export interface ShutdownSummary {
  reason: string;
  exportedItems: number;
  exportedBytes: number;
  droppedItems: number;
  /** Left queued when the extension exits: lost. */
  unsentItems: number;
  unsentBytes: number;
  /** The final flush ran out of time. */
  deadlineHit: boolean;
  /** A target did not even return by the deadline. */
  timedOut: boolean;
  durationMs: number;
}

export interface FlushStats {
  /** Decisions by `mode/reason`, e.g. `blocking/cold-start`, `background/frequent`. */
  decisions: Readonly<Record<string, number>>;
  blockingFlushes: number;
  backgroundFlushes: number;
  finalFlushes: number;
  thawsDetected: number;
  /** Flushes started right after a thaw because an earlier one was frozen mid-request. */
  retriesAfterThaw: number;
  /** Blocking holds released at the deadline without runtimeDone. */
  runtimeDoneTimeouts: number;
  /** Holds given up because no telemetry came at all. */
  telemetrySilences: number;
  /** Blocking flushes not run: an earlier flush still busy at the deadline. */
  blockingFlushesSkipped: number;
  /** Flushes that had not returned well after their deadline and were no longer waited for. */
  flushesAbandoned: number;
  /** Time held after runtimeDone (grace + flush): what the extension added to billed duration. */
  postRuntimeMsTotal: number;
  /**
   * Holds shortened because the backend was degraded (throttling, failing, slow): the flush went on
   * in the background after at most degradedPostRuntimeMaxMs (and twice the healthy hold).
   */
  degradedHolds: number;
  graceMsTotal: number;
  exportedItems: number;
  droppedItems: number;
  deadlineHits: number;
}

type FlushKind = 'blocking' | 'background' | 'final';

interface FlushOutcome {
  report: FlushReport;
  /** A target did not return by the wait limit. */
  abandoned: boolean;
}

interface RequestSeen {
  startMs?: number;
  runtimeDoneMs?: number;
}

type HoldEnd = 'arrived' | 'deadline' | 'silent' | 'shutdown';

/** Requests remembered for runtimeDone arriving before its INVOKE is handled. */
const REQUESTS_REMEMBERED = 32;
/** A flush still running this long after its deadline is abandoned (the pipeline should not hang). */
const ABANDON_AFTER_DEADLINE_MS = 2_000;
/** Consecutive failed flushes that make blocking pointless. */
const UNHEALTHY_AFTER_FAILURES = 2;
/** Consecutive background flushes cut by freezes before adaptive mode blocks for a while. */
const CUTS_BEFORE_BLOCKING = 2;
const CUT_COOLDOWN_INVOCATIONS = 8;
/** After a thaw not seen through an INVOKE, how long to let the INVOKE arrive before flushing alone. */
const THAW_SETTLE_MS = 50;
const EMPTY_REPORT: FlushReport = {
  exportedItems: 0,
  exportedBytes: 0,
  requests: 0,
  retryLaterItems: 0,
  droppedItems: 0,
  durationMs: 0,
  deadlineHit: false,
};

export class FlushManager {
  readonly strategy: FlushStrategy;
  private readonly strategyText: string;
  readonly settings: FlushSettings;
  readonly managedInstances: boolean;
  private readonly targets: readonly FlushTarget[];
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly logger: Log | undefined;
  private readonly options: FlushManagerOptions;
  private readonly arrivals: ArrivalEstimator;
  private readonly counters: Omit<FlushStats, 'decisions'>;
  private readonly decisionCounts: Record<string, number> = {};

  // Data not yet flushed.
  private dirtySinceMs: number | undefined;
  private lastFlushStartMs: number | undefined;
  // Flush runner.
  private inFlight: Promise<FlushOutcome> | undefined;
  private queuedReason: string | undefined;
  private blockingWaiting = false;
  /** A background flush start is deferred to the end of the current callbacks. */
  private startPending = false;
  // Learned about the environment.
  private failureStreak = 0;
  /** INVOKEs since a flush last told whether the backend works (flushes cut by freezes do not). */
  private invocationsSinceHealthSignal = 0;
  private consecutiveCuts = 0;
  private cutCooldown = 0;
  private invocationDurationMs: number | undefined;
  private flushDurationMs: number | undefined;
  /** Moving mean of the post-runtime hold (grace + flush) while the backend was healthy. */
  private healthyPostRuntimeMs: number | undefined;
  /** The last flush that heard from the backend saw retryable failures or was slow. */
  private backendDegraded = false;
  private warnedDegraded = false;
  private runtimeDoneReliable: boolean;
  private warnedNoRuntimeDone = false;
  // Liveness and thaws.
  private lastAliveMs: number;
  private lastThawMs = Number.NEGATIVE_INFINITY;
  private holding = false;
  private lastMode: FlushMode | undefined;
  /** The invocation whose runtimeDone has not been seen yet. */
  private running: { requestId: string; startMs: number } | undefined;
  // Telemetry and receiver.
  private readonly requests = new Map<string, RequestSeen>();
  private readonly runtimeDoneWaiters = new Map<string, (end: HoldEnd) => void>();
  private lastTelemetryMs = Number.NEGATIVE_INFINITY;
  private receiverEverActive = false;
  private lastReceiverActivityMs = Number.NEGATIVE_INFINITY;
  // Timers.
  private tick: { handle: TimerHandle; dueMs: number } | undefined;
  private started = false;
  private stopped = false;
  private shuttingDown = false;
  private lastDecisionRecord: DecisionRecord | undefined;

  constructor(options: FlushManagerOptions) {
    this.options = options;
    this.strategy =
      typeof options.strategy === 'string' || options.strategy === undefined
        ? parseFlushStrategy(options.strategy)
        : options.strategy;
    this.strategyText = formatFlushStrategy(this.strategy);
    this.settings = resolveFlushSettings(options.settings);
    this.targets = isTargetList(options.target) ? options.target : [options.target];
    if (this.targets.length === 0) throw new TypeError('FlushManager needs at least one flush target');
    this.managedInstances = options.managedInstances ?? false;
    this.clock = options.clock ?? systemClock;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.logger = options.logger;
    this.runtimeDoneReliable = !this.managedInstances && (options.runtimeDoneAvailable ?? true);
    this.arrivals = new ArrivalEstimator({ longGapMs: stalenessHorizonMs(this.settings) });
    this.lastAliveMs = this.clock.now();
    this.counters = {
      blockingFlushes: 0,
      backgroundFlushes: 0,
      finalFlushes: 0,
      thawsDetected: 0,
      retriesAfterThaw: 0,
      runtimeDoneTimeouts: 0,
      telemetrySilences: 0,
      blockingFlushesSkipped: 0,
      flushesAbandoned: 0,
      postRuntimeMsTotal: 0,
      degradedHolds: 0,
      graceMsTotal: 0,
      exportedItems: 0,
      droppedItems: 0,
      deadlineHits: 0,
    };
  }

  /** Arms the timers the strategy needs (Managed Instances: the background cadence). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.logger?.debug('flush manager started', {
      strategy: this.strategyText,
      managedInstances: this.managedInstances,
      tickIntervalMs: this.tickIntervalMs(),
    });
    this.armTick();
  }

  /** Cancels timers; pending data stays with the pipeline. */
  stop(): void {
    this.stopped = true;
    this.cancelTick();
  }

  get stats(): FlushStats {
    return { ...this.counters, decisions: { ...this.decisionCounts } };
  }

  get lastDecision(): DecisionRecord | undefined {
    return this.lastDecisionRecord;
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
    const thawed = this.noteAlive(now, 'telemetry');
    this.lastTelemetryMs = now;
    for (const event of events) {
      if (event.type === 'platform.start') {
        this.seen(event.requestId).startMs = now;
      } else if (event.type === 'platform.runtimeDone') {
        this.seen(event.requestId).runtimeDoneMs = now;
        if (this.running?.requestId === event.requestId) this.running = undefined;
        if (!this.runtimeDoneReliable && !this.managedInstances) {
          this.runtimeDoneReliable = true;
          this.logger?.debug('runtimeDone events arrive again: end-of-invocation flushes re-enabled');
        }
        if (event.durationMs !== undefined && Number.isFinite(event.durationMs)) {
          this.invocationDurationMs = ewma(this.invocationDurationMs, event.durationMs, 0.3);
        }
        this.runtimeDoneWaiters.get(event.requestId)?.('arrived');
      }
    }
    this.markDirty(now);
    if (thawed) this.afterThaw();
    this.checkBytes();
  }

  /** The local receiver accepted an export from the function. */
  onFunctionExport(_signal?: Signal): void {
    const now = this.clock.now();
    const thawed = this.noteAlive(now, 'receiver');
    this.receiverEverActive = true;
    this.lastReceiverActivityMs = now;
    this.markDirty(now);
    if (thawed) this.afterThaw();
    this.checkBytes();
  }

  /** Flush now in the background (e.g. the function asked for it); resolves when the flushing settles. */
  async forceFlush(reason = 'force'): Promise<void> {
    if (this.shuttingDown) return;
    this.noteAlive(this.clock.now(), 'force');
    this.requestBackgroundFlush(reason, true);
    await this.whenIdle(
      this.clock.now() + this.settings.backgroundFlushTimeoutMs + ABANDON_AFTER_DEADLINE_MS,
    );
  }

  /**
   * SHUTDOWN: stop intake, drain (bounded), flush everything with final=true, and resolve before
   * deadlineMs − shutdownMarginMs whatever the pipeline does. Never rejects.
   */
  async onShutdown(event: ShutdownEvent): Promise<ShutdownSummary> {
    const startMs = this.clock.now();
    this.shuttingDown = true;
    this.cancelTick();
    for (const release of [...this.runtimeDoneWaiters.values()]) release('shutdown');
    const deadline = event.deadlineMs - this.settings.shutdownMarginMs;
    const summary: ShutdownSummary = {
      reason: event.shutdownReason,
      exportedItems: 0,
      exportedBytes: 0,
      droppedItems: 0,
      unsentItems: 0,
      unsentBytes: 0,
      deadlineHit: false,
      timedOut: false,
      durationMs: 0,
    };
    try {
      const stopIntake = this.callHook('onStopIntake', () => this.options.onStopIntake?.());
      if (stopIntake) await this.within(stopIntake, Math.min(deadline, startMs + this.settings.drainMaxMs));
      const drainHook = this.options.drain;
      if (drainHook) {
        const now = this.clock.now();
        // Drain gets at most 40 % of what is left: the flush matters more.
        const until = Math.min(
          deadline,
          now + this.settings.drainMaxMs,
          now + Math.max(0, deadline - now) * 0.4,
        );
        const drained = this.callHook('drain', () => drainHook(until));
        if (drained) await this.within(drained, until);
      }
      // A background flush may hold chunks; give it a quarter of the remaining time, then go anyway.
      const now = this.clock.now();
      await this.whenIdle(now + Math.max(0, deadline - now) * 0.25);
      this.counters.finalFlushes++;
      const outcome = await this.flushTargets(
        { deadlineMs: deadline, reason: 'shutdown', final: true },
        deadline,
      );
      const report = outcome.report;
      this.account(report);
      const left = this.safePending();
      summary.exportedItems = report.exportedItems;
      summary.exportedBytes = report.exportedBytes;
      summary.droppedItems = report.droppedItems;
      summary.unsentItems = Math.max(report.retryLaterItems, left.items);
      summary.unsentBytes = left.bytes;
      summary.deadlineHit = report.deadlineHit || outcome.abandoned;
      summary.timedOut = outcome.abandoned;
    } catch (error) {
      this.logger?.warn('flush manager failed on SHUTDOWN', { error: String(error) });
    }
    summary.durationMs = this.clock.now() - startMs;
    this.stop();
    return summary;
  }

  // ---- INVOKE -------------------------------------------------------------------------------

  private async handleInvoke(event: InvokeEvent): Promise<void> {
    if (this.shuttingDown) return;
    const now = this.clock.now();
    this.noteAlive(now, 'invoke');
    if (this.managedInstances) {
      // Not expected there (INVOKE is refused); if it comes, data is flushed on the timer.
      this.markDirty(now);
      return;
    }
    this.arrivals.observe(now);
    this.invocationsSinceHealthSignal++;
    const backgroundCut = this.cutCooldown > 0;
    const decision = decide({
      strategy: this.strategy,
      nowMs: now,
      arrivals: this.arrivals.estimates(),
      pending: this.safePending(),
      dirtySinceMs: this.dirtySinceMs,
      lastFlushStartMs: this.lastFlushStartMs,
      recentThaw: now - this.lastThawMs <= this.settings.thawJumpMs,
      // While failing, do not hold; but if background probes keep being cut by freezes, let a normal
      // decision (possibly a hold, which a freeze cannot cut) find out whether the backend is back.
      backendUnhealthy:
        this.failureStreak >= UNHEALTHY_AFTER_FAILURES &&
        this.invocationsSinceHealthSignal <= UNHEALTHY_AFTER_FAILURES * 2,
      runtimeDoneReliable: this.runtimeDoneReliable,
      backgroundCut,
      invocationDurationMs: this.invocationDurationMs,
      flushDurationMs: this.flushDurationMs,
      settings: this.settings,
    });
    if (decision.reason === 'background-cut') this.cutCooldown--;
    this.record(decision, event.requestId, now);
    this.running = { requestId: event.requestId, startMs: now };
    this.lastMode = decision.mode;
    if (decision.startFlush !== undefined) this.requestBackgroundFlush(decision.startFlush);
    // This invocation will produce data (platform events at least) whatever pending() says.
    this.markDirty(now);
    if (decision.mode === 'background') return;
    await this.holdForEndFlush(event, now);
  }

  private async holdForEndFlush(event: InvokeEvent, invokeMs: number): Promise<void> {
    this.holding = true;
    const hardDeadline = event.deadlineMs - this.settings.deadlineMarginMs;
    try {
      const end = await this.waitForRuntimeDone(event.requestId, invokeMs, hardDeadline);
      if (end === 'shutdown') return;
      if (end === 'deadline') {
        // The function is running into its timeout (SHUTDOWN follows and flushes), or the feed lost
        // the event. Without any telemetry since the INVOKE, it is the feed.
        this.counters.runtimeDoneTimeouts++;
        const feedSilent = !this.telemetrySince(event.requestId, invokeMs);
        this.logger?.warn('no runtimeDone before the invocation deadline; releasing without flushing', {
          requestId: event.requestId,
          feedSilent,
        });
        if (feedSilent) this.markRuntimeDoneUnreliable();
        return;
      }
      if (end === 'silent') {
        this.counters.telemetrySilences++;
        this.markRuntimeDoneUnreliable();
        this.requestBackgroundFlush('no-runtime-done');
        return;
      }
      const doneMs = this.clock.now();
      if (this.backendDegraded) {
        await this.degradedHold(event.requestId, doneMs, hardDeadline);
        return;
      }
      await this.grace(hardDeadline);
      this.counters.graceMsTotal += this.clock.now() - doneMs;
      const flushDeadline = Math.min(hardDeadline, this.clock.now() + this.settings.blockingFlushTimeoutMs);
      const failed = await this.blockingFlush('end-of-invocation', flushDeadline, hardDeadline, doneMs);
      const heldMs = this.clock.now() - doneMs;
      this.counters.postRuntimeMsTotal += heldMs;
      if (!failed && !this.backendDegraded) {
        this.healthyPostRuntimeMs = ewma(this.healthyPostRuntimeMs, heldMs, 0.3);
      }
    } finally {
      this.holding = false;
      this.lastAliveMs = this.clock.now();
      // The freeze follows; leave no timer behind unless there is something to flush after it.
      if (!this.hasData()) this.cancelTick();
    }
  }

  private waitForRuntimeDone(requestId: string, invokeMs: number, hardDeadline: number): Promise<HoldEnd> {
    if (this.requests.get(requestId)?.runtimeDoneMs !== undefined) return Promise.resolve('arrived');
    if (this.clock.now() >= hardDeadline) return Promise.resolve('deadline');
    return new Promise<HoldEnd>((resolve) => {
      const timers: TimerHandle[] = [];
      const finish = (end: HoldEnd): void => {
        if (this.runtimeDoneWaiters.get(requestId) !== finish) return;
        this.runtimeDoneWaiters.delete(requestId);
        for (const timer of timers) timer.cancel();
        resolve(end);
      };
      this.runtimeDoneWaiters.set(requestId, finish);
      timers.push(this.scheduler.setTimeout(() => finish('deadline'), hardDeadline - this.clock.now()));
      const silenceCheckMs = invokeMs + this.settings.telemetrySilenceMs;
      if (silenceCheckMs < hardDeadline) {
        timers.push(
          this.scheduler.setTimeout(() => {
            if (!this.telemetrySince(requestId, invokeMs)) finish('silent');
          }, silenceCheckMs - this.clock.now()),
        );
      }
    });
  }

  /** Waits until the receiver has been quiet for graceQuietMs, at most graceMaxMs. */
  private async grace(hardDeadline: number): Promise<void> {
    if (!this.receiverEverActive) return; // The function exports nothing over OTLP: no one to wait for.
    const { graceQuietMs, graceMaxMs } = this.settings;
    const until = Math.min(hardDeadline, this.clock.now() + graceMaxMs);
    for (;;) {
      const now = this.clock.now();
      const quietFor = now - this.lastReceiverActivityMs;
      if (quietFor >= graceQuietMs || now >= until) return;
      await this.sleep(Math.min(graceQuietMs - quietFor, until - now));
    }
  }

  private async blockingFlush(
    reason: string,
    flushDeadline: number,
    hardDeadline: number,
    doneMs?: number,
  ): Promise<boolean> {
    let failed = false;
    this.blockingWaiting = true;
    try {
      await this.whenIdle(flushDeadline);
      if (this.inFlight !== undefined || this.clock.now() >= flushDeadline) {
        this.counters.blockingFlushesSkipped++;
        this.logger?.debug('blocking flush skipped: an earlier flush is still running', { reason });
        return failed;
      }
      // The backend failing during the flush (429, 5xx, no answer) ends the wait early: it may add
      // only a short hold to the invocation; the flush itself goes on in the background.
      let degraded: (() => void) | undefined;
      const degradedSeen = new Promise<'degraded'>((resolve) => {
        degraded = () => resolve('degraded');
      });
      const onRetryableFailure = (): void => {
        failed = true;
        degraded?.();
      };
      const flushing = this.startFlush(
        'blocking',
        reason,
        flushDeadline,
        doneMs === undefined ? undefined : onRetryableFailure,
      );
      this.blockingWaiting = false;
      // The pipeline honours the deadline; this bound is for a pipeline that does not.
      const boundMs = Math.min(hardDeadline, flushDeadline + 100);
      const first = await this.within(Promise.race([flushing, degradedSeen]), boundMs);
      if (first.settled && first.value === 'degraded' && doneMs !== undefined) {
        const limitMs = this.degradedHoldLimitMs();
        this.counters.degradedHolds++;
        const result = await this.within(flushing, Math.min(boundMs, doneMs + limitMs));
        this.logger?.debug('backend degraded during the end flush: invocation released early', {
          reason,
          heldMs: this.clock.now() - doneMs,
          limitMs,
          flushStillRunning: !result.settled,
        });
      }
      return failed;
    } finally {
      this.blockingWaiting = false;
      if (this.inFlight === undefined && this.queuedReason !== undefined && !this.shuttingDown) {
        this.requestBackgroundFlush(this.queuedReason);
      }
    }
  }

  private noteDegraded(degraded: boolean, fields: Record<string, unknown>): void {
    if (degraded !== this.backendDegraded) {
      const level = degraded && !this.warnedDegraded ? 'warn' : 'debug';
      if (degraded) this.warnedDegraded = true;
      this.logger?.[level](
        degraded
          ? 'backend degraded (throttling, failing or slow): invocations are held at most a short while, the rest is flushed in the background'
          : 'backend healthy again: end-of-invocation flushes are waited for as usual',
        { ...fields, holdLimitMs: this.degradedHoldLimitMs() },
      );
    }
    this.backendDegraded = degraded;
  }

  /** The most a degraded backend may add after runtimeDone: twice the healthy hold, within the setting. */
  degradedHoldLimitMs(): number {
    const cap = this.settings.degradedPostRuntimeMaxMs;
    return this.healthyPostRuntimeMs === undefined ? cap : Math.min(cap, 2 * this.healthyPostRuntimeMs);
  }

  /**
   * The end flush while the backend is degraded: it starts as usual but the invocation is released
   * after the hold limit. What is not delivered by then goes on in the background, across the
   * freeze if need be, and any rest is sent by later flushes (the next thaw) within the staleness
   * bound.
   */
  private async degradedHold(requestId: string, doneMs: number, hardDeadline: number): Promise<void> {
    const limitMs = this.degradedHoldLimitMs();
    const releaseMs = Math.min(hardDeadline, doneMs + limitMs);
    this.counters.degradedHolds++;
    // The grace shares the limit: exports on the wire still get in if they arrive in time.
    await this.grace(releaseMs);
    this.counters.graceMsTotal += this.clock.now() - doneMs;
    let started = false;
    try {
      if (this.inFlight !== undefined) {
        // An earlier flush is still at it (often waiting out a Retry-After): waiting for it would
        // only bill the function. This invocation's data follows it in the background.
        this.requestBackgroundFlush('degraded-backend');
        return;
      }
      this.blockingWaiting = true;
      if (!this.shuttingDown) {
        // As an end flush: an unreachable backend gets one attempt, no backoff (the next flush tries
        // again); a throttling one is waited out within the blocking cap, after the release.
        const flushing = this.startFlush(
          'blocking',
          'degraded-backend',
          this.clock.now() + this.settings.blockingFlushTimeoutMs,
        );
        started = true;
        this.blockingWaiting = false;
        await this.within(flushing, releaseMs);
      }
    } finally {
      this.blockingWaiting = false;
      const heldMs = this.clock.now() - doneMs;
      this.counters.postRuntimeMsTotal += heldMs;
      this.logger?.debug('backend degraded: invocation released early, the flush goes on in the background', {
        requestId,
        heldMs,
        limitMs,
        healthyPostRuntimeMs: this.healthyPostRuntimeMs,
        flushStarted: started,
        flushStillRunning: this.inFlight !== undefined,
      });
    }
  }

  private telemetrySince(requestId: string, invokeMs: number): boolean {
    const seen = this.requests.get(requestId);
    return (
      seen?.startMs !== undefined || seen?.runtimeDoneMs !== undefined || this.lastTelemetryMs >= invokeMs
    );
  }

  private markRuntimeDoneUnreliable(): void {
    this.runtimeDoneReliable = false;
    if (!this.warnedNoRuntimeDone) {
      this.warnedNoRuntimeDone = true;
      this.logger?.warn(
        'Telemetry API events are not arriving: flushing in the background until platform.runtimeDone is seen again',
      );
    }
  }

  private seen(requestId: string): RequestSeen {
    let entry = this.requests.get(requestId);
    if (entry === undefined) {
      entry = {};
      this.requests.set(requestId, entry);
      if (this.requests.size > REQUESTS_REMEMBERED) {
        const oldest = this.requests.keys().next();
        if (!oldest.done) this.requests.delete(oldest.value);
      }
    }
    return entry;
  }

  private record(decision: FlushDecision, requestId: string, atMs: number): void {
    const record: DecisionRecord = {
      ...decision,
      atMs,
      requestId,
      strategy: this.strategyText,
    };
    this.lastDecisionRecord = record;
    const key = `${decision.mode}/${decision.reason}`;
    this.decisionCounts[key] = (this.decisionCounts[key] ?? 0) + 1;
    this.logger?.debug('flush decision', record as unknown as Record<string, unknown>);
    if (this.options.onDecision) this.callHook('onDecision', () => this.options.onDecision?.(record));
  }

  // ---- thaws and timers -----------------------------------------------------------------------

  /** Any callback proves the environment runs; one after a long silence means it was frozen. */
  private noteAlive(now: number, source: string): boolean {
    const silentFor = now - this.lastAliveMs;
    this.lastAliveMs = now;
    if (this.holding || this.shuttingDown || silentFor <= this.settings.thawJumpMs) return false;
    this.thawDetected(now, source, silentFor);
    return true;
  }

  private thawDetected(now: number, source: string, frozenForMs: number): void {
    this.lastThawMs = now;
    this.counters.thawsDetected++;
    this.logger?.debug('thaw detected', { source, frozenForMs });
  }

  /**
   * After a thaw seen by a timer, the telemetry listener or the receiver. On demand, a thaw means an
   * INVOKE (or SHUTDOWN) is being delivered right now, and its decision flushes what waited through
   * the freeze, in one request together with what Lambda hands over meanwhile. A short check
   * afterwards covers a thaw that brings neither. Managed Instances flush at once.
   */
  private afterThaw(): void {
    if (this.managedInstances) {
      if (this.hasData()) this.requestBackgroundFlush('thaw');
      else this.armTick();
      return;
    }
    const thawMs = this.lastThawMs;
    this.scheduler.setTimeout(() => {
      if (this.stopped || this.shuttingDown) return;
      const flushedSince = this.lastFlushStartMs !== undefined && this.lastFlushStartMs >= thawMs;
      // Blocking mode: the end-of-invocation flush takes it; the tick covers a long invocation.
      if (!flushedSince && this.lastMode !== 'blocking' && this.hasData())
        this.requestBackgroundFlush('thaw');
      else this.armTick();
    }, THAW_SETTLE_MS);
  }

  private tickIntervalMs(): number | undefined {
    const s = this.strategy;
    const interval =
      s.kind === 'periodic' || s.kind === 'continuous'
        ? s.intervalMs
        : s.kind === 'end'
          ? s.backstopMs
          : undefined;
    if (this.managedInstances) return interval ?? this.settings.managedInstancesIntervalMs;
    if (s.kind === 'adaptive') return this.settings.backgroundIntervalMs;
    return interval;
  }

  /** Flush cadence, stretched while the backend keeps failing (the pipeline backs off too). */
  private effectiveIntervalMs(base: number): number {
    if (this.failureStreak === 0) return base;
    return Math.min(
      base * 2 ** Math.min(this.failureStreak, 5),
      Math.max(base, this.settings.maxStalenessMs),
    );
  }

  private armTick(): void {
    if (!this.started || this.stopped || this.shuttingDown || this.tick !== undefined) return;
    const interval = this.tickIntervalMs();
    if (interval === undefined || !this.hasData()) return;
    const delay = this.effectiveIntervalMs(interval);
    const dueMs = this.clock.now() + delay;
    const handle = this.scheduler.setTimeout(() => this.onTick(dueMs), delay);
    this.tick = { handle, dueMs };
  }

  private cancelTick(): void {
    this.tick?.handle.cancel();
    this.tick = undefined;
  }

  private onTick(dueMs: number): void {
    this.tick = undefined;
    if (this.stopped || this.shuttingDown) return;
    const now = this.clock.now();
    const late = now - dueMs;
    if (late > this.settings.thawJumpMs && !this.holding && this.lastThawMs < dueMs) {
      // Fired late: the environment was frozen. Not a real tick.
      this.lastAliveMs = now;
      this.thawDetected(now, 'timer', late);
      this.afterThaw();
      return;
    }
    this.lastAliveMs = now;
    this.evaluateTick(now);
    this.armTick();
  }

  private evaluateTick(now: number): void {
    const pending = this.safePending();
    if (pending.items === 0 && this.dirtySinceMs === undefined) return;
    if (pending.bytes >= this.settings.maxPendingBytes) {
      this.requestBackgroundFlush('bytes');
      return;
    }
    const base = this.tickIntervalMs();
    if (base === undefined) return;
    const since =
      this.lastFlushStartMs === undefined ? Number.POSITIVE_INFINITY : now - this.lastFlushStartMs;
    if (since < this.effectiveIntervalMs(base)) return;
    if (this.strategy.kind === 'periodic' && !this.managedInstances) {
      // Periodic flushes belong at the end of invocations; the timer only covers one running long.
      if (this.running === undefined || now - this.running.startMs < base) return;
    }
    if (this.strategy.kind === 'adaptive' && !this.managedInstances) {
      // Data younger than an interval will go with the next INVOKE's or end-of-invocation flush.
      const oldest = minDefined(pending.oldestCreatedAtMs, this.dirtySinceMs);
      if (oldest !== undefined && now - oldest < this.settings.backgroundIntervalMs) return;
    }
    this.requestBackgroundFlush(this.strategy.kind === 'end' ? 'backstop' : 'interval');
  }

  private checkBytes(): void {
    if (this.shuttingDown) return;
    if (this.safePending().bytes >= this.settings.maxPendingBytes) this.requestBackgroundFlush('bytes');
  }

  private markDirty(now: number): void {
    if (this.dirtySinceMs === undefined) this.dirtySinceMs = now;
    this.armTick();
  }

  private hasData(): boolean {
    return this.dirtySinceMs !== undefined || this.safePending().items > 0;
  }

  // ---- flush runner ---------------------------------------------------------------------------

  /**
   * Starts a background flush once the current callbacks are done (scheduler.defer): collecting and
   * encoding are synchronous, and an INVOKE handled in the same turn, or one readable at a thaw,
   * must reach /event/next first. `now`: start in this turn (a caller waits for the flush).
   */
  private requestBackgroundFlush(reason: StartFlushReason | DecisionReason | string, now = false): void {
    if (this.shuttingDown) return;
    if (this.inFlight !== undefined || this.blockingWaiting) {
      // The running flush takes everything produced before it started; queue only for newer data.
      if (this.dirtySinceMs !== undefined) this.queuedReason ??= reason;
      return;
    }
    if (now || this.scheduler.defer === undefined) {
      this.startPending = false;
      void this.startFlush('background', reason, this.clock.now() + this.settings.backgroundFlushTimeoutMs);
      return;
    }
    if (this.startPending) return; // the start on its way takes everything
    this.startPending = true;
    this.scheduler.defer(() => {
      if (!this.startPending) return; // started meanwhile
      this.startPending = false;
      this.requestBackgroundFlush(reason, true);
    });
  }

  private startFlush(
    kind: FlushKind,
    reason: string,
    deadlineMs: number,
    onRetryableFailure?: () => void,
  ): Promise<FlushOutcome> {
    const startedMs = this.clock.now();
    this.lastFlushStartMs = startedMs;
    this.dirtySinceMs = undefined;
    this.queuedReason = undefined;
    if (kind === 'blocking') this.counters.blockingFlushes++;
    else this.counters.backgroundFlushes++;
    const request: FlushRequest = {
      deadlineMs,
      reason,
      ...(kind === 'blocking' && { inInvocationPath: true }),
      // Known as soon as one attempt fails, not when the flush ends (a Retry-After may keep it for
      // seconds): the next invocation must not wait for it.
      onRetryableFailure: () => {
        this.noteDegraded(true, { kind, reason, failedAttempts: 1 });
        onRetryableFailure?.();
      },
    };
    const flushing = this.flushTargets(request, deadlineMs + ABANDON_AFTER_DEADLINE_MS).then((outcome) => {
      if (this.inFlight === flushing) this.inFlight = undefined;
      this.afterFlush(kind, reason, startedMs, deadlineMs, outcome);
      return outcome;
    });
    this.inFlight = flushing;
    return flushing;
  }

  private afterFlush(
    kind: FlushKind,
    reason: string,
    startedMs: number,
    deadlineMs: number,
    outcome: FlushOutcome,
  ): void {
    const now = this.clock.now();
    const report = outcome.report;
    this.account(report);
    // A thaw seen while it ran, or a return long after its deadline (a live pipeline returns on
    // time): it was frozen mid-request.
    const frozenMidFlush = this.lastThawMs > startedMs || now > deadlineMs + this.settings.thawJumpMs;
    if (!frozenMidFlush && !outcome.abandoned) {
      const durationMs = now - startedMs;
      const heard = report.requests > 0 || (report.failedAttempts ?? 0) > 0;
      if (heard) {
        // Slow: far beyond what a healthy flush took (a flush of much more data also counts; that
        // errs on the side of not billing the function).
        const slow =
          this.flushDurationMs !== undefined &&
          !this.backendDegraded &&
          durationMs > 2 * this.flushDurationMs + this.settings.degradedPostRuntimeMaxMs;
        const degraded = (report.failedAttempts ?? 0) > 0 || slow;
        this.noteDegraded(degraded, { failedAttempts: report.failedAttempts ?? 0, durationMs, kind, reason });
      }
      if (!this.backendDegraded) this.flushDurationMs = ewma(this.flushDurationMs, durationMs, 0.3);
      if (report.retryLaterItems > 0 && report.exportedItems === 0) this.failureStreak++;
      else if (report.exportedItems > 0 || report.retryLaterItems === 0) this.failureStreak = 0;
      if (report.exportedItems > 0 || report.retryLaterItems > 0) this.invocationsSinceHealthSignal = 0;
    }
    if (kind === 'background') {
      const cut = frozenMidFlush && report.retryLaterItems > 0;
      this.consecutiveCuts = cut ? this.consecutiveCuts + 1 : 0;
      if (this.consecutiveCuts >= CUTS_BEFORE_BLOCKING) {
        this.cutCooldown = CUT_COOLDOWN_INVOCATIONS;
        this.consecutiveCuts = 0;
      }
    }
    if (outcome.abandoned) {
      this.counters.flushesAbandoned++;
      this.logger?.warn('a flush did not return after its deadline; no longer waiting for it', { reason });
    }
    this.logger?.debug('flush done', {
      kind,
      reason,
      durationMs: now - startedMs,
      exportedItems: report.exportedItems,
      retryLaterItems: report.retryLaterItems,
      droppedItems: report.droppedItems,
      frozenMidFlush,
    });
    if (this.shuttingDown || this.blockingWaiting) return;
    if (this.queuedReason !== undefined) {
      this.requestBackgroundFlush(this.queuedReason);
      return;
    }
    if (frozenMidFlush && this.safePending().items > 0) {
      this.counters.retriesAfterThaw++;
      this.requestBackgroundFlush('retry-after-thaw');
      return;
    }
    this.armTick();
  }

  private account(report: FlushReport): void {
    this.counters.exportedItems += report.exportedItems;
    this.counters.droppedItems += report.droppedItems;
    if (report.deadlineHit) this.counters.deadlineHits++;
  }

  /** Flushes every target in parallel; waits for each until waitUntilMs at most. */
  private async flushTargets(request: FlushRequest, waitUntilMs: number): Promise<FlushOutcome> {
    const settled = await Promise.all(
      this.targets.map((target) => {
        let flushing: Promise<FlushReport>;
        try {
          flushing = Promise.resolve(target.flush(request));
        } catch (error) {
          flushing = Promise.reject(error);
        }
        return this.within(
          flushing.catch((error: unknown): FlushReport => {
            this.logger?.warn('flush target failed', { error: String(error), reason: request.reason });
            return { ...EMPTY_REPORT, retryLaterItems: pendingItemsOf(target) };
          }),
          waitUntilMs,
        );
      }),
    );
    const report = { ...EMPTY_REPORT };
    let abandoned = false;
    for (const result of settled) {
      if (!result.settled) {
        abandoned = true;
        report.deadlineHit = true;
        continue;
      }
      const r = result.value;
      report.exportedItems += r.exportedItems;
      report.exportedBytes += r.exportedBytes;
      report.requests += r.requests;
      report.retryLaterItems += r.retryLaterItems;
      report.droppedItems += r.droppedItems;
      report.durationMs = Math.max(report.durationMs, r.durationMs);
      report.deadlineHit ||= r.deadlineHit;
      report.failedAttempts = (report.failedAttempts ?? 0) + (r.failedAttempts ?? 0);
    }
    return { report, abandoned };
  }

  /** Resolves when no flush is running, or at untilMs. */
  private async whenIdle(untilMs: number): Promise<void> {
    while (this.inFlight !== undefined && this.clock.now() < untilMs) {
      const result = await this.within(this.inFlight, untilMs);
      if (!result.settled) return;
    }
  }

  /**
   * Waits for a promise until untilMs. A timer that fires late means a freeze happened meanwhile:
   * the promise gets another thawJumpMs after the thaw to settle before it is given up.
   */
  private within<T>(
    promise: Promise<T>,
    untilMs: number,
  ): Promise<{ settled: true; value: T } | { settled: false }> {
    return new Promise((resolve) => {
      let done = false;
      let timer: TimerHandle | undefined;
      const arm = (untilMs: number): void => {
        // Lateness is measured from when the timer could first fire, not from a limit already past.
        const dueMs = Math.max(untilMs, this.clock.now());
        timer = this.scheduler.setTimeout(() => {
          const late = this.clock.now() - dueMs;
          if (late > this.settings.thawJumpMs) {
            arm(this.clock.now() + this.settings.thawJumpMs);
            return;
          }
          if (done) return;
          done = true;
          resolve({ settled: false });
        }, dueMs - this.clock.now());
      };
      promise.then(
        (value) => {
          if (done) return;
          done = true;
          timer?.cancel();
          resolve({ settled: true, value });
        },
        () => {
          if (done) return;
          done = true;
          timer?.cancel();
          resolve({ settled: false });
        },
      );
      arm(untilMs);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.setTimeout(resolve, ms));
  }

  private safePending(): PendingSummary {
    let items = 0;
    let bytes = 0;
    let oldest: number | undefined;
    for (const target of this.targets) {
      try {
        const p = target.pending();
        items += p.items;
        bytes += p.bytes;
        oldest = minDefined(oldest, p.oldestCreatedAtMs);
      } catch (error) {
        this.logger?.warn('flush target pending() failed', { error: String(error) });
      }
    }
    return { items, bytes, oldestCreatedAtMs: oldest };
  }

  /** Runs a user-supplied hook; returns its promise if any, never throws. */
  private callHook(name: string, hook: () => void | Promise<void>): Promise<void> | undefined {
    try {
      const result = hook();
      if (result instanceof Promise) {
        return result.catch((error: unknown) =>
          this.logger?.warn(`${name} hook failed`, { error: String(error) }),
        );
      }
    } catch (error) {
      this.logger?.warn(`${name} hook failed`, { error: String(error) });
    }
    return undefined;
  }
}

function isTargetList(target: FlushTarget | readonly FlushTarget[]): target is readonly FlushTarget[] {
  return Array.isArray(target);
}

function pendingItemsOf(target: FlushTarget): number {
  try {
    return target.pending().items;
  } catch {
    return 0;
  }
}

function ewma(previous: number | undefined, value: number, alpha: number): number {
  return previous === undefined ? value : alpha * value + (1 - alpha) * previous;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}
