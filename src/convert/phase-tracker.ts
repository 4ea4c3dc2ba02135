// Environment-phase tracking: the init or SnapStart restore phase from its records (start,
// runtimeDone, report — any of which may be missing), its duration metric (once), where its span
// goes (inside the first invocation's trace when it was part of that request's latency, otherwise
// in its own trace linked from it), and when it is released to the outbox.

import type {
  InitReportEvent,
  InitRuntimeDoneEvent,
  InitStartEvent,
  PlatformSpan,
  RestoreReportEvent,
  RestoreRuntimeDoneEvent,
  RestoreStartEvent,
} from '../lambda/telemetry-events.js';
import type { ConverterStats } from './converter-stats.js';
import type { IdGenerator } from './ids.js';
import type { Invocation } from './invocations.js';
import type { InvocationCounting } from './metric-counting.js';
import type { SpanOutbox } from './outbox.js';
import { EnvironmentPhase, type PhaseKind } from './phases.js';
import { earliestStart, isAmount, isPlatformSpan, isTime, str } from './record-checks.js';
import type { PlatformResource } from './resource.js';
import type { PlatformSampler } from './sampler.js';
import type { SpanAssembler } from './span-assembly.js';

/** An init/restore phase ending within this of the first invocation's start is part of its latency. */
const PHASE_GAP_MS = 10_000;
/** Phases kept for export at once (a new init before the previous one was exported). */
const MAX_PENDING_PHASES = 8;

export interface PhaseTrackerParts {
  counters: ConverterStats;
  ids: IdGenerator;
  sampler: PlatformSampler;
  resource: PlatformResource;
  counting: InvocationCounting;
  spans: SpanAssembler;
  outbox: SpanOutbox;
  /** Lambda's AWS_LAMBDA_INITIALIZATION_TYPE, for a phase whose records do not say. */
  defaultInitType: string;
  maxHeldMs: number;
  maxAgeMs: number;
  /** A restoreStart: the environment is a new one cloned from the snapshot (see PlatformConverter). */
  onRestore(e: RestoreStartEvent): void;
}

export class PhaseTracker {
  private phase: EnvironmentPhase | undefined;
  private readonly pending: EnvironmentPhase[] = [];

  constructor(private readonly parts: PhaseTrackerParts) {}

  onStart(kind: PhaseKind, e: InitStartEvent | RestoreStartEvent): void {
    const { counters, ids, resource } = this.parts;
    if (!isTime(e.timeMs)) {
      counters.rejectedEvents++;
      return;
    }
    const current = this.phase;
    if (current !== undefined && current.kind === kind && current.startMs === e.timeMs) return; // redelivered
    if (kind === 'restore') this.parts.onRestore(e as RestoreStartEvent);
    else if (current !== undefined) this.retire(current);
    const initType =
      kind === 'restore'
        ? 'snap-start'
        : str((e as InitStartEvent).initializationType) || this.parts.defaultInitType;
    const phase = new EnvironmentPhase(kind, initType, ids.traceId(), ids.spanId(), e.timeMs);
    phase.startMs = e.timeMs;
    if (kind === 'init') phase.phase = str((e as InitStartEvent).phase);
    phase.runtimeVersion = str(e.runtimeVersion);
    if (phase.runtimeVersion?.includes('DurableFunction')) this.parts.counting.markDurable();
    if (kind === 'init') resource.setInstance(str(e.instanceId));
    if (isAmount(e.instanceMaxMemory)) resource.setMaxMemoryMiB(e.instanceMaxMemory);
    this.phase = phase;
  }

  /** A SnapStart restore: phases from before the snapshot belong to the snapshot; they are dropped. */
  discardForRestore(): void {
    const old = this.phase;
    if (old !== undefined && !old.exported) this.parts.counters.phasesReplaced++;
    for (const p of this.pending) if (!p.exported) this.parts.counters.phasesReplaced++;
    this.pending.length = 0;
    this.phase = undefined;
  }

