// Waiting for platform.runtimeDone: the Telemetry API's word that the function's work for a request
// is complete, which may arrive before or after the INVOKE is handled, late, or (feed broken) never.

import type { TelemetryEvent } from '../lambda/telemetry-events.js';
import type { Clock, Scheduler, TimerHandle } from '../model/time.js';
import type { Log } from '../model/log.js';
import { ewma } from './waiting.js';

/** How a hold for runtimeDone ended. */
export type HoldEnd = 'arrived' | 'deadline' | 'silent' | 'shutdown';

interface RequestSeen {
  startMs?: number;
  runtimeDoneMs?: number;
}

/** Requests remembered for runtimeDone arriving before its INVOKE is handled. */
const REQUESTS_REMEMBERED = 32;

export class RuntimeDoneWatch {
  /** False while the Telemetry API feed is not delivering runtimeDone (or cannot: Managed Instances). */
  reliable: boolean;
  /** Moving mean of runtimeDone's durationMs. */
  invocationDurationMs: number | undefined;
  /** The invocation whose runtimeDone has not been seen yet. */
  running: { requestId: string; startMs: number } | undefined;
  private warnedUnreliable = false;
  private lastTelemetryMs = Number.NEGATIVE_INFINITY;
  private readonly requests = new Map<string, RequestSeen>();
  private readonly waiters = new Map<string, (end: HoldEnd) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    /** No telemetry at all this long after an INVOKE: the feed is not working. */
    private readonly telemetrySilenceMs: number,
    private readonly managedInstances: boolean,
    runtimeDoneAvailable: boolean,
    private readonly logger: Log | undefined,
  ) {
    this.reliable = !managedInstances && runtimeDoneAvailable;
  }

  /** Telemetry API events, as parsed, received at now. */
  onTelemetry(events: readonly TelemetryEvent[], now: number): void {
    this.lastTelemetryMs = now;
    for (const event of events) {
      if (event.type === 'platform.start') {
        this.seen(event.requestId).startMs = now;
      } else if (event.type === 'platform.runtimeDone') {
        this.seen(event.requestId).runtimeDoneMs = now;
        if (this.running?.requestId === event.requestId) this.running = undefined;
        if (!this.reliable && !this.managedInstances) {
          this.reliable = true;
          this.logger?.debug('runtimeDone events arrive again: end-of-invocation flushes re-enabled');
        }
        if (event.durationMs !== undefined && Number.isFinite(event.durationMs)) {
          this.invocationDurationMs = ewma(this.invocationDurationMs, event.durationMs, 0.3);
        }
        this.waiters.get(event.requestId)?.('arrived');
      }
    }
  }

  /** Resolves when runtimeDone for requestId arrives, at hardDeadline, or when the feed is silent. */
  wait(requestId: string, invokeMs: number, hardDeadline: number): Promise<HoldEnd> {
    if (this.requests.get(requestId)?.runtimeDoneMs !== undefined) return Promise.resolve('arrived');
    if (this.clock.now() >= hardDeadline) return Promise.resolve('deadline');
    return new Promise<HoldEnd>((resolve) => {
      const timers: TimerHandle[] = [];
      const finish = (end: HoldEnd): void => {
        if (this.waiters.get(requestId) !== finish) return;
        this.waiters.delete(requestId);
        for (const timer of timers) timer.cancel();
        resolve(end);
      };
      this.waiters.set(requestId, finish);
      timers.push(this.scheduler.setTimeout(() => finish('deadline'), hardDeadline - this.clock.now()));
      const silenceCheckMs = invokeMs + this.telemetrySilenceMs;
      if (silenceCheckMs < hardDeadline) {
        timers.push(
          this.scheduler.setTimeout(() => {
            if (!this.telemetrySince(requestId, invokeMs)) finish('silent');
          }, silenceCheckMs - this.clock.now()),
        );
      }
    });
  }

  /** SHUTDOWN: every hold ends now. */
  releaseAll(): void {
    for (const release of [...this.waiters.values()]) release('shutdown');
  }

  /** Any telemetry for this request, or any at all, since its INVOKE. */
  telemetrySince(requestId: string, invokeMs: number): boolean {
    const seen = this.requests.get(requestId);
    return (
      seen?.startMs !== undefined || seen?.runtimeDoneMs !== undefined || this.lastTelemetryMs >= invokeMs
    );
  }

  markUnreliable(): void {
    this.reliable = false;
    if (!this.warnedUnreliable) {
      this.warnedUnreliable = true;
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
}
