// A deterministic clock and scheduler for replaying invocation patterns without sleeping. It can be
// frozen like a Lambda environment: time moves, timers do not fire; on thaw the overdue ones fire
// at once, late, as real timers do after SIGCONT.

import type { Clock, Scheduler, TimerHandle } from '../../src/model/time.js';

interface VirtualTimer {
  readonly dueMs: number;
  readonly seq: number;
  readonly callback: () => void;
}

export class VirtualTime implements Clock, Scheduler {
  private nowMs: number;
  private frozen = false;
  private seq = 0;
  private timers: VirtualTimer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Timers not yet fired or cancelled. */
  get timerCount(): number {
    return this.timers.length;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: VirtualTimer = { dueMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, callback };
    // Keep the list ordered by due time, then creation order (as Node does for equal delays).
    let i = this.timers.length;
    while (i > 0 && (this.timers[i - 1] as VirtualTimer).dueMs > timer.dueMs) i--;
    this.timers.splice(i, 0, timer);
    return {
      cancel: () => {
        const at = this.timers.indexOf(timer);
        if (at >= 0) this.timers.splice(at, 1);
      },
    };
  }

  /** Lets pending promise callbacks run without moving time. */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async advance(ms: number): Promise<void> {
    await this.runUntil(() => false, this.nowMs + ms);
  }

  async advanceTo(targetMs: number): Promise<void> {
    await this.runUntil(() => false, targetMs);
  }

  /**
   * Fires timers in order until `done()` holds or time reaches `limitMs` (frozen: time just jumps).
   * Returns whether `done()` held.
   */
  async runUntil(done: () => boolean, limitMs: number): Promise<boolean> {
    await this.settle();
    while (!done()) {
      const next = this.timers[0];
      if (this.frozen || next === undefined || next.dueMs > limitMs) {
        this.nowMs = Math.max(this.nowMs, limitMs);
        await this.settle();
        return done();
      }
      this.timers.shift();
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      next.callback();
      await this.settle();
    }
    return true;
  }

  freeze(): void {
    this.frozen = true;
  }

  /** Ends a freeze: every overdue timer fires now, late. */
  async thaw(): Promise<void> {
    this.frozen = false;
    await this.runUntil(() => false, this.nowMs);
  }
}