  onRuntimeDone(e: InitRuntimeDoneEvent | RestoreRuntimeDoneEvent): void {
    if (!isTime(e.timeMs)) {
      this.parts.counters.rejectedEvents++;
      return;
    }
    const kind: PhaseKind = e.type === 'platform.initRuntimeDone' ? 'init' : 'restore';
    const initType = e.type === 'platform.initRuntimeDone' ? str(e.initializationType) : undefined;
    const phase = this.phaseFor(kind, e.timeMs, initType);
    if (phase.childrenFrom === 'runtimeDone') return; // redelivered
    if (phase.exported) {
      this.parts.counters.lateRecords++;
      return;
    }
    phase.ended = true;
    phase.endMs = e.timeMs;
    if (phase.startMs === undefined) phase.startMs = earliestStart(e.spans) ?? e.timeMs;
    if (phase.status === undefined || phase.status === 'success') {
      phase.status = str(e.status);
      phase.errorType = str(e.errorType);
    }
    if (e.type === 'platform.initRuntimeDone' && phase.phase === undefined) phase.phase = str(e.phase);
    addPhaseChildren(phase, e.spans, 'runtimeDone');
  }

  onReport(e: InitReportEvent | RestoreReportEvent): void {
    if (!isTime(e.timeMs)) {
      this.parts.counters.rejectedEvents++;
      return;
    }
    const kind: PhaseKind = e.type === 'platform.initReport' ? 'init' : 'restore';
    const initType = e.type === 'platform.initReport' ? str(e.initializationType) : undefined;
    const phase = this.phaseFor(kind, e.timeMs, initType);
    const duration = isAmount(e.durationMs) ? e.durationMs : undefined;
    if (!phase.exported) {
      phase.ended = true;
      if (duration !== undefined) {
        if (phase.startMs === undefined) phase.startMs = e.timeMs - duration;
        phase.endMs = phase.startMs + duration;
      } else if (phase.endMs === undefined) {
        phase.endMs = e.timeMs;
        if (phase.startMs === undefined) phase.startMs = e.timeMs;
      }
      if (phase.status === undefined || (phase.status === 'success' && e.status !== 'success')) {
        phase.status = str(e.status);
        phase.errorType = str(e.errorType);
      }
      if (e.type === 'platform.initReport' && phase.phase === undefined) phase.phase = str(e.phase);
      if (phase.childrenFrom !== 'runtimeDone') addPhaseChildren(phase, e.spans, 'report');
    } else {
      this.parts.counters.lateRecords++;
    }
    if (duration !== undefined && !phase.durationCounted) {
      phase.durationCounted = true;
      const metrics = this.parts.counting.metrics;
      if (kind === 'init') metrics.recordInitDuration(duration, phase.initializationType, e.timeMs);
      else metrics.recordRestoreDuration(duration, e.timeMs);
    }
  }

  /** init/restore duration from the first invocation's report, unless the phase's own report gave it. */
  countDuration(kind: PhaseKind, durationMs: number, atMs: number): void {
    const metrics = this.parts.counting.metrics;
    const phase = this.phase;
    if (phase !== undefined && phase.kind === kind) {
      if (phase.durationCounted) return;
      phase.durationCounted = true;
      if (kind === 'init') metrics.recordInitDuration(durationMs, phase.initializationType, atMs);
      else metrics.recordRestoreDuration(durationMs, atMs);
      return;
    }
    if (kind === 'init') metrics.recordInitDuration(durationMs, this.parts.defaultInitType, atMs);
    else metrics.recordRestoreDuration(durationMs, atMs);
  }

  /**
   * Decides where the environment's phase goes when its first invocation is exported: inside the
   * invocation's trace as a child of the invocation span when it was part of that request's latency
   * (on-demand init, SnapStart restore), otherwise in its own trace, linked from the invocation.
   */
  place(inv: Invocation): void {
    const phase = this.phase;
    if (phase === undefined || phase.attachedTo !== undefined) return;
    if (!phase.exported && phaseJoins(phase, inv)) {
      phase.attachedTo = inv;
      inv.phase = phase;
    } else {
      inv.phaseLink = phase;
    }
  }

