// What the flushes have taught about the backend and the environment: whether the backend fails,
// throttles or is slow (degraded), how long a healthy flush and hold take, and whether background
// flushes keep being cut by freezes. The decision and the holds read it.

import type { FlushReport } from '../model/flush-contract.js';
import type { FlushSettings } from './settings.js';
import type { Log } from '../model/log.js';
import { ewma } from './waiting.js';

/** Consecutive failed flushes that make blocking pointless. */
const UNHEALTHY_AFTER_FAILURES = 2;
/** Consecutive background flushes cut by freezes before adaptive mode blocks for a while. */
const CUTS_BEFORE_BLOCKING = 2;
const CUT_COOLDOWN_INVOCATIONS = 8;

export type FlushKind = 'blocking' | 'background' | 'final';

export class BackendHealth {
  /** Consecutive flushes that delivered nothing and left data to retry. */
  failureStreak = 0;
  /** Moving mean of a healthy flush's duration (flushes that sent nothing do not count). */
  flushDurationMs: number | undefined;
  /** Moving mean of the post-runtime hold (grace + flush) while the backend was healthy. */
  healthyPostRuntimeMs: number | undefined;
  /** The last flush that heard from the backend saw retryable failures or was slow. */
  degraded = false;
  private warnedDegraded = false;
  /** INVOKEs since a flush last told whether the backend works (flushes cut by freezes do not). */
  private invocationsSinceHealthSignal = 0;
  private consecutiveCuts = 0;
  private cutCooldown = 0;

  constructor(
    private readonly settings: FlushSettings,
    private readonly logger: Log | undefined,
  ) {}

  onInvoke(): void {
    this.invocationsSinceHealthSignal++;
  }

  /**
   * While failing, do not hold; but if background probes keep being cut by freezes, let a normal
   * decision (possibly a hold, which a freeze cannot cut) find out whether the backend is back.
   */
  get unhealthy(): boolean {
    return (
      this.failureStreak >= UNHEALTHY_AFTER_FAILURES &&
      this.invocationsSinceHealthSignal <= UNHEALTHY_AFTER_FAILURES * 2
    );
  }

  /** Background flushes were cut by freezes lately: adaptive mode holds for a few invocations. */
  get backgroundCut(): boolean {
    return this.cutCooldown > 0;
  }

  /** One invocation of the cut cooldown was spent on a blocking decision. */
  cutCooldownUsed(): void {
    this.cutCooldown--;
  }

  /** A healthy hold took heldMs after runtimeDone. */
  healthyHold(heldMs: number): void {
    this.healthyPostRuntimeMs = ewma(this.healthyPostRuntimeMs, heldMs, 0.3);
  }

  /** The most a degraded backend may add after runtimeDone: twice the healthy hold, within the setting. */
  holdLimitMs(): number {
    const cap = this.settings.degradedPostRuntimeMaxMs;
    return this.healthyPostRuntimeMs === undefined ? cap : Math.min(cap, 2 * this.healthyPostRuntimeMs);
  }

  noteDegraded(degraded: boolean, fields: Record<string, unknown>): void {
    if (degraded !== this.degraded) {
      const level = degraded && !this.warnedDegraded ? 'warn' : 'debug';
      if (degraded) this.warnedDegraded = true;
      this.logger?.[level](
        degraded
          ? 'backend degraded (throttling, failing or slow): invocations are held at most a short while, the rest is flushed in the background'
          : 'backend healthy again: end-of-invocation flushes are waited for as usual',
        { ...fields, holdLimitMs: this.holdLimitMs() },
      );
    }
    this.degraded = degraded;
  }

  /** Learns from a finished flush; frozen or abandoned flushes say nothing about the backend. */
  learn(
    kind: FlushKind,
    reason: string,
    durationMs: number,
    report: FlushReport,
    frozenMidFlush: boolean,
    abandoned: boolean,
  ): void {
    if (!frozenMidFlush && !abandoned) {
      const heard = report.requests > 0 || (report.failedAttempts ?? 0) > 0;
      if (heard) {
        // Slow: far beyond what a healthy flush took (a flush of much more data also counts; that
        // errs on the side of not billing the function).
        const slow =
          this.flushDurationMs !== undefined &&
          !this.degraded &&
          durationMs > 2 * this.flushDurationMs + this.settings.degradedPostRuntimeMaxMs;
        const degraded = (report.failedAttempts ?? 0) > 0 || slow;
        this.noteDegraded(degraded, { failedAttempts: report.failedAttempts ?? 0, durationMs, kind, reason });
        // Only a flush that talked to the backend says how long one takes: an empty one (1 ms) taught
        // a baseline that made the first real flush look "slow".
        if (!this.degraded) this.flushDurationMs = ewma(this.flushDurationMs, durationMs, 0.3);
      }
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
  }
}
