// Freeze detection. Nothing runs while Lambda freezes the environment, so a freeze is seen only
// afterwards: a callback after a long silence, or a timer that fires late, is a thaw.

import type { FlushCounters } from './stats.js';
import type { Log } from '../model/log.js';

export class ThawDetector {
  private lastAliveMs: number;
  /** When the last thaw was seen. */
  lastThawMs = Number.NEGATIVE_INFINITY;
  /**
   * An invocation is being held (/event/next not called): the environment cannot be frozen, and a
   * long wait is not a freeze.
   */
  holding = false;

  constructor(
    nowMs: number,
    private readonly thawJumpMs: number,
    private readonly counters: FlushCounters,
    private readonly logger: Log | undefined,
  ) {
    this.lastAliveMs = nowMs;
  }

  /** Any callback proves the environment runs; one after a long silence means it was frozen. */
  noteAlive(now: number, source: string, shuttingDown: boolean): boolean {
    const silentFor = now - this.lastAliveMs;
    this.lastAliveMs = now;
    if (this.holding || shuttingDown || silentFor <= this.thawJumpMs) return false;
    this.detected(now, source, silentFor);
    return true;
  }

  /** Proof of life that is never a thaw (a hold just ended, a timer on time). */
  alive(now: number): void {
    this.lastAliveMs = now;
  }

  /** A timer due at dueMs fired now: late beyond the jump (and not explained by a hold), a thaw. */
  timerThawed(now: number, dueMs: number): boolean {
    const late = now - dueMs;
    this.lastAliveMs = now;
    if (late <= this.thawJumpMs || this.holding || this.lastThawMs >= dueMs) return false;
    this.detected(now, 'timer', late);
    return true;
  }

  /** A thaw within the last thawJumpMs. */
  recent(now: number): boolean {
    return now - this.lastThawMs <= this.thawJumpMs;
  }

  private detected(now: number, source: string, frozenForMs: number): void {
    this.lastThawMs = now;
    this.counters.thawsDetected++;
    this.logger?.debug('thaw detected', { source, frozenForMs });
  }
}
