// SHUTDOWN's drain: what can still arrive after SHUTDOWN is waited for while it can still come, and
// no longer. Two sources:
// - the Telemetry API delivers what Lambda's buffer holds, often the last invocation's
//   platform.report: waited for while a report is outstanding; Lambda delivers in order, so once
//   the last report is in, everything of that invocation is in (only a push cut at max_items can
//   have a sequel on its way, which gets a short quiet);
// - the receiver: at spindown the runtime gets SIGTERM with SHUTDOWN and an OpenTelemetry SDK
//   exports what it still holds. That ends when the runtime process exits, which ends the wait at
//   once where it can be seen; otherwise the receiver must have been quiet for a while.
// Pushes and exports wake the drain as they arrive; only the runtime's exit is polled.

import type { Clock, Scheduler, TimerHandle } from '../model/time.js';

export interface DrainTimings {
  /** With a report outstanding: the listener's quiet after which Lambda is taken to have sent all. */
  listenerQuietMs: number;
  /** Every report in, but the last push was cut at max_items: quiet after it. */
  reportPushQuietMs: number;
  /** The function may export and its runtime's exit cannot be seen (yet): the receiver's quiet. */
  functionExportQuietMs: number;
  /** How often the runtime's exit is looked for. */
  pollMs: number;
}

/** What the drain reads; times are the clock's milliseconds. */
export interface DrainState {
  readonly telemetrySubscribed: boolean;
  /** At spindown, for a function that exported or configures an OpenTelemetry SDK. */
  readonly functionMayExport: boolean;
  lastPushMs(): number | undefined;
  /** The last push carried max_items records: Lambda may have cut its buffer there. */
  lastPushFull(): boolean;
  /** Invocations whose platform.report has not arrived. */
  reportsAwaited(): number;
  lastFunctionExportMs(): number | undefined;
  /** The runtime process has exited (false when that cannot be told). */
  runtimeExited(): boolean;
}

export interface DrainOutcome {
  waitedMs: number;
  /** Why the wait ended, e.g. `listener: reports in; receiver: runtime exited`. */
  ended: string;
}

export class ShutdownDrain {
  private wake: (() => void) | undefined;

  constructor(
    private readonly time: { clock: Clock; scheduler: Scheduler },
    private readonly timings: DrainTimings,
    private readonly state: DrainState,
  ) {}

  /** Something arrived (a push, an export): look again now rather than at the next timer. */
  nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Waits until nothing more can come, or until `untilMs`. Never rejects. */
  async run(untilMs: number): Promise<DrainOutcome> {
    const { clock } = this.time;
    const { state, timings } = this;
    const start = clock.now();
    const pushAtStart = state.lastPushMs();
    let runtimeGone = false;
    for (;;) {
      const now = clock.now();
      let nextMs = untilMs;
      const at = (ms: number): void => {
        nextMs = Math.min(nextMs, ms);
      };

      let listener: string | undefined;
      const lastPush = state.lastPushMs();
      const quietSince = Math.max(lastPush ?? start, start);
      if (!state.telemetrySubscribed) listener = 'not subscribed';
      else if (state.reportsAwaited() === 0) {
        if (lastPush === pushAtStart) listener = 'reports in before SHUTDOWN';
        else if (!state.lastPushFull()) listener = 'reports in';
        else if (now - quietSince >= timings.reportPushQuietMs) listener = 'reports in, quiet';
        else at(quietSince + timings.reportPushQuietMs);
      } else if (now - quietSince >= timings.listenerQuietMs) listener = 'quiet, a report missing';
      else at(quietSince + timings.listenerQuietMs);

      let receiver: string | undefined;
      if (!state.functionMayExport) receiver = 'no exports expected';
      else {
        const exportQuietSince = Math.max(state.lastFunctionExportMs() ?? start, start);
        // Looking for the runtime costs a read of the kernel's tables: not while the listener
        // still waits anyway (the runtime usually exits meanwhile).
        if (listener !== undefined) runtimeGone ||= state.runtimeExited();
        if (runtimeGone) receiver = 'runtime exited';
        else if (now - exportQuietSince >= timings.functionExportQuietMs) receiver = 'quiet';
        else {
          at(exportQuietSince + timings.functionExportQuietMs);
          if (listener !== undefined) at(now + timings.pollMs);
        }
      }

      if (listener !== undefined && receiver !== undefined)
        return { waitedMs: now - start, ended: `listener: ${listener}; receiver: ${receiver}` };
      if (now >= untilMs)
        return {
          waitedMs: now - start,
          ended: `bound (listener: ${listener ?? 'waiting'}; receiver: ${receiver ?? 'waiting'})`,
        };
      await this.sleepUntil(nextMs);
    }
  }

  private sleepUntil(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const done = (): void => {
        timer?.cancel();
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
      timer = this.time.scheduler.setTimeout(done, Math.max(0, ms - this.time.clock.now()));
    });
  }
}
