// Replays an invocation pattern against a FlushManager in virtual time, with Lambda's freezes: the
// environment runs from an INVOKE until both the runtime has responded and the extension has
// released /event/next, and is frozen (no timers, no telemetry) until the next INVOKE. Used to tune
// and test the flush decision and to measure what it costs (post-runtime time) and what it risks
// (how long data waits), without sleeping.

import type { InvokeEvent, TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import {
  FlushManager,
  type FlushManagerOptions,
  type FlushStats,
  type ShutdownSummary,
} from '../../src/flush/index.js';
import type { FlushSettings } from '../../src/flush/settings.js';
import type { FlushStrategy } from '../../src/flush/strategy.js';
import type {
  FlushReport,
  FlushRequest,
  FlushTarget,
  PendingSummary,
} from '../../src/model/flush-contract.js';
import type { TimerHandle } from '../../src/model/time.js';
import { VirtualTime } from './virtual-time.js';

/** Where an item came from: the function's own OTLP export, or a platform event. */
export type ReplayItemKind = 'function' | 'runtimeDone' | 'report';

interface ReplayItem {
  kind: ReplayItemKind;
  /** When the extension could first have had it (for runtimeDone: when Lambda produced it). */
  availableMs: number;
  bytes: number;
}

/**
 * A pipeline stand-in: function exports are queued (pending() sees them); platform data is held by a
 * producer and only pulled at flush time, as the real converter does. A flush takes flushMs; one
 * frozen longer than cutAfterFreezeMs mid-request fails and is requeued.
 */
export class ReplayTarget implements FlushTarget {
  readonly staleness: Record<ReplayItemKind, number[]> = { function: [], runtimeDone: [], report: [] };
  flushCalls = 0;
  /** Flushes that sent at least one item. */
  exports = 0;
  cutRequests = 0;
  /** While true, every flush fails (items requeued). */
  failing = false;
  /** While true, flush() never returns. */
  hanging = false;
  /** Every flush() call, with when it was made. */
  readonly requests: (FlushRequest & { atMs: number })[] = [];
  private queue: ReplayItem[] = [];
  private held: ReplayItem[] = [];

  constructor(
    private readonly time: VirtualTime,
    private readonly flushMs = 2,
    private readonly cutAfterFreezeMs = 2_000,
  ) {}

  enqueue(kind: ReplayItemKind, availableMs: number, count = 1, bytes = 500): void {
    for (let i = 0; i < count; i++) this.queue.push({ kind, availableMs, bytes });
  }

  hold(kind: ReplayItemKind, availableMs: number, bytes = 300): void {
    this.held.push({ kind, availableMs, bytes });
  }

  /** Items not yet exported, queued or held. */
  get unexported(): number {
    return this.queue.length + this.held.length;
  }

  pending(): PendingSummary {
    let bytes = 0;
    let oldest: number | undefined;
    for (const item of this.queue) {
      bytes += item.bytes;
      if (oldest === undefined || item.availableMs < oldest) oldest = item.availableMs;
    }
    return { items: this.queue.length, bytes, oldestCreatedAtMs: oldest };
  }

  flush(request: FlushRequest): Promise<FlushReport> {
    this.flushCalls++;
    this.requests.push({ ...request, atMs: this.time.now() });
    const batch = this.queue.concat(this.held);
    this.queue = [];
    this.held = [];
    const startedMs = this.time.now();
    if (this.hanging) {
      this.queue.push(...batch);
      return new Promise<FlushReport>(() => {});
    }
    if (batch.length === 0) return Promise.resolve(report(0, 0, 0, 0, false));
    return new Promise<FlushReport>((resolve) => {
      const dueMs = startedMs + this.flushMs;
      this.time.setTimeout(() => {
        const now = this.time.now();
        const cut = now - dueMs > this.cutAfterFreezeMs;
        if (cut) this.cutRequests++;
        if (cut || this.failing) {
          this.queue.push(...batch);
          resolve(report(0, 0, batch.length, now - startedMs, false));
          return;
        }
        this.exports++;
        let bytes = 0;
        for (const item of batch) {
          this.staleness[item.kind].push(now - item.availableMs);
          bytes += item.bytes;
        }
        resolve(report(batch.length, bytes, 0, now - startedMs, false));
      }, this.flushMs);
    });
  }
}

function report(
  exported: number,
  bytes: number,
  retryLater: number,
  durationMs: number,
  deadlineHit: boolean,
): FlushReport {
  return {
    exportedItems: exported,
    exportedBytes: bytes,
    requests: exported > 0 ? 1 : 0,
    retryLaterItems: retryLater,
    droppedItems: 0,
    durationMs,
    deadlineHit,
  };
}

export interface ReplayInvocation {
  /** When the invocation is requested, ms after the replay starts (it waits if the environment is busy). */
  atMs: number;
  /** How long the function runs. */
  durationMs: number;
  /** Items the function exports over OTLP just before it responds (default 1). */
  exportItems?: number;
}

export interface ReplayOptions {
  invocations: readonly ReplayInvocation[];
  strategy?: FlushStrategy | string;
  settings?: Partial<FlushSettings>;
  managerOptions?: Partial<FlushManagerOptions>;
  /** Time one flush takes (default 2 ms). */
  flushMs?: number;
  /** Telemetry API buffering delay (default 25 ms). */
  telemetryDelayMs?: number;
  /** Function timeout (default 30 s). */
  timeoutMs?: number;
  /** Idle time after the last invocation, then SHUTDOWN; undefined: no SHUTDOWN. */
  shutdownAfterMs?: number;
  /** Called before each invocation, e.g. to make the backend fail. */
  beforeInvocation?: (index: number, target: ReplayTarget, time: VirtualTime) => void;
}

export interface ReplayedInvocation {
  arrivalMs: number;
  runtimeDoneMs: number;
  /** When the environment froze: the runtime had responded and /event/next was called. */
  frozenAtMs: number;
  /** frozenAtMs − runtimeDoneMs: what the extension added to the billed duration. */
  postRuntimeMs: number;
  mode: string | undefined;
  reason: string | undefined;
}

export interface ReplayResult {
  invocations: ReplayedInvocation[];
  target: ReplayTarget;
  manager: FlushManager;
  time: VirtualTime;
  stats: FlushStats;
  shutdown: ShutdownSummary | undefined;
  /** Items still not exported at the end (after SHUTDOWN if any). */
  unexported: number;
}

interface QueuedTelemetry {
  events: TelemetryEvent[];
  held: { kind: ReplayItemKind; availableMs: number | 'delivery' }[];
}

export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const time = new VirtualTime();
  const startMs = time.now();
  const target = new ReplayTarget(time, options.flushMs ?? 2);
  const manager = new FlushManager({
    target,
    clock: time,
    scheduler: time,
    ...(options.strategy === undefined ? {} : { strategy: options.strategy }),
    ...(options.settings === undefined ? {} : { settings: options.settings }),
    ...options.managerOptions,
  });
  manager.start();
  const telemetryDelayMs = options.telemetryDelayMs ?? 25;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const result: ReplayedInvocation[] = [];
  // Telemetry Lambda produced while the environment was frozen (or about to freeze): delivered on thaw.
  let frozenTelemetry: QueuedTelemetry[] = [];
  let environmentFreeMs = startMs;

  const deliver = (batch: QueuedTelemetry): void => {
    const now = time.now();
    for (const item of batch.held)
      target.hold(item.kind, item.availableMs === 'delivery' ? now : item.availableMs);
    manager.onTelemetry(batch.events);
  };

  for (let index = 0; index < options.invocations.length; index++) {
    const invocation = options.invocations[index] as ReplayInvocation;
    const arrivalMs = Math.max(startMs + invocation.atMs, environmentFreeMs);
    await time.advanceTo(arrivalMs);
    await time.thaw();
    options.beforeInvocation?.(index, target, time);
    const requestId = `req-${index}`;
    // Lambda delivers what it buffered during the freeze right after the thaw, around the INVOKE.
    for (const batch of frozenTelemetry) deliver(batch);
    frozenTelemetry = [];

    let releasedMs: number | undefined;
    const event: InvokeEvent = {
      eventType: 'INVOKE',
      deadlineMs: arrivalMs + timeoutMs,
      requestId,
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:replay',
    };
    void manager.onInvoke(event).then(() => {
      releasedMs = time.now();
    });
    const decision = manager.lastDecision;
    const runtimeDoneMs = arrivalMs + invocation.durationMs;
    const timers: TimerHandle[] = [];
    timers.push(
      time.setTimeout(
        () =>
          deliver({
            events: [{ type: 'platform.start', timeMs: arrivalMs, requestId }],
            held: [],
          }),
        Math.min(telemetryDelayMs, invocation.durationMs),
      ),
    );
    const exportItems = invocation.exportItems ?? 1;
    if (exportItems > 0) {
      timers.push(
        time.setTimeout(
          () => {
            target.enqueue('function', time.now(), exportItems);
            manager.onFunctionExport('traces');
          },
          Math.max(0, invocation.durationMs - 1),
        ),
      );
    }
    await time.advanceTo(runtimeDoneMs);
    const runtimeDone: QueuedTelemetry = {
      events: [
        {
          type: 'platform.runtimeDone',
          timeMs: runtimeDoneMs,
          requestId,
          status: 'success',
          durationMs: invocation.durationMs,
          spans: [],
        },
      ],
      held: [{ kind: 'runtimeDone', availableMs: runtimeDoneMs }],
    };
    let runtimeDoneDelivered = false;
    if (releasedMs === undefined) {
      // Still held: the runtime's runtimeDone reaches the extension after the buffering delay.
      timers.push(
        time.setTimeout(() => {
          runtimeDoneDelivered = true;
          deliver(runtimeDone);
        }, telemetryDelayMs),
      );
      await time.runUntil(() => releasedMs !== undefined, event.deadlineMs + 1_000);
    }
    for (const timer of timers) timer.cancel();
    if (!runtimeDoneDelivered) frozenTelemetry.push(runtimeDone);
    const frozenAtMs = Math.max(runtimeDoneMs, releasedMs ?? time.now());
    // platform.report is emitted once every extension called /event/next: seen after the next thaw.
    frozenTelemetry.push({
      events: [
        {
          type: 'platform.report',
          timeMs: frozenAtMs,
          requestId,
          status: 'success',
          durationMs: 1,
          spans: [],
        },
      ],
      held: [{ kind: 'report', availableMs: 'delivery' }],
    });
    time.freeze();
    environmentFreeMs = frozenAtMs;
    result.push({
      arrivalMs,
      runtimeDoneMs,
      frozenAtMs,
      postRuntimeMs: frozenAtMs - runtimeDoneMs,
      mode: decision?.mode,
      reason: decision?.reason,
    });
  }

  let shutdown: ShutdownSummary | undefined;
  if (options.shutdownAfterMs !== undefined) {
    await time.advanceTo(Math.max(time.now(), environmentFreeMs + options.shutdownAfterMs));
    await time.thaw();
    for (const batch of frozenTelemetry) deliver(batch);
    frozenTelemetry = [];
    const shuttingDown = manager.onShutdown({
      eventType: 'SHUTDOWN',
      shutdownReason: 'spindown',
      deadlineMs: time.now() + 2_000,
    });
    void shuttingDown.then((summary) => {
      shutdown = summary;
    });
    await time.runUntil(() => shutdown !== undefined, time.now() + 5_000);
  } else {
    manager.stop();
  }
  return {
    invocations: result,
    target,
    manager,
    time,
    stats: manager.stats,
    shutdown,
    unexported: target.unexported,
  };
}

/** Arrival offsets every gapMs, count of them, each running durationMs. */
export function steadyPattern(
  count: number,
  gapMs: number,
  durationMs: number,
  offsetMs = 0,
): ReplayInvocation[] {
  return Array.from({ length: count }, (_, i) => ({ atMs: offsetMs + i * gapMs, durationMs }));
}

/** Percentile (0..100) of a list of numbers, nearest-rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
