// The clock and timers every timed component takes by injection, so that tests and replays run in
// virtual time.

/** Epoch milliseconds (wall clock: it is compared with Lambda's deadlineMs and item timestamps). */
export interface Clock {
  now(): number;
}

export interface TimerHandle {
  cancel(): void;
}

/** One-shot timers. The real one is unref'd: a timer never keeps the process alive. */
export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /**
   * Runs the callback once the current I/O callbacks are done (setImmediate): for work that must not
   * delay the extension's answer to Lambda. Optional; without it the callback runs at once.
   */
  defer?(callback: () => void): void;
}
