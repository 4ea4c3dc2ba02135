// The time a flush may spend. Every attempt and every backoff wait is cut to what is left; a later,
// more urgent flush (SHUTDOWN while a periodic flush runs) can pull the end in, which aborts whatever
// would run past it.

import type { Scheduler, TimerHandle } from '../model/time.js';
import { allowManyListeners } from '../platform/abort-listeners.js';
import { requestScheduler } from '../platform/system-time.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** A deadline timer this late means the environment was frozen meanwhile. */
export const THAW_LATE_MS = 1_000;
/**
 * After a freeze, requests still in flight get this long before the deadline cuts them: their
 * answer is often already on its way, and cutting them would send them again (a duplicate). New
 * attempts do not start (the budget is expired).
 */
export const THAW_GRACE_MS = 500;

export class DeadlineBudget {
  private endMs: number;
  private readonly controller = new AbortController();
  private timer: TimerHandle | undefined;
  private thawGraceGiven = false;

  /**
   * @param deadlineMs epoch ms by which the work must be over (e.g. the SHUTDOWN deadline)
   * @param marginMs kept free before the deadline for the caller's own follow-up work
   */
  constructor(
    deadlineMs: number,
    readonly marginMs: number,
    private readonly now: () => number = Date.now,
    private readonly scheduler: Scheduler = requestScheduler,
  ) {
    this.endMs = deadlineMs - marginMs;
    // Every attempt, wait and queued request of a flush listens to this one signal.
    allowManyListeners(this.controller.signal);
    this.arm();
  }

  /** Epoch ms when work must be finished (deadline minus margin). */
  get usableEndMs(): number {
    return this.endMs;
  }

  remainingMs(): number {
    return this.endMs - this.now();
  }

  /** Fires when the usable end is reached; attempts and waits listen to it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted || this.remainingMs() <= 0;
  }

  /** Moves the end earlier (never later). */
  tighten(deadlineMs: number): void {
    const end = deadlineMs - this.marginMs;
    if (end >= this.endMs) return;
    this.endMs = end;
    this.arm();
  }

  /** Stops the timer; call when the work is over. */
  dispose(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.controller.signal.aborted) return;
    const left = this.remainingMs();
    if (left <= 0) {
      this.controller.abort();
      return;
    }
    // setTimeout overflows past ~24.8 days; a far deadline re-arms instead.
    if (left > MAX_TIMER_MS) this.timer = this.scheduler.setTimeout(() => this.arm(), MAX_TIMER_MS);
    else this.timer = this.scheduler.setTimeout(() => this.fire(), left);
  }

  private fire(): void {
    this.timer = undefined;
    const late = this.now() - this.endMs;
    if (late > THAW_LATE_MS && !this.thawGraceGiven) {
      this.thawGraceGiven = true;
      this.timer = this.scheduler.setTimeout(() => this.controller.abort(), THAW_GRACE_MS);
      return;
    }
    this.controller.abort();
  }
}

/** Waits `ms`, or less when `signal` aborts first. Resolves true when the full wait elapsed. */
export function sleep(
  ms: number,
  signal: AbortSignal,
  scheduler: Scheduler = requestScheduler,
): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = scheduler.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