  /** Releases what is due to the outbox; `first` is the environment's first invocation, if known. */
  release(nowMs: number, final: boolean, first: Invocation | undefined): void {
    while (this.pending.length > 0) this.export(this.pending.shift() as EnvironmentPhase, nowMs);
    const phase = this.phase;
    if (phase === undefined || phase.exported) return;
    const attached = phase.attachedTo;
    if (final) {
      if (attached === undefined || attached.exported) this.export(phase, nowMs);
      return;
    }
    if (!phase.ended) {
      if (nowMs - (phase.startMs ?? phase.lastSeenMs) > this.parts.maxAgeMs) this.export(phase, nowMs);
      return;
    }
    if (attached !== undefined) {
      if (attached.exported) this.export(phase, nowMs);
      return;
    }
    // Waiting for the first invocation to take it into its trace?
    const mayJoin = joinableType(phase.initializationType) && (first === undefined || !first.exported);
    if (mayJoin && first !== undefined) return;
    const maxHeldMs = this.parts.maxHeldMs;
    const hold = mayJoin ? Math.max(maxHeldMs, PHASE_GAP_MS) : maxHeldMs;
    if (nowMs - (phase.endMs ?? phase.lastSeenMs) >= hold) this.export(phase, nowMs);
  }

  /** The phase's spans into the outbox (once), in its invocation's trace when attached to one. */
  export(phase: EnvironmentPhase, nowMs: number): void {
    if (phase.exported) return;
    phase.exported = true;
    const inv = phase.attachedTo;
    if (inv !== undefined) {
      phase.traceId = inv.traceId;
    }
    const { spans, outbox } = this.parts;
    // In its own trace the phase is a root: the sampler decides without a parent.
    const sampled =
      inv !== undefined ? inv.sampled : this.parts.sampler.shouldSample(phase.traceId, undefined);
    outbox.push(spans.phase(phase, inv?.spanId, sampled, nowMs), sampled);
    for (const child of phase.children)
      outbox.push(spans.child(phase.traceId, phase.spanId, sampled, child), sampled);
    phase.children = [];
  }

  private phaseFor(kind: PhaseKind, timeMs: number, initType: string | undefined): EnvironmentPhase {
    const current = this.phase;
    if (current !== undefined && current.kind === kind) {
      if (timeMs > current.lastSeenMs) current.lastSeenMs = timeMs;
      return current;
    }
    // Its start record was missed: a phase known from its end only.
    if (current !== undefined) this.retire(current);
    const phase = new EnvironmentPhase(
      kind,
      kind === 'restore' ? 'snap-start' : initType || this.parts.defaultInitType,
      this.parts.ids.traceId(),
      this.parts.ids.spanId(),
      timeMs,
    );
    this.phase = phase;
    return phase;
  }

  /** A phase replaced by a newer one is exported on its own at the next collect. */
  private retire(phase: EnvironmentPhase): void {
    if (phase.exported) return;
    if (this.pending.length >= MAX_PENDING_PHASES) {
      const oldest = this.pending.shift() as EnvironmentPhase;
      this.export(oldest, oldest.lastSeenMs);
    }
    this.pending.push(phase);
  }
}

function addPhaseChildren(
  phase: EnvironmentPhase,
  spans: readonly PlatformSpan[] | undefined,
  from: 'runtimeDone' | 'report',
): void {
  phase.childrenFrom = from;
  if (!Array.isArray(spans)) return;
  for (const span of spans) if (isPlatformSpan(span)) phase.children.push(span);
}

function joinableType(initializationType: string): boolean {
  return (
    initializationType !== 'provisioned-concurrency' && initializationType !== 'lambda-managed-instances'
  );
}

function phaseJoins(phase: EnvironmentPhase, inv: Invocation): boolean {
  if (!joinableType(phase.initializationType)) return false;
  const invStart = inv.startMs ?? inv.firstSeenMs;
  const phaseEnd = phase.endMs ?? phase.lastSeenMs;
  return invStart - phaseEnd <= PHASE_GAP_MS;
}
