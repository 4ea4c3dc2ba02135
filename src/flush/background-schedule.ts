// Flushes while the environment runs, off the invocation path: the strategy's timer (periodic,
// continuous, the end strategy's backstop, adaptive's check for data waiting too long, Managed
// Instances' cadence), the byte bound, and the flush after a thaw. Timers are armed only while there
// is something to flush: the environment is frozen between invocations, and a timer must not wake
// an idle one for nothing.

import type { Clock, Scheduler, TimerHandle } from '../model/time.js';
import type { BackendHealth } from './backend-health.js';
import type { FlushRunner } from './flush-runner.js';
import type { RuntimeDoneWatch } from './runtime-done.js';
import type { FlushSettings } from './settings.js';
import type { FlushStrategy } from './strategy.js';
import { type FlushTargets, minDefined } from './targets.js';
import type { ThawDetector } from './thaw-detector.js';

/** After a thaw not seen through an INVOKE, how long to let the INVOKE arrive before flushing alone. */
const THAW_SETTLE_MS = 50;

export interface BackgroundScheduleDeps {
  strategy: FlushStrategy;
  managedInstances: boolean;
  settings: FlushSettings;
  clock: Clock;
  scheduler: Scheduler;
  targets: FlushTargets;
  runner: FlushRunner;
  health: BackendHealth;
  thaw: ThawDetector;
  runtimeDone: RuntimeDoneWatch;
}

export class BackgroundSchedule {
  private started = false;
  private stopped = false;
  private tick: { handle: TimerHandle; dueMs: number } | undefined;
  /** The mode of the last INVOKE's decision. */
  lastMode: 'blocking' | 'background' | undefined;

  constructor(private readonly deps: BackgroundScheduleDeps) {}

  start(): void {
    this.started = true;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  /** The strategy's timer interval, if it has one. */
  intervalMs(): number | undefined {
    const { strategy: s, managedInstances, settings } = this.deps;
    const interval =
      s.kind === 'periodic' || s.kind === 'continuous'
        ? s.intervalMs
        : s.kind === 'end'
          ? s.backstopMs
          : undefined;
    if (managedInstances) return interval ?? settings.managedInstancesIntervalMs;
    if (s.kind === 'adaptive') return settings.backgroundIntervalMs;
    return interval;
  }

  arm(): void {
    const { runner, clock, scheduler } = this.deps;
    if (!this.started || this.stopped || runner.shuttingDown || this.tick !== undefined) return;
    const interval = this.intervalMs();
    if (interval === undefined || !this.hasData()) return;
    const delay = this.effectiveIntervalMs(interval);
    const dueMs = clock.now() + delay;
    const handle = scheduler.setTimeout(() => this.onTick(dueMs), delay);
    this.tick = { handle, dueMs };
  }

  cancel(): void {
    this.tick?.handle.cancel();
    this.tick = undefined;
  }

  hasData(): boolean {
    return this.deps.runner.dirtySinceMs !== undefined || this.deps.targets.pending().items > 0;
  }

  /** Pending bytes past the bound: flush now, whatever the strategy. */
  checkBytes(): void {
    const { runner, targets, settings } = this.deps;
    if (runner.shuttingDown) return;
    if (targets.pending().bytes >= settings.maxPendingBytes) runner.requestBackground('bytes');
  }

  /**
   * After a thaw seen by a timer, the telemetry listener or the receiver. On demand, a thaw means an
   * INVOKE (or SHUTDOWN) is being delivered right now, and its decision flushes what waited through
   * the freeze, in one request together with what Lambda hands over meanwhile. A short check
   * afterwards covers a thaw that brings neither. Managed Instances flush at once.
   */
  afterThaw(): void {
    const { runner, thaw, scheduler, managedInstances } = this.deps;
    if (managedInstances) {
      if (this.hasData()) runner.requestBackground('thaw');
      else this.arm();
      return;
    }
    const thawMs = thaw.lastThawMs;
    scheduler.setTimeout(() => {
      if (this.stopped || runner.shuttingDown) return;
      const flushedSince = runner.lastFlushStartMs !== undefined && runner.lastFlushStartMs >= thawMs;
      // Blocking mode: the end-of-invocation flush takes it; the tick covers a long invocation.
      if (!flushedSince && this.lastMode !== 'blocking' && this.hasData()) runner.requestBackground('thaw');
      else this.arm();
    }, THAW_SETTLE_MS);
  }

  /** Flush cadence, stretched while the backend keeps failing (the pipeline backs off too). */
  private effectiveIntervalMs(base: number): number {
    const { health, settings } = this.deps;
    if (health.failureStreak === 0) return base;
    return Math.min(base * 2 ** Math.min(health.failureStreak, 5), Math.max(base, settings.maxStalenessMs));
  }

  private onTick(dueMs: number): void {
    this.tick = undefined;
    if (this.stopped || this.deps.runner.shuttingDown) return;
    const now = this.deps.clock.now();
    if (this.deps.thaw.timerThawed(now, dueMs)) {
      // Fired late: the environment was frozen. Not a real tick.
      this.afterThaw();
      return;
    }
    this.evaluate(now);
    this.arm();
  }

  private evaluate(now: number): void {
    const { targets, runner, settings, strategy, managedInstances, runtimeDone } = this.deps;
    const pending = targets.pending();
    if (pending.items === 0 && runner.dirtySinceMs === undefined) return;
    if (pending.bytes >= settings.maxPendingBytes) {
      runner.requestBackground('bytes');
      return;
    }
    const base = this.intervalMs();
    if (base === undefined) return;
    const since =
      runner.lastFlushStartMs === undefined ? Number.POSITIVE_INFINITY : now - runner.lastFlushStartMs;
    if (since < this.effectiveIntervalMs(base)) return;
    if (strategy.kind === 'periodic' && !managedInstances) {
      // Periodic flushes belong at the end of invocations; the timer only covers one running long.
      const running = runtimeDone.running;
      if (running === undefined || now - running.startMs < base) return;
    }
    if (strategy.kind === 'adaptive' && !managedInstances) {
      // Data younger than an interval will go with the next INVOKE's or end-of-invocation flush.
      const oldest = minDefined(pending.oldestCreatedAtMs, runner.dirtySinceMs);
      if (oldest !== undefined && now - oldest < settings.backgroundIntervalMs) return;
    }
    runner.requestBackground(strategy.kind === 'end' ? 'backstop' : 'interval');
  }
}
