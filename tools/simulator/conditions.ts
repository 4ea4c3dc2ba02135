// Waiting for the environment to reach a state. The APIs and the processes report every change;
// each waiting condition is checked again then, and gives up at its deadline or when the simulator
// closes.
import { nowMs } from './clock.js';

export class Conditions {
  private readonly waiters = new Map<() => void, (value: boolean) => void>();
  private closed = false;

  /** Something changed: every waiting condition is checked again. */
  changed(): void {
    for (const check of [...this.waiters.keys()]) check();
  }

  /** Resolves true when `condition` holds, false at `deadlineMs` or on close. */
  waitUntil(condition: () => boolean, deadlineMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolveWait) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: boolean) => {
        this.waiters.delete(check);
        clearTimeout(timer);
        resolveWait(value);
      };
      const check = () => {
        if (condition()) finish(true);
      };
      this.waiters.set(check, finish);
      if (Number.isFinite(deadlineMs)) {
        timer = setTimeout(() => finish(condition()), Math.max(0, deadlineMs - nowMs()));
      }
    });
  }

  /** Every wait under way resolves false, and so does every later one that does not already hold. */
  close(): void {
    this.closed = true;
    for (const done of this.waiters.values()) done(false);
    this.waiters.clear();
  }
}
